//! `slipway deploy`, `rollback`, `releases` and `status`: releases on Docker hosts and ECS.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::builder::TypedValueParser as _;
use slipway_core::manifest::{Strategy, StrategyKind};
use slipway_deploy::ecs::EcsRollout;
use slipway_deploy::rollout::{Context as DeployContext, DeployRequest, Rollout};
use slipway_deploy::store::{Release, Store};

use slipway_core::terminal::printable;

use super::Output;
use super::environment::check_environment;
use super::notify::notify;
use super::project::Project;
use slipway_core::manifest::EventKind;

/// Deploy a release of an environment: every app (or the named ones) behind the proxy on each
/// host, with the environment's strategy, health-gated, rolled back automatically on failure.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway build && slipway deploy prod --yes\n  slipway deploy prod --app api --strategy canary\n  slipway deploy prod --image api=registry.example/shop/api@sha256:...\n  slipway deploy prod --resume         finish a deploy that was interrupted\n  slipway rollback prod"
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
    /// Do not ask for confirmation (needed without a terminal when the environment requires approval).
    #[arg(long)]
    yes: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// The name of the OS account running this process: its real uid (from the kernel, in
/// /proc/self/status) looked up in /etc/passwd, `uid N` for an account not listed there. Never
/// `$USER` or `$LOGNAME`, which whoever runs the command sets as they like.
fn user_name() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| real_uid(&status));
    let Some(uid) = uid else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| account_name(&passwd, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The real uid of a /proc/PID/status text (`Uid:` real, effective, saved, fs).
fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The name /etc/passwd gives `uid`.
fn account_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2].parse() == Ok(uid) && !fields[0].is_empty())
            .then(|| fields[0].to_owned())
    })
}

/// Who a release names as its starter: the person at this terminal, or, for the `deploy` step
/// of a pipeline run, what its runner says (the approver of its gate) once the run history
/// confirms that run (`SLIPWAY_RUN`) is carrying out a deploy step now: the variables alone are
/// anyone's to set.
fn started_by(project: &Project) -> String {
    let claimed = std::env::var("SLIPWAY_STARTED_BY")
        .ok()
        .filter(|s| !s.is_empty());
    let run = std::env::var("SLIPWAY_RUN")
        .ok()
        .and_then(|id| id.parse::<i64>().ok());
    if let (Some(claimed), Some(run)) = (claimed, run) {
        let history = project.state_dir().join("pipelines.db");
        let deploying = history.exists()
            && slipway_pipeline::store::RunStore::open(&history)
                .and_then(|store| store.get(run))
                .ok()
                .flatten()
                .is_some_and(|run| {
                    run.state == slipway_pipeline::RunState::Running
                        && run.steps.iter().any(|step| {
                            step.state == slipway_pipeline::StepState::Running
                                && step.name.starts_with("deploy ")
                        })
                });
        if deploying {
            return claimed;
        }
    }
    actor()
}

/// `user@host` of the person running this command.
pub fn actor() -> String {
    let user = user_name();
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// What a command needs of the environment's config: deploys start containers with it; status
/// and the history only read what runs, so they need no secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    Rendered,
    NotNeeded,
}

fn with_rollout<T>(
    project: &Project,
    environment: &str,
    output: Output,
    config: Config,
    work: impl AsyncFnOnce(&mut Rollout<'_>) -> Result<T>,
) -> Result<T> {
    let manifest = &project.manifest;
    let rendered = match config {
        Config::Rendered => project.render_config(environment, Default::default())?,
        Config::NotNeeded => slipway_config::RenderedEnvironment::empty(environment),
    };
    let log = move |line: &str| {
        if output == Output::Text {
            eprintln!("  {line}");
        }
    };
    let context = DeployContext {
        manifest,
        environment,
        root: project.root.clone(),
        state_dir: project.state_dir(),
        store_dir: project.store_dir(),
        rendered: &rendered,
        started_by: started_by(project),
        log: &log,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut rollout = Rollout::new(context).await?;
        work(&mut rollout).await
    })
}

/// Like [`with_rollout`], for an environment on Amazon ECS.
pub(crate) fn with_ecs_rollout<T>(
    project: &Project,
    environment: &str,
    output: Output,
    work: impl AsyncFnOnce(&EcsRollout<'_>) -> Result<T>,
) -> Result<T> {
    let rendered = project.render_config(environment, Default::default())?;
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
        started_by: started_by(project),
        log: &log,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let rollout = EcsRollout::new(context).await?;
        work(&rollout).await
    })
}

fn on_ecs(project: &Project, environment: &str) -> bool {
    matches!(
        project.manifest.environments[environment].target,
        slipway_core::manifest::Target::Ecs(_)
    )
}

