//! The executor against the recording double: what happens on the way, on a failed gate, on a
//! canary's bad metrics, after going live, during a bake, and when an interrupted deploy is
//! resumed from its journal.

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_core::manifest::{Duration as Wait, Percent, Strategy};
use slipway_core::plan::{
    self, AppChange, Capabilities, Entry, Incoming, LiveState, Runs, Serving, Traffic,
};

use super::*;
use crate::double::{Memory, Recording};

fn docker() -> Capabilities {
    Capabilities {
        places: vec!["local".into()],
        runs: Runs::Replicas,
        hooks: true,
    }
}

fn ecs() -> Capabilities {
    Capabilities {
        places: vec!["cluster".into()],
        runs: Runs::Services { native: false },
        hooks: false,
    }
}

fn live_r1() -> LiveState {
    LiveState {
        apps: BTreeMap::from([(
            "api".to_owned(),
            Serving {
                release: "r1".into(),
                replicas: 2,
            },
        )]),
    }
}

fn r2() -> Incoming {
    Incoming {
        release: "r2".into(),
        apps: vec![AppChange {
            app: "api".into(),
            replicas: 2,
            routed: true,
        }],
    }
}

fn canary(pause: Duration) -> Strategy {
    Strategy::Canary {
        steps: vec![50, 100],
        pause: Some(Wait(pause)),
        max_error_rate: Some(Percent(1.0)),
        max_latency_increase: None,
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn run<T: Target>(
    target: &T,
    journal: &Memory,
    strategy: &Strategy,
    live: &LiveState,
) -> std::result::Result<(), Box<Failure>> {
    let caps = target.capabilities().clone();
    let plan = plan::deploy(live, &r2(), strategy, &caps).unwrap();
    let undo = plan::undo(live, &r2(), &caps);
    block_on(execute(target, journal, &plan, &undo))
}

#[test]
fn a_blue_green_deploy_records_each_step_and_goes_live() {
    let target = Recording::new(docker());
    let journal = Memory::default();
    run(
        &target,
        &journal,
        &Strategy::BlueGreen { bake: None },
        &live_r1(),
    )
    .unwrap();
    assert_eq!(
        target.calls(),
        vec![
            "start local api r2 1-2",
            "gate local api r2 1-2",
            "before_deploy api",
            "weights local api r2=100",
            "retire local api r1 1-2",
            "live",
            "after_deploy api",
        ]
    );
    assert!(*journal.live.lock().unwrap());
    let entries = journal.entries();
    assert_eq!(entries.len(), 7, "every step journaled: {entries:?}");
    assert!(entries.iter().any(Entry::moved_traffic));
}

#[test]
fn a_failed_gate_undoes_the_release_before_it_had_traffic() {
    let mut target = Recording::new(docker());
    target.unhealthy = Some(("api".into(), "r2".into()));
    let journal = Memory::default();
    let failure = run(
        &target,
        &journal,
        &Strategy::BlueGreen { bake: None },
        &live_r1(),
    )
    .unwrap_err();
    assert!(
        matches!(failure.error, DeployError::Gate { .. }),
        "{:?}",
        failure.error
    );
    assert!(!failure.live && failure.undo_error.is_none());
    assert_eq!(
        target.calls(),
        vec![
            "start local api r2 1-2",
            "gate local api r2 1-2",
            // The undo plan: traffic stays on r1, what r2 started goes.
            "weights local api r1=100",
            "retire local api r2 1-2",
        ]
    );
    assert!(!*journal.live.lock().unwrap());
    assert!(
        !journal.entries().iter().any(Entry::moved_traffic),
        "never had traffic: `failed`"
    );
    assert!(
        !target
            .calls()
            .iter()
            .any(|c| c.starts_with("retire local api r1"))
    );
}

#[test]
fn a_canary_with_bad_metrics_stops_and_puts_the_old_release_back() {
    let mut target = Recording::new(docker());
    target.new_traffic = Traffic {
        requests: 50.0,
        errors: 10.0,
        latency: None,
        latency_is_mean: false,
    };
    let journal = Memory::default();
    // An hour's pause: the double's clock lets it pass at once.
    let failure = run(
        &target,
        &journal,
        &canary(Duration::from_secs(3600)),
        &live_r1(),
    )
    .unwrap_err();
    let DeployError::Analysis { app, message } = &failure.error else {
        panic!("{:?}", failure.error)
    };
    assert_eq!(app, "api");
    assert!(
        message.contains("error rate was 20.0% (10 of 50 requests)"),
        "{message}"
    );
    assert_eq!(
        *target.waited.lock().unwrap(),
        vec![Duration::from_secs(3600)]
    );
    let calls = target.calls();
    assert_eq!(
        &calls[calls.len() - 2..],
        &["weights local api r1=100", "retire local api r2 1-2"]
    );
    assert!(
        !calls.iter().any(|c| c.contains("r2=100")),
        "never reached 100%: {calls:?}"
    );
    assert!(!calls.iter().any(|c| c.starts_with("retire local api r1")));
    assert!(
        journal.entries().iter().any(Entry::moved_traffic),
        "it had traffic: `rolled-back`"
    );
}

#[test]
fn a_step_failing_mid_plan_leads_to_the_undo_plan() {
    let mut target = Recording::new(docker());
    target.fail = Some("retire local api r1 1-1".into());
    let journal = Memory::default();
    let rolling = Strategy::Rolling {
        max_surge: 1,
        max_unavailable: 0,
    };
    let failure = run(&target, &journal, &rolling, &live_r1()).unwrap_err();
    assert!(!failure.live);
    let calls = target.calls();
    let failed_at = calls
        .iter()
        .position(|c| c == "retire local api r1 1-1")
        .unwrap();
    assert_eq!(
        &calls[failed_at + 1..],
        &["weights local api r1=100", "retire local api r2 1-2"]
    );
}

#[test]
fn an_after_deploy_hook_failing_leaves_the_release_live() {
    let mut target = Recording::new(docker());
    target.fail = Some("after_deploy".into());
    let journal = Memory::default();
    let failure = run(
        &target,
        &journal,
        &Strategy::BlueGreen { bake: None },
        &live_r1(),
    )
    .unwrap_err();
    assert!(failure.live);
    assert!(*journal.live.lock().unwrap());
    assert_eq!(
        target.calls().last().unwrap(),
        "after_deploy api",
        "nothing undone"
    );
}

#[test]
fn a_rollback_during_the_bake_keeps_the_old_release() {
    let bake = Strategy::BlueGreen {
        bake: Some(Wait(Duration::from_secs(600))),
    };
    let target = Recording::new(docker());
    run(&target, &Memory::default(), &bake, &live_r1()).unwrap();
    let calls = target.calls();
    assert_eq!(
        &calls[3..],
        &[
            "weights local api r1=0,r2=100",
            "live",
            "bake",
            "weights local api r2=100",
            "retire local api r1 1-2",
            "after_deploy api",
        ]
    );
    let mut target = Recording::new(docker());
    target.still_live_after_bake = false;
    run(&target, &Memory::default(), &bake, &live_r1()).unwrap();
    let calls = target.calls();
    assert_eq!(&calls[calls.len() - 2..], &["bake", "after_deploy api"]);
    assert!(!calls.iter().any(|c| c.starts_with("retire")), "{calls:?}");
}

#[test]
fn resume_continues_from_the_journal() {
    // The first run is killed during its canary window: the journal has what it did.
    let mut target = Recording::new(docker());
    target.fail = Some("window".into());
    let journal = Memory::default();
    let caps = docker();
    let first = plan::deploy(&live_r1(), &r2(), &canary(Duration::from_secs(1)), &caps).unwrap();
    let nothing = plan::Plan { steps: Vec::new() };
    block_on(execute(&target, &journal, &first, &nothing)).unwrap_err();
    let done = journal.entries();

    // Resumed with blue-green: nothing started again, the hooks not run again.
    let target = Recording::new(docker());
    let again = plan::deploy(
        &live_r1(),
        &r2(),
        &Strategy::BlueGreen { bake: None },
        &caps,
    )
    .unwrap();
    let rest = plan::resume(again, &done);
    block_on(execute(&target, &Memory::default(), &rest, &nothing)).unwrap();
    assert_eq!(
        target.calls(),
        vec![
            "gate local api r2 1-2",
            "weights local api r2=100",
            "retire local api r1 1-2",
            "live",
            "after_deploy api",
        ]
    );
}

#[test]
fn on_two_colours_a_bad_canary_puts_the_live_colour_back() {
    let mut target = Recording::new(ecs());
    target.new_traffic.errors = 30.0;
    let journal = Memory::default();
    let failure = run(
        &target,
        &journal,
        &canary(Duration::from_secs(300)),
        &live_r1(),
    )
    .unwrap_err();
    assert!(matches!(failure.error, DeployError::Analysis { .. }));
    assert_eq!(
        target.calls(),
        vec![
            "start cluster api r2 1-2",
            "gate cluster api r2 1-2",
            "weights cluster api r1=50,r2=50",
            "window cluster api",
            // Undo: the live colour's revision checked, all traffic back on it, r2 scaled down.
            "start cluster api r1 1-2",
            "gate cluster api r1 1-2",
            "weights cluster api r1=100",
            "retire cluster api r2 1-2",
        ]
    );
}

#[test]
fn on_ecs_a_rolling_update_is_one_replacement_followed_to_steady_state() {
    let caps = Capabilities {
        runs: Runs::Services { native: false },
        ..ecs()
    };
    let target = Recording::new(caps);
    let journal = Memory::default();
    let rolling = Strategy::Rolling {
        max_surge: 1,
        max_unavailable: 0,
    };
    run(&target, &journal, &rolling, &live_r1()).unwrap();
    assert_eq!(
        target.calls(),
        vec![
            "replace api r2 2 Some(100)/Some(150)",
            "gate cluster api r2 1-2",
            "live"
        ]
    );
    assert!(journal.entries().iter().any(Entry::moved_traffic));
}
