//! What one command writes, written once for both backends on top of [`Exec`]: read the
//! order (locked, on PostgreSQL), decide, then the order row, its events, its read-model
//! rows, its outbox messages and its idempotency answer. Also the claim on an idempotency
//! key, and the few reads that every request makes (its account, the order), so that on
//! SQLite they run on rusqlite connections like the writes.

use orderly_domain::{AccountId, Order, OrderId};

use crate::exec::{Column, Exec, Row, Statement};
use crate::projection::{self, Rows};
use crate::{
    Batch, Committed, IdempotencyBegin, IdempotentResponse, Reservation, StoreError, StoredEvent,
    Write, from_micros, micros,
};

/// Runs one write inside the caller's transaction: reads the order with its lock, decides
/// (or checks the expected version), and writes the batch. The caller begins and commits,
/// so several writes can share one commit. The write is borrowed, so that a caller whose
/// transaction was undone can perform it again: a decision is a pure function of the order
/// it is given, and gives the same batch again.
pub(crate) async fn perform<E: Exec>(
    connection: &mut E,
    write: &mut Write,
    decoded: Option<&mut Decoded>,
) -> Result<Committed, StoreError> {
    let before = load_order(
        connection,
        write.order_id(),
        E::LOCK_ORDER,
        decoded.as_deref(),
    )
    .await?;
    perform_loaded(connection, write, before, decoded).await
}

/// The orders the SQLite writer wrote last, decoded: most commands follow another on the
/// same order within moments, and skip decoding (and checking) its stored state again.
/// An entry is believed only when the state read in the command's own transaction is the
/// very text it was written as, so an entry from a group that was undone, or of an order
/// another process changed since, is never used.
#[derive(Default)]
pub(crate) struct Decoded {
    entries: std::collections::HashMap<OrderId, (String, Order)>,
    arrivals: std::collections::VecDeque<OrderId>,
}

impl Decoded {
    /// Orders kept: the ones in flight in a busy marketplace's last seconds.
    const MAX: usize = 256;

    fn get(&self, order_id: OrderId, state: &str, version: i64) -> Option<Order> {
        let (text, order) = self.entries.get(&order_id)?;
        (text == state && order.version as i64 == version).then(|| order.clone())
    }

    fn put(&mut self, order: Order, state: String) {
        let order_id = order.id;
        if self.entries.insert(order_id, (state, order)).is_none() {
            self.arrivals.push_back(order_id);
        }
        while self.arrivals.len() > Self::MAX {
            if let Some(oldest) = self.arrivals.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }
}

/// [`perform`] with the order already read (and locked). A refusal
/// ([`StoreError::Rejected`]) comes before anything is written: the caller may commit what
/// it did before (a key's claim) without the command.
pub(crate) async fn perform_loaded<E: Exec>(
    connection: &mut E,
    write: &mut Write,
    before: Option<Order>,
    decoded: Option<&mut Decoded>,
) -> Result<Committed, StoreError> {
    match write {
        Write::Decide { order_id, decide } => {
            let order_id = *order_id;
            // A panic is a bug in one decision: it fails this command alone, not the
            // other commands sharing its transaction, nor the writer.
            let decided =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(before.as_ref())))
                    .map_err(|panic| {
                        StoreError::Other(anyhow::anyhow!(
                            "the decision for order {order_id} panicked: {}",
                            panic_message(&panic)
                        ))
                    })?;
            let batch = decided.map_err(StoreError::Rejected)?;
            assert_eq!(
                batch.order.id, order_id,
                "a command's batch belongs to its order"
            );
            let events = write_batch(connection, before.as_ref(), &batch, decoded).await?;
            Ok(committed(batch, events))
        }
        Write::Append {
            expected_version,
            batch,
        } => {
            let version = before.as_ref().map_or(0, |order| order.version);
            if version != *expected_version {
                return Err(StoreError::Conflict);
            }
            let events = write_batch(connection, before.as_ref(), batch, decoded).await?;
            Ok(committed((**batch).clone(), events))
        }
    }
}

