//! orderly's web pages (SPEC 16.5), served by the same binary beside the API.
//!
//! - `session`: signing in (an API token or a one-time link), the session cookie, CSRF
//!   tokens and the one-time keys every form carries.
//! - `actions`: the form of every order action — its fields (the API's names), its label,
//!   and the confirmation a money action asks for.
//! - `view`: what the order page shows each person: the heading for their situation, the
//!   deadlines with what happens when they run out, the money, the history.
//! - `pages/*`: the handlers, one module per area: sign-in, orders, the catalogue, the
//!   seller's desk, the support desk.
//!
//! Handlers call the same use cases as the API (`orderly_app::App`, and the API's own
//! handlers for order actions through `orderly_server::dispatch`): there is no second path
//! to the data. Pages work without JavaScript; htmx, vendored, only makes them quicker.

#![forbid(unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "handlers return Result<_, Response> as axum's extractors do; a refusal is built once per request"
)]

mod actions;
mod assets;
mod format;
mod html;
mod pages;
mod session;
mod view;

use axum::Router;
use axum::routing::{get, post};
use orderly_server::{AppState, Pages};

/// The pages' routes, to mount beside the API with `orderly_server::app_with`.
pub fn pages() -> Pages {
    let router = Router::<AppState>::new()
        .route("/", get(pages::home::home))
        .route(
            "/signin",
            get(pages::signin::form).post(pages::signin::submit),
        )
        .route(
            "/signin/link/{token}",
            get(pages::signin::link_form).post(pages::signin::link_submit),
        )
        .route("/signin/email", post(pages::signin::email_link))
        .route("/signout", post(pages::signin::sign_out))
        .route("/catalogue", get(pages::catalogue::catalogue))
        .route(
            "/catalogue/{product_id}/order",
            post(pages::catalogue::place),
        )
        .route("/orders", get(pages::orders::list))
        .route("/orders/{id}", get(pages::orders::show))
        .route("/orders/{id}/actions/{action}", post(pages::orders::act))
        .route(
            "/orders/{id}/evidence",
            post(pages::orders::upload_evidence),
        )
        .route(
            "/orders/{id}/evidence/{evidence_id}",
            get(pages::orders::evidence_file),
        )
        .route("/seller", get(pages::seller::desk))
        .route(
            "/seller/products",
            get(pages::seller::products).post(pages::seller::create_product),
        )
        .route("/seller/products/{id}", post(pages::seller::update_product))
        .route("/admin", get(pages::admin::queue))
        .route("/admin/queue/{id}/assign", post(pages::admin::assign))
        .route("/admin/queue/{id}/resolve", post(pages::admin::resolve))
        .route("/admin/orders", get(pages::admin::orders))
        .route("/admin/sellers/{id}", get(pages::admin::seller))
        .route(
            "/admin/sellers/{id}/penalties",
            post(pages::admin::apply_penalty),
        )
        .route(
            "/admin/sellers/{id}/penalties/{penalty_id}/revoke",
            post(pages::admin::revoke_penalty),
        )
        .route(
            "/admin/accounts",
            get(pages::admin::accounts).post(pages::admin::create_account),
        )
        .route(
            "/admin/accounts/{id}/revoke",
            post(pages::admin::revoke_account),
        )
        .route(
            "/admin/accounts/{id}/signin-link",
            post(pages::admin::signin_link),
        )
        .route(
            "/admin/integrations",
            get(pages::admin::integrations).post(pages::admin::register_integration),
        )
        .route(
            "/admin/integrations/{id}/{operation}",
            post(pages::admin::integration_operation),
        )
        .route("/admin/outbox", get(pages::admin::outbox))
        .route(
            "/admin/outbox/{id}/{operation}",
            post(pages::admin::outbox_operation),
        )
        .route(
            "/admin/clock",
            get(pages::admin::clock).post(pages::admin::advance_clock),
        )
        .route("/assets/{name}", get(assets::asset));
    Pages {
        router,
        not_found: pages::not_found,
    }
}
