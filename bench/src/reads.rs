//! The audited-reads benchmark: what the audit trail costs the reads a
//! clinician makes all day, with many clients at once, on SQLite and on
//! PostgreSQL in the same run.
//!
//! Each engine runs the demo consortium twice: as shipped, and with reads
//! leaving no audit event (`Settings::unaudited_reads`, which only this
//! benchmark sets). `--clients` clients at once, for `--seconds` each
//! after a second of warm-up, ask for:
//! - the island clinician's patient (`GET /api/v1/patients/{id}`),
//! - the clinician's consultations (`GET /api/v1/consultations`),
//! - the clinician's QIDO-RS study search (`GET /dicomweb/studies`).
//!
//! Printed: requests per second audited and not, their ratio (goal: at
//! least ½), and the audited p99 beside the 25 ms goal. After the audited
//! run the trail is checked: every answered request has its events, and
//! the chain verifies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::harness::{Engine, Server};
use crate::report::{self, progress, Samples};

const PASSWORD: &str = "bench password 1";
/// What an audited read may take at the 99th percentile.
const GOAL_P99_MS: f64 = 25.0;
/// The share of the unaudited throughput audited reads must keep.
const GOAL_SHARE: f64 = 0.5;

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Clients asking at once.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds each kind of request is timed, per engine and mode.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Administrative URL of the PostgreSQL server to compare with.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Run on SQLite only.
    #[arg(long)]
    no_postgres: bool,
    /// A small run that checks the benchmark works, not a measurement.
    #[arg(long)]
    quick: bool,
}

/// The reads timed, in the order of the table.
const READS: [&str; 3] = ["patient read", "consultation list", "QIDO-RS studies"];

/// What one kind of request measured in one mode.
struct Figure {
    per_second: f64,
    latencies: Samples,
    answered: usize,
}

pub async fn run(mut options: Options) -> anyhow::Result<()> {
    if options.quick {
        options.clients = options.clients.min(8);
        options.seconds = options.seconds.min(1);
    }
    let mut engines = vec![Engine::Sqlite];
    if !options.no_postgres {
        engines.push(Engine::Postgres(options.postgres.clone()));
    }
    let mut rows = Vec::new();
    for engine in &engines {
        let audited = measure(engine, &options, false).await?;
        let unaudited = measure(engine, &options, true).await?;
        for ((name, audited), unaudited) in READS.iter().zip(audited).zip(unaudited) {
            rows.push((engine.label(), *name, audited, unaudited));
        }
    }
    let title = format!(
        "Audited reads: {} clients, {} s each{}",
        options.clients,
        options.seconds,
        if options.quick {
            " (quick: not a measurement)"
        } else {
            ""
        }
    );
    print(&title, &rows)?;
    Ok(())
}

fn print(title: &str, rows: &[(&str, &str, Figure, Figure)]) -> std::io::Result<()> {
    report::note(&format!("\n{title}"))?;
    report::note(&format!(
        "{:<34} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "read", "audited/s", "bare/s", "share", "p50 ms", "p99 ms", "bare p99", "goal x"
    ))?;
    for (engine, name, audited, bare) in rows {
        let share = audited.per_second / bare.per_second;
        let p99 = audited.latencies.quantile_ms(0.99);
        report::note(&format!(
            "{:<34} {:>10.0} {:>10.0} {:>8.2} {:>9.1} {:>9.1} {:>9.1} {:>8.2}",
            format!("{name} ({engine})"),
            audited.per_second,
            bare.per_second,
            share,
            audited.latencies.quantile_ms(0.5),
            p99,
            bare.latencies.quantile_ms(0.99),
            GOAL_P99_MS / p99,
        ))?;
    }
    report::note(&format!(
        "share: audited ÷ unaudited throughput (goal ≥ {GOAL_SHARE}); goal x: the {GOAL_P99_MS} ms \
         p99 goal ÷ the audited p99 (above 1: within it)"
    ))
}

