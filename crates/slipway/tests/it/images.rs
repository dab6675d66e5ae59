//! `slipway build` and `slipway push` against the test bed's real registry (htpasswd auth) and
//! Docker Engine: what slipway pushes, Docker pulls and runs.

use std::path::Path;
use std::process::Command;

use crate::{run, skopeo_inspect, slipway, unique, write};

struct TestBed {
    registry: String,
}

fn test_bed() -> TestBed {
    let registry = std::env::var("SLIPWAY_TEST_REGISTRY").expect("SLIPWAY_TEST_REGISTRY is not set: run the tests through scripts/test, which starts the test bed");
    assert!(
        std::env::var_os("DOCKER_CONFIG").is_some(),
        "DOCKER_CONFIG is not set: run the tests through scripts/test"
    );
    TestBed { registry }
}

/// A project whose app `hello` builds on the test bed's Debian stand-in.
fn project(dir: &Path, bed: &TestBed, name: &str, extra_app_keys: &str) {
    write(
        dir,
        "slipway.toml",
        &format!(
            r#"[project]
name = "{name}"
registry = "team"

[registries.team]
url = "{registry}"

[bases.debian]
dockerfile = "base/debian/Dockerfile"
image = "library/debian"
tags = ["bookworm-20251117-slim"]

[apps.hello]
base = "debian"
dest = "/srv/app"
cmd = ["/bin/sh", "-c", "cat /srv/app/hello.txt /srv/app/vendor/dep.txt"]
user = "nobody"
{extra_app_keys}
"#,
            registry = bed.registry
        ),
    );
    write(
        dir,
        "base/debian/Dockerfile",
        "FROM debian:bookworm-20251117-slim\n",
    );
    write(dir, "app/hello/hello.txt", "hello from slipway\n");
    write(dir, "app/hello/vendor/dep.txt", "a dependency\n");
    write(dir, "app/hello/notes.log", "not for the image\n");
    write(dir, "app/hello/.dockerignore", "*.log\n");
}

fn json(result: &crate::Run) -> serde_json::Value {
    assert_eq!(
        result.code, 0,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
    serde_json::from_str(&result.stdout).unwrap_or_else(|e| panic!("{e}: {}", result.stdout))
}

/// Runs an image once, removes it, returns what it printed.
fn run_and_remove(image: &str) -> String {
    let output = docker(&["run", "--rm", image]);
    let _ = docker(&["image", "rm", "-f", image]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker client runs")
}

#[test]
fn a_pushed_app_image_is_pulled_and_run_by_docker() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-run");
    project(temp.path(), &bed, &name, "layers = [\"vendor\"]");
    let built = json(&run(slipway(temp.path())
        .args(["build", "--output", "json"])
        .env("SOURCE_DATE_EPOCH", "1700000000")));
    let digest = built[0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        built[0]["layers"].as_array().unwrap().len(),
        2,
        "vendor/ gets a layer of its own"
    );

    let pushed = json(&run(
        slipway(temp.path()).args(["push", "--tag", "t1", "--output", "json"])
    ));
    assert_eq!(pushed[0]["digest"], digest.as_str());
    assert_eq!(
        pushed[0]["reference"],
        format!("{}/{name}/hello@{digest}", bed.registry)
    );

    let image = format!("{}/{name}/hello:t1", bed.registry);
    let pull = docker(&["pull", "-q", &image]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let inspect = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}",
        &image,
    ]);
    assert!(
        String::from_utf8_lossy(&inspect.stdout)
            .trim()
            .ends_with(&digest),
        "docker sees another digest"
    );
    assert_eq!(run_and_remove(&image), "hello from slipway\na dependency\n");
}

