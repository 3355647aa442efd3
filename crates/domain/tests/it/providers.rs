//! Carriers and payment providers (SPEC 16.6): their commands go through `decide` with the
//! same rules and races as the people who can do the same thing.

use orderly_domain::order::deadline::DeadlineKind;
use orderly_domain::{
    AccountId, Action, Actor, Command, EventKind, PaymentMethod, Policy, ScanStatus, Status,
    Verification,
};
use uuid::Uuid;

use crate::support::*;

const CARRIER: Actor = Actor::Provider(AccountId::from_uuid(Uuid::from_u128(0xca)));

fn scan(status: ScanStatus, story: &Story, minutes_ago: i64) -> Command {
    Command::RecordScan {
        status,
        at: story.now - jiff::SignedDuration::from_mins(minutes_ago),
        location: Some("Berlin".into()),
    }
}

#[test]
fn a_delivered_scan_moves_a_shipped_order_to_delivered_as_the_admin_would() {
    let mut story = Story::shipped();
    story.run(CARRIER, scan(ScanStatus::InTransit, &story, 60));
    assert_eq!(story.order.status, Status::Shipped);
    story.run(CARRIER, scan(ScanStatus::Delivered, &story, 5));
    assert_eq!(story.order.status, Status::Delivered);
    assert!(
        story
            .order
            .deadline(DeadlineKind::ReceiptConfirmation)
            .is_some()
    );
    assert_eq!(story.order.tracking.len(), 2);
}

#[test]
fn scans_out_of_order_keep_the_order_where_the_latest_meaningful_scan_put_it() {
    // Arrange: "delivered" arrives first; an earlier "in transit" arrives after it.
    let mut story = Story::shipped();
    story.run(CARRIER, scan(ScanStatus::Delivered, &story, 10));
    let delivered_version = story.order.version;
    story.run(CARRIER, scan(ScanStatus::InTransit, &story, 120));
    // Assert: still delivered; the scan was kept, oldest first by the carrier's time.
    assert_eq!(story.order.status, Status::Delivered);
    assert_eq!(
        story.order.version,
        delivered_version + 1,
        "only the scan was recorded"
    );
    assert_eq!(story.order.tracking[0].status, ScanStatus::InTransit);
    assert_eq!(story.order.tracking[1].status, ScanStatus::Delivered);
}

#[test]
fn an_admin_delivery_and_a_carrier_delivery_have_exactly_one_winner() {
    let mut story = Story::shipped();
    story.act(ADMIN_ACTOR, Action::MarkDelivered);
    story.run(CARRIER, scan(ScanStatus::Delivered, &story, 1));
    let delivered = story
        .events
        .iter()
        .filter(|event| matches!(event.kind, EventKind::Delivered))
        .count();
    assert_eq!(delivered, 1);
    // The other way round, the admin's is refused.
    let mut story = Story::shipped();
    story.run(CARRIER, scan(ScanStatus::Delivered, &story, 1));
    assert_eq!(
        story.refusal(ADMIN_ACTOR, Action::MarkDelivered).code(),
        "invalid_transition"
    );
}

#[test]
fn returned_to_sender_confirms_a_refused_parcel_is_back_and_the_buyer_is_refunded() {
    let mut story = Story::shipped();
    story.act(BUYER_ACTOR, Action::RefuseDelivery);
    story.run(CARRIER, scan(ScanStatus::ReturnedToSender, &story, 1));
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.escrow.refunded_minor, ITEMS);
}

#[test]
fn a_scan_for_an_order_that_ended_is_kept_and_changes_nothing() {
    let mut story = Story::shipped();
    story.act(ADMIN_ACTOR, Action::AdminCancel);
    story.run(CARRIER, scan(ScanStatus::Delivered, &story, 1));
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.tracking.len(), 1);
    // No parcel, no scan.
    let unshipped = Story::verified();
    assert_eq!(
        unshipped.refusal(CARRIER, Action::RecordScan).code(),
        "invalid_transition"
    );
}

#[test]
fn the_payment_provider_verifies_and_people_cannot_scan() {
    let policy = Policy {
        payment_verification: Verification::Provider,
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    story.act(BUYER_ACTOR, Action::Pay);
    assert!(
        story
            .order
            .deadline(DeadlineKind::PaymentVerification)
            .is_none()
    );
    assert!(
        story
            .order
            .deadline(DeadlineKind::VerificationOverdue)
            .is_some()
    );
    // Unanswered for a day: support is told, the order still waits.
    story.advance(hours(24));
    assert!(
        story
            .events
            .iter()
            .any(|event| matches!(event.kind, EventKind::PaymentVerificationOverdue))
    );
    assert_eq!(story.order.status, Status::PaymentVerification);
    story.run(CARRIER, Command::VerifyPayment { approved: true });
    assert_eq!(story.order.status, Status::AwaitingShipment);
    for person in [BUYER_ACTOR, SELLER_ACTOR, ADMIN_ACTOR] {
        let shipped = Story::shipped();
        assert_eq!(
            shipped.refusal(person, Action::RecordScan).code(),
            "forbidden"
        );
    }
}

#[test]
fn a_scan_for_a_frozen_order_is_kept_and_moves_it_for_nobody_but_an_admin() {
    let mut story = Story::shipped();
    story.act(ADMIN_ACTOR, Action::Freeze);
    story.run(CARRIER, scan(ScanStatus::Delivered, &story, 1));
    assert_eq!(story.order.status, Status::Shipped, "the freeze holds");
    assert!(story.order.frozen);
    assert_eq!(
        story.order.tracking.len(),
        1,
        "the scan is kept for support to see"
    );
    story.act(ADMIN_ACTOR, Action::Unfreeze);
    story.act(ADMIN_ACTOR, Action::MarkDelivered);
    assert_eq!(story.order.status, Status::Delivered);
}
