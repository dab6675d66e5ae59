//! The environment of a step's process, built from names rather than inherited: a step of a
//! pipeline runs code from a branch anyone with push access wrote, so it gets what it needs and
//! nothing of what `slipway serve` (or the terminal running the pipeline) holds for itself.
//!
//! Every step gets, when the runner has them:
//! - the basics a program expects: `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`, `LANG`,
//!   `LANGUAGE`, `LC_*`, `TZ`, `TMPDIR`, `TERM`, `NO_COLOR`, `SOURCE_DATE_EPOCH`;
//! - how this host reaches the network and the engine: `SSL_CERT_FILE`, `SSL_CERT_DIR`, the
//!   proxy variables, `DOCKER_HOST`, `DOCKER_CONTEXT`, `DOCKER_CONFIG`, `DOCKER_CERT_PATH`,
//!   `DOCKER_TLS_VERIFY` and `XDG_RUNTIME_DIR` (a rootless engine's socket). Whoever runs a
//!   step can already use the engine, which owns the host, so hiding its address buys nothing;
//! - the variables the pipeline's and the step's own `env` name.
//!
//! slipway's built-in steps (`build`, `push`, `up ENV`, `deploy ENV`...) also get:
//! - `AWS_*`, the identity deploys, ECR pushes and SSM/Secrets Manager secrets use, and
//!   `SLIPWAY_REGISTRY_*`, the registry credentials pushes and pulls use;
//! - the `env:` variables slipway.toml names for the project (notification channels' URLs and
//!   passwords), and those of the `secrets` of the environments the step acts on (`up`, `test`,
//!   `down`, `deploy`, `promote ENV`: that one; `checks`: every one);
//! - the git host's token, for the `pull-request` step only.
//!
//! No step ever gets a variable of `[server]` (its users' passwords, its webhook secret, any
//! token of its own), even when a pipeline's `env` names it.

use std::collections::BTreeMap;

use crate::Manifest;
use serde_json::Value;

use super::steps::{Action, PlannedStep};

/// What every step gets from the runner's environment when it is set.
const BASICS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "NO_COLOR",
    "SOURCE_DATE_EPOCH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "XDG_RUNTIME_DIR",
];

/// Who an `env:VAR` of slipway.toml belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// `[server]`: never given to a step.
    Server,
    /// `[git] token`: the `pull-request` step's.
    GitHost,
    /// A secret of `[environments.NAME.secrets]`: the steps acting on that environment.
    Environment(String),
    /// Anything else (notification channels): slipway's built-in steps.
    Project,
}

