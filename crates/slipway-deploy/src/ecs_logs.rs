//! The output of an ECS environment's tasks, read from CloudWatch Logs: `slipway logs` on the
//! live release's tasks, the one-off task of `slipway run`, and the log group a deploy makes
//! exist first. Which streams and in what order is `slipway_aws::logs`'s pure part.

use std::time::Duration;

use slipway_aws::logs::{self, ContainerLog, Group, Logs, Source};

use crate::ecs::{COLOURS, EcsRollout};
use crate::{DeployError, Result};

/// How often a followed log is read again.
const POLL: Duration = Duration::from_secs(2);

/// How many reads between two looks for tasks that started or stopped.
const RELIST_EVERY: u32 = 5;

/// One app whose tasks' logs are read: the live release's revision and its logged containers.
#[derive(Debug)]
struct Watched {
    app: String,
    revision: String,
    containers: Vec<ContainerLog>,
}

/// A stream being read, with its client (the region its driver writes to) and where it is.
#[derive(Debug)]
pub(crate) struct Reading {
    source: Source,
    client: Logs,
    forward: Option<String>,
}

impl EcsRollout<'_> {
    /// A client for the region a stream is in (the environment's unless the task definition
    /// names another).
    async fn logs_in(&self, region: Option<&str>) -> Logs {
        match region {
            Some(region) if region != self.region() => {
                Logs::new(&slipway_aws::load_config(Some(region)).await)
            }
            _ => self.logs.clone(),
        }
    }

    /// Before a deploy changes anything: the environment's log group exists (created now with
    /// the caller's credentials when it does not; an error naming the permission when that is
    /// refused).
    pub(crate) async fn ensure_log_group(&self) -> Result<()> {
        let Some(group) = &self.target.log_group else {
            return Ok(());
        };
        if self.logs.ensure_group(group).await? == Group::Created {
            self.log(&format!("created the CloudWatch Logs group {group}"));
        }
        Ok(())
    }

    /// The logs of the live release's tasks (of `app` only, when given) in CloudWatch Logs: the
    /// last `tail` lines of each task's containers (of those from `since`, Unix seconds), merged in time
    /// order, then, with `follow`, what they write until none of them runs. Each line goes to
    /// `line` with its label, `TASK/CONTAINER`.
    pub async fn logs(
        &self,
        app: Option<&str>,
        since: Option<i64>,
        tail: usize,
        follow: bool,
        line: &mut (dyn FnMut(&str, &str) + Send),
    ) -> Result<()> {
        let environment = self.environment();
        let live = crate::live::live_running(self.store(), environment, app)?;
        let mut watched = Vec::new();
        for (name, entry) in &live.apps {
            if app.is_some_and(|wanted| wanted != name) {
                continue;
            }
            let Some(revision) = &entry.task_definition else {
                continue;
            };
            let definition = self.ecs.task_definition(revision).await?;
            let (containers, elsewhere) = logs::awslogs_of(&definition);
            for container in &elsewhere {
                self.log(&format!(
                    "`{name}`: the container {container} does not write to CloudWatch Logs under a stream prefix; its output is not shown"
                ));
            }
            if !containers.is_empty() {
                watched.push(Watched {
                    app: name.clone(),
                    revision: revision.clone(),
                    containers,
                });
            }
        }
        if watched.is_empty() {
            return Err(DeployError::Plan(format!(
                "the live release {} of `{environment}` sends no output to CloudWatch Logs: set `log_group` in [environments.{environment}.target] and deploy again",
                live.name()
            )));
        }
        let start = since.map(|at| at.max(0).saturating_mul(1000));

        let (chosen, mut running) = self.live_tasks(&watched, start).await?;
        let mut reading = Vec::new();
        let mut batches = Vec::new();
        for source in chosen {
            let client = self.logs_in(source.region.as_deref()).await;
            let page = client.last(&source, start, tail).await?;
            batches.push((source.label.clone(), page.events));
            reading.push(Reading {
                source,
                client,
                forward: page.forward,
            });
        }
        if reading.is_empty() {
            self.log(&format!(
                "no task of `{environment}` runs the live release {} (see `slipway status {environment}`)",
                live.name()
            ));
        }
        for (label, text) in logs::merge(batches) {
            line(&label, &text);
        }
        let mut round = 0;
        while follow && running {
            tokio::time::sleep(POLL).await;
            round += 1;
            if round % RELIST_EVERY == 0 {
                let (chosen, still) = self.live_tasks(&watched, start).await?;
                running = still;
                for source in chosen {
                    let known = reading.iter().any(|r| {
                        r.source.stream == source.stream && r.source.group == source.group
                    });
                    if !known {
                        let client = self.logs_in(source.region.as_deref()).await;
                        reading.push(Reading {
                            source,
                            client,
                            forward: None,
                        });
                    }
                }
            }
            let mut batches = Vec::new();
            for stream in &mut reading {
                let page = stream
                    .client
                    .after(&stream.source, stream.forward.as_deref(), start)
                    .await?;
                if page.forward.is_some() {
                    stream.forward = page.forward;
                }
                batches.push((stream.source.label.clone(), page.events));
            }
            for (label, text) in logs::merge(batches) {
                line(&label, &text);
            }
        }
        Ok(())
    }

    /// The streams of the tasks that run each watched app's revision (and of those that
    /// stopped lately, see [`logs::choose_tasks`]), and whether any of them still runs.
    async fn live_tasks(
        &self,
        watched: &[Watched],
        start: Option<i64>,
    ) -> Result<(Vec<Source>, bool)> {
        let mut sources = Vec::new();
        let mut running = false;
        for app in watched {
            let base = self.service_name(&app.app);
            let mut seen = Vec::new();
            for service in std::iter::once(base.clone())
                .chain(COLOURS.iter().map(|colour| format!("{base}-{colour}")))
            {
                seen.extend(self.ecs.tasks_of(self.cluster(), &service).await?);
            }
            running |= seen
                .iter()
                .any(|t| t.task_definition == app.revision && !t.stopped);
            let tasks = logs::choose_tasks(&seen, &app.revision, start);
            sources.extend(logs::sources(&app.containers, &tasks));
        }
        Ok((sources, running))
    }

    /// Where a one-off task of `revision` will write `app`'s output, when it does: asked before
    /// the task starts, so a failure leaves nothing running.
    pub(crate) async fn one_off_log(&self, revision: &str, app: &str) -> Result<Option<OneOffLog>> {
        let definition = self.ecs.task_definition(revision).await?;
        let (containers, _) = logs::awslogs_of(&definition);
        let Some(container) = containers.into_iter().find(|c| c.container == app) else {
            return Ok(None);
        };
        let client = self.logs_in(container.region.as_deref()).await;
        Ok(Some(OneOffLog { container, client }))
    }

    /// What a one-off task wrote since the last read, as lines to `output`.
    pub(crate) async fn one_off_output(
        &self,
        reading: &mut Reading,
        output: &mut (dyn FnMut(&str) + Send),
    ) -> Result<()> {
        let page = reading
            .client
            .after(&reading.source, reading.forward.as_deref(), None)
            .await?;
        if page.forward.is_some() {
            reading.forward = page.forward;
        }
        for (_, text) in logs::merge(vec![(String::new(), page.events)]) {
            output(&format!("{text}\n"));
        }
        Ok(())
    }
}

/// Where a one-off task's app container writes, before the task has an ID.
#[derive(Debug)]
pub(crate) struct OneOffLog {
    container: ContainerLog,
    client: Logs,
}

impl OneOffLog {
    /// The stream of the task `arn`, to be read from its start.
    pub(crate) fn of_task(self, arn: &str) -> Option<Reading> {
        let source = logs::sources(std::slice::from_ref(&self.container), &[arn.to_owned()])
            .into_iter()
            .next()?;
        Some(Reading {
            source,
            client: self.client,
            forward: None,
        })
    }
}

/// The group and stream of a reading, for people.
pub(crate) fn described(reading: &Reading) -> (String, String) {
    (reading.source.group.clone(), reading.source.stream.clone())
}

/// Whether the stream has been found (it exists once the task has written something).
pub(crate) fn found(reading: &Reading) -> bool {
    reading.forward.is_some()
}
