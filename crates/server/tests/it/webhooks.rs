//! Webhooks (SPEC 10): every event reaches a real HTTP receiver, signed, in order per
//! order, at least once, retried with backoff when the receiver fails.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use orderly_app::delivery::{WebhookSender, WebhookTarget, signature};
use serde_json::{Value, json};

use crate::support::*;

/// What the receiver saw: event id, signature header, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A receiver on 127.0.0.1 that records every POST and fails the first `fail` of them.
async fn receiver(fail: usize) -> (String, Seen) {
    let (url, seen, _) = switchable_receiver(fail).await;
    (url, seen)
}

/// A receiver that also answers 503 to everything while its switch is off.
async fn switchable_receiver(fail: usize) -> (String, Seen, Arc<std::sync::atomic::AtomicBool>) {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let switch = up.clone();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            let switch = switch.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                if !switch.load(std::sync::atomic::Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let mut seen = recorded.lock().expect("lock");
                seen.push((
                    header("orderly-event-id"),
                    header("orderly-signature"),
                    body,
                ));
                if seen.len() <= fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, seen, up)
}

#[tokio::test]
async fn every_event_reaches_the_receiver_signed_in_order_and_failures_are_retried() {
    on_each_backend(async |market: &Market| {
        // Arrange: a receiver that fails its first delivery, and an order with history.
        let (url, seen) = receiver(1).await;
        let sender = WebhookSender::new(
            WebhookTarget {
                url,
                secret: "s3cret".into(),
            },
            Default::default(),
        )
        .expect("sender");
        let id = market.placed().await;
        market.ok(&market.buyer, &id, "pay", json!({})).await;
        let inner = &market.app.inner;
        let now = inner.now();

        // Act: the first try fails; the order's later events wait behind it.
        let first = sender
            .deliver_once(inner.store.as_ref(), now)
            .await
            .expect("round");
        assert_eq!((first.delivered, first.failed), (0, 1));
        let early = sender
            .deliver_once(inner.store.as_ref(), now)
            .await
            .expect("round");
        assert_eq!(early.delivered, 0, "nothing goes out before the retry time");
        market.app.advance(2).await;
        let later = inner.now();
        let mut delivered = 0;
        for _ in 0..10 {
            let round = sender
                .deliver_once(inner.store.as_ref(), later)
                .await
                .expect("round");
            delivered += round.delivered;
            if round.delivered + round.failed == 0 {
                break;
            }
        }

        // Assert: every event once more after the failure, in order, signed.
        let seen = seen.lock().expect("lock").clone();
        let history = market
            .app
            .get(&market.buyer, &format!("/api/v1/orders/{id}/events"))
            .await;
        let expected: Vec<String> = history.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| {
                !event["type"]
                    .as_str()
                    .expect("type")
                    .starts_with("deadline_")
            })
            .map(|event| format!("event:{id}:{}", event["seq"]))
            .collect();
        assert_eq!(delivered, expected.len());
        let ids: Vec<String> = seen
            .iter()
            .map(|(event_id, _, _)| event_id.clone())
            .collect();
        assert_eq!(
            ids[0], ids[1],
            "the failed delivery is retried with the same event id"
        );
        assert_eq!(
            ids[1..].to_vec(),
            expected,
            "in order, each once after the retry"
        );
        for (_, header, body) in &seen {
            let timestamp: i64 = header
                .strip_prefix("t=")
                .and_then(|rest| rest.split(',').next())
                .and_then(|t| t.parse().ok())
                .expect("a timestamp");
            assert_eq!(
                header,
                &signature("s3cret", timestamp, body),
                "the signature verifies"
            );
            let payload: Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(payload["order_id"], id.as_str());
        }
        let payload: Value = serde_json::from_str(&seen[1].2).expect("JSON");
        assert_eq!(payload["type"], "order_placed");
    })
    .await;
}

