//! Slow clients (docs/contract.md §11): a request's headers must arrive within 10 s, and an idle keep-alive
//! connection is closed after 60 s. Without this, a hundred connections that never finish their
//! headers ("slowloris") stay open for ever and, under a file limit, lock every new client out.
//!
//! poem's server offers only an inactivity timeout, which a client trickling a byte a minute
//! defeats, and hyper's header timeout (which poem does not expose) also starts while a keep-alive
//! connection is merely idle. So each accepted connection's stream is wrapped: it watches for the
//! end of a request's header block (a blank line) and for the start of the answer, and fails the
//! read — which closes the connection — when the headers are late or the idleness too long.
//!
//! HTTP/1.1 servers skip line breaks sent before a request line (RFC 9112 §2.2), so a blank line
//! only ends a header block once a byte that is not a line break has arrived: a client sending
//! `CRLF CRLF` first does not stop the clock, and line breaks on an idle connection do not make it
//! busy. Cleartext HTTP/2 ("prior knowledge", recognised by its preface) is refused: its requests
//! are frames this wrapper cannot time, and every client that speaks HTTP/2 to us does so through a
//! TLS-terminating proxy, which speaks HTTP/1.1 or TLS to us.
//!
//! [`GuardedAcceptor`] also caps the connections one client address may hold open
//! (`DTR_MAX_CONNECTIONS_PER_CLIENT`; IPv6 addresses counted by their /64, trusted proxies exempt),
//! so one client cannot take every file descriptor.

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
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

/// Wraps every connection an acceptor accepts in a [`Guarded`] stream, and closes at once a
/// connection from a client address that already holds its share.
pub struct GuardedAcceptor<A> {
    inner: A,
    limits: Limits,
    per_client: Option<PerClient>,
}

/// Open connections per client address.
struct PerClient {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Reverse proxies: every client behind one shares its address, so it is not capped.
    exempt: Vec<crate::config::Cidr>,
    /// IPv6 addresses are counted by this prefix (one device may hold a whole /64).
    ipv6_prefix: u8,
}

/// The key a client address is counted under: IPv4 as it is, IPv6 by its first `prefix` bits.
pub fn client_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(ipv6_prefix.min(128)))
                    .unwrap_or(0);
                IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
        v4 => v4,
    }
}

impl<A> GuardedAcceptor<A> {
    /// Guards `inner`'s connections with `limits`; at most `max_per_client` open connections per
    /// client address (0: no cap), except from `exempt` addresses.
    pub fn new(
        inner: A,
        limits: Limits,
        max_per_client: usize,
        exempt: Vec<crate::config::Cidr>,
        ipv6_prefix: u8,
    ) -> Self {
        GuardedAcceptor {
            inner,
            limits,
            per_client: (max_per_client > 0).then(|| PerClient {
                max: max_per_client,
                open: Arc::default(),
                exempt,
                ipv6_prefix,
            }),
        }
    }
}

