//! The stories of SPEC sections 3–9 through HTTP, with the test clock, on every backend.

use serde_json::json;

use crate::support::*;

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

#[tokio::test]
async fn seed_000_an_unpaid_order_is_cancelled_at_once_and_its_stock_released() {
    on_each_backend(async |market: &Market| {
        // Arrange
        let id = market.placed().await;
        assert_eq!(market.product_stock().await, 98, "placing reserves stock");
        // Act
        let reply = market
            .act(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        // Assert
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["status"], "closed");
        assert_eq!(reply.body["refunds"], json!([]));
        assert_eq!(reply.body["buyer_id"], market.buyer_id.as_str());
        assert_eq!(reply.body["seller_id"], market.seller_id.as_str());
        assert_eq!(market.product_stock().await, 100, "closing releases stock");
        // A closed order offers "order again" instead of "pay now" [004].
        let actions = actions(&reply.body);
        assert!(
            actions.contains(&"order_again".to_owned()) && !actions.contains(&"pay".to_owned())
        );
        let again = market
            .act(&market.buyer, &id, "order-again", json!({}))
            .await;
        assert_eq!(again.status, 201, "{again:?}");
        assert_eq!(
            market.product_stock().await,
            98,
            "the new order reserves stock"
        );
        // Today's price puts the same order past the largest total: the buyer's request
        // named nothing wrong, so it is the state of things (409), not bad input (422).
        let repriced = market
            .app
            .request(
                "PATCH",
                &format!("/api/v1/products/{}", market.product),
                Some(&market.seller),
                Some(&json!({"price": {"amount": 10_000_000_000_000_i64, "currency": "EUR"}})),
                None,
            )
            .await;
        assert_eq!(repriced.status, 200, "{repriced:?}");
        let refused = market
            .act(&market.buyer, &id, "order-again", json!({}))
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (409, "conflict"),
            "{refused:?}"
        );
        assert_eq!(
            market.product_stock().await,
            98,
            "the refusal reserved nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn seed_003_cancelling_during_verification_refunds_in_full_to_the_card() {
    on_each_backend(async |market: &Market| {
        let id = market.placed().await;
        market
            .ok(&market.buyer, &id, "pay", json!({"method": "card"}))
            .await;
        let reply = market
            .act(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "found_better_price"}),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let order = reply.body;
        assert_eq!(order["status"], "cancelled");
        assert_eq!(order["refunds"][0]["amount"], TOTAL);
        assert_eq!(order["refunds"][0]["destination"], "card");
        // Paid Monday 2 Nov 2026 09:00: 20 business days later is Monday 30 Nov.
        assert_eq!(order["refunds"][0]["expected_by"], "2026-11-30T09:00:00Z");
        assert_eq!(
            order["escrow"],
            json!({"held": 0, "released": 0, "refunded": TOTAL, "captured": TOTAL})
        );
    })
    .await;
}

#[tokio::test]
async fn seed_001_a_paid_cancellation_awaits_the_seller_and_silence_approves_it_after_72_hours() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        let reply = market
            .act(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "ordered_wrong_item", "message": "Sorry, wrong size"}),
            )
            .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        let request = &reply.body["cancellation_request"];
        assert_eq!(request["status"], "pending");
        assert_eq!(request["respond_by"], "2026-11-05T09:00:00Z");
        assert!(actions(&reply.body).contains(&"withdraw_cancellation".to_owned()));
        let seller_view = market.order(&market.seller, &id).await;
        assert!(actions(&seller_view).contains(&"approve_cancellation".to_owned()));

        // A second request while one is pending is a conflict (SPEC 15.1).
        let again = market
            .act(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        assert_eq!((again.status, again.code()), (409, "conflict"));

        market.app.advance(71 * HOUR).await;
        assert_eq!(
            market.order(&market.buyer, &id).await["cancellation_request"]["status"],
            "pending"
        );
        let clock = market.app.advance(HOUR).await;
        assert_eq!(clock.body["now"], "2026-11-05T09:00:00Z");
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["status"], "cancelled");
        assert_eq!(order["cancellation_request"]["status"], "auto_approved");
        assert_eq!(order["cancellation_request"]["respond_by"], json!(null));
        assert_eq!(order["ending"]["reason"], "seller_response_timeout");
        assert_eq!(order["refunds"][0]["amount"], TOTAL);
        assert_eq!(market.product_stock().await, 100);
    })
    .await;
}

