//! The proxy against real HTTP backends on loopback: releases switch and split under load
//! without a failed request, in-flight requests finish before a drained target is let go, the
//! table survives a restart, and nothing is routed to a target that has not passed its gate.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use slipway_proxy::admin::{Answer, Command, HealthCheck, send};
use slipway_proxy::table::Group;
use slipway_proxy::{Config, Proxy};

/// A backend answering `/` with its name, `/health` with 200, `/slow` after 600 ms and
/// `/fail` with 500.
struct Backend {
    address: String,
    task: tokio::task::JoinHandle<()>,
}

async fn backend(name: &'static str) -> Backend {
    let app = Router::new()
        .route("/", get(move || async move { name }))
        .route(
            "/api/who",
            get(move || async move { format!("api {name}") }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(Duration::from_millis(600)).await;
                name
            }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Backend { address, task }
}

struct Running {
    url: String,
    metrics_url: String,
    socket: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

async fn start_proxy(dir: &Path) -> Running {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen_tls: None,
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        admin_socket: dir.join("admin.sock"),
        state_file: dir.join("routes.json"),
    };
    let proxy = Proxy::bind(&config).await.unwrap();
    let url = format!("http://{}", proxy.public_address());
    let metrics_url = format!("http://{}/metrics", proxy.metrics_address().unwrap());
    let task = tokio::spawn(proxy.run());
    Running {
        url,
        metrics_url,
        socket: config.admin_socket,
        task,
    }
}

fn check() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval_ms: 50,
        timeout_ms: 500,
        healthy: 2,
        deadline_ms: 5_000,
    }
}

async fn ok(socket: &Path, command: Command) -> Answer {
    let answer = send(socket, &command).await.unwrap();
    assert!(answer.ok, "{command:?} failed: {:?}", answer.error);
    answer
}

