//! Timers that must stop, resume or re-arm exactly (SPEC 5, 15.4, 15.9, 15.11): the cases
//! that example stories only touched in passing. Each test names the rule and checks
//! every deadline involved, not one of them.

use orderly_domain::order::deadline::DeadlineKind;
use orderly_domain::{Action, Command, DisputeReason, Status};

use crate::support::*;

#[test]
fn spec_15_4_a_declined_payment_rearms_the_payment_window_from_placement_not_from_payment() {
    // Arrange: placed, then paid five days later.
    let mut story = Story::placed();
    let placed_at = story.order.placed_at;
    story.advance(days(5));
    story.act(BUYER_ACTOR, Action::Pay);
    story.advance(hours(1));
    // Act
    story.run(ADMIN_ACTOR, Command::VerifyPayment { approved: false });
    // Assert: the same 20 days as at placement, not 20 days from the payment.
    let window = story
        .order
        .deadline(DeadlineKind::PaymentWindow)
        .expect("the payment window runs again");
    assert_eq!(window.due_at, placed_at + days(20));
    assert_eq!(story.order.status, Status::AwaitingPayment);
    story.advance(days(15) - hours(2));
    assert_eq!(story.order.status, Status::AwaitingPayment);
    story.advance(hours(2));
    assert_eq!(story.order.status, Status::Closed);
}

#[test]
fn spec_15_9_an_open_dispute_pauses_buyer_protection_so_the_seller_is_not_paid_meanwhile() {
    // Arrange: shipped; protection would end in 60 days.
    let mut story = Story::shipped();
    story.advance(days(10));
    let left_before = story
        .order
        .time_left(DeadlineKind::BuyerProtection, story.now)
        .expect("protection runs");
    // Act: a dispute opens and nobody answers for longer than the protection window.
    story.run(
        BUYER_ACTOR,
        Command::OpenDispute {
            reason: DisputeReason::NotReceived,
            amount_minor: ITEMS,
            return_item: false,
            explanation: "nothing arrived".into(),
        },
    );
    let protection = story
        .order
        .deadline(DeadlineKind::BuyerProtection)
        .expect("kept while paused");
    assert!(protection.is_paused());
    assert_eq!(protection.remaining, Some(left_before));
    story.run(
        SELLER_ACTOR,
        Command::RespondClaim {
            decision: orderly_domain::ClaimDecision::Reject,
            amount_minor: None,
            explanation: "it was delivered".into(),
        },
    );
    // Assert: the order did not complete, no escrow went to the seller, however long.
    story.advance(days(14));
    assert_eq!(story.order.status, Status::Shipped);
    assert_eq!(story.order.escrow.released_minor, 0);
    assert!(story.order.open_claim().is_some());
    assert!(
        story
            .order
            .deadline(DeadlineKind::BuyerProtection)
            .is_some_and(|deadline| deadline.is_paused())
    );
}

/// Orders in every situation that arms timers, with the kinds armed in each.
fn situations() -> Vec<(&'static str, Story, &'static [DeadlineKind])> {
    use DeadlineKind::*;
    let mut requested = Story::requested();
    requested.advance(hours(1));
    let mut return_approved = Story::delivered();
    return_approved.act(BUYER_ACTOR, Action::RequestReturn);
    return_approved.act(SELLER_ACTOR, Action::RespondClaim);
    let mut return_in_transit = Story::delivered();
    return_in_transit.act(BUYER_ACTOR, Action::RequestReturn);
    return_in_transit.act(SELLER_ACTOR, Action::RespondClaim);
    return_in_transit.act(BUYER_ACTOR, Action::ReturnShipped);
    let mut claim_open = Story::delivered();
    claim_open.act(BUYER_ACTOR, Action::RequestRefund);
    let mut refused = Story::shipped();
    refused.act(BUYER_ACTOR, Action::RefuseDelivery);
    let mut overdue_watch = Story::delivered();
    overdue_watch.act(BUYER_ACTOR, Action::RequestRefund);
    overdue_watch.run(
        SELLER_ACTOR,
        Command::RespondClaim {
            decision: orderly_domain::ClaimDecision::Counter,
            amount_minor: Some(1_000),
            explanation: "half".into(),
        },
    );
    vec![
        ("placed", Story::placed(), &[PaymentWindow]),
        ("paid", Story::paid(), &[PaymentVerification]),
        (
            "request pending",
            requested,
            &[
                SellerResponse,
                HandlingTime,
                ReminderSellerResponse,
                ReminderHandlingTime,
            ],
        ),
        (
            "shipped",
            Story::shipped(),
            &[NoTrackingDispute, BuyerProtection, ReminderBuyerProtection],
        ),
        (
            "delivered",
            Story::delivered(),
            &[ReceiptConfirmation, ReminderReceiptConfirmation],
        ),
        (
            "claim open",
            claim_open,
            &[
                ReceiptConfirmation,
                ClaimResponse,
                Negotiation,
                ReminderClaimResponse,
                ReminderReceiptConfirmation,
            ],
        ),
        (
            "return approved",
            return_approved,
            &[
                ReceiptConfirmation,
                ReturnShipment,
                ReminderReceiptConfirmation,
            ],
        ),
        (
            "return in transit",
            return_in_transit,
            &[
                ReceiptConfirmation,
                ReturnConfirmation,
                ReminderReceiptConfirmation,
            ],
        ),
        (
            "refused delivery",
            refused,
            &[
                BuyerProtection,
                RefusedDeliveryReturn,
                ReminderBuyerProtection,
            ],
        ),
        (
            "counter offered",
            overdue_watch,
            &[
                ReceiptConfirmation,
                Negotiation,
                ReminderReceiptConfirmation,
            ],
        ),
    ]
}

