//! The imaging benchmark: Ferry beside Orthanc on the same files, in the same
//! run, both durable, both with TCP_NODELAY. Both servers run throughout, and
//! each step below is taken by one right after the other.
//!
//! - Ingest by C-STORE as the index grows: with `--index-size N`, each peer
//!   is loaded with N small instances in `--steps` stages (four `storescu` at
//!   once), and before each stage and after the last a probe of full-size
//!   instances is timed through one `storescu`.
//! - Ingest by C-STORE: dcmtk's `storescu`, one sender and `--senders` at once.
//! - Ingest by STOW-RS: batches of 50 instances, `--senders` requests at once.
//! - QIDO-RS study search latency (p50, p99) once both hold every instance.
//! - WADO-RS retrieval of a whole study, MB/s, also beside the same answer
//!   served as a static file (see [`floor`]).
//!
//! With `--store several-node` both run as a consortium of several nodes
//! would run them: PostgreSQL indexes and, for Ferry, an S3 bucket (see
//! [`several`]).
//!
//! Orthanc 1.10 cannot listen on loopback only, so the whole benchmark runs in
//! a network namespace of its own that has nothing but `lo` (it re-executes
//! itself under `unshare -n`; that needs root).

mod ferry;
mod floor;
pub mod network;
mod several;
pub(crate) mod workload;

use std::path::{Path, PathBuf};

use clap::Args;

use crate::orthanc::Orthanc;
use crate::report::{progress, Samples, Versus};
use ferry::{FerryPeer, CALLING_AE};
use workload::{c_store, files, generate, qido, stow, wado, Peer, CT_STUDIES, SMALL_STUDIES};

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
    /// Small instances loaded before the other figures are taken, to measure
    /// ingest as the index grows and searches over a large index.
    #[arg(long, default_value_t = 0)]
    index_size: usize,
    /// Stages in which `--index-size` is loaded, with an ingest probe before
    /// each and after the last.
    #[arg(long, default_value_t = 4)]
    steps: usize,
    /// Full-size instances in each ingest probe.
    #[arg(long, default_value_t = 200)]
    probe: usize,
    /// Where both peers keep their index and files.
    #[arg(long, value_enum, default_value_t = Store::Local)]
    store: Store,
    /// A small run that checks the benchmark works, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// Where both peers keep their index and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// SQLite indexes and files on the local disk.
    Local,
    /// PostgreSQL indexes (Orthanc's through Debian's orthanc-postgresql),
    /// Ferry's files in an S3 bucket (s3s-fs), Orthanc's on the local disk.
    SeveralNode,
}

impl Store {
    fn described(self) -> &'static str {
        match self {
            Store::Local => "both on SQLite, files on the local disk",
            Store::SeveralNode => {
                "both indexed in PostgreSQL (Orthanc by orthanc-postgresql), \
                 Ferry's files in S3 (s3s-fs), Orthanc's on the local disk"
            }
        }
    }
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
        options.index_size = 100;
        options.steps = options.steps.clamp(1, 2);
        options.probe = options.probe.min(20);
    }
    options.steps = options.steps.max(1);
    options
}

/// The generated files, shared by both peers.
struct Files {
    /// Per stage: the probe (one folder) and the load (a folder per sender).
    stages: Vec<(PathBuf, Vec<PathBuf>)>,
    /// The final probe.
    last_probe: PathBuf,
    single: PathBuf,
    parallel: Vec<PathBuf>,
    stow: Vec<PathBuf>,
    /// Study UIDs of the CT-like studies, for the searches and retrievals.
    studies: Vec<String>,
    /// Every instance the run sends.
    total: usize,
}

fn subfolders(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|g| root.join(g.to_string()))
        .filter(|p| p.exists())
        .collect()
}

fn write_files(work: &Path, options: &Options) -> anyhow::Result<Files> {
    let mut total = 0;
    let mut stages = Vec::new();
    if options.index_size > 0 {
        let per_stage = options.index_size / options.steps;
        progress(format!(
            "writing {} small instances in {} stages and {} probes of {}",
            per_stage * options.steps,
            options.steps,
            options.steps + 1,
            options.probe
        ));
        for stage in 0..options.steps {
            let probe = work.join(format!("probe-{stage}"));
            generate(&probe, options.probe, 1, CT_STUDIES)?;
            let load = work.join(format!("load-{stage}"));
            generate(&load, per_stage, options.senders, SMALL_STUDIES)?;
            stages.push((probe.join("0"), subfolders(&load, options.senders)));
            total += options.probe + per_stage;
        }
    }
    let last_probe = work.join("probe-last");
    if options.index_size > 0 {
        generate(&last_probe, options.probe, 1, CT_STUDIES)?;
        total += options.probe;
    }

    progress(format!("writing {} instances", options.instances * 2));
    let half = options.instances / 2;
    let single = work.join("single");
    let parallel_root = work.join("parallel");
    let stow_root = work.join("stow");
    let mut studies = generate(&single, half, 1, CT_STUDIES)?;
    studies.extend(generate(
        &parallel_root,
        options.instances - half,
        options.senders,
        CT_STUDIES,
    )?);
    studies.extend(generate(&stow_root, options.instances, 1, CT_STUDIES)?);
    total += options.instances * 2;
    Ok(Files {
        stages,
        last_probe: last_probe.join("0"),
        single: single.join("0"),
        parallel: subfolders(&parallel_root, options.senders),
        stow: files(&stow_root)?,
        studies,
        total,
    })
}

