//! The two histories slipway keeps in a project's state dir, each one SQLite database: the
//! releases of every environment ([`releases`], `releases.db`) and the pipeline runs with their
//! steps, logs, approvals and audit log ([`runs`], `pipelines.db`).
//!
//! Both are written by the CLI and read by `slipway serve`, often by several processes at once.
//! This crate holds nothing but the stores, so a reader of the history (the dashboard) does not
//! link the deploy machinery (the Docker Engine client, the AWS SDK) to read one table.

#![warn(missing_docs)]

pub mod releases;
pub mod runs;

use std::path::PathBuf;

pub use releases::{NewRelease, Outcome, Release, ReleaseApp, ReleaseStore};
pub use runs::{Approval, ApprovalState, NewRun, Run, RunState, RunStore, StepRecord, StepState};

/// Which of the two histories an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// `releases.db`.
    Releases,
    /// `pipelines.db`.
    Runs,
}

impl std::fmt::Display for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            History::Releases => "the release history",
            History::Runs => "the run history",
        })
    }
}

/// What can go wrong reading or writing a history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database file (or its directory) could not be made private to this account.
    #[error("{path}: {source}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused a statement (a locked or damaged database, a full disk).
    #[error("{history}: {source}")]
    Database {
        /// Which history.
        history: History,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A record holds what this version of slipway does not know (written by a newer one, or
    /// edited by hand).
    #[error("{history}: {message}")]
    Record {
        /// Which history.
        history: History,
        /// What is wrong with the record.
        message: String,
    },
    /// A rollback was asked of an environment with no live release.
    #[error("environment `{environment}` has no live release to roll back from")]
    NothingLive {
        /// The environment.
        environment: String,
    },
    /// A rollback named a release the environment never had.
    #[error(
        "no release {release} in environment `{environment}`; `slipway releases {environment}` lists them"
    )]
    UnknownRelease {
        /// The environment.
        environment: String,
        /// The release's name (`r7`).
        release: String,
    },
    /// A rollback without a target, in an environment whose live release is its first.
    #[error("environment `{environment}` has no earlier release to roll back to")]
    NothingEarlier {
        /// The environment.
        environment: String,
    },
    /// A rollback to the release that is live already.
    #[error("{release} is already live")]
    AlreadyLive {
        /// The release's name (`r7`).
        release: String,
    },
    /// A rollback to a release that failed or never finished.
    #[error("{release} never went live ({outcome}); roll back to a release that did")]
    NeverLive {
        /// The release's name (`r7`).
        release: String,
        /// How it ended.
        outcome: Outcome,
    },
    /// A run id that is not in the run history.
    #[error("no run {0}: `slipway pipeline list` shows the runs")]
    UnknownRun(i64),
    /// A run that cannot be taken over: finished, or carried out by a live process.
    #[error("run {run} cannot be resumed: {reason}")]
    NotResumable {
        /// The run's id.
        run: i64,
        /// Why not.
        reason: String,
    },
}

/// The result of a history operation.
pub type Result<T, E = HistoryError> = std::result::Result<T, E>;

/// Unix seconds now.
fn now() -> i64 {
    slipway_core::time::now() as i64
}