/// PostgreSQL: claims the idempotency key and reads the order locked, in one statement
/// (one round trip instead of two, and the claim commits with the command). `None` when
/// the key was not free: [`reserve_key`] then says why, after a rollback.
pub(crate) async fn claim_and_lock<E: Exec>(
    connection: &mut E,
    order_id: OrderId,
    claim: &Reservation,
) -> Result<Option<Option<Order>>, StoreError> {
    let mut row = connection
        .fetch_optional(
            &Statement::new(
                "with claim as (insert into idempotency_keys (account_id, key, fingerprint, owner, status, response, created_at, updated_at) \
                 values ($2, $3, $4, $5, null, null, $6, $6) on conflict (account_id, key) do nothing returning 1) \
                 select (select count(*) from claim), o.state, o.version from (select 1) as one \
                 left join lateral (select state, version from orders where id = $1 for update) as o on true",
            )
            .bind(order_id.to_string())
            .bind(claim.account_id.to_string())
            .bind(&claim.key)
            .bind(&claim.fingerprint)
            .bind(&claim.owner)
            .bind(micros(claim.now)),
            &[Column::Int, Column::OptText, Column::OptInt],
        )
        .await?
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("claiming a key answered no row")))?;
    if row.int(0)? != 1 {
        return Ok(None);
    }
    match (row.opt_text(1)?, row.opt_int(2)?) {
        (Some(state), Some(version)) => {
            decode_loaded(order_id, &state, version).map(|order| Some(Some(order)))
        }
        _ => Ok(Some(None)),
    }
}

/// What a caller learns of its committed batch.
fn committed(batch: Batch, events: Vec<StoredEvent>) -> Committed {
    Committed {
        order: batch.order,
        events,
        answer: batch
            .idempotency
            .map(|response| (response.status, response.body)),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The order's state from its row (read with `sql`), checked against its invariants (bugs
/// assert at both ends: after `apply`, and when loading) unless `decoded` holds it as
/// written.
pub(crate) async fn load_order<E: Exec>(
    connection: &mut E,
    order_id: OrderId,
    sql: &'static str,
    decoded: Option<&Decoded>,
) -> Result<Option<Order>, StoreError> {
    let row = connection
        .fetch_optional(
            &Statement::new(sql).bind(order_id.to_string()),
            &[Column::Text, Column::Int],
        )
        .await?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    let (state, version) = (row.text(0)?, row.int(1)?);
    match decoded.and_then(|decoded| decoded.get(order_id, &state, version)) {
        Some(order) => Ok(Some(order)),
        None => decode_loaded(order_id, &state, version).map(Some),
    }
}

/// An order from its stored state and version, checked.
fn decode_loaded(order_id: OrderId, state: &str, version: i64) -> Result<Order, StoreError> {
    let order = decode_order(state)?;
    if order.version as i64 != version {
        return Err(StoreError::Other(anyhow::anyhow!(
            "order {order_id}: stored version {version} differs from its state's {}",
            order.version
        )));
    }
    if let Err(broken) = order.check_invariants() {
        return Err(StoreError::Invariant(format!(
            "order {order_id} as loaded: {broken}"
        )));
    }
    Ok(order)
}

pub(crate) fn decode_order(state: &str) -> Result<Order, StoreError> {
    serde_json::from_str(state)
        .map_err(|error| StoreError::Other(anyhow::anyhow!("stored order state: {error}")))
}

/// Claims an idempotency key for a request about to run, or says why not: the statements
/// of [`crate::Store::idempotency_begin`], on the connection given (inside the SQLite
/// writer's group transaction, or on its own on PostgreSQL).
pub(crate) async fn reserve_key<E: Exec>(
    connection: &mut E,
    reservation: &Reservation,
) -> Result<IdempotencyBegin, StoreError> {
    let Reservation {
        account_id,
        key,
        fingerprint,
        owner,
        now,
        stale_secs,
    } = reservation;
    let account = account_id.to_string();
    let now = micros(*now);
    let inserted = connection
        .execute(
            &Statement::new(
                "insert into idempotency_keys (account_id, key, fingerprint, owner, status, response, created_at, updated_at) \
                 values ($1, $2, $3, $4, null, null, $5, $5) on conflict (account_id, key) do nothing",
            )
            .bind(&account)
            .bind(key)
            .bind(fingerprint)
            .bind(owner)
            .bind(now),
        )
        .await?;
    if inserted == 1 {
        return Ok(IdempotencyBegin::Started);
    }
    let row = connection
        .fetch_optional(
            &Statement::new(
                "select fingerprint, status, response, updated_at from idempotency_keys \
                 where account_id = $1 and key = $2",
            )
            .bind(&account)
            .bind(key),
            &[Column::Text, Column::OptInt, Column::OptText, Column::Int],
        )
        .await?;
    let Some(mut row) = row else {
        // Purged between the two statements (PostgreSQL runs them apart): start over once.
        return Ok(IdempotencyBegin::InFlight);
    };
    if row.text(0)? != *fingerprint {
        return Ok(IdempotencyBegin::Mismatch);
    }
    if let Some(status) = row.opt_int(1)? {
        return Ok(IdempotencyBegin::Done {
            status: u16::try_from(status).unwrap_or(500),
            body: row.opt_text(2)?.unwrap_or_default(),
        });
    }
    let updated_at = row.int(3)?;
    if updated_at < now - stale_secs * 1_000_000 {
        let taken = connection
            .execute(
                &Statement::new(
                    "update idempotency_keys set updated_at = $1, owner = $5 \
                     where account_id = $2 and key = $3 and status is null and updated_at = $4",
                )
                .bind(now)
                .bind(&account)
                .bind(key)
                .bind(updated_at)
                .bind(owner),
            )
            .await?;
        if taken == 1 {
            return Ok(IdempotencyBegin::Started);
        }
    }
    Ok(IdempotencyBegin::InFlight)
}

/// Stores the answer on the key's reservation, if `response.owner` still holds it;
/// otherwise (taken over by a retry) [`StoreError::Conflict`], which undoes the
/// transaction the answer was to be part of.
pub(crate) async fn write_idempotency<E: Exec>(
    connection: &mut E,
    response: &IdempotentResponse,
    now: i64,
) -> Result<(), StoreError> {
    let mut unit = Unit::default();
    unit.push_changing_one(idempotency_answer(response, now));
    unit.run(connection).await
}

/// The statement of [`write_idempotency`]: the answer on the request's claim, or, on
/// SQLite, where the writer claims a free key with the command's own row ([`key_is_free`]),
/// the key's one row with its answer. It changes one row unless the key was taken over.
fn idempotency_answer<'a>(response: &'a IdempotentResponse, now: i64) -> Statement<'a> {
    Statement::new(
        "insert into idempotency_keys (account_id, key, fingerprint, owner, status, response, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $7) \
         on conflict (account_id, key) do update set status = excluded.status, response = excluded.response, \
         updated_at = excluded.updated_at \
         where idempotency_keys.owner = excluded.owner and idempotency_keys.fingerprint = excluded.fingerprint \
         and idempotency_keys.status is null",
    )
    .bind(response.account_id.to_string())
    .bind(&response.key)
    .bind(&response.fingerprint)
    .bind(&response.owner)
    .bind(i64::from(response.status))
    .bind(&response.body)
    .bind(now)
}

