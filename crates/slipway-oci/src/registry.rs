//! A client of the OCI distribution API: manifests and blobs, basic and bearer-token auth,
//! HEAD before upload, cross-repository mount, streamed monolithic uploads, retries on 500/502/503/504
//! and dropped connections, and the manifest written last so no tag points at a missing blob.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::{Response, StatusCode, header};

use crate::credentials::Credential;
use crate::{Digest, OciError, Result, Store, io_error};

/// The manifest types slipway reads, for a request's `Accept`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

const RETRIES: u32 = 4;

/// Fetches a new login when the registry refuses the current one (an ECR token that expired
/// during a push); errors are messages for the user.
pub type Refresher =
    std::sync::Arc<dyn Fn() -> std::result::Result<Credential, String> + Send + Sync>;

/// The key of a login that holds for every scope (Basic auth).
const ANY_SCOPE: &str = "*";

/// A client of one registry (the distribution API): logins and tokens, retries, blob uploads and mounts.
pub struct RegistryClient {
    http: reqwest::Client,
    host: String,
    base_url: String,
    credential: Mutex<Option<Credential>>,
    refresh: Option<Refresher>,
    /// `Authorization` values by repository (tokens are scoped to one).
    authorizations: Mutex<HashMap<String, String>>,
}

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its bytes, unchanged (the digest is of these).
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// Its digest, checked against the bytes.
    pub digest: Digest,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("host", &self.host)
            .field("base_url", &self.base_url)
            .field("refreshable", &self.refresh.is_some())
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `host` (`host[:port]`). Loopback registries and `insecure` ones are spoken to
    /// over plain HTTP.
    pub fn new(
        host: &str,
        insecure: bool,
        credential: Option<Credential>,
    ) -> Result<RegistryClient> {
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let scheme = if insecure || loopback {
            "http"
        } else {
            "https"
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OciError::Registry {
                registry: host.into(),
                message: e.to_string(),
            })?;
        Ok(RegistryClient {
            http,
            host: host.into(),
            base_url: format!("{scheme}://{host}"),
            credential: Mutex::new(credential),
            refresh: None,
            authorizations: Mutex::new(HashMap::new()),
        })
    }

    /// Logs in again with `refresh` when the registry refuses a login it took before.
    pub fn with_refresh(mut self, refresh: Refresher) -> RegistryClient {
        self.refresh = Some(refresh);
        self
    }

    /// The login this client uses, for handing to the Docker Engine (pulls and pushes).
    pub fn credential(&self) -> Option<Credential> {
        self.credential.lock().expect("not poisoned").clone()
    }

    /// The registry's host (and port), as in image references.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn error(&self, message: impl Into<String>) -> OciError {
        OciError::Registry {
            registry: self.host.clone(),
            message: message.into(),
        }
    }

    /// Sends a request that writes to `repository`, built by `build` (called again for each
    /// try), authenticating on 401 and retrying on 502/503/504 and connection failures.
    async fn send<F>(&self, repository: &str, build: F) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_scoped(repository, scopes_for(repository, None), build)
            .await
    }

    /// [`send`](Self::send) for a request that only reads: a token service is asked for pull
    /// alone, so a login that may not push still pulls.
    async fn send_read<F>(&self, repository: &str, build: F) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_scoped(
            repository,
            vec![format!("repository:{repository}:pull")],
            build,
        )
        .await
    }

    /// Sends with a token for `scopes` (token registries); Basic-auth registries ignore them.
    async fn send_scoped<F>(
        &self,
        repository: &str,
        scopes: Vec<String>,
        build: F,
    ) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        // Tokens are scoped: one per set of scopes.
        let key = scopes.join(" ");
        let mut authenticated = false;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let used = self.credential();
            let mut request = build(&self.http);
            let authorization = {
                let authorizations = self.authorizations.lock().expect("not poisoned");
                authorizations
                    .get(&key)
                    .or_else(|| authorizations.get(ANY_SCOPE))
                    .cloned()
            };
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            match request.send().await {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !authenticated => {
                    authenticated = true;
                    let challenge = response
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    self.authenticate(repository, &scopes, &challenge).await?;
                }
                // Refused again with a login that worked before: it expired (ECR tokens last
                // 12 hours); log in anew once, unless another request already did.
                // ECR answers an expired token with 403 "denied", others with 401.
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ) && !refreshed
                        && self.refresh.is_some() =>
                {
                    refreshed = true;
                    let challenge = response
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if self.credential() == used {
                        let refresh = self.refresh.as_ref().expect("checked above");
                        let fresh = refresh().map_err(|message| OciError::Auth {
                            registry: self.host.clone(),
                            repository: repository.into(),
                            message,
                        })?;
                        *self.credential.lock().expect("not poisoned") = Some(fresh);
                    }
                    self.authenticate(repository, &scopes, &challenge).await?;
                }
                // 500 too: the distribution registry answers it when a concurrent write of the
                // same tag leaves a link file half-written for a moment.
                Ok(response)
                    if matches!(response.status().as_u16(), 500 | 502..=504)
                        && attempt < RETRIES =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Ok(response) => return Ok(response),
                Err(error)
                    if attempt < RETRIES
                        && (error.is_connect() || error.is_timeout() || error.is_request()) =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(error) => return Err(self.error(describe(&error))),
            }
        }
    }

    async fn authenticate(
        &self,
        repository: &str,
        scopes: &[String],
        challenge: &str,
    ) -> Result<()> {
        let auth_failed = |message: String| OciError::Auth {
            registry: self.host.clone(),
            repository: repository.into(),
            message,
        };
        let bearer = challenge.to_ascii_lowercase().starts_with("bearer");
        let value = if bearer {
            let params = challenge_params(challenge);
            let realm = params.get("realm").ok_or_else(|| {
                auth_failed("the registry's bearer challenge has no realm".into())
            })?;
            let mut url = realm.clone();
            for (i, scope) in scopes.iter().enumerate() {
                let separator = if i == 0 && !realm.contains('?') {
                    '?'
                } else {
                    '&'
                };
                url.push_str(&format!("{separator}scope={}", encode(scope)));
            }
            if let Some(service) = params.get("service") {
                url.push_str(&format!("&service={}", encode(service)));
            }
            let mut request = self.http.get(&url);
            let credential = self.credential();
            if let Some(credential) = &credential {
                request = request.basic_auth(&credential.username, Some(&credential.password));
            }
            let response = request
                .send()
                .await
                .map_err(|e| auth_failed(describe(&e)))?;
            let status = response.status();
            if !status.is_success() {
                let said = registry_message(&response.text().await.unwrap_or_default());
                let said = if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                };
                let asked = scopes.join(" and ");
                return Err(auth_failed(match (status, &credential) {
                    (StatusCode::UNAUTHORIZED, Some(credential)) => format!(
                        "the token service refused the login of {} ({status}{said}): check the username and password or token",
                        credential.username
                    ),
                    (StatusCode::UNAUTHORIZED, None) => format!(
                        "the token service wants a login for {asked} ({status}{said}): docker login, or SLIPWAY_REGISTRY_<NAME>_USERNAME/_PASSWORD"
                    ),
                    _ => format!(
                        "the token service refused {asked} ({status}{said}): the login may lack that access"
                    ),
                }));
            }
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| auth_failed(format!("the token service's answer is not JSON: {e}")))?;
            let token = body
                .get("token")
                .or_else(|| body.get("access_token"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| auth_failed("the token service sent no token".into()))?;
            format!("Bearer {token}")
        } else {
            let credential = self.credential().ok_or_else(|| auth_failed("the registry wants a login and none is configured (docker login, or SLIPWAY_REGISTRY_<NAME>_USERNAME/_PASSWORD)".into()))?;
            let pair = format!("{}:{}", credential.username, credential.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        // A Basic login is the same for every scope: kept once, so requests of another scope
        // (the pushes after a pull's HEAD, run in parallel) do not each meet a 401 first.
        let key = if bearer {
            scopes.join(" ")
        } else {
            ANY_SCOPE.to_owned()
        };
        self.authorizations
            .lock()
            .expect("not poisoned")
            .insert(key, value);
        Ok(())
    }

    fn url(&self, repository: &str, rest: &str) -> String {
        format!("{}/v2/{repository}/{rest}", self.base_url)
    }

    async fn check(&self, repository: &str, what: &str, response: Response) -> Result<Response> {
        match response.status() {
            status if status.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(OciError::Auth {
                registry: self.host.clone(),
                repository: repository.into(),
                message: refusal(
                    what,
                    response.status(),
                    response
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default(),
                    &scopes_for(repository, None),
                    &self.host,
                ),
            }),
            StatusCode::NOT_FOUND => Err(OciError::NotFound {
                registry: self.host.clone(),
                reference: format!("{repository} {what}"),
            }),
            status => {
                let body = response.text().await.unwrap_or_default();
                Err(self.error(format!(
                    "{what}: {status} {}",
                    body.chars().take(200).collect::<String>()
                )))
            }
        }
    }

    /// The manifest (or index) `reference` (a tag or a digest) of `repository`.
    pub async fn get_manifest(&self, repository: &str, reference: &str) -> Result<Manifest> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let response = self
            .send_read(repository, |http| {
                http.get(&url).header(header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(OciError::NotFound {
                registry: self.host.clone(),
                reference: format!("{repository}:{reference}"),
            });
        }
        let response = self
            .check(repository, &format!("manifest {reference}"), response)
            .await?;
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.error(describe(&e)))?
            .to_vec();
        let digest = Digest::of(&bytes);
        if let Some(expected) = Digest::parse(reference)
            && expected != digest
        {
            return Err(OciError::DigestMismatch {
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// The tags of a repository (the first thousand).
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>> {
        let url = self.url(repository, "tags/list?n=1000");
        let response = self.send_read(repository, |http| http.get(&url)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(OciError::NotFound {
                registry: self.host.clone(),
                reference: repository.into(),
            });
        }
        let response = self.check(repository, "tag list", response).await?;
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let list: TagList = response
            .json()
            .await
            .map_err(|e| self.error(format!("the tag list is not readable: {}", describe(&e))))?;
        Ok(list.tags.unwrap_or_default())
    }

    /// Downloads a blob into the store, verifying its digest.
    pub async fn fetch_blob(&self, repository: &str, digest: &Digest, store: &Store) -> Result<()> {
        if store.has_blob(digest) {
            return Ok(());
        }
        let url = self.url(repository, &format!("blobs/{digest}"));
        let response = self.send_read(repository, |http| http.get(&url)).await?;
        let mut response = self
            .check(repository, &format!("blob {digest}"), response)
            .await?;
        let temp = store.temp_path("download");
        let mut file = std::fs::File::create(&temp).map_err(io_error(&temp))?;
        let mut hashing = crate::digest::HashingWriter::new(&mut file);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.error(describe(&e)))?
        {
            std::io::Write::write_all(&mut hashing, &chunk).map_err(io_error(&temp))?;
        }
        let (_, actual, _) = hashing.finish();
        if &actual != digest {
            let _ = std::fs::remove_file(&temp);
            return Err(OciError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        store.adopt(&temp, digest)
    }

    /// Whether the registry has the blob in `repository`.
    pub async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool> {
        self.head_blob(repository, digest, false).await
    }

    /// [`blob_exists`](Self::blob_exists) with the login a push needs (pull and push on
    /// `repository`): asked once before a push's parallel uploads, so they find their token or
    /// login settled instead of each meeting a 401.
    pub async fn blob_exists_for_push(&self, repository: &str, digest: &Digest) -> Result<bool> {
        self.head_blob(repository, digest, true).await
    }

    /// HEAD of a blob, with the login a push needs (`for_push`) or a read's.
    async fn head_blob(&self, repository: &str, digest: &Digest, for_push: bool) -> Result<bool> {
        let url = self.url(repository, &format!("blobs/{digest}"));
        let response = if for_push {
            self.send(repository, |http| http.head(&url)).await?
        } else {
            self.send_read(repository, |http| http.head(&url)).await?
        };
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self
                .check(repository, &format!("blob {digest}"), response)
                .await
                .map(|_| false),
        }
    }

    /// Asks the registry to link a blob from another repository; true when it did (201).
    pub async fn mount_blob(&self, repository: &str, digest: &Digest, from: &str) -> Result<bool> {
        let url = self.url(repository, "blobs/uploads/");
        let url = format!(
            "{url}?mount={}&from={}",
            encode(digest.as_str()),
            encode(from)
        );
        let response = self
            .send_scoped(repository, scopes_for(repository, Some(from)), |http| {
                http.post(&url).header(header::CONTENT_LENGTH, 0)
            })
            .await?;
        if response.status() == StatusCode::CREATED {
            return Ok(true);
        }
        let _ = self.check(repository, "mount", response).await?;
        Ok(false)
    }

    /// Uploads a blob from the store: a new session, then one streamed PUT with the digest.
    /// A session that expired (404) is started again.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &Digest,
        store: &Store,
    ) -> Result<()> {
        let path = store.blob_path(digest);
        let size = std::fs::metadata(&path).map_err(io_error(&path))?.len();
        for _ in 0..RETRIES {
            let start = self.url(repository, "blobs/uploads/");
            let response = self
                .send(repository, |http| {
                    http.post(&start).header(header::CONTENT_LENGTH, 0)
                })
                .await?;
            let response = self.check(repository, "upload", response).await?;
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| self.error("upload session without a Location"))?
                .to_owned();
            let location = if location.starts_with('/') {
                format!("{}{location}", self.base_url)
            } else {
                location
            };
            let separator = if location.contains('?') { '&' } else { '?' };
            let put_url = format!("{location}{separator}digest={digest}");
            let response = self
                .send(repository, |http| {
                    http.put(&put_url)
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, size)
                        .body(file_body(&path))
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                continue;
            }
            self.check(repository, &format!("upload of {digest}"), response)
                .await?;
            return Ok(());
        }
        Err(self.error(format!("upload of {digest} kept failing")))
    }

    /// Writes a manifest under `reference` (a tag or its digest) and checks the digest the
    /// registry computed.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let body = bytes.to_vec();
        let response = self
            .send(repository, |http| {
                http.put(&url)
                    .header(header::CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        let response = self
            .check(repository, &format!("manifest {reference}"), response)
            .await?;
        let digest = Digest::of(bytes);
        if let Some(said) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && said != digest.as_str()
        {
            return Err(OciError::DigestMismatch {
                expected: digest.to_string(),
                actual: said.to_owned(),
            });
        }
        Ok(digest)
    }
}

/// Bytes read from a blob at a time while it is uploaded.
const UPLOAD_READ_SIZE: usize = 1 << 20;

/// The blob as a streamed request body, so an upload never holds a blob in memory.
fn file_body(path: &Path) -> reqwest::Body {
    match std::fs::File::open(path) {
        // Large reads: each one is a trip to the blocking pool, and at ReaderStream's default
        // 4 KiB those trips, not the network, bound the upload.
        Ok(file) => reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            tokio::fs::File::from_std(file),
            UPLOAD_READ_SIZE,
        )),
        // Checked to exist before; a file gone since gives an empty body the registry rejects.
        Err(_) => reqwest::Body::from(Vec::new()),
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(5)))
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The token scopes a request on `repository` needs: pull and push on it, and pull on the
/// repository a blob is mounted from.
fn scopes_for(repository: &str, pull_from: Option<&str>) -> Vec<String> {
    let mut scopes = vec![format!("repository:{repository}:pull,push")];
    if let Some(from) = pull_from.filter(|from| *from != repository) {
        scopes.push(format!("repository:{from}:pull"));
    }
    scopes
}

/// The message of a registry or token service error body (`{"errors":[{"message":..}]}`,
/// `{"details":..}` or `{"error":..}`), empty when there is none.
fn registry_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let text = value["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty())
        .or_else(|| value["details"].as_str().map(str::to_owned))
        .or_else(|| value["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    text.chars().take(200).collect()
}

/// What to tell the user when the registry still refuses a request after authenticating:
/// a token without the access asked for names the scope; otherwise the login is wrong.
fn refusal(
    what: &str,
    status: StatusCode,
    challenge: &str,
    asked: &[String],
    host: &str,
) -> String {
    let params = if challenge.to_ascii_lowercase().starts_with("bearer") {
        challenge_params(challenge)
    } else {
        HashMap::new()
    };
    if params.get("error").map(String::as_str) == Some("insufficient_scope")
        || (status == StatusCode::FORBIDDEN && params.contains_key("scope"))
    {
        // The registry lists a scope's actions in no fixed order: name them as asked
        // (`pull,push`), so the same refusal always reads the same.
        let scope = params
            .get("scope")
            .map(|scope| match scope.rsplit_once(':') {
                Some((resource, actions)) => {
                    let mut actions: Vec<&str> = actions.split(',').collect();
                    actions.sort_unstable();
                    format!("{resource}:{}", actions.join(","))
                }
                None => scope.clone(),
            })
            .unwrap_or_else(|| asked.join(" "));
        return format!(
            "{what}: {status}: the token service did not grant {scope} (the login may lack pull or push access there)"
        );
    }
    format!("{what}: {status} (check the credentials for {host})")
}

/// `Bearer realm="...",service="...",scope="repository:a:pull,push"` → its parameters
/// (quoted values may hold commas).
fn challenge_params(challenge: &str) -> HashMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_values_keep_their_commas() {
        let params = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope""#,
        );
        assert_eq!(params["realm"], "https://auth.example/token");
        assert_eq!(params["service"], "registry.example");
        assert_eq!(
            params["scope"],
            "repository:a/b:pull,push repository:c:pull"
        );
        assert_eq!(params["error"], "insufficient_scope");
    }

    #[test]
    fn a_mount_asks_for_pull_on_its_source() {
        assert_eq!(
            scopes_for("app/prod", Some("app/stage")),
            ["repository:app/prod:pull,push", "repository:app/stage:pull"]
        );
        assert_eq!(scopes_for("app", Some("app")), ["repository:app:pull,push"]);
    }

    #[test]
    fn a_missing_scope_is_named() {
        let message = refusal(
            "upload",
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="r",service="s",scope="repository:a:pull,push",error="insufficient_scope""#,
            &scopes_for("a", None),
            "registry.example",
        );
        assert!(
            message.contains("did not grant repository:a:pull,push"),
            "{message}"
        );
        let message = refusal(
            "upload",
            StatusCode::UNAUTHORIZED,
            r#"Basic realm="r""#,
            &scopes_for("a", None),
            "registry.example",
        );
        assert!(
            message.contains("check the credentials for registry.example"),
            "{message}"
        );
    }
}
