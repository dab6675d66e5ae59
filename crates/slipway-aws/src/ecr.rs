//! ECR's registry login: `GetAuthorizationToken` exchanges the AWS credentials for a registry
//! password (12 hours), used as Basic auth with the user `AWS`. ECR's repositories can be created
//! on push, with scan-on-push and a lifecycle policy that keeps the last releases.

use std::time::{Duration, SystemTime};

use base64::Engine;

use crate::{AwsError, Result, api};

/// A registry login; the password is never printed.
#[derive(Clone)]
pub struct EcrLogin {
    /// The user name (`AWS`).
    pub username: String,
    /// The token to log in with.
    pub password: String,
    /// When the token stops working.
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for EcrLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrLogin")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `(account, region)` of an ECR registry host such as
/// `123456789012.dkr.ecr.eu-central-1.amazonaws.com`; `None` for other hosts.
pub fn parse_host(host: &str) -> Option<(String, String)> {
    let host = host.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    let account = labels.next()?;
    let (dkr, ecr, region) = (labels.next()?, labels.next()?, labels.next()?);
    let valid_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (valid_account && dkr == "dkr" && ecr.starts_with("ecr"))
        .then(|| (account.to_owned(), region.to_owned()))
}

/// Exchanges the AWS credentials for a login to `host`'s registry; a host that is not an ECR
/// name (behind a proxy, or in tests) uses the default region.
pub async fn login(host: &str) -> Result<EcrLogin> {
    let parsed = parse_host(host);
    let config = crate::load_config(parsed.as_ref().map(|(_, region)| region.as_str())).await;
    let client = aws_sdk_ecr::Client::new(&config);
    // One token opens every registry the credentials may use; the host only picks the region.
    let answer = client
        .get_authorization_token()
        .send()
        .await
        .map_err(api("GetAuthorizationToken"))?;
    let data = answer
        .authorization_data()
        .first()
        .ok_or_else(|| AwsError::Missing(format!("ECR gave no login for `{host}`")))?;
    let token = data
        .authorization_token()
        .ok_or_else(|| AwsError::Missing(format!("ECR gave no token for `{host}`")))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AwsError::Api {
            operation: "GetAuthorizationToken",
            message: "the token is not base64 `user:password`".into(),
        })?;
    let (username, password) = decoded.split_once(':').ok_or_else(|| AwsError::Api {
        operation: "GetAuthorizationToken",
        message: "the token is not `user:password`".into(),
    })?;
    let expires_at = data.expires_at().and_then(|t| {
        u64::try_from(t.secs())
            .ok()
            .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    });
    Ok(EcrLogin {
        username: username.to_owned(),
        password: password.to_owned(),
        expires_at,
    })
}

/// Creates `repository` in `host`'s registry when it is missing, with scan-on-push and a
/// lifecycle policy that keeps the last `keep` images. An existing repository is left as it is.
pub async fn ensure_repository(host: &str, repository: &str, keep: u32) -> Result<bool> {
    let parsed = parse_host(host);
    let config = crate::load_config(parsed.as_ref().map(|(_, region)| region.as_str())).await;
    let client = aws_sdk_ecr::Client::new(&config);
    // The host's account, which may not be the caller's own.
    let registry_id = parsed.map(|(account, _)| account);
    match client
        .describe_repositories()
        .set_registry_id(registry_id.clone())
        .repository_names(repository)
        .send()
        .await
    {
        Ok(_) => return Ok(false),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_repository_not_found_exception()) => {}
        Err(error) => return Err(api("DescribeRepositories")(error)),
    }
    client
        .create_repository()
        .set_registry_id(registry_id.clone())
        .repository_name(repository)
        .image_scanning_configuration(
            aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("slipway:created-by")
                .value("slipway push")
                .build()
                .map_err(api("CreateRepository"))?,
        )
        .send()
        .await
        .map_err(api("CreateRepository"))?;
    let policy = serde_json::json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the last {keep} images"),
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep },
            "action": { "type": "expire" }
        }]
    });
    client
        .put_lifecycle_policy()
        .set_registry_id(registry_id)
        .repository_name(repository)
        .lifecycle_policy_text(policy.to_string())
        .send()
        .await
        .map_err(api("PutLifecyclePolicy"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_name_their_account_and_region() {
        assert_eq!(
            parse_host("123456789012.dkr.ecr.eu-central-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-central-1".into()))
        );
        assert_eq!(
            parse_host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/team"),
            Some(("123456789012".into(), "us-east-1".into()))
        );
        assert_eq!(parse_host("127.0.0.1:5000"), None);
        assert_eq!(parse_host("registry.example.internal:5000"), None);
    }
}
