//! `slipway ecs import`: an ECS environment for slipway.toml from the task definition and service
//! JSON files a project keeps today (e.g. `aws/task-definitions/*.json`, deployed with
//! `aws ecs update-service --force-new-deployment` on a mutable tag). Pure: files in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::{AwsError, Result};

/// What an import makes: the environment's TOML and one config template per app.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// `[environments.<env>...]` tables to append to slipway.toml.
    pub toml: String,
    /// App → `config/<env>/<app>.env.j2` text.
    pub templates: BTreeMap<String, String>,
    /// Things a person must look at (mutable tags, values that look like secrets...).
    pub notes: Vec<String>,
}

fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// A `valueFrom` ARN or name as a slipway secret reference.
fn reference(value_from: &str) -> String {
    if let Some(rest) = value_from.split(":parameter").nth(1)
        && value_from.starts_with("arn:")
    {
        return format!("ssm:{rest}");
    }
    if let Some(rest) = value_from.split(":secret:").nth(1)
        && value_from.starts_with("arn:")
    {
        // Secrets Manager ARNs end in `-` and six random characters; the name is what slipway
        // looks up. A JSON key or version suffix (`:key::`) is kept out.
        let name = rest.split(':').next().unwrap_or(rest);
        let name = match name.rsplit_once('-') {
            Some((base, suffix)) if suffix.len() == 6 => base,
            _ => name,
        };
        return format!("secretsmanager:{name}");
    }
    if value_from.starts_with('/') {
        return format!("ssm:{value_from}");
    }
    format!("secretsmanager:{value_from}")
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE"]
        .iter()
        .any(|word| upper.contains(word))
}

