//! HTTPS on the proxy's TLS port against a real backend on loopback: two hosts with their own
//! certificates (SNI), verified by a rustls client that trusts only the test's CA, over HTTP/1.1
//! and HTTP/2; plain requests to those hosts redirected with 308; HSTS only where asked; a bad
//! certificate refused with the one in use kept; certificates served again after a restart.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use slipway_proxy::admin::{Answer, Command, HealthCheck, send};
use slipway_proxy::table::Group;
use slipway_proxy::tls::TlsSite;
use slipway_proxy::{Config, Proxy};

struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

fn ca() -> Ca {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "slipway test CA");
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// A certificate for `host` signed by `ca`, and its key: one PEM text.
fn issue(ca: &Ca, host: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .signed_by(&key, &ca.issuer)
        .unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

async fn backend() -> String {
    let app = Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move {
                format!(
                    "host={} proto={}",
                    headers
                        .get("host")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-"),
                    headers
                        .get("x-forwarded-proto")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                )
            }),
        )
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

struct Running {
    plain: SocketAddr,
    tls: SocketAddr,
    socket: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

async fn start(dir: &Path) -> Running {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen_tls: Some("127.0.0.1:0".parse().unwrap()),
        metrics: None,
        admin_socket: dir.join("admin.sock"),
        state_file: dir.join("routes.json"),
    };
    let proxy = Proxy::bind(&config).await.unwrap();
    let plain = proxy.public_address();
    let tls = proxy.tls_address().unwrap();
    Running {
        plain,
        tls,
        socket: config.admin_socket,
        task: tokio::spawn(proxy.run()),
    }
}

async fn ok(socket: &Path, command: Command) -> Answer {
    let answer = send(socket, &command).await.unwrap();
    assert!(answer.ok, "{command:?} failed: {:?}", answer.error);
    answer
}

async fn route(socket: &Path, service: &str, host: &str, target: &str) {
    ok(
        socket,
        Command::Gate {
            targets: vec![target.to_owned()],
            check: HealthCheck {
                path: "/health".into(),
                interval_ms: 50,
                timeout_ms: 500,
                healthy: 1,
                deadline_ms: 5_000,
            },
        },
    )
    .await;
    ok(
        socket,
        Command::Set {
            service: service.into(),
            host: Some(host.into()),
            path: "/".into(),
            groups: vec![Group {
                release: "r1".into(),
                weight: 1,
                targets: vec![target.to_owned()],
            }],
            drain_ms: 0,
            limits: Default::default(),
        },
    )
    .await;
}

/// Puts a host's PEM where slipway's upload puts it, and orders the proxy to take it.
async fn install(dir: &Path, socket: &Path, host: &str, pem: &str, site: TlsSite) -> Answer {
    let incoming = slipway_proxy::tls::incoming_file(
        &slipway_proxy::tls::directory(&dir.join("routes.json")),
        host,
    );
    std::fs::create_dir_all(incoming.parent().unwrap()).unwrap();
    std::fs::write(&incoming, pem).unwrap();
    send(
        socket,
        &Command::Tls {
            host: host.into(),
            site: Some(site),
            certificate: true,
        },
    )
    .await
    .unwrap()
}

