//! The JSON shapes of the API: request bodies (unknown fields refused) and the
//! documents the API answers with. They derive the OpenAPI schemas; domain types never do.

use jiff::Timestamp;
use orderly_domain::order::{Claim, Order};
use orderly_domain::seller::SellerMetrics;
use orderly_domain::{Action, Actor, Policy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

// ---- Requests ------------------------------------------------------------------------------

/// `POST /api/v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// `buyer`, `seller` or `admin`.
    #[schema(schema_with = crate::contract::role_schema)]
    pub role: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Where the account's e-mails go.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, format = Email, max_length = 254)]
    pub email: Option<String>,
}

/// `POST /api/v1/accounts/{id}/email`: a new address, or `null` to stop e-mails.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
}

/// An account as `GET /api/v1/accounts/me` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountDocument {
    pub id: Uuid,
    /// `buyer`, `seller` or `admin`.
    pub role: String,
    pub name: String,
    pub email: Option<String>,
}

impl AccountDocument {
    pub fn new(account: &orderly_store::Account) -> Self {
        Self {
            id: account.id.as_uuid(),
            role: account.role.code().to_owned(),
            name: account.name.clone(),
            email: account.email.clone(),
        }
    }
}

/// One message of the outbox: a webhook or an e-mail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxEntryDocument {
    pub id: i64,
    pub order_id: Uuid,
    /// `webhook` or `email`.
    pub topic: String,
    /// Stable across retries; receivers de-duplicate on it.
    pub dedupe_key: String,
    /// `pending`, `dead`, `delivered` or `skipped`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub dead_at: Option<Timestamp>,
    /// What is sent: the webhook's body, or the e-mail's recipient, subject and text.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl OutboxEntryDocument {
    pub fn new(entry: &orderly_store::OutboxEntry) -> Self {
        Self {
            id: entry.id,
            order_id: entry.order_id.as_uuid(),
            topic: entry.topic.clone(),
            dedupe_key: entry.dedupe_key.clone(),
            status: entry.status.clone(),
            attempts: entry.attempts,
            last_error: entry.last_error.clone(),
            next_attempt_at: entry.next_attempt_at,
            created_at: entry.created_at,
            delivered_at: entry.delivered_at,
            dead_at: entry.dead_at,
            payload: serde_json::from_str(&entry.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A page of the outbox, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutboxList {
    pub messages: Vec<OutboxEntryDocument>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An amount with its currency.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MoneyDto {
    /// Minor units (cents), an integer.
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub amount: i64,
    /// ISO 4217, e.g. `EUR`.
    #[schema(schema_with = crate::contract::currency_schema)]
    pub currency: String,
}

/// A product's price: an amount with its currency, never nothing.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceDto {
    /// Minor units (cents), an integer, at least 1.
    #[schema(minimum = 1, maximum = 10_000_000_000_000_i64)]
    pub amount: i64,
    /// ISO 4217, e.g. `EUR`.
    #[schema(schema_with = crate::contract::currency_schema)]
    pub currency: String,
}

impl From<PriceDto> for MoneyDto {
    fn from(price: PriceDto) -> Self {
        MoneyDto {
            amount: price.amount,
            currency: price.currency,
        }
    }
}

/// `POST /api/v1/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    pub price: PriceDto,
    /// In the price's currency.
    pub shipping_fee: MoneyDto,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: i64,
    /// Handling time: the seller ships within this many days of payment.
    #[schema(minimum = 1, maximum = 365)]
    pub processing_days: u32,
}

/// One line of `POST /api/v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    pub product_id: Uuid,
    #[schema(minimum = 1, maximum = 999)]
    pub quantity: u32,
}

/// `POST /api/v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// One seller's products, in one currency.
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<OrderLineRequest>,
    /// The address as text fields, e.g. `{"name": "Ada", "street": "1 Main St", "city":
    /// "Berlin", "postal_code": "10115", "country": "DE"}`; its shape is the marketplace's.
    #[schema(schema_with = crate::contract::address_schema)]
    pub shipping_address: serde_json::Map<String, serde_json::Value>,
    #[schema(schema_with = crate::contract::payment_method_schema)]
    pub payment_method: String,
}

