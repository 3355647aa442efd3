//! The conformance suite: each test is one story, written once, run on every backend.

use std::sync::Arc;

use orderly_domain::{Action, Actor, Command, DeadlineKind, Policy, Status};
use orderly_store::{
    Batch, Cursor, Decide, IdempotencyBegin, IdempotentResponse, NewOutbox, OrderFilter,
    Reservation, Store, StoreError, Viewer,
};

use crate::support::*;

fn decide(
    order: &orderly_domain::Order,
    actor: Actor,
    action: Action,
    now: jiff::Timestamp,
) -> Batch {
    let policy = Policy::default();
    let command = Command::sample(action, order, &policy);
    batch(orderly_domain::decide(order, command, actor, now, &policy).expect("valid command"))
}

#[tokio::test]
async fn a_command_writes_events_and_every_read_model_together() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange + Act: the cancellation story of [001] through the store.
        let now = start();
        let order_id = requested_order(store.as_ref(), now).await;
        let committed = act(
            store.as_ref(),
            order_id,
            Actor::Seller(SELLER),
            Action::ApproveCancellation,
            now,
        )
        .await;
        // Assert: the order as stored is the order the events rebuild.
        let loaded = store
            .load_order(order_id)
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(loaded, committed.order, "{backend}");
        assert_eq!(loaded.status, Status::Cancelled);
        let events = store.order_events(order_id).await.expect("events");
        let seqs: Vec<u64> = events.iter().map(|stored| stored.seq).collect();
        assert_eq!(seqs, (1..=loaded.version).collect::<Vec<_>>(), "{backend}");
        let history: Vec<_> = events.into_iter().map(|stored| stored.event).collect();
        assert_eq!(orderly_domain::replay(&history), Some(loaded.clone()));
        let integrity = store.check_integrity().await.expect("integrity");
        assert_eq!(integrity.problems, Vec::<String>::new(), "{backend}");
        assert_eq!(integrity.orders, 1);
        // The seller's metrics count the request and its answer.
        let metrics = store.seller_metrics(SELLER, now).await.expect("metrics");
        assert_eq!(metrics.orders, 1, "{backend}");
        assert_eq!(metrics.cancellation_requests, 1);
        assert_eq!(metrics.requests_answered, 1);
        assert_eq!(metrics.paid_orders, 1);
    })
    .await;
}

#[tokio::test]
async fn a_stale_version_is_a_typed_conflict_and_writes_nothing() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange: two writers read the same version.
        let now = start();
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let first = decide(&order, Actor::Buyer(BUYER), Action::Pay, now);
        let second = decide(&order, Actor::Admin(ADMIN), Action::Freeze, now);
        // Act
        store
            .append(order.version, first)
            .await
            .expect("the first writer wins");
        let outcome = store.append(order.version, second).await;
        // Assert
        assert!(
            matches!(outcome, Err(StoreError::Conflict)),
            "{backend}: {outcome:?}"
        );
        let loaded = store
            .load_order(order_id)
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(loaded.status, Status::PaymentVerification);
        assert!(!loaded.frozen);
        assert_eq!(
            store.check_integrity().await.expect("integrity").problems,
            Vec::<String>::new()
        );
    })
    .await;
}

#[tokio::test]
async fn placing_the_same_order_twice_is_a_conflict() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let again = orderly_domain::place(
            place_command(order_id, BUYER),
            Actor::Buyer(BUYER),
            now,
            &Policy::default(),
        )
        .expect("valid");
        let outcome = store.append(0, batch(again)).await;
        assert!(
            matches!(outcome, Err(StoreError::Conflict)),
            "{backend}: {outcome:?}"
        );
        assert_eq!(store.load_order(order_id).await.expect("load"), Some(order));
    })
    .await;
}

