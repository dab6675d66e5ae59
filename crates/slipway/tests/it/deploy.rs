//! `slipway deploy`, `rollback`, `releases` and `status` with the example shop on the real
//! engine, behind the real proxy, with clients hitting it all the while: no request fails
//! during a deploy or a rollback; a release that fails its health gate, a canary that returns
//! errors and a deploy killed half-way all end with the old release serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{copy_example, run, set_greeting, slipway, unique, write};

pub(crate) const PROXY: &str = "127.0.0.1:8090";
pub(crate) const PASSWORD: &str = "pw-deploy-test";

/// One GET through the proxy with the project's Host header: (status, body).
pub(crate) fn get(host: &str, path: &str) -> (u16, String) {
    get_at(PROXY, host, path)
}

pub(crate) fn get_at(proxy: &str, host: &str, path: &str) -> (u16, String) {
    let attempt = || -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(proxy)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    attempt().unwrap_or_else(|e| (0, e.to_string()))
}

/// Eight clients requesting `path` in a loop until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    total: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(host: &str, path: &str) -> Load {
        Load::start_at(PROXY, host, path)
    }

    fn start_at(proxy: &str, host: &str, path: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..8)
            .map(|_| {
                let (stop, total, failures) = (stop.clone(), total.clone(), failures.clone());
                let (proxy, host, path) = (proxy.to_owned(), host.to_owned(), path.to_owned());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let (status, body) = get_at(&proxy, &host, &path);
                        if !(200..300).contains(&status) {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{status}: {}", body.trim()));
                        }
                        total.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Load {
            stop,
            total,
            failures,
            threads,
        }
    }

    /// (requests, failures)
    fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        (
            self.total.load(Ordering::Relaxed),
            self.failures.lock().unwrap().clone(),
        )
    }
}

/// A copy of the shop with its own project name, its apps routed by its own Host header, a
/// short health-gate timeout and the given prod strategy; bases released and the apps built.
pub(crate) fn shop(dir: &Path, prefix: &str, strategy: &str) -> (PathBuf, String) {
    shop_with(dir, prefix, strategy, &[])
}

/// `shop`, with more replacements in its slipway.toml.
pub(crate) fn shop_with(
    dir: &Path,
    prefix: &str,
    strategy: &str,
    replacements: &[(&str, &str)],
) -> (PathBuf, String) {
    shop_with_files(dir, prefix, strategy, replacements, &[])
}

/// `shop_with`, with more files (path, text) written before anything is built.
pub(crate) fn shop_with_files(
    dir: &Path,
    prefix: &str,
    strategy: &str,
    replacements: &[(&str, &str)],
    files: &[(&str, &str)],
) -> (PathBuf, String) {
    let copy = copy_example(dir);
    for (path, text) in files {
        write(&copy, path, text);
    }
    let name = unique(prefix);
    let host = format!("{name}.test");
    let manifest = std::fs::read_to_string(copy.join("slipway.toml")).unwrap();
    let manifest = manifest
        .replace("name = \"shop\"", &format!("name = \"{name}\""))
        .replace(
            "route = { path = \"/api\" }",
            &format!("route = {{ host = \"{host}\", path = \"/api\" }}"),
        )
        .replace(
            "route = { path = \"/\" }",
            &format!("route = {{ host = \"{host}\", path = \"/\" }}"),
        )
        .replace(
            "target = { kind = \"docker\", proxy = { publish = \"127.0.0.1:8090\" } }",
            "target = { kind = \"docker\", proxy = { publish = \"127.0.0.1:8090\", gate_timeout = \"10s\", drain = \"5s\" } }",
        )
        .replace("strategy = { kind = \"blue-green\" }", strategy)
        // The stage and dev ports are not used here; keep them clear of other tests.
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:8081", "127.0.0.1:0");
    assert!(manifest.contains(strategy), "the prod strategy line moved");
    let mut manifest = manifest;
    for (from, to) in replacements {
        assert!(manifest.contains(from), "`{from}` is not in slipway.toml");
        manifest = manifest.replace(from, to);
    }
    write(&copy, "slipway.toml", &manifest);
    for step in [&["base", "release"][..], &["base", "update"], &["build"]] {
        let result = run(slipway(&copy).args(step));
        assert_eq!(result.code, 0, "{step:?}: {}", result.stderr);
    }
    (copy, host)
}

