//! The jobs runner: `slipway jobs runner serve` in a container on a Docker environment's first
//! host. Each second it asks [`Clock::tick`] what is due, makes each run a fresh container like
//! the live release's containers of the job's app (through the host's engine socket), waits for
//! it up to the job's timeout, keeps its exit code and last lines in `runs.json` of its volume,
//! and hands each failure to the caller to announce.
//!
//! A run's container carries its run's labels, so a runner that restarts (a deploy that changes
//! the table recreates it; the host reboots) finds the runs still going, waits for them and
//! records them: a run is never lost nor started twice.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_docker::Engine;
use slipway_docker::environment::{LABEL_ENVIRONMENT, LABEL_NAME, LABEL_PROJECT};
use tokio::sync::mpsc::UnboundedSender;

use super::{Action, Clock, JobTable, Outcome, RunRecord, TableJob, Trigger, prune};
use crate::host::LABEL_RELEASE;
use crate::{DeployError, Result};

/// Label of a job run's container: the job's name.
pub const LABEL_JOB: &str = "dev.slipway.job";
/// Label of a job run's container: its run's id.
pub const LABEL_JOB_RUN: &str = "dev.slipway.job-run";
/// Label of a job run's container: `schedule` or `manual`.
pub const LABEL_JOB_TRIGGER: &str = "dev.slipway.job-trigger";
/// Label of a job run's container: when it started, Unix seconds.
pub const LABEL_JOB_STARTED: &str = "dev.slipway.job-started";

/// Runs kept on record per job.
const KEPT_PER_JOB: usize = 20;
/// Lines of a run's output kept.
const KEPT_LINES: usize = 200;

/// The records file in the runner's directory.
pub fn records_path(dir: &Path) -> PathBuf {
    dir.join("runs.json")
}

/// The directory `slipway jobs run` leaves its requests in.
pub fn requests_dir(dir: &Path) -> PathBuf {
    dir.join("requests")
}

