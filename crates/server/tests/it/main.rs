//! The service over real HTTP: each test starts the real server on a random port with a
//! fresh database (SQLite, and PostgreSQL when `ORDERLY_TEST_POSTGRES_URL` is set) and a
//! test clock, and talks to it with an HTTP client.
//!
//! - `stories`: the stories of SPEC sections 3–9 through the API, one test per seed rule.
//! - `catalogue`: products page by page and changed by their seller; sign-in links.
//! - `callbacks`: signed carrier and payment callbacks, and their integrations.
//! - `desk`: the work queue, penalties, evidence, refund arrival, proposals, support.
//! - `email`: e-mails through a real SMTP server: the story's mails, reminders, faults.
//! - `errors`: problem+json for every failure path.
//! - `faults`: a cut database link, a full disk, slow clients, guessed tokens, limits.
//! - `authz`: every route × every role × own / foreign / missing order, from the route list.
//! - `idempotency`: replays, mismatches and keys per account.
//! - `restart`: a pending request survives a restart and auto-approves exactly once.
//! - `openapi`: the generated document against its checked-in snapshot.
//! - `private`: admin notes, admin ids and complaints never reach the wrong party.

mod authz;
mod callbacks;
mod catalogue;
mod desk;
mod email;
mod errors;
mod faults;
mod idempotency;
mod openapi;
mod private;
mod restart;
mod stories;
mod support;
mod webhooks;
