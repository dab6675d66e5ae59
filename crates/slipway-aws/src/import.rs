//! `slipway ecs import`: an ECS environment for slipway.toml from the task definition and service
//! JSON files a project keeps today (e.g. `aws/task-definitions/*.json` and
//! `aws/json/service-*.json`, deployed with `aws ecs update-service --force-new-deployment` on a
//! mutable tag). Pure: files in, a plan out ([`import`]), and the plan merged into the text of
//! slipway.toml with its comments and layout kept ([`merge`]).
//!
//! In each task definition the app is the container the service's load balancer names, else the
//! one with port mappings, else the first essential one; the other containers (an X-Ray daemon,
//! a log router) become the app's sidecars. Services are matched to task definitions by family,
//! whatever the file order; a JSON file that is neither (a `budget.json`) is skipped with a note.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::Value;
use slipway_core::manifest::{CommandLine, Duration, EcsApp, Health, Sidecar, looks_secret};

use crate::{AwsError, Result};

/// What the files say, ready to merge into slipway.toml.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The environment's target settings (cluster, region, network, roles, logs).
    pub target: BTreeMap<&'static str, toml_edit::Value>,
    /// Secret name → `ssm:/path` or `secretsmanager:NAME`.
    pub secrets: BTreeMap<String, String>,
    /// The ECR registry the images come from (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`).
    pub registry: Option<String>,
    /// The apps found, one per task definition's main container.
    pub apps: Vec<ImportedApp>,
    /// Things a person must look at, and everything that was not carried over.
    pub notes: Vec<String>,
}

/// One app: its container's settings and the ECS service that runs it.
#[derive(Debug, Clone, Default)]
pub struct ImportedApp {
    /// The app container's name.
    pub name: String,
    /// Other names the app may have in slipway.toml (family, service).
    pub aliases: Vec<String>,
    /// Its cluster, service and load balancing.
    pub ecs: EcsApp,
    /// The port its container listens on.
    pub port: Option<u16>,
    /// The user its container runs as.
    pub user: Option<String>,
    /// Its container's health check.
    pub health: Option<Health>,
    /// Its task's other containers, by name.
    pub sidecars: IndexMap<String, Sidecar>,
    /// The repository of its image in `Imported::registry`.
    pub repository: Option<String>,
    /// Desired task count of its service.
    pub replicas: Option<u32>,
    /// Its environment as a config template (`{{ secret.X }}` for secrets).
    pub template: String,
    /// The file it came from.
    pub file: String,
}

/// What kind of document a JSON file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// An ECS task definition (as `aws ecs describe-task-definition` or register takes it).
    TaskDefinition,
    /// An ECS service.
    Service,
    /// Anything else: it is not imported.
    Other,
}

/// A task definition (as registered, or `describe-task-definition` output), a service
/// definition (as given to `aws ecs create-service`), or something else.
pub fn classify(json: &Value) -> Document {
    let inner = json.get("taskDefinition").filter(|t| t.is_object());
    if json.get("containerDefinitions").is_some()
        || inner.is_some_and(|t| t.get("containerDefinitions").is_some())
    {
        Document::TaskDefinition
    } else if json.get("serviceName").is_some()
        || json.get("taskDefinition").is_some_and(Value::is_string)
    {
        Document::Service
    } else {
        Document::Other
    }
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

/// Reads typed fields of one JSON document, naming the file and field path of anything of the
/// wrong type.
struct Fields<'a> {
    file: &'a str,
}

impl Fields<'_> {
    fn wrong(&self, path: &str, expected: &str, found: &Value) -> AwsError {
        let found = match found {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        AwsError::Plan(format!(
            "{}: `{path}` must be {expected}, found {found}; fix the file (nothing was written)",
            self.file
        ))
    }

    fn text<'v>(&self, value: &'v Value, key: &str, path: &str) -> Result<Option<&'v str>> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(&format!("{path}{key}"), "a string", other)),
        }
    }

    fn list<'v>(&self, value: &'v Value, key: &str, path: &str) -> Result<&'v [Value]> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(&format!("{path}{key}"), "a list", other)),
        }
    }

    fn number(&self, value: &Value, key: &str, path: &str) -> Result<Option<u64>> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(&format!("{path}{key}"), "a whole number", &value[key])),
            Some(other) => Err(self.wrong(&format!("{path}{key}"), "a number", other)),
        }
    }

    /// CPU and memory are strings in RegisterTaskDefinition JSON and numbers in some files.
    fn units(&self, value: &Value, key: &str) -> Result<Option<String>> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.wrong(key, "a string or a number", other)),
        }
    }

    fn flag(&self, value: &Value, key: &str, path: &str) -> Result<Option<bool>> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(&format!("{path}{key}"), "true or false", other)),
        }
    }

    fn strings(&self, value: &Value, key: &str, path: &str) -> Result<Vec<String>> {
        self.list(value, key, path)?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.wrong(&format!("{path}{key}[{i}]"), "a string", item))
            })
            .collect()
    }

    fn object<'v>(&self, value: &'v Value, key: &str, path: &str) -> Result<Option<&'v Value>> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(object @ Value::Object(_)) => Ok(Some(object)),
            Some(other) => Err(self.wrong(&format!("{path}{key}"), "an object", other)),
        }
    }
}

/// `registry`, `repository` of an ECR image reference; `None` for other registries.
fn ecr_repository(image: &str) -> Option<(String, String)> {
    let (host, rest) = image.split_once('/')?;
    if !(host.contains(".dkr.ecr.") && host.ends_with(".amazonaws.com")) {
        return None;
    }
    let repository = rest
        .split_once('@')
        .map_or(rest, |(r, _)| r)
        .rsplit_once(':')
        .map_or(rest.split_once('@').map_or(rest, |(r, _)| r), |(r, _)| r);
    Some((host.to_owned(), repository.to_owned()))
}

fn seconds(value: Option<u64>) -> Option<Duration> {
    value.map(|s| Duration(std::time::Duration::from_secs(s)))
}

