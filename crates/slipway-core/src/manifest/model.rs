//! The typed model of `slipway.toml`, schema version 1.
//!
//! Doc comments here become the descriptions of the JSON Schema that `slipway schema` prints, so
//! they are written for the person editing the file.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::{ByteSize, CommandLine, Duration, Percent, Step};

fn default_schema() -> u32 {
    1
}

/// The whole workflow of one project: its images, environments and pipelines.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Version of this file's format. Only `1` exists.
    #[serde(default = "default_schema")]
    pub schema: u32,
    /// The project's name and defaults (`[project]`).
    pub project: Project,
    /// Image registries, by a name of your choice.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub registries: IndexMap<String, Registry>,
    /// Base images owned by operations, built from `base/<name>/Dockerfile`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub bases: IndexMap<String, Base>,
    /// Application images, one per directory under `app/`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub apps: IndexMap<String, App>,
    /// Dependent containers such as databases and caches.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub services: IndexMap<String, Service>,
    /// Where the apps run: dev, stage, prod (the names are yours).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environments: IndexMap<String, Environment>,
    /// Commands run on a schedule in a deployed environment, from an app's live release.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub jobs: IndexMap<String, Job>,
    /// Channels that events are sent to.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub notifications: IndexMap<String, Notification>,
    /// Named sequences of steps run on an event.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pipelines: IndexMap<String, Pipeline>,
    /// `slipway serve`: the dashboard, webhooks and the pipelines they start.
    #[serde(default, skip_serializing_if = "ServerSettings::is_default")]
    pub server: ServerSettings,
    /// The git host that pull requests are opened on (the `pull-request` step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitHost>,
    /// Settings of `slipway lint`.
    #[serde(default, skip_serializing_if = "LintSettings::is_empty")]
    pub lint: LintSettings,
}

/// `[project]`: the project's name and the defaults the rest of the file falls back to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Lower-case name used in image and container names, e.g. `shop`.
    pub name: String,
    /// Registry used when a base or environment does not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Where slipway keeps local state (image store, rendered env files, releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// The branch releases come from; a `branch` pipeline never starts on it. Default `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
}

impl Project {
    /// The branch releases come from: `default_branch`, else `main`.
    pub fn default_branch(&self) -> &str {
        self.default_branch.as_deref().unwrap_or("main")
    }
}

/// An image registry (`[registries.NAME]`): where it is and how to log in to it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Host, optional port and optional path prefix, e.g. `registry.example.internal:5000`.
    pub url: String,
    /// How to authenticate.
    #[serde(default)]
    pub credentials: Credentials,
    /// Upstream registries this one mirrors, e.g. `["docker.io"]`: official images then resolve
    /// through it, the way Docker's `registry-mirrors` works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirror_of: Vec<String>,
    /// Talk plain HTTP (loopback registries are always allowed to).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Create missing repositories on push (ECR).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_repositories: bool,
}

/// Where the login to a registry comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    /// `~/.docker/config.json` (or `$DOCKER_CONFIG`), including credential helpers.
    #[default]
    DockerConfig,
    /// The standard AWS credential chain, exchanged for an ECR token.
    Aws,
    /// `SLIPWAY_REGISTRY_<NAME>_USERNAME` and `_PASSWORD` from the process environment.
    Env,
    /// Anonymous access.
    None,
}

/// A base image (`[bases.NAME]`) built from a Dockerfile through the Docker Engine, tested and
/// pushed; apps build on it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// Dockerfile of the base; default `base/<name>/Dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build context; default the Dockerfile's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Repository in the registry, e.g. `shop/base-python`.
    pub image: String,
    /// Registry to push to; default the project's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Tag scheme. Placeholders: `{date}`, `{git_sha}`, `{timestamp}`, `{branch}`.
    #[serde(default = "default_base_tags")]
    pub tags: Vec<String>,
    /// Build arguments passed to the Dockerfile.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub build_args: IndexMap<String, String>,
    /// Platforms to build, e.g. `["linux/amd64", "linux/arm64"]`; default the engine's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Commands run inside a container of the new image; any failure stops the pipeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<CommandLine>,
    /// Notification channels told when a new base image is published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

/// The tag schemes a base is pushed under when it names none: `{date}-{git_sha}`.
pub fn default_base_tags() -> Vec<String> {
    vec!["{date}-{git_sha}".to_owned()]
}

/// How an app's image is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BuildKind {
    /// No daemon: the base image + layers made from the app's directory + image config.
    #[default]
    Assemble,
    /// A target of a (multi-stage) Dockerfile, built through the Docker Engine.
    Dockerfile,
}

