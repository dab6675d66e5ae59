//! Every strategy's plan on both kinds of target, and the undo, rollback and resume plans.
//! The assertions are what a person deploying cares about: no traffic before a gate, no old
//! replica removed before the new ones serve, a canary analysed before each step onwards.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::manifest::{Percent, Strategy};

fn docker(hosts: &[&str]) -> Capabilities {
    Capabilities {
        places: hosts.iter().map(|h| h.to_string()).collect(),
        runs: Runs::Replicas,
        hooks: true,
    }
}

fn ecs(native: bool) -> Capabilities {
    Capabilities {
        places: vec!["shop-cluster".into()],
        runs: Runs::Services { native },
        hooks: false,
    }
}

fn live(apps: &[(&str, &str, u32)]) -> LiveState {
    LiveState {
        apps: apps
            .iter()
            .map(|(app, release, replicas)| {
                (
                    app.to_string(),
                    Serving {
                        release: release.to_string(),
                        replicas: *replicas,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn incoming(release: &str, apps: &[(&str, u32, bool)]) -> Incoming {
    Incoming {
        release: release.into(),
        apps: apps
            .iter()
            .map(|(app, replicas, routed)| AppChange {
                app: app.to_string(),
                replicas: *replicas,
                routed: *routed,
            })
            .collect(),
    }
}

fn canary(steps: &[u8]) -> Strategy {
    Strategy::Canary {
        steps: steps.to_vec(),
        pause: Some(crate::manifest::Duration(Duration::from_secs(5))),
        max_error_rate: Some(Percent(2.0)),
        max_latency_increase: None,
    }
}

fn position(steps: &[Step], wanted: impl Fn(&Step) -> bool) -> usize {
    steps
        .iter()
        .position(wanted)
        .unwrap_or_else(|| panic!("no such step in {steps:#?}"))
}

/// Every share with traffic of a new replica comes after a gate of that replica on that place.
fn assert_gated_before_traffic(steps: &[Step], new: &str) {
    for (i, step) in steps.iter().enumerate() {
        let Step::SetWeights { place, app, split } = step else {
            continue;
        };
        for share in split.iter().filter(|s| s.release == new && s.weight > 0) {
            for replica in share.replicas.from..=share.replicas.to {
                let gated = steps[..i].iter().any(|s| {
                    matches!(s, Step::Gate { place: p, app: a, release, replicas }
                        if p == place && a == app && release == new
                            && (replicas.from..=replicas.to).contains(&replica))
                });
                assert!(
                    gated,
                    "{app} replica {replica} got traffic ungated on {place}: {steps:#?}"
                );
            }
        }
    }
}

/// No replica of `old` is removed before the new release has traffic for that (routed) app and
/// place.
fn assert_old_retired_after_new_serves(steps: &[Step], old: &str, new: &str) {
    for (i, step) in steps.iter().enumerate() {
        let Step::Retire {
            place,
            app,
            release,
            ..
        } = step
        else {
            continue;
        };
        let routed = steps
            .iter()
            .any(|s| matches!(s, Step::SetWeights { app: a, .. } if a == app));
        if release != old || !routed {
            continue;
        }
        let serving = steps[..i].iter().any(|s| {
            matches!(s, Step::SetWeights { place: p, app: a, split }
                if p == place && a == app && split.iter().any(|s| s.release == new && s.weight > 0))
        });
        assert!(
            serving,
            "{old} of {app} removed before {new} served on {place}: {steps:#?}"
        );
    }
}

#[test]
fn blue_green_switches_after_every_gate_and_only_then_retires_the_old_set() {
    let live = live(&[("api", "r1", 2), ("web", "r1", 1)]);
    let new = incoming("r2", &[("api", 2, true), ("web", 1, true)]);
    let plan = deploy(
        &live,
        &new,
        &Strategy::BlueGreen { bake: None },
        &docker(&["a", "b"]),
    )
    .unwrap();
    let steps = &plan.steps;
    assert_gated_before_traffic(steps, "r2");
    assert_old_retired_after_new_serves(steps, "r1", "r2");
    // Every gate before the first switch: the whole set is ready before any traffic moves.
    let last_gate = steps
        .iter()
        .rposition(|s| matches!(s, Step::Gate { .. }))
        .unwrap();
    let first_switch = position(steps, |s| matches!(s, Step::SetWeights { .. }));
    assert!(last_gate < first_switch);
    let hooks = position(steps, |s| matches!(s, Step::BeforeDeploy { .. }));
    assert!(last_gate < hooks && hooks < first_switch, "{steps:#?}");
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Start { .. }))
            .count(),
        4,
        "two apps on two hosts"
    );
    assert!(matches!(steps[steps.len() - 3], Step::MarkLive));
}

#[test]
fn blue_green_with_a_bake_keeps_the_old_set_idle_until_the_bake_is_over() {
    let live = live(&[("api", "r1", 2)]);
    let new = incoming("r2", &[("api", 2, true)]);
    let bake = Strategy::BlueGreen {
        bake: Some(crate::manifest::Duration(Duration::from_secs(60))),
    };
    let steps = deploy(&live, &new, &bake, &docker(&["a"])).unwrap().steps;
    let switch = position(steps.as_slice(), |s| matches!(s, Step::SetWeights { .. }));
    let Step::SetWeights { split, .. } = &steps[switch] else {
        unreachable!()
    };
    assert_eq!(
        split
            .iter()
            .map(|s| (s.release.as_str(), s.weight))
            .collect::<Vec<_>>(),
        vec![("r1", 0), ("r2", 100)],
        "the old set stays registered, idle"
    );
    let live_at = position(&steps, |s| matches!(s, Step::MarkLive));
    let bake_at = position(&steps, |s| {
        matches!(
            s,
            Step::Bake {
                duration_ms: 60_000
            }
        )
    });
    let retire_at = position(&steps, |s| matches!(s, Step::Retire { .. }));
    assert!(
        switch < live_at && live_at < bake_at && bake_at < retire_at,
        "{steps:#?}"
    );
    assert!(matches!(steps.last(), Some(Step::AfterDeploy { .. })));
}

#[test]
fn a_canary_moves_in_its_steps_analysing_each_but_the_last() {
    let live = live(&[("api", "r1", 2), ("worker", "r1", 1)]);
    let new = incoming("r2", &[("api", 2, true), ("worker", 1, false)]);
    let steps = deploy(&live, &new, &canary(&[10, 50, 100]), &docker(&["a"]))
        .unwrap()
        .steps;
    assert_gated_before_traffic(&steps, "r2");
    assert_old_retired_after_new_serves(&steps, "r1", "r2");
    let moves: Vec<Vec<(String, u32)>> = steps
        .iter()
        .filter_map(|s| match s {
            Step::SetWeights { split, .. } => Some(
                split
                    .iter()
                    .map(|s| (s.release.clone(), s.weight))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            vec![("r1".into(), 90), ("r2".into(), 10)],
            vec![("r1".into(), 50), ("r2".into(), 50)],
            vec![("r2".into(), 100)],
        ],
        "only the routed app gets weights"
    );
    let analyses: Vec<(u8, u64, f64, usize)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Analyse {
                percent,
                pause_ms,
                limits,
                watched,
            } => Some((*percent, *pause_ms, limits.max_error_rate, watched.len())),
            _ => None,
        })
        .collect();
    assert_eq!(analyses, vec![(10, 5_000, 0.02, 1), (50, 5_000, 0.02, 1)]);
    // Each analysis comes after its step's weights and before the next step's.
    let first_analysis = position(&steps, |s| matches!(s, Step::Analyse { percent: 10, .. }));
    let fifty = position(
        &steps,
        |s| matches!(s, Step::SetWeights { split, .. } if split.iter().any(|s| s.weight == 50)),
    );
    assert!(first_analysis < fifty);
    // The old replicas go only at 100%, the worker's too.
    let retires: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Retire { app, .. } => Some(app.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(retires, vec!["api", "worker"]);
    let last_analysis = steps
        .iter()
        .rposition(|s| matches!(s, Step::Analyse { .. }))
        .unwrap();
    let first_retire = position(&steps, |s| matches!(s, Step::Retire { .. }));
    assert!(last_analysis < first_retire);
}

#[test]
fn canary_defaults_come_from_one_place() {
    let live = live(&[("api", "r1", 1)]);
    let new = incoming("r2", &[("api", 1, true)]);
    let strategy = Strategy::defaults(crate::manifest::StrategyKind::Canary);
    let steps = deploy(&live, &new, &strategy, &docker(&["a"]))
        .unwrap()
        .steps;
    let analyses: Vec<(u8, u64, f64)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Analyse {
                percent,
                pause_ms,
                limits,
                ..
            } => Some((*percent, *pause_ms, limits.max_error_rate)),
            _ => None,
        })
        .collect();
    assert_eq!(analyses, vec![(10, 30_000, 0.01), (50, 30_000, 0.01)]);
}

#[test]
fn recreate_needs_consent_to_downtime_and_stops_the_old_release_first() {
    let live = live(&[("api", "r1", 1)]);
    let new = incoming("r2", &[("api", 1, true)]);
    let refused = deploy(
        &live,
        &new,
        &Strategy::Recreate {
            allow_downtime: false,
        },
        &docker(&["a"]),
    );
    assert_eq!(refused, Err(PlanError::DowntimeNotAllowed));
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("allow_downtime = true")
    );
    for target in [docker(&["a"]), ecs(false)] {
        assert_eq!(
            deploy(
                &live,
                &new,
                &Strategy::Recreate {
                    allow_downtime: false
                },
                &target
            ),
            Err(PlanError::DowntimeNotAllowed)
        );
    }
    let steps = deploy(
        &live,
        &new,
        &Strategy::Recreate {
            allow_downtime: true,
        },
        &docker(&["a"]),
    )
    .unwrap()
    .steps;
    let kinds: Vec<&str> = steps.iter().map(step_kind).collect();
    assert_eq!(
        kinds,
        vec![
            "unroute",
            "retire",
            "start",
            "gate",
            "before-deploy",
            "set-weights",
            "mark-live",
            "after-deploy"
        ]
    );
}