/// One container's port mappings: `(port, protocol, name)`.
fn ports(
    fields: &Fields,
    container: &Value,
    path: &str,
) -> Result<Vec<(u16, String, Option<String>)>> {
    let mut out = Vec::new();
    for (i, mapping) in fields
        .list(container, "portMappings", path)?
        .iter()
        .enumerate()
    {
        let at = format!("{path}portMappings[{i}].");
        let Some(port) = fields.number(mapping, "containerPort", &at)? else {
            continue;
        };
        let port = u16::try_from(port).map_err(|_| {
            AwsError::Plan(format!(
                "{}: `{at}containerPort` {port} is not a port",
                fields.file
            ))
        })?;
        let protocol = fields
            .text(mapping, "protocol", &at)?
            .unwrap_or("tcp")
            .to_ascii_lowercase();
        let name = fields.text(mapping, "name", &at)?.map(str::to_owned);
        out.push((port, protocol, name));
    }
    Ok(out)
}

/// The task family a service's `taskDefinition` names: `family`, `family:3` or an ARN.
fn service_family(task_definition: &str) -> &str {
    let name = task_definition
        .rsplit_once(":task-definition/")
        .map_or(task_definition, |(_, rest)| rest);
    name.split(':').next().unwrap_or(name)
}

/// Builds the plan from every JSON file given (task definitions, service definitions and
/// anything else beside them, which is skipped with a note).
pub fn import(files: &[(String, Value)]) -> Result<Imported> {
    let mut task_definitions = Vec::new();
    let mut services = Vec::new();
    let mut notes = Vec::new();
    for (file, json) in files {
        match classify(json) {
            Document::TaskDefinition => task_definitions.push((file.as_str(), json)),
            Document::Service => services.push((file.as_str(), json)),
            Document::Other => notes.push(format!(
                "{file}: neither a task definition (`containerDefinitions`) nor a service (`serviceName`, `taskDefinition`); skipped"
            )),
        }
    }
    if task_definitions.is_empty() {
        return Err(AwsError::Plan(
            "no task definitions among the files: pass the JSON files with `containerDefinitions` (or their directory)".into(),
        ));
    }
    // Services by the family they run.
    let mut service_of: BTreeMap<String, (&str, &Value)> = BTreeMap::new();
    for (file, service) in &services {
        let fields = Fields { file };
        let Some(task) = fields.text(service, "taskDefinition", "")? else {
            notes.push(format!(
                "{file}: the service names no `taskDefinition`; skipped"
            ));
            continue;
        };
        let family = service_family(task).to_owned();
        if let Some((other, _)) = service_of.get(&family) {
            return Err(AwsError::Plan(format!(
                "{file} and {other} both run task family `{family}`; slipway runs one service per app (two for blue-green): import them into separate environments"
            )));
        }
        service_of.insert(family, (file, service));
    }

    let mut imported = Imported {
        notes,
        ..Imported::default()
    };
    let mut first_network = None;
    for (file, definition) in &task_definitions {
        let definition = definition
            .get("taskDefinition")
            .filter(|t| t.is_object())
            .unwrap_or(definition);
        import_task(
            &mut imported,
            file,
            definition,
            &service_of,
            &mut first_network,
        )?;
    }
    let matched: Vec<String> = imported
        .apps
        .iter()
        .map(|a| a.ecs.family.clone().unwrap_or_default())
        .collect();
    for (family, (file, _)) in &service_of {
        if !matched.contains(family) {
            imported.notes.push(format!(
                "{file}: runs task family `{family}`, which none of the task definitions is; skipped"
            ));
        }
    }
    if !imported.target.contains_key("cluster") {
        imported.notes.push(
            "no service definition names the cluster: set `cluster` in the environment's target"
                .into(),
        );
    }
    Ok(imported)
}

