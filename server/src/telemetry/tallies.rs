//! Counters kept elsewhere as plain atomics (the imaging store's ingest
//! tally, the DIMSE listener's associations) and copied into Prometheus
//! counters when `/metrics` is read, plus the audit trail's append time.

use std::sync::{LazyLock, Mutex};

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Time spent appending audit events inside the caller's transaction,
/// waiting for the chain's head included: one histogram for the process,
/// shared by every registry (tests build several servers in one process).
pub static AUDIT_APPEND: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(
        HistogramOpts::new(
            "audit_append_seconds",
            "Time to append audit events in their transaction, waiting for the chain included",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]),
    )
    .unwrap_or_else(|_| unreachable!("the options are fixed and valid"))
});

/// The copied counters.
#[derive(Clone)]
pub struct Tallies {
    ingest_instances: IntCounterVec,
    ingest_bytes: IntCounterVec,
    ingest_refused: IntCounterVec,
    associations: IntCounterVec,
    associations_open: IntGauge,
    /// One scrape copies at a time, so two cannot add the same difference.
    copying: std::sync::Arc<Mutex<()>>,
}

/// Raises `counter` to `value`: the source only grows, and this is the
/// counter's only writer.
fn raise(counter: &IntCounter, value: u64) {
    let now = counter.get();
    if value > now {
        counter.inc_by(value - now);
    }
}

impl Tallies {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let tallies = Self {
            ingest_instances: IntCounterVec::new(
                Opts::new(
                    "ingest_instances_total",
                    "Instances taken in, by way (stow, dimse) and outcome (stored, already_stored)",
                ),
                &["via", "outcome"],
            )?,
            ingest_bytes: IntCounterVec::new(
                Opts::new(
                    "ingest_bytes_total",
                    "Bytes of the instances stored, by way",
                ),
                &["via"],
            )?,
            ingest_refused: IntCounterVec::new(
                Opts::new(
                    "ingest_refused_total",
                    "Instances refused, by way and reason",
                ),
                &["via", "reason"],
            )?,
            associations: IntCounterVec::new(
                Opts::new(
                    "dimse_associations_total",
                    "DIMSE connections, by result (accepted, busy)",
                ),
                &["result"],
            )?,
            associations_open: IntGauge::new(
                "dimse_associations_open",
                "DIMSE associations running on this node",
            )?,
            copying: std::sync::Arc::default(),
        };
        registry.register(Box::new(tallies.ingest_instances.clone()))?;
        registry.register(Box::new(tallies.ingest_bytes.clone()))?;
        registry.register(Box::new(tallies.ingest_refused.clone()))?;
        registry.register(Box::new(tallies.associations.clone()))?;
        registry.register(Box::new(tallies.associations_open.clone()))?;
        registry.register(Box::new(AUDIT_APPEND.clone()))?;
        Ok(tallies)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.copying
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Copies one way's ingest counts: stored now, already stored, bytes,
    /// and refusals by reason.
    pub fn ingest(
        &self,
        via: &str,
        stored: u64,
        already: u64,
        bytes: u64,
        refused: &[(&str, u64)],
    ) {
        let _copying = self.lock();
        raise(
            &self.ingest_instances.with_label_values(&[via, "stored"]),
            stored,
        );
        raise(
            &self
                .ingest_instances
                .with_label_values(&[via, "already_stored"]),
            already,
        );
        raise(&self.ingest_bytes.with_label_values(&[via]), bytes);
        for (reason, count) in refused {
            raise(
                &self.ingest_refused.with_label_values(&[via, reason]),
                *count,
            );
        }
    }

    /// Copies the DIMSE listener's association counts.
    pub fn associations(&self, open: u64, accepted: u64, busy: u64) {
        let _copying = self.lock();
        self.associations_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
        raise(
            &self.associations.with_label_values(&["accepted"]),
            accepted,
        );
        raise(&self.associations.with_label_values(&["busy"]), busy);
    }
}
