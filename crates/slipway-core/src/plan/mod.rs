//! Deploys as plans: each strategy is a pure function from what runs now, the release to bring
//! in, the strategy's settings and what the target can do, to the list of steps that moves the
//! environment from one to the other. Nothing here does I/O or waits: an executor carries the
//! steps out against a target (Docker hosts, ECS) and records each in the release's journal.
//!
//! Undoing a failed deploy, rolling back to an earlier release and finishing an interrupted
//! deploy are plans too ([`undo`], [`rollback`], [`resume`]).
//!
//! Adding a strategy: a module here with its `plan` function, its variant in
//! [`crate::manifest::Strategy`] (and [`crate::manifest::StrategyKind`]), and its arm in
//! [`deploy`].

mod analysis;
mod blue_green;
mod canary;
mod journal;
mod recreate;
mod rolling;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use analysis::{Traffic, judge};
pub use journal::{Entry, carried_from, read as read_journal};

use crate::manifest::{Limits, NativeCanary, Strategy, native_canary};

/// What serves an app now: the release whose replicas take its traffic, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serving {
    /// The release's name (`r7`); an app left out of later deploys keeps an older release.
    pub release: String,
    /// How many replicas that release runs.
    pub replicas: u32,
}

/// What runs in the environment now, app by app (apps with nothing live are absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    /// App → what serves it.
    pub apps: BTreeMap<String, Serving>,
}

impl LiveState {
    /// What serves `app`, if anything does.
    pub fn serving(&self, app: &str) -> Option<&Serving> {
        self.apps.get(app)
    }
}

/// One app a deploy brings in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppChange {
    /// The app's name.
    pub app: String,
    /// How many replicas the new release runs.
    pub replicas: u32,
    /// Whether it takes traffic through a router (it has a port); others are only started.
    pub routed: bool,
}

/// The release a deploy brings in: its name and the apps it replaces (in manifest order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The release's name (`r8`).
    pub release: String,
    /// The apps this deploy replaces; the environment's other apps keep what they run.
    pub apps: Vec<AppChange>,
}

/// How a target runs an app's replicas, which shapes every plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// Slipway starts, gates and removes each replica itself and routes by weight (Docker hosts
    /// behind slipway's proxy): rolling goes replica by replica.
    Replicas,
    /// A managed service replaces its own tasks in one update (ECS); a split-traffic strategy
    /// runs two services per app (blue and green) and moves a listener's weights, unless the
    /// service's own strategies move the traffic (`native`).
    Services {
        /// ECS's own blue-green, canary and linear deployments.
        native: bool,
    },
}

/// What a target can do, as far as a plan cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Where replicas run, in order: each Docker host by name; ECS is one place (its cluster).
    pub places: Vec<String>,
    /// How the target runs replicas.
    pub runs: Runs,
    /// Whether it runs an app's `before_deploy` and `after_deploy` hooks.
    pub hooks: bool,
}

/// Replicas `from..=to` of an app's release (numbered from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicas {
    /// The first.
    pub from: u32,
    /// The last.
    pub to: u32,
}

impl Replicas {
    /// Replicas `1..=count`.
    pub fn first(count: u32) -> Replicas {
        Replicas { from: 1, to: count }
    }

    /// How many.
    pub fn count(self) -> u32 {
        (self.to + 1).saturating_sub(self.from)
    }
}

/// One release's share of an app's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The release.
    pub release: String,
    /// Its weight; a split's weights are relative (0 keeps it registered without traffic).
    pub weight: u32,
    /// Which of its replicas serve the share.
    pub replicas: Replicas,
}

/// How a managed service replaces its tasks in one update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replacement {
    /// The share of the desired tasks that must stay healthy (`None`: the service's default).
    pub minimum_healthy_percent: Option<i32>,
    /// How far above the desired count it may go (`None`: the service's default).
    pub maximum_percent: Option<i32>,
    /// The service's own traffic shift, when it moves traffic itself.
    pub shift: Option<Shift>,
}

/// A managed service's own way of moving traffic to a new revision (ECS's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Shift {
    /// All at once, the old revision kept for the bake time.
    BlueGreen {
        /// Minutes the old revision is kept.
        bake_minutes: i32,
    },
    /// One step of `percent`, then the rest.
    Canary {
        /// The first step's share.
        percent: f64,
        /// Minutes between the steps.
        bake_minutes: i32,
    },
    /// Equal steps of `step_percent`.
    Linear {
        /// Each step's share.
        step_percent: f64,
        /// Minutes between the steps.
        bake_minutes: i32,
    },
}