fn import_task(
    imported: &mut Imported,
    file: &str,
    definition: &Value,
    service_of: &BTreeMap<String, (&str, &Value)>,
    first_network: &mut Option<()>,
) -> Result<()> {
    let fields = Fields { file };
    let family = fields.text(definition, "family", "")?.ok_or_else(|| {
        AwsError::Plan(format!(
            "{file}: no `family`: a task definition needs one (it names the task and its service)"
        ))
    })?;
    let containers = fields.list(definition, "containerDefinitions", "")?;
    if containers.is_empty() {
        return Err(AwsError::Plan(format!(
            "{file}: `containerDefinitions` is empty"
        )));
    }
    for (i, container) in containers.iter().enumerate() {
        if !container.is_object() {
            return Err(fields.wrong(
                &format!("containerDefinitions[{i}]"),
                "an object",
                container,
            ));
        }
        if fields
            .text(container, "name", &format!("containerDefinitions[{i}]."))?
            .is_none()
        {
            return Err(AwsError::Plan(format!(
                "{file}: `containerDefinitions[{i}]` has no `name`"
            )));
        }
    }
    let all_ports = containers
        .iter()
        .enumerate()
        .map(|(i, c)| ports(&fields, c, &format!("containerDefinitions[{i}].")))
        .collect::<Result<Vec<_>>>()?;
    let name_of = |c: &Value| {
        c.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let service = service_of.get(family).copied();
    let sfields = Fields {
        file: service.map_or(file, |(f, _)| f),
    };
    let load_balancers = match service {
        Some((_, s)) => sfields.list(s, "loadBalancers", "")?,
        None => &[],
    };
    // The app: the container the load balancer sends traffic to, else the one with ports.
    let balanced = match load_balancers.first() {
        Some(lb) => sfields.text(lb, "containerName", "loadBalancers[0].")?,
        None => None,
    };
    let main_index = match balanced {
        Some(name) => containers
            .iter()
            .position(|c| name_of(c) == name)
            .ok_or_else(|| {
                AwsError::Plan(format!(
                    "{}: the load balancer sends traffic to container `{name}`, which task definition {file} does not have",
                    sfields.file
                ))
            })?,
        // An X-Ray daemon maps a UDP port too: the app is the one serving TCP.
        None => all_ports
            .iter()
            .position(|p| p.iter().any(|(_, protocol, _)| protocol == "tcp"))
            .or_else(|| all_ports.iter().position(|p| !p.is_empty()))
            .or_else(|| {
                containers
                    .iter()
                    .position(|c| c.get("essential").and_then(Value::as_bool) != Some(false))
            })
            .unwrap_or(0),
    };
    let main = &containers[main_index];
    let app_name = name_of(main);
    let path = format!("containerDefinitions[{main_index}].");
    let notes = &mut imported.notes;

    let mut app = ImportedApp {
        name: app_name.clone(),
        file: file.to_owned(),
        ..ImportedApp::default()
    };
    app.ecs.family = Some(family.to_owned());
    app.ecs.cpu = fields.units(definition, "cpu")?;
    app.ecs.memory = fields.units(definition, "memory")?;
    if family != app_name {
        app.aliases.push(family.to_owned());
    }

    // Image: where it lives now.
    if let Some(image) = fields.text(main, "image", &path)? {
        match ecr_repository(image) {
            Some((registry, repository)) => {
                if let Some(existing) = &imported.registry
                    && *existing != registry
                {
                    notes.push(format!(
                        "{file}: `{app_name}` comes from {registry}, the other apps from {existing}; slipway pushes every app of an environment to one registry"
                    ));
                } else {
                    imported.registry = Some(registry);
                }
                app.repository = Some(repository);
            }
            None => notes.push(format!(
                "{file}: `{app_name}` runs {image}, not from ECR; set the environment's `registry` to where slipway should push it"
            )),
        }
        if !image.contains('@') {
            notes.push(format!(
                "{file}: `{app_name}` runs the mutable tag {image}; slipway deploys the image it pushes, pinned by digest"
            ));
        }
    }

    // Ports: the app's port is the one the load balancer uses, else the first TCP one.
    let app_ports = all_ports[main_index].clone();
    let balanced_port = match load_balancers.first() {
        Some(lb) => sfields.number(lb, "containerPort", "loadBalancers[0].")?,
        None => None,
    };
    let chosen = app_ports
        .iter()
        .find(|(p, _, _)| Some(u64::from(*p)) == balanced_port)
        .or_else(|| app_ports.iter().find(|(_, protocol, _)| protocol == "tcp"));
    app.port = chosen.map(|(p, _, _)| *p);
    for (port, protocol, name) in &app_ports {
        if Some(*port) == app.port && protocol == "tcp" {
            if let Some(name) = name {
                notes.push(format!(
                    "{file}: `{app_name}`'s port {port} is named `{name}` (for Service Connect); slipway's task definitions leave ports unnamed"
                ));
            }
            continue;
        }
        notes.push(format!(
            "{file}: `{app_name}` also maps {port}/{protocol}; slipway maps one port per app ({}), so it is not carried over",
            app.port.map_or("none".into(), |p| p.to_string())
        ));
    }
    app.user = fields.text(main, "user", &path)?.map(str::to_owned);
    if let Some(check) = fields.object(main, "healthCheck", &path)? {
        let at = format!("{path}healthCheck.");
        let command = fields.strings(check, "command", &at)?;
        let cmd = match command.split_first() {
            Some((kind, rest)) if kind == "CMD-SHELL" => Some(CommandLine::Shell(rest.join(" "))),
            Some((kind, rest)) if kind == "CMD" => Some(CommandLine::Exec(rest.to_vec())),
            Some((kind, _)) if kind == "NONE" => None,
            Some(_) => Some(CommandLine::Exec(command.clone())),
            None => None,
        };
        if let Some(cmd) = cmd {
            app.health = Some(Health {
                path: None,
                cmd: Some(cmd),
                interval: seconds(fields.number(check, "interval", &at)?),
                timeout: seconds(fields.number(check, "timeout", &at)?),
                retries: fields.number(check, "retries", &at)?.map(|r| r as u32),
                start_period: seconds(fields.number(check, "startPeriod", &at)?),
            });
        }
    }
    for (key, why) in [
        (
            "command",
            "the image's own CMD runs; set the app's `cmd` if it must differ",
        ),
        (
            "entryPoint",
            "the image's own ENTRYPOINT runs; set the app's `entrypoint` if it must differ",
        ),
        ("mountPoints", "volumes are not part of slipway's ECS tasks"),
        ("linuxParameters", "not carried over"),
        ("ulimits", "not carried over"),
        ("dependsOn", "sidecars start beside the app"),
    ] {
        if main
            .get(key)
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
        {
            notes.push(format!("{file}: `{app_name}`'s `{key}`: {why}"));
        }
    }

    // Its environment.
    let mut template = format!("# {app_name}'s environment, imported from {file}.\n");
    for (i, pair) in fields.list(main, "environment", &path)?.iter().enumerate() {
        let at = format!("{path}environment[{i}].");
        let (Some(name), value) = (
            fields.text(pair, "name", &at)?,
            fields.text(pair, "value", &at)?,
        ) else {
            continue;
        };
        let value = value.unwrap_or_default();
        if looks_secret(name) && !value.is_empty() {
            // Templates are committed: a plain secret never goes into one.
            notes.push(format!(
                "{file}: `{name}` looks like a secret kept as a plain value, so it was left out of the template; put it in SSM or Secrets Manager, then add `{name}={{{{ secret.{name} }}}}` to the template and its reference under the environment's secrets"
            ));
            continue;
        }
        // A literal `{{` in a value must stay literal in the template.
        let value = value
            .replace("{{", "{{ '{{' }}")
            .replace("{%", "{{ '{%' }}");
        template.push_str(&format!("{name}={value}\n"));
    }
    for (i, secret) in fields.list(main, "secrets", &path)?.iter().enumerate() {
        let at = format!("{path}secrets[{i}].");
        let (Some(name), Some(value_from)) = (
            fields.text(secret, "name", &at)?,
            fields.text(secret, "valueFrom", &at)?,
        ) else {
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
        template.push_str(&format!("{name}={{{{ secret.{name} }}}}\n"));
        let wanted = reference(value_from);
        if let Some(existing) = imported.secrets.get(name)
            && *existing != wanted
        {
            return Err(AwsError::Plan(format!(
                "{file}: secret `{name}` comes from {wanted} here and from {existing} in another task definition; rename one"
            )));
        }
        imported.secrets.insert(name.to_owned(), wanted);
    }
    app.template = template;

    // Sidecars.
    for (index, container) in containers.iter().enumerate() {
        if index == main_index {
            continue;
        }
        let at = format!("containerDefinitions[{index}].");
        let name = name_of(container);
        let image = fields
            .text(container, "image", &at)?
            .unwrap_or_default()
            .to_owned();
        let mut sidecar = Sidecar {
            image: image.clone(),
            essential: fields.flag(container, "essential", &at)?.unwrap_or(true),
            ..Sidecar::default()
        };
        let command = fields.strings(container, "command", &at)?;
        if !command.is_empty() {
            sidecar.cmd = Some(CommandLine::Exec(command));
        }
        for (i, pair) in fields
            .list(container, "environment", &at)?
            .iter()
            .enumerate()
        {
            let pair_at = format!("{at}environment[{i}].");
            if let (Some(k), Some(v)) = (
                fields.text(pair, "name", &pair_at)?,
                fields.text(pair, "value", &pair_at)?,
            ) {
                if looks_secret(k) {
                    notes.push(format!(
                        "{file}: sidecar `{name}`'s `{k}` looks like a secret; left out"
                    ));
                    continue;
                }
                sidecar.env.insert(k.to_owned(), v.to_owned());
            }
        }
        for (port, protocol, _) in all_ports[index].clone() {
            if protocol == "tcp" && sidecar.port.is_none() {
                sidecar.port = Some(port);
            } else {
                notes.push(format!(
                    "{file}: sidecar `{name}` listens on {port}/{protocol}; in the task's network (awsvpc) `{app_name}` reaches it at 127.0.0.1:{port}, so the mapping is not carried over"
                ));
            }
        }
        if fields.text(container, "user", &at)?.is_some() {
            notes.push(format!(
                "{file}: sidecar `{name}`'s `user` is not carried over: it runs as its image's user"
            ));
        }
        if container
            .get("secrets")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty())
        {
            notes.push(format!(
                "{file}: sidecar `{name}`'s `secrets` are not carried over: sidecars get no secrets"
            ));
        }
        if container.get("healthCheck").is_some_and(|h| !h.is_null()) {
            notes.push(format!(
                "{file}: sidecar `{name}`'s health check is not carried over"
            ));
        }
        let last = image.rsplit('/').next().unwrap_or(&image);
        let pinned =
            image.contains('@') || last.split_once(':').is_some_and(|(_, tag)| tag != "latest");
        if !pinned {
            notes.push(format!(
                "{file}: sidecar `{name}` runs {image}, which is not pinned: pin it to a tag or digest, then add it as [apps.{app_name}.sidecars.{name}] with image = \"{image}:TAG\""
            ));
            continue;
        }
        app.sidecars.insert(name, sidecar);
    }

    // Target settings from the task definition.
    for (key, field) in [
        ("execution_role_arn", "executionRoleArn"),
        ("task_role_arn", "taskRoleArn"),
    ] {
        if let Some(value) = fields.text(definition, field, "")? {
            imported.target.entry(key).or_insert_with(|| value.into());
        }
    }
    if let Some(options) = main.get("logConfiguration").and_then(|l| l.get("options")) {
        if let Some(region) = options.get("awslogs-region").and_then(Value::as_str) {
            imported
                .target
                .entry("region")
                .or_insert_with(|| region.into());
        }
        if let Some(group) = options.get("awslogs-group").and_then(Value::as_str) {
            imported
                .target
                .entry("log_group")
                .or_insert_with(|| group.into());
        }
    }
    if let Some(launch) = fields
        .strings(definition, "requiresCompatibilities", "")?
        .first()
    {
        imported
            .target
            .entry("launch_type")
            .or_insert_with(|| launch.as_str().into());
    }

    // Its service.
    match service {
        None => {
            imported.notes.push(format!(
                "{file}: no service definition runs family `{family}`; its service will be `{family}`"
            ));
            app.ecs.service = Some(family.to_owned());
        }
        Some((service_file, service)) => {
            let sf = Fields { file: service_file };
            let service_name = sf
                .text(service, "serviceName", "")?
                .unwrap_or(family)
                .to_owned();
            if service_name != app_name {
                app.aliases.push(service_name.clone());
            }
            app.ecs.service = Some(service_name);
            if let Some(count) = sf.number(service, "desiredCount", "")? {
                app.replicas = Some(count as u32);
            }
            if let Some(cluster) = sf.text(service, "cluster", "")? {
                let cluster = cluster.rsplit_once(":cluster/").map_or(cluster, |(_, c)| c);
                imported
                    .target
                    .entry("cluster")
                    .or_insert_with(|| cluster.into());
            }
            if let Some(launch) = sf.text(service, "launchType", "")? {
                imported.target.insert("launch_type", launch.into());
            }
            for (i, lb) in load_balancers.iter().enumerate() {
                if let Some(group) =
                    sf.text(lb, "targetGroupArn", &format!("loadBalancers[{i}]."))?
                {
                    app.ecs.target_groups.push(group.to_owned());
                }
            }
            if let Some(network) = sf
                .object(service, "networkConfiguration", "")?
                .and_then(|n| n.get("awsvpcConfiguration"))
                && first_network.is_none()
            {
                *first_network = Some(());
                let at = "networkConfiguration.awsvpcConfiguration.";
                let subnets = sf.strings(network, "subnets", at)?;
                if !subnets.is_empty() {
                    imported.target.insert("subnets", strings_value(&subnets));
                }
                let groups = sf.strings(network, "securityGroups", at)?;
                if !groups.is_empty() {
                    imported
                        .target
                        .insert("security_groups", strings_value(&groups));
                }
                if sf.text(network, "assignPublicIp", at)? == Some("ENABLED") {
                    imported.target.insert("assign_public_ip", true.into());
                }
            }
            if sf.flag(service, "enableExecuteCommand", "")? == Some(true) {
                imported.notes.push(format!(
                    "{service_file}: `enableExecuteCommand` is not carried over: slipway's services run without ECS Exec; use `aws ecs update-service --enable-execute-command` if you need it"
                ));
            }
            if service.get("serviceConnectConfiguration").is_some_and(|c| {
                c.get("enabled").and_then(Value::as_bool) != Some(false) && !c.is_null()
            }) {
                imported.notes.push(format!(
                    "{service_file}: Service Connect (`serviceConnectConfiguration`) is not carried over: slipway's services do not join a Service Connect namespace; apps reach each other through the load balancer"
                ));
            }
            for key in [
                "deploymentConfiguration",
                "deploymentController",
                "serviceRegistries",
                "placementConstraints",
                "placementStrategy",
                "capacityProviderStrategy",
            ] {
                if service.get(key).is_some_and(|v| !v.is_null()) {
                    imported.notes.push(format!("{service_file}: `{key}` is not carried over: the environment's `strategy` decides how slipway deploys"));
                }
            }
        }
    }
    imported.apps.push(app);
    Ok(())
}

fn strings_value(items: &[String]) -> toml_edit::Value {
    let mut array = toml_edit::Array::new();
    for item in items {
        array.push(item.as_str());
    }
    toml_edit::Value::Array(array)
}

/// What [`merge`] makes: the new slipway.toml text, the config templates to write
/// (`config/<env>/<name>.env.j2` relative path → text), and notes.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The new slipway.toml.
    pub manifest: String,
    /// Config templates, by path relative to the project.
    pub templates: BTreeMap<String, String>,
    /// What was not carried over, and what a person should check.
    pub notes: Vec<String>,
}

