//! Money (SPEC 6): where refunds go, when they are expected, when support is told they are
//! overdue, and the ledger that records every movement.

use orderly_domain::ledger::{Escrow, LedgerAccount};
use orderly_domain::{Action, CancelReason, Command, Currency, Money, PaymentMethod, Policy};
use orderly_domain::{DeadlineKind, RefundDestination};

use crate::support::*;

fn cancelled_with(method: PaymentMethod) -> Story {
    let mut story = Story::placed_with(Policy::default(), method);
    story.act(BUYER_ACTOR, Action::Pay);
    story.run(
        BUYER_ACTOR,
        Command::Cancel {
            reason: CancelReason::NoLongerNeeded,
            message: None,
            complaint: None,
        },
    );
    story
}

#[test]
fn seed_001_refunds_go_where_the_money_came_from() {
    for (method, destination) in [
        (PaymentMethod::Card, RefundDestination::Card),
        (PaymentMethod::Paypal, RefundDestination::Paypal),
        (PaymentMethod::EWallet, RefundDestination::EWallet),
        (
            PaymentMethod::PlatformWallet,
            RefundDestination::PlatformWallet,
        ),
        (PaymentMethod::Cash, RefundDestination::PlatformWallet),
        (
            PaymentMethod::WesternUnion,
            RefundDestination::PlatformWallet,
        ),
        (
            PaymentMethod::BankTransfer,
            RefundDestination::PlatformWallet,
        ),
        (PaymentMethod::CashOnDelivery, RefundDestination::Voucher),
    ] {
        let story = cancelled_with(method);
        assert_eq!(story.order.refunds[0].destination, destination, "{method}");
    }
}

#[test]
fn seed_000_a_card_refund_is_expected_within_20_business_days() {
    // Paid and cancelled on Monday 2 November 2026: 20 business days later is Monday
    // 30 November.
    let story = cancelled_with(PaymentMethod::Card);
    let refund = &story.order.refunds[0];
    assert_eq!(refund.sent_at, start_time());
    assert_eq!(
        refund.expected_by,
        "2026-11-30T09:00:00Z".parse().expect("valid")
    );
    // The overdue watch is armed at the later of 10 business days and expected_by.
    assert_eq!(refund.overdue_at, Some(refund.expected_by));
}

#[test]
fn seed_001_a_wallet_refund_arrives_at_once_and_is_not_watched() {
    let story = cancelled_with(PaymentMethod::BankTransfer);
    let refund = &story.order.refunds[0];
    assert_eq!(refund.expected_by, refund.sent_at);
    assert_eq!(refund.overdue_at, None);
    assert!(story.order.deadlines.is_empty());
}

#[test]
fn seed_004_an_overdue_card_refund_is_flagged_for_support() {
    let mut story = cancelled_with(PaymentMethod::Card);
    assert!(story.order.deadline(DeadlineKind::RefundOverdue).is_some());
    story.advance(days(28));
    assert!(story.order.refunds[0].flagged_overdue);
    assert!(story.order.deadlines.is_empty());
    // The order itself stays cancelled.
    assert_eq!(story.order.status, orderly_domain::Status::Cancelled);
}

#[test]
fn the_ledger_is_double_entry_and_agrees_with_escrow() {
    let mut story = Story::delivered();
    story.act(BUYER_ACTOR, Action::RequestRefund);
    story.run(
        SELLER_ACTOR,
        Command::RespondClaim {
            decision: orderly_domain::ClaimDecision::Counter,
            amount_minor: Some(700),
            explanation: "partial".into(),
        },
    );
    story.act(BUYER_ACTOR, Action::AcceptOffer);
    let ledger = &story.order.ledger;
    assert_eq!(Escrow::balance(ledger, LedgerAccount::BuyerSource), -TOTAL);
    assert_eq!(Escrow::balance(ledger, LedgerAccount::Escrow), 0);
    assert_eq!(
        Escrow::balance(ledger, LedgerAccount::Refund(RefundDestination::Card)),
        700
    );
    assert_eq!(
        Escrow::balance(ledger, LedgerAccount::SellerPayable),
        TOTAL - 700
    );
}

#[test]
fn an_order_mixing_currencies_is_refused() {
    let mut command = place_command(PaymentMethod::Card);
    let mut second = command.lines[0].clone();
    let usd = Currency::parse("USD").expect("USD");
    second.unit_price = Money::parse(100, usd).expect("valid");
    second.shipping_fee = Money::parse(0, usd).expect("valid");
    command.lines.push(second);
    let rejection = orderly_domain::place(command, BUYER_ACTOR, start_time(), &Policy::default())
        .expect_err("two currencies");
    assert_eq!(rejection.code(), "validation_failed");
}

#[test]
fn several_lines_sum_shipping_and_take_the_longest_processing_time() {
    let mut command = place_command(PaymentMethod::Card);
    let mut second = command.lines[0].clone();
    second.processing_days = Some(9);
    second.quantity = 1;
    command.lines.push(second);
    let decision = orderly_domain::place(command, BUYER_ACTOR, start_time(), &Policy::default())
        .expect("valid");
    assert_eq!(decision.order.shipping_fee_minor, 2 * SHIPPING);
    assert_eq!(decision.order.items_total_minor, ITEMS + 1_500);
    assert_eq!(decision.order.handling_days, 9);
}

#[test]
fn money_rejects_unknown_currencies_and_negative_amounts() {
    assert!(Currency::parse("XXY").is_err());
    assert!(Money::parse(-1, eur()).is_err());
    assert_eq!(
        Money::parse(1_234, eur()).expect("valid").to_string(),
        "12.34 EUR"
    );
    let yen = Currency::parse("JPY").expect("JPY");
    assert_eq!(
        Money::parse(1_234, yen).expect("valid").to_string(),
        "1234 JPY"
    );
}
