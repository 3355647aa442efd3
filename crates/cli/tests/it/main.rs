//! The `orderly` binary as users run it: real processes, real signals.
//!
//! - `kill`: SIGKILL at random moments while clients place and pay orders; after each
//!   restart every acknowledged order and step is there (both backends).
//! - `commands`: `serve --demo` twice on one database, its log in a file, `check` and
//!   `rebuild-projections` on a missing database.
//! - `walkthrough`: docs/api.md played against a fresh server, answer by answer.
//! - `callback`: `orderly callback` signs and sends a carrier's scan that delivers an
//!   order, and a wrong secret is refused.

mod callback;
mod commands;
mod kill;
mod support;
mod walkthrough;
