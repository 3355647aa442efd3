//! The form of every order action a person can take: its button, its fields (named as the
//! API names them), and — for actions that move money — the confirmation that states the
//! amounts before anything happens. A submitted form becomes the API route's JSON body.

use orderly_domain::{
    Action, CancelReason, DisputeReason, Order, PaymentMethod, ReturnReason, Role, Status, Template,
};
use serde_json::{Map, Value};

use crate::format::{money, money_input, words};
use crate::session::Form;

/// How a field is typed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Text,
    LongText,
    /// An amount in the order's currency, typed in major units (`12.50`); sent in minor.
    Money,
    /// A whole number.
    Number,
    Checkbox,
    Choice,
    /// A choice between two answers sent as `true` or `false`.
    YesNo,
}

/// One choice of a select.
#[derive(Clone, Debug)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// One field of an action's form.
#[derive(Clone, Debug)]
pub struct Field {
    /// The API's field name.
    pub name: &'static str,
    pub label: String,
    pub input: Input,
    pub required: bool,
    pub help: String,
    /// What the field shows: a default, or what the person typed before a refusal.
    pub value: String,
    pub choices: Vec<Choice>,
    /// The problem's sentence, when the last try was refused because of this field.
    pub error: Option<String>,
    /// Not sent to the API: the page turns it into another field (a message template).
    pub page_only: bool,
}

impl Field {
    fn new(name: &'static str, label: &str, input: Input) -> Self {
        Self {
            name,
            label: label.to_owned(),
            input,
            required: true,
            help: String::new(),
            value: String::new(),
            choices: Vec::new(),
            error: None,
            page_only: false,
        }
    }

    fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    fn choices(mut self, choices: impl IntoIterator<Item = (String, String)>) -> Self {
        self.choices = choices
            .into_iter()
            .map(|(value, label)| Choice { value, label })
            .collect();
        self
    }

    fn page_only(mut self) -> Self {
        self.page_only = true;
        self
    }

    /// The template's name for the input kind.
    pub fn kind(&self) -> &'static str {
        match self.input {
            Input::Text => "text",
            Input::LongText => "textarea",
            Input::Money => "money",
            Input::Number => "number",
            Input::Checkbox => "checkbox",
            Input::Choice | Input::YesNo => "select",
        }
    }

    /// The element id, unique on the page.
    pub fn id(&self, action: &str) -> String {
        format!("{action}-{}", self.name)
    }

    pub fn is_checked(&self) -> bool {
        !self.value.is_empty() && self.value != "false"
    }
}

/// An action's form on the order page.
#[derive(Clone, Debug)]
pub struct ActionForm {
    pub action: Action,
    pub code: &'static str,
    pub label: String,
    /// What the action does, in a sentence, shown above its fields.
    pub intro: String,
    pub fields: Vec<Field>,
    /// For actions that move money: what will happen, with the amounts. The form first
    /// shows this and asks to confirm.
    pub confirm: Option<String>,
    /// Ends or refuses something: drawn as a secondary, careful button.
    pub danger: bool,
    /// The one-time key the form carries.
    pub key: String,
    /// The problem's sentence when the last try was refused and no field is at fault.
    pub error: Option<String>,
    /// Whether the form is unfolded (after a refusal, so the sentence is seen).
    pub open: bool,
}

impl ActionForm {
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// The field the API named in its refusal, if it is one of this form's.
    pub fn mark_error(&mut self, field: Option<&str>, sentence: &str) {
        self.open = true;
        match field.and_then(|name| self.fields.iter_mut().find(|f| f.name == name)) {
            Some(field) => field.error = Some(sentence.to_owned()),
            None => self.error = Some(sentence.to_owned()),
        }
    }

    /// Puts what the person typed back into the fields.
    pub fn refill(&mut self, form: &Form) {
        for field in &mut self.fields {
            field.value = match field.input {
                Input::Checkbox => {
                    if form.checked(field.name) {
                        "true".into()
                    } else {
                        String::new()
                    }
                }
                _ => form.text(field.name),
            };
        }
    }

