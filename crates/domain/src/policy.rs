//! The marketplace's policy (SPEC section 12): every deadline length and every rule on
//! which the seeds disagree, with the seeds' defaults. Loaded from TOML and validated once;
//! an invalid policy is an error that names the key.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::calendar;
use crate::order::deadline::DeadlineKind;

/// A deadline length: calendar hours, calendar days or business days (SPEC 15.14).
/// Written in TOML as `"72h"`, `"20d"` or `"10bd"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Window {
    Hours(u32),
    Days(u32),
    BusinessDays(u32),
}

/// The longest window orderly accepts: ten years, so every deadline stays representable.
pub const WINDOW_DAYS_MAX: u32 = 3_650;

impl Window {
    /// The instant this window ends when it starts at `start`.
    pub fn end(self, start: Timestamp, holidays: &[Date]) -> Timestamp {
        match self {
            Window::Hours(hours) => {
                calendar::add(start, jiff::SignedDuration::from_hours(i64::from(hours)))
            }
            Window::Days(days) => calendar::add(
                start,
                jiff::SignedDuration::from_hours(24 * i64::from(days)),
            ),
            Window::BusinessDays(days) => calendar::add_business_days(start, days, holidays),
        }
    }
}

impl Window {
    /// The window as a fixed length, for hours and days; `None` for business days, whose
    /// length depends on where they start.
    pub fn duration(self) -> Option<jiff::SignedDuration> {
        match self {
            Window::Hours(hours) => Some(jiff::SignedDuration::from_hours(i64::from(hours))),
            Window::Days(days) => Some(jiff::SignedDuration::from_hours(24 * i64::from(days))),
            Window::BusinessDays(_) => None,
        }
    }
}

