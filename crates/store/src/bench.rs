//! `orderly bench store`: in one run, on one database with one set of settings, measures
//! the rate of single-row committed INSERTs (the floor any durable write pays: one commit)
//! and then the rate of full order commands through the store (place, pay, verify, request
//! cancellation, approve: each a read, a decision and one transaction of many rows), and
//! reports their ratio. Ratios from the same run survive a noisy machine; absolute rates
//! do not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use orderly_domain::{AccountId, Action, Actor, Command, Order, OrderId, PlaceOrder, Policy};
use uuid::Uuid;

use crate::{Batch, Store, StoreError};

/// What one run measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub backend: &'static str,
    pub clients: usize,
    pub raw_inserts: u64,
    pub raw_elapsed: Duration,
    pub commands: u64,
    pub commands_elapsed: Duration,
}

impl BenchReport {
    pub fn raw_per_sec(&self) -> f64 {
        self.raw_inserts as f64 / self.raw_elapsed.as_secs_f64().max(1e-9)
    }

    pub fn commands_per_sec(&self) -> f64 {
        self.commands as f64 / self.commands_elapsed.as_secs_f64().max(1e-9)
    }

    /// Full commands per second over raw single-row commits per second.
    pub fn ratio(&self) -> f64 {
        self.commands_per_sec() / self.raw_per_sec().max(1e-9)
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "backend {}, {} client(s)", self.backend, self.clients)?;
        if self.raw_inserts > 0 {
            write!(
                f,
                "\n  raw single-row committed INSERTs: {} in {:.2?} = {:.0}/s",
                self.raw_inserts,
                self.raw_elapsed,
                self.raw_per_sec()
            )?;
        }
        if self.commands > 0 {
            write!(
                f,
                "\n  full order commands:              {} in {:.2?} = {:.0}/s",
                self.commands,
                self.commands_elapsed,
                self.commands_per_sec()
            )?;
        }
        if self.raw_inserts > 0 && self.commands > 0 {
            write!(f, "\n  ratio commands/raw: {:.2}", self.ratio())?;
        }
        Ok(())
    }
}

const STORY: [Action; 4] = [
    Action::Pay,
    Action::VerifyPayment,
    Action::RequestCancellation,
    Action::ApproveCancellation,
];

/// Which measurements a run makes: both by default; one alone to count the instructions
/// of one phase (e.g. under `valgrind --tool=callgrind`, two runs of different sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phases {
    Both,
    Raw,
    Commands,
}

/// Runs the measurements with `clients` concurrent writers, `stories` order stories each
/// (5 commands a story), and as many raw INSERTs as commands. `synchronous` is the
/// store's SQLite setting, which the raw connection takes too.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall time; nothing here decides on it"
)]
pub async fn run(
    url: &str,
    store: Arc<dyn Store>,
    clients: usize,
    stories: u64,
    synchronous: &str,
    phases: Phases,
) -> Result<BenchReport, StoreError> {
    let clients = clients.max(1);
    let commands = stories * (1 + STORY.len() as u64) * clients as u64;
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };

    let mut raw_inserts = 0;
    let mut raw_elapsed = Duration::ZERO;
    if phases != Phases::Commands {
        let raw = RawTable::create(url, synchronous).await?;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..clients {
            let raw = raw.clone();
            let per_client = commands / clients as u64;
            tasks.push(tokio::spawn(async move {
                raw.insert_many(client as i64, per_client).await
            }));
        }
        for task in tasks {
            task.await.map_err(anyhow::Error::new)??;
        }
        raw_elapsed = started.elapsed();
        raw_inserts = commands;
        raw.drop_table().await?;
    }

    let mut commands_done = 0;
    let mut commands_elapsed = Duration::ZERO;
    if phases != Phases::Raw {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..clients {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                play(store.as_ref(), client as u64, stories).await
            }));
        }
        for task in tasks {
            task.await.map_err(anyhow::Error::new)??;
        }
        commands_elapsed = started.elapsed();
        commands_done = commands;
    }
    Ok(BenchReport {
        backend,
        clients,
        raw_inserts,
        raw_elapsed,
        commands: commands_done,
        commands_elapsed,
    })
}

