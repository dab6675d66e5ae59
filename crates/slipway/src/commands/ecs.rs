//! `slipway ecs render|diff`: the task definitions a deploy to ECS would register, and how they
//! differ from what the services run now.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::Output;
use super::deploy::with_ecs_rollout;
use super::environment::check_environment;
use super::project::Project;

/// Amazon ECS: see what a deploy would send before it does.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway ecs render prod                  the task definitions, as JSON\n  slipway ecs render prod --app api --image api=REPO@sha256:...\n  slipway ecs diff prod                    what would change in the running services\n  slipway ecs import --env prod aws/task-definitions/ --services aws/service-definitions/"
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
    #[command(
        after_help = "Examples:\n  slipway ecs render prod\n  slipway ecs render prod --app api --image api=REPO@sha256:..."
    )]
    Render {
        environment: String,
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        /// Use this registry image (pinned by digest) instead of the local build.
        #[arg(long = "image", value_name = "APP=REF")]
        images: Vec<String>,
    },
    /// Write an ECS environment from the task definition (and service) JSON files a project
    /// deploys today: its target, apps, secrets as references, and config templates.
    #[command(
        after_help = "Examples:\n  slipway ecs import --env prod aws/task-definitions/ --services aws/service-definitions/ --dry-run"
    )]
    Import {
        /// The environment to create, e.g. `prod`.
        #[arg(long = "env")]
        environment: String,
        /// Task definition JSON files, or directories of them.
        #[arg(required = true)]
        task_definitions: Vec<PathBuf>,
        /// Service definition JSON files (as given to `aws ecs create-service`), or directories.
        #[arg(long = "services")]
        services: Vec<PathBuf>,
        /// Print what would be written instead of writing it.
        #[arg(long)]
        dry_run: bool,
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

fn parse_images(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut images = BTreeMap::new();
    for item in items {
        let Some((app, reference)) = item.split_once('=') else {
            bail!(
                "--image {item}: write APP=REF, e.g. api=123456789012.dkr.ecr.eu-central-1.amazonaws.com/shop/api@sha256:..."
            );
        };
        images.insert(app.to_owned(), reference.to_owned());
    }
    Ok(images)
}

/// `(file, JSON)` of each `.json` file among `paths` (directories are read, sorted).
fn read_json(paths: &[PathBuf]) -> Result<Vec<(String, serde_json::Value)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let json = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}:{}: not JSON: {e}",
                    file.display(),
                    e.line(),
                    e.column()
                )
            })?;
            Ok((file.display().to_string(), json))
        })
        .collect()
}

fn require_ecs(project: &Project, environment: &str) -> Result<()> {
    check_environment(project, environment)?;
    if !matches!(
        project.manifest.environments[environment].target,
        slipway_core::manifest::Target::Ecs(_)
    ) {
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
        } => {
            if project.manifest.environments.contains_key(&environment) {
                bail!(
                    "slipway.toml already has an environment `{environment}`; import under another name with --env"
                );
            }
            let imported = slipway_aws::import::import(
                &environment,
                &read_json(&task_definitions)?,
                &read_json(&services)?,
            )?;
            let manifest_path = project.root.join("slipway.toml");
            let current = std::fs::read_to_string(&manifest_path)
                .with_context(|| format!("reading {}", manifest_path.display()))?;
            let combined = format!("{}\n{}", current.trim_end(), imported.toml);
            // Nothing is written unless the result loads and validates.
            if let Err(error) = slipway_core::load_manifest(&combined) {
                for diagnostic in error.diagnostics(&manifest_path, &combined) {
                    eprint!("{}", diagnostic.render(Some(&combined), false));
                }
                bail!(
                    "the imported environment does not validate; nothing was written. It was:\n{}",
                    imported.toml
                );
            }
            let config_dir = project.root.join("config").join(&environment);
            for app in imported.templates.keys() {
                let path = config_dir.join(format!("{app}.env.j2"));
                if path.exists() {
                    bail!("{} exists; not overwriting it", path.display());
                }
            }
            if dry_run {
                println!("# slipway.toml, appended:\n{}", imported.toml);
                for (app, text) in &imported.templates {
                    println!("# config/{environment}/{app}.env.j2:\n{text}");
                }
            } else {
                std::fs::create_dir_all(&config_dir)
                    .with_context(|| format!("creating {}", config_dir.display()))?;
                for (app, text) in &imported.templates {
                    let path = config_dir.join(format!("{app}.env.j2"));
                    slipway_core::files::write_atomic(
                        &path,
                        slipway_core::files::SHARED,
                        text.as_bytes(),
                    )
                    .with_context(|| format!("writing {}", path.display()))?;
                    println!("wrote config/{environment}/{app}.env.j2");
                }
                slipway_core::files::write_atomic(
                    &manifest_path,
                    slipway_core::files::SHARED,
                    combined.as_bytes(),
                )
                .with_context(|| format!("writing {}", manifest_path.display()))?;
                println!("added [environments.{environment}] to slipway.toml");
            }
            for note in &imported.notes {
                eprintln!("note: {note}");
            }
            Ok(ExitCode::SUCCESS)
        }
        EcsCommand::Render {
            environment,
            apps,
            images,
        } => {
            require_ecs(&project, &environment)?;
            project.refuse_file_secrets_on_ecs(&environment, &apps)?;
            let images = parse_images(&images)?;
            let rendered =
                with_ecs_rollout(&project, &environment, Output::Json, async |rollout| {
                    Ok(rollout.render(&apps, &images).await?)
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
            let (planned, live) =
                with_ecs_rollout(&project, &environment, Output::Json, async |rollout| {
                    let planned = rollout.render(&apps, &images).await?;
                    let names: Vec<String> = planned.iter().map(|(app, _)| app.clone()).collect();
                    let live = rollout.live_definitions(&names).await?;
                    Ok((planned, live))
                })?;
            let mut report = Vec::new();
            let mut changed = false;
            for (app, mut definition) in planned {
                let (service, running) = &live[&app];
                // The release tag always differs; it says nothing about what runs.
                let strip = |d: &mut slipway_aws::taskdef::TaskDefinition| {
                    d.tags.retain(|t| t.key != "slipway:release")
                };
                strip(&mut definition);
                let new = serde_json::to_string_pretty(&definition)?;
                let old = match running.clone() {
                    Some(mut running) => {
                        strip(&mut running);
                        serde_json::to_string_pretty(&running)?
                    }
                    None => String::new(),
                };
                let lines = slipway_aws::taskdef::diff_lines(&old, &new);
                let app_changed = lines.iter().any(|l| !l.starts_with("  "));
                changed |= app_changed;
                report.push(serde_json::json!({
                    "app": app,
                    "service": service,
                    "exists": running.is_some(),
                    "changed": app_changed,
                    "diff": lines.iter().filter(|l| !l.starts_with("  ")).collect::<Vec<_>>(),
                }));
                if output == Output::Text {
                    match (running.is_some(), app_changed) {
                        (false, _) => println!(
                            "{app}: service {service} does not exist yet; a deploy creates it with:"
                        ),
                        (true, false) => {
                            println!("{app}: no change against {service}");
                            continue;
                        }
                        (true, true) => println!("{app}: changes against {service}:"),
                    }
                    for line in lines.iter().filter(|l| !l.starts_with("  ")) {
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