/// Rounds of delivery at the test clock's time until nothing is left to do now.
async fn drain(sender: &WebhookSender, market: &Market) -> orderly_app::delivery::Delivered {
    let inner = &market.app.inner;
    let mut total = orderly_app::delivery::Delivered::default();
    for _ in 0..200 {
        let round = sender
            .deliver_once(inner.store.as_ref(), inner.now())
            .await
            .expect("round");
        total.delivered += round.delivered;
        total.failed += round.failed;
        total.dead += round.dead;
        if round.delivered + round.failed + round.dead == 0 {
            break;
        }
    }
    total
}

fn event_ids(seen: &Seen) -> Vec<String> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|(id, _, _)| id.clone())
        .collect()
}

#[tokio::test]
async fn a_receiver_down_for_hours_gets_every_event_in_order_once_it_is_back() {
    on_each_backend(async |market: &Market| {
        // Arrange: the receiver is down from the start.
        let (url, seen, up) = switchable_receiver(0).await;
        up.store(false, std::sync::atomic::Ordering::SeqCst);
        let sender = WebhookSender::new(
            WebhookTarget {
                url,
                secret: "s".into(),
            },
            Default::default(),
        )
        .expect("sender");
        let id = market.verified().await;
        // Act: six hours of retries (far past the old 12 tries in about 68 minutes).
        for _ in 0..36 {
            drain(&sender, market).await;
            market.app.advance(600).await;
        }
        assert!(event_ids(&seen).is_empty());
        up.store(true, std::sync::atomic::Ordering::SeqCst);
        market.app.advance(3_600).await;
        let delivered = drain(&sender, market).await;
        // Assert: everything, in order, nothing dead.
        let ids = event_ids(&seen);
        assert_eq!(ids.len(), delivered.delivered);
        let seqs: Vec<u64> = ids
            .iter()
            .map(|event| {
                event
                    .rsplit(':')
                    .next()
                    .expect("seq")
                    .parse()
                    .expect("a number")
            })
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(seqs, sorted, "in order, each once");
        assert!(
            ids.iter()
                .all(|event| event.starts_with(&format!("event:{id}:")))
        );
        assert_eq!(ids.len(), 3, "placed, paid, verified: {ids:?}");
        let dead = market
            .app
            .get(ADMIN_TOKEN, "/api/v1/admin/outbox?status=dead")
            .await;
        assert_eq!(dead.body["messages"].as_array().expect("list").len(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_message_failing_past_the_give_up_window_is_dead_holds_the_order_back_and_can_be_retried()
{
    on_each_backend(async |market: &Market| {
        let (url, seen, up) = switchable_receiver(0).await;
        up.store(false, std::sync::atomic::Ordering::SeqCst);
        let settings = orderly_app::delivery::OutboxSettings {
            give_up_after: jiff::SignedDuration::from_hours(2),
            ..Default::default()
        };
        let sender = WebhookSender::new(
            WebhookTarget {
                url,
                secret: "s".into(),
            },
            settings,
        )
        .expect("sender");
        let id = market.placed().await;
        market.ok(&market.buyer, &id, "pay", json!({})).await;
        for _ in 0..30 {
            drain(&sender, market).await;
            market.app.advance(600).await;
        }
        // Dead, listed, and a queue item for support.
        let dead = market
            .app
            .get(
                ADMIN_TOKEN,
                "/api/v1/admin/outbox?status=dead&topic=webhook",
            )
            .await;
        let dead = dead.body["messages"].as_array().expect("list").clone();
        assert_eq!(
            dead.len(),
            1,
            "only the first: the later ones wait behind it"
        );
        assert!(
            dead[0]["last_error"]
                .as_str()
                .expect("error")
                .contains("503")
        );
        let queue = market
            .app
            .get(
                ADMIN_TOKEN,
                "/api/v1/admin/queue?kind=delivery_dead&status=open",
            )
            .await;
        assert_eq!(queue.body["items"].as_array().expect("items").len(), 1);
        // The receiver comes back, but nothing of the order goes until the dead one is
        // retried.
        up.store(true, std::sync::atomic::Ordering::SeqCst);
        market.app.advance(3_600).await;
        assert_eq!(drain(&sender, market).await.delivered, 0);
        let message_id = dead[0]["id"].as_i64().expect("id");
        let retried = market
            .app
            .post(
                ADMIN_TOKEN,
                &format!("/api/v1/admin/outbox/{message_id}/retry"),
                json!({}),
            )
            .await;
        assert_eq!(retried.status, 200, "{retried:?}");
        assert_eq!(retried.body["status"], "pending");
        let delivered = drain(&sender, market).await;
        assert!(delivered.delivered >= 2, "{delivered:?}");
        assert!(event_ids(&seen)[0].ends_with(":1"), "the retried one first");
        let queue = market
            .app
            .get(
                ADMIN_TOKEN,
                "/api/v1/admin/queue?kind=delivery_dead&status=open",
            )
            .await;
        assert!(queue.body["items"].as_array().expect("items").is_empty());
        let _ = id;
    })
    .await;
}

#[tokio::test]
async fn two_processes_on_one_postgresql_deliver_each_webhook_once_in_order_per_order() {
    let Some(admin_url) = orderly_testkit::postgres_url() else {
        println!("skipped: ORDERLY_TEST_POSTGRES_URL is not set");
        return;
    };
    // Arrange: two servers on one database, and several orders with history.
    let database = orderly_testkit::TestDb::postgres(&admin_url).await;
    let first = TestApp::start(&database.url, start_time()).await;
    let second = TestApp::start(&database.url, start_time()).await;
    let market = Market::open(first).await;
    // Round by round, so each order's messages are spread through the outbox and both
    // processes' claims hold messages of the same orders.
    let mut orders = Vec::new();
    for _ in 0..6 {
        orders.push(market.placed().await);
    }
    for id in &orders {
        market.ok(&market.buyer, id, "pay", json!({})).await;
    }
    for id in &orders {
        market
            .ok(
                ADMIN_TOKEN,
                id,
                "verify-payment",
                json!({"outcome": "approved"}),
            )
            .await;
    }
    for id in &orders {
        market
            .ok(
                &market.buyer,
                id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
    }
    let (url, seen) = receiver(0).await;
    let make = || {
        WebhookSender::new(
            WebhookTarget {
                url: url.clone(),
                secret: "s".into(),
            },
            Default::default(),
        )
        .expect("sender")
    };
    let (one, two) = (make(), make());
    // Act: both processes deliver at the same time until nothing is left.
    let stores = [market.app.inner.store.clone(), second.inner.store.clone()];
    let now = market.app.inner.now();
    let run = |sender: WebhookSender, store: std::sync::Arc<dyn orderly_store::Store>| async move {
        for _ in 0..100 {
            let round = sender
                .deliver_once(store.as_ref(), now)
                .await
                .expect("round");
            if round.delivered + round.failed == 0 {
                tokio::task::yield_now().await;
                let again = sender
                    .deliver_once(store.as_ref(), now)
                    .await
                    .expect("round");
                if again.delivered + again.failed == 0 {
                    return;
                }
            }
        }
    };
    let [store_one, store_two] = stores;
    tokio::join!(run(one, store_one), run(two, store_two));
    // Assert: each event once, and per order in ascending sequence.
    let ids = event_ids(&seen);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no event twice: {ids:?}");
    for order in &orders {
        let seqs: Vec<u64> = ids
            .iter()
            .filter(|id| id.starts_with(&format!("event:{order}:")))
            .map(|id| id.rsplit(':').next().expect("seq").parse().expect("number"))
            .collect();
        let history = market
            .app
            .get(ADMIN_TOKEN, &format!("/api/v1/orders/{order}/events"))
            .await;
        let expected: Vec<u64> = history.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| {
                !event["type"]
                    .as_str()
                    .expect("type")
                    .starts_with("deadline_")
            })
            .map(|event| event["seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(seqs, expected, "order {order}: every event once, in order");
    }
    market.app.stop().await;
    second.stop().await;
    database.drop_database().await;
}
