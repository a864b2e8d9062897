//! An island link in user space: a TCP proxy on loopback that carries each
//! direction at a fixed rate, delivers every byte half a round trip after
//! the link could carry it, and holds back one segment in a hundred for one
//! more round trip, as TCP's retransmission of a lost segment would (the
//! bytes behind it wait too, since TCP delivers in order).
//!
//! This kernel has no `netem`, and the loss and delay must apply to real
//! sockets (reqwest's uploads, not a browser), hence a proxy. Its buffer
//! between the two sides is a bottleneck queue of about half a second, so
//! the sender feels the link's rate rather than filling the proxy at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A TCP segment's payload on a common path.
const SEGMENT: usize = 1448;

/// What the link is like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Bits per second, each way.
    pub rate_bps: u64,
    pub round_trip: Duration,
    /// The share of segments lost (0.01 for 1%).
    pub loss: f64,
}

/// The proxy, and the bytes it carried each way.
pub struct Link {
    pub addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Listens on loopback and carries every connection to `target`.
    pub async fn start(target: SocketAddr, shape: Shape) -> anyhow::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (up, down) = (Arc::<AtomicU64>::default(), Arc::<AtomicU64>::default());
        let ways = (Way::new(shape, up.clone()), Way::new(shape, down.clone()));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (client_in, client_out) = client.into_split();
                let (server_in, server_out) = server.into_split();
                tokio::spawn(carry(client_in, server_out, ways.0.clone()));
                tokio::spawn(carry(server_in, client_out, ways.1.clone()));
            }
        });
        Ok(Link {
            addr,
            up,
            down,
            task,
        })
    }

    /// Bytes carried from clients to the server, and back.
    pub fn carried(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// One direction of the link, shared by every connection over it: its rate
/// is the link's, not each connection's.
#[derive(Clone)]
struct Way {
    shape: Shape,
    /// When the link is next free to carry a segment.
    free: Arc<Mutex<Instant>>,
    carried: Arc<AtomicU64>,
}

impl Way {
    fn new(shape: Shape, carried: Arc<AtomicU64>) -> Way {
        Way {
            shape,
            free: Arc::new(Mutex::new(Instant::now())),
            carried,
        }
    }

    /// Puts `n` bytes on the link now, or once it is free; returns when
    /// they arrive (later if they are lost once first).
    fn departs(&self, n: usize) -> Instant {
        let shape = self.shape;
        let on_link = Duration::from_secs_f64(n as f64 * 8.0 / shape.rate_bps.max(1) as f64);
        let Ok(mut free) = self.free.lock() else {
            return Instant::now();
        };
        *free = (*free).max(Instant::now()) + on_link;
        let mut arrival = *free + shape.round_trip / 2;
        if rand::thread_rng().gen_bool(shape.loss.clamp(0.0, 1.0)) {
            // Sent again once the loss is noticed: the link carries it a
            // second time, and it arrives a round trip later.
            *free += on_link;
            arrival += shape.round_trip;
        }
        arrival
    }
}

/// One direction of one connection: segments leave at the link's rate and
/// arrive half a round trip later (a lost one a round trip later still).
async fn carry(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, way: Way) {
    let shape = way.shape;
    // About half a second of the link's bytes waits between the sides.
    let queued = ((shape.rate_bps / 16) as usize / SEGMENT).max(4);
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(queued);
    let writer = tokio::spawn(async move {
        while let Some((arrival, bytes)) = rx.recv().await {
            tokio::time::sleep_until(arrival).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut last_arrival = Instant::now();
    let mut buffer = vec![0u8; SEGMENT];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        way.carried.fetch_add(n as u64, Ordering::Relaxed);
        last_arrival = last_arrival.max(way.departs(n));
        if tx.send((last_arrival, buffer[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
