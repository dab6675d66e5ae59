//! `slipway logs`: an environment's containers, the live release's on its hosts, its tasks'
//! CloudWatch Logs on ECS, or the proxy's access log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use slipway_docker::running;

use super::containers::{deployed, on_ecs};
use super::deploy::with_deployer;
use super::environment::check_environment;
use super::project::Project;
use super::{Output, with_engine};

/// Show the logs of an environment's containers (on ECS: its tasks' output in CloudWatch Logs).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "On an ECS environment the lines come from CloudWatch Logs: the streams of the live release's tasks (and of the last ones that stopped), merged in time order and labelled TASK/CONTAINER.\n\nWith --proxy: the access log of the environment's requests, one JSON line per request (time, host, method, path, status, service, release, target, duration_ms, bytes), from the proxy on every host, each line after its host's name.\n\nExamples:\n  slipway logs dev\n  slipway logs dev api --tail 50\n  slipway logs prod api --since 1h\n  slipway logs dev -f           follow every container's log\n  slipway logs prod --proxy --since 10m\n  slipway logs prod --proxy -f | grep '\"status\":5'"
)]
pub struct LogsArgs {
    environment: String,
    /// One app or service; default all.
    #[arg(conflicts_with = "proxy")]
    name: Option<String>,
    /// The proxy's access log of the environment's requests on every host (deployed environments).
    #[arg(long)]
    proxy: bool,
    /// Only lines written since this long ago (`30s`, `10m`, `2h`, `1d`) or since these Unix
    /// seconds.
    #[arg(long)]
    since: Option<String>,
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
    let now = slipway_core::time::now();
    // Unix seconds.
    let since = args
        .since
        .as_deref()
        .map(|text| slipway_deploy::proxy_log::parse_since(text, now))
        .transpose()?;
    if args.proxy {
        with_deployer(
            &project,
            &args.environment,
            Output::Json,
            false,
            async |d| {
                Ok(
                    d.proxy_logs(since, args.tail, args.follow, &mut |host, line| {
                        println!("{host} | {line}")
                    })
                    .await?,
                )
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if deployed(&project, &args.environment)? {
        // On ECS, notes (a container not shown, no task running) go to stderr.
        let notes = if on_ecs(&project, &args.environment)? {
            Output::Text
        } else {
            Output::Json
        };
        with_deployer(&project, &args.environment, notes, false, async |d| {
            Ok(d.logs(
                args.name.as_deref(),
                since,
                args.tail,
                args.follow,
                &mut |label, line| println!("{label} | {line}"),
            )
            .await?)
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let since = since.map(|at| at.max(0) as u64);
    with_engine(async |engine| {
        running::logs(
            engine,
            &project.manifest.project.name,
            &args.environment,
            args.name.as_deref(),
            args.tail,
            since,
            args.follow,
            &mut |label, line| println!("{label} | {line}"),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}
