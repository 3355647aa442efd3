//! The support desk and what the parties settle between them, over HTTP on both backends
//! (SPEC 16.3, 16.4): the work queue from cause to resolution, penalties that move the
//! rating, evidence files with their limits, refund arrival, proposals and partial refunds,
//! contacting support and internal notes.

use serde_json::{Value, json};

use crate::support::*;

async fn queue(market: &Market, query: &str) -> Vec<Value> {
    let reply = market
        .app
        .get(ADMIN_TOKEN, &format!("/api/v1/admin/queue{query}"))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["items"].as_array().expect("items").clone()
}

fn of_order<'a>(items: &'a [Value], order: &str, kind: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|item| item["order_id"] == order && item["kind"] == kind)
        .collect()
}

#[tokio::test]
async fn a_complaint_reaches_the_queue_is_assigned_and_resolved() {
    on_each_backend(async |market: &Market| {
        // Arrange: a request with a complaint against the seller.
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "seller_unresponsive", "complaint": "no answer for a week"}),
            )
            .await;
        // Assert: one open complaint item, no due time.
        let items = queue(market, "?kind=complaint&status=open").await;
        let complaint = of_order(&items, &id, "complaint");
        assert_eq!(complaint.len(), 1, "{items:?}");
        let item = complaint[0].clone();
        assert!(item["due_at"].is_null());
        assert_eq!(item["seller_id"], market.seller_id.as_str());
        assert!(
            item["summary"]
                .as_str()
                .expect("summary")
                .contains("no answer for a week")
        );
        let item_id = item["id"].as_str().expect("id").to_owned();
        // Act: assign to me, then resolve.
        let assigned = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/admin/queue/{item_id}/assign"),
                json!({}),
            )
            .await;
        assert_eq!(assigned.status, 200, "{assigned:?}");
        assert_eq!(
            assigned.body["assignee_id"],
            orderly_app::service::BOOTSTRAP_ADMIN_ID.to_string()
        );
        let resolved = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/admin/queue/{item_id}/resolve"),
                json!({"note": "warned the seller"}),
            )
            .await;
        assert_eq!(resolved.status, 200, "{resolved:?}");
        assert_eq!(resolved.body["status"], "done");
        assert_eq!(resolved.body["resolution_note"], "warned the seller");
        assert!(of_order(&queue(market, "?status=open").await, &id, "complaint").is_empty());
        // A filter given is one of its values; an empty one is not "both".
        for query in ["?status=", "?kind=", "?status=closed", "?kind=nonsense"] {
            let refused = market
                .app
                .get(ADMIN_TOKEN, &format!("/api/v1/admin/queue{query}"))
                .await;
            assert_eq!(
                (refused.status, refused.code()),
                (422, "validation_failed"),
                "{query}"
            );
        }
        assert_eq!(
            of_order(&queue(market, "?status=done").await, &id, "complaint").len(),
            1
        );
        // Only admins read the queue; a note is required.
        let buyer = market.app.get(&market.buyer, "/api/v1/admin/queue").await;
        assert_eq!((buyer.status, buyer.code()), (403, "forbidden"));
        let empty = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/admin/queue/{item_id}/resolve"),
                json!({"note": " "}),
            )
            .await;
        assert_eq!((empty.status, empty.code()), (422, "validation_failed"));
        let unknown = market
            .app
            .post(
                ADMIN_TOKEN,
                "/api/v1/admin/queue/01900000-0000-7000-8000-000000000000/assign",
                json!({}),
            )
            .await;
        assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    })
    .await;
}

