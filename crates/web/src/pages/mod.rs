//! The page handlers, one module per area, and what every page shares: the layout (title,
//! navigation for the signed-in role, the sign-out form), error pages, and reading the
//! API's problem document back into a sentence for the page.

pub mod admin;
pub mod catalogue;
pub mod home;
pub mod orders;
pub mod seller;
pub mod signin;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orderly_domain::Role;
use orderly_server::error::ApiError;

use crate::html::Page;
use crate::session::Signed;

/// One link of the navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the layout around every page needs.
pub struct Layout {
    pub title: String,
    pub css: String,
    pub htmx: String,
    pub nav: Vec<NavLink>,
    /// The signed-in person's name and role, and the CSRF token for signing out.
    pub who: Option<(String, &'static str, String)>,
    /// A sentence after a successful action.
    pub flash: Option<String>,
}

impl Layout {
    pub fn new(title: impl Into<String>, signed: Option<&Signed>, current: &str) -> Self {
        let links: &[(&'static str, &'static str)] = match signed.map(Signed::role) {
            Some(Role::Buyer) => &[("/catalogue", "Catalogue"), ("/orders", "My orders")],
            Some(Role::Seller) => &[
                ("/seller", "Desk"),
                ("/orders", "Orders"),
                ("/seller/products", "Products"),
            ],
            Some(Role::Admin) => &[
                ("/admin", "Queue"),
                ("/admin/orders", "Orders"),
                ("/admin/accounts", "Accounts"),
                ("/admin/integrations", "Integrations"),
                ("/admin/outbox", "Outbox"),
                ("/catalogue", "Catalogue"),
            ],
            _ => &[],
        };
        Self {
            title: title.into(),
            css: crate::assets::css_path(),
            htmx: crate::assets::htmx_path(),
            nav: links
                .iter()
                .map(|(href, label)| NavLink {
                    href,
                    label,
                    current: *href == current,
                })
                .collect(),
            who: signed.map(|signed| {
                (
                    signed.session.account.name.clone(),
                    signed.role().code(),
                    signed.csrf().to_owned(),
                )
            }),
            flash: None,
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    layout: Layout,
    heading: String,
    text: String,
}

/// A page that says one thing: an error, or why something cannot be shown.
pub fn message_page(status: StatusCode, heading: &str, text: &str) -> Response {
    Page::with_status(
        status,
        MessagePage {
            layout: Layout::new(heading, None, ""),
            heading: heading.to_owned(),
            text: text.to_owned(),
        },
    )
    .into_response()
}

/// The page for a path that is neither a page nor under `/api`.
pub fn not_found() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. Use the links above, or go back.",
    )
}

/// A failure as a page: the problem's sentence, with its status.
pub fn failure(error: ApiError) -> Response {
    let problem = error.problem();
    if problem.status >= 500 {
        tracing::warn!(code = %problem.code, detail = %problem.detail, "a page failed");
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let heading = match problem.status {
        404 => "Not found",
        403 => "Not allowed",
        429 => "Too many requests",
        503 => "Try again in a moment",
        _ => "Something went wrong",
    };
    message_page(status, heading, &problem.detail)
}

/// The sentence and field of an API answer that refused, read back from its body.
pub struct Refusal {
    pub status: StatusCode,
    pub detail: String,
    pub field: Option<String>,
}

/// The API's answer: `Ok(body)` for success, the refusal otherwise.
pub async fn outcome(response: Response) -> Result<serde_json::Value, Refusal> {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    Err(Refusal {
        status,
        detail: body["detail"]
            .as_str()
            .unwrap_or("The request was refused; nothing changed.")
            .to_owned(),
        field: body["field"].as_str().map(str::to_owned),
    })
}
