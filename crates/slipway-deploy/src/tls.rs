//! The certificates of an environment's routes (`route = { host, tls = { cert, key } }`): read
//! from their sources and checked (they parse, the key is the certificate's, the certificate
//! names the route's host) before a deploy changes anything, then handed to each host's proxy
//! as files of its state volume (0600, through the engine's archive upload: never an image
//! layer, a command line or a log), which checks them again before it serves them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use slipway_core::Manifest;
use slipway_proxy::admin::Command;
use slipway_proxy::tls::TlsSite;

use crate::host::{Host, PROXY_CONTAINER, PROXY_STATE_DIR, ProxyPlan};
use crate::{DeployError, Result};

/// A deploy warns about a certificate that expires within this many days.
pub const RENEW_WARNING_DAYS: i64 = 14;

/// One host's certificate chain and key, ready for the proxy.
#[derive(Clone)]
pub struct RouteCertificate {
    /// The app whose route asked for it.
    pub app: String,
    /// The route's host name.
    pub host: String,
    /// Whether its HTTPS answers carry `Strict-Transport-Security`.
    pub hsts: bool,
    /// When the certificate expires, in Unix seconds; `None` for one from ACME, which each
    /// proxy obtains and renews itself.
    pub not_after: Option<i64>,
    /// The chain, then the key, in PEM (empty for ACME).
    pem: String,
    /// Where the proxies obtain it, for `tls = "acme"`.
    pub acme: Option<slipway_proxy::acme::AcmeSpec>,
}

impl std::fmt::Debug for RouteCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteCertificate")
            .field("app", &self.app)
            .field("host", &self.host)
            .field("hsts", &self.hsts)
            .finish_non_exhaustive()
    }
}

/// Reads and checks the certificate of every route with `tls` of the apps that run in
/// `environment`, valid at `now` (Unix seconds). The first problem is an error naming the app,
/// the field and what to do.
pub fn route_certificates(
    manifest: &Manifest,
    environment: &str,
    root: &Path,
    rendered: &slipway_config::RenderedEnvironment,
    now: i64,
) -> Result<Vec<RouteCertificate>> {
    let mut certificates: Vec<RouteCertificate> = Vec::new();
    for app in crate::rollout::environment_apps(manifest, environment) {
        let Some(route) = manifest.apps.get(&app).and_then(|a| a.route.as_ref()) else {
            continue;
        };
        let Some(tls) = &route.tls else {
            continue;
        };
        let host = route.host.clone().ok_or_else(|| {
            DeployError::Plan(format!(
                "app `{app}`: route.tls needs the route's `host`: a certificate names a host"
            ))
        })?;
        let hsts = route.hsts.unwrap_or(false);
        let Some(tls) = tls.files() else {
            let spec = acme_spec(manifest, environment, root)?;
            let certificate = RouteCertificate {
                app: app.clone(),
                host: host.clone(),
                hsts,
                not_after: None,
                pem: String::new(),
                acme: Some(spec),
            };
            if let Some(other) = certificates.iter().find(|c| c.host == host) {
                if other.acme != certificate.acme || other.hsts != hsts {
                    return Err(DeployError::Plan(format!(
                        "apps `{}` and `{app}` both route `{host}` with different `tls` or `hsts`: a host has one certificate; give both routes the same",
                        other.app
                    )));
                }
                continue;
            }
            certificates.push(certificate);
            continue;
        };
        let cert = read_source(root, rendered, &tls.cert, &app, "cert")?;
        let key = read_source(root, rendered, &tls.key, &app, "key")?;
        let refused = |reason: String| {
            DeployError::Plan(format!(
                "app `{app}`: route.tls for `{host}` ({} and {}): {reason}",
                tls.cert, tls.key
            ))
        };
        let certified = slipway_proxy::tls::certified_key(&host, cert.as_bytes(), key.as_bytes())
            .map_err(refused)?;
        let validity = slipway_proxy::tls::check_dates(&certified, now).map_err(refused)?;
        let pem = format!("{}\n{}\n", cert.trim_end(), key.trim_end());
        if let Some(other) = certificates.iter().find(|c| c.host == host) {
            if other.pem != pem || other.hsts != hsts || other.acme.is_some() {
                return Err(DeployError::Plan(format!(
                    "apps `{}` and `{app}` both route `{host}` with different `tls` or `hsts`: a host has one certificate; give both routes the same",
                    other.app
                )));
            }
            continue;
        }
        certificates.push(RouteCertificate {
            app,
            host,
            hsts,
            not_after: Some(validity.not_after),
            pem,
            acme: None,
        });
    }
    Ok(certificates)
}

