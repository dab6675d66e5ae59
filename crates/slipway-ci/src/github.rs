//! GitHub Actions: a workflow per pipeline. Jobs split at the gates; a gated job runs in a GitHub
//! environment whose required reviewers are the approval.

use indexmap::IndexMap;
use serde::Serialize;
use slipway_core::Manifest;
use slipway_core::manifest::{GitFilter, PipelineKind};

use crate::yaml::to_yaml;
use crate::{
    CiFile, CiStep, ExportOptions, Exported, Segment, approvers_note, header, in_project,
    in_project_all, push_filter, shell_word, slug, state_dir, state_secrets,
};

/// A workflow file (`.github/workflows/*.yml`), in the order GitHub's documentation writes it.
#[derive(Debug, Serialize)]
pub(crate) struct Workflow {
    name: String,
    on: Events,
    /// The default for every job: nothing; each job asks for what its steps need.
    permissions: Permissions,
    concurrency: Concurrency,
    env: IndexMap<String, String>,
    jobs: IndexMap<String, Job>,
}

/// What starts the workflow.
#[derive(Debug, Serialize)]
struct Events {
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<GitEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_request: Option<GitEvent>,
    /// Run by hand from the Actions tab.
    workflow_dispatch: Empty,
}

#[derive(Debug, Default, Serialize)]
struct Empty {}

/// A `push` or `pull_request` event's filters. GitHub takes `branches` or `branches-ignore`,
/// and `paths` or `paths-ignore`, never both of a pair.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
struct GitEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    branches_ignore: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    branches: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paths_ignore: Option<Vec<String>>,
}

