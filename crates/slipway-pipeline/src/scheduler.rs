//! The one scheduler of pipeline runs, shared by the CLI (`slipway pipeline run|trigger|resume`,
//! `slipway approve`) and `slipway serve`: it checks out each run's commit (a worktree when it
//! is not the project's clean HEAD), carries the run out with a [`Runner`], and starts the runs
//! a finished one starts (a published base starts the `on.base_published` pipelines). Its
//! decisions (which run may go now, which runs a server takes over, whether a finished run
//! starts others) are pure functions below, tested without a process, a repository or a clock.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_core::Manifest;
use slipway_core::manifest::PipelineKind;

use crate::Result;
use crate::changes::Checkout;
use crate::runner::{Progress, ProgressSink, Runner, carried_elsewhere, follow_ups};
use crate::steps::kind_name;
use crate::store::{Run, RunState, RunStore, runner_alive};
use crate::variables::StepVariables;

/// Where a link to a run's page on the dashboard comes from (the server's URL and the run).
pub type ApprovalLink = Arc<dyn Fn(i64) -> String + Send + Sync>;

/// What the scheduler carries runs out with.
pub struct SchedulerSettings {
    /// The project's slipway.toml.
    pub manifest: Manifest,
    /// The run history.
    pub store: Arc<RunStore>,
    /// The project's directory (runs of another commit go to a worktree of its repository).
    pub project_root: PathBuf,
    /// The project's state dir, absolute: steps in a worktree are pointed at it.
    pub state_dir: PathBuf,
    /// The slipway binary that built-in steps run.
    pub exe: PathBuf,
    /// Who watches the runs (a terminal, the dashboard's live logs).
    pub progress: ProgressSink,
    /// How often a waiting run looks for a decision or for its turn.
    pub poll: Duration,
    /// The dashboard's page of a run, when a server shows it.
    pub approval_link: Option<ApprovalLink>,
}

impl std::fmt::Debug for SchedulerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerSettings")
            .field("project_root", &self.project_root)
            .field("state_dir", &self.state_dir)
            .field("exe", &self.exe)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

/// Carries pipeline runs out, each once per process.
pub struct Scheduler {
    settings: SchedulerSettings,
    /// Runs this process carries now.
    carried: Mutex<HashSet<i64>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("project_root", &self.settings.project_root)
            .finish_non_exhaustive()
    }
}

