//! Releases on Amazon ECS, with the same history, lock and journal as on Docker hosts.
//!
//! Each release registers one task definition revision per app, pinned by image digest, with the
//! environment's secrets as references. Rolling and recreate update one service per app and
//! follow it to a steady state (ECS's circuit breaker rolls a failing deployment back; slipway
//! gives up sooner when new tasks keep stopping, and restores the previous revision itself).
//! Blue-green and canary run two services per app, `<service>-blue` and `<service>-green`, each
//! registered with one of two target groups, and move the ALB listener's forward weights between
//! them: a rollback while the old colour still runs is one listener change.

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_aws::ecs::{Ecs, Native, Rolling, ServiceSpec, TrafficShift};
use slipway_aws::secrets::{SecretSource, Secrets};
use slipway_aws::taskdef::{self, AppTask, SidecarTask, TaskDefinition};
use slipway_core::manifest::{
    CommandLine, EcsApp, EcsDeployments, EcsTarget, NativeCanary, Strategy, Target, native_canary,
};

use crate::lock::DeployLock;
use crate::rollout::{Context, DeployRequest, config_digest, environment_apps, now, store_path};
use crate::store::{NewRelease, Outcome, Release, ReleaseApp, Store, release_name};
use crate::{DeployError, Result};

const COLOURS: [&str; 2] = ["blue", "green"];

/// How long ECS's own strategy holds a deployment before it completes (its bake times).
fn native_duration(native: Option<Native>) -> Duration {
    let minutes = match native {
        None => 0,
        Some(Native::BlueGreen { bake_minutes }) | Some(Native::Canary { bake_minutes, .. }) => {
            bake_minutes
        }
        Some(Native::Linear {
            step_percent,
            bake_minutes,
        }) => bake_minutes * (100.0 / step_percent.max(1.0)).ceil() as i32,
    };
    Duration::from_secs(60 * minutes.max(0) as u64)
}

/// A canary's thresholds: error rate as a fraction, latency increase as a fraction.
#[derive(Debug, Clone, Copy)]
struct Limits {
    error_rate: f64,
    latency_increase: Option<f64>,
}

/// The deploy engine for one environment on ECS.
pub struct EcsRollout<'a> {
    ctx: Context<'a>,
    target: &'a EcsTarget,
    store: Store,
    ecs: Ecs,
    secrets: Secrets,
    metrics: slipway_aws::metrics::Metrics,
    region: String,
}

impl std::fmt::Debug for EcsRollout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsRollout")
            .field("environment", &self.ctx.environment)
            .field("cluster", &self.target.cluster)
            .finish_non_exhaustive()
    }
}

/// What runs for one app on ECS (`slipway status`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppStatus {
    pub app: String,
    pub services: Vec<ServiceStatus>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub task_definition: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub rollout_state: Option<String>,
    pub deployments: usize,
    /// Its target group's weight on the listener (blue-green and canary).
    pub weight: Option<i32>,
}

/// One app's part of a deploy, prepared before anything in AWS changes.
#[derive(Debug, Clone)]
struct Planned {
    app: String,
    entry: ReleaseApp,
    definition: TaskDefinition,
}

