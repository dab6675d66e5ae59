//! EventBridge Scheduler schedules that run an ECS task: the scheduled jobs of an ECS
//! environment. A schedule is described by [`EcsSchedule`]; what it is sent as (the target, its
//! ECS parameters and the container override of its input) is built without I/O, so it is
//! tested without AWS, and read back into the same shape, so a deploy can tell whether a
//! schedule already says what it would write.

use aws_config::SdkConfig;
use aws_sdk_scheduler::types as sch;
use serde::{Deserialize, Serialize};

use crate::{AwsError, Result, api};

/// The longest schedule name EventBridge Scheduler takes.
pub const MAX_NAME: usize = 64;

/// The schedule group slipway's schedules are kept in (every account has it).
pub const GROUP: &str = "default";

/// One schedule that runs an ECS task: when, and the task it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsSchedule {
    /// The schedule's name (at most [`MAX_NAME`] characters).
    pub name: String,
    /// Its description, which says whose it is.
    pub description: String,
    /// `cron(...)`, `rate(...)` or `at(...)`, as EventBridge Scheduler writes it.
    pub expression: String,
    /// IANA time zone the expression is read in.
    pub timezone: String,
    /// ARN of the ECS cluster the task runs in.
    pub cluster_arn: String,
    /// ARN of the IAM role EventBridge Scheduler starts the task as.
    pub role_arn: String,
    /// ARN of the task definition revision the task runs.
    pub task_definition: String,
    /// `FARGATE`, `EC2` or `EXTERNAL`.
    pub launch_type: String,
    /// Subnets of the task's network interface (awsvpc); none for other network modes.
    pub subnets: Vec<String>,
    /// Its security groups.
    pub security_groups: Vec<String>,
    /// Whether it gets a public IP.
    pub assign_public_ip: bool,
    /// The ECS task group the task is started in (how its runs are found again).
    pub task_group: String,
    /// The container whose command is replaced.
    pub container: String,
    /// The command it runs.
    pub command: Vec<String>,
}

/// The `Input` of an ECS target: the task's overrides, as ECS's RunTask takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Overrides {
    container_overrides: Vec<ContainerOverride>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ContainerOverride {
    name: String,
    #[serde(default)]
    command: Vec<String>,
}

/// The target's `Input`: `{"containerOverrides":[{"name":CONTAINER,"command":[...]}]}`.
pub fn overrides_input(container: &str, command: &[String]) -> String {
    serde_json::to_string(&Overrides {
        container_overrides: vec![ContainerOverride {
            name: container.to_owned(),
            command: command.to_vec(),
        }],
    })
    .expect("overrides serialize")
}

/// The container and command an `Input` overrides, when it is such overrides of one container.
pub fn read_overrides(input: &str) -> Option<(String, Vec<String>)> {
    let overrides: Overrides = serde_json::from_str(input).ok()?;
    match overrides.container_overrides.as_slice() {
        [only] => Some((only.name.clone(), only.command.clone())),
        _ => None,
    }
}

/// The schedule's target: `RunTask` of its task definition in its cluster, as its role.
pub fn target(schedule: &EcsSchedule) -> Result<sch::Target> {
    let mut ecs = sch::EcsParameters::builder()
        .task_definition_arn(&schedule.task_definition)
        .task_count(1)
        .launch_type(sch::LaunchType::from(schedule.launch_type.as_str()))
        .group(&schedule.task_group);
    if !schedule.subnets.is_empty() {
        ecs = ecs.network_configuration(
            sch::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    sch::AwsVpcConfiguration::builder()
                        .set_subnets(Some(schedule.subnets.clone()))
                        .set_security_groups(
                            (!schedule.security_groups.is_empty())
                                .then(|| schedule.security_groups.clone()),
                        )
                        .assign_public_ip(if schedule.assign_public_ip {
                            sch::AssignPublicIp::Enabled
                        } else {
                            sch::AssignPublicIp::Disabled
                        })
                        .build()
                        .map_err(api("CreateSchedule"))?,
                )
                .build(),
        );
    }
    sch::Target::builder()
        .arn(&schedule.cluster_arn)
        .role_arn(&schedule.role_arn)
        .input(overrides_input(&schedule.container, &schedule.command))
        .ecs_parameters(ecs.build().map_err(api("CreateSchedule"))?)
        // A run that cannot start within the hour is dropped rather than started late.
        .retry_policy(
            sch::RetryPolicy::builder()
                .maximum_event_age_in_seconds(3_600)
                .maximum_retry_attempts(10)
                .build(),
        )
        .build()
        .map_err(api("CreateSchedule"))
}

