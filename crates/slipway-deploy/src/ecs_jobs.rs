//! Scheduled jobs on ECS: each job of the environment is an EventBridge Scheduler schedule that
//! runs one task of the live release's task definition of the job's app, the app's container's
//! command replaced by the job's. Deploys and rollbacks write them ([`EcsRollout::sync_jobs`]);
//! `slipway jobs` reads them back ([`EcsRollout::jobs`]) and runs one now
//! ([`EcsRollout::run_job`]).
//!
//! A schedule is slipway's when its description says so, for this project, environment and job
//! ([`description`], [`owner`]): a deploy never changes or deletes another schedule.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use slipway_aws::ecs::{GroupTask, OneOffTask};
use slipway_aws::scheduler::{EcsSchedule, Found, MAX_NAME};
use slipway_core::manifest::Job;

use crate::ecs::EcsRollout;
use crate::jobs::{self, JobRow, Outcome, RunRecord, Trigger};
use crate::rollout::now;
use crate::store::Release;
use crate::{DeployError, Result};

/// `startedBy` of the tasks `slipway jobs run` starts (ECS keeps at most 36 characters).
pub const MANUAL_STARTER: &str = "slipway jobs run";

/// Why a run started by `slipway jobs run` was stopped, as ECS records it.
const TIMED_OUT: &str = "slipway: the job ran past its timeout";

/// The schedule of `job`: `<project>-<env>-<job>`, or, when that is longer than EventBridge
/// Scheduler takes, its first characters, `-` and 8 hex digits of the whole name's SHA-256.
pub fn schedule_name(project: &str, environment: &str, job: &str) -> String {
    let full = format!("{project}-{environment}-{job}");
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash = hex::encode(Sha256::digest(full.as_bytes()));
    format!("{}-{}", &full[..MAX_NAME - 9], &hash[..8])
}

/// What every schedule name of the environment starts with (cut as [`schedule_name`] cuts).
pub fn schedule_prefix(project: &str, environment: &str) -> String {
    let prefix = format!("{project}-{environment}-");
    prefix[..prefix.len().min(MAX_NAME - 9)].to_owned()
}

/// The ECS task group of a job's runs: how they are found again.
pub fn task_group(schedule: &str) -> String {
    format!("job:{schedule}")
}

/// The description that marks a schedule as slipway's, for this project, environment and job.
pub fn description(project: &str, environment: &str, job: &str, app: &str) -> String {
    format!("slipway project={project} environment={environment} job={job} app={app}")
}

/// Whose a schedule is, from its description: (project, environment, job), when slipway's.
pub fn owner(description: &str) -> Option<(String, String, String)> {
    let rest = description.strip_prefix("slipway ")?;
    let mut project = None;
    let mut environment = None;
    let mut job = None;
    for pair in rest.split_whitespace() {
        match pair.split_once('=')? {
            ("project", value) => project = Some(value.to_owned()),
            ("environment", value) => environment = Some(value.to_owned()),
            ("job", value) => job = Some(value.to_owned()),
            _ => {}
        }
    }
    Some((project?, environment?, job?))
}

/// `family:revision` of a task definition ARN (`...:task-definition/shop-prod-api:7`).
pub fn short_definition(arn: &str) -> &str {
    arn.rsplit_once("task-definition/").map_or(arn, |(_, s)| s)
}

/// The family of a task definition ARN.
fn family(arn: &str) -> &str {
    let short = short_definition(arn);
    short.rsplit_once(':').map_or(short, |(family, _)| family)
}

/// One run of a job as ECS describes its task. `release` names the release that registered a
/// task definition, when one of the history did.
pub fn run_record(
    job: &str,
    task: &GroupTask,
    release: &dyn Fn(&str) -> Option<String>,
) -> RunRecord {
    let stopped = task.status == "STOPPED";
    let outcome = if !stopped {
        Outcome::Running
    } else if task.reason.starts_with(TIMED_OUT) {
        Outcome::TimedOut
    } else {
        match task.exit_code {
            Some(0) => Outcome::Succeeded,
            Some(_) => Outcome::Failed,
            None => Outcome::NotStarted,
        }
    };
    let definition = task.task_definition.as_deref().unwrap_or_default();
    RunRecord {
        id: task.arn.rsplit('/').next().unwrap_or(&task.arn).to_owned(),
        job: job.to_owned(),
        trigger: if task.started_by.as_deref() == Some(MANUAL_STARTER) {
            Trigger::Manual
        } else {
            Trigger::Schedule
        },
        started_at: task.created_at.unwrap_or_default(),
        finished_at: task.stopped_at,
        outcome,
        exit_code: task.exit_code.map(i64::from),
        release: release(definition).unwrap_or_else(|| short_definition(definition).to_owned()),
        reason: (outcome.is_failure() && !task.reason.is_empty()).then(|| task.reason.clone()),
        output: String::new(),
    }
}

