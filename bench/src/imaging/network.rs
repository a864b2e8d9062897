//! The DICOM network benchmark: Ferry beside Orthanc sending images on, in
//! the same run, to the same dcmtk `storescp` (which writes each instance
//! to disk, so a peer is done when every file is there).
//!
//! - C-MOVE of one study (`--instances`, 1,000 by default, of 39 KB CT
//!   slices): dcmtk's `movescu` from a registered modality, timed until its
//!   final response. A first move by each peer goes to the `storescp` that
//!   writes files, and is checked by the files received; the timed ones,
//!   `--rounds` each, in turn, go to a second `storescp` that reads each
//!   instance and writes nothing (`--ignore`), so that the sink's disk is
//!   not what is measured. The median is printed.
//! - Forwarding: a second study of the same size sent by one `storescu`,
//!   timed from its first byte until the last instance has reached the
//!   `storescp`. Ferry forwards by a rule through its outbox; Orthanc by
//!   the Lua auto-routing its manual describes (`OnStoredInstance` calling
//!   `SendToModality`, over an association Orthanc keeps open between
//!   instances).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::ferry::{FerryPeer, CALLING_AE};
use super::workload::{c_store, files, generate, Layout, Peer};
use crate::orthanc::Orthanc;
use crate::report::{progress, Versus};

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Instances in the moved study and in the forwarded one.
    #[arg(long, default_value_t = 1000)]
    instances: usize,
    /// C-MOVEs each peer makes; the median is printed.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A small run that checks the benchmark works, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// The calling AE title whose instances Orthanc's Lua script forwards.
const FORWARDED_AE: &str = "BENCH-FWD";
/// The destinations' AE titles, at both peers: the one writing files, and
/// the one reading and dropping them.
const SINK_AE: &str = "SINK";
const DROP_AE: &str = "DROP-SINK";

