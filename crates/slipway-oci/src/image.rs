//! An app image: its base's config and layers, plus the app's layers and image config.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::layer::BuiltLayer;
use crate::store::Descriptor;
use crate::{Digest, OciError, Result, Store};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index (several platforms).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip-compressed OCI layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of a Docker v2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker manifest list (several platforms).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Media type of a Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Media type of a gzip-compressed Docker layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The image config an app sets on top of its base.
#[derive(Debug, Clone, Default)]
pub struct ImageSettings {
    /// The user the app runs as; the base's when `None`.
    pub user: Option<String>,
    /// The working directory; the base's when `None`.
    pub workdir: Option<String>,
    /// The entrypoint; the base's when `None`.
    pub entrypoint: Option<Vec<String>>,
    /// The command; the base's when `None`.
    pub cmd: Option<Vec<String>>,
    /// The port the app listens on, exposed in the config.
    pub port: Option<u16>,
    /// Variables set in the image, in order (never secrets).
    pub env: Vec<(String, String)>,
    /// Labels added to the base's.
    pub labels: BTreeMap<String, String>,
    /// Docker health check: the command and its timings in nanoseconds.
    pub health: Option<(Vec<String>, u64, u64, u32, u64)>,
    /// The signal that stops the app (`StopSignal`); the base's when `None`.
    pub stop_signal: Option<String>,
    /// What built each layer, for the image history.
    pub created_by: String,
}

/// A base image as read from a registry.
#[derive(Debug, Clone)]
pub struct Base {
    /// Its reference as given.
    pub name: String,
    /// Digest of the manifest built on.
    pub manifest_digest: Digest,
    /// Its media type: the new image keeps the base's format (Docker v2 or OCI).
    pub manifest_media_type: String,
    /// The base's image config.
    pub config: Value,
    /// The base's layers, which the new image starts with.
    pub layers: Vec<Descriptor>,
}

impl Base {
    /// Reads a single-platform manifest and its config (already in the store).
    pub fn from_manifest(
        name: &str,
        manifest_bytes: &[u8],
        media_type: &str,
        store: &Store,
    ) -> Result<Base> {
        let manifest: Value =
            serde_json::from_slice(manifest_bytes).map_err(|source| OciError::Malformed {
                what: format!("manifest of {name}"),
                source,
            })?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .and_then(Digest::parse)
            .ok_or_else(|| OciError::Json(format!("manifest of {name} has no config")))?;
        let config: Value =
            serde_json::from_slice(&store.read_blob(&config_digest)?).map_err(|source| {
                OciError::Malformed {
                    what: format!("config of {name}"),
                    source,
                }
            })?;
        let layers: Vec<Descriptor> =
            serde_json::from_value(manifest["layers"].clone()).map_err(|source| {
                OciError::Malformed {
                    what: format!("layers of {name}"),
                    source,
                }
            })?;
        let media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(media_type)
            .to_owned();
        Ok(Base {
            name: name.into(),
            manifest_digest: Digest::of(manifest_bytes),
            manifest_media_type: media_type,
            config,
            layers,
        })
    }

    fn is_docker(&self) -> bool {
        self.manifest_media_type == DOCKER_MANIFEST
    }
}

pub use slipway_core::time::rfc3339;

