//! The run history: one SQLite database in the project's state dir holding runs, their steps
//! and log lines, approvals and the audit log. Several processes share it (the runner, a person
//! approving from another terminal, the server), so every change is one statement and every
//! decision is a conditional update that only one of them can win.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::{History, HistoryError, Result, now};

macro_rules! text_enum {
    ($(#[doc = $enum_doc:literal])* $name:ident {
        $($(#[doc = $doc:literal])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[doc = $enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($(#[doc = $doc])* $variant),+ }

        impl $name {
            /// The word stored in the history and shown to people.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            fn parse(text: &str) -> Result<$name> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(HistoryError::Record {
                        history: History::Runs,
                        message: format!("unknown {} `{other}`", stringify!($name)),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a run stands.
    RunState {
        /// Created, waiting for its turn (or for a runner to take it).
        Queued => "queued",
        /// A step is being carried out.
        Running => "running",
        /// Paused at a gate for a person's decision.
        Waiting => "waiting",
        /// Every step succeeded.
        Succeeded => "succeeded",
        /// A step failed.
        Failed => "failed",
        /// A gate was rejected.
        Rejected => "rejected",
        /// A gate's approval lapsed.
        Expired => "expired",
        /// Its runner died mid-step; a person decides whether it resumes.
        Interrupted => "interrupted",
    }
);

text_enum!(
    /// Where a step of a run stands.
    StepState {
        /// Not started.
        Pending => "pending",
        /// Being carried out.
        Running => "running",
        /// A gate waiting for a decision.
        Waiting => "waiting",
        /// Done.
        Succeeded => "succeeded",
        /// Failed (the run stops).
        Failed => "failed",
        /// Not carried out (a condition left it out).
        Skipped => "skipped",
    }
);

text_enum!(
    /// Where an approval gate stands.
    ApprovalState {
        /// Waiting for a person.
        Pending => "pending",
        /// Approved: the run goes on.
        Approved => "approved",
        /// Rejected: the run ends.
        Rejected => "rejected",
        /// Nobody decided in time: the run ends.
        Expired => "expired",
    }
);

impl RunState {
    /// Whether the run has ended for good (an interrupted run may still resume).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Rejected | RunState::Expired
        )
    }
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Its place in the run, from 0.
    pub index: usize,
    /// What it does, as the plan names it (`deploy prod`).
    pub name: String,
    /// Where it stands.
    pub state: StepState,
    /// Unix seconds.
    pub started_at: Option<i64>,
    /// Unix seconds.
    pub finished_at: Option<i64>,
    /// The exit code of its process, once it ended.
    pub exit_code: Option<i32>,
}

/// One run of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Its number.
    pub id: i64,
    /// The pipeline's name in slipway.toml.
    pub pipeline: String,
    /// The pipeline's kind (`release`, `base`...).
    pub kind: String,
    /// The commit the run builds.
    pub rev: String,
    /// The branch the commit was pushed to, when known.
    pub branch: Option<String>,
    /// The commit of the pipeline's last successful run, the changes were measured from.
    pub base_rev: Option<String>,
    /// `manual`, `push`, `poll`, `webhook:github`...
    pub trigger: String,
    /// Who or what started it (`ada@laptop`, `push`).
    pub started_by: String,
    /// Where it stands.
    pub state: RunState,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub started_at: Option<i64>,
    /// Unix seconds.
    pub finished_at: Option<i64>,
    /// Why it ended as it did.
    pub note: Option<String>,
    /// `host:pid` of the process carrying it out, while one does.
    pub runner: Option<String>,
    /// Unix seconds of the runner's last sign of life.
    pub heartbeat: Option<i64>,
    /// The paths the change touched.
    pub changed: Vec<String>,
    /// Its steps, in order.
    pub steps: Vec<StepRecord>,
}

impl Run {
    /// Whether the run is carrying out a `deploy ENV` step now.
    pub fn is_deploying(&self) -> bool {
        self.state == RunState::Running
            && self
                .steps
                .iter()
                .any(|step| step.state == StepState::Running && step.name.starts_with("deploy "))
    }

    /// The step being carried out or waited on, else the first not yet done.
    pub fn current_step(&self) -> Option<&StepRecord> {
        self.steps
            .iter()
            .find(|s| !matches!(s.state, StepState::Succeeded | StepState::Skipped))
    }
}

/// An approval gate of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    /// The run.
    pub run_id: i64,
    /// The gate's step.
    pub step: usize,
    /// The environment the gate guards (the next `deploy`), when there is one.
    pub environment: Option<String>,
    /// Where it stands.
    pub state: ApprovalState,
    /// Unix seconds.
    pub requested_at: i64,
    /// Unix seconds after which it lapses, if it does.
    pub expires_at: Option<i64>,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// Unix seconds.
    pub decided_at: Option<i64>,
    /// What the person deciding wrote.
    pub comment: Option<String>,
}

/// One line of a step's output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Its sequence number, increasing across the whole history.
    pub seq: i64,
    /// The step that wrote it.
    pub step: usize,
    /// Unix seconds.
    pub at: i64,
    /// The text, without its line ending.
    pub line: String,
}

