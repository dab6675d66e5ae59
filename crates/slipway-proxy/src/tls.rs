//! HTTPS on the proxy's TLS port: one certificate per host, picked by the client's SNI, HTTP/2
//! or HTTP/1.1 by ALPN, TLS 1.2 and 1.3 only (rustls with the aws-lc-rs provider). Which plain
//! requests are sent over to HTTPS, and whether HTTPS answers carry HSTS, are pure decisions
//! here too.
//!
//! A host's certificate chain and key live in one PEM file, `<host>.pem`, in the `tls`
//! directory beside the routing table (0600). slipway puts a new one in `incoming/` through the
//! engine's archive upload and then orders [`crate::admin::Command::Tls`]: the proxy checks it
//! (it parses, the key is the certificate's, the certificate names the host) before it moves it
//! into place, so a bad file never replaces a good one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

/// The ACME HTTP-01 challenge path: answered on the plain port, never redirected.
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
/// `Strict-Transport-Security` when a route asks for it: a year.
pub const HSTS_VALUE: &str = "max-age=31536000";

/// How one host is served over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSite {
    /// Send `Strict-Transport-Security` on its HTTPS answers.
    #[serde(default)]
    pub hsts: bool,
    /// The port clients reach the proxy's TLS port on (the host's published port), for the
    /// redirect's `Location`.
    pub https_port: u16,
    /// Where the proxy obtains and renews the host's certificate itself; `None` when slipway
    /// hands it one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<crate::acme::AcmeSpec>,
}

/// The host name of a Host header or authority: without its port, in lower case.
pub fn host_name(host: &str) -> String {
    let name = match host.strip_prefix('[') {
        // An IPv6 literal keeps its brackets' content.
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Where a plain HTTP request goes instead (`308`), when its host is served over HTTPS. ACME's
/// HTTP-01 challenges stay on the plain port.
pub fn redirect(
    sites: &BTreeMap<String, TlsSite>,
    host: Option<&str>,
    path_and_query: &str,
) -> Option<String> {
    let name = host_name(host?);
    let site = sites.get(&name)?;
    if path_and_query.starts_with(ACME_CHALLENGE_PREFIX) {
        return None;
    }
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    Some(match site.https_port {
        443 => format!("https://{name}{path}"),
        port => format!("https://{name}:{port}{path}"),
    })
}

/// Whether an HTTPS answer for `host` carries `Strict-Transport-Security`.
pub fn hsts(sites: &BTreeMap<String, TlsSite>, host: Option<&str>) -> bool {
    host.and_then(|h| sites.get(&host_name(h)))
        .is_some_and(|site| site.hsts)
}

/// The crypto provider every TLS object of the proxy uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads a host's certificate chain and key (PEM) and checks that they belong together and
/// to `host`. The error says what is wrong in words a person can act on; it never quotes the key.
pub fn certified_key(host: &str, chain_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| {
            "the certificate is not PEM: expected `-----BEGIN CERTIFICATE-----` blocks".to_owned()
        })?;
    if chain.is_empty() {
        return Err("the certificate has no `-----BEGIN CERTIFICATE-----` block".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
        "the key has no PEM private key (`-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)".to_owned()
    })?;
    let provider = provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(_) => {
            "the key does not belong to the certificate (their public keys differ)".to_owned()
        }
        rustls::Error::InvalidCertificate(_) => {
            "the certificate does not parse as X.509".to_owned()
        }
        _ => {
            "the key is not one rustls can sign with (RSA, ECDSA P-256/P-384 or Ed25519)".to_owned()
        }
    })?;
    let end_entity = certified
        .end_entity_cert()
        .map_err(|_| "the certificate chain is empty".to_owned())?;
    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)
        .map_err(|_| "the certificate does not parse as X.509".to_owned())?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| format!("`{host}` is not a host name a certificate can name"))?;
    rustls::client::verify_server_name(&parsed, &name).map_err(|_| {
        format!("the certificate is not for `{host}`: none of its names matches it")
    })?;
    Ok(certified)
}