#[tokio::test]
async fn a_rejected_command_writes_nothing() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let outcome = run(
            store.as_ref(),
            order_id,
            Actor::Seller(SELLER),
            Command::MarkDelivered,
            now,
        )
        .await;
        match outcome {
            Err(StoreError::Rejected(rejection)) => assert_eq!(rejection.code(), "forbidden"),
            other => panic!("{backend}: expected a rejection, got {other:?}"),
        }
        assert_eq!(store.load_order(order_id).await.expect("load"), Some(order));
        assert_eq!(store.order_events(order_id).await.expect("events").len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_command_decides_on_the_order_as_stored_even_when_changed_behind_the_store() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange: an order the store has just written (the SQLite writer keeps it
        // decoded), then changed in the database by someone else.
        let now = start();
        let order_id = new_order_id();
        place(store.as_ref(), order_id, BUYER, now).await;
        act(store.as_ref(), order_id, Actor::Buyer(BUYER), Action::Pay, now).await;
        execute_raw(
            &backend.url,
            &[format!(
                "update orders set state = replace(state, '\"city\":\"Berlin\"', '\"city\":\"Elsewhere\"') \
                 where id = '{order_id}'"
            )],
        )
        .await;
        // Act: a command whose decision looks at the order it is given.
        let seen = Arc::new(std::sync::Mutex::new(None));
        let seeing = seen.clone();
        let outcome = store
            .transact(
                order_id,
                Box::new(move |order: Option<&orderly_domain::Order>| {
                    let order = order.ok_or(orderly_domain::Rejection::NotFound)?;
                    *seeing.lock().expect("not poisoned") =
                        order.shipping_address.get("city").map(str::to_owned);
                    Ok(decide(order, Actor::Admin(ADMIN), Action::VerifyPayment, now))
                }),
            )
            .await;
        // Assert
        outcome.unwrap_or_else(|error| panic!("{backend}: {error}"));
        assert_eq!(
            seen.lock().expect("not poisoned").as_deref(),
            Some("Elsewhere"),
            "{backend}: the decision saw the order as stored"
        );
        let stored = store.load_order(order_id).await.expect("load").expect("exists");
        assert_eq!(
            stored.shipping_address.get("city"),
            Some("Elsewhere"),
            "{backend}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_orders_history_reads_the_same_whole_in_pages_and_by_kind() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange: commands that append one event and several (a command's events are
        // stored together, so pages end inside what one command appended).
        let now = start();
        let order_id = cancelled_order(store.as_ref(), now).await;
        let whole = store.order_events(order_id).await.expect("history");
        let kinds: Vec<&str> = whole
            .iter()
            .map(|stored| stored.event.kind.name())
            .collect();
        assert!(whole.len() >= 6, "{backend}: {kinds:?}");
        assert_eq!(
            whole.iter().map(|stored| stored.seq).collect::<Vec<_>>(),
            (1..=whole.len() as u64).collect::<Vec<_>>(),
            "{backend}: numbered from 1 without gaps"
        );
        for limit in [1, 2, 3, 100] {
            // Act: every page, each after the last one's cursor.
            let mut paged = Vec::new();
            let mut after = 0;
            loop {
                let (page, next) = store
                    .order_events_page(order_id, after, limit, None)
                    .await
                    .expect("a page");
                assert!(page.len() <= limit as usize, "{backend}");
                paged.extend(page);
                match next {
                    Some(next) if next > after => after = next,
                    Some(next) => panic!("{backend}: the cursor went from {after} to {next}"),
                    None => break,
                }
            }
            // Assert
            assert_eq!(paged, whole, "{backend}: pages of {limit}");
        }
        let cleared: Vec<_> = whole
            .iter()
            .filter(|stored| stored.event.kind.name() == "deadline_cleared")
            .cloned()
            .collect();
        assert!(!cleared.is_empty(), "{backend}: {kinds:?}");
        let (page, next) = store
            .order_events_page(order_id, 0, 100, Some("deadline_cleared"))
            .await
            .expect("a page of one kind");
        assert_eq!((page, next), (cleared.clone(), None), "{backend}");
        let (page, next) = store
            .order_events_page(order_id, cleared[0].seq, 100, Some("deadline_cleared"))
            .await
            .expect("a later page of one kind");
        assert_eq!((page, next), (cleared[1..].to_vec(), None), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn lists_are_per_party_newest_first_filtered_and_paginated() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let other_buyer = orderly_domain::AccountId::from_uuid(uuid::Uuid::from_u128(0xb2));
        let mut mine = Vec::new();
        for minute in 0..5 {
            let at = start() + jiff::SignedDuration::from_mins(minute);
            let order_id = new_order_id();
            place(store.as_ref(), order_id, BUYER, at).await;
            mine.push(order_id);
        }
        let theirs = new_order_id();
        place(store.as_ref(), theirs, other_buyer, start()).await;
        act(
            store.as_ref(),
            mine[0],
            Actor::Buyer(BUYER),
            Action::Pay,
            start(),
        )
        .await;

        // Newest first, two at a time, with a cursor.
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = store
                .list_orders(OrderFilter {
                    viewer: Viewer::Buyer(BUYER),
                    status: None,
                    after,
                    limit: 2,
                })
                .await
                .expect("list");
            seen.extend(page.orders.iter().map(|order| order.id));
            match page.next {
                Some(next) => after = Some(Cursor::decode(&next.encode()).expect("round trip")),
                None => break,
            }
        }
        let newest_first: Vec<_> = mine.iter().rev().copied().collect();
        assert_eq!(seen, newest_first, "{backend}");

        let paid = store
            .list_orders(OrderFilter {
                viewer: Viewer::Buyer(BUYER),
                status: Some(Status::PaymentVerification),
                after: None,
                limit: 100,
            })
            .await
            .expect("list");
        assert_eq!(
            paid.orders.iter().map(|order| order.id).collect::<Vec<_>>(),
            vec![mine[0]]
        );

        let everyone = store
            .list_orders(OrderFilter {
                viewer: Viewer::Everyone,
                status: None,
                after: None,
                limit: 100,
            })
            .await
            .expect("list");
        assert_eq!(everyone.orders.len(), 6);
        let sellers = store
            .list_orders(OrderFilter {
                viewer: Viewer::Seller(SELLER),
                status: None,
                after: None,
                limit: 100,
            })
            .await
            .expect("list");
        assert_eq!(sellers.orders.len(), 6);
        let others = store
            .list_orders(OrderFilter {
                viewer: Viewer::Buyer(other_buyer),
                status: None,
                after: None,
                limit: 100,
            })
            .await
            .expect("list");
        assert_eq!(
            others
                .orders
                .iter()
                .map(|order| order.id)
                .collect::<Vec<_>>(),
            vec![theirs]
        );
    })
    .await;
}

