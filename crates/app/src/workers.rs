//! The background workers `serve` runs beside the HTTP server: the deadline worker (fires
//! due deadlines, purges old idempotency records) and the outbox's delivery workers. Each
//! has a step function the tests call directly, and a loop that sleeps until there is
//! work, a poll interval, or shutdown.
//!
//! Every step runs supervised: a step that fails or panics is logged, counted and shown
//! in `/readyz` and `/metrics` through [`Health`], and the loop goes on with the next step,
//! so one bad row or one bug never stops a worker for good.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use crate::error::AppError;
use crate::service::App;

/// How long idempotency records are kept (SPEC 15.20: at least 24 hours).
pub const IDEMPOTENCY_KEEP_HOURS: i64 = 24;
/// Most idempotency records kept per account; the hourly purge trims the oldest beyond.
pub const IDEMPOTENCY_KEYS_PER_ACCOUNT_MAX: u32 = 10_000;

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Did this many things; run again at once.
    Worked(usize),
    /// Nothing to do; sleep until `next_due` (or the poll interval, if sooner or unknown).
    Idle { next_due: Option<Timestamp> },
}

/// What wakes a worker before its poll interval is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A commit wrote to the outbox, or an admin retried a message: the delivery workers.
    Deliveries,
    /// A commit armed a deadline due before the worker meant to look again.
    Deadlines,
}

/// Wakes the deadline worker when a commit arms a deadline due before the worker's next
/// look, and only then: most deadlines are hours or days away, so the worker is not woken
/// (and its claim does not take the writer's turn) by every command.
pub struct DeadlineAlarm {
    notify: tokio::sync::Notify,
    /// When the worker next looks, in microseconds since the epoch.
    next_look: AtomicI64,
    /// The earliest deadline armed since the worker's step began: a deadline committed
    /// after the step read the store, and before the worker set `next_look`, is seen here.
    earliest_armed: AtomicI64,
}

impl Default for DeadlineAlarm {
    fn default() -> Self {
        Self {
            notify: tokio::sync::Notify::new(),
            next_look: AtomicI64::new(i64::MAX),
            earliest_armed: AtomicI64::new(i64::MAX),
        }
    }
}

impl DeadlineAlarm {
    /// A commit armed a deadline due at `due`.
    pub fn armed(&self, due: Timestamp) {
        let due = due.as_microsecond();
        self.earliest_armed.fetch_min(due, Ordering::SeqCst);
        if due < self.next_look.load(Ordering::SeqCst) {
            // A permit is kept when the worker is not waiting yet: it looks once more.
            self.notify.notify_one();
        }
    }

    /// The worker starts a step, which reads every deadline committed so far. Commits
    /// meanwhile do not wake it again (`next_look` is still the past): they count in
    /// [`Self::sleeping_until`].
    fn looking(&self) {
        self.earliest_armed.store(i64::MAX, Ordering::SeqCst);
    }

    /// The worker means to sleep until `at`: when it should wake, counting the deadlines
    /// armed while its step ran. (A commit either sees the new `next_look` and wakes the
    /// worker, or armed its deadline before the worker reads `earliest_armed`.)
    fn sleeping_until(&self, at: Timestamp) -> Timestamp {
        self.next_look.store(at.as_microsecond(), Ordering::SeqCst);
        let armed = self.earliest_armed.load(Ordering::SeqCst);
        Timestamp::from_microsecond(armed).map_or(at, |armed| armed.min(at))
    }
}

/// The health of one worker, as `/readyz` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerHealth {
    /// When its last step succeeded.
    pub last_ok_at: Option<Timestamp>,
    /// The last step's error or panic, cleared by the next success.
    pub failing: Option<String>,
    /// Steps that panicked since start.
    pub panics: u64,
    /// Steps that failed since start.
    pub failures: u64,
}

/// Every worker's health, shared by the workers and the readiness endpoint.
#[derive(Default)]
pub struct Health {
    workers: Mutex<BTreeMap<&'static str, WorkerHealth>>,
}

impl Health {
    /// Records that `worker` runs (so `/readyz` lists it before its first step ends).
    pub fn register(&self, worker: &'static str) {
        self.lock().entry(worker).or_default();
    }

