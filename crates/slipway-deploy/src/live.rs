//! The containers of an environment's live release on its Docker hosts: where `slipway exec`
//! and `slipway logs` go on a deployed environment, whose containers are named per release
//! (`shop-prod-api-r7-1`) and may run on several hosts.

use serde::Serialize;

use crate::status::HostStatus;
use crate::store::Release;

/// One container of the live release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveContainer {
    /// The host it runs on, as slipway.toml names it (`local` for the local engine).
    pub host: String,
    /// The host's position in the environment's list of hosts.
    #[serde(skip)]
    pub host_index: usize,
    /// The app it runs.
    pub app: String,
    /// The release whose container it is (an app a deploy left alone keeps an earlier one's).
    pub release: String,
    /// The container's name.
    pub container: String,
    /// Whether it is running.
    pub running: bool,
}

/// The live release of `environment`, which must run `app` when one is named: the release a
/// command on a deployed environment (`logs`, `run`, `exec`) works from, or an error that says
/// what to do.
pub fn live_running(
    store: &crate::store::Store,
    environment: &str,
    app: Option<&str>,
) -> crate::Result<Release> {
    let live = store.live(environment)?.ok_or_else(|| {
        crate::DeployError::Plan(format!(
            "`{environment}` has no live release: deploy it first (`slipway deploy {environment}`)"
        ))
    })?;
    if let Some(app) = app
        && !live.apps.contains_key(app)
    {
        let runs: Vec<&str> = live.apps.keys().map(String::as_str).collect();
        return Err(crate::DeployError::Plan(format!(
            "the live release {} of `{environment}` does not run `{app}`; it runs {}",
            live.name(),
            runs.join(", ")
        )));
    }
    Ok(live)
}

/// The containers that serve `live` on each host (of `app` only, when given), in host order:
/// each app's containers are those of the release that serves it in `live`, never those of an
/// older release still draining or a failed one left behind.
pub fn select(statuses: &[HostStatus], live: &Release, app: Option<&str>) -> Vec<LiveContainer> {
    let mut selected = Vec::new();
    for (host_index, status) in statuses.iter().enumerate() {
        for (name, releases) in &status.apps {
            if app.is_some_and(|wanted| wanted != name) || !live.apps.contains_key(name) {
                continue;
            }
            let serving = crate::rollout::containers_release(live, name);
            for release in releases.iter().filter(|r| r.release == serving) {
                for container in &release.containers {
                    selected.push(LiveContainer {
                        host: status.host.clone(),
                        host_index,
                        app: name.clone(),
                        release: release.release.clone(),
                        container: container.name.clone(),
                        running: container.state == "running",
                    });
                }
            }
        }
    }
    selected
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use slipway_core::manifest::StrategyKind;
    use slipway_core::plan::Entry;

    use super::*;
    use crate::status::{ContainerState, ReleaseOnHost};
    use crate::store::{Outcome, ReleaseApp};

    fn on_host(release: &str, names: &[(&str, &str)]) -> ReleaseOnHost {
        ReleaseOnHost {
            release: release.into(),
            containers: names
                .iter()
                .map(|(name, state)| ContainerState {
                    name: (*name).into(),
                    state: (*state).into(),
                    status: String::new(),
                })
                .collect(),
            ..ReleaseOnHost::default()
        }
    }

    fn entry() -> ReleaseApp {
        ReleaseApp {
            image: "shop/api:latest".into(),
            image_id: "sha256:a".into(),
            digest: None,
            replicas: 1,
            task_definition: None,
            service: None,
            settings: None,
        }
    }

    #[test]
    fn the_live_releases_containers_on_every_host_and_no_others() {
        let live = Release {
            id: 4,
            environment: "prod".into(),
            apps: BTreeMap::from([("api".into(), entry()), ("worker".into(), entry())]),
            config_digest: "sha256:c".into(),
            strategy: StrategyKind::Rolling,
            started_by: "ada@laptop".into(),
            started_at: 1,
            finished_at: Some(2),
            outcome: Outcome::Live,
            note: None,
            // The worker was left alone by r4: its containers are r3's.
            journal: vec![Entry::Carried {
                app: "worker".into(),
                from: "r3".into(),
            }],
        };
        let host = |name: &str, suffix: &str| HostStatus {
            host: name.into(),
            url: String::new(),
            proxy: true,
            maintenance: Vec::new(),
            certificates: Vec::new(),
            apps: BTreeMap::from([
                (
                    "api".to_owned(),
                    vec![
                        on_host("r3", &[(&format!("api-r3-{suffix}"), "running")]),
                        on_host("r4", &[(&format!("api-r4-{suffix}"), "running")]),
                    ],
                ),
                (
                    "worker".to_owned(),
                    vec![on_host("r3", &[(&format!("worker-r3-{suffix}"), "exited")])],
                ),
                (
                    "gone".to_owned(),
                    vec![on_host("r1", &[("gone-r1", "running")])],
                ),
            ]),
        };
        let statuses = [host("local", "a"), host("two", "b")];

        let api: Vec<(String, usize, String)> = select(&statuses, &live, Some("api"))
            .into_iter()
            .map(|c| (c.host, c.host_index, c.container))
            .collect();
        assert_eq!(
            api,
            [
                ("local".to_owned(), 0, "api-r4-a".to_owned()),
                ("two".to_owned(), 1, "api-r4-b".to_owned())
            ]
        );
        let all = select(&statuses, &live, None);
        let names: Vec<&str> = all.iter().map(|c| c.container.as_str()).collect();
        assert_eq!(
            names,
            ["api-r4-a", "worker-r3-a", "api-r4-b", "worker-r3-b"]
        );
        assert!(!all[1].running);
        assert!(select(&statuses, &live, Some("web")).is_empty());
    }
}
