//! Escrow and the double-entry ledger (SPEC section 6). Every movement of an order's money
//! is one entry from one account to another; the escrow totals are their sums.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::payment::RefundDestination;

/// The accounts money moves between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "account", content = "destination")]
pub enum LedgerAccount {
    /// The buyer's payment source (card, wallet, ...).
    BuyerSource,
    /// Money held by the platform until the buyer has the goods.
    Escrow,
    /// What the platform owes the seller.
    SellerPayable,
    /// Money on its way back to the buyer.
    Refund(RefundDestination),
}

/// One movement: `amount_minor` from `debit` to `credit`, always positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub at: Timestamp,
    pub from: LedgerAccount,
    pub to: LedgerAccount,
    pub amount_minor: i64,
}

/// The order's escrow, in minor units: `captured = held + released + refunded` always.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escrow {
    /// Taken from the buyer (a declined payment is reversed out of it).
    pub captured_minor: i64,
    /// In escrow now.
    pub held_minor: i64,
    /// Paid out to the seller.
    pub released_minor: i64,
    /// Sent back to the buyer.
    pub refunded_minor: i64,
}

impl Escrow {
    /// The balance of `account` computed from the entries alone: the check that escrow
    /// totals and ledger agree.
    pub fn balance(entries: &[LedgerEntry], account: LedgerAccount) -> i64 {
        entries.iter().fold(0, |sum, entry| {
            let mut sum = sum;
            if entry.to == account {
                sum += entry.amount_minor;
            }
            if entry.from == account {
                sum -= entry.amount_minor;
            }
            sum
        })
    }

    /// Whether the totals obey `captured = held + released + refunded`, with nothing
    /// negative.
    pub fn is_balanced(&self) -> bool {
        self.held_minor >= 0
            && self.released_minor >= 0
            && self.refunded_minor >= 0
            && self.captured_minor == self.held_minor + self.released_minor + self.refunded_minor
    }
}