/// One entry of the audit log: who did what to which run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Who (`ada@laptop`, a dashboard login).
    pub actor: String,
    /// What (`started`, `approved`, `login-failed`...).
    pub action: String,
    /// The run, when it concerns one.
    pub run_id: Option<i64>,
    /// More about it.
    pub detail: Option<String>,
}

/// A run before it has an id.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline's kind.
    pub kind: String,
    /// The commit it builds.
    pub rev: String,
    /// The branch, when known.
    pub branch: Option<String>,
    /// The commit the changes were measured from.
    pub base_rev: Option<String>,
    /// What started it (`manual`, `push`, `webhook:github`...).
    pub trigger: String,
    /// Who started it.
    pub started_by: String,
    /// The paths the change touched.
    pub changed: Vec<String>,
    /// The names of its steps, in order.
    pub steps: Vec<String>,
}

/// The run history (`pipelines.db`), shared by the runner, the server and people deciding
/// gates from other terminals.
#[derive(Debug)]
pub struct RunStore {
    connection: std::sync::Mutex<Connection>,
}

fn db(source: rusqlite::Error) -> HistoryError {
    HistoryError::Database {
        history: History::Runs,
        source,
    }
}

/// The run history's file in a project's state dir.
pub fn path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("pipelines.db")
}

/// Whether run `run` of the run history in `state_dir` is carrying out a `deploy` step now;
/// false without a history, or when it cannot be read.
pub fn is_deploying(state_dir: &Path, run: i64) -> bool {
    let history = path(state_dir);
    history.exists()
        && RunStore::open(&history)
            .and_then(|store| store.get(run))
            .ok()
            .flatten()
            .is_some_and(|run| run.is_deploying())
}

const RUN_COLUMNS: &str = "id, pipeline, kind, rev, branch, base_rev, trigger, started_by, state, created_at, started_at, finished_at, note, runner, heartbeat, changed";

/// `host:pid` of this process.
pub fn this_runner() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether the process `runner` names still carries its run: on this host, its pid is alive;
/// elsewhere, its heartbeat is recent.
pub fn runner_alive(runner: &str, heartbeat: Option<i64>) -> bool {
    let fresh = heartbeat.is_some_and(|at| now() - at < 30);
    match runner.rsplit_once(':') {
        Some((host, pid)) if host == host_name() => {
            Path::new("/proc").join(pid).exists() && heartbeat.is_some_and(|at| now() - at < 120)
        }
        _ => fresh,
    }
}

impl RunStore {
    /// Opens (creating when missing) the history at `path`, readable by this account only.
    pub fn open(path: &Path) -> Result<RunStore> {
        // Run logs and approvals are for the account running slipway only.
        slipway_core::private::private_database(path).map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // Two processes opening a new history at once (a runner and `pipeline list`) can get
        // SQLITE_BUSY without the busy handler being asked (switching to WAL, WAL recovery):
        // try again for a while.
        let mut attempt = 0;
        let connection = loop {
            match Connection::open(path).and_then(Self::initialise) {
                Err(rusqlite::Error::SqliteFailure(error, _))
                    if attempt < 50
                        && matches!(
                            error.code,
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        ) =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => break other.map_err(db)?,
            }
        };
        Ok(RunStore {
            connection: std::sync::Mutex::new(connection),
        })
    }

