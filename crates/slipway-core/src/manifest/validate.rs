//! Checks that need the whole manifest: references between sections and values whose shape a
//! type cannot express.

use std::collections::HashSet;

use toml::Spanned;
use toml::de::DeTable;

use super::load::{Problem, ProblemKind};
use super::path::{FieldPath, locate, section_keys};
use super::{AppEnvironment, BuildKind, CommandLine, Health, Manifest, Step, Strategy, Target};
use crate::suggest;

const TAG_PLACEHOLDERS: &[&str] = &["date", "git_sha", "timestamp", "branch"];
const SECRET_PROVIDERS: &[&str] = &["env", "file", "cmd", "ssm", "secretsmanager"];
const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

struct Checker<'a, 'i> {
    root: &'a Spanned<DeTable<'i>>,
    /// Paths cut out while deserializing: already reported, so checks that read them are
    /// skipped rather than reporting the same mistake a second time.
    cut: &'a HashSet<FieldPath>,
    problems: Vec<Problem>,
    /// Names as written in the file, including entries whose body had errors, so that a
    /// reference to them is not reported a second time as dangling.
    names: Names,
}

struct Names {
    registries: Vec<String>,
    bases: Vec<String>,
    apps: Vec<String>,
    services: Vec<String>,
    environments: Vec<String>,
    notifications: Vec<String>,
}

pub(crate) fn validate(
    manifest: &Manifest,
    root: &Spanned<DeTable<'_>>,
    cut: &HashSet<FieldPath>,
) -> Vec<Problem> {
    let names = Names {
        registries: section_keys(root, "registries"),
        bases: section_keys(root, "bases"),
        apps: section_keys(root, "apps"),
        services: section_keys(root, "services"),
        environments: section_keys(root, "environments"),
        notifications: section_keys(root, "notifications"),
    };
    let mut checker = Checker {
        root,
        cut,
        problems: Vec::new(),
        names,
    };
    checker.check(manifest);
    checker.problems
}

impl Checker<'_, '_> {
    fn report(
        &mut self,
        kind: ProblemKind,
        path: FieldPath,
        message: String,
        help: Option<String>,
    ) {
        // A problem about a key that is not written (a default) points at its table.
        let mut located = FieldPath(path.0.clone());
        let span = loop {
            if let Some((key, value)) = locate(self.root, &located) {
                break Some(match kind {
                    ProblemKind::UnknownKey => key.unwrap_or(value),
                    _ => value,
                });
            }
            match located.parent() {
                Some(parent) => located = parent,
                None => break None,
            }
        };
        self.problems.push(Problem {
            secret: false,
            kind,
            path,
            span,
            message,
            help,
        });
    }

    /// Whether something at or below `path` was cut out as wrong.
    fn cut_within(&self, path: &FieldPath) -> bool {
        self.cut.iter().any(|cut| cut.0.starts_with(&path.0))
    }

    fn bad(&mut self, path: FieldPath, message: String, help: impl Into<Option<String>>) {
        self.report(ProblemKind::BadValue, path, message, help.into());
    }

    /// `tls` and `hsts` need a host to name in the certificate; the sources must be of a
    /// kind the deploy can read.
    fn check_route_tls(&mut self, path: &FieldPath, route: &crate::manifest::Route) {
        if route.host.is_none() {
            for (field, set) in [("tls", route.tls.is_some()), ("hsts", route.hsts.is_some())] {
                if set {
                    self.bad(
                        path.key(field),
                        format!("`{field}` needs the route's `host`: a certificate names a host"),
                        "add `host = \"shop.example.com\"` to the route".to_owned(),
                    );
                }
            }
        }
        if route.hsts == Some(true) && route.tls.is_none() {
            self.bad(
                path.key("hsts"),
                "`hsts = true` needs `tls`: HSTS is only sent over HTTPS".into(),
                "add `tls = \"acme\"` or `tls = { cert = \"file:PATH\", key = \"file:PATH\" }` to the route".to_owned(),
            );
        }
        if let Some(tls) = route.tls.as_ref().and_then(|t| t.files()) {
            for (field, source) in [("cert", &tls.cert), ("key", &tls.key)] {
                let ok = source.split_once(':').is_some_and(|(kind, rest)| {
                    matches!(kind, "file" | "secret") && !rest.is_empty()
                });
                if !ok {
                    self.bad(
                        path.key("tls").key(field),
                        format!("unknown certificate source `{source}`"),
                        "write `file:PATH` (relative to the project) or `secret:NAME` (a secret of the environment)".to_owned(),
                    );
                }
            }
        }
    }

    /// Limits the proxy can apply: sizes and times above zero, `max_header` within what a
    /// browser's request needs and a connection may hold.
    fn check_route_limits(&mut self, path: &FieldPath, route: &crate::manifest::Route) {
        use crate::manifest::Route;
        if route.max_body.is_some_and(|size| size.0 == 0) {
            self.bad(
                path.key("max_body"),
                "`max_body` of 0 would refuse every request with a body".into(),
                "write the largest body the app takes, e.g. `max_body = \"10MB\"`, or leave it out for the default 100MB".to_owned(),
            );
        }
        if let Some(size) = route.max_header
            && !(Route::MAX_HEADER_MIN..=Route::MAX_HEADER_MAX).contains(&size.0)
        {
            self.bad(
                path.key("max_header"),
                format!("`max_header` of {size} is outside 1KB to 1MB"),
                "write a size from `1KB` to `1MB`, e.g. `max_header = \"64KB\"`, or leave it out for the default 32KB".to_owned(),
            );
        }
        for (field, value, effect, example, default) in [
            (
                "timeout",
                route.timeout,
                "answer every request 504 at once",
                "30s",
                "60s",
            ),
            (
                "idle_timeout",
                route.idle_timeout,
                "close every connection after each answer",
                "2m",
                "75s",
            ),
        ] {
            if value.is_some_and(|d| d.0.is_zero()) {
                self.bad(
                    path.key(field),
                    format!("`{field}` of 0 would {effect}"),
                    format!("write a time above zero, e.g. `{field} = \"{example}\"`, or leave it out for the default {default}"),
                );
            }
        }
    }

    /// The ACME directory is an HTTPS URL, the challenge one the proxy answers, the CA a file.
    fn check_acme(&mut self, path: &FieldPath, acme: &crate::manifest::AcmeSettings) {
        if let Some(directory) = &acme.directory
            && !directory.starts_with("https://")
        {
            self.bad(
                path.key("directory"),
                format!("`{directory}` is not an ACME directory URL: ACME is spoken over HTTPS"),
                "write the directory's https:// URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`".to_owned(),
            );
        }
        if let Some(challenge) = &acme.challenge
            && !matches!(challenge.as_str(), "http-01" | "tls-alpn-01")
        {
            self.bad(
                path.key("challenge"),
                format!("unknown challenge `{challenge}`"),
                "write `http-01` (answered on port 80) or `tls-alpn-01` (answered on port 443)"
                    .to_owned(),
            );
        }
        if let Some(ca) = &acme.ca
            && ca.strip_prefix("file:").is_none_or(str::is_empty)
        {
            self.bad(
                path.key("ca"),
                format!("unknown certificate source `{ca}`"),
                "write `file:PATH`, relative to the project".to_owned(),
            );
        }
        if let Some(email) = &acme.email
            && !email.contains('@')
        {
            self.bad(
                path.key("email"),
                format!("`{email}` is not an email address"),
                "write the address the CA may send expiry notices to, e.g. `ops@example.com`"
                    .to_owned(),
            );
        }
    }

