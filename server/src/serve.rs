//! The HTTP accept loop, with the limits `axum::serve` does not have: a cap
//! on connections, a deadline for a request's head, an idle wait between the
//! pieces of a request body, and a connection on which nothing moves closed.
//!
//! - **Connection cap** (`http_max_connections`): a permit is taken before
//!   `accept`, so connections past the cap wait unaccepted in the kernel's
//!   backlog instead of costing a task and buffers each. The permit lives in
//!   the connection's I/O ([`IdleIo`]) and so also covers a connection
//!   upgraded to a WebSocket, until the socket is dropped.
//! - **Head deadline** (`http_header_timeout_seconds`): hyper's
//!   `header_read_timeout`. hyper starts it when the connection is ready for
//!   a request, so it bounds an idle keep-alive connection as well as a head
//!   sent a byte at a time.
//! - **Body wait** (`http_body_timeout_seconds`, `stow_body_timeout_seconds`
//!   for STOW-RS uploads): the longest pause between two pieces of a request
//!   body ([`tower_http::timeout::TimeoutBody`]). A pause rather than a
//!   total, so a large upload over a slow island link goes through while a
//!   stalled one does not hold its connection.
//! - **Idle connection** (`http_idle_timeout_seconds`): nothing read or
//!   written either way for this long closes the connection: a client that
//!   stopped reading a whole-study download, a peer gone without a FIN. SSE
//!   (a keep-alive comment every 15 s) and call WebSockets (heartbeats) keep
//!   theirs busy, so they have no deadline of their own.
//! - **HTTPS** (`tls_certificate`, [`crate::tls`]): the handshake must end
//!   within the head deadline, then the connection speaks HTTP/2 or
//!   HTTP/1.1, as ALPN chose. Without TLS only HTTP/1.1 is spoken.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::config::Settings;

/// The limits of [`serve`], from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub stow_body_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            max_connections: settings.http_max_connections.max(1),
            header_timeout: Duration::from_secs(settings.http_header_timeout_seconds.max(1)),
            body_timeout: Duration::from_secs(settings.http_body_timeout_seconds.max(1)),
            stow_body_timeout: Duration::from_secs(settings.stow_body_timeout_seconds.max(1)),
            idle_timeout: Duration::from_secs(settings.http_idle_timeout_seconds.max(1)),
        }
    }

    /// The body wait for `request`: STOW-RS uploads get their own.
    fn body_timeout<B>(&self, request: &Request<B>) -> Duration {
        if request.method() == Method::POST && request.uri().path().starts_with("/dicomweb/") {
            self.stow_body_timeout
        } else {
            self.body_timeout
        }
    }
}

/// How long in-flight requests get to finish once shutdown has begun.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, asks every connection to finish its request in flight and
/// waits for them (at most `SHUTDOWN_GRACE`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A permit first: past the cap, connections wait in the backlog.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed; stop serving rather than spin if it were.
                Err(_) => break,
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join(joined);
                continue;
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of
                    // spinning, and keep serving the connections we have.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
        }
        let io = IdleIo::new(stream, limits.idle_timeout, permit);
        connections.spawn(accepted(
            io,
            tls.clone(),
            peer,
            router.clone(),
            limits,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(joined) = connections.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            running = connections.len(),
            "HTTP connections still running after the grace period are cut"
        );
        connections.abort_all();
    }
}

/// A connection just accepted: over TLS, once its handshake is done (within
/// the head deadline), else as it is.
async fn accepted(
    io: IdleIo,
    tls: Option<TlsAcceptor>,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(tls) = tls else {
        return connection(io, false, peer, router, limits, stop).await;
    };
    match tokio::time::timeout(limits.header_timeout, tls.accept(io)).await {
        Ok(Ok(stream)) => {
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            connection(stream, h2, peer, router, limits, stop).await;
        }
        // Plain HTTP to the HTTPS port, a scanner, a client that gave up:
        // routine, not worth a warning.
        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake took too long"),
    }
}

/// Serves one connection, in HTTP/2 when `h2` (ALPN chose it) and HTTP/1.1
/// otherwise, until it closes, or, once `stop` flips, until its requests in
/// flight are answered.
async fn connection<Io>(
    io: Io,
    h2: bool,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    stop: tokio::sync::watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let wait = limits.body_timeout(&request);
        let stalled = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            axum::body::Body::new(Watched {
                inner: Box::pin(TimeoutBody::new(wait, body)),
                failed: Arc::clone(&stalled),
            })
        });
        let router = router.clone();
        async move {
            let mut response = router.oneshot(request).await?;
            // The rest of a stalled body is not worth waiting for: hyper
            // closes the connection once the error answer is written.
            if stalled.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    // hyper's own builders rather than hyper-util's `auto`, which first
    // waits for a request's first bytes to tell the versions apart, with no
    // deadline: ALPN has said which it is, and the head deadline must run
    // from the moment the connection is up.
    let served = if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        let conn = builder.serve_connection(TokioIo::new(io), service);
        until_stopped(conn, |conn| conn.graceful_shutdown(), stop).await
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        until_stopped(conn, |conn| conn.graceful_shutdown(), stop).await
    };
    if let Err(error) = served {
        // Timeouts and peers that hang up are routine; not worth a warning.
        tracing::debug!(%error, %peer, "HTTP connection ended with an error");
    }
}

/// Drives `conn` until it ends, or, once `stop` flips, asks it to finish
/// its requests in flight (`graceful`) and waits for that.
async fn until_stopped<C>(
    conn: C,
    graceful: impl FnOnce(Pin<&mut C>),
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    tokio::pin!(conn);
    let stopping = async move {
        // An error means the sender is gone, which is a stop as well. The
        // guard `wait_for` returns is dropped here, not held across awaits.
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::select! {
        served = conn.as_mut() => served,
        () = stopping => {
            graceful(conn.as_mut());
            conn.await
        }
    }
}

/// A request body that remembers whether reading it failed (it stalled
/// past its timeout, or the peer went away mid-body).
struct Watched {
    inner: Pin<Box<TimeoutBody<Incoming>>>,
    failed: Arc<AtomicBool>,
}

impl hyper::body::Body for Watched {
    type Data = <Incoming as hyper::body::Body>::Data;
    type Error = <TimeoutBody<Incoming> as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.failed.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined {
        if error.is_panic() {
            tracing::error!("an HTTP connection task panicked");
        }
    }
}

/// A TCP stream that fails with `TimedOut` once nothing has been read or
/// written for `idle`, and holds its connection's permit until dropped.
///
/// The clock is only looked at while a read or a write is pending, that is
/// while the connection waits on the peer. Set it well above the slowest
/// handler: hyper may keep a read pending while a handler runs.
pub struct IdleIo {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl IdleIo {
    fn new(stream: TcpStream, idle: Duration, permit: OwnedSemaphorePermit) -> Self {
        Self {
            stream,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _permit: permit,
        }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// A write's answer: bytes written count as movement.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.waiting(cx),
        }
    }

    /// `Pending` stays pending until the deadline; then the I/O fails.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => this.waiting(cx),
        }
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, data);
        this.wrote(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_flush(cx) {
            Poll::Pending => this.waiting(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