/// Every variable slipway.toml reads with `env:VAR`, with whom it belongs to.
pub fn references(manifest: &Manifest) -> Vec<(String, Holder)> {
    fn walk(value: &Value, holder: &Holder, out: &mut Vec<(String, Holder)>) {
        match value {
            Value::String(text) => {
                if let Some(var) = text.strip_prefix("env:")
                    && !var.is_empty()
                {
                    out.push((var.to_owned(), holder.clone()));
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, holder, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, holder, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let Ok(Value::Object(mut top)) = serde_json::to_value(manifest) else {
        return out;
    };
    if let Some(server) = top.remove("server") {
        walk(&server, &Holder::Server, &mut out);
    }
    if let Some(git) = top.remove("git") {
        walk(&git, &Holder::GitHost, &mut out);
    }
    if let Some(Value::Object(environments)) = top.get_mut("environments") {
        for (name, environment) in environments.iter_mut() {
            if let Some(secrets) = environment
                .as_object_mut()
                .and_then(|e| e.remove("secrets"))
            {
                walk(&secrets, &Holder::Environment(name.clone()), &mut out);
            }
        }
    }
    walk(&Value::Object(top), &Holder::Project, &mut out);
    out
}

/// The variables of `process` (the runner's environment) that `step`'s process gets.
pub fn step_environment(
    manifest: &Manifest,
    step: &PlannedStep,
    process: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let builtin = matches!(step.action, Action::Slipway(_) | Action::Deploy { .. });
    let opens_pull_requests = matches!(&step.action, Action::Slipway(args) if args.first().is_some_and(|a| a == "pull-request"));
    let references = references(manifest);
    let given = |var: &str| -> bool {
        let held: Vec<&Holder> = references
            .iter()
            .filter(|(v, _)| v == var)
            .map(|(_, holder)| holder)
            .collect();
        if held.iter().any(|h| **h == Holder::Server)
            || (!opens_pull_requests && held.iter().any(|h| **h == Holder::GitHost))
        {
            return false;
        }
        BASICS.contains(&var)
            || var.starts_with("LC_")
            || step.env.iter().any(|name| name == var)
            || (builtin && (var.starts_with("AWS_") || var.starts_with("SLIPWAY_REGISTRY_")))
            || held.iter().any(|holder| match holder {
                Holder::Server => false,
                Holder::GitHost => opens_pull_requests,
                Holder::Environment(name) => builtin && step.environments.contains(name),
                Holder::Project => builtin,
            })
    };
    process
        .iter()
        .filter(|(var, _)| given(var))
        .map(|(var, value)| (var.clone(), value.clone()))
        .collect()
}

/// The secret values the runner knows, to mask in what steps print: every variable slipway.toml
/// reads with `env:` (the server's own among them), and every variable of the runner's
/// environment whose name says it is a secret (`*_PASSWORD`, `*_TOKEN`, `AWS_SECRET_ACCESS_KEY`...).
pub fn known_secrets(manifest: &Manifest, process: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = references(manifest).into_iter().map(|(v, _)| v).collect();
    names.extend(
        process
            .keys()
            .filter(|name| crate::manifest::looks_secret(name))
            .cloned(),
    );
    names.sort();
    names.dedup();
    names
        .iter()
        .filter_map(|name| process.get(name))
        .filter(|value| !value.is_empty())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::steps::plan;

    const PROJECT: &str = r#"
schema = 1
[project]
name = "shop"
[environments.stage]
secrets = { DB_PASSWORD = "env:STAGE_DB", STRIPE = "ssm:/shop/stage/stripe" }
[environments.prod]
secrets = { DB_PASSWORD = "env:PROD_DB" }
[notifications.team]
kind = "webhook"
url = "env:TEAM_HOOK"
[git]
host = "github"
repository = "acme/shop"
token = "env:GITHUB_TOKEN"
[server]
users = { ada = "env:ADA_PASSWORD" }
webhook_secret = "env:HOOK_SECRET"
[pipelines.release]
env = ["NPM_TOKEN"]
steps = ["build", "up stage", "checks", "deploy prod", "pull-request",
  { name = "smoke", run = "./smoke.sh", env = ["SMOKE_URL"] }]
"#;

    fn process() -> BTreeMap<String, String> {
        [
            "PATH",
            "HOME",
            "LC_ALL",
            "DOCKER_HOST",
            "AWS_REGION",
            "STAGE_DB",
            "PROD_DB",
            "TEAM_HOOK",
            "GITHUB_TOKEN",
            "ADA_PASSWORD",
            "HOOK_SECRET",
            "NPM_TOKEN",
            "SMOKE_URL",
            "SLIPWAY_REGISTRY_TEAM_PASSWORD",
            "OPERATOR_API_KEY",
            "EDITOR",
        ]
        .into_iter()
        .map(|name| (name.to_owned(), format!("value of {name}")))
        .collect()
    }

    fn given(step: &str) -> Vec<String> {
        let manifest = crate::load_manifest(PROJECT).unwrap();
        let planned = plan(&manifest, &manifest.pipelines["release"]).unwrap();
        let step = planned.iter().find(|s| s.name == step).unwrap();
        step_environment(&manifest, step, &process())
            .into_keys()
            .collect()
    }

    #[test]
    fn each_step_gets_what_it_needs_and_none_gets_the_servers_secrets() {
        let basics = ["DOCKER_HOST", "HOME", "LC_ALL", "PATH"];
        let builtin = [
            "AWS_REGION",
            "NPM_TOKEN",
            "SLIPWAY_REGISTRY_TEAM_PASSWORD",
            "TEAM_HOOK",
        ];
        let with = |extra: &[&str]| {
            let mut all: Vec<String> = basics
                .iter()
                .chain(&builtin)
                .chain(extra)
                .map(|s| (*s).to_owned())
                .collect();
            all.sort();
            all
        };
        assert_eq!(given("build"), with(&[]));
        assert_eq!(given("up stage"), with(&["STAGE_DB"]));
        assert_eq!(given("deploy prod"), with(&["PROD_DB"]));
        assert_eq!(given("checks"), with(&["PROD_DB", "STAGE_DB"]));
        assert_eq!(given("pull-request"), with(&["GITHUB_TOKEN"]));
        assert_eq!(
            given("smoke"),
            [
                "DOCKER_HOST",
                "HOME",
                "LC_ALL",
                "NPM_TOKEN",
                "PATH",
                "SMOKE_URL"
            ]
        );
    }

    #[test]
    fn a_servers_secret_named_by_a_step_is_still_withheld() {
        // Validation refuses such a pipeline; the runner withholds them all the same.
        let mut manifest = crate::load_manifest(PROJECT).unwrap();
        let release = manifest.pipelines.get_mut("release").unwrap();
        release
            .env
            .extend(["ADA_PASSWORD".to_owned(), "GITHUB_TOKEN".to_owned()]);
        let planned = plan(&manifest, &manifest.pipelines["release"]).unwrap();
        let smoke = planned.iter().find(|s| s.name == "smoke").unwrap();
        let given = step_environment(&manifest, smoke, &process());
        assert!(!given.contains_key("ADA_PASSWORD"), "{given:?}");
        assert!(!given.contains_key("GITHUB_TOKEN"), "{given:?}");
        assert!(given.contains_key("SMOKE_URL"));
    }

    #[test]
    fn the_runner_knows_every_secret_it_can_read() {
        let manifest = crate::load_manifest(PROJECT).unwrap();
        let mut known = known_secrets(&manifest, &process());
        known.sort();
        let expected: Vec<String> = [
            "ADA_PASSWORD",
            "GITHUB_TOKEN",
            "HOOK_SECRET",
            "NPM_TOKEN",
            "OPERATOR_API_KEY",
            "PROD_DB",
            "SLIPWAY_REGISTRY_TEAM_PASSWORD",
            "STAGE_DB",
            "TEAM_HOOK",
        ]
        .iter()
        .map(|name| format!("value of {name}"))
        .collect();
        assert_eq!(known, expected);
    }
}
