//! Email channels: one plain-text message per event, over SMTP with STARTTLS required (a server
//! that does not offer it gets nothing), logging in when the channel has a username. The
//! password is read from the environment and never appears in a report.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use slipway_core::manifest::Notification;

use crate::channel::{Attempt, Channel, Failure};
use crate::{Event, event_name, resolve};

const WHOLE_EXCHANGE: Duration = Duration::from_secs(15);

/// The message an event becomes: the title as subject, then one `name: value` line per fact.
pub fn message_text(event: &Event) -> (String, String) {
    let mut body = format!("{}\n\n", event.title);
    if let Some(environment) = &event.environment {
        body.push_str(&format!("environment: {environment}\n"));
    }
    for (name, value) in &event.facts {
        body.push_str(&format!("{name}: {value}\n"));
    }
    body.push_str(&format!(
        "\nevent: {} at {}\nproject: {}\n",
        event_name(event.kind),
        event.at,
        event.project
    ));
    (event.title.clone(), body)
}

fn mailbox(text: &str, field: &str) -> Result<Mailbox, String> {
    text.parse()
        .map_err(|e| format!("`{field}` address `{text}`: {e}"))
}

/// An email channel: its SMTP server (STARTTLS required, a login when configured), sender and
/// recipients.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    password: Option<String>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the password: only the addresses are shown.
        f.debug_struct("Email")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Email {
    /// Opens the email channel `channel` describes: `smtp` as host:port, the `from` and `to`
    /// addresses, the login's password from its `env:VAR`. Why it cannot, for the report.
    pub fn open(channel: &Notification) -> Result<Email, String> {
        let Some(smtp) = channel.smtp.as_deref() else {
            return Err("the channel has no `smtp`".into());
        };
        let Some((host, port)) = smtp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        else {
            return Err(format!("`smtp = \"{smtp}\"` is not host:port"));
        };
        let from = channel.from.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into());
            format!("slipway <slipway@{host}>")
        });
        let from = mailbox(&from, "from")?;
        let to = channel
            .to
            .iter()
            .map(|to| mailbox(to, "to"))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err("the channel has no `to`".into());
        }
        let tls = TlsParameters::new(host.to_owned())
            .map_err(|e| format!("TLS settings for {host}: {e}"))?;
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(Tls::Required(tls))
            .timeout(Some(Duration::from_secs(10)));
        let mut secret = None;
        if let (Some(username), Some(password)) = (&channel.username, &channel.password) {
            let password =
                resolve(password).map_err(|e| e.replace("webhook URL", "SMTP password"))?;
            transport = transport.credentials(Credentials::new(username.clone(), password.clone()));
            secret = Some(password);
        }
        Ok(Email {
            transport: transport.build(),
            from,
            to,
            password: secret,
        })
    }

    fn message(&self, event: &Event) -> Result<Message, Failure> {
        let (subject, body) = message_text(event);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(body)
            .map_err(|e| Failure::permanent(format!("cannot write the message: {e}")))
    }
}

impl Channel for Email {
    fn send<'a>(&'a self, event: &'a Event) -> Attempt<'a> {
        Box::pin(async move {
            let message = self.message(event)?;
            // The transport's timeout covers connecting and commands, not a server that goes
            // silent mid-conversation: bound the whole exchange.
            match tokio::time::timeout(WHOLE_EXCHANGE, self.transport.send(message)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(Failure {
                    // 4xx answers and lost connections are worth another try; 5xx are not.
                    retry: !error.is_permanent(),
                    message: describe(&error),
                }),
                Err(_) => Err(Failure::transient(format!(
                    "the SMTP server did not finish within {}s",
                    WHOLE_EXCHANGE.as_secs()
                ))),
            }
        })
    }

    fn secrets(&self) -> Vec<String> {
        self.password.iter().cloned().collect()
    }
}

/// The error without anything the server echoed of our credentials.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = error.status() {
        let kind = if error.is_permanent() {
            "refused"
        } else {
            "answered"
        };
        return format!("the SMTP server {kind} with {code}: {error}");
    }
    format!("SMTP: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(settings: &str) -> Notification {
        let text = format!(
            "schema = 1\n[project]\nname = \"shop\"\n[notifications.ops]\nkind = \"email\"\n{settings}"
        );
        let mut manifest = slipway_core::manifest::load_manifest(&text).unwrap();
        manifest.notifications.shift_remove("ops").unwrap()
    }

    #[test]
    fn an_address_that_does_not_parse_is_named_before_anything_is_sent() {
        let error = Email::open(&channel(
            "smtp = \"mail.internal:587\"\nto = [\"ops@example.com\", \"not an address\"]",
        ))
        .unwrap_err();
        assert!(
            error.starts_with("`to` address `not an address`: "),
            "{error}"
        );
        let error = Email::open(&channel(
            "smtp = \"mail.internal:587\"\nto = [\"ops@example.com\"]\nfrom = \"slipway at example\"",
        ))
        .unwrap_err();
        assert!(
            error.starts_with("`from` address `slipway at example`: "),
            "{error}"
        );
    }

    #[test]
    fn the_message_names_the_event_its_environment_and_facts() {
        let event = Event {
            kind: slipway_core::manifest::EventKind::RolledBack,
            title: "shop: prod rolled back to r6".into(),
            facts: vec![("from".into(), "r7".into()), ("by".into(), "ada".into())],
            project: "shop".into(),
            environment: Some("prod".into()),
            at: "2026-11-26T08:00:00Z".into(),
        };
        let (subject, body) = message_text(&event);
        assert_eq!(subject, "shop: prod rolled back to r6");
        assert_eq!(
            body,
            "shop: prod rolled back to r6\n\nenvironment: prod\nfrom: r7\nby: ada\n\nevent: rolled-back at 2026-11-26T08:00:00Z\nproject: shop\n"
        );
    }

    #[test]
    fn the_login_password_is_a_secret_of_the_channel() {
        // PATH: a variable every process has, standing in for the password's variable.
        let email = Email::open(&channel(
            "smtp = \"mail.internal:587\"\nto = [\"ops@example.com\"]\nusername = \"slipway\"\npassword = \"env:PATH\"",
        ))
        .unwrap();
        assert_eq!(email.secrets(), [std::env::var("PATH").unwrap()]);
    }
}