    fn record(&self, worker: &'static str, outcome: &Outcome, now: Timestamp) {
        let mut workers = self.lock();
        let health = workers.entry(worker).or_default();
        match outcome {
            Outcome::Ok => {
                health.last_ok_at = Some(now);
                health.failing = None;
            }
            Outcome::Failed(error) => {
                health.failures += 1;
                health.failing = Some(error.clone());
            }
            Outcome::Panicked(message) => {
                health.panics += 1;
                health.failing = Some(format!("panicked: {message}"));
            }
        }
    }

    /// A copy of every worker's health, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, WorkerHealth> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, WorkerHealth>> {
        self.workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

enum Outcome {
    Ok,
    Failed(String),
    Panicked(String),
}

/// Runs one step of `worker` in its own task, so that a panic is caught and recorded
/// instead of ending the worker. `None` when the step failed or panicked.
pub async fn supervised<F>(app: &Arc<App>, worker: &'static str, step: F) -> Option<Step>
where
    F: Future<Output = Result<Step, AppError>> + Send + 'static,
{
    let outcome = tokio::spawn(step).await;
    let (result, outcome) = match outcome {
        Ok(Ok(step)) => (Some(step), Outcome::Ok),
        Ok(Err(error)) => {
            tracing::error!(worker, %error, "a worker step failed; the worker goes on");
            metrics::counter!("orderly_worker_failures_total", "worker" => worker).increment(1);
            (None, Outcome::Failed(error.to_string()))
        }
        Err(join_error) => {
            let message = if join_error.is_panic() {
                panic_text(join_error.into_panic())
            } else {
                "cancelled".to_owned()
            };
            tracing::error!(worker, panic = %message, "a worker step panicked; the worker goes on");
            metrics::counter!("orderly_worker_panics_total", "worker" => worker).increment(1);
            (None, Outcome::Panicked(message))
        }
    };
    metrics::gauge!("orderly_worker_up", "worker" => worker).set(match outcome {
        Outcome::Ok => 1.0,
        _ => 0.0,
    });
    app.health.record(worker, &outcome, app.now());
    result
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `step` until `shutdown`, sleeping when it is idle: until its next due time, at
/// most `poll`, at least 10 ms, or until `wake` says there is new work. After a failed
/// step it waits `poll` before trying again.
pub async fn run_loop<F, Fut>(
    app: Arc<App>,
    worker: &'static str,
    poll: Duration,
    wake: Wake,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut step: F,
) where
    F: FnMut(Arc<App>) -> Fut,
    Fut: Future<Output = Result<Step, AppError>> + Send + 'static,
{
    app.health.register(worker);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if wake == Wake::Deadlines {
            app.deadlines.looking();
        }
        let wait = match supervised(&app, worker, step(app.clone())).await {
            Some(Step::Worked(_)) => continue,
            Some(Step::Idle { next_due }) => match next_due {
                Some(next) if !app.has_test_clock() => {
                    let until = next.duration_since(app.now());
                    Duration::try_from(until)
                        .unwrap_or(Duration::ZERO)
                        .min(poll)
                }
                _ => poll,
            },
            None => poll,
        };
        // The deadline worker also wakes for a deadline armed while its step ran (under
        // the test clock deadlines fire only when the clock is advanced).
        let wait = if wake == Wake::Deadlines && !app.has_test_clock() {
            let now = app.now();
            let planned = now + jiff::SignedDuration::try_from(wait).unwrap_or_default();
            let wake_at = app.deadlines.sleeping_until(planned);
            Duration::try_from(wake_at.duration_since(now)).unwrap_or(Duration::ZERO)
        } else {
            wait
        };
        let wait = wait.max(Duration::from_millis(10));
        let woken = async {
            match wake {
                Wake::Deliveries => app.deliveries.notified().await,
                Wake::Deadlines => app.deadlines.notify.notified().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = woken => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One step of the deadline worker: fires every deadline due now (not under the test
/// clock, which only its advance call moves), and once an hour purges old idempotency
/// records.
pub async fn deadline_step(app: Arc<App>) -> Result<Step, AppError> {
    let now = app.now();
    if app.purge_due(now) {
        purge_idempotency_records(&app, now).await?;
        purge_delivered(&app, now, app.outbox_keep_delivered()).await?;
        let expired = app.store.purge_sessions(now).await?;
        if expired > 0 {
            tracing::info!(expired, "expired sessions and sign-in links purged");
        }
    }
    if !app.has_test_clock() {
        let fired = app.run_due_deadlines(now).await?;
        if fired > 0 {
            tracing::info!(fired, "deadlines fired");
            return Ok(Step::Worked(fired));
        }
    }
    let next_due = app.store.next_deadline(app.now()).await?;
    Ok(Step::Idle { next_due })
}

/// Deletes idempotency records older than [`IDEMPOTENCY_KEEP_HOURS`], and each account's
/// oldest beyond [`IDEMPOTENCY_KEYS_PER_ACCOUNT_MAX`]; returns how many went.
pub async fn purge_idempotency_records(app: &App, now: Timestamp) -> Result<u64, AppError> {
    let before = now - jiff::SignedDuration::from_hours(IDEMPOTENCY_KEEP_HOURS);
    let purged = app
        .store
        .idempotency_purge(before, IDEMPOTENCY_KEYS_PER_ACCOUNT_MAX)
        .await?;
    if purged > 0 {
        tracing::info!(purged, "old idempotency records purged");
    }
    Ok(purged)
}

/// One step of the webhook worker: tries every webhook ready now once.
pub async fn webhook_step(
    app: Arc<App>,
    sender: Arc<crate::delivery::WebhookSender>,
) -> Result<Step, AppError> {
    let round = sender.deliver_once(app.store.as_ref(), app.now()).await?;
    Ok(round.step())
}

/// One step of the e-mail worker: tries every e-mail ready now once.
pub async fn email_step(
    app: Arc<App>,
    sender: Arc<crate::mail::EmailSender>,
) -> Result<Step, AppError> {
    let round = sender.deliver_once(app.store.as_ref(), app.now()).await?;
    Ok(round.step())
}

/// Deletes delivered outbox rows older than `keep` (SPEC 16.2); dead ones stay.
pub async fn purge_delivered(
    app: &App,
    now: Timestamp,
    keep: jiff::SignedDuration,
) -> Result<u64, AppError> {
    let purged = app.store.outbox_purge_delivered(now - keep).await?;
    if purged > 0 {
        tracing::info!(purged, "delivered outbox messages purged");
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::DeadlineAlarm;
    use jiff::{SignedDuration, Timestamp};

    /// Whether the alarm has left the worker a wake-up.
    async fn rang(alarm: &DeadlineAlarm) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, alarm.notify.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_deadline_worker_is_woken_only_for_a_deadline_due_before_it_looks() {
        let alarm = DeadlineAlarm::default();
        let now = Timestamp::from_second(1_800_000_000).expect("a valid instant");
        alarm.looking();
        alarm.sleeping_until(now + SignedDuration::from_secs(5));
        alarm.armed(now + SignedDuration::from_hours(24));
        assert!(
            !rang(&alarm).await,
            "a deadline a day away waits for the poll"
        );
        alarm.armed(now + SignedDuration::from_secs(1));
        assert!(
            rang(&alarm).await,
            "a deadline due before the next look wakes it"
        );
    }

    #[tokio::test]
    async fn commits_during_a_step_do_not_wake_the_worker_again_but_their_deadlines_count() {
        let alarm = DeadlineAlarm::default();
        let now = Timestamp::from_second(1_800_000_000).expect("a valid instant");
        alarm.sleeping_until(now);
        // The worker is woken and runs a step; commits go on meanwhile, one of them
        // arming a deadline after the step has read the store.
        alarm.looking();
        let soon = now + SignedDuration::from_secs(2);
        alarm.armed(now + SignedDuration::from_hours(24));
        alarm.armed(soon);
        assert!(
            !rang(&alarm).await,
            "commits during a step leave no wake-up behind"
        );
        // Its plan was the poll, 5 s on: it wakes for the deadline instead.
        assert_eq!(
            alarm.sleeping_until(now + SignedDuration::from_secs(5)),
            soon
        );
        // The next step starts afresh.
        alarm.looking();
        let planned = now + SignedDuration::from_secs(5);
        assert_eq!(alarm.sleeping_until(planned), planned);
    }
}
