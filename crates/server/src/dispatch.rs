//! An order action run by its code, as the web pages run them: the very handler of the
//! API route, with the same authorization, parsing, idempotency and answer. The pages send
//! the form's fields as the route's JSON body and the form's one-time key as its
//! `Idempotency-Key`, so a double-clicked button acts once.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use orderly_domain::Action;

use crate::AppState;
use crate::desk;
use crate::extract::{Body, Caller};
use crate::routes;

/// Runs `action` on the order `order_id` for `caller`, with `fields` as the body and `key`
/// as the Idempotency-Key; the API's answer. `path` is the page's path, which with the
/// body identifies the request for its key. `None` for an action no form runs this way
/// (evidence uploads go to their own page route, scans come from carriers).
pub async fn order_action(
    state: AppState,
    caller: Caller,
    order_id: String,
    action: Action,
    fields: serde_json::Value,
    key: &str,
    path: &str,
) -> Option<Response> {
    let mut fields = fields;
    match action {
        Action::RequestReturn => fields["kind"] = "return_and_refund".into(),
        Action::RequestRefund => fields["kind"] = "refund_only".into(),
        _ => {}
    }
    let (headers, uri) = (keyed_headers(key), page_uri(path));
    let refund_number = fields
        .get("refund_number")
        .and_then(|number| number.as_u64())
        .map(|number| number.to_string());
    if let Some(object) = fields.as_object_mut()
        && action == Action::RefundArrived
    {
        object.remove("refund_number");
    }
    if matches!(action, Action::AddEvidence | Action::RecordScan) {
        return None;
    }
    let body = Bytes::from(fields.to_string());
    Some(
        settled(|| {
            run(
                state.clone(),
                caller.clone(),
                order_id.clone(),
                action,
                (headers.clone(), uri.clone(), body.clone()),
                refund_number.clone(),
            )
        })
        .await,
    )
}

