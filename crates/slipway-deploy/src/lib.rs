//! Deploys on Docker hosts and Amazon ECS: the release history (SQLite), the per-environment
//! deploy lock, the proxy on each host, and the carrying out of the strategies' plans
//! (`slipway_core::plan`) against either target behind one [`target::Target`] trait by one
//! executor ([`execute`]), with health gates, canary analysis, automatic rollback and the
//! recovery or resumption of an interrupted deploy.

pub mod changes;
pub mod deployer;
mod docker;
#[cfg(test)]
mod double;
pub mod ecs;
mod ecs_target;
pub mod execute;
pub mod host;
pub mod identity;
pub mod lock;
pub mod rollout;
pub mod status;
/// The release history, kept by `slipway-history` so readers need not link the deploy code.
pub use slipway_history::releases as store;
pub mod target;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An environment slipway.toml does not have (with the closest name it has).
    #[error(transparent)]
    Manifest(#[from] slipway_core::ManifestError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    History(#[from] slipway_history::HistoryError),
    #[error("environment `{environment}` is being deployed by {holder}; wait for it to finish")]
    Locked { environment: String, holder: String },
    #[error("{0}")]
    Plan(String),
    #[error("app `{app}`: {message}")]
    Image { app: String, message: String },
    #[error("the proxy on {host}: {message}")]
    Proxy { host: String, message: String },
    #[error("app `{app}` did not pass its health gate: {message}")]
    Gate { app: String, message: String },
    #[error("the {when} hook of app `{app}` failed: {message}")]
    Hook {
        app: String,
        when: String,
        message: String,
    },
    #[error("app `{app}`: canary analysis failed: {message}")]
    Analysis { app: String, message: String },
    #[error("release {release} was rolled back ({}): {reason}", restored.as_ref().map_or("nothing was live before it".to_owned(), |r| format!("{r} is live")))]
    RolledBack {
        release: String,
        reason: String,
        restored: Option<String>,
    },
    #[error(transparent)]
    Engine(#[from] slipway_docker::DockerError),
    #[error(transparent)]
    Aws(#[from] slipway_aws::AwsError),
}

pub type Result<T, E = DeployError> = std::result::Result<T, E>;
