//! Who is acting: the caller's role and account, or the system's timers.

use serde::{Deserialize, Serialize};

use crate::ids::AccountId;

/// The four kinds of actor of SPEC section 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Seller,
    Admin,
    System,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Admin => "admin",
            Role::System => "system",
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
}

impl Actor {
    pub fn role(&self) -> Role {
        match self {
            Actor::Buyer(_) => Role::Buyer,
            Actor::Seller(_) => Role::Seller,
            Actor::Admin(_) => Role::Admin,
            Actor::System => Role::System,
        }
    }

    pub fn account_id(&self) -> Option<AccountId> {
        match self {
            Actor::Buyer(id) | Actor::Seller(id) | Actor::Admin(id) => Some(*id),
            Actor::System => None,
        }
    }
}
