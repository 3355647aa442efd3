//! The embedded default backend: one SQLite file in WAL mode, `synchronous=FULL` unless
//! configured otherwise, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
//! write so a command holds the single write lock from its first read.
//!
//! SQLite has one writer at a time, so commands go to one writer task. It takes every
//! command already queued (up to [`GROUP_COMMIT_MAX`]) into one transaction — each in its
//! own savepoint, so one refusal does not undo the others — and commits once: one fsync
//! for the whole group. Nobody is answered before the commit that makes their command
//! durable. A request's claim on its idempotency key goes the same way, so the claims of
//! concurrent requests share a commit too instead of paying one each. Every other write in
//! the process (the support desk's, the workers' claims) takes the same turn first, in
//! arrival order, so none is starved by SQLite's polling busy handler while the writer is
//! busy.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::{StoreError, StoreOptions};

/// Connections in the pool: WAL lets readers run beside the one writer.
const POOL_CONNECTIONS_MAX: u32 = 8;
/// Most commands one group commit takes.
pub const GROUP_COMMIT_MAX: usize = 64;
/// Commands that may wait for the writer before senders wait too.
const WRITE_QUEUE_MAX: usize = 1_024;

/// orderly on SQLite.
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    writer: mpsc::Sender<Job>,
    queue_timeout: Duration,
    /// Whose turn it is to write: the writer task's group commits and every other write
    /// (the desk's, the workers' claims, idempotency keys) queue here in arrival order.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Set when a write failed for want of disk space, cleared by the next commit: what
    /// `/readyz` reports until space is freed.
    storage_full: Arc<AtomicBool>,
}

/// A queued write, until when it may still start, and where its outcome goes.
struct Job {
    work: Work,
    expires_at: Instant,
}

/// What a job writes, and where its outcome goes.
enum Work {
    Command(crate::Write, Reply),
    Reserve(crate::Reservation, ReserveReply),
}

type Reply = oneshot::Sender<Result<crate::Committed, StoreError>>;
type ReserveReply = oneshot::Sender<Result<crate::IdempotencyBegin, StoreError>>;

/// A job's outcome, held until the group's commit decides it.
#[allow(
    clippy::large_enum_variant,
    reason = "one per job of a group, held until its commit; boxing would only add an allocation"
)]
enum Outcome {
    Command(Reply, Result<crate::Committed, StoreError>),
    Reserve(ReserveReply, Result<crate::IdempotencyBegin, StoreError>),
}

