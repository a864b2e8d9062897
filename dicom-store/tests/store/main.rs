//! The imaging store's integration tests: one binary, a fresh database per test
//! (SQLite, or PostgreSQL when `FERRY_TEST_DATABASE_URL` is set).

mod at_once;
mod bench;
mod commit;
mod dicomweb;
mod ecg;
mod helpers;
mod ingest;
mod recovery;
mod rendered;
mod s3;
mod sr;
mod wado;
