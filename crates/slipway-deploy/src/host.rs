//! One Docker host of an environment: its proxy (a container of slipway's own image, assembled
//! like an app image, that takes orders through `docker exec` on its admin socket) and the
//! containers of each release.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_core::Manifest;
use slipway_core::manifest::ProxySettings;
use slipway_docker::Engine;
use slipway_docker::environment::{ContainerSpec, LABEL_ENVIRONMENT, LABEL_NAME, LABEL_PROJECT};
use slipway_docker::secrets::SecretFiles;
use slipway_proxy::admin::{Answer, Command};

use crate::{DeployError, Result};

/// The name of the proxy's container on each Docker host.
pub const PROXY_CONTAINER: &str = "slipway-proxy";
/// The network the proxy shares with the release containers it forwards to.
pub const PROXY_NETWORK: &str = "slipway-proxy";
/// The name the proxy's image is loaded under on each host.
pub const PROXY_IMAGE: &str = "slipway/proxy:latest";
/// Label of the release a container belongs to.
pub const LABEL_RELEASE: &str = "dev.slipway.release";
/// Label of a release container's replica number, from 1.
pub const LABEL_REPLICA: &str = "dev.slipway.replica";
/// Label of the image ID a release container runs.
pub const LABEL_IMAGE: &str = "dev.slipway.image";
/// Label of the digest of the config a release container was given.
pub const LABEL_CONFIG_DIGEST: &str = "dev.slipway.config-digest";
/// Label of who started the release (`user@host`).
pub const LABEL_STARTED_BY: &str = "dev.slipway.started-by";
/// Label of when the release started, in Unix seconds.
pub const LABEL_STARTED_AT: &str = "dev.slipway.started-at";
/// Label of the strategy the release was deployed with.
pub const LABEL_STRATEGY: &str = "dev.slipway.strategy";
const PROXY_PORT: u16 = 8090;
const PROXY_METRICS_PORT: u16 = 9190;
/// The proxy's HTTPS port inside its container.
const PROXY_TLS_PORT: u16 = 8443;
/// Where the proxy keeps its routing table and, under `tls/`, the hosts' certificates.
pub(crate) const PROXY_STATE_DIR: &str = "/var/lib/slipway-proxy";
const PROXY_SOCKET: &str = "/run/slipway-proxy/admin.sock";
const PROXY_BINARY: &str = "/usr/local/bin/slipway";
const DEFAULT_PROXY_BASE: &str = "debian:bookworm-20251117-slim";

/// One Docker host of an environment, connected: its engine and where its proxy answers.
#[derive(Debug, Clone)]
pub struct Host {
    /// As written in slipway.toml, or `local`.
    pub name: String,
    /// The connection to the host's Docker Engine.
    pub engine: Engine,
    /// Where this host's proxy listens, when not the environment's address.
    pub publish: Option<(String, u16)>,
    /// Where this host's proxy serves `/metrics`, when not the environment's address.
    pub metrics: Option<(String, u16)>,
    /// Where this host's proxy serves HTTPS, when not the environment's address.
    pub publish_tls: Option<(String, u16)>,
}

impl Host {
    /// Connects to a host of slipway.toml, or to the local engine when `host` is `None`.
    pub async fn connect(host: Option<&slipway_core::manifest::DockerHost>) -> Result<Host> {
        let engine = match host {
            None => Engine::connect().await?,
            Some(host) => Engine::connect_to(host.url()).await?,
        };
        Ok(Host {
            name: host.map_or("local", |h| h.url()).to_owned(),
            engine,
            publish: address(host.and_then(|h| h.publish())),
            metrics: address(host.and_then(|h| h.metrics())),
            publish_tls: address(host.and_then(|h| h.publish_tls())),
        })
    }

    /// An engine on this machine takes images by `docker load`; others pull from the registry.
    pub fn is_local(&self) -> bool {
        self.name == "local" || self.name.starts_with("unix://")
    }

    /// The URL the apps answer on through this host's proxy.
    pub fn url(&self, plan: &ProxyPlan) -> String {
        let (ip, port) = self.publish.as_ref().unwrap_or(&plan.publish);
        format!("http://{ip}:{port}")
    }

