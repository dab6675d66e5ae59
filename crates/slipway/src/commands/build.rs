use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use slipway_oci::app::{BuildOptions, build_app};

use super::Output;
use super::project::Project;

/// Build app images without a Docker daemon: each app's base + layers made from its directory
/// + its image config, kept in the project's local OCI store.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway build             every app\n  slipway build api --output json\n\nThe same sources give the same digest: timestamps come from SOURCE_DATE_EPOCH or the last commit."
)]
pub struct BuildArgs {
    /// Apps to build; default all.
    apps: Vec<String>,
    /// Project directory (or one inside it).
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Also load each image into the local Docker Engine as `<project>/<app>:latest`.
    #[arg(long)]
    load: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let apps: Vec<String> = if args.apps.is_empty() {
        project.manifest.apps.keys().cloned().collect()
    } else {
        args.apps.clone()
    };
    for app in &apps {
        if !project.manifest.apps.contains_key(app) {
            let known: Vec<&str> = project.manifest.apps.keys().map(String::as_str).collect();
            let hint = slipway_core::suggest::did_you_mean(app, known.iter().copied())
                .unwrap_or_else(|| format!("apps: {}", known.join(", ")));
            bail!("no app `{app}` in slipway.toml; {hint}");
        }
    }
    let options = BuildOptions {
        project_root: project.root.clone(),
        store_dir: project.store_dir(),
        source_date_epoch: project.source_date_epoch(),
        revision: project.revision(),
        pinned_bases: project.pinned_bases()?,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut results = Vec::new();
    for app in &apps {
        let built = runtime
            .block_on(build_app(&project.manifest, app, &options))
            .with_context(|| format!("building app `{app}`"))?;
        if args.output == Output::Text {
            let reused = built.layers.iter().filter(|l| l.reused).count();
            println!(
                "built {app} {} ({} layer(s), {reused} unchanged) on {}",
                built.digest,
                built.layers.len(),
                built.base
            );
        }
        if args.load {
            let archive = project
                .state_dir()
                .join(format!("{app}.docker-archive.tar"));
            let tag = runtime
                .block_on(async {
                    let tag = slipway_oci::app::docker_archive(
                        &project.manifest,
                        app,
                        &project.store_dir(),
                        &archive,
                    )
                    .await?;
                    let engine = slipway_docker::Engine::connect().await?;
                    engine.load(&archive).await?;
                    anyhow::Ok(tag)
                })
                .with_context(|| format!("loading app `{app}` into the Docker Engine"))?;
            let _ = std::fs::remove_file(&archive);
            if args.output == Output::Text {
                println!("loaded {app} into the Docker Engine as {tag}");
            }
        }
        results.push(built);
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(ExitCode::SUCCESS)
}
