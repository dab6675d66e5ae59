//! Where a notification goes, behind one trait: a [`Channel`] makes one attempt to hand an
//! [`Event`] over. The real adapters are [`crate::webhook::Webhook`] (Slack, Teams and the
//! generic JSON webhook, which differ only in the body they post) and [`crate::email::Email`]
//! (SMTP with STARTTLS); [`crate::double::Recording`] is the recording double unit tests use.
//!
//! The sending logic is here and knows no adapter: [`send_to`] tries each channel up to
//! [`Retry::attempts`] times while the failure says another try may help, reports every
//! channel's outcome in order, never fails the work it reports on, and keeps each channel's
//! secrets (a webhook URL, which carries its token; an SMTP password) out of the report.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::{Delivery, Event};

/// Why one attempt failed, and whether another attempt may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, for the person reading the report.
    pub message: String,
    /// True for a fault that may pass (a 5xx or 429 answer, a lost connection, an SMTP 4xx);
    /// false for one that will not (a 4xx answer, an SMTP 5xx).
    pub retry: bool,
}

impl Failure {
    /// A failure another attempt may get past.
    pub fn transient(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retry: true,
        }
    }

    /// A failure no further attempt changes.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retry: false,
        }
    }
}

/// What one attempt of [`Channel::send`] comes to.
pub type Attempt<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// One destination of notifications, opened from a `[notifications.NAME]` table (or a double).
pub trait Channel: Send + Sync {
    /// Makes one attempt to deliver `event`; retrying is the caller's.
    fn send<'a>(&'a self, event: &'a Event) -> Attempt<'a>;

    /// Text that must never appear in a report: the webhook URL (its path is its token), the
    /// SMTP password. A failure message that carries one has it replaced by `[redacted]`.
    fn secrets(&self) -> Vec<String>;
}

/// How often, and how patiently, a failing channel is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per channel, the first included.
    pub attempts: u32,
    /// The pause after the first failed attempt; each later pause doubles it.
    pub first_pause: Duration,
}

impl Default for Retry {
    /// Three attempts, 400 ms then 800 ms apart: a receiver that is restarting gets a moment,
    /// and the work being reported on waits at most about a second for it.
    fn default() -> Retry {
        Retry {
            attempts: 3,
            first_pause: Duration::from_millis(400),
        }
    }
}

/// A channel by its name in slipway.toml, or why it could not be opened (a missing `url`, an
/// unset variable, an address that does not parse): such a channel is reported with 0 attempts.
pub type Opened = (String, Result<Box<dyn Channel>, String>);

/// Sends `event` to each channel in turn (the report keeps their order) and says how each went.
/// It never fails: a channel that cannot be reached is a [`Delivery`] with an `error`.
pub async fn send_to(channels: Vec<Opened>, event: &Event, retry: Retry) -> Vec<Delivery> {
    let mut out = Vec::new();
    for (name, channel) in channels {
        let delivery = match channel {
            Ok(channel) => deliver(name, channel.as_ref(), event, retry).await,
            Err(error) => Delivery {
                channel: name,
                attempts: 0,
                error: Some(error),
            },
        };
        out.push(delivery);
    }
    out
}

