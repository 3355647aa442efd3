//! Why a command is refused. Each rejection has a stable code (SPEC 13 and 15.2) and a
//! sentence a person can act on. Bad requests are rejections; impossible events are bugs.

use crate::actor::Role;
use crate::order::Status;

/// A refused command. Nothing changes when a command is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The caller may not see this order (or it does not exist): the same answer in both
    /// cases, so that nobody learns an order exists (SPEC 1).
    #[error("no order with that id is visible to you")]
    NotFound,
    /// The caller can see the order, but their role never takes this action.
    #[error("{role} accounts cannot {action}; only {allowed} can", role = role.code(), action = words(action))]
    Forbidden {
        /// The action code (SPEC 15.3).
        action: &'static str,
        role: Role,
        allowed: &'static str,
    },
    /// An admin froze the order; only an admin may act until it is unfrozen (SPEC 8).
    #[error(
        "the order is frozen by the platform while it is reviewed; only messages can be sent until it is unfrozen"
    )]
    OrderFrozen,
    /// The order's status or overlays do not allow this action now.
    #[error("cannot {action} while {status}: {detail}", action = words(action), status = status.while_phrase())]
    InvalidTransition {
        /// The action code (SPEC 15.3) or the deadline kind.
        action: &'static str,
        status: Status,
        detail: String,
    },
    /// The action clashes with something already pending, e.g. a second cancellation
    /// request or the same message twice in a row.
    #[error("{detail}")]
    Conflict { detail: String },
    /// A field of the command has a value the rules do not accept.
    #[error("{field}: {detail}")]
    Validation { field: &'static str, detail: String },
}

impl Rejection {
    /// The stable code of SPEC 13, used in `application/problem+json` bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::Forbidden { .. } => "forbidden",
            Rejection::OrderFrozen => "order_frozen",
            Rejection::InvalidTransition { .. } => "invalid_transition",
            Rejection::Conflict { .. } => "conflict",
            Rejection::Validation { .. } => "validation_failed",
        }
    }

    pub(crate) fn validation(field: &'static str, detail: impl Into<String>) -> Self {
        Rejection::Validation {
            field,
            detail: detail.into(),
        }
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Rejection::Conflict {
            detail: detail.into(),
        }
    }
}

/// A code as words for sentences: `request_cancellation` -> `request cancellation`.
fn words(code: &str) -> String {
    code.replace('_', " ")
}
