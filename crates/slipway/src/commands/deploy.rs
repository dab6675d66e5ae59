//! `slipway deploy` and `rollback`: releases on Docker hosts and ECS.
//! Parsing and printing only; the work is `slipway_deploy::deployer`'s.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::builder::TypedValueParser as _;
use slipway_core::manifest::{EventKind, StrategyKind};
use slipway_deploy::deployer::{
    Deployer, Notice, deploy_request, deployed_notice, local_apps, parse_release_id,
    rollback_notice, rolled_back_notice,
};
use slipway_deploy::rollout::Context as DeployContext;

use super::Output;
use super::environment::check_environment;
use super::notify::notify;
use super::project::Project;

/// Deploy a release of an environment: every app (or the named ones) behind the proxy on each
/// host, with the environment's strategy, health-gated, rolled back automatically on failure.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway build && slipway deploy prod --yes\n  slipway deploy prod --app api --strategy canary\n  slipway deploy prod --image api=registry.example/shop/api@sha256:...\n  slipway deploy prod --resume         finish a deploy that was interrupted\n  slipway deploy prod --force          replace every app, changed or not\n  slipway rollback prod"
)]
pub struct DeployArgs {
    environment: String,
    /// Only these apps; the others keep their running release.
    #[arg(long = "app", value_name = "APP")]
    apps: Vec<String>,
    /// Deploy this registry image for an app instead of the local build.
    #[arg(long = "image", value_name = "APP=REF")]
    images: Vec<String>,
    /// Override the environment's strategy (its settings in slipway.toml are kept when it is of
    /// the same kind; otherwise the kind's defaults).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(StrategyKind::NAMES)
        .map(|name| name.parse::<StrategyKind>().expect("a listed name")))]
    strategy: Option<StrategyKind>,
    /// Finish a deploy that was interrupted (slipway killed) instead of undoing it, with the
    /// images and config it started with.
    #[arg(long, conflicts_with_all = ["apps", "images"])]
    resume: bool,
    /// Replace every app, also those whose image, config and settings are what runs (by
    /// default those are kept as they run).
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Do not ask for confirmation (needed without a terminal when the environment requires approval).
    #[arg(long)]
    yes: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Runs `work` with the environment's deployer. `render` says whether it needs the config
/// (deploys start containers with it; a status on Docker hosts only reads what runs).
pub(crate) fn with_deployer<T>(
    project: &Project,
    environment: &str,
    output: Output,
    render: bool,
    work: impl AsyncFnOnce(&mut Deployer<'_>) -> Result<T>,
) -> Result<T> {
    let rendered = if render {
        project.render_config(environment, Default::default())?
    } else {
        slipway_config::RenderedEnvironment::empty(environment)
    };
    let log = move |line: &str| {
        if output == Output::Text {
            eprintln!("  {line}");
        }
    };
    let context = DeployContext {
        manifest: &project.manifest,
        environment,
        root: project.root.clone(),
        state_dir: project.state_dir(),
        store_dir: project.store_dir(),
        rendered: &rendered,
        started_by: slipway_deploy::identity::started_by(|run| {
            slipway_pipeline::store::is_deploying(&project.state_dir(), run)
        }),
        log: &log,
    };
    super::runtime()?.block_on(async {
        let mut deployer = Deployer::connect(context).await?;
        work(&mut deployer).await
    })
}

/// Like [`with_deployer`], for a command only for ECS environments.
pub(crate) fn with_ecs_rollout<T>(
    project: &Project,
    environment: &str,
    output: Output,
    work: impl AsyncFnOnce(&slipway_deploy::ecs::EcsRollout<'_>) -> Result<T>,
) -> Result<T> {
    with_deployer(project, environment, output, true, async |d| match d {
        Deployer::Ecs(rollout) => work(rollout).await,
        Deployer::Docker(_) => bail!("environment `{environment}` does not run on ECS"),
    })
}

/// Asks at the terminal when the environment requires approval and `--yes` was not given.
fn confirm(project: &Project, environment: &str, yes: bool) -> Result<()> {
    if !project.manifest.environments[environment].approval.required || yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "environment `{environment}` requires approval: pass --yes to deploy without asking, or approve the pipeline's gate"
        );
    }
    eprint!("deploy to `{environment}`? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not deployed");
    }
    Ok(())
}

