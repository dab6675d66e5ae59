//! `slipway serve`: a signed push webhook starts the example's release pipeline; a person logs
//! in with a real browser (Debian's chromium through chromedriver), sees the run waiting, presses
//! Deploy and sees the release go live, then presses Rollback and sees the previous release live.
//! Bad webhooks, unauthenticated and cross-site changes are refused and start nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{copy_example, git, own_shop_manifest, run, set_greeting, slipway, unique, write};

const PASSWORD: &str = "ada-dashboard-pw";
const SECRET: &str = "webhook-secret-77";

/// One HTTP/1.1 request on loopback: (status, headers, body).
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    exchange(
        TcpStream::connect(address).unwrap(),
        address,
        method,
        path,
        headers,
        body,
    )
}

/// A connection to `address` from the loopback address `source` (127.0.0.2, ...), as another
/// client would make.
fn connect_from(source: &str, address: &str) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    let address: std::net::SocketAddr = address.parse().unwrap();
    socket.connect(&address.into()).unwrap();
    socket.into()
}

/// One HTTP/1.1 request on an open connection: (status, headers, body).
fn exchange(
    mut stream: TcpStream,
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    // Read the head, then exactly Content-Length bytes: chromedriver keeps the connection open.
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        response.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&response).into_owned();
    let length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            stream.read_exact(&mut body).unwrap();
        }
        None => {
            let _ = stream.read_to_end(&mut body);
        }
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let head = head.trim_end();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body)
}

fn basic() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ada:{PASSWORD}"))
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process killed when the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A WebDriver session in headless chromium.
struct Browser {
    driver: String,
    session: String,
    _chromedriver: Process,
}

impl Browser {
    fn start(dir: &Path) -> Browser {
        let port = free_port();
        let chromedriver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs: scripts/test installs chromium-driver");
        let driver = format!("127.0.0.1:{port}");
        let process = Process(chromedriver);
        wait_until("chromedriver answers", Duration::from_secs(20), || {
            TcpStream::connect(&driver).is_ok()
        });
        let profile = dir.join("chromium-profile");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--user-data-dir={}", profile.display()), "--window-size=420,900"]
            }
        }}});
        let (status, _, body) = http(
            &driver,
            "POST",
            "/session",
            &[("Content-Type", "application/json")],
            capabilities.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "a browser session: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        Browser {
            driver,
            session: answer["value"]["sessionId"].as_str().unwrap().to_owned(),
            _chromedriver: process,
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, _, text) = http(
            &self.driver,
            method,
            &format!("/session/{}{path}", self.session),
            &[("Content-Type", "application/json")],
            if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            }
            .as_slice(),
        );
        assert_eq!(status, 200, "{method} {path}: {text}");
        serde_json::from_str::<Value>(&text).unwrap()["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            json!({ "using": "css selector", "value": css }),
        );
        found
            .get("element-6066-11e4-a52e-4f735466cecf")
            .or_else(|| found.get("ELEMENT"))
            .unwrap_or_else(|| panic!("no `{css}` on the page: {found}"))
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let element = self.element(css);
        self.call("POST", &format!("/element/{element}/click"), json!({}));
    }

    fn text(&self) -> String {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": "return document.body.innerText", "args": [] }),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Reloads until the page's text contains `wanted`.
    fn wait_for_text(&self, url: &str, wanted: &str, limit: Duration) -> String {
        let start = Instant::now();
        // The page a click landed on counts when it is `url` (or `url?...`); else load `url`.
        let here = self.call("GET", "/url", Value::Null);
        if !here
            .as_str()
            .is_some_and(|h| h == url || h.starts_with(&format!("{url}?")))
        {
            self.open(url);
        }
        loop {
            let text = self.text();
            if text.contains(wanted) {
                return text;
            }
            assert!(
                start.elapsed() < limit,
                "`{wanted}` never showed on {url}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(500));
            self.open(url);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            &self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
    }
}

fn greeting(host: &str) -> String {
    let (status, _, body) = http("127.0.0.1:8090", "GET", "/api/env", &[("Host", host)], b"");
    assert_eq!(status, 200, "{body}");
    let env: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    env["greeting"].as_str().unwrap_or_default().to_owned()
}

struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        for env in ["stage", "prod"] {
            let _ = run(slipway(&self.0).args(["down", env, "--volumes"]));
        }
    }
}

