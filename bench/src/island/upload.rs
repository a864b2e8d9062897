//! A clinic uploading a CT over the island link: STOW-RS one instance per
//! request, as many at once as the web client sends (its `PARALLEL`), each
//! request gzipped when that saves a tenth of its bytes, as the web client
//! does. Timed from the first request to the last answer, beside the link's
//! floor: the bytes that crossed the link at its rate.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use super::link::{Link, Shape};

/// Of a request body, the share gzip must leave or the web client sends it
/// as it is (`GZIP_WORTH` in `web-client/lib/stow.js`).
const GZIP_WORTH: f64 = 0.9;

/// One upload of every file.
pub struct Upload {
    pub seconds: f64,
    /// Bytes clients sent over the link (requests, headers included).
    pub up: u64,
    /// Bytes the server sent back.
    pub down: u64,
    /// The files' own bytes.
    pub files: u64,
}

impl Upload {
    /// The least time the link allows: the busier direction's bytes at its
    /// rate.
    pub fn floor_seconds(&self, shape: &Shape) -> f64 {
        self.up.max(self.down) as f64 * 8.0 / shape.rate_bps as f64
    }
}

/// How many requests the web client's upload screen keeps in flight, read
/// from its source so that the benchmark follows the client.
pub fn parallel_of_web_client() -> anyhow::Result<usize> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client/screens/upload.js");
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("reading {}", source.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("const PARALLEL = "))
        .and_then(|rest| rest.trim_end_matches(';').trim().parse().ok())
        .with_context(|| format!("no `const PARALLEL = N;` in {}", source.display()))
}

/// Uploads `files` to the server at `server` through a link shaped as
/// `shape`, `parallel` requests at once, gzipped as the web client would
/// when `gzip`.
pub async fn upload(
    server: SocketAddr,
    token: &str,
    files: &[PathBuf],
    shape: Shape,
    parallel: usize,
    gzip: bool,
) -> anyhow::Result<Upload> {
    let link = Link::start(server, shape).await?;
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(parallel)
        .build()?;
    let url = format!("http://{}/dicomweb/studies", link.addr);
    let queue = Arc::new(Mutex::new(files.to_vec()));
    let mut total = 0u64;
    for file in files {
        total += std::fs::metadata(file)?.len();
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..parallel.max(1) {
        let (client, url, queue, token) =
            (client.clone(), url.clone(), queue.clone(), token.to_owned());
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some(file) = next else {
                    return anyhow::Ok(());
                };
                let (body, gzipped) = request_body(&tokio::fs::read(&file).await?, gzip)?;
                let mut request = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header(
                        "content-type",
                        "multipart/related; type=\"application/dicom\"; boundary=ferry-island",
                    )
                    .header("accept", "application/dicom+json")
                    .body(body);
                if gzipped {
                    request = request.header("content-encoding", "gzip");
                }
                let response = request.send().await?;
                let status = response.status();
                let answer = response.text().await?;
                anyhow::ensure!(
                    status.is_success(),
                    "STOW-RS of {} gave {status}: {answer}",
                    file.display()
                );
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (up, down) = link.carried();
    link.stop();
    Ok(Upload {
        seconds,
        up,
        down,
        files: total,
    })
}

/// One instance as the web client sends it: a multipart body of one part,
/// gzipped when `gzip` and that saves enough.
fn request_body(file: &[u8], gzip: bool) -> anyhow::Result<(Vec<u8>, bool)> {
    let mut body = b"--ferry-island\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--ferry-island--\r\n");
    if !gzip {
        return Ok((body, false));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&body)?;
    let packed = encoder.finish()?;
    if packed.len() as f64 <= body.len() as f64 * GZIP_WORTH {
        Ok((packed, true))
    } else {
        Ok((body, false))
    }
}