/// `POST /api/v1/orders/{id}/pay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The payment method actually used; defaults to the one chosen at placement.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, schema_with = crate::contract::payment_method_schema)]
    pub method: Option<String>,
}

/// `POST /api/v1/orders/{id}/verify-payment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPaymentRequest {
    #[schema(schema_with = crate::contract::outcome_schema)]
    pub outcome: String,
}

/// `POST /api/v1/orders/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[schema(schema_with = crate::contract::buyer_cancel_reason_schema)]
    pub reason: String,
    /// A message to the seller.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, max_length = 2000)]
    pub message: Option<String>,
    /// A complaint against the seller, for support; the seller never reads it.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, max_length = 2000)]
    pub complaint: Option<String>,
}

/// `POST /api/v1/orders/{id}/cancellation/reject`: why the seller refuses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// `POST /api/v1/orders/{id}/seller-cancel`: a seller-fault reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerCancelRequest {
    #[schema(schema_with = crate::contract::seller_cancel_reason_schema)]
    pub reason: String,
}

/// `POST /api/v1/orders/{id}/cancellation/escalate` and other message-carrying bodies.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub message: String,
}

/// `POST /api/v1/orders/{id}/cancellation/decide`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub approve: bool,
    /// Internal to the platform: the parties never read it.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
}

/// `POST /api/v1/orders/{id}/ship` and tracking updates.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub carrier: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub tracking_number: String,
}

/// `POST /api/v1/orders/{id}/returns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    #[schema(schema_with = crate::contract::return_kind_schema)]
    pub kind: String,
    #[schema(schema_with = crate::contract::return_reason_schema)]
    pub reason: String,
    /// Minor units; at most the items total (shipping is not refunded after shipment).
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub explanation: String,
}

/// `POST /api/v1/orders/{id}/disputes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeRequest {
    #[schema(schema_with = crate::contract::dispute_reason_schema)]
    pub reason: String,
    /// The refund wanted, in minor units; at most the items total.
    #[schema(minimum = 1)]
    pub amount: i64,
    #[serde(default)]
    pub return_item: bool,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub explanation: String,
}

/// `POST /api/v1/orders/{id}/claim/respond`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondRequest {
    #[schema(schema_with = crate::contract::decision_schema)]
    pub decision: String,
    /// The counter offer, below the ask; required with `counter`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false, minimum = 1)]
    pub amount: Option<i64>,
    /// Required with `reject` and `counter`.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub explanation: String,
}

/// `POST /api/v1/orders/{id}/claim/escalate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplanationRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub explanation: String,
}

/// `POST /api/v1/orders/{id}/claim/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// Minor units, 0 to what is still in escrow.
    #[schema(minimum = 0)]
    pub refund_amount: i64,
    #[serde(default)]
    pub return_required: bool,
    /// Who pays the return shipping when the item goes back; by the claim's fault side
    /// when left out.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(schema_with = crate::contract::fault_schema)]
    pub return_shipping_paid_by: Option<String>,
}

/// `POST /api/v1/orders/{id}/return/shipped`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub tracking_number: String,
}

/// `POST /api/v1/orders/{id}/protection-extension`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    #[schema(minimum = 1, maximum = 30)]
    pub days: u32,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// Admin notes (`freeze`, `unfreeze`, `admin-cancel`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Internal to the platform: the parties never read it.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
}

/// `POST /api/v1/orders/{id}/messages`: free text or a template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, max_properties = 1)]
pub struct SendMessageRequest {
    /// Free text; send either this or `template`.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S", nullable = false)]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(schema_with = crate::contract::template_schema)]
    pub template: Option<String>,
}

/// `POST /api/v1/test-clock/advance`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    #[schema(minimum = 1, maximum = 3_153_600_000_i64)]
    pub seconds: i64,
}

// ---- Support desk and settlements (SPEC 16.3, 16.4) ---------------------------------------

/// `POST /api/v1/orders/{id}/cancellation/propose`: the seller asks the buyer to cancel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// Any cancellation reason; its fault side counts (a seller-fault reason is a penalty).
    #[schema(schema_with = crate::contract::any_cancel_reason_schema)]
    pub reason: String,
}

