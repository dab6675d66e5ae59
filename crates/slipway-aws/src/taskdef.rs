//! Task definitions as slipway writes them: pure data in the shape of ECS's
//! `RegisterTaskDefinition` JSON, so `slipway ecs render` prints exactly what a deploy sends and
//! `slipway ecs diff` compares it with what runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one app's task needs, gathered by the deploy from slipway.toml, the image and the
/// rendered config.
#[derive(Debug, Clone, Default)]
pub struct AppTask {
    /// The task definition's family (`<project>-<env>-<app>`).
    pub family: String,
    /// The app's container name (the app's name).
    pub container: String,
    /// Pinned by digest: `registry/repository@sha256:...`.
    pub image: String,
    /// The port the app listens on.
    pub port: Option<u16>,
    /// `CMD`/`CMD-SHELL` health check command, when the app has one.
    pub health_command: Option<Vec<String>>,
    /// Seconds between health checks.
    pub health_interval_s: Option<u32>,
    /// Seconds a health check may take.
    pub health_timeout_s: Option<u32>,
    /// Failed checks before the container is unhealthy.
    pub health_retries: Option<u32>,
    /// Seconds after start during which failed checks do not count.
    pub health_start_period_s: Option<u32>,
    /// Seconds the app has after its stop signal before it is killed (ECS allows 2 to 120).
    pub stop_timeout_s: Option<u32>,
    /// Non-secret environment, sorted by name.
    pub environment: BTreeMap<String, String>,
    /// Name → `valueFrom` (an SSM parameter or Secrets Manager secret ARN).
    pub secrets: BTreeMap<String, String>,
    /// The task's other containers.
    pub sidecars: Vec<SidecarTask>,
    /// `FARGATE` or `EC2`.
    pub launch_type: String,
    /// Task CPU units (`256`), required on Fargate.
    pub cpu: Option<String>,
    /// Task memory in MiB (`512`), required on Fargate.
    pub memory: Option<String>,
    /// The role ECS pulls images and reads secrets as.
    pub execution_role_arn: Option<String>,
    /// The role the app's code acts as.
    pub task_role_arn: Option<String>,
    /// The CloudWatch log group the containers log to.
    pub log_group: Option<String>,
    /// The region, for the log configuration.
    pub region: String,
    /// Resource tags, e.g. the project, environment and release.
    pub tags: BTreeMap<String, String>,
}

/// A container beside the app's in its task.
#[derive(Debug, Clone, Default)]
pub struct SidecarTask {
    /// The container's name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its command, when not the image's.
    pub command: Option<Vec<String>>,
    /// Its environment.
    pub environment: BTreeMap<String, String>,
    /// The port it listens on, if any.
    pub port: Option<u16>,
    /// Whether the task stops when it stops.
    pub essential: bool,
}

/// An ECS task definition, in the JSON shape ECS registers and describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    /// The family; each registration is a new revision of it.
    pub family: String,
    /// The role the containers' code acts as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// The role ECS pulls images and reads secrets as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// `awsvpc` (Fargate) or `bridge`.
    pub network_mode: String,
    /// `FARGATE` or `EC2`.
    pub requires_compatibilities: Vec<String>,
    /// Task CPU units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// The task's containers.
    pub container_definitions: Vec<ContainerDefinition>,
    /// Resource tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// One container of a task definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// The container's name.
    pub name: String,
    /// Its image, pinned by digest for the app.
    pub image: String,
    /// Whether the task stops when it stops.
    pub essential: bool,
    /// Its command, when not the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Ports it listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Plain variables (never secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
    /// Variables ECS fills from SSM or Secrets Manager when the task starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    /// Its health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Where its output goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Seconds between the stop signal and the kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
}

/// A port a container listens on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A plain variable of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A variable ECS fills from a secret store when the task starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The variable's name.
    pub name: String,
    /// ARN (or SSM name) of the parameter or secret.
    pub value_from: String,
}

/// A container's health check, run by ECS inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `CMD` or `CMD-SHELL` and the command.
    pub command: Vec<String>,
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds a check may take.
    pub timeout: u32,
    /// Failed checks before the container is unhealthy.
    pub retries: u32,
    /// Seconds after start during which failed checks do not count.
    pub start_period: u32,
}

/// Where a container's output goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// The log driver, `awslogs`.
    pub log_driver: String,
    /// The driver's options (group, region, stream prefix).
    pub options: BTreeMap<String, String>,
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag's key.
    pub key: String,
    /// The tag's value.
    pub value: String,
}

