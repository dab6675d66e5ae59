//! Certificates from an ACME directory (RFC 8555; Let's Encrypt by default) for the hosts whose
//! route says `tls = "acme"`. Each proxy obtains its own: it answers the CA's HTTP-01 challenge
//! on its plain port (`/.well-known/acme-challenge/TOKEN`) or its TLS-ALPN-01 challenge
//! (RFC 8737) on its TLS port, keeps the account key and each certificate as 0600 files of its
//! state, and renews a certificate when a third of its lifetime is left, backing off after a
//! failure. A failed order never replaces a certificate that still serves.
//!
//! The decisions (when to renew, how long to back off, what an error means to a person) are
//! pure functions here; the exchange itself is `instant-acme` over rustls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

/// Let's Encrypt's production directory, used when an environment names none.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// The ALPN protocol of TLS-ALPN-01 validation handshakes (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// Longest wait between two looks at the certificates, so a clock jump is noticed.
const LONGEST_NAP: Duration = Duration::from_secs(3600);

/// Where and how a host's certificate is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeSpec {
    /// The directory URL.
    pub directory: String,
    /// The account's contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// How the CA checks that this proxy answers for the host.
    #[serde(default)]
    pub challenge: Challenge,
    /// The root certificate (PEM) the directory's own HTTPS is signed by, for a private CA;
    /// `None` trusts the host's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// The challenge the proxy answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Challenge {
    /// A file under `/.well-known/acme-challenge/` on the plain port (port 80).
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A special certificate on the TLS port (port 443).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl Challenge {
    /// The name slipway.toml and the CA use.
    pub fn name(self) -> &'static str {
        match self {
            Challenge::Http01 => "http-01",
            Challenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// What the proxy knows of one ACME host's certificate, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeStatus {
    /// When the certificate served now expires, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
    /// When the proxy next orders one, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<i64>,
    /// Why the last order failed, while it has not succeeded since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Orders failed in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// When a certificate valid from `not_before` to `not_after` is renewed: once a third of its
/// lifetime is left (30 days of Let's Encrypt's 90), so a few failed attempts still leave weeks.
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    not_after - (not_after - not_before).max(0) / 3
}

/// How long to wait after `failures` orders failed in a row: a minute, doubling, at most six
/// hours (Let's Encrypt allows 5 failed validations per host and hour).
pub fn retry_delay(failures: u32) -> i64 {
    let doubled = 60_i64.saturating_mul(1_i64 << failures.saturating_sub(1).min(20));
    doubled.min(6 * 3600)
}

/// When to next order a certificate for a host: now when it has none, at its renewal time
/// otherwise, and never before the back-off of a failure has passed.
pub fn next_attempt(validity: Option<crate::x509::Validity>, status: &AcmeStatus, now: i64) -> i64 {
    let due = validity.map_or(now, |v| renew_at(v.not_before, v.not_after));
    match status.next_attempt {
        Some(retry) if status.failures > 0 => due.max(retry),
        _ => due,
    }
}

/// How long the renewal loop may sleep before `next` (Unix seconds) comes.
pub fn nap(next: Option<i64>, now: i64) -> Duration {
    match next {
        Some(next) if next <= now => Duration::ZERO,
        Some(next) => Duration::from_secs((next - now) as u64).min(LONGEST_NAP),
        None => LONGEST_NAP,
    }
}

/// The challenges being answered right now: HTTP-01 tokens and TLS-ALPN-01 certificates.
#[derive(Debug, Default)]
pub struct Responses {
    http: RwLock<HashMap<String, String>>,
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Responses {
    /// The key authorization to answer `GET /.well-known/acme-challenge/TOKEN` with.
    pub fn http(&self, token: &str) -> Option<String> {
        self.http.read().expect("not poisoned").get(token).cloned()
    }

    /// The validation certificate of a TLS-ALPN-01 handshake for `host`.
    pub fn alpn(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        self.alpn
            .read()
            .expect("not poisoned")
            .get(&crate::tls::host_name(host))
            .cloned()
    }
}

/// A certificate chain and its new key, in PEM, just issued.
pub struct Issued {
    /// The chain, leaf first, then the key.
    pub pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Issued { .. }")
    }
}

/// Where an account's key and URL are kept: one file per directory and contact.
pub fn account_file(acme_dir: &Path, spec: &AcmeSpec) -> PathBuf {
    let name = format!("{}|{}", spec.directory, spec.email.as_deref().unwrap_or(""));
    acme_dir.join(format!("account-{:016x}.json", fnv1a(name.as_bytes())))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Signs in to the directory with the account kept in `acme_dir`, or registers one there
/// (0600). The error says why in words: the directory does not answer, or what it refused.
pub async fn account(acme_dir: &Path, spec: &AcmeSpec) -> Result<Account, String> {
    let builder = match &spec.ca {
        Some(pem) => {
            let path = acme_dir.join(format!("ca-{:016x}.pem", fnv1a(pem.as_bytes())));
            write_private(&path, pem.as_bytes())?;
            Account::builder_with_root(&path)
        }
        None => Account::builder(),
    }
    .map_err(|e| format!("the trusted roots for {}: {}", spec.directory, describe(&e)))?;
    let unreachable = |e: instant_acme::Error| match e {
        instant_acme::Error::Api(problem) => {
            format!(
                "the ACME directory {} refused: {}",
                spec.directory,
                problem_text(&problem)
            )
        }
        other => format!(
            "the ACME directory {} does not answer: {}",
            spec.directory,
            describe(&other)
        ),
    };
    let file = account_file(acme_dir, spec);
    if let Ok(bytes) = std::fs::read(&file)
        && let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&bytes)
    {
        return builder
            .from_credentials(credentials)
            .await
            .map_err(unreachable);
    }
    let contact = spec.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            spec.directory.clone(),
            None,
        )
        .await
        .map_err(unreachable)?;
    let json = serde_json::to_vec(&credentials).expect("credentials serialize");
    write_private(&file, &json)?;
    Ok(account)
}

