//! `slipway hosts check ENV`: whether each Docker host of an environment can take a deploy.
//! Parsing and printing only; the checks are `slipway_deploy::hosts_check`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use slipway_deploy::hosts_check::{CheckContext, blocks, check, table};

use super::Output;
use super::environment::check_environment;
use super::project::Project;

/// Check the Docker hosts of an environment.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway hosts check prod\n  slipway hosts check prod --output json"
)]
pub struct HostsArgs {
    #[command(subcommand)]
    command: HostsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum HostsCommand {
    /// For every host: the engine and its version, free disk under its data root, the proxy's
    /// ports, its clock against this machine's and the registry from the host; exit 1 when a
    /// row fails.
    #[command(
        after_help = "Rows: engine (reachable, version), disk (free under the engine's data root: FAIL below 2 GiB or 5%, warn below 10 GiB or 15%), port (the proxy's public and metrics addresses: free or held by slipway's proxy, FAIL when another container or process holds them), clock (FAIL over 60 s from this machine's, warn over 5 s), registry (the environment's registry answers the engine). The disk and ports are measured from the host by a throwaway container of the proxy's image (loaded first when the host lacks it), so remote engines are checked as the local one.\n\nExamples:\n  slipway hosts check prod\n  slipway hosts check prod --output json | jq '.[] | select(.level == \"fail\")'"
    )]
    Check {
        environment: String,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

pub fn run(args: HostsArgs) -> Result<ExitCode> {
    let HostsCommand::Check {
        environment,
        project,
        output,
    } = args.command;
    let project = Project::find(&project)?;
    check_environment(&project, &environment)?;
    let (state_dir, store_dir) = (project.state_dir(), project.store_dir());
    let rows = super::runtime()?.block_on(check(CheckContext {
        manifest: &project.manifest,
        environment: &environment,
        state_dir: &state_dir,
        store_dir: &store_dir,
    }))?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text => print!("{}", table(&rows)),
    }
    Ok(if blocks(&rows) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
