//! `ApiError`: every failure as `application/problem+json` (RFC 9457) with a stable `code`
//! and a sentence a person can act on. One `match`, one status per variant. 5xx bodies are
//! opaque; their cause is logged once here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderly_app::AppError;
use orderly_domain::Rejection;
use serde::Serialize;
use utoipa::ToSchema;

/// A problem document (RFC 9457) with orderly's stable code.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
pub struct Problem {
    /// `urn:orderly:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable code: `not_found`, `forbidden`, `invalid_transition`,
    /// `order_frozen`, `validation_failed`, `conflict`, `unauthorized`, `rate_limited`, ...
    pub code: String,
    /// The field at fault, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    Rejected(Rejection),
    /// No token, or a token nobody holds.
    Unauthorized,
    /// A callback whose signature, timestamp or integration is not valid.
    BadSignature,
    /// A carrier's scan for a carrier and tracking number no order shipped with.
    UnknownShipment,
    /// Body is not JSON at all.
    MalformedJson(String),
    /// JSON of the wrong shape: unknown fields, wrong types, missing fields.
    InvalidBody(String),
    /// A query string of the wrong shape.
    InvalidQuery(String),
    /// A JSON body field of the wrong type, missing, or unknown.
    InvalidField {
        field: String,
        detail: String,
    },
    PayloadTooLarge,
    /// An uploaded file above its own limit (evidence: 5 MiB).
    TooLarge(String),
    /// An uploaded file of a kind not accepted, or a body that is not the form expected.
    UnsupportedMedia(String),
    RouteNotFound,
    /// No account, product or seller with that id (orders use `Rejection::NotFound`).
    NoSuch(&'static str),
    MethodNotAllowed,
    OutOfStock(String),
    /// Lost a race or a clash.
    Conflict(String),
    /// A request with the same `Idempotency-Key` is still running: retry in a moment.
    InFlight,
    /// The same `Idempotency-Key` with another request.
    IdempotencyMismatch,
    RateLimited {
        retry_after_secs: u64,
    },
    /// Too many failed sign-ins from one address.
    AuthRateLimited {
        retry_after_secs: u64,
    },
    /// The database cannot be reached or answered too slowly; nothing was done.
    Unavailable(String),
    /// The database's disk is full; nothing was written.
    StorageFull,
    /// The request did not finish within the whole-request timeout.
    TimedOut,
    /// A background worker's last step failed (for `/readyz`).
    WorkerFailing(String),
    Unexpected(anyhow::Error),
}

/// How long a client should wait before retrying a 503, in seconds.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 2;
/// How long before retrying after a full disk: freeing space takes an operator.
pub const RETRY_AFTER_STORAGE_FULL_SECS: u64 = 30;

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Rejected(rejection) => ApiError::Rejected(rejection),
            AppError::OutOfStock(detail) => ApiError::OutOfStock(detail),
            AppError::Conflict => ApiError::Conflict(AppError::Conflict.to_string()),
            AppError::Unavailable(detail) => ApiError::Unavailable(detail),
            AppError::StorageFull => ApiError::StorageFull,
            AppError::NoSuch(what) => ApiError::NoSuch(what),
            AppError::UnsupportedMedia(detail) => ApiError::UnsupportedMedia(detail),
            AppError::TooLarge(detail) => ApiError::TooLarge(detail),
            AppError::KeyUsed(orderly_store::IdempotencyBegin::Mismatch) => {
                ApiError::IdempotencyMismatch
            }
            AppError::KeyUsed(orderly_store::IdempotencyBegin::InFlight) => ApiError::InFlight,
            // A replay is an answer, not an error: `respond` answers it before this.
            AppError::KeyUsed(begin) => ApiError::Unexpected(anyhow::anyhow!(
                "an idempotency key's state was not answered: {begin:?}"
            )),
            AppError::Unexpected(error) => ApiError::Unexpected(error),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        ApiError::Rejected(rejection)
    }
}

