//! Ingest rate, for comparison with other archives. Ignored by default; run
//! `cargo test --release -p ferry-dicom-store --test store ingest_rate -- --ignored --nocapture`
//! (add `FERRY_TEST_DATABASE_URL` for PostgreSQL).

use std::time::Instant;

use ferry_dicom_store::IngestContext;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn ingest_rate() {
    let t = TestStore::new().await;
    let ctx = IngestContext {
        facility_id: t.facility_a,
        ..IngestContext::default()
    };
    let n = 400;
    for senders in [1usize, 4, 16] {
        let files: Vec<Vec<u8>> = (0..n).map(|_| fresh_instance("CT_small.dcm")).collect();
        let started = Instant::now();
        let chunks: Vec<Vec<Vec<u8>>> = files.chunks(n / senders).map(<[_]>::to_vec).collect();
        let tasks = chunks.into_iter().map(|chunk| {
            let store = t.store.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                for file in chunk {
                    store.ingest(file.as_slice(), &ctx).await.expect("stored");
                }
            })
        });
        for task in futures_util::future::join_all(tasks).await {
            task.expect("a sender");
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{senders:>2} sender(s): {n} instances of {} bytes in {:.2} s = {:.0} instances/s",
            fixture_bytes("CT_small.dcm").len(),
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
    }
}