pub fn run_deploy(args: DeployArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let environment = &args.environment;
    check_environment(&project, environment)?;
    if project.manifest.environments[environment].target.is_ecs() {
        project.refuse_file_secrets_on_ecs(environment, &args.apps)?;
    }
    let request = deploy_request(
        &project.manifest,
        environment,
        args.apps.clone(),
        &args.images,
        args.strategy,
        args.resume,
        args.force,
    )?;
    // Apps deployed from the local build must be the build this environment runs.
    if !args.resume {
        super::build::check_built_for(
            &project,
            environment,
            &local_apps(&project.manifest, &request),
        )?;
    }
    confirm(&project, environment, args.yes)?;
    let project_name = &project.manifest.project.name;
    let deployed = with_deployer(&project, environment, args.output, true, async |d| {
        let deployed = d.deploy(&request).await?;
        Ok((deployed, d.place()))
    });
    let (deployed, place) = match deployed {
        Ok(done) => done,
        Err(error) => {
            // An automatic rollback is news too; any other failure stops before traffic moved.
            let notice = error
                .downcast_ref::<slipway_deploy::DeployError>()
                .and_then(|e| rolled_back_notice(project_name, environment, e));
            announce(
                &project,
                EventKind::RolledBack,
                environment,
                notice,
                args.output,
            );
            return Err(error.context(format!("deploying `{environment}`")));
        }
    };
    let release = &deployed.release;
    if deployed.replaced.is_empty() {
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "release": release,
                    "url": place,
                    "replaced": deployed.replaced,
                    "unchanged": deployed.unchanged,
                }))?
            ),
            Output::Text => println!(
                "nothing to deploy: `{environment}` already runs this build ({} is live at {place}); --force replaces it anyway",
                release.name()
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let notice = Some(deployed_notice(project_name, environment, release, &place));
    announce(
        &project,
        EventKind::Deployed,
        environment,
        notice,
        args.output,
    );
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "release": release,
                "url": place,
                "replaced": deployed.replaced,
                "unchanged": deployed.unchanged,
            }))?
        ),
        Output::Text => {
            println!(
                "release {} of `{environment}` is live at {place}",
                release.name()
            );
            if !deployed.unchanged.is_empty() {
                println!(
                    "kept as they run (unchanged): {}",
                    deployed.unchanged.join(", ")
                );
            }
            println!("roll back with: slipway rollback {environment}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn announce(project: &Project, kind: EventKind, env: &str, notice: Option<Notice>, output: Output) {
    let Some((title, facts)) = notice else { return };
    notify(
        &project.manifest,
        kind,
        Some(env),
        title,
        facts,
        None,
        output,
    );
}

/// Go back to the previous live release (or `--to` one), with its image already on the hosts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  slipway rollback prod\n  slipway rollback prod --to r12")]
pub struct RollbackArgs {
    environment: String,
    /// The release to go back to, e.g. `r12`; default the one live before the current one.
    #[arg(long)]
    to: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run_rollback(args: RollbackArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let environment = &args.environment;
    check_environment(&project, environment)?;
    let to = args.to.as_deref().map(parse_release_id).transpose()?;
    let release = with_deployer(&project, environment, args.output, true, async |d| {
        Ok(d.rollback(to).await?)
    })
    .with_context(|| format!("rolling back `{environment}`"))?;
    let notice = Some(rollback_notice(
        &project.manifest.project.name,
        environment,
        &release,
    ));
    announce(
        &project,
        EventKind::RolledBack,
        environment,
        notice,
        args.output,
    );
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&release)?),
        Output::Text => println!(
            "release {} of `{environment}` is live again",
            release.name()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
