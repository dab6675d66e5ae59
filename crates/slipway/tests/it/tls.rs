//! HTTPS through the proxy on the real engine: a route with `tls` from files is served on the
//! proxy's TLS port (127.0.0.1:443 by default) with its certificate, verified by a rustls client
//! that trusts only the test's CA, over HTTP/1.1 and HTTP/2; plain HTTP to the host answers 308;
//! the key is a 0600 file of the proxy's state and in no log; bad certificates are refused
//! before anything changes.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::deploy::{
    Down, PROXY, deploy, deploy_ok, get, releases, shop_with_files, status_from_hosts,
};
use crate::write;

const HTTPS: &str = "127.0.0.1:443";

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
        .push(rcgen::DnType::CommonName, "slipway deploy test CA");
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// (certificate PEM, key PEM) for `host`, signed by `ca`.
fn issue(ca: &Ca, host: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .signed_by(&key, &ca.issuer)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// GET `https://host/path` through the proxy's TLS port, trusting only `ca`:
/// (status, HTTP version, HSTS header, body).
fn https_get(
    ca: &Ca,
    host: &str,
    path: &str,
    http1: bool,
) -> Result<(u16, reqwest::Version, Option<String>, String), String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let root = reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([root])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .resolve(host, HTTPS.parse::<SocketAddr>().unwrap());
        if http1 {
            builder = builder.http1_only();
        }
        let client = builder.build().unwrap();
        let response = client
            .get(format!("https://{host}{path}"))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let version = response.version();
        let hsts = response
            .headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, version, hsts, body))
    })
}