    /// Where this host's proxy serves HTTPS (IP, port).
    pub fn tls_address(&self, plan: &ProxyPlan) -> (String, u16) {
        self.publish_tls
            .clone()
            .unwrap_or_else(|| plan.publish_tls.clone())
    }

    /// Sends one order to this host's proxy.
    pub async fn proxy(&self, command: &Command) -> Result<Answer> {
        let json = serde_json::to_string(command).expect("a command serializes");
        let finished = self
            .engine
            .exec(
                PROXY_CONTAINER,
                &[
                    PROXY_BINARY.to_owned(),
                    "proxy".into(),
                    "ctl".into(),
                    "--socket".into(),
                    PROXY_SOCKET.into(),
                    json,
                ],
            )
            .await?;
        let answer: Answer =
            serde_json::from_str(finished.output.trim()).map_err(|_| DeployError::Proxy {
                host: self.name.clone(),
                message: format!("it answered: {}", finished.output.trim()),
            })?;
        Ok(answer)
    }

    /// Like `proxy`, but a refusal is an error.
    pub async fn order(&self, command: &Command) -> Result<Answer> {
        let answer = self.proxy(command).await?;
        if !answer.ok {
            return Err(DeployError::Proxy {
                host: self.name.clone(),
                message: answer.error.unwrap_or_default(),
            });
        }
        Ok(answer)
    }
}

fn address(text: Option<&str>) -> Option<(String, u16)> {
    text.and_then(slipway_core::manifest::parse_publish)
        .map(|(ip, port)| (ip.unwrap_or_else(|| "127.0.0.1".into()), port))
}

/// What the proxy settings come to, with their defaults.
#[derive(Debug, Clone)]
pub struct ProxyPlan {
    /// Where the proxy listens for the apps' traffic (IP, port).
    pub publish: (String, u16),
    /// Where the proxy serves its `/metrics` (IP, port).
    pub metrics: (String, u16),
    /// Where the proxy serves HTTPS (IP, port).
    pub publish_tls: (String, u16),
    /// Consecutive passing health checks a new release needs before it gets traffic.
    pub healthy_checks: u32,
    /// How long a release that loses its traffic keeps serving the requests it has.
    pub drain: Duration,
    /// How long a new release may take to pass its health gate.
    pub gate_timeout: Duration,
    /// The image the proxy's image is assembled on.
    pub base: String,
}

impl ProxyPlan {
    /// slipway.toml's proxy settings with the defaults filled in.
    pub fn from_settings(settings: &ProxySettings) -> ProxyPlan {
        let address = |value: &Option<String>, default: u16| {
            value
                .as_deref()
                .and_then(slipway_core::manifest::parse_publish)
                .map(|(ip, port)| (ip.unwrap_or_else(|| "127.0.0.1".into()), port))
                .unwrap_or(("127.0.0.1".into(), default))
        };
        ProxyPlan {
            publish: address(&settings.publish, PROXY_PORT),
            metrics: address(&settings.metrics, PROXY_METRICS_PORT),
            publish_tls: address(&settings.publish_tls, 443),
            healthy_checks: settings.healthy_checks.unwrap_or(2),
            drain: settings.drain.map_or(Duration::from_secs(30), |d| d.0),
            gate_timeout: settings
                .gate_timeout
                .map_or(Duration::from_secs(60), |d| d.0),
            base: settings
                .base
                .clone()
                .unwrap_or_else(|| DEFAULT_PROXY_BASE.into()),
        }
    }
}

