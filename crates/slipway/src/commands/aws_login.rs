//! `credentials = "aws"` registries: ECR's token from the AWS credential chain, fetched when a
//! registry client first needs it and kept in this process until shortly before it expires.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use slipway_oci::credentials::Credential;

static LOGINS: Mutex<BTreeMap<String, (Credential, Option<SystemTime>)>> =
    Mutex::new(BTreeMap::new());

/// Images an ECR repository created by a push keeps (its lifecycle policy).
const KEEP_IMAGES: u32 = 30;

/// Installs what slipway-oci calls for `credentials = "aws"`: the login, and repository creation
/// for `create_repositories = true`.
pub fn install() {
    slipway_oci::credentials::set_aws_login(Box::new(login));
    slipway_oci::credentials::set_aws_repository_creator(Box::new(|host, repository| {
        let (host, repository) = (host.to_owned(), repository.to_owned());
        on_own_runtime(move || async move {
            slipway_aws::ecr::ensure_repository(&host, &repository, KEEP_IMAGES)
                .await
                .map(|_| ())
                .map_err(|e| format!("creating the ECR repository `{repository}`: {e}"))
        })
    }));
}

/// Runs an AWS call on a thread and runtime of its own: registry code calls these from inside
/// and outside async code, and must never block on the caller's runtime.
fn on_own_runtime<T, F, Fut>(work: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(work())
    })
    .join()
    .map_err(|_| "an AWS call's thread panicked".to_owned())?
}

/// `renew`: the registry refused the kept login; fetch a new one.
fn login(host: &str, renew: bool) -> Result<Credential, String> {
    let fresh = |expires: &Option<SystemTime>| {
        let soon = SystemTime::UNIX_EPOCH + Duration::from_secs(slipway_core::time::now() + 60);
        expires.is_none_or(|at| at > soon)
    };
    if !renew
        && let Some((credential, expires)) = LOGINS.lock().expect("not poisoned").get(host)
        && fresh(expires)
    {
        return Ok(credential.clone());
    }
    let owned = host.to_owned();
    let answer = on_own_runtime(move || async move {
        slipway_aws::ecr::login(&owned)
            .await
            .map_err(|e| format!("ECR login: {e}"))
    })?;
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