fn step_kind(step: &Step) -> &'static str {
    match step {
        Step::Start { .. } => "start",
        Step::Gate { .. } => "gate",
        Step::Replace { .. } => "replace",
        Step::BeforeDeploy { .. } => "before-deploy",
        Step::SetWeights { .. } => "set-weights",
        Step::Unroute { .. } => "unroute",
        Step::Analyse { .. } => "analyse",
        Step::Hold { .. } => "hold",
        Step::Retire { .. } => "retire",
        Step::MarkLive => "mark-live",
        Step::Bake { .. } => "bake",
        Step::AfterDeploy { .. } => "after-deploy",
    }
}

#[test]
fn rolling_with_surge_keeps_every_replica_serving_and_gives_each_an_equal_share() {
    let live = live(&[("api", "r1", 3)]);
    let new = incoming("r2", &[("api", 3, true)]);
    let strategy = Strategy::Rolling {
        max_surge: 1,
        max_unavailable: 0,
    };
    let steps = deploy(&live, &new, &strategy, &docker(&["a", "b"]))
        .unwrap()
        .steps;
    assert_gated_before_traffic(&steps, "r2");
    assert_old_retired_after_new_serves(&steps, "r1", "r2");
    let on_a: Vec<Vec<(String, u32)>> = steps
        .iter()
        .filter_map(|s| match s {
            Step::SetWeights { place, split, .. } if place == "a" => Some(
                split
                    .iter()
                    .map(|s| (s.release.clone(), s.weight))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    let r = |o: u32, n: u32| {
        let mut v = Vec::new();
        if o > 0 {
            v.push(("r1".to_owned(), o));
        }
        if n > 0 {
            v.push(("r2".to_owned(), n));
        }
        v
    };
    assert_eq!(
        on_a,
        vec![r(3, 1), r(2, 1), r(2, 2), r(1, 2), r(1, 3), r(0, 3)]
    );
    // Never fewer than three replicas serving: each old one leaves after a new one arrived.
    assert!(
        on_a.iter()
            .all(|split| split.iter().map(|(_, w)| w).sum::<u32>() >= 3)
    );
    // Host a is done before host b starts; the hooks run once, on the first host.
    let first_b = position(
        &steps,
        |s| matches!(s, Step::Start { place, .. } if place == "b"),
    );
    let last_a = steps
        .iter()
        .rposition(|s| matches!(s, Step::Retire { place, .. } if place == "a"))
        .unwrap();
    assert!(last_a < first_b);
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::BeforeDeploy { .. }))
            .count(),
        1
    );
}

