//! Extractors: who is calling (bearer token, rate limit), the JSON body with our own error
//! shapes, and the `Idempotency-Key` header.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use orderly_domain::{AccountId, Actor, Role};
use orderly_store::Account;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// The signed-in account making the request.
#[derive(Clone, Debug)]
pub struct Caller(pub Account);

impl Caller {
    pub fn actor(&self) -> Actor {
        match self.0.role {
            Role::Buyer => Actor::Buyer(self.0.id),
            Role::Seller => Actor::Seller(self.0.id),
            Role::Admin | Role::System => Actor::Admin(self.0.id),
        }
    }

    pub fn id(&self) -> AccountId {
        self.0.id
    }

    pub fn role(&self) -> Role {
        self.0.role
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let account = state
            .app
            .authenticate(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        state.limiter.check(account.id)?;
        Ok(Caller(account))
    }
}

/// Requests per account per minute: a fixed window, counted in memory per process.
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<AccountId, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "rate limits are measured in real elapsed time, whatever the business clock says"
    )]
    fn check(&self, account: AccountId) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .expect("the rate limiter's lock is never poisoned");
        let window = windows.entry(account).or_insert((now, 0));
        let elapsed = now.duration_since(window.0);
        if elapsed >= Duration::from_secs(60) {
            *window = (now, 0);
        }
        if window.1 >= self.per_minute {
            let retry_after_secs = 60 - now.duration_since(window.0).as_secs().min(59);
            return Err(ApiError::RateLimited { retry_after_secs });
        }
        window.1 += 1;
        Ok(())
    }
}

/// The raw body, limited to 1 MiB, kept as bytes for the idempotency fingerprint.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge)
            }
            Err(rejection) => Err(ApiError::MalformedJson(rejection.body_text())),
        }
    }
}

impl Body {
    /// The body as `T`: 400 when it is not JSON, 422 when it is JSON of the wrong shape.
    /// An empty body reads as `{}`, so endpoints without fields accept no body at all.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let bytes: &[u8] = if self.0.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.0
        };
        serde_json::from_slice(bytes).map_err(|error| match error.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::MalformedJson(error.to_string())
            }
            serde_json::error::Category::Data | serde_json::error::Category::Io => {
                ApiError::InvalidBody(error.to_string())
            }
        })
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        ApiError::InvalidBody("the Idempotency-Key header must be visible ASCII".into())
    })?;
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::InvalidBody(
            "the Idempotency-Key header must be 1 to 255 characters".into(),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same" for an idempotency key: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