    /// A history that lives in memory and ends with the value: for tests of code that records
    /// runs.
    pub fn open_in_memory() -> Result<RunStore> {
        let connection = Connection::open_in_memory()
            .and_then(Self::initialise)
            .map_err(db)?;
        Ok(RunStore {
            connection: std::sync::Mutex::new(connection),
        })
    }

    fn initialise(connection: Connection) -> rusqlite::Result<Connection> {
        // Other processes write the same history: wait for their locks.
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL;
                 CREATE TABLE IF NOT EXISTS runs (
                   id INTEGER PRIMARY KEY AUTOINCREMENT,
                   pipeline TEXT NOT NULL,
                   kind TEXT NOT NULL,
                   rev TEXT NOT NULL,
                   branch TEXT,
                   base_rev TEXT,
                   trigger TEXT NOT NULL,
                   started_by TEXT NOT NULL,
                   state TEXT NOT NULL,
                   created_at INTEGER NOT NULL,
                   started_at INTEGER,
                   finished_at INTEGER,
                   note TEXT,
                   runner TEXT,
                   heartbeat INTEGER,
                   changed TEXT NOT NULL DEFAULT '[]'
                 );
                 CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, id);
                 CREATE TABLE IF NOT EXISTS steps (
                   run_id INTEGER NOT NULL,
                   idx INTEGER NOT NULL,
                   name TEXT NOT NULL,
                   state TEXT NOT NULL,
                   started_at INTEGER,
                   finished_at INTEGER,
                   exit_code INTEGER,
                   PRIMARY KEY (run_id, idx)
                 );
                 CREATE TABLE IF NOT EXISTS logs (
                   seq INTEGER PRIMARY KEY AUTOINCREMENT,
                   run_id INTEGER NOT NULL,
                   idx INTEGER NOT NULL,
                   at INTEGER NOT NULL,
                   line TEXT NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS logs_by_run ON logs (run_id, seq);
                 CREATE TABLE IF NOT EXISTS approvals (
                   run_id INTEGER NOT NULL,
                   idx INTEGER NOT NULL,
                   environment TEXT,
                   state TEXT NOT NULL,
                   requested_at INTEGER NOT NULL,
                   expires_at INTEGER,
                   decided_by TEXT,
                   decided_at INTEGER,
                   comment TEXT,
                   PRIMARY KEY (run_id, idx)
                 );
                 CREATE TABLE IF NOT EXISTS audit (
                   id INTEGER PRIMARY KEY AUTOINCREMENT,
                   at INTEGER NOT NULL,
                   actor TEXT NOT NULL,
                   action TEXT NOT NULL,
                   run_id INTEGER,
                   detail TEXT
                 );",
        )?;
        Ok(connection)
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a new run, queued, with its steps pending, carried by this process (which is to
    /// carry it out, so a run created a moment later queues behind it).
    pub fn create(&self, new: &NewRun) -> Result<Run> {
        let at = now();
        let id = {
            let mut connection = self.connection();
            let tx = connection.transaction().map_err(db)?;
            tx.execute(
                "INSERT INTO runs (pipeline, kind, rev, branch, base_rev, trigger, started_by, state, created_at, changed, runner, heartbeat)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?8)",
                params![
                    new.pipeline,
                    new.kind,
                    new.rev,
                    new.branch,
                    new.base_rev,
                    new.trigger,
                    new.started_by,
                    at,
                    serde_json::to_string(&new.changed).expect("strings serialize"),
                    this_runner(),
                ],
            )
            .map_err(db)?;
            let id = tx.last_insert_rowid();
            for (index, name) in new.steps.iter().enumerate() {
                tx.execute(
                    "INSERT INTO steps (run_id, idx, name, state) VALUES (?1, ?2, ?3, 'pending')",
                    params![id, index as i64, name],
                )
                .map_err(db)?;
            }
            tx.execute(
                "INSERT INTO audit (at, actor, action, run_id, detail) VALUES (?1, ?2, 'started', ?3, ?4)",
                params![at, new.started_by, id, format!("{} at {} ({})", new.pipeline, short(&new.rev), new.trigger)],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            id
        };
        self.get(id)?.ok_or(HistoryError::UnknownRun(id))
    }

    /// The run with this id, with its steps.
    pub fn get(&self, id: i64) -> Result<Option<Run>> {
        let connection = self.connection();
        let run = connection
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                params![id],
                run_row,
            )
            .optional()
            .map_err(db)?;
        let Some(run) = run else { return Ok(None) };
        let mut run = run?;
        run.steps = steps_of(&connection, id)?;
        Ok(Some(run))
    }

    /// The run with this id; an error naming it when there is none.
    pub fn require(&self, id: i64) -> Result<Run> {
        self.get(id)?.ok_or(HistoryError::UnknownRun(id))
    }

    /// The newest runs first, of one pipeline when given.
    pub fn list(&self, pipeline: Option<&str>, limit: usize) -> Result<Vec<Run>> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR pipeline = ?1) ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db)?;
        let runs = statement
            .query_map(params![pipeline, limit as i64], run_row)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            let mut run = run?;
            run.steps = steps_of(&connection, run.id)?;
            out.push(run);
        }
        Ok(out)
    }

    /// How many runs each pipeline has in each state: `(pipeline, state, count)`, sorted.
    pub fn count_by_state(&self) -> Result<Vec<(String, String, u64)>> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT pipeline, state, COUNT(*) FROM runs GROUP BY pipeline, state ORDER BY pipeline, state",
            )
            .map_err(db)?;
        statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)
    }

    /// Runs not yet finished, oldest first.
    pub fn unfinished(&self) -> Result<Vec<Run>> {
        let ids: Vec<i64> = {
            let connection = self.connection();
            let mut statement = connection
                .prepare(
                    "SELECT id FROM runs WHERE state IN ('queued', 'running', 'waiting', 'interrupted') ORDER BY id",
                )
                .map_err(db)?;
            statement
                .query_map([], |row| row.get(0))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?
        };
        ids.into_iter()
            .filter_map(|id| self.get(id).transpose())
            .collect()
    }

    /// Takes `id` for this process: from now on this process carries it (a queued or waiting
    /// run keeps its state, anything else is `running`). Fails when another live process
    /// carries it.
    pub fn claim(&self, id: i64) -> Result<Run> {
        let run = self.require(id)?;
        if let Some(runner) = &run.runner
            && !run.state.is_finished()
            && *runner != this_runner()
            && runner_alive(runner, run.heartbeat)
        {
            return Err(HistoryError::NotResumable {
                run: id,
                reason: format!("it is being carried out by {runner}"),
            });
        }
        if run.state.is_finished() {
            return Err(HistoryError::NotResumable {
                run: id,
                reason: format!("it has {}", run.state),
            });
        }
        let at = now();
        self.connection()
            .execute(
                "UPDATE runs SET state = CASE WHEN state IN ('waiting', 'queued') THEN state ELSE 'running' END,
                   runner = ?1, heartbeat = ?2, started_at = COALESCE(started_at, ?2) WHERE id = ?3",
                params![this_runner(), at, id],
            )
            .map_err(db)?;
        self.require(id)
    }

    /// Records that the run's runner is alive now.
    pub fn heartbeat(&self, id: i64) -> Result<()> {
        self.connection()
            .execute(
                "UPDATE runs SET heartbeat = ?1 WHERE id = ?2",
                params![now(), id],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Sets the run's state (ending it goes through [`RunStore::finish`]).
    pub fn set_run_state(&self, id: i64, state: RunState) -> Result<()> {
        self.connection()
            .execute(
                "UPDATE runs SET state = ?1 WHERE id = ?2",
                params![state.as_str(), id],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Sets a step's state, its start or end time, and its exit code when it ended.
    pub fn set_step(
        &self,
        id: i64,
        index: usize,
        state: StepState,
        exit_code: Option<i32>,
    ) -> Result<()> {
        let at = now();
        let sql = match state {
            StepState::Running | StepState::Waiting => {
                "UPDATE steps SET state = ?1, started_at = COALESCE(started_at, ?2), finished_at = NULL, exit_code = ?3 WHERE run_id = ?4 AND idx = ?5"
            }
            StepState::Pending => {
                "UPDATE steps SET state = ?1, started_at = NULL, finished_at = NULL, exit_code = ?3 WHERE run_id = ?4 AND idx = ?5 AND ?2 IS NOT NULL"
            }
            _ => {
                "UPDATE steps SET state = ?1, finished_at = ?2, exit_code = ?3 WHERE run_id = ?4 AND idx = ?5"
            }
        };
        self.connection()
            .execute(
                sql,
                params![state.as_str(), at, exit_code, id, index as i64],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Ends the run. Only an unfinished run can end, so a late writer cannot overturn a verdict.
    pub fn finish(&self, id: i64, state: RunState, note: Option<&str>) -> Result<()> {
        self.connection()
            .execute(
                "UPDATE runs SET state = ?1, note = ?2, finished_at = ?3, runner = NULL
                 WHERE id = ?4 AND state NOT IN ('succeeded', 'failed', 'rejected', 'expired')",
                params![state.as_str(), note, now(), id],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Marks runs whose process died mid-step as interrupted; runs waiting on a person stay
    /// waiting (nothing is lost: the decision resumes them). Returns the ones marked.
    pub fn reap(&self) -> Result<Vec<i64>> {
        let mut reaped = Vec::new();
        for run in self.unfinished()? {
            let dead = run.state == RunState::Running
                && run
                    .runner
                    .as_deref()
                    .is_none_or(|runner| !runner_alive(runner, run.heartbeat));
            if dead {
                self.connection()
                    .execute(
                        "UPDATE runs SET state = 'interrupted', runner = NULL WHERE id = ?1 AND state = 'running'",
                        params![run.id],
                    )
                    .map_err(db)?;
                reaped.push(run.id);
            }
        }
        Ok(reaped)
    }

    /// Appends a line of a step's output; returns its sequence number.
    pub fn append_log(&self, id: i64, step: usize, line: &str) -> Result<i64> {
        let connection = self.connection();
        connection
            .execute(
                "INSERT INTO logs (run_id, idx, at, line) VALUES (?1, ?2, ?3, ?4)",
                params![id, step as i64, now(), line],
            )
            .map_err(db)?;
        Ok(connection.last_insert_rowid())
    }

    /// Log lines of run `id` after sequence number `after`, oldest first.
    pub fn logs(&self, id: i64, after: i64) -> Result<Vec<LogLine>> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT seq, idx, at, line FROM logs WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(db)?;
        statement
            .query_map(params![id, after], |row| {
                Ok(LogLine {
                    seq: row.get(0)?,
                    step: row.get::<_, i64>(1)? as usize,
                    at: row.get(2)?,
                    line: row.get(3)?,
                })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)
    }

    /// The gate of step `step`, asked for once: asking again returns the first request.
    pub fn request_approval(
        &self,
        id: i64,
        step: usize,
        environment: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(Approval, bool)> {
        let inserted = self
            .connection()
            .execute(
                "INSERT OR IGNORE INTO approvals (run_id, idx, environment, state, requested_at, expires_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
                params![id, step as i64, environment, now(), expires_at],
            )
            .map_err(db)?;
        let approval = self
            .approval(id, step)?
            .ok_or_else(|| HistoryError::Record {
                history: History::Runs,
                message: format!("approval of run {id} vanished"),
            })?;
        Ok((approval, inserted == 1))
    }

    /// The gate of step `step` of run `id`, whatever its state.
    pub fn approval(&self, id: i64, step: usize) -> Result<Option<Approval>> {
        self.connection()
            .query_row(
                "SELECT run_id, idx, environment, state, requested_at, expires_at, decided_by, decided_at, comment
                 FROM approvals WHERE run_id = ?1 AND idx = ?2",
                params![id, step as i64],
                approval_row,
            )
            .optional()
            .map_err(db)?
            .transpose()
    }

    /// The gate of run `id` that waits for a decision, if any.
    pub fn pending_approval(&self, id: i64) -> Result<Option<Approval>> {
        self.connection()
            .query_row(
                "SELECT run_id, idx, environment, state, requested_at, expires_at, decided_by, decided_at, comment
                 FROM approvals WHERE run_id = ?1 AND state = 'pending' ORDER BY idx LIMIT 1",
                params![id],
                approval_row,
            )
            .optional()
            .map_err(db)?
            .transpose()
    }

    /// Every approval of run `id`, in step order.
    pub fn approvals(&self, id: i64) -> Result<Vec<Approval>> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT run_id, idx, environment, state, requested_at, expires_at, decided_by, decided_at, comment
                 FROM approvals WHERE run_id = ?1 ORDER BY idx",
            )
            .map_err(db)?;
        let rows = statement
            .query_map(params![id], approval_row)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().collect()
    }

    /// Decides a pending gate and writes the audit entry, in one transaction. `false` when the
    /// gate was no longer pending (someone else decided first, or it lapsed).
    pub fn decide(
        &self,
        id: i64,
        step: usize,
        state: ApprovalState,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<bool> {
        let at = now();
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(db)?;
        let changed = tx
            .execute(
                "UPDATE approvals SET state = ?1, decided_by = ?2, decided_at = ?3, comment = ?4
                 WHERE run_id = ?5 AND idx = ?6 AND state = 'pending'",
                params![state.as_str(), actor, at, comment, id, step as i64],
            )
            .map_err(db)?;
        if changed == 1 {
            let action = match state {
                ApprovalState::Approved => "approved",
                ApprovalState::Rejected => "rejected",
                ApprovalState::Expired => "approval-expired",
                ApprovalState::Pending => "approval-reopened",
            };
            tx.execute(
                "INSERT INTO audit (at, actor, action, run_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![at, actor, action, id, comment],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(changed == 1)
    }

    /// Writes an entry of the audit log.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        run: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()> {
        self.connection()
            .execute(
                "INSERT INTO audit (at, actor, action, run_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now(), actor, action, run, detail],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Audit entries, newest first, of one run when given.
    pub fn audit_log(&self, run: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(
                "SELECT at, actor, action, run_id, detail FROM audit
                 WHERE (?1 IS NULL OR run_id = ?1) ORDER BY id DESC LIMIT ?2",
            )
            .map_err(db)?;
        statement
            .query_map(params![run, limit as i64], |row| {
                Ok(AuditEntry {
                    at: row.get(0)?,
                    actor: row.get(1)?,
                    action: row.get(2)?,
                    run_id: row.get(3)?,
                    detail: row.get(4)?,
                })
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)
    }

    /// The commit of `pipeline`'s newest successful run: changes are measured from there.
    pub fn last_succeeded_rev(&self, pipeline: &str) -> Result<Option<String>> {
        self.connection()
            .query_row(
                "SELECT rev FROM runs WHERE pipeline = ?1 AND state = 'succeeded' ORDER BY id DESC LIMIT 1",
                params![pipeline],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)
    }
}

/// Webhook deliveries already acted on, so a repeated one starts nothing.
impl RunStore {
    fn deliveries_table(connection: &Connection) -> Result<()> {
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS deliveries (key TEXT PRIMARY KEY, at INTEGER NOT NULL)",
            )
            .map_err(db)
    }

    /// Records delivery `key` (a git host's delivery id, or a digest of a signed body): `false`
    /// when it was already recorded within the last `window_secs`. Older records are dropped.
    pub fn remember_delivery(&self, key: &str, window_secs: i64) -> Result<bool> {
        let at = now();
        let connection = self.connection();
        Self::deliveries_table(&connection)?;
        connection
            .execute(
                "DELETE FROM deliveries WHERE at < ?1",
                params![at - window_secs],
            )
            .map_err(db)?;
        let inserted = connection
            .execute(
                "INSERT OR IGNORE INTO deliveries (key, at) VALUES (?1, ?2)",
                params![key, at],
            )
            .map_err(db)?;
        Ok(inserted == 1)
    }

    /// Forgets delivery `key`, so the host may send it again (acting on it failed).
    pub fn forget_delivery(&self, key: &str) -> Result<()> {
        let connection = self.connection();
        Self::deliveries_table(&connection)?;
        connection
            .execute("DELETE FROM deliveries WHERE key = ?1", params![key])
            .map_err(db)?;
        Ok(())
    }

    /// The commit of `pipeline`'s newest run on `branch`, whatever became of it.
    pub fn last_rev_on_branch(&self, pipeline: &str, branch: &str) -> Result<Option<String>> {
        self.connection()
            .query_row(
                "SELECT rev FROM runs WHERE pipeline = ?1 AND branch = ?2 ORDER BY id DESC LIMIT 1",
                params![pipeline, branch],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)
    }
}

/// The first twelve characters of a commit id, as listings show it.
pub fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

fn run_row(row: &Row<'_>) -> rusqlite::Result<Result<Run>> {
    let state: String = row.get(8)?;
    let changed: String = row.get(15)?;
    let run = Run {
        id: row.get(0)?,
        pipeline: row.get(1)?,
        kind: row.get(2)?,
        rev: row.get(3)?,
        branch: row.get(4)?,
        base_rev: row.get(5)?,
        trigger: row.get(6)?,
        started_by: row.get(7)?,
        state: RunState::Queued,
        created_at: row.get(9)?,
        started_at: row.get(10)?,
        finished_at: row.get(11)?,
        note: row.get(12)?,
        runner: row.get(13)?,
        heartbeat: row.get(14)?,
        changed: serde_json::from_str(&changed).unwrap_or_default(),
        steps: Vec::new(),
    };
    Ok(RunState::parse(&state).map(|state| Run { state, ..run }))
}

fn steps_of(connection: &Connection, id: i64) -> Result<Vec<StepRecord>> {
    let mut statement = connection
        .prepare(
            "SELECT idx, name, state, started_at, finished_at, exit_code FROM steps WHERE run_id = ?1 ORDER BY idx",
        )
        .map_err(db)?;
    let rows = statement
        .query_map(params![id], |row| {
            let state: String = row.get(2)?;
            Ok((
                StepRecord {
                    index: row.get::<_, i64>(0)? as usize,
                    name: row.get(1)?,
                    state: StepState::Pending,
                    started_at: row.get(3)?,
                    finished_at: row.get(4)?,
                    exit_code: row.get(5)?,
                },
                state,
            ))
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(step, state)| StepState::parse(&state).map(|state| StepRecord { state, ..step }))
        .collect()
}

fn approval_row(row: &Row<'_>) -> rusqlite::Result<Result<Approval>> {
    let state: String = row.get(3)?;
    let approval = Approval {
        run_id: row.get(0)?,
        step: row.get::<_, i64>(1)? as usize,
        environment: row.get(2)?,
        state: ApprovalState::Pending,
        requested_at: row.get(4)?,
        expires_at: row.get(5)?,
        decided_by: row.get(6)?,
        decided_at: row.get(7)?,
        comment: row.get(8)?,
    };
    Ok(ApprovalState::parse(&state).map(|state| Approval { state, ..approval }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> RunStore {
        RunStore::open_in_memory().unwrap()
    }

    fn release_run(store: &RunStore) -> Run {
        store
            .create(&NewRun {
                pipeline: "release".into(),
                kind: "release".into(),
                rev: "a".repeat(40),
                trigger: "manual".into(),
                started_by: "ada@laptop".into(),
                steps: vec!["build".into(), "approve".into(), "deploy prod".into()],
                ..NewRun::default()
            })
            .unwrap()
    }

    #[test]
    fn a_run_is_deploying_only_while_its_deploy_step_runs() {
        let mut run = release_run(&store());
        assert!(!run.is_deploying());
        run.state = RunState::Running;
        run.steps[0].state = StepState::Running;
        assert!(!run.is_deploying(), "a build step is not a deploy");
        run.steps[0].state = StepState::Succeeded;
        run.steps[2].state = StepState::Running;
        assert!(run.is_deploying());
        run.state = RunState::Failed;
        assert!(!run.is_deploying());
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_deploying(dir.path(), 1), "no history, no deploy");
    }

    #[test]
    fn a_gate_is_decided_once_and_audited() {
        let store = store();
        let run = release_run(&store);
        let (approval, first) = store
            .request_approval(run.id, 1, Some("prod"), None)
            .unwrap();
        assert!(first);
        assert_eq!(approval.state, ApprovalState::Pending);
        let (_, again) = store
            .request_approval(run.id, 1, Some("prod"), None)
            .unwrap();
        assert!(!again, "a second request must not open a second gate");
        assert!(
            store
                .decide(run.id, 1, ApprovalState::Approved, "bob", Some("ship it"))
                .unwrap()
        );
        assert!(
            !store
                .decide(run.id, 1, ApprovalState::Rejected, "eve", None)
                .unwrap(),
            "a decided gate cannot be overturned"
        );
        let approval = store.approval(run.id, 1).unwrap().unwrap();
        assert_eq!(approval.state, ApprovalState::Approved);
        assert_eq!(approval.decided_by.as_deref(), Some("bob"));
        let audit = store.audit_log(Some(run.id), 10).unwrap();
        let actions: Vec<_> = audit
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect();
        assert_eq!(actions, [("bob", "approved"), ("ada@laptop", "started")]);
    }

    #[test]
    fn a_finished_run_keeps_its_verdict() {
        let store = store();
        let run = release_run(&store);
        store
            .finish(run.id, RunState::Rejected, Some("rejected by bob"))
            .unwrap();
        store.finish(run.id, RunState::Succeeded, None).unwrap();
        let run = store.require(run.id).unwrap();
        assert_eq!(run.state, RunState::Rejected);
        assert!(matches!(
            store.claim(run.id),
            Err(HistoryError::NotResumable { .. })
        ));
    }

    #[test]
    fn a_run_whose_process_died_mid_step_is_interrupted() {
        let store = store();
        let run = release_run(&store);
        store.claim(run.id).unwrap();
        store.set_run_state(run.id, RunState::Running).unwrap();
        // A pid that cannot exist on Linux (above pid_max's ceiling).
        store
            .connection()
            .execute(
                "UPDATE runs SET runner = ?1 WHERE id = ?2",
                params![format!("{}:4194305", host_name()), run.id],
            )
            .unwrap();
        assert_eq!(store.reap().unwrap(), vec![run.id]);
        assert_eq!(store.require(run.id).unwrap().state, RunState::Interrupted);
        assert_eq!(store.claim(run.id).unwrap().state, RunState::Running);
    }

    #[test]
    fn a_delivery_is_acted_on_once_within_its_window() {
        let store = store();
        assert!(store.remember_delivery("github:abc", 3600).unwrap());
        assert!(!store.remember_delivery("github:abc", 3600).unwrap());
        assert!(store.remember_delivery("gitlab:abc", 3600).unwrap());
        store.forget_delivery("github:abc").unwrap();
        assert!(store.remember_delivery("github:abc", 3600).unwrap());
        // Out of the window (negative: everything recorded is older), it is new again.
        assert!(store.remember_delivery("github:abc", -1).unwrap());
    }

    #[test]
    fn the_last_run_on_a_branch_is_whatever_became_of_it() {
        let store = store();
        assert_eq!(store.last_rev_on_branch("release", "main").unwrap(), None);
        let run = store
            .create(&NewRun {
                pipeline: "release".into(),
                kind: "release".into(),
                rev: "b".repeat(40),
                branch: Some("main".into()),
                trigger: "webhook:github".into(),
                started_by: "push".into(),
                ..NewRun::default()
            })
            .unwrap();
        store.finish(run.id, RunState::Failed, None).unwrap();
        assert_eq!(
            store.last_rev_on_branch("release", "main").unwrap(),
            Some("b".repeat(40))
        );
        assert_eq!(store.last_rev_on_branch("release", "other").unwrap(), None);
    }

    #[test]
    fn changes_are_measured_from_the_last_success() {
        let store = store();
        assert_eq!(store.last_succeeded_rev("release").unwrap(), None);
        let run = release_run(&store);
        store.finish(run.id, RunState::Succeeded, None).unwrap();
        let failed = release_run(&store);
        store.finish(failed.id, RunState::Failed, None).unwrap();
        assert_eq!(
            store.last_succeeded_rev("release").unwrap(),
            Some("a".repeat(40))
        );
    }

    #[test]
    fn a_decision_made_by_another_process_is_seen_by_this_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path());
        let runner = RunStore::open(&path).unwrap();
        let run = release_run(&runner);
        runner
            .request_approval(run.id, 1, Some("prod"), None)
            .unwrap();
        let approver = RunStore::open(&path).unwrap();
        assert!(
            approver
                .decide(run.id, 1, ApprovalState::Approved, "bob", None)
                .unwrap()
        );
        assert_eq!(
            runner.approval(run.id, 1).unwrap().unwrap().state,
            ApprovalState::Approved
        );
    }

    #[test]
    fn an_unknown_run_is_named() {
        let store = store();
        assert_eq!(
            store.require(42).unwrap_err().to_string(),
            "no run 42: `slipway pipeline list` shows the runs"
        );
    }
}