#[test]
fn a_pushed_release_is_approved_and_rolled_back_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let name = unique("itserve");
    let host = format!("{name}.test");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let manifest = own_shop_manifest(&shop, &name, &host, free_port())
        .replace(
            "listen = \"127.0.0.1:8300\"\nusers = { ada = \"env:SHOP_ADA_PASSWORD\" }",
            &format!(
                "listen = \"{address}\"\nusers = {{ ada = \"env:TEST_ADA_PASSWORD\" }}\nwebhook_secret = \"env:TEST_WEBHOOK_SECRET\""
            ),
        );
    assert!(manifest.contains(&address), "the example's [server] moved");
    write(&shop, "slipway.toml", &manifest);
    set_greeting(&shop, "first release");
    let _down = Down(shop.clone());
    for step in [&["base", "release"][..], &["base", "update"], &["build"]] {
        let result = run(slipway(&shop).args(step));
        assert_eq!(result.code, 0, "{step:?}: {}", result.stderr);
    }
    let deployed = run(slipway(&shop)
        .args(["deploy", "prod", "--yes"])
        .env("SHOP_DB_PASSWORD", "pw-serve-test"));
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    assert_eq!(greeting(&host), "first release");
    git(&shop, &["add", "-A"]);
    git(&shop, &["commit", "-qm", "first release"]);
    // The release pipeline runs the pushed commit of app/ or config/ changes.
    set_greeting(&shop, "second release");
    git(&shop, &["commit", "-qam", "say it differently"]);
    let pushed = git(&shop, &["rev-parse", "HEAD"]);

    let server = Process(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
            .arg("serve")
            .current_dir(&shop)
            .env("TEST_ADA_PASSWORD", PASSWORD)
            .env("TEST_WEBHOOK_SECRET", SECRET)
            .env("SHOP_DB_PASSWORD", "pw-serve-test")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the server answers", Duration::from_secs(20), || {
        TcpStream::connect(&address).is_ok()
    });
    let api_runs = || -> Vec<Value> {
        let (status, _, body) = http(
            &address,
            "GET",
            "/api/runs",
            &[("Authorization", &basic())],
            b"",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };

    // Bad webhooks start nothing: a wrong signature, none at all, a body that is not JSON.
    let push =
        json!({ "ref": "refs/heads/main", "before": "0".repeat(40), "after": pushed }).to_string();
    let signature = format!(
        "sha256={}",
        slipway_server::hooks::sign(SECRET, push.as_bytes())
    );
    let forged = format!(
        "sha256={}",
        slipway_server::hooks::sign("guess", push.as_bytes())
    );
    let (status, _, body) = http(
        &address,
        "POST",
        "/hooks/github",
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &forged)],
        push.as_bytes(),
    );
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = http(
        &address,
        "POST",
        "/hooks/github",
        &[("X-GitHub-Event", "push")],
        push.as_bytes(),
    );
    assert_eq!(status, 401);
    let garbage = b"{not json";
    let garbage_signature = format!("sha256={}", slipway_server::hooks::sign(SECRET, garbage));
    let (status, _, body) = http(
        &address,
        "POST",
        "/hooks/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &garbage_signature),
        ],
        garbage,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not JSON"), "{body}");
    // Changing something needs a login.
    let (status, _, _) = http(
        &address,
        "POST",
        "/pipelines/release/run",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"",
    );
    assert_eq!(status, 401);
    assert!(api_runs().is_empty(), "a refused request started a run");

    // The signed push starts the release pipeline (and not the base one: no base/ change).
    let (status, _, body) = http(
        &address,
        "POST",
        "/hooks/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &signature),
            ("Content-Type", "application/json"),
        ],
        push.as_bytes(),
    );
    assert_eq!(status, 202, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["started"].as_array().unwrap().len(), 1, "{body}");
    let id = started["started"][0].as_i64().unwrap();
    let runs = api_runs();
    assert_eq!(runs[0]["pipeline"], "release");
    assert_eq!(runs[0]["trigger"], "webhook:github");
    wait_until(
        "the run waits for approval",
        Duration::from_secs(600),
        || {
            let runs = api_runs();
            let this = runs.iter().find(|r| r["id"] == id).unwrap();
            assert!(
                !["failed", "interrupted"].contains(&this["state"].as_str().unwrap()),
                "the run stopped before its gate: {}",
                run(slipway(&shop).args(["pipeline", "logs", &id.to_string()])).stdout
            );
            this["state"] == "waiting"
        },
    );

    // A person logs in, sees the run waiting and presses Deploy.
    let browser = Browser::start(dir.path());
    let base = format!("http://{address}");
    browser.open(&format!("{base}/"));
    assert!(browser.text().contains("Log in"), "{}", browser.text());
    browser.type_into("input[name=user]", "ada");
    browser.type_into("input[name=password]", PASSWORD);
    browser.click("form[action='/login'] button");
    // A click only starts the form's post: loading another page before its answer would cancel
    // it, so wait for the answer on this page first.
    wait_until("the login answers", Duration::from_secs(60), || {
        browser.text().contains("Log out")
    });
    let dashboard = browser.wait_for_text(
        &format!("{base}/"),
        "Waiting for approval",
        Duration::from_secs(10),
    );
    assert!(
        dashboard.contains(&format!("run {id} of release")),
        "{dashboard}"
    );
    browser.type_into(
        &format!("form[action='/runs/{id}/approve'] input[name=comment]"),
        "stage looks right",
    );
    browser.click(&format!("form[action='/runs/{id}/approve'] button"));
    wait_until("the approval answers", Duration::from_secs(60), || {
        browser
            .call("GET", "/url", Value::Null)
            .as_str()
            .is_some_and(|u| u.contains("?msg="))
    });
    let page = browser.wait_for_text(
        &format!("{base}/runs/{id}"),
        &format!("Run {id} of release succeeded"),
        Duration::from_secs(300),
    );
    assert!(page.contains("approved by ada"), "{page}");
    assert_eq!(greeting(&host), "second release");
    let dashboard = browser.wait_for_text(&format!("{base}/"), "r2", Duration::from_secs(10));
    assert!(dashboard.contains("ada (approved run"), "{dashboard}");

    // Rollback from the environment's page: the previous release is live again.
    browser.open(&format!("{base}/environments/prod"));
    browser.click("form[action='/environments/prod/rollback'] button");
    // The answer comes when the rollback is done: wait for it without reloading the page.
    wait_until("the rollback answers", Duration::from_secs(120), || {
        browser
            .call("GET", "/url", Value::Null)
            .as_str()
            .is_some_and(|u| u.contains("?msg="))
    });
    let page = browser.wait_for_text(
        &format!("{base}/environments/prod"),
        "rolled back by ada",
        Duration::from_secs(120),
    );
    assert!(page.contains("r1"), "{page}");
    assert_eq!(greeting(&host), "first release");
    let releases = run(slipway(&shop).args(["releases", "prod", "--output", "json"]));
    let releases: Value = serde_json::from_str(&releases.stdout).unwrap();
    let live: Vec<&Value> = releases
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "live")
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["id"], 1);

    // A form posted from another site with the session's cookie but not its CSRF token, and
    // a wrong password, change nothing.
    let form = format!("user=ada&password={PASSWORD}");
    let (status, head, _) = http(
        &address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let (status, _, _) = http(
        &address,
        "POST",
        "/environments/prod/rollback",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"action=rollback",
    );
    assert_eq!(status, 403);
    let (status, _, _) = http(
        &address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"user=ada&password=guess",
    );
    assert_eq!(status, 401);
    assert_eq!(greeting(&host), "first release");

    let (status, _, _) = http(&address, "GET", "/metrics", &[], b"");
    assert_eq!(status, 401, "metrics need a login or the metrics token");
    let (status, _, body) = http(
        &address,
        "GET",
        "/metrics",
        &[("Authorization", &basic())],
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        body.contains("slipway_webhooks_total{host=\"github\",outcome=\"refused\"} 2"),
        "{body}"
    );
    assert!(
        body.contains("slipway_pipeline_runs{pipeline=\"release\",state=\"succeeded\"} 1"),
        "{body}"
    );
    drop(server);
}

