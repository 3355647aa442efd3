//! The domain's integration tests: one binary, one module per area.
//!
//! - `table`: every (state, actor, action) combination and its outcome (SPEC 3 and 15).
//! - `providers`: carrier scans and payment verdicts through `decide`.
//! - `seeds`: one test per rule the SPEC cites from a seed, named after the seed.
//! - `money`: refunds, escrow and routing (SPEC 6).
//! - `seller`: seller performance as a fold over events (SPEC 11).
//! - `settle`: proposals, partial refunds, evidence, refund arrival, statutory withdrawal.
//! - `timers`: timers that pause, resume and re-arm (freezes, claims, declined payments).
//! - `visibility`: what buyers, sellers and the platform may see of each event (SPEC 16.3).

mod money;
mod providers;
mod seeds;
mod seller;
mod settle;
mod support;
mod table;
mod timers;
mod visibility;
