//! The base pipeline through the real Docker Engine and registry: a failing test stops the
//! push; the example's bases and apps go all the way to the registry.

use crate::{copy_example, run, skopeo_inspect, slipway, unique, write};

fn registry() -> String {
    std::env::var("SLIPWAY_TEST_REGISTRY").expect("SLIPWAY_TEST_REGISTRY is not set: run the tests through scripts/test, which starts the test bed")
}

fn tag_exists(repository: &str, tag: &str) -> bool {
    skopeo_inspect(false, &format!("{}/{repository}:{tag}", registry()))
        .status
        .success()
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
    let copy = copy_example(temp.path());
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