/// The validity period of a checked certificate, refused when `now` (Unix seconds) is outside it.
pub fn check_dates(certified: &CertifiedKey, now: i64) -> Result<crate::x509::Validity, String> {
    let der = certified
        .end_entity_cert()
        .map_err(|_| "the certificate chain is empty".to_owned())?;
    let validity = crate::x509::validity(der)
        .ok_or_else(|| "the certificate's validity period does not read".to_owned())?;
    if now > validity.not_after {
        return Err(format!(
            "the certificate expired on {}: renew it",
            crate::x509::format_utc(validity.not_after)
        ));
    }
    if now < validity.not_before {
        return Err(format!(
            "the certificate is not valid before {}",
            crate::x509::format_utc(validity.not_before)
        ));
    }
    Ok(validity)
}

/// The certificate each host is served with, chosen by SNI. Shared by every TLS connection;
/// a new certificate takes effect for the next handshake.
#[derive(Debug, Default)]
pub struct Certificates {
    keys: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// The ACME challenges being answered, whose TLS-ALPN-01 handshakes get their own
    /// certificate.
    pub challenges: Arc<crate::acme::Responses>,
}

impl Certificates {
    /// Serves `host` with `key` from the next handshake on.
    pub fn insert(&self, host: &str, key: CertifiedKey) {
        self.keys
            .write()
            .expect("not poisoned")
            .insert(host_name(host), Arc::new(key));
    }

    /// Stops serving `host` over HTTPS.
    pub fn remove(&self, host: &str) {
        self.keys
            .write()
            .expect("not poisoned")
            .remove(&host_name(host));
    }

    /// Whether `host` has a certificate.
    pub fn has(&self, host: &str) -> bool {
        self.keys
            .read()
            .expect("not poisoned")
            .contains_key(&host_name(host))
    }

    /// The certificate `host` is served with.
    pub fn get(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.keys
            .read()
            .expect("not poisoned")
            .get(&host_name(host))
            .cloned()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?;
        // A CA checking a TLS-ALPN-01 challenge asks for `acme-tls/1` alone.
        if hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == crate::acme::ACME_TLS_ALPN))
        {
            return self.challenges.alpn(name);
        }
        self.keys
            .read()
            .expect("not poisoned")
            .get(&host_name(name))
            .cloned()
    }
}

/// The TLS settings of the public TLS port: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(certificates: Arc<Certificates>) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the aws-lc-rs provider supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![
        b"h2".to_vec(),
        b"http/1.1".to_vec(),
        crate::acme::ACME_TLS_ALPN.to_vec(),
    ];
    Arc::new(config)
}

/// The directory of the hosts' certificate files: `tls/` beside the routing table.
pub fn directory(state_file: &Path) -> PathBuf {
    state_file.with_file_name("tls")
}

/// Where a host's certificate and key are kept.
pub fn installed_file(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("{}.pem", host_name(host)))
}

/// Where slipway puts a host's new certificate and key before ordering `tls`.
pub fn incoming_file(dir: &Path, host: &str) -> PathBuf {
    dir.join("incoming")
        .join(format!("{}.pem", host_name(host)))
}

