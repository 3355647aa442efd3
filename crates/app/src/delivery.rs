//! Webhook delivery (SPEC 10 and 16.2): every domain event leaves through the outbox as a
//! signed HTTP POST, at least once, in order per order, retried with exponential backoff
//! capped at an hour, for at least the outbox's give-up window (3 days by default); then
//! the row is marked dead — kept, listed, re-sendable — and it holds back the order's later
//! webhooks until an admin retries or skips it. The same retry rules serve e-mail (`mail`).
//!
//! A receiver verifies `Orderly-Signature: t=<unix seconds>,v1=<hex>` where `v1` is
//! HMAC-SHA256 over `"<t>.<body>"` with the shared secret, and de-duplicates on
//! `Orderly-Event-Id`, which is the same for every retry.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use orderly_store::{OutboxMessage, Store};

use crate::error::AppError;

/// The longest wait between two tries.
pub const RETRY_DELAY_SECS_MAX: i64 = 3_600;
/// Messages claimed per round.
pub const BATCH: u32 = 20;
/// How long one delivery (a POST, an SMTP transaction) may take.
pub const REQUEST_TIMEOUT_SECS: u64 = 10;
/// How long a claimed message is reserved for the process delivering it: longer than the
/// longest round (every message of a batch timing out), so that no second process claims
/// an order's next message while the first is still on its way.
pub const LEASE_SECS: i64 = BATCH as i64 * REQUEST_TIMEOUT_SECS as i64 + 60;

/// How long the outbox keeps trying, and keeps what it delivered (SPEC 16.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxSettings {
    /// A message failing for this long after its first failure is given up: `dead`.
    pub give_up_after: SignedDuration,
    /// Delivered messages are purged after this long.
    pub keep_delivered: SignedDuration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            give_up_after: SignedDuration::from_hours(72),
            keep_delivered: SignedDuration::from_hours(7 * 24),
        }
    }
}

/// When a message that just failed is tried again, or `None` to give it up: it has been
/// failing for the whole give-up window.
pub fn next_attempt(
    message: &OutboxMessage,
    now: Timestamp,
    give_up_after: SignedDuration,
) -> Option<Timestamp> {
    let failing_since = message.first_failed_at.unwrap_or(now);
    if now.duration_since(failing_since) >= give_up_after {
        return None;
    }
    Some(now + retry_delay(message.attempts + 1))
}

/// Where webhooks go and the secret that signs them.
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &"***")
            .finish()
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub delivered: usize,
    pub failed: usize,
    /// Given up this round.
    pub dead: usize,
}

impl Delivered {
    /// The worker's step: busy when the round did anything.
    pub fn step(self) -> crate::workers::Step {
        let done = self.delivered + self.failed + self.dead;
        if done > 0 {
            crate::workers::Step::Worked(done)
        } else {
            crate::workers::Step::Idle { next_due: None }
        }
    }
}

/// Sends webhooks from the outbox.
pub struct WebhookSender {
    target: WebhookTarget,
    client: reqwest::Client,
    settings: OutboxSettings,
}

impl WebhookSender {
    pub fn new(target: WebhookTarget, settings: OutboxSettings) -> Result<Self, AppError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS))
            .build()
            .map_err(anyhow::Error::new)?;
        Ok(Self {
            target,
            client,
            settings,
        })
    }

    /// Claims the webhooks ready at `now` and tries each once.
    pub async fn deliver_once(
        &self,
        store: &dyn Store,
        now: Timestamp,
    ) -> Result<Delivered, AppError> {
        let messages = store
            .claim_outbox("webhook", now, BATCH, LEASE_SECS)
            .await?;
        let mut round = Delivered::default();
        for message in messages {
            match self.post(&message, now).await {
                Ok(()) => {
                    store.outbox_delivered(message.id, now).await?;
                    round.delivered += 1;
                    metrics::counter!("orderly_webhooks_total", "outcome" => "delivered")
                        .increment(1);
                }
                Err(error) => {
                    let retry_at = next_attempt(&message, now, self.settings.give_up_after);
                    tracing::warn!(id = message.id, attempts = message.attempts + 1, %error, dead = retry_at.is_none(), "webhook delivery failed");
                    store
                        .outbox_failed(message.id, &error, retry_at, now)
                        .await?;
                    if retry_at.is_some() {
                        round.failed += 1;
                        metrics::counter!("orderly_webhooks_total", "outcome" => "failed")
                            .increment(1);
                    } else {
                        round.dead += 1;
                        metrics::counter!("orderly_webhooks_total", "outcome" => "dead")
                            .increment(1);
                    }
                }
            }
        }
        Ok(round)
    }

    async fn post(&self, message: &OutboxMessage, now: Timestamp) -> Result<(), String> {
        let timestamp = now.as_second();
        let response = self
            .client
            .post(&self.target.url)
            .header("content-type", "application/json")
            .header("orderly-event-id", &message.dedupe_key)
            .header(
                "orderly-signature",
                signature(&self.target.secret, timestamp, &message.payload),
            )
            .body(message.payload.clone())
            .send()
            .await
            .map_err(|error| format!("could not reach the receiver: {error}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", response.status()))
        }
    }
}

/// reqwest is built without a TLS crypto provider of its own (the default pulls C code);
/// this installs ring, as sqlx uses. Call it before building any HTTP client; calling it
/// twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `t=<seconds>,v1=<hex HMAC-SHA256 of "<seconds>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// 2, 4, 8, ... seconds, capped at an hour.
pub fn retry_delay(attempts: u32) -> SignedDuration {
    SignedDuration::from_secs((1_i64 << attempts.min(20)).min(RETRY_DELAY_SECS_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        let signed = signature("s3cret", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            signed,
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
        assert_ne!(signed, signature("other", 1_700_000_000, r#"{"a":1}"#));
    }

    #[test]
    fn retries_back_off_and_cap_at_an_hour() {
        assert_eq!(retry_delay(1).as_secs(), 2);
        assert_eq!(retry_delay(5).as_secs(), 32);
        assert_eq!(retry_delay(30).as_secs(), RETRY_DELAY_SECS_MAX);
    }
}