#[tokio::test]
async fn seed_001_a_seller_who_ships_first_voids_the_request_and_the_cancel_button_disappears() {
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
        let shipped = market
            .ok(
                &market.seller,
                &id,
                "ship",
                json!({"carrier": "DHL", "tracking_number": "JD1"}),
            )
            .await;
        assert_eq!(shipped["status"], "shipped");
        assert_eq!(shipped["cancellation_request"]["status"], "void");
        // The loser of the race gets a clear 409.
        let late = market
            .act(&market.seller, &id, "cancellation/approve", json!({}))
            .await;
        assert_eq!((late.status, late.code()), (409, "invalid_transition"));
        let buyer_view = market.order(&market.buyer, &id).await;
        let actions = actions(&buyer_view);
        assert!(
            !actions.contains(&"cancel".to_owned())
                && !actions.contains(&"request_cancellation".to_owned())
        );
        assert!(
            buyer_view["guidance"]
                .as_str()
                .expect("text")
                .starts_with("Cancellation is no longer possible.")
        );
        let refused = market
            .act(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (409, "invalid_transition")
        );
    })
    .await;
}

#[tokio::test]
async fn seed_003_a_rejected_request_escalates_and_the_admin_decides() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "seller_raised_price", "complaint": "price changed"}),
            )
            .await;
        let no_reason = market
            .act(
                &market.seller,
                &id,
                "cancellation/reject",
                json!({"reason": " "}),
            )
            .await;
        assert_eq!(
            (no_reason.status, no_reason.code()),
            (422, "validation_failed")
        );
        let rejected = market
            .ok(
                &market.seller,
                &id,
                "cancellation/reject",
                json!({"reason": "the price is as listed"}),
            )
            .await;
        assert_eq!(rejected["status"], "awaiting_shipment");
        assert_eq!(rejected["cancellation_request"]["status"], "rejected");
        let escalated = market
            .ok(
                &market.buyer,
                &id,
                "cancellation/escalate",
                json!({"message": "please decide"}),
            )
            .await;
        assert_eq!(escalated["cancellation_request"]["status"], "escalated");
        let admin_view = market.order(ADMIN_TOKEN, &id).await;
        assert!(actions(&admin_view).contains(&"decide_cancellation".to_owned()));
        let decided = market
            .ok(
                ADMIN_TOKEN,
                &id,
                "cancellation/decide",
                json!({"approve": true, "note": "price changed after ordering"}),
            )
            .await;
        assert_eq!(decided["status"], "cancelled");
        assert_eq!(decided["ending"]["fault"], "seller");
        // The seller's rating shows the seller-fault cancellation.
        let seller = market
            .app
            .get(
                &market.buyer,
                &format!("/api/v1/sellers/{}", market.seller_id),
            )
            .await;
        assert_eq!(seller.status, 200, "{seller:?}");
        assert_eq!(seller.body["rating"]["seller_fault_cancellations"], 1);
        assert_eq!(seller.body["rating"]["penalty_points"], 1);
    })
    .await;
}

#[tokio::test]
async fn seed_004_the_handling_time_cancels_an_unshipped_order_with_seller_fault() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        market.app.advance(3 * DAY).await;
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["status"], "cancelled");
        assert_eq!(order["ending"]["reason"], "handling_time_expired");
        assert_eq!(order["ending"]["fault"], "seller");
        let late = market
            .act(
                &market.seller,
                &id,
                "ship",
                json!({"carrier": "DHL", "tracking_number": "JD1"}),
            )
            .await;
        assert_eq!((late.status, late.code()), (409, "invalid_transition"));
    })
    .await;
}

