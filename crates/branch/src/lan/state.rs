//! What every request of the LAN server shares: the branch node, the hall's voice, the login
//! limiter, the recent calls' audio, and the bounds on what the hall's open endpoints may cost
//! (they need no login, so anyone on the lobby LAN can call them).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::node::Branch;
use crate::speech::Speech;

/// What the node last heard from each of its kiosks, for staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskReport {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// How it was.
    pub health: protocol::lan::KioskHealth,
    /// Numbers it had left, per service.
    pub left: std::collections::BTreeMap<domain::ServiceLetter, u16>,
    /// Tickets it printed while cut off that the node could not take.
    pub refused: u32,
}

/// The kiosks' reports, by device id.
pub type KioskReports = Arc<Mutex<std::collections::BTreeMap<String, KioskReport>>>;

/// The walk-ins the node issued lately, by the kiosk and its request id, so that a kiosk that
/// never had the answer can name it ([`protocol::lan::SyncRequest::abandoned`]). Kept in
/// memory, newest last, at most [`RECENT_REQUESTS`].
pub type RecentRequests = Arc<Mutex<VecDeque<(String, String, domain::TicketNumber)>>>;

/// Walk-ins remembered by request: several minutes of a busy sede's kiosks.
pub const RECENT_REQUESTS: usize = 2048;

/// Recent calls' audio (WAV bytes) by event sequence, newest last.
pub type AudioCache = VecDeque<(i64, Arc<Vec<u8>>)>;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    /// The branch node.
    pub branch: Arc<Branch>,
    /// Voice for hall calls.
    pub speech: Arc<dyn Speech>,
    /// Failed logins.
    pub limiter: Arc<Mutex<web::auth::LoginLimiter>>,
    /// Recently generated call audio by event sequence.
    pub audio: Arc<Mutex<AudioCache>>,
    /// Login length.
    pub session_hours: u32,
    /// Event streams open at once, the hall's and the console's ([`HALL_STREAMS`],
    /// [`CONSOLE_STREAMS`]).
    pub hall_streams: Arc<Semaphore>,
    pub console_streams: Arc<Semaphore>,
    /// One call's audio is synthesised at a time; the others wait for it or for the cache.
    pub speech_turn: Arc<Semaphore>,
    /// The hall's state as last read: a flood of reads takes the branch's lock once per
    /// change of the queue, or per [`HALL_STATE_FRESH`].
    pub hall_state: Arc<Mutex<Option<HallSnapshot>>>,
    /// What the branch's other kiosks last reported.
    pub kiosks: KioskReports,
    /// The walk-ins the node issued for its kiosks lately.
    pub requests: RecentRequests,
    /// The bearer token of `/metrics` (`lan.metrics_token`); unset: no metrics.
    pub metrics_token: Option<String>,
}

/// The hall's state as JSON, with the queue's and the configuration's generations it was read
/// at and when.
pub type HallSnapshot = ((u64, u64), Instant, Arc<String>);

/// Hall displays streaming at once: a sede has a few screens.
pub const HALL_STREAMS: usize = 16;
/// Console streams at once: a browser each for a few dozen counters and supervisors.
pub const CONSOLE_STREAMS: usize = 64;
/// How long the hall's state is served unchanged while the queue does not move (its waiting
/// figures follow the clock).
pub const HALL_STATE_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// State over a branch node.
    pub fn new(branch: Arc<Branch>, speech: Arc<dyn Speech>, session_hours: u32) -> Self {
        Self {
            branch,
            speech,
            limiter: Arc::default(),
            audio: Arc::default(),
            session_hours,
            hall_streams: Arc::new(Semaphore::new(HALL_STREAMS)),
            console_streams: Arc::new(Semaphore::new(CONSOLE_STREAMS)),
            speech_turn: Arc::new(Semaphore::new(1)),
            hall_state: Arc::default(),
            kiosks: Arc::default(),
            requests: Arc::default(),
            metrics_token: None,
        }
    }

    /// Serves `/metrics` to whoever sends this bearer token.
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.filter(|t| !t.is_empty());
        self
    }
}
