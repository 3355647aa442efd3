//! The order aggregate: its state (this file), the commands it accepts (`command`), the
//! facts it records (`event`), the rules that decide (`decide`), the folding of facts into
//! state (`apply`), the durable timers it carries (`deadline`), what each actor may do
//! next (`actions`) and why a command is refused (`rejection`).
//!
//! Nothing here performs I/O or reads a clock: time comes in as a value.

pub mod actions;
pub mod apply;
pub mod command;
pub mod deadline;
pub mod decide;
pub mod event;
mod invariants;
pub mod message;
pub mod rejection;
pub mod visibility;

/// A code as words: `e_wallet` → `e wallet`.
pub fn words(code: &str) -> String {
    code.replace('_', " ")
}

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::ids::{AccountId, EvidenceId, OrderId, ProductId};
use crate::ledger::{Escrow, LedgerEntry};
use crate::money::Currency;
use crate::payment::{PaymentMethod, RefundDestination};
use crate::reason::{CancelReason, DisputeReason, Fault, ReturnReason};
use deadline::{Deadline, DeadlineKind};
use rejection::Rejection;

/// Where an order is in its life (SPEC section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AwaitingPayment,
    PaymentVerification,
    AwaitingShipment,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Closed,
}

codes!(Status {
    AwaitingPayment = "awaiting_payment",
    PaymentVerification = "payment_verification",
    AwaitingShipment = "awaiting_shipment",
    Shipped = "shipped",
    Delivered = "delivered",
    Completed = "completed",
    Cancelled = "cancelled",
    Closed = "closed",
});

impl Status {
    /// The status as it reads after "while": "while the payment is being verified".
    pub fn while_phrase(self) -> &'static str {
        match self {
            Status::AwaitingPayment => "the order is awaiting payment",
            Status::PaymentVerification => "the payment is being verified",
            Status::AwaitingShipment => "the order is awaiting shipment",
            Status::Shipped => "the order is shipped",
            Status::Delivered => "the order is delivered",
            Status::Completed => "the order is completed",
            Status::Cancelled => "the order is cancelled",
            Status::Closed => "the order is closed",
        }
    }

    /// Completed, cancelled and closed orders never change status again.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Cancelled | Status::Closed)
    }

    /// Whether the seller has handed the parcel to a carrier.
    pub fn is_after_shipment(self) -> bool {
        matches!(self, Status::Shipped | Status::Delivered)
    }
}

/// One line of an order: a product, how many, and the catalogue price at placement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub product_id: ProductId,
    pub title: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
    pub shipping_fee_minor: i64,
    pub processing_days: u32,
}

impl Line {
    pub fn total_minor(&self) -> i64 {
        self.unit_price_minor * i64::from(self.quantity)
    }
}

/// Where the parcel goes: the fields the buyer gave (such as `name`, `street`, `city`,
/// `postal_code`, `country`), kept as given. SPEC 14 leaves the address's shape to the
/// marketplace, so orderly bounds it but does not impose one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShippingAddress(std::collections::BTreeMap<String, String>);

/// Most fields an address may have.
pub const ADDRESS_FIELDS_MAX: usize = 20;
/// Longest field name and value, in characters.
pub const ADDRESS_KEY_LEN_MAX: usize = 50;
pub const ADDRESS_VALUE_LEN_MAX: usize = 300;

impl ShippingAddress {
    /// An address from its fields: 1 to 20 of them, names of 1 to 50 characters, values
    /// trimmed and at most 300 characters, at least one not empty.
    pub fn parse(fields: impl IntoIterator<Item = (String, String)>) -> Result<Self, Rejection> {
        let invalid = |detail: String| Rejection::Validation {
            field: "shipping_address",
            detail,
        };
        let mut map = std::collections::BTreeMap::new();
        for (key, value) in fields {
            let key = key.trim().to_owned();
            if key.is_empty() || key.chars().count() > ADDRESS_KEY_LEN_MAX {
                return Err(invalid(format!(
                    "field names must be 1 to {ADDRESS_KEY_LEN_MAX} characters"
                )));
            }
            let value = value.trim().to_owned();
            if value.chars().count() > ADDRESS_VALUE_LEN_MAX {
                return Err(invalid(format!(
                    "`{key}` must be at most {ADDRESS_VALUE_LEN_MAX} characters"
                )));
            }
            map.insert(key, value);
        }
        if map.len() > ADDRESS_FIELDS_MAX {
            return Err(invalid(format!("use at most {ADDRESS_FIELDS_MAX} fields")));
        }
        if map.values().all(String::is_empty) {
            return Err(invalid(
                "give the address, e.g. name, street, city, postal_code and country".into(),
            ));
        }
        Ok(Self(map))
    }