#[test]
fn rolling_without_surge_takes_old_replicas_out_before_starting_new_ones() {
    let live = live(&[("api", "r1", 2)]);
    let new = incoming("r2", &[("api", 2, true)]);
    let strategy = Strategy::Rolling {
        max_surge: 0,
        max_unavailable: 1,
    };
    let steps = deploy(&live, &new, &strategy, &docker(&["a"]))
        .unwrap()
        .steps;
    assert_gated_before_traffic(&steps, "r2");
    let kinds: Vec<&str> = steps.iter().map(step_kind).collect();
    assert_eq!(
        kinds,
        vec![
            "set-weights",
            "retire",
            "start",
            "gate",
            "before-deploy",
            "set-weights",
            "set-weights",
            "retire",
            "start",
            "gate",
            "set-weights",
            "mark-live",
            "after-deploy"
        ]
    );
    let Step::Retire { replicas, .. } = &steps[1] else {
        unreachable!()
    };
    assert_eq!(*replicas, Replicas { from: 1, to: 1 });
}

#[test]
fn every_strategy_starts_a_first_release_whole_and_switches_at_once() {
    let nothing = LiveState::default();
    let new = incoming("r1", &[("api", 2, true)]);
    for strategy in [
        Strategy::default(),
        Strategy::BlueGreen {
            bake: Some(crate::manifest::Duration(Duration::from_secs(9))),
        },
        canary(&[10, 100]),
    ] {
        let steps = deploy(&nothing, &new, &strategy, &docker(&["a"]))
            .unwrap()
            .steps;
        let kinds: Vec<&str> = steps.iter().map(step_kind).collect();
        assert_eq!(
            kinds,
            vec![
                "start",
                "gate",
                "before-deploy",
                "set-weights",
                "mark-live",
                "after-deploy"
            ],
            "{strategy:?}"
        );
    }
}