#[tokio::test]
async fn seed_004_a_frozen_order_pauses_its_deadlines_and_only_admins_act() {
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
        market.app.advance(10 * HOUR).await;
        let frozen = market
            .ok(
                ADMIN_TOKEN,
                &id,
                "freeze",
                json!({"note": "card looks stolen"}),
            )
            .await;
        assert_eq!(frozen["frozen"], true);
        assert!(
            frozen["deadlines"]
                .as_array()
                .expect("deadlines")
                .iter()
                .all(|deadline| deadline["paused"] == true)
        );
        let refused = market
            .act(&market.seller, &id, "cancellation/approve", json!({}))
            .await;
        assert_eq!((refused.status, refused.code()), (409, "order_frozen"));
        // Messages still work.
        let message = market
            .app
            .post(
                &market.buyer,
                &format!("/api/v1/orders/{id}/messages"),
                json!({"text": "Any news?"}),
            )
            .await;
        assert_eq!(message.status, 201, "{message:?}");
        market.app.advance(30 * DAY).await;
        assert_eq!(
            market.order(&market.buyer, &id).await["status"],
            "awaiting_shipment"
        );
        market
            .ok(ADMIN_TOKEN, &id, "unfreeze", json!({"note": "checked"}))
            .await;
        // 62 hours were left on the seller's response window.
        market.app.advance(62 * HOUR).await;
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["cancellation_request"]["status"], "auto_approved");
    })
    .await;
}

#[tokio::test]
async fn seed_001_a_dispute_with_a_counter_offer_ends_in_a_partial_refund() {
    on_each_backend(async |market: &Market| {
        let id = market.delivered().await;
        let over = market
            .act(&market.buyer, &id, "disputes", json!({"reason": "not_as_described", "amount": TOTAL, "return_item": false, "explanation": "wrong colour"}))
            .await;
        assert_eq!((over.status, over.code()), (422, "validation_failed"), "shipping is not refunded after shipment");
        let opened = market
            .ok(&market.buyer, &id, "disputes", json!({"reason": "not_as_described", "amount": ITEMS, "return_item": false, "explanation": "wrong colour"}))
            .await;
        assert_eq!(opened["claim"]["status"], "awaiting_seller");
        let countered = market
            .ok(&market.seller, &id, "claim/respond", json!({"decision": "counter", "amount": 1_000, "explanation": "keep it with a discount"}))
            .await;
        assert_eq!(countered["claim"]["offer"], 1_000);
        let accepted = market.ok(&market.buyer, &id, "claim/accept", json!({})).await;
        assert_eq!(accepted["status"], "completed");
        assert_eq!(accepted["claim"], json!(null), "no claim is open any more");
        assert_eq!(accepted["latest_claim"]["status"], "resolved");
        assert_eq!(accepted["latest_claim"]["refund"], 1_000);
        assert_eq!(accepted["escrow"], json!({"held": 0, "released": TOTAL - 1_000, "refunded": 1_000, "captured": TOTAL}));
    })
    .await;
}

#[tokio::test]
async fn seed_000_a_refused_parcel_is_refunded_without_shipping_after_15_days() {
    on_each_backend(async |market: &Market| {
        let id = market.shipped().await;
        let refused = market
            .ok(&market.buyer, &id, "refuse-delivery", json!({}))
            .await;
        assert_eq!(refused["status"], "shipped");
        assert_eq!(refused["claim"]["kind"], "refused_delivery");
        market.app.advance(15 * DAY).await;
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["status"], "cancelled");
        assert_eq!(order["refunds"][0]["amount"], ITEMS);
        assert_eq!(order["escrow"]["released"], SHIPPING);
    })
    .await;
}

