//! Slow clients (CONTRACT §11): a request's headers must arrive within 10 s, and an idle keep-alive
//! connection is closed after 60 s. Without this, a hundred connections that never finish their
//! headers ("slowloris") stay open for ever and, under a file limit, lock every new client out.
//!
//! poem's server offers only an inactivity timeout, which a client trickling a byte a minute
//! defeats, and hyper's header timeout (which poem does not expose) also starts while a keep-alive
//! connection is merely idle. So each accepted connection's stream is wrapped: it watches for the
//! end of a request's header block (`CRLF CRLF`) and for the start of the answer, and fails the
//! read — which closes the connection — when the headers are late or the idleness too long.
//! HTTP/2 (prior knowledge) is recognised by its preface and only held to the idle limit.

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a connection's first byte of a request (or its opening) to the end of the headers.
    pub headers: Duration,
    /// Between the end of an answer and the next request's first byte.
    pub idle: Duration,
}

/// Wraps every connection an acceptor accepts in a [`Guarded`] stream.
pub struct GuardedAcceptor<A> {
    inner: A,
    limits: Limits,
}

impl<A> GuardedAcceptor<A> {
    /// Guards `inner`'s connections with `limits`.
    pub fn new(inner: A, limits: Limits) -> Self {
        GuardedAcceptor { inner, limits }
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A> {
    type Io = Guarded<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((Guarded::new(io, self.limits), local, remote, scheme))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request's headers.
    Headers,
    /// Headers read; the request is being handled (its body is the request timeout's business).
    Request,
    /// The answer has begun; waiting for the next request.
    Idle,
    /// HTTP/2: only idleness is limited.
    Http2,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's stream, closed when a request's headers or the next request are too late.
pub struct Guarded<Io> {
    io: Io,
    limits: Limits,
    phase: Phase,
    /// The last bytes read, to find `CRLF CRLF` across reads.
    tail: [u8; 3],
    /// How much of the connection's first bytes matched the HTTP/2 preface.
    preface: usize,
    deadline: Pin<Box<Sleep>>,
}

impl<Io> Guarded<Io> {
    fn new(io: Io, limits: Limits) -> Self {
        Guarded {
            io,
            limits,
            phase: Phase::Headers,
            tail: [0; 3],
            preface: 0,
            deadline: Box::pin(tokio::time::sleep(limits.headers)),
        }
    }

    fn arm(&mut self, after: Duration) {
        self.deadline.as_mut().reset(Instant::now() + after);
    }

    /// Follows the bytes just read.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.preface < H2_PREFACE.len() && self.phase == Phase::Headers {
            let n = (H2_PREFACE.len() - self.preface).min(bytes.len());
            if bytes[..n] == H2_PREFACE[self.preface..self.preface + n] {
                self.preface += n;
                if self.preface == H2_PREFACE.len() {
                    self.phase = Phase::Http2;
                    self.arm(self.limits.idle);
                    return;
                }
            } else {
                self.preface = H2_PREFACE.len(); // not HTTP/2
            }
        }
        match self.phase {
            Phase::Http2 => self.arm(self.limits.idle),
            Phase::Idle => {
                // The next request has begun: its headers are due.
                self.phase = Phase::Headers;
                self.tail = [0; 3];
                self.arm(self.limits.headers);
                self.find_header_end(bytes);
            }
            Phase::Headers => self.find_header_end(bytes),
            Phase::Request => {}
        }
    }

    fn find_header_end(&mut self, bytes: &[u8]) {
        let mut window = Vec::with_capacity(self.tail.len() + bytes.len());
        window.extend_from_slice(&self.tail);
        window.extend_from_slice(bytes);
        if window.windows(4).any(|w| w == b"\r\n\r\n") {
            self.phase = Phase::Request;
            return;
        }
        let n = window.len();
        self.tail.copy_from_slice(&window[n - 3..]);
    }

    /// Follows bytes written; `cx` is the writing task's, which the idle clock must wake: the read
    /// side may already be parked on the socket and would not poll the clock again by itself.
    fn wrote(&mut self, n: usize, cx: &mut Context<'_>) {
        if n == 0 {
            return;
        }
        match self.phase {
            Phase::Request | Phase::Headers => {
                // The answer is going out (or an error answer to a bad request): idle from now.
                self.phase = Phase::Idle;
                self.arm(self.limits.idle);
            }
            Phase::Idle | Phase::Http2 => self.arm(self.limits.idle),
        }
        // Registers the task with the reset clock (a deadline already past is noticed by the next
        // read).
        let _ = self.deadline.as_mut().poll(cx);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.phase != Phase::Request && self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn too_slow(phase: Phase) -> io::Error {
    let what = match phase {
        Phase::Headers => "request headers did not arrive in time",
        _ => "idle connection closed",
    };
    io::Error::new(io::ErrorKind::TimedOut, what)
}

impl<Io: AsyncRead + Unpin> AsyncRead for Guarded<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                this.saw(&new);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.expired(cx) {
                    tracing::debug!(phase = ?this.phase, "closing a slow connection");
                    return Poll::Ready(Err(too_slow(this.phase)));
                }
                Poll::Pending
            }
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Guarded<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            this.wrote(n, cx);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            this.wrote(n, cx);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> Guarded<tokio::io::Empty> {
        Guarded::new(
            tokio::io::empty(),
            Limits {
                headers: Duration::from_secs(10),
                idle: Duration::from_secs(60),
            },
        )
    }

    #[tokio::test]
    async fn the_end_of_the_headers_is_found_across_reads() {
        let mut g = guarded();
        g.saw(b"GET / HTTP/1.1\r\nHost: x\r");
        assert_eq!(g.phase, Phase::Headers);
        g.saw(b"\n\r");
        assert_eq!(g.phase, Phase::Headers);
        g.saw(b"\n");
        assert_eq!(g.phase, Phase::Request);
    }

    #[tokio::test]
    async fn an_answer_makes_the_connection_idle_and_the_next_byte_starts_the_header_clock() {
        let mut g = guarded();
        g.saw(b"GET / HTTP/1.1\r\n\r\n");
        g.wrote(10, &mut Context::from_waker(std::task::Waker::noop()));
        assert_eq!(g.phase, Phase::Idle);
        g.saw(b"G");
        assert_eq!(g.phase, Phase::Headers);
        g.saw(b"ET / HTTP/1.1\r\n\r\n");
        assert_eq!(g.phase, Phase::Request);
    }

    #[tokio::test]
    async fn http2_is_held_to_the_idle_limit_only() {
        let mut g = guarded();
        g.saw(&H2_PREFACE[..10]);
        assert_eq!(g.phase, Phase::Headers);
        g.saw(&H2_PREFACE[10..]);
        assert_eq!(g.phase, Phase::Http2);
        g.saw(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(g.phase, Phase::Http2);
    }
}
