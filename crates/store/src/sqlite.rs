//! The embedded default backend: one SQLite file in WAL mode, `synchronous=FULL` unless
//! configured otherwise, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
//! write so a command holds the single write lock from its first read.
//!
//! SQLite has one writer at a time, so commands go to one writer thread, which owns a
//! rusqlite connection and runs each statement itself (cached prepared statements, no
//! hand-off per statement). It takes every command already queued (up to
//! [`GROUP_COMMIT_MAX`]) into one transaction and commits once: one fsync for the whole
//! group. A refusal writes nothing, so the commands need no savepoints of their own until
//! one fails halfway (out of stock, a panic, the disk): then the group is undone and run
//! again with each command in its own savepoint, so that the failure stays its own. Nobody is
//! answered before the commit that makes their command durable. A request's claim on its
//! idempotency key goes the same way, so the claims of concurrent requests share a commit
//! too instead of paying one each. Every other write in the process (the support desk's,
//! the workers' claims, through sqlx) takes the same turn first, in arrival order, so none
//! is starved by SQLite's polling busy handler while the writer is busy.
//!
//! WAL checkpoints (copying committed pages from the log into the database file, and its
//! fsync) run on a checkpointer thread of their own, poked after each commit: done by the
//! writer at SQLite's threshold they took a tenth of its time, with every command waiting.
//! The writer's own threshold stays as the net that restarts the log when the
//! checkpointer has already copied nearly everything.
//!
//! The reads every request makes (its account, the order) run on a few rusqlite reader
//! connections on the calling task's thread: WAL lets them read beside the writer, and a
//! point read by key is cheaper than the two thread hand-offs of a driver's worker.
//! Everything else reads through sqlx's pool.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::exec::ready;
use crate::write::{Decoded, key_is_free, perform, reserve_key};
use crate::{StoreError, StoreOptions};

/// Connections in sqlx's pool: WAL lets readers run beside the one writer.
const POOL_CONNECTIONS_MAX: u32 = 8;
/// Idle rusqlite reader connections kept for the next read.
const READERS_IDLE_MAX: usize = 8;
/// Most commands one group commit takes.
pub const GROUP_COMMIT_MAX: usize = 64;
/// Commands that may wait for the writer before senders wait too.
const WRITE_QUEUE_MAX: usize = 1_024;
/// The checkpointer's rest after each checkpoint: commits in between are copied by the
/// next one, so a busy writer costs at most this many checkpoints (and database fsyncs)
/// a second.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(100);
/// The writer's own checkpoint threshold, in log pages (SQLite's default is 1,000): only a
/// net, for when the checkpointer falls behind or the log was never quite all copied (a
/// busy writer keeps adding to it) and so never starts over. 32 MiB of 4 KiB pages.
const WRITER_CHECKPOINT_PAGES: u32 = 8_000;

/// orderly on SQLite.
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    readers: Readers,
    writer: mpsc::Sender<Job>,
    queue_timeout: Duration,
    /// Whose turn it is to write: the writer thread's group commits and every other write
    /// (the desk's, the workers' claims) queue here in arrival order.
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
    /// A command, with the claim on its request's idempotency key when it has one.
    Command(crate::Write, Option<crate::Reservation>, Reply),
    Reserve(crate::Reservation, ReserveReply),
}

type Reply = oneshot::Sender<Result<crate::Committed, StoreError>>;
type ReserveReply = oneshot::Sender<Result<crate::IdempotencyBegin, StoreError>>;

impl Work {
    /// What to write, apart from where its outcome goes: a group that was undone runs its
    /// tasks again.
    fn split(self) -> (Task, Answer) {
        match self {
            Work::Command(write, claim, reply) => {
                (Task::Command(write, claim), Answer::Command(reply))
            }
            Work::Reserve(reservation, reply) => {
                (Task::Reserve(reservation), Answer::Reserve(reply))
            }
        }
    }
}

