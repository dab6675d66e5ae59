//! `slipway pipeline run|trigger|list|show|logs|resume`, `slipway approve`, `slipway reject`:
//! the pipelines of slipway.toml carried out here, with live step output, and the gates decided
//! from any terminal.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use slipway_core::terminal::printable;
use slipway_pipeline::Progress;
use slipway_pipeline::changes::{self, Change, Checkout};
use slipway_pipeline::runner::{self, ProgressSink, Runner};
use slipway_pipeline::store::{Run, RunState, RunStore, StepState, short};

use super::Output;
use super::deploy::actor;
use super::project::Project;

/// Pipelines: run them, see their runs and logs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway pipeline run release             build, push, stage, wait for approval, deploy\n  slipway pipeline run release --rev v1.4   the same for another commit (in a worktree)\n  slipway pipeline trigger --dry-run        which pipelines the last commit starts\n  slipway pipeline list\n  slipway pipeline logs 12 --follow\n  slipway approve 12 --comment \"checked stage\""
)]
pub struct PipelineArgs {
    #[command(subcommand)]
    command: PipelineCommand,
    #[arg(long, default_value = ".", global = true)]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Debug, clap::Subcommand)]
enum PipelineCommand {
    /// Run one pipeline now, whatever changed, with live step output.
    #[command(
        after_help = "Examples:\n  slipway pipeline run release\n  slipway pipeline run base --rev main~1"
    )]
    Run {
        name: String,
        /// The commit to run (default: the checked-out one).
        #[arg(long, default_value = "HEAD")]
        rev: String,
    },
    /// Start the pipelines a push of REV to BRANCH starts: those whose `on.push` filters match
    /// the paths changed since each one last succeeded.
    #[command(
        after_help = "Examples:\n  slipway pipeline trigger                 the checked-out commit and branch\n  slipway pipeline trigger --rev 3f2a1c --branch main --dry-run\n  slipway pipeline trigger --branch feature/prices --pull-request main"
    )]
    Trigger {
        #[arg(long, default_value = "HEAD")]
        rev: String,
        /// Default: the checked-out branch.
        #[arg(long)]
        branch: Option<String>,
        /// Say which pipelines would start, and why, without starting them.
        #[arg(long)]
        dry_run: bool,
        /// A pull request of the branch into INTO (its `on.pull_request` pipelines) instead of
        /// a push.
        #[arg(long, value_name = "INTO")]
        pull_request: Option<String>,
    },
    /// The runs, newest first.
    #[command(
        after_help = "Examples:\n  slipway pipeline list\n  slipway pipeline list release --limit 5 --output json"
    )]
    List {
        /// Only this pipeline's runs.
        name: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run: its steps, approvals and audit trail.
    #[command(after_help = "Examples:\n  slipway pipeline show 12")]
    Show { run: i64 },
    /// A run's output, step by step.
    #[command(
        after_help = "Examples:\n  slipway pipeline logs 12\n  slipway pipeline logs 12 --follow"
    )]
    Logs {
        run: i64,
        /// Keep printing until the run ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Carry on an interrupted run from the step it stopped at.
    #[command(after_help = "Examples:\n  slipway pipeline resume 12")]
    Resume { run: i64 },
    /// Tell a pipeline's channels what its `notify` step tells them, from another CI system's
    /// job (`slipway ci export` writes these); SLIPWAY_RUN, SLIPWAY_COMMIT and SLIPWAY_BRANCH
    /// become the message's facts.
    #[command(
        after_help = "Examples:\n  slipway pipeline notify release\n  slipway pipeline notify release --event run-failed"
    )]
    Notify {
        name: String,
        /// Default: `base-published` for a base pipeline, else `run-succeeded`.
        #[arg(long, value_enum)]
        event: Option<PipelineEvent>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PipelineEvent {
    BasePublished,
    RunSucceeded,
    RunFailed,
}

/// Approve the gate a pipeline run waits at; the run goes on (here, if nothing else carries it).
/// You decide as the OS account running slipway (`user@host`, whatever `$USER` says); gates of
/// environments with `approval.via = "server"` are decided on the dashboard.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway approve 12\n  slipway approve 12 --comment \"checked stage\""
)]
pub struct ApproveArgs {
    run: i64,
    /// Why, kept in the audit log.
    #[arg(long, short)]
    comment: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

struct Pipelines {
    project: Project,
    store: Arc<RunStore>,
}

fn open(project: &std::path::Path) -> Result<Pipelines> {
    let project = Project::find(project)?;
    let store = RunStore::open(&project.state_dir().join("pipelines.db"))?;
    store.reap()?;
    Ok(Pipelines {
        project,
        store: Arc::new(store),
    })
}

pub fn run(args: PipelineArgs) -> Result<ExitCode> {
    if let PipelineCommand::Notify { name, event } = &args.command {
        return notify(&args.project, name, *event, args.output);
    }
    let context = open(&args.project)?;
    let output = args.output;
    match args.command {
        PipelineCommand::Run { name, rev } => {
            let root = &context.project.root;
            let rev = changes::resolve_rev(root, &rev)?;
            let branch = changes::current_branch(root);
            let change = changes::change_for(root, &context.store, &name, &rev, branch.as_deref())?;
            let run = runner::create_run(
                &context.project.manifest,
                &context.store,
                &name,
                &change,
                "manual",
                &actor(),
            )?;
            let runs = carry_out(&context, vec![run], output)?;
            finish(&runs, output)
        }
        PipelineCommand::Trigger {
            rev,
            branch,
            dry_run,
            pull_request,
        } => {
            let root = &context.project.root;
            let rev = changes::resolve_rev(root, &rev)?;
            let branch = branch.or_else(|| changes::current_branch(root));
            let (matching, trigger) = match pull_request {
                Some(into) => {
                    let branch = branch.clone().context(
                        "a pull request is of a branch: name it with --branch (HEAD is not on one)",
                    )?;
                    let event = changes::PullRequestEvent {
                        branch,
                        rev: rev.clone(),
                        into,
                    };
                    (
                        changes::pull_requested(&context.project.manifest, root, &event)?,
                        "pull-request",
                    )
                }
                None => (
                    changes::pushed(
                        &context.project.manifest,
                        &context.store,
                        root,
                        branch.as_deref(),
                        &rev,
                    )?,
                    "push",
                ),
            };
            if dry_run || matching.is_empty() {
                return print_matching(&matching, &rev, branch.as_deref(), dry_run, output);
            }
            let mut runs = Vec::new();
            for (name, change) in matching {
                runs.push(runner::create_run(
                    &context.project.manifest,
                    &context.store,
                    &name,
                    &change,
                    trigger,
                    &actor(),
                )?);
            }
            let runs = carry_out(&context, runs, output)?;
            finish(&runs, output)
        }
        PipelineCommand::List { name, limit } => {
            let runs = context.store.list(name.as_deref(), limit)?;
            print_list(&runs, output)
        }
        PipelineCommand::Show { run } => {
            let found = context.store.require(run)?;
            let approvals = context.store.approvals(run)?;
            let audit = context.store.audit_log(Some(run), 50)?;
            if output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run": found, "approvals": approvals, "audit": audit,
                    }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            print_run(&found);
            for approval in approvals {
                let decided = match (&approval.decided_by, approval.decided_at) {
                    (Some(by), Some(at)) => format!(" by {} at {}", printable(by), time(at)),
                    _ => String::new(),
                };
                let comment = approval
                    .comment
                    .map(|c| format!(": {}", printable(&c)))
                    .unwrap_or_default();
                let guards = approval
                    .environment
                    .map(|e| format!(" (deploy {})", printable(&e)))
                    .unwrap_or_default();
                println!("approval{guards}: {}{decided}{comment}", approval.state);
            }
            println!("audit:");
            for entry in audit.iter().rev() {
                let detail = entry
                    .detail
                    .as_deref()
                    .map(|d| format!(" ({})", printable(d)))
                    .unwrap_or_default();
                println!(
                    "  {}  {} {}{detail}",
                    time(entry.at),
                    printable(&entry.actor),
                    printable(&entry.action)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Logs { run, follow } => logs(&context, run, follow, output),
        PipelineCommand::Notify { .. } => unreachable!("handled before the history is opened"),
        PipelineCommand::Resume { run } => {
            let found = context.store.require(run)?;
            if runner::carried_elsewhere(&found) {
                bail!(
                    "run {run} is being carried out by {}; `slipway pipeline logs {run} --follow` shows it",
                    printable(&found.runner.unwrap_or_default())
                );
            }
            if found.state.is_finished() {
                bail!(
                    "run {run} has {} already: start a new one with `slipway pipeline run {}`",
                    found.state,
                    printable(&found.pipeline)
                );
            }
            let runs = carry_out(&context, vec![found], output)?;
            finish(&runs, output)
        }
    }
}

pub fn run_approve(args: ApproveArgs) -> Result<ExitCode> {
    decide(args, true)
}

pub fn run_reject(args: ApproveArgs) -> Result<ExitCode> {
    decide(args, false)
}

fn decide(args: ApproveArgs, approve: bool) -> Result<ExitCode> {
    let context = open(&args.project)?;
    let who = actor();
    let approval = runner::decide_at_terminal(
        &context.project.manifest,
        &context.store,
        args.run,
        &who,
        approve,
        args.comment.as_deref(),
    )?;
    let run = context.store.require(args.run)?;
    let verb = if approve { "approved" } else { "rejected" };
    if args.output == Output::Json && !approve {
        println!("{}", serde_json::to_string_pretty(&approval)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.output == Output::Text {
        eprintln!(
            "{verb} run {} of {} ({})",
            run.id,
            printable(&run.pipeline),
            printable(&who)
        );
    }
    if !approve {
        return Ok(ExitCode::SUCCESS);
    }
    if runner::carried_elsewhere(&run) {
        if args.output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&approval)?);
        } else {
            eprintln!(
                "run {} goes on in {}; `slipway pipeline logs {} --follow` shows it",
                run.id,
                printable(run.runner.as_deref().unwrap_or("its runner")),
                run.id
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Nothing waits on the gate any more (its terminal was closed): carry the run on here.
    if args.output == Output::Text {
        eprintln!("carrying run {} on here", run.id);
    }
    let runs = carry_out(&context, vec![run], args.output)?;
    finish(&runs, args.output)
}

/// Carries out `runs` side by side (a release may wait at its gate while a base run goes on).
/// Carries out `runs` and then the runs they start (a published base starts the
/// `on.base_published` pipelines); every run carried, in order.
fn carry_out(context: &Pipelines, runs: Vec<Run>, output: Output) -> Result<Vec<Run>> {
    let mut done = Vec::new();
    let mut next = runs;
    while !next.is_empty() {
        let finished = carry_out_once(context, next, output)?;
        next = Vec::new();
        for run in &finished {
            next.extend(runner::follow_ups(
                &context.project.manifest,
                &context.store,
                run,
            )?);
        }
        done.extend(finished);
    }
    Ok(done)
}

fn carry_out_once(context: &Pipelines, runs: Vec<Run>, output: Output) -> Result<Vec<Run>> {
    let project = &context.project;
    let exe = std::env::current_exe().context("cannot find the slipway binary")?;
    let state_dir = std::path::absolute(project.state_dir())?;
    let sink: ProgressSink = match output {
        Output::Text => Arc::new(print_progress),
        Output::Json => Arc::new(|_| {}),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut checkouts = Vec::new();
    let mut runners = Vec::new();
    for run in &runs {
        if output == Output::Text {
            let branch = run
                .branch
                .as_deref()
                .map(|b| format!(" on {}", printable(b)))
                .unwrap_or_default();
            eprintln!(
                "run {} of {} at {}{branch} ({} path(s) changed)",
                run.id,
                printable(&run.pipeline),
                short(&run.rev),
                run.changed.len()
            );
        }
        let checkout = Checkout::of(
            &project.root,
            &run.rev,
            &state_dir.join("worktrees"),
            run.id,
        )?;
        if checkout.is_worktree() && output == Output::Text {
            eprintln!(
                "  in a worktree of {}: uncommitted changes are not part of the run",
                short(&run.rev)
            );
        }
        runners.push(Runner {
            manifest: project.manifest.clone(),
            store: context.store.clone(),
            root: checkout.root.clone(),
            exe: exe.clone(),
            env: vec![(
                "SLIPWAY_STATE_DIR".to_owned(),
                state_dir.to_string_lossy().into_owned(),
            )],
            progress: sink.clone(),
            poll: Duration::from_millis(300),
            approval_link: None,
        });
        checkouts.push(checkout);
    }
    let results = runtime.block_on(futures_util::future::join_all(
        runners
            .iter()
            .zip(&runs)
            .map(|(runner, run)| runner.carry_out(run.id)),
    ));
    drop(checkouts);
    results.into_iter().map(|r| r.map_err(Into::into)).collect()
}

fn print_progress(progress: Progress) {
    let mut err = std::io::stderr().lock();
    let _ = match progress {
        Progress::Queued { run, behind } => {
            writeln!(err, "run {run} queued behind run {behind}")
        }
        Progress::StepStarted {
            run,
            index,
            total,
            name,
        } => {
            writeln!(
                err,
                "==> run {run} [{}/{total}] {}",
                index + 1,
                printable(&name)
            )
        }
        Progress::Line { line, .. } => writeln!(err, "    {}", printable(&line)),
        Progress::StepFinished {
            run,
            name,
            state,
            elapsed,
            ..
        } => {
            let mark = if state == StepState::Succeeded {
                "ok"
            } else {
                state.as_str()
            };
            writeln!(
                err,
                "<== run {run} {}: {mark} ({:.1}s)",
                printable(&name),
                elapsed.as_secs_f64()
            )
        }
        Progress::Waiting { .. } => Ok(()),
        Progress::Notified { deliveries, .. } => {
            for delivery in deliveries {
                let _ = match delivery.error {
                    None => writeln!(err, "    notified {}", printable(&delivery.channel)),
                    Some(error) => writeln!(
                        err,
                        "warning: notification to `{}` failed: {}",
                        printable(&delivery.channel),
                        printable(&error)
                    ),
                };
            }
            Ok(())
        }
        Progress::Finished { run, state, note } => {
            let note = note
                .map(|n| format!(": {}", printable(&n)))
                .unwrap_or_default();
            writeln!(err, "run {run} {state}{note}")
        }
    };
}

fn finish(runs: &[Run], output: Output) -> Result<ExitCode> {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(runs)?);
    }
    Ok(if runs.iter().all(|r| r.state == RunState::Succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_matching(
    matching: &[(String, Change)],
    rev: &str,
    branch: Option<&str>,
    dry_run: bool,
    output: Output,
) -> Result<ExitCode> {
    if output == Output::Json {
        let list: Vec<_> = matching
            .iter()
            .map(|(name, change)| serde_json::json!({ "pipeline": name, "changed": change.paths }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let branch = printable(branch.unwrap_or("(no branch)"));
    if matching.is_empty() {
        println!("no pipeline starts for {} on {branch}", short(rev));
    }
    for (name, change) in matching {
        let paths = &change.paths;
        let verb = if dry_run { "would start" } else { "starts" };
        let shown: Vec<_> = paths.iter().take(5).map(|p| printable(p)).collect();
        let more = paths.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        println!("{} {verb}: {}{more}", printable(name), shown.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(runs: &[Run], output: Output) -> Result<ExitCode> {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs yet: `slipway pipeline run NAME` starts one");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<5} {:<10} {:<12} {:<12} {:<14} {:<9} {:<20} STEP",
        "RUN", "PIPELINE", "STATE", "COMMIT", "BRANCH", "TRIGGER", "STARTED"
    );
    for run in runs {
        let step = match run.state {
            RunState::Succeeded => String::new(),
            _ => run
                .current_step()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
        };
        println!(
            "{:<5} {:<10} {:<12} {:<12} {:<14} {:<9} {:<20} {}",
            run.id,
            printable(&run.pipeline),
            run.state.as_str(),
            printable(short(&run.rev)),
            printable(run.branch.as_deref().unwrap_or("-")),
            printable(&run.trigger),
            time(run.created_at),
            printable(&step)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_run(run: &Run) {
    let branch = run
        .branch
        .as_deref()
        .map(|b| format!(" on {}", printable(b)))
        .unwrap_or_default();
    println!(
        "run {} of {}: {} (commit {}{branch}, {} by {})",
        run.id,
        printable(&run.pipeline),
        run.state,
        printable(short(&run.rev)),
        printable(&run.trigger),
        printable(&run.started_by)
    );
    if let Some(note) = &run.note {
        println!("  {}", printable(note));
    }
    for step in &run.steps {
        let took = match (step.started_at, step.finished_at) {
            (Some(a), Some(b)) => format!(" {}s", b - a),
            _ => String::new(),
        };
        println!(
            "  {:<10} {}{took}",
            step.state.as_str(),
            printable(&step.name)
        );
    }
}

fn logs(context: &Pipelines, id: i64, follow: bool, output: Output) -> Result<ExitCode> {
    let run = context.store.require(id)?;
    let mut after = 0;
    let mut step = None;
    loop {
        for line in context.store.logs(id, after)? {
            after = line.seq;
            if output == Output::Json {
                println!("{}", serde_json::to_string(&line)?);
                continue;
            }
            if step != Some(line.step) {
                step = Some(line.step);
                let name = run.steps.get(line.step).map_or("?", |s| s.name.as_str());
                println!("==> {}", printable(name));
            }
            println!("    {}", printable(&line.line));
        }
        let now = context.store.require(id)?;
        if !follow || now.state.is_finished() || now.state == RunState::Interrupted {
            if follow && output == Output::Text {
                let note = now
                    .note
                    .map(|n| format!(": {}", printable(&n)))
                    .unwrap_or_default();
                println!("run {id} {}{note}", now.state);
            }
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn time(at: i64) -> String {
    slipway_core::time::rfc3339(at.max(0) as u64)
}

/// What a pipeline's `notify` step (or its failure) tells the channels, for a run carried out by
/// another CI system: nothing of the run history is read or written.
fn notify(
    project: &std::path::Path,
    name: &str,
    event: Option<PipelineEvent>,
    output: Output,
) -> Result<ExitCode> {
    use slipway_core::manifest::{EventKind, PipelineKind};
    let project = Project::find(project)?;
    let manifest = &project.manifest;
    let (pipeline, kind) = slipway_pipeline::steps::pipeline(manifest, name)?;
    let event = match event {
        Some(PipelineEvent::BasePublished) => EventKind::BasePublished,
        Some(PipelineEvent::RunSucceeded) => EventKind::RunSucceeded,
        Some(PipelineEvent::RunFailed) => EventKind::RunFailed,
        None if kind == PipelineKind::Base => EventKind::BasePublished,
        None => EventKind::RunSucceeded,
    };
    let project_name = &manifest.project.name;
    let run = std::env::var("SLIPWAY_RUN").ok();
    let title = match (event, &run) {
        (EventKind::BasePublished, _) => format!("{project_name}: new base images are ready"),
        (EventKind::RunFailed, Some(run)) => format!("{project_name}: run {run} of {name} failed"),
        (EventKind::RunFailed, None) => format!("{project_name}: a run of {name} failed"),
        _ => format!("{project_name}: {name} pipeline went through"),
    };
    let mut facts = Vec::new();
    for (fact, var) in [
        ("run", "SLIPWAY_RUN"),
        ("commit", "SLIPWAY_COMMIT"),
        ("branch", "SLIPWAY_BRANCH"),
    ] {
        if let Ok(value) = std::env::var(var)
            && !value.is_empty()
        {
            let value = if fact == "commit" {
                short(&value).to_owned()
            } else {
                value
            };
            facts.push((fact.to_owned(), value));
        }
    }
    facts.insert(0, ("pipeline".to_owned(), name.to_owned()));
    let only = (!pipeline.notify.is_empty()).then(|| pipeline.notify.clone());
    super::notify::notify(manifest, event, None, title, facts, only.as_deref(), output);
    Ok(ExitCode::SUCCESS)
}