#[tokio::test]
async fn due_deadlines_are_claimed_once_and_paused_ones_not_at_all() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let running = requested_order(store.as_ref(), now).await;
        let frozen = requested_order(store.as_ref(), now).await;
        act(
            store.as_ref(),
            frozen,
            Actor::Admin(ADMIN),
            Action::Freeze,
            now,
        )
        .await;
        // The first to run is the seller's reminder, 24 hours before the response window ends.
        assert_eq!(
            store.next_deadline(now).await.expect("next"),
            Some(now + hours(48)),
            "{backend}"
        );

        // Nothing is due before its time.
        assert!(
            store
                .claim_due_deadlines(now + hours(47), 100, 60)
                .await
                .expect("claim")
                .is_empty()
        );

        // At 120 h the running order's reminders, seller response and handling time are
        // due; the frozen order's timers are paused and not claimed.
        let later = now + hours(120);
        let due = store
            .claim_due_deadlines(later, 100, 60)
            .await
            .expect("claim");
        let kinds: Vec<_> = due
            .iter()
            .map(|deadline| (deadline.order_id, deadline.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (running, DeadlineKind::ReminderSellerResponse),
                (running, DeadlineKind::ReminderHandlingTime),
                (running, DeadlineKind::SellerResponse),
                (running, DeadlineKind::HandlingTime)
            ],
            "{backend}"
        );
        // Claimed: a second worker gets nothing until the lease runs out.
        assert!(
            store
                .claim_due_deadlines(later, 100, 60)
                .await
                .expect("claim")
                .is_empty()
        );

        // Firing the first through the domain clears both (the order is cancelled).
        let fired = run(
            store.as_ref(),
            running,
            Actor::System,
            Command::ExpireDeadline {
                kind: DeadlineKind::SellerResponse,
            },
            due[2].due_at,
        )
        .await
        .expect("fires");
        assert_eq!(fired.order.status, Status::Cancelled);
        let after_lease = later + jiff::SignedDuration::from_secs(61);
        let remaining = store
            .claim_due_deadlines(after_lease, 100, 60)
            .await
            .expect("claim");
        assert!(
            remaining.iter().all(|deadline| deadline.order_id != running
                || deadline.kind == DeadlineKind::RefundOverdue),
            "{backend}: {remaining:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_ended_order_keeps_no_deadline_rows_so_no_worker_claims_it_again() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange: an order shipped (protection and no-tracking timers armed) ...
        let now = start();
        let order_id = new_order_id();
        place(store.as_ref(), order_id, BUYER, now).await;
        act(
            store.as_ref(),
            order_id,
            Actor::Buyer(BUYER),
            Action::Pay,
            now,
        )
        .await;
        act(
            store.as_ref(),
            order_id,
            Actor::Admin(ADMIN),
            Action::VerifyPayment,
            now,
        )
        .await;
        act(
            store.as_ref(),
            order_id,
            Actor::Seller(SELLER),
            Action::Ship,
            now,
        )
        .await;
        let rows = |store: Arc<dyn Store>| async move {
            let far = start() + hours(24 * 365 * 5);
            store.claim_due_deadlines(far, 500, 1).await.expect("claim")
        };
        assert_eq!(
            rows(store.clone()).await.len(),
            3,
            "{backend}: protection, its reminder and the no-tracking timer armed"
        );
        // Act: ... and completed by the buyer.
        let done = act(
            store.as_ref(),
            order_id,
            Actor::Buyer(BUYER),
            Action::ConfirmReceipt,
            now,
        )
        .await;
        assert_eq!(done.order.status, Status::Completed);
        // Assert: no deadline row is left to claim, now or in five years, and the
        // integrity check agrees with the log.
        let later = now + hours(1);
        let claimed = store
            .claim_due_deadlines(later + hours(24 * 365 * 5), 500, 1)
            .await
            .expect("claim");
        assert!(claimed.is_empty(), "{backend}: {claimed:?}");
        assert_eq!(
            store.next_deadline(later).await.expect("next"),
            None,
            "{backend}"
        );
        let integrity = store.check_integrity().await.expect("integrity");
        assert_eq!(integrity.problems, Vec::<String>::new(), "{backend}");
    })
    .await;
}