fn set(service: &str, path: &str, groups: &[(&str, u32, &str)]) -> Command {
    Command::Set {
        service: service.into(),
        host: None,
        path: path.into(),
        groups: groups
            .iter()
            .map(|(release, weight, target)| Group {
                release: (*release).into(),
                weight: *weight,
                targets: vec![(*target).into()],
            })
            .collect(),
        drain_ms: 5_000,
        limits: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releases_switch_and_split_under_load_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let mut live = backend("r0").await;
    ok(
        &proxy.socket,
        Command::Gate {
            targets: vec![live.address.clone()],
            check: check(),
        },
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/web", "/", &[("r0", 100, &live.address)]),
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (stop, total, failures, url) = (
            stop.clone(),
            total.clone(),
            failures.clone(),
            proxy.url.clone(),
        );
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                match client.get(format!("{url}/")).send().await {
                    Ok(response) if response.status().is_success() => {}
                    Ok(response) => failures
                        .lock()
                        .unwrap()
                        .push(format!("status {}", response.status())),
                    Err(error) => failures.lock().unwrap().push(error.to_string()),
                }
                total.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let names = [
        "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
        "r15", "r16", "r17", "r18", "r19", "r20",
    ];
    let mut live_name = "r0";
    for (cycle, name) in names.iter().enumerate() {
        let next = backend(name).await;
        ok(
            &proxy.socket,
            Command::Gate {
                targets: vec![next.address.clone()],
                check: check(),
            },
        )
        .await;
        if cycle % 2 == 0 {
            // canary: a few steps of the split, then all of it
            for weight in [10, 50] {
                ok(
                    &proxy.socket,
                    set(
                        "shop/prod/web",
                        "/",
                        &[
                            (live_name, 100 - weight, &live.address),
                            (name, weight, &next.address),
                        ],
                    ),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        let answer = ok(
            &proxy.socket,
            set(
                "shop/prod/web",
                "/",
                &[(live_name, 0, &live.address), (name, 100, &next.address)],
            ),
        )
        .await;
        assert!(answer.undrained.is_empty(), "{:?}", answer.undrained);
        // Drained: the old release can go.
        live.task.abort();
        live = next;
        live_name = name;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let total = total.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(total > 100, "only {total} requests");
    let body = reqwest::get(format!("{}/", proxy.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "r20");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_waits_for_requests_in_flight_to_finish() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let old = backend("old").await;
    let new = backend("new").await;
    ok(
        &proxy.socket,
        Command::Gate {
            targets: vec![old.address.clone(), new.address.clone()],
            check: check(),
        },
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/web", "/", &[("old", 100, &old.address)]),
    )
    .await;
    let url = proxy.url.clone();
    let slow = tokio::spawn(async move { reqwest::get(format!("{url}/slow")).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = std::time::Instant::now();
    let answer = ok(
        &proxy.socket,
        set(
            "shop/prod/web",
            "/",
            &[("old", 0, &old.address), ("new", 100, &new.address)],
        ),
    )
    .await;
    assert!(answer.undrained.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the switch answered before the slow request finished"
    );
    let response = slow.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "old");
    assert_eq!(
        reqwest::get(format!("{}/", proxy.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "new"
    );
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_routed_to_a_target_that_has_not_passed_its_gate() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let app = backend("new").await;
    let refused = send(
        &proxy.socket,
        &set("shop/prod/web", "/", &[("r1", 100, &app.address)]),
    )
    .await
    .unwrap();
    assert!(!refused.ok);
    assert!(
        refused
            .error
            .unwrap()
            .contains("has not passed a health gate")
    );

    let dead = "127.0.0.1:1".to_owned();
    let mut quick = check();
    quick.deadline_ms = 600;
    let failed = send(
        &proxy.socket,
        &Command::Gate {
            targets: vec![dead.clone()],
            check: quick,
        },
    )
    .await
    .unwrap();
    assert!(!failed.ok);
    assert!(failed.error.unwrap().contains("127.0.0.1:1"));
    let response = reqwest::get(format!("{}/", proxy.url)).await.unwrap();
    assert_eq!(response.status(), 404, "no route was installed");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_path_survive_a_restart_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let web = backend("web").await;
    let api = backend("v1").await;
    ok(
        &proxy.socket,
        Command::Gate {
            targets: vec![web.address.clone(), api.address.clone()],
            check: check(),
        },
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/web", "/", &[("r1", 100, &web.address)]),
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/api", "/api", &[("r1", 100, &api.address)]),
    )
    .await;
    // Another project cannot take a route that is already served.
    let taken = send(
        &proxy.socket,
        &set("blog/prod/web", "/", &[("r1", 100, &web.address)]),
    )
    .await
    .unwrap();
    assert!(!taken.ok);
    assert!(
        taken
            .error
            .unwrap()
            .contains("already routed to shop/prod/web")
    );
    proxy.task.abort();
    let _ = proxy.task.await;

    let restarted = start_proxy(dir.path()).await;
    let get = |path: &str| {
        let url = format!("{}{path}", restarted.url);
        async move {
            let response = reqwest::get(url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/").await, (200, "web".into()));
    assert_eq!(get("/api/who").await, (200, "api v1".into()));
    assert_eq!(get("/fail").await.0, 500);
    let metrics = reqwest::get(&restarted.metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("slipway_proxy_requests_total{service=\"shop/prod/web\",release=\"r1\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("slipway_proxy_errors_total{service=\"shop/prod/web\",release=\"r1\"} 1"),
        "{metrics}"
    );
    // The metrics port is not the public one, and the public one takes no orders.
    assert!(!get("/metrics").await.1.contains("slipway_proxy"));
    restarted.task.abort();
}

/// A backend on a raw socket that counts its connections and, when `close_after` is set, drops
/// each connection that long after answering (without saying so in the answer), as apps with
/// a short keep-alive do.
async fn counting_backend(close_after: Option<Duration>) -> (String, Arc<AtomicU64>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = stream.read_exact(&mut body).await;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        body.len() + 2
                    );
                    let _ = stream.get_mut().write_all(answer.as_bytes()).await;
                    let _ = stream.get_mut().write_all(b"ok").await;
                    let _ = stream.get_mut().write_all(&body).await;
                    if let Some(after) = close_after {
                        tokio::time::sleep(after).await;
                        return;
                    }
                }
            });
        }
    });
    (address, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connection_keeps_its_upstream_connection_and_outlives_one_the_app_closed() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let (steady, steady_connections) = counting_backend(None).await;
    let (closing, closing_connections) = counting_backend(Some(Duration::from_millis(20))).await;
    for (service, path, target) in [
        ("shop/prod/web", "/", &steady),
        ("shop/prod/api", "/api", &closing),
    ] {
        ok(
            &proxy.socket,
            Command::Gate {
                targets: vec![target.clone()],
                check: HealthCheck {
                    healthy: 1,
                    ..check()
                },
            },
        )
        .await;
        ok(&proxy.socket, set(service, path, &[("r1", 100, target)])).await;
    }
    let gate_connections = steady_connections.load(Ordering::SeqCst);

    // One client connection, many requests: one upstream connection carries them all.
    let address = proxy.url.trim_start_matches("http://").to_owned();
    let mut client = RawClient::connect(&address).await;
    for i in 0..50 {
        let (status, body) = client.request("GET", &format!("/page/{i}"), "").await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
    assert_eq!(
        steady_connections.load(Ordering::SeqCst) - gate_connections,
        1
    );

    // The app drops each connection after its answer; the next request, a POST too, goes on a
    // new one and nobody sees an error.
    let before = closing_connections.load(Ordering::SeqCst);
    for i in 0..10 {
        let (status, body) = client
            .request("POST", "/api/orders", &format!("order {i}"))
            .await;
        assert_eq!((status, body), (200, format!("okorder {i}")), "request {i}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closing_connections.load(Ordering::SeqCst) - before, 10);
}

/// One HTTP/1.1 connection, requests one after the other on it.
struct RawClient {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl RawClient {
    async fn connect(address: &str) -> RawClient {
        RawClient {
            stream: tokio::io::BufReader::new(
                tokio::net::TcpStream::connect(address).await.unwrap(),
            ),
        }
    }

    async fn request(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: shop.test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

/// A WebSocket app: `/health` answers 200; an upgrade gets 101 and then every byte back, and
/// what it received is kept.
async fn websocket_backend() -> (String, Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let received: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let kept = received.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if !head.contains("upgrade: websocket") {
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    return;
                }
                stream
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: test\r\n\r\n")
                    .await
                    .unwrap();
                let mut buffer = vec![0u8; 4096];
                loop {
                    let n = match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    kept.lock().unwrap().extend_from_slice(&buffer[..n]);
                    if stream.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_passes_through_and_a_switch_closes_it_cleanly_after_the_drain_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let (socket_app, received) = websocket_backend().await;
    let next = backend("next").await;
    ok(
        &proxy.socket,
        Command::Gate {
            targets: vec![socket_app.clone(), next.address.clone()],
            check: check(),
        },
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/web", "/", &[("r1", 100, &socket_app)]),
    )
    .await;

    let address = proxy.url.trim_start_matches("http://").to_owned();
    let mut client = tokio::net::TcpStream::connect(&address).await.unwrap();
    client
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: shop.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        client.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("sec-websocket-accept: test"), "{head}");

    // A masked text frame "hello" goes to the app and comes back.
    let key = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x85];
    frame.extend(key);
    frame.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    client.write_all(&frame).await.unwrap();
    let mut echoed = vec![0u8; frame.len()];
    client.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, frame);

    // A switch to the next release: the tunnel is in flight, so it drains for the drain time,
    // then the proxy closes it with a close frame each way.
    let started = std::time::Instant::now();
    let switch = {
        let socket = proxy.socket.clone();
        let next = next.address.clone();
        let app = socket_app.clone();
        tokio::spawn(async move {
            let mut command = set("shop/prod/web", "/", &[("r1", 0, &app), ("r2", 100, &next)]);
            if let Command::Set { drain_ms, .. } = &mut command {
                *drain_ms = 800;
            }
            send(&socket, &command).await.unwrap()
        })
    };
    let mut closing = Vec::new();
    client.read_to_end(&mut closing).await.unwrap();
    let closed_after = started.elapsed();
    assert_eq!(
        closing,
        [0x88, 0x02, 0x03, 0xE9],
        "a close frame, 1001 going away"
    );
    assert!(
        closed_after >= Duration::from_millis(800),
        "closed before the drain time: {closed_after:?}"
    );
    let answer = switch.await.unwrap();
    assert!(answer.ok, "{answer:?}");
    assert!(answer.undrained.is_empty(), "{answer:?}");
    // The app got the close frame too, masked as a client's.
    let got = received.lock().unwrap().clone();
    let tail = &got[got.len() - 8..];
    assert_eq!(tail[..2], [0x88, 0x82]);
    assert_eq!([tail[6] ^ tail[2], tail[7] ^ tail[3]], [0x03, 0xE9]);
    // New requests go to the next release.
    let body = reqwest::get(format!("{}/", proxy.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "next");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_pass_through_as_they_come_not_buffered() {
    // Set just before the app sends its second event, two seconds after the first.
    let second_sent = Arc::new(AtomicBool::new(false));
    let flag = second_sent.clone();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/events",
            get(move || async move {
                let events = futures_util::stream::unfold(0u32, move |n| {
                    let flag = flag.clone();
                    async move {
                        if n > 0 {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            flag.store(true, Ordering::SeqCst);
                        }
                        (n < 2).then(|| {
                            (
                                Ok::<_, std::convert::Infallible>(format!("data: event {n}\n\n")),
                                n + 1,
                            )
                        })
                    }
                });
                (
                    [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                    axum::body::Body::from_stream(events),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    ok(
        &proxy.socket,
        Command::Gate {
            targets: vec![address.clone()],
            check: check(),
        },
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/web", "/", &[("r1", 100, &address)]),
    )
    .await;
    let mut response = reqwest::get(format!("{}/events", proxy.url)).await.unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: event 0\n\n");
    assert!(
        !second_sent.load(Ordering::SeqCst),
        "the first event was held back until the app sent the next"
    );
    let second = response.chunk().await.unwrap().unwrap();
    assert_eq!(&second[..], b"data: event 1\n\n");
    proxy.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_answers_503_survives_a_restart_and_ends_when_turned_off() {
    use slipway_proxy::table::Maintenance;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(dir.path()).await;
    let web = backend("web").await;
    let api = backend("v1").await;
    ok(
        &proxy.socket,
        Command::Gate {
            targets: vec![web.address.clone(), api.address.clone()],
            check: check(),
        },
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/web", "/", &[("r1", 100, &web.address)]),
    )
    .await;
    ok(
        &proxy.socket,
        set("shop/prod/api", "/api", &[("r1", 100, &api.address)]),
    )
    .await;
    ok(
        &proxy.socket,
        Command::MaintenanceOn {
            scope: "shop/prod/api".into(),
            maintenance: Maintenance {
                message: "api <b>upgrade</b>".into(),
                retry_after: 90,
                page: None,
                since: 0,
            },
        },
    )
    .await;
    proxy.task.abort();
    let _ = proxy.task.await;

    let restarted = start_proxy(dir.path()).await;
    let client = reqwest::Client::new();
    let get = |path: &str, accept: &str| {
        let request = client
            .get(format!("{}{path}", restarted.url))
            .header("accept", accept);
        async move {
            let response = request.send().await.unwrap();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let kind = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (
                response.status().as_u16(),
                retry,
                kind,
                response.text().await.unwrap(),
            )
        }
    };
    // Only the api is in maintenance; the web app is served.
    assert_eq!(get("/", "text/html").await.0, 200);
    let (status, retry, kind, body) = get("/api/who", "text/html").await;
    assert_eq!((status, retry.as_deref()), (503, Some("90")));
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains("api &lt;b&gt;upgrade&lt;/b&gt;"), "{body}");
    let (status, _, kind, body) = get("/api/who", "application/json").await;
    assert_eq!((status, kind.as_str()), (503, "application/json"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "maintenance");
    assert_eq!(json["message"], "api <b>upgrade</b>");

    let off = ok(
        &restarted.socket,
        Command::MaintenanceOff {
            scope: "shop/prod".into(),
            within: true,
        },
    )
    .await;
    assert_eq!(off.ended, vec!["shop/prod/api".to_owned()]);
    assert_eq!(get("/api/who", "text/html").await.3, "api v1");
    restarted.task.abort();
}
