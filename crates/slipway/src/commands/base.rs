use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use slipway_core::lock::{Lock, LockedBase};
use slipway_docker::Engine;
use slipway_docker::base::{BuiltBase, Published, TagContext, build_base, push_base, test_base};
use slipway_oci::app::{default_registry, fixed_tag, registry};

use super::Output;
use super::project::Project;

/// The base-image pipeline of operations: build, test, push, release; and `update`, which pins
/// the newest published bases in slipway.lock for app builds.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway base release            build, test and push every base, then announce it\n  slipway base build python\n  slipway base update             pin the newest published bases in slipway.lock"
)]
pub struct BaseArgs {
    #[command(subcommand)]
    command: BaseCommand,
    #[arg(long, default_value = ".", global = true)]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum BaseCommand {
    /// Build base Dockerfiles through the Docker Engine and tag them with the tag scheme.
    Build { names: Vec<String> },
    /// Run each base's tests in a container of the image last built.
    Test { names: Vec<String> },
    /// Push every tag of the image last built and record the published digest.
    Push { names: Vec<String> },
    /// Build, test and push; then announce "base image published".
    Release { names: Vec<String> },
    /// Pin the newest published bases in slipway.lock and show old → new.
    Update { names: Vec<String> },
}

pub fn run(args: BaseArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (names, steps): (&Vec<String>, &[&str]) = match &args.command {
        BaseCommand::Build { names } => (names, &["build"]),
        BaseCommand::Test { names } => (names, &["test"]),
        BaseCommand::Push { names } => (names, &["push"]),
        BaseCommand::Release { names } => (names, &["build", "test", "push", "announce"]),
        BaseCommand::Update { names } => {
            return runtime.block_on(update(&project, names, args.output));
        }
    };
    let names = select(&project, names)?;
    runtime.block_on(pipeline(&project, &names, steps, args.output))
}

fn select(project: &Project, names: &[String]) -> Result<Vec<String>> {
    let known: Vec<&str> = project.manifest.bases.keys().map(String::as_str).collect();
    for name in names {
        if !project.manifest.bases.contains_key(name) {
            let hint = slipway_core::suggest::did_you_mean(name, known.iter().copied())
                .unwrap_or_else(|| format!("bases: {}", known.join(", ")));
            bail!("no base `{name}` in slipway.toml; {hint}");
        }
    }
    Ok(if names.is_empty() {
        known.iter().map(|s| (*s).to_owned()).collect()
    } else {
        names.to_vec()
    })
}

fn state_file(project: &Project, name: &str) -> PathBuf {
    project
        .state_dir()
        .join("bases")
        .join(format!("{name}.json"))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("state files have a parent"))
        .with_context(|| format!("cannot create {}", path.display()))?;
    slipway_core::files::write_atomic(
        path,
        slipway_core::files::PRIVATE,
        &serde_json::to_vec_pretty(value)?,
    )
    .with_context(|| format!("cannot write {}", path.display()))
}