#[tokio::test]
async fn the_outbox_delivers_in_order_per_order_and_retries() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let mut paid = decide(&order, Actor::Buyer(BUYER), Action::Pay, now);
        paid.outbox = std::iter::once(NewOutbox {
            topic: "email".into(),
            dedupe_key: format!("email:{order_id}:1"),
            payload: "{\"to\":\"buyer\"}".into(),
        })
        .chain((1..=3).map(|n| NewOutbox {
            topic: "webhook".into(),
            dedupe_key: format!("webhook:{order_id}:{n}"),
            payload: format!("{{\"n\":{n}}}"),
        }))
        .collect();
        store.append(order.version, paid).await.expect("append");
        assert_eq!(store.outbox_backlog().await.expect("backlog"), 4);
        // Topics are delivered independently: an undelivered e-mail does not hold back
        // the order's webhooks.
        let email = store
            .claim_outbox("email", now, 10, 30)
            .await
            .expect("claim");
        assert_eq!(email.len(), 1, "{backend}");

        // Only the oldest message of the order is handed out.
        let first = store
            .claim_outbox("webhook", now, 10, 30)
            .await
            .expect("claim");
        assert_eq!(first.len(), 1, "{backend}");
        assert_eq!(first[0].payload, "{\"n\":1}");
        assert!(
            store
                .claim_outbox("webhook", now, 10, 30)
                .await
                .expect("claim")
                .is_empty()
        );

        // A failure schedules a retry; until then nothing else of this order goes out.
        let retry_at = now + jiff::SignedDuration::from_secs(10);
        store
            .outbox_failed(first[0].id, "receiver down", Some(retry_at), now)
            .await
            .expect("failed");
        assert!(
            store
                .claim_outbox("webhook", now, 10, 30)
                .await
                .expect("claim")
                .is_empty()
        );
        let again = store
            .claim_outbox("webhook", retry_at, 10, 30)
            .await
            .expect("claim");
        assert_eq!(again[0].id, first[0].id);
        assert_eq!(again[0].attempts, 1);
        store
            .outbox_delivered(again[0].id, retry_at)
            .await
            .expect("delivered");
        let second = store
            .claim_outbox("webhook", retry_at, 10, 30)
            .await
            .expect("claim");
        assert_eq!(second[0].payload, "{\"n\":2}", "{backend}");
        // A message given up is dead: it leaves the backlog but holds back the order's later
        // messages until an admin skips (or retries) it (SPEC 16.2).
        store
            .outbox_failed(second[0].id, "gone", None, retry_at)
            .await
            .expect("dead");
        assert!(
            store
                .claim_outbox("webhook", retry_at, 10, 30)
                .await
                .expect("claim")
                .is_empty(),
            "{backend}: held back behind the dead one"
        );
        assert_eq!(store.outbox_backlog().await.expect("backlog"), 2);
        let dead = store
            .outbox_list(Some("dead"), None, None, 10)
            .await
            .expect("list");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error.as_deref(), Some("gone"));
        store
            .outbox_skip(second[0].id, retry_at)
            .await
            .expect("skip")
            .expect("exists");
        let third = store
            .claim_outbox("webhook", retry_at, 10, 30)
            .await
            .expect("claim");
        assert_eq!(third[0].payload, "{\"n\":3}");
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys_replay_detect_mismatches_and_expire() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let key = "key-1";
        let begin = |fingerprint: &'static str, at| {
            let store = store.clone();
            async move {
                store
                    .idempotency_begin(BUYER, key, fingerprint, "owner-1", at, 60)
                    .await
                    .expect("begin")
            }
        };
        assert_eq!(
            begin("POST /pay {}", now).await,
            IdempotencyBegin::Started,
            "{backend}"
        );
        assert_eq!(begin("POST /pay {}", now).await, IdempotencyBegin::InFlight);
        assert_eq!(
            begin("POST /cancel {}", now).await,
            IdempotencyBegin::Mismatch
        );
        // Keys are per account.
        assert_eq!(
            store
                .idempotency_begin(SELLER, key, "POST /pay {}", "owner-2", now, 60)
                .await
                .expect("begin"),
            IdempotencyBegin::Started
        );
        // The answer is stored with the command that produced it.
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let mut paid = decide(&order, Actor::Buyer(BUYER), Action::Pay, now);
        paid.idempotency = Some(IdempotentResponse {
            account_id: BUYER,
            key: key.into(),
            owner: "owner-1".into(),
            fingerprint: "POST /pay {}".into(),
            status: 200,
            body: "{\"status\":\"payment_verification\"}".into(),
        });
        store.append(order.version, paid).await.expect("append");
        assert_eq!(
            begin("POST /pay {}", now).await,
            IdempotencyBegin::Done {
                status: 200,
                body: "{\"status\":\"payment_verification\"}".into()
            }
        );
        // An abandoned reservation is taken over after the stale period ...
        assert_eq!(
            store
                .idempotency_begin(ADMIN, "k2", "x", "first", now, 60)
                .await
                .expect("begin"),
            IdempotencyBegin::Started
        );
        let later = now + jiff::SignedDuration::from_secs(61);
        assert_eq!(
            store
                .idempotency_begin(ADMIN, "k2", "x", "second", later, 60)
                .await
                .expect("begin"),
            IdempotencyBegin::Started
        );
        // Kept 24 hours, then purged.
        let purged = store
            .idempotency_purge(now + hours(24) + jiff::SignedDuration::from_secs(1), 10_000)
            .await
            .expect("purge");
        assert_eq!(purged, 3, "{backend}");
        assert_eq!(
            begin("POST /cancel {}", now + hours(25)).await,
            IdempotencyBegin::Started
        );
    })
    .await;
}