impl Work {
    fn fail(self, error: StoreError) {
        match self {
            Work::Command(_, reply) => {
                let _ = reply.send(Err(error));
            }
            Work::Reserve(_, reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl Outcome {
    fn ok(&self) -> bool {
        match self {
            Outcome::Command(_, outcome) => outcome.is_ok(),
            Outcome::Reserve(_, outcome) => outcome.is_ok(),
        }
    }

    fn error(&self) -> Option<&StoreError> {
        match self {
            Outcome::Command(_, outcome) => outcome.as_ref().err(),
            Outcome::Reserve(_, outcome) => outcome.as_ref().err(),
        }
    }

    /// Answers the caller: with the outcome once the group committed, or else with the
    /// commit's error (a refusal wrote nothing, so its answer stands either way).
    fn send(self, commit: Option<&StoreError>) {
        match (self, commit) {
            (Outcome::Command(reply, outcome), None) => {
                let _ = reply.send(outcome);
            }
            (Outcome::Command(reply, Err(StoreError::Rejected(rejection))), Some(_)) => {
                let _ = reply.send(Err(StoreError::Rejected(rejection)));
            }
            (Outcome::Command(reply, _), Some(error)) => {
                let _ = reply.send(Err(same_kind(error)));
            }
            (Outcome::Reserve(reply, outcome), None) => {
                let _ = reply.send(outcome);
            }
            (Outcome::Reserve(reply, _), Some(error)) => {
                let _ = reply.send(Err(same_kind(error)));
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file the URL names.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
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
            .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms.max(1)))
            .connect_with(connect)
            .await?;
        let (writer, queue) = mpsc::channel(WRITE_QUEUE_MAX);
        let storage_full = Arc::new(AtomicBool::new(false));
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        tokio::spawn(run_writer(
            pool.clone(),
            queue,
            storage_full.clone(),
            turn.clone(),
        ));
        Ok(Self {
            pool,
            writer,
            queue_timeout: Duration::from_millis(options.write_queue_timeout_ms.max(1)),
            turn,
            storage_full,
        })
    }

    /// Whether the last write failed for want of disk space.
    pub fn storage_full(&self) -> bool {
        self.storage_full.load(Ordering::SeqCst)
    }

    /// The readiness check: the database answers, and after a full disk a small write
    /// (committed, so it needs real room in the WAL) tells whether space was freed.
    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        if !self.storage_full() {
            return Ok(());
        }
        let _turn = self.write_turn().await?;
        let mut connection = begin_immediate(&self.pool).await?;
        let probe = async {
            sqlx::query("insert into readiness_probes (payload, created_at) values ($1, 0)")
                .bind(vec![0_u8; 64 * 1024])
                .execute(&mut *connection)
                .await?;
            sqlx::query("delete from readiness_probes")
                .execute(&mut *connection)
                .await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        end(connection, probe.is_ok()).await?;
        probe?;
        self.storage_full.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Waits for this process's turn to write, as long as a command may wait for the
    /// writer; then "unavailable", like a full write queue.
    async fn write_turn(&self) -> Result<crate::WriteTurn, StoreError> {
        match tokio::time::timeout(self.queue_timeout, self.turn.clone().lock_owned()).await {
            Ok(turn) => Ok(Some(turn)),
            Err(_) => Err(StoreError::Unavailable(
                "the SQLite database is busy with other writes".into(),
            )),
        }
    }

    /// The pool, for tests and benchmarks that measure the database itself.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }

    /// Queues a write for the writer task: see [`Self::queue`].
    async fn write(&self, write: crate::Write) -> Result<crate::Committed, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.queue(Work::Command(write, reply)).await?;
        outcome.await.map_err(|_| writer_stopped())?
    }

    /// Claims an idempotency key in the writer's next group commit.
    async fn reserve(
        &self,
        reservation: crate::Reservation,
    ) -> Result<crate::IdempotencyBegin, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.queue(Work::Reserve(reservation, reply)).await?;
        outcome.await.map_err(|_| writer_stopped())?
    }

    /// Hands work to the writer task. The queue is bounded in time: work that cannot
    /// start within `write_queue_timeout_ms` is answered "unavailable" and never runs, so
    /// a stalled disk turns into quick 503s rather than piled-up requests.
    async fn queue(&self, work: Work) -> Result<(), StoreError> {
        let job = Job {
            work,
            expires_at: Instant::now() + self.queue_timeout,
        };
        match self.writer.send_timeout(job, self.queue_timeout).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(StoreError::Unavailable(
                "the SQLite writer's queue is full".into(),
            )),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(writer_stopped()),
        }
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the SQLite writer stopped; see the log"))
}

/// The writer task: one group commit after another until the store is dropped.
async fn run_writer(
    pool: sqlx::SqlitePool,
    mut queue: mpsc::Receiver<Job>,
    storage_full: Arc<AtomicBool>,
    turn: Arc<tokio::sync::Mutex<()>>,
) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_COMMIT_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Commands that waited too long are answered without running: their callers have
        // been told to retry, or soon will be.
        let now = Instant::now();
        let (jobs, expired): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(|job| job.expires_at > now);
        for job in expired {
            job.work.fail(StoreError::Unavailable(
                "the command waited too long for the SQLite writer".into(),
            ));
        }
        if jobs.is_empty() {
            continue;
        }
        // Commands that arrive while the writer waits for its turn join the next group.
        let turn = turn.clone().lock_owned().await;
        // Decisions run under catch_unwind; this guards the writer against anything else.
        let (pool, storage_full) = (pool.clone(), storage_full.clone());
        let group = tokio::spawn(async move {
            commit_group(pool, jobs, storage_full).await;
            drop(turn);
        });
        if let Err(error) = group.await {
            tracing::error!(%error, "a SQLite group commit panicked");
        }
    }
}

/// Answers every caller of a group that could not be committed, with the same kind of
/// error (so a full disk is "storage full" for each of them, not a generic failure).
fn fail_all(works: impl IntoIterator<Item = Work>, error: StoreError) {
    for work in works {
        work.fail(same_kind(&error));
    }
}

/// A copy of `error` for another caller: `StoreError` holds an `anyhow::Error` and cannot
/// be cloned, so the kinds that matter are kept and the rest becomes its message.
fn same_kind(error: &StoreError) -> StoreError {
    match error {
        StoreError::StorageFull => StoreError::StorageFull,
        StoreError::Unavailable(detail) => StoreError::Unavailable(detail.clone()),
        other => StoreError::Other(anyhow::anyhow!("the write was not committed: {other}")),
    }
}

/// A pooled connection inside `BEGIN IMMEDIATE`. The transaction is begun and ended with
/// plain statements rather than sqlx's `Transaction`, because a COMMIT that fails (a full
/// disk) must not hand a connection still inside a transaction back to the pool: [`end`]
/// closes such a connection instead.
async fn begin_immediate(
    pool: &sqlx::SqlitePool,
) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
    let mut connection = pool.acquire().await?;
    if let Err(error) = sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
    {
        connection.close_on_drop();
        return Err(error.into());
    }
    Ok(connection)
}

