//! What a connection may hold of a server: how many at once (in all, and from one address),
//! and for how long it may sit without a byte either way. Without these a slow or silent
//! client keeps a task and a file descriptor forever, and a few thousand of them starve the
//! kiosk's LAN server or the hub of both.
//!
//! [`Limited`] is the acceptor under TLS: it refuses a connection over the caps at once (the
//! socket is closed before the handshake costs anything), and its stream ends a connection that
//! neither reads nor writes for [`Limits::idle`]. The header and first-request timeouts are
//! hyper's and axum-server's, set by [`harden`].

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections at once, in all (kept under the process's file limit by [`Limited::new`]).
    pub total: usize,
    /// Connections at once from one address.
    pub per_address: usize,
    /// The whole head of a request must arrive within this.
    pub header: Duration,
    /// A new connection must have sent its first request within this (TLS handshake apart).
    pub first_request: Duration,
    /// A connection that neither reads nor writes a byte for this long is closed. Longer than
    /// any answer that waits on purpose (the hub's 30 s long poll; server-sent events write a
    /// keep-alive every 15 s).
    pub idle: Duration,
}

impl Limits {
    /// The branch LAN server: a few consoles, supervisors and hall displays, on a Raspberry Pi.
    pub const LAN: Limits = Limits {
        total: 512,
        per_address: 64,
        header: Duration::from_secs(10),
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(75),
    };

    /// The hub: every kiosk long-polls it, and behind a load balancer every connection comes
    /// from the balancer's address, so the per-address cap is the total unless configured.
    pub const HUB: Limits = Limits {
        total: 16_384,
        per_address: 16_384,
        header: Duration::from_secs(10),
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(75),
    };
}

/// The acceptor that counts and bounds connections (see the module's documentation).
#[derive(Clone)]
pub struct Limited {
    total: Arc<Semaphore>,
    per_address: usize,
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    idle: Duration,
}

impl Limited {
    /// Counts against `limits`, with the total kept to three quarters of the open-file limit
    /// so that the database, the logs and the listener always have descriptors left.
    pub fn new(limits: &Limits) -> Self {
        let total = match open_file_limit() {
            Some(files) => limits.total.min(files * 3 / 4).max(1),
            None => limits.total,
        };
        Self {
            total: Arc::new(Semaphore::new(total)),
            per_address: limits.per_address.max(1),
            by_address: Arc::default(),
            idle: limits.idle,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.by_address
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    fn admit(&self, stream: TcpStream) -> io::Result<Counted> {
        let address = stream.peer_addr()?.ip();
        let permit = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| refused("the server's connection limit"))?;
        {
            let mut by = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
            let n = by.entry(address).or_default();
            if *n >= self.per_address {
                return Err(refused("the connection limit of one address"));
            }
            *n += 1;
        }
        Ok(Counted {
            inner: stream,
            idle: self.idle,
            deadline: Box::pin(tokio::time::sleep(self.idle)),
            _slot: Slot {
                address,
                by_address: self.by_address.clone(),
                _permit: permit,
            },
        })
    }
}

fn refused(what: &str) -> io::Error {
    tracing::debug!(limit = what, "connection refused");
    io::Error::other(format!("refused: {what}"))
}

impl<S> axum_server::accept::Accept<TcpStream, S> for Limited {
    type Stream = Counted;
    type Service = S;
    type Future = Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        ready(self.admit(stream).map(|s| (s, service)))
    }
}

/// Sets the header and first-request timeouts of `limits` on a server.
pub fn harden<A: axum_server::Address, Acc>(
    server: axum_server::Server<A, Acc>,
    limits: &Limits,
) -> axum_server::Server<A, Acc> {
    let mut server = server.first_request_timeout(limits.first_request);
    server
        .http_builder()
        .http1()
        .header_read_timeout(limits.header);
    server
}

/// The count of a connection from its address, given back when it closes.
struct Slot {
    address: IpAddr,
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                by.remove(&self.address);
            }
        }
    }
}

/// An admitted connection: counted until it closes, and closed when idle too long.
pub struct Counted {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _slot: Slot,
}

impl Counted {
    fn active(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// Pending I/O after the idle time is an error that ends the connection.
    fn idle_out<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.idle_out(cx),
        }
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // A client that does not read what it asked for is as idle as a silent one.
            Poll::Pending => self.idle_out(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_over_the_cap_of_an_address_are_refused_and_counted_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limited = Limited::new(&Limits {
            per_address: 2,
            ..Limits::LAN
        });
        let mut kept = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (s, _) = listener.accept().await.unwrap();
            kept.push(limited.admit(s));
        }
        assert!(kept[0].is_ok() && kept[1].is_ok());
        assert!(kept[2].is_err(), "the third from one address");
        assert_eq!(limited.open(), 2);
        drop(kept.remove(0));
        assert_eq!(limited.open(), 1, "a closed connection gives its slot back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_silent_for_the_idle_time_ends() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limited = Limited::new(&Limits::LAN);
        let _client = TcpStream::connect(addr).await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let mut conn = limited.admit(s).unwrap();
        let mut buf = [0u8; 8];
        let read = conn.read(&mut buf).await;
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn the_open_file_limit_is_read() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