#[test]
fn on_ecs_rolling_and_recreate_are_one_service_update_each_followed_to_steady_state() {
    let live = live(&[("api", "r1", 4)]);
    let new = incoming("r2", &[("api", 4, true), ("worker", 1, false)]);
    let steps = deploy(
        &live,
        &new,
        &Strategy::Rolling {
            max_surge: 1,
            max_unavailable: 1,
        },
        &ecs(false),
    )
    .unwrap()
    .steps;
    let kinds: Vec<&str> = steps.iter().map(step_kind).collect();
    assert_eq!(
        kinds,
        vec!["replace", "gate", "replace", "gate", "mark-live"],
        "no hooks on ECS"
    );
    let Step::Replace { how, replicas, .. } = &steps[0] else {
        unreachable!()
    };
    assert_eq!(*replicas, 4);
    assert_eq!(
        (how.minimum_healthy_percent, how.maximum_percent),
        (Some(75), Some(125))
    );
    let steps = deploy(
        &live,
        &new,
        &Strategy::Recreate {
            allow_downtime: true,
        },
        &ecs(false),
    )
    .unwrap()
    .steps;
    let Step::Replace { how, .. } = &steps[0] else {
        unreachable!()
    };
    assert_eq!(
        (how.minimum_healthy_percent, how.maximum_percent),
        (Some(0), Some(100))
    );
}

#[test]
fn on_ecs_blue_green_and_canary_move_the_listener_between_two_colours() {
    let live = live(&[("api", "r1", 2)]);
    let new = incoming("r2", &[("api", 2, true)]);
    let bake = Strategy::BlueGreen {
        bake: Some(crate::manifest::Duration(Duration::from_secs(120))),
    };
    let steps = deploy(&live, &new, &bake, &ecs(false)).unwrap().steps;
    let kinds: Vec<&str> = steps.iter().map(step_kind).collect();
    assert_eq!(
        kinds,
        vec![
            "start",
            "gate",
            "set-weights",
            "hold",
            "retire",
            "mark-live"
        ]
    );
    assert_gated_before_traffic(&steps, "r2");

    let steps = deploy(&live, &new, &canary(&[10, 40, 100]), &ecs(false))
        .unwrap()
        .steps;
    let kinds: Vec<&str> = steps.iter().map(step_kind).collect();
    assert_eq!(
        kinds,
        vec![
            "start",
            "gate",
            "set-weights",
            "analyse",
            "set-weights",
            "analyse",
            "set-weights",
            "retire",
            "mark-live"
        ]
    );
    // Nothing live for the app: straight to 100%, nothing to compare with.
    let first = deploy(
        &LiveState::default(),
        &new,
        &canary(&[10, 100]),
        &ecs(false),
    )
    .unwrap()
    .steps;
    assert_eq!(
        first.iter().map(step_kind).collect::<Vec<_>>(),
        vec!["start", "gate", "set-weights", "mark-live"]
    );
}