    fn reference(&mut self, path: FieldPath, what: &str, section: &str, name: &str) {
        let known = match section {
            "registries" => &self.names.registries,
            "bases" => &self.names.bases,
            "apps" => &self.names.apps,
            "services" => &self.names.services,
            "environments" => &self.names.environments,
            _ => &self.names.notifications,
        };
        if known.iter().any(|k| k == name) {
            return;
        }
        let help = suggest::did_you_mean(name, known.iter().map(String::as_str)).or_else(|| {
            Some(if known.is_empty() {
                format!("define it in a [{section}.{name}] table")
            } else {
                format!("defined {section}: {}", known.join(", "))
            })
        });
        self.report(
            ProblemKind::DanglingReference,
            path,
            format!("{what} `{name}` is not defined"),
            help,
        );
    }

    fn check(&mut self, m: &Manifest) {
        let root = FieldPath::root();
        if m.schema != 1 {
            self.bad(
                root.key("schema"),
                format!("unsupported schema version {}", m.schema),
                "this slipway reads schema 1".to_owned(),
            );
        }
        self.check_name(
            root.key("project").key("name"),
            &m.project.name,
            "project name",
        );
        if let Some(registry) = &m.project.registry {
            self.reference(
                root.key("project").key("registry"),
                "registry",
                "registries",
                registry,
            );
        }
        for (name, registry) in &m.registries {
            let path = root.key("registries").key(name);
            if registry.url.trim().is_empty() || registry.url.contains("://") {
                self.bad(
                    path.key("url"),
                    format!(
                        "registry url `{}` must be host[:port][/prefix]",
                        registry.url
                    ),
                    "drop the scheme, e.g. `registry.example.internal:5000`".to_owned(),
                );
            }
        }
        for (name, base) in &m.bases {
            let path = root.key("bases").key(name);
            self.check_name(path.clone(), name, "base name");
            match &base.registry {
                Some(registry) => {
                    self.reference(path.key("registry"), "registry", "registries", registry)
                }
                None if m.project.registry.is_none() && self.names.registries.len() != 1 => self
                    .bad(
                        path.clone(),
                        format!("base `{name}` has no registry to be pushed to"),
                        "set `registry` here or `[project] registry`, naming a [registries] table"
                            .to_owned(),
                    ),
                None => {}
            }
            self.check_repository(path.key("image"), &base.image);
            for (i, tag) in base.tags.iter().enumerate() {
                self.check_tag_scheme(path.key("tags").index(i), tag);
            }
            for (i, channel) in base.notify.iter().enumerate() {
                self.reference(
                    path.key("notify").index(i),
                    "notification channel",
                    "notifications",
                    channel,
                );
            }
        }
        for (name, app) in &m.apps {
            let path = root.key("apps").key(name);
            self.check_name(path.clone(), name, "app name");
            match (&app.base, app.build) {
                (Some(base), _) => self.reference(path.key("base"), "base", "bases", base),
                (None, BuildKind::Assemble) if self.cut_within(&path.key("build")) => {}
                (None, BuildKind::Assemble) => self.bad(
                    path.clone(),
                    format!("app `{name}` is assembled on a base image but names none"),
                    format!(
                        "add `base = \"{}\"`, or `build = \"dockerfile\"`",
                        m.bases.keys().next().map_or("<base>", String::as_str)
                    ),
                ),
                (None, BuildKind::Dockerfile) => {}
            }
            if app.build == BuildKind::Assemble {
                for key in ["dockerfile", "target"] {
                    let set = if key == "dockerfile" {
                        app.dockerfile.is_some()
                    } else {
                        app.target.is_some()
                    };
                    if set {
                        self.bad(
                            path.key(key),
                            format!("`{key}` only applies to apps with build = \"dockerfile\""),
                            "add `build = \"dockerfile\"` or remove this key".to_owned(),
                        );
                    }
                }
            }
            if let Some(repository) = &app.repository {
                self.check_repository(path.key("repository"), repository);
            }
            if let Some(signal) = &app.stop_signal
                && !is_stop_signal(signal)
            {
                self.bad(
                    path.key("stop_signal"),
                    format!("`{signal}` is not a signal a container can be stopped with"),
                    format!("one of {}", STOP_SIGNALS.join(", ")),
                );
            }
            for (env, variant) in &app.environments {
                let variant_path = path.key("environments").key(env);
                self.reference(variant_path.clone(), "environment", "environments", env);
                if let Some(base) = &variant.base {
                    self.reference(variant_path.key("base"), "base", "bases", base);
                }
                if app.build == BuildKind::Assemble && *variant != AppEnvironment::default() {
                    self.bad(
                        variant_path,
                        "per-environment Dockerfiles, targets and build arguments only apply to apps with build = \"dockerfile\"".to_owned(),
                        "add `build = \"dockerfile\"` to the app or remove this table".to_owned(),
                    );
                }
            }
            for key_value in [("dest", &app.dest), ("workdir", &app.workdir)] {
                if let (key, Some(value)) = key_value
                    && !value.starts_with('/')
                {
                    self.bad(
                        path.key(key),
                        format!("`{value}` must be an absolute path"),
                        format!("e.g. `/{}`", value.trim_start_matches("./")),
                    );
                }
            }
            if let Some(port) = app.port
                && port == 0
            {
                self.bad(
                    path.key("port"),
                    "port 0 is not a port".into(),
                    "use the port the app listens on, 1-65535".to_owned(),
                );
            }
            if let Some(health) = &app.health {
                // A port that was written but rejected has been reported already.
                let port_written = locate(self.root, &path.key("port")).is_some();
                self.check_health(path.key("health"), health, port_written);
            }
            if let Some(route) = &app.route {
                if route.host.is_none() && route.path.is_none() {
                    self.bad(
                        path.key("route"),
                        "a route needs a `host`, a `path`, or both".into(),
                        None,
                    );
                }
                if let Some(prefix) = &route.path
                    && !prefix.starts_with('/')
                {
                    self.bad(
                        path.key("route").key("path"),
                        format!("route path `{prefix}` must start with `/`"),
                        None,
                    );
                }
                self.check_route_tls(&path.key("route"), route);
                self.check_route_limits(&path.key("route"), route);
            }
            for (sidecar_name, sidecar) in &app.sidecars {
                let sidecar_path = path.key("sidecars").key(sidecar_name);
                self.check_image_pinned(sidecar_path.key("image"), &sidecar.image);
                self.check_env_has_no_secrets(sidecar_path.key("env"), &sidecar.env);
            }
            self.check_env_has_no_secrets(path.key("env"), &app.env);
            let runs_in: Vec<&String> = m
                .environments
                .iter()
                .filter(|(env_name, _)| app_runs_in(m, name, env_name))
                .map(|(env_name, _)| env_name)
                .collect();
            self.check_secret_files(m, path.key("secret_files"), &app.secret_files, &runs_in);
        }
        for (name, service) in &m.services {
            let path = root.key("services").key(name);
            self.check_name(path.clone(), name, "service name");
            if m.apps.contains_key(name) {
                self.bad(
                    path.clone(),
                    format!("`{name}` is both an app and a service"),
                    "container names are <project>-<env>-<name>: rename one".to_owned(),
                );
            }
            match (&service.image, &service.build) {
                (Some(_), Some(_)) => self.bad(
                    path.clone(),
                    format!("service `{name}` has both `image` and `build`"),
                    "keep one".to_owned(),
                ),
                (None, None) => self.bad(
                    path.clone(),
                    format!("service `{name}` needs `image` or `build`"),
                    "e.g. `image = \"postgres:16.4-bookworm\"` or `build = \"services/db\"`"
                        .to_owned(),
                ),
                (Some(image), None) => self.check_image_pinned(path.key("image"), image),
                (None, Some(_)) => {}
            }
            if let Some(health) = &service.health {
                self.check_health(path.key("health"), health, false);
            }
            self.check_env_has_no_secrets(path.key("env"), &service.env);
            // Services run on Docker hosts only: an ECS environment starts none.
            let runs_in: Vec<&String> = m
                .environments
                .iter()
                .filter(|(env_name, env)| {
                    m.service_runs_in(name, env_name) && !matches!(env.target, Target::Ecs(_))
                })
                .map(|(env_name, _)| env_name)
                .collect();
            self.check_secret_files(m, path.key("secret_files"), &service.secret_files, &runs_in);
            for (i, port) in service.ports.iter().enumerate() {
                if parse_port_mapping(port).is_none() {
                    self.bad(
                        path.key("ports").index(i),
                        format!("invalid port mapping `{port}`"),
                        "write `[ip:]host:container`, e.g. `127.0.0.1:5432:5432`".to_owned(),
                    );
                }
            }
            for (i, volume) in service.volumes.iter().enumerate() {
                let ok = volume
                    .split(':')
                    .nth(1)
                    .is_some_and(|target| target.starts_with('/'));
                if !ok {
                    self.bad(
                        path.key("volumes").index(i),
                        format!("invalid volume `{volume}`"),
                        "write `name:/path` or `./dir:/path[:ro]`".to_owned(),
                    );
                }
            }
            if let Some(envs) = &service.environments {
                for (i, env) in envs.iter().enumerate() {
                    self.reference(
                        path.key("environments").index(i),
                        "environment",
                        "environments",
                        env,
                    );
                }
            }
        }
        for (name, env) in &m.environments {
            self.check_environment(m, name, env);
        }
        for (name, job) in &m.jobs {
            self.check_job(m, name, job);
        }
        for (name, channel) in &m.notifications {
            let path = root.key("notifications").key(name);
            use super::NotificationKind as K;
            match channel.kind {
                K::Email if channel.to.is_empty() || channel.smtp.is_none() => self.bad(
                    path.clone(),
                    "an email channel needs `to` and `smtp`".into(),
                    None,
                ),
                K::Slack | K::Teams | K::Webhook if channel.url.is_none() => self.bad(
                    path.clone(),
                    "a webhook channel needs `url` (or `url = \"env:VAR\"`)".into(),
                    None,
                ),
                _ => {}
            }
            if let Some(password) = &channel.password
                && !password.starts_with("env:")
            {
                self.bad(
                    path.key("password"),
                    "an SMTP password is never written in slipway.toml".into(),
                    "write `password = \"env:VAR\"` and set VAR where slipway runs".to_owned(),
                );
            }
            if channel.password.is_some() != channel.username.is_some() {
                self.bad(
                    path.clone(),
                    "`username` and `password` go together".into(),
                    None,
                );
            }
            if let Some(smtp) = &channel.smtp
                && !smtp
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            {
                self.bad(
                    path.key("smtp"),
                    format!("`{smtp}` is not host:port"),
                    "e.g. `smtp = \"smtp.example.com:587\"`".to_owned(),
                );
            }
        }
        for (name, pipeline) in &m.pipelines {
            let path = root.key("pipelines").key(name);
            if pipeline.kind.is_none()
                && !matches!(name.as_str(), "base" | "branch" | "release")
                && !self.cut_within(&path.key("kind"))
            {
                self.bad(
                    path.clone(),
                    format!("pipeline `{name}` needs a `kind`"),
                    "set `kind = \"base\"`, `\"branch\"` or `\"release\"`".to_owned(),
                );
            }
            if pipeline.on.base_published
                && (pipeline.kind == Some(super::PipelineKind::Base)
                    || pipeline.kind.is_none() && name == "base")
            {
                self.bad(
                    path.key("on").key("base_published"),
                    "a base pipeline would start itself again each time it publishes".into(),
                    "start the pipelines that rebuild the apps on `base_published` instead"
                        .to_owned(),
                );
            }
            if pipeline.steps.is_empty() {
                self.bad(
                    path.key("steps"),
                    "a pipeline needs at least one step".into(),
                    None,
                );
            }
            let withheld = withheld_variables(m);
            for (i, name) in pipeline.env.iter().enumerate() {
                self.check_step_variable(path.key("env").index(i), name, &withheld);
            }
            for (i, step) in pipeline.steps.iter().enumerate() {
                if let Step::Run(run) = step {
                    for (j, name) in run.env.iter().enumerate() {
                        let at = path.key("steps").index(i).key("env").index(j);
                        self.check_step_variable(at, name, &withheld);
                    }
                }
                if let Step::Builtin(text) = step {
                    self.check_step(path.key("steps").index(i), text);
                    if text.trim() == "pull-request" && m.git.is_none() {
                        self.bad(
                            path.key("steps").index(i),
                            "`pull-request` needs the git host it opens pull requests on".into(),
                            "add `[git]` with `host`, `token = \"env:VAR\"` and `reviewers` (see docs/manifest.md)"
                                .to_owned(),
                        );
                    }
                }
            }
            for (i, channel) in pipeline.notify.iter().enumerate() {
                self.reference(
                    path.key("notify").index(i),
                    "notification channel",
                    "notifications",
                    channel,
                );
            }
        }
        for (user, password) in &m.server.users {
            if !password.starts_with("env:") {
                self.bad(
                    root.key("server").key("users").key(user),
                    "a password is never written in slipway.toml".into(),
                    format!("write `{user} = \"env:VAR\"` and set VAR where `slipway serve` runs"),
                );
            }
        }
        if let Some(secret) = &m.server.webhook_secret
            && !secret.starts_with("env:")
        {
            self.bad(
                root.key("server").key("webhook_secret"),
                "a webhook secret is never written in slipway.toml".into(),
                "write `webhook_secret = \"env:VAR\"`".to_owned(),
            );
        }
        if let Some(token) = &m.server.metrics_token
            && !token.starts_with("env:")
        {
            self.bad(
                root.key("server").key("metrics_token"),
                "a metrics token is never written in slipway.toml".into(),
                "write `metrics_token = \"env:VAR\"`".to_owned(),
            );
        }
        if m.server.max_connections == Some(0) {
            self.bad(
                root.key("server").key("max_connections"),
                "0 connections would serve nobody".into(),
                "leave it out for the default (256) or write a number above 0".to_owned(),
            );
        }
        if let Some(git) = &m.git {
            self.check_git(git);
        }
        for (i, id) in m.lint.ignore.iter().enumerate() {
            self.check_rule_id(root.key("lint").key("ignore").index(i), id);
        }
        for id in m.lint.severity.keys() {
            self.check_rule_id(root.key("lint").key("severity").key(id), id);
        }
    }

