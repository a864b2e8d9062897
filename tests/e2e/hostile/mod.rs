//! The `hostile` group: what an attacker holding a valid account at another
//! facility, or only a modality's AE title, or nothing at all, can send, and
//! what the server must answer: a clear refusal, nothing changed, nothing
//! read past the caller's reach, and a bounded cost.
//!
//! Tests that measure the server's memory run it as a child process
//! ([`crate::support::child_server::spawn_server`]) and read its peak
//! resident size ([`crate::support::memory`]), so that no other test's
//! allocations count.

mod attach;
mod connections;
mod images;
mod login;
mod ops;
mod parsing;
mod sessions;
mod smaller;
mod stow;
