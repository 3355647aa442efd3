//! Rendering a template into a response, with the headers every page carries.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A rendered page with its status.
pub struct Page<T> {
    pub status: StatusCode,
    pub template: T,
}

impl<T: Template> Page<T> {
    pub fn ok(template: T) -> Self {
        Self {
            status: StatusCode::OK,
            template,
        }
    }

    pub fn with_status(status: StatusCode, template: T) -> Self {
        Self { status, template }
    }
}

impl<T: Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        match self.template.render() {
            Ok(body) => {
                let mut response = (self.status, body).into_response();
                page_headers(response.headers_mut());
                response
            }
            Err(error) => {
                tracing::error!(%error, "a page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be shown",
                )
                    .into_response()
            }
        }
    }
}

/// HTML, never cached (pages show live state), no framing, scripts only from here.
pub fn page_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// 303 See Other to `location`: after a form, the browser loads the page afresh.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
