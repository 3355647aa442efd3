//! `apply`: folds one event into the order. Events are facts, so `apply` never refuses;
//! an event that cannot follow the state is a bug and panics with a message.

use jiff::{SignedDuration, Timestamp};

use crate::ledger::{Escrow, LedgerAccount, LedgerEntry};
use crate::order::deadline::{Deadline, DeadlineKind};
use crate::order::event::{Event, EventKind, OrderPlaced};
use crate::order::{
    CancellationProposal, CancellationRequest, Claim, ClaimKind, ClaimReason, ClaimStatus, Ending,
    Evidence, Extension, ExtensionStatus, Message, OfferStatus, Order, PartialRefundOffer, Refund,
    RequestStatus, Scan, Shipment, Status,
};

/// The order after `event`.
pub fn apply(mut order: Order, event: &Event) -> Order {
    apply_in_place(&mut order, event);
    order
}

/// Rebuilds an order from its whole history; `None` for an empty history.
pub fn replay(events: &[Event]) -> Option<Order> {
    let (first, rest) = events.split_first()?;
    let mut order = start(first);
    for event in rest {
        apply_in_place(&mut order, event);
    }
    Some(order)
}

/// The order created by its first event, which must be `OrderPlaced`.
pub fn start(event: &Event) -> Order {
    let EventKind::OrderPlaced(placed) = &event.kind else {
        panic!(
            "an order's first event must be order_placed, not {}",
            event.kind.name()
        );
    };
    let OrderPlaced {
        order_id,
        buyer_id,
        seller_id,
        lines,
        currency,
        payment_method,
        shipping_address,
        handling_days,
        payment_due_at,
    } = placed.clone();
    let items_total_minor = lines.iter().map(|line| line.total_minor()).sum();
    let shipping_fee_minor = lines.iter().map(|line| line.shipping_fee_minor).sum();
    Order {
        id: order_id,
        buyer_id,
        seller_id,
        lines,
        currency,
        items_total_minor,
        shipping_fee_minor,
        payment_method,
        shipping_address,
        handling_days,
        placed_at: event.at,
        status: Status::AwaitingPayment,
        payment_due_at,
        paid_at: None,
        verified_at: None,
        frozen: false,
        cancellation: None,
        cancellation_requests_made: 0,
        shipment: None,
        delivered_at: None,
        receipt_confirmed_at: None,
        no_tracking_dispute_available: false,
        claim: None,
        tracking: Vec::new(),
        proposal: None,
        proposals_made: 0,
        partial_refund_offer: None,
        support_requests: 0,
        internal_notes: 0,
        claims_opened: 0,
        extension: None,
        extensions_approved: 0,
        escrow: Escrow::default(),
        refunds: Vec::new(),
        ledger: Vec::new(),
        deadlines: Vec::new(),
        ending: None,
        penalty_points: 0,
        messages_sent: 0,
        last_message: None,
        complaints: Vec::new(),
        version: 1,
    }
}

