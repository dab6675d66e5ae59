//! `slipway maintenance on|off`: every host's proxy answers an environment's routes (or one
//! app's) with 503 and a message, while the containers keep running. Parsing and printing
//! only; the work is `slipway_deploy::maintenance`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use slipway_deploy::maintenance::{TurnOn, summary};

use super::Output;
use super::deploy::with_deployer;
use super::environment::check_environment;
use super::project::Project;

/// Put an environment (or one app) in maintenance, or take it out.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "While on, the proxy on each host answers the environment's routes (or only --app's) with 503, a Retry-After header and the message: as JSON ({\"error\":\"maintenance\",\"message\":...}) to clients whose Accept header prefers JSON, otherwise as a small HTML page, or as the project's own page when config/ENV/maintenance.html exists (read when maintenance is turned on). The containers keep running and deploys go on as usual; the proxy keeps the maintenance across its restarts and deploys until it is turned off.\n\nExamples:\n  slipway maintenance on prod --message \"Back at 14:00 UTC\"\n  slipway maintenance on prod --app api --retry-after 600\n  slipway maintenance off prod\n  slipway maintenance off prod --app api --output json"
)]
pub struct MaintenanceArgs {
    #[command(subcommand)]
    switch: Switch,
}

#[derive(Debug, clap::Subcommand)]
enum Switch {
    /// Answer the environment's routes with 503 and a message.
    On {
        #[command(flatten)]
        target: Target,
        /// What visitors read (default: the site is down for maintenance).
        #[arg(long)]
        message: Option<String>,
        /// Seconds clients are told to wait before trying again (Retry-After).
        #[arg(long, value_name = "SECONDS", default_value_t = slipway_deploy::maintenance::DEFAULT_RETRY_AFTER)]
        retry_after: u32,
    },
    /// Forward the environment's routes again (without --app: its apps' maintenance ends too).
    Off {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, clap::Args)]
struct Target {
    environment: String,
    /// Only this app's routes.
    #[arg(long)]
    app: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: MaintenanceArgs) -> Result<ExitCode> {
    let (target, on) = match args.switch {
        Switch::On {
            target,
            message,
            retry_after,
        } => {
            let request = TurnOn {
                app: target.app.clone(),
                message,
                retry_after: Some(retry_after),
            };
            (target, Some(request))
        }
        Switch::Off { target } => (target, None),
    };
    let project = Project::find(&target.project)?;
    check_environment(&project, &target.environment)?;
    let hosts = with_deployer(
        &project,
        &target.environment,
        target.output,
        false,
        async |d| match &on {
            Some(request) => Ok(d.maintenance_on(request).await?),
            None => Ok(d.maintenance_off(target.app.as_deref()).await?),
        },
    )?;
    match target.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "environment": target.environment,
                "app": target.app,
                "on": on.is_some(),
                "hosts": hosts,
            }))?
        ),
        Output::Text => print!("{}", summary(&target.environment, &hosts)),
    }
    Ok(ExitCode::SUCCESS)
}