/// Whether no request has used the key yet (one index probe): then the SQLite writer
/// runs the command without claiming it first, and the key's row is written once, with
/// the command's answer.
pub(crate) async fn key_is_free<E: Exec>(
    connection: &mut E,
    reservation: &Reservation,
) -> Result<bool, StoreError> {
    let row = connection
        .fetch_optional(
            &Statement::new("select 1 from idempotency_keys where account_id = $1 and key = $2")
                .bind(reservation.account_id.to_string())
                .bind(&reservation.key),
            &[Column::Int],
        )
        .await?;
    Ok(row.is_none())
}

/// Stores the answer of a request that wrote nothing (a refusal) on its key: on the
/// reservation if `response.owner` still holds it, or as a new record when the request
/// was refused before its claim was made (a command claims its key in its own commit).
/// A key taken over meanwhile keeps the new owner's answer.
pub(crate) async fn store_answer<E: Exec>(
    connection: &mut E,
    response: &IdempotentResponse,
    now: i64,
) -> Result<(), StoreError> {
    connection
        .execute(&idempotency_answer(response, now))
        .await?;
    Ok(())
}

/// Statements sent to the database together ([`Exec::execute_unit`]: one round trip on
/// PostgreSQL), and which of them must change exactly one row (otherwise the write lost a
/// race and is undone as a [`StoreError::Conflict`]). What is pushed must be independent
/// of what is already in the unit; [`Unit::run`] first when it is not.
#[derive(Default)]
struct Unit<'a> {
    statements: Vec<Statement<'a>>,
    changing_one: Vec<usize>,
}

impl<'a> Unit<'a> {
    fn push(&mut self, statement: Statement<'a>) {
        self.statements.push(statement);
    }

    fn push_changing_one(&mut self, statement: Statement<'a>) {
        self.changing_one.push(self.statements.len());
        self.statements.push(statement);
    }

    /// Runs what was pushed, and empties the unit.
    async fn run<E: Exec>(&mut self, connection: &mut E) -> Result<(), StoreError> {
        if self.statements.is_empty() {
            return Ok(());
        }
        let counts = connection.execute_unit(&self.statements).await?;
        if self
            .changing_one
            .iter()
            .any(|&index| counts.get(index) != Some(&1))
        {
            return Err(StoreError::Conflict);
        }
        self.statements.clear();
        self.changing_one.clear();
        Ok(())
    }
}

