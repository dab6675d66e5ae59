//! Scheduled jobs (`[jobs.NAME]`) of a deployed environment: which jobs run where, what a run
//! records, and the decisions of the runner (which jobs are due, which would overlap). On Docker
//! hosts a runner container on the environment's first host runs them ([`runner`], installed by
//! [`docker`]); on ECS they are EventBridge Scheduler schedules (`crate::ecs_jobs`).

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use slipway_core::Manifest;
use slipway_core::manifest::{Job, Notification};
use slipway_core::schedule;

pub mod docker;
pub mod runner;

use crate::store::Release;

/// A run still going after this long is stopped, unless the job says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3_600;

/// The jobs of `environment`, in slipway.toml's order: those that list it, or, when a job lists
/// none, those whose app runs there.
pub fn jobs_of<'m>(manifest: &'m Manifest, environment: &str) -> Vec<(&'m String, &'m Job)> {
    manifest
        .jobs
        .iter()
        .filter(|(_, job)| match &job.environments {
            Some(listed) => listed.iter().any(|e| e == environment),
            None => slipway_core::manifest::app_runs_in(manifest, &job.app, environment),
        })
        .collect()
}

/// One job as the runner is given it: what to run, where from, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableJob {
    /// The job's name in slipway.toml.
    pub name: String,
    /// Its app.
    pub app: String,
    /// The release whose containers of the app a run is made like.
    pub release: String,
    /// The command.
    pub command: Vec<String>,
    /// The schedule as written.
    pub schedule: String,
    /// The IANA time zone its cron fields are read in.
    pub timezone: String,
    /// Seconds a run may take.
    pub timeout_secs: u64,
}

/// Everything the runner of one environment is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobTable {
    /// The project's name.
    pub project: String,
    /// The environment's name.
    pub environment: String,
    /// The network runs join (the environment's internal one).
    pub network: String,
    /// The jobs.
    pub jobs: Vec<TableJob>,
    /// The channels that take `job-failed`, their `env:` references resolved.
    pub notifications: IndexMap<String, Notification>,
}

/// The runner's table for `environment` with `live` serving: `None` when the environment has no
/// jobs. A job whose app the live release does not run is left out and named in the second
/// value, which says why.
pub fn table(
    manifest: &Manifest,
    environment: &str,
    live: &Release,
    network: &str,
    notifications: IndexMap<String, Notification>,
) -> (Option<JobTable>, Vec<String>) {
    let mut jobs = Vec::new();
    let mut left_out = Vec::new();
    for (name, job) in jobs_of(manifest, environment) {
        if !live.apps.contains_key(&job.app) {
            left_out.push(format!(
                "job `{name}` is not installed: the live release r{} does not run `{}`",
                live.id, job.app
            ));
            continue;
        }
        jobs.push(TableJob {
            name: name.clone(),
            app: job.app.clone(),
            release: crate::rollout::containers_release(live, &job.app),
            command: job.run.argv(),
            schedule: job.schedule.clone(),
            timezone: job.timezone.clone().unwrap_or_else(|| "UTC".into()),
            timeout_secs: job
                .timeout
                .map_or(DEFAULT_TIMEOUT_SECS, |t| t.0.as_secs().max(1)),
        });
    }
    if jobs.is_empty() {
        return (None, left_out);
    }
    let table = JobTable {
        project: manifest.project.name.clone(),
        environment: environment.to_owned(),
        network: network.to_owned(),
        jobs,
        notifications,
    };
    (Some(table), left_out)
}

/// The channels that take `job-failed`, with `url` and `password` read from the variables their
/// `env:` references name (by `lookup`), so the runner, which has no such variables, can send.
/// A channel whose variable is unset is left out, and named in the second value.
pub fn resolved_channels(
    manifest: &Manifest,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (IndexMap<String, Notification>, Vec<String>) {
    let mut channels = IndexMap::new();
    let mut skipped = Vec::new();
    'channels: for (name, channel) in &manifest.notifications {
        if !channel.events.is_empty()
            && !channel
                .events
                .contains(&slipway_core::manifest::EventKind::JobFailed)
        {
            continue;
        }
        let mut channel = channel.clone();
        for value in [&mut channel.url, &mut channel.password]
            .into_iter()
            .flatten()
        {
            if let Some(var) = value.strip_prefix("env:") {
                match lookup(var) {
                    Some(resolved) => *value = resolved,
                    None => {
                        skipped.push(format!(
                            "job failures will not reach channel `{name}`: the variable {var} is not set here"
                        ));
                        continue 'channels;
                    }
                }
            }
        }
        channels.insert(name.clone(), channel);
    }
    (channels, skipped)
}

/// How a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Its schedule came round.
    Schedule,
    /// `slipway jobs run`.
    Manual,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Still going.
    Running,
    /// Exited 0.
    Succeeded,
    /// Exited with another code.
    Failed,
    /// Stopped after its timeout.
    TimedOut,
    /// Could not start (no container of the live release to make it like, an engine error).
    NotStarted,
    /// Not started because the previous run was still going.
    Skipped,
}

