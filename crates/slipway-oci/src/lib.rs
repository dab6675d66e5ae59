//! Images without a daemon: deterministic layers from an app's directory, image configs and
//! manifests on top of a base, an OCI image layout store, and a registry client.

pub mod app;
pub mod credentials;
pub mod digest;
pub mod image;
pub mod layer;
pub mod pin;
pub mod promote;
pub mod registry;
pub mod store;

pub use digest::Digest;
pub use slipway_image_ref::{ImageRef, ImageRefError};
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Reference(#[from] ImageRefError),
    #[error("{0}")]
    Json(String),
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error("registry {registry}: authentication failed for {repository}: {message}")]
    Auth {
        registry: String,
        repository: String,
        message: String,
    },
    #[error("{reference} not found in {registry}")]
    NotFound { registry: String, reference: String },
    #[error("digest mismatch for {expected}: the content hashes to {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("credential helper docker-credential-{helper}: {message}")]
    CredentialHelper { helper: String, message: String },
    #[error("no image {0} in the local store: run `slipway build` first")]
    NotInStore(String),
}

pub type Result<T, E = OciError> = std::result::Result<T, E>;

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.to_path_buf(),
        source,
    }
}