async fn pipeline(
    project: &Project,
    names: &[String],
    steps: &[&str],
    output: Output,
) -> Result<ExitCode> {
    let engine = Engine::connect().await?;
    let manifest = &project.manifest;
    let context = TagContext {
        now: slipway_core::time::now(),
        git_sha: project.revision(),
        branch: project.branch(),
    };
    let mut published_all: Vec<Published> = Vec::new();
    for name in names {
        let mut built: Option<BuiltBase> = None;
        for step in steps {
            match *step {
                "build" => {
                    let mut log = |line: &str| {
                        if output == Output::Text {
                            eprintln!("  {name} | {line}");
                        }
                    };
                    let result =
                        build_base(&engine, manifest, &project.root, name, &context, &mut log)
                            .await
                            .with_context(|| format!("building base `{name}`"))?;
                    write_json(&state_file(project, name), &result)?;
                    if output == Output::Text {
                        println!(
                            "built base {name} {} as {}",
                            result.image_id,
                            result.references.join(", ")
                        );
                    }
                    built = Some(result);
                }
                "test" => {
                    let image = last_built(project, name, &built)?;
                    let outcomes = test_base(&engine, manifest, name, &image.references[0])
                        .await
                        .with_context(|| format!("testing base `{name}`: nothing was pushed"))?;
                    if output == Output::Text {
                        println!("tested base {name}: {} test(s) passed", outcomes.len());
                    }
                }
                "push" => {
                    let image = last_built(project, name, &built)?;
                    let published = push_base(&engine, manifest, &image)
                        .await
                        .with_context(|| format!("pushing base `{name}`"))?;
                    write_json(
                        &project
                            .state_dir()
                            .join("bases")
                            .join(format!("{name}.published.json")),
                        &published,
                    )?;
                    if output == Output::Text {
                        println!(
                            "pushed base {name} {} as {}",
                            published.digest,
                            published.references.join(", ")
                        );
                    }
                    published_all.push(published);
                }
                "announce" => {
                    if let Some(published) = published_all.iter().find(|p| &p.base == name) {
                        let event = serde_json::json!({ "event": "base-published", "base": name, "digest": published.digest, "references": published.references, "notify": manifest.bases[name].notify, "at": published.published_at });
                        let file = project.state_dir().join("events").join(format!(
                            "{}-base-published-{name}.json",
                            published.published_at.replace(':', "")
                        ));
                        write_json(&file, &event)?;
                        if output == Output::Text {
                            println!(
                                "event base-published: {name} {} (notify: {}); written to {}",
                                published.digest,
                                manifest.bases[name].notify.join(", "),
                                file.display()
                            );
                        }
                        let event = slipway_notify::events::base_published(
                            &manifest.project.name,
                            name,
                            &published.digest,
                            &published.references,
                            super::notify::now(),
                        );
                        super::notify::send(
                            manifest,
                            &event,
                            Some(&manifest.bases[name].notify),
                            output,
                        );
                    }
                }
                _ => unreachable!("steps are listed above"),
            }
        }
    }
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&published_all)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn last_built(project: &Project, name: &str, built: &Option<BuiltBase>) -> Result<BuiltBase> {
    if let Some(built) = built {
        return Ok(built.clone());
    }
    let path = state_file(project, name);
    let bytes = std::fs::read(&path).with_context(|| {
        format!("base `{name}` has not been built here: run `slipway base build {name}` first")
    })?;
    Ok(serde_json::from_slice(&bytes)?)
}

async fn update(project: &Project, names: &[String], output: Output) -> Result<ExitCode> {
    let names = select(project, names)?;
    let manifest = &project.manifest;
    let path = project.root.join("slipway.lock");
    let mut lock = match std::fs::read_to_string(&path) {
        Ok(text) => Lock::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        Err(_) => Lock {
            version: 1,
            ..Lock::default()
        },
    };
    let mut changes = BTreeMap::new();
    for name in &names {
        let base = &manifest.bases[name];
        let registry_name = default_registry(manifest, base.registry.as_deref())
            .with_context(|| format!("base `{name}` has no registry"))?;
        let target = registry(manifest, &registry_name)?;
        let tag = fixed_tag(manifest, name)?;
        let repository = target.repository(&base.image);
        let found = target
            .client
            .get_manifest(&repository, tag)
            .await
            .with_context(|| {
                format!("base `{name}` has not been published: run `slipway base release {name}`")
            })?;
        let reference = format!("{}/{repository}:{tag}", target.client.host());
        let old = lock.bases.get(name).map(|b| b.digest.clone());
        let new = found.digest.to_string();
        changes.insert(name.clone(), (old.clone(), new.clone()));
        lock.bases.insert(
            name.clone(),
            LockedBase {
                reference,
                digest: new,
            },
        );
    }
    slipway_core::files::write_atomic(&path, slipway_core::files::SHARED, lock.render().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&changes)?),
        Output::Text => {
            for (name, (old, new)) in &changes {
                match old {
                    Some(old) if old == new => println!("{name}: {new} (unchanged)"),
                    Some(old) => println!("{name}: {old} → {new}"),
                    None => println!("{name}: (none) → {new}"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