/// Writes everything one command produced. Runs inside the caller's transaction, as one
/// unit of statements after the checks that must read first.
async fn write_batch<E: Exec>(
    connection: &mut E,
    before: Option<&Order>,
    batch: &Batch,
    decoded: Option<&mut Decoded>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let now = batch
        .events
        .last()
        .map_or_else(|| micros(batch.order.placed_at), |event| micros(event.at));
    if batch.events.is_empty() {
        if let Some(response) = &batch.idempotency {
            write_idempotency(connection, response, now).await?;
        }
        return Ok(Vec::new());
    }
    let rows = projection::rows(before, &batch.events, &batch.order)?;
    let order = &rows.order;
    if let (None, Some(max)) = (before, batch.unpaid_orders_max) {
        check_unpaid_orders(connection, &order.buyer_id, max).await?;
    }
    let mut unit = Unit::default();
    match before {
        None => unit.push(
            Statement::new(
                "insert into orders (id, buyer_id, seller_id, status, frozen, currency, total_minor, \
                 captured_minor, held_minor, released_minor, refunded_minor, version, placed_at, state, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
            )
            .bind(&order.id)
            .bind(&order.buyer_id)
            .bind(&order.seller_id)
            .bind(order.status)
            .bind(order.frozen)
            .bind(order.currency)
            .bind(order.total_minor)
            .bind(order.captured_minor)
            .bind(order.held_minor)
            .bind(order.released_minor)
            .bind(order.refunded_minor)
            .bind(order.version)
            .bind(order.placed_at)
            .bind(&order.state)
            .bind(now),
        ),
        Some(previous) => unit.push_changing_one(
            Statement::new(
                "update orders set status = $1, frozen = $2, captured_minor = $3, held_minor = $4, \
                 released_minor = $5, refunded_minor = $6, version = $7, state = $8, updated_at = $9 \
                 where id = $10 and version = $11",
            )
            .bind(order.status)
            .bind(order.frozen)
            .bind(order.captured_minor)
            .bind(order.held_minor)
            .bind(order.released_minor)
            .bind(order.refunded_minor)
            .bind(order.version)
            .bind(&order.state)
            .bind(now)
            .bind(&order.id)
            .bind(previous.version as i64),
        ),
    }
    if let Some(events) = &rows.events {
        unit.push(
            Statement::new(
                "insert into events (order_id, created_at, seq, last_seq, at, kinds, body) \
                 values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&order.id)
            .bind(now)
            .bind(events.seq)
            .bind(events.last_seq)
            .bind(events.at)
            .bind(&events.kinds)
            .bind(&events.body),
        );
    }
    push_projection_rows(&mut unit, &rows, now, E::METRIC_SHARDS);
    push_queue(connection, &mut unit, batch, order, now).await?;
    unit.statements.extend(insert_rows(
        "insert into outbox (order_id, topic, dedupe_key, payload, next_attempt_at, created_at, updated_at) values ",
        "(#, #, #, #, #, #, #)",
        " on conflict (order_id, dedupe_key) do nothing",
        &batch.outbox,
        |insert, message| {
            insert
                .bind(&order.id)
                .bind(&message.topic)
                .bind(&message.dedupe_key)
                .bind(&message.payload)
                .bind(now)
                .bind(now)
                .bind(now)
        },
    ));
    // One line per product: the stock updates touch different rows.
    for (product_id, delta) in &batch.stock {
        unit.push(
            Statement::new("update products set stock = stock + $1, updated_at = $2 where id = $3")
                .bind(*delta)
                .bind(now)
                .bind(product_id.to_string()),
        );
    }
    if let Some(response) = &batch.idempotency {
        unit.push_changing_one(idempotency_answer(response, now));
    }
    unit.run(connection).await?;
    drop(unit);
    if let Some(decoded) = decoded {
        decoded.put(batch.order.clone(), rows.order.state);
    }
    let first_seq = before.map_or(1, |order| order.version + 1);
    Ok(batch
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| StoredEvent {
            seq: first_seq + index as u64,
            event: event.clone(),
        })
        .collect())
}

/// A new order is refused when its buyer already has `max` unpaid ones, counted under a
/// lock on the buyer (PostgreSQL) so that concurrent placements cannot pass it together.
async fn check_unpaid_orders<E: Exec>(
    connection: &mut E,
    buyer_id: &str,
    max: u32,
) -> Result<(), StoreError> {
    if !E::BUYER_LOCK.is_empty() {
        connection
            .execute(&Statement::new(E::BUYER_LOCK).bind(buyer_id))
            .await?;
    }
    let unpaid = connection
        .fetch_optional(
            &Statement::new(
                "select count(*) from orders where buyer_id = $1 and status = 'awaiting_payment'",
            )
            .bind(buyer_id),
            &[Column::Int],
        )
        .await?
        .map_or(Ok(0), |row| row.int(0))?;
    if unpaid >= i64::from(max) {
        return Err(StoreError::Rejected(orderly_domain::Rejection::Conflict {
            detail: format!(
                "you already have {unpaid} unpaid orders, the most allowed; pay or cancel one of them before placing another"
            ),
        }));
    }
    Ok(())
}

