//! Remote reading: routing, the worklist, reports, SRs and critical results.

mod patient_named;
mod reports;
mod worklist;