/// Assembles the proxy's image (this very binary on a small base) into the project's store and
/// returns a manifest that names it, for `docker_archive`.
pub async fn build_proxy_image(
    manifest: &Manifest,
    plan: &ProxyPlan,
    state_dir: &Path,
    store_dir: &Path,
) -> Result<Manifest> {
    let registry_name = manifest
        .registries
        .iter()
        .find(|(_, r)| r.mirror_of.iter().any(|m| m == "docker.io"))
        .map(|(name, _)| name.clone())
        .or_else(|| manifest.project.registry.clone())
        .ok_or_else(|| {
            DeployError::Plan(
                "the proxy's image needs a registry to take its base from: add `mirror_of = [\"docker.io\"]` to a registry, or set [project] registry".into(),
            )
        })?;
    let (repository, tag) = official_name(&plan.base);
    let text = format!(
        "schema = 1\n[project]\nname = \"slipway\"\nregistry = \"base\"\n\
         [registries.base]\nurl = \"placeholder\"\n\
         [bases.proxy-base]\nimage = \"{repository}\"\ntags = [\"{tag}\"]\n\
         [apps.proxy]\ndir = \"bin\"\nbase = \"proxy-base\"\ndest = \"/usr/local/bin\"\n\
         entrypoint = [\"{PROXY_BINARY}\"]\ncmd = [\"proxy\", \"run\"]\n"
    );
    let mut tool = slipway_core::load_manifest(&text)
        .map_err(|e| DeployError::Plan(format!("the proxy's image: {e:?}")))?;
    tool.registries
        .insert("base".into(), manifest.registries[&registry_name].clone());
    let root = state_dir.join("proxy-image");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).map_err(|source| DeployError::Io {
        path: bin.clone(),
        source,
    })?;
    let exe = std::env::current_exe().map_err(|source| DeployError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    copy_if_changed(&exe, &bin.join("slipway"))?;
    let options = slipway_oci::app::BuildOptions {
        project_root: root,
        store_dir: store_dir.to_path_buf(),
        // The digest follows the binary alone.
        source_date_epoch: Some(0),
        revision: None,
        pinned_bases: BTreeMap::new(),
        platforms: Vec::new(),
    };
    slipway_oci::app::build_app(&tool, "proxy", &options)
        .await
        .map_err(|e| DeployError::Plan(format!("assembling the proxy's image: {e}")))?;
    Ok(tool)
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let same = match (std::fs::metadata(from), std::fs::metadata(to)) {
        (Ok(a), Ok(b)) => a.len() == b.len() && a.modified().ok() <= b.modified().ok(),
        _ => false,
    };
    if !same {
        std::fs::File::open(from)
            .and_then(|mut source| {
                slipway_core::files::write_atomic_with(to, 0o755, |file| {
                    std::io::copy(&mut source, file).map(drop)
                })
            })
            .map_err(|source| DeployError::Io {
                path: to.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

/// `debian:bookworm-slim` → (`library/debian`, `bookworm-slim`).
fn official_name(reference: &str) -> (String, String) {
    let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let name = if name.contains('/') {
        name.to_owned()
    } else {
        format!("library/{name}")
    };
    (name, tag.to_owned())
}

/// Loads slipway's own image (the proxy's, which the jobs runner shares) into a host unless it
/// has it; returns its ID.
pub async fn ensure_proxy_image(
    host: &Host,
    tool: &Manifest,
    state_dir: &Path,
    store_dir: &Path,
) -> Result<String> {
    let wanted = slipway_oci::app::config_digest(tool, "proxy", store_dir)
        .map_err(|e| DeployError::Plan(format!("the proxy's image: {e}")))?;
    if host.engine.image_id(PROXY_IMAGE).await.as_deref() != Some(wanted.as_str()) {
        load_from_store(host, tool, "proxy", state_dir, store_dir).await?;
    }
    Ok(wanted.to_string())
}

/// Loads the proxy's image into a host (unless it has it) and starts or updates its container.
pub async fn ensure_proxy(
    host: &Host,
    tool: &Manifest,
    plan: &ProxyPlan,
    state_dir: &Path,
    store_dir: &Path,
) -> Result<()> {
    let wanted = ensure_proxy_image(host, tool, state_dir, store_dir).await?;
    host.engine
        .ensure_network(PROXY_NETWORK, false, &Default::default())
        .await?;
    let spec = ContainerSpec {
        name: PROXY_CONTAINER.into(),
        image: PROXY_IMAGE.into(),
        image_id: wanted,
        cmd: Some(vec![
            "proxy".into(),
            "run".into(),
            "--listen".into(),
            format!("0.0.0.0:{PROXY_PORT}"),
            "--metrics".into(),
            format!("0.0.0.0:{PROXY_METRICS_PORT}"),
            "--listen-tls".into(),
            format!("0.0.0.0:{PROXY_TLS_PORT}"),
            "--state".into(),
            format!("{PROXY_STATE_DIR}/routes.json"),
            "--socket".into(),
            PROXY_SOCKET.into(),
        ]),
        entrypoint: None,
        user: None,
        workdir: None,
        env: Vec::new(),
        networks: vec![(PROXY_NETWORK.into(), Vec::new())],
        ports: vec![
            {
                let (ip, port) = host.publish.clone().unwrap_or_else(|| plan.publish.clone());
                (ip, port, PROXY_PORT)
            },
            {
                let (ip, port) = host.metrics.clone().unwrap_or_else(|| plan.metrics.clone());
                (ip, port, PROXY_METRICS_PORT)
            },
            {
                let (ip, port) = host.tls_address(plan);
                (ip, port, PROXY_TLS_PORT)
            },
        ],
        binds: vec![
            format!("slipway-proxy-state:{PROXY_STATE_DIR}"),
            // The host's trusted roots, for the ACME directories the proxy obtains
            // certificates from (its image has none).
            "/etc/ssl/certs:/etc/ssl/certs:ro".into(),
        ],
        health: None,
        labels: vec![("dev.slipway.proxy".into(), "1".into())],
        restart: Some("unless-stopped".into()),
        secret_files: Default::default(),
        stop_signal: None,
        stop_timeout: None,
    };
    if host.engine.ensure_container(&spec).await.is_err() {
        // Another deploy on this host may have created it a moment ago.
        tokio::time::sleep(Duration::from_millis(500)).await;
        host.engine.ensure_container(&spec).await?;
    }
    // The admin socket appears a moment after the container starts.
    let mut last = String::new();
    for _ in 0..100 {
        match host.proxy(&Command::Status).await {
            Ok(answer) if answer.ok => return Ok(()),
            Ok(answer) => last = answer.error.unwrap_or_default(),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = host.engine.last_logs(PROXY_CONTAINER, 20).await;
    Err(DeployError::Proxy {
        host: host.name.clone(),
        message: format!("the proxy did not start: {last}; its last log lines:\n{logs}"),
    })
}

/// Puts an image of the local store into a host's engine as `<project>/<app>:latest`.
pub async fn load_from_store(
    host: &Host,
    manifest: &Manifest,
    app: &str,
    state_dir: &Path,
    store_dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(state_dir).map_err(|source| DeployError::Io {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let archive = state_dir.join(format!("{}-{app}.deploy.tar", manifest.project.name));
    slipway_oci::app::docker_archive(manifest, app, store_dir, &archive)
        .await
        .map_err(|e| DeployError::Plan(format!("app `{app}`: {e}")))?;
    let loaded = host.engine.load(&archive).await;
    let _ = std::fs::remove_file(&archive);
    loaded?;
    Ok(())
}

/// Everything a release's container needs beyond the manifest.
#[derive(Debug, Clone)]
pub struct ContainerPlan<'a> {
    /// The project's slipway.toml.
    pub manifest: &'a Manifest,
    /// The environment deployed to.
    pub environment: &'a str,
    /// The app the container runs.
    pub app: &'a str,
    /// The release's name, e.g. `r7`.
    pub release: &'a str,
    /// The image reference the container runs.
    pub image: &'a str,
    /// The image's ID, recorded in the container's labels.
    pub image_id: &'a str,
    /// Its environment variables, `NAME=value`.
    pub env: Vec<String>,
    /// The environment's internal network, where the app's services are.
    pub internal_network: String,
    /// Labels besides project, environment, app, release, replica and image.
    pub labels: Vec<(String, String)>,
    /// The app's files at /run/secrets.
    pub secret_files: SecretFiles,
}

/// `<project>-<env>-<app>-<release>-<n>`
pub fn container_name(
    manifest: &Manifest,
    environment: &str,
    app: &str,
    release: &str,
    replica: u32,
) -> String {
    format!(
        "{}-{environment}-{app}-{release}-{replica}",
        manifest.project.name
    )
}

/// Starts replica `replica` of a release's app on `host` (recreated when its spec changed) and
/// returns the container's name.
pub async fn start_replica(host: &Host, plan: &ContainerPlan<'_>, replica: u32) -> Result<String> {
    let app = &plan.manifest.apps[plan.app];
    let name = container_name(
        plan.manifest,
        plan.environment,
        plan.app,
        plan.release,
        replica,
    );
    let mut labels = vec![
        (LABEL_PROJECT.to_owned(), plan.manifest.project.name.clone()),
        (LABEL_ENVIRONMENT.to_owned(), plan.environment.to_owned()),
        (LABEL_NAME.to_owned(), plan.app.to_owned()),
        (LABEL_RELEASE.to_owned(), plan.release.to_owned()),
        (LABEL_REPLICA.to_owned(), replica.to_string()),
        (LABEL_IMAGE.to_owned(), plan.image_id.to_owned()),
    ];
    labels.extend(plan.labels.iter().cloned());
    let (stop_signal, stop_timeout) = slipway_docker::environment::stop_settings(app);
    let spec = ContainerSpec {
        name: name.clone(),
        image: plan.image.to_owned(),
        image_id: plan.image_id.to_owned(),
        cmd: None,
        entrypoint: None,
        user: None,
        workdir: None,
        env: plan.env.clone(),
        networks: vec![
            // Its name and the names others knew it by (a compose `container_name`,
            // `hostname` or network alias), as in `up`.
            (
                plan.internal_network.clone(),
                std::iter::once(plan.app.to_owned())
                    .chain(app.aliases.iter().filter(|a| *a != plan.app).cloned())
                    .collect(),
            ),
            (PROXY_NETWORK.to_owned(), Vec::new()),
        ],
        ports: Vec::new(),
        binds: Vec::new(),
        health: slipway_docker::environment::app_health(app),
        labels,
        restart: Some("unless-stopped".into()),
        secret_files: plan.secret_files.clone(),
        stop_signal,
        stop_timeout,
    };
    host.engine.ensure_container(&spec).await?;
    Ok(name)
}

/// `slipway down` on the local engine: the environment's routes leave the proxy first (so it
/// answers 404 at once), then its containers and networks go (named volumes only with
/// `volumes`). The names removed.
pub async fn take_down(
    manifest: &Manifest,
    environment: &str,
    volumes: bool,
) -> Result<Vec<String>> {
    let host = Host::connect(None).await?;
    forget_routes(&host, manifest, environment).await?;
    Ok(slipway_docker::environment::down(&host.engine, manifest, environment, volumes).await?)
}

/// Removes an environment's routes from a host's proxy (after `slipway down`), so it answers
/// 404 at once instead of trying containers that are gone. A host without a proxy has none.
pub async fn forget_routes(
    host: &Host,
    manifest: &Manifest,
    environment: &str,
) -> Result<Vec<String>> {
    if !host.engine.is_running(PROXY_CONTAINER).await {
        return Ok(Vec::new());
    }
    let mut forgotten = Vec::new();
    for app in manifest.apps.keys() {
        let service = format!("{}/{environment}/{app}", manifest.project.name);
        let answer = host
            .proxy(&Command::Remove {
                service: service.clone(),
                drain_ms: 0,
            })
            .await?;
        if answer.ok {
            forgotten.push(service);
        }
    }
    // Its hosts stop being served over HTTPS (and redirected to it) too.
    let hosts: std::collections::BTreeSet<String> =
        crate::rollout::environment_apps(manifest, environment)
            .iter()
            .filter_map(|app| manifest.apps.get(app)?.route.as_ref()?.host.clone())
            .map(|host| slipway_proxy::tls::host_name(&host))
            .collect();
    for host_name in hosts {
        host.proxy(&Command::Tls {
            host: host_name,
            site: None,
            certificate: false,
        })
        .await?;
    }
    Ok(forgotten)
}
