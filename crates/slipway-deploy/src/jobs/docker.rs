//! The jobs runner's container on a Docker environment's first host: installed (or updated, or
//! removed) after each deploy and rollback, asked what it holds, and asked to run a job now.
//!
//! The runner is slipway's own image (the proxy's) running `slipway jobs runner serve`, with the
//! host engine's socket (it starts each run's container) and a volume for its records. Its table
//! holds the failure channels' URLs, so it is delivered as a secret file on tmpfs (never in the
//! container's config or a layer); a changed table recreates the runner, which then finds the
//! runs still going and waits for them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_docker::environment::{ContainerSpec, LABEL_ENVIRONMENT, LABEL_PROJECT};
use slipway_docker::secrets::SecretFiles;

use super::{JobRow, JobTable, Outcome, RunRecord, TableJob};
use crate::host::{Host, PROXY_IMAGE, ensure_proxy_image};
use crate::rollout::Rollout;
use crate::store::Release;
use crate::{DeployError, Result};

/// Where the runner keeps its records, in a volume of its own.
pub const RUNNER_DIR: &str = "/var/lib/slipway-jobs";
/// Where the runner reads its table.
pub const TABLE_FILE: &str = "/run/secrets/jobs.json";
/// Label of the runner's container.
pub const LABEL_RUNNER: &str = "dev.slipway.jobs-runner";
const SLIPWAY_BINARY: &str = "/usr/local/bin/slipway";

/// The runner's container: `<project>-<env>-jobs`.
pub fn runner_name(project: &str, environment: &str) -> String {
    format!("{project}-{environment}-jobs")
}

/// The engine socket's path on a host, which the runner mounts: the path of a `unix://` URL, the
/// default socket otherwise (over ssh or TCP the engine still listens on it locally).
pub fn host_socket(url: Option<&str>) -> String {
    url.and_then(|u| u.strip_prefix("unix://"))
        .filter(|path| path.starts_with('/'))
        .unwrap_or("/var/run/docker.sock")
        .to_owned()
}

/// What the runner answers `status` with: its jobs (not its channels) and its records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunnerStatus {
    /// The jobs of its table.
    pub jobs: Vec<TableJob>,
    /// Its records, oldest first.
    pub records: Vec<RunRecord>,
}