/// What one job of a group writes.
enum Task {
    Command(crate::Write, Option<crate::Reservation>),
    Reserve(crate::Reservation),
}

/// Where a job's outcome goes.
enum Answer {
    Command(Reply),
    Reserve(ReserveReply),
}

/// A task's outcome, held until the group's commit decides it.
#[allow(
    clippy::large_enum_variant,
    reason = "one per job of a group, held until its commit; boxing would only add an allocation"
)]
enum Done {
    Command(Result<crate::Committed, StoreError>),
    Reserve(Result<crate::IdempotencyBegin, StoreError>),
}

impl Done {
    fn ok(&self) -> bool {
        self.error().is_none()
    }

    fn error(&self) -> Option<&StoreError> {
        match self {
            Done::Command(outcome) => outcome.as_ref().err(),
            Done::Reserve(outcome) => outcome.as_ref().err(),
        }
    }

    /// Whether the task may have written something that only undoing the group can take
    /// back: a failure other than a refusal, which comes before anything is written, or a
    /// key found used, which wrote nothing.
    fn may_have_written_in_part(&self) -> bool {
        match self {
            Done::Command(Ok(_)) | Done::Reserve(Ok(_)) => false,
            Done::Command(Err(StoreError::Rejected(_) | StoreError::KeyUsed(_))) => false,
            Done::Command(Err(_)) | Done::Reserve(Err(_)) => true,
        }
    }
}

impl Answer {
    fn fail(self, error: StoreError) {
        match self {
            Answer::Command(reply) => {
                let _ = reply.send(Err(error));
            }
            Answer::Reserve(reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }

    /// Answers the caller: with the outcome once the group committed, or else with the
    /// commit's error (a refusal wrote nothing, so its answer stands either way).
    fn send(self, done: Done, commit: Option<&StoreError>) {
        match (self, done, commit) {
            (Answer::Command(reply), Done::Command(outcome), None) => {
                let _ = reply.send(outcome);
            }
            (
                Answer::Command(reply),
                Done::Command(Err(StoreError::Rejected(rejection))),
                Some(_),
            ) => {
                let _ = reply.send(Err(StoreError::Rejected(rejection)));
            }
            (Answer::Reserve(reply), Done::Reserve(outcome), None) => {
                let _ = reply.send(outcome);
            }
            (answer, _, Some(error)) => answer.fail(same_kind(error)),
            (answer, _, None) => answer.fail(StoreError::Other(anyhow::anyhow!(
                "the SQLite writer mixed up the outcomes of a group"
            ))),
        }
    }
}

/// How this process opens its rusqlite connections to the database file.
#[derive(Clone)]
struct Opener {
    path: PathBuf,
    synchronous: &'static str,
    busy_timeout: Duration,
}

impl Opener {
    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        use rusqlite::OpenFlags;
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(self.busy_timeout)?;
        connection.pragma_update(None, "synchronous", self.synchronous)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // The savepoint journal of the commands in a group commit stays in memory: spilled
        // to a temporary file (past 64 KiB, about one command's pages) it cost the writer
        // three to four times the writes of the WAL itself. A crash loses nothing by it:
        // the journal only serves to undo a command inside its uncommitted group.
        connection.pragma_update(None, "temp_store", "MEMORY")?;
        connection.set_prepared_statement_cache_capacity(crate::exec::STATEMENT_CACHE);
        Ok(connection)
    }

    /// The writer thread's connection: checkpoints are the checkpointer's.
    fn open_writer(&self) -> Result<rusqlite::Connection, StoreError> {
        let connection = self.open()?;
        connection.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        Ok(connection)
    }
}

/// Idle reader connections, opened as reads need them.
struct Readers {
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    opener: Opener,
}

/// A reader connection lent to one read, back to the idle ones when dropped.
pub(crate) struct Reader<'a> {
    connection: Option<rusqlite::Connection>,
    readers: &'a Readers,
}

