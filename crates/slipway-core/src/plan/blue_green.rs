//! Blue-green: the whole new set started and gated, then all traffic switched at once. With a
//! bake time the old release stays (idle) so a rollback is an instant switch, then goes.

use std::time::Duration;

use super::{
    Capabilities, Incoming, LiveState, Runs, Share, Step, first_release, live_and_after,
    replace_in_place, share, whole_set,
};
use crate::manifest::Strategy;

/// The steps of a blue-green deploy.
pub(super) fn plan(
    live: &LiveState,
    incoming: &Incoming,
    bake: Option<Duration>,
    target: &Capabilities,
) -> Vec<Step> {
    match target.runs {
        Runs::Services { native: true } => replace_in_place(
            incoming,
            &Strategy::BlueGreen {
                bake: bake.map(crate::manifest::Duration),
            },
            target,
        ),
        Runs::Services { native: false } => two_colours(live, incoming, bake, target),
        Runs::Replicas => {
            let keep_old = bake.is_some() && !first_release(live, incoming);
            let mut steps = whole_set(incoming, target);
            steps.extend(switch(live, incoming, keep_old, target));
            let mut after = live_and_after(incoming, target);
            if let (true, Some(bake)) = (keep_old, bake) {
                let mut baked = vec![Step::Bake {
                    duration_ms: bake.as_millis() as u64,
                }];
                baked.extend(switch(live, incoming, false, target));
                after.splice(1..1, baked);
            }
            steps.extend(after);
            steps
        }
    }
}

/// Every routed app's traffic to the new release on every place; the old release is kept at
/// weight 0 (`keep_old`) or its replicas removed.
pub(super) fn switch(
    live: &LiveState,
    incoming: &Incoming,
    keep_old: bool,
    target: &Capabilities,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for place in &target.places {
        for app in &incoming.apps {
            let old = live.serving(&app.app);
            if app.routed {
                let mut split: Vec<Share> = Vec::new();
                if let (Some(old), true) = (old, keep_old) {
                    split.push(share(&old.release, 0, old.replicas));
                }
                split.push(share(&incoming.release, 100, app.replicas));
                steps.push(Step::SetWeights {
                    place: place.clone(),
                    app: app.app.clone(),
                    split,
                });
            }
            if let (Some(old), false) = (old, keep_old) {
                steps.push(Step::Retire {
                    place: place.clone(),
                    app: app.app.clone(),
                    release: old.release.clone(),
                    replicas: super::Replicas::first(old.replicas),
                });
            }
        }
    }
    steps
}

/// Two services per app (ECS): the idle colour gets the new release and reaches a steady state,
/// the listener moves all traffic to it, the old colour is kept for the bake time, then scaled
/// to zero; app after app.
fn two_colours(
    live: &LiveState,
    incoming: &Incoming,
    bake: Option<Duration>,
    target: &Capabilities,
) -> Vec<Step> {
    let place = target.places.first().cloned().unwrap_or_default();
    let mut steps = Vec::new();
    for app in &incoming.apps {
        steps.extend(super::canary::start_colour(&place, incoming, app));
        steps.push(Step::SetWeights {
            place: place.clone(),
            app: app.app.clone(),
            split: vec![share(&incoming.release, 100, app.replicas)],
        });
        if let Some(old) = live.serving(&app.app) {
            if let Some(bake) = bake {
                steps.push(Step::Hold {
                    duration_ms: bake.as_millis() as u64,
                });
            }
            steps.push(Step::Retire {
                place: place.clone(),
                app: app.app.clone(),
                release: old.release.clone(),
                replicas: super::Replicas::first(old.replicas),
            });
        }
    }
    steps.extend(live_and_after(incoming, target));
    steps
}
