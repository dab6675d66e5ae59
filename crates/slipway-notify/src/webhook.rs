//! The HTTP channels: Slack incoming webhooks, Microsoft Teams workflow webhooks and the generic
//! JSON webhook. All three POST JSON to a URL that carries its own secret; they differ only in
//! the body ([`crate::payload`]).

use slipway_core::manifest::NotificationKind;

use crate::channel::{Attempt, Channel, Failure};
use crate::{Event, payload};

/// One HTTP channel: where to post, and which body shape its receiver reads.
#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    kind: NotificationKind,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is the webhook's secret.
        f.debug_struct("Webhook")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A channel posting `kind`'s body to `url` (already resolved from `env:VAR`) with `client`.
    pub fn new(client: reqwest::Client, url: String, kind: NotificationKind) -> Webhook {
        Webhook { client, url, kind }
    }
}

impl Channel for Webhook {
    fn send<'a>(&'a self, event: &'a Event) -> Attempt<'a> {
        Box::pin(async move {
            let body = payload(self.kind, event);
            match self.client.post(&self.url).json(&body).send().await {
                Ok(answer) if answer.status().is_success() => Ok(()),
                Ok(answer) => {
                    let status = answer.status();
                    let message = format!("the receiver answered {status}");
                    // A busy or restarting receiver may take the next try; a refusal will not.
                    if status.is_server_error() || status.as_u16() == 429 {
                        Err(Failure::transient(message))
                    } else {
                        Err(Failure::permanent(message))
                    }
                }
                // The URL holds the webhook's secret: errors are reported without it.
                Err(error) => Err(Failure::transient(error.without_url().to_string())),
            }
        })
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.url.clone()]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use slipway_core::manifest::EventKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::channel::{Retry, send_to};

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

    /// A receiver on loopback answering its connections with `statuses` in turn; the request
    /// heads and bodies it read.
    async fn receiver(statuses: Vec<u16>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hooks/T000/secret-token-1",
            listener.local_addr().unwrap()
        );
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            for status in statuses {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                // Read the head, then as much body as Content-Length says.
                loop {
                    let read = stream.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..read]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                    if read == 0 {
                        break;
                    }
                }
                requests.push(String::from_utf8_lossy(&request).into_owned());
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
            requests
        });
        (url, task)
    }

    const NO_PAUSE: Retry = Retry {
        attempts: 3,
        first_pause: Duration::ZERO,
    };

    fn opened(url: &str, kind: NotificationKind) -> crate::channel::Opened {
        (
            "team".into(),
            Ok(Box::new(Webhook::new(
                reqwest::Client::new(),
                url.to_owned(),
                kind,
            ))),
        )
    }

    #[tokio::test]
    async fn a_slack_channel_posts_its_text_and_a_busy_receiver_is_tried_again() {
        let (url, requests) = receiver(vec![503, 429, 200]).await;
        let report = send_to(
            vec![opened(&url, NotificationKind::Slack)],
            &deployed(),
            NO_PAUSE,
        )
        .await;
        assert_eq!(report[0].error, None);
        assert_eq!(report[0].attempts, 3);
        let requests = requests.await.unwrap();
        assert_eq!(requests.len(), 3);
        assert!(
            requests[2].starts_with("POST /hooks/T000/secret-token-1 HTTP/1.1"),
            "{}",
            requests[2]
        );
        assert!(
            requests[2].contains(r#"{"text":"*shop: release r7 of prod is live*\nrelease: r7"}"#),
            "{}",
            requests[2]
        );
    }

    #[tokio::test]
    async fn a_receiver_that_refuses_is_reported_at_once() {
        let (url, requests) = receiver(vec![404]).await;
        let report = send_to(
            vec![opened(&url, NotificationKind::Webhook)],
            &deployed(),
            NO_PAUSE,
        )
        .await;
        assert_eq!(report[0].attempts, 1);
        assert_eq!(
            report[0].error.as_deref(),
            Some("the receiver answered 404 Not Found")
        );
        assert!(requests.await.unwrap()[0].contains(r#""event":"deployed""#));
    }

    #[tokio::test]
    async fn a_receiver_that_cannot_be_reached_is_reported_without_its_url() {
        // A port nothing listens on any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hooks/T000/secret-token-2");
        let report = send_to(
            vec![opened(&url, NotificationKind::Teams)],
            &deployed(),
            NO_PAUSE,
        )
        .await;
        assert_eq!(report[0].attempts, 3);
        let error = report[0].error.as_deref().unwrap();
        assert!(!error.is_empty());
        assert!(!error.contains("secret-token-2"), "{error}");
        assert!(!error.contains(&port.to_string()), "{error}");
    }
}
