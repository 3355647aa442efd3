//! Payment methods and where a refund goes for each (SPEC section 6 and 15.21).

use serde::{Deserialize, Serialize};

/// How the buyer paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    Paypal,
    EWallet,
    PlatformWallet,
    Cash,
    WesternUnion,
    BankTransfer,
    CashOnDelivery,
}

codes!(PaymentMethod {
    Card = "card",
    Paypal = "paypal",
    EWallet = "e_wallet",
    PlatformWallet = "platform_wallet",
    Cash = "cash",
    WesternUnion = "western_union",
    BankTransfer = "bank_transfer",
    CashOnDelivery = "cash_on_delivery",
});

/// Where refunded money goes [000][001][004].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundDestination {
    /// Back to the same card: 3 to 20 business days [000][003].
    Card,
    /// Back to the same PayPal account: faster than cards [004].
    Paypal,
    /// Back to the same e-wallet account.
    EWallet,
    /// The platform wallet ("AliPay account"): at once [001].
    PlatformWallet,
    /// A voucher, for cash-on-delivery charges [001].
    Voucher,
}

codes!(RefundDestination {
    Card = "card",
    Paypal = "paypal",
    EWallet = "e_wallet",
    PlatformWallet = "platform_wallet",
    Voucher = "voucher",
});

impl PaymentMethod {
    /// Where a refund of a payment made this way goes (SPEC 6).
    pub fn refund_destination(self) -> RefundDestination {
        match self {
            PaymentMethod::Card => RefundDestination::Card,
            PaymentMethod::Paypal => RefundDestination::Paypal,
            PaymentMethod::EWallet => RefundDestination::EWallet,
            PaymentMethod::PlatformWallet
            | PaymentMethod::Cash
            | PaymentMethod::WesternUnion
            | PaymentMethod::BankTransfer => RefundDestination::PlatformWallet,
            PaymentMethod::CashOnDelivery => RefundDestination::Voucher,
        }
    }
}

impl RefundDestination {
    /// The expected arrival window in business days, lower and upper bound (SPEC 6).
    pub fn arrival_business_days(self) -> (u32, u32) {
        match self {
            RefundDestination::Card => (3, 20),
            RefundDestination::Paypal | RefundDestination::EWallet => (1, 5),
            RefundDestination::PlatformWallet | RefundDestination::Voucher => (0, 0),
        }
    }

    /// Whether an overdue flag is armed for refunds sent here (SPEC 15.14: card and PayPal).
    pub fn watched_for_overdue(self) -> bool {
        matches!(self, RefundDestination::Card | RefundDestination::Paypal)
    }
}
