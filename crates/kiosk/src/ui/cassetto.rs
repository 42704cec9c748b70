//! *Il mio Cassetto* on screen: the callbacks of `CassettoAdapter` become events of the
//! sans-IO [`crate::cassetto::Session`], its work runs on the hub worker, and what changed is
//! drawn into the adapter.

use std::sync::{Arc, Mutex, MutexGuard};

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::summary::{request_view, section_view, summary_view};
use super::view::{
    BookingRow, CassettoAdapter, CassettoPhase, CassettoView, CompanyRow, IstanzaRow, MainWindow,
    ModuloRow, RequestRow, Screen, SectionView, SessionAdapter, SlotRow, language_of, qr_image,
};
use super::words;
use super::worker::Worker;
use crate::Kiosk;
use crate::cassetto::{
    Changed, CompanyFile, Effect, Event, Job, Phase, Reply, Section, Session, View,
};
use crate::identify::{Booked, Identification};
use domain::contatti::Direction;

/// The controller: the session, and what performs its work.
#[derive(Clone)]
pub(crate) struct CassettoUi {
    session: Arc<Mutex<Session>>,
    kiosk: Arc<Mutex<Kiosk>>,
    weak: slint::Weak<MainWindow>,
    worker: Worker,
}

impl CassettoUi {
    /// Wires the screen's callbacks to the session.
    pub(crate) fn new(window: &MainWindow, kiosk: Arc<Mutex<Kiosk>>, worker: Worker) -> Self {
        let this = Self {
            session: Arc::default(),
            kiosk,
            weak: window.as_weak(),
            worker,
        };
        let a = window.global::<CassettoAdapter>();
        let on = |event: fn(usize) -> Event| {
            let this = this.clone();
            move |i: i32| {
                if let Ok(i) = usize::try_from(i) {
                    this.handle(event(i));
                }
            }
        };
        a.on_open_company(on(Event::ChooseCompany));
        a.on_choose_istanza(on(Event::ChooseIstanza));
        a.on_open_request(on(Event::OpenRequest));
        a.on_book_slot(on(Event::BookSlot));
        a.on_cancel_booking(on(Event::CancelBooking));
        let on = |event: Event| {
            let this = this.clone();
            move || this.handle(event.clone())
        };
        a.on_close_company(on(Event::CloseCompany));
        a.on_back(on(Event::Back));
        a.on_take_ticket(on(Event::TakeTicket));
        a.on_write_to_sede(on(Event::WriteToSede));
        a.on_show_slots(on(Event::ShowSlots));
        a.on_print_summary(on(Event::PrintSummary));
        {
            let this = this.clone();
            a.on_open_section(move |n| this.handle(Event::OpenSection(n)));
        }
        {
            let this = this.clone();
            a.on_start(move || {
                this.handle(Event::Open {
                    now: chrono::Utc::now(),
                })
            });
        }
        this
    }

    /// One step of the half-second timer: the code's clock, and the hub asked where the
    /// hand-off stands (or, the visitor gone from the screen, told it is over).
    pub(crate) fn step(&self) {
        let Some(w) = self.weak.upgrade() else { return };
        let on_screen = w.global::<SessionAdapter>().get_screen() == Screen::Cassetto;
        self.handle(Event::Tick {
            on_screen,
            now: chrono::Utc::now(),
        });
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, event: Event) {
        let Some(w) = self.weak.upgrade() else { return };
        let jobs = {
            let mut session = self.lock();
            let jobs = session.handle(event);
            let changed = session.take_changed();
            draw(&w, &session, changed);
            jobs
        };
        // The session is unlocked: inline, a job's answer comes straight back to `handle`.
        for job in jobs {
            self.perform(job);
        }
    }

    fn perform(&self, Job { generation, effect }: Job) {
        let kiosk = self.kiosk.clone();
        let this = self.clone();
        self.worker.run(
            &self.weak,
            move || {
                let ident = kiosk
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .identification();
                work(effect, &*ident, &kiosk)
            },
            move |_, reply| this.handle(Event::Reply(generation, reply)),
        );
    }
}

