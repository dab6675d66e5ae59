//! `slipway build` and `slipway push` for assembled apps: resolve the base in its registry, add
//! the app's layers and image config, keep the result in the local store, push it by digest.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use slipway_core::manifest::{BuildKind, Credentials, Manifest};

use crate::credentials::{self, Credential};
use crate::history::SourceHistory;
use crate::image::{self, Base, ImageSettings};
use crate::layer::{self, BuiltLayer, LayerCache, LayerSpec};
use crate::registry::RegistryClient;
use crate::{Digest, ImageRef, OciError, Result, Store};

/// A registry of slipway.toml, ready to talk to.
#[derive(Debug)]
pub struct Registry {
    /// Its name in slipway.toml.
    pub name: String,
    /// The client, logged in as the registry's `credentials` say.
    pub client: RegistryClient,
    /// Path prefix of the registry's URL (`host/prefix`), put before repositories.
    pub prefix: Option<String>,
    /// Repositories are created before a push (ECR's `create_repositories = true`).
    pub create_repositories: bool,
}

impl Registry {
    /// Makes `repository` exist first when the registry does not create repositories on push.
    pub fn prepare_repository(&self, repository: &str) -> Result<()> {
        if self.create_repositories {
            credentials::ensure_aws_repository(self.client.host(), repository)?;
        }
        Ok(())
    }

    /// `repository` as this registry names it: under its URL's path prefix, if any.
    pub fn repository(&self, repository: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_owned(),
        }
    }
}

/// Connects to the registry `name` of the manifest.
pub fn registry(manifest: &Manifest, name: &str) -> Result<Registry> {
    let config = manifest
        .registries
        .get(name)
        .ok_or_else(|| OciError::Registry {
            registry: name.into(),
            message: "not defined in slipway.toml".into(),
        })?;
    let (host, prefix) = match config.url.split_once('/') {
        Some((host, prefix)) => (host.to_owned(), Some(prefix.trim_matches('/').to_owned())),
        None => (config.url.clone(), None),
    };
    let credential: Option<Credential> = match config.credentials {
        Credentials::DockerConfig => credentials::from_docker_config(&host)?,
        Credentials::Env => credentials::from_env(name),
        Credentials::None => None,
        Credentials::Aws => credentials::from_aws(&host)?,
    };
    let mut client = RegistryClient::new(&host, config.insecure, credential)?;
    if config.credentials == Credentials::Aws {
        let host = host.clone();
        client = client.with_refresh(std::sync::Arc::new(move || credentials::refresh_aws(&host)));
    }
    Ok(Registry {
        name: name.into(),
        client,
        prefix,
        create_repositories: config.create_repositories && config.credentials == Credentials::Aws,
    })
}

/// The registry a base or the project pushes to: the one named, the project's, or the only one.
pub fn default_registry(manifest: &Manifest, named: Option<&str>) -> Option<String> {
    named
        .map(str::to_owned)
        .or_else(|| manifest.project.registry.clone())
        .or_else(|| {
            (manifest.registries.len() == 1)
                .then(|| manifest.registries.keys().next().cloned())
                .flatten()
        })
}

/// The local store's name for an app's image.
pub fn local_name(manifest: &Manifest, app: &str) -> String {
    format!("{}/{app}:latest", manifest.project.name)
}

/// An app's image as assembled into the local store.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The app's name.
    pub app: String,
    /// Digest of the image's manifest (or index, for several platforms).
    pub digest: Digest,
    /// The base image it was built on, pinned by digest (`host/repo:tag@sha256:...`).
    pub base: String,
    /// Each layer, with whether the cache gave it.
    pub layers: Vec<LayerReport>,
}

/// One layer of an assembled image, for the build's report.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// The directory it holds, relative to the app.
    pub path: String,
    /// Digest of the compressed layer.
    pub digest: Digest,
    /// Compressed size in bytes.
    pub size: u64,
    /// Taken from the layer cache: the directory had not changed.
    pub reused: bool,
}

/// Everything that varies between runs and must not change the digest is fixed here.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The project's directory (where slipway.toml is).
    pub project_root: PathBuf,
    /// The local OCI image layout the image is written into.
    pub store_dir: PathBuf,
    /// SOURCE_DATE_EPOCH when set: the timestamp of every layer and of the config. Otherwise
    /// each layer takes the time of the last commit that touched its directory, so a commit
    /// that leaves `vendor/` alone leaves its layer, and its digest, alone too.
    pub source_date_epoch: Option<u64>,
    /// Commit of the sources (HEAD) when the project is in git: the image is then labelled
    /// with the commit that last changed the app's directory (`org.opencontainers.image.revision`).
    pub revision: Option<String>,
    /// Bases pinned by digest (slipway.lock); others resolve through their fixed tag.
    pub pinned_bases: BTreeMap<String, Digest>,
    /// Platforms to build (`linux/amd64`); empty means every platform of the base.
    pub platforms: Vec<String>,
}

