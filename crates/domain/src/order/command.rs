//! Commands: what an actor asks the order to do. Imperative names; the action codes of
//! SPEC 15.3 name them in `allowed_actions`.

use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::ids::{AccountId, OrderId, ProductId};
use crate::money::Money;
use crate::order::deadline::DeadlineKind;
use crate::order::message::MessageBody;
use crate::order::{ShippingAddress, Status};
use crate::payment::PaymentMethod;
use crate::reason::{CancelReason, DisputeReason, ReturnReason};

/// Placing a new order. Prices come from the seller's catalogue: the app resolves each
/// product and passes its catalogue data here, never the buyer's figures (SPEC 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub buyer_id: AccountId,
    pub seller_id: AccountId,
    pub lines: Vec<CatalogueLine>,
    pub shipping_address: ShippingAddress,
    pub payment_method: PaymentMethod,
}

impl PlaceOrder {
    /// A valid order of one line — two "Cactus seeds" at 15.00 EUR plus 5.00 EUR shipping,
    /// three days' processing, paid by card, shipped to Berlin: what the tests, the
    /// benchmarks, the story command and the crash test place.
    pub fn sample(order_id: OrderId, buyer_id: AccountId, seller_id: AccountId) -> PlaceOrder {
        let eur = crate::money::Currency::parse("EUR").expect("EUR is an ISO 4217 code");
        PlaceOrder {
            order_id,
            buyer_id,
            seller_id,
            lines: vec![CatalogueLine {
                product_id: ProductId::from_uuid(uuid::Uuid::from_u128(7)),
                title: "Cactus seeds".into(),
                quantity: 2,
                unit_price: Money::parse(1_500, eur).expect("a valid price"),
                shipping_fee: Money::parse(500, eur).expect("a valid fee"),
                processing_days: Some(3),
            }],
            shipping_address: ShippingAddress::parse(
                [
                    ("name", "Ada Buyer"),
                    ("street", "1 Main Street"),
                    ("city", "Berlin"),
                    ("postal_code", "10115"),
                    ("country", "DE"),
                ]
                .map(|(key, value)| (key.to_owned(), value.to_owned())),
            )
            .expect("the sample address is valid"),
            payment_method: PaymentMethod::Card,
        }
    }
}

/// A product as the catalogue knows it, with the quantity ordered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogueLine {
    pub product_id: ProductId,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub shipping_fee: Money,
    /// The product's processing time; `None` takes the policy's default.
    pub processing_days: Option<u32>,
}

/// What a carrier's scan says (SPEC 16.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    InTransit,
    OutForDelivery,
    Delivered,
    DeliveryFailed,
    ReturnedToSender,
}

codes!(ScanStatus {
    InTransit = "in_transit",
    OutForDelivery = "out_for_delivery",
    Delivered = "delivered",
    DeliveryFailed = "delivery_failed",
    ReturnedToSender = "returned_to_sender",
});

/// Whether a post-delivery claim asks to send the item back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    ReturnAndRefund,
    RefundOnly,
}

/// The seller's answer to a return, refund-only claim or dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimDecision {
    Accept,
    Reject,
    Counter,
}

