//! `slipway pipeline list|show|logs`: the run history as a terminal (or a script, with
//! `--output json`) reads it; the text comes from `slipway_pipeline::report`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use slipway_core::terminal::printable;
use slipway_pipeline::report;
use slipway_pipeline::store::{LogLine, Run};

use super::Output;
use super::pipeline::{Pipelines, print_lines};

/// `slipway pipeline list`: the runs, newest first.
pub(super) fn list(
    context: &Pipelines,
    pipeline: Option<&str>,
    limit: usize,
    output: Output,
) -> Result<ExitCode> {
    let runs = context.store.list(pipeline, limit)?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        print_lines(&report::list_lines(&runs));
    }
    Ok(ExitCode::SUCCESS)
}

/// `slipway pipeline show`: one run, its approvals and audit trail.
pub(super) fn show(context: &Pipelines, run: i64, output: Output) -> Result<ExitCode> {
    let found = context.store.require(run)?;
    let approvals = context.store.approvals(run)?;
    let audit = context.store.audit_log(Some(run), 50)?;
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "run": found, "approvals": approvals, "audit": audit,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_lines(&report::show_lines(&found, &approvals, &audit));
    Ok(ExitCode::SUCCESS)
}

/// `slipway pipeline logs`: a run's output, step by step (until it ends, with `follow`).
pub(super) fn logs(context: &Pipelines, id: i64, follow: bool, output: Output) -> Result<ExitCode> {
    let mut step = None;
    let mut print = |run: &Run, line: &LogLine| {
        if output == Output::Json {
            println!("{}", serde_json::to_string(line).unwrap_or_default());
            return;
        }
        if step != Some(line.step) {
            step = Some(line.step);
            let name = run.steps.get(line.step).map_or("?", |s| s.name.as_str());
            println!("==> {}", printable(name));
        }
        println!("    {}", printable(&line.line));
    };
    let poll = Duration::from_millis(300);
    let ended = report::follow_logs(&context.store, id, follow, poll, &mut print)?;
    if follow && output == Output::Text {
        println!("{}", report::ended_line(&ended));
    }
    Ok(ExitCode::SUCCESS)
}
