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
    /// When the certificate expires, in Unix seconds.
    pub not_after: i64,
    /// The chain, then the key, in PEM.
    pem: String,
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
        let hsts = route.hsts.unwrap_or(false);
        if let Some(other) = certificates.iter().find(|c| c.host == host) {
            if other.pem != pem || other.hsts != hsts {
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
            not_after: validity.not_after,
            pem,
        });
    }
    Ok(certificates)
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

/// Hands the certificates to a host's proxy (which checks them before it serves them) and
/// takes the environment's plain hosts off HTTPS there.
pub async fn install(
    host: &Host,
    plan: &ProxyPlan,
    certificates: &[RouteCertificate],
    plain: &BTreeSet<String>,
) -> Result<()> {
    let https_port = host.tls_address(plan).1;
    if !certificates.is_empty() {
        let files: Vec<(String, &[u8])> = certificates
            .iter()
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
        host.order(&Command::Tls {
            host: certificate.host.clone(),
            site: Some(TlsSite {
                hsts: certificate.hsts,
                https_port,
            }),
            certificate: true,
        })
        .await?;
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
    Ok(())
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
