//! `slipway jobs`: an environment's scheduled jobs, their next and last runs, a run now; and the
//! runner's own commands (`slipway jobs runner ...`) inside its container.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use slipway_deploy::jobs::runner::{self, Runner};
use slipway_deploy::jobs::{JobRow, JobTable, Outcome, RunRecord};

use super::Output;
use super::deploy::with_deployer;
use super::environment::check_environment;
use super::project::Project;

/// List an environment's scheduled jobs with their next and last runs, or run one now.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  slipway jobs prod\n  slipway jobs prod --job report     the job's last runs and the output of the latest\n  slipway jobs run prod report       run it now; exits with its exit code\n  slipway jobs prod --output json"
)]
pub struct JobsArgs {
    #[command(subcommand)]
    action: Option<JobsAction>,
    /// The environment.
    environment: Option<String>,
    /// Show this job's recorded runs, and the output of the latest.
    #[arg(long)]
    job: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, clap::Subcommand)]
enum JobsAction {
    /// Run a job now, as its schedule would (never beside a run of it still going); prints its
    /// output and exits with its exit code.
    #[command(after_help = "Examples:\n  slipway jobs run prod report")]
    Run {
        environment: String,
        job: String,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The runner inside its container on a Docker host (started by deploys).
    #[command(hide = true)]
    Runner {
        #[command(subcommand)]
        command: RunnerCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
enum RunnerCommand {
    /// Run the jobs of the table on their schedules until stopped.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        table: PathBuf,
    },
    /// Print the jobs and the records as JSON.
    Status {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        table: PathBuf,
    },
    /// Ask the running runner to run a job now; prints the run's id.
    Trigger {
        job: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        table: PathBuf,
    },
}

pub fn run(args: JobsArgs) -> Result<ExitCode> {
    match args.action {
        Some(JobsAction::Runner { command }) => run_runner(command),
        Some(JobsAction::Run {
            environment,
            job,
            project,
            output,
        }) => run_now(&project, &environment, &job, output),
        None => {
            let environment = args
                .environment
                .context("name the environment: `slipway jobs ENV`")?;
            list(
                &args.project,
                &environment,
                args.job.as_deref(),
                args.output,
            )
        }
    }
}

fn list(project: &Path, environment: &str, job: Option<&str>, output: Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    check_environment(&project, environment)?;
    let rows = with_deployer(&project, environment, output, false, async |d| {
        Ok(d.jobs().await?)
    })?;
    if let Some(job) = job {
        let row = rows.iter().find(|r| r.name == job).with_context(|| {
            format!(
                "no job `{job}` is installed in `{environment}`; installed: {}",
                names(&rows)
            )
        })?;
        let runs = with_deployer(&project, environment, output, false, async |d| {
            Ok(d.job_runs(&row.name).await?)
        })?;
        match output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
            Output::Text => print_runs(&runs),
        }
        return Ok(ExitCode::SUCCESS);
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text if rows.is_empty() => {
            println!(
                "no scheduled jobs are installed in `{environment}` (deploys install [jobs.NAME])"
            )
        }
        Output::Text => print_rows(&rows),
    }
    Ok(ExitCode::SUCCESS)
}

fn names(rows: &[JobRow]) -> String {
    if rows.is_empty() {
        return "none".into();
    }
    rows.iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn when(seconds: Option<i64>) -> String {
    seconds.map_or("-".into(), |s| slipway_core::time::rfc3339(s.max(0) as u64))
}

fn outcome(record: &RunRecord) -> String {
    match (record.outcome, record.exit_code) {
        (Outcome::Failed, Some(code)) => format!("failed (exit {code})"),
        (outcome, _) => outcome.name().to_owned(),
    }
}

fn print_rows(rows: &[JobRow]) {
    println!(
        "{:<16} {:<10} {:<26} {:<21} LAST RUN",
        "JOB", "APP", "SCHEDULE", "NEXT RUN"
    );
    for row in rows {
        let schedule = if row.timezone == "UTC" {
            row.schedule.clone()
        } else {
            format!("{} {}", row.schedule, row.timezone)
        };
        let last = match &row.last_run {
            Some(run) => format!("{} at {}", outcome(run), when(Some(run.started_at))),
            None => "never".into(),
        };
        println!(
            "{:<16} {:<10} {:<26} {:<21} {last}{}",
            row.name,
            row.app,
            schedule,
            when(row.next_run),
            if row.running { " (a run is going)" } else { "" }
        );
    }
}

fn print_runs(runs: &[RunRecord]) {
    println!(
        "{:<34} {:<9} {:<21} {:<9} OUTCOME",
        "RUN", "TRIGGER", "STARTED", "TOOK"
    );
    for run in runs.iter().rev() {
        let took = run
            .finished_at
            .map_or("-".into(), |end| format!("{}s", end - run.started_at));
        let trigger = match run.trigger {
            slipway_deploy::jobs::Trigger::Schedule => "schedule",
            slipway_deploy::jobs::Trigger::Manual => "manual",
        };
        let reason = run
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        println!(
            "{:<34} {:<9} {:<21} {:<9} {}{reason}",
            run.id,
            trigger,
            when(Some(run.started_at)),
            took,
            outcome(run)
        );
    }
    if let Some(last) = runs.iter().rev().find(|r| !r.output.is_empty()) {
        println!("\noutput of {}:\n{}", last.id, last.output.trim_end());
    }
}

fn run_now(project: &Path, environment: &str, job: &str, output: Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    check_environment(&project, environment)?;
    let record = with_deployer(&project, environment, output, false, async |d| {
        Ok(d.run_job(job).await?)
    })
    .with_context(|| format!("running job `{job}` in `{environment}`"))?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&record)?),
        Output::Text => {
            print!("{}", record.output);
            eprintln!(
                "job {job}: run {} {}{}",
                record.id,
                outcome(&record),
                record
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(match (record.outcome, record.exit_code) {
        (_, Some(code)) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)),
        (Outcome::Succeeded, None) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn read_table(path: &PathBuf) -> Result<JobTable> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a job table", path.display()))
}

fn run_runner(command: RunnerCommand) -> Result<ExitCode> {
    match command {
        RunnerCommand::Serve { dir, table } => {
            let table = read_table(&table)?;
            super::runtime()?.block_on(async {
                let engine = slipway_docker::Engine::connect().await?;
                let (failures, mut failed) = tokio::sync::mpsc::unbounded_channel();
                let announcer = announcer(&table);
                tokio::spawn(async move {
                    while let Some(record) = failed.recv().await {
                        announcer(record).await;
                    }
                });
                Runner::new(engine, dir, table, failures).serve().await?;
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
        RunnerCommand::Status { dir, table } => {
            let table = read_table(&table)?;
            let status = slipway_deploy::jobs::docker::RunnerStatus {
                jobs: table.jobs,
                records: runner::read_records(&dir)?,
            };
            println!("{}", serde_json::to_string(&status)?);
            Ok(ExitCode::SUCCESS)
        }
        RunnerCommand::Trigger { job, dir, table } => {
            let table = read_table(&table)?;
            println!("{}", runner::request(&dir, &table, &job)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sends `job-failed` for a run to the table's channels; a channel that fails is reported in
/// the runner's log and never stops it.
fn announcer(
    table: &JobTable,
) -> impl Fn(RunRecord) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + use<> {
    let manifest = slipway_core::Manifest {
        project: slipway_core::manifest::Project {
            name: table.project.clone(),
            ..Default::default()
        },
        notifications: table.notifications.clone(),
        ..Default::default()
    };
    let environment = table.environment.clone();
    let manifest = std::sync::Arc::new(manifest);
    move |record: RunRecord| {
        let manifest = std::sync::Arc::clone(&manifest);
        let environment = environment.clone();
        Box::pin(async move {
            let event = slipway_notify::Event {
                kind: slipway_core::manifest::EventKind::JobFailed,
                title: format!(
                    "{}: job {} {} in {environment}",
                    manifest.project.name,
                    record.job,
                    outcome(&record)
                ),
                facts: vec![
                    ("Job".into(), record.job.clone()),
                    ("Run".into(), record.id.clone()),
                    ("Release".into(), record.release.clone()),
                    ("Outcome".into(), outcome(&record)),
                    (
                        "Why".into(),
                        record.reason.clone().unwrap_or_else(|| "-".into()),
                    ),
                    (
                        "Output".into(),
                        format!("slipway jobs {environment} --job {}", record.job),
                    ),
                ],
                project: manifest.project.name.clone(),
                environment: Some(environment.clone()),
                at: slipway_core::time::rfc3339(
                    record.finished_at.unwrap_or(record.started_at).max(0) as u64,
                ),
            };
            for delivery in slipway_notify::send(&manifest, &event, None).await {
                if let Some(error) = delivery.error {
                    println!(
                        "jobs: announcing the failure on `{}`: {error}",
                        delivery.channel
                    );
                }
            }
        })
    }
}
