//! Durable storage for orderly. One [`Store`] trait, two backends chosen by URL:
//! `sqlite://PATH` (the embedded default) and `postgres://...`.
//!
//! A command is one unit of work: the order's new events (append-only, `unique (order_id,
//! seq)`), its read-model rows (order summary with money columns guarded by CHECK
//! constraints, refunds, ledger entries, seller metrics), its deadline rows, its outbox rows
//! and its idempotency record are written in one transaction, or not at all.
//!
//! The store knows SQL and the domain's types; it knows nothing about HTTP.

#![forbid(unsafe_code)]

mod backend;
pub mod bench;
mod exec;
mod migrate;
pub mod postgres;
pub mod projection;
pub mod sqlite;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use orderly_domain::seller::SellerMetrics;
use orderly_domain::{
    AccountId, DeadlineKind, Event, Order, OrderId, ProductId, Rejection, Role, Status,
};

/// Most rows one page of a list returns (SPEC 13).
pub const PAGE_LIMIT_MAX: u32 = 100;
/// Most due deadlines or outbox messages one claim returns.
pub const CLAIM_BATCH_MAX: u32 = 500;

/// A writer's turn at the database, held for one write transaction: on SQLite the turn
/// every writer in the process queues for in arrival order (SQLite's own busy handler
/// polls, and under steady load a poller can starve); on PostgreSQL nothing, as row locks
/// order writers there.
pub(crate) type WriteTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No order with that id.
    #[error("no such order")]
    NotFound,
    /// Someone else changed the order first (optimistic concurrency) or the order exists.
    #[error("the order was changed concurrently; reload it and try again")]
    Conflict,
    /// The decision function refused the command; nothing was written.
    #[error(transparent)]
    Rejected(Rejection),
    /// Placing the order would take a product's stock below zero.
    #[error("not enough stock")]
    OutOfStock,
    /// A database constraint that guards an invariant refused the write: a bug upstream,
    /// caught before it could corrupt money.
    #[error("the database refused a write that breaks an invariant: {0}")]
    Invariant(String),
    /// The database cannot be reached or did not answer in time (connection refused or
    /// lost, pool exhausted, a statement or lock timeout, the writer queue full). Nothing
    /// was written; the caller may retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The disk is full: nothing was written, and writes succeed again once space is freed.
    #[error("the database's disk is full")]
    StorageFull,
    /// The request's idempotency key was claimed before (by this request's first try, or
    /// by another request): the command did not run, and this says what to answer.
    #[error("the idempotency key was used before")]
    KeyUsed(IdempotencyBegin),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl StoreError {
    /// Whether the failure is the database's state rather than the request's: retrying
    /// later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::StorageFull)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => return StoreError::Unavailable(error.to_string()),
            _ => {}
        }
        if let sqlx::Error::Database(database_error) = &error
            && let Some(code) = database_error.code()
            && let Some(transient) = transient_code(&code)
        {
            return transient;
        }
        if let sqlx::Error::Database(database_error) = &error {
            if let Some(constraint) = database_error.constraint() {
                return constraint_error(constraint);
            }
            if let Some(known) = sqlite_message_error(database_error.message()) {
                return known;
            }
        }
        StoreError::Other(anyhow::Error::new(error))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, message) = &error {
            if let Some(transient) = transient_code(&failure.extended_code.to_string()) {
                return transient;
            }
            if let Some(known) = message.as_deref().and_then(sqlite_message_error) {
                return known;
            }
        }
        StoreError::Other(anyhow::Error::new(error))
    }
}

/// SQLite names neither the constraint nor the key in a structured way: its message does.
fn sqlite_message_error(message: &str) -> Option<StoreError> {
    if message.contains("UNIQUE constraint failed: events.")
        || message.contains("UNIQUE constraint failed: orders.id")
    {
        return Some(StoreError::Conflict);
    }
    if message.contains("products_stock_not_negative") {
        return Some(StoreError::OutOfStock);
    }
    if message.contains("CHECK constraint failed") {
        return Some(StoreError::Invariant(message.to_owned()));
    }
    None
}