fn client(ca: &Ca, hosts: &[&str], tls: SocketAddr, http1: bool) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([root])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    for host in hosts {
        builder = builder.resolve(host, tls);
    }
    if http1 {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_are_served_over_https_by_sni_on_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(dir.path()).await;
    let target = backend().await;
    route(&proxy.socket, "shop/prod/web", "shop.test", &target).await;
    route(&proxy.socket, "blog/prod/web", "blog.test", &target).await;
    route(&proxy.socket, "wiki/prod/web", "wiki.test", &target).await;
    let ca = ca();
    let port = proxy.tls.port();
    let answer = install(
        dir.path(),
        &proxy.socket,
        "shop.test",
        &issue(&ca, "shop.test"),
        TlsSite {
            hsts: true,
            https_port: port,
            acme: None,
        },
    )
    .await;
    assert!(answer.ok, "{:?}", answer.error);
    let answer = install(
        dir.path(),
        &proxy.socket,
        "blog.test",
        &issue(&ca, "blog.test"),
        TlsSite {
            hsts: false,
            https_port: port,
            acme: None,
        },
    )
    .await;
    assert!(answer.ok, "{:?}", answer.error);

    for http1 in [true, false] {
        let client = client(&ca, &["shop.test", "blog.test"], proxy.tls, http1);
        for host in ["shop.test", "blog.test"] {
            let response = client
                .get(format!("https://{host}:{port}/"))
                .send()
                .await
                .unwrap();
            let version = response.version();
            assert_eq!(
                version,
                if http1 {
                    reqwest::Version::HTTP_11
                } else {
                    reqwest::Version::HTTP_2
                }
            );
            let hsts = response
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(
                hsts.as_deref(),
                (host == "shop.test").then_some("max-age=31536000"),
                "{host}"
            );
            let body = response.text().await.unwrap();
            assert_eq!(
                body,
                format!("host={host}:{port} proto=https"),
                "{version:?}"
            );
        }
    }

    // Many requests at once on one HTTP/2 connection, each with its own upstream exchange.
    let shared = client(&ca, &["shop.test"], proxy.tls, false);
    let requests = (0..32).map(|_| {
        let client = shared.clone();
        async move {
            let response = client
                .get(format!("https://shop.test:{port}/"))
                .send()
                .await
                .unwrap();
            (response.version(), response.status().as_u16())
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    assert!(
        answers
            .iter()
            .all(|a| *a == (reqwest::Version::HTTP_2, 200)),
        "{answers:?}"
    );

    // Plain HTTP: the TLS hosts are sent to HTTPS, the other one is served.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("shop.test", proxy.plain)
        .resolve("wiki.test", proxy.plain)
        .build()
        .unwrap();
    let plain_port = proxy.plain.port();
    let response = plain
        .get(format!("http://shop.test:{plain_port}/cart?item=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://shop.test:{port}/cart?item=3").as_str()
    );
    let response = plain
        .get(format!("http://wiki.test:{plain_port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        format!("host=wiki.test:{plain_port} proto=http")
    );

    // A client that trusts another CA does not get through.
    let stranger = client(&self::ca(), &["shop.test"], proxy.tls, true);
    assert!(
        stranger
            .get(format!("https://shop.test:{port}/"))
            .send()
            .await
            .is_err()
    );

    // A bad certificate is refused, and the one in use stays.
    let other = issue(&ca, "shop.test");
    let mismatched = format!(
        "{}{}",
        issue(&ca, "shop.test")
            .split("-----BEGIN PRIVATE KEY-----")
            .next()
            .unwrap(),
        &other[other.find("-----BEGIN PRIVATE KEY-----").unwrap()..]
    );
    let answer = install(
        dir.path(),
        &proxy.socket,
        "shop.test",
        &mismatched,
        TlsSite {
            hsts: true,
            https_port: port,
            acme: None,
        },
    )
    .await;
    assert!(!answer.ok);
    let error = answer.error.unwrap();
    assert!(
        error.contains("does not belong to the certificate"),
        "{error}"
    );
    assert!(!error.contains("PRIVATE KEY"), "{error}");
    let answer = install(
        dir.path(),
        &proxy.socket,
        "shop.test",
        &issue(&ca, "blog.test"),
        TlsSite {
            hsts: true,
            https_port: port,
            acme: None,
        },
    )
    .await;
    assert!(!answer.ok);
    assert!(answer.error.unwrap().contains("is not for `shop.test`"));
    let kept_serving = client(&ca, &["shop.test", "blog.test"], proxy.tls, false);
    let response = kept_serving
        .get(format!("https://shop.test:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The certificates are files of the proxy's state (0600), served again after a restart.
    let kept = slipway_proxy::tls::installed_file(
        &slipway_proxy::tls::directory(&dir.path().join("routes.json")),
        "shop.test",
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    proxy.task.abort();
    let _ = proxy.task.await;
    let again = start(dir.path()).await;
    let restarted = client(&ca, &["shop.test"], again.tls, false);
    let response = restarted
        .get(format!("https://shop.test:{}/", again.tls.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"));

    // Taken off HTTPS: no redirect any more.
    ok(
        &again.socket,
        Command::Tls {
            host: "shop.test".into(),
            site: None,
            certificate: false,
        },
    )
    .await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("shop.test", again.plain)
        .build()
        .unwrap();
    let response = plain
        .get(format!("http://shop.test:{}/", again.plain.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!kept.exists());
}

/// A backend answering `/` with its release's name.
async fn named_backend(name: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/", get(move || async move { name }))
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, task)
}

fn split(host: &str, groups: &[(&str, u32, &str)]) -> Command {
    Command::Set {
        service: "shop/prod/web".into(),
        host: Some(host.into()),
        path: "/".into(),
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

/// The bar a zero-downtime proxy is held to, over HTTPS: 8 HTTP/2 clients (each one TLS
/// connection, its requests multiplexed) keep asking while 20 releases replace each other,
/// every other one through a canary split; not one answer may be other than 2xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_release_switches_under_http2_load_over_https_fail_no_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let proxy = start(dir.path()).await;
    let host = "shop.test";
    let (mut live, mut live_task) = named_backend("r0").await;
    let gate = |target: &str| Command::Gate {
        targets: vec![target.to_owned()],
        check: HealthCheck {
            path: "/health".into(),
            interval_ms: 50,
            timeout_ms: 500,
            healthy: 2,
            deadline_ms: 5_000,
        },
    };
    ok(&proxy.socket, gate(&live)).await;
    ok(&proxy.socket, split(host, &[("r0", 100, &live)])).await;
    let answer = install(
        dir.path(),
        &proxy.socket,
        host,
        &issue(&ca, host),
        TlsSite {
            hsts: false,
            https_port: proxy.tls.port(),
            acme: None,
        },
    )
    .await;
    assert!(answer.ok, "{:?}", answer.error);

    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (stop, total, failures) = (stop.clone(), total.clone(), failures.clone());
        let client = client(&ca, &[host], proxy.tls, false);
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Two requests at once on the client's one connection: HTTP/2 streams.
                let (a, b) = tokio::join!(
                    client.get(format!("https://{host}/")).send(),
                    client.get(format!("https://{host}/")).send()
                );
                for result in [a, b] {
                    match result {
                        Ok(response)
                            if response.status().is_success()
                                && response.version() == reqwest::Version::HTTP_2 => {}
                        Ok(response) => failures.lock().unwrap().push(format!(
                            "{:?} {}",
                            response.version(),
                            response.status()
                        )),
                        Err(error) => failures.lock().unwrap().push(format!("{error:?}")),
                    }
                    total.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let names = [
        "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
        "r15", "r16", "r17", "r18", "r19", "r20",
    ];
    let mut live_name = "r0";
    for (cycle, name) in names.iter().enumerate() {
        let (next, next_task) = named_backend(name).await;
        ok(&proxy.socket, gate(&next)).await;
        if cycle % 2 == 0 {
            for weight in [10, 50] {
                ok(
                    &proxy.socket,
                    split(
                        host,
                        &[(live_name, 100 - weight, &live), (name, weight, &next)],
                    ),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        let answer = ok(
            &proxy.socket,
            split(host, &[(live_name, 0, &live), (name, 100, &next)]),
        )
        .await;
        assert!(answer.undrained.is_empty(), "{:?}", answer.undrained);
        live_task.abort();
        (live, live_task, live_name) = (next, next_task, name);
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
    let body = client(&ca, &[host], proxy.tls, false)
        .get(format!("https://{host}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "r20");
    proxy.task.abort();
}
