//! Pipelines: a push starts the pipelines whose filters its changes pass (a docs-only commit
//! starts none); a run waits at its gate until an approver decides, from any terminal, even
//! after the terminal that started it is gone; a rejection or a lapsed approval stops it with
//! nothing deployed; the example's release pipeline goes from build to prod on the real engine.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Receiver, copy_example, git, own_shop_manifest, run, slipway, unique, write};

/// The name of the OS account the tests run as: who `slipway approve` decides as.
fn account() -> String {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, contents) in files {
        write(dir, path, contents);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A project of `run` steps only (no engine needed), committed on `main`.
fn small_project(dir: &Path, pipelines: &str) -> PathBuf {
    let root = dir.join("small");
    write(
        &root,
        "slipway.toml",
        &format!(
            r#"schema = 1
[project]
name = "{}"

[environments.prod]
approval = {{ required = true, approvers = ["carol", "{}"] }}

[environments.qa]
approval = {{ required = true, expires = "1s" }}

{pipelines}"#,
            unique("pipes"),
            account()
        ),
    );
    write(&root, ".gitignore", ".slipway/\n");
    write(&root, "app/api/main.py", "print('hello')\n");
    write(&root, "docs/guide.md", "# guide\n");
    git(&root, &["init", "-q", "-b", "main"]);
    commit(&root, &[], "first");
    root
}

fn json(result: &crate::Run) -> Value {
    assert_eq!(
        result.code, 0,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
    serde_json::from_str(&result.stdout).unwrap_or_else(|e| panic!("{e}: {}", result.stdout))
}

fn runs(root: &Path) -> Vec<Value> {
    json(&run(
        slipway(root).args(["pipeline", "list", "--output", "json"])
    ))
    .as_array()
    .unwrap()
    .clone()
}

fn show(root: &Path, id: u64) -> Value {
    json(&run(slipway(root).args([
        "pipeline",
        "show",
        &id.to_string(),
        "--output",
        "json",
    ])))
}

/// A `slipway` in the background, killed if the test ends before it does.
struct Background(Option<Child>);

impl Background {
    fn kill(&mut self) {
        let mut child = self.0.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn finish(mut self) -> crate::Run {
        let output = self.0.take().expect("running").wait_with_output().unwrap();
        crate::Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `slipway ARGS` in the background, with `env`.
fn spawn(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Background {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("slipway"))
        .args(args)
        .current_dir(root)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("slipway starts");
    Background(Some(child))
}

/// Waits until run `id` is in `state`.
fn wait_for_state(root: &Path, id: u64, state: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let run = show(root, id)["run"].clone();
        if run["state"] == state {
            return run;
        }
        assert!(
            start.elapsed() < limit,
            "run {id} did not reach `{state}` within {limit:?}: {run:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The id of the run a background `slipway pipeline run` records, once it has.
fn started_run(root: &Path, before: usize) -> u64 {
    let start = Instant::now();
    loop {
        let listed = runs(root);
        if listed.len() > before {
            return listed[0]["id"].as_u64().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no run started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const TRIGGERED: &str = r#"
[pipelines.release]
on = { push = { branches = ["main"], paths = ["app/**", "slipway.toml"], ignore_paths = ["**/*.md"] } }
env = ["RAN"]
steps = [{ name = "record", run = "echo \"$SLIPWAY_PIPELINE $SLIPWAY_COMMIT\" >> \"$RAN\"" }]

[pipelines.branch]
on = { push = {} }
steps = [{ name = "record", run = "echo \"$SLIPWAY_PIPELINE $SLIPWAY_COMMIT\" >> \"$RAN\"", env = ["RAN"] }]
"#;

#[test]
fn a_push_starts_the_pipelines_its_changes_pass_and_a_docs_only_commit_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_project(dir.path(), TRIGGERED);
    let ran_file = dir.path().join("ran.txt");
    let ran = || std::fs::read_to_string(&ran_file).unwrap_or_default();

    // The first push to main: everything is new; the release runs, the branch pipeline never
    // runs on the default branch.
    let first = git(&root, &["rev-parse", "HEAD"]);
    let result = run(slipway(&root)
        .env("RAN", &ran_file)
        .args(["pipeline", "trigger"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(ran(), format!("release {first}\n"));

    // A commit touching only docs starts nothing.
    commit(
        &root,
        &[
            ("docs/guide.md", "# guide\nmore\n"),
            ("app/api/NOTES.md", "x\n"),
        ],
        "docs",
    );
    let dry = json(&run(slipway(&root).env("RAN", &ran_file).args([
        "pipeline",
        "trigger",
        "--dry-run",
        "--output",
        "json",
    ])));
    assert_eq!(dry, serde_json::json!([]));
    let result = run(slipway(&root)
        .env("RAN", &ran_file)
        .args(["pipeline", "trigger"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stdout.contains("no pipeline starts"),
        "{}",
        result.stdout
    );
    assert_eq!(runs(&root).len(), 1, "a docs-only commit started a run");

    // An app change on a feature branch starts the branch pipeline only.
    git(&root, &["checkout", "-q", "-b", "feature/login"]);
    let feature = commit(&root, &[("app/api/main.py", "print('login')\n")], "login");
    let result = run(slipway(&root)
        .env("RAN", &ran_file)
        .args(["pipeline", "trigger"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(ran(), format!("release {first}\nbranch {feature}\n"));

    // Merged to main, the release's changes are measured from its last success: the docs
    // commit's files are part of them, as is the app change.
    git(&root, &["checkout", "-q", "main"]);
    git(
        &root,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "merge login",
            "feature/login",
        ],
    );
    let merged = git(&root, &["rev-parse", "HEAD"]);
    let dry = json(&run(slipway(&root).env("RAN", &ran_file).args([
        "pipeline",
        "trigger",
        "--dry-run",
        "--output",
        "json",
    ])));
    assert_eq!(dry[0]["pipeline"], "release");
    let mut changed: Vec<&str> = dry[0]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        ["app/api/NOTES.md", "app/api/main.py", "docs/guide.md"]
    );
    let result = run(slipway(&root)
        .env("RAN", &ran_file)
        .args(["pipeline", "trigger"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(ran().ends_with(&format!("release {merged}\n")), "{}", ran());

    // A run of an older commit happens in a worktree: the project's files are left alone and
    // the run sees that commit's files.
    let result = run(slipway(&root)
        .env("RAN", &ran_file)
        .args(["pipeline", "run", "release", "--rev", &first]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.stderr.contains("in a worktree"), "{}", result.stderr);
    assert!(ran().ends_with(&format!("release {first}\n")), "{}", ran());
    assert_eq!(
        std::fs::read_to_string(root.join("app/api/main.py")).unwrap(),
        "print('login')\n"
    );
    let listed = runs(&root);
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().all(|r| r["state"] == "succeeded"),
        "{listed:#?}"
    );
    assert_eq!(
        git(&root, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1,
        "the run's worktree was left behind"
    );
}

const GATED: &str = r#"
[notifications.team]
kind = "webhook"
url = "env:TEST_HOOK"

[pipelines.release]
env = ["SHIPPED"]
steps = [
  { name = "stage", run = "echo staged" },
  "approve prod",
  { name = "ship", run = "echo shipped by \"$SLIPWAY_RUN\" > \"$SHIPPED\"" },
]

[pipelines.hotfix]
kind = "release"
steps = ["approve", "deploy qa"]

[pipelines.broken]
kind = "release"
env = ["SHIPPED"]
steps = [{ name = "unit tests", run = "echo 3 failed >&2; exit 3" }, { name = "ship", run = "touch \"$SHIPPED\"" }]
"#;

#[test]
fn a_gate_waits_for_an_approver_from_any_terminal_and_a_rejection_deploys_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_project(dir.path(), GATED);
    let receiver = Receiver::start(&[("/hook", &[200])]);
    let hook = format!("{}/hook", receiver.address);
    let shipped = dir.path().join("shipped.txt");
    let with_hook = |args: &[&str], user: &str| {
        run(slipway(&root)
            .args(args)
            .env("USER", user)
            .env("TEST_HOOK", &hook)
            .env("SHIPPED", &shipped))
    };

    // Run 1 waits at its gate; the people asked are told how to decide.
    let shipped_text = shipped.to_string_lossy().into_owned();
    let as_ada = [
        ("USER", "ada"),
        ("TEST_HOOK", hook.as_str()),
        ("SHIPPED", shipped_text.as_str()),
    ];
    let before = runs(&root).len();
    let runner = spawn(&root, &["pipeline", "run", "release"], &as_ada);
    let id = started_run(&root, before);
    wait_for_state(&root, id, "waiting", Duration::from_secs(20));
    assert!(
        !shipped.exists(),
        "a step after the gate ran before the decision"
    );
    let waiting = receiver.bodies("/hook");
    let asked = waiting
        .iter()
        .find(|b| b["event"] == "approval-waiting")
        .unwrap_or_else(|| panic!("no approval-waiting event: {waiting:#?}"));
    assert_eq!(asked["environment"], "prod");
    assert_eq!(
        asked["facts"]["decide"],
        format!("slipway approve {id} (or slipway reject {id})")
    );

    // An approver (the OS account at a terminal; who is refused whatever `$USER` says is
    // pipeline_security's), from another terminal: the waiting runner goes on.
    let me = account();
    let approved = with_hook(
        &["approve", &id.to_string(), "--comment", "stage looks right"],
        "carol",
    );
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    let finished = runner.finish();
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(
        std::fs::read_to_string(&shipped).unwrap(),
        format!("shipped by {id}\n")
    );
    let record = show(&root, id);
    assert_eq!(record["run"]["state"], "succeeded");
    assert_eq!(record["approvals"][0]["state"], "approved");
    assert!(
        record["approvals"][0]["decided_by"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{me}@"))
    );
    assert_eq!(record["approvals"][0]["comment"], "stage looks right");
    let actions: Vec<(&str, &str)> = record["audit"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().split('@').next().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [(me.as_str(), "started"), (me.as_str(), "approved")]
    );
    std::fs::remove_file(&shipped).unwrap();

    // Run 2: the terminal that started it is gone (killed at the gate); the approval carries the
    // run on in the approver's terminal.
    let before = runs(&root).len();
    let mut runner = spawn(&root, &["pipeline", "run", "release"], &as_ada);
    let id = started_run(&root, before);
    wait_for_state(&root, id, "waiting", Duration::from_secs(20));
    runner.kill();
    let listed = run(slipway(&root).args(["pipeline", "list"]));
    assert!(
        listed.stdout.lines().nth(1).unwrap().contains("waiting"),
        "{}",
        listed.stdout
    );
    let approved = with_hook(&["approve", &id.to_string()], "carol");
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert!(
        approved
            .stderr
            .contains(&format!("carrying run {id} on here")),
        "{}",
        approved.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&shipped).unwrap(),
        format!("shipped by {id}\n")
    );
    std::fs::remove_file(&shipped).unwrap();

    // Run 3 is rejected: it stops, the steps after the gate never run, the runner says so.
    let before = runs(&root).len();
    let runner = spawn(&root, &["pipeline", "run", "release"], &as_ada);
    let id = started_run(&root, before);
    wait_for_state(&root, id, "waiting", Duration::from_secs(20));
    let rejected = with_hook(
        &["reject", &id.to_string(), "--comment", "prices are wrong"],
        "carol",
    );
    assert_eq!(rejected.code, 0, "{}", rejected.stderr);
    let finished = runner.finish();
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert!(
        finished.stderr.contains(&format!("rejected by {me}@")),
        "{}",
        finished.stderr
    );
    assert!(!shipped.exists(), "a rejected run shipped");
    let record = show(&root, id);
    assert_eq!(record["run"]["state"], "rejected");
    assert_eq!(record["run"]["steps"][2]["state"], "skipped");
    // A decided gate cannot be decided again.
    let again = with_hook(&["approve", &id.to_string()], "carol");
    assert_ne!(again.code, 0);
    assert!(
        again
            .stderr
            .contains("has rejected: there is nothing to decide"),
        "{}",
        again.stderr
    );

    // An approval that lapses stops the run: nobody deployed qa.
    let lapsed = with_hook(&["pipeline", "run", "hotfix"], "ada");
    assert_eq!(lapsed.code, 1, "{}", lapsed.stderr);
    assert!(
        lapsed.stderr.contains("the approval lapsed"),
        "{}",
        lapsed.stderr
    );
    let id = runs(&root)[0]["id"].as_u64().unwrap();
    let record = show(&root, id);
    assert_eq!(record["run"]["state"], "expired");
    assert_eq!(record["run"]["steps"][1]["state"], "skipped");

    // A failing step fails the run, skips the rest, keeps its output and tells the channel.
    let broken = with_hook(&["pipeline", "run", "broken"], "ada");
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(!shipped.exists());
    let id = runs(&root)[0]["id"].as_u64().unwrap();
    let record = show(&root, id);
    assert_eq!(record["run"]["state"], "failed");
    assert_eq!(record["run"]["steps"][0]["exit_code"], 3);
    assert_eq!(record["run"]["steps"][1]["state"], "skipped");
    let logs = run(slipway(&root).args(["pipeline", "logs", &id.to_string()]));
    assert!(
        logs.stdout.contains("==> unit tests\n    3 failed"),
        "{}",
        logs.stdout
    );
    let failed: Vec<Value> = receiver
        .bodies("/hook")
        .into_iter()
        .filter(|b| b["event"] == "run-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(
        failed[0]["facts"]["why"],
        "step `unit tests` failed: exit status 3"
    );

    // Bad input: clear errors, nothing started.
    let before = runs(&root).len();
    let unknown = run(slipway(&root).args(["approve", "999"]));
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("no run 999"), "{}", unknown.stderr);
    let unknown = run(slipway(&root).args(["pipeline", "run", "relase"]));
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("no pipeline `relase` in slipway.toml; it has release, hotfix, broken"),
        "{}",
        unknown.stderr
    );
    let bad_rev =
        run(slipway(&root).args(["pipeline", "run", "release", "--rev", "no-such-commit"]));
    assert_ne!(bad_rev.code, 0);
    assert!(
        bad_rev.stderr.contains("`no-such-commit` is not a commit"),
        "{}",
        bad_rev.stderr
    );
    assert_eq!(runs(&root).len(), before);
}

/// The example's release pipeline on the real engine: build, push, stage up and tested, the
/// gate, then prod, deployed with the approver's name on the release.
#[test]
fn the_example_release_pipeline_goes_from_build_to_prod_through_its_gate() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let name = unique("itpipe");
    let host = format!("{name}.test");
    let manifest = own_shop_manifest(&shop, &name, &host, 18281);
    write(&shop, "slipway.toml", &manifest);
    for step in [&["base", "release"][..], &["base", "update"]] {
        let result = run(slipway(&shop).args(step));
        assert_eq!(result.code, 0, "{step:?}: {}", result.stderr);
    }
    git(&shop, &["add", "-A"]);
    git(&shop, &["commit", "-qm", "pin the bases"]);
    struct Down(PathBuf);
    impl Drop for Down {
        fn drop(&mut self) {
            for env in ["stage", "prod"] {
                let _ = run(slipway(&self.0).args(["down", env, "--volumes"]));
            }
        }
    }
    let _down = Down(shop.clone());

    let runner = spawn(
        &shop,
        &["pipeline", "run", "release"],
        &[("SHOP_DB_PASSWORD", "pw-pipeline-test"), ("USER", "ada")],
    );
    let id = started_run(&shop, 0);
    let waiting = wait_for_state(&shop, id, "waiting", Duration::from_secs(600));
    let done: Vec<&str> = waiting["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "succeeded")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["build", "push", "up stage", "test stage"]);
    let releases = run(slipway(&shop).args(["releases", "prod", "--output", "json"]));
    assert_eq!(
        json(&releases),
        serde_json::json!([]),
        "prod changed before the approval"
    );

    let approved = run(slipway(&shop)
        .args(["approve", &id.to_string()])
        .env("USER", "carol"));
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    let finished = runner.finish();
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let releases = json(&run(
        slipway(&shop).args(["releases", "prod", "--output", "json"])
    ));
    assert_eq!(releases[0]["outcome"], "live");
    let by = releases[0]["started_by"].as_str().unwrap();
    assert!(
        by.starts_with(&format!("{}@", account()))
            && by.ends_with(&format!("(approved run {id} of release)")),
        "{by}"
    );
    let page = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-H",
            &format!("Host: {host}"),
            "http://127.0.0.1:8090/api/env",
        ])
        .output()
        .unwrap();
    assert!(page.status.success(), "{page:?}");
    let env: Value = serde_json::from_slice(&page.stdout).unwrap();
    assert_eq!(env["environment"], "prod");

    // By hand, the variables the runner gives its deploy step name nobody: the release is the
    // OS account's that ran the command.
    let by_hand = run(slipway(&shop)
        .args(["deploy", "prod", "--yes"])
        .env("SHOP_DB_PASSWORD", "pw-pipeline-test")
        .env("SLIPWAY_STARTED_BY", "mallory (approved run 1 of release)")
        .env("SLIPWAY_RUN", id.to_string()));
    assert_eq!(by_hand.code, 0, "{}", by_hand.stderr);
    let releases = json(&run(
        slipway(&shop).args(["releases", "prod", "--output", "json"])
    ));
    let by = releases[0]["started_by"].as_str().unwrap();
    assert!(by.starts_with(&format!("{}@", account())), "{by}");
}

/// aiosmtpd on loopback with STARTTLS required (a throwaway certificate for `localhost`), a login
/// of `slipway` with `password`, recording each message it takes.
struct SmtpServer {
    child: Child,
    port: u16,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    out: PathBuf,
}

impl SmtpServer {
    fn start(dir: &Path, password: &str) -> SmtpServer {
        let python = std::env::var("SLIPWAY_PYTHON")
            .expect("SLIPWAY_PYTHON is not set: run the tests through scripts/test");
        // A throwaway CA (what SSL_CERT_FILE trusts) and the server's certificate from it.
        let (ca, ca_key) = (dir.join("smtp-ca.pem"), dir.join("smtp-ca-key.pem"));
        let (cert, key) = (dir.join("smtp-cert.pem"), dir.join("smtp-key.pem"));
        let (request, extensions) = (dir.join("smtp.csr"), dir.join("smtp.ext"));
        std::fs::write(&extensions, "subjectAltName=DNS:localhost\n").unwrap();
        let openssl = |args: &[&std::ffi::OsStr]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?}");
        };
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        openssl(&[
            os("req"),
            os("-x509"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-days"),
            os("1"),
            os("-subj"),
            os("/CN=slipway test CA"),
            os("-keyout"),
            ca_key.as_os_str(),
            os("-out"),
            ca.as_os_str(),
        ]);
        openssl(&[
            os("req"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-subj"),
            os("/CN=localhost"),
            os("-keyout"),
            key.as_os_str(),
            os("-out"),
            request.as_os_str(),
        ]);
        openssl(&[
            os("x509"),
            os("-req"),
            os("-in"),
            request.as_os_str(),
            os("-CA"),
            ca.as_os_str(),
            os("-CAkey"),
            ca_key.as_os_str(),
            os("-CAcreateserial"),
            os("-days"),
            os("1"),
            os("-extfile"),
            extensions.as_os_str(),
            os("-out"),
            cert.as_os_str(),
        ]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (out, ready) = (dir.join("mail.jsonl"), dir.join("smtp-ready"));
        let child = std::process::Command::new(python)
            .arg(crate::repo_root().join("crates/slipway/tests/it/smtp/server.py"))
            .arg(port.to_string())
            .args([&cert, &key])
            .arg(password)
            .args([&out, &ready])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the SMTP server starts");
        let start = Instant::now();
        while !ready.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the SMTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer {
            child,
            port,
            ca,
            out,
        }
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn email_goes_out_over_starttls_with_a_login_and_a_failing_channel_never_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path(), "mail-secret-4242");
    let root = small_project(
        dir.path(),
        &format!(
            r#"
[notifications.ops]
kind = "email"
to = ["ops@shop.test", "Dev Team <dev@shop.test>"]
from = "slipway <ci@shop.test>"
smtp = "localhost:{}"
username = "slipway"
password = "env:TEST_SMTP_PASSWORD"
events = ["run-failed", "run-succeeded"]

[pipelines.release]
steps = [{{ name = "check", run = "true" }}, "notify"]

[pipelines.broken]
kind = "release"
steps = [{{ name = "unit tests", run = "echo 3 failed >&2; exit 3" }}]
"#,
            smtp.port
        ),
    );
    let pipeline = |name: &str, password: &str, trust: bool| {
        let mut command = slipway(&root);
        command
            .args(["pipeline", "run", name])
            .env("TEST_SMTP_PASSWORD", password);
        if trust {
            command.env("SSL_CERT_FILE", &smtp.ca);
        }
        run(&mut command)
    };

    let ok = pipeline("release", "mail-secret-4242", true);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stderr.contains("notified ops"), "{}", ok.stderr);
    let broken = pipeline("broken", "mail-secret-4242", true);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    for message in &messages {
        assert_eq!(message["tls"], true, "sent before STARTTLS");
        assert_eq!(message["login"], true);
        assert_eq!(message["from"], "ci@shop.test");
        assert_eq!(
            message["to"],
            serde_json::json!(["ops@shop.test", "dev@shop.test"])
        );
    }
    let text = |i: usize| {
        messages[i]["message"]
            .as_str()
            .unwrap()
            .replace("\r\n", "\n")
    };
    assert!(text(0).contains("\nSubject: "), "{}", text(0));
    assert!(
        text(0).contains("release pipeline went through"),
        "{}",
        text(0)
    );
    assert!(text(0).contains("event: run-succeeded"), "{}", text(0));
    assert!(text(1).contains("run 2 of broken failed"), "{}", text(1));
    assert!(
        text(1).contains("why: step `unit tests` failed: exit status 3"),
        "{}",
        text(1)
    );

    // A wrong password and an untrusted certificate: nothing is sent, the run's outcome is its
    // own, the failure is reported without the password.
    let wrong = pipeline("release", "not-the-password", true);
    assert_eq!(wrong.code, 0, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("warning: notification to `ops` failed"),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stderr.contains("535"), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("not-the-password"),
        "{}",
        wrong.stderr
    );
    let untrusted = pipeline("release", "mail-secret-4242", false);
    assert_eq!(untrusted.code, 0, "{}", untrusted.stderr);
    assert!(
        untrusted
            .stderr
            .contains("warning: notification to `ops` failed"),
        "{}",
        untrusted.stderr
    );
    assert_eq!(
        smtp.messages().len(),
        2,
        "a message went out without a trusted STARTTLS or login"
    );
}

#[test]
fn a_base_pipeline_that_publishes_starts_the_base_published_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_project(
        dir.path(),
        r#"[pipelines.base]
steps = ["base push", { name = "note", run = "true" }]

[pipelines.check-bases]
kind = "base"
steps = [{ name = "look", run = "true" }]

[pipelines.rebase]
kind = "release"
on = { base_published = true }
steps = [{ name = "rebuilt", run = "echo rebuilt at $SLIPWAY_COMMIT" }]
"#,
    );
    let head = git(&root, &["rev-parse", "HEAD"]);
    let result = run(slipway(&root).args(["pipeline", "run", "base"]));
    assert_eq!(result.code, 0, "{result:?}");
    let listed = runs(&root);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    // Newest first.
    assert_eq!(listed[0]["pipeline"], "rebase");
    assert_eq!(listed[0]["state"], "succeeded");
    assert_eq!(listed[0]["trigger"], "base-published");
    assert_eq!(listed[0]["started_by"], "run 1 of base");
    assert_eq!(listed[0]["rev"], head.as_str());
    let logs = run(slipway(&root).args(["pipeline", "logs", "2"]));
    assert!(
        logs.stdout.contains(&format!("rebuilt at {head}")),
        "{}",
        logs.stdout
    );

    // A base pipeline that pushes nothing publishes nothing.
    let looked = run(slipway(&root).args(["pipeline", "run", "check-bases"]));
    assert_eq!(looked.code, 0, "{looked:?}");
    assert_eq!(runs(&root).len(), 3);

    // A base pipeline may not start on its own publication.
    let manifest = std::fs::read_to_string(root.join("slipway.toml")).unwrap();
    write(
        &root,
        "slipway.toml",
        &manifest.replace(
            "[pipelines.base]\n",
            "[pipelines.base]\non = { base_published = true }\n",
        ),
    );
    let refused = run(slipway(&root).args(["config", "check"]));
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("pipelines.base.on.base_published")
            && refused
                .stderr
                .contains("would start itself again each time it publishes"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_server_takes_over_a_gated_run_whose_runner_died_after_the_server_started() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let server_block = format!(
        "{GATED}\n[server]\nlisten = \"{address}\"\nusers = {{ ada = \"env:TEST_ADA_PASSWORD\" }}\n"
    );
    let root = small_project(dir.path(), &server_block);
    let receiver = Receiver::start(&[("/hook", &[200])]);
    let hook = format!("{}/hook", receiver.address);
    let shipped = dir.path().join("shipped.txt");
    let shipped_text = shipped.to_string_lossy().into_owned();
    let env = [
        ("USER", "ada"),
        ("TEST_HOOK", hook.as_str()),
        ("SHIPPED", shipped_text.as_str()),
        ("TEST_ADA_PASSWORD", "pw-adopt-test"),
    ];

    // A terminal's run waits at its gate; the server, started now, leaves it to that terminal.
    let before = runs(&root).len();
    let mut terminal = spawn(&root, &["pipeline", "run", "release"], &env);
    let id = started_run(&root, before);
    let waiting = wait_for_state(&root, id, "waiting", Duration::from_secs(20));
    let terminal_runner = waiting["runner"].as_str().unwrap().to_owned();
    let _server = spawn(&root, &["serve"], &env);
    let start = Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server answers"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(show(&root, id)["run"]["runner"], terminal_runner.as_str());

    // The terminal dies after the server's start: the server takes the run over by itself.
    terminal.kill();
    let start = Instant::now();
    loop {
        let run = show(&root, id)["run"].clone();
        if run["runner"].as_str().is_some_and(|r| r != terminal_runner) {
            assert_eq!(run["state"], "waiting");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server never took run {id} over: {run:#}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The approval is recorded in a terminal; the server carries the run to its end.
    let approved = run(slipway(&root)
        .args(["approve", &id.to_string()])
        .env("USER", "carol"));
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert!(
        !approved.stderr.contains("carrying run"),
        "the terminal carried the run on instead of the server: {}",
        approved.stderr
    );
    wait_for_state(&root, id, "succeeded", Duration::from_secs(30));
    assert_eq!(
        std::fs::read_to_string(&shipped).unwrap(),
        format!("shipped by {id}\n")
    );
}
