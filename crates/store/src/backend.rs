//! The `Store` implementation, written once and instantiated for each backend by the
//! `store_impl!` macro: the SQL is the same text on both (sqlx binds `$1`-style parameters
//! on SQLite too), and the few statements that differ — how a write transaction begins, how
//! the order row is locked, how work is claimed — are arguments of the macro.

/// Generates `impl Store for $store` for the backend `$db`, whose connections are
/// `$connection`.
///
/// - `begin`: the statement that opens every write transaction (`BEGIN IMMEDIATE` on
///   SQLite, so the write lock is taken up front: a deferred transaction that reads and
///   then writes fails at once with "database is locked" when another writer went first,
///   whatever the busy timeout; `BEGIN` on PostgreSQL).
/// - `lock_order`: the query that reads an order's state inside that transaction
///   (PostgreSQL adds `for update`, holding the row for the whole command).
/// - `claim_deadlines`, `claim_outbox`: the claiming updates (PostgreSQL adds
///   `for update skip locked` so several processes share the work).
/// - `buyer_lock`: serialises placements by one buyer for the unpaid-orders limit
///   (PostgreSQL: an advisory transaction lock; SQLite has one writer anyway, so empty).
/// - `migrations`, `migration_lock`: the backend's migrations and the statement that
///   serialises concurrent migrators.
macro_rules! store_impl {
    (
        store: $store:ty,
        db: $db:ty,
        connection: $connection:ty,
        begin: $begin:literal,
        lock_order: $lock_order:literal,
        claim_deadlines: $claim_deadlines:literal,
        claim_outbox: $claim_outbox:literal,
        buyer_lock: $buyer_lock:literal,
        unit_as_one_statement: $unit_as_one_statement:literal,
        metric_shards: $metric_shards:literal,
        migrations: $migrations:expr,
        migration_lock: $migration_lock:literal $(,)?
    ) => {
        use async_trait::async_trait;
        use jiff::Timestamp;
        use orderly_domain::seller::SellerMetrics;
        use orderly_domain::{AccountId, DeadlineKind, Event, Order, OrderId};
        use sqlx::{AssertSqlSafe, Row as _};

        use crate::projection;
        use crate::write::{ACCOUNT_ROW, decode_account, decode_order, write_idempotency, write_projection_rows};
        use crate::{
            Batch, Committed, Cursor, Decide, DueDeadline, IdempotencyBegin, IdempotentResponse,
            Integrity, OrderFilter, OutboxMessage, Page, Store, StoredEvent, Viewer, from_micros,
            micros,
        };

        type Connection = $connection;

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                if !$migration_lock.is_empty() {
                    sqlx::query($migration_lock).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "create table if not exists schema_migrations (version bigint primary key, name text not null, applied_at bigint not null)",
                )
                .execute(&mut *tx)
                .await?;
                for migration in $migrations {
                    let applied: Option<i64> =
                        sqlx::query_scalar("select version from schema_migrations where version = $1")
                            .bind(migration.version)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if applied.is_some() {
                        continue;
                    }
                    for statement in crate::migrate::statements(migration.sql) {
                        sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await?;
                    }
                    sqlx::query("insert into schema_migrations (version, name, applied_at) values ($1, $2, $3)")
                        .bind(migration.version)
                        .bind(migration.name)
                        .bind(micros(Timestamp::UNIX_EPOCH))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn transact(&self, order_id: OrderId, decide: Decide) -> Result<Committed, StoreError> {
                self.write(crate::Write::Decide { order_id, decide }).await
            }

            async fn transact_claimed(&self, order_id: OrderId, claim: crate::Reservation, decide: Decide) -> Result<Committed, StoreError> {
                self.write_claimed(crate::Write::Decide { order_id, decide }, claim).await
            }

            async fn append(&self, expected_version: u64, batch: Batch) -> Result<Committed, StoreError> {
                self.write(crate::Write::Append {
                    expected_version,
                    batch: Box::new(batch),
                })
                .await
            }

            async fn load_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
                let mut reader = self.reader().await?;
                crate::write::load_order(&mut *reader, order_id, "select state, version from orders where id = $1", None).await
            }

            async fn order_events(&self, order_id: OrderId) -> Result<Vec<StoredEvent>, StoreError> {
                let mut connection = self.pool.acquire().await?;
                read_events(&mut connection, &order_id.to_string()).await
            }

            async fn order_events_page(
                &self,
                order_id: OrderId,
                after_seq: u64,
                limit: u32,
                kind: Option<&str>,
            ) -> Result<(Vec<StoredEvent>, Option<u64>), StoreError> {
                let limit = limit.clamp(1, crate::PAGE_LIMIT_MAX) as usize;
                // A row holds a command's events: rows are read a page at a time until the
                // page of events (one more, to know whether there is more) is full.
                const ROWS: i64 = 100;
                let mut events = Vec::new();
                let mut after_row = i64::try_from(after_seq).unwrap_or(i64::MAX);
                loop {
                    let rows = sqlx::query(
                        "select seq, last_seq, body from events where order_id = $1 and last_seq > $2 \
                         order by seq limit $3",
                    )
                    .bind(order_id.to_string())
                    .bind(after_row)
                    .bind(ROWS)
                    .fetch_all(&self.pool)
                    .await?;
                    for row in &rows {
                        after_row = row.try_get("last_seq")?;
                        events.extend(decode_events(row)?.into_iter().filter(|stored| {
                            stored.seq > after_seq && kind.is_none_or(|kind| stored.event.kind.name() == kind)
                        }));
                    }
                    if events.len() > limit || rows.len() < ROWS as usize {
                        break;
                    }
                }
                let next = if events.len() > limit {
                    events.truncate(limit);
                    events.last().map(|event| event.seq)
                } else {
                    None
                };
                Ok((events, next))
            }

            async fn list_orders(&self, filter: OrderFilter) -> Result<Page, StoreError> {
                let limit = filter.limit.clamp(1, crate::PAGE_LIMIT_MAX);
                // Built from fixed fragments only; every value is a bind parameter.
                let mut conditions: Vec<String> = Vec::new();
                let mut texts: Vec<String> = Vec::new();
                match filter.viewer {
                    Viewer::Buyer(id) => {
                        texts.push(id.to_string());
                        conditions.push(format!("buyer_id = ${}", texts.len()));
                    }
                    Viewer::Seller(id) => {
                        texts.push(id.to_string());
                        conditions.push(format!("seller_id = ${}", texts.len()));
                    }
                    Viewer::Everyone => {}
                }
                if let Some(status) = filter.status {
                    texts.push(status.code().to_owned());
                    conditions.push(format!("status = ${}", texts.len()));
                }
                let mut sql = String::from("select state from orders");
                if let Some(after) = filter.after {
                    texts.push(after.id.to_string());
                    let id_param = texts.len();
                    let at_param = texts.len() + 1;
                    conditions.push(format!(
                        "(placed_at < ${at_param} or (placed_at = ${at_param} and id < ${id_param}))"
                    ));
                }
                if !conditions.is_empty() {
                    sql.push_str(" where ");
                    sql.push_str(&conditions.join(" and "));
                }
                let limit_param = texts.len() + 1 + usize::from(filter.after.is_some());
                sql.push_str(&format!(" order by placed_at desc, id desc limit ${limit_param}"));
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for text in &texts {
                    query = query.bind(text.clone());
                }
                if let Some(after) = filter.after {
                    query = query.bind(micros(after.placed_at));
                }
                query = query.bind(i64::from(limit) + 1);
                let rows = query.fetch_all(&self.pool).await?;
                let mut orders = rows
                    .iter()
                    .map(|row| decode_order(&row.try_get::<String, _>("state")?))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let next = if orders.len() > limit as usize {
                    orders.truncate(limit as usize);
                    orders.last().map(|order| Cursor { placed_at: order.placed_at, id: order.id })
                } else {
                    None
                };
                Ok(Page { orders, next })
            }

            async fn seller_metrics(&self, seller_id: AccountId, since: Timestamp) -> Result<SellerMetrics, StoreError> {
                let day = since.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
                let row = sqlx::query(
                    "select \
                     cast(coalesce(sum(orders), 0) as bigint) as orders, \
                     cast(coalesce(sum(paid_orders), 0) as bigint) as paid_orders, \
                     cast(coalesce(sum(completed_orders), 0) as bigint) as completed_orders, \
                     cast(coalesce(sum(seller_fault_cancellations), 0) as bigint) as seller_fault_cancellations, \
                     cast(coalesce(sum(cancellation_requests), 0) as bigint) as cancellation_requests, \
                     cast(coalesce(sum(requests_answered), 0) as bigint) as requests_answered, \
                     cast(coalesce(sum(requests_unanswered), 0) as bigint) as requests_unanswered, \
                     cast(coalesce(sum(response_secs_total), 0) as bigint) as response_secs_total, \
                     cast(coalesce(sum(shipments), 0) as bigint) as shipments, \
                     cast(coalesce(sum(shipments_on_time), 0) as bigint) as shipments_on_time, \
                     cast(coalesce(sum(disputes_opened), 0) as bigint) as disputes_opened, \
                     cast(coalesce(sum(disputes_lost), 0) as bigint) as disputes_lost, \
                     cast(coalesce(sum(penalty_points), 0) as bigint) as penalty_points \
                     from seller_metrics_daily where seller_id = $1 and day >= $2",
                )
                .bind(seller_id.to_string())
                .bind(day)
                .fetch_one(&self.pool)
                .await?;
                let count = |name: &str| -> Result<u32, StoreError> {
                    let value: i64 = row.try_get(name)?;
                    u32::try_from(value).map_err(|error| StoreError::Other(anyhow::Error::new(error)))
                };
                Ok(SellerMetrics {
                    orders: count("orders")?,
                    paid_orders: count("paid_orders")?,
                    completed_orders: count("completed_orders")?,
                    seller_fault_cancellations: count("seller_fault_cancellations")?,
                    cancellation_requests: count("cancellation_requests")?,
                    requests_answered: count("requests_answered")?,
                    requests_unanswered: count("requests_unanswered")?,
                    response_secs_total: row.try_get("response_secs_total")?,
                    shipments: count("shipments")?,
                    shipments_on_time: count("shipments_on_time")?,
                    disputes_opened: count("disputes_opened")?,
                    disputes_lost: count("disputes_lost")?,
                    penalty_points: count("penalty_points")?,
                })
            }

            async fn claim_due_deadlines(&self, now: Timestamp, limit: u32, lease_secs: i64) -> Result<Vec<DueDeadline>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let rows = sqlx::query($claim_deadlines)
                    .bind(micros(now) + lease_secs * 1_000_000)
                    .bind(micros(now))
                    .bind(i64::from(limit.min(crate::CLAIM_BATCH_MAX)))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut due = rows
                    .iter()
                    .map(|row| {
                        let kind: String = row.try_get("kind")?;
                        Ok(DueDeadline {
                            order_id: parse_order_id(&row.try_get::<String, _>("order_id")?)?,
                            kind: DeadlineKind::parse(&kind).ok_or_else(|| {
                                StoreError::Other(anyhow::anyhow!("unknown deadline kind {kind}"))
                            })?,
                            due_at: from_micros(row.try_get("due_at")?)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                due.sort_by_key(|deadline| (deadline.due_at, deadline.kind, deadline.order_id));
                Ok(due)
            }

            async fn next_deadline(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
                let next: Option<i64> = sqlx::query_scalar(
                    "select min(due_at) from deadlines where paused = 0 and claimed_until <= $1",
                )
                .bind(micros(now))
                .fetch_one(&self.pool)
                .await?;
                next.map(from_micros).transpose()
            }

            async fn claim_outbox(&self, topic: &str, now: Timestamp, limit: u32, lease_secs: i64) -> Result<Vec<OutboxMessage>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let rows = sqlx::query($claim_outbox)
                    .bind(micros(now) + lease_secs * 1_000_000)
                    .bind(micros(now))
                    .bind(i64::from(limit.min(crate::CLAIM_BATCH_MAX)))
                    .bind(topic)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut messages = rows
                    .iter()
                    .map(|row| {
                        Ok(OutboxMessage {
                            id: row.try_get("id")?,
                            order_id: parse_order_id(&row.try_get::<String, _>("order_id")?)?,
                            topic: row.try_get("topic")?,
                            dedupe_key: row.try_get("dedupe_key")?,
                            payload: row.try_get("payload")?,
                            attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                            first_failed_at: row.try_get::<Option<i64>, _>("first_failed_at")?.map(from_micros).transpose()?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                messages.sort_by_key(|message| message.id);
                Ok(messages)
            }

            async fn outbox_delivered(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("update outbox set delivered_at = $1, updated_at = $1, claimed_until = 0 where id = $2")
                    .bind(micros(now))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn outbox_failed(&self, id: i64, error: &str, retry_at: Option<Timestamp>, now: Timestamp) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let error: String = error.chars().take(1_000).collect();
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "update outbox set attempts = attempts + 1, last_error = $1, claimed_until = 0, \
                     next_attempt_at = coalesce($2, next_attempt_at), dead_at = case when $2 is null then $3 else null end, \
                     first_failed_at = coalesce(first_failed_at, $3), updated_at = $3 where id = $4",
                )
                .bind(&error)
                .bind(retry_at.map(micros))
                .bind(micros(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if retry_at.is_none() {
                    // Given up: support is told in the same transaction (SPEC 16.3).
                    sqlx::query(
                        "insert into queue_items (id, kind, order_id, seller_id, reference, summary, status, due_at, created_at, updated_at) \
                         select $1, 'delivery_dead', o.order_id, d.seller_id, 'outbox:' || cast(o.id as text), \
                         case o.topic when 'email' then 'An e-mail' else 'A webhook' end || ' could not be delivered and was given up: ' || $2, 'open', $3, $3, $3 \
                         from outbox o join orders d on d.id = o.order_id where o.id = $4 \
                         on conflict (order_id, kind, reference) do update set status = 'open', summary = excluded.summary, \
                         due_at = excluded.due_at, resolved_at = null, resolved_by = null, resolution_note = null, updated_at = excluded.updated_at",
                    )
                    .bind(dead_item_id(id))
                    .bind(&error)
                    .bind(micros(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn outbox_counts(&self) -> Result<crate::OutboxCounts, StoreError> {
                let rows = sqlx::query(
                    "select topic, case when delivered_at is not null then 'delivered' when skipped_at is not null then 'skipped' \
                     when dead_at is not null then 'dead' else 'pending' end as status, count(*) as count \
                     from outbox group by 1, 2 order by 1, 2",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut counts = Vec::new();
                for row in rows {
                    counts.push((
                        row.try_get::<String, _>("topic")?,
                        row.try_get::<String, _>("status")?,
                        u64::try_from(row.try_get::<i64, _>("count")?).unwrap_or(0),
                    ));
                }
                Ok(crate::OutboxCounts { counts })
            }

            async fn outbox_list(&self, status: Option<&str>, topic: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<crate::OutboxEntry>, StoreError> {
                let condition = match status {
                    Some("delivered") => "delivered_at is not null",
                    Some("dead") => "delivered_at is null and skipped_at is null and dead_at is not null",
                    Some("skipped") => "delivered_at is null and skipped_at is not null",
                    Some(_) => "delivered_at is null and skipped_at is null and dead_at is null",
                    None => "1 = 1",
                };
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {OUTBOX_COLUMNS} from outbox where {condition} and ($1 = '' or topic = $1) and ($2 = 0 or id < $2) \
                     order by id desc limit $3"
                )))
                .bind(topic.unwrap_or(""))
                .bind(before.unwrap_or(0))
                .bind(i64::from(limit.clamp(1, crate::PAGE_LIMIT_MAX)))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(decode_outbox_entry).collect()
            }

            async fn outbox_entry(&self, id: i64) -> Result<Option<crate::OutboxEntry>, StoreError> {
                let row = sqlx::query(AssertSqlSafe(format!("select {OUTBOX_COLUMNS} from outbox where id = $1")))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(decode_outbox_entry).transpose()
            }

            async fn outbox_retry(&self, id: i64, now: Timestamp) -> Result<Option<crate::OutboxEntry>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "update outbox set dead_at = null, skipped_at = null, first_failed_at = null, next_attempt_at = $1, \
                     claimed_until = 0, updated_at = $1 where id = $2 and delivered_at is null",
                )
                .bind(micros(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
                resolve_dead_item(&mut tx, id, "sent again by an admin", now).await?;
                let row = sqlx::query(AssertSqlSafe(format!("select {OUTBOX_COLUMNS} from outbox where id = $1")))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.as_ref().map(decode_outbox_entry).transpose()
            }

            async fn outbox_skip(&self, id: i64, now: Timestamp) -> Result<Option<crate::OutboxEntry>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "update outbox set skipped_at = $1, claimed_until = 0, updated_at = $1 \
                     where id = $2 and delivered_at is null and skipped_at is null",
                )
                .bind(micros(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
                resolve_dead_item(&mut tx, id, "skipped by an admin", now).await?;
                let row = sqlx::query(AssertSqlSafe(format!("select {OUTBOX_COLUMNS} from outbox where id = $1")))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                row.as_ref().map(decode_outbox_entry).transpose()
            }

            async fn outbox_purge_delivered(&self, before: Timestamp) -> Result<u64, StoreError> {
                let _turn = self.write_turn().await?;
                let deleted = sqlx::query(AssertSqlSafe(format!(
                    "delete from outbox where id in ({OUTBOX_TOPICS} select o.id from topics \
                     join outbox o on o.topic = topics.topic and o.delivered_at is not null and o.delivered_at < $1)"
                )))
                    .bind(micros(before))
                    .execute(&self.pool)
                    .await?;
                Ok(deleted.rows_affected())
            }

            async fn create_integration(&self, integration: &crate::Integration, answer: Option<&IdempotentResponse>) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "insert into integrations (id, kind, name, secret_version, previous_version, previous_valid_until, revoked_at, created_at, updated_at) \
                     values ($1, $2, $3, $4, null, null, null, $5, $5)",
                )
                .bind(integration.id.to_string())
                .bind(&integration.kind)
                .bind(&integration.name)
                .bind(i64::from(integration.secret_version))
                .bind(micros(integration.created_at))
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(integration.created_at)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn integration(&self, id: uuid::Uuid) -> Result<Option<crate::Integration>, StoreError> {
                let row = sqlx::query(AssertSqlSafe(format!("select {INTEGRATION_COLUMNS} from integrations where id = $1")))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(decode_integration).transpose()
            }

            async fn integrations(&self) -> Result<Vec<crate::Integration>, StoreError> {
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {INTEGRATION_COLUMNS} from integrations order by created_at desc, id desc limit 1000"
                )))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(decode_integration).collect()
            }

            async fn update_integration(&self, integration: &crate::Integration, now: Timestamp, answer: Option<&IdempotentResponse>) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "update integrations set secret_version = $1, previous_version = $2, previous_valid_until = $3, \
                     revoked_at = $4, updated_at = $5 where id = $6",
                )
                .bind(i64::from(integration.secret_version))
                .bind(integration.previous_version.map(i64::from))
                .bind(integration.previous_valid_until.map(micros))
                .bind(integration.revoked_at.map(micros))
                .bind(micros(now))
                .bind(integration.id.to_string())
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn order_by_shipment(&self, carrier: &str, tracking_number: &str) -> Result<Option<OrderId>, StoreError> {
                let id: Option<String> = sqlx::query_scalar(
                    "select order_id from shipments where carrier_key = $1 and tracking_number = $2 order by updated_at desc limit 1",
                )
                .bind(crate::projection::carrier_key(carrier))
                .bind(tracking_number.trim())
                .fetch_optional(&self.pool)
                .await?;
                id.as_deref().map(parse_order_id).transpose()
            }

            async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("select value from settings where key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn setting_or_insert(&self, key: &str, value: &str, now: Timestamp) -> Result<String, StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("insert into settings (key, value, created_at) values ($1, $2, $3) on conflict (key) do nothing")
                    .bind(key)
                    .bind(value)
                    .bind(micros(now))
                    .execute(&self.pool)
                    .await?;
                let kept: String = sqlx::query_scalar("select value from settings where key = $1")
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(kept)
            }

            async fn set_account_email(&self, id: AccountId, email: Option<&str>, now: Timestamp, answer: Option<&IdempotentResponse>) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let updated = sqlx::query("update accounts set email = $1, updated_at = $2 where id = $3")
                    .bind(email)
                    .bind(micros(now))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    return Ok(false);
                }
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn outbox_backlog(&self) -> Result<u64, StoreError> {
                let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                    "{OUTBOX_TOPICS} select count(*) from topics join outbox o on o.topic = topics.topic \
                     and o.delivered_at is null and o.dead_at is null and o.skipped_at is null"
                )))
                .fetch_one(&self.pool)
                .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn idempotency_begin(&self, account_id: AccountId, key: &str, fingerprint: &str, owner: &str, now: Timestamp, stale_secs: i64) -> Result<IdempotencyBegin, StoreError> {
                self.reserve(crate::Reservation {
                    account_id,
                    key: key.to_owned(),
                    fingerprint: fingerprint.to_owned(),
                    owner: owner.to_owned(),
                    now,
                    stale_secs,
                })
                .await
            }

            async fn idempotency_finish(&self, response: IdempotentResponse, now: Timestamp) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut connection = self.pool.acquire().await?;
                crate::write::store_answer(&mut *connection, &response, micros(now)).await
            }

            async fn idempotency_release(&self, account_id: AccountId, key: &str) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("delete from idempotency_keys where account_id = $1 and key = $2 and status is null")
                    .bind(account_id.to_string())
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn idempotency_purge(&self, before: Timestamp, per_account_max: u32) -> Result<u64, StoreError> {
                let _turn = self.write_turn().await?;
                let deleted = sqlx::query("delete from idempotency_keys where created_at < $1")
                    .bind(micros(before))
                    .execute(&self.pool)
                    .await?;
                // Accounts over their bound lose their oldest records first.
                let crowded: Vec<String> = sqlx::query_scalar(
                    "select account_id from idempotency_keys group by account_id having count(*) > $1",
                )
                .bind(i64::from(per_account_max))
                .fetch_all(&self.pool)
                .await?;
                let mut trimmed = 0;
                for account in crowded {
                    let cut = sqlx::query(
                        "delete from idempotency_keys where account_id = $1 and key in ( \
                         select key from idempotency_keys where account_id = $1 \
                         order by created_at desc, key desc limit 1000000000 offset $2)",
                    )
                    .bind(&account)
                    .bind(i64::from(per_account_max))
                    .execute(&self.pool)
                    .await?;
                    trimmed += cut.rows_affected();
                }
                Ok(deleted.rows_affected() + trimmed)
            }

            async fn rebuild_projections(&self) -> Result<Integrity, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let ids: Vec<String> = sqlx::query_scalar("select id from orders order by id")
                    .fetch_all(&mut *tx)
                    .await?;
                sqlx::query("delete from seller_metrics_daily").execute(&mut *tx).await?;
                let mut integrity = Integrity::default();
                for id in ids {
                    let events = read_events(&mut tx, &id).await?;
                    let history: Vec<Event> = events.into_iter().map(|stored| stored.event).collect();
                    let Some(order) = orderly_domain::replay(&history) else {
                        integrity.problems.push(format!("order {id} has no events"));
                        continue;
                    };
                    integrity.orders += 1;
                    integrity.events += history.len() as u64;
                    let rows = projection::rows(None, &history, &order)?;
                    let row = &rows.order;
                    sqlx::query(
                        "update orders set status = $1, frozen = $2, captured_minor = $3, held_minor = $4, \
                         released_minor = $5, refunded_minor = $6, version = $7, state = $8 where id = $9",
                    )
                    .bind(row.status)
                    .bind(row.frozen)
                    .bind(row.captured_minor)
                    .bind(row.held_minor)
                    .bind(row.released_minor)
                    .bind(row.refunded_minor)
                    .bind(row.version)
                    .bind(&row.state)
                    .bind(&row.id)
                    .execute(&mut *tx)
                    .await?;
                    for table in ["deadlines", "refunds", "ledger_entries"] {
                        sqlx::query(AssertSqlSafe(format!("delete from {table} where order_id = $1")))
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    write_projection_rows(&mut *tx, &rows, micros(order.placed_at)).await?;
                }
                tx.commit().await?;
                Ok(integrity)
            }

            async fn check_integrity(&self) -> Result<Integrity, StoreError> {
                let mut connection = self.pool.acquire().await?;
                let rows = sqlx::query(
                    "select id, state, version, captured_minor, held_minor, released_minor, refunded_minor from orders order by id",
                )
                .fetch_all(&mut *connection)
                .await?;
                let mut integrity = Integrity::default();
                let mut metrics: std::collections::BTreeMap<(String, String), SellerMetrics> = Default::default();
                for row in rows {
                    let id: String = row.try_get("id")?;
                    integrity.orders += 1;
                    let events = read_events(&mut connection, &id).await?;
                    integrity.events += events.len() as u64;
                    let problems = &mut integrity.problems;
                    for (index, stored) in events.iter().enumerate() {
                        if stored.seq != index as u64 + 1 {
                            problems.push(format!("order {id}: event {} has seq {}", index + 1, stored.seq));
                        }
                    }
                    let history: Vec<Event> = events.into_iter().map(|stored| stored.event).collect();
                    let Some(replayed) = orderly_domain::replay(&history) else {
                        problems.push(format!("order {id} has no events"));
                        continue;
                    };
                    for (day, delta) in SellerMetrics::daily_deltas(None, &history) {
                        metrics
                            .entry((replayed.seller_id.to_string(), day.to_string()))
                            .or_default()
                            .add(&delta);
                    }
                    if let Err(broken) = replayed.check_invariants() {
                        problems.push(format!("order {id}: {broken}"));
                    }
                    let stored = decode_order(&row.try_get::<String, _>("state")?)?;
                    if stored != replayed {
                        problems.push(format!("order {id}: the stored state differs from its events"));
                    }
                    let expected = projection::order_row(&replayed)?;
                    let columns = [
                        ("version", expected.version),
                        ("captured_minor", expected.captured_minor),
                        ("held_minor", expected.held_minor),
                        ("released_minor", expected.released_minor),
                        ("refunded_minor", expected.refunded_minor),
                    ];
                    for (column, value) in columns {
                        let actual: i64 = row.try_get(column)?;
                        if actual != value {
                            problems.push(format!("order {id}: {column} is {actual}, the events say {value}"));
                        }
                    }
                    let counts = [
                        ("deadlines", replayed.deadlines.len()),
                        ("refunds", replayed.refunds.len()),
                        ("ledger_entries", replayed.ledger.len()),
                    ];
                    for (table, count) in counts {
                        let actual: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                            "select count(*) from {table} where order_id = $1"
                        )))
                        .bind(&id)
                        .fetch_one(&mut *connection)
                        .await?;
                        if actual != count as i64 {
                            problems.push(format!("order {id}: {actual} {table} rows, the events say {count}"));
                        }
                    }
                }
                let stored_metrics = sqlx::query(
                    "select seller_id, day, cast(sum(orders) as bigint) as orders, \
                     cast(sum(penalty_points) as bigint) as penalty_points, cast(sum(shipments) as bigint) as shipments \
                     from seller_metrics_daily group by seller_id, day",
                )
                    .fetch_all(&mut *connection)
                    .await?;
                if stored_metrics.len() != metrics.len() {
                    integrity.problems.push(format!(
                        "{} seller-day metric rows, the events give {}",
                        stored_metrics.len(),
                        metrics.len()
                    ));
                }
                for row in stored_metrics {
                    let key = (row.try_get::<String, _>("seller_id")?, row.try_get::<String, _>("day")?);
                    let expected = metrics.get(&key).copied().unwrap_or_default();
                    let actual = (
                        row.try_get::<i64, _>("orders")?,
                        row.try_get::<i64, _>("penalty_points")?,
                        row.try_get::<i64, _>("shipments")?,
                    );
                    let wanted = (
                        i64::from(expected.orders),
                        i64::from(expected.penalty_points),
                        i64::from(expected.shipments),
                    );
                    if actual != wanted {
                        integrity.problems.push(format!("metrics of seller {} on {}: {actual:?}, the events say {wanted:?}", key.0, key.1));
                    }
                }
                Ok(integrity)
            }

            async fn ping(&self) -> Result<(), StoreError> {
                self.ready().await
            }

            async fn create_account(&self, account: &crate::Account, token_hash: &str, answer: Option<&IdempotentResponse>) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "insert into accounts (id, role, name, email, token_hash, revoked_at, created_at, updated_at) \
                     values ($1, $2, $3, $6, $4, null, $5, $5)",
                )
                .bind(account.id.to_string())
                .bind(account.role.code())
                .bind(&account.name)
                .bind(token_hash)
                .bind(micros(account.created_at))
                .bind(account.email.as_deref())
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(account.created_at)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn account_by_token(&self, token_hash: &str) -> Result<Option<crate::Account>, StoreError> {
                let mut reader = self.reader().await?;
                crate::write::account_by_token(&mut *reader, token_hash).await
            }

            async fn account(&self, id: AccountId) -> Result<Option<crate::Account>, StoreError> {
                let mut reader = self.reader().await?;
                crate::write::account(&mut *reader, id).await
            }

            async fn accounts_by_email(&self, email: &str) -> Result<Vec<crate::Account>, StoreError> {
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {ACCOUNT_COLUMNS} from accounts where lower(email) = lower($1) and revoked_at is null order by id limit 10"
                )))
                .bind(email)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| decode_account(cells(row, ACCOUNT_ROW)?)).collect()
            }

            async fn revoke_token(&self, id: AccountId, now: Timestamp, answer: Option<&IdempotentResponse>) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let revoked = sqlx::query(
                    "update accounts set revoked_at = $1, updated_at = $1 where id = $2 and revoked_at is null",
                )
                .bind(micros(now))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                tx.commit().await?;
                Ok(revoked.rows_affected() == 1)
            }

            async fn create_product(&self, product: &crate::Product, answer: Option<&IdempotentResponse>) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "insert into products (id, seller_id, title, currency, price_minor, shipping_fee_minor, stock, \
                     processing_days, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                )
                .bind(product.id.to_string())
                .bind(product.seller_id.to_string())
                .bind(&product.title)
                .bind(&product.currency)
                .bind(product.price_minor)
                .bind(product.shipping_fee_minor)
                .bind(product.stock)
                .bind(i64::from(product.processing_days))
                .bind(micros(product.created_at))
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(product.created_at)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_queue(&self, filter: crate::QueueFilter) -> Result<crate::QueuePage, StoreError> {
                let limit = filter.limit.clamp(1, crate::PAGE_LIMIT_MAX);
                // The queue's order as one sortable tuple: open first, due time (none last),
                // creation, id. Every value is a bind parameter.
                let mut sql = String::from(QUEUE_COLUMNS_SELECT);
                sql.push_str(
                    " where ($1 = '' or kind = $1) and ($2 = '' or status = $2) and ($3 = '' or order_id = $3) \
                     and ($4 = 0 or (case when status = 'open' then 0 else 1 end, coalesce(due_at, 9223372036854775807), created_at, id) > ($5, $6, $7, $8)) \
                     order by case when status = 'open' then 0 else 1 end, coalesce(due_at, 9223372036854775807), created_at, id limit $9",
                );
                let after = filter.after;
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(filter.kind.unwrap_or_default())
                    .bind(filter.status.unwrap_or_default())
                    .bind(filter.order_id.map(|id| id.to_string()).unwrap_or_default())
                    .bind(i64::from(after.is_some()))
                    .bind(after.map_or(0, |cursor| i64::from(!cursor.open)))
                    .bind(after.map_or(0, |cursor| cursor.due_at.map_or(i64::MAX, micros)))
                    .bind(after.map_or(0, |cursor| micros(cursor.created_at)))
                    .bind(after.map(|cursor| cursor.id.to_string()).unwrap_or_default())
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.iter().map(decode_queue_item).collect::<Result<Vec<_>, StoreError>>()?;
                let next = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items.last().map(|item| crate::QueueCursor {
                        open: item.status == "open",
                        due_at: item.due_at,
                        created_at: item.created_at,
                        id: item.id,
                    })
                } else {
                    None
                };
                Ok(crate::QueuePage { items, next })
            }

            async fn queue_item(&self, id: uuid::Uuid) -> Result<Option<crate::QueueItem>, StoreError> {
                let row = sqlx::query(AssertSqlSafe(format!("{QUEUE_COLUMNS_SELECT} where id = $1")))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(decode_queue_item).transpose()
            }

            async fn assign_queue_item(&self, id: uuid::Uuid, assignee: Option<AccountId>, now: Timestamp, answer: Option<&IdempotentResponse>) -> Result<Option<crate::QueueItem>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let updated = sqlx::query("update queue_items set assignee_id = $1, updated_at = $2 where id = $3")
                    .bind(assignee.map(|id| id.to_string()))
                    .bind(micros(now))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    return Ok(None);
                }
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                let row = sqlx::query(AssertSqlSafe(format!("{QUEUE_COLUMNS_SELECT} where id = $1")))
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let item = decode_queue_item(&row)?;
                tx.commit().await?;
                Ok(Some(item))
            }

            async fn resolve_queue_item(&self, id: uuid::Uuid, by: AccountId, note: &str, now: Timestamp, answer: Option<&IdempotentResponse>) -> Result<Option<crate::QueueItem>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let exists: Option<String> = sqlx::query_scalar("select status from queue_items where id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Ok(None);
                }
                sqlx::query(
                    "update queue_items set status = 'done', resolved_at = $1, resolved_by = $2, resolution_note = $3, updated_at = $1 \
                     where id = $4 and status = 'open'",
                )
                .bind(micros(now))
                .bind(by.to_string())
                .bind(note)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                let row = sqlx::query(AssertSqlSafe(format!("{QUEUE_COLUMNS_SELECT} where id = $1")))
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let item = decode_queue_item(&row)?;
                tx.commit().await?;
                Ok(Some(item))
            }

            async fn add_penalty(&self, seller_id: AccountId, points: u32, reason: &str, now: Timestamp, answer: Option<&(dyn for<'p> Fn(&'p crate::Penalty) -> IdempotentResponse + Sync)>) -> Result<crate::Penalty, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let row = sqlx::query(AssertSqlSafe(format!(
                    "insert into penalties (seller_id, order_id, event_seq, points, reason, source, created_at, updated_at) \
                     values ($1, null, null, $2, $3, 'manual', $4, $4) returning {PENALTY_COLUMNS}"
                )))
                .bind(seller_id.to_string())
                .bind(i64::from(points))
                .bind(reason)
                .bind(micros(now))
                .fetch_one(&mut *tx)
                .await?;
                let penalty = decode_penalty(&row)?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, &answer(&penalty), micros(now)).await?;
                }
                tx.commit().await?;
                Ok(penalty)
            }

            async fn revoke_penalty(&self, seller_id: AccountId, id: i64, note: &str, now: Timestamp, answer: Option<&(dyn for<'p> Fn(&'p crate::Penalty) -> IdempotentResponse + Sync)>) -> Result<Option<crate::Penalty>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "update penalties set revoked_at = $1, revoke_note = $2, updated_at = $1 \
                     where id = $3 and seller_id = $4 and revoked_at is null",
                )
                .bind(micros(now))
                .bind(note)
                .bind(id)
                .bind(seller_id.to_string())
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(AssertSqlSafe(format!(
                    "select {PENALTY_COLUMNS} from penalties where id = $1 and seller_id = $2"
                )))
                .bind(id)
                .bind(seller_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let penalty = decode_penalty(&row)?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, &answer(&penalty), micros(now)).await?;
                }
                tx.commit().await?;
                Ok(Some(penalty))
            }

            async fn penalties(&self, seller_id: AccountId) -> Result<Vec<crate::Penalty>, StoreError> {
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {PENALTY_COLUMNS} from penalties where seller_id = $1 order by created_at desc, id desc limit 1000"
                )))
                .bind(seller_id.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(decode_penalty).collect()
            }

            async fn penalty_points(&self, seller_id: AccountId, since: Timestamp) -> Result<u32, StoreError> {
                let points: i64 = sqlx::query_scalar(
                    "select cast(coalesce(sum(points), 0) as bigint) from penalties \
                     where seller_id = $1 and created_at >= $2 and revoked_at is null",
                )
                .bind(seller_id.to_string())
                .bind(micros(since))
                .fetch_one(&self.pool)
                .await?;
                Ok(u32::try_from(points).unwrap_or(u32::MAX))
            }

            async fn evidence_file(&self, order_id: OrderId, id: orderly_domain::EvidenceId) -> Result<Option<crate::EvidenceFile>, StoreError> {
                let row = sqlx::query(
                    "select filename, content_type, data from evidence_files where id = $1 and order_id = $2",
                )
                .bind(id.to_string())
                .bind(order_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                Ok(Some(crate::EvidenceFile {
                    id,
                    order_id,
                    filename: row.try_get("filename")?,
                    content_type: row.try_get("content_type")?,
                    bytes: row.try_get("data")?,
                }))
            }

            async fn product(&self, id: orderly_domain::ProductId) -> Result<Option<crate::Product>, StoreError> {
                let mut reader = self.reader().await?;
                crate::write::product(&mut *reader, id).await
            }

            async fn list_products(&self, filter: crate::ProductFilter) -> Result<Vec<crate::Product>, StoreError> {
                let limit = i64::from(filter.limit.clamp(1, crate::PAGE_LIMIT_MAX));
                // Newest first; the cursor is the last product's (created_at, id).
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {PRODUCT_COLUMNS} from products \
                     where ($1 is null or seller_id = $1) \
                     and ($2 is null or (created_at, id) < (select created_at, id from products where id = $2)) \
                     order by created_at desc, id desc limit $3"
                )))
                .bind(filter.seller_id.map(|id| id.to_string()))
                .bind(filter.after.map(|id| id.to_string()))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(decode_product).collect()
            }

            async fn update_product(&self, id: orderly_domain::ProductId, seller_id: AccountId, change: &crate::ProductChange, now: Timestamp, answer: Option<&IdempotentResponse>) -> Result<Option<crate::Product>, StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                let row = sqlx::query(AssertSqlSafe(format!(
                    "update products set title = coalesce($1, title), price_minor = coalesce($2, price_minor), \
                     shipping_fee_minor = coalesce($3, shipping_fee_minor), stock = coalesce($4, stock), \
                     processing_days = coalesce($5, processing_days), updated_at = $6 \
                     where id = $7 and seller_id = $8 returning {PRODUCT_COLUMNS}"
                )))
                .bind(change.title.as_deref())
                .bind(change.price_minor)
                .bind(change.shipping_fee_minor)
                .bind(change.stock)
                .bind(change.processing_days.map(i64::from))
                .bind(micros(now))
                .bind(id.to_string())
                .bind(seller_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let product = decode_product(&row)?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                tx.commit().await?;
                Ok(Some(product))
            }

            async fn list_accounts(&self, role: Option<orderly_domain::Role>, after: Option<AccountId>, limit: u32) -> Result<Vec<crate::Account>, StoreError> {
                let limit = i64::from(limit.clamp(1, crate::PAGE_LIMIT_MAX));
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {ACCOUNT_COLUMNS} from accounts \
                     where ($1 is null or role = $1) \
                     and ($2 is null or (created_at, id) < (select created_at, id from accounts where id = $2)) \
                     order by created_at desc, id desc limit $3"
                )))
                .bind(role.map(|role| role.code().to_owned()))
                .bind(after.map(|id| id.to_string()))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| decode_account(cells(row, ACCOUNT_ROW)?)).collect()
            }

            async fn create_session(&self, id_hash: &str, account_id: AccountId, csrf: &str, now: Timestamp, expires_at: Timestamp) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("insert into sessions (id_hash, account_id, csrf, created_at, expires_at) values ($1, $2, $3, $4, $5)")
                    .bind(id_hash)
                    .bind(account_id.to_string())
                    .bind(csrf)
                    .bind(micros(now))
                    .bind(micros(expires_at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<crate::Session>, StoreError> {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "select {ACCOUNT_COLUMNS_OF_A}, s.csrf, s.expires_at as session_expires_at from sessions s \
                     join accounts a on a.id = s.account_id \
                     where s.id_hash = $1 and s.expires_at > $2 and a.revoked_at is null"
                )))
                .bind(id_hash)
                .bind(micros(now))
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                Ok(Some(crate::Session {
                    account: decode_account(cells(&row, ACCOUNT_ROW)?)?,
                    csrf: row.try_get("csrf")?,
                    expires_at: from_micros(row.try_get("session_expires_at")?)?,
                }))
            }

            async fn end_session(&self, id_hash: &str) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("delete from sessions where id_hash = $1").bind(id_hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn create_signin_link(&self, token_hash: &str, account_id: AccountId, return_to: Option<&str>, now: Timestamp, expires_at: Timestamp, answer: Option<&IdempotentResponse>) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "insert into signin_links (token_hash, account_id, return_to, expires_at, used_at, created_at) \
                     values ($1, $2, $3, $4, null, $5)",
                )
                .bind(token_hash)
                .bind(account_id.to_string())
                .bind(return_to)
                .bind(micros(expires_at))
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
                if let Some(answer) = answer {
                    write_idempotency(&mut *tx, answer, micros(now)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_signin_link(&self, token_hash: &str, now: Timestamp) -> Result<Option<crate::SigninLink>, StoreError> {
                let _turn = self.write_turn().await?;
                // One statement: two browsers racing for one link cannot both win.
                let row = sqlx::query(
                    "update signin_links set used_at = $1 where token_hash = $2 and used_at is null and expires_at > $1 \
                     and account_id in (select id from accounts where revoked_at is null) \
                     returning account_id, return_to",
                )
                .bind(micros(now))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let account_id: String = row.try_get("account_id")?;
                Ok(Some(crate::SigninLink {
                    account_id: AccountId::from_uuid(
                        account_id.parse().map_err(|error| StoreError::Other(anyhow::anyhow!("stored account id: {error}")))?,
                    ),
                    return_to: row.try_get("return_to")?,
                }))
            }

            async fn orders_by_number(&self, number: &str) -> Result<Vec<OrderId>, StoreError> {
                let number = number.trim().to_ascii_lowercase();
                if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Ok(Vec::new());
                }
                let ids: Vec<String> = sqlx::query_scalar("select id from orders where id like $1 order by placed_at desc limit 20")
                    .bind(format!("%{number}"))
                    .fetch_all(&self.pool)
                    .await?;
                ids.iter()
                    .map(|id| {
                        id.parse()
                            .map(OrderId::from_uuid)
                            .map_err(|error| StoreError::Other(anyhow::anyhow!("stored order id: {error}")))
                    })
                    .collect()
            }

            async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
                let _turn = self.write_turn().await?;
                let sessions = sqlx::query("delete from sessions where expires_at < $1").bind(micros(before)).execute(&self.pool).await?;
                let links = sqlx::query("delete from signin_links where expires_at < $1").bind(micros(before)).execute(&self.pool).await?;
                Ok(sessions.rows_affected() + links.rows_affected())
            }
        }

        use crate::write::PRODUCT_COLUMNS;
        const ACCOUNT_COLUMNS: &str = "id, role, name, email, created_at, revoked_at";
        const ACCOUNT_COLUMNS_OF_A: &str = "a.id, a.role, a.name, a.email, a.created_at, a.revoked_at";

        fn decode_product(row: &<$db as sqlx::Database>::Row) -> Result<crate::Product, StoreError> {
            let parse = |column: &str| -> Result<uuid::Uuid, StoreError> {
                let text: String = row.try_get(column)?;
                text.parse().map_err(|error| StoreError::Other(anyhow::anyhow!("stored {column}: {error}")))
            };
            Ok(crate::Product {
                id: orderly_domain::ProductId::from_uuid(parse("id")?),
                seller_id: AccountId::from_uuid(parse("seller_id")?),
                title: row.try_get("title")?,
                currency: row.try_get("currency")?,
                price_minor: row.try_get("price_minor")?,
                shipping_fee_minor: row.try_get("shipping_fee_minor")?,
                stock: row.try_get("stock")?,
                processing_days: u32::try_from(row.try_get::<i64, _>("processing_days")?).unwrap_or(0),
                created_at: from_micros(row.try_get("created_at")?)?,
            })
        }

        const INTEGRATION_COLUMNS: &str = "id, kind, name, secret_version, previous_version, previous_valid_until, revoked_at, created_at";

        fn decode_integration(row: &<$db as sqlx::Database>::Row) -> Result<crate::Integration, StoreError> {
            let optional_time = |column: &str| -> Result<Option<Timestamp>, StoreError> {
                let value: Option<i64> = row.try_get(column)?;
                value.map(from_micros).transpose()
            };
            Ok(crate::Integration {
                id: parse_uuid(&row.try_get::<String, _>("id")?, "integration id")?,
                kind: row.try_get("kind")?,
                name: row.try_get("name")?,
                secret_version: u32::try_from(row.try_get::<i64, _>("secret_version")?).unwrap_or(0),
                previous_version: row
                    .try_get::<Option<i64>, _>("previous_version")?
                    .map(|version| u32::try_from(version).unwrap_or(0)),
                previous_valid_until: optional_time("previous_valid_until")?,
                revoked_at: optional_time("revoked_at")?,
                created_at: from_micros(row.try_get("created_at")?)?,
            })
        }

        const OUTBOX_COLUMNS: &str = "id, order_id, topic, dedupe_key, payload, attempts, last_error, next_attempt_at, \
            created_at, delivered_at, dead_at, skipped_at";

        /// The outbox's topics as `topics (topic)`, found by one seek per topic in the
        /// per-status index (which the topic leads) rather than by reading the table: what
        /// the backlog and the purge then read, topic by topic, from the same index.
        const OUTBOX_TOPICS: &str = "with recursive topics (topic) as (select min(topic) from outbox \
            union all select (select min(n.topic) from outbox n where n.topic > topics.topic) from topics \
            where topics.topic is not null)";

        fn decode_outbox_entry(row: &<$db as sqlx::Database>::Row) -> Result<crate::OutboxEntry, StoreError> {
            let optional_time = |column: &str| -> Result<Option<Timestamp>, StoreError> {
                let value: Option<i64> = row.try_get(column)?;
                value.map(from_micros).transpose()
            };
            let delivered_at = optional_time("delivered_at")?;
            let dead_at = optional_time("dead_at")?;
            let skipped_at = optional_time("skipped_at")?;
            let status = match (delivered_at, skipped_at, dead_at) {
                (Some(_), _, _) => "delivered",
                (None, Some(_), _) => "skipped",
                (None, None, Some(_)) => "dead",
                (None, None, None) => "pending",
            };
            Ok(crate::OutboxEntry {
                id: row.try_get("id")?,
                order_id: parse_order_id(&row.try_get::<String, _>("order_id")?)?,
                topic: row.try_get("topic")?,
                dedupe_key: row.try_get("dedupe_key")?,
                payload: row.try_get("payload")?,
                status: status.to_owned(),
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                last_error: row.try_get("last_error")?,
                next_attempt_at: from_micros(row.try_get("next_attempt_at")?)?,
                created_at: from_micros(row.try_get("created_at")?)?,
                delivered_at,
                dead_at,
            })
        }

        /// The id of the queue item a dead message opens: derived from the message, so a
        /// message that dies again reopens the same item.
        fn dead_item_id(message_id: i64) -> String {
            uuid::Uuid::from_u128(0xdead_0000_0000_0000_0000_0000_0000_0000 | message_id as u128).to_string()
        }

        async fn resolve_dead_item(connection: &mut Connection, message_id: i64, note: &str, now: Timestamp) -> Result<(), StoreError> {
            sqlx::query(
                "update queue_items set status = 'done', resolved_at = $1, resolution_note = $2, updated_at = $1 \
                 where kind = 'delivery_dead' and reference = $3 and status = 'open'",
            )
            .bind(micros(now))
            .bind(note)
            .bind(format!("outbox:{message_id}"))
            .execute(&mut *connection)
            .await?;
            Ok(())
        }

        const QUEUE_COLUMNS_SELECT: &str = "select id, kind, order_id, seller_id, reference, summary, status, due_at, assignee_id, \
            resolved_at, resolved_by, resolution_note, created_at from queue_items";
        const PENALTY_COLUMNS: &str = "id, seller_id, order_id, points, reason, source, created_at, revoked_at, revoke_note";

        fn parse_uuid(text: &str, what: &str) -> Result<uuid::Uuid, StoreError> {
            text.parse()
                .map_err(|error| StoreError::Other(anyhow::anyhow!("stored {what} {text}: {error}")))
        }

        fn decode_queue_item(row: &<$db as sqlx::Database>::Row) -> Result<crate::QueueItem, StoreError> {
            let optional_id = |column: &str| -> Result<Option<AccountId>, StoreError> {
                let text: Option<String> = row.try_get(column)?;
                text.map(|text| parse_uuid(&text, column).map(AccountId::from_uuid)).transpose()
            };
            let optional_time = |column: &str| -> Result<Option<Timestamp>, StoreError> {
                let value: Option<i64> = row.try_get(column)?;
                value.map(from_micros).transpose()
            };
            Ok(crate::QueueItem {
                id: parse_uuid(&row.try_get::<String, _>("id")?, "queue item id")?,
                kind: row.try_get("kind")?,
                order_id: parse_order_id(&row.try_get::<String, _>("order_id")?)?,
                seller_id: AccountId::from_uuid(parse_uuid(&row.try_get::<String, _>("seller_id")?, "seller id")?),
                reference: row.try_get("reference")?,
                summary: row.try_get("summary")?,
                status: row.try_get("status")?,
                due_at: optional_time("due_at")?,
                assignee_id: optional_id("assignee_id")?,
                resolved_at: optional_time("resolved_at")?,
                resolved_by: optional_id("resolved_by")?,
                resolution_note: row.try_get("resolution_note")?,
                created_at: from_micros(row.try_get("created_at")?)?,
            })
        }

        fn decode_penalty(row: &<$db as sqlx::Database>::Row) -> Result<crate::Penalty, StoreError> {
            let order_id: Option<String> = row.try_get("order_id")?;
            let revoked_at: Option<i64> = row.try_get("revoked_at")?;
            Ok(crate::Penalty {
                id: row.try_get("id")?,
                seller_id: AccountId::from_uuid(parse_uuid(&row.try_get::<String, _>("seller_id")?, "seller id")?),
                order_id: order_id.as_deref().map(parse_order_id).transpose()?,
                points: u32::try_from(row.try_get::<i64, _>("points")?).unwrap_or(0),
                reason: row.try_get("reason")?,
                source: row.try_get("source")?,
                created_at: from_micros(row.try_get("created_at")?)?,
                revoked_at: revoked_at.map(from_micros).transpose()?,
                revoke_note: row.try_get("revoke_note")?,
            })
        }

        fn parse_order_id(text: &str) -> Result<OrderId, StoreError> {
            text.parse()
                .map(OrderId::from_uuid)
                .map_err(|error| StoreError::Other(anyhow::anyhow!("stored order id {text}: {error}")))
        }

        async fn read_events(connection: &mut Connection, order_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
            let rows = sqlx::query("select seq, last_seq, body from events where order_id = $1 order by seq")
                .bind(order_id)
                .fetch_all(&mut *connection)
                .await?;
            let mut events = Vec::new();
            for row in &rows {
                events.extend(decode_events(row)?);
            }
            Ok(events)
        }

        /// The events of one row: those one command appended.
        fn decode_events(row: &<$db as sqlx::Database>::Row) -> Result<Vec<StoredEvent>, StoreError> {
            let body: String = row.try_get("body")?;
            projection::stored_events(row.try_get("seq")?, row.try_get("last_seq")?, &body)
        }

        impl crate::exec::Exec for Connection {
            const LOCK_ORDER: &'static str = $lock_order;
            const BUYER_LOCK: &'static str = $buyer_lock;
            const UNIT_AS_ONE_STATEMENT: bool = $unit_as_one_statement;
            const METRIC_SHARDS: u64 = $metric_shards;

            async fn execute(&mut self, statement: &crate::exec::Statement<'_>) -> Result<u64, StoreError> {
                Ok(query_of(statement).execute(&mut *self).await?.rows_affected())
            }

            async fn fetch(
                &mut self,
                statement: &crate::exec::Statement<'_>,
                columns: &[crate::exec::Column],
            ) -> Result<Vec<crate::exec::Row>, StoreError> {
                let rows = query_of(statement).fetch_all(&mut *self).await?;
                rows.iter().map(|row| cells(row, columns)).collect()
            }
        }

        /// The sqlx query of a statement, its parameters bound in order.
        fn query_of<'q>(
            statement: &'q crate::exec::Statement<'q>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            use crate::exec::Value;
            let mut query = sqlx::query(AssertSqlSafe(statement.sql.as_ref()));
            for value in &statement.params {
                query = match value {
                    Value::Int(value) => query.bind(*value),
                    Value::OptInt(value) => query.bind(*value),
                    Value::Text(value) => query.bind(value.as_ref()),
                    Value::OptText(value) => query.bind(*value),
                    Value::Blob(value) => query.bind(*value),
                };
            }
            query
        }

        /// The first `columns.len()` columns of a sqlx row, read as `columns` say.
        fn cells(row: &<$db as sqlx::Database>::Row, columns: &[crate::exec::Column]) -> Result<crate::exec::Row, StoreError> {
            use crate::exec::{Cell, Column};
            let text = |value: Option<String>| value.map_or(Cell::Null, Cell::Text);
            let int = |value: Option<i64>| value.map_or(Cell::Null, Cell::Int);
            columns
                .iter()
                .enumerate()
                .map(|(index, column)| {
                    Ok(match column {
                        Column::Int => Cell::Int(row.try_get(index)?),
                        Column::OptInt => int(row.try_get(index)?),
                        Column::Text => Cell::Text(row.try_get(index)?),
                        Column::OptText => text(row.try_get(index)?),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
                .map(crate::exec::Row)
        }
    };
}

pub(crate) use store_impl;
