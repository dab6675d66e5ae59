//! Commands on an environment's running containers: `ps`, `exec`, `run` and `test` (`logs` is
//! in `logs.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use slipway_docker::{checks, running};

use super::deploy::with_deployer;
use super::environment::check_environment;
use super::project::Project;
use super::{Output, with_engine};

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
    let rows = with_engine(async |engine| {
        running::containers(
            engine,
            &project.manifest.project.name,
            args.environment.as_deref(),
        )
        .await
    })?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text => {
            println!("{:<32} {:<10} {:<12} STATUS", "CONTAINER", "ENV", "NAME");
            for row in &rows {
                println!(
                    "{:<32} {:<10} {:<12} {}",
                    row.container.as_deref().unwrap_or("-"),
                    row.environment,
                    row.name,
                    row.status.as_deref().unwrap_or("-")
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
    let tests = checks::tests_of(manifest, &args.environment)?;
    let output = args.output;
    let results = with_engine(async |engine| {
        let mut show = |result: &checks::CheckResult| {
            if output == Output::Text {
                let mark = if result.passed { "ok  " } else { "FAIL" };
                println!("{mark} {} ({} ms)", result.name, result.millis);
                if !result.passed {
                    for line in result.detail.lines() {
                        println!("     {line}");
                    }
                }
            }
        };
        anyhow::Ok(checks::run_checks(engine, manifest, &args.environment, tests, &mut show).await)
    })?;
    if let Some(path) = &args.junit {
        std::fs::write(path, checks::junit(&args.environment, &results))
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
    let finished = if deployed(&project, &args.environment)? {
        with_deployer(
            &project,
            &args.environment,
            Output::Json,
            false,
            async |d| Ok(d.exec(&args.name, &args.command).await?.1),
        )
        .with_context(|| {
            format!(
                "running a command in `{}` of `{}`",
                args.name, args.environment
            )
        })?
    } else {
        exec_in_up(&project, &args)?
    };
    print!("{}", finished.output);
    Ok(ExitCode::from(
        u8::try_from(finished.exit_code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Run a command in a fresh container of an app's live release, and return its exit code.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A one-off task: a new container from the live release's image and config (its environment, its secret files, the environment's services), which takes no traffic and is removed when the command ends. Its output is streamed; slipway exits with the command's exit code. On ECS it is a task of the live task definition with the command replaced; its output is read from CloudWatch Logs while it runs and after it stops.\n\nExamples:\n  slipway run prod api -- python3 -m api.migrate\n  slipway run prod api -- python3 -m api.report --since yesterday"
)]
pub struct RunArgs {
    environment: String,
    app: String,
    #[arg(last = true, required = true)]
    command: Vec<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub fn run_one_off(args: RunArgs) -> Result<ExitCode> {
    use std::io::Write;
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    if !deployed(&project, &args.environment)? {
        anyhow::bail!(
            "`{}` has no live release to run `{}` from: deploy it first (`slipway deploy {}`), or use `slipway exec {} {}` on what `up` started",
            args.environment,
            args.app,
            args.environment,
            args.environment,
            args.app
        );
    }
    // Text: where the task runs and, on ECS, where its output is go to stderr; the output itself
    // to stdout.
    let code = with_deployer(
        &project,
        &args.environment,
        Output::Text,
        false,
        async |d| {
            let mut stdout = std::io::stdout();
            let mut show = |chunk: &str| {
                // A reader that went away does not stop the task: it runs to its end unread.
                let _ = stdout.write_all(chunk.as_bytes());
                let _ = stdout.flush();
            };
            Ok(d.run(&args.app, &args.command, &mut show).await?)
        },
    )
    .with_context(|| format!("running a one-off `{}` of `{}`", args.app, args.environment))?;
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Whether `environment` runs on ECS.
pub(super) fn on_ecs(project: &Project, environment: &str) -> Result<bool> {
    Ok(matches!(
        project.manifest.environment(environment)?.target,
        slipway_core::manifest::Target::Ecs(_)
    ))
}

/// Whether `environment` is deployed (it runs on ECS, or a release of it is live on its hosts):
/// then `exec` and `logs` go to the live release's containers, wherever they run, instead of
/// the containers `up` started on this engine.
pub(super) fn deployed(project: &Project, environment: &str) -> Result<bool> {
    if on_ecs(project, environment)? {
        return Ok(true);
    }
    let path = slipway_history::releases::path(&project.state_dir());
    if !path.exists() {
        return Ok(false);
    }
    Ok(slipway_history::ReleaseStore::open(&path)?
        .live(environment)?
        .is_some())
}

/// `exec` in a container `up` started.
fn exec_in_up(project: &Project, args: &ExecArgs) -> Result<slipway_docker::Finished> {
    let container = slipway_docker::environment::container_name(
        &project.manifest,
        &args.environment,
        &args.name,
    );
    let finished = with_engine(async |engine| engine.exec(&container, &args.command).await)
        .with_context(|| {
            format!(
                "running a command in {container} (is `{}` up?)",
                args.environment
            )
        })?;
    Ok(finished)
}
