//! The kiosk's sync agent: pushes the outbox to the hub in the background, backing off while
//! the hub cannot be reached, and reports the kiosk's health (outbox depth, oldest pending
//! age, last success, printer, scanner, clock) with every push.
//!
//! A push is triggered by a local write (the branch's live events), by a timer, and after every
//! failure with exponential backoff and jitter, so one bad operation never holds back the ones behind it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client::{HubClient, PushOutcome, SyncError};
use crate::node::Branch;
use protocol::wire::{DeviceStatus, OpStatus, PushOp, PushRefusal, PushRequest};
use queue::DeviceAlert;
use store::HubLink;

/// Operations per push.
pub const BATCH: usize = 100;

/// How long a pull waits at the hub for a change.
pub const LONG_POLL_S: u64 = 25;

/// Up to half of `d` at random, so kiosks that failed together do not retry together.
fn jitter(d: Duration) -> Duration {
    Duration::from_millis(fastrand::u64(0..=d.as_millis() as u64 / 2))
}

/// A kiosk with nothing to send still tells the hub how it is: at once when that changes
/// (the next push round), and at least this often, so the console's fleet page is never
/// silent about a quiet kiosk.
pub const HEARTBEAT: Duration = Duration::from_secs(300);

/// The kiosk's name for its branch's feed (the `sync_cursor` row).
pub const FEED: &str = "branch";

/// What the agent last saw, for the kiosk's own status.
#[derive(Debug, Clone, Default)]
pub struct AgentState {
    /// The last push the hub answered.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, while it lasts.
    pub last_error: Option<String>,
    /// The feed fails to apply, and since when: reported to the hub with every push.
    pub feed_stuck: Option<protocol::wire::FeedStuck>,
}

/// The sync agent of one kiosk.
pub struct Agent {
    branch: Arc<Branch>,
    client: HubClient,
    state: Arc<Mutex<AgentState>>,
    /// The status the hub last took, and when.
    reported: Mutex<Option<(DeviceStatus, std::time::Instant)>>,
    /// A node: where it serves the branch's kiosks, reported with its status.
    lan: Option<protocol::wire::LanEndpoint>,
}

impl Agent {
    /// An agent for an enrolled kiosk.
    pub fn new(branch: Arc<Branch>, link: &HubLink) -> Result<Self, SyncError> {
        Ok(Self {
            client: HubClient::with_pins(
                &link.hub_url,
                &link.device_id,
                &link.secret_key,
                super::client::HubPins::of(link),
            )?,
            branch,
            state: Arc::default(),
            reported: Mutex::default(),
            lan: None,
        })
    }

    /// Reports to the hub where this node serves the branch's kiosks, so they find it and pin
    /// its certificate's key.
    pub fn with_lan(mut self, lan: protocol::wire::LanEndpoint) -> Self {
        self.lan = Some(lan);
        self
    }

    /// The hub keys this kiosk accepts, for its other clients of the hub to share.
    pub fn pins(&self) -> Arc<super::client::HubPins> {
        self.client.pins()
    }

    /// Keeps the keys the hub announced, so the kiosk follows it to a new certificate key
    /// announced ahead (and drops a key it no longer announces).
    fn hear_hub_keys(&self, announced: &[String]) -> Result<(), store::StoreError> {
        let keys: Vec<[u8; 32]> = announced
            .iter()
            .filter_map(|k| protocol::wire::unhex(k)?.try_into().ok())
            .collect();
        if self.client.pins().announce(&keys) {
            self.branch.with_store(|s| s.set_announced_keys(&keys))?;
            tracing::info!(keys = ?announced, "the hub's keys, as it announced them");
        }
        Ok(())
    }

    /// Keeps the key the sede's tickets' follow addresses are tagged with, when the hub gives
    /// a new one (written only when it changes: every pull carries it).
    fn hear_follow_key(&self, key: Option<&str>) -> Result<(), store::StoreError> {
        let Some(key) = key.and_then(|k| protocol::wire::unhex(k)?.try_into().ok()) else {
            return Ok(());
        };
        let known = self.branch.read(|_, s| s.follow_key())?;
        if known != Some(key) {
            self.branch.with_store(|s| s.set_follow_key(Some(&key)))?;
            tracing::info!("the sede's key for the follow addresses, from the hub");
        }
        Ok(())
    }

    /// What the agent last saw.
    pub fn state(&self) -> Arc<Mutex<AgentState>> {
        self.state.clone()
    }

