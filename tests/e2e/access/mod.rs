//! Who may do what: sign-in and sessions, and every endpoint against every
//! role from the patient's own facility and from another.

mod auth;
mod matrix;
