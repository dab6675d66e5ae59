//! The bearer-token flow of GHCR, Docker Hub, GitLab's registry and Harbor, against the test
//! bed's second distribution registry (token auth, `SLIPWAY_TEST_TOKEN_REGISTRY`). The token
//! server is this file's own, on the realm the registry names (`SLIPWAY_TEST_TOKEN_REALM`): it
//! follows the distribution token specification (Basic auth, `scope` parameters, an RS256 JWT
//! whose `x5c` is the certificate the registry trusts, `access`, `iss`, `aud`, `exp`) and can
//! refuse a scope or issue short-lived tokens. Tests that run at once wait for the realm's port.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use slipway_oci::credentials::Credential;
use slipway_oci::promote::{Endpoint, promote};
use slipway_oci::registry::RegistryClient;
use slipway_oci::{Digest, Store};

/// The distribution registry accepts a token up to this long after its `exp`.
const REGISTRY_LEEWAY_SECS: i64 = 60;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test, which starts the test bed")
    })
}

struct TokenState {
    username: String,
    password: String,
    key: String,
    certificate_der: String,
    issuer: String,
    service: String,
    /// `(repository, action)` pairs never granted.
    refused: Mutex<Vec<(String, String)>>,
    /// Answer 403 to a request asking for a refused action, instead of leaving it out of the token.
    deny_refused: AtomicBool,
    /// How long, in seconds, the registry accepts a token issued now.
    lifetime: AtomicI64,
    /// The scopes each token request asked for, in order.
    requests: Mutex<Vec<Vec<String>>>,
    issued: AtomicUsize,
}