#[test]
fn with_ecs_deployments_the_service_shifts_traffic_itself() {
    let live = live(&[("api", "r1", 2)]);
    let new = incoming("r2", &[("api", 2, true)]);
    let bake = Strategy::BlueGreen {
        bake: Some(crate::manifest::Duration(Duration::from_secs(90))),
    };
    let steps = deploy(&live, &new, &bake, &ecs(true)).unwrap().steps;
    let Step::Replace { how, .. } = &steps[0] else {
        panic!("{steps:#?}")
    };
    assert_eq!(how.shift, Some(Shift::BlueGreen { bake_minutes: 2 }));
    let steps = deploy(&live, &new, &canary(&[25, 50, 75, 100]), &ecs(true))
        .unwrap()
        .steps;
    let Step::Replace { how, .. } = &steps[0] else {
        panic!("{steps:#?}")
    };
    assert_eq!(
        how.shift,
        Some(Shift::Linear {
            step_percent: 25.0,
            bake_minutes: 1
        })
    );
    assert_eq!(
        deploy(&live, &new, &canary(&[10, 40, 100]), &ecs(true)),
        Err(PlanError::NativeCanarySteps {
            steps: vec![10, 40, 100]
        })
    );
}

#[test]
fn undoing_a_failed_deploy_puts_traffic_back_before_removing_what_it_started() {
    let live = live(&[("api", "r1", 2)]);
    let failed = incoming("r2", &[("api", 2, true), ("admin", 1, true)]);
    let steps = undo(&live, &failed, &docker(&["a"])).steps;
    assert_eq!(
        steps.iter().map(step_kind).collect::<Vec<_>>(),
        vec!["set-weights", "unroute", "retire", "retire"]
    );
    let Step::SetWeights { split, .. } = &steps[0] else {
        unreachable!()
    };
    assert_eq!(
        split,
        &vec![Share {
            release: "r1".into(),
            weight: 100,
            replicas: Replicas::first(2)
        }]
    );
    assert!(
        steps
            .iter()
            .all(|s| !matches!(s, Step::Retire { release, .. } if release == "r1"))
    );

    // On ECS the live release's revision goes back on its service and reaches a steady state
    // before the listener moves; a first release's services are scaled to zero.
    let steps = undo(&live, &failed, &ecs(false)).steps;
    assert_eq!(
        steps.iter().map(step_kind).collect::<Vec<_>>(),
        vec!["start", "gate", "set-weights", "retire", "retire"]
    );
}

#[test]
fn a_rollback_gates_the_release_it_returns_to_before_switching() {
    let live = live(&[("api", "r3", 2)]);
    let to = incoming("r2", &[("api", 2, true)]);
    let steps = rollback(&live, &to, &docker(&["a", "b"])).steps;
    assert_gated_before_traffic(&steps, "r2");
    assert_old_retired_after_new_serves(&steps, "r3", "r2");
    let last_gate = steps
        .iter()
        .rposition(|s| matches!(s, Step::Gate { .. }))
        .unwrap();
    let first_switch = position(&steps, |s| matches!(s, Step::SetWeights { .. }));
    assert!(
        last_gate < first_switch,
        "every host ready before any switches"
    );
}

#[test]
fn a_resumed_deploy_keeps_what_it_started_and_carries_out_the_rest() {
    let live = live(&[("api", "r1", 2)]);
    let new = incoming("r2", &[("api", 2, true)]);
    let interrupted = deploy(&live, &new, &canary(&[50, 100]), &docker(&["a"])).unwrap();
    // Killed during the canary's window: the set was started, gated, hooked and weighted.
    let analyse = position(&interrupted.steps, |s| matches!(s, Step::Analyse { .. }));
    let mut journal: Vec<Entry> = interrupted.steps[..analyse]
        .iter()
        .map(|step| Entry::Done { step: step.clone() })
        .collect();
    journal.insert(
        0,
        Entry::Carried {
            app: "worker".into(),
            from: "r1".into(),
        },
    );
    // Finished with blue-green.
    let again = deploy(
        &live,
        &new,
        &Strategy::BlueGreen { bake: None },
        &docker(&["a"]),
    )
    .unwrap();
    let rest = resume(again, &journal).steps;
    assert_eq!(
        rest.iter().map(step_kind).collect::<Vec<_>>(),
        vec!["gate", "set-weights", "retire", "mark-live", "after-deploy"],
        "nothing started twice, hooks not run again; the gate is checked again"
    );
}
