//! `decide`: the rules. Given an order, a command, who sends it, the time and the policy,
//! it either refuses with a `Rejection` or returns the events that record what happens.
//!
//! Every command is first checked by `check` (who may see the order, which role takes the
//! action, frozen or not, and the state rules of SPEC 3 and 15). `allowed_actions` uses the
//! same `check`, which is why the two always agree. Then the command's own arguments are
//! validated and its events are produced through `Tx`, which applies each event as it is
//! pushed so later steps see the new state.

use jiff::Timestamp;

use crate::actor::{Actor, Role};
use crate::calendar;
use crate::money::AMOUNT_MINOR_MAX;
use crate::order::apply::{apply_in_place, start};
use crate::order::command::{
    Action, CatalogueLine, ClaimDecision, Command, PlaceOrder, ReturnKind, ScanStatus,
};
use crate::order::deadline::DeadlineKind;
use crate::order::event::{ClaimCloseReason, Event, EventKind, OrderPlaced};
use crate::order::message::{MESSAGE_LEN_MAX, MessageBody};
use crate::order::rejection::Rejection;
use crate::order::{ClaimKind, ClaimReason, ClaimStatus, Line, Order, RequestStatus, Status};
use crate::policy::{
    CANCELLATION_REQUESTS_MAX, CancelRequestWindow, EXTENSION_APPROVALS_MAX, EXTENSION_DAYS_MAX,
    EXTENSION_DAYS_MIN, Policy,
};
use crate::reason::{CancelReason, DisputeReason, Fault};

/// Most lines in one order.
pub const LINES_MAX: usize = 50;
/// Most units of one product in one line.
pub const QUANTITY_MAX: u32 = 999;
/// Most claims (returns, refund-only claims, disputes) one order may have.
pub const CLAIMS_MAX: u32 = 3;
/// Longest free-text field (reasons, explanations, notes), in characters.
pub const TEXT_LEN_MAX: usize = 2_000;
/// Longest carrier name or tracking number, in characters.
pub const TRACKING_LEN_MAX: usize = 100;
/// Longest processing time a product may declare, in days.
pub const PROCESSING_DAYS_MAX: u32 = 365;
/// Largest evidence file, in bytes (SPEC 16.4).
pub const EVIDENCE_BYTES_MAX: u64 = 5 * 1024 * 1024;
/// Most evidence files on one claim (SPEC 16.4).
pub const EVIDENCE_PER_CLAIM_MAX: usize = 10;
/// What evidence may be: judged by the file's content, not its name.
pub const EVIDENCE_CONTENT_TYPES: &[&str] =
    &["image/jpeg", "image/png", "image/webp", "application/pdf"];
/// Longest evidence file name, in characters.
pub const FILENAME_LEN_MAX: usize = 200;
/// Most support requests on one order.
pub const SUPPORT_REQUESTS_MAX: u32 = 20;
/// Most internal notes on one order.
pub const NOTES_MAX: u32 = 500;

/// What a command leads to: the events to record, and the order after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub events: Vec<Event>,
    pub order: Order,
}

/// Places a new order (SPEC 2, 15.16). The lines carry catalogue data resolved by the app.
pub fn place(
    command: PlaceOrder,
    actor: Actor,
    now: Timestamp,
    policy: &Policy,
) -> Result<Decision, Rejection> {
    if actor != Actor::Buyer(command.buyer_id) {
        return Err(Rejection::Forbidden {
            action: "place_order",
            role: actor.role(),
            allowed: "buyers, for themselves,",
        });
    }
    let PlaceOrder {
        order_id,
        buyer_id,
        seller_id,
        lines,
        shipping_address,
        payment_method,
    } = command;
    if lines.is_empty() || lines.len() > LINES_MAX {
        return Err(Rejection::validation(
            "lines",
            format!("an order needs between 1 and {LINES_MAX} lines"),
        ));
    }
    let currency = lines[0].unit_price.currency();
    let mut order_lines = Vec::with_capacity(lines.len());
    let mut total: i64 = 0;
    for line in &lines {
        order_lines.push(validate_line(line, currency, policy.default_handling_days)?);
        total += line.unit_price.amount_minor() * i64::from(line.quantity)
            + line.shipping_fee.amount_minor();
    }
    if total > AMOUNT_MINOR_MAX {
        return Err(Rejection::validation(
            "lines",
            "the order total is larger than orderly accepts; split the order",
        ));
    }
    if total == 0 {
        return Err(Rejection::validation(
            "lines",
            "the order total is zero; there is nothing to pay",
        ));
    }
    let handling_days = order_lines
        .iter()
        .map(|line| line.processing_days)
        .max()
        .unwrap_or(policy.default_handling_days);
    let payment_due_at = policy.payment_window.end(now, &policy.holidays);
    let placed = Event {
        at: now,
        actor,
        kind: EventKind::OrderPlaced(OrderPlaced {
            order_id,
            buyer_id,
            seller_id,
            lines: order_lines,
            currency,
            payment_method,
            shipping_address,
            handling_days,
            payment_due_at,
        }),
    };
    let order = start(&placed);
    let mut tx = Tx::new(order, actor, now, policy);
    tx.events.push(placed);
    tx.arm(DeadlineKind::PaymentWindow, payment_due_at);
    Ok(tx.finish())
}

