//! Where kiosk actions run: one worker thread for all of them, so the UI thread only moves
//! data. A check-in commits to SQLite and prints, a Cassetto question waits for the hub: on
//! the UI thread either would freeze the screen under the visitor's finger.
//!
//! A worker is one thread, not one per action: actions run in the order the visitor asked for
//! them, and a burst of taps cannot pile up threads. The kiosk keeps two: one for what it does
//! itself (tickets, printing) and one for what it asks the hub (*Il mio Cassetto*, its
//! half-second poll included), so a hub that takes its 30 s timeout to answer never holds a
//! walk-in ticket behind it. The scanner's check-ins run on the scanner's own thread.

use std::sync::mpsc;

use super::view::MainWindow;

/// Where kiosk actions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// On the worker thread, the answer posted back to the event loop (the running kiosk).
    Worker,
    /// On the UI thread, at once (tests and screenshots, which have no event loop).
    Inline,
}

type Job = Box<dyn FnOnce() + Send>;

/// The kiosk's worker: a handle to its thread (none when actions run inline). The thread ends
/// when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
}

impl Worker {
    /// Runs everything at once, on the caller's thread.
    pub(crate) fn inline() -> Self {
        Self { jobs: None }
    }

    /// Starts a worker thread named `name` for [`Dispatch::Worker`].
    pub(crate) fn new(dispatch: Dispatch, name: &str) -> std::io::Result<Self> {
        let jobs = match dispatch {
            Dispatch::Inline => return Ok(Self::inline()),
            Dispatch::Worker => {
                let (tx, rx) = mpsc::channel::<Job>();
                let name = name.to_owned();
                std::thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || {
                        for job in rx {
                            // A bug in one action must not take every later one with it.
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err()
                            {
                                tracing::error!(worker = %name, "an action panicked; the worker goes on");
                            }
                        }
                    })?;
                Some(tx)
            }
        };
        Ok(Self { jobs })
    }

    /// Runs `work` on the worker and then `then` on the UI thread with its result (both at
    /// once, in order, with [`Dispatch::Inline`]).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        weak: &slint::Weak<MainWindow>,
        work: impl FnOnce() -> T + Send + 'static,
        then: impl FnOnce(MainWindow, T) + Send + 'static,
    ) {
        let Some(jobs) = &self.jobs else {
            let r = work();
            if let Some(w) = weak.upgrade() {
                then(w, r);
            }
            return;
        };
        let weak = weak.clone();
        let job: Job = Box::new(move || {
            let r = work();
            // The window may be gone (the kiosk is stopping): nothing left to show.
            let _ = weak.upgrade_in_event_loop(move |w| then(w, r));
        });
        if jobs.send(job).is_err() {
            tracing::error!("the kiosk's worker has stopped; action dropped");
        }
    }
}
