//! Pipelines: the steps of slipway.toml's `[pipelines.*]`, started by a change (a push, a merge)
//! or by hand, carried out one after the other by a runner that records every step, every log
//! line and every decision in a SQLite run history. An `approve` step pauses the run until a
//! person approves or rejects it (or the approval lapses); the runner and the deciding person
//! may be different processes, so decisions go through the history.

pub mod changes;
pub mod ci;
pub mod environment;
pub mod githost;
pub mod mask;
pub mod report;
pub mod runner;
pub mod scheduler;
pub mod steps;
pub mod store;
pub mod variables;
pub mod yaml;

use std::path::PathBuf;

pub use changes::{Change, matching_pipelines};
pub use runner::{Progress, Runner};
pub use scheduler::{Scheduler, SchedulerSettings};
pub use steps::{Action, plan};
pub use store::{Approval, ApprovalState, Run, RunState, RunStore, StepRecord, StepState};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("run history: {0}")]
    Store(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("git {command}: {message}")]
    Git { command: String, message: String },
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
    #[error("{host}: {message}")]
    GitHost { host: &'static str, message: String },
    #[error("step {step}: {message}")]
    Step { step: String, message: String },
    #[error(
        "--image {image}: not pinned by digest; a tag can be moved to other code between runs. Give it as NAME:TAG@sha256:DIGEST (`docker buildx imagetools inspect {image}` shows the digest)"
    )]
    ImageNotPinned { image: String },
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

pub(crate) fn now() -> i64 {
    slipway_core::time::now() as i64
}
