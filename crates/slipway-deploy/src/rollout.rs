//! Moving an environment from one release to the next on its Docker hosts: the strategies,
//! the health gates, the automatic rollback and the recovery of an interrupted deploy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use slipway_core::Manifest;
use slipway_core::manifest::{Strategy, Target};
use slipway_docker::environment::{LABEL_ENVIRONMENT, LABEL_PROJECT, env_lines, internal_network};
use slipway_proxy::admin::{Command, HealthCheck};
use slipway_proxy::metrics::Snapshot;
use slipway_proxy::table::Group;

use crate::host::{
    ContainerPlan, Host, LABEL_CONFIG_DIGEST, LABEL_RELEASE, LABEL_STARTED_AT, LABEL_STARTED_BY,
    LABEL_STRATEGY, ProxyPlan, build_proxy_image, container_name, ensure_proxy, load_from_store,
    start_replica,
};
use crate::lock::DeployLock;
use crate::store::{NewRelease, Outcome, Release, ReleaseApp, Store};
use crate::{DeployError, Result};

/// What a deploy needs beyond the manifest.
pub struct Context<'a> {
    pub manifest: &'a Manifest,
    pub environment: &'a str,
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub store_dir: PathBuf,
    pub rendered: &'a slipway_config::RenderedEnvironment,
    /// `user@host`, recorded with each release.
    pub started_by: String,
    pub log: &'a (dyn Fn(&str) + Send + Sync),
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    /// Only these apps (the others keep their running release); empty means all.
    pub apps: Vec<String>,
    /// App → registry reference to deploy instead of the local build.
    pub images: BTreeMap<String, String>,
    pub strategy: Option<Strategy>,
    /// Finish the interrupted deploy instead of undoing it.
    pub resume: bool,
}

pub fn now() -> i64 {
    slipway_core::time::now() as i64
}

/// The deploy engine for one environment.
pub struct Rollout<'a> {
    ctx: Context<'a>,
    store: Store,
    hosts: Vec<Host>,
    plan: ProxyPlan,
    keep: u32,
    /// The config of the release being resumed, instead of the current one.
    config_override: Option<slipway_config::RenderedEnvironment>,
    /// Apps whose `before_deploy` hooks ran in this deploy.
    hooks_done: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for Rollout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollout")
            .field("environment", &self.ctx.environment)
            .finish_non_exhaustive()
    }
}

pub fn store_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("releases.db")
}