impl Rollout<'_> {
    /// Installs the environment's jobs on its first host with `live` serving: starts or updates
    /// the runner, or removes it when no job is left. `lookup` reads the variables the failure
    /// channels' `env:` references name. Returns a line per job for the deploy's output.
    pub async fn sync_jobs(
        &self,
        live: &Release,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>> {
        let manifest = self.ctx.manifest;
        let environment = self.ctx.environment;
        let host = &self.hosts[0];
        let name = runner_name(&manifest.project.name, environment);
        let network = slipway_docker::environment::internal_network(manifest, environment);
        // The channels' variables matter only to an environment with jobs.
        let (channels, mut lines) = if super::jobs_of(manifest, environment).is_empty() {
            Default::default()
        } else {
            super::resolved_channels(manifest, lookup)
        };
        let (table, left_out) = super::table(manifest, environment, live, &network, channels);
        lines.extend(left_out);
        let Some(table) = table else {
            if host.engine.is_running(&name).await
                || !host
                    .engine
                    .containers_labelled(&[format!("{LABEL_RUNNER}={name}")])
                    .await?
                    .is_empty()
            {
                host.engine.stop_and_remove(&name).await?;
                lines.push(format!(
                    "jobs: none left; the runner on {} is removed",
                    host.name
                ));
            }
            return Ok(lines);
        };
        let tool = self.proxy_image().await?;
        let image_id =
            ensure_proxy_image(host, &tool, &self.ctx.state_dir, &self.ctx.store_dir).await?;
        let json = serde_json::to_string(&table).expect("a job table serializes");
        let key = slipway_docker::secrets::digest_key(&self.ctx.state_dir)?;
        let socket = host_socket(self.host_urls().first().and_then(|u| u.as_deref()));
        let spec = ContainerSpec {
            name: name.clone(),
            image: PROXY_IMAGE.into(),
            image_id,
            cmd: Some(vec![
                "jobs".into(),
                "runner".into(),
                "serve".into(),
                "--dir".into(),
                RUNNER_DIR.into(),
                "--table".into(),
                TABLE_FILE.into(),
            ]),
            entrypoint: Some(vec![SLIPWAY_BINARY.into()]),
            user: None,
            workdir: None,
            env: Vec::new(),
            // The host's network: failures are announced the way the host reaches the channels.
            networks: vec![("host".into(), Vec::new())],
            ports: Vec::new(),
            binds: vec![
                format!("{socket}:/var/run/docker.sock"),
                format!("{name}:{RUNNER_DIR}"),
                // slipway's image carries no certificate authorities: the channels' HTTPS is
                // checked against the host's own.
                "/etc/ssl/certs:/etc/ssl/certs:ro".into(),
            ],
            health: None,
            labels: vec![
                (LABEL_PROJECT.into(), manifest.project.name.clone()),
                (LABEL_ENVIRONMENT.into(), environment.to_owned()),
                (LABEL_RUNNER.into(), name.clone()),
            ],
            restart: Some("unless-stopped".into()),
            secret_files: SecretFiles::new(vec![("jobs.json".into(), json)], &key),
            stop_signal: None,
            stop_timeout: None,
        };
        host.engine.ensure_container(&spec).await?;
        let now = crate::rollout::now();
        for job in &table.jobs {
            let next = super::next_run(&job.schedule, &job.timezone, now)
                .map(|at| slipway_core::time::rfc3339(at.max(0) as u64))
                .unwrap_or_else(|| "never".into());
            lines.push(format!(
                "job {}: `{}` ({}) on {}, from {}, next at {next}",
                job.name, job.schedule, job.timezone, host.name, job.release
            ));
        }
        Ok(lines)
    }

    /// What the runner holds, or `None` when the environment has no runner.
    pub async fn runner_status(&self) -> Result<Option<RunnerStatus>> {
        let host = &self.hosts[0];
        let name = runner_name(&self.ctx.manifest.project.name, self.ctx.environment);
        if !host.engine.is_running(&name).await {
            return Ok(None);
        }
        let output = runner_command(host, &name, &["status"]).await?;
        serde_json::from_str(output.trim())
            .map(Some)
            .map_err(|_| runner_error(host, &format!("it answered: {}", output.trim())))
    }

    /// The rows of `slipway jobs ENV`.
    pub async fn job_rows(&self) -> Result<Vec<JobRow>> {
        let Some(status) = self.runner_status().await? else {
            return Ok(Vec::new());
        };
        let table = JobTable {
            project: self.ctx.manifest.project.name.clone(),
            environment: self.ctx.environment.to_owned(),
            network: String::new(),
            jobs: status.jobs,
            notifications: Default::default(),
        };
        let place = format!("runner on {}", self.hosts[0].name);
        Ok(super::rows(
            &table,
            &status.records,
            crate::rollout::now(),
            &place,
        ))
    }

    /// Asks the runner to run `job` now and waits for the run's record: the run goes through the
    /// runner, so it never overlaps a scheduled run of the same job.
    pub async fn run_job(&self, job: &str) -> Result<RunRecord> {
        let host = &self.hosts[0];
        let environment = self.ctx.environment;
        let name = runner_name(&self.ctx.manifest.project.name, environment);
        if !host.engine.is_running(&name).await {
            return Err(DeployError::Plan(format!(
                "`{environment}` has no jobs runner: deploy it with a [jobs.{job}] that runs there (see `slipway jobs {environment}`)"
            )));
        }
        let id = runner_command(host, &name, &["trigger", job]).await?;
        let id = id.trim().to_owned();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let output = runner_command(host, &name, &["status"]).await?;
            let status: RunnerStatus = serde_json::from_str(output.trim())
                .map_err(|_| runner_error(host, &format!("it answered: {}", output.trim())))?;
            if let Some(record) = status.records.iter().find(|r| r.id == id)
                && record.outcome != Outcome::Running
            {
                return Ok(record.clone());
            }
        }
    }

    fn host_urls(&self) -> Vec<Option<String>> {
        match &self.ctx.manifest.environments[self.ctx.environment].target {
            slipway_core::manifest::Target::Docker { hosts, .. } if !hosts.is_empty() => {
                hosts.iter().map(|h| Some(h.url().to_owned())).collect()
            }
            _ => vec![std::env::var("DOCKER_HOST").ok()],
        }
    }
}

/// Runs `slipway jobs runner ARGS` in the runner's container; its output, or an error with it.
async fn runner_command(host: &Host, container: &str, args: &[&str]) -> Result<String> {
    let mut command = vec![SLIPWAY_BINARY.to_owned(), "jobs".into(), "runner".into()];
    command.extend(args.iter().map(|a| (*a).to_owned()));
    command.extend([
        "--dir".into(),
        RUNNER_DIR.into(),
        "--table".into(),
        TABLE_FILE.into(),
    ]);
    let finished = host.engine.exec(container, &command).await?;
    if finished.exit_code != 0 {
        return Err(runner_error(host, finished.output.trim()));
    }
    Ok(finished.output)
}

fn runner_error(host: &Host, message: &str) -> DeployError {
    DeployError::Plan(format!("the jobs runner on {}: {message}", host.name))
}
