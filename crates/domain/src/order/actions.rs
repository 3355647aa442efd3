//! What the caller may do next, and what the seeds advise them to do (SPEC 3: the
//! "Best action" column of [001]). The web pages show exactly these buttons.

use jiff::Timestamp;

use crate::actor::{Actor, Role};
use crate::order::command::Action;
use crate::order::decide::check;
use crate::order::{ClaimStatus, Order, RequestStatus, Status};
use crate::policy::Policy;

/// The actions `actor` may take on `order` now: exactly those `decide` accepts with valid
/// arguments, because both go through `check`.
pub fn allowed_actions(
    order: &Order,
    actor: Actor,
    now: Timestamp,
    policy: &Policy,
) -> Vec<Action> {
    Action::ALL
        .iter()
        .copied()
        .filter(|action| check(order, *action, actor, now, policy).is_ok())
        .collect()
}

/// Advice for `actor` in the order's present situation, in the seeds' words.
pub fn guidance(order: &Order, actor: Actor, now: Timestamp, policy: &Policy) -> String {
    // The advice depends on the state alone; time and policy are in the deadlines shown
    // beside it.
    let _ = (now, policy);
    let text = situation_guidance(order, actor);
    // A pending offer is the first thing its reader can answer, whatever the status.
    match (order.pending_partial_refund(), actor.role()) {
        (Some(offer), Role::Buyer) if !order.frozen => format!(
            "The seller offers {} back if you keep the order: accept it (the refund is sent at once) or decline it. {text}",
            crate::money::format_minor(offer.amount_minor, order.currency)
        ),
        (Some(offer), Role::Seller) if !order.frozen => format!(
            "Your partial refund offer of {} awaits the buyer's answer. {text}",
            crate::money::format_minor(offer.amount_minor, order.currency)
        ),
        _ => text,
    }
    .trim_end()
    .to_owned()
}