/// Database error codes that say "not now" rather than "never": SQLite's result codes
/// (numbers, possibly extended) and PostgreSQL's SQLSTATEs.
fn transient_code(code: &str) -> Option<StoreError> {
    if let Ok(number) = code.parse::<i32>() {
        return match number & 0xff {
            // SQLITE_FULL: "database or disk is full".
            13 => Some(StoreError::StorageFull),
            // SQLITE_IOERR (a write that failed, often for want of space), SQLITE_BUSY,
            // SQLITE_LOCKED, SQLITE_CANTOPEN.
            10 | 5 | 6 | 14 => Some(StoreError::Unavailable(format!("sqlite error {number}"))),
            _ => None,
        };
    }
    match code {
        // disk_full
        "53100" => Some(StoreError::StorageFull),
        // query_canceled (statement_timeout), lock_not_available (lock_timeout),
        // too_many_connections, admin/crash shutdown, cannot_connect_now.
        "57014" | "55P03" | "53300" | "57P01" | "57P02" | "57P03" => {
            Some(StoreError::Unavailable(format!("postgres error {code}")))
        }
        // Connection exceptions.
        code if code.starts_with("08") => {
            Some(StoreError::Unavailable(format!("postgres error {code}")))
        }
        _ => None,
    }
}

/// The one place constraint names get their meaning.
fn constraint_error(constraint: &str) -> StoreError {
    match constraint {
        "events_pkey" | "orders_pkey" => StoreError::Conflict,
        "products_stock_not_negative" => StoreError::OutOfStock,
        "orders_money_conserved"
        | "orders_refunds_within_payment"
        | "orders_escrow_not_negative"
        | "refunds_amount_minor_check"
        | "ledger_entries_amount_minor_check" => StoreError::Invariant(constraint.to_owned()),
        other => StoreError::Other(anyhow::anyhow!("constraint {other} refused the write")),
    }
}

/// What one command writes, besides what follows from the order itself.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The new events, in order.
    pub events: Vec<Event>,
    /// The order after them.
    pub order: Order,
    /// Messages to deliver at least once: emails, webhooks, admin-queue items.
    pub outbox: Vec<NewOutbox>,
    /// The response to replay for a retried request, stored with the change it answers.
    pub idempotency: Option<IdempotentResponse>,
    /// Stock changes, per product: negative reserves at placement, positive releases.
    pub stock: Vec<(ProductId, i64)>,
    /// For a new order: the most unpaid orders its buyer may have, counted inside the
    /// transaction so that concurrent placements cannot pass it together.
    pub unpaid_orders_max: Option<u32>,
    /// Work-queue items the events open, and open items they settle (SPEC 16.3).
    pub queue: Vec<NewQueueItem>,
    pub queue_resolutions: Vec<QueueResolution>,
    /// The bytes of an evidence file the events record.
    pub evidence: Option<NewEvidence>,
}

impl From<orderly_domain::Decision> for Batch {
    /// The batch of a decision alone: no outbox rows, no stock changes, no idempotent
    /// response.
    fn from(decision: orderly_domain::Decision) -> Self {
        Batch {
            events: decision.events,
            order: decision.order,
            outbox: Vec::new(),
            idempotency: None,
            stock: Vec::new(),
            unpaid_orders_max: None,
            queue: Vec::new(),
            queue_resolutions: Vec::new(),
            evidence: None,
        }
    }
}

/// A work-queue item to open with a command (SPEC 16.3). A second item with the same
/// order, kind and reference is not created: a repeated cause is one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewQueueItem {
    pub id: uuid::Uuid,
    /// `cancellation_escalated`, `claim_escalated`, `complaint`, `refund_overdue`,
    /// `support_request`, `payment_verification` or `delivery_dead`.
    pub kind: String,
    /// What distinguishes causes of one kind on one order (a refund's number, an event's
    /// seq).
    pub reference: String,
    pub summary: String,
    pub due_at: Option<Timestamp>,
}

/// Open items that a command settles: of `kind` on the command's order, with `reference`
/// when given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueResolution {
    pub kind: String,
    pub reference: Option<String>,
    pub note: String,
}

