//! The `orderly` binary as users run it: real processes, real signals.
//!
//! - `kill`: SIGKILL at random moments while clients place and pay orders; after each
//!   restart every acknowledged order and step is there (both backends).

mod kill;