pub(crate) fn deploy(shop: &Path, extra: &[&str]) -> crate::Run {
    run(slipway(shop)
        .args(["deploy", "prod", "--yes"])
        .args(extra)
        .env("SHOP_DB_PASSWORD", PASSWORD))
}

/// `deploy`, which must succeed.
pub(crate) fn deploy_ok(shop: &Path, extra: &[&str]) -> crate::Run {
    let result = deploy(shop, extra);
    assert_eq!(result.code, 0, "{}", result.stderr);
    result
}

pub(crate) fn releases(shop: &Path) -> Vec<(String, String)> {
    let result = run(slipway(shop).args(["releases", "prod", "--output", "json"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!("r{}", r["id"]),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The status the hosts themselves report: app → [(release, weight, containers)].
pub(crate) fn status_from_hosts(shop: &Path) -> serde_json::Value {
    let result = run(slipway(shop).args(["status", "prod", "--from-hosts", "--output", "json"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    json["hosts"][0]["apps"].clone()
}

fn release_ids(shop: &Path) -> Vec<String> {
    releases(shop).into_iter().map(|(id, _)| id).collect()
}

pub(crate) fn down(shop: &Path) {
    let _ = run(slipway(shop).args(["down", "prod", "--volumes"]));
}

/// Takes the project's prod down when the test ends, passed or not.
pub(crate) struct Down(pub(crate) PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        down(&self.0);
    }
}

#[test]
fn blue_green_deploys_and_rollbacks_under_load_drop_no_request() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itdeploy-bg",
        "strategy = { kind = \"blue-green\" }",
    );
    let _down = Down(shop.clone());

    let first = deploy_ok(&shop, &[]);
    assert!(
        first.stdout.contains("is live at http://127.0.0.1:8090"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("slipway rollback prod"));
    assert!(
        first.stderr.contains("before_deploy hook in") && first.stderr.contains("api.migrate"),
        "the migrations ran before the release took traffic: {}",
        first.stderr
    );
    let (status, body) = get(&host, "/api/env");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"environment\": \"prod\""), "{body}");
    assert_eq!(get(&host, "/").0, 200);

    let load = Load::start(&host, "/api/env");
    std::thread::sleep(Duration::from_millis(500));
    set_greeting(&shop, "second release");
    deploy_ok(&shop, &[]);
    assert!(get(&host, "/api/env").1.contains("second release"));
    let back = run(slipway(&shop)
        .args(["rollback", "prod"])
        .env("SHOP_DB_PASSWORD", PASSWORD));
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(!get(&host, "/api/env").1.contains("second release"));
    deploy_ok(&shop, &["--app", "api"]);
    std::thread::sleep(Duration::from_millis(500));
    let (total, failures) = load.stop();
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed during deploys and a rollback: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(total > 100, "only {total} requests");
    assert!(get(&host, "/api/env").1.contains("second release"));

    let unknown = run(slipway(&shop)
        .args(["rollback", "prod", "--to", "r99"])
        .env("SHOP_DB_PASSWORD", PASSWORD));
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("no release r99 in environment `prod`"),
        "{}",
        unknown.stderr
    );
    assert_eq!(
        releases(&shop),
        vec![
            ("r3".into(), "live".into()),
            ("r2".into(), "rolled-back".into()),
            ("r1".into(), "superseded".into()),
        ]
    );
    // The hosts tell the same story without the local history: api runs r3, web still r1's
    // containers (only api was deployed), each with all the traffic.
    let apps = status_from_hosts(&shop);
    let ids = release_ids(&shop);
    let only = |app: &str| {
        let list = apps[app].as_array().unwrap();
        assert_eq!(list.len(), 1, "{app}: {list:?}");
        (
            list[0]["release"].as_str().unwrap().to_owned(),
            list[0]["weight"].as_u64(),
            list[0]["containers"][0]["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let (api_release, api_weight, api_state) = only("api");
    assert_eq!(
        (api_release.as_str(), api_weight),
        (ids[0].as_str(), Some(100))
    );
    assert!(api_state.contains("Up"), "{api_state}");
    let (web_release, web_weight, _) = only("web");
    assert_eq!(
        (web_release.as_str(), web_weight),
        (ids[2].as_str(), Some(100))
    );
}

#[test]
fn a_deploy_replaces_only_the_apps_whose_image_config_or_settings_changed() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itdeploy-changed",
        "strategy = { kind = \"blue-green\" }",
    );
    let _down = Down(shop.clone());
    let containers = |app: &str| -> Vec<(String, String)> {
        let apps = status_from_hosts(&shop);
        apps[app]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|release| {
                let name = release["release"].as_str().unwrap().to_owned();
                release["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |c| (name.clone(), c["name"].as_str().unwrap().to_owned()))
            })
            .collect()
    };
    let deploy_json = |extra: &[&str]| -> serde_json::Value {
        let result = deploy_ok(&shop, &[&["--output", "json"][..], extra].concat());
        serde_json::from_str(&result.stdout).unwrap_or_else(|e| panic!("{e}: {}", result.stdout))
    };
    deploy_json(&[]);
    let (api_before, web_before) = (containers("api"), containers("web"));
    // A deployed environment's containers are named per release: exec finds the live one.
    let exec = run(slipway(&shop).args([
        "exec",
        "prod",
        "api",
        "--",
        "sh",
        "-c",
        "echo inside; exit 3",
    ]));
    assert_eq!(exec.code, 3, "{}", exec.stderr);
    assert_eq!(exec.stdout.trim(), "inside");
    // A one-off task: a fresh container of the live release with its config, beside its
    // database, its output streamed and its exit code returned; nothing of it is left.
    let task = run(slipway(&shop).args([
        "run",
        "prod",
        "api",
        "--",
        "python3",
        "-c",
        "import os, socket, sys; socket.create_connection(('db', 5432), 5).close(); print('env', os.environ['APP_ENV']); sys.exit(4)",
    ]));
    assert_eq!(task.code, 4, "{}", task.stderr);
    assert_eq!(task.stdout.trim(), "env prod");
    let left = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=dev.slipway.one-off",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains("-run-"),
        "the one-off container is removed"
    );
    assert_eq!(
        containers("api"),
        api_before,
        "the task took no replica's place"
    );
    let nothing_live = run(slipway(&shop).args(["run", "stage", "api", "--", "true"]));
    assert_ne!(nothing_live.code, 0);
    assert!(
        nothing_live.stderr.contains("`stage` has no live release"),
        "{}",
        nothing_live.stderr
    );
    let unknown = run(slipway(&shop).args(["exec", "prod", "cart", "--", "true"]));
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("does not run `cart`; it runs api, web"),
        "{}",
        unknown.stderr
    );

    // Only the web app's files change: only web is replaced, api keeps its containers.
    let page = shop.join("app/web/index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&page, html.replace("</body>", "<p>new prices</p></body>")).unwrap();
    let built = run(slipway(&shop).args(["build"]));
    assert_eq!(built.code, 0, "{}", built.stderr);
    let second = deploy_json(&[]);
    assert_eq!(second["replaced"], serde_json::json!(["web"]), "{second}");
    assert_eq!(second["unchanged"], serde_json::json!(["api"]), "{second}");
    assert_eq!(containers("api"), api_before, "api was not touched");
    assert_ne!(containers("web"), web_before, "web runs new containers");
    assert!(get(&host, "/").1.contains("new prices"));
    assert_eq!(get(&host, "/api/env").0, 200);

    // Nothing changed: nothing is replaced and no release is recorded.
    let releases_before = releases(&shop);
    let text = deploy_ok(&shop, &[]);
    assert!(text.stdout.contains("nothing to deploy"), "{}", text.stdout);
    assert_eq!(releases(&shop), releases_before);

    // A setting of api in slipway.toml (its replicas in prod) replaces api only.
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    assert!(manifest.contains("replicas = { api = 2 }"));
    let manifest = manifest.replace("replicas = { api = 2 }", "replicas = { api = 3 }");
    std::fs::write(shop.join("slipway.toml"), manifest).unwrap();
    let third = deploy_json(&[]);
    assert_eq!(third["replaced"], serde_json::json!(["api"]), "{third}");
    assert_eq!(containers("api").len(), 3);

    // --force replaces everything.
    let forced = deploy_json(&["--force"]);
    assert_eq!(
        forced["replaced"],
        serde_json::json!(["api", "web"]),
        "{forced}"
    );
    assert!(forced["unchanged"].as_array().unwrap().is_empty());
}

/// A worker of the shop: no port, no route; asked to stop with SIGQUIT it takes 12 seconds
/// to finish the job in hand (longer than the engine's default grace of 10) and exits 0.
const WORKER: &str = r#"#!/bin/sh
stopping=0
trap 'stopping=1' QUIT
echo "worker ready"
while [ "$stopping" = 0 ]; do sleep 1; done
echo "finishing the job in hand"
sleep 12
echo "job done"
exit 0
"#;

#[test]
fn a_worker_retired_by_a_deploy_gets_its_stop_signal_and_grace_period() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, _host) = shop_with_files(
        temp.path(),
        "itdeploy-worker",
        "strategy = { kind = \"blue-green\" }",
        &[(
            "[services.db]",
            "[apps.worker]\ndir = \"app/worker\"\nbase = \"python\"\nconfig = \"api\"\ncmd = [\"/bin/sh\", \"/app/worker.sh\"]\nstop_signal = \"SIGQUIT\"\nstop_grace_period = \"20s\"\n\n[services.db]",
        )],
        &[("app/worker/worker.sh", WORKER)],
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    let project = std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("name = \"")
                .map(|n| n.trim_end_matches('"').to_owned())
        })
        .unwrap();
    let workers = || -> Vec<String> {
        let output = Command::new("docker")
            .args(["ps", "--format", "{{.Names}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|n| n.starts_with(&format!("{project}-prod-worker")))
            .map(str::to_owned)
            .collect()
    };
    let first = workers();
    assert_eq!(first.len(), 1, "{first:?}");
    let inspect = |format: &str, target: &str| -> String {
        let output = Command::new("docker")
            .args(["inspect", "--format", format, target])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    // The image says how it stops; the container how long it may take.
    let image = inspect("{{.Image}}", &first[0]);
    assert_eq!(inspect("{{.Config.StopSignal}}", &image), "SIGQUIT");
    assert_eq!(inspect("{{.Config.StopTimeout}}", &first[0]), "20");

    let since = slipway_core::time::now().to_string();
    let started = std::time::Instant::now();
    deploy_ok(&shop, &["--force"]);
    let took = started.elapsed();
    let second = workers();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "the worker was replaced");
    // The old worker was asked with SIGQUIT and, given its grace period, finished its job and
    // exited 0; it was not killed at the engine's default 10 seconds.
    let until = (slipway_core::time::now() + 1).to_string();
    let events = Command::new("docker")
        .args([
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            &format!("container={}", first[0]),
            "--format",
            "{{.Action}} {{index .Actor.Attributes \"signal\"}} {{index .Actor.Attributes \"exitCode\"}}",
        ])
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    let kills: Vec<&str> = events.lines().filter(|l| l.starts_with("kill")).collect();
    assert_eq!(kills, vec!["kill 3 "], "{events}");
    assert!(
        events.lines().any(|l| l.trim() == "die  0"),
        "the worker exited on its own: {events}"
    );
    assert!(
        took.as_secs() >= 12,
        "the deploy waited for the job: {took:?}"
    );
}

#[test]
fn a_release_that_fails_its_health_gate_is_rolled_back_while_the_old_one_serves() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itdeploy-gate",
        "strategy = { kind = \"blue-green\" }",
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);

    // The next api answers 503 on /health: its database is unreachable.
    let template = shop.join("config/prod/api.env.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(text.contains("@db:5432"), "the database host moved: {text}");
    std::fs::write(&template, text.replace("@db:5432", "@no-such-db:5432")).unwrap();
    let load = Load::start(&host, "/api/env");
    let failed = deploy(&shop, &[]);
    let (total, failures) = load.stop();
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    assert!(
        failed.stderr.contains("did not pass its health gate"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("503"),
        "the gate's last answer: {}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("last log lines"),
        "{}",
        failed.stderr
    );
    assert!(
        !failed.stderr.contains(PASSWORD),
        "a secret in the error: {}",
        failed.stderr
    );
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    let history = releases(&shop);
    assert_eq!(history[0].1, "failed", "{history:?}");
    assert_eq!(history[1].1, "live", "{history:?}");
    let apps = status_from_hosts(&shop);
    for app in ["api", "web"] {
        let list = apps[app].as_array().unwrap();
        assert_eq!(
            list.len(),
            1,
            "the failed release's containers are gone: {list:?}"
        );
        assert_eq!(list[0]["release"].as_str().unwrap(), history[1].0);
    }
}

#[test]
fn a_canary_that_returns_errors_is_stopped_by_the_analysis() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itdeploy-canary",
        "strategy = { kind = \"canary\", steps = [50, 100], pause = \"3s\", max_error_rate = \"1%\" }",
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);

    // The new api fails /api/env but still passes its health check.
    let code = shop.join("app/api/api/__main__.py");
    let text = std::fs::read_to_string(&code).unwrap();
    let broken = text.replace(
        "        elif path == \"/env\":\n",
        "        elif path == \"/env\":\n            self.json(500, {\"error\": \"broken release\"})\n            return\n",
    );
    assert_ne!(broken, text, "the /env handler moved");
    std::fs::write(&code, broken).unwrap();
    let built = run(slipway(&shop).args(["build", "api"]));
    assert_eq!(built.code, 0, "{}", built.stderr);

    let load = Load::start(&host, "/api/env");
    let canary = deploy(&shop, &[]);
    let (_, during) = load.stop();
    assert_ne!(canary.code, 0, "{}", canary.stdout);
    assert!(
        canary.stderr.contains("canary analysis failed"),
        "{}",
        canary.stderr
    );
    assert!(canary.stderr.contains("error rate"), "{}", canary.stderr);
    assert!(!during.is_empty(), "the canary's share saw its errors");
    let history = releases(&shop);
    assert_eq!(history[0].1, "rolled-back", "{history:?}");
    assert_eq!(history[1].1, "live", "{history:?}");
    // All traffic is back on the old release.
    for _ in 0..20 {
        let (status, body) = get(&host, "/api/env");
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn a_deploy_killed_half_way_is_undone_by_the_next_command() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itdeploy-kill",
        "strategy = { kind = \"canary\", steps = [50, 100], pause = \"60s\" }",
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    let load = Load::start(&host, "/api/env");
    set_greeting(&shop, "never finished");
    kill_deploy_at(&shop, "canary at 50%");
    let during_canary = get(&host, "/api/env");
    assert_eq!(during_canary.0, 200);

    let status = run(slipway(&shop).args(["status", "prod"]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stderr.contains("was interrupted"),
        "{}",
        status.stderr
    );
    std::thread::sleep(Duration::from_millis(300));
    let (total, failures) = load.stop();
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let history = releases(&shop);
    assert_eq!(history[0].1, "failed", "{history:?}");
    assert_eq!(history[1].1, "live", "{history:?}");
    for _ in 0..10 {
        assert!(!get(&host, "/api/env").1.contains("never finished"));
    }
    let apps = status_from_hosts(&shop);
    assert_eq!(apps["api"].as_array().unwrap().len(), 1, "{apps}");

    // Killed again, this time finished with --resume: its own config, its containers kept.
    set_greeting(&shop, "resumed");
    kill_deploy_at(&shop, "canary at 50%");
    set_greeting(&shop, "changed after the kill");
    let resumed = deploy_ok(&shop, &["--resume", "--strategy", "blue-green"]);
    assert!(
        resumed.stderr.contains("resuming release"),
        "{}",
        resumed.stderr
    );
    assert!(get(&host, "/api/env").1.contains("\"resumed\""));
    let history = releases(&shop);
    assert_eq!(history[0].1, "live", "{history:?}");
    let nothing = deploy(&shop, &["--resume"]);
    assert_ne!(nothing.code, 0);
    assert!(
        nothing.stderr.contains("no interrupted deploy"),
        "{}",
        nothing.stderr
    );
}

/// Starts `slipway deploy prod` and kills it (SIGKILL) when its output shows `moment`.
fn kill_deploy_at(shop: &Path, moment: &str) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
        .args(["deploy", "prod", "--yes"])
        .current_dir(shop)
        .env("SHOP_DB_PASSWORD", PASSWORD)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "the deploy ended before `{moment}`: {seen}");
        seen.push_str(&line);
        if line.contains(moment) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_deploys_are_refused_with_clear_errors_and_change_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, _host) = shop(
        temp.path(),
        "itdeploy-bad",
        "strategy = { kind = \"blue-green\" }",
    );
    let _down = Down(shop.clone());

    let no_release = run(slipway(&shop)
        .args(["rollback", "prod", "--to", "r999999"])
        .env("SHOP_DB_PASSWORD", PASSWORD));
    assert_ne!(no_release.code, 0);
    assert!(
        no_release
            .stderr
            .contains("has no live release to roll back from"),
        "{}",
        no_release.stderr
    );

    let recreate = deploy(&shop, &["--strategy", "recreate"]);
    assert_ne!(recreate.code, 0);
    assert!(
        recreate.stderr.contains("allow_downtime = true"),
        "{}",
        recreate.stderr
    );

    let missing = deploy(&shop, &["--image", "api=127.0.0.1:5000/no/such-image:1"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("app `api`") && missing.stderr.contains("no/such-image"),
        "{}",
        missing.stderr
    );

    let no_approval = run(slipway(&shop)
        .args(["deploy", "prod"])
        .env("SHOP_DB_PASSWORD", PASSWORD));
    assert_ne!(no_approval.code, 0);
    assert!(
        no_approval.stderr.contains("requires approval"),
        "{}",
        no_approval.stderr
    );

    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    write(
        &shop,
        "slipway.toml",
        &manifest.replace("health = { path = \"/\", interval = \"2s\" }", ""),
    );
    let unchecked = deploy(&shop, &[]);
    assert_ne!(unchecked.code, 0);
    assert!(
        unchecked
            .stderr
            .contains("app `web` has no health check path"),
        "{}",
        unchecked.stderr
    );

    write(
        &shop,
        "slipway.toml",
        &manifest.replace(
            "target = { kind = \"docker\",",
            "target = { kind = \"docker\", hosts = [\"tcp://127.0.0.1:1\"],",
        ),
    );
    let unreachable = deploy(&shop, &[]);
    assert_ne!(unreachable.code, 0);
    assert!(
        unreachable.stderr.contains("tcp://127.0.0.1:1"),
        "{}",
        unreachable.stderr
    );

    // Nothing of this project runs anywhere, and no release was recorded.
    assert!(releases(&shop).is_empty());
    write(&shop, "slipway.toml", &manifest);
    let apps = status_from_hosts(&shop);
    assert_eq!(apps, serde_json::json!({}), "{apps}");
}

