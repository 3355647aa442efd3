//! What the order page shows each person: a heading for their situation, the overlays
//! (a cancellation request, a freeze, an open claim), one banner per running deadline with
//! what happens when it runs out, the money, the refunds, the parcel, the claim with its
//! evidence, and one timeline of events and messages with who did what.

use jiff::Timestamp;
use orderly_domain::order::{ClaimKind, ClaimStatus, Order, RequestStatus, Status};
use orderly_domain::{DeadlineKind, EventKind, EventView, Role};

use crate::actions::{ActionForm, destination};
use crate::format::{capitalised, duration, money, short_time, time, words};

/// A notice above the order: something that changes what can happen now.
#[derive(Clone, Debug)]
pub struct Overlay {
    /// `warning` (frozen, a request waiting) or `info`.
    pub tone: &'static str,
    pub title: String,
    pub text: String,
}

/// One running (or paused) deadline.
#[derive(Clone, Debug)]
pub struct Banner {
    pub code: &'static str,
    pub title: String,
    pub due: String,
    pub due_iso: String,
    pub left: String,
    pub consequence: String,
    pub paused: bool,
}

#[derive(Clone, Debug)]
pub struct LineView {
    pub title: String,
    pub quantity: u32,
    pub unit: String,
    pub total: String,
}

#[derive(Clone, Debug)]
pub struct RefundView {
    pub number: u32,
    pub amount: String,
    pub destination: String,
    pub sent: String,
    pub expected_by: String,
    /// `Arrived 3 Nov`, `On its way`, `Overdue: support is looking into it`.
    pub state: String,
    pub overdue: bool,
}

#[derive(Clone, Debug)]
pub struct ScanView {
    pub status: String,
    pub at: String,
    pub location: String,
}

#[derive(Clone, Debug)]
pub struct EvidenceView {
    pub url: String,
    pub filename: String,
    pub note: String,
    pub by: String,
    pub at: String,
    pub is_image: bool,
}

#[derive(Clone, Debug)]
pub struct ClaimView {
    pub title: String,
    pub status: String,
    pub reason: String,
    pub asked: String,
    pub offer: String,
    pub explanation: String,
    pub open: bool,
    pub evidence: Vec<EvidenceView>,
}

/// One entry of the history: an event or a message.
#[derive(Clone, Debug)]
pub struct Entry {
    pub at: String,
    pub at_iso: String,
    pub who: String,
    pub text: String,
    pub message: bool,
    pub internal: bool,
}

/// The order as one person sees it.
pub struct OrderView {
    pub id: String,
    pub number: String,
    pub status: &'static str,
    pub status_label: String,
    pub heading: String,
    pub guidance: String,
    pub overlays: Vec<Overlay>,
    pub banners: Vec<Banner>,
    pub lines: Vec<LineView>,
    pub shipping: String,
    pub total: String,
    pub paid: String,
    pub held: String,
    pub refunded: String,
    pub released: String,
    pub refunds: Vec<RefundView>,
    pub payment_method: String,
    pub placed: String,
    pub shipment: Option<(String, String, String)>,
    pub tracking: Vec<ScanView>,
    pub address: Vec<(String, String)>,
    pub claim: Option<ClaimView>,
    pub timeline: Vec<Entry>,
    pub buyer: String,
    pub seller: String,
    pub actions: Vec<ActionForm>,
    /// The allowed actions, as codes, in the order the buttons appear.
    pub action_codes: Vec<&'static str>,
    /// Whether the caller may upload evidence (its form is a file upload).
    pub evidence_key: Option<String>,
}

/// Names to show for the parties.
pub struct Names {
    pub buyer: String,
    pub seller: String,
}

/// Who did it, for `viewer`: "You", "The seller", "Support", ...
fn who(role: Role, viewer: Role) -> String {
    if role == viewer {
        return "You".into();
    }
    match role {
        Role::Buyer => "The buyer",
        Role::Seller => "The seller",
        Role::Admin => "Support",
        Role::System => "orderly",
        Role::Provider => "Carrier or payment provider",
    }
    .into()
}

/// A status in words, as the page's badge says it.
pub fn status_label(status: Status) -> String {
    capitalised(&words(status.code()))
}

