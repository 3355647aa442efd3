//! Carriers and payment providers: the admin's integrations, and the signed
//! callbacks through which they move orders. A callback is verified (HMAC-SHA256 over the
//! timestamp and the raw body, constant time, 5 minutes' tolerance) before anything else,
//! is idempotent by the provider's `event_id`, and runs as a command of the provider
//! through `decide`, with the same rules and races as the people who can do the same.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use orderly_domain::{AccountId, Command, Order, ScanStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::dto::Empty;
use crate::error::{ApiError, Problem};
use crate::extract::{Body, Caller};
use crate::respond::{self, RequestKey, json_response};
use crate::routes::require_admin;

// ---- Integrations --------------------------------------------------------------------------

/// `POST /api/v1/integrations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    #[schema(schema_with = crate::contract::integration_kind_schema)]
    pub kind: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
}

/// An integration; `secret` only when just issued (register, rotate), shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntegrationDocument {
    pub id: Uuid,
    /// `carrier` or `payment`.
    pub kind: String,
    pub name: String,
    /// Signs the callbacks; shown once, never stored. Null in lists and replays.
    pub secret: Option<String>,
    /// After a rotation, the previous secret works until then.
    pub previous_valid_until: Option<jiff::Timestamp>,
    pub revoked_at: Option<jiff::Timestamp>,
    pub created_at: jiff::Timestamp,
}

impl IntegrationDocument {
    fn new(integration: &orderly_store::Integration, secret: Option<String>) -> Self {
        Self {
            id: integration.id,
            kind: integration.kind.clone(),
            name: integration.name.clone(),
            secret,
            previous_valid_until: integration.previous_valid_until,
            revoked_at: integration.revoked_at,
            created_at: integration.created_at,
        }
    }
}

fn document(integration: &orderly_store::Integration, secret: Option<String>) -> String {
    serde_json::to_string(&IntegrationDocument::new(integration, secret)).expect("serialisable")
}

/// Every integration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntegrationList {
    pub integrations: Vec<IntegrationDocument>,
}

#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations",
    summary = "Register a carrier or payment provider (admin); its secret is shown once",
    request_body = IntegrationRequest,
    responses((status = 201, description = "The integration and its secret", body = IntegrationDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "register_integration")?;
        let input: IntegrationRequest = body.parse()?;
        // A replay answers the same integration without its secret, which is never stored.
        let (integration, secret) = state
            .app
            .register_integration(&input.kind, &input.name, |integration| {
                keyed.map(|keyed| keyed.answer(201, document(integration, None)))
            })
            .await?;
        Ok((201, document(&integration, Some(secret))))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    summary = "Every integration (admin), without secrets",
    responses((status = 200, description = "The integrations", body = IntegrationList), (status = "4XX", description = "Refused", body = Problem)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    require_admin(&caller, "read_integrations")?;
    let integrations = state.app.integrations().await?;
    let list = IntegrationList {
        integrations: integrations
            .iter()
            .map(|integration| IntegrationDocument::new(integration, None))
            .collect(),
    };
    Ok(json_response(
        200,
        serde_json::to_string(&list).expect("serialisable"),
    ))
}

fn integration_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse::<Uuid>()
        .map_err(|_| ApiError::NoSuch("integration"))
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate", tag = "integrations",
    summary = "Issue a new secret (admin); the old one keeps working for 24 hours",
    params(("id" = Uuid, Path)),
    request_body = Empty,
    responses((status = 200, description = "The integration and its new secret", body = IntegrationDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "rotate_integration")?;
        let _: Empty = body.parse()?;
        let id = integration_id(&id)?;
        let (integration, secret) = state
            .app
            .rotate_integration(id, |integration| {
                keyed.map(|keyed| keyed.answer(200, document(integration, None)))
            })
            .await?;
        Ok((200, document(&integration, Some(secret))))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/revoke", tag = "integrations",
    summary = "End an integration (admin): its callbacks are refused from now on",
    params(("id" = Uuid, Path)),
    request_body = Empty,
    responses((status = 200, description = "The integration after", body = IntegrationDocument), (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let request = RequestKey::post(&uri, &body);
    let (state, caller, body) = (&state, &caller, &body);
    let work = |keyed: Option<orderly_app::KeyedRequest>| async move {
        require_admin(caller, "revoke_integration")?;
        let _: Empty = body.parse()?;
        let id = integration_id(&id)?;
        let integration = state
            .app
            .revoke_integration(id, |integration| {
                keyed.map(|keyed| keyed.answer(200, document(integration, None)))
            })
            .await?;
        Ok((200, document(&integration, None)))
    };
    respond::keyed(state, caller, &headers, request, work).await
}

// ---- Callbacks -----------------------------------------------------------------------------

/// `POST /api/v1/callbacks/carrier`: one tracking scan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierCallback {
    /// The carrier's id for this event; a repeat answers as the first time.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[\x21-\x7e]+$")]
    pub event_id: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub carrier: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub tracking_number: String,
    #[schema(schema_with = crate::contract::scan_status_schema)]
    pub status: String,
    /// When the carrier scanned the parcel.
    pub at: jiff::Timestamp,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, max_length = 200)]
    pub location: Option<String>,
}

