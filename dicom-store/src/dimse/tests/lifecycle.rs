//! Timeouts, limits and shutdown: a stuck peer must not hold a task forever.

use std::time::{Duration, Instant};

use dicom_ul::pdu::{
    read_pdu, write_pdu, AssociationRQ, Pdu, PresentationContextProposed, UserVariableItem,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

    // The dawdling connection is dropped once the grace period ends, not when
    // its 30 s ARTIM timer would have fired.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        started.elapsed()
    );
}

/// Reads one whole PDU from a raw test connection.
async fn read_one_pdu(stream: &mut TcpStream) -> Pdu {
    let mut bytes = vec![0u8; 6];
    stream.read_exact(&mut bytes).await.expect("PDU header");
    let length = u32::from_be_bytes(bytes[2..6].try_into().expect("4 bytes")) as usize;
    bytes.resize(6 + length, 0);
    stream.read_exact(&mut bytes[6..]).await.expect("PDU body");
    read_pdu(&bytes[..], 1 << 20, false)
        .expect("valid PDU")
        .expect("whole PDU")
}

/// Opens a Verification association by hand and returns the socket.
async fn associate(port: u16) -> TcpStream {
    let mut peer = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let rq = Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "DEMO-MODALITY".into(),
        called_ae_title: "FERRY".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: "1.2.840.10008.1.1".into(),
            transfer_syntaxes: vec!["1.2.840.10008.1.2".into()],
        }],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    });
    let mut bytes = Vec::new();
    write_pdu(&mut bytes, &rq).expect("encodes");
    peer.write_all(&bytes).await.expect("sent");
    assert!(matches!(
        read_one_pdu(&mut peer).await,
        Pdu::AssociationAC(_)
    ));
    peer
}

#[tokio::test]
async fn a_silent_association_is_aborted_after_the_idle_timeout() {
    let config = DimseConfig {
        idle_timeout: Duration::from_millis(200),
        ..DimseConfig::default()
    };
    let scp = Scp::start_with(TestService::new(), config).await;
    let mut peer = associate(scp.port).await;

    let pdu = tokio::time::timeout(Duration::from_secs(5), read_one_pdu(&mut peer))
        .await
        .expect("an A-ABORT arrives after the idle timeout");

    assert!(matches!(pdu, Pdu::AbortRQ { .. }), "{pdu:?}");
    scp.stop().await;
}

#[tokio::test]
async fn an_idle_association_is_aborted_once_the_shutdown_grace_is_over() {
    let config = DimseConfig {
        shutdown_grace: Duration::from_millis(200),
        ..DimseConfig::default()
    };
    let scp = Scp::start_with(TestService::new(), config).await;
    let mut peer = associate(scp.port).await;

    // The association is established and idle; the listener is told to stop.
    let stopping = tokio::spawn(scp.stop());

    let pdu = tokio::time::timeout(Duration::from_secs(5), read_one_pdu(&mut peer))
        .await
        .expect("an A-ABORT arrives after the grace period");
    assert!(matches!(pdu, Pdu::AbortRQ { .. }), "{pdu:?}");
    stopping.await.expect("stop completes");
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