/// Decides a command on an existing order.
pub fn decide(
    order: &Order,
    command: Command,
    actor: Actor,
    now: Timestamp,
    policy: &Policy,
) -> Result<Decision, Rejection> {
    let Some(action) = command.action(order.status) else {
        let Command::ExpireDeadline { kind } = command else {
            unreachable!("only deadline expiry has no action code");
        };
        return expire(order, kind, actor, now, policy);
    };
    check(order, action, actor, now, policy)?;
    let mut tx = Tx::new(order.clone(), actor, now, policy);
    match command {
        Command::Pay { method } => {
            let amount = order.total_minor();
            tx.push(EventKind::PaymentSubmitted {
                method: method.unwrap_or(order.payment_method),
                amount_minor: amount,
            });
            tx.clear(DeadlineKind::PaymentWindow);
            if let Some(verified_at) = policy.payment_verification.end(now, &policy.holidays) {
                tx.arm(DeadlineKind::PaymentVerification, verified_at);
            }
            if policy.payment_verification == crate::policy::Verification::Provider {
                tx.arm(
                    DeadlineKind::VerificationOverdue,
                    now + jiff::SignedDuration::from_hours(
                        crate::policy::PROVIDER_VERIFICATION_HOURS,
                    ),
                );
            }
        }
        Command::VerifyPayment { approved } => {
            tx.clear(DeadlineKind::PaymentVerification);
            tx.clear(DeadlineKind::VerificationOverdue);
            if approved {
                tx.payment_verified();
            } else {
                tx.push(EventKind::PaymentDeclined);
                if now >= order.payment_due_at {
                    tx.close(CancelReason::PaymentWindowExpired);
                } else {
                    tx.arm(DeadlineKind::PaymentWindow, order.payment_due_at);
                }
            }
        }
        Command::Cancel {
            reason,
            message,
            complaint,
        } => {
            if !reason.is_buyer_choice() {
                return Err(Rejection::validation(
                    "reason",
                    format!("`{reason}` is not one of the reasons a buyer can pick"),
                ));
            }
            let message = optional_text("message", message)?;
            let complaint = optional_text("complaint", complaint)?;
            match order.status {
                Status::AwaitingPayment => tx.close(reason),
                Status::PaymentVerification => {
                    tx.clear(DeadlineKind::PaymentVerification);
                    tx.cancel_paid(reason, reason.fault());
                }
                _ => {
                    tx.push(EventKind::CancellationRequested { reason, message });
                    tx.arm(
                        DeadlineKind::SellerResponse,
                        policy.seller_response_window.end(now, &policy.holidays),
                    );
                }
            }
            if let Some(text) = complaint {
                tx.push(EventKind::ComplaintFiled { text });
            }
        }
        Command::WithdrawCancellation => {
            tx.push(EventKind::CancellationWithdrawn);
            tx.clear(DeadlineKind::SellerResponse);
        }
        Command::ApproveCancellation => {
            tx.push(EventKind::CancellationApproved { auto: false });
            tx.clear(DeadlineKind::SellerResponse);
            let reason = request_reason(order);
            tx.cancel_paid(reason, reason.fault());
        }
        Command::RejectCancellation { reason } => {
            let reason = required_text("reason", reason, TEXT_LEN_MAX)?;
            tx.push(EventKind::CancellationRejected { reason });
            tx.clear(DeadlineKind::SellerResponse);
        }
        Command::EscalateCancellation { message } => {
            let message = required_text("message", message, TEXT_LEN_MAX)?;
            tx.push(EventKind::CancellationEscalated { message });
        }
        Command::DecideCancellation { approve, note } => {
            let note = bounded_text("note", note, TEXT_LEN_MAX)?;
            tx.push(EventKind::CancellationDecided { approve, note });
            if approve {
                let reason = request_reason(order);
                tx.cancel_paid(reason, reason.fault());
            }
        }
        Command::SellerCancel { reason } => {
            if !reason.is_seller_choice() {
                return Err(Rejection::validation(
                    "reason",
                    format!(
                        "a seller cancels only with a seller-fault reason ({}); `{reason}` is not one",
                        seller_reasons()
                    ),
                ));
            }
            tx.void_open_request();
            tx.cancel_paid(reason, Fault::Seller);
        }
        Command::Ship {
            carrier,
            tracking_number,
        } => {
            let carrier = required_text("carrier", carrier, TRACKING_LEN_MAX)?;
            let tracking_number =
                required_text("tracking_number", tracking_number, TRACKING_LEN_MAX)?;
            tx.void_open_request();
            tx.lapse_proposal();
            tx.push(EventKind::Shipped {
                carrier,
                tracking_number,
            });
            tx.clear(DeadlineKind::HandlingTime);
            tx.clear(DeadlineKind::SellerResponse);
            tx.arm(
                DeadlineKind::NoTrackingDispute,
                policy.no_tracking_dispute_after.end(now, &policy.holidays),
            );
            tx.arm(
                DeadlineKind::BuyerProtection,
                policy.buyer_protection.end(now, &policy.holidays),
            );
        }
        Command::UpdateTracking {
            carrier,
            tracking_number,
        } => {
            let carrier = required_text("carrier", carrier, TRACKING_LEN_MAX)?;
            let tracking_number =
                required_text("tracking_number", tracking_number, TRACKING_LEN_MAX)?;
            tx.push(EventKind::TrackingUpdated {
                carrier,
                tracking_number,
            });
        }
        Command::MarkDelivered => tx.mark_delivered(),
        Command::RefuseDelivery => {
            tx.push(EventKind::DeliveryRefused);
            tx.clear(DeadlineKind::NoTrackingDispute);
            tx.arm(
                DeadlineKind::RefusedDeliveryReturn,
                policy
                    .refused_delivery_return_window
                    .end(now, &policy.holidays),
            );
        }
        Command::ConfirmReceipt => {
            let delivered_at = order.delivered_at.unwrap_or(now);
            let withdrawal_ends = policy
                .statutory_withdrawal_days
                .map(|days| crate::policy::Window::Days(days).end(delivered_at, &policy.holidays))
                .filter(|ends| *ends > now);
            match withdrawal_ends {
                // Confirming early does not take away the right to return within the
                // statutory period: the order completes (and the seller is paid) when it
                // ends, and until then a return can still be requested.
                Some(ends) => {
                    if order.status == Status::Shipped {
                        tx.mark_delivered();
                    }
                    tx.push(EventKind::ReceiptConfirmed { auto: false });
                    tx.arm(DeadlineKind::ReceiptConfirmation, ends);
                }
                None => {
                    tx.push(EventKind::ReceiptConfirmed { auto: false });
                    tx.complete();
                }
            }
        }
        Command::RequestReturn {
            kind,
            reason,
            amount_minor,
            explanation,
        } => {
            let amount = claim_amount(order, policy, amount_minor)?;
            let explanation = required_text("explanation", explanation, TEXT_LEN_MAX)?;
            let (claim_kind, return_item) = match kind {
                ReturnKind::ReturnAndRefund => (ClaimKind::ReturnAndRefund, true),
                ReturnKind::RefundOnly => (ClaimKind::RefundOnly, false),
            };
            tx.lapse_partial_refund();
            tx.push(EventKind::ClaimOpened {
                kind: claim_kind,
                reason: ClaimReason::Return(reason),
                amount_minor: amount,
                return_item,
                explanation,
            });
            tx.arm_claim_timers();
        }
        Command::OpenDispute {
            reason,
            amount_minor,
            return_item,
            explanation,
        } => {
            dispute_reason_allowed(order, reason)?;
            let amount = claim_amount(order, policy, amount_minor)?;
            let explanation = required_text("explanation", explanation, TEXT_LEN_MAX)?;
            tx.lapse_partial_refund();
            tx.push(EventKind::ClaimOpened {
                kind: ClaimKind::Dispute,
                reason: ClaimReason::Dispute(reason),
                amount_minor: amount,
                return_item,
                explanation,
            });
            tx.arm_claim_timers();
        }
        Command::RespondClaim {
            decision,
            amount_minor,
            explanation,
        } => {
            let claim = order
                .open_claim()
                .expect("check found an open claim")
                .clone();
            match decision {
                ClaimDecision::Accept => {
                    bounded_text("explanation", explanation, TEXT_LEN_MAX)?;
                    tx.clear(DeadlineKind::ClaimResponse);
                    if claim.return_item {
                        tx.approve_return(claim.amount_asked_minor);
                    } else {
                        tx.settle_claim(claim.amount_asked_minor, false);
                    }
                }
                ClaimDecision::Counter => {
                    if within_statutory_withdrawal(order, &claim, now, policy) {
                        return Err(Rejection::InvalidTransition {
                            action: Action::RespondClaim.code(),
                            status: order.status,
                            detail: "the buyer is within the statutory withdrawal period, so the return is refunded in full; accept it".into(),
                        });
                    }
                    let Some(offer) = amount_minor else {
                        return Err(Rejection::validation(
                            "amount",
                            "a counter offer needs an amount below what the buyer asked",
                        ));
                    };
                    if offer <= 0 || offer >= claim.amount_asked_minor {
                        return Err(Rejection::validation(
                            "amount",
                            format!(
                                "a counter offer must be more than 0 and less than the {} asked",
                                claim.amount_asked_minor
                            ),
                        ));
                    }
                    let explanation = required_text("explanation", explanation, TEXT_LEN_MAX)?;
                    tx.push(EventKind::ClaimCountered {
                        amount_minor: offer,
                        explanation,
                    });
                    tx.clear(DeadlineKind::ClaimResponse);
                }
                ClaimDecision::Reject => {
                    if within_statutory_withdrawal(order, &claim, now, policy) {
                        return Err(Rejection::InvalidTransition {
                            action: Action::RespondClaim.code(),
                            status: order.status,
                            detail: "the buyer is within the statutory withdrawal period, so a return cannot be refused".into(),
                        });
                    }
                    let explanation = required_text("explanation", explanation, TEXT_LEN_MAX)?;
                    tx.push(EventKind::ClaimRejected { explanation });
                    tx.clear(DeadlineKind::ClaimResponse);
                    if claim.kind != ClaimKind::Dispute {
                        tx.clear(DeadlineKind::Negotiation);
                    }
                }
            }
        }
        Command::AcceptOffer => {
            let offer = order
                .open_claim()
                .and_then(|claim| claim.offer_minor)
                .expect("check found a counter offer");
            tx.push(EventKind::OfferAccepted);
            tx.settle_claim(offer, false);
        }
        Command::EscalateClaim { explanation } => {
            let explanation = required_text("explanation", explanation, TEXT_LEN_MAX)?;
            tx.push(EventKind::ClaimEscalated {
                by: actor.role(),
                explanation,
            });
            tx.clear(DeadlineKind::ClaimResponse);
            tx.clear(DeadlineKind::Negotiation);
        }
        Command::ResolveClaim {
            refund_amount_minor,
            return_required,
            return_shipping_paid_by,
        } => {
            let left = order.refundable_minor();
            if refund_amount_minor < 0 || refund_amount_minor > left {
                return Err(Rejection::validation(
                    "refund_amount",
                    format!("the refund must be between 0 and the {left} still in escrow"),
                ));
            }
            let returns = return_required && refund_amount_minor > 0;
            tx.push(EventKind::ClaimResolved {
                refund_minor: refund_amount_minor,
                return_required,
                return_shipping_paid_by: return_shipping_paid_by.filter(|_| returns),
            });
            // A dispute decided with a refund is lost by the seller, whether or not the
            // item goes back first (SPEC 15.22).
            let dispute = order
                .open_claim()
                .is_some_and(|claim| claim.kind == ClaimKind::Dispute);
            if dispute && refund_amount_minor > 0 {
                tx.penalize("dispute_lost");
            }
            if returns {
                tx.approve_return_paid_by(refund_amount_minor, return_shipping_paid_by);
            } else {
                tx.settle_claim(refund_amount_minor, false);
            }
        }
        Command::ReturnShipped { tracking_number } => {
            let tracking_number =
                required_text("tracking_number", tracking_number, TRACKING_LEN_MAX)?;
            tx.push(EventKind::ReturnShipped { tracking_number });
            tx.clear(DeadlineKind::ReturnShipment);
            tx.arm(
                DeadlineKind::ReturnConfirmation,
                policy.return_confirmation_window.end(now, &policy.holidays),
            );
        }
        Command::ReturnReceived => tx.return_received(),
        Command::RequestExtension { days, reason } => {
            if !(EXTENSION_DAYS_MIN..=EXTENSION_DAYS_MAX).contains(&days) {
                return Err(Rejection::validation(
                    "days",
                    format!("an extension is {EXTENSION_DAYS_MIN} to {EXTENSION_DAYS_MAX} days"),
                ));
            }
            let reason = required_text("reason", reason, TEXT_LEN_MAX)?;
            tx.push(EventKind::ExtensionRequested { days, reason });
        }
        Command::ApproveExtension => {
            let days = order
                .extension
                .as_ref()
                .map_or(0, |extension| extension.days);
            tx.push(EventKind::ExtensionApproved { days });
        }
        Command::DeclineExtension => tx.push(EventKind::ExtensionDeclined { auto: false }),
        Command::Freeze { note } => {
            let note = bounded_text("note", note, TEXT_LEN_MAX)?;
            tx.push(EventKind::OrderFrozen { note });
        }
        Command::Unfreeze { note } => {
            let note = bounded_text("note", note, TEXT_LEN_MAX)?;
            tx.push(EventKind::OrderUnfrozen { note });
        }
        Command::AdminCancel { note } => {
            bounded_text("note", note, TEXT_LEN_MAX)?;
            tx.void_open_request();
            if tx.order.open_claim().is_some() {
                tx.push(EventKind::ClaimClosed {
                    why: ClaimCloseReason::OrderCancelled,
                });
            }
            if order.status == Status::AwaitingPayment {
                tx.close(CancelReason::FraudSuspected);
            } else {
                tx.cancel_paid(CancelReason::FraudSuspected, Fault::Seller);
            }
        }
        Command::SendMessage { body } => {
            let text = match body {
                MessageBody::Text(text) => required_text("text", text, MESSAGE_LEN_MAX)?,
                MessageBody::Template(template) => template.render(&order.number()),
            };
            let author = actor.role();
            if order
                .last_message
                .as_ref()
                .is_some_and(|last| last.author == author && last.text == text)
            {
                return Err(Rejection::conflict(
                    "you sent this exact message just before; send one clear message and wait for the answer",
                ));
            }
            tx.push(EventKind::MessageSent { author, text });
        }
        Command::OrderAgain => {}
        Command::ProposeCancellation { reason } => {
            tx.push(EventKind::CancellationProposed { reason });
            tx.arm(
                DeadlineKind::ProposalResponse,
                policy.seller_response_window.end(now, &policy.holidays),
            );
        }
        Command::AcceptCancellationProposal => {
            let reason = order
                .pending_proposal()
                .map(|proposal| proposal.reason)
                .expect("check found a pending proposal");
            tx.push(EventKind::CancellationProposalAccepted);
            tx.clear(DeadlineKind::ProposalResponse);
            tx.cancel_paid(reason, reason.fault());
        }
        Command::DeclineCancellationProposal => {
            tx.push(EventKind::CancellationProposalDeclined);
            tx.clear(DeadlineKind::ProposalResponse);
        }
        Command::OfferPartialRefund {
            amount_minor,
            reason,
        } => {
            let left = order.refundable_minor();
            if amount_minor <= 0 || amount_minor > left {
                return Err(Rejection::validation(
                    "amount",
                    format!("offer more than 0 and at most the {left} still held for this order"),
                ));
            }
            let reason = required_text("reason", reason, TEXT_LEN_MAX)?;
            tx.push(EventKind::PartialRefundOffered {
                amount_minor,
                reason,
            });
        }
        Command::AcceptPartialRefund => {
            let amount = order
                .pending_partial_refund()
                .map(|offer| offer.amount_minor)
                .expect("check found a pending offer");
            tx.push(EventKind::PartialRefundAccepted);
            tx.refund(amount);
        }
        Command::DeclinePartialRefund => tx.push(EventKind::PartialRefundDeclined),
        Command::AddEvidence {
            evidence_id,
            filename,
            content_type,
            size,
            note,
        } => {
            let filename = required_text("filename", filename, FILENAME_LEN_MAX)?;
            if !EVIDENCE_CONTENT_TYPES.contains(&content_type.as_str()) {
                return Err(Rejection::validation(
                    "file",
                    "evidence is a JPEG, PNG or WebP image or a PDF",
                ));
            }
            if size == 0 || size > EVIDENCE_BYTES_MAX {
                return Err(Rejection::validation(
                    "file",
                    format!(
                        "an evidence file is at most {} MiB",
                        EVIDENCE_BYTES_MAX / 1024 / 1024
                    ),
                ));
            }
            let note = optional_text("note", note)?;
            tx.push(EventKind::EvidenceAdded {
                evidence_id,
                filename,
                content_type,
                size,
                note,
            });
        }
        Command::ConfirmRefundArrived { number } => {
            if !order
                .refunds_in_transit()
                .any(|refund| refund.number == number)
            {
                // The state of the order's refunds, not the request, is what refuses it: a
                // 409 like every other refusal by the order's state (SPEC 15).
                return Err(Rejection::Conflict {
                    detail: format!(
                        "refund {number} is not on its way: it does not exist on this order or has already arrived"
                    ),
                });
            }
            tx.push(EventKind::RefundArrived { number });
            tx.arm_next_refund_overdue();
        }
        Command::ContactSupport { message } => {
            let message = required_text("message", message, TEXT_LEN_MAX)?;
            tx.push(EventKind::SupportRequested { message });
        }
        Command::AddNote { text } => {
            let text = required_text("text", text, TEXT_LEN_MAX)?;
            tx.push(EventKind::InternalNote { text });
        }
        Command::RecordScan {
            status,
            at,
            location,
        } => {
            let location = optional_text("location", location)?;
            tx.push(EventKind::TrackingScanned {
                status,
                scanned_at: at,
                location,
            });
            // The scan moves the order by what it means, whatever order scans arrive in:
            // a late "in transit" after "delivered" changes nothing. A frozen order keeps
            // the scan and moves for nobody but an admin, who sees it in the tracking.
            if order.frozen {
                return Ok(tx.finish());
            }
            let refused = tx
                .order
                .open_claim()
                .is_some_and(|claim| claim.kind == ClaimKind::RefusedDelivery);
            match status {
                ScanStatus::Delivered if order.status == Status::Shipped && !refused => {
                    tx.mark_delivered();
                }
                ScanStatus::ReturnedToSender
                    if refused
                        && tx
                            .order
                            .open_claim()
                            .is_some_and(|claim| claim.status == ClaimStatus::ReturnInTransit) =>
                {
                    tx.return_received();
                }
                _ => {}
            }
        }
        Command::ExpireDeadline { .. } => unreachable!("handled above"),
    }
    Ok(tx.finish())
}