impl std::ops::Deref for Reader<'_> {
    type Target = rusqlite::Connection;

    fn deref(&self) -> &rusqlite::Connection {
        self.connection
            .as_ref()
            .expect("a lent reader holds its connection")
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut rusqlite::Connection {
        self.connection
            .as_mut()
            .expect("a lent reader holds its connection")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        // A read that failed halfway may leave a statement or transaction open: such a
        // connection is closed rather than lent again.
        if !connection.is_autocommit() {
            return;
        }
        let mut idle = self
            .readers
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if idle.len() < READERS_IDLE_MAX {
            idle.push(connection);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file the URL names.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let (synchronous, pragma) = match options.synchronous.to_ascii_uppercase().as_str() {
            "FULL" => (SqliteSynchronous::Full, "FULL"),
            "NORMAL" => (SqliteSynchronous::Normal, "NORMAL"),
            "EXTRA" => (SqliteSynchronous::Extra, "EXTRA"),
            other => {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "sqlite synchronous must be FULL, NORMAL or EXTRA, not {other}"
                )));
            }
        };
        let busy_timeout = Duration::from_millis(options.busy_timeout_ms);
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let path = connect.get_filename().to_path_buf();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Err(StoreError::Other(anyhow::anyhow!(
                "orderly keeps its SQLite database in a file: name one (sqlite://orderly.db), not an in-memory database"
            )));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_millis(options.acquire_timeout_ms.max(1)))
            .connect_with(connect)
            .await?;
        let opener = Opener {
            path,
            synchronous: pragma,
            busy_timeout,
        };
        let connection = opener.open_writer()?;
        let (writer, queue) = mpsc::channel(WRITE_QUEUE_MAX);
        let storage_full = Arc::new(AtomicBool::new(false));
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let (committed, commits) = std::sync::mpsc::sync_channel(1);
        let checkpointer = opener.open()?;
        std::thread::Builder::new()
            .name("orderly-sqlite-checkpointer".into())
            .spawn(move || checkpoint_after_commits(&checkpointer, &commits))
            .map_err(|error| StoreError::Other(anyhow::Error::new(error)))?;
        let writer_thread = WriterThread {
            connection,
            decoded: Decoded::default(),
            opener: opener.clone(),
            storage_full: storage_full.clone(),
            turn: turn.clone(),
            committed,
        };
        std::thread::Builder::new()
            .name("orderly-sqlite-writer".into())
            .spawn(move || writer_thread.run(queue))
            .map_err(|error| StoreError::Other(anyhow::Error::new(error)))?;
        Ok(Self {
            pool,
            readers: Readers {
                idle: std::sync::Mutex::new(Vec::new()),
                opener,
            },
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

    /// A reader connection for the reads every request makes.
    async fn reader(&self) -> Result<Reader<'_>, StoreError> {
        let idle = self
            .readers
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.readers.opener.open()?,
        };
        Ok(Reader {
            connection: Some(connection),
            readers: &self.readers,
        })
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

    /// Queues a write for the writer thread: see [`Self::queue`].
    async fn write(&self, write: crate::Write) -> Result<crate::Committed, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.queue(Work::Command(write, None, reply)).await?;
        outcome.await.map_err(|_| writer_stopped())?
    }

    /// Queues a write with its request's claim on an idempotency key: both in the same
    /// group commit, so a keyed request costs the writer one job instead of two.
    async fn write_claimed(
        &self,
        write: crate::Write,
        claim: crate::Reservation,
    ) -> Result<crate::Committed, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.queue(Work::Command(write, Some(claim), reply)).await?;
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

    /// Hands work to the writer thread. The queue is bounded in time: work that cannot
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

/// The writer thread's own state: its connection, and how to open another.
struct WriterThread {
    connection: rusqlite::Connection,
    /// The orders it wrote last, decoded.
    decoded: Decoded,
    opener: Opener,
    storage_full: Arc<AtomicBool>,
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Pokes the checkpointer after a commit (one poke waiting is enough).
    committed: std::sync::mpsc::SyncSender<()>,
}

