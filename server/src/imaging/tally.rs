//! What one DICOM association has stored since its last audit events:
//! instances per study, in the order the studies first came.
//!
//! A sender may interleave studies (`storescu` sends a folder in directory
//! order, which on most file systems is no order at all), and each study
//! still gets one `dicom.store` event and one patient lookup per tally. A
//! study is found by its UID in constant time: with a list, every instance
//! of a sender of hundreds of studies paid a scan of the tally.

use std::collections::HashMap;

use super::StoredStudy;

/// The most studies one tally holds before they are audited without waiting
/// for the association's end: some 250 bytes a study, so about 2 MB. A
/// study that comes again after its tally was audited starts an entry, and
/// so an event and a patient lookup, of its own: a bound below the studies
/// a sender interleaves would make that most of its instances (a bulk
/// transfer of 1,250 studies sent round-robin over four associations, say).
pub const STUDIES_PER_AUDIT: usize = 8192;

#[derive(Debug, Default)]
pub struct Tally {
    studies: Vec<StoredStudy>,
    /// Where each study is in `studies`.
    at: HashMap<String, usize>,
}

impl Tally {
    /// Counts another instance into its study; `false` when the study is not
    /// in the tally yet.
    pub fn count_again(&mut self, study_uid: &str) -> bool {
        match self.at.get(study_uid) {
            Some(&at) => {
                self.studies[at].instances += 1;
                true
            }
            None => false,
        }
    }

    /// Adds a study that is not in the tally. When the tally already holds
    /// `limit` studies, those are returned, to be audited now, and the
    /// study starts a new tally.
    pub fn add(&mut self, study: StoredStudy, limit: usize) -> Vec<StoredStudy> {
        let full = if self.studies.len() >= limit {
            self.at.clear();
            std::mem::take(&mut self.studies)
        } else {
            Vec::new()
        };
        self.at.insert(study.study_uid.clone(), self.studies.len());
        self.studies.push(study);
        full
    }

    /// The studies tallied, in the order they first came.
    pub fn into_studies(self) -> Vec<StoredStudy> {
        self.studies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(uid: &str) -> StoredStudy {
        StoredStudy {
            study_uid: uid.to_owned(),
            instances: 1,
            facility_id: 7,
            patient_id: None,
        }
    }

    fn counts(studies: &[StoredStudy]) -> Vec<(&str, usize)> {
        studies
            .iter()
            .map(|s| (s.study_uid.as_str(), s.instances))
            .collect()
    }

    #[test]
    fn interleaved_studies_are_counted_each_in_its_own_entry_in_first_come_order() {
        let mut tally = Tally::default();
        for uid in ["1.1", "1.2", "1.1", "1.3", "1.2", "1.1"] {
            if !tally.count_again(uid) {
                assert!(tally.add(study(uid), 3).is_empty());
            }
        }
        assert_eq!(
            counts(&tally.into_studies()),
            [("1.1", 3), ("1.2", 2), ("1.3", 1)]
        );
    }

    #[test]
    fn a_full_tally_is_handed_back_and_a_study_that_comes_again_starts_the_next() {
        let mut tally = Tally::default();
        for uid in ["1.1", "1.2"] {
            assert!(tally.add(study(uid), 2).is_empty());
        }
        assert!(tally.count_again("1.1"));
        let full = tally.add(study("1.3"), 2);
        assert_eq!(counts(&full), [("1.1", 2), ("1.2", 1)]);
        // The audited studies are no longer in the tally.
        assert!(!tally.count_again("1.1"));
        assert!(tally.add(study("1.1"), 2).is_empty());
        assert!(tally.count_again("1.3"));
        assert_eq!(counts(&tally.into_studies()), [("1.3", 2), ("1.1", 1)]);
    }
}