/// Whether `actor` may take `action` on `order` now, judged on the state alone (not on the
/// command's arguments). `allowed_actions` is exactly the actions this accepts.
pub fn check(
    order: &Order,
    action: Action,
    actor: Actor,
    now: Timestamp,
    policy: &Policy,
) -> Result<(), Rejection> {
    authorize(order, action, actor)?;
    // A frozen order: nobody but an admin can change it (SPEC 2 and 15.11).
    if order.frozen && action.changes_state() && actor.role() != Role::Admin {
        return Err(Rejection::OrderFrozen);
    }
    state_rule(order, action, now, policy)
}

/// Whether `actor` may take `action` on the order at all, whatever its state: a stranger
/// to the order is told it does not exist (SPEC 1), a role that never takes the action is
/// refused.
pub fn authorize(order: &Order, action: Action, actor: Actor) -> Result<(), Rejection> {
    if !can_see(order, actor) {
        return Err(Rejection::NotFound);
    }
    if !action.roles().contains(&actor.role()) {
        return Err(Rejection::Forbidden {
            action: action.code(),
            role: actor.role(),
            allowed: action.roles_text(),
        });
    }
    Ok(())
}

/// Buyers and sellers see their own orders; admins and the system see every order.
pub fn can_see(order: &Order, actor: Actor) -> bool {
    match actor {
        Actor::Buyer(id) => id == order.buyer_id,
        Actor::Seller(id) => id == order.seller_id,
        Actor::Admin(_) | Actor::System | Actor::Provider(_) => true,
    }
}

