//! End-to-end tests of the real `slipway` binary, each in its own temporary directory.

mod aws;
mod bases;
mod config;
mod deploy;
mod environments;
mod images;
mod init;
mod lint;
mod manifest_errors;
mod sarif_schema;

use std::path::{Path, PathBuf};

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
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
        &["init", "-q"][..],
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