impl<'a> EcsRollout<'a> {
    pub async fn new(ctx: Context<'a>) -> Result<EcsRollout<'a>> {
        let Target::Ecs(target) = &ctx.manifest.environments[ctx.environment].target else {
            return Err(DeployError::Plan(format!(
                "environment `{}` does not run on ECS",
                ctx.environment
            )));
        };
        let config = slipway_aws::load_config(target.region.as_deref()).await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            DeployError::Plan(format!(
                "no AWS region for environment `{}`: set `region` in its target, or AWS_REGION",
                ctx.environment
            ))
        })?;
        let store = Store::open(&store_path(&ctx.state_dir))?;
        Ok(EcsRollout {
            target,
            store,
            ecs: Ecs::new(&config),
            secrets: Secrets::new(&config),
            metrics: slipway_aws::metrics::Metrics::new(&config),
            region,
            ctx,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn cluster(&self) -> &str {
        &self.target.cluster
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

    fn environment_apps(&self) -> Vec<String> {
        environment_apps(self.ctx.manifest, self.ctx.environment)
    }

    fn settings(&self, app: &str) -> EcsApp {
        self.target.apps.get(app).cloned().unwrap_or_default()
    }

    /// The app's service name, without a colour.
    pub fn service_name(&self, app: &str) -> String {
        self.settings(app).service.unwrap_or_else(|| {
            format!(
                "{}-{}-{app}",
                self.ctx.manifest.project.name, self.ctx.environment
            )
        })
    }

    fn desired(&self, app: &str) -> i32 {
        self.ctx.manifest.environments[self.ctx.environment]
            .replicas
            .get(app)
            .copied()
            .unwrap_or(1)
            .max(1) as i32
    }

    fn launch_type(&self) -> String {
        self.target
            .launch_type
            .clone()
            .unwrap_or_else(|| "FARGATE".into())
    }

    fn steady_timeout(&self) -> Duration {
        self.target
            .steady_timeout
            .map_or(Duration::from_secs(600), |d| d.0)
    }

    fn config_digest(&self) -> String {
        config_digest(self.ctx.rendered)
    }

    /// The app's non-secret environment and its secrets (name → `valueFrom`) from the rendered
    /// config. A secret must be a key's whole value: on ECS it reaches the task as a reference.
    /// With `resolve`, each secret is looked up in AWS (it must exist) and referenced by its
    /// ARN; without, no AWS call is made and the reference is written as ECS accepts it (see
    /// [`offline_value_from`]).
    async fn environment_of(
        &self,
        app: &str,
        resolve: bool,
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        let config_name = self.ctx.manifest.apps[app]
            .config
            .clone()
            .unwrap_or_else(|| app.to_owned());
        let mut environment = BTreeMap::new();
        let mut secrets = BTreeMap::new();
        let Some(file) = self
            .ctx
            .rendered
            .files
            .iter()
            .find(|f| f.name == format!("{config_name}.env"))
        else {
            return Ok((environment, secrets));
        };
        for (key, (value, _)) in &file.keys {
            let used: Vec<&String> = env
                .secrets
                .keys()
                .filter(|name| value.contains(&slipway_config::secret_placeholder(name)))
                .collect();
            match used.as_slice() {
                [] => {
                    environment.insert(key.clone(), value.clone());
                }
                [name] if *value == slipway_config::secret_placeholder(name) => {
                    let reference = &env.secrets[name.as_str()];
                    let source = SecretSource::parse(reference).ok_or_else(|| {
                        DeployError::Plan(format!(
                            "secret `{name}` (`{reference}`) cannot reach an ECS task; keep it in ssm: or secretsmanager:"
                        ))
                    })?;
                    let arn = if resolve {
                        self.secrets.arn(&source).await.map_err(|e| {
                            DeployError::Plan(format!(
                                "{}: `{key}` needs secret `{name}`: {e}",
                                file.template.display()
                            ))
                        })?
                    } else {
                        offline_value_from(
                            &source,
                            &self.region,
                            self.target.execution_role_arn.as_deref(),
                        )
                    };
                    secrets.insert(key.clone(), arn);
                }
                names => {
                    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
                    return Err(DeployError::Plan(format!(
                        "{}: `{key}` mixes the secret {} with other text; an ECS task gets a secret as a reference, so it must be a key's whole value: split it, e.g. `{key}_PASSWORD={{{{ secret.{} }}}}`",
                        file.template.display(),
                        names.join(", "),
                        names[0]
                    )));
                }
            }
        }
        Ok((environment, secrets))
    }

    /// The task definition of one app with `image` (pinned by digest).
    async fn task_definition(
        &self,
        app: &str,
        image: &str,
        release: &str,
        resolve_secrets: bool,
    ) -> Result<TaskDefinition> {
        let manifest_app = &self.ctx.manifest.apps[app];
        // Fails closed: an app that reads a secret from a file is never started without it.
        if let Some(refused) = slipway_core::manifest::ecs_secret_file_refusals(
            self.ctx.manifest,
            self.ctx.environment,
        )
        .into_iter()
        .find(|p| p.path.0.get(1) == Some(&slipway_core::manifest::Segment::Key(app.to_owned())))
        {
            return Err(DeployError::Plan(format!(
                "slipway.toml: {}: {}; {}",
                refused.path,
                refused.message,
                refused.help.unwrap_or_default()
            )));
        }
        let settings = self.settings(app);
        let (environment, secrets) = self.environment_of(app, resolve_secrets).await?;
        let health = manifest_app.health.as_ref();
        let health_command = health.and_then(|h| h.cmd.as_ref()).map(|cmd| match cmd {
            CommandLine::Shell(script) => vec!["CMD-SHELL".to_owned(), script.clone()],
            CommandLine::Exec(args) => std::iter::once("CMD".to_owned())
                .chain(args.iter().cloned())
                .collect(),
        });
        let seconds = |d: Option<slipway_core::manifest::Duration>| d.map(|d| d.0.as_secs() as u32);
        let task = AppTask {
            family: settings
                .family
                .clone()
                .unwrap_or_else(|| self.service_name(app)),
            container: app.to_owned(),
            image: image.to_owned(),
            port: manifest_app.port,
            health_command,
            health_interval_s: seconds(health.and_then(|h| h.interval)),
            health_timeout_s: seconds(health.and_then(|h| h.timeout)),
            health_retries: health.and_then(|h| h.retries),
            health_start_period_s: seconds(health.and_then(|h| h.start_period)),
            environment,
            secrets,
            sidecars: manifest_app
                .sidecars
                .iter()
                .map(|(name, sidecar)| SidecarTask {
                    name: name.clone(),
                    image: sidecar.image.clone(),
                    command: sidecar.cmd.as_ref().map(CommandLine::argv),
                    environment: sidecar
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    port: sidecar.port,
                    essential: sidecar.essential,
                })
                .collect(),
            launch_type: self.launch_type(),
            cpu: settings.cpu.clone().or_else(|| self.target.cpu.clone()),
            memory: settings
                .memory
                .clone()
                .or_else(|| self.target.memory.clone()),
            execution_role_arn: self.target.execution_role_arn.clone(),
            task_role_arn: self.target.task_role_arn.clone(),
            log_group: self.target.log_group.clone(),
            region: self.region.clone(),
            tags: BTreeMap::from([
                (
                    "slipway:project".into(),
                    self.ctx.manifest.project.name.clone(),
                ),
                (
                    "slipway:environment".into(),
                    self.ctx.environment.to_owned(),
                ),
                ("slipway:app".into(), app.to_owned()),
                ("slipway:release".into(), release.to_owned()),
            ]),
        };
        Ok(taskdef::render(&task))
    }

    fn registry(&self) -> Result<String> {
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        slipway_oci::app::default_registry(self.ctx.manifest, env.registry.as_deref()).ok_or_else(
            || {
                DeployError::Plan(format!(
                    "ECS pulls images from a registry: set `registry` in [environments.{}] or [project]",
                    self.ctx.environment
                ))
            },
        )
    }

    /// The reference a deploy would use for `app`: `--image` (which must be pinned by digest),
    /// else the local build's place in the environment's registry.
    fn planned_image(&self, app: &str, given: Option<&String>) -> Result<String> {
        if let Some(reference) = given {
            if !reference.contains("@sha256:") {
                return Err(DeployError::Plan(format!(
                    "--image {app}={reference}: ECS deploys pin images by digest; write `{app}=REPOSITORY@sha256:...` (`slipway push` prints it)"
                )));
            }
            return Ok(reference.clone());
        }
        let registry = self.registry()?;
        slipway_oci::app::planned_reference(self.ctx.manifest, app, &self.ctx.store_dir, &registry)
            .map_err(|e| DeployError::Image {
                app: app.to_owned(),
                message: format!("{e}; run `slipway build {app}` first"),
            })
    }

    /// The task definitions a deploy of these apps would register (for `slipway ecs render`).
    /// With `check_secrets`, every secret is looked up in AWS and referenced by its ARN, as a
    /// deploy does; without, nothing is asked of AWS.
    pub async fn render(
        &self,
        apps: &[String],
        images: &BTreeMap<String, String>,
        check_secrets: bool,
    ) -> Result<Vec<(String, TaskDefinition)>> {
        let apps = if apps.is_empty() {
            self.environment_apps()
        } else {
            apps.to_vec()
        };
        let next = self.store.next_id()?;
        let mut out = Vec::new();
        for app in apps {
            let image = self.planned_image(&app, images.get(&app))?;
            out.push((
                app.clone(),
                self.task_definition(&app, &image, &release_name(next), check_secrets)
                    .await?,
            ));
        }
        Ok(out)
    }

    /// What the services run now: app → (service, its task definition), for `slipway ecs diff`.
    pub async fn live_definitions(
        &self,
        apps: &[String],
    ) -> Result<BTreeMap<String, (String, Option<TaskDefinition>)>> {
        let mut out = BTreeMap::new();
        for app in apps {
            let mut candidates = vec![self.service_name(app)];
            candidates.extend(
                COLOURS
                    .iter()
                    .map(|c| format!("{}-{c}", self.service_name(app))),
            );
            let mut found = (self.service_name(app), None);
            for name in candidates {
                if let Some(service) = self.ecs.service(&self.target.cluster, &name).await?
                    && service.desired > 0
                    && let Some(arn) = &service.task_definition
                {
                    found = (name, Some(self.ecs.task_definition(arn).await?));
                    break;
                }
            }
            out.insert(app.clone(), found);
        }
        Ok(out)
    }

    /// What runs for each app: its services (both colours where there are two), their task
    /// definitions, task counts and share of the listener's traffic.
    pub async fn status(&self) -> Result<Vec<AppStatus>> {
        let mut out = Vec::new();
        for app in self.environment_apps() {
            let settings = self.settings(&app);
            let weights = match &settings.listener {
                Some(listener) => self.ecs.weights(listener).await?,
                None => Vec::new(),
            };
            let base = self.service_name(&app);
            let mut services = Vec::new();
            let names = [
                base.clone(),
                format!("{base}-blue"),
                format!("{base}-green"),
            ];
            for (i, name) in names.iter().enumerate() {
                let Some(service) = self.ecs.service(&self.target.cluster, name).await? else {
                    continue;
                };
                let weight = (i > 0)
                    .then(|| settings.target_groups.get(i - 1))
                    .flatten()
                    .and_then(|group| weights.iter().find(|(arn, _)| arn == group))
                    .map(|(_, w)| *w);
                let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
                services.push(ServiceStatus {
                    name: name.clone(),
                    task_definition: service.task_definition.clone(),
                    desired: service.desired,
                    running: service.running,
                    rollout_state: primary.and_then(|p| p.rollout_state.clone()),
                    deployments: service.deployments.len(),
                    weight,
                });
            }
            out.push(AppStatus { app, services });
        }
        Ok(out)
    }

    /// Everything a deploy needs that exists before it: the cluster, listeners, target groups.
    async fn check(&self, strategy: &Strategy, apps: &[String]) -> Result<()> {
        if let Strategy::Recreate { allow_downtime } = strategy
            && !allow_downtime
        {
            return Err(DeployError::Plan(
                "the recreate strategy stops the running release before the new one starts (downtime); set `allow_downtime = true` in the environment's strategy to accept that".into(),
            ));
        }
        if self.native()
            && let Strategy::Canary { steps, .. } = strategy
            && native_canary(steps).is_none()
        {
            return Err(DeployError::Plan(format!(
                "ECS's own canary moves one step then the rest (e.g. [10, 100]) and its linear strategy equal steps (e.g. [25, 50, 75, 100]), not {steps:?}; change the steps or set `deployments = \"slipway\"` in [environments.{}.target]",
                self.ctx.environment
            )));
        }
        self.ecs.check_cluster(&self.target.cluster).await?;
        let two_colours = matches!(
            strategy,
            Strategy::BlueGreen { .. } | Strategy::Canary { .. }
        );
        for app in apps {
            if !self.ctx.manifest.apps.contains_key(app) {
                return Err(DeployError::Plan(format!("no app `{app}` in slipway.toml")));
            }
            let settings = self.settings(app);
            if two_colours {
                let (Some(listener), [_, _]) =
                    (&settings.listener, settings.target_groups.as_slice())
                else {
                    return Err(DeployError::Plan(format!(
                        "the {} strategy on ECS moves traffic between two target groups on an ALB listener: set `listener` and `target_groups = [BLUE_ARN, GREEN_ARN]` in [environments.{}.target.apps.{app}]",
                        strategy.kind(),
                        self.ctx.environment
                    )));
                };
                self.ecs.weights(listener).await?;
            }
            for group in &settings.target_groups {
                self.ecs.check_target_group(group).await?;
            }
        }
        Ok(())
    }

    /// Deploys a new release.
    pub async fn deploy(&self, request: &DeployRequest) -> Result<Release> {
        let _lock = self.lock("deploy")?;
        if request.resume {
            return Err(DeployError::Plan(
                "--resume is for Docker hosts; on ECS an interrupted deploy is restored to the live release by the next deploy, then deploy again".into(),
            ));
        }
        let env = &self.ctx.manifest.environments[self.ctx.environment];
        let strategy = request
            .strategy
            .clone()
            .unwrap_or_else(|| env.strategy.clone());
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
        self.check(&strategy, &deployed).await?;
        self.recover().await?;
        let previous = self.store.live(self.ctx.environment)?;
        let next = self.store.next_id()?;

        // Everything that can fail without touching AWS first: images, secrets, definitions.
        let mut planned = Vec::new();
        for app in &deployed {
            let image = self.planned_image(app, request.images.get(app))?;
            let definition = self
                .task_definition(app, &image, &release_name(next), true)
                .await?;
            planned.push(Planned {
                app: app.clone(),
                entry: ReleaseApp {
                    image: image.clone(),
                    image_id: String::new(),
                    digest: image.split_once('@').map(|(_, d)| d.to_owned()),
                    replicas: self.desired(app) as u32,
                    task_definition: None,
                    service: None,
                },
                definition,
            });
        }
        let registry = self.registry();
        for plan in &mut planned {
            if request.images.contains_key(&plan.app) {
                continue;
            }
            let registry = registry
                .as_ref()
                .map_err(|e| DeployError::Plan(e.to_string()))?;
            self.log(&format!("pushing {} to {registry}", plan.app));
            let pushed = slipway_oci::app::push_app(
                self.ctx.manifest,
                &plan.app,
                &self.ctx.store_dir,
                registry,
                &[],
                &|_, _| {},
            )
            .await
            .map_err(|e| DeployError::Image {
                app: plan.app.clone(),
                message: format!("pushing to `{registry}`: {e}"),
            })?;
            plan.entry.image_id =
                slipway_oci::app::config_digest(self.ctx.manifest, &plan.app, &self.ctx.store_dir)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
            // The registry's own name for it wins over the planned one (they differ only when
            // the registry's URL is written differently in slipway.toml).
            if pushed.reference != plan.entry.image {
                for container in &mut plan.definition.container_definitions {
                    if container.image == plan.entry.image {
                        container.image = pushed.reference.clone();
                    }
                }
                plan.entry.image = pushed.reference.clone();
            }
        }

        let mut apps = BTreeMap::new();
        for app in &all_apps {
            if !deployed.contains(app)
                && let Some(entry) = previous.as_ref().and_then(|p| p.apps.get(app))
            {
                apps.insert(app.clone(), entry.clone());
            }
        }
        for plan in &planned {
            apps.insert(plan.app.clone(), plan.entry.clone());
        }
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
        // Ids are shared by every environment: the tag carries the id `begin` gave.
        for plan in &mut planned {
            for tag in &mut plan.definition.tags {
                if tag.key == "slipway:release" {
                    tag.value = release.name();
                }
            }
        }
        self.log(&format!(
            "release {} of `{}` on ECS cluster {} ({})",
            release.name(),
            self.ctx.environment,
            self.target.cluster,
            strategy.kind()
        ));

        for plan in &planned {
            let arn = self.ecs.register(&plan.definition).await?;
            self.log(&format!("{}: registered {arn}", plan.app));
            let entry = apps
                .get_mut(&plan.app)
                .expect("planned apps are in the release");
            entry.task_definition = Some(arn.clone());
            self.store.record_apps(release.id, &apps)?;
            self.store.journal(
                release.id,
                &slipway_core::plan::Entry::Note {
                    text: format!("registered {} {arn}", plan.app),
                    traffic: false,
                },
            )?;
        }

        let outcome = self
            .roll(&release, &strategy, &planned, &mut apps, previous.as_ref())
            .await;
        match outcome {
            Ok(()) => {
                self.store.record_apps(release.id, &apps)?;
                self.store.make_live(release.id, now())?;
                self.log(&format!("release {} is live", release.name()));
                Ok(self.store.get(release.id)?.expect("the release exists"))
            }
            Err(error) => {
                self.log(&format!(
                    "{}: {error}; restoring the live release",
                    release.name()
                ));
                self.store.record_apps(release.id, &apps)?;
                let restored = match &previous {
                    Some(previous) => {
                        self.activate(previous, &deployed)
                            .await
                            .map_err(|restore| {
                                DeployError::Plan(format!(
                                    "{error}; and restoring {} failed too: {restore}",
                                    previous.name()
                                ))
                            })?;
                        Some(previous.name())
                    }
                    None => {
                        // Nothing to go back to: the services this release started stop
                        // retrying its revisions.
                        self.stand_down(&apps).await;
                        None
                    }
                };
                let had_traffic = self.store.get(release.id)?.is_some_and(|r| {
                    r.journal
                        .iter()
                        .any(slipway_core::plan::Entry::moved_traffic)
                });
                let outcome = if had_traffic {
                    Outcome::RolledBack
                } else {
                    Outcome::Failed
                };
                self.store
                    .finish(release.id, outcome, Some(&error.to_string()), now())?;
                Err(DeployError::RolledBack {
                    release: release.name(),
                    reason: error.to_string(),
                    restored,
                })
            }
        }
    }

    /// Scales to zero every service of these apps that runs one of their new revisions (a
    /// failed first deploy). Best effort: the deploy has already failed.
    async fn stand_down(&self, apps: &BTreeMap<String, ReleaseApp>) {
        for (app, entry) in apps {
            let Some(arn) = &entry.task_definition else {
                continue;
            };
            let base = self.service_name(app);
            for name in [
                base.clone(),
                format!("{base}-blue"),
                format!("{base}-green"),
            ] {
                let Ok(Some(service)) = self.ecs.service(&self.target.cluster, &name).await else {
                    continue;
                };
                if service.task_definition.as_deref() == Some(arn.as_str()) && service.desired > 0 {
                    self.log(&format!("{app}: scaling {name} to 0"));
                    let _ = self
                        .ecs
                        .update_service(&self.target.cluster, &name, None, 0, Rolling::default())
                        .await;
                }
            }
        }
    }

    /// Moves each planned app onto its new task definition with the strategy.
    async fn roll(
        &self,
        release: &Release,
        strategy: &Strategy,
        planned: &[Planned],
        apps: &mut BTreeMap<String, ReleaseApp>,
        previous: Option<&Release>,
    ) -> Result<()> {
        for plan in planned {
            let arn = apps[&plan.app]
                .task_definition
                .clone()
                .expect("registered before rolling");
            let desired = self.desired(&plan.app);
            let service = match strategy {
                Strategy::BlueGreen { .. } | Strategy::Canary { .. } if !self.native() => {
                    self.roll_colours(release, strategy, &plan.app, &arn, desired, previous)
                        .await?
                }
                _ => {
                    let plan_of = self.deployment(strategy, desired);
                    self.roll_one(release, &plan.app, &arn, desired, plan_of)
                        .await?
                }
            };
            apps.get_mut(&plan.app).expect("planned").service = Some(service);
        }
        Ok(())
    }

    /// Whether ECS moves blue-green and canary traffic itself.
    fn native(&self) -> bool {
        self.target.deployments == EcsDeployments::Ecs
    }

    /// How a one-service deployment of `strategy` replaces tasks, with the environment's alarms.
    fn deployment(&self, strategy: &Strategy, desired: i32) -> Rolling {
        let percent = |n: u32| (n as i32 * 100 + desired - 1) / desired;
        let minutes = |d: Option<slipway_core::manifest::Duration>| {
            d.map_or(0, |d| d.0.as_secs().div_ceil(60) as i32)
        };
        let base = Rolling {
            alarms: self.target.alarms.clone(),
            ..Rolling::default()
        };
        match strategy {
            Strategy::Rolling {
                max_surge,
                max_unavailable,
            } => Rolling {
                minimum_healthy_percent: (100 - percent(*max_unavailable)).max(0),
                maximum_percent: 100 + percent(*max_surge).max(1),
                ..base
            },
            Strategy::Recreate { .. } => Rolling {
                minimum_healthy_percent: 0,
                maximum_percent: 100,
                ..base
            },
            Strategy::BlueGreen { .. } | Strategy::Canary { .. } if !self.native() => base,
            Strategy::BlueGreen { bake } => Rolling {
                native: Some(Native::BlueGreen {
                    bake_minutes: minutes(*bake),
                }),
                ..base
            },
            Strategy::Canary { steps, pause, .. } => Rolling {
                native: match native_canary(steps) {
                    Some(NativeCanary::Canary(percent)) => Some(Native::Canary {
                        percent: f64::from(percent),
                        bake_minutes: minutes(*pause),
                    }),
                    Some(NativeCanary::Linear(step)) => Some(Native::Linear {
                        step_percent: f64::from(step),
                        bake_minutes: minutes(*pause),
                    }),
                    // Refused by the manifest check; a plain rolling update otherwise.
                    None => None,
                },
                ..base
            },
        }
    }

    fn give_up(&self, desired: i32) -> i32 {
        desired.max(2)
    }

    /// Rolling and recreate: one service, updated in place (created on the first deploy).
    async fn roll_one(
        &self,
        release: &Release,
        app: &str,
        arn: &str,
        desired: i32,
        rolling: Rolling,
    ) -> Result<String> {
        let name = self.service_name(app);
        let cluster = &self.target.cluster;
        let timeout = self.steady_timeout() + native_duration(rolling.native);
        match self.ecs.service(cluster, &name).await? {
            Some(_) => {
                self.log(&format!("{app}: updating service {name}"));
                self.ecs
                    .update_service(cluster, &name, Some(arn), desired, rolling)
                    .await?;
            }
            None => {
                self.log(&format!("{app}: creating service {name}"));
                let settings = self.settings(app);
                let mut spec = self.service_spec(
                    app,
                    &name,
                    arn,
                    desired,
                    settings.target_groups.first().cloned(),
                );
                if rolling.native.is_some()
                    && let (Some(rule), Some(alternate), Some(role)) = (
                        settings.listener.clone(),
                        settings.target_groups.get(1).cloned(),
                        self.target.load_balancer_role_arn.clone(),
                    )
                {
                    spec.traffic_shift = Some(TrafficShift {
                        alternate_target_group: alternate,
                        production_listener_rule: rule,
                        role_arn: role,
                    });
                }
                self.ecs.create_service(&spec, rolling).await?;
            }
        }
        self.store.journal(
            release.id,
            &slipway_core::plan::Entry::Note {
                text: format!("updated {app} {name}"),
                traffic: true,
            },
        )?;
        self.ecs
            .wait_steady(
                cluster,
                &name,
                arn,
                timeout,
                self.give_up(desired),
                self.ctx.log,
            )
            .await?;
        Ok(name)
    }

    fn service_spec(
        &self,
        app: &str,
        name: &str,
        arn: &str,
        desired: i32,
        target_group: Option<String>,
    ) -> ServiceSpec {
        ServiceSpec {
            cluster: self.target.cluster.clone(),
            name: name.to_owned(),
            task_definition: arn.to_owned(),
            desired,
            launch_type: self.launch_type(),
            subnets: self.target.subnets.clone(),
            security_groups: self.target.security_groups.clone(),
            assign_public_ip: self.target.assign_public_ip,
            load_balancer: target_group.and_then(|group| {
                self.ctx.manifest.apps[app]
                    .port
                    .map(|port| (group, app.to_owned(), port))
            }),
            traffic_shift: None,
            tags: vec![
                (
                    "slipway:project".into(),
                    self.ctx.manifest.project.name.clone(),
                ),
                (
                    "slipway:environment".into(),
                    self.ctx.environment.to_owned(),
                ),
                ("slipway:app".into(), app.to_owned()),
            ],
        }
    }

    /// Which colour has the listener's traffic now (the larger weight), if any.
    async fn live_colour(&self, app: &str) -> Result<Option<usize>> {
        let settings = self.settings(app);
        let listener = settings.listener.as_deref().expect("checked before");
        let weights = self.ecs.weights(listener).await?;
        let weight_of = |i: usize| {
            weights
                .iter()
                .find(|(arn, _)| *arn == settings.target_groups[i])
                .map_or(0, |(_, w)| *w)
        };
        // A colour is live only when its service runs: a new listener forwards to one target
        // group before any service exists.
        let mut running = [false; 2];
        for (colour, name) in COLOURS.iter().enumerate() {
            let service = format!("{}-{name}", self.service_name(app));
            running[colour] = self
                .ecs
                .service(&self.target.cluster, &service)
                .await?
                .is_some_and(|s| s.desired > 0);
        }
        let live_weight = |colour: usize| {
            if running[colour] {
                weight_of(colour)
            } else {
                0
            }
        };
        let (blue, green) = (live_weight(0), live_weight(1));
        Ok(match (blue, green) {
            (0, 0) => None,
            (b, g) if b >= g => Some(0),
            _ => Some(1),
        })
    }

    async fn set_split(&self, app: &str, new_colour: usize, percent: i32) -> Result<()> {
        let settings = self.settings(app);
        let listener = settings.listener.as_deref().expect("checked before");
        let weights = [
            (settings.target_groups[new_colour].clone(), percent),
            (
                settings.target_groups[1 - new_colour].clone(),
                100 - percent,
            ),
        ];
        self.ecs.set_weights(listener, &weights).await?;
        self.log(&format!(
            "{app} traffic: {} {percent}%, {} {}%",
            COLOURS[new_colour],
            COLOURS[1 - new_colour],
            100 - percent
        ));
        Ok(())
    }

    /// Points a colour's service at `arn` with `desired` tasks (creating it the first time) and
    /// waits for its steady state.
    async fn prepare_colour(
        &self,
        app: &str,
        colour: usize,
        arn: &str,
        desired: i32,
    ) -> Result<String> {
        let name = format!("{}-{}", self.service_name(app), COLOURS[colour]);
        let cluster = &self.target.cluster;
        // 100% healthy while replacing: this colour may be the one with the traffic (a
        // rollback to a release that ran on it).
        let rolling = Rolling {
            alarms: self.target.alarms.clone(),
            ..Rolling::default()
        };
        match self.ecs.service(cluster, &name).await? {
            Some(service)
                if service.task_definition.as_deref() == Some(arn)
                    && service.desired == desired => {}
            Some(_) => {
                self.log(&format!("{app}: updating service {name}"));
                self.ecs
                    .update_service(cluster, &name, Some(arn), desired, rolling)
                    .await?;
            }
            None => {
                self.log(&format!("{app}: creating service {name}"));
                let group = self.settings(app).target_groups[colour].clone();
                let spec = self.service_spec(app, &name, arn, desired, Some(group));
                self.ecs.create_service(&spec, rolling).await?;
            }
        }
        self.ecs
            .wait_steady(
                cluster,
                &name,
                arn,
                self.steady_timeout(),
                self.give_up(desired),
                self.ctx.log,
            )
            .await?;
        Ok(name)
    }

    /// Blue-green and canary: the idle colour gets the new release, then the listener's weights
    /// move to it (at once, or in the canary's steps), then the old colour is scaled to zero
    /// after the bake time.
    async fn roll_colours(
        &self,
        release: &Release,
        strategy: &Strategy,
        app: &str,
        arn: &str,
        desired: i32,
        _previous: Option<&Release>,
    ) -> Result<String> {
        let live = self.live_colour(app).await?;
        let new_colour = live.map_or(0, |c| 1 - c);
        let name = self.prepare_colour(app, new_colour, arn, desired).await?;
        self.store.journal(
            release.id,
            &slipway_core::plan::Entry::Note {
                text: format!("started {app} {name}"),
                traffic: false,
            },
        )?;
        match strategy {
            // Nothing live yet: no old release to move traffic from, or to compare with.
            Strategy::Canary { .. } if live.is_none() => {
                self.set_split(app, new_colour, 100).await?;
                self.store.journal(
                    release.id,
                    &slipway_core::plan::Entry::Note {
                        text: format!("switched {app}"),
                        traffic: true,
                    },
                )?;
            }
            Strategy::Canary {
                steps,
                pause,
                max_error_rate,
                max_latency_increase,
            } => {
                let pause = pause.map_or(Duration::from_secs(30), |d| d.0);
                let limits = Limits {
                    error_rate: max_error_rate.map_or(0.01, |p| p.0 / 100.0),
                    latency_increase: max_latency_increase.map(|p| p.0 / 100.0),
                };
                for (i, step) in steps.iter().enumerate() {
                    self.set_split(app, new_colour, i32::from(*step)).await?;
                    let step_started = std::time::SystemTime::now();
                    self.store.journal(
                        release.id,
                        &slipway_core::plan::Entry::Note {
                            text: format!("weighted {app} {step}"),
                            traffic: true,
                        },
                    )?;
                    if i + 1 < steps.len() {
                        tokio::time::sleep(pause).await;
                        self.analyse(app, *step, new_colour, step_started, limits)
                            .await?;
                    }
                }
            }
            _ => {
                self.set_split(app, new_colour, 100).await?;
                self.store.journal(
                    release.id,
                    &slipway_core::plan::Entry::Note {
                        text: format!("switched {app}"),
                        traffic: true,
                    },
                )?;
            }
        }
        if let Some(old) = live {
            if let Strategy::BlueGreen { bake: Some(bake) } = strategy {
                self.log(&format!(
                    "{app}: keeping {} for {}s (an instant rollback meanwhile)",
                    COLOURS[old],
                    bake.0.as_secs()
                ));
                tokio::time::sleep(bake.0).await;
            }
            let old_name = format!("{}-{}", self.service_name(app), COLOURS[old]);
            self.ecs
                .update_service(&self.target.cluster, &old_name, None, 0, Rolling::default())
                .await?;
            self.log(&format!("{app}: scaled {old_name} to 0"));
        }
        Ok(name)
    }

    /// Compares the new colour's errors and latency with the old one's from CloudWatch over the
    /// step's window; a breach fails the deploy (which puts the old colour back).
    async fn analyse(
        &self,
        app: &str,
        step: u8,
        new_colour: usize,
        since: std::time::SystemTime,
        limits: Limits,
    ) -> Result<()> {
        let settings = self.settings(app);
        let groups = &settings.target_groups;
        let listener = settings.listener.as_deref().expect("checked before");
        let until = std::time::SystemTime::now();
        let new = self
            .metrics
            .traffic(listener, &groups[new_colour], since, until)
            .await?;
        let old = self
            .metrics
            .traffic(listener, &groups[1 - new_colour], since, until)
            .await?;
        self.log(&format!(
            "{app} at {step}%: new {} requests, {} errors; old {} requests, {} errors",
            new.requests, new.errors, old.requests, old.errors
        ));
        if new.requests == 0.0 {
            self.log(&format!(
                "{app} at {step}%: CloudWatch has no requests of the new release yet (ALB metrics arrive a minute or more late; a pause of 5m or more gives the analysis data); nothing to compare"
            ));
        }
        if new.requests > 0.0 && new.error_rate() > limits.error_rate {
            return Err(DeployError::Analysis {
                app: app.to_owned(),
                message: format!(
                    "at {step}% the new release's error rate was {:.1}% ({} of {} requests), above {:.1}%",
                    new.error_rate() * 100.0,
                    new.errors,
                    new.requests,
                    limits.error_rate * 100.0
                ),
            });
        }
        if let (Some(limit), Some(old_latency), Some(new_latency)) =
            (limits.latency_increase, old.mean_latency, new.mean_latency)
            && old.requests >= 20.0
            && new.requests >= 20.0
            && new_latency.as_secs_f64() > old_latency.as_secs_f64() * (1.0 + limit)
        {
            return Err(DeployError::Analysis {
                app: app.to_owned(),
                message: format!(
                    "at {step}% the new release's mean response time was {} ms against {} ms, more than {:.0}% slower",
                    new_latency.as_millis(),
                    old_latency.as_millis(),
                    limit * 100.0
                ),
            });
        }
        Ok(())
    }

    /// Makes `release` what runs for `apps`: services back on its task definitions and, with two
    /// colours, the listener back on its colour (one call when that colour still runs it).
    async fn activate(&self, release: &Release, apps: &[String]) -> Result<()> {
        for app in apps {
            let Some(entry) = release.apps.get(app) else {
                continue;
            };
            let (Some(arn), Some(service)) = (&entry.task_definition, &entry.service) else {
                return Err(DeployError::Plan(format!(
                    "{} has no ECS task definition for `{app}`; deploy it again with --image",
                    release.name()
                )));
            };
            let desired = entry.replicas as i32;
            match COLOURS
                .iter()
                .position(|c| service.ends_with(&format!("-{c}")))
            {
                Some(colour) => {
                    self.prepare_colour(app, colour, arn, desired).await?;
                    self.set_split(app, colour, 100).await?;
                    let other = format!("{}-{}", self.service_name(app), COLOURS[1 - colour]);
                    if self
                        .ecs
                        .service(&self.target.cluster, &other)
                        .await?
                        .is_some()
                    {
                        self.ecs
                            .update_service(
                                &self.target.cluster,
                                &other,
                                None,
                                0,
                                Rolling::default(),
                            )
                            .await?;
                    }
                }
                None => {
                    self.log(&format!("{app}: service {service} back to {arn}"));
                    let strategy = &self.ctx.manifest.environments[self.ctx.environment].strategy;
                    let deployment = self.deployment(strategy, desired);
                    let timeout = self.steady_timeout() + native_duration(deployment.native);
                    self.ecs
                        .update_service(
                            &self.target.cluster,
                            service,
                            Some(arn),
                            desired,
                            deployment,
                        )
                        .await?;
                    self.ecs
                        .wait_steady(
                            &self.target.cluster,
                            service,
                            arn,
                            timeout,
                            self.give_up(desired),
                            self.ctx.log,
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A deploy that was interrupted (slipway killed): the live release is restored and the
    /// interrupted one marked failed.
    async fn recover(&self) -> Result<()> {
        for unfinished in self.store.unfinished(self.ctx.environment)? {
            self.log(&format!(
                "{} was interrupted; restoring the live release",
                unfinished.name()
            ));
            if let Some(live) = self.store.live(self.ctx.environment)? {
                let apps: Vec<String> = unfinished.apps.keys().cloned().collect();
                self.activate(&live, &apps).await?;
            }
            self.store.finish(
                unfinished.id,
                Outcome::Failed,
                Some("interrupted; the live release was restored"),
                now(),
            )?;
        }
        Ok(())
    }

    /// Back to the previous live release (or `to`), on the task definitions it registered.
    pub async fn rollback(&self, to: Option<i64>) -> Result<Release> {
        let _lock = self.lock("rollback")?;
        self.recover().await?;
        let (current, target) = self.store.rollback_target(self.ctx.environment, to)?;
        let apps: Vec<String> = target.apps.keys().cloned().collect();
        self.activate(&target, &apps).await?;
        self.store.finish(
            current.id,
            Outcome::RolledBack,
            Some(&format!("rolled back to {}", target.name())),
            now(),
        )?;
        self.store.make_live(target.id, now())?;
        Ok(self.store.get(target.id)?.expect("the release exists"))
    }
}

/// A secret's `valueFrom` without asking AWS: an SSM parameter by its name (ECS takes the name of
/// a parameter in the task's region), a Secrets Manager secret by its partial ARN in the account
/// of the execution role (ECS resolves a partial ARN; the random suffix is not needed).
pub fn offline_value_from(
    source: &SecretSource,
    region: &str,
    execution_role_arn: Option<&str>,
) -> String {
    match source {
        SecretSource::Ssm(name) => name.clone(),
        SecretSource::SecretsManager(name) => {
            let account = execution_role_arn
                .and_then(|arn| arn.split(':').nth(4))
                .filter(|a| !a.is_empty());
            match account {
                Some(account) => format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}"),
                None => name.clone(),
            }
        }
    }
}

#[cfg(test)]
mod offline_tests {
    use super::*;

    #[test]
    fn offline_references_need_no_aws_call() {
        assert_eq!(
            offline_value_from(
                &SecretSource::Ssm("/cruddur/backend-flask/CONNECTION_URL".into()),
                "ca-central-1",
                None
            ),
            "/cruddur/backend-flask/CONNECTION_URL"
        );
        assert_eq!(
            offline_value_from(
                &SecretSource::SecretsManager("shop/stripe".into()),
                "eu-central-1",
                Some("arn:aws:iam::123456789012:role/exec")
            ),
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shop/stripe"
        );
    }
}
