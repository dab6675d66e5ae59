//! Runs as a terminal shows them: the lines `slipway pipeline list|show|logs|trigger` print and
//! the live progress of a run carried out here. Pure text from the run history's records; every
//! name, branch, note and output line is escaped for the terminal (they come from slipway.toml
//! of a branch, a webhook or a step's output).

use slipway_core::terminal::printable;

use crate::Change;
use crate::runner::Progress;
use crate::store::{Approval, AuditEntry, LogLine, Run, RunState, RunStore, StepState, short};

/// A Unix time as RFC 3339.
pub fn time(at: i64) -> String {
    slipway_core::time::rfc3339(at.max(0) as u64)
}

/// The line a watcher on a terminal sees for `progress`, when there is one (a notification's
/// deliveries may make several).
pub fn progress_lines(progress: &Progress) -> Vec<String> {
    match progress {
        Progress::Carrying { run } => {
            let branch = run
                .branch
                .as_deref()
                .map(|b| format!(" on {}", printable(b)))
                .unwrap_or_default();
            vec![format!(
                "run {} of {} at {}{branch} ({} path(s) changed)",
                run.id,
                printable(&run.pipeline),
                short(&run.rev),
                run.changed.len()
            )]
        }
        Progress::InWorktree { rev, .. } => vec![format!(
            "  in a worktree of {}: uncommitted changes are not part of the run",
            short(rev)
        )],
        Progress::Queued { run, behind } => vec![format!("run {run} queued behind run {behind}")],
        Progress::StepStarted {
            run,
            index,
            total,
            name,
        } => vec![format!(
            "==> run {run} [{}/{total}] {}",
            index + 1,
            printable(name)
        )],
        Progress::Line { line, .. } => vec![format!("    {}", printable(line))],
        Progress::StepFinished {
            run,
            name,
            state,
            elapsed,
            ..
        } => {
            let mark = if *state == StepState::Succeeded {
                "ok"
            } else {
                state.as_str()
            };
            vec![format!(
                "<== run {run} {}: {mark} ({:.1}s)",
                printable(name),
                elapsed.as_secs_f64()
            )]
        }
        Progress::Waiting { .. } => Vec::new(),
        Progress::Notified { deliveries, .. } => deliveries
            .iter()
            .map(|delivery| match &delivery.error {
                None => format!("    notified {}", printable(&delivery.channel)),
                Some(error) => format!(
                    "warning: notification to `{}` failed: {}",
                    printable(&delivery.channel),
                    printable(error)
                ),
            })
            .collect(),
        Progress::Finished { run, state, note } => {
            let note = note
                .as_deref()
                .map(|n| format!(": {}", printable(n)))
                .unwrap_or_default();
            vec![format!("run {run} {state}{note}")]
        }
    }
}

/// What `slipway pipeline trigger` says of the pipelines a change starts (or would start, on a
/// dry run): each with the first paths that made it start.
pub fn matching_lines(
    matching: &[(String, Change)],
    rev: &str,
    branch: Option<&str>,
    dry_run: bool,
) -> Vec<String> {
    if matching.is_empty() {
        let branch = printable(branch.unwrap_or("(no branch)"));
        return vec![format!("no pipeline starts for {} on {branch}", short(rev))];
    }
    let verb = if dry_run { "would start" } else { "starts" };
    matching
        .iter()
        .map(|(name, change)| {
            let paths = &change.paths;
            let shown: Vec<_> = paths.iter().take(5).map(|p| printable(p)).collect();
            let more = paths.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{} {verb}: {}{more}", printable(name), shown.join(", "))
        })
        .collect()
}