/// Writes the read-model rows of `rows` (see [`push_projection_rows`]) as one unit.
pub(crate) async fn write_projection_rows<E: Exec>(
    connection: &mut E,
    rows: &Rows,
    now: i64,
) -> Result<(), StoreError> {
    let mut unit = Unit::default();
    push_projection_rows(&mut unit, rows, now, E::METRIC_SHARDS);
    unit.run(connection).await
}

/// Deadlines (when they changed: the order's rows of other kinds removed, its running
/// ones written over), refunds, new ledger entries and seller metrics of `rows` (added to
/// the order's shard of each day, out of `metric_shards`). Each
/// statement touches rows of its own: one table each, or distinct keys (refund numbers,
/// penalty events, days).
fn push_projection_rows<'a>(unit: &mut Unit<'a>, rows: &'a Rows, now: i64, metric_shards: u64) {
    let order_id = &rows.order.id;
    if let Some(deadlines) = &rows.deadlines {
        let kinds = deadlines.iter().fold(
            Statement::new(deadlines_gone_sql(deadlines.len())).bind(order_id),
            |delete, deadline| delete.bind(deadline.kind),
        );
        unit.push(kinds);
    }
    unit.statements.extend(insert_rows(
        "insert into deadlines (order_id, kind, due_at, paused, claimed_until, created_at, updated_at) values ",
        "(#, #, #, #, 0, #, #)",
        " on conflict (order_id, kind) do update set due_at = excluded.due_at, paused = excluded.paused, \
         claimed_until = 0, updated_at = excluded.updated_at",
        rows.deadlines.as_deref().unwrap_or_default(),
        |insert, deadline| {
            insert
                .bind(order_id)
                .bind(deadline.kind)
                .bind(deadline.due_at)
                .bind(deadline.paused)
                .bind(now)
                .bind(now)
        },
    ));
    for refund in &rows.refunds {
        unit.push(
            Statement::new(
                "insert into refunds (order_id, number, amount_minor, destination, sent_at, expected_by, overdue_at, flagged_overdue, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                 on conflict (order_id, number) do update set flagged_overdue = excluded.flagged_overdue, updated_at = excluded.updated_at",
            )
            .bind(order_id)
            .bind(refund.number)
            .bind(refund.amount_minor)
            .bind(refund.destination)
            .bind(refund.sent_at)
            .bind(refund.expected_by)
            .bind(refund.overdue_at)
            .bind(refund.flagged_overdue)
            .bind(now),
        );
    }
    if let Some((carrier_key, tracking_number)) = &rows.shipment {
        unit.push(
            Statement::new(
                "insert into shipments (order_id, carrier_key, tracking_number, created_at, updated_at) values ($1, $2, $3, $4, $4) \
                 on conflict (order_id) do update set carrier_key = excluded.carrier_key, tracking_number = excluded.tracking_number, \
                 updated_at = excluded.updated_at",
            )
            .bind(order_id)
            .bind(carrier_key)
            .bind(tracking_number)
            .bind(now),
        );
    }
    for penalty in &rows.penalties {
        unit.push(
            Statement::new(
                "insert into penalties (seller_id, order_id, event_seq, points, reason, source, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, 'automatic', $6, $6) on conflict (order_id, event_seq) do nothing",
            )
            .bind(&rows.order.seller_id)
            .bind(order_id)
            .bind(penalty.event_seq)
            .bind(penalty.points)
            .bind(&penalty.reason)
            .bind(penalty.at),
        );
    }
    unit.statements.extend(insert_rows(
        "insert into ledger_entries (order_id, position, at, debit_account, credit_account, amount_minor, created_at) values ",
        "(#, #, #, #, #, #, #)",
        "",
        &rows.ledger,
        |insert, entry| {
            insert
                .bind(order_id)
                .bind(entry.position)
                .bind(entry.at)
                .bind(&entry.debit_account)
                .bind(&entry.credit_account)
                .bind(entry.amount_minor)
                .bind(now)
        },
    ));
    let shard = metrics_shard(order_id, metric_shards);
    for row in &rows.metrics {
        let metrics = &row.metrics;
        unit.push(
            Statement::new(
                "insert into seller_metrics_daily (seller_id, day, orders, paid_orders, completed_orders, \
                 seller_fault_cancellations, cancellation_requests, requests_answered, requests_unanswered, \
                 response_secs_total, shipments, shipments_on_time, disputes_opened, disputes_lost, penalty_points, \
                 created_at, updated_at, shard) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17) \
                 on conflict (seller_id, day, shard) do update set \
                 orders = seller_metrics_daily.orders + excluded.orders, \
                 paid_orders = seller_metrics_daily.paid_orders + excluded.paid_orders, \
                 completed_orders = seller_metrics_daily.completed_orders + excluded.completed_orders, \
                 seller_fault_cancellations = seller_metrics_daily.seller_fault_cancellations + excluded.seller_fault_cancellations, \
                 cancellation_requests = seller_metrics_daily.cancellation_requests + excluded.cancellation_requests, \
                 requests_answered = seller_metrics_daily.requests_answered + excluded.requests_answered, \
                 requests_unanswered = seller_metrics_daily.requests_unanswered + excluded.requests_unanswered, \
                 response_secs_total = seller_metrics_daily.response_secs_total + excluded.response_secs_total, \
                 shipments = seller_metrics_daily.shipments + excluded.shipments, \
                 shipments_on_time = seller_metrics_daily.shipments_on_time + excluded.shipments_on_time, \
                 disputes_opened = seller_metrics_daily.disputes_opened + excluded.disputes_opened, \
                 disputes_lost = seller_metrics_daily.disputes_lost + excluded.disputes_lost, \
                 penalty_points = seller_metrics_daily.penalty_points + excluded.penalty_points, \
                 updated_at = excluded.updated_at",
            )
            .bind(&row.seller_id)
            .bind(&row.day)
            .bind(i64::from(metrics.orders))
            .bind(i64::from(metrics.paid_orders))
            .bind(i64::from(metrics.completed_orders))
            .bind(i64::from(metrics.seller_fault_cancellations))
            .bind(i64::from(metrics.cancellation_requests))
            .bind(i64::from(metrics.requests_answered))
            .bind(i64::from(metrics.requests_unanswered))
            .bind(metrics.response_secs_total)
            .bind(i64::from(metrics.shipments))
            .bind(i64::from(metrics.shipments_on_time))
            .bind(i64::from(metrics.disputes_opened))
            .bind(i64::from(metrics.disputes_lost))
            .bind(i64::from(metrics.penalty_points))
            .bind(now)
            .bind(shard),
        );
    }
}

