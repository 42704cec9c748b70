//! An ESC/POS printer emulated at the far end of a real link (a TCP port, a pseudo-terminal):
//! it keeps what it is sent and answers `DLE EOT` as an Epson does, from flags a test (or an
//! installer trying the network driver without a printer) sets. Not a simulator behind the
//! trait: the real drivers talk to it over the wire.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The emulated printer's state.
#[derive(Debug, Default)]
pub struct Paper {
    /// No paper.
    pub out: bool,
    /// The roll is nearly finished.
    pub near_end: bool,
    /// Cover open.
    pub cover_open: bool,
    /// Silent: reads everything, answers nothing (a printer that hangs).
    pub mute: bool,
    /// Every byte that was not a status request, in order.
    pub printed: Vec<u8>,
    /// Status requests answered or ignored.
    pub questions: usize,
}

/// The state, shared with whoever drives the emulation.
pub type Shared = Arc<Mutex<Paper>>;

/// Epson's real-time status bytes: fixed bits `0xx1xx10`, then the flags.
fn answer(p: &Paper, n: u8) -> u8 {
    let offline = p.out || p.cover_open;
    match n {
        1 => 0x12 | if offline { 0x08 } else { 0 },
        2 => 0x12 | if p.cover_open { 0x04 } else { 0 } | if p.out { 0x20 } else { 0 },
        4 => 0x12 | if p.near_end || p.out { 0x0C } else { 0 } | if p.out { 0x60 } else { 0 },
        _ => 0x12,
    }
}

/// Serves one link until it closes. Paper-out keeps nothing: an emulated printer without paper
/// prints nothing (real ones may buffer; the kiosk never sends a ticket to a printer that said
/// it has no paper).
pub fn serve(mut link: impl Read + Write, state: &Shared) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match link.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut i = 0;
        while i < pending.len() {
            if pending[i] == 0x10 && pending.get(i + 1) == Some(&0x04) {
                let Some(&q) = pending.get(i + 2) else { break };
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.questions += 1;
                if !s.mute {
                    let a = answer(&s, q);
                    drop(s);
                    if link.write_all(&[a]).is_err() {
                        return;
                    }
                }
                i += 3;
            } else {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                if !s.out {
                    s.printed.push(pending[i]);
                }
                i += 1;
            }
        }
        pending.drain(..i);
    }
}

/// A printer on a loopback TCP port (a thread serves one connection at a time, for the life of
/// the process). Returns the port and the state.
pub fn network() -> std::io::Result<(u16, Shared)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let state: Shared = Arc::default();
    let s = state.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            serve(conn, &s);
        }
    });
    Ok((port, state))
}
