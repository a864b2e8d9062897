//! The imaging store: STOW-RS, QIDO-RS and WADO through DICOMweb, C-STORE,
//! C-FIND, C-GET, C-MOVE, the Modality Worklist and MPPS through DIMSE,
//! object storage, and crashes mid-ingest.

mod commitment;
mod crash;
mod deletion;
mod dicomweb;
mod dimse;
mod forwarding;
mod object_storage;
mod orthanc;
mod retrieve;
mod tls;
mod unlinked;
mod wado;
mod worklist;
