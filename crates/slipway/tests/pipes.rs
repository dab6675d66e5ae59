//! A reader that goes away ends a command quietly (`slipway schema | head -1`), as it ends
//! coreutils: no panic message, no backtrace, the status a shell gives SIGPIPE. These run the
//! real binary and need no test bed.

use std::io::Read;
use std::process::{Command, Stdio};

/// Runs `slipway ARGS` with its stdout a pipe whose reading end is already closed, and returns
/// (exit status code, what it wrote to stderr).
fn run_into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1")
        .env("NO_COLOR", "1")
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code(), stderr)
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status() {
    for args in [
        &["schema"][..],
        &["completions", "bash"][..],
        &["init", "--help"][..],
    ] {
        let (code, stderr) = run_into_closed_pipe(args);
        assert_eq!(stderr, "", "slipway {args:?} wrote to stderr");
        // --help is written by the argument parser, which ends 0 on its own.
        if args.last() != Some(&"--help") {
            assert_eq!(code, Some(141), "slipway {args:?}");
        }
    }
}

#[test]
fn a_command_whose_output_is_read_still_succeeds() {
    let output = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"$schema\""));
}
