//! What a `notify` step tells its channels when another CI system carries the run out
//! (`slipway pipeline notify` in an exported pipeline): the same event the runner would send,
//! with the run's facts from its `SLIPWAY_*` variables.

use slipway_core::Manifest;
use slipway_core::manifest::{EventKind, PipelineKind};
use slipway_notify::Event;
use slipway_notify::events::{self, RunFacts};

use crate::Result;
use crate::variables::StepVariables;

/// What pipeline `name`'s `notify` step tells its channels, for a run carried out by another CI
/// system (`slipway pipeline notify`): `kind` (default: base images published for a base
/// pipeline, else the run went through), with the run's facts from its `SLIPWAY_*` variables;
/// and the channels the pipeline names (`None`: every channel that takes the event).
pub fn notify_event(
    manifest: &Manifest,
    name: &str,
    kind: Option<EventKind>,
    variables: &StepVariables,
    at: String,
) -> Result<(Event, Option<Vec<String>>)> {
    let (pipeline, pipeline_kind) = crate::steps::pipeline(manifest, name)?;
    let kind = kind.unwrap_or(if pipeline_kind == PipelineKind::Base {
        EventKind::BasePublished
    } else {
        EventKind::RunSucceeded
    });
    let run = RunFacts {
        run: variables.run.clone(),
        pipeline: name.to_owned(),
        commit: variables.commit.clone(),
        branch: variables.branch.clone(),
        started_by: None,
    };
    let event = events::run_event(&manifest.project.name, kind, &run, None, at);
    let only = (!pipeline.notify.is_empty()).then(|| pipeline.notify.clone());
    Ok((event, only))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        slipway_core::load_manifest(text).unwrap()
    }

    #[test]
    fn a_ci_jobs_notify_tells_what_the_notify_step_would_with_the_runs_variables() {
        let manifest = manifest(SHOP);
        let variables = StepVariables {
            run: Some("4711".into()),
            commit: Some("0123456789abcdef0123".into()),
            branch: Some("main".into()),
            ..StepVariables::default()
        };
        let (event, only) =
            notify_event(&manifest, "release", None, &variables, String::new()).unwrap();
        assert_eq!(event.kind, EventKind::RunSucceeded);
        assert_eq!(event.title, "shop: release pipeline went through");
        assert_eq!(event.facts[0], ("run".to_owned(), "4711".to_owned()));
        assert_eq!(
            event.facts[2],
            ("commit".to_owned(), "0123456789ab".to_owned())
        );
        assert_eq!(
            only, None,
            "a pipeline without `notify` tells every channel"
        );
        let (failed, _) = notify_event(
            &manifest,
            "release",
            Some(EventKind::RunFailed),
            &variables,
            String::new(),
        )
        .unwrap();
        assert_eq!(failed.title, "shop: run 4711 of release failed");
        let error = notify_event(&manifest, "relase", None, &variables, String::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "no pipeline `relase` in slipway.toml; it has release"
        );
    }

    const SHOP: &str = r#"
schema = 1
[project]
name = "shop"
[environments.stage]
[environments.prod]
approval = { required = true }
[pipelines.release]
steps = ["build", "push", "up stage", "test stage", "approve", "deploy prod"]
"#;
}
