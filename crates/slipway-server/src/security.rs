//! What keeps the dashboard's logins honest: session and CSRF tokens from the OS random source
//! (a failure to read it refuses the login, never hands out a guessable token), sessions that
//! end, a brake on password guessing per client address and per user name, bounded audit
//! records of failed logins, and the headers every response carries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fills a buffer with unpredictable bytes, or says why it cannot.
pub type Random = Arc<dyn Fn(&mut [u8]) -> Result<(), String> + Send + Sync>;

/// The operating system's random source (getrandom(2) on Linux).
pub fn os_random() -> Random {
    Arc::new(|buffer: &mut [u8]| getrandom::fill(buffer).map_err(|error| error.to_string()))
}

/// A 256-bit token, hex: a session cookie or a CSRF token.
pub(crate) fn token(random: &Random) -> Result<String, String> {
    let mut bytes = [0u8; 32];
    random(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Whether a session begun at `created` and last used at `last_seen` has ended at `now`.
pub(crate) fn session_ended(
    created: Instant,
    last_seen: Instant,
    now: Instant,
    idle: Duration,
    lifetime: Duration,
) -> bool {
    now.saturating_duration_since(last_seen) >= idle
        || now.saturating_duration_since(created) >= lifetime
}

/// Failed logins allowed before a wait is imposed.
const FREE_FAILURES: u32 = 5;
/// The longest wait between guesses.
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten after this long without another.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The most guessers remembered: past it the one quiet longest is forgotten, so guesses from
/// ever new addresses and names cannot grow the server's memory without bound.
const MOST_GUESSERS: usize = 50_000;

/// Who is guessing: the client's address, or the user name guessed at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Guesser {
    Address(IpAddr),
    User(String),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins per client address and per user name, and the wait they impose: after
/// `FREE_FAILURES` failures, each further attempt waits twice as long as the one before (1 s,
/// 2 s, 4 s, ... up to `LONGEST_WAIT`), counted from the last failure. A successful login clears
/// the address and the user.
#[derive(Debug, Default)]
pub(crate) struct LoginBrake {
    failures: HashMap<Guesser, Failures>,
}

impl LoginBrake {
    fn wait_after(count: u32) -> Duration {
        if count < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (count - FREE_FAILURES).min(20);
        Duration::from_secs(1u64 << doublings).min(LONGEST_WAIT)
    }

    /// How long `guessers` must still wait before their next attempt, `None` when they may try.
    pub(crate) fn must_wait(&mut self, guessers: &[Guesser], now: Instant) -> Option<Duration> {
        self.failures
            .retain(|_, f| now.saturating_duration_since(f.last) < FORGET_AFTER);
        guessers
            .iter()
            .filter_map(|g| self.failures.get(g))
            .map(|f| (f.last + Self::wait_after(f.count)).saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    /// Counts a failed attempt of `guessers`.
    pub(crate) fn failed(&mut self, guessers: &[Guesser], now: Instant) {
        for guesser in guessers {
            if self.failures.len() >= MOST_GUESSERS
                && !self.failures.contains_key(guesser)
                && let Some(quietest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(g, _)| g.clone())
            {
                self.failures.remove(&quietest);
            }
            let entry = self.failures.entry(guesser.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    pub(crate) fn succeeded(&mut self, guessers: &[Guesser]) {
        for guesser in guessers {
            self.failures.remove(guesser);
        }
    }
}

/// The longest user name kept from a failed login.
const USER_NAME_KEPT: usize = 64;

/// A submitted user name as the audit keeps it: at most `USER_NAME_KEPT` characters, control
/// characters shown as `?`, and a mark when it was cut.
pub(crate) fn submitted_user(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(USER_NAME_KEPT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(USER_NAME_KEPT).is_some() {
        out.push_str("… (cut)");
    }
    out
}

/// The largest form a browser or script posts (a login, a comment on an approval).
pub(crate) const FORM_LIMIT: usize = 16 * 1024;

/// What pages may load: only this server's own script and style (served from `/static/`), and
/// only its own forms and event streams; no page may be framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response.
pub(crate) async fn headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_a_broken_source_gives_none() {
        let random = os_random();
        let a = token(&random).unwrap();
        let b = token(&random).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(a, "0".repeat(64));
        let broken: Random = Arc::new(|_: &mut [u8]| Err("no entropy".to_owned()));
        assert_eq!(token(&broken), Err("no entropy".to_owned()));
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let start = Instant::now();
        let idle = Duration::from_secs(60);
        let lifetime = Duration::from_secs(600);
        let at = |secs| start + Duration::from_secs(secs);
        assert!(!session_ended(start, start, at(59), idle, lifetime));
        assert!(session_ended(start, start, at(60), idle, lifetime));
        // Busy, but past its lifetime.
        assert!(!session_ended(start, at(590), at(599), idle, lifetime));
        assert!(session_ended(start, at(599), at(600), idle, lifetime));
    }

    #[test]
    fn guessing_waits_longer_each_time_and_a_success_clears_it() {
        let mut brake = LoginBrake::default();
        let start = Instant::now();
        let from = Guesser::Address("127.0.0.1".parse().unwrap());
        let ada = Guesser::User("ada".into());
        let both = [from.clone(), ada.clone()];
        for _ in 0..FREE_FAILURES {
            assert_eq!(brake.must_wait(&both, start), None);
            brake.failed(&both, start);
        }
        assert_eq!(brake.must_wait(&both, start), Some(Duration::from_secs(1)));
        let later = start + Duration::from_secs(1);
        assert_eq!(brake.must_wait(&both, later), None);
        brake.failed(&both, later);
        assert_eq!(brake.must_wait(&both, later), Some(Duration::from_secs(2)));
        // Guesses at the same user from another address wait too; another user from another
        // address does not.
        let other = Guesser::Address("127.0.0.2".parse().unwrap());
        assert_eq!(
            brake.must_wait(&[other.clone(), ada.clone()], later),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            brake.must_wait(&[other.clone(), Guesser::User("bob".into())], later),
            None
        );
        // Many failures wait at most the longest wait.
        for _ in 0..40 {
            brake.failed(&both, later);
        }
        assert_eq!(brake.must_wait(&both, later), Some(LONGEST_WAIT));
        brake.succeeded(&both);
        assert_eq!(brake.must_wait(&both, later), None);
        // Failures an hour old are forgotten.
        brake.failed(std::slice::from_ref(&other), later);
        assert!(brake.failures.contains_key(&other));
        brake.must_wait(&[], later + FORGET_AFTER);
        assert!(!brake.failures.contains_key(&other));
    }

    #[test]
    fn the_brake_remembers_a_bounded_number_of_guessers() {
        let mut brake = LoginBrake::default();
        let start = Instant::now();
        for n in 0..MOST_GUESSERS + 10 {
            let at = start + Duration::from_millis(n as u64);
            brake.failed(&[Guesser::User(format!("user{n}"))], at);
        }
        assert_eq!(brake.failures.len(), MOST_GUESSERS);
        assert!(!brake.failures.contains_key(&Guesser::User("user0".into())));
        assert!(
            brake
                .failures
                .contains_key(&Guesser::User(format!("user{}", MOST_GUESSERS + 9)))
        );
    }

    #[test]
    fn a_submitted_user_name_is_kept_short_and_printable() {
        assert_eq!(submitted_user("ada"), "ada");
        assert_eq!(submitted_user("a\u{1b}[2Jb\n"), "a?[2Jb?");
        let long = "x".repeat(2 * 1024 * 1024);
        let kept = submitted_user(&long);
        assert_eq!(kept, format!("{}… (cut)", "x".repeat(USER_NAME_KEPT)));
    }
}