async fn deliver(name: String, channel: &dyn Channel, event: &Event, retry: Retry) -> Delivery {
    let attempts = retry.attempts.max(1);
    let mut pause = retry.first_pause;
    let mut attempt = 0;
    let error = loop {
        attempt += 1;
        match channel.send(event).await {
            Ok(()) => break None,
            Err(failure) if !failure.retry || attempt == attempts => {
                break Some(redact(failure.message, &channel.secrets()));
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2);
    };
    Delivery {
        channel: name,
        attempts: attempt,
        error,
    }
}

/// `message` with every non-empty secret replaced, longest first (a URL before its own token).
fn redact(mut message: String, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        message = message.replace(secret.as_str(), "[redacted]");
    }
    message
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use slipway_core::manifest::EventKind;

    use super::*;
    use crate::double::Recording;

    fn deployed() -> Event {
        Event {
            kind: EventKind::Deployed,
            title: "shop: release r7 of prod is live".into(),
            facts: vec![("release".into(), "r7".into())],
            project: "shop".into(),
            environment: Some("prod".into()),
            at: "2026-11-26T08:00:00Z".into(),
        }
    }

    const NO_PAUSE: Retry = Retry {
        attempts: 3,
        first_pause: Duration::ZERO,
    };

    fn opened(name: &str, channel: &Recording) -> Opened {
        (name.to_owned(), Ok(Box::new(channel.clone())))
    }

    #[tokio::test]
    async fn a_channel_that_takes_the_event_is_sent_it_once() {
        let team = Recording::answering([]);
        let report = send_to(vec![opened("team", &team)], &deployed(), NO_PAUSE).await;
        assert_eq!(
            report,
            vec![Delivery {
                channel: "team".into(),
                attempts: 1,
                error: None
            }]
        );
        let sent = team.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].title, "shop: release r7 of prod is live");
    }

    #[tokio::test]
    async fn a_passing_fault_is_tried_again_until_it_goes_through() {
        let flaky = Recording::answering([
            Err(Failure::transient("the receiver answered 503")),
            Err(Failure::transient("connection reset")),
        ]);
        let report = send_to(vec![opened("flaky", &flaky)], &deployed(), NO_PAUSE).await;
        assert_eq!(report[0].attempts, 3);
        assert_eq!(report[0].error, None);
        assert_eq!(flaky.sent().len(), 3);
    }

    #[tokio::test]
    async fn a_fault_that_keeps_up_is_reported_with_the_last_reason_after_every_attempt() {
        let down = Recording::answering([
            Err(Failure::transient("the receiver answered 503")),
            Err(Failure::transient("the receiver answered 502")),
            Err(Failure::transient("the receiver answered 500")),
            Err(Failure::transient("never reached")),
        ]);
        let report = send_to(vec![opened("down", &down)], &deployed(), NO_PAUSE).await;
        assert_eq!(report[0].attempts, 3);
        assert_eq!(
            report[0].error.as_deref(),
            Some("the receiver answered 500")
        );
        assert_eq!(down.sent().len(), 3, "no attempt beyond the third");
    }

    #[tokio::test]
    async fn a_refusal_is_not_tried_again() {
        let refusing = Recording::answering([Err(Failure::permanent(
            "the receiver answered 404 Not Found",
        ))]);
        let report = send_to(vec![opened("gone", &refusing)], &deployed(), NO_PAUSE).await;
        assert_eq!(report[0].attempts, 1);
        assert_eq!(
            report[0].error.as_deref(),
            Some("the receiver answered 404 Not Found")
        );
        assert_eq!(refusing.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_channel_does_not_stop_the_others_and_the_report_keeps_their_order() {
        let (first, second) = (
            Recording::answering([Err(Failure::permanent("refused"))]),
            Recording::answering([]),
        );
        let report = send_to(
            vec![
                ("broken".into(), Err("the channel has no `url`".into())),
                opened("first", &first),
                opened("second", &second),
            ],
            &deployed(),
            NO_PAUSE,
        )
        .await;
        let names: Vec<&str> = report.iter().map(|d| d.channel.as_str()).collect();
        assert_eq!(names, ["broken", "first", "second"]);
        // A channel that could not be opened is never tried: 0 attempts, its reason.
        assert_eq!(report[0].attempts, 0);
        assert_eq!(report[0].error.as_deref(), Some("the channel has no `url`"));
        assert!(report[1].error.is_some());
        assert_eq!(report[2].error, None);
        assert_eq!(second.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_secret_a_failure_echoes_never_reaches_the_report() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX";
        let leaky = Recording::answering([Err(Failure::permanent(format!(
            "error sending request for url ({url}): connection refused; token XXXXsecretXXXX"
        )))])
        .with_secrets([url, "XXXXsecretXXXX", ""]);
        let report = send_to(vec![opened("team", &leaky)], &deployed(), NO_PAUSE).await;
        let error = report[0].error.as_deref().unwrap();
        assert!(!error.contains("XXXXsecretXXXX"), "{error}");
        assert!(!error.contains("hooks.slack.com/services"), "{error}");
        assert_eq!(
            error,
            "error sending request for url ([redacted]): connection refused; token [redacted]"
        );
    }
}