    /// A variable a pipeline's `env` passes to its steps: a name, and never one of the
    /// server's own secrets.
    fn check_step_variable(&mut self, path: FieldPath, name: &str, withheld: &[(String, String)]) {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.bad(
                path,
                format!("`{name}` is not an environment variable's name"),
                "write the variable's name, e.g. `NPM_TOKEN`".to_owned(),
            );
        } else if let Some((_, owner)) = withheld.iter().find(|(var, _)| var == name) {
            self.bad(
                path,
                format!("`{name}` holds {owner}: a pipeline step never gets it"),
                "give the step a variable of its own".to_owned(),
            );
        }
    }

    fn check_git(&mut self, git: &super::GitHost) {
        let path = FieldPath::root().key("git");
        if !git.token.starts_with("env:") {
            self.bad(
                path.key("token"),
                "an API token is never written in slipway.toml".into(),
                "write `token = \"env:VAR\"` and set VAR where pipelines run".to_owned(),
            );
        }
        match &git.api {
            Some(api) if !(api.starts_with("https://") || api.starts_with("http://")) => {
                self.bad(
                    path.key("api"),
                    format!("`{api}` is not an http(s) URL"),
                    "write the API's base URL, e.g. `https://git.example.com/api/v1`".to_owned(),
                );
            }
            None if matches!(
                git.host,
                super::GitHostKind::Gitea | super::GitHostKind::Forgejo
            ) =>
            {
                self.bad(
                    path.key("api"),
                    "a Gitea or Forgejo host has no default API address".into(),
                    "add `api = \"https://git.example.com/api/v1\"`".to_owned(),
                );
            }
            _ => {}
        }
        if let Some(repository) = &git.repository {
            let parts: Vec<&str> = repository.split('/').collect();
            if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
                self.bad(
                    path.key("repository"),
                    format!("`{repository}` is not `owner/name`"),
                    "write the repository as `owner/name` (GitLab: `group/subgroup/name`)"
                        .to_owned(),
                );
            }
        }
    }

    fn check_environment(&mut self, m: &Manifest, name: &str, env: &super::Environment) {
        let path = FieldPath::root().key("environments").key(name);
        self.check_name(path.clone(), name, "environment name");
        if let Some(registry) = &env.registry {
            self.reference(path.key("registry"), "registry", "registries", registry);
        }
        if let Some(apps) = &env.apps {
            for (i, app) in apps.iter().enumerate() {
                self.reference(path.key("apps").index(i), "app", "apps", app);
            }
        }
        if let Some(services) = &env.services {
            for (i, service) in services.iter().enumerate() {
                self.reference(
                    path.key("services").index(i),
                    "service",
                    "services",
                    service,
                );
            }
        }
        for (app, address) in &env.publish {
            self.reference(path.key("publish").key(app), "app", "apps", app);
            if parse_publish(address).is_none() {
                self.bad(
                    path.key("publish").key(app),
                    format!("invalid address `{address}`"),
                    "write `[ip:]port`, e.g. `127.0.0.1:8080`".to_owned(),
                );
            }
        }
        for (app, count) in &env.replicas {
            self.reference(path.key("replicas").key(app), "app", "apps", app);
            if *count == 0 {
                self.bad(
                    path.key("replicas").key(app),
                    "replicas must be at least 1".into(),
                    None,
                );
            }
        }
        for (key, reference) in &env.secrets {
            let provider = reference.split_once(':').map(|(p, _)| p);
            let ok = provider.is_some_and(|p| SECRET_PROVIDERS.contains(&p))
                && reference
                    .split_once(':')
                    .is_some_and(|(_, rest)| !rest.is_empty());
            if !ok {
                let given = provider.unwrap_or(reference);
                let help = suggest::did_you_mean(given, SECRET_PROVIDERS.iter().copied())
                    .unwrap_or_else(|| "write `env:VAR`, `file:PATH`, `cmd:COMMAND`, `ssm:/path` or `secretsmanager:NAME`".into());
                self.bad(
                    path.key("secrets").key(key),
                    format!("unknown secret source `{reference}`"),
                    help,
                );
            }
        }
        match &env.target {
            Target::Docker { hosts, proxy, .. } => {
                for (field, value) in [
                    ("publish", &proxy.publish),
                    ("metrics", &proxy.metrics),
                    ("publish_tls", &proxy.publish_tls),
                ] {
                    if let Some(value) = value
                        && parse_publish(value).is_none()
                    {
                        self.bad(
                            path.key("target").key("proxy").key(field),
                            format!("`{value}` is not an address to listen on"),
                            "write `[ip:]port`, e.g. `127.0.0.1:8090` or `0.0.0.0:80`".to_owned(),
                        );
                    }
                }
                if let Some(acme) = &proxy.acme {
                    self.check_acme(&path.key("target").key("proxy").key("acme"), acme);
                }
                for (i, entry) in hosts.iter().enumerate() {
                    let host = entry.url();
                    let ok = ["unix://", "ssh://", "tcp://"]
                        .iter()
                        .any(|s| host.starts_with(s));
                    for (field, value) in [
                        ("publish", entry.publish()),
                        ("metrics", entry.metrics()),
                        ("publish_tls", entry.publish_tls()),
                    ] {
                        if let Some(value) = value
                            && parse_publish(value).is_none()
                        {
                            self.bad(
                                path.key("target").key("hosts").index(i).key(field),
                                format!("`{value}` is not an address to listen on"),
                                "write `[ip:]port`, e.g. `127.0.0.1:8090`".to_owned(),
                            );
                        }
                    }
                    if !ok {
                        self.bad(path.key("target").key("hosts").index(i), format!("unsupported host `{host}`"), "write `unix:///var/run/docker.sock`, `ssh://user@host` or `tcp://host:2376`".to_owned());
                    }
                }
            }
            Target::Ecs(ecs) => {
                for (app, settings) in &ecs.apps {
                    let app_path = path.key("target").key("apps").key(app);
                    self.reference(app_path.clone(), "app", "apps", app);
                    let two_colours = matches!(
                        env.strategy,
                        Strategy::BlueGreen { .. } | Strategy::Canary { .. }
                    );
                    let wanted = if two_colours { 2 } else { 1 };
                    if !settings.target_groups.is_empty() && settings.target_groups.len() != wanted
                    {
                        self.bad(app_path.key("target_groups"), format!("{} target group(s) for this strategy, found {}", wanted, settings.target_groups.len()), if two_colours { "blue-green and canary move traffic between two target groups: write `[BLUE_ARN, GREEN_ARN]`".to_owned() } else { "write the one target group the service registers with".to_owned() });
                    }
                    if two_colours
                        && ecs.deployments == super::EcsDeployments::Ecs
                        && settings
                            .listener
                            .as_deref()
                            .is_some_and(|l| !l.contains(":listener-rule/"))
                    {
                        self.bad(app_path.key("listener"), "ECS's own blue-green and canary deployments move traffic on a listener rule".into(), "give the app's listener rule ARN (`...:listener-rule/...`)".to_owned());
                    }
                    if two_colours
                        && (settings.listener.is_none() || settings.target_groups.len() != 2)
                    {
                        self.bad(app_path.clone(), "blue-green and canary on ECS need an ALB listener and two target groups".into(), "add `listener = \"arn:...:listener/...\"` and `target_groups = [BLUE_ARN, GREEN_ARN]`".to_owned());
                    }
                }
                let two_colours = matches!(
                    env.strategy,
                    Strategy::BlueGreen { .. } | Strategy::Canary { .. }
                );
                if two_colours && ecs.deployments == super::EcsDeployments::Ecs {
                    if ecs.load_balancer_role_arn.is_none() {
                        self.bad(path.key("target").key("load_balancer_role_arn"), "ECS's own blue-green and canary deployments need the role ECS moves the listener's traffic with".into(), "add `load_balancer_role_arn = \"arn:aws:iam::ACCOUNT:role/NAME\"`, or use `deployments = \"slipway\"`".to_owned());
                    }
                    if let Strategy::Canary { steps, .. } = &env.strategy
                        && super::native_canary(steps).is_none()
                    {
                        self.bad(path.key("strategy").key("steps"), "ECS's own canary moves one step then the rest (e.g. `[10, 100]`), and its linear strategy equal steps (e.g. `[25, 50, 75, 100]`)".into(), "use such steps, or `deployments = \"slipway\"` for any steps".to_owned());
                    }
                }
                for (key, reference) in &env.secrets {
                    if !(reference.starts_with("ssm:") || reference.starts_with("secretsmanager:"))
                    {
                        self.bad(path.key("secrets").key(key), format!("`{reference}` cannot reach an ECS task: tasks get secrets as references, never as values"), "keep it in SSM Parameter Store (`ssm:/path`) or Secrets Manager (`secretsmanager:NAME`)".to_owned());
                    }
                }
                if !env.secrets.is_empty() && ecs.execution_role_arn.is_none() {
                    self.bad(
                        path.key("target").key("execution_role_arn"),
                        "tasks with secrets need a task execution role to read them".into(),
                        "add `execution_role_arn = \"arn:aws:iam::ACCOUNT:role/NAME\"`".to_owned(),
                    );
                }
                if ecs.scheduler_role_arn.is_none()
                    && let Some((job, _)) = m.jobs.iter().find(|(_, job)| match &job.environments {
                        Some(listed) => listed.iter().any(|e| e == name),
                        None => app_runs_in(m, &job.app, name),
                    })
                {
                    self.bad(
                        path.key("target").key("scheduler_role_arn"),
                        format!("job `{job}` runs here on a schedule: EventBridge Scheduler starts its tasks, and needs the IAM role it does so with"),
                        "add `scheduler_role_arn = \"arn:aws:iam::ACCOUNT:role/NAME\"`: a role EventBridge Scheduler (scheduler.amazonaws.com) may assume, allowed `ecs:RunTask` on the task definitions and `iam:PassRole` on their roles".to_owned(),
                    );
                }
                if let Some(launch_type) = &ecs.launch_type
                    && !matches!(launch_type.as_str(), "FARGATE" | "EC2" | "EXTERNAL")
                {
                    self.bad(
                        path.key("target").key("launch_type"),
                        format!("unknown launch type `{launch_type}`"),
                        "write `FARGATE`, `EC2` or `EXTERNAL`".to_owned(),
                    );
                }
            }
        }
        match &env.strategy {
            Strategy::Canary { steps, .. } => {
                let spath = path.key("strategy").key("steps");
                if steps.is_empty() || steps.last() != Some(&100) {
                    self.bad(spath.clone(), "canary steps must end at 100".into(), "e.g. `steps = [10, 50, 100]`".to_owned());
                }
                if steps.windows(2).any(|w| w[0] >= w[1]) || steps.iter().any(|s| *s == 0 || *s > 100) {
                    self.bad(spath, "canary steps must rise strictly, each from 1 to 100".into(), "e.g. `steps = [5, 25, 50, 100]`".to_owned());
                }
            }
            Strategy::Recreate { allow_downtime: false } => self.bad(
                path.key("strategy"),
                "the recreate strategy stops everything before starting the new release".into(),
                "set `allow_downtime = true` to accept the downtime, or use rolling, blue-green or canary".to_owned(),
            ),
            Strategy::Rolling { max_surge: 0, max_unavailable: 0 } => self.bad(
                path.key("strategy"),
                "a rolling update with max_surge = 0 and max_unavailable = 0 cannot make progress".into(),
                "set `max_surge = 1`".to_owned(),
            ),
            _ => {}
        }
        for (i, test) in env.tests.iter().enumerate() {
            let tpath = path.key("tests").index(i);
            let kinds = [test.http.is_some(), test.run.is_some(), test.host.is_some()];
            if kinds.iter().filter(|k| **k).count() != 1 && !self.cut_within(&tpath) {
                self.bad(
                    tpath.clone(),
                    "a test needs exactly one of `http`, `run` or `host`".into(),
                    "e.g. `{ http = \"GET /health\", expect = 200 }`".to_owned(),
                );
            }
            if let Some(http) = &test.http {
                let mut parts = http.split_whitespace();
                let method = parts.next().unwrap_or_default();
                let target = parts.next().unwrap_or_default();
                if !HTTP_METHODS.contains(&method)
                    || !target.starts_with('/')
                    || parts.next().is_some()
                {
                    self.bad(
                        tpath.key("http"),
                        format!("invalid HTTP check `{http}`"),
                        "write `METHOD /path`, e.g. `GET /api/health`".to_owned(),
                    );
                }
            }
            if test.http.is_none() {
                for (key, set) in [
                    ("expect", test.expect.is_some()),
                    ("body_contains", test.body_contains.is_some()),
                    ("json", !test.json.is_empty()),
                ] {
                    if set {
                        self.bad(
                            tpath.key(key),
                            format!("`{key}` only applies to `http` checks"),
                            "a `run` or `host` check passes when its command exits 0".to_owned(),
                        );
                    }
                }
            }
            if let Some(status) = test.expect
                && !(100..=599).contains(&status)
            {
                self.bad(
                    tpath.key("expect"),
                    format!("{status} is not an HTTP status"),
                    None,
                );
            }
            if let Some(app) = &test.app {
                self.reference(tpath.key("app"), "app", "apps", app);
            } else if test.run.is_some() && m.apps.len() != 1 {
                self.bad(
                    tpath.clone(),
                    "a `run` test needs `app` to say whose image runs it".into(),
                    None,
                );
            }
        }
        let hooks = [
            ("after_up", &env.hooks.after_up),
            ("before_deploy", &env.hooks.before_deploy),
            ("after_deploy", &env.hooks.after_deploy),
        ];
        for (key, hooks) in hooks {
            for (i, hook) in hooks.iter().enumerate() {
                self.reference(
                    path.key("hooks").key(key).index(i).key("app"),
                    "app",
                    "apps",
                    &hook.app,
                );
                self.check_command(path.key("hooks").key(key).index(i).key("run"), &hook.run);
            }
        }
    }

    fn check_step(&mut self, path: FieldPath, text: &str) {
        const SIMPLE: &[&str] = &[
            "build",
            "push",
            "lint",
            "checks",
            "pull-request",
            "approve",
            "notify",
            "base build",
            "base test",
            "base push",
            "base release",
            "base update",
        ];
        const WITH_ENV: &[&str] = &[
            "build", "up", "test", "deploy", "down", "promote", "approve",
        ];
        let words: Vec<&str> = text.split_whitespace().collect();
        if SIMPLE.contains(&words.join(" ").as_str()) {
            return;
        }
        if let [verb, env] = words.as_slice()
            && WITH_ENV.contains(verb)
        {
            self.reference(path, "environment", "environments", env);
            return;
        }
        let all: Vec<String> = SIMPLE
            .iter()
            .map(|s| (*s).to_owned())
            .chain(WITH_ENV.iter().map(|v| format!("{v} ENV")))
            .collect();
        let help =
            suggest::did_you_mean(text, SIMPLE.iter().copied().chain(WITH_ENV.iter().copied()))
                .unwrap_or_else(|| {
                    format!(
                        "built-in steps: {}; or {{ name = \"...\", run = [...] }}",
                        all.join(", ")
                    )
                });
        self.bad(path, format!("unknown step `{text}`"), help);
    }

    fn check_health(&mut self, path: FieldPath, health: &Health, has_port: bool) {
        match (&health.path, &health.cmd) {
            (Some(_), Some(_)) => self.bad(
                path.clone(),
                "a health check has either `path` or `cmd`, not both".into(),
                None,
            ),
            (None, None) => self.bad(
                path.clone(),
                "a health check needs `path` (HTTP) or `cmd`".into(),
                None,
            ),
            (Some(p), None) => {
                if !p.starts_with('/') {
                    self.bad(
                        path.key("path"),
                        format!("health path `{p}` must start with `/`"),
                        None,
                    );
                }
                if !has_port && path.0.first() == Some(&super::Segment::Key("apps".into())) {
                    self.bad(
                        path.key("path"),
                        "an HTTP health check needs the app's `port`".into(),
                        None,
                    );
                }
            }
            (None, Some(cmd)) => self.check_command(path.key("cmd"), cmd),
        }
        // An unset timeout defaults to the shorter of 3s and the interval, so only a written
        // one can be too long.
        let interval = health
            .interval
            .unwrap_or(super::Duration(std::time::Duration::from_secs(5)));
        if let Some(timeout) = health.timeout
            && timeout > interval
        {
            self.bad(
                path.key("timeout"),
                format!("timeout {timeout} is longer than the interval {interval}"),
                None,
            );
        }
    }

    /// `secret_files`: plain file names, each naming a secret of every environment it runs in
    /// (ECS environments refuse file secrets when they render, with their own message).
    fn check_secret_files(
        &mut self,
        m: &Manifest,
        path: FieldPath,
        files: &indexmap::IndexMap<String, String>,
        environments: &[&String],
    ) {
        for (file, secret) in files {
            if !is_plain_file_name(file) {
                self.bad(
                    path.key(file),
                    format!("`{file}` is not a plain file name: secret files go directly under /run/secrets"),
                    format!(
                        "name the file without `/` or `..`, e.g. `{}`",
                        suggested_file_name(file)
                    ),
                );
            }
            for env_name in environments {
                let env = &m.environments[env_name.as_str()];
                if matches!(env.target, Target::Ecs(_)) || env.secrets.contains_key(secret) {
                    continue;
                }
                if self.cut_within(&FieldPath::root().key("environments").key(env_name)) {
                    continue;
                }
                let help = suggest::did_you_mean(secret, env.secrets.keys().map(String::as_str))
                    .unwrap_or_else(|| {
                        format!(
                            "add `{secret} = \"env:{secret}\"` (or `file:`, `cmd:`, `ssm:`, `secretsmanager:`) under [environments.{env_name}.secrets]"
                        )
                    });
                self.report(
                    ProblemKind::DanglingReference,
                    path.key(file),
                    format!(
                        "secret `{secret}` (file /run/secrets/{file}) is not in the secrets of environment `{env_name}`"
                    ),
                    Some(help),
                );
            }
        }
    }

    fn check_env_has_no_secrets(
        &mut self,
        path: FieldPath,
        env: &indexmap::IndexMap<String, String>,
    ) {
        for (key, value) in env {
            if let Some(kind) = plain_secret(key, value) {
                let message = match kind {
                    PlainSecret::Named => {
                        format!("`{key}` looks like a secret; `env` is written in plain text")
                    }
                    PlainSecret::InUrl => format!(
                        "`{key}` holds a password inside its URL; `env` is written in plain text"
                    ),
                };
                self.bad(
                    path.key(key),
                    message,
                    "put it in a config/<env>/ template as `{{ secret.NAME }}` and name its source under [environments.<env>.secrets], or deliver it as a file with `secret_files`".to_owned(),
                );
                if let Some(problem) = self.problems.last_mut() {
                    problem.secret = true;
                }
            }
        }
    }

    fn check_job(&mut self, m: &Manifest, name: &str, job: &super::Job) {
        let path = FieldPath::root().key("jobs").key(name);
        self.check_name(path.clone(), name, "job name");
        self.reference(path.key("app"), "app", "apps", &job.app);
        self.check_command(path.key("run"), &job.run);
        let schedule = match crate::schedule::parse(&job.schedule) {
            Ok(schedule) => Some(schedule),
            Err(error) => {
                self.bad_within(
                    path.key("schedule"),
                    &job.schedule,
                    error.at,
                    error.message,
                    error.help,
                );
                None
            }
        };
        if let Some(zone) = &job.timezone
            && let Err(message) = crate::schedule::time_zone(zone)
        {
            self.bad(path.key("timezone"), message, None);
        }
        let environments: Vec<&String> = match &job.environments {
            Some(listed) => {
                for (i, env) in listed.iter().enumerate() {
                    let at = path.key("environments").index(i);
                    self.reference(at.clone(), "environment", "environments", env);
                    if m.environments.contains_key(env)
                        && m.apps.contains_key(&job.app)
                        && !app_runs_in(m, &job.app, env)
                    {
                        self.bad(
                            at,
                            format!(
                                "job `{name}` runs app `{}`, which does not run in `{env}`",
                                job.app
                            ),
                            format!(
                                "add `{}` to [environments.{env}] apps, or remove `{env}` here",
                                job.app
                            ),
                        );
                    }
                }
                listed.iter().collect()
            }
            None => m
                .environments
                .keys()
                .filter(|env| app_runs_in(m, &job.app, env))
                .collect(),
        };
        // EventBridge Scheduler cannot say everything cron can.
        if let Some(schedule) = schedule
            && let Some(env) = environments.iter().find(|env| {
                m.environments
                    .get(env.as_str())
                    .is_some_and(|e| matches!(e.target, Target::Ecs(_)))
            })
            && let Err(message) = schedule.aws_expression()
        {
            self.bad(
                path.key("schedule"),
                format!("on ECS (environment `{env}`): {message}"),
                None,
            );
        }
    }

    /// A problem with part of a string value: pointed at those bytes when the value is written
    /// without escapes, at the whole value otherwise.
    fn bad_within(
        &mut self,
        path: FieldPath,
        text: &str,
        within: std::ops::Range<usize>,
        message: String,
        help: String,
    ) {
        let span = locate(self.root, &path).map(|(_, value)| {
            if value.len() == text.len() + 2 && within.end <= text.len() && !within.is_empty() {
                value.start + 1 + within.start..value.start + 1 + within.end
            } else {
                value
            }
        });
        self.problems.push(Problem {
            secret: false,
            kind: ProblemKind::BadValue,
            path,
            span,
            message,
            help: Some(help),
        });
    }

    fn check_command(&mut self, path: FieldPath, command: &CommandLine) {
        if let CommandLine::Exec(args) = command
            && args.first().is_some_and(|a| a.trim().is_empty())
        {
            self.bad(path, "the command's first word is empty".into(), None);
        }
    }

    fn check_name(&mut self, path: FieldPath, name: &str, what: &str) {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            let fixed: String = name
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            self.bad(
                path,
                format!("{what} `{name}` must be lower-case letters, digits, `-` or `_`"),
                format!("e.g. `{}`", fixed.trim_matches('-')),
            );
        }
    }

    fn check_repository(&mut self, path: FieldPath, image: &str) {
        let ok = !image.is_empty()
            && !image.contains(':')
            && !image.contains('@')
            && image.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !ok {
            self.bad(path, format!("`{image}` is not a repository name"), "write the repository without registry or tag, e.g. `shop/base-python`; tags come from `tags`".to_owned());
        }
    }

    fn check_image_pinned(&mut self, path: FieldPath, image: &str) {
        let last = image.rsplit('/').next().unwrap_or(image);
        let tag = last.split_once(':').map(|(_, t)| t);
        if !image.contains('@') && matches!(tag, None | Some("latest")) {
            self.bad(
                path,
                format!("image `{image}` is not pinned"),
                "name an explicit tag (never `latest`) or a digest, e.g. `postgres:16.4-bookworm`"
                    .to_owned(),
            );
        }
    }

    fn check_tag_scheme(&mut self, path: FieldPath, tag: &str) {
        let mut rest = tag;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                self.bad(path, format!("unclosed `{{` in tag `{tag}`"), None);
                return;
            };
            let name = &rest[open + 1..open + close];
            if !TAG_PLACEHOLDERS.contains(&name) {
                let help = suggest::did_you_mean(name, TAG_PLACEHOLDERS.iter().copied())
                    .unwrap_or_else(|| {
                        format!(
                            "placeholders: {}",
                            TAG_PLACEHOLDERS
                                .iter()
                                .map(|p| format!("{{{p}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                self.bad(
                    path.clone(),
                    format!("unknown placeholder `{{{name}}}` in tag `{tag}`"),
                    help,
                );
            }
            rest = &rest[open + close + 1..];
        }
        if tag == "latest" {
            self.bad(
                path,
                "a base image is never tagged `latest`".into(),
                "use a dated tag such as `{date}-{git_sha}` and a moving one such as `stable`"
                    .to_owned(),
            );
        }
    }

    fn check_rule_id(&mut self, path: FieldPath, id: &str) {
        let ok = id.len() == 5
            && id[..2].chars().all(|c| c.is_ascii_uppercase())
            && id[2..].chars().all(|c| c.is_ascii_digit());
        if !ok {
            self.bad(
                path,
                format!("`{id}` is not a rule ID"),
                "rule IDs look like `DF013`; `slipway lint --list-rules` shows them".to_owned(),
            );
        }
    }
}

/// The secret files an ECS environment cannot deliver, one problem per file of each app that
/// runs there: ECS mounts no file from a secret, and slipway does not fake one (a wrapper that
/// writes it from an env var would leave it on the task's disk, not on tmpfs, where Fargate has
/// none). Their span is for the caller to find ([`super::field_span`]).
pub fn ecs_secret_file_refusals(manifest: &Manifest, environment: &str) -> Vec<Problem> {
    let Some(env) = manifest.environments.get(environment) else {
        return Vec::new();
    };
    if !matches!(env.target, Target::Ecs(_)) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for (app, settings) in &manifest.apps {
        if !app_runs_in(manifest, app, environment) {
            continue;
        }
        for (file, secret) in &settings.secret_files {
            problems.push(Problem {
                kind: ProblemKind::BadValue,
                secret: false,
                path: FieldPath::root()
                    .key("apps")
                    .key(app)
                    .key("secret_files")
                    .key(file),
                span: None,
                message: format!(
                    "app `{app}` reads secret `{secret}` from the file /run/secrets/{file}, and environment `{environment}` runs on Amazon ECS, which cannot mount a file from a secret"
                ),
                help: Some(format!(
                    "give it to the app as a variable instead: `{}={{{{ secret.{secret} }}}}` in the app's template under config/{environment}/ becomes a `secrets` reference of the task definition (the value never enters it); or keep the app out of `{environment}` (its `apps` list)",
                    env_var_for(file)
                )),
            });
        }
    }
    problems
}

/// `db-password` → `DB_PASSWORD`.
fn env_var_for(file: &str) -> String {
    file.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether an app runs in an environment (its `apps` list, or every app when it has none).
pub fn app_runs_in(manifest: &Manifest, app: &str, environment: &str) -> bool {
    manifest.environments.get(environment).is_some_and(|env| {
        env.apps
            .as_ref()
            .is_none_or(|apps| apps.iter().any(|a| a == app))
    })
}

/// A file name directly under /run/secrets: no directory parts, nothing that climbs out.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
}

fn suggested_file_name(name: &str) -> String {
    let last = name
        .rsplit(['/', '\\'])
        .find(|part| !part.is_empty() && *part != "." && *part != "..")
        .unwrap_or("db-password");
    last.chars().filter(|c| !c.is_control()).collect()
}

/// Why an environment entry (`KEY=value`) holds a secret in plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainSecret {
    /// The key names a secret (`DB_PASSWORD`) and the value is written out.
    Named,
    /// The value is a URL with a password in it (`mysql://root:pw@db/shop`).
    InUrl,
}