/// Holds a run in the scheduler's set of carried runs until it is dropped, however carrying
/// ends.
#[derive(Debug)]
pub struct Claim {
    scheduler: Arc<Scheduler>,
    id: i64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.scheduler
            .carried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Scheduler {
    /// A scheduler carrying nothing yet.
    pub fn new(settings: SchedulerSettings) -> Scheduler {
        Scheduler {
            settings,
            carried: Mutex::new(HashSet::new()),
        }
    }

    /// The project's slipway.toml.
    pub fn manifest(&self) -> &Manifest {
        &self.settings.manifest
    }

    /// The run history.
    pub fn store(&self) -> &Arc<RunStore> {
        &self.settings.store
    }

    /// Takes run `id` into this process's carried set; `None` when this process carries it
    /// already, so no run is carried twice.
    pub fn claim(self: &Arc<Self>, id: i64) -> Option<Claim> {
        self.carried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
            .then(|| Claim {
                scheduler: self.clone(),
                id,
            })
    }

    /// Whether this process carries run `id` now.
    pub fn carries(&self, id: i64) -> bool {
        self.carried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }

    /// The runner of a run whose steps run in `root`.
    fn runner(&self, root: PathBuf) -> Runner {
        let settings = &self.settings;
        let variables = StepVariables {
            state_dir: Some(settings.state_dir.clone()),
            ..StepVariables::default()
        };
        Runner {
            manifest: settings.manifest.clone(),
            store: settings.store.clone(),
            root,
            exe: settings.exe.clone(),
            env: variables
                .to_env()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            progress: settings.progress.clone(),
            poll: settings.poll,
            approval_link: settings.approval_link.clone(),
        }
    }

    /// The checkout `run` is carried out in (blocking: git may add a worktree). Watchers are
    /// told the run starts, and whether in a worktree.
    pub fn check_out(&self, run: &Run) -> Result<Checkout> {
        (self.settings.progress)(Progress::Carrying {
            run: Box::new(run.clone()),
        });
        let checkout = Checkout::of(
            &self.settings.project_root,
            &run.rev,
            &self.settings.state_dir.join("worktrees"),
            run.id,
        )?;
        if checkout.is_worktree() {
            (self.settings.progress)(Progress::InWorktree {
                run: run.id,
                rev: run.rev.clone(),
            });
        }
        Ok(checkout)
    }

    /// Carries `run` out in `checkout` to its end (or to an error): the finished run.
    pub async fn carry_in(&self, run: &Run, checkout: &Checkout) -> Result<Run> {
        self.runner(checkout.root.clone()).carry_out(run.id).await
    }

    /// Records the runs `finished` starts (see [`publishes_bases`]), queued.
    pub fn follow_ups(&self, finished: &Run) -> Result<Vec<Run>> {
        follow_ups(&self.settings.manifest, &self.settings.store, finished)
    }

    /// Carries `runs` out side by side (a release may wait at its gate while a base run goes
    /// on), then the runs they start, until none is left: every run carried, in order. The
    /// commits are checked out one after the other before any run starts, so what a watcher
    /// is told of each run's start comes first.
    pub async fn carry_all(self: &Arc<Self>, runs: Vec<Run>) -> Result<Vec<Run>> {
        let mut done = Vec::new();
        let mut next = runs;
        while !next.is_empty() {
            let mut checkouts = Vec::new();
            let mut claims = Vec::new();
            for run in &next {
                claims.push(self.claim(run.id));
                checkouts.push(self.check_out(run)?);
            }
            let results = futures_util::future::join_all(
                next.iter()
                    .zip(&checkouts)
                    .map(|(run, checkout)| self.carry_in(run, checkout)),
            )
            .await;
            drop(checkouts);
            drop(claims);
            next = Vec::new();
            for result in results {
                let finished = result?;
                next.extend(self.follow_ups(&finished)?);
                done.push(finished);
            }
        }
        Ok(done)
    }

    /// The runs of the history a server takes over when it starts, and every few seconds after:
    /// those whose runner is gone and that wait on a person or never started. Runs cut
    /// mid-step are marked interrupted first (they wait for someone to resume them).
    pub fn orphans(&self) -> Result<Vec<Run>> {
        let store = &self.settings.store;
        store.reap()?;
        Ok(store
            .unfinished()?
            .into_iter()
            .filter(|run| to_adopt(run, carried_elsewhere))
            .collect())
    }
}

/// Whether the scheduler that finds `run` unfinished carries it on: it waits on a person or
/// never started, and no other live process carries it (`elsewhere`).
pub fn to_adopt(run: &Run, elsewhere: impl Fn(&Run) -> bool) -> bool {
    matches!(run.state, RunState::Waiting | RunState::Queued) && !elsewhere(run)
}

/// Whether `other`'s runner is a live process (by its pid on this host, its heartbeat
/// elsewhere).
pub fn runner_is_alive(other: &Run) -> bool {
    other
        .runner
        .as_deref()
        .is_some_and(|r| runner_alive(r, other.heartbeat))
}

/// The run `run` waits behind, if any: one release run at a time per pipeline, so a release
/// run waits for the oldest earlier run of its pipeline that is at a gate, or is running or
/// queued in a live process (`alive`). Runs of other pipelines, later runs and runs whose
/// process died do not hold it up. Other kinds of pipelines never wait.
pub fn waits_behind<'r>(
    run: &Run,
    unfinished: &'r [Run],
    alive: impl Fn(&Run) -> bool,
) -> Option<&'r Run> {
    if run.kind != kind_name(PipelineKind::Release) {
        return None;
    }
    unfinished
        .iter()
        .filter(|other| other.pipeline == run.pipeline && other.id < run.id)
        .find(|other| match other.state {
            RunState::Waiting => true,
            RunState::Running | RunState::Queued => alive(other),
            _ => false,
        })
}

