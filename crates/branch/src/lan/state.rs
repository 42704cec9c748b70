//! What every request of the LAN server shares: the branch node, the hall's voice, the login
//! limiter and the recent calls' audio.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::node::Branch;
use crate::speech::Speech;

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
}

impl AppState {
    /// State over a branch node.
    pub fn new(branch: Arc<Branch>, speech: Arc<dyn Speech>, session_hours: u32) -> Self {
        Self {
            branch,
            speech,
            limiter: Arc::default(),
            audio: Arc::default(),
            session_hours,
        }
    }
}
