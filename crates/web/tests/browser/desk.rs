//! Support staff at work in the browser: the queue, the admin's order page, penalties.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn support_resolves_an_escalated_dispute_from_the_queue() {
    let site = Site::start().await;
    let id = site.order("dispute");
    // The seller rejects the dispute and the buyer escalates it: it lands in the queue.
    let (status, body) = site
        .api(
            "POST",
            &format!("/api/v1/orders/{id}/claim/respond"),
            &site.tokens.seller,
            Some(json!({"decision": "reject", "explanation": "It left us intact."})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = site
        .api(
            "POST",
            &format!("/api/v1/orders/{id}/claim/escalate"),
            &site.tokens.buyer,
            Some(json!({"explanation": "Please look at the photo."})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let agent = Browser::start().await;
    agent
        .sign_in(&site.signin_link(site.demo.admin, "/admin").await)
        .await;
    let item = agent
        .find(&format!("[data-queue-item] a[href='/orders/{id}']"))
        .await;
    let queue = agent.text().await;
    assert!(queue.contains("Claim escalated"), "{queue}");
    assert!(queue.contains("left"), "the time left is shown: {queue}");
    assert!(queue.contains("If nobody acts"), "{queue}");
    item.click().await.expect("open the order");
    // The buyer's photo is there to look at.
    let photo = agent.find(".evidence img").await;
    let loaded = agent
        .client
        .execute(
            "return arguments[0].complete && arguments[0].naturalWidth",
            vec![serde_json::to_value(&photo).expect("element")],
        )
        .await
        .expect("script");
    assert_eq!(loaded, json!(240), "the photo loads");
    agent.open_action("resolve_claim").await;
    agent.fill("#resolve_claim-refund_amount", "20.00").await;
    agent.click("#resolve_claim-return_required").await;
    agent
        .select("#resolve_claim-return_shipping_paid_by", "seller")
        .await;
    agent
        .click("#action-resolve_claim button[data-action='resolve_claim']")
        .await;
    let confirm = agent.find(".confirm").await.text().await.expect("text");
    assert!(
        confirm.contains("20.00 EUR"),
        "the amount is confirmed: {confirm}"
    );
    assert!(confirm.contains("The seller"), "{confirm}");
    agent.click("button[data-confirm='yes']").await;
    agent.find(".flash").await;
    // The queue no longer shows it.
    agent.goto(&format!("{}/admin", site.url)).await;
    agent.find("h1").await;
    assert!(
        agent
            .client
            .find(fantoccini::Locator::Css(&format!(
                "[data-queue-item] a[href='/orders/{id}']"
            )))
            .await
            .is_err(),
        "resolved: {}",
        agent.text().await
    );
    // Both parties see the outcome.
    for (account, who) in [(site.demo.buyer, "buyer"), (site.demo.seller, "seller")] {
        let party = Browser::start().await;
        party
            .sign_in(&site.signin_link(account, &format!("/orders/{id}")).await)
            .await;
        let text = party.text().await;
        assert!(
            text.contains("The platform decided a refund of 20.00 EUR, after the item is returned; return shipping is paid by the seller."),
            "{who}: {text}"
        );
        party.close().await;
    }
    agent.close().await;
    site.stop().await;
}

#[tokio::test]
async fn a_freeze_note_stays_with_support() {
    let site = Site::start().await;
    let id = site.order("shipped");
    let agent = Browser::start().await;
    agent
        .sign_in(
            &site
                .signin_link(site.demo.admin, &format!("/orders/{id}"))
                .await,
        )
        .await;
    agent.open_action("freeze").await;
    agent
        .fill("#freeze-note", "secret-note-4711 about a stolen card")
        .await;
    agent
        .click("#action-freeze button[data-action='freeze']")
        .await;
    agent.find(".flash").await;
    assert!(
        agent.text().await.contains("secret-note-4711"),
        "support reads its own note"
    );
    for account in [site.demo.buyer, site.demo.seller] {
        let party = Browser::start().await;
        party
            .sign_in(&site.signin_link(account, &format!("/orders/{id}")).await)
            .await;
        let source = party.client.source().await.expect("source");
        assert!(source.contains("Paused by the platform"));
        assert!(
            !source.contains("secret-note-4711"),
            "the note is not on the party's page"
        );
        party.close().await;
    }
    // Nor in any e-mail or webhook waiting to go.
    for status in ["pending", "dead", "delivered"] {
        for entry in site
            .app
            .store
            .outbox_list(Some(status), None, None, 100)
            .await
            .expect("outbox")
        {
            assert!(
                !entry.payload.contains("secret-note-4711"),
                "{}",
                entry.payload
            );
        }
    }
    agent.close().await;
    site.stop().await;
}

async fn rating_on_catalogue(buyer: &Browser, site: &Site) -> String {
    buyer.goto(&format!("{}/catalogue", site.url)).await;
    buyer.find(".rating").await.text().await.expect("text")
}

#[tokio::test]
async fn a_penalty_applied_and_revoked_moves_the_rating_on_the_catalogue() {
    let site = Site::start().await;
    let buyer = Browser::start().await;
    buyer
        .sign_in(&site.signin_link(site.demo.buyer, "/catalogue").await)
        .await;
    let before = rating_on_catalogue(&buyer, &site).await;
    assert!(before.contains("100 of 100"), "{before}");

    let agent = Browser::start().await;
    agent
        .sign_in(
            &site
                .signin_link(
                    site.demo.admin,
                    &format!("/admin/sellers/{}", site.demo.seller.as_uuid()),
                )
                .await,
        )
        .await;
    agent.fill("#points", "2").await;
    agent.fill("#reason", "Shipped late twice this week").await;
    agent.click("button[data-action='apply_penalty']").await;
    agent.wait_for_text(".flash", "Penalty applied").await;
    let penalised = rating_on_catalogue(&buyer, &site).await;
    assert!(
        penalised.contains("90 of 100"),
        "two points take ten: {penalised}"
    );

    agent
        .find("section[aria-labelledby=penalties] details summary")
        .await
        .click()
        .await
        .expect("unfold");
    agent
        .fill(
            "section[aria-labelledby=penalties] details textarea",
            "The carrier was late, not the seller",
        )
        .await;
    agent.click("button[data-action='revoke_penalty']").await;
    // The page before still shows the penalty's flash: wait for the revocation's own.
    agent.wait_for_text(".flash", "Revoked.").await;
    let revoked = rating_on_catalogue(&buyer, &site).await;
    assert!(
        revoked.contains("100 of 100"),
        "revoked, it counts no more: {revoked}"
    );
    agent.close().await;
    buyer.close().await;
    site.stop().await;
}
