//! The workload both peers get: generated instances, C-STORE by dcmtk's
//! `storescu`, STOW-RS, QIDO-RS and WADO-RS, each timed from the client side.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use crate::report::Samples;

/// One side of the comparison, as the workload sees it.
pub trait Peer {
    fn name(&self) -> &'static str;
    /// `host port` and called AE title for `storescu`.
    fn dimse(&self) -> (u16, &str);
    /// The DICOMweb root, e.g. `http://127.0.0.1:8042/dicom-web`.
    fn dicomweb(&self) -> String;
    fn bearer(&self) -> Option<&str>;
}

/// How generated instances are laid out and how big they are.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub per_series: usize,
    pub series_per_study: usize,
    /// 8 x 8 pixels instead of the sample's 128 x 128: for loading an index
    /// with many instances quickly.
    pub tiny: bool,
}

/// CT-like studies of 4 series of 50 full-size (39 KB) instances.
pub const CT_STUDIES: Layout = Layout {
    per_series: 50,
    series_per_study: 4,
    tiny: false,
};

/// Many small studies (2 series of 10 tiny instances), like a clinic's mix
/// of X-rays and ECGs: more studies per instance for the searches to sift.
pub const SMALL_STUDIES: Layout = Layout {
    per_series: 10,
    series_per_study: 2,
    tiny: true,
};

/// Writes `count` copies of the CT sample with fresh UIDs into `dir`, in
/// `groups` subfolders (one per sender), and returns the study UIDs made.
pub fn generate(
    dir: &Path,
    count: usize,
    groups: usize,
    layout: Layout,
) -> anyhow::Result<Vec<String>> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dicom/CT_small.dcm");
    let mut template = dicom_object::open_file(&sample).context("the CT sample")?;
    if layout.tiny {
        for (tag, value) in [(tags::ROWS, 8u16), (tags::COLUMNS, 8u16)] {
            template.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
        }
        template.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::from(vec![0u8; 8 * 8 * 2]),
        ));
    }
    let (per_series, per_study) = (
        layout.per_series,
        layout.per_series * layout.series_per_study,
    );
    let mut studies = Vec::new();
    let (mut study, mut series) = (String::new(), String::new());
    for i in 0..count {
        if i % per_study == 0 {
            study = uid();
            studies.push(study.clone());
        }
        if i % per_series == 0 {
            series = uid();
        }
        let mut object = template.clone();
        let sop = uid();
        for (tag, value) in [
            (tags::STUDY_INSTANCE_UID, &study),
            (tags::SERIES_INSTANCE_UID, &series),
            (tags::SOP_INSTANCE_UID, &sop),
        ] {
            object.put(DataElement::new(
                tag,
                VR::UI,
                PrimitiveValue::from(value.as_str()),
            ));
        }
        object.put(DataElement::new(
            tags::INSTANCE_NUMBER,
            VR::IS,
            PrimitiveValue::from((i % per_series + 1).to_string()),
        ));
        object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop.clone());
        let group = dir.join(format!("{}", i % groups.max(1)));
        std::fs::create_dir_all(&group)?;
        object
            .write_to_file(group.join(format!("{i:06}.dcm")))
            .context("write a copy")?;
    }
    Ok(studies)
}

fn uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}

/// Files under `dir`, recursively, sorted.
pub fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Sends every file under each of `groups` by C-STORE, one `storescu` per
/// group at once; returns the wall time.
pub async fn c_store(
    peer: &dyn Peer,
    groups: &[PathBuf],
    calling: &str,
) -> anyhow::Result<Duration> {
    let (port, called) = peer.dimse();
    let started = Instant::now();
    let mut children = Vec::new();
    for group in groups {
        let child = tokio::process::Command::new("/usr/bin/storescu")
            .env("TCP_NODELAY", "1")
            .args(["-aet", calling, "-aec", called, "+sd", "+r", "127.0.0.1"])
            .arg(port.to_string())
            .arg(group)
            // dcmtk logs some failures to stdout: both are kept for the report.
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("run /usr/bin/storescu (apt-get install dcmtk)")?;
        children.push(child);
    }
    for child in children {
        let out = child.wait_with_output().await?;
        anyhow::ensure!(
            out.status.success(),
            "storescu to {} failed ({}): {}{}",
            peer.name(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(started.elapsed())
}

/// Sends every file by STOW-RS in requests of 50, `concurrency` at once.
pub async fn stow(
    peer: &dyn Peer,
    files: &[PathBuf],
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let url = format!("{}/studies", peer.dicomweb());
    let batches: Vec<Vec<PathBuf>> = files.chunks(50).map(<[PathBuf]>::to_vec).collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, queue) = (client.clone(), url.clone(), queue.clone());
        let bearer = peer.bearer().map(str::to_owned);
        let name = peer.name();
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some(batch) = batch else { break };
                let boundary = "ferry-bench-boundary";
                let mut body = Vec::new();
                for file in &batch {
                    body.extend_from_slice(
                        format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n")
                            .as_bytes(),
                    );
                    body.extend_from_slice(&tokio::fs::read(file).await?);
                    body.extend_from_slice(b"\r\n");
                }
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                let mut request = client.post(&url).body(body).header(
                    "content-type",
                    format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
                );
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await?;
                let status = response.status();
                anyhow::ensure!(status.is_success(), "STOW-RS to {name} gave {status}");
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

/// Times study searches by Study Instance UID and by a patient name wildcard.
pub async fn qido(peer: &dyn Peer, studies: &[String], count: usize) -> anyhow::Result<Samples> {
    let client = reqwest::Client::new();
    let mut samples = Samples::default();
    for i in 0..=count {
        let query = if i % 2 == 0 {
            format!("StudyInstanceUID={}", studies[i % studies.len()])
        } else {
            "PatientName=Compressed*&limit=20".to_owned()
        };
        let mut request = client
            .get(format!("{}/studies?{query}", peer.dicomweb()))
            .header("accept", "application/dicom+json");
        if let Some(token) = peer.bearer() {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let took = started.elapsed();
        anyhow::ensure!(
            status.is_success() && body.len() > 2,
            "QIDO-RS on {} gave {status}",
            peer.name()
        );
        if i > 0 {
            samples.push(took);
        }
    }
    Ok(samples)
}

/// Retrieves a whole study `rounds` times; returns MB/s.
pub async fn wado(peer: &dyn Peer, study: &str, rounds: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let mut bytes = 0usize;
    let started = Instant::now();
    for _ in 0..rounds {
        bytes += retrieve(&client, peer, study).await?.1.len();
    }
    Ok(bytes as f64 / 1_000_000.0 / started.elapsed().as_secs_f64())
}

/// One WADO-RS retrieval of a whole study: the answer's content type and body.
pub async fn retrieve(
    client: &reqwest::Client,
    peer: &dyn Peer,
    study: &str,
) -> anyhow::Result<(String, bytes::Bytes)> {
    let mut request = client
        .get(format!("{}/studies/{study}", peer.dicomweb()))
        .header("accept", "multipart/related; type=\"application/dicom\"");
    if let Some(token) = peer.bearer() {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "WADO-RS on {} gave {status}",
        peer.name()
    );
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((content_type, response.bytes().await?))
}
