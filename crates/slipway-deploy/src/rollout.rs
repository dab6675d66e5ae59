//! Moving an environment from one release to the next on its Docker hosts: the strategies,
//! the health gates, the automatic rollback and the recovery of an interrupted deploy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};
use slipway_core::Manifest;
use slipway_core::manifest::{Strategy, Target};
use slipway_core::plan::{
    self, AppChange, Capabilities, Entry, Incoming, LiveState, Runs, Serving,
};
use slipway_docker::environment::{LABEL_ENVIRONMENT, LABEL_PROJECT, env_lines, internal_network};
use slipway_proxy::admin::{Command, HealthCheck};
use slipway_proxy::metrics::Snapshot;

use crate::changes::Deployed;
use crate::docker::DockerTarget;
use crate::execute::{Failure, execute};
use crate::host::{
    ContainerPlan, Host, LABEL_CONFIG_DIGEST, LABEL_STARTED_AT, LABEL_STARTED_BY, LABEL_STRATEGY,
    ProxyPlan, build_proxy_image, container_name, ensure_proxy, load_from_store, start_replica,
};
use crate::lock::DeployLock;
use crate::store::{NewRelease, Outcome, Release, ReleaseApp, Store};
use crate::target::StoreJournal;
use crate::{DeployError, Result};

/// What a deploy needs beyond the manifest.
pub struct Context<'a> {
    /// The project's slipway.toml.
    pub manifest: &'a Manifest,
    /// The environment deployed to.
    pub environment: &'a str,
    /// The project's directory.
    pub root: PathBuf,
    /// The project's state dir (release history, locks).
    pub state_dir: PathBuf,
    /// The project's OCI image layout, where the built app images are.
    pub store_dir: PathBuf,
    /// The environment's config, rendered, with its secrets.
    pub rendered: &'a slipway_config::RenderedEnvironment,
    /// `user@host`, recorded with each release.
    pub started_by: String,
    /// Given each line of progress to show.
    pub log: &'a (dyn Fn(&str) + Send + Sync),
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// What a deploy is asked to do beyond the environment's defaults.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    /// Only these apps (the others keep their running release); empty means all.
    pub apps: Vec<String>,
    /// App → registry reference to deploy instead of the local build.
    pub images: BTreeMap<String, String>,
    /// The strategy to use instead of the one slipway.toml gives.
    pub strategy: Option<Strategy>,
    /// Finish the interrupted deploy instead of undoing it.
    pub resume: bool,
    /// Replace every app, even those whose image, config and settings are what runs.
    pub force: bool,
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    slipway_core::time::now() as i64
}

/// The deploy engine for one environment.
pub struct Rollout<'a> {
    pub(crate) ctx: Context<'a>,
    pub(crate) store: Store,
    pub(crate) hosts: Vec<Host>,
    pub(crate) plan: ProxyPlan,
    keep: u32,
}

impl std::fmt::Debug for Rollout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollout")
            .field("environment", &self.ctx.environment)
            .finish_non_exhaustive()
    }
}

/// The release history's file in `state_dir`.
pub fn store_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("releases.db")
}

