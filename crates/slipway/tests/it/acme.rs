//! Certificates from an ACME directory on the real engine, against Pebble (Let's Encrypt's test
//! CA, Debian's `pebble`) run in a container on a network the test creates, beside the proxy.
//! The proxy obtains a certificate over HTTP-01 and over TLS-ALPN-01, verified by clients that
//! trust only Pebble's root; a restart serves the stored certificate without a new order; a
//! short-lived certificate is renewed with no deploy; a refused order keeps the certificate the
//! host has and says why; a directory that does not answer stops the deploy before it changes
//! anything.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::deploy::{Down, deploy, deploy_ok, releases, shop_with_files};
use crate::{unique, write};

const HTTPS: &str = "127.0.0.1:443";

fn docker(args: &[&str]) -> (bool, String) {
    let output = Command::new("docker").args(args).output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn docker_ok(args: &[&str]) -> String {
    let (ok, output) = docker(args);
    assert!(ok, "docker {args:?}: {output}");
    output.trim().to_owned()
}

/// Pebble in a container named `name` on `network`, its ACME and management ports inside the
/// network only but for the management port, published on 127.0.0.1 for the test to read the
/// root it signs with.
struct Pebble {
    name: String,
    network: String,
    config_dir: std::path::PathBuf,
    /// The CA Pebble's own HTTPS is signed by.
    ca_pem: String,
}

impl Pebble {
    /// Starts (or restarts) Pebble with `extra` in its config, resolving `host` to `proxy_ip`.
    fn start(&self, host: &str, proxy_ip: &str, extra: &str) {
        let _ = docker(&["rm", "-f", &self.name]);
        write(
            &self.config_dir,
            "pebble.json",
            &format!(
                r#"{{"pebble": {{
  "listenAddress": "0.0.0.0:14000",
  "managementListenAddress": "0.0.0.0:15000",
  "certificate": "/config/cert.pem",
  "privateKey": "/config/key.pem",
  "httpPort": 8090,
  "tlsPort": 8443,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false{extra}
}}}}"#
            ),
        );
        let image = std::env::var("SLIPWAY_TEST_DEBIAN_IMAGE")
            .unwrap_or_else(|_| "debian:bookworm-20251117-slim".into());
        let config = format!("{}:/config:ro", self.config_dir.display());
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &self.name,
            "--network",
            &self.network,
            "--add-host",
            &format!("{host}:{proxy_ip}"),
            "-e",
            "PEBBLE_VA_NOSLEEP=1",
            "-e",
            "PEBBLE_WFE_NONCEREJECT=0",
            "-e",
            "PEBBLE_AUTHZREUSE=0",
            "-v",
            "/usr/bin/pebble:/usr/local/bin/pebble:ro",
            "-v",
            &config,
            "-p",
            "127.0.0.1::15000",
            &image,
            "pebble",
            "-config",
            "/config/pebble.json",
        ]);
        // Ready once its management port answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.root().is_err() {
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The root Pebble signs certificates with (it makes a new one each start).
    fn root(&self) -> Result<String, String> {
        let port = docker(&["port", &self.name, "15000/tcp"]).1;
        let address: SocketAddr = port
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .ok_or("not published yet")?
            .trim()
            .parse()
            .map_err(|_| "no address")?;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap();
            let client = reqwest::Client::builder()
                .tls_certs_only([ca])
                .resolve(&self.name, address)
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let response = client
                .get(format!("https://{}:{}/roots/0", self.name, address.port()))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{}", response.status()));
            }
            response.text().await.map_err(|e| e.to_string())
        })
    }

    fn logs(&self) -> String {
        docker(&["logs", &self.name]).1
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
        let _ = docker(&[
            "network",
            "disconnect",
            "-f",
            &self.network,
            "slipway-proxy",
        ]);
        let _ = docker(&["network", "rm", &self.network]);
    }
}

/// The certificate chain `host` is served with on the proxy's TLS port, verified against
/// `root` and the host name by rustls, and the body of `/` over HTTP/2.
fn served(root: &str, host: &str) -> Result<(Vec<u8>, String), String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let root = reqwest::Certificate::from_pem(root.as_bytes()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([root])
            .tls_info(true)
            .timeout(Duration::from_secs(10))
            .resolve(host, HTTPS.parse::<SocketAddr>().unwrap())
            .build()
            .unwrap();
        let response = client
            .get(format!("https://{host}/"))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if response.version() != reqwest::Version::HTTP_2 {
            return Err(format!("served over {:?}", response.version()));
        }
        let leaf = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(<[u8]>::to_vec)
            .ok_or("no peer certificate")?;
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok((leaf, body))
    })
}