/// One item of the support desk's work queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueItem {
    pub id: uuid::Uuid,
    pub kind: String,
    pub order_id: OrderId,
    pub seller_id: AccountId,
    pub reference: String,
    pub summary: String,
    /// `open` or `done`.
    pub status: String,
    pub due_at: Option<Timestamp>,
    pub assignee_id: Option<AccountId>,
    pub resolved_at: Option<Timestamp>,
    /// Who resolved it; `None` when the order's own action settled it.
    pub resolved_by: Option<AccountId>,
    pub resolution_note: Option<String>,
    pub created_at: Timestamp,
}

/// Where a page of the queue starts: after this item in the queue's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueCursor {
    pub open: bool,
    /// `None` sorts after every due time.
    pub due_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub id: uuid::Uuid,
}

impl QueueCursor {
    /// An opaque text form for URLs.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            u8::from(!self.open),
            self.due_at.map_or(i64::MAX, micros),
            micros(self.created_at),
            self.id.simple()
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let closed: u8 = parts.next()?.parse().ok()?;
        let due: i64 = parts.next()?.parse().ok()?;
        let created: i64 = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        if parts.next().is_some() || closed > 1 {
            return None;
        }
        let due_at = (due != i64::MAX).then(|| cursor_time(due));
        Some(Self {
            open: closed == 0,
            due_at: due_at.filter(|due| *due != Timestamp::MAX),
            created_at: cursor_time(created),
            id,
        })
    }
}

/// A cursor's time: any well-formed cursor names a position, and one before the first or
/// past the last representable time sorts before or after every item (a full or an empty
/// page), not an error.
fn cursor_time(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(if micros < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A queue listing: open items first by due time (none last), then by creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueFilter {
    pub kind: Option<String>,
    /// `open`, `done`, or both when `None`.
    pub status: Option<String>,
    pub order_id: Option<OrderId>,
    pub after: Option<QueueCursor>,
    pub limit: u32,
}

/// One page of the queue and where the next starts.
#[derive(Clone, Debug)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub next: Option<QueueCursor>,
}

/// A penalty for a seller: automatic (from an order's `penalty_applied` event) or by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Penalty {
    pub id: i64,
    pub seller_id: AccountId,
    pub order_id: Option<OrderId>,
    pub points: u32,
    pub reason: String,
    /// `automatic` or `manual`.
    pub source: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoke_note: Option<String>,
}

/// An evidence file's bytes, written with the command that records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvidence {
    pub id: orderly_domain::EvidenceId,
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// `buyer` or `seller`.
    pub uploaded_by: String,
}

/// An evidence file as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceFile {
    pub id: orderly_domain::EvidenceId,
    pub order_id: OrderId,
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A carrier or payment provider that may call in (SPEC 16.6). Its secret is not stored:
/// it is derived from the service's signing key, the id and `secret_version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub id: uuid::Uuid,
    /// `carrier` or `payment`.
    pub kind: String,
    pub name: String,
    pub secret_version: u32,
    /// The version before the last rotation, valid until `previous_valid_until`.
    pub previous_version: Option<u32>,
    pub previous_valid_until: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A signed-in party: buyer, seller or admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub role: Role,
    pub name: String,
    /// Where e-mails go (SPEC 16.1); none means the account gets none.
    pub email: Option<String>,
    pub created_at: Timestamp,
    /// When its token was revoked; a revoked account cannot sign in or act.
    pub revoked_at: Option<Timestamp>,
}

/// A signed-in browser (SPEC 16.5): whose it is and the CSRF token its forms carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// What a one-time sign-in link opens: the account, and where to go after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigninLink {
    pub account_id: AccountId,
    pub return_to: Option<String>,
}

/// Which products to list: one seller's, or everyone's; newest first, from `after`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub seller_id: Option<AccountId>,
    /// The id of the last product of the previous page.
    pub after: Option<ProductId>,
    pub limit: u32,
}

/// A seller's change to a product: each field left `None` stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductChange {
    pub title: Option<String>,
    pub price_minor: Option<i64>,
    pub shipping_fee_minor: Option<i64>,
    pub stock: Option<i64>,
    pub processing_days: Option<u32>,
}

