//! Signalling under load: many two-person rooms at once, each exchanging
//! offers and answers through Ferry's `/signal/{consultation}` (admission,
//! audit, rooms, limits and all), next to a bare tokio-tungstenite relay that
//! only forwards text frames between the two sockets of a room: the floor any
//! WebSocket relay on this machine stands on.
//!
//! Each server runs in a child process of its own (`--serve`), the clients in
//! this one, so the figures are the server's alone:
//!
//! - relay latency p50/p99: one message from one side's send to the other
//!   side's receipt;
//! - resident memory per idle connection: the server process's RSS growth
//!   over the second half of the connections opened (the first half warms
//!   caches and allocator arenas), read from `/proc/<pid>/status` once every
//!   connection is joined and before anyone speaks.
//!
//! Each connection is a socket in each process, so 10,000 connections fit
//! within an open-file limit of 20,000 per process.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_server::auth::Role;
use ferry_server::user::NewUser;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::{Engine, Server};
use crate::report::{print_versus, progress, Samples, Versus};

const PASSWORD: &str = "bench password, long enough";
/// Connections opened at once while setting up.
const OPENING: usize = 64;
/// The goal for a server's resident memory per idle connection.
const GOAL_KIB_PER_CONNECTION: f64 = 48.0;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Two-person rooms, all connected at once.
    #[arg(long, default_value_t = 5000)]
    pairs: usize,
    /// Messages each side sends in each room.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// A small run, to check that the benchmark works.
    #[arg(long)]
    quick: bool,
    /// Run one server, print where to reach it as JSON, answer `rss` on
    /// stdin with its resident memory and stop at the end of stdin: the
    /// measuring process starts each server this way.
    #[arg(long, hide = true)]
    serve: Option<Side>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Side {
    Ferry,
    Relay,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Ferry => "ferry",
            Side::Relay => "relay",
        }
    }
}

struct Figures {
    latency: Samples,
    rss_per_connection_kib: f64,
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
    if let Some(side) = options.serve {
        return serve(side, &options).await;
    }
    let ferry = measure(&options, Side::Ferry).await?;
    let floor = measure(&options, Side::Relay).await?;
    print(&options, &ferry, &floor)
}

/// The child's side: one server until stdin ends.
async fn serve(side: Side, options: &Options) -> anyhow::Result<()> {
    let (setup, server) = match side {
        Side::Ferry => {
            progress("starting Ferry (SQLite)");
            let connections = options.pairs * 2;
            // Every connection at once, beyond the default cap on HTTP
            // connections.
            let server = Server::start_configured(
                &Engine::Sqlite,
                false,
                |settings| {
                    settings.http_max_connections =
                        settings.http_max_connections.max(connections + 64);
                },
                None,
            )
            .await?;
            let (tokens, rooms) = arrange(&server, options.pairs).await?;
            let paths: Vec<String> = rooms.iter().map(|id| format!("/signal/{id}")).collect();
            let base = format!("ws://{}", server.addr);
            (
                json!({"base": base, "paths": paths, "tokens": tokens}),
                Some(server),
            )
        }
        Side::Relay => {
            let relay = bare_relay().await?;
            let paths: Vec<String> = (0..options.pairs).map(|pair| format!("/{pair}")).collect();
            (
                json!({"base": format!("ws://{relay}"), "paths": paths, "tokens": []}),
                None,
            )
        }
    };
    // The parent reads these lines; progress goes to stderr.
    writeln!(std::io::stdout().lock(), "{setup}")?;
    let (asked, mut questions) = mpsc::unbounded_channel();
    // Blocking reads of stdin on a thread of their own: the runtime keeps
    // serving the connections meanwhile.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if asked.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(question) = questions.recv().await {
        anyhow::ensure!(question == "rss", "unknown request {question:?}");
        writeln!(std::io::stdout().lock(), "{}", rss_kib(std::process::id())?)?;
    }
    if let Some(server) = server {
        server.stop().await?;
    }
    Ok(())
}

/// A server in its child process, spoken to over its stdin and stdout.
struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl ServerProcess {
    async fn start(options: &Options, side: Side) -> anyhow::Result<(ServerProcess, Value)> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["signalling", "--serve", side.name()])
            .args(["--pairs", &options.pairs.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a server process")?;
        let stdin = child.stdin.take().context("the server's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the server's stdout")?).lines();
        let mut this = ServerProcess {
            child,
            stdin,
            stdout,
        };
        let setup = serde_json::from_str(&this.line().await?)?;
        Ok((this, setup))
    }

    async fn line(&mut self) -> anyhow::Result<String> {
        self.stdout
            .next_line()
            .await?
            .context("the server process ended early")
    }

    async fn rss_kib(&mut self) -> anyhow::Result<f64> {
        // Let the server finish what the last handshakes started.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.stdin
            .write_all(b"rss\n")
            .await
            .context("asking the server process for its memory")?;
        self.stdin.flush().await?;
        Ok(self.line().await?.parse()?)
    }

    async fn stop(self) -> anyhow::Result<()> {
        let ServerProcess {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        let status = child.wait().await?;
        anyhow::ensure!(status.success(), "the server process failed: {status}");
        Ok(())
    }
}

