//! Timeouts, limits and shutdown: a stuck peer must not hold a task forever.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::{run_dcmtk, Scp, TestService};
use crate::dimse::DimseConfig;

#[tokio::test]
async fn a_connection_that_never_asks_for_an_association_is_closed() {
    let config = DimseConfig {
        artim_timeout: Duration::from_millis(200),
        ..DimseConfig::default()
    };
    let scp = Scp::start_with(TestService::new(), config).await;
    let mut silent = TcpStream::connect(("127.0.0.1", scp.port))
        .await
        .expect("connects");

    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut byte)).await;

    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "expected the server to close: {read:?}"
    );
    scp.stop().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_a_stuck_peer() {
    let config = DimseConfig {
        shutdown_grace: Duration::from_millis(200),
        ..DimseConfig::default()
    };
    let scp = Scp::start_with(TestService::new(), config).await;
    // Connected and silent: the association task is waiting on ARTIM (30 s).
    let _silent = TcpStream::connect(("127.0.0.1", scp.port))
        .await
        .expect("connects");
    tokio::time::sleep(Duration::from_millis(50)).await;

    let started = Instant::now();
    scp.stop().await;

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn associations_beyond_the_limit_are_rejected_as_busy() {
    let config = DimseConfig {
        max_associations: 0,
        ..DimseConfig::default()
    };
    let scp = Scp::start_with(TestService::new(), config).await;
    let port = scp.port.to_string();

    let out = run_dcmtk(
        "echoscu",
        &["-aet", "DEMO-MODALITY", "-aec", "FERRY", "127.0.0.1", &port],
    )
    .await;

    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(log.contains("local limit exceeded"), "{log}");
    scp.stop().await;
}