/// A product of a seller's catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub seller_id: AccountId,
    pub title: String,
    pub currency: String,
    pub price_minor: i64,
    pub shipping_fee_minor: i64,
    pub stock: i64,
    pub processing_days: u32,
    pub created_at: Timestamp,
}

/// One message for the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOutbox {
    /// `webhook`, `email` or `admin_queue`.
    pub topic: String,
    /// Stable across retries so receivers can de-duplicate, e.g. `webhook:{order}:{seq}`.
    pub dedupe_key: String,
    /// JSON.
    pub payload: String,
}

/// The first answer to an idempotent request. It is stored only while the reservation
/// still belongs to `owner`: a request whose key was taken over by a retry (because it
/// ran too long) can store neither its answer nor, in the same transaction, its work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotentResponse {
    pub account_id: AccountId,
    pub key: String,
    /// The reservation this request holds (from [`IdempotencyBegin::Started`]).
    pub owner: String,
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// An event as stored: with its sequence number within the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub event: Event,
}

/// What a successful command left behind.
#[derive(Clone, Debug)]
pub struct Committed {
    pub order: Order,
    pub events: Vec<StoredEvent>,
    /// The answer stored with the command for its idempotency key (status, body), when
    /// it had one: the caller sends it as it is instead of rendering it a second time.
    pub answer: Option<(u16, String)>,
}

/// The decision function run inside the order's transaction: it gets the current order
/// (`None` when it does not exist yet) and returns what to write, or a rejection. Owned,
/// because SQLite hands it to the single writer thread that groups commits. It may be
/// called more than once (a group commit undone and run again): given the same order it
/// must give the same batch, so whatever it captures is cloned, never taken.
pub type Decide = Box<dyn FnMut(Option<&Order>) -> Result<Batch, Rejection> + Send>;

/// One write, as the backends queue and perform it.
pub(crate) enum Write {
    Decide {
        order_id: OrderId,
        decide: Decide,
    },
    Append {
        expected_version: u64,
        batch: Box<Batch>,
    },
}

impl Write {
    /// The order written to.
    pub(crate) fn order_id(&self) -> OrderId {
        match self {
            Write::Decide { order_id, .. } => *order_id,
            Write::Append { batch, .. } => batch.order.id,
        }
    }
}

/// A request's claim on its idempotency key, made before the request runs (or, with
/// [`Store::transact_claimed`], in the same commit as its command).
#[derive(Clone, Debug)]
pub struct Reservation {
    pub account_id: AccountId,
    pub key: String,
    pub fingerprint: String,
    pub owner: String,
    pub now: Timestamp,
    /// A reservation unanswered this long is taken over by the next request.
    pub stale_secs: i64,
}

/// Whose orders a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    Buyer(AccountId),
    Seller(AccountId),
    /// Admins see every order.
    Everyone,
}

/// Where a page of orders starts: after this (placed_at, id), newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub placed_at: Timestamp,
    pub id: OrderId,
}

impl Cursor {
    /// An opaque text form for URLs.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.placed_at.as_microsecond(),
            self.id.as_uuid().simple()
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('.')?;
        Some(Self {
            placed_at: cursor_time(micros.parse().ok()?),
            id: OrderId::from_uuid(id.parse().ok()?),
        })
    }
}

/// A list request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderFilter {
    pub viewer: Viewer,
    pub status: Option<Status>,
    pub after: Option<Cursor>,
    /// 1 to [`PAGE_LIMIT_MAX`].
    pub limit: u32,
}

/// One page, newest first, and where the next starts.
#[derive(Clone, Debug)]
pub struct Page {
    pub orders: Vec<Order>,
    pub next: Option<Cursor>,
}

/// A deadline claimed for firing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueDeadline {
    pub order_id: OrderId,
    pub kind: DeadlineKind,
    pub due_at: Timestamp,
}

/// An outbox message claimed for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub order_id: OrderId,
    pub topic: String,
    pub dedupe_key: String,
    pub payload: String,
    pub attempts: u32,
    /// When its first attempt failed; it is given up a while after that.
    pub first_failed_at: Option<Timestamp>,
}

