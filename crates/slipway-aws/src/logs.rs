//! CloudWatch Logs of ECS tasks: where the `awslogs` driver writes each container's output
//! (stream `PREFIX/CONTAINER/TASK_ID` in the task definition's group), which tasks to read,
//! their lines merged in time order and labelled `TASK/CONTAINER`, and the environment's log
//! group made to exist before a deploy.
//!
//! The choices (streams, tasks, merging, labels) are pure functions; [`Logs`] is the client.

use aws_config::SdkConfig;

use crate::taskdef::TaskDefinition;
use crate::{AwsError, Result, api};

/// Where one container of a task definition sends its output (the `awslogs` driver's options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLog {
    /// The container's name in the task definition.
    pub container: String,
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-stream-prefix`.
    pub prefix: String,
    /// `awslogs-region`, when set.
    pub region: Option<String>,
}

/// The containers of `definition` whose output CloudWatch Logs has, and, apart, the names of
/// those whose output it has not (another driver, or `awslogs` without a stream prefix, whose
/// streams are named by Docker's container IDs, which ECS does not report).
pub fn awslogs_of(definition: &TaskDefinition) -> (Vec<ContainerLog>, Vec<String>) {
    let mut logged = Vec::new();
    let mut elsewhere = Vec::new();
    for container in &definition.container_definitions {
        let found = container
            .log_configuration
            .as_ref()
            .filter(|c| c.log_driver == "awslogs")
            .and_then(|c| {
                Some(ContainerLog {
                    container: container.name.clone(),
                    group: c.options.get("awslogs-group")?.clone(),
                    prefix: c.options.get("awslogs-stream-prefix")?.clone(),
                    region: c.options.get("awslogs-region").cloned(),
                })
            });
        match found {
            Some(log) => logged.push(log),
            None => elsewhere.push(container.name.clone()),
        }
    }
    (logged, elsewhere)
}

/// A task's ID: the last part of its ARN (`arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID`).
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A task ID as lines are labelled with it: its first 8 characters, as the ECS console's lists
/// tell tasks apart.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The stream the `awslogs` driver writes a container of a task to.
pub fn stream_name(prefix: &str, container: &str, task_id: &str) -> String {
    format!("{prefix}/{container}/{task_id}")
}

/// One stream to read, and the label of its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `TASK/CONTAINER`, the task's ID shortened.
    pub label: String,
    /// The log group.
    pub group: String,
    /// The stream in it.
    pub stream: String,
    /// The region the driver writes to, when the task definition names one.
    pub region: Option<String>,
}

/// The streams of `containers` in each of `tasks` (task ARNs), task by task.
pub fn sources(containers: &[ContainerLog], tasks: &[String]) -> Vec<Source> {
    let mut out = Vec::new();
    for arn in tasks {
        let id = task_id(arn);
        for log in containers {
            out.push(Source {
                label: format!("{}/{}", short_id(id), log.container),
                group: log.group.clone(),
                stream: stream_name(&log.prefix, &log.container, id),
                region: log.region.clone(),
            });
        }
    }
    out
}

/// A task as the choice of what to read sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSeen {
    /// Its ARN.
    pub arn: String,
    /// The task definition revision it runs.
    pub task_definition: String,
    /// Whether it has stopped.
    pub stopped: bool,
    /// When it stopped, in Unix milliseconds.
    pub stopped_at: Option<i64>,
}

/// How many stopped tasks are read when no `--since` says which: their last lines are why a
/// service keeps replacing them.
pub const STOPPED_SHOWN: usize = 3;

/// The tasks whose logs are read, of those seen (each once, in the order seen): every running
/// task of `revision`, and its tasks that stopped after `since` (Unix milliseconds), or without
/// `since` the [`STOPPED_SHOWN`] that stopped last. Tasks of another revision (an older release
/// still draining, a failed one) are never read.
pub fn choose_tasks(seen: &[TaskSeen], revision: &str, since: Option<i64>) -> Vec<String> {
    let mut unique: Vec<&TaskSeen> = Vec::new();
    for task in seen {
        if task.task_definition == revision && !unique.iter().any(|t| t.arn == task.arn) {
            unique.push(task);
        }
    }
    let mut stopped: Vec<&TaskSeen> = unique.iter().copied().filter(|t| t.stopped).collect();
    stopped.sort_by_key(|t| std::cmp::Reverse(t.stopped_at.unwrap_or(0)));
    let kept: Vec<&str> = match since {
        Some(since) => stopped
            .iter()
            .filter(|t| t.stopped_at.is_none_or(|at| at >= since))
            .map(|t| t.arn.as_str())
            .collect(),
        None => stopped
            .iter()
            .take(STOPPED_SHOWN)
            .map(|t| t.arn.as_str())
            .collect(),
    };
    unique
        .into_iter()
        .filter(|t| !t.stopped || kept.contains(&t.arn.as_str()))
        .map(|t| t.arn.clone())
        .collect()
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When it was written, Unix milliseconds.
    pub timestamp: i64,
    /// What was written (one line of the container's output, as the driver sends them).
    pub message: String,
}

/// The events of several streams as `(label, line)` in time order: events at the same
/// millisecond keep their streams' order, and a message of several lines gives each.
pub fn merge(batches: Vec<(String, Vec<Event>)>) -> Vec<(String, String)> {
    let mut all: Vec<(i64, usize, usize, String, String)> = Vec::new();
    for (stream, (label, events)) in batches.into_iter().enumerate() {
        for (index, event) in events.into_iter().enumerate() {
            all.push((event.timestamp, stream, index, label.clone(), event.message));
        }
    }
    // Within one stream the driver's order stands; across streams the time decides.
    all.sort_by_key(|(timestamp, stream, index, _, _)| (*timestamp, *stream, *index));
    let mut out = Vec::new();
    for (_, _, _, label, message) in all {
        let message = message.strip_suffix('\n').unwrap_or(&message);
        let message = message.strip_suffix('\r').unwrap_or(message);
        for line in message.split('\n') {
            out.push((label.clone(), line.trim_end_matches('\r').to_owned()));
        }
    }
    out
}

/// The Unix millisecond `since` before `now_ms` (never before 1970).
pub fn start_time(now_ms: i64, since: std::time::Duration) -> i64 {
    now_ms
        .saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        .max(0)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What one read of a stream gave: its events and where the next read goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// The token that reads on after them; `None` when the stream does not exist yet.
    pub forward: Option<String>,
}

/// Whether a log group existed or a deploy created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// It was there.
    Existed,
    /// It was created now.
    Created,
}

/// The CloudWatch Logs client: log groups and the events of streams.
#[derive(Debug, Clone)]
pub struct Logs {
    client: aws_sdk_cloudwatchlogs::Client,
}

/// The most events one GetLogEvents returns.
const MOST_EVENTS: usize = 10_000;

impl Logs {
    /// A client for the account, region and endpoint of `config`.
    pub fn new(config: &SdkConfig) -> Logs {
        Logs {
            client: aws_sdk_cloudwatchlogs::Client::new(config),
        }
    }

    /// Makes `group` exist with the caller's credentials: nothing when it does, created when
    /// not. A refusal to create it is an error that names the group and the permission.
    pub async fn ensure_group(&self, group: &str) -> Result<Group> {
        let described = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(group)
            .send()
            .await;
        match described {
            Ok(answer) => {
                if answer
                    .log_groups()
                    .iter()
                    .any(|g| g.log_group_name() == Some(group))
                {
                    return Ok(Group::Existed);
                }
            }
            // Without leave to list groups, creating it tells whether it exists.
            Err(error) if denied(&error) => {}
            Err(error) => return Err(api("DescribeLogGroups")(error)),
        }
        match self
            .client
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
        {
            Ok(_) => Ok(Group::Created),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) =>
            {
                Ok(Group::Existed)
            }
            Err(error) if denied(&error) => Err(AwsError::Missing(format!(
                "the CloudWatch Logs group `{group}` (`log_group` of the environment's target) does not exist, and these AWS credentials may not create it (permission `logs:CreateLogGroup` refused): create the group (`aws logs create-log-group --log-group-name {group}`, or `slipway aws scaffold`), or deploy with credentials that have `logs:CreateLogGroup`; nothing was changed"
            ))),
            Err(error) => Err(api("CreateLogGroup")(error)),
        }
    }

    /// The last `limit` events of a stream (those since `start`, Unix milliseconds, when given),
    /// and the token that reads on after them. A stream that does not exist yet (the task has
    /// written nothing) has none.
    pub async fn last(&self, source: &Source, start: Option<i64>, limit: usize) -> Result<Page> {
        let answer = self
            .client
            .get_log_events()
            .log_group_name(&source.group)
            .log_stream_name(&source.stream)
            .start_from_head(false)
            .set_start_time(start)
            .limit(limit.clamp(1, MOST_EVENTS) as i32)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) if missing(&error) => return Ok(Page::default()),
            Err(error) => return Err(api("GetLogEvents")(error)),
        };
        let mut events = events_of(answer.events());
        // `limit` 0 asks only for the place to go on from.
        events.drain(..events.len().saturating_sub(limit));
        Ok(Page {
            events,
            forward: answer.next_forward_token().map(str::to_owned),
        })
    }

    /// Every event of a stream after `forward` (from a [`Page`] read with the same `start`), or,
    /// without one, from its start (since `start`, when given); the page's token reads on after
    /// them.
    pub async fn after(
        &self,
        source: &Source,
        forward: Option<&str>,
        start: Option<i64>,
    ) -> Result<Page> {
        let mut token = forward.map(str::to_owned);
        let mut events = Vec::new();
        loop {
            // The same window with the token as without: a token counts within it.
            let request = self
                .client
                .get_log_events()
                .log_group_name(&source.group)
                .log_stream_name(&source.stream)
                .start_from_head(true)
                .set_start_time(start)
                .set_next_token(token.clone());
            let answer = match request.send().await {
                Ok(answer) => answer,
                Err(error) if missing(&error) && token.is_none() => return Ok(Page::default()),
                Err(error) => return Err(api("GetLogEvents")(error)),
            };
            let page = events_of(answer.events());
            let next = answer.next_forward_token().map(str::to_owned);
            // The same token back means the end of the stream for now.
            let done = page.is_empty() || next.is_none() || next == token;
            events.extend(page);
            if next.is_some() {
                token = next;
            }
            if done {
                return Ok(Page {
                    events,
                    forward: token,
                });
            }
        }
    }
}

fn events_of(events: &[aws_sdk_cloudwatchlogs::types::OutputLogEvent]) -> Vec<Event> {
    events
        .iter()
        .map(|e| Event {
            timestamp: e.timestamp().unwrap_or(0),
            message: e.message().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Whether AWS refused the call for want of permission.
fn denied<E, R>(error: &aws_sdk_cloudwatchlogs::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata,
{
    error.as_service_error().is_some_and(|e| {
        e.code().is_some_and(|code| {
            let code = code.to_ascii_lowercase();
            code.contains("accessdenied") || code.contains("unauthorized")
        })
    })
}

fn missing(
    error: &aws_sdk_cloudwatchlogs::error::SdkError<
        aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsError,
        aws_sdk_cloudwatchlogs::config::http::HttpResponse,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_resource_not_found_exception())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::taskdef::{AppTask, SidecarTask, render};

    fn definition(log_group: Option<&str>) -> TaskDefinition {
        render(&AppTask {
            family: "shop-prod-api".into(),
            container: "api".into(),
            image: "r/api@sha256:ab".into(),
            launch_type: "FARGATE".into(),
            log_group: log_group.map(str::to_owned),
            region: "eu-central-1".into(),
            sidecars: vec![SidecarTask {
                name: "xray".into(),
                image: "amazon/aws-xray-daemon".into(),
                ..SidecarTask::default()
            }],
            ..AppTask::default()
        })
    }

    #[test]
    fn streams_are_named_as_the_awslogs_driver_names_them_for_each_task() {
        let (logged, elsewhere) = awslogs_of(&definition(Some("/ecs/shop-prod")));
        assert!(elsewhere.is_empty());
        assert_eq!(
            logged[0],
            ContainerLog {
                container: "api".into(),
                group: "/ecs/shop-prod".into(),
                prefix: "api".into(),
                region: Some("eu-central-1".into()),
            }
        );
        let tasks = [
            "arn:aws:ecs:eu-central-1:123456789012:task/shop/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
                .to_owned(),
            "arn:aws:ecs:eu-central-1:123456789012:task/shop/ffeeddccbbaa99887766554433221100"
                .to_owned(),
        ];
        let found: Vec<(String, String)> = sources(&logged, &tasks)
            .into_iter()
            .map(|s| (s.label, s.stream))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "0a1b2c3d/api".to_owned(),
                    "api/api/0a1b2c3d4e5f60718293a4b5c6d7e8f9".to_owned()
                ),
                (
                    "0a1b2c3d/xray".to_owned(),
                    "xray/xray/0a1b2c3d4e5f60718293a4b5c6d7e8f9".to_owned()
                ),
                (
                    "ffeeddcc/api".to_owned(),
                    "api/api/ffeeddccbbaa99887766554433221100".to_owned()
                ),
                (
                    "ffeeddcc/xray".to_owned(),
                    "xray/xray/ffeeddccbbaa99887766554433221100".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn containers_that_do_not_log_to_cloudwatch_are_named_apart() {
        let (logged, elsewhere) = awslogs_of(&definition(None));
        assert!(logged.is_empty());
        assert_eq!(elsewhere, ["api", "xray"]);
        // An imported definition whose driver has no stream prefix: ECS names its streams by
        // container IDs it does not report.
        let mut imported = definition(Some("shop"));
        imported.container_definitions[1]
            .log_configuration
            .as_mut()
            .unwrap()
            .options = BTreeMap::from([("awslogs-group".into(), "shop".into())]);
        let (logged, elsewhere) = awslogs_of(&imported);
        assert_eq!(logged.len(), 1);
        assert_eq!(elsewhere, ["xray"]);
    }

    #[test]
    fn task_ids_come_from_arns_and_are_shortened_for_labels() {
        assert_eq!(
            task_id("arn:aws:ecs:eu-central-1:1:task/shop/0123456789abcdef"),
            "0123456789abcdef"
        );
        assert_eq!(task_id("0123456789abcdef"), "0123456789abcdef");
        assert_eq!(short_id("0123456789abcdef"), "01234567");
        assert_eq!(short_id("abc"), "abc");
    }

    fn seen(arn: &str, revision: &str, stopped_at: Option<i64>) -> TaskSeen {
        TaskSeen {
            arn: arn.into(),
            task_definition: revision.into(),
            stopped: stopped_at.is_some(),
            stopped_at,
        }
    }

    #[test]
    fn running_tasks_of_the_live_revision_and_the_last_stopped_ones_are_read() {
        let tasks = [
            seen("a", "api:2", None),
            seen("old", "api:1", None),
            seen("a", "api:2", None),
            seen("s1", "api:2", Some(1_000)),
            seen("s2", "api:2", Some(5_000)),
            seen("s3", "api:2", Some(3_000)),
            seen("s4", "api:2", Some(4_000)),
            seen("b", "api:2", None),
        ];
        // Without --since: every running task once, and the three that stopped last.
        assert_eq!(
            choose_tasks(&tasks, "api:2", None),
            ["a", "s2", "s3", "s4", "b"]
        );
        // With it: the stopped ones in the window.
        assert_eq!(
            choose_tasks(&tasks, "api:2", Some(3_500)),
            ["a", "s2", "s4", "b"]
        );
        assert!(choose_tasks(&tasks, "api:3", None).is_empty());
    }

    fn event(timestamp: i64, message: &str) -> Event {
        Event {
            timestamp,
            message: message.into(),
        }
    }

    #[test]
    fn lines_of_several_tasks_are_merged_in_time_order_and_labelled() {
        let merged = merge(vec![
            (
                "0a1b2c3d/api".into(),
                vec![
                    event(10, "a first"),
                    event(30, "a second\n"),
                    event(30, "a third"),
                ],
            ),
            (
                "ffeeddcc/api".into(),
                vec![event(20, "b first\r\n"), event(30, "b two\nlines")],
            ),
        ]);
        let lines: Vec<String> = merged
            .iter()
            .map(|(label, line)| format!("{label} | {line}"))
            .collect();
        assert_eq!(
            lines,
            [
                "0a1b2c3d/api | a first",
                "ffeeddcc/api | b first",
                "0a1b2c3d/api | a second",
                "0a1b2c3d/api | a third",
                "ffeeddcc/api | b two",
                "ffeeddcc/api | lines",
            ]
        );
        assert!(merge(Vec::new()).is_empty());
    }

    #[test]
    fn since_counts_back_from_now() {
        assert_eq!(
            start_time(10_000_000, std::time::Duration::from_secs(3600)),
            10_000_000 - 3_600_000
        );
        assert_eq!(start_time(5, std::time::Duration::from_secs(u64::MAX)), 0);
    }
}
