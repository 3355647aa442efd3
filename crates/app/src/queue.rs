//! The support desk's work queue (SPEC 16.3): which events open an item for support, when
//! it is due, and which events settle it by themselves. One pure function of a command's
//! events, so the items are written in the same transaction as their cause and a rebuild
//! could recompute them.
//!
//! Due times come from the order's own deadlines where the matter has one (an escalated
//! cancellation must be decided before the handling time cancels the order anyway); items
//! with no deadline of their own are due after the policy's `support_response_window`; a
//! complaint has no due time (it is reviewed, not answered against a clock).

use orderly_domain::{DeadlineKind, Event, EventKind, Order, Policy, Verification};
use orderly_store::{NewQueueItem, QueueResolution};

use crate::service::new_id;

/// The kinds of item, as SPEC 16.3 names them.
pub const KINDS: &[&str] = &[
    "cancellation_escalated",
    "claim_escalated",
    "complaint",
    "refund_overdue",
    "support_request",
    "payment_verification",
    "delivery_dead",
];

/// Longest summary shown in the queue, in characters.
const SUMMARY_LEN_MAX: usize = 160;

/// The items `events` open and the items they settle, for the order after them.
pub fn changes(
    events: &[Event],
    first_seq: u64,
    after: &Order,
    policy: &Policy,
) -> (Vec<NewQueueItem>, Vec<QueueResolution>) {
    let mut opened = Vec::new();
    let mut settled = Vec::new();
    let settle =
        |settled: &mut Vec<QueueResolution>, kind: &str, reference: Option<String>, note: &str| {
            settled.push(QueueResolution {
                kind: kind.to_owned(),
                reference,
                note: note.to_owned(),
            });
        };
    for (index, event) in events.iter().enumerate() {
        let seq = first_seq + index as u64;
        let support_due = Some(
            policy
                .support_response_window
                .end(event.at, &policy.holidays),
        );
        let mut open = |kind: &str, reference: String, summary: String, due_at| {
            opened.push(NewQueueItem {
                id: new_id(),
                kind: kind.to_owned(),
                reference,
                summary: shorten(&summary),
                due_at,
            });
        };
        match &event.kind {
            EventKind::ComplaintFiled { text } => open(
                "complaint",
                seq.to_string(),
                format!("Complaint against the seller: {text}"),
                None,
            ),
            EventKind::CancellationEscalated { message } => open(
                "cancellation_escalated",
                format!("request:{}", after.cancellation_requests_made),
                format!("The buyer escalated a rejected cancellation request: {message}"),
                after
                    .deadline(DeadlineKind::HandlingTime)
                    .map(|deadline| deadline.due_at)
                    .or(support_due),
            ),
            EventKind::ClaimEscalated { by, explanation } => open(
                "claim_escalated",
                format!("claim:{}", after.claims_opened),
                format!(
                    "A {} claim was escalated by the {}: {explanation}",
                    after.claim.as_ref().map_or("", |claim| claim.kind.code()),
                    by.code()
                ),
                support_due,
            ),
            EventKind::RefundFlaggedOverdue { number } => open(
                "refund_overdue",
                format!("refund:{number}"),
                format!("Refund {number} has not arrived by its expected date"),
                Some(event.at),
            ),
            EventKind::SupportRequested { message } => open(
                "support_request",
                seq.to_string(),
                format!("The {} asks for help: {message}", event.actor.role().code()),
                support_due,
            ),
            EventKind::PaymentSubmitted {
                method,
                amount_minor,
            } if policy.payment_verification == Verification::Manual => open(
                "payment_verification",
                format!("payment:{seq}"),
                format!("Verify a payment of {amount_minor} by {method}"),
                support_due,
            ),
            EventKind::PaymentVerificationOverdue => open(
                "payment_verification",
                format!("payment:{seq}"),
                "The payment provider has not answered for a day: verify the payment".into(),
                Some(event.at),
            ),
            EventKind::PaymentVerified | EventKind::PaymentDeclined => {
                settle(
                    &mut settled,
                    "payment_verification",
                    None,
                    "the payment was decided",
                );
            }
            EventKind::CancellationDecided { .. }
            | EventKind::CancellationVoided
            | EventKind::CancellationSuperseded
            | EventKind::CancellationWithdrawn => {
                settle(
                    &mut settled,
                    "cancellation_escalated",
                    None,
                    "the request was settled",
                );
            }
            EventKind::ClaimResolved { .. }
            | EventKind::ClaimSettled { .. }
            | EventKind::ClaimClosed { .. } => {
                settle(
                    &mut settled,
                    "claim_escalated",
                    None,
                    "the claim was settled",
                );
            }
            EventKind::RefundArrived { number } => settle(
                &mut settled,
                "refund_overdue",
                Some(format!("refund:{number}")),
                "the refund arrived",
            ),
            EventKind::OrderCancelled { .. }
            | EventKind::OrderClosed { .. }
            | EventKind::OrderCompleted => {
                for kind in [
                    "payment_verification",
                    "cancellation_escalated",
                    "claim_escalated",
                ] {
                    settle(&mut settled, kind, None, "the order ended");
                }
            }
            _ => {}
        }
    }
    (opened, settled)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= SUMMARY_LEN_MAX {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(SUMMARY_LEN_MAX - 1).collect();
    short.push('…');
    short
}
