//! What each step of a pipeline does. Built-in steps are slipway's own commands, run as a child
//! process of the same binary, so a step in a pipeline behaves exactly as the command typed by
//! hand; `approve` and `notify` are carried out by the runner itself.

use super::PlanError;
use crate::Manifest;
use crate::manifest::{Pipeline, PipelineKind, Step};

/// What a step does when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `slipway ARGS...` in the project.
    Slipway(Vec<String>),
    /// `slipway deploy ENV`, confirmed by the run's approval when the environment needs one.
    Deploy {
        /// The environment deployed to.
        environment: String,
    },
    /// A gate: the run waits for a person. Guards the environment it names (`approve prod`),
    /// else that of the next deploy or promote.
    Approve {
        /// The environment the gate guards, when it is known.
        environment: Option<String>,
    },
    /// Tells the pipeline's channels how the run went so far.
    Notify,
    /// A command of the project's own, run in the project's directory.
    Command(Vec<String>),
}

/// A step of a pipeline as the runner (or a CI system) carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// As shown in listings and logs: `build`, `deploy prod`, `unit tests`.
    pub name: String,
    /// What it does.
    pub action: Action,
    /// The variables of the runner's environment the pipeline and the step pass on (`env`).
    pub env: Vec<String>,
    /// The environments the step acts on: it gets their secrets' `env:` variables.
    pub environments: Vec<String>,
}

/// The pipeline `name` of `manifest`, with its kind.
pub fn pipeline<'m>(
    manifest: &'m Manifest,
    name: &str,
) -> Result<(&'m Pipeline, PipelineKind), PlanError> {
    let Some(pipeline) = manifest.pipelines.get(name) else {
        let known: Vec<&str> = manifest.pipelines.keys().map(String::as_str).collect();
        let hint = if known.is_empty() {
            ": add a `[pipelines.release]` table (see docs/manifest.md)".to_owned()
        } else {
            format!("; it has {}", known.join(", "))
        };
        return Err(PlanError::UnknownPipeline {
            name: name.to_owned(),
            hint,
        });
    };
    Ok((pipeline, kind_of(name, pipeline)))
}

/// The pipeline's kind: its `kind`, else the one its name says (`base`, `branch`), else
/// `release`.
pub fn kind_of(name: &str, pipeline: &Pipeline) -> PipelineKind {
    pipeline.kind.unwrap_or(match name {
        "base" => PipelineKind::Base,
        "branch" => PipelineKind::Branch,
        _ => PipelineKind::Release,
    })
}

/// The kind as slipway.toml and the run history write it.
pub fn kind_name(kind: PipelineKind) -> &'static str {
    match kind {
        PipelineKind::Base => "base",
        PipelineKind::Branch => "branch",
        PipelineKind::Release => "release",
    }
}

/// The steps of `pipeline`, in order, each with what it does.
pub fn plan(manifest: &Manifest, pipeline: &Pipeline) -> Result<Vec<PlannedStep>, PlanError> {
    let mut planned: Vec<PlannedStep> = Vec::with_capacity(pipeline.steps.len());
    for (index, step) in pipeline.steps.iter().enumerate() {
        let mut env = pipeline.env.clone();
        let (name, action) = match step {
            Step::Run(run) => {
                let argv = run.run.argv();
                let name = run.name.clone().unwrap_or_else(|| argv.join(" "));
                env.extend(run.env.iter().cloned());
                (name, Action::Command(argv))
            }
            Step::Builtin(text) => {
                let words: Vec<&str> = text.split_whitespace().collect();
                let name = words.join(" ");
                let action =
                    builtin(manifest, pipeline, index, &words).ok_or_else(|| PlanError::Step {
                        step: name.clone(),
                        message: "not a built-in step: `slipway config check` names the right ones"
                            .into(),
                    })?;
                (name, action)
            }
        };
        let environments = match step {
            Step::Run(_) => Vec::new(),
            Step::Builtin(text) => match text.split_whitespace().collect::<Vec<_>>()[..] {
                // Every environment's config renders, with its secrets.
                ["checks"] => manifest.environments.keys().cloned().collect(),
                ["up" | "test" | "down" | "deploy" | "promote", environment] => {
                    vec![environment.to_owned()]
                }
                _ => Vec::new(),
            },
        };
        planned.push(PlannedStep {
            name,
            action,
            env,
            environments,
        });
    }
    Ok(planned)
}