#[tokio::test]
async fn seed_004_a_return_is_refunded_when_the_item_is_back_and_the_buyer_pays_shipping_for_a_change_of_mind()
 {
    on_each_backend(async |market: &Market| {
        let id = market.delivered().await;
        market
            .ok(&market.buyer, &id, "returns", json!({"kind": "return_and_refund", "reason": "no_longer_needed", "amount": ITEMS, "explanation": "changed my mind"}))
            .await;
        let approved = market.ok(&market.seller, &id, "claim/respond", json!({"decision": "accept", "explanation": ""})).await;
        assert_eq!(approved["claim"]["status"], "return_approved");
        assert_eq!(approved["claim"]["return_shipping_paid_by"], "buyer");
        market.ok(&market.buyer, &id, "return/shipped", json!({"tracking_number": "RET1"})).await;
        let done = market.ok(&market.seller, &id, "return/received", json!({})).await;
        assert_eq!(done["status"], "completed");
        assert_eq!(done["refunds"][0]["amount"], ITEMS);
    })
    .await;
}

#[tokio::test]
async fn the_seller_is_paid_when_the_buyer_confirms_receipt_or_after_15_days() {
    on_each_backend(async |market: &Market| {
        let confirmed = market.delivered().await;
        let order = market
            .ok(&market.buyer, &confirmed, "confirm-receipt", json!({}))
            .await;
        assert_eq!(order["status"], "completed");
        assert_eq!(order["escrow"]["released"], TOTAL);
        let silent = market.delivered().await;
        market.app.advance(15 * DAY).await;
        assert_eq!(
            market.order(&market.buyer, &silent).await["escrow"]["released"],
            TOTAL
        );
    })
    .await;
}

#[tokio::test]
async fn seed_004_an_unpaid_order_closes_after_20_days_and_a_declined_payment_can_be_retried() {
    on_each_backend(async |market: &Market| {
        let unpaid = market.placed().await;
        let declined = market.placed().await;
        market.ok(&market.buyer, &declined, "pay", json!({})).await;
        let back = market
            .ok(
                ADMIN_TOKEN,
                &declined,
                "verify-payment",
                json!({"outcome": "declined"}),
            )
            .await;
        assert_eq!(back["status"], "awaiting_payment");
        assert_eq!(back["refunds"], json!([]));
        assert_eq!(back["escrow"]["held"], 0);
        let bad = market
            .act(
                ADMIN_TOKEN,
                &declined,
                "verify-payment",
                json!({"outcome": "maybe"}),
            )
            .await;
        assert_eq!(
            (bad.status, bad.code()),
            (422, "validation_failed"),
            "{bad:?}"
        );
        market.app.advance(20 * DAY).await;
        let order = market.order(&market.buyer, &unpaid).await;
        assert_eq!(order["status"], "closed");
        assert_eq!(order["ending"]["reason"], "payment_window_expired");
        assert_eq!(
            market.order(&market.buyer, &declined).await["status"],
            "closed"
        );
        assert_eq!(market.product_stock().await, 100);
    })
    .await;
}

#[tokio::test]
async fn stock_is_reserved_at_placement_and_a_short_order_is_a_conflict() {
    on_each_backend(async |market: &Market| {
        let short = market
            .app
            .post(&market.buyer, "/api/v1/orders", market.order_body(101))
            .await;
        assert_eq!(
            (short.status, short.code()),
            (409, "out_of_stock"),
            "{short:?}"
        );
        assert_eq!(market.product_stock().await, 100);
        market.placed().await;
        assert_eq!(market.product_stock().await, 98);
    })
    .await;
}

