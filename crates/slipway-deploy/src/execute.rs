//! The executor: one generic walk of a plan against any [`Target`]. Each step is recorded in
//! the journal once done; consecutive gates run together (a set of new replicas is gated all
//! at once); a failure before the release went live carries out the undo plan; a failure after
//! it (an `after_deploy` hook) leaves the release live.

use std::time::Duration;

use slipway_core::plan::{Entry, Plan, Step, judge};

use crate::target::{Journal, Target};
use crate::{DeployError, Result};

/// How a plan ended when it did not finish.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: DeployError,
    /// Whether the release had gone live before it (then nothing was undone).
    pub live: bool,
    /// Whether the undo plan failed too, and how.
    pub undo_error: Option<DeployError>,
}

/// Carries out `plan` against `target`, recording each step in `journal`. A step failing before
/// the release is live stops the plan and carries out `undo` (every step of it, the first
/// error kept).
pub async fn execute<T: Target, J: Journal>(
    target: &T,
    journal: &J,
    plan: &Plan,
    undo: &Plan,
) -> std::result::Result<(), Box<Failure>> {
    let mut live = false;
    let mut baked_out = false;
    let mut index = 0;
    while index < plan.steps.len() {
        let step = &plan.steps[index];
        // Consecutive gates run together.
        let gates = plan.steps[index..]
            .iter()
            .take_while(|s| matches!(s, Step::Gate { .. }))
            .count();
        let outcome = if gates > 1 {
            let batch = &plan.steps[index..index + gates];
            let results =
                futures_util::future::join_all(batch.iter().map(|s| carry_out(target, s))).await;
            let outcome = results.into_iter().collect::<Result<Vec<_>>>().map(|_| ());
            if outcome.is_ok() {
                for done in batch {
                    if let Err(error) = journal.record(Entry::Done { step: done.clone() }) {
                        return Err(fail(target, undo, error, live).await);
                    }
                }
            }
            index += gates;
            outcome
        } else {
            index += 1;
            if baked_out && !matches!(step, Step::AfterDeploy { .. }) {
                continue;
            }
            let outcome = match step {
                Step::MarkLive => match journal.mark_live() {
                    Ok(()) => {
                        live = true;
                        target.went_live().await
                    }
                    Err(error) => Err(error),
                },
                Step::Bake { duration_ms } => {
                    match target.bake(Duration::from_millis(*duration_ms)).await {
                        Ok(go_on) => {
                            baked_out = !go_on;
                            Ok(())
                        }
                        Err(error) => Err(error),
                    }
                }
                other => carry_out(target, other).await,
            };
            outcome.and_then(|()| journal.record(Entry::Done { step: step.clone() }))
        };
        if let Err(error) = outcome {
            return Err(fail(target, undo, error, live).await);
        }
    }
    Ok(())
}

async fn fail<T: Target>(target: &T, undo: &Plan, error: DeployError, live: bool) -> Box<Failure> {
    if live {
        return Box::new(Failure {
            error,
            live,
            undo_error: None,
        });
    }
    target.log(&format!("{error}: restoring the live release"));
    Box::new(Failure {
        error,
        live,
        undo_error: carry_out_all(target, undo).await.err(),
    })
}

/// Carries out every step of `plan` even when some fail (undoing, recovering); the first error
/// is the answer. Nothing is journaled.
pub async fn carry_out_all<T: Target>(target: &T, plan: &Plan) -> Result<()> {
    let mut first_error = None;
    for step in &plan.steps {
        if let Err(error) = carry_out(target, step).await {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// One step.
async fn carry_out<T: Target>(target: &T, step: &Step) -> Result<()> {
    match step {
        Step::Start {
            place,
            app,
            release,
            replicas,
        } => target.start(place, app, release, *replicas).await,
        Step::Gate {
            place,
            app,
            release,
            replicas,
        } => target.gate(place, app, release, *replicas).await,
        Step::Replace {
            app,
            release,
            replicas,
            how,
        } => target.replace(app, release, *replicas, how).await,
        Step::BeforeDeploy { app } => target.before_deploy(app).await,
        Step::AfterDeploy { app } => target.after_deploy(app).await,
        Step::SetWeights { place, app, split } => target.set_weights(place, app, split).await,
        Step::Unroute { place, app } => target.unroute(place, app).await,
        Step::Retire {
            place,
            app,
            release,
            replicas,
        } => target.retire(place, app, release, *replicas).await,
        Step::Analyse {
            percent,
            pause_ms,
            limits,
            watched,
        } => {
            let pause = Duration::from_millis(*pause_ms);
            let mut windows = Vec::new();
            for w in watched {
                windows.push(target.open_window(w).await?);
            }
            target.log(&format!(
                "canary at {percent}%: watching for {}s",
                pause.as_secs()
            ));
            target.wait(pause).await;
            for (w, window) in watched.iter().zip(windows) {
                let (old, new) = target.close_window(w, window).await?;
                target.log(&format!(
                    "{}: {} at {percent}%: {} requests, {} errors on {} (old: {} requests, {} errors)",
                    w.place, w.app, new.requests, new.errors, w.new, old.requests, old.errors
                ));
                judge(*percent, &old, &new, limits).map_err(|message| DeployError::Analysis {
                    app: w.app.clone(),
                    message,
                })?;
            }
            Ok(())
        }
        Step::Hold { duration_ms } => {
            target.wait(Duration::from_millis(*duration_ms)).await;
            Ok(())
        }
        Step::MarkLive | Step::Bake { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests;
