//! Kiosk actions and their answers on screen: a check-in, a walk-in ticket, a reprint, a call
//! for staff run on the worker; the answer comes back as the outcome panel, the staff-called
//! banner, and the guide's spoken words.

use std::sync::{Arc, Mutex};

use slint::{ComponentHandle, SharedString};

use super::view::{MainWindow, Outcome, OutcomeAdapter, SessionAdapter, language_of, qr_image};
use super::worker::Worker;
use crate::guide::{self, Voice};
use crate::{Answer, Kiosk};
use i18n::Lang;

/// What an action needs: the window to answer on, the kiosk to act on, the voice, the worker.
#[derive(Clone)]
pub(crate) struct Actions {
    pub(crate) weak: slint::Weak<MainWindow>,
    pub(crate) kiosk: Arc<Mutex<Kiosk>>,
    pub(crate) voice: Arc<dyn Voice>,
    pub(crate) worker: Worker,
}

impl Actions {
    /// Runs a kiosk action on the worker and shows its answer.
    pub(crate) fn run(&self, action: impl FnOnce(&mut Kiosk) -> Answer + Send + 'static) {
        // Read on the UI thread, where the visitor chose it.
        let lang = self
            .weak
            .upgrade()
            .map(|w| language_of(&w))
            .unwrap_or(Lang::It);
        let kiosk = self.kiosk.clone();
        let voice = self.voice.clone();
        self.worker.run(
            &self.weak,
            move || {
                let mut k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
                let answer = action(&mut k);
                let outcome = outcome_of(&k, &answer, lang);
                (answer, outcome)
            },
            move |w, (answer, outcome)| answered(&w, &*voice, &answer, outcome),
        );
    }
}

/// Shows an answer, and says it when the guide speaks.
fn answered(w: &MainWindow, voice: &dyn Voice, answer: &Answer, outcome: Outcome) {
    let a = w.global::<SessionAdapter>();
    if matches!(answer, Answer::Assistance) {
        a.set_staff_called(true);
    } else {
        show_outcome(w, outcome);
    }
    if a.get_speech() {
        voice.say(&guide::for_answer(answer));
    }
}

/// Shows an answer; a ticket that was not printed gets its QR code on screen.
fn show_outcome(w: &MainWindow, outcome: Outcome) {
    let a = w.global::<OutcomeAdapter>();
    if outcome.ok && !outcome.printed {
        a.set_qr(qr_image(&outcome.follow));
    }
    a.set_outcome(outcome);
}

/// An answer as the outcome panel shows it, in `lang`.
pub(crate) fn outcome_of(kiosk: &Kiosk, answer: &Answer, lang: Lang) -> Outcome {
    match answer {
        Answer::Ticket {
            ticket,
            estimate,
            printed,
            ..
        } => {
            let service = kiosk.service_name(ticket.number.letter());
            Outcome {
                shown: true,
                ok: true,
                ticket: ticket.number.to_string().into(),
                service: service.into(),
                estimated: estimate.is_some(),
                ahead: estimate.map_or(0, |e| e.ahead as i32),
                wait: estimate
                    .map(|e| e.wait.message().text(lang))
                    .unwrap_or_default()
                    .into(),
                message: SharedString::default(),
                printed: *printed,
                follow: kiosk.follow_url(ticket).into(),
            }
        }
        Answer::Refused { message, .. } => Outcome {
            shown: true,
            ok: false,
            message: i18n::capitalise(&message.text(lang)).into(),
            ..Outcome::default()
        },
        Answer::Assistance => Outcome::default(),
    }
}

/// Delivers scans from another thread: the check-in runs there, the answer is shown on the UI
/// thread.
#[derive(Clone)]
pub struct ScanHandle {
    pub(crate) window: slint::Weak<MainWindow>,
    pub(crate) kiosk: Arc<Mutex<Kiosk>>,
    pub(crate) voice: Arc<dyn Voice>,
}

impl ScanHandle {
    /// Handles one scanned line.
    pub fn scanned(&self, text: &str) {
        let answer = self
            .kiosk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .handle_input(text);
        let voice = self.voice.clone();
        let kiosk = self.kiosk.clone();
        // The answer is put into words on the UI thread, in the language shown there.
        let _ = self.window.upgrade_in_event_loop(move |w| {
            let outcome = {
                let k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
                outcome_of(&k, &answer, language_of(&w))
            };
            if !matches!(answer, Answer::Assistance) {
                w.global::<SessionAdapter>()
                    .set_screen(super::view::Screen::Checkin);
            }
            answered(&w, &*voice, &answer, outcome);
        });
    }
}
