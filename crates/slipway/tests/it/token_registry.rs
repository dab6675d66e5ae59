//! `slipway build`, `slipway push` and `slipway promote` against the test bed's token-auth
//! registry (the bearer-token flow of GHCR, Docker Hub, GitLab and Harbor), with the token server
//! of `slipway-oci/tests/support/token_server.rs` on its realm.

use std::path::Path;
use std::process::Command;

use crate::token_server::{TokenServer, env};
use crate::{run, slipway, unique, write};

/// A project whose app `hello` builds on the test bed's Debian stand-in (registry `team`, htpasswd)
/// and is pushed to registry `tok` (token auth, login from the environment).
fn project(dir: &Path, name: &str) {
    write(
        dir,
        "slipway.toml",
        &format!(
            r#"[project]
name = "{name}"
registry = "team"

[registries.team]
url = "{team}"

[registries.tok]
url = "{tok}"
credentials = "env"

[bases.debian]
dockerfile = "base/debian/Dockerfile"
image = "library/debian"
tags = ["bookworm-20251117-slim"]

[apps.hello]
base = "debian"
dest = "/srv/app"
cmd = ["/bin/sh", "-c", "cat /srv/app/hello.txt"]
layers = ["vendor"]
"#,
            team = env("SLIPWAY_TEST_REGISTRY"),
            tok = env("SLIPWAY_TEST_TOKEN_REGISTRY"),
        ),
    );
    write(
        dir,
        "base/debian/Dockerfile",
        "FROM debian:bookworm-20251117-slim\n",
    );
    write(
        dir,
        "app/hello/hello.txt",
        "hello through a token registry\n",
    );
    write(dir, "app/hello/vendor/dep.txt", "a dependency\n");
}

fn with_login<'c>(
    command: &'c mut assert_cmd::Command,
    server: &TokenServer,
) -> &'c mut assert_cmd::Command {
    let credential = server.credential();
    command
        .env("SLIPWAY_REGISTRY_TOK_USERNAME", credential.username)
        .env("SLIPWAY_REGISTRY_TOK_PASSWORD", credential.password)
}

fn json(result: &crate::Run) -> serde_json::Value {
    assert_eq!(
        result.code, 0,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
    serde_json::from_str(&result.stdout).unwrap_or_else(|e| panic!("{e}: {}", result.stdout))
}

/// The digest skopeo, logged in to the token registry, reads for `reference`.
fn skopeo_digest(server: &TokenServer, reference: &str) -> String {
    let credential = server.credential();
    let output = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("{}:{}", credential.username, credential.password),
            &format!(
                "docker://{}/{reference}",
                env("SLIPWAY_TEST_TOKEN_REGISTRY")
            ),
        ])
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    seen["Digest"].as_str().unwrap().to_owned()
}

#[test]
fn build_push_and_promote_through_a_token_registry() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TokenServer::start());
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-token");
    project(temp.path(), &name);
    let built = json(&run(
        slipway(temp.path()).args(["build", "--output", "json"])
    ));
    let digest = built[0]["digest"].as_str().unwrap().to_owned();
    let pushed = json(&run(with_login(
        slipway(temp.path()).args([
            "push",
            "--registry",
            "tok",
            "--tag",
            "stage",
            "--output",
            "json",
        ]),
        &server,
    )));
    assert_eq!(pushed[0]["digest"], digest);
    assert_eq!(
        skopeo_digest(&server, &format!("{name}/hello@{digest}")),
        digest
    );

    let tok = env("SLIPWAY_TEST_TOKEN_REGISTRY");
    let promoted = json(&run(with_login(
        slipway(temp.path()).args([
            "promote",
            &format!("{tok}/{name}/hello:stage"),
            "--to",
            &format!("tok/{name}/hello-prod:prod"),
            "--output",
            "json",
        ]),
        &server,
    )));
    assert_eq!(promoted["digest"], digest);
    assert_eq!(
        (
            &promoted["blobs_copied"],
            promoted["blobs_mounted"].as_u64()
        ),
        (
            &serde_json::json!(0),
            Some(built[0]["layers"].as_array().unwrap().len() as u64 + 2)
        ),
        "the config, the base layer and the app's layers are mounted, none copied: {promoted}"
    );
    let source_pull = format!("repository:{name}/hello:pull");
    let target_push = format!("repository:{name}/hello-prod:pull,push");
    assert!(
        server
            .requests()
            .iter()
            .any(|scopes| scopes.contains(&source_pull) && scopes.contains(&target_push)),
        "a mount asks for {target_push} and {source_pull} in one token: {:?}",
        server.requests()
    );
    assert_eq!(
        skopeo_digest(&server, &format!("{name}/hello-prod:prod")),
        digest
    );
}

#[test]
fn a_push_the_token_service_refuses_names_the_scope() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TokenServer::start());
    let temp = tempfile::tempdir().unwrap();
    let name = unique("it-token-refused");
    project(temp.path(), &name);
    json(&run(
        slipway(temp.path()).args(["build", "--output", "json"])
    ));
    server
        .state
        .refused
        .lock()
        .unwrap()
        .push((format!("{name}/hello"), "push".into()));
    let result = run(with_login(
        slipway(temp.path()).args(["push", "--registry", "tok", "--tag", "stage"]),
        &server,
    ));
    assert_ne!(result.code, 0, "{}", result.stdout);
    let scope = format!("repository:{name}/hello:pull,push");
    assert!(
        result.stderr.contains(&scope),
        "the error names {scope}: {}",
        result.stderr
    );
    assert!(
        !result.stderr.contains(&server.credential().password),
        "no password in: {}",
        result.stderr
    );
}
