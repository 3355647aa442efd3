//! Who hears of what (SPEC 10 and 16.1). The domain says *what* happened; this module alone
//! says *who* is told, by e-mail, and what the e-mail says: the order's number in the
//! subject, what happened (as that reader may see it), what the reader can do now (the
//! guidance of SPEC 3, for that reader) and a link to the order page.
//!
//! One command makes at most one e-mail per person: a seller's approval is "cancellation
//! approved" with the refund in the same message, not three messages. What the e-mail says
//! is decided when the command commits (it describes the order as it then is) and stored
//! in parts; its text and HTML bodies are put together from them when it is sent, and its
//! address is looked up then, so a corrected address still gets it.

use jiff::Timestamp;
use orderly_domain::{Actor, Audience, DeadlineKind, Event, EventKind, Order, Policy, visible};
use orderly_store::NewOutbox;

/// Who an e-mail is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    Buyer,
    Seller,
}

impl Reader {
    fn audience(self) -> Audience {
        match self {
            Reader::Buyer => Audience::Buyer,
            Reader::Seller => Audience::Seller,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Reader::Buyer => "buyer",
            Reader::Seller => "seller",
        }
    }
}

/// Why an event is worth an e-mail, to whom, and how it reads as a subject. The order of
/// this list is the order of importance: the first notable event of a command is its
/// e-mail's subject.
fn notable(event: &EventKind) -> Option<(Reader, &'static str, &'static str)> {
    use EventKind::*;
    use Reader::*;
    Some(match event {
        OrderPlaced(_) => (Buyer, "order_placed", "your order is placed"),
        OrderClosed { .. } => (Buyer, "order_closed", "your order is closed"),
        CancellationApproved { .. } => (
            Buyer,
            "cancellation_approved",
            "your cancellation is approved",
        ),
        CancellationDecided { approve: true, .. } => (
            Buyer,
            "cancellation_approved",
            "the platform approved your cancellation",
        ),
        CancellationRejected { .. } => (
            Buyer,
            "cancellation_rejected",
            "the seller rejected your cancellation request",
        ),
        CancellationDecided { approve: false, .. } => (
            Buyer,
            "cancellation_rejected",
            "the platform declined your cancellation",
        ),
        OrderCancelled { .. } => (Buyer, "order_cancelled", "your order is cancelled"),
        RefundIssued { .. } => (Buyer, "refund_sent", "a refund is on its way"),
        Shipped { .. } => (Buyer, "order_shipped", "your order has shipped"),
        CancellationProposed { .. } => (
            Buyer,
            "cancellation_proposed",
            "the seller asks you to cancel",
        ),
        PartialRefundOffered { .. } => (
            Buyer,
            "partial_refund_offered",
            "the seller offers a partial refund",
        ),
        ClaimCountered { .. } => (
            Buyer,
            "claim_answered",
            "the seller answered your claim with an offer",
        ),
        ClaimRejected { .. } => (Buyer, "claim_answered", "the seller rejected your claim"),
        ReturnApproved { .. } => (Buyer, "claim_answered", "your return is approved"),
        ClaimResolved { .. } => (Buyer, "claim_decided", "the platform decided your claim"),
        ClaimSettled { .. } => (Buyer, "claim_settled", "your claim is settled"),
        PaymentVerified => (Seller, "ready_to_ship", "a paid order is ready to ship"),
        CancellationRequested { .. } => {
            (Seller, "cancellation_requested", "the buyer asks to cancel")
        }
        ClaimOpened { kind, .. } => match kind {
            orderly_domain::order::ClaimKind::ReturnAndRefund => (
                Seller,
                "return_requested",
                "the buyer asks for a return and refund",
            ),
            orderly_domain::order::ClaimKind::RefundOnly => {
                (Seller, "refund_requested", "the buyer asks for a refund")
            }
            _ => (Seller, "dispute_opened", "the buyer opened a dispute"),
        },
        DeliveryRefused => (Seller, "delivery_refused", "the buyer refused the parcel"),
        CancellationEscalated { .. } => (
            Seller,
            "escalated",
            "the buyer escalated the cancellation to the platform",
        ),
        ClaimEscalated { .. } => (
            Seller,
            "escalated",
            "the claim was escalated to the platform",
        ),
        CancellationProposalAccepted => (
            Seller,
            "proposal_answered",
            "the buyer accepted your proposal to cancel",
        ),
        CancellationProposalDeclined => (
            Seller,
            "proposal_answered",
            "the buyer declined your proposal to cancel",
        ),
        PenaltyApplied { .. } => (Seller, "penalty", "a penalty point was applied"),
        ReminderDue { deadline, .. } => match deadline {
            DeadlineKind::SellerResponse => (
                Seller,
                "reminder",
                "reminder: answer the cancellation request",
            ),
            DeadlineKind::ClaimResponse => {
                (Seller, "reminder", "reminder: answer the buyer's claim")
            }
            DeadlineKind::HandlingTime => (Seller, "reminder", "reminder: ship the order"),
            DeadlineKind::ReceiptConfirmation => {
                (Buyer, "reminder", "reminder: the order completes soon")
            }
            DeadlineKind::BuyerProtection => {
                (Buyer, "reminder", "reminder: buyer protection ends soon")
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// What an e-mail says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What an e-mail says, in the parts its bodies are made of: stored in the outbox row as
/// the command commits (half the bytes of the two bodies, and none of their formatting
/// inside the SQLite writer's transaction), put together by [`EmailParts::content`] when
/// it is sent.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct EmailParts {
    pub subject: String,
    /// What happened, one line per event, as the reader may see it.
    pub happened: Vec<String>,
    /// What the reader can do now (the guidance of SPEC 3).
    pub guidance: String,
    /// The order page.
    pub link: String,
    /// The order's number, as the link reads.
    pub number: String,
}

impl EmailParts {
    /// The e-mail's text and HTML bodies.
    pub fn content(self) -> EmailContent {
        let EmailParts {
            subject,
            happened,
            guidance,
            link,
            number,
        } = self;
        let mut text = String::from("Hello,\n\n");
        for line in &happened {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&format!("\nWhat you can do now: {guidance}\n\nOpen the order: {link}\n\n— orderly, on behalf of the marketplace\n"));
        let mut html = format!(
            "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\"><h1 style=\"font-size:1.2em\">{}</h1>",
            escape(&subject)
        );
        for line in &happened {
            html.push_str(&format!("<p>{}</p>", escape(line)));
        }
        html.push_str(&format!(
            "<p><strong>What you can do now:</strong> {}</p><p><a href=\"{}\">Open order #{}</a></p></body></html>",
            escape(&guidance),
            escape(&link),
            escape(&number)
        ));
        EmailContent {
            subject,
            text,
            html,
        }
    }
}

/// An e-mail outbox row's payload, written out directly (no `serde_json::Value` built
/// first: this runs inside the SQLite writer's transaction), its keys in alphabetical
/// order.
#[derive(serde::Serialize)]
struct EmailPayload<'a> {
    guidance: &'a str,
    happened: &'a [String],
    link: &'a str,
    number: &'a str,
    order_id: orderly_domain::OrderId,
    reader: &'static str,
    subject: &'a str,
    template: &'static str,
    to: orderly_domain::AccountId,
}

/// The e-mail outbox rows of one command: its events, numbered from `first_seq`, on
/// `order` (after them). `public_url` is the base of the order page's link.
pub fn emails(
    order: &Order,
    events: &[Event],
    first_seq: u64,
    now: Timestamp,
    policy: &Policy,
    public_url: &str,
) -> Vec<NewOutbox> {
    let mut rows = Vec::new();
    for reader in [Reader::Buyer, Reader::Seller] {
        let picked: Vec<(&Event, &'static str, &'static str)> = events
            .iter()
            .filter_map(|event| {
                let (to, template, headline) = notable(&event.kind)?;
                (to == reader).then_some((event, template, headline))
            })
            .collect();
        // Everything notable is an outcome the reader must know of, whoever caused it: a
        // buyer's own immediate cancellation is confirmed, as is a seller's penalty for
        // cancelling [000][001].
        let Some((_, template, headline)) = picked.first().copied() else {
            continue;
        };
        let parts = render(order, reader, headline, &picked, now, policy, public_url);
        let to = match reader {
            Reader::Buyer => order.buyer_id,
            Reader::Seller => order.seller_id,
        };
        rows.push(NewOutbox {
            topic: "email".into(),
            dedupe_key: format!("email:{}:{first_seq}:{}", order.id, reader.code()),
            payload: serde_json::to_string(&EmailPayload {
                guidance: &parts.guidance,
                happened: &parts.happened,
                link: &parts.link,
                number: &parts.number,
                order_id: order.id,
                reader: reader.code(),
                subject: &parts.subject,
                template,
                to,
            })
            .expect("an e-mail always serialises"),
        });
    }
    rows
}

fn render(
    order: &Order,
    reader: Reader,
    headline: &str,
    picked: &[(&Event, &'static str, &'static str)],
    now: Timestamp,
    policy: &Policy,
    public_url: &str,
) -> EmailParts {
    let subject = format!("Order #{}: {headline}", order.number());
    let happened: Vec<String> = picked
        .iter()
        .filter_map(|(event, _, _)| {
            visible(event, reader.audience()).map(|view| view.describe(order.currency))
        })
        .collect();
    let actor = match reader {
        Reader::Buyer => Actor::Buyer(order.buyer_id),
        Reader::Seller => Actor::Seller(order.seller_id),
    };
    let guidance = orderly_domain::guidance(order, actor, now, policy);
    let link = format!("{}/orders/{}", public_url.trim_end_matches('/'), order.id);
    EmailParts {
        subject,
        happened,
        guidance: guidance.to_string(),
        link,
        number: order.number(),
    }
}

/// Text for HTML: the five characters that could be markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
