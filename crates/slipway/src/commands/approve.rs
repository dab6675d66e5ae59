//! `slipway approve`, `slipway reject`: the gate a pipeline run waits at, decided from any
//! terminal; an approved run whose runner is gone goes on here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use slipway_core::terminal::printable;
use slipway_pipeline::runner;

use super::Output;
use super::pipeline::{carry_out, finish, open};
use slipway_deploy::identity::actor;

/// Approve the gate a pipeline run waits at; the run goes on (here, if nothing else carries it).
/// You decide as the OS account running slipway (`user@host`, whatever `$USER` says); gates of
/// environments with `approval.via = "server"` are decided on the dashboard.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway approve 12\n  slipway approve 12 --comment \"checked stage\""
)]
pub struct ApproveArgs {
    run: i64,
    /// Why, kept in the audit log.
    #[arg(long, short)]
    comment: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run_approve(args: ApproveArgs) -> Result<ExitCode> {
    decide(args, true)
}

pub fn run_reject(args: ApproveArgs) -> Result<ExitCode> {
    decide(args, false)
}

fn decide(args: ApproveArgs, approve: bool) -> Result<ExitCode> {
    let context = open(&args.project)?;
    let who = actor();
    let approval = runner::decide_at_terminal(
        &context.project.manifest,
        &context.store,
        args.run,
        &who,
        approve,
        args.comment.as_deref(),
    )?;
    let run = context.store.require(args.run)?;
    let verb = if approve { "approved" } else { "rejected" };
    if args.output == Output::Json && !approve {
        println!("{}", serde_json::to_string_pretty(&approval)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.output == Output::Text {
        eprintln!(
            "{verb} run {} of {} ({})",
            run.id,
            printable(&run.pipeline),
            printable(&who)
        );
    }
    if !approve {
        return Ok(ExitCode::SUCCESS);
    }
    if runner::carried_elsewhere(&run) {
        if args.output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&approval)?);
        } else {
            eprintln!(
                "run {} goes on in {}; `slipway pipeline logs {} --follow` shows it",
                run.id,
                printable(run.runner.as_deref().unwrap_or("its runner")),
                run.id
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Nothing waits on the gate any more (its terminal was closed): carry the run on here.
    if args.output == Output::Text {
        eprintln!("carrying run {} on here", run.id);
    }
    let runs = carry_out(&context, vec![run], args.output)?;
    finish(&runs, args.output)
}