    /// The API body for a submitted form, or the field at fault and why.
    pub fn body(
        &self,
        form: &Form,
        order: &Order,
    ) -> Result<Value, (Option<&'static str>, String)> {
        let mut body = Map::new();
        for field in &self.fields {
            if field.page_only {
                continue;
            }
            let text = form.text(field.name);
            let value = match field.input {
                Input::Checkbox => Value::Bool(form.checked(field.name)),
                _ if text.is_empty() && field.required => {
                    return Err((
                        Some(field.name),
                        format!("Fill in “{}”.", field.label.trim_end_matches(" (optional)")),
                    ));
                }
                _ if text.is_empty() => continue,
                Input::Text | Input::LongText | Input::Choice => Value::String(text),
                Input::YesNo => Value::Bool(text == "true"),
                Input::Money => match crate::format::parse_money(&text, order.currency) {
                    Some(minor) => Value::from(minor),
                    None => {
                        return Err((
                            Some(field.name),
                            format!(
                                "Give an amount in {} such as {}.",
                                order.currency.code(),
                                money_input(1250, order.currency)
                            ),
                        ));
                    }
                },
                Input::Number => match text.parse::<u64>() {
                    Ok(number) => Value::from(number),
                    Err(_) => {
                        return Err((Some(field.name), "Give a whole number, such as 15.".into()));
                    }
                },
            };
            body.insert(field.name.to_owned(), value);
        }
        // A chosen template fills an empty message (the cancellation request's message
        // field takes text; the thread's own form sends the template itself).
        if matches!(self.action, Action::Cancel | Action::RequestCancellation)
            && body.get("message").is_none()
            && let Some(template) = form.get("template").and_then(Template::parse)
        {
            body.insert(
                "message".into(),
                Value::String(template.render(&order.number())),
            );
        }
        Ok(Value::Object(body))
    }
}

fn cancel_reasons(pick: impl Fn(CancelReason) -> bool) -> Vec<(String, String)> {
    CancelReason::ALL
        .iter()
        .copied()
        .filter(|reason| pick(*reason))
        .map(|reason| (reason.code().to_owned(), reason.text().to_owned()))
        .collect()
}

fn templates() -> Vec<(String, String)> {
    let mut choices = vec![(String::new(), "None: I write my own".to_owned())];
    choices.extend(
        Template::ALL
            .iter()
            .map(|template| (template.code().to_owned(), capitalise_code(template.code()))),
    );
    choices
}

fn capitalise_code(code: &str) -> String {
    crate::format::capitalised(&words(code))
}

fn return_reasons() -> Vec<(String, String)> {
    ReturnReason::ALL
        .iter()
        .map(|reason| {
            let who = match reason.fault() {
                orderly_domain::Fault::Buyer => "you pay return shipping",
                _ => "the seller pays return shipping",
            };
            (
                reason.code().to_owned(),
                format!("{} ({who})", capitalise_code(reason.code())),
            )
        })
        .collect()
}

fn dispute_reasons(order: &Order) -> Vec<(String, String)> {
    let delivered = order.delivered_at.is_some();
    DisputeReason::ALL
        .iter()
        .filter(|reason| {
            if delivered {
                reason.allowed_after_delivery()
            } else {
                reason.allowed_before_delivery()
            }
        })
        .map(|reason| (reason.code().to_owned(), capitalise_code(reason.code())))
        .collect()
}

/// Where a refund of this order goes, in words.
pub fn destination(order: &Order) -> String {
    match order.payment_method.refund_destination() {
        orderly_domain::RefundDestination::Card => "card".into(),
        orderly_domain::RefundDestination::Paypal => "PayPal account".into(),
        orderly_domain::RefundDestination::EWallet => "e-wallet".into(),
        orderly_domain::RefundDestination::PlatformWallet => "platform wallet (at once)".into(),
        orderly_domain::RefundDestination::Voucher => "voucher (at once)".into(),
    }
}