    /// Every field, by name.
    pub fn fields(&self) -> &std::collections::BTreeMap<String, String> {
        &self.0
    }

    /// One field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// The state of a buyer's cancellation request (SPEC 15.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    AutoApproved,
    Rejected,
    Withdrawn,
    Void,
    Escalated,
    Superseded,
}

codes!(RequestStatus {
    Pending = "pending",
    Approved = "approved",
    AutoApproved = "auto_approved",
    Rejected = "rejected",
    Withdrawn = "withdrawn",
    Void = "void",
    Escalated = "escalated",
    Superseded = "superseded",
});

/// The latest cancellation request of the buyer (SPEC 4.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationRequest {
    pub status: RequestStatus,
    pub reason: CancelReason,
    pub message: Option<String>,
    pub requested_at: Timestamp,
    /// When the seller must have answered; only while pending.
    pub respond_by: Option<Timestamp>,
    /// The seller's reason for a rejection.
    pub rejection_reason: Option<String>,
    /// Set once the admin decided an escalation: a decided request cannot be escalated again.
    pub decided_by_admin: bool,
}

impl CancellationRequest {
    /// Pending or escalated: the request still awaits an answer.
    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            RequestStatus::Pending | RequestStatus::Escalated
        )
    }
}

/// The carrier and tracking number the seller gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: Timestamp,
}

/// The kind of an after-shipment claim (SPEC 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    ReturnAndRefund,
    RefundOnly,
    Dispute,
    RefusedDelivery,
}

codes!(ClaimKind {
    ReturnAndRefund = "return_and_refund",
    RefundOnly = "refund_only",
    Dispute = "dispute",
    RefusedDelivery = "refused_delivery",
});

/// Why a claim was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimReason {
    Return(ReturnReason),
    Dispute(DisputeReason),
    DeliveryRefused,
}

impl ClaimReason {
    pub fn code(self) -> &'static str {
        match self {
            ClaimReason::Return(reason) => reason.code(),
            ClaimReason::Dispute(reason) => reason.code(),
            ClaimReason::DeliveryRefused => "delivery_refused",
        }
    }

    /// Whose fault the problem is; it decides who pays return shipping [004].
    pub fn fault(self) -> Fault {
        match self {
            ClaimReason::Return(reason) => reason.fault(),
            ClaimReason::Dispute(_) => Fault::Seller,
            ClaimReason::DeliveryRefused => Fault::Buyer,
        }
    }
}

/// Where a claim stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Waiting for the seller's answer.
    AwaitingSeller,
    /// The seller offered less than asked; the buyer may accept or escalate.
    CounterOffered,
    /// The seller refused. A refused return or refund-only claim is closed unless the
    /// buyer escalates it; a refused dispute stays open until it escalates.
    Rejected,
    /// The admin decides.
    Escalated,
    /// A return was agreed; the buyer must ship the item back.
    ReturnApproved,
    /// The item (or a refused parcel) is on its way back to the seller.
    ReturnInTransit,
    /// Ended with a refund decided (possibly zero); the order ended with it.
    Resolved,
    /// Ended without a refund and without ending the order.
    Closed,
}

codes!(ClaimStatus {
    AwaitingSeller = "awaiting_seller",
    CounterOffered = "counter_offered",
    Rejected = "rejected",
    Escalated = "escalated",
    ReturnApproved = "return_approved",
    ReturnInTransit = "return_in_transit",
    Resolved = "resolved",
    Closed = "closed",
});

/// A return, refund-only claim, dispute or refused delivery (SPEC 7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub kind: ClaimKind,
    pub reason: ClaimReason,
    pub status: ClaimStatus,
    /// What the buyer asked for, in minor units.
    pub amount_asked_minor: i64,
    /// Whether the buyer will send the item back.
    pub return_item: bool,
    pub explanation: String,
    pub opened_at: Timestamp,
    /// The seller's counter offer, below the ask.
    pub offer_minor: Option<i64>,
    /// The refund agreed before a return: paid when the item is back.
    pub agreed_refund_minor: Option<i64>,
    /// Who pays return shipping: recorded, not moved through the ledger (SPEC 15.7).
    pub return_shipping_paid_by: Option<Fault>,
    pub return_tracking_number: Option<String>,
    pub escalated_by: Option<Role>,
    /// The refund the claim ended with.
    pub refund_minor: Option<i64>,
    /// Files the buyer and the seller added (photos, a postal receipt scan [004]).
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// One evidence file on a claim: its bytes are kept by the store, the order keeps what
/// describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: EvidenceId,
    pub filename: String,
    /// `image/jpeg`, `image/png`, `image/webp` or `application/pdf`, judged by content.
    pub content_type: String,
    pub size: u64,
    pub note: Option<String>,
    pub uploaded_by: Role,
    pub uploaded_at: Timestamp,
}

