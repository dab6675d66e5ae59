//! `slipway ecs render|diff`: the task definitions a deploy to ECS would register, and how they
//! differ from what the services run now.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use slipway_aws::import_files;
use slipway_deploy::deployer::parse_images_like;

use super::Output;
use super::deploy::with_ecs_rollout;
use super::project::Project;

/// Amazon ECS: see what a deploy would send before it does.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway ecs render prod                  the task definitions, as JSON (no AWS call)\n  slipway ecs render prod --check          and verify each secret exists in AWS\n  slipway ecs render prod --app api --image api=REPO@sha256:...\n  slipway ecs diff prod                    what would change in the running services\n  slipway ecs import aws/task-definitions/ aws/json/   into [environments.prod]"
)]
pub struct EcsArgs {
    #[command(subcommand)]
    command: EcsCommand,
    #[arg(long, default_value = ".", global = true)]
    project: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum EcsCommand {
    /// Print the task definitions (RegisterTaskDefinition JSON) a deploy would register.
    /// Offline: secrets are references (SSM parameters by name, Secrets Manager secrets by
    /// partial ARN), so nothing is asked of AWS unless `--check`.
    #[command(
        after_help = "Examples:\n  slipway ecs render prod\n  slipway ecs render prod --check      look each secret up in AWS, as a deploy does\n  slipway ecs render prod --app api --image api=REPO@sha256:..."
    )]
    Render {
        environment: String,
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        /// Use this registry image (pinned by digest) instead of the local build.
        #[arg(long = "image", value_name = "APP=REF")]
        images: Vec<String>,
        /// Verify every secret exists in AWS and reference it by its ARN, as a deploy does.
        #[arg(long)]
        check: bool,
    },
    /// Bring the task definition and service JSON files a project deploys today into an ECS
    /// environment: its target, apps (the container the load balancer names; the others become
    /// its sidecars), secrets as references, and config templates. An environment that exists
    /// (e.g. the `prod` that `init` wrote) keeps what it sets and gets the rest.
    #[command(
        after_help = "Examples:\n  slipway ecs import aws/task-definitions/ aws/json/            into [environments.prod]\n  slipway ecs import --env staging aws/task-definitions/ --dry-run\n\nFiles are matched by content: task definitions (`containerDefinitions`) to services\n(`serviceName`, `taskDefinition`) by family; other JSON files are skipped with a note."
    )]
    Import {
        /// The environment to create or merge into.
        #[arg(long = "env", default_value = "prod")]
        environment: String,
        /// Task definition and service JSON files, or directories of them.
        #[arg(required = true)]
        task_definitions: Vec<PathBuf>,
        /// More service definition files or directories (same as listing them above).
        #[arg(long = "services")]
        services: Vec<PathBuf>,
        /// Print what would be written instead of writing it.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Show what a deploy would change in each app's task definition, line by line.
    #[command(
        after_help = "Examples:\n  slipway ecs diff prod\n  slipway ecs diff prod --exit-code   exit 1 when something would change"
    )]
    Diff {
        environment: String,
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        #[arg(long = "image", value_name = "APP=REF")]
        images: Vec<String>,
        /// Exit with 1 when something would change (like `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// `--image APP=REF` arguments, an error showing an ECR reference.
fn parse_images(items: &[String]) -> Result<BTreeMap<String, String>> {
    Ok(parse_images_like(
        items,
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/shop/api@sha256:...",
    )?)
}

fn require_ecs(project: &Project, environment: &str) -> Result<()> {
    if !project.environment(environment)?.target.is_ecs() {
        bail!("environment `{environment}` does not run on ECS (its target is Docker hosts)");
    }
    Ok(())
}

pub fn run(args: EcsArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    match args.command {
        EcsCommand::Import {
            environment,
            task_definitions,
            services,
            dry_run,
            output,
        } => {
            let mut paths = task_definitions;
            paths.extend(services);
            let imported = slipway_aws::import::import(&import_files::read_json(&paths)?)?;
            let manifest_path = project.root.join("slipway.toml");
            let current = std::fs::read_to_string(&manifest_path)
                .with_context(|| format!("reading {}", manifest_path.display()))?;
            let merged = slipway_aws::import::merge(&current, &environment, &imported)?;
            // Nothing is written unless the result loads and validates.
            if let Err(error) = slipway_core::load_manifest(&merged.manifest) {
                for diagnostic in error.diagnostics(&manifest_path, &merged.manifest) {
                    eprint!("{}", diagnostic.render(Some(&merged.manifest), false));
                }
                bail!(
                    "slipway.toml with the imported environment does not validate; nothing was written"
                );
            }
            let notes = import_files::notes(&imported, &merged, &environment, &|path| {
                project.root.join(path).exists()
            });
            if !dry_run {
                import_files::write(&project.root, &merged)?;
            }
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "environment": environment,
                        "written": !dry_run,
                        "apps": imported.apps.iter().map(|a| serde_json::json!({
                            "app": a.name,
                            "from": a.file,
                            "service": a.ecs.service,
                            "sidecars": a.sidecars.keys().collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                        "templates": merged.templates.keys().collect::<Vec<_>>(),
                        "notes": notes,
                    }))?
                ),
                Output::Text => {
                    if dry_run {
                        println!("# slipway.toml would become:\n{}", merged.manifest);
                        for (path, text) in &merged.templates {
                            println!("# {path}:\n{text}");
                        }
                    } else {
                        for path in merged.templates.keys() {
                            println!("wrote {path}");
                        }
                        println!("merged [environments.{environment}] into slipway.toml");
                    }
                    for app in &imported.apps {
                        let sidecars: Vec<&str> = app.sidecars.keys().map(String::as_str).collect();
                        println!(
                            "  {} from {}{}",
                            app.name,
                            app.file,
                            if sidecars.is_empty() {
                                String::new()
                            } else {
                                format!(" (sidecars: {})", sidecars.join(", "))
                            }
                        );
                    }
                    for note in &notes {
                        eprintln!("note: {note}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        EcsCommand::Render {
            environment,
            apps,
            images,
            check,
        } => {
            require_ecs(&project, &environment)?;
            project.refuse_file_secrets_on_ecs(&environment, &apps)?;
            let images = parse_images(&images)?;
            let rendered =
                with_ecs_rollout(&project, &environment, Output::Json, async |rollout| {
                    Ok(rollout.render(&apps, &images, check).await?)
                })?;
            let documents: BTreeMap<&String, &slipway_aws::taskdef::TaskDefinition> = rendered
                .iter()
                .map(|(app, definition)| (app, definition))
                .collect();
            println!("{}", serde_json::to_string_pretty(&documents)?);
            Ok(ExitCode::SUCCESS)
        }
        EcsCommand::Diff {
            environment,
            apps,
            images,
            exit_code,
            output,
        } => {
            require_ecs(&project, &environment)?;
            project.refuse_file_secrets_on_ecs(&environment, &apps)?;
            let images = parse_images(&images)?;
            let report = with_ecs_rollout(&project, &environment, Output::Json, async |rollout| {
                Ok(rollout.diff(&apps, &images).await?)
            })?;
            let changed = report.iter().any(|app| app.changed);
            if output == Output::Text {
                for app in &report {
                    let (name, service) = (&app.app, &app.service);
                    match (app.exists, app.changed) {
                        (false, _) => println!(
                            "{name}: service {service} does not exist yet; a deploy creates it with:"
                        ),
                        (true, false) => {
                            println!("{name}: no change against {service}");
                            continue;
                        }
                        (true, true) => println!("{name}: changes against {service}:"),
                    }
                    for line in &app.diff {
                        println!("  {line}");
                    }
                }
            }
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(if changed && exit_code {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
