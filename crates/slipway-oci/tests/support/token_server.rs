//! A token server following the distribution token specification, for tests against the test
//! bed's token-auth registry (`SLIPWAY_TEST_TOKEN_*`): Basic auth on the token endpoint, `scope`
//! parameters, RS256 JWTs signed with the test bed's key and carrying its certificate in `x5c`,
//! `access`, `iss`, `aud` = service, `exp`. A test can refuse a scope (leave it out of the token,
//! or deny the request), issue short-lived tokens and read the scopes each request asked for.
//! Every test's server listens on the realm the registry names; one waits while another holds it.
//! Shared by the registry client's tests and the command-line tests.
#![allow(dead_code)] // each test binary uses part of it

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
use slipway_oci::registry::RegistryClient;

/// The distribution registry accepts a token up to this long after its `exp`.
const REGISTRY_LEEWAY_SECS: i64 = 60;

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test, which starts the test bed")
    })
}

pub struct TokenState {
    pub username: String,
    pub password: String,
    pub key: String,
    pub certificate_der: String,
    pub issuer: String,
    pub service: String,
    /// `(repository, action)` pairs never granted.
    pub refused: Mutex<Vec<(String, String)>>,
    /// Answer 403 to a request asking for a refused action, instead of leaving it out of the token.
    pub deny_refused: AtomicBool,
    /// How long, in seconds, the registry accepts a token issued now.
    pub lifetime: AtomicI64,
    /// The scopes each token request asked for, in order.
    pub requests: Mutex<Vec<Vec<String>>>,
    pub issued: AtomicUsize,
}

pub struct TokenServer {
    pub state: Arc<TokenState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    pub async fn start() -> TokenServer {
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

    pub fn credential(&self) -> Credential {
        Credential {
            username: self.state.username.clone(),
            password: self.state.password.clone(),
        }
    }

    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(
            &env("SLIPWAY_TEST_TOKEN_REGISTRY"),
            false,
            Some(self.credential()),
        )
        .expect("client")
    }

    pub fn requests(&self) -> Vec<Vec<String>> {
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
