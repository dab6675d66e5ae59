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
    CommandLine, EcsApp, EcsDeployments, EcsTarget, Strategy, Target, native_canary,
};

use slipway_core::plan::{
    self, AppChange, Capabilities, Entry, Incoming, LiveState, Replacement, Runs, Serving,
};

use crate::changes::Deployed;
use crate::execute::{carry_out_all, execute};
use crate::lock::DeployLock;
use crate::rollout::{Context, DeployRequest, config_digest, environment_apps, now, store_path};
use crate::store::{NewRelease, Outcome, Release, ReleaseApp, Store, release_name};
use crate::target::{NoJournal, StoreJournal};
use crate::{DeployError, Result};

/// Reads of a stopped one-off task's stream, 2 s apart, until its last lines are in (or its
/// stream is found not to exist).
pub(crate) const ONE_OFF_DRAIN_READS: usize = 5;

/// The two services of an app under blue-green and canary, by colour.
pub(crate) const COLOURS: [&str; 2] = ["blue", "green"];

/// How long ECS's own strategy holds a deployment before it completes (its bake times).
pub(crate) fn native_duration(native: Option<Native>) -> Duration {
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

/// The deploy engine for one environment on ECS.
pub struct EcsRollout<'a> {
    pub(crate) ctx: Context<'a>,
    pub(crate) target: &'a EcsTarget,
    store: Store,
    pub(crate) ecs: Ecs,
    secrets: Secrets,
    pub(crate) metrics: slipway_aws::metrics::Metrics,
    pub(crate) logs: slipway_aws::logs::Logs,
    pub(crate) scheduler: slipway_aws::scheduler::Scheduler,
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
    /// The app's name in slipway.toml.
    pub app: String,
    /// Its ECS services that exist (one, or blue and green).
    pub services: Vec<ServiceStatus>,
}

