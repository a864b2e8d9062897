//! Certificates for the tests that speak TLS: DICOM TLS with dcmtk, HTTPS
//! with reqwest and Chromium.

use std::path::Path;

/// A CA, a server certificate for 127.0.0.1 and a client certificate it
/// signed, made with openssl in `dir`.
pub async fn certificates(dir: &Path) {
    let script = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=Consortium CA" 2>/dev/null
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj "/CN=$who" 2>/dev/null
done
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
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
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}
