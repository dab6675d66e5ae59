//! The local image store: an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/...`) that other OCI tools can read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Digest, OciError, Result, io_error};

/// The annotation that names an image in the store's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI descriptor: what a manifest, an index or the store's index points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// Annotations, such as the image's name in the store.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform, for an index's entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<Descriptor>,
}

/// The local OCI image layout (`.slipway/oci`): blobs by digest and an index of named images.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the layout at `root`, creating it if it is not there.
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(io_error(root))?;
        std::fs::create_dir_all(root.join("tmp")).map_err(io_error(root))?;
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let empty = Index {
                schema_version: 2,
                media_type: Some("application/vnd.oci.image.index.v1+json".into()),
                manifests: Vec::new(),
            };
            write_atomic(
                &index,
                &serde_json::to_vec_pretty(&empty).expect("serializable"),
            )?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is (or would be) kept.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the store has the blob.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The blob's bytes.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        std::fs::read(&path).map_err(io_error(&path))
    }

    /// A fresh path for writing a blob before its digest is known.
    pub fn temp_path(&self, hint: &str) -> PathBuf {
        let unique = format!(
            "{hint}-{}-{}",
            std::process::id(),
            slipway_core::time::now_nanos()
        );
        self.root.join("tmp").join(unique)
    }

    /// Stores `bytes` as a blob and returns its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Moves a finished temporary file into place under its digest.
    pub fn adopt(&self, temp: &Path, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        if path.exists() {
            let _ = std::fs::remove_file(temp);
            return Ok(());
        }
        std::fs::rename(temp, &path).map_err(io_error(&path))
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        serde_json::from_slice(&bytes).map_err(|source| OciError::Malformed {
            what: path.display().to_string(),
            source,
        })
    }

    /// The image named `name` in the index, if any.
    pub fn get_ref(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(name)))
    }

    /// Every named image in the index.
    pub fn refs(&self) -> Result<Vec<Descriptor>> {
        Ok(self.read_index()?.manifests)
    }

    /// Points `name` at a manifest, replacing what it pointed at.
    pub fn set_ref(&self, name: &str, mut descriptor: Descriptor) -> Result<()> {
        // Builds of several apps run at once: index.json is read, changed and written by one at a time.
        static INDEX_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = INDEX_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME).map(String::as_str) != Some(name));
        descriptor.annotations.insert(REF_NAME.into(), name.into());
        index.manifests.push(descriptor);
        let path = self.root.join("index.json");
        write_atomic(
            &path,
            &serde_json::to_vec_pretty(&index).expect("serializable"),
        )
    }
}

/// Writes through a temporary file so readers never see half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    slipway_core::files::write_atomic(path, slipway_core::files::SHARED, bytes)
        .map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_index_names_its_file_and_keeps_the_parse_error_as_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("index.json"), "{ not json").unwrap();
        let error = store.refs().unwrap_err();
        let path = dir.path().join("index.json");
        let parse = serde_json::from_str::<Index>("{ not json").unwrap_err();
        assert_eq!(error.to_string(), format!("{}: {parse}", path.display()));
        let source = std::error::Error::source(&error).expect("the parse error is kept");
        assert!(source.is::<serde_json::Error>(), "{source:?}");
    }
}
