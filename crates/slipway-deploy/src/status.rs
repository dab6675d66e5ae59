//! What runs on an environment's hosts, read from the hosts themselves: the containers'
//! labels (release, image, config digest, who started it and when) and the proxy's table
//! (weights and counters). It needs no local state, so it also rebuilds the picture when the
//! release history is lost.

use std::collections::BTreeMap;

use serde::Serialize;
use slipway_core::Manifest;
use slipway_docker::environment::LABEL_NAME;
use slipway_proxy::admin::Command;

use crate::Result;
use crate::host::{
    Host, LABEL_CONFIG_DIGEST, LABEL_IMAGE, LABEL_RELEASE, LABEL_STARTED_AT, LABEL_STARTED_BY,
    LABEL_STRATEGY,
};

/// What one host runs of an environment.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// The host's name as slipway.toml writes it, or `local`.
    pub host: String,
    /// Where the host's proxy serves the apps.
    pub url: String,
    /// Whether the host's proxy answered.
    pub proxy: bool,
    /// App → its releases on this host, each with its containers.
    pub apps: BTreeMap<String, Vec<ReleaseOnHost>>,
    /// What this host's proxy has of the environment in maintenance (the whole environment,
    /// or apps).
    pub maintenance: Vec<crate::maintenance::MaintenanceState>,
    /// The environment's hosts this proxy serves over HTTPS, with their certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<crate::tls::CertificateState>,
}

/// One release of an app on one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReleaseOnHost {
    /// The release's name, e.g. `r7`.
    pub release: String,
    /// Share of the app's traffic; `None` when the proxy does not know the release.
    pub weight: Option<u32>,
    /// The image ID its containers run.
    pub image: String,
    /// The digest of the config its containers were given.
    pub config_digest: String,
    /// The strategy it was deployed with.
    pub strategy: String,
    /// Who started it (`user@host`).
    pub started_by: String,
    /// When it started, in Unix seconds (0 when unknown).
    pub started_at: i64,
    /// Its containers, by name.
    pub containers: Vec<ContainerState>,
    /// Requests the proxy forwarded to it.
    pub requests: u64,
    /// Of those, the ones that failed (5xx or no connection).
    pub errors: u64,
}

/// One container of a release.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerState {
    /// The container's name.
    pub name: String,
    /// `running`, `exited`...
    pub state: String,
    /// The engine's status line, e.g. `Up 3 minutes (healthy)`.
    pub status: String,
}

/// What each of `hosts` runs of `environment`, read from the containers' labels and the proxy's
/// table.
pub async fn on_hosts(
    hosts: &[Host],
    plan: &crate::host::ProxyPlan,
    manifest: &Manifest,
    environment: &str,
) -> Result<Vec<HostStatus>> {
    let mut out = Vec::new();
    for host in hosts {
        let proxy = host
            .proxy(&Command::Status)
            .await
            .ok()
            .and_then(|a| a.status);
        let mut apps: BTreeMap<String, BTreeMap<String, ReleaseOnHost>> = BTreeMap::new();
        for container in host
            .engine
            .containers_of(&manifest.project.name, Some(environment))
            .await?
        {
            let labels = container.labels.clone().unwrap_or_default();
            let (Some(release), Some(app)) = (labels.get(LABEL_RELEASE), labels.get(LABEL_NAME))
            else {
                continue;
            };
            let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
            let entry = apps
                .entry(app.clone())
                .or_default()
                .entry(release.clone())
                .or_insert_with(|| ReleaseOnHost {
                    release: release.clone(),
                    image: label(LABEL_IMAGE),
                    config_digest: label(LABEL_CONFIG_DIGEST),
                    strategy: label(LABEL_STRATEGY),
                    started_by: label(LABEL_STARTED_BY),
                    started_at: label(LABEL_STARTED_AT).parse().unwrap_or(0),
                    ..Default::default()
                });
            entry.containers.push(ContainerState {
                name: container
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                state: container.state.map(|s| s.to_string()).unwrap_or_default(),
                status: container.status.clone().unwrap_or_default(),
            });
        }
        let mut host_apps = BTreeMap::new();
        for (app, releases) in apps {
            let service = format!("{}/{environment}/{app}", manifest.project.name);
            let mut list: Vec<ReleaseOnHost> = releases.into_values().collect();
            for release in &mut list {
                release.containers.sort_by(|a, b| a.name.cmp(&b.name));
                if let Some(routed) = proxy
                    .as_ref()
                    .and_then(|p| p.services.get(&service))
                    .and_then(|s| s.releases.iter().find(|r| r.release == release.release))
                {
                    release.weight = Some(routed.weight);
                    release.requests = routed.metrics.requests;
                    release.errors = routed.metrics.errors;
                }
            }
            list.sort_by_key(|r| {
                std::cmp::Reverse(
                    r.release
                        .trim_start_matches('r')
                        .parse::<i64>()
                        .unwrap_or(0),
                )
            });
            host_apps.insert(app, list);
        }
        let maintenance = proxy.as_ref().map_or_else(Vec::new, |p| {
            crate::maintenance::states_of(&p.maintenance, manifest, environment)
        });
        let certificates = proxy.as_ref().map_or_else(Vec::new, |p| {
            crate::tls::certificate_states(p, manifest, environment)
        });
        out.push(HostStatus {
            host: host.name.clone(),
            url: host.url(plan),
            proxy: proxy.is_some(),
            apps: host_apps,
            maintenance,
            certificates,
        });
    }
    Ok(out)
}
