//! `Idempotency-Key` (SPEC 13, 15.20): a retry replays the first answer byte for byte, the
//! same key with another request is 422, keys are per account, and a retried refund never
//! refunds twice.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_retried_post_replays_the_first_answer_and_refunds_once() {
    on_each_backend(async |market: &Market| {
        let app = &market.app;
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        let path = format!("/api/v1/orders/{id}/cancellation/approve");
        let first = app
            .request(
                "POST",
                &path,
                Some(&market.seller),
                Some(&json!({})),
                Some("approve-1"),
            )
            .await;
        assert_eq!(first.status, 200, "{first:?}");
        // Time passes and the state moves on; the retry still gets the first answer.
        app.advance(3_600).await;
        let retry = app
            .request(
                "POST",
                &path,
                Some(&market.seller),
                Some(&json!({})),
                Some("approve-1"),
            )
            .await;
        assert_eq!(retry.status, 200);
        assert_eq!(retry.body, first.body, "replayed byte for byte");
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(
            order["refunds"].as_array().expect("refunds").len(),
            1,
            "refunded once"
        );
        // Without the key, the same request is refused by the state machine.
        let fresh = app
            .request("POST", &path, Some(&market.seller), Some(&json!({})), None)
            .await;
        assert_eq!((fresh.status, fresh.code()), (409, "invalid_transition"));
        // The same key with another body or path is a 422.
        let other = app
            .request(
                "POST",
                &format!("/api/v1/orders/{id}/messages"),
                Some(&market.seller),
                Some(&json!({"text": "hi"})),
                Some("approve-1"),
            )
            .await;
        assert_eq!(
            (other.status, other.code()),
            (422, "idempotency_key_reused")
        );
        // Keys are per account: the buyer's "approve-1" is a different key.
        let buyer = app
            .request(
                "POST",
                &format!("/api/v1/orders/{id}/messages"),
                Some(&market.buyer),
                Some(&json!({"text": "thanks"})),
                Some("approve-1"),
            )
            .await;
        assert_eq!(buyer.status, 201, "{buyer:?}");
    })
    .await;
}

#[tokio::test]
async fn a_refusal_is_replayed_too_and_placing_twice_with_one_key_makes_one_order() {
    on_each_backend(async |market: &Market| {
        let app = &market.app;
        let body = market.order_body(1);
        let first = app
            .request(
                "POST",
                "/api/v1/orders",
                Some(&market.buyer),
                Some(&body),
                Some("place-1"),
            )
            .await;
        assert_eq!(first.status, 201);
        let again = app
            .request(
                "POST",
                "/api/v1/orders",
                Some(&market.buyer),
                Some(&body),
                Some("place-1"),
            )
            .await;
        assert_eq!((again.status, &again.body), (201, &first.body));
        let list = app.get(&market.buyer, "/api/v1/orders").await;
        assert_eq!(list.body["orders"].as_array().expect("list").len(), 1);
        assert_eq!(market.product_stock().await, 99, "stock reserved once");

        let id = first.body["id"].as_str().expect("id");
        let refused = app
            .request(
                "POST",
                &format!("/api/v1/orders/{id}/ship"),
                Some(&market.seller),
                Some(&json!({"carrier": "DHL", "tracking_number": "1"})),
                Some("ship-1"),
            )
            .await;
        assert_eq!(refused.status, 409);
        let replayed = app
            .request(
                "POST",
                &format!("/api/v1/orders/{id}/ship"),
                Some(&market.seller),
                Some(&json!({"carrier": "DHL", "tracking_number": "1"})),
                Some("ship-1"),
            )
            .await;
        assert_eq!((replayed.status, &replayed.body), (409, &refused.body));
        assert_eq!(replayed.content_type, "application/problem+json");
    })
    .await;
}

#[tokio::test]
async fn a_key_whose_first_request_is_still_running_is_a_conflict() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    let id = market.placed().await;
    let path = format!("/api/v1/orders/{id}/pay");
    let body = serde_json::to_vec(&json!({})).expect("json");
    // Arrange: the same request with this key is in flight (reserved, not finished).
    let account = app
        .get(&market.buyer, &format!("/api/v1/orders/{id}"))
        .await
        .body["buyer_id"]
        .as_str()
        .expect("buyer id")
        .parse()
        .map(orderly_domain::AccountId::from_uuid)
        .expect("uuid");
    let print = orderly_server::extract::fingerprint("POST", &path, &body);
    let begun = app
        .inner
        .store
        .idempotency_begin(
            account,
            "pay-1",
            &print,
            "another-request",
            app.inner.now(),
            60,
        )
        .await
        .expect("reserve");
    assert_eq!(begun, orderly_store::IdempotencyBegin::Started);
    // Act
    let reply = app
        .request(
            "POST",
            &path,
            Some(&market.buyer),
            Some(&json!({})),
            Some("pay-1"),
        )
        .await;
    // Assert: 409, and the order is untouched.
    assert_eq!((reply.status, reply.code()), (409, "conflict"), "{reply:?}");
    assert_eq!(
        market.order(&market.buyer, &id).await["status"],
        "awaiting_payment"
    );
    close(market, database).await;
}

#[tokio::test]
async fn keys_are_kept_24_hours_then_purged_by_the_worker() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    let first = app
        .request(
            "POST",
            "/api/v1/orders",
            Some(&market.buyer),
            Some(&market.order_body(1)),
            Some("k-1"),
        )
        .await;
    assert_eq!(first.status, 201);
    // 23 hours on the key still guards the request; 25 hours on it is gone.
    app.advance(23 * 3_600).await;
    orderly_app::workers::purge_idempotency_records(&app.inner, app.inner.now())
        .await
        .expect("purge");
    let reused = app
        .request(
            "POST",
            "/api/v1/orders",
            Some(&market.buyer),
            Some(&market.order_body(2)),
            Some("k-1"),
        )
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (422, "idempotency_key_reused")
    );
    app.advance(2 * 3_600).await;
    orderly_app::workers::purge_idempotency_records(&app.inner, app.inner.now())
        .await
        .expect("purge");
    let fresh = app
        .request(
            "POST",
            "/api/v1/orders",
            Some(&market.buyer),
            Some(&market.order_body(2)),
            Some("k-1"),
        )
        .await;
    assert_eq!(fresh.status, 201, "{fresh:?}");
    close(market, database).await;
}
