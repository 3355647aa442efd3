//! One test per rule the SPEC cites from a seed guide, named `seed_NNN_...` after the seed,
//! plus `spec_15_N_...` for the decisions of SPEC section 15. Each plays the story through
//! `decide` with the test clock of `Story::advance`.

use orderly_domain::order::RequestStatus;
use orderly_domain::order::event::EventKind;
use orderly_domain::policy::CancelRequestWindow;
use orderly_domain::{
    Action, CancelReason, ClaimDecision, Command, DeadlineKind, DisputeReason, Fault, MessageBody,
    PaymentMethod, Policy, ReturnKind, ReturnReason, Status, Template, Window,
};

use crate::support::*;

fn cancel(reason: CancelReason) -> Command {
    Command::Cancel {
        reason,
        message: None,
        complaint: None,
    }
}

fn request_status(story: &Story) -> RequestStatus {
    story
        .order
        .cancellation
        .as_ref()
        .expect("a request was made")
        .status
}

// ---- Before payment ----------------------------------------------------------------

#[test]
fn seed_000_an_unpaid_order_is_cancelled_at_once_and_nothing_is_refunded() {
    // Arrange
    let mut story = Story::placed();
    // Act
    story.run(BUYER_ACTOR, cancel(CancelReason::NoLongerNeeded));
    // Assert
    assert_eq!(story.order.status, Status::Closed);
    assert!(story.order.refunds.is_empty());
    assert!(story.order.deadlines.is_empty());
    assert!(
        story
            .events
            .iter()
            .any(|event| event.kind == EventKind::StockReleased)
    );
}

#[test]
fn seed_004_an_unpaid_order_closes_when_the_20_day_payment_window_runs_out() {
    let mut story = Story::placed();
    story.advance(days(20) - hours(1));
    assert_eq!(story.order.status, Status::AwaitingPayment);
    story.advance(hours(1));
    assert_eq!(story.order.status, Status::Closed);
    let ending = story.order.ending.expect("closed orders say why");
    assert_eq!(ending.reason, CancelReason::PaymentWindowExpired);
    assert_eq!(ending.fault, Fault::Buyer);
}

#[test]
fn seed_002_a_one_week_payment_window_is_one_policy_change_away() {
    let policy = Policy {
        payment_window: Window::Days(7),
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    story.advance(days(7));
    assert_eq!(story.order.status, Status::Closed);
}

#[test]
fn seed_004_a_closed_order_offers_order_again_instead_of_pay_now() {
    let mut story = Story::placed();
    story.advance(days(20));
    let allowed = story.allowed(BUYER_ACTOR);
    assert!(allowed.contains(&Action::OrderAgain));
    assert!(!allowed.contains(&Action::Pay));
    assert_eq!(
        story.refusal(BUYER_ACTOR, Action::Pay).code(),
        "invalid_transition"
    );
}

// ---- Payment verification ------------------------------------------------------------

#[test]
fn seed_003_cancelling_during_payment_verification_refunds_in_full_at_once() {
    let mut story = Story::paid();
    story.run(BUYER_ACTOR, cancel(CancelReason::FoundBetterPrice));
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.refunds.len(), 1);
    assert_eq!(story.order.refunds[0].amount_minor, TOTAL);
    assert_eq!(story.order.escrow.held_minor, 0);
}

