//! The store's tests. Every story runs on SQLite always and on PostgreSQL when
//! `ORDERLY_TEST_POSTGRES_URL` is set (CI sets it); each run gets a fresh database that is
//! dropped afterwards.
//!
//! - `checkpoint`: SQLite's log is copied into the database file beside the writer.
//! - `conformance`: one story per area, written once for both backends.
//! - `race`: many tasks issue conflicting commands on one order; exactly one wins.
//! - `crash`: a child process writes as fast as it can and is killed with SIGKILL; every
//!   acknowledged command must survive.

mod checkpoint;
mod conformance;
mod crash;
mod race;
mod support;
