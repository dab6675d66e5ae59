//! Operating the proxy of a deployed environment on the real engine: maintenance mode under
//! load, the proxy's access log through `slipway logs --proxy`, and `slipway hosts check`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::deploy::{Down, PASSWORD, PROXY, deploy_ok, get, shop};
use crate::{run, slipway, write};

/// One GET through the proxy with the project's Host header and an Accept header:
/// (status, headers, body); status 0 when the connection failed.
fn get_accepting(host: &str, path: &str, accept: &str) -> (u16, String, String) {
    let attempt = || -> std::io::Result<(u16, String, String)> {
        let mut stream = TcpStream::connect(PROXY)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        Ok((status, head.to_ascii_lowercase(), body.to_owned()))
    };
    attempt().unwrap_or_else(|e| (0, String::new(), e.to_string()))
}

fn maintenance(shop: &std::path::Path, args: &[&str]) -> crate::Run {
    let result = run(slipway(shop).arg("maintenance").args(args));
    assert_eq!(result.code, 0, "maintenance {args:?}: {}", result.stderr);
    result
}

/// The phase when a request started, when it ended, its status and its body.
type Answer = (u8, u8, u16, String);

const BEFORE: u8 = 0;
const TURNING_ON: u8 = 1;
const ON: u8 = 2;
const TURNING_OFF: u8 = 3;
const AFTER: u8 = 4;