/// The shard of a seller's daily metrics that an order's commands add to: the same for
/// all of one order's commands, spread over `shards` by a hash of its id (FNV-1a, stable
/// across builds and processes).
fn metrics_shard(order_id: &str, shards: u64) -> i64 {
    let hash = order_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    (hash % shards.max(1)) as i64
}

/// Removes an order's deadlines of kinds other than the `kinds` running ones (`$1` the
/// order, then a parameter per kind).
fn deadlines_gone_sql(kinds: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::from("delete from deadlines where order_id = $1");
    if kinds > 0 {
        sql.push_str(" and kind not in (");
        for index in 0..kinds {
            let _ = write!(sql, "{}${}", if index == 0 { "" } else { ", " }, index + 2);
        }
        sql.push(')');
    }
    sql
}

/// The queue rows of one command: the open items of this order that its events settle,
/// then new items (a repeated cause is ignored). A settlement sees the items open before
/// the command, which is what running it before the inserts means; two settlements of one
/// kind may touch the same item, so the second waits for the unit before it.
async fn push_queue<'a, E: Exec>(
    connection: &mut E,
    unit: &mut Unit<'a>,
    batch: &'a Batch,
    order: &'a projection::OrderRow,
    now: i64,
) -> Result<(), StoreError> {
    for (index, resolution) in batch.queue_resolutions.iter().enumerate() {
        if batch.queue_resolutions[..index]
            .iter()
            .any(|earlier| earlier.kind == resolution.kind)
        {
            unit.run(connection).await?;
        }
        unit.push(
            Statement::new(
                "update queue_items set status = 'done', resolved_at = $1, resolution_note = $2, updated_at = $1 \
                 where order_id = $3 and kind = $4 and status = 'open' and ($5 = '' or reference = $5)",
            )
            .bind(now)
            .bind(&resolution.note)
            .bind(&order.id)
            .bind(&resolution.kind)
            .bind(resolution.reference.as_deref().unwrap_or_default()),
        );
    }
    for item in &batch.queue {
        unit.push(
            Statement::new(
                "insert into queue_items (id, kind, order_id, seller_id, reference, summary, status, due_at, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $8) on conflict (order_id, kind, reference) do nothing",
            )
            .bind(item.id.to_string())
            .bind(&item.kind)
            .bind(&order.id)
            .bind(&order.seller_id)
            .bind(&item.reference)
            .bind(&item.summary)
            .bind(item.due_at.map(micros))
            .bind(now),
        );
    }
    if let Some(evidence) = &batch.evidence {
        unit.push(
            Statement::new(
                "insert into evidence_files (id, order_id, filename, content_type, size, data, uploaded_by, created_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(evidence.id.to_string())
            .bind(&order.id)
            .bind(&evidence.filename)
            .bind(&evidence.content_type)
            .bind(i64::try_from(evidence.bytes.len()).unwrap_or(i64::MAX))
            .bind(evidence.bytes.as_slice())
            .bind(&evidence.uploaded_by)
            .bind(now),
        );
    }
    Ok(())
}

/// How [`decode_account`] reads `id, role, name, email, created_at, revoked_at`.
pub(crate) const ACCOUNT_ROW: &[Column] = &[
    Column::Text,
    Column::Text,
    Column::Text,
    Column::OptText,
    Column::Int,
    Column::OptInt,
];

/// The account holding an API token (by its hash), unless revoked: read on every request.
pub(crate) async fn account_by_token<E: Exec>(
    connection: &mut E,
    token_hash: &str,
) -> Result<Option<crate::Account>, StoreError> {
    let row = connection
        .fetch_optional(
            &Statement::new(
                "select id, role, name, email, created_at, revoked_at from accounts \
                 where token_hash = $1 and revoked_at is null",
            )
            .bind(token_hash),
            ACCOUNT_ROW,
        )
        .await?;
    row.map(decode_account).transpose()
}

/// An account by its id.
pub(crate) async fn account<E: Exec>(
    connection: &mut E,
    id: AccountId,
) -> Result<Option<crate::Account>, StoreError> {
    let row = connection
        .fetch_optional(
            &Statement::new(
                "select id, role, name, email, created_at, revoked_at from accounts where id = $1",
            )
            .bind(id.to_string()),
            ACCOUNT_ROW,
        )
        .await?;
    row.map(decode_account).transpose()
}

/// A product's columns, as every product query selects them (see [`product`]).
pub(crate) const PRODUCT_COLUMNS: &str = "id, seller_id, title, currency, price_minor, shipping_fee_minor, stock, processing_days, created_at";

/// A product, read as an order is placed: on a reader connection with the account, so
/// that placing an order crosses no driver's worker thread.
pub(crate) async fn product<E: Exec>(
    connection: &mut E,
    id: orderly_domain::ProductId,
) -> Result<Option<crate::Product>, StoreError> {
    use Column::{Int, Text};
    let row = connection
        .fetch_optional(
            &Statement::new(format!(
                "select {PRODUCT_COLUMNS} from products where id = $1"
            ))
            .bind(id.to_string()),
            &[Text, Text, Text, Text, Int, Int, Int, Int, Int],
        )
        .await?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    let mut uuid = |index: usize, what: &str| -> Result<uuid::Uuid, StoreError> {
        let text = row.text(index)?;
        text.parse()
            .map_err(|error| StoreError::Other(anyhow::anyhow!("stored {what} {text}: {error}")))
    };
    let (id, seller_id) = (uuid(0, "product id")?, uuid(1, "seller id")?);
    Ok(Some(crate::Product {
        id: orderly_domain::ProductId::from_uuid(id),
        seller_id: AccountId::from_uuid(seller_id),
        title: row.text(2)?,
        currency: row.text(3)?,
        price_minor: row.int(4)?,
        shipping_fee_minor: row.int(5)?,
        stock: row.int(6)?,
        processing_days: u32::try_from(row.int(7)?).unwrap_or(0),
        created_at: from_micros(row.int(8)?)?,
    }))
}

/// An account from a row of `id, role, name, email, created_at, revoked_at`.
pub(crate) fn decode_account(mut row: Row) -> Result<crate::Account, StoreError> {
    let id = row.text(0)?;
    let role = row.text(1)?;
    Ok(crate::Account {
        id: AccountId::from_uuid(id.parse().map_err(|error| {
            StoreError::Other(anyhow::anyhow!("stored account id {id}: {error}"))
        })?),
        role: match role.as_str() {
            "buyer" => orderly_domain::Role::Buyer,
            "seller" => orderly_domain::Role::Seller,
            "admin" => orderly_domain::Role::Admin,
            other => return Err(StoreError::Other(anyhow::anyhow!("stored role {other}"))),
        },
        name: row.text(2)?,
        email: row.opt_text(3)?,
        created_at: from_micros(row.int(4)?)?,
        revoked_at: row.opt_int(5)?.map(from_micros).transpose()?,
    })
}

/// One multi-row INSERT of `items` (none when there are none): `head`, a `row` template
/// per item with its parameters bound by `bind`, then `tail` (see [`values_sql`]).
fn insert_rows<'a, T>(
    head: &'static str,
    row: &'static str,
    tail: &'static str,
    items: &'a [T],
    bind: impl Fn(Statement<'a>, &'a T) -> Statement<'a>,
) -> Option<Statement<'a>> {
    if items.is_empty() {
        return None;
    }
    Some(items.iter().fold(
        Statement::new(cached_values_sql(head, row, items.len(), tail)),
        bind,
    ))
}

