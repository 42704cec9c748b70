//! The visitor's session: navigation, language, help, *Esci*, speech, and the privacy
//! timeout that wipes what a visitor left on screen.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::{ComponentHandle, SharedString};

use super::actions::Actions;
use super::view::{
    CheckInAdapter, MainWindow, Outcome, OutcomeAdapter, PrivacyAdapter, Screen, SessionAdapter,
    Theme, select_language,
};
use crate::guide::{self, Place, Voice};

/// Seconds without a touch before the privacy dialog.
pub const IDLE_WARNING: Duration = Duration::from_secs(60);
/// Seconds the dialog leaves to answer (WCAG 2.2.1 asks for at least 20).
pub const ANSWER_TIME: Duration = Duration::from_secs(20);

/// When the visitor last touched the screen; a touch also closes the privacy dialog.
#[derive(Clone)]
pub(crate) struct Activity {
    last_touch: Rc<Cell<Instant>>,
    weak: slint::Weak<MainWindow>,
}

impl Activity {
    pub(crate) fn new(weak: slint::Weak<MainWindow>) -> Self {
        Self {
            last_touch: Rc::new(Cell::new(Instant::now())),
            weak,
        }
    }

    /// Marks the visitor's activity (resets the privacy timeout).
    pub(crate) fn touch(&self) {
        self.last_touch.set(Instant::now());
        if let Some(w) = self.weak.upgrade() {
            let a = w.global::<SessionAdapter>();
            a.set_timeout_warning(false);
            // Awake at once; the backlight follows at the next tick.
            a.set_asleep(false);
        }
    }

    /// How long since the last touch.
    pub(crate) fn idle(&self) -> Duration {
        self.last_touch.get().elapsed()
    }
}

/// Wires `SessionAdapter` and `PrivacyAdapter`.
pub(crate) fn wire(window: &MainWindow, activity: &Activity, actions: &Actions) {
    let adapter = window.global::<SessionAdapter>();
    let act = activity.clone();
    adapter.on_touched(move || act.touch());
    let act = activity.clone();
    adapter.on_keep_session(move || act.touch());
    {
        let (act, weak, voice) = (activity.clone(), window.as_weak(), actions.voice.clone());
        adapter.on_navigate(move |screen| {
            act.touch();
            if let Some(w) = weak.upgrade() {
                navigate(&w, &*voice, screen);
            }
        });
    }
    {
        let (weak, voice) = (window.as_weak(), actions.voice.clone());
        adapter.on_speech_toggled(move || {
            if let Some(w) = weak.upgrade() {
                let a = w.global::<SessionAdapter>();
                if a.get_speech() {
                    voice.say(guide::prompt(place(a.get_screen())));
                }
            }
        });
    }
    {
        let (act, weak) = (activity.clone(), window.as_weak());
        adapter.on_select_language(move |code| {
            act.touch();
            match select_language(&code) {
                Ok(()) => {
                    if let Some(w) = weak.upgrade() {
                        w.global::<SessionAdapter>().set_language(code.clone());
                    }
                    tracing::info!(language = %code, "language");
                }
                Err(e) => tracing::warn!(error = %e, "language not switched"),
            }
        });
    }
    {
        let weak = window.as_weak();
        adapter.on_exit(move || {
            if let Some(w) = weak.upgrade() {
                wipe(&w);
            }
        });
    }
    {
        let (act, actions) = (activity.clone(), actions.clone());
        adapter.on_call_staff(move || {
            act.touch();
            actions.run(|k| k.call_staff());
        });
    }
    let act = activity.clone();
    window.global::<PrivacyAdapter>().on_print(move || {
        act.touch();
        // The notice has no printed layout yet: the request is only logged.
        tracing::info!("privacy notice print requested");
    });
}

/// Another screen: the last answer and the typed code stay behind.
fn navigate(w: &MainWindow, voice: &dyn Voice, screen: Screen) {
    let a = w.global::<SessionAdapter>();
    w.global::<OutcomeAdapter>().set_outcome(Outcome::default());
    w.global::<CheckInAdapter>()
        .set_typed(SharedString::default());
    a.set_screen(screen);
    tracing::info!(screen = ?screen, "screen");
    if a.get_speech() {
        voice.say(guide::prompt(place(screen)));
    }
}

/// The privacy timeout: a dialog after [`IDLE_WARNING`], the wipe [`ANSWER_TIME`] later.
pub(crate) fn idle_step(w: &MainWindow, idle: Duration) {
    let a = w.global::<SessionAdapter>();
    let in_session =
        a.get_screen() != Screen::Home || w.global::<OutcomeAdapter>().get_outcome().shown;
    if !in_session || idle < IDLE_WARNING {
        a.set_timeout_warning(false);
        return;
    }
    let left = (IDLE_WARNING + ANSWER_TIME).saturating_sub(idle);
    if left.is_zero() {
        tracing::info!("privacy timeout: session wiped");
        wipe(w);
    } else {
        a.set_timeout_warning(true);
        a.set_timeout_seconds(left.as_secs().max(1) as i32);
    }
}

/// After this long without a touch, outside opening hours, the screen goes dark.
pub const SLEEP_AFTER: Duration = Duration::from_secs(60);

/// The screen asleep or awake: dark once the sede is not at work and nobody has touched it
/// for [`SLEEP_AFTER`] (on the home page: a session ends by its privacy timeout first).
/// Returns whether it is asleep.
pub(crate) fn sleep_step(w: &MainWindow, at_work: bool, idle: Duration) -> bool {
    let a = w.global::<SessionAdapter>();
    let asleep = !at_work && idle >= SLEEP_AFTER && a.get_screen() == Screen::Home;
    if a.get_asleep() != asleep {
        tracing::info!(asleep, "the screen");
        a.set_asleep(asleep);
    }
    asleep
}

/// The guide's name of a screen.
fn place(screen: Screen) -> Place {
    match screen {
        Screen::Home => Place::Home,
        Screen::Checkin => Place::CheckIn,
        Screen::Walkin => Place::WalkIn,
        Screen::Cassetto => Place::Cassetto,
        Screen::Contatti => Place::Contatti,
        Screen::Booking => Place::Booking,
        Screen::Privacy => Place::Privacy,
        Screen::Accessibility => Place::Accessibility,
    }
}

/// Ends the visitor's session: every model the visitor filled is cleared, the modes they chose
/// are reset, and the home screen returns in Italian. (*Il mio Cassetto* notices the screen
/// change at its next tick and ends its hand-off.)
pub fn wipe(w: &MainWindow) {
    let a = w.global::<SessionAdapter>();
    w.global::<OutcomeAdapter>().set_outcome(Outcome::default());
    w.global::<CheckInAdapter>()
        .set_typed(SharedString::default());
    a.set_staff_called(false);
    a.set_timeout_warning(false);
    a.set_speech(false);
    a.set_screen(Screen::Home);
    let t = w.global::<Theme>();
    t.set_large_text(false);
    t.set_high_contrast(false);
    t.set_seated(false);
    if select_language("it").is_ok() {
        a.set_language("it".into());
    }
}