impl EcsRollout<'_> {
    fn project(&self) -> &str {
        &self.ctx.manifest.project.name
    }

    /// The schedule `job` of the environment should be with `task_definition` live.
    fn wanted_schedule(
        &self,
        name: &str,
        job: &Job,
        cluster_arn: &str,
        task_definition: &str,
        job_name: &str,
    ) -> Result<EcsSchedule> {
        let role = self.target.scheduler_role_arn.clone().ok_or_else(|| {
            DeployError::Plan(format!(
                "job `{job_name}` runs in `{}` on a schedule: set `scheduler_role_arn` in [environments.{}.target]",
                self.ctx.environment, self.ctx.environment
            ))
        })?;
        let expression = slipway_core::schedule::parse(&job.schedule)
            .map_err(|e| DeployError::Plan(format!("job `{job_name}`: {e}")))?
            .aws_expression()
            .map_err(|e| DeployError::Plan(format!("job `{job_name}`: {e}")))?;
        Ok(EcsSchedule {
            name: name.to_owned(),
            description: description(self.project(), self.ctx.environment, job_name, &job.app),
            expression,
            timezone: job.timezone.clone().unwrap_or_else(|| "UTC".into()),
            cluster_arn: cluster_arn.to_owned(),
            role_arn: role,
            task_definition: task_definition.to_owned(),
            launch_type: self
                .target
                .launch_type
                .clone()
                .unwrap_or_else(|| "FARGATE".into()),
            subnets: self.target.subnets.clone(),
            security_groups: self.target.security_groups.clone(),
            assign_public_ip: self.target.assign_public_ip,
            task_group: task_group(name),
            container: job.app.clone(),
            command: job.run.argv(),
        })
    }

    /// Whether a schedule found under a job's name is this environment's schedule of that job.
    fn is_ours(&self, found: &Found, job: &str) -> bool {
        owner(found.description()).is_some_and(|(project, environment, owned)| {
            project == self.project() && environment == self.ctx.environment && owned == job
        })
    }

    /// Writes the environment's jobs as EventBridge Scheduler schedules running `live`'s task
    /// definitions, and deletes slipway's schedules of the environment whose job is gone from
    /// slipway.toml. Returns one line per change. An environment without jobs and without
    /// `scheduler_role_arn` is not looked at (it never had schedules of slipway's).
    pub async fn sync_jobs(&self, live: &Release) -> Result<Vec<String>> {
        let project = self.project().to_owned();
        let environment = self.ctx.environment;
        let wanted_jobs = jobs::jobs_of(self.ctx.manifest, environment);
        if wanted_jobs.is_empty() && self.target.scheduler_role_arn.is_none() {
            return Ok(Vec::new());
        }
        let mut lines = Vec::new();
        let mut kept = BTreeSet::new();
        let cluster_arn = if wanted_jobs.is_empty() {
            String::new()
        } else {
            self.ecs.cluster_arn(&self.target.cluster).await?
        };
        for (name, job) in wanted_jobs {
            let schedule = schedule_name(&project, environment, name);
            kept.insert(schedule.clone());
            let Some(definition) = live
                .apps
                .get(&job.app)
                .and_then(|a| a.task_definition.as_deref())
            else {
                lines.push(format!(
                    "job {name}: not scheduled: the live release {} does not run `{}`",
                    live.name(),
                    job.app
                ));
                continue;
            };
            let wanted = self.wanted_schedule(&schedule, job, &cluster_arn, definition, name)?;
            match self.scheduler.get(&schedule).await? {
                Some(Found::Ecs(found)) if *found == wanted => continue,
                Some(found) if !self.is_ours(&found, name) => {
                    return Err(DeployError::Plan(format!(
                        "job `{name}`: an EventBridge schedule named `{schedule}` exists and is not slipway's schedule of this job (its description: `{}`); delete or rename it",
                        found.description()
                    )));
                }
                _ => {}
            }
            self.scheduler.put(&wanted).await?;
            lines.push(format!(
                "job {name}: schedule {schedule} → {} {}, task definition {}",
                wanted.expression,
                wanted.timezone,
                short_definition(definition)
            ));
        }
        for schedule in self
            .scheduler
            .list(&schedule_prefix(&project, environment))
            .await?
        {
            if kept.contains(&schedule) {
                continue;
            }
            let Some(found) = self.scheduler.get(&schedule).await? else {
                continue;
            };
            let Some((owned_project, owned_environment, job)) = owner(found.description()) else {
                continue;
            };
            if owned_project != project || owned_environment != environment {
                continue;
            }
            self.scheduler.delete(&schedule).await?;
            lines.push(format!(
                "job {job}: schedule {schedule} deleted (no longer in slipway.toml)"
            ));
        }
        Ok(lines)
    }

    /// [`EcsRollout::sync_jobs`] after a deploy or rollback made `live` live: each change logged;
    /// a failure says the release is live and how to write the schedules again.
    pub(crate) async fn sync_jobs_after(&self, live: &Release) -> Result<()> {
        match self.sync_jobs(live).await {
            Ok(lines) => {
                for line in lines {
                    self.log(&line);
                }
                Ok(())
            }
            Err(error) => Err(DeployError::Plan(format!(
                "release {} is live, but the jobs' schedules could not be written: {error}; run `slipway deploy {}` again to write them",
                live.name(),
                self.ctx.environment
            ))),
        }
    }

    /// The environment's jobs as EventBridge Scheduler has them: the schedule's expression and
    /// time zone as read back (a job whose schedule does not exist yet keeps slipway.toml's and
    /// has no next run), `place` the schedule's name. `last_run` is the newest task of the
    /// job's task group that ECS still lists: running, or stopped within about the last hour
    /// (ECS forgets stopped tasks after that, so an older run is `None`); its output is not read.
    pub async fn jobs(&self) -> Result<Vec<JobRow>> {
        let project = self.project().to_owned();
        let environment = self.ctx.environment;
        let history = self.store().list(environment, 50)?;
        let release_of = |definition: &str| {
            history
                .iter()
                .find(|r| {
                    r.apps
                        .values()
                        .any(|a| a.task_definition.as_deref() == Some(definition))
                })
                .map(Release::name)
        };
        let now = now();
        let mut rows = Vec::new();
        for (name, job) in jobs::jobs_of(self.ctx.manifest, environment) {
            let schedule = schedule_name(&project, environment, name);
            let found = match self.scheduler.get(&schedule).await? {
                Some(found) if self.is_ours(&found, name) => match found {
                    Found::Ecs(found) => Some(*found),
                    Found::Other(_) => None,
                },
                _ => None,
            };
            let (expression, timezone, next_run) = match &found {
                Some(found) => (
                    found.expression.clone(),
                    found.timezone.clone(),
                    jobs::next_run(&found.expression, &found.timezone, now),
                ),
                None => (
                    job.schedule.clone(),
                    job.timezone.clone().unwrap_or_else(|| "UTC".into()),
                    None,
                ),
            };
            let last_run = match &found {
                Some(found) => self
                    .ecs
                    .group_tasks(
                        &self.target.cluster,
                        family(&found.task_definition),
                        &task_group(&schedule),
                        &job.app,
                    )
                    .await?
                    .first()
                    .map(|task| run_record(name, task, &release_of)),
                None => None,
            };
            rows.push(JobRow {
                name: name.clone(),
                app: job.app.clone(),
                schedule: expression,
                timezone,
                next_run,
                running: last_run
                    .as_ref()
                    .is_some_and(|r| r.outcome == Outcome::Running),
                last_run,
                place: schedule,
            });
        }
        Ok(rows)
    }

    /// Runs `job` now as the schedule would: one task of the live release's task definition of
    /// its app with the job's command, in the job's task group; follows it (each change of state
    /// logged, its CloudWatch output given to `output`), stops it after the job's timeout, and
    /// returns its exit code.
    pub async fn run_job(&self, job: &str, output: &mut (dyn FnMut(&str) + Send)) -> Result<i64> {
        let environment = self.ctx.environment;
        let all = jobs::jobs_of(self.ctx.manifest, environment);
        let Some((name, found)) = all.iter().find(|(name, _)| name.as_str() == job) else {
            let names: Vec<&str> = all.iter().map(|(name, _)| name.as_str()).collect();
            return Err(DeployError::Plan(if names.is_empty() {
                format!(
                    "`{environment}` has no job `{job}`: it runs no jobs ([jobs.NAME] in slipway.toml)"
                )
            } else {
                format!(
                    "`{environment}` has no job `{job}`; its jobs: {}",
                    names.join(", ")
                )
            }));
        };
        let schedule = schedule_name(self.project(), environment, name);
        let timeout = found
            .timeout
            .map_or(Duration::from_secs(jobs::DEFAULT_TIMEOUT_SECS), |t| t.0);
        self.run_live_task(
            &found.app,
            &found.run.argv(),
            MANUAL_STARTER,
            Some(task_group(&schedule)),
            Some(timeout),
            output,
        )
        .await
    }

    /// Runs `command` as one task of `app`'s live task definition, its container's command
    /// replaced; follows it until it stops (stopping it after `timeout`) and returns the
    /// container's exit code.
    pub(crate) async fn run_live_task(
        &self,
        app: &str,
        command: &[String],
        started_by: &str,
        group: Option<String>,
        timeout: Option<Duration>,
        output: &mut (dyn FnMut(&str) + Send),
    ) -> Result<i64> {
        let say = self.ctx.log;
        let environment = self.ctx.environment;
        let live = self.store().live(environment)?.ok_or_else(|| {
            DeployError::Plan(format!(
                "`{environment}` has no live release: deploy it first (`slipway deploy {environment}`)"
            ))
        })?;
        let Some(task_definition) = live.apps.get(app).and_then(|a| a.task_definition.clone())
        else {
            let runs: Vec<&str> = live.apps.keys().map(String::as_str).collect();
            return Err(DeployError::Plan(format!(
                "the live release {} of `{environment}` does not run `{app}`; it runs {}",
                live.name(),
                runs.join(", ")
            )));
        };
        let task = OneOffTask {
            cluster: self.target.cluster.clone(),
            task_definition: task_definition.clone(),
            container: app.to_owned(),
            command: command.to_vec(),
            launch_type: self
                .target
                .launch_type
                .clone()
                .unwrap_or_else(|| "FARGATE".into()),
            subnets: self.target.subnets.clone(),
            security_groups: self.target.security_groups.clone(),
            assign_public_ip: self.target.assign_public_ip,
            started_by: started_by.to_owned(),
            group,
        };
        // Where its output will be is worked out before it starts, so a failed lookup leaves
        // no task running.
        let log = self.one_off_log(&task_definition, app).await?;
        let arn = self.ecs.run_task(&task).await?;
        say(&format!("started task {arn} of {task_definition}"));
        let mut reading = log.and_then(|log| log.of_task(&arn));
        match &reading {
            Some(reading) => {
                let (group, stream) = crate::ecs_logs::described(reading);
                say(&format!(
                    "its output: CloudWatch Logs group {group}, stream {stream}"
                ));
            }
            None => say(&format!(
                "`{app}` writes its output to no CloudWatch Logs group (`log_group` of the target): it is not shown"
            )),
        }
        let started = Instant::now();
        let mut stopping = false;
        let mut last = String::new();
        loop {
            let state = self.ecs.task_state(&self.target.cluster, &arn, app).await?;
            if state.status != last {
                say(&format!("task {}", state.status.to_lowercase()));
                last = state.status.clone();
            }
            if let Some(reading) = reading.as_mut() {
                self.one_off_output(reading, output).await?;
            }
            if state.stopped {
                if let Some(reading) = reading.as_mut() {
                    // The driver's last lines reach CloudWatch a moment after the task stops.
                    for _ in 0..crate::ecs::ONE_OFF_DRAIN_READS {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        self.one_off_output(reading, output).await?;
                        if crate::ecs_logs::found(reading) {
                            break;
                        }
                    }
                    if !crate::ecs_logs::found(reading) {
                        let (group, stream) = crate::ecs_logs::described(reading);
                        say(&format!(
                            "no output in CloudWatch Logs group {group}, stream {stream}"
                        ));
                    }
                }
                if stopping {
                    return Err(DeployError::Plan(format!(
                        "the task ran past its timeout of {}s and was stopped",
                        timeout.unwrap_or_default().as_secs()
                    )));
                }
                return match state.exit_code {
                    Some(code) => Ok(i64::from(code)),
                    None => Err(DeployError::Plan(format!(
                        "the task stopped before `{app}` ran: {}",
                        state.reason
                    ))),
                };
            }
            if let Some(limit) = timeout
                && !stopping
                && started.elapsed() >= limit
            {
                say(&format!(
                    "the task ran past its timeout of {}s; stopping it",
                    limit.as_secs()
                ));
                self.ecs
                    .stop_task(
                        &self.target.cluster,
                        &arn,
                        &format!("{TIMED_OUT} of {}s", limit.as_secs()),
                    )
                    .await?;
                stopping = true;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_named_after_its_project_environment_and_job_within_64_characters() {
        assert_eq!(schedule_name("shop", "prod", "report"), "shop-prod-report");
        let long = schedule_name(&"p".repeat(40), "production", "nightly-report-of-orders");
        assert_eq!(long.len(), MAX_NAME);
        assert!(long.starts_with(&schedule_prefix(&"p".repeat(40), "production")));
        assert_ne!(
            long,
            schedule_name(&"p".repeat(40), "production", "nightly-report-of-order"),
            "names cut alike differ by their hash"
        );
        assert!(slipway_aws::scheduler::check_name(&long).is_ok());
        assert!("shop-prod-report".starts_with(&schedule_prefix("shop", "prod")));
    }

    #[test]
    fn only_schedules_described_as_slipways_are_owned() {
        let text = description("shop", "prod", "report", "api");
        assert_eq!(
            owner(&text),
            Some(("shop".into(), "prod".into(), "report".into()))
        );
        assert_eq!(owner("nightly backup"), None);
        assert_eq!(owner("slipway project=shop job=report"), None);
        assert_eq!(owner(""), None);
    }

    fn task(status: &str, exit: Option<i32>, reason: &str, started_by: &str) -> GroupTask {
        GroupTask {
            arn: "arn:aws:ecs:eu-central-1:123456789012:task/shop/0a1b2c".into(),
            started_by: Some(started_by.into()),
            created_at: Some(1_700_000_000),
            stopped_at: (status == "STOPPED").then_some(1_700_000_060),
            status: status.into(),
            exit_code: exit,
            reason: reason.into(),
            task_definition: Some(
                "arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-prod-api:7".into(),
            ),
        }
    }

    #[test]
    fn a_task_of_the_jobs_group_is_a_run_with_its_outcome() {
        let from_history = |arn: &str| arn.ends_with(":7").then(|| "r12".to_owned());
        let nowhere = |_: &str| None;

        let ok = run_record(
            "report",
            &task("STOPPED", Some(0), "Essential container exited", "chronos"),
            &from_history,
        );
        assert_eq!(ok.id, "0a1b2c");
        assert_eq!(ok.outcome, Outcome::Succeeded);
        assert_eq!(ok.trigger, Trigger::Schedule);
        assert_eq!(ok.release, "r12");
        assert_eq!(ok.reason, None);
        assert_eq!(ok.finished_at, Some(1_700_000_060));

        let failed = run_record(
            "report",
            &task(
                "STOPPED",
                Some(2),
                "Essential container exited",
                MANUAL_STARTER,
            ),
            &nowhere,
        );
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.trigger, Trigger::Manual);
        assert_eq!(failed.exit_code, Some(2));
        assert_eq!(
            failed.release, "shop-prod-api:7",
            "the revision when no release has it"
        );
        assert_eq!(failed.reason.as_deref(), Some("Essential container exited"));

        let pull = run_record(
            "report",
            &task("STOPPED", None, "CannotPullContainerError", "chronos"),
            &nowhere,
        );
        assert_eq!(pull.outcome, Outcome::NotStarted);

        let late = run_record(
            "report",
            &task(
                "STOPPED",
                Some(137),
                &format!("{TIMED_OUT} of 60s"),
                MANUAL_STARTER,
            ),
            &nowhere,
        );
        assert_eq!(late.outcome, Outcome::TimedOut);

        let going = run_record("report", &task("RUNNING", None, "", "chronos"), &nowhere);
        assert_eq!(going.outcome, Outcome::Running);
        assert_eq!(going.finished_at, None);
    }

    #[test]
    fn a_schedule_read_back_from_eventbridge_has_its_next_run() {
        // 2026-12-05T00:00:00Z, a Saturday.
        let now = 1_796_428_800;
        // 03:00 in Paris is 02:00 UTC in winter.
        assert_eq!(
            jobs::next_run("cron(0 3 * * ? *)", "Europe/Paris", now),
            Some(now + 2 * 3_600)
        );
        // Weekdays only: Monday 04:30 UTC.
        assert_eq!(
            jobs::next_run("cron(30 4 ? * MON,TUE,WED,THU,FRI *)", "UTC", now),
            Some(now + 2 * 86_400 + 4 * 3_600 + 30 * 60)
        );
        assert_eq!(
            jobs::next_run("rate(15 minutes)", "UTC", now),
            Some(now + 15 * 60)
        );
    }

    #[test]
    fn a_task_definition_arn_is_shown_as_family_and_revision() {
        let arn = "arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-prod-api:7";
        assert_eq!(short_definition(arn), "shop-prod-api:7");
        assert_eq!(family(arn), "shop-prod-api");
    }
}