/// A project of `run` steps only (no engine) whose `preview` pipeline runs on pull requests into
/// main that touch app/, served on `address`; the branches `feature/prices` (an app change) and
/// `docs/typo` (docs only) exist beside main, which is checked out.
fn pull_request_project(dir: &Path, address: &str) -> (PathBuf, String, String) {
    let root = dir.join("prs");
    write(
        &root,
        "slipway.toml",
        &format!(
            r#"schema = 1
[project]
name = "{}"

[server]
listen = "{address}"
users = {{ ada = "env:TEST_ADA_PASSWORD" }}
webhook_secret = "env:TEST_WEBHOOK_SECRET"

[pipelines.preview]
kind = "branch"
on = {{ pull_request = {{ branches = ["main"], paths = ["app/**"] }} }}
# Passes only at the pull request's own commit.
steps = [{{ name = "unit tests", run = "test -f app/api/prices.py" }}]
"#,
            unique("prs")
        ),
    );
    write(&root, ".gitignore", ".slipway/\n");
    write(&root, "app/api/main.py", "print('hello')\n");
    write(&root, "docs/guide.md", "# guide\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "first"]);
    git(&root, &["checkout", "-qb", "feature/prices"]);
    write(&root, "app/api/prices.py", "EURO = True\n");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "prices"]);
    let feature = git(&root, &["rev-parse", "HEAD"]);
    git(&root, &["checkout", "-q", "main"]);
    git(&root, &["checkout", "-qb", "docs/typo"]);
    write(&root, "docs/guide.md", "# the guide\n");
    git(&root, &["commit", "-qam", "typo"]);
    let docs = git(&root, &["rev-parse", "HEAD"]);
    git(&root, &["checkout", "-q", "main"]);
    (root, feature, docs)
}