/// Whether `KEY=value` writes a secret out. Not one: an empty value, a reference (`${VAR}`), the
/// path of a file secret (`/run/secrets/db-password`, the way Docker secrets are passed), a
/// `*_FILE` key, a URL without a password.
pub fn plain_secret(key: &str, value: &str) -> Option<PlainSecret> {
    let value = value.trim();
    if value.is_empty() || value.contains('$') || value.starts_with("/run/secrets/") {
        return None;
    }
    if url_password(value).is_some() {
        return Some(PlainSecret::InUrl);
    }
    looks_secret(key).then_some(PlainSecret::Named)
}

/// The password of `scheme://user:password@host/...`, when there is one.
pub fn url_password(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (_user, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// The words of a variable's name, upper-cased: split at anything not a letter or digit and
/// where camelCase turns upper (`dbPassword_FILE` → `DB`, `PASSWORD`, `FILE`).
pub fn key_words(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            words.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_uppercase());
    }
    words.extend((!current.is_empty()).then_some(current));
    words
}

/// Whether an environment key names a secret (`DB_PASSWORD`, `apiKey`, `GITHUB_TOKEN`), judged
/// by whole words so that `TOKENIZERS_PARALLELISM` is not one and `POSTGRES_PASSWORD_FILE` (a
/// path to a secret) is not either.
pub fn looks_secret(key: &str) -> bool {
    let words = key_words(key);
    if words.last().is_some_and(|w| {
        matches!(
            w.as_str(),
            "FILE" | "PATH" | "DIR" | "LENGTH" | "TTL" | "EXPIRY" | "URL"
        )
    }) {
        return false;
    }
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "CREDENTIALS",
        "PRIVATEKEY",
    ];
    const PAIRS: &[(&str, &str)] = &[
        ("API", "KEY"),
        ("PRIVATE", "KEY"),
        ("ACCESS", "KEY"),
        ("SECRET", "KEY"),
        ("AUTH", "KEY"),
        ("ENCRYPTION", "KEY"),
        ("SIGNING", "KEY"),
    ];
    words.iter().any(|w| WORDS.contains(&w.as_str()))
        || words
            .windows(2)
            .any(|pair| PAIRS.contains(&(pair[0].as_str(), pair[1].as_str())))
}

