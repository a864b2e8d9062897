//! Ferry's end-to-end tests: the real server on a random port, real HTTP, a
//! fresh database per test (SQLite, or PostgreSQL when
//! `FERRY_TEST_DATABASE_URL` is set).
//!
//! Tests sit in a folder per area; what more than one test needs is in
//! [`support`], and no test module imports another.

mod support;

mod access;
mod calls;
mod hostile;
mod imaging;
mod journeys;
mod ops;
mod reading;
mod records;
mod scheduling;