/// Does one piece of the session's work: blocking calls to the hub, the printer.
fn work(effect: Effect, ident: &dyn Identification, kiosk: &Mutex<Kiosk>) -> Reply {
    let why = |e: branch::sync::client::SyncError| e.to_string();
    let print = |doc: &dyn Fn(&str, &str) -> ticket::DocumentLayout| {
        let mut k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
        let now = k.clock().local_now().format("%d/%m/%Y %H:%M").to_string();
        let doc = doc(&k.sede_heading(), &now);
        k.print_document(&doc)
    };
    match effect {
        Effect::Start => Reply::Started(ident.start().map_err(why)),
        Effect::End { id } => Reply::Ended(ident.end(&id).map_err(why)),
        Effect::Status { id } => Reply::Status(ident.status(&id).map_err(why)),
        Effect::Company { id, matricola } => {
            let m = matricola.as_str();
            let file = ident.company(&id, m).map(|summary| {
                // The lists are further questions; without them the summary still shows.
                summary.map(|summary| {
                    Box::new(CompanyFile {
                        summary,
                        requests: ident.requests(&id, m).unwrap_or_else(|e| {
                            tracing::info!(error = %e, "requests not read");
                            Vec::new()
                        }),
                        istanze: ident.istanze(&id, m).unwrap_or_else(|e| {
                            tracing::info!(error = %e, "istanze not read");
                            None
                        }),
                        agenda: ident.agenda(&id, m).unwrap_or_else(|e| {
                            tracing::info!(error = %e, "agenda not read");
                            None
                        }),
                    })
                })
            });
            Reply::Company(file.map_err(why))
        }
        Effect::Lists { id, matricola } => Reply::Lists {
            requests: ident.requests(&id, matricola.as_str()).map_err(why),
            istanze: ident.istanze(&id, matricola.as_str()).map_err(why),
        },
        Effect::AskPhone { id, task } => {
            let result = ident.ask_phone(&id, &task).map_err(why);
            Reply::PhoneAsked { task, result }
        }
        Effect::Book {
            id,
            matricola,
            starts_at,
            company,
            service,
        } => {
            let result = ident.book(&id, matricola.as_str(), starts_at).map_err(why);
            // Printed at once, while the visitor stands at the kiosk.
            let printed = match &result {
                Ok(Booked::Done(b)) => print(&|sede, now| {
                    crate::fascicolo::booking_confirmation(
                        b, &company, &matricola, &service, sede, now,
                    )
                }),
                _ => false,
            };
            Reply::Booked { result, printed }
        }
        Effect::Cancel {
            id,
            matricola,
            booking,
        } => {
            let result = ident
                .cancel_booking(&id, matricola.as_str(), &booking)
                .map_err(why);
            Reply::Cancelled { booking, result }
        }
        Effect::Agenda { id, matricola } => {
            Reply::Agenda(ident.agenda(&id, matricola.as_str()).map_err(why))
        }
        Effect::Print(summary) => Reply::Printed(print(&|sede, now| {
            crate::fascicolo::fascicolo(&summary, sede, now)
        })),
    }
}

