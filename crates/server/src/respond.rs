//! How a POST is answered: its `Idempotency-Key` checked first, the
//! work done, and the answer stored with the key so a retry replays it byte for byte.

use std::future::Future;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderly_app::{Idempotency, KeyedRequest, Render};
use orderly_domain::{Command, Order, OrderId};
use orderly_store::IdempotencyBegin;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, fingerprint, idempotency_key};

use orderly_app::IDEMPOTENCY_STALE_SECS;

/// The request's identity for idempotency: method, path and body bytes.
pub struct RequestKey<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

impl<'a> RequestKey<'a> {
    /// A POST to `uri` with `body`.
    pub fn post(uri: &'a axum::extract::OriginalUri, body: &'a crate::extract::Body) -> Self {
        Self {
            method: "POST",
            path: uri.path(),
            body: &body.0,
        }
    }
}

/// A JSON answer with its status.
pub fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_client_error() || status.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What to do with a key before the work starts.
enum Begin {
    NoKey,
    Started(KeyedRequest),
    Replay(Response),
}

async fn begin(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &RequestKey<'_>,
) -> Result<Begin, ApiError> {
    let Some(key) = idempotency_key(headers)? else {
        return Ok(Begin::NoKey);
    };
    begin_key(state, caller.id(), key, request).await
}

/// Reserves `key` for `account`, or says what happened to it before.
async fn begin_key(
    state: &AppState,
    account: orderly_domain::AccountId,
    key: String,
    request: &RequestKey<'_>,
) -> Result<Begin, ApiError> {
    let keyed = keyed_request(account, key, request);
    let begun = state
        .app
        .store
        .idempotency_begin(
            account,
            &keyed.key,
            &keyed.fingerprint,
            &keyed.owner,
            state.app.now(),
            IDEMPOTENCY_STALE_SECS,
        )
        .await
        .map_err(orderly_app::AppError::from)?;
    match begun {
        IdempotencyBegin::Started => Ok(Begin::Started(keyed)),
        used => used_key(used),
    }
}

/// The request under `key`, with a fresh owner for its claim.
fn keyed_request(
    account: orderly_domain::AccountId,
    key: String,
    request: &RequestKey<'_>,
) -> KeyedRequest {
    KeyedRequest {
        account_id: account,
        key,
        fingerprint: fingerprint(request.method, request.path, request.body),
        owner: orderly_app::service::new_id().to_string(),
    }
}

/// The answer to a request whose key was used before: the first answer replayed, or why
/// not (SPEC 15.20).
fn used_key(used: IdempotencyBegin) -> Result<Begin, ApiError> {
    match used {
        IdempotencyBegin::Done { status, body } => Ok(Begin::Replay(json_response(status, body))),
        other => Err(orderly_app::AppError::KeyUsed(other).into()),
    }
}

/// Stores a refusal as the key's answer, or releases the key after an unexpected failure
/// so that a retry runs again.
async fn finish_failed(state: &AppState, request: KeyedRequest, error: ApiError) -> Response {
    let problem = error.problem();
    if problem.status < 500 {
        let stored = request.answer(
            problem.status,
            serde_json::to_string(&problem).expect("a problem always serialises"),
        );
        if let Err(store_error) = state
            .app
            .store
            .idempotency_finish(stored, state.app.now())
            .await
        {
            tracing::warn!(error = %store_error, "could not store an idempotent refusal");
        }
    } else if let Err(store_error) = state
        .app
        .store
        .idempotency_release(request.account_id, &request.key)
        .await
    {
        tracing::warn!(error = %store_error, "could not release an idempotency key");
    }
    error.into_response()
}

/// Runs a command asked for as `action` through an order's action route, its answer
/// `render(order after)` stored atomically with it when a key was sent. Whether the caller
/// may see the order and take the action is checked in the command, on the order it
/// decides on (see [`orderly_app::App::command_as`]).
#[allow(clippy::too_many_arguments)]
pub async fn action(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    order_id: OrderId,
    action: orderly_domain::Action,
    command: Command,
    render: Render,
) -> Response {
    let actor = caller.actor();
    committed(state, caller, headers, request, render, |idempotency| {
        state
            .app
            .command_as(actor, order_id, action, command, idempotency)
    })
    .await
}

/// Places an order (its answer stored atomically like a command's).
pub async fn place(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    input: orderly_app::NewOrder,
    render: Render,
) -> Response {
    let buyer = caller.id();
    committed(state, caller, headers, request, render, |idempotency| {
        state.app.place_order(buyer, input, idempotency)
    })
    .await
}

/// "Order again": a new order like a finished one (answer stored like a command's).
pub async fn order_again(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    order_id: OrderId,
    render: Render,
) -> Response {
    let buyer = caller.id();
    committed(state, caller, headers, request, render, |idempotency| {
        state.app.order_again(buyer, order_id, idempotency)
    })
    .await
}

/// A command run by `run` (which gets the idempotency to store with it), answered with
/// `render`: for use cases beyond `App::command`, such as evidence uploads.
pub async fn committed_with<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    render: Render,
    run: F,
) -> Response
where
    F: FnOnce(Option<Idempotency>) -> Fut,
    Fut: Future<Output = Result<orderly_store::Committed, orderly_app::AppError>>,
{
    committed(state, caller, headers, request, render, run).await
}

