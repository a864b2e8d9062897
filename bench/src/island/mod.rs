//! The island-link benchmark: the web client's page loads as an island
//! clinician sees them, over 1 Mbit/s each way with a 400 ms round trip.
//!
//! The server is the real `ferry serve --demo` as a child process (the
//! `ferry` binary beside this one, or `--ferry`), so the same benchmark
//! measures an older build too: that is how `BENCHMARKS.md`'s "before"
//! was taken. The browser is Debian's Chromium driven by playwright-core
//! (`loads.cjs` beside this file); the link is Chromium's own network
//! emulation (`Network.emulateNetworkConditions`), since this kernel has no
//! `netem`. It adds the latency to each request and meters the bytes as
//! they arrive, compressed or not, so compression, caching and the number
//! of requests in a row all show in the times.
//!
//! Each round is a new browser (an empty cache) that loads, in turn, the
//! sign-in page, the home page after signing in, the patient's page from
//! there (in the app, as a clinician goes); then, as the clinician coming
//! back the next day (signed out, the browser's cache as the first visit
//! left it), the sign-in page and the home again; then, in new tabs, the
//! page of the demo patient 王秀英 and the viewer of her head CT; last, still
//! signed in, the home in a new tab once the browser's cache is emptied, as
//! on the first day of a new version of the client.
//!
//! Each round runs over HTTPS (`tls_certificate`, so HTTP/2: one connection,
//! every request at once), the way clinics reach Ferry since a browser gives
//! the camera only to a secure context, and over plain HTTP/1.1 (six
//! connections, a round trip per request on each), a front end that does
//! not speak HTTP/2. Each HTTPS figure is printed beside the HTTP/1.1 one,
//! the same load on loopback (no emulation, same run), and the link's floor
//! for it: the bytes that load moved at the link's rate, plus the round
//! trips no client could save (see [`Load::round_trips`]).
//!
//! Then, over plain HTTP/1.1 through a shaping proxy ([`link`]: the rate,
//! the round trip and 1% loss), a clinic uploads a CT as the web client does
//! ([`upload`]), gzipped and not, each beside the link's floor for the bytes
//! it moved.

mod link;
mod upload;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use crate::report::{note, progress};

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// The `ferry` binary to serve the demo (default: the one beside this
    /// benchmark, so `cargo build --release --bin ferry` first).
    #[arg(long)]
    ferry: Option<PathBuf>,
    /// Rounds of each pass (emulated and loopback); the median is printed.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Link rate each way, bits per second.
    #[arg(long, default_value_t = 1_000_000)]
    rate: u64,
    /// Round trip of the link, milliseconds.
    #[arg(long, default_value_t = 400)]
    rtt: u64,
    /// Share of segments the upload's link loses.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Instances of the CT each upload sends.
    #[arg(long, default_value_t = 100)]
    instances: usize,
    /// A small run that checks the benchmark works, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// Uploads of each kind, one per round.
#[derive(Default)]
struct Uploads {
    gzipped: Vec<upload::Upload>,
    plain: Vec<upload::Upload>,
}

/// How the browser reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// HTTPS, where Chromium speaks HTTP/2.
    Https,
    /// Plain HTTP/1.1.
    Http1,
}

const PASSWORD: &str = "bench-island-password-1";

/// What the island clinicians were promised: these loads under 2 s.
const GOAL_MS: f64 = 2000.0;

/// The loads `loads.cjs` reports, in the order printed.
#[derive(Debug, Clone, Copy)]
enum Load {
    SignInPage,
    SignedInHome,
    FirstVisit,
    PatientInApp,
    ReturningSignInPage,
    ReturningSignedInHome,
    ReturningVisit,
    Patient,
    Viewer,
    NewVersionHome,
}

