//! orderly's use cases: load an order, decide, commit — with the catalogue, accounts,
//! idempotent responses and the outbox — and the deadline worker. Depends on the store's
//! trait, never on a backend; knows nothing about HTTP.

#![forbid(unsafe_code)]

pub mod clock;
pub mod delivery;
pub mod demo;
pub mod error;
pub mod evidence;
pub mod integrations;
pub mod mail;
pub mod notify;
pub mod outbox;
pub mod queue;
pub mod service;
pub mod sessions;
pub mod tokens;
pub mod workers;

pub use clock::{Clock, SystemClock, TestClock};
pub use error::AppError;
pub use service::{
    App, AppConfig, EventPage, IDEMPOTENCY_STALE_SECS, Idempotency, KeyedRequest, NewOrder,
    NewProduct, Render,
};