fn heading(order: &Order, viewer: Role) -> String {
    let claim = order.open_claim();
    let cancellation = order.open_cancellation();
    match viewer {
        Role::Buyer => {
            if let Some(claim) = claim {
                return format!(
                    "Your {} is open: {}",
                    claim_name(claim.kind),
                    words(claim.status.code())
                );
            }
            if let Some(request) = cancellation {
                return if request.status == RequestStatus::Escalated {
                    "The platform is deciding your cancellation".into()
                } else {
                    "You asked to cancel: waiting for the seller".into()
                };
            }
            match order.status {
                Status::AwaitingPayment => "Waiting for your payment",
                Status::PaymentVerification => "Your payment is being verified",
                Status::AwaitingShipment => "The seller is preparing your order",
                Status::Shipped => "Your order is on its way",
                Status::Delivered => "Delivered: check your item",
                Status::Completed => "Completed",
                Status::Cancelled => "Cancelled",
                Status::Closed => "Closed",
            }
            .into()
        }
        Role::Seller => {
            if let Some(claim) = claim {
                return format!(
                    "The buyer's {} is open: {}",
                    claim_name(claim.kind),
                    words(claim.status.code())
                );
            }
            if let Some(request) = cancellation {
                return if request.status == RequestStatus::Escalated {
                    "The platform is deciding the buyer's cancellation".into()
                } else {
                    "The buyer asks to cancel: answer before you ship".into()
                };
            }
            match order.status {
                Status::AwaitingPayment => "Waiting for the buyer's payment",
                Status::PaymentVerification => "The payment is being verified",
                Status::AwaitingShipment => "Ship this order",
                Status::Shipped => "Shipped: waiting for delivery",
                Status::Delivered => "Delivered: waiting for the buyer to confirm",
                Status::Completed => "Completed: you have been paid",
                Status::Cancelled => "Cancelled",
                Status::Closed => "Closed",
            }
            .into()
        }
        _ => format!("Order #{}: {}", order.number(), words(order.status.code())),
    }
}

fn claim_name(kind: ClaimKind) -> &'static str {
    match kind {
        ClaimKind::ReturnAndRefund => "return",
        ClaimKind::RefundOnly => "refund request",
        ClaimKind::Dispute => "dispute",
        ClaimKind::RefusedDelivery => "refused delivery",
    }
}

fn overlays(order: &Order, viewer: Role) -> Vec<Overlay> {
    let mut overlays = Vec::new();
    if order.frozen {
        overlays.push(Overlay {
            tone: "warning",
            title: "Paused by the platform".into(),
            text: if viewer == Role::Admin {
                "Frozen: every deadline is paused and the parties can only send messages.".into()
            } else {
                "The platform is reviewing this order. Every deadline is paused; you can still send messages.".into()
            },
        });
    }
    if let Some(request) = order.open_cancellation() {
        let by = request
            .respond_by
            .map(|at| format!(" The seller answers by {}.", time(at)))
            .unwrap_or_default();
        overlays.push(Overlay {
            tone: "warning",
            title: if request.status == RequestStatus::Escalated {
                "Cancellation escalated to the platform".into()
            } else {
                "Cancellation requested".into()
            },
            text: format!("Reason: {}.{by}", request.reason.text()),
        });
    }
    if let Some(proposal) = order.pending_proposal() {
        overlays.push(Overlay {
            tone: "warning",
            title: "The seller proposes to cancel".into(),
            text: format!("Reason: {}.", proposal.reason.text()),
        });
    }
    if let Some(offer) = order.pending_partial_refund() {
        overlays.push(Overlay {
            tone: "info",
            title: format!(
                "Partial refund offered: {}",
                money(offer.amount_minor, order.currency)
            ),
            text: format!("If the buyer keeps the order. “{}”", offer.reason),
        });
    }
    if let Some(claim) = order.open_claim() {
        overlays.push(Overlay {
            tone: "warning",
            title: format!("{} open", capitalised(claim_name(claim.kind))),
            text: format!(
                "{}; asking for {}.",
                capitalised(&words(claim.status.code())),
                money(claim.amount_asked_minor, order.currency)
            ),
        });
    }
    overlays
}

fn deadline_title(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::PaymentWindow => "Pay by",
        DeadlineKind::PaymentVerification => "Payment verification ends",
        DeadlineKind::SellerResponse => "The seller answers the cancellation by",
        DeadlineKind::HandlingTime => "Ship by",
        DeadlineKind::NoTrackingDispute => "No tracking yet? A dispute opens from",
        DeadlineKind::BuyerProtection => "Buyer protection ends",
        DeadlineKind::ReceiptConfirmation => "Receipt is confirmed automatically",
        DeadlineKind::ClaimResponse => "The seller answers the claim by",
        DeadlineKind::Negotiation => "Agree by",
        DeadlineKind::ReturnShipment => "Send the item back by",
        DeadlineKind::ReturnConfirmation => "The return counts as received",
        DeadlineKind::RefusedDeliveryReturn => "The refused parcel counts as back",
        DeadlineKind::RefundOverdue => "The refund should have arrived by",
        DeadlineKind::ProposalResponse => "Answer the seller's proposal by",
        DeadlineKind::VerificationOverdue => "The payment provider answers by",
        _ => "Reminder",
    }
}

