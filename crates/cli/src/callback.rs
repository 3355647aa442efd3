//! `orderly callback`: sign and send a carrier's or payment provider's callback by hand,
//! as the integration would (SPEC 16.6), to test an integration or to show a parcel being
//! delivered in the demo. The signature is orderly's own scheme: `Orderly-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

use serde_json::{Value, json};

/// What to send.
pub struct Callback {
    pub url: String,
    pub integration: String,
    pub secret: String,
    pub body: Value,
    pub path: &'static str,
}

impl Callback {
    pub fn carrier(
        url: String,
        integration: String,
        secret: String,
        carrier: String,
        tracking_number: String,
        status: String,
        location: Option<String>,
    ) -> Self {
        let mut body = json!({
            "event_id": event_id(),
            "carrier": carrier,
            "tracking_number": tracking_number,
            "status": status,
            "at": now(),
        });
        if let Some(location) = location {
            body["location"] = Value::String(location);
        }
        Self {
            url,
            integration,
            secret,
            body,
            path: "/api/v1/callbacks/carrier",
        }
    }

    pub fn payment(
        url: String,
        integration: String,
        secret: String,
        order_id: String,
        kind: String,
        refund_number: Option<u32>,
    ) -> Self {
        let mut body = json!({
            "event_id": event_id(),
            "order_id": order_id,
            "kind": kind,
            "at": now(),
        });
        if let Some(number) = refund_number {
            body["refund_number"] = json!(number);
        }
        Self {
            url,
            integration,
            secret,
            body,
            path: "/api/v1/callbacks/payment",
        }
    }

    /// Signs and sends it; prints the answer.
    pub async fn send(self) -> anyhow::Result<()> {
        orderly_app::delivery::install_crypto_provider();
        let body = self.body.to_string();
        let timestamp = now_seconds();
        let signature = orderly_app::delivery::signature(&self.secret, timestamp, &body);
        let response = reqwest::Client::new()
            .post(format!("{}{}", self.url.trim_end_matches('/'), self.path))
            .header("content-type", "application/json")
            .header("orderly-integration", &self.integration)
            .header("orderly-signature", signature)
            .body(body.clone())
            .send()
            .await
            .map_err(|error| anyhow::anyhow!("cannot reach {}: {error}", self.url))?;
        let status = response.status();
        let answer = response.text().await.unwrap_or_default();
        println!("sent {body}");
        println!("{status}: {answer}");
        if status.is_success() {
            Ok(())
        } else {
            anyhow::bail!("the callback was refused ({status})")
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a callback is signed with the real time"
)]
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

#[allow(
    clippy::disallowed_methods,
    reason = "a callback is signed with the real time"
)]
fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn event_id() -> String {
    format!("cli-{}", orderly_app::service::new_id().simple())
}
