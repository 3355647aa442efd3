//! The pages in a real headless Chromium against the real server (test clock, demo
//! market): the seeds' stories clicked end to end, accessibility checked with axe-core at
//! phone and desktop widths, and the buttons held to `allowed_actions`.
//!
//! - `stories`: a buyer's cancellation approved by the seller, one approved by silence
//!   after 72 hours, a frozen order, a dispute with a photo and a counter offer, a
//!   double-clicked approval, and a refusal shown beside its field.
//! - `desk`: support resolving an escalated dispute from the queue, a freeze note kept
//!   from the parties, a penalty moving the seller's rating.
//! - `http`: the same pages without a browser: forged forms, other people's orders and
//!   files, spent sign-in links, ended sessions, where sign-in may send you back to.
//! - `pages`: every page through axe at 375 px and 1280 px (and the screenshots in
//!   `docs/`), and the buttons of every demo order for every role.

mod desk;
mod http;
mod pages;
mod stories;
mod support;
