//! `slipway.toml`: the model, loading with located errors, and validation.
//!
//! Loading reports every problem of a file at once: structural ones found by deserializing (an
//! offending node is cut out and deserialization retried, so one mistake does not hide the
//! next), then semantic ones (dangling references, values outside what a key allows).

mod load;
mod model;
mod path;
mod strategy;
mod validate;
pub use validate::{
    PlainSecret, STOP_SIGNALS, app_runs_in, ecs_secret_file_refusals, is_plain_file_name,
    is_stop_signal, key_words, looks_secret, parse_port_mapping, parse_publish, plain_secret,
    url_password,
};
mod values;

pub use load::{ManifestError, Problem, ProblemKind, load_manifest};
pub use model::*;
pub use path::{FieldPath, Segment};
pub use strategy::{
    CANARY_MAX_ERROR_RATE, CANARY_PAUSE, CANARY_STEPS, CanarySettings, Limits, StrategyKind,
    UnknownStrategy,
};
pub use values::{ByteSize, CommandLine, Duration, Percent, RunStep, Step};

/// JSON Schema of `slipway.toml`, for editor completion.
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Manifest))
        .expect("a generated schema is valid JSON");
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".into(),
            "https://slipway.dev/schema/slipway-1.json".into(),
        );
        object.insert("title".into(), "slipway.toml".into());
    }
    schema
}

use indexmap::IndexMap;

impl Manifest {
    /// Directory of an app, relative to the project root.
    pub fn app_dir(&self, name: &str) -> String {
        self.apps
            .get(name)
            .and_then(|app| app.dir.clone())
            .unwrap_or_else(|| format!("app/{name}"))
    }

    /// Registry prefixes whose images count as official: `[lint] official_registries`, then
    /// `URL/library` of each registry that mirrors Docker Hub (`mirror_of = ["docker.io"]`).
    pub fn official_registries(&self) -> Vec<String> {
        let mut official = self.lint.official_registries.clone();
        for registry in self.registries.values() {
            if registry
                .mirror_of
                .iter()
                .any(|m| m == "docker.io" || m == "registry-1.docker.io")
            {
                official.push(format!("{}/library", registry.url.trim_end_matches('/')));
            }
        }
        official
    }

    /// Dockerfile of a base, relative to the project root.
    pub fn base_dockerfile(&self, name: &str) -> String {
        self.bases
            .get(name)
            .and_then(|base| base.dockerfile.clone())
            .unwrap_or_else(|| format!("base/{name}/Dockerfile"))
    }

    /// Dockerfile of an app built with `build = "dockerfile"`.
    pub fn app_dockerfile(&self, name: &str) -> Option<String> {
        let app = self.apps.get(name)?;
        (app.build == BuildKind::Dockerfile).then(|| {
            app.dockerfile
                .clone()
                .unwrap_or_else(|| format!("{}/Dockerfile", self.app_dir(name)))
        })
    }

    /// What `build = "dockerfile"` uses for `name` when building for `environment` (or for no
    /// particular one): the Dockerfile, the target and the build arguments, the environment's
    /// `[apps.NAME.environments.ENV]` over the app's own.
    pub fn app_build_for(
        &self,
        name: &str,
        environment: Option<&str>,
    ) -> Option<(String, Option<String>, IndexMap<String, String>)> {
        let app = self.apps.get(name)?;
        let dockerfile = self.app_dockerfile(name)?;
        let variant = environment.and_then(|env| app.environments.get(env));
        let mut build_args = app.build_args.clone();
        let (dockerfile, target) = match variant {
            Some(variant) => {
                build_args.extend(variant.build_args.clone());
                (
                    variant.dockerfile.clone().unwrap_or(dockerfile),
                    variant.target.clone().or_else(|| app.target.clone()),
                )
            }
            None => (dockerfile, app.target.clone()),
        };
        Some((dockerfile, target, build_args))
    }

    /// The base `name` builds on for `environment`: the environment's own
    /// (`[apps.NAME.environments.ENV] base`), else the app's.
    pub fn app_base_for(&self, name: &str, environment: Option<&str>) -> Option<&str> {
        let app = self.apps.get(name)?;
        environment
            .and_then(|env| app.environments.get(env))
            .and_then(|variant| variant.base.as_deref())
            .or(app.base.as_deref())
    }