/// The checkpointer thread: after each poke, copies what the log holds into the database
/// file (PASSIVE: it never waits for the writer or for readers, and copies what no reader
/// still needs), then rests. Ends when the writer does.
fn checkpoint_after_commits(
    connection: &rusqlite::Connection,
    commits: &std::sync::mpsc::Receiver<()>,
) {
    while commits.recv().is_ok() {
        let checkpoint = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(error) = checkpoint {
            tracing::warn!(%error, "a WAL checkpoint failed; the writer's own will follow");
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

impl WriterThread {
    /// One group commit after another until the store is dropped.
    fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < GROUP_COMMIT_MAX {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            // Commands that waited too long are answered without running: their callers
            // have been told to retry, or soon will be.
            let now = Instant::now();
            let (jobs, expired): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|job| job.expires_at > now);
            for job in expired {
                job.work.split().1.fail(StoreError::Unavailable(
                    "the command waited too long for the SQLite writer".into(),
                ));
            }
            if jobs.is_empty() {
                continue;
            }
            // Commands that arrive while the writer waits for its turn join the next group.
            let turn = self.turn.clone();
            let turn = turn.blocking_lock();
            // Decisions run under catch_unwind; this guards the writer against anything
            // else. The callers of a group that panicked are told the writer stopped.
            let group = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                commit_group(
                    &mut self.connection,
                    &mut self.decoded,
                    jobs,
                    &self.storage_full,
                );
            }));
            if group.is_err() {
                tracing::error!("a SQLite group commit panicked");
            }
            // Full means a poke is already waiting: the next checkpoint copies this too.
            let _ = self.committed.try_send(());
            self.recover();
            drop(turn);
        }
    }

    /// A connection left inside a transaction (a commit that failed and a rollback that
    /// did too) is replaced, so the next group starts clean.
    fn recover(&mut self) {
        if self.connection.is_autocommit() {
            return;
        }
        let _ = run(&self.connection, "ROLLBACK");
        if self.connection.is_autocommit() {
            return;
        }
        match self.opener.open_writer() {
            Ok(connection) => self.connection = connection,
            Err(error) => {
                tracing::error!(%error, "reopening the SQLite writer's connection failed")
            }
        }
    }
}

/// Runs one statement without parameters, prepared once per connection.
fn run(connection: &rusqlite::Connection, sql: &str) -> Result<(), StoreError> {
    connection.prepare_cached(sql)?.raw_execute()?;
    Ok(())
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

/// One transaction for the whole group. First without savepoints: a refusal writes
/// nothing, so in the common case (every command done or refused) nothing needs undoing
/// alone, and savepoints only cost the writer (the statements, and a copy of every page
/// a command changes). When a task failed after it may have written part of its work (a
/// command out of stock, a decision that panicked, a broken disk), the group is undone
/// and run again with each command in its own savepoint, so that the failure stays its
/// own: the decisions are pure, and give the same batches again.
fn commit_group(
    connection: &mut rusqlite::Connection,
    decoded: &mut Decoded,
    jobs: Vec<Job>,
    storage_full: &AtomicBool,
) {
    let flag_full = |error: &StoreError| {
        if matches!(error, StoreError::StorageFull) {
            storage_full.store(true, Ordering::SeqCst);
        }
    };
    let (mut tasks, answers): (Vec<Task>, Vec<Answer>) =
        jobs.into_iter().map(|job| job.work.split()).unzip();
    let mut attempt = run_tasks(connection, decoded, &mut tasks, Guard::None, &flag_full);
    if matches!(attempt, Attempt::Undone) {
        attempt = run_tasks(
            connection,
            decoded,
            &mut tasks,
            Guard::Savepoints,
            &flag_full,
        );
    }
    let (done, any_written) = match attempt {
        Attempt::Ran { done, any_written } => (done, any_written),
        Attempt::Undone => unreachable!("a guarded group is never undone to be run again"),
        Attempt::Broken { done, error } => {
            // What ran gets the group's error (a refusal its own answer), the rest too.
            let mut answers = answers.into_iter();
            for (answer, done) in answers.by_ref().zip(done) {
                answer.send(done, Some(&error));
            }
            for answer in answers {
                answer.fail(same_kind(&error));
            }
            return;
        }
    };
    let ended = run(connection, if any_written { "COMMIT" } else { "ROLLBACK" });
    if let Err(error) = &ended {
        flag_full(error);
    } else if any_written {
        storage_full.store(false, Ordering::SeqCst);
    }
    // On a failed commit the writer thread rolls back (or replaces the connection) before
    // the next group.
    for (answer, done) in answers.into_iter().zip(done) {
        answer.send(done, ended.as_ref().err());
    }
}

/// Whether the commands of a group run in savepoints of their own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    None,
    Savepoints,
}

