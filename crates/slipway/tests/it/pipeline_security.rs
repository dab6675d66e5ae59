//! What a branch's pipeline steps can see and show: a step gets an environment made of names,
//! never `slipway serve`'s own secrets; whatever a step prints of a secret the server knows, in
//! whatever simple encoding, is masked before it is stored or shown; the run history is the
//! server account's only. Two pipelines one push starts at the same commit both run. A terminal's
//! approval is the OS account's, whatever `$USER` says, and gates that need a login refuse it.
//! Text from outside never drives the terminal.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::{git, run, slipway, unique, write};

const ADA_PASSWORD: &str = "Ada-Dashboard-Pw-4471";
const WEBHOOK_SECRET: &str = "hook+secret/7731 x";
const GIT_TOKEN: &str = "ghp_TestToken0123456789abcdef";
const OPERATOR_KEY: &str = "operator-key-5521-zz";
const STAGE_DB: &str = "Stage:Db/Pw 9090";

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `curl ARGS` on loopback: (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let output = std::process::Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

/// The name of the OS account this test runs as.
fn account() -> String {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// What a template or a shell could make of `secret` before printing it.
fn encodings(secret: &str) -> Vec<String> {
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let url: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    vec![
        secret.to_owned(),
        secret.to_uppercase(),
        secret.to_lowercase(),
        secret.chars().rev().collect(),
        url,
        b64(secret),
        b64(&format!("ada:{secret}")),
    ]
}

fn project(dir: &Path, address: &str) -> PathBuf {
    let root = dir.join("leaky");
    write(
        &root,
        "slipway.toml",
        &format!(
            r#"schema = 1
[project]
name = "{}"

[environments.stage]
secrets = {{ DB_PASSWORD = "env:TEST_STAGE_DB" }}

[git]
host = "github"
repository = "acme/leaky"
token = "env:TEST_GIT_TOKEN"

[server]
listen = "{address}"
users = {{ ada = "env:TEST_ADA_PASSWORD" }}
webhook_secret = "env:TEST_WEBHOOK_SECRET"

[pipelines.release]
on = {{ push = {{ paths = ["app/**"] }} }}
steps = [
  {{ name = "environment", run = "env | sort" }},
  {{ name = "leak", run = "sh leak.sh" }},
  {{ name = "own secret", run = "printf '%s\n' \"$TEST_STAGE_DB\"; printf '%s' \"$TEST_STAGE_DB\" | base64; printf '%s\n' \"$TEST_STAGE_DB\" | rev; printf '%s\n' \"$TEST_STAGE_DB\" | tr a-z A-Z", env = ["TEST_STAGE_DB"] }},
]

[pipelines.base]
on = {{ push = {{ paths = ["base/**"] }} }}
steps = [{{ name = "base files", run = "test -f base/Dockerfile && env | sort" }}]
"#,
            unique("leaky")
        ),
    );
    // A branch's step printing secrets it learnt elsewhere, in the forms a template makes.
    let mut leak = String::new();
    for secret in [
        ADA_PASSWORD,
        WEBHOOK_SECRET,
        GIT_TOKEN,
        OPERATOR_KEY,
        STAGE_DB,
    ] {
        for form in encodings(secret) {
            leak.push_str(&format!("printf '%s\\n' 'seen: {form}'\n"));
        }
    }
    write(&root, "leak.sh", &leak);
    write(&root, ".gitignore", ".slipway/\n");
    write(&root, "app/api/main.py", "print('hello')\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "first"]);
    root
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn steps_never_see_the_servers_secrets_and_output_masks_every_form_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let root = project(dir.path(), &address);
    let first = git(&root, &["rev-parse", "HEAD"]);
    // One push touching both app/ and base/: it starts both pipelines at one commit, which is
    // not the checked-out one, so each runs in a worktree.
    write(&root, "app/api/main.py", "print('both')\n");
    write(&root, "base/Dockerfile", "FROM scratch\n");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "both"]);
    let both = git(&root, &["rev-parse", "HEAD"]);
    git(&root, &["checkout", "-q", &first]);

    let _server = Process(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
            .arg("serve")
            .current_dir(&root)
            .env("TEST_ADA_PASSWORD", ADA_PASSWORD)
            .env("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("TEST_GIT_TOKEN", GIT_TOKEN)
            .env("TEST_STAGE_DB", STAGE_DB)
            .env("OPERATOR_API_KEY", OPERATOR_KEY)
            .env("SERVER_ONLY_SETTING", "not-for-steps")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the server answers", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&address).is_ok()
    });
    let body =
        serde_json::json!({ "ref": "refs/heads/main", "after": both, "before": first }).to_string();
    let signature = format!(
        "X-Hub-Signature-256: sha256={}",
        slipway_server::hooks::sign(WEBHOOK_SECRET, body.as_bytes())
    );
    let delivery = format!("X-GitHub-Delivery: {}", unique("delivery"));
    let (status, answer) = curl(&[
        "-X",
        "POST",
        "-H",
        "X-GitHub-Event: push",
        "-H",
        &signature,
        "-H",
        &delivery,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &body,
        &format!("http://{address}/hooks/github"),
    ]);
    assert_eq!(status, 202, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let started: Vec<i64> = answer["started"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|id| id.as_i64().unwrap())
        .collect();
    assert_eq!(started.len(), 2, "one push, two pipelines: {answer}");

    let login = format!("ada:{ADA_PASSWORD}");
    let api = |id: i64| -> Value {
        let (status, body) = curl(&["-u", &login, &format!("http://{address}/api/runs/{id}")]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    for id in &started {
        wait_until("the run ends", Duration::from_secs(60), || {
            let state = api(*id)["run"]["state"].clone();
            state != "queued" && state != "running"
        });
    }
    // Both ran, each in a worktree of its own, and neither left it behind.
    for id in &started {
        let record = api(*id);
        assert_eq!(record["run"]["state"], "succeeded", "{record:#}");
        assert_eq!(record["run"]["rev"], both.as_str());
    }
    assert_eq!(
        git(&root, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1,
        "a run's worktree was left behind"
    );

    let release = started
        .iter()
        .copied()
        .find(|id| api(*id)["run"]["pipeline"] == "release")
        .unwrap();
    let logs = run(slipway(&root).args(["pipeline", "logs", &release.to_string()]));
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    let (status, page) = curl(&["-u", &login, &format!("http://{address}/runs/{release}")]);
    assert_eq!(status, 200, "{page}");
    let (status, api_text) = curl(&[
        "-u",
        &login,
        &format!("http://{address}/api/runs/{release}"),
    ]);
    assert_eq!(status, 200);

    // The step's environment is made of names: the basics and its own, nothing of the server's.
    let environment = logs.stdout.split("==> leak").next().unwrap().to_owned();
    for given in [
        "PATH=",
        "SLIPWAY_RUN=",
        "SLIPWAY_COMMIT=",
        "SLIPWAY_BRANCH=main",
    ] {
        assert!(
            environment.contains(given),
            "no {given} in the step's environment:\n{environment}"
        );
    }
    for withheld in [
        "TEST_ADA_PASSWORD",
        "TEST_WEBHOOK_SECRET",
        "TEST_GIT_TOKEN",
        "TEST_STAGE_DB",
        "OPERATOR_API_KEY",
        "SERVER_ONLY_SETTING",
    ] {
        assert!(
            !environment.contains(withheld),
            "the step got {withheld}:\n{environment}"
        );
    }
    // The step given the stage secret got it, and its output hides it in every form.
    assert!(
        logs.stdout
            .contains("==> own secret\n    ***\n    ***\n    ***\n    ***\n"),
        "{}",
        logs.stdout
    );
    assert!(logs.stdout.contains("    seen: ***\n"), "{}", logs.stdout);

    // No form of any secret is in the stored history, the dashboard, the API or `pipeline logs`.
    let state = root.join(".slipway");
    let mut stored = Vec::new();
    for file in ["pipelines.db", "pipelines.db-wal"] {
        if let Ok(bytes) = std::fs::read(state.join(file)) {
            stored.extend(bytes);
        }
    }
    let stored = String::from_utf8_lossy(&stored).into_owned();
    for secret in [
        ADA_PASSWORD,
        WEBHOOK_SECRET,
        GIT_TOKEN,
        OPERATOR_KEY,
        STAGE_DB,
    ] {
        for form in encodings(secret) {
            for (place, text) in [
                ("pipeline logs", &logs.stdout),
                ("the run's page", &page),
                ("/api/runs", &api_text),
                ("pipelines.db", &stored),
            ] {
                assert!(!text.contains(&form), "{place} shows `{form}`");
            }
        }
    }

    // The history is the server account's only.
    assert_eq!(mode(&state), 0o700);
    for file in ["pipelines.db", "pipelines.db-wal", "pipelines.db-shm"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
}

/// A project of `run` steps with gates: `vault` takes carol only, `bank` takes decisions on the
/// dashboard only.
fn gated_project(dir: &Path, address: &str) -> PathBuf {
    let root = dir.join("gated");
    write(
        &root,
        "slipway.toml",
        &format!(
            r#"schema = 1
[project]
name = "{}"

[environments.vault]
approval = {{ required = true, approvers = ["carol"] }}

[environments.bank]
approval = {{ required = true, approvers = ["ada", "{}"], via = "server" }}

[server]
listen = "{address}"
users = {{ ada = "env:TEST_ADA_PASSWORD" }}

[pipelines.vault]
kind = "release"
steps = ["approve vault", {{ name = "open", run = "echo opened" }}]

[pipelines.bank]
kind = "release"
steps = ["approve bank", {{ name = "pay", run = "echo paid" }}]
"#,
            unique("gated"),
            account()
        ),
    );
    write(&root, ".gitignore", ".slipway/\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "first"]);
    root
}

fn show(root: &Path, id: i64) -> Value {
    let shown = run(slipway(root).args(["pipeline", "show", &id.to_string(), "--output", "json"]));
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    serde_json::from_str(&shown.stdout).unwrap()
}

/// Starts `pipeline` in the background and waits for it to wait at its gate; its run id.
fn waiting_run(root: &Path, pipeline: &str) -> (Process, i64) {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
        .args(["pipeline", "run", pipeline])
        .current_dir(root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process(child);
    let mut id = 0;
    wait_until("the run waits at its gate", Duration::from_secs(30), || {
        let listed = run(slipway(root).args(["pipeline", "list", pipeline, "--output", "json"]));
        let runs: Value = serde_json::from_str(&listed.stdout).unwrap_or(Value::Null);
        match runs.get(0) {
            Some(newest) if newest["state"] == "waiting" => {
                id = newest["id"].as_i64().unwrap();
                true
            }
            _ => false,
        }
    });
    (process, id)
}

#[test]
fn a_terminal_approval_is_the_os_accounts_and_login_only_gates_refuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let root = gated_project(dir.path(), &address);
    let me = account();

    // Calling oneself carol in the environment does not make one carol.
    let (_runner, id) = waiting_run(&root, "vault");
    let spoofed = run(slipway(&root)
        .args(["approve", &id.to_string()])
        .env("USER", "carol")
        .env("LOGNAME", "carol"));
    assert_ne!(spoofed.code, 0, "{}", spoofed.stdout);
    assert!(
        spoofed.stderr.contains(&format!("{me}@"))
            && spoofed
                .stderr
                .contains("the approvers of `vault` are carol"),
        "{}",
        spoofed.stderr
    );
    let record = show(&root, id);
    assert_eq!(record["run"]["state"], "waiting");
    assert_eq!(record["approvals"][0]["state"], "pending");
    let refused = &record["audit"][0];
    assert_eq!(refused["action"], "refused-decision");
    assert!(
        refused["actor"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{me}@")),
        "{refused}"
    );

    // A gate decided on the dashboard only: the terminal is pointed there, even for an approver.
    let (_runner, id) = waiting_run(&root, "bank");
    let link = format!("http://{address}/runs/{id}");
    let logs = run(slipway(&root).args(["pipeline", "logs", &id.to_string()]));
    assert!(
        logs.stdout.contains(&format!(
            "waiting for approval: on the dashboard (slipway serve), {link}"
        )),
        "{}",
        logs.stdout
    );
    let at_terminal = run(slipway(&root).args(["approve", &id.to_string()]));
    assert_ne!(at_terminal.code, 0, "{}", at_terminal.stdout);
    assert!(
        at_terminal
            .stderr
            .contains("given on the dashboard by a logged-in approver")
            && at_terminal.stderr.contains(&format!("open {link}")),
        "{}",
        at_terminal.stderr
    );
    let rejected = run(slipway(&root).args(["reject", &id.to_string()]));
    assert_ne!(rejected.code, 0, "{}", rejected.stdout);
    assert_eq!(show(&root, id)["approvals"][0]["state"], "pending");

    // Logged in on the dashboard, ada approves it and the run goes on.
    let _server = Process(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
            .arg("serve")
            .current_dir(&root)
            .env("TEST_ADA_PASSWORD", ADA_PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the server answers", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&address).is_ok()
    });
    let (status, body) = curl(&[
        "-u",
        &format!("ada:{ADA_PASSWORD}"),
        "-X",
        "POST",
        "--data",
        "comment=checked",
        &format!("{link}/approve"),
    ]);
    assert_eq!(status, 303, "{body}");
    wait_until("the approved run ends", Duration::from_secs(30), || {
        show(&root, id)["run"]["state"] == "succeeded"
    });
    assert_eq!(show(&root, id)["approvals"][0]["decided_by"], "ada");
}

#[test]
fn text_from_outside_never_drives_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("escapes");
    write(
        &root,
        "slipway.toml",
        &format!(
            r#"schema = 1
[project]
name = "{}"

[pipelines.branch]
on = {{ push = {{}} }}
steps = [{{ name = "clear\u001b[2J", run = ["printf", "a\u001b[2Jb\u001b]0;owned\u0007c\n"] }}]
"#,
            unique("escapes")
        ),
    );
    write(&root, ".gitignore", ".slipway/\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "first"]);

    // A branch name as a webhook (or --branch) gives it, with an escape sequence in it.
    let branch = "feature/\u{1b}[2J\u{1b}]0;owned\u{7}x";
    let triggered = run(slipway(&root).args(["pipeline", "trigger", "--branch", branch]));
    assert_eq!(triggered.code, 0, "{}", triggered.stderr);
    let listed = run(slipway(&root).args(["pipeline", "list"]));
    let logs = run(slipway(&root).args(["pipeline", "logs", "1"]));
    let shown = run(slipway(&root).args(["pipeline", "show", "1"]));
    for (what, text) in [
        ("trigger", &triggered.stderr),
        ("list", &listed.stdout),
        ("logs", &logs.stdout),
        ("show", &shown.stdout),
    ] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "`pipeline {what}` printed an escape sequence: {text:?}"
        );
    }
    assert!(
        listed.stdout.contains("feature/\\x1b[2J"),
        "{}",
        listed.stdout
    );
    assert!(
        logs.stdout
            .contains("==> clear\\x1b[2J\n    a\\x1b[2Jb\\x1b]0;owned\\x07c"),
        "{}",
        logs.stdout
    );
    assert!(
        shown.stdout.contains("on feature/\\x1b[2J"),
        "{}",
        shown.stdout
    );
    // JSON keeps the text as it is, escaped by JSON itself.
    let json = run(slipway(&root).args(["pipeline", "list", "--output", "json"]));
    let runs: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(runs[0]["branch"], branch);
}
