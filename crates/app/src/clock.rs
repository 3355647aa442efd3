//! Where time comes from: the system clock in production, a test clock that only an admin
//! call moves forward under `serve --test-clock` (SPEC 13). This module is the only place
//! that reads the system clock.

use std::sync::Mutex;

use jiff::Timestamp;

/// The current time, as the app sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until it is moved.
pub struct TestClock {
    now: Mutex<Timestamp>,
}

impl TestClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
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