/// `[ip:]host:container[/proto]` → (ip, host port, container port).
pub fn parse_port_mapping(text: &str) -> Option<(Option<String>, u16, u16)> {
    let text = text.split('/').next()?;
    let (rest, container) = text.rsplit_once(':')?;
    let container: u16 = container.parse().ok()?;
    let (ip, host) = match rest.rsplit_once(':') {
        Some((ip, host)) => (Some(ip.trim_matches(['[', ']']).to_owned()), host),
        None => (None, rest),
    };
    Some((ip, host.parse().ok()?, container))
}

/// `[ip:]port` → (ip, port).
pub fn parse_publish(text: &str) -> Option<(Option<String>, u16)> {
    match text.rsplit_once(':') {
        Some((ip, port)) => Some((
            Some(ip.trim_matches(['[', ']']).to_owned()),
            port.parse().ok()?,
        )),
        None => Some((None, text.parse().ok()?)),
    }
}

/// The variables (`env:VAR`) holding the server's own secrets (anything `[server]` reads from
/// the environment, now or in a later version) and the git host's token, each with what it
/// holds: no step's `env` may name them.
fn withheld_variables(m: &super::Manifest) -> Vec<(String, String)> {
    fn walk(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::String(text) => {
                if let Some(var) = text.strip_prefix("env:") {
                    let owner = match path.as_slice() {
                        [users, user] if users == "users" => {
                            format!("the password of the server's user `{user}`")
                        }
                        [key] if key == "webhook_secret" => "the server's webhook secret".into(),
                        _ => format!("the server's `{}`", path.join(".")),
                    };
                    out.push((var.to_owned(), owner));
                }
            }
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    path.push(key.clone());
                    walk(value, path, out);
                    path.pop();
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, path, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(server) = serde_json::to_value(&m.server) {
        walk(&server, &mut Vec::new(), &mut out);
    }
    if let Some(var) = m
        .git
        .as_ref()
        .and_then(|git| git.token.strip_prefix("env:"))
    {
        out.push((
            var.to_owned(),
            "the git host's token (only the `pull-request` step gets it)".to_owned(),
        ));
    }
    out
}

/// The signals an app may be asked to stop with (what Docker and ECS accept as a stop signal,
/// less those that cannot be caught or do not stop anything).
pub const STOP_SIGNALS: [&str; 9] = [
    "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGPWR", "SIGKILL",
];

/// Whether `signal` is one of [`STOP_SIGNALS`].
pub fn is_stop_signal(signal: &str) -> bool {
    STOP_SIGNALS.contains(&signal)
}

#[cfg(test)]
mod tests {
    use super::{PlainSecret, is_plain_file_name, looks_secret, plain_secret, url_password};

    #[test]
    fn secret_file_names_stay_directly_under_run_secrets() {
        for good in ["db-password", "api.key", "DB_PASSWORD", "a..b", ".hidden"] {
            assert!(is_plain_file_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "sub/file",
            "/abs",
            "a\\b",
            "nl\n",
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn paths_of_file_secrets_and_references_are_not_plain_secrets() {
        assert_eq!(
            plain_secret("DB_PASSWORD", "hunter2"),
            Some(PlainSecret::Named)
        );
        assert_eq!(
            plain_secret("DATABASE_PASSWORD", "/run/secrets/db-password"),
            None
        );
        assert_eq!(
            plain_secret("POSTGRES_PASSWORD_FILE", "/run/secrets/db-password"),
            None
        );
        assert_eq!(plain_secret("POSTGRES_PASSWORD_FILE", "/etc/pw"), None);
        assert_eq!(plain_secret("DB_PASSWORD", "${DB_PASSWORD}"), None);
        assert_eq!(plain_secret("DB_PASSWORD", ""), None);
        assert_eq!(
            plain_secret("DATABASE_URL", "mysql://root:pw@db/shop"),
            Some(PlainSecret::InUrl)
        );
        assert_eq!(
            plain_secret("DATABASE_URL", "postgres://app@db:5432/shop"),
            None
        );
        assert_eq!(
            plain_secret("DATABASE_URL", "postgres://app:${PW}@db/shop"),
            None
        );
        assert_eq!(plain_secret("HOMEPAGE", "https://example.com/a:b@c"), None);
        assert_eq!(url_password("redis://:s3cret@cache:6379/0"), Some("s3cret"));
        assert_eq!(url_password("not a url"), None);
    }

    #[test]
    fn secret_names_are_judged_by_whole_words() {
        for secret in [
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "apiKey",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "STRIPE_API_KEY",
            "client-secret",
        ] {
            assert!(looks_secret(secret), "{secret}");
        }
        for plain in [
            "TOKENIZERS_PARALLELISM",
            "POSTGRES_PASSWORD_FILE",
            "KEYBOARD",
            "PASSENGER_COUNT",
            "SECRETARY_NAME",
            "PORT",
        ] {
            assert!(!looks_secret(plain), "{plain}");
        }
    }
}