/// An app a canary step watches: its new release against the old one on one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Where.
    pub place: String,
    /// Which app.
    pub app: String,
    /// The release it is compared with (none: the new one's window is judged alone).
    pub old: Option<String>,
    /// The release under watch.
    pub new: String,
}

/// One step of a plan. The executor records each step it carries out in the release's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Start replicas of an app's release (on ECS: point its service, or colour, at the
    /// release's revision with that many tasks).
    Start {
        /// Where.
        place: String,
        /// Which app.
        app: String,
        /// Which release.
        release: String,
        /// Which replicas.
        replicas: Replicas,
    },
    /// Wait until those replicas pass the health gate (on ECS: the service's steady state).
    Gate {
        /// Where.
        place: String,
        /// Which app.
        app: String,
        /// Which release.
        release: String,
        /// Which replicas.
        replicas: Replicas,
    },
    /// Replace a managed service's tasks with the release's revision in one update.
    Replace {
        /// Which app.
        app: String,
        /// Which release.
        release: String,
        /// Desired tasks.
        replicas: u32,
        /// How the service replaces them.
        how: Replacement,
    },
    /// Run the app's `before_deploy` hooks: once, after its first gate, before its traffic.
    BeforeDeploy {
        /// Which app.
        app: String,
    },
    /// Set an app's traffic split; releases left out of it lose their traffic (drained).
    SetWeights {
        /// Where.
        place: String,
        /// Which app.
        app: String,
        /// The releases that serve and their weights.
        split: Vec<Share>,
    },
    /// Take an app's route away (recreate: nothing serves it until the new release does).
    Unroute {
        /// Where.
        place: String,
        /// Which app.
        app: String,
    },
    /// A canary step: watch the apps for `pause_ms`, then hold each new release's window of
    /// traffic to the limits against the old one's; a breach fails the deploy.
    Analyse {
        /// The new release's share during the window.
        percent: u8,
        /// How long the window is.
        pause_ms: u64,
        /// What the new release may not exceed.
        limits: Limits,
        /// The apps compared.
        watched: Vec<Watched>,
    },
    /// Wait, keeping everything as it is (the old colour kept for the bake time on ECS).
    Hold {
        /// How long.
        duration_ms: u64,
    },
    /// Remove replicas of a release of an app (on ECS: scale its colour to zero).
    Retire {
        /// Where.
        place: String,
        /// Which app.
        app: String,
        /// Which release.
        release: String,
        /// Which replicas.
        replicas: Replicas,
    },
    /// The release is live: recorded so, and the deploy lock may go.
    MarkLive,
    /// Blue-green's bake after the release went live: the old release stays, idle, for an
    /// instant rollback. The steps after it run only if the release is still live then.
    Bake {
        /// How long.
        duration_ms: u64,
    },
    /// Run the app's `after_deploy` hooks (a failure is reported; the release stays live).
    AfterDeploy {
        /// Which app.
        app: String,
    },
}

impl Step {
    /// Whether the step moves traffic to the new release (a release that failed after such a
    /// step is `rolled-back`, before it `failed`).
    pub fn moves_traffic(&self) -> bool {
        matches!(self, Step::SetWeights { .. } | Step::Replace { .. })
    }

    /// Whether carrying the step out again after an interruption would redo work that lasts
    /// (replicas started or removed, hooks run): a resumed deploy skips such steps the journal
    /// shows done. Gates, weights and analyses are always carried out again.
    pub fn lasts(&self) -> bool {
        matches!(
            self,
            Step::Start { .. } | Step::Retire { .. } | Step::BeforeDeploy { .. }
        )
    }
}

/// A strategy's steps for one deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// In order.
    pub steps: Vec<Step>,
}

/// Why no plan could be made; nothing has changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Recreate has downtime, which slipway.toml must accept.
    #[error(
        "the recreate strategy stops the running release before the new one starts (downtime); set `allow_downtime = true` in the environment's strategy to accept that"
    )]
    DowntimeNotAllowed,
    /// ECS's own canary takes only some shapes of steps.
    #[error(
        "ECS's own canary moves one step then the rest (e.g. [10, 100]) and its linear strategy equal steps (e.g. [25, 50, 75, 100]), not {steps:?}; change the steps or set `deployments = \"slipway\"` in the environment's target"
    )]
    NativeCanarySteps {
        /// The steps asked for.
        steps: Vec<u8>,
    },
}

