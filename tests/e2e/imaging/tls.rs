//! DICOM TLS with dcmtk: a modality with a certificate from the
//! consortium's CA echoes and stores over TLS; one without a certificate,
//! or speaking plain TCP to the TLS port, gets nowhere. The other way,
//! Ferry forwards and answers a C-MOVE to a `storescp` that takes TLS
//! only and demands a certificate.

use std::path::Path;
use std::process::Output;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::dicom_files::{
    dcmtk, port, received, register_modality, storescp, storescp_with, study,
};
use crate::support::orthanc::free_port;
use crate::support::tls::certificates;
use crate::support::{spawn_app_with, wait_until};

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

#[tokio::test]
async fn a_modality_with_the_consortium_s_certificate_stores_over_tls_and_others_are_refused() {
    let certs = tempfile::tempdir().expect("a directory");
    certificates(certs.path()).await;
    let dir = certs.path().to_owned();
    let app = spawn_app_with(|s| {
        s.dimse_tls_listen = "127.0.0.1:0".to_owned();
        s.dimse_tls_certificate = Some(dir.join("server.crt"));
        s.dimse_tls_private_key = Some(dir.join("server.key"));
        s.dimse_tls_client_ca = Some(dir.join("ca.crt"));
    })
    .await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let port = app
        .dimse_tls_addr
        .expect("a TLS listener")
        .port()
        .to_string();
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (key, cert, ca) = (file("client.key"), file("client.crt"), file("ca.crt"));

    let echo = dcmtk(
        "echoscu",
        &[
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "+tls",
            &key,
            &cert,
            "+cf",
            &ca,
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert!(echo.status.success(), "{}", log(&echo));

    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-TLS");
    let path = sent.files[0].to_string_lossy().into_owned();
    let stored = dcmtk(
        "storescu",
        &[
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "+tls",
            &key,
            &cert,
            "+cf",
            &ca,
            "127.0.0.1",
            &port,
            &path,
        ],
    )
    .await;
    assert!(stored.status.success(), "{}", log(&stored));
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dicom_study WHERE study_uid = $1")
        .bind(&sent.uid)
        .fetch_one(app.db.pool())
        .await
        .expect("a count");
    assert_eq!(count, 1);

    // No client certificate: the handshake fails.
    let anonymous = dcmtk(
        "echoscu",
        &[
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "+tla",
            "+cf",
            &ca,
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert!(!anonymous.status.success(), "{}", log(&anonymous));
    // Plain DICOM to the TLS port: no association.
    let plain = dcmtk(
        "echoscu",
        &["-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1", &port],
    )
    .await;
    assert!(!plain.status.success(), "{}", log(&plain));
}

/// dcmtk's storescp taking DICOM TLS only, with the server certificate
/// from `certs`, and demanding a client certificate from the CA.
async fn tls_storescp(certs: &Path, into: &Path, title: &str, port: u16) -> tokio::process::Child {
    let file = |name: &str| certs.join(name).to_string_lossy().into_owned();
    let (key, cert, ca) = (file("server.key"), file("server.crt"), file("ca.crt"));
    let options = ["+tls", &key, &cert, "+cf", &ca, "--require-peer-cert"];
    storescp_with(into, title, port, &options).await
}

#[tokio::test]
async fn forwarding_and_c_move_reach_a_destination_that_takes_tls_only() {
    let certs = tempfile::tempdir().expect("a directory");
    certificates(certs.path()).await;
    let dir = certs.path().to_owned();
    // Ferry's own certificate is the one the CA issued for clients.
    let app = spawn_app_with(|s| {
        s.dimse_tls_trusted_ca = Some(dir.join("ca.crt"));
        s.dimse_tls_certificate = Some(dir.join("client.crt"));
        s.dimse_tls_private_key = Some(dir.join("client.key"));
    })
    .await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    let secure_port = free_port();
    let secure = tempfile::tempdir().expect("a directory");
    let _secure = tls_storescp(&dir, secure.path(), "SECURE-PACS", secure_port).await;
    // Registered as TLS, but listening in plain TCP: nothing may go.
    let plain_port = free_port();
    let plain = tempfile::tempdir().expect("a directory");
    let _plain = storescp(plain.path(), "PLAIN-PACS", plain_port, 0).await;
    let mut destinations = Vec::new();
    for (title, port) in [("SECURE-PACS", secure_port), ("PLAIN-PACS", plain_port)] {
        let (status, body) = app
            .post(
                &format!("/api/v1/facilities/{}/dicom-destinations", c.island_a),
                &admin,
                json!({ "ae_title": title, "host": "127.0.0.1", "port": port, "tls": true }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["tls"], true, "{body}");
        destinations.push(body["id"].clone());
    }
    for destination in &destinations {
        let (status, body) = app
            .post(
                "/api/v1/forwarding-rules",
                &admin,
                json!({ "facility_id": c.island_a, "destination_id": destination }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-TLS");
    let dimse_port = port(&app);
    let mut args = vec![
        "-aet",
        "ISLAND-CT",
        "-aec",
        "FERRY",
        "127.0.0.1",
        &dimse_port,
    ];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let out = dcmtk("storescu", &args).await;
    assert!(out.status.success(), "{}", log(&out));
    let expected = received(files.path());
    assert_eq!(expected.len(), 2);

    // Forwarded over TLS to the one that speaks it.
    wait_until("forwarded over TLS", Duration::from_secs(30), async || {
        (received(secure.path()) == expected).then_some(())
    })
    .await;
    // The other one's rows wait, saying why.
    let failing = wait_until("the plain one fails", Duration::from_secs(30), async || {
        let (_, o) = app
            .get("/api/v1/forwarding-outbox?state=failing", &admin)
            .await;
        (o["failing"] == 2).then_some(o)
    })
    .await;
    for entry in failing["entries"].as_array().expect("rows") {
        assert_eq!(entry["destination"], "PLAIN-PACS", "{failing}");
        assert_eq!(entry["last_error_kind"], "unreachable", "{entry}");
        assert!(
            entry["last_error"].as_str().is_some_and(|e| !e.is_empty()),
            "{entry}"
        );
    }
    assert_eq!(received(plain.path()), BTreeSet::new());

    // C-MOVE to the TLS destination: its sub-operations go over TLS too.
    for entry in std::fs::read_dir(secure.path()).expect("the directory") {
        std::fs::remove_file(entry.expect("an entry").path()).expect("removed");
    }
    let study_key = format!("StudyInstanceUID={}", sent.uid);
    let mv = |destination: &'static str| {
        let study_key = study_key.clone();
        let dimse_port = dimse_port.clone();
        async move {
            dcmtk(
                "movescu",
                &[
                    "-v",
                    "-S",
                    "-aet",
                    "ISLAND-CT",
                    "-aec",
                    "FERRY",
                    "-aem",
                    destination,
                    "-k",
                    "QueryRetrieveLevel=STUDY",
                    "-k",
                    &study_key,
                    "127.0.0.1",
                    &dimse_port,
                ],
            )
            .await
        }
    };
    let out = mv("SECURE-PACS").await;
    assert!(
        log(&out).contains("Received Final Move Response (Success)"),
        "{}",
        log(&out)
    );
    assert_eq!(received(secure.path()), expected);
    let out = mv("PLAIN-PACS").await;
    assert!(
        !log(&out).contains("Received Final Move Response (Success)"),
        "{}",
        log(&out)
    );
    assert_eq!(received(plain.path()), BTreeSet::new());
}