impl Claim {
    /// Whether the claim still needs someone to act; an open claim pauses the
    /// protection and receipt timers (SPEC 15.9).
    pub fn is_open(&self) -> bool {
        match self.status {
            ClaimStatus::Resolved | ClaimStatus::Closed => false,
            ClaimStatus::Rejected => self.kind == ClaimKind::Dispute,
            _ => true,
        }
    }
}

/// One carrier scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    pub status: command::ScanStatus,
    /// When the carrier scanned it (not when orderly heard of it).
    pub at: Timestamp,
    pub location: Option<String>,
}

/// Most scans one order keeps.
pub const SCANS_MAX: usize = 200;

/// Where a seller's proposal or offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    Pending,
    Accepted,
    Declined,
    /// Unanswered in time, or overtaken (the order shipped, ended, or a claim opened).
    Lapsed,
}

codes!(OfferStatus {
    Pending = "pending",
    Accepted = "accepted",
    Declined = "declined",
    Lapsed = "lapsed",
});

/// The seller asks the buyer to cancel ([001][004]: the seller's most common move).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationProposal {
    pub reason: CancelReason,
    pub status: OfferStatus,
    pub proposed_at: Timestamp,
}

/// "Keep it with a discount": the seller offers part of the money back [001][003].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialRefundOffer {
    pub amount_minor: i64,
    pub reason: String,
    pub status: OfferStatus,
    pub offered_at: Timestamp,
}

/// The state of a buyer-protection extension request (SPEC 15.18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionStatus {
    Pending,
    Approved,
    Declined,
}

/// The latest protection extension request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub days: u32,
    pub reason: String,
    pub status: ExtensionStatus,
    pub requested_at: Timestamp,
}

/// A refund sent to the buyer (SPEC 6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// 1, 2, ... within the order; stable, so receivers can de-duplicate on it.
    pub number: u32,
    pub amount_minor: i64,
    pub destination: RefundDestination,
    pub sent_at: Timestamp,
    /// `sent_at` plus the destination's upper bound in business days (SPEC 15.14).
    pub expected_by: Timestamp,
    /// When support is told the refund is overdue (card and PayPal only).
    pub overdue_at: Option<Timestamp>,
    pub flagged_overdue: bool,
    /// When the buyer (or support, or the payment provider) said the money arrived; the
    /// overdue watch stops then.
    #[serde(default)]
    pub arrived_at: Option<Timestamp>,
}

/// How an order ended, for closed and cancelled orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    pub reason: CancelReason,
    pub fault: Fault,
}

/// One message on the order's thread (SPEC 9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub author: Role,
    pub text: String,
    pub sent_at: Timestamp,
}

/// The order aggregate. Built only by folding events (`apply`); never edited directly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub buyer_id: AccountId,
    pub seller_id: AccountId,
    pub lines: Vec<Line>,
    pub currency: Currency,
    pub items_total_minor: i64,
    pub shipping_fee_minor: i64,
    /// The method chosen at placement, replaced by the one actually used at `pay`.
    pub payment_method: PaymentMethod,
    pub shipping_address: ShippingAddress,
    /// The largest processing time of the lines (SPEC 15.16).
    pub handling_days: u32,
    pub placed_at: Timestamp,
    pub status: Status,
    /// When the payment window ends; kept while a payment is being verified so a
    /// declined payment goes back to the same window (SPEC 15.4).
    pub payment_due_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub verified_at: Option<Timestamp>,
    pub frozen: bool,
    pub cancellation: Option<CancellationRequest>,
    pub cancellation_requests_made: u32,
    pub shipment: Option<Shipment>,
    pub delivered_at: Option<Timestamp>,
    /// When the buyer confirmed receipt. Under a statutory withdrawal period the order
    /// may stay delivered after that, until the period ends (SPEC 12).
    #[serde(default)]
    pub receipt_confirmed_at: Option<Timestamp>,
    /// Set six days after shipment [004].
    pub no_tracking_dispute_available: bool,
    pub claim: Option<Claim>,
    /// Every carrier scan, oldest first (SPEC 16.6).
    #[serde(default)]
    pub tracking: Vec<Scan>,
    /// The seller's latest proposal that the buyer cancel (SPEC 16.4).
    #[serde(default)]
    pub proposal: Option<CancellationProposal>,
    #[serde(default)]
    pub proposals_made: u32,
    /// The seller's latest offer of a partial refund by agreement (SPEC 16.4).
    #[serde(default)]
    pub partial_refund_offer: Option<PartialRefundOffer>,
    /// How many times the buyer or seller contacted support, and how many internal notes
    /// the platform wrote: both are capped.
    #[serde(default)]
    pub support_requests: u32,
    #[serde(default)]
    pub internal_notes: u32,
    pub claims_opened: u32,
    pub extension: Option<Extension>,
    pub extensions_approved: u32,
    pub escrow: Escrow,
    pub refunds: Vec<Refund>,
    pub ledger: Vec<LedgerEntry>,
    pub deadlines: Vec<Deadline>,
    pub ending: Option<Ending>,
    pub penalty_points: u32,
    /// How many messages the thread holds. The messages themselves are `message_sent`
    /// events: they stay out of the state that every command rewrites, so a long thread
    /// does not make every command slower (and the thread is capped by the policy).
    #[serde(default)]
    pub messages_sent: u32,
    /// The latest message, for the "same text twice in a row" rule [001].
    #[serde(default)]
    pub last_message: Option<Message>,
    pub complaints: Vec<String>,
    /// How many events built this state; the store's optimistic-concurrency version.
    pub version: u64,
}