/// The table of `slipway pipeline list`: a header and a row per run.
pub fn list_lines(runs: &[Run]) -> Vec<String> {
    if runs.is_empty() {
        return vec!["no runs yet: `slipway pipeline run NAME` starts one".to_owned()];
    }
    let mut lines = vec![format!(
        "{:<5} {:<10} {:<12} {:<12} {:<14} {:<9} {:<20} STEP",
        "RUN", "PIPELINE", "STATE", "COMMIT", "BRANCH", "TRIGGER", "STARTED"
    )];
    for run in runs {
        let step = match run.state {
            RunState::Succeeded => String::new(),
            _ => run
                .current_step()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
        };
        lines.push(format!(
            "{:<5} {:<10} {:<12} {:<12} {:<14} {:<9} {:<20} {}",
            run.id,
            printable(&run.pipeline),
            run.state.as_str(),
            printable(short(&run.rev)),
            printable(run.branch.as_deref().unwrap_or("-")),
            printable(&run.trigger),
            time(run.created_at),
            printable(&step)
        ));
    }
    lines
}

/// `slipway pipeline show`: the run and its steps, its approvals, and its audit trail (given
/// newest first, shown oldest first).
pub fn show_lines(run: &Run, approvals: &[Approval], audit: &[AuditEntry]) -> Vec<String> {
    let branch = run
        .branch
        .as_deref()
        .map(|b| format!(" on {}", printable(b)))
        .unwrap_or_default();
    let mut lines = vec![format!(
        "run {} of {}: {} (commit {}{branch}, {} by {})",
        run.id,
        printable(&run.pipeline),
        run.state,
        printable(short(&run.rev)),
        printable(&run.trigger),
        printable(&run.started_by)
    )];
    if let Some(note) = &run.note {
        lines.push(format!("  {}", printable(note)));
    }
    for step in &run.steps {
        let took = match (step.started_at, step.finished_at) {
            (Some(a), Some(b)) => format!(" {}s", b - a),
            _ => String::new(),
        };
        lines.push(format!(
            "  {:<10} {}{took}",
            step.state.as_str(),
            printable(&step.name)
        ));
    }
    for approval in approvals {
        let decided = match (&approval.decided_by, approval.decided_at) {
            (Some(by), Some(at)) => format!(" by {} at {}", printable(by), time(at)),
            _ => String::new(),
        };
        let comment = approval
            .comment
            .as_deref()
            .map(|c| format!(": {}", printable(c)))
            .unwrap_or_default();
        let guards = approval
            .environment
            .as_deref()
            .map(|e| format!(" (deploy {})", printable(e)))
            .unwrap_or_default();
        lines.push(format!(
            "approval{guards}: {}{decided}{comment}",
            approval.state
        ));
    }
    lines.push("audit:".to_owned());
    for entry in audit.iter().rev() {
        let detail = entry
            .detail
            .as_deref()
            .map(|d| format!(" ({})", printable(d)))
            .unwrap_or_default();
        lines.push(format!(
            "  {}  {} {}{detail}",
            time(entry.at),
            printable(&entry.actor),
            printable(&entry.action)
        ));
    }
    lines
}

/// Hands each output line of run `id` to `line` (with the run, for its steps' names), from the
/// first; with `follow`, keeps looking every `poll` until the run ends (or is interrupted).
/// The run as it last was.
pub fn follow_logs(
    store: &RunStore,
    id: i64,
    follow: bool,
    poll: std::time::Duration,
    line: &mut dyn FnMut(&Run, &LogLine),
) -> crate::Result<Run> {
    let run = store.require(id)?;
    let mut after = 0;
    loop {
        for log in store.logs(id, after)? {
            after = log.seq;
            line(&run, &log);
        }
        let now = store.require(id)?;
        if !follow || now.state.is_finished() || now.state == RunState::Interrupted {
            return Ok(now);
        }
        std::thread::sleep(poll);
    }
}