#[tokio::test]
async fn a_keyed_command_claims_its_key_with_its_work_and_a_retry_replays_the_first_answer() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let claim = |key: &str, fingerprint: &str, owner: &str| Reservation {
            account_id: BUYER,
            key: key.into(),
            fingerprint: fingerprint.into(),
            owner: owner.into(),
            now,
            stale_secs: 60,
        };
        let answer = |key: &str, fingerprint: &str, owner: &str, status: u16| IdempotentResponse {
            account_id: BUYER,
            key: key.into(),
            owner: owner.into(),
            fingerprint: fingerprint.into(),
            status,
            body: format!("{{\"by\":\"{owner}\"}}"),
        };
        let pay = |owner: &str| -> Decide {
            let answer = answer("pay-key", "POST /pay {}", owner, 200);
            Box::new(move |order| {
                let mut batch = decide(
                    order.expect("placed"),
                    Actor::Buyer(BUYER),
                    Action::Pay,
                    now,
                );
                batch.idempotency = Some(answer.clone());
                Ok(batch)
            })
        };
        // The first request claims its key and pays, in one commit.
        let paid = store
            .transact_claimed(
                order_id,
                claim("pay-key", "POST /pay {}", "first"),
                pay("first"),
            )
            .await
            .expect("the first request runs");
        assert!(paid.order.version > order.version, "{backend}");
        // Its retry does not run again: it gets the first answer.
        let retry = store
            .transact_claimed(
                order_id,
                claim("pay-key", "POST /pay {}", "retry"),
                pay("retry"),
            )
            .await;
        assert!(
            matches!(
                &retry,
                Err(StoreError::KeyUsed(IdempotencyBegin::Done { status: 200, body }))
                    if body == "{\"by\":\"first\"}"
            ),
            "{backend}: {retry:?}"
        );
        // The same key with another request is refused, and runs nothing either.
        let other = store
            .transact_claimed(
                order_id,
                claim("pay-key", "POST /cancel {}", "other"),
                pay("other"),
            )
            .await;
        assert!(
            matches!(other, Err(StoreError::KeyUsed(IdempotencyBegin::Mismatch))),
            "{backend}: {other:?}"
        );
        let stored = store
            .load_order(order_id)
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(stored.version, paid.order.version, "{backend}: paid once");
        // A refused command leaves its key claimed, so that its refusal becomes the answer.
        let refuse: Decide = Box::new(|_| {
            Err(orderly_domain::Rejection::Conflict {
                detail: "not now".into(),
            })
        });
        let refused = store
            .transact_claimed(
                order_id,
                claim("ship-key", "POST /ship {}", "shipper"),
                refuse,
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Rejected(_))),
            "{backend}: {refused:?}"
        );
        assert_eq!(
            store
                .idempotency_begin(BUYER, "ship-key", "POST /ship {}", "again", now, 60)
                .await
                .expect("begin"),
            IdempotencyBegin::InFlight,
            "{backend}: the refused command's key is still claimed"
        );
        store
            .idempotency_finish(answer("ship-key", "POST /ship {}", "shipper", 409), now)
            .await
            .expect("the refusal is stored");
        // A request refused before it reached its command (its claim never made) has its
        // refusal stored all the same.
        store
            .idempotency_finish(answer("early-key", "POST /orders {}", "early", 422), now)
            .await
            .expect("the refusal is stored");
        for (key, fingerprint, owner, status) in [
            ("ship-key", "POST /ship {}", "shipper", 409),
            ("early-key", "POST /orders {}", "early", 422),
        ] {
            assert_eq!(
                store
                    .idempotency_begin(BUYER, key, fingerprint, "later", now, 60)
                    .await
                    .expect("begin"),
                IdempotencyBegin::Done {
                    status,
                    body: format!("{{\"by\":\"{owner}\"}}"),
                },
                "{backend}: {key}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_request_whose_key_was_taken_over_commits_neither_its_answer_nor_its_work() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange: the first request reserved the key, then stalled past the stale period;
        // its retry took the key over and is now running.
        let now = start();
        let order_id = new_order_id();
        let order = place(store.as_ref(), order_id, BUYER, now).await.order;
        let fingerprint = "POST /pay {}";
        let begin = |owner: &'static str, at| {
            let store = store.clone();
            async move {
                store
                    .idempotency_begin(BUYER, "pay-key", fingerprint, owner, at, 60)
                    .await
                    .expect("begin")
            }
        };
        assert_eq!(begin("first", now).await, IdempotencyBegin::Started);
        let later = now + jiff::SignedDuration::from_secs(61);
        assert_eq!(begin("retry", later).await, IdempotencyBegin::Started);
        let answer = |owner: &str| IdempotentResponse {
            account_id: BUYER,
            key: "pay-key".into(),
            owner: owner.into(),
            fingerprint: fingerprint.into(),
            status: 200,
            body: format!("{{\"by\":\"{owner}\"}}"),
        };
        // Act: the stalled first request finally tries to commit its payment.
        let mut first = decide(&order, Actor::Buyer(BUYER), Action::Pay, now);
        first.idempotency = Some(answer("first"));
        let outcome = store.append(order.version, first).await;
        // Assert: refused, and nothing of it was written.
        assert!(
            matches!(outcome, Err(StoreError::Conflict)),
            "{backend}: {outcome:?}"
        );
        let stored = store
            .load_order(order_id)
            .await
            .expect("load")
            .expect("exists");
        assert_eq!(
            stored.version, order.version,
            "{backend}: the payment did not commit"
        );
        // The retry, which holds the key, commits once, and its answer is the one kept.
        let mut retry = decide(&order, Actor::Buyer(BUYER), Action::Pay, later);
        retry.idempotency = Some(answer("retry"));
        store
            .append(order.version, retry)
            .await
            .expect("the owner commits");
        assert_eq!(
            begin("third", later).await,
            IdempotencyBegin::Done {
                status: 200,
                body: "{\"by\":\"retry\"}".into()
            },
            "{backend}"
        );
        // A refusal stored by the old owner is dropped too.
        store
            .idempotency_finish(answer("first"), later)
            .await
            .expect("ignored");
        assert_eq!(
            begin("third", later).await,
            IdempotencyBegin::Done {
                status: 200,
                body: "{\"by\":\"retry\"}".into()
            }
        );
    })
    .await;
}