/// What one side measured.
#[derive(Default)]
struct Measured {
    /// Index size (instances) and one `storescu`'s rate there.
    growth: Vec<(usize, f64)>,
    /// Index size at the start of a load stage and the load's rate.
    loading: Vec<(usize, f64)>,
    store_one: f64,
    store_many: f64,
    stow: f64,
    qido: Samples,
    wado: f64,
}

async fn rate(peer: &dyn Peer, groups: &[PathBuf]) -> anyhow::Result<f64> {
    let mut n = 0;
    for group in groups {
        n += files(group)?.len();
    }
    Ok(n as f64 / c_store(peer, groups, CALLING_AE).await?.as_secs_f64())
}

/// The peers in the order they take the next step, counted in `step`: each
/// goes first in every other step, so neither is always the one that runs
/// after the other's load.
fn in_turn<'a>(
    peers: &'a [&'a dyn Peer],
    measured: &'a mut [Measured],
    step: &mut usize,
) -> Vec<(&'a dyn Peer, &'a mut Measured)> {
    let mut pairs: Vec<_> = peers.iter().copied().zip(measured.iter_mut()).collect();
    if *step % 2 == 1 {
        pairs.reverse();
    }
    *step += 1;
    pairs
}

/// Measures every peer step by step: each step (a probe, a load stage, a
/// door, the searches, the retrieval) is taken by one peer right after the
/// other, so both meet the machine at the same pace. Measured one peer after
/// the other, a run of minutes each, the ratios moved with the machine: on a
/// shared 2-core VM Orthanc's one-sender rate ranged from 141 to 266 per
/// second within one run.
async fn measure(
    peers: &[&dyn Peer],
    files: &Files,
    options: &Options,
) -> anyhow::Result<Vec<Measured>> {
    let mut measured: Vec<Measured> = peers.iter().map(|_| Measured::default()).collect();
    let mut step = 0;
    let mut held = 0;
    for (probe, load) in &files.stages {
        for (peer, m) in in_turn(peers, &mut measured, &mut step) {
            progress(format!("{}: probe at {held} instances", peer.name()));
            m.growth
                .push((held, rate(peer, std::slice::from_ref(probe)).await?));
        }
        held += options.probe;
        for (peer, m) in in_turn(peers, &mut measured, &mut step) {
            progress(format!("{}: loading from {held} instances", peer.name()));
            m.loading.push((held, rate(peer, load).await?));
        }
        for group in load {
            held += files_in(group)?;
        }
    }
    if !files.stages.is_empty() {
        for (peer, m) in in_turn(peers, &mut measured, &mut step) {
            progress(format!("{}: probe at {held} instances", peer.name()));
            let last = std::slice::from_ref(&files.last_probe);
            m.growth.push((held, rate(peer, last).await?));
        }
    }

    for (peer, m) in in_turn(peers, &mut measured, &mut step) {
        progress(format!("{}: C-STORE, one sender", peer.name()));
        m.store_one = rate(peer, std::slice::from_ref(&files.single)).await?;
    }
    for (peer, m) in in_turn(peers, &mut measured, &mut step) {
        progress(format!(
            "{}: C-STORE, {} senders",
            peer.name(),
            files.parallel.len()
        ));
        m.store_many = rate(peer, &files.parallel).await?;
    }
    for (peer, m) in in_turn(peers, &mut measured, &mut step) {
        progress(format!("{}: STOW-RS", peer.name()));
        m.stow = files.stow.len() as f64
            / stow(peer, &files.stow, options.senders)
                .await?
                .as_secs_f64();
    }
    for (peer, m) in in_turn(peers, &mut measured, &mut step) {
        progress(format!("{}: QIDO-RS and WADO-RS", peer.name()));
        m.qido = qido(peer, &files.studies, options.searches).await?;
        m.wado = wado(peer, &files.studies[0], 5).await?;
    }
    Ok(measured)
}

