//! Recreate: each app's route and old replicas removed, then the new ones started (downtime,
//! which the environment must allow; [`super::deploy`] refuses it otherwise).

use super::{
    Capabilities, Incoming, LiveState, Replicas, Runs, Step, live_and_after, replace_in_place,
    share,
};
use crate::manifest::Strategy;

/// The steps of a recreate deploy.
pub(super) fn plan(live: &LiveState, incoming: &Incoming, target: &Capabilities) -> Vec<Step> {
    if let Runs::Services { .. } = target.runs {
        return replace_in_place(
            incoming,
            &Strategy::Recreate {
                allow_downtime: true,
            },
            target,
        );
    }
    let mut steps = Vec::new();
    for (index, place) in target.places.iter().enumerate() {
        for app in &incoming.apps {
            if let Some(old) = live.serving(&app.app) {
                if app.routed {
                    steps.push(Step::Unroute {
                        place: place.clone(),
                        app: app.app.clone(),
                    });
                }
                steps.push(Step::Retire {
                    place: place.clone(),
                    app: app.app.clone(),
                    release: old.release.clone(),
                    replicas: Replicas::first(old.replicas),
                });
            }
            let replicas = Replicas::first(app.replicas);
            steps.push(Step::Start {
                place: place.clone(),
                app: app.app.clone(),
                release: incoming.release.clone(),
                replicas,
            });
            steps.push(Step::Gate {
                place: place.clone(),
                app: app.app.clone(),
                release: incoming.release.clone(),
                replicas,
            });
            if index == 0 && target.hooks {
                steps.push(Step::BeforeDeploy {
                    app: app.app.clone(),
                });
            }
            if app.routed {
                steps.push(Step::SetWeights {
                    place: place.clone(),
                    app: app.app.clone(),
                    split: vec![share(&incoming.release, 100, app.replicas)],
                });
            }
        }
    }
    steps.extend(live_and_after(incoming, target));
    steps
}