/// A schedule as EventBridge Scheduler describes it, in the shape it is written in; `None` when
/// its target is not one ECS task with one container's command replaced.
pub fn read_back(
    name: &str,
    description: Option<&str>,
    expression: Option<&str>,
    timezone: Option<&str>,
    target: Option<&sch::Target>,
) -> Option<EcsSchedule> {
    let target = target?;
    let ecs = target.ecs_parameters()?;
    let (container, command) = read_overrides(target.input()?)?;
    let vpc = ecs
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    Some(EcsSchedule {
        name: name.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        expression: expression?.to_owned(),
        timezone: timezone.unwrap_or("UTC").to_owned(),
        cluster_arn: target.arn().to_owned(),
        role_arn: target.role_arn().to_owned(),
        task_definition: ecs.task_definition_arn().to_owned(),
        launch_type: ecs
            .launch_type()
            .map_or("FARGATE", |l| l.as_str())
            .to_owned(),
        subnets: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
        security_groups: vpc
            .map(|v| v.security_groups().to_vec())
            .unwrap_or_default(),
        assign_public_ip: vpc
            .and_then(|v| v.assign_public_ip())
            .is_some_and(|a| *a == sch::AssignPublicIp::Enabled),
        task_group: ecs.group().unwrap_or_default().to_owned(),
        container,
        command,
    })
}

/// The EventBridge Scheduler client of the ECS environments' jobs.
#[derive(Debug, Clone)]
pub struct Scheduler {
    client: aws_sdk_scheduler::Client,
}

/// A schedule found by [`Scheduler::get`]: in slipway's shape when its target is an ECS task
/// slipway could have written, otherwise only its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An ECS task with one container's command replaced.
    Ecs(Box<EcsSchedule>),
    /// Something else; its description.
    Other(String),
}

impl Found {
    /// The schedule's description.
    pub fn description(&self) -> &str {
        match self {
            Found::Ecs(schedule) => &schedule.description,
            Found::Other(description) => description,
        }
    }
}

impl Scheduler {
    /// A client for the account, region and endpoint of `config`.
    pub fn new(config: &SdkConfig) -> Scheduler {
        Scheduler {
            client: aws_sdk_scheduler::Client::new(config),
        }
    }

    /// Creates the schedule, or updates the one of that name.
    pub async fn put(&self, schedule: &EcsSchedule) -> Result<()> {
        check_name(&schedule.name)?;
        let target = target(schedule)?;
        let window = sch::FlexibleTimeWindow::builder()
            .mode(sch::FlexibleTimeWindowMode::Off)
            .build()
            .map_err(api("CreateSchedule"))?;
        let exists = self.get(&schedule.name).await?.is_some();
        if exists {
            self.client
                .update_schedule()
                .name(&schedule.name)
                .group_name(GROUP)
                .description(&schedule.description)
                .schedule_expression(&schedule.expression)
                .schedule_expression_timezone(&schedule.timezone)
                .state(sch::ScheduleState::Enabled)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(api("UpdateSchedule"))?;
        } else {
            self.client
                .create_schedule()
                .name(&schedule.name)
                .group_name(GROUP)
                .description(&schedule.description)
                .schedule_expression(&schedule.expression)
                .schedule_expression_timezone(&schedule.timezone)
                .state(sch::ScheduleState::Enabled)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(api("CreateSchedule"))?;
        }
        Ok(())
    }

    /// Deletes the schedule; one already gone is no error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(GROUP)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(api("DeleteSchedule")(error)),
        }
    }

    /// The names of the schedules whose names start with `prefix` (cut to what the API takes).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix: String = prefix.chars().take(MAX_NAME).collect();
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .client
                .list_schedules()
                .group_name(GROUP)
                .name_prefix(&prefix)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(api("ListSchedules"))?;
            names.extend(
                answer
                    .schedules()
                    .iter()
                    .filter_map(|s| s.name())
                    .filter(|name| name.starts_with(&prefix))
                    .map(str::to_owned),
            );
            token = answer.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        names.sort();
        Ok(names)
    }

    /// The schedule of that name, if there is one.
    pub async fn get(&self, name: &str) -> Result<Option<Found>> {
        let answer = match self
            .client
            .get_schedule()
            .name(name)
            .group_name(GROUP)
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(api("GetSchedule")(error)),
        };
        let description = answer.description().unwrap_or_default();
        Ok(Some(
            match read_back(
                name,
                Some(description),
                answer.schedule_expression(),
                answer.schedule_expression_timezone(),
                answer.target(),
            ) {
                Some(schedule) => Found::Ecs(Box::new(schedule)),
                None => Found::Other(description.to_owned()),
            },
        ))
    }
}