    /// The environment whose own build of `name` (`[apps.NAME.environments.ENV]`) runs in
    /// `environment`: `Some(environment)` when it has one, `None` when the app's plain build runs.
    pub fn build_variant<'e>(&self, name: &str, environment: &'e str) -> Option<&'e str> {
        let app = self.apps.get(name)?;
        (app.build == BuildKind::Dockerfile && app.environments.contains_key(environment))
            .then_some(environment)
    }

    /// Why the image of `name` in the local store cannot run in `environment`, when it was built
    /// for another variant (`built_for`: the `--env` it was built with, `Some("")` for a plain
    /// build, `None` when unknown); `None` when it can.
    pub fn build_mismatch(
        &self,
        name: &str,
        environment: &str,
        built_for: Option<&str>,
    ) -> Option<String> {
        let wanted = self.build_variant(name, environment);
        let built = built_for.map(|b| (!b.is_empty()).then_some(b));
        let fix = match wanted {
            Some(env) => format!("slipway build --env {env} {name}"),
            None => format!("slipway build {name}"),
        };
        match (wanted, built) {
            (None, None) => None,
            (Some(env), None) => Some(format!(
                "app `{name}` builds from its own Dockerfile or arguments in `{env}`, and the local image may not be that build: run `{fix}`"
            )),
            (wanted, Some(built)) if wanted == built => None,
            (_, Some(built)) => Some(format!(
                "app `{name}`'s local image was built {}, but `{environment}` runs {}: run `{fix}`",
                built.map_or("without --env".to_owned(), |b| format!("for `{b}`")),
                wanted.map_or("its plain build".to_owned(), |w| format!("its `{w}` build")),
            )),
        }
    }

    /// Repository of an app's image: its `repository`, else `<project>/<app>`.
    pub fn app_repository(&self, name: &str) -> String {
        self.apps
            .get(name)
            .and_then(|app| app.repository.clone())
            .unwrap_or_else(|| format!("{}/{name}", self.project.name))
    }

    /// Config directory of an environment, relative to the project root.
    pub fn environment_config_dir(&self, name: &str) -> String {
        self.environments
            .get(name)
            .and_then(|env| env.config.clone())
            .unwrap_or_else(|| format!("config/{name}"))
    }

    /// The secrets the apps and services running in `environment` receive as files
    /// (`secret_files`), each once, sorted.
    pub fn secret_file_names(&self, environment: &str) -> std::collections::BTreeSet<String> {
        let apps = self
            .apps
            .iter()
            .filter(|(name, _)| app_runs_in(self, name, environment))
            .flat_map(|(_, app)| app.secret_files.values());
        let services = self
            .services
            .iter()
            .filter(|(name, _)| self.service_runs_in(name, environment))
            .flat_map(|(_, service)| service.secret_files.values());
        apps.chain(services).cloned().collect()
    }

    /// The secrets the environment's routes take their certificates and keys from
    /// (`tls = { cert = "secret:NAME", ... }`), sorted.
    pub fn tls_secret_names(&self, environment: &str) -> std::collections::BTreeSet<String> {
        self.apps
            .iter()
            .filter(|(name, _)| app_runs_in(self, name, environment))
            .filter_map(|(_, app)| app.route.as_ref()?.tls.as_ref()?.files())
            .flat_map(|tls| [&tls.cert, &tls.key])
            .filter_map(|source| source.strip_prefix("secret:"))
            .map(str::to_owned)
            .collect()
    }

    /// Whether a service runs in an environment.
    pub fn service_runs_in(&self, service: &str, environment: &str) -> bool {
        let Some(env) = self.environments.get(environment) else {
            return false;
        };
        match &env.services {
            Some(listed) => listed.iter().any(|s| s == service),
            None => self
                .services
                .get(service)
                .and_then(|s| s.environments.as_ref())
                .is_none_or(|envs| envs.iter().any(|e| e == environment)),
        }
    }
}

/// Byte span of a field of a manifest's text (the key when there is one), for reports about
/// a field made outside loading (a path that does not exist, a missing config directory).
pub fn field_span(source: &str, field: &FieldPath) -> Option<std::ops::Range<usize>> {
    let root = toml::de::DeTable::parse(source).ok()?;
    path::locate(&root, field).map(|(key, value)| key.unwrap_or(value))
}

#[cfg(test)]
mod build_variant_tests {
    use super::*;

    #[test]
    fn an_image_built_for_another_environment_is_refused() {
        let manifest = load_manifest(
            "[project]\nname = \"x\"\n[apps.web]\ndir = \"web\"\nbuild = \"dockerfile\"\n[apps.web.environments.prod]\ndockerfile = \"web/Dockerfile.prod\"\n[environments.dev]\n[environments.prod]\n",
        )
        .unwrap();
        assert_eq!(manifest.build_mismatch("web", "prod", Some("prod")), None);
        assert_eq!(manifest.build_mismatch("web", "dev", Some("")), None);
        assert_eq!(manifest.build_mismatch("web", "dev", None), None);
        let wrong = manifest.build_mismatch("web", "prod", Some("")).unwrap();
        assert!(
            wrong.contains("built without --env") && wrong.contains("slipway build --env prod web"),
            "{wrong}"
        );
        let wrong = manifest.build_mismatch("web", "dev", Some("prod")).unwrap();
        assert!(
            wrong.contains("built for `prod`") && wrong.contains("`slipway build web`"),
            "{wrong}"
        );
        assert!(manifest.build_mismatch("web", "prod", None).is_some());
    }
}
