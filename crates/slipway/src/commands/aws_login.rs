//! `credentials = "aws"` registries: ECR's token from the AWS credential chain, fetched when a
//! registry client first needs it and kept in this process until shortly before it expires.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use slipway_oci::credentials::Credential;

static LOGINS: Mutex<BTreeMap<String, (Credential, Option<SystemTime>)>> =
    Mutex::new(BTreeMap::new());

/// Installs the login provider slipway-oci calls for `credentials = "aws"`.
pub fn install() {
    slipway_oci::credentials::set_aws_login(Box::new(login));
}

/// `renew`: the registry refused the kept login; fetch a new one.
fn login(host: &str, renew: bool) -> Result<Credential, String> {
    let fresh = |expires: &Option<SystemTime>| {
        expires.is_none_or(|at| at > SystemTime::now() + Duration::from_secs(60))
    };
    if !renew
        && let Some((credential, expires)) = LOGINS.lock().expect("not poisoned").get(host)
        && fresh(expires)
    {
        return Ok(credential.clone());
    }
    // Registry clients are made inside and outside async code: the login runs on a thread of
    // its own with a runtime of its own, so it never blocks on the caller's runtime.
    let owned = host.to_owned();
    let answer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(slipway_aws::ecr::login(&owned))
            .map_err(|e| format!("ECR login: {e}"))
    })
    .join()
    .map_err(|_| "the ECR login thread panicked".to_owned())??;
    let credential = Credential {
        username: answer.username,
        password: answer.password,
    };
    // An already expired token (some endpoints send one) is used once, not kept.
    if fresh(&answer.expires_at) {
        LOGINS
            .lock()
            .expect("not poisoned")
            .insert(host.to_owned(), (credential.clone(), answer.expires_at));
    }
    Ok(credential)
}
