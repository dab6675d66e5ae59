//! Images without a daemon: deterministic layers from an app's directory, image configs and
//! manifests on top of a base, an OCI image layout store, and a registry client.

#![warn(missing_docs)]

pub mod app;
pub mod credentials;
pub mod digest;
pub mod history;
pub mod image;
pub mod layer;
pub mod pin;
pub mod promote;
pub mod registry;
pub mod store;

pub use digest::Digest;
pub use slipway_image_ref::{ImageRef, ImageRefError};
pub use store::Store;

/// What went wrong building, storing, pushing or pulling an image.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Text that is not an image reference.
    #[error(transparent)]
    Reference(#[from] ImageRefError),
    /// A problem with an image, a manifest or the project, described by the text.
    #[error("{0}")]
    Json(String),
    /// A JSON document (a manifest, an index, an image config) that does not read.
    #[error(transparent)]
    Decode(#[from] serde_json::Error),
    /// The same, with what the document is (`manifest of shop/api`, a file's path).
    #[error("{what}: {source}")]
    Malformed {
        /// What the document is (`manifest of shop/api`, a file's path).
        what: String,
        /// Why it does not read.
        #[source]
        source: serde_json::Error,
    },
    /// A `.dockerignore` line that is not a glob.
    #[error(".dockerignore pattern `{pattern}`: {source}")]
    IgnorePattern {
        /// The line as written.
        pattern: String,
        /// Why it is not a glob.
        #[source]
        source: globset::Error,
    },
    /// The `.dockerignore` patterns together do not make a matcher.
    #[error("{0}")]
    IgnorePatterns(#[source] globset::Error),
    /// A layer's build stopped without an answer (it panicked or was cancelled).
    #[error("layer task: {0}")]
    LayerTask(#[source] tokio::task::JoinError),
    /// The registry refused a request or could not be reached.
    #[error("registry {registry}: {message}")]
    Registry {
        /// The registry's host.
        registry: String,
        /// What went wrong.
        message: String,
    },
    /// The registry or its token service refused the login or the access asked for.
    #[error("registry {registry}: authentication failed for {repository}: {message}")]
    Auth {
        /// The registry's host.
        registry: String,
        /// The repository access was asked for.
        repository: String,
        /// What was refused, and what to do.
        message: String,
    },
    /// The registry has no such manifest or blob.
    #[error("{reference} not found in {registry}")]
    NotFound {
        /// The registry's host (or `the local store`).
        registry: String,
        /// What was looked for.
        reference: String,
    },
    /// Content did not hash to the digest it was fetched by.
    #[error("digest mismatch for {expected}: the content hashes to {actual}")]
    DigestMismatch {
        /// The digest it was fetched by.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A Docker credential helper failed.
    #[error("credential helper docker-credential-{helper}: {message}")]
    CredentialHelper {
        /// The helper's name (`ecr-login` for `docker-credential-ecr-login`).
        helper: String,
        /// What it said, or why it could not run.
        message: String,
    },
    /// The image was never built into the local store.
    #[error("no image {0} in the local store: run `slipway build` first")]
    NotInStore(String),
}

/// The outcome of an image operation.
pub type Result<T, E = OciError> = std::result::Result<T, E>;

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.to_path_buf(),
        source,
    }
}