impl<'a> Rollout<'a> {
    /// Connects to every host of the environment.
    pub async fn new(ctx: Context<'a>) -> Result<Rollout<'a>> {
        let env = ctx.manifest.environment(ctx.environment)?.environment;
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
        })
    }

    /// The release history of the project.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The environment's name.
    pub fn environment(&self) -> &str {
        self.ctx.environment
    }

    /// The project's manifest.
    pub fn manifest(&self) -> &Manifest {
        self.ctx.manifest
    }

    /// The project's directory.
    pub fn root(&self) -> &std::path::Path {
        &self.ctx.root
    }

    /// The environment's hosts, connected.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The proxy settings the environment's hosts run with.
    pub fn proxy_plan(&self) -> &ProxyPlan {
        &self.plan
    }

    /// Where the apps answer through the first host's proxy.
    pub fn url(&self) -> String {
        self.hosts[0].url(&self.plan)
    }

    /// The proxy's image, assembled from this binary (unchanged layers are reused).
    pub(crate) async fn proxy_image(&self) -> Result<Manifest> {
        build_proxy_image(
            self.ctx.manifest,
            &self.plan,
            &self.ctx.state_dir,
            &self.ctx.store_dir,
        )
        .await
    }

    pub(crate) fn log(&self, line: &str) {
        (self.ctx.log)(line);
    }

    pub(crate) fn lock(&self, what: &str) -> Result<DeployLock> {
        DeployLock::acquire_for(
            &self.ctx.state_dir,
            self.ctx.environment,
            &self.ctx.started_by,
            what,
            now(),
        )
    }

    pub(crate) fn service(&self, app: &str) -> String {
        format!(
            "{}/{}/{app}",
            self.ctx.manifest.project.name, self.ctx.environment
        )
    }

    fn environment_apps(&self) -> Vec<String> {
        environment_apps(self.ctx.manifest, self.ctx.environment)
    }

    pub(crate) fn replicas(&self, app: &str) -> u32 {
        self.ctx.manifest.environments[self.ctx.environment]
            .replicas
            .get(app)
            .copied()
            .unwrap_or(1)
            .max(1)
    }

    /// Apps that take traffic through the proxy: those with a port.
    pub(crate) fn routed(&self, app: &str) -> bool {
        self.ctx.manifest.apps[app].port.is_some()
    }

    pub(crate) fn health_check(&self, app: &str) -> Option<HealthCheck> {
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

    fn settings_digest(&self, app: &str) -> String {
        crate::changes::settings_digest(self.ctx.manifest, self.ctx.environment, app)
    }

    /// Checks what a deploy needs before anything on a host changes.
    fn check(&self, strategy: &Strategy, apps: &[String]) -> Result<()> {
        if let Strategy::Recreate {
            allow_downtime: false,
        } = strategy
        {
            return Err(DeployError::Plan(
                plan::PlanError::DowntimeNotAllowed.to_string(),
            ));
        }
        for app in apps {
            if !self.ctx.manifest.apps.contains_key(app) {
                return Err(DeployError::Plan(format!("no app `{app}` in slipway.toml")));
            }
            if self.routed(app) && self.health_check(app).is_none() {
                return Err(DeployError::Plan(format!(
                    "app `{app}` has no health check path: the {} strategy needs one to know when a release may take traffic; add `health = {{ path = \"/health\" }}` to [apps.{app}]",
                    strategy.kind()
                )));
            }
        }
        Ok(())
    }

    /// Deploys a new release: images onto the hosts, services, the proxy, then the strategy.
    pub async fn deploy(&mut self, request: &DeployRequest) -> Result<Deployed> {
        let lock = self.lock("deploy")?;
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        let strategy = request
            .strategy
            .clone()
            .unwrap_or_else(|| env.strategy.clone());
        // The routes' certificates are checked before anything changes.
        let certificates = self.route_certificates()?;
        for certificate in &certificates {
            let Some(not_after) = certificate.not_after else {
                continue;
            };
            let days = (not_after - now()) / 86_400;
            if days < crate::tls::RENEW_WARNING_DAYS {
                self.log(&format!(
                    "the certificate for {} expires on {} (in {days} days): renew it",
                    certificate.host,
                    slipway_proxy::x509::format_utc(not_after)
                ));
            }
        }
        let proxies: Vec<crate::tls::ProxyAddresses> = self
            .hosts
            .iter()
            .map(|host| {
                let plain = host
                    .publish
                    .clone()
                    .unwrap_or_else(|| self.plan.publish.clone());
                (host.name.clone(), plain, host.tls_address(&self.plan))
            })
            .collect();
        for warning in crate::tls::acme_reachability_warnings(&certificates, &proxies) {
            self.log(&warning);
        }
        crate::tls::check_acme(&self.hosts, &certificates).await?;
        if request.resume {
            let release = self.resume(lock, &strategy).await?;
            return Ok(Deployed {
                replaced: release.apps.keys().cloned().collect(),
                unchanged: Vec::new(),
                release,
            });
        }
        self.recover().await?;
        let all_apps = self.environment_apps();
        let mut deployed: Vec<String> = if request.apps.is_empty() {
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
        // An app that is exactly what runs is carried over, not replaced.
        let mut unchanged = crate::changes::unchanged_apps(
            previous.as_ref(),
            !request.apps.is_empty(),
            request.force,
            deployed.iter().map(|app| (app.as_str(), &apps[app])),
            &self.config_digest(),
        );
        // Unchanged in the record is not enough: the hosts must serve it as recorded.
        if let Some(live) = &previous
            && !unchanged.is_empty()
        {
            let statuses = crate::status::on_hosts(
                &self.hosts,
                &self.plan,
                self.ctx.manifest,
                self.ctx.environment,
            )
            .await?;
            unchanged.retain(|app| {
                match crate::changes::unserved_on(&statuses, live, app, self.routed(app)) {
                    None => true,
                    Some(host) => {
                        self.log(&format!(
                            "{app}: {host} does not serve it as {} records (its containers or its route are gone); replaced",
                            live.name()
                        ));
                        false
                    }
                }
            });
        }
        if let Some(live) = &previous
            && !unchanged.is_empty()
        {
            if unchanged.len() == deployed.len() {
                // A renewed certificate needs no new release, only the proxies.
                self.refresh_certificates().await?;
                return Ok(crate::changes::nothing_to_deploy(
                    live,
                    unchanged,
                    &|line| self.log(line),
                ));
            }
            for app in &unchanged {
                self.log(&format!("{app}: unchanged since {}, kept", live.name()));
                apps.insert(app.clone(), live.apps[app].clone());
            }
            deployed.retain(|app| !unchanged.contains(app));
        }
        let tool = self.proxy_image().await?;

        let release = self.store.begin(
            &NewRelease {
                environment: self.ctx.environment.to_owned(),
                apps: apps.clone(),
                config_digest: self.config_digest(),
                strategy: strategy.kind(),
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
            strategy.kind(),
            deployed.join(", ")
        ));
        let release = self
            .complete(
                lock,
                release,
                previous,
                deployed.clone(),
                strategy,
                tool,
                None,
            )
            .await?;
        Ok(Deployed {
            release,
            replaced: deployed,
            unchanged,
        })
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
        let deployed: Vec<String> = release
            .apps
            .keys()
            .filter(|a| plan::carried_from(&release.journal, a).is_none())
            .cloned()
            .collect();
        self.check(strategy, &deployed)?;
        let config = self.release_config(&release.name());
        let tool = self.proxy_image().await?;
        self.log(&format!(
            "resuming release {} of {} ({}): {}",
            release.name(),
            self.ctx.environment,
            strategy.kind(),
            deployed.join(", ")
        ));
        self.store.journal(release.id, &Entry::Resumed)?;
        self.complete(
            lock,
            release,
            previous,
            deployed,
            strategy.clone(),
            tool,
            Some(config),
        )
        .await
    }

    /// What the hosts can do, as a plan sees them.
    pub(crate) fn capabilities(&self) -> Capabilities {
        Capabilities {
            places: self.hosts.iter().map(|h| h.name.clone()).collect(),
            runs: Runs::Replicas,
            hooks: true,
        }
    }

    /// What serves each app of `release` (its own replicas, or those of the release an app
    /// was carried from).
    pub(crate) fn live_state(release: Option<&Release>) -> LiveState {
        let Some(release) = release else {
            return LiveState::default();
        };
        LiveState {
            apps: release
                .apps
                .iter()
                .map(|(app, entry)| {
                    (
                        app.clone(),
                        Serving {
                            release: containers_release(release, app),
                            replicas: entry.replicas,
                        },
                    )
                })
                .collect(),
        }
    }

    /// `apps` of `release` as a plan brings them in.
    pub(crate) fn incoming(&self, release: &Release, apps: &[String]) -> Incoming {
        Incoming {
            release: release.name(),
            apps: apps
                .iter()
                .filter_map(|app| {
                    Some(AppChange {
                        app: app.clone(),
                        replicas: release.apps.get(app)?.replicas,
                        routed: self.routed(app),
                    })
                })
                .collect(),
        }
    }

    /// Carries out the strategy's plan; on success the release is live (and baked), on failure
    /// the undo plan puts the previous release back. `resumed` is the config of an interrupted
    /// release being finished: the steps its journal shows done are not done again.
    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        lock: DeployLock,
        release: Release,
        previous: Option<Release>,
        deployed: Vec<String>,
        strategy: Strategy,
        tool: Manifest,
        resumed: Option<slipway_config::RenderedEnvironment>,
    ) -> Result<Release> {
        let name = release.name();
        let live = Self::live_state(previous.as_ref());
        let incoming = self.incoming(&release, &deployed);
        let capabilities = self.capabilities();
        let undo = plan::undo(&live, &incoming, &capabilities);
        let journal = StoreJournal {
            store: &self.store,
            release: release.id,
        };
        let resuming = resumed.is_some();
        let config = resumed.unwrap_or_else(|| self.ctx.rendered.clone());
        let target = DockerTarget::new(self, capabilities.clone(), &release, config, Some(lock));
        let outcome = match self
            .prepare_hosts(&release, previous.as_ref(), &deployed, &tool)
            .await
        {
            Ok(()) => match plan::deploy(&live, &incoming, &strategy, &capabilities) {
                Ok(steps) => {
                    let steps = if resuming {
                        plan::resume(steps, &release.journal)
                    } else {
                        steps
                    };
                    execute(&target, &journal, &steps, &undo).await
                }
                Err(error) => Err(Box::new(Failure {
                    error: DeployError::Plan(error.to_string()),
                    live: false,
                    undo_error: None,
                })),
            },
            Err(error) => {
                let undo_error = crate::execute::carry_out_all(&target, &undo).await.err();
                Err(Box::new(Failure {
                    error,
                    live: false,
                    undo_error,
                }))
            }
        };
        match outcome.map_err(|failure| *failure) {
            Ok(()) => {
                self.prune().await;
                Ok(self.store.get(release.id)?.expect("the release exists"))
            }
            Err(Failure {
                error, live: true, ..
            }) => {
                // Live, and staying so: an `after_deploy` hook or the bake failed.
                self.prune().await;
                Err(error)
            }
            Err(Failure {
                error: failure,
                undo_error,
                ..
            }) => {
                let had_traffic = self
                    .store
                    .get(release.id)?
                    .is_some_and(|r| r.journal.iter().any(Entry::moved_traffic));
                self.log(&format!(
                    "release {name} failed: the live release is restored"
                ));
                let note = match &undo_error {
                    None => failure.to_string(),
                    Some(error) => {
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
                let parsed = parse_reference(app, reference)?;
                let credential = slipway_oci::credentials::from_docker_config(parsed.registry())
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
                    digest: parsed.digest().map(str::to_owned),
                    replicas,
                    task_definition: None,
                    service: None,
                    settings: Some(self.settings_digest(app)),
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
                    let registry = parse_reference(app, reference)?;
                    let credential =
                        slipway_oci::credentials::from_docker_config(registry.registry())
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
                    settings: Some(self.settings_digest(app)),
                })
            }
        }
    }

    /// Hands the routes' certificates to the proxies that run, outside a release.
    async fn refresh_certificates(&self) -> Result<()> {
        let certificates = self.route_certificates()?;
        let plain = crate::tls::plain_hosts(self.ctx.manifest, self.ctx.environment, &certificates);
        for host in &self.hosts {
            if host.engine.is_running(crate::host::PROXY_CONTAINER).await {
                for warning in crate::tls::install(host, &self.plan, &certificates, &plain).await? {
                    self.log(&format!("{}: {warning}", host.name));
                }
            }
        }
        Ok(())
    }

    /// The environment's routes' certificates, read and checked.
    fn route_certificates(&self) -> Result<Vec<crate::tls::RouteCertificate>> {
        let certificates = crate::tls::route_certificates(
            self.ctx.manifest,
            self.ctx.environment,
            &self.ctx.root,
            self.ctx.rendered,
            now(),
        )?;
        Ok(certificates)
    }

    /// The key of the digests of secret values on the containers' labels.
    pub(crate) fn secret_key(&self) -> Result<Vec<u8>> {
        Ok(slipway_docker::secrets::digest_key(&self.ctx.state_dir)?)
    }

    pub(crate) fn release_config_dir(&self, release: &str) -> PathBuf {
        self.ctx
            .state_dir
            .join("releases")
            .join(self.ctx.environment)
            .join(release)
    }

    /// The config a release was deployed with, or the current one if it was not kept.
    pub(crate) fn release_config(&self, release: &str) -> slipway_config::RenderedEnvironment {
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

    pub(crate) fn release_tag(&self, app: &str, release: &str) -> String {
        format!("{}/{app}:{release}", self.ctx.manifest.project.name)
    }

    pub(crate) async fn start_with(
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
                (LABEL_STRATEGY.into(), release.strategy.name().to_owned()),
            ],
        };
        let mut started = Vec::new();
        for replica in replicas {
            started.push(start_replica(host, &plan, replica).await?);
        }
        Ok(started)
    }

    /// Waits for new containers: the proxy's health gate for routed apps, the engine's health
    /// check (or just running) for the others. A failure carries the container's last log lines.
    pub(crate) async fn gate(&self, host: &Host, app: &str, containers: &[String]) -> Result<()> {
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

    pub(crate) async fn run_hook(
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
            &Entry::Hook {
                when: when.to_owned(),
                command: argv.join(" "),
                exit: finished.exit_code,
            },
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

    /// Before a plan runs: apps left out of the deploy recorded as carried over, the proxy on
    /// every host, and the services (the database) on the first.
    async fn prepare_hosts(
        &self,
        release: &Release,
        previous: Option<&Release>,
        deployed: &[String],
        tool: &Manifest,
    ) -> Result<()> {
        for app in release.apps.keys().filter(|a| !deployed.contains(a)) {
            if let Some(previous) = previous {
                let from = containers_release(previous, app);
                if plan::carried_from(&release.journal, app).is_none() {
                    self.store.journal(
                        release.id,
                        &Entry::Carried {
                            app: app.clone(),
                            from,
                        },
                    )?;
                }
            }
        }
        let services = self
            .ctx
            .manifest
            .services
            .keys()
            .any(|s| self.ctx.manifest.service_runs_in(s, self.ctx.environment));
        let certificates = self.route_certificates()?;
        let plain = crate::tls::plain_hosts(self.ctx.manifest, self.ctx.environment, &certificates);
        for (index, host) in self.hosts.iter().enumerate() {
            ensure_proxy(
                host,
                tool,
                &self.plan,
                &self.ctx.state_dir,
                &self.ctx.store_dir,
            )
            .await?;
            for warning in crate::tls::install(host, &self.plan, &certificates, &plain).await? {
                self.log(&format!("{}: {warning}", host.name));
            }
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
        Ok(())
    }

    pub(crate) async fn counters(
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

    /// Puts the hosts back on `previous` and removes what `release` started (the undo plan).
    pub(crate) async fn undo(&self, release: &Release, previous: Option<&Release>) -> Result<()> {
        let apps: Vec<String> = release.apps.keys().cloned().collect();
        let capabilities = self.capabilities();
        let undo = plan::undo(
            &Self::live_state(previous),
            &self.incoming(release, &apps),
            &capabilities,
        );
        let target =
            DockerTarget::new(self, capabilities, release, self.ctx.rendered.clone(), None);
        crate::execute::carry_out_all(&target, &undo).await
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
        let capabilities = self.capabilities();
        let steps = plan::rollback(
            &Self::live_state(Some(&current)),
            &self.incoming(&target, &apps),
            &capabilities,
        );
        let config = self.release_config(&name);
        let docker = DockerTarget::new(self, capabilities, &target, config, None).restoring();
        let journal = StoreJournal {
            store: &self.store,
            release: current.id,
        };
        let nothing = plan::Plan { steps: Vec::new() };
        execute(&docker, &journal, &steps, &nothing)
            .await
            .map_err(|failure| failure.error)?;
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
pub(crate) fn containers_release(release: &Release, app: &str) -> String {
    plan::carried_from(&release.journal, app)
        .map(str::to_owned)
        .unwrap_or_else(|| release.name())
}

/// An app's image reference read by the distribution grammar, so the registry whose login it
/// needs is the one Docker would ask (`shop/api` is on Docker Hub, not on a host named `shop`).
fn parse_reference(app: &str, reference: &str) -> Result<slipway_oci::ImageRef> {
    slipway_oci::ImageRef::parse(reference).map_err(|e| DeployError::Image {
        app: app.to_owned(),
        message: e.to_string(),
    })
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
    match manifest
        .environments
        .get(environment)
        .and_then(|env| env.apps.as_ref())
    {
        Some(listed) => listed.clone(),
        None => manifest.apps.keys().cloned().collect(),
    }
}
