//! Identifiers. They are created outside the domain (the app owns the id generator) and
//! passed in, so that the domain never draws randomness.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an id made by the caller's id generator.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The id as a UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// One order.
    OrderId
);
id_type!(
    /// One account: a buyer, a seller (store) or an admin.
    AccountId
);
id_type!(
    /// One product of a seller's catalogue.
    ProductId
);
id_type!(
    /// One evidence file on a claim.
    EvidenceId
);