/// The records kept in `dir`, oldest first; none when there is no file yet.
pub fn read_records(dir: &Path) -> Result<Vec<RunRecord>> {
    let path = records_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| DeployError::Plan(format!("{}: not a jobs record: {e}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(DeployError::Io { path, source }),
    }
}

/// Leaves a request to run `job` now; returns the run's id, which its record will carry.
pub fn request(dir: &Path, table: &JobTable, job: &str) -> Result<String> {
    if !table.jobs.iter().any(|j| j.name == job) {
        let known: Vec<&str> = table.jobs.iter().map(|j| j.name.as_str()).collect();
        return Err(DeployError::Plan(format!(
            "no job `{job}` runs here; jobs: {}",
            known.join(", ")
        )));
    }
    let id = format!("{job}-m{}", slipway_core::time::now_nanos());
    let path = requests_dir(dir).join(&id);
    slipway_core::files::write_atomic(&path, 0o600, job.as_bytes())
        .map_err(|source| DeployError::Io { path, source })?;
    Ok(id)
}

struct State {
    records: Vec<RunRecord>,
    /// Job → the id of its run going now.
    running: BTreeMap<String, String>,
    dir: PathBuf,
}

impl State {
    fn save(&mut self) {
        self.records = prune(std::mem::take(&mut self.records), KEPT_PER_JOB);
        let path = records_path(&self.dir);
        let json = serde_json::to_vec_pretty(&self.records).expect("records serialize");
        if let Err(error) = slipway_core::files::write_atomic(&path, 0o600, &json) {
            eprintln!("jobs: cannot write {}: {error}", path.display());
        }
    }

    fn finish(&mut self, finished: RunRecord) {
        // A skip of a job also ends in a record; only the run going is taken off `running`.
        if self.running.get(&finished.job) == Some(&finished.id) {
            self.running.remove(&finished.job);
        }
        match self.records.iter_mut().find(|r| r.id == finished.id) {
            Some(record) => *record = finished,
            None => self.records.push(finished),
        }
        self.save();
    }
}

/// The runner of one environment's jobs.
#[derive(Debug)]
pub struct Runner {
    engine: Engine,
    dir: PathBuf,
    table: Arc<JobTable>,
    failures: UnboundedSender<RunRecord>,
}

impl Runner {
    /// A runner of `table`'s jobs that keeps its records in `dir` and sends each failed run to
    /// `failures`.
    pub fn new(
        engine: Engine,
        dir: PathBuf,
        table: JobTable,
        failures: UnboundedSender<RunRecord>,
    ) -> Runner {
        Runner {
            engine,
            dir,
            table: Arc::new(table),
            failures,
        }
    }

    /// Runs until the process is stopped.
    pub async fn serve(self) -> Result<()> {
        let requests = requests_dir(&self.dir);
        std::fs::create_dir_all(&requests).map_err(|source| DeployError::Io {
            path: requests.clone(),
            source,
        })?;
        let state = Arc::new(Mutex::new(State {
            records: read_records(&self.dir)?,
            running: BTreeMap::new(),
            dir: self.dir.clone(),
        }));
        self.adopt(&state).await?;
        let mut clock = Clock::starting(&self.table, now());
        println!(
            "jobs: running {} job(s) of {}/{}",
            self.table.jobs.len(),
            self.table.project,
            self.table.environment
        );
        loop {
            tokio::time::sleep(until_next_second()).await;
            let manual = take_requests(&requests);
            let running = state.lock().expect("state lock").running.clone();
            let now = now();
            let names: Vec<String> = manual.iter().map(|(job, _)| job.clone()).collect();
            let mut used = Vec::new();
            for action in clock.tick(&self.table, now, &running, &names) {
                let (job, trigger) = match &action {
                    Action::Start { job, trigger } | Action::Skip { job, trigger, .. } => {
                        (job.clone(), *trigger)
                    }
                };
                let id = match trigger {
                    Trigger::Manual => take_id(&manual, &job, &mut used),
                    Trigger::Schedule => format!("{job}-{now}"),
                };
                match action {
                    Action::Start { .. } => self.start(&state, &job, id, trigger, now),
                    Action::Skip { running, .. } => {
                        self.skip(
                            &state,
                            &job,
                            id,
                            trigger,
                            now,
                            format!("run {running} was still going"),
                        );
                    }
                }
            }
            // A second request for the same job in the same second.
            for (job, id) in manual.iter().filter(|(_, id)| !used.contains(id)) {
                self.skip(
                    &state,
                    job,
                    id.clone(),
                    Trigger::Manual,
                    now,
                    "another run of it was asked at the same moment".into(),
                );
            }
        }
    }

    fn skip(
        &self,
        state: &Arc<Mutex<State>>,
        job: &str,
        id: String,
        trigger: Trigger,
        now: i64,
        reason: String,
    ) {
        println!("jobs: {job}: skipped: {reason}");
        let release = self.job(job).map(|j| j.release.clone()).unwrap_or_default();
        state.lock().expect("state lock").finish(RunRecord {
            id,
            job: job.to_owned(),
            trigger,
            started_at: now,
            finished_at: Some(now),
            outcome: Outcome::Skipped,
            exit_code: None,
            release,
            reason: Some(reason),
            output: String::new(),
        });
    }

    fn job(&self, name: &str) -> Option<&TableJob> {
        self.table.jobs.iter().find(|j| j.name == name)
    }

    fn start(&self, state: &Arc<Mutex<State>>, job: &str, id: String, trigger: Trigger, now: i64) {
        let Some(job) = self.job(job).cloned() else {
            return;
        };
        let record = RunRecord {
            id: id.clone(),
            job: job.name.clone(),
            trigger,
            started_at: now,
            finished_at: None,
            outcome: Outcome::Running,
            exit_code: None,
            release: job.release.clone(),
            reason: None,
            output: String::new(),
        };
        {
            let mut state = state.lock().expect("state lock");
            state.running.insert(job.name.clone(), id.clone());
            state.records.push(record.clone());
            state.save();
        }
        println!("jobs: {}: run {id} starts ({:?})", job.name, trigger);
        let engine = self.engine.clone();
        let table = Arc::clone(&self.table);
        let state = Arc::clone(state);
        let failures = self.failures.clone();
        tokio::spawn(async move {
            let finished = match launch(&engine, &table, &job, &id, trigger, now).await {
                Ok(container) => watch(&engine, &container, record, job.timeout_secs).await,
                Err(reason) => RunRecord {
                    finished_at: Some(self::now()),
                    outcome: Outcome::NotStarted,
                    reason: Some(reason),
                    ..record
                },
            };
            settle(finished, &failures, &state);
        });
    }

    /// Finds the runs a previous runner started and waits for them as its own.
    async fn adopt(&self, state: &Arc<Mutex<State>>) -> Result<()> {
        let found = self
            .engine
            .containers_labelled(&[
                format!("{LABEL_PROJECT}={}", self.table.project),
                format!("{LABEL_ENVIRONMENT}={}", self.table.environment),
                LABEL_JOB_RUN.to_owned(),
            ])
            .await?;
        let mut adopted = Vec::new();
        {
            let mut state = state.lock().expect("state lock");
            for container in found {
                let labels = container.labels.unwrap_or_default();
                let (Some(job), Some(id)) = (labels.get(LABEL_JOB), labels.get(LABEL_JOB_RUN))
                else {
                    continue;
                };
                let Some(name) = container
                    .names
                    .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_owned()))
                else {
                    continue;
                };
                let record = state
                    .records
                    .iter()
                    .find(|r| &r.id == id)
                    .cloned()
                    .unwrap_or_else(|| RunRecord {
                        id: id.clone(),
                        job: job.clone(),
                        trigger: if labels.get(LABEL_JOB_TRIGGER).map(String::as_str)
                            == Some("manual")
                        {
                            Trigger::Manual
                        } else {
                            Trigger::Schedule
                        },
                        started_at: labels
                            .get(LABEL_JOB_STARTED)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or_else(now),
                        finished_at: None,
                        outcome: Outcome::Running,
                        exit_code: None,
                        release: labels.get(LABEL_RELEASE).cloned().unwrap_or_default(),
                        reason: None,
                        output: String::new(),
                    });
                state.running.insert(job.clone(), id.clone());
                if !state.records.iter().any(|r| &r.id == id) {
                    state.records.push(record.clone());
                }
                let timeout = self
                    .job(job)
                    .map_or(super::DEFAULT_TIMEOUT_SECS, |j| j.timeout_secs);
                adopted.push((name, record, timeout));
            }
            // Runs on record as going whose container is gone ended unseen.
            let going: Vec<String> = state.running.values().cloned().collect();
            for record in state.records.iter_mut() {
                if record.outcome == Outcome::Running && !going.contains(&record.id) {
                    record.outcome = Outcome::Failed;
                    record.finished_at = Some(now());
                    record.reason =
                        Some("its container was removed while the runner was stopped".into());
                }
            }
            state.save();
        }
        for (container, record, timeout) in adopted {
            println!(
                "jobs: {}: run {} was going; waiting for it",
                record.job, record.id
            );
            let engine = self.engine.clone();
            let state = Arc::clone(state);
            let failures = self.failures.clone();
            let elapsed = (now() - record.started_at).max(0) as u64;
            tokio::spawn(async move {
                let finished = watch(
                    &engine,
                    &container,
                    record,
                    timeout.saturating_sub(elapsed).max(1),
                )
                .await;
                settle(finished, &failures, &state);
            });
        }
        Ok(())
    }
}

