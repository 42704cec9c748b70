//! The Slint touchscreen UI: the controllers that feed the global adapters of
//! `ui/adapter.slint`, one a screen flow, over the kiosk flows of [`crate::Kiosk`].
//!
//! [`view`] holds what Slint generates; [`session`] the visitor's session (navigation,
//! language, the privacy timeout); [`tickets`] the home screen, check-in and walk-in;
//! [`actions`] runs their kiosk actions and shows the answers; [`cassetto`] draws *Il mio
//! Cassetto*, whose logic is the sans-IO [`crate::cassetto::Session`]; [`worker`] is where
//! all of that runs off the UI thread.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardware::panel::PanelEvent;
use hardware::screen::Backlight;
use slint::{ComponentHandle, Timer, TimerMode};

use crate::Kiosk;
use crate::guide::{self, Voice};

mod actions;
mod cassetto;
mod session;
mod summary;
mod tickets;
mod view;
mod words;
mod worker;

pub use actions::ScanHandle;
pub use session::{ANSWER_TIME, IDLE_WARNING, wipe};
pub use view::*;
pub use worker::Dispatch;

/// The running UI: the window, its controllers and their timers.
pub struct KioskUi {
    window: MainWindow,
    kiosk: Arc<Mutex<Kiosk>>,
    actions: actions::Actions,
    cassetto: cassetto::CassettoUi,
    _tick: Timer,
    _cassetto_tick: Timer,
    timers: Vec<Timer>,
    /// The screen's backlight, switched off while the screen sleeps (where there is one).
    backlight: Rc<RefCell<Lamp>>,
}

impl KioskUi {
    /// Builds the window over the kiosk flows. Call on the UI thread, after the platform is set.
    pub fn new(kiosk: Kiosk) -> Result<Self, slint::PlatformError> {
        Self::with_dispatch(kiosk, Dispatch::Worker)
    }

    /// The same, choosing where actions run.
    pub fn with_dispatch(kiosk: Kiosk, dispatch: Dispatch) -> Result<Self, slint::PlatformError> {
        Self::build(kiosk, dispatch, Arc::new(guide::Silent))
    }

    /// The same, with the voice of the spoken guidance.
    pub fn build(
        kiosk: Kiosk,
        dispatch: Dispatch,
        voice: Arc<dyn Voice>,
    ) -> Result<Self, slint::PlatformError> {
        let window = MainWindow::new()?;
        window
            .global::<SessionAdapter>()
            .set_sede_name(kiosk.sede().name.clone().into());
        window
            .global::<HomeAdapter>()
            .set_services(tickets::services_model(&kiosk));
        let kiosk = Arc::new(Mutex::new(kiosk));
        let worker = |name| {
            worker::Worker::new(dispatch, name)
                .map_err(|e| slint::PlatformError::Other(format!("worker thread: {e}")))
        };
        let actions = actions::Actions {
            weak: window.as_weak(),
            kiosk: kiosk.clone(),
            voice,
            worker: worker("kiosk-actions")?,
        };
        let activity = session::Activity::new(window.as_weak());
        session::wire(&window, &activity, &actions);
        tickets::wire(&window, &activity, &actions);
        let cassetto = cassetto::CassettoUi::new(&window, kiosk.clone(), worker("kiosk-hub")?);

        // Tests and screenshots step the Cassetto by hand.
        let cassetto_tick = Timer::default();
        if dispatch == Dispatch::Worker {
            let cassetto = cassetto.clone();
            cassetto_tick.start(TimerMode::Repeated, Duration::from_millis(500), move || {
                cassetto.step()
            });
        }
        let tick = Timer::default();
        let backlight: Rc<RefCell<Lamp>> = Rc::default();
        {
            let (weak, kiosk, activity) = (window.as_weak(), kiosk.clone(), activity.clone());
            let backlight = backlight.clone();
            tick.start(TimerMode::Repeated, Duration::from_secs(1), move || {
                let Some(w) = weak.upgrade() else { return };
                tickets::refresh(&w, &kiosk);
                session::idle_step(&w, activity.idle());
                screen_step(&w, &kiosk, &backlight, activity.idle());
            });
        }
        Ok(Self {
            window,
            kiosk,
            actions,
            cassetto,
            _tick: tick,
            _cassetto_tick: cassetto_tick,
            timers: Vec::new(),
            backlight,
        })
    }

    /// Runs `f` on the event loop every `period` while the window lives: the service's watchdog
    /// beats from here, so an event loop that is stuck stops feeding it.
    pub fn every(&mut self, period: Duration, f: impl FnMut() + 'static) {
        let timer = Timer::default();
        timer.start(TimerMode::Repeated, period, f);
        self.timers.push(timer);
    }

    /// Switches this backlight off while the screen sleeps.
    pub fn with_backlight(self, backlight: Box<dyn Backlight>) -> Self {
        self.backlight.borrow_mut().backlight = Some(backlight);
        self
    }