#[tokio::test]
async fn an_escalated_dispute_is_queued_with_its_due_time_and_leaves_when_decided() {
    on_each_backend(async |market: &Market| {
        let id = market.delivered().await;
        market
            .ok(&market.buyer, &id, "disputes", json!({"reason": "damaged", "amount": 2000, "return_item": true, "explanation": "the lamp is cracked"}))
            .await;
        market
            .ok(&market.buyer, &id, "claim/escalate", json!({"explanation": "the seller does not answer"}))
            .await;
        // Due one support window (24 h) after the escalation, on the test clock.
        let items = queue(market, "?kind=claim_escalated").await;
        let escalated = of_order(&items, &id, "claim_escalated");
        assert_eq!(escalated.len(), 1, "{items:?}");
        let due: jiff::Timestamp = escalated[0]["due_at"].as_str().expect("due").parse().expect("time");
        assert_eq!(due, market.app.inner.now() + jiff::SignedDuration::from_hours(24));
        // Decided: partial refund, the seller pays the return postage.
        let decided = market
            .ok(ADMIN_TOKEN, &id, "claim/resolve", json!({"refund_amount": 2000, "return_required": true, "return_shipping_paid_by": "seller"}))
            .await;
        assert_eq!(decided["claim"]["return_shipping_paid_by"], "seller");
        assert!(of_order(&queue(market, "?status=open").await, &id, "claim_escalated").is_empty());
        let done = queue(market, "?status=done&kind=claim_escalated").await;
        let done = of_order(&done, &id, "claim_escalated");
        assert!(done[0]["resolved_by"].is_null(), "settled by the order's own action");
        // The dispute decided against the seller is a penalty in the seller's list.
        let penalties = market
            .app
            .get(&market.seller, &format!("/api/v1/sellers/{}/penalties", market.seller_id))
            .await;
        assert_eq!(penalties.status, 200);
        assert_eq!(penalties.body["penalties"][0]["reason"], "dispute_lost");
        assert_eq!(penalties.body["penalties"][0]["source"], "automatic");
    })
    .await;
}

async fn score(market: &Market) -> i64 {
    let seller = market
        .app
        .get(
            &market.buyer,
            &format!("/api/v1/sellers/{}", market.seller_id),
        )
        .await;
    seller.body["rating"]["score"].as_i64().expect("score")
}

#[tokio::test]
async fn a_penalty_applied_and_revoked_moves_the_rating() {
    on_each_backend(async |market: &Market| {
        let before = score(market).await;
        let applied = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/sellers/{}/penalties", market.seller_id),
                json!({"points": 2, "reason": "fake tracking numbers"}),
            )
            .await;
        assert_eq!(applied.status, 201, "{applied:?}");
        assert_eq!(applied.body["source"], "manual");
        let penalty_id = applied.body["id"].as_i64().expect("id");
        let penalised = score(market).await;
        assert_eq!(penalised, before - 10, "5 per point");
        let revoked = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!(
                    "/api/v1/sellers/{}/penalties/{penalty_id}/revoke",
                    market.seller_id
                ),
                json!({"note": "the carrier was at fault"}),
            )
            .await;
        assert_eq!(revoked.status, 200, "{revoked:?}");
        assert!(revoked.body["revoked_at"].is_string());
        assert_eq!(score(market).await, before);
        // The seller reads its own list; another seller cannot learn of it; a buyer may not.
        let own = market
            .app
            .get(
                &market.seller,
                &format!("/api/v1/sellers/{}/penalties", market.seller_id),
            )
            .await;
        assert_eq!(own.body["penalties"].as_array().expect("list").len(), 1);
        let other = market
            .app
            .get(
                &market.other_seller,
                &format!("/api/v1/sellers/{}/penalties", market.seller_id),
            )
            .await;
        assert_eq!((other.status, other.code()), (404, "not_found"));
        let buyer = market
            .app
            .get(
                &market.buyer,
                &format!("/api/v1/sellers/{}/penalties", market.seller_id),
            )
            .await;
        assert_eq!(buyer.status, 403);
        let bad = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/sellers/{}/penalties", market.seller_id),
                json!({"points": 0, "reason": "x"}),
            )
            .await;
        assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    })
    .await;
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00";

async fn upload(market: &Market, token: &str, id: &str, name: &str, bytes: Vec<u8>) -> Reply {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        )
        .text("note", "the box was crushed");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/orders/{id}/claim/evidence",
            market.app.url
        ))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        content_type,
        headers,
    }
}

