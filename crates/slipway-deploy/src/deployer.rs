//! One front for both targets, so a command deploys, rolls back and reports without asking
//! which target an environment has: the Docker hosts' [`Rollout`] or ECS's [`EcsRollout`].
//! Also what the commands show of releases (the history table, status lines, a
//! notification's facts) and the parsing of their arguments.

use std::collections::BTreeMap;

use serde::Serialize;
use slipway_core::manifest::Target;
use slipway_core::terminal::printable;

use crate::ecs::{AppStatus, EcsRollout};
use crate::live::LiveContainer;
use crate::rollout::{Context, DeployRequest, Rollout};
use crate::status::HostStatus;
use crate::store::Release;
use crate::{DeployError, Result};

/// The deploy engine of one environment, whichever its target.
#[derive(Debug)]
pub enum Deployer<'a> {
    /// Docker hosts behind slipway's proxy.
    Docker(Box<Rollout<'a>>),
    /// Amazon ECS.
    Ecs(Box<EcsRollout<'a>>),
}

/// What runs in an environment (`slipway status`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Status {
    /// On Docker hosts.
    Docker {
        /// The live release in the history (none when only the hosts were read).
        live: Option<Release>,
        /// Where the apps answer.
        url: String,
        /// Each host's containers, weights and counters.
        hosts: Vec<HostStatus>,
    },
    /// On ECS.
    Ecs {
        /// The live release in the history (none when only the services were read).
        live: Option<Release>,
        /// The cluster.
        cluster: String,
        /// Each app's services.
        apps: Vec<AppStatus>,
    },
}