/// Orders a certificate for `host`, answering its challenge through `responses` while the CA
/// checks, and returns it with its new key. Nothing is installed here.
pub async fn obtain(
    acme_dir: &Path,
    spec: &AcmeSpec,
    host: &str,
    responses: &Responses,
) -> Result<Issued, String> {
    let identifiers = [Identifier::Dns(host.to_owned())];
    let mut order = match account(acme_dir, spec)
        .await?
        .new_order(&NewOrder::new(&identifiers))
        .await
    {
        // The CA forgot the account (deactivated, or a test CA restarted): register again.
        Err(instant_acme::Error::Api(problem)) if account_is_gone(&problem) => {
            let _ = std::fs::remove_file(account_file(acme_dir, spec));
            account(acme_dir, spec)
                .await?
                .new_order(&NewOrder::new(&identifiers))
                .await
        }
        other => other,
    }
    .map_err(|e| format!("the order for {host}: {}", describe(&e)))?;
    let mut answered: Vec<Answered> = Vec::new();
    let outcome = async {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization
                .map_err(|e| format!("the authorization for {host}: {}", describe(&e)))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(format!(
                        "the CA's authorization for {host} is {}",
                        format!("{other:?}").to_ascii_lowercase()
                    ));
                }
            }
            let kind = match spec.challenge {
                Challenge::Http01 => ChallengeType::Http01,
                Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            };
            let mut challenge = authorization.challenge(kind).ok_or_else(|| {
                format!(
                    "the CA offers no {} challenge for {host}; set proxy.acme.challenge to another",
                    spec.challenge.name()
                )
            })?;
            let key_authorization = challenge.key_authorization();
            match spec.challenge {
                Challenge::Http01 => {
                    let token = challenge.token.clone();
                    responses
                        .http
                        .write()
                        .expect("not poisoned")
                        .insert(token.clone(), key_authorization.as_str().to_owned());
                    answered.push(Answered::Http(token));
                }
                Challenge::TlsAlpn01 => {
                    let key = validation_certificate(host, key_authorization.digest().as_ref())?;
                    responses
                        .alpn
                        .write()
                        .expect("not poisoned")
                        .insert(crate::tls::host_name(host), Arc::new(key));
                    answered.push(Answered::Alpn(crate::tls::host_name(host)));
                }
            }
            challenge.set_ready().await.map_err(|e| {
                format!(
                    "the {} challenge for {host}: {}",
                    spec.challenge.name(),
                    describe(&e)
                )
            })?;
        }
        let patience = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_secs(90));
        let status = order
            .poll_ready(&patience)
            .await
            .map_err(|e| format!("waiting for the CA to check {host}: {}", describe(&e)))?;
        if status != OrderStatus::Ready {
            return Err(why_invalid(&mut order, host, spec.challenge).await);
        }
        let key_pem = order
            .finalize()
            .await
            .map_err(|e| format!("finalizing the order for {host}: {}", describe(&e)))?;
        let chain_pem = order
            .poll_certificate(&patience)
            .await
            .map_err(|e| format!("downloading the certificate for {host}: {}", describe(&e)))?;
        Ok(Issued {
            pem: format!("{}\n{}\n", chain_pem.trim_end(), key_pem.trim_end()),
        })
    }
    .await;
    for answer in answered {
        match answer {
            Answered::Http(token) => {
                responses.http.write().expect("not poisoned").remove(&token);
            }
            Answered::Alpn(name) => {
                responses.alpn.write().expect("not poisoned").remove(&name);
            }
        }
    }
    outcome
}