#[tokio::test]
async fn the_purge_keeps_each_account_within_its_bound_oldest_first() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        for index in 0..5_i64 {
            let at = now + jiff::SignedDuration::from_secs(index);
            store
                .idempotency_begin(BUYER, &format!("k{index}"), "x", "o", at, 60)
                .await
                .expect("begin");
        }
        store
            .idempotency_begin(SELLER, "k0", "x", "o", now, 60)
            .await
            .expect("begin");
        let purged = store.idempotency_purge(now, 3).await.expect("purge");
        assert_eq!(purged, 2, "{backend}");
        // The two oldest of the buyer's went; the newest three and the seller's stay.
        for (account, key, kept) in [
            (BUYER, "k0", false),
            (BUYER, "k1", false),
            (BUYER, "k2", true),
            (BUYER, "k4", true),
            (SELLER, "k0", true),
        ] {
            let again = store
                .idempotency_begin(account, key, "x", "p", now, 60)
                .await
                .expect("begin");
            let expected = if kept {
                IdempotencyBegin::InFlight
            } else {
                IdempotencyBegin::Started
            };
            assert_eq!(again, expected, "{backend}: {key}");
        }
    })
    .await;
}

#[tokio::test]
async fn projections_rebuild_from_the_log_and_tampering_is_detected() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let order_id = cancelled_order(store.as_ref(), now).await;
        let before = store.load_order(order_id).await.expect("load");
        // Tamper with the read models through SQL.
        tamper(&backend.url, &order_id.to_string()).await;
        let integrity = store.check_integrity().await.expect("integrity");
        assert!(
            !integrity.problems.is_empty(),
            "{backend}: tampering went unnoticed"
        );
        // Rebuild from the events and everything agrees again.
        let rebuilt = store.rebuild_projections().await.expect("rebuild");
        assert_eq!(rebuilt.orders, 1);
        assert_eq!(
            store.check_integrity().await.expect("integrity").problems,
            Vec::<String>::new(),
            "{backend}"
        );
        assert_eq!(store.load_order(order_id).await.expect("load"), before);
    })
    .await;
}