/// The raw status line and Location of a plain GET through the proxy.
fn plain_redirect(host: &str, path: &str) -> (u16, Option<String>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(PROXY).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = response
        .lines()
        .find_map(|l| l.strip_prefix("location: ").map(str::to_owned));
    (status, location)
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The hosts the proxy serves over HTTPS, from its own status.
fn proxy_tls_hosts() -> Vec<String> {
    let answer = docker(&[
        "exec",
        "slipway-proxy",
        "slipway",
        "proxy",
        "ctl",
        r#"{"op":"status"}"#,
    ]);
    let answer: serde_json::Value = serde_json::from_str(answer.trim()).unwrap();
    answer["status"]["tls"]
        .as_object()
        .map(|tls| tls.keys().cloned().collect())
        .unwrap_or_default()
}

fn with_tls(manifest: &str, host: &str, tls: &str) -> String {
    let web = format!("route = {{ host = \"{host}\", path = \"/\" }}");
    assert!(manifest.contains(&web), "the web route moved");
    manifest.replace(
        &web,
        &format!("route = {{ host = \"{host}\", path = \"/\", {tls} }}"),
    )
}

#[test]
fn a_route_with_tls_from_files_is_served_over_https_and_bad_certificates_change_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let ca = ca();
    let (shop, host) = shop_with_files(
        temp.path(),
        "ittls",
        "strategy = { kind = \"blue-green\" }",
        &[],
        &[],
    );
    let _down = Down(shop.clone());
    let (cert, key) = issue(&ca, &host);
    let (_, other_key) = issue(&ca, &host);
    let (wrong_host_cert, wrong_host_key) = issue(&ca, "elsewhere.test");
    let expired_key = rcgen::KeyPair::generate().unwrap();
    let mut expired = rcgen::CertificateParams::new(vec![host.clone()]).unwrap();
    expired.not_before = rcgen::date_time_ymd(2024, 1, 1);
    expired.not_after = rcgen::date_time_ymd(2024, 4, 1);
    let expired = expired.signed_by(&expired_key, &ca.issuer).unwrap();
    write(&shop, "certs/expired.pem", &expired.pem());
    write(&shop, "certs/expired.key", &expired_key.serialize_pem());
    write(&shop, "certs/web.pem", &cert);
    write(&shop, "certs/web.key", &key);
    write(&shop, "certs/other.key", &other_key);
    write(&shop, "certs/elsewhere.pem", &wrong_host_cert);
    write(&shop, "certs/elsewhere.key", &wrong_host_key);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();

    // Bad input first: each refused with its reason, and nothing runs or is recorded.
    let without_host = manifest.replace(
        &format!("route = {{ host = \"{host}\", path = \"/\" }}"),
        "route = { path = \"/\", tls = { cert = \"file:certs/web.pem\", key = \"file:certs/web.key\" } }",
    );
    let unreadable = with_tls(
        &manifest,
        &host,
        "tls = { cert = \"file:certs/missing.pem\", key = \"file:certs/web.key\" }",
    );
    let mismatched = with_tls(
        &manifest,
        &host,
        "tls = { cert = \"file:certs/web.pem\", key = \"file:certs/other.key\" }",
    );
    let wrong_host = with_tls(
        &manifest,
        &host,
        "tls = { cert = \"file:certs/elsewhere.pem\", key = \"file:certs/elsewhere.key\" }",
    );
    let outdated = with_tls(
        &manifest,
        &host,
        "tls = { cert = \"file:certs/expired.pem\", key = \"file:certs/expired.key\" }",
    );
    for (text, expected) in [
        (
            &without_host,
            vec!["apps.web.route.tls", "needs the route's `host`"],
        ),
        (
            &unreadable,
            vec![
                "app `web`: route.tls.cert",
                "cannot read",
                "certs/missing.pem",
            ],
        ),
        (
            &mismatched,
            vec!["app `web`", "the key does not belong to the certificate"],
        ),
        (&wrong_host, vec!["the certificate is not for", &host]),
        (
            &outdated,
            vec!["the certificate expired on 2024-04-01 00:00 UTC: renew it"],
        ),
    ] {
        write(&shop, "slipway.toml", text);
        let refused = deploy(&shop, &[]);
        assert_ne!(refused.code, 0, "{expected:?}");
        for part in &expected {
            assert!(refused.stderr.contains(part), "{part}: {}", refused.stderr);
        }
        assert!(
            !refused.stderr.contains("PRIVATE KEY"),
            "{}",
            refused.stderr
        );
    }
    assert!(releases(&shop).is_empty());
    write(&shop, "slipway.toml", &manifest);
    assert_eq!(status_from_hosts(&shop), serde_json::json!({}));
    assert_eq!(get(&host, "/").0, 404);

    // Served over HTTPS with the route's certificate, HTTP/1.1 and HTTP/2.
    let secured = with_tls(
        &manifest,
        &host,
        "tls = { cert = \"file:certs/web.pem\", key = \"file:certs/web.key\" }, hsts = true",
    );
    write(&shop, "slipway.toml", &secured);
    let deployed = deploy_ok(&shop, &[]);
    assert!(
        !deployed.stdout.contains("PRIVATE KEY") && !deployed.stderr.contains("PRIVATE KEY"),
        "the deploy printed the key"
    );
    for http1 in [true, false] {
        let (status, version, hsts, body) = https_get(&ca, &host, "/", http1).unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            version,
            if http1 {
                reqwest::Version::HTTP_11
            } else {
                reqwest::Version::HTTP_2
            }
        );
        assert_eq!(hsts.as_deref(), Some("max-age=31536000"));
        assert!(!body.is_empty());
        // The api shares the host, so its certificate too.
        let (status, _, _, body) = https_get(&ca, &host, "/api/health", http1).unwrap();
        assert_eq!(status, 200, "{body}");
    }
    // Another CA's client is refused by its own check of the chain.
    let stranger = self::ca();
    let refused = https_get(&stranger, &host, "/", true).unwrap_err();
    assert!(
        refused.contains("certificate") || refused.contains("Certificate"),
        "{refused}"
    );

    // Plain HTTP to the host is sent to HTTPS, path and query kept.
    let (status, location) = plain_redirect(&host, "/cart?item=3");
    assert_eq!(status, 308);
    assert_eq!(location, Some(format!("https://{host}/cart?item=3")));

    // The certificate and key are a 0600 file of the proxy's state, and in no log.
    let mode = docker(&[
        "exec",
        "slipway-proxy",
        "stat",
        "-c",
        "%a",
        &format!("/var/lib/slipway-proxy/tls/{host}.pem"),
    ]);
    assert_eq!(mode.trim(), "600");
    assert!(!docker(&["logs", "slipway-proxy"]).contains("PRIVATE KEY"));

    // A bad certificate in a later deploy changes nothing: the release stays, so does the
    // certificate served.
    let before = releases(&shop);
    write(&shop, "slipway.toml", &mismatched);
    let refused = deploy(&shop, &[]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("does not belong to the certificate")
    );
    assert_eq!(releases(&shop), before);
    let (status, _, _, _) = https_get(&ca, &host, "/", false).unwrap();
    assert_eq!(status, 200);

    // A renewed certificate (same files, nothing else changed) reaches the proxy without a
    // new release.
    let renewed_ca = self::ca();
    let (renewed, renewed_key) = issue(&renewed_ca, &host);
    write(&shop, "certs/web.pem", &renewed);
    write(&shop, "certs/web.key", &renewed_key);
    write(&shop, "slipway.toml", &secured);
    let again = deploy_ok(&shop, &[]);
    assert!(
        again.stdout.contains("nothing to deploy"),
        "{}",
        again.stdout
    );
    assert_eq!(releases(&shop), before);
    assert_eq!(https_get(&renewed_ca, &host, "/", false).unwrap().0, 200);
    assert!(https_get(&ca, &host, "/", false).is_err());

    // Without `tls` the host is plain HTTP again.
    write(&shop, "slipway.toml", &manifest);
    deploy_ok(&shop, &[]);
    let (status, body) = get(&host, "/");
    assert_eq!(status, 200, "{body}");
    assert!(https_get(&renewed_ca, &host, "/", true).is_err());

    // With it again, then `down`: the host leaves HTTPS with its routes.
    write(&shop, "slipway.toml", &secured);
    deploy_ok(&shop, &[]);
    assert_eq!(https_get(&renewed_ca, &host, "/", false).unwrap().0, 200);
    assert!(proxy_tls_hosts().contains(&host));
    crate::deploy::down(&shop);
    assert!(!proxy_tls_hosts().contains(&host));
    assert_eq!(plain_redirect(&host, "/").0, 404);
    assert!(https_get(&renewed_ca, &host, "/", true).is_err());
}