impl<'a> Deployer<'a> {
    /// Connects to the environment's target (its hosts; the AWS configuration).
    pub async fn connect(ctx: Context<'a>) -> Result<Deployer<'a>> {
        Ok(match &ctx.manifest.environment(ctx.environment)?.target {
            Target::Ecs(_) => Deployer::Ecs(Box::new(EcsRollout::new(ctx).await?)),
            Target::Docker { .. } => Deployer::Docker(Box::new(Rollout::new(ctx).await?)),
        })
    }

    /// The containers of the live release on the environment's hosts (of `app` only, when
    /// given). On ECS: an error that says what to use instead.
    pub async fn live_containers(&self, app: Option<&str>) -> Result<Vec<LiveContainer>> {
        let rollout = match self {
            Deployer::Docker(rollout) => rollout,
            Deployer::Ecs(rollout) => {
                let cluster = rollout.cluster();
                let environment = rollout.environment();
                let app = app.unwrap_or("APP");
                return Err(DeployError::Plan(format!(
                    "`{environment}` runs on ECS: enter a task with `aws ecs execute-command --cluster {cluster} --task TASK --container {app} --interactive --command /bin/sh` (the service needs enableExecuteCommand); `slipway logs {environment} {app}` reads its output, `slipway run {environment} {app} -- CMD` runs a command in a task of its own"
                )));
            }
        };
        let environment = rollout.environment().to_owned();
        let live = crate::live::live_running(rollout.store(), &environment, app)?;
        let statuses = crate::status::on_hosts(
            rollout.hosts(),
            rollout.proxy_plan(),
            rollout.manifest(),
            &environment,
        )
        .await?;
        Ok(crate::live::select(&statuses, &live, app))
    }

    /// Runs `command` in a running container of `app`'s live release (on the first host that
    /// has one) and returns which container it ran in, with its exit code and output.
    pub async fn exec(
        &self,
        app: &str,
        command: &[String],
    ) -> Result<(LiveContainer, slipway_docker::Finished)> {
        let containers = self.live_containers(Some(app)).await?;
        let Deployer::Docker(rollout) = self else {
            unreachable!("live_containers refuses ECS");
        };
        let Some(container) = containers.into_iter().find(|c| c.running) else {
            return Err(DeployError::Plan(format!(
                "no container of `{app}` of the live release is running on any host of `{}`: see `slipway status {}`",
                rollout.environment(),
                rollout.environment()
            )));
        };
        let finished = rollout.hosts()[container.host_index]
            .engine
            .exec(&container.container, command)
            .await?;
        Ok((container, finished))
    }

    /// Runs `command` to its end in a fresh container of `app`'s live release: its image and
    /// config, made like one of its running containers on the first host that has one, on the
    /// environment's internal network (its services) and taking no traffic. Its output goes to
    /// `output` as it comes; the container is removed and its exit code returned. On ECS: a
    /// one-off task of the live task definition (RunTask), its output read from CloudWatch Logs.
    pub async fn run(
        &self,
        app: &str,
        command: &[String],
        output: &mut (dyn FnMut(&str) + Send),
    ) -> Result<i64> {
        if let Deployer::Ecs(rollout) = self {
            return rollout.run_one_off(app, command, output).await;
        }
        let containers = self.live_containers(Some(app)).await?;
        let Deployer::Docker(rollout) = self else {
            unreachable!("live_containers refuses ECS");
        };
        let environment = rollout.environment();
        let Some(template) = containers.into_iter().find(|c| c.running) else {
            return Err(DeployError::Plan(format!(
                "no container of `{app}` of the live release is running on any host of `{environment}`: see `slipway status {environment}`"
            )));
        };
        let manifest = rollout.manifest();
        let name = format!(
            "{}-run-{}-{}",
            template.container,
            std::process::id(),
            slipway_core::time::now()
        );
        let labels = std::collections::HashMap::from([
            (
                slipway_docker::environment::LABEL_PROJECT.to_owned(),
                manifest.project.name.clone(),
            ),
            (
                slipway_docker::environment::LABEL_ENVIRONMENT.to_owned(),
                environment.to_owned(),
            ),
            ("dev.slipway.one-off".to_owned(), app.to_owned()),
        ]);
        let code = rollout.hosts()[template.host_index]
            .engine
            .run_like(
                &template.container,
                &name,
                &slipway_docker::environment::internal_network(manifest, environment),
                command,
                labels,
                output,
            )
            .await?;
        Ok(code)
    }

    /// The logs of the live release's containers on every host (of `app` only, when given):
    /// the last `tail` lines of each (of those written from `since`, Unix seconds, when given), then,
    /// with `follow`, what they write until they stop. Each line goes to `line` with its label,
    /// `host/container`. On ECS: the live release's tasks' streams in CloudWatch Logs, merged
    /// in time order and labelled `TASK/CONTAINER`.
    pub async fn logs(
        &self,
        app: Option<&str>,
        since: Option<i64>,
        tail: usize,
        follow: bool,
        line: &mut (dyn FnMut(&str, &str) + Send),
    ) -> Result<()> {
        if let Deployer::Ecs(rollout) = self {
            return rollout.logs(app, since, tail, follow, line).await;
        }
        let since = since.map(|at| at.max(0) as u64);
        let containers = self.live_containers(app).await?;
        let Deployer::Docker(rollout) = self else {
            unreachable!("live_containers refuses ECS");
        };
        let label = |c: &LiveContainer| format!("{}/{}", c.host, c.container);
        if !follow {
            for container in &containers {
                let engine = &rollout.hosts()[container.host_index].engine;
                let label = label(container);
                for text in engine
                    .logs_since(&container.container, tail, since)
                    .await
                    .lines()
                {
                    line(&label, text);
                }
            }
            return Ok(());
        }
        // Every host is followed at once; their lines meet in one channel.
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        let follows: Vec<_> = rollout
            .hosts()
            .iter()
            .enumerate()
            .map(|(index, host)| {
                let listed: Vec<(String, String)> = containers
                    .iter()
                    .filter(|c| c.host_index == index)
                    .map(|c| (c.container.clone(), label(c)))
                    .collect();
                let sender = sender.clone();
                async move {
                    if listed.is_empty() {
                        return Ok(());
                    }
                    let mut send = |label: &str, text: &str| {
                        let _ = sender.send((label.to_owned(), text.to_owned()));
                    };
                    host.engine
                        .follow_logs(&listed, tail, since, &mut send)
                        .await
                }
            })
            .collect();
        drop(sender);
        let printed = async {
            while let Some((label, text)) = receiver.recv().await {
                line(&label, &text);
            }
        };
        let (results, ()) = tokio::join!(futures_util::future::join_all(follows), printed);
        for result in results {
            result?;
        }
        Ok(())
    }

    /// The environment's hosts, or an error saying `what` needs Docker hosts.
    fn docker_hosts(&self, what: &str) -> Result<&Rollout<'a>> {
        match self {
            Deployer::Docker(rollout) => Ok(rollout),
            Deployer::Ecs(rollout) => Err(DeployError::Plan(format!(
                "`{}` runs on ECS: {what} is for environments on Docker hosts behind slipway's proxy",
                rollout.environment()
            ))),
        }
    }

