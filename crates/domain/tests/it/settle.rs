//! What buyers and sellers can still settle between them, and what support decides
//! (SPEC 16.3 and 16.4): the seller's proposal to cancel, a partial refund by agreement,
//! evidence on claims, a refund's arrival, who pays return shipping, the statutory
//! withdrawal period that no offer or early confirmation can take away, contacting support
//! and internal notes. One test per rule, named after the source it comes from.

use orderly_domain::order::deadline::DeadlineKind;
use orderly_domain::order::{ClaimStatus, OfferStatus};
use orderly_domain::{
    Action, CancelReason, ClaimDecision, Command, DisputeReason, EventKind, Fault, PaymentMethod,
    Policy, ReturnKind, ReturnReason, Status, Verification,
};

use crate::support::*;

#[test]
fn seed_001_the_seller_asks_the_buyer_to_cancel_and_an_accepted_proposal_refunds_in_full() {
    // Arrange
    let mut story = Story::verified();
    // Act: the seller proposes (out of stock), the buyer accepts.
    story.run(
        SELLER_ACTOR,
        Command::ProposeCancellation {
            reason: CancelReason::OutOfStock,
        },
    );
    assert!(
        story
            .allowed(BUYER_ACTOR)
            .contains(&Action::AcceptCancellationProposal)
    );
    assert!(
        !story
            .allowed(BUYER_ACTOR)
            .contains(&Action::RequestCancellation)
    );
    story.act(BUYER_ACTOR, Action::AcceptCancellationProposal);
    // Assert: cancelled at the seller's fault, everything back, a penalty point.
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.escrow.refunded_minor, TOTAL);
    assert_eq!(
        story.order.ending.map(|ending| ending.fault),
        Some(Fault::Seller)
    );
    assert_eq!(story.order.penalty_points, 1);
}

#[test]
fn seed_004_a_declined_or_unanswered_proposal_leaves_the_order_going() {
    let mut declined = Story::verified();
    declined.act(SELLER_ACTOR, Action::ProposeCancellation);
    declined.act(BUYER_ACTOR, Action::DeclineCancellationProposal);
    assert_eq!(declined.order.status, Status::AwaitingShipment);
    assert_eq!(
        declined
            .order
            .proposal
            .as_ref()
            .map(|proposal| proposal.status),
        Some(OfferStatus::Declined)
    );
    // The proposal lapses after the seller response window (24 h here), well before the
    // handling time (3 days) would cancel the order.
    let policy = Policy {
        seller_response_window: orderly_domain::Window::Hours(24),
        ..Policy::default()
    };
    let mut silent = Story::placed_with(policy, PaymentMethod::Card);
    silent.act(BUYER_ACTOR, Action::Pay);
    silent.act(ADMIN_ACTOR, Action::VerifyPayment);
    silent.run(
        SELLER_ACTOR,
        Command::ProposeCancellation {
            reason: CancelReason::NoLongerNeeded,
        },
    );
    silent.advance(hours(24));
    assert_eq!(silent.order.status, Status::AwaitingShipment);
    assert_eq!(
        silent
            .order
            .proposal
            .as_ref()
            .map(|proposal| proposal.status),
        Some(OfferStatus::Lapsed)
    );
    // Shipping instead makes a pending proposal lapse too.
    let mut shipped = Story::verified();
    shipped.act(SELLER_ACTOR, Action::ProposeCancellation);
    shipped.act(SELLER_ACTOR, Action::Ship);
    assert!(shipped.order.pending_proposal().is_none());
}

#[test]
fn seed_001_a_partial_refund_by_agreement_is_paid_at_once_and_the_order_goes_on() {
    // Arrange: delivered; the seller offers 10.00 back to keep it.
    let mut story = Story::delivered();
    story.run(
        SELLER_ACTOR,
        Command::OfferPartialRefund {
            amount_minor: 1_000,
            reason: "keep it with a discount".into(),
        },
    );
    // Act
    story.act(BUYER_ACTOR, Action::AcceptPartialRefund);
    // Assert: refunded to the card now; the order is still delivered, the rest held.
    assert_eq!(story.order.status, Status::Delivered);
    assert_eq!(story.order.refunds.len(), 1);
    assert_eq!(story.order.refunds[0].amount_minor, 1_000);
    assert_eq!(story.order.escrow.held_minor, TOTAL - 1_000);
    // Later claims are capped at what is still unrefunded.
    let rejection = story
        .try_run(
            BUYER_ACTOR,
            Command::RequestReturn {
                kind: ReturnKind::RefundOnly,
                reason: ReturnReason::Damaged,
                amount_minor: ITEMS,
                explanation: "broken".into(),
            },
        )
        .expect_err("more than what is left");
    assert_eq!(rejection.code(), "validation_failed");
    story.act(BUYER_ACTOR, Action::ConfirmReceipt);
    assert_eq!(story.order.escrow.released_minor, TOTAL - 1_000);
}

