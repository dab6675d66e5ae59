//! GitLab CI: one `.gitlab-ci.yml` with every pipeline's jobs, started by rules on the pipeline's
//! source and branch. A gate is a manual job in a protected environment.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde::Serialize;
use slipway_core::Manifest;
use slipway_core::manifest::PipelineKind;

use crate::yaml::to_yaml;
use crate::{
    CiFile, ExportOptions, Exported, approvers_note, header, in_project, in_project_all,
    push_filter, shell_word, slug, state_dir, state_secrets,
};

/// `.gitlab-ci.yml`: the stages in order, the variables of every job, then the jobs by id.
#[derive(Debug, Serialize)]
pub(crate) struct GitlabCi {
    stages: Vec<String>,
    variables: IndexMap<String, String>,
    #[serde(flatten)]
    jobs: IndexMap<String, Job>,
}

#[derive(Debug, Clone, Serialize)]
struct Job {
    stage: String,
    /// The jobs this one waits for; `[]` starts it at once rather than after the stage before.
    needs: Vec<String>,
    image: String,
    variables: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_group: Option<String>,
    rules: Vec<Rule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_failure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
    before_script: Vec<String>,
    script: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifacts: Option<Artifacts>,
}

/// When a job runs: its `if`, the paths a change must touch, and how (`manual`, `on_failure`).
#[derive(Debug, Clone, Serialize)]
struct Rule {
    #[serde(rename = "if")]
    condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Changes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    when: Option<When>,
}

#[derive(Debug, Clone, Serialize)]
struct Changes {
    paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum When {
    /// The pipeline stops at the job until someone runs it.
    Manual,
    /// Only when a job before it failed.
    OnFailure,
}

#[derive(Debug, Clone, Serialize)]
struct Environment {
    name: String,
    action: EnvironmentAction,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum EnvironmentAction {
    Start,
}

#[derive(Debug, Clone, Serialize)]
struct Artifacts {
    paths: Vec<String>,
    exclude: Vec<String>,
    expire_in: String,
}

/// `.gitlab-ci.yml` for `exported`, with the notes a maintainer needs atop it.
pub(crate) fn file(
    manifest: &Manifest,
    exported: &[Exported],
    secrets: &BTreeSet<String>,
    options: &ExportOptions,
    image: &str,
) -> CiFile {
    let mut notes = Vec::new();
    let mut contents = header("gitlab");
    let gitlab_ci = gitlab_ci(manifest, exported, options, image, &mut notes);
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
    contents.push_str(&to_yaml(&gitlab_ci));
    CiFile {
        path: ".gitlab-ci.yml".into(),
        contents,
    }
}

/// The file's content; what GitLab cannot express goes to `notes` as comment lines.
fn gitlab_ci(
    manifest: &Manifest,
    exported: &[Exported],
    options: &ExportOptions,
    image: &str,
    notes: &mut Vec<String>,
) -> GitlabCi {
    let default_branch = manifest.project.default_branch();
    let mut stages: Vec<String> = Vec::new();
    let mut jobs = IndexMap::new();
    for e in exported {
        let name = e.name;
        let mut rules: Vec<Rule> = Vec::new();
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
            if !filter.ignore_paths.is_empty() {
                notes.push(format!(
                    "# {name}: GitLab's `changes` cannot leave paths out, so a push touching only {} starts it too.",
                    filter.ignore_paths.join(", ")
                ));
            }
            rules.push(rule(condition, paths));
        }
        if let Some(filter) = &e.pipeline.on.pull_request {
            let mut condition = "$CI_PIPELINE_SOURCE == \"merge_request_event\"".to_owned();
            condition.push_str(
                &branch_match("$CI_MERGE_REQUEST_TARGET_BRANCH_NAME", &filter.branches)
                    .unwrap_or_default(),
            );
            rules.push(rule(condition, in_project_all(options, &filter.paths)));
        }
        rules.push(rule(
            format!("$CI_PIPELINE_SOURCE == \"web\" && $SLIPWAY_RUN_PIPELINE == \"{name}\""),
            Vec::new(),
        ));

        let variables: IndexMap<String, String> = [
            ("SLIPWAY_PIPELINE", name),
            ("SLIPWAY_RUN", "$CI_PIPELINE_ID"),
            ("SLIPWAY_COMMIT", "$CI_COMMIT_SHA"),
            ("SLIPWAY_BRANCH", "$CI_COMMIT_REF_NAME"),
        ]
        .into_iter()
        .map(|(var, value)| (var.to_owned(), value.to_owned()))
        .collect();

        let mut before_script = vec![options.install.clone()];
        if !options.project_dir.is_empty() {
            before_script.push(format!("cd {}", shell_word(&options.project_dir)));
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
            let job = Job {
                stage,
                // Each pipeline's jobs wait only for their own: a failed base job never holds
                // up the release beside it.
                needs: ids.last().cloned().into_iter().collect(),
                image: image.to_owned(),
                variables: variables.clone(),
                resource_group: (e.kind == PipelineKind::Release)
                    .then(|| format!("slipway-{name}")),
                rules: rules
                    .iter()
                    .map(|rule| Rule {
                        // The manual job is the gate: the pipeline stops here until someone
                        // runs it (protected environments choose who may).
                        when: segment.gate.is_some().then_some(When::Manual),
                        ..rule.clone()
                    })
                    .collect(),
                allow_failure: segment.gate.is_some().then_some(false),
                environment: segment.gate.as_ref().map(|gate| Environment {
                    name: gate.environment.clone(),
                    action: EnvironmentAction::Start,
                }),
                before_script: before_script.clone(),
                script: segment
                    .steps
                    .iter()
                    .map(|step| match &step.approved_in {
                        Some(environment) => format!(
                            "SLIPWAY_STARTED_BY=\"$GITLAB_USER_LOGIN (ran the manual job of {environment}, pipeline $CI_PIPELINE_ID)\" {}",
                            step.command
                        ),
                        None => step.command.clone(),
                    })
                    .collect(),
                artifacts: (index < last).then(|| Artifacts {
                    paths: vec![state_dir(manifest, options)],
                    exclude: state_secrets(manifest, options),
                    expire_in: "7 days".to_owned(),
                }),
            };
            ids.push(id.clone());
            jobs.insert(id, job);
        }
        if !manifest.notifications.is_empty() {
            jobs.insert(
                format!("{name}-notify-failure"),
                Job {
                    stage: ".post".to_owned(),
                    needs: ids,
                    image: image.to_owned(),
                    variables,
                    resource_group: None,
                    rules: rules
                        .iter()
                        .map(|rule| Rule {
                            when: Some(When::OnFailure),
                            ..rule.clone()
                        })
                        .collect(),
                    allow_failure: None,
                    environment: None,
                    before_script,
                    script: vec![format!(
                        "slipway pipeline notify {} --event run-failed",
                        shell_word(name)
                    )],
                    artifacts: None,
                },
            );
        }
    }
    GitlabCi {
        stages,
        // Steps read the history (pull request bodies, base tags).
        variables: IndexMap::from([("GIT_DEPTH".to_owned(), "0".to_owned())]),
        jobs,
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
fn rule(condition: String, paths: Vec<String>) -> Rule {
    Rule {
        condition,
        changes: (!paths.is_empty()).then_some(Changes { paths }),
        when: None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_globs_become_anchored_regular_expressions() {
        assert_eq!(glob_regex("feature/**"), "feature\\/.*");
        assert_eq!(glob_regex("release/v*.x"), "release\\/v[^\\/]*\\.x");
    }
}