/// `POST /api/v1/orders/{id}/partial-refund`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartialRefundRequest {
    /// Minor units; more than 0 and at most what is still held (it may include shipping).
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// `POST /api/v1/orders/{id}/support` and other bodies with one message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub message: String,
}

/// `POST /api/v1/orders/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteTextRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub text: String,
}

/// An internal note on an order (admins only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoteDocument {
    /// The note's place in the order's history.
    pub id: u64,
    pub text: String,
    pub author_id: Option<Uuid>,
    pub created_at: Timestamp,
}

/// A page of internal notes, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoteList {
    pub notes: Vec<NoteDocument>,
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/admin/queue/{id}/assign`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// An admin's account; the caller when left out.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(nullable = false)]
    pub assignee_id: Option<Uuid>,
}

/// `POST /api/v1/admin/queue/{id}/resolve` and `…/penalties/{id}/revoke`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveNoteRequest {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub note: String,
}

/// One item of the support desk's work queue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueItemDocument {
    pub id: Uuid,
    /// `cancellation_escalated`, `claim_escalated`, `complaint`, `refund_overdue`,
    /// `support_request`, `payment_verification` or `delivery_dead`.
    pub kind: String,
    pub order_id: Uuid,
    pub seller_id: Uuid,
    pub summary: String,
    pub created_at: Timestamp,
    /// When support should have acted; null for items without a deadline.
    pub due_at: Option<Timestamp>,
    /// `open` or `done`.
    pub status: String,
    pub assignee_id: Option<Uuid>,
    pub resolved_at: Option<Timestamp>,
    /// Null when the order's own action settled it.
    pub resolved_by: Option<Uuid>,
    pub resolution_note: Option<String>,
}

impl QueueItemDocument {
    pub fn new(item: &orderly_store::QueueItem) -> Self {
        Self {
            id: item.id,
            kind: item.kind.clone(),
            order_id: item.order_id.as_uuid(),
            seller_id: item.seller_id.as_uuid(),
            summary: item.summary.clone(),
            created_at: item.created_at,
            due_at: item.due_at,
            status: item.status.clone(),
            assignee_id: item.assignee_id.map(|id| id.as_uuid()),
            resolved_at: item.resolved_at,
            resolved_by: item.resolved_by.map(|id| id.as_uuid()),
            resolution_note: item.resolution_note.clone(),
        }
    }
}

/// A page of the queue: open items first by due time (none last), then by creation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueList {
    pub items: Vec<QueueItemDocument>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/sellers/{id}/penalties`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PenaltyRequest {
    #[schema(minimum = 1, maximum = 10)]
    pub points: u32,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// A penalty of a seller: applied by the engine (`automatic`) or by support (`manual`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PenaltyDocument {
    pub id: i64,
    pub points: u32,
    pub reason: String,
    /// `automatic` or `manual`.
    pub source: String,
    /// The order it came from, for automatic ones.
    pub order_id: Option<Uuid>,
    pub created_at: Timestamp,
    /// Set once revoked; a revoked penalty no longer counts in the rating.
    pub revoked_at: Option<Timestamp>,
    pub revoke_note: Option<String>,
}

impl PenaltyDocument {
    pub fn new(penalty: &orderly_store::Penalty) -> Self {
        Self {
            id: penalty.id,
            points: penalty.points,
            reason: penalty.reason.clone(),
            source: penalty.source.clone(),
            order_id: penalty.order_id.map(|id| id.as_uuid()),
            created_at: penalty.created_at,
            revoked_at: penalty.revoked_at,
            revoke_note: penalty.revoke_note.clone(),
        }
    }
}

/// A seller's penalties, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PenaltyList {
    pub penalties: Vec<PenaltyDocument>,
}

/// An evidence file on a claim.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvidenceDocument {
    pub id: Uuid,
    pub filename: String,
    /// `image/jpeg`, `image/png`, `image/webp` or `application/pdf`.
    pub content_type: String,
    pub size: u64,
    /// `buyer` or `seller`.
    pub uploaded_by: String,
    pub uploaded_at: Timestamp,
    pub note: Option<String>,
}