#[test]
fn a_partial_refund_offer_is_one_at_a_time_never_more_than_is_held_and_lapses_with_a_claim() {
    let mut story = Story::shipped();
    let too_much = story
        .try_run(
            SELLER_ACTOR,
            Command::OfferPartialRefund {
                amount_minor: TOTAL + 1,
                reason: "sorry".into(),
            },
        )
        .expect_err("more than was paid");
    assert_eq!(too_much.code(), "validation_failed");
    story.act(SELLER_ACTOR, Action::OfferPartialRefund);
    assert_eq!(
        story
            .refusal(SELLER_ACTOR, Action::OfferPartialRefund)
            .code(),
        "conflict"
    );
    story.run(
        BUYER_ACTOR,
        Command::OpenDispute {
            reason: DisputeReason::NotReceived,
            amount_minor: ITEMS,
            return_item: false,
            explanation: "nothing came".into(),
        },
    );
    assert!(story.order.pending_partial_refund().is_none());
    assert!(
        !story
            .allowed(BUYER_ACTOR)
            .contains(&Action::AcceptPartialRefund)
    );
}

#[test]
fn seed_004_evidence_such_as_a_postal_receipt_scan_is_added_to_the_open_claim_up_to_ten() {
    let mut story = Story::delivered();
    story.act(BUYER_ACTOR, Action::RequestRefund);
    for index in 0..10_u128 {
        let actor = if index % 2 == 0 {
            BUYER_ACTOR
        } else {
            SELLER_ACTOR
        };
        story.run(
            actor,
            Command::AddEvidence {
                evidence_id: orderly_domain::EvidenceId::from_uuid(uuid::Uuid::from_u128(
                    index + 1,
                )),
                filename: format!("scan-{index}.pdf"),
                content_type: "application/pdf".into(),
                size: 2_048,
                note: Some("postal receipt".into()),
            },
        );
    }
    let claim = story.order.open_claim().expect("open");
    assert_eq!(claim.evidence.len(), 10);
    assert_eq!(claim.evidence[1].uploaded_by, orderly_domain::Role::Seller);
    let eleventh = story.refusal(BUYER_ACTOR, Action::AddEvidence);
    assert_eq!(eleventh.code(), "validation_failed");
    // Not without an open claim.
    let calm = Story::delivered();
    assert_eq!(
        calm.refusal(BUYER_ACTOR, Action::AddEvidence).code(),
        "invalid_transition"
    );
}

#[test]
fn seed_004_a_refund_reported_as_arrived_is_no_longer_flagged_overdue() {
    // Arrange: a card refund after a seller-approved cancellation.
    let mut story = Story::requested();
    story.act(SELLER_ACTOR, Action::ApproveCancellation);
    assert!(story.order.deadline(DeadlineKind::RefundOverdue).is_some());
    // Act: the buyer says the money arrived.
    story.advance(days(3));
    story.run(BUYER_ACTOR, Command::ConfirmRefundArrived { number: 1 });
    // Assert: the watch is gone and nothing is flagged later.
    assert!(story.order.refunds[0].arrived_at.is_some());
    assert!(story.order.deadline(DeadlineKind::RefundOverdue).is_none());
    story.advance(days(60));
    assert!(!story.order.refunds[0].flagged_overdue);
    assert_eq!(
        story.refusal(BUYER_ACTOR, Action::RefundArrived).code(),
        "invalid_transition"
    );
}

#[test]
fn the_platform_decides_who_pays_return_shipping_and_a_refund_decided_loses_the_dispute() {
    // Arrange: a dispute about a damaged item, escalated.
    let mut story = Story::delivered();
    story.run(
        BUYER_ACTOR,
        Command::OpenDispute {
            reason: DisputeReason::Damaged,
            amount_minor: ITEMS,
            return_item: true,
            explanation: "it arrived broken".into(),
        },
    );
    story.act(BUYER_ACTOR, Action::EscalateClaim);
    // Act: partial refund, the item goes back, the buyer pays the postage.
    story.run(
        ADMIN_ACTOR,
        Command::ResolveClaim {
            refund_amount_minor: 2_000,
            return_required: true,
            return_shipping_paid_by: Some(Fault::Buyer),
        },
    );
    // Assert
    let claim = story.order.claim.as_ref().expect("claim");
    assert_eq!(claim.status, ClaimStatus::ReturnApproved);
    assert_eq!(claim.return_shipping_paid_by, Some(Fault::Buyer));
    assert_eq!(
        story.order.penalty_points, 1,
        "a dispute decided with a refund is lost"
    );
    assert!(story.events.iter().any(|event| matches!(
        &event.kind,
        EventKind::PenaltyApplied { reason, .. } if reason == "dispute_lost"
    )));
}

