//! `slipway init --from-compose`: a compose project (with its override files, anchors, merge
//! keys and env files) turned into slipway.toml and config templates, with a note for
//! everything that could not be carried over.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use slipway_core::manifest::{
    App, BuildKind, CommandLine, Duration, Environment, Health, Manifest, Project, Service,
    looks_secret,
};
use slipway_core::scaffold::ENVIRONMENTS;

use crate::yaml::{self, Node, Value};

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{}:{line}:{column}: {message}", file.display())]
    Yaml {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: no `services` to import", file.display())]
    NoServices { file: PathBuf },
}

/// A compose file given on the command line.
#[derive(Debug, Clone)]
pub struct ComposeSource {
    pub path: PathBuf,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Imported {
    pub manifest: Manifest,
    /// Config templates: `config/<env>/<name>.env.j2` → contents.
    pub templates: Vec<(PathBuf, String)>,
    /// What could not be carried over, one line each.
    pub notes: Vec<String>,
}

/// Merges the files in order (later ones override, as `docker compose -f a -f b` does) and
/// converts the result. `read` loads env files relative to the first compose file.
pub fn import(
    project: &str,
    sources: &[ComposeSource],
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<Imported, ComposeError> {
    let mut merged: Option<Node> = None;
    for source in sources {
        let node = yaml::parse(&source.text).map_err(|error| {
            let pos = error.pos.unwrap_or_default();
            ComposeError::Yaml {
                file: source.path.clone(),
                line: pos.line,
                column: pos.column,
                message: error.message,
            }
        })?;
        merged = Some(match merged {
            None => node,
            Some(base) => merge(base, node, ""),
        });
    }
    let first = sources.first().map(|s| s.path.clone()).unwrap_or_default();
    let root = crate::resolve_extends(merged.unwrap_or(Node {
        value: Value::Null,
        pos: Default::default(),
    }));
    let Some(services) = root.get("services").filter(|s| !s.entries().is_empty()) else {
        return Err(ComposeError::NoServices { file: first });
    };
    let compose_dir = first.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut converter = Converter {
        notes: Vec::new(),
        templates: Vec::new(),
        secrets: IndexMap::new(),
        compose_dir,
        read,
    };
    let mut manifest = Manifest {
        schema: 1,
        project: Project {
            name: project.to_owned(),
            ..Project::default()
        },
        ..Manifest::default()
    };
    let mut mount_apps = false;
    let mut publish: IndexMap<String, String> = IndexMap::new();
    for (key, service) in services.entries() {
        let name = slipway_core::scaffold::project_name_from(&key.name);
        if name != key.name {
            converter.notes.push(format!("service `{}` is named `{name}`: slipway names are lower-case letters, digits and `-`", key.name));
        }
        let has_build = service.get("build").is_some();
        let env_lines = converter.environment(&name, service);
        if has_build {
            let (app, mounted, published) = converter.app(&name, service);
            mount_apps |= mounted;
            if let Some(address) = published {
                publish.insert(name.clone(), address);
            }
            manifest.apps.insert(name.clone(), app);
        } else if service.get("image").is_some() {
            let svc = converter.service(&name, service);
            manifest.services.insert(name.clone(), svc);
        } else {
            converter.notes.push(format!(
                "service `{name}`: neither `build` nor `image`; skipped"
            ));
            continue;
        }
        if !env_lines.is_empty() {
            for env in ENVIRONMENTS {
                converter.templates.push((
                    PathBuf::from(format!("config/{env}/{name}.env.j2")),
                    format!(
                        "# Imported from the compose file's environment of `{name}`.\n{}",
                        env_lines.join("\n") + "\n"
                    ),
                ));
            }
        }
        converter.unsupported(&name, service, has_build);
    }
    if root.get("networks").is_some() {
        converter.notes.push("networks: slipway makes its own per environment (an internal one for services, a public one for apps); the compose networks were not carried over".into());
    }
    for env in ENVIRONMENTS {
        let mut environment = Environment {
            mount: *env == "dev" && mount_apps,
            ..Environment::default()
        };
        if *env == "dev" {
            environment.publish = publish.clone();
        }
        if *env != "dev" {
            environment.approval.required = *env == "prod";
        }
        environment.secrets = converter.secrets.clone();
        manifest.environments.insert((*env).to_owned(), environment);
    }
    let compose_dir = converter.compose_dir.clone();
    crate::variants::adopt_dockerfile_variants(
        &mut manifest,
        &|path| read(&compose_dir.join(path)),
        &mut converter.notes,
    );
    crate::erb::adopt_env_templates(
        services,
        &converter.compose_dir,
        read,
        &mut manifest,
        &mut converter.templates,
        &mut converter.notes,
    );
    Ok(Imported {
        manifest,
        templates: converter.templates,
        notes: converter.notes,
    })
}

/// Compose's merge of an override file: mappings merge key by key, the listed sequences
/// append, everything else is replaced.
pub(crate) fn merge(base: Node, over: Node, key: &str) -> Node {
    let (base, over) = if matches!(key, "environment" | "labels" | "args") {
        (list_to_map(base), list_to_map(over))
    } else {
        (base, over)
    };
    const APPENDED: &[&str] = &[
        "ports",
        "expose",
        "volumes",
        "env_file",
        "dns",
        "extra_hosts",
        "cap_add",
        "cap_drop",
    ];
    match (base.value, over.value) {
        (Value::Map(mut entries), Value::Map(overrides)) => {
            for (k, v) in overrides {
                match entries
                    .iter()
                    .position(|(existing, _)| existing.name == k.name)
                {
                    Some(i) => {
                        let (old_key, old) = entries.remove(i);
                        let merged = merge(old, v, &k.name);
                        entries.insert(i, (old_key, merged));
                    }
                    None => entries.push((k, v)),
                }
            }
            Node {
                value: Value::Map(entries),
                pos: base.pos,
            }
        }
        (Value::Seq(mut items), Value::Seq(more)) if APPENDED.contains(&key) => {
            for item in more {
                if !items.iter().any(|i| i.value == item.value) {
                    items.push(item);
                }
            }
            Node {
                value: Value::Seq(items),
                pos: base.pos,
            }
        }
        (_, value) => Node {
            value,
            pos: over.pos,
        },
    }
}

/// `["KEY=value", "FLAG"]` → `{KEY: value, FLAG: null}`, the map form compose merges by key.
fn list_to_map(node: Node) -> Node {
    let Value::Seq(items) = node.value else {
        return node;
    };
    let entries = items
        .into_iter()
        .map(|item| {
            let text = item.as_text().unwrap_or_default();
            let (key, value) = match text.split_once('=') {
                Some((k, v)) => (k.to_owned(), Value::Str(v.to_owned())),
                None => (text.clone(), Value::Null),
            };
            (
                crate::yaml::Key {
                    name: key,
                    pos: item.pos,
                },
                Node {
                    value,
                    pos: item.pos,
                },
            )
        })
        .collect();
    Node {
        value: Value::Map(entries),
        pos: node.pos,
    }
}

struct Converter<'r> {
    notes: Vec<String>,
    templates: Vec<(PathBuf, String)>,
    secrets: IndexMap<String, String>,
    compose_dir: PathBuf,
    read: &'r dyn Fn(&Path) -> Option<String>,
}

impl Converter<'_> {
    fn app(&mut self, name: &str, service: &Node) -> (App, bool, Option<String>) {
        let build = service.get("build").expect("checked by the caller");
        let (context, dockerfile, target, args) = match build.as_text() {
            Some(context) => (context, None, None, IndexMap::new()),
            None => (
                build
                    .get("context")
                    .and_then(Node::as_text)
                    .unwrap_or_else(|| ".".into()),
                build.get("dockerfile").and_then(Node::as_text),
                build.get("target").and_then(Node::as_text),
                string_map(build.get("args")),
            ),
        };
        let dir = context
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        let dir = if dir.is_empty() { ".".to_owned() } else { dir };
        if !dir.starts_with("app/") && dir != "app" {
            self.notes.push(format!("app `{name}`: its code is in `{dir}`; slipway expects it under app/{name}/ (move it and set `dir`)"));
        }
        let dockerfile = dockerfile.map(|d| format!("{dir}/{d}"));
        let port = first_container_port(service.get("ports"));
        let published = service
            .get("ports")
            .and_then(|p| p.items().first())
            .and_then(publish_address);
        let mounted = service.get("volumes").is_some_and(|volumes| {
            volumes.items().iter().any(|v| {
                v.as_text().is_some_and(|t| {
                    t.starts_with('.')
                        && t.split(':').next().is_some_and(|src| {
                            src.trim_start_matches("./").trim_end_matches('/') == dir
                        })
                })
            })
        });
        let app = App {
            dir: Some(dir),
            build: BuildKind::Dockerfile,
            dockerfile,
            target,
            build_args: args,
            user: service.get("user").and_then(Node::as_text),
            workdir: service.get("working_dir").and_then(Node::as_text),
            entrypoint: service.get("entrypoint").and_then(command_line),
            cmd: service.get("command").and_then(command_line),
            port,
            health: service
                .get("healthcheck")
                .and_then(|h| self.health(name, h)),
            ..App::default()
        };
        (app, mounted, published)
    }

