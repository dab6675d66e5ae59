use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use slipway_oci::app::registry;
use slipway_oci::registry::RegistryClient;
use slipway_oci::store::REF_NAME;
use slipway_oci::{Digest, ImageRef, Store};

use super::Output;
use super::project::Project;

/// List the images in the project's local store.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  slipway images\n  slipway images --output json")]
pub struct ImagesArgs {
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn images(args: ImagesArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let store = Store::open(&project.store_dir())?;
    let mut rows = Vec::new();
    for descriptor in store.refs()? {
        let summary = summarize(&store.read_blob(&descriptor.digest)?, |d| {
            store.read_blob(d).ok()
        })?;
        rows.push(json!({
            "name": descriptor.annotations.get(REF_NAME),
            "digest": descriptor.digest,
            "base": descriptor.annotations.get("org.opencontainers.image.base.name"),
            "size": summary["size"],
            "layers": summary["layers"].as_array().map(Vec::len),
        }));
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text => {
            println!(
                "{:<28} {:<73} {:>10} {:>7}",
                "NAME", "DIGEST", "SIZE", "LAYERS"
            );
            for row in &rows {
                println!(
                    "{:<28} {:<73} {:>10} {:>7}",
                    row["name"].as_str().unwrap_or("-"),
                    row["digest"].as_str().unwrap_or("-"),
                    human(row["size"].as_u64().unwrap_or(0)),
                    row["layers"]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Show an image: digest, platforms, layers and sizes, labels.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway inspect api                        the local image of app `api`\n  slipway inspect 127.0.0.1:5000/shop/api:stage --output json"
)]
pub struct InspectArgs {
    /// An app of the project (its local image) or a registry reference.
    reference: String,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let store = Store::open(&project.store_dir())?;
    let summary = if project.manifest.apps.contains_key(&args.reference) {
        let name = slipway_oci::app::local_name(&project.manifest, &args.reference);
        let descriptor = store.get_ref(&name)?.with_context(|| {
            format!(
                "no image of `{}` in the local store: run `slipway build {}`",
                args.reference, args.reference
            )
        })?;
        let mut summary = summarize(&store.read_blob(&descriptor.digest)?, |d| {
            store.read_blob(d).ok()
        })?;
        summary["reference"] = json!(name);
        summary
    } else {
        let reference = ImageRef::parse(&args.reference)?;
        let configured = project
            .manifest
            .registries
            .iter()
            .find(|(_, r)| r.url.split('/').next() == Some(reference.registry()))
            .map(|(n, _)| n.clone());
        let client = match configured {
            Some(name) => registry(&project.manifest, &name)?.client,
            None => RegistryClient::new(
                reference.registry(),
                false,
                slipway_oci::credentials::from_docker_config(reference.registry())?,
            )?,
        };
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(async {
            let manifest = client
                .get_manifest(reference.repository(), reference.target())
                .await?;
            let parsed: Value = serde_json::from_slice(&manifest.bytes)?;
            let mut platforms = Vec::new();
            let mut single = manifest.bytes.clone();
            if let Some(children) = parsed["manifests"].as_array() {
                for child in children {
                    platforms.push(json!(format!(
                        "{}/{}",
                        child["platform"]["os"].as_str().unwrap_or("?"),
                        child["platform"]["architecture"].as_str().unwrap_or("?")
                    )));
                }
                if let Some(first) = children.first().and_then(|c| c["digest"].as_str()) {
                    single = client
                        .get_manifest(reference.repository(), first)
                        .await?
                        .bytes;
                }
            }
            let config = serde_json::from_slice::<Value>(&single)?["config"]["digest"]
                .as_str()
                .and_then(Digest::parse);
            if let Some(config) = &config {
                client
                    .fetch_blob(reference.repository(), config, &store)
                    .await?;
            }
            let mut summary = summarize(&single, |d| store.read_blob(d).ok())?;
            summary["reference"] = json!(args.reference);
            summary["digest"] = json!(manifest.digest);
            summary["media_type"] = json!(manifest.media_type);
            if !platforms.is_empty() {
                summary["platforms"] = json!(platforms);
            }
            anyhow::Ok(summary)
        })?
    };
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
        Output::Text => {
            println!(
                "reference: {}",
                summary["reference"].as_str().unwrap_or("-")
            );
            println!("digest:    {}", summary["digest"].as_str().unwrap_or("-"));
            if let Some(platforms) = summary["platforms"].as_array() {
                println!(
                    "platforms: {}",
                    platforms
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            println!(
                "size:      {}",
                human(summary["size"].as_u64().unwrap_or(0))
            );
            println!("layers:");
            for layer in summary["layers"].as_array().into_iter().flatten() {
                println!(
                    "  {} {:>10}",
                    layer["digest"].as_str().unwrap_or("-"),
                    human(layer["size"].as_u64().unwrap_or(0))
                );
            }
            if let Some(labels) = summary["labels"].as_object() {
                println!("labels:");
                for (key, value) in labels {
                    println!("  {key} = {}", value.as_str().unwrap_or_default());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Digest, size, layers and labels of a single-platform manifest.
fn summarize(manifest: &[u8], read: impl Fn(&Digest) -> Option<Vec<u8>>) -> Result<Value> {
    let parsed: Value = serde_json::from_slice(manifest)?;
    let layers: Vec<Value> = parsed["layers"].as_array().cloned().unwrap_or_default();
    let size: u64 = layers
        .iter()
        .filter_map(|l| l["size"].as_u64())
        .sum::<u64>()
        + parsed["config"]["size"].as_u64().unwrap_or(0);
    let config = parsed["config"]["digest"]
        .as_str()
        .and_then(Digest::parse)
        .and_then(|d| read(&d))
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let labels = config
        .as_ref()
        .map(|c| c["config"]["Labels"].clone())
        .unwrap_or(Value::Null);
    Ok(json!({
        "digest": Digest::of(manifest),
        "media_type": parsed["mediaType"],
        "size": size,
        "layers": layers.iter().map(|l| json!({ "digest": l["digest"], "size": l["size"], "media_type": l["mediaType"] })).collect::<Vec<_>>(),
        "labels": labels,
        "created": config.as_ref().map(|c| c["created"].clone()).unwrap_or(Value::Null),
    }))
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
