//! `slipway ci export`: the pipelines of slipway.toml as another CI system's own files, so a team
//! keeps GitHub Actions, GitLab CI or CodePipeline and still runs exactly slipway's steps. Each
//! step is the same slipway command the runner would start; the approval gate becomes the
//! system's own (a GitHub environment with required reviewers, a GitLab manual job, a
//! CodePipeline manual approval action); what a step leaves in the state dir (the built images'
//! digests) travels to the jobs after the gate as an artifact.
//!
//! The decisions (which steps share a job, where the gates fall, which secrets each step is
//! given) are made once here, from the same plan the runner follows
//! (`slipway_core::pipeline`). Each system's module turns them into that system's file as typed
//! serde structs (`github::Workflow`, `gitlab::GitlabCi`, `codebuild::Buildspec` and
//! `codebuild::Template`), written as YAML by `yaml`. Comments (the header that says how the file
//! was made, the version beside each pinned action) are no part of those types: the header is
//! put before the document and the end-of-line notes after the lines they explain.
//!
//! A new exporter is a module that takes the `Exported` pipelines and returns its `CiFile`s, and
//! a `CiSystem` variant.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use slipway_core::Manifest;
use slipway_core::manifest::{GitFilter, Pipeline, PipelineKind};
use slipway_core::pipeline::PlanError;
use slipway_core::pipeline::environment::{Holder, references, step_environment};
use slipway_core::pipeline::steps::{Action, kind_of, plan};

mod codebuild;
mod github;
mod gitlab;
mod yaml;

/// What keeps slipway from writing a CI system's files.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    /// A pipeline asked for is not in slipway.toml, there is none, or a step cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// `--image` names a tag, which can be moved to other code between runs.
    #[error(
        "--image {image}: not pinned by digest; a tag can be moved to other code between runs. Give it as NAME:TAG@sha256:DIGEST (`docker buildx imagetools inspect {image}` shows the digest)"
    )]
    ImageNotPinned {
        /// The image as given.
        image: String,
    },
}

/// The outcome of an export.
pub type Result<T, E = CiError> = std::result::Result<T, E>;

/// The CI system to write files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiSystem {
    /// GitHub Actions: one workflow per pipeline in `.github/workflows/`.
    Github,
    /// GitLab CI: one `.gitlab-ci.yml` with every pipeline's jobs.
    Gitlab,
    /// AWS CodePipeline with a CodeBuild project per step: a CloudFormation template and a
    /// buildspec per step in `ci/codebuild/<pipeline>/`.
    Codebuild,
}

/// How to export: where the project sits in the repository, how CI machines get slipway, the
/// image they run in, and which pipelines.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The project's directory relative to the repository's top (`""` at the top): CI files
    /// live at the top, steps run in the project.
    pub project_dir: String,
    /// The shell command that installs slipway on a fresh CI machine.
    pub install: String,
    /// GitLab's job image and CodeBuild's build image, pinned by digest; DEFAULT_IMAGE when
    /// `None`.
    pub image: Option<String>,
    /// Only these pipelines; all when empty.
    pub pipelines: Vec<String>,
}

/// The image GitLab jobs and CodeBuild steps run in when `--image` names none: Rust's official
/// image, since slipway is installed with cargo (`--install`), pinned by the digest its tag
/// named when it was chosen, so every run of a pipeline starts from the same bytes. The digest
/// is the one public Dockerfiles pin `rust:1.95.0-bookworm` and `rust:1.95-bookworm` to (it
/// could not be fetched from Docker Hub where it was chosen); move tag and digest together.
pub const DEFAULT_IMAGE: &str =
    "rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1";

