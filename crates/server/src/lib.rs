//! orderly's HTTP layer: the JSON API of SPEC 14 under `/api/v1`, the OpenAPI document at
//! `/api/openapi.json` (generated from the handlers and DTOs, not written by hand), the
//! interactive docs at `/api/docs`, health, readiness and Prometheus metrics. Errors are
//! `application/problem+json`. Knows HTTP; knows no SQL.

#![forbid(unsafe_code)]

pub mod callbacks;
pub mod contract;
pub mod desk;
pub mod dispatch;
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
use crate::extract::Limits;

/// The largest request body accepted.
pub const BODY_BYTES_MAX: usize = 1024 * 1024;

/// How the HTTP server guards itself: rate limits, timeouts, and who may read `/metrics`.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Requests per account per minute before 429; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// Failed sign-ins (missing or unknown tokens) per client address per minute before
    /// 429; 0 turns the limit off.
    pub failed_sign_ins_per_minute: u32,
    /// The longest a request may take before it is answered 503 and stopped.
    pub request_timeout: Duration,
    /// The longest a client may take to send a request's headers (slowloris).
    pub header_read_timeout: Duration,
    /// When set, `/metrics` answers only with `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Whether the API's router serves `/metrics` (off when metrics have their own address,
    /// see [`metrics_app`]).
    pub metrics_on_api: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 0,
            failed_sign_ins_per_minute: 0,
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            metrics_token: None,
            metrics_on_api: true,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub limits: Arc<Limits>,
    pub options: Arc<ServerOptions>,
}

