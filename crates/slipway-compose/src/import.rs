//! `slipway init --from-compose`: a compose project (with its override files, anchors, merge
//! keys, env files and `.env`) turned into slipway.toml and config templates. Every compose
//! field is either carried into slipway.toml or named in the notes with the reason.
//!
//! The steps: parse and shape-check each file, merge them in order, resolve `extends`, then
//! convert service by service (`Converter::app` for services that build, `Converter::service`
//! for those that run an image), and finally the environments.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use slipway_core::manifest::{
    App, BuildKind, CommandLine, Duration, Environment, Health, Manifest, Project, Service,
    looks_secret,
};
use slipway_core::scaffold::ENVIRONMENTS;

use crate::interpolate::{Resolved, Variables};
use crate::words::{quote_word, split_words};
use crate::yaml::{self, Node, Value};

/// Why compose files could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A file is not YAML compose can read.
    #[error("{}:{line}:{column}: {source}", file.display())]
    Yaml {
        /// The compose file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the YAML reader found.
        #[source]
        source: yaml::YamlError,
    },
    /// A field has the wrong type.
    #[error("{}:{line}:{column}: `{path}` must be {expected}", file.display())]
    Shape {
        /// The compose file.
        file: PathBuf,
        /// 1-based line of the field.
        line: usize,
        /// 1-based column of the field.
        column: usize,
        /// The field's path, e.g. `services.web.ports`.
        path: String,
        /// What it must be.
        expected: &'static str,
    },
    /// None of the files defines a service.
    #[error("{}: no `services` to import", file.display())]
    NoServices {
        /// The first of the compose files given.
        file: PathBuf,
    },
    /// A converted file cannot be written as TOML.
    #[error("cannot write {file}")]
    Write {
        /// The file, as the person knows it (`slipway.toml`).
        file: String,
        /// What the TOML writer found.
        #[source]
        source: toml::ser::Error,
    },
}

/// A compose file given on the command line.
#[derive(Debug, Clone)]
pub struct ComposeSource {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

/// What importing compose files gives `slipway init`: the manifest and the files to write beside it.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The project's slipway.toml.
    pub manifest: Manifest,
    /// Config templates: `config/<env>/<name>.env.j2` → contents.
    pub templates: Vec<(PathBuf, String)>,
    /// Non-secret template variables per environment (`config/<env>/values.toml`), from the
    /// compose project's `.env`.
    pub values: IndexMap<String, IndexMap<String, String>>,
    /// What could not be carried over, one line each, with the reason.
    pub notes: Vec<String>,
    /// Edits to the user's own files that init does not make, each with the exact change.
    pub edits: Vec<Edit>,
}

/// A change to one of the user's files that init names rather than makes (unless asked to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The file to change, relative to the project.
    pub file: PathBuf,
    /// 1-based line of the change.
    pub line: usize,
    /// 1-based column of the change.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
    /// The text on that line to replace, and its replacement, when it is one replacement.
    pub change: Option<(String, String)>,
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl Edit {
    /// The file's text with this edit made, if its line still holds the text to replace.
    pub fn apply(&self, text: &str) -> Option<String> {
        let (from, to) = self.change.as_ref()?;
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        let line = lines.get_mut(self.line.checked_sub(1)?)?;
        let at = line.find(from.as_str())?;
        line.replace_range(at..at + from.len(), to);
        Some(lines.join("\n"))
    }
}