/// Everything an actor can ask of an existing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Pays; `None` pays with the method chosen at placement.
    Pay {
        method: Option<PaymentMethod>,
    },
    VerifyPayment {
        approved: bool,
    },
    /// Cancels at once before verification ends, or requests cancellation afterwards.
    Cancel {
        reason: CancelReason,
        message: Option<String>,
        complaint: Option<String>,
    },
    WithdrawCancellation,
    ApproveCancellation,
    RejectCancellation {
        reason: String,
    },
    EscalateCancellation {
        message: String,
    },
    DecideCancellation {
        approve: bool,
        note: String,
    },
    SellerCancel {
        reason: CancelReason,
    },
    Ship {
        carrier: String,
        tracking_number: String,
    },
    UpdateTracking {
        carrier: String,
        tracking_number: String,
    },
    MarkDelivered,
    RefuseDelivery,
    ConfirmReceipt,
    RequestReturn {
        kind: ReturnKind,
        reason: ReturnReason,
        amount_minor: i64,
        explanation: String,
    },
    OpenDispute {
        reason: DisputeReason,
        amount_minor: i64,
        return_item: bool,
        explanation: String,
    },
    RespondClaim {
        decision: ClaimDecision,
        amount_minor: Option<i64>,
        explanation: String,
    },
    AcceptOffer,
    EscalateClaim {
        explanation: String,
    },
    ResolveClaim {
        refund_amount_minor: i64,
        return_required: bool,
        /// Who pays return shipping; `None` leaves it to the claim's fault side.
        return_shipping_paid_by: Option<crate::reason::Fault>,
    },
    ReturnShipped {
        tracking_number: String,
    },
    ReturnReceived,
    RequestExtension {
        days: u32,
        reason: String,
    },
    ApproveExtension,
    DeclineExtension,
    Freeze {
        note: String,
    },
    Unfreeze {
        note: String,
    },
    AdminCancel {
        note: String,
    },
    SendMessage {
        body: MessageBody,
    },
    /// Start a new order with the same lines; the order itself does not change.
    OrderAgain,
    /// The seller asks the buyer to cancel (SPEC 16.4).
    ProposeCancellation {
        reason: CancelReason,
    },
    AcceptCancellationProposal,
    DeclineCancellationProposal,
    /// The seller offers part of the money back; the buyer keeps the order (SPEC 16.4).
    OfferPartialRefund {
        amount_minor: i64,
        reason: String,
    },
    AcceptPartialRefund,
    DeclinePartialRefund,
    /// An evidence file for the open claim; the app stores its bytes with the event.
    AddEvidence {
        evidence_id: crate::ids::EvidenceId,
        filename: String,
        content_type: String,
        size: u64,
        note: Option<String>,
    },
    /// Refund `number` reached the buyer.
    ConfirmRefundArrived {
        number: u32,
    },
    /// Ask support for help on this order (SPEC 16.3), in any status.
    ContactSupport {
        message: String,
    },
    /// An internal note of the platform's (SPEC 16.3).
    AddNote {
        text: String,
    },
    /// A carrier's tracking scan (SPEC 16.6): kept, and it moves the order as its status
    /// means (delivered, back at the sender) when the order is at that point.
    RecordScan {
        status: ScanStatus,
        at: jiff::Timestamp,
        location: Option<String>,
    },
    /// A timer ran out (SPEC 5); only the system sends this.
    ExpireDeadline {
        kind: DeadlineKind,
    },
}

/// The action codes of SPEC 15.3: what `allowed_actions` lists and the web pages show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Pay,
    Cancel,
    RequestCancellation,
    WithdrawCancellation,
    ApproveCancellation,
    RejectCancellation,
    EscalateCancellation,
    DecideCancellation,
    SellerCancel,
    VerifyPayment,
    Ship,
    UpdateTracking,
    MarkDelivered,
    RefuseDelivery,
    ConfirmReceipt,
    RequestReturn,
    RequestRefund,
    OpenDispute,
    RespondClaim,
    AcceptOffer,
    EscalateClaim,
    ResolveClaim,
    ReturnShipped,
    ReturnReceived,
    RequestExtension,
    ApproveExtension,
    DeclineExtension,
    Message,
    Freeze,
    Unfreeze,
    AdminCancel,
    OrderAgain,
    ProposeCancellation,
    AcceptCancellationProposal,
    DeclineCancellationProposal,
    OfferPartialRefund,
    AcceptPartialRefund,
    DeclinePartialRefund,
    AddEvidence,
    RefundArrived,
    ContactSupport,
    AddNote,
    RecordScan,
}

