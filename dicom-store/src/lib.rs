//! Ferry's imaging store: the one shared imaging record of the consortium.
//!
//! This crate will hold ingest, blob storage, the study/series/instance index,
//! DICOMweb and DIMSE. What it holds today:
//!
//! - [`uid`]: validation of DICOM unique identifiers (PS3.5 §9.1), which every
//!   door into the store checks before anything is written.
//! - [`dimse`]: the DIMSE service-class provider (C-ECHO, C-STORE, C-FIND)
//!   that modalities and PACS talk to; it reaches the store through
//!   [`dimse::DimseService`].
//!
//! It depends on neither `ferry-server` nor `ferry-signaling`; who may see a
//! study will come in through a trait the server implements.

pub mod dimse;
pub mod uid;
