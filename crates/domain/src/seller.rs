//! Seller performance (SPEC 11): a fold over the events of a seller's orders, over a rolling
//! window, and the rating buyers see before they order ("Seller Rating" [001]).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::order::event::{Event, EventKind};
use crate::order::{ClaimKind, Order};
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
/// How much of the 0–100 score one penalty point takes away.
pub const RATING_POINTS_PER_PENALTY: u32 = 5;

/// What the fold needs to remember between events of one order.
#[derive(Clone, Copy, Debug, Default)]
struct Context {
    verified_at: Option<Timestamp>,
    handling_days: u32,
    requested_at: Option<Timestamp>,
}

impl Context {
    fn of(order: &Order) -> Self {
        Self {
            verified_at: order.verified_at,
            handling_days: order.handling_days,
            requested_at: order
                .cancellation
                .as_ref()
                .map(|request| request.requested_at),
        }
    }
}

impl SellerMetrics {
    /// Adds one order's whole history; only events at or after `since` count.
    pub fn record_order(&mut self, events: &[Event], since: Timestamp) {
        let mut context = Context::default();
        for event in events {
            self.record(&mut context, event, event.at >= since);
        }
    }

    /// The contribution of `events`, newly appended to an order that was `before`, split
    /// by the UTC day they happened on: the store keeps one row per seller and day and
    /// sums the days of the rolling window.
    pub fn daily_deltas(before: Option<&Order>, events: &[Event]) -> Vec<(Date, SellerMetrics)> {
        let mut context = before.map(Context::of).unwrap_or_default();
        let mut days: Vec<(Date, SellerMetrics)> = Vec::new();
        for event in events {
            let day = event.at.to_zoned(TimeZone::UTC).date();
            let mut delta = SellerMetrics::default();
            delta.record(&mut context, event, true);
            if delta == SellerMetrics::default() {
                continue;
            }
            match days.iter_mut().find(|(existing, _)| *existing == day) {
                Some((_, metrics)) => metrics.add(&delta),
                None => days.push((day, delta)),
            }
        }
        days
    }

    /// Adds another set of counts to this one.
    pub fn add(&mut self, other: &SellerMetrics) {
        self.orders += other.orders;
        self.paid_orders += other.paid_orders;
        self.completed_orders += other.completed_orders;
        self.seller_fault_cancellations += other.seller_fault_cancellations;
        self.cancellation_requests += other.cancellation_requests;
        self.requests_answered += other.requests_answered;
        self.requests_unanswered += other.requests_unanswered;
        self.response_secs_total += other.response_secs_total;
        self.shipments += other.shipments;
        self.shipments_on_time += other.shipments_on_time;
        self.disputes_opened += other.disputes_opened;
        self.disputes_lost += other.disputes_lost;
        self.penalty_points += other.penalty_points;
    }

    fn record(&mut self, context: &mut Context, event: &Event, counts: bool) {
        match &event.kind {
            EventKind::OrderPlaced(placed) => {
                context.handling_days = placed.handling_days;
                if counts {
                    self.orders += 1;
                }
            }
            EventKind::PaymentVerified => {
                context.verified_at = Some(event.at);
                if counts {
                    self.paid_orders += 1;
                }
            }
            EventKind::CancellationRequested { .. } => {
                context.requested_at = Some(event.at);
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
                if let (Some(asked), Actor::Seller(_)) = (context.requested_at, event.actor) {
                    self.requests_answered += 1;
                    self.response_secs_total += event.at.duration_since(asked).as_secs();
                }
            }
            EventKind::Shipped { .. } if counts => {
                self.shipments += 1;
                let on_time = context.verified_at.is_none_or(|verified| {
                    event.at.duration_since(verified).as_secs()
                        <= i64::from(context.handling_days) * 86_400
                });
                if on_time {
                    self.shipments_on_time += 1;
                }
            }
            EventKind::OrderCancelled { fault, .. } if counts && *fault == Fault::Seller => {
                self.seller_fault_cancellations += 1;
            }
            EventKind::OrderCompleted if counts => self.completed_orders += 1,
            EventKind::ClaimOpened { kind, .. } if counts && *kind == ClaimKind::Dispute => {
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

    /// The rating: 100 minus the share of paid orders that went wrong by the seller's
    /// fault (seller-fault cancellations, late shipments, lost disputes), minus
    /// [`RATING_POINTS_PER_PENALTY`] for each penalty point not revoked.
    pub fn rating(&self) -> Rating {
        let late = self.shipments - self.shipments_on_time;
        let bad = self.seller_fault_cancellations + late + self.disputes_lost;
        let base = self.paid_orders.max(1);
        let share = (bad * 100 / base).min(100);
        let penalties = self
            .penalty_points
            .saturating_mul(RATING_POINTS_PER_PENALTY);
        let score = 100_u32.saturating_sub(share).saturating_sub(penalties);
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
