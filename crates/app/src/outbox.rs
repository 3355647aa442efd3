//! What a command sends through the outbox: every event as a webhook (as the parties may
//! see it) and the e-mails of `notify`. Written in the command's own transaction,
//! delivered at least once, in order per order and topic. What support must look at goes
//! to the work queue instead (`queue`).

use jiff::Timestamp;
use orderly_domain::{Audience, Event, Order, Policy, visible};
use orderly_store::NewOutbox;
use serde::Serialize;

/// A webhook's body, written out directly (no `serde_json::Value` built first: this runs
/// inside the SQLite writer's transaction). Its keys in alphabetical order, as before.
#[derive(Serialize)]
struct Webhook<'a> {
    actor: WebhookActor,
    at: Timestamp,
    data: &'a orderly_domain::EventKind,
    id: String,
    order_id: orderly_domain::OrderId,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct WebhookActor {
    id: Option<orderly_domain::AccountId>,
    role: &'static str,
}

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
        let webhook = Webhook {
            actor: WebhookActor {
                id: shared.actor_id,
                role: shared.role.code(),
            },
            at: event.at,
            data: &shared.kind,
            id: format!("{}:{seq}", order.id),
            order_id: order.id,
            seq,
            kind: name,
        };
        messages.push(NewOutbox {
            topic: "webhook".into(),
            dedupe_key: format!("event:{}:{seq}", order.id),
            payload: serde_json::to_string(&webhook).expect("a webhook always serialises"),
        });
    }
    messages.extend(crate::notify::emails(
        order, events, first_seq, now, policy, public_url,
    ));
    messages
}
