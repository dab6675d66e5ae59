//! `slipway up` and `down` on the local engine: an environment's services (started first and
//! waited on by their health checks, on an internal network) and apps (on that network and a
//! public one that publishes their ports on 127.0.0.1), named `<project>-<env>-<name>` and
//! labelled so that `up` twice changes nothing and a changed config or image recreates only what
//! changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use slipway_core::Manifest;
use slipway_core::manifest::{CommandLine, Health};

use crate::secrets::{LABEL_SECRET_FILES, SECRETS_DIR, SecretFiles};
use crate::{DockerError, Engine, Result, engine};

/// Label of the project a container or network belongs to.
pub const LABEL_PROJECT: &str = "dev.slipway.project";
/// Label of the environment a container or network belongs to.
pub const LABEL_ENVIRONMENT: &str = "dev.slipway.environment";
/// Label of the app or service name a container runs.
pub const LABEL_NAME: &str = "dev.slipway.name";
/// Label holding the hash of a container's [`ContainerSpec`], so `up` sees what changed.
pub const LABEL_HASH: &str = "dev.slipway.config-hash";

/// Everything that decides a container; its hash is the container's label.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSpec {
    /// The container's name, `<project>-<env>-<name>`.
    pub name: String,
    /// The image reference it runs.
    pub image: String,
    /// The image's ID, so a new image under the same name recreates the container.
    pub image_id: String,
    /// The command, when it replaces the image's own.
    pub cmd: Option<Vec<String>>,
    /// The entrypoint, when it replaces the image's own.
    pub entrypoint: Option<Vec<String>>,
    /// The user it runs as, when it replaces the image's own.
    pub user: Option<String>,
    /// The working directory, when it replaces the image's own.
    pub workdir: Option<String>,
    /// Its environment variables, `NAME=value`.
    pub env: Vec<String>,
    /// The networks it joins, each with the aliases it answers to there; the first is the one it is
    /// created on.
    pub networks: Vec<(String, Vec<String>)>,
    /// Published ports: (host IP, host port, container port).
    pub ports: Vec<(String, u16, u16)>,
    /// Bind mounts, `host:container[:mode]`.
    pub binds: Vec<String>,
    /// The health check as [`health_of`] gives it.
    pub health: Option<(Vec<String>, i64, i64, i64, i64)>,
    /// Labels besides the ones slipway sets for itself.
    pub labels: Vec<(String, String)>,
    /// `unless-stopped` for what must come back after the engine restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Files at /run/secrets (on tmpfs); only a keyed digest of their values is hashed.
    #[serde(skip_serializing_if = "SecretFiles::is_empty")]
    pub secret_files: SecretFiles,
    /// The signal that stops it, when not the image's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds it has after that signal before it is killed, when not the engine's 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// The stop signal and grace period (seconds) of an app's containers, as its manifest says.
pub fn stop_settings(app: &slipway_core::manifest::App) -> (Option<String>, Option<i64>) {
    (
        app.stop_signal.clone(),
        app.stop_grace_period
            .map(|grace| grace.0.as_secs_f64().ceil() as i64),
    )
}

impl ContainerSpec {
    fn hash(&self) -> String {
        hex::encode(Sha256::digest(
            serde_json::to_vec(self).expect("a spec serializes"),
        ))
    }
}

/// What `up` did to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// It did not exist and was created and started.
    Created,
    /// Its spec changed, so it was removed and created again.
    Recreated,
    /// It runs as specified already.
    Unchanged,
    /// It was as specified but stopped, and was started.
    Started,
}