#[tokio::test]
async fn seed_001_messages_use_templates_and_the_same_text_twice_is_refused() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        let path = format!("/api/v1/orders/{id}/messages");
        let templated = market
            .app
            .post(&market.buyer, &path, json!({"template": "changed_my_mind"}))
            .await;
        assert_eq!(templated.status, 201, "{templated:?}");
        let number = market.order(&market.buyer, &id).await["number"]
            .as_str()
            .expect("number")
            .to_owned();
        assert!(
            templated.body["text"]
                .as_str()
                .expect("text")
                .contains(&format!("order #{number}"))
        );
        let twice = market
            .app
            .post(&market.buyer, &path, json!({"template": "changed_my_mind"}))
            .await;
        assert_eq!((twice.status, twice.code()), (409, "conflict"));
        market
            .app
            .post(&market.seller, &path, json!({"text": "Approved soon"}))
            .await;
        let thread = market.app.get(&market.buyer, &path).await;
        assert_eq!(
            thread.body["messages"].as_array().expect("messages").len(),
            2
        );
        assert_eq!(thread.body["messages"][1]["author"], "seller");
    })
    .await;
}

#[tokio::test]
async fn lists_show_each_party_its_own_orders_newest_first_and_history_oldest_first() {
    on_each_backend(async |market: &Market| {
        let first = market.placed().await;
        market.app.advance(60).await;
        let second = market.placed().await;
        let mine = market
            .app
            .get(&market.buyer, "/api/v1/orders?limit=1")
            .await;
        assert_eq!(mine.status, 200, "{mine:?}");
        assert_eq!(mine.body["orders"][0]["id"], second.as_str());
        let cursor = mine.body["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let next = market
            .app
            .get(
                &market.buyer,
                &format!("/api/v1/orders?limit=1&after={cursor}"),
            )
            .await;
        assert_eq!(next.body["orders"][0]["id"], first.as_str());
        assert_eq!(next.body["next_cursor"], json!(null));
        assert_eq!(
            market.app.get(&market.seller, "/api/v1/orders").await.body["orders"]
                .as_array()
                .expect("list")
                .len(),
            2
        );
        assert_eq!(
            market.app.get(ADMIN_TOKEN, "/api/v1/orders").await.body["orders"]
                .as_array()
                .expect("list")
                .len(),
            2
        );
        assert_eq!(
            market
                .app
                .get(&market.other_buyer, "/api/v1/orders")
                .await
                .body["orders"],
            json!([])
        );
        let filtered = market
            .app
            .get(&market.buyer, "/api/v1/orders?status=closed")
            .await;
        assert_eq!(filtered.body["orders"], json!([]));

        market
            .ok(
                &market.buyer,
                &first,
                "cancel",
                json!({"reason": "duplicate_order"}),
            )
            .await;
        let history = market
            .app
            .get(&market.buyer, &format!("/api/v1/orders/{first}/events"))
            .await;
        let names: Vec<&str> = history.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|event| event["type"].as_str().expect("type"))
            .filter(|name| !name.starts_with("deadline_"))
            .collect();
        assert_eq!(
            names,
            vec!["order_placed", "order_closed", "stock_released"]
        );
        assert_eq!(history.body["events"][0]["seq"], 1);
    })
    .await;
}

#[tokio::test]
async fn deadlines_fire_on_time_whatever_the_clocks_sub_microsecond_digits() {
    // A clock started at an instant with nanoseconds, as a real start-up is.
    let database = orderly_testkit::TestDb::sqlite();
    let start: jiff::Timestamp = "2026-11-23T05:20:37.508549458Z".parse().expect("valid");
    let market = Market::open(TestApp::start(&database.url, start).await).await;
    let id = market.verified().await;
    market
        .ok(
            &market.buyer,
            &id,
            "cancel",
            json!({"reason": "duplicate_order"}),
        )
        .await;
    market.app.advance(72 * HOUR).await;
    let order = market.order(&market.buyer, &id).await;
    assert_eq!(
        order["cancellation_request"]["status"], "auto_approved",
        "{order}"
    );
    close(market, database).await;
}