#[test]
fn pull_request_webhooks_start_the_pull_request_pipelines_at_the_head_commit() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let (root, feature, docs) = pull_request_project(dir.path(), &address);

    // The same decision from the command line first.
    let dry = run(slipway(&root).args([
        "pipeline",
        "trigger",
        "--rev",
        &feature,
        "--branch",
        "feature/prices",
        "--pull-request",
        "main",
        "--dry-run",
    ]));
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.stdout, "preview would start: app/api/prices.py\n");
    let dry_docs = run(slipway(&root).args([
        "pipeline",
        "trigger",
        "--rev",
        &docs,
        "--branch",
        "docs/typo",
        "--pull-request",
        "main",
        "--dry-run",
    ]));
    assert!(
        dry_docs.stdout.starts_with("no pipeline starts"),
        "{dry_docs:?}"
    );

    let _server = Process(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
            .arg("serve")
            .current_dir(&root)
            .env("TEST_ADA_PASSWORD", PASSWORD)
            .env("TEST_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the server answers", Duration::from_secs(20), || {
        TcpStream::connect(&address).is_ok()
    });
    let shop = json!({ "full_name": "acme/shop" });
    let github_from = |head_repo: &Value, action: &str, branch: &str, rev: &str| {
        let body = json!({
            "action": action, "number": 12,
            "pull_request": {
                "head": { "ref": branch, "sha": rev, "repo": head_repo },
                "base": { "ref": "main", "repo": { "full_name": "acme/shop" } }
            }
        })
        .to_string();
        let signature = format!(
            "sha256={}",
            slipway_server::hooks::sign(SECRET, body.as_bytes())
        );
        let (status, _, answer) = http(
            &address,
            "POST",
            "/hooks/github",
            &[
                ("X-GitHub-Event", "pull_request"),
                ("X-Hub-Signature-256", &signature),
            ],
            body.as_bytes(),
        );
        assert_eq!(status, 202, "{answer}");
        serde_json::from_str::<Value>(&answer).unwrap()
    };
    let github = |action: &str, branch: &str, rev: &str| github_from(&shop, action, branch, rev);
    let run_of = |id: &Value| -> Value {
        let (status, _, body) = http(
            &address,
            "GET",
            &format!("/api/runs/{id}"),
            &[("Authorization", &basic())],
            b"",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };

    let opened = github("opened", "feature/prices", &feature);
    let id = &opened["started"][0];
    assert!(id.is_i64(), "{opened}");
    wait_until("the preview run ends", Duration::from_secs(60), || {
        run_of(id)["run"]["state"] != "running" && run_of(id)["run"]["state"] != "queued"
    });
    let started = run_of(id);
    assert_eq!(started["run"]["state"], "succeeded", "{started:#}");
    assert_eq!(started["run"]["pipeline"], "preview");
    assert_eq!(started["run"]["rev"], feature.as_str());
    assert_eq!(started["run"]["branch"], "feature/prices");
    assert_eq!(started["run"]["trigger"], "webhook:github");

    // A docs-only pull request and a closed one start nothing.
    assert_eq!(github("opened", "docs/typo", &docs)["started"], json!([]));
    let closed = github("closed", "feature/prices", &feature);
    assert_eq!(closed["started"], json!([]));
    assert_eq!(
        closed["ignored"],
        "pull request #12 was closed: nothing to run"
    );

    // A pull request that does not say where its head comes from (a deleted fork's `head.repo`
    // is null) counts as one from a fork: nothing of it runs.
    let unknown_head = github_from(&Value::Null, "reopened", "feature/prices", &feature);
    assert_eq!(unknown_head["started"], json!([]), "{unknown_head}");
    assert!(
        unknown_head["ignored"]
            .as_str()
            .is_some_and(|why| why.contains("comes from a fork")),
        "{unknown_head}"
    );

    // GitLab's merge request hook, with its token.
    let merge_request_of = |ids: Value| {
        let mut attributes = json!({
            "iid": 3, "action": "open", "source_branch": "feature/prices",
            "target_branch": "main", "last_commit": { "id": feature }
        });
        for (key, value) in ids.as_object().unwrap() {
            attributes[key] = value.clone();
        }
        json!({ "object_kind": "merge_request", "object_attributes": attributes }).to_string()
    };
    // Without `source_project_id`, it may come from a fork: nothing runs.
    let (status, _, answer) = http(
        &address,
        "POST",
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Event", "Merge Request Hook"),
            ("X-Gitlab-Token", SECRET),
        ],
        merge_request_of(json!({ "target_project_id": 5 })).as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["started"], json!([]), "{answer}");
    assert!(
        answer["ignored"]
            .as_str()
            .is_some_and(|why| why.contains("comes from a fork")),
        "{answer}"
    );
    let merge_request = merge_request_of(json!({ "source_project_id": 5, "target_project_id": 5 }));
    let (status, _, answer) = http(
        &address,
        "POST",
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Event", "Merge Request Hook"),
            ("X-Gitlab-Token", SECRET),
        ],
        merge_request.as_bytes(),
    );
    assert_eq!(status, 202, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["started"].as_array().unwrap().len(), 1, "{answer}");
    let (status, _, _) = http(
        &address,
        "POST",
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Event", "Merge Request Hook"),
            ("X-Gitlab-Token", "guess"),
        ],
        merge_request.as_bytes(),
    );
    assert_eq!(status, 401);
}

