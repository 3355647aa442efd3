//! Throwaway databases for both backends, and a tiny command runner (load, decide, commit)
//! so the store is exercised with real orders without depending on the app crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::{SignedDuration, Timestamp};
use orderly_domain::{AccountId, Action, Actor, Command, Order, OrderId, PlaceOrder, Policy};
use orderly_store::{Batch, Committed, Store, StoreError, StoreOptions};
use uuid::Uuid;

pub const BUYER: AccountId = AccountId::from_uuid(Uuid::from_u128(0xb1));
pub const SELLER: AccountId = AccountId::from_uuid(Uuid::from_u128(0x51));
pub const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(0xad));

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub use orderly_testkit::{TestDb, databases};

/// Which backend a story runs on, and its database's URL for raw SQL.
#[derive(Clone, Debug)]
pub struct Backend {
    pub name: &'static str,
    pub url: String,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Runs `story` on a fresh database of every backend.
pub async fn on_each_backend(story: impl AsyncFn(Arc<dyn Store>, Backend)) {
    for database in databases().await {
        let store = open(&database).await;
        let backend = Backend {
            name: database.backend,
            url: database.url.clone(),
        };
        story(store.clone(), backend).await;
        drop(store);
        database.drop_database().await;
    }
}

/// Opens orderly's store on a test database, running the migrations.
pub async fn open(database: &TestDb) -> Arc<dyn Store> {
    orderly_store::connect(&database.url, &StoreOptions::default())
        .await
        .unwrap_or_else(|error| panic!("open {}: {error}", database.url))
}

pub fn start() -> Timestamp {
    "2026-11-02T09:00:00Z".parse().expect("valid")
}

pub fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

pub fn new_order_id() -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(
        u128::from(COUNTER.fetch_add(1, Ordering::SeqCst)) << 64 | u128::from(std::process::id()),
    ))
}

pub fn place_command(order_id: OrderId, buyer: AccountId) -> PlaceOrder {
    PlaceOrder::sample(order_id, buyer, SELLER)
}

pub fn batch(decision: orderly_domain::Decision) -> Batch {
    Batch::from(decision)
}

/// Places an order for `buyer` at `now`.
pub async fn place(
    store: &dyn Store,
    order_id: OrderId,
    buyer: AccountId,
    now: Timestamp,
) -> Committed {
    let policy = Policy::default();
    store
        .transact(
            order_id,
            Box::new(move |existing: Option<&Order>| {
                assert!(existing.is_none());
                orderly_domain::place(
                    place_command(order_id, buyer),
                    Actor::Buyer(buyer),
                    now,
                    &policy,
                )
                .map(batch)
            }),
        )
        .await
        .expect("placing a valid order")
}

/// Load, decide, commit: one command on one order, inside the order's transaction.
pub async fn run(
    store: &dyn Store,
    order_id: OrderId,
    actor: Actor,
    command: Command,
    now: Timestamp,
) -> Result<Committed, StoreError> {
    let policy = Policy::default();
    store
        .transact(
            order_id,
            Box::new(move |order: Option<&Order>| {
                let order = order.ok_or(orderly_domain::Rejection::NotFound)?;
                orderly_domain::decide(order, command.clone(), actor, now, &policy).map(batch)
            }),
        )
        .await
}

/// The sample command for `action`, run as `actor`; it must succeed.
pub async fn act(
    store: &dyn Store,
    order_id: OrderId,
    actor: Actor,
    action: Action,
    now: Timestamp,
) -> Committed {
    let order = store
        .load_order(order_id)
        .await
        .expect("load")
        .expect("exists");
    let command = Command::sample(action, &order, &Policy::default());
    run(store, order_id, actor, command, now)
        .await
        .unwrap_or_else(|error| panic!("{action} by {actor:?}: {error}"))
}

/// An order cancelled by the seller's approval of the buyer's request: refunded, its
/// stock released, its timers cleared.
pub async fn cancelled_order(store: &dyn Store, now: Timestamp) -> OrderId {
    let order_id = requested_order(store, now).await;
    act(
        store,
        order_id,
        Actor::Seller(SELLER),
        Action::ApproveCancellation,
        now,
    )
    .await;
    order_id
}

/// An order placed, paid, verified and with a pending cancellation request.
pub async fn requested_order(store: &dyn Store, now: Timestamp) -> OrderId {
    let order_id = new_order_id();
    place(store, order_id, BUYER, now).await;
    act(store, order_id, Actor::Buyer(BUYER), Action::Pay, now).await;
    act(
        store,
        order_id,
        Actor::Admin(ADMIN),
        Action::VerifyPayment,
        now,
    )
    .await;
    act(
        store,
        order_id,
        Actor::Buyer(BUYER),
        Action::RequestCancellation,
        now,
    )
    .await;
    order_id
}