#[test]
fn maintenance_under_load_answers_503_only_while_on_and_no_connection_fails() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itmaint",
        "strategy = { kind = \"blue-green\" }",
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    assert_eq!(get(&host, "/").0, 200);

    // Eight clients loop; each answer is kept with the phase at its start and at its end.
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let (phase, stop, seen, host) =
                (phase.clone(), stop.clone(), seen.clone(), host.clone());
            std::thread::spawn(move || {
                let (path, accept) = if n % 2 == 0 {
                    ("/", "text/html")
                } else {
                    ("/api/health", "application/json")
                };
                while !stop.load(Ordering::Relaxed) {
                    let start = phase.load(Ordering::SeqCst);
                    let (status, _, body) = get_accepting(&host, path, accept);
                    let end = phase.load(Ordering::SeqCst);
                    seen.lock().unwrap().push((start, end, status, body));
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    let pause = || std::thread::sleep(Duration::from_millis(700));
    pause();
    phase.store(TURNING_ON, Ordering::SeqCst);
    let on = maintenance(
        &shop,
        &[
            "on",
            "prod",
            "--message",
            "Back at 14:00 UTC",
            "--retry-after",
            "600",
        ],
    );
    assert!(
        on.stdout.contains("`prod` is in maintenance since")
            && on.stdout.contains("\"Back at 14:00 UTC\""),
        "{}",
        on.stdout
    );
    phase.store(ON, Ordering::SeqCst);
    pause();
    phase.store(TURNING_OFF, Ordering::SeqCst);
    let off = maintenance(&shop, &["off", "prod"]);
    assert!(
        off.stdout.contains("`prod` is served normally"),
        "{}",
        off.stdout
    );
    phase.store(AFTER, Ordering::SeqCst);
    pause();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let odd: Vec<_> = seen
        .iter()
        .filter(|(_, _, status, _)| *status != 200 && *status != 503)
        .collect();
    assert!(
        odd.is_empty(),
        "not 200 or 503: {:?}",
        &odd[..odd.len().min(5)]
    );
    let early: Vec<_> = seen
        .iter()
        .filter(|(start, end, status, _)| *status == 503 && (*end == BEFORE || *start == AFTER))
        .collect();
    assert!(
        early.is_empty(),
        "503 while not in maintenance: {:?}",
        &early[..early.len().min(5)]
    );
    let while_on: Vec<_> = seen
        .iter()
        .filter(|(start, end, _, _)| *start == ON && *end == ON)
        .collect();
    assert!(
        while_on.len() > 20,
        "only {} requests while on",
        while_on.len()
    );
    assert!(
        while_on.iter().all(|(_, _, status, _)| *status == 503),
        "a request was forwarded while in maintenance"
    );
    for (phase, name) in [(BEFORE, "before"), (AFTER, "after")] {
        let served = seen
            .iter()
            .filter(|(start, end, status, _)| *start == phase && *end == phase && *status == 200)
            .count();
        assert!(served > 20, "only {served} answers {name} maintenance");
    }
    assert!(seen.iter().any(|(_, _, status, body)| *status == 503
        && body.contains("Back at 14:00 UTC")
        && body.contains("<html")));
    assert!(
        seen.iter().any(
            |(_, _, status, body)| *status == 503 && body.contains("\"error\":\"maintenance\"")
        )
    );
    drop(seen);

    // One app only, with the project's own page; it outlives a deploy, and status shows it.
    write(
        &shop,
        "config/prod/maintenance.html",
        "<!doctype html><title>shop</title><p>The shop's own maintenance page</p>\n",
    );
    maintenance(&shop, &["on", "prod", "--app", "api"]);
    let (status, head, body) = get_accepting(&host, "/api/health", "text/html");
    assert_eq!(status, 503, "{body}");
    assert!(head.contains("retry-after: 120"), "{head}");
    assert!(body.contains("The shop's own maintenance page"), "{body}");
    let (status, _, body) = get_accepting(&host, "/api/health", "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, json["error"].as_str()), (503, Some("maintenance")));
    assert_eq!(get(&host, "/").0, 200, "web is not in maintenance");
    deploy_ok(&shop, &["--force"]);
    assert_eq!(get_accepting(&host, "/api/health", "text/html").0, 503);
    let status = run(slipway(&shop)
        .args(["status", "prod"])
        .env("SHOP_DB_PASSWORD", PASSWORD));
    assert!(
        status
            .stdout
            .contains("`api` of `prod` is in maintenance since")
            && status.stdout.contains("(browsers get maintenance.html)"),
        "{}",
        status.stdout
    );
    let json = run(slipway(&shop).args(["status", "prod", "--output", "json"]));
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let states = &json["hosts"][0]["maintenance"];
    assert_eq!(states[0]["app"], "api", "{json}");
    assert_eq!(states[0]["own_page"], true);

    let unknown = run(slipway(&shop).args(["maintenance", "on", "prod", "--app", "db"]));
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("`prod` does not run an app `db`; it runs api, web"),
        "{}",
        unknown.stderr
    );
    let off = run(slipway(&shop).args(["maintenance", "off", "prod", "--output", "json"]));
    let off: serde_json::Value = serde_json::from_str(&off.stdout).unwrap();
    assert_eq!(off["hosts"][0]["maintenance"], serde_json::json!([]));
    assert_eq!(get(&host, "/api/health").0, 200);
}

#[test]
fn requests_through_the_proxy_appear_in_its_access_log() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = shop(
        temp.path(),
        "itaccess",
        "strategy = { kind = \"blue-green\" }",
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    // A follower started before the requests sees them as they come.
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .current_dir(&shop)
        .args(["logs", "prod", "--proxy", "--follow", "--tail", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Stopped when the test ends, passed or not: it would hold what the test run holds.
    let _stop_follower = KillOnDrop(follower.id());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(&host, "/api/health?token=secret").0, 200);
    assert_eq!(get(&host, "/").0, 200);
    assert_eq!(get(&host, "/no-such-page").0, 404);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The proxy writes its lines out every 100 ms: read until the three are there.
    let (read, lines) = loop {
        let read = run(slipway(&shop).args(["logs", "prod", "--proxy", "--tail", "50"]));
        assert_eq!(read.code, 0, "{}", read.stderr);
        let mut lines: Vec<serde_json::Value> = Vec::new();
        for line in read.stdout.lines() {
            let (label, json) = line.split_once(" | ").expect("host | line");
            assert_eq!(label, "local", "{line}");
            lines.push(serde_json::from_str(json).unwrap());
        }
        if lines.len() >= 3 || std::time::Instant::now() >= deadline {
            break (read, lines);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let find = |path: &str| {
        lines
            .iter()
            .find(|l| l["path"] == path)
            .unwrap_or_else(|| panic!("no line for {path}: {}", read.stdout))
            .clone()
    };
    let health = find("/api/health");
    assert_eq!(health["status"], 200);
    assert_eq!(health["method"], "GET");
    assert_eq!(health["host"], host.as_str());
    assert!(
        health["release"].as_str().unwrap().starts_with('r'),
        "{health}"
    );
    assert!(
        health["target"].as_str().unwrap().contains("-prod-api-"),
        "{health}"
    );
    assert!(health["duration_ms"].as_f64().unwrap() > 0.0, "{health}");
    assert!(health["bytes"].as_u64().unwrap() > 0, "{health}");
    assert!(health["time"].as_str().unwrap().ends_with('Z'), "{health}");
    assert_eq!(find("/").get("status").unwrap(), 200);
    assert_eq!(find("/no-such-page")["status"], 404);
    assert!(
        !read.stdout.contains("secret"),
        "the query string is not logged"
    );
    // The health gate's checks do not go through the public port: every line is a request.
    assert_eq!(lines.len(), 3, "{}", read.stdout);

    let tail = run(slipway(&shop).args(["logs", "prod", "--proxy", "--tail", "1"]));
    assert_eq!(tail.stdout.lines().count(), 1, "{}", tail.stdout);
    assert!(tail.stdout.contains("/no-such-page"), "{}", tail.stdout);
    let later = run(slipway(&shop).args(["logs", "prod", "--proxy", "--since", "4000000000"]));
    assert_eq!(
        (later.code, later.stdout.as_str()),
        (0, ""),
        "{}",
        later.stderr
    );
    // --since limits the containers' logs the same way.
    let web = run(slipway(&shop).args(["logs", "prod", "web", "--since", "10m"]));
    assert!(web.stdout.lines().count() > 0, "{}", web.stderr);
    let none = run(slipway(&shop).args(["logs", "prod", "web", "--since", "4000000000"]));
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (0, ""),
        "{}",
        none.stderr
    );
    let bad = run(slipway(&shop).args(["logs", "prod", "--proxy", "--since", "yesterday"]));
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("--since `yesterday` is not a time"),
        "{}",
        bad.stderr
    );

    // The follower got the same three requests.
    let mut stdout = follower.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            let _ = sender.send(text.clone());
        }
    });
    let mut followed = String::new();
    while !followed.contains("/no-such-page") && std::time::Instant::now() < deadline {
        if let Ok(text) = receiver.recv_timeout(Duration::from_millis(500)) {
            followed = text;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    for path in [
        "\"path\":\"/api/health\"",
        "\"path\":\"/\"",
        "\"path\":\"/no-such-page\"",
    ] {
        assert!(followed.contains(path), "{path} not followed: {followed}");
    }
}

#[test]
fn hosts_check_reports_each_host_and_fails_on_a_port_held_by_another_process() {
    // Two engines: the local one, and the test bed's second one over ssh, whose proxy address
    // is held by a listener of this test (another process, as far as that host can tell).
    let host_two = std::env::var("SLIPWAY_TEST_HOST2_SSH")
        .expect("SLIPWAY_TEST_HOST2_SSH is not set: run the tests through scripts/test");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_address = held.local_addr().unwrap().to_string();
    // The local host gets addresses of its own: 8090 belongs to the proxy other tests recreate.
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string()
    };
    let (free_public, free_metrics) = (free(), free());
    let temp = tempfile::tempdir().unwrap();
    let shop = crate::copy_example(temp.path());
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let target = "target = { kind = \"docker\", proxy = { publish = \"127.0.0.1:8090\" } }";
    assert!(manifest.contains(target));
    let manifest = manifest.replace(
        target,
        &format!(
            "target = {{ kind = \"docker\", hosts = [{{ url = \"unix:///var/run/docker.sock\", publish = \"{free_public}\", metrics = \"{free_metrics}\" }}, {{ url = \"{host_two}\", publish = \"{held_address}\", metrics = \"127.0.0.1:19190\" }}], proxy = {{ publish = \"127.0.0.1:8090\" }} }}"
        ),
    );
    write(&shop, "slipway.toml", &manifest);

    let result = run(slipway(&shop).args(["hosts", "check", "prod", "--output", "json"]));
    assert_eq!(
        result.code, 1,
        "a held port blocks: {}\n{}",
        result.stdout, result.stderr
    );
    let rows: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let row = |host: &str, check: &str, nth: usize| {
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["host"] == host && r["check"] == check)
            .nth(nth)
            .unwrap_or_else(|| panic!("no {check} row for {host}: {rows:#}"))
            .clone()
    };
    for host in ["unix:///var/run/docker.sock", host_two.as_str()] {
        let engine = row(host, "engine", 0);
        assert_eq!(engine["level"], "ok", "{engine}");
        assert!(
            engine["detail"]
                .as_str()
                .unwrap()
                .starts_with("Docker Engine "),
            "{engine}"
        );
        assert_eq!(row(host, "clock", 0)["level"], "ok");
        let registry = row(host, "registry", 0);
        assert_eq!(registry["level"], "ok", "{registry}");
        assert_eq!(registry["detail"], "127.0.0.1:5000 answers the engine");
        // The disk's level is the test machine's; the row says what it measured.
        let disk = row(host, "disk", 0);
        assert!(
            disk["detail"].as_str().unwrap().contains(" GiB free of "),
            "{disk}"
        );
    }
    assert!(
        row(host_two.as_str(), "disk", 0)["detail"]
            .as_str()
            .unwrap()
            .contains("under /var/tmp/slipway-testbed/"),
        "host two's data root is its own"
    );
    let public_local = row("unix:///var/run/docker.sock", "port", 0);
    assert_eq!(public_local["level"], "ok", "{public_local}");
    assert_eq!(
        public_local["detail"],
        format!("{free_public} (public) is free"),
        "{public_local}"
    );
    let public_two = row(host_two.as_str(), "port", 0);
    assert_eq!(public_two["level"], "fail", "{public_two}");
    assert!(
        public_two["detail"].as_str().unwrap().starts_with(&format!(
            "{held_address} (public) is held by another process"
        )),
        "{public_two}"
    );
    assert_eq!(row(host_two.as_str(), "port", 1)["level"], "ok");

    let text = run(slipway(&shop).args(["hosts", "check", "prod"]));
    assert_eq!(text.code, 1);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with(&host_two) && l.contains("port") && l.contains("FAIL")),
        "{}",
        text.stdout
    );
    drop(held);
}