impl Order {
    /// Items plus shipping, in minor units.
    pub fn total_minor(&self) -> i64 {
        self.items_total_minor + self.shipping_fee_minor
    }

    /// A short human order number for messages ("order #__" [001]): the last ten hex
    /// digits of the id, which are random in a v7 UUID.
    pub fn number(&self) -> String {
        let simple = self.id.as_uuid().simple().to_string().to_uppercase();
        simple[simple.len() - 10..].to_owned()
    }

    /// The seller's proposal, if it awaits the buyer.
    pub fn pending_proposal(&self) -> Option<&CancellationProposal> {
        self.proposal
            .as_ref()
            .filter(|proposal| proposal.status == OfferStatus::Pending)
    }

    /// The seller's partial-refund offer, if it awaits the buyer.
    pub fn pending_partial_refund(&self) -> Option<&PartialRefundOffer> {
        self.partial_refund_offer
            .as_ref()
            .filter(|offer| offer.status == OfferStatus::Pending)
    }

    /// Refunds whose arrival nobody has reported yet.
    pub fn refunds_in_transit(&self) -> impl Iterator<Item = &Refund> {
        self.refunds
            .iter()
            .filter(|refund| refund.arrived_at.is_none())
    }

    /// The open claim, if any.
    pub fn open_claim(&self) -> Option<&Claim> {
        self.claim.as_ref().filter(|claim| claim.is_open())
    }

    /// The latest request if it still awaits an answer.
    pub fn open_cancellation(&self) -> Option<&CancellationRequest> {
        self.cancellation
            .as_ref()
            .filter(|request| request.is_open())
    }

    /// The deadline of a kind, if armed or paused.
    pub fn deadline(&self, kind: DeadlineKind) -> Option<&Deadline> {
        self.deadlines.iter().find(|deadline| deadline.kind == kind)
    }

    /// The earliest running deadline: what the scheduler waits for.
    pub fn next_due(&self) -> Option<(DeadlineKind, Timestamp)> {
        self.deadlines
            .iter()
            .filter(|deadline| !deadline.is_paused())
            .map(|deadline| (deadline.kind, deadline.due_at))
            .min_by_key(|(kind, due_at)| (*due_at, *kind))
    }

    /// Refunded so far, in minor units.
    pub fn refunded_minor(&self) -> i64 {
        self.escrow.refunded_minor
    }

    /// The most that may still be refunded (SPEC 15.8): what is left of the payment.
    pub fn refundable_minor(&self) -> i64 {
        self.escrow.held_minor
    }

    /// The most a buyer may ask or a seller may offer after shipment: the items total
    /// unless the policy lets shipping be refunded too, and never more than what is left.
    pub fn claim_cap_minor(&self, refund_shipping: bool) -> i64 {
        let cap = if refund_shipping {
            self.total_minor()
        } else {
            self.items_total_minor
        };
        cap.min(self.refundable_minor())
    }

    /// Whether the timer of `kind` should be running now: every timer pauses while the
    /// order is frozen (SPEC 15.11); the protection and receipt timers also pause while
    /// a claim is open (SPEC 15.9).
    pub(crate) fn timer_runs(&self, kind: DeadlineKind) -> bool {
        if self.frozen {
            return false;
        }
        // A reminder runs exactly when the deadline it announces runs.
        let kind = kind.announces().unwrap_or(kind);
        let paused_by_claim = matches!(
            kind,
            DeadlineKind::BuyerProtection | DeadlineKind::ReceiptConfirmation
        ) && self.open_claim().is_some();
        !paused_by_claim
    }

    /// Time left on a paused deadline, or until a running one is due.
    pub fn time_left(&self, kind: DeadlineKind, now: Timestamp) -> Option<SignedDuration> {
        self.deadline(kind)
            .map(|deadline| match deadline.remaining {
                Some(remaining) => remaining,
                None => deadline.due_at.duration_since(now),
            })
    }
}
