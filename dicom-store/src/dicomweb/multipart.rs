//! A streaming reader of `multipart/related` bodies (RFC 2387 over RFC 2046)
//! for STOW-RS: parts are read one after the other, each body as an
//! [`AsyncRead`], so an instance goes from the socket to its staged file
//! without the request ever being held in memory.
//!
//! The body of a part ends at the delimiter `CRLF--boundary`; while scanning,
//! the reader keeps back the last `delimiter - 1` bytes of its buffer, which may
//! be the start of a delimiter split across two network chunks.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Bytes;
use bytes::{Buf, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// Headers longer than this are refused as malformed.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A preamble longer than this is refused as malformed: STOW-RS clients send
/// none, and a body that never names its boundary must be refused as soon
/// as that is plain, not after the whole request has been read.
const MAX_PREAMBLE_BYTES: usize = 16 * 1024;

/// The headers of one part that STOW-RS looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeaders {
    /// `Content-Type`, lower-cased, without parameters; `None` if absent.
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: either `--` (the end) or the next part's headers.
    AfterDelimiter,
    /// Inside a part's body.
    Body,
    /// After the close delimiter.
    Done,
}

/// Reads a `multipart/related` body part by part.
pub struct Multipart<S> {
    stream: S,
    buf: BytesMut,
    /// Inside a body: how many bytes at the front of `buf` are known to hold
    /// no delimiter, so they are handed out without scanning them again.
    clear: usize,
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    state: State,
    eof: bool,
    received: u64,
    limit: u64,
}

/// The error of a request larger than its limit, as an `io::Error` so it can
/// travel through `AsyncRead`.
pub fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        "the request is larger than allowed",
    )
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed multipart body: {what}"),
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

impl<S, E> Multipart<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// A reader of `stream` with this boundary, refusing more than `limit` bytes.
    pub fn new(stream: S, boundary: &str, limit: u64) -> Self {
        Self {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            clear: 0,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Preamble,
            eof: false,
            received: 0,
            limit,
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.eof {
            return Poll::Ready(Ok(false));
        }
        match ready!(Pin::new(&mut self.stream).poll_next(cx)) {
            Some(Ok(chunk)) => {
                self.received += chunk.len() as u64;
                if self.received > self.limit {
                    return Poll::Ready(Err(too_large()));
                }
                self.buf.extend_from_slice(&chunk);
                Poll::Ready(Ok(true))
            }
            Some(Err(e)) => Poll::Ready(Err(io::Error::other(e.to_string()))),
            None => {
                self.eof = true;
                Poll::Ready(Ok(false))
            }
        }
    }

    async fn fill(&mut self) -> io::Result<bool> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Advances to the next part and returns its headers, or `None` after the
    /// last part. An unread rest of the previous part is skipped.
    pub async fn next_part(&mut self) -> io::Result<Option<PartHeaders>> {
        if self.state == State::Body {
            let mut sink = tokio::io::sink();
            tokio::io::copy(&mut self.body(), &mut sink).await?;
        }
        if self.state == State::Preamble {
            // The first delimiter may open the body without a leading CRLF.
            let dash_boundary = self.delimiter[2..].to_vec();
            let mut skipped = 0;
            loop {
                if let Some(at) = find(&self.buf, &dash_boundary) {
                    self.buf.advance(at + dash_boundary.len());
                    self.state = State::AfterDelimiter;
                    break;
                }
                // Only the tail that may start a split boundary is kept.
                let keep = dash_boundary.len() - 1;
                if self.buf.len() > keep {
                    let drop = self.buf.len() - keep;
                    skipped += drop;
                    self.buf.advance(drop);
                }
                if skipped > MAX_PREAMBLE_BYTES {
                    return Err(malformed(&format!(
                        "no boundary in the first {MAX_PREAMBLE_BYTES} bytes"
                    )));
                }
                if !self.fill().await? {
                    return Err(malformed("no boundary"));
                }
            }
        }
        if self.state == State::Done {
            return Ok(None);
        }
        // After a delimiter: `--` closes the body; otherwise optional padding
        // then CRLF, then the headers up to an empty line.
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(malformed("ends after a boundary"));
            }
        }
        if self.buf.starts_with(b"--") {
            self.state = State::Done;
            return Ok(None);
        }
        let headers_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at;
            }
            if self.buf.len() > MAX_HEADER_BYTES {
                return Err(malformed("part headers too long"));
            }
            if !self.fill().await? {
                return Err(malformed("ends inside part headers"));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..headers_end]).into_owned();
        self.buf.advance(headers_end + 4);
        let mut content_type = None;
        // The first line is the rest of the delimiter line (transport padding).
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-type") {
                    let value = value.split(';').next().unwrap_or_default();
                    content_type = Some(value.trim().to_ascii_lowercase());
                }
            }
        }
        self.state = State::Body;
        self.clear = 0;
        Ok(Some(PartHeaders { content_type }))
    }

    /// Reads and discards what is left of the body, at most `limit` bytes,
    /// so that a client still sending can read the refusal: a server that
    /// answers and closes mid-upload resets the connection under a client
    /// that has not finished writing. Returns whether the body ended.
    pub async fn drain(&mut self, limit: u64) -> bool {
        self.buf = BytesMut::new();
        self.state = State::Done;
        let mut drained = 0u64;
        while !self.eof && drained <= limit {
            match std::future::poll_fn(|cx| Pin::new(&mut self.stream).poll_next(cx)).await {
                Some(Ok(chunk)) => drained += chunk.len() as u64,
                Some(Err(_)) => return false,
                None => self.eof = true,
            }
        }
        self.eof
    }

    /// The body of the current part, read up to the next delimiter.
    pub fn body(&mut self) -> PartBody<'_, S> {
        PartBody { multipart: self }
    }
}

