//! Journeys through the web client in a real browser (Debian's Chromium,
//! driven by `tests/browser/journeys.cjs`, each journey a file in
//! `tests/browser/journeys/`), asserting what the user sees, and a browser
//! in a call with a webrtc-rs peer. Each journey keeps a screenshot of every
//! step under the test run's target directory (`screenshots/`), for a
//! person to look at.

mod admin_dicom;
mod admin_modalities;
mod browser;
mod call;
mod call_recording;
mod call_room;
mod consent;
mod desk;
mod expert;
mod finding;
mod language_switch;
mod languages;
mod patient_index;
mod phone;
mod reading;
mod scheduling_screens;
mod shared_view;
mod sharing;
mod tablet;
mod unlinked;
mod upload;
mod upload_other_patients;
mod wrong_patient;