/// What happens when the deadline runs out, said to `viewer`.
fn consequence(kind: DeadlineKind, viewer: Role) -> String {
    let buyer = viewer == Role::Buyer;
    let seller = viewer == Role::Seller;
    match kind {
        DeadlineKind::PaymentWindow if buyer => "If you have not paid by then, the order closes.",
        DeadlineKind::PaymentWindow => "If the buyer has not paid by then, the order closes.",
        DeadlineKind::PaymentVerification => "The payment is then approved and the seller can ship.",
        DeadlineKind::SellerResponse if seller => "If you have not answered by then, the cancellation is approved automatically and the buyer refunded.",
        DeadlineKind::SellerResponse => "If the seller has not answered by then, the cancellation is approved automatically and the buyer refunded.",
        DeadlineKind::HandlingTime if seller => "If you have not shipped by then, the order is cancelled at your fault and the buyer refunded.",
        DeadlineKind::HandlingTime => "If the seller has not shipped by then, the order is cancelled and the buyer refunded.",
        DeadlineKind::NoTrackingDispute => "From then on the buyer may open a dispute for missing tracking information.",
        DeadlineKind::BuyerProtection if buyer => "Then the order completes and the seller is paid, unless you have opened a claim.",
        DeadlineKind::BuyerProtection => "Then the order completes and the seller is paid, unless the buyer opens a claim.",
        DeadlineKind::ReceiptConfirmation if buyer => "Then receipt is confirmed for you and the seller is paid; open a return or dispute before if something is wrong.",
        DeadlineKind::ReceiptConfirmation => "Then receipt is confirmed and the seller is paid.",
        DeadlineKind::ClaimResponse if seller => "If you have not answered by then, the buyer's claim is accepted and refunded.",
        DeadlineKind::ClaimResponse => "If the seller has not answered by then, the claim is accepted and refunded.",
        DeadlineKind::Negotiation => "If there is no agreement by then, the platform decides.",
        DeadlineKind::ReturnShipment if buyer => "If you have not sent the item back by then, the claim closes without a refund.",
        DeadlineKind::ReturnShipment => "If the buyer has not sent the item back by then, the claim closes without a refund.",
        DeadlineKind::ReturnConfirmation if seller => "Then the return counts as received and the buyer is refunded, unless you confirm earlier.",
        DeadlineKind::ReturnConfirmation => "Then the return counts as received and the refund is sent.",
        DeadlineKind::RefusedDeliveryReturn => "Then the parcel counts as back and the items are refunded.",
        DeadlineKind::RefundOverdue => "If the refund has not arrived by then, support looks into it.",
        DeadlineKind::ProposalResponse => "If there is no answer by then, the proposal lapses and the order goes on.",
        DeadlineKind::VerificationOverdue => "If the provider has not answered by then, support verifies the payment by hand.",
        _ => "",
    }
    .into()
}

fn banners(order: &Order, viewer: Role, now: Timestamp) -> Vec<Banner> {
    let mut deadlines: Vec<_> = order
        .deadlines
        .iter()
        .filter(|deadline| !deadline.kind.is_reminder())
        .filter(|deadline| {
            viewer == Role::Admin || deadline.kind != DeadlineKind::VerificationOverdue
        })
        .collect();
    deadlines.sort_by_key(|deadline| (deadline.is_paused(), deadline.due_at));
    deadlines
        .into_iter()
        .map(|deadline| {
            let paused = deadline.is_paused();
            let left = match deadline.remaining {
                Some(remaining) => {
                    let why = if order.frozen {
                        "while the order is frozen"
                    } else {
                        "while the claim is open"
                    };
                    format!("Paused {why}, with {} left", duration(remaining))
                }
                None if deadline.due_at <= now => "Due now".into(),
                None => format!("{} left", duration(deadline.due_at.duration_since(now))),
            };
            Banner {
                code: deadline.kind.code(),
                title: deadline_title(deadline.kind).into(),
                due: if paused {
                    "paused".into()
                } else {
                    time(deadline.due_at)
                },
                due_iso: deadline.due_at.to_string(),
                left,
                consequence: consequence(deadline.kind, viewer),
                paused,
            }
        })
        .collect()
}