/// Applies `event` to `order` where it stands.
pub fn apply_in_place(order: &mut Order, event: &Event) {
    let at = event.at;
    match &event.kind {
        EventKind::OrderPlaced(_) => panic!("order {} was placed twice", order.id),
        EventKind::PaymentSubmitted {
            method,
            amount_minor,
        } => {
            order.status = Status::PaymentVerification;
            order.payment_method = *method;
            order.paid_at = Some(at);
            move_money(
                order,
                at,
                LedgerAccount::BuyerSource,
                LedgerAccount::Escrow,
                *amount_minor,
            );
        }
        EventKind::PaymentVerified => {
            order.status = Status::AwaitingShipment;
            order.verified_at = Some(at);
        }
        EventKind::PaymentDeclined => {
            let amount = order.escrow.held_minor;
            move_money(
                order,
                at,
                LedgerAccount::Escrow,
                LedgerAccount::BuyerSource,
                amount,
            );
            order.status = Status::AwaitingPayment;
            order.paid_at = None;
        }
        EventKind::OrderClosed { reason, fault } => {
            order.status = Status::Closed;
            order.ending = Some(Ending {
                reason: *reason,
                fault: *fault,
            });
            order.frozen = false;
        }
        EventKind::CancellationRequested { reason, message } => {
            order.cancellation = Some(CancellationRequest {
                status: RequestStatus::Pending,
                reason: *reason,
                message: message.clone(),
                requested_at: at,
                respond_by: None,
                rejection_reason: None,
                decided_by_admin: false,
            });
            order.cancellation_requests_made += 1;
        }
        EventKind::ComplaintFiled { text } => order.complaints.push(text.clone()),
        EventKind::CancellationWithdrawn => set_request(order, RequestStatus::Withdrawn),
        EventKind::CancellationApproved { auto } => set_request(
            order,
            if *auto {
                RequestStatus::AutoApproved
            } else {
                RequestStatus::Approved
            },
        ),
        EventKind::CancellationRejected { reason } => {
            set_request(order, RequestStatus::Rejected);
            if let Some(request) = order.cancellation.as_mut() {
                request.rejection_reason = Some(reason.clone());
            }
        }
        EventKind::CancellationEscalated { .. } => set_request(order, RequestStatus::Escalated),
        EventKind::CancellationDecided { approve, .. } => {
            set_request(
                order,
                if *approve {
                    RequestStatus::Approved
                } else {
                    RequestStatus::Rejected
                },
            );
            if let Some(request) = order.cancellation.as_mut() {
                request.decided_by_admin = true;
            }
        }
        EventKind::CancellationVoided => set_request(order, RequestStatus::Void),
        EventKind::CancellationSuperseded => set_request(order, RequestStatus::Superseded),
        EventKind::OrderCancelled { reason, fault } => {
            order.status = Status::Cancelled;
            order.ending = Some(Ending {
                reason: *reason,
                fault: *fault,
            });
            order.frozen = false;
        }
        EventKind::RefundIssued {
            number,
            amount_minor,
            destination,
            expected_by,
            overdue_at,
        } => {
            assert_eq!(
                *number as usize,
                order.refunds.len() + 1,
                "refund numbers of order {} must follow each other",
                order.id
            );
            move_money(
                order,
                at,
                LedgerAccount::Escrow,
                LedgerAccount::Refund(*destination),
                *amount_minor,
            );
            order.refunds.push(Refund {
                number: *number,
                amount_minor: *amount_minor,
                destination: *destination,
                sent_at: at,
                expected_by: *expected_by,
                overdue_at: *overdue_at,
                flagged_overdue: false,
                arrived_at: None,
            });
        }
        EventKind::EscrowReleased { amount_minor } => move_money(
            order,
            at,
            LedgerAccount::Escrow,
            LedgerAccount::SellerPayable,
            *amount_minor,
        ),
        EventKind::StockReleased => {}
        EventKind::Shipped {
            carrier,
            tracking_number,
        } => {
            order.status = Status::Shipped;
            order.shipment = Some(Shipment {
                carrier: carrier.clone(),
                tracking_number: tracking_number.clone(),
                shipped_at: at,
            });
        }
        EventKind::TrackingUpdated {
            carrier,
            tracking_number,
        } => {
            let shipment = order
                .shipment
                .as_mut()
                .expect("tracking is only updated on a shipped order");
            shipment.carrier = carrier.clone();
            shipment.tracking_number = tracking_number.clone();
        }
        EventKind::Delivered => {
            order.status = Status::Delivered;
            order.delivered_at = Some(at);
        }
        EventKind::DeliveryRefused => {
            order.claim = Some(Claim {
                kind: ClaimKind::RefusedDelivery,
                reason: ClaimReason::DeliveryRefused,
                status: ClaimStatus::ReturnInTransit,
                amount_asked_minor: 0,
                return_item: true,
                explanation: String::new(),
                opened_at: at,
                offer_minor: None,
                agreed_refund_minor: None,
                return_shipping_paid_by: None,
                return_tracking_number: None,
                escalated_by: None,
                refund_minor: None,
                evidence: Vec::new(),
            });
        }
        EventKind::ReceiptConfirmed { .. } => order.receipt_confirmed_at = Some(at),
        EventKind::OrderCompleted => {
            order.status = Status::Completed;
            order.frozen = false;
        }
        EventKind::ClaimOpened {
            kind,
            reason,
            amount_minor,
            return_item,
            explanation,
        } => {
            order.claim = Some(Claim {
                kind: *kind,
                reason: *reason,
                status: ClaimStatus::AwaitingSeller,
                amount_asked_minor: *amount_minor,
                return_item: *return_item,
                explanation: explanation.clone(),
                opened_at: at,
                offer_minor: None,
                agreed_refund_minor: None,
                return_shipping_paid_by: None,
                return_tracking_number: None,
                escalated_by: None,
                refund_minor: None,
                evidence: Vec::new(),
            });
            order.claims_opened += 1;
        }
        EventKind::ClaimCountered { amount_minor, .. } => {
            let claim = claim_mut(order);
            claim.status = ClaimStatus::CounterOffered;
            claim.offer_minor = Some(*amount_minor);
        }
        EventKind::ClaimRejected { .. } => claim_mut(order).status = ClaimStatus::Rejected,
        EventKind::OfferAccepted | EventKind::ClaimResolved { .. } => {}
        EventKind::ClaimEscalated { by, .. } => {
            let claim = claim_mut(order);
            claim.status = ClaimStatus::Escalated;
            claim.escalated_by = Some(*by);
        }
        EventKind::ReturnApproved {
            paid_by,
            agreed_refund_minor,
        } => {
            let claim = claim_mut(order);
            claim.status = ClaimStatus::ReturnApproved;
            claim.return_shipping_paid_by = Some(*paid_by);
            claim.agreed_refund_minor = Some(*agreed_refund_minor);
        }
        EventKind::ReturnShipped { tracking_number } => {
            let claim = claim_mut(order);
            claim.status = ClaimStatus::ReturnInTransit;
            claim.return_tracking_number = Some(tracking_number.clone());
        }
        EventKind::ReturnReceived => {}
        EventKind::ClaimSettled { refund_minor } => {
            let claim = claim_mut(order);
            claim.status = ClaimStatus::Resolved;
            claim.refund_minor = Some(*refund_minor);
        }
        EventKind::ClaimClosed { .. } => claim_mut(order).status = ClaimStatus::Closed,
        EventKind::ExtensionRequested { days, reason } => {
            order.extension = Some(Extension {
                days: *days,
                reason: reason.clone(),
                status: ExtensionStatus::Pending,
                requested_at: at,
            });
        }
        EventKind::ExtensionApproved { days } => {
            extension_mut(order).status = ExtensionStatus::Approved;
            order.extensions_approved += 1;
            let extra = SignedDuration::from_hours(24 * i64::from(*days));
            if let Some(deadline) = deadline_mut(order, DeadlineKind::BuyerProtection) {
                match deadline.remaining.as_mut() {
                    Some(remaining) => *remaining += extra,
                    None => deadline.due_at = crate::calendar::add(deadline.due_at, extra),
                }
            }
        }
        EventKind::ExtensionDeclined { .. } => {
            extension_mut(order).status = ExtensionStatus::Declined;
        }
        EventKind::OrderFrozen { .. } => order.frozen = true,
        EventKind::OrderUnfrozen { .. } => order.frozen = false,
        EventKind::MessageSent { author, text } => {
            order.messages_sent += 1;
            order.last_message = Some(Message {
                author: *author,
                text: text.clone(),
                sent_at: at,
            });
        }
        EventKind::PenaltyApplied { points, .. } => order.penalty_points += points,
        EventKind::NoTrackingDisputeAvailable => order.no_tracking_dispute_available = true,
        EventKind::RefundFlaggedOverdue { number } => {
            let refund = order
                .refunds
                .iter_mut()
                .find(|refund| refund.number == *number)
                .expect("only an issued refund is flagged overdue");
            refund.flagged_overdue = true;
        }
        EventKind::CancellationProposed { reason } => {
            order.proposal = Some(CancellationProposal {
                reason: *reason,
                status: OfferStatus::Pending,
                proposed_at: at,
            });
            order.proposals_made += 1;
        }
        EventKind::CancellationProposalAccepted => set_proposal(order, OfferStatus::Accepted),
        EventKind::CancellationProposalDeclined => set_proposal(order, OfferStatus::Declined),
        EventKind::CancellationProposalLapsed => set_proposal(order, OfferStatus::Lapsed),
        EventKind::PartialRefundOffered {
            amount_minor,
            reason,
        } => {
            order.partial_refund_offer = Some(PartialRefundOffer {
                amount_minor: *amount_minor,
                reason: reason.clone(),
                status: OfferStatus::Pending,
                offered_at: at,
            });
        }
        EventKind::PartialRefundAccepted => set_offer(order, OfferStatus::Accepted),
        EventKind::PartialRefundDeclined => set_offer(order, OfferStatus::Declined),
        EventKind::PartialRefundLapsed => set_offer(order, OfferStatus::Lapsed),
        EventKind::EvidenceAdded {
            evidence_id,
            filename,
            content_type,
            size,
            note,
        } => claim_mut(order).evidence.push(Evidence {
            id: *evidence_id,
            filename: filename.clone(),
            content_type: content_type.clone(),
            size: *size,
            note: note.clone(),
            uploaded_by: event.actor.role(),
            uploaded_at: at,
        }),
        EventKind::RefundArrived { number } => {
            let refund = order
                .refunds
                .iter_mut()
                .find(|refund| refund.number == *number)
                .expect("only an issued refund arrives");
            refund.arrived_at = Some(at);
        }
        EventKind::SupportRequested { .. } => order.support_requests += 1,
        EventKind::ReminderDue { .. } | EventKind::PaymentVerificationOverdue => {}
        EventKind::TrackingScanned {
            status,
            scanned_at,
            location,
        } => {
            order.tracking.push(Scan {
                status: *status,
                at: *scanned_at,
                location: location.clone(),
            });
            // Oldest first by the carrier's time: scans arrive late and out of order.
            order.tracking.sort_by_key(|scan| scan.at);
        }
        EventKind::InternalNote { .. } => order.internal_notes += 1,
        EventKind::DeadlineSet { deadline, due_at } => {
            order
                .deadlines
                .retain(|existing| existing.kind != *deadline);
            order.deadlines.push(Deadline {
                kind: *deadline,
                due_at: *due_at,
                remaining: None,
            });
            order.deadlines.sort_by_key(|deadline| deadline.kind);
        }
        EventKind::DeadlineFired { deadline } | EventKind::DeadlineCleared { deadline } => {
            let before = order.deadlines.len();
            order
                .deadlines
                .retain(|existing| existing.kind != *deadline);
            assert!(
                order.deadlines.len() < before,
                "deadline {deadline} of order {} fired or cleared but was not armed",
                order.id
            );
        }
    }
    reconcile_timers(order, at);
    order.version += 1;
}

