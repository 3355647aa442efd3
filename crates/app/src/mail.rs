//! E-mail delivery (SPEC 16.1): the outbox's `email` rows sent through a real SMTP server
//! with lettre (rustls, pooled connections), at least once and in order per order, with
//! the outbox's retry rules (`delivery`): a refused connection or a temporary (4xx) answer
//! is retried with back-off; a permanent (5xx) refusal of the recipient marks the e-mail
//! `dead` with the server's answer, for an admin to see and send again.
//!
//! The content was rendered when the command committed (`notify`); the address is the
//! recipient account's at the time of sending. An account without an address gets no
//! e-mail: the row is skipped, so the order's later e-mails are not held back.

use std::time::Duration;

use jiff::Timestamp;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orderly_domain::AccountId;
use orderly_store::{OutboxMessage, Store};
use serde::Deserialize;

use crate::delivery::{
    BATCH, Delivered, LEASE_SECS, OutboxSettings, REQUEST_TIMEOUT_SECS, next_attempt,
};
use crate::error::AppError;

/// Where e-mail goes and who it is from (`[email]`).
#[derive(Clone)]
pub struct EmailSettings {
    /// `smtp://host:port`, `smtps://host:port`, with optional `user:password@`.
    pub smtp_url: String,
    /// The From address, e.g. `Shop <orders@shop.example>`.
    pub from: String,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("smtp_url", &redact(&self.smtp_url))
            .field("from", &self.from)
            .finish()
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// What `notify` wrote for one e-mail.
#[derive(Debug, Deserialize)]
struct Payload {
    to: AccountId,
    #[serde(flatten)]
    body: Body,
}

/// What the e-mail says: in parts, or (written by a version before the parts were
/// stored, and still waiting in the outbox) as its finished bodies.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Body {
    Parts(crate::notify::EmailParts),
    Rendered {
        subject: String,
        text: String,
        html: String,
    },
}

impl Body {
    fn content(self) -> crate::notify::EmailContent {
        match self {
            Body::Parts(parts) => parts.content(),
            Body::Rendered {
                subject,
                text,
                html,
            } => crate::notify::EmailContent {
                subject,
                text,
                html,
            },
        }
    }
}

/// Sends e-mails from the outbox.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: OutboxSettings,
}

impl EmailSender {
    /// A sender for `settings`; an unusable URL or From address is an error at start-up.
    pub fn new(email: &EmailSettings, settings: OutboxSettings) -> Result<Self, AppError> {
        crate::delivery::install_crypto_provider();
        let from: Mailbox = email.from.parse().map_err(|error| {
            AppError::Unexpected(anyhow::anyhow!(
                "[email] from `{}` is not an address: {error}",
                email.from
            ))
        })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&email.smtp_url)
            .map_err(|error| {
                AppError::Unexpected(anyhow::anyhow!(
                    "[email] smtp_url `{}` cannot be used: {error}",
                    redact(&email.smtp_url)
                ))
            })?
            .timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS)))
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(4))
            .build();
        Ok(Self {
            transport,
            from,
            settings,
        })
    }

    /// Claims the e-mails ready at `now` and tries each once.
    pub async fn deliver_once(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> Result<Delivered, AppError> {
        let messages = store.claim_outbox("email", now, BATCH, LEASE_SECS).await?;
        let mut round = Delivered::default();
        for message in messages {
            match self.send(store, &message).await {
                Sent::Delivered => {
                    store.outbox_delivered(message.id, now).await?;
                    round.delivered += 1;
                    metrics::counter!("orderly_emails_total", "outcome" => "delivered")
                        .increment(1);
                }
                Sent::NoAddress => {
                    store.outbox_skip(message.id, now).await?;
                    metrics::counter!("orderly_emails_total", "outcome" => "no_address")
                        .increment(1);
                }
                Sent::Retry(error) => {
                    let retry_at = next_attempt(&message, now, self.settings.give_up_after);
                    tracing::warn!(id = message.id, %error, dead = retry_at.is_none(), "e-mail delivery failed");
                    store
                        .outbox_failed(message.id, &error, retry_at, now)
                        .await?;
                    if retry_at.is_some() {
                        round.failed += 1;
                        metrics::counter!("orderly_emails_total", "outcome" => "failed")
                            .increment(1);
                    } else {
                        round.dead += 1;
                        metrics::counter!("orderly_emails_total", "outcome" => "dead").increment(1);
                    }
                }
                Sent::Refused(error) => {
                    tracing::warn!(id = message.id, %error, "the mail server refused the recipient for good");
                    store.outbox_failed(message.id, &error, None, now).await?;
                    round.dead += 1;
                    metrics::counter!("orderly_emails_total", "outcome" => "dead").increment(1);
                }
            }
        }
        Ok(round)
    }

    /// Sends one e-mail now, outside the outbox: for a sign-in link, which is worth nothing
    /// after 15 minutes and is asked for again rather than retried.
    pub async fn send_now(
        &self,
        name: &str,
        address: &str,
        subject: &str,
        text: String,
        html: String,
    ) -> Result<(), String> {
        let address = address
            .parse::<lettre::Address>()
            .map_err(|error| format!("`{address}` is not an address: {error}"))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(name.to_owned()), address))
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|error| format!("the e-mail cannot be built: {error}"))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|error| format!("the mail server did not take it: {error}"))
    }

    async fn send(&self, store: &dyn Store, message: &OutboxMessage) -> Sent {
        let payload: Payload = match serde_json::from_str(&message.payload) {
            Ok(payload) => payload,
            Err(error) => {
                return Sent::Refused(format!("the stored e-mail cannot be read: {error}"));
            }
        };
        let account = match store.account(payload.to).await {
            Ok(account) => account,
            Err(error) => {
                return Sent::Retry(format!("the recipient could not be looked up: {error}"));
            }
        };
        let Some((name, address)) =
            account.and_then(|account| account.email.map(|email| (account.name, email)))
        else {
            return Sent::NoAddress;
        };
        let to = match address.parse::<lettre::Address>() {
            Ok(address) => Mailbox::new(Some(name), address),
            Err(error) => return Sent::Refused(format!("`{address}` is not an address: {error}")),
        };
        let content = payload.body.content();
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject)
            // Stable across retries, so a mail client shows a repeated delivery once.
            .message_id(Some(format!(
                "<{}@orderly>",
                message.dedupe_key.replace(':', ".")
            )))
            .multipart(MultiPart::alternative_plain_html(
                content.text,
                content.html,
            ));
        let email = match email {
            Ok(email) => email,
            Err(error) => return Sent::Refused(format!("the e-mail cannot be built: {error}")),
        };
        match self.transport.send(email).await {
            Ok(_) => Sent::Delivered,
            Err(error) if error.is_permanent() => {
                Sent::Refused(format!("the mail server refused it: {error}"))
            }
            Err(error) => Sent::Retry(format!("the mail server could not take it: {error}")),
        }
    }
}

