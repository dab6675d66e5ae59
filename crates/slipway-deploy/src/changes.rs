//! Which apps a deploy replaces. An app whose image, rendered config and deploy settings are
//! what the live release runs is kept as it is (its containers or ECS service are carried into
//! the new release, no task definition revision is registered for it); `--force`, or naming
//! the apps, replaces them anyway.

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use slipway_core::Manifest;

use crate::store::{Release, ReleaseApp};

/// The digest of what slipway.toml says about how `app` runs in `environment`, beyond its
/// image and its config files: the app's table (route, health, replicas, sidecars...), the
/// environment's replicas and published port for it, where the environment runs, its hooks and
/// the services it runs beside its apps (a deploy that replaces an app brings them up to date).
/// A change to any of them replaces the app. The role the ECS jobs' schedules run as is not the
/// apps' business: setting it replaces none.
pub fn settings_digest(manifest: &Manifest, environment: &str, app: &str) -> String {
    #[derive(Serialize)]
    struct Settings<'m> {
        app: Option<&'m slipway_core::manifest::App>,
        replicas: Option<&'m u32>,
        publish: Option<&'m String>,
        target: Option<slipway_core::manifest::Target>,
        hooks: Option<&'m slipway_core::manifest::Hooks>,
        services: Vec<(&'m String, &'m slipway_core::manifest::Service)>,
    }
    let env = manifest.environments.get(environment);
    let settings = Settings {
        app: manifest.apps.get(app),
        replicas: env.and_then(|env| env.replicas.get(app)),
        publish: env.and_then(|env| env.publish.get(app)),
        target: env.map(|env| match &env.target {
            slipway_core::manifest::Target::Ecs(ecs) => {
                slipway_core::manifest::Target::Ecs(Box::new(slipway_core::manifest::EcsTarget {
                    scheduler_role_arn: None,
                    ..(**ecs).clone()
                }))
            }
            other => other.clone(),
        }),
        hooks: env.map(|env| &env.hooks),
        services: manifest
            .services
            .iter()
            .filter(|(name, _)| manifest.service_runs_in(name, environment))
            .collect(),
    };
    let json = serde_json::to_vec(&settings).expect("the manifest serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(json)))
}

/// Whether `incoming` is what `live` already runs for `app`: the same image (by image ID, else
/// by manifest digest), the same number of replicas, the same settings, and the same rendered
/// config. A release written before settings were recorded never counts as the same.
pub fn is_unchanged(live: &Release, app: &str, incoming: &ReleaseApp, config_digest: &str) -> bool {
    let Some(running) = live.apps.get(app) else {
        return false;
    };
    let same_image = if !running.image_id.is_empty() && !incoming.image_id.is_empty() {
        running.image_id == incoming.image_id
    } else {
        running.digest.is_some() && running.digest == incoming.digest
    };
    same_image
        && live.config_digest == config_digest
        && running.replicas == incoming.replicas
        && running.settings.is_some()
        && running.settings == incoming.settings
}

