//! Ferry's end-to-end tests: the real server on a random port, real HTTP, a
//! fresh database per test (SQLite, or PostgreSQL when
//! `FERRY_TEST_DATABASE_URL` is set).

#[path = "ops/audit.rs"]
mod audit;
#[path = "access/auth.rs"]
mod auth;
#[path = "access/matrix.rs"]
mod authz;
#[path = "access/matrix/reading.rs"]
mod authz_reading;
#[path = "access/matrix/referrals.rs"]
mod authz_referrals;
#[path = "access/matrix/scheduling.rs"]
mod authz_scheduling;
#[path = "ops/bad_input.rs"]
mod bad_input;
#[path = "scheduling/bookings.rs"]
mod bookings;
#[path = "support/browser.rs"]
mod browser;
#[path = "calls/signalling.rs"]
mod calls;
#[path = "records/catalogue.rs"]
mod catalogue;
#[path = "ops/cli.rs"]
mod cli;
#[path = "scheduling/consultations.rs"]
mod consultations;
#[path = "support/dicom_files.rs"]
mod dicom_files;
#[path = "imaging/dicomweb.rs"]
mod dicomweb;
#[path = "imaging/dimse.rs"]
mod dimse;
#[path = "support/child_server.rs"]
mod durability;
#[path = "records/examinations.rs"]
mod examinations;
#[path = "records/facilities.rs"]
mod facilities;
#[path = "support/app.rs"]
mod helpers;
mod hostile;
#[path = "imaging/crash.rs"]
mod imaging_crash;
#[path = "journeys/desk.rs"]
mod journey_desk;
#[path = "journeys/expert.rs"]
mod journey_expert;
#[path = "journeys/reading.rs"]
mod journey_reading;
#[path = "journeys/shared_view.rs"]
mod journey_shared_view;
#[path = "journeys/tablet.rs"]
mod journey_tablet;
#[path = "journeys/upload.rs"]
mod journey_upload;
#[path = "support/journeys.rs"]
mod journeys;
#[path = "imaging/object_storage.rs"]
mod object_storage;
#[path = "ops/service.rs"]
mod ops;
#[path = "records/patients.rs"]
mod patients;
#[path = "support/peers.rs"]
mod peers;
#[path = "scheduling/races.rs"]
mod races;
#[path = "reading/worklist.rs"]
mod reading;
#[path = "reading/reports.rs"]
mod reading_reports;
#[path = "calls/recording.rs"]
mod recording;
#[path = "records/referrals.rs"]
mod referrals;
#[path = "calls/relay.rs"]
mod relay;
#[path = "scheduling/rosters.rs"]
mod rosters;
#[path = "support/scheduling.rs"]
mod scheduling;
#[path = "scheduling/views.rs"]
mod views;
#[path = "imaging/wado.rs"]
mod wado;