/// Creates and starts a run's container; the error says why it could not.
async fn launch(
    engine: &Engine,
    table: &JobTable,
    job: &TableJob,
    id: &str,
    trigger: Trigger,
    started: i64,
) -> std::result::Result<String, String> {
    let templates = engine
        .containers_labelled(&[
            format!("{LABEL_PROJECT}={}", table.project),
            format!("{LABEL_ENVIRONMENT}={}", table.environment),
            format!("{LABEL_NAME}={}", job.app),
            format!("{LABEL_RELEASE}={}", job.release),
        ])
        .await
        .map_err(|e| format!("the engine: {e}"))?;
    let Some(template) = templates
        .iter()
        .filter(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
        .find_map(|c| c.names.as_ref()?.first().cloned())
    else {
        return Err(format!(
            "no container of `{}` of release {} runs on this host",
            job.app, job.release
        ));
    };
    let template = template.trim_start_matches('/');
    let name = format!("{}-{}-job-{id}", table.project, table.environment);
    let labels = HashMap::from([
        (LABEL_PROJECT.to_owned(), table.project.clone()),
        (LABEL_ENVIRONMENT.to_owned(), table.environment.clone()),
        (LABEL_JOB.to_owned(), job.name.clone()),
        (LABEL_JOB_RUN.to_owned(), id.to_owned()),
        (
            LABEL_JOB_TRIGGER.to_owned(),
            match trigger {
                Trigger::Manual => "manual",
                Trigger::Schedule => "schedule",
            }
            .to_owned(),
        ),
        (LABEL_JOB_STARTED.to_owned(), started.to_string()),
        (LABEL_RELEASE.to_owned(), job.release.clone()),
    ]);
    engine
        .create_like(template, &name, &table.network, &job.command, labels)
        .await
        .map_err(|e| format!("creating its container: {e}"))?;
    if let Err(error) = engine.start(&name).await {
        let _ = engine.remove(&name).await;
        return Err(format!("starting its container: {error}"));
    }
    Ok(name)
}

/// Waits for a run's container up to `timeout_secs`, keeps its exit code and last lines, and
/// removes it.
async fn watch(
    engine: &Engine,
    container: &str,
    record: RunRecord,
    timeout_secs: u64,
) -> RunRecord {
    let waited = tokio::time::timeout(
        Duration::from_secs(timeout_secs),
        engine.wait_exit(container),
    )
    .await;
    let (outcome, exit_code, reason) = match waited {
        Ok(Ok(0)) => (Outcome::Succeeded, Some(0), None),
        Ok(Ok(code)) => (
            Outcome::Failed,
            Some(code),
            Some(format!("it exited with {code}")),
        ),
        Ok(Err(error)) => (Outcome::Failed, None, Some(format!("the engine: {error}"))),
        Err(_) => {
            let _ = engine.stop(container).await;
            (
                Outcome::TimedOut,
                None,
                Some(format!(
                    "still going after its timeout of {timeout_secs}s; stopped"
                )),
            )
        }
    };
    let output = engine.last_logs(container, KEPT_LINES).await;
    let _ = engine.remove(container).await;
    RunRecord {
        finished_at: Some(now()),
        outcome,
        exit_code,
        reason,
        output,
        ..record
    }
}

/// A run that ended: said in the runner's log, sent to be announced when it failed, recorded.
fn settle(finished: RunRecord, failures: &UnboundedSender<RunRecord>, state: &Mutex<State>) {
    report(&finished);
    if finished.outcome.is_failure() {
        let _ = failures.send(finished.clone());
    }
    state.lock().expect("state lock").finish(finished);
}

fn report(record: &RunRecord) {
    println!(
        "jobs: {}: run {} {}{}",
        record.job,
        record.id,
        record.outcome.name(),
        record
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
}

/// The requests left since the last tick: (job, run id), oldest first; each is taken once.
fn take_requests(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|entry| {
            let id = entry.file_name().to_str()?.to_owned();
            // A request being written has a temporary name starting with a dot.
            if id.starts_with('.') {
                return None;
            }
            let job = std::fs::read_to_string(entry.path()).ok()?;
            std::fs::remove_file(entry.path()).ok()?;
            Some((job.trim().to_owned(), id))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

/// The id of the first request for `job` not yet used.
fn take_id(manual: &[(String, String)], job: &str, used: &mut Vec<String>) -> String {
    let id = manual
        .iter()
        .find(|(j, id)| j == job && !used.contains(id))
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| format!("{job}-m{}", now()));
    used.push(id.clone());
    id
}

fn now() -> i64 {
    slipway_core::time::now() as i64
}

fn until_next_second() -> Duration {
    let nanos = slipway_core::time::now_nanos() % 1_000_000_000;
    Duration::from_nanos((1_000_000_000 - nanos) as u64)
}