/// An app (`[apps.NAME]`): its directory, how its image is made and how its container runs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// The app's directory; default `app/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// The base image it builds on (a key of `[bases]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// How the image is made.
    #[serde(default)]
    pub build: BuildKind,
    /// With `build = "dockerfile"`: the Dockerfile; default `<dir>/Dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// With `build = "dockerfile"`: the stage to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// With `build = "dockerfile"`: build arguments.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub build_args: IndexMap<String, String>,
    /// With `build = "dockerfile"`: what changes when building for one environment, e.g.
    /// `[apps.web.environments.prod] dockerfile = "app/web/Dockerfile.prod"` or its
    /// `REACT_APP_*` build arguments. `slipway build --env prod` builds that variant.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environments: IndexMap<String, AppEnvironment>,
    /// Repository of its image in a registry: an existing one (e.g. the ECR repository
    /// `backend-flask` that `ecs import` found), which `aws scaffold` does not make; default
    /// `<project>/<app>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Where the directory goes in the image (and is mounted in dev); default `/app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    /// Sub-directories that get a layer of their own (vendor/, node_modules/, .venv/), so a
    /// code change does not re-upload dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// Extra ignore patterns on top of the directory's `.dockerignore`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// User the process runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Working directory; default `dest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Entrypoint of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<CommandLine>,
    /// Command of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<CommandLine>,
    /// Port the app listens on inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Non-secret environment baked into the image. Secrets belong in `config/<env>/`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Extra OCI labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// How to tell the app is healthy; the health gate of deploys waits for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The signal that asks the app to stop (`SIGQUIT` for nginx and php-fpm, which stop
    /// gracefully on it); default the image's, else `SIGTERM`. A worker finishes the job in
    /// hand and exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// How long a container of the app has after its stop signal before it is killed, when a
    /// deploy retires it; default `10s` (at most `120s` on ECS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    /// The host and/or path prefix this app answers on behind the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// Containers that run beside the app (e.g. an X-Ray daemon).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sidecars: IndexMap<String, Sidecar>,
    /// Name of its env template in `config/<env>/`; default the app's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Secrets delivered as files: `/run/secrets/<file name>` → the name of a secret in the
    /// environment's `secrets`, e.g. `{ "db-password" = "DB_PASSWORD" }`. The file is on tmpfs,
    /// mode 0400, owned by the container's user; never in a layer or a label.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secret_files: IndexMap<String, String>,
    /// Further names the others reach it by on the environment's networks (besides its own),
    /// e.g. a compose `container_name` or `hostname` other services call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// An app's build settings for one environment; what is not set comes from the app.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppEnvironment {
    /// The Dockerfile for this environment, e.g. `app/api/Dockerfile.prod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The base this environment's build runs on (passed as `SLIPWAY_BASE`), when it is not the
    /// app's: a frontend served by its dev server in dev and by nginx in prod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The stage to build for this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Build arguments for this environment, on top of (and overriding) the app's.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub build_args: IndexMap<String, String>,
}

/// A health check: an HTTP path or a command, and how often and how long to try it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// HTTP path checked with GET; a 2xx or 3xx answer is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Command run inside the container instead of an HTTP check; exit 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<CommandLine>,
    /// Default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Default `3s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Consecutive failures before unhealthy; default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace period after start; default `0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
}

/// Which requests the proxy sends to an app: a host name, a path prefix, or both.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Host header, e.g. `shop.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Path prefix, e.g. `/api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTPS for the route's host on the proxy's TLS port; plain HTTP requests to the host
    /// are then redirected (308) to it. Needs `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTls>,
    /// Send `Strict-Transport-Security` on the host's HTTPS answers, so browsers keep to
    /// HTTPS for a year; default false. Needs `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<bool>,
    /// The largest request body the proxy passes on, e.g. `"10MB"`; larger ones are answered
    /// `413` without reaching the app. Default `100MB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<ByteSize>,
    /// The largest request line and headers together, e.g. `"64KB"`; larger ones are
    /// answered `431`. Default `32KB`, from `1KB` to `1MB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_header: Option<ByteSize>,
    /// How long the app may take to start answering a request before the proxy answers `504`.
    /// Default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How long a client's keep-alive connection may stay idle between requests before the
    /// proxy closes it. Default `75s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