/// Assembles an app's image on its base, without a daemon, into the local store.
pub async fn build_app(
    manifest: &Manifest,
    app_name: &str,
    options: &BuildOptions,
) -> Result<Built> {
    let app = manifest
        .apps
        .get(app_name)
        .ok_or_else(|| OciError::Json(format!("no app `{app_name}` in slipway.toml")))?;
    if app.build == BuildKind::Dockerfile {
        return Err(OciError::Json(format!(
            "app `{app_name}` is built from a Dockerfile, through the Docker Engine, not assembled"
        )));
    }
    let base_name = app
        .base
        .as_deref()
        .ok_or_else(|| OciError::Json(format!("app `{app_name}` names no base")))?;
    let base_config = &manifest.bases[base_name];
    let registry_name = default_registry(manifest, base_config.registry.as_deref())
        .ok_or_else(|| OciError::Json(format!("base `{base_name}` has no registry")))?;
    let registry = registry(manifest, &registry_name)?;
    let repository = registry.repository(&base_config.image);
    let target = match options.pinned_bases.get(base_name) {
        Some(digest) => digest.to_string(),
        None => fixed_tag(manifest, base_name)?.to_owned(),
    };
    let store = Store::open(&options.store_dir)?;
    let separator = if target.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    let base_ref = format!("{}/{repository}{separator}{target}", registry.client.host());
    let mut resolved =
        resolve_base(&registry.client, &repository, &target, &base_ref, &store).await?;
    if !options.platforms.is_empty() {
        let name_of = |platform: &Option<Value>, base: &Base| -> String {
            let source = platform.as_ref().unwrap_or(&base.config);
            let mut name = format!(
                "{}/{}",
                source["os"].as_str().unwrap_or("linux"),
                source["architecture"].as_str().unwrap_or("?")
            );
            if let Some(variant) = source["variant"].as_str() {
                name.push('/');
                name.push_str(variant);
            }
            name
        };
        for wanted in &options.platforms {
            if !resolved
                .platforms
                .iter()
                .any(|(p, b)| &name_of(p, b) == wanted)
            {
                let available: Vec<String> = resolved
                    .platforms
                    .iter()
                    .map(|(p, b)| name_of(p, b))
                    .collect();
                return Err(OciError::NotFound {
                    registry: registry.client.host().into(),
                    reference: format!("{base_ref} for {wanted} (it has {})", available.join(", ")),
                });
            }
        }
        resolved
            .platforms
            .retain(|(p, b)| options.platforms.contains(&name_of(p, b)));
    }

    let source = options.project_root.join(manifest.app_dir(app_name));
    if !source.is_dir() {
        return Err(OciError::Io {
            path: source,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the app directory does not exist",
            ),
        });
    }
    let dest = app.dest.clone().unwrap_or_else(|| "/app".into());
    let ignore = layer::ignore_patterns(&source, &app.ignore);
    let cache_path = options.store_dir.join("../layer-cache.json");
    let cache = std::sync::Arc::new(std::sync::Mutex::new(LayerCache::load(&cache_path)));
    let mut history = SourceHistory::open(
        &options.project_root,
        &options.store_dir.join("../source-history.json"),
    );
    let dependencies: Vec<String> = app
        .layers
        .iter()
        .map(|d| d.trim_matches('/').to_owned())
        .filter(|d| source.join(d).is_dir())
        .collect();
    let spec = |only: Option<String>, exclude: Vec<String>, bucket: Option<(u32, u32)>| LayerSpec {
        source: source.clone(),
        dest: dest.clone(),
        only,
        exclude,
        ignore: ignore.clone(),
        mtime: 0,
        bucket,
    };
    let mut specs: Vec<(String, LayerSpec)> = dependencies
        .iter()
        .map(|dir| (dir.clone(), spec(Some(dir.clone()), Vec::new(), None)))
        .collect();
    // A large app is spread over a few layers so that a change rebuilds and uploads one of them.
    let top_level = top_level_sizes(&source, &dependencies);
    let buckets = if top_level.iter().map(|(_, size)| size).sum::<u64>() > BUCKETED_ABOVE {
        BUCKETS
    } else {
        1
    };
    let mut bucket_sizes = vec![0u64; buckets as usize];
    for (name, size) in &top_level {
        bucket_sizes[layer::bucket_of(name, buckets) as usize] += size;
    }
    for index in 0..buckets {
        let bucket = (buckets > 1).then_some((index, buckets));
        let label = if buckets > 1 {
            format!(". (part {} of {buckets})", index + 1)
        } else {
            ".".into()
        };
        specs.push((label, spec(None, dependencies.clone(), bucket)));
    }
    let mut newest = 0;
    for (_, spec) in &mut specs {
        let layer_dir = match &spec.only {
            Some(only) => source.join(only),
            None => source.clone(),
        };
        spec.mtime = options
            .source_date_epoch
            .unwrap_or_else(|| history.last_change(&layer_dir).map_or(0, |last| last.time));
        newest = newest.max(spec.mtime);
    }
    // Layers compress in parallel, one per core.
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ));
    // The largest layers take the cores first, so none of them starts last and runs alone.
    // Dependency layers were not measured; they are usually the largest.
    let dependency_layers = dependencies.len();
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| {
        std::cmp::Reverse(if i < dependency_layers {
            u64::MAX
        } else {
            bucket_sizes[i - dependency_layers]
        })
    });
    let mut tasks: Vec<Option<tokio::task::JoinHandle<Result<BuiltLayer>>>> =
        (0..specs.len()).map(|_| None).collect();
    for i in order {
        let (store, cache, permits, spec) = (
            store.clone(),
            cache.clone(),
            permits.clone(),
            specs[i].1.clone(),
        );
        tasks[i] = Some(tokio::spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            tokio::task::spawn_blocking(move || layer::build_layer(&store, &spec, &cache))
                .await
                .map_err(OciError::LayerTask)?
        }));
    }
    let tasks = tasks
        .into_iter()
        .map(|task| task.expect("every layer has its task"));
    let mut built = Vec::new();
    let mut reports = Vec::new();
    for ((path, _), task) in specs.iter().zip(tasks) {
        let layer = task.await.map_err(OciError::LayerTask)??;
        let shown = if path == "." {
            manifest.app_dir(app_name)
        } else if path.starts_with(". ") {
            format!("{}{}", manifest.app_dir(app_name), &path[1..])
        } else {
            format!("{}/{path}", manifest.app_dir(app_name))
        };
        reports.push(LayerReport {
            path: shown,
            digest: layer.digest.clone(),
            size: layer.size,
            reused: layer.reused,
        });
        built.push(layer);
    }
    cache.lock().expect("not poisoned").save(&cache_path)?;

    let mut labels: BTreeMap<String, String> = app
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(
        "org.opencontainers.image.title".into(),
        format!("{}/{app_name}", manifest.project.name),
    );
    labels.insert(
        "org.opencontainers.image.base.name".into(),
        base_ref.clone(),
    );
    labels.insert(
        "org.opencontainers.image.base.digest".into(),
        resolved.digest.to_string(),
    );
    // The commit that last changed the app's directory, not HEAD: a commit that leaves the
    // app alone leaves its label, and so its digest, alone too.
    if options.revision.is_some()
        && let Some(last) = history.last_change(&source)
    {
        labels.insert("org.opencontainers.image.revision".into(), last.commit);
    }
    history.save();
    let health = app.health.as_ref().and_then(|h| {
        let cmd = h.cmd.as_ref()?.argv();
        let nanos = |d: Option<slipway_core::manifest::Duration>, default: u64| {
            d.map_or(default, |d| d.0.as_nanos() as u64)
        };
        Some((
            cmd,
            nanos(h.interval, 5_000_000_000),
            nanos(h.timeout, 3_000_000_000),
            h.retries.unwrap_or(3),
            nanos(h.start_period, 0),
        ))
    });
    let settings = ImageSettings {
        user: app.user.clone(),
        workdir: Some(app.workdir.clone().unwrap_or_else(|| dest.clone())),
        entrypoint: app.entrypoint.as_ref().map(|c| c.argv()),
        cmd: app.cmd.as_ref().map(|c| c.argv()),
        port: app.port,
        env: app
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        labels,
        health,
        stop_signal: app.stop_signal.clone(),
        created_by: format!("slipway assemble {}", manifest.app_dir(app_name)),
    };
    let created = options.source_date_epoch.unwrap_or(newest);
    // One image per platform of the base; an index over them when the base has one.
    let mut children = Vec::new();
    for (platform, base) in &resolved.platforms {
        let mut descriptor = image::assemble(&store, base, &built, &settings, created)?;
        descriptor.platform = platform.clone();
        children.push(descriptor);
    }
    let descriptor = match &resolved.index_media_type {
        None => children
            .into_iter()
            .next()
            .ok_or_else(|| OciError::Json(format!("{base_ref} has no image")))?,
        Some(media_type) => {
            let manifests: Vec<Value> = children
                .iter()
                .map(|c| serde_json::json!({ "mediaType": c.media_type, "digest": c.digest, "size": c.size, "platform": c.platform }))
                .collect();
            let index = serde_json::json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": manifests });
            let bytes = serde_json::to_vec(&index).expect("serializable");
            let digest = store.put_bytes(&bytes)?;
            let mut annotations = BTreeMap::new();
            annotations.insert(
                "org.opencontainers.image.base.name".to_owned(),
                base_ref.clone(),
            );
            annotations.insert(
                "org.opencontainers.image.base.digest".to_owned(),
                resolved.digest.to_string(),
            );
            crate::store::Descriptor {
                media_type: media_type.clone(),
                digest,
                size: bytes.len() as u64,
                annotations,
                platform: None,
            }
        }
    };
    store.set_ref(&local_name(manifest, app_name), descriptor.clone())?;
    let base = if base_ref.contains('@') {
        base_ref
    } else {
        format!("{base_ref}@{}", resolved.digest)
    };
    Ok(Built {
        app: app_name.into(),
        digest: descriptor.digest,
        base,
        layers: reports,
    })
}

