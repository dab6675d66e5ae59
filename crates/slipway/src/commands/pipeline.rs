//! `slipway pipeline run|trigger|list|show|logs|resume|notify`: the pipelines of slipway.toml
//! carried out here through the pipeline scheduler, with live step output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use slipway_core::terminal::printable;
use slipway_pipeline::changes::{self, Change};
use slipway_pipeline::report;
use slipway_pipeline::runner::{self, ProgressSink};
use slipway_pipeline::store::{Run, RunState, RunStore};
use slipway_pipeline::{Scheduler, SchedulerSettings};

use super::Output;
use super::pipeline_runs as runs;
use super::project::Project;
use slipway_deploy::identity::actor;

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

pub(super) struct Pipelines {
    pub(super) project: Project,
    pub(super) store: Arc<RunStore>,
}

pub(super) fn open(project: &std::path::Path) -> Result<Pipelines> {
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
            let run = runner::create_manual_run(
                &context.project.manifest,
                &context.store,
                &context.project.root,
                &name,
                &rev,
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
            let pull_request = match (&pull_request, &branch) {
                (Some(into), Some(branch)) => Some((branch.as_str(), into.as_str())),
                (Some(_), None) => bail!(
                    "a pull request is of a branch: name it with --branch (HEAD is not on one)"
                ),
                (None, _) => None,
            };
            let (matching, trigger) = changes::triggered(
                &context.project.manifest,
                &context.store,
                root,
                &rev,
                branch.as_deref(),
                pull_request,
            )?;
            if dry_run || matching.is_empty() {
                return print_matching(&matching, &rev, branch.as_deref(), dry_run, output);
            }
            let manifest = &context.project.manifest;
            let runs = runner::create_runs(manifest, &context.store, matching, trigger, &actor())?;
            let runs = carry_out(&context, runs, output)?;
            finish(&runs, output)
        }
        PipelineCommand::List { name, limit } => {
            runs::list(&context, name.as_deref(), limit, output)
        }
        PipelineCommand::Show { run } => runs::show(&context, run, output),
        PipelineCommand::Logs { run, follow } => runs::logs(&context, run, follow, output),
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

/// Carries out `runs`, and the runs they start, through the pipeline scheduler; live progress
/// on stderr for a person.
pub(super) fn carry_out(context: &Pipelines, runs: Vec<Run>, output: Output) -> Result<Vec<Run>> {
    let project = &context.project;
    let progress: ProgressSink = match output {
        Output::Text => Arc::new(|progress| {
            for line in report::progress_lines(&progress) {
                eprintln!("{line}");
            }
        }),
        Output::Json => Arc::new(|_| {}),
    };
    let scheduler = Arc::new(Scheduler::new(SchedulerSettings {
        manifest: project.manifest.clone(),
        store: context.store.clone(),
        project_root: project.root.clone(),
        state_dir: std::path::absolute(project.state_dir())?,
        exe: std::env::current_exe().context("cannot find the slipway binary")?,
        progress,
        poll: Duration::from_millis(300),
        approval_link: None,
    }));
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    Ok(runtime.block_on(scheduler.carry_all(runs))?)
}

pub(super) fn print_lines(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}

pub(super) fn finish(runs: &[Run], output: Output) -> Result<ExitCode> {
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
    print_lines(&report::matching_lines(matching, rev, branch, dry_run));
    Ok(ExitCode::SUCCESS)
}

/// What a pipeline's `notify` step (or its failure) tells the channels, for a run carried out by
/// another CI system: nothing of the run history is read or written.
fn notify(
    project: &std::path::Path,
    name: &str,
    event: Option<PipelineEvent>,
    output: Output,
) -> Result<ExitCode> {
    use slipway_core::manifest::EventKind;
    let project = Project::find(project)?;
    let manifest = &project.manifest;
    let event = event.map(|event| match event {
        PipelineEvent::BasePublished => EventKind::BasePublished,
        PipelineEvent::RunSucceeded => EventKind::RunSucceeded,
        PipelineEvent::RunFailed => EventKind::RunFailed,
    });
    let variables = slipway_pipeline::variables::StepVariables::from_env();
    let (event, only) = slipway_pipeline::notify_step::notify_event(
        manifest,
        name,
        event,
        &variables,
        super::notify::now(),
    )?;
    super::notify::send(manifest, &event, only.as_deref(), output);
    Ok(ExitCode::SUCCESS)
}
