//! `slipway ecs render|diff`: the task definitions a deploy to ECS would register, and how they
//! differ from what the services run now.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::Output;
use super::deploy::with_ecs_rollout;
use super::environment::check_environment;
use super::project::Project;

/// Amazon ECS: see what a deploy would send before it does.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway ecs render prod                  the task definitions, as JSON\n  slipway ecs render prod --app api --image api=REPO@sha256:...\n  slipway ecs diff prod                    what would change in the running services"
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
    Render {
        environment: String,
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<String>,
        /// Use this registry image (pinned by digest) instead of the local build.
        #[arg(long = "image", value_name = "APP=REF")]
        images: Vec<String>,
    },
    /// Show what a deploy would change in each app's task definition, line by line.
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
        EcsCommand::Render {
            environment,
            apps,
            images,
        } => {
            require_ecs(&project, &environment)?;
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