/// `POST /api/v1/orders/{id}/claim/evidence`: a multipart form.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "describes the multipart form for the OpenAPI document"
)]
pub struct EvidenceUpload {
    /// The file: JPEG, PNG, WebP or PDF (judged by content), at most 5 MiB.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// What the file shows.
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// The seller's proposal that the buyer cancel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalDto {
    pub reason: String,
    pub reason_text: String,
    /// `pending`, `accepted`, `declined` or `lapsed`.
    pub status: String,
    pub proposed_at: Timestamp,
}

/// The seller's offer of a partial refund by agreement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartialRefundDto {
    pub amount: i64,
    pub reason: String,
    /// `pending`, `accepted`, `declined` or `lapsed`.
    pub status: String,
    pub offered_at: Timestamp,
}

/// An empty body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

// ---- Responses -----------------------------------------------------------------------------

/// A new account and its token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountCreated {
    pub id: Uuid,
    pub role: String,
    pub name: String,
    pub email: Option<String>,
    /// The API token, shown once. A replay of the same request (same `Idempotency-Key`)
    /// answers `null`: tokens are never stored in plain text.
    pub token: Option<String>,
}

/// `POST /api/v1/accounts/{id}/signin-link`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninLinkRequest {
    /// Where the browser goes once signed in: a path of the pages (`/orders/{id}`,
    /// `/seller`, ...); the caller's home when absent.
    #[schema(
        max_length = 500,
        pattern = r"^/((orders|catalogue|seller|admin|signin)([/?][A-Za-z0-9/_\-?=&.%]*)?)?$"
    )]
    pub return_to: Option<String>,
}

/// A one-time sign-in link: usable once, for 15 minutes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SigninLinkCreated {
    /// Open it in a browser to be signed in. A replay of the same request (same
    /// `Idempotency-Key`) answers `null`: links are never stored in plain text.
    pub url: Option<String>,
    pub expires_at: jiff::Timestamp,
}

/// `PATCH /api/v1/products/{id}`: each field given is changed; the others stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
    /// In the product's currency.
    pub price: Option<PriceDto>,
    /// In the product's currency.
    pub shipping_fee: Option<MoneyDto>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: Option<i64>,
    #[schema(minimum = 1, maximum = 365)]
    pub processing_days: Option<u32>,
}

/// A page of products, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductDocument>,
    /// Pass as `after` for the next page; `null` on the last one.
    pub next_cursor: Option<Uuid>,
}

/// A revoked account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountRevoked {
    pub id: Uuid,
    pub revoked: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductDocument {
    pub id: Uuid,
    pub seller_id: Uuid,
    pub title: String,
    pub price: MoneyDto,
    pub shipping_fee: MoneyDto,
    pub stock: i64,
    pub processing_days: u32,
}

/// A seller as buyers see it before they order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SellerDocument {
    pub id: Uuid,
    pub name: String,
    pub rating: RatingDto,
}

/// The seller's rating over the last 90 days.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RatingDto {
    /// 0 to 100.
    pub score: u32,
    /// `new`, `excellent`, `good`, `fair` or `poor`.
    pub level: String,
    pub window_days: i64,
    pub orders: u32,
    pub paid_orders: u32,
    pub completed_orders: u32,
    pub seller_fault_cancellations: u32,
    pub cancellation_requests: u32,
    pub average_response_hours: Option<i64>,
    pub on_time_shipment_percent: Option<u32>,
    pub disputes_opened: u32,
    pub disputes_lost: u32,
    pub penalty_points: u32,
}

