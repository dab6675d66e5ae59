//! Amazon Web Services for slipway: the ECS target (task definitions pinned by digest, services
//! followed to a steady state, ALB listener weights for blue-green and canary), and the secret
//! providers `ssm:` and `secretsmanager:`, and ECR's registry login.
//!
//! Credentials and the region come from the standard AWS chain (environment, profile, SSO,
//! instance or task role); `AWS_ENDPOINT_URL` points every client elsewhere (the tests use a
//! local moto server).

pub mod ecr;
pub mod ecs;
pub mod import;
pub mod metrics;
pub mod scaffold;
pub mod secrets;
pub mod taskdef;

use aws_config::{BehaviorVersion, Region, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An AWS call failed (after the SDK's own retries of throttling and server errors).
    #[error("{operation}: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
    /// Something the deploy needs does not exist; nothing was changed.
    #[error("{0}")]
    Missing(String),
    /// A service did not reach a steady state on the new task definition.
    #[error("{service}: {reason}")]
    NotSteady { service: String, reason: String },
    #[error("{0}")]
    Plan(String),
}

pub type Result<T, E = AwsError> = std::result::Result<T, E>;

/// Turns an SDK error into ours with the whole chain of causes (the SDK's Display is terse).
pub(crate) fn api<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> AwsError {
    move |error| AwsError::Api {
        operation,
        message: aws_sdk_ecs::error::DisplayErrorContext(&error).to_string(),
    }
}

/// The shared AWS configuration: the default credential chain, `region` when given (else the
/// chain's own, e.g. `AWS_REGION`).
pub async fn load_config(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    loader.load().await
}