codes!(Action {
    Pay = "pay",
    Cancel = "cancel",
    RequestCancellation = "request_cancellation",
    WithdrawCancellation = "withdraw_cancellation",
    ApproveCancellation = "approve_cancellation",
    RejectCancellation = "reject_cancellation",
    EscalateCancellation = "escalate_cancellation",
    DecideCancellation = "decide_cancellation",
    SellerCancel = "seller_cancel",
    VerifyPayment = "verify_payment",
    Ship = "ship",
    UpdateTracking = "update_tracking",
    MarkDelivered = "mark_delivered",
    RefuseDelivery = "refuse_delivery",
    ConfirmReceipt = "confirm_receipt",
    RequestReturn = "request_return",
    RequestRefund = "request_refund",
    OpenDispute = "open_dispute",
    RespondClaim = "respond_claim",
    AcceptOffer = "accept_offer",
    EscalateClaim = "escalate_claim",
    ResolveClaim = "resolve_claim",
    ReturnShipped = "return_shipped",
    ReturnReceived = "return_received",
    RequestExtension = "request_extension",
    ApproveExtension = "approve_extension",
    DeclineExtension = "decline_extension",
    Message = "message",
    Freeze = "freeze",
    Unfreeze = "unfreeze",
    AdminCancel = "admin_cancel",
    OrderAgain = "order_again",
    ProposeCancellation = "propose_cancellation",
    AcceptCancellationProposal = "accept_cancellation_proposal",
    DeclineCancellationProposal = "decline_cancellation_proposal",
    OfferPartialRefund = "offer_partial_refund",
    AcceptPartialRefund = "accept_partial_refund",
    DeclinePartialRefund = "decline_partial_refund",
    AddEvidence = "add_evidence",
    RefundArrived = "refund_arrived",
    ContactSupport = "contact_support",
    AddNote = "add_note",
    RecordScan = "record_scan",
});

impl Action {
    /// Which roles ever take this action (SPEC 3 and 14). Anyone else gets 403.
    pub fn roles(self) -> &'static [Role] {
        use Action::*;
        match self {
            Pay
            | Cancel
            | RequestCancellation
            | WithdrawCancellation
            | EscalateCancellation
            | RefuseDelivery
            | ConfirmReceipt
            | RequestReturn
            | RequestRefund
            | OpenDispute
            | AcceptOffer
            | ReturnShipped
            | RequestExtension
            | OrderAgain
            | AcceptCancellationProposal
            | DeclineCancellationProposal
            | AcceptPartialRefund
            | DeclinePartialRefund => &[Role::Buyer],
            ApproveCancellation | RejectCancellation | SellerCancel | Ship | UpdateTracking
            | RespondClaim | ApproveExtension | DeclineExtension | ProposeCancellation
            | OfferPartialRefund => &[Role::Seller],
            DecideCancellation | ResolveClaim | Freeze | Unfreeze | AdminCancel | AddNote => {
                &[Role::Admin]
            }
            // A provider does what support would: it verifies payments, reports deliveries
            // and parcels coming back (SPEC 16.6).
            VerifyPayment | MarkDelivered => &[Role::Admin, Role::Provider],
            RecordScan => &[Role::Provider],
            EscalateClaim | Message | AddEvidence | ContactSupport => &[Role::Buyer, Role::Seller],
            ReturnReceived => &[Role::Seller, Role::Admin, Role::Provider],
            RefundArrived => &[Role::Buyer, Role::Admin, Role::Provider],
        }
    }

    /// The roles as words, for the sentence of a 403.
    pub fn roles_text(self) -> &'static str {
        roles_text(self.roles())
    }

    /// Whether it changes the order's state. Messages, "order again", evidence, contacting
    /// support, internal notes and a refund's arrival do not: they remain possible on
    /// frozen orders (and, where the state rule allows, finished ones).
    pub fn changes_state(self) -> bool {
        !matches!(
            self,
            Action::Message
                | Action::OrderAgain
                | Action::AddEvidence
                | Action::ContactSupport
                | Action::AddNote
                | Action::RefundArrived
                | Action::RecordScan
        )
    }
}

