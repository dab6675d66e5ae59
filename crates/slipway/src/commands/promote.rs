use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use slipway_oci::app::{default_registry, registry};
use slipway_oci::promote::{Endpoint, promote};
use slipway_oci::registry::RegistryClient;
use slipway_oci::{ImageRef, Store};

use super::Output;
use super::project::Project;

/// Copy an image by digest to another repository or registry, without rebuilding it.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway promote api:git-1a2b3c4d5e6f --to team:stage\n  slipway promote api@sha256:... --to ecr/shop/api:prod\n  slipway promote 127.0.0.1:5000/shop/api:stage --to team/shop/api:prod"
)]
pub struct PromoteArgs {
    /// An app of the project (`api`, `api:TAG`, `api@DIGEST`, in the project's registry) or a
    /// full reference (`host/repository:tag`).
    reference: String,
    /// `REGISTRY[/REPOSITORY][:TAG]`: a registry of slipway.toml, optionally another repository
    /// and a tag.
    #[arg(long)]
    to: String,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: PromoteArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let manifest = &project.manifest;
    // Source.
    let first = args.reference.split('/').next().unwrap_or_default();
    let full = args.reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    let (source_client, source_repository, source_target, source_tag): (
        RegistryClient,
        String,
        String,
        Option<String>,
    ) = if full {
        let reference = ImageRef::parse(&args.reference)?;
        let configured = manifest
            .registries
            .iter()
            .find(|(_, r)| r.url.split('/').next() == Some(reference.registry()))
            .map(|(name, _)| name.clone());
        let client = match configured {
            Some(name) => registry(manifest, &name)?.client,
            None => RegistryClient::new(
                reference.registry(),
                false,
                slipway_oci::credentials::from_docker_config(reference.registry())?,
            )?,
        };
        (
            client,
            reference.repository().to_owned(),
            reference.target().to_owned(),
            reference.tag().map(str::to_owned),
        )
    } else {
        let (app, target) = match args.reference.split_once('@') {
            Some((app, digest)) => (app.to_owned(), digest.to_owned()),
            None => match args.reference.split_once(':') {
                Some((app, tag)) => (app.to_owned(), tag.to_owned()),
                None => (args.reference.clone(), "latest".to_owned()),
            },
        };
        if !manifest.apps.contains_key(&app) {
            bail!(
                "`{app}` is neither an app of slipway.toml nor a full image reference (host/repository:tag)"
            );
        }
        let name = default_registry(manifest, None)
            .ok_or_else(|| anyhow!("the project has no registry to promote from"))?;
        let source = registry(manifest, &name)?;
        let repository = source.repository(&manifest.app_repository(&app));
        let tag = (!target.starts_with("sha256:")).then(|| target.clone());
        (source.client, repository, target, tag)
    };
    // Target.
    let (target_name, rest) = match args.to.split_once('/') {
        Some((name, rest)) => (name.to_owned(), Some(rest.to_owned())),
        None => match args.to.split_once(':') {
            Some((name, tag)) => (name.to_owned(), Some(format!(":{tag}"))),
            None => (args.to.clone(), None),
        },
    };
    if !manifest.registries.contains_key(&target_name) {
        let known: Vec<&str> = manifest.registries.keys().map(String::as_str).collect();
        bail!(
            "--to {}: no registry `{target_name}` in slipway.toml; registries: {}",
            args.to,
            known.join(", ")
        );
    }
    let target = registry(manifest, &target_name)?;
    let (repository, tag) = match rest.as_deref() {
        None => (None, None),
        Some(rest) if rest.starts_with(':') => (None, Some(rest[1..].to_owned())),
        Some(rest) => match rest.rsplit_once(':') {
            Some((repository, tag)) => (Some(repository.to_owned()), Some(tag.to_owned())),
            None => (Some(rest.to_owned()), None),
        },
    };
    let target_repository = repository
        .map(|r| target.repository(&r))
        .unwrap_or_else(|| source_repository.clone());
    let tags: Vec<String> = tag.or(source_tag).into_iter().collect();
    target.prepare_repository(&target_repository)?;
    let store = Store::open(&project.store_dir())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let promoted = runtime
        .block_on(promote(
            &Endpoint {
                client: &source_client,
                repository: source_repository.clone(),
            },
            &source_target,
            &Endpoint {
                client: &target.client,
                repository: target_repository,
            },
            &tags,
            &store,
        ))
        .with_context(|| format!("promoting {}", args.reference))?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&promoted)?),
        Output::Text => println!(
            "promoted {} to {} (tags: {}; {} blob(s) copied, {} mounted, {} already there)",
            args.reference,
            promoted.reference,
            if tags.is_empty() {
                "none".to_owned()
            } else {
                tags.join(", ")
            },
            promoted.blobs_copied,
            promoted.blobs_mounted,
            promoted.blobs_present
        ),
    }
    Ok(ExitCode::SUCCESS)
}
