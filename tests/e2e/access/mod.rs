//! Who may do what: sign-in and sessions, every endpoint against every
//! role from the patient's own facility and from another, and what a
//! facility reads of another's records about a shared patient.

mod auth;
mod matrix;
mod sharing;