/// Whether `image` names its content by digest (`NAME[:TAG]@sha256:<64 hex>`).
fn pinned_by_digest(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(name, digest)| {
        !name.is_empty()
            && digest.len() == 64
            && digest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

impl ExportOptions {
    /// The image to run in: `--image`, which must be pinned by digest, or DEFAULT_IMAGE.
    fn image(&self) -> Result<String> {
        match &self.image {
            Some(image) if pinned_by_digest(image) => Ok(image.clone()),
            Some(image) => Err(CiError::ImageNotPinned {
                image: image.clone(),
            }),
            None => Ok(DEFAULT_IMAGE.to_owned()),
        }
    }

    /// `cargo install` of this very version of slipway, so CI runs what wrote the files.
    pub fn default_install() -> String {
        format!(
            "cargo install --locked slipway --version {}",
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// A file to write, relative to the repository's top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiFile {
    /// Where it goes, relative to the repository's top (`.gitlab-ci.yml`).
    pub path: String,
    /// The whole file, comments included.
    pub contents: String,
}

/// One job's worth of steps: those before the first gate, then those after each gate.
#[derive(Debug, Clone)]
struct Segment {
    gate: Option<Gate>,
    steps: Vec<CiStep>,
}

#[derive(Debug, Clone)]
struct Gate {
    /// The environment it guards; `approval` when it names none and no deploy follows.
    environment: String,
    approvers: Vec<String>,
}

#[derive(Debug, Clone)]
struct CiStep {
    name: String,
    /// A shell line.
    command: String,
    /// Set for a deploy that a gate confirmed: it names who approved where.
    approved_in: Option<String>,
    /// The `pull-request` step: it calls the git host's API with `[git] token`.
    opens_pull_request: bool,
    /// The `env:` variables of slipway.toml this step gets, as the runner gives them: an
    /// environment's secrets to the steps acting on it, the git host's token to `pull-request`
    /// only, the notification channels' to slipway's own steps.
    secrets: Vec<String>,
}

/// A pipeline to export, cut into segments at its gates.
#[derive(Debug)]
struct Exported<'m> {
    name: &'m str,
    pipeline: &'m Pipeline,
    kind: PipelineKind,
    segments: Vec<Segment>,
}

/// The files that run `options.pipelines` (all when empty) of `manifest` in `system`.
pub fn export(
    manifest: &Manifest,
    system: CiSystem,
    options: &ExportOptions,
) -> Result<Vec<CiFile>> {
    for name in &options.pipelines {
        slipway_core::pipeline::steps::pipeline(manifest, name)?;
    }
    let image = options.image()?;
    let mut exported = Vec::new();
    for (name, pipeline) in &manifest.pipelines {
        if !options.pipelines.is_empty() && !options.pipelines.contains(name) {
            continue;
        }
        exported.push(Exported {
            name,
            pipeline,
            kind: kind_of(name, pipeline),
            segments: segments(manifest, name, pipeline)?,
        });
    }
    if exported.is_empty() {
        return Err(PlanError::UnknownPipeline {
            name: "to export".into(),
            hint: ": add a `[pipelines.release]` table (see docs/manifest.md)".into(),
        }
        .into());
    }
    let secrets = secret_variables(manifest);
    Ok(match system {
        CiSystem::Github => exported
            .iter()
            .map(|e| github::workflow_file(manifest, e, options))
            .collect(),
        CiSystem::Gitlab => vec![gitlab::file(manifest, &exported, &secrets, options, &image)],
        CiSystem::Codebuild => exported
            .iter()
            .flat_map(|e| codebuild::files(manifest, e, options, &image))
            .collect(),
    })
}

fn segments(manifest: &Manifest, name: &str, pipeline: &Pipeline) -> Result<Vec<Segment>> {
    let mut segments = vec![Segment {
        gate: None,
        steps: Vec::new(),
    }];
    let mut approved: Vec<String> = Vec::new();
    // Every variable present, so that what a step gets is the runner's own choice.
    let runner_environment: BTreeMap<String, String> = secret_variables(manifest)
        .into_iter()
        .map(|var| (var, String::new()))
        .collect();
    for step in plan(manifest, pipeline)? {
        let opens_pull_request = matches!(&step.action, Action::Slipway(args) if args.first().is_some_and(|a| a == "pull-request"));
        let secrets: Vec<String> = match step.action {
            // `slipway pipeline notify` tells the channels itself.
            Action::Notify => notification_variables(manifest),
            _ => step_environment(manifest, &step, &runner_environment)
                .into_keys()
                .collect(),
        };
        let ci_step = |command: String| CiStep {
            name: step.name.clone(),
            command,
            approved_in: None,
            opens_pull_request,
            secrets: secrets.clone(),
        };
        let planned = match step.action {
            Action::Approve { environment } => {
                let environment = environment.unwrap_or_else(|| "approval".to_owned());
                let approvers = manifest
                    .environments
                    .get(&environment)
                    .map(|e| e.approval.approvers.clone())
                    .unwrap_or_default();
                approved.push(environment.clone());
                segments.push(Segment {
                    gate: Some(Gate {
                        environment,
                        approvers,
                    }),
                    steps: Vec::new(),
                });
                continue;
            }
            Action::Slipway(args) => ci_step(format!("slipway {}", shell_line(&args))),
            Action::Deploy { environment } => {
                let confirmed = approved.contains(&environment);
                let mut command = format!("slipway deploy {}", shell_word(&environment));
                if confirmed {
                    command.push_str(" --yes");
                }
                let mut planned = ci_step(command);
                planned.approved_in = confirmed.then_some(environment);
                planned
            }
            Action::Command(argv) => ci_step(match argv.as_slice() {
                [shell, flag, script] if shell == "/bin/sh" && flag == "-c" => script.clone(),
                _ => shell_line(&argv),
            }),
            Action::Notify => ci_step(format!("slipway pipeline notify {}", shell_word(name))),
        };
        segments
            .last_mut()
            .expect("one segment")
            .steps
            .push(planned);
    }
    // A gate right at the start leaves an empty first segment; a gate at the end guards nothing.
    segments.retain(|s| !s.steps.is_empty());
    Ok(segments)
}

/// The variables of the notification channels (webhook URLs, SMTP passwords): what
/// `slipway pipeline notify` reads.
fn notification_variables(manifest: &Manifest) -> Vec<String> {
    let references = references(manifest);
    let mut out: Vec<String> = references
        .iter()
        .filter(|(_, holder)| *holder == Holder::Project)
        .map(|(var, _)| var.clone())
        .filter(|var| {
            // One also held by the server or the git host stays theirs.
            !references
                .iter()
                .any(|(v, h)| v == var && matches!(h, Holder::Server | Holder::GitHost))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The variables slipway.toml reads with `env:VAR` (secrets, credentials, tokens, webhook
/// URLs): the CI system passes them in from its own secret store.
fn secret_variables(manifest: &Manifest) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::String(s) => {
                if let Some(var) = s.strip_prefix("env:")
                    && !var.is_empty()
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    out.insert(var.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(mut value) = serde_json::to_value(manifest) {
        // The server's logins and webhook secret belong to `slipway serve`, not to CI jobs.
        if let Some(map) = value.as_object_mut() {
            map.remove("server");
        }
        walk(&value, &mut out);
    }
    out
}

/// The comment every file starts with: where it comes from and how to bring it up to date.
fn header(system: &str) -> String {
    format!(
        "# Written by `slipway ci export {system}` from slipway.toml: change the pipelines there and\n# export again (`slipway ci export {system} --check` fails when this file is out of date).\n"
    )
}

fn in_project(options: &ExportOptions, path: &str) -> String {
    if options.project_dir.is_empty() {
        path.to_owned()
    } else {
        format!("{}/{path}", options.project_dir)
    }
}

/// Globs of slipway.toml, relative to the project, as the repository's top sees them.
fn in_project_all(options: &ExportOptions, globs: &[String]) -> Vec<String> {
    globs.iter().map(|glob| in_project(options, glob)).collect()
}

fn state_dir(manifest: &Manifest, options: &ExportOptions) -> String {
    let dir = manifest.project.state_dir.as_deref().unwrap_or(".slipway");
    in_project(options, &format!("{}/", dir.trim_end_matches('/')))
}

/// What of the state dir never travels between jobs: rendered config and each release's env
/// files hold secrets, and an artifact can be downloaded by anyone who may read the repository.
/// Later steps render them again.
fn state_secrets(manifest: &Manifest, options: &ExportOptions) -> Vec<String> {
    let dir = state_dir(manifest, options);
    vec![format!("{dir}config/**"), format!("{dir}releases/**")]
}

fn push_filter(pipeline: &Pipeline) -> Option<&GitFilter> {
    pipeline.on.push.as_ref()
}

/// The gates of a pipeline with who approves at each, for the note atop a file.
fn approvers_note(exported: &Exported) -> Option<String> {
    let gates: Vec<String> = exported
        .segments
        .iter()
        .filter_map(|s| s.gate.as_ref())
        .map(|gate| {
            if gate.approvers.is_empty() {
                format!("{} (anyone with access)", gate.environment)
            } else {
                format!("{} ({})", gate.environment, gate.approvers.join(", "))
            }
        })
        .collect();
    (!gates.is_empty()).then(|| gates.join("; "))
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "step".to_owned()
    } else {
        out
    }
}

fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