struct TokenServer {
    state: Arc<TokenState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    async fn start() -> TokenServer {
        let realm = env("SLIPWAY_TEST_TOKEN_REALM");
        let address = realm
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("realm host")
            .to_owned();
        let pem = std::fs::read_to_string(env("SLIPWAY_TEST_TOKEN_CERT")).expect("certificate");
        let certificate_der: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let state = Arc::new(TokenState {
            username: "pusher".into(),
            password: format!("pw-{}", std::process::id()),
            key: env("SLIPWAY_TEST_TOKEN_KEY"),
            certificate_der,
            issuer: env("SLIPWAY_TEST_TOKEN_ISSUER"),
            service: env("SLIPWAY_TEST_TOKEN_SERVICE"),
            refused: Mutex::new(Vec::new()),
            deny_refused: AtomicBool::new(false),
            lifetime: AtomicI64::new(300),
            requests: Mutex::new(Vec::new()),
            issued: AtomicUsize::new(0),
        });
        // One realm port for every test: wait while another test's server holds it.
        let mut waited = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(&address).await {
                Ok(listener) => break listener,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && waited < 3000 => {
                    waited += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on the token realm {address}: {e}"),
            }
        };
        let app = Router::new()
            .route("/token", get(issue_token))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("token server");
        });
        TokenServer { state, task }
    }

    fn credential(&self) -> Credential {
        Credential {
            username: self.state.username.clone(),
            password: self.state.password.clone(),
        }
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::new(
            &env("SLIPWAY_TEST_TOKEN_REGISTRY"),
            false,
            Some(self.credential()),
        )
        .expect("client")
    }

    fn requests(&self) -> Vec<Vec<String>> {
        self.state.requests.lock().unwrap().clone()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn issue_token(
    State(state): State<Arc<TokenState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", state.username, state.password))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "incorrect username or password",
        );
    }
    let params: Vec<(String, String)> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    if params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.as_str())
        != Some(state.service.as_str())
    {
        return refuse(StatusCode::BAD_REQUEST, "UNSUPPORTED", "unknown service");
    }
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    state.requests.lock().unwrap().push(scopes.clone());
    let refused = state.refused.lock().unwrap().clone();
    let mut access = Vec::new();
    for scope in &scopes {
        let mut parts = scope.splitn(3, ':');
        let (Some("repository"), Some(name), Some(actions)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let mut granted = Vec::new();
        for action in actions.split(',') {
            if refused.iter().any(|(r, a)| r == name && a == action) {
                if state.deny_refused.load(Ordering::SeqCst) {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "DENIED",
                        "requested access to the resource is denied",
                    );
                }
                continue;
            }
            granted.push(action);
        }
        access.push(serde_json::json!({"type": "repository", "name": name, "actions": granted}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lifetime = state.lifetime.load(Ordering::SeqCst);
    let serial = state.issued.fetch_add(1, Ordering::SeqCst);
    let jwt_header =
        serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [state.certificate_der]});
    let claims = serde_json::json!({
        "iss": state.issuer,
        "sub": state.username,
        "aud": state.service,
        "exp": now + lifetime - REGISTRY_LEEWAY_SECS,
        "nbf": now - 5,
        "iat": now,
        "jti": format!("{}-{serial}", std::process::id()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(jwt_header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let key = state.key.clone();
    let signature = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign", &key])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(signing_input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl could not sign the token");
        (signing_input, out.stdout)
    })
    .await
    .unwrap();
    let token = format!("{}.{}", signature.0, b64url(&signature.1));
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": lifetime,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A repository name no earlier run used.
fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("token-tests/{name}-{}-{nanos}", std::process::id())
}

/// A small image in the store: a config and `layers` layers of distinct content.
fn small_image(store: &Store, layers: usize) -> (Vec<Digest>, Vec<u8>) {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {},
    })
    .to_string();
    let config_digest = store.put_bytes(config.as_bytes()).unwrap();
    let mut blobs = vec![config_digest.clone()];
    let mut layer_entries = Vec::new();
    for i in 0..layers {
        let content = format!("layer {i} of {}\n", unique("image")).repeat(200);
        let digest = store.put_bytes(content.as_bytes()).unwrap();
        layer_entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest.as_str(),
            "size": content.len(),
        }));
        blobs.push(digest);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.as_str(),
            "size": config.len(),
        },
        "layers": layer_entries,
    });
    (blobs, serde_json::to_vec(&manifest).unwrap())
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `skopeo inspect` of `reference` on the token registry, logged in as the token server's user:
/// another client's token flow reads what slipway wrote.
fn skopeo_digest(server: &TokenServer, reference: &str) -> std::process::Output {
    let credential = server.credential();
    Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &format!("{}:{}", credential.username, credential.password),
            &format!(
                "docker://{}/{reference}",
                env("SLIPWAY_TEST_TOKEN_REGISTRY")
            ),
        ])
        .output()
        .expect("skopeo")
}

