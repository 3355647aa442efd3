//! Carriers and payment providers (SPEC 16.6): their integrations, the secrets they sign
//! callbacks with, and the verification of those signatures.
//!
//! A secret is never stored. It is derived: `HMAC-SHA256(signing key, "<id>:<version>")`,
//! so the database alone cannot forge a callback, rotating is a new version (the previous
//! one stays valid for [`ROTATION_GRACE_HOURS`]), and revoking ends them all. The signing
//! key is the operator's `[integrations] signing_key`, or else a random one kept in the
//! database's settings (with a warning at start-up).
//!
//! A callback carries `Orderly-Integration: <id>` and `Orderly-Signature: t=<unix
//! seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` — the scheme orderly's own webhooks use —
//! and is refused unless the signature verifies in constant time with a live secret and
//! `t` is within [`TOLERANCE_SECS`] of the real time.

use hmac::{KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use orderly_store::{IdempotentResponse, Integration};
use uuid::Uuid;

use crate::error::AppError;
use crate::service::{App, new_id};

/// How long a rotated-out secret keeps working.
pub const ROTATION_GRACE_HOURS: i64 = 24;
/// How far a callback's timestamp may be from the real time.
pub const TOLERANCE_SECS: i64 = 300;
/// The settings key of a signing key orderly made itself.
const GENERATED_KEY: &str = "integration_signing_key";

/// Why a callback's signature is refused: all of these answer 401 alike, so a caller
/// learns nothing about which part was wrong; the log says which.
#[derive(Debug, thiserror::Error)]
pub enum Unverified {
    #[error("the Orderly-Integration header is missing or not an id")]
    NoIntegration,
    #[error("no live integration has that id")]
    UnknownIntegration,
    #[error("the Orderly-Signature header is missing or malformed")]
    Malformed,
    #[error("the timestamp is more than 5 minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
    #[error("this integration may not send this callback")]
    WrongKind,
}

/// The secret of `version` of integration `id`.
pub fn secret(signing_key: &[u8], id: Uuid, version: u32) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_key)
        .expect("HMAC takes keys of any length");
    mac.update(format!("{id}:{version}").as_bytes());
    format!("int_{}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`t=…,v1=…`) signs `body` with `secret` at a time within the
/// tolerance of `wall_now`.
fn verify_with(
    secret: &str,
    header: &str,
    body: &[u8],
    wall_now: Timestamp,
) -> Result<(), Unverified> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => {
                signatures.push(hex::decode(value).map_err(|_| Unverified::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Unverified::Malformed)?;
    if signatures.is_empty() {
        return Err(Unverified::Malformed);
    }
    if (wall_now.as_second() - timestamp).abs() > TOLERANCE_SECS {
        return Err(Unverified::Stale);
    }
    for signature in signatures {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(Unverified::Mismatch)
}

impl App {
    /// The key secrets are derived from: the configured one, or one kept in the database.
    async fn signing_key(&self) -> Result<Vec<u8>, AppError> {
        if let Some(key) = self.signing_key_configured() {
            return Ok(key.as_bytes().to_vec());
        }
        let fresh = crate::tokens::generate();
        let kept = self
            .store
            .setting_or_insert(GENERATED_KEY, &fresh, self.now())
            .await?;
        Ok(kept.into_bytes())
    }

    /// Registers a carrier or payment integration; returns it with its secret (shown once).
    pub async fn register_integration(
        &self,
        kind: &str,
        name: &str,
        answer: impl FnOnce(&Integration) -> Option<IdempotentResponse>,
    ) -> Result<(Integration, String), AppError> {
        if !matches!(kind, "carrier" | "payment") {
            return Err(crate::service::validation_error(
                "kind",
                format!("`{kind}` is not a kind; use carrier or payment"),
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(crate::service::validation_error(
                "name",
                "give a name of 1 to 200 characters",
            ));
        }
        let integration = Integration {
            id: new_id(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            secret_version: 1,
            previous_version: None,
            previous_valid_until: None,
            revoked_at: None,
            created_at: self.now(),
        };
        let key = self.signing_key().await?;
        let stored = answer(&integration);
        self.store
            .create_integration(&integration, stored.as_ref())
            .await?;
        let secret = secret(&key, integration.id, 1);
        Ok((integration, secret))
    }

    /// Issues a new secret; the old one keeps working for a day.
    pub async fn rotate_integration(
        &self,
        id: Uuid,
        answer: impl FnOnce(&Integration) -> Option<IdempotentResponse>,
    ) -> Result<(Integration, String), AppError> {
        let mut integration = self.live_integration(id).await?;
        integration.previous_version = Some(integration.secret_version);
        integration.previous_valid_until =
            Some(self.now() + SignedDuration::from_hours(ROTATION_GRACE_HOURS));
        integration.secret_version += 1;
        let key = self.signing_key().await?;
        let stored = answer(&integration);
        self.store
            .update_integration(&integration, self.now(), stored.as_ref())
            .await?;
        let secret = secret(&key, integration.id, integration.secret_version);
        Ok((integration, secret))
    }

    /// Ends an integration: its callbacks are refused from now on.
    pub async fn revoke_integration(
        &self,
        id: Uuid,
        answer: impl FnOnce(&Integration) -> Option<IdempotentResponse>,
    ) -> Result<Integration, AppError> {
        let mut integration = self
            .store
            .integration(id)
            .await?
            .ok_or(AppError::NoSuch("integration"))?;
        if integration.revoked_at.is_none() {
            integration.revoked_at = Some(self.now());
        }
        let stored = answer(&integration);
        self.store
            .update_integration(&integration, self.now(), stored.as_ref())
            .await?;
        Ok(integration)
    }

    async fn live_integration(&self, id: Uuid) -> Result<Integration, AppError> {
        let integration = self
            .store
            .integration(id)
            .await?
            .ok_or(AppError::NoSuch("integration"))?;
        if integration.revoked_at.is_some() {
            return Err(AppError::Rejected(orderly_domain::Rejection::Conflict {
                detail: "the integration is revoked; register a new one".into(),
            }));
        }
        Ok(integration)
    }

    /// The integrations, newest first.
    pub async fn integrations(&self) -> Result<Vec<Integration>, AppError> {
        Ok(self.store.integrations().await?)
    }

    /// Checks a callback's headers against `body`: the integration of `kind` that signed
    /// it, or why it is refused.
    pub async fn verify_callback(
        &self,
        integration: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        kind: &str,
    ) -> Result<Result<Integration, Unverified>, AppError> {
        let Some(id) = integration.and_then(|text| text.trim().parse::<Uuid>().ok()) else {
            return Ok(Err(Unverified::NoIntegration));
        };
        let Some(integration) = self.store.integration(id).await? else {
            return Ok(Err(Unverified::UnknownIntegration));
        };
        if integration.revoked_at.is_some() {
            return Ok(Err(Unverified::UnknownIntegration));
        }
        let Some(header) = signature else {
            return Ok(Err(Unverified::Malformed));
        };
        let key = self.signing_key().await?;
        let wall_now = crate::clock::wall_clock_now();
        let mut versions = vec![integration.secret_version];
        if let (Some(previous), Some(until)) = (
            integration.previous_version,
            integration.previous_valid_until,
        ) && until > self.now()
        {
            versions.push(previous);
        }
        let mut outcome = Err(Unverified::Mismatch);
        for version in versions {
            outcome = verify_with(
                &secret(&key, integration.id, version),
                header,
                body,
                wall_now,
            );
            if outcome.is_ok() || matches!(outcome, Err(Unverified::Stale | Unverified::Malformed))
            {
                break;
            }
        }
        if let Err(refused) = outcome {
            return Ok(Err(refused));
        }
        if integration.kind != kind {
            return Ok(Err(Unverified::WrongKind));
        }
        Ok(Ok(integration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_its_body_and_a_fresh_timestamp() {
        let now = Timestamp::from_second(1_800_000_000).expect("valid");
        let secret = secret(b"key", Uuid::from_u128(1), 1);
        let header = crate::delivery::signature(&secret, now.as_second(), "{\"a\":1}");
        assert!(verify_with(&secret, &header, b"{\"a\":1}", now).is_ok());
        assert!(matches!(
            verify_with(&secret, &header, b"{\"a\":2}", now),
            Err(Unverified::Mismatch)
        ));
        let other = super::secret(b"key", Uuid::from_u128(1), 2);
        assert!(matches!(
            verify_with(&other, &header, b"{\"a\":1}", now),
            Err(Unverified::Mismatch)
        ));
        let later = now + SignedDuration::from_secs(301);
        assert!(matches!(
            verify_with(&secret, &header, b"{\"a\":1}", later),
            Err(Unverified::Stale)
        ));
        assert!(matches!(
            verify_with(&secret, "v1=zz", b"{}", now),
            Err(Unverified::Malformed)
        ));
    }
}
