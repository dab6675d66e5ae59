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
    after_help = "Examples:\n  slipway build             every app\n  slipway build api --output json\n  slipway build --env prod  with prod's Dockerfiles and build arguments ([apps.NAME.environments.prod])\n\nThe same sources give the same digest: timestamps come from SOURCE_DATE_EPOCH or the last commit."
)]
pub struct BuildArgs {
    /// Apps to build; default all.
    apps: Vec<String>,
    /// Project directory (or one inside it).
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Platforms to build, e.g. `--platform linux/amd64` (repeatable); default every platform
    /// of the base.
    #[arg(long = "platform", value_name = "OS/ARCH")]
    platforms: Vec<String>,
    /// Also load each image into the local Docker Engine as `<project>/<app>:latest`.
    #[arg(long)]
    load: bool,
    /// Build for this environment: apps with `build = "dockerfile"` use its Dockerfile, target
    /// and build arguments from `[apps.NAME.environments.ENV]`.
    #[arg(long = "env", value_name = "ENV")]
    environment: Option<String>,
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
    if let Some(environment) = &args.environment {
        super::environment::check_environment(&project, environment)?;
    }
    let options = BuildOptions {
        project_root: project.root.clone(),
        store_dir: project.store_dir(),
        source_date_epoch: project.source_date_epoch(),
        revision: project.revision(),
        pinned_bases: project.pinned_bases()?,
        platforms: args.platforms.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut results: Vec<serde_json::Value> = Vec::new();
    // Assembled apps build at the same time; Dockerfile apps take their turn in the engine.
    let assembled: Vec<&String> = apps
        .iter()
        .filter(|a| project.manifest.apps[*a].build == slipway_core::manifest::BuildKind::Assemble)
        .collect();
    let names: Vec<&str> = assembled.iter().map(|a| a.as_str()).collect();
    let bar = super::progress_bar(args.output, format!("assembling {}", names.join(", ")));
    bar.set_length(assembled.len() as u64);
    let mut assembled_results: std::collections::HashMap<
        String,
        slipway_oci::Result<slipway_oci::app::Built>,
    > = runtime
        .block_on(futures_util::future::join_all(assembled.iter().map(
            |app| {
                let options = &options;
                let manifest = &project.manifest;
                let bar = &bar;
                async move {
                    let result = build_app(manifest, app, options).await;
                    bar.inc(1);
                    ((*app).clone(), result)
                }
            },
        )))
        .into_iter()
        .collect();
    bar.finish_and_clear();
    for app in &apps {
        if project.manifest.apps[app].build == slipway_core::manifest::BuildKind::Dockerfile {
            let built = runtime
                .block_on(build_with_engine(
                    &project,
                    app,
                    args.environment.as_deref(),
                    args.output,
                ))
                .with_context(|| format!("building app `{app}` from its Dockerfile"))?;
            if args.output == Output::Text {
                println!(
                    "built {app} {} from {}",
                    built["digest"].as_str().unwrap_or_default(),
                    built["dockerfile"].as_str().unwrap_or_default()
                );
            }
            results.push(built);
            continue;
        }
        let built = assembled_results
            .remove(app)
            .expect("every assembled app was built")
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
        if args.load
            && project.manifest.apps[app].build == slipway_core::manifest::BuildKind::Assemble
        {
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
        results.push(serde_json::to_value(built)?);
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// An app with `build = "dockerfile"`: its target built through the engine, on the project's
/// pinned base (passed as the SLIPWAY_BASE build argument), then taken into the local store so
/// push and promote treat it like an assembled image.
async fn build_with_engine(
    project: &Project,
    app_name: &str,
    environment: Option<&str>,
    output: Output,
) -> Result<serde_json::Value> {
    let manifest = &project.manifest;
    let engine = slipway_docker::Engine::connect().await?;
    let (dockerfile_path, target, args) = manifest
        .app_build_for(app_name, environment)
        .expect("a dockerfile app");
    let mut build_args: std::collections::HashMap<String, String> = args.into_iter().collect();
    if let Some(base) = manifest.app_base_for(app_name, environment) {
        let (registry, reference) =
            slipway_oci::app::base_reference(manifest, base, &project.pinned_bases()?)?;
        let credential = slipway_oci::credentials::from_docker_config(registry.client.host())?;
        engine.pull(&reference, credential.as_ref()).await?;
        build_args.insert("SLIPWAY_BASE".into(), reference);
    }
    let dockerfile = project.root.join(&dockerfile_path);
    let context = project.root.join(manifest.app_dir(app_name));
    let local = slipway_oci::app::local_name(manifest, app_name);
    let mut log = |line: &str| {
        if output == Output::Text {
            eprintln!("  {app_name} | {line}");
        }
    };
    engine
        .build_target(
            &context,
            &dockerfile,
            target.as_deref(),
            std::slice::from_ref(&local),
            &build_args,
            &mut log,
        )
        .await?;
    let archive = project
        .state_dir()
        .join(format!("{app_name}.docker-save.tar"));
    std::fs::create_dir_all(project.state_dir())?;
    engine.save(&local, &archive).await?;
    let digest = slipway_oci::app::import_docker_archive(&project.store_dir(), &archive, &local);
    let _ = std::fs::remove_file(&archive);
    let digest = digest?;
    record_built_for(
        project,
        app_name,
        environment.and_then(|e| manifest.build_variant(app_name, e)),
    )?;
    Ok(
        serde_json::json!({ "app": app_name, "digest": digest, "dockerfile": dockerfile_path, "target": target, "environment": environment, "loaded_as": local }),
    )
}

/// Where the environment a Dockerfile app's local image was built for is kept.
pub fn built_for_path(project: &Project, app: &str) -> PathBuf {
    project.state_dir().join("built-for").join(app)
}

/// Records which build of `app` the local store holds: `variant` is the environment whose
/// `[apps.APP.environments.ENV]` it used, `None` for the plain build.
fn record_built_for(project: &Project, app: &str, variant: Option<&str>) -> Result<()> {
    let path = built_for_path(project, app);
    let parent = path.parent().expect("a file in the state directory");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    std::fs::write(&path, variant.unwrap_or_default())
        .with_context(|| format!("writing {}", path.display()))
}

/// Refuses to run, in `environment`, a local image of a Dockerfile app built for another of
/// its per-environment variants.
pub fn check_built_for(project: &Project, environment: &str, apps: &[String]) -> Result<()> {
    for app in apps {
        let built = std::fs::read_to_string(built_for_path(project, app)).ok();
        if let Some(problem) = project
            .manifest
            .build_mismatch(app, environment, built.as_deref())
        {
            bail!("{problem}");
        }
    }
    Ok(())
}