impl Route {
    /// The smallest `max_header` the proxy takes: below it ordinary browser requests fail.
    pub const MAX_HEADER_MIN: u64 = 1024;
    /// The largest `max_header` the proxy takes: each connection may hold this much while it
    /// reads a request's headers.
    pub const MAX_HEADER_MAX: u64 = 1024 * 1024;
}

/// The certificate of a route's host: `"acme"` (obtained and renewed by each host's proxy from
/// the environment's `proxy.acme` directory, Let's Encrypt by default) or `{ cert, key }`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RouteTls {
    /// `tls = "acme"`.
    Acme(AcmeKeyword),
    /// `tls = { cert, key }`.
    Files(TlsFiles),
}

/// The word `acme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AcmeKeyword {
    /// Certificates from an ACME directory.
    #[serde(rename = "acme")]
    Acme,
}

/// A certificate and key the project provides.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain in PEM, the host's certificate first: `file:PATH` (relative to
    /// the project) or `secret:NAME` (a secret of the environment's `secrets`).
    pub cert: String,
    /// Its private key in PEM (PKCS#8, PKCS#1 or SEC1): `file:PATH` or `secret:NAME`.
    pub key: String,
}

impl RouteTls {
    /// The certificate and key sources, unless the certificate comes from ACME.
    pub fn files(&self) -> Option<&TlsFiles> {
        match self {
            RouteTls::Files(files) => Some(files),
            RouteTls::Acme(_) => None,
        }
    }
}

// By hand, so a wrong value gets a sentence a person can act on rather than serde's
// "did not match any variant".
impl<'de> Deserialize<'de> for RouteTls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RouteTls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`\"acme\"` or `{ cert = \"file:PATH\", key = \"file:PATH\" }`")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RouteTls, E> {
                match value {
                    "acme" => Ok(RouteTls::Acme(AcmeKeyword::Acme)),
                    other => {
                        let guess = crate::suggest::did_you_mean(other, ["acme"])
                            .map_or(String::new(), |g| format!(" {g}"));
                        Err(E::custom(format!(
                            "unknown tls `{other}`:{guess} write `tls = \"acme\"` for certificates from ACME (Let's Encrypt), or `tls = {{ cert = \"file:PATH\", key = \"file:PATH\" }}`"
                        )))
                    }
                }
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<RouteTls, M::Error> {
                TlsFiles::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RouteTls::Files)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A container that runs beside an app (a log shipper, a metrics agent) and shares its release.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Image reference, pinned by tag or digest.
    pub image: String,
    /// Command; default the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<CommandLine>,
    /// Environment.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Port the sidecar listens on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether the app is stopped when the sidecar stops.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
}

/// A service the apps need (`[services.NAME]`, e.g. a database): started by `up` on the
/// environment's internal network before the apps.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A pinned image, e.g. `postgres:16.4-bookworm`. Exactly one of `image` and `build`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A directory with a Dockerfile, e.g. `services/db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Command; default the image's. (Apps call this key `cmd`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandLine>,
    /// Non-secret environment; secrets go in the environment's config templates.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Published ports as `[ip:]host:container`; the IP defaults to 127.0.0.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// `name:/path` named volumes (kept by `down`) or `./dir:/path` bind mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// How to tell the service is healthy; `up` starts the apps once it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Environments it runs in; default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// Name of its env template in `config/<env>/`; default the service's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Secrets delivered as files, as for apps: `/run/secrets/<file name>` → a secret name of
    /// the environment's `secrets`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secret_files: IndexMap<String, String>,
    /// Further names the others reach it by on the environment's networks, as for apps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// An environment (`[environments.NAME]`): where its apps run, how they are deployed there and with
/// which config.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Directory of its config templates; default `config/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Apps that run here; default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<Vec<String>>,
    /// Services that run here; default those whose `environments` include this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Bind-mount each app's directory (development).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mount: bool,
    /// Registry images are pushed to and pulled from; default the project's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Where the environment runs: a table like `{ kind = "docker", hosts = [...] }`, or
    /// `"docker"` alone.
    #[serde(default, skip_serializing_if = "Target::is_local_docker")]
    #[schemars(schema_with = "target_schema")]
    pub target: Target,
    /// How a deploy moves to the new release: a table like `{ kind = "blue-green", bake =
    /// "15m" }`, or a kind alone where it needs no settings (`"rolling"`, `"blue-green"`).
    #[serde(default, skip_serializing_if = "Strategy::is_default_rolling")]
    #[schemars(schema_with = "strategy_schema")]
    pub strategy: Strategy,
    /// App → `[ip:]port` published on the host; the IP defaults to 127.0.0.1.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub publish: IndexMap<String, String>,
    /// App → number of containers; default 1.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub replicas: IndexMap<String, u32>,
    /// Secret name → provider reference: `env:VAR`, `file:PATH`, `cmd:COMMAND`,
    /// `ssm:/path`, `secretsmanager:NAME`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub secrets: IndexMap<String, String>,
    /// Checks run by `slipway test`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestCheck>,
    /// Whether a person must approve a deploy to this environment, who, and where.
    #[serde(default, skip_serializing_if = "Approval::is_default")]
    pub approval: Approval,
    /// Commands run in an app's container around `up` and deploys.
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
}

