//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB,
//! two passes, one lane, as OWASP recommends).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::ApiError;

pub const MIN_PASSWORD_LEN: usize = 12;

/// Hashes on the blocking pool: argon2 is deliberately slow and would stall
/// the async workers.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| anyhow::anyhow!("hashing a password: {err}"))
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))?
    .map_err(ApiError::Internal)
}

/// A hash of a password nobody knows, verified against when the user does not
/// exist so that an unknown name takes as long as a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0NfrIzMm5nwkqHeVW1ZqYD0vy4OiHK8h7ufMLXlF7iE";

pub async fn verify(password: String, stored_hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored_hash.is_some();
        let encoded = stored_hash.unwrap_or_else(|| DECOY_HASH.to_owned());
        let matches = PasswordHash::new(&encoded)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))
}

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid(
            "weak_password",
            "password",
            format!("a password needs at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

/// A random password for generated accounts (the demo consortium, the CLI).
pub fn generate() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_hash_parses_so_unknown_users_cost_a_full_verification() {
        // If it did not parse, verification would return at once and an
        // unknown name would answer measurably faster than a wrong password.
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash("a long enough password".to_owned())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify("a long enough password".to_owned(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(!verify("another password!!".to_owned(), Some(hash))
            .await
            .expect("verify"));
        assert!(!verify("anything at all".to_owned(), None)
            .await
            .expect("verify"));
    }
}
