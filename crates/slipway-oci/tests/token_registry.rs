//! The bearer-token flow of GHCR, Docker Hub, GitLab's registry and Harbor, against the test
//! bed's second distribution registry (token auth, `SLIPWAY_TEST_TOKEN_REGISTRY`) and the token
//! server of `support/token_server.rs` on the realm it names.

#[path = "support/token_server.rs"]
mod token_server;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slipway_oci::credentials::Credential;
use slipway_oci::promote::{Endpoint, promote};
use slipway_oci::registry::RegistryClient;
use slipway_oci::{Digest, Store};
use token_server::{TokenServer, env};

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