#[test]
fn the_same_sources_give_the_same_digest_and_an_unchanged_push_uploads_nothing() {
    let bed = test_bed();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let name = unique("it-same");
    project(one.path(), &bed, &name, "layers = [\"vendor\"]");
    project(two.path(), &bed, &name, "layers = [\"vendor\"]");
    let build = |dir: &Path| {
        json(&run(slipway(dir)
            .args(["build", "--output", "json"])
            .env("SOURCE_DATE_EPOCH", "1700000000")))
    };
    let first = build(one.path());
    let second = build(two.path());
    assert_eq!(
        first[0]["digest"], second[0]["digest"],
        "two checkouts, one digest"
    );

    let pushed = json(&run(
        slipway(one.path()).args(["push", "--tag", "t1", "--output", "json"])
    ));
    assert!(pushed[0]["blobs_uploaded"].as_u64().unwrap() >= 2);
    let again = build(one.path());
    assert!(
        again[0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["reused"] == true),
        "an unchanged tree is not rebuilt"
    );
    let repushed = json(&run(
        slipway(one.path()).args(["push", "--tag", "t1", "--output", "json"])
    ));
    assert_eq!(repushed[0]["bytes_uploaded"], 0);

    // A code change re-uploads the code layer and the config, never the dependency layer.
    write(one.path(), "app/hello/hello.txt", "hello again\n");
    let changed = build(one.path());
    let layers = changed[0]["layers"].as_array().unwrap();
    assert_eq!(
        layers.iter().filter(|l| l["reused"] == true).count(),
        1,
        "{layers:?}"
    );
    let pushed = json(&run(
        slipway(one.path()).args(["push", "--tag", "t2", "--output", "json"])
    ));
    assert_eq!(
        pushed[0]["blobs_uploaded"], 2,
        "the code layer and the config"
    );
}