#[test]
fn rolling_goes_host_by_host_on_two_engines_without_a_failed_request() {
    // Over ssh (an sshd on loopback dialing the test bed's second engine), host two is a
    // remote host as production ones are: it pulls the images from the registry.
    let host_two = std::env::var("SLIPWAY_TEST_HOST2_SSH")
        .expect("SLIPWAY_TEST_HOST2_SSH is not set: run the tests through scripts/test");
    const PROXY_TWO: &str = "127.0.0.1:18090";
    let temp = tempfile::tempdir().unwrap();
    let hosts = format!(
        "hosts = [\"unix:///var/run/docker.sock\", {{ url = \"{host_two}\", publish = \"{PROXY_TWO}\", metrics = \"127.0.0.1:19190\", publish_tls = \"127.0.0.1:18443\" }}], proxy = {{"
    );
    let (shop, host) = shop_with(
        temp.path(),
        "itdeploy-hosts",
        "strategy = { kind = \"rolling\", max_surge = 1 }",
        &[
            (
                "replicas = { api = 2 }",
                "replicas = { web = 2 }\napps = [\"web\"]\nservices = []",
            ),
            (
                "target = { kind = \"docker\", proxy = {",
                &format!("target = {{ kind = \"docker\", {hosts}"),
            ),
        ],
    );
    let _down = Down(shop.clone());
    let first = deploy_ok(&shop, &[]);
    assert!(
        first
            .stderr
            .contains(&format!("{host_two}: pulling 127.0.0.1:5000/")),
        "{}",
        first.stderr
    );
    for proxy in [PROXY, PROXY_TWO] {
        assert_eq!(get_at(proxy, &host, "/").0, 200, "through {proxy}");
    }

    let loads = [
        Load::start_at(PROXY, &host, "/"),
        Load::start_at(PROXY_TWO, &host, "/"),
    ];
    write(
        &shop,
        "app/web/index.html",
        "<!doctype html><title>shop</title><p>second release</p>\n",
    );
    let built = run(slipway(&shop).args(["build", "web"]));
    assert_eq!(built.code, 0, "{}", built.stderr);
    let second = deploy_ok(&shop, &[]);
    for load in loads {
        let (total, failures) = load.stop();
        assert!(
            failures.is_empty(),
            "{} of {total} failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert!(total > 50, "only {total} requests");
    }
    for proxy in [PROXY, PROXY_TWO] {
        assert!(
            get_at(proxy, &host, "/").1.contains("second release"),
            "through {proxy}"
        );
    }
    // Host by host: every change on the first host comes before any on the second.
    let traffic: Vec<&str> = second
        .stderr
        .lines()
        .filter(|l| l.contains(" traffic: "))
        .collect();
    let last_local = traffic
        .iter()
        .rposition(|l| l.trim_start().starts_with("unix:///var/run/docker.sock:"))
        .unwrap();
    let first_two = traffic.iter().position(|l| l.contains(&host_two)).unwrap();
    assert!(last_local < first_two, "{traffic:#?}");
    assert!(traffic.len() >= 4, "one replica at a time: {traffic:#?}");

    // Host two's proxy restarted under load: it comes back with its routes (they live on its
    // volume), serving the live release; the requests cut by the restart itself are counted.
    let load = Load::start_at(PROXY_TWO, &host, "/");
    std::thread::sleep(Duration::from_millis(300));
    let restarted = std::process::Command::new("docker")
        .args(["-H", &host_two, "restart", "--time", "5", "slipway-proxy"])
        .output()
        .unwrap();
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    let back = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        get_at(PROXY_TWO, &host, "/").0 == 200
    });
    std::thread::sleep(Duration::from_millis(300));
    let (total, failures) = load.stop();
    eprintln!(
        "host two's proxy restarted under load: {} of {total} requests failed",
        failures.len()
    );
    assert!(
        back,
        "host two's proxy did not route again after its restart"
    );
    assert!(get_at(PROXY_TWO, &host, "/").1.contains("second release"));

    // The same host over TCP with TLS (client certificates, as Docker's DOCKER_CERT_PATH lays
    // them out) tells the same; without the certificates it is refused.
    let tcp = std::env::var("SLIPWAY_TEST_HOST2_TCP")
        .expect("SLIPWAY_TEST_HOST2_TCP is not set: run the tests through scripts/test");
    let certs = std::env::var("SLIPWAY_TEST_HOST2_CERT_PATH")
        .expect("SLIPWAY_TEST_HOST2_CERT_PATH is not set: run the tests through scripts/test");
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    write(&shop, "slipway.toml", &manifest.replace(&host_two, &tcp));
    let without_tls = run(slipway(&shop).args(["status", "prod", "--output", "json"]));
    assert_ne!(without_tls.code, 0, "{}", without_tls.stdout);
    assert!(without_tls.stderr.contains(&tcp), "{}", without_tls.stderr);
    let over_tcp = run(slipway(&shop)
        .args(["status", "prod", "--output", "json"])
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &certs));
    write(&shop, "slipway.toml", &manifest);
    assert_eq!(over_tcp.code, 0, "{}", over_tcp.stderr);
    let over_tcp: serde_json::Value = serde_json::from_str(&over_tcp.stdout).unwrap();
    assert_eq!(over_tcp["hosts"][1]["host"].as_str(), Some(tcp.as_str()));

    let status = run(slipway(&shop).args(["status", "prod", "--output", "json"]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let hosts = json["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    let names = |host: &serde_json::Value| -> Vec<String> {
        host["apps"]["web"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["containers"].as_array().unwrap().iter())
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&hosts[1]),
        names(&over_tcp["hosts"][1]),
        "ssh and tcp see one host"
    );
    for host in hosts {
        let web = host["apps"]["web"].as_array().unwrap();
        assert_eq!(web.len(), 1, "{web:?}");
        assert_eq!(web[0]["containers"].as_array().unwrap().len(), 2, "{web:?}");
        assert_eq!(
            web[0]["weight"].as_u64(),
            Some(2),
            "two replicas, one weight each"
        );
    }
    // `logs` reads the live release's containers on both hosts, labelled host/container; `exec`
    // enters one of them and returns the command's exit code.
    let logs = run(slipway(&shop).args(["logs", "prod", "web", "--tail", "20"]));
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    for status in hosts {
        let name = status["host"].as_str().unwrap();
        let container = status["apps"]["web"][0]["containers"][0]["name"]
            .as_str()
            .unwrap();
        assert!(
            logs.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{name}/{container} | "))),
            "no line of {name}/{container}: {}",
            logs.stdout
        );
    }
    let exec = run(slipway(&shop).args([
        "exec",
        "prod",
        "web",
        "--",
        "sh",
        "-c",
        "cat /srv/www/index.html; exit 7",
    ]));
    assert_eq!(exec.code, 7, "{}", exec.stderr);
    assert!(exec.stdout.contains("second release"), "{}", exec.stdout);
    let _ = std::process::Command::new("docker")
        .args(["-H", &host_two, "rm", "-f"])
        .args(hosts.iter().flat_map(|h| {
            h["apps"]["web"][0]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
        }))
        .output();
}