fn refunds(order: &Order, now: Timestamp) -> Vec<RefundView> {
    order
        .refunds
        .iter()
        .map(|refund| {
            let overdue =
                refund.arrived_at.is_none() && (refund.flagged_overdue || refund.expected_by < now);
            RefundView {
                number: refund.number,
                amount: money(refund.amount_minor, order.currency),
                destination: capitalised(&words(refund.destination.code())),
                sent: short_time(refund.sent_at),
                expected_by: short_time(refund.expected_by),
                state: match refund.arrived_at {
                    Some(at) => format!("Arrived {}", short_time(at)),
                    None if overdue => "Overdue: support is looking into it".into(),
                    None => "On its way".into(),
                },
                overdue,
            }
        })
        .collect()
}

fn claim(order: &Order, viewer: Role) -> Option<ClaimView> {
    let claim = order.claim.as_ref()?;
    let id = order.id.as_uuid();
    Some(ClaimView {
        title: capitalised(claim_name(claim.kind)),
        status: capitalised(&words(claim.status.code())),
        reason: capitalised(&words(claim.reason.code())),
        asked: money(claim.amount_asked_minor, order.currency),
        offer: claim
            .offer_minor
            .filter(|_| claim.status == ClaimStatus::CounterOffered)
            .map(|offer| money(offer, order.currency))
            .unwrap_or_default(),
        explanation: claim.explanation.clone(),
        open: claim.is_open(),
        evidence: claim
            .evidence
            .iter()
            .map(|file| EvidenceView {
                url: format!("/orders/{id}/evidence/{}", file.id.as_uuid()),
                filename: file.filename.clone(),
                note: file.note.clone().unwrap_or_default(),
                by: who(file.uploaded_by, viewer),
                at: short_time(file.uploaded_at),
                is_image: file.content_type.starts_with("image/"),
            })
            .collect(),
    })
}

/// Whether an event belongs in the history people read (timers are in the banners).
fn shown(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::DeadlineSet { .. }
            | EventKind::DeadlineCleared { .. }
            | EventKind::DeadlineFired { .. }
            | EventKind::ReminderDue { .. }
            | EventKind::StockReleased
    )
}

fn timeline(order: &Order, events: &[EventView], viewer: Role) -> Vec<Entry> {
    events
        .iter()
        .filter(|view| shown(&view.kind))
        .map(|view| {
            let (text, message, internal) = match &view.kind {
                EventKind::MessageSent { text, .. } => (text.clone(), true, false),
                EventKind::InternalNote { text } => (format!("Internal note: {text}"), false, true),
                kind => (kind.describe(order.currency), false, false),
            };
            Entry {
                at: short_time(view.at),
                at_iso: view.at.to_string(),
                who: who(view.role, viewer),
                text,
                message,
                internal,
            }
        })
        .collect()
}

impl OrderView {
    pub fn new(
        order: &Order,
        viewer: Role,
        now: Timestamp,
        guidance: String,
        events: &[EventView],
        names: Names,
    ) -> Self {
        let currency = order.currency;
        Self {
            id: order.id.as_uuid().to_string(),
            number: order.number(),
            status: order.status.code(),
            status_label: status_label(order.status),
            heading: heading(order, viewer),
            guidance,
            overlays: overlays(order, viewer),
            banners: banners(order, viewer, now),
            lines: order
                .lines
                .iter()
                .map(|line| LineView {
                    title: line.title.clone(),
                    quantity: line.quantity,
                    unit: money(line.unit_price_minor, currency),
                    total: money(line.total_minor(), currency),
                })
                .collect(),
            shipping: money(order.shipping_fee_minor, currency),
            total: money(order.total_minor(), currency),
            paid: money(order.escrow.captured_minor, currency),
            held: money(order.escrow.held_minor, currency),
            refunded: money(order.escrow.refunded_minor, currency),
            released: money(order.escrow.released_minor, currency),
            refunds: refunds(order, now),
            payment_method: format!(
                "{} (refunds go to the {})",
                capitalised(&words(order.payment_method.code())),
                destination(order)
            ),
            placed: time(order.placed_at),
            shipment: order.shipment.as_ref().map(|shipment| {
                (
                    shipment.carrier.clone(),
                    shipment.tracking_number.clone(),
                    short_time(shipment.shipped_at),
                )
            }),
            tracking: order
                .tracking
                .iter()
                .map(|scan| ScanView {
                    status: capitalised(&words(scan.status.code())),
                    at: short_time(scan.at),
                    location: scan.location.clone().unwrap_or_default(),
                })
                .collect(),
            address: order
                .shipping_address
                .fields()
                .iter()
                .map(|(key, value)| (capitalised(&words(key)), value.clone()))
                .collect(),
            claim: claim(order, viewer),
            timeline: timeline(order, events, viewer),
            buyer: names.buyer,
            seller: names.seller,
            action_codes: Vec::new(),
            actions: Vec::new(),
            evidence_key: None,
        }
    }
}
