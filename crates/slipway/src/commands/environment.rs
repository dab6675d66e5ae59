//! Commands on an environment as a whole on the local engine: `up`, `down`, `pull` and
//! `compose export`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use slipway_deploy::host::take_down;
use slipway_docker::environment::up;

use super::project::Project;
use super::{Output, runtime, with_engine};

/// Refuses an environment slipway.toml does not define, suggesting the closest one.
pub fn check_environment(project: &Project, name: &str) -> Result<()> {
    project.environment(name)?;
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
    let environment = project.environment(&args.environment)?;
    let manifest = &project.manifest;
    // Without mounts the apps run their local images: each must be this environment's build.
    if !environment.mount {
        let apps: Vec<String> = environment.apps(manifest).into_iter().cloned().collect();
        super::build::check_built_for(&project, &args.environment, &apps)?;
    }
    let rendered = project.render_config(&args.environment, Default::default())?;
    slipway_config::write(
        &rendered,
        &project.root,
        &project.state_dir().join("config").join(&args.environment),
    )?;
    let options = project.up_options(args.keep)?;
    let output = args.output;
    let mut log = |line: &str| {
        if output == Output::Text {
            eprintln!("  {line}");
        }
    };
    let environment = &args.environment;
    let started = with_engine(async |engine| {
        up(engine, manifest, environment, &rendered, &options, &mut log).await
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
    let removed = runtime()?.block_on(take_down(
        &project.manifest,
        &args.environment,
        args.volumes,
    ))?;
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

/// Write a docker-compose file equivalent to `slipway up ENV`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway compose export dev > docker-compose.dev.yml\n  slipway config render dev && docker compose -f docker-compose.dev.yml up -d"
)]
pub struct ComposeArgs {
    #[command(subcommand)]
    command: ComposeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ComposeCommand {
    /// Print the compose file of an environment. Its file secrets (`secret_files`) become
    /// compose `secrets:` whose values it writes to 0600 files under `.slipway/secrets/<env>/`.
    Export {
        environment: String,
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
}

pub fn run_compose(args: ComposeArgs) -> Result<ExitCode> {
    let ComposeCommand::Export {
        environment,
        project,
    } = args.command;
    let project = Project::find(&project)?;
    check_environment(&project, &environment)?;
    let options = project.up_options(false)?;
    let exported =
        slipway_docker::environment::compose_export(&project.manifest, &environment, &options)?;
    // The file secrets' values go in files of their own (0600, git-ignored), never inline.
    if !slipway_docker::environment::compose_secret_names(&project.manifest, &environment)
        .is_empty()
    {
        let rendered = project.render_config(&environment, Default::default())?;
        for path in slipway_docker::environment::compose_secret_files(
            &project.manifest,
            &environment,
            &rendered,
            &options.state_dir,
        )? {
            eprintln!("wrote {} (0600)", path.display());
        }
    }
    print!("{exported}");
    Ok(ExitCode::SUCCESS)
}

/// Pull the newest of what an environment runs: its apps' bases and its services' images.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  slipway base update && slipway pull dev && slipway up dev")]
pub struct PullArgs {
    environment: String,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub fn run_pull(args: PullArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let pinned = project.pinned_bases()?;
    let pulled = with_engine(async |engine| {
        slipway_docker::environment::pull(engine, &project.manifest, &args.environment, &pinned)
            .await
    })?;
    for reference in pulled {
        println!("pulled {reference}");
    }
    Ok(ExitCode::SUCCESS)
}
