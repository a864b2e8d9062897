//! The `ferry` binary: parse the command line and hand over to [`ferry_server::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = ferry_server::cli::Cli::parse();
    ferry_server::cli::run(cli).await
}