/// Builds the environment `environment` from task definitions (`(file, json)`) and optional
/// service definitions (the JSON given to `aws ecs create-service`).
pub fn import(
    environment: &str,
    task_definitions: &[(String, Value)],
    services: &[(String, Value)],
) -> Result<Imported> {
    if task_definitions.is_empty() {
        return Err(AwsError::Plan(
            "no task definitions to import: pass the JSON files (or their directory)".into(),
        ));
    }
    let mut notes = Vec::new();
    let mut templates = BTreeMap::new();
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    let mut apps = String::new();
    let first = &task_definitions[0].1;
    let mut region = None;
    let mut log_group = None;
    for (file, definition) in task_definitions {
        // `aws ecs describe-task-definition` output wraps it.
        let definition = definition.get("taskDefinition").unwrap_or(definition);
        let family = text(definition, "family").ok_or_else(|| {
            AwsError::Plan(format!("{file}: no `family`: is this a task definition?"))
        })?;
        let containers = definition
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .ok_or_else(|| AwsError::Plan(format!("{file}: no `containerDefinitions`")))?;
        let Some(main) = containers
            .iter()
            .find(|c| c.get("essential").and_then(Value::as_bool) != Some(false))
        else {
            return Err(AwsError::Plan(format!("{file}: no essential container")));
        };
        let app = text(main, "name").unwrap_or(family).to_owned();
        let service = services
            .iter()
            .map(|(_, s)| s)
            .find(|s| {
                text(s, "taskDefinition").is_some_and(|t| {
                    t == family
                        || t.starts_with(&format!("{family}:"))
                        || t.contains(&format!("/{family}:"))
                })
            })
            .and_then(|s| text(s, "serviceName"))
            .unwrap_or(family);
        if let Some(image) = text(main, "image")
            && !image.contains('@')
        {
            notes.push(format!(
                "{file}: `{app}` runs the mutable tag {image}; slipway deploys it pinned by the digest it pushes"
            ));
        }
        let _ = writeln!(apps, "\n[environments.{environment}.target.apps.{app}]");
        let _ = writeln!(apps, "service = {}", quoted(service));
        if service != family {
            let _ = writeln!(apps, "family = {}", quoted(family));
        }
        for (key, field) in [("cpu", "cpu"), ("memory", "memory")] {
            if let Some(value) = definition.get(field).and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            }) {
                let _ = writeln!(apps, "{key} = {}", quoted(&value));
            }
        }
        for sidecar in containers.iter().filter(|c| !std::ptr::eq(*c, main)) {
            notes.push(format!(
                "{file}: `{}` ({}) runs beside `{app}`: add it under [apps.{app}.sidecars.{}]",
                text(sidecar, "name").unwrap_or("?"),
                text(sidecar, "image").unwrap_or("?"),
                text(sidecar, "name").unwrap_or("?")
            ));
        }
        if let Some(options) = main.get("logConfiguration").and_then(|l| l.get("options")) {
            region = region.or_else(|| text(options, "awslogs-region").map(str::to_owned));
            log_group = log_group.or_else(|| text(options, "awslogs-group").map(str::to_owned));
        }
        let mut template = format!("# {app}'s environment, imported from {file}.\n");
        for pair in main
            .get("environment")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(value)) = (text(pair, "name"), text(pair, "value")) else {
                continue;
            };
            if looks_secret(name) {
                // Templates are committed: a plain secret never goes into one.
                notes.push(format!(
                    "{file}: `{name}` looks like a secret kept as a plain value, so it was left out of the template; put it in SSM or Secrets Manager, then add `{name}={{{{ secret.{name} }}}}` to the template and its reference under [environments.{environment}.secrets]"
                ));
                continue;
            }
            let _ = writeln!(template, "{name}={value}");
        }
        for secret in main
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(value_from)) = (text(secret, "name"), text(secret, "valueFrom"))
            else {
                continue;
            };
            if value_from.contains(":secret:")
                && value_from
                    .split(":secret:")
                    .nth(1)
                    .is_some_and(|rest| rest.contains(':'))
            {
                return Err(AwsError::Plan(format!(
                    "{file}: secret `{name}` reads one JSON key of a Secrets Manager secret ({value_from}); slipway passes whole secrets: keep that value in a secret of its own"
                )));
            }
            let _ = writeln!(template, "{name}={{{{ secret.{name} }}}}");
            let wanted = reference(value_from);
            if let Some(existing) = secrets.get(name)
                && *existing != wanted
            {
                return Err(AwsError::Plan(format!(
                    "{file}: secret `{name}` comes from {wanted} here and from {existing} in another task definition; rename one"
                )));
            }
            secrets.insert(name.to_owned(), wanted);
        }
        templates.insert(app, template);
    }

    let first = first.get("taskDefinition").unwrap_or(first);
    let service = services.first().map(|(_, s)| s);
    let network = service
        .and_then(|s| s.get("networkConfiguration"))
        .and_then(|n| n.get("awsvpcConfiguration"));
    let strings = |value: Option<&Value>| -> Vec<String> {
        value
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(quoted))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cluster = service
        .and_then(|s| text(s, "cluster"))
        .unwrap_or("CLUSTER");
    if cluster == "CLUSTER" {
        notes.push("no service definition names the cluster: set `cluster`".into());
    }
    let mut toml = String::new();
    let _ = writeln!(toml, "[environments.{environment}]");
    let _ = writeln!(toml, "strategy = {{ kind = \"rolling\" }}");
    if !secrets.is_empty() {
        let _ = writeln!(toml, "\n[environments.{environment}.secrets]");
        for (name, reference) in &secrets {
            let _ = writeln!(toml, "{name} = {}", quoted(reference));
        }
    }
    let _ = writeln!(toml, "\n[environments.{environment}.target]");
    let _ = writeln!(toml, "kind = \"ecs\"");
    let _ = writeln!(toml, "cluster = {}", quoted(cluster));
    if let Some(region) = &region {
        let _ = writeln!(toml, "region = {}", quoted(region));
    }
    let launch = service.and_then(|s| text(s, "launchType")).or_else(|| {
        first
            .get("requiresCompatibilities")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
    });
    if let Some(launch) = launch {
        let _ = writeln!(toml, "launch_type = {}", quoted(launch));
    }
    let subnets = strings(network.and_then(|n| n.get("subnets")));
    if !subnets.is_empty() {
        let _ = writeln!(toml, "subnets = [{}]", subnets.join(", "));
    }
    let groups = strings(network.and_then(|n| n.get("securityGroups")));
    if !groups.is_empty() {
        let _ = writeln!(toml, "security_groups = [{}]", groups.join(", "));
    }
    if network.and_then(|n| text(n, "assignPublicIp")) == Some("ENABLED") {
        let _ = writeln!(toml, "assign_public_ip = true");
    }
    for (key, field) in [
        ("execution_role_arn", "executionRoleArn"),
        ("task_role_arn", "taskRoleArn"),
    ] {
        if let Some(value) = text(first, field) {
            let _ = writeln!(toml, "{key} = {}", quoted(value));
        }
    }
    if let Some(group) = &log_group {
        let _ = writeln!(toml, "log_group = {}", quoted(group));
    }
    toml.push_str(&apps);
    Ok(Imported {
        toml,
        templates,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arns_become_references() {
        assert_eq!(
            reference(
                "arn:aws:ssm:ca-central-1:123456789012:parameter/cruddur/backend-flask/AWS_SECRET_ACCESS_KEY"
            ),
            "ssm:/cruddur/backend-flask/AWS_SECRET_ACCESS_KEY"
        );
        assert_eq!(
            reference("arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop/stripe-AbCdEf"),
            "secretsmanager:shop/stripe"
        );
        assert_eq!(
            reference(
                "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop/db-AbCdEf:password::"
            ),
            "secretsmanager:shop/db"
        );
        assert_eq!(reference("/shop/db_password"), "ssm:/shop/db_password");
    }
}