/// Most rows of a multi-row statement whose SQL is kept once made.
const VALUES_SQL_KEPT_ROWS_MAX: usize = 64;

/// [`values_sql`], made once per template and number of rows (up to
/// [`VALUES_SQL_KEPT_ROWS_MAX`]) and kept for the life of the process: a command writes
/// the same few statements every time, and building one numbers every parameter anew. The
/// templates are fixed strings of this file, so what is kept is bounded.
fn cached_values_sql(
    head: &'static str,
    row: &'static str,
    rows: usize,
    tail: &'static str,
) -> std::borrow::Cow<'static, str> {
    type Key = ([(usize, usize); 3], usize);
    static KEPT: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<Key, &'static str>>,
    > = std::sync::LazyLock::new(Default::default);
    if rows > VALUES_SQL_KEPT_ROWS_MAX {
        return values_sql(head, row, rows, tail).into();
    }
    // A `'static` string never changes: where it is and how long names its text.
    let place = |text: &'static str| (text.as_ptr() as usize, text.len());
    let key = ([place(head), place(row), place(tail)], rows);
    let mut kept = KEPT.lock().unwrap_or_else(|poison| poison.into_inner());
    let sql = kept
        .entry(key)
        .or_insert_with(|| Box::leak(values_sql(head, row, rows, tail).into_boxed_str()));
    (*sql).into()
}

