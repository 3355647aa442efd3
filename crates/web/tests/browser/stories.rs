//! The seeds' stories, clicked in the browser by the buyer and the seller.

use orderly_domain::{Actor, Command};
use serde_json::{Value, json};

use crate::support::*;

/// A new paid, verified order of the demo buyer, awaiting shipment.
async fn paid_order(site: &Site) -> String {
    let (status, order) = site
        .api(
            "POST",
            "/api/v1/orders",
            &site.tokens.buyer,
            Some(json!({
                "lines": [{"product_id": site.demo.products[0].as_uuid(), "quantity": 1}],
                "shipping_address": {"name": "Alice Martin", "city": "Berlin", "country": "DE"},
                "payment_method": "card"
            })),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().expect("id").to_owned();
    let (status, paid) = site
        .api(
            "POST",
            &format!("/api/v1/orders/{id}/pay"),
            &site.tokens.buyer,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    site.app
        .command(
            Actor::Admin(site.demo.admin),
            orderly_domain::OrderId::from_uuid(id.parse().expect("uuid")),
            Command::VerifyPayment { approved: true },
            None,
        )
        .await
        .expect("verified");
    id
}

/// Requests cancellation on the buyer's page of `id`, by the form.
async fn request_cancellation(buyer: &Browser, site: &Site, id: &str) {
    buyer.goto(&format!("{}/orders/{id}", site.url)).await;
    buyer.open_action("request_cancellation").await;
    buyer
        .select("#request_cancellation-reason", "ordered_wrong_item")
        .await;
    buyer
        .select("#request_cancellation-template", "wrong_item_ordered")
        .await;
    buyer
        .click("#action-request_cancellation button[data-action='request_cancellation']")
        .await;
    buyer.find(".flash").await;
    let text = buyer.text().await;
    assert!(text.contains("Cancellation requested"), "{text}");
    assert!(
        text.contains("The seller answers the cancellation by"),
        "the deadline banner: {text}"
    );
    assert!(
        text.contains(
            "If the seller has not answered by then, the cancellation is approved automatically"
        ),
        "{text}"
    );
}

fn events_of(kind: &str, events: &Value) -> usize {
    events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["type"] == kind)
        .count()
}

#[tokio::test]
async fn a_buyer_requests_cancellation_the_seller_approves_and_the_buyer_sees_the_refund() {
    let site = Site::start().await;
    let id = paid_order(&site).await;
    let buyer = Browser::start().await;
    buyer
        .sign_in(
            &site
                .signin_link(site.demo.buyer, &format!("/orders/{id}"))
                .await,
        )
        .await;
    request_cancellation(&buyer, &site, &id).await;
    // The message template arrived on the thread with the order number.
    let order = site.order_document(&site.tokens.buyer, &id).await;
    assert_eq!(order["cancellation_request"]["status"], "pending");

    let seller = Browser::start().await;
    seller
        .sign_in(
            &site
                .signin_link(site.demo.seller, &format!("/orders/{id}"))
                .await,
        )
        .await;
    assert!(seller.text().await.contains("The buyer asks to cancel"));
    seller
        .click("#action-approve_cancellation button[data-action='approve_cancellation']")
        .await;
    // A money action asks first, with the amount and where it goes.
    let confirm = seller.find(".confirm").await.text().await.expect("text");
    assert!(
        confirm.contains("54.90 EUR goes back to the buyer's card"),
        "{confirm}"
    );
    seller.click("button[data-confirm='yes']").await;
    seller.wait_for_status("cancelled").await;

    buyer.goto(&format!("{}/orders/{id}", site.url)).await;
    buyer.wait_for_status("cancelled").await;
    let refunds = buyer.find(".refunds").await.text().await.expect("text");
    assert!(refunds.contains("54.90 EUR to the Card"), "{refunds}");
    assert!(refunds.contains("expected by"), "{refunds}");
    assert!(refunds.contains("On its way"), "{refunds}");
    let text = buyer.text().await;
    assert!(
        text.contains("The seller approved the cancellation."),
        "{text}"
    );
    buyer.close().await;
    seller.close().await;
    site.stop().await;
}

#[tokio::test]
async fn a_silent_seller_lets_the_cancellation_approve_itself_after_72_hours() {
    let site = Site::start().await;
    let id = paid_order(&site).await;
    let buyer = Browser::start().await;
    buyer
        .sign_in(
            &site
                .signin_link(site.demo.buyer, &format!("/orders/{id}"))
                .await,
        )
        .await;
    request_cancellation(&buyer, &site, &id).await;
    site.advance_hours(71).await;
    buyer.goto(&format!("{}/orders/{id}", site.url)).await;
    assert_eq!(
        buyer.status().await,
        "awaiting_shipment",
        "not yet: an hour is left"
    );
    assert!(buyer.text().await.contains("1 hour left"));
    site.advance_hours(1).await;
    buyer.goto(&format!("{}/orders/{id}", site.url)).await;
    buyer.wait_for_status("cancelled").await;
    let text = buyer.text().await;
    assert!(
        text.contains(
            "The seller did not answer in time: the cancellation is approved automatically."
        ),
        "{text}"
    );
    assert!(
        buyer
            .find(".refunds")
            .await
            .text()
            .await
            .expect("text")
            .contains("54.90 EUR")
    );
    buyer.close().await;
    site.stop().await;
}

#[tokio::test]
async fn a_frozen_order_offers_the_parties_nothing_but_messages() {
    let site = Site::start().await;
    let id = site.order("frozen");
    for (account, token) in [
        (site.demo.buyer, &site.tokens.buyer),
        (site.demo.seller, &site.tokens.seller),
    ] {
        let browser = Browser::start().await;
        browser
            .sign_in(&site.signin_link(account, &format!("/orders/{id}")).await)
            .await;
        let text = browser.text().await;
        assert!(text.contains("Paused by the platform"), "{text}");
        assert!(
            !text.contains("Card flagged"),
            "the freeze note is support's alone: {text}"
        );
        let buttons: std::collections::BTreeSet<String> =
            browser.actions().await.into_iter().collect();
        let allowed: std::collections::BTreeSet<String> = serde_json::from_value(
            site.order_document(token, &id).await["allowed_actions"].clone(),
        )
        .expect("codes");
        assert_eq!(buttons, allowed, "the buttons are the allowed actions");
        assert!(
            buttons
                .iter()
                .all(|code| matches!(code.as_str(), "message" | "contact_support")),
            "nothing that changes the order: {buttons:?}"
        );
        browser.close().await;
    }
    site.stop().await;
}

#[tokio::test]
async fn a_dispute_with_a_photo_gets_a_counter_offer_the_buyer_can_accept() {
    let site = Site::start().await;
    let id = site.order("delivered");
    let buyer = Browser::start().await;
    buyer
        .sign_in(
            &site
                .signin_link(site.demo.buyer, &format!("/orders/{id}"))
                .await,
        )
        .await;
    buyer.open_action("open_dispute").await;
    buyer.select("#open_dispute-reason", "damaged").await;
    buyer
        .fill("#open_dispute-explanation", "The shade is cracked.")
        .await;
    buyer
        .click("#action-open_dispute button[data-action='open_dispute']")
        .await;
    buyer.find(".flash").await;
    // The photo, through the upload form.
    let photo = std::env::temp_dir().join(format!(
        "orderly-photo-{}.png",
        orderly_app::service::new_id().simple()
    ));
    std::fs::write(&photo, include_bytes!("../../../app/assets/demo-photo.png"))
        .expect("write the photo");
    buyer.open_action("add_evidence").await;
    buyer
        .find("#evidence-file")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .expect("choose the file");
    buyer.fill("#evidence-note", "Cracked on arrival").await;
    buyer.click("button[data-action='add_evidence']").await;
    buyer.find(".evidence img").await;
    assert!(buyer.text().await.contains("Cracked on arrival"));
    let _ = std::fs::remove_file(&photo);

    let seller = Browser::start().await;
    seller
        .sign_in(
            &site
                .signin_link(site.demo.seller, &format!("/orders/{id}"))
                .await,
        )
        .await;
    seller.find(".evidence img").await;
    seller.open_action("respond_claim").await;
    seller.select("#respond_claim-decision", "counter").await;
    seller.fill("#respond_claim-amount", "10.00").await;
    seller
        .fill(
            "#respond_claim-explanation",
            "A new shade is on its way; here is something for the trouble.",
        )
        .await;
    seller
        .click("#action-respond_claim button[data-action='respond_claim']")
        .await;
    seller.click("button[data-confirm='yes']").await;
    seller.find(".flash").await;

    buyer.goto(&format!("{}/orders/{id}", site.url)).await;
    let text = buyer.text().await;
    assert!(text.contains("Seller's offer"), "{text}");
    assert!(text.contains("10.00 EUR"), "{text}");
    assert!(buyer.actions().await.contains(&"accept_offer".to_owned()));
    buyer
        .click("#action-accept_offer button[data-action='accept_offer']")
        .await;
    let confirm = buyer.find(".confirm").await.text().await.expect("text");
    assert!(confirm.contains("You accept 10.00 EUR"), "{confirm}");
    buyer.click("button[data-confirm='yes']").await;
    buyer.find(".flash").await;
    let order = site.order_document(&site.tokens.buyer, &id).await;
    assert_eq!(order["escrow"]["refunded"], 1_000, "{order}");
    buyer.close().await;
    seller.close().await;
    site.stop().await;
}

#[tokio::test]
async fn a_double_clicked_approval_acts_once() {
    let site = Site::start().await;
    let id = paid_order(&site).await;
    let (status, _) = site
        .api(
            "POST",
            &format!("/api/v1/orders/{id}/cancel"),
            &site.tokens.buyer,
            Some(json!({"reason": "no_longer_needed"})),
        )
        .await;
    assert_eq!(status, 202);
    let seller = Browser::start().await;
    seller
        .sign_in(
            &site
                .signin_link(site.demo.seller, &format!("/orders/{id}"))
                .await,
        )
        .await;
    seller
        .click("#action-approve_cancellation button[data-action='approve_cancellation']")
        .await;
    seller.find("button[data-confirm='yes']").await;
    // Two submissions of the very form, at once, as a double click sends them.
    let statuses = seller
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const form = document.querySelector('button[data-confirm=\"yes\"]').form;
             const send = () => fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form)), redirect: 'follow'}).then(r => r.status);
             Promise.all([send(), send()]).then(done);",
            vec![],
        )
        .await
        .expect("both sent");
    assert_eq!(statuses, json!([200, 200]), "both land on the order page");
    let (_, events) = site
        .api(
            "GET",
            &format!("/api/v1/orders/{id}/events"),
            &site.tokens.seller,
            None,
        )
        .await;
    assert_eq!(
        events_of("cancellation_approved", &events),
        1,
        "approved once"
    );
    assert_eq!(events_of("refund_issued", &events), 1, "refunded once");
    seller.close().await;
    site.stop().await;
}