/// `POST /api/v1/callbacks/payment`: a payment verdict or a refund's settlement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentCallback {
    #[schema(min_length = 1, max_length = 200, pattern = r"^[\x21-\x7e]+$")]
    pub event_id: String,
    pub order_id: Uuid,
    #[schema(schema_with = crate::contract::payment_event_schema)]
    pub kind: String,
    pub at: jiff::Timestamp,
    /// The refund (its `id` in the order document), for `refund_settled`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, minimum = 1)]
    pub refund_number: Option<u32>,
}

/// What a callback did to its order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallbackAnswer {
    pub order_id: Uuid,
    /// The order's status after the callback.
    pub status: String,
    /// Whether the order moved; a scan for an order past that point is kept and changes
    /// nothing.
    pub changed: bool,
    pub detail: String,
}

/// The callback's signature checked before anything else is read: 401 alike for every
/// reason, the reason logged.
async fn verified(
    state: &AppState,
    headers: &HeaderMap,
    body: &Body,
    kind: &str,
) -> Result<orderly_store::Integration, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match state
        .app
        .verify_callback(
            header("orderly-integration"),
            header("orderly-signature"),
            &body.0,
            kind,
        )
        .await?
    {
        Ok(integration) => Ok(integration),
        Err(refused) => {
            tracing::warn!(%refused, kind, "a callback was refused");
            metrics::counter!("orderly_callbacks_total", "kind" => kind.to_owned(), "outcome" => "unauthorized").increment(1);
            Err(ApiError::BadSignature)
        }
    }
}

fn answer(order: &Order, changed: bool, detail: String) -> (u16, String) {
    let answer = CallbackAnswer {
        order_id: order.id.as_uuid(),
        status: order.status.code().to_owned(),
        changed,
        detail,
    };
    (200, serde_json::to_string(&answer).expect("serialisable"))
}

#[utoipa::path(post, path = "/api/v1/callbacks/carrier", tag = "integrations",
    summary = "A carrier's tracking scan, signed (Orderly-Integration, Orderly-Signature): kept on the order, and a delivery or a parcel back at the sender moves it",
    request_body = CarrierCallback,
    params(
        ("Orderly-Integration" = Uuid, Header, description = "The integration's id"),
        ("Orderly-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses(
        (status = 200, description = "Recorded; `changed` says whether the order moved", body = CallbackAnswer),
        (status = 401, description = "The signature, timestamp or integration is not valid; nothing changed", body = Problem),
        (status = "4XX", description = "Refused; nothing changed (422 `unknown_shipment`)", body = Problem)),
    security(()))]
