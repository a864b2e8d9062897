//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB,
//! two passes, one lane, as OWASP recommends), and the [`Checks`] limiter
//! that keeps sign-ins, which anyone can send, from running more of those
//! 19 MiB checks at once than the machine can hold.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ErrorCode};

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

/// Bounds the password checks of sign-in: at most `running` at once, and at
/// most `waiting` more queued for a turn (for at most [`Checks::WAIT`]);
/// anything beyond is refused at once with 429 rather than queued, so a
/// flood of sign-ins costs neither memory nor an unbounded queue.
///
/// The 19 MiB of working memory each check needs is kept and reused, one
/// buffer per turn, instead of being allocated and freed per check: freed,
/// it stays with whichever thread's allocator arena it came from, and
/// checks spread over the blocking pool's threads would leave 19 MiB in
/// every arena they touched.
#[derive(Debug, Clone)]
pub struct Checks {
    running: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// One check's turn: its place among the running ones, and the pool its
/// working memory comes from and goes back to.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Turn {
    fn buffers(&self) -> MutexGuard<'_, Vec<Vec<Block>>> {
        // A buffer list cannot be left half-updated by a panic.
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Checks {
    /// How long a sign-in may wait for a turn before it is told to retry.
    pub const WAIT: Duration = Duration::from_secs(3);

    pub fn new(running: usize, waiting: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(running.max(1))),
            waiting: Arc::new(Semaphore::new(waiting)),
            buffers: Arc::default(),
        }
    }

    /// Two checks per core (a check is CPU-bound: more would only take turns
    /// on the cores), between 2 and 8 (152 MiB), with four times as many
    /// waiting.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let running = (cores * 2).clamp(2, 8);
        Self::new(running, running * 4)
    }

    /// A turn to check one password, or `Busy` when too many are running
    /// and waiting already.
    pub async fn turn(&self) -> Result<Turn, ApiError> {
        let busy = ApiError::Busy {
            retry_after_secs: 1,
        };
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let Ok(_in_queue) = self.waiting.clone().try_acquire_owned() else {
                    return Err(busy);
                };
                match tokio::time::timeout(Self::WAIT, self.running.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => return Err(busy),
                }
            }
        };
        Ok(Turn {
            _permit: permit,
            buffers: self.buffers.clone(),
        })
    }
}

/// Checks `password` against `stored_hash`, or against a decoy when there is
/// none. The turn moves into the blocking task: a client that hangs up
/// mid-check does not free its place while the check still runs.
pub async fn verify(
    turn: Turn,
    password: String,
    stored_hash: Option<String>,
) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored_hash.is_some();
        let encoded = stored_hash.unwrap_or_else(|| DECOY_HASH.to_owned());
        let mut blocks = turn.buffers().pop().unwrap_or_default();
        let matches = check_in(&mut blocks, password.as_bytes(), &encoded).unwrap_or(false);
        turn.buffers().push(blocks);
        known && matches
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))
}

/// What `Argon2::verify_password` does, in `blocks` instead of fresh memory.
fn check_in(
    blocks: &mut Vec<Block>,
    password: &[u8],
    encoded: &str,
) -> Result<bool, argon2::password_hash::Error> {
    use argon2::password_hash::Error;
    let parsed = PasswordHash::new(encoded)?;
    let expected = parsed.hash.ok_or(Error::Password)?;
    let salt = parsed.salt.ok_or(Error::Password)?;
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed)?;
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        &mut blocks[..],
    )?;
    // `Output` compares in constant time.
    Ok(Output::new(&out)? == expected)
}

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid(
            ErrorCode::WeakPassword,
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
        let checks = Checks::new(1, 1);
        let turn = || async { checks.turn().await.expect("a turn") };
        assert!(verify(
            turn().await,
            "a long enough password".to_owned(),
            Some(hash.clone())
        )
        .await
        .expect("verify"));
        assert!(
            !verify(turn().await, "another password!!".to_owned(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(!verify(turn().await, "anything at all".to_owned(), None)
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn hashes_of_other_parameters_verify_and_the_memory_is_reused() {
        let params = Params::new(4096, 3, 1, Some(24)).expect("params");
        let salt = SaltString::generate(&mut OsRng);
        let older = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password(b"an older password", &salt)
            .expect("hash")
            .to_string();
        let checks = Checks::new(2, 0);
        let turn = checks.turn().await.expect("a turn");
        assert!(
            verify(turn, "an older password".to_owned(), Some(older.clone()))
                .await
                .expect("verify")
        );
        let turn = checks.turn().await.expect("a turn");
        assert!(!verify(turn, "an older passworD".to_owned(), Some(older))
            .await
            .expect("verify"));
        let turn = checks.turn().await.expect("a turn");
        assert!(!verify(turn, "x".to_owned(), Some("not a hash".to_owned()))
            .await
            .expect("verify"));
        let kept = checks.buffers.lock().expect("the pool").len();
        assert_eq!(kept, 1, "one buffer served the checks one after another");
    }

    #[tokio::test]
    async fn checks_beyond_the_running_and_waiting_ones_are_refused_at_once() {
        let checks = Checks::new(1, 1);
        let running = checks.turn().await.expect("the first runs");
        let waiter = {
            let checks = checks.clone();
            tokio::spawn(async move { checks.turn().await.map(drop) })
        };
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        assert!(matches!(checks.turn().await, Err(ApiError::Busy { .. })));
        assert!(started.elapsed() < Duration::from_millis(500));
        drop(running);
        assert!(
            waiter.await.expect("joined").is_ok(),
            "the waiter gets its turn"
        );
    }
}