/// Merges the plan into slipway.toml's text as environment `environment`: an environment that
/// does not exist is created; one that does (e.g. the `prod` that `init` wrote) keeps what it
/// sets and gets the rest. Apps are matched by name (or by their task family or service name).
pub fn merge(manifest_text: &str, environment: &str, imported: &Imported) -> Result<Merged> {
    use toml_edit::{DocumentMut, Item, Table, value};

    let mut doc: DocumentMut = manifest_text
        .parse()
        .map_err(|e| AwsError::Plan(format!("slipway.toml: {e}")))?;
    let mut notes = Vec::new();
    let config_dir = doc
        .get("environments")
        .and_then(|e| e.get(environment))
        .and_then(|e| e.get("config"))
        .and_then(Item::as_str)
        .map_or_else(|| format!("config/{environment}"), str::to_owned);

    // Registry.
    let mut registry_name = None;
    if let Some(url) = &imported.registry {
        let registries = doc
            .entry("registries")
            .or_insert_with(implicit_table)
            .as_table_like_mut()
            .ok_or_else(|| AwsError::Plan("slipway.toml: `registries` is not a table".into()))?;
        let found = registries
            .iter()
            .find(|(_, r)| {
                r.get("url")
                    .and_then(Item::as_str)
                    .is_some_and(|u| u.trim_end_matches('/') == url)
            })
            .map(|(name, _)| name.to_owned());
        let name = match found {
            Some(name) => name,
            None => {
                let mut name = "ecr".to_owned();
                let mut n = 2;
                while registries.contains_key(&name) {
                    name = format!("ecr-{n}");
                    n += 1;
                }
                let mut table = Table::new();
                table.insert("url", value(url.as_str()));
                table.insert("credentials", value("aws"));
                registries.insert(&name, Item::Table(table));
                notes.push(format!(
                    "added [registries.{name}] ({url}, credentials from the AWS chain)"
                ));
                name
            }
        };
        registry_name = Some(name);
    }

    let environments = doc
        .entry("environments")
        .or_insert_with(implicit_table)
        .as_table_like_mut()
        .ok_or_else(|| AwsError::Plan("slipway.toml: `environments` is not a table".into()))?;
    let existed = environments.contains_key(environment);
    let env = environments
        .entry(environment)
        .or_insert(Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| {
            AwsError::Plan(format!(
                "slipway.toml: `environments.{environment}` is not a table"
            ))
        })?;
    if let Some(name) = &registry_name {
        match env.get("registry").and_then(Item::as_str) {
            None => {
                env.insert("registry", value(name.as_str()));
            }
            Some(existing) if existing != name => notes.push(format!(
                "[environments.{environment}] keeps registry `{existing}`; the task definitions pull from registry `{name}`"
            )),
            Some(_) => {}
        }
    }

    // Target.
    let target_kind = env
        .get("target")
        .and_then(|t| t.get("kind"))
        .and_then(Item::as_str)
        .map(str::to_owned);
    match target_kind.as_deref() {
        Some("ecs") => {}
        None if env.get("target").is_none() => {}
        Some("docker") | None => {
            let target = env.get("target").expect("checked");
            let only_kind = target
                .as_table_like()
                .is_some_and(|t| t.iter().all(|(k, _)| k == "kind"));
            if !only_kind {
                return Err(AwsError::Plan(format!(
                    "[environments.{environment}] deploys to Docker hosts; import the ECS files into another environment with --env NAME"
                )));
            }
            env.remove("target");
        }
        Some(other) => {
            return Err(AwsError::Plan(format!(
                "[environments.{environment}] has target kind `{other}`; import into another environment with --env NAME"
            )));
        }
    }
    let target = env
        .entry("target")
        .or_insert(Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| {
            AwsError::Plan(format!(
                "slipway.toml: `environments.{environment}.target` is not a table"
            ))
        })?;
    target.insert("kind", value("ecs"));
    let cluster_default = toml_edit::Value::from("CLUSTER");
    for key in [
        "cluster",
        "region",
        "launch_type",
        "subnets",
        "security_groups",
        "assign_public_ip",
        "execution_role_arn",
        "task_role_arn",
        "log_group",
    ] {
        let wanted = match imported.target.get(key) {
            Some(v) => v,
            None if key == "cluster" && target.get("cluster").is_none() => &cluster_default,
            None => continue,
        };
        match target.get(key) {
            None => {
                target.insert(key, Item::Value(wanted.clone()));
            }
            Some(existing)
                if existing.as_value().map(|v| v.to_string().trim().to_owned())
                    != Some(wanted.to_string().trim().to_owned()) =>
            {
                notes.push(format!(
                    "[environments.{environment}.target] keeps `{key} = {}`; the files say {}",
                    existing
                        .as_value()
                        .map(|v| v.to_string().trim().to_owned())
                        .unwrap_or_default(),
                    wanted.to_string().trim()
                ));
            }
            Some(_) => {}
        }
    }
    let target_apps = target
        .entry("apps")
        .or_insert_with(implicit_table)
        .as_table_like_mut()
        .ok_or_else(|| AwsError::Plan("slipway.toml: the target's `apps` is not a table".into()))?;
    let mut app_names = Vec::new();
    let existing_apps: Vec<String> = doc_app_names(manifest_text);
    for app in &imported.apps {
        let name = std::iter::once(&app.name)
            .chain(&app.aliases)
            .find(|n| existing_apps.contains(n))
            .cloned()
            .unwrap_or_else(|| app.name.clone());
        let mut table = Table::new();
        if let Some(service) = &app.ecs.service {
            table.insert("service", value(service.as_str()));
        }
        if let Some(family) = &app.ecs.family
            && Some(family) != app.ecs.service.as_ref()
        {
            table.insert("family", value(family.as_str()));
        }
        for (key, v) in [("cpu", &app.ecs.cpu), ("memory", &app.ecs.memory)] {
            if let Some(v) = v {
                table.insert(key, value(v.as_str()));
            }
        }
        if !app.ecs.target_groups.is_empty() {
            table.insert(
                "target_groups",
                Item::Value(strings_value(&app.ecs.target_groups)),
            );
        }
        if target_apps.contains_key(&name) {
            notes.push(format!(
                "[environments.{environment}.target.apps.{name}] replaced by what {} says",
                app.file
            ));
        }
        target_apps.insert(&name, Item::Table(table));
        app_names.push((name, app));
    }

    // Replicas.
    let replicas: Vec<(&String, u32)> = app_names
        .iter()
        .filter_map(|(name, app)| app.replicas.filter(|r| *r != 1).map(|r| (name, r)))
        .collect();
    if !replicas.is_empty() {
        let table = env
            .entry("replicas")
            .or_insert(Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| {
                AwsError::Plan(format!(
                    "slipway.toml: `environments.{environment}.replicas` is not a table"
                ))
            })?;
        for (name, count) in replicas {
            table.insert(name, value(i64::from(count)));
        }
    }

    // Secrets: the files' references win over the `env:` sources init wrote for development.
    let secrets = env
        .entry("secrets")
        .or_insert(Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| {
            AwsError::Plan(format!(
                "slipway.toml: `environments.{environment}.secrets` is not a table"
            ))
        })?;
    for (name, reference) in &imported.secrets {
        match secrets.get(name).and_then(Item::as_str) {
            None => {
                secrets.insert(name, value(reference.as_str()));
            }
            Some(existing) if existing == reference => {}
            Some(existing) if !(existing.starts_with("ssm:") || existing.starts_with("secretsmanager:")) => {
                notes.push(format!("[environments.{environment}.secrets] `{name}` now comes from {reference} (was {existing}): an ECS task reads it there"));
                secrets.insert(name, value(reference.as_str()));
            }
            Some(existing) => notes.push(format!(
                "[environments.{environment}.secrets] keeps `{name} = \"{existing}\"`; the task definition reads {reference}"
            )),
        }
    }
    // Sources an ECS task cannot read, that the imported templates no longer use.
    let stale: Vec<String> = secrets
        .iter()
        .filter(|(name, reference)| {
            let reference = reference.as_str().unwrap_or_default();
            !(reference.starts_with("ssm:")
                || reference.starts_with("secretsmanager:")
                || imported.secrets.contains_key(*name))
        })
        .map(|(name, _)| name.to_owned())
        .collect();
    for name in &stale {
        secrets.remove(name);
        notes.push(format!(
            "[environments.{environment}.secrets] `{name}` removed: an ECS task cannot read its source, and the task definitions do not use it"
        ));
    }
    if secrets.is_empty() {
        env.remove("secrets");
    }
    let _ = existed;

    // Apps.
    let apps = doc
        .entry("apps")
        .or_insert_with(implicit_table)
        .as_table_like_mut()
        .ok_or_else(|| AwsError::Plan("slipway.toml: `apps` is not a table".into()))?;
    let mut templates = BTreeMap::new();
    for (name, app) in &app_names {
        if !apps.contains_key(name) {
            let mut table = Table::new();
            table.insert("build", value("dockerfile"));
            apps.insert(name, Item::Table(table));
            notes.push(format!(
                "[apps.{name}] is new: set its `dir` (where its Dockerfile and code are) before building it"
            ));
        }
        let table = apps
            .get_mut(name)
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| AwsError::Plan(format!("slipway.toml: `apps.{name}` is not a table")))?;
        let mut set = |key: &str, wanted: Item, shown: String| match table.get(key) {
            None => {
                table.insert(key, wanted);
            }
            Some(existing) => {
                let current = existing.to_string();
                if current.trim() != wanted.to_string().trim() {
                    notes.push(format!(
                        "[apps.{name}] keeps its `{key}` ({}); {} says {shown}",
                        current.trim(),
                        app.file
                    ));
                }
            }
        };
        if let Some(port) = app.port {
            set("port", value(i64::from(port)), port.to_string());
        }
        if let Some(user) = &app.user {
            set("user", value(user.as_str()), user.clone());
        }
        if let Some(repository) = &app.repository {
            set("repository", value(repository.as_str()), repository.clone());
        }
        if let Some(health) = &app.health {
            let item = to_item(health)?;
            set("health", item, "another health check".into());
        }
        if !app.sidecars.is_empty() {
            let sidecars = table
                .entry("sidecars")
                .or_insert_with(implicit_table)
                .as_table_like_mut()
                .ok_or_else(|| {
                    AwsError::Plan(format!(
                        "slipway.toml: `apps.{name}.sidecars` is not a table"
                    ))
                })?;
            for (sidecar_name, sidecar) in &app.sidecars {
                if sidecars.contains_key(sidecar_name) {
                    notes.push(format!(
                        "[apps.{name}.sidecars.{sidecar_name}] kept as it is"
                    ));
                    continue;
                }
                sidecars.insert(sidecar_name, to_item(sidecar)?);
            }
        }
        let config = table
            .get("config")
            .and_then(Item::as_str)
            .map_or_else(|| name.clone(), str::to_owned);
        templates.insert(
            format!("{config_dir}/{config}.env.j2"),
            app.template.clone(),
        );
    }
    Ok(Merged {
        manifest: doc.to_string(),
        templates,
        notes,
    })
}

