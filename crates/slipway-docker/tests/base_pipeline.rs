//! The base-image pipeline's decisions against the recording engine: which official images are
//! pulled through the mirror and under which name, what is built under which tags with which
//! arguments, which tests run and where a failing one stops the pipeline. (The same on the real
//! engine and registry is in the integration tier's `bases.rs`.)

use std::path::Path;

use slipway_core::Manifest;
use slipway_docker::DockerError;
use slipway_docker::api::{EngineCall, RecordingEngine};
use slipway_docker::base::{TagContext, build_base, test_base};

const MANIFEST: &str = r#"schema = 1
[project]
name = "shop"
registry = "team"

[registries.team]
url = "127.0.0.1:5000"
mirror_of = ["docker.io"]

[bases.python]
dockerfile = "base/python/Dockerfile"
image = "shop/base-python"
tags = ["{date}-{git_sha}", "stable"]
build_args = { PYTHON_FLAVOUR = "slim" }
test = ["python3 -c 'import psycopg2'", "python3 --version"]
"#;

/// A multi-stage Dockerfile: two official images, a stage used as an image, an image from
/// another registry, and `scratch`.
const DOCKERFILE: &str = "\
FROM debian:bookworm-20251117-slim AS tools
RUN echo tools > /tools

FROM python:3.12-slim-bookworm
COPY --from=tools /tools /tools

FROM tools AS again
FROM ghcr.io/acme/helper:1.2 AS helper
FROM scratch AS empty
";

fn project(dir: &Path) -> Manifest {
    std::fs::create_dir_all(dir.join("base/python")).unwrap();
    std::fs::write(dir.join("base/python/Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("slipway.toml"), MANIFEST).unwrap();
    slipway_core::manifest::load_manifest(MANIFEST).unwrap()
}

fn tags() -> TagContext {
    TagContext {
        now: 1_764_028_800,
        git_sha: Some("ab12cd34ef56".into()),
        branch: Some("main".into()),
    }
}

#[tokio::test]
async fn official_images_the_engine_lacks_come_through_the_mirror_then_the_base_is_built_under_every_tag()
 {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    // The engine already holds Debian's image; Python's it must pull.
    let engine = RecordingEngine::new().with_image("debian:bookworm-20251117-slim");
    let mut log = Vec::new();
    let built = build_base(
        &engine,
        &manifest,
        temp.path(),
        "python",
        &tags(),
        &mut |line: &str| log.push(line.to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(
        built.references,
        [
            "127.0.0.1:5000/shop/base-python:2025-11-25-ab12cd3",
            "127.0.0.1:5000/shop/base-python:stable",
        ]
    );
    let calls = engine.calls();
    assert_eq!(
        calls[0],
        EngineCall::PullAs {
            from: "127.0.0.1:5000/library/python:3.12-slim-bookworm".into(),
            as_name: "python:3.12-slim-bookworm".into(),
        },
        "only the official image the engine lacks is pulled; stages, other registries and scratch are not: {calls:?}"
    );
    assert_eq!(
        calls[1],
        EngineCall::Build {
            context: temp.path().join("base/python"),
            dockerfile: temp.path().join("base/python/Dockerfile"),
            tags: built.references.clone(),
            build_args: [("PYTHON_FLAVOUR".to_owned(), "slim".to_owned())].into(),
        }
    );
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(built.image_id.starts_with("sha256:"));
    assert!(
        log.iter()
            .any(|line| line == "pulling python:3.12-slim-bookworm through the mirror 127.0.0.1:5000/library/python:3.12-slim-bookworm"),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_base_whose_dockerfile_is_missing_builds_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    std::fs::remove_file(temp.path().join("base/python/Dockerfile")).unwrap();
    let engine = RecordingEngine::new();
    let error = build_base(
        &engine,
        &manifest,
        temp.path(),
        "python",
        &tags(),
        &mut |_: &str| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, DockerError::Io { path, .. } if path.ends_with("base/python/Dockerfile")),
        "{error}"
    );
    assert!(engine.calls().is_empty(), "{:?}", engine.calls());
}

#[tokio::test]
async fn a_tag_that_needs_a_commit_outside_git_builds_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let engine = RecordingEngine::new().with_image("debian:bookworm-20251117-slim");
    let outside_git = TagContext {
        git_sha: None,
        ..tags()
    };
    let error = build_base(
        &engine,
        &manifest,
        temp.path(),
        "python",
        &outside_git,
        &mut |_: &str| {},
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("{git_sha}"), "{error}");
    assert!(
        !engine
            .calls()
            .iter()
            .any(|call| matches!(call, EngineCall::Build { .. })),
        "{:?}",
        engine.calls()
    );
}

#[tokio::test]
async fn every_test_runs_in_the_built_image_in_order() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let image = "127.0.0.1:5000/shop/base-python:stable";
    let engine = RecordingEngine::new().with_image(image).with_run(
        &["/bin/sh", "-c", "python3 --version"],
        0,
        "Python 3.12.7\n",
    );
    let outcomes = test_base(&engine, &manifest, "python", image)
        .await
        .unwrap();
    let commands: Vec<Vec<String>> = outcomes.iter().map(|o| o.command.clone()).collect();
    // A test written as one string is a shell command line.
    assert_eq!(
        commands,
        [
            vec!["/bin/sh", "-c", "python3 -c 'import psycopg2'"],
            vec!["/bin/sh", "-c", "python3 --version"]
        ]
    );
    assert_eq!(outcomes[1].output, "Python 3.12.7\n");
    assert!(engine.calls().iter().all(|call| matches!(
        call,
        EngineCall::RunOnce { image: ran, .. } if ran == image
    )));
}

#[tokio::test]
async fn a_failing_test_stops_the_pipeline_with_the_end_of_its_output() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let image = "127.0.0.1:5000/shop/base-python:stable";
    let output: String = (1..=30)
        .map(|n| format!("line {n}\n"))
        .chain(["ModuleNotFoundError: No module named 'psycopg2'\n".to_owned()])
        .collect();
    let engine = RecordingEngine::new().with_image(image).with_run(
        &["/bin/sh", "-c", "python3 -c 'import psycopg2'"],
        1,
        &output,
    );
    let error = test_base(&engine, &manifest, "python", image)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "Docker Engine: base `python`: test `/bin/sh -c python3 -c 'import psycopg2'` exited with 1:\n"
        ),
        "{error}"
    );
    // The last 20 lines: enough to see why, not the whole log.
    assert!(
        error.ends_with("line 12\nline 13\nline 14\nline 15\nline 16\nline 17\nline 18\nline 19\nline 20\nline 21\nline 22\nline 23\nline 24\nline 25\nline 26\nline 27\nline 28\nline 29\nline 30\nModuleNotFoundError: No module named 'psycopg2'"),
        "{error}"
    );
    assert!(!error.contains("line 11\n"), "{error}");
    // The second test never ran.
    assert_eq!(engine.calls().len(), 1, "{:?}", engine.calls());
}
