//! Tells people what happened: events (a base image published, a release deployed or rolled
//! back) go to the channels of slipway.toml's `[notifications]` that take them. Slack incoming
//! webhooks, Microsoft Teams workflow webhooks (an Adaptive Card), a generic JSON webhook and
//! email over SMTP with STARTTLS.
//! A channel that fails is retried, then reported; it never fails what it reports on. Webhook
//! URLs carry their secret, so they never appear in a report.
//!
//! Each channel is a [`channel::Channel`]: the real adapters ([`webhook::Webhook`],
//! [`email::Email`]) and a recording double ([`double::Recording`]) for unit tests; the sending
//! logic of [`channel::send_to`] (retries, the report) knows none of them.

#![warn(missing_docs)]

pub mod channel;
pub mod double;
pub mod email;
pub mod events;
pub mod webhook;

use std::time::Duration;

use serde_json::{Value, json};
use slipway_core::Manifest;
use slipway_core::manifest::{EventKind, Notification, NotificationKind};

/// Something that happened.
#[derive(Debug, Clone)]
pub struct Event {
    /// Which kind of event this is; channels subscribe to kinds through their `events` list.
    pub kind: EventKind,
    /// One line, e.g. "shop: release r7 of prod is live".
    pub title: String,
    /// Name → value lines shown under the title, in order.
    pub facts: Vec<(String, String)>,
    /// The project's name from slipway.toml.
    pub project: String,
    /// The environment it concerns (a deploy, a rollback, an approval to deploy there); `None`
    /// for a base published or a run's outcome.
    pub environment: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// What happened to one channel's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The channel's name in slipway.toml (`[notifications.NAME]`).
    pub channel: String,
    /// Attempts made; 0 when the channel could not be opened (a missing `url`, an unset
    /// variable, an address that does not parse) and so was skipped.
    pub attempts: u32,
    /// `None` when delivered.
    pub error: Option<String>,
}

/// The kebab-case name of an event kind, as slipway.toml's `events` lists and the JSON
/// webhook's `event` field spell it.
pub fn event_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::BasePublished => "base-published",
        EventKind::RunSucceeded => "run-succeeded",
        EventKind::RunFailed => "run-failed",
        EventKind::ApprovalWaiting => "approval-waiting",
        EventKind::PullRequestOpened => "pull-request-opened",
        EventKind::Deployed => "deployed",
        EventKind::RolledBack => "rolled-back",
        EventKind::JobFailed => "job-failed",
    }
}

/// The channels that take `event`: those whose `events` list it (or that list none), and of
/// those only the ones in `only` when it is given (a base's `notify`).
pub fn channels_for<'m>(
    manifest: &'m Manifest,
    event: EventKind,
    only: Option<&[String]>,
) -> Vec<(&'m String, &'m Notification)> {
    manifest
        .notifications
        .iter()
        .filter(|(_, channel)| channel.events.is_empty() || channel.events.contains(&event))
        .filter(|(name, _)| only.is_none_or(|names| names.contains(name)))
        .collect()
}

/// The JSON body a channel of `kind` is sent.
pub fn payload(kind: NotificationKind, event: &Event) -> Value {
    match kind {
        NotificationKind::Slack => {
            let mut text = format!("*{}*", event.title);
            for (name, value) in &event.facts {
                text.push_str(&format!("\n{name}: {value}"));
            }
            json!({ "text": text })
        }
        NotificationKind::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        { "type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": event.title, "wrap": true },
                        { "type": "FactSet", "facts": event.facts.iter().map(|(name, value)| json!({ "title": name, "value": value })).collect::<Vec<_>>() }
                    ]
                }
            }]
        }),
        NotificationKind::Webhook | NotificationKind::Email => json!({
            "event": event_name(event.kind),
            "project": event.project,
            "environment": event.environment,
            "title": event.title,
            "facts": event.facts.iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect::<serde_json::Map<_, _>>(),
            "at": event.at,
        }),
    }
}

/// `url`, or the variable `env:VAR` names.
pub(crate) fn resolve(url: &str) -> Result<String, String> {
    match url.strip_prefix("env:") {
        Some(var) => std::env::var(var)
            .map_err(|_| format!("the environment variable {var} (its webhook URL) is not set")),
        None => Ok(url.to_owned()),
    }
}