#[test]
fn spec_15_11_a_freeze_pauses_every_deadline_and_the_unfreeze_resumes_each_with_its_time_left() {
    for (situation, mut story, kinds) in situations() {
        // Arrange
        let mut armed: Vec<DeadlineKind> = story.order.deadlines.iter().map(|d| d.kind).collect();
        armed.sort();
        let mut expected = kinds.to_vec();
        expected.sort();
        assert_eq!(armed, expected, "{situation}: the timers armed");
        let left: Vec<_> = story
            .order
            .deadlines
            .iter()
            .map(|deadline| {
                (
                    deadline.kind,
                    story.order.time_left(deadline.kind, story.now),
                )
            })
            .collect();
        // Act: frozen for longer than any window.
        story.act(ADMIN_ACTOR, Action::Freeze);
        let frozen_version = story.order.version;
        story.advance(days(400));
        // Assert: every one paused, none fired, each resumes with what it had left.
        assert_eq!(
            story.order.version, frozen_version,
            "{situation}: nothing fired"
        );
        for deadline in &story.order.deadlines {
            assert!(deadline.is_paused(), "{situation}: {} runs", deadline.kind);
        }
        story.act(ADMIN_ACTOR, Action::Unfreeze);
        for (kind, before) in left {
            let deadline = story.order.deadline(kind).expect("still armed");
            // Protection and receipt stay paused while a claim is open (SPEC 15.9).
            let claim_paused = story.order.open_claim().is_some()
                && matches!(
                    kind.announces().unwrap_or(kind),
                    DeadlineKind::BuyerProtection | DeadlineKind::ReceiptConfirmation
                );
            assert_eq!(deadline.is_paused(), claim_paused, "{situation}: {kind}");
            assert_eq!(
                story.order.time_left(kind, story.now),
                before,
                "{situation}: {kind} resumes with the time it had left"
            );
        }
    }
}

#[test]
fn spec_16_1_the_seller_is_reminded_24_hours_before_a_request_is_approved_for_want_of_an_answer() {
    // Arrange
    let mut story = Story::requested();
    let respond_by = story
        .order
        .deadline(DeadlineKind::SellerResponse)
        .expect("armed")
        .due_at;
    // Act: 48 hours of silence.
    let from = story.events.len();
    story.advance(hours(48));
    // Assert: the response reminder (and, the sample's handling time being the same 3 days,
    // the seller's reminder to ship), each once.
    let reminders: Vec<_> = story.events[from..]
        .iter()
        .filter_map(|event| match event.kind {
            orderly_domain::EventKind::ReminderDue { deadline, due_at } => Some((deadline, due_at)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reminders,
        vec![
            (DeadlineKind::SellerResponse, respond_by),
            (DeadlineKind::HandlingTime, respond_by)
        ]
    );
    story.advance(hours(23));
    let sent = story
        .event_names_since(from)
        .iter()
        .filter(|name| **name == "reminder_due")
        .count();
    assert_eq!(
        sent, 2,
        "one for the response, one for the handling time, once each"
    );
}

#[test]
fn spec_16_1_no_reminder_goes_out_once_the_seller_answered_or_while_frozen() {
    let mut answered = Story::requested();
    answered.act(SELLER_ACTOR, Action::RejectCancellation);
    assert!(
        answered
            .order
            .deadline(DeadlineKind::ReminderSellerResponse)
            .is_none()
    );
    let from = answered.events.len();
    answered.advance(hours(47));
    assert!(!answered.event_names_since(from).contains(&"reminder_due"));

    let mut frozen = Story::requested();
    frozen.act(ADMIN_ACTOR, Action::Freeze);
    let from = frozen.events.len();
    frozen.advance(days(10));
    assert!(!frozen.event_names_since(from).contains(&"reminder_due"));
}

#[test]
fn spec_16_1_an_extension_moves_the_buyer_protection_reminder_with_its_deadline() {
    let mut story = Story::shipped();
    story.act(BUYER_ACTOR, Action::RequestExtension);
    story.act(SELLER_ACTOR, Action::ApproveExtension);
    let protection = story
        .order
        .deadline(DeadlineKind::BuyerProtection)
        .expect("armed")
        .due_at;
    let reminder = story
        .order
        .deadline(DeadlineKind::ReminderBuyerProtection)
        .expect("armed")
        .due_at;
    assert_eq!(protection.duration_since(reminder), hours(48));
}
