//! `ferry-bench`: Ferry's benchmarks. Each one runs the real server (release
//! build, in-process, on a random port) against a peer on the same machine in
//! the same run and prints both figures and their ratio; `BENCHMARKS.md` records
//! what it printed.
//!
//! - `scheduling`: slot search and booking under contention, on SQLite and on
//!   PostgreSQL side by side (see [`scheduling`]).
//! - `imaging`: DICOM ingest, search and retrieval against Orthanc (see
//!   [`imaging`]).
//! - `network`: C-MOVE of a large study and forwarding, against Orthanc
//!   (see [`imaging::network`]).
//! - `scope`: searches whose answer depends on what the caller may reach,
//!   at consortium size, on both engines, beside the 20 ms goal (see
//!   [`scope`]).
//! - `signalling`: relay latency and memory per connection with thousands of
//!   call connections, against a bare WebSocket relay (see [`signalling`]).
//! - `reads`: reads of patient data with many clients at once, audited
//!   and not, on both engines, beside the goals (see [`reads`]).
//! - `island`: the web client's page loads over an emulated island link
//!   (1 Mbit/s, 400 ms round trip), beside loopback and the link's floor
//!   (see [`island`]).

mod harness;
mod imaging;
mod island;
mod orthanc;
mod postgres;
mod reads;
mod report;
mod scheduling;
mod scope;
mod signalling;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ferry-bench", about = "Ferry's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Slot search p50/p99 and booking throughput and p99 under contention,
    /// SQLite against PostgreSQL.
    Scheduling(scheduling::Options),
    /// C-STORE and STOW-RS ingest, QIDO-RS and WADO-RS, against Orthanc.
    Imaging(imaging::Options),
    /// C-MOVE of a 1,000-instance study and forwarding, against Orthanc.
    Network(imaging::network::Options),
    /// Searches that depend on the caller's scope, at consortium size,
    /// SQLite against PostgreSQL, each beside the 20 ms goal.
    Scope(scope::Options),
    /// Signalling relay latency and memory per connection, against a bare
    /// tokio-tungstenite relay.
    Signalling(signalling::Options),
    /// The web client's page loads over an emulated island link, beside
    /// loopback and the link's floor.
    Island(island::Options),
    /// Audited reads with many clients, beside the same reads unaudited,
    /// SQLite against PostgreSQL.
    Reads(reads::Options),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Scheduling(options) => scheduling::run(options).await,
        Command::Imaging(options) => imaging::run(options).await,
        Command::Network(options) => imaging::network::run(options).await,
        Command::Signalling(options) => signalling::run(options).await,
        Command::Scope(options) => scope::run(options).await,
        Command::Island(options) => island::run(options).await,
        Command::Reads(options) => reads::run(options).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferry-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
