use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use slipway_oci::app::{default_registry, push_app};

use super::Output;
use super::project::Project;

/// Push built app images by digest: blobs first (what the registry has is skipped), the
/// manifest last, so no tag ever points at a missing blob.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway build && slipway push\n  slipway push api --registry team --tag stage --tag v1.4.0"
)]
pub struct PushArgs {
    /// Apps to push; default all.
    apps: Vec<String>,
    /// Registry from slipway.toml; default the project's.
    #[arg(long)]
    registry: Option<String>,
    /// Tags to write (repeatable); default the commit (`git-<sha>`), or `latest` outside git.
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: PushArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let manifest = &project.manifest;
    let registry = default_registry(manifest, args.registry.as_deref()).ok_or_else(|| {
        anyhow!("no registry to push to: name one with --registry or set [project] registry")
    })?;
    if !manifest.registries.contains_key(&registry) {
        let known: Vec<&str> = manifest.registries.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no registry `{registry}` in slipway.toml; registries: {}",
            known.join(", ")
        );
    }
    let tags = if args.tags.is_empty() {
        vec![project.revision().map_or_else(
            || "latest".to_owned(),
            |sha| format!("git-{}", &sha[..sha.len().min(12)]),
        )]
    } else {
        args.tags.clone()
    };
    let apps: Vec<String> = if args.apps.is_empty() {
        manifest.apps.keys().cloned().collect()
    } else {
        args.apps.clone()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut results = Vec::new();
    for app in &apps {
        let bar = super::progress_bar(args.output, format!("pushing {app}"));
        let progress = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        let pushed = runtime.block_on(push_app(
            manifest,
            app,
            &project.store_dir(),
            &registry,
            &tags,
            &progress,
        ));
        bar.finish_and_clear();
        let pushed = pushed.with_context(|| format!("pushing app `{app}` to `{registry}`"))?;
        if args.output == Output::Text {
            println!(
                "pushed {} ({} tag(s): {}; {} blob(s) uploaded, {} bytes; {} already there, {} mounted)",
                pushed.reference,
                pushed.tags.len(),
                pushed.tags.join(", "),
                pushed.blobs_uploaded,
                pushed.bytes_uploaded,
                pushed.blobs_present,
                pushed.blobs_mounted
            );
        }
        results.push(pushed);
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(ExitCode::SUCCESS)
}
