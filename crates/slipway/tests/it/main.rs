//! End-to-end tests of the real `slipway` binary, each in its own temporary directory.

mod acme;
mod aws;
mod bases;
mod ci_export;
mod compose_corpus;
mod config;
mod deploy;
mod environments;
mod images;
mod init;
mod jobs;
mod lint;
mod manifest_errors;
mod pipeline_security;
mod pipelines;
mod proxy_ops;
mod pull_requests;
mod sarif_schema;
mod secret_files;
mod server;
mod tls;
mod token_registry;
#[path = "../../../slipway-oci/tests/support/token_server.rs"]
mod token_server;
mod workers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;

pub fn slipway(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("slipway").expect("the binary is built");
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    command
}

pub fn repo_root() -> PathBuf {
    // Read when the test runs: a test binary reused from a cached target directory may have
    // been compiled in another checkout.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn write(dir: &Path, path: &str, contents: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(command: &mut Command) -> Run {
    let output = command.output().expect("slipway runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A name no other test run uses (project names, repositories, tags).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000)
}

/// `skopeo inspect [--raw]` of a reference in the test bed's registry, with its credentials:
/// a client independent of slipway.
pub fn skopeo_inspect(raw: bool, reference: &str) -> std::process::Output {
    let mut command = std::process::Command::new("skopeo");
    command.arg("inspect");
    if raw {
        command.arg("--raw");
    }
    command
        .args(["--tls-verify=false", "--authfile"])
        .arg(
            Path::new(
                &std::env::var("DOCKER_CONFIG")
                    .expect("DOCKER_CONFIG is not set: run the tests through scripts/test"),
            )
            .join("config.json"),
        )
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo runs")
}

/// Makes `dir` a git repository with everything in it committed (base tags carry the commit).
pub fn git_commit_all(dir: &Path) {
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.email=ci@slipway.invalid",
            "-c",
            "user.name=ci",
            "commit",
            "-qm",
            "slipway test",
        ],
    ] {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }
}

/// A copy of examples/shop in `dir` without local state, committed to a repository of its own.
pub fn copy_example(dir: &Path) -> PathBuf {
    let copy = dir.join("shop");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("examples/shop"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.join(".slipway"));
    let _ = std::fs::remove_file(copy.join("slipway.lock"));
    git_commit_all(&copy);
    copy
}

/// A webhook receiver on loopback: records `(path, JSON body)` of each POST and answers each path
/// with the statuses listed for it in turn (the last one from then on).
#[derive(Debug)]
pub struct Receiver {
    pub address: String,
    got: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Receiver {
    pub fn start(script: &[(&str, &[u16])]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let script: std::collections::HashMap<String, Vec<u16>> = script
            .iter()
            .map(|(path, statuses)| (path.to_string(), statuses.to_vec()))
            .collect();
        let recorded = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_owned();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let seen = {
                    let mut got = recorded.lock().unwrap();
                    got.push((
                        path.clone(),
                        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    ));
                    got.iter().filter(|(p, _)| *p == path).count()
                };
                let statuses = script.get(&path).cloned().unwrap_or_else(|| vec![404]);
                let status = statuses[(seen - 1).min(statuses.len() - 1)];
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { address, got }
    }

    pub fn bodies(&self, path: &str) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// `git ARGS` in `dir` as a developer would run it; its output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args([
            "-c",
            "user.email=dev@slipway.invalid",
            "-c",
            "user.name=dev",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The example's slipway.toml (copied to `shop`) as its own project `name`, its apps routed by
/// `host` behind the shared proxy, dev unpublished and stage on `stage_port`.
pub fn own_shop_manifest(shop: &Path, name: &str, host: &str, stage_port: u16) -> String {
    std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .replace("name = \"shop\"", &format!("name = \"{name}\""))
        .replace(
            "route = { path = \"/api\" }",
            &format!("route = {{ host = \"{host}\", path = \"/api\" }}"),
        )
        .replace(
            "route = { path = \"/\" }",
            &format!("route = {{ host = \"{host}\", path = \"/\" }}"),
        )
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{stage_port}"))
}

/// Sets prod's GREETING (what the example's `/api/env` answers) in config/prod/values.toml.
pub fn set_greeting(shop: &Path, greeting: &str) {
    let path = shop.join("config/prod/values.toml");
    let values = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = values
        .lines()
        .filter(|l| !l.starts_with("GREETING"))
        .map(str::to_owned)
        .collect();
    lines.push(format!("GREETING = \"{greeting}\""));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}