/// Blob uploads in flight at once.
const PARALLEL_UPLOADS: usize = 4;

/// Apps larger than this are spread over `BUCKETS` layers.
const BUCKETED_ABOVE: u64 = 32 * 1024 * 1024;
const BUCKETS: u32 = 8;

/// Bytes of each top-level entry under `source`, outside the dependency directories.
fn top_level_sizes(source: &Path, dependencies: &[String]) -> Vec<(String, u64)> {
    fn walk(dir: &Path, total: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(&entry.path(), total),
                Ok(t) if t.is_file() => *total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(source) else {
        return Vec::new();
    };
    let mut sizes = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dependencies
            .iter()
            .any(|d| name == d.split('/').next().unwrap_or(d))
        {
            continue;
        }
        let mut size = 0;
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), &mut size),
            Ok(t) if t.is_file() => size = entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => {}
        }
        sizes.push((name, size));
    }
    sizes
}

/// This machine's architecture in OCI's words.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The tag of a base that does not move with every build (`stable`): the first one without
/// placeholders.
pub fn fixed_tag<'m>(manifest: &'m Manifest, base: &str) -> Result<&'m str> {
    manifest.bases[base]
        .tags
        .iter()
        .find(|t| !t.contains('{'))
        .map(String::as_str)
        .ok_or_else(|| OciError::Json(format!("base `{base}` has no fixed tag (such as `stable`) to build on: add one to its `tags`")))
}