#[tokio::test]
async fn seed_004_a_seller_cancels_only_for_its_own_fault_and_pays_a_penalty_point() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        let buyer_reason = market
            .act(
                &market.seller,
                &id,
                "seller-cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        assert_eq!(
            (buyer_reason.status, buyer_reason.code()),
            (422, "validation_failed")
        );
        let cancelled = market
            .ok(
                &market.seller,
                &id,
                "seller-cancel",
                json!({"reason": "out_of_stock"}),
            )
            .await;
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["ending"]["fault"], "seller");
        assert_eq!(cancelled["refunds"][0]["amount"], TOTAL);
        let seller = market
            .app
            .get(
                &market.buyer,
                &format!("/api/v1/sellers/{}", market.seller_id),
            )
            .await;
        assert_eq!(seller.body["rating"]["penalty_points"], 1);
    })
    .await;
}

#[tokio::test]
async fn seed_002_a_complaint_is_recorded_in_the_history() {
    on_each_backend(async |market: &Market| {
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "seller_unresponsive", "complaint": "no answer for days"}),
            )
            .await;
        let history = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events"))
            .await;
        let complaint = history.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|event| event["type"] == "complaint_filed")
            .expect("the complaint is an event");
        assert_eq!(complaint["data"]["text"], "no answer for days");
    })
    .await;
}

#[tokio::test]
async fn seed_004_the_no_tracking_dispute_opens_six_days_after_shipment() {
    on_each_backend(async |market: &Market| {
        let id = market.shipped().await;
        let body = json!({"reason": "no_tracking_information", "amount": ITEMS, "return_item": false, "explanation": "no tracking updates"});
        let early = market.act(&market.buyer, &id, "disputes", body.clone()).await;
        assert_eq!((early.status, early.code()), (409, "invalid_transition"));
        market.app.advance(6 * DAY).await;
        let opened = market.ok(&market.buyer, &id, "disputes", body).await;
        assert_eq!(opened["claim"]["reason"], "no_tracking_information");
        // An open claim pauses buyer protection (SPEC 15.9).
        let protection = opened["deadlines"]
            .as_array()
            .expect("deadlines")
            .iter()
            .find(|deadline| deadline["kind"] == "buyer_protection")
            .expect("armed");
        assert_eq!(protection["paused"], true);
    })
    .await;
}

#[tokio::test]
async fn spec_15_18_an_approved_extension_moves_buyer_protection() {
    on_each_backend(async |market: &Market| {
        let id = market.shipped().await;
        let protection = |order: &serde_json::Value| {
            order["deadlines"]
                .as_array()
                .expect("deadlines")
                .iter()
                .find(|deadline| deadline["kind"] == "buyer_protection")
                .expect("armed")["due_at"]
                .as_str()
                .expect("time")
                .to_owned()
        };
        let before = protection(&market.order(&market.buyer, &id).await);
        let too_long = market
            .act(
                &market.buyer,
                &id,
                "protection-extension",
                json!({"days": 31, "reason": "customs"}),
            )
            .await;
        assert_eq!(
            (too_long.status, too_long.code()),
            (422, "validation_failed")
        );
        market
            .ok(
                &market.buyer,
                &id,
                "protection-extension",
                json!({"days": 10, "reason": "held at customs"}),
            )
            .await;
        let approved = market
            .ok(
                &market.seller,
                &id,
                "protection-extension/approve",
                json!({}),
            )
            .await;
        assert_eq!(approved["extension"]["status"], "approved");
        let after = protection(&approved);
        let after: jiff::Timestamp = after.parse().expect("time");
        let before: jiff::Timestamp = before.parse().expect("time");
        assert_eq!(after.duration_since(before).as_hours(), 240);
    })
    .await;
}

#[tokio::test]
async fn seed_004_a_card_refund_not_arrived_by_its_expected_date_is_flagged_overdue() {
    on_each_backend(async |market: &Market| {
        let id = market.placed().await;
        market.ok(&market.buyer, &id, "pay", json!({})).await;
        let cancelled = market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        assert_eq!(cancelled["refunds"][0]["overdue"], false);
        market.app.advance(30 * DAY).await;
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["refunds"][0]["overdue"], true);
        assert_eq!(order["status"], "cancelled");
    })
    .await;
}
