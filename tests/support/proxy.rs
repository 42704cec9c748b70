//! A fault-injecting TCP proxy on loopback, for the fault harnesses: it passes, delays,
//! refuses, drops a share of, or black-holes new connections, and resets those in flight.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Pass,
    /// Each new connection waits this many milliseconds before it reaches its target.
    Delay(u64),
    Refuse,
    /// This share (in percent) of new connections is refused, the rest pass.
    Flaky(u8),
    /// New connections are accepted and never answered.
    Blackhole,
    /// New connections pass, and every reply, on any connection, arrives this many
    /// milliseconds late: the far end has done the work when the near end gives up.
    LateReplies(u64),
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    mode: Arc<Mutex<Mode>>,
    /// The targets; each new connection goes to the next one.
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    next: Arc<AtomicUsize>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
}

impl Proxy {
    pub async fn start(targets: Vec<SocketAddr>) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            mode: Arc::new(Mutex::new(Mode::Pass)),
            targets: Arc::new(Mutex::new(targets)),
            next: Arc::default(),
            live: Arc::default(),
            held: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // Dropped sockets reset the connection rather than close it politely.
                let _ = client.set_zero_linger();
                let mode = *p.mode.lock().unwrap();
                let target = {
                    let t = p.targets.lock().unwrap();
                    t[p.next.fetch_add(1, Ordering::Relaxed) % t.len()]
                };
                let mode = match mode {
                    Mode::Flaky(percent) if fastrand::u8(0..100) < percent => Mode::Refuse,
                    Mode::Flaky(_) => Mode::Pass,
                    m => m,
                };
                match mode {
                    Mode::Refuse => drop(client),
                    Mode::Blackhole => p.held.lock().unwrap().push(client),
                    Mode::Pass | Mode::Delay(_) | Mode::Flaky(_) | Mode::LateReplies(_) => {
                        let now = p.mode.clone();
                        let task = tokio::spawn(async move {
                            if let Mode::Delay(ms) = mode {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                            }
                            if let Ok(upstream) = tokio::net::TcpStream::connect(target).await {
                                let _ = upstream.set_zero_linger();
                                pump(client, upstream, now).await;
                            }
                        });
                        let mut live = p.live.lock().unwrap();
                        live.retain(|h| !h.is_finished());
                        live.push(task.abort_handle());
                    }
                }
            }
        });
        proxy
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        if mode != Mode::Blackhole {
            self.held.lock().unwrap().clear();
        }
    }

    /// Points the `i`th target elsewhere (a process restarted on another port).
    pub fn retarget(&self, i: usize, to: SocketAddr) {
        self.targets.lock().unwrap()[i] = to;
    }

    /// Resets every connection in flight (some mid-request: the far end may have committed
    /// and the near end never hears it).
    pub fn reset_all(&self) {
        for h in self.live.lock().unwrap().drain(..) {
            h.abort();
        }
        self.held.lock().unwrap().clear();
    }

    /// A partition: new connections hang, those in flight are cut.
    pub fn partition(&self) {
        self.set(Mode::Blackhole);
        self.reset_all();
    }
}

/// Copies both ways until both ends are done; replies wait as the proxy's mode says at the
/// moment they arrive.
async fn pump(
    client: tokio::net::TcpStream,
    upstream: tokio::net::TcpStream,
    mode: Arc<Mutex<Mode>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let requests = async {
        let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
        let _ = upstream_write.shutdown().await;
    };
    let replies = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = upstream_read.read(&mut buf).await {
            let late = match *mode.lock().unwrap() {
                Mode::LateReplies(ms) => ms,
                _ => 0,
            };
            if late > 0 {
                tokio::time::sleep(Duration::from_millis(late)).await;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(requests, replies);
}