#[tokio::test]
async fn evidence_is_judged_by_content_limited_in_size_and_number_and_downloads_as_an_attachment() {
    on_each_backend(async |market: &Market| {
        let id = market.delivered().await;
        market
            .ok(
                &market.buyer,
                &id,
                "disputes",
                json!({"reason": "damaged", "amount": 1000, "explanation": "cracked"}),
            )
            .await;
        let stock_events = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events"))
            .await;
        let events_before = stock_events.body["events"]
            .as_array()
            .expect("events")
            .len();
        // A PNG named .pdf, 6 MiB, and a text file: refused, nothing recorded.
        let misnamed = upload(market, &market.buyer, &id, "receipt.pdf", PNG.to_vec()).await;
        assert_eq!(
            (misnamed.status, misnamed.body["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{misnamed:?}"
        );
        let mut big = PNG.to_vec();
        big.resize(6 * 1024 * 1024, 0);
        let too_big = upload(market, &market.buyer, &id, "photo.png", big).await;
        assert_eq!(too_big.status, 413, "{too_big:?}");
        let text = upload(market, &market.buyer, &id, "notes.txt", b"hello".to_vec()).await;
        assert_eq!(text.status, 415);
        let after = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events"))
            .await;
        assert_eq!(
            after.body["events"].as_array().expect("events").len(),
            events_before
        );
        // Ten files fit (from both sides); the eleventh is refused.
        for index in 0..10 {
            let token = if index % 2 == 0 {
                &market.buyer
            } else {
                &market.seller
            };
            let added = upload(
                market,
                token,
                &id,
                &format!("photo-{index}.png"),
                PNG.to_vec(),
            )
            .await;
            assert_eq!(added.status, 201, "{added:?}");
            assert_eq!(added.body["content_type"], "image/png");
        }
        let eleventh = upload(market, &market.buyer, &id, "photo-10.png", PNG.to_vec()).await;
        assert_eq!(
            (eleventh.status, eleventh.body["code"].as_str()),
            (422, Some("validation_failed"))
        );
        // Listed in the claim; downloaded by the other party as an attachment.
        let order = market.order(&market.seller, &id).await;
        let files = order["claim"]["evidence"]
            .as_array()
            .expect("evidence")
            .clone();
        assert_eq!(files.len(), 10);
        let file_id = files[0]["id"].as_str().expect("id");
        let response = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/orders/{id}/claim/evidence/{file_id}",
                market.app.url
            ))
            .bearer_auth(&market.seller)
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .expect("ascii")
                .starts_with("attachment")
        );
        assert_eq!(response.bytes().await.expect("bytes").as_ref(), PNG);
        let stranger = market
            .app
            .get(
                &market.other_buyer,
                &format!("/api/v1/orders/{id}/claim/evidence/{file_id}"),
            )
            .await;
        assert_eq!(stranger.status, 404);
    })
    .await;
}

#[tokio::test]
async fn an_overdue_refund_is_queued_and_settles_itself_when_the_buyer_reports_it_arrived() {
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
            .ok(&market.seller, &id, "cancellation/approve", json!({}))
            .await;
        market.app.advance(30 * 86_400).await;
        let overdue = of_order(
            &queue(market, "?kind=refund_overdue&status=open").await,
            &id,
            "refund_overdue",
        )
        .len();
        assert_eq!(overdue, 1);
        // Another number while refund 1 is on its way: refused by the order's refunds, 409.
        let other = market
            .act(&market.buyer, &id, "refunds/2/arrived", json!({}))
            .await;
        assert_eq!((other.status, other.code()), (409, "conflict"), "{other:?}");
        let order = market
            .ok(&market.buyer, &id, "refunds/1/arrived", json!({}))
            .await;
        assert!(order["refunds"][0]["arrived_at"].is_string());
        assert!(of_order(&queue(market, "?status=open").await, &id, "refund_overdue").is_empty());
        let again = market
            .act(&market.buyer, &id, "refunds/1/arrived", json!({}))
            .await;
        assert_eq!(again.status, 409, "{again:?}");
        let unknown = market
            .act(ADMIN_TOKEN, &id, "refunds/9/arrived", json!({}))
            .await;
        assert_eq!(unknown.status, 409, "{unknown:?}");
    })
    .await;
}