/// The rules of SPEC 3 and 15, one arm per action.
fn state_rule(
    order: &Order,
    action: Action,
    now: Timestamp,
    policy: &Policy,
) -> Result<(), Rejection> {
    let status = order.status;
    let refuse = |detail: &str| {
        Err(Rejection::InvalidTransition {
            action: action.code(),
            status,
            detail: detail.to_owned(),
        })
    };
    let request = order.cancellation.as_ref();
    let claim = order.open_claim();
    if matches!(
        action,
        Action::RequestReturn | Action::RequestRefund | Action::OpenDispute
    ) && claim.is_none()
        && status.is_after_shipment()
        && order.claim_cap_minor(policy.refund_shipping_after_shipment) <= 0
    {
        return refuse("everything paid for the items has already been refunded");
    }
    match action {
        Action::Pay => match status {
            Status::AwaitingPayment => Ok(()),
            Status::Closed => refuse("the order is closed; place it again instead"),
            _ => refuse("the order is already paid"),
        },
        Action::Cancel => match status {
            Status::AwaitingPayment => Ok(()),
            Status::PaymentVerification if policy.cancel_before_verification => Ok(()),
            Status::PaymentVerification => refuse(
                "the payment is being verified; you can request cancellation once it is verified",
            ),
            _ => refuse("the order can no longer be cancelled at once"),
        },
        Action::RequestCancellation => {
            if status != Status::AwaitingShipment {
                return match status {
                    Status::Shipped | Status::Delivered => refuse(
                        "cancellation is no longer possible once the order has shipped; wait for delivery, then request a return or refund, or open a dispute",
                    ),
                    _ => refuse(
                        "a cancellation request is only possible while the order awaits shipment",
                    ),
                };
            }
            if order.open_cancellation().is_some() {
                return Err(Rejection::conflict(
                    "a cancellation request is already waiting for an answer; withdraw it or wait",
                ));
            }
            if order.pending_proposal().is_some() {
                return Err(Rejection::conflict(
                    "the seller proposed to cancel this order; accept the proposal instead",
                ));
            }
            if order.cancellation_requests_made >= CANCELLATION_REQUESTS_MAX {
                return refuse(&format!(
                    "an order accepts at most {CANCELLATION_REQUESTS_MAX} cancellation requests; message the seller instead"
                ));
            }
            if policy.cancel_request_window == CancelRequestWindow::OneDayAfterPayment {
                let paid_at = order.paid_at.unwrap_or(order.placed_at);
                let window_end = crate::policy::Window::Hours(24).end(paid_at, &policy.holidays);
                if now > window_end {
                    return refuse(
                        "cancellation requests are accepted for one day after payment only",
                    );
                }
            }
            Ok(())
        }
        Action::WithdrawCancellation => match request {
            Some(request) if status == Status::AwaitingShipment && request.is_open() => Ok(()),
            _ => refuse("there is no cancellation request waiting for an answer"),
        },
        Action::ApproveCancellation | Action::RejectCancellation => match request {
            Some(request)
                if status == Status::AwaitingShipment
                    && request.status == RequestStatus::Pending =>
            {
                Ok(())
            }
            Some(request) if request.status == RequestStatus::Escalated => {
                refuse("the request was escalated; the platform decides it now")
            }
            _ => refuse("there is no pending cancellation request"),
        },
        Action::EscalateCancellation => match request {
            Some(request)
                if status == Status::AwaitingShipment
                    && request.status == RequestStatus::Rejected
                    && !request.decided_by_admin =>
            {
                Ok(())
            }
            _ => {
                refuse("only a request the seller rejected can be escalated, once, before shipment")
            }
        },
        Action::DecideCancellation => match request {
            Some(request)
                if status == Status::AwaitingShipment
                    && request.status == RequestStatus::Escalated =>
            {
                Ok(())
            }
            _ => refuse("there is no escalated cancellation request"),
        },
        Action::SellerCancel | Action::Ship => match status {
            Status::AwaitingShipment => Ok(()),
            Status::PaymentVerification | Status::AwaitingPayment => {
                refuse("the payment has not been verified yet")
            }
            _ => refuse("the order is past shipment"),
        },
        Action::VerifyPayment => match status {
            Status::PaymentVerification => Ok(()),
            _ => refuse("there is no payment waiting for verification"),
        },
        Action::UpdateTracking => match status {
            Status::Shipped => Ok(()),
            _ => refuse("tracking can be updated only while the parcel is on its way"),
        },
        Action::MarkDelivered => match (status, claim) {
            (Status::Shipped, Some(claim)) if claim.kind == ClaimKind::RefusedDelivery => {
                refuse("the buyer refused the parcel; it is on its way back")
            }
            (Status::Shipped, _) => Ok(()),
            _ => refuse("only a shipped order can be marked delivered"),
        },
        Action::RefuseDelivery => match (status, claim) {
            (Status::Shipped, None) => Ok(()),
            (Status::Shipped, Some(_)) => refuse("settle the open claim first"),
            _ => refuse("delivery can be refused only while the parcel is on its way"),
        },
        Action::ConfirmReceipt => match (status, claim) {
            _ if order.receipt_confirmed_at.is_some() => refuse(
                "receipt is already confirmed; the order completes when the withdrawal period ends",
            ),
            (Status::Shipped | Status::Delivered, None) => Ok(()),
            (Status::Shipped | Status::Delivered, Some(_)) => {
                refuse("a claim is open; it decides how the order ends")
            }
            _ => refuse("only a shipped or delivered order can be confirmed as received"),
        },
        Action::RequestReturn | Action::RequestRefund => match (status, claim) {
            (Status::Delivered, None) if order.claims_opened < CLAIMS_MAX => Ok(()),
            (Status::Delivered, None) => refuse(&format!(
                "an order accepts at most {CLAIMS_MAX} claims; contact support"
            )),
            (Status::Delivered, Some(_)) => refuse("a claim is already open on this order"),
            (Status::Shipped, _) => refuse(
                "returns and refunds are requested after delivery; open a dispute if the parcel does not arrive",
            ),
            _ => refuse(
                "returns and refunds are requested after delivery, before the order completes",
            ),
        },
        Action::OpenDispute => match (status, claim) {
            (Status::Shipped | Status::Delivered, None) if order.claims_opened < CLAIMS_MAX => {
                Ok(())
            }
            (Status::Shipped | Status::Delivered, None) => refuse(&format!(
                "an order accepts at most {CLAIMS_MAX} claims; contact support"
            )),
            (Status::Shipped | Status::Delivered, Some(_)) => {
                refuse("only one claim or dispute can be open at a time")
            }
            (
                Status::AwaitingShipment | Status::PaymentVerification | Status::AwaitingPayment,
                _,
            ) => refuse(
                "a dispute is for problems after shipment, not a way to cancel an unshipped order; request cancellation instead",
            ),
            _ => refuse("the order has ended"),
        },
        Action::RespondClaim => match claim {
            Some(claim) if claim.status == ClaimStatus::AwaitingSeller => Ok(()),
            _ => refuse("there is no claim waiting for the seller's answer"),
        },
        Action::AcceptOffer => match claim {
            Some(claim) if claim.status == ClaimStatus::CounterOffered => Ok(()),
            _ => refuse("there is no counter offer to accept"),
        },
        Action::EscalateClaim => {
            let escalatable = order.claim.as_ref().is_some_and(|claim| {
                status.is_after_shipment()
                    && claim.kind != ClaimKind::RefusedDelivery
                    && match claim.status {
                        ClaimStatus::CounterOffered | ClaimStatus::Rejected => true,
                        ClaimStatus::AwaitingSeller => claim.kind == ClaimKind::Dispute,
                        _ => false,
                    }
            });
            if escalatable {
                Ok(())
            } else {
                refuse("there is no claim that can be escalated to the platform now")
            }
        }
        Action::ResolveClaim => match claim {
            Some(claim) if claim.status == ClaimStatus::Escalated => Ok(()),
            _ => refuse("there is no escalated claim to decide"),
        },
        Action::ReturnShipped => match claim {
            Some(claim) if claim.status == ClaimStatus::ReturnApproved => Ok(()),
            _ => refuse("there is no approved return waiting to be shipped"),
        },
        Action::ReturnReceived => match claim {
            Some(claim) if claim.status == ClaimStatus::ReturnInTransit => Ok(()),
            _ => refuse("nothing is on its way back to the seller"),
        },
        Action::RequestExtension => {
            if status != Status::Shipped {
                return refuse("protection can be extended only while the parcel is on its way");
            }
            if claim.is_some() {
                return refuse("protection is paused while a claim is open");
            }
            if order
                .extension
                .as_ref()
                .is_some_and(|extension| extension.status == crate::order::ExtensionStatus::Pending)
            {
                return Err(Rejection::conflict(
                    "an extension request is already waiting for the seller",
                ));
            }
            if order.extensions_approved >= EXTENSION_APPROVALS_MAX {
                return refuse(&format!(
                    "protection was already extended {EXTENSION_APPROVALS_MAX} times"
                ));
            }
            Ok(())
        }
        Action::ApproveExtension | Action::DeclineExtension => match &order.extension {
            Some(extension)
                if status == Status::Shipped
                    && extension.status == crate::order::ExtensionStatus::Pending =>
            {
                Ok(())
            }
            _ => refuse("there is no extension request to answer"),
        },
        Action::Message => {
            if order.messages_sent >= policy.messages_per_order_max {
                refuse(&format!(
                    "the thread of this order has reached its limit of {} messages; contact support instead",
                    policy.messages_per_order_max
                ))
            } else {
                Ok(())
            }
        }
        Action::Freeze => {
            if status.is_final() {
                refuse("the order has ended")
            } else if order.frozen {
                refuse("the order is already frozen")
            } else {
                Ok(())
            }
        }
        Action::Unfreeze => {
            if order.frozen {
                Ok(())
            } else {
                refuse("the order is not frozen")
            }
        }
        Action::AdminCancel => {
            if status.is_final() {
                refuse("the order has already ended")
            } else {
                Ok(())
            }
        }
        Action::OrderAgain => {
            if status.is_final() {
                Ok(())
            } else {
                refuse("the order is still in progress")
            }
        }
        Action::ProposeCancellation => {
            if status != Status::AwaitingShipment {
                return refuse("a cancellation can be proposed only before shipment");
            }
            if order.open_cancellation().is_some() {
                return Err(Rejection::conflict(
                    "the buyer already asked to cancel; approve or reject that request instead",
                ));
            }
            if order.pending_proposal().is_some() {
                return Err(Rejection::conflict(
                    "a proposal to cancel is already waiting for the buyer",
                ));
            }
            if order.proposals_made >= CANCELLATION_REQUESTS_MAX {
                return refuse(&format!(
                    "an order accepts at most {CANCELLATION_REQUESTS_MAX} proposals to cancel; cancel it yourself with a reason, or message the buyer"
                ));
            }
            Ok(())
        }
        Action::AcceptCancellationProposal | Action::DeclineCancellationProposal => {
            match order.pending_proposal() {
                Some(_) if status == Status::AwaitingShipment => Ok(()),
                _ => refuse("there is no proposal to cancel waiting for your answer"),
            }
        }
        Action::OfferPartialRefund => {
            if !matches!(
                status,
                Status::AwaitingShipment | Status::Shipped | Status::Delivered
            ) {
                return refuse("a partial refund can be offered from payment to delivery only");
            }
            if claim.is_some() {
                return refuse(
                    "a claim is open; answer it instead (a counter offer is a partial refund)",
                );
            }
            if order.pending_partial_refund().is_some() {
                return Err(Rejection::conflict(
                    "a partial refund offer is already waiting for the buyer",
                ));
            }
            if order.refundable_minor() <= 0 {
                return refuse("nothing is left to refund");
            }
            Ok(())
        }
        Action::AcceptPartialRefund | Action::DeclinePartialRefund => {
            match order.pending_partial_refund() {
                Some(offer)
                    if claim.is_none()
                        && !status.is_final()
                        && offer.amount_minor <= order.refundable_minor() =>
                {
                    Ok(())
                }
                _ => refuse("there is no partial refund offer waiting for your answer"),
            }
        }
        Action::AddEvidence => match order.open_claim() {
            Some(claim) if claim.evidence.len() >= EVIDENCE_PER_CLAIM_MAX => {
                Err(Rejection::validation(
                    "file",
                    format!("a claim holds at most {EVIDENCE_PER_CLAIM_MAX} evidence files"),
                ))
            }
            Some(_) => Ok(()),
            None => refuse("evidence is added to an open return, refund or dispute"),
        },
        Action::RefundArrived => {
            if order.refunds_in_transit().next().is_some() {
                Ok(())
            } else {
                refuse("no refund of this order is on its way")
            }
        }
        Action::ContactSupport => {
            if order.support_requests >= SUPPORT_REQUESTS_MAX {
                refuse(&format!(
                    "support was contacted {SUPPORT_REQUESTS_MAX} times on this order; support will answer those first"
                ))
            } else {
                Ok(())
            }
        }
        Action::RecordScan => {
            if order.shipment.is_none() {
                refuse("the order has not been shipped, so there is no parcel to scan")
            } else if order.tracking.len() >= crate::order::SCANS_MAX {
                refuse("the order holds the most scans it keeps")
            } else {
                Ok(())
            }
        }
        Action::AddNote => {
            if order.internal_notes >= NOTES_MAX {
                refuse(&format!(
                    "an order holds at most {NOTES_MAX} internal notes"
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// A timer ran out: the system fires it through the same rules as any command.
fn expire(
    order: &Order,
    kind: DeadlineKind,
    actor: Actor,
    now: Timestamp,
    policy: &Policy,
) -> Result<Decision, Rejection> {
    let refuse = |detail: String| {
        Err(Rejection::InvalidTransition {
            action: kind.code(),
            status: order.status,
            detail,
        })
    };
    if actor != Actor::System {
        return Err(Rejection::Forbidden {
            action: "expire_deadline",
            role: actor.role(),
            allowed: "orderly's own timers",
        });
    }
    if order.frozen {
        return Err(Rejection::OrderFrozen);
    }
    let Some(deadline) = order.deadline(kind) else {
        return refuse(format!("the {kind} deadline is not armed"));
    };
    if deadline.is_paused() {
        return refuse(format!("the {kind} deadline is paused"));
    }
    if deadline.due_at > now {
        return refuse(format!(
            "the {kind} deadline is not due until {}",
            deadline.due_at
        ));
    }
    let mut tx = Tx::new(order.clone(), actor, now, policy);
    tx.push(EventKind::DeadlineFired { deadline: kind });
    let claim = order.open_claim();
    match kind {
        DeadlineKind::PaymentWindow => {
            if order.status == Status::AwaitingPayment {
                tx.close(CancelReason::PaymentWindowExpired);
            }
        }
        DeadlineKind::PaymentVerification => {
            if order.status == Status::PaymentVerification {
                tx.payment_verified();
            }
        }
        DeadlineKind::SellerResponse => {
            if order
                .cancellation
                .as_ref()
                .is_some_and(|request| request.status == RequestStatus::Pending)
            {
                tx.push(EventKind::CancellationApproved { auto: true });
                let fault = request_reason(order).fault();
                tx.cancel_paid(CancelReason::SellerResponseTimeout, fault);
            }
        }
        DeadlineKind::HandlingTime => {
            if order.status == Status::AwaitingShipment {
                if order.open_cancellation().is_some() {
                    tx.push(EventKind::CancellationSuperseded);
                }
                tx.clear(DeadlineKind::SellerResponse);
                tx.cancel_paid(CancelReason::HandlingTimeExpired, Fault::Seller);
            }
        }
        DeadlineKind::NoTrackingDispute => tx.push(EventKind::NoTrackingDisputeAvailable),
        DeadlineKind::BuyerProtection => {
            if order.status == Status::Shipped {
                if order.extension.as_ref().is_some_and(|extension| {
                    extension.status == crate::order::ExtensionStatus::Pending
                }) {
                    tx.push(EventKind::ExtensionDeclined { auto: true });
                }
                tx.complete();
            }
        }
        DeadlineKind::ReceiptConfirmation => {
            if order.status == Status::Delivered {
                tx.push(EventKind::ReceiptConfirmed { auto: true });
                tx.complete();
            }
        }
        DeadlineKind::ClaimResponse => {
            if let Some(claim) = claim.filter(|claim| claim.status == ClaimStatus::AwaitingSeller) {
                if claim.kind == ClaimKind::ReturnAndRefund {
                    tx.approve_return(claim.amount_asked_minor);
                } else {
                    let lost = claim.kind == ClaimKind::Dispute;
                    tx.settle_claim(claim.amount_asked_minor, lost);
                }
            }
        }
        DeadlineKind::Negotiation => {
            if claim.is_some_and(|claim| {
                matches!(
                    claim.status,
                    ClaimStatus::AwaitingSeller
                        | ClaimStatus::CounterOffered
                        | ClaimStatus::Rejected
                )
            }) {
                tx.clear(DeadlineKind::ClaimResponse);
                tx.push(EventKind::ClaimEscalated {
                    by: Role::System,
                    explanation: "the negotiation window ran out".into(),
                });
            }
        }
        DeadlineKind::ReturnShipment => {
            if claim.is_some_and(|claim| claim.status == ClaimStatus::ReturnApproved) {
                tx.push(EventKind::ClaimClosed {
                    why: ClaimCloseReason::ReturnNotShipped,
                });
            }
        }
        DeadlineKind::ReturnConfirmation | DeadlineKind::RefusedDeliveryReturn => {
            if claim.is_some_and(|claim| claim.status == ClaimStatus::ReturnInTransit) {
                tx.return_received();
            }
        }
        DeadlineKind::ReminderSellerResponse
        | DeadlineKind::ReminderClaimResponse
        | DeadlineKind::ReminderHandlingTime
        | DeadlineKind::ReminderReceiptConfirmation
        | DeadlineKind::ReminderBuyerProtection => {
            let target = kind.announces().expect("a reminder announces a deadline");
            if let Some(target) = order.deadline(target).filter(|target| !target.is_paused()) {
                tx.push(EventKind::ReminderDue {
                    deadline: target.kind,
                    due_at: target.due_at,
                });
            }
        }
        DeadlineKind::VerificationOverdue => {
            if order.status == Status::PaymentVerification {
                tx.push(EventKind::PaymentVerificationOverdue);
            }
        }
        DeadlineKind::ProposalResponse => {
            if order.pending_proposal().is_some() {
                tx.push(EventKind::CancellationProposalLapsed);
            }
        }
        DeadlineKind::RefundOverdue => {
            let due: Vec<u32> = order
                .refunds
                .iter()
                .filter(|refund| {
                    !refund.flagged_overdue
                        && refund.arrived_at.is_none()
                        && refund.overdue_at.is_some_and(|at| at <= now)
                })
                .map(|refund| refund.number)
                .collect();
            for number in due {
                tx.push(EventKind::RefundFlaggedOverdue { number });
            }
            tx.arm_next_refund_overdue();
        }
    }
    Ok(tx.finish())
}

/// Events of one decision, each applied to a working copy as it is pushed.
struct Tx<'p> {
    order: Order,
    events: Vec<Event>,
    actor: Actor,
    now: Timestamp,
    policy: &'p Policy,
}

impl<'p> Tx<'p> {
    fn new(order: Order, actor: Actor, now: Timestamp, policy: &'p Policy) -> Self {
        Self {
            order,
            events: Vec::new(),
            actor,
            now,
            policy,
        }
    }

    fn push(&mut self, kind: EventKind) {
        let event = Event {
            at: self.now,
            actor: self.actor,
            kind,
        };
        apply_in_place(&mut self.order, &event);
        self.events.push(event);
    }

    fn finish(mut self) -> Decision {
        self.reconcile_reminders();
        if let Err(broken) = self.order.check_invariants() {
            panic!("decide produced a broken order {}: {broken}", self.order.id);
        }
        Decision {
            events: self.events,
            order: self.order,
        }
    }

    /// Keeps each reminder in step with the deadline it announces (SPEC 16.1): armed the
    /// policy's lead time before it while it runs, moved when it moves, gone when it is
    /// gone or when that moment has passed. A paused deadline keeps its paused reminder.
    /// A reminder that fired is not armed again for the same deadline, because its moment
    /// is then no longer in the future.
    fn reconcile_reminders(&mut self) {
        for (reminder, target, lead) in self.policy.reminders() {
            let lead = lead
                .duration()
                .expect("the policy validated reminder leads");
            let target_deadline = self.order.deadline(target).copied();
            let current = self.order.deadline(reminder).copied();
            match target_deadline {
                None => {
                    if current.is_some() {
                        self.push(EventKind::DeadlineCleared { deadline: reminder });
                    }
                }
                Some(target) if target.is_paused() => {}
                Some(target) => {
                    let at = target.due_at - lead;
                    match current {
                        Some(current) if current.is_paused() => {}
                        Some(current) if current.due_at == at => {}
                        _ if at > self.now => self.arm(reminder, at),
                        Some(_) => self.push(EventKind::DeadlineCleared { deadline: reminder }),
                        None => {}
                    }
                }
            }
        }
    }

    fn arm(&mut self, deadline: DeadlineKind, due_at: Timestamp) {
        self.push(EventKind::DeadlineSet { deadline, due_at });
    }

    fn clear(&mut self, deadline: DeadlineKind) {
        if self.order.deadline(deadline).is_some() {
            self.push(EventKind::DeadlineCleared { deadline });
        }
    }

    /// Clears every timer of an ended order except the refund-overdue watch, which goes
    /// on after the order ends.
    fn clear_all_timers(&mut self) {
        let kinds: Vec<DeadlineKind> = self
            .order
            .deadlines
            .iter()
            .map(|deadline| deadline.kind)
            .filter(|kind| *kind != DeadlineKind::RefundOverdue)
            .collect();
        for deadline in kinds {
            self.push(EventKind::DeadlineCleared { deadline });
        }
    }

    fn payment_verified(&mut self) {
        self.push(EventKind::PaymentVerified);
        let handling = crate::policy::Window::Days(self.order.handling_days);
        self.arm(
            DeadlineKind::HandlingTime,
            handling.end(self.now, &self.policy.holidays),
        );
    }

    /// The seller's pending proposal no longer applies.
    fn lapse_proposal(&mut self) {
        if self.order.pending_proposal().is_some() {
            self.push(EventKind::CancellationProposalLapsed);
            self.clear(DeadlineKind::ProposalResponse);
        }
    }

    /// The seller's pending partial-refund offer no longer applies.
    fn lapse_partial_refund(&mut self) {
        if self.order.pending_partial_refund().is_some() {
            self.push(EventKind::PartialRefundLapsed);
        }
    }

    /// Whatever awaited the buyer's answer ends with the order.
    fn lapse_offers(&mut self) {
        self.lapse_proposal();
        self.lapse_partial_refund();
    }

    /// The carrier reported delivery (or the buyer has the parcel): protection gives way
    /// to the receipt window.
    fn mark_delivered(&mut self) {
        self.push(EventKind::Delivered);
        if self
            .order
            .extension
            .as_ref()
            .is_some_and(|extension| extension.status == crate::order::ExtensionStatus::Pending)
        {
            self.push(EventKind::ExtensionDeclined { auto: true });
        }
        self.clear(DeadlineKind::BuyerProtection);
        self.clear(DeadlineKind::NoTrackingDispute);
        let policy = self.policy;
        self.arm(
            DeadlineKind::ReceiptConfirmation,
            policy.receipt_confirmation.end(self.now, &policy.holidays),
        );
    }

    /// Ends an unpaid order.
    fn close(&mut self, reason: CancelReason) {
        self.lapse_offers();
        self.push(EventKind::OrderClosed {
            reason,
            fault: reason.fault(),
        });
        self.push(EventKind::StockReleased);
        self.clear_all_timers();
    }

    /// Ends a paid order before completion with a full refund of what is left in escrow
    /// (items and shipping: before shipment [001], and on admin cancellation even after
    /// it, SPEC 15.5).
    fn cancel_paid(&mut self, reason: CancelReason, fault: Fault) {
        self.lapse_offers();
        let before_shipment = !self.order.status.is_after_shipment();
        self.push(EventKind::OrderCancelled { reason, fault });
        let held = self.order.escrow.held_minor;
        self.refund(held);
        if before_shipment {
            self.push(EventKind::StockReleased);
        }
        if fault == Fault::Seller {
            self.penalize(reason.code());
        }
        self.clear_all_timers();
    }

    /// Ends the order well: the buyer has the goods; what is left in escrow goes to the
    /// seller (SPEC 15.19).
    fn complete(&mut self) {
        self.lapse_offers();
        self.push(EventKind::OrderCompleted);
        self.release_rest();
        self.clear_all_timers();
    }

    fn release_rest(&mut self) {
        let held = self.order.escrow.held_minor;
        if held > 0 {
            self.push(EventKind::EscrowReleased { amount_minor: held });
        }
    }

    fn penalize(&mut self, reason: &str) {
        self.push(EventKind::PenaltyApplied {
            points: 1,
            reason: reason.to_owned(),
        });
    }

    /// Sends `amount` back to where the buyer paid from (SPEC 6, 15.21).
    fn refund(&mut self, amount: i64) {
        if amount <= 0 {
            return;
        }
        let holidays = &self.policy.holidays;
        let destination = self.order.payment_method.refund_destination();
        let (_, upper_days) = destination.arrival_business_days();
        let expected_by = calendar::add_business_days(self.now, upper_days, holidays);
        let overdue_at = destination.watched_for_overdue().then(|| {
            self.policy
                .refund_overdue_after
                .end(self.now, holidays)
                .max(expected_by)
        });
        let number =
            u32::try_from(self.order.refunds.len() + 1).expect("refunds per order are few");
        self.push(EventKind::RefundIssued {
            number,
            amount_minor: amount,
            destination,
            expected_by,
            overdue_at,
        });
        self.arm_next_refund_overdue();
    }

    /// Arms the refund-overdue watch for the earliest refund not yet flagged, if it is
    /// not armed for that instant already.
    fn arm_next_refund_overdue(&mut self) {
        let next = self
            .order
            .refunds
            .iter()
            .filter(|refund| !refund.flagged_overdue && refund.arrived_at.is_none())
            .filter_map(|refund| refund.overdue_at)
            .min();
        let armed = self
            .order
            .deadline(DeadlineKind::RefundOverdue)
            .map(|deadline| deadline.due_at);
        match next {
            Some(due_at) if armed != Some(due_at) => self.arm(DeadlineKind::RefundOverdue, due_at),
            None if armed.is_some() => self.clear(DeadlineKind::RefundOverdue),
            _ => {}
        }
    }

    fn void_open_request(&mut self) {
        if self.order.open_cancellation().is_some() {
            self.push(EventKind::CancellationVoided);
            self.clear(DeadlineKind::SellerResponse);
        }
    }

    fn arm_claim_timers(&mut self) {
        let policy = self.policy;
        self.arm(
            DeadlineKind::ClaimResponse,
            policy.claim_response_window.end(self.now, &policy.holidays),
        );
        self.arm(
            DeadlineKind::Negotiation,
            policy.negotiation_window.end(self.now, &policy.holidays),
        );
    }

    /// A return is agreed: the buyer ships the item back, at the seller's cost when the
    /// fault is the seller's [004].
    fn approve_return(&mut self, agreed_refund_minor: i64) {
        self.approve_return_paid_by(agreed_refund_minor, None);
    }

    /// A return is agreed, with return shipping paid by `paid_by` when the admin decided
    /// it, else by the claim's fault side.
    fn approve_return_paid_by(&mut self, agreed_refund_minor: i64, paid_by: Option<Fault>) {
        let by_fault = self
            .order
            .claim
            .as_ref()
            .map_or(Fault::Buyer, |claim| claim.reason.fault());
        let paid_by = paid_by.unwrap_or(by_fault);
        self.clear(DeadlineKind::ClaimResponse);
        self.clear(DeadlineKind::Negotiation);
        self.push(EventKind::ReturnApproved {
            paid_by,
            agreed_refund_minor,
        });
        let policy = self.policy;
        self.arm(
            DeadlineKind::ReturnShipment,
            policy
                .return_shipment_window
                .end(self.now, &policy.holidays),
        );
    }

    /// The item or the refused parcel is back with the seller.
    fn return_received(&mut self) {
        let claim = self
            .order
            .claim
            .clone()
            .expect("a return is received only for an open claim");
        self.push(EventKind::ReturnReceived);
        self.clear(DeadlineKind::ReturnConfirmation);
        self.clear(DeadlineKind::RefusedDeliveryReturn);
        if claim.kind == ClaimKind::RefusedDelivery {
            // SPEC 15.10: items refunded, shipping per policy, the rest to the seller.
            let cap = self
                .order
                .claim_cap_minor(self.policy.refund_shipping_after_shipment);
            self.push(EventKind::ClaimSettled { refund_minor: cap });
            self.push(EventKind::OrderCancelled {
                reason: CancelReason::DeliveryRefused,
                fault: Fault::Buyer,
            });
            self.refund(cap);
            self.release_rest();
            self.clear_all_timers();
        } else {
            let refund = claim
                .agreed_refund_minor
                .unwrap_or(claim.amount_asked_minor);
            self.settle_claim(refund, false);
        }
    }

    /// The claim ends with `refund` to the buyer and the rest to the seller; the order
    /// completes (SPEC 7). `lost` marks a dispute the seller lost (a penalty point).
    fn settle_claim(&mut self, refund: i64, lost: bool) {
        let refund = refund.min(self.order.escrow.held_minor);
        let is_dispute = self
            .order
            .claim
            .as_ref()
            .is_some_and(|claim| claim.kind == ClaimKind::Dispute);
        self.clear(DeadlineKind::ClaimResponse);
        self.clear(DeadlineKind::Negotiation);
        self.push(EventKind::ClaimSettled {
            refund_minor: refund,
        });
        self.refund(refund);
        if lost && is_dispute && refund > 0 {
            self.penalize("dispute_lost");
        }
        self.complete();
    }
}

fn request_reason(order: &Order) -> CancelReason {
    order
        .cancellation
        .as_ref()
        .map(|request| request.reason)
        .expect("check found a cancellation request")
}

fn seller_reasons() -> String {
    CancelReason::ALL
        .iter()
        .filter(|reason| reason.is_seller_choice())
        .map(|reason| reason.code())
        .collect::<Vec<_>>()
        .join(", ")
}

fn dispute_reason_allowed(order: &Order, reason: DisputeReason) -> Result<(), Rejection> {
    let refuse = |detail: &str| {
        Err(Rejection::InvalidTransition {
            action: Action::OpenDispute.code(),
            status: order.status,
            detail: detail.to_owned(),
        })
    };
    match order.status {
        Status::Shipped if !reason.allowed_before_delivery() => refuse(&format!(
            "`{reason}` needs the parcel to be delivered first; while it is on its way use not_received, fake_tracking or no_tracking_information"
        )),
        Status::Shipped
            if reason == DisputeReason::NoTrackingInformation
                && !order.no_tracking_dispute_available =>
        {
            refuse("a no_tracking_information dispute opens 6 days after shipment")
        }
        Status::Delivered if !reason.allowed_after_delivery() => {
            refuse("the carrier reported delivery, so no_tracking_information no longer applies")
        }
        _ => Ok(()),
    }
}

/// The buyer's ask after shipment: positive and at most the items total (SPEC 15.8).
fn claim_amount(order: &Order, policy: &Policy, amount: i64) -> Result<i64, Rejection> {
    let cap = order.claim_cap_minor(policy.refund_shipping_after_shipment);
    if amount <= 0 || amount > cap {
        return Err(Rejection::validation(
            "amount",
            format!(
                "ask for more than 0 and at most {} ({cap} in minor units{})",
                crate::money::format_minor(cap, order.currency),
                if policy.refund_shipping_after_shipment {
                    ""
                } else {
                    "; shipping is not refunded after shipment"
                }
            ),
        ));
    }
    Ok(amount)
}

fn within_statutory_withdrawal(
    order: &Order,
    claim: &crate::order::Claim,
    now: Timestamp,
    policy: &Policy,
) -> bool {
    let (Some(days), Some(delivered_at)) = (policy.statutory_withdrawal_days, order.delivered_at)
    else {
        return false;
    };
    claim.kind == ClaimKind::ReturnAndRefund
        && claim.opened_at <= crate::policy::Window::Days(days).end(delivered_at, &policy.holidays)
        && now >= claim.opened_at
}

fn validate_line(
    line: &CatalogueLine,
    currency: crate::money::Currency,
    default_processing_days: u32,
) -> Result<Line, Rejection> {
    if line.unit_price.currency() != currency || line.shipping_fee.currency() != currency {
        return Err(Rejection::validation(
            "lines",
            "every line of an order must be in the same currency; place one order per currency",
        ));
    }
    if line.quantity == 0 || line.quantity > QUANTITY_MAX {
        return Err(Rejection::validation(
            "quantity",
            format!("quantity must be between 1 and {QUANTITY_MAX}"),
        ));
    }
    let processing_days = line.processing_days.unwrap_or(default_processing_days);
    if processing_days == 0 || processing_days > PROCESSING_DAYS_MAX {
        return Err(Rejection::validation(
            "processing_days",
            format!("processing time must be between 1 and {PROCESSING_DAYS_MAX} days"),
        ));
    }
    Ok(Line {
        product_id: line.product_id,
        title: required_text("title", line.title.clone(), 200)?,
        quantity: line.quantity,
        unit_price_minor: line.unit_price.amount_minor(),
        shipping_fee_minor: line.shipping_fee.amount_minor(),
        processing_days,
    })
}

/// Trimmed text that must not be empty and not longer than `max` characters.
fn required_text(field: &'static str, text: String, max: usize) -> Result<String, Rejection> {
    let text = bounded_text(field, text, max)?;
    if text.is_empty() {
        return Err(Rejection::validation(field, "must not be empty"));
    }
    Ok(text)
}

/// Trimmed text, possibly empty, not longer than `max` characters.
fn bounded_text(field: &'static str, text: String, max: usize) -> Result<String, Rejection> {
    let trimmed = text.trim();
    if trimmed.chars().count() > max {
        return Err(Rejection::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn optional_text(field: &'static str, text: Option<String>) -> Result<Option<String>, Rejection> {
    match text {
        None => Ok(None),
        Some(text) => {
            let text = bounded_text(field, text, TEXT_LEN_MAX)?;
            Ok((!text.is_empty()).then_some(text))
        }
    }
}
