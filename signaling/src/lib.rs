//! Signalling for Ferry's video consultations.
//!
//! This crate will hold the WebSocket rooms, the offer/answer/ICE relay and the
//! bus that spans server nodes. What it holds today:
//!
//! - [`turn`]: time-limited TURN credentials in the TURN REST scheme that
//!   coturn's `use-auth-secret` accepts.
//!
//! It depends on neither `ferry-server` nor `ferry-dicom-store`; whatever it
//! needs from the server comes in through traits the server implements.

pub mod turn;
