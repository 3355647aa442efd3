//! API tokens: 32 random bytes, shown once, stored only as their SHA-256 hash.

use sha2::{Digest, Sha256};

/// A new token, as text for the `Authorization: Bearer` header.
pub fn generate() -> String {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("ord_{}", hex::encode(bytes))
}

/// The hash under which a token is stored and looked up.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(left: &str, right: &str) -> bool {
    let (left, right) = (
        Sha256::digest(left.as_bytes()),
        Sha256::digest(right.as_bytes()),
    );
    left.iter()
        .zip(right.iter())
        .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (first, second) = (generate(), generate());
        assert_ne!(first, second);
        assert_eq!(first.len(), 4 + 64);
        assert_eq!(hash(&first), hash(&first));
        assert_ne!(hash(&first), hash(&second));
        assert!(constant_time_eq(&first, &first));
        assert!(!constant_time_eq(&first, &second));
    }
}