/// The plan that moves the environment from `live` to `incoming` with `strategy` on a target
/// that can do `target`.
pub fn deploy(
    live: &LiveState,
    incoming: &Incoming,
    strategy: &Strategy,
    target: &Capabilities,
) -> Result<Plan, PlanError> {
    let steps = match strategy {
        Strategy::Recreate { allow_downtime } => {
            if !allow_downtime {
                return Err(PlanError::DowntimeNotAllowed);
            }
            recreate::plan(live, incoming, target)
        }
        Strategy::Rolling {
            max_surge,
            max_unavailable,
        } => rolling::plan(live, incoming, *max_surge, *max_unavailable, target),
        Strategy::BlueGreen { bake } => blue_green::plan(live, incoming, bake.map(|b| b.0), target),
        Strategy::Canary { .. } => canary::plan(
            live,
            incoming,
            &strategy.canary().expect("a canary"),
            target,
        )?,
    };
    Ok(Plan { steps })
}

/// Whether no app of the deploy has anything live: every strategy's first release starts the
/// whole set and switches at once (there is nothing to roll from or to compare with).
fn first_release(live: &LiveState, incoming: &Incoming) -> bool {
    incoming.apps.iter().all(|a| live.serving(&a.app).is_none())
}

/// Every app's new replicas on every place, gated (all gates together), then each app's
/// `before_deploy` hooks: the release is ready for traffic.
fn whole_set(incoming: &Incoming, target: &Capabilities) -> Vec<Step> {
    let mut steps = Vec::new();
    for place in &target.places {
        for app in &incoming.apps {
            steps.push(Step::Start {
                place: place.clone(),
                app: app.app.clone(),
                release: incoming.release.clone(),
                replicas: Replicas::first(app.replicas),
            });
        }
    }
    for place in &target.places {
        for app in &incoming.apps {
            steps.push(Step::Gate {
                place: place.clone(),
                app: app.app.clone(),
                release: incoming.release.clone(),
                replicas: Replicas::first(app.replicas),
            });
        }
    }
    steps.extend(before_deploy(incoming, target));
    steps
}

fn before_deploy(incoming: &Incoming, target: &Capabilities) -> Vec<Step> {
    if !target.hooks {
        return Vec::new();
    }
    incoming
        .apps
        .iter()
        .map(|a| Step::BeforeDeploy { app: a.app.clone() })
        .collect()
}

/// The end of every deploy plan: live, then the `after_deploy` hooks.
fn live_and_after(incoming: &Incoming, target: &Capabilities) -> Vec<Step> {
    let mut steps = vec![Step::MarkLive];
    if target.hooks {
        steps.extend(
            incoming
                .apps
                .iter()
                .map(|a| Step::AfterDeploy { app: a.app.clone() }),
        );
    }
    steps
}

fn share(release: &str, weight: u32, replicas: u32) -> Share {
    Share {
        release: release.to_owned(),
        weight,
        replicas: Replicas::first(replicas),
    }
}

/// How a managed service replaces its tasks under `strategy` (one service per app).
pub fn replacement(strategy: &Strategy, desired: u32, native: bool) -> Replacement {
    let desired = desired.max(1) as i32;
    let percent = |n: u32| (n as i32 * 100 + desired - 1) / desired;
    let minutes =
        |d: Option<crate::manifest::Duration>| d.map_or(0, |d| d.0.as_secs().div_ceil(60) as i32);
    let unchanged = Replacement {
        minimum_healthy_percent: None,
        maximum_percent: None,
        shift: None,
    };
    match strategy {
        Strategy::Rolling {
            max_surge,
            max_unavailable,
        } => Replacement {
            minimum_healthy_percent: Some((100 - percent(*max_unavailable)).max(0)),
            maximum_percent: Some(100 + percent(*max_surge).max(1)),
            shift: None,
        },
        Strategy::Recreate { .. } => Replacement {
            minimum_healthy_percent: Some(0),
            maximum_percent: Some(100),
            shift: None,
        },
        Strategy::BlueGreen { .. } | Strategy::Canary { .. } if !native => unchanged,
        Strategy::BlueGreen { bake } => Replacement {
            shift: Some(Shift::BlueGreen {
                bake_minutes: minutes(*bake),
            }),
            ..unchanged
        },
        Strategy::Canary { steps, pause, .. } => Replacement {
            shift: match native_canary(steps) {
                Some(NativeCanary::Canary(percent)) => Some(Shift::Canary {
                    percent: f64::from(percent),
                    bake_minutes: minutes(*pause),
                }),
                Some(NativeCanary::Linear(step)) => Some(Shift::Linear {
                    step_percent: f64::from(step),
                    bake_minutes: minutes(*pause),
                }),
                None => None,
            },
            ..unchanged
        },
    }
}

