//! The embedded default backend: one SQLite file in WAL mode, `synchronous=FULL` unless
//! configured otherwise, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
//! write so a command holds the single write lock from its first read.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::SqliteOptions;

/// Connections in the pool: WAL lets readers run beside the one writer.
const POOL_CONNECTIONS_MAX: u32 = 8;

/// orderly on SQLite.
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file the URL names.
    pub async fn open(url: &str, options: &SqliteOptions) -> Result<Self, StoreError> {
        let synchronous = match options.synchronous.to_ascii_uppercase().as_str() {
            "FULL" => SqliteSynchronous::Full,
            "NORMAL" => SqliteSynchronous::Normal,
            "EXTRA" => SqliteSynchronous::Extra,
            other => {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "sqlite synchronous must be FULL, NORMAL or EXTRA, not {other}"
                )));
            }
        };
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_millis(options.busy_timeout_ms))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            .connect_with(connect)
            .await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and benchmarks that measure the database itself.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

crate::backend::store_impl! {
    store: SqliteStore,
    db: sqlx::Sqlite,
    begin: "BEGIN IMMEDIATE",
    lock_order: "select state, version from orders where id = $1",
    claim_deadlines: "update deadlines set claimed_until = $1, updated_at = $2 \
        where rowid in (select rowid from deadlines where paused = 0 and due_at <= $2 and claimed_until <= $2 \
        order by due_at limit $3) \
        returning order_id, kind, due_at",
    claim_outbox: "update outbox set claimed_until = $1, updated_at = $2 where id in ( \
        select o.id from outbox o where o.delivered_at is null and o.dead_at is null \
        and o.next_attempt_at <= $2 and o.claimed_until <= $2 \
        and not exists (select 1 from outbox p where p.order_id = o.order_id and p.delivered_at is null \
        and p.dead_at is null and p.id < o.id) \
        order by o.id limit $3) \
        returning id, order_id, topic, dedupe_key, payload, attempts",
    migrations: crate::migrate::SQLITE,
    migration_lock: "",
}
