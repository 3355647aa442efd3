//! `/`: the sign-in page for strangers, each role's own start page for everyone else.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use orderly_domain::Role;
use orderly_server::AppState;

use crate::html::see_other;
use crate::session;

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::current(&state, &headers).await {
        Ok(Some(signed)) => see_other(match signed.role() {
            Role::Seller => "/seller",
            Role::Admin => "/admin",
            _ => "/catalogue",
        }),
        Ok(None) => see_other("/signin"),
        Err(response) => response,
    }
}