impl FromStr for Window {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (number, make, limit): (&str, fn(u32) -> Window, u32) = if let Some(number) =
            text.strip_suffix("bd")
        {
            (number, Window::BusinessDays, WINDOW_DAYS_MAX)
        } else if let Some(number) = text.strip_suffix('d') {
            (number, Window::Days, WINDOW_DAYS_MAX)
        } else if let Some(number) = text.strip_suffix('h') {
            (number, Window::Hours, WINDOW_DAYS_MAX * 24)
        } else {
            return Err(format!(
                "`{text}` is not a window: write a whole number followed by h (hours), d (days) or bd (business days), e.g. \"72h\""
            ));
        };
        let value: u32 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` does not start with a whole number"))?;
        if value == 0 || value > limit {
            return Err(format!("`{text}` must be between 1 and {limit}"));
        }
        Ok(make(value))
    }
}

impl TryFrom<String> for Window {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Window> for String {
    fn from(window: Window) -> Self {
        window.to_string()
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Hours(n) => write!(f, "{n}h"),
            Window::Days(n) => write!(f, "{n}d"),
            Window::BusinessDays(n) => write!(f, "{n}bd"),
        }
    }
}

/// Who verifies a payment (SPEC 5 and 16.3): a simulated provider that approves after a
/// while (`"2h"`), or support staff by hand (`"manual"`: no timer, every payment is a
/// queue item).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Verification {
    /// The simulated provider approves when the window ends.
    After(Window),
    /// Support verifies every payment; nothing happens by itself.
    Manual,
    /// The payment provider answers through its callback; a payment it has not answered
    /// within a day is handed to support (SPEC 16.6).
    Provider,
}

/// How long the provider has before an unverified payment goes to support.
pub const PROVIDER_VERIFICATION_HOURS: i64 = 24;

impl Verification {
    /// When the simulated provider approves a payment made at `start`; `None` when a
    /// person decides.
    pub fn end(self, start: Timestamp, holidays: &[Date]) -> Option<Timestamp> {
        match self {
            Verification::After(window) => Some(window.end(start, holidays)),
            Verification::Manual | Verification::Provider => None,
        }
    }
}

impl TryFrom<String> for Verification {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.trim() {
            "manual" => Ok(Verification::Manual),
            "provider" => Ok(Verification::Provider),
            other => other
                .parse()
                .map(Verification::After)
                .map_err(|error: String| {
                    format!("{error}, or \"manual\" for support to verify every payment, or \"provider\" to wait for the payment provider's callback")
                }),
        }
    }
}

impl From<Verification> for String {
    fn from(verification: Verification) -> Self {
        match verification {
            Verification::After(window) => window.to_string(),
            Verification::Manual => "manual".into(),
            Verification::Provider => "provider".into(),
        }
    }
}

/// Until when a paid order may still receive a cancellation request (SPEC 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelRequestWindow {
    /// Until the seller ships [001][003] (default).
    UntilShipped,
    /// One day after payment [004].
    OneDayAfterPayment,
}

/// Every setting of SPEC section 12 and every deadline length of section 5.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// How long an unpaid order waits before it closes [004]: 20 days (1 week in [002]).
    pub payment_window: Window,
    /// How long the simulated payment provider takes to verify a payment [003], or
    /// `manual` for support to verify each one.
    pub payment_verification: Verification,
    /// How long the seller has to answer a cancellation request [001]: 72 h.
    pub seller_response_window: Window,
    /// Handling time for products without their own processing time [004].
    pub default_handling_days: u32,
    /// From when after shipment the "no tracking information" dispute may be opened [004].
    pub no_tracking_dispute_after: Window,
    /// Buyer protection after shipment (extendable).
    pub buyer_protection: Window,
    /// How long the buyer has to confirm receipt after delivery.
    pub receipt_confirmation: Window,
    /// How long the seller has to answer a return, refund or dispute.
    pub claim_response_window: Window,
    /// How long a dispute is negotiated before it escalates to the admin.
    pub negotiation_window: Window,
    /// How long the buyer has to ship an approved return.
    pub return_shipment_window: Window,
    /// How long the seller has to confirm a returned parcel arrived.
    pub return_confirmation_window: Window,
    /// How long a refused parcel may take to come back (SPEC 15.10).
    pub refused_delivery_return_window: Window,
    /// When a card or PayPal refund is flagged for support at the earliest [004].
    pub refund_overdue_after: Window,
    /// Cancel at once, with a full refund, while the payment is being verified [003].
    pub cancel_before_verification: bool,
    /// Until when a paid order accepts a cancellation request.
    pub cancel_request_window: CancelRequestWindow,
    /// Whether the buyer's ask may include the shipping fee after shipment [000].
    pub refund_shipping_after_shipment: bool,
    /// Days after delivery in which the buyer may return for any reason and the seller
    /// may not refuse (consumer law quoted in [004]); none by default.
    pub statutory_withdrawal_days: Option<u32>,
    /// Days that are not business days, on top of weekends.
    pub holidays: Vec<Date>,
    /// Most messages one order's thread holds, so no thread grows without bound.
    pub messages_per_order_max: u32,
    /// Most unpaid orders one buyer may have at once, so stock cannot be hoarded by
    /// placing orders that are never paid.
    pub unpaid_orders_per_buyer_max: u32,
    /// How soon support should answer an item of its queue that has no deadline of its own
    /// (an escalated claim, a support request, a payment to verify by hand).
    pub support_response_window: Window,
    /// How long before each deadline its reminder goes out (SPEC 16.1), in hours or days.
    pub reminder_before_seller_response: Window,
    pub reminder_before_claim_response: Window,
    pub reminder_before_handling_time: Window,
    pub reminder_before_receipt_confirmation: Window,
    pub reminder_before_buyer_protection: Window,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            payment_window: Window::Days(20),
            payment_verification: Verification::After(Window::Hours(2)),
            seller_response_window: Window::Hours(72),
            default_handling_days: 7,
            no_tracking_dispute_after: Window::Days(6),
            buyer_protection: Window::Days(60),
            receipt_confirmation: Window::Days(15),
            claim_response_window: Window::Days(5),
            negotiation_window: Window::Days(15),
            return_shipment_window: Window::Days(10),
            return_confirmation_window: Window::Days(15),
            refused_delivery_return_window: Window::Days(15),
            refund_overdue_after: Window::BusinessDays(10),
            cancel_before_verification: true,
            cancel_request_window: CancelRequestWindow::UntilShipped,
            refund_shipping_after_shipment: false,
            statutory_withdrawal_days: None,
            holidays: Vec::new(),
            messages_per_order_max: 500,
            unpaid_orders_per_buyer_max: 10,
            support_response_window: Window::Hours(24),
            reminder_before_seller_response: Window::Hours(24),
            reminder_before_claim_response: Window::Hours(24),
            reminder_before_handling_time: Window::Hours(24),
            reminder_before_receipt_confirmation: Window::Hours(48),
            reminder_before_buyer_protection: Window::Hours(48),
        }
    }
}

/// The largest value a count limit of the policy may take.
pub const LIMIT_MAX: u32 = 100_000;

/// Most cancellation requests a buyer may make on one order (SPEC 15.15).
pub const CANCELLATION_REQUESTS_MAX: u32 = 3;
/// Most protection extensions a seller may approve on one order (SPEC 15.18).
pub const EXTENSION_APPROVALS_MAX: u32 = 2;
/// Bounds of one protection extension in days (SPEC 15.18).
pub const EXTENSION_DAYS_MIN: u32 = 1;
pub const EXTENSION_DAYS_MAX: u32 = 30;

/// A policy file that cannot be used, with the key at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {key}: {message}")]
pub struct PolicyError {
    pub key: String,
    pub message: String,
}

/// The TOML form: every key optional, missing keys take the defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    payment_window: Option<Window>,
    payment_verification: Option<Verification>,
    seller_response_window: Option<Window>,
    default_handling_days: Option<u32>,
    no_tracking_dispute_after: Option<Window>,
    buyer_protection: Option<Window>,
    receipt_confirmation: Option<Window>,
    claim_response_window: Option<Window>,
    negotiation_window: Option<Window>,
    return_shipment_window: Option<Window>,
    return_confirmation_window: Option<Window>,
    refused_delivery_return_window: Option<Window>,
    refund_overdue_after: Option<Window>,
    cancel_before_verification: Option<bool>,
    cancel_request_window: Option<CancelRequestWindow>,
    refund_shipping_after_shipment: Option<bool>,
    statutory_withdrawal_days: Option<u32>,
    holidays: Option<Vec<Date>>,
    messages_per_order_max: Option<u32>,
    unpaid_orders_per_buyer_max: Option<u32>,
    support_response_window: Option<Window>,
    reminder_before_seller_response: Option<Window>,
    reminder_before_claim_response: Option<Window>,
    reminder_before_handling_time: Option<Window>,
    reminder_before_receipt_confirmation: Option<Window>,
    reminder_before_buyer_protection: Option<Window>,
}

impl Policy {
    /// Reads a policy from TOML. Missing keys keep their defaults; unknown keys, values of
    /// the wrong type and out-of-range values are errors naming the key.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|error| PolicyError {
            key: toml_error_key(text, &error),
            message: error.message().to_owned(),
        })?;
        let defaults = Policy::default();
        let policy = Policy {
            payment_window: file.payment_window.unwrap_or(defaults.payment_window),
            payment_verification: file
                .payment_verification
                .unwrap_or(defaults.payment_verification),
            seller_response_window: file
                .seller_response_window
                .unwrap_or(defaults.seller_response_window),
            default_handling_days: file
                .default_handling_days
                .unwrap_or(defaults.default_handling_days),
            no_tracking_dispute_after: file
                .no_tracking_dispute_after
                .unwrap_or(defaults.no_tracking_dispute_after),
            buyer_protection: file.buyer_protection.unwrap_or(defaults.buyer_protection),
            receipt_confirmation: file
                .receipt_confirmation
                .unwrap_or(defaults.receipt_confirmation),
            claim_response_window: file
                .claim_response_window
                .unwrap_or(defaults.claim_response_window),
            negotiation_window: file
                .negotiation_window
                .unwrap_or(defaults.negotiation_window),
            return_shipment_window: file
                .return_shipment_window
                .unwrap_or(defaults.return_shipment_window),
            return_confirmation_window: file
                .return_confirmation_window
                .unwrap_or(defaults.return_confirmation_window),
            refused_delivery_return_window: file
                .refused_delivery_return_window
                .unwrap_or(defaults.refused_delivery_return_window),
            refund_overdue_after: file
                .refund_overdue_after
                .unwrap_or(defaults.refund_overdue_after),
            cancel_before_verification: file
                .cancel_before_verification
                .unwrap_or(defaults.cancel_before_verification),
            cancel_request_window: file
                .cancel_request_window
                .unwrap_or(defaults.cancel_request_window),
            refund_shipping_after_shipment: file
                .refund_shipping_after_shipment
                .unwrap_or(defaults.refund_shipping_after_shipment),
            statutory_withdrawal_days: file.statutory_withdrawal_days,
            holidays: file.holidays.unwrap_or_default(),
            messages_per_order_max: file
                .messages_per_order_max
                .unwrap_or(defaults.messages_per_order_max),
            unpaid_orders_per_buyer_max: file
                .unpaid_orders_per_buyer_max
                .unwrap_or(defaults.unpaid_orders_per_buyer_max),
            support_response_window: file
                .support_response_window
                .unwrap_or(defaults.support_response_window),
            reminder_before_seller_response: file
                .reminder_before_seller_response
                .unwrap_or(defaults.reminder_before_seller_response),
            reminder_before_claim_response: file
                .reminder_before_claim_response
                .unwrap_or(defaults.reminder_before_claim_response),
            reminder_before_handling_time: file
                .reminder_before_handling_time
                .unwrap_or(defaults.reminder_before_handling_time),
            reminder_before_receipt_confirmation: file
                .reminder_before_receipt_confirmation
                .unwrap_or(defaults.reminder_before_receipt_confirmation),
            reminder_before_buyer_protection: file
                .reminder_before_buyer_protection
                .unwrap_or(defaults.reminder_before_buyer_protection),
        };
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the ranges serde cannot express.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.default_handling_days == 0 || self.default_handling_days > WINDOW_DAYS_MAX {
            return Err(PolicyError {
                key: "default_handling_days".into(),
                message: format!("must be between 1 and {WINDOW_DAYS_MAX}"),
            });
        }
        for (key, value) in [
            ("messages_per_order_max", self.messages_per_order_max),
            (
                "unpaid_orders_per_buyer_max",
                self.unpaid_orders_per_buyer_max,
            ),
        ] {
            if value == 0 || value > LIMIT_MAX {
                return Err(PolicyError {
                    key: key.into(),
                    message: format!("must be between 1 and {LIMIT_MAX}"),
                });
            }
        }
        if let Some(days) = self.statutory_withdrawal_days
            && (days == 0 || days > WINDOW_DAYS_MAX)
        {
            return Err(PolicyError {
                key: "statutory_withdrawal_days".into(),
                message: format!("must be between 1 and {WINDOW_DAYS_MAX}, or left out"),
            });
        }
        for (key, window) in self.reminder_leads() {
            if window.duration().is_none() {
                return Err(PolicyError {
                    key: key.into(),
                    message: "a reminder's lead time is in hours or days (\"24h\", \"2d\"), not business days".into(),
                });
            }
        }
        // The order completes by itself when the receipt window ends; it must not end
        // before the buyer's statutory right to return has.
        if let Some(days) = self.statutory_withdrawal_days {
            let receipt_days = match self.receipt_confirmation {
                Window::Hours(hours) => hours / 24,
                Window::Days(days) | Window::BusinessDays(days) => days,
            };
            if receipt_days < days {
                return Err(PolicyError {
                    key: "statutory_withdrawal_days".into(),
                    message: format!(
                        "is {days} days, longer than the receipt window ({}): orders would complete before the buyer's right to return ends; lengthen receipt_confirmation",
                        self.receipt_confirmation
                    ),
                });
            }
        }
        Ok(())
    }

    /// Every reminder: its deadline kind, the deadline it announces, and how long before.
    pub fn reminders(&self) -> [(DeadlineKind, DeadlineKind, Window); 5] {
        [
            (
                DeadlineKind::ReminderSellerResponse,
                DeadlineKind::SellerResponse,
                self.reminder_before_seller_response,
            ),
            (
                DeadlineKind::ReminderClaimResponse,
                DeadlineKind::ClaimResponse,
                self.reminder_before_claim_response,
            ),
            (
                DeadlineKind::ReminderHandlingTime,
                DeadlineKind::HandlingTime,
                self.reminder_before_handling_time,
            ),
            (
                DeadlineKind::ReminderReceiptConfirmation,
                DeadlineKind::ReceiptConfirmation,
                self.reminder_before_receipt_confirmation,
            ),
            (
                DeadlineKind::ReminderBuyerProtection,
                DeadlineKind::BuyerProtection,
                self.reminder_before_buyer_protection,
            ),
        ]
    }

    fn reminder_leads(&self) -> [(&'static str, Window); 5] {
        [
            (
                "reminder_before_seller_response",
                self.reminder_before_seller_response,
            ),
            (
                "reminder_before_claim_response",
                self.reminder_before_claim_response,
            ),
            (
                "reminder_before_handling_time",
                self.reminder_before_handling_time,
            ),
            (
                "reminder_before_receipt_confirmation",
                self.reminder_before_receipt_confirmation,
            ),
            (
                "reminder_before_buyer_protection",
                self.reminder_before_buyer_protection,
            ),
        ]
    }

    /// The policy as TOML, with every key: the commented example printed by the CLI.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a policy always serialises")
    }
}

fn toml_error_key(text: &str, error: &toml::de::Error) -> String {
    // toml names unknown keys in its message; for a bad value it gives the value's byte
    // span, and the key is what stands before `=` on that line.
    let message = error.message();
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        return rest[..end].to_owned();
    }
    if let Some(span) = error.span() {
        let before = &text[..span.start.min(text.len())];
        let line = before.rsplit('\n').next().unwrap_or(before);
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            if !key.is_empty() {
                return key.to_owned();
            }
        }
    }
    "policy".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_seed_defaults() {
        let policy = Policy::from_toml_str("").expect("empty policy is valid");
        assert_eq!(policy, Policy::default());
        assert_eq!(policy.payment_window, Window::Days(20));
        assert_eq!(policy.seller_response_window, Window::Hours(72));
        assert!(policy.cancel_before_verification);
    }

    #[test]
    fn the_alternatives_of_the_seeds_are_one_change_away() {
        let policy = Policy::from_toml_str(
            r#"
            payment_window = "7d"
            seller_response_window = "14d"
            cancel_before_verification = false
            cancel_request_window = "one_day_after_payment"
            refund_shipping_after_shipment = true
            statutory_withdrawal_days = 7
            holidays = ["2026-12-25"]
            "#,
        )
        .expect("valid policy");
        assert_eq!(policy.payment_window, Window::Days(7));
        assert_eq!(policy.seller_response_window, Window::Days(14));
        assert_eq!(
            policy.cancel_request_window,
            CancelRequestWindow::OneDayAfterPayment
        );
        assert_eq!(policy.statutory_withdrawal_days, Some(7));
        assert_eq!(policy.holidays, vec![Date::constant(2026, 12, 25)]);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = Policy::from_toml_str("payment_windw = \"7d\"").expect_err("typo");
        assert_eq!(error.key, "payment_windw");
    }

    #[test]
    fn a_bad_window_is_explained() {
        let error = Policy::from_toml_str("payment_window = \"7 weeks\"").expect_err("bad unit");
        assert_eq!(error.key, "payment_window");
        assert!(error.to_string().contains("7 weeks"), "{error}");
        let error = Policy::from_toml_str("payment_window = \"0d\"").expect_err("zero");
        assert!(error.to_string().contains("between 1"), "{error}");
    }

    #[test]
    fn a_statutory_period_longer_than_the_receipt_window_is_refused_at_start_up() {
        let error =
            Policy::from_toml_str("statutory_withdrawal_days = 20\nreceipt_confirmation = \"15d\"")
                .expect_err("20 > 15");
        assert_eq!(error.key, "statutory_withdrawal_days");
        assert!(error.to_string().contains("receipt window"), "{error}");
        assert!(Policy::from_toml_str("statutory_withdrawal_days = 14").is_ok());
    }

    #[test]
    fn payments_may_be_verified_by_hand() {
        let policy = Policy::from_toml_str("payment_verification = \"manual\"").expect("valid");
        assert_eq!(policy.payment_verification, Verification::Manual);
        let error = Policy::from_toml_str("payment_verification = \"soon\"").expect_err("bad");
        assert!(error.to_string().contains("manual"), "{error}");
    }

    #[test]
    fn an_out_of_range_number_names_the_key() {
        let error = Policy::from_toml_str("default_handling_days = 0").expect_err("zero");
        assert_eq!(error.key, "default_handling_days");
    }

    #[test]
    fn the_full_policy_round_trips_through_toml() {
        let text = Policy::default().to_toml_string();
        assert_eq!(
            Policy::from_toml_str(&text).expect("round trip"),
            Policy::default()
        );
    }
}