async fn play(store: &dyn Store, client: u64, stories: u64) -> Result<(), StoreError> {
    let policy = Policy::default();
    let now: Timestamp = "2026-11-02T09:00:00Z".parse().map_err(anyhow::Error::new)?;
    let buyer = AccountId::from_uuid(Uuid::from_u128(0xb1));
    let seller = AccountId::from_uuid(Uuid::from_u128(0x51));
    let admin = AccountId::from_uuid(Uuid::from_u128(0xad));
    let run_id = u128::from(std::process::id()) << 96;
    for story in 0..stories {
        let order_id = OrderId::from_uuid(Uuid::from_u128(
            run_id | u128::from(client) << 64 | u128::from(story),
        ));
        let command = PlaceOrder::sample(order_id, buyer, seller);
        let placing = policy.clone();
        store
            .transact(
                order_id,
                Box::new(move |_: Option<&Order>| {
                    orderly_domain::place(command.clone(), Actor::Buyer(buyer), now, &placing)
                        .map(Batch::from)
                }),
            )
            .await?;
        for action in STORY {
            let actor = match action {
                Action::VerifyPayment => Actor::Admin(admin),
                Action::ApproveCancellation => Actor::Seller(seller),
                _ => Actor::Buyer(buyer),
            };
            let policy = policy.clone();
            store
                .transact(
                    order_id,
                    Box::new(move |order: Option<&Order>| {
                        let order = order.ok_or(orderly_domain::Rejection::NotFound)?;
                        let command = Command::sample(action, order, &policy);
                        orderly_domain::decide(order, command, actor, now, &policy).map(Batch::from)
                    }),
                )
                .await?;
        }
    }
    Ok(())
}

/// A scratch table on the same database and settings, for the raw commit rate. On SQLite
/// the floor is one rusqlite connection committing one row at a time (SQLite has one
/// writer whatever the number of clients, and no driver hand-off is in the way); on
/// PostgreSQL, sqlx's pool with every client committing at once.
#[derive(Clone)]
enum RawTable {
    Sqlite(Arc<std::sync::Mutex<rusqlite::Connection>>),
    Postgres(sqlx::PgPool),
}

const RAW_TABLE: &str = "create table if not exists bench_raw (client bigint not null, n bigint not null, body text not null, primary key (client, n))";
const RAW_INSERT: &str = "insert into bench_raw (client, n, body) values ($1, $2, $3)";

impl RawTable {
    async fn create(url: &str, synchronous: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            // The store made the file and set WAL; this connection takes the same
            // durability setting as the store's writer.
            let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)?;
            let connection = rusqlite::Connection::open(options.get_filename())?;
            connection.pragma_update(None, "synchronous", synchronous)?;
            connection.execute_batch(RAW_TABLE)?;
            connection.execute_batch("delete from bench_raw")?;
            Ok(Self::Sqlite(Arc::new(std::sync::Mutex::new(connection))))
        } else {
            let store =
                crate::postgres::PostgresStore::open(url, &crate::StoreOptions::default()).await?;
            let pool = store.pool().clone();
            sqlx::query(RAW_TABLE).execute(&pool).await?;
            sqlx::query("delete from bench_raw").execute(&pool).await?;
            Ok(Self::Postgres(pool))
        }
    }

    async fn insert_many(&self, client: i64, count: u64) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(connection) => {
                let connection = connection.clone();
                tokio::task::spawn_blocking(move || {
                    for n in 0..count as i64 {
                        let connection = connection
                            .lock()
                            .unwrap_or_else(|poison| poison.into_inner());
                        connection
                            .prepare_cached(RAW_INSERT)?
                            .execute(rusqlite::params![client, n, "x"])?;
                    }
                    Ok::<(), StoreError>(())
                })
                .await
                .map_err(anyhow::Error::new)??;
            }
            Self::Postgres(pool) => {
                for n in 0..count as i64 {
                    sqlx::query(RAW_INSERT)
                        .bind(client)
                        .bind(n)
                        .bind("x")
                        .execute(pool)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn drop_table(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(connection) => {
                let connection = connection
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                connection.execute_batch("drop table bench_raw")?;
            }
            Self::Postgres(pool) => {
                sqlx::query("drop table bench_raw").execute(pool).await?;
            }
        }
        Ok(())
    }
}