#[tokio::test]
async fn a_refusal_shows_its_sentence_beside_the_field_and_changes_nothing() {
    let site = Site::start().await;
    let id = site.order("delivered");
    let before = site.order_document(&site.tokens.buyer, &id).await;
    let buyer = Browser::start().await;
    buyer
        .sign_in(
            &site
                .signin_link(site.demo.buyer, &format!("/orders/{id}"))
                .await,
        )
        .await;
    buyer.open_action("open_dispute").await;
    buyer.select("#open_dispute-reason", "damaged").await;
    // More than the order cost: the API refuses, the page says why beside the amount.
    buyer.fill("#open_dispute-amount", "999.00").await;
    buyer.fill("#open_dispute-explanation", "Broken.").await;
    buyer
        .click("#action-open_dispute button[data-action='open_dispute']")
        .await;
    let error = buyer
        .wait_for_text("#open_dispute-amount-error", "at most 49.00 EUR")
        .await;
    assert!(
        error.contains("shipping is not refunded after shipment"),
        "{error}"
    );
    assert_eq!(
        buyer
            .find("#open_dispute-amount")
            .await
            .attr("aria-invalid")
            .await
            .expect("attr"),
        Some("true".into())
    );
    assert_eq!(
        buyer
            .find("#open_dispute-amount")
            .await
            .prop("value")
            .await
            .expect("value"),
        Some("999.00".into()),
        "what was typed stays"
    );
    // Not an amount at all: the page's own sentence.
    buyer.fill("#open_dispute-amount", "a lot").await;
    buyer
        .click("#action-open_dispute button[data-action='open_dispute']")
        .await;
    buyer
        .wait_for_text(
            "#open_dispute-amount-error",
            "Give an amount in EUR such as 12.50",
        )
        .await;
    let after = site.order_document(&site.tokens.buyer, &id).await;
    assert_eq!(before["version"], after["version"], "nothing changed");
    buyer.close().await;
    site.stop().await;
}