/// What a job's `GITHUB_TOKEN` may do; an empty set (`{}`) is nothing at all.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Permissions {
    #[serde(skip_serializing_if = "Option::is_none")]
    contents: Option<Access>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_requests: Option<Access>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Access {
    Read,
    Write,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Concurrency {
    group: String,
    cancel_in_progress: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Job {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs: Option<Vec<String>>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    /// The GitHub environment the job deploys to: its required reviewers are the gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    permissions: Permissions,
    runs_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    defaults: Option<Defaults>,
    steps: Vec<Step>,
}

#[derive(Debug, Serialize)]
struct Defaults {
    run: RunDefaults,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct RunDefaults {
    working_directory: String,
}

/// A step: an action (`uses`) or a shell line (`run`).
#[derive(Debug, Default, Serialize)]
struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uses: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    with: Option<ActionInputs>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    env: IndexMap<String, String>,
}

/// The inputs of the actions the workflows use.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ActionInputs {
    Checkout(CheckoutInputs),
    Download(DownloadInputs),
    Upload(UploadInputs),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct CheckoutInputs {
    fetch_depth: u32,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    persist_credentials: bool,
}

#[derive(Debug, Serialize)]
struct DownloadInputs {
    name: String,
    path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct UploadInputs {
    name: String,
    /// One pattern a line; `!` leaves out.
    path: String,
    include_hidden_files: bool,
    overwrite: bool,
    retention_days: u32,
}

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
/// (`...@<commit> # v7.0.1`), and each write permission why the job needs it. The YAML writer
/// knows no comments, so they are added to the lines they explain afterwards; no value of the
/// file can end in these texts (a `uses:` is always one of PINNED_ACTIONS, and `pull-requests`
/// is only ever a permission).
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

/// The workflow file of one pipeline.
pub(crate) fn workflow_file(
    manifest: &Manifest,
    exported: &Exported,
    options: &ExportOptions,
) -> CiFile {
    let name = exported.name;
    let mut contents = header("github");
    if let Some(approvers) = approvers_note(exported) {
        contents.push_str(&format!(
            "# Approval: give each environment below required reviewers in the repository's settings\n# (Settings → Environments): {approvers}.\n"
        ));
    }
    contents.push_str(&with_comments(&to_yaml(&workflow(
        manifest, exported, options,
    ))));
    CiFile {
        path: format!(".github/workflows/slipway-{name}.yml"),
        contents,
    }
}

fn workflow(manifest: &Manifest, exported: &Exported, options: &ExportOptions) -> Workflow {
    let name = exported.name;
    let on = Events {
        push: push_filter(exported.pipeline)
            .map(|filter| push_event(manifest, exported, filter, options)),
        pull_request: exported
            .pipeline
            .on
            .pull_request
            .as_ref()
            .map(|filter| GitEvent {
                branches: (!filter.branches.is_empty()).then(|| filter.branches.clone()),
                ..paths(filter, options)
            }),
        workflow_dispatch: Empty {},
    };

    // On a pull request, github.sha is a merge commit GitHub made; the run is of the head.
    let commit = if exported.pipeline.on.pull_request.is_some() {
        "${{ github.event.pull_request.head.sha || github.sha }}"
    } else {
        "${{ github.sha }}"
    };
    let env = [
        ("SLIPWAY_PIPELINE", name),
        ("SLIPWAY_RUN", "${{ github.run_id }}"),
        ("SLIPWAY_COMMIT", commit),
        (
            "SLIPWAY_BRANCH",
            "${{ github.head_ref || github.ref_name }}",
        ),
    ]
    .into_iter()
    .map(|(var, value)| (var.to_owned(), value.to_owned()))
    .collect();

    let artifact = format!("slipway-state-{name}");
    let mut jobs = IndexMap::new();
    let mut previous: Option<String> = None;
    let mut ids = Vec::new();
    let last = exported.segments.len().saturating_sub(1);
    for (index, segment) in exported.segments.iter().enumerate() {
        let id = match &segment.gate {
            None => format!("steps-{}", index + 1),
            Some(gate) => unique_id(&ids, &format!("approved-{}", slug(&gate.environment))),
        };
        let mut steps = vec![checkout(exported), install(options)];
        if previous.is_some() {
            steps.push(Step {
                name: Some("What the steps before the approval left".to_owned()),
                uses: Some(uses("actions/download-artifact")),
                with: Some(ActionInputs::Download(DownloadInputs {
                    name: artifact.clone(),
                    path: state_dir(manifest, options),
                })),
                ..Step::default()
            });
        }
        steps.extend(segment.steps.iter().map(run_step));
        if index < last {
            steps.push(Step {
                uses: Some(uses("actions/upload-artifact")),
                with: Some(ActionInputs::Upload(UploadInputs {
                    name: artifact.clone(),
                    path: std::iter::once(state_dir(manifest, options))
                        .chain(
                            state_secrets(manifest, options)
                                .iter()
                                .map(|p| format!("!{p}")),
                        )
                        .collect::<Vec<_>>()
                        .join("\n")
                        + "\n",
                    include_hidden_files: true,
                    // Each job before a later gate uploads it again.
                    overwrite: true,
                    retention_days: 7,
                })),
                ..Step::default()
            });
        }
        let job = Job {
            name: github_literal(&job_title(segment)),
            needs: previous.as_ref().map(|needs| vec![needs.clone()]),
            condition: None,
            // The environment's required reviewers (repository settings → Environments) are
            // GitHub's approval gate; they should be approval.approvers.
            environment: segment.gate.as_ref().map(|gate| gate.environment.clone()),
            permissions: job_permissions(manifest, &segment.steps.iter().collect::<Vec<_>>()),
            runs_on: "ubuntu-latest".to_owned(),
            defaults: defaults(options),
            steps,
        };
        jobs.insert(id.clone(), job);
        ids.push(id.clone());
        previous = Some(id);
    }
    if !manifest.notifications.is_empty() {
        let notify = Step {
            name: Some("notify run-failed".to_owned()),
            run: Some(format!(
                "slipway pipeline notify {} --event run-failed",
                shell_word(name)
            )),
            env: github_secrets(&crate::notification_variables(manifest)),
            ..Step::default()
        };
        jobs.insert(
            "notify-failure".to_owned(),
            Job {
                name: "tell the channels the run failed".to_owned(),
                needs: Some(ids),
                condition: Some("${{ failure() }}".to_owned()),
                environment: None,
                permissions: job_permissions(manifest, &[]),
                runs_on: "ubuntu-latest".to_owned(),
                defaults: defaults(options),
                steps: vec![checkout(exported), install(options), notify],
            },
        );
    }

    let concurrency = match exported.kind {
        // One release (or one publish of the shared bases) at a time; the next waits instead of
        // cancelling this one halfway through a deploy or a push.
        PipelineKind::Release | PipelineKind::Base => Concurrency {
            group: format!("slipway-{name}"),
            cancel_in_progress: false,
        },
        // A newer push to the same branch makes the older run's checks moot.
        PipelineKind::Branch => Concurrency {
            group: format!("slipway-{name}-${{{{ github.ref }}}}"),
            cancel_in_progress: true,
        },
    };
    Workflow {
        name: format!("slipway {name}"),
        on,
        permissions: Permissions::default(),
        concurrency,
        env,
        jobs,
    }
}

fn push_event(
    manifest: &Manifest,
    exported: &Exported,
    filter: &GitFilter,
    options: &ExportOptions,
) -> GitEvent {
    let default_branch = manifest.project.default_branch();
    let mut event = paths(filter, options);
    let mut branches: Vec<String> = filter.branches.clone();
    if exported.kind == PipelineKind::Branch {
        // A branch pipeline never runs on the branch it would merge into.
        if branches.is_empty() {
            event.branches_ignore = Some(vec![default_branch.to_owned()]);
        } else {
            branches.push(format!("!{default_branch}"));
        }
    }
    if !branches.is_empty() {
        event.branches = Some(branches);
    } else if exported.kind != PipelineKind::Branch {
        // Without a branch filter GitHub runs the workflow for tag pushes too.
        event.branches = Some(vec!["**".to_owned()]);
    }
    event
}

/// A slipway step as a shell step, with the secrets it reads.
fn run_step(step: &CiStep) -> Step {
    let mut env = github_secrets(&step.secrets);
    let run = if step.command.contains("${{") {
        // GitHub would evaluate the expression inside the script itself; from the environment
        // the shell gets the line as written, run as the runner runs it.
        env.insert("SLIPWAY_STEP_SCRIPT".into(), github_literal(&step.command));
        "/bin/sh -c \"$SLIPWAY_STEP_SCRIPT\"".to_owned()
    } else {
        step.command.clone()
    };
    if let Some(environment) = &step.approved_in {
        env.insert(
            "SLIPWAY_STARTED_BY".into(),
            format!(
                "approved in the GitHub environment {environment}, run ${{{{ github.run_id }}}}"
            ),
        );
    }
    Step {
        name: Some(github_literal(&step.name)),
        run: Some(run),
        env,
        ..Step::default()
    }
}

fn install(options: &ExportOptions) -> Step {
    Step {
        name: Some("Install slipway".to_owned()),
        run: Some(github_literal(&options.install)),
        ..Step::default()
    }
}

fn defaults(options: &ExportOptions) -> Option<Defaults> {
    (!options.project_dir.is_empty()).then(|| Defaults {
        run: RunDefaults {
            working_directory: options.project_dir.clone(),
        },
    })
}

/// `text` as GitHub shows it, with no expression of its own: a `${{` that slipway.toml's commands
/// or names carry would be evaluated, showing whatever it names (a pull request's title, a
/// branch name) instead of the text. It is written as the expression that gives `${{` back.
fn github_literal(text: &str) -> String {
    text.replace("${{", "${{ '${{' }}")
}

/// Each variable from the repository's secret of the same name: given to the steps that read
/// it, never to the whole workflow, where every action's code could read it too.
fn github_secrets(vars: &[String]) -> IndexMap<String, String> {
    vars.iter()
        .map(|var| (var.clone(), format!("${{{{ secrets.{var} }}}}")))
        .collect()
}

/// The repository at the run's commit, with its history (steps read pull request bodies and base
/// tags). The job's token is not left in `.git/config`: no step pushes with it, and the state
/// dir travels on as an artifact anyone who can read the repository can download.
fn checkout(exported: &Exported) -> Step {
    Step {
        uses: Some(uses("actions/checkout")),
        with: Some(ActionInputs::Checkout(CheckoutInputs {
            fetch_depth: 0,
            commit: exported
                .pipeline
                .on
                .pull_request
                .is_some()
                .then(|| "${{ github.event.pull_request.head.sha || github.sha }}".to_owned()),
            persist_credentials: false,
        })),
        ..Step::default()
    }
}

/// What the job's `GITHUB_TOKEN` may do: read the repository, and, for a `pull-request` step
/// when `[git] token` is the workflow's own token (`env:GITHUB_TOKEN`), open and update pull
/// requests. Nothing else: the other steps' credentials come from secrets.
fn job_permissions(manifest: &Manifest, steps: &[&CiStep]) -> Permissions {
    let token_is_the_workflows = manifest
        .git
        .as_ref()
        .is_some_and(|git| git.token == "env:GITHUB_TOKEN");
    Permissions {
        contents: Some(Access::Read),
        pull_requests: (token_is_the_workflows && steps.iter().any(|step| step.opens_pull_request))
            .then_some(Access::Write),
    }
}

/// The `paths` or `paths-ignore` of an event (the branches left unset).
fn paths(filter: &GitFilter, options: &ExportOptions) -> GitEvent {
    let paths = in_project_all(options, &filter.paths);
    let ignored = in_project_all(options, &filter.ignore_paths);
    let mut event = GitEvent::default();
    match (paths.is_empty(), ignored.is_empty()) {
        (true, true) if !options.project_dir.is_empty() => {
            event.paths = Some(vec![in_project(options, "**")]);
        }
        (true, true) => {}
        (false, true) => event.paths = Some(paths),
        (true, false) if options.project_dir.is_empty() => event.paths_ignore = Some(ignored),
        // GitHub takes `paths` or `paths-ignore`, not both: later `!` patterns exclude.
        _ => {
            let mut all = if paths.is_empty() {
                vec![in_project(options, "**")]
            } else {
                paths
            };
            all.extend(ignored.iter().map(|p| format!("!{p}")));
            event.paths = Some(all);
        }
    }
    event
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{SHOP, manifest, options};

    fn exported(manifest: &Manifest) -> Exported<'_> {
        let pipeline = &manifest.pipelines["release"];
        Exported {
            name: "release",
            pipeline,
            kind: PipelineKind::Release,
            segments: crate::tests::release_segments(manifest),
        }
    }

    #[test]
    fn only_the_job_that_opens_a_pull_request_with_the_workflows_token_may_write_pull_requests() {
        let own_token = manifest(&SHOP.replace("env:GIT_TOKEN", "env:GITHUB_TOKEN"));
        let own = workflow(&own_token, &exported(&own_token), &options());
        // Nothing by default; every job reads the repository.
        assert!(own.permissions.contents.is_none());
        assert!(own.permissions.pull_requests.is_none());
        let access = |job: &str| {
            let permissions = &own.jobs[job].permissions;
            (permissions.contents, permissions.pull_requests)
        };
        assert_eq!(access("steps-1"), (Some(Access::Read), Some(Access::Write)));
        assert_eq!(access("approved-prod"), (Some(Access::Read), None));
        assert_eq!(access("notify-failure"), (Some(Access::Read), None));

        // With a token of its own (a secret), the job's token needs no write access at all.
        let other_token = manifest(SHOP);
        let other = workflow(&other_token, &exported(&other_token), &options());
        assert!(
            other
                .jobs
                .values()
                .all(|job| job.permissions.pull_requests.is_none())
        );
    }

    #[test]
    fn secrets_are_given_to_the_steps_that_read_them_not_to_the_workflow() {
        let manifest = manifest(SHOP);
        let written = workflow(&manifest, &exported(&manifest), &options());
        assert!(written.env.keys().all(|var| var.starts_with("SLIPWAY_")));
        let step = |job: &str, name: &str| {
            written.jobs[job]
                .steps
                .iter()
                .find(|s| s.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no step {name} in {job}"))
                .env
                .clone()
        };
        let up = step("steps-1", "up stage");
        assert_eq!(
            up.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [
                ("STAGE_DB", "${{ secrets.STAGE_DB }}"),
                ("TEAM_HOOK", "${{ secrets.TEAM_HOOK }}")
            ]
        );
        let deploy = step("approved-prod", "deploy prod");
        assert!(deploy.contains_key("PROD_DB") && !deploy.contains_key("STAGE_DB"));
        assert!(
            deploy["SLIPWAY_STARTED_BY"].starts_with("approved in the GitHub environment prod")
        );
        assert!(step("approved-prod", "smoke").is_empty());
    }

    #[test]
    fn github_expressions_in_commands_stay_text() {
        assert_eq!(
            github_literal("echo '${{ github.event.head_commit.message }}'"),
            "echo '${{ '${{' }} github.event.head_commit.message }}'"
        );
        assert_eq!(github_literal("slipway build"), "slipway build");
    }
}