    fn service(&mut self, name: &str, service: &Node) -> Service {
        let image = service
            .get("image")
            .and_then(Node::as_text)
            .unwrap_or_default();
        let ports = service
            .get("ports")
            .map(|p| {
                p.items()
                    .iter()
                    .filter_map(|item| {
                        let written = port_text(item)?;
                        let Some(text) = resolve_defaults(&written) else {
                            self.notes.push(format!("service `{name}`: port `{written}` depends on a variable without a default; left out"));
                            return None;
                        };
                        let parts: Vec<&str> = text.split(':').collect();
                        // Publish on loopback unless the file said where.
                        Some(if parts.len() == 2 {
                            format!("127.0.0.1:{text}")
                        } else if parts.len() == 1 {
                            format!("127.0.0.1:{text}:{text}")
                        } else {
                            text
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let volumes = service
            .get("volumes")
            .map(|v| v.items().iter().filter_map(volume_text).collect())
            .unwrap_or_default();
        let last = image.rsplit('/').next().unwrap_or(&image);
        if !image.contains('@')
            && matches!(last.split_once(':').map(|(_, t)| t), None | Some("latest"))
        {
            self.notes.push(format!("service `{name}`: image `{image}` has no pinned tag; slipway requires one: set it in slipway.toml"));
        }
        Service {
            image: Some(image),
            command: service.get("command").and_then(command_line),
            ports,
            volumes,
            health: service
                .get("healthcheck")
                .and_then(|h| self.health(name, h)),
            ..Service::default()
        }
    }

    fn health(&mut self, name: &str, check: &Node) -> Option<Health> {
        if check.get("disable").and_then(Node::as_bool) == Some(true) {
            return None;
        }
        let test = check.get("test")?;
        let cmd = match &test.value {
            Value::Seq(items) => {
                let words = unescaped_words(items);
                match words.split_first() {
                    Some((first, rest)) if first == "CMD-SHELL" => {
                        CommandLine::Shell(rest.join(" "))
                    }
                    Some((first, rest)) if first == "CMD" => CommandLine::Exec(rest.to_vec()),
                    Some((first, _)) if first == "NONE" => return None,
                    _ => CommandLine::Exec(words),
                }
            }
            _ => CommandLine::Shell(unescape(test.as_text()?)),
        };
        let mut duration = |key: &str| {
            let text = check.get(key).and_then(Node::as_text)?;
            match Duration::parse(&text) {
                Ok(d) => Some(d),
                Err(_) => {
                    self.notes.push(format!(
                        "`{name}`: healthcheck {key} `{text}` not understood; left out"
                    ));
                    None
                }
            }
        };
        Some(Health {
            cmd: Some(cmd),
            interval: duration("interval"),
            timeout: duration("timeout"),
            start_period: duration("start_period"),
            retries: check
                .get("retries")
                .and_then(Node::as_text)
                .and_then(|r| r.parse().ok()),
            path: None,
        })
    }

    /// The service's environment (env files first, `environment` over them) as template
    /// lines; secrets become `{{ secret.X }}` with an `env:X` source.
    fn environment(&mut self, name: &str, service: &Node) -> Vec<String> {
        let mut values: IndexMap<String, String> = IndexMap::new();
        let env_files: Vec<String> = match service.get("env_file") {
            Some(node) => match &node.value {
                Value::Seq(items) => items
                    .iter()
                    .filter_map(|i| {
                        i.as_text()
                            .or_else(|| i.get("path").and_then(Node::as_text))
                    })
                    .collect(),
                _ => node.as_text().into_iter().collect(),
            },
            None => Vec::new(),
        };
        for file in env_files {
            match self.read_env_file(&file) {
                Some((text, erb)) => {
                    for (key, value) in parse_env_lines(&text) {
                        let value = if erb { erb_to_template(&value) } else { value };
                        values.insert(key, value);
                    }
                }
                None => self.notes.push(format!("`{name}`: env file `{file}` not found (nor `{file}.erb`); its keys were not carried over")),
            }
        }
        if let Some(environment) = service.get("environment") {
            match &environment.value {
                Value::Map(entries) => {
                    for (key, value) in entries {
                        values.insert(
                            key.name.clone(),
                            value
                                .as_text()
                                .unwrap_or_else(|| format!("${{{}}}", key.name)),
                        );
                    }
                }
                Value::Seq(items) => {
                    for item in items.iter().filter_map(Node::as_text) {
                        match item.split_once('=') {
                            Some((k, v)) => values.insert(k.to_owned(), v.to_owned()),
                            None => values.insert(item.clone(), format!("${{{item}}}")),
                        };
                    }
                }
                _ => {}
            }
        }
        values
            .into_iter()
            .map(|(key, value)| {
                if looks_secret(&key) {
                    let source = match sole_variable(&value) {
                        Some(variable) => variable.to_owned(),
                        None => {
                            if !value.is_empty() {
                                self.notes.push(format!("`{name}`: `{key}` had a literal secret value; it now comes from the `{key}` environment variable (`env:{key}`)"));
                            }
                            key.clone()
                        }
                    };
                    self.secrets.insert(key.clone(), format!("env:{source}"));
                    format!("{key}={{{{ secret.{key} }}}}")
                } else {
                    let (converted, secrets) = convert_variables(&value);
                    for secret in secrets {
                        self.secrets.entry(secret.clone()).or_insert_with(|| format!("env:{secret}"));
                    }
                    format!("{key}={converted}")
                }
            })
            .collect()
    }

    fn read_env_file(&self, file: &str) -> Option<(String, bool)> {
        let path = self.compose_dir.join(file);
        if let Some(text) = (self.read)(&path) {
            return Some((text, false));
        }
        let erb_name = format!("{}.erb", Path::new(file).file_name()?.to_string_lossy());
        for candidate in [
            self.compose_dir.join(format!("{file}.erb")),
            self.compose_dir.join("erb").join(&erb_name),
            self.compose_dir.join("templates").join(&erb_name),
        ] {
            if let Some(text) = (self.read)(&candidate) {
                return Some((text, true));
            }
        }
        None
    }

    fn unsupported(&mut self, name: &str, service: &Node, is_app: bool) {
        const IGNORED: &[(&str, &str)] = &[
            ("privileged", "privileged containers are not supported"),
            ("restart", "slipway restarts containers itself"),
            ("container_name", "names are <project>-<env>-<service>"),
            ("networks", "slipway makes its own networks"),
            ("deploy", "replicas and resources are set per environment"),
            ("cap_add", "capabilities are not carried over"),
            ("network_mode", "network modes are not carried over"),
            ("links", "services reach each other by name"),
            ("extra_hosts", "extra hosts are not carried over"),
            ("logging", "logging drivers are not carried over"),
            (
                "profiles",
                "every service runs in the environments it lists instead",
            ),
            (
                "secrets",
                "secrets come from each environment's `secrets` sources",
            ),
            ("configs", "config files belong in the image or a volume"),
            ("mem_limit", "resources are not carried over"),
            ("cpus", "resources are not carried over"),
            ("ulimits", "ulimits are not carried over"),
            ("devices", "devices are not carried over"),
            ("tmpfs", "tmpfs mounts are not carried over"),
            (
                "extends",
                "resolved from this file; `extends.file` is not followed",
            ),
        ];
        const SERVICE_ONLY: &[(&str, &str)] = &[
            ("user", "a service runs as its image's user"),
            (
                "working_dir",
                "a service runs in its image's working directory",
            ),
            ("entrypoint", "a service runs its image's entrypoint"),
        ];
        let extra: &[(&str, &str)] = if is_app { &[] } else { SERVICE_ONLY };
        for (key, why) in IGNORED.iter().chain(extra) {
            if service.get(key).is_some() {
                self.notes
                    .push(format!("`{name}`: `{key}` not carried over ({why})"));
            }
        }
        if let Some(depends) = service.get("depends_on") {
            let conditions = depends
                .entries()
                .iter()
                .any(|(_, v)| v.get("condition").is_some());
            if conditions {
                self.notes.push(format!("`{name}`: depends_on conditions are implied: services start first and are waited on by their health checks"));
            }
            for (dependency, spec) in depends.entries() {
                if spec.get("condition").and_then(Node::as_text).as_deref()
                    == Some("service_completed_successfully")
                {
                    self.notes.push(format!("`{}` runs once before `{name}` (service_completed_successfully): imported as a long-running container; make it a hook (`[environments.<env>.hooks] after_up = [{{ app = \"...\", run = [...] }}]`)", dependency.name));
                }
            }
        }
        if let Some(volumes) = service.get("volumes") {
            for volume in volumes.items().iter().filter_map(volume_text) {
                let bind =
                    volume.starts_with('.') || volume.starts_with('/') || volume.starts_with('~');
                match (is_app, bind) {
                    (false, true) => self.notes.push(format!("`{name}`: bind mount `{volume}` kept; it only works on the machine that has that path")),
                    (true, true) => {
                        let context = service.get("build").and_then(|b| b.as_text().or_else(|| b.get("context").and_then(Node::as_text))).unwrap_or_else(|| ".".into());
                        let source = volume.split(':').next().unwrap_or_default();
                        let clean = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_owned();
                        if clean(source) != clean(&context) {
                            self.notes.push(format!("`{name}`: bind mount `{volume}` not carried over (in dev slipway mounts the app's own directory; put other files in the image)"));
                        }
                    }
                    (true, false) => self.notes.push(format!("`{name}`: volume `{volume}` not carried over (apps keep no state; put it on a service)")),
                    (false, false) => {}
                }
            }
        }
    }
}

/// A `volumes` entry in short form, from either form (`{ type, source, target, read_only }`).
fn volume_text(item: &Node) -> Option<String> {
    if let Some(text) = item.as_text() {
        return Some(text);
    }
    let target = item.get("target").and_then(Node::as_text)?;
    let source = item.get("source").and_then(Node::as_text);
    let read_only = item.get("read_only").and_then(Node::as_bool) == Some(true);
    let mut text = match source {
        Some(source) => format!("{source}:{target}"),
        None => target,
    };
    if read_only {
        text.push_str(":ro");
    }
    Some(text)
}

/// A `ports` entry in short form, from either form (`{ target, published, host_ip, protocol }`).
fn port_text(item: &Node) -> Option<String> {
    if let Some(text) = item.as_text() {
        return Some(text);
    }
    let target = item.get("target").and_then(Node::as_text)?;
    let mut text = match (
        item.get("host_ip").and_then(Node::as_text),
        item.get("published").and_then(Node::as_text),
    ) {
        (Some(ip), Some(published)) => format!("{ip}:{published}:{target}"),
        (None, Some(published)) => format!("{published}:{target}"),
        _ => target,
    };
    if let Some(protocol) = item
        .get("protocol")
        .and_then(Node::as_text)
        .filter(|p| p != "tcp")
    {
        text.push('/');
        text.push_str(&protocol);
    }
    Some(text)
}

fn string_map(node: Option<&Node>) -> IndexMap<String, String> {
    let Some(node) = node else {
        return IndexMap::new();
    };
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| Some((k.name.clone(), v.as_text()?)))
            .collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| i.as_text())
            .filter_map(|t| t.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect(),
        _ => IndexMap::new(),
    }
}

/// Compose writes a literal `$` as `$$`.
fn unescape(text: String) -> String {
    text.replace("$$", "$")
}

fn unescaped_words(items: &[Node]) -> Vec<String> {
    items
        .iter()
        .filter_map(Node::as_text)
        .map(unescape)
        .collect()
}

fn command_line(node: &Node) -> Option<CommandLine> {
    match &node.value {
        Value::Seq(items) => {
            let words = unescaped_words(items);
            (!words.is_empty()).then_some(CommandLine::Exec(words))
        }
        _ => node
            .as_text()
            .filter(|t| !t.trim().is_empty())
            .map(|t| CommandLine::Shell(unescape(t))),
    }
}

fn first_container_port(ports: Option<&Node>) -> Option<u16> {
    let item = ports?.items().first()?;
    let text = resolve_defaults(&port_text(item)?)?;
    text.split('/').next()?.rsplit(':').next()?.parse().ok()
}

fn publish_address(item: &Node) -> Option<String> {
    let text = resolve_defaults(&port_text(item)?)?;
    let parts: Vec<&str> = text.split('/').next()?.split(':').collect();
    match parts.as_slice() {
        [ip, host, _] => Some(format!("{ip}:{host}")),
        [host, _] => Some(format!("127.0.0.1:{host}")),
        _ => None,
    }
}

/// `${X:-default}` → `default`; None when a variable has no default.
pub fn resolve_defaults(text: &str) -> Option<String> {
    if !text.contains('$') {
        return Some(text.to_owned());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let inner = &rest[at + 2..];
        let close = inner.find('}')?;
        let (_, default) = inner[..close]
            .split_once(":-")
            .or_else(|| inner[..close].split_once('-'))?;
        out.push_str(default);
        rest = &inner[close + 1..];
    }
    if rest.contains('$') {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// `KEY=value` lines of an env file; comments and blank lines skipped, quotes removed.
pub fn parse_env_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// `<%= ENV['X'] %>` → `${X}` (converted to slipway's syntax afterwards).
pub fn erb_to_template(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(open) = rest.find("<%=") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 3..];
        let Some(close) = after.find("%>") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let expression = after[..close].trim();
        let variable = expression
            .strip_prefix("ENV[")
            .or_else(|| expression.strip_prefix("ENV.fetch("))
            .map(|inner| inner.trim_matches(|c| matches!(c, '\'' | '"' | ']' | ')' | ' ')));
        match variable {
            Some(name) if !name.contains(['\'', '"', ',']) => out.push_str(&format!("${{{name}}}")),
            Some(args) => {
                // ENV.fetch('X', 'default')
                let mut parts = args.split(',').map(|p| p.trim().trim_matches(['\'', '"']));
                let name = parts.next().unwrap_or_default();
                match parts.next() {
                    Some(default) => out.push_str(&format!("${{{name}:-{default}}}")),
                    None => out.push_str(&format!("${{{name}}}")),
                }
            }
            None => out.push_str(&format!("<%= {expression} %>")),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Compose variable syntax → slipway template syntax:
/// `${X}` and `$X` → `{{ vars.X }}`, `${X:-d}` → `{{ vars.X | default("d") }}`,
/// `${X:?message}` → `{{ vars.X }}` (templates are strict: an unset variable is an error),
/// `${X:+alt}` → `{{ "alt" if vars.X else "" }}`, `$$` → `$`. A variable whose name looks secret
/// becomes `{{ secret.X }}`.
pub fn substitute_variables(value: &str) -> String {
    convert_variables(value).0
}

/// The converted text and the secret variables it reads.
fn convert_variables(value: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut secrets = Vec::new();
    let mut reference = |name: &str| {
        if looks_secret(name) {
            secrets.push(name.to_owned());
            format!("secret.{name}")
        } else {
            format!("vars.{name}")
        }
    };
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
            continue;
        }
        if let Some(inner) = after.strip_prefix('{')
            && let Some(close) = inner.find('}')
        {
            let body = &inner[..close];
            let name_len = body
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(body.len());
            let (name, operator) = body.split_at(name_len);
            let target = reference(name);
            let operand = |op: &str| operator.strip_prefix(op).map(|d| d.replace('"', "\\\""));
            let converted = if let Some(default) = operand(":-").or_else(|| operand("-")) {
                format!("{{{{ {target} | default(\"{default}\") }}}}")
            } else if let Some(alternative) = operand(":+").or_else(|| operand("+")) {
                format!("{{{{ \"{alternative}\" if {target} else \"\" }}}}")
            } else {
                // `${X}`, and `${X:?message}`: required either way.
                format!("{{{{ {target} }}}}")
            };
            out.push_str(&converted);
            rest = &inner[close + 1..];
            continue;
        }
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if len == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&format!("{{{{ {} }}}}", reference(&after[..len])));
        rest = &after[len..];
    }
    out.push_str(rest);
    (out, secrets)
}

/// The variable a value is made of entirely (`${PG_PASS}` → `PG_PASS`), if it is.
fn sole_variable(value: &str) -> Option<&str> {
    let inner = value.strip_prefix("${")?.strip_suffix('}')?;
    let len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    (len > 0).then(|| &inner[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_compose_variable_form() {
        assert_eq!(
            substitute_variables("${API_URL:?must be set}"),
            "{{ vars.API_URL }}"
        );
        assert_eq!(
            substitute_variables("${ALT:+yes}"),
            "{{ \"yes\" if vars.ALT else \"\" }}"
        );
        assert_eq!(substitute_variables("$$5"), "$5");
        assert_eq!(
            substitute_variables("mysql://app:${MYSQL_PASSWORD}@db/shop"),
            "mysql://app:{{ secret.MYSQL_PASSWORD }}@db/shop"
        );
        assert_eq!(sole_variable("${PG_PASS}"), Some("PG_PASS"));
        assert_eq!(sole_variable("x${PG_PASS}"), None);
    }

    #[test]
    fn converts_erb_and_shell_variables() {
        assert_eq!(
            substitute_variables(&erb_to_template(
                "https://<%= ENV['GITPOD_WORKSPACE_ID'] %>.io"
            )),
            "https://{{ vars.GITPOD_WORKSPACE_ID }}.io"
        );
        assert_eq!(
            substitute_variables("${PORT:-8000}"),
            "{{ vars.PORT | default(\"8000\") }}"
        );
        assert_eq!(substitute_variables("a$B-c"), "a{{ vars.B }}-c");
        assert_eq!(substitute_variables("cost: 5$"), "cost: 5$");
    }
}
