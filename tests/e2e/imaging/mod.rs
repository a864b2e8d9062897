//! The imaging store: STOW-RS, QIDO-RS and WADO through DICOMweb, C-STORE
//! and C-FIND through DIMSE, object storage, and crashes mid-ingest.

mod crash;
mod dicomweb;
mod dimse;
mod object_storage;
mod wado;
