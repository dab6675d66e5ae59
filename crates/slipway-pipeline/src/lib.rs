//! Pipelines: the steps of slipway.toml's `[pipelines.*]`, started by a change (a push, a merge)
//! or by hand, carried out one after the other by a runner that records every step, every log
//! line and every decision in a SQLite run history. An `approve` step pauses the run until a
//! person approves or rejects it (or the approval lapses); the runner and the deciding person
//! may be different processes, so decisions go through the history.

#![warn(missing_docs)]

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

/// Everything starting, running or deciding a pipeline run can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The run history failed (a run that cannot be resumed or does not exist has its own
    /// variant, as the runner's own checks do).
    #[error(transparent)]
    History(slipway_history::HistoryError),
    /// A file or directory of the run (a worktree, a step's process) could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The error the system gave.
        source: std::io::Error,
    },
    /// A git command ran and failed.
    #[error("git {command}: {message}")]
    Git {
        /// The git arguments, e.g. `rev-parse HEAD`.
        command: String,
        /// What git printed on its standard error.
        message: String,
    },
    /// git could not be started at all (not installed, not on PATH).
    #[error("git {command}: cannot run git: {source}")]
    GitNotRun {
        /// The git arguments, e.g. `rev-parse HEAD`.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// slipway.toml has no pipeline of that name.
    #[error("no pipeline `{name}` in slipway.toml{hint}")]
    UnknownPipeline {
        /// The name asked for.
        name: String,
        /// The pipelines there are, or how to add one, as the end of the message.
        hint: String,
    },
    /// The run history has no run of that id.
    #[error("no run {0}: `slipway pipeline list` shows the runs")]
    UnknownRun(i64),
    /// The run waits at no gate that can be decided now (it is not waiting, its approval lapsed, or
    /// someone else decided first).
    #[error("run {run} {reason}")]
    NotDecidable {
        /// The run's id in the history.
        run: i64,
        /// Why, completing "run N …".
        reason: String,
    },
    /// The person deciding is not among the approvers of the environment the gate guards.
    #[error("{actor} may not approve run {run}: the approvers of `{environment}` are {approvers}")]
    NotAnApprover {
        /// The run at the gate.
        run: i64,
        /// Who tried to decide.
        actor: String,
        /// The environment whose approval the run waits for.
        environment: String,
        /// The environment's approvers, comma-separated, for the message.
        approvers: String,
    },
    /// The environment's approvals are given on the dashboard (`approval.via = "server"`), not from
    /// a terminal.
    #[error(
        "run {run} waits for an approval of `{environment}`, which is given on the dashboard by a logged-in approver (approval.via = \"server\"), not from a terminal: open {link}"
    )]
    DecidedOnServer {
        /// The run at the gate.
        run: i64,
        /// The environment whose approval the run waits for.
        environment: String,
        /// The dashboard page where the run is decided.
        link: String,
    },
    /// The run cannot be taken up again (it finished, or a live runner still carries it).
    #[error("run {run} cannot be resumed: {reason}")]
    NotResumable {
        /// The run's id in the history.
        run: i64,
        /// Why it cannot be resumed.
        reason: String,
    },
    /// A step of the pipeline is wrong in slipway.toml (e.g. names something that does not exist).
    #[error("step {step}: {message}")]
    Step {
        /// The step's name.
        step: String,
        /// What is wrong with it.
        message: String,
    },
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

/// The result of this crate's functions, failing with a [`PipelineError`] unless told otherwise.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

pub(crate) fn now() -> i64 {
    slipway_core::time::now() as i64
}
