//! Remote reading: routing, the worklist, reports, SRs and critical results.

mod reports;
mod worklist;
