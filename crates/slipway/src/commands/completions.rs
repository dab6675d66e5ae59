use std::process::ExitCode;

use std::io::Write;

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
    // The generator panics on a failed write; it writes into memory here so that a closed
    // output pipe is an ordinary error, which ends the command quietly.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "slipway", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
