//! What a command sends: every event as a webhook and the e-mails of SPEC 10. Written to
//! the outbox in the command's own transaction, delivered at least once, in order per order.
//! (What support must look at goes to the work queue instead: `queue`.)

use orderly_domain::{Audience, Event, EventKind, Order, visible};
use orderly_store::NewOutbox;
use serde_json::json;

/// The outbox rows for `events`, numbered from `first_seq`, on `order` (after them).
pub fn messages(order: &Order, events: &[Event], first_seq: u64) -> Vec<NewOutbox> {
    let mut messages = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let seq = first_seq + index as u64;
        let name = event.kind.name();
        if name.starts_with("deadline_") {
            continue;
        }
        // Webhooks carry what the parties may see (SPEC 16.3): the operator's backend often
        // relays them to buyers and sellers, so admin notes, admin ids and complaint texts
        // stay inside orderly. The seller's view is the narrower of the two.
        let Some(shared) = visible(event, Audience::Seller) else {
            continue;
        };
        messages.push(NewOutbox {
            topic: "webhook".into(),
            dedupe_key: format!("event:{}:{seq}", order.id),
            payload: json!({
                "id": format!("{}:{seq}", order.id),
                "type": name,
                "order_id": order.id,
                "seq": seq,
                "at": event.at,
                "actor": {"role": shared.role.code(), "id": shared.actor_id},
                "data": shared.kind,
            })
            .to_string(),
        });
        for (topic, recipient, template) in notifications(&event.kind) {
            let (to, audience) = match recipient {
                Recipient::Buyer => (Some(order.buyer_id), Audience::Buyer),
                Recipient::Seller => (Some(order.seller_id), Audience::Seller),
            };
            messages.push(NewOutbox {
                topic: topic.into(),
                dedupe_key: format!("{topic}:{template}:{}:{seq}", order.id),
                payload: json!({
                    "template": template,
                    "to": to,
                    "order_id": order.id,
                    "status": order.status.code(),
                    "text": visible(event, audience).map(|view| view.describe()).unwrap_or_default(),
                })
                .to_string(),
            });
        }
    }
    messages
}

enum Recipient {
    Buyer,
    Seller,
}

/// Who is told about an event, and how (SPEC 10).
fn notifications(kind: &EventKind) -> Vec<(&'static str, Recipient, &'static str)> {
    match kind {
        EventKind::CancellationApproved { .. }
        | EventKind::CancellationDecided { approve: true, .. } => {
            vec![("email", Recipient::Buyer, "cancellation_approved")]
        }
        EventKind::CancellationRejected { .. }
        | EventKind::CancellationDecided { approve: false, .. } => {
            vec![("email", Recipient::Buyer, "cancellation_rejected")]
        }
        EventKind::RefundIssued { .. } => vec![("email", Recipient::Buyer, "refund_sent")],
        EventKind::Shipped { .. } => vec![("email", Recipient::Buyer, "order_shipped")],
        EventKind::CancellationRequested { .. } => {
            vec![("email", Recipient::Seller, "cancellation_requested")]
        }
        EventKind::ClaimOpened { .. } => vec![("email", Recipient::Seller, "claim_opened")],
        EventKind::DeliveryRefused => vec![("email", Recipient::Seller, "delivery_refused")],
        _ => Vec::new(),
    }
}