/// Removes refund rows and the metrics behind the store's back.
async fn tamper(url: &str, order_id: &str) {
    let statements = [
        format!("delete from refunds where order_id = '{order_id}'"),
        "delete from seller_metrics_daily".to_owned(),
    ];
    execute_raw(url, &statements).await;
}

#[tokio::test]
async fn the_database_refuses_a_refund_larger_than_the_payment() {
    // The domain prevents it; the CHECK constraint guards it even against a buggy writer.
    for database in databases().await {
        let store = open(&database).await;
        let now = start();
        let order_id = requested_order(store.as_ref(), now).await;
        let statement = format!(
            "update orders set refunded_minor = captured_minor + 1, held_minor = held_minor - 1 where id = '{order_id}'"
        );
        let outcome = try_execute_raw(&database.url, &statement).await;
        assert!(
            outcome.is_err(),
            "{}: the constraint let a refund exceed the payment",
            database.backend
        );
        drop(store);
        database.drop_database().await;
    }
}

#[tokio::test]
async fn migrations_run_once_and_a_second_open_is_harmless() {
    for database in databases().await {
        let first = open(&database).await;
        let order_id = new_order_id();
        place(first.as_ref(), order_id, BUYER, start()).await;
        let second = open(&database).await;
        assert!(
            second.load_order(order_id).await.expect("load").is_some(),
            "{}",
            database.backend
        );
        second.ping().await.expect("ping");
        drop((first, second));
        database.drop_database().await;
    }
}

async fn execute_raw(url: &str, statements: &[String]) {
    for statement in statements {
        try_execute_raw(url, statement)
            .await
            .expect("raw statement");
    }
}

async fn try_execute_raw(url: &str, statement: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut connection)
            .await?;
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut connection)
            .await?;
    }
    Ok(())
}