enum Sent {
    Delivered,
    NoAddress,
    /// Try again later (connection refused, 4xx, timeout).
    Retry(String),
    /// Permanently refused (5xx): dead at once.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::{Body, Payload};

    #[test]
    fn an_email_stored_in_parts_is_put_together_when_sent() {
        let payload: Payload = serde_json::from_str(
            r#"{"guidance":"Pay <now>.","happened":["Order placed.","Refund sent."],
                "link":"http://shop/orders/1","number":"AB12","order_id":"01a23c3c-8896-7585-8fb0-aa16d0e07f95",
                "reader":"buyer","subject":"Order #AB12: placed","template":"order_placed",
                "to":"01a23c3c-74bc-77ec-9aee-82786e43b5e1"}"#,
        )
        .expect("a payload in parts");
        assert!(matches!(payload.body, Body::Parts(_)), "{payload:?}");
        let content = payload.body.content();
        assert_eq!(content.subject, "Order #AB12: placed");
        assert_eq!(
            content.text,
            "Hello,\n\nOrder placed.\nRefund sent.\n\nWhat you can do now: Pay <now>.\n\n\
             Open the order: http://shop/orders/1\n\n— orderly, on behalf of the marketplace\n"
        );
        assert!(
            content.html.contains(
                "<p>Order placed.</p><p>Refund sent.</p><p><strong>What you can do now:</strong> Pay &lt;now&gt;.</p>\
                 <p><a href=\"http://shop/orders/1\">Open order #AB12</a></p>"
            ),
            "{}",
            content.html
        );
    }

    #[test]
    fn an_email_queued_by_an_older_version_is_sent_as_it_was_rendered() {
        let payload: Payload = serde_json::from_str(
            r#"{"html":"<p>old</p>","order_id":"01a23c3c-8896-7585-8fb0-aa16d0e07f95","reader":"buyer",
                "subject":"Old subject","template":"order_placed","text":"old text",
                "to":"01a23c3c-74bc-77ec-9aee-82786e43b5e1"}"#,
        )
        .expect("a rendered payload");
        let content = payload.body.content();
        assert_eq!(
            (
                content.subject.as_str(),
                content.text.as_str(),
                content.html.as_str()
            ),
            ("Old subject", "old text", "<p>old</p>")
        );
    }
}
