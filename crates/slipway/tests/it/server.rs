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
    let mut stream = TcpStream::connect(address).unwrap();
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

    let (status, _, body) = http(&address, "GET", "/metrics", &[], b"");
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
    let github = |action: &str, branch: &str, rev: &str| {
        let body = json!({
            "action": action, "number": 12,
            "pull_request": { "head": { "ref": branch, "sha": rev }, "base": { "ref": "main" } }
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

    // GitLab's merge request hook, with its token.
    let merge_request = json!({
        "object_kind": "merge_request",
        "object_attributes": {
            "iid": 3, "action": "open", "source_branch": "feature/prices",
            "target_branch": "main", "last_commit": { "id": feature }
        }
    })
    .to_string();
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