/// Pauses the timers that must not run now and resumes the ones that may, with the time
/// they had left (SPEC 15.9 and 15.11). Driven by the order's state alone, so that freezes
/// and claims share one mechanism and replay gives the same answer.
fn reconcile_timers(order: &mut Order, at: Timestamp) {
    let runs: Vec<bool> = order
        .deadlines
        .iter()
        .map(|deadline| order.timer_runs(deadline.kind))
        .collect();
    for (deadline, runs) in order.deadlines.iter_mut().zip(runs) {
        match (runs, deadline.remaining) {
            (true, Some(remaining)) => {
                deadline.due_at = crate::calendar::add(at, remaining);
                deadline.remaining = None;
            }
            (false, None) => {
                let left = deadline.due_at.duration_since(at);
                deadline.remaining = Some(left.max(SignedDuration::ZERO));
            }
            _ => {}
        }
    }
    let respond_by = order
        .deadline(DeadlineKind::SellerResponse)
        .map(|deadline| deadline.due_at);
    if let Some(request) = order.cancellation.as_mut() {
        request.respond_by = if request.status == RequestStatus::Pending {
            respond_by
        } else {
            None
        };
    }
}

fn move_money(
    order: &mut Order,
    at: Timestamp,
    from: LedgerAccount,
    to: LedgerAccount,
    amount: i64,
) {
    assert!(
        amount > 0,
        "order {}: a ledger entry moves a positive amount, not {amount}",
        order.id
    );
    let escrow = &mut order.escrow;
    match (from, to) {
        (LedgerAccount::BuyerSource, LedgerAccount::Escrow) => {
            escrow.captured_minor += amount;
            escrow.held_minor += amount;
        }
        (LedgerAccount::Escrow, LedgerAccount::BuyerSource) => {
            escrow.captured_minor -= amount;
            escrow.held_minor -= amount;
        }
        (LedgerAccount::Escrow, LedgerAccount::Refund(_)) => {
            escrow.held_minor -= amount;
            escrow.refunded_minor += amount;
        }
        (LedgerAccount::Escrow, LedgerAccount::SellerPayable) => {
            escrow.held_minor -= amount;
            escrow.released_minor += amount;
        }
        (from, to) => panic!("no money moves from {from:?} to {to:?}"),
    }
    assert!(
        escrow.held_minor >= 0 && escrow.captured_minor >= 0,
        "order {}: escrow went negative: {escrow:?}",
        order.id
    );
    order.ledger.push(LedgerEntry {
        at,
        from,
        to,
        amount_minor: amount,
    });
}

fn set_request(order: &mut Order, status: RequestStatus) {
    order
        .cancellation
        .as_mut()
        .expect("a request event follows a cancellation request")
        .status = status;
}

fn set_proposal(order: &mut Order, status: OfferStatus) {
    order
        .proposal
        .as_mut()
        .expect("a proposal event follows a proposal")
        .status = status;
}

fn set_offer(order: &mut Order, status: OfferStatus) {
    order
        .partial_refund_offer
        .as_mut()
        .expect("an offer event follows an offer")
        .status = status;
}

fn claim_mut(order: &mut Order) -> &mut Claim {
    order
        .claim
        .as_mut()
        .expect("a claim event follows an opened claim")
}

fn extension_mut(order: &mut Order) -> &mut Extension {
    order
        .extension
        .as_mut()
        .expect("an extension event follows an extension request")
}

fn deadline_mut(order: &mut Order, kind: DeadlineKind) -> Option<&mut Deadline> {
    order
        .deadlines
        .iter_mut()
        .find(|deadline| deadline.kind == kind)
}