/// The environment's `proxy.acme`, with Let's Encrypt as the default directory and its `ca`
/// file read.
fn acme_spec(
    manifest: &Manifest,
    environment: &str,
    root: &Path,
) -> Result<slipway_proxy::acme::AcmeSpec> {
    let settings = manifest
        .environments
        .get(environment)
        .and_then(|env| match &env.target {
            slipway_core::manifest::Target::Docker { proxy, .. } => proxy.acme.as_deref().cloned(),
            slipway_core::manifest::Target::Ecs(_) => None,
        })
        .unwrap_or_default();
    let ca = match settings
        .ca
        .as_deref()
        .map(|c| c.strip_prefix("file:").unwrap_or(c))
    {
        Some(path) => {
            let path = root.join(path);
            let pem = std::fs::read_to_string(&path).map_err(|error| {
                DeployError::Plan(format!(
                    "environments.{environment}.target.proxy.acme.ca: cannot read {}: {error}",
                    path.display()
                ))
            })?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(DeployError::Plan(format!(
                    "environments.{environment}.target.proxy.acme.ca: {} has no `-----BEGIN CERTIFICATE-----` block",
                    path.display()
                )));
            }
            Some(pem)
        }
        None => None,
    };
    Ok(slipway_proxy::acme::AcmeSpec {
        directory: settings
            .directory
            .unwrap_or_else(|| slipway_proxy::acme::LETS_ENCRYPT.to_owned()),
        email: settings.email,
        challenge: match settings.challenge.as_deref() {
            Some("tls-alpn-01") => slipway_proxy::acme::Challenge::TlsAlpn01,
            _ => slipway_proxy::acme::Challenge::Http01,
        },
        ca,
    })
}

/// Where one host's proxy is published: its name, its plain address and its TLS address.
pub type ProxyAddresses = (String, (String, u16), (String, u16));

/// What keeps a CA from checking a host's ACME challenge, as the proxies' addresses show it:
/// HTTP-01 is checked on port 80 and TLS-ALPN-01 on 443 of the host's public address, so a
/// proxy published on another port, or on loopback only, cannot answer.
pub fn acme_reachability_warnings(
    certificates: &[RouteCertificate],
    proxies: &[ProxyAddresses],
) -> Vec<String> {
    let mut warnings = Vec::new();
    for certificate in certificates {
        let Some(spec) = &certificate.acme else {
            continue;
        };
        for (name, plain, tls) in proxies {
            let ((ip, port), wanted, field) = match spec.challenge {
                slipway_proxy::acme::Challenge::Http01 => (plain, 80, "publish"),
                slipway_proxy::acme::Challenge::TlsAlpn01 => (tls, 443, "publish_tls"),
            };
            if *port != wanted || ip.starts_with("127.") || ip == "::1" {
                warnings.push(format!(
                    "{name}: the CA checks {}'s {} challenge on port {wanted} of its public address, but the proxy is published on {ip}:{port}; set proxy.{field} = \"0.0.0.0:{wanted}\" unless something in front forwards it",
                    certificate.host,
                    spec.challenge.name()
                ));
            }
        }
    }
    warnings
}

