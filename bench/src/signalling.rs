//! Signalling under load: many two-person rooms at once, each exchanging
//! offers and answers through Ferry's `/signal/{consultation}` (admission,
//! audit, rooms, limits and all), next to a bare tokio-tungstenite relay that
//! only forwards text frames between the two sockets of a room: the floor any
//! WebSocket relay on this machine stands on.
//!
//! Figures: relay latency p50/p99 (one message from one side's send to the
//! other side's receipt, clients in this process) and resident memory per
//! connection (this process's RSS growth over the second half of the
//! connections opened, both ends of each connection included, for both
//! peers alike).
//!
//! Each connection is a socket at each end: for thousands of connections,
//! raise the open-files limit first (`ulimit -n 65536`).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_server::auth::Role;
use ferry_server::user::NewUser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{Engine, Server};
use crate::report::{print_versus, progress, Samples, Versus};

const PASSWORD: &str = "bench password, long enough";
/// Connections opened at once while setting up.
const OPENING: usize = 64;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Two-person rooms, all connected at once.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// Messages each side sends in each room.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// A small run, to check that the benchmark works.
    #[arg(long)]
    quick: bool,
    /// Measure one side only and print its figures as JSON: each side runs
    /// in a process of its own, so neither inherits the other's heap.
    #[arg(long, hide = true)]
    only: Option<Side>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Side {
    Ferry,
    Relay,
}

struct Figures {
    latency: Samples,
    rss_per_connection_kb: f64,
}

