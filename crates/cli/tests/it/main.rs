//! The `orderly` binary as users run it: real processes, real signals.
//!
//! - `kill`: SIGKILL at random moments while clients place and pay orders; after each
//!   restart every acknowledged order and step is there (both backends).
//! - `callback`: `orderly callback` signs and sends a carrier's scan that delivers an
//!   order, and a wrong secret is refused.

mod callback;
mod kill;
mod support;
