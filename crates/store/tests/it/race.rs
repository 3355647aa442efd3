//! Races: many tasks issue conflicting commands on the same order at once. Exactly one
//! wins each race, the losers get a clear refusal, and the ledger never refunds twice.

use std::sync::Arc;

use orderly_domain::{Action, Actor, Command, Policy, Status};
use orderly_store::{Store, StoreError};

use crate::support::*;

const RACES: usize = 12;
const CONTENDERS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_and_withdraw_race_and_exactly_one_wins() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        for _ in 0..RACES {
            // Arrange: a pending request; half the contenders approve, half withdraw.
            let order_id = requested_order(store.as_ref(), now).await;
            let mut tasks = Vec::new();
            for contender in 0..CONTENDERS {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let (actor, command) = if contender % 2 == 0 {
                        (Actor::Seller(SELLER), Command::ApproveCancellation)
                    } else {
                        (Actor::Buyer(BUYER), Command::WithdrawCancellation)
                    };
                    run(store.as_ref(), order_id, actor, command, now).await
                }));
            }
            // Act
            let wins = wins(tasks, backend.name).await;
            // Assert
            assert_eq!(wins, 1, "{backend}: exactly one contender wins");
            let order = store
                .load_order(order_id)
                .await
                .expect("load")
                .expect("exists");
            assert!(order.refunds.len() <= 1, "{backend}: refunded twice");
            assert!(order.escrow.refunded_minor <= order.escrow.captured_minor);
        }
        assert_eq!(
            store.check_integrity().await.expect("integrity").problems,
            Vec::<String>::new()
        );
    })
    .await;
}

/// The same race with an `Idempotency-Key` on every contender's request, as careful
/// clients send them: one wins, and every loser is refused by the order's state, not told
/// that its own key is in flight. (Deciding outside the writer and checking the version
/// after the claim, tried for issue 11, failed exactly this: the stale decision's claim
/// stayed behind and its retry in the writer found its own key in flight.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_contenders_race_and_each_loser_is_refused_by_the_order_not_its_key() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        for race in 0..RACES {
            let order_id = requested_order(store.as_ref(), now).await;
            let mut tasks = Vec::new();
            for contender in 0..CONTENDERS {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let (actor, account, command) = if contender % 2 == 0 {
                        (Actor::Seller(SELLER), SELLER, Command::ApproveCancellation)
                    } else {
                        (Actor::Buyer(BUYER), BUYER, Command::WithdrawCancellation)
                    };
                    let claim = orderly_store::Reservation {
                        account_id: account,
                        key: format!("race-{race}-{contender}"),
                        fingerprint: format!("POST {contender}"),
                        owner: format!("owner-{race}-{contender}"),
                        now,
                        stale_secs: 60,
                    };
                    let policy = Policy::default();
                    store
                        .transact_claimed(
                            order_id,
                            claim,
                            Box::new(move |order| {
                                let order = order.ok_or(orderly_domain::Rejection::NotFound)?;
                                orderly_domain::decide(order, command.clone(), actor, now, &policy)
                                    .map(batch)
                            }),
                        )
                        .await
                }));
            }
            let wins = wins(tasks, backend.name).await;
            assert_eq!(wins, 1, "{backend}: exactly one contender wins");
        }
        assert_eq!(
            store.check_integrity().await.expect("integrity").problems,
            Vec::<String>::new()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn optimistic_writers_on_one_version_conflict_and_only_one_lands() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        let policy = Policy::default();
        for _ in 0..RACES {
            let order_id = requested_order(store.as_ref(), now).await;
            let order = store
                .load_order(order_id)
                .await
                .expect("load")
                .expect("exists");
            let mut tasks = Vec::new();
            for contender in 0..CONTENDERS {
                let store = store.clone();
                let action = if contender % 2 == 0 {
                    Action::ApproveCancellation
                } else {
                    Action::SellerCancel
                };
                let command = Command::sample(action, &order, &policy);
                let decision =
                    orderly_domain::decide(&order, command, Actor::Seller(SELLER), now, &policy)
                        .expect("valid on the version read");
                let version = order.version;
                tasks.push(tokio::spawn(async move {
                    store.append(version, batch(decision)).await
                }));
            }
            let mut wins = 0;
            for task in tasks {
                match task.await.expect("task") {
                    Ok(_) => wins += 1,
                    Err(StoreError::Conflict) => {}
                    Err(other) => panic!("{backend}: expected a conflict, got {other:?}"),
                }
            }
            assert_eq!(wins, 1, "{backend}");
            let order = store
                .load_order(order_id)
                .await
                .expect("load")
                .expect("exists");
            assert_eq!(order.status, Status::Cancelled);
            assert_eq!(order.refunds.len(), 1, "{backend}: refunded exactly once");
        }
        assert_eq!(
            store.check_integrity().await.expect("integrity").problems,
            Vec::<String>::new()
        );
    })
    .await;
}

