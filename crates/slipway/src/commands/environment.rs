use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use slipway_docker::Engine;
use slipway_docker::environment::{LABEL_ENVIRONMENT, LABEL_NAME, UpOptions, down, up};

use super::Output;
use super::project::Project;

fn check_environment(project: &Project, name: &str) -> Result<()> {
    if !project.manifest.environments.contains_key(name) {
        let known: Vec<&str> = project
            .manifest
            .environments
            .keys()
            .map(String::as_str)
            .collect();
        let hint = slipway_core::suggest::did_you_mean(name, known.iter().copied())
            .unwrap_or_else(|| format!("environments: {}", known.join(", ")));
        bail!("no environment `{name}` in slipway.toml; {hint}");
    }
    Ok(())
}

/// Start an environment on the local Docker Engine: services first (waited on by their health
/// checks), then apps (dev: on their base with their directory mounted; others: the built
/// images), then the environment's `after_up` hooks. Running it twice changes nothing.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  SHOP_DB_PASSWORD=... slipway up dev\n  slipway build && slipway up stage\n  slipway up dev --keep       leave what started when something fails, to look at it"
)]
pub struct UpArgs {
    environment: String,
    /// Leave what started when `up` fails.
    #[arg(long)]
    keep: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run_up(args: UpArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let manifest = &project.manifest;
    let inputs = slipway_config::Inputs::from_process(Default::default());
    let rendered = slipway_config::render(&project.root, manifest, &args.environment, &inputs)?;
    slipway_config::write(
        &rendered,
        &project.root,
        &project.state_dir().join("config").join(&args.environment),
    )?;
    let options = UpOptions {
        root: project.root.clone(),
        store_dir: project.store_dir(),
        state_dir: project.state_dir(),
        pinned_bases: project.pinned_bases()?,
        keep: args.keep,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let output = args.output;
    let started = runtime
        .block_on(async {
            let engine = Engine::connect().await?;
            let mut log = |line: &str| {
                if output == Output::Text {
                    eprintln!("  {line}");
                }
            };
            up(
                &engine,
                manifest,
                &args.environment,
                &rendered,
                &options,
                &mut log,
            )
            .await
        })
        .with_context(|| format!("starting environment `{}`", args.environment))?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&started)?),
        Output::Text => {
            for item in &started {
                let url = item
                    .url
                    .as_deref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default();
                println!("{} {} ({:?}){url}", item.name, item.container, item.change);
            }
            println!("environment `{}` is up", args.environment);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Stop and remove an environment's containers and networks; named volumes stay unless
/// `--volumes`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway down dev\n  slipway down stage --volumes   also the named volumes (the data)"
)]
pub struct DownArgs {
    environment: String,
    /// Also remove the environment's named volumes.
    #[arg(long)]
    volumes: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub fn run_down(args: DownArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let removed = runtime.block_on(async {
        let engine = Engine::connect().await?;
        down(&engine, &project.manifest, &args.environment, args.volumes).await
    })?;
    for name in &removed {
        println!("removed {name}");
    }
    println!(
        "environment `{}` is down{}",
        args.environment,
        if args.volumes {
            " (volumes removed)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// List the containers of the project's environments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  slipway ps\n  slipway ps dev --output json")]
pub struct PsArgs {
    environment: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run_ps(args: PsArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    if let Some(environment) = &args.environment {
        check_environment(&project, environment)?;
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let containers = runtime.block_on(async {
        let engine = Engine::connect().await?;
        engine
            .containers_of(&project.manifest.project.name, args.environment.as_deref())
            .await
    })?;
    let rows: Vec<serde_json::Value> = containers
        .iter()
        .map(|c| {
            let label = |key: &str| c.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default();
            serde_json::json!({
                "container": c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_owned()),
                "environment": label(LABEL_ENVIRONMENT),
                "name": label(LABEL_NAME),
                "status": c.status,
            })
        })
        .collect();
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text => {
            println!("{:<32} {:<10} {:<12} STATUS", "CONTAINER", "ENV", "NAME");
            for row in &rows {
                println!(
                    "{:<32} {:<10} {:<12} {}",
                    row["container"].as_str().unwrap_or("-"),
                    row["environment"].as_str().unwrap_or("-"),
                    row["name"].as_str().unwrap_or("-"),
                    row["status"].as_str().unwrap_or("-")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
