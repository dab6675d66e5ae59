//! `slipway ci export github|gitlab|codebuild`: the pipelines of slipway.toml as another CI
//! system's files, written at the top of the repository.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use slipway_ci::{CiSystem, ExportOptions, export};
use slipway_pipeline::changes::git;

use super::Output;
use super::project::Project;

/// Run the pipelines in another CI system.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway ci export github                  .github/workflows/slipway-<pipeline>.yml\n  slipway ci export gitlab --check          fail when .gitlab-ci.yml is out of date\n  slipway ci export codebuild --pipeline release"
)]
pub struct CiArgs {
    #[command(subcommand)]
    command: CiCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CiCommand {
    /// Write the CI system's files that run the pipelines' steps with slipway, the approval
    /// gate mapped to the system's own: GitHub environments with required reviewers, GitLab
    /// manual jobs, a CodePipeline manual approval action (with a buildspec per step).
    #[command(
        after_help = "Examples:\n  slipway ci export github\n  slipway ci export gitlab --image registry.example.com/ci/slipway:1@sha256:<digest> --install true\n  slipway ci export codebuild --pipeline release --output json"
    )]
    Export {
        #[arg(value_enum)]
        system: System,
        /// Only this pipeline (repeatable); default all.
        #[arg(long = "pipeline")]
        pipelines: Vec<String>,
        /// The shell command that installs slipway on a fresh CI machine.
        #[arg(long, default_value_t = ExportOptions::default_install())]
        install: String,
        /// GitLab's job image or CodeBuild's build image, pinned by digest
        /// (NAME:TAG@sha256:DIGEST); default: Rust's official image, pinned.
        #[arg(long)]
        image: Option<String>,
        /// Write nothing; fail (exit 1) when a file differs from what would be written.
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum System {
    Github,
    Gitlab,
    Codebuild,
}

pub fn run(args: CiArgs) -> Result<ExitCode> {
    let CiCommand::Export {
        system,
        pipelines,
        install,
        image,
        check,
        project,
        output,
    } = args.command;
    let project = Project::find(&project)?;
    let (top, project_dir) = repository_top(&project.root);
    let options = ExportOptions {
        project_dir,
        install,
        image,
        pipelines,
    };
    let system = match system {
        System::Github => CiSystem::Github,
        System::Gitlab => CiSystem::Gitlab,
        System::Codebuild => CiSystem::Codebuild,
    };
    let files = export(&project.manifest, system, &options)?;
    let mut report = Vec::new();
    let mut stale = 0;
    for file in &files {
        let path = top.join(&file.path);
        let current = std::fs::read_to_string(&path).ok();
        let state = match (&current, check) {
            (Some(text), _) if *text == file.contents => "unchanged",
            (_, true) => {
                stale += 1;
                if current.is_some() {
                    "differs"
                } else {
                    "missing"
                }
            }
            (_, false) => {
                write_file(&path, &file.contents)?;
                if current.is_some() {
                    "updated"
                } else {
                    "written"
                }
            }
        };
        report.push((file.path.clone(), state));
    }
    match output {
        Output::Json => println!(
            "{}",
            serde_json::Value::Array(
                report
                    .iter()
                    .map(|(path, state)| serde_json::json!({ "path": path, "state": state }))
                    .collect()
            )
        ),
        Output::Text => {
            for (path, state) in &report {
                println!("{state:>9}  {path}");
            }
            if stale > 0 {
                eprintln!(
                    "error: {stale} file(s) out of date with slipway.toml: run `slipway ci export` without --check"
                );
            }
        }
    }
    Ok(if stale > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The repository's top and the project's directory below it (`""` at the top); the project's
/// own directory when it is not in a repository.
fn repository_top(root: &Path) -> (PathBuf, String) {
    match (
        git(root, &["rev-parse", "--show-toplevel"]),
        git(root, &["rev-parse", "--show-prefix"]),
    ) {
        (Ok(top), Ok(prefix)) => (PathBuf::from(top), prefix.trim_end_matches('/').to_owned()),
        _ => (root.to_path_buf(), String::new()),
    }
}

/// Written whole or not at all: a reader never sees half a workflow.
fn write_file(path: &Path, contents: &str) -> Result<()> {
    let dir = path.parent().context("a file has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    slipway_core::files::write_atomic(path, slipway_core::files::SHARED, contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
