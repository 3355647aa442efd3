//! Who is acting: the caller's role and account, or the system's timers.

use serde::{Deserialize, Serialize};

use crate::ids::AccountId;

/// The kinds of actor of SPEC section 1: the people, orderly's own timers, and the
/// carriers and payment providers that call in (SPEC 16.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Seller,
    Admin,
    System,
    Provider,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Admin => "admin",
            Role::System => "system",
            Role::Provider => "provider",
        }
    }
}

/// The account behind a command. Admins see every order; buyers and sellers only their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "role", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Buyer(AccountId),
    Seller(AccountId),
    Admin(AccountId),
    /// orderly's own timers (section 5).
    System,
    /// A carrier or payment provider, through its signed callbacks: the integration's id.
    Provider(AccountId),
}

impl Actor {
    pub fn role(&self) -> Role {
        match self {
            Actor::Buyer(_) => Role::Buyer,
            Actor::Seller(_) => Role::Seller,
            Actor::Admin(_) => Role::Admin,
            Actor::System => Role::System,
            Actor::Provider(_) => Role::Provider,
        }
    }

    pub fn account_id(&self) -> Option<AccountId> {
        match self {
            Actor::Buyer(id) | Actor::Seller(id) | Actor::Admin(id) | Actor::Provider(id) => {
                Some(*id)
            }
            Actor::System => None,
        }
    }
}