/// How running a group's tasks in one transaction went.
enum Attempt {
    /// Every task ran: the transaction holds what they wrote, to be committed when
    /// `any_written`.
    Ran { done: Vec<Done>, any_written: bool },
    /// Without savepoints, a task failed after it may have written part of its work: the
    /// transaction was rolled back, and the group is to be run again with them.
    Undone,
    /// The transaction itself failed (its begin, or a savepoint's statement): rolled back,
    /// with the outcomes of the tasks that ran before.
    Broken { done: Vec<Done>, error: StoreError },
}

/// Runs every task of a group inside one transaction begun here, leaving it open unless
/// the attempt was undone or broken.
fn run_tasks(
    connection: &mut rusqlite::Connection,
    decoded: &mut Decoded,
    tasks: &mut [Task],
    guard: Guard,
    flag_full: &impl Fn(&StoreError),
) -> Attempt {
    let broken = |connection: &rusqlite::Connection, done, error: StoreError| {
        flag_full(&error);
        let _ = run(connection, "ROLLBACK");
        Attempt::Broken { done, error }
    };
    if let Err(error) = run(connection, "BEGIN IMMEDIATE") {
        return broken(connection, Vec::new(), error);
    }
    let alone = tasks.len() == 1;
    let mut done: Vec<Done> = Vec::with_capacity(tasks.len());
    // Whether anything of the group is to be kept: a command done, or a key claimed (a
    // claim stands even when its command is refused, so the refusal can be its answer).
    let mut any_written = false;
    for task in tasks.iter_mut() {
        // A claim on an idempotency key writes at most one statement's worth (an insert
        // that does nothing on a conflict, or a single update), so it needs no savepoint
        // to be undone alone: it is either written whole or not at all.
        //
        // Without savepoints, a command whose key is free is run unclaimed: its answer
        // is then the key's one row (an insert, instead of a claim and an update that
        // grows it). A refusal, or a command without an answer, claims the key after it,
        // as it would have been claimed before.
        let free = match &*task {
            Task::Command(_, Some(claim)) if guard == Guard::None => {
                match ready(key_is_free(connection, claim)) {
                    Ok(free) => free,
                    Err(error) => return broken(connection, done, error),
                }
            }
            _ => false,
        };
        let (write, claimed, unclaimed) = match task {
            Task::Reserve(reservation) => (
                None,
                Some(Done::Reserve(claim_key(
                    connection,
                    reservation,
                    &mut any_written,
                    flag_full,
                ))),
                None,
            ),
            Task::Command(write, None) => (Some(write), None, None),
            Task::Command(write, Some(claim)) if free => (Some(write), None, Some(&*claim)),
            Task::Command(write, Some(claim)) => {
                match claim_key(connection, claim, &mut any_written, flag_full) {
                    Ok(crate::IdempotencyBegin::Started) => (Some(write), None, None),
                    claimed => (
                        None,
                        Some(Done::Command(
                            claimed.and_then(|used| Err(StoreError::KeyUsed(used))),
                        )),
                        None,
                    ),
                }
            }
        };
        if let Some(claimed) = claimed {
            if guard == Guard::None && claimed.may_have_written_in_part() {
                let _ = run(connection, "ROLLBACK");
                return Attempt::Undone;
            }
            done.push(claimed);
        }
        let Some(write) = write else {
            continue;
        };
        // Guarded, a command alone in its group needs no savepoint unless a claim before
        // it must outlive its failure.
        let savepoint = guard == Guard::Savepoints && (!alone || any_written);
        if savepoint && let Err(error) = run(connection, "savepoint command") {
            return broken(connection, done, error);
        }
        let outcome = Done::Command(ready(perform(connection, write, Some(decoded))));
        if let Some(error) = outcome.error() {
            flag_full(error);
        }
        let claim_after = match &outcome {
            Done::Command(Ok(committed)) => committed.answer.is_none(),
            Done::Command(Err(StoreError::Rejected(_))) => true,
            _ => false,
        };
        if let Some(claim) = unclaimed.filter(|_| claim_after) {
            match claim_key(connection, claim, &mut any_written, flag_full) {
                Ok(crate::IdempotencyBegin::Started) => {}
                Ok(_) => {
                    let error = StoreError::Other(anyhow::anyhow!(
                        "an idempotency key found free was taken within its own command"
                    ));
                    return broken(connection, done, error);
                }
                Err(error) => return broken(connection, done, error),
            }
        }
        if guard == Guard::None && outcome.may_have_written_in_part() {
            let _ = run(connection, "ROLLBACK");
            return Attempt::Undone;
        }
        any_written |= outcome.ok();
        if savepoint {
            let ended = if outcome.ok() {
                run(connection, "release command")
            } else {
                run(connection, "rollback to command")
                    .and_then(|()| run(connection, "release command"))
            };
            if let Err(error) = ended {
                // The transaction is in an unknown state: the whole group is undone.
                done.push(outcome);
                return broken(connection, done, error);
            }
        }
        done.push(outcome);
    }
    Attempt::Ran { done, any_written }
}

