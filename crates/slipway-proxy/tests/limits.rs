//! A route's limits against a real backend on loopback: bodies and heads over the route's
//! limits are refused before the app sees them, with the proxy's own page (HTML, or JSON when
//! asked for); bodies within them pass intact, streamed past the retry limit; a slow app gets
//! 504; an idle connection is closed and one in the middle of a request is not.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::routing::{get, post};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use slipway_proxy::admin::{Command, send};
use slipway_proxy::limits::Limits;
use support::{Running, ok, route_everything_to, start_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the backend was sent: requests that reached `/echo`, bodies it read to their end, and
/// body bytes it received in all.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    bodies: AtomicU64,
    bytes: AtomicU64,
}

/// A backend answering `/health`, `/echo` (the body back, however large) and `/slow` (after
/// 1.5 s).
async fn backend() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                "late"
            }),
        )
        .route(
            "/echo",
            post(
                |State(seen): State<Arc<Seen>>, request: Request| async move {
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    let mut body = request.into_body();
                    let mut echoed = Vec::new();
                    while let Some(frame) = body.frame().await {
                        let Ok(frame) = frame else {
                            return Vec::new();
                        };
                        if let Ok(data) = frame.into_data() {
                            seen.bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
                            echoed.extend_from_slice(&data);
                        }
                    }
                    seen.bodies.fetch_add(1, Ordering::SeqCst);
                    echoed
                },
            ),
        )
        .layer(DefaultBodyLimit::disable())
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (address, seen)
}

/// A proxy routing `/` to a fresh backend with `limits`.
async fn routed(dir: &Path, limits: Limits) -> (Running, Arc<Seen>) {
    let proxy = start_proxy(dir).await;
    let (target, seen) = backend().await;
    route_everything_to(&proxy.socket, &target, limits).await;
    (proxy, seen)
}

const MB: usize = 1024 * 1024;

