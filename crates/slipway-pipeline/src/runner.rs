//! Carries out a run: its steps in order, each recorded (state, exit code, every output line)
//! in the run history as it happens, so `slipway pipeline logs`, the server and a person
//! approving from elsewhere all see the same run. A failed step ends the run and tells the
//! pipeline's channels; an `approve` step waits for a decision in the history.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_core::Manifest;
use slipway_core::manifest::{ApprovalVia, EventKind, PipelineKind};
use slipway_notify::Delivery;
use slipway_notify::events::{self, RunFacts};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::changes::Change;
use crate::environment::{known_secrets, step_environment};
use crate::mask::Masker;
use crate::scheduler;
use crate::steps::{self, Action, PlannedStep, kind_name};
use crate::store::{
    Approval, ApprovalState, NewRun, Run, RunState, RunStore, StepState, runner_alive,
};
use crate::variables::{self, StepVariables};
use crate::{PipelineError, Result, now};

/// What a run is doing, for whoever watches it (a terminal, the server's live logs).
#[derive(Debug, Clone)]
pub enum Progress {
    /// The scheduler takes the run up (before its commit is checked out).
    Carrying {
        /// The run as recorded when it was taken up.
        run: Box<Run>,
    },
    /// The run's steps run in a worktree of its commit: uncommitted changes are not part of it.
    InWorktree {
        /// The run's id in the history.
        run: i64,
        /// The commit the worktree holds.
        rev: String,
    },
    /// A release run waits for an older unfinished run of the same pipeline to finish.
    Queued {
        /// The waiting run.
        run: i64,
        /// The run it waits behind.
        behind: i64,
    },
    /// A step begins.
    StepStarted {
        /// The run's id in the history.
        run: i64,
        /// The step's position in the run, from 0.
        index: usize,
        /// How many steps the run has.
        total: usize,
        /// The step's name.
        name: String,
    },
    /// A line a step printed, secrets masked.
    Line {
        /// The run's id in the history.
        run: i64,
        /// The step that printed it, from 0.
        index: usize,
        /// The line, without its newline.
        line: String,
    },
    /// A step ended.
    StepFinished {
        /// The run's id in the history.
        run: i64,
        /// The step's position in the run, from 0.
        index: usize,
        /// The step's name.
        name: String,
        /// How it ended.
        state: StepState,
        /// How long it took.
        elapsed: Duration,
    },
    /// The run pauses at an approval gate until a person decides or the approval lapses.
    Waiting {
        /// The run's id in the history.
        run: i64,
        /// The approval it waits for.
        approval: Approval,
    },
    /// The run's notification channels were sent an event.
    Notified {
        /// The run's id in the history.
        run: i64,
        /// What happened to each channel's message.
        deliveries: Vec<Delivery>,
    },
    /// The run ended.
    Finished {
        /// The run's id in the history.
        run: i64,
        /// Its final state.
        state: RunState,
        /// Why, when it did not succeed (secrets masked).
        note: Option<String>,
    },
}

impl Progress {
    /// The run it is about.
    pub fn run(&self) -> i64 {
        match self {
            Progress::Carrying { run } => run.id,
            Progress::InWorktree { run, .. }
            | Progress::Queued { run, .. }
            | Progress::StepStarted { run, .. }
            | Progress::Line { run, .. }
            | Progress::StepFinished { run, .. }
            | Progress::Waiting { run, .. }
            | Progress::Notified { run, .. }
            | Progress::Finished { run, .. } => *run,
        }
    }
}