/// curl, trusting only `root`, verifies the chain and the name too.
fn curl(root_file: &Path, host: &str) -> (bool, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(root_file)
        .args([
            "--resolve",
            &format!("{host}:443:127.0.0.1"),
            &format!("https://{host}/"),
        ])
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn proxy_status() -> serde_json::Value {
    let answer = docker_ok(&[
        "exec",
        "slipway-proxy",
        "slipway",
        "proxy",
        "ctl",
        r#"{"op":"status"}"#,
    ]);
    serde_json::from_str(&answer).unwrap()
}

/// How many certificates the proxy has logged obtaining for `host`.
fn issued_for(host: &str) -> usize {
    docker(&["logs", "slipway-proxy"])
        .1
        .lines()
        .filter(|l| l.contains(&format!("{host}: a new certificate")))
        .count()
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn set_acme(shop: &Path, from: &str, to: &str) {
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    assert!(manifest.contains(from), "`{from}` is not in slipway.toml");
    write(shop, "slipway.toml", &manifest.replace(from, to));
}

#[test]
fn routes_with_acme_get_renew_and_keep_certificates_from_pebble() {
    let temp = tempfile::tempdir().unwrap();
    let suffix = unique("acme");
    let pebble_name = format!("pebble-{suffix}");
    // Pebble's own HTTPS, signed by a CA of the test's; the proxy trusts it through `ca`.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec![pebble_name.clone()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let config_dir = temp.path().join("pebble");
    write(&config_dir, "cert.pem", &server_cert.pem());
    write(&config_dir, "key.pem", &server_key.serialize_pem());

    let acme = format!(
        "acme = {{ directory = \"https://{pebble_name}:14000/dir\", email = \"ops@example.com\", ca = \"file:certs/acme-ca.pem\" }}"
    );
    let (shop, host) = shop_with_files(
        temp.path(),
        "itacme",
        "strategy = { kind = \"blue-green\" }",
        &[],
        &[("certs/acme-ca.pem", &ca_cert.pem())],
    );
    let _down = Down(shop.clone());
    // The site first runs on plain HTTP: its proxy exists, and joins the test's network.
    deploy_ok(&shop, &[]);
    let network = format!("it-{suffix}");
    docker_ok(&["network", "create", &network]);
    let pebble = Pebble {
        name: pebble_name.clone(),
        network: network.clone(),
        config_dir,
        ca_pem: ca_cert.pem(),
    };
    docker_ok(&["network", "connect", &network, "slipway-proxy"]);
    let proxy_ip = docker_ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
        "slipway-proxy",
    ]);
    pebble.start(&host, &proxy_ip, "");

    // A directory that does not answer stops the deploy before anything changes.
    let before = releases(&shop);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let web_route = format!("route = {{ host = \"{host}\", path = \"/\" }}");
    let with_tls = manifest
        .replace(
            &web_route,
            &format!("route = {{ host = \"{host}\", path = \"/\", tls = \"acme\" }}"),
        )
        .replace("drain = \"5s\" }", &format!("drain = \"5s\", {acme} }}"));
    assert!(with_tls.contains("tls = \"acme\"") && with_tls.contains("acme = {"));
    write(
        &shop,
        "slipway.toml",
        &with_tls.replace(&pebble_name, "pebble-nowhere"),
    );
    let refused = deploy(&shop, &[]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("the ACME directory https://pebble-nowhere:14000/dir does not answer"),
        "{}",
        refused.stderr
    );
    assert_eq!(releases(&shop), before);
    assert!(issued_for(&host) == 0);

    // HTTP-01: the proxy answers Pebble on its plain port and serves what it got.
    write(&shop, "slipway.toml", &with_tls);
    let result = deploy_ok(&shop, &["--force"]);
    let root = pebble.root().unwrap();
    let root_file = temp.path().join("pebble-root.pem");
    std::fs::write(&root_file, &root).unwrap();
    let (first, body) = served(&root, &host).unwrap_or_else(|e| {
        panic!(
            "{e}\ndeploy: {}\nproxy: {}\npebble: {}",
            result.stderr,
            docker(&["logs", "slipway-proxy"]).1,
            pebble.logs()
        )
    });
    assert!(body.contains("<html") || !body.is_empty(), "{body}");
    let (ok, output) = curl(&root_file, &host);
    assert!(ok, "curl: {output}");
    // A client that does not trust Pebble's root refuses it.
    let (ok, _) = curl(&temp.path().join("pebble/cert.pem"), &host);
    assert!(!ok, "curl trusted a certificate it should not have");
    let http_checks = || {
        pebble
            .logs()
            .matches("Attempting to validate w/ HTTP")
            .count()
    };
    assert!(http_checks() >= 1, "{}", pebble.logs());
    assert_eq!(issued_for(&host), 1);
    let status = proxy_status();
    assert!(
        status["status"]["acme"][&host]["not_after"].is_i64(),
        "{status}"
    );
    // Plain HTTP to the host is sent to HTTPS; the account key and certificate are 0600.
    let (_, mode) = docker(&[
        "exec",
        "slipway-proxy",
        "sh",
        "-c",
        &format!(
            "stat -c %a /var/lib/slipway-proxy/tls/{host}.pem /var/lib/slipway-proxy/tls/acme/account-*.json"
        ),
    ]);
    let modes: Vec<&str> = mode.split_whitespace().collect();
    assert!(
        modes.len() >= 2 && modes.iter().all(|m| *m == "600"),
        "{mode}"
    );

    // A restart serves the stored certificate and orders none.
    docker_ok(&["restart", "slipway-proxy"]);
    let again = wait_for(
        "the proxy after its restart",
        Duration::from_secs(20),
        || served(&root, &host).ok(),
    );
    assert_eq!(again.0, first, "the restart served another certificate");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(issued_for(&host), 1, "the restart ordered a certificate");

    // TLS-ALPN-01: another challenge is another source, ordered at the deploy; Pebble checks
    // the proxy's TLS port, not its plain one.
    let http_checked = http_checks();
    set_acme(
        &shop,
        "email = \"ops@example.com\",",
        "email = \"ops@example.com\", challenge = \"tls-alpn-01\",",
    );
    deploy_ok(&shop, &[]);
    let (second, _) = served(&root, &host).unwrap();
    assert_ne!(second, first);
    assert_eq!(http_checks(), http_checked, "{}", pebble.logs());
    assert!(pebble.logs().matches("Issued certificate serial").count() >= 2);
    assert_eq!(issued_for(&host), 2);

    // A CA of 20-second certificates (a new Pebble: it forgets the proxy's account, which
    // registers again). The proxy renews with no deploy, a third of the lifetime ahead.
    pebble.start(&host, &proxy_ip, ",\n  \"certificateValidityPeriod\": 20");
    let root = pebble.root().unwrap();
    set_acme(&shop, "challenge = \"tls-alpn-01\", ", "");
    let result = deploy_ok(&shop, &[]);
    let (short, _) = served(&root, &host).unwrap_or_else(|e| {
        panic!(
            "{e}\ndeploy: {}\nproxy: {}",
            result.stderr,
            docker(&["logs", "slipway-proxy"]).1
        )
    });
    assert_eq!(issued_for(&host), 3);
    wait_for("a renewal", Duration::from_secs(40), || {
        served(&root, &host).ok().filter(|(leaf, _)| *leaf != short)
    });
    assert!(issued_for(&host) >= 4);

    // Pebble refuses the host from now on: renewals fail, the host keeps its certificate,
    // and the reason is in the proxy's status and in the deploy's output.
    pebble.start(
        &host,
        &proxy_ip,
        &format!(",\n  \"domainBlocklist\": [\"{host}\"]"),
    );
    let stored = || {
        docker_ok(&[
            "exec",
            "slipway-proxy",
            "cat",
            &format!("/var/lib/slipway-proxy/tls/{host}.pem"),
        ])
    };
    let kept = stored();
    set_acme(
        &shop,
        "email = \"ops@example.com\",",
        "email = \"ops@example.com\", challenge = \"tls-alpn-01\",",
    );
    let result = deploy_ok(&shop, &[]);
    assert!(
        result.stderr.contains("keeps the certificate it has")
            && result.stderr.contains("rejectedIdentifier"),
        "{}",
        result.stderr
    );
    assert_eq!(stored(), kept);
    let status = proxy_status();
    let error = status["status"]["acme"][&host]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("rejectedIdentifier"), "{status}");
    assert!(status["status"]["acme"][&host]["failures"].as_u64() >= Some(1));
    let shown = crate::run(crate::slipway(&shop).args(["status", "prod"]));
    assert!(
        shown
            .stdout
            .contains(&format!("https {host}: certificate from ACME, valid until"))
            && shown.stdout.contains("the last order failed")
            && shown.stdout.contains("rejectedIdentifier"),
        "{}",
        shown.stdout
    );
    // Still served over HTTPS with the certificate it kept (expired by now, as Pebble's are
    // after 20 s; a real CA's would have weeks left).
    let leaf = served_insecurely(&host);
    assert_eq!(
        pem_of(&leaf),
        kept[..kept.find("-----END CERTIFICATE-----").unwrap()]
    );
    assert_eq!(crate::deploy::get(&host, "/").0, 308);
}

/// The leaf certificate `host` is served with, whatever it is.
fn served_insecurely(host: &str) -> Vec<u8> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .tls_info(true)
            .timeout(Duration::from_secs(10))
            .resolve(host, HTTPS.parse::<SocketAddr>().unwrap())
            .build()
            .unwrap();
        let response = client.get(format!("https://{host}/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(<[u8]>::to_vec)
            .unwrap()
    })
}

/// A DER certificate as the PEM block a file holds.
fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n", lines.join("\n"))
}