/// Writes outside an order's transaction (the support desk's, here) that read before they
/// write, racing order commands: each waits its turn instead of failing at once with
/// "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn desk_writes_racing_order_commands_wait_for_the_lock_instead_of_failing() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        let now = start();
        // Arrange: an order with one open queue item per round.
        let order_id = new_order_id();
        let placed = place(store.as_ref(), order_id, BUYER, now).await;
        let mut batch = orderly_store::Batch::from(orderly_domain::Decision {
            events: Vec::new(),
            order: placed.order,
        });
        let items: Vec<uuid::Uuid> = (0..16 * CONTENDERS as u128)
            .map(|n| uuid::Uuid::from_u128(0x9000 + n))
            .collect();
        batch.queue = items
            .iter()
            .enumerate()
            .map(|(index, id)| orderly_store::NewQueueItem {
                id: *id,
                kind: "support_request".into(),
                reference: index.to_string(),
                summary: "help".into(),
                due_at: None,
            })
            .collect();
        store
            .transact(order_id, Box::new(move |_| Ok(batch.clone())))
            .await
            .expect("the queue items are written");
        // Act: assign and resolve every item while other orders are placed all along.
        let placing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut placers = Vec::new();
        for _ in 0..4 {
            let (orders, placing) = (store.clone(), placing.clone());
            placers.push(tokio::spawn(async move {
                while placing.load(std::sync::atomic::Ordering::SeqCst) {
                    place(orders.as_ref(), new_order_id(), BUYER, now).await;
                }
            }));
        }
        let mut desks = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let desk = store.clone();
            desks.push(tokio::spawn(async move {
                desk.assign_queue_item(item, Some(ADMIN), now, None).await?;
                desk.resolve_queue_item(item, ADMIN, &format!("done {index}"), now, None)
                    .await
            }));
        }
        // Assert
        for desk in desks {
            let outcome = desk.await.expect("task");
            assert!(
                outcome.is_ok(),
                "{backend}: a desk write failed: {outcome:?}"
            );
        }
        placing.store(false, std::sync::atomic::Ordering::SeqCst);
        for placer in placers {
            placer.await.expect("placer");
        }
        let open = store
            .list_queue(orderly_store::QueueFilter {
                kind: None,
                status: Some("open".into()),
                order_id: Some(order_id),
                after: None,
                limit: 100,
            })
            .await
            .expect("queue");
        assert!(open.items.is_empty(), "{backend}: every item was resolved");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn placements_racing_for_the_last_items_leave_nothing_of_the_refused_ones() {
    on_each_backend(async |store: Arc<dyn Store>, backend| {
        // Arrange: 25 left in stock, 50 buyers' placements at once. On SQLite they share
        // group commits, each in its own savepoint; a refused one has written its order,
        // events and outbox rows before the stock update fails.
        let now = start();
        store
            .create_account(
                &orderly_store::Account {
                    id: SELLER,
                    role: orderly_domain::Role::Seller,
                    name: "Last items".into(),
                    email: None,
                    created_at: now,
                    revoked_at: None,
                },
                "hash-of-the-last-items-seller",
                None,
            )
            .await
            .expect("seller");
        let product = orderly_store::Product {
            id: orderly_domain::ProductId::from_uuid(uuid::Uuid::from_u128(0x1a57)),
            seller_id: SELLER,
            title: "The last ones".into(),
            currency: "EUR".into(),
            price_minor: 1_000,
            shipping_fee_minor: 0,
            stock: 25,
            processing_days: 3,
            created_at: now,
        };
        store.create_product(&product, None).await.expect("product");
        // Act
        let placements: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                let order_id = new_order_id();
                let product_id = product.id;
                tokio::spawn(async move {
                    let policy = Policy::default();
                    let outcome = store
                        .transact(
                            order_id,
                            Box::new(move |_| {
                                orderly_domain::place(
                                    place_command(order_id, BUYER),
                                    Actor::Buyer(BUYER),
                                    now,
                                    &policy,
                                )
                                .map(|decision| {
                                    let mut placing = batch(decision);
                                    placing.stock = vec![(product_id, -1)];
                                    placing
                                })
                            }),
                        )
                        .await;
                    (order_id, outcome)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for placement in placements {
            outcomes.push(placement.await.expect("the task ends"));
        }
        // Assert: 25 placed, 25 refused for stock, and of the refused nothing is left.
        let placed = outcomes
            .iter()
            .filter(|(_, outcome)| outcome.is_ok())
            .count();
        assert_eq!(placed, 25, "{backend}");
        for (order_id, outcome) in &outcomes {
            if outcome.is_ok() {
                continue;
            }
            assert!(
                matches!(outcome, Err(StoreError::OutOfStock)),
                "{backend}: {outcome:?}"
            );
            assert!(
                store.load_order(*order_id).await.expect("load").is_none(),
                "{backend}: a refused placement left its order behind"
            );
            assert!(
                store
                    .order_events(*order_id)
                    .await
                    .expect("events")
                    .is_empty(),
                "{backend}: a refused placement left its events behind"
            );
        }
        let left = store
            .product(product.id)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(left.stock, 0, "{backend}");
    })
    .await;
}

/// How many contenders won; every loser must have been refused as an invalid transition.
async fn wins(
    tasks: Vec<tokio::task::JoinHandle<Result<orderly_store::Committed, StoreError>>>,
    backend: &str,
) -> usize {
    let mut wins = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => wins += 1,
            Err(StoreError::Rejected(rejection)) => {
                assert_eq!(
                    rejection.code(),
                    "invalid_transition",
                    "{backend}: {rejection}"
                )
            }
            Err(other) => panic!("{backend}: a loser got {other:?} instead of a refusal"),
        }
    }
    wins
}