/// `size` bytes that are not all the same, so a lost or reordered chunk shows.
fn body_of(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// `body` sent as `chunks` chunks without a Content-Length (chunked transfer encoding).
fn chunked(body: Vec<u8>, chunks: usize) -> reqwest::Body {
    let size = body.len().div_ceil(chunks);
    let parts: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(size).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(parts).then(|chunk| async move {
        tokio::task::yield_now().await;
        chunk
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_is_refused_before_the_app_sees_it_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_body: Some(MB as u64),
        ..Limits::default()
    };
    let (proxy, seen) = routed(dir.path(), limits).await;
    let client = reqwest::Client::new();
    let echo = format!("{}/echo", proxy.url);

    let declared = client
        .post(&echo)
        .body(body_of(2 * MB))
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 413);
    assert!(
        declared.text().await.unwrap().contains("at most 1MB"),
        "the page says the limit"
    );
    let streamed = client
        .post(&echo)
        .header("accept", "application/json")
        .body(chunked(body_of(2 * MB), 32))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
    let error: serde_json::Value = streamed.json().await.unwrap();
    assert_eq!(error["error"], "body_too_large");
    assert_eq!(error["status"], 413);
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        0,
        "the app saw nothing"
    );
    assert_eq!(seen.bytes.load(Ordering::SeqCst), 0);

    // A client that waits for `100 Continue` is answered without being asked for its body.
    let mut stream = tokio::net::TcpStream::connect(&proxy.address)
        .await
        .unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: shop.test\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        2 * MB
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Under the limit, declared or chunked, the body passes intact.
    for body in [
        reqwest::Body::from(body_of(MB - 10)),
        chunked(body_of(MB - 10), 7),
    ] {
        let answer = client.post(&echo).body(body).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(answer.bytes().await.unwrap() == body_of(MB - 10));
    }

    // The limit is in the saved table: a restarted proxy keeps it.
    proxy.task.abort();
    let _ = proxy.task.await;
    let restarted = start_proxy(dir.path()).await;
    let again = client
        .post(format!("{}/echo", restarted.url))
        .body(body_of(2 * MB))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 413);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
    restarted.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_above_the_retry_limit_passes_intact_and_a_chunked_one_past_max_body_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_body: Some(16 * MB as u64),
        ..Limits::default()
    };
    let (proxy, seen) = routed(dir.path(), limits).await;
    let client = reqwest::Client::new();
    let echo = format!("{}/echo", proxy.url);
    let large = body_of(12 * MB);
    for body in [
        reqwest::Body::from(large.clone()),
        chunked(large.clone(), 48),
    ] {
        let answer = client.post(&echo).body(body).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let echoed = answer.bytes().await.unwrap();
        assert_eq!(echoed.len(), large.len());
        assert!(echoed == large, "the 12 MB body came back changed");
    }
    assert_eq!(seen.bodies.load(Ordering::SeqCst), 2);

    // 20 MB chunked: streamed once past 8 MiB, cut before the first byte past 16 MB.
    let before = seen.bytes.load(Ordering::SeqCst);
    let over = client
        .post(&echo)
        .body(chunked(body_of(20 * MB), 80))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 413);
    // The app's side of the cut body ends without its last chunk: never a whole body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        seen.bodies.load(Ordering::SeqCst),
        2,
        "no body was completed"
    );
    let received = seen.bytes.load(Ordering::SeqCst) - before;
    assert!(received <= 16 * MB as u64, "the app got {received} bytes");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_over_max_header_get_431_with_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_header: Some(4 * 1024),
        ..Limits::default()
    };
    let (proxy, seen) = routed(dir.path(), limits).await;
    let client = reqwest::Client::new();
    let cookie = format!("session={}", "x".repeat(5 * 1024));
    let refused = client
        .post(format!("{}/echo", proxy.url))
        .header("cookie", &cookie)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 431);
    assert!(
        refused.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = refused.text().await.unwrap();
    assert!(page.contains("431 Request headers too large"), "{page}");
    assert!(page.contains("at most 4KB"), "{page}");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 0);

    let small = client
        .post(format!("{}/echo", proxy.url))
        .header("cookie", "session=abc")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    assert_eq!(small.text().await.unwrap(), "hello");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_app_gets_504_as_json_or_html_and_an_unrouted_host_404() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        timeout_ms: Some(300),
        ..Limits::default()
    };
    let (proxy, _) = routed(dir.path(), limits).await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let json = client
        .get(format!("{}/slow", proxy.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1_200),
        "504 came late"
    );
    assert_eq!(json.status(), 504);
    assert_eq!(json.headers()["content-type"], "application/json");
    let error: serde_json::Value = json.json().await.unwrap();
    assert_eq!(error["error"], "gateway_timeout");
    assert_eq!(error["status"], 504);
    assert_eq!(error["message"], "The app did not answer in time.");

    let browser = client
        .get(format!("{}/slow", proxy.url))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 504);
    let page = browser.text().await.unwrap();
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains("<h1>504 Gateway timeout</h1>"), "{page}");

    // Only its route has the short timeout: another route takes nothing from it, and a host
    // no route takes gets the proxy's 404.
    proxy.task.abort();
    let _ = proxy.task.await;
    let other = tempfile::tempdir().unwrap();
    let (proxy, _) = routed(other.path(), Limits::default()).await;
    let late = client
        .get(format!("{}/slow", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 200);
    assert_eq!(late.text().await.unwrap(), "late");
    ok(
        &proxy.socket,
        Command::Remove {
            service: "shop/prod/web".into(),
            drain_ms: 0,
        },
    )
    .await;
    let missing = client
        .get(format!("{}/", proxy.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let error: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(error["error"], "no_route");
    proxy.task.abort();
}

/// Sends one GET on `stream` and reads its whole answer (the head says its length).
async fn raw_get(stream: &mut tokio::net::TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed before the answer ended");
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_idle_timeout_and_a_slow_request_is_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        idle_timeout_ms: Some(400),
        ..Limits::default()
    };
    let (proxy, _) = routed(dir.path(), limits).await;

    // Kept alive between requests closer together than the idle timeout.
    let mut stream = tokio::net::TcpStream::connect(&proxy.address)
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            raw_get(&mut stream, "/health")
                .await
                .starts_with("HTTP/1.1 200")
        );
    }
    // Then left idle: the proxy closes it.
    let idle_since = std::time::Instant::now();
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer))
        .await
        .expect("the idle connection was closed")
        .unwrap_or(0);
    assert_eq!(read, 0, "closed without a word");
    let waited = idle_since.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_millis(1_500),
        "closed after {waited:?}"
    );

    // A request that takes longer than the idle timeout is answered whole.
    let mut stream = tokio::net::TcpStream::connect(&proxy.address)
        .await
        .unwrap();
    let answer = raw_get(&mut stream, "/slow").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("late"), "{answer}");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_the_proxy_cannot_apply_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let answer = send(
        &proxy.socket,
        &Command::Set {
            service: "shop/prod/web".into(),
            host: None,
            path: "/".into(),
            groups: Vec::new(),
            drain_ms: 0,
            limits: Limits {
                timeout_ms: Some(0),
                ..Limits::default()
            },
        },
    )
    .await
    .unwrap();
    assert!(!answer.ok);
    assert!(answer.error.unwrap().contains("timeouts must be above 0"));
    proxy.task.abort();
}
