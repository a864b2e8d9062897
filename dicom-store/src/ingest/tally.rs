//! Counts of what ingest did, by the way instances came: read by the
//! server's metrics when they are scraped. Plain atomics, so recording an
//! instance costs a few relaxed additions and the crate needs no metrics
//! library.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Outcome, Stored};
use crate::IngestError;

/// How an instance reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// STOW-RS.
    Stow,
    /// C-STORE.
    Dimse,
}

impl Via {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Stow => "stow",
            Via::Dimse => "dimse",
        }
    }

    const ALL: [Via; 2] = [Via::Stow, Via::Dimse];
}

/// Why an instance was refused, as a label value.
pub const REASONS: [&str; 8] = [
    "invalid",
    "wrong_study",
    "duplicate_conflict",
    "study_conflict",
    "too_large",
    "storage",
    "database",
    "shutting_down",
];

fn reason(error: &IngestError) -> usize {
    match error {
        IngestError::Invalid(_) => 0,
        IngestError::WrongStudy { .. } => 1,
        IngestError::DuplicateConflict { .. } => 2,
        IngestError::StudyConflict { .. } => 3,
        IngestError::TooLarge { .. } => 4,
        IngestError::Io(_) => 5,
        IngestError::Database(_) => 6,
        IngestError::ShuttingDown => 7,
    }
}

#[derive(Debug, Default)]
struct Counts {
    created: AtomicU64,
    already_stored: AtomicU64,
    bytes: AtomicU64,
    refused: [AtomicU64; REASONS.len()],
}

/// What ingest did since the process started.
#[derive(Debug, Default)]
pub struct IngestTally {
    stow: Counts,
    dimse: Counts,
}

/// One figure of [`IngestTally::figures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// The way the instances came.
    pub via: Via,
    /// Instances stored now.
    pub created: u64,
    /// Instances that were already stored, identical.
    pub already_stored: u64,
    /// Bytes of the instances stored now.
    pub bytes: u64,
    /// Refusals, by [`REASONS`].
    pub refused: [u64; REASONS.len()],
}

impl IngestTally {
    fn counts(&self, via: Via) -> &Counts {
        match via {
            Via::Stow => &self.stow,
            Via::Dimse => &self.dimse,
        }
    }

    /// Records one instance's outcome; `bytes` is its size, if known.
    pub fn record(&self, via: Via, result: Result<&Stored, &IngestError>, bytes: u64) {
        let counts = self.counts(via);
        match result {
            Ok(stored) if stored.outcome == Outcome::Created => {
                counts.created.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Ok(_) => {
                counts.already_stored.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                counts.refused[reason(error)].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records a refusal that happened before ingest had an outcome (a part
    /// that is not DICOM, one over the size limit).
    pub fn refused(&self, via: Via, error: &IngestError) {
        self.counts(via).refused[reason(error)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, by the way instances came.
    pub fn figures(&self) -> Vec<Figures> {
        Via::ALL
            .iter()
            .map(|&via| {
                let counts = self.counts(via);
                Figures {
                    via,
                    created: counts.created.load(Ordering::Relaxed),
                    already_stored: counts.already_stored.load(Ordering::Relaxed),
                    bytes: counts.bytes.load(Ordering::Relaxed),
                    refused: std::array::from_fn(|i| counts.refused[i].load(Ordering::Relaxed)),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_reason_and_way() {
        let tally = IngestTally::default();
        tally.refused(Via::Stow, &IngestError::TooLarge { limit: 1 });
        tally.record(Via::Dimse, Err(&IngestError::ShuttingDown), 10);
        let figures = tally.figures();
        assert_eq!(figures[0].refused[4], 1);
        assert_eq!(figures[1].refused[7], 1);
        assert_eq!(figures[1].bytes, 0, "a refusal stores no bytes");
    }
}
