//! Scheduling: rosters, bookings, consultations and the on-call queue,
//! races for the same slot, and the figures and FHIR views built on them.

mod bookings;
mod consents;
mod consultations;
mod offers;
mod races;
mod rosters;
mod views;