/// Whether a finished run starts the `on.base_published` pipelines: a base pipeline that
/// succeeded and pushed its images.
pub fn publishes_bases(finished: &Run) -> bool {
    let pushed = finished
        .steps
        .iter()
        .any(|step| step.name == "base push" || step.name == "base release");
    finished.state == RunState::Succeeded
        && finished.kind == kind_name(PipelineKind::Base)
        && pushed
}

/// The pipelines a published base starts: those with `on.base_published` that are not base
/// pipelines themselves (one started by its own publication would never stop).
pub fn started_by_published_bases(manifest: &Manifest) -> Vec<&str> {
    manifest
        .pipelines
        .iter()
        .filter(|(name, pipeline)| {
            pipeline.on.base_published
                && crate::steps::kind_of(name, pipeline) != PipelineKind::Base
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewRun, StepState};

    fn store() -> (tempfile::TempDir, RunStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(&dir.path().join("pipelines.db")).unwrap();
        (dir, store)
    }

    fn new_run(store: &RunStore, pipeline: &str, kind: &str, steps: &[&str]) -> Run {
        store
            .create(&NewRun {
                pipeline: pipeline.into(),
                kind: kind.into(),
                rev: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: Some("main".into()),
                base_rev: None,
                trigger: "push".into(),
                started_by: "push of main".into(),
                changed: vec!["app/api/main.py".into()],
                steps: steps.iter().map(|s| (*s).to_owned()).collect(),
            })
            .unwrap()
    }

    fn manifest(text: &str) -> Manifest {
        slipway_core::load_manifest(text).unwrap()
    }

    const PIPELINES: &str = r#"
[project]
name = "shop"

[apps.api]
build = "dockerfile"

[environments.stage]

[pipelines.base]
kind = "base"
steps = [{ name = "base release", run = "true" }]

[pipelines.release]
kind = "release"
on = { base_published = true }
steps = [{ name = "check", run = "true" }]

[pipelines.nightly]
kind = "release"
steps = [{ name = "check", run = "true" }]
"#;

    #[test]
    fn a_release_run_waits_for_the_oldest_earlier_run_of_its_pipeline_that_is_alive() {
        let (_dir, store) = store();
        let first = new_run(&store, "release", "release", &["check"]);
        let other_pipeline = new_run(&store, "nightly", "release", &["check"]);
        let second = new_run(&store, "release", "release", &["check"]);
        let third = new_run(&store, "release", "release", &["check"]);
        let unfinished = store.unfinished().unwrap();
        let alive_ids = [first.id, other_pipeline.id, second.id];
        let alive = |run: &Run| alive_ids.contains(&run.id);
        // Queued runs in live processes: the oldest goes first, the others wait for it.
        assert_eq!(waits_behind(&first, &unfinished, alive), None);
        assert_eq!(
            waits_behind(&second, &unfinished, alive).map(|r| r.id),
            Some(first.id)
        );
        assert_eq!(
            waits_behind(&third, &unfinished, alive).map(|r| r.id),
            Some(first.id)
        );
        // Another pipeline's run is never in the way.
        assert_eq!(waits_behind(&other_pipeline, &unfinished, alive), None);
        // A queued run whose process died does not hold the queue.
        let only_second = |run: &Run| run.id == second.id;
        assert_eq!(
            waits_behind(&third, &unfinished, only_second).map(|r| r.id),
            Some(second.id)
        );
        assert_eq!(waits_behind(&second, &unfinished, only_second), None);
    }

    #[test]
    fn a_run_at_a_gate_holds_its_pipeline_even_without_a_live_process() {
        let (_dir, store) = store();
        let gated = new_run(&store, "release", "release", &["approve"]);
        let later = new_run(&store, "release", "release", &["check"]);
        store.set_run_state(gated.id, RunState::Waiting).unwrap();
        let unfinished = store.unfinished().unwrap();
        assert_eq!(
            waits_behind(&later, &unfinished, |_| false).map(|r| r.id),
            Some(gated.id)
        );
        // Once decided and finished, it is out of the way.
        store.finish(gated.id, RunState::Rejected, None).unwrap();
        let unfinished = store.unfinished().unwrap();
        assert_eq!(waits_behind(&later, &unfinished, |_| false), None);
    }

    #[test]
    fn base_and_branch_runs_never_queue() {
        let (_dir, store) = store();
        let first = new_run(&store, "base", "base", &["base release"]);
        store.set_run_state(first.id, RunState::Waiting).unwrap();
        let second = new_run(&store, "base", "base", &["base release"]);
        let unfinished = store.unfinished().unwrap();
        assert_eq!(waits_behind(&second, &unfinished, |_| true), None);
    }

    #[test]
    fn a_server_takes_over_runs_at_a_gate_or_never_started_that_nobody_carries() {
        let (_dir, store) = store();
        let waiting = new_run(&store, "release", "release", &["approve"]);
        store.set_run_state(waiting.id, RunState::Waiting).unwrap();
        let queued = new_run(&store, "release", "release", &["check"]);
        let running = new_run(&store, "release", "release", &["check"]);
        store.set_run_state(running.id, RunState::Running).unwrap();
        let interrupted = new_run(&store, "release", "release", &["check"]);
        store
            .set_run_state(interrupted.id, RunState::Interrupted)
            .unwrap();
        let runs = store.unfinished().unwrap();
        let adopted: Vec<i64> = runs
            .iter()
            .filter(|run| to_adopt(run, |_| false))
            .map(|run| run.id)
            .collect();
        assert_eq!(adopted, [waiting.id, queued.id]);
        // A run another live process carries stays with it.
        let elsewhere = |run: &Run| run.id == waiting.id;
        assert!(!to_adopt(&runs[0], elsewhere));
        assert!(to_adopt(&runs[1], elsewhere));
    }

    #[test]
    fn a_run_is_claimed_once_until_its_claim_ends() {
        let (_dir, store) = store();
        let scheduler = Arc::new(Scheduler::new(SchedulerSettings {
            manifest: manifest(PIPELINES),
            store: Arc::new(store),
            project_root: PathBuf::from("/nonexistent"),
            state_dir: PathBuf::from("/nonexistent/.slipway"),
            exe: PathBuf::from("slipway"),
            progress: Arc::new(|_| {}),
            poll: Duration::from_millis(10),
            approval_link: None,
        }));
        let claim = scheduler.claim(7).expect("first claim");
        assert!(scheduler.claim(7).is_none(), "claimed twice");
        assert!(scheduler.carries(7));
        assert!(scheduler.claim(8).is_some());
        drop(claim);
        assert!(!scheduler.carries(7));
        assert!(scheduler.claim(7).is_some());
    }

    #[test]
    fn a_succeeded_base_run_that_pushed_starts_the_pipelines_waiting_for_bases() {
        let (_dir, store) = store();
        let manifest = manifest(PIPELINES);
        assert_eq!(started_by_published_bases(&manifest), ["release"]);
        let base = new_run(&store, "base", "base", &["base release"]);
        // Not finished yet: nothing starts.
        assert!(!publishes_bases(&store.require(base.id).unwrap()));
        store
            .set_step(base.id, 0, StepState::Succeeded, Some(0))
            .unwrap();
        store.finish(base.id, RunState::Succeeded, None).unwrap();
        let finished = store.require(base.id).unwrap();
        assert!(publishes_bases(&finished));
        let started = follow_ups(&manifest, &store, &finished).unwrap();
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].pipeline, "release");
        assert_eq!(started[0].state, RunState::Queued);
        assert_eq!(started[0].rev, finished.rev);
        assert_eq!(started[0].trigger, "base-published");
        assert_eq!(started[0].started_by, format!("run {} of base", base.id));
    }

    #[test]
    fn a_failed_base_run_or_a_release_run_starts_nothing() {
        let (_dir, store) = store();
        let manifest = manifest(PIPELINES);
        let base = new_run(&store, "base", "base", &["base release"]);
        store.finish(base.id, RunState::Failed, Some("no")).unwrap();
        let failed = store.require(base.id).unwrap();
        assert!(!publishes_bases(&failed));
        assert!(follow_ups(&manifest, &store, &failed).unwrap().is_empty());
        let release = new_run(&store, "release", "release", &["base release"]);
        store.finish(release.id, RunState::Succeeded, None).unwrap();
        assert!(!publishes_bases(&store.require(release.id).unwrap()));
    }
}
