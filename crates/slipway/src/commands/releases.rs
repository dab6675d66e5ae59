//! `slipway releases` and `status`: an environment's release history, and what is live on its
//! hosts or in ECS. Parsing and printing only; the work is `slipway_deploy::deployer`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use slipway_deploy::deployer::{releases_table, status_text};
use slipway_deploy::store::Store;

use super::Output;
use super::deploy::with_deployer;
use super::environment::check_environment;
use super::project::Project;

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

pub fn run_releases(args: ReleasesArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    check_environment(&project, &args.environment)?;
    let store = Store::open(&slipway_deploy::rollout::store_path(&project.state_dir()))?;
    let releases = store.list(&args.environment, args.limit)?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&releases)?),
        Output::Text => print!("{}", releases_table(&args.environment, &releases)),
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
    // Docker hosts are read without the config (no secrets needed); ECS renders it.
    let render = project.manifest.environments[&args.environment]
        .target
        .is_ecs();
    let from_hosts = args.from_hosts;
    let status = with_deployer(
        &project,
        &args.environment,
        args.output,
        render,
        async |d| Ok(d.status(from_hosts).await?),
    )?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        Output::Text => print!("{}", status_text(&args.environment, &status, from_hosts)),
    }
    Ok(ExitCode::SUCCESS)
}
