//! End-to-end tests of the real `slipway` binary, each in its own temporary directory.

mod bases;
mod config;
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
