//! Blobs in a real S3-compatible server run locally: `s3s-fs`, installed by
//! `.ci/run` with `cargo install s3s-fs --features binary`.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use dicom_dictionary_std::tags;
use ferry_dicom_store::blob::{BlobStore, S3BlobStore, S3Config};
use ferry_dicom_store::{IngestContext, IngestError, Outcome};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::helpers::*;

const ACCESS_KEY: &str = "ferry-test";
const SECRET_KEY: &str = "ferry-test-secret-key";

/// An S3 server on a free port with a bucket `ferry`; killed on drop.
struct S3Server {
    endpoint: String,
    _child: Child,
    _root: tempfile::TempDir,
}

impl S3Server {
    async fn start() -> S3Server {
        let root = tempfile::tempdir().expect("a root");
        std::fs::create_dir(root.path().join("ferry")).expect("the bucket");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::from(ferry_test_tools::s3s_fs(
            root.path(),
            port,
            ACCESS_KEY,
            SECRET_KEY,
        ))
        .kill_on_drop(true)
        .spawn()
        .expect("s3s-fs starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
            _root: root,
        }
    }

    fn blobs(&self) -> S3BlobStore {
        S3BlobStore::new(&S3Config {
            bucket: "ferry".into(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            prefix: "consortium".into(),
        })
        .expect("a client")
    }
}

async fn read(blobs: &dyn BlobStore, key: &str) -> std::io::Result<Vec<u8>> {
    let mut reader = blobs.get(key).await?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn an_s3_bucket_keeps_blobs_as_the_store_expects() {
    let server = S3Server::start().await;
    let blobs = server.blobs();
    let dir = tempfile::tempdir().expect("a directory");
    let staged = dir.path().join("staged");
    // Bigger than one part of a multipart upload, so that path is exercised.
    let bytes: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&staged, &bytes).expect("a staged file");

    blobs.put_file("ab/cd/0001", &staged).await.expect("put");
    assert!(!staged.exists(), "the staged file is consumed");
    assert!(blobs.exists("ab/cd/0001").await.expect("head"));
    assert_eq!(read(&blobs, "ab/cd/0001").await.expect("get"), bytes);

    blobs.delete("ab/cd/0001").await.expect("delete");
    assert!(!blobs.exists("ab/cd/0001").await.expect("head"));
    blobs
        .delete("ab/cd/0001")
        .await
        .expect("deleting twice is fine");
    let missing = read(&blobs, "ab/cd/0001").await.expect_err("gone");
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn the_store_ingests_into_s3_and_reads_back_byte_for_byte() {
    let server = S3Server::start().await;
    let t = TestStore::with_blobs(Some(Arc::new(server.blobs()))).await;
    let original = fixture_bytes("CT_small.dcm");
    let ctx = IngestContext {
        facility_id: t.facility_a,
        patient_id: None,
        expected_study: None,
        audit_owed_by: None,
    };
    let stored = t
        .store
        .ingest(original.as_slice(), &ctx)
        .await
        .expect("ingested");
    let (_, mut reader) = t
        .store
        .open_instance(&stored.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("the instance");
    let mut back = Vec::new();
    reader.read_to_end(&mut back).await.expect("read");
    assert_eq!(back, original);
    assert_eq!(t.staged_files(), 0, "nothing left in staging");

    // Frames come from the object too, not from a local file.
    let object = dicom_object::open_file(fixture("CT_small.dcm")).expect("parses");
    let pixels = object
        .element(tags::PIXEL_DATA)
        .expect("pixels")
        .to_bytes()
        .expect("bytes");
    let row = t
        .store
        .instance(&stored.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("row");
    assert!(t.store.blobs().local_path(&row.blob_key).is_none());
    let frames = ferry_dicom_store::pixels::read_frames(&back).expect("frames");
    assert_eq!(frames.frames, vec![pixels.into_owned()]);
}

#[tokio::test]
async fn an_instance_in_memory_goes_to_the_bucket_and_a_refused_copy_is_taken_back() {
    let server = S3Server::start().await;
    let t = TestStore::with_blobs(Some(Arc::new(server.blobs()))).await;
    let bucket = server._root.path().join("ferry");
    let original = fixture_bytes("MR_small.dcm");
    let stored = t
        .store
        .ingest_bytes(original.clone(), &ctx(t.facility_a))
        .await
        .expect("ingested");
    assert_eq!(stored.outcome, Outcome::Created);
    let row = t
        .store
        .instance(&stored.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("row");
    assert_eq!(
        read(t.store.blobs().as_ref(), &row.blob_key)
            .await
            .expect("object"),
        original
    );
    assert_eq!(
        t.staged_files(),
        0,
        "no staging file for an instance in memory"
    );
    let objects = nonempty_files_under(&bucket);
    assert!(objects >= 1, "the object is in the bucket");

    // Sent again: the index judges it already stored, and the second
    // upload is deleted.
    let again = t
        .store
        .ingest_bytes(original, &ctx(t.facility_a))
        .await
        .expect("already stored");
    assert_eq!(again.outcome, Outcome::AlreadyStored);
    // The same instance encoded differently: refused, its upload deleted.
    let refused = t
        .store
        .ingest_bytes(fixture_bytes("MR_small_implicit.dcm"), &ctx(t.facility_a))
        .await
        .expect_err("refused");
    assert!(
        matches!(refused, IngestError::DuplicateConflict { .. }),
        "{refused:?}"
    );
    assert_eq!(
        nonempty_files_under(&bucket),
        objects,
        "the refused copies were deleted"
    );
    assert_eq!(t.count("dicom_instance").await, 1);
}

#[tokio::test]
async fn rendered_frames_and_retrieval_stream_from_the_bucket_and_leave_nothing_behind() {
    use axum::http::StatusCode;

    use crate::rendered::{get, instance_path, stow_bytes};

    let server = S3Server::start().await;
    let t = TestStore::with_blobs(Some(Arc::new(server.blobs()))).await;
    let original = fresh_instance("CT_small.dcm");
    stow_bytes(&t, original.clone()).await;
    let path = instance_path(&original);

    let (status, content_type, png) = get(&t, &format!("{path}/rendered"), "image/png").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "image/png")
    );
    assert_eq!(png[..8], *b"\x89PNG\r\n\x1a\n");
    let (status, _, whole) = get(&t, &path, "multipart/related; type=\"application/dicom\"").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        whole
            .windows(original.len())
            .any(|w| w == original.as_slice()),
        "the instance comes back byte for byte"
    );
    assert_eq!(t.staged_files(), 0, "the copy rendered from is gone");
}