/// Claims an idempotency key inside the group's transaction; a claim made is something
/// the group must commit.
fn claim_key(
    connection: &mut rusqlite::Connection,
    reservation: &crate::Reservation,
    any_written: &mut bool,
    flag_full: &impl Fn(&StoreError),
) -> Result<crate::IdempotencyBegin, StoreError> {
    let outcome = ready(reserve_key(connection, reservation));
    match &outcome {
        Ok(crate::IdempotencyBegin::Started) => *any_written = true,
        Ok(_) => {}
        Err(error) => flag_full(error),
    }
    outcome
}

crate::backend::store_impl! {
    store: SqliteStore,
    db: sqlx::Sqlite,
    connection: sqlx::SqliteConnection,
    begin: "BEGIN IMMEDIATE",
    lock_order: "select state, version from orders where id = $1",
    claim_deadlines: "update deadlines set claimed_until = $1, updated_at = $2 \
        where rowid in (select rowid from deadlines where paused = 0 and due_at <= $2 and claimed_until <= $2 \
        order by due_at limit $3) \
        returning order_id, kind, due_at",
    // `+p.topic` keeps SQLite (which has no statistics here) from answering "an earlier
    // message of the order still pending?" by reading every pending message of the topic:
    // the order's own messages, found by the (order_id, dedupe_key) index, are few.
    claim_outbox: "update outbox set claimed_until = $1, updated_at = $2 where id in ( \
        select o.id from outbox o where o.topic = $4 and o.delivered_at is null and o.dead_at is null \
        and o.skipped_at is null and o.next_attempt_at <= $2 and o.claimed_until <= $2 \
        and not exists (select 1 from outbox p where p.order_id = o.order_id and +p.topic = o.topic \
        and p.delivered_at is null and p.skipped_at is null and p.id < o.id) \
        order by o.id limit $3) \
        returning id, order_id, topic, dedupe_key, payload, attempts, first_failed_at",
    buyer_lock: "",
    unit_as_one_statement: false,
    metric_shards: 1,
    migrations: crate::migrate::SQLITE,
    migration_lock: "",
}
