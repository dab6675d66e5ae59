//! The ECS and ELBv2 calls a deploy makes: register a task definition, create or update a
//! service and follow it to a steady state, read and move an ALB listener's forward weights.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_ecs::types as ecs;
use aws_sdk_elasticloadbalancingv2::types as elb;

use crate::taskdef::TaskDefinition;
use crate::{AwsError, Result, api};

/// A service as a deploy needs to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    /// The service's name.
    pub name: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// ARN of the task definition the service runs.
    pub task_definition: Option<String>,
    /// Tasks wanted.
    pub desired: i32,
    /// Tasks running.
    pub running: i32,
    /// Its deployments, the primary (newest) among them.
    pub deployments: Vec<DeploymentState>,
    /// Newest first.
    pub events: Vec<String>,
}

/// One deployment of a service: a task definition being rolled out or replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentState {
    /// ECS's ID of the deployment.
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// ARN of the task definition it rolls out.
    pub task_definition: Option<String>,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`, when ECS reports it.
    pub rollout_state: Option<String>,
    /// Why the rollout is in its state, when ECS says.
    pub rollout_reason: Option<String>,
    /// Tasks wanted.
    pub desired: i32,
    /// Tasks running.
    pub running: i32,
    /// Tasks that failed to start.
    pub failed_tasks: i32,
}

/// A one-off task: the live release's task definition, its app container's command replaced.
#[derive(Debug, Clone)]
pub struct OneOffTask {
    /// The cluster.
    pub cluster: String,
    /// The task definition revision the live release registered for the app.
    pub task_definition: String,
    /// The app's container, whose command is replaced.
    pub container: String,
    /// The command it runs instead.
    pub command: Vec<String>,
    /// `FARGATE` or `EC2`.
    pub launch_type: String,
    /// Subnets of the task's network interface (awsvpc).
    pub subnets: Vec<String>,
    /// Its security groups.
    pub security_groups: Vec<String>,
    /// Whether it gets a public IP.
    pub assign_public_ip: bool,
    /// Who started it, as ECS records it (`startedBy`, at most 36 characters).
    pub started_by: String,
    /// The task group it is started in, when not ECS's default (`family:NAME`).
    pub group: Option<String>,
}

/// A task of a task group (the runs of a scheduled job), as ECS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTask {
    /// The task's ARN.
    pub arn: String,
    /// Who started it (`startedBy`).
    pub started_by: Option<String>,
    /// Unix seconds it was created.
    pub created_at: Option<i64>,
    /// Unix seconds it stopped, once it has.
    pub stopped_at: Option<i64>,
    /// ECS's last status.
    pub status: String,
    /// The container's exit code, once it has one.
    pub exit_code: Option<i32>,
    /// Why it stopped, as ECS says.
    pub reason: String,
    /// The task definition it ran.
    pub task_definition: Option<String>,
}

/// Where a one-off task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// ECS's last status (`PROVISIONING`, `RUNNING`, `STOPPED`...).
    pub status: String,
    /// Whether it has stopped.
    pub stopped: bool,
    /// The app container's exit code, once it has one.
    pub exit_code: Option<i32>,
    /// Why it stopped, as ECS says.
    pub reason: String,
}

/// What a new service is created with.
#[derive(Debug, Clone, Default)]
pub struct ServiceSpec {
    /// The cluster's name or ARN.
    pub cluster: String,
    /// The service's name.
    pub name: String,
    /// ARN of the task definition to run.
    pub task_definition: String,
    /// Tasks wanted.
    pub desired: i32,
    /// `FARGATE` or `EC2`.
    pub launch_type: String,
    /// Subnets of the tasks' network interfaces.
    pub subnets: Vec<String>,
    /// Security groups of the tasks' network interfaces.
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP (Fargate in a public subnet without a NAT).
    pub assign_public_ip: bool,
    /// Target group, container name, container port.
    pub load_balancer: Option<(String, String, u16)>,
    /// For ECS's own blue-green, canary and linear deployments.
    pub traffic_shift: Option<TrafficShift>,
    /// Resource tags (key, value).
    pub tags: Vec<(String, String)>,
}

/// What ECS needs to move traffic itself: the second target group, the listener rule it
/// rewrites, and the role it does so with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficShift {
    /// ARN of the target group the new tasks start behind.
    pub alternate_target_group: String,
    /// ARN of the listener rule whose forward ECS rewrites.
    pub production_listener_rule: String,
    /// ARN of the role ECS changes the load balancer as.
    pub role_arn: String,
}

/// ECS's own deployment strategies (the service's `deploymentConfiguration.strategy`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Native {
    /// All traffic moves at once, after the new tasks are healthy.
    BlueGreen {
        /// Minutes the old tasks are kept for a rollback after the switch.
        bake_minutes: i32,
    },
    /// A share of the traffic first, the rest after a wait.
    Canary {
        /// Percent of the traffic the first step moves.
        percent: f64,
        /// Minutes between the steps and after the last.
        bake_minutes: i32,
    },
    /// The traffic moves in equal steps.
    Linear {
        /// Percent of the traffic each step moves.
        step_percent: f64,
        /// Minutes between the steps and after the last.
        bake_minutes: i32,
    },
}

/// How a deployment replaces tasks: a rolling update's percentages, or one of ECS's own
/// strategies; CloudWatch alarms that roll it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Rolling {
    /// Percent of the desired tasks that must stay running during a rolling update.
    pub minimum_healthy_percent: i32,
    /// Percent of the desired tasks that may run at once during a rolling update.
    pub maximum_percent: i32,
    /// One of ECS's own traffic-shifting strategies instead of a rolling update.
    pub native: Option<Native>,
    /// Names of the CloudWatch alarms that roll the deployment back.
    pub alarms: Vec<String>,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            native: None,
            alarms: Vec::new(),
        }
    }
}

/// The ECS and load balancer clients the deploys and status use.
#[derive(Debug, Clone)]
pub struct Ecs {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Ecs {
    /// Clients for the account, region and endpoint of `config`.
    pub fn new(config: &SdkConfig) -> Ecs {
        Ecs {
            ecs: aws_sdk_ecs::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
        }
    }

    /// An error unless the cluster exists and is active.
    pub async fn check_cluster(&self, cluster: &str) -> Result<()> {
        let answer = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(api("DescribeClusters"))?;
        let active = answer
            .clusters()
            .iter()
            .any(|c| c.status() == Some("ACTIVE"));
        if active {
            Ok(())
        } else {
            Err(AwsError::Missing(format!(
                "the ECS cluster `{cluster}` does not exist (or is not active) in this account and region; create it or fix `cluster` in the environment's target"
            )))
        }
    }

    /// The cluster's ARN (`cluster` may be its name); an error unless it exists and is active.
    pub async fn cluster_arn(&self, cluster: &str) -> Result<String> {
        let answer = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(api("DescribeClusters"))?;
        answer
            .clusters()
            .iter()
            .find(|c| c.status() == Some("ACTIVE"))
            .and_then(|c| c.cluster_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                AwsError::Missing(format!(
                    "the ECS cluster `{cluster}` does not exist (or is not active) in this account and region; create it or fix `cluster` in the environment's target"
                ))
            })
    }

    /// The tasks of `family` in the task group `group` that ECS still lists (running ones, and
    /// those stopped in about the last hour), newest first, with how `container` ended.
    pub async fn group_tasks(
        &self,
        cluster: &str,
        family: &str,
        group: &str,
        container: &str,
    ) -> Result<Vec<GroupTask>> {
        // The family's tasks include its service's, so a large service means several pages.
        let mut arns = Vec::new();
        for status in [ecs::DesiredStatus::Running, ecs::DesiredStatus::Stopped] {
            let mut token: Option<String> = None;
            loop {
                let listed = self
                    .ecs
                    .list_tasks()
                    .cluster(cluster)
                    .family(family)
                    .desired_status(status.clone())
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(api("ListTasks"))?;
                arns.extend(listed.task_arns().iter().cloned());
                token = listed.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let described = self
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(api("DescribeTasks"))?;
            for task in described.tasks() {
                if task.group() != Some(group) {
                    continue;
                }
                let ours = task
                    .containers()
                    .iter()
                    .find(|c| c.name() == Some(container));
                tasks.push(GroupTask {
                    arn: task.task_arn().unwrap_or_default().to_owned(),
                    started_by: task.started_by().map(str::to_owned),
                    created_at: task.created_at().map(|t| t.secs()),
                    stopped_at: task.stopped_at().map(|t| t.secs()),
                    status: task.last_status().unwrap_or("PENDING").to_owned(),
                    exit_code: ours.and_then(|c| c.exit_code()),
                    reason: task.stopped_reason().unwrap_or_default().to_owned(),
                    task_definition: task.task_definition_arn().map(str::to_owned),
                });
            }
        }
        tasks.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(tasks)
    }

    /// Stops a task (a one-off run past its time), saying why.
    pub async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> Result<()> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await
            .map(|_| ())
            .map_err(api("StopTask"))
    }

    /// An error unless the target group exists.
    pub async fn check_target_group(&self, arn: &str) -> Result<()> {
        self.elb
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_target_group_not_found_exception())
                {
                    AwsError::Missing(format!("the target group `{arn}` does not exist"))
                } else {
                    api("DescribeTargetGroups")(error)
                }
            })
    }

    /// Registers a new revision; returns its ARN.
    pub async fn register(&self, definition: &TaskDefinition) -> Result<String> {
        let mut request = self
            .ecs
            .register_task_definition()
            .family(&definition.family)
            .network_mode(ecs::NetworkMode::from(definition.network_mode.as_str()))
            .set_task_role_arn(definition.task_role_arn.clone())
            .set_execution_role_arn(definition.execution_role_arn.clone())
            .set_cpu(definition.cpu.clone())
            .set_memory(definition.memory.clone());
        for compatibility in &definition.requires_compatibilities {
            request =
                request.requires_compatibilities(ecs::Compatibility::from(compatibility.as_str()));
        }
        for container in &definition.container_definitions {
            let mut built = ecs::ContainerDefinition::builder()
                .name(&container.name)
                .image(&container.image)
                .essential(container.essential)
                .set_command(container.command.clone());
            for port in &container.port_mappings {
                built = built.port_mappings(
                    ecs::PortMapping::builder()
                        .container_port(i32::from(port.container_port))
                        .protocol(ecs::TransportProtocol::from(port.protocol.as_str()))
                        .build(),
                );
            }
            for pair in &container.environment {
                built = built.environment(
                    ecs::KeyValuePair::builder()
                        .name(&pair.name)
                        .value(&pair.value)
                        .build(),
                );
            }
            for secret in &container.secrets {
                built = built.secrets(
                    ecs::Secret::builder()
                        .name(&secret.name)
                        .value_from(&secret.value_from)
                        .build()
                        .map_err(api("RegisterTaskDefinition"))?,
                );
            }
            if let Some(check) = &container.health_check {
                built = built.health_check(
                    ecs::HealthCheck::builder()
                        .set_command(Some(check.command.clone()))
                        .interval(check.interval as i32)
                        .timeout(check.timeout as i32)
                        .retries(check.retries as i32)
                        .start_period(check.start_period as i32)
                        .build()
                        .map_err(api("RegisterTaskDefinition"))?,
                );
            }
            if let Some(seconds) = container.stop_timeout {
                built = built.stop_timeout(seconds as i32);
            }
            if let Some(logs) = &container.log_configuration {
                built = built.log_configuration(
                    ecs::LogConfiguration::builder()
                        .log_driver(ecs::LogDriver::from(logs.log_driver.as_str()))
                        .set_options(Some(logs.options.clone().into_iter().collect()))
                        .build()
                        .map_err(api("RegisterTaskDefinition"))?,
                );
            }
            request = request.container_definitions(built.build());
        }
        for tag in &definition.tags {
            request = request.tags(ecs::Tag::builder().key(&tag.key).value(&tag.value).build());
        }
        let answer = request
            .send()
            .await
            .map_err(api("RegisterTaskDefinition"))?;
        answer
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Api {
                operation: "RegisterTaskDefinition",
                message: "no ARN in the answer".into(),
            })
    }

    /// The task definition an ARN names, in slipway's shape (for `ecs diff`).
    pub async fn task_definition(&self, arn: &str) -> Result<TaskDefinition> {
        let answer = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(ecs::TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(api("DescribeTaskDefinition"))?;
        let described = answer.task_definition().ok_or_else(|| AwsError::Api {
            operation: "DescribeTaskDefinition",
            message: format!("no task definition `{arn}`"),
        })?;
        use crate::taskdef as ours;
        Ok(TaskDefinition {
            family: described.family().unwrap_or_default().to_owned(),
            task_role_arn: described.task_role_arn().map(str::to_owned),
            execution_role_arn: described.execution_role_arn().map(str::to_owned),
            network_mode: described
                .network_mode()
                .map_or("bridge".to_owned(), |m| m.as_str().to_owned()),
            requires_compatibilities: described
                .requires_compatibilities()
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            cpu: described.cpu().map(str::to_owned),
            memory: described.memory().map(str::to_owned),
            container_definitions: described
                .container_definitions()
                .iter()
                .map(|c| ours::ContainerDefinition {
                    name: c.name().unwrap_or_default().to_owned(),
                    image: c.image().unwrap_or_default().to_owned(),
                    essential: c.essential().unwrap_or(true),
                    command: (!c.command().is_empty()).then(|| c.command().to_vec()),
                    port_mappings: c
                        .port_mappings()
                        .iter()
                        .map(|p| ours::PortMapping {
                            container_port: p.container_port().unwrap_or(0) as u16,
                            protocol: p.protocol().map_or("tcp".into(), |p| p.as_str().into()),
                        })
                        .collect(),
                    environment: c
                        .environment()
                        .iter()
                        .map(|kv| ours::KeyValue {
                            name: kv.name().unwrap_or_default().to_owned(),
                            value: kv.value().unwrap_or_default().to_owned(),
                        })
                        .collect(),
                    secrets: c
                        .secrets()
                        .iter()
                        .map(|s| ours::SecretRef {
                            name: s.name().to_owned(),
                            value_from: s.value_from().to_owned(),
                        })
                        .collect(),
                    health_check: c.health_check().map(|h| ours::HealthCheck {
                        command: h.command().to_vec(),
                        interval: h.interval().unwrap_or(30) as u32,
                        timeout: h.timeout().unwrap_or(5) as u32,
                        retries: h.retries().unwrap_or(3) as u32,
                        start_period: h.start_period().unwrap_or(0) as u32,
                    }),
                    stop_timeout: c.stop_timeout().map(|seconds| seconds as u32),
                    log_configuration: c.log_configuration().map(|l| ours::LogConfiguration {
                        log_driver: l.log_driver().as_str().to_owned(),
                        options: l
                            .options()
                            .map(|o| o.clone().into_iter().collect())
                            .unwrap_or_default(),
                    }),
                })
                .collect(),
            tags: answer
                .tags()
                .iter()
                .map(|t| ours::Tag {
                    key: t.key().unwrap_or_default().to_owned(),
                    value: t.value().unwrap_or_default().to_owned(),
                })
                .collect(),
        })
    }

    /// The service, or `None` when it does not exist (or was deleted).
    pub async fn service(&self, cluster: &str, name: &str) -> Result<Option<ServiceState>> {
        let answer = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .map_err(api("DescribeServices"))?;
        let Some(service) = answer
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
        else {
            return Ok(None);
        };
        Ok(Some(ServiceState {
            name: service.service_name().unwrap_or(name).to_owned(),
            status: service.status().unwrap_or_default().to_owned(),
            task_definition: service.task_definition().map(str::to_owned),
            desired: service.desired_count(),
            running: service.running_count(),
            deployments: service
                .deployments()
                .iter()
                .map(|d| DeploymentState {
                    id: d.id().unwrap_or_default().to_owned(),
                    status: d.status().unwrap_or_default().to_owned(),
                    task_definition: d.task_definition().map(str::to_owned),
                    rollout_state: d.rollout_state().map(|s| s.as_str().to_owned()),
                    rollout_reason: d.rollout_state_reason().map(str::to_owned),
                    desired: d.desired_count(),
                    running: d.running_count(),
                    failed_tasks: d.failed_tasks(),
                })
                .collect(),
            events: service
                .events()
                .iter()
                .filter_map(|e| e.message().map(str::to_owned))
                .collect(),
        }))
    }

    /// Creates the service of `spec`, deploying as `rolling` says from then on.
    pub async fn create_service(&self, spec: &ServiceSpec, rolling: Rolling) -> Result<()> {
        let mut request = self
            .ecs
            .create_service()
            .cluster(&spec.cluster)
            .service_name(&spec.name)
            .task_definition(&spec.task_definition)
            .desired_count(spec.desired)
            .launch_type(ecs::LaunchType::from(spec.launch_type.as_str()))
            .deployment_configuration(deployment_configuration(rolling)?)
            .propagate_tags(ecs::PropagateTags::Service)
            .enable_ecs_managed_tags(true);
        if !spec.subnets.is_empty() {
            request = request.network_configuration(awsvpc(
                &spec.subnets,
                &spec.security_groups,
                spec.assign_public_ip,
                "CreateService",
            )?);
        }
        if let Some((target_group, container, port)) = &spec.load_balancer {
            let mut balancer = ecs::LoadBalancer::builder()
                .target_group_arn(target_group)
                .container_name(container)
                .container_port(i32::from(*port));
            if let Some(shift) = &spec.traffic_shift {
                balancer = balancer.advanced_configuration(
                    ecs::AdvancedConfiguration::builder()
                        .alternate_target_group_arn(&shift.alternate_target_group)
                        .production_listener_rule(&shift.production_listener_rule)
                        .role_arn(&shift.role_arn)
                        .build(),
                );
            }
            request = request.load_balancers(balancer.build());
        }
        for (key, value) in &spec.tags {
            request = request.tags(ecs::Tag::builder().key(key).value(value).build());
        }
        request.send().await.map_err(api("CreateService"))?;
        Ok(())
    }

    /// Points the service at `task_definition` with `desired` tasks.
    pub async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: Option<&str>,
        desired: i32,
        rolling: Rolling,
    ) -> Result<()> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(name)
            .set_task_definition(task_definition.map(str::to_owned))
            .desired_count(desired)
            .deployment_configuration(deployment_configuration(rolling)?)
            .send()
            .await
            .map_err(api("UpdateService"))?;
        Ok(())
    }

    /// Waits until the service runs `task_definition` alone, with all its tasks; fails early when
    /// the deployment fails, when ECS rolls it back (its circuit breaker), or when `give_up`
    /// tasks of the new deployment have stopped, with the reasons of the stopped tasks.
    pub async fn wait_steady(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        timeout: Duration,
        give_up: i32,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<()> {
        let started = Instant::now();
        let mut last = String::new();
        let mut pause = Duration::from_millis(200);
        loop {
            let Some(service) = self.service(cluster, name).await? else {
                return Err(AwsError::NotSteady {
                    service: name.to_owned(),
                    reason: "the service no longer exists".into(),
                });
            };
            let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
            let line = format!(
                "{name}: {}/{} running{}",
                service.running,
                service.desired,
                primary
                    .and_then(|p| p.rollout_state.as_deref())
                    .map(|s| format!(", {}", s.to_lowercase().replace('_', " ")))
                    .unwrap_or_default()
            );
            if line != last {
                progress(&line);
                last = line;
            }
            if service.task_definition.as_deref() != Some(task_definition) {
                let reasons = self.stopped_reasons(cluster, name).await;
                return Err(AwsError::NotSteady {
                    service: name.to_owned(),
                    reason: format!(
                        "ECS rolled the service back to {}{}",
                        service.task_definition.as_deref().unwrap_or("nothing"),
                        reasons
                    ),
                });
            }
            if let Some(primary) = primary {
                if primary.rollout_state.as_deref() == Some("FAILED") {
                    let reasons = self.stopped_reasons(cluster, name).await;
                    return Err(AwsError::NotSteady {
                        service: name.to_owned(),
                        reason: format!(
                            "the deployment failed: {}{reasons}",
                            primary
                                .rollout_reason
                                .as_deref()
                                .unwrap_or("no reason given")
                        ),
                    });
                }
                if give_up > 0 && primary.failed_tasks >= give_up {
                    let reasons = self.stopped_reasons(cluster, name).await;
                    return Err(AwsError::NotSteady {
                        service: name.to_owned(),
                        reason: format!(
                            "{} tasks of the new deployment stopped{reasons}",
                            primary.failed_tasks
                        ),
                    });
                }
                let done = service.deployments.len() == 1
                    && primary
                        .rollout_state
                        .as_deref()
                        .is_none_or(|s| s == "COMPLETED")
                    && service.running >= service.desired;
                if done {
                    return Ok(());
                }
            }
            if started.elapsed() >= timeout {
                let reasons = self.stopped_reasons(cluster, name).await;
                return Err(AwsError::NotSteady {
                    service: name.to_owned(),
                    reason: format!(
                        "no steady state after {}s ({}/{} running){reasons}",
                        timeout.as_secs(),
                        service.running,
                        service.desired
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Starts one task of `task.task_definition` with its app container's command replaced
    /// (`slipway run` on ECS), in the environment's network; returns the task's ARN.
    pub async fn run_task(&self, task: &OneOffTask) -> Result<String> {
        let mut request = self
            .ecs
            .run_task()
            .cluster(&task.cluster)
            .task_definition(&task.task_definition)
            .launch_type(ecs::LaunchType::from(task.launch_type.as_str()))
            .count(1)
            .started_by(&task.started_by)
            .set_group(task.group.clone())
            .overrides(
                ecs::TaskOverride::builder()
                    .container_overrides(
                        ecs::ContainerOverride::builder()
                            .name(&task.container)
                            .set_command(Some(task.command.clone()))
                            .build(),
                    )
                    .build(),
            );
        if !task.subnets.is_empty() {
            request = request.network_configuration(awsvpc(
                &task.subnets,
                &task.security_groups,
                task.assign_public_ip,
                "RunTask",
            )?);
        }
        let answer = request.send().await.map_err(api("RunTask"))?;
        if let Some(failure) = answer.failures().first() {
            return Err(AwsError::Missing(format!(
                "ECS did not start the task: {} ({})",
                failure.reason().unwrap_or("no reason given"),
                failure.detail().or(failure.arn()).unwrap_or_default()
            )));
        }
        answer
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Missing("ECS started no task and gave no reason".into()))
    }

    /// Where a task started by [`Ecs::run_task`] is, and how `container` ended once it stopped.
    pub async fn task_state(&self, cluster: &str, arn: &str, container: &str) -> Result<TaskState> {
        let described = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(arn)
            .send()
            .await
            .map_err(api("DescribeTasks"))?;
        let Some(task) = described.tasks().first() else {
            return Err(AwsError::Missing(format!("the task {arn} is gone")));
        };
        let status = task.last_status().unwrap_or("PENDING").to_owned();
        let ours = task
            .containers()
            .iter()
            .find(|c| c.name() == Some(container));
        let mut reason = task.stopped_reason().unwrap_or_default().to_owned();
        if let Some(why) = ours.and_then(|c| c.reason()) {
            reason = format!("{reason} ({container}: {why})");
        }
        Ok(TaskState {
            stopped: status == "STOPPED",
            status,
            exit_code: ours.and_then(|c| c.exit_code()),
            reason,
        })
    }

    /// The tasks of a service that run and that stopped lately (ECS keeps stopped tasks for
    /// about an hour), with the revision each runs; none when the service does not exist.
    pub async fn tasks_of(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<crate::logs::TaskSeen>> {
        let mut arns: Vec<String> = Vec::new();
        for status in [ecs::DesiredStatus::Running, ecs::DesiredStatus::Stopped] {
            let listed = self
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(status)
                .send()
                .await;
            let listed = match listed {
                Ok(listed) => listed,
                Err(error)
                    if error.as_service_error().is_some_and(|e| {
                        e.is_service_not_found_exception() || e.is_cluster_not_found_exception()
                    }) =>
                {
                    return Ok(Vec::new());
                }
                Err(error) => return Err(api("ListTasks")(error)),
            };
            for arn in listed.task_arns() {
                if !arns.contains(arn) {
                    arns.push(arn.clone());
                }
            }
        }
        let mut seen = Vec::new();
        for chunk in arns.chunks(100) {
            let described = self
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(api("DescribeTasks"))?;
            for task in described.tasks() {
                let status = task.last_status().unwrap_or("PENDING");
                seen.push(crate::logs::TaskSeen {
                    arn: task.task_arn().unwrap_or_default().to_owned(),
                    task_definition: task.task_definition_arn().unwrap_or_default().to_owned(),
                    stopped: status == "STOPPED",
                    stopped_at: task.stopped_at().and_then(|at| at.to_millis().ok()),
                });
            }
        }
        Ok(seen)
    }

    /// `; stopped tasks: <reason>, ...` for the service's recently stopped tasks, or nothing.
    pub async fn stopped_reasons(&self, cluster: &str, service: &str) -> String {
        let Ok(listed) = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(ecs::DesiredStatus::Stopped)
            .send()
            .await
        else {
            return String::new();
        };
        if listed.task_arns().is_empty() {
            return String::new();
        }
        let Ok(described) = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(listed.task_arns().iter().take(5).cloned().collect()))
            .send()
            .await
        else {
            return String::new();
        };
        let mut reasons: Vec<String> = Vec::new();
        for task in described.tasks() {
            let mut reason = task.stopped_reason().unwrap_or("stopped").to_owned();
            for container in task.containers() {
                if let Some(why) = container.reason() {
                    reason.push_str(&format!(" ({}: {why})", container.name().unwrap_or("?")));
                }
            }
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        if reasons.is_empty() {
            String::new()
        } else {
            format!("; stopped tasks: {}", reasons.join("; "))
        }
    }

    /// The forward weights by target group ARN of a listener's default action or, for a
    /// listener rule ARN (several apps behind one listener, by path), of that rule.
    pub async fn weights(&self, listener: &str) -> Result<Vec<(String, i32)>> {
        if listener.contains(":listener-rule/") {
            let answer = self
                .elb
                .describe_rules()
                .rule_arns(listener)
                .send()
                .await
                .map_err(|error| {
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_rule_not_found_exception())
                    {
                        AwsError::Missing(format!(
                            "the ALB listener rule `{listener}` does not exist"
                        ))
                    } else {
                        api("DescribeRules")(error)
                    }
                })?;
            let Some(rule) = answer.rules().first() else {
                return Err(AwsError::Missing(format!(
                    "the ALB listener rule `{listener}` does not exist"
                )));
            };
            return Ok(forward_weights(rule.actions()));
        }
        self.listener_weights(listener).await
    }

    async fn listener_weights(&self, listener: &str) -> Result<Vec<(String, i32)>> {
        let answer = self
            .elb
            .describe_listeners()
            .listener_arns(listener)
            .send()
            .await
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_listener_not_found_exception())
                {
                    AwsError::Missing(format!("the ALB listener `{listener}` does not exist"))
                } else {
                    api("DescribeListeners")(error)
                }
            })?;
        let Some(found) = answer.listeners().first() else {
            return Err(AwsError::Missing(format!(
                "the ALB listener `{listener}` does not exist"
            )));
        };
        Ok(forward_weights(found.default_actions()))
    }

    /// Forwards the listener's (or listener rule's) traffic by these weights (0–999 each).
    pub async fn set_weights(&self, listener: &str, weights: &[(String, i32)]) -> Result<()> {
        let mut forward = elb::ForwardActionConfig::builder();
        for (arn, weight) in weights {
            forward = forward.target_groups(
                elb::TargetGroupTuple::builder()
                    .target_group_arn(arn)
                    .weight(*weight)
                    .build(),
            );
        }
        let action = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Forward)
            .forward_config(forward.build())
            .build();
        if listener.contains(":listener-rule/") {
            self.elb
                .modify_rule()
                .rule_arn(listener)
                .actions(action)
                .send()
                .await
                .map_err(api("ModifyRule"))?;
        } else {
            self.elb
                .modify_listener()
                .listener_arn(listener)
                .default_actions(action)
                .send()
                .await
                .map_err(api("ModifyListener"))?;
        }
        Ok(())
    }
}

fn forward_weights(actions: &[elb::Action]) -> Vec<(String, i32)> {
    let mut weights = Vec::new();
    for action in actions {
        if action.r#type() != Some(&elb::ActionTypeEnum::Forward) {
            continue;
        }
        if let Some(config) = action.forward_config() {
            for group in config.target_groups() {
                if let Some(arn) = group.target_group_arn() {
                    weights.push((arn.to_owned(), group.weight().unwrap_or(1)));
                }
            }
        } else if let Some(arn) = action.target_group_arn() {
            weights.push((arn.to_owned(), 1));
        }
    }
    weights
}

fn deployment_configuration(rolling: Rolling) -> Result<ecs::DeploymentConfiguration> {
    let mut configuration = ecs::DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            ecs::DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .minimum_healthy_percent(rolling.minimum_healthy_percent)
        .maximum_percent(rolling.maximum_percent);
    match rolling.native {
        None => {}
        Some(Native::BlueGreen { bake_minutes }) => {
            configuration = configuration
                .strategy(ecs::DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(bake_minutes);
        }
        Some(Native::Canary {
            percent,
            bake_minutes,
        }) => {
            configuration = configuration
                .strategy(ecs::DeploymentStrategy::Canary)
                .canary_configuration(
                    ecs::CanaryConfiguration::builder()
                        .canary_percent(percent)
                        .canary_bake_time_in_minutes(bake_minutes)
                        .build(),
                );
        }
        Some(Native::Linear {
            step_percent,
            bake_minutes,
        }) => {
            configuration = configuration
                .strategy(ecs::DeploymentStrategy::Linear)
                .linear_configuration(
                    ecs::LinearConfiguration::builder()
                        .step_percent(step_percent)
                        .step_bake_time_in_minutes(bake_minutes)
                        .build(),
                );
        }
    }
    if !rolling.alarms.is_empty() {
        configuration = configuration.alarms(
            ecs::DeploymentAlarms::builder()
                .set_alarm_names(Some(rolling.alarms.clone()))
                .enable(true)
                .rollback(true)
                .build()
                .map_err(api("DeploymentConfiguration"))?,
        );
    }
    Ok(configuration.build())
}

/// The awsvpc network of a service's or a task's tasks; `operation` names the call in errors.
fn awsvpc(
    subnets: &[String],
    security_groups: &[String],
    assign_public_ip: bool,
    operation: &'static str,
) -> Result<ecs::NetworkConfiguration> {
    let vpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets.to_vec()))
        .set_security_groups(Some(security_groups.to_vec()))
        .assign_public_ip(if assign_public_ip {
            ecs::AssignPublicIp::Enabled
        } else {
            ecs::AssignPublicIp::Disabled
        })
        .build()
        .map_err(api(operation))?;
    Ok(ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}
