//! orderly's HTTP layer: the JSON API of SPEC 14 under `/api/v1`, the OpenAPI document at
//! `/api/openapi.json` (generated from the handlers and DTOs, not written by hand), the
//! interactive docs at `/api/docs`, health, readiness and Prometheus metrics. Errors are
//! `application/problem+json`. Knows HTTP; knows no SQL.

#![forbid(unsafe_code)]

pub mod dto;
pub mod error;
pub mod extract;
pub mod respond;
pub mod routes;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use orderly_app::App;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::RateLimiter;

/// The largest request body accepted (SPEC 13).
pub const BODY_BYTES_MAX: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub limiter: Arc<RateLimiter>,
}

impl AppState {
    pub fn new(app: Arc<App>, rate_limit_per_minute: u32) -> Self {
        Self {
            app,
            limiter: Arc::new(RateLimiter::new(rate_limit_per_minute)),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orderly",
        description = "Order lifecycle engine for marketplaces: cancellations, deadlines, refunds, returns, disputes, escrow. Errors are application/problem+json with a stable `code`. Every POST accepts an `Idempotency-Key` header.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "orders", description = "Orders and every action on them (SPEC 3 and 14)"),
        (name = "accounts", description = "Accounts and API tokens"),
        (name = "catalogue", description = "Products and sellers"),
        (name = "messages", description = "The order's message thread (SPEC 9)"),
        (name = "test clock", description = "Only with `serve --test-clock`"),
        (name = "operations", description = "Health, readiness")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every API route with its OpenAPI description. `test_clock` adds the test-clock route.
fn api(test_clock: bool) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::create_account))
        .routes(routes!(routes::revoke_account))
        .routes(routes!(routes::create_product))
        .routes(routes!(routes::get_product))
        .routes(routes!(routes::get_seller))
        .routes(routes!(routes::place_order, routes::list_orders))
        .routes(routes!(routes::get_order))
        .routes(routes!(routes::order_again))
        .routes(routes!(routes::order_events))
        .routes(routes!(routes::list_messages, routes::send_message))
        .routes(routes!(routes::pay))
        .routes(routes!(routes::verify_payment))
        .routes(routes!(routes::cancel))
        .routes(routes!(routes::withdraw_cancellation))
        .routes(routes!(routes::approve_cancellation))
        .routes(routes!(routes::reject_cancellation))
        .routes(routes!(routes::escalate_cancellation))
        .routes(routes!(routes::decide_cancellation))
        .routes(routes!(routes::seller_cancel))
        .routes(routes!(routes::ship))
        .routes(routes!(routes::update_tracking))
        .routes(routes!(routes::deliver))
        .routes(routes!(routes::refuse_delivery))
        .routes(routes!(routes::confirm_receipt))
        .routes(routes!(routes::open_return))
        .routes(routes!(routes::open_dispute))
        .routes(routes!(routes::respond_claim))
        .routes(routes!(routes::accept_offer))
        .routes(routes!(routes::escalate_claim))
        .routes(routes!(routes::resolve_claim))
        .routes(routes!(routes::return_shipped))
        .routes(routes!(routes::return_received))
        .routes(routes!(routes::request_extension))
        .routes(routes!(routes::approve_extension))
        .routes(routes!(routes::decline_extension))
        .routes(routes!(routes::freeze))
        .routes(routes!(routes::unfreeze))
        .routes(routes!(routes::admin_cancel))
        .routes(routes!(routes::healthz))
        .routes(routes!(routes::readyz));
    if test_clock {
        router = router.routes(routes!(routes::advance_clock));
    }
    router
}

/// The OpenAPI document as served (with the test-clock route when it is on).
pub fn openapi(test_clock: bool) -> utoipa::openapi::OpenApi {
    api(test_clock).split_for_parts().1
}

/// The whole application: what `serve` runs and what tests call.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = api(state.app.has_test_clock()).split_for_parts();
    let openapi_json = Arc::new(
        openapi
            .to_pretty_json()
            .expect("the OpenAPI document serialises"),
    );
    let request_id = HeaderName::from_static("x-request-id");
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let body = openapi_json.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body.as_str().to_owned()) }
            }),
        )
        .merge(utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/docs/openapi.json", openapi))
        .route("/metrics", axum::routing::get(metrics_page))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(record_request))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(CatchPanicLayer::custom(|_| ApiError::Unexpected(anyhow::anyhow!("a handler panicked")).into_response()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> Response {
    ApiError::RouteNotFound.into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

/// The process-wide Prometheus recorder, installed once.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .expect("the buckets are valid")
            .install_recorder()
            .expect("the Prometheus recorder installs once")
    })
}

async fn metrics_page(State(state): State<AppState>) -> Response {
    if let Ok(backlog) = state.app.store.outbox_backlog().await {
        metrics::gauge!("orderly_outbox_backlog").set(backlog as f64);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        prometheus().render(),
    )
        .into_response()
}

/// Records each request's latency by method, route and status.
#[allow(
    clippy::disallowed_methods,
    reason = "request latency is measured in real elapsed time"
)]
async fn record_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    metrics::histogram!(
        "orderly_http_request_duration_seconds",
        "method" => method_label(&method),
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(elapsed.as_secs_f64());
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; requests in flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = prometheus();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The webhook worker: delivers the outbox's webhooks every `poll` until `shutdown`.
pub async fn run_webhook_worker(
    app: Arc<App>,
    sender: orderly_app::delivery::WebhookSender,
    poll: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut shutdown = shutdown;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let busy = match sender.deliver_once(app.store.as_ref(), app.now()).await {
            Ok(round) => round.delivered + round.failed > 0,
            Err(error) => {
                tracing::error!(%error, "the webhook worker failed; retrying");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// How long idempotency records are kept (SPEC 15.20: at least 24 hours).
pub const IDEMPOTENCY_KEEP_HOURS: i64 = 24;

/// Deletes idempotency records older than [`IDEMPOTENCY_KEEP_HOURS`].
pub async fn purge_idempotency_records(app: &App, now: jiff::Timestamp) {
    let before = now - jiff::SignedDuration::from_hours(IDEMPOTENCY_KEEP_HOURS);
    match app.store.idempotency_purge(before).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "old idempotency records purged"),
        Err(error) => tracing::warn!(%error, "could not purge idempotency records"),
    }
}

/// The deadline worker: fires due deadlines every `poll` until `shutdown` resolves. On the
/// real clock it catches up after downtime: every missed deadline fires once, in due order.
/// Once an hour it also purges idempotency records older than 24 hours.
pub async fn run_deadline_worker(
    app: Arc<App>,
    poll: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut shutdown = shutdown;
    let mut last_purge: Option<jiff::Timestamp> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = app.now();
        if last_purge.is_none_or(|at| now.duration_since(at) >= jiff::SignedDuration::from_hours(1))
        {
            purge_idempotency_records(&app, now).await;
            last_purge = Some(now);
        }
        if !app.has_test_clock() {
            match app.run_due_deadlines(app.now()).await {
                Ok(0) => {}
                Ok(fired) => tracing::info!(fired, "deadlines fired"),
                Err(error) => {
                    tracing::error!(error = %error, "the deadline worker failed; retrying")
                }
            }
        }
        // Sleep until the next deadline, the poll interval, or shutdown.
        let wait = match app.store.next_deadline(app.now()).await {
            Ok(Some(next)) if !app.has_test_clock() => {
                let until = next.duration_since(app.now());
                Duration::try_from(until)
                    .unwrap_or(Duration::ZERO)
                    .min(poll)
            }
            _ => poll,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            _ = shutdown.changed() => return,
        }
    }
}
