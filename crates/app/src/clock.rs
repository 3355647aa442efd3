//! Where time comes from: the system clock in production, a test clock that only an admin
//! call moves forward under `serve --test-clock` (SPEC 13). This module is the only place
//! that reads the system clock.

use std::sync::Mutex;

use jiff::Timestamp;

/// The current time, as the app sees it: always whole microseconds, the precision the
/// store keeps, so that a deadline read back from the database is due exactly when the
/// order says it is.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// `at` without its sub-microsecond part.
pub fn whole_microseconds(at: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(at.as_microsecond()).expect("truncating keeps a timestamp in range")
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    fn now(&self) -> Timestamp {
        whole_microseconds(Timestamp::now())
    }
}

/// The real time, whatever clock the business runs on: for checks that are about the
/// real world, such as how old a callback's signature is.
pub fn wall_clock_now() -> Timestamp {
    SystemClock.now()
}

/// A clock that stands still until it is moved.
pub struct TestClock {
    now: Mutex<Timestamp>,
}

impl TestClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(whole_microseconds(start)),
        }
    }

    /// Moves the clock to `at`; never backwards.
    pub fn set(&self, at: Timestamp) {
        let mut now = self
            .now
            .lock()
            .expect("the test clock's lock is never poisoned");
        if at > *now {
            *now = at;
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self
            .now
            .lock()
            .expect("the test clock's lock is never poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_keep_whole_microseconds() {
        let at: Timestamp = "2026-11-23T05:20:37.508549458Z".parse().expect("valid");
        let clock = TestClock::new(at);
        assert_eq!(clock.now().to_string(), "2026-11-23T05:20:37.508549Z");
        assert_eq!(SystemClock.now().subsec_nanosecond() % 1_000, 0);
    }
}
