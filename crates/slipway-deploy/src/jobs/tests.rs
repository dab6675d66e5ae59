use super::*;

fn job(name: &str, schedule: &str) -> TableJob {
    TableJob {
        name: name.into(),
        app: "api".into(),
        release: "r3".into(),
        command: vec!["true".into()],
        schedule: schedule.into(),
        timezone: "UTC".into(),
        timeout_secs: 60,
    }
}

fn table(jobs: Vec<TableJob>) -> JobTable {
    JobTable {
        project: "shop".into(),
        environment: "prod".into(),
        network: "shop-prod-internal".into(),
        jobs,
        notifications: IndexMap::new(),
    }
}

// 2026-12-05T10:00:30Z
const T0: i64 = 1_796_464_830;

#[test]
fn a_job_starts_when_its_time_comes_and_not_again_until_the_next() {
    let table = table(vec![job("every-minute", "* * * * *")]);
    let mut clock = Clock::starting(&table, T0);
    let none = BTreeMap::new();
    assert!(
        clock.tick(&table, T0 + 10, &none, &[]).is_empty(),
        "10:00:40: not yet"
    );
    assert_eq!(
        clock.tick(&table, T0 + 30, &none, &[]),
        [Action::Start {
            job: "every-minute".into(),
            trigger: Trigger::Schedule
        }],
        "10:01:00"
    );
    assert!(clock.tick(&table, T0 + 31, &none, &[]).is_empty());
    assert!(clock.tick(&table, T0 + 89, &none, &[]).is_empty());
    assert_eq!(clock.tick(&table, T0 + 90, &none, &[]).len(), 1, "10:02:00");
}

#[test]
fn a_run_still_going_is_not_overlapped_and_the_skip_says_which_run() {
    let table = table(vec![job("every-minute", "* * * * *")]);
    let mut clock = Clock::starting(&table, T0);
    let running = BTreeMap::from([("every-minute".to_owned(), "every-minute-1".to_owned())]);
    assert_eq!(
        clock.tick(&table, T0 + 30, &running, &[]),
        [Action::Skip {
            job: "every-minute".into(),
            trigger: Trigger::Schedule,
            running: "every-minute-1".into()
        }]
    );
    // Asked by hand while it runs: skipped too.
    let asked = clock.tick(&table, T0 + 40, &running, &["every-minute".into()]);
    assert!(matches!(
        asked[..],
        [Action::Skip {
            trigger: Trigger::Manual,
            ..
        }]
    ));
}

#[test]
fn times_missed_while_the_runner_was_away_run_once() {
    let table = table(vec![job("hourly", "@hourly")]);
    let mut clock = Clock::starting(&table, T0);
    let actions = clock.tick(&table, T0 + 5 * 3_600, &BTreeMap::new(), &[]);
    assert_eq!(actions.len(), 1, "{actions:?}");
}

#[test]
fn a_manual_run_and_a_scheduled_one_at_the_same_tick_do_not_both_start() {
    let table = table(vec![job("every-minute", "* * * * *")]);
    let mut clock = Clock::starting(&table, T0);
    let actions = clock.tick(&table, T0 + 30, &BTreeMap::new(), &["every-minute".into()]);
    assert!(
        matches!(
            actions[..],
            [
                Action::Start {
                    trigger: Trigger::Schedule,
                    ..
                },
                Action::Skip {
                    trigger: Trigger::Manual,
                    ..
                }
            ]
        ),
        "{actions:?}"
    );
}

fn record(job: &str, n: i64, outcome: Outcome) -> RunRecord {
    RunRecord {
        id: format!("{job}-{n}"),
        job: job.into(),
        trigger: Trigger::Schedule,
        started_at: n,
        finished_at: (outcome != Outcome::Running).then_some(n + 1),
        outcome,
        exit_code: None,
        release: "r3".into(),
        reason: None,
        output: String::new(),
    }
}

#[test]
fn records_keep_the_last_runs_of_each_job_and_every_run_going() {
    let mut records = vec![record("a", 0, Outcome::Running)];
    records.extend((1..=5).map(|n| record("a", n, Outcome::Succeeded)));
    records.push(record("b", 6, Outcome::Failed));
    let kept = prune(records, 2);
    let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a-0", "a-4", "a-5", "b-6"]);
}

#[test]
fn rows_show_the_next_run_and_the_last_one() {
    let table = table(vec![
        job("nightly", "0 3 * * *"),
        job("never-ran", "@hourly"),
    ]);
    let records = vec![
        record("nightly", 1, Outcome::Failed),
        record("nightly", 2, Outcome::Running),
    ];
    let rows = rows(&table, &records, T0, "local");
    assert_eq!(
        rows[0].next_run,
        Some(1_796_526_000),
        "2026-12-06T03:00:00Z"
    );
    assert!(rows[0].running);
    assert_eq!(rows[0].last_run.as_ref().unwrap().id, "nightly-2");
    assert_eq!(rows[1].last_run, None);
    assert!(!rows[1].running);
}

#[test]
fn channels_get_their_variables_and_those_without_are_named() {
    let manifest = slipway_core::manifest::load_manifest(
        r#"
[project]
name = "shop"
[notifications.chat]
kind = "slack"
url = "env:CHAT_URL"
[notifications.ops]
kind = "webhook"
url = "env:OPS_URL"
events = ["job-failed"]
[notifications.deploys]
kind = "webhook"
url = "https://example.invalid/hook"
events = ["deployed"]
"#,
    )
    .unwrap();
    let lookup = |var: &str| (var == "CHAT_URL").then(|| "https://chat.invalid/x".to_owned());
    let (channels, skipped) = resolved_channels(&manifest, &lookup);
    assert_eq!(channels.keys().collect::<Vec<_>>(), ["chat"]);
    assert_eq!(
        channels["chat"].url.as_deref(),
        Some("https://chat.invalid/x")
    );
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].contains("OPS_URL") && skipped[0].contains("`ops`"),
        "{skipped:?}"
    );
}
