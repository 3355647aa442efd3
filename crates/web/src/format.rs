//! How amounts, times and durations read on the pages.

use jiff::{SignedDuration, Timestamp};
use orderly_domain::money::Currency;

/// `35.00 EUR`, from minor units.
pub fn money(minor: i64, currency: Currency) -> String {
    orderly_domain::money::format_minor(minor, currency)
}

/// An amount typed by a person (`12`, `12.5`, `12,50`) in minor units of `currency`;
/// `None` for anything else.
pub fn parse_money(text: &str, currency: Currency) -> Option<i64> {
    let text = text.trim().replace(',', ".");
    if text.is_empty() || text.starts_with('-') || text.starts_with('+') {
        return None;
    }
    let exponent = usize::from(currency.exponent());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text.as_str(), ""),
    };
    if fraction.len() > exponent
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || (whole.is_empty() && fraction.is_empty())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<exponent$}").parse().ok()?
    };
    whole
        .checked_mul(10_i64.pow(u32::try_from(exponent).ok()?))?
        .checked_add(fraction)
}

/// An amount for a form field, without the currency: `35.00`.
pub fn money_input(minor: i64, currency: Currency) -> String {
    let text = money(minor, currency);
    text.split_whitespace().next().unwrap_or("").to_owned()
}

/// `Tue 17 Nov 2026, 09:00 UTC`.
pub fn time(at: Timestamp) -> String {
    at.strftime("%a %-d %b %Y, %H:%M UTC").to_string()
}

/// `17 Nov, 09:00` for tables.
pub fn short_time(at: Timestamp) -> String {
    at.strftime("%-d %b %Y, %H:%M").to_string()
}

/// `2 days 3 hours`, `45 minutes`, `less than a minute`.
pub fn duration(span: SignedDuration) -> String {
    let seconds = span.as_secs().max(0);
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    let unit = |n: i64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (days, hours, minutes) {
        (0, 0, 0) => "less than a minute".to_owned(),
        (0, 0, m) => unit(m, "minute"),
        (0, h, 0) => unit(h, "hour"),
        (0, h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
        (d, 0, _) => unit(d, "day"),
        (d, h, _) => format!("{} {}", unit(d, "day"), unit(h, "hour")),
    }
}

/// A code as words: `payment_verification` → `payment verification`.
pub fn words(code: &str) -> String {
    code.replace('_', " ")
}

/// The first letter in capitals.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR")
    }

    #[test]
    fn amounts_read_and_parse_in_major_units() {
        assert_eq!(money(3500, eur()), "35.00 EUR");
        assert_eq!(money(5, eur()), "0.05 EUR");
        let yen = Currency::parse("JPY").expect("JPY");
        assert_eq!(money(1200, yen), "1200 JPY");
        for (text, minor) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12,50", 1250),
            ("0.05", 5),
            (".5", 50),
        ] {
            assert_eq!(parse_money(text, eur()), Some(minor), "{text}");
        }
        for text in ["", "-1", "1.234", "abc", "1.2.3", "+3", "."] {
            assert_eq!(parse_money(text, eur()), None, "{text}");
        }
        assert_eq!(parse_money("1200", yen), Some(1200));
        assert_eq!(parse_money("12.5", yen), None);
        assert_eq!(money_input(1250, eur()), "12.50");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let hours = |h: i64| SignedDuration::from_hours(h);
        assert_eq!(duration(hours(72)), "3 days");
        assert_eq!(duration(hours(49)), "2 days 1 hour");
        assert_eq!(duration(SignedDuration::from_mins(90)), "1 hour 30 minutes");
        assert_eq!(
            duration(SignedDuration::from_secs(20)),
            "less than a minute"
        );
        assert_eq!(duration(hours(-3)), "less than a minute");
    }
}
