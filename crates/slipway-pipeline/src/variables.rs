//! The `SLIPWAY_*` variables a step's process is given, defined once: the runner sets them
//! ([`StepVariables::of_run`]), the commands a step runs read them back
//! ([`StepVariables::from_env`]), so a name is never spelt twice.

use std::path::PathBuf;

use crate::store::Run;

/// The run's number in the run history (or the CI system's run id, in an exported pipeline).
pub const RUN: &str = "SLIPWAY_RUN";
/// The pipeline the step belongs to.
pub const PIPELINE: &str = "SLIPWAY_PIPELINE";
/// The full commit the run is for.
pub const COMMIT: &str = "SLIPWAY_COMMIT";
/// The branch the run is for, when it is on one (a worktree's HEAD is detached).
pub const BRANCH: &str = "SLIPWAY_BRANCH";
/// Who a deploy step acts for (the approver, or whoever started the run).
pub const STARTED_BY: &str = "SLIPWAY_STARTED_BY";
/// The project's state dir, for steps that run in a worktree of another commit, so images and
/// releases stay in one place.
pub const STATE_DIR: &str = "SLIPWAY_STATE_DIR";

/// Every variable above, in the order they are documented.
pub const ALL: [&str; 6] = [RUN, PIPELINE, COMMIT, BRANCH, STARTED_BY, STATE_DIR];

/// The `SLIPWAY_*` variables of a step, as a step's process reads them. An empty value counts as
/// unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepVariables {
    /// [`RUN`].
    pub run: Option<String>,
    /// [`PIPELINE`].
    pub pipeline: Option<String>,
    /// [`COMMIT`].
    pub commit: Option<String>,
    /// [`BRANCH`].
    pub branch: Option<String>,
    /// [`STARTED_BY`].
    pub started_by: Option<String>,
    /// [`STATE_DIR`].
    pub state_dir: Option<PathBuf>,
}

impl StepVariables {
    /// What this process was given.
    pub fn from_env() -> StepVariables {
        StepVariables::from_lookup(|name| std::env::var(name).ok())
    }

    /// The variables as `lookup` answers for each name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> StepVariables {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        StepVariables {
            run: get(RUN),
            pipeline: get(PIPELINE),
            commit: get(COMMIT),
            branch: get(BRANCH),
            started_by: get(STARTED_BY),
            state_dir: get(STATE_DIR).map(PathBuf::from),
        }
    }

    /// What a step of `run` is given about its run (its number, pipeline, commit and branch).
    pub fn of_run(run: &Run) -> StepVariables {
        StepVariables {
            run: Some(run.id.to_string()),
            pipeline: Some(run.pipeline.clone()),
            commit: Some(run.rev.clone()),
            branch: run.branch.clone(),
            ..StepVariables::default()
        }
    }

    /// The variables that are set, as `(name, value)` pairs for a process's environment.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        [
            (RUN, self.run.clone()),
            (PIPELINE, self.pipeline.clone()),
            (COMMIT, self.commit.clone()),
            (BRANCH, self.branch.clone()),
            (STARTED_BY, self.started_by.clone()),
            (
                STATE_DIR,
                self.state_dir
                    .as_ref()
                    .map(|dir| dir.to_string_lossy().into_owned()),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(branch: Option<&str>) -> Run {
        Run {
            id: 12,
            pipeline: "release".into(),
            kind: "release".into(),
            rev: "3f2a1c0000000000000000000000000000000000".into(),
            branch: branch.map(str::to_owned),
            base_rev: None,
            trigger: "push".into(),
            started_by: "ana".into(),
            state: crate::RunState::Running,
            created_at: 0,
            started_at: None,
            finished_at: None,
            note: None,
            changed: Vec::new(),
            steps: Vec::new(),
            runner: None,
            heartbeat: None,
        }
    }

    #[test]
    fn a_step_reads_back_what_the_runner_sets() {
        let given = StepVariables::of_run(&run(Some("main")));
        let env: std::collections::BTreeMap<&str, String> = given.to_env().into_iter().collect();
        assert_eq!(env[RUN], "12");
        assert_eq!(env[PIPELINE], "release");
        assert_eq!(env[BRANCH], "main");
        let read = StepVariables::from_lookup(|name| env.get(name).cloned());
        assert_eq!(read, given);
    }

    #[test]
    fn a_run_off_any_branch_sets_no_branch_and_empty_values_count_as_unset() {
        let env = StepVariables::of_run(&run(None)).to_env();
        assert!(env.iter().all(|(name, _)| *name != BRANCH));
        let read = StepVariables::from_lookup(|name| {
            (name == STATE_DIR || name == BRANCH).then(String::new)
        });
        assert_eq!(read, StepVariables::default());
    }

    #[test]
    fn every_name_is_listed_once() {
        let mut names = ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|name| name.starts_with("SLIPWAY_")));
    }
}
