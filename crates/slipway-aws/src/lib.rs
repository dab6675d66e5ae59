//! Amazon Web Services for slipway: the ECS target (task definitions pinned by digest, services
//! followed to a steady state, ALB listener weights for blue-green and canary), and the secret
//! providers `ssm:` and `secretsmanager:`, ECR's registry login, the tasks' output in
//! CloudWatch Logs, and the EventBridge Scheduler schedules that run an ECS environment's jobs.
//!
//! Credentials and the region come from the standard AWS chain (environment, profile, SSO,
//! instance or task role); `AWS_ENDPOINT_URL` points every client elsewhere (the tests use a
//! local moto server).

#![warn(missing_docs)]

pub mod ecr;
pub mod ecs;
pub mod import;
pub mod import_files;
pub mod logs;
pub mod metrics;
pub mod scaffold;
pub mod scheduler;
pub mod secrets;
pub mod taskdef;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// What went wrong talking to AWS or planning what to change there.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An AWS call failed (after the SDK's own retries of throttling and server errors).
    #[error("{operation}: {message}")]
    Api {
        /// The AWS operation, e.g. `UpdateService`.
        operation: &'static str,
        /// The cause, the endpoint and what to do, on one line.
        message: String,
    },
    /// Something the deploy needs does not exist; nothing was changed.
    #[error("{0}")]
    Missing(String),
    /// A service did not reach a steady state on the new task definition.
    #[error("{service}: {reason}")]
    NotSteady {
        /// The service.
        service: String,
        /// What ECS reported: failed tasks, the rollout's reason, the last events.
        reason: String,
    },
    /// Files or settings that cannot become what AWS needs, described by the text.
    #[error("{0}")]
    Plan(String),
    /// A file or directory of the project could not be read, created or written.
    #[error("{action} {}", path.display())]
    File {
        /// `reading`, `creating` or `writing`.
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The outcome of an AWS operation.
pub type Result<T, E = AwsError> = std::result::Result<T, E>;

/// Turns an AWS failure into ours: one line with the operation, the endpoint, the cause and
/// what to do (never the SDK's debug form).
pub(crate) fn api<E: AwsFailure>(operation: &'static str) -> impl FnOnce(E) -> AwsError {
    move |error| AwsError::Api {
        operation,
        message: error.explain(),
    }
}

/// Where AWS calls go: `AWS_ENDPOINT_URL` (e.g. a local moto), else the region's AWS endpoints.
fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
            Ok(region) if !region.is_empty() => format!("AWS {region}"),
            _ => "AWS".to_owned(),
        },
    }
}

/// The innermost readable cause of an error chain (the outer layers only say "dispatch
/// failure" or "io error").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The advice for a failure, from its error code or cause.
fn advice(code: &str, cause: &str) -> &'static str {
    let text = format!("{code} {cause}").to_ascii_lowercase();
    if text.contains("credential")
        || text.contains("unrecognizedclient")
        || text.contains("invalidclienttokenid")
        || text.contains("signaturedoesnotmatch")
        || text.contains("expiredtoken")
    {
        "check the AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `aws sso login`)"
    } else if text.contains("accessdenied") || text.contains("unauthorized") {
        "give the role or user permission for this operation"
    } else if text.contains("notfound") || text.contains("does not exist") {
        "check the name in slipway.toml, or create it (`slipway aws scaffold`)"
    } else if text.contains("throttl") || text.contains("toomanyrequests") {
        "wait a moment and run it again"
    } else if text.contains("region") {
        "set the region (`region` in the environment's target, or AWS_REGION)"
    } else if text.contains("invalidparameter") || text.contains("validation") {
        "fix the value AWS names (in slipway.toml or the imported files)"
    } else {
        "check the endpoint and the network, then run it again"
    }
}

/// An AWS failure explained on one line.
pub trait AwsFailure {
    /// The failure on one line: the cause, the endpoint and what to do.
    fn explain(&self) -> String;
}

impl<E, R> AwsFailure for aws_sdk_ecs::error::SdkError<E, R>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn explain(&self) -> String {
        use aws_sdk_ecs::error::SdkError;
        let endpoint = endpoint();
        let (code, cause) = match self {
            SdkError::ServiceError(service) => {
                let error = service.err();
                let code = error.code().unwrap_or("error").to_owned();
                let message = error
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| error.to_string());
                (code.clone(), format!("{code}: {message}"))
            }
            SdkError::TimeoutError(_) => (String::new(), "no answer in time".to_owned()),
            SdkError::DispatchFailure(failure) => {
                let cause = std::error::Error::source(self)
                    .map(root_cause)
                    .unwrap_or_else(|| "the request could not be sent".to_owned());
                let what = if failure.is_io() {
                    "cannot connect"
                } else if failure.is_timeout() {
                    "timed out"
                } else {
                    "the request could not be sent"
                };
                (String::new(), format!("{what}: {cause}"))
            }
            SdkError::ResponseError(_) => (
                String::new(),
                format!(
                    "an answer that is not an AWS API response ({})",
                    std::error::Error::source(self)
                        .map(root_cause)
                        .unwrap_or_default()
                ),
            ),
            _ => (
                String::new(),
                std::error::Error::source(self)
                    .map(root_cause)
                    .unwrap_or_else(|| self.to_string()),
            ),
        };
        let cause = cause
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned();
        format!("at {endpoint}: {cause}; {}", advice(&code, &cause))
    }
}

impl AwsFailure for aws_sdk_ecs::error::BuildError {
    fn explain(&self) -> String {
        format!(
            "the request could not be built: {}; this is a bug in slipway, please report it",
            root_cause(self)
        )
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
