//! The read-model rows a command writes, computed from the order before, the new events and
//! the order after. Pure, so both backends write exactly the same rows and a rebuild from
//! the event log computes them the same way.

use orderly_domain::ledger::LedgerAccount;
use orderly_domain::seller::SellerMetrics;
use orderly_domain::{Event, Order};

use crate::{StoreError, micros};

/// The `orders` row: the summary lists are read from, with the money columns that the
/// database's CHECK constraints guard, and the whole state as JSON.
pub struct OrderRow {
    pub id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub status: &'static str,
    pub frozen: i64,
    pub currency: &'static str,
    pub total_minor: i64,
    pub captured_minor: i64,
    pub held_minor: i64,
    pub released_minor: i64,
    pub refunded_minor: i64,
    pub version: i64,
    pub placed_at: i64,
    pub state: String,
}

/// The `events` row of one command: the events it appended, numbered `seq` to `last_seq`.
pub struct EventsRow {
    pub seq: i64,
    pub last_seq: i64,
    /// The first event's time.
    pub at: i64,
    /// The events' kinds, oldest first, separated by spaces.
    pub kinds: String,
    /// The events as a JSON array, oldest first.
    pub body: String,
}

pub struct DeadlineRow {
    pub kind: &'static str,
    pub due_at: i64,
    pub paused: i64,
}

pub struct RefundRow {
    pub number: i64,
    pub amount_minor: i64,
    pub destination: &'static str,
    pub sent_at: i64,
    pub expected_by: i64,
    pub overdue_at: Option<i64>,
    pub flagged_overdue: i64,
}

pub struct LedgerRow {
    pub position: i64,
    pub at: i64,
    pub debit_account: String,
    pub credit_account: String,
    pub amount_minor: i64,
}

/// An automatic penalty, from a `penalty_applied` event.
pub struct PenaltyRow {
    pub event_seq: i64,
    pub points: i64,
    pub reason: String,
    pub at: i64,
}

pub struct MetricsRow {
    pub seller_id: String,
    pub day: String,
    pub metrics: SellerMetrics,
}

/// Every row one command writes.
pub struct Rows {
    pub order: OrderRow,
    /// `None` when there are no events.
    pub events: Option<EventsRow>,
    /// The order's whole set of deadline rows, or `None` when the command left them as
    /// they were (most commands do; skipping the rewrite saves two statements).
    pub deadlines: Option<Vec<DeadlineRow>>,
    /// Refund rows that are new or changed (flagged overdue).
    pub refunds: Vec<RefundRow>,
    /// Only the entries the command added: the ledger is append-only.
    pub ledger: Vec<LedgerRow>,
    pub metrics: Vec<MetricsRow>,
    /// Penalties the events applied (written once per event; revocations survive rebuilds).
    pub penalties: Vec<PenaltyRow>,
    /// The carrier and tracking number, when the command set or changed them.
    pub shipment: Option<(String, String)>,
}

/// The one row of `events`, numbered from `first_seq`.
fn events_row(first_seq: u64, events: &[Event]) -> Result<Option<EventsRow>, StoreError> {
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let seq = |index: usize| i64::try_from(first_seq + index as u64).map_err(anyhow::Error::new);
    let mut kinds = String::new();
    for event in events {
        if !kinds.is_empty() {
            kinds.push(' ');
        }
        kinds.push_str(event.kind.name());
    }
    Ok(Some(EventsRow {
        seq: seq(0)?,
        last_seq: seq(events.len() - 1)?,
        at: micros(first.at),
        kinds,
        body: serde_json::to_string(events).map_err(anyhow::Error::new)?,
    }))
}

/// The events of a stored `events` row (`seq` to `last_seq`, `body` their JSON array), each
/// with its number.
pub fn stored_events(
    seq: i64,
    last_seq: i64,
    body: &str,
) -> Result<Vec<crate::StoredEvent>, StoreError> {
    let events: Vec<Event> = serde_json::from_str(body).map_err(|error| {
        StoreError::Other(anyhow::anyhow!("stored events {seq}-{last_seq}: {error}"))
    })?;
    let first = u64::try_from(seq).ok().filter(|first| *first >= 1);
    match first {
        Some(first) if last_seq - seq + 1 == events.len() as i64 => Ok(events
            .into_iter()
            .enumerate()
            .map(|(index, event)| crate::StoredEvent {
                seq: first + index as u64,
                event,
            })
            .collect()),
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "stored events {seq}-{last_seq} hold {} events",
            events.len()
        ))),
    }
}

/// How a carrier is compared: without case and surrounding spaces.
pub fn carrier_key(carrier: &str) -> String {
    carrier.trim().to_lowercase()
}