/// Kills a process when dropped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.0.to_string())
            .status();
    }
}

/// One request through the proxy with the project's Host header, JSON asked for, `extra`
/// header lines and `body`: (status, body); status 0 when the connection failed.
fn send_json(host: &str, method: &str, path: &str, extra: &str, body: &[u8]) -> (u16, String) {
    let attempt = || -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(PROXY)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (_, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        Ok((status, body.to_owned()))
    };
    attempt().unwrap_or_else(|e| (0, e.to_string()))
}

#[test]
fn a_routes_limits_reach_the_proxy_and_what_is_over_them_never_reaches_the_app() {
    let temp = tempfile::tempdir().unwrap();
    let (shop, host) = crate::deploy::shop_with(
        temp.path(),
        "itlimits",
        "strategy = { kind = \"blue-green\" }",
        &[(
            "path = \"/api\" }",
            "path = \"/api\", max_body = \"1KB\", max_header = \"2KB\" }",
        )],
    );
    let _down = Down(shop.clone());
    deploy_ok(&shop, &[]);
    let visits = || {
        let (status, body) = get(&host, "/api/visits");
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["visits"].as_i64().unwrap()
    };
    let before = visits();

    let (status, body) = send_json(&host, "POST", "/api/visits", "", &[b'x'; 2048]);
    assert_eq!(status, 413, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "body_too_large");
    assert!(error["message"].as_str().unwrap().contains("at most 1KB"));
    let cookie = format!("Cookie: session={}\r\n", "c".repeat(3000));
    let (status, body) = send_json(&host, "POST", "/api/visits", &cookie, b"{}");
    assert_eq!(status, 431, "{body}");
    assert_eq!(visits(), before, "the app counted a refused request");

    // Within the limits the request goes through; the web app's route keeps the defaults.
    let (status, body) = send_json(&host, "POST", "/api/visits", "", &[b'x'; 512]);
    assert_eq!(status, 201, "{body}");
    assert_eq!(visits(), before + 1);
    let (status, _) = send_json(&host, "GET", "/", &cookie, b"");
    assert_eq!(status, 200);
}
