//! Every file each exporter writes for the example project and for a project that uses every
//! trigger, gate and step kind slipway.toml has, against a reviewed copy: a change of the
//! output (which makes `slipway ci export --check` fail in every repository that committed the
//! files) shows up here first. The integration tests validate such files with actionlint,
//! zizmor, check-jsonschema and cfn-lint.

use slipway_ci::{CiSystem, ExportOptions, export};

const SHOP: &str = include_str!("../../../examples/shop/slipway.toml");

/// Pull requests, paths and ignored paths together, a gate at the start and one with named
/// approvers, a gate guarding no deploy, `${{` in a name and a command, a step's own `env`, a
/// token shared by the git host and a channel, the workflow's own token, a state dir of its own.
const EVERYTHING: &str = r#"
schema = 1
[project]
name = "shop-it"
registry = "team"
state_dir = "var/state/"
default_branch = "trunk"
[registries.team]
url = "127.0.0.1:5000"
[registries.prod]
url = "127.0.0.1:5001"
[environments.stage]
secrets = { DB_PASSWORD = "env:STAGE_DB", STRIPE = "ssm:/shop/stage/stripe" }
[environments.audit]
[environments.prod]
registry = "prod"
approval = { required = true, approvers = ["ada", "grace"] }
secrets = { DB_PASSWORD = "env:PROD_DB" }
[notifications.team]
kind = "webhook"
url = "env:TEAM_HOOK"
[notifications.ops]
kind = "webhook"
url = "env:GITHUB_TOKEN"
[git]
host = "github"
repository = "acme/shop"
token = "env:GITHUB_TOKEN"
[server]
users = { ada = "env:ADA_PASSWORD" }
webhook_secret = "env:HOOK_SECRET"

[pipelines.branch]
on = { push = { paths = ["app/**"], ignore_paths = ["docs/**", "*.md"] } }
steps = ["lint", "checks", "pull-request"]

[pipelines.review]
kind = "branch"
on = { push = { branches = ["feature/*"], ignore_paths = ["docs/**"] }, pull_request = { branches = ["trunk", "release/v*.x"], paths = ["app/**"] } }
steps = ["build", "up stage", { name = "title ${{ github.event.pull_request.title }}", run = "echo '${{ github.event.pull_request.title }}'" }]

[pipelines.release]
env = ["NPM_TOKEN"]
on = { push = { branches = ["trunk"] } }
steps = ["approve stage", "build", "push", "up stage", "test stage", "approve", "promote prod", "deploy prod", "approve audit",
  { name = "smoke test", run = ["curl", "-fsS", "http://127.0.0.1:8090/"], env = ["SMOKE_URL"] },
  { name = "it's done", run = ["echo", "it's done"] }, "notify"]

[pipelines.bases]
kind = "base"
steps = ["base build", "base push"]
"#;

fn manifest(text: &str) -> slipway_core::Manifest {
    slipway_core::load_manifest(text).expect("the fixture is a valid slipway.toml")
}

fn options(project_dir: &str) -> ExportOptions {
    ExportOptions {
        project_dir: project_dir.to_owned(),
        install: "cargo install --locked slipway --version 0.1.0".to_owned(),
        image: None,
        pipelines: Vec::new(),
    }
}

fn snapshot_all(prefix: &str, text: &str, options: &ExportOptions) {
    let manifest = manifest(text);
    for (system, name) in [
        (CiSystem::Github, "github"),
        (CiSystem::Gitlab, "gitlab"),
        (CiSystem::Codebuild, "codebuild"),
    ] {
        for file in export(&manifest, system, options).unwrap() {
            let name = format!("{prefix}_{name}_{}", file.path.replace(['/', '.'], "_"));
            insta::assert_snapshot!(name, file.contents);
        }
    }
}

#[test]
fn the_example_project_exports_as_reviewed() {
    snapshot_all("shop", SHOP, &options(""));
}

#[test]
fn every_trigger_gate_and_step_kind_exports_as_reviewed() {
    snapshot_all("everything", EVERYTHING, &options(""));
}

#[test]
fn a_project_below_the_repository_top_exports_as_reviewed() {
    let mut options = options("services/shop");
    options.image = Some(
        "registry.example.com:5000/ci/slipway:1@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1"
            .to_owned(),
    );
    snapshot_all("below", EVERYTHING, &options);
}