    /// Maintenance on: every host's proxy answers the environment's routes (or one app's) with
    /// 503 and the message, until [`Deployer::maintenance_off`]. Returns what each host then
    /// has in maintenance.
    pub async fn maintenance_on(
        &self,
        request: &crate::maintenance::TurnOn,
    ) -> Result<Vec<crate::maintenance::HostMaintenance>> {
        let rollout = self.docker_hosts("maintenance mode")?;
        let (manifest, environment) = (rollout.manifest(), rollout.environment());
        let maintenance = crate::maintenance::settings(
            manifest,
            rollout.root(),
            environment,
            request,
            slipway_core::time::now(),
        )?;
        let command = slipway_proxy::admin::Command::MaintenanceOn {
            scope: crate::maintenance::scope(manifest, environment, request.app.as_deref()),
            maintenance,
        };
        crate::maintenance::apply(rollout.hosts(), manifest, environment, &command).await
    }

    /// Maintenance off: the environment's routes are forwarded again (`app`: only that app's
    /// own maintenance ends; without it, the environment's and every app's).
    pub async fn maintenance_off(
        &self,
        app: Option<&str>,
    ) -> Result<Vec<crate::maintenance::HostMaintenance>> {
        let rollout = self.docker_hosts("maintenance mode")?;
        let (manifest, environment) = (rollout.manifest(), rollout.environment());
        let command = slipway_proxy::admin::Command::MaintenanceOff {
            scope: crate::maintenance::scope(manifest, environment, app),
            within: app.is_none(),
        };
        crate::maintenance::apply(rollout.hosts(), manifest, environment, &command).await
    }

    /// The proxy's access log of the environment's requests on every host: the last `tail`
    /// lines of each host since `since` (Unix seconds), then with `follow` each new one. Each
    /// line goes to `line` with its host's name.
    pub async fn proxy_logs(
        &self,
        since: Option<i64>,
        tail: usize,
        follow: bool,
        line: &mut (dyn FnMut(&str, &str) + Send),
    ) -> Result<()> {
        let rollout = self.docker_hosts("the proxy's access log")?;
        crate::proxy_log::read(
            rollout.hosts(),
            &rollout.manifest().project.name,
            rollout.environment(),
            since,
            tail,
            follow,
            line,
        )
        .await
    }

    /// Where the apps run, for people: a URL, or the ECS cluster.
    pub fn place(&self) -> String {
        match self {
            Deployer::Docker(rollout) => rollout.url(),
            Deployer::Ecs(rollout) => format!("ECS cluster {}", rollout.cluster()),
        }
    }

    /// Deploys a release; it is live, and the environment's scheduled jobs run from it, when
    /// this returns.
    pub async fn deploy(&mut self, request: &DeployRequest) -> Result<crate::changes::Deployed> {
        let deployed = match self {
            Deployer::Docker(rollout) => rollout.deploy(request).await?,
            Deployer::Ecs(rollout) => rollout.deploy(request).await?,
        };
        self.install_jobs(&deployed.release).await?;
        Ok(deployed)
    }

    /// Back to the previous live release, or `to`; the scheduled jobs follow it.
    pub async fn rollback(&mut self, to: Option<i64>) -> Result<Release> {
        let release = match self {
            Deployer::Docker(rollout) => rollout.rollback(to).await?,
            Deployer::Ecs(rollout) => rollout.rollback(to).await?,
        };
        self.install_jobs(&release).await?;
        Ok(release)
    }

