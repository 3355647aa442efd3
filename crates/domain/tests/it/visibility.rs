//! Private data stays private (SPEC 16.3): every event kind, seen by every audience.
//!
//! Each sample event carries the marker `PRIVATE` in the texts only the platform may read
//! (admin notes, a complaint's text) and is sent by an admin whose id is `ADMIN`. The
//! sweep serialises each view and checks that a buyer or seller view never contains the
//! marker nor the admin's id — except the complaint, which its buyer may read — while the
//! platform's view keeps everything. `every_kind` matches every variant without a
//! wildcard, so a new event kind does not compile until it is added to the sweep.

use orderly_domain::order::ClaimKind;
use orderly_domain::order::ClaimReason;
use orderly_domain::order::deadline::DeadlineKind;
use orderly_domain::order::event::ClaimCloseReason;
use orderly_domain::{
    Actor, Audience, CancelReason, DisputeReason, Event, EventKind, Fault, PaymentMethod,
    RefundDestination, Role, place, visible,
};

use crate::support::*;

const PRIVATE: &str = "PRIVATE";

/// One event of every kind; private texts say `PRIVATE`, public ones do not.
fn every_kind() -> Vec<EventKind> {
    let placed = place(
        place_command(PaymentMethod::Card),
        BUYER_ACTOR,
        start_time(),
        &Default::default(),
    )
    .expect("the sample order is valid")
    .events
    .remove(0)
    .kind;
    let at = start_time();
    let kinds = vec![
        placed,
        EventKind::PaymentSubmitted {
            method: PaymentMethod::Card,
            amount_minor: TOTAL,
        },
        EventKind::PaymentVerified,
        EventKind::PaymentDeclined,
        EventKind::OrderClosed {
            reason: CancelReason::PaymentWindowExpired,
            fault: Fault::Buyer,
        },
        EventKind::CancellationRequested {
            reason: CancelReason::NoLongerNeeded,
            message: Some("please cancel".into()),
        },
        EventKind::ComplaintFiled {
            text: format!("{PRIVATE} the seller insulted me"),
        },
        EventKind::CancellationWithdrawn,
        EventKind::CancellationApproved { auto: false },
        EventKind::CancellationRejected {
            reason: "already packed".into(),
        },
        EventKind::CancellationEscalated {
            message: "please decide".into(),
        },
        EventKind::CancellationDecided {
            approve: true,
            note: format!("{PRIVATE} buyer is a known reseller"),
        },
        EventKind::CancellationVoided,
        EventKind::CancellationSuperseded,
        EventKind::OrderCancelled {
            reason: CancelReason::FraudSuspected,
            fault: Fault::Seller,
        },
        EventKind::RefundIssued {
            number: 1,
            amount_minor: TOTAL,
            destination: RefundDestination::Card,
            expected_by: at,
            overdue_at: Some(at),
        },
        EventKind::EscrowReleased { amount_minor: 100 },
        EventKind::StockReleased,
        EventKind::Shipped {
            carrier: "DHL".into(),
            tracking_number: "JD1".into(),
        },
        EventKind::TrackingUpdated {
            carrier: "DHL".into(),
            tracking_number: "JD2".into(),
        },
        EventKind::Delivered,
        EventKind::DeliveryRefused,
        EventKind::ReceiptConfirmed { auto: false },
        EventKind::OrderCompleted,
        EventKind::ClaimOpened {
            kind: ClaimKind::Dispute,
            reason: ClaimReason::Dispute(DisputeReason::Damaged),
            amount_minor: ITEMS,
            return_item: false,
            explanation: "broken".into(),
        },
        EventKind::ClaimCountered {
            amount_minor: 100,
            explanation: "half".into(),
        },
        EventKind::ClaimRejected {
            explanation: "no".into(),
        },
        EventKind::OfferAccepted,
        EventKind::ClaimEscalated {
            by: Role::Buyer,
            explanation: "decide".into(),
        },
        EventKind::ClaimResolved {
            refund_minor: 100,
            return_required: true,
            return_shipping_paid_by: Some(Fault::Seller),
        },
        EventKind::ReturnApproved {
            paid_by: Fault::Seller,
            agreed_refund_minor: 100,
        },
        EventKind::ReturnShipped {
            tracking_number: "RT1".into(),
        },
        EventKind::ReturnReceived,
        EventKind::ClaimSettled { refund_minor: 100 },
        EventKind::ClaimClosed {
            why: ClaimCloseReason::ReturnNotShipped,
        },
        EventKind::ExtensionRequested {
            days: 7,
            reason: "customs".into(),
        },
        EventKind::ExtensionApproved { days: 7 },
        EventKind::ExtensionDeclined { auto: false },
        EventKind::OrderFrozen {
            note: format!("{PRIVATE} card reported stolen by issuer"),
        },
        EventKind::OrderUnfrozen {
            note: format!("{PRIVATE} issuer confirmed the card"),
        },
        EventKind::MessageSent {
            author: Role::Buyer,
            text: "hello".into(),
        },
        EventKind::PenaltyApplied {
            points: 1,
            reason: "out_of_stock".into(),
        },
        EventKind::NoTrackingDisputeAvailable,
        EventKind::RefundFlaggedOverdue { number: 1 },
        EventKind::DeadlineSet {
            deadline: DeadlineKind::PaymentWindow,
            due_at: at,
        },
        EventKind::DeadlineFired {
            deadline: DeadlineKind::PaymentWindow,
        },
        EventKind::DeadlineCleared {
            deadline: DeadlineKind::PaymentWindow,
        },
        EventKind::CancellationProposed {
            reason: CancelReason::OutOfStock,
        },
        EventKind::CancellationProposalAccepted,
        EventKind::CancellationProposalDeclined,
        EventKind::CancellationProposalLapsed,
        EventKind::PartialRefundOffered {
            amount_minor: 500,
            reason: "keep it with a discount".into(),
        },
        EventKind::PartialRefundAccepted,
        EventKind::PartialRefundDeclined,
        EventKind::PartialRefundLapsed,
        EventKind::EvidenceAdded {
            evidence_id: orderly_domain::EvidenceId::from_uuid(uuid::Uuid::from_u128(9)),
            filename: "photo.jpg".into(),
            content_type: "image/jpeg".into(),
            size: 10,
            note: Some("the box".into()),
        },
        EventKind::RefundArrived { number: 1 },
        EventKind::SupportRequested {
            message: format!("{PRIVATE} please help"),
        },
        EventKind::InternalNote {
            text: format!("{PRIVATE} checked with the carrier"),
        },
        EventKind::ReminderDue {
            deadline: DeadlineKind::SellerResponse,
            due_at: at,
        },
        EventKind::TrackingScanned {
            status: orderly_domain::ScanStatus::Delivered,
            scanned_at: at,
            location: Some("Berlin".into()),
        },
        EventKind::PaymentVerificationOverdue,
    ];
    let mut covered: Vec<usize> = kinds.iter().map(variant_index).collect();
    covered.sort_unstable();
    covered.dedup();
    assert_eq!(covered.len(), kinds.len(), "each kind once");
    assert_eq!(
        covered.len(),
        VARIANTS,
        "every kind of event is in the sweep"
    );
    kinds
}

