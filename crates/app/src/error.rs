//! What a use case can fail with. The server maps each variant to one HTTP status.

use orderly_domain::Rejection;
use orderly_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The domain refused the command (SPEC 13 codes).
    #[error(transparent)]
    Rejected(Rejection),
    /// Not enough stock for the order.
    #[error("{0}")]
    OutOfStock(String),
    /// Another change won a race for the same order; the caller may retry.
    #[error("the order was changed at the same time by someone else; reload it and try again")]
    Conflict,
    /// The database cannot be reached or did not answer in time; nothing was done.
    #[error("{0}")]
    Unavailable(String),
    /// The database's disk is full; nothing was written.
    #[error("the database's disk is full")]
    StorageFull,
    /// No account, product, queue item, penalty or file with that id.
    #[error("no {0} with that id")]
    NoSuch(&'static str),
    /// An uploaded file of a kind that is not accepted.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// An uploaded file larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The request's idempotency key was used before; nothing ran. What to answer.
    #[error("the idempotency key was used before")]
    KeyUsed(orderly_store::IdempotencyBegin),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        AppError::Rejected(rejection)
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Rejected(rejection) => AppError::Rejected(rejection),
            StoreError::NotFound => AppError::Rejected(Rejection::NotFound),
            StoreError::Conflict => AppError::Conflict,
            StoreError::OutOfStock => AppError::OutOfStock(
                "not enough stock left for this order; lower the quantity".into(),
            ),
            StoreError::Invariant(broken) => {
                AppError::Unexpected(anyhow::anyhow!("invariant: {broken}"))
            }
            StoreError::Unavailable(detail) => AppError::Unavailable(detail),
            StoreError::StorageFull => AppError::StorageFull,
            StoreError::KeyUsed(begin) => AppError::KeyUsed(begin),
            StoreError::Other(error) => AppError::Unexpected(error),
        }
    }
}