/// Where a runner sends its [`Progress`]: a callback shared with whoever watches.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// Everything a run needs besides its record.
pub struct Runner {
    /// The project's slipway.toml, which plans the steps.
    pub manifest: Manifest,
    /// The run history every step and decision is recorded in.
    pub store: Arc<RunStore>,
    /// Where the steps run: the project, or a worktree of another commit.
    pub root: PathBuf,
    /// The slipway binary built-in steps run.
    pub exe: PathBuf,
    /// Set for every step (e.g. the state dir of the project when the steps run in a worktree),
    /// besides what [`step_environment`] gives it from this process's environment.
    pub env: Vec<(String, String)>,
    /// Told of everything the run does, as it happens.
    pub progress: ProgressSink,
    /// How often a waiting run looks for a decision.
    pub poll: Duration,
    /// Where a person decides: the dashboard's page of the run, when a server shows it.
    pub approval_link: Option<Arc<dyn Fn(i64) -> String + Send + Sync>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("root", &self.root)
            .field("exe", &self.exe)
            .finish_non_exhaustive()
    }
}

/// Records a new run of `pipeline` for `change`, queued.
pub fn create_run(
    manifest: &Manifest,
    store: &RunStore,
    pipeline: &str,
    change: &Change,
    trigger: &str,
    started_by: &str,
) -> Result<Run> {
    let (definition, kind) = steps::pipeline(manifest, pipeline)?;
    let planned = steps::plan(manifest, definition)?;
    Ok(store.create(&NewRun {
        pipeline: pipeline.to_owned(),
        kind: kind_name(kind).to_owned(),
        rev: change.rev.clone(),
        branch: change.branch.clone(),
        base_rev: change.base_rev.clone(),
        trigger: trigger.to_owned(),
        started_by: started_by.to_owned(),
        changed: change.paths.clone(),
        steps: planned.into_iter().map(|s| s.name).collect(),
    })?)
}

/// Records a run of `pipeline` started by hand (`manual`) at `rev` of the project in `root`,
/// queued, with the paths changed since the pipeline last succeeded.
pub fn create_manual_run(
    manifest: &Manifest,
    store: &RunStore,
    root: &std::path::Path,
    pipeline: &str,
    rev: &str,
    started_by: &str,
) -> Result<Run> {
    let rev = crate::changes::resolve_rev(root, rev)?;
    let branch = crate::changes::current_branch(root);
    let change = crate::changes::change_for(root, store, pipeline, &rev, branch.as_deref())?;
    create_run(manifest, store, pipeline, &change, "manual", started_by)
}

/// Records a run, queued, of each of the pipelines a change starts, with `trigger`.
pub fn create_runs(
    manifest: &Manifest,
    store: &RunStore,
    matching: Vec<(String, Change)>,
    trigger: &str,
    started_by: &str,
) -> Result<Vec<Run>> {
    matching
        .iter()
        .map(|(name, change)| create_run(manifest, store, name, change, trigger, started_by))
        .collect()
}

/// The runs a finished run starts: when a base pipeline that pushes its images succeeded (new
/// base images are published), one run, queued, of each pipeline with `on.base_published`, at the same commit.
pub fn follow_ups(manifest: &Manifest, store: &RunStore, finished: &Run) -> Result<Vec<Run>> {
    if !scheduler::publishes_bases(finished) {
        return Ok(Vec::new());
    }
    let change = Change {
        rev: finished.rev.clone(),
        branch: finished.branch.clone(),
        base_rev: None,
        paths: finished.changed.clone(),
    };
    scheduler::started_by_published_bases(manifest)
        .into_iter()
        .map(|name| {
            create_run(
                manifest,
                store,
                name,
                &change,
                "base-published",
                &format!("run {} of {}", finished.id, finished.pipeline),
            )
        })
        .collect()
}

/// Whether `actor` (`user@host` or a dashboard login) is one of `approvers`: an entry names
/// either the whole actor or its user.
pub fn is_approver(approvers: &[String], actor: &str) -> bool {
    let user = actor.split('@').next().unwrap_or(actor);
    approvers.is_empty() || approvers.iter().any(|a| a == actor || a == user)
}

/// Where the dashboard shows run `id`: `[server] url`, else its `listen` address.
pub fn dashboard_link(manifest: &Manifest, id: i64) -> String {
    let base = manifest.server.url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            manifest
                .server
                .listen
                .as_deref()
                .unwrap_or("127.0.0.1:8300")
        )
    });
    format!("{}/runs/{id}", base.trim_end_matches('/'))
}

