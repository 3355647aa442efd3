//! The PostgreSQL backend, for when one machine is not enough: several orderly processes
//! share one database. A command locks its order row (`select ... for update`) for its
//! whole duration; workers claim deadlines and outbox messages with `for update skip
//! locked`, so no two processes fire or send the same thing at once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

use crate::StoreError;

/// Connections in the pool for reads and the desk's and workers' writes.
const POOL_CONNECTIONS_MAX: u32 = 8;
/// Connections in the pool for order commands: a process holds at most this plus
/// [`POOL_CONNECTIONS_MAX`] connections (16).
const COMMAND_CONNECTIONS_MAX: u32 = 8;

/// orderly on PostgreSQL.
pub struct PostgresStore {
    pool: sqlx::PgPool,
    /// The order commands' own connections, which plan their statements once, generically
    /// (`plan_cache_mode=force_generic_plan`): a command's statements are the same few
    /// with other values every time, and PostgreSQL would otherwise plan each of them again
    /// for its first five runs on every connection and then keep weighing the generic plan
    /// against a custom one. The lists' and the desk's queries, whose optional filters
    /// (`$1 = '' or kind = $1`) need plans made for their values, stay on `pool`.
    commands: sqlx::PgPool,
}

impl PostgresStore {
    /// Connects with every wait bounded: acquiring a connection (which includes opening
    /// one when the database restarted) by `acquire_timeout_ms`, each statement by
    /// `statement_timeout_ms` and each row-lock wait by `lock_timeout_ms`, so a database
    /// that is down or stuck answers 503 quickly. The pool reconnects by itself.
    pub async fn open(url: &str, options: &crate::StoreOptions) -> Result<Self, StoreError> {
        let statement_timeout = format!("{}ms", options.statement_timeout_ms.max(1));
        let lock_timeout = format!("{}ms", options.lock_timeout_ms.max(1));
        let mut connect = PgConnectOptions::from_str(url)?;
        if on_this_machine(&connect) && !ssl_mode_chosen(url) {
            // Encryption over loopback protects nothing (whoever can read it is root here)
            // and costs CPU at both ends of every statement; elsewhere the driver's default
            // stands: TLS when the server offers it.
            connect = connect.ssl_mode(PgSslMode::Disable);
        }
        let connect = connect.options([
            ("statement_timeout", statement_timeout.as_str()),
            ("lock_timeout", lock_timeout.as_str()),
        ]);
        let pool_of = |connections| {
            PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms.max(1)))
                // A connection that comes back from a broken link is checked before use.
                .test_before_acquire(true)
        };
        let commands = pool_of(COMMAND_CONNECTIONS_MAX)
            .connect_with(
                connect
                    .clone()
                    .options([("plan_cache_mode", "force_generic_plan")]),
            )
            .await?;
        let pool = pool_of(POOL_CONNECTIONS_MAX).connect_with(connect).await?;
        Ok(Self { pool, commands })
    }

    /// The readiness check: the database answers.
    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// No turn to wait for: row locks order PostgreSQL's writers.
    async fn write_turn(&self) -> Result<crate::WriteTurn, StoreError> {
        Ok(None)
    }

    /// The pool, for tests and benchmarks that measure the database itself.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// A connection for the reads every request makes.
    async fn reader(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Claims an idempotency key, each statement on its own: the claim commits before the
    /// request runs.
    async fn reserve(
        &self,
        reservation: crate::Reservation,
    ) -> Result<crate::IdempotencyBegin, StoreError> {
        let mut connection = self.commands.acquire().await?;
        crate::write::reserve_key(&mut *connection, &reservation).await
    }

    /// Each write in its own transaction, on its own connection: PostgreSQL runs writers
    /// to different orders in parallel, and the row lock orders writers to the same one.
    async fn write(&self, mut write: crate::Write) -> Result<crate::Committed, StoreError> {
        let mut tx = self.commands.begin().await?;
        let committed = crate::write::perform(&mut *tx, &mut write, None).await?;
        tx.commit().await?;
        Ok(committed)
    }

    /// The claim and the command in one transaction, the claim made by the statement that
    /// locks the order. A refusal commits the claim alone (nothing else was written), so
    /// that the refusal is stored as the key's answer; a failure rolls both back, and the
    /// key is free for a retry. A key not free is rolled back and asked about on its own.
    async fn write_claimed(
        &self,
        mut write: crate::Write,
        claim: crate::Reservation,
    ) -> Result<crate::Committed, StoreError> {
        let mut tx = self.commands.begin().await?;
        let Some(before) = crate::write::claim_and_lock(&mut *tx, write.order_id(), &claim).await?
        else {
            tx.rollback().await?;
            return match self.reserve(claim).await? {
                // Taken over from a request that went quiet.
                crate::IdempotencyBegin::Started => self.write(write).await,
                other => Err(StoreError::KeyUsed(other)),
            };
        };
        match crate::write::perform_loaded(&mut *tx, &mut write, before, None).await {
            Ok(committed) => {
                tx.commit().await?;
                Ok(committed)
            }
            Err(StoreError::Rejected(rejection)) => {
                tx.commit().await?;
                Err(StoreError::Rejected(rejection))
            }
            Err(error) => Err(error),
        }
    }
}

