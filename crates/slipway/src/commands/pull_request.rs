//! `slipway pull-request`: opens the pull request of a branch on the git host of `[git]` (or
//! finds the open one), asks its reviewers, and tells the notification channels. A branch
//! pipeline's `pull-request` step is this command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use slipway_core::terminal::printable;
use slipway_githost::{GitHostClient, PullRequestDraft, host_name};
use slipway_pipeline::changes::{current_branch, git};
use slipway_pipeline::variables::StepVariables;

use super::Output;
use super::project::Project;

/// Open the pull request of a branch (or find the open one) and ask for reviews.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway pull-request                      the checked-out branch into the default branch\n  slipway pull-request --branch feature/prices --dry-run\n  slipway pull-request --title \"Show prices in euros\" --output json"
)]
pub struct PullRequestArgs {
    /// The branch to merge (default: SLIPWAY_BRANCH in a pipeline, else the checked-out one).
    #[arg(long, env = slipway_pipeline::variables::BRANCH)]
    branch: Option<String>,
    /// The branch it merges into (default: `project.default_branch`).
    #[arg(long)]
    base: Option<String>,
    /// Default: the subject of the branch's newest commit.
    #[arg(long)]
    title: Option<String>,
    /// Print what would be sent, without calling the git host.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: PullRequestArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let manifest = &project.manifest;
    let Some(git_host) = &manifest.git else {
        bail!(
            "slipway.toml has no `[git]`: add `host`, `token = \"env:VAR\"` and `reviewers` (see docs/manifest.md)"
        );
    };
    let root = &project.root;
    let base = args
        .base
        .clone()
        .unwrap_or_else(|| manifest.project.default_branch().to_owned());
    let branch = match args.branch.clone().filter(|b| !b.is_empty()) {
        Some(branch) => branch,
        None => current_branch(root).context(
            "HEAD is not on a branch: name the branch with --branch (a pipeline passes SLIPWAY_BRANCH)",
        )?,
    };
    if branch == base {
        bail!(
            "a pull request merges a branch into `{base}`, and `{branch}` is `{base}` itself: run it on a feature branch or name one with --branch"
        );
    }
    let variables = StepVariables::from_env();
    let rev = variables
        .commit
        .clone()
        .unwrap_or_else(|| "HEAD".to_owned());
    let title = match &args.title {
        Some(title) => title.clone(),
        None => git(root, &["log", "-1", "--format=%s", &rev])?,
    };
    let draft = PullRequestDraft {
        body: body(root, &base, &rev),
        branch,
        base,
        title,
    };
    let host = host_name(git_host.host);
    if args.dry_run {
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::json!({
                    "host": host,
                    "branch": draft.branch,
                    "base": draft.base,
                    "title": draft.title,
                    "body": draft.body,
                    "reviewers": git_host.reviewers,
                    "draft": git_host.draft,
                })
            ),
            Output::Text => {
                println!(
                    "would open on {host}: {} → {}: {}",
                    printable(&draft.branch),
                    printable(&draft.base),
                    printable(&draft.title)
                );
                if !git_host.reviewers.is_empty() {
                    println!("reviewers: {}", git_host.reviewers.join(", "));
                }
                // The body has lines of its own (one per commit): each is made safe.
                let body: Vec<_> = draft.body.split('\n').map(printable).collect();
                println!("\n{}", body.join("\n"));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let origin = git(root, &["remote", "get-url", "origin"]).ok();
    let client = GitHostClient::new(git_host, origin.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let pull = runtime
        .block_on(client.open(&draft, &git_host.reviewers, git_host.draft))
        .with_context(|| {
            format!(
                "cannot open the pull request of {} on {}",
                draft.branch,
                client.repository()
            )
        })?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string(&pull)?),
        Output::Text => {
            let verb = if pull.created {
                "opened"
            } else {
                "already open:"
            };
            println!("{verb} #{} {}", pull.number, printable(&pull.url));
            if !pull.reviewers.is_empty() {
                println!("review asked of {}", pull.reviewers.join(", "));
            }
        }
    }
    let only = variables
        .pipeline
        .as_ref()
        .and_then(|name| manifest.pipelines.get(name))
        .map(|pipeline| pipeline.notify.clone())
        .filter(|names| !names.is_empty());
    let event = slipway_notify::events::pull_request_opened(
        &manifest.project.name,
        slipway_notify::events::PullRequest {
            number: pull.number,
            title: &draft.title,
            url: &pull.url,
            branch: &draft.branch,
            into: &draft.base,
            reviewers: &pull.reviewers,
        },
        super::notify::now(),
    );
    super::notify::send(manifest, &event, only.as_deref(), args.output);
    Ok(ExitCode::SUCCESS)
}

/// The commits the branch adds over `base` (when `base` is known here), and who opened it.
fn body(root: &std::path::Path, base: &str, rev: &str) -> String {
    let mut body = String::new();
    let known_base = [format!("origin/{base}"), base.to_owned()]
        .into_iter()
        .find(|candidate| git(root, &["rev-parse", "--verify", "--quiet", candidate]).is_ok());
    if let Some(known_base) = known_base
        && let Ok(log) = git(
            root,
            &[
                "log",
                "--format=- %s (%h)",
                "--no-merges",
                &format!("{known_base}..{rev}"),
            ],
        )
        && !log.is_empty()
    {
        body.push_str(&log);
        body.push_str("\n\n");
    }
    let variables = StepVariables::from_env();
    match (variables.pipeline, variables.run) {
        (Some(pipeline), Some(run)) => body.push_str(&format!(
            "Opened by slipway: run {run} of the {pipeline} pipeline passed its checks."
        )),
        _ => body.push_str("Opened by slipway."),
    }
    body
}
