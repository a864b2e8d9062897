//! The `ferry` binary: parse the command line and hand over to [`ferry_server::cli`].

use clap::Parser;

/// Ingest allocates and frees a parsed data set's hundreds of small values
/// per instance, from several threads at once. Storing CT instances over
/// C-STORE, mimalloc spent less than half the instructions on allocation
/// that glibc's allocator did.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = ferry_server::cli::Cli::parse();
    ferry_server::cli::run(cli).await
}
