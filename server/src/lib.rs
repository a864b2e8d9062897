//! Ferry: the server of a medical consortium's telemedicine network.
//!
//! Where things live: three layers, each module declared below under its
//! `// Layer:` heading (`tools/check-layers` holds the code to them):
//! - the kernel, which names no feature area: [`config`], [`db`], [`error`]
//!   (every failure mapped to HTTP once, each code an [`error::ErrorCode`]),
//!   [`extract`] (axum's extractors with the same error envelope), [`auth`] (sessions and the [`auth::Caller`] extractor),
//!   [`audit`] (the hash-chained audit trail), [`cluster`] (the nodes'
//!   leases), [`deadline`] (how long a request may take), [`notify`], [`policy`] (the one
//!   place that answers "may this caller do this to that record?", one file
//!   per resource; a scope a role may or may not grant is a
//!   [`policy::FacilityScope`]), [`telemetry`], [`time`] and
//!   [`state::AppState`], what every handler shares;
//! - the feature areas, each owning its tables with `mod.rs` (types),
//!   `routes.rs` (handlers) and `store.rs` (its SQL): [`facility`], [`user`]
//!   (accounts and sign-in), [`patient`], [`breakglass`], [`catalogue`],
//!   [`referral`], [`examination`], scheduling ([`roster`], [`booking`],
//!   [`consultation`] with the on-call queue), [`opinion`], [`reading`],
//!   [`call`], [`figures`], [`fhir_views`], [`sharing`] (patients' consent to
//!   sharing across member facilities), and [`imaging`], which plugs in the
//!   imaging store (`ferry-dicom-store`): DICOMweb under `/dicomweb` and the
//!   DIMSE listener, with who may see which study decided in [`policy`];
//! - the wiring: [`router`] (the one list of every route), [`server_state`],
//!   [`startup`] (builds the [`startup::Application`]), [`cli`] (all of
//!   `main.rs`), [`demo`], [`web`], [`sweeper`] and [`ops`].
//!
//! # One pool, two engines
//!
//! Ferry runs on SQLite (the default, a file in the data directory) and on
//! PostgreSQL. It talks to both through sqlx's `Any` driver with runtime-checked
//! queries whose text is the same on both engines, rather than through a pool enum
//! with every query written twice. The price is that columns use only types the
//! `Any` driver carries on both: `BIGINT` ids, instants as `BIGINT` milliseconds
//! since the Unix epoch (UTC; rendered as RFC 3339 at the API), dates as
//! `YYYY-MM-DD` text, flags as `0`/`1` integers. The migrations in
//! `migrations/sqlite` and `migrations/postgres` are kept in step by hand, and the
//! test suite runs on both engines. See [`db`].

// Layer: kernel
//
// What every area stands on: configuration, the pool, errors, the caller's
// identity, sessions, the audit trail, notifications, access decisions and
// telemetry. Imports no feature area.
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod datadir;
pub mod db;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod notify;
pub mod patient_label;
pub mod policy;
pub mod serve;
pub mod shown_patient;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod tls;

// Layer: areas
//
// The feature areas. Each may use the kernel and another area's types, store
// or services, never another area's `routes`; no two areas use each other.
pub mod booking; // area: scheduling
pub mod breakglass;
pub mod call;
pub mod catalogue;
pub mod consent;
pub mod consultation; // area: scheduling
                      // An examination is the order a modality's worklist carries and the
                      // arriving study fulfils: orders and images are one piece of the domain.
pub mod examination; // area: imaging
pub mod facility;
pub mod fhir_views;
pub mod figures;
pub mod icd10;
pub mod imaging;
pub mod modality;
pub mod my_patients;
pub mod opinion;
pub mod patient;
pub mod reading;
pub mod referral;
pub mod roster; // area: scheduling
pub mod sharing;
pub mod user;

// Layer: wiring
//
// The router, startup, the command line, the demo consortium and the
// background sweeper: may use everything below.
pub mod backup;
pub mod cli;
pub mod demo;
pub mod ops;
pub mod router;
pub mod server_state;
pub mod startup;
pub mod sweeper;
pub mod web;
