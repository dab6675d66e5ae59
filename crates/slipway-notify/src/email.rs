//! Email channels: one plain-text message per event, over SMTP with STARTTLS required (a server
//! that does not offer it gets nothing), logging in when the channel has a username. The
//! password is read from the environment and never appears in a report.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use slipway_core::manifest::Notification;

use crate::{Event, event_name, resolve};

const WHOLE_EXCHANGE: Duration = Duration::from_secs(15);

/// Why a message was not sent, and whether trying again may help.
pub(crate) struct Failure {
    pub message: String,
    pub retry: bool,
}

fn permanent(message: String) -> Failure {
    Failure {
        message,
        retry: false,
    }
}

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

fn mailbox(text: &str, field: &str) -> Result<Mailbox, Failure> {
    text.parse()
        .map_err(|e| permanent(format!("`{field}` address `{text}`: {e}")))
}

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    message: Message,
}

impl Mailer {
    pub fn new(channel: &Notification, event: &Event) -> Result<Mailer, Failure> {
        let Some(smtp) = channel.smtp.as_deref() else {
            return Err(permanent("the channel has no `smtp`".into()));
        };
        let Some((host, port)) = smtp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        else {
            return Err(permanent(format!("`smtp = \"{smtp}\"` is not host:port")));
        };
        let from = channel.from.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into());
            format!("slipway <slipway@{host}>")
        });
        let (subject, body) = message_text(event);
        let mut builder = Message::builder()
            .from(mailbox(&from, "from")?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for to in &channel.to {
            builder = builder.to(mailbox(to, "to")?);
        }
        let message = builder
            .body(body)
            .map_err(|e| permanent(format!("cannot write the message: {e}")))?;
        let tls = TlsParameters::new(host.to_owned())
            .map_err(|e| permanent(format!("TLS settings for {host}: {e}")))?;
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(Tls::Required(tls))
            .timeout(Some(Duration::from_secs(10)));
        if let (Some(username), Some(password)) = (&channel.username, &channel.password) {
            let password = resolve(password)
                .map_err(|e| permanent(e.replace("webhook URL", "SMTP password")))?;
            transport = transport.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Mailer {
            transport: transport.build(),
            message,
        })
    }

    pub async fn send(&self) -> Result<(), Failure> {
        // The transport's timeout covers connecting and commands, not a server that goes
        // silent mid-conversation: bound the whole exchange.
        match tokio::time::timeout(WHOLE_EXCHANGE, self.transport.send(self.message.clone())).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(Failure {
                // 4xx answers and lost connections are worth another try; 5xx are not.
                retry: !error.is_permanent(),
                message: describe(&error),
            }),
            Err(_) => Err(Failure {
                retry: true,
                message: format!(
                    "the SMTP server did not finish within {}s",
                    WHOLE_EXCHANGE.as_secs()
                ),
            }),
        }
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
