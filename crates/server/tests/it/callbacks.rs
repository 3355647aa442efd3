//! Carriers and payment providers calling in (SPEC 16.6), over HTTP on both backends:
//! every scan status, every way a signature can be wrong, repeated events, the race of an
//! admin's delivery with a carrier's, and the payment verdicts.

use orderly_app::delivery::signature;
use serde_json::{Value, json};

use crate::support::*;

struct Integration {
    id: String,
    secret: String,
}

async fn register(market: &Market, kind: &str) -> Integration {
    let reply = market
        .app
        .post(
            ADMIN_TOKEN,
            "/api/v1/integrations",
            json!({"kind": kind, "name": format!("{kind} one")}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    Integration {
        id: reply.body["id"].as_str().expect("id").to_owned(),
        secret: reply.body["secret"].as_str().expect("secret").to_owned(),
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "callbacks are signed with the real time"
)]
fn wall_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Posts `body` to a callback path, signed by `integration` at `timestamp` (with `secret`
/// unless another is given), optionally altering the body after signing.
async fn send(
    market: &Market,
    path: &str,
    integration: &Integration,
    body: &Value,
    secret: Option<&str>,
    timestamp: i64,
    altered: Option<&Value>,
) -> Reply {
    let text = body.to_string();
    let header = signature(secret.unwrap_or(&integration.secret), timestamp, &text);
    let sent = altered.map_or(text, |altered| altered.to_string());
    let response = reqwest::Client::new()
        .post(format!("{}{path}", market.app.url))
        .header("content-type", "application/json")
        .header("orderly-integration", &integration.id)
        .header("orderly-signature", header)
        .body(sent)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        content_type: String::new(),
        headers,
    }
}

async fn scan(market: &Market, carrier: &Integration, event_id: &str, status: &str) -> Reply {
    let body = json!({"event_id": event_id, "carrier": "DHL", "tracking_number": "JD014600", "status": status, "at": market.app.inner.now(), "location": "Berlin"});
    send(
        market,
        "/api/v1/callbacks/carrier",
        carrier,
        &body,
        None,
        wall_seconds(),
        None,
    )
    .await
}

#[tokio::test]
async fn carrier_scans_are_kept_and_move_the_order_as_the_admin_would() {
    on_each_backend(async |market: &Market| {
        let carrier = register(market, "carrier").await;
        let id = market.shipped().await;
        let in_transit = scan(market, &carrier, "e-1", "in_transit").await;
        assert_eq!((in_transit.status, in_transit.body["changed"].as_bool()), (200, Some(false)), "{in_transit:?}");
        let delivered = scan(market, &carrier, "e-2", "delivered").await;
        assert_eq!(delivered.status, 200, "{delivered:?}");
        assert_eq!(delivered.body["status"], "delivered");
        assert_eq!(delivered.body["changed"], true);
        // A late scan changes nothing; every scan is on the order, oldest first.
        let late = scan(market, &carrier, "e-3", "out_for_delivery").await;
        assert_eq!(late.body["changed"], false);
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["status"], "delivered");
        let statuses: Vec<&str> = order["tracking"].as_array().expect("tracking").iter().map(|scan| scan["status"].as_str().expect("status")).collect();
        assert_eq!(statuses, ["in_transit", "delivered", "out_for_delivery"]);
        // The history names the provider as the actor.
        let events = market.app.get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events")).await;
        let scanned = events.body["events"].as_array().expect("events").iter().find(|event| event["type"] == "tracking_scanned").expect("a scan").clone();
        assert_eq!(scanned["actor"]["role"], "provider");
        assert_eq!(scanned["actor"]["id"], carrier.id.as_str());
        // An unknown parcel is 422.
        let body = json!({"event_id": "e-9", "carrier": "DHL", "tracking_number": "NOPE", "status": "delivered", "at": market.app.inner.now()});
        let unknown = send(market, "/api/v1/callbacks/carrier", &carrier, &body, None, wall_seconds(), None).await;
        assert_eq!((unknown.status, unknown.body["code"].as_str()), (422, Some("unknown_shipment")));
    })
    .await;
}

#[tokio::test]
async fn a_refused_parcel_back_at_the_sender_refunds_the_buyer() {
    on_each_backend(async |market: &Market| {
        let carrier = register(market, "carrier").await;
        let id = market.shipped().await;
        market
            .ok(&market.buyer, &id, "refuse-delivery", json!({}))
            .await;
        let back = scan(market, &carrier, "r-1", "returned_to_sender").await;
        assert_eq!(back.body["status"], "cancelled", "{back:?}");
        assert_eq!(
            market.order(&market.buyer, &id).await["escrow"]["refunded"],
            ITEMS
        );
        // A scan for the cancelled order is kept, changes nothing and says so.
        let after = scan(market, &carrier, "r-2", "delivered").await;
        assert_eq!(
            (
                after.status,
                after.body["changed"].as_bool(),
                after.body["status"].as_str()
            ),
            (200, Some(false), Some("cancelled")),
            "{after:?}"
        );
        assert!(
            after.body["detail"]
                .as_str()
                .expect("detail")
                .contains("does not change")
        );
        let order = market.order(&market.buyer, &id).await;
        assert_eq!(order["tracking"].as_array().expect("tracking").len(), 2);
    })
    .await;
}

#[tokio::test]
async fn every_bad_signature_is_401_and_changes_nothing() {
    on_each_backend(async |market: &Market| {
        let carrier = register(market, "carrier").await;
        let id = market.shipped().await;
        let body = json!({"event_id": "x-1", "carrier": "DHL", "tracking_number": "JD014600", "status": "delivered", "at": market.app.inner.now()});
        let path = "/api/v1/callbacks/carrier";
        let wrong = send(market, path, &carrier, &body, Some("int_not_the_secret"), wall_seconds(), None).await;
        let stale = send(market, path, &carrier, &body, None, wall_seconds() - 301, None).await;
        let mut altered_body = body.clone();
        altered_body["tracking_number"] = json!("JD014600 ");
        let altered = send(market, path, &carrier, &body, None, wall_seconds(), Some(&altered_body)).await;
        let unsigned = market.app.post(&market.buyer, path, body.clone()).await;
        for reply in [&wrong, &stale, &altered, &unsigned] {
            assert_eq!((reply.status, reply.code()), (401, "unauthorized"), "{reply:?}");
        }
        // Rotated: the old secret works for a day, then not; the new one does.
        let rotated = market.app.post(ADMIN_TOKEN, &format!("/api/v1/integrations/{}/rotate", carrier.id), json!({})).await;
        assert_eq!(rotated.status, 200, "{rotated:?}");
        let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
        let still = send(market, path, &carrier, &json!({"event_id": "x-2", "carrier": "DHL", "tracking_number": "JD014600", "status": "in_transit", "at": market.app.inner.now()}), None, wall_seconds(), None).await;
        assert_eq!(still.status, 200, "the old secret works during the grace period: {still:?}");
        market.app.advance(25 * 3_600).await;
        let expired = send(market, path, &carrier, &body, None, wall_seconds(), None).await;
        assert_eq!(expired.status, 401);
        // Revoked: nothing works.
        market.app.post(ADMIN_TOKEN, &format!("/api/v1/integrations/{}/revoke", carrier.id), json!({})).await;
        let revoked = send(market, path, &carrier, &body, Some(&new_secret), wall_seconds(), None).await;
        assert_eq!(revoked.status, 401);
        // A carrier's secret cannot send payment callbacks.
        let payment_body = json!({"event_id": "p", "order_id": id, "kind": "payment_verified", "at": market.app.inner.now()});
        let payer = register(market, "carrier").await;
        let wrong_kind = send(market, "/api/v1/callbacks/payment", &payer, &payment_body, None, wall_seconds(), None).await;
        assert_eq!(wrong_kind.status, 401);
        assert_eq!(market.order(&market.buyer, &id).await["status"], "shipped", "nothing changed");
    })
    .await;
}

#[tokio::test]
async fn a_repeated_event_answers_as_the_first_time_and_applies_once() {
    on_each_backend(async |market: &Market| {
        let carrier = register(market, "carrier").await;
        let id = market.shipped().await;
        let first = scan(market, &carrier, "same", "delivered").await;
        let again = scan(market, &carrier, "same", "delivered").await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body, again.body);
        let order = market.order(ADMIN_TOKEN, &id).await;
        assert_eq!(order["tracking"].as_array().expect("tracking").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_admin_delivery_racing_a_carrier_delivery_has_exactly_one_winner() {
    on_each_backend(async |market: &Market| {
        let carrier = register(market, "carrier").await;
        for round in 0..20 {
            let id = market.shipped().await;
            let empty = json!({});
            let event = format!("race-{round}");
            let (admin, scanned) = tokio::join!(
                market.act(ADMIN_TOKEN, &id, "deliver", empty),
                scan(market, &carrier, &event, "delivered")
            );
            let events = market
                .app
                .get(ADMIN_TOKEN, &format!("/api/v1/orders/{id}/events"))
                .await;
            let delivered = events.body["events"]
                .as_array()
                .expect("events")
                .iter()
                .filter(|event| event["type"] == "delivered")
                .count();
            assert_eq!(delivered, 1, "exactly one delivery");
            let admin_won = admin.status == 200;
            let carrier_won = scanned.body["changed"] == true;
            assert!(
                admin_won ^ carrier_won,
                "one winner: admin {admin:?}, carrier {scanned:?}"
            );
            if !admin_won {
                assert_eq!(admin.status, 409);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_payment_provider_verifies_payments_and_settles_refunds() {
    on_each_backend(async |market: &Market| {
        let provider = register(market, "payment").await;
        let id = market.placed().await;
        market.ok(&market.buyer, &id, "pay", json!({})).await;
        let body = json!({"event_id": "pv-1", "order_id": id, "kind": "payment_verified", "at": market.app.inner.now()});
        let verified = send(market, "/api/v1/callbacks/payment", &provider, &body, None, wall_seconds(), None).await;
        assert_eq!((verified.status, verified.body["status"].as_str()), (200, Some("awaiting_shipment")), "{verified:?}");
        market.ok(&market.seller, &id, "seller-cancel", json!({"reason": "out_of_stock"})).await;
        let body = json!({"event_id": "rs-1", "order_id": id, "kind": "refund_settled", "at": market.app.inner.now(), "refund_number": 1});
        let settled = send(market, "/api/v1/callbacks/payment", &provider, &body, None, wall_seconds(), None).await;
        assert_eq!(settled.status, 200, "{settled:?}");
        assert!(market.order(&market.buyer, &id).await["refunds"][0]["arrived_at"].is_string());
        // A verdict for an order past verification is refused and changes nothing.
        let late = json!({"event_id": "pv-2", "order_id": id, "kind": "payment_declined", "at": market.app.inner.now()});
        let refused = send(market, "/api/v1/callbacks/payment", &provider, &late, None, wall_seconds(), None).await;
        assert_eq!(refused.status, 409, "{refused:?}");
    })
    .await;
}