/// Measures one side in a child process of this benchmark.
fn in_child(options: &Options, side: &str) -> anyhow::Result<(f64, f64, f64)> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(["signalling", "--only", side])
        .args(["--pairs", &options.pairs.to_string()])
        .args(["--messages", &options.messages.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running a measurement")?;
    anyhow::ensure!(output.status.success(), "measuring {side} failed");
    let figures: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let get = |key: &str| {
        figures[key]
            .as_f64()
            .with_context(|| format!("no {key} from {side}"))
    };
    Ok((get("p50_ms")?, get("p99_ms")?, get("rss_kb")?))
}

pub async fn run(mut options: Options) -> anyhow::Result<()> {
    if options.quick {
        options.pairs = options.pairs.min(50);
        options.messages = options.messages.min(5);
    }
    anyhow::ensure!(
        options.pairs >= 2 && options.messages >= 1,
        "nothing to measure"
    );
    let Some(side) = options.only else {
        let ferry = in_child(&options, "ferry")?;
        let floor = in_child(&options, "relay")?;
        return print(&options, ferry, floor);
    };
    let figures = match side {
        Side::Ferry => measure_ferry(&options).await?,
        Side::Relay => measure_relay(&options).await?,
    };
    let json = serde_json::json!({
        "p50_ms": figures.latency.quantile_ms(0.5),
        "p99_ms": figures.latency.quantile_ms(0.99),
        "rss_kb": figures.rss_per_connection_kb,
    });
    // The parent reads this line; progress went to stderr.
    writeln!(std::io::stdout().lock(), "{json}")?;
    Ok(())
}

async fn measure_ferry(options: &Options) -> anyhow::Result<Figures> {
    progress("starting Ferry (SQLite)");
    let server = Server::start(&Engine::Sqlite).await?;
    let (tokens, rooms) = arrange(&server, options.pairs).await?;
    let base = format!("ws://{}", server.addr);
    progress(format!(
        "Ferry: {} rooms, {} connections",
        options.pairs,
        options.pairs * 2
    ));
    let figures = measure(options, |pair, side| {
        let mut request = format!("{base}/signal/{}", rooms[pair]).into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", tokens[side]).parse()?);
        Ok((request, true))
    })
    .await?;
    server.stop().await?;
    Ok(figures)
}

async fn measure_relay(options: &Options) -> anyhow::Result<Figures> {
    let relay = bare_relay().await?;
    progress(format!("bare relay: {} rooms", options.pairs));
    measure(options, |pair, _| {
        Ok((format!("ws://{relay}/{pair}").into_client_request()?, false))
    })
    .await
}

fn print(options: &Options, ferry: (f64, f64, f64), floor: (f64, f64, f64)) -> anyhow::Result<()> {
    let row = |name: &str, unit, ferry, peer| Versus {
        name: name.to_owned(),
        unit,
        ferry,
        peer,
        higher_is_better: false,
    };
    let rows = [
        row("relay latency p50", "ms", ferry.0, floor.0),
        row("relay latency p99", "ms", ferry.1, floor.1),
        row(
            "resident memory per connection, both ends",
            "KiB",
            ferry.2,
            floor.2,
        ),
    ];
    print_versus(
        &format!(
            "Signalling: {} two-person rooms ({} connections), {} messages each way per room",
            options.pairs,
            options.pairs * 2,
            options.messages
        ),
        "bare relay",
        &rows,
    )?;
    Ok(())
}

/// A clinician and an expert, and one consultation between them per room,
/// ready for its call. Returns their tokens and the consultation ids.
async fn arrange(server: &Server, pairs: usize) -> anyhow::Result<([String; 2], Vec<i64>)> {
    let actor = Server::actor();
    let mut tx = server.db.begin_write().await?;
    let (tertiary, island, patient) = crate::harness::hospital_island_patient(&mut tx).await?;
    let person = |username: &str, facility_id, role, specialties: Vec<String>| NewUser {
        display_name: username.to_owned(),
        username: username.to_owned(),
        password: PASSWORD.to_owned(),
        facility_id,
        roles: vec![role],
        specialties,
    };
    let clinician = ferry_server::user::create(
        &mut tx,
        &actor,
        person("clinician", island, Role::Clinician, vec![]),
    )
    .await?;
    let expert = ferry_server::user::create(
        &mut tx,
        &actor,
        person("expert", tertiary, Role::Expert, vec!["cardiology".into()]),
    )
    .await?;
    let now = ferry_server::time::now_ms();
    let mut rooms = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        // Accepted on call: no booked slot, so the call is open at once.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO consultation (patient_id, requested_by, requesting_facility_id, expert_id, specialty, \
             urgency, service, reason, clinical_summary, status, accepted_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'cardiology', 'urgent', 'video', 'benchmark', '', 'scheduled', $5, $5, $5) \
             RETURNING id",
        )
        .bind(patient)
        .bind(clinician)
        .bind(island)
        .bind(expert)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        rooms.push(id);
    }
    tx.commit().await?;
    let tokens = [
        server.login("clinician", PASSWORD).await?,
        server.login("expert", PASSWORD).await?,
    ];
    Ok((tokens, rooms))
}

/// Resident set size of this process, in KiB.
fn rss_kb() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    let kb: f64 = line
        .split_whitespace()
        .nth(1)
        .context("a VmRSS figure")?
        .parse()?;
    Ok(kb)
}

type Target = (
    tokio_tungstenite::tungstenite::handshake::client::Request,
    bool,
);