/// One ECS service of an app, as ECS describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    /// The service's name in its cluster.
    pub name: String,
    /// The ARN of the task definition its primary deployment runs.
    pub task_definition: Option<String>,
    /// Tasks it should run.
    pub desired: i32,
    /// Tasks that run now.
    pub running: i32,
    /// The primary deployment's rollout state (`IN_PROGRESS`, `COMPLETED`, `FAILED`).
    pub rollout_state: Option<String>,
    /// Deployments under way or still draining; more than one while a rollout runs.
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
    /// Prepares deploys to the ECS environment `ctx` names: loads the AWS configuration and its
    /// region and opens the release history; fails when the environment is not on ECS or has no
    /// region.
    pub async fn new(ctx: Context<'a>) -> Result<EcsRollout<'a>> {
        let Target::Ecs(target) = &ctx
            .manifest
            .environment(ctx.environment)?
            .environment
            .target
        else {
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
            logs: slipway_aws::logs::Logs::new(&config),
            scheduler: slipway_aws::scheduler::Scheduler::new(&config),
            region,
            ctx,
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

    /// The ECS cluster the environment's services run in.
    pub fn cluster(&self) -> &str {
        &self.target.cluster
    }

    /// The environment's AWS region.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn log(&self, line: &str) {
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

    pub(crate) fn settings(&self, app: &str) -> EcsApp {
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

    pub(crate) fn steady_timeout(&self) -> Duration {
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
            stop_timeout_s: manifest_app
                .stop_grace_period
                .map(|grace| grace.0.as_secs_f64().ceil() as u32),
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

    /// Runs `command` as a one-off task of `app`'s live release (its task definition, the
    /// container's command replaced), waits for it to stop and returns its exit code. What the
    /// container writes to CloudWatch Logs goes to `output` as it comes, and the rest once the
    /// task has stopped.
    pub async fn run_one_off(
        &self,
        app: &str,
        command: &[String],
        output: &mut (dyn FnMut(&str) + Send),
    ) -> Result<i64> {
        self.run_live_task(app, command, "slipway run", None, None, output)
            .await
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
        let known = self.environment_apps();
        if let Some(unknown) = apps.iter().find(|app| !known.contains(app)) {
            return Err(DeployError::Plan(format!(
                "`{}` runs no app `{unknown}`; it runs {}",
                self.ctx.environment,
                known.join(", ")
            )));
        }
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
            let settings = self.settings(app);
            let weights = match &settings.listener {
                Some(listener) => self.ecs.weights(listener).await?,
                None => Vec::new(),
            };
            let candidates =
                serving_first(&self.service_name(app), &settings.target_groups, &weights);
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

    /// What a deploy of these apps would change in each one's task definition (for `slipway ecs
    /// diff`): rendered as a deploy renders them (secrets looked up), against what the
    /// services run now.
    pub async fn diff(
        &self,
        apps: &[String],
        images: &BTreeMap<String, String>,
    ) -> Result<Vec<taskdef::AppDiff>> {
        let planned = self.render(apps, images, true).await?;
        let names: Vec<String> = planned.iter().map(|(app, _)| app.clone()).collect();
        let live = self.live_definitions(&names).await?;
        planned
            .into_iter()
            .map(|(app, definition)| {
                let (service, running) = live
                    .get(&app)
                    .cloned()
                    .unwrap_or_else(|| (self.service_name(&app), None));
                taskdef::diff_app(&app, &service, definition, running)
                    .map_err(|e| DeployError::Plan(format!("app `{app}`: {e}")))
            })
            .collect()
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
    pub async fn deploy(&self, request: &DeployRequest) -> Result<Deployed> {
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
                    settings: Some(crate::changes::settings_digest(
                        self.ctx.manifest,
                        self.ctx.environment,
                        app,
                    )),
                },
                definition,
            });
        }
        // The tasks' output needs its group: made to exist before anything else changes.
        self.ensure_log_group().await?;
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

        // An app that is exactly what runs keeps its service and task definition revision.
        let unchanged = crate::changes::unchanged_apps(
            previous.as_ref(),
            !request.apps.is_empty(),
            request.force,
            planned.iter().map(|plan| (plan.app.as_str(), &plan.entry)),
            &self.config_digest(),
        );
        if let Some(live) = &previous
            && !unchanged.is_empty()
        {
            if unchanged.len() == deployed.len() {
                let done =
                    crate::changes::nothing_to_deploy(live, unchanged, &|line| self.log(line));
                // A job may have changed without any app: its schedule is written all the same.
                self.sync_jobs_after(live).await?;
                return Ok(done);
            }
            for app in &unchanged {
                self.log(&format!("{app}: unchanged since {}, kept", live.name()));
            }
            deployed.retain(|app| !unchanged.contains(app));
            planned.retain(|plan| !unchanged.contains(&plan.app));
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
                &Entry::Registered {
                    app: plan.app.clone(),
                    task_definition: arn,
                },
            )?;
        }

        let release = self.store.get(release.id)?.expect("the release exists");
        let live = self
            .live_state(previous.as_ref(), &deployed, &strategy)
            .await?;
        let incoming = self.incoming(&release, &deployed);
        let capabilities = self.capabilities();
        let steps = plan::deploy(&live, &incoming, &strategy, &capabilities)
            .map_err(|e| DeployError::Plan(e.to_string()))?;
        let undo = plan::undo(&live, &incoming, &capabilities);
        let mut releases = vec![&release];
        releases.extend(previous.as_ref());
        let target = crate::ecs_target::EcsTarget::new(self, &releases, Some(&release));
        let journal = StoreJournal {
            store: &self.store,
            release: release.id,
        };
        let outcome = execute(&target, &journal, &steps, &undo).await;
        for (app, service) in target.services_of(&release.name()) {
            if let Some(entry) = apps.get_mut(&app) {
                entry.service = Some(service);
            }
        }
        self.store.record_apps(release.id, &apps)?;
        let failure = match outcome {
            Ok(()) => {
                if !strategy.kind().splits_traffic() || self.native() {
                    self.leave_colours(&deployed).await?;
                }
                let release = self.store.get(release.id)?.expect("the release exists");
                self.sync_jobs_after(&release).await?;
                return Ok(Deployed {
                    release,
                    replaced: deployed,
                    unchanged,
                });
            }
            Err(failure) if failure.live => return Err(failure.error),
            Err(failure) => failure,
        };
        let error = failure.error;
        if let (Some(restore), Some(previous)) = (failure.undo_error, &previous) {
            // Left `deploying`: the next deploy restores the live release again.
            return Err(DeployError::Plan(format!(
                "{error}; and restoring {} failed too: {restore}",
                previous.name()
            )));
        }
        let had_traffic = self
            .store
            .get(release.id)?
            .is_some_and(|r| r.journal.iter().any(Entry::moved_traffic));
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
            restored: previous.map(|p| p.name()),
        })
    }

    /// What the target can do, as a plan sees it.
    pub(crate) fn capabilities(&self) -> Capabilities {
        Capabilities {
            places: vec![self.target.cluster.clone()],
            runs: Runs::Services {
                native: self.native(),
            },
            hooks: false,
        }
    }

    /// What serves each of `apps` now: the live release, where its services run it (with two
    /// colours, only when the listener sends a running colour traffic).
    async fn live_state(
        &self,
        previous: Option<&Release>,
        apps: &[String],
        strategy: &Strategy,
    ) -> Result<LiveState> {
        let mut live = LiveState::default();
        let Some(previous) = previous else {
            return Ok(live);
        };
        let colours = strategy.kind().splits_traffic() && !self.native();
        for app in apps {
            let Some(entry) = previous.apps.get(app) else {
                continue;
            };
            if colours && self.live_colour(app).await?.is_none() {
                // A switch from one service (rolling) to two colours: the service without a
                // colour serves the live release until the new colour takes the traffic, and is
                // scaled to zero after it, like an old colour.
                let base_serves = match &entry.task_definition {
                    Some(arn) => self
                        .ecs
                        .service(&self.target.cluster, &self.service_name(app))
                        .await?
                        .is_some_and(|s| s.desired > 0 && s.task_definition.as_ref() == Some(arn)),
                    None => false,
                };
                if !base_serves {
                    continue;
                }
            }
            live.apps.insert(
                app.clone(),
                Serving {
                    release: previous.name(),
                    replicas: entry.replicas,
                },
            );
        }
        Ok(live)
    }

    /// `apps` of `release` as a plan brings them in.
    fn incoming(&self, release: &Release, apps: &[String]) -> Incoming {
        Incoming {
            release: release.name(),
            apps: apps
                .iter()
                .filter_map(|app| {
                    Some(AppChange {
                        app: app.clone(),
                        replicas: release.apps.get(app)?.replicas.max(1),
                        routed: self.ctx.manifest.apps.get(app)?.port.is_some(),
                    })
                })
                .collect(),
        }
    }

    /// How the environment's own strategy replaces one service's tasks (putting a release
    /// back on a single service).
    pub(crate) fn replacement(&self, desired: u32) -> Replacement {
        let strategy = &self.ctx.manifest.environments[self.ctx.environment].strategy;
        plan::replacement(strategy, desired, self.native())
    }

    /// Whether ECS moves blue-green and canary traffic itself.
    fn native(&self) -> bool {
        self.target.deployments == EcsDeployments::Ecs
    }

    pub(crate) fn give_up(&self, desired: i32) -> i32 {
        desired.max(2)
    }

    /// One service per app, pointed at `arn` (created on the first deploy, with ECS's traffic
    /// shift when its own strategy moves the traffic); the caller follows it to a steady state.
    pub(crate) async fn update_one(
        &self,
        app: &str,
        arn: &str,
        desired: i32,
        rolling: Rolling,
    ) -> Result<String> {
        let name = self.service_name(app);
        let cluster = &self.target.cluster;
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
    pub(crate) async fn live_colour(&self, app: &str) -> Result<Option<usize>> {
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

    pub(crate) async fn set_split(&self, app: &str, new_colour: usize, percent: i32) -> Result<()> {
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

    /// After a deploy on one service (a switch from `blue-green` or `canary` to `rolling`): the
    /// listener sends all of each app's traffic to the service's target group, and the colours'
    /// services, which served before, are scaled to zero (kept, so a rollback can use them).
    async fn leave_colours(&self, apps: &[String]) -> Result<()> {
        for app in apps {
            let settings = self.settings(app);
            if let (Some(listener), Some(group)) =
                (settings.listener.as_deref(), settings.target_groups.first())
            {
                let weights = self.ecs.weights(listener).await?;
                if weights
                    .iter()
                    .any(|(arn, weight)| arn != group && *weight > 0)
                {
                    let mut all_on_one = vec![(group.clone(), 100)];
                    all_on_one.extend(
                        weights
                            .iter()
                            .filter(|(arn, _)| arn != group)
                            .map(|(arn, _)| (arn.clone(), 0)),
                    );
                    self.ecs.set_weights(listener, &all_on_one).await?;
                    self.log(&format!("{app} traffic: all on {}", self.service_name(app)));
                }
            }
            for colour in COLOURS {
                let name = format!("{}-{colour}", self.service_name(app));
                if let Some(service) = self.ecs.service(&self.target.cluster, &name).await?
                    && service.desired > 0
                {
                    self.ecs
                        .update_service(&self.target.cluster, &name, None, 0, Rolling::default())
                        .await?;
                    self.log(&format!("{app}: scaled {name} to 0"));
                }
            }
        }
        Ok(())
    }

    /// Points a colour's service at `arn` with `desired` tasks (creating it the first time);
    /// the caller follows it to a steady state.
    pub(crate) async fn point_colour(
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
        Ok(name)
    }

    /// A deploy that was interrupted (slipway killed): the undo plan puts the live release
    /// back and the interrupted one is marked failed.
    async fn recover(&self) -> Result<()> {
        for unfinished in self.store.unfinished(self.ctx.environment)? {
            self.log(&format!(
                "{} was interrupted; restoring the live release",
                unfinished.name()
            ));
            if let Some(live) = self.store.live(self.ctx.environment)? {
                let apps: Vec<String> = unfinished.apps.keys().cloned().collect();
                let undo = plan::undo(
                    &serving(&live, &apps),
                    &self.incoming(&unfinished, &apps),
                    &self.capabilities(),
                );
                let target = crate::ecs_target::EcsTarget::new(self, &[&live, &unfinished], None);
                carry_out_all(&target, &undo).await?;
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
        let steps = plan::rollback(
            &serving(&current, &apps),
            &self.incoming(&target, &apps),
            &self.capabilities(),
        );
        let services = crate::ecs_target::EcsTarget::new(self, &[&current, &target], None);
        let nothing = plan::Plan { steps: Vec::new() };
        execute(&services, &NoJournal, &steps, &nothing)
            .await
            .map_err(|failure| failure.error)?;
        self.store.finish(
            current.id,
            Outcome::RolledBack,
            Some(&format!("rolled back to {}", target.name())),
            now(),
        )?;
        self.store.make_live(target.id, now())?;
        let live = self.store.get(target.id)?.expect("the release exists");
        self.sync_jobs_after(&live).await?;
        Ok(live)
    }
}

/// What `release` serves of `apps`, as a plan sees it.
fn serving(release: &Release, apps: &[String]) -> LiveState {
    LiveState {
        apps: apps
            .iter()
            .filter_map(|app| {
                let entry = release.apps.get(app)?;
                Some((
                    app.clone(),
                    Serving {
                        release: release.name(),
                        replicas: entry.replicas,
                    },
                ))
            })
            .collect(),
    }
}

/// The services that may run an app, the one serving it first: with two colours, the colour
/// whose target group the listener gives the most traffic (a colour with none comes after the
/// service without a colour, which a switch from `rolling` may have left running); otherwise
/// the service without a colour, then blue, then green.
pub(crate) fn serving_first(
    base: &str,
    target_groups: &[String],
    weights: &[(String, i32)],
) -> Vec<String> {
    let weight_of = |index: usize| {
        target_groups
            .get(index)
            .and_then(|group| weights.iter().find(|(arn, _)| arn == group))
            .map_or(0, |(_, weight)| *weight)
    };
    let mut coloured: Vec<(i32, String)> = COLOURS
        .iter()
        .enumerate()
        .map(|(index, colour)| (weight_of(index), format!("{base}-{colour}")))
        .collect();
    // Stable: equal weights keep blue before green.
    coloured.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
    let mut order = Vec::new();
    order.extend(
        coloured
            .iter()
            .filter(|(weight, _)| *weight > 0)
            .map(|(_, name)| name.clone()),
    );
    order.push(base.to_owned());
    order.extend(
        coloured
            .iter()
            .filter(|(weight, _)| *weight <= 0)
            .map(|(_, name)| name.clone()),
    );
    order
}

/// A secret's `valueFrom` without asking AWS, as a full ARN in the account of the execution role
/// (what IAM policies name and what a deploy, which asks AWS, writes too, so `ecs diff` shows no
/// difference between them): an SSM parameter's ARN, a Secrets Manager secret's partial ARN
/// (ECS resolves it; the random suffix is not needed). Without an execution role the name.
pub fn offline_value_from(
    source: &SecretSource,
    region: &str,
    execution_role_arn: Option<&str>,
) -> String {
    let account = execution_role_arn
        .and_then(|arn| arn.split(':').nth(4))
        .filter(|a| !a.is_empty());
    match (source, account) {
        (SecretSource::Ssm(name), Some(account)) => format!(
            "arn:aws:ssm:{region}:{account}:parameter/{}",
            name.trim_start_matches('/')
        ),
        (SecretSource::SecretsManager(name), Some(account)) => {
            format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}")
        }
        (SecretSource::Ssm(name) | SecretSource::SecretsManager(name), None) => name.clone(),
    }
}

#[cfg(test)]
mod offline_tests {
    use super::*;

    #[test]
    fn the_colour_the_listener_serves_is_read_first() {
        let groups = ["tg-blue".to_owned(), "tg-green".to_owned()];
        let names = |weights: &[(&str, i32)]| {
            let weights: Vec<(String, i32)> = weights
                .iter()
                .map(|(arn, weight)| ((*arn).to_owned(), *weight))
                .collect();
            serving_first("shop-prod-api", &groups, &weights)
        };
        assert_eq!(
            names(&[("tg-blue", 0), ("tg-green", 100)]),
            ["shop-prod-api-green", "shop-prod-api", "shop-prod-api-blue"]
        );
        assert_eq!(
            names(&[("tg-blue", 90), ("tg-green", 10)]),
            ["shop-prod-api-blue", "shop-prod-api-green", "shop-prod-api"]
        );
        // No listener (or no weights): the service without a colour, then blue, then green.
        assert_eq!(
            names(&[]),
            ["shop-prod-api", "shop-prod-api-blue", "shop-prod-api-green"]
        );
    }

    #[test]
    fn offline_references_need_no_aws_call() {
        assert_eq!(
            offline_value_from(
                &SecretSource::Ssm("/cruddur/backend-flask/CONNECTION_URL".into()),
                "ca-central-1",
                None
            ),
            "/cruddur/backend-flask/CONNECTION_URL",
            "without an account the name is all there is"
        );
        assert_eq!(
            offline_value_from(
                &SecretSource::Ssm("/cruddur/backend-flask/CONNECTION_URL".into()),
                "ca-central-1",
                Some("arn:aws:iam::123456789012:role/exec")
            ),
            "arn:aws:ssm:ca-central-1:123456789012:parameter/cruddur/backend-flask/CONNECTION_URL"
        );
        assert_eq!(
            offline_value_from(
                &SecretSource::Ssm("plain-name".into()),
                "ca-central-1",
                Some("arn:aws:iam::123456789012:role/exec")
            ),
            "arn:aws:ssm:ca-central-1:123456789012:parameter/plain-name"
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
