//! Registry credentials: Docker's config.json (`auths`, `credsStore`, `credHelpers` through the
//! docker-credential-* protocol) or environment variables. Never printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::{OciError, Result};

/// A registry login. Its Debug form never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name (`AWS` for ECR).
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credential {{ username: {:?}, password: <hidden> }}",
            self.username
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
        }
    }
}

/// Exchanges cloud credentials for a registry login (ECR's token), set by the binary, which
/// knows the cloud; errors are messages for the user.
/// `(host, fresh)`: `fresh` asks for a new login rather than a kept one.
pub type LoginProvider =
    Box<dyn Fn(&str, bool) -> std::result::Result<Credential, String> + Send + Sync>;

static AWS_LOGIN: std::sync::OnceLock<LoginProvider> = std::sync::OnceLock::new();

/// Installs the provider of `credentials = "aws"` logins (once per process).
pub fn set_aws_login(provider: LoginProvider) {
    let _ = AWS_LOGIN.set(provider);
}

/// `credentials = "aws"`: a login from the installed provider, else Docker's config (where a
/// docker-credential-ecr-login helper may answer).
pub fn from_aws(host: &str) -> Result<Option<Credential>> {
    match AWS_LOGIN.get() {
        Some(provider) => provider(host, false)
            .map(Some)
            .map_err(|message| OciError::Registry {
                registry: host.to_owned(),
                message,
            }),
        None => from_docker_config(host),
    }
}

/// A new `credentials = "aws"` login, when the registry refused the last one.
pub fn refresh_aws(host: &str) -> std::result::Result<Credential, String> {
    match AWS_LOGIN.get() {
        Some(provider) => provider(host, true),
        None => Err("the registry refused the login and no AWS login is available".into()),
    }
}

/// Makes a repository exist in a registry that does not create them on push (ECR); set by the
/// binary. Errors are messages for the user.
pub type RepositoryCreator =
    Box<dyn Fn(&str, &str) -> std::result::Result<(), String> + Send + Sync>;

static AWS_REPOSITORIES: std::sync::OnceLock<RepositoryCreator> = std::sync::OnceLock::new();

/// Installs what `create_repositories = true` calls before a push to a `credentials = "aws"`
/// registry (once per process).
pub fn set_aws_repository_creator(creator: RepositoryCreator) {
    let _ = AWS_REPOSITORIES.set(creator);
}

/// Creates `repository` on `host` when it is missing.
pub fn ensure_aws_repository(host: &str, repository: &str) -> Result<()> {
    match AWS_REPOSITORIES.get() {
        Some(creator) => creator(host, repository).map_err(|message| OciError::Registry {
            registry: host.to_owned(),
            message,
        }),
        None => Err(OciError::Registry {
            registry: host.to_owned(),
            message: "create_repositories needs the AWS login (credentials = \"aws\")".into(),
        }),
    }
}

/// The keys under which a Docker config's `auths` may hold a registry's login: the host as
/// written, with a scheme, or with an API version path. `docker login` stores Docker Hub's
/// under its index address, so `docker.io` (what an image reference normalises to) looks there
/// too.
fn config_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == "docker.io" {
        keys.push("https://index.docker.io/v1/".to_owned());
        keys.push("index.docker.io".to_owned());
    }
    keys
}

/// Credentials for `host` from Docker's config, if it has any.
pub fn from_docker_config(host: &str) -> Result<Option<Credential>> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let config: DockerConfig =
        serde_json::from_slice(&bytes).map_err(|source| OciError::Malformed {
            what: path.display().to_string(),
            source,
        })?;
    if let Some(helper) = config.cred_helpers.get(host) {
        return helper_get(helper, host);
    }
    if let Some(entry) = config_keys(host).iter().find_map(|k| config.auths.get(k)) {
        if let Some(auth) = &entry.auth
            && !auth.is_empty()
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .map_err(|_| {
                    OciError::Json(format!(
                        "{}: the auth of {host} is not base64",
                        path.display()
                    ))
                })?;
            let text = String::from_utf8_lossy(&decoded);
            let (username, password) = text.split_once(':').ok_or_else(|| {
                OciError::Json(format!(
                    "{}: the auth of {host} is not user:password",
                    path.display()
                ))
            })?;
            return Ok(Some(Credential {
                username: username.into(),
                password: password.into(),
            }));
        }
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Some(Credential {
                username: username.clone(),
                password: password.clone(),
            }));
        }
    }
    match &config.creds_store {
        Some(store) => helper_get(store, host),
        None => Ok(None),
    }
}

/// `SLIPWAY_REGISTRY_<NAME>_USERNAME` and `_PASSWORD` (NAME upper-cased, `-` as `_`).
pub fn from_env(registry_name: &str) -> Option<Credential> {
    let prefix = format!(
        "SLIPWAY_REGISTRY_{}",
        registry_name.to_ascii_uppercase().replace('-', "_")
    );
    let username = std::env::var(format!("{prefix}_USERNAME")).ok()?;
    let password = std::env::var(format!("{prefix}_PASSWORD")).ok()?;
    Some(Credential { username, password })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

fn helper_get(helper: &str, host: &str) -> Result<Option<Credential>> {
    let program = format!("docker-credential-{helper}");
    let fail = |message: String| OciError::CredentialHelper {
        helper: helper.to_owned(),
        message,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(host.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout);
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exited with {}", output.status)));
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("unreadable answer: {e}")))?;
    Ok(Some(Credential {
        username: reply.username,
        password: reply.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::config_keys;

    #[test]
    fn docker_hub_logins_are_found_under_the_index_address_docker_login_uses() {
        assert!(config_keys("docker.io").contains(&"https://index.docker.io/v1/".to_owned()));
        let local = config_keys("127.0.0.1:5000");
        assert_eq!(local[0], "127.0.0.1:5000");
        assert!(!local.iter().any(|key| key.contains("index.docker.io")));
    }
}
