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
    hex::encode(digest(token))
}

/// A token's SHA-256: [`hash`] is it as hex, and tokens are compared by it.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two digests in time independent of where they differ.
pub fn digests_equal(left: &[u8; 32], right: &[u8; 32]) -> bool {
    left.iter()
        .zip(right.iter())
        .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(left: &str, right: &str) -> bool {
    digests_equal(&digest(left), &digest(right))
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
        assert_eq!(hex::encode(digest(&first)), hash(&first));
        assert!(digests_equal(&digest(&first), &digest(&first)));
        assert!(!digests_equal(&digest(&first), &digest(&second)));
    }
}