/// Reads the base's manifest (choosing this machine's platform from an index) and config.
/// A base as found in its registry: one image per platform, and the index's type when it has
/// one.
struct ResolvedBase {
    digest: Digest,
    index_media_type: Option<String>,
    platforms: Vec<(Option<Value>, Base)>,
}

/// Reads the base's manifest (every platform of an index) and configs.
async fn resolve_base(
    client: &RegistryClient,
    repository: &str,
    reference: &str,
    name: &str,
    store: &Store,
) -> Result<ResolvedBase> {
    let top = client.get_manifest(repository, reference).await?;
    let parsed: Value =
        serde_json::from_slice(&top.bytes).map_err(|source| OciError::Malformed {
            what: format!("manifest of {name}"),
            source,
        })?;
    let single = |bytes: Vec<u8>, media_type: String| async move {
        let parsed: Value =
            serde_json::from_slice(&bytes).map_err(|source| OciError::Malformed {
                what: format!("manifest of {name}"),
                source,
            })?;
        let config = parsed["config"]["digest"]
            .as_str()
            .and_then(Digest::parse)
            .ok_or_else(|| OciError::Json(format!("manifest of {name} has no config")))?;
        client.fetch_blob(repository, &config, store).await?;
        // Kept locally so a later push can name the base by digest.
        store.put_bytes(&bytes)?;
        Base::from_manifest(name, &bytes, &media_type, store)
    };
    let Some(entries) = parsed["manifests"].as_array() else {
        let base = single(top.bytes.clone(), top.media_type.clone()).await?;
        return Ok(ResolvedBase {
            digest: top.digest,
            index_media_type: None,
            platforms: vec![(None, base)],
        });
    };
    let media_type = parsed["mediaType"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(top.media_type.clone());
    let mut platforms = Vec::new();
    for entry in entries {
        let platform = &entry["platform"];
        // Attestations and other artifacts are not platforms to build for.
        if platform["os"] == "unknown" || platform.is_null() {
            continue;
        }
        let digest = entry["digest"]
            .as_str()
            .ok_or_else(|| OciError::Json(format!("index of {name}: an entry without a digest")))?;
        let child = client.get_manifest(repository, digest).await?;
        let base = single(child.bytes, child.media_type).await?;
        platforms.push((Some(platform.clone()), base));
    }
    Ok(ResolvedBase {
        digest: top.digest,
        index_media_type: Some(media_type),
        platforms,
    })
}

/// Where `push_app` puts an app's image in a registry, by digest (`host/prefix/project/app@sha256:...`),
/// without pushing: what a deploy will reference.
pub fn planned_reference(
    manifest: &Manifest,
    app_name: &str,
    store_dir: &Path,
    registry_name: &str,
) -> Result<String> {
    let store = Store::open(store_dir)?;
    let local = local_name(manifest, app_name);
    let descriptor = store
        .get_ref(&local)?
        .ok_or_else(|| OciError::NotInStore(local.clone()))?;
    let config = manifest
        .registries
        .get(registry_name)
        .ok_or_else(|| OciError::Registry {
            registry: registry_name.into(),
            message: "not defined in slipway.toml".into(),
        })?;
    Ok(format!(
        "{}/{}@{}",
        config.url.trim_end_matches('/'),
        manifest.app_repository(app_name),
        descriptor.digest
    ))
}

/// What a push of an app's image did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// The app's name.
    pub app: String,
    /// The pushed reference, by digest (`host/repo@sha256:...`).
    pub reference: String,
    /// Digest of the pushed manifest (or index).
    pub digest: Digest,
    /// The tags it was pushed as.
    pub tags: Vec<String>,
    /// Blobs sent to the registry.
    pub blobs_uploaded: usize,
    /// Bytes sent to the registry.
    pub bytes_uploaded: u64,
    /// Blobs the registry already had.
    pub blobs_present: usize,
    /// Blobs mounted from another repository of the same registry instead of uploaded.
    pub blobs_mounted: usize,
}