enum Answered {
    Http(String),
    Alpn(String),
}

fn account_is_gone(problem: &instant_acme::Problem) -> bool {
    problem
        .r#type
        .as_deref()
        .is_some_and(|t| t.ends_with(":accountDoesNotExist") || t.ends_with(":unauthorized"))
}

/// The CA's reason an order became invalid: the failed challenge's problem.
async fn why_invalid(order: &mut instant_acme::Order, host: &str, challenge: Challenge) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for attempt in &authorization.challenges {
            if let Some(problem) = &attempt.error {
                return format!(
                    "the CA refused {host}: {} (the {} challenge)",
                    problem_text(problem),
                    challenge.name()
                );
            }
        }
    }
    format!(
        "the CA refused {host} without saying why (the {} challenge)",
        challenge.name()
    )
}

/// The self-signed certificate a TLS-ALPN-01 validation handshake is answered with: the host's
/// name and the critical `acmeIdentifier` extension holding the key authorization's digest.
fn validation_certificate(host: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    let failed = |e: rcgen::Error| format!("making the tls-alpn-01 certificate for {host}: {e}");
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).map_err(failed)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(failed)?;
    let der: CertificateDer<'static> = cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `from_der`: its consistency check parses the certificate, and refuses the critical
    // extension only ACME validators know.
    let signing_key = crate::tls::provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("making the tls-alpn-01 certificate for {host}: {e}"))?;
    Ok(CertifiedKey::new(vec![der], signing_key))
}

/// An ACME problem document in a sentence: its detail and its short type.
pub fn problem_text(problem: &instant_acme::Problem) -> String {
    let kind = problem
        .r#type
        .as_deref()
        .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"));
    let mut text = match (&problem.detail, kind) {
        (Some(detail), Some(kind)) => format!("{detail} ({kind})"),
        (Some(detail), None) => detail.clone(),
        (None, Some(kind)) => kind.to_owned(),
        (None, None) => "no reason given".to_owned(),
    };
    for sub in &problem.subproblems {
        if let Some(detail) = &sub.detail {
            text.push_str("; ");
            text.push_str(detail);
        }
    }
    text
}