/// A double-clicked form sends its one-time key twice at once: the second request waits
/// for the first one's answer and replays it, rather than showing "still being processed".
async fn settled<F, Fut>(mut send: F) -> Response
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    for _ in 0..100 {
        let response = send().await;
        let in_flight = response.status() == StatusCode::CONFLICT
            && response.headers().contains_key(header::RETRY_AFTER);
        if !in_flight {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    send().await
}

/// The API handler of `action`, called with the page's request.
async fn run(
    state: AppState,
    caller: Caller,
    order_id: String,
    action: Action,
    (headers, uri, body): (HeaderMap, OriginalUri, Bytes),
    refund_number: Option<String>,
) -> Response {
    let body = Body(body);
    let s = State(state);
    let p = Path(order_id.clone());
    match action {
        Action::Pay => routes::pay(s, caller, p, headers, uri, body).await,
        Action::Cancel | Action::RequestCancellation => {
            routes::cancel(s, caller, p, headers, uri, body).await
        }
        Action::WithdrawCancellation => {
            routes::withdraw_cancellation(s, caller, p, headers, uri, body).await
        }
        Action::ApproveCancellation => {
            routes::approve_cancellation(s, caller, p, headers, uri, body).await
        }
        Action::RejectCancellation => {
            routes::reject_cancellation(s, caller, p, headers, uri, body).await
        }
        Action::EscalateCancellation => {
            routes::escalate_cancellation(s, caller, p, headers, uri, body).await
        }
        Action::DecideCancellation => {
            routes::decide_cancellation(s, caller, p, headers, uri, body).await
        }
        Action::SellerCancel => routes::seller_cancel(s, caller, p, headers, uri, body).await,
        Action::VerifyPayment => routes::verify_payment(s, caller, p, headers, uri, body).await,
        Action::Ship => routes::ship(s, caller, p, headers, uri, body).await,
        Action::UpdateTracking => routes::update_tracking(s, caller, p, headers, uri, body).await,
        Action::MarkDelivered => routes::deliver(s, caller, p, headers, uri, body).await,
        Action::RefuseDelivery => routes::refuse_delivery(s, caller, p, headers, uri, body).await,
        Action::ConfirmReceipt => routes::confirm_receipt(s, caller, p, headers, uri, body).await,
        Action::RequestReturn | Action::RequestRefund => {
            routes::open_return(s, caller, p, headers, uri, body).await
        }
        Action::OpenDispute => routes::open_dispute(s, caller, p, headers, uri, body).await,
        Action::RespondClaim => routes::respond_claim(s, caller, p, headers, uri, body).await,
        Action::AcceptOffer => routes::accept_offer(s, caller, p, headers, uri, body).await,
        Action::EscalateClaim => routes::escalate_claim(s, caller, p, headers, uri, body).await,
        Action::ResolveClaim => routes::resolve_claim(s, caller, p, headers, uri, body).await,
        Action::ReturnShipped => routes::return_shipped(s, caller, p, headers, uri, body).await,
        Action::ReturnReceived => routes::return_received(s, caller, p, headers, uri, body).await,
        Action::RequestExtension => {
            routes::request_extension(s, caller, p, headers, uri, body).await
        }
        Action::ApproveExtension => {
            routes::approve_extension(s, caller, p, headers, uri, body).await
        }
        Action::DeclineExtension => {
            routes::decline_extension(s, caller, p, headers, uri, body).await
        }
        Action::Message => routes::send_message(s, caller, p, headers, uri, body).await,
        Action::Freeze => routes::freeze(s, caller, p, headers, uri, body).await,
        Action::Unfreeze => routes::unfreeze(s, caller, p, headers, uri, body).await,
        Action::AdminCancel => routes::admin_cancel(s, caller, p, headers, uri, body).await,
        Action::OrderAgain => routes::order_again(s, caller, p, headers, uri, body).await,
        Action::ProposeCancellation => {
            routes::propose_cancellation(s, caller, p, headers, uri, body).await
        }
        Action::AcceptCancellationProposal => {
            routes::accept_cancellation_proposal(s, caller, p, headers, uri, body).await
        }
        Action::DeclineCancellationProposal => {
            routes::decline_cancellation_proposal(s, caller, p, headers, uri, body).await
        }
        Action::OfferPartialRefund => {
            routes::offer_partial_refund(s, caller, p, headers, uri, body).await
        }
        Action::AcceptPartialRefund => {
            routes::accept_partial_refund(s, caller, p, headers, uri, body).await
        }
        Action::DeclinePartialRefund => {
            routes::decline_partial_refund(s, caller, p, headers, uri, body).await
        }
        Action::ContactSupport => routes::contact_support(s, caller, p, headers, uri, body).await,
        Action::RefundArrived => {
            let number = refund_number.unwrap_or_default();
            routes::refund_arrived(s, caller, Path((order_id, number)), headers, uri, body).await
        }
        Action::AddNote => desk::add_note(s, caller, p, headers, uri, body).await,
        Action::AddEvidence | Action::RecordScan => {
            unreachable!("order_action answers None for these before it runs anything")
        }
    }
}

/// Runs the evidence upload of the API on a multipart request the page forwards.
pub async fn add_evidence(
    state: AppState,
    caller: Caller,
    order_id: String,
    key: &str,
    path: &str,
    request: axum::extract::Request,
) -> Response {
    let (headers, uri) = (keyed_headers(key), page_uri(path));
    routes::add_evidence(State(state), caller, Path(order_id), headers, uri, request).await
}

fn keyed_headers(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(key) {
        headers.insert("idempotency-key", value);
    }
    headers
}

fn page_uri(path: &str) -> OriginalUri {
    OriginalUri(
        path.parse::<Uri>()
            .unwrap_or_else(|_| Uri::from_static("/")),
    )
}

/// Runs the API's order placement with `fields` as its body and `key` as its
/// Idempotency-Key (the catalogue page's order form).
pub async fn place_order(
    state: AppState,
    caller: Caller,
    fields: serde_json::Value,
    key: &str,
    path: &str,
) -> Response {
    keyed_post(state, caller, fields, key, path, routes::place_order).await
}

/// Runs the API's product creation with `fields` as its body and `key` as its
/// Idempotency-Key (the seller's product form).
pub async fn create_product(
    state: AppState,
    caller: Caller,
    fields: serde_json::Value,
    key: &str,
    path: &str,
) -> Response {
    keyed_post(state, caller, fields, key, path, routes::create_product).await
}

/// Runs `route`, a keyed POST of the API without a path parameter, as a page's form.
async fn keyed_post<F, Fut>(
    state: AppState,
    caller: Caller,
    fields: serde_json::Value,
    key: &str,
    path: &str,
    route: F,
) -> Response
where
    F: Fn(State<AppState>, Caller, HeaderMap, OriginalUri, Body) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let (headers, uri, body) = (
        keyed_headers(key),
        page_uri(path),
        Bytes::from(fields.to_string()),
    );
    settled(|| {
        route(
            State(state.clone()),
            caller.clone(),
            headers.clone(),
            uri.clone(),
            Body(body.clone()),
        )
    })
    .await
}
