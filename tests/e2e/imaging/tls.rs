//! DICOM TLS with dcmtk: a modality with a certificate from the
//! consortium's CA echoes and stores over TLS; one without a certificate,
//! or speaking plain TCP to the TLS port, gets nowhere.

use std::path::Path;
use std::process::Output;

use crate::support::dicom_files::{dcmtk, register_modality, study};
use crate::support::spawn_app_with;

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it
/// signed, made with openssl in `dir`.
async fn certificates(dir: &Path) {
    let script = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=Consortium CA" 2>/dev/null
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj "/CN=$who" 2>/dev/null
done
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for who in server client; do
  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $who.crt -days 2 -extfile $who.ext 2>/dev/null
done
"#;
    let out = tokio::process::Command::from(ferry_test_tools::command("bash"))
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .await
        .expect("bash runs");
    assert!(out.status.success(), "{}", log(&out));
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