/// The rows for `events` appended to `before`, leading to `after`.
pub fn rows(before: Option<&Order>, events: &[Event], after: &Order) -> Result<Rows, StoreError> {
    let first_seq = before.map_or(1, |order| order.version + 1);
    let event_rows = events_row(first_seq, events)?;
    let ledger_start = before.map_or(0, |order| order.ledger.len());
    let ledger = after.ledger[ledger_start..]
        .iter()
        .enumerate()
        .map(|(index, entry)| LedgerRow {
            position: (ledger_start + index + 1) as i64,
            at: micros(entry.at),
            debit_account: account_code(entry.from),
            credit_account: account_code(entry.to),
            amount_minor: entry.amount_minor,
        })
        .collect();
    let seller_id = after.seller_id.to_string();
    let metrics = SellerMetrics::daily_deltas(before, events)
        .into_iter()
        .map(|(day, metrics)| MetricsRow {
            seller_id: seller_id.clone(),
            day: day.to_string(),
            metrics,
        })
        .collect();
    let deadlines_changed = before.is_none_or(|order| order.deadlines != after.deadlines);
    let refunds = refund_rows(after)
        .into_iter()
        .zip(after.refunds.iter())
        .filter(|(_, refund)| {
            before.is_none_or(|order| !order.refunds.iter().any(|existing| existing == *refund))
        })
        .map(|(row, _)| row)
        .collect();
    let penalties = events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| match &event.kind {
            orderly_domain::EventKind::PenaltyApplied { points, reason } => Some(PenaltyRow {
                event_seq: (first_seq + index as u64) as i64,
                points: i64::from(*points),
                reason: reason.clone(),
                at: micros(event.at),
            }),
            _ => None,
        })
        .collect();
    let shipment = after
        .shipment
        .as_ref()
        .filter(|shipment| before.is_none_or(|order| order.shipment.as_ref() != Some(*shipment)))
        .map(|shipment| {
            (
                carrier_key(&shipment.carrier),
                shipment.tracking_number.trim().to_owned(),
            )
        });
    Ok(Rows {
        order: order_row(after)?,
        penalties,
        shipment,
        events: event_rows,
        deadlines: deadlines_changed.then(|| deadline_rows(after)),
        refunds,
        ledger,
        metrics,
    })
}

pub fn order_row(order: &Order) -> Result<OrderRow, StoreError> {
    Ok(OrderRow {
        id: order.id.to_string(),
        buyer_id: order.buyer_id.to_string(),
        seller_id: order.seller_id.to_string(),
        status: order.status.code(),
        frozen: i64::from(order.frozen),
        currency: order.currency.code(),
        total_minor: order.total_minor(),
        captured_minor: order.escrow.captured_minor,
        held_minor: order.escrow.held_minor,
        released_minor: order.escrow.released_minor,
        refunded_minor: order.escrow.refunded_minor,
        version: i64::try_from(order.version).map_err(anyhow::Error::new)?,
        placed_at: micros(order.placed_at),
        state: serde_json::to_string(order).map_err(anyhow::Error::new)?,
    })
}

pub fn deadline_rows(order: &Order) -> Vec<DeadlineRow> {
    order
        .deadlines
        .iter()
        .map(|deadline| DeadlineRow {
            kind: deadline.kind.code(),
            due_at: micros(deadline.due_at),
            paused: i64::from(deadline.is_paused()),
        })
        .collect()
}

pub fn refund_rows(order: &Order) -> Vec<RefundRow> {
    order
        .refunds
        .iter()
        .map(|refund| RefundRow {
            number: i64::from(refund.number),
            amount_minor: refund.amount_minor,
            destination: refund.destination.code(),
            sent_at: micros(refund.sent_at),
            expected_by: micros(refund.expected_by),
            overdue_at: refund.overdue_at.map(micros),
            flagged_overdue: i64::from(refund.flagged_overdue),
        })
        .collect()
}

/// The whole ledger of an order, for rebuilds.
pub fn ledger_rows(order: &Order) -> Vec<LedgerRow> {
    order
        .ledger
        .iter()
        .enumerate()
        .map(|(index, entry)| LedgerRow {
            position: index as i64 + 1,
            at: micros(entry.at),
            debit_account: account_code(entry.from),
            credit_account: account_code(entry.to),
            amount_minor: entry.amount_minor,
        })
        .collect()
}

fn account_code(account: LedgerAccount) -> String {
    match account {
        LedgerAccount::BuyerSource => "buyer_source".into(),
        LedgerAccount::Escrow => "escrow".into(),
        LedgerAccount::SellerPayable => "seller_payable".into(),
        LedgerAccount::Refund(destination) => format!("refund:{destination}"),
    }
}
