//! The base pipeline through the real Docker Engine and registry: a failing test stops the
//! push; the example's bases and apps go all the way to the registry.

use std::path::Path;
use std::process::Command;

use crate::{repo_root, run, slipway, write};

fn registry() -> String {
    std::env::var("SLIPWAY_TEST_REGISTRY").expect("SLIPWAY_TEST_REGISTRY is not set: run the tests through scripts/test, which starts the test bed")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000)
}

fn tag_exists(repository: &str, tag: &str) -> bool {
    let output = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--authfile"])
        .arg(Path::new(&std::env::var("DOCKER_CONFIG").unwrap()).join("config.json"))
        .arg(format!("docker://{}/{repository}:{tag}", registry()))
        .output()
        .expect("skopeo runs");
    output.status.success()
}

#[test]
fn a_failing_base_test_stops_the_push() {
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-base");
    write(
        temp.path(),
        "slipway.toml",
        &format!(
            "[project]\nname = \"{name}\"\nregistry = \"team\"\n\n[registries.team]\nurl = \"{}\"\nmirror_of = [\"docker.io\"]\n\n[bases.tiny]\nimage = \"{name}/base-tiny\"\ntags = [\"stable\"]\ntest = [\"test -f /etc/debian_version\", \"exit 3\"]\n",
            registry()
        ),
    );
    write(
        temp.path(),
        "base/tiny/Dockerfile",
        "FROM debian:bookworm-20251117-slim\nRUN echo built > /built\nUSER nobody\n",
    );
    let result = run(slipway(temp.path()).args(["base", "release"]));
    assert_ne!(result.code, 0, "{}", result.stdout);
    assert!(
        result
            .stderr
            .contains("test `/bin/sh -c exit 3` exited with 3"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("nothing was pushed"),
        "{}",
        result.stderr
    );
    assert!(
        !tag_exists(&format!("{name}/base-tiny"), "stable"),
        "a base that failed its tests must not be in the registry"
    );

    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml"))
        .unwrap()
        .replace(", \"exit 3\"", "");
    write(temp.path(), "slipway.toml", &manifest);
    let result = run(slipway(temp.path()).args(["base", "release"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(tag_exists(&format!("{name}/base-tiny"), "stable"));
    assert!(
        result.stdout.contains("event base-published: tiny sha256:"),
        "{}",
        result.stdout
    );
}

#[test]
fn the_example_bases_and_apps_reach_the_registry() {
    let temp = tempfile::tempdir().unwrap();
    let copy = temp.path().join("shop");
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("examples/shop"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.join(".slipway"));
    let _ = std::fs::remove_file(copy.join("slipway.lock"));
    // Base tags carry the commit: the copy is a repository of its own.
    for git in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.email=ci@slipway.invalid",
            "-c",
            "user.name=ci",
            "commit",
            "-qm",
            "shop",
        ],
    ] {
        assert!(
            Command::new("git")
                .args(git)
                .current_dir(&copy)
                .status()
                .unwrap()
                .success()
        );
    }
    for step in [
        &["base", "release"][..],
        &["base", "update"],
        &["build"],
        &["push", "--tag", "it"],
    ] {
        let result = run(slipway(&copy).args(step));
        assert_eq!(
            result.code, 0,
            "slipway {step:?}\nstdout: {}\nstderr: {}",
            result.stdout, result.stderr
        );
    }
    for repository in ["shop/base-python", "shop/base-nginx"] {
        assert!(tag_exists(repository, "stable"), "{repository}:stable");
    }
    for repository in ["shop/api", "shop/web"] {
        assert!(tag_exists(repository, "it"), "{repository}:it");
    }
    let lock = std::fs::read_to_string(copy.join("slipway.lock")).unwrap();
    assert!(
        lock.contains("[bases.python]") && lock.contains("digest = \"sha256:"),
        "{lock}"
    );
}