/// Whether the database is on this machine: a loopback address or a Unix socket.
fn on_this_machine(connect: &PgConnectOptions) -> bool {
    let host = connect.get_host();
    host == "localhost"
        || host.starts_with('/')
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Whether the operator chose a TLS mode: `sslmode` in the URL, or `PGSSLMODE`.
fn ssl_mode_chosen(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    query.split('&').any(|pair| pair.starts_with("sslmode="))
        || std::env::var_os("PGSSLMODE").is_some()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn tls_is_left_out_only_for_a_database_on_this_machine_when_nobody_chose() {
        let here = |url: &str| on_this_machine(&PgConnectOptions::from_str(url).expect("url"));
        assert!(here("postgres://postgres@127.0.0.1:5432/test"));
        assert!(here("postgres://postgres@localhost/test"));
        assert!(here("postgres://postgres@[::1]:5432/test"));
        assert!(!here("postgres://postgres@db.example.com/test"));
        assert!(!here("postgres://postgres@10.0.0.7/test"));
        assert!(ssl_mode_chosen("postgres://127.0.0.1/test?sslmode=require"));
        assert!(ssl_mode_chosen(
            "postgres://127.0.0.1/test?application_name=x&sslmode=prefer"
        ));
        if std::env::var_os("PGSSLMODE").is_none() {
            assert!(!ssl_mode_chosen("postgres://127.0.0.1/test"));
        }
    }
}

crate::backend::store_impl! {
    store: PostgresStore,
    db: sqlx::Postgres,
    connection: sqlx::PgConnection,
    begin: "BEGIN",
    lock_order: "select state, version from orders where id = $1 for update",
    claim_deadlines: "with due as (select order_id, kind from deadlines where paused = 0 and due_at <= $2 \
        and claimed_until <= $2 order by due_at limit $3 for update skip locked) \
        update deadlines as d set claimed_until = $1, updated_at = $2 from due \
        where d.order_id = due.order_id and d.kind = due.kind \
        returning d.order_id, d.kind, d.due_at",
    claim_outbox: "with ready as (select o.id from outbox o where o.topic = $4 and o.delivered_at is null and o.dead_at is null \
        and o.skipped_at is null and o.next_attempt_at <= $2 and o.claimed_until <= $2 \
        and not exists (select 1 from outbox p where p.order_id = o.order_id and p.topic = o.topic \
        and p.delivered_at is null and p.skipped_at is null and p.id < o.id) \
        order by o.id limit $3 for update of o skip locked) \
        update outbox as m set claimed_until = $1, updated_at = $2 from ready where m.id = ready.id \
        returning m.id, m.order_id, m.topic, m.dedupe_key, m.payload, m.attempts, m.first_failed_at",
    buyer_lock: "select pg_advisory_xact_lock(hashtext($1))",
    unit_as_one_statement: true,
    metric_shards: 32,
    migrations: crate::migrate::POSTGRES,
    migration_lock: "select pg_advisory_xact_lock(7263541)",
}
