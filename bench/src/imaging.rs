//! The imaging benchmark: Ferry beside Orthanc on the same files, in the same
//! run, both durable, both with TCP_NODELAY.
//!
//! - Ingest by C-STORE: dcmtk's `storescu`, one sender and `--senders` at once.
//! - Ingest by STOW-RS: batches of 50 instances, `--senders` requests at once.
//! - QIDO-RS study search latency (p50, p99) once both hold every instance.
//! - WADO-RS retrieval of a whole study, MB/s.
//!
//! Orthanc 1.10 cannot listen on loopback only, so the whole benchmark runs in
//! a network namespace of its own that has nothing but `lo` (it re-executes
//! itself under `unshare -n`; that needs root).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use crate::orthanc::Orthanc;
use crate::report::{progress, Samples};

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Instances for each ingest door (so the index ends with twice this).
    #[arg(long, default_value_t = 2000)]
    instances: usize,
    /// Parallel senders for the concurrent runs.
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Timed QIDO-RS searches.
    #[arg(long, default_value_t = 200)]
    searches: usize,
    /// A small run that checks the benchmark works, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// One side of the comparison, as the workload sees it.
pub trait Peer {
    fn name(&self) -> &'static str;
    /// `host port` and called AE title for `storescu`.
    fn dimse(&self) -> (u16, &str);
    /// The DICOMweb root, e.g. `http://127.0.0.1:8042/dicom-web`.
    fn dicomweb(&self) -> String;
    fn bearer(&self) -> Option<&str>;
}

/// Instances per series and series per study in the generated set.
const PER_SERIES: usize = 50;
const SERIES_PER_STUDY: usize = 4;

/// Writes `count` copies of the CT sample with fresh UIDs into `dir`, in
/// `groups` subfolders (one per sender), and returns the study UIDs made.
pub fn generate(dir: &Path, count: usize, groups: usize) -> anyhow::Result<Vec<String>> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dicom/CT_small.dcm");
    let template = dicom_object::open_file(&sample).context("the CT sample")?;
    let mut studies = Vec::new();
    let (mut study, mut series) = (String::new(), String::new());
    for i in 0..count {
        if i % (PER_SERIES * SERIES_PER_STUDY) == 0 {
            study = uid();
            studies.push(study.clone());
        }
        if i % PER_SERIES == 0 {
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
            PrimitiveValue::from((i % PER_SERIES + 1).to_string()),
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
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("run /usr/bin/storescu (apt-get install dcmtk)")?;
        children.push(child);
    }
    for child in children {
        let out = child.wait_with_output().await?;
        anyhow::ensure!(
            out.status.success(),
            "storescu to {} failed: {}",
            peer.name(),
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
        let mut request = client
            .get(format!("{}/studies/{study}", peer.dicomweb()))
            .header("accept", "multipart/related; type=\"application/dicom\"");
        if let Some(token) = peer.bearer() {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::ensure!(
            status.is_success(),
            "WADO-RS on {} gave {status}",
            peer.name()
        );
        bytes += body.len();
    }
    Ok(bytes as f64 / 1_000_000.0 / started.elapsed().as_secs_f64())
}

/// Orthanc as a [`Peer`].
impl Peer for Orthanc {
    fn name(&self) -> &'static str {
        "Orthanc"
    }
    fn dimse(&self) -> (u16, &str) {
        (self.dicom, "ORTHANC")
    }
    fn dicomweb(&self) -> String {
        format!("http://127.0.0.1:{}/dicom-web", self.http)
    }
    fn bearer(&self) -> Option<&str> {
        None
    }
}

pub fn check_quick(mut options: Options) -> Options {
    if options.quick {
        options.instances = options.instances.min(100);
        options.searches = options.searches.min(10);
        options.senders = options.senders.min(2);
    }
    options
}

/// Ferry as a [`Peer`]: the server in this process on SQLite, with a
/// clinician's token and a registered modality.
pub struct FerryPeer {
    server: crate::harness::Server,
    token: String,
    dimse_port: u16,
}

impl Peer for FerryPeer {
    fn name(&self) -> &'static str {
        "Ferry"
    }
    fn dimse(&self) -> (u16, &str) {
        (self.dimse_port, "FERRY")
    }
    fn dicomweb(&self) -> String {
        self.server.url("/dicomweb")
    }
    fn bearer(&self) -> Option<&str> {
        Some(&self.token)
    }
}

const CALLING_AE: &str = "BENCH";

impl FerryPeer {
    async fn start() -> anyhow::Result<FerryPeer> {
        use ferry_server::auth::Role;
        use ferry_server::facility::{NewFacility, Tier};
        let server =
            crate::harness::Server::start_with(&crate::harness::Engine::Sqlite, true).await?;
        let dimse_port = server.dimse_addr.context("the DIMSE listener")?.port();
        let actor = crate::harness::Server::actor();
        let mut tx = server.db.begin_write().await?;
        let island = ferry_server::facility::create(
            &mut tx,
            &actor,
            NewFacility {
                name: "Island".into(),
                tier: Tier::Village,
                parent_id: None,
                time_zone: "Asia/Shanghai".into(),
                contact: String::new(),
            },
        )
        .await?
        .id;
        ferry_server::modality::create(
            &mut tx,
            &actor,
            island,
            ferry_server::modality::NewModality {
                ae_title: CALLING_AE.into(),
                description: String::new(),
            },
        )
        .await?;
        ferry_server::user::create(
            &mut tx,
            &actor,
            ferry_server::user::NewUser {
                username: "clinician".into(),
                display_name: "clinician".into(),
                password: "bench password 1".into(),
                facility_id: island,
                roles: vec![Role::Clinician],
                specialties: vec![],
            },
        )
        .await?;
        tx.commit().await?;
        let token = server.login("clinician", "bench password 1").await?;
        Ok(FerryPeer {
            server,
            token,
            dimse_port,
        })
    }