impl RatingDto {
    pub fn new(metrics: &SellerMetrics, window_days: i64) -> Self {
        let rating = metrics.rating();
        Self {
            score: rating.score,
            level: rating.level.to_owned(),
            window_days,
            orders: metrics.orders,
            paid_orders: metrics.paid_orders,
            completed_orders: metrics.completed_orders,
            seller_fault_cancellations: metrics.seller_fault_cancellations,
            cancellation_requests: metrics.cancellation_requests,
            average_response_hours: rating.average_response_hours,
            on_time_shipment_percent: rating.on_time_shipment_percent,
            disputes_opened: metrics.disputes_opened,
            disputes_lost: metrics.disputes_lost,
            penalty_points: metrics.penalty_points,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineDto {
    pub product_id: Uuid,
    pub title: String,
    pub quantity: u32,
    pub unit_price: i64,
    pub shipping_fee: i64,
    pub total: i64,
    pub processing_days: u32,
}

/// The latest cancellation request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancellationDto {
    /// `pending`, `approved`, `auto_approved`, `rejected`, `withdrawn`, `void`,
    /// `escalated` or `superseded`.
    pub status: String,
    pub reason: String,
    pub reason_text: String,
    pub message: Option<String>,
    pub requested_at: Timestamp,
    /// When the seller must answer; null unless pending.
    pub respond_by: Option<Timestamp>,
    pub rejection_reason: Option<String>,
}

/// The open (or latest) return, refund-only claim, dispute or refused delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimDto {
    /// `return_and_refund`, `refund_only`, `dispute` or `refused_delivery`.
    pub kind: String,
    pub reason: String,
    /// `awaiting_seller`, `counter_offered`, `rejected`, `escalated`, `return_approved`,
    /// `return_in_transit`, `resolved` or `closed`.
    pub status: String,
    pub open: bool,
    pub amount: i64,
    pub return_item: bool,
    pub explanation: String,
    pub opened_at: Timestamp,
    pub offer: Option<i64>,
    pub agreed_refund: Option<i64>,
    /// `buyer` or `seller`.
    pub return_shipping_paid_by: Option<String>,
    pub return_tracking_number: Option<String>,
    pub refund: Option<i64>,
    /// Evidence files, oldest first; `GET …/claim/evidence/{id}` downloads one.
    pub evidence: Vec<EvidenceDocument>,
}

impl ClaimDto {
    fn new(claim: &Claim) -> Self {
        Self {
            kind: claim.kind.code().to_owned(),
            reason: claim.reason.code().to_owned(),
            status: claim.status.code().to_owned(),
            open: claim.is_open(),
            amount: claim.amount_asked_minor,
            return_item: claim.return_item,
            explanation: claim.explanation.clone(),
            opened_at: claim.opened_at,
            offer: claim.offer_minor,
            agreed_refund: claim.agreed_refund_minor,
            return_shipping_paid_by: claim
                .return_shipping_paid_by
                .map(|fault| fault.code().to_owned()),
            return_tracking_number: claim.return_tracking_number.clone(),
            refund: claim.refund_minor,
            evidence: claim
                .evidence
                .iter()
                .map(|file| EvidenceDocument {
                    id: file.id.as_uuid(),
                    filename: file.filename.clone(),
                    content_type: file.content_type.clone(),
                    size: file.size,
                    uploaded_by: file.uploaded_by.code().to_owned(),
                    uploaded_at: file.uploaded_at,
                    note: file.note.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadlineDto {
    pub kind: String,
    /// When it fires; while paused, when it would have fired when it was paused.
    pub due_at: Timestamp,
    pub paused: bool,
    /// Seconds left while paused.
    pub remaining_seconds: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundDto {
    /// The refund's id within the order (`…/refunds/{id}/arrived`).
    pub id: u32,
    pub number: u32,
    pub amount: i64,
    /// `card`, `paypal`, `e_wallet`, `platform_wallet` or `voucher`.
    pub destination: String,
    pub sent_at: Timestamp,
    pub expected_by: Timestamp,
    /// When it was reported as arrived; null while on its way.
    pub arrived_at: Option<Timestamp>,
    /// Flagged for support: not arrived by its expected date.
    pub overdue: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EscrowDto {
    pub held: i64,
    pub released: i64,
    pub refunded: i64,
    pub captured: i64,
}

/// One carrier scan.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanDto {
    /// `in_transit`, `out_for_delivery`, `delivered`, `delivery_failed` or
    /// `returned_to_sender`.
    pub status: String,
    pub at: Timestamp,
    pub location: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShipmentDto {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExtensionDto {
    pub days: u32,
    pub reason: String,
    /// `pending`, `approved` or `declined`.
    pub status: String,
    pub requested_at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndingDto {
    pub reason: String,
    pub reason_text: String,
    /// `buyer` or `seller`.
    pub fault: String,
}

/// The order as the caller sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderDocument {
    pub id: Uuid,
    /// The short number used in messages.
    pub number: String,
    pub status: String,
    pub buyer_id: Uuid,
    pub seller_id: Uuid,
    pub lines: Vec<LineDto>,
    pub currency: String,
    pub items_total: i64,
    pub shipping_fee: i64,
    /// Items plus shipping, in minor units.
    pub total: i64,
    pub payment_method: String,
    /// The address fields as the buyer gave them.
    #[schema(value_type = Object)]
    pub shipping_address: std::collections::BTreeMap<String, String>,
    pub placed_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub cancellation_request: Option<CancellationDto>,
    pub frozen: bool,
    /// The open return, refund-only claim, dispute or refused delivery; null when none is
    /// open.
    pub claim: Option<ClaimDto>,
    /// The latest claim in any state, including settled or closed ones.
    pub latest_claim: Option<ClaimDto>,
    pub shipment: Option<ShipmentDto>,
    /// The carrier's scans, oldest first.
    pub tracking: Vec<ScanDto>,
    pub delivered_at: Option<Timestamp>,
    pub extension: Option<ExtensionDto>,
    /// The seller's latest proposal that the buyer cancel.
    pub cancellation_proposal: Option<ProposalDto>,
    /// The seller's latest partial-refund offer.
    pub partial_refund_offer: Option<PartialRefundDto>,
    /// When the buyer confirmed receipt.
    pub receipt_confirmed_at: Option<Timestamp>,
    pub deadlines: Vec<DeadlineDto>,
    pub refunds: Vec<RefundDto>,
    pub escrow: EscrowDto,
    /// How a closed or cancelled order ended.
    pub ending: Option<EndingDto>,
    /// The action codes the caller may take now.
    pub allowed_actions: Vec<String>,
    /// What the seeds advise the caller to do now.
    pub guidance: String,
    pub version: u64,
}

impl OrderDocument {
    pub fn new(order: &Order, actor: Actor, now: Timestamp, policy: &Policy) -> Self {
        let allowed: Vec<Action> = orderly_domain::allowed_actions(order, actor, now, policy);
        Self {
            id: order.id.as_uuid(),
            number: order.number(),
            status: order.status.code().to_owned(),
            buyer_id: order.buyer_id.as_uuid(),
            seller_id: order.seller_id.as_uuid(),
            lines: order
                .lines
                .iter()
                .map(|line| LineDto {
                    product_id: line.product_id.as_uuid(),
                    title: line.title.clone(),
                    quantity: line.quantity,
                    unit_price: line.unit_price_minor,
                    shipping_fee: line.shipping_fee_minor,
                    total: line.total_minor(),
                    processing_days: line.processing_days,
                })
                .collect(),
            currency: order.currency.code().to_owned(),
            items_total: order.items_total_minor,
            shipping_fee: order.shipping_fee_minor,
            total: order.total_minor(),
            payment_method: order.payment_method.code().to_owned(),
            shipping_address: order.shipping_address.fields().clone(),
            placed_at: order.placed_at,
            paid_at: order.paid_at,
            cancellation_request: order.cancellation.as_ref().map(|request| CancellationDto {
                status: request.status.code().to_owned(),
                reason: request.reason.code().to_owned(),
                reason_text: request.reason.text().to_owned(),
                message: request.message.clone(),
                requested_at: request.requested_at,
                respond_by: request.respond_by,
                rejection_reason: request.rejection_reason.clone(),
            }),
            frozen: order.frozen,
            claim: order.open_claim().map(ClaimDto::new),
            latest_claim: order.claim.as_ref().map(ClaimDto::new),
            shipment: order.shipment.as_ref().map(|shipment| ShipmentDto {
                carrier: shipment.carrier.clone(),
                tracking_number: shipment.tracking_number.clone(),
                shipped_at: shipment.shipped_at,
            }),
            tracking: order
                .tracking
                .iter()
                .map(|scan| ScanDto {
                    status: scan.status.code().to_owned(),
                    at: scan.at,
                    location: scan.location.clone(),
                })
                .collect(),
            delivered_at: order.delivered_at,
            extension: order.extension.as_ref().map(|extension| ExtensionDto {
                days: extension.days,
                reason: extension.reason.clone(),
                status: match extension.status {
                    orderly_domain::order::ExtensionStatus::Pending => "pending",
                    orderly_domain::order::ExtensionStatus::Approved => "approved",
                    orderly_domain::order::ExtensionStatus::Declined => "declined",
                }
                .to_owned(),
                requested_at: extension.requested_at,
            }),
            cancellation_proposal: order.proposal.as_ref().map(|proposal| ProposalDto {
                reason: proposal.reason.code().to_owned(),
                reason_text: proposal.reason.text().to_owned(),
                status: proposal.status.code().to_owned(),
                proposed_at: proposal.proposed_at,
            }),
            partial_refund_offer: order.partial_refund_offer.as_ref().map(|offer| {
                PartialRefundDto {
                    amount: offer.amount_minor,
                    reason: offer.reason.clone(),
                    status: offer.status.code().to_owned(),
                    offered_at: offer.offered_at,
                }
            }),
            receipt_confirmed_at: order.receipt_confirmed_at,
            deadlines: order
                .deadlines
                .iter()
                .map(|deadline| DeadlineDto {
                    kind: deadline.kind.code().to_owned(),
                    due_at: deadline.due_at,
                    paused: deadline.is_paused(),
                    remaining_seconds: deadline.remaining.map(|left| left.as_secs()),
                })
                .collect(),
            refunds: order
                .refunds
                .iter()
                .map(|refund| RefundDto {
                    id: refund.number,
                    number: refund.number,
                    arrived_at: refund.arrived_at,
                    amount: refund.amount_minor,
                    destination: refund.destination.code().to_owned(),
                    sent_at: refund.sent_at,
                    expected_by: refund.expected_by,
                    overdue: refund.flagged_overdue,
                })
                .collect(),
            escrow: EscrowDto {
                held: order.escrow.held_minor,
                released: order.escrow.released_minor,
                refunded: order.escrow.refunded_minor,
                captured: order.escrow.captured_minor,
            },
            ending: order.ending.map(|ending| EndingDto {
                reason: ending.reason.code().to_owned(),
                reason_text: ending.reason.text().to_owned(),
                fault: ending.fault.code().to_owned(),
            }),
            allowed_actions: allowed
                .iter()
                .map(|action| action.code().to_owned())
                .collect(),
            guidance: orderly_domain::guidance(order, actor, now, policy),
            version: order.version,
        }
    }
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderList {
    pub orders: Vec<OrderDocument>,
    /// Pass as `?after=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Who did something.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActorDto {
    /// `buyer`, `seller`, `admin` or `system`.
    pub role: String,
    /// The account; null for the system, and for an admin when a buyer or seller reads.
    pub id: Option<Uuid>,
}

/// One event of an order's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDocument {
    pub seq: u64,
    /// The event's name, e.g. `cancellation_requested`.
    #[serde(rename = "type")]
    pub kind: String,
    pub at: Timestamp,
    pub actor: ActorDto,
    /// A sentence for people.
    pub description: String,
    /// The event's own fields.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl EventDocument {
    /// An event as the viewer may see it (`orderly_domain::visible`).
    pub fn new(
        seq: u64,
        view: &orderly_domain::EventView,
        currency: orderly_domain::money::Currency,
    ) -> Self {
        Self {
            seq,
            kind: view.kind.name().to_owned(),
            at: view.at,
            actor: ActorDto {
                role: view.role.code().to_owned(),
                id: view.actor_id.map(|id| id.as_uuid()),
            },
            description: view.describe(currency),
            data: serde_json::to_value(&view.kind).expect("events serialise"),
        }
    }
}

/// A page of the order's history, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventDocument>,
    /// Pass as `?after=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One message on the order's thread.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageDocument {
    /// `buyer` or `seller`.
    pub author: String,
    pub text: String,
    pub sent_at: Timestamp,
}

/// A page of the order's message thread, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageDocument>,
    /// Pass as `?after=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The test clock after an advance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClockDocument {
    pub now: Timestamp,
    /// How many deadlines fired on the way.
    pub fired: usize,
}

/// `/healthz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// `/readyz` when ready.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    /// `ok`.
    pub database: String,
    /// Every background worker of this process.
    pub workers: Vec<WorkerDto>,
}

/// One background worker's health.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerDto {
    /// `deadlines`, `webhooks`, ...
    pub name: String,
    /// `ok` or `failing`.
    pub status: String,
    pub last_ok_at: Option<Timestamp>,
    /// The last step's error, while failing.
    pub failing: Option<String>,
    pub panics: u64,
    pub failures: u64,
}