fn files_in(dir: &Path) -> anyhow::Result<usize> {
    Ok(files(dir)?.len())
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let options = check_quick(options);
    if crate::orthanc::isolated().await? {
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let files = write_files(work.path(), &options)?;

    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    progress(format!(
        "starting Orthanc and Ferry, {}",
        options.store.described()
    ));
    let several = match options.store {
        Store::Local => None,
        Store::SeveralNode => Some(several::SeveralNode::start(free).await?),
    };
    let orthanc = match &several {
        None => Orthanc::start(free()?, free()?).await?,
        Some(several) => Orthanc::start_with(free()?, free()?, several.orthanc()).await?,
    };
    let ferry = FerryPeer::start(several.as_ref()).await?;
    let mut measured = measure(&[&orthanc, &ferry], &files, &options).await?;
    let (retrieval, static_file) = against_floor(&ferry, &files.studies[0], work.path()).await?;
    for (name, held) in [
        ("Orthanc", orthanc.count().await?),
        ("Ferry", ferry.count().await?),
    ] {
        anyhow::ensure!(
            held as usize == files.total,
            "{name} holds {held} instances, not {}",
            files.total
        );
    }
    orthanc.stop().await?;
    ferry.server.stop().await?;
    if let Some(several) = several {
        several.postgres.stop().await?;
    }

    let (Some(ours), Some(theirs)) = (measured.pop(), measured.pop()) else {
        anyhow::bail!("a peer measured nothing");
    };
    print(&options, &files, &ours, &theirs)?;
    crate::report::print_versus(
        "WADO-RS whole study beside the same answer served as a static file (goal: 0.80 of it)",
        "static file",
        &[Versus {
            name: "whole study retrieve, 10 in a row, best of 7".into(),
            unit: "MB/s",
            ferry: retrieval,
            peer: static_file,
            higher_is_better: true,
        }],
    )?;
    Ok(())
}

/// Ferry's whole-study retrieval and the static file's, each the best of
/// TURNS turns of ROUNDS retrievals in a row, taken alternately: the machine's
/// noise only ever slows a turn, so the best turn is the truest.
async fn against_floor(ferry: &FerryPeer, study: &str, dir: &Path) -> anyhow::Result<(f64, f64)> {
    const ROUNDS: usize = 10;
    const TURNS: usize = 7;
    progress("Ferry: WADO-RS beside a static file of its answer");
    let floor = floor::StaticFloor::of(ferry, study, dir).await?;
    let (mut ours, mut file) = (0f64, 0f64);
    for _ in 0..TURNS {
        ours = ours.max(wado(ferry, study, ROUNDS).await?);
        file = file.max(wado(&floor, study, ROUNDS).await?);
    }
    floor.stop();
    Ok((ours, file))
}

fn print(
    options: &Options,
    files: &Files,
    ours: &Measured,
    theirs: &Measured,
) -> anyhow::Result<()> {
    let versus = |name: String, unit, ferry: f64, peer: f64, higher| Versus {
        name,
        unit,
        ferry,
        peer,
        higher_is_better: higher,
    };
    let mut rows = Vec::new();
    for ((held, f), (_, o)) in ours.growth.iter().zip(&theirs.growth) {
        rows.push(versus(
            format!("C-STORE, one storescu, index at {held}"),
            "inst/s",
            *f,
            *o,
            true,
        ));
    }
    for ((held, f), (_, o)) in ours.loading.iter().zip(&theirs.loading) {
        rows.push(versus(
            format!("C-STORE small, {} storescu, from {held}", options.senders),
            "inst/s",
            *f,
            *o,
            true,
        ));
    }
    let at = files.total - 2 * options.instances;
    rows.extend([
        versus(
            format!("C-STORE ingest, one storescu, index at {at}"),
            "inst/s",
            ours.store_one,
            theirs.store_one,
            true,
        ),
        versus(
            format!("C-STORE ingest, {} storescu at once", files.parallel.len()),
            "inst/s",
            ours.store_many,
            theirs.store_many,
            true,
        ),
        versus(
            format!(
                "STOW-RS ingest, 50 per request, {} at once",
                options.senders
            ),
            "inst/s",
            ours.stow,
            theirs.stow,
            true,
        ),
        versus(
            "QIDO-RS study search p50".into(),
            "ms",
            ours.qido.quantile_ms(0.5),
            theirs.qido.quantile_ms(0.5),
            false,
        ),
        versus(
            "QIDO-RS study search p99".into(),
            "ms",
            ours.qido.quantile_ms(0.99),
            theirs.qido.quantile_ms(0.99),
            false,
        ),
        versus(
            "WADO-RS whole study retrieve".into(),
            "MB/s",
            ours.wado,
            theirs.wado,
            true,
        ),
    ]);
    crate::report::print_versus(
        &format!(
            "imaging: {} instances indexed at the end ({} small, the rest 39 KB CT), \
             {}{}",
            files.total,
            options.index_size / options.steps * options.steps,
            options.store.described(),
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