fn builtin(
    manifest: &Manifest,
    pipeline: &Pipeline,
    index: usize,
    words: &[&str],
) -> Option<Action> {
    let slipway = |args: &[&str]| {
        Some(Action::Slipway(
            args.iter().map(|a| (*a).to_owned()).collect(),
        ))
    };
    match words {
        ["build"] => slipway(&["build"]),
        // With an environment's Dockerfiles and build arguments ([apps.NAME.environments.ENV]).
        ["build", env] => slipway(&["build", "--env", env]),
        ["push"] => slipway(&["push"]),
        ["lint"] => slipway(&["lint"]),
        // Every environment's config renders with every key: the check a change must pass.
        // Templates run within their fuel, and the command gives up after its `--timeout`.
        ["checks"] => slipway(&["config", "check"]),
        [
            "base",
            verb @ ("build" | "test" | "push" | "release" | "update"),
        ] => slipway(&["base", verb]),
        ["up", env] => slipway(&["up", env]),
        ["test", env] => slipway(&["test", env]),
        ["down", env] => slipway(&["down", env]),
        // The images go to the environment's registry by digest; nothing is rebuilt.
        ["promote", env] => {
            let environment = manifest.environments.get(*env)?;
            let registry = environment
                .registry
                .as_deref()
                .or(manifest.project.registry.as_deref())?;
            slipway(&["push", "--registry", registry])
        }
        ["deploy", env] => Some(Action::Deploy {
            environment: (*env).to_owned(),
        }),
        ["approve"] => {
            let environment = pipeline.steps[index + 1..]
                .iter()
                .find_map(|step| match step {
                    Step::Builtin(text) => match text.split_whitespace().collect::<Vec<_>>()[..] {
                        ["deploy", env] | ["promote", env] => Some(env.to_owned()),
                        _ => None,
                    },
                    Step::Run(_) => None,
                });
            Some(Action::Approve { environment })
        }
        // The gate names the environment it guards when no deploy follows it in the pipeline.
        ["approve", env] => Some(Action::Approve {
            environment: Some((*env).to_owned()),
        }),
        ["notify"] => Some(Action::Notify),
        // Opens (or updates) the pull request of the run's branch through the git host's API.
        ["pull-request"] => slipway(&["pull-request"]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        crate::load_manifest(text).unwrap()
    }

    const SHOP: &str = r#"
schema = 1
[project]
name = "shop"
registry = "team"
[registries.team]
url = "127.0.0.1:5000"
[registries.prod]
url = "127.0.0.1:5001"
[environments.stage]
[environments.prod]
registry = "prod"
approval = { required = true }
[pipelines.release]
steps = ["build", "push", "up stage", "test stage", "approve", "promote prod", "deploy prod", { name = "smoke", run = "curl -fsS http://127.0.0.1:8090/" }]
"#;

    #[test]
    fn the_release_pipeline_maps_to_slipway_commands_and_a_gate() {
        let manifest = manifest(SHOP);
        let (pipeline, kind) = super::pipeline(&manifest, "release").unwrap();
        assert_eq!(kind, PipelineKind::Release);
        let planned = plan(&manifest, pipeline).unwrap();
        let actions: Vec<(&str, &Action)> = planned
            .iter()
            .map(|s| (s.name.as_str(), &s.action))
            .collect();
        let args = |a: &[&str]| Action::Slipway(a.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(
            actions,
            [
                ("build", &args(&["build"])),
                ("push", &args(&["push"])),
                ("up stage", &args(&["up", "stage"])),
                ("test stage", &args(&["test", "stage"])),
                (
                    "approve",
                    &Action::Approve {
                        environment: Some("prod".into())
                    }
                ),
                ("promote prod", &args(&["push", "--registry", "prod"])),
                (
                    "deploy prod",
                    &Action::Deploy {
                        environment: "prod".into()
                    }
                ),
                (
                    "smoke",
                    &Action::Command(vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        "curl -fsS http://127.0.0.1:8090/".into()
                    ])
                ),
            ]
        );
    }

    #[test]
    fn an_unknown_pipeline_names_the_ones_there_are() {
        let manifest = manifest(SHOP);
        let error = super::pipeline(&manifest, "relase")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "no pipeline `relase` in slipway.toml; it has release"
        );
    }
}