/// Pushes an app's image from the store: every blob first (skipping what the registry has,
/// mounting what another repository of it has), the manifest last.
pub async fn push_app(
    manifest: &Manifest,
    app_name: &str,
    store_dir: &Path,
    registry_name: &str,
    tags: &[String],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Pushed> {
    let store = Store::open(store_dir)?;
    let local = local_name(manifest, app_name);
    let descriptor = store
        .get_ref(&local)?
        .ok_or_else(|| OciError::NotInStore(local.clone()))?;
    let manifest_bytes = store.read_blob(&descriptor.digest)?;
    let image: Value = serde_json::from_slice(&manifest_bytes).map_err(OciError::Decode)?;
    let target = registry(manifest, registry_name)?;
    let repository = target.repository(&manifest.app_repository(app_name));
    target.prepare_repository(&repository)?;
    let base_ref = descriptor
        .annotations
        .get("org.opencontainers.image.base.name")
        .map(|n| ImageRef::parse(n))
        .transpose()?;

    // An index: its images' blobs, then the images themselves by digest, the index last.
    let mut children: Vec<(Digest, Vec<u8>, String)> = Vec::new();
    let mut blobs: Vec<Digest> = Vec::new();
    let images: Vec<Value> = match image["manifests"].as_array() {
        Some(entries) => {
            let mut images = Vec::new();
            for entry in entries {
                let digest = entry["digest"]
                    .as_str()
                    .and_then(Digest::parse)
                    .ok_or_else(|| {
                        OciError::Json(format!("{local}: an index entry without a digest"))
                    })?;
                let bytes = store.read_blob(&digest)?;
                images.push(serde_json::from_slice(&bytes).map_err(OciError::Decode)?);
                children.push((
                    digest,
                    bytes,
                    entry["mediaType"]
                        .as_str()
                        .unwrap_or(image::OCI_MANIFEST)
                        .to_owned(),
                ));
            }
            images
        }
        None => vec![image.clone()],
    };
    for single in &images {
        let digests = std::iter::once(&single["config"])
            .chain(single["layers"].as_array().into_iter().flatten())
            .filter_map(|d| d["digest"].as_str().and_then(Digest::parse));
        for digest in digests {
            if !blobs.contains(&digest) {
                blobs.push(digest);
            }
        }
    }
    let mut pushed = Pushed {
        app: app_name.into(),
        reference: String::new(),
        digest: descriptor.digest.clone(),
        tags: tags.to_vec(),
        blobs_uploaded: 0,
        bytes_uploaded: 0,
        blobs_present: 0,
        blobs_mounted: 0,
    };
    // Blobs go up several at a time; the manifest waits for all of them.
    #[derive(Clone, Copy)]
    enum Outcome {
        Present,
        Mounted,
        Uploaded(u64),
    }
    let send_blob = |(digest, present): (Digest, Option<bool>)| {
        let (target, store, repository, base_ref) = (&target, &store, &repository, &base_ref);
        async move {
            let present = match present {
                Some(known) => known,
                None => {
                    target
                        .client
                        .blob_exists_for_push(repository, &digest)
                        .await?
                }
            };
            if present {
                return Ok(Outcome::Present);
            }
            if !store.has_blob(&digest) {
                let Some(base) = base_ref else {
                    return Err(OciError::NotInStore(digest.to_string()));
                };
                if base.registry() == target.client.host()
                    && target
                        .client
                        .mount_blob(repository, &digest, base.repository())
                        .await?
                {
                    return Ok(Outcome::Mounted);
                }
                let source = RegistryClient::new(
                    base.registry(),
                    false,
                    credentials::from_docker_config(base.registry())?,
                )?;
                source.fetch_blob(base.repository(), &digest, store).await?;
            }
            target
                .client
                .upload_blob(repository, &digest, store)
                .await?;
            Ok::<_, OciError>(Outcome::Uploaded(
                std::fs::metadata(store.blob_path(&digest))
                    .map(|m| m.len())
                    .unwrap_or(0),
            ))
        }
    };
    let total = blobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    progress(0, total);
    // The largest first, so no big upload starts last and runs alone; blobs the store lacks
    // (the base's, mounted or fetched) count as largest.
    blobs.sort_by_cached_key(|digest| {
        std::cmp::Reverse(std::fs::metadata(store.blob_path(digest)).map_or(u64::MAX, |m| m.len()))
    });
    // One HEAD alone settles authentication, so the parallel requests do not each meet a 401.
    let mut blobs = blobs.into_iter().map(|digest| (digest, None));
    let mut first = blobs.next();
    if let Some((digest, known)) = &mut first {
        *known = Some(
            target
                .client
                .blob_exists_for_push(&repository, digest)
                .await?,
        );
    }
    let outcomes: Vec<Result<Outcome>> =
        futures_util::stream::iter(first.into_iter().chain(blobs).map(send_blob))
            .buffer_unordered(PARALLEL_UPLOADS)
            .inspect(|_| {
                progress(
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
                    total,
                )
            })
            .collect()
            .await;
    for outcome in outcomes {
        match outcome? {
            Outcome::Present => pushed.blobs_present += 1,
            Outcome::Mounted => pushed.blobs_mounted += 1,
            Outcome::Uploaded(bytes) => {
                pushed.blobs_uploaded += 1;
                pushed.bytes_uploaded += bytes;
            }
        }
    }
    let media_type = image["mediaType"]
        .as_str()
        .unwrap_or(image::OCI_MANIFEST)
        .to_owned();
    for (digest, bytes, child_type) in &children {
        let written = target
            .client
            .put_manifest(&repository, digest.as_str(), bytes, child_type)
            .await?;
        if &written != digest {
            return Err(OciError::DigestMismatch {
                expected: digest.to_string(),
                actual: written.to_string(),
            });
        }
    }
    // Without a tag the manifest is put by its digest, so the image still exists to pull.
    let by_digest = [descriptor.digest.to_string()];
    let references: &[String] = if tags.is_empty() { &by_digest } else { tags };
    for tag in references {
        let digest = target
            .client
            .put_manifest(&repository, tag, &manifest_bytes, &media_type)
            .await?;
        if digest != descriptor.digest {
            return Err(OciError::DigestMismatch {
                expected: descriptor.digest.to_string(),
                actual: digest.to_string(),
            });
        }
    }
    pushed.reference = format!(
        "{}/{repository}@{}",
        target.client.host(),
        descriptor.digest
    );
    Ok(pushed)
}

/// Writes an app's image as a `docker load` archive at `out` (layers as stored, compressed;
/// base layers fetched when they are not local) and returns the tag it carries.
pub async fn docker_archive(
    manifest: &Manifest,
    app_name: &str,
    store_dir: &Path,
    out: &Path,
) -> Result<String> {
    let store = Store::open(store_dir)?;
    let local = local_name(manifest, app_name);
    let (descriptor, image) = image_for_this_machine(&store, &local)?;
    let config = image["config"]["digest"]
        .as_str()
        .and_then(Digest::parse)
        .ok_or_else(|| OciError::Json(format!("{local} has no config")))?;
    let layers: Vec<Digest> = image["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["digest"].as_str().and_then(Digest::parse))
        .collect();
    if layers.iter().any(|l| !store.has_blob(l)) {
        let base = descriptor
            .annotations
            .get("org.opencontainers.image.base.name")
            .map(|n| ImageRef::parse(n))
            .transpose()?
            .ok_or_else(|| OciError::NotInStore(local.clone()))?;
        let configured = manifest
            .registries
            .iter()
            .find(|(_, r)| r.url.split('/').next() == Some(base.registry()))
            .map(|(n, _)| n.clone());
        let client = match configured {
            Some(name) => registry(manifest, &name)?.client,
            None => RegistryClient::new(
                base.registry(),
                false,
                credentials::from_docker_config(base.registry())?,
            )?,
        };
        for layer in layers.iter().filter(|l| !store.has_blob(l)) {
            client.fetch_blob(base.repository(), layer, &store).await?;
        }
    }
    let path_of = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let index = serde_json::json!([{ "Config": path_of(&config), "RepoTags": [local], "Layers": layers.iter().map(path_of).collect::<Vec<_>>() }]);
    let file = std::fs::File::create(out).map_err(crate::io_error(out))?;
    let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
    let mut add = |name: &str, path: &Path| -> Result<()> {
        let mut source = std::fs::File::open(path).map_err(crate::io_error(path))?;
        let size = source.metadata().map_err(crate::io_error(path))?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, name, &mut source)
            .map_err(crate::io_error(path))
    };
    let mut seen = std::collections::BTreeSet::new();
    for digest in std::iter::once(&config).chain(&layers) {
        if seen.insert(digest.clone()) {
            add(&path_of(digest), &store.blob_path(digest))?;
        }
    }
    let index_bytes = serde_json::to_vec(&index).expect("serializable");
    let mut header = tar::Header::new_gnu();
    header.set_size(index_bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, "manifest.json", &index_bytes[..])
        .map_err(crate::io_error(out))?;
    archive
        .into_inner()
        .map_err(crate::io_error(out))?
        .into_inner()
        .map_err(|e| crate::io_error(out)(e.into_error()))?;
    Ok(local)
}

/// Takes an image the engine built (a `docker save` archive at `archive`) into the store as
/// `local`: layers compressed the same deterministic way as assembled ones, the config as is.
pub fn import_docker_archive(store_dir: &Path, archive: &Path, local: &str) -> Result<Digest> {
    use std::io::{Read, Write};
    let store = Store::open(store_dir)?;
    let open = || -> Result<tar::Archive<std::fs::File>> {
        Ok(tar::Archive::new(
            std::fs::File::open(archive).map_err(crate::io_error(archive))?,
        ))
    };
    // manifest.json names the config and the layers, in order.
    let mut index: Option<Value> = None;
    for entry in open()?.entries().map_err(crate::io_error(archive))? {
        let mut entry = entry.map_err(crate::io_error(archive))?;
        if entry
            .path()
            .map_err(crate::io_error(archive))?
            .to_string_lossy()
            == "manifest.json"
        {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(crate::io_error(archive))?;
            index = Some(
                serde_json::from_str(&text).map_err(|source| OciError::Malformed {
                    what: archive.display().to_string(),
                    source,
                })?,
            );
        }
    }
    let index =
        index.ok_or_else(|| OciError::Json(format!("{}: no manifest.json", archive.display())))?;
    let config_path = index[0]["Config"].as_str().unwrap_or_default().to_owned();
    let layer_paths: Vec<String> = index[0]["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    let mut config_digest = None;
    let mut layers: HashMap<String, (Digest, u64)> = HashMap::new();
    for entry in open()?.entries().map_err(crate::io_error(archive))? {
        let mut entry = entry.map_err(crate::io_error(archive))?;
        let path = entry
            .path()
            .map_err(crate::io_error(archive))?
            .to_string_lossy()
            .into_owned();
        if path == config_path {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(crate::io_error(archive))?;
            config_digest = Some((store.put_bytes(&bytes)?, bytes.len() as u64));
        } else if layer_paths.contains(&path) && !layers.contains_key(&path) {
            let temp = store.temp_path("imported-layer");
            let file = std::fs::File::create(&temp).map_err(crate::io_error(&temp))?;
            let hashing = crate::digest::HashingWriter::new(std::io::BufWriter::new(file));
            let mut gzip = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(hashing, flate2::Compression::new(6));
            std::io::copy(&mut entry, &mut gzip).map_err(crate::io_error(&temp))?;
            let (mut writer, digest, size) =
                gzip.finish().map_err(crate::io_error(&temp))?.finish();
            writer.flush().map_err(crate::io_error(&temp))?;
            drop(writer);
            store.adopt(&temp, &digest)?;
            layers.insert(path, (digest, size));
        }
    }
    let (config, config_size) = config_digest.ok_or_else(|| {
        OciError::Json(format!(
            "{}: the config {config_path} is missing",
            archive.display()
        ))
    })?;
    let layer_descriptors: Vec<Value> = layer_paths
        .iter()
        .map(|p| layers.get(p).map(|(d, s)| serde_json::json!({ "mediaType": image::DOCKER_LAYER, "digest": d, "size": s })).ok_or_else(|| OciError::Json(format!("{}: layer {p} is missing (is it a link?)", archive.display()))))
        .collect::<Result<_>>()?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": image::DOCKER_MANIFEST,
        "config": { "mediaType": image::DOCKER_CONFIG, "digest": config, "size": config_size },
        "layers": layer_descriptors,
    });
    let bytes = serde_json::to_vec(&manifest).expect("serializable");
    let digest = store.put_bytes(&bytes)?;
    store.set_ref(
        local,
        crate::store::Descriptor {
            media_type: image::DOCKER_MANIFEST.into(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
        },
    )?;
    Ok(digest)
}

/// The config digest of an app's image in the store (this machine's platform of an index):
/// the image ID the engine gives it once loaded.
pub fn config_digest(manifest: &Manifest, app_name: &str, store_dir: &Path) -> Result<Digest> {
    let store = Store::open(store_dir)?;
    let local = local_name(manifest, app_name);
    let (_, image) = image_for_this_machine(&store, &local)?;
    image["config"]["digest"]
        .as_str()
        .and_then(Digest::parse)
        .ok_or_else(|| OciError::Json(format!("{local} has no config")))
}

/// The store's image `local` (its descriptor, and the manifest of this machine's platform when
/// it is an index): what the local engine runs.
fn image_for_this_machine(store: &Store, local: &str) -> Result<(crate::store::Descriptor, Value)> {
    let descriptor = store
        .get_ref(local)?
        .ok_or_else(|| OciError::NotInStore(local.to_owned()))?;
    let mut image: Value =
        serde_json::from_slice(&store.read_blob(&descriptor.digest)?).map_err(OciError::Decode)?;
    if let Some(entries) = image["manifests"].as_array() {
        let arch = host_architecture();
        let chosen = entries
            .iter()
            .find(|e| e["platform"]["architecture"] == arch)
            .and_then(|e| e["digest"].as_str())
            .and_then(Digest::parse)
            .ok_or_else(|| OciError::NotFound {
                registry: "the local store".into(),
                reference: format!("{local} for linux/{arch}"),
            })?;
        image = serde_json::from_slice(&store.read_blob(&chosen)?).map_err(OciError::Decode)?;
    }
    Ok((descriptor, image))
}

/// The image apps of `base` build and run on, as a full reference: pinned by digest in
/// slipway.lock, or its fixed tag; with the registry it comes from.
pub fn base_reference(
    manifest: &Manifest,
    base: &str,
    pinned: &BTreeMap<String, Digest>,
) -> Result<(Registry, String)> {
    let config = manifest
        .bases
        .get(base)
        .ok_or_else(|| OciError::Json(format!("no base `{base}` in slipway.toml")))?;
    let registry_name = default_registry(manifest, config.registry.as_deref())
        .ok_or_else(|| OciError::Json(format!("base `{base}` has no registry")))?;
    let registry = registry(manifest, &registry_name)?;
    let repository = format!(
        "{}/{}",
        registry.client.host(),
        registry.repository(&config.image)
    );
    let reference = match pinned.get(base) {
        Some(digest) => format!("{repository}@{digest}"),
        None => format!("{repository}:{}", fixed_tag(manifest, base)?),
    };
    Ok((registry, reference))
}
