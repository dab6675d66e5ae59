//! `slipway ci export`: the pipelines of slipway.toml as another CI system's own files, so a team
//! keeps GitHub Actions, GitLab CI or CodePipeline and still runs exactly slipway's steps. Each
//! step is the same slipway command the runner would start; the approval gate becomes the
//! system's own (a GitHub environment with required reviewers, a GitLab manual job, a
//! CodePipeline manual approval action); what a step leaves in the state dir (the built images'
//! digests) travels to the jobs after the gate as an artifact.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use slipway_core::Manifest;
use slipway_core::manifest::{GitFilter, Pipeline, PipelineKind};

use crate::environment::{Holder, references, step_environment};
use crate::steps::{Action, kind_of, plan};
use crate::yaml::to_yaml;
use crate::{PipelineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiSystem {
    Github,
    Gitlab,
    Codebuild,
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The project's directory relative to the repository's top (`""` at the top): CI files
    /// live at the top, steps run in the project.
    pub project_dir: String,
    /// The shell command that installs slipway on a fresh CI machine.
    pub install: String,
    /// GitLab's job image and CodeBuild's build image, pinned by digest; DEFAULT_IMAGE when
    /// `None`.
    pub image: Option<String>,
    /// Only these pipelines; all when empty.
    pub pipelines: Vec<String>,
}

/// The image GitLab jobs and CodeBuild steps run in when `--image` names none: Rust's official
/// image, since slipway is installed with cargo (`--install`), pinned by the digest its tag
/// named when it was chosen, so every run of a pipeline starts from the same bytes. The digest
/// is the one public Dockerfiles pin `rust:1.95.0-bookworm` and `rust:1.95-bookworm` to (it
/// could not be fetched from Docker Hub where it was chosen); move tag and digest together.
pub const DEFAULT_IMAGE: &str =
    "rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1";

/// Whether `image` names its content by digest (`NAME[:TAG]@sha256:<64 hex>`).
fn pinned_by_digest(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(name, digest)| {
        !name.is_empty()
            && digest.len() == 64
            && digest
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// `image` without its tag, for CodeBuild, which takes a digest as `REPOSITORY@DIGEST` only.
fn without_tag(image: &str) -> String {
    match image.split_once('@') {
        Some((name, digest)) => {
            let (path, last) = name.rsplit_once('/').unwrap_or(("", name));
            let repository = last.split(':').next().unwrap_or(last);
            if path.is_empty() {
                format!("{repository}@{digest}")
            } else {
                format!("{path}/{repository}@{digest}")
            }
        }
        None => image.to_owned(),
    }
}

impl ExportOptions {
    /// The image to run in: `--image`, which must be pinned by digest, or DEFAULT_IMAGE.
    fn image(&self) -> Result<String> {
        match &self.image {
            Some(image) if pinned_by_digest(image) => Ok(image.clone()),
            Some(image) => Err(PipelineError::ImageNotPinned {
                image: image.clone(),
            }),
            None => Ok(DEFAULT_IMAGE.to_owned()),
        }
    }

    pub fn default_install() -> String {
        format!(
            "cargo install --locked slipway --version {}",
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// A file to write, relative to the repository's top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiFile {
    pub path: String,
    pub contents: String,
}

/// One job's worth of steps: those before the first gate, then those after each gate.
#[derive(Debug, Clone)]
struct Segment {
    gate: Option<Gate>,
    steps: Vec<CiStep>,
}

#[derive(Debug, Clone)]
struct Gate {
    /// The environment it guards; `approval` when it names none and no deploy follows.
    environment: String,
    approvers: Vec<String>,
}

#[derive(Debug, Clone)]
struct CiStep {
    name: String,
    /// A shell line.
    command: String,
    /// Set for a deploy that a gate confirmed: it names who approved where.
    approved_in: Option<String>,
    /// The `pull-request` step: it calls the git host's API with `[git] token`.
    opens_pull_request: bool,
    /// The `env:` variables of slipway.toml this step gets, as the runner gives them: an
    /// environment's secrets to the steps acting on it, the git host's token to `pull-request`
    /// only, the notification channels' to slipway's own steps.
    secrets: Vec<String>,
}

struct Exported<'m> {
    name: &'m str,
    pipeline: &'m Pipeline,
    kind: PipelineKind,
    segments: Vec<Segment>,
}

pub fn export(
    manifest: &Manifest,
    system: CiSystem,
    options: &ExportOptions,
) -> Result<Vec<CiFile>> {
    for name in &options.pipelines {
        crate::steps::pipeline(manifest, name)?;
    }
    let image = options.image()?;
    let mut exported = Vec::new();
    for (name, pipeline) in &manifest.pipelines {
        if !options.pipelines.is_empty() && !options.pipelines.contains(name) {
            continue;
        }
        exported.push(Exported {
            name,
            pipeline,
            kind: kind_of(name, pipeline),
            segments: segments(manifest, name, pipeline)?,
        });
    }
    if exported.is_empty() {
        return Err(PipelineError::UnknownPipeline {
            name: "to export".into(),
            hint: ": add a `[pipelines.release]` table (see docs/manifest.md)".into(),
        });
    }
    let secrets = secret_variables(manifest);
    Ok(match system {
        CiSystem::Github => exported
            .iter()
            .map(|e| github(manifest, e, options))
            .collect(),
        CiSystem::Gitlab => vec![gitlab(manifest, &exported, &secrets, options, &image)],
        CiSystem::Codebuild => exported
            .iter()
            .flat_map(|e| codebuild(manifest, e, options, &image))
            .collect(),
    })
}

fn segments(manifest: &Manifest, name: &str, pipeline: &Pipeline) -> Result<Vec<Segment>> {
    let mut segments = vec![Segment {
        gate: None,
        steps: Vec::new(),
    }];
    let mut approved: Vec<String> = Vec::new();
    // Every variable present, so that what a step gets is the runner's own choice.
    let runner_environment: BTreeMap<String, String> = secret_variables(manifest)
        .into_iter()
        .map(|var| (var, String::new()))
        .collect();
    for step in plan(manifest, pipeline)? {
        let opens_pull_request = matches!(&step.action, Action::Slipway(args) if args.first().is_some_and(|a| a == "pull-request"));
        let secrets: Vec<String> = match step.action {
            // `slipway pipeline notify` tells the channels itself.
            Action::Notify => notification_variables(manifest),
            _ => step_environment(manifest, &step, &runner_environment)
                .into_keys()
                .collect(),
        };
        let ci_step = |command: String| CiStep {
            name: step.name.clone(),
            command,
            approved_in: None,
            opens_pull_request,
            secrets: secrets.clone(),
        };
        match step.action {
            Action::Approve { environment } => {
                let environment = environment.unwrap_or_else(|| "approval".to_owned());
                let approvers = manifest
                    .environments
                    .get(&environment)
                    .map(|e| e.approval.approvers.clone())
                    .unwrap_or_default();
                approved.push(environment.clone());
                segments.push(Segment {
                    gate: Some(Gate {
                        environment,
                        approvers,
                    }),
                    steps: Vec::new(),
                });
            }
            Action::Slipway(args) => {
                let line = shell_line(&args);
                segments
                    .last_mut()
                    .expect("one segment")
                    .steps
                    .push(ci_step(format!("slipway {line}")));
            }
            Action::Deploy { environment } => {
                let confirmed = approved.contains(&environment);
                let mut command = format!("slipway deploy {}", shell_word(&environment));
                if confirmed {
                    command.push_str(" --yes");
                }
                let mut planned = ci_step(command);
                planned.approved_in = confirmed.then_some(environment);
                segments
                    .last_mut()
                    .expect("one segment")
                    .steps
                    .push(planned);
            }
            Action::Command(argv) => {
                let command = match argv.as_slice() {
                    [shell, flag, script] if shell == "/bin/sh" && flag == "-c" => script.clone(),
                    _ => shell_line(&argv),
                };
                segments
                    .last_mut()
                    .expect("one segment")
                    .steps
                    .push(ci_step(command));
            }
            Action::Notify => {
                let command = format!("slipway pipeline notify {}", shell_word(name));
                segments
                    .last_mut()
                    .expect("one segment")
                    .steps
                    .push(ci_step(command));
            }
        }
    }
    // A gate right at the start leaves an empty first segment; a gate at the end guards nothing.
    segments.retain(|s| !s.steps.is_empty());
    Ok(segments)
}

/// The variables of the notification channels (webhook URLs, SMTP passwords): what
/// `slipway pipeline notify` reads.
fn notification_variables(manifest: &Manifest) -> Vec<String> {
    let references = references(manifest);
    let mut out: Vec<String> = references
        .iter()
        .filter(|(_, holder)| *holder == Holder::Project)
        .map(|(var, _)| var.clone())
        .filter(|var| {
            // One also held by the server or the git host stays theirs.
            !references
                .iter()
                .any(|(v, h)| v == var && matches!(h, Holder::Server | Holder::GitHost))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The variables slipway.toml reads with `env:VAR` (secrets, credentials, tokens, webhook
/// URLs): the CI system passes them in from its own secret store.
fn secret_variables(manifest: &Manifest) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::String(s) => {
                if let Some(var) = s.strip_prefix("env:")
                    && !var.is_empty()
                    && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    out.insert(var.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(mut value) = serde_json::to_value(manifest) {
        // The server's logins and webhook secret belong to `slipway serve`, not to CI jobs.
        if let Some(map) = value.as_object_mut() {
            map.remove("server");
        }
        walk(&value, &mut out);
    }
    out
}

fn header(system: &str) -> String {
    format!(
        "# Written by `slipway ci export {system}` from slipway.toml: change the pipelines there and\n# export again (`slipway ci export {system} --check` fails when this file is out of date).\n"
    )
}

fn in_project(options: &ExportOptions, path: &str) -> String {
    if options.project_dir.is_empty() {
        path.to_owned()
    } else {
        format!("{}/{path}", options.project_dir)
    }
}

/// Globs of slipway.toml, relative to the project, as the repository's top sees them.
fn in_project_all(options: &ExportOptions, globs: &[String]) -> Vec<String> {
    globs.iter().map(|glob| in_project(options, glob)).collect()
}

fn state_dir(manifest: &Manifest, options: &ExportOptions) -> String {
    let dir = manifest.project.state_dir.as_deref().unwrap_or(".slipway");
    in_project(options, &format!("{}/", dir.trim_end_matches('/')))
}

/// What of the state dir never travels between jobs: rendered config and each release's env
/// files hold secrets, and an artifact can be downloaded by anyone who may read the repository.
/// Later steps render them again.
fn state_secrets(manifest: &Manifest, options: &ExportOptions) -> Vec<String> {
    let dir = state_dir(manifest, options);
    vec![format!("{dir}config/**"), format!("{dir}releases/**")]
}

fn push_filter(pipeline: &Pipeline) -> Option<&GitFilter> {
    pipeline.on.push.as_ref()
}

// ---------------------------------------------------------------------------------------------
// GitHub Actions

/// An action the exported workflows use, pinned to the commit its release tag points at: a tag
/// can be moved to other code, a commit cannot. The version goes beside it as a comment, for the
/// reader and for Dependabot or Renovate, which move both together.
struct PinnedAction {
    name: &'static str,
    commit: &'static str,
    version: &'static str,
}

/// Every action the exported workflows use, each at a release that runs on Node 24 (GitHub's
/// runners dropped Node 20 in September 2026). The commits are those the release tags point at,
/// as Dependabot resolved them in its update pull requests ("Commits: compare ...") and as
/// projects that pin actions record them beside the same version comment.
const PINNED_ACTIONS: &[PinnedAction] = &[
    PinnedAction {
        name: "actions/checkout",
        commit: "3d3c42e5aac5ba805825da76410c181273ba90b1",
        version: "v7.0.1",
    },
    PinnedAction {
        name: "actions/upload-artifact",
        commit: "043fb46d1a93c77aae656e7c1c64a875d1fc6a0a",
        version: "v7.0.1",
    },
    PinnedAction {
        name: "actions/download-artifact",
        commit: "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        version: "v8.0.1",
    },
];

/// `uses:` of the action `name`, pinned by commit.
fn uses(name: &str) -> String {
    let pinned = PINNED_ACTIONS
        .iter()
        .find(|action| action.name == name)
        .expect("every action the export uses is pinned in PINNED_ACTIONS");
    format!("{}@{}", pinned.name, pinned.commit)
}

/// `yaml` with comments at the ends of some lines: each pinned `uses:` gets its version
/// (`...@<commit> # v7.0.1`), and each write permission why the job needs it.
fn with_comments(yaml: &str) -> String {
    let mut notes: Vec<(String, String)> = PINNED_ACTIONS
        .iter()
        .map(|action| {
            (
                format!("uses: {}@{}", action.name, action.commit),
                action.version.to_owned(),
            )
        })
        .collect();
    notes.push((
        "pull-requests: write".to_owned(),
        "the pull-request step opens the pull request with this token ([git] token)".to_owned(),
    ));
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.split_inclusive('\n') {
        match notes
            .iter()
            .find(|(end, _)| line.trim_end().ends_with(end.as_str()))
        {
            Some((_, note)) => {
                out.push_str(line.trim_end());
                out.push_str(&format!(" # {note}\n"));
            }
            None => out.push_str(line),
        }
    }
    out
}

fn github(manifest: &Manifest, exported: &Exported, options: &ExportOptions) -> CiFile {
    let name = exported.name;
    let default_branch = manifest.project.default_branch();
    let mut on = Map::new();
    if let Some(filter) = push_filter(exported.pipeline) {
        let mut push = Map::new();
        let mut branches: Vec<String> = filter.branches.clone();
        if exported.kind == PipelineKind::Branch {
            // A branch pipeline never runs on the branch it would merge into.
            if branches.is_empty() {
                push.insert("branches-ignore".into(), json!([default_branch]));
            } else {
                branches.push(format!("!{default_branch}"));
            }
        }
        if !branches.is_empty() {
            push.insert("branches".into(), json!(branches));
        } else if exported.kind != PipelineKind::Branch {
            // Without a branch filter GitHub runs the workflow for tag pushes too.
            push.insert("branches".into(), json!(["**"]));
        }
        github_paths(&mut push, filter, options);
        on.insert("push".into(), Value::Object(push));
    }
    if let Some(filter) = &exported.pipeline.on.pull_request {
        let mut pull_request = Map::new();
        if !filter.branches.is_empty() {
            pull_request.insert("branches".into(), json!(filter.branches));
        }
        github_paths(&mut pull_request, filter, options);
        on.insert("pull_request".into(), Value::Object(pull_request));
    }
    on.insert("workflow_dispatch".into(), json!({}));

    let mut env = Map::new();
    env.insert("SLIPWAY_PIPELINE".into(), json!(name));
    env.insert("SLIPWAY_RUN".into(), json!("${{ github.run_id }}"));
    // On a pull request, github.sha is a merge commit GitHub made; the run is of the head.
    let commit = if exported.pipeline.on.pull_request.is_some() {
        "${{ github.event.pull_request.head.sha || github.sha }}"
    } else {
        "${{ github.sha }}"
    };
    env.insert("SLIPWAY_COMMIT".into(), json!(commit));
    env.insert(
        "SLIPWAY_BRANCH".into(),
        json!("${{ github.head_ref || github.ref_name }}"),
    );

    let artifact = format!("slipway-state-{name}");
    let mut jobs = Map::new();
    let mut previous: Option<String> = None;
    let mut ids = Vec::new();
    let last = exported.segments.len().saturating_sub(1);
    for (index, segment) in exported.segments.iter().enumerate() {
        let id = match &segment.gate {
            None => format!("steps-{}", index + 1),
            Some(gate) => unique_id(&ids, &format!("approved-{}", slug(&gate.environment))),
        };
        let mut steps = vec![
            checkout(exported),
            json!({ "name": "Install slipway", "run": github_literal(&options.install) }),
        ];
        if previous.is_some() {
            steps.push(json!({
                "name": "What the steps before the approval left",
                "uses": uses("actions/download-artifact"),
                "with": { "name": artifact, "path": state_dir(manifest, options) },
            }));
        }
        for step in &segment.steps {
            let mut entry = Map::new();
            entry.insert("name".into(), json!(github_literal(&step.name)));
            let mut step_env = github_secrets(&step.secrets);
            if step.command.contains("${{") {
                // GitHub would evaluate the expression inside the script itself; from the
                // environment the shell gets the line as written, run as the runner runs it.
                entry.insert("run".into(), json!("/bin/sh -c \"$SLIPWAY_STEP_SCRIPT\""));
                step_env.insert(
                    "SLIPWAY_STEP_SCRIPT".into(),
                    json!(github_literal(&step.command)),
                );
            } else {
                entry.insert("run".into(), json!(step.command));
            }
            if let Some(environment) = &step.approved_in {
                step_env.insert(
                    "SLIPWAY_STARTED_BY".into(),
                    json!(format!("approved in the GitHub environment {environment}, run ${{{{ github.run_id }}}}")),
                );
            }
            if !step_env.is_empty() {
                entry.insert("env".into(), Value::Object(step_env));
            }
            steps.push(Value::Object(entry));
        }
        if index < last {
            steps.push(json!({
                "uses": uses("actions/upload-artifact"),
                "with": {
                    "name": artifact,
                    "path": std::iter::once(state_dir(manifest, options))
                        .chain(state_secrets(manifest, options).iter().map(|p| format!("!{p}")))
                        .collect::<Vec<_>>()
                        .join("\n") + "\n",
                    "include-hidden-files": true,
                    // Each job before a later gate uploads it again.
                    "overwrite": true,
                    "retention-days": 7,
                },
            }));
        }
        let mut job = Map::new();
        job.insert("name".into(), json!(github_literal(&job_title(segment))));
        if let Some(needs) = &previous {
            job.insert("needs".into(), json!([needs]));
        }
        if let Some(gate) = &segment.gate {
            // The environment's required reviewers (repository settings → Environments) are
            // GitHub's approval gate; they should be approval.approvers.
            job.insert("environment".into(), json!(gate.environment));
        }
        job.insert(
            "permissions".into(),
            job_permissions(manifest, &segment.steps.iter().collect::<Vec<_>>()),
        );
        job.insert("runs-on".into(), json!("ubuntu-latest"));
        if !options.project_dir.is_empty() {
            job.insert(
                "defaults".into(),
                json!({ "run": { "working-directory": options.project_dir } }),
            );
        }
        job.insert("steps".into(), Value::Array(steps));
        jobs.insert(id.clone(), Value::Object(job));
        ids.push(id.clone());
        previous = Some(id);
    }
    if !manifest.notifications.is_empty() {
        let mut job = Map::new();
        job.insert("name".into(), json!("tell the channels the run failed"));
        job.insert("needs".into(), json!(ids));
        job.insert("if".into(), json!("${{ failure() }}"));
        job.insert("permissions".into(), job_permissions(manifest, &[]));
        job.insert("runs-on".into(), json!("ubuntu-latest"));
        if !options.project_dir.is_empty() {
            job.insert(
                "defaults".into(),
                json!({ "run": { "working-directory": options.project_dir } }),
            );
        }
        job.insert(
            "steps".into(),
            json!([
                checkout(exported),
                { "name": "Install slipway", "run": github_literal(&options.install) },
                with_env(
                    json!({ "name": "notify run-failed", "run": format!("slipway pipeline notify {} --event run-failed", shell_word(name)) }),
                    github_secrets(&notification_variables(manifest)),
                ),
            ]),
        );
        jobs.insert("notify-failure".into(), Value::Object(job));
    }

    let mut workflow = Map::new();
    workflow.insert("name".into(), json!(format!("slipway {name}")));
    workflow.insert("on".into(), Value::Object(on));
    // Nothing by default: each job asks for what its steps need.
    workflow.insert("permissions".into(), json!({}));
    let concurrency = match exported.kind {
        // One release (or one publish of the shared bases) at a time; the next waits instead of
        // cancelling this one halfway through a deploy or a push.
        PipelineKind::Release | PipelineKind::Base => {
            json!({ "group": format!("slipway-{name}"), "cancel-in-progress": false })
        }
        // A newer push to the same branch makes the older run's checks moot.
        PipelineKind::Branch => {
            json!({ "group": format!("slipway-{name}-${{{{ github.ref }}}}"), "cancel-in-progress": true })
        }
    };
    workflow.insert("concurrency".into(), concurrency);
    workflow.insert("env".into(), Value::Object(env));
    workflow.insert("jobs".into(), Value::Object(jobs));
    let mut contents = header("github");
    if let Some(approvers) = approvers_note(exported) {
        contents.push_str(&format!(
            "# Approval: give each environment below required reviewers in the repository's settings\n# (Settings → Environments): {approvers}.\n"
        ));
    }
    contents.push_str(&with_comments(&to_yaml(&Value::Object(workflow))));
    CiFile {
        path: format!(".github/workflows/slipway-{name}.yml"),
        contents,
    }
}

/// `text` as GitHub shows it, with no expression of its own: a `${{` that slipway.toml's commands
/// or names carry would be evaluated, showing whatever it names (a pull request's title, a
/// branch name) instead of the text. It is written as the expression that gives `${{` back.
fn github_literal(text: &str) -> String {
    text.replace("${{", "${{ '${{' }}")
}

/// Each variable from the repository's secret of the same name: given to the steps that read
/// it, never to the whole workflow, where every action's code could read it too.
fn github_secrets(vars: &[String]) -> Map<String, Value> {
    vars.iter()
        .map(|var| (var.clone(), json!(format!("${{{{ secrets.{var} }}}}"))))
        .collect()
}

/// `step` with `env`, when there is any.
fn with_env(mut step: Value, env: Map<String, Value>) -> Value {
    if !env.is_empty()
        && let Some(map) = step.as_object_mut()
    {
        map.insert("env".into(), Value::Object(env));
    }
    step
}

/// The repository at the run's commit, with its history (steps read pull request bodies and base
/// tags). The job's token is not left in `.git/config`: no step pushes with it, and the state
/// dir travels on as an artifact anyone who can read the repository can download.
fn checkout(exported: &Exported) -> Value {
    let mut with = Map::new();
    with.insert("fetch-depth".into(), json!(0));
    if exported.pipeline.on.pull_request.is_some() {
        with.insert(
            "ref".into(),
            json!("${{ github.event.pull_request.head.sha || github.sha }}"),
        );
    }
    with.insert("persist-credentials".into(), json!(false));
    json!({ "uses": uses("actions/checkout"), "with": with })
}

/// What the job's `GITHUB_TOKEN` may do: read the repository, and, for a `pull-request` step
/// when `[git] token` is the workflow's own token (`env:GITHUB_TOKEN`), open and update pull
/// requests. Nothing else: the other steps' credentials come from secrets.
fn job_permissions(manifest: &Manifest, steps: &[&CiStep]) -> Value {
    let mut permissions = Map::new();
    permissions.insert("contents".into(), json!("read"));
    let token_is_the_workflows = manifest
        .git
        .as_ref()
        .is_some_and(|git| git.token == "env:GITHUB_TOKEN");
    if token_is_the_workflows && steps.iter().any(|step| step.opens_pull_request) {
        permissions.insert("pull-requests".into(), json!("write"));
    }
    Value::Object(permissions)
}

fn github_paths(target: &mut Map<String, Value>, filter: &GitFilter, options: &ExportOptions) {
    let paths = in_project_all(options, &filter.paths);
    let ignored = in_project_all(options, &filter.ignore_paths);
    match (paths.is_empty(), ignored.is_empty()) {
        (true, true) if !options.project_dir.is_empty() => {
            target.insert("paths".into(), json!([in_project(options, "**")]));
        }
        (true, true) => {}
        (false, true) => {
            target.insert("paths".into(), json!(paths));
        }
        (true, false) if options.project_dir.is_empty() => {
            target.insert("paths-ignore".into(), json!(ignored));
        }
        // GitHub takes `paths` or `paths-ignore`, not both: later `!` patterns exclude.
        _ => {
            let mut all = if paths.is_empty() {
                vec![in_project(options, "**")]
            } else {
                paths
            };
            all.extend(ignored.iter().map(|p| format!("!{p}")));
            target.insert("paths".into(), json!(all));
        }
    }
}

fn approvers_note(exported: &Exported) -> Option<String> {
    let gates: Vec<String> = exported
        .segments
        .iter()
        .filter_map(|s| s.gate.as_ref())
        .map(|gate| {
            if gate.approvers.is_empty() {
                format!("{} (anyone with access)", gate.environment)
            } else {
                format!("{} ({})", gate.environment, gate.approvers.join(", "))
            }
        })
        .collect();
    (!gates.is_empty()).then(|| gates.join("; "))
}

fn job_title(segment: &Segment) -> String {
    let steps: Vec<&str> = segment.steps.iter().map(|s| s.name.as_str()).collect();
    match &segment.gate {
        None => steps.join(", "),
        Some(gate) => format!("{} (approved for {})", steps.join(", "), gate.environment),
    }
}

fn unique_id(taken: &[String], wanted: &str) -> String {
    let mut id = wanted.to_owned();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{wanted}-{n}");
        n += 1;
    }
    id
}

// ---------------------------------------------------------------------------------------------
// GitLab CI

fn gitlab(
    manifest: &Manifest,
    exported: &[Exported],
    secrets: &BTreeSet<String>,
    options: &ExportOptions,
    image: &str,
) -> CiFile {
    let default_branch = manifest.project.default_branch();
    let mut stages: Vec<String> = Vec::new();
    let mut jobs = Map::new();
    let mut notes = Vec::new();
    for e in exported {
        let name = e.name;
        let mut rules: Vec<Map<String, Value>> = Vec::new();
        if let Some(filter) = push_filter(e.pipeline) {
            let mut condition = "$CI_PIPELINE_SOURCE == \"push\"".to_owned();
            condition.push_str(
                &branch_match("$CI_COMMIT_BRANCH", &filter.branches)
                    .unwrap_or_else(|| " && $CI_COMMIT_BRANCH".to_owned()),
            );
            if e.kind == PipelineKind::Branch {
                condition.push_str(&format!(" && $CI_COMMIT_BRANCH != \"{default_branch}\""));
            }
            let paths = if filter.paths.is_empty() && !options.project_dir.is_empty() {
                vec![in_project(options, "**/*")]
            } else {
                in_project_all(options, &filter.paths)
            };
            let rule = gitlab_rule(condition, paths);
            if !filter.ignore_paths.is_empty() {
                notes.push(format!(
                    "# {name}: GitLab's `changes` cannot leave paths out, so a push touching only {} starts it too.",
                    filter.ignore_paths.join(", ")
                ));
            }
            rules.push(rule);
        }
        if let Some(filter) = &e.pipeline.on.pull_request {
            let mut condition = "$CI_PIPELINE_SOURCE == \"merge_request_event\"".to_owned();
            condition.push_str(
                &branch_match("$CI_MERGE_REQUEST_TARGET_BRANCH_NAME", &filter.branches)
                    .unwrap_or_default(),
            );
            rules.push(gitlab_rule(
                condition,
                in_project_all(options, &filter.paths),
            ));
        }
        rules.push(
            json!({ "if": format!("$CI_PIPELINE_SOURCE == \"web\" && $SLIPWAY_RUN_PIPELINE == \"{name}\"") })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );

        let mut variables = Map::new();
        variables.insert("SLIPWAY_PIPELINE".into(), json!(name));
        variables.insert("SLIPWAY_RUN".into(), json!("$CI_PIPELINE_ID"));
        variables.insert("SLIPWAY_COMMIT".into(), json!("$CI_COMMIT_SHA"));
        variables.insert("SLIPWAY_BRANCH".into(), json!("$CI_COMMIT_REF_NAME"));

        let mut before_script = vec![json!(options.install)];
        if !options.project_dir.is_empty() {
            before_script.push(json!(format!("cd {}", shell_word(&options.project_dir))));
        }
        let last = e.segments.len().saturating_sub(1);
        let mut ids: Vec<String> = Vec::new();
        for (index, segment) in e.segments.iter().enumerate() {
            let stage = format!("{name}-{}", index + 1);
            stages.push(stage.clone());
            let id = match &segment.gate {
                None => format!("{name}-{}", index + 1),
                Some(gate) => format!("{name}-{}-{}", index + 1, slug(&gate.environment)),
            };
            let mut job = Map::new();
            job.insert("stage".into(), json!(stage));
            // Each pipeline's jobs wait only for their own: a failed base job never holds up
            // the release beside it.
            job.insert(
                "needs".into(),
                json!(ids.last().into_iter().collect::<Vec<_>>()),
            );
            job.insert("image".into(), json!(image));
            job.insert("variables".into(), Value::Object(variables.clone()));
            if e.kind == PipelineKind::Release {
                job.insert("resource_group".into(), json!(format!("slipway-{name}")));
            }
            let job_rules: Vec<Value> = rules
                .iter()
                .map(|rule| {
                    let mut rule = rule.clone();
                    if segment.gate.is_some() {
                        // The manual job is the gate: the pipeline stops here until someone
                        // runs it (protected environments choose who may).
                        rule.insert("when".into(), json!("manual"));
                    }
                    Value::Object(rule)
                })
                .collect();
            job.insert("rules".into(), Value::Array(job_rules));
            if let Some(gate) = &segment.gate {
                job.insert("allow_failure".into(), json!(false));
                job.insert(
                    "environment".into(),
                    json!({ "name": gate.environment, "action": "start" }),
                );
            }
            job.insert("before_script".into(), Value::Array(before_script.clone()));
            let script: Vec<Value> = segment
                .steps
                .iter()
                .map(|step| match &step.approved_in {
                    Some(environment) => json!(format!(
                        "SLIPWAY_STARTED_BY=\"$GITLAB_USER_LOGIN (ran the manual job of {environment}, pipeline $CI_PIPELINE_ID)\" {}",
                        step.command
                    )),
                    None => json!(step.command),
                })
                .collect();
            job.insert("script".into(), Value::Array(script));
            if index < last {
                job.insert(
                    "artifacts".into(),
                    json!({
                        "paths": [state_dir(manifest, options)],
                        "exclude": state_secrets(manifest, options),
                        "expire_in": "7 days",
                    }),
                );
            }
            ids.push(id.clone());
            jobs.insert(id, Value::Object(job));
        }
        if !manifest.notifications.is_empty() {
            let failure_rules: Vec<Value> = rules
                .iter()
                .map(|rule| {
                    let mut rule = rule.clone();
                    rule.insert("when".into(), json!("on_failure"));
                    Value::Object(rule)
                })
                .collect();
            jobs.insert(
                format!("{name}-notify-failure"),
                json!({
                    "stage": ".post",
                    "needs": ids,
                    "image": image,
                    "variables": variables,
                    "rules": failure_rules,
                    "before_script": before_script,
                    "script": [format!("slipway pipeline notify {} --event run-failed", shell_word(name))],
                }),
            );
        }
    }
    let mut file = Map::new();
    file.insert("stages".into(), json!(stages));
    // Steps read the history (pull request bodies, base tags).
    let mut variables = Map::new();
    variables.insert("GIT_DEPTH".into(), json!("0"));
    file.insert("variables".into(), Value::Object(variables));
    for (id, job) in jobs {
        file.insert(id, job);
    }
    let mut contents = header("gitlab");
    let gates: Vec<String> = exported.iter().filter_map(approvers_note).collect();
    if !gates.is_empty() {
        contents.push_str(&format!(
            "# Approval: a manual job per gate; protect each environment so only its approvers may run it\n# (Settings → CI/CD → Protected environments): {}.\n",
            gates.join("; ")
        ));
    }
    if !secrets.is_empty() {
        contents.push_str(&format!(
            "# Masked CI/CD variables this project reads: {}.\n",
            secrets.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    for note in notes {
        contents.push_str(&note);
        contents.push('\n');
    }
    contents.push_str(&to_yaml(&Value::Object(file)));
    CiFile {
        path: ".gitlab-ci.yml".into(),
        contents,
    }
}

/// ` && VAR =~ /^(...)$/` for branch globs; `None` when there are none (any branch).
fn branch_match(variable: &str, globs: &[String]) -> Option<String> {
    (!globs.is_empty()).then(|| {
        let any: Vec<String> = globs.iter().map(|glob| glob_regex(glob)).collect();
        format!(" && {variable} =~ /^({})$/", any.join("|"))
    })
}

/// A GitLab rule: its `if`, and the paths a change must touch, if any.
fn gitlab_rule(condition: String, paths: Vec<String>) -> Map<String, Value> {
    let mut rule = Map::new();
    rule.insert("if".into(), json!(condition));
    if !paths.is_empty() {
        rule.insert("changes".into(), json!({ "paths": paths }));
    }
    rule
}

/// A branch glob as a regular expression for GitLab's `=~`.
fn glob_regex(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            // GitLab's `/.../` ends at any unescaped slash, inside brackets too.
            '*' => out.push_str("[^\\/]*"),
            '?' => out.push_str("[^\\/]"),
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => out.push(c),
            '/' => out.push_str("\\/"),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// CodePipeline with CodeBuild

fn codebuild(
    manifest: &Manifest,
    exported: &Exported,
    options: &ExportOptions,
    image: &str,
) -> Vec<CiFile> {
    let name = exported.name;
    let dir = format!("ci/codebuild/{name}");
    let mut files = Vec::new();
    let mut resources = Map::new();
    let mut stages = vec![json!({
        "Name": "Source",
        "Actions": [{
            "Name": "Source",
            "ActionTypeId": { "Category": "Source", "Owner": "AWS", "Provider": "CodeStarSourceConnection", "Version": "1" },
            "Configuration": {
                "ConnectionArn": { "Ref": "ConnectionArn" },
                "FullRepositoryId": { "Ref": "FullRepositoryId" },
                "BranchName": { "Ref": "BranchName" },
                // Steps read the history (pull request bodies, base tags).
                "OutputArtifactFormat": "CODEBUILD_CLONE_REF",
            },
            "Namespace": "SourceVariables",
            "OutputArtifacts": [{ "Name": "Source" }],
            "RunOrder": 1,
        }],
    })];
    let mut input = "Source".to_owned();
    let mut number = 0;
    for (index, segment) in exported.segments.iter().enumerate() {
        if let Some(gate) = &segment.gate {
            let approvers = if gate.approvers.is_empty() {
                "anyone allowed to approve".to_owned()
            } else {
                gate.approvers.join(", ")
            };
            stages.push(json!({
                "Name": format!("Approve-{}", slug(&gate.environment)),
                "Actions": [{
                    "Name": format!("approve-{}", slug(&gate.environment)),
                    "ActionTypeId": { "Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1" },
                    "Configuration": {
                        "CustomData": format!("{} {name}: approve to go on to {} (approvers: {approvers})", manifest.project.name, gate.environment),
                        "NotificationArn": { "Fn::If": ["HasApprovalTopic", { "Ref": "ApprovalTopicArn" }, { "Ref": "AWS::NoValue" }] },
                    },
                    "RunOrder": 1,
                }],
            }));
        }
        let mut actions = Vec::new();
        for (order, step) in segment.steps.iter().enumerate() {
            number += 1;
            let file_name = format!("{number:02}-{}.yml", slug(&step.name));
            let buildspec = format!("{dir}/{file_name}");
            files.push(CiFile {
                path: buildspec.clone(),
                contents: codebuild_buildspec(manifest, name, step, options),
            });
            let project_id = format!("Step{number:02}");
            resources.insert(
                project_id.clone(),
                json!({
                    "Type": "AWS::CodeBuild::Project",
                    "Properties": {
                        "Name": { "Fn::Sub": format!("${{AWS::StackName}}-{number:02}-{}", slug(&step.name)) },
                        "Description": format!("slipway {name}: {}", step.name),
                        "ServiceRole": { "Ref": "BuildRoleArn" },
                        "Artifacts": { "Type": "CODEPIPELINE" },
                        "Source": { "Type": "CODEPIPELINE", "BuildSpec": buildspec },
                        "Environment": {
                            "Type": "LINUX_CONTAINER",
                            "ComputeType": "BUILD_GENERAL1_SMALL",
                            "Image": { "Ref": "BuildImage" },
                            // Steps that reach the Docker Engine (base builds, `up`) need it.
                            "PrivilegedMode": true,
                        },
                        "TimeoutInMinutes": 60,
                    },
                }),
            );
            let output = format!("After{number:02}");
            actions.push(json!({
                "Name": format!("{number:02}-{}", slug(&step.name)),
                "ActionTypeId": { "Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1" },
                "Configuration": {
                    "ProjectName": { "Ref": project_id },
                    // Every step learns the run, the commit and the branch from the source.
                    "EnvironmentVariables": serde_json::to_string(&json!([
                        { "name": "SLIPWAY_RUN", "value": "#{codepipeline.PipelineExecutionId}", "type": "PLAINTEXT" },
                        { "name": "SLIPWAY_COMMIT", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT" },
                        { "name": "SLIPWAY_BRANCH", "value": "#{SourceVariables.BranchName}", "type": "PLAINTEXT" },
                    ])).expect("JSON serializes"),
                },
                "InputArtifacts": [{ "Name": input }],
                "OutputArtifacts": [{ "Name": output }],
                "RunOrder": order + 1,
            }));
            input = output;
        }
        stages.push(json!({
            "Name": format!("Steps-{}", index + 1),
            "Actions": actions,
        }));
    }
    resources.insert(
        "Pipeline".into(),
        json!({
            "Type": "AWS::CodePipeline::Pipeline",
            "Properties": {
                "Name": { "Fn::Sub": format!("${{AWS::StackName}}-{name}") },
                "PipelineType": "V2",
                "ExecutionMode": if exported.kind == PipelineKind::Release { "QUEUED" } else { "PARALLEL" },
                "RoleArn": { "Ref": "PipelineRoleArn" },
                "ArtifactStore": { "Type": "S3", "Location": { "Ref": "ArtifactBucket" } },
                "Stages": stages,
                "Triggers": codepipeline_triggers(manifest, exported, options),
            },
        }),
    );
    let default_branch = push_filter(exported.pipeline)
        .and_then(|f| f.branches.first())
        .filter(|b| !b.contains('*'))
        .cloned()
        .unwrap_or_else(|| manifest.project.default_branch().to_owned());
    let repository = manifest
        .git
        .as_ref()
        .and_then(|g| g.repository.clone())
        .unwrap_or_default();
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("slipway {} pipeline of {} (written by `slipway ci export codebuild`)", name, manifest.project.name),
        "Parameters": {
            "ConnectionArn": { "Type": "String", "Description": "The CodeConnections (CodeStar) connection to the git host." },
            "FullRepositoryId": { "Type": "String", "Default": repository, "Description": "owner/name of the repository." },
            "BranchName": { "Type": "String", "Default": default_branch, "Description": "The branch the source action follows." },
            "ArtifactBucket": { "Type": "String", "Description": "S3 bucket for the pipeline's artifacts." },
            "PipelineRoleArn": { "Type": "String", "Description": "Role CodePipeline acts as." },
            "BuildRoleArn": { "Type": "String", "Description": "Role the CodeBuild steps act as (it reads the secrets' parameters)." },
            // A stack given a tag instead of a digest is refused, not run on whatever the tag
            // names that day.
            "BuildImage": {
                "Type": "String",
                "Default": without_tag(image),
                "AllowedPattern": "^[^@]+@sha256:[0-9a-f]{64}$",
                "ConstraintDescription": "an image pinned by digest: REPOSITORY@sha256:DIGEST",
                "Description": format!("Image of every step, pinned by digest (the default is {image}).")
            },
            "ApprovalTopicArn": { "Type": "String", "Default": "", "Description": "SNS topic told when an approval waits (optional)." },
        },
        "Conditions": {
            "HasApprovalTopic": { "Fn::Not": [{ "Fn::Equals": [{ "Ref": "ApprovalTopicArn" }, ""] }] },
        },
        "Resources": resources,
    });
    if exported.segments.iter().all(|s| s.gate.is_none()) {
        // Nothing waits for approval: no topic to tell.
        if let Some(map) = template.as_object_mut() {
            map.remove("Conditions");
        }
        if let Some(parameters) = template["Parameters"].as_object_mut() {
            parameters.remove("ApprovalTopicArn");
        }
    }
    let mut contents = header("codebuild");
    contents.push_str(&to_yaml(&template));
    files.push(CiFile {
        path: format!("{dir}/pipeline.yml"),
        contents,
    });
    files
}

fn codepipeline_triggers(
    manifest: &Manifest,
    exported: &Exported,
    options: &ExportOptions,
) -> Value {
    let mut git_configuration = Map::new();
    git_configuration.insert("SourceActionName".into(), json!("Source"));
    if let Some(filter) = push_filter(exported.pipeline) {
        git_configuration.insert(
            "Push".into(),
            json!([codepipeline_filter(manifest, exported, filter, options)]),
        );
    }
    if let Some(filter) = &exported.pipeline.on.pull_request {
        let mut pull_request = codepipeline_filter(manifest, exported, filter, options);
        if let Some(map) = pull_request.as_object_mut() {
            // A pull request's branch filter is its target: the default branch stays in.
            if let Some(branches) = map.get_mut("Branches").and_then(Value::as_object_mut) {
                branches.remove("Excludes");
            }
            map.insert("Events".into(), json!(["OPEN", "UPDATED"]));
        }
        git_configuration.insert("PullRequest".into(), json!([pull_request]));
    }
    if git_configuration.len() == 1 {
        return json!([]);
    }
    json!([{
        "ProviderType": "CodeStarSourceConnection",
        "GitConfiguration": git_configuration,
    }])
}

fn codepipeline_filter(
    manifest: &Manifest,
    exported: &Exported,
    filter: &GitFilter,
    options: &ExportOptions,
) -> Value {
    let mut push = Map::new();
    let mut branches = Map::new();
    let includes = if filter.branches.is_empty() {
        vec!["**".to_owned()]
    } else {
        filter.branches.clone()
    };
    branches.insert("Includes".into(), json!(includes));
    if exported.kind == PipelineKind::Branch {
        branches.insert(
            "Excludes".into(),
            json!([manifest.project.default_branch()]),
        );
    }
    push.insert("Branches".into(), Value::Object(branches));
    let mut paths = Map::new();
    if !filter.paths.is_empty() {
        paths.insert(
            "Includes".into(),
            json!(in_project_all(options, &filter.paths)),
        );
    } else if !options.project_dir.is_empty() {
        paths.insert("Includes".into(), json!([in_project(options, "**")]));
    }
    if !filter.ignore_paths.is_empty() {
        paths.insert(
            "Excludes".into(),
            json!(in_project_all(options, &filter.ignore_paths)),
        );
    }
    if !paths.is_empty() {
        push.insert("FilePaths".into(), Value::Object(paths));
    }
    Value::Object(push)
}

fn codebuild_buildspec(
    manifest: &Manifest,
    pipeline: &str,
    step: &CiStep,
    options: &ExportOptions,
) -> String {
    let mut env = Map::new();
    let mut variables = Map::new();
    variables.insert("SLIPWAY_PIPELINE".into(), json!(pipeline));
    if let Some(environment) = &step.approved_in {
        variables.insert(
            "SLIPWAY_STARTED_BY".into(),
            json!(format!("approved in CodePipeline for {environment}")),
        );
    }
    env.insert("variables".into(), Value::Object(variables));
    if !step.secrets.is_empty() {
        let parameters: Map<String, Value> = step
            .secrets
            .iter()
            .map(|var| {
                (
                    var.clone(),
                    json!(format!("/{}/{var}", manifest.project.name)),
                )
            })
            .collect();
        env.insert("parameter-store".into(), Value::Object(parameters));
    }
    let mut commands = Vec::new();
    if !options.project_dir.is_empty() {
        commands.push(json!(format!("cd {}", shell_word(&options.project_dir))));
    }
    commands.push(json!(step.command));
    let spec = json!({
        "version": 0.2,
        "env": env,
        "phases": {
            "install": { "commands": [options.install] },
            "build": { "commands": commands },
        },
        // The checkout and the state dir go on to the next step.
        "artifacts": { "files": ["**/*"], "exclude-paths": state_secrets(manifest, options) },
    });
    let mut contents = header("codebuild");
    contents.push_str(&format!(
        "# Step `{}` of the {pipeline} pipeline.\n",
        step.name
    ));
    contents.push_str(&to_yaml(&spec));
    contents
}

// ---------------------------------------------------------------------------------------------

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "step".to_owned()
    } else {
        out
    }
}

fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_globs_become_anchored_regular_expressions() {
        assert_eq!(glob_regex("feature/**"), "feature\\/.*");
        assert_eq!(glob_regex("release/v*.x"), "release\\/v[^\\/]*\\.x");
    }

    #[test]
    fn only_images_pinned_by_digest_are_taken() {
        let digest = "sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1";
        assert!(pinned_by_digest(DEFAULT_IMAGE));
        assert!(pinned_by_digest(&format!(
            "registry.example.com:5000/ci/slipway@{digest}"
        )));
        for loose in [
            "rust:1-bookworm",
            "rust:1-bookworm@sha256:",
            "rust@sha256:6258907ABE69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1",
            "rust@sha256:6258907abe",
            "@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1",
        ] {
            assert!(!pinned_by_digest(loose), "{loose}");
        }
        let options = |image: &str| ExportOptions {
            project_dir: String::new(),
            install: "true".into(),
            image: Some(image.into()),
            pipelines: Vec::new(),
        };
        assert!(matches!(
            options("rust:1-bookworm").image(),
            Err(PipelineError::ImageNotPinned { .. })
        ));
        assert_eq!(
            without_tag(&format!("registry.example.com:5000/ci/slipway:1@{digest}")),
            format!("registry.example.com:5000/ci/slipway@{digest}")
        );
        assert_eq!(without_tag(DEFAULT_IMAGE), format!("rust@{digest}"));
    }

    #[test]
    fn github_expressions_in_commands_stay_text() {
        assert_eq!(
            github_literal("echo '${{ github.event.head_commit.message }}'"),
            "echo '${{ '${{' }} github.event.head_commit.message }}'"
        );
        assert_eq!(github_literal("slipway build"), "slipway build");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_line(&["push".into(), "--registry".into(), "it's prod".into()]),
            "push --registry 'it'\\''s prod'"
        );
        assert_eq!(slug("unit tests (api)"), "unit-tests-api");
    }
}