/// A project of `run` steps only (no engine), a git repository on main with one commit, whose
/// `[server]` listens on a free loopback port with ada as its user, the webhook secret, and
/// `server` added; `pipelines` is the rest of slipway.toml. Returns the project and the address.
fn plain_project(dir: &Path, server: &str, pipelines: &str) -> (PathBuf, String) {
    let root = dir.join("plain");
    let address = format!("127.0.0.1:{}", free_port());
    write(
        &root,
        "slipway.toml",
        &format!(
            "schema = 1\n[project]\nname = \"{}\"\n\n[server]\nlisten = \"{address}\"\nusers = {{ ada = \"env:TEST_ADA_PASSWORD\" }}\nwebhook_secret = \"env:TEST_WEBHOOK_SECRET\"\n{server}\n{pipelines}",
            unique("plain")
        ),
    );
    write(&root, ".gitignore", ".slipway/\n");
    write(&root, "app/main.py", "print('one')\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "first"]);
    (root, address)
}

/// `slipway serve` in `root` (through `wrapper`, e.g. `prlimit ...`), answering on `address`.
fn start_server(root: &Path, address: &str, env: &[(&str, &str)], wrapper: &[&str]) -> Process {
    let binary = assert_cmd::cargo::cargo_bin("slipway");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = std::process::Command::new(program);
            command.args(args).arg(&binary);
            command
        }
        None => std::process::Command::new(&binary),
    };
    command
        .arg("serve")
        .current_dir(root)
        .env("TEST_ADA_PASSWORD", PASSWORD)
        .env("TEST_WEBHOOK_SECRET", SECRET)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Process(command.spawn().unwrap());
    wait_until("the server answers", Duration::from_secs(20), || {
        TcpStream::connect(address).is_ok()
    });
    server
}

