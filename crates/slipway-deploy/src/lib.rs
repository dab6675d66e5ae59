//! Deploys on Docker hosts and Amazon ECS: the release history (SQLite), the per-environment
//! deploy lock, the proxy on each host, and the carrying out of the strategies' plans
//! (`slipway_core::plan`) against either target behind one [`target::Target`] trait by one
//! executor ([`execute`]), with health gates, canary analysis, automatic rollback and the
//! recovery or resumption of an interrupted deploy.

#![warn(missing_docs)]

pub mod changes;
pub mod deployer;
mod docker;
#[cfg(test)]
mod double;
pub mod ecs;
pub mod ecs_jobs;
mod ecs_logs;
mod ecs_target;
pub mod execute;
pub mod host;
pub mod hosts_check;
pub mod identity;
pub mod jobs;
pub mod live;
pub mod lock;
pub mod maintenance;
pub mod proxy_log;
pub mod rollout;
pub mod status;
/// The release history, kept by `slipway-history` so readers need not link the deploy code.
pub use slipway_history::releases as store;
pub mod target;
pub mod tls;

use std::path::PathBuf;

/// Everything a deploy, a rollback or a status query can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An environment slipway.toml does not have (with the closest name it has).
    #[error(transparent)]
    Manifest(#[from] slipway_core::ManifestError),
    /// A local file or directory (the lock, the state dir) could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The release history failed.
    #[error(transparent)]
    History(#[from] slipway_history::HistoryError),
    /// Another deploy of the environment holds its lock.
    #[error("environment `{environment}` is being deployed by {holder}; wait for it to finish")]
    Locked {
        /// The environment being deployed.
        environment: String,
        /// Who holds it, running what, since when.
        holder: String,
    },
    /// The deploy cannot be planned as asked (an unknown app or host, a target that does not fit);
    /// the message says why.
    #[error("{0}")]
    Plan(String),
    /// An app's image could not be found, pulled or prepared.
    #[error("app `{app}`: {message}")]
    Image {
        /// The app whose image it is.
        app: String,
        /// What went wrong.
        message: String,
    },
    /// A host's proxy refused an order or answered what cannot be read.
    #[error("the proxy on {host}: {message}")]
    Proxy {
        /// The host as slipway.toml writes it, or `local`.
        host: String,
        /// The proxy's refusal or answer.
        message: String,
    },
    /// A new release of an app never became healthy.
    #[error("app `{app}` did not pass its health gate: {message}")]
    Gate {
        /// The app whose new release failed its gate.
        app: String,
        /// Why: the proxy's or the engine's answer, with the container's last output when there is some.
        message: String,
    },
    /// A hook of the environment (run in a container of the app) exited with a failure.
    #[error("the {when} hook of app `{app}` failed: {message}")]
    Hook {
        /// The app whose hook it is.
        app: String,
        /// When the hook runs: `before_deploy` or `after_deploy`.
        when: String,
        /// The command, its exit code and its output (secrets masked).
        message: String,
    },
    /// A canary's metrics were worse than the analysis allows.
    #[error("app `{app}`: canary analysis failed: {message}")]
    Analysis {
        /// The app whose canary failed.
        app: String,
        /// Which measure failed, and by how much.
        message: String,
    },
    /// The deploy failed and was undone.
    #[error("release {release} was rolled back ({}): {reason}", restored.as_ref().map_or("nothing was live before it".to_owned(), |r| format!("{r} is live")))]
    RolledBack {
        /// The release that was rolled back.
        release: String,
        /// Why it was rolled back.
        reason: String,
        /// The release live again, if one was live before it.
        restored: Option<String>,
    },
    /// The Docker Engine of a host failed.
    #[error(transparent)]
    Engine(#[from] slipway_docker::DockerError),
    /// AWS (ECS, the load balancer, secrets) failed.
    #[error(transparent)]
    Aws(#[from] slipway_aws::AwsError),
}

/// The result of deploy functions, failing with a [`DeployError`] unless told otherwise.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;