/// One service per app replaced in place (ECS rolling and recreate, and ECS's own blue-green
/// and canary): each app's update, followed to its steady state, in turn.
fn replace_in_place(incoming: &Incoming, strategy: &Strategy, target: &Capabilities) -> Vec<Step> {
    let native = matches!(target.runs, Runs::Services { native: true });
    let place = target.places.first().cloned().unwrap_or_default();
    let mut steps = Vec::new();
    for app in &incoming.apps {
        steps.push(Step::Replace {
            app: app.app.clone(),
            release: incoming.release.clone(),
            replicas: app.replicas,
            how: replacement(strategy, app.replicas, native),
        });
        steps.push(Step::Gate {
            place: place.clone(),
            app: app.app.clone(),
            release: incoming.release.clone(),
            replicas: Replicas::first(app.replicas),
        });
    }
    steps.extend(live_and_after(incoming, target));
    steps
}

/// The plan that puts `live` back after a deploy of `failed` went wrong part way: every routed
/// app's traffic back on what served it (its route removed when nothing did), then every
/// replica the failed release started removed.
pub fn undo(live: &LiveState, failed: &Incoming, target: &Capabilities) -> Plan {
    let mut steps = Vec::new();
    for place in &target.places {
        for app in &failed.apps {
            let serving = live.serving(&app.app);
            if let (Runs::Services { .. }, Some(serving)) = (target.runs, serving) {
                // A service's revision is put back by starting the live release on it again.
                for step in [start_step, gate_step] {
                    steps.push(step(place, &app.app, &serving.release, serving.replicas));
                }
            }
            if app.routed {
                match serving {
                    Some(serving) => steps.push(Step::SetWeights {
                        place: place.clone(),
                        app: app.app.clone(),
                        split: vec![share(&serving.release, 100, serving.replicas)],
                    }),
                    None if target.runs == Runs::Replicas => steps.push(Step::Unroute {
                        place: place.clone(),
                        app: app.app.clone(),
                    }),
                    None => {}
                }
            }
            if target.runs != Runs::Replicas {
                steps.push(retire_step(place, &app.app, &failed.release, app.replicas));
            }
        }
        if target.runs == Runs::Replicas {
            for app in &failed.apps {
                steps.push(retire_step(place, &app.app, &failed.release, app.replicas));
            }
        }
    }
    Plan { steps }
}

fn start_step(place: &str, app: &str, release: &str, replicas: u32) -> Step {
    Step::Start {
        place: place.to_owned(),
        app: app.to_owned(),
        release: release.to_owned(),
        replicas: Replicas::first(replicas),
    }
}

fn gate_step(place: &str, app: &str, release: &str, replicas: u32) -> Step {
    Step::Gate {
        place: place.to_owned(),
        app: app.to_owned(),
        release: release.to_owned(),
        replicas: Replicas::first(replicas),
    }
}

fn retire_step(place: &str, app: &str, release: &str, replicas: u32) -> Step {
    Step::Retire {
        place: place.to_owned(),
        app: app.to_owned(),
        release: release.to_owned(),
        replicas: Replicas::first(replicas),
    }
}

/// The plan of a rollback from `live` to the release `to` (its apps and replicas): its replicas
/// started where they are gone and gated, then every app switched to it and the live release's
/// replicas removed.
pub fn rollback(live: &LiveState, to: &Incoming, target: &Capabilities) -> Plan {
    let mut steps = Vec::new();
    for place in &target.places {
        for app in &to.apps {
            steps.push(Step::Start {
                place: place.clone(),
                app: app.app.clone(),
                release: to.release.clone(),
                replicas: Replicas::first(app.replicas),
            });
            steps.push(Step::Gate {
                place: place.clone(),
                app: app.app.clone(),
                release: to.release.clone(),
                replicas: Replicas::first(app.replicas),
            });
        }
    }
    for place in &target.places {
        for app in &to.apps {
            if app.routed {
                steps.push(Step::SetWeights {
                    place: place.clone(),
                    app: app.app.clone(),
                    split: vec![share(&to.release, 100, app.replicas)],
                });
            }
            if let Some(serving) = live.serving(&app.app)
                && serving.release != to.release
            {
                steps.push(Step::Retire {
                    place: place.clone(),
                    app: app.app.clone(),
                    release: serving.release.clone(),
                    replicas: Replicas::first(serving.replicas),
                });
            }
        }
    }
    Plan { steps }
}

/// The rest of an interrupted deploy: `plan` (made again for the same release, maybe with
/// another strategy) without the lasting steps its journal shows done, so replicas it started
/// are kept and hooks that ran do not run twice.
pub fn resume(plan: Plan, journal: &[Entry]) -> Plan {
    let done: Vec<&Step> = journal
        .iter()
        .filter_map(|entry| match entry {
            Entry::Done { step } => Some(step),
            _ => None,
        })
        .collect();
    Plan {
        steps: plan
            .steps
            .into_iter()
            .filter(|step| !(step.lasts() && done.contains(&step)))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
