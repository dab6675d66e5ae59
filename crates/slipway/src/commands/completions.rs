use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

/// Print shell completions.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  slipway completions bash > /etc/bash_completion.d/slipway")]
pub struct CompletionsArgs {
    shell: clap_complete::Shell,
}

pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let mut command = crate::Cli::command();
    clap_complete::generate(args.shell, &mut command, "slipway", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