/// Whether gates guarding `environment` are decided on the dashboard only.
fn decided_on_server(manifest: &Manifest, environment: Option<&str>) -> bool {
    environment
        .and_then(|e| manifest.environments.get(e))
        .is_some_and(|e| e.approval.via == ApprovalVia::Server)
}

/// Approves or rejects from a terminal, `actor` being the OS account running it: as [`decide`],
/// except for a gate whose environment takes decisions on the dashboard only (`approval.via =
/// "server"`), where people log in, which is refused and audited.
pub fn decide_at_terminal(
    manifest: &Manifest,
    store: &RunStore,
    id: i64,
    actor: &str,
    approve: bool,
    comment: Option<&str>,
) -> Result<Approval> {
    if let Some(pending) = store.pending_approval(id)?
        && decided_on_server(manifest, pending.environment.as_deref())
    {
        store.audit(
            actor,
            "refused-decision",
            Some(id),
            Some("decided at a terminal; approval.via is server"),
        )?;
        return Err(PipelineError::DecidedOnServer {
            run: id,
            environment: pending.environment.unwrap_or_default(),
            link: dashboard_link(manifest, id),
        });
    }
    decide(manifest, store, id, actor, approve, comment)
}

/// Approves or rejects the gate run `id` waits at, `actor` being who decides as the caller
/// established it (a dashboard login, the OS account at a terminal). Returns the decided
/// approval.
pub fn decide(
    manifest: &Manifest,
    store: &RunStore,
    id: i64,
    actor: &str,
    approve: bool,
    comment: Option<&str>,
) -> Result<Approval> {
    let run = store.require(id)?;
    let Some(pending) = store.pending_approval(id)? else {
        return Err(PipelineError::NotDecidable {
            run: id,
            reason: match run.state {
                RunState::Waiting | RunState::Running | RunState::Queued => {
                    format!("is {} and not waiting for approval", run.state)
                }
                state => format!("has {state}: there is nothing to decide"),
            },
        });
    };
    if pending.expires_at.is_some_and(|at| at <= now()) {
        store.decide(id, pending.step, ApprovalState::Expired, "slipway", None)?;
        store.finish(id, RunState::Expired, Some("the approval lapsed"))?;
        return Err(PipelineError::NotDecidable {
            run: id,
            reason: "waited too long: its approval lapsed; start a new run".into(),
        });
    }
    if let Some(environment) = &pending.environment {
        let approvers = manifest
            .environments
            .get(environment)
            .map(|e| e.approval.approvers.clone())
            .unwrap_or_default();
        if !is_approver(&approvers, actor) {
            store.audit(actor, "refused-decision", Some(id), Some("not an approver"))?;
            return Err(PipelineError::NotAnApprover {
                run: id,
                actor: actor.to_owned(),
                environment: environment.clone(),
                approvers: approvers.join(", "),
            });
        }
    }
    let state = if approve {
        ApprovalState::Approved
    } else {
        ApprovalState::Rejected
    };
    if !store.decide(id, pending.step, state, actor, comment)? {
        return Err(PipelineError::NotDecidable {
            run: id,
            reason: "was decided by someone else a moment ago".into(),
        });
    }
    if !approve {
        // The runner, if one waits, sees the rejection and stops; without one nothing else would.
        let carried = run
            .runner
            .as_deref()
            .is_some_and(|r| runner_alive(r, run.heartbeat));
        if !carried {
            store.set_step(id, pending.step, StepState::Failed, None)?;
            store.finish(
                id,
                RunState::Rejected,
                Some(&format!("rejected by {actor}")),
            )?;
        }
    }
    store
        .approval(id, pending.step)?
        .ok_or(PipelineError::UnknownRun(id))
}