/// The value of response header `name` in `head`.
fn header_of<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn login_from(source: &str, address: &str, user: &str, password: &str) -> (u16, String, String) {
    let form = serde_urlencoded::to_string([("user", user), ("password", password)]).unwrap();
    exchange(
        connect_from(source, address),
        address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

#[test]
fn password_guessing_is_braked_per_address_and_user_and_shown_on_the_audit_page() {
    let dir = tempfile::tempdir().unwrap();
    let (root, address) = plain_project(dir.path(), "", "");
    let _server = start_server(&root, &address, &[], &[]);

    // A 2 MB user name is refused before it is read: nothing of it is stored.
    let huge = format!("user={}&password=x", "m".repeat(2 * 1024 * 1024));
    let (status, _, _) = exchange(
        connect_from("127.0.0.5", &address),
        &address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        huge.as_bytes(),
    );
    assert_eq!(status, 413);

    // Five wrong passwords for ada from one address; then that address waits, even with the
    // right password...
    for _ in 0..5 {
        let (status, _, _) = login_from("127.0.0.1", &address, "ada", "guess");
        assert_eq!(status, 401);
    }
    let (status, head, body) = login_from("127.0.0.1", &address, "ada", PASSWORD);
    assert_eq!(status, 429, "{head}\n{body}");
    let retry: u64 = header_of(&head, "retry-after")
        .expect("429 says when to retry")
        .parse()
        .unwrap();
    assert!(retry >= 1, "{head}");
    // ...and so does anyone logging in as ada from elsewhere, by the form or by basic auth.
    let (status, _, _) = login_from("127.0.0.2", &address, "ada", PASSWORD);
    assert_eq!(status, 429);
    let (status, _, _) = http(
        &address,
        "GET",
        "/api/runs",
        &[("Authorization", &basic())],
        b"",
    );
    assert_eq!(status, 401, "basic auth passes the brake");
    // Another address and another name are not held up; a name full of escapes and 300 long
    // is stored cut and printable.
    let mallory = format!("mallory\u{1b}[2J{}", "y".repeat(300));
    let (status, _, _) = login_from("127.0.0.3", &address, &mallory, "guess");
    assert_eq!(status, 401);

    // Once the wait is over, ada logs in (which clears the brake), in a real browser.
    std::thread::sleep(Duration::from_secs(retry));
    let browser = Browser::start(dir.path());
    let base = format!("http://{address}");
    browser.open(&format!("{base}/login"));
    browser.type_into("input[name=user]", "ada");
    browser.type_into("input[name=password]", PASSWORD);
    browser.click("form[action='/login'] button");
    wait_until("the login answers", Duration::from_secs(60), || {
        browser.text().contains("Log out")
    });
    browser.open(&format!("{base}/audit"));
    let audit = browser.text();
    assert!(audit.contains("6 failed logins"), "{audit}");
    assert!(audit.contains("from 127.0.0.3"), "{audit}");
    assert!(audit.contains("from 127.0.0.1"), "{audit}");
    assert!(audit.contains("mallory?[2J"), "{audit}");
    assert!(audit.contains("(cut)"), "{audit}");
    assert!(
        !audit.contains(&"y".repeat(65)),
        "a refused name is stored whole"
    );
    assert!(
        !audit.contains("mmmmmmmm"),
        "the oversized login was stored"
    );
    // The page's style is served under the Content-Security-Policy, which forbids inline style.
    let background = browser.call(
        "POST",
        "/execute/sync",
        json!({ "script": "return getComputedStyle(document.querySelector('header')).backgroundColor", "args": [] }),
    );
    assert_eq!(background, "rgb(29, 35, 43)");
}

#[test]
fn metrics_need_the_token_or_a_login_and_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let (root, address) = plain_project(
        dir.path(),
        "url = \"https://deploy.example.test\"\nmetrics_token = \"env:TEST_METRICS_TOKEN\"\npublic_read = true\nsession_lifetime = \"2s\"\n",
        "",
    );
    let _server = start_server(
        &root,
        &address,
        &[("TEST_METRICS_TOKEN", "metrics-token-55")],
        &[],
    );

    // Even with public_read, /metrics needs the bearer token or a login.
    let (status, head, _) = http(&address, "GET", "/metrics", &[], b"");
    assert_eq!(status, 401, "{head}");
    assert!(header_of(&head, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
    let (status, _, _) = http(
        &address,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer guess")],
        b"",
    );
    assert_eq!(status, 401);
    let (status, _, body) = http(
        &address,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer metrics-token-55")],
        b"",
    );
    assert_eq!(status, 200);
    assert!(body.contains("slipway_server_uptime_seconds"), "{body}");
    let (status, _, _) = http(
        &address,
        "GET",
        "/metrics",
        &[("Authorization", &basic())],
        b"",
    );
    assert_eq!(status, 200);

    // Unsigned webhooks, however many, are counted but noted in the audit once a minute.
    for _ in 0..50 {
        let (status, _, _) = http(
            &address,
            "POST",
            "/hooks/github",
            &[("X-GitHub-Event", "push")],
            b"{}",
        );
        assert_eq!(status, 401);
    }
    let (_, _, audit) = http(
        &address,
        "GET",
        "/audit?action=webhook-refused",
        &[("Authorization", &basic())],
        b"",
    );
    assert_eq!(audit.matches(">webhook-refused<").count(), 1, "{audit}");
    let (_, _, metrics) = http(
        &address,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer metrics-token-55")],
        b"",
    );
    assert!(
        metrics.contains("slipway_webhooks_total{host=\"github\",outcome=\"refused\"} 50"),
        "{metrics}"
    );

    // Every response carries the security headers.
    for path in ["/", "/login", "/metrics", "/health", "/no-such-page"] {
        let (_, head, _) = http(&address, "GET", path, &[], b"");
        let csp = header_of(&head, "content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {head}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {head}");
        assert_eq!(header_of(&head, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header_of(&head, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(header_of(&head, "referrer-policy").is_some(), "{path}");
    }

    // Over https, the session cookie travels only over https, and lives as long as a session.
    let (status, head, _) = login_from("127.0.0.1", &address, "ada", PASSWORD);
    assert_eq!(status, 303, "{head}");
    let set_cookie = header_of(&head, "set-cookie").unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Max-Age=2"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let (status, _, _) = http(&address, "GET", "/metrics", &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200, "a session reads the metrics");
    // Past its lifetime, the session is gone, however recently it was used.
    std::thread::sleep(Duration::from_secs(3));
    let (status, _, _) = http(&address, "GET", "/metrics", &[("Cookie", &cookie)], b"");
    assert_eq!(status, 401, "an ended session still reads the metrics");
}

/// Open file descriptors of process `pid`.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[test]
fn connections_held_open_neither_exhaust_descriptors_nor_weaken_session_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (root, address) = plain_project(dir.path(), "max_connections = 32\n", "");
    // 256 descriptors: holding 400 connections would take them all without a cap.
    let server = start_server(&root, &address, &[], &["prlimit", "--nofile=256:256"]);
    let pid = server.0.id();
    let (status, _, _) = login_from("127.0.0.1", &address, "ada", PASSWORD);
    assert_eq!(status, 303);
    let baseline = open_descriptors(pid);

    let held: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    wait_until(
        "the server takes connections up to its cap",
        Duration::from_secs(30),
        || open_descriptors(pid) >= baseline + 30,
    );
    // The first connections were taken: logins on them get fresh, unguessable tokens.
    let mut tokens = Vec::new();
    for stream in &held[..2] {
        let form = format!("user=ada&password={PASSWORD}");
        let (status, head, body) = exchange(
            stream.try_clone().unwrap(),
            &address,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        );
        assert_eq!(status, 303, "{head}\n{body}");
        let cookie = header_of(&head, "set-cookie").unwrap();
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("slipway_session=")
            .to_owned();
        assert_eq!(token.len(), 64, "{cookie}");
        assert_ne!(token, "0".repeat(64));
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1]);
    let open = open_descriptors(pid);
    assert!(
        open <= baseline + 32 + 8,
        "{open} descriptors open with 400 connections held (cap 32, {baseline} before)"
    );
    drop(held);
    let (status, _, _) = login_from("127.0.0.1", &address, "ada", PASSWORD);
    assert_eq!(status, 303, "logins go on once the held connections close");
}

/// Reads server-sent events from `stream` until the server closes it (a read timeout fails the
/// test: the stream did not end).
fn read_events_to_end(mut stream: TcpStream, address: &str, path: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAuthorization: {}\r\nAccept: text/event-stream\r\n\r\n",
        basic()
    )
    .unwrap();
    let mut events = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => events.extend_from_slice(&chunk[..n]),
            Err(error) => panic!(
                "the event stream of {path} did not end ({error}); it sent:\n{}",
                String::from_utf8_lossy(&events)
            ),
        }
    }
    String::from_utf8_lossy(&events).into_owned()
}

#[test]
fn live_logs_arrive_under_the_content_security_policy_and_end_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let (root, address) = plain_project(
        dir.path(),
        "",
        &format!(
            "[pipelines.slow]\nkind = \"branch\"\nsteps = [{{ name = \"wait\", run = \"echo started; while [ ! -e {} ]; do sleep 0.2; done; echo after-go\" }}]\n",
            go.display()
        ),
    );
    let _server = start_server(&root, &address, &[], &[]);
    let (status, _, body) = http(
        &address,
        "POST",
        "/pipelines/slow/run",
        &[("Authorization", &basic()), ("Accept", "application/json")],
        b"",
    );
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    wait_until("the run is running", Duration::from_secs(60), || {
        let (_, _, body) = http(
            &address,
            "GET",
            &format!("/api/runs/{id}"),
            &[("Authorization", &basic())],
            b"",
        );
        serde_json::from_str::<Value>(&body).unwrap()["run"]["state"] == "running"
    });
    // A script following the running run's events: they end when the run does.
    let following = {
        let address = address.clone();
        let stream = TcpStream::connect(&address).unwrap();
        std::thread::spawn(move || {
            read_events_to_end(stream, &address, &format!("/runs/{id}/events?after=0"))
        })
    };

    let browser = Browser::start(dir.path());
    let base = format!("http://{address}");
    browser.open(&format!("{base}/login"));
    browser.type_into("input[name=user]", "ada");
    browser.type_into("input[name=password]", PASSWORD);
    browser.click("form[action='/login'] button");
    wait_until("the login answers", Duration::from_secs(60), || {
        browser.text().contains("Log out")
    });
    browser.wait_for_text(
        &format!("{base}/runs/{id}"),
        "started",
        Duration::from_secs(60),
    );
    // From here the page is not reloaded: the line after the go arrives through the page's
    // script (served from /static/, as the policy allows no inline script), and the end of the
    // run reloads the page with its new state.
    std::fs::write(&go, "").unwrap();
    wait_until(
        "the run's end shows on the page by itself",
        Duration::from_secs(60),
        || {
            browser
                .text()
                .contains(&format!("Run {id} of slow succeeded"))
        },
    );
    assert!(browser.text().contains("after-go"), "{}", browser.text());

    let events = following.join().unwrap();
    assert!(events.contains("data: started"), "{events}");
    assert!(events.contains("data: after-go"), "{events}");
    assert!(events.contains("event: state\ndata: succeeded"), "{events}");
    // A finished run's stream sends what there is and ends at once.
    let events = read_events_to_end(
        TcpStream::connect(&address).unwrap(),
        &address,
        &format!("/runs/{id}/events?after=0"),
    );
    assert!(events.contains("data: after-go"), "{events}");
    assert!(events.contains("event: state\ndata: succeeded"), "{events}");
}