/// The task definition for one app.
pub fn render(task: &AppTask) -> TaskDefinition {
    let fargate = task.launch_type == "FARGATE";
    let log_configuration = |stream_prefix: &str| {
        task.log_group.as_ref().map(|group| LogConfiguration {
            log_driver: "awslogs".into(),
            options: BTreeMap::from([
                ("awslogs-group".into(), group.clone()),
                ("awslogs-region".into(), task.region.clone()),
                ("awslogs-stream-prefix".into(), stream_prefix.to_owned()),
            ]),
        })
    };
    let pairs = |map: &BTreeMap<String, String>| {
        map.iter()
            .map(|(name, value)| KeyValue {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    };
    let tcp = |port: Option<u16>| {
        port.map(|port| PortMapping {
            container_port: port,
            protocol: "tcp".into(),
        })
        .into_iter()
        .collect()
    };
    let mut containers = vec![ContainerDefinition {
        name: task.container.clone(),
        image: task.image.clone(),
        essential: true,
        command: None,
        port_mappings: tcp(task.port),
        environment: pairs(&task.environment),
        secrets: task
            .secrets
            .iter()
            .map(|(name, value_from)| SecretRef {
                name: name.clone(),
                value_from: value_from.clone(),
            })
            .collect(),
        health_check: task.health_command.as_ref().map(|command| HealthCheck {
            command: command.clone(),
            interval: task.health_interval_s.unwrap_or(5).clamp(5, 300),
            timeout: task.health_timeout_s.unwrap_or(3).clamp(2, 60),
            retries: task.health_retries.unwrap_or(3).clamp(1, 10),
            start_period: task.health_start_period_s.unwrap_or(0).min(300),
        }),
        log_configuration: log_configuration(&task.container),
        stop_timeout: task.stop_timeout_s.map(|seconds| seconds.clamp(2, 120)),
    }];
    for sidecar in &task.sidecars {
        containers.push(ContainerDefinition {
            name: sidecar.name.clone(),
            image: sidecar.image.clone(),
            essential: sidecar.essential,
            command: sidecar.command.clone(),
            port_mappings: tcp(sidecar.port),
            environment: pairs(&sidecar.environment),
            secrets: Vec::new(),
            health_check: None,
            log_configuration: log_configuration(&sidecar.name),
            stop_timeout: None,
        });
    }
    TaskDefinition {
        family: task.family.clone(),
        task_role_arn: task.task_role_arn.clone(),
        execution_role_arn: task.execution_role_arn.clone(),
        network_mode: if fargate { "awsvpc" } else { "bridge" }.into(),
        requires_compatibilities: vec![task.launch_type.clone()],
        cpu: task
            .cpu
            .clone()
            .or_else(|| fargate.then(|| "256".to_owned())),
        memory: task
            .memory
            .clone()
            .or_else(|| fargate.then(|| "512".to_owned())),
        container_definitions: containers,
        tags: task
            .tags
            .iter()
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

/// A line diff of two JSON documents, `-`/`+`/` ` prefixed: enough for task definitions and
/// services, which are small.
pub fn diff_lines(old: &str, new: &str) -> Vec<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0u32; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out.push(format!("  {}", old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push(format!("+ {}", new[j]));
            j += 1;
        } else {
            out.push(format!("- {}", old[i]));
            i += 1;
        }
    }
    out
}

/// What a deploy would change in one app's task definition, against what its service runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppDiff {
    /// The app.
    pub app: String,
    /// The service it runs as (the live colour's, when it has two).
    pub service: String,
    /// Whether the service runs a task definition now.
    pub exists: bool,
    /// Whether anything would change.
    pub changed: bool,
    /// The changed lines, `-`/`+` prefixed (every line, `+`, when the service does not exist).
    pub diff: Vec<String>,
}

/// The tag every registration carries, which always differs and says nothing about what runs.
const RELEASE_TAG: &str = "slipway:release";

/// What registering `planned` for `app` would change against `running`, the task definition
/// `service` runs now (`None` when it runs none); the release tag is left out of both.
pub fn diff_app(
    app: &str,
    service: &str,
    mut planned: TaskDefinition,
    running: Option<TaskDefinition>,
) -> serde_json::Result<AppDiff> {
    let strip = |d: &mut TaskDefinition| d.tags.retain(|t| t.key != RELEASE_TAG);
    strip(&mut planned);
    let new = serde_json::to_string_pretty(&planned)?;
    let old = match running.clone() {
        Some(mut running) => {
            strip(&mut running);
            serde_json::to_string_pretty(&running)?
        }
        None => String::new(),
    };
    let diff: Vec<String> = diff_lines(&old, &new)
        .into_iter()
        .filter(|l| !l.starts_with("  "))
        .collect();
    Ok(AppDiff {
        app: app.to_owned(),
        service: service.to_owned(),
        exists: running.is_some(),
        changed: !diff.is_empty(),
        diff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> AppTask {
        AppTask {
            family: "shop-prod-api".into(),
            container: "api".into(),
            image: "123456789012.dkr.ecr.eu-central-1.amazonaws.com/shop/api@sha256:abc".into(),
            port: Some(8000),
            environment: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
            secrets: BTreeMap::from([(
                "DB_PASSWORD".into(),
                "arn:aws:ssm:eu-central-1:123456789012:parameter/shop/prod/db".into(),
            )]),
            sidecars: vec![SidecarTask {
                name: "xray".into(),
                image: "public.ecr.aws/xray/aws-xray-daemon:3.3.13".into(),
                port: Some(2000),
                ..SidecarTask::default()
            }],
            launch_type: "FARGATE".into(),
            execution_role_arn: Some("arn:aws:iam::123456789012:role/exec".into()),
            log_group: Some("/ecs/shop-prod".into()),
            region: "eu-central-1".into(),
            ..AppTask::default()
        }
    }

    #[test]
    fn secrets_are_references_and_the_image_is_pinned() {
        let json = serde_json::to_value(render(&api())).unwrap();
        let app = &json["containerDefinitions"][0];
        assert_eq!(app["image"], api().image);
        assert_eq!(app["secrets"][0]["name"], "DB_PASSWORD");
        assert_eq!(
            app["secrets"][0]["valueFrom"],
            "arn:aws:ssm:eu-central-1:123456789012:parameter/shop/prod/db"
        );
        assert!(app["environment"].to_string().contains("LOG_LEVEL"));
        assert!(!app["environment"].to_string().contains("DB_PASSWORD"));
        assert_eq!(json["networkMode"], "awsvpc");
        assert_eq!(json["cpu"], "256");
        assert_eq!(
            app["logConfiguration"]["options"]["awslogs-group"],
            "/ecs/shop-prod"
        );
        let xray = &json["containerDefinitions"][1];
        assert_eq!(xray["name"], "xray");
        assert_eq!(xray["essential"], false);
    }

    #[test]
    fn diff_shows_changed_lines_only_as_changes() {
        let lines = diff_lines("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(lines, ["  a", "- b", "+ B", "  c", "+ d"]);
    }

    fn definition(image: &str, release: &str) -> TaskDefinition {
        serde_json::from_value(serde_json::json!({
            "family": "shop-prod-api",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [{"name": "api", "image": image, "essential": true}],
            "tags": [{"key": "slipway:release", "value": release}],
        }))
        .unwrap()
    }

    #[test]
    fn a_diff_ignores_the_release_tag_and_shows_only_changed_lines() {
        let same = diff_app(
            "api",
            "shop-prod-api",
            definition("shop/api@sha256:1", "r2"),
            Some(definition("shop/api@sha256:1", "r1")),
        )
        .unwrap();
        assert!(
            same.exists && !same.changed && same.diff.is_empty(),
            "{same:?}"
        );
        let changed = diff_app(
            "api",
            "shop-prod-api",
            definition("shop/api@sha256:2", "r2"),
            Some(definition("shop/api@sha256:1", "r1")),
        )
        .unwrap();
        assert!(changed.changed);
        assert_eq!(changed.diff.len(), 2, "{:?}", changed.diff);
        assert!(changed.diff[0].starts_with("- ") && changed.diff[0].contains("sha256:1"));
        assert!(changed.diff[1].starts_with("+ ") && changed.diff[1].contains("sha256:2"));
        let new = diff_app(
            "api",
            "shop-prod-api",
            definition("shop/api@sha256:2", "r2"),
            None,
        )
        .unwrap();
        assert!(!new.exists && new.changed);
        assert!(new.diff.iter().all(|l| l.starts_with("+ ")));
        assert!(!new.diff.iter().any(|l| l.contains("slipway:release")));
    }
}