impl Engine {
    /// Creates the network `name` unless it exists; an `internal` one has no route out and no
    /// address on the host's side.
    pub async fn ensure_network(
        &self,
        name: &str,
        internal: bool,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        if self.docker.inspect_network(name, None).await.is_ok() {
            return Ok(());
        }
        // An internal network gets no address on the host's side either, so nothing on the
        // host reaches its containers (a database) unless a port is published.
        let options = internal.then(|| {
            HashMap::from([(
                "com.docker.network.bridge.inhibit_ipv4".to_owned(),
                "true".to_owned(),
            )])
        });
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            internal: Some(internal),
            labels: Some(labels.clone()),
            options,
            ..Default::default()
        };
        self.docker.create_network(request).await.map_err(engine)?;
        Ok(())
    }

    /// Creates, recreates or leaves the container as `spec` says.
    pub async fn ensure_container(&self, spec: &ContainerSpec) -> Result<Change> {
        let hash = spec.hash();
        let existing = self.docker.inspect_container(&spec.name, None).await.ok();
        let mut change = Change::Created;
        if let Some(existing) = existing {
            let same = existing
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(LABEL_HASH))
                .is_some_and(|h| h == &hash);
            let running = existing
                .state
                .as_ref()
                .and_then(|s| s.running)
                .unwrap_or(false);
            if same && !spec.secret_files.is_empty() {
                // Written again: a host that restarted has an empty /dev/shm.
                self.write_secret_files(
                    &spec.name,
                    &spec.image,
                    spec.user.as_deref(),
                    &spec.secret_files,
                )
                .await?;
            }
            if same && running {
                return Ok(Change::Unchanged);
            }
            if same {
                self.docker
                    .start_container(&spec.name, None)
                    .await
                    .map_err(engine)?;
                return Ok(Change::Started);
            }
            self.remove(&spec.name).await?;
            change = Change::Recreated;
        }
        let mut labels: HashMap<String, String> = spec.labels.iter().cloned().collect();
        labels.insert(LABEL_HASH.into(), hash);
        let mut binds = spec.binds.clone();
        if !spec.secret_files.is_empty() {
            labels.insert(
                LABEL_SECRET_FILES.into(),
                spec.secret_files.names().join(","),
            );
            binds.push(format!(
                "{}:{SECRETS_DIR}",
                crate::secrets::host_dir(&spec.name)?
            ));
        }
        let mut exposed = Vec::new();
        let mut bindings = HashMap::new();
        for (ip, host, container) in &spec.ports {
            exposed.push(format!("{container}/tcp"));
            bindings.insert(
                format!("{container}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(ip.clone()),
                    host_port: Some(host.to_string()),
                }]),
            );
        }
        let (first_network, first_aliases) = spec.networks.first().cloned().unwrap_or_default();
        let mut endpoints = HashMap::new();
        // The host's network takes no endpoint settings (aliases are for user-defined networks).
        if first_network != "host" {
            endpoints.insert(
                first_network.clone(),
                EndpointSettings {
                    aliases: Some(first_aliases),
                    ..Default::default()
                },
            );
        }
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.cmd.clone(),
            entrypoint: spec.entrypoint.clone(),
            user: spec.user.clone(),
            working_dir: spec.workdir.clone(),
            env: Some(spec.env.clone()),
            labels: Some(labels),
            exposed_ports: Some(exposed),
            stop_signal: spec.stop_signal.clone(),
            stop_timeout: spec.stop_timeout,
            healthcheck: spec
                .health
                .as_ref()
                .map(|(test, interval, timeout, retries, start)| HealthConfig {
                    test: Some(test.clone()),
                    interval: Some(*interval),
                    timeout: Some(*timeout),
                    retries: Some(*retries),
                    start_period: Some(*start),
                    ..Default::default()
                }),
            host_config: Some(HostConfig {
                binds: Some(binds),
                port_bindings: Some(bindings),
                network_mode: Some(first_network),
                restart_policy: spec.restart.as_ref().map(|name| RestartPolicy {
                    name: Some(match name.as_str() {
                        "always" => RestartPolicyNameEnum::ALWAYS,
                        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                        _ => RestartPolicyNameEnum::UNLESS_STOPPED,
                    }),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&spec.name)
                        .build(),
                ),
                body,
            )
            .await
            .map_err(engine)?;
        if !spec.secret_files.is_empty()
            && let Err(error) = self
                .write_secret_files(
                    &spec.name,
                    &spec.image,
                    spec.user.as_deref(),
                    &spec.secret_files,
                )
                .await
        {
            // Never started without its secrets.
            let _ = self.remove(&spec.name).await;
            return Err(error);
        }
        for (network, aliases) in spec.networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: spec.name.clone(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                }),
            };
            self.docker
                .connect_network(network, request)
                .await
                .map_err(engine)?;
        }
        self.docker
            .start_container(&spec.name, None)
            .await
            .map_err(engine)?;
        Ok(change)
    }

    /// Whether the container `name` exists and runs.
    pub async fn is_running(&self, name: &str) -> bool {
        self.docker
            .inspect_container(name, None)
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            .unwrap_or(false)
    }

    /// Stops a container the way `docker stop` does (its stop signal, then its grace period,
    /// then SIGKILL), so the app can finish the request or the job in hand, and removes it.
    pub async fn stop_and_remove(&self, name: &str) -> Result<()> {
        self.stop(name).await?;
        self.remove(name).await
    }

    /// Stops a container the way `docker stop` does and keeps it (its logs, its exit code); a
    /// container that is not running or is gone is fine.
    pub async fn stop(&self, name: &str) -> Result<()> {
        match self
            .docker
            .stop_container(
                name,
                None::<bollard::query_parameters::StopContainerOptions>,
            )
            .await
        {
            // 304: it was not running.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => {}
            Err(error) => return Err(engine(error)),
        }
        Ok(())
    }

    /// Runs `command` to its end in a new container `name` made like the container `template`
    /// ([`Engine::create_like`]). Each chunk of its output goes to `output` as it comes; the
    /// container is removed afterwards, and its exit code returned.
    pub async fn run_like(
        &self,
        template: &str,
        name: &str,
        network: &str,
        command: &[String],
        labels: HashMap<String, String>,
        output: &mut (dyn FnMut(&str) + Send),
    ) -> Result<i64> {
        self.create_like(template, name, network, command, labels)
            .await?;
        let ran = self.stream_to_end(name, output).await;
        let _ = self.remove(name).await;
        ran
    }

    /// Creates (without starting) a container `name` that runs `command`, made like the
    /// container `template` (its image, entrypoint, environment, user, working directory and
    /// mounts, which hold its secret files), on `network` only and under none of the template's
    /// names there, so it takes none of its traffic.
    pub async fn create_like(
        &self,
        template: &str,
        name: &str,
        network: &str,
        command: &[String],
        labels: HashMap<String, String>,
    ) -> Result<()> {
        let inspected = self
            .docker
            .inspect_container(template, None)
            .await
            .map_err(engine)?;
        let config = inspected.config.unwrap_or_default();
        let binds = inspected.host_config.and_then(|h| h.binds);
        let body = ContainerCreateBody {
            image: config.image,
            entrypoint: config.entrypoint,
            cmd: Some(command.to_vec()),
            env: config.env,
            user: config.user,
            working_dir: config.working_dir,
            labels: Some(labels),
            tty: Some(false),
            host_config: Some(HostConfig {
                binds,
                network_mode: Some(network.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(name).build()),
                body,
            )
            .await
            .map_err(engine)?;
        Ok(())
    }

    /// Starts the created container `name`.
    pub async fn start(&self, name: &str) -> Result<()> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(engine)
    }

    /// Waits until the container `name` stops (at once when it has) and returns its exit code.
    pub async fn wait_exit(&self, name: &str) -> Result<i64> {
        self.exit_code_of(name).await
    }

    /// Running and stopped containers that carry every one of `labels` (`key=value`).
    pub async fn containers_labelled(
        &self,
        labels: &[String],
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), labels.to_vec());
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(engine)
    }

    /// Starts the created container `name`, passes on its output until it stops, and returns
    /// its exit code.
    async fn stream_to_end(
        &self,
        name: &str,
        output: &mut (dyn FnMut(&str) + Send),
    ) -> Result<i64> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(engine)?;
        let mut logs = self.docker.logs(
            name,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .follow(true)
                    .build(),
            ),
        );
        while let Some(item) = logs.next().await {
            output(&item.map_err(engine)?.to_string());
        }
        self.exit_code_of(name).await
    }

    /// Removes the container `name`, running or not, and wipes its secret files; a missing
    /// container is fine.
    pub async fn remove(&self, name: &str) -> Result<()> {
        self.wipe_secret_files(name).await;
        absent_is_fine(
            self.docker
                .remove_container(
                    name,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await,
        )
    }

    /// Waits until the container is healthy, or only running when `health_checked` is false
    /// (its image may carry a HEALTHCHECK slipway does not wait on).
    pub async fn wait_healthy(
        &self,
        name: &str,
        timeout: Duration,
        health_checked: bool,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            let inspect = self
                .docker
                .inspect_container(name, None)
                .await
                .map_err(engine)?;
            let state = inspect.state.unwrap_or_default();
            if state.running != Some(true) {
                return Err(DockerError::Engine(format!(
                    "{name} stopped (exit code {})",
                    state.exit_code.unwrap_or(0)
                )));
            }
            if !health_checked {
                return Ok(());
            }
            match state.health.and_then(|h| h.status).map(|s| s.to_string()) {
                None => return Ok(()),
                Some(status) if status == "healthy" => return Ok(()),
                Some(status) if status == "unhealthy" => {
                    return Err(DockerError::Engine(format!("{name} is unhealthy")));
                }
                Some(_) => {}
            }
            if started.elapsed() > timeout {
                return Err(DockerError::Engine(format!(
                    "{name} was not healthy within {}s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Follows the logs of several containers until they stop (or the process is interrupted),
    /// each line given to `line` with its container's label; the last `tail` lines first (of
    /// those written since `since`, Unix seconds, when given).
    pub async fn follow_logs(
        &self,
        containers: &[(String, String)],
        tail: usize,
        since: Option<u64>,
        line: &mut (dyn FnMut(&str, &str) + Send),
    ) -> Result<()> {
        let streams = containers.iter().map(|(container, label)| {
            let label = label.clone();
            self.docker
                .logs(
                    container,
                    Some(
                        LogsOptionsBuilder::default()
                            .stdout(true)
                            .stderr(true)
                            .follow(true)
                            .tail(&tail.to_string())
                            .since(since_seconds(since))
                            .build(),
                    ),
                )
                .map(move |item| (label.clone(), item))
                .boxed()
        });
        let mut merged = futures_util::stream::select_all(streams);
        while let Some((label, item)) = merged.next().await {
            let text = item.map_err(engine)?.to_string();
            for text_line in text.lines() {
                line(&label, text_line);
            }
        }
        Ok(())
    }

    /// What the container `name` wrote to its standard output since `since` (Unix seconds;
    /// from the start when `None`), each line with the engine's RFC 3339 timestamp before it
    /// (`2026-12-05T08:00:00.123456789Z line`); with `follow`, until the container stops.
    pub async fn stdout_lines(
        &self,
        name: &str,
        since: Option<i64>,
        follow: bool,
        line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<()> {
        let mut options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(false)
            .timestamps(true)
            .follow(follow)
            .tail("all");
        if let Some(since) = since {
            options = options.since(i32::try_from(since).unwrap_or(i32::MAX));
        }
        let mut logs = self.docker.logs(name, Some(options.build()));
        // A line may come in several chunks: only whole lines are handed on.
        let mut partial = String::new();
        while let Some(item) = logs.next().await {
            partial.push_str(&item.map_err(engine)?.to_string());
            while let Some(end) = partial.find('\n') {
                line(partial[..end].trim_end_matches('\r'));
                partial.drain(..=end);
            }
        }
        if !partial.is_empty() {
            line(&partial);
        }
        Ok(())
    }

    /// The last `lines` lines the container `name` printed, standard output and error together.
    pub async fn last_logs(&self, name: &str, lines: usize) -> String {
        self.logs_since(name, lines, None).await
    }

    /// [`Engine::last_logs`] of those written since `since` (Unix seconds), when given.
    pub async fn logs_since(&self, name: &str, lines: usize, since: Option<u64>) -> String {
        let mut out = String::new();
        let mut logs = self.docker.logs(
            name,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .tail(&lines.to_string())
                    .since(since_seconds(since))
                    .build(),
            ),
        );
        while let Some(Ok(item)) = logs.next().await {
            out.push_str(&item.to_string());
        }
        out
    }

    /// Containers of a project's environment (all environments when `environment` is None).
    pub async fn containers_of(
        &self,
        project: &str,
        environment: Option<&str>,
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let mut labels = vec![format!("{LABEL_PROJECT}={project}")];
        if let Some(environment) = environment {
            labels.push(format!("{LABEL_ENVIRONMENT}={environment}"));
        }
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), labels);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(engine)
    }

    /// Removes the network `name`; a missing network is fine.
    pub async fn remove_network(&self, name: &str) -> Result<()> {
        absent_is_fine(self.docker.remove_network(name).await)
    }

    /// Removes the volume `name`; a missing volume is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        absent_is_fine(
            self.docker
                .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await,
        )
    }

    /// Runs a command in a running container; returns its exit code and output.
    pub async fn exec(&self, container: &str, command: &[String]) -> Result<crate::Finished> {
        let exec = self
            .docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    cmd: Some(command.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(engine)?;
        let mut output = String::new();
        if let bollard::exec::StartExecResults::Attached {
            output: mut stream, ..
        } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(engine)?
        {
            while let Some(Ok(item)) = stream.next().await {
                output.push_str(&item.to_string());
            }
        }
        let inspect = self.docker.inspect_exec(&exec.id).await.map_err(engine)?;
        Ok(crate::Finished {
            exit_code: inspect.exit_code.unwrap_or(-1),
            output,
        })
    }
}

/// Removing what is already gone is not an error.
fn absent_is_fine(result: std::result::Result<(), bollard::errors::Error>) -> Result<()> {
    match result {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(error) => Err(engine(error)),
    }
}

/// `<project>-<env>-<name>`
pub fn container_name(manifest: &Manifest, environment: &str, name: &str) -> String {
    format!("{}-{environment}-{name}", manifest.project.name)
}

/// The health check of an app's containers: its own `health.cmd`; for a worker (no port, no
/// `health`) none at all, since the check its base carries was written for a web process and
/// would never pass; otherwise the image's.
pub fn app_health(app: &slipway_core::manifest::App) -> Option<(Vec<String>, i64, i64, i64, i64)> {
    match &app.health {
        Some(health) => health_of(health),
        None if app.port.is_none() => Some((vec!["NONE".to_owned()], 0, 0, 0, 0)),
        None => None,
    }
}

/// slipway.toml's health check as the engine takes it: the test, then interval, timeout, retries
/// and start period (nanoseconds); `None` when it runs no command.
pub fn health_of(health: &Health) -> Option<(Vec<String>, i64, i64, i64, i64)> {
    let test = match health.cmd.as_ref()? {
        CommandLine::Shell(script) => vec!["CMD-SHELL".to_owned(), script.clone()],
        CommandLine::Exec(args) => std::iter::once("CMD".to_owned())
            .chain(args.iter().cloned())
            .collect(),
    };
    let nanos = |d: Option<slipway_core::manifest::Duration>, default: u64| {
        d.map_or(default, |d| d.0.as_nanos() as u64) as i64
    };
    Some((
        test,
        nanos(health.interval, 5_000_000_000),
        nanos(health.timeout, 3_000_000_000),
        i64::from(health.retries.unwrap_or(3)),
        nanos(health.start_period, 0),
    ))
}

/// How long `up` waits for a health check to pass: its start period and every retry, with room.
pub fn health_timeout(health: Option<&(Vec<String>, i64, i64, i64, i64)>) -> Duration {
    match health {
        Some((_, interval, timeout, retries, start)) => {
            Duration::from_nanos((start + (interval + timeout) * (retries + 1)) as u64)
                + Duration::from_secs(10)
        }
        None => Duration::from_secs(10),
    }
}

/// Named volumes get the environment's prefix; `./dir` is taken from the project root.
pub fn volume_bind(manifest: &Manifest, environment: &str, root: &Path, volume: &str) -> String {
    let (source, rest) = volume.split_once(':').unwrap_or((volume, ""));
    // A named volume is a bare name; anything with a path in it is a bind mount.
    let source = if source.starts_with('.') || source.contains('/') {
        let path: PathBuf = if source.starts_with('/') {
            PathBuf::from(source)
        } else {
            root.join(source)
        };
        path.display().to_string()
    } else {
        format!("{}-{environment}-{source}", manifest.project.name)
    };
    format!("{source}:{rest}")
}

/// The names a container answers to on the environment's networks: its own, then its aliases.
fn names_of(name: &str, aliases: &[String]) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    for alias in aliases {
        if !names.contains(alias) {
            names.push(alias.clone());
        }
    }
    names
}

/// The tag `up` gives a Dockerfile app's image built for an environment with mounted code.
pub fn dev_image_tag(manifest: &Manifest, environment: &str, app: &str) -> String {
    format!("{}/{app}:{environment}", manifest.project.name)
}

/// Builds a `build = "dockerfile"` app's target through the engine for a mounted environment,
/// on the project's pinned base when the app names one.
async fn build_dev_image(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    name: &str,
    options: &UpOptions,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<String> {
    // The environment's own Dockerfile, target, arguments and base when it has them.
    let (dockerfile, target, args) = manifest
        .app_build_for(name, Some(environment))
        .expect("a dockerfile app has a Dockerfile");
    let mut build_args: HashMap<String, String> = args.into_iter().collect();
    if let Some(base) = manifest.app_base_for(name, Some(environment)) {
        let (registry, reference) =
            slipway_oci::app::base_reference(manifest, base, &options.pinned_bases)
                .map_err(DockerError::Image)?;
        let credential = registry.client.credential();
        engine.pull(&reference, credential.as_ref()).await?;
        build_args.insert("SLIPWAY_BASE".into(), reference);
    }
    let tag = dev_image_tag(manifest, environment, name);
    let context = options.root.join(manifest.app_dir(name));
    let dockerfile = options.root.join(dockerfile);
    log(&format!("app {name}: building {}", dockerfile.display()));
    engine
        .build_target(
            &context,
            &dockerfile,
            target.as_deref(),
            std::slice::from_ref(&tag),
            &build_args,
            &mut |_| {},
        )
        .await?;
    Ok(tag)
}

/// What `up` needs beyond the manifest.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The project's directory.
    pub root: PathBuf,
    /// The project's OCI image layout, where assembled apps are.
    pub store_dir: PathBuf,
    /// The project's state dir (it holds the key of the secret files' digests).
    pub state_dir: PathBuf,
    /// The digest each base is pinned to in `slipway.lock`.
    pub pinned_bases: std::collections::BTreeMap<String, slipway_oci::Digest>,
    /// Leave what started when `up` fails.
    pub keep: bool,
}

/// An app or service `up` handled, for its report.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// The app's or service's name in slipway.toml.
    pub name: String,
    /// Its container's name.
    pub container: String,
    /// What `up` did to the container.
    pub change: Change,
    /// `http://127.0.0.1:PORT` for published apps.
    pub url: Option<String>,
}

