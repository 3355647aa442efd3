//! The `Store` implementation, written once and instantiated for each backend by the
//! `store_impl!` macro: the SQL is the same text on both (sqlx binds `$1`-style parameters
//! on SQLite too), and the few statements that differ — how a write transaction begins, how
//! the order row is locked, how work is claimed — are arguments of the macro.

/// Generates `impl Store for $store` for the backend `$db`.
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
        begin: $begin:literal,
        lock_order: $lock_order:literal,
        claim_deadlines: $claim_deadlines:literal,
        claim_outbox: $claim_outbox:literal,
        buyer_lock: $buyer_lock:literal,
        migrations: $migrations:expr,
        migration_lock: $migration_lock:literal $(,)?
    ) => {
        use async_trait::async_trait;
        use jiff::Timestamp;
        use orderly_domain::seller::SellerMetrics;
        use orderly_domain::{AccountId, DeadlineKind, Event, Order, OrderId};
        use sqlx::{AssertSqlSafe, Row as _};

        use crate::projection::{self, Rows};
        use crate::{
            Batch, Committed, Cursor, Decide, DueDeadline, IdempotencyBegin, IdempotentResponse,
            Integrity, OrderFilter, OutboxMessage, Page, Store, StoredEvent, Viewer, from_micros,
            micros,
        };

        type Connection = <$db as sqlx::Database>::Connection;

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

            async fn append(&self, expected_version: u64, batch: Batch) -> Result<Committed, StoreError> {
                self.write(crate::Write::Append {
                    expected_version,
                    batch: Box::new(batch),
                })
                .await
            }

            async fn load_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
                let mut connection = self.pool.acquire().await?;
                load_state(&mut connection, order_id, "select state, version from orders where id = $1").await
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
                let limit = limit.clamp(1, crate::PAGE_LIMIT_MAX);
                let rows = sqlx::query(
                    "select seq, body from events where order_id = $1 and seq > $2 \
                     and ($3 = '' or kind = $3) order by seq limit $4",
                )
                .bind(order_id.to_string())
                .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
                .bind(kind.unwrap_or(""))
                .bind(i64::from(limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                let mut events = rows.iter().map(decode_event).collect::<Result<Vec<_>, StoreError>>()?;
                let next = if events.len() > limit as usize {
                    events.truncate(limit as usize);
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
                let deleted = sqlx::query("delete from outbox where delivered_at is not null and delivered_at < $1")
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
                    write_idempotency(&mut tx, answer, micros(integration.created_at)).await?;
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn outbox_backlog(&self) -> Result<u64, StoreError> {
                let count: i64 = sqlx::query_scalar(
                    "select count(*) from outbox where delivered_at is null and dead_at is null and skipped_at is null",
                )
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
                let mut connection = self.pool.acquire().await?;
                match write_idempotency(&mut connection, &response, micros(now)).await {
                    // Taken over meanwhile: the new owner's answer stands.
                    Err(StoreError::Conflict) => Ok(()),
                    other => other,
                }
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
                    write_projection_rows(&mut tx, &rows, micros(order.placed_at)).await?;
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
                let stored_metrics = sqlx::query("select seller_id, day, orders, penalty_points, shipments from seller_metrics_daily")
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
                    write_idempotency(&mut tx, answer, micros(account.created_at)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn account_by_token(&self, token_hash: &str) -> Result<Option<crate::Account>, StoreError> {
                let row = sqlx::query(
                    AssertSqlSafe(format!("select {ACCOUNT_COLUMNS} from accounts where token_hash = $1 and revoked_at is null")),
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| decode_account(&row)).transpose()
            }

            async fn account(&self, id: AccountId) -> Result<Option<crate::Account>, StoreError> {
                let row = sqlx::query(AssertSqlSafe(format!("select {ACCOUNT_COLUMNS} from accounts where id = $1")))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| decode_account(&row)).transpose()
            }

            async fn accounts_by_email(&self, email: &str) -> Result<Vec<crate::Account>, StoreError> {
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select {ACCOUNT_COLUMNS} from accounts where lower(email) = lower($1) and revoked_at is null order by id limit 10"
                )))
                .bind(email)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(decode_account).collect()
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
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
                    write_idempotency(&mut tx, answer, micros(product.created_at)).await?;
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
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
                    write_idempotency(&mut tx, &answer(&penalty), micros(now)).await?;
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
                    write_idempotency(&mut tx, &answer(&penalty), micros(now)).await?;
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
                let row = sqlx::query(AssertSqlSafe(format!("select {PRODUCT_COLUMNS} from products where id = $1")))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| decode_product(&row)).transpose()
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
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
                rows.iter().map(decode_account).collect()
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
                    account: decode_account(&row)?,
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
                    write_idempotency(&mut tx, answer, micros(now)).await?;
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

        const PRODUCT_COLUMNS: &str =
            "id, seller_id, title, currency, price_minor, shipping_fee_minor, stock, processing_days, created_at";
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

        /// Runs one write inside the caller's transaction: reads the order with its lock,
        /// decides (or checks the expected version), and writes the batch. The caller
        /// begins and commits, so several writes can share one commit.
        async fn perform(connection: &mut Connection, write: crate::Write) -> Result<Committed, StoreError> {
            match write {
                crate::Write::Decide { order_id, mut decide } => {
                    let before = load_state(connection, order_id, $lock_order).await?;
                    // A panic is a bug in one decision: it fails this command alone, not
                    // the other commands sharing its transaction, nor the writer.
                    let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(before.as_ref())))
                        .map_err(|panic| StoreError::Other(anyhow::anyhow!(
                            "the decision for order {order_id} panicked: {}",
                            panic_message(&panic)
                        )))?;
                    let batch = decided.map_err(StoreError::Rejected)?;
                    assert_eq!(batch.order.id, order_id, "a command's batch belongs to its order");
                    let events = write_batch(connection, before.as_ref(), &batch).await?;
                    Ok(Committed { order: batch.order, events })
                }
                crate::Write::Append { expected_version, batch } => {
                    let before = load_state(connection, batch.order.id, $lock_order).await?;
                    let version = before.as_ref().map_or(0, |order| order.version);
                    if version != expected_version {
                        return Err(StoreError::Conflict);
                    }
                    let events = write_batch(connection, before.as_ref(), &batch).await?;
                    Ok(Committed { order: batch.order, events })
                }
            }
        }

        /// Claims an idempotency key for a request about to run, or says why not: the
        /// statements of [`Store::idempotency_begin`], on the connection given (inside the
        /// SQLite writer's group transaction, or on its own on PostgreSQL).
        async fn reserve_key(connection: &mut Connection, reservation: &crate::Reservation) -> Result<IdempotencyBegin, StoreError> {
            let crate::Reservation { account_id, key, fingerprint, owner, now, stale_secs } = reservation;
            let account = account_id.to_string();
            let now = micros(*now);
            let inserted = sqlx::query(
                "insert into idempotency_keys (account_id, key, fingerprint, owner, status, response, created_at, updated_at) \
                 values ($1, $2, $3, $4, null, null, $5, $5) on conflict (account_id, key) do nothing",
            )
            .bind(&account)
            .bind(key)
            .bind(fingerprint)
            .bind(owner)
            .bind(now)
            .execute(&mut *connection)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(IdempotencyBegin::Started);
            }
            let row = sqlx::query(
                "select fingerprint, status, response, updated_at from idempotency_keys where account_id = $1 and key = $2",
            )
            .bind(&account)
            .bind(key)
            .fetch_optional(&mut *connection)
            .await?;
            let Some(row) = row else {
                // Purged between the two statements (PostgreSQL runs them apart): start over once.
                return Ok(IdempotencyBegin::InFlight);
            };
            if row.try_get::<String, _>("fingerprint")? != *fingerprint {
                return Ok(IdempotencyBegin::Mismatch);
            }
            let status: Option<i64> = row.try_get("status")?;
            if let Some(status) = status {
                let body: Option<String> = row.try_get("response")?;
                return Ok(IdempotencyBegin::Done {
                    status: u16::try_from(status).unwrap_or(500),
                    body: body.unwrap_or_default(),
                });
            }
            let updated_at: i64 = row.try_get("updated_at")?;
            if updated_at < now - stale_secs * 1_000_000 {
                let taken = sqlx::query(
                    "update idempotency_keys set updated_at = $1, owner = $5 where account_id = $2 and key = $3 and status is null and updated_at = $4",
                )
                .bind(now)
                .bind(&account)
                .bind(key)
                .bind(updated_at)
                .bind(owner)
                .execute(&mut *connection)
                .await?;
                if taken.rows_affected() == 1 {
                    return Ok(IdempotencyBegin::Started);
                }
            }
            Ok(IdempotencyBegin::InFlight)
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

        /// The queue rows of one command: new items (a repeated cause is ignored) and the
        /// open items of this order that its events settle.
        async fn write_queue(connection: &mut Connection, batch: &Batch, order: &crate::projection::OrderRow, now: i64) -> Result<(), StoreError> {
            for resolution in &batch.queue_resolutions {
                sqlx::query(
                    "update queue_items set status = 'done', resolved_at = $1, resolution_note = $2, updated_at = $1 \
                     where order_id = $3 and kind = $4 and status = 'open' and ($5 = '' or reference = $5)",
                )
                .bind(now)
                .bind(&resolution.note)
                .bind(&order.id)
                .bind(&resolution.kind)
                .bind(resolution.reference.clone().unwrap_or_default())
                .execute(&mut *connection)
                .await?;
            }
            for item in &batch.queue {
                sqlx::query(
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
                .bind(now)
                .execute(&mut *connection)
                .await?;
            }
            if let Some(evidence) = &batch.evidence {
                sqlx::query(
                    "insert into evidence_files (id, order_id, filename, content_type, size, data, uploaded_by, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(evidence.id.to_string())
                .bind(&order.id)
                .bind(&evidence.filename)
                .bind(&evidence.content_type)
                .bind(i64::try_from(evidence.bytes.len()).unwrap_or(i64::MAX))
                .bind(&evidence.bytes)
                .bind(&evidence.uploaded_by)
                .bind(now)
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        }

        fn decode_account(row: &<$db as sqlx::Database>::Row) -> Result<crate::Account, StoreError> {
            let id: String = row.try_get("id")?;
            let role: String = row.try_get("role")?;
            Ok(crate::Account {
                id: AccountId::from_uuid(
                    id.parse().map_err(|error| StoreError::Other(anyhow::anyhow!("stored account id: {error}")))?,
                ),
                role: match role.as_str() {
                    "buyer" => orderly_domain::Role::Buyer,
                    "seller" => orderly_domain::Role::Seller,
                    "admin" => orderly_domain::Role::Admin,
                    other => return Err(StoreError::Other(anyhow::anyhow!("stored role {other}"))),
                },
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                created_at: from_micros(row.try_get("created_at")?)?,
                revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_micros).transpose()?,
            })
        }

        fn parse_order_id(text: &str) -> Result<OrderId, StoreError> {
            text.parse()
                .map(OrderId::from_uuid)
                .map_err(|error| StoreError::Other(anyhow::anyhow!("stored order id {text}: {error}")))
        }

        fn decode_order(state: &str) -> Result<Order, StoreError> {
            serde_json::from_str(state)
                .map_err(|error| StoreError::Other(anyhow::anyhow!("stored order state: {error}")))
        }

        /// The order's state from its row, checked against its invariants (bugs assert
        /// at both ends: after `apply`, and when loading).
        async fn load_state(connection: &mut Connection, order_id: OrderId, sql: &'static str) -> Result<Option<Order>, StoreError> {
            let row = sqlx::query(sql)
                .bind(order_id.to_string())
                .fetch_optional(&mut *connection)
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let order = decode_order(&row.try_get::<String, _>("state")?)?;
            let version: i64 = row.try_get("version")?;
            if order.version as i64 != version {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "order {order_id}: stored version {version} differs from its state's {}",
                    order.version
                )));
            }
            if let Err(broken) = order.check_invariants() {
                return Err(StoreError::Invariant(format!("order {order_id} as loaded: {broken}")));
            }
            Ok(Some(order))
        }

        async fn read_events(connection: &mut Connection, order_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
            let rows = sqlx::query("select seq, body from events where order_id = $1 order by seq")
                .bind(order_id)
                .fetch_all(&mut *connection)
                .await?;
            rows.iter().map(decode_event).collect()
        }

        fn decode_event(row: &<$db as sqlx::Database>::Row) -> Result<StoredEvent, StoreError> {
            let body: String = row.try_get("body")?;
            let event: Event = serde_json::from_str(&body)
                .map_err(|error| StoreError::Other(anyhow::anyhow!("stored event: {error}")))?;
            Ok(StoredEvent {
                seq: u64::try_from(row.try_get::<i64, _>("seq")?).unwrap_or(0),
                event,
            })
        }

        fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_else(|| "a panic without a message".into())
        }

        /// Writes everything one command produced. Runs inside the caller's transaction.
        async fn write_batch(connection: &mut Connection, before: Option<&Order>, batch: &Batch) -> Result<Vec<StoredEvent>, StoreError> {
            let now = batch.events.last().map_or_else(|| micros(batch.order.placed_at), |event| micros(event.at));
            if batch.events.is_empty() {
                if let Some(response) = &batch.idempotency {
                    write_idempotency(connection, response, now).await?;
                }
                return Ok(Vec::new());
            }
            let rows = projection::rows(before, &batch.events, &batch.order)?;
            let order = &rows.order;
            if let (None, Some(max)) = (before, batch.unpaid_orders_max) {
                if !$buyer_lock.is_empty() {
                    sqlx::query($buyer_lock).bind(&order.buyer_id).execute(&mut *connection).await?;
                }
                let unpaid: i64 = sqlx::query_scalar(
                    "select count(*) from orders where buyer_id = $1 and status = 'awaiting_payment'",
                )
                .bind(&order.buyer_id)
                .fetch_one(&mut *connection)
                .await?;
                if unpaid >= i64::from(max) {
                    return Err(StoreError::Rejected(orderly_domain::Rejection::Conflict {
                        detail: format!(
                            "you already have {unpaid} unpaid orders, the most allowed; pay or cancel one of them before placing another"
                        ),
                    }));
                }
            }
            match before {
                None => {
                    sqlx::query(
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
                    .bind(now)
                    .execute(&mut *connection)
                    .await?;
                }
                Some(previous) => {
                    let updated = sqlx::query(
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
                    .bind(previous.version as i64)
                    .execute(&mut *connection)
                    .await?;
                    if updated.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                }
            }
            // One statement for all the command's events: `(order_id, created_at)` are $1 and
            // $2, then four parameters per event. Built from fixed fragments only.
            let mut sql = String::from("insert into events (order_id, created_at, seq, at, kind, body) values ");
            for index in 0..rows.events.len() {
                let base = 3 + index * 4;
                if index > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("($1, $2, ${}, ${}, ${}, ${})", base, base + 1, base + 2, base + 3));
            }
            let mut insert = sqlx::query(AssertSqlSafe(sql)).bind(&order.id).bind(now);
            for event in &rows.events {
                insert = insert.bind(event.seq).bind(event.at).bind(event.kind).bind(&event.body);
            }
            insert.execute(&mut *connection).await?;
            if rows.deadlines.is_some() {
                sqlx::query("delete from deadlines where order_id = $1")
                    .bind(&order.id)
                    .execute(&mut *connection)
                    .await?;
            }
            write_projection_rows(connection, &rows, now).await?;
            write_queue(connection, batch, order, now).await?;
            if !batch.outbox.is_empty() {
                let sql = crate::backend::values_sql(
                    "insert into outbox (order_id, topic, dedupe_key, payload, next_attempt_at, created_at, updated_at) values ",
                    "(#, #, #, #, #, #, #)",
                    batch.outbox.len(),
                    " on conflict (dedupe_key) do nothing",
                );
                let mut insert = sqlx::query(AssertSqlSafe(sql));
                for message in &batch.outbox {
                    insert = insert
                        .bind(&order.id)
                        .bind(&message.topic)
                        .bind(&message.dedupe_key)
                        .bind(&message.payload)
                        .bind(now)
                        .bind(now)
                        .bind(now);
                }
                insert.execute(&mut *connection).await?;
            }
            for (product_id, delta) in &batch.stock {
                sqlx::query("update products set stock = stock + $1, updated_at = $2 where id = $3")
                    .bind(*delta)
                    .bind(now)
                    .bind(product_id.to_string())
                    .execute(&mut *connection)
                    .await?;
            }
            if let Some(response) = &batch.idempotency {
                write_idempotency(connection, response, now).await?;
            }
            let first_seq = before.map_or(1, |order| order.version + 1);
            Ok(batch
                .events
                .iter()
                .enumerate()
                .map(|(index, event)| StoredEvent { seq: first_seq + index as u64, event: event.clone() })
                .collect())
        }

        /// Deadlines, refunds, new ledger entries and seller metrics of `rows`. When the
        /// deadlines changed, the caller has removed the order's deadline rows (they are
        /// rewritten whole).
        async fn write_projection_rows(connection: &mut Connection, rows: &Rows, now: i64) -> Result<(), StoreError> {
            let order_id = &rows.order.id;
            // One statement per table, whatever the number of rows.
            let deadlines: Vec<_> = rows.deadlines.iter().flatten().collect();
            if !deadlines.is_empty() {
                let sql = crate::backend::values_sql(
                    "insert into deadlines (order_id, kind, due_at, paused, claimed_until, created_at, updated_at) values ",
                    "(#, #, #, #, 0, #, #)",
                    deadlines.len(),
                    "",
                );
                let mut insert = sqlx::query(AssertSqlSafe(sql));
                for deadline in deadlines {
                    insert = insert.bind(order_id).bind(deadline.kind).bind(deadline.due_at).bind(deadline.paused).bind(now).bind(now);
                }
                insert.execute(&mut *connection).await?;
            }
            for refund in &rows.refunds {
                sqlx::query(
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
                .bind(now)
                .execute(&mut *connection)
                .await?;
            }
            if let Some((carrier_key, tracking_number)) = &rows.shipment {
                sqlx::query(
                    "insert into shipments (order_id, carrier_key, tracking_number, created_at, updated_at) values ($1, $2, $3, $4, $4) \
                     on conflict (order_id) do update set carrier_key = excluded.carrier_key, tracking_number = excluded.tracking_number, \
                     updated_at = excluded.updated_at",
                )
                .bind(order_id)
                .bind(carrier_key)
                .bind(tracking_number)
                .bind(now)
                .execute(&mut *connection)
                .await?;
            }
            for penalty in &rows.penalties {
                sqlx::query(
                    "insert into penalties (seller_id, order_id, event_seq, points, reason, source, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, 'automatic', $6, $6) on conflict (order_id, event_seq) do nothing",
                )
                .bind(&rows.order.seller_id)
                .bind(order_id)
                .bind(penalty.event_seq)
                .bind(penalty.points)
                .bind(&penalty.reason)
                .bind(penalty.at)
                .execute(&mut *connection)
                .await?;
            }
            if !rows.ledger.is_empty() {
                let sql = crate::backend::values_sql(
                    "insert into ledger_entries (order_id, position, at, debit_account, credit_account, amount_minor, created_at) values ",
                    "(#, #, #, #, #, #, #)",
                    rows.ledger.len(),
                    "",
                );
                let mut insert = sqlx::query(AssertSqlSafe(sql));
                for entry in &rows.ledger {
                    insert = insert
                        .bind(order_id)
                        .bind(entry.position)
                        .bind(entry.at)
                        .bind(&entry.debit_account)
                        .bind(&entry.credit_account)
                        .bind(entry.amount_minor)
                        .bind(now);
                }
                insert.execute(&mut *connection).await?;
            }
            for row in &rows.metrics {
                let metrics = &row.metrics;
                sqlx::query(
                    "insert into seller_metrics_daily (seller_id, day, orders, paid_orders, completed_orders, \
                     seller_fault_cancellations, cancellation_requests, requests_answered, requests_unanswered, \
                     response_secs_total, shipments, shipments_on_time, disputes_opened, disputes_lost, penalty_points, \
                     created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
                     on conflict (seller_id, day) do update set \
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
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        }

        /// Stores the answer on the key's reservation, if `response.owner` still holds it;
        /// otherwise (taken over by a retry) [`StoreError::Conflict`], which undoes the
        /// transaction the answer was to be part of.
        async fn write_idempotency(connection: &mut Connection, response: &IdempotentResponse, now: i64) -> Result<(), StoreError> {
            let stored = sqlx::query(
                "update idempotency_keys set status = $1, response = $2, updated_at = $3 \
                 where account_id = $4 and key = $5 and owner = $6 and fingerprint = $7 and status is null",
            )
            .bind(i64::from(response.status))
            .bind(&response.body)
            .bind(now)
            .bind(response.account_id.to_string())
            .bind(&response.key)
            .bind(&response.owner)
            .bind(&response.fingerprint)
            .execute(&mut *connection)
            .await?;
            if stored.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
            Ok(())
        }
    };
}

pub(crate) use store_impl;

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
}