#[test]
fn wrong_credentials_and_a_missing_base_are_clear_errors() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    project(temp.path(), &bed, &unique("it-bad"), "");
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml"))
        .unwrap()
        .replace(
            "[registries.team]\n",
            "[registries.team]\ncredentials = \"env\"\n",
        );
    write(temp.path(), "slipway.toml", &manifest);
    let result = run(slipway(temp.path())
        .args(["build"])
        .env("SLIPWAY_REGISTRY_TEAM_USERNAME", "slipway")
        .env("SLIPWAY_REGISTRY_TEAM_PASSWORD", "wrong"));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("authentication failed") && result.stderr.contains(&bed.registry),
        "{}",
        result.stderr
    );
    assert!(
        !result.stderr.contains("wrong"),
        "a password never appears in an error: {}",
        result.stderr
    );

    let missing = std::fs::read_to_string(temp.path().join("slipway.toml"))
        .unwrap()
        .replace("bookworm-20251117-slim", "no-such-tag")
        .replace("credentials = \"env\"\n", "");
    write(temp.path(), "slipway.toml", &missing);
    let result = run(slipway(temp.path()).args(["build"]));
    assert_ne!(result.code, 0);
    assert!(
        result
            .stderr
            .contains("library/debian:no-such-tag not found"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_commit_that_leaves_dependencies_alone_keeps_their_layer() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    project(
        temp.path(),
        &bed,
        &unique("it-git"),
        "layers = [\"vendor\"]",
    );
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.email=ci@slipway.invalid", "-c", "user.name=ci"])
            .args(args)
            .current_dir(temp.path())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "first", "--date", "2024-01-01T00:00:00Z"]);
    let layers = |result: serde_json::Value| -> Vec<(String, String)> {
        result[0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["path"].as_str().unwrap().to_owned(),
                    l["digest"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let first = layers(json(&run(slipway(temp.path())
        .args(["build", "--output", "json"])
        .env_remove("SOURCE_DATE_EPOCH"))));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(temp.path(), "app/hello/hello.txt", "a new greeting\n");
    git(&["commit", "-qam", "second"]);
    let second = layers(json(&run(slipway(temp.path())
        .args(["build", "--output", "json"])
        .env_remove("SOURCE_DATE_EPOCH"))));
    assert_eq!(
        first[0], second[0],
        "the vendor layer is the same after a commit that did not touch it"
    );
    assert_ne!(first[1], second[1], "the code layer changed");
}

#[test]
fn a_commit_that_changes_one_app_leaves_the_other_apps_digest_and_revision_alone() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-only-changed");
    project(
        temp.path(),
        &bed,
        &name,
        "\n[apps.web]\nbase = \"debian\"\ncmd = [\"/bin/true\"]",
    );
    write(temp.path(), "app/web/index.html", "<h1>shop</h1>\n");
    let git = |args: &[&str]| -> String {
        let output = Command::new("git")
            .args(["-c", "user.email=ci@slipway.invalid", "-c", "user.name=ci"])
            .args(args)
            .current_dir(temp.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "first", "--date", "2024-01-01T00:00:00Z"]);
    let first_commit = git(&["rev-parse", "HEAD"]);
    let digests = || -> std::collections::BTreeMap<String, String> {
        let built = json(&run(slipway(temp.path())
            .args(["build", "--output", "json"])
            .env_remove("SOURCE_DATE_EPOCH")));
        built
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["app"].as_str().unwrap().to_owned(),
                    b["digest"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let first = digests();
    assert_eq!(first.len(), 2, "{first:?}");

    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(
        temp.path(),
        "app/web/index.html",
        "<h1>shop, now with prices</h1>\n",
    );
    git(&["commit", "-qam", "web only"]);
    let second = digests();
    assert_eq!(
        first["hello"], second["hello"],
        "an app the commit did not touch keeps its digest"
    );
    assert_ne!(
        first["web"], second["web"],
        "the changed app has a new image"
    );

    // The image says which commit its sources are from: the last one that changed them.
    let labels = |app: &str| -> serde_json::Value {
        let loaded = run(slipway(temp.path())
            .args(["build", app, "--load"])
            .env_remove("SOURCE_DATE_EPOCH"));
        assert_eq!(loaded.code, 0, "{}", loaded.stderr);
        let local = format!("{name}/{app}:latest");
        let inspected = docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &local,
        ]);
        assert!(inspected.status.success(), "{inspected:?}");
        docker(&["image", "rm", &local]);
        serde_json::from_slice(&inspected.stdout).unwrap()
    };
    assert_eq!(
        labels("hello")["org.opencontainers.image.revision"],
        first_commit.as_str()
    );
    assert_eq!(
        labels("web")["org.opencontainers.image.revision"],
        git(&["rev-parse", "HEAD"]).as_str()
    );
}

#[test]
fn secrets_never_reach_the_image() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    project(temp.path(), &bed, &unique("it-secret"), "");
    let secret = "hunter2-secret-value-5f1c";
    // A rendered env file left in the app directory, and one in a sub-directory.
    write(
        temp.path(),
        "app/hello/.env",
        &format!("DB_PASSWORD={secret}\n"),
    );
    write(
        temp.path(),
        "app/hello/config/prod.env",
        &format!("API_TOKEN={secret}\n"),
    );
    write(
        temp.path(),
        "config/prod/hello.env.j2",
        "DB_PASSWORD={{ secret.DB_PASSWORD }}\n",
    );
    let result = run(slipway(temp.path())
        .args(["build"])
        .env("DB_PASSWORD", secret));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(!result.stdout.contains(secret) && !result.stderr.contains(secret));
    // Every blob of the store, layers decompressed.
    let blobs = temp.path().join(".slipway/oci/blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        let mut text = bytes.clone();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut decoded = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut decoded)
                .unwrap();
            text = decoded;
        }
        assert!(
            !String::from_utf8_lossy(&text).contains(secret),
            "the secret is in blob {}",
            entry.path().display()
        );
    }

    // A secret-looking key in the image's env is refused before anything is built.
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml")).unwrap()
        + &format!("env = {{ API_TOKEN = \"{secret}\" }}\n");
    write(temp.path(), "slipway.toml", &manifest);
    let result = run(slipway(temp.path()).args(["build"]));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("looks like a secret"),
        "{}",
        result.stderr
    );
    assert!(
        !result.stderr.contains(secret),
        "the value is never echoed: {}",
        result.stderr
    );
}

