//! Faults a real registry will not produce on demand, from a small in-process registry: 503s,
//! a dropped connection, an upload session that expired, a digest the server disagrees with.
//! In every case the push either completes or fails cleanly, and no tag points at a missing blob.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use slipway_oci::registry::RegistryClient;
use slipway_oci::{Digest, Store};

#[derive(Default)]
struct Faults {
    /// Answer this many blob PUTs with 503 first.
    put_503: AtomicUsize,
    /// Forget this many upload sessions before their PUT arrives (404).
    expire_sessions: AtomicUsize,
    /// Cut the connection of this many blob PUTs.
    drop_puts: AtomicUsize,
    /// Claim another digest for manifests.
    wrong_manifest_digest: bool,
}

#[derive(Default)]
struct Registry {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    manifests: Mutex<HashMap<String, Vec<u8>>>,
    sessions: Mutex<Vec<String>>,
    faults: Faults,
    blob_puts: AtomicUsize,
}

type Shared = Arc<Registry>;

async fn handle(
    State(registry): State<Shared>,
    method: Method,
    uri: Uri,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":")))
        .collect();
    let path = uri.path().trim_start_matches("/v2/").to_owned();
    if let Some((_, digest)) = path.split_once("/blobs/sha256:") {
        let digest = format!("sha256:{digest}");
        return match registry.blobs.lock().unwrap().get(&digest) {
            Some(bytes) if method == Method::HEAD => (
                StatusCode::OK,
                [(header::CONTENT_LENGTH, bytes.len().to_string())],
            )
                .into_response(),
            Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if path.ends_with("/blobs/uploads/") && method == Method::POST {
        let id = format!("session-{}", registry.sessions.lock().unwrap().len());
        registry.sessions.lock().unwrap().push(id.clone());
        let repository = path.trim_end_matches("/blobs/uploads/");
        return (
            StatusCode::ACCEPTED,
            [(
                header::LOCATION,
                format!("/v2/{repository}/blobs/uploads/{id}"),
            )],
        )
            .into_response();
    }
    if let Some((_, id)) = path.split_once("/blobs/uploads/")
        && method == Method::PUT
    {
        registry.blob_puts.fetch_add(1, Ordering::SeqCst);
        if take(&registry.faults.put_503) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        if take(&registry.faults.expire_sessions) {
            return StatusCode::NOT_FOUND.into_response();
        }
        if take(&registry.faults.drop_puts) {
            // An abrupt end of the response stands in for a connection cut mid-upload.
            panic!("connection dropped on purpose");
        }
        if !registry.sessions.lock().unwrap().iter().any(|s| s == id) {
            return StatusCode::NOT_FOUND.into_response();
        }
        let digest = query.get("digest").cloned().unwrap_or_default();
        if Digest::of(&body).as_str() != digest {
            return (StatusCode::BAD_REQUEST, "DIGEST_INVALID").into_response();
        }
        registry
            .blobs
            .lock()
            .unwrap()
            .insert(digest.clone(), body.to_vec());
        return (StatusCode::CREATED, [("docker-content-digest", digest)]).into_response();
    }
    if let Some((_, reference)) = path.split_once("/manifests/")
        && method == Method::PUT
    {
        {
            // A registry only accepts a manifest whose blobs it has.
            let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let blobs = registry.blobs.lock().unwrap();
            let missing = std::iter::once(&manifest["config"])
                .chain(manifest["layers"].as_array().unwrap().iter())
                .any(|d| !blobs.contains_key(d["digest"].as_str().unwrap()));
            if missing {
                return (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").into_response();
            }
            drop(blobs);
            let digest = if registry.faults.wrong_manifest_digest {
                Digest::of(b"something else").to_string()
            } else {
                Digest::of(&body).to_string()
            };
            registry
                .manifests
                .lock()
                .unwrap()
                .insert(reference.to_owned(), body.to_vec());
            return (StatusCode::CREATED, [("docker-content-digest", digest)]).into_response();
        }
    }
    StatusCode::NOT_FOUND.into_response()
}

fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn serve(registry: Shared) -> String {
    let app = Router::new().fallback(handle).with_state(registry);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// A store with a two-layer image and its manifest.
fn image(store: &Store) -> (Vec<Digest>, Vec<u8>) {
    let layers: Vec<Digest> = [b"layer one".as_slice(), &vec![7u8; 300_000]]
        .iter()
        .map(|b| store.put_bytes(b).unwrap())
        .collect();
    let config = store
        .put_bytes(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 1 },
        "layers": layers.iter().map(|d| serde_json::json!({ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": 1 })).collect::<Vec<_>>(),
    });
    let mut blobs = layers;
    blobs.push(config);
    (blobs, serde_json::to_vec(&manifest).unwrap())
}

/// Blobs first, manifest last: what `slipway push` does.
async fn push(
    client: &RegistryClient,
    store: &Store,
    blobs: &[Digest],
    manifest: &[u8],
) -> Result<Digest, slipway_oci::OciError> {
    for digest in blobs {
        if !client.blob_exists("shop/api", digest).await? {
            client.upload_blob("shop/api", digest, store).await?;
        }
    }
    client
        .put_manifest(
            "shop/api",
            "v1",
            manifest,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await
}

async fn scenario(faults: Faults) -> (Shared, Result<Digest, slipway_oci::OciError>, Vec<u8>) {
    let registry = Arc::new(Registry {
        faults,
        ..Registry::default()
    });
    let address = serve(registry.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blobs, manifest) = image(&store);
    let client = RegistryClient::new(&address, true, None).unwrap();
    let result = push(&client, &store, &blobs, &manifest).await;
    (registry, result, manifest)
}

fn every_tag_is_complete(registry: &Registry) {
    let blobs = registry.blobs.lock().unwrap();
    for bytes in registry.manifests.lock().unwrap().values() {
        let manifest: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap();
            let blob = blobs
                .get(digest)
                .expect("a tagged manifest's blob is in the registry");
            assert_eq!(Digest::of(blob).as_str(), digest, "and it is whole");
        }
    }
}

#[tokio::test]
async fn service_unavailable_is_retried() {
    let (registry, result, manifest) = scenario(Faults {
        put_503: AtomicUsize::new(2),
        ..Faults::default()
    })
    .await;
    assert_eq!(result.unwrap(), Digest::of(&manifest));
    assert_eq!(
        registry.blob_puts.load(Ordering::SeqCst),
        3 + 2,
        "three blobs, two refused once each"
    );
    every_tag_is_complete(&registry);
}

#[tokio::test]
async fn an_expired_upload_session_is_started_again() {
    let (registry, result, _) = scenario(Faults {
        expire_sessions: AtomicUsize::new(1),
        ..Faults::default()
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        registry.sessions.lock().unwrap().len(),
        4,
        "one session more than blobs"
    );
    every_tag_is_complete(&registry);
}

#[tokio::test]
async fn a_dropped_connection_is_retried_and_never_leaves_a_partial_blob() {
    let (registry, result, _) = scenario(Faults {
        drop_puts: AtomicUsize::new(1),
        ..Faults::default()
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    every_tag_is_complete(&registry);
}

#[tokio::test]
async fn a_registry_that_disagrees_about_the_digest_fails_the_push() {
    let (_, result, _) = scenario(Faults {
        wrong_manifest_digest: true,
        ..Faults::default()
    })
    .await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("digest mismatch"), "{error}");
}

#[tokio::test]
async fn a_registry_that_keeps_failing_fails_cleanly_without_a_tag() {
    let (registry, result, _) = scenario(Faults {
        put_503: AtomicUsize::new(100),
        ..Faults::default()
    })
    .await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("503"), "{error}");
    assert!(
        registry.manifests.lock().unwrap().is_empty(),
        "no tag was written"
    );
}