/// Merges the files in order (later ones override, as `docker compose -f a -f b` does) and
/// converts the result. `read` loads env files relative to the first compose file.
pub fn import(
    project: &str,
    sources: &[ComposeSource],
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<Imported, ComposeError> {
    let mut merged: Option<Node> = None;
    let mut edits = Vec::new();
    for source in sources {
        let node = yaml::parse(&source.text).map_err(|error| {
            let pos = error.pos.unwrap_or_default();
            ComposeError::Yaml {
                file: source.path.clone(),
                line: pos.line,
                column: pos.column,
                source: error,
            }
        })?;
        crate::check::check(&node).map_err(|error| ComposeError::Shape {
            file: source.path.clone(),
            line: error.pos.line,
            column: error.pos.column,
            path: error.path,
            expected: error.expected,
        })?;
        edits.extend(loopback_edits(&source.path, &node));
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
    // Compose interpolates with the `.env` file of the project directory.
    let variables = Variables {
        values: read(&compose_dir.join(".env"))
            .map(|text| parse_env_lines(&text).into_iter().collect())
            .unwrap_or_default(),
    };
    let mut converter = Converter {
        notes: Vec::new(),
        edits,
        templates: Vec::new(),
        secrets: IndexMap::new(),
        template_vars: IndexMap::new(),
        compose_dir,
        read,
        variables,
        static_addresses: static_addresses(services),
        compose_secrets: root.get("secrets").cloned(),
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
    let mut replicas: IndexMap<String, u32> = IndexMap::new();
    // Apps that only run in some environments (compose `profiles`).
    let mut app_environments: IndexMap<String, Vec<String>> = IndexMap::new();
    for (key, service) in services.entries() {
        let name = slipway_core::scaffold::project_name_from(&key.name);
        if name != key.name {
            converter.notes.push(format!("service `{}` is named `{name}`: slipway names are lower-case letters, digits and `-`; it stays reachable as `{}`", key.name, key.name));
        }
        let mut extra_env: IndexMap<String, String> = IndexMap::new();
        let environments = converter.profiles(&name, service);
        if service.get("build").is_some() {
            let converted = converter.app(&name, service, &mut extra_env);
            mount_apps |= converted.mounted;
            if let Some(address) = converted.published {
                publish.insert(name.clone(), address);
            }
            let mut app = converted.app;
            app.aliases = converter.aliases(&name, &key.name, service);
            app.secret_files = converter.secret_files(&name, service);
            if let Some(count) = converter.replicas(&name, service, true) {
                replicas.insert(name.clone(), count);
            }
            if let Some(envs) = environments {
                app_environments.insert(name.clone(), envs);
            }
            manifest.apps.insert(name.clone(), app);
        } else if service.get("image").is_some() {
            let mut svc = converter.service(&name, service, &mut extra_env);
            svc.aliases = converter.aliases(&name, &key.name, service);
            svc.secret_files = converter.secret_files(&name, service);
            svc.environments = environments;
            converter.replicas(&name, service, false);
            manifest.services.insert(name.clone(), svc);
        } else {
            converter.notes.push(format!(
                "service `{name}`: neither `build` nor `image`; skipped"
            ));
            continue;
        }
        let env_lines = converter.environment(&name, service, &extra_env);
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
        converter.unsupported(&name, service, manifest.apps.contains_key(&name));
    }
    converter.top_level(&root);
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
        if app_environments
            .values()
            .any(|envs| !envs.iter().any(|e| e == env))
        {
            environment.apps = Some(
                manifest
                    .apps
                    .keys()
                    .filter(|app| {
                        app_environments
                            .get(*app)
                            .is_none_or(|envs| envs.iter().any(|e| e == env))
                    })
                    .cloned()
                    .collect(),
            );
        }
        environment.replicas = replicas
            .iter()
            .filter(|(app, _)| {
                environment
                    .apps
                    .as_ref()
                    .is_none_or(|listed| listed.contains(app))
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
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
    // Template variables compose would have read from `.env`: dev gets those values; stage and
    // prod start from them too, and the notes say so.
    let mut values: IndexMap<String, IndexMap<String, String>> = IndexMap::new();
    let mut without_value = Vec::new();
    for (variable, has_default) in &converter.template_vars {
        match converter.variables.values.get(variable) {
            Some(value) => {
                for env in ENVIRONMENTS {
                    values
                        .entry((*env).to_owned())
                        .or_default()
                        .insert(variable.clone(), value.clone());
                }
            }
            None if !has_default => without_value.push(variable.clone()),
            None => {}
        }
    }
    if !values.is_empty() {
        converter.notes.push(format!(
            "template variables {} take their values from `.env` in config/<env>/values.toml for every environment: review them for stage and prod",
            values["dev"].keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !without_value.is_empty() {
        converter.notes.push(format!(
            "template variables {} have no value in `.env` and no default: set them in config/<env>/values.toml",
            without_value.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Imported {
        manifest,
        templates: converter.templates,
        values,
        notes: converter.notes,
        edits: converter.edits,
    })
}

/// Ports a compose file publishes on every interface: slipway publishes on 127.0.0.1, and the
/// compose file, which init does not change, gets the same edit named with its place.
fn loopback_edits(file: &Path, root: &Node) -> Vec<Edit> {
    let mut out = Vec::new();
    let Some(services) = root.get("services") else {
        return out;
    };
    for (name, service) in services.entries() {
        for item in service.get("ports").map(Node::items).unwrap_or(&[]) {
            let Some(text) = item.as_text() else {
                if item.get("published").is_some()
                    && item
                        .get("host_ip")
                        .and_then(Node::as_text)
                        .is_none_or(|ip| matches!(ip.as_str(), "0.0.0.0" | "::" | ""))
                {
                    out.push(Edit {
                        file: file.to_path_buf(),
                        line: item.pos.line,
                        column: item.pos.column,
                        message: format!(
                            "service `{}` publishes a port on every interface: add `host_ip: 127.0.0.1`",
                            name.name
                        ),
                        change: None,
                    });
                }
                continue;
            };
            let written = text.clone();
            let text = resolve_defaults(&text).unwrap_or(text);
            let (spec, _) = text.split_once('/').unwrap_or((&text, ""));
            // `[ip:]host:container`: the IP is what precedes the last two parts.
            let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
            let published_everywhere = match parts.as_slice() {
                [_, _] => true,
                [_, _, ip] => matches!(*ip, "0.0.0.0" | "::" | "[::]" | ""),
                _ => false,
            };
            if published_everywhere {
                let fixed = match parts.as_slice() {
                    [container, host, _] => {
                        format!("127.0.0.1:{host}:{container}{}", &text[spec.len()..])
                    }
                    _ => format!("127.0.0.1:{written}"),
                };
                out.push(Edit {
                    file: file.to_path_buf(),
                    line: item.pos.line,
                    column: item.pos.column,
                    message: format!(
                        "service `{}` publishes `{written}` on every interface: write `\"{fixed}\"`",
                        name.name
                    ),
                    change: Some((written.clone(), fixed)),
                });
            }
        }
    }
    out
}

/// `ipv4_address`/`ipv6_address` → the service that has it, so other services' environment
/// that points at the address can call the service by name instead.
fn static_addresses(services: &Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, service) in services.entries() {
        for (_, network) in service.get("networks").map(Node::entries).unwrap_or(&[]) {
            for field in ["ipv4_address", "ipv6_address"] {
                if let Some(address) = network.get(field).and_then(Node::as_text) {
                    out.push((address, key.name.clone()));
                }
            }
        }
    }
    out
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
    edits: Vec<Edit>,
    templates: Vec<(PathBuf, String)>,
    /// Secret name → source, for every environment's `secrets`.
    secrets: IndexMap<String, String>,
    /// Non-secret variables the templates read → whether every use has a default.
    template_vars: IndexMap<String, bool>,
    compose_dir: PathBuf,
    read: &'r dyn Fn(&Path) -> Option<String>,
    variables: Variables,
    static_addresses: Vec<(String, String)>,
    /// The top-level `secrets:` section.
    compose_secrets: Option<Node>,
}

/// A service that builds, converted.
struct ConvertedApp {
    app: App,
    /// The compose file bind-mounts the app's code: dev mounts it too.
    mounted: bool,
    /// `[ip:]port` for the dev environment's `publish`.
    published: Option<String>,
}

impl Converter<'_> {
    fn app(
        &mut self,
        name: &str,
        service: &Node,
        runtime_env: &mut IndexMap<String, String>,
    ) -> ConvertedApp {
        let build = service.get("build").expect("checked by the caller");
        let field = |key: &str| build.get(key).and_then(Node::as_text);
        let context = build
            .as_text()
            .or_else(|| field("context"))
            .unwrap_or_else(|| ".".into());
        let context = self.plain(name, "build.context", &context);
        let dir = clean_path(&context);
        if dir.starts_with("..") || dir.starts_with('/') {
            self.notes.push(format!("app `{name}`: its build context `{context}` is outside the project; slipway builds from a directory inside it: move the code in and set `dir`"));
        }
        let dockerfile = field("dockerfile").map(|d| {
            let d = self.plain(name, "build.dockerfile", &d);
            join_path(&dir, &d)
        });
        let target = field("target").map(|t| self.plain(name, "build.target", &t));
        let mut build_args = IndexMap::new();
        for (key, value) in string_map(build.get("args")) {
            let resolved = self.variables.resolve(&value);
            if looks_secret(&key) || !resolved.secrets.is_empty() {
                self.notes.push(format!("app `{name}`: build argument `{key}` carries a secret into the image; left out (pass secrets at run time through config/<env>/ templates, or a secret mount)"));
                continue;
            }
            self.report_unresolved(name, &format!("build argument `{key}`"), &resolved);
            build_args.insert(key, resolved.text);
        }
        for key in [
            "cache_from",
            "cache_to",
            "network",
            "shm_size",
            "extra_hosts",
            "labels",
            "secrets",
            "ssh",
            "platforms",
            "no_cache",
            "pull",
            "tags",
            "isolation",
            "additional_contexts",
        ] {
            if build.get(key).is_some() {
                self.notes.push(format!(
                    "app `{name}`: `build.{key}` not carried over (slipway's build sets it)"
                ));
            }
        }
        if let Some(image) = service.get("image").and_then(Node::as_text) {
            self.notes.push(format!("app `{name}`: its image name `{image}` not carried over (slipway names app images `<registry>/<project>/{name}` and tags them itself)"));
        }
        let ports = self.ports(name, service);
        let port = ports
            .first()
            .map(|(_, _, container)| *container)
            .or_else(|| {
                service
                    .get("expose")
                    .and_then(|e| e.items().first())
                    .and_then(Node::as_text)
                    .and_then(|t| t.split('/').next()?.parse().ok())
            });
        let published = ports.first().and_then(|(ip, host, _)| {
            let host = (*host)?;
            if ip.as_deref().is_some_and(|ip| !is_loopback(ip)) {
                self.notes.push(format!("app `{name}`: its port was published on `{}`; dev publishes it on 127.0.0.1 only", ip.as_deref().unwrap_or_default()));
            }
            Some(format!("127.0.0.1:{host}"))
        });
        if ports.first().is_some_and(|(_, host, _)| host.is_none()) {
            self.notes.push(format!("app `{name}`: its port was published on a random host port; dev does not publish it (set `[environments.dev.publish] {name} = \"127.0.0.1:PORT\"`)"));
        }
        for (ip, host, container) in ports.iter().skip(1) {
            let shown = match (ip, host) {
                (Some(ip), Some(host)) => format!("{ip}:{host}:{container}"),
                (None, Some(host)) => format!("{host}:{container}"),
                _ => container.to_string(),
            };
            self.notes.push(format!("app `{name}`: port `{shown}` not carried over (an app has one port, `{}`; put another listener in its own app or service)", port.unwrap_or_default()));
        }
        // The bind mount of the code itself gives where the app keeps it.
        let mut dest = None;
        for volume in service.get("volumes").map(Node::items).unwrap_or(&[]) {
            let Some(text) = volume_text(volume) else {
                continue;
            };
            let (source, target) = split_volume(&text);
            if let (Some(source), Some(target)) = (source, target)
                && is_bind(&source)
                && clean_path(&self.plain(name, "volumes", &source)) == dir
                && dest.is_none()
            {
                dest = Some(target);
            }
        }
        let health = service
            .get("healthcheck")
            .and_then(|h| self.health(name, h, runtime_env));
        let (stop_signal, stop_grace_period) = self.stop(name, service);
        let app = App {
            dir: Some(dir),
            build: BuildKind::Dockerfile,
            dockerfile,
            target,
            build_args,
            dest: dest.clone(),
            user: service
                .get("user")
                .and_then(Node::as_text)
                .map(|u| self.plain(name, "user", &u)),
            workdir: service
                .get("working_dir")
                .and_then(Node::as_text)
                .map(|w| self.plain(name, "working_dir", &w)),
            entrypoint: service
                .get("entrypoint")
                .and_then(|c| self.command_line(name, "entrypoint", c, runtime_env)),
            cmd: service
                .get("command")
                .and_then(|c| self.command_line(name, "command", c, runtime_env)),
            port,
            health,
            stop_signal,
            stop_grace_period,
            ..App::default()
        };
        ConvertedApp {
            app,
            mounted: dest.is_some(),
            published,
        }
    }

    fn service(
        &mut self,
        name: &str,
        service: &Node,
        runtime_env: &mut IndexMap<String, String>,
    ) -> Service {
        let written = service
            .get("image")
            .and_then(Node::as_text)
            .unwrap_or_default();
        let image = self.plain(name, "image", &written);
        let ports = self
            .ports(name, service)
            .into_iter()
            .filter_map(|(ip, host, container)| {
                let Some(host) = host else {
                    self.notes.push(format!("service `{name}`: port {container} was published on a random host port; not published (add `\"127.0.0.1:PORT:{container}\"` to its `ports`)"));
                    return None;
                };
                let ip = match ip {
                    Some(ip) if is_loopback(&ip) => ip,
                    Some(ip) => {
                        self.notes.push(format!("service `{name}`: port {host}:{container} was published on `{ip}`; slipway publishes it on 127.0.0.1"));
                        "127.0.0.1".to_owned()
                    }
                    None => "127.0.0.1".to_owned(),
                };
                Some(format!("{ip}:{host}:{container}"))
            })
            .collect();
        let mut volumes = Vec::new();
        for item in service.get("volumes").map(Node::items).unwrap_or(&[]) {
            let Some(text) = volume_text(item) else {
                continue;
            };
            // Variables first (a default such as `${DIR:-./data}` holds a colon), then the parts.
            let resolved = self.variables.resolve(&text);
            self.report_unresolved(name, &format!("volume `{text}`"), &resolved);
            let written_bind = split_volume(&text).0.is_some_and(|s| is_bind(&s));
            let (source, target) = split_volume(&resolved.text);
            match (source, target) {
                (Some(mut source), Some(_)) => {
                    // A path stays a path even when a variable made it relative.
                    if (written_bind || resolved.used_variables || source.contains('/'))
                        && !source.starts_with(['.', '/', '~'])
                    {
                        source = format!("./{source}");
                    }
                    let rest = resolved.text.split_once(':').map_or("", |(_, r)| r);
                    if is_bind(&source) {
                        self.notes.push(format!("service `{name}`: bind mount `{source}:{rest}` kept; it only works on a machine that has that path"));
                    }
                    volumes.push(format!("{source}:{rest}"));
                }
                _ => self.notes.push(format!("service `{name}`: anonymous volume `{text}` not carried over (give it a name, e.g. `{name}-data:{text}`, to keep its data)")),
            }
        }
        Service {
            image: Some(image),
            command: service
                .get("command")
                .and_then(|c| self.command_line(name, "command", c, runtime_env)),
            ports,
            volumes,
            health: service
                .get("healthcheck")
                .and_then(|h| self.health(name, h, runtime_env)),
            ..Service::default()
        }
    }

    /// `stop_signal` and `stop_grace_period`: the signal in the form slipway.toml takes
    /// (`QUIT` and `sigquit` are `SIGQUIT`), the period as a duration; what does not read is
    /// named in the notes and left out.
    fn stop(&mut self, name: &str, service: &Node) -> (Option<String>, Option<Duration>) {
        let signal = service.get("stop_signal").and_then(Node::as_text).and_then(|text| {
            let text = self.plain(name, "stop_signal", &text);
            let upper = text.trim().to_ascii_uppercase();
            let signal = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            if slipway_core::manifest::is_stop_signal(&signal) {
                Some(signal)
            } else {
                self.notes.push(format!("app `{name}`: stop_signal `{text}` not carried over (slipway.toml takes one of {})", slipway_core::manifest::STOP_SIGNALS.join(", ")));
                None
            }
        });
        let grace = service
            .get("stop_grace_period")
            .and_then(Node::as_text)
            .and_then(|text| {
                let text = self.plain(name, "stop_grace_period", &text);
                match Duration::parse(text.trim()) {
                    Ok(grace) => Some(grace),
                    Err(_) => {
                        self.notes.push(format!("app `{name}`: stop_grace_period `{text}` not understood; left out (slipway.toml takes e.g. `30s` or `1m30s`)"));
                        None
                    }
                }
            });
        (signal, grace)
    }

    /// A field slipway.toml writes as a plain value: variables resolved from `.env` and their
    /// defaults; a secret or a variable without a value is named in the notes.
    fn plain(&mut self, name: &str, field: &str, text: &str) -> String {
        let resolved = self.variables.resolve(text);
        for secret in &resolved.secrets {
            self.notes.push(format!("`{name}`: `{field}` reads the secret `${{{secret}}}`; slipway.toml never holds a secret, so it is written as the reference `${{{secret}}}`: take it out of `{field}`"));
        }
        self.report_unresolved(name, &format!("`{field}`"), &resolved);
        resolved.text
    }

    fn report_unresolved(&mut self, name: &str, what: &str, resolved: &Resolved) {
        for variable in &resolved.unset {
            self.notes.push(format!("`{name}`: {what} uses `${{{variable}}}`, which has no value in `.env` and no default; written as an empty string, as compose does"));
        }
        for (variable, message) in &resolved.required {
            self.notes.push(format!("`{name}`: {what} requires `{variable}` ({message}); it has no value in `.env`: written as an empty string, set it in slipway.toml"));
        }
    }

    /// `ports` as (host IP, host port, container port), variables resolved; ranges and
    /// unreadable entries are named in the notes.
    fn ports(&mut self, name: &str, service: &Node) -> Vec<(Option<String>, Option<u16>, u16)> {
        let mut out = Vec::new();
        for item in service.get("ports").map(Node::items).unwrap_or(&[]) {
            let Some(written) = port_text(item) else {
                continue;
            };
            let resolved = self.variables.resolve(&written);
            self.report_unresolved(name, &format!("port `{written}`"), &resolved);
            let text = resolved.text;
            let (spec, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
            if protocol != "tcp" {
                self.notes.push(format!("`{name}`: port `{written}` is {protocol}; slipway publishes TCP only, not carried over"));
                continue;
            }
            let (rest, container) = match spec.rsplit_once(':') {
                Some((rest, container)) => (Some(rest), container),
                None => (None, spec),
            };
            let Ok(container) = container.parse::<u16>() else {
                self.notes.push(format!("`{name}`: port `{written}` (a range or not a number) not carried over; list each port"));
                continue;
            };
            let (ip, host) = match rest {
                None => (None, None),
                Some(rest) => match rest.rsplit_once(':') {
                    Some((ip, host)) => (Some(ip.trim_matches(['[', ']']).to_owned()), Some(host)),
                    None => (None, Some(rest)),
                },
            };
            let host = if host.is_none_or(str::is_empty) {
                None
            } else {
                match host.and_then(|h| h.parse::<u16>().ok()) {
                    Some(h) => Some(h),
                    None => {
                        self.notes.push(format!("`{name}`: port `{written}` (a range or not a number) not carried over; list each port"));
                        continue;
                    }
                }
            };
            out.push((ip.filter(|ip| !ip.is_empty()), host, container));
        }
        out
    }

    /// A `command:`/`entrypoint:`: a list stays a list; a string is split into words as
    /// compose splits it (no shell runs it). A word that reads a secret variable makes it a
    /// shell command that reads the secret from the container's environment at run time.
    fn command_line(
        &mut self,
        name: &str,
        field: &str,
        node: &Node,
        runtime_env: &mut IndexMap<String, String>,
    ) -> Option<CommandLine> {
        let words = match &node.value {
            Value::Seq(items) => items.iter().filter_map(Node::as_text).collect(),
            _ => {
                let text = node.as_text()?;
                match split_words(&text) {
                    Ok(words) => words,
                    Err(problem) => {
                        self.notes.push(format!("`{name}`: `{field}` cannot be split into words ({problem}); not carried over"));
                        return None;
                    }
                }
            }
        };
        if words.is_empty() {
            return None;
        }
        self.words_to_command(name, field, &words, runtime_env)
    }

    fn words_to_command(
        &mut self,
        name: &str,
        field: &str,
        words: &[String],
        runtime_env: &mut IndexMap<String, String>,
    ) -> Option<CommandLine> {
        let resolved: Vec<Resolved> = words.iter().map(|w| self.variables.resolve(w)).collect();
        for r in &resolved {
            self.report_unresolved(name, &format!("`{field}`"), r);
        }
        let secrets: Vec<String> = resolved.iter().flat_map(|r| r.secrets.clone()).collect();
        if secrets.is_empty() {
            return Some(CommandLine::Exec(
                resolved.into_iter().map(|r| r.text).collect(),
            ));
        }
        for secret in &secrets {
            self.secrets
                .entry(secret.clone())
                .or_insert_with(|| format!("env:{secret}"));
            runtime_env.insert(secret.clone(), format!("${{{secret}}}"));
        }
        self.notes.push(format!("`{name}`: `{field}` reads {}: it now runs through /bin/sh so the value comes from the container's environment at run time, never from slipway.toml", secrets.iter().map(|s| format!("`${{{s}}}`")).collect::<Vec<_>>().join(", ")));
        let script: Vec<String> = resolved
            .iter()
            .map(|r| {
                // Everything but the secret references is quoted as a literal.
                let mut word = String::new();
                let mut rest = r.text.as_str();
                while let Some(at) = rest.find("${") {
                    let Some(close) = rest[at..].find('}') else {
                        break;
                    };
                    if at > 0 {
                        word.push_str(&quote_word(&rest[..at]));
                    }
                    word.push('"');
                    word.push_str(&rest[at..at + close + 1]);
                    word.push('"');
                    rest = &rest[at + close + 1..];
                }
                if !rest.is_empty() || word.is_empty() {
                    word.push_str(&quote_word(rest));
                }
                word
            })
            .collect();
        Some(CommandLine::Shell(format!("exec {}", script.join(" "))))
    }

    fn health(
        &mut self,
        name: &str,
        check: &Node,
        runtime_env: &mut IndexMap<String, String>,
    ) -> Option<Health> {
        if check.get("disable").and_then(Node::as_bool) == Some(true) {
            self.notes.push(format!(
                "`{name}`: its health check is disabled; it has none in slipway.toml"
            ));
            return None;
        }
        let test = check.get("test")?;
        let cmd = match &test.value {
            Value::Seq(items) => {
                let words: Vec<String> = items.iter().filter_map(Node::as_text).collect();
                match words.split_first() {
                    Some((first, rest)) if first == "CMD-SHELL" => {
                        CommandLine::Shell(self.shell_text(name, &rest.join(" "), runtime_env))
                    }
                    Some((first, rest)) if first == "CMD" => {
                        self.words_to_command(name, "healthcheck", rest, runtime_env)?
                    }
                    Some((first, _)) if first == "NONE" => return None,
                    _ => self.words_to_command(name, "healthcheck", &words, runtime_env)?,
                }
            }
            _ => CommandLine::Shell(self.shell_text(name, &test.as_text()?, runtime_env)),
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
        let interval = duration("interval");
        let timeout = duration("timeout");
        let start_period = duration("start_period");
        if check.get("start_interval").is_some() {
            self.notes.push(format!("`{name}`: healthcheck `start_interval` not carried over (checks run every `interval` from the start)"));
        }
        Some(Health {
            cmd: Some(cmd),
            interval,
            timeout,
            start_period,
            retries: check
                .get("retries")
                .and_then(Node::as_text)
                .and_then(|r| r.parse().ok()),
            path: None,
        })
    }

    /// A shell command compose interpolates before the shell sees it: `$$X` is the shell's own
    /// variable; `${X}` is compose's, resolved, or read from the environment when secret.
    fn shell_text(
        &mut self,
        name: &str,
        text: &str,
        runtime_env: &mut IndexMap<String, String>,
    ) -> String {
        let resolved = self.variables.resolve(text);
        self.report_unresolved(name, "the health check", &resolved);
        for secret in &resolved.secrets {
            self.secrets
                .entry(secret.clone())
                .or_insert_with(|| format!("env:{secret}"));
            runtime_env.insert(secret.clone(), format!("${{{secret}}}"));
        }
        resolved.text
    }

    /// The names others call this service by besides its own: `container_name`, `hostname`
    /// and network `aliases` (and its compose name when slipway had to rename it).
    fn aliases(&mut self, name: &str, compose_name: &str, service: &Node) -> Vec<String> {
        let mut aliases: Vec<String> = Vec::new();
        let mut add = |alias: String| {
            if alias != name && !aliases.contains(&alias) {
                aliases.push(alias);
            }
        };
        add(compose_name.to_owned());
        for key in ["container_name", "hostname"] {
            if let Some(value) = service.get(key).and_then(Node::as_text) {
                add(self.plain(name, key, &value));
            }
        }
        for (_, network) in service.get("networks").map(Node::entries).unwrap_or(&[]) {
            for alias in network.get("aliases").map(Node::items).unwrap_or(&[]) {
                if let Some(alias) = alias.as_text() {
                    add(alias);
                }
            }
        }
        if !aliases.is_empty() {
            self.notes.push(format!("`{name}`: its container is named `<project>-<env>-{name}`; the names others call it by ({}) are kept as network aliases (`aliases`)", aliases.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")));
        }
        aliases
    }

    /// `profiles`: a service compose only starts on request. Profiles named after an
    /// environment map to it; any other profile means dev only.
    fn profiles(&mut self, name: &str, service: &Node) -> Option<Vec<String>> {
        let profiles: Vec<String> = service
            .get("profiles")?
            .items()
            .iter()
            .filter_map(Node::as_text)
            .collect();
        if profiles.is_empty() {
            return None;
        }
        let named: Vec<String> = profiles
            .iter()
            .filter(|p| ENVIRONMENTS.contains(&p.as_str()))
            .cloned()
            .collect();
        let environments = if named.is_empty() {
            vec!["dev".to_owned()]
        } else {
            named
        };
        self.notes.push(format!("`{name}`: compose starts it only with --profile {}; it runs in {} only (and there without asking), never in the other environments", profiles.join(","), environments.join(", ")));
        Some(environments)
    }

    fn replicas(&mut self, name: &str, service: &Node, is_app: bool) -> Option<u32> {
        let deploy = service.get("deploy")?;
        let count = deploy
            .get("replicas")
            .and_then(Node::as_text)
            .and_then(|r| r.parse::<u32>().ok());
        for (key, _) in deploy.entries() {
            if key.name != "replicas" {
                self.notes.push(format!(
                    "`{name}`: `deploy.{}` not carried over (slipway sets no resource limits or placement; set CPU and memory per environment target)",
                    key.name
                ));
            }
        }
        match count {
            Some(count) if is_app && count >= 1 => Some(count),
            Some(count) if !is_app && count > 1 => {
                self.notes.push(format!("`{name}`: `deploy.replicas: {count}` not carried over (a service runs one container)"));
                None
            }
            Some(0) => {
                self.notes.push(format!("`{name}`: `deploy.replicas: 0` not carried over (it would not run; remove it from the environments it should not run in)"));
                None
            }
            _ => None,
        }
    }

    /// Compose file secrets → `secret_files` (file name under /run/secrets → secret name),
    /// with the secret's source added to every environment's `secrets`.
    fn secret_files(&mut self, name: &str, service: &Node) -> IndexMap<String, String> {
        let mut files = IndexMap::new();
        for item in service.get("secrets").map(Node::items).unwrap_or(&[]) {
            let (source, target) = match item.as_text() {
                Some(source) => (source, None),
                None => {
                    let Some(source) = item.get("source").and_then(Node::as_text) else {
                        continue;
                    };
                    for key in ["uid", "gid", "mode"] {
                        if item.get(key).is_some() {
                            self.notes.push(format!("`{name}`: secret `{source}` `{key}` not carried over (secret files are mode 0400, owned by the container's user)"));
                        }
                    }
                    (source, item.get("target").and_then(Node::as_text))
                }
            };
            let file = match target {
                None => source.clone(),
                Some(target) => match target.strip_prefix("/run/secrets/") {
                    Some(file) => file.to_owned(),
                    None if !target.starts_with('/') => target,
                    None => {
                        self.notes.push(format!("`{name}`: secret `{source}` is mounted at `{target}`; slipway mounts secret files under /run/secrets only: it is at `/run/secrets/{source}` (point the app there)"));
                        source.clone()
                    }
                },
            };
            let secret = self.secret_source(name, &source);
            files.insert(file, secret);
        }
        files
    }

    /// The environment secret a compose secret becomes, its source added once.
    fn secret_source(&mut self, name: &str, compose_name: &str) -> String {
        let secret: String = compose_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let definition = self
            .compose_secrets
            .as_ref()
            .and_then(|s| s.get(compose_name))
            .cloned();
        let source = match &definition {
            Some(def) if def.get("file").is_some() => {
                let file = def.get("file").and_then(Node::as_text).unwrap_or_default();
                let file = self.plain(name, "secrets.file", &file);
                format!("file:{}", clean_path(&file))
            }
            Some(def) if def.get("environment").is_some() => {
                format!(
                    "env:{}",
                    def.get("environment")
                        .and_then(Node::as_text)
                        .unwrap_or_default()
                )
            }
            Some(def) if def.get("external").is_some() || def.get("name").is_some() => {
                self.notes.push(format!("secret `{compose_name}` is external (managed outside compose); it now comes from the environment variable `{secret}` (`env:{secret}`): change the source in each environment's `secrets`"));
                format!("env:{secret}")
            }
            _ => {
                self.notes.push(format!("`{name}`: secret `{compose_name}` is not defined under the top-level `secrets`; it comes from the environment variable `{secret}` (`env:{secret}`)"));
                format!("env:{secret}")
            }
        };
        // A file secret must not take the place of an environment secret of the same name.
        let mut key = secret.clone();
        if self
            .secrets
            .get(&key)
            .is_some_and(|existing| *existing != source)
        {
            key = format!("{secret}_FILE_SECRET");
        }
        self.secrets.insert(key.clone(), source);
        key
    }

    /// The service's environment (env files first, `environment` over them, then what its
    /// command needs at run time) as template lines; secrets become `{{ secret.X }}` with a
    /// source, other variables `{{ vars.X }}`.
    fn environment(
        &mut self,
        name: &str,
        service: &Node,
        runtime_env: &IndexMap<String, String>,
    ) -> Vec<String> {
        let mut values: IndexMap<String, String> = IndexMap::new();
        for file in crate::erb::env_files(service) {
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
        for (key, value) in runtime_env {
            values.entry(key.clone()).or_insert_with(|| value.clone());
        }
        values
            .into_iter()
            .map(|(key, value)| {
                let value = self.point_at_names(name, &key, value);
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
                    for (variable, has_default) in template_variables(&value) {
                        let entry = self.template_vars.entry(variable).or_insert(true);
                        *entry &= has_default;
                    }
                    format!("{key}={converted}")
                }
            })
            .collect()
    }

    /// A value that points at another service's static address points at its name instead.
    fn point_at_names(&mut self, name: &str, key: &str, value: String) -> String {
        let mut value = value;
        for (address, service) in &self.static_addresses {
            if value.contains(address.as_str()) {
                value = value.replace(address.as_str(), service);
                self.notes.push(format!("`{name}`: `{key}` pointed at `{service}`'s static address {address}; it now calls `{service}` by name (slipway gives containers no fixed addresses)"));
            }
        }
        value
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

    /// Top-level sections that have no place in slipway.toml.
    fn top_level(&mut self, root: &Node) {
        for (key, value) in root.entries() {
            match key.name.as_str() {
                "services" | "secrets" | "version" | "name" => {}
                k if k.starts_with("x-") => {}
                "networks" => {
                    for (network, spec) in value.entries() {
                        if spec.get("external").and_then(Node::as_bool) == Some(true) {
                            self.notes.push(format!("network `{}` is external: slipway does not join networks it did not make; connect what is on it through a service", network.name));
                        } else {
                            self.notes.push(format!("network `{}`: not carried over (slipway makes its own per environment: an internal one for services, a public one for apps; names and aliases stay reachable)", network.name));
                        }
                    }
                }
                "volumes" => {
                    for (volume, spec) in value.entries() {
                        if spec.get("external").and_then(Node::as_bool) == Some(true)
                            || spec.get("name").is_some()
                        {
                            self.notes.push(format!("volume `{}` is external or has a fixed name: slipway names volumes `<project>-<env>-{}`; copy its data over", volume.name, volume.name));
                        } else if spec.get("driver").is_some() || spec.get("driver_opts").is_some() {
                            self.notes.push(format!("volume `{}`: its driver and options not carried over (slipway makes local volumes)", volume.name));
                        }
                    }
                }
                "configs" => self.notes.push("configs: not carried over (put config files in the image, or in a service's bind mount)".into()),
                other => self.notes.push(format!("top-level `{other}`: not carried over (slipway has no equivalent)")),
            }
        }
    }

    /// Every service field slipway.toml does not hold, named with the reason.
    fn unsupported(&mut self, name: &str, service: &Node, is_app: bool) {
        // Fields the conversion above reads.
        const CARRIED: &[&str] = &[
            "build",
            "image",
            "command",
            "environment",
            "env_file",
            "ports",
            "healthcheck",
            "container_name",
            "hostname",
            "profiles",
            "secrets",
            "deploy",
            "extends",
            "expose",
        ];
        const IGNORED: &[(&str, &str)] = &[
            ("privileged", "privileged containers are not supported"),
            ("restart", "slipway restarts containers itself"),
            ("cap_add", "capabilities are not carried over"),
            ("cap_drop", "capabilities are not carried over"),
            ("links", "services reach each other by name"),
            ("external_links", "services reach each other by name"),
            (
                "extra_hosts",
                "extra host entries are not carried over; call services by name",
            ),
            ("dns", "DNS servers are not carried over"),
            ("dns_search", "DNS settings are not carried over"),
            ("dns_opt", "DNS settings are not carried over"),
            (
                "logging",
                "slipway keeps container logs with the engine's default driver",
            ),
            (
                "configs",
                "config files belong in the image or a service's bind mount",
            ),
            ("mem_limit", "resources are not carried over"),
            ("mem_reservation", "resources are not carried over"),
            ("memswap_limit", "resources are not carried over"),
            ("cpus", "resources are not carried over"),
            ("cpu_shares", "resources are not carried over"),
            ("cpuset", "resources are not carried over"),
            ("pids_limit", "resources are not carried over"),
            ("shm_size", "resources are not carried over"),
            ("ulimits", "ulimits are not carried over"),
            ("devices", "devices are not carried over"),
            ("tmpfs", "tmpfs mounts are not carried over"),
            (
                "stdin_open",
                "containers run without a terminal or stdin; use `docker exec -it` to get a shell",
            ),
            (
                "tty",
                "containers run without a terminal or stdin; use `docker exec -it` to get a shell",
            ),
            ("sysctls", "kernel parameters are not carried over"),
            ("labels", "slipway labels its containers itself"),
            (
                "platform",
                "the platform comes from the base image and `slipway build --platform`",
            ),
            (
                "runtime",
                "containers run with the engine's default runtime",
            ),
            (
                "init",
                "no init process is added; the image's entrypoint must reap its children",
            ),
            ("security_opt", "security options are not carried over"),
            ("read_only", "root file systems stay writable"),
            ("pid", "the PID namespace is not shared"),
            ("ipc", "the IPC namespace is not shared"),
            ("userns_mode", "user namespaces are not carried over"),
            ("cgroup_parent", "cgroups are not carried over"),
            ("group_add", "supplementary groups are not carried over"),
            ("oom_score_adj", "OOM settings are not carried over"),
            ("oom_kill_disable", "OOM settings are not carried over"),
            ("mac_address", "MAC addresses are not carried over"),
            ("domainname", "domain names are not carried over"),
            ("isolation", "isolation modes are not carried over"),
            ("pull_policy", "slipway pulls pinned images when missing"),
            ("scale", "use `[environments.<env>.replicas]`"),
            ("volumes_from", "mount the same named volume instead"),
            ("storage_opt", "storage options are not carried over"),
            ("blkio_config", "I/O limits are not carried over"),
            ("device_cgroup_rules", "devices are not carried over"),
            ("annotations", "annotations are not carried over"),
            ("attach", "logs are always attached"),
            (
                "develop",
                "`compose watch` rules are not carried over; dev mounts the app's directory",
            ),
            (
                "post_start",
                "lifecycle hooks are not carried over; use `[environments.<env>.hooks]`",
            ),
            ("pre_stop", "lifecycle hooks are not carried over"),
        ];
        const SERVICE_ONLY: &[(&str, &str)] = &[
            (
                "stop_signal",
                "a service is stopped with its image's stop signal",
            ),
            (
                "stop_grace_period",
                "a service gets the engine's stop timeout",
            ),
            ("user", "a service runs as its image's user"),
            (
                "working_dir",
                "a service runs in its image's working directory",
            ),
            (
                "entrypoint",
                "a service runs its image's entrypoint; build a small image that sets it",
            ),
        ];
        for (key, value) in service.entries() {
            let key = key.name.as_str();
            if CARRIED.contains(&key) || key.starts_with("x-") {
                continue;
            }
            if is_app
                && matches!(
                    key,
                    "user" | "working_dir" | "entrypoint" | "stop_signal" | "stop_grace_period"
                )
            {
                continue;
            }
            if let Some((_, why)) = IGNORED
                .iter()
                .chain(if is_app { &[][..] } else { SERVICE_ONLY })
                .find(|(k, _)| *k == key)
            {
                self.notes
                    .push(format!("`{name}`: `{key}` not carried over ({why})"));
                continue;
            }
            match key {
                "volumes" if is_app => self.app_volumes(name, service, value),
                "volumes" => {}
                "networks" => self.networks(name, value),
                "network_mode" => {
                    let mode = value.as_text().unwrap_or_default();
                    match mode.strip_prefix("service:").or_else(|| mode.strip_prefix("container:")) {
                        Some(other) => self.notes.push(format!("`{name}`: it shared `{other}`'s network (`network_mode: {mode}`); it now has its own: reach `{other}` by its name instead of localhost, or make it a sidecar of the app (`[apps.<app>.sidecars.{name}]`)")),
                        None => self.notes.push(format!("`{name}`: `network_mode: {mode}` not carried over (containers join the environment's networks)")),
                    }
                }
                "depends_on" => self.depends_on(name, value),
                other => self.notes.push(format!(
                    "`{name}`: `{other}` not carried over (slipway has no equivalent)"
                )),
            }
        }
    }

    fn networks(&mut self, name: &str, networks: &Node) {
        for (network, spec) in networks.entries() {
            for field in ["ipv4_address", "ipv6_address"] {
                if let Some(address) = spec.get(field).and_then(Node::as_text) {
                    self.notes.push(format!("`{name}`: its static address {address} on `{}` not carried over (slipway gives containers no fixed addresses; others reach it by name)", network.name));
                }
            }
            for field in ["priority", "link_local_ips", "mac_address"] {
                if spec.get(field).is_some() {
                    self.notes.push(format!(
                        "`{name}`: network `{}` `{field}` not carried over",
                        network.name
                    ));
                }
            }
        }
    }

    fn depends_on(&mut self, name: &str, depends: &Node) {
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

    /// An app's volumes: the bind mount of its own code became `dest`; the rest is named.
    fn app_volumes(&mut self, name: &str, service: &Node, volumes: &Node) {
        let context = service
            .get("build")
            .and_then(|b| {
                b.as_text()
                    .or_else(|| b.get("context").and_then(Node::as_text))
            })
            .unwrap_or_else(|| ".".into());
        let dir = clean_path(&self.variables.resolve(&context).text);
        let mut code_seen = false;
        for volume in volumes.items().iter().filter_map(volume_text) {
            let (source, _) = split_volume(&volume);
            let Some(source) = source else {
                self.notes.push(format!("`{name}`: anonymous volume `{volume}` not carried over (in dev the whole app directory is mounted, including `{volume}` when it exists there)"));
                continue;
            };
            let resolved = clean_path(&self.variables.resolve(&source).text);
            if is_bind(&source) && resolved == dir && !code_seen {
                code_seen = true;
                continue;
            }
            if is_bind(&source) {
                self.notes.push(format!("`{name}`: bind mount `{volume}` not carried over (in dev slipway mounts the app's own directory `{dir}`; put other files in the image)"));
            } else {
                self.notes.push(format!("`{name}`: volume `{volume}` not carried over (apps keep no state; put it on a service)"));
            }
        }
    }
}

fn is_loopback(ip: &str) -> bool {
    ip == "127.0.0.1" || ip == "::1" || ip == "localhost"
}

/// Whether a volume source is a path (a bind mount) rather than a volume name.
fn is_bind(source: &str) -> bool {
    source.starts_with('.')
        || source.starts_with('/')
        || source.starts_with('~')
        || source.starts_with('$')
        || source.contains('/')
}

/// `(source, target)` of a short-form volume; a lone path is an anonymous volume.
fn split_volume(text: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [target] => (None, Some((*target).to_owned())),
        [source, target, ..] => (Some((*source).to_owned()), Some((*target).to_owned())),
        [] => (None, None),
    }
}

/// A relative path without `./` and trailing `/`; `.` for the directory itself.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." if !parts.is_empty() || !path.starts_with('/') => {}
            "" => parts.push(""),
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if joined.is_empty() {
        if path.starts_with('/') {
            "/".into()
        } else {
            ".".into()
        }
    } else {
        joined
    }
}

/// A path relative to `dir` as a path relative to the project.
fn join_path(dir: &str, path: &str) -> String {
    if path.starts_with('/') || dir == "." {
        clean_path(path)
    } else {
        clean_path(&format!("{dir}/{path}"))
    }
}

/// Variables a template value reads that are not secrets, each with whether it has a default.
fn template_variables(value: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            rest = escaped;
            continue;
        }
        let (body, next) = match after.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(close) => (&inner[..close], &inner[close + 1..]),
                None => break,
            },
            None => {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..len], &after[len..])
            }
        };
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, operator) = body.split_at(len);
        if !name.is_empty() && !looks_secret(name) {
            out.push((
                name.to_owned(),
                operator.starts_with(":-") || operator.starts_with('-'),
            ));
        }
        rest = next;
    }
    out
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

#[cfg(test)]
mod conversion_tests {
    use super::*;

    fn convert(compose: &str, files: &[(&str, &str)]) -> Imported {
        let files: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, t)| (Path::new("/p").join(p), (*t).to_owned()))
            .collect();
        let read = move |path: &Path| {
            files
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.clone())
        };
        import(
            "shop",
            &[ComposeSource {
                path: "/p/docker-compose.yml".into(),
                text: compose.to_owned(),
            }],
            &read,
        )
        .unwrap()
    }

    fn noted(imported: &Imported, words: &[&str]) -> bool {
        imported
            .notes
            .iter()
            .any(|n| words.iter().all(|w| n.contains(w)))
    }

    #[test]
    fn a_string_command_is_words_not_a_shell_script() {
        let imported = convert(
            "services:\n  db:\n    image: mysql:8.0.36\n    command: --default-authentication-plugin=mysql_native_password\n  app:\n    build: .\n    entrypoint: /entry.sh --wait \"db:3306\"\n",
            &[],
        );
        assert_eq!(
            imported.manifest.services["db"].command,
            Some(CommandLine::Exec(vec![
                "--default-authentication-plugin=mysql_native_password".into()
            ]))
        );
        assert_eq!(
            imported.manifest.apps["app"].entrypoint,
            Some(CommandLine::Exec(vec![
                "/entry.sh".into(),
                "--wait".into(),
                "db:3306".into()
            ]))
        );
    }

    #[test]
    fn a_secret_a_command_reads_stays_a_reference() {
        let imported = convert(
            "services:\n  cache:\n    image: redis:7.2.4\n    command: redis-server --requirepass ${REDIS_PASSWORD}\n",
            &[(".env", "REDIS_PASSWORD=hunter2\n")],
        );
        let toml = toml::to_string(&imported.manifest).unwrap();
        assert!(!toml.contains("hunter2"), "{toml}");
        assert_eq!(
            imported.manifest.services["cache"].command,
            Some(CommandLine::Shell(
                "exec redis-server --requirepass \"${REDIS_PASSWORD}\"".into()
            ))
        );
        assert_eq!(
            imported.manifest.environments["dev"].secrets["REDIS_PASSWORD"],
            "env:REDIS_PASSWORD"
        );
        assert!(
            imported.templates[0]
                .1
                .contains("REDIS_PASSWORD={{ secret.REDIS_PASSWORD }}")
        );
    }

    #[test]
    fn compose_file_secrets_become_secret_files() {
        let imported = convert(
            "services:\n  db:\n    image: postgres:16.4\n    secrets:\n      - db-password\n      - source: api-key\n        target: /run/secrets/key\n      - source: token\n        target: token.txt\nsecrets:\n  db-password:\n    file: ./secrets/db.txt\n  api-key:\n    environment: API_KEY\n  token:\n    external: true\n",
            &[],
        );
        let db = &imported.manifest.services["db"];
        assert_eq!(db.secret_files["db-password"], "DB_PASSWORD");
        assert_eq!(db.secret_files["key"], "API_KEY");
        assert_eq!(db.secret_files["token.txt"], "TOKEN");
        let secrets = &imported.manifest.environments["prod"].secrets;
        assert_eq!(secrets["DB_PASSWORD"], "file:secrets/db.txt");
        assert_eq!(secrets["API_KEY"], "env:API_KEY");
        assert_eq!(secrets["TOKEN"], "env:TOKEN");
        assert!(noted(&imported, &["token", "external"]));
    }

    #[test]
    fn the_code_mount_gives_the_dev_mount_path() {
        let imported = convert(
            "services:\n  web:\n    build:\n      context: ./web\n      dockerfile: docker/Dockerfile\n      target: dev\n    volumes:\n      - ./web/:/srv/app\n      - /srv/app/node_modules\n",
            &[],
        );
        let web = &imported.manifest.apps["web"];
        assert_eq!(web.dest.as_deref(), Some("/srv/app"));
        assert_eq!(web.dockerfile.as_deref(), Some("web/docker/Dockerfile"));
        assert_eq!(web.target.as_deref(), Some("dev"));
        assert!(imported.manifest.environments["dev"].mount);
        assert!(!imported.manifest.environments["stage"].mount);
        assert!(noted(&imported, &["`web`", "/srv/app/node_modules"]));
    }

    #[test]
    fn names_others_use_stay_reachable_and_static_addresses_become_names() {
        let imported = convert(
            "services:\n  api:\n    build: .\n    environment:\n      DB: 10.0.0.5\n  db:\n    image: mysql:8.0.36\n    container_name: shop-mysql\n    hostname: db.internal\n    networks:\n      back:\n        ipv4_address: 10.0.0.5\n        aliases: [database]\n",
            &[],
        );
        assert_eq!(
            imported.manifest.services["db"].aliases,
            ["shop-mysql", "db.internal", "database"]
        );
        assert!(imported.templates[0].1.contains("DB=db"));
        assert!(noted(&imported, &["`db`", "10.0.0.5"]));
    }

    #[test]
    fn opt_in_services_never_reach_prod() {
        let imported = convert(
            "services:\n  app:\n    build: .\n  seed:\n    build: .\n    profiles: [tools]\n  adminer:\n    image: adminer:4.8.1\n    profiles: [debug]\n  backup:\n    image: postgres:16.4\n    profiles: [prod]\n",
            &[],
        );
        let m = &imported.manifest;
        assert!(m.service_runs_in("adminer", "dev"));
        assert!(!m.service_runs_in("adminer", "prod"));
        assert!(m.service_runs_in("backup", "prod"));
        assert!(!m.service_runs_in("backup", "dev"));
        assert_eq!(
            m.environments["prod"].apps.as_deref(),
            Some(&["app".to_owned()][..])
        );
        assert_eq!(m.environments["dev"].apps, None);
        assert!(noted(&imported, &["`seed`", "--profile tools"]));
    }

    #[test]
    fn a_bind_mount_from_a_variable_stays_a_bind_mount() {
        let imported = convert(
            "services:\n  files:\n    image: nginx:1.27.0\n    volumes:\n      - ${DATA_DIR:-./data}:/data:ro\n      - ${CONF}/nginx.conf:/etc/nginx.conf\n      - cache:/cache\n",
            &[(".env", "CONF=conf\n")],
        );
        assert_eq!(
            imported.manifest.services["files"].volumes,
            [
                "./data:/data:ro",
                "./conf/nginx.conf:/etc/nginx.conf",
                "cache:/cache"
            ]
        );
    }

    #[test]
    fn stop_signals_and_grace_periods_are_carried_for_apps_and_named_for_services() {
        let imported = convert(
            "services:\n  web:\n    build: .\n    stop_signal: QUIT\n    stop_grace_period: 1m30s\n  worker:\n    build: .\n    stop_signal: SIGBOGUS\n    stop_grace_period: soon\n  db:\n    image: postgres:16.4\n    stop_signal: SIGINT\n",
            &[],
        );
        let web = &imported.manifest.apps["web"];
        assert_eq!(web.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(
            web.stop_grace_period.map(|d| d.0),
            Some(std::time::Duration::from_secs(90))
        );
        let worker = &imported.manifest.apps["worker"];
        assert_eq!(
            (worker.stop_signal.as_ref(), worker.stop_grace_period),
            (None, None)
        );
        assert!(noted(
            &imported,
            &["`worker`", "SIGBOGUS", "not carried over"]
        ));
        assert!(noted(&imported, &["`worker`", "stop_grace_period `soon`"]));
        assert!(noted(
            &imported,
            &["`db`", "stop_signal", "not carried over"]
        ));
    }

    #[test]
    fn every_field_is_carried_or_named_with_a_reason() {
        let imported = convert(
            "services:\n  app:\n    build: .\n    ports: [\"8000:8000\", \"8001:8001\"]\n    stop_signal: SIGINT\n    stdin_open: true\n    tty: true\n    sysctls: {a: 1}\n    labels: [x=y]\n    platform: linux/amd64\n    runtime: runc\n    deploy:\n      replicas: 3\n      resources: {}\n    made_up_field: 1\n",
            &[],
        );
        assert_eq!(
            imported.manifest.apps["app"].stop_signal.as_deref(),
            Some("SIGINT"),
            "stop_signal is carried over"
        );
        for field in [
            "stdin_open",
            "tty",
            "sysctls",
            "labels",
            "platform",
            "runtime",
            "8001:8001",
            "deploy.resources",
            "made_up_field",
        ] {
            assert!(noted(&imported, &["`app`", field]), "{field} not named");
        }
        assert_eq!(imported.manifest.environments["prod"].replicas["app"], 3);
        assert_eq!(
            imported.manifest.environments["dev"].publish["app"],
            "127.0.0.1:8000"
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_located() {
        let error = import(
            "shop",
            &[ComposeSource {
                path: "c.yml".into(),
                text: "services:\n  web:\n    image: nginx:1.27.0\n    environment: 3\n".into(),
            }],
            &|_: &Path| None,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "c.yml:4:18: `services.web.environment` must be a list or a mapping"
        );
    }
}
