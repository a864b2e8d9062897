//! Waiting for a condition rather than for a guessed length of time.

use std::time::Duration;

use tokio::time::{sleep, Instant};

/// What a probe passed to [`wait_until`] may answer: `true` or `Some(value)`
/// once the condition holds.
pub trait Outcome {
    /// What [`wait_until`] returns once the condition holds.
    type Value;
    /// The value, or `None` while the condition does not hold yet.
    fn ready(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Runs `probe` until it answers `true` or `Some(value)`, and returns the
/// value. Polls at once, then with a backoff from 10 ms doubling up to
/// 100 ms, so a quick condition costs little and a slow one little CPU.
/// Panics naming `what` when `timeout` passes first.
///
/// `probe` is an async closure, so it may borrow what it reads mutably (a
/// browser, a socket) from one poll to the next.
pub async fn wait_until<O: Outcome>(
    what: &str,
    timeout: Duration,
    probe: impl AsyncFnMut() -> O,
) -> O::Value {
    match poll_until(timeout, probe).await {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting until {what}"),
    }
}

/// [`wait_until`] for a caller with a fallback: `None` when `timeout`
/// passes first.
pub async fn poll_until<O: Outcome>(
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> O,
) -> Option<O::Value> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = probe().await.ready() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
