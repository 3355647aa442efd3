//! Private data stays private (SPEC 16.3), through every door a party has: the order's
//! history, the order document, the message thread, the webhooks and the e-mails waiting
//! in the outbox. Each test plants a marker in one private text and looks for it, and for
//! the admin's account id, everywhere a buyer or seller could read.

use serde_json::{Value, json};

use crate::support::*;

const MARKER: &str = "PRIVATE-4711";

/// Everything a party can read about the order, as one text.
async fn party_sees(market: &Market, token: &str, id: &str) -> String {
    let events = market
        .app
        .get(token, &format!("/api/v1/orders/{id}/events"))
        .await;
    assert_eq!(events.status, 200, "{events:?}");
    let order = market.order(token, id).await;
    let messages = market
        .app
        .get(token, &format!("/api/v1/orders/{id}/messages"))
        .await;
    assert_eq!(messages.status, 200, "{messages:?}");
    format!("{} {} {}", events.body, order, messages.body)
}

/// Every outbox row of the order meant for a party: webhooks and e-mails.
async fn outbox_for_parties(market: &Market) -> String {
    let store = &market.app.inner.store;
    let mut text = String::new();
    let far = start_time() + jiff::SignedDuration::from_hours(24 * 365);
    for topic in ["webhook", "email"] {
        // Claim repeatedly, delivering each, to read every row in order.
        loop {
            let batch = store
                .claim_outbox(topic, far, 500, 60)
                .await
                .expect("claim");
            if batch.is_empty() {
                break;
            }
            for message in batch {
                text.push_str(&message.payload);
                store.outbox_delivered(message.id, far).await.expect("mark");
            }
        }
    }
    text
}

fn admin_id() -> String {
    orderly_app::service::BOOTSTRAP_ADMIN_ID.to_string()
}

#[tokio::test]
async fn admin_notes_and_the_admins_id_never_reach_the_buyer_or_the_seller() {
    on_each_backend(async |market: &Market| {
        // Arrange: a freeze and an unfreeze, each with an internal note.
        let id = market.verified().await;
        market
            .ok(
                ADMIN_TOKEN,
                &id,
                "freeze",
                json!({"note": format!("{MARKER} card reported stolen by issuer")}),
            )
            .await;
        market
            .ok(
                ADMIN_TOKEN,
                &id,
                "unfreeze",
                json!({"note": format!("{MARKER} issuer cleared it")}),
            )
            .await;
        market
            .ok(&market.buyer, &id, "messages", json!({"text": "hello"}))
            .await;
        // Act + Assert: neither party reads the notes or the admin's id anywhere.
        for token in [&market.buyer, &market.seller] {
            let seen = party_sees(market, token, &id).await;
            assert!(
                !seen.contains(MARKER),
                "a party reads an admin note: {seen}"
            );
            assert!(
                !seen.contains(&admin_id()),
                "a party reads the admin's id: {seen}"
            );
            assert!(
                seen.contains("order_frozen"),
                "the freeze itself is visible"
            );
        }
        let outbox = outbox_for_parties(market).await;
        assert!(!outbox.contains(MARKER), "{outbox}");
        assert!(!outbox.contains(&admin_id()), "{outbox}");
        // The platform sees both notes and who acted.
        let history = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events"))
            .await;
        let text = history.body.to_string();
        assert!(
            text.contains(&format!("{MARKER} card reported stolen")),
            "{text}"
        );
        assert!(text.contains(&admin_id()), "{text}");
    })
    .await;
}

#[tokio::test]
async fn a_decision_note_is_internal_to_the_platform() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        market
            .ok(
                &market.seller,
                &id,
                "cancellation/reject",
                json!({"reason": "already packed"}),
            )
            .await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancellation/escalate",
                json!({"message": "please decide"}),
            )
            .await;
        market
            .ok(
                ADMIN_TOKEN,
                &id,
                "cancellation/decide",
                json!({"approve": false, "note": format!("{MARKER} buyer is a known reseller")}),
            )
            .await;
        for token in [&market.buyer, &market.seller] {
            let seen = party_sees(market, token, &id).await;
            assert!(!seen.contains(MARKER), "{seen}");
            assert!(
                seen.contains("cancellation_decided"),
                "the decision is visible"
            );
        }
        assert!(!outbox_for_parties(market).await.contains(MARKER));
    })
    .await;
}

#[tokio::test]
async fn a_complaint_is_read_by_the_buyer_who_filed_it_and_the_platform_never_by_the_seller() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "seller_unresponsive", "complaint": format!("{MARKER} the seller insulted me")}),
            )
            .await;
        let seller_sees = party_sees(market, &market.seller, &id).await;
        assert!(!seller_sees.contains(MARKER), "{seller_sees}");
        assert!(seller_sees.contains("complaint_filed"), "the filing itself is visible");
        let buyer_sees = party_sees(market, &market.buyer, &id).await;
        assert!(buyer_sees.contains(MARKER), "the buyer reads their own complaint");
        let admin: Value = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events"))
            .await
            .body;
        assert!(admin.to_string().contains(MARKER));
        // Webhooks carry the narrower, seller-safe view; the seller's e-mail too.
        assert!(!outbox_for_parties(market).await.contains(MARKER));
    })
    .await;
}