    fn status(&self) -> DeviceStatus {
        let (depth, oldest, alerts) = self.branch.read(|q, s| {
            (
                s.outbox_depth().unwrap_or(0),
                s.outbox_oldest_pending().ok().flatten(),
                q.alerts().collect::<Vec<_>>(),
            )
        });
        let printer = [
            (DeviceAlert::PrinterOffline, "offline"),
            (DeviceAlert::PrinterOutOfPaper, "paper_out"),
            (DeviceAlert::PrinterCoverOpen, "cover_open"),
            (DeviceAlert::PrinterPaperLow, "paper_low"),
        ]
        .iter()
        .find(|(a, _)| alerts.contains(a))
        .map_or("ready", |(_, s)| s);
        // One lock, taken and let go here: a temporary guard would live to the end of the
        // struct below and deadlock a second.
        let (last_success, feed_stuck) = {
            let state = self.lock_state();
            (state.last_success, state.feed_stuck.clone())
        };
        DeviceStatus {
            outbox_depth: depth,
            oldest_pending_age_s: oldest.map(|t| (Utc::now() - t).num_seconds().max(0) as u64),
            last_success,
            printer: printer.into(),
            scanner: if alerts.contains(&DeviceAlert::ScannerGone) {
                "gone"
            } else {
                "present"
            }
            .into(),
            clock_trusted: self.branch.clock().trust() == domain::ClockTrust::Trusted,
            feed_stuck,
            lan: self.lan.clone(),
        }
    }