/// Has each running proxy sign in to the ACME directories the certificates come from, so a
/// directory that does not answer stops the deploy before it changes anything.
pub async fn check_acme(hosts: &[Host], certificates: &[RouteCertificate]) -> Result<()> {
    let mut specs: Vec<&slipway_proxy::acme::AcmeSpec> = Vec::new();
    for spec in certificates.iter().filter_map(|c| c.acme.as_ref()) {
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    for host in hosts {
        if specs.is_empty() || !host.engine.is_running(PROXY_CONTAINER).await {
            continue;
        }
        for spec in &specs {
            let answer = host
                .proxy(&Command::AcmeCheck {
                    acme: (*spec).clone(),
                })
                .await?;
            match answer.error {
                None if answer.ok => {}
                // A proxy of an older slipway, replaced later in this deploy: the new one
                // signs in when it is handed the certificate.
                Some(error) if error.starts_with("not a command") => {}
                error => {
                    return Err(DeployError::Proxy {
                        host: host.name.clone(),
                        message: error.unwrap_or_default(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The hosts the environment routes over plain HTTP only: if the proxy serves one of them over
/// HTTPS from an earlier deploy, it stops (and stops redirecting it).
pub fn plain_hosts(
    manifest: &Manifest,
    environment: &str,
    certificates: &[RouteCertificate],
) -> BTreeSet<String> {
    let secured: BTreeSet<&str> = certificates.iter().map(|c| c.host.as_str()).collect();
    crate::rollout::environment_apps(manifest, environment)
        .iter()
        .filter_map(|app| manifest.apps.get(app)?.route.as_ref()?.host.clone())
        .map(|host| slipway_proxy::tls::host_name(&host))
        .filter(|host| !secured.contains(host.as_str()))
        .collect()
}

fn read_source(
    root: &Path,
    rendered: &slipway_config::RenderedEnvironment,
    source: &str,
    app: &str,
    field: &str,
) -> Result<String> {
    let bad =
        |message: String| DeployError::Plan(format!("app `{app}`: route.tls.{field}: {message}"));
    match source.split_once(':') {
        Some(("file", path)) => {
            let path = root.join(path);
            std::fs::read_to_string(&path).map_err(|error| {
                bad(format!("cannot read {}: {error}", path.display()))
            })
        }
        Some(("secret", name)) => rendered.secret_file(name).map(str::to_owned).ok_or_else(|| {
            bad(format!(
                "secret `{name}` has no value in environment `{}`; name its source in [environments.{}] secrets",
                rendered.environment, rendered.environment
            ))
        }),
        _ => Err(bad(format!(
            "unknown source `{source}`; write `file:PATH` or `secret:NAME`"
        ))),
    }
}

/// Hands the certificates to a host's proxy (which checks them before it serves them, and
/// obtains those from ACME) and takes the environment's plain hosts off HTTPS there. Returns
/// what a person should know: an ACME order that failed while the host kept its certificate.
pub async fn install(
    host: &Host,
    plan: &ProxyPlan,
    certificates: &[RouteCertificate],
    plain: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let https_port = host.tls_address(plan).1;
    let mut warnings = Vec::new();
    if certificates.iter().any(|c| c.acme.is_none()) {
        let files: Vec<(String, &[u8])> = certificates
            .iter()
            .filter(|c| c.acme.is_none())
            .map(|c| {
                (
                    format!(
                        "tls/incoming/{}.pem",
                        slipway_proxy::tls::host_name(&c.host)
                    ),
                    c.pem.as_bytes(),
                )
            })
            .collect();
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), *b)).collect();
        host.engine
            .put_private_files(PROXY_CONTAINER, PROXY_STATE_DIR, &files)
            .await?;
    }
    for certificate in certificates {
        let answer = host
            .order(&Command::Tls {
                host: certificate.host.clone(),
                site: Some(TlsSite {
                    hsts: certificate.hsts,
                    https_port,
                    acme: certificate.acme.clone(),
                }),
                certificate: certificate.acme.is_none(),
            })
            .await?;
        warnings.extend(answer.warning);
    }
    if !plain.is_empty() {
        let served: BTreeMap<String, TlsSite> = host
            .order(&Command::Status)
            .await?
            .status
            .map(|s| s.tls)
            .unwrap_or_default();
        for name in plain.iter().filter(|h| served.contains_key(*h)) {
            host.order(&Command::Tls {
                host: name.clone(),
                site: None,
                certificate: false,
            })
            .await?;
        }
    }
    Ok(warnings)
}

/// One host name the proxy serves over HTTPS, as `slipway status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateState {
    /// The route's host name.
    pub host: String,
    /// `acme` or `files`.
    pub source: &'static str,
    /// When the certificate served expires (ACME), in Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
    /// When the proxy next orders one (ACME), in Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<i64>,
    /// Why the last order failed, while none has succeeded since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The environment's route hosts a proxy serves over HTTPS, from its status.
pub fn certificate_states(
    status: &slipway_proxy::admin::Status,
    manifest: &Manifest,
    environment: &str,
) -> Vec<CertificateState> {
    let hosts: BTreeSet<String> = crate::rollout::environment_apps(manifest, environment)
        .iter()
        .filter_map(|app| manifest.apps.get(app)?.route.as_ref()?.host.clone())
        .map(|host| slipway_proxy::tls::host_name(&host))
        .collect();
    hosts
        .into_iter()
        .filter_map(|host| {
            let site = status.tls.get(&host)?;
            let acme = status.acme.get(&host);
            Some(CertificateState {
                source: if site.acme.is_some() { "acme" } else { "files" },
                not_after: acme.and_then(|a| a.not_after),
                next_attempt: acme.and_then(|a| a.next_attempt),
                last_error: acme.and_then(|a| a.last_error.clone()),
                host,
            })
        })
        .collect()
}

/// A certificate in a line for people.
pub fn state_line(state: &CertificateState) -> String {
    let utc = slipway_proxy::x509::format_utc;
    let mut line = match (state.source, state.not_after) {
        ("acme", Some(not_after)) => format!(
            "https {}: certificate from ACME, valid until {}",
            state.host,
            utc(not_after)
        ),
        ("acme", None) => format!("https {}: no certificate from ACME yet", state.host),
        _ => format!("https {}: certificate from the project's files", state.host),
    };
    if let Some(next) = state.next_attempt {
        line.push_str(&format!(", next order {}", utc(next)));
    }
    if let Some(error) = &state.last_error {
        line.push_str(&format!("; the last order failed: {error}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
schema = 1
[project]
name = "shop"
[registries.local]
url = "127.0.0.1:5000"
[bases.py]
image = "shop/py"
registry = "local"
[apps.web]
base = "py"
port = 8000
route = { host = "shop.test", path = "/", tls = { cert = "file:certs/shop.pem", key = "file:certs/shop.key" } }
[apps.api]
base = "py"
port = 8000
route = { host = "shop.test", path = "/api", tls = { cert = "file:certs/shop.pem", key = "file:certs/shop.key" } }
[apps.blog]
base = "py"
port = 8000
route = { host = "Blog.test", path = "/" }
[environments.prod]
"#;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn pair(host: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn read(manifest: &str, dir: &Path) -> Result<Vec<RouteCertificate>> {
        let manifest = slipway_core::load_manifest(manifest).unwrap();
        let rendered = slipway_config::RenderedEnvironment::empty("prod");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        route_certificates(&manifest, "prod", dir, &rendered, now)
    }

    #[test]
    fn routes_of_one_host_share_its_certificate_and_other_hosts_stay_plain() {
        let (cert, key) = pair("shop.test");
        let dir = project(&[("certs/shop.pem", &cert), ("certs/shop.key", &key)]);
        let certificates = read(MANIFEST, dir.path()).unwrap();
        assert_eq!(certificates.len(), 1, "{certificates:?}");
        assert_eq!(certificates[0].host, "shop.test");
        assert!(!format!("{certificates:?}").contains("PRIVATE"));
        let manifest = slipway_core::load_manifest(MANIFEST).unwrap();
        assert_eq!(
            plain_hosts(&manifest, "prod", &certificates),
            BTreeSet::from(["blog.test".to_owned()])
        );
    }

    #[test]
    fn an_unreadable_file_or_a_missing_secret_names_the_app_and_the_field() {
        let dir = project(&[]);
        let Err(DeployError::Plan(error)) = read(MANIFEST, dir.path()) else {
            panic!("a missing file was accepted");
        };
        assert!(
            error.starts_with("app `web`: route.tls.cert: cannot read"),
            "{error}"
        );
        let secret = MANIFEST.replace("file:certs/shop.key", "secret:SHOP_KEY");
        let (cert, _) = pair("shop.test");
        let dir = project(&[("certs/shop.pem", &cert)]);
        let Err(DeployError::Plan(error)) = read(&secret, dir.path()) else {
            panic!("a missing secret was accepted");
        };
        assert!(
            error.contains("route.tls.key: secret `SHOP_KEY` has no value"),
            "{error}"
        );
    }

    #[test]
    fn status_shows_each_https_host_with_its_certificate_and_the_last_failure() {
        let manifest = MANIFEST.replace(
            "tls = { cert = \"file:certs/shop.pem\", key = \"file:certs/shop.key\" }",
            "tls = \"acme\"",
        );
        let manifest = slipway_core::load_manifest(&manifest).unwrap();
        let mut status = slipway_proxy::admin::Status::default();
        let site = |acme: bool| TlsSite {
            hsts: false,
            https_port: 443,
            acme: acme.then(|| slipway_proxy::acme::AcmeSpec {
                directory: slipway_proxy::acme::LETS_ENCRYPT.into(),
                email: None,
                challenge: Default::default(),
                ca: None,
            }),
        };
        status.tls.insert("shop.test".into(), site(true));
        status.tls.insert("other.test".into(), site(false));
        status.acme.insert(
            "shop.test".into(),
            slipway_proxy::acme::AcmeStatus {
                not_after: Some(1_711_929_600),
                next_attempt: Some(1_704_067_200),
                last_error: Some("the CA refused shop.test: blocked (rejectedIdentifier)".into()),
                failures: 1,
            },
        );
        let states = certificate_states(&status, &manifest, "prod");
        assert_eq!(
            states.len(),
            1,
            "another environment's host is not shown: {states:?}"
        );
        assert_eq!(
            state_line(&states[0]),
            "https shop.test: certificate from ACME, valid until 2024-04-01 00:00 UTC, next order 2024-01-01 00:00 UTC; the last order failed: the CA refused shop.test: blocked (rejectedIdentifier)"
        );
    }

    #[test]
    fn a_proxy_the_ca_cannot_reach_for_its_challenge_is_warned_about() {
        let acme = |challenge| RouteCertificate {
            app: "web".into(),
            host: "shop.example.com".into(),
            hsts: false,
            not_after: None,
            pem: String::new(),
            acme: Some(slipway_proxy::acme::AcmeSpec {
                directory: slipway_proxy::acme::LETS_ENCRYPT.into(),
                email: None,
                challenge,
                ca: None,
            }),
        };
        let public: ProxyAddresses = (
            "ssh://app-1".into(),
            ("0.0.0.0".into(), 80),
            ("0.0.0.0".into(), 443),
        );
        let loopback: ProxyAddresses = (
            "local".into(),
            ("127.0.0.1".into(), 8090),
            ("0.0.0.0".into(), 443),
        );
        let http = [acme(slipway_proxy::acme::Challenge::Http01)];
        let alpn = [acme(slipway_proxy::acme::Challenge::TlsAlpn01)];
        assert!(acme_reachability_warnings(&http, std::slice::from_ref(&public)).is_empty());
        assert!(acme_reachability_warnings(&alpn, std::slice::from_ref(&loopback)).is_empty());
        let warnings = acme_reachability_warnings(&http, &[public, loopback]);
        assert_eq!(
            warnings,
            [
                "local: the CA checks shop.example.com's http-01 challenge on port 80 of its public address, but the proxy is published on 127.0.0.1:8090; set proxy.publish = \"0.0.0.0:80\" unless something in front forwards it"
            ]
        );
    }

    #[test]
    fn two_routes_of_a_host_with_different_certificates_are_refused() {
        let (cert, key) = pair("shop.test");
        let (other, other_key) = pair("shop.test");
        let dir = project(&[
            ("certs/shop.pem", &cert),
            ("certs/shop.key", &key),
            ("certs/other.pem", &other),
            ("certs/other.key", &other_key),
        ]);
        let manifest = MANIFEST.replacen("file:certs/shop", "file:certs/other", 2);
        let Err(DeployError::Plan(error)) = read(&manifest, dir.path()) else {
            panic!("two certificates for one host were accepted");
        };
        assert!(error.contains("both route `shop.test`"), "{error}");
    }
}