/// An outbox message as the admin's outbox list shows it (SPEC 16.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub order_id: OrderId,
    /// `webhook` or `email`.
    pub topic: String,
    pub dedupe_key: String,
    pub payload: String,
    /// `pending`, `dead`, `delivered` or `skipped`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub dead_at: Option<Timestamp>,
}

/// What the outbox holds, per topic and status: the backlog gauges of `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub counts: Vec<(String, String, u64)>,
}

/// The state of an idempotency key when a request arrives (SPEC 15.20).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time (or a stale reservation taken over): the key is now reserved for this
    /// request, under the owner it passed in.
    Started,
    /// The same key with another request: 422.
    Mismatch,
    /// The first request with this key is still running: 409.
    InFlight,
    /// Answered before: replay this.
    Done { status: u16, body: String },
}

/// Counts of what an integrity check looked at, and what it found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integrity {
    pub orders: u64,
    pub events: u64,
    pub problems: Vec<String>,
}

/// orderly's storage. Object-safe: the rest of the code holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync {
    /// Applies the embedded migrations that have not run yet.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Runs `decide` on the order with the order locked (PostgreSQL: `select ... for
    /// update`; SQLite: `begin immediate`), then writes its batch, in one transaction.
    async fn transact(&self, order_id: OrderId, decide: Decide) -> Result<Committed, StoreError>;

    /// Claims the request's idempotency key and, when the claim is this request's, runs
    /// `decide` as [`Store::transact`] does; otherwise [`StoreError::KeyUsed`] says what
    /// became of the key, and nothing ran. The claim commits with the command (SQLite: in
    /// its group commit; PostgreSQL: in its transaction, made by the statement that locks
    /// the order); it stays claimed when the command is refused, so that the refusal can
    /// be stored as the key's answer.
    async fn transact_claimed(
        &self,
        order_id: OrderId,
        claim: Reservation,
        decide: Decide,
    ) -> Result<Committed, StoreError>;

    /// Writes a batch computed outside a transaction, if the order is still at
    /// `expected_version` (0 for a new order); otherwise [`StoreError::Conflict`].
    async fn append(&self, expected_version: u64, batch: Batch) -> Result<Committed, StoreError>;

    /// The order as of its latest event.
    async fn load_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError>;

    /// The order's history, oldest first.
    async fn order_events(&self, order_id: OrderId) -> Result<Vec<StoredEvent>, StoreError>;

    /// A page of the order's history, oldest first: events after `after_seq`, at most
    /// `limit` (1 to [`PAGE_LIMIT_MAX`]), only of `kind` when given. The second value is
    /// the seq to continue after, when there is more.
    async fn order_events_page(
        &self,
        order_id: OrderId,
        after_seq: u64,
        limit: u32,
        kind: Option<&str>,
    ) -> Result<(Vec<StoredEvent>, Option<u64>), StoreError>;

    /// A page of orders, newest first.
    async fn list_orders(&self, filter: OrderFilter) -> Result<Page, StoreError>;

    /// A seller's counts over the days from `since` on.
    async fn seller_metrics(
        &self,
        seller_id: AccountId,
        since: Timestamp,
    ) -> Result<SellerMetrics, StoreError>;

    /// Claims up to `limit` running deadlines due at `now`, earliest first, for `lease`
    /// seconds; several processes never claim the same deadline at once.
    async fn claim_due_deadlines(
        &self,
        now: Timestamp,
        limit: u32,
        lease_secs: i64,
    ) -> Result<Vec<DueDeadline>, StoreError>;

    /// The earliest running deadline not claimed by anyone at `now`, for the scheduler's
    /// sleep and the test clock's steps.
    async fn next_deadline(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;

    /// Claims up to `limit` messages of `topic` ready at `now`: per order and topic, only
    /// the oldest undelivered, so each receiver sees an order's messages in order.
    async fn claim_outbox(
        &self,
        topic: &str,
        now: Timestamp,
        limit: u32,
        lease_secs: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError>;

    async fn outbox_delivered(&self, id: i64, now: Timestamp) -> Result<(), StoreError>;

    /// Records a failed attempt: retried at `retry_at`, or given up (`None`): then the
    /// message is `dead` (kept, and it holds back its order's later messages of the topic)
    /// and a `delivery_dead` queue item is opened in the same transaction.
    async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Undelivered messages (excluding dead and skipped ones): the backlog.
    async fn outbox_backlog(&self) -> Result<u64, StoreError>;

    /// How many messages each topic holds in each status.
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;

    /// The outbox, newest first: of `status` (`pending`, `dead`, `delivered`, `skipped`)
    /// and `topic` when given, before the message `before` (a page cursor), at most
    /// `limit`.
    async fn outbox_list(
        &self,
        status: Option<&str>,
        topic: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError>;

    /// Sends a dead (or skipped) message again from now, with a fresh give-up window; its
    /// `delivery_dead` queue item is resolved. `None` when there is no such message.
    async fn outbox_retry(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<OutboxEntry>, StoreError>;

    /// Gives up a pending or dead message for good, so the order's later messages of the
    /// same topic go; its `delivery_dead` queue item is resolved.
    async fn outbox_skip(&self, id: i64, now: Timestamp)
    -> Result<Option<OutboxEntry>, StoreError>;

    /// Deletes messages delivered before `before`; returns how many.
    async fn outbox_purge_delivered(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Registers an integration, with the request's answer in the same transaction.
    async fn create_integration(
        &self,
        integration: &Integration,
        answer: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError>;

    async fn integration(&self, id: uuid::Uuid) -> Result<Option<Integration>, StoreError>;

    /// Every integration, newest first.
    async fn integrations(&self) -> Result<Vec<Integration>, StoreError>;

    /// Writes an integration's new secret version (rotation) or revocation.
    async fn update_integration(
        &self,
        integration: &Integration,
        now: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError>;

    /// The order a carrier's shipment belongs to: the latest shipped with that carrier
    /// (compared without case and spaces at the ends) and tracking number.
    async fn order_by_shipment(
        &self,
        carrier: &str,
        tracking_number: &str,
    ) -> Result<Option<OrderId>, StoreError>;

    /// The setting `key`, if it has one.
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// The setting `key`, set to `value` first if it has none; returns the value kept.
    async fn setting_or_insert(
        &self,
        key: &str,
        value: &str,
        now: Timestamp,
    ) -> Result<String, StoreError>;

    /// Sets (or removes) an account's e-mail address; `false` when there is no account.
    async fn set_account_email(
        &self,
        id: AccountId,
        email: Option<&str>,
        now: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<bool, StoreError>;

    /// Reserves an idempotency key for `owner`, or says what happened to it before. A
    /// reservation older than `stale_secs` whose request never finished is taken over:
    /// it then belongs to the new owner, and the old one can no longer store anything.
    async fn idempotency_begin(
        &self,
        account_id: AccountId,
        key: &str,
        fingerprint: &str,
        owner: &str,
        now: Timestamp,
        stale_secs: i64,
    ) -> Result<IdempotencyBegin, StoreError>;

    /// Stores the answer of a request that wrote nothing (a refusal), if the reservation
    /// is still the response's owner's.
    async fn idempotency_finish(
        &self,
        response: IdempotentResponse,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Releases a reservation whose request failed unexpectedly, so a retry can run.
    async fn idempotency_release(&self, account_id: AccountId, key: &str)
    -> Result<(), StoreError>;

    /// Deletes records created before `before`, and each account's oldest records beyond
    /// `per_account_max`; returns how many.
    async fn idempotency_purge(
        &self,
        before: Timestamp,
        per_account_max: u32,
    ) -> Result<u64, StoreError>;

    /// Rebuilds every read model from the event log.
    async fn rebuild_projections(&self) -> Result<Integrity, StoreError>;

    /// Compares every read model with the event log.
    async fn check_integrity(&self) -> Result<Integrity, StoreError>;

    /// Whether the database answers (and, on SQLite after a full disk, has room again).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates an account whose API token hashes to `token_hash`, with the request's
    /// idempotent answer in the same transaction.
    async fn create_account(
        &self,
        account: &Account,
        token_hash: &str,
        answer: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError>;

    /// The account a token belongs to, unless revoked.
    async fn account_by_token(&self, token_hash: &str) -> Result<Option<Account>, StoreError>;

    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// The accounts, not revoked, whose e-mail address is `email` (compared without case):
    /// one person may hold a buyer's and a seller's account.
    async fn accounts_by_email(&self, email: &str) -> Result<Vec<Account>, StoreError>;

    /// Revokes the account's token; returns whether there was one to revoke. The answer is
    /// stored in the same transaction.
    async fn revoke_token(
        &self,
        id: AccountId,
        now: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<bool, StoreError>;

    /// Adds a product, with the request's idempotent answer in the same transaction.
    async fn create_product(
        &self,
        product: &Product,
        answer: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError>;

    /// A page of the work queue.
    async fn list_queue(&self, filter: QueueFilter) -> Result<QueuePage, StoreError>;

    async fn queue_item(&self, id: uuid::Uuid) -> Result<Option<QueueItem>, StoreError>;

    /// Assigns an item (or unassigns it with `None`); the item after, or `None` if there is
    /// no such item.
    async fn assign_queue_item(
        &self,
        id: uuid::Uuid,
        assignee: Option<AccountId>,
        now: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<Option<QueueItem>, StoreError>;

    /// Resolves an open item by hand with a note; the item after, or `None` if there is no
    /// such item. Resolving a resolved item changes nothing.
    async fn resolve_queue_item(
        &self,
        id: uuid::Uuid,
        by: AccountId,
        note: &str,
        now: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<Option<QueueItem>, StoreError>;

    /// Adds a penalty by hand; returns it with its id.
    async fn add_penalty(
        &self,
        seller_id: AccountId,
        points: u32,
        reason: &str,
        now: Timestamp,
        answer: Option<&(dyn for<'p> Fn(&'p Penalty) -> IdempotentResponse + Sync)>,
    ) -> Result<Penalty, StoreError>;

    /// Revokes a seller's penalty with a note; the penalty after, or `None` if the seller
    /// has no such penalty. Revoking twice keeps the first revocation.
    async fn revoke_penalty(
        &self,
        seller_id: AccountId,
        id: i64,
        note: &str,
        now: Timestamp,
        answer: Option<&(dyn for<'p> Fn(&'p Penalty) -> IdempotentResponse + Sync)>,
    ) -> Result<Option<Penalty>, StoreError>;

    /// Every penalty of a seller, newest first.
    async fn penalties(&self, seller_id: AccountId) -> Result<Vec<Penalty>, StoreError>;

    /// Points of the seller's penalties created from `since` on and not revoked.
    async fn penalty_points(
        &self,
        seller_id: AccountId,
        since: Timestamp,
    ) -> Result<u32, StoreError>;

    /// An evidence file of an order.
    async fn evidence_file(
        &self,
        order_id: OrderId,
        id: orderly_domain::EvidenceId,
    ) -> Result<Option<EvidenceFile>, StoreError>;

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError>;

    /// Products newest first, one seller's or all, a page at a time (`limit` clamped).
    async fn list_products(&self, filter: ProductFilter) -> Result<Vec<Product>, StoreError>;

    /// Changes a product of `seller_id`; the product after, or `None` when that seller has
    /// no such product. The answer is stored in the same transaction.
    async fn update_product(
        &self,
        id: ProductId,
        seller_id: AccountId,
        change: &ProductChange,
        now: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<Option<Product>, StoreError>;

    /// Accounts newest first, of one role or all, a page at a time (`limit` clamped).
    async fn list_accounts(
        &self,
        role: Option<Role>,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<Account>, StoreError>;

    /// Starts a session whose id hashes to `id_hash`, until `expires_at`.
    async fn create_session(
        &self,
        id_hash: &str,
        account_id: AccountId,
        csrf: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The live session with that id hash, if its account is not revoked.
    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<Session>, StoreError>;

    /// Ends a session (signing out); ending one that is gone is harmless.
    async fn end_session(&self, id_hash: &str) -> Result<(), StoreError>;

    /// Keeps a one-time sign-in link whose token hashes to `token_hash`, with the request's
    /// idempotent answer in the same transaction.
    async fn create_signin_link(
        &self,
        token_hash: &str,
        account_id: AccountId,
        return_to: Option<&str>,
        now: Timestamp,
        expires_at: Timestamp,
        answer: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError>;

    /// Uses a sign-in link: once, before it expires, for an account not revoked. `None`
    /// when it is unknown, used, expired or its account revoked.
    async fn redeem_signin_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SigninLink>, StoreError>;

    /// The orders whose number (the last ten hex digits of the id, as e-mails and pages
    /// show it) is `number`.
    async fn orders_by_number(&self, number: &str) -> Result<Vec<OrderId>, StoreError>;

    /// Deletes sessions and sign-in links that expired before `before`; how many.
    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// How the store waits, and how SQLite is tuned. Every wait is bounded, so that a database
/// that cannot be reached answers "unavailable" quickly instead of hanging requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite: `FULL` (default) or `NORMAL`; see `docs/performance.md`.
    pub synchronous: String,
    /// SQLite: how long a statement waits for another process's lock.
    pub busy_timeout_ms: u64,
    /// How long a request waits for a pooled connection (PostgreSQL: including opening
    /// one) before it is answered 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`: the longest one statement may run.
    pub statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout`: the longest a statement waits for a row lock.
    pub lock_timeout_ms: u64,
    /// SQLite: how long a command may wait in the writer's queue before it is answered
    /// 503 without being run.
    pub write_queue_timeout_ms: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            synchronous: "FULL".into(),
            busy_timeout_ms: 1_000,
            acquire_timeout_ms: 750,
            statement_timeout_ms: 5_000,
            lock_timeout_ms: 2_000,
            write_queue_timeout_ms: 1_000,
        }
    }
}

/// Opens the store the URL names and runs its migrations.
pub async fn connect(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(sqlite::SqliteStore::open(url, options).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(postgres::PostgresStore::open(url, options).await?)
    } else {
        return Err(StoreError::Other(anyhow::anyhow!(
            "unsupported database url `{}`: use sqlite://PATH or postgres://...",
            redact_url(url)
        )));
    };
    store.migrate().await?;
    Ok(store)
}

/// Whether the database the URL names is there already. A SQLite file is looked for on
/// disk (an in-memory database always is); a PostgreSQL database is taken to be, since
/// connecting to a missing one fails by itself.
pub fn database_exists(url: &str) -> bool {
    if !url.starts_with("sqlite:") {
        return true;
    }
    match <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url) {
        Ok(options) => {
            let file = options.get_filename();
            file.as_os_str().is_empty() || file.as_os_str() == ":memory:" || file.exists()
        }
        Err(_) => false,
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

pub(crate) fn from_micros(value: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(value).map_err(|error| {
        StoreError::Other(anyhow::anyhow!(
            "stored time {value} is out of range: {error}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://orderly:secret@db:5432/orderly"),
            "postgres://orderly:***@db:5432/orderly"
        );
        assert_eq!(redact_url("sqlite://orderly.db"), "sqlite://orderly.db");
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            placed_at: Timestamp::from_second(1_800_000_000).expect("valid"),
            id: OrderId::from_uuid(uuid::Uuid::from_u128(42)),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("nonsense"), None);
        let past_the_end = Cursor::decode(&format!("{}.{}", i64::MAX, "0".repeat(32)));
        assert_eq!(
            past_the_end.map(|cursor| cursor.placed_at),
            Some(Timestamp::MAX)
        );

        let queue = QueueCursor {
            open: true,
            due_at: Some(Timestamp::from_second(1_800_000_000).expect("valid")),
            created_at: Timestamp::from_second(1_700_000_000).expect("valid"),
            id: uuid::Uuid::from_u128(7),
        };
        assert_eq!(QueueCursor::decode(&queue.encode()), Some(queue));
        let undue = QueueCursor {
            due_at: None,
            ..queue
        };
        assert_eq!(QueueCursor::decode(&undue.encode()), Some(undue));
        // A well-formed cursor whose times no order can have still names a position.
        let far = QueueCursor::decode(&format!(
            "0.4652059239352651574.{}.{}",
            i64::MIN,
            "e".repeat(32)
        ));
        assert_eq!(
            far.map(|cursor| (cursor.due_at, cursor.created_at)),
            Some((None, Timestamp::MIN))
        );
        assert_eq!(QueueCursor::decode("2.1.1.x"), None);
    }
}
