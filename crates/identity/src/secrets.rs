//! Hashing of secrets: SHA-256 for high-entropy tokens, argon2id for passwords.

use andibase_common::{DomainError, DomainResult};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use sha2::{Digest, Sha256};

pub fn sha256_hex(secret: &str) -> String {
    andibase_common::hex::encode(&Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> DomainResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Internal(format!("argon2: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A password hash nobody can match, used to spend the same time on unknown emails.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$K3nSvqNqQqNJ4Fq1m3z8fWtGkTj0QqZ1ZlIbXkq9sNQ";

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_hex_matches_the_known_vector() {
        assert_eq!(
            super::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