/// The form for `action` on `order` as `role` sees it.
pub fn form(
    action: Action,
    order: &Order,
    role: Role,
    policy: &orderly_domain::Policy,
    key: String,
) -> ActionForm {
    let held = money(order.escrow.held_minor, order.currency);
    let to = destination(order);
    let buyer = role == Role::Buyer;
    let whose = if buyer { "your" } else { "the buyer's" };
    let mut danger = false;
    let mut confirm = None;
    let (label, intro, fields): (String, String, Vec<Field>) = match action {
        Action::Pay => (
            format!("Pay {}", money(order.total_minor(), order.currency)),
            "The money is held in escrow: the seller is paid only once you have the goods."
                .into(),
            vec![Field::new("method", "Payment method", Input::Choice)
                .value(order.payment_method.code())
                .choices(PaymentMethod::ALL.iter().map(|method| {
                    (method.code().to_owned(), capitalise_code(method.code()))
                }))],
        ),
        Action::Cancel | Action::RequestCancellation => {
            danger = true;
            let at_once = action == Action::Cancel;
            if at_once && order.status == Status::PaymentVerification {
                confirm = Some(format!(
                    "The order is cancelled at once and {held} goes back to {whose} {to}."
                ));
            }
            (
                if at_once { "Cancel the order".into() } else { "Request cancellation".into() },
                if at_once {
                    "Nothing has been shipped: the order is cancelled at once.".into()
                } else {
                    "The seller has 72 hours to answer; if they do not, the cancellation is approved and you are refunded.".into()
                },
                vec![
                    Field::new("reason", "Reason", Input::Choice)
                        .choices(cancel_reasons(CancelReason::is_buyer_choice))
                        .help("If you simply changed your mind, “I ordered the wrong item” is the closest reason and carries no penalty."),
                    Field::new("template", "Message to the seller", Input::Choice)
                        .optional()
                        .page_only()
                        .choices(templates()),
                    Field::new("message", "Or your own message (optional)", Input::LongText).optional(),
                    Field::new("complaint", "A complaint about the seller, for the platform only (optional)", Input::LongText).optional(),
                ],
            )
        }
        Action::WithdrawCancellation => (
            "Withdraw the request and resume the order".into(),
            "The seller goes on preparing the order.".into(),
            vec![],
        ),
        Action::ApproveCancellation => {
            confirm = Some(format!(
                "The order is cancelled and {held} goes back to the buyer's {to}. The stock returns to your catalogue."
            ));
            (
                "Approve the cancellation".into(),
                "Approve before you ship: once shipped, the buyer can only return the item.".into(),
                vec![],
            )
        }
        Action::RejectCancellation => {
            danger = true;
            (
                "Reject the cancellation".into(),
                "Tell the buyer why; they may escalate to the platform.".into(),
                vec![Field::new("reason", "Why you reject it", Input::LongText)],
            )
        }
        Action::EscalateCancellation => (
            "Ask the platform to decide".into(),
            "Support reads both sides and decides.".into(),
            vec![Field::new("message", "What happened", Input::LongText)],
        ),
        Action::DecideCancellation => {
            confirm = Some(format!(
                "If you cancel, {held} goes back to the buyer's {to}; if you keep it, the order goes on."
            ));
            (
                "Decide the cancellation".into(),
                "The buyer escalated the seller's refusal.".into(),
                vec![
                    Field::new("approve", "Decision", Input::YesNo).choices([
                        ("true".into(), "Cancel the order and refund the buyer".into()),
                        ("false".into(), "Keep the order".into()),
                    ]),
                    Field::new("note", "Note for the parties (optional)", Input::LongText).optional(),
                ],
            )
        }
        Action::SellerCancel => {
            danger = true;
            confirm = Some(format!(
                "The order is cancelled at your fault and {held} goes back to the buyer's {to}."
            ));
            (
                "Cancel the order".into(),
                "A cancellation by the seller counts against your rating.".into(),
                vec![Field::new("reason", "Reason", Input::Choice)
                    .choices(cancel_reasons(CancelReason::is_seller_choice))],
            )
        }
        Action::VerifyPayment => (
            "Verify the payment".into(),
            "Approve the payment, or decline it: a declined payment is reversed and the order awaits payment again.".into(),
            vec![Field::new("outcome", "Outcome", Input::Choice).choices([
                ("approved".into(), "Approved".into()),
                ("declined".into(), "Declined".into()),
            ])],
        ),
        Action::Ship => (
            "Mark as shipped".into(),
            "Give the carrier and the tracking number the buyer can follow.".into(),
            vec![
                Field::new("carrier", "Carrier", Input::Text),
                Field::new("tracking_number", "Tracking number", Input::Text),
            ],
        ),
        Action::UpdateTracking => (
            "Correct the tracking number".into(),
            String::new(),
            vec![
                Field::new("carrier", "Carrier", Input::Text)
                    .value(order.shipment.as_ref().map(|s| s.carrier.clone()).unwrap_or_default()),
                Field::new("tracking_number", "Tracking number", Input::Text),
            ],
        ),
        Action::MarkDelivered => (
            "Mark as delivered".into(),
            "As the carrier would report it.".into(),
            vec![],
        ),
        Action::RefuseDelivery => {
            danger = true;
            (
                "Refuse the delivery".into(),
                "The parcel goes back to the seller; you are refunded the items once it is back, without the shipping fee.".into(),
                vec![],
            )
        }
        Action::ConfirmReceipt => {
            confirm = Some(format!(
                "Check the item first: once you confirm, {held} is paid to the seller and you can no longer ask for a return or open a dispute."
            ));
            (
                "Confirm receipt".into(),
                "Do not confirm receipt until you have received and checked the item.".into(),
                vec![],
            )
        }
        Action::RequestReturn | Action::RequestRefund => {
            let cap = order.claim_cap_minor(policy.refund_shipping_after_shipment);
            let refund_only = action == Action::RequestRefund;
            (
                if refund_only { "Ask for a refund (keep the item)".into() } else { "Return the item for a refund".into() },
                if refund_only {
                    "For a problem that does not need the item back.".into()
                } else {
                    "The seller answers within the claim's deadline; who pays return shipping depends on the reason.".into()
                },
                vec![
                    Field::new("reason", "Reason", Input::Choice).choices(return_reasons()),
                    Field::new("amount", &format!("Amount you ask for ({})", order.currency.code()), Input::Money)
                        .value(money_input(cap, order.currency))
                        .help(format!("At most {}.", money(cap, order.currency))),
                    Field::new("explanation", "What is wrong", Input::LongText),
                ],
            )
        }
        Action::OpenDispute => {
            let cap = order.claim_cap_minor(policy.refund_shipping_after_shipment);
            (
                "Open a dispute".into(),
                "The seller answers first; if you cannot agree, either of you asks the platform to decide. Add photos as evidence once it is open.".into(),
                vec![
                    Field::new("reason", "Reason", Input::Choice).choices(dispute_reasons(order)),
                    Field::new("amount", &format!("Amount you ask for ({})", order.currency.code()), Input::Money)
                        .value(money_input(cap, order.currency))
                        .help(format!("At most {}.", money(cap, order.currency))),
                    Field::new("return_item", "I will send the item back", Input::Checkbox).optional(),
                    Field::new("explanation", "What is wrong", Input::LongText),
                ],
            )
        }
        Action::RespondClaim => {
            let asked = order
                .open_claim()
                .map_or(0, |claim| claim.amount_asked_minor);
            confirm = Some(format!(
                "If you accept, {} goes back to the buyer's {to}. A counter offer or a rejection is sent to the buyer to answer.",
                money(asked, order.currency)
            ));
            (
                "Answer the claim".into(),
                format!("The buyer asks for {}.", money(asked, order.currency)),
                vec![
                    Field::new("decision", "Your answer", Input::Choice).choices([
                        ("accept".into(), "Accept the claim".into()),
                        ("counter".into(), "Offer a smaller refund".into()),
                        ("reject".into(), "Reject the claim".into()),
                    ]),
                    Field::new("amount", &format!("Your offer ({}), for a counter offer", order.currency.code()), Input::Money).optional(),
                    Field::new("explanation", "Explanation (needed to reject or counter)", Input::LongText).optional(),
                ],
            )
        }
        Action::AcceptOffer => {
            let offer = order
                .open_claim()
                .and_then(|claim| claim.offer_minor)
                .unwrap_or(0);
            confirm = Some(format!(
                "You accept {} instead of what you asked; it goes back to {whose} {to} and the claim ends.",
                money(offer, order.currency)
            ));
            ("Accept the seller's offer".into(), String::new(), vec![])
        }
        Action::EscalateClaim => (
            "Ask the platform to decide".into(),
            "Support reads both sides and the evidence, then decides the refund.".into(),
            vec![Field::new("explanation", "Why you ask the platform", Input::LongText)],
        ),
        Action::ResolveClaim => {
            confirm = Some(format!(
                "The refund you give goes to the buyer's {to}; at most {held} is still in escrow."
            ));
            (
                "Resolve the claim".into(),
                "Decide the refund and whether the item goes back first.".into(),
                vec![
                    Field::new("refund_amount", &format!("Refund ({})", order.currency.code()), Input::Money)
                        .value(money_input(
                            order.open_claim().map_or(0, |claim| claim.amount_asked_minor),
                            order.currency,
                        ))
                        .help(format!("0 to {held}.")),
                    Field::new("return_required", "The item must be returned first", Input::Checkbox).optional(),
                    Field::new("return_shipping_paid_by", "Return shipping is paid by", Input::Choice)
                        .optional()
                        .choices([
                            (String::new(), "By the claim's reason".into()),
                            ("buyer".into(), "The buyer".into()),
                            ("seller".into(), "The seller".into()),
                        ]),
                ],
            )
        }
        Action::ReturnShipped => (
            "I have sent the item back".into(),
            "Give the return parcel's tracking number.".into(),
            vec![Field::new("tracking_number", "Tracking number", Input::Text)],
        ),
        Action::ReturnReceived => {
            let refund = order
                .open_claim()
                .and_then(|claim| claim.agreed_refund_minor.or(Some(claim.amount_asked_minor)))
                .unwrap_or(0);
            confirm = Some(format!(
                "Confirm the item is back: {} goes back to the buyer's {to}.",
                money(refund, order.currency)
            ));
            ("The item is back".into(), String::new(), vec![])
        }
        Action::RequestExtension => (
            "Ask for more protection time".into(),
            "When the parcel is late, ask the seller to extend your buyer protection.".into(),
            vec![
                Field::new("days", "Extra days", Input::Number).value("15"),
                Field::new("reason", "Why", Input::LongText),
            ],
        ),
        Action::ApproveExtension => ("Extend the protection".into(), String::new(), vec![]),
        Action::DeclineExtension => {
            danger = true;
            ("Decline the extension".into(), String::new(), vec![])
        }
        Action::Message => (
            "Send a message".into(),
            String::new(),
            vec![
                Field::new("template", "A ready message", Input::Choice)
                    .optional()
                    .choices(templates()),
                Field::new("text", "Or your own words", Input::LongText).optional(),
            ],
        ),
        Action::Freeze => {
            danger = true;
            (
                "Freeze the order".into(),
                "Every deadline pauses and the parties can only send messages. The note is for support only.".into(),
                vec![Field::new("note", "Internal note (never shown to the parties)", Input::LongText)],
            )
        }
        Action::Unfreeze => (
            "Unfreeze the order".into(),
            "The deadlines resume where they stopped.".into(),
            vec![Field::new("note", "Internal note (optional)", Input::LongText).optional()],
        ),
        Action::AdminCancel => {
            danger = true;
            confirm = Some(format!(
                "The order is cancelled and {held} goes back to the buyer's {to}."
            ));
            (
                "Cancel the order (platform)".into(),
                "For fraud or a broken order: a full refund of what is in escrow.".into(),
                vec![Field::new("note", "Internal note", Input::LongText)],
            )
        }
        Action::OrderAgain => (
            "Order again".into(),
            "The same items at today's prices, a new order to pay.".into(),
            vec![],
        ),
        Action::ProposeCancellation => (
            "Propose to cancel".into(),
            "The buyer accepts or declines; nothing counts against you if they accept.".into(),
            vec![Field::new("reason", "Reason", Input::Choice)
                .choices(cancel_reasons(CancelReason::is_buyer_choice))],
        ),
        Action::AcceptCancellationProposal => {
            confirm = Some(format!(
                "The order is cancelled and {held} goes back to {whose} {to}."
            ));
            ("Accept the seller's proposal to cancel".into(), String::new(), vec![])
        }
        Action::DeclineCancellationProposal => {
            danger = true;
            ("Keep the order".into(), "Decline the seller's proposal.".into(), vec![])
        }
        Action::OfferPartialRefund => {
            confirm = Some(format!(
                "The buyer is offered this amount back to their {to} if they keep the order; nothing moves until they accept."
            ));
            (
                "Offer a partial refund".into(),
                "Offer part of the price back so the buyer keeps the order.".into(),
                vec![
                    Field::new("amount", &format!("Amount ({})", order.currency.code()), Input::Money)
                        .help(format!("Less than {held}.")),
                    Field::new("reason", "Why", Input::LongText),
                ],
            )
        }
        Action::AcceptPartialRefund => {
            let offer = order
                .pending_partial_refund()
                .map_or(0, |offer| offer.amount_minor);
            confirm = Some(format!(
                "You keep the order and {} goes back to your {to} at once.",
                money(offer, order.currency)
            ));
            (
                format!("Accept {} back", money(offer, order.currency)),
                String::new(),
                vec![],
            )
        }
        Action::DeclinePartialRefund => {
            danger = true;
            ("Decline the partial refund".into(), String::new(), vec![])
        }
        Action::AddEvidence => (
            "Add evidence".into(),
            "A photo (JPEG, PNG, WebP) or a PDF of at most 5 MiB; up to 10 files per claim.".into(),
            vec![
                Field::new("file", "File", Input::Text),
                Field::new("note", "What it shows (optional)", Input::Text).optional(),
            ],
        ),
        Action::RefundArrived => (
            "The refund has arrived".into(),
            "Tell us when the money is back, so support stops chasing it.".into(),
            vec![Field::new("refund_number", "Refund", Input::Choice).choices(
                order.refunds_in_transit().map(|refund| {
                    (
                        refund.number.to_string(),
                        format!("#{}: {}", refund.number, money(refund.amount_minor, order.currency)),
                    )
                }),
            )],
        ),
        Action::ContactSupport => (
            "Contact support".into(),
            "Support answers in the order's history.".into(),
            vec![Field::new("message", "Your question", Input::LongText)],
        ),
        Action::AddNote => (
            "Add an internal note".into(),
            "Only support reads it.".into(),
            vec![Field::new("text", "Note", Input::LongText)],
        ),
        Action::RecordScan => ("Record a carrier scan".into(), String::new(), vec![]),
    };
    ActionForm {
        action,
        code: action.code(),
        label,
        intro,
        fields,
        confirm,
        danger,
        key,
        error: None,
        open: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_label_and_distinct_field_names() {
        let (buyer, seller) = (
            orderly_domain::AccountId::from_uuid(uuid::Uuid::from_u128(1)),
            orderly_domain::AccountId::from_uuid(uuid::Uuid::from_u128(2)),
        );
        let id = orderly_domain::OrderId::from_uuid(uuid::Uuid::from_u128(3));
        let order = orderly_domain::place(
            orderly_domain::PlaceOrder::sample(id, buyer, seller),
            orderly_domain::Actor::Buyer(buyer),
            jiff::Timestamp::UNIX_EPOCH,
            &orderly_domain::Policy::default(),
        )
        .expect("a sample order")
        .order;
        for action in Action::ALL {
            let form = form(
                *action,
                &order,
                Role::Buyer,
                &orderly_domain::Policy::default(),
                "k".into(),
            );
            assert!(!form.label.is_empty(), "{action}");
            let mut names: Vec<&str> = form.fields.iter().map(|field| field.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), form.fields.len(), "{action}");
        }
    }
}
