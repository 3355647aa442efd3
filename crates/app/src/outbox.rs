//! What a command sends through the outbox: every event as a webhook (as the parties may
//! see it) and the e-mails of `notify`. Written in the command's own transaction,
//! delivered at least once, in order per order and topic. What support must look at goes
//! to the work queue instead (`queue`).

use jiff::Timestamp;
use orderly_domain::{Audience, Event, Order, Policy, visible};
use orderly_store::NewOutbox;
use serde_json::json;

/// The outbox rows for `events`, numbered from `first_seq`, on `order` (after them).
pub fn messages(
    order: &Order,
    events: &[Event],
    first_seq: u64,
    now: Timestamp,
    policy: &Policy,
    public_url: &str,
) -> Vec<NewOutbox> {
    let mut messages = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let seq = first_seq + index as u64;
        let name = event.kind.name();
        if name.starts_with("deadline_") {
            continue;
        }
        // Webhooks carry what the parties may see (SPEC 16.3): the operator's backend often
        // relays them to buyers and sellers, so admin notes, admin ids and complaint texts
        // stay inside orderly. The seller's view is the narrower of the two; what neither
        // party may see (internal notes) is not sent at all.
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
    }
    messages.extend(crate::notify::emails(
        order, events, first_seq, now, policy, public_url,
    ));
    messages
}