    /// Points the environment's scheduled jobs at `live`: the runner on Docker hosts. A failure
    /// says that the release is live all the same.
    async fn install_jobs(&self, live: &Release) -> Result<()> {
        let lookup = |var: &str| std::env::var(var).ok();
        let lines = match self {
            Deployer::Docker(rollout) => rollout.sync_jobs(live, &lookup).await,
            Deployer::Ecs(_) => Ok(Vec::new()),
        }
        .map_err(|error| {
            DeployError::Plan(format!(
                "{} is live, but its scheduled jobs could not be installed: {error}",
                live.name()
            ))
        })?;
        let log = match self {
            Deployer::Docker(rollout) => rollout.ctx.log,
            Deployer::Ecs(rollout) => rollout.ctx.log,
        };
        for line in lines {
            log(&line);
        }
        Ok(())
    }

    /// The environment's scheduled jobs with their next and last runs.
    pub async fn jobs(&self) -> Result<Vec<crate::jobs::JobRow>> {
        match self {
            Deployer::Docker(rollout) => rollout.job_rows().await,
            Deployer::Ecs(rollout) => rollout.jobs().await,
        }
    }

    /// The recorded runs of a scheduled job, oldest first (Docker hosts: the runner keeps them).
    pub async fn job_runs(&self, job: &str) -> Result<Vec<crate::jobs::RunRecord>> {
        match self {
            Deployer::Docker(rollout) => Ok(rollout
                .runner_status()
                .await?
                .map(|status| {
                    status
                        .records
                        .into_iter()
                        .filter(|r| r.job == job)
                        .collect()
                })
                .unwrap_or_default()),
            Deployer::Ecs(_) => Err(DeployError::Plan(
                "on ECS a job's runs are ECS tasks: read their output with `slipway logs ENV APP`"
                    .into(),
            )),
        }
    }