/// Writes the app image's config and manifest into the store; returns the manifest's
/// descriptor. The manifest keeps the base's format (Docker or OCI) so every engine reads it.
pub fn assemble(
    store: &Store,
    base: &Base,
    layers: &[BuiltLayer],
    settings: &ImageSettings,
    created: u64,
) -> Result<Descriptor> {
    let created_text = rfc3339(created);
    let mut config = base.config.clone();
    let object = config
        .as_object_mut()
        .ok_or_else(|| OciError::Json(format!("config of {} is not an object", base.name)))?;
    object.insert("created".into(), json!(created_text));
    for stale in ["container", "container_config", "docker_version"] {
        object.remove(stale);
    }
    let runtime = object.entry("config").or_insert_with(|| json!({}));
    if !runtime.is_object() {
        *runtime = json!({});
    }
    let runtime = runtime.as_object_mut().expect("made an object above");
    if let Some(user) = &settings.user {
        runtime.insert("User".into(), json!(user));
    }
    if let Some(workdir) = &settings.workdir {
        runtime.insert("WorkingDir".into(), json!(workdir));
    }
    if let Some(entrypoint) = &settings.entrypoint {
        runtime.insert("Entrypoint".into(), json!(entrypoint));
        // A new entrypoint drops the base's command, as a Dockerfile's ENTRYPOINT does.
        if settings.cmd.is_none() {
            runtime.insert("Cmd".into(), Value::Null);
        }
    }
    if let Some(cmd) = &settings.cmd {
        runtime.insert("Cmd".into(), json!(cmd));
    }
    if let Some(port) = settings.port {
        let ports = runtime.entry("ExposedPorts").or_insert_with(|| json!({}));
        if let Some(ports) = ports.as_object_mut() {
            ports.insert(format!("{port}/tcp"), json!({}));
        }
    }
    if !settings.env.is_empty() {
        let mut env: Vec<String> = runtime
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for (key, value) in &settings.env {
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(format!("{key}={value}"));
        }
        runtime.insert("Env".into(), json!(env));
    }
    if !settings.labels.is_empty() {
        let labels = runtime.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        let labels = labels.as_object_mut().expect("made an object above");
        for (key, value) in &settings.labels {
            labels.insert(key.clone(), json!(value));
        }
    }
    if let Some((test, interval, timeout, retries, start_period)) = &settings.health {
        let mut command = vec!["CMD".to_owned()];
        command.extend(test.iter().cloned());
        runtime.insert("Healthcheck".into(), json!({ "Test": command, "Interval": interval, "Timeout": timeout, "Retries": retries, "StartPeriod": start_period }));
    }
    if let Some(signal) = &settings.stop_signal {
        runtime.insert("StopSignal".into(), json!(signal));
    }
    let diff_ids = object
        .entry("rootfs")
        .or_insert_with(|| json!({ "type": "layers", "diff_ids": [] }));
    if let Some(ids) = diff_ids.get_mut("diff_ids").and_then(Value::as_array_mut) {
        ids.extend(layers.iter().map(|l| json!(l.diff_id)));
    }
    let history = object.entry("history").or_insert_with(|| json!([]));
    if let Some(history) = history.as_array_mut() {
        for _ in layers {
            history.push(json!({ "created": created_text, "created_by": settings.created_by, "comment": "slipway assemble" }));
        }
    }
    let config_bytes = serde_json::to_vec(&config).expect("serializable");
    let config_digest = store.put_bytes(&config_bytes)?;
    let docker = base.is_docker();
    let (manifest_type, config_type, layer_type) = if docker {
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    } else {
        (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    };
    let mut all_layers: Vec<Value> = base
        .layers
        .iter()
        .map(|l| json!({ "mediaType": l.media_type, "digest": l.digest, "size": l.size }))
        .collect();
    all_layers.extend(
        layers
            .iter()
            .map(|l| json!({ "mediaType": layer_type, "digest": l.digest, "size": l.size })),
    );
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": { "mediaType": config_type, "digest": config_digest, "size": config_bytes.len() },
        "layers": all_layers,
    });
    if !docker {
        manifest["annotations"] = json!({
            "org.opencontainers.image.base.name": base.name,
            "org.opencontainers.image.base.digest": base.manifest_digest,
            "org.opencontainers.image.created": created_text,
        });
    }
    let bytes = serde_json::to_vec(&manifest).expect("serializable");
    let digest = store.put_bytes(&bytes)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.base.name".into(),
        base.name.clone(),
    );
    annotations.insert(
        "org.opencontainers.image.base.digest".into(),
        base.manifest_digest.to_string(),
    );
    Ok(Descriptor {
        media_type: manifest_type.into(),
        digest,
        size: bytes.len() as u64,
        annotations,
        platform: None,
    })
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_115_200), "2025-11-26T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