/// Reads one PEM file holding a chain and its key, and checks it for `host`.
pub fn load_file(path: &Path, host: &str) -> Result<CertifiedKey, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    certified_key(host, &bytes, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites() -> BTreeMap<String, TlsSite> {
        [
            (
                "shop.example.com".to_owned(),
                TlsSite {
                    hsts: true,
                    https_port: 443,
                    acme: None,
                },
            ),
            (
                "test.example".to_owned(),
                TlsSite {
                    hsts: false,
                    https_port: 8443,
                    acme: None,
                },
            ),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn plain_requests_to_a_tls_host_are_redirected_with_path_and_query() {
        let sites = sites();
        assert_eq!(
            redirect(&sites, Some("shop.example.com"), "/cart?item=3").as_deref(),
            Some("https://shop.example.com/cart?item=3")
        );
        assert_eq!(
            redirect(&sites, Some("SHOP.example.com:8090"), "/").as_deref(),
            Some("https://shop.example.com/")
        );
        assert_eq!(
            redirect(&sites, Some("test.example"), "/a").as_deref(),
            Some("https://test.example:8443/a")
        );
    }

    #[test]
    fn other_hosts_and_acme_challenges_stay_on_plain_http() {
        let sites = sites();
        assert_eq!(redirect(&sites, Some("blog.example.com"), "/"), None);
        assert_eq!(redirect(&sites, None, "/"), None);
        assert_eq!(
            redirect(
                &sites,
                Some("shop.example.com"),
                "/.well-known/acme-challenge/abc"
            ),
            None
        );
    }

    #[test]
    fn hsts_only_where_the_route_asks() {
        let sites = sites();
        assert!(hsts(&sites, Some("shop.example.com:443")));
        assert!(!hsts(&sites, Some("test.example")));
        assert!(!hsts(&sites, Some("other.example")));
        assert!(!hsts(&sites, None));
    }

    #[test]
    fn host_names_lose_their_port_and_case() {
        assert_eq!(host_name("Shop.Example.com:8443"), "shop.example.com");
        assert_eq!(host_name("shop.example.com."), "shop.example.com");
        assert_eq!(host_name("[::1]:8443"), "::1");
    }

    fn pair(host: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_for_the_host_is_accepted() {
        let (cert, key) = pair("shop.example.com");
        assert!(certified_key("shop.example.com", cert.as_bytes(), key.as_bytes()).is_ok());
        // One file with both, as the proxy keeps them.
        let both = format!("{cert}{key}");
        assert!(certified_key("shop.example.com", both.as_bytes(), both.as_bytes()).is_ok());
    }

    #[test]
    fn an_expired_or_future_certificate_is_refused_with_its_date() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["shop.test".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2024, 4, 1);
        let cert = params.self_signed(&key).unwrap().pem();
        let certified =
            certified_key("shop.test", cert.as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        let march_2024 = 1_709_251_200;
        let validity = check_dates(&certified, march_2024).unwrap();
        assert_eq!(validity.not_after, 1_711_929_600);
        let error = check_dates(&certified, 1_711_929_601).err().unwrap();
        assert_eq!(
            error,
            "the certificate expired on 2024-04-01 00:00 UTC: renew it"
        );
        let error = check_dates(&certified, 1_704_067_199).err().unwrap();
        assert_eq!(
            error,
            "the certificate is not valid before 2024-01-01 00:00 UTC"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (cert, _) = pair("shop.example.com");
        let (_, other_key) = pair("shop.example.com");
        let error = certified_key("shop.example.com", cert.as_bytes(), other_key.as_bytes())
            .err()
            .unwrap();
        assert!(
            error.contains("does not belong to the certificate"),
            "{error}"
        );
        assert!(!error.contains("PRIVATE KEY-----\n"), "{error}");
    }

    #[test]
    fn a_certificate_for_another_host_is_refused() {
        let (cert, key) = pair("blog.example.com");
        let error = certified_key("shop.example.com", cert.as_bytes(), key.as_bytes())
            .err()
            .unwrap();
        assert!(error.contains("is not for `shop.example.com`"), "{error}");
    }

    #[test]
    fn text_that_is_not_pem_is_refused_with_what_was_expected() {
        let (cert, key) = pair("shop.example.com");
        let error = certified_key("shop.example.com", b"hello", key.as_bytes())
            .err()
            .unwrap();
        assert!(error.contains("BEGIN CERTIFICATE"), "{error}");
        let error = certified_key("shop.example.com", cert.as_bytes(), b"hello")
            .err()
            .unwrap();
        assert!(error.contains("no PEM private key"), "{error}");
    }
}