/// Where an environment runs.
///
/// A string is short for a table with only its kind: `target = "docker"`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(
    remote = "Self",
    tag = "kind",
    rename_all = "kebab-case",
    deny_unknown_fields
)]
pub enum Target {
    /// Docker Engine hosts.
    Docker {
        /// `unix:///var/run/docker.sock`, `ssh://user@host`, `tcp://host:2376`; default the local engine.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<DockerHost>,
        /// The proxy that owns the apps' public port on each host (deploys only).
        #[serde(default, skip_serializing_if = "ProxySettings::is_default")]
        proxy: ProxySettings,
        /// Releases whose images stay on the hosts for `slipway rollback`; default 3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keep_releases: Option<u32>,
    },
    /// Amazon ECS.
    Ecs(Box<EcsTarget>),
}

/// A Docker host: its engine's URL, or a table when it needs settings of its own.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum DockerHost {
    /// `unix:///var/run/docker.sock`, `ssh://user@host` or `tcp://host:2376`.
    Url(String),
    /// A host with settings of its own.
    Detailed {
        /// `unix://`, `ssh://` or `tcp://` URL of the host's Docker Engine.
        url: String,
        /// Where this host's proxy listens, when not the environment's `proxy.publish`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publish: Option<String>,
        /// Where this host's proxy serves `/metrics`, when not the environment's `proxy.metrics`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<String>,
        /// Where this host's proxy serves HTTPS, when not the environment's `proxy.publish_tls`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publish_tls: Option<String>,
    },
}

impl DockerHost {
    /// The URL of the host's Docker Engine, however the host is written.
    pub fn url(&self) -> &str {
        match self {
            DockerHost::Url(url) | DockerHost::Detailed { url, .. } => url,
        }
    }

    /// Where this host's proxy listens, when the host says so.
    pub fn publish(&self) -> Option<&str> {
        match self {
            DockerHost::Url(_) => None,
            DockerHost::Detailed { publish, .. } => publish.as_deref(),
        }
    }

    /// Where this host's proxy serves `/metrics`, when the host says so.
    pub fn metrics(&self) -> Option<&str> {
        match self {
            DockerHost::Url(_) => None,
            DockerHost::Detailed { metrics, .. } => metrics.as_deref(),
        }
    }

    /// Where this host's proxy serves HTTPS, when the host says so.
    pub fn publish_tls(&self) -> Option<&str> {
        match self {
            DockerHost::Url(_) => None,
            DockerHost::Detailed { publish_tls, .. } => publish_tls.as_deref(),
        }
    }
}

/// The proxy slipway runs on each Docker host of an environment it deploys to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// `[ip:]port` the proxy listens on; the IP defaults to 127.0.0.1; default `127.0.0.1:8090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<String>,
    /// `[ip:]port` of its Prometheus `/metrics`; default `127.0.0.1:9190`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// `[ip:]port` the proxy serves HTTPS on (routes with `tls`); the IP defaults to
    /// 127.0.0.1; default `127.0.0.1:443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_tls: Option<String>,
    /// Consecutive passing health checks before a release gets traffic; default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_checks: Option<u32>,
    /// How long a release that loses its traffic may finish its requests; default `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Duration>,
    /// How long a new release may take to pass its health gate; default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_timeout: Option<Duration>,
    /// The image the proxy's own image is assembled on (through the registry mirroring
    /// docker.io); it needs the C library slipway was built against. Default
    /// `debian:bookworm-20251117-slim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Where routes with `tls = "acme"` get their certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<Box<AcmeSettings>>,
}

/// The ACME directory each host's proxy obtains and renews its routes' certificates from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcmeSettings {
    /// The account's contact address, for the CA's expiry notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The directory URL; default Let's Encrypt's
    /// (`https://acme-v02.api.letsencrypt.org/directory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// `http-01` (default: the proxy answers on port 80) or `tls-alpn-01` (on port 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// `file:PATH` of the root certificate (PEM) the directory's HTTPS is signed by, for a
    /// private ACME server; default the host's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl ProxySettings {
    /// Whether nothing is set, so the table is left out when written.
    pub fn is_default(&self) -> bool {
        self == &ProxySettings::default()
    }
}