const VARIANTS: usize = 62;

/// No wildcard: a new event kind must be added here, and then to `every_kind`.
fn variant_index(kind: &EventKind) -> usize {
    match kind {
        EventKind::OrderPlaced(_) => 0,
        EventKind::PaymentSubmitted { .. } => 1,
        EventKind::PaymentVerified => 2,
        EventKind::PaymentDeclined => 3,
        EventKind::OrderClosed { .. } => 4,
        EventKind::CancellationRequested { .. } => 5,
        EventKind::ComplaintFiled { .. } => 6,
        EventKind::CancellationWithdrawn => 7,
        EventKind::CancellationApproved { .. } => 8,
        EventKind::CancellationRejected { .. } => 9,
        EventKind::CancellationEscalated { .. } => 10,
        EventKind::CancellationDecided { .. } => 11,
        EventKind::CancellationVoided => 12,
        EventKind::CancellationSuperseded => 13,
        EventKind::OrderCancelled { .. } => 14,
        EventKind::RefundIssued { .. } => 15,
        EventKind::EscrowReleased { .. } => 16,
        EventKind::StockReleased => 17,
        EventKind::Shipped { .. } => 18,
        EventKind::TrackingUpdated { .. } => 19,
        EventKind::Delivered => 20,
        EventKind::DeliveryRefused => 21,
        EventKind::ReceiptConfirmed { .. } => 22,
        EventKind::OrderCompleted => 23,
        EventKind::ClaimOpened { .. } => 24,
        EventKind::ClaimCountered { .. } => 25,
        EventKind::ClaimRejected { .. } => 26,
        EventKind::OfferAccepted => 27,
        EventKind::ClaimEscalated { .. } => 28,
        EventKind::ClaimResolved { .. } => 29,
        EventKind::ReturnApproved { .. } => 30,
        EventKind::ReturnShipped { .. } => 31,
        EventKind::ReturnReceived => 32,
        EventKind::ClaimSettled { .. } => 33,
        EventKind::ClaimClosed { .. } => 34,
        EventKind::ExtensionRequested { .. } => 35,
        EventKind::ExtensionApproved { .. } => 36,
        EventKind::ExtensionDeclined { .. } => 37,
        EventKind::OrderFrozen { .. } => 38,
        EventKind::OrderUnfrozen { .. } => 39,
        EventKind::MessageSent { .. } => 40,
        EventKind::PenaltyApplied { .. } => 41,
        EventKind::NoTrackingDisputeAvailable => 42,
        EventKind::RefundFlaggedOverdue { .. } => 43,
        EventKind::DeadlineSet { .. } => 44,
        EventKind::DeadlineFired { .. } => 45,
        EventKind::DeadlineCleared { .. } => 46,
        EventKind::CancellationProposed { .. } => 47,
        EventKind::CancellationProposalAccepted => 48,
        EventKind::CancellationProposalDeclined => 49,
        EventKind::CancellationProposalLapsed => 50,
        EventKind::PartialRefundOffered { .. } => 51,
        EventKind::PartialRefundAccepted => 52,
        EventKind::PartialRefundDeclined => 53,
        EventKind::PartialRefundLapsed => 54,
        EventKind::EvidenceAdded { .. } => 55,
        EventKind::RefundArrived { .. } => 56,
        EventKind::SupportRequested { .. } => 57,
        EventKind::InternalNote { .. } => 58,
        EventKind::ReminderDue { .. } => 59,
        EventKind::TrackingScanned { .. } => 60,
        EventKind::PaymentVerificationOverdue => 61,
    }
}

