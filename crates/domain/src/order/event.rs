//! Events: the facts an order is made of, past tense, append-only. `apply` folds them into
//! the order; the store keeps them forever; webhooks publish them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Role};
use crate::ids::{AccountId, EvidenceId, OrderId};
use crate::money::Currency;
use crate::order::command::ScanStatus;
use crate::order::deadline::DeadlineKind;
use crate::order::{ClaimKind, ClaimReason, Line, ShippingAddress};
use crate::payment::{PaymentMethod, RefundDestination};
use crate::reason::{CancelReason, Fault};

/// One fact about one order: when, who, what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub actor: Actor,
    pub kind: EventKind,
}

/// The first event of every order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub buyer_id: AccountId,
    pub seller_id: AccountId,
    pub lines: Vec<Line>,
    pub currency: Currency,
    pub payment_method: PaymentMethod,
    pub shipping_address: ShippingAddress,
    pub handling_days: u32,
    pub payment_due_at: Timestamp,
}

/// Why a claim ended without a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimCloseReason {
    /// The approved return was not shipped in time (SPEC 15.7).
    ReturnNotShipped,
    /// The order was cancelled by an admin (SPEC 15.5).
    OrderCancelled,
}

/// Every kind of fact. Each variant says when it happens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A buyer placed the order; stock is reserved; the payment window starts.
    OrderPlaced(OrderPlaced),
    /// The buyer paid; the money is captured into escrow pending verification.
    PaymentSubmitted {
        method: PaymentMethod,
        amount_minor: i64,
    },
    /// The payment was verified (by an admin or the provider's timer).
    PaymentVerified,
    /// The payment was declined: the capture is reversed, no refund record (SPEC 15.4).
    PaymentDeclined,
    /// An unpaid order ended.
    OrderClosed { reason: CancelReason, fault: Fault },
    /// The buyer asked the seller to cancel a paid order.
    CancellationRequested {
        reason: CancelReason,
        message: Option<String>,
    },
    /// The buyer filed a complaint against the seller; it goes to the admin queue [002].
    /// Its text is seen by the platform and the buyer, never by the seller (SPEC 16.3).
    ComplaintFiled {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        text: String,
    },
    /// The buyer took the request back ("Resume order" [004]).
    CancellationWithdrawn,
    /// The seller approved the request, or the response window ran out (`auto`).
    CancellationApproved { auto: bool },
    /// The seller refused the request, with a reason.
    CancellationRejected { reason: String },
    /// The buyer asked the platform to decide a rejected request [003].
    CancellationEscalated { message: String },
    /// The admin decided an escalated request. The note is internal to the platform.
    CancellationDecided {
        approve: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// The seller shipped or cancelled while the request was open: it no longer applies.
    CancellationVoided,
    /// The handling time ran out first (SPEC 15.12).
    CancellationSuperseded,
    /// A paid order ended before completion; refunds follow as their own events.
    OrderCancelled { reason: CancelReason, fault: Fault },
    /// Money went back to the buyer.
    RefundIssued {
        number: u32,
        amount_minor: i64,
        destination: RefundDestination,
        expected_by: Timestamp,
        overdue_at: Option<Timestamp>,
    },
    /// Money in escrow was paid out to the seller.
    EscrowReleased { amount_minor: i64 },
    /// The reserved stock goes back to the catalogue (ended before shipment).
    StockReleased,
    /// The seller handed the parcel to a carrier.
    Shipped {
        carrier: String,
        tracking_number: String,
    },
    /// The seller corrected the tracking information.
    TrackingUpdated {
        carrier: String,
        tracking_number: String,
    },
    /// The carrier reported delivery.
    Delivered,
    /// The buyer refused the parcel; it goes back to the seller.
    DeliveryRefused,
    /// The buyer confirmed receipt, or the confirmation window ran out (`auto`).
    ReceiptConfirmed { auto: bool },
    /// The order ended well: the buyer has the goods, escrow goes to the seller.
    OrderCompleted,
    /// The buyer opened a return, refund-only claim or dispute.
    ClaimOpened {
        kind: ClaimKind,
        reason: ClaimReason,
        amount_minor: i64,
        return_item: bool,
        explanation: String,
    },
    /// The seller offered less than asked.
    ClaimCountered {
        amount_minor: i64,
        explanation: String,
    },
    /// The seller refused the claim.
    ClaimRejected { explanation: String },
    /// The buyer accepted the seller's counter offer.
    OfferAccepted,
    /// The buyer, the seller or the negotiation timer handed the claim to the admin.
    ClaimEscalated { by: Role, explanation: String },
    /// The admin decided the claim, and who pays the return shipping if the item goes
    /// back (`None`: by the claim's fault side, SPEC 7).
    ClaimResolved {
        refund_minor: i64,
        return_required: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        return_shipping_paid_by: Option<Fault>,
    },
    /// A return was agreed (by the seller, its silence, or the admin).
    ReturnApproved {
        paid_by: Fault,
        agreed_refund_minor: i64,
    },
    /// The buyer shipped the item back.
    ReturnShipped { tracking_number: String },
    /// The returned item, or the refused parcel, is back with the seller.
    ReturnReceived,
    /// The claim ended with a refund (possibly zero) and ends the order.
    ClaimSettled { refund_minor: i64 },
    /// The claim ended without a refund and without ending the order.
    ClaimClosed { why: ClaimCloseReason },
    /// The buyer asked for more protection time.
    ExtensionRequested { days: u32, reason: String },
    /// The seller granted the extension; the protection deadline moves by `days`.
    ExtensionApproved { days: u32 },
    /// The seller declined, or stayed silent until protection ended (`auto`).
    ExtensionDeclined { auto: bool },
    /// An admin froze the order on suspicion of fraud; every timer pauses. The note is
    /// internal to the platform.
    OrderFrozen {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// An admin unfroze the order; every timer resumes with the time it had left.
    OrderUnfrozen {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// A message on the order's thread.
    MessageSent { author: Role, text: String },
    /// A penalty point for the seller (SPEC 15.22).
    PenaltyApplied { points: u32, reason: String },
    /// Six days after shipment: the "no tracking information" dispute may be opened.
    NoTrackingDisputeAvailable,
    /// A card or PayPal refund has not arrived in time; support is told.
    RefundFlaggedOverdue { number: u32 },
    /// The seller asked the buyer to cancel the order, with a reason [001][004].
    CancellationProposed { reason: CancelReason },
    /// The buyer agreed to the seller's proposal; the cancellation follows.
    CancellationProposalAccepted,
    /// The buyer refused the seller's proposal; the order goes on.
    CancellationProposalDeclined,
    /// Nobody answered the proposal in time, or the order moved on (shipped, ended).
    CancellationProposalLapsed,
    /// The seller offered part of the money back while the buyer keeps the order [001].
    PartialRefundOffered { amount_minor: i64, reason: String },
    /// The buyer accepted the offer; the refund follows at once.
    PartialRefundAccepted,
    /// The buyer refused the offer.
    PartialRefundDeclined,
    /// The offer no longer applies: a claim opened, or the order ended.
    PartialRefundLapsed,
    /// The buyer or the seller added an evidence file to the open claim [004].
    EvidenceAdded {
        evidence_id: EvidenceId,
        filename: String,
        content_type: String,
        size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A refund reached the buyer (reported by the buyer, support or the provider); its
    /// overdue watch stops.
    RefundArrived { number: u32 },
    /// The buyer or the seller asked support for help on this order; the text is seen by
    /// whoever sent it and the platform.
    SupportRequested {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    /// A note of the platform's about this order; the parties never see it.
    InternalNote {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        text: String,
    },
    /// A carrier scanned the parcel (SPEC 16.6); what it means for the order follows as its
    /// own events (delivered, back at the sender).
    TrackingScanned {
        status: ScanStatus,
        scanned_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// The payment provider has not answered within a day: support is told (SPEC 16.6).
    PaymentVerificationOverdue,
    /// A reminder fell due: `deadline` ends at `due_at` (SPEC 16.1); the notification
    /// rules say who hears of it.
    ReminderDue {
        deadline: DeadlineKind,
        due_at: Timestamp,
    },
    /// A timer was armed (or moved).
    DeadlineSet {
        deadline: DeadlineKind,
        due_at: Timestamp,
    },
    /// A timer ran out; what it causes follows as its own events.
    DeadlineFired { deadline: DeadlineKind },
    /// A timer no longer applies.
    DeadlineCleared { deadline: DeadlineKind },
}

impl EventKind {
    /// The stable snake_case name, as in the JSON `type` field and webhook names.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::OrderPlaced(_) => "order_placed",
            EventKind::PaymentSubmitted { .. } => "payment_submitted",
            EventKind::PaymentVerified => "payment_verified",
            EventKind::PaymentDeclined => "payment_declined",
            EventKind::OrderClosed { .. } => "order_closed",
            EventKind::CancellationRequested { .. } => "cancellation_requested",
            EventKind::ComplaintFiled { .. } => "complaint_filed",
            EventKind::CancellationWithdrawn => "cancellation_withdrawn",
            EventKind::CancellationApproved { .. } => "cancellation_approved",
            EventKind::CancellationRejected { .. } => "cancellation_rejected",
            EventKind::CancellationEscalated { .. } => "cancellation_escalated",
            EventKind::CancellationDecided { .. } => "cancellation_decided",
            EventKind::CancellationVoided => "cancellation_voided",
            EventKind::CancellationSuperseded => "cancellation_superseded",
            EventKind::OrderCancelled { .. } => "order_cancelled",
            EventKind::RefundIssued { .. } => "refund_issued",
            EventKind::EscrowReleased { .. } => "escrow_released",
            EventKind::StockReleased => "stock_released",
            EventKind::Shipped { .. } => "shipped",
            EventKind::TrackingUpdated { .. } => "tracking_updated",
            EventKind::Delivered => "delivered",
            EventKind::DeliveryRefused => "delivery_refused",
            EventKind::ReceiptConfirmed { .. } => "receipt_confirmed",
            EventKind::OrderCompleted => "order_completed",
            EventKind::ClaimOpened { .. } => "claim_opened",
            EventKind::ClaimCountered { .. } => "claim_countered",
            EventKind::ClaimRejected { .. } => "claim_rejected",
            EventKind::OfferAccepted => "offer_accepted",
            EventKind::ClaimEscalated { .. } => "claim_escalated",
            EventKind::ClaimResolved { .. } => "claim_resolved",
            EventKind::ReturnApproved { .. } => "return_approved",
            EventKind::ReturnShipped { .. } => "return_shipped",
            EventKind::ReturnReceived => "return_received",
            EventKind::ClaimSettled { .. } => "claim_settled",
            EventKind::ClaimClosed { .. } => "claim_closed",
            EventKind::ExtensionRequested { .. } => "extension_requested",
            EventKind::ExtensionApproved { .. } => "extension_approved",
            EventKind::ExtensionDeclined { .. } => "extension_declined",
            EventKind::OrderFrozen { .. } => "order_frozen",
            EventKind::OrderUnfrozen { .. } => "order_unfrozen",
            EventKind::MessageSent { .. } => "message_sent",
            EventKind::PenaltyApplied { .. } => "penalty_applied",
            EventKind::NoTrackingDisputeAvailable => "no_tracking_dispute_available",
            EventKind::RefundFlaggedOverdue { .. } => "refund_flagged_overdue",
            EventKind::CancellationProposed { .. } => "cancellation_proposed",
            EventKind::CancellationProposalAccepted => "cancellation_proposal_accepted",
            EventKind::CancellationProposalDeclined => "cancellation_proposal_declined",
            EventKind::CancellationProposalLapsed => "cancellation_proposal_lapsed",
            EventKind::PartialRefundOffered { .. } => "partial_refund_offered",
            EventKind::PartialRefundAccepted => "partial_refund_accepted",
            EventKind::PartialRefundDeclined => "partial_refund_declined",
            EventKind::PartialRefundLapsed => "partial_refund_lapsed",
            EventKind::EvidenceAdded { .. } => "evidence_added",
            EventKind::RefundArrived { .. } => "refund_arrived",
            EventKind::SupportRequested { .. } => "support_requested",
            EventKind::InternalNote { .. } => "internal_note",
            EventKind::ReminderDue { .. } => "reminder_due",
            EventKind::TrackingScanned { .. } => "tracking_scanned",
            EventKind::PaymentVerificationOverdue => "payment_verification_overdue",
            EventKind::DeadlineSet { .. } => "deadline_set",
            EventKind::DeadlineFired { .. } => "deadline_fired",
            EventKind::DeadlineCleared { .. } => "deadline_cleared",
        }
    }
}

impl EventKind {
    /// A sentence for people, amounts in the order's `currency`: the order history in the
    /// web pages, the e-mails and the CLI's stories.
    pub fn describe(&self, currency: crate::money::Currency) -> String {
        let money = |minor: &i64| crate::money::format_minor(*minor, currency);
        let time = |at: &jiff::Timestamp| at.strftime("%-d %b %Y, %H:%M UTC").to_string();
        let internal = |note: &str| {
            if note.trim().is_empty() {
                String::new()
            } else {
                format!(" Internal note: {}", note.trim())
            }
        };
        match self {
            EventKind::OrderPlaced(placed) => {
                let items: u32 = placed.lines.iter().map(|line| line.quantity).sum();
                let total: i64 = placed
                    .lines
                    .iter()
                    .map(|line| line.total_minor() + line.shipping_fee_minor)
                    .sum();
                format!(
                    "Order placed: {items} {} for {} with shipping, to be paid by {} until {}.",
                    if items == 1 { "item" } else { "items" },
                    money(&total),
                    crate::order::words(placed.payment_method.code()),
                    time(&placed.payment_due_at)
                )
            }
            EventKind::PaymentSubmitted {
                method,
                amount_minor,
            } => format!(
                "Paid {} by {method}; the money is held in escrow while the payment is verified.",
                money(amount_minor)
            ),
            EventKind::PaymentVerified => {
                "Payment verified; the seller is preparing the order.".into()
            }
            EventKind::PaymentDeclined => {
                "Payment declined; the charge was reversed and the order awaits payment again."
                    .into()
            }
            EventKind::OrderClosed { reason, fault } => {
                format!("Order closed: {} ({fault} side).", reason.text())
            }
            EventKind::CancellationRequested { reason, .. } => format!(
                "The buyer requested cancellation: \"{}\". Awaiting confirmation from the seller.",
                reason.text()
            ),
            EventKind::ComplaintFiled { text } if text.is_empty() => {
                "A complaint against the seller was filed with the platform.".into()
            }
            EventKind::ComplaintFiled { text } => {
                format!("Complaint filed against the seller: \"{text}\".")
            }
            EventKind::CancellationWithdrawn => {
                "The buyer withdrew the cancellation request; the order resumes.".into()
            }
            EventKind::CancellationApproved { auto: false } => {
                "The seller approved the cancellation.".into()
            }
            EventKind::CancellationApproved { auto: true } => {
                "The seller did not answer in time: the cancellation is approved automatically."
                    .into()
            }
            EventKind::CancellationRejected { reason } => {
                format!("The seller rejected the cancellation: \"{reason}\".")
            }
            EventKind::CancellationEscalated { .. } => {
                "The buyer escalated the cancellation to the platform.".into()
            }
            EventKind::CancellationDecided { approve: true, .. } => {
                "The platform approved the cancellation.".into()
            }
            EventKind::CancellationDecided { approve: false, .. } => {
                "The platform declined the cancellation.".into()
            }
            EventKind::CancellationVoided => "The cancellation request no longer applies.".into(),
            EventKind::CancellationSuperseded => {
                "The handling time ran out first; the request is superseded.".into()
            }
            EventKind::OrderCancelled { reason, fault } => {
                format!("Order cancelled: {} ({fault} side).", reason.text())
            }
            EventKind::RefundIssued {
                amount_minor,
                destination,
                expected_by,
                ..
            } => format!(
                "Refund of {} sent to the {destination}, expected by {}.",
                money(amount_minor),
                time(expected_by)
            ),
            EventKind::EscrowReleased { amount_minor } => {
                format!(
                    "{} released from escrow to the seller.",
                    money(amount_minor)
                )
            }
            EventKind::StockReleased => "Reserved stock returned to the catalogue.".into(),
            EventKind::Shipped {
                carrier,
                tracking_number,
            } => format!("Shipped with {carrier}, tracking number {tracking_number}."),
            EventKind::TrackingUpdated {
                carrier,
                tracking_number,
            } => format!("Tracking updated: {carrier} {tracking_number}."),
            EventKind::Delivered => "The carrier reports delivery.".into(),
            EventKind::DeliveryRefused => {
                "The buyer refused the delivery; the parcel goes back.".into()
            }
            EventKind::ReceiptConfirmed { auto: false } => "The buyer confirmed receipt.".into(),
            EventKind::ReceiptConfirmed { auto: true } => {
                "The confirmation window ran out: receipt confirmed automatically.".into()
            }
            EventKind::OrderCompleted => "Order completed.".into(),
            EventKind::ClaimOpened {
                kind,
                reason,
                amount_minor,
                ..
            } => format!(
                "The buyer opened a {kind} claim ({}) asking for {}.",
                reason.code(),
                money(amount_minor)
            ),
            EventKind::ClaimCountered { amount_minor, .. } => {
                format!("The seller offered {} instead.", money(amount_minor))
            }
            EventKind::ClaimRejected { .. } => "The seller rejected the claim.".into(),
            EventKind::OfferAccepted => "The buyer accepted the seller's offer.".into(),
            EventKind::ClaimEscalated { by, .. } => format!(
                "The claim was escalated to the platform (by {}).",
                by.code()
            ),
            EventKind::ClaimResolved {
                refund_minor,
                return_required,
                return_shipping_paid_by,
            } => format!(
                "The platform decided a refund of {}{}{}.",
                money(refund_minor),
                if *return_required {
                    ", after the item is returned"
                } else {
                    ""
                },
                match (return_required, return_shipping_paid_by) {
                    (true, Some(fault)) => format!("; return shipping is paid by the {fault}"),
                    _ => String::new(),
                }
            ),
            EventKind::ReturnApproved { paid_by, .. } => {
                format!("Return approved; return shipping is paid by the {paid_by}.")
            }
            EventKind::ReturnShipped { tracking_number } => {
                format!("The buyer shipped the item back ({tracking_number}).")
            }
            EventKind::ReturnReceived => "The parcel is back with the seller.".into(),
            EventKind::ClaimSettled { refund_minor } => {
                format!("Claim settled with a refund of {}.", money(refund_minor))
            }
            EventKind::ClaimClosed { .. } => "Claim closed without a refund.".into(),
            EventKind::ExtensionRequested { days, .. } => {
                format!("The buyer asked for {days} more days of protection.")
            }
            EventKind::ExtensionApproved { days } => format!("Protection extended by {days} days."),
            EventKind::ExtensionDeclined { .. } => "The protection extension was declined.".into(),
            // Notes are the platform's: for the parties `visible` has emptied them.
            EventKind::OrderFrozen { note } => format!(
                "The platform froze the order for review; every deadline is paused.{}",
                internal(note)
            ),
            EventKind::OrderUnfrozen { note } => format!(
                "The platform unfroze the order; deadlines resume.{}",
                internal(note)
            ),
            EventKind::MessageSent { author, text } => {
                format!("{} wrote: \"{text}\"", author.code())
            }
            EventKind::PenaltyApplied { points, reason } => {
                format!("{points} penalty point(s) for the seller ({reason}).")
            }
            EventKind::NoTrackingDisputeAvailable => {
                "The no-tracking-information dispute is now available.".into()
            }
            EventKind::RefundFlaggedOverdue { number } => {
                format!("Refund {number} is overdue; support has been told.")
            }
            EventKind::CancellationProposed { reason } => format!(
                "The seller asks the buyer to cancel: \"{}\". The buyer may accept (full refund) or decline.",
                reason.text()
            ),
            EventKind::CancellationProposalAccepted => {
                "The buyer accepted the seller's proposal to cancel.".into()
            }
            EventKind::CancellationProposalDeclined => {
                "The buyer declined the seller's proposal to cancel; the order goes on.".into()
            }
            EventKind::CancellationProposalLapsed => {
                "The seller's proposal to cancel no longer applies.".into()
            }
            EventKind::PartialRefundOffered { amount_minor, .. } => format!(
                "The seller offered a partial refund of {}; the buyer keeps the order.",
                money(amount_minor)
            ),
            EventKind::PartialRefundAccepted => {
                "The buyer accepted the partial refund; it is sent now.".into()
            }
            EventKind::PartialRefundDeclined => "The buyer declined the partial refund.".into(),
            EventKind::PartialRefundLapsed => "The partial refund offer no longer applies.".into(),
            EventKind::EvidenceAdded { filename, .. } => {
                format!("Evidence added to the claim: {filename}.")
            }
            EventKind::RefundArrived { number } => format!("Refund {number} arrived."),
            EventKind::SupportRequested { message } if message.is_empty() => {
                "Support was asked for help on this order.".into()
            }
            EventKind::SupportRequested { message } => {
                format!("Support was asked for help: \"{message}\".")
            }
            EventKind::InternalNote { text } => format!("Internal note: {text}"),
            EventKind::TrackingScanned {
                status,
                scanned_at,
                location,
            } => match location {
                Some(location) => format!(
                    "Carrier scan: {status} at {location} ({}).",
                    time(scanned_at)
                ),
                None => format!("Carrier scan: {status} ({}).", time(scanned_at)),
            },
            EventKind::PaymentVerificationOverdue => {
                "The payment provider has not answered for a day; support is checking the payment."
                    .into()
            }
            EventKind::ReminderDue { deadline, due_at } => {
                format!(
                    "Reminder: the {deadline} deadline ends at {}.",
                    time(due_at)
                )
            }
            EventKind::DeadlineSet { deadline, due_at } => {
                format!("Deadline {deadline} set for {}.", time(due_at))
            }
            EventKind::DeadlineFired { deadline } => format!("Deadline {deadline} ran out."),
            EventKind::DeadlineCleared { deadline } => {
                format!("Deadline {deadline} no longer applies.")
            }
        }
    }
}