#[tokio::test(flavor = "multi_thread")]
async fn push_pull_by_digest_and_promote_with_a_cross_repository_mount() {
    let server = TokenServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blobs, manifest) = small_image(&store, 2);
    let source = unique("app");
    let client = server.client();
    for digest in &blobs {
        assert!(!client.blob_exists(&source, digest).await.unwrap());
        client.upload_blob(&source, digest, &store).await.unwrap();
    }
    let digest = client
        .put_manifest(&source, "1.0", &manifest, OCI_MANIFEST)
        .await
        .unwrap();

    let pulled = skopeo_digest(&server, &format!("{source}@{digest}"));
    assert!(
        pulled.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert_eq!(Digest::of(&pulled.stdout), digest);

    let target = unique("app-production");
    let promoted = promote(
        &Endpoint {
            client: &client,
            repository: source.clone(),
        },
        digest.as_str(),
        &Endpoint {
            client: &client,
            repository: target.clone(),
        },
        &["production".to_owned()],
        &store,
    )
    .await
    .unwrap();
    assert_eq!(promoted.digest, digest);
    assert_eq!(
        (promoted.blobs_mounted, promoted.blobs_copied),
        (blobs.len(), 0),
        "every blob is mounted from {source}, none copied"
    );
    let asked_both = server.requests().iter().any(|scopes| {
        scopes.contains(&format!("repository:{target}:pull,push"))
            && scopes.contains(&format!("repository:{source}:pull"))
    });
    assert!(
        asked_both,
        "no token request asked for push on {target} and pull on {source} together: {:?}",
        server.requests()
    );
    let pulled = skopeo_digest(&server, &format!("{target}:production"));
    assert!(
        pulled.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert_eq!(Digest::of(&pulled.stdout), digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_expires_during_a_push_is_renewed() {
    let server = TokenServer::start().await;
    server.state.lifetime.store(2, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blobs, manifest) = small_image(&store, 3);
    let repository = unique("renewed");
    let client = server.client();
    for (i, digest) in blobs.iter().enumerate() {
        client
            .upload_blob(&repository, digest, &store)
            .await
            .unwrap();
        if i == 0 {
            // Past the first token's lifetime: the rest of the push needs a new one.
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
    }
    let digest = client
        .put_manifest(&repository, "1.0", &manifest, OCI_MANIFEST)
        .await
        .unwrap();
    assert!(
        server.state.issued.load(Ordering::SeqCst) >= 2,
        "the expired token was renewed"
    );
    let read = client.get_manifest(&repository, "1.0").await.unwrap();
    assert_eq!(read.digest, digest);
}

async fn refused_push(deny: bool) {
    let server = TokenServer::start().await;
    let repository = unique("readonly");
    server
        .state
        .refused
        .lock()
        .unwrap()
        .push((repository.clone(), "push".into()));
    server.state.deny_refused.store(deny, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blobs, _) = small_image(&store, 1);
    let error = server
        .client()
        .upload_blob(&repository, &blobs[0], &store)
        .await
        .unwrap_err()
        .to_string();
    let scope = format!("repository:{repository}:pull,push");
    assert!(
        error.contains(&scope) && error.contains("push"),
        "the error names the refused scope {scope}: {error}"
    );
    assert!(
        !error.contains(&server.state.password),
        "no password in: {error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_push_scope_gives_an_error_naming_the_scope() {
    refused_push(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_service_that_denies_the_scope_gives_an_error_naming_it() {
    refused_push(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_reported_as_a_refused_login() {
    let server = TokenServer::start().await;
    let client = RegistryClient::new(
        &env("SLIPWAY_TEST_TOKEN_REGISTRY"),
        false,
        Some(Credential {
            username: "pusher".into(),
            password: "wrong".into(),
        }),
    )
    .unwrap();
    let error = client
        .get_manifest(&unique("any"), "latest")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("refused the login of pusher") && error.contains("401"),
        "the error says the token service refused the login: {error}"
    );
    assert!(!error.contains("wrong"), "no password in: {error}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_that_may_not_push_still_pulls() {
    let server = TokenServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blobs, manifest) = small_image(&store, 1);
    let repository = unique("pull-only");
    let client = server.client();
    for digest in &blobs {
        client
            .upload_blob(&repository, digest, &store)
            .await
            .unwrap();
    }
    let digest = client
        .put_manifest(&repository, "1.0", &manifest, OCI_MANIFEST)
        .await
        .unwrap();

    // From now on the token service denies any request that asks for push here.
    server
        .state
        .refused
        .lock()
        .unwrap()
        .push((repository.clone(), "push".into()));
    server.state.deny_refused.store(true, Ordering::SeqCst);
    let reader = server.client();
    let read = reader.get_manifest(&repository, "1.0").await.unwrap();
    assert_eq!(read.digest, digest);
    let pulled = tempfile::tempdir().unwrap();
    let pulled = Store::open(pulled.path()).unwrap();
    reader
        .fetch_blob(&repository, &blobs[1], &pulled)
        .await
        .unwrap();
    assert_eq!(
        pulled.read_blob(&blobs[1]).unwrap(),
        store.read_blob(&blobs[1]).unwrap()
    );
}