/// A schedule named `name` is refused by the API when it is longer than [`MAX_NAME`] or has
/// other characters than letters, digits, `.`, `-` and `_`.
pub fn check_name(name: &str) -> Result<()> {
    let fits = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if fits {
        Ok(())
    } else {
        Err(AwsError::Plan(format!(
            "`{name}` cannot name an EventBridge schedule: at most {MAX_NAME} letters, digits, `.`, `-` and `_`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> EcsSchedule {
        EcsSchedule {
            name: "shop-prod-report".into(),
            description: "slipway job".into(),
            expression: "cron(0 3 * * ? *)".into(),
            timezone: "Europe/Paris".into(),
            cluster_arn: "arn:aws:ecs:eu-central-1:123456789012:cluster/shop".into(),
            role_arn: "arn:aws:iam::123456789012:role/shop-scheduler".into(),
            task_definition:
                "arn:aws:ecs:eu-central-1:123456789012:task-definition/shop-prod-api:7".into(),
            launch_type: "FARGATE".into(),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-1".into()],
            assign_public_ip: false,
            task_group: "slipway-job:report".into(),
            container: "api".into(),
            command: vec!["python3".into(), "-m".into(), "api.report".into()],
        }
    }

    #[test]
    fn the_input_replaces_the_app_containers_command() {
        let input = overrides_input("api", &["sh".into(), "-c".into(), "echo \"hi\"".into()]);
        assert_eq!(
            input,
            r#"{"containerOverrides":[{"name":"api","command":["sh","-c","echo \"hi\""]}]}"#
        );
        assert_eq!(
            read_overrides(&input),
            Some((
                "api".to_owned(),
                vec!["sh".to_owned(), "-c".to_owned(), "echo \"hi\"".to_owned()]
            ))
        );
        assert_eq!(read_overrides("not json"), None);
        assert_eq!(read_overrides(r#"{"containerOverrides":[]}"#), None);
    }

    #[test]
    fn the_target_runs_one_task_of_the_definition_in_the_environments_network() {
        let built = target(&schedule()).unwrap();
        assert_eq!(
            built.arn(),
            "arn:aws:ecs:eu-central-1:123456789012:cluster/shop"
        );
        assert_eq!(
            built.role_arn(),
            "arn:aws:iam::123456789012:role/shop-scheduler"
        );
        let ecs = built.ecs_parameters().unwrap();
        assert!(
            ecs.task_definition_arn()
                .ends_with("task-definition/shop-prod-api:7")
        );
        assert_eq!(ecs.task_count(), Some(1));
        assert_eq!(ecs.launch_type(), Some(&sch::LaunchType::Fargate));
        assert_eq!(ecs.group(), Some("slipway-job:report"));
        let vpc = ecs
            .network_configuration()
            .unwrap()
            .awsvpc_configuration()
            .unwrap();
        assert_eq!(vpc.subnets(), ["subnet-a", "subnet-b"]);
        assert_eq!(vpc.security_groups(), ["sg-1"]);
        assert_eq!(vpc.assign_public_ip(), Some(&sch::AssignPublicIp::Disabled));
        assert_eq!(
            built.input(),
            Some(
                r#"{"containerOverrides":[{"name":"api","command":["python3","-m","api.report"]}]}"#
            )
        );
    }

    #[test]
    fn a_schedule_reads_back_as_it_was_written() {
        let written = schedule();
        let built = target(&written).unwrap();
        let read = read_back(
            &written.name,
            Some(&written.description),
            Some(&written.expression),
            Some(&written.timezone),
            Some(&built),
        );
        assert_eq!(read, Some(written.clone()));

        // Without subnets (bridge networking on EC2) there is no network configuration.
        let bridge = EcsSchedule {
            subnets: Vec::new(),
            security_groups: Vec::new(),
            launch_type: "EC2".into(),
            ..written
        };
        let built = target(&bridge).unwrap();
        assert!(
            built
                .ecs_parameters()
                .unwrap()
                .network_configuration()
                .is_none()
        );
        let read = read_back(
            &bridge.name,
            Some(&bridge.description),
            Some(&bridge.expression),
            Some(&bridge.timezone),
            Some(&built),
        );
        assert_eq!(read, Some(bridge));
    }

    #[test]
    fn names_the_api_refuses_are_caught_before_it_is_asked() {
        assert!(check_name("shop-prod-report").is_ok());
        assert!(check_name(&"a".repeat(MAX_NAME)).is_ok());
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
        assert!(check_name("shop/prod").is_err());
        assert!(check_name("").is_err());
    }
}
