//! Money: integer minor units with an ISO 4217 currency. Never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency such as `EUR` or `USD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses an upper-case ISO 4217 code.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        iso_currency::Currency::from_code(code)
            .map(Self)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// How many digits the minor unit has (2 for EUR, 0 for JPY).
    pub fn exponent(&self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::parse(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in minor units (cents) of a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

/// The largest amount orderly accepts anywhere: 10^13 minor units keeps every sum of a
/// bounded number of amounts far from `i64` overflow.
pub const AMOUNT_MINOR_MAX: i64 = 10_000_000_000_000;

impl Money {
    /// A non-negative amount no larger than [`AMOUNT_MINOR_MAX`].
    pub fn parse(amount_minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if !(0..=AMOUNT_MINOR_MAX).contains(&amount_minor) {
            return Err(MoneyError::OutOfRange(amount_minor));
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_minor(self.amount_minor, self.currency))
    }
}

/// An amount in minor units as people read it: `35.00 EUR`, `1200 JPY`.
pub fn format_minor(amount_minor: i64, currency: Currency) -> String {
    let exponent = u32::from(currency.exponent());
    if exponent == 0 {
        return format!("{amount_minor} {currency}");
    }
    let scale = 10_u64.pow(exponent);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let amount = amount_minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$} {currency}",
        amount / scale,
        amount % scale,
        width = exponent as usize
    )
}

/// Why an amount or currency was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an ISO 4217 currency code such as EUR or USD")]
    UnknownCurrency(String),
    #[error("amount {0} is out of range: use whole minor units from 0 to {AMOUNT_MINOR_MAX}")]
    OutOfRange(i64),
}