async fn connect(target: Target) -> anyhow::Result<Socket> {
    let (request, ferry) = target;
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("opening a WebSocket (for many connections: ulimit -n 65536)")?;
    if ferry {
        socket
            .send(Message::text(r#"{"type":"join","v":1}"#))
            .await?;
        let joined = text(&mut socket).await?;
        anyhow::ensure!(
            joined.contains(r#""type":"joined""#),
            "not joined: {joined}"
        );
    }
    Ok(socket)
}

/// The next text frame.
async fn text(socket: &mut Socket) -> anyhow::Result<String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .context("no message within 30 s")?
            .context("the socket closed")??;
        if let Message::Text(text) = frame {
            return Ok(text.to_string());
        }
    }
}

/// Reads until a relayed message arrives (Ferry also says `peer-joined`).
async fn relayed(socket: &mut Socket) -> anyhow::Result<()> {
    loop {
        let message = text(socket).await?;
        if !message.contains("peer-joined") {
            return Ok(());
        }
    }
}

async fn measure(
    options: &Options,
    target: impl Fn(usize, usize) -> anyhow::Result<Target>,
) -> anyhow::Result<Figures> {
    let mut targets = Vec::with_capacity(options.pairs * 2);
    for pair in 0..options.pairs {
        targets.push(target(pair, 0)?);
        targets.push(target(pair, 1)?);
    }
    // Memory is the growth from the first half of the connections to all of
    // them: the first half warms caches and allocator arenas, so what is left
    // is what one more connection costs.
    let second = targets.split_off(options.pairs / 2 * 2);
    let mut sockets = open_all(targets).await?;
    let before = rss_kb()?;
    let opened = second.len();
    sockets.extend(open_all(second).await?);
    let connected = rss_kb()?;
    let mut rooms = Vec::with_capacity(options.pairs);
    while let (Some(b), Some(a)) = (sockets.pop(), sockets.pop()) {
        rooms.push((a, b));
    }
    let messages = options.messages;
    let tasks: Vec<_> = rooms
        .into_iter()
        .map(|(mut a, mut b)| {
            tokio::spawn(async move {
                let mut samples = Samples::default();
                for n in 0..messages {
                    let body = format!(r#"{{"type":"offer","sdp":"v=0 {n}"}}"#);
                    let sent = Instant::now();
                    a.send(Message::text(body)).await?;
                    relayed(&mut b).await?;
                    samples.push(sent.elapsed());
                    let body = format!(r#"{{"type":"answer","sdp":"v=0 {n}"}}"#);
                    let sent = Instant::now();
                    b.send(Message::text(body)).await?;
                    relayed(&mut a).await?;
                    samples.push(sent.elapsed());
                }
                let _ = a.close(None).await;
                let _ = b.close(None).await;
                anyhow::Ok(samples)
            })
        })
        .collect();
    let mut latency = Samples::default();
    for task in tasks {
        latency.extend(task.await??);
    }
    Ok(Figures {
        latency,
        rss_per_connection_kb: (connected - before) / opened.max(1) as f64,
    })
}

async fn open_all(targets: Vec<Target>) -> anyhow::Result<Vec<Socket>> {
    futures_util::stream::iter(targets.into_iter().map(connect))
        .buffered(OPENING)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The floor: forwards each text frame to the other sockets of its room
/// (the URL path), and nothing more.
async fn bare_relay() -> anyhow::Result<SocketAddr> {
    type Members = Vec<(usize, mpsc::UnboundedSender<Message>)>;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let rooms: Arc<Mutex<HashMap<String, Members>>> = Arc::default();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((stream, _)) = listener.accept().await {
            next += 1;
            let me = next;
            let rooms = Arc::clone(&rooms);
            tokio::spawn(async move {
                let mut path = String::new();
                // The error type is tungstenite's, fixed by the callback's signature.
                #[allow(clippy::result_large_err)]
                let callback =
                    |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                     response| {
                        path = request.uri().path().to_owned();
                        Ok(response)
                    };
                let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                let (mut sink, mut source) = socket.split();
                let (tx, mut rx) = mpsc::unbounded_channel();
                if let Ok(mut map) = rooms.lock() {
                    map.entry(path.clone()).or_default().push((me, tx));
                }
                let writer = tokio::spawn(async move {
                    while let Some(message) = rx.recv().await {
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                });
                while let Some(Ok(message)) = source.next().await {
                    if !message.is_text() {
                        continue;
                    }
                    if let Ok(map) = rooms.lock() {
                        for (other, tx) in map.get(&path).into_iter().flatten() {
                            if *other != me {
                                let _ = tx.send(message.clone());
                            }
                        }
                    }
                }
                if let Ok(mut map) = rooms.lock() {
                    if let Some(members) = map.get_mut(&path) {
                        members.retain(|(other, _)| *other != me);
                    }
                }
                writer.abort();
            });
        }
    });
    Ok(addr)
}