pub async fn carrier(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let integration = match verified(&state, &headers, &body, "carrier").await {
        Ok(integration) => integration,
        Err(error) => return error.into_response(),
    };
    let parsed = (|| -> Result<(CarrierCallback, ScanStatus), ApiError> {
        let input: CarrierCallback = body.parse()?;
        let status = ScanStatus::parse(input.status.trim()).ok_or_else(|| ApiError::InvalidField {
            field: "status".into(),
            detail: format!(
                "`{}` is not a scan status; use in_transit, out_for_delivery, delivered, delivery_failed or returned_to_sender",
                input.status
            ),
        })?;
        Ok((input, status))
    })();
    let (input, status) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return error.into_response(),
    };
    let order_id = match state
        .app
        .store
        .order_by_shipment(&input.carrier, &input.tracking_number)
        .await
    {
        Ok(Some(order_id)) => order_id,
        Ok(None) => return ApiError::UnknownShipment.into_response(),
        Err(error) => return ApiError::from(orderly_app::AppError::from(error)).into_response(),
    };
    // Judged on this scan's own events, in its transaction: a status read before it would
    // race an admin acting at the same moment.
    let render: orderly_app::Render =
        std::sync::Arc::new(move |order: &Order, events: &[orderly_domain::Event]| {
            let changed = events.iter().any(|event| {
                !matches!(
                    event.kind,
                    orderly_domain::EventKind::TrackingScanned { .. }
                )
            });
            let detail = if changed {
                format!("the scan moved the order to {}", order.status.code())
            } else {
                format!(
                    "the scan is recorded; the order is {} and does not change",
                    order.status.code().replace('_', " ")
                )
            };
            answer(order, changed, detail)
        });
    metrics::counter!("orderly_callbacks_total", "kind" => "carrier", "outcome" => "accepted")
        .increment(1);
    let request = RequestKey::post(&uri, &body);
    respond::provider_command(
        &state,
        AccountId::from_uuid(integration.id),
        format!("callback:{}", input.event_id),
        request,
        order_id,
        Command::RecordScan {
            status,
            at: input.at,
            location: input.location,
        },
        render,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/callbacks/payment", tag = "integrations",
    summary = "A payment provider's verdict or a refund's settlement, signed (Orderly-Integration, Orderly-Signature)",
    request_body = PaymentCallback,
    params(
        ("Orderly-Integration" = Uuid, Header, description = "The integration's id"),
        ("Orderly-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses(
        (status = 200, description = "Applied", body = CallbackAnswer),
        (status = 401, description = "The signature, timestamp or integration is not valid; nothing changed", body = Problem),
        (status = "4XX", description = "Refused; nothing changed", body = Problem)),
    security(()))]
pub async fn payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Body,
) -> Response {
    let integration = match verified(&state, &headers, &body, "payment").await {
        Ok(integration) => integration,
        Err(error) => return error.into_response(),
    };
    let parsed = (|| -> Result<(PaymentCallback, Command), ApiError> {
        let input: PaymentCallback = body.parse()?;
        let command = match (input.kind.trim(), input.refund_number) {
            ("payment_verified", _) => Command::VerifyPayment { approved: true },
            ("payment_declined", _) => Command::VerifyPayment { approved: false },
            ("refund_settled", Some(number)) => Command::ConfirmRefundArrived { number },
            ("refund_settled", None) => {
                return Err(ApiError::InvalidField {
                    field: "refund_number".into(),
                    detail: "a refund_settled callback names the refund".into(),
                });
            }
            (other, _) => {
                return Err(ApiError::InvalidField {
                    field: "kind".into(),
                    detail: format!(
                        "`{other}` is not a kind; use payment_verified, payment_declined or refund_settled"
                    ),
                });
            }
        };
        Ok((input, command))
    })();
    let (input, command) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return error.into_response(),
    };
    let render: orderly_app::Render =
        std::sync::Arc::new(|order: &Order, _: &[orderly_domain::Event]| {
            answer(
                order,
                true,
                format!(
                    "applied; the order is {}",
                    order.status.code().replace('_', " ")
                ),
            )
        });
    metrics::counter!("orderly_callbacks_total", "kind" => "payment", "outcome" => "accepted")
        .increment(1);
    let request = RequestKey::post(&uri, &body);
    respond::provider_command(
        &state,
        AccountId::from_uuid(integration.id),
        format!("callback:{}", input.event_id),
        request,
        orderly_domain::OrderId::from_uuid(input.order_id),
        command,
        render,
    )
    .await
}
