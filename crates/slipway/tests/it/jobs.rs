//! Scheduled jobs on Docker hosts, on the real engine: a deploy installs the runner on the first
//! host; a job every minute runs from the live release, is never overlapped (the skipped time is
//! recorded), keeps its exit code and output, and its failure reaches the notification channel;
//! `slipway jobs run` runs one now with its exit code; removing the jobs removes the runner.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::deploy::{Down, PASSWORD, shop_with_files};
use crate::{Receiver, run, slipway, write};

const JOBS: &str = r#"[jobs.tick]
app = "api"
run = ["/bin/sh", "-c", "echo tick from the api image in $PWD; sleep 65; exit 3"]
schedule = "* * * * *"
environments = ["prod"]

[jobs.hello]
app = "api"
run = "python3 -c 'import api; print(\"hello from\", api.__name__)'"
schedule = "0 3 * * *"
timezone = "Europe/Paris"

[notifications.ops]
kind = "webhook"
url = "env:OPS_HOOK"
events = ["job-failed"]

[services.db]"#;

fn jobs_json(shop: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let result = run(slipway(shop)
        .args(["jobs", "prod", "--output", "json"])
        .args(extra));
    assert_eq!(result.code, 0, "{}", result.stderr);
    serde_json::from_str(&result.stdout).unwrap()
}

/// Polls `jobs prod --job tick` until `found` holds of its runs, for at most `limit`.
fn wait_for_runs(
    shop: &std::path::Path,
    limit: Duration,
    what: &str,
    found: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let runs = jobs_json(shop, &["--job", "tick"]);
        let runs = runs.as_array().unwrap().clone();
        if found(&runs) {
            return runs;
        }
        assert!(started.elapsed() < limit, "{what}: {runs:#?}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn runner_containers(project_dir: &std::path::Path) -> Vec<String> {
    let name = std::fs::read_to_string(project_dir.join("slipway.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("name = \"")
                .map(|n| n.trim_end_matches('"').to_owned())
        })
        .unwrap();
    let output = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|n| *n == format!("{name}-prod-jobs"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn scheduled_jobs_run_from_the_live_release_never_overlap_and_announce_failures() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, _host) = shop_with_files(
        temp.path(),
        "itjobs",
        "strategy = { kind = \"blue-green\" }",
        &[("[services.db]", JOBS)],
        &[],
    );
    let _down = Down(shop.clone());
    let receiver = Receiver::start(&[("/hook", &[200])]);
    let deployed = run(slipway(&shop)
        .args(["deploy", "prod", "--yes"])
        .env("SHOP_DB_PASSWORD", PASSWORD)
        .env("OPS_HOOK", format!("{}/hook", receiver.address)));
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    assert!(
        deployed.stderr.contains("job tick: `* * * * *` (UTC)"),
        "the deploy says what it installed: {}",
        deployed.stderr
    );
    assert_eq!(runner_containers(&shop).len(), 1);

    // Listed with their next runs, in their time zones.
    let rows = jobs_json(&shop, &[]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[1]["name"], "hello");
    assert_eq!(rows[1]["timezone"], "Europe/Paris");
    let next = rows[1]["next_run"].as_i64().unwrap();
    // 03:00 in Paris is 02:00 UTC in winter, 01:00 in summer.
    assert!(matches!((next % 86_400) / 3_600, 1 | 2), "{next}");

    // Run now: made like the live api container (its image, its working directory).
    let now = run(slipway(&shop).args(["jobs", "run", "prod", "hello"]));
    assert_eq!(now.code, 0, "{}", now.stderr);
    assert!(now.stdout.contains("hello from api"), "{}", now.stdout);

    // The minutely job starts at the next minute...
    let runs = wait_for_runs(&shop, Duration::from_secs(75), "a run starts", |runs| {
        runs.iter().any(|r| r["outcome"] == "running")
    });
    let first = runs.iter().find(|r| r["outcome"] == "running").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // ...a run asked by hand while it goes is refused, and says why...
    let asked = run(slipway(&shop).args(["jobs", "run", "prod", "tick"]));
    assert_eq!(asked.code, 1, "{}", asked.stderr);
    assert!(asked.stderr.contains("skipped"), "{}", asked.stderr);
    assert!(asked.stderr.contains(&first), "{}", asked.stderr);
    // ...the next minute comes while it still goes: skipped and recorded, not started...
    wait_for_runs(
        &shop,
        Duration::from_secs(65),
        "the next minute is skipped",
        |runs| {
            runs.iter().any(|r| {
                r["outcome"] == "skipped"
                    && r["trigger"] == "schedule"
                    && r["reason"].as_str().unwrap_or("").contains(&first)
            })
        },
    );
    // ...and when it ends its exit code and output are kept and its failure is announced.
    let runs = wait_for_runs(&shop, Duration::from_secs(70), "the run ends", |runs| {
        runs.iter()
            .any(|r| r["id"] == first.as_str() && r["outcome"] == "failed")
    });
    let ended = runs.iter().find(|r| r["id"] == first.as_str()).unwrap();
    assert_eq!(ended["exit_code"], 3);
    assert!(
        ended["output"]
            .as_str()
            .unwrap()
            .contains("tick from the api image in /srv/app"),
        "{ended:#?}"
    );
    let started = Instant::now();
    let announced = loop {
        let bodies = receiver.bodies("/hook");
        if let Some(body) = bodies.iter().find(|b| b["event"] == "job-failed") {
            break body.clone();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let runner = &runner_containers(&shop)[0];
            let logs = Command::new("docker")
                .args(["logs", runner])
                .output()
                .unwrap();
            panic!(
                "no job-failed reached the channel: {bodies:#?}\nthe runner's log:\n{}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(announced["environment"], "prod");
    assert_eq!(announced["facts"]["Job"], "tick");
    assert_eq!(announced["facts"]["Run"], first.as_str());
    assert!(
        announced["facts"]["Outcome"]
            .as_str()
            .unwrap()
            .contains("exit 3"),
        "{announced:#?}"
    );
    // No run of the job is left behind as a container.
    let leftovers = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=dev.slipway.job=tick",
            "--format",
            "{{.Names}} {{.Labels}}",
        ])
        .output()
        .unwrap();
    let leftovers = String::from_utf8_lossy(&leftovers.stdout).into_owned();
    assert!(
        leftovers.lines().all(|l| !l.contains(&first)),
        "{leftovers}"
    );

    // Bad input: an unknown job.
    let unknown = run(slipway(&shop).args(["jobs", "run", "prod", "helo"]));
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("hello"), "{}", unknown.stderr);

    // The jobs leave slipway.toml: the next deploy removes the runner, though no app changed.
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let start = manifest.find("[jobs.tick]").unwrap();
    let end = manifest.find("[notifications.ops]").unwrap();
    write(
        &shop,
        "slipway.toml",
        &format!("{}{}", &manifest[..start], &manifest[end..]),
    );
    let redeployed = run(slipway(&shop)
        .args(["deploy", "prod", "--yes"])
        .env("SHOP_DB_PASSWORD", PASSWORD)
        .env("OPS_HOOK", format!("{}/hook", receiver.address)));
    assert_eq!(redeployed.code, 0, "{}", redeployed.stderr);
    assert!(
        redeployed.stderr.contains("nothing to deploy"),
        "{}",
        redeployed.stderr
    );
    assert!(runner_containers(&shop).is_empty());
    let none = run(slipway(&shop).args(["jobs", "prod"]));
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.contains("no scheduled jobs"), "{}", none.stdout);
}
