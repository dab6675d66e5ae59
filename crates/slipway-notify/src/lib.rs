//! Tells people what happened: events (a base image published, a release deployed or rolled
//! back) go to the channels of slipway.toml's `[notifications]` that take them. Slack incoming
//! webhooks, Microsoft Teams workflow webhooks (an Adaptive Card), a generic JSON webhook and
//! email over SMTP with STARTTLS.
//! A channel that fails is retried, then reported; it never fails what it reports on. Webhook
//! URLs carry their secret, so they never appear in a report.

pub mod email;
pub mod events;

use std::time::Duration;

use serde_json::{Value, json};
use slipway_core::Manifest;
use slipway_core::manifest::{EventKind, Notification, NotificationKind};

const ATTEMPTS: u32 = 3;

/// Something that happened.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    /// One line, e.g. "shop: release r7 of prod is live".
    pub title: String,
    /// Name → value lines shown under the title, in order.
    pub facts: Vec<(String, String)>,
    pub project: String,
    pub environment: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// What happened to one channel's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: String,
    pub attempts: u32,
    /// `None` when delivered.
    pub error: Option<String>,
}

pub fn event_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::BasePublished => "base-published",
        EventKind::RunSucceeded => "run-succeeded",
        EventKind::RunFailed => "run-failed",
        EventKind::ApprovalWaiting => "approval-waiting",
        EventKind::PullRequestOpened => "pull-request-opened",
        EventKind::Deployed => "deployed",
        EventKind::RolledBack => "rolled-back",
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

/// Sends `event` to each channel that takes it, all at once; every channel's outcome.
pub async fn send(manifest: &Manifest, event: &Event, only: Option<&[String]>) -> Vec<Delivery> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            return channels_for(manifest, event.kind, only)
                .into_iter()
                .map(|(name, _)| Delivery {
                    channel: name.clone(),
                    attempts: 0,
                    error: Some(error.to_string()),
                })
                .collect();
        }
    };
    // Few channels, one after the other: the report keeps slipway.toml's order.
    let mut out = Vec::new();
    for (name, channel) in channels_for(manifest, event.kind, only) {
        out.push(deliver(&client, name, channel, event).await);
    }
    out
}

async fn deliver(
    client: &reqwest::Client,
    name: &str,
    channel: &Notification,
    event: &Event,
) -> Delivery {
    let failed = |attempts, error: String| Delivery {
        channel: name.to_owned(),
        attempts,
        error: Some(error),
    };
    if channel.kind == NotificationKind::Email {
        let mailer = match email::Mailer::new(channel, event) {
            Ok(mailer) => mailer,
            Err(failure) => return failed(0, failure.message),
        };
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match mailer.send().await {
                Ok(()) => {
                    return Delivery {
                        channel: name.to_owned(),
                        attempts: attempt,
                        error: None,
                    };
                }
                Err(failure) if !failure.retry => return failed(attempt, failure.message),
                Err(failure) => last = failure.message,
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
        return failed(ATTEMPTS, last);
    }
    let url = match channel.url.as_deref().map(resolve) {
        Some(Ok(url)) => url,
        Some(Err(error)) => return failed(0, error),
        None => return failed(0, "the channel has no `url`".into()),
    };
    let body = payload(channel.kind, event);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match client.post(&url).json(&body).send().await {
            Ok(answer) if answer.status().is_success() => {
                return Delivery {
                    channel: name.to_owned(),
                    attempts: attempt,
                    error: None,
                };
            }
            Ok(answer) => {
                last = format!("the receiver answered {}", answer.status());
                let retry = answer.status().is_server_error() || answer.status().as_u16() == 429;
                if !retry {
                    return failed(attempt, last);
                }
            }
            // The URL holds the webhook's secret: errors are reported without it.
            Err(error) => last = error.without_url().to_string(),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    failed(ATTEMPTS, last)
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
}