/// The apps of `incoming` a deploy keeps as `live` runs them (see [`is_unchanged`]): none when
/// nothing is live, when the deploy names its apps, or with `force`.
pub fn unchanged_apps<'a>(
    live: Option<&Release>,
    named: bool,
    force: bool,
    incoming: impl IntoIterator<Item = (&'a str, &'a ReleaseApp)>,
    config_digest: &str,
) -> Vec<String> {
    match live {
        Some(live) if !named && !force => incoming
            .into_iter()
            .filter(|(app, entry)| is_unchanged(live, app, entry, config_digest))
            .map(|(app, _)| app.to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether every host runs `app` as `live` records it: a running container of the release that
/// serves it there, and, for an app the proxy routes, that release taking traffic. An app that
/// is not (its containers were removed, the proxy lost its route) is replaced by a deploy even
/// when nothing about it changed, so a deploy repairs what it finds broken. `None` when it is
/// served as recorded, the first host where it is not otherwise.
pub fn unserved_on<'s>(
    statuses: &'s [crate::status::HostStatus],
    live: &Release,
    app: &str,
    routed: bool,
) -> Option<&'s str> {
    let serving = crate::rollout::containers_release(live, app);
    statuses
        .iter()
        .find(|host| {
            let release = host
                .apps
                .get(app)
                .and_then(|releases| releases.iter().find(|r| r.release == serving));
            !release.is_some_and(|r| {
                r.containers.iter().any(|c| c.state == "running")
                    && (!routed || r.weight.is_some_and(|w| w > 0))
            })
        })
        .map(|host| host.host.as_str())
}

/// What a deploy with nothing to replace returns: the live release, every app kept, said so.
pub fn nothing_to_deploy(live: &Release, unchanged: Vec<String>, log: &dyn Fn(&str)) -> Deployed {
    log(&format!(
        "nothing to deploy: every app's image, config and settings are what {} runs (--force replaces them anyway)",
        live.name()
    ));
    Deployed {
        release: live.clone(),
        replaced: Vec::new(),
        unchanged,
    }
}

/// What a deploy did: the release that is live after it, the apps it replaced, and those it
/// kept because nothing about them changed. With nothing replaced, the release is the one that
/// was already live and no new release was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    /// The live release.
    pub release: Release,
    /// The apps this deploy replaced.
    pub replaced: Vec<String>,
    /// The apps kept as the live release runs them.
    pub unchanged: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use slipway_core::manifest::StrategyKind;

    use super::*;
    use crate::store::Outcome;

    fn manifest() -> Manifest {
        slipway_core::load_manifest(include_str!("../../../examples/shop/slipway.toml")).unwrap()
    }

    fn app(image_id: &str, settings: &str) -> ReleaseApp {
        ReleaseApp {
            image: "shop/api:latest".into(),
            image_id: image_id.into(),
            digest: None,
            replicas: 2,
            task_definition: None,
            service: None,
            settings: Some(settings.into()),
        }
    }

    fn live(apps: &[(&str, ReleaseApp)]) -> Release {
        Release {
            id: 3,
            environment: "prod".into(),
            apps: apps
                .iter()
                .map(|(name, app)| ((*name).to_owned(), app.clone()))
                .collect::<BTreeMap<_, _>>(),
            config_digest: "sha256:config".into(),
            strategy: StrategyKind::BlueGreen,
            started_by: "ada@laptop".into(),
            started_at: 100,
            finished_at: Some(110),
            outcome: Outcome::Live,
            note: None,
            journal: Vec::new(),
        }
    }

    #[test]
    fn only_an_app_whose_image_config_replicas_and_settings_all_match_is_kept() {
        let release = live(&[("api", app("sha256:a", "s1"))]);
        let same = app("sha256:a", "s1");
        assert!(is_unchanged(&release, "api", &same, "sha256:config"));
        assert!(!is_unchanged(
            &release,
            "api",
            &app("sha256:b", "s1"),
            "sha256:config"
        ));
        assert!(!is_unchanged(
            &release,
            "api",
            &app("sha256:a", "s2"),
            "sha256:config"
        ));
        assert!(!is_unchanged(&release, "api", &same, "sha256:other-config"));
        let more = ReleaseApp {
            replicas: 3,
            ..same.clone()
        };
        assert!(!is_unchanged(&release, "api", &more, "sha256:config"));
        // An app the live release does not run is new.
        assert!(!is_unchanged(&release, "web", &same, "sha256:config"));
        // A release recorded before settings were kept is replaced once.
        let older = live(&[(
            "api",
            ReleaseApp {
                settings: None,
                ..same.clone()
            },
        )]);
        assert!(!is_unchanged(&older, "api", &same, "sha256:config"));
    }

    #[test]
    fn an_app_the_hosts_do_not_serve_as_recorded_is_not_kept() {
        use crate::status::{ContainerState, HostStatus, ReleaseOnHost};
        let live = live(&[("api", app("sha256:a", "s"))]);
        let host = |name: &str, state: &str, weight: Option<u32>| HostStatus {
            host: name.into(),
            url: String::new(),
            proxy: true,
            maintenance: Default::default(),
            certificates: Vec::new(),
            apps: BTreeMap::from([(
                "api".to_owned(),
                vec![ReleaseOnHost {
                    release: live.name(),
                    weight,
                    containers: vec![ContainerState {
                        name: "api-1".into(),
                        state: state.into(),
                        status: String::new(),
                    }],
                    ..ReleaseOnHost::default()
                }],
            )]),
        };
        let served = [
            host("one", "running", Some(100)),
            host("two", "running", Some(100)),
        ];
        assert_eq!(unserved_on(&served, &live, "api", true), None);
        // The proxy on host two lost the route: a routed app is not served there.
        let unrouted = [
            host("one", "running", Some(100)),
            host("two", "running", None),
        ];
        assert_eq!(unserved_on(&unrouted, &live, "api", true), Some("two"));
        // A worker takes no traffic: running is enough.
        assert_eq!(unserved_on(&unrouted, &live, "api", false), None);
        let stopped = [host("one", "exited", Some(100))];
        assert_eq!(unserved_on(&stopped, &live, "api", true), Some("one"));
        let gone = [HostStatus {
            apps: BTreeMap::new(),
            ..host("one", "running", None)
        }];
        assert_eq!(unserved_on(&gone, &live, "api", false), Some("one"));
    }

    #[test]
    fn images_from_a_registry_compare_by_digest_when_there_is_no_image_id() {
        let pulled = |digest: Option<&str>| ReleaseApp {
            image_id: String::new(),
            digest: digest.map(str::to_owned),
            ..app("", "s1")
        };
        let release = live(&[("api", pulled(Some("sha256:d1")))]);
        assert!(is_unchanged(
            &release,
            "api",
            &pulled(Some("sha256:d1")),
            "sha256:config"
        ));
        assert!(!is_unchanged(
            &release,
            "api",
            &pulled(Some("sha256:d2")),
            "sha256:config"
        ));
        let unknown = live(&[("api", pulled(None))]);
        assert!(!is_unchanged(
            &unknown,
            "api",
            &pulled(None),
            "sha256:config"
        ));
    }

    #[test]
    fn settings_move_with_what_the_app_and_its_environment_say_and_nothing_else() {
        let original = manifest();
        let apps: Vec<&String> = original.apps.keys().collect();
        let (first, second) = (apps[0].as_str(), apps[1].as_str());
        let before = settings_digest(&original, "prod", first);
        assert_eq!(before, settings_digest(&manifest(), "prod", first));
        assert_ne!(before, settings_digest(&original, "stage", first));

        let mut changed = manifest();
        changed.environments["prod"]
            .replicas
            .insert(first.to_owned(), 7);
        assert_ne!(before, settings_digest(&changed, "prod", first));
        assert_eq!(
            settings_digest(&original, "prod", second),
            settings_digest(&changed, "prod", second),
            "another app's replicas leave this app alone"
        );

        let mut ported = manifest();
        ported.apps[first].port = Some(9999);
        assert_ne!(before, settings_digest(&ported, "prod", first));

        // A service of the environment (its database) changing brings the apps' deploy with it.
        let mut database = manifest();
        let service = database.services.keys().next().unwrap().clone();
        database.services[&service]
            .volumes
            .push("more:/srv/more".into());
        assert_ne!(before, settings_digest(&database, "prod", first));
    }

    #[test]
    fn the_role_of_the_ecs_jobs_schedules_replaces_no_app() {
        let ecs = |role: Option<&str>| {
            let mut manifest = manifest();
            manifest.environments["prod"].target =
                slipway_core::manifest::Target::Ecs(Box::new(slipway_core::manifest::EcsTarget {
                    cluster: "shop".into(),
                    scheduler_role_arn: role.map(str::to_owned),
                    ..Default::default()
                }));
            manifest
        };
        let app = ecs(None).apps.keys().next().unwrap().clone();
        let without = settings_digest(&ecs(None), "prod", &app);
        assert_eq!(
            without,
            settings_digest(
                &ecs(Some("arn:aws:iam::123456789012:role/jobs")),
                "prod",
                &app
            )
        );
        let mut other_cluster = ecs(None);
        if let slipway_core::manifest::Target::Ecs(target) =
            &mut other_cluster.environments["prod"].target
        {
            target.cluster = "elsewhere".into();
        }
        assert_ne!(without, settings_digest(&other_cluster, "prod", &app));
    }
}