    /// Runs a scheduled job now, as its schedule would; its record once it ended.
    pub async fn run_job(&self, job: &str) -> Result<crate::jobs::RunRecord> {
        let known: Vec<&String> = crate::jobs::jobs_of(self.manifest(), self.environment())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        if !known.iter().any(|name| *name == job) {
            let environment = self.environment();
            return Err(DeployError::Plan(
                match slipway_core::suggest::did_you_mean(job, known.iter().map(|s| s.as_str())) {
                    Some(hint) => format!("no job `{job}` runs in `{environment}`: {hint}"),
                    None if known.is_empty() => {
                        format!("no job runs in `{environment}`: add a [jobs.NAME] to slipway.toml")
                    }
                    None => format!(
                        "no job `{job}` runs in `{environment}`; its jobs: {}",
                        known
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            ));
        }
        match self {
            Deployer::Docker(rollout) => rollout.run_job(job).await,
            Deployer::Ecs(rollout) => {
                // The task's output is its record's, as the runner keeps it on Docker hosts.
                let started_at = crate::rollout::now();
                let mut output = String::new();
                let code = rollout
                    .run_job(job, &mut |chunk: &str| output.push_str(chunk))
                    .await;
                let finished_at = Some(crate::rollout::now());
                let release = rollout
                    .store()
                    .live(rollout.environment())?
                    .map(|r| r.name())
                    .unwrap_or_default();
                let (outcome, exit_code, reason) = match code {
                    Ok(0) => (crate::jobs::Outcome::Succeeded, Some(0), None),
                    Ok(code) => (
                        crate::jobs::Outcome::Failed,
                        Some(code),
                        Some(format!("it exited with {code}")),
                    ),
                    Err(error) => (crate::jobs::Outcome::Failed, None, Some(error.to_string())),
                };
                Ok(crate::jobs::RunRecord {
                    id: format!("{job}-m{started_at}"),
                    job: job.to_owned(),
                    trigger: crate::jobs::Trigger::Manual,
                    started_at,
                    finished_at,
                    outcome,
                    exit_code,
                    release,
                    reason,
                    output,
                })
            }
        }
    }

    fn manifest(&self) -> &slipway_core::Manifest {
        match self {
            Deployer::Docker(rollout) => rollout.manifest(),
            Deployer::Ecs(rollout) => rollout.ctx.manifest,
        }
    }

    fn environment(&self) -> &str {
        match self {
            Deployer::Docker(rollout) => rollout.environment(),
            Deployer::Ecs(rollout) => rollout.environment(),
        }
    }

    /// What runs now. `from_target_only` skips the history (and the recovery of an interrupted
    /// deploy a Docker status otherwise does when no deploy is running).
    pub async fn status(&mut self, from_target_only: bool) -> Result<Status> {
        match self {
            Deployer::Docker(rollout) => {
                let environment = rollout.environment().to_owned();
                let live = if from_target_only {
                    None
                } else {
                    rollout.recover_if_idle().await?;
                    rollout.store().live(&environment)?
                };
                let hosts = crate::status::on_hosts(
                    rollout.hosts(),
                    rollout.proxy_plan(),
                    rollout.manifest(),
                    &environment,
                )
                .await?;
                Ok(Status::Docker {
                    live,
                    url: rollout.url(),
                    hosts,
                })
            }
            Deployer::Ecs(rollout) => {
                let live = if from_target_only {
                    None
                } else {
                    rollout.store().live(rollout.environment())?
                };
                Ok(Status::Ecs {
                    live,
                    cluster: rollout.cluster().to_owned(),
                    apps: rollout.status().await?,
                })
            }
        }
    }
}

/// `--image APP=REF` arguments as app → reference.
pub fn parse_images(items: &[String]) -> Result<BTreeMap<String, String>> {
    parse_images_like(items, "127.0.0.1:5000/shop/api@sha256:...")
}

/// [`parse_images`], with `example` as the reference an error shows (an ECR repository for the
/// ECS commands).
pub fn parse_images_like(items: &[String], example: &str) -> Result<BTreeMap<String, String>> {
    let mut images = BTreeMap::new();
    for item in items {
        let Some((app, reference)) = item.split_once('=') else {
            return Err(DeployError::Plan(format!(
                "--image {item}: write APP=REF, e.g. api={example}"
            )));
        };
        images.insert(app.to_owned(), reference.to_owned());
    }
    Ok(images)
}

/// A release as people write it (`r12`, or `12`) as its id.
pub fn parse_release_id(text: &str) -> Result<i64> {
    text.trim_start_matches('r').parse().map_err(|_| {
        DeployError::Plan(format!(
            "`{text}` is not a release: write it as `slipway releases` shows it, e.g. r12"
        ))
    })
}

/// What a notification says of a release: its id, strategy, who started it, where, each
/// app's image.
pub fn release_facts(release: &Release, place: &str) -> Vec<(String, String)> {
    let mut facts = vec![
        ("release".to_owned(), release.name()),
        ("strategy".to_owned(), release.strategy.name().to_owned()),
        ("by".to_owned(), release.started_by.clone()),
    ];
    if !place.is_empty() {
        facts.push(("where".to_owned(), place.to_owned()));
    }
    for (app, entry) in &release.apps {
        facts.push((app.clone(), entry.image.clone()));
    }
    facts
}

fn when(epoch: i64) -> String {
    slipway_core::time::rfc3339(epoch.max(0) as u64)
}

/// The release history as a table, newest first (outside text made printable).
pub fn releases_table(environment: &str, releases: &[Release]) -> String {
    let mut out = String::new();
    if releases.is_empty() {
        out.push_str(&format!(
            "no releases of `{environment}` yet: `slipway deploy {environment}` makes the first\n"
        ));
    }
    out.push_str(&format!(
        "{:<6} {:<12} {:<11} {:<21} {:<24} NOTE\n",
        "ID", "OUTCOME", "STRATEGY", "STARTED", "BY"
    ));
    for r in releases {
        out.push_str(&format!(
            "{:<6} {:<12} {:<11} {:<21} {:<24} {}\n",
            r.name(),
            r.outcome.as_str(),
            r.strategy.name(),
            when(r.started_at),
            printable(&r.started_by),
            printable(r.note.as_deref().unwrap_or("").lines().next().unwrap_or(""))
        ));
    }
    out
}

/// `slipway status` as text: the live release, then what runs where.
pub fn status_text(environment: &str, status: &Status, from_target_only: bool) -> String {
    let live_line = |live: Option<&Release>, place: &str| match live {
        Some(release) => format!(
            "`{environment}`: {} is live (since {}, by {}) {place}\n",
            release.name(),
            when(release.finished_at.unwrap_or(release.started_at)),
            printable(&release.started_by)
        ),
        None if !from_target_only => format!("`{environment}`: no live release\n"),
        None => String::new(),
    };
    let mut out = String::new();
    match status {
        Status::Docker { live, url, hosts } => {
            out.push_str(&live_line(live.as_ref(), &format!("at {url}")));
            for host in hosts {
                out.push_str(&format!(
                    "host {} ({}){}\n",
                    host.host,
                    host.url,
                    if host.proxy {
                        ""
                    } else {
                        " (proxy not answering)"
                    }
                ));
                for state in &host.maintenance {
                    out.push_str(&format!(
                        "  {}\n",
                        crate::maintenance::state_line(environment, state)
                    ));
                }
                for certificate in &host.certificates {
                    out.push_str(&format!("  {}\n", crate::tls::state_line(certificate)));
                }
                for (app, releases) in &host.apps {
                    for r in releases {
                        let weight = r.weight.map_or("-".to_owned(), |w| format!("{w}"));
                        let states: Vec<String> = r
                            .containers
                            .iter()
                            .map(|c| format!("{} {}", c.name, c.status))
                            .collect();
                        out.push_str(&format!(
                            "  {app:<10} {:<5} weight {weight:<4} {} requests, {} errors  {}\n",
                            r.release,
                            r.requests,
                            r.errors,
                            states.join("; ")
                        ));
                    }
                }
            }
        }
        Status::Ecs {
            live,
            cluster,
            apps,
        } => {
            out.push_str(&live_line(
                live.as_ref(),
                &format!("on ECS cluster {cluster}"),
            ));
            for app in apps {
                if app.services.is_empty() {
                    out.push_str(&format!("  {:<10} no service yet\n", app.app));
                }
                for service in &app.services {
                    let revision = service
                        .task_definition
                        .as_deref()
                        .and_then(|t| t.rsplit('/').next())
                        .unwrap_or("-");
                    let weight = service
                        .weight
                        .map_or(String::new(), |w| format!(", weight {w}"));
                    let rollout = service.rollout_state.as_deref().map_or(String::new(), |s| {
                        format!(", {}", s.to_lowercase().replace('_', " "))
                    });
                    out.push_str(&format!(
                        "  {:<10} {} on {revision}: {}/{} running{rollout}{weight}\n",
                        app.app, service.name, service.running, service.desired
                    ));
                }
            }
        }
    }
    out
}

/// A notification's title and facts.
pub type Notice = (String, Vec<(String, String)>);

/// What is announced when a release went live.
pub fn deployed_notice(project: &str, environment: &str, release: &Release, place: &str) -> Notice {
    (
        format!(
            "{project}: release {} of `{environment}` is live",
            release.name()
        ),
        release_facts(release, place),
    )
}

/// What is announced when a deploy was rolled back automatically (`None` for a failure that
/// stopped before traffic moved, which is not news).
pub fn rolled_back_notice(project: &str, environment: &str, error: &DeployError) -> Option<Notice> {
    let DeployError::RolledBack {
        release,
        reason,
        restored,
    } = error
    else {
        return None;
    };
    let live = restored.clone().unwrap_or_else(|| "nothing".into());
    Some((
        format!("{project}: release {release} of `{environment}` was rolled back"),
        vec![("why".into(), reason.clone()), ("live".into(), live)],
    ))
}

/// What is announced when `slipway rollback` put an earlier release back.
pub fn rollback_notice(project: &str, environment: &str, release: &Release) -> Notice {
    (
        format!(
            "{project}: `{environment}` rolled back to release {}",
            release.name()
        ),
        release_facts(release, ""),
    )
}

/// What `slipway deploy` asks of `environment`: the apps named (all when none), the
/// `--image APP=REF` arguments, a `--strategy` kind over the environment's strategy (its
/// settings kept when it is of that kind), or the interrupted deploy finished.
pub fn deploy_request(
    manifest: &slipway_core::Manifest,
    environment: &str,
    apps: Vec<String>,
    images: &[String],
    strategy: Option<slipway_core::manifest::StrategyKind>,
    resume: bool,
    force: bool,
) -> Result<DeployRequest> {
    let configured = &manifest.environment(environment)?.environment.strategy;
    Ok(DeployRequest {
        apps,
        images: parse_images(images)?,
        strategy: strategy
            .map(|kind| slipway_core::manifest::Strategy::overridden(configured, kind)),
        resume,
        force,
    })
}

/// The apps a deploy takes from the local build (not named by `--image`), of those it deploys.
pub fn local_apps(manifest: &slipway_core::Manifest, request: &DeployRequest) -> Vec<String> {
    manifest
        .apps
        .keys()
        .filter(|app| request.apps.is_empty() || request.apps.contains(app))
        .filter(|app| !request.images.contains_key(*app))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_request_overrides_the_strategy_and_reads_the_images() {
        let manifest = slipway_core::manifest::load_manifest(
            "schema = 1\n[project]\nname = \"shop\"\n[environments.prod]\nstrategy = { kind = \"canary\", steps = [10, 100] }\n",
        )
        .unwrap();
        let request = deploy_request(
            &manifest,
            "prod",
            vec!["api".into()],
            &["api=127.0.0.1:5000/shop/api@sha256:ab".into()],
            Some(slipway_core::manifest::StrategyKind::Canary),
            false,
            false,
        )
        .unwrap();
        assert_eq!(request.apps, ["api"]);
        assert_eq!(request.images["api"], "127.0.0.1:5000/shop/api@sha256:ab");
        assert_eq!(
            format!("{:?}", request.strategy),
            format!("{:?}", Some(&manifest.environments["prod"].strategy)),
            "a canary override of a canary keeps its steps"
        );
        let plain = deploy_request(&manifest, "prod", vec![], &[], None, true, false).unwrap();
        assert!(plain.strategy.is_none() && plain.resume && !plain.force);
        assert!(
            deploy_request(
                &manifest,
                "prod",
                vec![],
                &["api".into()],
                None,
                false,
                false
            )
            .is_err()
        );
        let unknown = deploy_request(&manifest, "prdo", vec![], &[], None, false, false)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("prod"), "{unknown}");
    }

    #[test]
    fn arguments_are_read_or_refused_with_what_to_write() {
        let images = parse_images(&["api=127.0.0.1:5000/shop/api@sha256:ab".into()]).unwrap();
        assert_eq!(images["api"], "127.0.0.1:5000/shop/api@sha256:ab");
        let error = parse_images(&["api".into()]).unwrap_err().to_string();
        assert!(error.contains("write APP=REF"), "{error}");
        let error = parse_images_like(&["api".into()], "REPO@sha256:...")
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("e.g. api=REPO@sha256:..."), "{error}");
        assert_eq!(parse_release_id("r12").unwrap(), 12);
        assert_eq!(parse_release_id("12").unwrap(), 12);
        let error = parse_release_id("latest").unwrap_err().to_string();
        assert!(error.contains("e.g. r12"), "{error}");
    }

    #[test]
    fn only_a_rolled_back_deploy_is_announced_as_such() {
        let rolled_back = DeployError::RolledBack {
            release: "r4".into(),
            reason: "canary analysis failed".into(),
            restored: None,
        };
        let (title, facts) = rolled_back_notice("shop", "prod", &rolled_back).unwrap();
        assert_eq!(title, "shop: release r4 of `prod` was rolled back");
        assert!(facts.contains(&("live".into(), "nothing".into())));
        let refused = DeployError::Plan("no app `x`".into());
        assert!(rolled_back_notice("shop", "prod", &refused).is_none());
    }
}
