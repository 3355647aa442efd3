//! orderly's domain: the order lifecycle of SPEC sections 2–9, 11 and 12 as data and pure
//! functions. No I/O, no async, no clock reads, no randomness: time, ids and the acting
//! account come in as arguments, and side effects go out as events.
//!
//! The heart is two functions: [`decide`] (may refuse with a [`Rejection`]) and [`apply`]
//! (never refuses: events are facts). [`allowed_actions`] and [`guidance`] tell a caller
//! what it may do next.

#![forbid(unsafe_code)]

#[macro_use]
mod codes;

pub mod actor;
pub mod calendar;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod order;
pub mod payment;
pub mod policy;
pub mod reason;
pub mod seller;

pub use actor::{Actor, Role};
pub use ids::{AccountId, EvidenceId, OrderId, ProductId};
pub use ledger::{Escrow, LedgerAccount, LedgerEntry};
pub use money::{Currency, Money, MoneyError};
pub use order::actions::{allowed_actions, guidance};
pub use order::apply::{apply, replay};
pub use order::command::{
    Action, CatalogueLine, ClaimDecision, Command, PlaceOrder, ReturnKind, ScanStatus,
};
pub use order::deadline::{Deadline, DeadlineKind};
pub use order::decide::{Decision, check, decide, place};
pub use order::event::{Event, EventKind};
pub use order::message::{MessageBody, Template};
pub use order::rejection::Rejection;
pub use order::visibility::{Audience, EventView, visible};
pub use order::{Order, ShippingAddress, Status};
pub use payment::{PaymentMethod, RefundDestination};
pub use policy::{Policy, PolicyError, Verification, Window};
pub use reason::{CancelReason, DisputeReason, Fault, ReturnReason};