/// Everything a view shows, as one text: the event's fields, its sentence and its actor.
fn shown(kind: &EventKind, audience: Audience) -> String {
    let event = Event {
        at: start_time(),
        actor: ADMIN_ACTOR,
        kind: kind.clone(),
    };
    let Some(view) = visible(&event, audience) else {
        return String::new();
    };
    format!(
        "{} | {} | {:?} | {:?}",
        serde_json::to_string(&view.kind).expect("events serialise"),
        view.describe(orderly_domain::money::Currency::parse("EUR").expect("EUR")),
        view.actor_id,
        view.role
    )
}

#[test]
fn buyers_and_sellers_never_see_admin_notes_or_admin_ids() {
    // Arrange
    let admin_id = format!("{ADMIN:?}");
    for kind in every_kind() {
        for audience in [Audience::Buyer, Audience::Seller] {
            // Act
            let text = shown(&kind, audience);
            // Assert
            let complaint_to_its_buyer =
                audience == Audience::Buyer && matches!(kind, EventKind::ComplaintFiled { .. });
            if !complaint_to_its_buyer {
                assert!(
                    !text.contains(PRIVATE),
                    "{audience:?} sees a private text of {}: {text}",
                    kind.name()
                );
            }
            assert!(
                !text.contains(&admin_id),
                "{audience:?} sees the admin's id in {}: {text}",
                kind.name()
            );
        }
    }
}

#[test]
fn the_platform_sees_every_note_and_who_acted() {
    let admin_id = format!("{ADMIN:?}");
    for kind in every_kind() {
        let original = serde_json::to_string(&kind).expect("events serialise");
        let original = original.as_str();
        let text = shown(&kind, Audience::Platform);
        assert!(text.starts_with(original), "{}: {text}", kind.name());
        assert!(text.contains(&admin_id), "{}: {text}", kind.name());
    }
}

#[test]
fn a_complaint_is_read_by_its_buyer_but_not_by_the_accused_seller() {
    let complaint = EventKind::ComplaintFiled {
        text: format!("{PRIVATE} rude seller"),
    };
    let event = Event {
        at: start_time(),
        actor: BUYER_ACTOR,
        kind: complaint,
    };
    assert!(
        visible(&event, Audience::Buyer)
            .expect("visible")
            .describe(orderly_domain::money::Currency::parse("EUR").expect("EUR"))
            .contains("rude seller")
    );
    let seller_view = visible(&event, Audience::Seller).expect("the filing is visible");
    assert!(
        !seller_view
            .describe(orderly_domain::money::Currency::parse("EUR").expect("EUR"))
            .contains("rude seller")
    );
    assert_eq!(
        seller_view.actor_id,
        Some(BUYER),
        "the buyer's own id is not secret"
    );
    assert_eq!(Audience::of(Actor::System), Audience::Platform);
}

#[test]
fn internal_notes_are_hidden_and_a_support_request_is_seen_only_by_whoever_sent_it() {
    let note = Event {
        at: start_time(),
        actor: ADMIN_ACTOR,
        kind: EventKind::InternalNote {
            text: "checked".into(),
        },
    };
    assert!(visible(&note, Audience::Buyer).is_none());
    assert!(visible(&note, Audience::Seller).is_none());
    assert!(visible(&note, Audience::Platform).is_some());
    for (sender, sees, blind) in [
        (BUYER_ACTOR, Audience::Buyer, Audience::Seller),
        (SELLER_ACTOR, Audience::Seller, Audience::Buyer),
    ] {
        let request = Event {
            at: start_time(),
            actor: sender,
            kind: EventKind::SupportRequested {
                message: "help".into(),
            },
        };
        assert!(visible(&request, sees).is_some());
        assert!(visible(&request, blind).is_none());
        assert!(visible(&request, Audience::Platform).is_some());
    }
}