impl Outcome {
    /// Whether the run is announced as a failure.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::TimedOut | Outcome::NotStarted
        )
    }

    /// As listings write it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed out",
            Outcome::NotStarted => "not started",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One run of a job, as the runner records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique within the environment: `<job>-<unix seconds>-<n>`.
    pub id: String,
    /// The job's name.
    pub job: String,
    /// How it started.
    pub trigger: Trigger,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds; `None` while it runs.
    pub finished_at: Option<i64>,
    /// How it ended.
    pub outcome: Outcome,
    /// The command's exit code, when it ran to its end.
    pub exit_code: Option<i64>,
    /// The release it ran from.
    pub release: String,
    /// Why it failed, was skipped or did not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its last lines of output (standard output and error together).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// One job as `slipway jobs ENV` lists it, on either target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRow {
    /// The job's name.
    pub name: String,
    /// Its app.
    pub app: String,
    /// The schedule as written.
    pub schedule: String,
    /// Its time zone.
    pub timezone: String,
    /// Unix seconds of the next run, when there is one.
    pub next_run: Option<i64>,
    /// Whether a run is going now.
    pub running: bool,
    /// Its last run, when it has one on record.
    pub last_run: Option<RunRecord>,
    /// Where it is kept: the runner's host, or the EventBridge schedule's name.
    pub place: String,
}

/// The rows of `slipway jobs ENV` from what the runner holds: its table and its records
/// (oldest first).
pub fn rows(table: &JobTable, records: &[RunRecord], now: i64, place: &str) -> Vec<JobRow> {
    table
        .jobs
        .iter()
        .map(|job| {
            let last = records.iter().rev().find(|r| r.job == job.name).cloned();
            let running = records
                .iter()
                .any(|r| r.job == job.name && r.outcome == Outcome::Running);
            JobRow {
                name: job.name.clone(),
                app: job.app.clone(),
                schedule: job.schedule.clone(),
                timezone: job.timezone.clone(),
                next_run: next_run(&job.schedule, &job.timezone, now),
                running,
                last_run: last,
                place: place.to_owned(),
            }
        })
        .collect()
}

/// The first run of `schedule` after `now`, when it parses and has one.
pub fn next_run(schedule: &str, timezone: &str, now: i64) -> Option<i64> {
    let zone = schedule::time_zone(timezone).ok()?;
    schedule::parse(schedule).ok()?.next_after(now, &zone)
}

/// What the runner does at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a run of the job.
    Start {
        /// The job.
        job: String,
        /// Why.
        trigger: Trigger,
    },
    /// Record that the job's time came while its previous run still went.
    Skip {
        /// The job.
        job: String,
        /// Why.
        trigger: Trigger,
        /// The run still going.
        running: String,
    },
}

/// The runner's memory between ticks: when each job was last looked at.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    checked: BTreeMap<String, i64>,
}

impl Clock {
    /// A runner that starts at `now`: times before it are not caught up on.
    pub fn starting(table: &JobTable, now: i64) -> Clock {
        Clock {
            checked: table.jobs.iter().map(|j| (j.name.clone(), now)).collect(),
        }
    }

    /// The actions at `now`: each job whose schedule came round since it was last looked at
    /// starts (once, however many times came round while the runner was away), unless a run of
    /// it still goes (`running`: job → run id), and then it is skipped; `manual` runs start the
    /// same way.
    pub fn tick(
        &mut self,
        table: &JobTable,
        now: i64,
        running: &BTreeMap<String, String>,
        manual: &[String],
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        for job in &table.jobs {
            let checked = self.checked.entry(job.name.clone()).or_insert(now);
            let due = next_run(&job.schedule, &job.timezone, *checked).is_some_and(|at| at <= now);
            let asked = manual.contains(&job.name);
            if due {
                *checked = now;
            }
            for trigger in [
                due.then_some(Trigger::Schedule),
                asked.then_some(Trigger::Manual),
            ]
            .into_iter()
            .flatten()
            {
                let already = running.get(&job.name).cloned().or_else(|| {
                    actions.iter().find_map(|a| match a {
                        Action::Start { job: j, .. } if *j == job.name => Some("now".to_owned()),
                        _ => None,
                    })
                });
                actions.push(match already {
                    Some(run) => Action::Skip {
                        job: job.name.clone(),
                        trigger,
                        running: run,
                    },
                    None => Action::Start {
                        job: job.name.clone(),
                        trigger,
                    },
                });
            }
        }
        actions
    }
}

/// Keeps the last `per_job` records of each job (and every run still going), oldest first.
pub fn prune(records: Vec<RunRecord>, per_job: usize) -> Vec<RunRecord> {
    let mut kept_per_job: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept: Vec<RunRecord> = records
        .into_iter()
        .rev()
        .filter(|r| {
            let count = kept_per_job.entry(r.job.clone()).or_default();
            *count += 1;
            *count <= per_job || r.outcome == Outcome::Running
        })
        .collect();
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests;