impl Command {
    /// The action code this command is checked as. `Cancel` is `cancel` where it takes
    /// effect at once and `request_cancellation` once the order is paid and verified.
    pub fn action(&self, status: Status) -> Option<Action> {
        Some(match self {
            Command::Pay { .. } => Action::Pay,
            Command::VerifyPayment { .. } => Action::VerifyPayment,
            Command::Cancel { .. } => match status {
                Status::AwaitingPayment | Status::PaymentVerification => Action::Cancel,
                _ => Action::RequestCancellation,
            },
            Command::WithdrawCancellation => Action::WithdrawCancellation,
            Command::ApproveCancellation => Action::ApproveCancellation,
            Command::RejectCancellation { .. } => Action::RejectCancellation,
            Command::EscalateCancellation { .. } => Action::EscalateCancellation,
            Command::DecideCancellation { .. } => Action::DecideCancellation,
            Command::SellerCancel { .. } => Action::SellerCancel,
            Command::Ship { .. } => Action::Ship,
            Command::UpdateTracking { .. } => Action::UpdateTracking,
            Command::MarkDelivered => Action::MarkDelivered,
            Command::RefuseDelivery => Action::RefuseDelivery,
            Command::ConfirmReceipt => Action::ConfirmReceipt,
            Command::RequestReturn { kind, .. } => match kind {
                ReturnKind::ReturnAndRefund => Action::RequestReturn,
                ReturnKind::RefundOnly => Action::RequestRefund,
            },
            Command::OpenDispute { .. } => Action::OpenDispute,
            Command::RespondClaim { .. } => Action::RespondClaim,
            Command::AcceptOffer => Action::AcceptOffer,
            Command::EscalateClaim { .. } => Action::EscalateClaim,
            Command::ResolveClaim { .. } => Action::ResolveClaim,
            Command::ReturnShipped { .. } => Action::ReturnShipped,
            Command::ReturnReceived => Action::ReturnReceived,
            Command::RequestExtension { .. } => Action::RequestExtension,
            Command::ApproveExtension => Action::ApproveExtension,
            Command::DeclineExtension => Action::DeclineExtension,
            Command::Freeze { .. } => Action::Freeze,
            Command::Unfreeze { .. } => Action::Unfreeze,
            Command::AdminCancel { .. } => Action::AdminCancel,
            Command::SendMessage { .. } => Action::Message,
            Command::OrderAgain => Action::OrderAgain,
            Command::ProposeCancellation { .. } => Action::ProposeCancellation,
            Command::AcceptCancellationProposal => Action::AcceptCancellationProposal,
            Command::DeclineCancellationProposal => Action::DeclineCancellationProposal,
            Command::OfferPartialRefund { .. } => Action::OfferPartialRefund,
            Command::AcceptPartialRefund => Action::AcceptPartialRefund,
            Command::DeclinePartialRefund => Action::DeclinePartialRefund,
            Command::AddEvidence { .. } => Action::AddEvidence,
            Command::ConfirmRefundArrived { .. } => Action::RefundArrived,
            Command::ContactSupport { .. } => Action::ContactSupport,
            Command::AddNote { .. } => Action::AddNote,
            Command::RecordScan { .. } => Action::RecordScan,
            Command::ExpireDeadline { .. } => return None,
        })
    }
}