#[test]
fn a_rollback_during_the_bake_time_is_an_instant_switch() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itdeploy-bake",
        "strategy = { kind = \"blue-green\", bake = \"12s\" }",
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    let load = Load::start(&host, "/api/env");
    set_greeting(&shop, "baking");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
        .args(["deploy", "prod", "--yes"])
        .current_dir(&shop)
        .env("SHOP_DB_PASSWORD", PASSWORD)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "the deploy ended before its bake: {seen}");
        seen.push_str(&line);
        if line.contains("switches back at once") {
            break;
        }
    }
    assert!(get(&host, "/api/env").1.contains("baking"));
    let started = std::time::Instant::now();
    let back = run(slipway(&shop)
        .args(["rollback", "prod"])
        .env("SHOP_DB_PASSWORD", PASSWORD));
    let took = started.elapsed();
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(!get(&host, "/api/env").1.contains("baking"));
    // The old set was still running: no container was started for the rollback.
    assert!(
        !back.stderr.contains("passed its health gate ("),
        "{}",
        back.stderr
    );
    eprintln!("rollback during the bake took {took:?}");
    let status = child.wait().unwrap();
    assert!(status.success(), "the baking deploy itself succeeded");
    let (total, failures) = load.stop();
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let history = releases(&shop);
    assert_eq!(
        history.iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
        vec!["rolled-back", "live"]
    );
    // Only the first release's containers are left.
    let apps = status_from_hosts(&shop);
    assert_eq!(apps["api"].as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(apps["api"][0]["release"].as_str().unwrap(), history[1].0);

    // `down` takes the project's routes out of the proxy too.
    let routes = || {
        let output = std::process::Command::new("docker")
            .args([
                "exec",
                "slipway-proxy",
                "slipway",
                "proxy",
                "ctl",
                r#"{"op":"status"}"#,
            ])
            .output()
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let project = shop_project(&shop);
        answer["status"]["services"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(&format!("{project}/")))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(routes().len(), 2, "api and web are routed");
    let down = run(slipway(&shop).args(["down", "prod"]));
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert_eq!(routes(), Vec::<String>::new());
}

fn shop_project(shop: &Path) -> String {
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned()
}
