//! Extractors: who is calling (bearer token, rate limits per account and per address), the
//! JSON body with our own error shapes, and the `Idempotency-Key` header.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use governor::Quota;
use governor::clock::Clock as _;
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
            // Accounts are buyers, sellers or admins; the other roles never sign in.
            Role::Admin | Role::System | Role::Provider => Actor::Admin(self.0.id),
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
        let address = client_address(parts);
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
            .filter(|token| !token.is_empty() && token.len() <= TOKEN_LEN_MAX);
        let account = match token {
            Some(token) => state.app.authenticate(token).await?,
            None => None,
        };
        let Some(account) = account else {
            // A failed sign-in counts against the client's address; past the limit the
            // answer is 429, so guessing tokens from one address goes nowhere.
            state.limits.failed_sign_in(address)?;
            return Err(ApiError::Unauthorized);
        };
        state.limits.request(account.id)?;
        Ok(Caller(account))
    }
}

/// The longest bearer token looked up; anything longer cannot be one of ours.
const TOKEN_LEN_MAX: usize = 512;

/// The peer's IP address, as the server loop recorded it (unspecified in tests that call
/// the router directly).
pub fn client_address(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

/// Most keys each limiter tracks. Beyond this, new keys share one bucket, so a flood of
/// addresses cannot make the limiter's memory grow without bound.
pub const LIMITER_KEYS_MAX: usize = 100_000;

type Keyed<K> = governor::DefaultKeyedRateLimiter<K>;

/// The rate limits: requests per account per minute, and failed sign-ins per client
/// address per minute. Both are GCRA limiters (governor) whose memory is bounded by
/// [`LIMITER_KEYS_MAX`] and trimmed by [`Limits::trim`].
pub struct Limits {
    per_account: Option<(Keyed<AccountId>, u32)>,
    failed_sign_ins: Option<(Keyed<IpAddr>, u32)>,
}

/// The key that stands for every address or account once a limiter is full.
const OVERFLOW_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::BROADCAST);
const OVERFLOW_ACCOUNT: AccountId = AccountId::from_uuid(uuid::Uuid::max());

impl Limits {
    /// `requests_per_minute` per account and `failed_sign_ins_per_minute` per address;
    /// 0 turns a limit off.
    pub fn new(requests_per_minute: u32, failed_sign_ins_per_minute: u32) -> Self {
        Self {
            per_account: keyed(requests_per_minute),
            failed_sign_ins: keyed(failed_sign_ins_per_minute),
        }
    }

    /// Counts one request of `account`; 429 past its limit.
    pub fn request(&self, account: AccountId) -> Result<(), ApiError> {
        let Some((limiter, _)) = &self.per_account else {
            return Ok(());
        };
        let key = if limiter.len() < LIMITER_KEYS_MAX {
            account
        } else {
            OVERFLOW_ACCOUNT
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| ApiError::RateLimited {
                retry_after_secs: retry_after(&not_until),
            })
    }

    /// Counts one failed sign-in from `address`; 429 past its limit.
    pub fn failed_sign_in(&self, address: IpAddr) -> Result<(), ApiError> {
        let Some((limiter, _)) = &self.failed_sign_ins else {
            return Ok(());
        };
        let key = if limiter.len() < LIMITER_KEYS_MAX {
            address
        } else {
            OVERFLOW_ADDRESS
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| ApiError::AuthRateLimited {
                retry_after_secs: retry_after(&not_until),
            })
    }

    /// Forgets keys whose bucket is full again; the server calls this every minute.
    pub fn trim(&self) {
        if let Some((limiter, _)) = &self.per_account {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some((limiter, _)) = &self.failed_sign_ins {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many keys the limiters hold now: for `/metrics`.
    pub fn keys(&self) -> usize {
        self.per_account
            .as_ref()
            .map_or(0, |(limiter, _)| limiter.len())
            + self
                .failed_sign_ins
                .as_ref()
                .map_or(0, |(limiter, _)| limiter.len())
    }
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<(Keyed<K>, u32)> {
    NonZeroU32::new(per_minute).map(|rate| {
        (
            governor::RateLimiter::keyed(Quota::per_minute(rate)),
            per_minute,
        )
    })
}

type LimiterInstant = <governor::clock::DefaultClock as governor::clock::Clock>::Instant;

fn retry_after(not_until: &governor::NotUntil<LimiterInstant>) -> u64 {
    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
    wait.as_secs().max(1)
}

/// The raw body, limited to 1 MiB, kept as bytes for the idempotency fingerprint.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    /// Reads at most 1 MiB and stops there: a larger body is refused before it
    /// is buffered whole. (The router's own limit is higher, for evidence uploads.)
    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::to_bytes(request.into_body(), crate::BODY_BYTES_MAX).await {
            Ok(bytes) => Ok(Body(bytes)),
            // The only way axum names this error is its message.
            Err(error) if error.to_string().contains("length limit") => {
                Err(ApiError::PayloadTooLarge)
            }
            Err(error) => Err(ApiError::MalformedJson(format!(
                "the body could not be read: {error}"
            ))),
        }
    }
}

impl Body {
    /// The body as `T`: 400 when it is not JSON, 422 when it is JSON of the wrong shape,
    /// naming the field at fault. An empty body reads as `{}`, so endpoints without fields
    /// accept no body at all. A whole number written as a float (`3.0`) counts as that
    /// integer, as JSON Schema says.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        // JSON's white space only: Rust's ASCII white space also counts the form feed.
        let json_space = |byte: &u8| matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
        let bytes: &[u8] = if self.0.iter().all(json_space) {
            b"{}"
        } else {
            &self.0
        };
        let mut value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
        // Every body of this API is an object; serde would read a struct from an array too
        // (`[]` as a body without fields, `["x"]` as one with a field), so say it here.
        if !value.is_object() {
            return Err(ApiError::InvalidField {
                field: "body".into(),
                detail: "the body must be a JSON object, such as {}".into(),
            });
        }
        integral_floats_to_integers(&mut value);
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let message = inner.to_string();
            // An unknown field is named by serde itself; the path may stop at its parent
            // or already end with it.
            let field = match message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once('`'))
            {
                Some((name, _)) if path == "." => name.to_owned(),
                Some((name, _)) if path == name || path.ends_with(&format!(".{name}")) => path,
                Some((name, _)) => format!("{path}.{name}"),
                None if path == "." => "body".to_owned(),
                None => path,
            };
            ApiError::InvalidField {
                field,
                detail: message,
            }
        })
    }
}

/// `3.0` → `3`, everywhere in the document: JSON does not tell integers from floats, and
/// a client generated from the schema may send either.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() < 9.0e15
            {
                *value = serde_json::Value::from(float as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(integral_floats_to_integers)
        }
        _ => {}
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| ApiError::InvalidField {
        field: "Idempotency-Key".into(),
        detail: "the header must be visible ASCII".into(),
    })?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(ApiError::InvalidField {
            field: "Idempotency-Key".into(),
            detail: "the header must be 1 to 255 visible ASCII characters, without spaces".into(),
        });
    }
    Ok(Some(key.to_owned()))
}

/// An optional field that may be left out but not sent as `null`: a client either says
/// something or nothing, so `{"text": "hi", "template": null}` is refused like any field
/// of the wrong type.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// What makes two requests "the same" for an idempotency key: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}
