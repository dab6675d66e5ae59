//! The exporter's decisions, without writing a file: what each step is given, where the gates
//! fall, which images are taken.

use super::*;

pub(crate) const SHOP: &str = r#"
schema = 1
[project]
name = "shop"
registry = "team"
[registries.team]
url = "127.0.0.1:5000"
[environments.stage]
secrets = { DB_PASSWORD = "env:STAGE_DB" }
[environments.prod]
approval = { required = true, approvers = ["ada"] }
secrets = { DB_PASSWORD = "env:PROD_DB" }
[notifications.team]
kind = "webhook"
url = "env:TEAM_HOOK"
[git]
host = "github"
repository = "acme/shop"
token = "env:GIT_TOKEN"
[server]
users = { ada = "env:ADA_PASSWORD" }
webhook_secret = "env:HOOK_SECRET"
[pipelines.release]
env = ["NPM_TOKEN"]
steps = ["build", "up stage", "checks", "pull-request", "approve", "deploy prod",
  { name = "smoke", run = "./smoke.sh", env = ["SMOKE_URL"] }, "notify"]
"#;

pub(crate) fn manifest(text: &str) -> Manifest {
    slipway_core::load_manifest(text).unwrap()
}

pub(crate) fn options() -> ExportOptions {
    ExportOptions {
        project_dir: String::new(),
        install: "true".into(),
        image: None,
        pipelines: Vec::new(),
    }
}

pub(crate) fn release_segments(manifest: &Manifest) -> Vec<Segment> {
    segments(manifest, "release", &manifest.pipelines["release"]).unwrap()
}

fn secrets_of<'s>(segments: &'s [Segment], step: &str) -> Vec<&'s str> {
    segments
        .iter()
        .flat_map(|s| &s.steps)
        .find(|s| s.name == step)
        .unwrap_or_else(|| panic!("no step {step}"))
        .secrets
        .iter()
        .map(String::as_str)
        .collect()
}

#[test]
fn each_step_is_given_the_secrets_the_runner_would_give_it_and_no_more() {
    let manifest = manifest(SHOP);
    let segments = release_segments(&manifest);
    // The channels' URL goes to slipway's own steps; an environment's secrets to the steps
    // acting on that environment; `checks` renders every environment.
    assert_eq!(secrets_of(&segments, "build"), ["TEAM_HOOK"]);
    assert_eq!(secrets_of(&segments, "up stage"), ["STAGE_DB", "TEAM_HOOK"]);
    assert_eq!(
        secrets_of(&segments, "checks"),
        ["PROD_DB", "STAGE_DB", "TEAM_HOOK"]
    );
    assert_eq!(
        secrets_of(&segments, "deploy prod"),
        ["PROD_DB", "TEAM_HOOK"]
    );
    // The git host's token goes to the step that opens the pull request, and only there.
    assert_eq!(
        secrets_of(&segments, "pull-request"),
        ["GIT_TOKEN", "TEAM_HOOK"]
    );
    // A command of the project's own gets none of slipway.toml's secrets: what it names in
    // `env` comes from the CI system's environment, not its secret store.
    assert!(secrets_of(&segments, "smoke").is_empty());
    // `slipway pipeline notify` reads the channels.
    assert_eq!(secrets_of(&segments, "notify"), ["TEAM_HOOK"]);
    // No step, and no CI variable, is ever given the server's logins or webhook secret.
    let all = secret_variables(&manifest);
    assert!(
        !all.contains("ADA_PASSWORD") && !all.contains("HOOK_SECRET"),
        "{all:?}"
    );
}

#[test]
fn a_gate_starts_a_job_and_confirms_the_deploy_after_it() {
    let manifest = manifest(SHOP);
    let segments = release_segments(&manifest);
    assert_eq!(segments.len(), 2);
    assert!(segments[0].gate.is_none());
    let gate = segments[1].gate.as_ref().unwrap();
    assert_eq!(gate.environment, "prod");
    assert_eq!(gate.approvers, ["ada"]);
    let deploy = &segments[1].steps[0];
    assert_eq!(deploy.command, "slipway deploy prod --yes");
    assert_eq!(deploy.approved_in.as_deref(), Some("prod"));
    // A deploy no gate confirmed asks as it would at a terminal.
    let ungated = manifest_with_steps(r#"["deploy prod"]"#);
    let segments = release_segments(&ungated);
    assert_eq!(segments[0].steps[0].command, "slipway deploy prod");
    assert!(segments[0].steps[0].approved_in.is_none());
}

fn manifest_with_steps(steps: &str) -> Manifest {
    let text = SHOP.replace(
        r#"steps = ["build", "up stage", "checks", "pull-request", "approve", "deploy prod",
  { name = "smoke", run = "./smoke.sh", env = ["SMOKE_URL"] }, "notify"]"#,
        &format!("steps = {steps}"),
    );
    assert_ne!(text, SHOP);
    manifest(&text)
}

#[test]
fn a_gate_at_the_start_or_the_end_leaves_no_empty_job() {
    let manifest = manifest_with_steps(r#"["approve prod", "deploy prod", "approve"]"#);
    let segments = release_segments(&manifest);
    assert_eq!(segments.len(), 1);
    assert_eq!(
        segments[0].gate.as_ref().map(|g| g.environment.as_str()),
        Some("prod")
    );
}

#[test]
fn only_images_pinned_by_digest_are_taken() {
    let digest = "sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1";
    assert!(pinned_by_digest(DEFAULT_IMAGE));
    assert!(pinned_by_digest(&format!(
        "registry.example.com:5000/ci/slipway@{digest}"
    )));
    for loose in [
        "rust:1-bookworm",
        "rust:1-bookworm@sha256:",
        "rust@sha256:6258907ABE69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1",
        "rust@sha256:6258907abe",
        "@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1",
    ] {
        assert!(!pinned_by_digest(loose), "{loose}");
    }
}

#[test]
fn an_image_without_a_digest_is_refused_for_every_system_and_nothing_is_exported() {
    let manifest = manifest(SHOP);
    let options = ExportOptions {
        image: Some("rust:1-bookworm".into()),
        ..options()
    };
    for system in [CiSystem::Github, CiSystem::Gitlab, CiSystem::Codebuild] {
        let error = export(&manifest, system, &options).unwrap_err();
        assert!(
            matches!(&error, CiError::ImageNotPinned { image } if image == "rust:1-bookworm"),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("Give it as NAME:TAG@sha256:DIGEST"),
            "{error}"
        );
    }
}

#[test]
fn an_unknown_pipeline_is_refused_with_the_ones_there_are() {
    let options = ExportOptions {
        pipelines: vec!["relase".into()],
        ..options()
    };
    let error = export(&manifest(SHOP), CiSystem::Github, &options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no pipeline `relase` in slipway.toml; it has release"
    );
    let without = manifest(SHOP.split("[pipelines.release]").next().unwrap());
    let error = export(&without, CiSystem::Gitlab, &self::options()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no pipeline `to export` in slipway.toml: add a `[pipelines.release]` table (see docs/manifest.md)"
    );
}

#[test]
fn shell_words_are_quoted_only_when_needed() {
    assert_eq!(
        shell_line(&["push".into(), "--registry".into(), "it's prod".into()]),
        "push --registry 'it'\\''s prod'"
    );
    assert_eq!(slug("unit tests (api)"), "unit-tests-api");
}
