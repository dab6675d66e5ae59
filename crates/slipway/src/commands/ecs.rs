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
            output,
        } => {
            let mut paths = task_definitions;
            paths.extend(services);
            let imported = slipway_aws::import::import(&read_json(&paths)?)?;
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
            let mut notes = imported.notes.clone();
            notes.extend(merged.notes.iter().cloned());
            for path in merged.templates.keys() {
                if project.root.join(path).exists() {
                    notes.push(format!(
                        "{path} now holds the task definition's environment (what {environment} runs)"
                    ));
                }
            }
            if !dry_run {
                // Everything is staged first, then renamed into place.
                let mut staged = Vec::new();
                for (path, text) in merged
                    .templates
                    .iter()
                    .map(|(p, t)| (project.root.join(p), t.as_str()))
                    .chain(std::iter::once((
                        manifest_path.clone(),
                        merged.manifest.as_str(),
                    )))
                {
                    let parent = path.parent().expect("a file in the project");
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                    let temporary = parent.join(format!(
                        ".{}.slipway-import",
                        path.file_name().expect("a file name").to_string_lossy()
                    ));
                    // Never through a link planted at the staging name; a failure takes back
                    // what was staged.
                    if let Err(error) = slipway_core::files::write_atomic(
                        &temporary,
                        slipway_core::files::SHARED,
                        text.as_bytes(),
                    ) {
                        for (written, _) in &staged {
                            let _ = std::fs::remove_file(written);
                        }
                        return Err(error).with_context(|| format!("writing {}", path.display()));
                    }
                    staged.push((temporary, path));
                }
                for (temporary, path) in &staged {
                    std::fs::rename(temporary, path)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
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
            let (planned, live) =
                with_ecs_rollout(&project, &environment, Output::Json, async |rollout| {
                    let planned = rollout.render(&apps, &images, true).await?;
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
