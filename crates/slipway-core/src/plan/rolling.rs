//! Rolling: place by place, app by app, `max_surge` new replicas started and gated, each
//! taking an equal share of the traffic, then as many old ones drained and removed
//! (`max_unavailable` old ones first when the surge is 0). A managed service does the same
//! itself in one update.

use super::{
    Capabilities, Incoming, LiveState, Replicas, Runs, Share, Step, blue_green, first_release,
    live_and_after, replace_in_place, whole_set,
};
use crate::manifest::Strategy;

/// The steps of a rolling deploy.
pub(super) fn plan(
    live: &LiveState,
    incoming: &Incoming,
    max_surge: u32,
    max_unavailable: u32,
    target: &Capabilities,
) -> Vec<Step> {
    if let Runs::Services { .. } = target.runs {
        return replace_in_place(
            incoming,
            &Strategy::Rolling {
                max_surge,
                max_unavailable,
            },
            target,
        );
    }
    if first_release(live, incoming) {
        let mut steps = whole_set(incoming, target);
        steps.extend(blue_green::switch(live, incoming, false, target));
        steps.extend(live_and_after(incoming, target));
        return steps;
    }
    let batch = if max_surge > 0 {
        max_surge
    } else {
        max_unavailable.max(1)
    };
    let mut steps = Vec::new();
    let mut hooks_done = Vec::new();
    for place in &target.places {
        for app in &incoming.apps {
            let mut roll = Roll {
                steps: &mut steps,
                place,
                app: &app.app,
                routed: app.routed,
                new: &incoming.release,
                old: live.serving(&app.app).map(|s| s.release.clone()),
                // Old replicas still serving: `old_from..=old_to`.
                old_from: 1,
                old_to: live.serving(&app.app).map_or(0, |s| s.replicas),
                started: 0,
            };
            let replicas = app.replicas;
            while roll.started < replicas || roll.old_left() > 0 {
                let count = batch.min(replicas - roll.started);
                if max_surge == 0 {
                    roll.retire(count);
                }
                if count > 0 {
                    let new = Replicas {
                        from: roll.started + 1,
                        to: roll.started + count,
                    };
                    roll.steps.push(Step::Start {
                        place: place.clone(),
                        app: app.app.clone(),
                        release: incoming.release.clone(),
                        replicas: new,
                    });
                    roll.steps.push(Step::Gate {
                        place: place.clone(),
                        app: app.app.clone(),
                        release: incoming.release.clone(),
                        replicas: new,
                    });
                    if target.hooks && !hooks_done.contains(&app.app) {
                        hooks_done.push(app.app.clone());
                        roll.steps.push(Step::BeforeDeploy {
                            app: app.app.clone(),
                        });
                    }
                    roll.started += count;
                    roll.route();
                }
                let retire = if roll.started >= replicas {
                    roll.old_left()
                } else {
                    count
                };
                roll.retire(retire);
            }
        }
    }
    steps.extend(live_and_after(incoming, target));
    steps
}

/// One app's roll on one place, as it goes.
struct Roll<'a> {
    steps: &'a mut Vec<Step>,
    place: &'a String,
    app: &'a String,
    routed: bool,
    new: &'a String,
    old: Option<String>,
    old_from: u32,
    old_to: u32,
    started: u32,
}

impl Roll<'_> {
    fn old_left(&self) -> u32 {
        (self.old_to + 1).saturating_sub(self.old_from)
    }

    /// Every replica, old or new, gets the same share.
    fn route(&mut self) {
        if !self.routed {
            return;
        }
        let mut split = Vec::new();
        if let (Some(old), true) = (&self.old, self.old_left() > 0) {
            split.push(Share {
                release: old.clone(),
                weight: self.old_left(),
                replicas: Replicas {
                    from: self.old_from,
                    to: self.old_to,
                },
            });
        }
        if self.started > 0 {
            split.push(Share {
                release: self.new.clone(),
                weight: self.started,
                replicas: Replicas::first(self.started),
            });
        }
        self.steps.push(Step::SetWeights {
            place: self.place.clone(),
            app: self.app.clone(),
            split,
        });
    }

    /// `count` old replicas out of the split, then removed.
    fn retire(&mut self, count: u32) {
        let count = count.min(self.old_left());
        let Some(old) = self.old.clone() else {
            return;
        };
        if count == 0 {
            return;
        }
        let retired = Replicas {
            from: self.old_from,
            to: self.old_from + count - 1,
        };
        self.old_from += count;
        self.route();
        self.steps.push(Step::Retire {
            place: self.place.clone(),
            app: self.app.clone(),
            release: old,
            replicas: retired,
        });
    }
}
