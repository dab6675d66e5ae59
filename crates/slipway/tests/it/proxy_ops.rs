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
