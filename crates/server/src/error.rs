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
    /// The stable code (SPEC 13): `not_found`, `forbidden`, `invalid_transition`,
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
    /// Body is not JSON at all.
    MalformedJson(String),
    /// JSON of the wrong shape: unknown fields, wrong types, missing fields.
    InvalidBody(String),
    PayloadTooLarge,
    RouteNotFound,
    MethodNotAllowed,
    OutOfStock(String),
    /// Lost a race, a duplicate idempotent request still running, or a clash.
    Conflict(String),
    /// The same `Idempotency-Key` with another request.
    IdempotencyMismatch,
    RateLimited {
        retry_after_secs: u64,
    },
    Unexpected(anyhow::Error),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Rejected(rejection) => ApiError::Rejected(rejection),
            AppError::OutOfStock(detail) => ApiError::OutOfStock(detail),
            AppError::Conflict => ApiError::Conflict(AppError::Conflict.to_string()),
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
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The body is larger than 1 MiB; send less.".to_owned(),
                None,
            ),
            ApiError::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such endpoint; see /api/openapi.json for the API.".to_owned(),
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
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after_secs.to_string())
                    .expect("digits are a valid header"),
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