/// An error and its causes in one line, each said once.
fn describe(error: &instant_acme::Error) -> String {
    if let instant_acme::Error::Api(problem) = error {
        return problem_text(problem);
    }
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    slipway_core::files::write_atomic_with(path, 0o600, |file| {
        std::io::Write::write_all(file, bytes)
    })
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// Keeps a newly issued certificate as the host's file (0600) and returns it checked.
pub fn keep(tls_dir: &Path, host: &str, issued: &Issued) -> Result<CertifiedKey, String> {
    let key = crate::tls::certified_key(host, issued.pem.as_bytes(), issued.pem.as_bytes())
        .map_err(|e| format!("the CA's certificate for {host}: {e}"))?;
    write_private(
        &crate::tls::installed_file(tls_dir, host),
        issued.pem.as_bytes(),
    )?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::Validity;

    const DAY: i64 = 86_400;

    #[test]
    fn a_certificate_is_renewed_when_a_third_of_its_life_is_left() {
        // Let's Encrypt's 90 days: renewed 30 days before it expires.
        assert_eq!(renew_at(0, 90 * DAY), 60 * DAY);
        // A short-lived one (a test CA's minute) at its 40th second.
        assert_eq!(renew_at(1_000, 1_060), 1_040);
    }

    #[test]
    fn a_host_without_certificate_is_ordered_at_once_and_a_failure_backs_off() {
        let fresh = AcmeStatus::default();
        assert_eq!(next_attempt(None, &fresh, 500), 500);
        let valid = Validity {
            not_before: 0,
            not_after: 90 * DAY,
        };
        assert_eq!(next_attempt(Some(valid), &fresh, 500), 60 * DAY);
        let failed = AcmeStatus {
            failures: 2,
            next_attempt: Some(61 * DAY),
            ..Default::default()
        };
        assert_eq!(next_attempt(Some(valid), &failed, 60 * DAY), 61 * DAY);
        // A back-off that ended before renewal is due does not bring renewal forward.
        let old_failure = AcmeStatus {
            failures: 1,
            next_attempt: Some(10),
            ..Default::default()
        };
        assert_eq!(next_attempt(Some(valid), &old_failure, 500), 60 * DAY);
    }

    #[test]
    fn back_off_doubles_from_a_minute_up_to_six_hours() {
        assert_eq!(retry_delay(1), 60);
        assert_eq!(retry_delay(2), 120);
        assert_eq!(retry_delay(5), 960);
        assert_eq!(retry_delay(12), 6 * 3600);
        assert_eq!(retry_delay(u32::MAX), 6 * 3600);
    }

    #[test]
    fn the_loop_sleeps_until_the_next_attempt_but_never_longer_than_an_hour() {
        assert_eq!(nap(Some(90), 100), Duration::ZERO);
        assert_eq!(nap(Some(130), 100), Duration::from_secs(30));
        assert_eq!(nap(Some(100 + 90 * DAY), 100), LONGEST_NAP);
        assert_eq!(nap(None, 100), LONGEST_NAP);
    }

    #[test]
    fn accounts_are_kept_per_directory_and_contact() {
        let dir = Path::new("/state/tls/acme");
        let spec = |directory: &str, email: Option<&str>| AcmeSpec {
            directory: directory.to_owned(),
            email: email.map(str::to_owned),
            challenge: Challenge::Http01,
            ca: None,
        };
        let a = account_file(dir, &spec(LETS_ENCRYPT, Some("ops@example.com")));
        assert_eq!(
            a,
            account_file(dir, &spec(LETS_ENCRYPT, Some("ops@example.com")))
        );
        assert_ne!(a, account_file(dir, &spec(LETS_ENCRYPT, None)));
        assert_ne!(
            a,
            account_file(
                dir,
                &spec("https://ca.internal/dir", Some("ops@example.com"))
            )
        );
        assert!(a.starts_with(dir));
    }

    #[tokio::test]
    async fn a_directory_that_does_not_answer_is_said_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let spec = AcmeSpec {
            directory: format!("https://127.0.0.1:{port}/dir"),
            email: None,
            challenge: Challenge::Http01,
            ca: Some(
                rcgen::CertificateParams::new(Vec::new())
                    .unwrap()
                    .self_signed(&rcgen::KeyPair::generate().unwrap())
                    .unwrap()
                    .pem(),
            ),
        };
        let error = account(dir.path(), &spec).await.err().unwrap();
        assert!(
            error.starts_with(&format!(
                "the ACME directory https://127.0.0.1:{port}/dir does not answer: "
            )),
            "{error}"
        );
        assert!(
            error.to_lowercase().contains("connection refused"),
            "{error}"
        );
        assert!(
            !error.contains("Error {") && !error.contains("Kind("),
            "{error}"
        );
        assert!(!account_file(dir.path(), &spec).exists());
    }

    #[test]
    fn a_problem_reads_as_its_detail_and_short_type() {
        let problem: instant_acme::Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "Order included a blocked identifier",
            "status": 400,
        }))
        .unwrap();
        assert_eq!(
            problem_text(&problem),
            "Order included a blocked identifier (rejectedIdentifier)"
        );
    }

    #[test]
    fn the_validation_certificate_names_the_host_and_carries_the_digest() {
        let digest = [7u8; 32];
        let key = validation_certificate("shop.test", &digest).unwrap();
        let der = key.end_entity_cert().unwrap();
        // The acmeIdentifier OID 1.3.6.1.5.5.7.1.31 and an OCTET STRING of the digest.
        let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        assert!(der.windows(oid.len()).any(|w| w == oid));
        let mut octets = vec![0x04, 0x20];
        octets.extend_from_slice(&digest);
        assert!(der.windows(octets.len()).any(|w| w == octets.as_slice()));
        // The host as its one DNS name (context tag 2).
        let mut name = vec![0x82, 9];
        name.extend_from_slice(b"shop.test");
        assert!(der.windows(name.len()).any(|w| w == name.as_slice()));
        // Critical: the extension's BOOLEAN TRUE right after its OID.
        let mut critical = oid.to_vec();
        critical.extend_from_slice(&[0x01, 0x01, 0xff]);
        assert!(
            der.windows(critical.len())
                .any(|w| w == critical.as_slice())
        );
    }
}
