//! hostile: what the parsers are fed. Sequences nested thousands of levels
//! deep, which made the parsers recurse until the process aborted on a stack
//! overflow, through every door that parses DICOM: STOW-RS, C-STORE and
//! C-FIND. And a 34-byte C-FIND identifier declaring a 4 GB element, which
//! the parser would have zero-filled before reading it.
//!
//! The server runs as a child process ([`spawn_server`]): a stack overflow
//! aborts it, not this test binary, and its peak memory is its own. The
//! C-FIND identifiers (and a C-STORE data set too deep for dcmtk's own
//! parser, which crashes on it) are sent as raw bytes over a hand-made
//! association, since no client would encode them.

use std::time::Duration;

use dicom_ul::pdu::{
    read_pdu, write_pdu, AssociationRQ, PDataValue, PDataValueType, Pdu,
    PresentationContextProposed, PresentationContextResultReason, UserVariableItem,
};
use ferry_server::auth::Role;
use reqwest::{header, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::child_server::{spawn_server, ChildServer};
use crate::support::dicom_files::{dcmtk, fresh_uid, register_modality};
use crate::support::memory::assert_under_ceiling;
use crate::support::{spawn_app, TestApp, PASSWORD};

const AE_TITLE: &str = "NESTED-CT";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const BASIC_TEXT_SR: &str = "1.2.840.10008.5.1.4.1.1.88.11";
const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
/// The depths sent: one past the limit of 32, the depth that aborted the
/// server, and one that a recursive parser could not survive on any stack.
const DEEP: [usize; 3] = [33, 1000, 50_000];

/// `(0040,A730)` Content Sequence of undefined length, holding one item of
/// undefined length that holds the next, `depth` sequences in all, in
/// explicit VR little endian.
fn nested_content(depth: usize) -> Vec<u8> {
    const SEQUENCE: [u8; 12] = [
        0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    const ITEM: [u8; 8] = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
    const ITEM_END: [u8; 8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];
    const SEQUENCE_END: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
    let mut out = Vec::with_capacity(depth * 36);
    for _ in 0..depth {
        out.extend_from_slice(&SEQUENCE);
        out.extend_from_slice(&ITEM);
    }
    for _ in 0..depth {
        out.extend_from_slice(&ITEM_END);
        out.extend_from_slice(&SEQUENCE_END);
    }
    out
}

/// One explicit VR element with a 16-bit length, padded to even length.
fn element(out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], value: &str) {
    let mut value = value.as_bytes().to_vec();
    if value.len() % 2 == 1 {
        value.push(if vr == b"UI" { 0 } else { b' ' });
    }
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(vr);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend(value);
}

/// A Basic Text SR instance with every attribute needed to be stored and a
/// content tree nested `depth` deep.
struct Nested {
    sop_instance: String,
    /// The data set alone, as C-STORE carries it.
    data_set: Vec<u8>,
    /// The Part 10 file, as STOW-RS and storescu take it.
    file: Vec<u8>,
}

fn nested_instance(depth: usize) -> Nested {
    let sop_instance = fresh_uid();
    let mut data_set = Vec::new();
    element(&mut data_set, (0x0008, 0x0016), b"UI", BASIC_TEXT_SR);
    element(&mut data_set, (0x0008, 0x0018), b"UI", &sop_instance);
    element(&mut data_set, (0x0008, 0x0060), b"CS", "SR");
    element(&mut data_set, (0x0010, 0x0020), b"LO", "NESTED-1");
    element(&mut data_set, (0x0020, 0x000D), b"UI", &fresh_uid());
    element(&mut data_set, (0x0020, 0x000E), b"UI", &fresh_uid());
    data_set.extend(nested_content(depth));

    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(BASIC_TEXT_SR)
        .media_storage_sop_instance_uid(sop_instance.as_str())
        .transfer_syntax(EXPLICIT_VR_LE)
        .build()
        .expect("a file meta group");
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    meta.write(&mut file).expect("the file meta group");
    file.extend(&data_set);
    Nested {
        sop_instance,
        data_set,
        file,
    }
}

/// A study-level C-FIND identifier whose Content Sequence nests `depth` deep.
fn nested_identifier(depth: usize) -> Vec<u8> {
    let mut identifier = Vec::new();
    element(&mut identifier, (0x0008, 0x0052), b"CS", "STUDY");
    element(&mut identifier, (0x0020, 0x000D), b"UI", "");
    identifier.extend(nested_content(depth));
    identifier
}

/// The server as a child process, with a modality registered for
/// [`AE_TITLE`] and a clinician signed in, both at island A; `app` is an
/// in-process server on the same database, for arranging and counting.
struct Target {
    app: TestApp,
    child: ChildServer,
    token: String,
    client: reqwest::Client,
    _data: tempfile::TempDir,
}

async fn target() -> Target {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, AE_TITLE).await;
    app.user("clin-nested", Role::Clinician, c.island_a).await;
    let data = tempfile::tempdir().expect("a data directory");
    let child = spawn_server(data.path(), &app.test_db.url, &[]).await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", child.base))
        .json(&serde_json::json!({ "username": "clin-nested", "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("a token").to_owned();
    Target {
        app,
        child,
        token,
        client,
        _data: data,
    }
}

impl Target {
    fn port(&self) -> u16 {
        self.child.dimse_port.parse().expect("a DIMSE port")
    }

    /// The server is still running, answers `/healthz`, and never held
    /// more than the ceiling.
    async fn assert_alive(&mut self, after: &str) {
        let exited = self.child.process.try_wait().expect("the child's state");
        assert!(
            exited.is_none(),
            "the server died after {after}: {exited:?}"
        );
        let health = self
            .client
            .get(format!("{}/healthz", self.child.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(
            health.as_ref().is_ok_and(|r| r.status() == StatusCode::OK),
            "/healthz after {after}: {health:?}"
        );
        let pid = self.child.process.id().expect("the server's pid");
        assert_under_ceiling(pid, after);
    }

    async fn stored_instances(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM dicom_instance")
            .fetch_one(self.app.db.pool())
            .await
            .expect("a count")
    }

    /// STOW-RS of one file to the child server.
    async fn stow(&self, file: Vec<u8>) -> (StatusCode, Value) {
        let boundary = "ferry-nested-boundary";
        let mut body =
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
        body.extend(file);
        body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        let response = self
            .client
            .post(format!("{}/dicomweb/studies", self.child.base))
            .bearer_auth(&self.token)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .header(header::ACCEPT, "application/dicom+json")
            .body(body)
            .send()
            .await
            .expect("the STOW-RS request is answered");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// What the server answered a hand-made DIMSE request.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The final response's status.
    Status(u16),
    /// It aborted the association or closed the connection.
    Aborted,
}

/// Encodes a command set (implicit VR little endian), group length first.
fn command_set(elements: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (element, value) in elements {
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&element.to_le_bytes());
        body.extend_from_slice(&(value.len() as u32).to_le_bytes());
        body.extend_from_slice(value);
    }
    let mut out = vec![0, 0, 0, 0, 4, 0, 0, 0];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

fn uid_value(uid: &str) -> Vec<u8> {
    let mut value = uid.as_bytes().to_vec();
    if value.len() % 2 == 1 {
        value.push(0);
    }
    value
}

/// A C-FIND-RQ or C-STORE-RQ command set that announces a data set.
fn request(sop_class: &str, sop_instance: Option<&str>) -> Vec<u8> {
    let class = uid_value(sop_class);
    let (command_field, instance) = match sop_instance {
        Some(uid) => (0x0001u16, Some(uid_value(uid))),
        None => (0x0020u16, None),
    };
    let field = command_field.to_le_bytes();
    let mut elements: Vec<(u16, &[u8])> = vec![
        (0x0002, &class),
        (0x0100, &field),
        (0x0110, &[7, 0]),
        (0x0700, &[0, 0]),
        (0x0800, &[0, 0]),
    ];
    if let Some(instance) = &instance {
        elements.push((0x1000, instance));
    }
    command_set(&elements)
}

/// The Status (0000,0900) of a command set, if it has one.
fn status_of(command: &[u8]) -> Option<u16> {
    let mut at = 0;
    while let Some(head) = command.get(at..at + 8) {
        let element = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let value = command.get(at + 8..at + 8 + len)?;
        if element == 0x0900 && len == 2 {
            return Some(u16::from_le_bytes([value[0], value[1]]));
        }
        at += 8 + len;
    }
    None
}

async fn read_one_pdu(stream: &mut TcpStream) -> Option<Pdu> {
    let mut bytes = vec![0u8; 6];
    stream.read_exact(&mut bytes).await.ok()?;
    let length = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize;
    bytes.resize(6 + length, 0);
    stream.read_exact(&mut bytes[6..]).await.ok()?;
    read_pdu(&bytes[..], 1 << 24, false).ok().flatten()
}

/// Opens an association for `abstract_syntax` in explicit VR little endian,
/// sends `command` and `data_set` as they are, and returns the final
/// response's status.
async fn send_raw(port: u16, abstract_syntax: &str, command: Vec<u8>, data_set: &[u8]) -> Answer {
    let exchange = async {
        let mut peer = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects");
        peer.set_nodelay(true).expect("no delay");
        let rq = Pdu::AssociationRQ(AssociationRQ {
            protocol_version: 1,
            calling_ae_title: AE_TITLE.into(),
            called_ae_title: "FERRY".into(),
            application_context_name: "1.2.840.10008.3.1.1.1".into(),
            presentation_contexts: vec![PresentationContextProposed {
                id: 1,
                abstract_syntax: abstract_syntax.into(),
                transfer_syntaxes: vec![EXPLICIT_VR_LE.into()],
            }],
            user_variables: vec![UserVariableItem::MaxLength(16384)],
        });
        let mut bytes = Vec::new();
        write_pdu(&mut bytes, &rq).expect("encodes");
        peer.write_all(&bytes).await.expect("sent");
        let Some(Pdu::AssociationAC(ac)) = read_one_pdu(&mut peer).await else {
            panic!("the association is accepted");
        };
        assert!(
            ac.presentation_contexts
                .iter()
                .any(|pc| pc.reason == PresentationContextResultReason::Acceptance),
            "{ac:?}"
        );
        // The command in one PDU, the data set in fragments that fit any
        // maximum the server may announce.
        let mut pdus = vec![(PDataValueType::Command, command, true)];
        let chunks: Vec<&[u8]> = data_set.chunks(8 * 1024).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            pdus.push((PDataValueType::Data, chunk.to_vec(), n + 1 == chunks.len()));
        }
        for (value_type, data, is_last) in pdus {
            let pdu = Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: 1,
                    value_type,
                    is_last,
                    data,
                }],
            };
            let mut bytes = Vec::new();
            write_pdu(&mut bytes, &pdu).expect("encodes");
            // The server may give up on the association before all is sent.
            if peer.write_all(&bytes).await.is_err() {
                return Answer::Aborted;
            }
        }
        let mut command = Vec::new();
        loop {
            match read_one_pdu(&mut peer).await {
                Some(Pdu::PData { data }) => {
                    for value in data {
                        if value.value_type != PDataValueType::Command {
                            continue;
                        }
                        command.extend(value.data);
                        if !value.is_last {
                            continue;
                        }
                        let status = status_of(&command).expect("a status");
                        command.clear();
                        // Pending C-FIND responses go on.
                        if status != 0xFF00 && status != 0xFF01 {
                            return Answer::Status(status);
                        }
                    }
                }
                Some(Pdu::AbortRQ { .. }) | None => return Answer::Aborted,
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .expect("the server answers within a minute")
}

#[tokio::test]
async fn stow_rs_refuses_sequences_nested_past_32_levels_and_stores_32() {
    let mut target = target().await;
    for depth in DEEP {
        let nested = nested_instance(depth);
        let (status, body) = target.stow(nested.file).await;
        assert_eq!(status, StatusCode::CONFLICT, "{depth} deep: {body}");
        // Failed SOP Sequence, Failure Reason 0xC000: cannot understand.
        let failed = &body["00081198"]["Value"][0];
        assert_eq!(failed["00081197"]["Value"][0], 0xC000, "{depth}: {body}");
        target.assert_alive(&format!("STOW-RS {depth} deep")).await;
    }
    assert_eq!(target.stored_instances().await, 0);

    let nested = nested_instance(32);
    let (status, body) = target.stow(nested.file).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = &body["00081199"]["Value"][0]["00081155"]["Value"][0];
    assert_eq!(stored, nested.sop_instance.as_str());
    target.assert_alive("STOW-RS 32 deep").await;
    assert_eq!(target.stored_instances().await, 1);
}

#[tokio::test]
async fn c_store_refuses_sequences_nested_past_32_levels() {
    let mut target = target().await;
    let port = target.child.dimse_port.clone();
    let files = tempfile::tempdir().expect("a directory");
    for depth in DEEP {
        let nested = nested_instance(depth);
        let what = format!("C-STORE {depth} deep");
        if depth <= 1000 {
            let path = files.path().join(format!("{depth}.dcm"));
            std::fs::write(&path, &nested.file).expect("written");
            let sent = dcmtk(
                "storescu",
                &[
                    "-v",
                    "-aet",
                    AE_TITLE,
                    "-aec",
                    "FERRY",
                    "127.0.0.1",
                    &port,
                    path.to_str().expect("a UTF-8 path"),
                ],
            )
            .await;
            let log = String::from_utf8_lossy(&sent.stderr).into_owned()
                + &String::from_utf8_lossy(&sent.stdout);
            assert!(
                log.contains("Received Store Response (Error: CannotUnderstand)"),
                "{what}: {log}"
            );
        } else {
            // dcmtk's own parser crashes on this file: sent by hand.
            let command = request(BASIC_TEXT_SR, Some(&nested.sop_instance));
            let answer = send_raw(target.port(), BASIC_TEXT_SR, command, &nested.data_set).await;
            assert_eq!(answer, Answer::Status(0xC000), "{what}");
        }
        target.assert_alive(&what).await;
    }
    assert_eq!(target.stored_instances().await, 0);
}

#[tokio::test]
async fn c_find_refuses_identifiers_nested_past_32_levels() {
    let mut target = target().await;
    for depth in DEEP {
        let identifier = nested_identifier(depth);
        let what = format!("C-FIND {depth} deep");
        let answer = send_raw(
            target.port(),
            STUDY_ROOT_FIND,
            request(STUDY_ROOT_FIND, None),
            &identifier,
        )
        .await;
        if identifier.len() <= 1024 * 1024 {
            assert_eq!(answer, Answer::Status(0xC000), "{what}");
        } else {
            // Past the identifier size limit: the association goes first.
            assert_eq!(answer, Answer::Aborted, "{what}");
        }
        target.assert_alive(&what).await;
    }
    // A sound identifier sent the same way is answered.
    let answer = send_raw(
        target.port(),
        STUDY_ROOT_FIND,
        request(STUDY_ROOT_FIND, None),
        &nested_identifier(0),
    )
    .await;
    assert_eq!(answer, Answer::Status(0x0000));
    target.assert_alive("a sound C-FIND").await;
}

#[tokio::test]
async fn a_34_byte_c_find_identifier_declaring_4_gb_is_refused_at_no_cost() {
    let mut target = target().await;
    // Query/Retrieve Level, then (0040,A160) Text Value, UT, declaring
    // 0xFFFFFFF0 bytes and holding 8.
    let mut identifier = Vec::new();
    element(&mut identifier, (0x0008, 0x0052), b"CS", "STUDY");
    identifier.extend_from_slice(&[0x40, 0x00, 0x60, 0xA1, b'U', b'T', 0, 0]);
    identifier.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    identifier.extend_from_slice(b"hostile!");
    assert_eq!(identifier.len(), 34);

    let answer = send_raw(
        target.port(),
        STUDY_ROOT_FIND,
        request(STUDY_ROOT_FIND, None),
        &identifier,
    )
    .await;
    assert_eq!(answer, Answer::Status(0xC000));
    target
        .assert_alive("a C-FIND identifier declaring 4 GB")
        .await;
}
