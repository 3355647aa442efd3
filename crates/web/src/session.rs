//! Who is signed in: the session cookie (HttpOnly, SameSite=Lax, Secure behind https), the
//! CSRF token every form carries, the one-time key that makes a double click act once, and
//! the form body itself.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use orderly_domain::{Actor, Role};
use orderly_server::AppState;
use orderly_server::extract::Caller;
use orderly_store::Session;

use crate::html::see_other;

/// The session cookie's name.
pub const COOKIE: &str = "orderly_session";
/// The largest form body read (the evidence upload has its own route and limit).
pub const FORM_BYTES_MAX: usize = 64 * 1024;

/// A signed-in person: their session and the id their cookie holds.
#[derive(Clone, Debug)]
pub struct Signed {
    pub session: Session,
}

impl Signed {
    pub fn caller(&self) -> Caller {
        Caller(self.session.account.clone())
    }

    pub fn actor(&self) -> Actor {
        self.caller().actor()
    }

    pub fn role(&self) -> Role {
        self.session.account.role
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

/// The session cookie's value, if the browser sent one.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty() && value.len() <= 200)
}

/// The signed-in person, if any (a session that expired or whose account was revoked is
/// nobody).
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Signed>, Response> {
    let Some(id) = cookie(headers) else {
        return Ok(None);
    };
    match state.app.session(&id).await {
        Ok(Some(session)) => Ok(Some(Signed { session })),
        Ok(None) => Ok(None),
        Err(error) => Err(crate::pages::failure(error.into())),
    }
}

/// The signed-in person, or a redirect to the sign-in page that comes back to `path`. Each
/// page counts against the account's rate limit, as an API request does.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Signed, Response> {
    match current(state, headers).await? {
        Some(signed) => {
            state
                .limits
                .request(signed.session.account.id)
                .map_err(crate::pages::failure)?;
            Ok(signed)
        }
        None => Err(see_other(&format!(
            "/signin?return_to={}",
            form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        ))),
    }
}

/// Whether cookies must be `Secure`: the pages are reached over https.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.app.public_url().starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Sets the session cookie on `response`.
pub fn set_cookie(
    state: &AppState,
    headers: &HeaderMap,
    response: &mut Response,
    id: &str,
    max_age_secs: i64,
) {
    let secure = if secure(state, headers) {
        "; Secure"
    } else {
        ""
    };
    let value =
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Clears the session cookie on `response`.
pub fn clear_cookie(response: &mut Response) {
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("orderly_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
}

/// A page's query string, read leniently: what cannot be read is left at its default,
/// so a hand-edited address shows the page rather than an error.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Params(
            axum::extract::Query::<T>::try_from_uri(&parts.uri)
                .map(|query| query.0)
                .unwrap_or_default(),
        ))
    }
}

/// A one-time key for a form: sent back as the action's Idempotency-Key.
pub fn new_key() -> String {
    format!("form-{}", orderly_app::service::new_id().simple())
}

/// A submitted `application/x-www-form-urlencoded` body, field by field.
#[derive(Clone, Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(bytes)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The field's value, trimmed; `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.trim())
    }

    /// The field's value, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_owned()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|value| !value.is_empty())
    }

    /// The form's CSRF token must be the session's; otherwise the request is refused
    /// (403) and nothing is done.
    pub fn check_csrf(&self, signed: &Signed) -> Result<(), Response> {
        match self.get("csrf") {
            Some(token) if orderly_app::tokens::constant_time_eq(token, signed.csrf()) => Ok(()),
            _ => Err(crate::pages::message_page(
                axum::http::StatusCode::FORBIDDEN,
                "This form has expired",
                "The page was open too long or came from elsewhere. Go back, reload the page and try again.",
            )),
        }
    }

    /// The form's one-time key; a missing one gets a fresh key (the action then runs
    /// without double-click protection, as an API call without a key does).
    pub fn key(&self) -> String {
        self.get("idempotency_key")
            .filter(|key| {
                !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic())
            })
            .map_or_else(new_key, str::to_owned)
    }
}

/// Reads a form body of at most [`FORM_BYTES_MAX`].
pub async fn read_form(body: axum::body::Body) -> Result<Form, Response> {
    match axum::body::to_bytes(body, FORM_BYTES_MAX).await {
        Ok(bytes) => Ok(Form::parse(&bytes)),
        Err(_) => Err(crate::pages::message_page(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "That was too much text",
            "A form takes at most 64 KiB. Shorten the text and send it again.",
        )
        .into_response()),
    }
}
