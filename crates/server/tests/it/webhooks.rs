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
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
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
    (url, seen)
}

#[tokio::test]
async fn every_event_reaches_the_receiver_signed_in_order_and_failures_are_retried() {
    on_each_backend(async |market: &Market| {
        // Arrange: a receiver that fails its first delivery, and an order with history.
        let (url, seen) = receiver(1).await;
        let sender = WebhookSender::new(WebhookTarget {
            url,
            secret: "s3cret".into(),
        })
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
