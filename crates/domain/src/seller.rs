//! Seller performance (SPEC 11): a fold over the events of a seller's orders, over a rolling
//! window, and the rating buyers see before they order ("Seller Rating" [001]).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::order::event::{Event, EventKind};
use crate::reason::Fault;

/// Counts over the window. Every field is a plain count so the fold can be rebuilt from
/// the event log at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerMetrics {
    /// Orders placed with the seller.
    pub orders: u32,
    /// Orders whose payment was verified: the seller's duty starts there.
    pub paid_orders: u32,
    pub completed_orders: u32,
    /// Cancellations whose fault side is the seller's [002][004].
    pub seller_fault_cancellations: u32,
    pub cancellation_requests: u32,
    /// Requests the seller answered itself (approved or rejected).
    pub requests_answered: u32,
    /// Requests approved automatically because the seller was silent.
    pub requests_unanswered: u32,
    /// Sum of the seller's answer times, in seconds.
    pub response_secs_total: i64,
    pub shipments: u32,
    /// Shipped within the handling time.
    pub shipments_on_time: u32,
    pub disputes_opened: u32,
    pub disputes_lost: u32,
    pub penalty_points: u32,
}

/// What buyers see: a score from 0 to 100 and a word for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub score: u32,
    pub level: &'static str,
    /// Average time to answer a cancellation request, in hours; `None` without answers.
    pub average_response_hours: Option<i64>,
    /// Share of shipments within the handling time, in percent; `None` without shipments.
    pub on_time_shipment_percent: Option<u32>,
}

/// Fewer paid orders than this and the rating says "new".
pub const RATING_ORDERS_MIN: u32 = 5;

impl SellerMetrics {
    /// Adds one order's history; only events at or after `since` count.
    pub fn record_order(&mut self, events: &[Event], since: Timestamp) {
        let mut verified_at = None;
        let mut handling_days = 0;
        let mut requested_at = None;
        for event in events {
            let counts = event.at >= since;
            match &event.kind {
                EventKind::OrderPlaced(placed) => {
                    handling_days = placed.handling_days;
                    if counts {
                        self.orders += 1;
                    }
                }
                EventKind::PaymentVerified => {
                    verified_at = Some(event.at);
                    if counts {
                        self.paid_orders += 1;
                    }
                }
                EventKind::CancellationRequested { .. } => {
                    requested_at = Some(event.at);
                    if counts {
                        self.cancellation_requests += 1;
                    }
                }
                EventKind::CancellationApproved { auto: true } if counts => {
                    self.requests_unanswered += 1;
                }
                EventKind::CancellationApproved { auto: false }
                | EventKind::CancellationRejected { .. }
                    if counts =>
                {
                    if let (Some(asked), Actor::Seller(_)) = (requested_at, event.actor) {
                        self.requests_answered += 1;
                        self.response_secs_total += event.at.duration_since(asked).as_secs();
                    }
                }
                EventKind::Shipped { .. } if counts => {
                    self.shipments += 1;
                    let on_time = verified_at.is_none_or(|verified: Timestamp| {
                        event.at.duration_since(verified).as_secs()
                            <= i64::from(handling_days) * 86_400
                    });
                    if on_time {
                        self.shipments_on_time += 1;
                    }
                }
                EventKind::OrderCancelled { fault, .. } if counts && *fault == Fault::Seller => {
                    self.seller_fault_cancellations += 1;
                }
                EventKind::OrderCompleted if counts => self.completed_orders += 1,
                EventKind::ClaimOpened { kind, .. }
                    if counts && *kind == crate::order::ClaimKind::Dispute =>
                {
                    self.disputes_opened += 1;
                }
                EventKind::PenaltyApplied { points, reason } if counts => {
                    self.penalty_points += points;
                    if reason == "dispute_lost" {
                        self.disputes_lost += 1;
                    }
                }
                _ => {}
            }
        }
    }

    /// The rating: 100 minus the share of paid orders that went wrong by the seller's
    /// fault (seller-fault cancellations, late shipments, lost disputes).
    pub fn rating(&self) -> Rating {
        let late = self.shipments - self.shipments_on_time;
        let bad = self.seller_fault_cancellations + late + self.disputes_lost;
        let base = self.paid_orders.max(1);
        let score = 100 - (bad * 100 / base).min(100);
        let level = if self.paid_orders < RATING_ORDERS_MIN {
            "new"
        } else if score >= 95 {
            "excellent"
        } else if score >= 85 {
            "good"
        } else if score >= 70 {
            "fair"
        } else {
            "poor"
        };
        Rating {
            score,
            level,
            average_response_hours: (self.requests_answered > 0)
                .then(|| self.response_secs_total / i64::from(self.requests_answered) / 3_600),
            on_time_shipment_percent: (self.shipments > 0)
                .then(|| self.shipments_on_time * 100 / self.shipments),
        }
    }
}