impl Command {
    /// A command with valid arguments for `action` on `order`: what the table tests, the
    /// property tests and the simulation send to probe `decide`, and what the story
    /// command uses. Amounts are the largest the rules allow.
    pub fn sample(
        action: Action,
        order: &crate::order::Order,
        policy: &crate::policy::Policy,
    ) -> Command {
        let cap = order.claim_cap_minor(policy.refund_shipping_after_shipment);
        match action {
            Action::Pay => Command::Pay {
                method: Some(order.payment_method),
            },
            Action::VerifyPayment => Command::VerifyPayment { approved: true },
            Action::Cancel | Action::RequestCancellation => Command::Cancel {
                reason: CancelReason::NoLongerNeeded,
                message: None,
                complaint: None,
            },
            Action::WithdrawCancellation => Command::WithdrawCancellation,
            Action::ApproveCancellation => Command::ApproveCancellation,
            Action::RejectCancellation => Command::RejectCancellation {
                reason: "the parcel is already packed".into(),
            },
            Action::EscalateCancellation => Command::EscalateCancellation {
                message: "the seller refused; please decide".into(),
            },
            Action::DecideCancellation => Command::DecideCancellation {
                approve: true,
                note: String::new(),
            },
            Action::SellerCancel => Command::SellerCancel {
                reason: CancelReason::OutOfStock,
            },
            Action::Ship => Command::Ship {
                carrier: "DHL".into(),
                tracking_number: "JD0001".into(),
            },
            Action::UpdateTracking => Command::UpdateTracking {
                carrier: "DHL".into(),
                tracking_number: "JD0002".into(),
            },
            Action::MarkDelivered => Command::MarkDelivered,
            Action::RefuseDelivery => Command::RefuseDelivery,
            Action::ConfirmReceipt => Command::ConfirmReceipt,
            Action::RequestReturn => Command::RequestReturn {
                kind: ReturnKind::ReturnAndRefund,
                reason: ReturnReason::Damaged,
                amount_minor: cap,
                explanation: "the item arrived broken".into(),
            },
            Action::RequestRefund => Command::RequestReturn {
                kind: ReturnKind::RefundOnly,
                reason: ReturnReason::NotAsDescribed,
                amount_minor: cap,
                explanation: "the colour differs from the photos".into(),
            },
            Action::OpenDispute => Command::OpenDispute {
                reason: if order.status == Status::Shipped {
                    DisputeReason::NotReceived
                } else {
                    DisputeReason::Damaged
                },
                amount_minor: cap,
                return_item: false,
                explanation: "see the photos".into(),
            },
            Action::RespondClaim => Command::RespondClaim {
                decision: ClaimDecision::Accept,
                amount_minor: None,
                explanation: String::new(),
            },
            Action::AcceptOffer => Command::AcceptOffer,
            Action::EscalateClaim => Command::EscalateClaim {
                explanation: "we cannot agree".into(),
            },
            Action::ResolveClaim => Command::ResolveClaim {
                return_shipping_paid_by: None,
                refund_amount_minor: order.refundable_minor() / 2,
                return_required: false,
            },
            Action::ReturnShipped => Command::ReturnShipped {
                tracking_number: "RET0001".into(),
            },
            Action::ReturnReceived => Command::ReturnReceived,
            Action::RequestExtension => Command::RequestExtension {
                days: 7,
                reason: "the parcel is held at customs".into(),
            },
            Action::ApproveExtension => Command::ApproveExtension,
            Action::DeclineExtension => Command::DeclineExtension,
            Action::Message => Command::SendMessage {
                body: MessageBody::Text(format!(
                    "Hello, about this order ({})",
                    order.messages_sent
                )),
            },
            Action::Freeze => Command::Freeze {
                note: "suspicious payment".into(),
            },
            Action::Unfreeze => Command::Unfreeze {
                note: "checked".into(),
            },
            Action::AdminCancel => Command::AdminCancel {
                note: "fraud confirmed".into(),
            },
            Action::OrderAgain => Command::OrderAgain,
            Action::ProposeCancellation => Command::ProposeCancellation {
                reason: CancelReason::OutOfStock,
            },
            Action::AcceptCancellationProposal => Command::AcceptCancellationProposal,
            Action::DeclineCancellationProposal => Command::DeclineCancellationProposal,
            Action::OfferPartialRefund => Command::OfferPartialRefund {
                amount_minor: (order.refundable_minor() / 2).max(1),
                reason: "keep it with a discount".into(),
            },
            Action::AcceptPartialRefund => Command::AcceptPartialRefund,
            Action::DeclinePartialRefund => Command::DeclinePartialRefund,
            Action::AddEvidence => Command::AddEvidence {
                evidence_id: crate::ids::EvidenceId::from_uuid(uuid::Uuid::from_u128(
                    0xe0 + u128::from(order.version),
                )),
                filename: "photo.jpg".into(),
                content_type: "image/jpeg".into(),
                size: 1_024,
                note: Some("the box was crushed".into()),
            },
            Action::RefundArrived => Command::ConfirmRefundArrived {
                number: order
                    .refunds_in_transit()
                    .next()
                    .map_or(1, |refund| refund.number),
            },
            Action::ContactSupport => Command::ContactSupport {
                message: format!("Please help with this order ({})", order.support_requests),
            },
            Action::AddNote => Command::AddNote {
                text: "checked the tracking with the carrier".into(),
            },
            Action::RecordScan => Command::RecordScan {
                status: ScanStatus::InTransit,
                at: order.placed_at,
                location: Some("Leipzig hub".into()),
            },
        }
    }
}

/// Roles as words, for the sentence of a 403: who may do what was refused.
pub fn roles_text(roles: &[Role]) -> &'static str {
    match roles {
        [Role::Buyer] => "the buyer",
        [Role::Seller] => "the seller",
        [Role::Admin] => "platform admins",
        [Role::Buyer, Role::Seller] => "the buyer or the seller",
        [Role::Seller, Role::Admin] => "the seller or platform admins",
        [Role::Buyer, Role::Admin] => "the buyer or platform admins",
        [Role::Admin, Role::Provider] => "platform admins or the provider",
        [Role::Seller, Role::Admin, Role::Provider] => "the seller, platform admins or the carrier",
        [Role::Buyer, Role::Admin, Role::Provider] => {
            "the buyer, platform admins or the payment provider"
        }
        [Role::Provider] => "the carrier",
        _ => "other roles",
    }
}