/// The `NAME=value` lines of the rendered env file `<file>.env`, comments and blank lines left out;
/// none when there is no such file.
pub fn env_lines(rendered: &slipway_config::RenderedEnvironment, file: &str) -> Vec<String> {
    rendered
        .files
        .iter()
        .find(|f| f.name == format!("{file}.env"))
        .map(|f| {
            f.text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The labels of everything `up` makes: project, environment and name.
pub fn labels_of(manifest: &Manifest, environment: &str, name: &str) -> Vec<(String, String)> {
    vec![
        (LABEL_PROJECT.to_owned(), manifest.project.name.clone()),
        (LABEL_ENVIRONMENT.to_owned(), environment.to_owned()),
        (LABEL_NAME.to_owned(), name.to_owned()),
    ]
}

/// `<project>-<env>-public`: the network of what publishes ports.
pub fn public_network(manifest: &Manifest, environment: &str) -> String {
    format!("{}-{environment}-public", manifest.project.name)
}

/// `<project>-<env>-internal`: the network an environment's services and apps share.
pub fn internal_network(manifest: &Manifest, environment: &str) -> String {
    format!("{}-{environment}-internal", manifest.project.name)
}

/// Starts an environment's services on its internal network, each waited on by its health
/// check. Running it again changes nothing.
pub async fn start_services(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    rendered: &slipway_config::RenderedEnvironment,
    root: &Path,
    secret_key: &[u8],
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<Started>> {
    let project = &manifest.project.name;
    let labels = |name: &str| labels_of(manifest, environment, name);
    let network_labels: HashMap<String, String> = labels("network").into_iter().collect();
    let internal = internal_network(manifest, environment);
    engine
        .ensure_network(&internal, true, &network_labels)
        .await?;
    let mut started = Vec::new();
    // Services first, each waited on by its health check.
    for (name, service) in manifest
        .services
        .iter()
        .filter(|(name, _)| manifest.service_runs_in(name, environment))
    {
        let image = match (&service.image, &service.build) {
            (Some(image), _) => {
                if !engine.has_image(image).await {
                    engine.pull(image, None).await?;
                }
                image.clone()
            }
            (None, Some(dir)) => {
                let tag = format!("{project}/{name}:{environment}");
                let context = root.join(dir);
                log(&format!("building service {name} from {dir}"));
                engine
                    .build(
                        &context,
                        &context.join("Dockerfile"),
                        std::slice::from_ref(&tag),
                        &HashMap::new(),
                        &mut |_| {},
                    )
                    .await?;
                tag
            }
            (None, None) => {
                return Err(DockerError::Engine(format!(
                    "service `{name}` has neither image nor build"
                )));
            }
        };
        let mut env_vars = env_lines(rendered, service.config.as_deref().unwrap_or(name));
        env_vars.extend(service.env.iter().map(|(k, v)| format!("{k}={v}")));
        if !service.ports.is_empty() {
            engine
                .ensure_network(
                    &public_network(manifest, environment),
                    false,
                    &network_labels,
                )
                .await?;
        }
        let ports: Vec<(String, u16, u16)> = service
            .ports
            .iter()
            .filter_map(|p| slipway_core::manifest::parse_port_mapping(p))
            .map(|(ip, host, container)| {
                (ip.unwrap_or_else(|| "127.0.0.1".into()), host, container)
            })
            .collect();
        let health = service.health.as_ref().and_then(health_of);
        let spec = ContainerSpec {
            name: container_name(manifest, environment, name),
            image_id: engine.image_id(&image).await.unwrap_or_default(),
            image,
            cmd: service.command.as_ref().map(CommandLine::argv),
            entrypoint: None,
            user: None,
            workdir: None,
            env: env_vars,
            // A published port needs a network that is not internal.
            networks: if ports.is_empty() {
                vec![(internal.clone(), names_of(name, &service.aliases))]
            } else {
                vec![
                    (internal.clone(), names_of(name, &service.aliases)),
                    (
                        public_network(manifest, environment),
                        names_of(name, &service.aliases),
                    ),
                ]
            },
            ports,
            binds: service
                .volumes
                .iter()
                .map(|v| volume_bind(manifest, environment, root, v))
                .collect(),
            health: health.clone(),
            labels: labels(name),
            restart: None,
            secret_files: SecretFiles::of(
                &service.secret_files,
                rendered,
                secret_key,
                &format!("service `{name}`"),
            )?,
            stop_signal: None,
            stop_timeout: None,
        };
        let change = engine.ensure_container(&spec).await?;
        log(&format!(
            "service {name}: {change:?}, waiting for it to be healthy"
        ));
        wait_or_explain(engine, &spec, &format!("service `{name}`")).await?;
        started.push(Started {
            name: name.clone(),
            container: spec.name,
            change,
            url: None,
        });
    }

    Ok(started)
}

/// Starts an environment: networks, then services (waited on), then apps, then hooks.
pub async fn up(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    rendered: &slipway_config::RenderedEnvironment,
    options: &UpOptions,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<Started>> {
    let result = up_inner(engine, manifest, environment, rendered, options, log).await;
    if result.is_err() && !options.keep {
        let _ = down(engine, manifest, environment, false).await;
    }
    result
}

async fn up_inner(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    rendered: &slipway_config::RenderedEnvironment,
    options: &UpOptions,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<Started>> {
    let env = manifest.environment(environment)?.environment;
    let labels = |name: &str| labels_of(manifest, environment, name);
    let network_labels: HashMap<String, String> = labels("network").into_iter().collect();
    let internal = internal_network(manifest, environment);
    let public = public_network(manifest, environment);
    engine
        .ensure_network(&public, false, &network_labels)
        .await?;
    let secret_key = crate::secrets::digest_key(&options.state_dir)?;
    let mut started = start_services(
        engine,
        manifest,
        environment,
        rendered,
        &options.root,
        &secret_key,
        log,
    )
    .await?;

    log("services healthy");

    // Apps: on the base with the directory mounted, or the built image.
    let apps: Vec<&String> = match &env.apps {
        Some(listed) => listed.iter().collect(),
        None => manifest.apps.keys().collect(),
    };
    for name in apps {
        let app = &manifest.apps[name];
        let dest = app.dest.clone().unwrap_or_else(|| "/app".into());
        let dockerfile_app = app.build == slipway_core::manifest::BuildKind::Dockerfile;
        let (image, binds, config_cmd) = if env.mount && dockerfile_app {
            // As compose does: the Dockerfile's target built through the engine, with the code
            // mounted over where the image keeps it (when the manifest says where).
            let image = build_dev_image(engine, manifest, environment, name, options, log).await?;
            let binds = match &app.dest {
                Some(dest) => vec![format!(
                    "{}:{dest}",
                    options.root.join(manifest.app_dir(name)).display()
                )],
                None => Vec::new(),
            };
            (image, binds, true)
        } else if env.mount {
            let base = app.base.as_deref().ok_or_else(|| {
                DockerError::Engine(format!(
                    "app `{name}` has no base to run on with its directory mounted"
                ))
            })?;
            let (registry, reference) =
                slipway_oci::app::base_reference(manifest, base, &options.pinned_bases)
                    .map_err(DockerError::Image)?;
            let credential = registry.client.credential();
            engine.pull(&reference, credential.as_ref()).await?;
            let source = options.root.join(manifest.app_dir(name));
            (
                reference,
                vec![format!("{}:{dest}", source.display())],
                true,
            )
        } else {
            let local = slipway_oci::app::local_name(manifest, name);
            let wanted = slipway_oci::app::config_digest(manifest, name, &options.store_dir)
                .map_err(|source| DockerError::AppImage {
                    app: name.clone(),
                    source,
                })?;
            // The engine's image ID is the config digest: an image already loaded is not loaded again.
            if engine.image_id(&local).await.as_deref() != Some(wanted.as_str()) {
                log(&format!("app {name}: loading its image into the engine"));
                let archive = options.state_dir.join(format!("{name}.up.tar"));
                std::fs::create_dir_all(&options.state_dir).map_err(|source| DockerError::Io {
                    path: options.state_dir.clone(),
                    source,
                })?;
                slipway_oci::app::docker_archive(manifest, name, &options.store_dir, &archive)
                    .await
                    .map_err(|source| DockerError::AppImage {
                        app: name.clone(),
                        source,
                    })?;
                let loaded = engine.load(&archive).await;
                let _ = std::fs::remove_file(&archive);
                loaded?;
            }
            // A Dockerfile app's image has its own command; the manifest's overrides it, as a
            // compose `command:` does.
            (local, Vec::new(), dockerfile_app)
        };
        let mut env_vars = env_lines(rendered, app.config.as_deref().unwrap_or(name));
        env_vars.extend(app.env.iter().map(|(k, v)| format!("{k}={v}")));
        let publish = env
            .publish
            .get(name)
            .and_then(|p| slipway_core::manifest::parse_publish(p));
        let ports: Vec<(String, u16, u16)> = match (publish, app.port) {
            (Some((ip, host)), Some(port)) => {
                vec![(ip.unwrap_or_else(|| "127.0.0.1".into()), host, port)]
            }
            _ => Vec::new(),
        };
        let url = ports
            .first()
            .map(|(ip, host, _)| format!("http://{ip}:{host}"));
        let (stop_signal, stop_timeout) = stop_settings(app);
        let spec = ContainerSpec {
            name: container_name(manifest, environment, name),
            image_id: engine.image_id(&image).await.unwrap_or_default(),
            image,
            // On a bare base the image knows nothing of the app: its config comes from here.
            cmd: if config_cmd {
                app.cmd.as_ref().map(CommandLine::argv)
            } else {
                None
            },
            entrypoint: if config_cmd {
                app.entrypoint.as_ref().map(CommandLine::argv)
            } else {
                None
            },
            user: if config_cmd { app.user.clone() } else { None },
            workdir: match (config_cmd, dockerfile_app) {
                (true, true) => app.workdir.clone(),
                (true, false) => Some(app.workdir.clone().unwrap_or(dest)),
                (false, _) => None,
            },
            env: env_vars,
            networks: vec![
                (internal.clone(), names_of(name, &app.aliases)),
                (public.clone(), names_of(name, &app.aliases)),
            ],
            ports,
            binds,
            health: app_health(app),
            labels: labels(name),
            restart: None,
            secret_files: SecretFiles::of(
                &app.secret_files,
                rendered,
                &secret_key,
                &format!("app `{name}`"),
            )?,
            stop_signal,
            stop_timeout,
        };
        let change = engine.ensure_container(&spec).await?;
        log(&format!("app {name}: {change:?}"));
        wait_or_explain(engine, &spec, &format!("app `{name}`")).await?;
        if let (Some(url), Some(path)) = (&url, app.health.as_ref().and_then(|h| h.path.as_ref())) {
            wait_http(&format!("{url}{path}"), Duration::from_secs(30))
                .await
                .map_err(|e| DockerError::Engine(format!("app `{name}`: {e}")))?;
        }
        log(&format!("app {name}: healthy"));
        started.push(Started {
            name: name.clone(),
            container: spec.name,
            change,
            url,
        });
    }

    for hook in &env.hooks.after_up {
        let container = container_name(manifest, environment, &hook.app);
        log(&format!(
            "hook in {}: {}",
            hook.app,
            hook.run.argv().join(" ")
        ));
        let finished = engine.exec(&container, &hook.run.argv()).await?;
        if finished.exit_code != 0 {
            return Err(DockerError::Engine(format!(
                "hook `{}` in {} exited with {}:\n{}",
                hook.run.argv().join(" "),
                hook.app,
                finished.exit_code,
                finished.output
            )));
        }
    }
    Ok(started)
}

/// Waits for a container as its spec's health check says; a failure carries its last log lines.
async fn wait_or_explain(engine: &Engine, spec: &ContainerSpec, what: &str) -> Result<()> {
    let health = spec.health.as_ref();
    if let Err(error) = engine
        .wait_healthy(&spec.name, health_timeout(health), health.is_some())
        .await
    {
        let logs = engine.last_logs(&spec.name, 20).await;
        return Err(DockerError::Engine(format!(
            "{what}: {error}; its last log lines:\n{logs}"
        )));
    }
    Ok(())
}

/// Polls an HTTP URL on the host until it answers 2xx or 3xx.
async fn wait_http(url: &str, timeout: Duration) -> std::result::Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").ok_or("only http URLs")?;
    let (address, path) = rest
        .split_once('/')
        .map(|(a, p)| (a.to_owned(), format!("/{p}")))
        .unwrap_or((rest.to_owned(), "/".into()));
    let started = Instant::now();
    let mut last = String::from("no answer");
    while started.elapsed() < timeout {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await {
            let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
            if stream.write_all(request.as_bytes()).await.is_ok() {
                let mut buffer = vec![0u8; 64];
                if let Ok(n) = stream.read(&mut buffer).await {
                    let head = String::from_utf8_lossy(&buffer[..n]).to_string();
                    let status = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    if status.starts_with('2') || status.starts_with('3') {
                        return Ok(());
                    }
                    last = format!("{url} answered {status}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(format!(
        "{last} (health check did not pass within {}s)",
        timeout.as_secs()
    ))
}

/// Removes an environment's containers and networks; named volumes only with `volumes`.
pub async fn down(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    volumes: bool,
) -> Result<Vec<String>> {
    let project = &manifest.project.name;
    let mut removed = Vec::new();
    for container in engine.containers_of(project, Some(environment)).await? {
        if let Some(name) = container.names.as_ref().and_then(|n| n.first()) {
            let name = name.trim_start_matches('/').to_owned();
            engine.remove(&name).await?;
            removed.push(name);
        }
    }
    for network in ["internal", "public"] {
        engine
            .remove_network(&format!("{project}-{environment}-{network}"))
            .await?;
    }
    if volumes {
        for service in manifest.services.values() {
            for volume in &service.volumes {
                let source = volume.split(':').next().unwrap_or_default();
                if !source.starts_with('.') && !source.starts_with('/') {
                    engine
                        .remove_volume(&format!("{project}-{environment}-{source}"))
                        .await?;
                }
            }
        }
        // The scheduled jobs runner's records.
        engine
            .remove_volume(&format!("{project}-{environment}-jobs"))
            .await?;
    }
    Ok(removed)
}

/// A docker-compose file equivalent to `up ENV`, for people who want `docker compose`.
/// Strings are written as JSON strings, which YAML reads as they are.
pub fn compose_export(
    manifest: &Manifest,
    environment: &str,
    options: &UpOptions,
) -> Result<String> {
    // Compose interpolates every value: a `$` the container must see is written `$$`.
    let q = |s: &str| serde_json::to_string(&s.replace('$', "$$")).expect("a string serializes");
    let env = manifest.environment(environment)?.environment;
    let project = &manifest.project.name;
    let config_dir = options.state_dir.join("config").join(environment);
    let mut out = format!(
        "# Written by `slipway compose export {environment}`: the {environment} environment of {project}.\n# Env files come from `slipway config render {environment}` (they hold secrets).\nname: {}\nservices:\n",
        q(&format!("{project}-{environment}"))
    );
    let healthcheck = |out: &mut String, health: Option<(Vec<String>, i64, i64, i64, i64)>| {
        if let Some((test, interval, timeout, retries, start)) = health {
            let test: Vec<String> = test.iter().map(|t| q(t)).collect();
            out.push_str(&format!("    healthcheck:\n      test: [{}]\n      interval: {}ms\n      timeout: {}ms\n      retries: {retries}\n      start_period: {}ms\n", test.join(", "), interval / 1_000_000, timeout / 1_000_000, start / 1_000_000));
        }
    };
    let templates = options
        .root
        .join(manifest.environment_config_dir(environment));
    let env_file = |out: &mut String, name: &str| {
        // Only what has a template has an env file.
        if templates.join(format!("{name}.env.j2")).is_file() {
            let path = config_dir.join(format!("{name}.env"));
            out.push_str(&format!(
                "    env_file: [{}]\n",
                q(&path.display().to_string())
            ));
        }
    };
    let services: Vec<&String> = manifest
        .services
        .keys()
        .filter(|n| manifest.service_runs_in(n, environment))
        .collect();
    for name in &services {
        let service = &manifest.services[*name];
        out.push_str(&format!("  {name}:\n"));
        match (&service.image, &service.build) {
            (Some(image), _) => out.push_str(&format!("    image: {}\n", q(image))),
            (None, Some(dir)) => out.push_str(&format!(
                "    build: {}\n",
                q(&options.root.join(dir).display().to_string())
            )),
            _ => {}
        }
        out.push_str(&format!(
            "    container_name: {}\n",
            q(&container_name(manifest, environment, name))
        ));
        if let Some(command) = &service.command {
            let args: Vec<String> = command.argv().iter().map(|a| q(a)).collect();
            out.push_str(&format!("    command: [{}]\n", args.join(", ")));
        }
        env_file(&mut out, service.config.as_deref().unwrap_or(name));
        if !service.env.is_empty() {
            out.push_str("    environment:\n");
            for (k, v) in &service.env {
                out.push_str(&format!("      {k}: {}\n", q(v)));
            }
        }
        if !service.ports.is_empty() {
            out.push_str("    ports:\n");
            for port in &service.ports {
                let full = if port.matches(':').count() == 1 {
                    format!("127.0.0.1:{port}")
                } else {
                    port.clone()
                };
                out.push_str(&format!("      - {}\n", q(&full)));
            }
        }
        if !service.volumes.is_empty() {
            out.push_str("    volumes:\n");
            for volume in &service.volumes {
                out.push_str(&format!(
                    "      - {}\n",
                    q(&volume_bind(manifest, environment, &options.root, volume))
                ));
            }
        }
        healthcheck(&mut out, service.health.as_ref().and_then(health_of));
        compose_secrets(&mut out, &service.secret_files);
        let aliases: Vec<String> = names_of(name, &service.aliases)
            .iter()
            .map(|a| q(a))
            .collect();
        out.push_str(&format!(
            "    networks:\n      internal:\n        aliases: [{}]\n",
            aliases.join(", ")
        ));
    }
    let apps: Vec<&String> = match &env.apps {
        Some(listed) => listed.iter().collect(),
        None => manifest.apps.keys().collect(),
    };
    for name in apps {
        let app = &manifest.apps[name];
        let dest = app.dest.clone().unwrap_or_else(|| "/app".into());
        out.push_str(&format!("  {name}:\n"));
        let dockerfile_app = app.build == slipway_core::manifest::BuildKind::Dockerfile;
        let overrides = |out: &mut String, workdir: Option<&str>| {
            if let Some(entrypoint) = &app.entrypoint {
                let args: Vec<String> = entrypoint.argv().iter().map(|a| q(a)).collect();
                out.push_str(&format!("    entrypoint: [{}]\n", args.join(", ")));
            }
            if let Some(cmd) = &app.cmd {
                let args: Vec<String> = cmd.argv().iter().map(|a| q(a)).collect();
                out.push_str(&format!("    command: [{}]\n", args.join(", ")));
            }
            if let Some(user) = &app.user {
                out.push_str(&format!("    user: {}\n", q(user)));
            }
            if let Some(workdir) = workdir {
                out.push_str(&format!("    working_dir: {}\n", q(workdir)));
            }
        };
        if env.mount && dockerfile_app {
            // Built from its Dockerfile (this environment's, when it has its own) as compose
            // builds it, the code mounted where the image keeps it.
            let (dockerfile, target, build_args) = manifest
                .app_build_for(name, Some(environment))
                .unwrap_or_default();
            out.push_str(&format!(
                "    image: {}\n    build:\n      context: {}\n      dockerfile: {}\n",
                q(&dev_image_tag(manifest, environment, name)),
                q(&options
                    .root
                    .join(manifest.app_dir(name))
                    .display()
                    .to_string()),
                q(&options.root.join(dockerfile).display().to_string())
            ));
            if let Some(target) = &target {
                out.push_str(&format!("      target: {}\n", q(target)));
            }
            let mut args: Vec<(String, String)> = build_args.into_iter().collect();
            if let Some(base) = manifest.app_base_for(name, Some(environment)) {
                let (_, reference) =
                    slipway_oci::app::base_reference(manifest, base, &options.pinned_bases)
                        .map_err(DockerError::Image)?;
                args.push(("SLIPWAY_BASE".into(), reference));
            }
            if !args.is_empty() {
                out.push_str("      args:\n");
                for (k, v) in args {
                    out.push_str(&format!("        {k}: {}\n", q(&v)));
                }
            }
            if let Some(dest) = &app.dest {
                out.push_str(&format!(
                    "    volumes:\n      - {}\n",
                    q(&format!(
                        "{}:{dest}",
                        options.root.join(manifest.app_dir(name)).display()
                    ))
                ));
            }
            overrides(&mut out, app.workdir.as_deref());
        } else if env.mount {
            let base = app.base.as_deref().unwrap_or_default();
            let (_, reference) =
                slipway_oci::app::base_reference(manifest, base, &options.pinned_bases)
                    .map_err(DockerError::Image)?;
            out.push_str(&format!("    image: {}\n", q(&reference)));
            out.push_str(&format!(
                "    volumes:\n      - {}\n",
                q(&format!(
                    "{}:{dest}",
                    options.root.join(manifest.app_dir(name)).display()
                ))
            ));
            overrides(&mut out, Some(app.workdir.as_deref().unwrap_or(&dest)));
        } else {
            out.push_str(&format!(
                "    image: {}\n",
                q(&slipway_oci::app::local_name(manifest, name))
            ));
            if dockerfile_app {
                overrides(&mut out, app.workdir.as_deref());
            }
        }
        out.push_str(&format!(
            "    container_name: {}\n",
            q(&container_name(manifest, environment, name))
        ));
        env_file(&mut out, app.config.as_deref().unwrap_or(name));
        if let (Some((ip, host)), Some(port)) = (
            env.publish
                .get(name)
                .and_then(|p| slipway_core::manifest::parse_publish(p)),
            app.port,
        ) {
            out.push_str(&format!(
                "    ports:\n      - {}\n",
                q(&format!(
                    "{}:{host}:{port}",
                    ip.unwrap_or_else(|| "127.0.0.1".into())
                ))
            ));
        }
        healthcheck(&mut out, app.health.as_ref().and_then(health_of));
        compose_secrets(&mut out, &app.secret_files);
        if !services.is_empty() {
            out.push_str("    depends_on:\n");
            for service in &services {
                let condition = if manifest.services[*service].health.is_some() {
                    "service_healthy"
                } else {
                    "service_started"
                };
                out.push_str(&format!(
                    "      {service}:\n        condition: {condition}\n"
                ));
            }
        }
        let aliases: Vec<String> = names_of(name, &app.aliases).iter().map(|a| q(a)).collect();
        out.push_str(&format!(
            "    networks:\n      internal:\n        aliases: [{}]\n      public:\n        aliases: [{}]\n",
            aliases.join(", "),
            aliases.join(", ")
        ));
    }
    out.push_str("networks:\n  internal:\n    internal: true\n  public: {}\n");
    let named: Vec<String> = services
        .iter()
        .flat_map(|s| manifest.services[*s].volumes.iter())
        .filter_map(|v| {
            v.split(':')
                .next()
                .filter(|s| !s.starts_with('.') && !s.contains('/'))
                .map(|s| format!("{project}-{environment}-{s}"))
        })
        .collect();
    if !named.is_empty() {
        out.push_str("volumes:\n");
        for volume in named {
            out.push_str(&format!("  {volume}:\n    name: {}\n", q(&volume)));
        }
    }
    let secrets = compose_secret_names(manifest, environment);
    if !secrets.is_empty() {
        // Files that `compose_secret_files` writes (0600, under the git-ignored state dir).
        out.push_str("secrets:\n");
        for secret in secrets {
            out.push_str(&format!(
                "  {}:\n    file: {}\n",
                q(&secret),
                q(
                    &compose_secret_path(&options.state_dir, environment, &secret)
                        .display()
                        .to_string()
                )
            ));
        }
    }
    Ok(out)
}

/// A service's `secrets:` in a compose file: each file of `secret_files` at /run/secrets/NAME.
fn compose_secrets(out: &mut String, files: &indexmap::IndexMap<String, String>) {
    if files.is_empty() {
        return;
    }
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    out.push_str("    secrets:\n");
    for (file, secret) in files {
        out.push_str(&format!(
            "      - source: {}\n        target: {}\n",
            q(secret),
            q(file)
        ));
    }
}

/// The secrets an environment's apps and services receive as files, sorted.
pub fn compose_secret_names(manifest: &Manifest, environment: &str) -> Vec<String> {
    manifest
        .secret_file_names(environment)
        .into_iter()
        .collect()
}

/// `<state dir>/secrets/<env>/<secret>`: where `compose export` puts a secret's file.
pub fn compose_secret_path(state_dir: &Path, environment: &str, secret: &str) -> PathBuf {
    state_dir.join("secrets").join(environment).join(secret)
}

/// Writes the files the exported compose file's `secrets:` point at: each secret's value in a
/// file of its own, mode 0600 (written atomically), under the state dir, which git ignores.
/// Returns the paths written.
pub fn compose_secret_files(
    manifest: &Manifest,
    environment: &str,
    rendered: &slipway_config::RenderedEnvironment,
    state_dir: &Path,
) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut written = Vec::new();
    for secret in compose_secret_names(manifest, environment) {
        let path = compose_secret_path(state_dir, environment, &secret);
        let io = |source| DockerError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().expect("a secret's path has a directory");
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        let value = rendered.secret_file(&secret).ok_or_else(|| {
            DockerError::Engine(format!(
                "secret `{secret}` has no value in environment `{environment}`"
            ))
        })?;
        slipway_core::files::write_atomic(&path, slipway_core::files::PRIVATE, value.as_bytes())
            .map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

/// Pulls what an environment runs from registries: its apps' bases (as pinned, or their fixed
/// tag) and its services' images. Returns the references pulled.
pub async fn pull(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    pinned: &std::collections::BTreeMap<String, slipway_oci::Digest>,
) -> Result<Vec<String>> {
    let mut pulled = Vec::new();
    let env = manifest.environment(environment)?.environment;
    let apps: Vec<&String> = match &env.apps {
        Some(listed) => listed.iter().collect(),
        None => manifest.apps.keys().collect(),
    };
    let mut bases: Vec<&str> = apps
        .iter()
        .filter_map(|a| manifest.apps[*a].base.as_deref())
        .collect();
    bases.sort();
    bases.dedup();
    for base in bases {
        let (registry, reference) =
            slipway_oci::app::base_reference(manifest, base, pinned).map_err(DockerError::Image)?;
        let credential = registry.client.credential();
        engine.pull(&reference, credential.as_ref()).await?;
        pulled.push(reference);
    }
    for (name, service) in manifest
        .services
        .iter()
        .filter(|(n, _)| manifest.service_runs_in(n, environment))
    {
        if let Some(image) = &service.image {
            engine
                .pull(image, None)
                .await
                .map_err(|e| DockerError::Engine(format!("service `{name}`: {e}")))?;
            pulled.push(image.clone());
        }
    }
    Ok(pulled)
}

/// The engine's `since` for logs: Unix seconds, 0 for all.
fn since_seconds(since: Option<u64>) -> i32 {
    since.map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_environment_is_an_error_naming_the_closest_one_never_a_panic() {
        let manifest =
            slipway_core::load_manifest(include_str!("../../../examples/shop/slipway.toml"))
                .unwrap();
        let options = UpOptions {
            root: PathBuf::from("/nonexistent"),
            store_dir: PathBuf::from("/nonexistent"),
            state_dir: PathBuf::from("/nonexistent"),
            pinned_bases: Default::default(),
            keep: false,
        };
        let error = compose_export(&manifest, "prdo", &options)
            .unwrap_err()
            .to_string();
        assert!(error.contains("prdo") && error.contains("prod"), "{error}");
        assert!(crate::checks::published_urls(&manifest, "prdo").is_empty());
    }
}
