//! `kind = "email"`: one message to every `to` address over SMTP (lettre), with STARTTLS
//! (required, port 587), implicit TLS (port 465) or — for a relay on the same host and for
//! tests — no encryption (port 25). TLS is rustls with the Mozilla root store.
//!
//! The `Message-ID` is derived from the notification id, so a retried message is
//! recognisable as the same one. SMTP 5xx answers are permanent failures; 4xx answers,
//! timeouts and connection failures are retried.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{required, Outcome, Outgoing, SenderError, Texts};
use crate::notify::config::{ChannelConfig, SmtpTls};

/// Sends e-mail for one channel.
pub struct EmailSender {
    channel: String,
    host: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    texts: Texts,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender")
            .field("channel", &self.channel)
            .field("host", &self.host)
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

fn mailbox(c: &ChannelConfig, field: &'static str, text: &str) -> Result<Mailbox, SenderError> {
    text.parse()
        .map_err(|e: lettre::address::AddressError| SenderError::Url {
            channel: c.name.clone(),
            field,
            reason: format!("{text:?}: {e}"),
        })
}

impl EmailSender {
    pub(super) fn new(c: &ChannelConfig, timeout: Duration) -> Result<Self, SenderError> {
        let host = required(&c.smtp_host, c, "smtp_host")?;
        let client_err = |e: lettre::transport::smtp::Error| SenderError::Client {
            channel: c.name.clone(),
            reason: e.to_string(),
        };
        let tls = c.tls.unwrap_or_default();
        let builder = match tls {
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(client_err)?
            }
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(client_err)?
            }
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let port = c.smtp_port.unwrap_or(match tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let mut builder = builder.port(port).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let from = mailbox(c, "from", required(&c.from, c, "from")?)?;
        let to =
            c.to.iter()
                .map(|a| mailbox(c, "to", a))
                .collect::<Result<Vec<_>, _>>()?;
        Ok(EmailSender {
            channel: c.name.clone(),
            host: format!("{host}:{port}"),
            transport: builder.build(),
            from,
            to,
            texts: Texts::of(c),
        })
    }

    /// The message for `out`.
    pub fn message(&self, out: &Outgoing) -> Result<Message, String> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(self.texts.subject(out))
            .message_id(Some(format!("<{}@alarmhub>", out.id)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.body(self.texts.body(out)).map_err(|e| e.to_string())
    }

    pub(super) async fn send(&self, out: &Outgoing) -> Outcome {
        let message = match self.message(out) {
            Ok(m) => m,
            Err(reason) => return Outcome::Failed { reason },
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.is_permanent() => Outcome::Failed {
                reason: format!("SMTP {}: {e}", self.host),
            },
            Err(e) => Outcome::Retry {
                reason: format!("SMTP {}: {e}", self.host),
                after: None,
            },
        }
    }
}