pub fn run_deploy(args: DeployArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    if on_ecs(&project, &args.environment) {
        project.refuse_file_secrets_on_ecs(&args.environment, &args.apps)?;
    }
    let mut images = BTreeMap::new();
    for item in &args.images {
        let Some((app, reference)) = item.split_once('=') else {
            bail!("--image {item}: write APP=REF, e.g. api=127.0.0.1:5000/shop/api@sha256:...");
        };
        images.insert(app.to_owned(), reference.to_owned());
    }
    let env = &project.manifest.environments[&args.environment];
    let strategy = args
        .strategy
        .map(|kind| Strategy::overridden(&env.strategy, kind));
    // Apps deployed from the local build must be the build this environment runs.
    let local_apps: Vec<String> = project
        .manifest
        .apps
        .keys()
        .filter(|app| args.apps.is_empty() || args.apps.contains(app))
        .filter(|app| !images.contains_key(*app))
        .cloned()
        .collect();
    if !args.resume {
        super::build::check_built_for(&project, &args.environment, &local_apps)?;
    }
    if env.approval.required && !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "environment `{}` requires approval: pass --yes to deploy without asking, or approve the pipeline's gate",
                args.environment
            );
        }
        eprint!("deploy to `{}`? [y/N] ", args.environment);
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not deployed");
        }
    }
    let request = DeployRequest {
        apps: args.apps.clone(),
        images,
        strategy,
        resume: args.resume,
    };
    let release = if on_ecs(&project, &args.environment) {
        with_ecs_rollout(&project, &args.environment, args.output, async |rollout| {
            let release = rollout.deploy(&request).await?;
            Ok((release, format!("ECS cluster {}", rollout.cluster())))
        })
    } else {
        with_rollout(
            &project,
            &args.environment,
            args.output,
            Config::Rendered,
            async |rollout| {
                let release = rollout.deploy(&request).await?;
                Ok((release, rollout.url()))
            },
        )
    };
    let (release, url) = match release {
        Ok(done) => done,
        Err(error) => {
            // An automatic rollback is news too; any other failure stops before traffic moved.
            if let Some(slipway_deploy::DeployError::RolledBack {
                release,
                reason,
                restored,
            }) = error.downcast_ref::<slipway_deploy::DeployError>()
            {
                notify(
                    &project.manifest,
                    EventKind::RolledBack,
                    Some(&args.environment),
                    format!(
                        "{}: release {release} of `{}` was rolled back",
                        project.manifest.project.name, args.environment
                    ),
                    vec![
                        ("why".into(), reason.clone()),
                        (
                            "live".into(),
                            restored.clone().unwrap_or_else(|| "nothing".into()),
                        ),
                    ],
                    None,
                    args.output,
                );
            }
            return Err(error.context(format!("deploying `{}`", args.environment)));
        }
    };
    notify(
        &project.manifest,
        EventKind::Deployed,
        Some(&args.environment),
        format!(
            "{}: release {} of `{}` is live",
            project.manifest.project.name,
            release.name(),
            args.environment
        ),
        release_facts(&release, &url),
        None,
        args.output,
    );
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"release": release, "url": url}))?
        ),
        Output::Text => {
            println!(
                "release {} of `{}` is live at {url}",
                release.name(),
                args.environment
            );
            println!("roll back with: slipway rollback {}", args.environment);
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// What a notification says of a release: its id, strategy, who started it, each app's image.
fn release_facts(release: &Release, url: &str) -> Vec<(String, String)> {
    let mut facts = vec![
        ("release".to_owned(), release.name()),
        ("strategy".to_owned(), release.strategy.name().to_owned()),
        ("by".to_owned(), release.started_by.clone()),
    ];
    if !url.is_empty() {
        facts.push(("where".to_owned(), url.to_owned()));
    }
    for (app, entry) in &release.apps {
        facts.push((app.clone(), entry.image.clone()));
    }
    facts
}

fn release_id(text: &str) -> Result<i64> {
    text.trim_start_matches('r').parse().with_context(|| {
        format!("`{text}` is not a release: write it as `slipway releases` shows it, e.g. r12")
    })
}

pub fn run_rollback(args: RollbackArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let to = args.to.as_deref().map(release_id).transpose()?;
    let release = if on_ecs(&project, &args.environment) {
        with_ecs_rollout(&project, &args.environment, args.output, async |rollout| {
            Ok(rollout.rollback(to).await?)
        })
    } else {
        with_rollout(
            &project,
            &args.environment,
            args.output,
            Config::Rendered,
            async |rollout| Ok(rollout.rollback(to).await?),
        )
    }
    .with_context(|| format!("rolling back `{}`", args.environment))?;
    notify(
        &project.manifest,
        EventKind::RolledBack,
        Some(&args.environment),
        format!(
            "{}: `{}` rolled back to release {}",
            project.manifest.project.name,
            args.environment,
            release.name()
        ),
        release_facts(&release, ""),
        None,
        args.output,
    );
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&release)?),
        Output::Text => println!(
            "release {} of `{}` is live again",
            release.name(),
            args.environment
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The release history of an environment, newest first.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  slipway releases prod\n  slipway releases prod --output json")]
pub struct ReleasesArgs {
    environment: String,
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

fn when(epoch: i64) -> String {
    slipway_oci::image::rfc3339(epoch.max(0) as u64)
}

pub fn run_releases(args: ReleasesArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let store = Store::open(&slipway_deploy::rollout::store_path(&project.state_dir()))?;
    let releases: Vec<Release> = store.list(&args.environment, args.limit)?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&releases)?),
        Output::Text => {
            if releases.is_empty() {
                println!(
                    "no releases of `{}` yet: `slipway deploy {}` makes the first",
                    args.environment, args.environment
                );
            }
            println!(
                "{:<6} {:<12} {:<11} {:<21} {:<24} NOTE",
                "ID", "OUTCOME", "STRATEGY", "STARTED", "BY"
            );
            for r in &releases {
                println!(
                    "{:<6} {:<12} {:<11} {:<21} {:<24} {}",
                    r.name(),
                    r.outcome.as_str(),
                    r.strategy.name(),
                    when(r.started_at),
                    printable(&r.started_by),
                    printable(r.note.as_deref().unwrap_or("").lines().next().unwrap_or(""))
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What is live on each host of an environment: releases, traffic split, health, counters.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway status prod\n  slipway status prod --from-hosts   only what the hosts say (when the local history is lost)"
)]
pub struct StatusArgs {
    environment: String,
    /// Read everything from the hosts (container labels and the proxy), not the local history.
    #[arg(long)]
    from_hosts: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run_status(args: StatusArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    if on_ecs(&project, &args.environment) {
        return ecs_status(&project, &args);
    }
    let environment = args.environment.clone();
    let from_hosts = args.from_hosts;
    let (live, hosts, url) = with_rollout(
        &project,
        &args.environment,
        args.output,
        Config::NotNeeded,
        async |rollout| {
            let live = if from_hosts {
                None
            } else {
                rollout.recover_if_idle().await?;
                rollout.store().live(&environment)?
            };
            let hosts = slipway_deploy::status::on_hosts(
                rollout.hosts(),
                rollout.proxy_plan(),
                &project.manifest,
                &environment,
            )
            .await?;
            Ok((live, hosts, rollout.url()))
        },
    )?;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"live": live, "url": url, "hosts": hosts})
            )?
        ),
        Output::Text => {
            print_live(
                &args.environment,
                live.as_ref(),
                &format!("at {url}"),
                from_hosts,
            );
            for host in &hosts {
                println!(
                    "host {} ({}){}",
                    host.host,
                    host.url,
                    if host.proxy {
                        ""
                    } else {
                        " (proxy not answering)"
                    }
                );
                for (app, releases) in &host.apps {
                    for r in releases {
                        let weight = r.weight.map_or("-".to_owned(), |w| format!("{w}"));
                        let states: Vec<String> = r
                            .containers
                            .iter()
                            .map(|c| format!("{} {}", c.name, c.status))
                            .collect();
                        println!(
                            "  {app:<10} {:<5} weight {weight:<4} {} requests, {} errors  {}",
                            r.release,
                            r.requests,
                            r.errors,
                            states.join("; ")
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first line of `slipway status`: the live release and where it runs (nothing when only
/// the hosts were read).
fn print_live(environment: &str, live: Option<&Release>, place: &str, from_hosts: bool) {
    match live {
        Some(release) => println!(
            "`{environment}`: {} is live (since {}, by {}) {place}",
            release.name(),
            when(release.finished_at.unwrap_or(release.started_at)),
            printable(&release.started_by)
        ),
        None if !from_hosts => println!("`{environment}`: no live release"),
        None => {}
    }
}

fn ecs_status(project: &Project, args: &StatusArgs) -> Result<ExitCode> {
    let environment = args.environment.clone();
    let from_hosts = args.from_hosts;
    let (live, apps, cluster) =
        with_ecs_rollout(project, &args.environment, args.output, async |rollout| {
            let live = if from_hosts {
                None
            } else {
                rollout.store().live(&environment)?
            };
            Ok((live, rollout.status().await?, rollout.cluster().to_owned()))
        })?;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"live": live, "cluster": cluster, "apps": apps})
            )?
        ),
        Output::Text => {
            print_live(
                &args.environment,
                live.as_ref(),
                &format!("on ECS cluster {cluster}"),
                from_hosts,
            );
            for app in &apps {
                if app.services.is_empty() {
                    println!("  {:<10} no service yet", app.app);
                }
                for service in &app.services {
                    let revision = service
                        .task_definition
                        .as_deref()
                        .and_then(|t| t.rsplit('/').next())
                        .unwrap_or("-");
                    let weight = service
                        .weight
                        .map_or(String::new(), |w| format!(", weight {w}"));
                    let rollout = service.rollout_state.as_deref().map_or(String::new(), |s| {
                        format!(", {}", s.to_lowercase().replace('_', " "))
                    });
                    println!(
                        "  {:<10} {} on {revision}: {}/{} running{rollout}{weight}",
                        app.app, service.name, service.running, service.desired
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_comes_from_the_real_uid_and_the_password_file() {
        let status = "Name:\tslipway\nUid:\t1000\t0\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(real_uid(status), Some(1000));
        let passwd = "root:x:0:0:root:/root:/bin/bash\nada:x:1000:1000::/home/ada:/bin/sh\n";
        assert_eq!(account_name(passwd, 1000).as_deref(), Some("ada"));
        assert_eq!(account_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(account_name(passwd, 1001), None);
    }
}