fn print(options: &Options, ferry: &Figures, floor: &Figures) -> anyhow::Result<()> {
    let row = |name: &str, unit, ferry, peer| Versus {
        name: name.to_owned(),
        unit,
        ferry,
        peer,
        higher_is_better: false,
    };
    let connections = options.pairs * 2;
    let title = format!(
        "Signalling: {} two-person rooms ({connections} connections), {} messages each way per room, \
         servers in their own processes",
        options.pairs, options.messages
    );
    print_versus(
        &title,
        "bare relay",
        &[
            row(
                "relay latency p50",
                "ms",
                ferry.latency.quantile_ms(0.5),
                floor.latency.quantile_ms(0.5),
            ),
            row(
                "relay latency p99",
                "ms",
                ferry.latency.quantile_ms(0.99),
                floor.latency.quantile_ms(0.99),
            ),
            row(
                "server resident memory per idle connection",
                "KiB",
                ferry.rss_per_connection_kib,
                floor.rss_per_connection_kib,
            ),
        ],
    )?;
    print_versus(
        "Signalling: Ferry's server memory per idle connection beside the goal",
        "goal",
        &[row(
            "server resident memory per idle connection",
            "KiB",
            ferry.rss_per_connection_kib,
            GOAL_KIB_PER_CONNECTION,
        )],
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

/// Resident set size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/<pid>/status")?;
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

/// A client's connection: what it sends goes through `sink`; a task of its
/// own reads all the while, as a browser does, so the server's pings are
/// answered while thousands of other connections open (the server drops a
/// connection silent for its idle timeout), and passes on the text frames.
struct Client {
    sink: SplitSink<Socket, Message>,
    heard: mpsc::UnboundedReceiver<String>,
}

async fn connect(target: Target) -> anyhow::Result<Client> {
    let (request, ferry) = target;
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("opening a WebSocket")?;
    if ferry {
        socket
            .send(Message::text(r#"{"type":"join","v":1}"#))
            .await?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .context("no answer to join within 30 s")?
                .context("the socket closed")??;
            if let Message::Text(joined) = frame {
                anyhow::ensure!(
                    joined.contains(r#""type":"joined""#),
                    "not joined: {joined}"
                );
                break;
            }
        }
    }
    let (sink, mut stream) = socket.split();
    let (tx, heard) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame {
                if tx.send(text.to_string()).is_err() {
                    break;
                }
            }
        }
    });
    Ok(Client { sink, heard })
}

/// Waits for a relayed message (Ferry also says `peer-joined`).
async fn relayed(client: &mut Client) -> anyhow::Result<()> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), client.heard.recv())
            .await
            .context("no message within 30 s")?
            .context("the socket closed")?;
        if !message.contains("peer-joined") {
            return Ok(());
        }
    }
}

async fn measure(options: &Options, side: Side) -> anyhow::Result<Figures> {
    let (mut server, setup) = ServerProcess::start(options, side).await?;
    let base = setup["base"].as_str().context("no base from the server")?;
    let paths = setup["paths"]
        .as_array()
        .context("no paths from the server")?;
    let tokens: Vec<&str> = setup["tokens"]
        .as_array()
        .context("no tokens from the server")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let join = side == Side::Ferry;
    let mut targets = Vec::with_capacity(paths.len() * 2);
    for path in paths {
        let path = path.as_str().context("a path")?;
        for token in [0, 1].map(|side| tokens.get(side)) {
            let mut request = format!("{base}{path}").into_client_request()?;
            if let Some(token) = token {
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse()?);
            }
            targets.push((request, join));
        }
    }
    progress(format!(
        "{}: {} rooms, {} connections",
        side.name(),
        paths.len(),
        targets.len()
    ));
    let second = targets.split_off(paths.len() / 2 * 2);
    let mut sockets = open_all(targets).await?;
    let before = server.rss_kib().await?;
    let opened = second.len();
    sockets.extend(open_all(second).await?);
    let connected = server.rss_kib().await?;
    let mut rooms = Vec::with_capacity(paths.len());
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
                    a.sink.send(Message::text(body)).await?;
                    relayed(&mut b).await?;
                    samples.push(sent.elapsed());
                    let body = format!(r#"{{"type":"answer","sdp":"v=0 {n}"}}"#);
                    let sent = Instant::now();
                    b.sink.send(Message::text(body)).await?;
                    relayed(&mut a).await?;
                    samples.push(sent.elapsed());
                }
                let _ = a.sink.close().await;
                let _ = b.sink.close().await;
                anyhow::Ok(samples)
            })
        })
        .collect();
    let mut latency = Samples::default();
    for task in tasks {
        latency.extend(task.await??);
    }
    server.stop().await?;
    Ok(Figures {
        latency,
        rss_per_connection_kib: (connected - before) / opened.max(1) as f64,
    })
}

async fn open_all(targets: Vec<Target>) -> anyhow::Result<Vec<Client>> {
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