    /// Puts the screen to sleep or wakes it as if nobody had touched it for `idle` (the
    /// timer does it every second with the real time since the last touch); returns whether
    /// it sleeps.
    pub fn screen_step(&self, idle: Duration) -> bool {
        screen_step(&self.window, &self.kiosk, &self.backlight, idle)
    }

    /// What the panel's buttons do on this screen, called from the panel's thread: each goes
    /// to the event loop, where it does what the same control on the screen does.
    pub fn panel_hooks(&self) -> crate::panel::PanelHooks {
        let hook = |event: fn(Option<bool>) -> PanelEvent| {
            let weak = self.window.as_weak();
            move |on: Option<bool>| {
                weak.upgrade_in_event_loop(move |w| on_panel(&w, event(on)))
                    .is_ok()
            }
        };
        let call = hook(|_| PanelEvent::CallStaff);
        let wake = hook(|_| PanelEvent::Presence);
        let speech = hook(|on| on.map_or(PanelEvent::SpeechKey, PanelEvent::Headset));
        crate::panel::PanelHooks {
            call_staff: Box::new(move || call(None)),
            wake: Box::new(move || {
                wake(None);
            }),
            speech: Box::new(move |on| {
                speech(on);
            }),
        }
    }

    /// A panel event handled here and now (on the UI thread): what [`KioskUi::panel_hooks`]
    /// does once on the event loop.
    pub fn panel_event(&self, event: PanelEvent) {
        on_panel(&self.window, event);
    }

    /// Closes the event loop from any thread: a stop the service manager asked for.
    pub fn closer(&self) -> impl Fn() + Send + Sync + 'static {
        || {
            let _ = slint::invoke_from_event_loop(|| {
                let _ = slint::quit_event_loop();
            });
        }
    }

    /// Updates the clock and the waiting counts now (the timer does it every second).
    pub fn refresh(&self) {
        tickets::refresh(&self.window, &self.kiosk);
    }

    /// The kiosk flows, shared with the scanner thread.
    pub fn kiosk(&self) -> &Arc<Mutex<Kiosk>> {
        &self.kiosk
    }

    /// The window, for showing it and for tests.
    pub fn window(&self) -> &MainWindow {
        &self.window
    }

    /// Shows the window and runs the event loop until the window closes.
    pub fn run(&self) -> Result<(), slint::PlatformError> {
        self.window.run()
    }

    /// A handle the scanner thread uses to deliver scans.
    pub fn scan_handle(&self) -> ScanHandle {
        ScanHandle {
            window: self.window.as_weak(),
            kiosk: self.kiosk.clone(),
            voice: self.actions.voice.clone(),
        }
    }

    /// One step of *Il mio Cassetto*'s half-second timer (tests drive it by hand).
    pub fn cassetto_step(&self) {
        self.cassetto.step();
    }

    /// Applies the idle rule as if `idle` had passed since the last touch (tests use it).
    pub fn idle_for(&self, idle: Duration) {
        session::idle_step(&self.window, idle);
    }
}

/// A panel button, as the same control on the screen: *chiama un operatore*, a touch (the
/// presence sensor wakes the screen as a touch does), the spoken guidance switched.
fn on_panel(w: &MainWindow, event: PanelEvent) {
    let a = w.global::<SessionAdapter>();
    match event {
        PanelEvent::CallStaff => a.invoke_call_staff(),
        PanelEvent::Presence => a.invoke_touched(),
        PanelEvent::SpeechKey | PanelEvent::Headset(_) => {
            let on = match event {
                PanelEvent::Headset(on) => on,
                _ => !a.get_speech(),
            };
            if on != a.get_speech() {
                a.invoke_touched();
                a.set_speech(on);
                a.invoke_speech_toggled();
            }
        }
    }
}

/// How long before opening and after closing the screen stays awake for the sede's staff and
/// the first and last visitors.
const AWAKE_MARGIN_MIN: i64 = 15;

/// The backlight and what it was last set to, so it is written only when that changes.
#[derive(Default)]
struct Lamp {
    backlight: Option<Box<dyn Backlight>>,
    lit: Option<bool>,
}

fn screen_step(
    w: &MainWindow,
    kiosk: &Arc<Mutex<Kiosk>>,
    lamp: &RefCell<Lamp>,
    idle: Duration,
) -> bool {
    let at_work = {
        let k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
        let branch = k.branch();
        let now = branch.clock().local_now().naive_local();
        branch.read(|q, _| {
            let margin = chrono::Duration::minutes(AWAKE_MARGIN_MIN);
            q.calendar()
                .at_work(q.rules(), now, margin, margin)
                .is_some()
        })
    };
    let asleep = session::sleep_step(w, at_work, idle);
    let mut lamp = lamp.borrow_mut();
    let lamp = &mut *lamp;
    if let Some(b) = lamp.backlight.as_mut()
        && lamp.lit != Some(!asleep)
    {
        if let Err(e) = b.set(!asleep) {
            tracing::warn!(error = %e, "the backlight cannot be switched");
        }
        // Not tried again every second: once a change.
        lamp.lit = Some(!asleep);
    }
    asleep
}
