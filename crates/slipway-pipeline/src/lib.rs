//! Pipelines: the steps of slipway.toml's `[pipelines.*]`, started by a change (a push, a merge)
//! or by hand, carried out one after the other by a runner that records every step, every log
//! line and every decision in a SQLite run history. An `approve` step pauses the run until a
//! person approves or rejects it (or the approval lapses); the runner and the deciding person
//! may be different processes, so decisions go through the history.

pub mod changes;
pub mod mask;
pub mod notify_step;
pub mod report;
pub mod runner;
pub mod scheduler;
/// The run history, kept by `slipway-history` so readers need not link the runner.
pub use slipway_history::runs as store;
pub mod variables;

// What a pipeline plans and what each step is given are decisions on slipway.toml alone, shared
// with the CI exporter (slipway-ci); they live in slipway-core and keep their paths here.
pub use slipway_core::pipeline::{environment, steps};

use std::path::PathBuf;

pub use changes::{Change, matching_pipelines};
pub use runner::{Progress, Runner};
pub use scheduler::{Scheduler, SchedulerSettings};
pub use steps::{Action, plan};
pub use store::{Approval, ApprovalState, Run, RunState, RunStore, StepRecord, StepState};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The run history failed (a run that cannot be resumed or does not exist has its own
    /// variant, as the runner's own checks do).
    #[error(transparent)]
    History(slipway_history::HistoryError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("git {command}: {message}")]
    Git { command: String, message: String },
    /// git could not be started at all (not installed, not on PATH).
    #[error("git {command}: cannot run git: {source}")]
    GitNotRun {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no pipeline `{name}` in slipway.toml{hint}")]
    UnknownPipeline { name: String, hint: String },
    #[error("no run {0}: `slipway pipeline list` shows the runs")]
    UnknownRun(i64),
    #[error("run {run} {reason}")]
    NotDecidable { run: i64, reason: String },
    #[error("{actor} may not approve run {run}: the approvers of `{environment}` are {approvers}")]
    NotAnApprover {
        run: i64,
        actor: String,
        environment: String,
        approvers: String,
    },
    #[error(
        "run {run} waits for an approval of `{environment}`, which is given on the dashboard by a logged-in approver (approval.via = \"server\"), not from a terminal: open {link}"
    )]
    DecidedOnServer {
        run: i64,
        environment: String,
        link: String,
    },
    #[error("run {run} cannot be resumed: {reason}")]
    NotResumable { run: i64, reason: String },
    #[error("step {step}: {message}")]
    Step { step: String, message: String },
}

impl From<slipway_core::pipeline::PlanError> for PipelineError {
    fn from(error: slipway_core::pipeline::PlanError) -> Self {
        use slipway_core::pipeline::PlanError;
        match error {
            PlanError::UnknownPipeline { name, hint } => {
                PipelineError::UnknownPipeline { name, hint }
            }
            PlanError::Step { step, message } => PipelineError::Step { step, message },
        }
    }
}

impl From<slipway_history::HistoryError> for PipelineError {
    fn from(error: slipway_history::HistoryError) -> Self {
        use slipway_history::HistoryError;
        match error {
            HistoryError::UnknownRun(run) => PipelineError::UnknownRun(run),
            HistoryError::NotResumable { run, reason } => {
                PipelineError::NotResumable { run, reason }
            }
            other => PipelineError::History(other),
        }
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

pub(crate) fn now() -> i64 {
    slipway_core::time::now() as i64
}
