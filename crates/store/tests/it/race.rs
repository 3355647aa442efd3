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