    async fn count(&self) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dicom_instance")
            .fetch_one(self.server.db.pool())
            .await?;
        Ok(n as u64)
    }
}

/// What one side measured.
struct Measured {
    store_one: f64,
    store_many: f64,
    stow: f64,
    qido: Samples,
    wado: f64,
}

async fn measure(
    peer: &dyn Peer,
    single: &Path,
    parallel: &[PathBuf],
    stow_files: &[PathBuf],
    studies: &[String],
    options: &Options,
) -> anyhow::Result<Measured> {
    progress(format!("{}: C-STORE, one sender", peer.name()));
    let n_single = files(single)?.len() as f64;
    let store_one = n_single
        / c_store(peer, &[single.to_path_buf()], CALLING_AE)
            .await?
            .as_secs_f64();
    progress(format!(
        "{}: C-STORE, {} senders",
        peer.name(),
        parallel.len()
    ));
    let mut n_parallel = 0;
    for group in parallel {
        n_parallel += files(group)?.len();
    }
    let store_many = n_parallel as f64 / c_store(peer, parallel, CALLING_AE).await?.as_secs_f64();
    progress(format!("{}: STOW-RS", peer.name()));
    let stow_rate =
        stow_files.len() as f64 / stow(peer, stow_files, options.senders).await?.as_secs_f64();
    progress(format!("{}: QIDO-RS and WADO-RS", peer.name()));
    let qido_samples = qido(peer, studies, options.searches).await?;
    let wado_rate = wado(peer, &studies[0], 5).await?;
    Ok(Measured {
        store_one,
        store_many,
        stow: stow_rate,
        qido: qido_samples,
        wado: wado_rate,
    })
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let options = check_quick(options);
    if std::env::var_os("FERRY_BENCH_NETNS").is_none() {
        // Into a network namespace with only loopback, where Orthanc's
        // listeners cannot be reached from outside.
        let exe = std::env::current_exe()?;
        let status = tokio::process::Command::new("unshare")
            .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env("FERRY_BENCH_NETNS", "1")
            .status()
            .await
            .context("unshare -n (the imaging benchmark needs root)")?;
        anyhow::ensure!(status.success(), "the isolated run failed");
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let half = options.instances / 2;
    progress(format!("writing {} instances", options.instances * 2));
    let single = work.path().join("single");
    let parallel_root = work.path().join("parallel");
    let stow_root = work.path().join("stow");
    let mut studies = generate(&single, half, 1)?;
    studies.extend(generate(
        &parallel_root,
        options.instances - half,
        options.senders,
    )?);
    studies.extend(generate(&stow_root, options.instances, 1)?);
    let single = single.join("0");
    let parallel: Vec<PathBuf> = (0..options.senders)
        .map(|g| parallel_root.join(g.to_string()))
        .filter(|p| p.exists())
        .collect();
    let stow_files = files(&stow_root)?;

    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    progress("starting Orthanc");
    let orthanc = Orthanc::start(free()?, free()?).await?;
    let theirs = measure(
        &orthanc,
        &single,
        &parallel,
        &stow_files,
        &studies,
        &options,
    )
    .await?;
    let held = orthanc.count().await?;
    anyhow::ensure!(
        held as usize == options.instances * 2,
        "Orthanc holds {held} instances"
    );
    orthanc.stop().await?;

    progress("starting Ferry");
    let ferry = FerryPeer::start().await?;
    let ours = measure(&ferry, &single, &parallel, &stow_files, &studies, &options).await?;
    let held = ferry.count().await?;
    anyhow::ensure!(
        held as usize == options.instances * 2,
        "Ferry holds {held} instances"
    );
    ferry.server.stop().await?;

    let versus = |name: &str, unit, f: f64, p: f64, higher| crate::report::Versus {
        name: name.to_owned(),
        unit,
        ferry: f,
        peer: p,
        higher_is_better: higher,
    };
    let rows = vec![
        versus(
            "C-STORE ingest, one storescu",
            "inst/s",
            ours.store_one,
            theirs.store_one,
            true,
        ),
        versus(
            &format!("C-STORE ingest, {} storescu at once", parallel.len()),
            "inst/s",
            ours.store_many,
            theirs.store_many,
            true,
        ),
        versus(
            &format!(
                "STOW-RS ingest, 50 per request, {} at once",
                options.senders
            ),
            "inst/s",
            ours.stow,
            theirs.stow,
            true,
        ),
        versus(
            "QIDO-RS study search p50",
            "ms",
            ours.qido.quantile_ms(0.5),
            theirs.qido.quantile_ms(0.5),
            false,
        ),
        versus(
            "QIDO-RS study search p99",
            "ms",
            ours.qido.quantile_ms(0.99),
            theirs.qido.quantile_ms(0.99),
            false,
        ),
        versus(
            "WADO-RS whole study retrieve",
            "MB/s",
            ours.wado,
            theirs.wado,
            true,
        ),
    ];
    crate::report::print_versus(
        &format!(
            "imaging: {} instances of 39 KB per door ({} indexed at the end), Ferry on SQLite{}",
            options.instances,
            options.instances * 2,
            if options.quick {
                " (quick: not a measurement)"
            } else {
                ""
            }
        ),
        "Orthanc",
        &rows,
    )?;
    Ok(())
}
