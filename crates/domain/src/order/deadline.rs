//! Deadlines: durable timers carried by the order (SPEC section 5). They are data on the
//! order, armed and cleared by events, and fire as an ordinary command
//! (`Command::ExpireDeadline`) through `decide`, never through a side door.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Every timer of SPEC section 5. An order holds at most one deadline of each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// Unpaid orders close when it runs out [004].
    PaymentWindow,
    /// The simulated payment provider approves when it runs out [003].
    PaymentVerification,
    /// A pending cancellation request is approved when it runs out [001].
    SellerResponse,
    /// The order is cancelled, seller at fault, if not shipped by then [004].
    HandlingTime,
    /// From then on the buyer may open a "no tracking information" dispute [004].
    NoTrackingDispute,
    /// A shipped, undisputed order completes when it runs out.
    BuyerProtection,
    /// A delivered order completes when it runs out.
    ReceiptConfirmation,
    /// The buyer's claim is accepted when the seller has not answered by then.
    ClaimResponse,
    /// An unsettled claim escalates to the admin when it runs out.
    Negotiation,
    /// An approved return that was not shipped by then closes, nothing refunded.
    ReturnShipment,
    /// A returned item counts as arrived, and is refunded, when it runs out.
    ReturnConfirmation,
    /// A refused parcel counts as back, and the order is cancelled (SPEC 15.10).
    RefusedDeliveryReturn,
    /// The earliest card or PayPal refund not yet arrived is flagged for support [004].
    RefundOverdue,
    /// The seller's proposal to cancel lapses if the buyer has not answered by then.
    ProposalResponse,
    /// A payment the provider has not answered within a day is handed to support.
    VerificationOverdue,
    /// Reminders (SPEC 16.1): each fires a while before the deadline it announces, and
    /// exists only while that deadline runs.
    ReminderSellerResponse,
    ReminderClaimResponse,
    ReminderHandlingTime,
    ReminderReceiptConfirmation,
    ReminderBuyerProtection,
}

codes!(DeadlineKind {
    PaymentWindow = "payment_window",
    PaymentVerification = "payment_verification",
    SellerResponse = "seller_response",
    HandlingTime = "handling_time",
    NoTrackingDispute = "no_tracking_dispute",
    BuyerProtection = "buyer_protection",
    ReceiptConfirmation = "receipt_confirmation",
    ClaimResponse = "claim_response",
    Negotiation = "negotiation",
    ReturnShipment = "return_shipment",
    ReturnConfirmation = "return_confirmation",
    RefusedDeliveryReturn = "refused_delivery_return",
    RefundOverdue = "refund_overdue",
    ProposalResponse = "proposal_response",
    VerificationOverdue = "verification_overdue",
    ReminderSellerResponse = "reminder_seller_response",
    ReminderClaimResponse = "reminder_claim_response",
    ReminderHandlingTime = "reminder_handling_time",
    ReminderReceiptConfirmation = "reminder_receipt_confirmation",
    ReminderBuyerProtection = "reminder_buyer_protection",
});

impl DeadlineKind {
    /// The deadline a reminder announces; `None` for deadlines that are not reminders.
    pub fn announces(self) -> Option<DeadlineKind> {
        match self {
            DeadlineKind::ReminderSellerResponse => Some(DeadlineKind::SellerResponse),
            DeadlineKind::ReminderClaimResponse => Some(DeadlineKind::ClaimResponse),
            DeadlineKind::ReminderHandlingTime => Some(DeadlineKind::HandlingTime),
            DeadlineKind::ReminderReceiptConfirmation => Some(DeadlineKind::ReceiptConfirmation),
            DeadlineKind::ReminderBuyerProtection => Some(DeadlineKind::BuyerProtection),
            _ => None,
        }
    }

    /// Whether this is a reminder rather than a deadline with consequences.
    pub fn is_reminder(self) -> bool {
        self.announces().is_some()
    }
}

/// One armed or paused timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    /// When it fires. While paused, the instant it would have fired when it was paused.
    pub due_at: Timestamp,
    /// Set while paused: the time that was left, re-armed from the resume instant.
    pub remaining: Option<SignedDuration>,
}

impl Deadline {
    pub fn is_paused(&self) -> bool {
        self.remaining.is_some()
    }

    /// Whether it is running and due at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        !self.is_paused() && self.due_at <= now
    }
}