#[tokio::test]
async fn the_seller_proposes_a_cancellation_and_offers_a_partial_refund_the_buyer_answers() {
    on_each_backend(async |market: &Market| {
        // Proposal, accepted: cancelled with a full refund.
        let proposed = market.verified().await;
        let order = market
            .ok(
                &market.seller,
                &proposed,
                "cancellation/propose",
                json!({"reason": "out_of_stock"}),
            )
            .await;
        assert_eq!(order["cancellation_proposal"]["status"], "pending");
        let buyer_view = market.order(&market.buyer, &proposed).await;
        assert!(actions(&buyer_view).contains(&"accept_cancellation_proposal".to_owned()));
        let cancelled = market
            .ok(
                &market.buyer,
                &proposed,
                "cancellation/accept-proposal",
                json!({}),
            )
            .await;
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["escrow"]["refunded"], TOTAL);
        // A partial refund by agreement: paid at once, the order goes on.
        let kept = market.delivered().await;
        market
            .ok(
                &market.seller,
                &kept,
                "partial-refund",
                json!({"amount": 700, "reason": "a scratch on the lid"}),
            )
            .await;
        let accepted = market
            .ok(&market.buyer, &kept, "partial-refund/accept", json!({}))
            .await;
        assert_eq!(accepted["status"], "delivered");
        assert_eq!(accepted["refunds"][0]["amount"], 700);
        assert_eq!(accepted["escrow"]["held"], TOTAL - 700);
        let twice = market
            .act(&market.buyer, &kept, "partial-refund/accept", json!({}))
            .await;
        assert_eq!(twice.status, 409, "money is never refunded twice");
        let too_much = market
            .act(
                &market.seller,
                &kept,
                "partial-refund",
                json!({"amount": TOTAL, "reason": "all"}),
            )
            .await;
        assert_eq!(
            (too_much.status, too_much.code()),
            (422, "validation_failed")
        );
    })
    .await;
}

#[tokio::test]
async fn support_is_reachable_in_every_status_and_internal_notes_stay_internal() {
    on_each_backend(async |market: &Market| {
        let id = market.delivered().await;
        market
            .ok(&market.buyer, &id, "confirm-receipt", json!({}))
            .await;
        market
            .ok(
                &market.buyer,
                &id,
                "support",
                json!({"message": "the invoice is missing"}),
            )
            .await;
        let items = queue(market, "?kind=support_request").await;
        assert_eq!(of_order(&items, &id, "support_request").len(), 1);
        // The seller does not see the buyer's request to support.
        let seller_events = market
            .app
            .get(&market.seller, &format!("/api/v1/orders/{id}/events"))
            .await;
        assert!(
            !seller_events
                .body
                .to_string()
                .contains("invoice is missing")
        );
        let note = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/orders/{id}/notes"),
                json!({"text": "sent the invoice by post"}),
            )
            .await;
        assert_eq!(note.status, 201, "{note:?}");
        assert_eq!(note.body["text"], "sent the invoice by post");
        let notes = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/notes"))
            .await;
        assert_eq!(notes.body["notes"][0]["text"], "sent the invoice by post");
        let buyer_notes = market
            .app
            .get(&market.buyer, &format!("/api/v1/orders/{id}/notes"))
            .await;
        assert_eq!(buyer_notes.status, 403);
        for token in [&market.buyer, &market.seller] {
            let events = market
                .app
                .get(token, &format!("/api/v1/orders/{id}/events"))
                .await;
            assert!(
                !events.body.to_string().contains("sent the invoice"),
                "{events:?}"
            );
        }
    })
    .await;
}
