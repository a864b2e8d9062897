//! The accept loop: one task per association, a cap on how many run at
//! once, and a shutdown that lets associations finish before it cuts them.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::{association, DimseService};

/// How the DIMSE listener behaves.
#[derive(Debug, Clone)]
pub struct DimseConfig {
    /// Our AE title; associations that call another one are rejected with
    /// "called AE title not recognized".
    pub ae_title: String,
    /// The largest P-DATA PDU we accept, announced in A-ASSOCIATE-AC.
    /// Clamped to what PS3.8 allows.
    pub max_pdu: u32,
    /// How long a new connection may take to send its A-ASSOCIATE-RQ (the
    /// ARTIM timer of PS3.8 §9.1.5).
    pub artim_timeout: Duration,
    /// How long an association may stay silent, between or inside
    /// messages, before we abort it.
    pub idle_timeout: Duration,
    /// How long one write to the peer may block.
    pub write_timeout: Duration,
    /// On shutdown, how long running associations get to finish before
    /// they are aborted.
    pub shutdown_grace: Duration,
    /// How many associations may run at once; more are rejected as
    /// transiently busy (local limit exceeded).
    pub max_associations: usize,
    /// Where received instances are staged; the system temporary directory
    /// if `None`. Put it on the blob store's file system so that
    /// [`StagedFile::persist`](super::StagedFile::persist) is a rename.
    pub staging_dir: Option<PathBuf>,
    /// When set, every connection is DICOM TLS (PS3.15 Annex B): the
    /// handshake comes first, then the association as usual.
    pub tls: Option<super::tls::DimseTls>,
    /// For the associations a C-MOVE opens to a destination that takes
    /// DICOM TLS only; without it such a move fails.
    pub tls_client: Option<super::tls::DimseTlsClient>,
    /// Counts of the associations served, shared by every listener given
    /// a clone of it, for the server's metrics.
    pub associations: Associations,
}

/// How many associations are running now and how many have been taken or
/// turned away as busy. Cheap to clone; clones count together.
#[derive(Debug, Clone, Default)]
pub struct Associations(Arc<[AtomicU64; 3]>);

impl Associations {
    /// Associations running now.
    pub fn open(&self) -> u64 {
        self.0[0].load(Ordering::Relaxed)
    }

    /// Connections given a slot, since the start.
    pub fn accepted(&self) -> u64 {
        self.0[1].load(Ordering::Relaxed)
    }

    /// Connections turned away because every slot was taken.
    pub fn busy(&self) -> u64 {
        self.0[2].load(Ordering::Relaxed)
    }
}

impl Default for DimseConfig {
    fn default() -> Self {
        Self {
            ae_title: "FERRY".to_string(),
            max_pdu: 64 * 1024,
            artim_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            max_associations: 64,
            staging_dir: None,
            tls: None,
            tls_client: None,
            associations: Associations::default(),
        }
    }
}

/// Connections past `max_associations` that are still answered (with a
/// transient rejection) at once; past this they are closed unanswered.
const MAX_REFUSING: usize = 64;

/// Once aborted, how long associations get to send their A-ABORT before
/// their tasks are cancelled outright.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// Serves DIMSE on `listener` until `shutdown` completes, then stops
/// accepting, waits up to [`DimseConfig::shutdown_grace`] for running
/// associations, aborts the rest and returns.
pub async fn serve(
    listener: TcpListener,
    service: Arc<dyn DimseService>,
    config: DimseConfig,
    shutdown: impl Future,
) {
    let config = Arc::new(DimseConfig {
        max_pdu: config.max_pdu.clamp(
            dicom_ul::pdu::MINIMUM_PDU_SIZE,
            dicom_ul::pdu::MAXIMUM_PDU_SIZE,
        ),
        ..config
    });
    // Associations watch this; it flips once the grace period is over.
    let (abort_tx, abort_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(config.max_associations));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, ae_title = %config.ae_title, "DIMSE listener started");
    }

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Without this every small DIMSE message waits for the
                    // peer's delayed ACK (40 ms or more) under Nagle.
                    if let Err(error) = stream.set_nodelay(true) {
                        warn!(%error, %peer, "cannot set TCP_NODELAY");
                    }
                    // No slot left: the task still runs, to answer the
                    // request with a transient rejection instead of
                    // leaving the peer hanging.
                    let permit = slots.clone().try_acquire_owned().ok();
                    // Only so many of those at once, though: each waits up
                    // to ARTIM for its request, and a flood of idle
                    // connections must not become a flood of tasks.
                    if permit.is_none() && tasks.len() >= config.max_associations + MAX_REFUSING {
                        debug!(%peer, "connection dropped: too many waiting to be refused");
                        config.associations.0[2].fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                        continue;
                    }
                    let counts = config.associations.0.clone();
                    let slotted = permit.is_some();
                    if slotted {
                        counts[0].fetch_add(1, Ordering::Relaxed);
                        counts[1].fetch_add(1, Ordering::Relaxed);
                    } else {
                        counts[2].fetch_add(1, Ordering::Relaxed);
                    }
                    let run = association::run(
                        stream,
                        peer,
                        service.clone(),
                        config.clone(),
                        abort_rx.clone(),
                        permit,
                    );
                    tasks.spawn(async move {
                        run.await;
                        if slotted {
                            counts[0].fetch_sub(1, Ordering::Relaxed);
                        }
                    });
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of
                    // spinning, and keep serving the associations we have.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished tasks so the set does not grow without bound.
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
        }
    }

    drop(listener);
    info!(running = tasks.len(), "DIMSE listener stopping");
    if tokio::time::timeout(config.shutdown_grace, drain(&mut tasks))
        .await
        .is_err()
    {
        warn!(
            running = tasks.len(),
            "aborting associations still running after the grace period"
        );
        let _ = abort_tx.send(true);
        if tokio::time::timeout(ABORT_GRACE, drain(&mut tasks))
            .await
            .is_err()
        {
            tasks.abort_all();
            drain(&mut tasks).await;
        }
    }
    info!("DIMSE listener stopped");
}

async fn drain(tasks: &mut JoinSet<()>) {
    while let Some(joined) = tasks.join_next().await {
        log_join(joined);
    }
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(join_error) = joined {
        if join_error.is_panic() {
            error!("an association task panicked");
        }
    }
}