impl ApiError {
    /// The status and the problem document.
    pub fn problem(&self) -> Problem {
        let (status, code, detail, field) = match self {
            ApiError::Rejected(rejection) => {
                let status = match rejection {
                    Rejection::NotFound => StatusCode::NOT_FOUND,
                    Rejection::Forbidden { .. } => StatusCode::FORBIDDEN,
                    Rejection::OrderFrozen
                    | Rejection::InvalidTransition { .. }
                    | Rejection::Conflict { .. } => StatusCode::CONFLICT,
                    Rejection::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let field = match rejection {
                    Rejection::Validation { field, .. } => Some((*field).to_owned()),
                    _ => None,
                };
                (status, rejection.code(), sentence(&rejection.to_string()), field)
            }
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a valid API token as `Authorization: Bearer <token>`.".to_owned(),
                None,
            ),
            ApiError::BadSignature => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "The callback is not signed by a live integration: send Orderly-Integration and Orderly-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">), with the current secret and the current time.".to_owned(),
                None,
            ),
            ApiError::UnknownShipment => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_shipment",
                "No order was shipped with this carrier and tracking number.".to_owned(),
                Some("tracking_number".to_owned()),
            ),
            ApiError::MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("The body is not valid JSON: {detail}."),
                None,
            ),
            ApiError::InvalidBody(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                sentence(detail),
                None,
            ),
            ApiError::InvalidField { field, detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                sentence(&format!("{field}: {detail}")),
                Some(field.clone()),
            ),
            ApiError::InvalidQuery(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                sentence(detail),
                Some("query".to_owned()),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is larger than 1 MiB; send less.".to_owned(),
                None,
            ),
            ApiError::TooLarge(detail) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                sentence(detail),
                Some("file".to_owned()),
            ),
            ApiError::UnsupportedMedia(detail) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                sentence(detail),
                Some("file".to_owned()),
            ),
            ApiError::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such endpoint; see /api/openapi.json for the API.".to_owned(),
                None,
            ),
            ApiError::NoSuch(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("No {what} with that id exists."),
                None,
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This endpoint does not accept that method; see /api/openapi.json.".to_owned(),
                None,
            ),
            ApiError::OutOfStock(detail) => (StatusCode::CONFLICT, "out_of_stock", sentence(detail), None),
            ApiError::Conflict(detail) => (StatusCode::CONFLICT, "conflict", sentence(detail), None),
            ApiError::InFlight => (
                StatusCode::CONFLICT,
                "conflict",
                "A request with this Idempotency-Key is still being processed; retry in a moment.".to_owned(),
                None,
            ),
            ApiError::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different request; use a new key for a new request.".to_owned(),
                None,
            ),
            ApiError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many requests from this account; try again in {retry_after_secs} seconds."),
                None,
            ),
            ApiError::AuthRateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("Too many failed sign-ins from this address; try again in {retry_after_secs} seconds with a valid token."),
                None,
            ),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "answered 503: the database is unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("The service cannot reach its database right now; nothing was changed. Retry in {RETRY_AFTER_UNAVAILABLE_SECS} seconds (with the same Idempotency-Key)."),
                    None,
                )
            }
            ApiError::StorageFull => {
                tracing::error!("answered 503: the database's disk is full");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_full",
                    format!("The service's storage is full, so nothing was written. Retry in {RETRY_AFTER_STORAGE_FULL_SECS} seconds; the operator has been alerted."),
                    None,
                )
            }
            ApiError::WorkerFailing(detail) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "worker_failing",
                sentence(detail),
                None,
            ),
            ApiError::TimedOut => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("The request took too long and was stopped. Retry in {RETRY_AFTER_UNAVAILABLE_SECS} seconds with the same Idempotency-Key: it will not run twice."),
                None,
            ),
            ApiError::Unexpected(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed unexpectedly");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "Something went wrong on our side; the request may be retried with the same Idempotency-Key.".to_owned(),
                    None,
                )
            }
        };
        Problem {
            kind: format!("urn:orderly:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            field,
        }
    }
}

/// Capital first letter and a full stop, for the `detail` sentence.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The problem as an HTTP response.
pub fn problem_response(problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).expect("a problem always serialises");
    let mut response = (
        StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let mut response = problem_response(&problem);
        let retry_after = match self {
            ApiError::RateLimited { retry_after_secs }
            | ApiError::AuthRateLimited { retry_after_secs } => Some(retry_after_secs),
            ApiError::Unavailable(_) | ApiError::TimedOut | ApiError::WorkerFailing(_) => {
                Some(RETRY_AFTER_UNAVAILABLE_SECS)
            }
            ApiError::StorageFull => Some(RETRY_AFTER_STORAGE_FULL_SECS),
            ApiError::InFlight => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits are a valid header"),
            );
        }
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