impl<'a> Rollout<'a> {
    /// Connects to every host of the environment.
    pub async fn new(ctx: Context<'a>) -> Result<Rollout<'a>> {
        let env = &ctx.manifest.environments[ctx.environment];
        let Target::Docker {
            hosts,
            proxy,
            keep_releases,
        } = &env.target
        else {
            return Err(DeployError::Plan(format!(
                "environment `{}` runs on Amazon ECS; deploys to ECS are not available yet",
                ctx.environment
            )));
        };
        let mut connected = Vec::new();
        if hosts.is_empty() {
            connected.push(Host::connect(None).await?);
        }
        for host in hosts {
            connected.push(Host::connect(Some(host)).await?);
        }
        let store = Store::open(&store_path(&ctx.state_dir))?;
        Ok(Rollout {
            plan: ProxyPlan::from_settings(proxy),
            keep: keep_releases.unwrap_or(3).max(1),
            ctx,
            store,
            hosts: connected,
            config_override: None,
            hooks_done: Default::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn proxy_plan(&self) -> &ProxyPlan {
        &self.plan
    }

    /// Where the apps answer through the first host's proxy.
    pub fn url(&self) -> String {
        self.hosts[0].url(&self.plan)
    }

    /// The proxy's image, assembled from this binary (unchanged layers are reused).
    async fn proxy_image(&self) -> Result<Manifest> {
        build_proxy_image(
            self.ctx.manifest,
            &self.plan,
            &self.ctx.state_dir,
            &self.ctx.store_dir,
        )
        .await
    }

    fn log(&self, line: &str) {
        (self.ctx.log)(line);
    }

    fn lock(&self, what: &str) -> Result<DeployLock> {
        DeployLock::acquire_for(
            &self.ctx.state_dir,
            self.ctx.environment,
            &self.ctx.started_by,
            what,
            now(),
        )
    }

    fn service(&self, app: &str) -> String {
        format!(
            "{}/{}/{app}",
            self.ctx.manifest.project.name, self.ctx.environment
        )
    }

    fn environment_apps(&self) -> Vec<String> {
        environment_apps(self.ctx.manifest, self.ctx.environment)
    }

    fn replicas(&self, app: &str) -> u32 {
        self.ctx.manifest.environments[self.ctx.environment]
            .replicas
            .get(app)
            .copied()
            .unwrap_or(1)
            .max(1)
    }

    /// Apps that take traffic through the proxy: those with a port.
    fn routed(&self, app: &str) -> bool {
        self.ctx.manifest.apps[app].port.is_some()
    }

    fn health_check(&self, app: &str) -> Option<HealthCheck> {
        let app = &self.ctx.manifest.apps[app];
        let health = app.health.as_ref()?;
        let path = health.path.clone()?;
        Some(HealthCheck {
            path,
            interval_ms: health
                .interval
                .map_or(1_000, |d| d.0.as_millis() as u64)
                .min(2_000),
            timeout_ms: health.timeout.map_or(2_000, |d| d.0.as_millis() as u64),
            healthy: self.plan.healthy_checks,
            deadline_ms: self.plan.gate_timeout.as_millis() as u64,
        })
    }

    fn config_digest(&self) -> String {
        config_digest(self.ctx.rendered)
    }

    /// Targets of `release`'s containers of `app` that exist on `host`, as the proxy names them.
    async fn targets(&self, host: &Host, release: &str, app: &str, replicas: u32) -> Vec<String> {
        self.running(host, release, app, replicas)
            .await
            .into_iter()
            .map(|(_, target)| target)
            .collect()
    }

    /// `(container, target)` of each of `release`'s containers of `app` running on `host`.
    async fn running(
        &self,
        host: &Host,
        release: &str,
        app: &str,
        replicas: u32,
    ) -> Vec<(String, String)> {
        let port = self.ctx.manifest.apps[app].port.unwrap_or(80);
        let mut running = Vec::new();
        for replica in 1..=replicas {
            let name = container_name(
                self.ctx.manifest,
                self.ctx.environment,
                app,
                release,
                replica,
            );
            if host.engine.is_running(&name).await {
                running.push((name.clone(), format!("{name}:{port}")));
            }
        }
        running
    }

    /// Checks what a deploy needs before anything on a host changes.
    fn check(&self, strategy: &Strategy, apps: &[String]) -> Result<()> {
        if let Strategy::Recreate { allow_downtime } = strategy
            && !allow_downtime
        {
            return Err(DeployError::Plan(
                "the recreate strategy stops the running release before the new one starts (downtime); set `allow_downtime = true` in the environment's strategy to accept that".into(),
            ));
        }
        for app in apps {
            if !self.ctx.manifest.apps.contains_key(app) {
                return Err(DeployError::Plan(format!("no app `{app}` in slipway.toml")));
            }
            if self.routed(app) && self.health_check(app).is_none() {
                return Err(DeployError::Plan(format!(
                    "app `{app}` has no health check path: the {} strategy needs one to know when a release may take traffic; add `health = {{ path = \"/health\" }}` to [apps.{app}]",
                    strategy_name(strategy)
                )));
            }
        }
        Ok(())
    }

    /// Deploys a new release: images onto the hosts, services, the proxy, then the strategy.
    pub async fn deploy(&mut self, request: &DeployRequest) -> Result<Release> {
        let lock = self.lock("deploy")?;
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        let strategy = request
            .strategy
            .clone()
            .unwrap_or_else(|| env.strategy.clone());
        if request.resume {
            return self.resume(lock, &strategy).await;
        }
        self.recover().await?;
        let all_apps = self.environment_apps();
        let deployed: Vec<String> = if request.apps.is_empty() {
            all_apps.clone()
        } else {
            request.apps.clone()
        };
        for app in request.images.keys() {
            if !deployed.contains(app) {
                return Err(DeployError::Plan(format!(
                    "--image names app `{app}`, which this deploy does not include"
                )));
            }
        }
        self.check(&strategy, &deployed)?;
        let previous = self.store.live(self.ctx.environment)?;

        // Images first: nothing on the hosts changes if one is missing.
        let mut apps = BTreeMap::new();
        for app in &all_apps {
            if !deployed.contains(app) {
                if let Some(entry) = previous.as_ref().and_then(|p| p.apps.get(app)) {
                    apps.insert(app.clone(), entry.clone());
                }
                continue;
            }
            let entry = self.prepare_image(app, request.images.get(app)).await?;
            apps.insert(app.clone(), entry);
        }
        let tool = self.proxy_image().await?;

        let release = self.store.begin(
            &NewRelease {
                environment: self.ctx.environment.to_owned(),
                apps: apps.clone(),
                config_digest: self.config_digest(),
                strategy: strategy_name(&strategy).into(),
                started_by: self.ctx.started_by.clone(),
            },
            now(),
        )?;
        let name = release.name();
        // Kept (0600, like every rendered env file) so a rollback starts it as it was.
        let kept = self.release_config_dir(&name);
        if let Err(error) = slipway_config::write(self.ctx.rendered, &self.ctx.root, &kept) {
            self.store
                .finish(release.id, Outcome::Failed, Some(&error.to_string()), now())?;
            return Err(DeployError::Plan(error.to_string()));
        }
        self.log(&format!(
            "release {name} of {} ({}): {}",
            self.ctx.environment,
            strategy_name(&strategy),
            deployed.join(", ")
        ));
        self.complete(lock, release, previous, deployed, strategy, tool)
            .await
    }

    /// Finishes a deploy that was interrupted, with the images and config it started with:
    /// what it started is kept (the same containers are found again), the rest is done.
    async fn resume(&mut self, lock: DeployLock, strategy: &Strategy) -> Result<Release> {
        let mut unfinished = self.store.unfinished(self.ctx.environment)?;
        if unfinished.is_empty() {
            return Err(DeployError::Plan(format!(
                "no interrupted deploy of `{}` to resume",
                self.ctx.environment
            )));
        }
        let release = unfinished.remove(0);
        let previous = self.store.live(self.ctx.environment)?;
        // Older interrupted deploys are undone as usual.
        for older in &unfinished {
            self.undo(older, previous.as_ref()).await?;
            self.store
                .finish(older.id, Outcome::Failed, Some("interrupted"), now())?;
        }
        let carried: Vec<String> = release
            .journal
            .iter()
            .filter_map(|s| s.strip_prefix("carried "))
            .filter_map(|s| s.split(' ').next().map(str::to_owned))
            .collect();
        let deployed: Vec<String> = release
            .apps
            .keys()
            .filter(|a| !carried.contains(a))
            .cloned()
            .collect();
        self.check(strategy, &deployed)?;
        self.config_override = Some(self.release_config(&release.name()));
        let tool = self.proxy_image().await?;
        self.log(&format!(
            "resuming release {} of {} ({}): {}",
            release.name(),
            self.ctx.environment,
            strategy_name(strategy),
            deployed.join(", ")
        ));
        self.store.journal(release.id, "resumed")?;
        self.complete(lock, release, previous, deployed, strategy.clone(), tool)
            .await
    }

    /// Runs the strategy; on success the release is live (and baked), on failure it is undone.
    async fn complete(
        &mut self,
        lock: DeployLock,
        release: Release,
        previous: Option<Release>,
        deployed: Vec<String>,
        strategy: Strategy,
        tool: Manifest,
    ) -> Result<Release> {
        let name = release.name();
        self.hooks_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let outcome = self
            .roll(&release, previous.as_ref(), &deployed, &strategy, &tool)
            .await;
        match outcome {
            Ok(()) => {
                self.store.make_live(release.id, now())?;
                self.log(&format!("release {name} is live"));
                // The bake waits without the lock, so `slipway rollback` can take it meanwhile.
                drop(lock);
                if let (Strategy::BlueGreen { bake: Some(bake) }, Some(previous)) =
                    (&strategy, &previous)
                {
                    self.bake(&release, previous, &deployed, bake.0).await?;
                }
                self.prune().await;
                let env = &self.ctx.manifest.environments[self.ctx.environment];
                for hook in env
                    .hooks
                    .after_deploy
                    .iter()
                    .filter(|h| release.apps.contains_key(&h.app))
                {
                    // The release stays live: the hook's failure is reported, not rolled back.
                    self.run_hook(&release, hook, "after_deploy").await?;
                }
                Ok(self.store.get(release.id)?.expect("the release exists"))
            }
            Err(failure) => {
                let had_traffic = self
                    .store
                    .get(release.id)?
                    .is_some_and(|r| r.journal.iter().any(|s| s.starts_with("traffic")));
                self.log(&format!(
                    "release {name} failed: restoring the live release"
                ));
                let undo = self.undo(&release, previous.as_ref()).await;
                let note = match &undo {
                    Ok(()) => failure.to_string(),
                    Err(error) => {
                        format!("{failure}; restoring the live release failed too: {error}")
                    }
                };
                self.store.finish(
                    release.id,
                    if had_traffic {
                        Outcome::RolledBack
                    } else {
                        Outcome::Failed
                    },
                    Some(&note),
                    now(),
                )?;
                Err(DeployError::RolledBack {
                    release: name,
                    reason: failure.to_string(),
                    restored: previous.map(|p| p.name()),
                })
            }
        }
    }

    /// Gets an app's image onto every host and tags it with the release-independent name.
    async fn prepare_image(&self, app: &str, reference: Option<&String>) -> Result<ReleaseApp> {
        let replicas = self.replicas(app);
        match reference {
            Some(reference) => {
                let registry_host = reference.split('/').next().unwrap_or_default();
                let credential = slipway_oci::credentials::from_docker_config(registry_host)
                    .map_err(|e| DeployError::Plan(e.to_string()))?;
                let mut image_id = String::new();
                for host in &self.hosts {
                    self.log(&format!("{}: pulling {reference}", host.name));
                    host.engine
                        .pull(reference, credential.as_ref())
                        .await
                        .map_err(|e| DeployError::Image {
                            app: app.to_owned(),
                            message: format!("cannot pull {reference} on {}: {e}", host.name),
                        })?;
                    image_id = host.engine.image_id(reference).await.unwrap_or_default();
                }
                Ok(ReleaseApp {
                    image: reference.clone(),
                    image_id,
                    digest: reference.split_once('@').map(|(_, d)| d.to_owned()),
                    replicas,
                    task_definition: None,
                    service: None,
                })
            }
            None => {
                let wanted =
                    slipway_oci::app::config_digest(self.ctx.manifest, app, &self.ctx.store_dir)
                        .map_err(|e| DeployError::Image {
                            app: app.to_owned(),
                            message: e.to_string(),
                        })?;
                let local = slipway_oci::app::local_name(self.ctx.manifest, app);
                let mut pushed: Option<slipway_oci::app::Pushed> = None;
                for host in &self.hosts {
                    if host.engine.image_id(&local).await.as_deref() == Some(wanted.as_str()) {
                        continue;
                    }
                    if host.is_local() {
                        self.log(&format!("{}: loading {local}", host.name));
                        load_from_store(
                            host,
                            self.ctx.manifest,
                            app,
                            &self.ctx.state_dir,
                            &self.ctx.store_dir,
                        )
                        .await?;
                        continue;
                    }
                    // A remote host pulls the image by digest from the environment's registry.
                    if pushed.is_none() {
                        pushed = Some(self.push(app).await?);
                    }
                    let reference = &pushed.as_ref().expect("pushed above").reference;
                    let registry_host = reference.split('/').next().unwrap_or_default();
                    let credential = slipway_oci::credentials::from_docker_config(registry_host)
                        .map_err(|e| DeployError::Plan(e.to_string()))?;
                    self.log(&format!("{}: pulling {reference}", host.name));
                    host.engine
                        .pull_as(reference, &local, credential.as_ref())
                        .await
                        .map_err(|e| DeployError::Image {
                            app: app.to_owned(),
                            message: format!("cannot pull {reference} on {}: {e}", host.name),
                        })?;
                }
                Ok(ReleaseApp {
                    image: local,
                    image_id: wanted.to_string(),
                    digest: pushed.map(|p| p.digest.to_string()),
                    replicas,
                    task_definition: None,
                    service: None,
                })
            }
        }
    }

    /// The key of the digests of secret values on the containers' labels.
    fn secret_key(&self) -> Result<Vec<u8>> {
        Ok(slipway_docker::secrets::digest_key(&self.ctx.state_dir)?)
    }

    fn release_config_dir(&self, release: &str) -> PathBuf {
        self.ctx
            .state_dir
            .join("releases")
            .join(self.ctx.environment)
            .join(release)
    }

    /// The config a release was deployed with, or the current one if it was not kept.
    fn release_config(&self, release: &str) -> slipway_config::RenderedEnvironment {
        let dir = self.release_config_dir(release);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            self.log(&format!(
                "the config of {release} was not kept: using the current one"
            ));
            return self.ctx.rendered.clone();
        };
        let mut files: Vec<(String, String)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(e.path()).ok()?;
                name.ends_with(".env").then_some((name, text))
            })
            .collect();
        files.sort();
        self.ctx.rendered.with_files(files)
    }

    /// Pushes an app's image to the environment's registry (blobs it has are skipped).
    async fn push(&self, app: &str) -> Result<slipway_oci::app::Pushed> {
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        let registry = slipway_oci::app::default_registry(self.ctx.manifest, env.registry.as_deref())
            .ok_or_else(|| {
                DeployError::Plan(format!(
                    "remote hosts pull images from a registry: set `registry` in [environments.{}] or [project]",
                    self.ctx.environment
                ))
            })?;
        self.log(&format!("pushing {app} to {registry}"));
        slipway_oci::app::push_app(
            self.ctx.manifest,
            app,
            &self.ctx.store_dir,
            &registry,
            &[],
            &|_, _| {},
        )
        .await
        .map_err(|e| DeployError::Image {
            app: app.to_owned(),
            message: format!("pushing to `{registry}`: {e}"),
        })
    }

    fn release_tag(&self, app: &str, release: &str) -> String {
        format!("{}/{app}:{release}", self.ctx.manifest.project.name)
    }

    /// Starts replicas `from..=to` of an app's release on a host.
    async fn start(
        &self,
        host: &Host,
        release: &Release,
        app: &str,
        replicas: std::ops::RangeInclusive<u32>,
    ) -> Result<Vec<String>> {
        let config = self.config_override.as_ref().unwrap_or(self.ctx.rendered);
        self.start_with(host, release, app, replicas, config).await
    }

    async fn start_with(
        &self,
        host: &Host,
        release: &Release,
        app: &str,
        replicas: std::ops::RangeInclusive<u32>,
        config: &slipway_config::RenderedEnvironment,
    ) -> Result<Vec<String>> {
        let entry = &release.apps[app];
        let name = release.name();
        let tag = self.release_tag(app, &name);
        // The release's own tag keeps its image on the host for rollbacks.
        host.engine.tag(&entry.image_id, &tag).await?;
        let rendered = config;
        let config = self.ctx.manifest.apps[app].config.as_deref().unwrap_or(app);
        let mut env = env_lines(rendered, config);
        env.extend(
            self.ctx.manifest.apps[app]
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        let secret_files = slipway_docker::secrets::SecretFiles::of(
            &self.ctx.manifest.apps[app].secret_files,
            rendered,
            &self.secret_key()?,
            &format!("app `{app}`"),
        )?;
        let plan = ContainerPlan {
            secret_files,
            manifest: self.ctx.manifest,
            environment: self.ctx.environment,
            app,
            release: &name,
            image: &tag,
            image_id: &entry.image_id,
            env,
            internal_network: internal_network(self.ctx.manifest, self.ctx.environment),
            labels: vec![
                (LABEL_CONFIG_DIGEST.into(), release.config_digest.clone()),
                (LABEL_STARTED_BY.into(), release.started_by.clone()),
                (LABEL_STARTED_AT.into(), release.started_at.to_string()),
                (LABEL_STRATEGY.into(), release.strategy.clone()),
            ],
        };
        let mut started = Vec::new();
        for replica in replicas {
            let container = start_replica(host, &plan, replica).await?;
            self.store
                .journal(release.id, &format!("started {}:{container}", host.name))?;
            started.push(container);
        }
        Ok(started)
    }

    /// Waits for new containers: the proxy's health gate for routed apps, the engine's health
    /// check (or just running) for the others. A failure carries the container's last log lines.
    async fn gate(&self, host: &Host, app: &str, containers: &[String]) -> Result<()> {
        let port = self.ctx.manifest.apps[app].port;
        match (port, self.health_check(app)) {
            (Some(port), Some(check)) => {
                let targets: Vec<String> =
                    containers.iter().map(|c| format!("{c}:{port}")).collect();
                let started = std::time::Instant::now();
                let answer = host
                    .proxy(&Command::Gate {
                        targets,
                        check: check.clone(),
                    })
                    .await?;
                if !answer.ok {
                    let mut logs = String::new();
                    for container in containers {
                        logs.push_str(&format!(
                            "--- {container}, last log lines:\n{}",
                            host.engine.last_logs(container, 15).await
                        ));
                    }
                    return Err(DeployError::Gate {
                        app: app.to_owned(),
                        message: format!(
                            "{}\n{}",
                            answer.error.unwrap_or_default(),
                            self.ctx.rendered.mask(&logs)
                        ),
                    });
                }
                self.log(&format!(
                    "{}: {app} passed its health gate ({} x {}) in {:.1}s",
                    host.name,
                    check.healthy,
                    check.path,
                    started.elapsed().as_secs_f64()
                ));
                Ok(())
            }
            _ => {
                for container in containers {
                    host.engine
                        .wait_healthy(container, self.plan.gate_timeout, true)
                        .await
                        .map_err(|e| DeployError::Gate {
                            app: app.to_owned(),
                            message: e.to_string(),
                        })?;
                }
                Ok(())
            }
        }
    }

    /// Runs an app's `before_deploy` hooks (migrations, say) once per deploy, in the first new
    /// container of the app on the first host: after it passed its gate, before it has traffic.
    async fn before_deploy(&self, release: &Release, app: &str) -> Result<()> {
        if !self
            .hooks_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(app.to_owned())
        {
            return Ok(());
        }
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        for hook in env.hooks.before_deploy.iter().filter(|h| h.app == app) {
            self.run_hook(release, hook, "before_deploy").await?;
        }
        Ok(())
    }

    async fn run_hook(
        &self,
        release: &Release,
        hook: &slipway_core::manifest::Hook,
        when: &str,
    ) -> Result<()> {
        let host = &self.hosts[0];
        let container = container_name(
            self.ctx.manifest,
            self.ctx.environment,
            &hook.app,
            &containers_release(release, &hook.app),
            1,
        );
        let argv = hook.run.argv();
        self.log(&format!(
            "{}: {when} hook in {container}: {}",
            host.name,
            argv.join(" ")
        ));
        let started = std::time::Instant::now();
        let finished = host.engine.exec(&container, &argv).await?;
        self.log(&format!(
            "{}: {when} hook exited with {} after {:.1}s",
            host.name,
            finished.exit_code,
            started.elapsed().as_secs_f64()
        ));
        self.store.journal(
            release.id,
            &format!(
                "{when} hook {}: exit {}",
                argv.join(" "),
                finished.exit_code
            ),
        )?;
        if finished.exit_code != 0 {
            return Err(DeployError::Hook {
                app: hook.app.clone(),
                when: when.to_owned(),
                message: format!(
                    "`{}` exited with {}:\n{}",
                    argv.join(" "),
                    finished.exit_code,
                    self.ctx.rendered.mask(finished.output.trim_end())
                ),
            });
        }
        Ok(())
    }

    /// Starts every app's new containers on every host, gates them all at once, then runs the
    /// `before_deploy` hooks: the release is ready for traffic.
    async fn start_whole_set(&self, release: &Release, deployed: &[String]) -> Result<()> {
        let mut started_sets = Vec::new();
        for host in &self.hosts {
            for app in deployed {
                let containers = self
                    .start(host, release, app, 1..=self.replicas(app))
                    .await?;
                started_sets.push((host, app, containers));
            }
        }
        self.gate_all(&started_sets).await?;
        for app in deployed {
            self.before_deploy(release, app).await?;
        }
        Ok(())
    }

    /// Gates every new set at once; the first failure is the answer.
    async fn gate_all(&self, sets: &[(&Host, &String, Vec<String>)]) -> Result<()> {
        let gates = sets
            .iter()
            .map(|(host, app, containers)| self.gate(host, app, containers));
        futures_util::future::join_all(gates)
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()?;
        Ok(())
    }

    /// Sets an app's split on a host; the targets that lose traffic are drained when it returns.
    async fn route(
        &self,
        host: &Host,
        release: &Release,
        app: &str,
        groups: Vec<Group>,
    ) -> Result<()> {
        if !self.routed(app) {
            return Ok(());
        }
        let route = self.ctx.manifest.apps[app]
            .route
            .clone()
            .unwrap_or_default();
        let weights: Vec<String> = groups
            .iter()
            .map(|g| format!("{} {}", g.release, g.weight))
            .collect();
        let answer = host
            .order(&Command::Set {
                service: self.service(app),
                host: route.host.clone(),
                path: route.path.clone().unwrap_or_else(|| "/".into()),
                groups,
                drain_ms: self.plan.drain.as_millis() as u64,
            })
            .await?;
        if !answer.undrained.is_empty() {
            self.log(&format!(
                "{}: {app}: requests still running on {} after the drain time",
                host.name,
                answer.undrained.join(", ")
            ));
        }
        self.store.journal(
            release.id,
            &format!("traffic {}:{app} {}", host.name, weights.join(" ")),
        )?;
        self.log(&format!(
            "{}: {app} traffic: {}",
            host.name,
            weights.join(", ")
        ));
        Ok(())
    }

    async fn remove_release_containers(
        &self,
        host: &Host,
        release: &str,
        app: Option<&str>,
    ) -> Result<()> {
        for container in host
            .engine
            .containers_of(&self.ctx.manifest.project.name, Some(self.ctx.environment))
            .await?
        {
            let labels = container.labels.clone().unwrap_or_default();
            if labels.get(LABEL_RELEASE).map(String::as_str) != Some(release) {
                continue;
            }
            if app.is_some_and(|a| {
                labels
                    .get(slipway_docker::environment::LABEL_NAME)
                    .map(String::as_str)
                    != Some(a)
            }) {
                continue;
            }
            if let Some(name) = container.names.as_ref().and_then(|n| n.first()) {
                host.engine.remove(name.trim_start_matches('/')).await?;
            }
        }
        Ok(())
    }

    async fn roll(
        &self,
        release: &Release,
        previous: Option<&Release>,
        deployed: &[String],
        strategy: &Strategy,
        tool: &Manifest,
    ) -> Result<()> {
        for app in release.apps.keys().filter(|a| !deployed.contains(a)) {
            if let Some(previous) = previous {
                let from = containers_release(previous, app);
                self.store
                    .journal(release.id, &format!("carried {app} from {from}"))?;
            }
        }
        // What each app's previous release is called on the hosts.
        let previous_name = |app: &str| -> Option<String> {
            let previous = previous?;
            previous.apps.get(app)?;
            Some(containers_release(previous, app))
        };
        let services = self
            .ctx
            .manifest
            .services
            .keys()
            .any(|s| self.ctx.manifest.service_runs_in(s, self.ctx.environment));
        for (index, host) in self.hosts.iter().enumerate() {
            ensure_proxy(
                host,
                tool,
                &self.plan,
                &self.ctx.state_dir,
                &self.ctx.store_dir,
            )
            .await?;
            // Services (the database) run on the first host; the apps reach them on its internal network.
            let mut log = |line: &str| self.log(&format!("{}: {line}", host.name));
            if index == 0 && services {
                slipway_docker::environment::start_services(
                    &host.engine,
                    self.ctx.manifest,
                    self.ctx.environment,
                    self.ctx.rendered,
                    &self.ctx.root,
                    &self.secret_key()?,
                    &mut log,
                )
                .await?;
            } else {
                let labels = [
                    (
                        LABEL_PROJECT.to_owned(),
                        self.ctx.manifest.project.name.clone(),
                    ),
                    (
                        LABEL_ENVIRONMENT.to_owned(),
                        self.ctx.environment.to_owned(),
                    ),
                ]
                .into_iter()
                .collect();
                host.engine
                    .ensure_network(
                        &internal_network(self.ctx.manifest, self.ctx.environment),
                        true,
                        &labels,
                    )
                    .await?;
            }
        }
        let new = release.name();
        let first_release = deployed.iter().all(|a| previous_name(a).is_none());
        match strategy {
            Strategy::Recreate { .. } => {
                for host in &self.hosts {
                    for app in deployed {
                        if let Some(old) = previous_name(app) {
                            if self.routed(app) {
                                host.order(&Command::Remove {
                                    service: self.service(app),
                                    drain_ms: self.plan.drain.as_millis() as u64,
                                })
                                .await?;
                            }
                            self.remove_release_containers(host, &old, Some(app))
                                .await?;
                        }
                        let containers = self
                            .start(host, release, app, 1..=self.replicas(app))
                            .await?;
                        self.gate(host, app, &containers).await?;
                        self.before_deploy(release, app).await?;
                        let targets = self.targets(host, &new, app, self.replicas(app)).await;
                        self.route(host, release, app, vec![group(&new, 100, targets)])
                            .await?;
                    }
                }
            }
            Strategy::Rolling {
                max_surge,
                max_unavailable,
            } if !first_release => {
                let surge = *max_surge;
                let batch = if surge > 0 {
                    surge
                } else {
                    (*max_unavailable).max(1)
                };
                for host in &self.hosts {
                    for app in deployed {
                        let replicas = self.replicas(app);
                        let old_name = previous_name(app);
                        let mut old: Vec<(String, String)> = match &old_name {
                            Some(old_name) => {
                                let old_replicas = previous
                                    .and_then(|p| p.apps.get(app))
                                    .map_or(1, |a| a.replicas);
                                self.running(host, old_name, app, old_replicas).await
                            }
                            None => Vec::new(),
                        };
                        let old_release = old_name.clone().unwrap_or_default();
                        let mut started = 0;
                        while started < replicas || !old.is_empty() {
                            let count = batch.min(replicas - started);
                            if surge == 0 {
                                self.retire(
                                    host,
                                    release,
                                    app,
                                    &old_release,
                                    &mut old,
                                    count as usize,
                                    &new,
                                    started,
                                )
                                .await?;
                            }
                            if count > 0 {
                                let containers = self
                                    .start(host, release, app, started + 1..=started + count)
                                    .await?;
                                self.gate(host, app, &containers).await?;
                                self.before_deploy(release, app).await?;
                                started += count;
                                self.route(
                                    host,
                                    release,
                                    app,
                                    split(
                                        &old_release,
                                        &old,
                                        &new,
                                        &self.targets(host, &new, app, started).await,
                                    ),
                                )
                                .await?;
                            }
                            let retire = if started >= replicas {
                                old.len()
                            } else {
                                count as usize
                            };
                            self.retire(
                                host,
                                release,
                                app,
                                &old_release,
                                &mut old,
                                retire,
                                &new,
                                started,
                            )
                            .await?;
                        }
                    }
                }
            }
            Strategy::Canary {
                steps,
                pause,
                max_error_rate,
                max_latency_increase,
            } if !first_release => {
                self.start_whole_set(release, deployed).await?;
                let pause = pause.map_or(Duration::from_secs(30), |d| d.0);
                for step in steps {
                    let step = u32::from(*step).min(100);
                    let mut before = Vec::new();
                    for host in &self.hosts {
                        for app in deployed {
                            let old = previous_name(app);
                            let old_targets = match &old {
                                Some(old) => {
                                    self.targets(
                                        host,
                                        old,
                                        app,
                                        previous
                                            .and_then(|p| p.apps.get(app))
                                            .map_or(1, |a| a.replicas),
                                    )
                                    .await
                                }
                                None => Vec::new(),
                            };
                            let new_targets =
                                self.targets(host, &new, app, self.replicas(app)).await;
                            let mut groups = vec![group(&new, step, new_targets)];
                            if let Some(old) = &old
                                && step < 100
                            {
                                groups.insert(0, group(old, 100 - step, old_targets));
                            }
                            self.route(host, release, app, groups).await?;
                            if step == 100 {
                                if let Some(old) = &old {
                                    self.remove_release_containers(host, old, Some(app)).await?;
                                }
                            } else if self.routed(app) {
                                before.push((
                                    host,
                                    app.clone(),
                                    old.clone(),
                                    self.counters(host, app, old.as_deref(), &new).await?,
                                ));
                            }
                        }
                    }
                    if step == 100 {
                        break;
                    }
                    self.log(&format!(
                        "canary at {step}%: watching for {}s",
                        pause.as_secs()
                    ));
                    tokio::time::sleep(pause).await;
                    for (host, app, old, (old_before, new_before)) in before {
                        let (old_after, new_after) =
                            self.counters(host, &app, old.as_deref(), &new).await?;
                        let old_window = old_after.since(&old_before);
                        let new_window = new_after.since(&new_before);
                        analyse(
                            &app,
                            step,
                            &old_window,
                            &new_window,
                            max_error_rate.map_or(0.01, |p| p.0 / 100.0),
                            max_latency_increase.map(|p| p.0 / 100.0),
                        )?;
                        self.log(&format!(
                            "{}: {app} at {step}%: {} requests, {} errors on {new} (old: {} requests, {} errors)",
                            host.name, new_window.requests, new_window.errors, old_window.requests, old_window.errors
                        ));
                    }
                }
            }
            // Blue-green, and every strategy's first release: start all, gate all, switch all.
            _ => {
                self.start_whole_set(release, deployed).await?;
                let keep_old = matches!(strategy, Strategy::BlueGreen { bake: Some(_) });
                for host in &self.hosts {
                    for app in deployed {
                        let new_targets = self.targets(host, &new, app, self.replicas(app)).await;
                        let mut groups = vec![group(&new, 100, new_targets)];
                        let old = previous_name(app);
                        if let (Some(old), true) = (&old, keep_old) {
                            // Kept, idle, for an instant switch back during the bake time.
                            let old_targets = self
                                .targets(
                                    host,
                                    old,
                                    app,
                                    previous
                                        .and_then(|p| p.apps.get(app))
                                        .map_or(1, |a| a.replicas),
                                )
                                .await;
                            groups.insert(0, group(old, 0, old_targets));
                        }
                        self.route(host, release, app, groups).await?;
                        if let (Some(old), false) = (&old, keep_old) {
                            self.remove_release_containers(host, old, Some(app)).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn retire(
        &self,
        host: &Host,
        release: &Release,
        app: &str,
        old_release: &str,
        old: &mut Vec<(String, String)>,
        count: usize,
        new: &str,
        started: u32,
    ) -> Result<()> {
        if count == 0 || old.is_empty() {
            return Ok(());
        }
        let retired: Vec<(String, String)> = old.drain(..count.min(old.len())).collect();
        let new_targets = self.targets(host, new, app, started).await;
        self.route(
            host,
            release,
            app,
            split(old_release, old, new, &new_targets),
        )
        .await?;
        for (container, _) in retired {
            host.engine.remove(&container).await?;
        }
        Ok(())
    }

    async fn counters(
        &self,
        host: &Host,
        app: &str,
        old: Option<&str>,
        new: &str,
    ) -> Result<(Snapshot, Snapshot)> {
        let answer = host.order(&Command::Status).await?;
        let status = answer.status.unwrap_or_default();
        let service = self.service(app);
        let old = old
            .and_then(|o| slipway_proxy::release_metrics(&status, &service, o))
            .cloned()
            .unwrap_or_default();
        let new = slipway_proxy::release_metrics(&status, &service, new)
            .cloned()
            .unwrap_or_default();
        Ok((old, new))
    }

    /// Blue-green's bake: the old release stays (idle) so a rollback is an instant switch; then
    /// it goes. The lock is not held meanwhile, so `slipway rollback` can take it.
    async fn bake(
        &self,
        release: &Release,
        previous: &Release,
        deployed: &[String],
        bake: Duration,
    ) -> Result<()> {
        self.log(&format!(
            "keeping {} for {}s: `slipway rollback {}` switches back at once",
            previous.name(),
            bake.as_secs(),
            self.ctx.environment
        ));
        tokio::time::sleep(bake).await;
        let Ok(_lock) = self.lock("deploy") else {
            return Ok(());
        };
        if self.store.live(self.ctx.environment)?.map(|r| r.id) != Some(release.id) {
            return Ok(());
        }
        for host in &self.hosts {
            for app in deployed {
                let targets = self
                    .targets(host, &release.name(), app, self.replicas(app))
                    .await;
                self.route(
                    host,
                    release,
                    app,
                    vec![group(&release.name(), 100, targets)],
                )
                .await?;
                self.remove_release_containers(host, &previous.name(), Some(app))
                    .await?;
            }
        }
        self.log(&format!("removed {} after the bake time", previous.name()));
        Ok(())
    }

    /// Puts the hosts back on `previous` and removes what `release` started.
    async fn undo(&self, release: &Release, previous: Option<&Release>) -> Result<()> {
        let name = release.name();
        let mut first_error = None;
        for host in &self.hosts {
            for app in release.apps.keys() {
                if !self.routed(app) {
                    continue;
                }
                let order = match previous.filter(|p| p.apps.contains_key(app)) {
                    Some(previous) => {
                        let old = containers_release(previous, app);
                        let targets = self
                            .targets(host, &old, app, previous.apps[app].replicas)
                            .await;
                        if targets.is_empty() {
                            None
                        } else {
                            Some(Command::Set {
                                service: self.service(app),
                                host: self.ctx.manifest.apps[app]
                                    .route
                                    .as_ref()
                                    .and_then(|r| r.host.clone()),
                                path: self.ctx.manifest.apps[app]
                                    .route
                                    .as_ref()
                                    .and_then(|r| r.path.clone())
                                    .unwrap_or_else(|| "/".into()),
                                groups: vec![group(&old, 100, targets)],
                                drain_ms: self.plan.drain.as_millis() as u64,
                            })
                        }
                    }
                    None => Some(Command::Remove {
                        service: self.service(app),
                        drain_ms: self.plan.drain.as_millis() as u64,
                    }),
                };
                if let Some(order) = order {
                    match host.proxy(&order).await {
                        Ok(answer) if answer.ok => {}
                        Ok(answer) => {
                            first_error.get_or_insert(DeployError::Proxy {
                                host: host.name.clone(),
                                message: answer.error.unwrap_or_default(),
                            });
                        }
                        Err(error) => {
                            first_error.get_or_insert(error);
                        }
                    }
                }
            }
            if let Err(error) = self.remove_release_containers(host, &name, None).await {
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// `recover`, unless a deploy of the environment is running now (it holds the lock).
    pub async fn recover_if_idle(&mut self) -> Result<Vec<Release>> {
        let Ok(_lock) = self.lock("status") else {
            return Ok(Vec::new());
        };
        self.recover().await
    }

    /// Finds deploys that were interrupted (their process died) and restores the live release.
    /// The caller holds the lock.
    async fn recover(&mut self) -> Result<Vec<Release>> {
        let unfinished = self.store.unfinished(self.ctx.environment)?;
        let previous = self.store.live(self.ctx.environment)?;
        for release in &unfinished {
            self.log(&format!(
                "release {} was interrupted (slipway stopped mid-deploy): restoring {}",
                release.name(),
                previous.as_ref().map_or("nothing".into(), |p| p.name())
            ));
            self.undo(release, previous.as_ref()).await?;
            self.store.finish(
                release.id,
                Outcome::Failed,
                Some(&format!(
                    "interrupted; {} restored",
                    previous.as_ref().map_or("no release".into(), |p| p.name())
                )),
                now(),
            )?;
        }
        Ok(unfinished)
    }

    /// Back to the previous live release (or `to`), with the image already on the hosts.
    pub async fn rollback(&mut self, to: Option<i64>) -> Result<Release> {
        let _lock = self.lock("rollback")?;
        self.recover().await?;
        let (current, target) = self.store.rollback_target(self.ctx.environment, to)?;
        let apps: Vec<String> = target.apps.keys().cloned().collect();
        let name = target.name();
        for host in &self.hosts {
            for app in &apps {
                let replicas = target.apps[app].replicas;
                let existing = self.targets(host, &name, app, replicas).await;
                if existing.len() < replicas as usize {
                    let tag = self.release_tag(app, &name);
                    if host.engine.image_id(&tag).await.is_none() {
                        return Err(DeployError::Image {
                            app: app.clone(),
                            message: format!(
                                "the image of {name} ({tag}) is no longer on {}; deploy it again with --image",
                                host.name
                            ),
                        });
                    }
                    let config = self.release_config(&name);
                    let containers = self
                        .start_with(host, &target, app, 1..=replicas, &config)
                        .await?;
                    self.gate(host, app, &containers).await?;
                } else if let (Some(check), Some(_)) =
                    (self.health_check(app), self.ctx.manifest.apps[app].port)
                {
                    let mut quick = check;
                    quick.healthy = 1;
                    let answer = host
                        .proxy(&Command::Gate {
                            targets: existing.clone(),
                            check: quick,
                        })
                        .await?;
                    if !answer.ok {
                        return Err(DeployError::Gate {
                            app: app.clone(),
                            message: answer.error.unwrap_or_default(),
                        });
                    }
                }
            }
        }
        for host in &self.hosts {
            for app in &apps {
                let targets = self
                    .targets(host, &name, app, target.apps[app].replicas)
                    .await;
                self.route(host, &current, app, vec![group(&name, 100, targets)])
                    .await?;
                self.remove_release_containers(host, &current.name(), Some(app))
                    .await?;
            }
        }
        self.store.make_live(target.id, now())?;
        self.store.finish(
            current.id,
            Outcome::RolledBack,
            Some(&format!("rolled back to {name} by {}", self.ctx.started_by)),
            now(),
        )?;
        self.log(&format!(
            "{name} is live again; {} rolled back",
            current.name()
        ));
        Ok(self.store.get(target.id)?.expect("the release exists"))
    }

    /// Untags the images of releases older than the last `keep` that went live.
    async fn prune(&self) {
        let Ok(history) = self.store.list(self.ctx.environment, 1000) else {
            return;
        };
        let kept: Vec<&Release> = history
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    Outcome::Live | Outcome::Superseded | Outcome::RolledBack
                )
            })
            .take(self.keep as usize)
            .collect();
        for release in &history {
            if kept.iter().any(|k| k.id == release.id) {
                continue;
            }
            for host in &self.hosts {
                for app in release.apps.keys() {
                    let _ = host
                        .engine
                        .untag(&self.release_tag(app, &release.name()))
                        .await;
                }
            }
            let _ = std::fs::remove_dir_all(self.release_config_dir(&release.name()));
        }
    }
}

/// The release whose containers serve `app` in `release`: an app left out of a deploy keeps
/// the containers of the release it came from.
fn containers_release(release: &Release, app: &str) -> String {
    release
        .journal
        .iter()
        .find_map(|s| {
            s.strip_prefix(&format!("carried {app} from "))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| release.name())
}

fn group(release: &str, weight: u32, targets: Vec<String>) -> Group {
    Group {
        release: release.to_owned(),
        weight,
        targets,
    }
}

/// Rolling: each target gets the same share, whichever release it belongs to.
fn split(
    old_release: &str,
    old: &[(String, String)],
    new: &str,
    new_targets: &[String],
) -> Vec<Group> {
    let mut groups = Vec::new();
    if !old.is_empty() {
        groups.push(group(
            old_release,
            old.len() as u32,
            old.iter().map(|(_, t)| t.clone()).collect(),
        ));
    }
    if !new_targets.is_empty() {
        groups.push(group(new, new_targets.len() as u32, new_targets.to_vec()));
    }
    groups
}

/// A canary step passes when the new release's error rate and latency stay within bounds.
pub fn analyse(
    app: &str,
    step: u32,
    old: &Snapshot,
    new: &Snapshot,
    max_error_rate: f64,
    max_latency_increase: Option<f64>,
) -> Result<()> {
    if new.requests > 0 && new.error_rate() > max_error_rate {
        return Err(DeployError::Analysis {
            app: app.to_owned(),
            message: format!(
                "at {step}% the new release's error rate was {:.1}% ({} of {} requests), above {:.1}%",
                new.error_rate() * 100.0,
                new.errors,
                new.requests,
                max_error_rate * 100.0
            ),
        });
    }
    if let (Some(limit), Some(old_p95), Some(new_p95)) =
        (max_latency_increase, old.quantile(0.95), new.quantile(0.95))
        && old.requests >= 20
        && new.requests >= 20
        && new_p95.as_secs_f64() > old_p95.as_secs_f64() * (1.0 + limit)
    {
        return Err(DeployError::Analysis {
            app: app.to_owned(),
            message: format!(
                "at {step}% the new release's p95 latency was {} ms against {} ms, more than {:.0}% slower",
                new_p95.as_millis(),
                old_p95.as_millis(),
                limit * 100.0
            ),
        });
    }
    Ok(())
}

/// The digest of a release's rendered config (every file's name and text).
pub fn config_digest(rendered: &slipway_config::RenderedEnvironment) -> String {
    let mut hasher = Sha256::new();
    for file in &rendered.files {
        hasher.update(file.name.as_bytes());
        hasher.update([0]);
        hasher.update(file.text.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The apps an environment runs, in manifest order.
pub fn environment_apps(manifest: &Manifest, environment: &str) -> Vec<String> {
    match &manifest.environments[environment].apps {
        Some(listed) => listed.clone(),
        None => manifest.apps.keys().cloned().collect(),
    }
}

pub fn strategy_name(strategy: &Strategy) -> &'static str {
    match strategy {
        Strategy::Rolling { .. } => "rolling",
        Strategy::BlueGreen { .. } => "blue-green",
        Strategy::Canary { .. } => "canary",
        Strategy::Recreate { .. } => "recreate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(requests: u64, errors: u64, latency_ms: u64) -> Snapshot {
        let metrics = slipway_proxy::metrics::ReleaseMetrics::default();
        for i in 0..requests {
            metrics.record(Duration::from_millis(latency_ms), i < errors);
        }
        metrics.snapshot()
    }

    #[test]
    fn a_canary_with_too_many_errors_or_too_slow_is_stopped() {
        let old = window(200, 0, 5);
        assert!(analyse("api", 10, &old, &window(40, 0, 5), 0.01, Some(0.2)).is_ok());
        let error = analyse("api", 10, &old, &window(40, 4, 5), 0.01, None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("error rate was 10.0% (4 of 40 requests)"),
            "{error}"
        );
        let error = analyse("api", 25, &old, &window(40, 0, 60), 0.01, Some(0.2)).unwrap_err();
        assert!(error.to_string().contains("p95 latency"), "{error}");
        // Too few requests say nothing about latency.
        assert!(analyse("api", 25, &old, &window(5, 0, 60), 0.01, Some(0.2)).is_ok());
    }
}
