//! Talking to the service manager: ready, stopping, and a watchdog that is fed only while every
//! loop the service lives by is turning.
//!
//! Under systemd (`Type=notify`, `WatchdogSec=`) the manager passes `NOTIFY_SOCKET` and
//! `WATCHDOG_USEC`; anywhere else both are absent and every call here does nothing, so the demo
//! and the tests run the same code.
//!
//! Why hearts and not a ping from each loop: with two loops pinging on their own, one hung loop
//! would be hidden by the other, which keeps pinging. Here each loop beats its own heart, and a
//! pinger sends `WATCHDOG=1` only while every heart beat within half the watchdog time. A loop
//! that is busy still beats between its tasks, so it is not restarted; one that is stuck stops
//! beating, the pings stop, and systemd restarts the service after `WatchdogSec`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// The service as the manager sees it.
pub struct Service {
    watchdog: Option<Duration>,
    hearts: std::sync::Mutex<Vec<(&'static str, Arc<AtomicU64>)>>,
    started: Instant,
}

/// One loop's heart: [`Heart::beat`] each time the loop turns.
#[derive(Clone)]
pub struct Heart {
    last: Arc<AtomicU64>,
    started: Instant,
}

impl Heart {
    /// The loop is turning.
    pub fn beat(&self) {
        self.last
            .store(millis_since(self.started), Ordering::Release);
    }
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Service {
    /// The service as the environment describes it: under a manager or not, with a watchdog or
    /// not.
    pub fn from_env() -> Self {
        Self {
            watchdog: sd_notify::watchdog_enabled().filter(|d| !d.is_zero()),
            hearts: std::sync::Mutex::default(),
            started: Instant::now(),
        }
    }

    /// How often a loop should beat: a quarter of the watchdog time, or every second without
    /// one (the beat is cheap and the loops need not know).
    pub fn beat_every(&self) -> Duration {
        self.watchdog
            .map(|w| (w / 4).max(Duration::from_millis(10)))
            .unwrap_or(Duration::from_secs(1))
    }

    /// The heart of a loop the service lives by. Register every loop before [`Service::ready`].
    pub fn heart(&self, name: &'static str) -> Heart {
        let last = Arc::new(AtomicU64::new(millis_since(self.started)));
        self.hearts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, last.clone()));
        Heart {
            last,
            started: self.started,
        }
    }

    /// Tells the manager the service is up (`READY=1`, with a status line) and starts feeding
    /// the watchdog, if there is one.
    pub fn ready(&self, status: &str) {
        notify(&[NotifyState::Ready, NotifyState::Status(status)]);
        let Some(period) = self.watchdog else {
            return;
        };
        let hearts = self
            .hearts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let started = self.started;
        let every = self.beat_every();
        let grace = u64::try_from((period / 2).as_millis()).unwrap_or(u64::MAX);
        let spawned = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut stuck: Option<&'static str> = None;
                loop {
                    let now = millis_since(started);
                    let late = hearts.iter().find(|(_, last)| {
                        now.saturating_sub(last.load(Ordering::Acquire)) > grace
                    });
                    match late {
                        None => {
                            if let Some(name) = stuck.take() {
                                tracing::info!(r#loop = name, "turning again: watchdog fed");
                            }
                            notify(&[NotifyState::Watchdog]);
                        }
                        Some((name, _)) if stuck != Some(name) => {
                            tracing::error!(
                                r#loop = name,
                                "stuck: the watchdog is no longer fed and the service will be restarted"
                            );
                            stuck = Some(name);
                        }
                        Some(_) => {}
                    }
                    std::thread::sleep(every);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the watchdog's thread");
        }
    }

    /// Tells the manager the service is stopping on purpose (`STOPPING=1`).
    pub fn stopping(&self) {
        notify(&[NotifyState::Stopping]);
    }

    /// A status line the manager shows (`systemctl status`).
    pub fn status(&self, status: &str) {
        notify(&[NotifyState::Status(status)]);
    }
}

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot talk to the service manager");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heart_beats_forward() {
        let service = Service {
            watchdog: Some(Duration::from_millis(400)),
            hearts: Default::default(),
            started: Instant::now() - Duration::from_secs(5),
        };
        let heart = service.heart("test");
        let before = heart.last.load(Ordering::Acquire);
        std::thread::sleep(Duration::from_millis(5));
        heart.beat();
        assert!(heart.last.load(Ordering::Acquire) > before);
        assert_eq!(service.beat_every(), Duration::from_millis(100));
    }
}