fn implicit_table() -> toml_edit::Item {
    let mut table = toml_edit::Table::new();
    table.set_implicit(true);
    toml_edit::Item::Table(table)
}

/// A model value as a TOML table item (through its serde form).
fn to_item<T: serde::Serialize>(model: &T) -> Result<toml_edit::Item> {
    let text =
        toml::to_string(model).map_err(|e| AwsError::Plan(format!("cannot write TOML: {e}")))?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| AwsError::Plan(format!("cannot write TOML: {e}")))?;
    let mut table = doc.as_table().clone();
    table.set_implicit(false);
    table.decor_mut().clear();
    Ok(toml_edit::Item::Table(table))
}

/// The app names slipway.toml defines.
fn doc_app_names(text: &str) -> Vec<String> {
    text.parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|doc| {
            doc.get("apps")
                .and_then(toml_edit::Item::as_table_like)
                .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
        })
        .unwrap_or_default()
}

/// A quoted TOML string (for notes that show a line to add).
pub fn toml_string(text: &str) -> String {
    quoted(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn backend() -> Value {
        json!({
            "family": "backend-flask",
            "executionRoleArn": "arn:aws:iam::123456789012:role/CruddurServiceExecutionRole",
            "taskRoleArn": "arn:aws:iam::123456789012:role/CruddurTaskRole",
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [
                {
                    "name": "xray",
                    "image": "public.ecr.aws/xray/aws-xray-daemon:3.3.7",
                    "essential": true,
                    "user": "1337",
                    "portMappings": [{ "name": "xray", "containerPort": 2000, "protocol": "udp" }]
                },
                {
                    "name": "backend-flask",
                    "image": "123456789012.dkr.ecr.ca-central-1.amazonaws.com/backend-flask",
                    "essential": true,
                    "healthCheck": {
                        "command": ["CMD-SHELL", "python /backend-flask/bin/health-check"],
                        "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 60
                    },
                    "portMappings": [{ "name": "backend-flask", "containerPort": 4567, "protocol": "tcp", "appProtocol": "http" }],
                    "logConfiguration": { "logDriver": "awslogs", "options": {
                        "awslogs-group": "cruddur", "awslogs-region": "ca-central-1", "awslogs-stream-prefix": "backend-flask" } },
                    "environment": [
                        { "name": "OTEL_SERVICE_NAME", "value": "backend-flask" },
                        { "name": "FRONTEND_URL", "value": "https://cruddur.example" }
                    ],
                    "secrets": [
                        { "name": "AWS_SECRET_ACCESS_KEY", "valueFrom": "arn:aws:ssm:ca-central-1:123456789012:parameter/cruddur/backend-flask/AWS_SECRET_ACCESS_KEY" },
                        { "name": "CONNECTION_URL", "valueFrom": "arn:aws:ssm:ca-central-1:123456789012:parameter/cruddur/backend-flask/CONNECTION_URL" }
                    ]
                }
            ]
        })
    }

    fn backend_service() -> Value {
        json!({
            "cluster": "cruddur",
            "launchType": "FARGATE",
            "desiredCount": 1,
            "enableECSManagedTags": true,
            "enableExecuteCommand": true,
            "loadBalancers": [{
                "targetGroupArn": "arn:aws:elasticloadbalancing:ca-central-1:123456789012:targetgroup/cruddur-backend-flask-tg/87ed2a3daf2d2b1d",
                "containerName": "backend-flask", "containerPort": 4567 }],
            "networkConfiguration": { "awsvpcConfiguration": {
                "assignPublicIp": "ENABLED",
                "securityGroups": ["sg-04bdc6e2a1a2d7ad0"],
                "subnets": ["subnet-0462b87709683ccaa", "subnet-066a53dd88d557b05"] } },
            "propagateTags": "SERVICE",
            "serviceName": "backend-flask",
            "taskDefinition": "backend-flask",
            "serviceConnectConfiguration": { "enabled": true, "namespace": "cruddur",
                "services": [{ "portName": "backend-flask", "discoveryName": "backend-flask",
                    "clientAliases": [{ "port": 4567 }] }] }
        })
    }

    #[test]
    fn the_load_balanced_container_is_the_app_and_the_others_its_sidecars() {
        let files = vec![
            // The service comes first and names the family with a revision: order and form do
            // not matter.
            ("aws/json/service-backend-flask.json".to_owned(), {
                let mut s = backend_service();
                s["taskDefinition"] =
                    json!("arn:aws:ecs:ca-central-1:123456789012:task-definition/backend-flask:7");
                s
            }),
            (
                "aws/json/budget.json".to_owned(),
                json!({ "BudgetName": "Example Budget", "BudgetLimit": { "Amount": "1" } }),
            ),
            (
                "aws/task-definitions/backend-flask.json".to_owned(),
                backend(),
            ),
        ];
        let imported = import(&files).unwrap();
        assert_eq!(imported.apps.len(), 1);
        let app = &imported.apps[0];
        assert_eq!(app.name, "backend-flask");
        assert_eq!(app.port, Some(4567));
        assert_eq!(app.repository.as_deref(), Some("backend-flask"));
        assert_eq!(
            imported.registry.as_deref(),
            Some("123456789012.dkr.ecr.ca-central-1.amazonaws.com")
        );
        assert_eq!(app.ecs.service.as_deref(), Some("backend-flask"));
        assert_eq!(app.ecs.target_groups.len(), 1);
        let health = app.health.as_ref().unwrap();
        assert_eq!(
            health.cmd,
            Some(CommandLine::Shell(
                "python /backend-flask/bin/health-check".into()
            ))
        );
        assert_eq!(health.start_period.map(|d| d.0.as_secs()), Some(60));
        let xray = &app.sidecars["xray"];
        assert_eq!(xray.image, "public.ecr.aws/xray/aws-xray-daemon:3.3.7");
        assert!(xray.essential);
        assert_eq!(
            xray.port, None,
            "a UDP port is reached on localhost, not mapped"
        );
        assert_eq!(
            imported.secrets["AWS_SECRET_ACCESS_KEY"],
            "ssm:/cruddur/backend-flask/AWS_SECRET_ACCESS_KEY"
        );
        assert!(
            app.template
                .contains("CONNECTION_URL={{ secret.CONNECTION_URL }}\n")
        );
        assert!(app.template.contains("OTEL_SERVICE_NAME=backend-flask\n"));
        let notes = imported.notes.join("\n");
        for expected in [
            "budget.json: neither",
            "2000/udp",
            "enableExecuteCommand",
            "Service Connect",
            "named `backend-flask`",
            "`user` is not carried over",
            "mutable tag",
        ] {
            assert!(notes.contains(expected), "{expected} not in:\n{notes}");
        }
        assert_eq!(imported.target["cluster"].as_str(), Some("cruddur"));
        assert_eq!(imported.target["region"].as_str(), Some("ca-central-1"));
    }

    #[test]
    fn without_a_load_balancer_the_container_with_ports_is_the_app() {
        let mut definition = backend();
        // X-Ray first, without ports; the app second.
        definition["containerDefinitions"][0]["portMappings"] = json!([]);
        let imported = import(&[("t.json".into(), definition)]).unwrap();
        assert_eq!(imported.apps[0].name, "backend-flask");
        assert!(imported.apps[0].sidecars.contains_key("xray"));
    }

    #[test]
    fn an_unpinned_sidecar_is_named_not_written() {
        let mut definition = backend();
        definition["containerDefinitions"][0]["image"] =
            json!("public.ecr.aws/xray/aws-xray-daemon");
        let imported = import(&[("t.json".into(), definition)]).unwrap();
        assert!(imported.apps[0].sidecars.is_empty());
        assert!(
            imported
                .notes
                .iter()
                .any(|n| n.contains("not pinned")
                    && n.contains("[apps.backend-flask.sidecars.xray]"))
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_with_its_path() {
        let mut definition = backend();
        definition["containerDefinitions"][1]["portMappings"] = json!("4567");
        let error = import(&[("aws/task-definitions/backend-flask.json".into(), definition)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "aws/task-definitions/backend-flask.json: `containerDefinitions[1].portMappings` must be a list, found a string; fix the file (nothing was written)"
        );
        let mut definition = backend();
        definition["containerDefinitions"][1]["healthCheck"]["interval"] = json!("30s");
        let error = import(&[("t.json".into(), definition)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "`containerDefinitions[1].healthCheck.interval` must be a number, found a string"
            ),
            "{error}"
        );
    }

    const INIT_MANIFEST: &str = r#"# slipway.toml, converted by `slipway init --from-compose`.
[project]
name = "cruddur"

[apps.backend-flask]
dir = "backend-flask"
build = "dockerfile"
port = 4567

[environments.dev]
mount = true

[environments.dev.secrets]
AWS_SECRET_ACCESS_KEY = "env:AWS_SECRET_ACCESS_KEY"

[environments.prod]
approval = { required = true }

[environments.prod.secrets]
AWS_SECRET_ACCESS_KEY = "env:AWS_SECRET_ACCESS_KEY"
AWS_ACCESS_KEY_ID = "env:AWS_ACCESS_KEY_ID"
"#;

    #[test]
    fn merges_into_the_prod_that_init_wrote() {
        let imported = import(&[
            ("service.json".into(), backend_service()),
            ("task.json".into(), backend()),
        ])
        .unwrap();
        let merged = merge(INIT_MANIFEST, "prod", &imported).unwrap();
        let manifest = slipway_core::load_manifest(&merged.manifest)
            .unwrap_or_else(|e| panic!("{e:?}\n{}", merged.manifest));
        assert!(
            merged.manifest.starts_with("# slipway.toml, converted"),
            "comments are kept"
        );
        let prod = &manifest.environments["prod"];
        assert!(prod.approval.required, "what prod had is kept");
        let slipway_core::manifest::Target::Ecs(target) = &prod.target else {
            panic!("prod is not on ECS:\n{}", merged.manifest)
        };
        assert_eq!(target.cluster, "cruddur");
        assert_eq!(target.subnets.len(), 2);
        assert_eq!(
            target.apps["backend-flask"].service.as_deref(),
            Some("backend-flask")
        );
        assert_eq!(
            prod.secrets["AWS_SECRET_ACCESS_KEY"],
            "ssm:/cruddur/backend-flask/AWS_SECRET_ACCESS_KEY"
        );
        assert!(
            !prod.secrets.contains_key("AWS_ACCESS_KEY_ID"),
            "an env: source ECS cannot read is dropped"
        );
        assert_eq!(prod.registry.as_deref(), Some("ecr"));
        assert_eq!(
            manifest.registries["ecr"].url,
            "123456789012.dkr.ecr.ca-central-1.amazonaws.com"
        );
        let app = &manifest.apps["backend-flask"];
        assert_eq!(app.repository.as_deref(), Some("backend-flask"));
        assert!(app.sidecars.contains_key("xray"));
        assert_eq!(
            app.dir.as_deref(),
            Some("backend-flask"),
            "the app's own settings stay"
        );
        assert_eq!(
            manifest.environments["dev"].secrets["AWS_SECRET_ACCESS_KEY"],
            "env:AWS_SECRET_ACCESS_KEY"
        );
        assert!(
            merged
                .templates
                .contains_key("config/prod/backend-flask.env.j2")
        );
    }

    #[test]
    fn refuses_an_environment_on_docker_hosts() {
        let imported = import(&[("task.json".into(), backend())]).unwrap();
        let text = "[project]\nname = \"x\"\n[environments.prod.target]\nkind = \"docker\"\nhosts = [\"ssh://a\"]\n";
        let error = merge(text, "prod", &imported).unwrap_err().to_string();
        assert!(error.contains("--env NAME"), "{error}");
    }
}