/// dcmtk's `storescp` as the destination, writing into a directory the
/// benchmark empties between runs. It forks for each association: Orthanc
/// keeps its association open for a few seconds after forwarding, which
/// would otherwise hold up the next peer's.
struct Sink {
    title: &'static str,
    port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl Sink {
    async fn start(title: &'static str, port: u16, keep: bool) -> anyhow::Result<Sink> {
        let dir = tempfile::tempdir()?;
        let child = tokio::process::Command::new("/usr/bin/storescp")
            .env("TCP_NODELAY", "1")
            .args(["-aet", title, "--fork"])
            .args(if keep { &[][..] } else { &["--ignore"][..] })
            .arg("-od")
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start storescp (apt-get install dcmtk)")?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Sink {
                    title,
                    port,
                    dir,
                    _child: child,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("storescp did not listen on {port}")
    }

    fn received(&self) -> anyhow::Result<usize> {
        Ok(files(self.dir.path())?.len())
    }

    fn empty(&self) -> anyhow::Result<()> {
        for file in files(self.dir.path())? {
            std::fs::remove_file(file)?;
        }
        Ok(())
    }

    /// Waits until `n` instances are in, for at most `limit`.
    async fn wait_for(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.received()?;
            if got >= n {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "storescp received {got} of {n} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One study of `n` instances, in one folder; its Study Instance UID.
fn one_study(dir: &Path, n: usize) -> anyhow::Result<(PathBuf, String)> {
    let layout = Layout {
        per_series: n.div_ceil(4),
        series_per_study: 4,
        tiny: false,
    };
    let uids = generate(dir, n, 1, layout)?;
    anyhow::ensure!(uids.len() == 1, "{} studies written, not one", uids.len());
    let uid = uids.into_iter().next().context("a study")?;
    Ok((dir.join("0"), uid))
}

/// A C-MOVE of study `uid` from `peer` to `sink`; how long it took.
async fn c_move(peer: &dyn Peer, uid: &str, sink: &Sink) -> anyhow::Result<Duration> {
    let (port, called) = peer.dimse();
    let started = Instant::now();
    let out = tokio::process::Command::new("/usr/bin/movescu")
        .env("TCP_NODELAY", "1")
        .args([
            "-v", "-S", "-aet", CALLING_AE, "-aec", called, "-aem", sink.title,
        ])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k"])
        .arg(format!("StudyInstanceUID={uid}"))
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .context("run movescu")?;
    let took = started.elapsed();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        log.contains("Received Final Move Response (Success)"),
        "{}'s C-MOVE did not succeed: {log}",
        peer.name()
    );
    Ok(took)
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

/// Orthanc's Lua auto-routing of what `FORWARDED_AE` sends.
fn lua_script(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("forward.lua");
    std::fs::write(
        &path,
        format!(
            "function OnStoredInstance(instanceId, tags, metadata, origin)\n\
             \x20 if origin['RemoteAet'] == '{FORWARDED_AE}' then\n\
             \x20   SendToModality(instanceId, '{SINK_AE}')\n\
             \x20 end\n\
             end\n"
        ),
    )?;
    Ok(path)
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let mut options = options;
    if options.quick {
        options.instances = options.instances.min(100);
        options.rounds = options.rounds.min(1);
    }
    options.rounds = options.rounds.max(1);
    if crate::orthanc::isolated().await? {
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    progress(format!(
        "writing two studies of {} instances",
        options.instances
    ));
    let (moved, moved_uid) = one_study(&work.path().join("moved"), options.instances)?;
    let (forwarded, _) = one_study(&work.path().join("forwarded"), options.instances)?;

    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let sink = Sink::start(SINK_AE, free()?, true).await?;
    let drop = Sink::start(DROP_AE, free()?, false).await?;
    progress("starting Orthanc and Ferry");
    let script = lua_script(work.path())?;
    let orthanc = Orthanc::start_with(
        free()?,
        free()?,
        serde_json::json!({
            "DicomModalities": {
                SINK_AE: [SINK_AE, "127.0.0.1", sink.port],
                DROP_AE: [DROP_AE, "127.0.0.1", drop.port],
                CALLING_AE: [CALLING_AE, "127.0.0.1", 104],
            },
            "LuaScripts": [script],
        }),
    )
    .await?;
    let ferry = FerryPeer::start(None).await?;
    let ferry_destination = ferry.destination(SINK_AE, sink.port).await?;
    ferry.destination(DROP_AE, drop.port).await?;
    ferry.register_modality(FORWARDED_AE).await?;
    let peers: [&dyn Peer; 2] = [&orthanc, &ferry];
    for peer in peers {
        progress(format!("{}: storing the study to move", peer.name()));
        c_store(peer, std::slice::from_ref(&moved), CALLING_AE).await?;
    }

    for peer in peers {
        progress(format!(
            "{}: C-MOVE, checked by the files received",
            peer.name()
        ));
        sink.empty()?;
        c_move(peer, &moved_uid, &sink).await?;
        let got = sink.received()?;
        anyhow::ensure!(
            got == options.instances,
            "{}'s C-MOVE delivered {got} of {}",
            peer.name(),
            options.instances
        );
    }
    let mut moves: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..options.rounds {
        // Each goes first in every other round.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let peer = peers[i];
            progress(format!("{}: C-MOVE, round {}", peer.name(), round + 1));
            let took = c_move(peer, &moved_uid, &drop).await?;
            moves[i].push(options.instances as f64 / took.as_secs_f64());
        }
    }

    // Ferry's rule is made now, so the moved study (considered on arrival)
    // is not forwarded as well.
    ferry.forward_everything_to(ferry_destination).await?;
    let mut forwarding = [0.0; 2];
    for (i, (peer, calling)) in [(peers[0], FORWARDED_AE), (peers[1], FORWARDED_AE)]
        .into_iter()
        .enumerate()
    {
        progress(format!("{}: forwarding", peer.name()));
        sink.empty()?;
        let started = Instant::now();
        c_store(peer, std::slice::from_ref(&forwarded), calling).await?;
        sink.wait_for(options.instances, Duration::from_secs(600))
            .await?;
        forwarding[i] = options.instances as f64 / started.elapsed().as_secs_f64();
    }
    orthanc.stop().await?;
    ferry.server.stop().await?;

    let [theirs_move, ours_move] = moves.map(median);
    let rows = [
        Versus {
            name: format!(
                "C-MOVE of a {}-instance study to storescp --ignore",
                options.instances
            ),
            unit: "inst/s",
            ferry: ours_move,
            peer: theirs_move,
            higher_is_better: true,
        },
        Versus {
            name: format!(
                "forwarding, one storescu in, storescp out, {} instances",
                options.instances
            ),
            unit: "inst/s",
            ferry: forwarding[1],
            peer: forwarding[0],
            higher_is_better: true,
        },
    ];
    crate::report::print_versus(
        &format!(
            "DICOM network: 39 KB CT instances, Ferry on SQLite, C-MOVE median of {}{}",
            options.rounds,
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
