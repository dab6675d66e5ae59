//! Canary: the whole new set started and gated, then the traffic moved in steps; after each
//! step but the last, a window of the new release's traffic is held to the limits against the
//! old release's. A breach fails the deploy, which the undo plan puts back.

use super::{
    AppChange, Capabilities, Incoming, LiveState, PlanError, Replicas, Runs, Step, Watched,
    blue_green, first_release, live_and_after, replace_in_place, share, whole_set,
};
use crate::manifest::{CanarySettings, Strategy, native_canary};

/// The steps of a canary deploy.
pub(super) fn plan(
    live: &LiveState,
    incoming: &Incoming,
    canary: &CanarySettings,
    target: &Capabilities,
) -> Result<Vec<Step>, PlanError> {
    Ok(match target.runs {
        Runs::Services { native: true } => {
            if native_canary(&canary.steps).is_none() {
                return Err(PlanError::NativeCanarySteps {
                    steps: canary.steps.clone(),
                });
            }
            replace_in_place(
                incoming,
                &Strategy::Canary {
                    steps: canary.steps.clone(),
                    pause: Some(crate::manifest::Duration(canary.pause)),
                    max_error_rate: None,
                    max_latency_increase: None,
                },
                target,
            )
        }
        Runs::Services { native: false } => two_colours(live, incoming, canary, target),
        Runs::Replicas if first_release(live, incoming) => {
            // Nothing live: nothing to compare with, so straight to 100%.
            let mut steps = whole_set(incoming, target);
            steps.extend(blue_green::switch(live, incoming, false, target));
            steps.extend(live_and_after(incoming, target));
            steps
        }
        Runs::Replicas => {
            let mut steps = whole_set(incoming, target);
            for &percent in &canary.steps {
                let percent = percent.min(100);
                let mut watched = Vec::new();
                for place in &target.places {
                    for app in &incoming.apps {
                        let old = live.serving(&app.app);
                        if app.routed {
                            let mut split = Vec::new();
                            if let (Some(old), true) = (old, percent < 100) {
                                split.push(share(
                                    &old.release,
                                    u32::from(100 - percent),
                                    old.replicas,
                                ));
                            }
                            split.push(share(&incoming.release, u32::from(percent), app.replicas));
                            steps.push(Step::SetWeights {
                                place: place.clone(),
                                app: app.app.clone(),
                                split,
                            });
                        }
                        if percent == 100 {
                            if let Some(old) = old {
                                steps.push(Step::Retire {
                                    place: place.clone(),
                                    app: app.app.clone(),
                                    release: old.release.clone(),
                                    replicas: Replicas::first(old.replicas),
                                });
                            }
                        } else if app.routed {
                            watched.push(Watched {
                                place: place.clone(),
                                app: app.app.clone(),
                                old: old.map(|o| o.release.clone()),
                                new: incoming.release.clone(),
                            });
                        }
                    }
                }
                if percent == 100 {
                    break;
                }
                steps.push(Step::Analyse {
                    percent,
                    pause_ms: canary.pause.as_millis() as u64,
                    limits: canary.limits,
                    watched,
                });
            }
            steps.extend(live_and_after(incoming, target));
            steps
        }
    })
}

/// The new release on an app's idle colour, followed to its steady state (ECS).
pub(super) fn start_colour(place: &str, incoming: &Incoming, app: &AppChange) -> [Step; 2] {
    [
        Step::Start {
            place: place.to_owned(),
            app: app.app.clone(),
            release: incoming.release.clone(),
            replicas: Replicas::first(app.replicas),
        },
        Step::Gate {
            place: place.to_owned(),
            app: app.app.clone(),
            release: incoming.release.clone(),
            replicas: Replicas::first(app.replicas),
        },
    ]
}

/// Two services per app (ECS): the idle colour gets the new release, the listener's weights
/// move in the canary's steps (all at once when nothing was live), each step but the last
/// analysed, then the old colour is scaled to zero; app after app.
fn two_colours(
    live: &LiveState,
    incoming: &Incoming,
    canary: &CanarySettings,
    target: &Capabilities,
) -> Vec<Step> {
    let place = target.places.first().cloned().unwrap_or_default();
    let mut steps = Vec::new();
    for app in &incoming.apps {
        steps.extend(start_colour(&place, incoming, app));
        let Some(old) = live.serving(&app.app) else {
            steps.push(Step::SetWeights {
                place: place.clone(),
                app: app.app.clone(),
                split: vec![share(&incoming.release, 100, app.replicas)],
            });
            continue;
        };
        for (i, &percent) in canary.steps.iter().enumerate() {
            steps.push(Step::SetWeights {
                place: place.clone(),
                app: app.app.clone(),
                split: vec![
                    share(
                        &old.release,
                        u32::from(100 - percent.min(100)),
                        old.replicas,
                    ),
                    share(&incoming.release, u32::from(percent), app.replicas),
                ],
            });
            if i + 1 < canary.steps.len() {
                steps.push(Step::Analyse {
                    percent,
                    pause_ms: canary.pause.as_millis() as u64,
                    limits: canary.limits,
                    watched: vec![Watched {
                        place: place.clone(),
                        app: app.app.clone(),
                        old: Some(old.release.clone()),
                        new: incoming.release.clone(),
                    }],
                });
            }
        }
        steps.push(Step::Retire {
            place: place.clone(),
            app: app.app.clone(),
            release: old.release.clone(),
            replicas: Replicas::first(old.replicas),
        });
    }
    steps.extend(live_and_after(incoming, target));
    steps
}
