//! Signing in with an API token or a one-time link, and signing out (SPEC 16.5).

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orderly_app::sessions::valid_return_to;
use orderly_server::AppState;
use serde::Deserialize;

use crate::html::{Page, see_other};
use crate::pages::{Layout, failure, message_page};
use crate::session::{self, Params, read_form};

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    layout: Layout,
    return_to: String,
    error: Option<String>,
    /// Whether a link can be e-mailed (`[email]` is configured).
    can_email: bool,
    /// What was done with an e-mail request.
    sent: Option<String>,
}

impl SigninPage {
    /// The sign-in page that comes back to `return_to`.
    fn new(state: &AppState, return_to: String) -> Self {
        Self {
            layout: Layout::new("Sign in", None, ""),
            return_to,
            error: None,
            can_email: state.app.can_email(),
            sent: None,
        }
    }
}

#[derive(Template)]
#[template(path = "signin_link.html")]
struct LinkPage {
    layout: Layout,
    token: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

/// Where to go after signing in: `return_to` when it is one of the pages, else home.
fn destination(return_to: Option<&str>) -> String {
    return_to
        .filter(|path| valid_return_to(path) && !path.starts_with("/signin"))
        .unwrap_or("/")
        .to_owned()
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<ReturnTo>,
) -> Response {
    let return_to = query.return_to;
    if let Ok(Some(_)) = session::current(&state, &headers).await {
        return see_other(&destination(return_to.as_deref()));
    }
    Page::ok(SigninPage::new(&state, destination(return_to.as_deref()))).into_response()
}

/// E-mails a one-time sign-in link to the address, if an account has it. The answer is
/// the same either way, so the page cannot be used to find out who has an account; each
/// request counts against the address's sign-in limit, so it cannot flood an inbox.
pub async fn email_link(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let address = orderly_server::extract::client_address(&parts);
    let form = match read_form(body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let return_to = destination(form.get("return_to"));
    if let Err(limited) = state.limits.failed_sign_in(address) {
        return failure(limited);
    }
    let email = form.text("email");
    if let Err(error) = state.app.email_signin_links(&email, Some(&return_to)).await {
        return failure(error.into());
    }
    Page::ok(SigninPage {
        sent: Some(format!(
            "If an account has the address {email}, a sign-in link is on its way there. It works once, for 15 minutes."
        )),
        ..SigninPage::new(&state, return_to)
    })
    .into_response()
}

pub async fn submit(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let address = orderly_server::extract::client_address(&parts);
    let form = match read_form(body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let return_to = destination(form.get("return_to"));
    let token = form.text("token");
    let refused = |error: String, status: StatusCode| {
        Page::with_status(
            status,
            SigninPage {
                error: Some(error),
                ..SigninPage::new(&state, return_to.clone())
            },
        )
        .into_response()
    };
    if token.is_empty() || token.len() > 512 {
        return refused(
            "Paste the API token you were given; it starts with “ord_”.".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    match state.app.sign_in_with_token(&token).await {
        Ok(Some(started)) => {
            let mut response = see_other(&return_to);
            session::set_cookie(
                &state,
                &parts.headers,
                &mut response,
                &started.id,
                orderly_app::sessions::SESSION_LIFETIME.as_secs(),
            );
            response
        }
        Ok(None) => {
            if let Err(limited) = state.limits.failed_sign_in(address) {
                return failure(limited);
            }
            refused(
                "That token is not valid, or it was revoked. Check it and try again, or ask support for a new one.".into(),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(error) => failure(error.into()),
    }
}

pub async fn link_form(Path(token): Path<String>) -> Response {
    Page::ok(LinkPage {
        layout: Layout::new("Sign in with a link", None, ""),
        token,
    })
    .into_response()
}

pub async fn link_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let address = orderly_server::extract::client_address(&parts);
    if token.len() > 200 {
        return expired_link();
    }
    match state.app.sign_in_with_link(&token).await {
        Ok(Some((started, return_to))) => {
            let mut response = see_other(&destination(return_to.as_deref()));
            session::set_cookie(
                &state,
                &parts.headers,
                &mut response,
                &started.id,
                orderly_app::sessions::SESSION_LIFETIME.as_secs(),
            );
            response
        }
        Ok(None) => {
            if let Err(limited) = state.limits.failed_sign_in(address) {
                return failure(limited);
            }
            expired_link()
        }
        Err(error) => failure(error.into()),
    }
}

fn expired_link() -> Response {
    message_page(
        StatusCode::GONE,
        "This sign-in link no longer works",
        "A sign-in link works once, for 15 minutes. Ask for a new one, or sign in with your API token.",
    )
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let signed = match session::current(&state, &headers).await {
        Ok(Some(signed)) => signed,
        Ok(None) => return see_other("/signin"),
        Err(response) => return response,
    };
    let form = match read_form(request.into_body()).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    if let Err(response) = form.check_csrf(&signed) {
        return response;
    }
    if let Some(id) = session::cookie(&headers)
        && let Err(error) = state.app.sign_out(&id).await
    {
        return failure(error.into());
    }
    let mut response = see_other("/signin");
    session::clear_cookie(&mut response);
    response
}