/// The last line `slipway pipeline logs --follow` prints: how the run ended.
pub fn ended_line(run: &Run) -> String {
    let note = run
        .note
        .as_deref()
        .map(|n| format!(": {}", printable(n)))
        .unwrap_or_default();
    format!("run {} {}{note}", run.id, run.state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewRun;

    fn store_with_run(branch: Option<&str>) -> (tempfile::TempDir, RunStore, Run) {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(&dir.path().join("pipelines.db")).unwrap();
        let run = store
            .create(&NewRun {
                pipeline: "release".into(),
                kind: "release".into(),
                rev: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: branch.map(str::to_owned),
                trigger: "push".into(),
                started_by: "push of main".into(),
                changed: vec!["a".into(), "b".into()],
                steps: vec!["build".into(), "test stage".into()],
                ..NewRun::default()
            })
            .unwrap();
        (dir, store, run)
    }

    #[test]
    fn a_run_taken_up_names_its_commit_branch_and_changes() {
        let (_dir, _store, run) = store_with_run(Some("main"));
        let lines = progress_lines(&Progress::Carrying {
            run: Box::new(run.clone()),
        });
        assert_eq!(
            lines,
            [format!(
                "run {} of release at 0123456789ab on main (2 path(s) changed)",
                run.id
            )]
        );
        let lines = progress_lines(&Progress::StepStarted {
            run: run.id,
            index: 1,
            total: 2,
            name: "test stage".into(),
        });
        assert_eq!(lines, [format!("==> run {} [2/2] test stage", run.id)]);
    }

    #[test]
    fn a_step_line_with_terminal_escapes_is_shown_not_obeyed() {
        let lines = progress_lines(&Progress::Line {
            run: 1,
            index: 0,
            line: "\u{1b}]0;owned\u{7}".into(),
        });
        assert!(!lines[0].contains('\u{1b}'), "{lines:?}");
    }

    #[test]
    fn the_list_has_a_header_and_the_current_step_of_unfinished_runs() {
        assert_eq!(
            list_lines(&[]),
            ["no runs yet: `slipway pipeline run NAME` starts one"]
        );
        let (_dir, store, run) = store_with_run(None);
        let lines = list_lines(&[store.require(run.id).unwrap()]);
        assert!(lines[0].starts_with("RUN   PIPELINE"));
        assert!(lines[1].contains(" queued "), "{lines:?}");
        assert!(lines[1].contains(" - "), "no branch shows as -: {lines:?}");
        assert!(lines[1].ends_with("build"), "{lines:?}");
    }

    #[test]
    fn a_trigger_names_five_paths_and_counts_the_rest() {
        let change = Change {
            rev: "abc".into(),
            branch: Some("main".into()),
            base_rev: None,
            paths: (1..=7).map(|n| format!("app/{n}.py")).collect(),
        };
        let lines = matching_lines(&[("release".into(), change)], "abc", Some("main"), true);
        assert_eq!(
            lines,
            ["release would start: app/1.py, app/2.py, app/3.py, app/4.py, app/5.py and 2 more"]
        );
        assert_eq!(
            matching_lines(&[], "0123456789abcdef", None, false),
            ["no pipeline starts for 0123456789ab on (no branch)"]
        );
    }

    #[test]
    fn show_lists_steps_then_approvals_then_the_audit_oldest_first() {
        let (_dir, store, run) = store_with_run(Some("main"));
        store.audit("ana", "first", Some(run.id), None).unwrap();
        store
            .audit("ben", "second", Some(run.id), Some("why"))
            .unwrap();
        let audit = store.audit_log(Some(run.id), 50).unwrap();
        let lines = show_lines(&store.require(run.id).unwrap(), &[], &audit);
        assert!(lines[0].starts_with(&format!("run {} of release: queued", run.id)));
        assert!(lines[1].trim_start().starts_with("pending"), "{lines:?}");
        let audit_at = lines.iter().position(|l| l == "audit:").unwrap();
        // The run's creation is audited first, then the two entries in the order they came.
        assert!(lines[audit_at + 1].contains(" started "), "{lines:?}");
        assert!(lines[audit_at + 2].ends_with("ana first"), "{lines:?}");
        assert!(
            lines[audit_at + 3].ends_with("ben second (why)"),
            "{lines:?}"
        );
    }
}