/// `head`, then `rows` copies of the `row` template separated by commas, each `#` in them
/// numbered as the next `$n` parameter, then `tail`: one multi-row statement instead of a
/// statement per row. Built from fixed fragments only.
pub(crate) fn values_sql(head: &str, row: &str, rows: usize, tail: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 16) + tail.len());
    sql.push_str(head);
    let mut parameter = 0;
    for index in 0..rows {
        if index > 0 {
            sql.push_str(", ");
        }
        for c in row.chars() {
            if c == '#' {
                parameter += 1;
                let _ = write!(sql, "${parameter}");
            } else {
                sql.push(c);
            }
        }
    }
    sql.push_str(tail);
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_order_adds_to_one_shard_of_its_sellers_metrics() {
        let ids: Vec<String> = (0..64)
            .map(|n| format!("0193a2b4-0000-7000-8000-{n:012x}"))
            .collect();
        let shards: std::collections::BTreeSet<i64> =
            ids.iter().map(|id| super::metrics_shard(id, 16)).collect();
        assert!(shards.iter().all(|shard| (0..16).contains(shard)));
        assert!(
            shards.len() > 8,
            "64 orders spread over {} of 16 shards",
            shards.len()
        );
        assert_eq!(
            super::metrics_shard(&ids[0], 16),
            super::metrics_shard(&ids[0], 16)
        );
        assert!(ids.iter().all(|id| super::metrics_shard(id, 1) == 0));
    }

    #[test]
    fn deadlines_of_other_kinds_go() {
        assert_eq!(
            super::deadlines_gone_sql(0),
            "delete from deadlines where order_id = $1"
        );
        assert_eq!(
            super::deadlines_gone_sql(2),
            "delete from deadlines where order_id = $1 and kind not in ($2, $3)"
        );
    }

    #[test]
    fn rows_are_numbered_on() {
        assert_eq!(
            super::values_sql(
                "insert into t (a, b, c) values ",
                "(#, 0, #)",
                2,
                " on conflict do nothing"
            ),
            "insert into t (a, b, c) values ($1, 0, $2), ($3, 0, $4) on conflict do nothing"
        );
    }

    #[test]
    fn a_statements_sql_is_made_once_per_number_of_rows() {
        const HEAD: &str = "insert into t (a) values ";
        let sql = |rows| super::cached_values_sql(HEAD, "(#)", rows, "");
        let (two, three, two_again) = (sql(2), sql(3), sql(2));
        assert_eq!(two, "insert into t (a) values ($1), ($2)");
        assert_eq!(three, "insert into t (a) values ($1), ($2), ($3)");
        assert_eq!(two_again, two);
        assert!(std::ptr::eq(two.as_ptr(), two_again.as_ptr()), "kept");
        let many = super::VALUES_SQL_KEPT_ROWS_MAX + 1;
        assert_eq!(sql(many), super::values_sql(HEAD, "(#)", many, ""));
    }
}