#[test]
fn seed_004_cancel_before_verification_can_be_switched_off() {
    let policy = Policy {
        cancel_before_verification: false,
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    story.act(BUYER_ACTOR, Action::Pay);
    let rejection = story
        .try_run(BUYER_ACTOR, cancel(CancelReason::NoLongerNeeded))
        .expect_err("policy forbids it");
    assert_eq!(rejection.code(), "invalid_transition");
    assert!(!story.allowed(BUYER_ACTOR).contains(&Action::Cancel));
}

#[test]
fn seed_003_the_simulated_provider_verifies_a_payment_after_two_hours() {
    let mut story = Story::paid();
    story.advance(hours(2));
    assert_eq!(story.order.status, Status::AwaitingShipment);
    assert!(story.order.deadline(DeadlineKind::HandlingTime).is_some());
}

#[test]
fn spec_15_4_a_declined_payment_returns_the_order_to_awaiting_payment_without_a_refund() {
    let mut story = Story::paid();
    story.run(ADMIN_ACTOR, Command::VerifyPayment { approved: false });
    assert_eq!(story.order.status, Status::AwaitingPayment);
    assert!(story.order.refunds.is_empty());
    assert_eq!(story.order.escrow.captured_minor, 0);
    assert_eq!(story.order.escrow.held_minor, 0);
    // The payment window keeps running from placement, and the buyer may pay again.
    let window = story
        .order
        .deadline(DeadlineKind::PaymentWindow)
        .expect("re-armed");
    assert_eq!(window.due_at, start_time() + days(20));
    story.act(BUYER_ACTOR, Action::Pay);
    assert_eq!(story.order.status, Status::PaymentVerification);
}

// ---- Cancellation after payment --------------------------------------------------------

#[test]
fn seed_001_a_paid_order_needs_the_sellers_approval_to_cancel() {
    let mut story = Story::verified();
    story.run(BUYER_ACTOR, cancel(CancelReason::OrderedWrongItem));
    assert_eq!(story.order.status, Status::AwaitingShipment);
    let request = story.order.cancellation.as_ref().expect("request");
    assert_eq!(request.status, RequestStatus::Pending);
    assert_eq!(request.respond_by, Some(story.now + hours(72)));
}

#[test]
fn seed_003_the_sellers_approval_cancels_and_refunds_items_and_shipping() {
    let mut story = Story::requested();
    let before = story.events.len();
    story.act(SELLER_ACTOR, Action::ApproveCancellation);
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(request_status(&story), RequestStatus::Approved);
    assert_eq!(story.order.refunds[0].amount_minor, TOTAL);
    assert_eq!(
        story.event_names_since(before),
        vec![
            "cancellation_approved",
            "order_cancelled",
            "refund_issued",
            "stock_released"
        ]
    );
}

#[test]
fn seed_003_a_rejection_needs_a_reason_and_keeps_the_order() {
    let mut story = Story::requested();
    let rejection = story
        .try_run(
            SELLER_ACTOR,
            Command::RejectCancellation {
                reason: "   ".into(),
            },
        )
        .expect_err("empty reason");
    assert_eq!(rejection.code(), "validation_failed");
    story.act(SELLER_ACTOR, Action::RejectCancellation);
    assert_eq!(story.order.status, Status::AwaitingShipment);
    assert_eq!(request_status(&story), RequestStatus::Rejected);
    assert!(story.order.deadline(DeadlineKind::SellerResponse).is_none());
}

#[test]
fn seed_001_seller_silence_for_72_hours_approves_the_request() {
    let mut story = Story::requested();
    story.advance(hours(71));
    assert_eq!(request_status(&story), RequestStatus::Pending);
    story.advance(hours(1));
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(request_status(&story), RequestStatus::AutoApproved);
    let ending = story.order.ending.expect("ended");
    assert_eq!(ending.reason, CancelReason::SellerResponseTimeout);
    // The buyer's reason (no_longer_needed) was the buyer's side: no penalty.
    assert_eq!(ending.fault, Fault::Buyer);
    assert_eq!(story.order.penalty_points, 0);
}

#[test]
fn seed_002_a_two_week_response_window_is_one_policy_change_away() {
    let policy = Policy {
        seller_response_window: Window::Days(14),
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    story.act(BUYER_ACTOR, Action::Pay);
    story.act(ADMIN_ACTOR, Action::VerifyPayment);
    story.run(BUYER_ACTOR, cancel(CancelReason::DuplicateOrder));
    // The handling time (3 days) would cancel first; ship-less sellers are penalised
    // either way, so check the armed deadline instead of waiting.
    let deadline = story
        .order
        .deadline(DeadlineKind::SellerResponse)
        .expect("armed");
    assert_eq!(deadline.due_at, story.now + days(14));
}

#[test]
fn seed_004_withdrawing_the_request_resumes_the_order() {
    let mut story = Story::requested();
    story.act(BUYER_ACTOR, Action::WithdrawCancellation);
    assert_eq!(request_status(&story), RequestStatus::Withdrawn);
    assert!(story.order.deadline(DeadlineKind::SellerResponse).is_none());
    // Just short of the 3-day handling time, nothing has been cancelled.
    story.advance(hours(71));
    assert_eq!(story.order.status, Status::AwaitingShipment);
}

#[test]
fn seed_001_a_seller_who_ships_while_a_request_is_pending_wins_the_race() {
    let mut story = Story::requested();
    story.act(SELLER_ACTOR, Action::Ship);
    assert_eq!(story.order.status, Status::Shipped);
    assert_eq!(request_status(&story), RequestStatus::Void);
    // The request's timer is gone: 72 hours later nothing is cancelled.
    story.advance(hours(72));
    assert_eq!(story.order.status, Status::Shipped);
    // The loser of the race gets a clear 409.
    assert_eq!(
        story
            .refusal(SELLER_ACTOR, Action::ApproveCancellation)
            .code(),
        "invalid_transition"
    );
}

#[test]
fn seed_001_the_cancel_button_disappears_once_shipped() {
    let story = Story::shipped();
    let allowed = story.allowed(BUYER_ACTOR);
    assert!(!allowed.contains(&Action::Cancel));
    assert!(!allowed.contains(&Action::RequestCancellation));
    let guidance = orderly_domain::guidance(&story.order, BUYER_ACTOR, story.now, &story.policy);
    assert!(
        guidance.starts_with("Cancellation is no longer possible."),
        "{guidance}"
    );
}

#[test]
fn seed_004_the_handling_time_cancels_with_seller_fault_and_supersedes_a_request() {
    let mut story = Story::requested();
    // The handling time (3 days) equals the response window, so let the seller reject,
    // then re-request an hour before the handling time ends.
    story.act(SELLER_ACTOR, Action::RejectCancellation);
    story.advance(days(2) + hours(23));
    story.act(BUYER_ACTOR, Action::RequestCancellation);
    story.advance(hours(1));
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(request_status(&story), RequestStatus::Superseded);
    let ending = story.order.ending.expect("ended");
    assert_eq!(ending.reason, CancelReason::HandlingTimeExpired);
    assert_eq!(ending.fault, Fault::Seller);
    assert_eq!(story.order.penalty_points, 1);
    assert_eq!(story.order.refunds[0].amount_minor, TOTAL);
    // Shipping after it is a 409 (SPEC 15.12).
    assert_eq!(
        story.refusal(SELLER_ACTOR, Action::Ship).code(),
        "invalid_transition"
    );
}

#[test]
fn seed_004_a_seller_cancels_only_with_a_seller_fault_reason_and_is_penalised() {
    let mut story = Story::requested();
    let rejection = story
        .try_run(
            SELLER_ACTOR,
            Command::SellerCancel {
                reason: CancelReason::NoLongerNeeded,
            },
        )
        .expect_err("buyer-side reason");
    assert_eq!(rejection.code(), "validation_failed");
    story.act(SELLER_ACTOR, Action::SellerCancel);
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(request_status(&story), RequestStatus::Void);
    assert_eq!(story.order.ending.expect("ended").fault, Fault::Seller);
    assert_eq!(story.order.penalty_points, 1);
    assert_eq!(story.order.refunds[0].amount_minor, TOTAL);
}

#[test]
fn seed_002_a_seller_fault_reason_approved_costs_the_seller_a_penalty_point() {
    let mut story = Story::verified();
    story.run(BUYER_ACTOR, cancel(CancelReason::SellerRaisedPrice));
    story.act(SELLER_ACTOR, Action::ApproveCancellation);
    assert_eq!(story.order.ending.expect("ended").fault, Fault::Seller);
    assert_eq!(story.order.penalty_points, 1);
}

#[test]
fn seed_002_a_complaint_against_the_seller_goes_to_the_admin_queue() {
    let mut story = Story::verified();
    story.run(
        BUYER_ACTOR,
        Command::Cancel {
            reason: CancelReason::SellerUnresponsive,
            message: Some("Please cancel".into()),
            complaint: Some("The seller ignores my messages".into()),
        },
    );
    assert_eq!(
        story.order.complaints,
        vec!["The seller ignores my messages"]
    );
    assert!(
        story
            .events
            .iter()
            .any(|event| matches!(event.kind, EventKind::ComplaintFiled { .. }))
    );
}

#[test]
fn seed_003_a_rejected_request_can_be_escalated_and_the_admin_decides() {
    let mut story = Story::requested();
    story.act(SELLER_ACTOR, Action::RejectCancellation);
    story.act(BUYER_ACTOR, Action::EscalateCancellation);
    assert_eq!(request_status(&story), RequestStatus::Escalated);
    story.run(
        ADMIN_ACTOR,
        Command::DecideCancellation {
            approve: true,
            note: "seller had not started".into(),
        },
    );
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.refunds[0].amount_minor, TOTAL);
}

#[test]
fn spec_15_6_an_escalation_declined_by_the_admin_cannot_be_escalated_again() {
    let mut story = Story::requested();
    story.act(SELLER_ACTOR, Action::RejectCancellation);
    story.act(BUYER_ACTOR, Action::EscalateCancellation);
    story.run(
        ADMIN_ACTOR,
        Command::DecideCancellation {
            approve: false,
            note: "already packed".into(),
        },
    );
    assert_eq!(story.order.status, Status::AwaitingShipment);
    assert_eq!(request_status(&story), RequestStatus::Rejected);
    assert_eq!(
        story
            .refusal(BUYER_ACTOR, Action::EscalateCancellation)
            .code(),
        "invalid_transition"
    );
}

#[test]
fn spec_15_15_a_buyer_may_request_at_most_three_times() {
    let mut story = Story::verified();
    for _ in 0..3 {
        story.act(BUYER_ACTOR, Action::RequestCancellation);
        story.act(BUYER_ACTOR, Action::WithdrawCancellation);
    }
    let rejection = story.refusal(BUYER_ACTOR, Action::RequestCancellation);
    assert_eq!(rejection.code(), "invalid_transition");
    assert!(rejection.to_string().contains("at most 3"), "{rejection}");
}

#[test]
fn seed_004_the_one_day_request_window_is_one_policy_change_away() {
    let policy = Policy {
        cancel_request_window: CancelRequestWindow::OneDayAfterPayment,
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    story.act(BUYER_ACTOR, Action::Pay);
    story.act(ADMIN_ACTOR, Action::VerifyPayment);
    story.advance(hours(25));
    assert_eq!(
        story
            .refusal(BUYER_ACTOR, Action::RequestCancellation)
            .code(),
        "invalid_transition"
    );
}

// ---- After shipment ---------------------------------------------------------------------

#[test]
fn seed_001_a_dispute_is_not_a_way_to_cancel_an_unshipped_order() {
    let story = Story::verified();
    let rejection = story.refusal(BUYER_ACTOR, Action::OpenDispute);
    assert_eq!(rejection.code(), "invalid_transition");
    assert!(
        rejection
            .to_string()
            .contains("request cancellation instead")
    );
}

#[test]
fn seed_004_the_no_tracking_dispute_opens_six_days_after_shipment() {
    let mut story = Story::shipped();
    let dispute = || Command::OpenDispute {
        reason: DisputeReason::NoTrackingInformation,
        amount_minor: ITEMS,
        return_item: false,
        explanation: "no tracking updates".into(),
    };
    story.advance(days(6) - hours(1));
    let rejection = story
        .try_run(BUYER_ACTOR, dispute())
        .expect_err("too early");
    assert_eq!(rejection.code(), "invalid_transition");
    story.advance(hours(1));
    story.run(BUYER_ACTOR, dispute());
    assert!(story.order.open_claim().is_some());
}

#[test]
fn spec_15_13_damage_disputes_need_delivery() {
    let story = Story::shipped();
    let rejection = story
        .try_run(
            BUYER_ACTOR,
            Command::OpenDispute {
                reason: DisputeReason::Damaged,
                amount_minor: ITEMS,
                return_item: true,
                explanation: "x".into(),
            },
        )
        .expect_err("needs delivery");
    assert_eq!(rejection.code(), "invalid_transition");
}

#[test]
fn seed_004_the_seller_is_paid_only_when_the_buyer_confirms_receipt() {
    let mut story = Story::delivered();
    assert_eq!(story.order.escrow.held_minor, TOTAL);
    assert_eq!(story.order.escrow.released_minor, 0);
    story.act(BUYER_ACTOR, Action::ConfirmReceipt);
    assert_eq!(story.order.status, Status::Completed);
    assert_eq!(story.order.escrow.held_minor, 0);
    assert_eq!(story.order.escrow.released_minor, TOTAL);
}

#[test]
fn the_receipt_window_of_15_days_completes_a_delivered_order() {
    let mut story = Story::delivered();
    story.advance(days(15));
    assert_eq!(story.order.status, Status::Completed);
    assert_eq!(story.order.escrow.released_minor, TOTAL);
}

#[test]
fn buyer_protection_of_60_days_completes_an_undisputed_shipped_order() {
    let mut story = Story::shipped();
    story.advance(days(60));
    assert_eq!(story.order.status, Status::Completed);
}

#[test]
fn spec_15_18_an_approved_extension_moves_the_protection_deadline() {
    let mut story = Story::shipped();
    let due = story
        .order
        .deadline(DeadlineKind::BuyerProtection)
        .expect("armed")
        .due_at;
    story.act(BUYER_ACTOR, Action::RequestExtension);
    story.act(SELLER_ACTOR, Action::ApproveExtension);
    let moved = story
        .order
        .deadline(DeadlineKind::BuyerProtection)
        .expect("armed")
        .due_at;
    assert_eq!(moved, due + days(7));
    story.act(BUYER_ACTOR, Action::RequestExtension);
    story.act(SELLER_ACTOR, Action::ApproveExtension);
    // At most two approvals.
    assert_eq!(
        story.refusal(BUYER_ACTOR, Action::RequestExtension).code(),
        "invalid_transition"
    );
}

#[test]
fn spec_15_18_seller_silence_until_protection_ends_declines_the_extension() {
    let mut story = Story::shipped();
    story.act(BUYER_ACTOR, Action::RequestExtension);
    story.advance(days(60));
    let extension = story.order.extension.as_ref().expect("requested");
    assert_eq!(
        extension.status,
        orderly_domain::order::ExtensionStatus::Declined
    );
    assert_eq!(story.order.status, Status::Completed);
}

#[test]
fn seed_000_a_refused_parcel_is_refunded_without_shipping_once_it_is_back() {
    let mut story = Story::shipped();
    story.act(BUYER_ACTOR, Action::RefuseDelivery);
    assert_eq!(story.order.status, Status::Shipped);
    story.act(SELLER_ACTOR, Action::ReturnReceived);
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.refunds[0].amount_minor, ITEMS);
    assert_eq!(story.order.escrow.released_minor, SHIPPING);
    assert_eq!(story.order.escrow.held_minor, 0);
}

#[test]
fn spec_15_10_a_refused_parcel_counts_as_back_after_15_days() {
    let mut story = Story::shipped();
    story.act(BUYER_ACTOR, Action::RefuseDelivery);
    story.advance(days(15));
    assert_eq!(story.order.status, Status::Cancelled);
    assert_eq!(story.order.refunds[0].amount_minor, ITEMS);
}

#[test]
fn seed_000_shipping_is_not_refunded_after_shipment_unless_the_policy_says_so() {
    let story = Story::delivered();
    let ask = |amount| Command::RequestReturn {
        kind: ReturnKind::RefundOnly,
        reason: ReturnReason::Damaged,
        amount_minor: amount,
        explanation: "broken".into(),
    };
    let rejection = story
        .try_run(BUYER_ACTOR, ask(TOTAL))
        .expect_err("over items total");
    assert_eq!(rejection.code(), "validation_failed");
    assert!(story.try_run(BUYER_ACTOR, ask(ITEMS)).is_ok());

    let policy = Policy {
        refund_shipping_after_shipment: true,
        ..Policy::default()
    };
    let mut generous = Story::placed_with(policy, PaymentMethod::Card);
    for (actor, action) in [
        (BUYER_ACTOR, Action::Pay),
        (ADMIN_ACTOR, Action::VerifyPayment),
        (SELLER_ACTOR, Action::Ship),
        (ADMIN_ACTOR, Action::MarkDelivered),
    ] {
        generous.act(actor, action);
    }
    assert!(generous.try_run(BUYER_ACTOR, ask(TOTAL)).is_ok());
}

#[test]
fn seed_001_a_partial_refund_by_agreement_completes_the_order() {
    let mut story = Story::delivered();
    story.act(BUYER_ACTOR, Action::RequestRefund);
    let too_high = story
        .try_run(
            SELLER_ACTOR,
            Command::RespondClaim {
                decision: ClaimDecision::Counter,
                amount_minor: Some(ITEMS),
                explanation: "same".into(),
            },
        )
        .expect_err("a counter offer is below the ask");
    assert_eq!(too_high.code(), "validation_failed");
    story.run(
        SELLER_ACTOR,
        Command::RespondClaim {
            decision: ClaimDecision::Counter,
            amount_minor: Some(1_000),
            explanation: "keep it with a discount".into(),
        },
    );
    story.act(BUYER_ACTOR, Action::AcceptOffer);
    assert_eq!(story.order.status, Status::Completed);
    assert_eq!(story.order.escrow.refunded_minor, 1_000);
    assert_eq!(story.order.escrow.released_minor, TOTAL - 1_000);
}

#[test]
fn seed_004_a_return_is_shipped_at_the_buyers_cost_unless_the_seller_is_at_fault() {
    for (reason, payer) in [
        (ReturnReason::NoLongerNeeded, Fault::Buyer),
        (ReturnReason::Damaged, Fault::Seller),
    ] {
        let mut story = Story::delivered();
        story.run(
            BUYER_ACTOR,
            Command::RequestReturn {
                kind: ReturnKind::ReturnAndRefund,
                reason,
                amount_minor: ITEMS,
                explanation: "returning it".into(),
            },
        );
        story.act(SELLER_ACTOR, Action::RespondClaim);
        let claim = story.order.claim.as_ref().expect("claim");
        assert_eq!(claim.return_shipping_paid_by, Some(payer), "{reason}");
        story.act(BUYER_ACTOR, Action::ReturnShipped);
        story.act(SELLER_ACTOR, Action::ReturnReceived);
        assert_eq!(story.order.status, Status::Completed);
        assert_eq!(story.order.escrow.refunded_minor, ITEMS);
    }
}

#[test]
fn spec_15_7_seller_silence_approves_a_return_and_an_unshipped_return_closes_the_claim() {
    let mut story = Story::delivered();
    story.act(BUYER_ACTOR, Action::RequestReturn);
    story.advance(days(5));
    let claim = story.order.claim.as_ref().expect("claim");
    assert_eq!(
        claim.status,
        orderly_domain::order::ClaimStatus::ReturnApproved
    );
    story.advance(days(10));
    let claim = story.order.claim.as_ref().expect("claim");
    assert_eq!(claim.status, orderly_domain::order::ClaimStatus::Closed);
    assert!(story.order.refunds.is_empty());
    // The receipt timer resumes with the time it had left: 15 days minus none used.
    assert_eq!(story.order.status, Status::Delivered);
    story.advance(days(15));
    assert_eq!(story.order.status, Status::Completed);
}

#[test]
fn spec_15_9_an_open_claim_pauses_the_receipt_timer() {
    let mut story = Story::delivered();
    story.advance(days(10));
    story.act(BUYER_ACTOR, Action::RequestReturn);
    let receipt = story
        .order
        .deadline(DeadlineKind::ReceiptConfirmation)
        .expect("armed");
    assert!(receipt.is_paused());
    assert_eq!(receipt.remaining, Some(days(5)));
}

#[test]
fn spec_15_7_seller_silence_refunds_a_dispute_as_asked_and_counts_as_lost() {
    let mut story = Story::delivered();
    story.act(BUYER_ACTOR, Action::OpenDispute);
    story.advance(days(5));
    assert_eq!(story.order.status, Status::Completed);
    assert_eq!(story.order.escrow.refunded_minor, ITEMS);
    assert_eq!(story.order.penalty_points, 1);
}

#[test]
fn spec_15_7_a_dispute_still_open_after_negotiation_escalates_to_the_admin() {
    let mut story = Story::delivered();
    story.act(BUYER_ACTOR, Action::OpenDispute);
    story.run(
        SELLER_ACTOR,
        Command::RespondClaim {
            decision: ClaimDecision::Reject,
            amount_minor: None,
            explanation: "here is the postal receipt".into(),
        },
    );
    story.advance(days(15));
    let claim = story.order.claim.as_ref().expect("claim");
    assert_eq!(claim.status, orderly_domain::order::ClaimStatus::Escalated);
    story.run(
        ADMIN_ACTOR,
        Command::ResolveClaim {
            refund_amount_minor: TOTAL,
            return_required: false,
            return_shipping_paid_by: None,
        },
    );
    // The admin may include shipping.
    assert_eq!(story.order.escrow.refunded_minor, TOTAL);
    assert_eq!(story.order.status, Status::Completed);
    assert_eq!(story.order.penalty_points, 1);
}

#[test]
fn statutory_withdrawal_days_stop_the_seller_refusing_a_return() {
    let policy = Policy {
        statutory_withdrawal_days: Some(7),
        ..Policy::default()
    };
    let mut story = Story::placed_with(policy, PaymentMethod::Card);
    for (actor, action) in [
        (BUYER_ACTOR, Action::Pay),
        (ADMIN_ACTOR, Action::VerifyPayment),
        (SELLER_ACTOR, Action::Ship),
        (ADMIN_ACTOR, Action::MarkDelivered),
        (BUYER_ACTOR, Action::RequestReturn),
    ] {
        story.act(actor, action);
    }
    let rejection = story
        .try_run(
            SELLER_ACTOR,
            Command::RespondClaim {
                decision: ClaimDecision::Reject,
                amount_minor: None,
                explanation: "no".into(),
            },
        )
        .expect_err("statutory right");
    assert_eq!(rejection.code(), "invalid_transition");
}

// ---- Admin -------------------------------------------------------------------------------

#[test]
fn seed_004_a_frozen_order_pauses_its_deadlines_and_resumes_with_the_time_left() {
    let mut story = Story::requested();
    story.advance(hours(10));
    story.act(ADMIN_ACTOR, Action::Freeze);
    let paused = story
        .order
        .deadline(DeadlineKind::SellerResponse)
        .expect("armed");
    assert_eq!(paused.remaining, Some(hours(62)));
    // Nobody but an admin acts; messages still work.
    assert_eq!(
        story
            .refusal(SELLER_ACTOR, Action::ApproveCancellation)
            .code(),
        "order_frozen"
    );
    story.act(BUYER_ACTOR, Action::Message);
    story.advance(days(30));
    assert_eq!(story.order.status, Status::AwaitingShipment);
    story.act(ADMIN_ACTOR, Action::Unfreeze);
    let resumed = story
        .order
        .deadline(DeadlineKind::SellerResponse)
        .expect("armed");
    assert_eq!(resumed.due_at, story.now + hours(62));
    story.advance(hours(62));
    assert_eq!(request_status(&story), RequestStatus::AutoApproved);
}

#[test]
fn seed_004_an_admin_cancellation_refunds_everything_even_after_shipment() {
    let mut story = Story::shipped();
    story.act(ADMIN_ACTOR, Action::Freeze);
    story.act(ADMIN_ACTOR, Action::AdminCancel);
    assert_eq!(story.order.status, Status::Cancelled);
    assert!(!story.order.frozen);
    assert_eq!(story.order.refunds[0].amount_minor, TOTAL);
    let ending = story.order.ending.expect("ended");
    assert_eq!(ending.reason, CancelReason::FraudSuspected);
    assert_eq!(ending.fault, Fault::Seller);
    assert_eq!(story.order.penalty_points, 1);
}

#[test]
fn spec_15_5_an_admin_cancellation_of_an_unpaid_order_closes_it() {
    let mut story = Story::placed();
    story.act(ADMIN_ACTOR, Action::AdminCancel);
    assert_eq!(story.order.status, Status::Closed);
}

// ---- Messages ----------------------------------------------------------------------------

#[test]
fn seed_001_the_same_message_twice_in_a_row_is_refused() {
    let mut story = Story::requested();
    let hello = || Command::SendMessage {
        body: MessageBody::Text("Please approve my cancellation".into()),
    };
    story.run(BUYER_ACTOR, hello());
    let rejection = story
        .try_run(BUYER_ACTOR, hello())
        .expect_err("twice in a row");
    assert_eq!(rejection.code(), "conflict");
    assert!(rejection.to_string().contains("one clear message"));
    // After the seller answers, the same words are no longer "in a row".
    story.act(SELLER_ACTOR, Action::Message);
    story.run(BUYER_ACTOR, hello());
}

#[test]
fn seed_001_templates_fill_in_the_order_number() {
    let mut story = Story::requested();
    story.run(
        BUYER_ACTOR,
        Command::SendMessage {
            body: MessageBody::Template(Template::WrongAddress),
        },
    );
    let text = &story
        .order
        .last_message
        .as_ref()
        .expect("a message was sent")
        .text;
    assert!(
        text.contains(&format!("order #{}", story.order.number())),
        "{text}"
    );
    assert!(!text.contains("#__"));
    assert_eq!(Template::ALL.len(), 5);
}
