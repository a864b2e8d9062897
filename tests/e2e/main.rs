//! Ferry's end-to-end tests: the real server on a random port, real HTTP, a
//! fresh database per test (SQLite, or PostgreSQL when
//! `FERRY_TEST_DATABASE_URL` is set).

mod audit;
mod auth;
mod authz;
mod authz_reading;
mod authz_referrals;
mod authz_scheduling;
mod bad_input;
mod bookings;
mod browser;
mod calls;
mod catalogue;
mod cli;
mod consultations;
mod dicom_files;
mod dicomweb;
mod dimse;
mod durability;
mod examinations;
mod facilities;
mod helpers;
mod hostile;
mod imaging_crash;
mod journey_desk;
mod journey_expert;
mod journey_reading;
mod journey_shared_view;
mod journey_tablet;
mod journey_upload;
mod journeys;
mod object_storage;
mod ops;
mod patients;
mod peers;
mod races;
mod reading;
mod reading_reports;
mod recording;
mod referrals;
mod relay;
mod rosters;
mod scheduling;
mod views;
mod wado;
