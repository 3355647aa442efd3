//! Seller performance (SPEC 11) folded from the events of the seller's orders.

use orderly_domain::seller::SellerMetrics;
use orderly_domain::{Action, CancelReason, Command};

use crate::support::*;

#[test]
fn seller_metrics_count_fault_cancellations_response_times_and_penalties() {
    // A request answered after 5 hours.
    let mut answered = Story::requested();
    answered.advance(hours(5));
    answered.act(SELLER_ACTOR, Action::RejectCancellation);
    answered.act(SELLER_ACTOR, Action::Ship);

    // A seller-fault cancellation.
    let mut faulty = Story::verified();
    faulty.run(
        SELLER_ACTOR,
        Command::SellerCancel {
            reason: CancelReason::OutOfStock,
        },
    );

    // A request left unanswered. Its 72-hour timer falls due at the same instant as the
    // 3-day handling time; equal due times fire in deadline-kind order, so the request
    // is auto-approved (not penalised: the buyer's reason was the buyer's side).
    let mut silent = Story::requested();
    silent.advance(hours(72));

    let mut metrics = SellerMetrics::default();
    for story in [&answered, &faulty, &silent] {
        metrics.record_order(&story.events, start_time());
    }
    assert_eq!(metrics.orders, 3);
    assert_eq!(metrics.paid_orders, 3);
    assert_eq!(metrics.cancellation_requests, 2);
    assert_eq!(metrics.requests_answered, 1);
    assert_eq!(metrics.requests_unanswered, 1);
    assert_eq!(metrics.response_secs_total, 5 * 3_600);
    assert_eq!(metrics.shipments, 1);
    assert_eq!(metrics.shipments_on_time, 1);
    assert_eq!(metrics.seller_fault_cancellations, 1);
    assert_eq!(metrics.penalty_points, 1);
    let rating = metrics.rating();
    assert_eq!(rating.level, "new");
    // One of three paid orders went wrong (-33), and one penalty point (-5).
    assert_eq!(rating.score, 62);
    assert_eq!(rating.average_response_hours, Some(5));
}

#[test]
fn the_rolling_window_leaves_out_older_events() {
    let story = Story::requested();
    let mut metrics = SellerMetrics::default();
    metrics.record_order(&story.events, start_time() + days(1));
    assert_eq!(metrics, SellerMetrics::default());
}

#[test]
fn daily_deltas_of_appended_events_add_up_to_the_whole_fold() {
    let mut story = Story::requested();
    story.advance(hours(30));
    story.act(SELLER_ACTOR, Action::RejectCancellation);
    story.act(SELLER_ACTOR, Action::Ship);
    let mut whole = SellerMetrics::default();
    whole.record_order(&story.events, start_time());
    // Split the history in two appends, as the store sees it: before the rejection.
    let split = story
        .events
        .iter()
        .position(|event| event.kind.name() == "cancellation_rejected")
        .expect("rejected");
    let before = orderly_domain::replay(&story.events[..split]).expect("history");
    let mut summed = SellerMetrics::default();
    for (_, delta) in SellerMetrics::daily_deltas(None, &story.events[..split]) {
        summed.add(&delta);
    }
    let later = SellerMetrics::daily_deltas(Some(&before), &story.events[split..]);
    assert_eq!(later.len(), 1, "the second append happened on one day");
    summed.add(&later[0].1);
    assert_eq!(summed, whole);
    assert_eq!(whole.response_secs_total, 30 * 3_600);
}