/// An environment on Amazon ECS: one ECS service per app (two for blue-green and canary, whose
/// traffic slipway moves between two target groups on an ALB listener).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsTarget {
    /// ECS cluster.
    pub cluster: String,
    /// AWS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// App → its service, task family, load balancer and sidecars.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub apps: IndexMap<String, EcsApp>,
    /// `FARGATE` (default) or `EC2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// Subnets of the tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Security groups of the tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Give each task a public IP (awsvpc).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub assign_public_ip: bool,
    /// Task execution role: image pulls, logs and secrets. Required when the environment has secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Role of the running task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Task CPU units, for every app unless the app says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory (MiB), for every app unless the app says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CloudWatch Logs group of the `awslogs` driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// How long a service may take to reach a steady state; default 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_timeout: Option<Duration>,
    /// Who moves the traffic of blue-green and canary deploys.
    #[serde(default, skip_serializing_if = "EcsDeployments::is_slipway")]
    pub deployments: EcsDeployments,
    /// With `deployments = "ecs"`: the role ECS moves the listener rule's traffic with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_role_arn: Option<String>,
    /// CloudWatch alarms that stop and roll back a deployment when they fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// The role EventBridge Scheduler starts the scheduled jobs' tasks with. Required when the
    /// environment has jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_role_arn: Option<String>,
}

/// Who moves an ECS environment's traffic in blue-green and canary deploys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EcsDeployments {
    /// slipway: two services per app (`-blue`, `-green`) and the ALB listener's weights; works on
    /// every account and region.
    #[default]
    Slipway,
    /// ECS itself: one service per app with ECS's BLUE_GREEN, CANARY or LINEAR strategy over two
    /// target groups and a listener rule.
    Ecs,
}

impl EcsDeployments {
    /// Whether slipway itself moves the traffic (two services per app and the listener's weights).
    pub fn is_slipway(&self) -> bool {
        *self == EcsDeployments::Slipway
    }
}

/// A canary's steps as one of ECS's own strategies: `Canary(10)` for `[10, 100]`, `Linear(25)`
/// for `[25, 50, 75, 100]`; `None` for other steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeCanary {
    /// Shift the given percent, then the rest.
    Canary(u8),
    /// Shift the given percent at each step until all of it.
    Linear(u8),
}

/// The ECS strategy a canary's `steps` come to, if they match one of ECS's own shapes.
pub fn native_canary(steps: &[u8]) -> Option<NativeCanary> {
    match steps {
        [percent, 100] if *percent < 100 => Some(NativeCanary::Canary(*percent)),
        [first, ..]
            if steps.len() > 2
                && steps
                    .iter()
                    .enumerate()
                    .all(|(i, s)| u32::from(*s) == u32::from(*first) * (i as u32 + 1))
                && steps.last() == Some(&100) =>
        {
            Some(NativeCanary::Linear(*first))
        }
        _ => None,
    }
}

/// One app on ECS.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsApp {
    /// ECS service name; default `<project>-<env>-<app>`. Blue-green and canary use
    /// `<service>-blue` and `<service>-green`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Task definition family; default the service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Task CPU units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// ALB listener whose forward weights slipway moves (blue-green, canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Target group ARNs: one for rolling, two (blue, green) for blue-green and canary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_groups: Vec<String>,
}

impl Default for Target {
    fn default() -> Self {
        Target::Docker {
            hosts: Vec::new(),
            proxy: ProxySettings::default(),
            keep_releases: None,
        }
    }
}

/// How a target moves from one release to the next.
///
/// A string is short for a table with only its kind: `strategy = "blue-green"`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(
    remote = "Self",
    tag = "kind",
    rename_all = "kebab-case",
    deny_unknown_fields
)]
pub enum Strategy {
    /// Replace containers a few at a time.
    Rolling {
        /// Extra new containers started above `replicas` at a time.
        #[serde(default = "one")]
        max_surge: u32,
        /// Old containers that may be stopped before their replacements are healthy. Not both `0`.
        #[serde(default)]
        max_unavailable: u32,
    },
    /// Start the whole new set, switch all traffic, keep the old set for `bake`.
    BlueGreen {
        /// How long the old set is kept after the switch (for an instant switch back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bake: Option<Duration>,
    },
    /// Move traffic in steps, comparing the new release's errors and latency with the old one's.
    Canary {
        /// Percent of traffic at each step, ending at 100, e.g. `[10, 50, 100]`.
        steps: Vec<u8>,
        /// Time at each step before the next.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pause: Option<Duration>,
        /// Abort when the new release's error rate exceeds this, e.g. `"1%"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_error_rate: Option<Percent>,
        /// Abort when its p95 latency exceeds the old one's by more than this, e.g. `"20%"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_latency_increase: Option<Percent>,
    },
    /// Stop everything, then start the new release: downtime.
    Recreate {
        /// Must be `true`: recreate has downtime.
        #[serde(default)]
        allow_downtime: bool,
    },
}