impl Load {
    const ALL: [Load; 10] = [
        Load::SignInPage,
        Load::SignedInHome,
        Load::FirstVisit,
        Load::PatientInApp,
        Load::ReturningSignInPage,
        Load::ReturningSignedInHome,
        Load::ReturningVisit,
        Load::Patient,
        Load::Viewer,
        Load::NewVersionHome,
    ];

    fn key(self) -> &'static str {
        match self {
            Load::SignInPage => "sign_in_page",
            Load::SignedInHome => "signed_in_home",
            Load::FirstVisit => "first_load",
            Load::PatientInApp => "patient_in_app",
            Load::ReturningSignInPage => "returning_sign_in_page",
            Load::ReturningSignedInHome => "returning_signed_in_home",
            Load::ReturningVisit => "returning_load",
            Load::Patient => "patient",
            Load::Viewer => "viewer",
            Load::NewVersionHome => "new_version_home",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Load::SignInPage => "first visit: sign-in page usable",
            Load::SignedInHome => "first visit: sign-in to home loaded",
            Load::FirstVisit => "first visit: to a usable home",
            Load::PatientInApp => "patient page, from the home",
            Load::ReturningSignInPage => "returning: sign-in page usable",
            Load::ReturningSignedInHome => "returning: sign-in to home loaded",
            Load::ReturningVisit => "returning: to a usable home",
            Load::Patient => "patient page, new tab (returning)",
            Load::Viewer => "viewer, first image (returning)",
            Load::NewVersionHome => "new version, signed in: home",
        }
    }

    /// Round trips in a row that no client could save: the page, then its
    /// code, or, for a returning clinician whose browser holds the code,
    /// the session check; the sign-in, then the home's data; in the app,
    /// the patient's data; in a new tab, the page, then the patient's data,
    /// or the study's metadata and then a frame; on a new version, the page,
    /// then its code, the session check and the home's data at once.
    fn round_trips(self) -> u32 {
        match self {
            Load::PatientInApp => 1,
            Load::SignInPage
            | Load::SignedInHome
            | Load::ReturningSignInPage
            | Load::ReturningSignedInHome
            | Load::Patient
            | Load::NewVersionHome => 2,
            Load::Viewer => 3,
            Load::FirstVisit | Load::ReturningVisit => 4,
        }
    }

    /// The goal is for each wait a clinician sits through: a page until it
    /// can be used, and the home once she has signed in. The two visits
    /// (page, sign-in, home) are their sum with her typing left out; no
    /// client can bring those under 2 s over this link (4 round trips and
    /// the code: see their floor), so they are printed without one.
    fn goal(self) -> Option<f64> {
        matches!(
            self,
            Load::SignInPage
                | Load::SignedInHome
                | Load::ReturningSignInPage
                | Load::ReturningSignedInHome
                | Load::PatientInApp
                | Load::Patient
                | Load::NewVersionHome
        )
        .then_some(GOAL_MS)
    }
}

/// One load's figures, from `loads.cjs`.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    ms: f64,
    bytes: f64,
    requests: f64,
    from_cache: f64,
}

