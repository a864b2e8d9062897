//! What the tests share: the server started in-process ([`spawn_app`]) or
//! as a child process ([`child_server`]), accounts and a consortium, clients
//! for DICOM, signalling, WebRTC and the browser, an S3 server, the authorization matrix's
//! vocabulary, and [`wait_until`] for conditions that come true in time.

mod app;
pub mod authz;
pub mod browser;
pub mod calls;
pub mod child_server;
pub mod dicom_files;
pub mod journeys;
pub mod memory;
pub mod orthanc;
pub mod peers;
pub mod proxy;
pub mod reading;
pub mod s3;
pub mod scheduling;
pub mod tls;
mod wait;

pub use app::*;
pub use wait::{poll_until, wait_until};