fn one() -> u32 {
    1
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy::Rolling {
            max_surge: 1,
            max_unavailable: 0,
        }
    }
}

/// One check of `slipway test`: exactly one of `http`, `run` (in a one-off container) or
/// `host` (on the host, with the environment's URLs in variables).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCheck {
    /// Name shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `"GET /api/health"` (method and path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Expected HTTP status; default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<u16>,
    /// Text the response body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// JSON pointer → expected value, e.g. `{ "/status" = "ok" }`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub json: IndexMap<String, serde_json::Value>,
    /// With `run`: the app whose image the one-off container uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Command in a one-off container; exit 0 passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<CommandLine>,
    /// Command on the host; exit 0 passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<CommandLine>,
    /// Time the check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// The approval gate of an environment: whether deploys there wait for a person, who may approve
/// and where.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// A person must press "deploy" before this environment changes.
    #[serde(default)]
    pub required: bool,
    /// An approval not given within this time lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Duration>,
    /// Who may approve; default anyone with access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Where a gate guarding this environment is decided: `anywhere` (a terminal's `slipway
    /// approve` as the OS account running it, or the dashboard) or `server` (only people logged
    /// in to `slipway serve`).
    #[serde(default, skip_serializing_if = "ApprovalVia::is_anywhere")]
    pub via: ApprovalVia,
}

/// Where an environment's approvals are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalVia {
    /// At a terminal (`slipway approve`) or on the dashboard.
    #[default]
    Anywhere,
    /// Only on the dashboard of `slipway serve`, by a logged-in approver.
    Server,
}

impl ApprovalVia {
    /// Whether approvals may be given anywhere (the default).
    pub fn is_anywhere(&self) -> bool {
        *self == ApprovalVia::Anywhere
    }
}

/// Commands an environment runs in its apps' containers at fixed moments.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run after `up`, once the services are healthy (e.g. dev migrations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_up: Vec<Hook>,
    /// Run once per deploy in the new release's first container of the app (first host), after it
    /// passed its health gate and before it takes traffic (e.g. migrations). A failure rolls the
    /// release back. Only for apps the deploy includes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_deploy: Vec<Hook>,
    /// Run once the release is live, in the same container. A failure is reported (exit
    /// non-zero); the release stays live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_deploy: Vec<Hook>,
}

/// One hook: a command run in a container of an app.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The app whose container runs the command.
    pub app: String,
    /// The command; it fails the step when it exits with anything but 0.
    pub run: CommandLine,
}

/// A scheduled job (`[jobs.NAME]`): a command run on a schedule in a fresh container (a task on
/// ECS) made like the live release's containers of an app: its image, config and secrets.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The app whose live release the job runs in.
    pub app: String,
    /// The command: a string run by `/bin/sh -c`, or an argument vector.
    pub run: CommandLine,
    /// When: five cron fields (`0 3 * * *`), `@hourly`/`@daily`/`@weekly`/`@monthly`, or
    /// `rate(15 minutes)`.
    pub schedule: String,
    /// IANA time zone the cron fields are read in (`Europe/Paris`); default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Environments the job runs in; default every deployed environment that runs its app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// A run still going after this long is stopped and counted as failed; default 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// A notification channel (`[notifications.NAME]`): where events are sent and which.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Kind of channel.
    pub kind: NotificationKind,
    /// Webhook URL, or `env:VAR` to read it from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Email recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Email sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `host:port` of the SMTP server (STARTTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
    /// SMTP login, when the server asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SMTP password: `env:VAR` (never written in slipway.toml itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Events sent to this channel; default all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
}

/// The kinds of notification channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationKind {
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams workflow webhook (an Adaptive Card).
    Teams,
    /// Email over SMTP with STARTTLS.
    Email,
    /// A JSON POST to any URL.
    #[default]
    Webhook,
}

