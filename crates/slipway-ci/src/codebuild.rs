//! AWS CodePipeline with CodeBuild: per pipeline, a CloudFormation template (the pipeline, a
//! CodeBuild project per step) and a buildspec per step. A gate is a manual approval action.

use indexmap::IndexMap;
use serde::Serialize;
use slipway_core::Manifest;
use slipway_core::manifest::{GitFilter, PipelineKind};

use crate::yaml::to_yaml;
use crate::{
    CiFile, CiStep, ExportOptions, Exported, header, in_project, in_project_all, push_filter,
    shell_word, slug, state_secrets,
};

/// A CodeBuild buildspec (version 0.2): the step's variables and secrets, its commands, and what
/// goes on to the next step.
#[derive(Debug, Serialize)]
pub(crate) struct Buildspec {
    version: f64,
    env: BuildEnv,
    phases: Phases,
    artifacts: BuildArtifacts,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct BuildEnv {
    variables: IndexMap<String, String>,
    /// Variable → SSM parameter name: CodeBuild reads the secrets from Parameter Store.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    parameter_store: IndexMap<String, String>,
}

#[derive(Debug, Serialize)]
struct Phases {
    install: Phase,
    build: Phase,
}

#[derive(Debug, Serialize)]
struct Phase {
    commands: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct BuildArtifacts {
    files: Vec<String>,
    exclude_paths: Vec<String>,
}

/// A CloudFormation template, in the order AWS's documentation writes one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    description: String,
    parameters: IndexMap<&'static str, Parameter>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    conditions: IndexMap<&'static str, Intrinsic>,
    resources: IndexMap<String, Resource>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Parameter {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraint_description: Option<&'static str>,
    description: String,
}

impl Parameter {
    fn string(description: &str) -> Self {
        Parameter {
            kind: "String",
            default: None,
            allowed_pattern: None,
            constraint_description: None,
            description: description.to_owned(),
        }
    }