fn statutory() -> Story {
    let policy = Policy {
        statutory_withdrawal_days: Some(7),
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    story.act(BUYER_ACTOR, Action::Pay);
    story.act(ADMIN_ACTOR, Action::VerifyPayment);
    story.act(SELLER_ACTOR, Action::Ship);
    story.act(ADMIN_ACTOR, Action::MarkDelivered);
    story
}

#[test]
fn consumer_law_quoted_in_004_confirming_receipt_early_keeps_the_right_to_return() {
    // Arrange: delivered under a 7-day statutory withdrawal period.
    let mut story = statutory();
    story.advance(days(1));
    // Act: the buyer confirms receipt on day 1.
    story.act(BUYER_ACTOR, Action::ConfirmReceipt);
    // Assert: not completed yet; a return can still be asked on day 5 and not refused.
    assert_eq!(story.order.status, Status::Delivered);
    assert_eq!(story.order.escrow.released_minor, 0);
    story.advance(days(4));
    story.run(
        BUYER_ACTOR,
        Command::RequestReturn {
            kind: ReturnKind::ReturnAndRefund,
            reason: ReturnReason::NoLongerNeeded,
            amount_minor: ITEMS,
            explanation: "changed my mind".into(),
        },
    );
    for decision in [ClaimDecision::Reject, ClaimDecision::Counter] {
        let refused = story
            .try_run(
                SELLER_ACTOR,
                Command::RespondClaim {
                    decision,
                    amount_minor: Some(100),
                    explanation: "no".into(),
                },
            )
            .expect_err("the statutory right cannot be refused or cut down");
        assert_eq!(refused.code(), "invalid_transition");
    }
}

#[test]
fn consumer_law_quoted_in_004_an_early_confirmation_completes_when_the_period_ends() {
    let mut story = statutory();
    story.act(BUYER_ACTOR, Action::ConfirmReceipt);
    story.advance(days(7) - hours(1));
    assert_eq!(story.order.status, Status::Delivered);
    story.advance(hours(1));
    assert_eq!(story.order.status, Status::Completed);
    assert_eq!(story.order.escrow.released_minor, TOTAL);
}

#[test]
fn with_manual_verification_no_timer_approves_the_payment() {
    let policy = Policy {
        payment_verification: Verification::Manual,
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
    story.advance(days(30));
    assert_eq!(story.order.status, Status::PaymentVerification);
    story.act(ADMIN_ACTOR, Action::VerifyPayment);
    assert_eq!(story.order.status, Status::AwaitingShipment);
}

#[test]
fn support_can_be_contacted_and_notes_written_in_every_status_even_frozen_or_finished() {
    let mut story = Story::shipped();
    story.act(ADMIN_ACTOR, Action::Freeze);
    story.act(BUYER_ACTOR, Action::ContactSupport);
    story.act(SELLER_ACTOR, Action::ContactSupport);
    story.act(ADMIN_ACTOR, Action::AddNote);
    story.act(ADMIN_ACTOR, Action::AdminCancel);
    story.act(BUYER_ACTOR, Action::ContactSupport);
    story.act(ADMIN_ACTOR, Action::AddNote);
    assert_eq!(story.order.support_requests, 3);
    assert_eq!(story.order.internal_notes, 2);
}

#[test]
fn admins_act_on_a_frozen_order_while_the_parties_wait() {
    let mut story = Story::paid();
    story.act(ADMIN_ACTOR, Action::Freeze);
    assert_eq!(
        story.refusal(BUYER_ACTOR, Action::Cancel).code(),
        "order_frozen"
    );
    story.act(ADMIN_ACTOR, Action::VerifyPayment);
    assert_eq!(story.order.status, Status::AwaitingShipment);
    assert!(story.order.frozen);
    assert!(
        story
            .order
            .deadlines
            .iter()
            .all(|deadline| deadline.is_paused()),
        "the handling time armed by the verification waits for the unfreeze"
    );
}