/// A connection's place in its client's count, given back when the connection closes.
pub struct Counted {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl PerClient {
    /// A place for a connection from `ip`, or `None` when it holds its share already.
    fn admit(&self, ip: IpAddr) -> Option<Option<Counted>> {
        if self.exempt.iter().any(|c| c.contains(ip)) {
            return Some(None);
        }
        let key = client_key(ip, self.ipv6_prefix);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Some(Counted {
            open: self.open.clone(),
            key,
        }))
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A> {
    type Io = Guarded<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let counted = match (&self.per_client, remote.as_socket_addr()) {
                (Some(per_client), Some(addr)) => match per_client.admit(addr.ip()) {
                    Some(counted) => counted,
                    None => {
                        // Dropping the stream closes it: the client holds its share already.
                        tracing::debug!("closing a connection beyond the per-client cap");
                        drop(io);
                        continue;
                    }
                },
                _ => None,
            };
            let mut guarded = Guarded::new(io, self.limits);
            guarded.counted = counted;
            return Ok((guarded, local, remote, scheme));
        }
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
    /// Cleartext HTTP/2 prior knowledge: refused.
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
    /// Whether the current request has begun: a byte other than a line break has arrived since
    /// the last answer (line breaks before a request line are skipped by the server).
    begun: bool,
    deadline: Pin<Box<Sleep>>,
    /// The connection's place in its client's count.
    counted: Option<Counted>,
}

impl<Io> Guarded<Io> {
    fn new(io: Io, limits: Limits) -> Self {
        Guarded {
            io,
            limits,
            phase: Phase::Headers,
            tail: [0; 3],
            preface: 0,
            begun: false,
            deadline: Box::pin(tokio::time::sleep(limits.headers)),
            counted: None,
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
                    return;
                }
            } else {
                self.preface = H2_PREFACE.len(); // not HTTP/2
            }
        }
        match self.phase {
            Phase::Http2 => {}
            Phase::Idle => {
                // Line breaks between requests are skipped by the server: the connection stays
                // idle, on the idle clock. Anything else begins the next request: its headers
                // are due.
                let Some(start) = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')) else {
                    return;
                };
                self.phase = Phase::Headers;
                self.tail = [0; 3];
                self.begun = false;
                self.arm(self.limits.headers);
                self.find_header_end(&bytes[start..]);
            }
            Phase::Headers => self.find_header_end(bytes),
            Phase::Request => {}
        }
    }

    /// Looks for the blank line that ends the header block (`CRLF CRLF`, or the bare `LF LF` that
    /// parsers also accept), counting only from the request's first byte that is not a line break.
    fn find_header_end(&mut self, bytes: &[u8]) {
        let bytes = if self.begun {
            bytes
        } else {
            match bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')) {
                Some(start) => {
                    self.begun = true;
                    &bytes[start..]
                }
                None => return,
            }
        };
        let mut window = Vec::with_capacity(self.tail.len() + bytes.len());
        window.extend_from_slice(&self.tail);
        window.extend_from_slice(bytes);
        if window.windows(2).any(|w| w == b"\n\n") || window.windows(3).any(|w| w == b"\n\r\n") {
            self.phase = Phase::Request;
            self.begun = false;
            return;
        }
        let n = window.len();
        self.tail.copy_from_slice(&window[n.saturating_sub(3)..]);
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
            Phase::Idle => self.arm(self.limits.idle),
            Phase::Http2 => {}
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
        Phase::Http2 => "cleartext HTTP/2 is not served",
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
                if this.phase == Phase::Http2 {
                    return Poll::Ready(Err(too_slow(Phase::Http2)));
                }
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
    async fn cleartext_http2_is_recognised_by_its_preface() {
        let mut g = guarded();
        g.saw(&H2_PREFACE[..10]);
        assert_eq!(g.phase, Phase::Headers);
        g.saw(&H2_PREFACE[10..]);
        assert_eq!(g.phase, Phase::Http2);
    }

    #[tokio::test]
    async fn blank_lines_before_a_request_do_not_end_its_headers() {
        let mut g = guarded();
        g.saw(b"\r\n\r\n\r\n");
        assert_eq!(g.phase, Phase::Headers, "leading line breaks are skipped");
        g.saw(b"\n\nGET / HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(g.phase, Phase::Headers);
        g.saw(b"\r\n");
        assert_eq!(g.phase, Phase::Request);
    }

    #[tokio::test]
    async fn line_breaks_on_an_idle_connection_leave_it_idle_and_a_bare_lf_lf_ends_headers() {
        let mut g = guarded();
        g.saw(b"GET / HTTP/1.1\n\n");
        assert_eq!(g.phase, Phase::Request, "LF LF ends the header block too");
        g.wrote(10, &mut Context::from_waker(std::task::Waker::noop()));
        g.saw(b"\r\n\r\n");
        assert_eq!(g.phase, Phase::Idle, "line breaks do not begin a request");
        g.saw(b"\r\nG");
        assert_eq!(g.phase, Phase::Headers);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_ipv4_by_their_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("an address");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("an address");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert_eq!(client_key(a, 64), client_key(b, 64));
        assert_ne!(client_key(a, 64), client_key(c, 64));
        assert_ne!(client_key(a, 128), client_key(b, 128));
        let v4: IpAddr = "192.0.2.7".parse().expect("an address");
        assert_eq!(client_key(v4, 64), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("an address");
        assert_eq!(client_key(mapped, 64), v4);
    }
}