impl Figures {
    fn from(value: &Value) -> anyhow::Result<Figures> {
        let number = |key: &str| {
            value[key]
                .as_f64()
                .with_context(|| format!("no {key} in {value}"))
        };
        Ok(Figures {
            ms: number("ms")?,
            bytes: number("bytes")?,
            requests: number("requests")?,
            from_cache: number("from_cache")?,
        })
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let rounds = if options.quick {
        1
    } else {
        options.rounds.max(1)
    };
    let ferry = match &options.ferry {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark's directory")?
            .join("ferry"),
    };
    let link =
        json!({ "latency_ms": options.rtt, "down_bps": options.rate, "up_bps": options.rate });
    let mut island = Vec::new();
    let mut loopback = Vec::new();
    let mut http1 = Vec::new();
    let mut uploads = Uploads::default();
    let shape = link::Shape {
        rate_bps: options.rate,
        round_trip: Duration::from_millis(options.rtt),
        loss: options.loss,
    };
    let instances = if options.quick {
        options.instances.min(10)
    } else {
        options.instances
    };
    let parallel = upload::parallel_of_web_client()?;
    for transport in [Transport::Https, Transport::Http1] {
        let server = Demo::start(&ferry, transport).await?;
        let outcome = async {
            let (patient, study) = server.patient_and_study().await?;
            for round in 1..=rounds {
                match transport {
                    Transport::Https => {
                        progress(format_args!("round {round}/{rounds}: island link, HTTPS"));
                        island.push(server.loads(patient, &study, &link).await?);
                        progress(format_args!("round {round}/{rounds}: loopback, HTTPS"));
                        loopback.push(server.loads(patient, &study, &Value::Null).await?);
                    }
                    Transport::Http1 => {
                        progress(format_args!(
                            "round {round}/{rounds}: island link, HTTP/1.1"
                        ));
                        http1.push(server.loads(patient, &study, &link).await?);
                        let token = server.sign_in().await?;
                        for (gzip, done) in
                            [(true, &mut uploads.gzipped), (false, &mut uploads.plain)]
                        {
                            progress(format_args!(
                                "round {round}/{rounds}: uploading {instances} instances{}",
                                if gzip { ", gzipped" } else { "" }
                            ));
                            let files = tempfile::tempdir()?;
                            crate::imaging::workload::generate(
                                files.path(),
                                instances,
                                1,
                                crate::imaging::workload::CT_STUDIES,
                            )?;
                            let files = crate::imaging::workload::files(files.path())?;
                            done.push(
                                upload::upload(
                                    server.addr()?,
                                    &token,
                                    &files,
                                    shape,
                                    parallel,
                                    gzip,
                                )
                                .await?,
                            );
                        }
                    }
                }
            }
            anyhow::Ok(())
        }
        .await;
        server.stop().await;
        outcome?;
    }
    report(&options, rounds, &island, &http1, &loopback)?;
    report_uploads(&shape, instances, parallel, &uploads)
}

/// What the uploads printed beside their floors; the goal is 1.2 × floor.
fn report_uploads(
    shape: &link::Shape,
    instances: usize,
    parallel: usize,
    uploads: &Uploads,
) -> anyhow::Result<()> {
    let mut out = vec![
        format!(
            "\nIsland upload: a {instances}-instance CT by STOW-RS, one instance per request, {parallel} at once \
             as the web client, HTTP/1.1 over {} Mbit/s each way, {} ms round trip, {}% loss (shaping proxy); median",
            shape.rate_bps as f64 / 1e6,
            shape.round_trip.as_millis(),
            shape.loss * 100.0
        ),
        format!(
            "{:<24} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6}",
            "upload", "s", "files KB", "wire KB", "floor s", "x floor", "goal"
        ),
    ];
    for (name, done) in [
        ("gzipped (as the client)", &uploads.gzipped),
        ("plain", &uploads.plain),
    ] {
        let mut sorted: Vec<&upload::Upload> = done.iter().collect();
        sorted.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        let Some(median) = sorted.get(sorted.len() / 2) else {
            anyhow::bail!("no {name} upload was measured");
        };
        let floor = median.floor_seconds(shape);
        out.push(format!(
            "{:<24} {:>9.1} {:>9.0} {:>9.0} {:>9.1} {:>8.2} {:>6}",
            name,
            median.seconds,
            median.files as f64 / 1024.0,
            median.up as f64 / 1024.0,
            floor,
            median.seconds / floor,
            "1.2",
        ));
    }
    out.push(
        "floor: the bytes that crossed the link (requests and answers, the busier way) at its rate"
            .to_owned(),
    );
    for line in out {
        note(&line)?;
    }
    Ok(())
}

fn report(
    options: &Options,
    rounds: usize,
    island: &[Value],
    http1: &[Value],
    loopback: &[Value],
) -> anyhow::Result<()> {
    // Over HTTPS the browser must have spoken HTTP/2, or the figures are
    // not what they say.
    for round in island {
        for load in Load::ALL {
            let protocols = &round[load.key()]["protocols"];
            anyhow::ensure!(
                protocols
                    .as_array()
                    .is_some_and(|list| list.iter().all(|p| p == "h2")),
                "{}: over HTTPS the browser spoke {protocols}, not only h2",
                load.label()
            );
        }
    }
    let bytes_per_ms = options.rate as f64 / 8.0 / 1000.0;
    let mut out = vec![
        format!(
            "\nIsland link: {} Mbit/s each way, {} ms round trip (Chromium's emulation); median of {rounds}",
            options.rate as f64 / 1e6,
            options.rtt
        ),
        format!(
            "{:<36} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>9}  {}",
            "load (ms)",
            "HTTPS/h2",
            "HTTP/1.1",
            "floor",
            "x floor",
            "loopback",
            "goal",
            "KB wire",
            "requests (HTTPS)"
        ),
    ];
    for load in Load::ALL {
        let on_link = median(island, load, |f| f.ms)?;
        let bytes = median(island, load, |f| f.bytes)?;
        let requests = median(island, load, |f| f.requests)?;
        let cached = median(island, load, |f| f.from_cache)?;
        let floor = bytes / bytes_per_ms + f64::from(load.round_trips()) * options.rtt as f64;
        let goal = load
            .goal()
            .map_or_else(|| "-".to_owned(), |g| format!("{g:.0}"));
        out.push(format!(
            "{:<36} {:>9.0} {:>9.0} {:>9.0} {:>8.2} {:>9.0} {:>7} {:>9.1}  {requests:.0} ({cached:.0} from cache)",
            load.label(),
            on_link,
            median(http1, load, |f| f.ms)?,
            floor,
            on_link / floor,
            median(loopback, load, |f| f.ms)?,
            goal,
            bytes / 1024.0,
        ));
    }
    out.push(format!(
        "floor: the load's own bytes at the link's rate plus its round trips in a row \
         (sign-in page 2, home 2, to a usable home 4, patient from the home 1, in a new tab 2, \
         viewer 3, new version's home 2) at {} ms",
        options.rtt
    ));
    for line in out {
        note(&line)?;
    }
    Ok(())
}

/// The median of one figure of one load over the rounds.
fn median(rounds: &[Value], load: Load, pick: impl Fn(Figures) -> f64) -> anyhow::Result<f64> {
    let mut values = rounds
        .iter()
        .map(|r| Figures::from(&r[load.key()]).map(&pick))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    values.sort_by(f64::total_cmp);
    values
        .get(values.len() / 2)
        .copied()
        .context("no rounds measured")
}

/// `ferry serve --demo` in a directory of its own, on a free port.
struct Demo {
    base: String,
    /// Over HTTPS, the base64 SHA-256 of the certificate's public key, for
    /// Chromium to trust.
    spki: Option<String>,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Demo {
    async fn start(ferry: &Path, transport: Transport) -> anyhow::Result<Demo> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = tokio::process::Command::new(ferry);
        let (scheme, spki) = match transport {
            Transport::Http1 => ("http", None),
            Transport::Https => {
                let (certificate, key, spki) = self_signed(dir.path()).await?;
                command
                    .env("FERRY_TLS_CERTIFICATE", certificate)
                    .env("FERRY_TLS_PRIVATE_KEY", key);
                ("https", Some(spki))
            }
        };
        let child = command
            .args(["serve", "--demo", "--demo-password", PASSWORD])
            .current_dir(dir.path())
            .env("FERRY_LISTEN", format!("127.0.0.1:{port}"))
            .env("FERRY_DIMSE_LISTEN", "off")
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "start {} (cargo build --release --bin ferry, or --ferry)",
                    ferry.display()
                )
            })?;
        let demo = Demo {
            base: format!("{scheme}://127.0.0.1:{port}"),
            spki,
            child,
            _dir: dir,
            client: reqwest::Client::builder()
                .cookie_store(true)
                // The certificate made for this run, on loopback only.
                .danger_accept_invalid_certs(true)
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        // It serves once the demo's data and studies are in.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = demo
                .client
                .get(format!("{}/healthz", demo.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(demo);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not answer /healthz",
                ferry.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The demo patient 王秀英 (DJ-0001) and her head CT.
    async fn patient_and_study(&self) -> anyhow::Result<(i64, String)> {
        self.sign_in().await?;
        let get = |path: String| async move {
            let answer: Value = self
                .client
                .get(format!("{}/api/v1{path}", self.base))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok(answer)
        };
        let found = get("/patients?q=DJ-0001".to_owned()).await?;
        let patient = found[0]["id"]
            .as_i64()
            .with_context(|| format!("no demo patient DJ-0001: {found}"))?;
        let studies = get(format!("/patients/{patient}/studies")).await?;
        let study = studies
            .as_array()
            .and_then(|list| list.iter().find_map(|s| s["study_instance_uid"].as_str()))
            .with_context(|| format!("no demo study of DJ-0001: {studies}"))?;
        Ok((patient, study.to_owned()))
    }

    /// One round of `loads.cjs` in a new browser.
    async fn loads(&self, patient: i64, study: &str, link: &Value) -> anyhow::Result<Value> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/island/loads.cjs");
        let args = json!({
            "base": self.base,
            "username": "demo-clinician",
            "password": PASSWORD,
            "patient": patient,
            "study": study,
            "link": link,
            "spki": self.spki,
        });
        let output = tokio::process::Command::new("node")
            .arg(&script)
            .arg(args.to_string())
            .env("NODE_PATH", node_path())
            .kill_on_drop(true)
            .output()
            .await
            .context(
                "run node (tools/install-test-tools test: nodejs, chromium, playwright-core)",
            )?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let answer: Value = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line).ok())
            .with_context(|| {
                format!(
                    "no answer from loads.cjs: {stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        anyhow::ensure!(answer["ok"] == true, "loads.cjs: {}", answer["error"]);
        Ok(answer["loads"].clone())
    }

    /// The server's socket address, for the shaping proxy to reach.
    fn addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        let authority = self
            .base
            .split_once("://")
            .map(|(_, rest)| rest)
            .context("the server's address")?;
        Ok(authority.parse()?)
    }

    /// Signs the demo clinician in (the session cookie stays with
    /// `client`) and returns the session's bearer token, for API clients.
    async fn sign_in(&self) -> anyhow::Result<String> {
        let answer: Value = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "username": "demo-clinician", "password": PASSWORD }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no token at the demo sign-in: {answer}"))
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, made with openssl
/// in `dir` (the files `tls_certificate` and `tls_private_key` name), and
/// the base64 SHA-256 of its public key.
async fn self_signed(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, String)> {
    let (certificate, key) = (dir.join("ferry.crt"), dir.join("ferry.key"));
    let made = tokio::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output()
        .await
        .context("run openssl")?;
    anyhow::ensure!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let spki = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(
            "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64",
        )
        .arg("spki")
        .arg(&certificate)
        .output()
        .await
        .context("run openssl")?;
    let hash = String::from_utf8_lossy(&spki.stdout).trim().to_owned();
    anyhow::ensure!(
        spki.status.success() && hash.len() == 44,
        "the certificate's key hash: {}",
        String::from_utf8_lossy(&spki.stderr)
    );
    Ok((certificate, key, hash))
}

/// Where `tools/install-test-tools` puts playwright-core, unless `NODE_PATH`
/// says otherwise.
fn node_path() -> std::ffi::OsString {
    std::env::var_os("NODE_PATH").unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home)
            .join(".cache/ferry-node/node_modules")
            .into_os_string()
    })
}