/// Sends `event` to each channel that takes it, one after the other; every channel's outcome.
pub async fn send(manifest: &Manifest, event: &Event, only: Option<&[String]>) -> Vec<Delivery> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| {
            // reqwest's own text ("builder error") does not say what is missing.
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            format!("cannot make an HTTPS client ({message}); is a certificate store (ca-certificates) installed?")
        });
    let channels = channels_for(manifest, event.kind, only)
        .into_iter()
        .map(|(name, channel)| (name.clone(), open(client.as_ref(), channel)))
        .collect();
    channel::send_to(channels, event, channel::Retry::default()).await
}

/// The real adapter of `channel`, or why it cannot be used.
fn open(
    client: Result<&reqwest::Client, &String>,
    channel: &Notification,
) -> Result<Box<dyn channel::Channel>, String> {
    if channel.kind == NotificationKind::Email {
        return Ok(Box::new(email::Email::open(channel)?));
    }
    let url = match channel.url.as_deref().map(resolve) {
        Some(url) => url?,
        None => return Err("the channel has no `url`".into()),
    };
    Ok(Box::new(webhook::Webhook::new(
        client.cloned().map_err(Clone::clone)?,
        url,
        channel.kind,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed() -> Event {
        Event {
            kind: EventKind::Deployed,
            title: "shop: release r7 of prod is live".into(),
            facts: vec![
                ("release".into(), "r7".into()),
                ("by".into(), "ada@laptop".into()),
            ],
            project: "shop".into(),
            environment: Some("prod".into()),
            at: "2026-11-26T08:00:00Z".into(),
        }
    }

    #[test]
    fn each_kind_gets_its_own_shape() {
        let slack = payload(NotificationKind::Slack, &deployed());
        assert_eq!(
            slack["text"],
            "*shop: release r7 of prod is live*\nrelease: r7\nby: ada@laptop"
        );
        let teams = payload(NotificationKind::Teams, &deployed());
        let card = &teams["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][1]["facts"][0]["title"], "release");
        let hook = payload(NotificationKind::Webhook, &deployed());
        assert_eq!(hook["event"], "deployed");
        assert_eq!(hook["facts"]["by"], "ada@laptop");
    }

    fn manifest(notifications: &str) -> Manifest {
        let text = format!("schema = 1\n[project]\nname = \"shop\"\n{notifications}");
        slipway_core::manifest::load_manifest(&text).unwrap()
    }

    #[tokio::test]
    async fn a_channel_that_cannot_be_opened_is_skipped_with_its_reason_and_sends_nothing() {
        let manifest = manifest(
            r#"
[notifications.team]
kind = "slack"
url = "env:SLIPWAY_NOTIFY_TEST_UNSET_URL"

[notifications.ops]
kind = "email"
smtp = "mail.internal:587"
to = ["ops@example.com"]
username = "slipway"
password = "env:SLIPWAY_NOTIFY_TEST_UNSET_PASSWORD"

[notifications.audit]
kind = "webhook"
url = "env:SLIPWAY_NOTIFY_TEST_UNSET_URL"
events = ["rolled-back"]
"#,
        );
        let report = send(&manifest, &deployed(), None).await;
        // `audit` does not take deployments; the others are reported in slipway.toml's order.
        assert_eq!(
            report,
            vec![
                Delivery {
                    channel: "team".into(),
                    attempts: 0,
                    error: Some(
                        "the environment variable SLIPWAY_NOTIFY_TEST_UNSET_URL (its webhook URL) is not set"
                            .into()
                    ),
                },
                Delivery {
                    channel: "ops".into(),
                    attempts: 0,
                    error: Some(
                        "the environment variable SLIPWAY_NOTIFY_TEST_UNSET_PASSWORD (its SMTP password) is not set"
                            .into()
                    ),
                },
            ]
        );
        let only = ["ops".to_owned()];
        let report = send(&manifest, &deployed(), Some(&only)).await;
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].channel, "ops");
    }
}
