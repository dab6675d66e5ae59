use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use slipway_docker::Engine;
use slipway_docker::environment::{LABEL_ENVIRONMENT, LABEL_NAME, UpOptions, down, up};

use super::Output;
use super::project::Project;

pub fn check_environment(project: &Project, name: &str) -> Result<()> {
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
    // Without mounts the apps run their local images: each must be this environment's build.
    if !manifest.environments[&args.environment].mount {
        let apps: Vec<String> = match &manifest.environments[&args.environment].apps {
            Some(listed) => listed.clone(),
            None => manifest.apps.keys().cloned().collect(),
        };
        super::build::check_built_for(&project, &args.environment, &apps)?;
    }
    let rendered = project.render_config(&args.environment, Default::default())?;
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
        let host = slipway_deploy::host::Host::connect(None).await?;
        slipway_deploy::host::forget_routes(&host, &project.manifest, &args.environment).await?;
        Ok::<_, anyhow::Error>(
            down(
                &host.engine,
                &project.manifest,
                &args.environment,
                args.volumes,
            )
            .await?,
        )
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

/// Run the environment's checks against the running environment.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway up stage && slipway test stage\n  slipway test stage --junit test-results.xml"
)]
pub struct TestArgs {
    environment: String,
    /// Also write the results as JUnit XML (for CI systems).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run_test(args: TestArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let manifest = &project.manifest;
    let checks = &manifest.environments[&args.environment].tests;
    if checks.is_empty() {
        bail!(
            "environment `{}` has no tests: add `tests = [...]` to [environments.{}]",
            args.environment,
            args.environment
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let output = args.output;
    let results = runtime.block_on(async {
        let engine = Engine::connect().await?;
        let mut results = Vec::new();
        for check in checks {
            let result =
                slipway_docker::checks::run_check(&engine, manifest, &args.environment, check)
                    .await;
            if output == Output::Text {
                let mark = if result.passed { "ok  " } else { "FAIL" };
                println!("{mark} {} ({} ms)", result.name, result.millis);
                if !result.passed {
                    for line in result.detail.lines() {
                        println!("     {line}");
                    }
                }
            }
            results.push(result);
        }
        anyhow::Ok(results)
    })?;
    if let Some(path) = &args.junit {
        std::fs::write(
            path,
            slipway_docker::checks::junit(&args.environment, &results),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Output::Text => println!("{} passed, {failed} failed", results.len() - failed),
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Show the logs of an environment's containers.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway logs dev\n  slipway logs dev api --tail 50\n  slipway logs dev -f           follow every container's log"
)]
pub struct LogsArgs {
    environment: String,
    /// One app or service; default all.
    name: Option<String>,
    /// Lines from the end of each log.
    #[arg(long, default_value_t = 100)]
    tail: usize,
    /// Keep following the logs as they grow.
    #[arg(long, short = 'f')]
    follow: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub fn run_logs(args: LogsArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let engine = Engine::connect().await?;
        let mut selected = Vec::new();
        for container in engine
            .containers_of(&project.manifest.project.name, Some(&args.environment))
            .await?
        {
            let label = container
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_NAME))
                .cloned()
                .unwrap_or_default();
            if args.name.as_ref().is_some_and(|n| n != &label) {
                continue;
            }
            let name = container
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default();
            selected.push((name, label));
        }
        if selected.is_empty() {
            bail!(
                "nothing of `{}` is running{}: run `slipway up {}`",
                args.environment,
                args.name
                    .as_deref()
                    .map(|n| format!(" named `{n}`"))
                    .unwrap_or_default(),
                args.environment
            );
        }
        if args.follow {
            engine
                .follow_logs(&selected, args.tail, &mut |label, line| {
                    println!("{label} | {line}")
                })
                .await?;
        } else {
            for (name, label) in &selected {
                for line in engine.last_logs(name, args.tail).await.lines() {
                    println!("{label} | {line}");
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Run a command in a running app or service of an environment.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway exec dev api -- python3 -m api.migrate\n  slipway exec dev db -- psql -U app -d shop -c 'select 1'"
)]
pub struct ExecArgs {
    environment: String,
    name: String,
    #[arg(last = true, required = true)]
    command: Vec<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub fn run_exec(args: ExecArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let container = slipway_docker::environment::container_name(
        &project.manifest,
        &args.environment,
        &args.name,
    );
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let finished = runtime
        .block_on(async {
            let engine = Engine::connect().await?;
            engine.exec(&container, &args.command).await
        })
        .with_context(|| {
            format!(
                "running a command in {container} (is `{}` up?)",
                args.environment
            )
        })?;
    print!("{}", finished.output);
    Ok(ExitCode::from(
        u8::try_from(finished.exit_code.clamp(0, 255)).unwrap_or(1),
    ))
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
    let options = UpOptions {
        root: project.root.clone(),
        store_dir: project.store_dir(),
        state_dir: project.state_dir(),
        pinned_bases: project.pinned_bases()?,
        keep: false,
    };
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
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let pulled = runtime.block_on(async {
        let engine = Engine::connect().await?;
        slipway_docker::environment::pull(&engine, &project.manifest, &args.environment, &pinned)
            .await
    })?;
    for reference in pulled {
        println!("pulled {reference}");
    }
    Ok(ExitCode::SUCCESS)
}