/// The three reads on `engine`, audited or not.
async fn measure(
    engine: &Engine,
    options: &Options,
    unaudited: bool,
) -> anyhow::Result<Vec<Figure>> {
    let mode = if unaudited { "unaudited" } else { "audited" };
    progress(format!("{} ({mode}): starting the demo", engine.label()));
    let server = Server::start_configured(
        engine,
        false,
        |settings| {
            settings.unaudited_reads = unaudited;
            // As many connections as a node would give this many clients.
            settings.database_max_connections = 16;
        },
        Some(PASSWORD),
    )
    .await?;
    let token = server.login("demo-clinician", PASSWORD).await?;
    let (status, consultations) = server.get(&token, "/api/v1/consultations").await?;
    anyhow::ensure!(status == 200, "consultations: {status} {consultations}");
    let patient = consultations
        .as_array()
        .and_then(|all| all.iter().find_map(|c| c["patient_id"].as_i64()))
        .context("the demo clinician sees no consultation")?;
    let paths = [
        format!("/api/v1/patients/{patient}"),
        "/api/v1/consultations".to_owned(),
        "/dicomweb/studies".to_owned(),
    ];
    let mut figures = Vec::new();
    for (path, name) in paths.iter().zip(READS) {
        progress(format!("{} ({mode}): {name}", engine.label()));
        let events_before = events(&server).await?;
        let figure = load(&server, &token, path, options).await?;
        if !unaudited {
            let written = events(&server).await? - events_before;
            anyhow::ensure!(
                written >= figure.answered as i64,
                "{name}: {} answered requests left only {written} audit events",
                figure.answered
            );
        } else {
            anyhow::ensure!(
                events(&server).await? == events_before,
                "{name}: unaudited reads left audit events"
            );
        }
        figures.push(figure);
    }
    if !unaudited {
        let verdict = ferry_server::audit::chain::verify(server.db.pool()).await?;
        anyhow::ensure!(
            matches!(verdict, ferry_server::audit::chain::Verdict::Intact { .. }),
            "the audit chain after the run: {verdict:?}"
        );
    }
    server.stop().await?;
    Ok(figures)
}

async fn events(server: &Server) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_event")
        .fetch_one(server.db.pool())
        .await?)
}

/// `options.clients` clients asking for `path` for a second of warm-up,
/// then for `options.seconds`, timed.
async fn load(
    server: &Server,
    token: &str,
    path: &str,
    options: &Options,
) -> anyhow::Result<Figure> {
    let url = Arc::new(server.url(path));
    let token = Arc::new(token.to_owned());
    let warm_up = Duration::from_secs(1);
    let timed = Duration::from_secs(options.seconds);
    let started = Instant::now();
    let timed_from = started + warm_up;
    let until = timed_from + timed;
    let mut clients = Vec::new();
    for _ in 0..options.clients {
        let client = server.client.clone();
        let url = url.clone();
        let token = token.clone();
        clients.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut answered = 0usize;
            loop {
                let asked = Instant::now();
                if asked >= until {
                    break;
                }
                let response = client
                    .get(url.as_str())
                    .bearer_auth(token.as_str())
                    .header("Accept", "application/json, application/dicom+json")
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let body = response.bytes().await?;
                anyhow::ensure!(
                    status == 200,
                    "GET {url} gave {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                answered += 1;
                if asked >= timed_from {
                    samples.push(asked.elapsed());
                }
            }
            Ok::<_, anyhow::Error>((samples, answered))
        }));
    }
    let mut latencies = Samples::default();
    let mut answered = 0;
    for client in clients {
        let (samples, count) = client.await??;
        latencies.extend(samples);
        answered += count;
    }
    let timed_count = latencies.count();
    Ok(Figure {
        per_second: timed_count as f64 / timed.as_secs_f64(),
        latencies,
        answered,
    })
}