fn inspect_json(reference: &str) -> serde_json::Value {
    let output = skopeo_inspect(false, reference);
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn an_independent_client_sees_what_was_pushed_and_promoted() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-promote");
    project(temp.path(), &bed, &name, "layers = [\"vendor\"]");
    let built = json(&run(
        slipway(temp.path()).args(["build", "--output", "json"])
    ));
    json(&run(
        slipway(temp.path()).args(["push", "--tag", "stage", "--output", "json"])
    ));
    let digest = built[0]["digest"].as_str().unwrap();
    let layers: Vec<String> = built[0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();

    let seen = inspect_json(&format!("{}/{name}/hello:stage", bed.registry));
    assert_eq!(seen["Digest"], digest);
    let seen_layers: Vec<&str> = seen["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        layers.iter().all(|l| seen_layers.contains(&l.as_str())),
        "{seen_layers:?} lacks one of {layers:?}"
    );

    let promoted = json(&run(slipway(temp.path()).args([
        "promote",
        "hello:stage",
        "--to",
        &format!("team/{name}/hello-prod:prod"),
        "--output",
        "json",
    ])));
    assert_eq!(promoted["digest"], digest);
    assert_eq!(
        promoted["blobs_copied"], 0,
        "within one registry, blobs are mounted, not copied"
    );
    assert_eq!(
        inspect_json(&format!("{}/{name}/hello-prod:prod", bed.registry))["Digest"],
        digest
    );

    let images = json(&run(
        slipway(temp.path()).args(["images", "--output", "json"])
    ));
    assert_eq!(images[0]["digest"], digest);
    let inspected = json(&run(slipway(temp.path()).args([
        "inspect",
        &format!("{}/{name}/hello-prod:prod", bed.registry),
        "--output",
        "json",
    ])));
    assert_eq!(inspected["digest"], digest);
    assert_eq!(
        inspected["labels"]["org.opencontainers.image.title"],
        format!("{name}/hello")
    );
}

#[test]
fn load_puts_the_image_into_the_engine_under_a_predictable_tag() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-load");
    project(temp.path(), &bed, &name, "");
    let result = run(slipway(temp.path()).args(["build", "--load"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let tag = format!("{name}/hello:latest");
    assert!(
        result
            .stdout
            .contains(&format!("loaded hello into the Docker Engine as {tag}")),
        "{}",
        result.stdout
    );
    assert_eq!(run_and_remove(&tag), "hello from slipway\na dependency\n");
}

#[test]
fn a_dockerfile_app_is_built_by_the_engine_on_the_pinned_base_and_pushed_like_the_others() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-dockerfile");
    project(temp.path(), &bed, &name, "");
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml")).unwrap()
        + "\n[apps.tool]\nbase = \"debian\"\nbuild = \"dockerfile\"\ntarget = \"runtime\"\n";
    write(temp.path(), "slipway.toml", &manifest);
    write(
        temp.path(),
        "app/tool/Dockerfile",
        "ARG SLIPWAY_BASE\nFROM ${SLIPWAY_BASE} AS build\nRUN echo compiled > /tmp/artifact\n\nFROM ${SLIPWAY_BASE} AS runtime\nCOPY --from=build /tmp/artifact /srv/artifact\nCOPY message.txt /srv/message.txt\nUSER nobody\nCMD [\"/bin/sh\", \"-c\", \"cat /srv/artifact /srv/message.txt\"]\n\nFROM runtime AS debug\nRUN echo never built\n",
    );
    write(temp.path(), "app/tool/message.txt", "from a Dockerfile\n");
    let built = json(&run(
        slipway(temp.path()).args(["build", "tool", "--output", "json"])
    ));
    let digest = built[0]["digest"].as_str().unwrap().to_owned();
    let pushed = json(&run(
        slipway(temp.path()).args(["push", "tool", "--tag", "t1", "--output", "json"])
    ));
    assert_eq!(pushed[0]["digest"], digest.as_str());
    let image = format!("{}/{name}/tool:t1", bed.registry);
    assert!(docker(&["pull", "-q", &image]).status.success());
    let output = docker(&["run", "--rm", &image]);
    let _ = docker(&["image", "rm", "-f", &image, &format!("{name}/tool:latest")]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "compiled\nfrom a Dockerfile\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_app_builds_its_own_dockerfile_and_arguments_per_environment() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-variant");
    project(temp.path(), &bed, &name, "");
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml")).unwrap()
        + "\n[apps.web]\nbase = \"debian\"\nbuild = \"dockerfile\"\nbuild_args = { BACKEND_URL = \"http://localhost:4567\" }\n\n[apps.web.environments.prod]\ndockerfile = \"app/web/Dockerfile.prod\"\nbuild_args = { BACKEND_URL = \"https://api.example.com\" }\n\n[environments.dev]\n\n[environments.prod]\n";
    write(temp.path(), "slipway.toml", &manifest);
    for (file, kind) in [("Dockerfile", "dev"), ("Dockerfile.prod", "prod")] {
        write(
            temp.path(),
            &format!("app/web/{file}"),
            &format!(
                "ARG SLIPWAY_BASE\nFROM ${{SLIPWAY_BASE}}\nARG BACKEND_URL\nRUN echo \"{kind} $BACKEND_URL\" > /srv/built\nUSER nobody\nCMD [\"cat\", \"/srv/built\"]\n"
            ),
        );
    }
    let image = format!("{name}/web:latest");
    let built_output = |args: &[&str]| {
        let result = run(slipway(temp.path()).args(args));
        assert_eq!(result.code, 0, "{}", result.stderr);
        let output = docker(&["run", "--rm", &image]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(
        built_output(&["build", "web", "--load"]),
        "dev http://localhost:4567\n"
    );
    // The plain build is not what prod runs: deploying it is refused, nothing started.
    let refused = run(slipway(temp.path()).args(["deploy", "prod", "--yes"]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("run `slipway build --env prod web`"),
        "{}",
        refused.stderr
    );
    let prod = json(&run(
        slipway(temp.path()).args(["build", "web", "--env", "prod", "--output", "json"])
    ));
    assert_eq!(prod[0]["dockerfile"], "app/web/Dockerfile.prod");
    assert_eq!(
        built_output(&["build", "web", "--env", "prod", "--load"]),
        "prod https://api.example.com\n"
    );
    // And now dev would run the prod build.
    let refused = run(slipway(temp.path()).args(["up", "dev"]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("built for `prod`"),
        "{}",
        refused.stderr
    );
    let _ = docker(&["image", "rm", "-f", &image]);
}

#[test]
fn credentials_come_from_a_docker_credential_helper() {
    let bed = test_bed();
    let password =
        std::env::var("SLIPWAY_TEST_REGISTRY_PASSWORD").expect("the test bed's password");
    let user = std::env::var("SLIPWAY_TEST_REGISTRY_USER").expect("the test bed's user");
    let temp = tempfile::tempdir().unwrap();
    project(temp.path(), &bed, &unique("it-helper"), "");
    // A helper speaking the docker-credential-* protocol: host on stdin, JSON on stdout.
    let bin = temp.path().join("bin");
    write(
        &bin,
        "docker-credential-slipwaytest",
        &format!(
            "#!/bin/sh\nread host\n[ \"$1\" = get ] && [ \"$host\" = \"{}\" ] || exit 1\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$host\"\n",
            bed.registry
        ),
    );
    let status = Command::new("chmod")
        .arg("+x")
        .arg(bin.join("docker-credential-slipwaytest"))
        .status()
        .unwrap();
    assert!(status.success());
    let config = temp.path().join("docker-config");
    write(
        &config,
        "config.json",
        &format!(
            "{{\"credHelpers\": {{\"{}\": \"slipwaytest\"}}}}",
            bed.registry
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let built = run(slipway(temp.path())
        .args(["build"])
        .env("DOCKER_CONFIG", &config)
        .env("PATH", &path));
    assert_eq!(built.code, 0, "{}", built.stderr);
    let pushed = run(slipway(temp.path())
        .args(["push", "--tag", "helper"])
        .env("DOCKER_CONFIG", &config)
        .env("PATH", &path));
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(!pushed.stdout.contains(&password) && !pushed.stderr.contains(&password));
}

#[test]
fn the_lock_pins_the_base_build_uses() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    project(temp.path(), &bed, &unique("it-lock"), "");
    let built = json(&run(
        slipway(temp.path()).args(["build", "--output", "json"])
    ));
    let base_digest = built[0]["base"]
        .as_str()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap()
        .to_owned();
    let lock = |digest: &str| {
        format!(
            "version = 1\n\n[bases.debian]\nreference = \"{}/library/debian:bookworm-20251117-slim\"\ndigest = \"{digest}\"\n",
            bed.registry
        )
    };
    write(temp.path(), "slipway.lock", &lock(&base_digest));
    let pinned = json(&run(
        slipway(temp.path()).args(["build", "--output", "json"])
    ));
    assert_eq!(
        pinned[0]["base"],
        format!("{}/library/debian@{base_digest}", bed.registry)
    );
    let missing = format!("sha256:{}", "0".repeat(64));
    write(temp.path(), "slipway.lock", &lock(&missing));
    let result = run(slipway(temp.path()).args(["build"]));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains(&missing),
        "the pinned digest is what build asked for: {}",
        result.stderr
    );
}

#[test]
fn a_multi_platform_base_gives_a_multi_platform_app_image() {
    let bed = test_bed();
    let user = std::env::var("SLIPWAY_TEST_REGISTRY_USER").unwrap();
    let password = std::env::var("SLIPWAY_TEST_REGISTRY_PASSWORD").unwrap();
    // An index over the stand-in for two platforms (the same image: enough to see each platform
    // get the app's layers).
    let raw = skopeo_inspect(
        true,
        &format!("{}/library/debian:bookworm-20251117-slim", bed.registry),
    );
    assert!(raw.status.success());
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let digest = format!("sha256:{}", sha256_hex(&raw.stdout));
    let entry = |arch: &str| serde_json::json!({ "mediaType": manifest["mediaType"], "digest": digest, "size": raw.stdout.len(), "platform": { "architecture": arch, "os": "linux" } });
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": [entry("amd64"), entry("arm64")] });
    let tag = unique("multi");
    let put = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-u",
            &format!("{user}:{password}"),
            "-H",
            "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
            "--data-binary",
        ])
        .arg(index.to_string())
        .arg(format!(
            "http://{}/v2/library/debian/manifests/{tag}",
            bed.registry
        ))
        .status()
        .unwrap();
    assert!(put.success(), "the test index is in the registry");

    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-multi");
    project(temp.path(), &bed, &name, "");
    let manifest_text = std::fs::read_to_string(temp.path().join("slipway.toml"))
        .unwrap()
        .replace(
            "tags = [\"bookworm-20251117-slim\"]",
            &format!("tags = [\"{tag}\"]"),
        );
    write(temp.path(), "slipway.toml", &manifest_text);
    json(&run(
        slipway(temp.path()).args(["build", "--output", "json"])
    ));
    json(&run(
        slipway(temp.path()).args(["push", "--tag", "t1", "--output", "json"])
    ));
    let pushed = skopeo_inspect(true, &format!("{}/{name}/hello:t1", bed.registry));
    let pushed: serde_json::Value = serde_json::from_slice(&pushed.stdout).unwrap();
    let platforms: Vec<&str> = pushed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, vec!["amd64", "arm64"]);
    let image = format!("{}/{name}/hello:t1", bed.registry);
    let output = docker(&["run", "--rm", &image]);
    let _ = docker(&["image", "rm", "-f", &image]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello from slipway\na dependency\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    let output = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn already_compressed_assets_are_stored_and_docker_reads_them_back_whole() {
    let bed = test_bed();
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-stored");
    project(temp.path(), &bed, &name, "");
    // A photo-like asset no compressor shrinks, with compressible text on both sides of it.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let photo: Vec<u8> = (0..400_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    std::fs::create_dir_all(temp.path().join("app/hello/static")).unwrap();
    std::fs::write(temp.path().join("app/hello/static/photo.jpg"), &photo).unwrap();
    let text = "<p>a page of the shop, again and again</p>\n".repeat(5000);
    write(temp.path(), "app/hello/a_page.html", &text);
    write(temp.path(), "app/hello/z_page.html", &text);
    let built = json(&run(slipway(temp.path())
        .args(["build", "--output", "json"])
        .env("SOURCE_DATE_EPOCH", "1700000000")));
    let layer_size = built[0]["layers"][0]["size"].as_u64().unwrap();
    assert!(
        layer_size > photo.len() as u64 && layer_size < photo.len() as u64 + 16 * 1024,
        "the photo is stored and the text still shrinks: a layer of {layer_size} bytes"
    );
    run(slipway(temp.path()).args(["push", "--tag", "t1"]));
    let image = format!("{}/{name}/hello:t1", bed.registry);
    let pull = docker(&["pull", "-q", &image]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let read = |path: &str| {
        let output = docker(&["run", "--rm", "--entrypoint", "cat", &image, path]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    assert!(
        read("/srv/app/static/photo.jpg") == photo,
        "the photo differs"
    );
    assert_eq!(read("/srv/app/z_page.html"), text.as_bytes());
    let _ = docker(&["image", "rm", "-f", &image]);
}