/// The events channels can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// New base images were pushed.
    BasePublished,
    /// A pipeline's `notify` step: the run got there.
    RunSucceeded,
    /// A pipeline run failed.
    RunFailed,
    /// A run waits at an approval gate for a person.
    ApprovalWaiting,
    /// A branch pipeline opened (or updated) a pull request and asked for reviews.
    PullRequestOpened,
    /// A release went live in an environment.
    Deployed,
    /// An environment went back to an earlier release.
    RolledBack,
    /// A scheduled job's run failed, timed out or could not start.
    JobFailed,
}

/// A pipeline (`[pipelines.NAME]`): what starts it and the steps it runs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Default: the pipeline's name when it is `base`, `branch` or `release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PipelineKind>,
    /// What starts it.
    #[serde(default)]
    pub on: Trigger,
    /// Steps in order, e.g. `["build", "push", "up stage", "test stage", "approve", "deploy prod"]`,
    /// or `{ name = "...", run = [...] }` for a command of your own.
    pub steps: Vec<Step>,
    /// Notification channels (keys of `[notifications]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// Variables of the runner's environment (`slipway serve`'s or the terminal's) every step of
    /// this pipeline gets besides the ones slipway gives each step, e.g. `["NPM_TOKEN"]`. Never
    /// the server's own secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// What a pipeline is for, which decides when it starts and how its runs are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PipelineKind {
    /// Builds, tests and pushes base images; a successful run may start the pipelines that wait
    /// for published bases.
    Base,
    /// Runs on branches other than `project.default_branch`, never on it.
    Branch,
    /// Takes a commit to the environments; one run per pipeline at a time, later ones queue.
    Release,
}

/// What starts a pipeline on its own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Run on a push matching the filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<GitFilter>,
    /// Run when a pull request into a branch matching `branches` is opened or given new commits
    /// and touches `paths` (since it forked from that branch). The run is of the pull request's
    /// head commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<GitFilter>,
    /// Run when a base image is published.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base_published: bool,
}

/// Which changes start a pipeline: branch and path globs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitFilter {
    /// Branch globs; default all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    /// Path globs a change must touch; default any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Path globs that never start the pipeline on their own, e.g. `["docs/**"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_paths: Vec<String>,
}

/// `[server]`: the settings of `slipway serve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the server listens on; default `127.0.0.1:8300`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The address people reach it at, for links in notifications; default `http://<listen>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Login name → password, as `env:VAR`. A login may press Deploy, Reject and Rollback (the
    /// environment's `approval.approvers` still decide who may approve).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub users: IndexMap<String, String>,
    /// Let anyone who reaches the server see its pages without logging in (changes still need
    /// a login).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_read: bool,
    /// The secret git hosts sign webhooks with, as `env:VAR`; without it webhooks are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Look for new commits in the project's repository this often, e.g. `"30s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Duration>,
    /// The bearer token `/metrics` accepts, as `env:VAR`; without it only a logged-in user
    /// reads the metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
    /// Connections served at once; more wait until one closes. Default 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// A login ends after this long without a request. Default `"2h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_idle: Option<Duration>,
    /// A login ends this long after it began, however busy. Default `"24h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime: Option<Duration>,
}

impl ServerSettings {
    /// Whether nothing is set, so the table is left out when written.
    pub fn is_default(&self) -> bool {
        *self == ServerSettings::default()
    }
}

/// `[git]`: the git host pull requests are opened on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitHost {
    /// `github`, `gitlab`, `gitea` or `forgejo`.
    pub host: GitHostKind,
    /// The API's base URL. Default `https://api.github.com` for GitHub and
    /// `https://gitlab.com/api/v4` for GitLab; Gitea and Forgejo need it, e.g.
    /// `https://git.example.com/api/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// `owner/name` (GitLab: the project's full path). Default: read from the `origin` remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The API token, as `env:VAR` (never written in slipway.toml itself).
    pub token: String,
    /// Logins asked to review each pull request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviewers: Vec<String>,
    /// Open pull requests as drafts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draft: bool,
}

/// The git hosts slipway can open pull requests on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GitHostKind {
    /// GitHub or GitHub Enterprise.
    #[default]
    Github,
    /// GitLab, hosted or self-managed.
    Gitlab,
    /// Gitea.
    Gitea,
    /// Forgejo.
    Forgejo,
}

