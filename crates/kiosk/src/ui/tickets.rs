//! Tickets: the home screen's waiting counts and reprint, the typed check-in code, and the
//! walk-in choice of a service.

use std::rc::Rc;
use std::sync::Mutex;

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::actions::Actions;
use super::session::Activity;
use super::view::{
    CheckInAdapter, HomeAdapter, MainWindow, Screen, ServiceRow, SessionAdapter, WalkInAdapter,
};
use crate::{Answer, Kiosk};
use domain::ServiceLetter;

/// Wires `HomeAdapter`, `CheckInAdapter` and `WalkInAdapter`.
pub(crate) fn wire(window: &MainWindow, activity: &Activity, actions: &Actions) {
    // The ticket a power cut kept from paper, printed again.
    {
        let (act, actions) = (activity.clone(), actions.clone());
        window.global::<HomeAdapter>().on_print_again(move || {
            act.touch();
            if let Some(w) = actions.weak.upgrade() {
                w.global::<SessionAdapter>().set_screen(Screen::Checkin);
                w.global::<HomeAdapter>()
                    .set_reprint(SharedString::default());
            }
            actions.run(|k| {
                k.reprint_next().unwrap_or_else(|| Answer::Refused {
                    key: "reprint-none",
                    message: i18n::msg!("nessun biglietto da stampare di nuovo"),
                })
            });
        });
    }
    let check_in = window.global::<CheckInAdapter>();
    {
        let (act, weak) = (activity.clone(), window.as_weak());
        check_in.on_backspace(move || {
            act.touch();
            if let Some(w) = weak.upgrade() {
                let a = w.global::<CheckInAdapter>();
                let mut typed = a.get_typed().to_string();
                typed.pop();
                a.set_typed(typed.into());
            }
        });
    }
    {
        let (act, actions) = (activity.clone(), actions.clone());
        check_in.on_submit_code(move |code| {
            act.touch();
            let code = code.to_string();
            actions.run(move |k| k.typed_code(&code));
        });
    }
    let (act, actions) = (activity.clone(), actions.clone());
    window
        .global::<WalkInAdapter>()
        .on_take_ticket(move |letter| {
            act.touch();
            let Ok(letter) = ServiceLetter::parse(&letter) else {
                return;
            };
            // Through the input path: a double tap within 2 s gets the same ticket.
            actions.run(move |k| k.handle_input(&letter.to_string()));
        });
}

/// The clock and the people waiting, as the header and the home screen show them.
pub(crate) fn refresh(w: &MainWindow, kiosk: &Mutex<Kiosk>) {
    let a = w.global::<SessionAdapter>();
    // A kiosk action in progress holds the lock: the clock and counts wait for the next second.
    if let Ok(k) = kiosk.try_lock() {
        // The branch's clock, not the system's: the header shows the time the queue runs on.
        let now = k.branch().clock().local_now();
        a.set_date_time(now.format("%d/%m/%Y %H:%M").to_string().into());
        let home = w.global::<HomeAdapter>();
        home.set_services(services_model(&k));
        home.set_reprint(
            k.pending_reprints()
                .first()
                .map(|t| t.number.to_string())
                .unwrap_or_default()
                .into(),
        );
    }
}

/// The services and their waiting counts.
pub(crate) fn services_model(kiosk: &Kiosk) -> ModelRc<ServiceRow> {
    let counts = kiosk.waiting_counts();
    let rows: Vec<ServiceRow> = kiosk.branch().read(|q, _| {
        q.services()
            .map(|s| ServiceRow {
                letter: s.letter.to_string().into(),
                name: s.name.clone().into(),
                // -1: not known (a kiosk that cannot reach its node).
                waiting: counts
                    .as_ref()
                    .map_or(-1, |c| c.get(&s.letter).copied().unwrap_or(0) as i32),
                appointment_only: s.appointment_only,
            })
            .collect()
    });
    ModelRc::from(Rc::new(VecModel::from(rows)))
}