    fn with_default(self, default: String) -> Self {
        Parameter {
            default: Some(default),
            ..self
        }
    }
}

/// CloudFormation's functions, as the template uses them.
#[derive(Debug, Serialize)]
enum Intrinsic {
    Ref(String),
    #[serde(rename = "Fn::Sub")]
    Sub(String),
    #[serde(rename = "Fn::If")]
    If(&'static str, Box<Intrinsic>, Box<Intrinsic>),
    #[serde(rename = "Fn::Not")]
    Not(Vec<Intrinsic>),
    #[serde(rename = "Fn::Equals")]
    Equals(Box<Intrinsic>, &'static str),
}

/// `Ref` of a parameter or a resource of the template.
fn reference(id: &str) -> Intrinsic {
    Intrinsic::Ref(id.to_owned())
}

#[derive(Debug, Serialize)]
#[serde(tag = "Type", content = "Properties")]
enum Resource {
    #[serde(rename = "AWS::CodeBuild::Project")]
    Project(Box<Project>),
    #[serde(rename = "AWS::CodePipeline::Pipeline")]
    Pipeline(Box<PipelineResource>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Project {
    name: Intrinsic,
    description: String,
    service_role: Intrinsic,
    artifacts: TypeOnly,
    source: ProjectSource,
    environment: ProjectEnvironment,
    timeout_in_minutes: u32,
}

#[derive(Debug, Serialize)]
struct TypeOnly {
    #[serde(rename = "Type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectSource {
    #[serde(rename = "Type")]
    kind: &'static str,
    build_spec: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectEnvironment {
    #[serde(rename = "Type")]
    kind: &'static str,
    compute_type: &'static str,
    image: Intrinsic,
    privileged_mode: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PipelineResource {
    name: Intrinsic,
    pipeline_type: &'static str,
    execution_mode: &'static str,
    role_arn: Intrinsic,
    artifact_store: ArtifactStore,
    stages: Vec<Stage>,
    triggers: Vec<PipelineTrigger>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArtifactStore {
    #[serde(rename = "Type")]
    kind: &'static str,
    location: Intrinsic,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Stage {
    name: String,
    actions: Vec<Action>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Action {
    name: String,
    action_type_id: ActionType,
    configuration: ActionConfiguration,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_artifacts: Option<Vec<ArtifactName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_artifacts: Option<Vec<ArtifactName>>,
    run_order: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ActionType {
    category: &'static str,
    owner: &'static str,
    provider: &'static str,
    version: &'static str,
}

impl ActionType {
    fn aws(category: &'static str, provider: &'static str) -> Self {
        ActionType {
            category,
            owner: "AWS",
            provider,
            version: "1",
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ActionConfiguration {
    #[serde(rename_all = "PascalCase")]
    Source {
        connection_arn: Intrinsic,
        full_repository_id: Intrinsic,
        branch_name: Intrinsic,
        output_artifact_format: &'static str,
    },
    #[serde(rename_all = "PascalCase")]
    Approval {
        custom_data: String,
        notification_arn: Intrinsic,
    },
    #[serde(rename_all = "PascalCase")]
    Build {
        project_name: Intrinsic,
        /// `BuildVariable`s as a JSON text, as CodePipeline takes them.
        environment_variables: String,
    },
}

/// A variable CodePipeline sets for a CodeBuild action.
#[derive(Debug, Serialize)]
struct BuildVariable {
    name: &'static str,
    value: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArtifactName {
    name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PipelineTrigger {
    provider_type: &'static str,
    git_configuration: GitConfiguration,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GitConfiguration {
    source_action_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<Vec<GitFilterSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_request: Option<Vec<GitFilterSpec>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GitFilterSpec {
    branches: Patterns,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_paths: Option<Patterns>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<&'static str>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Patterns {
    #[serde(skip_serializing_if = "Option::is_none")]
    includes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    excludes: Option<Vec<String>>,
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

/// The buildspecs and the template of one pipeline, in `ci/codebuild/<pipeline>/`.
pub(crate) fn files(
    manifest: &Manifest,
    exported: &Exported,
    options: &ExportOptions,
    image: &str,
) -> Vec<CiFile> {
    let name = exported.name;
    let dir = format!("ci/codebuild/{name}");
    let mut files = Vec::new();
    let mut resources = IndexMap::new();
    let mut stages = vec![Stage {
        name: "Source".to_owned(),
        actions: vec![Action {
            name: "Source".to_owned(),
            action_type_id: ActionType::aws("Source", "CodeStarSourceConnection"),
            configuration: ActionConfiguration::Source {
                connection_arn: reference("ConnectionArn"),
                full_repository_id: reference("FullRepositoryId"),
                branch_name: reference("BranchName"),
                // Steps read the history (pull request bodies, base tags).
                output_artifact_format: "CODEBUILD_CLONE_REF",
            },
            namespace: Some("SourceVariables"),
            input_artifacts: None,
            output_artifacts: Some(vec![ArtifactName {
                name: "Source".to_owned(),
            }]),
            run_order: 1,
        }],
    }];
    let mut input = "Source".to_owned();
    let mut number = 0;
    for (index, segment) in exported.segments.iter().enumerate() {
        if let Some(gate) = &segment.gate {
            let approvers = if gate.approvers.is_empty() {
                "anyone allowed to approve".to_owned()
            } else {
                gate.approvers.join(", ")
            };
            stages.push(Stage {
                name: format!("Approve-{}", slug(&gate.environment)),
                actions: vec![Action {
                    name: format!("approve-{}", slug(&gate.environment)),
                    action_type_id: ActionType::aws("Approval", "Manual"),
                    configuration: ActionConfiguration::Approval {
                        custom_data: format!(
                            "{} {name}: approve to go on to {} (approvers: {approvers})",
                            manifest.project.name, gate.environment
                        ),
                        notification_arn: Intrinsic::If(
                            "HasApprovalTopic",
                            Box::new(reference("ApprovalTopicArn")),
                            Box::new(reference("AWS::NoValue")),
                        ),
                    },
                    namespace: None,
                    input_artifacts: None,
                    output_artifacts: None,
                    run_order: 1,
                }],
            });
        }
        let mut actions = Vec::new();
        for (order, step) in segment.steps.iter().enumerate() {
            number += 1;
            let file_name = format!("{number:02}-{}.yml", slug(&step.name));
            let buildspec = format!("{dir}/{file_name}");
            let mut contents = header("codebuild");
            contents.push_str(&format!("# Step `{}` of the {name} pipeline.\n", step.name));
            contents.push_str(&to_yaml(&buildspec_of(manifest, name, step, options)));
            files.push(CiFile {
                path: buildspec.clone(),
                contents,
            });
            let project_id = format!("Step{number:02}");
            resources.insert(
                project_id.clone(),
                Resource::Project(Box::new(Project {
                    name: Intrinsic::Sub(format!(
                        "${{AWS::StackName}}-{number:02}-{}",
                        slug(&step.name)
                    )),
                    description: format!("slipway {name}: {}", step.name),
                    service_role: reference("BuildRoleArn"),
                    artifacts: TypeOnly {
                        kind: "CODEPIPELINE",
                    },
                    source: ProjectSource {
                        kind: "CODEPIPELINE",
                        build_spec: buildspec,
                    },
                    environment: ProjectEnvironment {
                        kind: "LINUX_CONTAINER",
                        compute_type: "BUILD_GENERAL1_SMALL",
                        image: reference("BuildImage"),
                        // Steps that reach the Docker Engine (base builds, `up`) need it.
                        privileged_mode: true,
                    },
                    timeout_in_minutes: 60,
                })),
            );
            let output = format!("After{number:02}");
            // Every step learns the run, the commit and the branch from the source.
            let variables = [
                ("SLIPWAY_RUN", "#{codepipeline.PipelineExecutionId}"),
                ("SLIPWAY_COMMIT", "#{SourceVariables.CommitId}"),
                ("SLIPWAY_BRANCH", "#{SourceVariables.BranchName}"),
            ]
            .map(|(name, value)| BuildVariable {
                name,
                value,
                kind: "PLAINTEXT",
            });
            actions.push(Action {
                name: format!("{number:02}-{}", slug(&step.name)),
                action_type_id: ActionType::aws("Build", "CodeBuild"),
                configuration: ActionConfiguration::Build {
                    project_name: reference(&project_id),
                    environment_variables: serde_json::to_string(&variables)
                        .expect("JSON serializes"),
                },
                namespace: None,
                input_artifacts: Some(vec![ArtifactName { name: input }]),
                output_artifacts: Some(vec![ArtifactName {
                    name: output.clone(),
                }]),
                run_order: order + 1,
            });
            input = output;
        }
        stages.push(Stage {
            name: format!("Steps-{}", index + 1),
            actions,
        });
    }
    resources.insert(
        "Pipeline".into(),
        Resource::Pipeline(Box::new(PipelineResource {
            name: Intrinsic::Sub(format!("${{AWS::StackName}}-{name}")),
            pipeline_type: "V2",
            execution_mode: if exported.kind == PipelineKind::Release {
                "QUEUED"
            } else {
                "PARALLEL"
            },
            role_arn: reference("PipelineRoleArn"),
            artifact_store: ArtifactStore {
                kind: "S3",
                location: reference("ArtifactBucket"),
            },
            stages,
            triggers: triggers(manifest, exported, options),
        })),
    );
    let mut contents = header("codebuild");
    contents.push_str(&to_yaml(&template(manifest, exported, image, resources)));
    files.push(CiFile {
        path: format!("{dir}/pipeline.yml"),
        contents,
    });
    files
}

fn template(
    manifest: &Manifest,
    exported: &Exported,
    image: &str,
    resources: IndexMap<String, Resource>,
) -> Template {
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
    // Nothing waits for approval: no topic to tell.
    let gated = exported.segments.iter().any(|s| s.gate.is_some());
    let mut parameters = IndexMap::from([
        (
            "ConnectionArn",
            Parameter::string("The CodeConnections (CodeStar) connection to the git host."),
        ),
        (
            "FullRepositoryId",
            Parameter::string("owner/name of the repository.").with_default(repository),
        ),
        (
            "BranchName",
            Parameter::string("The branch the source action follows.").with_default(default_branch),
        ),
        (
            "ArtifactBucket",
            Parameter::string("S3 bucket for the pipeline's artifacts."),
        ),
        (
            "PipelineRoleArn",
            Parameter::string("Role CodePipeline acts as."),
        ),
        (
            "BuildRoleArn",
            Parameter::string(
                "Role the CodeBuild steps act as (it reads the secrets' parameters).",
            ),
        ),
        // A stack given a tag instead of a digest is refused, not run on whatever the tag
        // names that day.
        (
            "BuildImage",
            Parameter {
                allowed_pattern: Some("^[^@]+@sha256:[0-9a-f]{64}$"),
                constraint_description: Some("an image pinned by digest: REPOSITORY@sha256:DIGEST"),
                ..Parameter::string(&format!(
                    "Image of every step, pinned by digest (the default is {image})."
                ))
                .with_default(without_tag(image))
            },
        ),
    ]);
    let mut conditions = IndexMap::new();
    if gated {
        parameters.insert(
            "ApprovalTopicArn",
            Parameter::string("SNS topic told when an approval waits (optional).")
                .with_default(String::new()),
        );
        conditions.insert(
            "HasApprovalTopic",
            Intrinsic::Not(vec![Intrinsic::Equals(
                Box::new(reference("ApprovalTopicArn")),
                "",
            )]),
        );
    }
    Template {
        format_version: "2010-09-09",
        description: format!(
            "slipway {} pipeline of {} (written by `slipway ci export codebuild`)",
            exported.name, manifest.project.name
        ),
        parameters,
        conditions,
        resources,
    }
}

/// The pipeline's triggers: its push and pull request filters on the source connection; none
/// (it runs when started) when it has neither.
fn triggers(
    manifest: &Manifest,
    exported: &Exported,
    options: &ExportOptions,
) -> Vec<PipelineTrigger> {
    let push = push_filter(exported.pipeline)
        .map(|filter| vec![git_filter(manifest, exported, filter, options)]);
    let pull_request = exported.pipeline.on.pull_request.as_ref().map(|filter| {
        let mut pull_request = git_filter(manifest, exported, filter, options);
        // A pull request's branch filter is its target: the default branch stays in.
        pull_request.branches.excludes = None;
        pull_request.events = Some(vec!["OPEN", "UPDATED"]);
        vec![pull_request]
    });
    if push.is_none() && pull_request.is_none() {
        return Vec::new();
    }
    vec![PipelineTrigger {
        provider_type: "CodeStarSourceConnection",
        git_configuration: GitConfiguration {
            source_action_name: "Source",
            push,
            pull_request,
        },
    }]
}

fn git_filter(
    manifest: &Manifest,
    exported: &Exported,
    filter: &GitFilter,
    options: &ExportOptions,
) -> GitFilterSpec {
    let includes = if filter.branches.is_empty() {
        vec!["**".to_owned()]
    } else {
        filter.branches.clone()
    };
    let branches = Patterns {
        includes: Some(includes),
        excludes: (exported.kind == PipelineKind::Branch)
            .then(|| vec![manifest.project.default_branch().to_owned()]),
    };
    let includes = if !filter.paths.is_empty() {
        Some(in_project_all(options, &filter.paths))
    } else if !options.project_dir.is_empty() {
        Some(vec![in_project(options, "**")])
    } else {
        None
    };
    let excludes =
        (!filter.ignore_paths.is_empty()).then(|| in_project_all(options, &filter.ignore_paths));
    let file_paths =
        (includes.is_some() || excludes.is_some()).then_some(Patterns { includes, excludes });
    GitFilterSpec {
        branches,
        file_paths,
        events: None,
    }
}

fn buildspec_of(
    manifest: &Manifest,
    pipeline: &str,
    step: &CiStep,
    options: &ExportOptions,
) -> Buildspec {
    let mut variables = IndexMap::new();
    variables.insert("SLIPWAY_PIPELINE".to_owned(), pipeline.to_owned());
    if let Some(environment) = &step.approved_in {
        variables.insert(
            "SLIPWAY_STARTED_BY".to_owned(),
            format!("approved in CodePipeline for {environment}"),
        );
    }
    let parameter_store = step
        .secrets
        .iter()
        .map(|var| (var.clone(), format!("/{}/{var}", manifest.project.name)))
        .collect();
    let mut commands = Vec::new();
    if !options.project_dir.is_empty() {
        commands.push(format!("cd {}", shell_word(&options.project_dir)));
    }
    commands.push(step.command.clone());
    Buildspec {
        version: 0.2,
        env: BuildEnv {
            variables,
            parameter_store,
        },
        phases: Phases {
            install: Phase {
                commands: vec![options.install.clone()],
            },
            build: Phase { commands },
        },
        // The checkout and the state dir go on to the next step.
        artifacts: BuildArtifacts {
            files: vec!["**/*".to_owned()],
            exclude_paths: state_secrets(manifest, options),
        },
    }
}