/// Draws what changed into the adapter, in the window's language.
fn draw(w: &MainWindow, s: &Session, changed: Changed) {
    let a = w.global::<CassettoAdapter>();
    let lang = language_of(w);
    let text = |t: String| -> SharedString { t.into() };
    if changed.phase {
        a.set_phase(match s.phase() {
            Phase::Connecting => CassettoPhase::Connecting,
            Phase::Offline => CassettoPhase::Offline,
            Phase::Qr => CassettoPhase::Qr,
            Phase::Opened => CassettoPhase::Opened,
            Phase::Bound => CassettoPhase::Bound,
            Phase::Expired => CassettoPhase::Expired,
        });
    }
    if changed.code {
        a.set_qr(s.code().map(qr_image).unwrap_or_default());
        a.set_confirm_code(s.confirm_code().into());
    }
    if changed.clock {
        a.set_valid_for(s.valid_for().unwrap_or_default().into());
    }
    if changed.companies {
        let rows: Vec<CompanyRow> = s
            .companies()
            .iter()
            .map(|c| CompanyRow {
                name: c.denominazione.clone().into(),
                matricola: c.matricola.as_str().into(),
                masked: crate::identify::mask_matricola(c.matricola.as_str()).into(),
                role: text(words::role_text(c.role, lang)),
            })
            .collect();
        a.set_person(s.person().into());
        a.set_companies(ModelRc::new(VecModel::from(rows)));
        a.set_revealed(-1);
    }
    if changed.summary {
        a.set_summary(
            s.summary()
                .map(|x| summary_view(x, lang))
                .unwrap_or_default(),
        );
    }
    if changed.lists {
        let requests: Vec<RequestRow> = s
            .requests()
            .iter()
            .map(|r| {
                let last = r.messages.last();
                RequestRow {
                    protocol: r.protocol.clone().into(),
                    subject: r.subject.clone().into(),
                    state: r.state.label().text(lang).into(),
                    last: last.map(|m| m.body.clone()).unwrap_or_default().into(),
                    from_sede: last.is_some_and(|m| m.direction == Direction::Out),
                    attachments: r.attachments.len() as i32,
                    open: r.state.is_open(),
                    clock: r
                        .clock
                        .map(|c| c.text().text(lang))
                        .unwrap_or_default()
                        .into(),
                    late: r.clock.is_some_and(|c| c.is_overdue()),
                    offer: r
                        .offered_slot
                        .map(|t| words::slot_label(t, lang))
                        .unwrap_or_default()
                        .into(),
                }
            })
            .collect();
        a.set_requests(ModelRc::new(VecModel::from(requests)));
        let title = |code: &str| -> SharedString {
            domain::istanze::modulo(code)
                .map_or(code, |m| m.title)
                .into()
        };
        let sent: Vec<IstanzaRow> = s
            .istanze()
            .iter()
            .flat_map(|v| &v.sent)
            .map(|i| IstanzaRow {
                protocol: i.protocol.clone().into(),
                title: title(&i.code),
                state: i.state.label().text(lang).into(),
                esito: i.esito.clone().unwrap_or_default().into(),
            })
            .collect();
        let moduli: Vec<ModuloRow> = s
            .moduli()
            .map(|m| ModuloRow {
                code: m.code.clone().into(),
                title: title(&m.code),
                available: m.available,
                reason: m.reason.clone().unwrap_or_default().into(),
            })
            .collect();
        a.set_istanze(ModelRc::new(VecModel::from(sent)));
        a.set_moduli(ModelRc::new(VecModel::from(moduli)));
    }
    if changed.agenda {
        let bookings: Vec<BookingRow> = s
            .agenda()
            .iter()
            .flat_map(|v| &v.bookings)
            .map(|b| BookingRow {
                booking: b.booking.clone().into(),
                when: text(words::slot_label(b.starts_at, lang)),
                state: b.state.label().text(lang).into(),
                cancellable: b
                    .state
                    .transition(domain::AppointmentState::CancelledByUser)
                    .is_ok(),
            })
            .collect();
        let slots: Vec<SlotRow> = s
            .slots()
            .iter()
            .map(|t| SlotRow {
                label: text(words::slot_label(*t, lang)),
            })
            .collect();
        a.set_bookings(ModelRc::new(VecModel::from(bookings)));
        a.set_slots(ModelRc::new(VecModel::from(slots)));
        a.set_agenda_service(
            s.agenda()
                .map(|v| v.service_name.clone())
                .unwrap_or_default()
                .into(),
        );
    }
    if changed.view || changed.summary || changed.lists {
        let view = s.view();
        a.set_section(match view {
            View::Section(Section::Card(n)) => s
                .summary()
                .map(|x| section_view(x, n, lang))
                .unwrap_or_default(),
            View::Section(Section::Request(i)) => s
                .requests()
                .get(i)
                .map(|r| request_view(r, lang))
                .unwrap_or_default(),
            _ => SectionView::default(),
        });
        a.set_open_requests(s.open_requests() as i32);
        a.set_view(match view {
            View::Companies => CassettoView::Companies,
            View::Summary => CassettoView::Summary,
            View::Deflecting => CassettoView::Deflecting,
            View::Section(_) => CassettoView::Section,
            View::Slots => CassettoView::Slots,
        });
    }
    if changed.status {
        a.set_phone_status(
            s.phone_status()
                .map(|p| words::phone_status(p, lang))
                .unwrap_or_default()
                .into(),
        );
        a.set_agenda_status(
            s.agenda_status()
                .map(|p| words::agenda_status(p, lang))
                .unwrap_or_default()
                .into(),
        );
        a.set_print_status(
            s.printed()
                .map(|p| words::print_status(p, lang))
                .unwrap_or_default()
                .into(),
        );
    }
}