/// `[lint]`: the project's choices about `slipway lint`'s rules.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LintSettings {
    /// Rule IDs ignored in the whole project, e.g. `["DF022"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Rule ID → `error`, `warning`, `info` or `off`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub severity: IndexMap<String, RuleLevel>,
    /// Registry prefixes whose images count as official, e.g. `["127.0.0.1:5000/library"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub official_registries: Vec<String>,
}

/// How a lint rule's findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    /// Fails the lint.
    Error,
    /// Shown; fails the lint only with `--strict`.
    Warning,
    /// Shown for information.
    Info,
    /// Not reported.
    Off,
}

impl Target {
    /// Whether it is Amazon ECS (else Docker hosts).
    pub fn is_ecs(&self) -> bool {
        matches!(self, Target::Ecs(_))
    }

    /// Whether this is the default target: the local Docker Engine with the proxy's default
    /// settings.
    pub fn is_local_docker(&self) -> bool {
        matches!(self, Target::Docker { hosts, proxy, keep_releases: None } if hosts.is_empty() && proxy.is_default())
    }
}

impl Strategy {
    /// Whether this is a rolling strategy with its default settings.
    pub fn is_default_rolling(&self) -> bool {
        matches!(
            self,
            Strategy::Rolling {
                max_surge: 1,
                max_unavailable: 0
            }
        )
    }
}

impl Approval {
    /// Whether the gate is as if unwritten (no approval required), so it is left out when written.
    pub fn is_default(&self) -> bool {
        !self.required
            && self.expires.is_none()
            && self.approvers.is_empty()
            && self.via.is_anywhere()
    }
}

impl Hooks {
    /// Whether there are no hooks.
    pub fn is_empty(&self) -> bool {
        self.after_up.is_empty() && self.before_deploy.is_empty() && self.after_deploy.is_empty()
    }
}

impl LintSettings {
    /// Whether nothing is set, so the table is left out when written.
    pub fn is_empty(&self) -> bool {
        self.ignore.is_empty() && self.severity.is_empty() && self.official_registries.is_empty()
    }
}

/// Deserializes an internally tagged enum from its table, or from a string naming its kind (a
/// table with only `kind`) when the kind is one of `$shorthands`; another kind asks for the table
/// form, since it needs settings of its own (canary's steps, recreate's consent to downtime).
macro_rules! kind_or_table {
    ($ty:ident, $field:literal, $example:literal, $shorthands:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KindOrTable;
                impl<'de> serde::de::Visitor<'de> for KindOrTable {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a table like `", $example, "` or its kind alone"))
                    }
                    fn visit_str<E: serde::de::Error>(self, kind: &str) -> Result<$ty, E> {
                        let only_kind = serde::de::value::MapDeserializer::<_, E>::new(
                            std::iter::once(("kind", kind)),
                        );
                        let needs_table = || {
                            E::custom(format!(
                                concat!(
                                    "`{}` needs settings of its own: write `",
                                    $field,
                                    " = {{ kind = \"{}\", ... }}`"
                                ),
                                kind, kind
                            ))
                        };
                        match $ty::deserialize(only_kind) {
                            Ok(_) if !$shorthands.contains(&kind) => Err(needs_table()),
                            Ok(value) => Ok(value),
                            Err(error) if error.to_string().starts_with("missing field") => {
                                Err(needs_table())
                            }
                            Err(error) => Err(error),
                        }
                    }
                    fn visit_map<M: serde::de::MapAccess<'de>>(
                        self,
                        map: M,
                    ) -> Result<$ty, M::Error> {
                        $ty::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                deserializer.deserialize_any(KindOrTable)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, serializer)
            }
        }
    };
}

kind_or_table!(
    Strategy,
    "strategy",
    "{ kind = \"blue-green\" }",
    STRATEGY_SHORTHANDS
);
kind_or_table!(Target, "target", "{ kind = \"docker\" }", TARGET_SHORTHANDS);

/// The kinds a string alone may name: those whose settings all have defaults.
pub const STRATEGY_SHORTHANDS: &[&str] = &["rolling", "blue-green"];
/// The kinds a target may be given by as a string alone.
pub const TARGET_SHORTHANDS: &[&str] = &["docker"];

fn kind_or_table_schema<T: JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
    shorthands: &[&str],
) -> schemars::Schema {
    let table = generator.subschema_for::<T>();
    schemars::json_schema!({
        "anyOf": [
            { "type": "string", "enum": shorthands },
            table,
        ]
    })
}

fn strategy_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    kind_or_table_schema::<Strategy>(generator, STRATEGY_SHORTHANDS)
}

fn target_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    kind_or_table_schema::<Target>(generator, TARGET_SHORTHANDS)
}