fn situation_guidance(order: &Order, actor: Actor) -> String {
    let role = actor.role();
    if order.frozen {
        return match role {
            Role::Admin => "The order is frozen on suspicion of fraud and every deadline is paused. Review it, then unfreeze it or cancel it with a full refund.".into(),
            _ => "The platform is reviewing this order and has paused it. You can still send messages; nothing else can change until the review ends.".into(),
        };
    }
    let request = order.cancellation.as_ref().map(|request| request.status);
    let claim = order.open_claim().map(|claim| claim.status);
    let text = match (order.status, role) {
        (Status::AwaitingPayment, Role::Buyer) => {
            "Pay to start processing, or cancel at once: nothing has been paid, so nothing needs refunding. Unpaid orders close automatically when the payment window ends."
        }
        (Status::AwaitingPayment, Role::Seller) => {
            "The buyer has not paid yet. Do not prepare the order until the payment is verified."
        }
        (Status::PaymentVerification, Role::Buyer) => {
            "The platform is verifying your payment; this usually takes a few hours. You can still cancel now for a full refund."
        }
        (Status::PaymentVerification, Role::Seller) => {
            "The payment is being verified. Wait for it before preparing the order."
        }
        (Status::PaymentVerification, Role::Admin) => "Verify or decline the payment.",
        (Status::AwaitingShipment, Role::Buyer) if order.pending_proposal().is_some() => {
            "The seller asks you to cancel this order. Accept for a full refund of items and shipping, or decline and the order goes on."
        }
        (Status::AwaitingShipment, Role::Seller) if order.pending_proposal().is_some() => {
            "You asked the buyer to cancel; wait for the answer. If the buyer declines or does not answer, ship before the handling time ends, or cancel with a reason yourself."
        }
        (Status::AwaitingShipment, Role::Buyer)
            if order.open_cancellation().is_none()
                && order.cancellation_requests_made >= crate::policy::CANCELLATION_REQUESTS_MAX =>
        {
            "The seller is preparing your order. You have made the most cancellation requests an order accepts; message the seller or contact support if you still need to cancel."
        }
        (Status::AwaitingShipment, Role::Buyer) => match request {
            Some(RequestStatus::Pending) => {
                "Your order cancellation request is awaiting confirmation from the seller. Send one clear message asking them to approve it; if they do not answer in time it is approved automatically. You can also withdraw it and resume the order."
            }
            Some(RequestStatus::Escalated) => {
                "The platform is reviewing your cancellation request and will decide. If the seller ships first, the request no longer applies."
            }
            Some(RequestStatus::Rejected) => {
                "The seller rejected your cancellation request. Message the seller, request again, or escalate it to the platform."
            }
            _ => {
                "The seller is preparing your order. Submit a cancellation request with a reason and message the seller politely; the seller must approve it. Once shipped, the cancel button disappears."
            }
        },
        (Status::AwaitingShipment, Role::Seller) => match request {
            Some(RequestStatus::Pending) => {
                "The buyer asked to cancel. Approve or reject (with a reason) before the response deadline, or the request is approved automatically. Shipping now makes the request void."
            }
            _ => {
                "Ship before the handling time ends, with carrier and tracking number, or the order is cancelled automatically and counts against you."
            }
        },
        (Status::AwaitingShipment, Role::Admin) => match request {
            Some(RequestStatus::Escalated) => {
                "The buyer escalated a rejected cancellation request. Decide it."
            }
            _ => "The order awaits shipment.",
        },
        (Status::Shipped, Role::Buyer) => match claim {
            Some(ClaimStatus::ReturnInTransit) => {
                "You refused the parcel. You are refunded when it is back with the seller."
            }
            Some(_) => {
                "Your dispute is open. Answer the seller and add evidence; either side can ask the platform to decide."
            }
            None => {
                "Cancellation is no longer possible. Wait for delivery, then request a return/refund, or open a dispute if it does not arrive. Do not confirm receipt before you have checked the item."
            }
        },
        (Status::Shipped, Role::Seller) => match claim {
            Some(ClaimStatus::ReturnInTransit) => {
                "The buyer refused the parcel. Confirm when it is back; the buyer is then refunded."
            }
            Some(_) => {
                "The buyer opened a dispute. Accept, make a counter offer, or reject it with evidence such as the postal receipt."
            }
            None => {
                "The parcel is on its way. Keep the tracking information up to date and answer extension requests."
            }
        },
        (Status::Shipped, Role::Admin) => {
            "The parcel is on its way. Mark it delivered when the carrier confirms."
        }
        (Status::Delivered, Role::Buyer)
            if claim.is_none() && order.receipt_confirmed_at.is_some() =>
        {
            "You confirmed receipt. The law gives you a withdrawal period: until it ends you can still return the item for a full refund; the seller is paid after it."
        }
        (Status::Delivered, Role::Buyer) => match claim {
            Some(ClaimStatus::ReturnApproved) => {
                "Your return was approved. Ship the item back and enter the tracking number before the deadline."
            }
            Some(ClaimStatus::CounterOffered) => {
                "The seller offered a partial refund. Accept it, or escalate to the platform."
            }
            Some(_) => {
                "Your claim is open. The seller must answer; if they do not, it is accepted automatically."
            }
            None => {
                "Check the item, then confirm receipt. If something is wrong, request a return/refund or open a dispute before the confirmation window ends."
            }
        },
        (Status::Delivered, Role::Seller) => match claim {
            Some(ClaimStatus::AwaitingSeller) => {
                "The buyer opened a claim. Accept, make a counter offer, or reject it with evidence before the deadline, or it is accepted automatically."
            }
            Some(ClaimStatus::ReturnInTransit) => {
                "The buyer shipped the item back. Confirm when it arrives; the refund is issued then."
            }
            Some(_) => "A claim is open on this order.",
            None => {
                "The parcel was delivered. You are paid when the buyer confirms receipt or the confirmation window ends."
            }
        },
        (Status::Delivered, Role::Admin) => "The parcel was delivered.",
        (Status::Completed, _) => {
            "The order is complete and the seller has been paid. You can still message, or order again."
        }
        (Status::Cancelled, Role::Buyer) => {
            "The order is cancelled and your refund is on its way to where you paid from. Contact support if it has not arrived by the expected date."
        }
        (Status::Cancelled, _) => "The order is cancelled and the buyer refunded.",
        (Status::Closed, Role::Buyer) => {
            "The order was closed without payment. Order again if you still want the items."
        }
        (Status::Closed, _) => "The order was closed without payment.",
        (Status::AwaitingPayment, Role::Admin) => "The order awaits payment.",
        (_, Role::System | Role::Provider) => "",
    };
    text.to_owned()
}