/// Whether a live process other than this one carries run `run`.
pub fn carried_elsewhere(run: &Run) -> bool {
    run.runner
        .as_deref()
        .is_some_and(|r| r != crate::store::this_runner() && runner_alive(r, run.heartbeat))
}

enum StepOutcome {
    Done,
    /// A command that exited non-zero, with its code.
    Exited(i32),
    Failed(String),
    Stopped(RunState, String),
}

impl Runner {
    fn emit(&self, progress: Progress) {
        (self.progress)(progress);
    }

    /// Carries out run `id` from its first step not yet done, to its end or to a failure.
    pub async fn carry_out(&self, id: i64) -> Result<Run> {
        let run = self.store.require(id)?;
        let (definition, kind) = steps::pipeline(&self.manifest, &run.pipeline)?;
        let planned = steps::plan(&self.manifest, definition)?;
        let recorded: Vec<&str> = run.steps.iter().map(|s| s.name.as_str()).collect();
        let current: Vec<&str> = planned.iter().map(|s| s.name.as_str()).collect();
        if recorded != current {
            return Err(PipelineError::NotResumable {
                run: id,
                reason: format!(
                    "pipeline `{}` has other steps now ({}) than when the run started ({}); start a new run",
                    run.pipeline,
                    current.join(", "),
                    recorded.join(", ")
                ),
            });
        }
        let run = self.store.claim(id)?;
        let store = self.store.clone();
        let heartbeat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let _ = store.heartbeat(id);
            }
        });
        if kind == PipelineKind::Release
            && let Err(error) = self.wait_for_turn(&run).await
        {
            heartbeat.abort();
            return Err(error);
        }
        if run.state == RunState::Queued {
            self.store.set_run_state(id, RunState::Running)?;
        }
        let process: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let masker = Masker::new(known_secrets(&self.manifest, &process));
        let result = self.steps(&run, kind, &planned, &masker).await;
        heartbeat.abort();
        let (state, note) = match result {
            Ok(()) => (RunState::Succeeded, None),
            Err(StepFailure { state, note }) => (state, Some(masker.mask(&note).into_owned())),
        };
        self.store.finish(id, state, note.as_deref())?;
        let run = self.store.require(id)?;
        if run.state == RunState::Failed {
            self.notify_failure(&run).await;
        }
        self.emit(Progress::Finished {
            run: id,
            state: run.state,
            note: run.note.clone(),
        });
        Ok(run)
    }

    /// One release run at a time per pipeline: later ones queue behind the oldest unfinished.
    async fn wait_for_turn(&self, run: &Run) -> Result<()> {
        let mut told = None;
        loop {
            let unfinished = self.store.unfinished()?;
            let ahead = scheduler::waits_behind(run, &unfinished, scheduler::runner_is_alive);
            let Some(ahead) = ahead else { return Ok(()) };
            if told != Some(ahead.id) {
                self.emit(Progress::Queued {
                    run: run.id,
                    behind: ahead.id,
                });
                told = Some(ahead.id);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn steps(
        &self,
        run: &Run,
        kind: PipelineKind,
        planned: &[PlannedStep],
        masker: &Masker,
    ) -> Result<(), StepFailure> {
        let total = planned.len();
        for (index, step) in planned.iter().enumerate() {
            if matches!(
                run.steps[index].state,
                StepState::Succeeded | StepState::Skipped
            ) {
                continue;
            }
            self.emit(Progress::StepStarted {
                run: run.id,
                index,
                total,
                name: step.name.clone(),
            });
            let started = Instant::now();
            let state = if matches!(step.action, Action::Approve { .. }) {
                StepState::Waiting
            } else {
                StepState::Running
            };
            self.store
                .set_step(run.id, index, state, None)
                .map_err(StepFailure::store)?;
            let outcome = match self.step(run, kind, index, step, masker).await {
                Ok(outcome) => outcome,
                Err(error) => StepOutcome::Failed(error.to_string()),
            };
            let (state, exit_code) = match outcome {
                StepOutcome::Done => (StepState::Succeeded, Some(0)),
                StepOutcome::Exited(code) => (StepState::Failed, Some(code)),
                StepOutcome::Failed(_) | StepOutcome::Stopped(..) => (StepState::Failed, None),
            };
            self.store
                .set_step(run.id, index, state, exit_code)
                .map_err(StepFailure::store)?;
            self.emit(Progress::StepFinished {
                run: run.id,
                index,
                name: step.name.clone(),
                state,
                elapsed: started.elapsed(),
            });
            let failed = match outcome {
                StepOutcome::Done => None,
                StepOutcome::Exited(code) => Some(format!("exit status {code}")),
                StepOutcome::Failed(message) => Some(message),
                StepOutcome::Stopped(state, note) => {
                    for later in index + 1..total {
                        let _ = self.store.set_step(run.id, later, StepState::Skipped, None);
                    }
                    return Err(StepFailure { state, note });
                }
            };
            if let Some(message) = failed {
                // The remaining steps will not run: say so in the record.
                for later in index + 1..total {
                    let _ = self.store.set_step(run.id, later, StepState::Skipped, None);
                }
                return Err(StepFailure {
                    state: RunState::Failed,
                    note: format!("step `{}` failed: {message}", step.name),
                });
            }
        }
        Ok(())
    }

    async fn step(
        &self,
        run: &Run,
        kind: PipelineKind,
        index: usize,
        step: &PlannedStep,
        masker: &Masker,
    ) -> Result<StepOutcome> {
        let process: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let mut env: Vec<(String, String)> = step_environment(&self.manifest, step, &process)
            .into_iter()
            .collect();
        match &step.action {
            Action::Slipway(args) => {
                let mut argv = vec![self.exe.to_string_lossy().into_owned()];
                argv.extend(args.iter().cloned());
                self.child(run, index, &argv, &env, masker).await
            }
            Action::Deploy { environment } => {
                let approved = self.store.approvals(run.id)?.into_iter().rev().find(|a| {
                    a.state == ApprovalState::Approved
                        && a.environment.as_deref().is_none_or(|e| e == environment)
                });
                let mut argv = vec![
                    self.exe.to_string_lossy().into_owned(),
                    "deploy".to_owned(),
                    environment.clone(),
                ];
                let started_by = match &approved {
                    Some(approval) => {
                        // The gate was the confirmation `deploy` asks for.
                        argv.push("--yes".to_owned());
                        format!(
                            "{} (approved run {} of {})",
                            approval.decided_by.as_deref().unwrap_or("someone"),
                            run.id,
                            run.pipeline
                        )
                    }
                    None => format!("{} (run {} of {})", run.started_by, run.id, run.pipeline),
                };
                env.push((variables::STARTED_BY.to_owned(), started_by));
                self.child(run, index, &argv, &env, masker).await
            }
            Action::Command(argv) => self.child(run, index, argv, &env, masker).await,
            Action::Approve { environment } => {
                self.gate(run, index, environment.as_deref(), masker).await
            }
            Action::Notify => {
                let event_kind = if kind == PipelineKind::Base {
                    EventKind::BasePublished
                } else {
                    EventKind::RunSucceeded
                };
                let event = events::run_event(
                    &self.manifest.project.name,
                    event_kind,
                    &run_facts(run),
                    None,
                    rfc3339(now()),
                );
                let only = self.channels_of(run);
                let deliveries =
                    slipway_notify::send(&self.manifest, &event, only.as_deref()).await;
                // Recorded only: the watcher is told once, by the `Notified` progress below.
                for delivery in &deliveries {
                    let line = match &delivery.error {
                        None => format!("notified {}", delivery.channel),
                        Some(error) => {
                            format!("notification to {} failed: {error}", delivery.channel)
                        }
                    };
                    let _ = self.store.append_log(run.id, index, &masker.mask(&line));
                }
                self.emit(Progress::Notified {
                    run: run.id,
                    deliveries,
                });
                Ok(StepOutcome::Done)
            }
        }
    }

    /// Records and shows one line of a step, with every secret the runner knows masked.
    fn log(&self, run: i64, index: usize, line: &str, masker: &Masker) {
        let line = masker.mask(line);
        let _ = self.store.append_log(run, index, &line);
        self.emit(Progress::Line {
            run,
            index,
            line: line.into_owned(),
        });
    }

    /// The pipeline's `notify` channels when it names some; else every channel.
    fn channels_of(&self, run: &Run) -> Option<Vec<String>> {
        self.manifest
            .pipelines
            .get(&run.pipeline)
            .map(|p| p.notify.clone())
            .filter(|names| !names.is_empty())
    }

    async fn notify_failure(&self, run: &Run) {
        let event = events::run_event(
            &self.manifest.project.name,
            EventKind::RunFailed,
            &run_facts(run),
            run.note.as_deref(),
            rfc3339(now()),
        );
        let only = self.channels_of(run);
        let deliveries = slipway_notify::send(&self.manifest, &event, only.as_deref()).await;
        if !deliveries.is_empty() {
            self.emit(Progress::Notified {
                run: run.id,
                deliveries,
            });
        }
    }

    /// Waits at a gate until a person decides or the approval lapses.
    async fn gate(
        &self,
        run: &Run,
        index: usize,
        environment: Option<&str>,
        masker: &Masker,
    ) -> Result<StepOutcome> {
        let settings = environment
            .and_then(|e| self.manifest.environments.get(e))
            .map(|e| e.approval.clone())
            .unwrap_or_default();
        let expires_at = settings.expires.map(|d| now() + d.0.as_secs() as i64);
        let (approval, first_ask) =
            self.store
                .request_approval(run.id, index, environment, expires_at)?;
        if approval.state == ApprovalState::Pending {
            let how = match &self.approval_link {
                Some(link) => link(run.id),
                None if decided_on_server(&self.manifest, environment) => {
                    format!(
                        "on the dashboard (slipway serve), {}",
                        dashboard_link(&self.manifest, run.id)
                    )
                }
                None => format!("slipway approve {} (or slipway reject {})", run.id, run.id),
            };
            self.log(
                run.id,
                index,
                &format!("waiting for approval: {how}"),
                masker,
            );
            if first_ask {
                let event = events::approval_waiting(
                    &self.manifest.project.name,
                    &run_facts(run),
                    environment,
                    how,
                    expires_at.map(rfc3339),
                    rfc3339(now()),
                );
                let only = self.channels_of(run);
                let deliveries =
                    slipway_notify::send(&self.manifest, &event, only.as_deref()).await;
                for delivery in &deliveries {
                    if let Some(error) = &delivery.error {
                        let line = format!("notification to {} failed: {error}", delivery.channel);
                        let _ = self.store.append_log(run.id, index, &masker.mask(&line));
                    }
                }
                if !deliveries.is_empty() {
                    self.emit(Progress::Notified {
                        run: run.id,
                        deliveries,
                    });
                }
            }
            // `waiting` means the people who decide have been asked.
            self.store.set_run_state(run.id, RunState::Waiting)?;
            self.emit(Progress::Waiting {
                run: run.id,
                approval: approval.clone(),
            });
        }
        loop {
            let approval = self
                .store
                .approval(run.id, index)?
                .ok_or(PipelineError::UnknownRun(run.id))?;
            match approval.state {
                ApprovalState::Pending => {
                    if approval.expires_at.is_some_and(|at| at <= now()) {
                        self.store.decide(
                            run.id,
                            index,
                            ApprovalState::Expired,
                            "slipway",
                            None,
                        )?;
                        continue;
                    }
                    tokio::time::sleep(self.poll).await;
                }
                ApprovalState::Approved => {
                    self.store.set_run_state(run.id, RunState::Running)?;
                    let by = approval.decided_by.as_deref().unwrap_or("someone");
                    let comment = approval
                        .comment
                        .as_deref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    self.log(run.id, index, &format!("approved by {by}{comment}"), masker);
                    return Ok(StepOutcome::Done);
                }
                ApprovalState::Rejected => {
                    let by = approval.decided_by.as_deref().unwrap_or("someone");
                    let comment = approval
                        .comment
                        .as_deref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    self.log(run.id, index, &format!("rejected by {by}{comment}"), masker);
                    return Ok(StepOutcome::Stopped(
                        RunState::Rejected,
                        format!("rejected by {by}{comment}"),
                    ));
                }
                ApprovalState::Expired => {
                    self.log(run.id, index, "the approval lapsed", masker);
                    return Ok(StepOutcome::Stopped(
                        RunState::Expired,
                        "the approval lapsed before anyone decided".into(),
                    ));
                }
            }
        }
    }

    /// Runs `argv` in the project with `env` and nothing else of this process's environment,
    /// its output (both streams, line by line, masked) into the record.
    async fn child(
        &self,
        run: &Run,
        index: usize,
        argv: &[String],
        env: &[(String, String)],
        masker: &Masker,
    ) -> Result<StepOutcome> {
        let Some((program, args)) = argv.split_first() else {
            return Ok(StepOutcome::Failed("the step has no command".into()));
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env_clear()
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // A worktree's HEAD is detached: `slipway pull-request` learns the branch from here.
        for (name, value) in StepVariables::of_run(run).to_env() {
            command.env(name, value);
        }
        for (name, value) in env.iter().chain(&self.env) {
            command.env(name, value);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                return Ok(StepOutcome::Failed(format!(
                    "cannot start {program}: {error}"
                )));
            }
        };
        let (lines, mut receive) = mpsc::unbounded_channel();
        if let Some(stdout) = child.stdout.take() {
            forward(stdout, lines.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            forward(stderr, lines.clone());
        }
        drop(lines);
        while let Some(line) = receive.recv().await {
            self.log(run.id, index, &line, masker);
        }
        let status = child.wait().await.map_err(|source| PipelineError::Io {
            path: PathBuf::from(program),
            source,
        })?;
        Ok(if status.success() {
            StepOutcome::Done
        } else {
            match status.code() {
                Some(code) => StepOutcome::Exited(code),
                None => StepOutcome::Failed("killed by a signal".to_owned()),
            }
        })
    }
}

struct StepFailure {
    state: RunState,
    note: String,
}

impl StepFailure {
    fn store(error: impl Into<PipelineError>) -> StepFailure {
        let error = error.into();
        StepFailure {
            state: RunState::Failed,
            note: error.to_string(),
        }
    }
}

fn forward(stream: impl AsyncRead + Unpin + Send + 'static, lines: mpsc::UnboundedSender<String>) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buffer);
                    // Progress redraws end in `\r`: keep the last state of the line.
                    let line = text
                        .trim_end_matches(['\n', '\r'])
                        .rsplit('\r')
                        .next()
                        .unwrap_or_default();
                    if lines.send(line.to_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// What a run's events say about it.
fn run_facts(run: &Run) -> RunFacts {
    RunFacts {
        run: Some(run.id.to_string()),
        pipeline: run.pipeline.clone(),
        commit: Some(run.rev.clone()),
        branch: run.branch.clone(),
        started_by: Some(run.started_by.clone()),
    }
}

fn rfc3339(seconds: i64) -> String {
    slipway_core::time::rfc3339(seconds.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_match_by_user_or_user_at_host() {
        let approvers = vec!["bob".to_owned(), "ci@build-1".to_owned()];
        assert!(is_approver(&approvers, "bob@laptop"));
        assert!(is_approver(&approvers, "ci@build-1"));
        assert!(!is_approver(&approvers, "ci@build-2"));
        assert!(!is_approver(&approvers, "eve@laptop"));
        assert!(is_approver(&[], "anyone@anywhere"));
    }
}