/// A signed GitHub push of `rev` to main, with delivery id `delivery`: (status, answer).
fn github_push(address: &str, rev: &str, before: &str, delivery: &str) -> (u16, Value) {
    let body = json!({ "ref": "refs/heads/main", "before": before, "after": rev }).to_string();
    github_push_body(address, &body, delivery)
}

fn github_push_body(address: &str, body: &str, delivery: &str) -> (u16, Value) {
    let signature = format!(
        "sha256={}",
        slipway_server::hooks::sign(SECRET, body.as_bytes())
    );
    let (status, _, answer) = http(
        address,
        "POST",
        "/hooks/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", &signature),
        ],
        body.as_bytes(),
    );
    (
        status,
        serde_json::from_str(&answer).unwrap_or_else(|_| json!({ "text": answer })),
    )
}

#[test]
fn a_replayed_webhook_starts_nothing_and_an_old_commit_is_never_released_by_a_push() {
    let dir = tempfile::tempdir().unwrap();
    // The release waits for `go`, so the first run is still going when the repeats arrive.
    let go = dir.path().join("go");
    let (root, address) = plain_project(
        dir.path(),
        "",
        &format!(
            "[pipelines.release]\non = {{ push = {{ branches = [\"main\"], paths = [\"app/**\"] }} }}\nsteps = [{{ name = \"check\", run = \"test -f app/main.py && while [ ! -e {} ]; do sleep 0.1; done\" }}]\n",
            go.display()
        ),
    );
    let first = git(&root, &["rev-parse", "HEAD"]);
    write(&root, "app/main.py", "print('two')\n");
    git(&root, &["commit", "-qam", "two"]);
    let second = git(&root, &["rev-parse", "HEAD"]);
    let mut server = start_server(&root, &address, &[], &[]);
    let runs = || -> Vec<Value> {
        let (_, _, body) = http(
            &address,
            "GET",
            "/api/runs",
            &[("Authorization", &basic())],
            b"",
        );
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };

    let (status, answer) = github_push(&address, &second, &first, "delivery-1");
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"].as_array().unwrap().len(), 1, "{answer}");

    // The same delivery again, while its run goes on: a success for the host (so it stops
    // sending), and no second run.
    let (status, answer) = github_push(&address, &second, &first, "delivery-1");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["started"], json!([]), "{answer}");
    assert!(answer["duplicate"].is_string(), "{answer}");
    // The same signed body under a new delivery id is the same delivery.
    let (status, answer) = github_push(&address, &second, &first, "delivery-2");
    assert_eq!(status, 200, "{answer}");
    assert!(answer["duplicate"].is_string(), "{answer}");
    assert_eq!(runs().len(), 1);
    std::fs::write(&go, "").unwrap();
    wait_until("the release run ends", Duration::from_secs(60), || {
        runs()[0]["state"] == "succeeded"
    });
    // A restart does not forget.
    drop(server);
    server = start_server(&root, &address, &[], &[]);
    let (status, answer) = github_push(&address, &second, &first, "delivery-1");
    assert_eq!(status, 200, "{answer}");
    assert!(answer["duplicate"].is_string(), "{answer}");
    assert_eq!(runs().len(), 1);

    // An older push of main, signed and new to the server (a body captured long ago, or a
    // branch reset), starts no release of the older commit.
    let (status, answer) = github_push(&address, &first, &"0".repeat(40), "delivery-3");
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"], json!([]), "{answer}");
    assert!(
        answer["skipped"][0]
            .as_str()
            .is_some_and(|why| why.contains("not newer")),
        "{answer}"
    );
    assert_eq!(runs().len(), 1);

    // A newer commit still releases; and a person may run the older one on purpose.
    write(&root, "app/main.py", "print('three')\n");
    git(&root, &["commit", "-qam", "three"]);
    let third = git(&root, &["rev-parse", "HEAD"]);
    let (status, answer) = github_push(&address, &third, &second, "delivery-4");
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"].as_array().unwrap().len(), 1, "{answer}");
    wait_until("the newer release ends", Duration::from_secs(60), || {
        runs()[0]["state"] == "succeeded"
    });
    let by_hand = run(slipway(&root).args(["pipeline", "run", "release", "--rev", &first]));
    assert_eq!(by_hand.code, 0, "{by_hand:?}");
    let runs = runs();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["rev"], first.as_str());
    assert_eq!(runs[0]["state"], "succeeded");

    // GitLab's and Gitea's delivery ids are remembered too.
    let (status, _, answer) = http(
        &address,
        "POST",
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Event", "Tag Push Hook"),
            ("X-Gitlab-Token", SECRET),
            ("X-Gitlab-Event-UUID", "uuid-1"),
        ],
        b"{}",
    );
    assert_eq!(status, 202, "{answer}");
    let (status, _, answer) = http(
        &address,
        "POST",
        "/hooks/gitlab",
        &[
            ("X-Gitlab-Event", "Tag Push Hook"),
            ("X-Gitlab-Token", SECRET),
            ("X-Gitlab-Event-UUID", "uuid-1"),
        ],
        b"{ }",
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("duplicate"), "{answer}");
    let gitea = |body: &[u8]| {
        let signature = slipway_server::hooks::sign(SECRET, body);
        http(
            &address,
            "POST",
            "/hooks/gitea",
            &[
                ("X-Gitea-Event", "create"),
                ("X-Gitea-Delivery", "gitea-1"),
                ("X-Gitea-Signature", &signature),
            ],
            body,
        )
    };
    assert_eq!(gitea(b"{}").0, 202);
    let (status, _, answer) = gitea(b"{ }");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("duplicate"), "{answer}");
    drop(server);
}

#[test]
fn a_session_left_idle_ends_long_before_its_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let (root, address) = plain_project(dir.path(), "session_idle = \"3s\"\n", "");
    let _server = start_server(&root, &address, &[], &[]);
    let (status, head, _) = login_from("127.0.0.1", &address, "ada", PASSWORD);
    assert_eq!(status, 303, "{head}");
    let set_cookie = header_of(&head, "set-cookie").unwrap();
    // Over plain http the cookie is not marked Secure (the browser would never send it back).
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age=86400"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let (status, _, _) = http(&address, "GET", "/api/runs", &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(5));
    let (status, _, _) = http(&address, "GET", "/api/runs", &[("Cookie", &cookie)], b"");
    assert_eq!(
        status, 401,
        "a session left idle past session_idle still works"
    );
}
