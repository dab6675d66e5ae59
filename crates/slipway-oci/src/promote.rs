//! Copying an image by digest between repositories or registries without rebuilding it:
//! blobs first (mounted within one registry), child manifests of an index next, the tagged
//! manifest last.

use serde::Serialize;
use serde_json::Value;

use crate::registry::RegistryClient;
use crate::{Digest, OciError, Result, Store};

/// What a copy of an image between registries did.
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    /// Digest of the copied manifest (or index).
    pub digest: Digest,
    /// The copy's reference in the target, by digest.
    pub reference: String,
    /// Blobs copied through this machine.
    pub blobs_copied: usize,
    /// Blobs mounted within the target registry instead of copied.
    pub blobs_mounted: usize,
    /// Blobs the target already had.
    pub blobs_present: usize,
}

/// One side of a copy.
#[derive(Debug)]
pub struct Endpoint<'a> {
    /// A client of the registry.
    pub client: &'a RegistryClient,
    /// The repository, as that registry names it.
    pub repository: String,
}

/// Copies the image `reference` from `source` to `target` by digest, children of an index first and the tagged manifest last.
pub async fn promote(
    source: &Endpoint<'_>,
    reference: &str,
    target: &Endpoint<'_>,
    tags: &[String],
    store: &Store,
) -> Result<Promoted> {
    let manifest = source
        .client
        .get_manifest(&source.repository, reference)
        .await?;
    let mut promoted = Promoted {
        digest: manifest.digest.clone(),
        reference: String::new(),
        blobs_copied: 0,
        blobs_mounted: 0,
        blobs_present: 0,
    };
    let parsed: Value = serde_json::from_slice(&manifest.bytes).map_err(OciError::Decode)?;
    if let Some(children) = parsed["manifests"].as_array() {
        for child in children {
            let digest = child["digest"]
                .as_str()
                .and_then(Digest::parse)
                .ok_or_else(|| OciError::Json("an index entry without a digest".into()))?;
            let child_manifest = source
                .client
                .get_manifest(&source.repository, digest.as_str())
                .await?;
            copy_blobs(source, target, &child_manifest.bytes, store, &mut promoted).await?;
            target
                .client
                .put_manifest(
                    &target.repository,
                    digest.as_str(),
                    &child_manifest.bytes,
                    &child_manifest.media_type,
                )
                .await?;
        }
    } else {
        copy_blobs(source, target, &manifest.bytes, store, &mut promoted).await?;
    }
    let media_type = parsed["mediaType"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(manifest.media_type.clone());
    let mut references = vec![manifest.digest.to_string()];
    references.extend(tags.iter().cloned());
    for reference in &references {
        let written = target
            .client
            .put_manifest(&target.repository, reference, &manifest.bytes, &media_type)
            .await?;
        if written != manifest.digest {
            return Err(OciError::DigestMismatch {
                expected: manifest.digest.to_string(),
                actual: written.to_string(),
            });
        }
    }
    promoted.reference = format!(
        "{}/{}@{}",
        target.client.host(),
        target.repository,
        manifest.digest
    );
    Ok(promoted)
}

async fn copy_blobs(
    source: &Endpoint<'_>,
    target: &Endpoint<'_>,
    manifest: &[u8],
    store: &Store,
    promoted: &mut Promoted,
) -> Result<()> {
    let parsed: Value = serde_json::from_slice(manifest).map_err(OciError::Decode)?;
    let digests = std::iter::once(&parsed["config"])
        .chain(parsed["layers"].as_array().into_iter().flatten())
        .filter_map(|d| d["digest"].as_str().and_then(Digest::parse));
    for digest in digests {
        if target
            .client
            .blob_exists(&target.repository, &digest)
            .await?
        {
            promoted.blobs_present += 1;
            continue;
        }
        if source.client.host() == target.client.host()
            && target
                .client
                .mount_blob(&target.repository, &digest, &source.repository)
                .await?
        {
            promoted.blobs_mounted += 1;
            continue;
        }
        source
            .client
            .fetch_blob(&source.repository, &digest, store)
            .await?;
        target
            .client
            .upload_blob(&target.repository, &digest, store)
            .await?;
        promoted.blobs_copied += 1;
    }
    Ok(())
}
