//! `slipway.toml`: the model, loading with located errors, and validation.
//!
//! Loading reports every problem of a file at once: structural ones found by deserializing (an
//! offending node is cut out and deserialization retried, so one mistake does not hide the
//! next), then semantic ones (dangling references, values outside what a key allows).

mod load;
mod model;
mod path;
mod validate;
pub use validate::{looks_secret, parse_port_mapping, parse_publish};
mod values;

pub use load::{ManifestError, Problem, ProblemKind, load_manifest};
pub use model::*;
pub use path::{FieldPath, Segment};
pub use values::{CommandLine, Duration, Percent, RunStep, Step};

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
