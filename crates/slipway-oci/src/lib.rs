//! Images without a daemon: deterministic layers from an app's directory, image configs and
//! manifests on top of a base, an OCI image layout store, and a registry client.

pub mod app;
pub mod credentials;
pub mod digest;
pub mod image;
pub mod layer;
pub mod pin;
pub mod promote;
pub mod reference;
pub mod registry;
pub mod store;

pub use digest::Digest;
pub use reference::Reference;
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid image reference `{0}`: write [registry/]repository[:tag][@digest]")]
    Reference(String),
    #[error("{0}")]
    Json(String),
    /// A JSON document (a manifest, an index, an image config) that does not read.
    #[error(transparent)]
    Decode(#[from] serde_json::Error),
    /// The same, with what the document is (`manifest of shop/api`, a file's path).
    #[error("{what}: {source}")]
    Malformed {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A `.dockerignore` line that is not a glob.
    #[error(".dockerignore pattern `{pattern}`: {source}")]
    IgnorePattern {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    /// The `.dockerignore` patterns together do not make a matcher.
    #[error("{0}")]
    IgnorePatterns(#[source] globset::Error),
    /// A layer's build stopped without an answer (it panicked or was cancelled).
    #[error("layer task: {0}")]
    LayerTask(#[source] tokio::task::JoinError),
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