    /// One push of up to [`BATCH`] pending operations, with the kiosk's status. Returns how
    /// many the hub settled (0: nothing was waiting). With nothing waiting, it still goes when
    /// the status changed since the hub last took it, or [`HEARTBEAT`] has passed.
    pub async fn push_once(&self) -> Result<usize, SyncError> {
        let (rows, device) = self
            .branch
            .read(|_, s| (s.outbox_pending(BATCH), s.device()));
        let store = |e: store::StoreError| SyncError::Protocol(e.to_string());
        let (rows, device) = (rows.map_err(store)?, device.map_err(store)?);
        let status = self.status();
        // The time of the last push changes with every push: not a change worth one.
        let comparable = DeviceStatus {
            last_success: None,
            ..status.clone()
        };
        if rows.is_empty() {
            let due = match &*self.reported.lock().unwrap_or_else(|p| p.into_inner()) {
                Some((last, at)) => *last != comparable || at.elapsed() >= HEARTBEAT,
                None => true,
            };
            if !due {
                return Ok(0);
            }
        }
        let ops = rows
            .iter()
            .map(|r| {
                Ok(PushOp {
                    seq: r.seq,
                    op_id: r.op_id.clone(),
                    kind: r.kind.clone(),
                    payload: serde_json::from_str(&r.payload)
                        .map_err(|e| SyncError::Protocol(format!("outbox row {}: {e}", r.seq)))?,
                })
            })
            .collect::<Result<Vec<_>, SyncError>>()?;
        let req = PushRequest {
            incarnation: device.incarnation,
            log_id: device.log_id,
            client_version: env!("CARGO_PKG_VERSION").into(),
            schema_version: protocol::OP_SCHEMA_VERSION,
            ops,
            status,
        };
        match self.client.push(&req).await {
            Ok(PushOutcome::Done(resp)) => {
                self.branch.with_store(|s| -> Result<(), store::StoreError> {
                    for r in resp.results.iter().filter(|r| r.status == OpStatus::Rejected) {
                        tracing::warn!(seq = r.seq, reason = ?r.detail, "the hub rejected an operation");
                        s.outbox_reject(r.seq, r.detail.as_deref().unwrap_or(""))?;
                    }
                    s.outbox_ack_through(resp.acked_through)?;
                    Ok(())
                })
                .map_err(store)?;
                *self.reported.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((comparable, std::time::Instant::now()));
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                st.last_success = Some(Utc::now());
                st.last_error = None;
                Ok(resp.results.len())
            }
            Ok(PushOutcome::Refused(PushRefusal::Gap { expected_seq })) => {
                // The hub is behind what it acknowledged (restored from a backup): send again.
                let again = self
                    .branch
                    .with_store(|s| s.outbox_resend_from(expected_seq))
                    .map_err(store)?;
                if again > 0 {
                    tracing::warn!(
                        expected_seq,
                        again,
                        "the hub expects earlier operations: sending them again"
                    );
                } else {
                    // They are no longer here (the daily purge forgets acknowledged ones after
                    // a while): the hub cannot have them back, and would refuse the rest for
                    // ever. A new stream starts where what is pending starts.
                    let inc = self
                        .branch
                        .with_store(|s| s.new_incarnation())
                        .map_err(store)?;
                    tracing::error!(
                        expected_seq,
                        incarnation = %inc,
                        "the hub lost operations this kiosk no longer keeps: new outbox stream, those are lost"
                    );
                }
                Ok(0)
            }
            Ok(PushOutcome::Refused(PushRefusal::IncarnationConflict { seq })) => {
                let inc = self
                    .branch
                    .with_store(|s| s.new_incarnation())
                    .map_err(store)?;
                tracing::warn!(seq, incarnation = %inc, "the hub holds other operations under our numbers: new outbox stream");
                Ok(0)
            }
            Err(e) => {
                self.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Pulls the branch feed until up to date, each page applied with its cursor in one local
    /// transaction. Returns how many changes were applied.
    pub async fn pull_once(&self) -> Result<usize, SyncError> {
        self.pull_waiting(0).await
    }

    /// The same, the first request waiting up to `wait` seconds at the hub for a change (a
    /// long poll: a change reaches the kiosk in a fraction of a second, without polling).
    pub async fn pull_waiting(&self, wait: u64) -> Result<usize, SyncError> {
        use super::client::PullOutcome;
        let store = |e: store::StoreError| SyncError::Protocol(e.to_string());
        let mut applied = 0;
        let mut wait = wait;
        loop {
            let cursor = self
                .branch
                .read(|_, s| s.sync_cursor(FEED))
                .map_err(store)?;
            let (after, epoch) = cursor.map_or((0, None), |(a, e)| (a, Some(e)));
            let page = self
                .client
                .pull_wait(after, epoch.as_deref(), std::mem::take(&mut wait))
                .await?;
            match page {
                PullOutcome::StartOver => {
                    tracing::warn!("the hub's feed started over: pulling everything again");
                    self.branch
                        .with_store(|s| s.reset_feed(FEED))
                        .map_err(store)?;
                }
                PullOutcome::Page(page) => {
                    self.hear_hub_keys(&page.hub_keys).map_err(store)?;
                    self.hear_follow_key(page.follow_key.as_deref())
                        .map_err(store)?;
                    self.branch
                        .apply_feed(FEED, &page.changes, page.next_after, &page.epoch)
                        .map_err(store)?;
                    applied += page.changes.len();
                    if page.up_to_date || page.changes.is_empty() {
                        return Ok(applied);
                    }
                }
            }
        }
    }

    /// Syncs until told to stop. Pulls as long polls in a task of their own, backing off while
    /// failing. Pushes at once after a local write or a full batch, every `interval`
    /// otherwise, backing off (with jitter, up to `max_backoff`) while failing.
    pub async fn run(
        self,
        interval: Duration,
        max_backoff: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let agent = Arc::new(self);
        let puller = tokio::spawn(agent.clone().pull_loop(max_backoff, stop.clone()));
        agent.push_loop(interval, max_backoff, stop).await;
        puller.abort();
    }

    async fn pull_loop(
        self: Arc<Self>,
        max_backoff: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let first = Duration::from_millis(500).min(max_backoff);
        let mut backoff = first;
        loop {
            let wait = match self.pull_waiting(LONG_POLL_S).await {
                Ok(_) => {
                    backoff = first;
                    self.lock_state().feed_stuck = None;
                    Duration::ZERO
                }
                Err(SyncError::Network(e)) => {
                    tracing::info!(error = %e, retry_in = ?backoff, "pull failed");
                    let wait = backoff + jitter(backoff);
                    backoff = (backoff * 2).min(max_backoff);
                    wait
                }
                Err(e) => {
                    // The hub answered and the answer cannot be used: the same page will fail
                    // again. Retried all the same (a fixed hub or a newer kiosk mends it),
                    // but said loudly, here and to the hub.
                    self.feed_failed(&e);
                    tracing::error!(error = %e, retry_in = ?backoff, "the hub's feed cannot be applied");
                    let wait = backoff + jitter(backoff);
                    backoff = (backoff * 2).min(max_backoff);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, AgentState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a pull that reached the hub and could not be applied.
    fn feed_failed(&self, e: &SyncError) {
        let after = self
            .branch
            .read(|_, s| s.sync_cursor(FEED))
            .ok()
            .flatten()
            .map_or(0, |(a, _)| a);
        let error: String = e.to_string().chars().take(300).collect();
        let mut state = self.lock_state();
        let since = match &state.feed_stuck {
            Some(f) if f.after == after => f.since,
            _ => Utc::now(),
        };
        state.feed_stuck = Some(protocol::wire::FeedStuck {
            since,
            after,
            error,
        });
    }

    async fn push_loop(
        &self,
        interval: Duration,
        max_backoff: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut events = self.branch.subscribe();
        let first = Duration::from_millis(500).min(max_backoff);
        let mut backoff = first;
        loop {
            let wait = match self.push_once().await {
                Ok(n) if n >= BATCH => Duration::ZERO,
                Ok(_) => {
                    backoff = first;
                    interval
                }
                Err(e) => {
                    tracing::info!(error = %e, retry_in = ?backoff, "push failed");
                    let wait = backoff + jitter(backoff);
                    backoff = (backoff * 2).min(max_backoff);
                    wait
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                r = events.recv() => {
                    if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