/// Commits (or rolls back) the transaction of [`begin_immediate`]. When that fails, a
/// rollback is tried, and the connection is closed rather than reused either way.
async fn end(
    mut connection: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    commit: bool,
) -> Result<(), StoreError> {
    let statement = if commit { "COMMIT" } else { "ROLLBACK" };
    match sqlx::raw_sql(statement).execute(&mut *connection).await {
        Ok(_) => Ok(()),
        Err(error) => {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await;
            connection.close_on_drop();
            Err(error.into())
        }
    }
}

async fn commit_group(pool: sqlx::SqlitePool, jobs: Vec<Job>, storage_full: Arc<AtomicBool>) {
    let flag_full = |error: &StoreError| {
        if matches!(error, StoreError::StorageFull) {
            storage_full.store(true, Ordering::SeqCst);
        }
    };
    let works = jobs.into_iter().map(|job| job.work);
    let mut connection = match begin_immediate(&pool).await {
        Ok(connection) => connection,
        Err(error) => {
            flag_full(&error);
            return fail_all(works, error);
        }
    };
    let alone = works.len() == 1;
    let mut answers: Vec<Outcome> = Vec::with_capacity(works.len());
    let mut works = works;
    // Answered with the group's error: the work done so far, then the rest.
    let undo = |answers: Vec<Outcome>, rest: Vec<Work>, error: &StoreError| {
        for answer in answers {
            answer.send(Some(error));
        }
        fail_all(rest, same_kind(error));
    };
    while let Some(work) = works.next() {
        // A claim on an idempotency key writes at most one statement's worth (an insert
        // that does nothing on a conflict, or a single update), so it needs no savepoint
        // to be undone alone: it is either written whole or not at all.
        let guarded = !alone && matches!(work, Work::Command(..));
        if guarded
            && let Err(error) = sqlx::query("savepoint command")
                .execute(&mut *connection)
                .await
        {
            let error = StoreError::from(error);
            flag_full(&error);
            let _ = end(connection, false).await;
            return undo(answers, [work].into_iter().chain(works).collect(), &error);
        }
        let outcome = match work {
            Work::Command(write, reply) => {
                Outcome::Command(reply, perform(&mut connection, write).await)
            }
            Work::Reserve(reservation, reply) => {
                Outcome::Reserve(reply, reserve_key(&mut connection, &reservation).await)
            }
        };
        if let Some(error) = outcome.error() {
            flag_full(error);
        }
        if guarded {
            let end_savepoint = if outcome.ok() {
                "release command"
            } else {
                "rollback to command; release command"
            };
            if let Err(error) = sqlx::raw_sql(end_savepoint).execute(&mut *connection).await {
                // The transaction is in an unknown state: the whole group is undone.
                let error = StoreError::from(error);
                flag_full(&error);
                let _ = end(connection, false).await;
                answers.push(outcome);
                return undo(answers, works.collect(), &error);
            }
        }
        answers.push(outcome);
    }
    let any_written = answers.iter().any(Outcome::ok);
    match end(connection, any_written).await {
        Ok(()) => {
            if any_written {
                storage_full.store(false, Ordering::SeqCst);
            }
            for answer in answers {
                answer.send(None);
            }
        }
        Err(error) => {
            flag_full(&error);
            for answer in answers {
                answer.send(Some(&error));
            }
        }
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
        select o.id from outbox o where o.topic = $4 and o.delivered_at is null and o.dead_at is null \
        and o.skipped_at is null and o.next_attempt_at <= $2 and o.claimed_until <= $2 \
        and not exists (select 1 from outbox p where p.order_id = o.order_id and p.topic = o.topic \
        and p.delivered_at is null and p.skipped_at is null and p.id < o.id) \
        order by o.id limit $3) \
        returning id, order_id, topic, dedupe_key, payload, attempts, first_failed_at",
    buyer_lock: "",
    migrations: crate::migrate::SQLITE,
    migration_lock: "",
}