/// The body of one part; reads end (return 0) at the part's delimiter.
pub struct PartBody<'a, S> {
    multipart: &'a mut Multipart<S>,
}

impl<S, E> AsyncRead for PartBody<'_, S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let m = &mut *self.get_mut().multipart;
        if m.state != State::Body {
            return Poll::Ready(Ok(()));
        }
        loop {
            if m.clear == 0 {
                match find(&m.buf, &m.delimiter) {
                    Some(0) => {
                        m.buf.advance(m.delimiter.len());
                        m.state = State::AfterDelimiter;
                        return Poll::Ready(Ok(()));
                    }
                    Some(at) => m.clear = at,
                    None => m.clear = m.buf.len().saturating_sub(m.delimiter.len() - 1),
                }
            }
            if m.clear > 0 {
                let n = m.clear.min(out.remaining());
                out.put_slice(&m.buf[..n]);
                m.buf.advance(n);
                m.clear -= n;
                return Poll::Ready(Ok(()));
            }
            if !ready!(m.poll_fill(cx))? {
                return Poll::Ready(Err(malformed("ends inside a part")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use tokio::io::AsyncReadExt;

    fn body_in_chunks(
        body: &[u8],
        chunk: usize,
    ) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin {
        let chunks: Vec<Result<Bytes, io::Error>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        stream::iter(chunks)
    }

    async fn parts(body: &[u8], chunk: usize) -> io::Result<Vec<(Option<String>, Vec<u8>)>> {
        let mut m = Multipart::new(body_in_chunks(body, chunk), "b0undary", 1 << 20);
        let mut out = Vec::new();
        while let Some(headers) = m.next_part().await? {
            let mut bytes = Vec::new();
            m.body().read_to_end(&mut bytes).await?;
            out.push((headers.content_type, bytes));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn parts_split_at_every_chunk_size_read_the_same() {
        let body = b"preamble\r\n--b0undary\r\nContent-Type: application/dicom\r\n\r\n\
            first\r\n--b0und\r\n--b0undary\r\nContent-Type: Application/DICOM; x=1\r\n\r\n\
            second\r\n--b0undary--\r\n";
        for chunk in 1..body.len() {
            let parts = parts(body, chunk).await.expect("a well-formed body");
            assert_eq!(
                parts,
                vec![
                    (
                        Some("application/dicom".to_owned()),
                        b"first\r\n--b0und".to_vec()
                    ),
                    (Some("application/dicom".to_owned()), b"second".to_vec()),
                ],
                "chunk size {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_cut_short_or_without_boundary_is_an_error() {
        assert!(parts(b"--b0undary\r\n\r\nabc", 4).await.is_err());
        assert!(parts(b"no boundary here", 4).await.is_err());
    }

    #[tokio::test]
    async fn a_body_without_its_boundary_is_refused_after_a_bounded_read() {
        // An endless body: the refusal must come from the preamble bound.
        let chunks = stream::repeat_with(|| Ok::<_, io::Error>(Bytes::from(vec![b'x'; 1000])));
        let mut m = Multipart::new(chunks, "b0undary", u64::MAX);
        let error = m.next_part().await.expect_err("no boundary");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            m.received <= (MAX_PREAMBLE_BYTES + 2000) as u64,
            "{}",
            m.received
        );
        assert!(m.buf.capacity() <= 2 * 64 * 1024, "{}", m.buf.capacity());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let body = b"--b0undary\r\n\r\n0123456789\r\n--b0undary--";
        let mut m = Multipart::new(body_in_chunks(body, 8), "b0undary", 16);
        let error = async {
            m.next_part().await?;
            m.body().read_to_end(&mut Vec::new()).await
        }
        .await
        .expect_err("over the limit");
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
    }
}
