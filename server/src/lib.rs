//! Ferry: the server of a medical consortium's telemedicine network.
//!
//! Where things live:
//! - [`startup`] builds the [`startup::Application`]: opens the database, runs the
//!   migrations, binds the listener and serves [`router::build`], the one list of
//!   every route. [`main.rs`](../ferry/index.html) is only the CLI in [`cli`].
//! - Each area owns its tables and has `mod.rs` (types), `routes.rs` (handlers) and
//!   `store.rs` (its SQL): [`facility`], [`user`], [`patient`], [`breakglass`],
//!   [`catalogue`] (the graded diagnosis catalogue), [`referral`] (up and down
//!   between tiers), [`examination`] (with the duplicate warning), [`auth`]
//!   (sign-in, sessions, the [`auth::Caller`] extractor) and [`audit`] (the
//!   hash-chained audit trail).
//! - The clinical areas, each with the same layout: [`roster`] (expert
//!   availability and slots), [`booking`], [`consultation`] (with the on-call
//!   queue), [`opinion`], [`reading`] (reading requests, worklists, routing
//!   rules and reports), [`call`] (video calls and their consented
//!   recordings), [`notify`] (notifications and their event stream),
//!   [`figures`] (the operating figures) and [`fhir_views`].
//! - [`imaging`] plugs in the imaging store (`ferry-dicom-store`): DICOMweb
//!   under `/dicomweb` and the DIMSE listener, with who may see which study
//!   decided in [`policy`].
//! - [`policy`] is the one place that answers "may this caller do this to that
//!   record?", one file per resource (`policy/booking.rs`, `policy/reading.rs`,
//!   ...); handlers call its named functions and never test roles themselves.
//!   A scope a role may or may not grant is a [`policy::FacilityScope`].
//! - [`error`] maps every failure to HTTP once; [`extract`] wraps axum's extractors
//!   so malformed input gets the same JSON error envelope as everything else.
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

pub mod audit;
pub mod auth;
pub mod booking;
pub mod breakglass;
pub mod call;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod consultation;
pub mod datadir;
pub mod db;
pub mod demo;
pub mod error;
pub mod examination;
pub mod extract;
pub mod facility;
pub mod fhir_views;
pub mod figures;
pub mod icd10;
pub mod imaging;
pub mod modality;
pub mod notify;
pub mod opinion;
pub mod ops;
pub mod patient;
pub mod policy;
pub mod reading;
pub mod referral;
pub mod roster;
pub mod router;
pub mod serve;
pub mod startup;
pub mod state;
pub mod sweeper;
pub mod telemetry;
pub mod time;
pub mod user;
pub mod web;