/// The shared path of `command`, `place` and `order_again`: check the key, run the change with the
/// idempotent response to store in its transaction, answer with `render`.
async fn committed<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    render: Render,
    run: F,
) -> Response
where
    F: FnOnce(Option<Idempotency>) -> Fut,
    Fut: Future<Output = Result<orderly_store::Committed, orderly_app::AppError>>,
{
    // The key is claimed in the command's own commit: nothing is asked of the store yet.
    let keyed = idempotency_key(headers)
        .map(|key| key.map(|key| keyed_request(caller.id(), key, &request)));
    run_committed(state, keyed, render, run).await
}

/// A command from a carrier or payment provider: idempotent by the provider's own event
/// id (`key`), under the integration's id, with the answer stored in the command's
/// transaction; a repeated event answers as the first time and applies nothing again.
pub async fn provider_command(
    state: &AppState,
    integration: orderly_domain::AccountId,
    key: String,
    request: RequestKey<'_>,
    order_id: OrderId,
    command: Command,
    render: Render,
) -> Response {
    let keyed = Ok(Some(keyed_request(integration, key, &request)));
    let actor = orderly_domain::Actor::Provider(integration);
    run_committed(state, keyed, render, |idempotency| {
        state.app.command(actor, order_id, command, idempotency)
    })
    .await
}

async fn run_committed<F, Fut>(
    state: &AppState,
    keyed: Result<Option<KeyedRequest>, ApiError>,
    render: Render,
    run: F,
) -> Response
where
    F: FnOnce(Option<Idempotency>) -> Fut,
    Fut: Future<Output = Result<orderly_store::Committed, orderly_app::AppError>>,
{
    let started = match keyed {
        Err(error) => return error.into_response(),
        Ok(keyed) => keyed,
    };
    let idempotency = started.as_ref().map(|keyed| Idempotency {
        request: keyed.clone(),
        render: render.clone(),
    });
    match run(idempotency).await {
        // The answer stored with the key is the answer: rendered once, in the command.
        Ok(orderly_store::Committed {
            answer: Some((status, body)),
            ..
        }) => json_response(status, body),
        Ok(committed) => {
            let events: Vec<orderly_domain::Event> = committed
                .events
                .into_iter()
                .map(|stored| stored.event)
                .collect();
            let (status, body) = render(&committed.order, &events);
            json_response(status, body)
        }
        // Not this request's key: nothing ran, and nothing of the key is ours to finish.
        Err(orderly_app::AppError::KeyUsed(used)) => match used_key(used) {
            Ok(Begin::Replay(response)) => response,
            Ok(_) => ApiError::Unexpected(anyhow::anyhow!(
                "an idempotency key's state was not answered"
            ))
            .into_response(),
            Err(error) => error.into_response(),
        },
        Err(error) => match started {
            Some(keyed) => finish_failed(state, keyed, error.into()).await,
            None => ApiError::from(error).into_response(),
        },
    }
}

/// A POST whose work stores its own idempotent answer in its transaction: `work` gets the
/// reserved key (if one was sent) and passes `key.answer(..)` to the store call that does
/// the work. What the caller gets back may differ from what is stored (a new account's
/// token is shown once and never stored).
pub async fn keyed<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    work: F,
) -> Response
where
    F: FnOnce(Option<KeyedRequest>) -> Fut,
    Fut: Future<Output = Result<(u16, String), ApiError>>,
{
    let started = match begin(state, caller, headers, &request).await {
        Err(error) => return error.into_response(),
        Ok(Begin::Replay(response)) => return response,
        Ok(Begin::NoKey) => None,
        Ok(Begin::Started(keyed)) => Some(keyed),
    };
    match work(started.clone()).await {
        Ok((status, body)) => json_response(status, body),
        Err(error) => match started {
            Some(keyed) => finish_failed(state, keyed, error).await,
            None => error.into_response(),
        },
    }
}

/// A POST whose work is not one transaction (the test clock's advance): the work runs,
/// then its answer is stored with the key.
pub async fn simple<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RequestKey<'_>,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(u16, String), ApiError>>,
{
    let keyed = match begin(state, caller, headers, &request).await {
        Err(error) => return error.into_response(),
        Ok(Begin::Replay(response)) => return response,
        Ok(Begin::NoKey) => return respond(work().await),
        Ok(Begin::Started(keyed)) => keyed,
    };
    match work().await {
        Ok((status, body)) => {
            let stored = keyed.answer(status, body.clone());
            if let Err(error) = state
                .app
                .store
                .idempotency_finish(stored, state.app.now())
                .await
            {
                tracing::warn!(%error, "could not store an idempotent answer");
            }
            json_response(status, body)
        }
        Err(error) => finish_failed(state, keyed, error).await,
    }
}

fn respond(outcome: Result<(u16, String), ApiError>) -> Response {
    match outcome {
        Ok((status, body)) => json_response(status, body),
        Err(error) => error.into_response(),
    }
}

/// The usual answer to a command: the order document for the caller, with `status`.
pub fn order_render(state: &AppState, caller: &Caller, status: fn(&Order) -> u16) -> Render {
    let actor = caller.actor();
    let now = state.app.now();
    let policy = state.app.policy.clone();
    Arc::new(move |order: &Order, _: &[orderly_domain::Event]| {
        let document = crate::dto::OrderDocument::new(order, actor, now, &policy);
        (
            status(order),
            serde_json::to_string(&document).expect("an order document always serialises"),
        )
    })
}