impl AppState {
    pub fn new(app: Arc<App>, options: ServerOptions) -> Self {
        Self {
            app,
            limits: Arc::new(Limits::new(
                options.rate_limit_per_minute,
                options.failed_sign_ins_per_minute,
            )),
            options: Arc::new(options),
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
        (name = "orders", description = "Orders and every action on them"),
        (name = "accounts", description = "Accounts and API tokens"),
        (name = "catalogue", description = "Products and sellers"),
        (name = "messages", description = "The order's message thread"),
        (name = "integrations", description = "Carriers and payment providers, and their signed callbacks"),
        (name = "support desk", description = "The work queue, internal notes and penalties"),
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
        .routes(routes!(routes::me))
        .routes(routes!(routes::set_email))
        .routes(routes!(callbacks::register, callbacks::list))
        .routes(routes!(callbacks::rotate))
        .routes(routes!(callbacks::revoke))
        .routes(routes!(callbacks::carrier))
        .routes(routes!(callbacks::payment))
        .routes(routes!(desk::list_outbox))
        .routes(routes!(desk::retry_outbox))
        .routes(routes!(desk::skip_outbox))
        .routes(routes!(routes::revoke_account))
        .routes(routes!(routes::create_signin_link))
        .routes(routes!(routes::create_product, routes::list_products))
        .routes(routes!(routes::get_product, routes::update_product))
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
        .routes(routes!(routes::propose_cancellation))
        .routes(routes!(routes::accept_cancellation_proposal))
        .routes(routes!(routes::decline_cancellation_proposal))
        .routes(routes!(routes::offer_partial_refund))
        .routes(routes!(routes::accept_partial_refund))
        .routes(routes!(routes::decline_partial_refund))
        .routes(routes!(routes::contact_support))
        .routes(routes!(routes::refund_arrived))
        .routes(routes!(routes::add_evidence))
        .routes(routes!(routes::download_evidence))
        .routes(routes!(desk::list_queue))
        .routes(routes!(desk::assign_queue_item))
        .routes(routes!(desk::resolve_queue_item))
        .routes(routes!(desk::list_notes, desk::add_note))
        .routes(routes!(desk::list_penalties, desk::apply_penalty))
        .routes(routes!(desk::revoke_penalty))
        .routes(routes!(routes::healthz))
        .routes(routes!(routes::readyz));
    if test_clock {
        router = router.routes(routes!(routes::advance_clock));
    }
    router
}

/// The routes and the OpenAPI document as served (with the test-clock route when it is
/// on), after the whole-document pass of [`contract::Contract`].
fn routes_and_document(test_clock: bool) -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = api(test_clock).split_for_parts();
    contract::Contract.modify(&mut openapi);
    (router, openapi)
}

/// The OpenAPI document as served (with the test-clock route when it is on).
pub fn openapi(test_clock: bool) -> utoipa::openapi::OpenApi {
    routes_and_document(test_clock).1
}

/// The web pages mounted beside the API (the `orderly-web` crate): their routes, and the
/// page a browser gets for a path that is neither a page nor under `/api`.
pub struct Pages {
    pub router: axum::Router<AppState>,
    pub not_found: fn() -> Response,
}

/// The API alone: what tests of the API call.
pub fn app(state: AppState) -> Router {
    app_with(state, None)
}

/// The whole application, the API with the pages when given: what `serve` runs.
pub fn app_with(state: AppState, pages: Option<Pages>) -> Router {
    let (router, openapi) = routes_and_document(state.app.has_test_clock());
    let (router, page_not_found) = match pages {
        Some(pages) => (router.merge(pages.router), Some(pages.not_found)),
        None => (router, None),
    };
    let openapi_json = Arc::new(
        openapi
            .to_pretty_json()
            .expect("the OpenAPI document serialises"),
    );
    let request_id = HeaderName::from_static("x-request-id");
    let router = if state.options.metrics_on_api {
        router.route("/metrics", axum::routing::get(metrics_page))
    } else {
        router
    };
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let body = openapi_json.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body.as_str().to_owned()) }
            }),
        )
        .merge(utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/docs/openapi.json", openapi))
        .fallback(move |uri: axum::http::Uri| async move {
            match page_not_found {
                Some(page) if !uri.path().starts_with("/api/") => page(),
                _ => not_found().await,
            }
        })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .layer(middleware::from_fn(record_request))
        // The largest body any route takes (an evidence upload); JSON bodies stop at 1 MiB
        // in their own extractor.
        .layer(axum::extract::DefaultBodyLimit::max(routes::EVIDENCE_UPLOAD_BYTES_MAX))
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

/// Stops a request that runs longer than `request_timeout` and answers 503: a stuck
/// database or a slow client never holds a worker thread indefinitely. A command stopped
/// this way is rolled back (PostgreSQL) or answered before it runs (SQLite's queue); a
/// retry with the same Idempotency-Key finds out which.
async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.options.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

async fn not_found() -> Response {
    ApiError::RouteNotFound.into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

/// `/metrics` alone, for its own listening address (`[metrics] listen`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics_page))
        .fallback(not_found)
        .with_state(state)
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

async fn metrics_page(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.options.metrics_token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        if !orderly_app::tokens::constant_time_eq(given, token) {
            return ApiError::Unauthorized.into_response();
        }
    }
    if let Ok(backlog) = state.app.store.outbox_backlog().await {
        metrics::gauge!("orderly_outbox_backlog").set(backlog as f64);
    }
    if let Ok(counts) = state.app.store.outbox_counts().await {
        for (topic, status) in [
            ("webhook", "pending"),
            ("webhook", "dead"),
            ("email", "pending"),
            ("email", "dead"),
        ] {
            let count = counts
                .counts
                .iter()
                .find(|(t, s, _)| t == topic && s == status)
                .map_or(0, |(_, _, count)| *count);
            metrics::gauge!("orderly_outbox_messages", "topic" => topic, "status" => status)
                .set(count as f64);
        }
    }
    metrics::gauge!("orderly_rate_limiter_keys").set(state.limits.keys() as f64);
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
///
/// Each connection is HTTP/1.1 with a header-read timeout (a client that trickles its
/// headers is cut off: slowloris), and each request carries its peer address for the
/// per-address limit on failed sign-ins. Every minute the rate limiters forget idle keys.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`] with the web pages beside the API.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    pages: Option<Pages>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = prometheus();
    let header_read_timeout = state.options.header_read_timeout;
    let limits = Some(state.limits.clone());
    serve_router(
        listener,
        app_with(state, pages),
        header_read_timeout,
        limits,
        shutdown,
    )
    .await
}

/// Serves `router` the way [`serve`] does; `limits` are trimmed every minute.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: Duration,
    limits: Option<Arc<Limits>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut trim = tokio::time::interval(Duration::from_secs(60));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a moment, go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    let router = router.clone();
                    async move {
                        use tower::ServiceExt as _;
                        router.oneshot(request.map(axum::body::Body::new)).await
                    }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
                    .keep_alive(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            _ = trim.tick() => {
                if let Some(limits) = &limits {
                    limits.trim();
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    // Requests in flight finish (each is bounded by the request timeout); idle
    // keep-alive connections close at once.
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open 30 s after shutdown began");
    }
    Ok(())
}
