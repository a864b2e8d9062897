//! TURN REST credentials (draft-uberti-behave-turn-rest): the username is
//! `"<unix expiry>:<user>"` and the password is
//! `base64(HMAC-SHA1(shared secret, username))`, which a TURN server configured
//! with the same secret (coturn: `use-auth-secret`, `static-auth-secret`)
//! checks without asking Ferry.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A credential pair for one user, valid until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    /// `"<unix expiry>:<user>"`, which the TURN server reads the expiry from.
    pub username: String,
    /// The HMAC of `username` under the shared secret, base64.
    pub password: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Errors minting a credential.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The shared secret is empty; a TURN server would accept any password.
    #[error("the TURN shared secret is empty")]
    EmptySecret,
    /// The user id contains `:`, which would make the username ambiguous.
    #[error("a TURN user id must not contain ':'")]
    InvalidUser,
}

/// Mints a credential for `user` that expires `ttl_secs` after `now_secs`.
pub fn credential(
    secret: &[u8],
    user: &str,
    now_secs: u64,
    ttl_secs: u64,
) -> Result<TurnCredential, TurnError> {
    if secret.is_empty() {
        return Err(TurnError::EmptySecret);
    }
    if user.contains(':') {
        return Err(TurnError::InvalidUser);
    }
    let expires_at = now_secs.saturating_add(ttl_secs);
    let username = format!("{expires_at}:{user}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).map_err(|_| TurnError::EmptySecret)?;
    mac.update(username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Ok(TurnCredential {
        username,
        password,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_hmac_that_coturn_computes() {
        // Reference value from Python: base64(hmac.new(b"north-sea", b"1700003600:user-42", sha1).digest())
        let cred = credential(b"north-sea", "user-42", 1_700_000_000, 3600).expect("valid input");
        assert_eq!(cred.username, "1700003600:user-42");
        assert_eq!(cred.password, "5TvBFBQ4azsYhd+F7pQtfC9A6z0=");
        assert_eq!(cred.expires_at, 1_700_003_600);
    }

    #[test]
    fn refuses_an_empty_secret_and_a_colon_in_the_user() {
        assert!(matches!(
            credential(b"", "u", 0, 1),
            Err(TurnError::EmptySecret)
        ));
        assert!(matches!(
            credential(b"s", "a:b", 0, 1),
            Err(TurnError::InvalidUser)
        ));
    }
}
