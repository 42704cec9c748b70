//! *Il mio Cassetto* at the kiosk, as a sans-IO session: events in (what the visitor touched,
//! the half-second tick, the hub's answers), work out (ask the hub, print), and the state the
//! screen shows. No Slint, no threads, no network here: `ui::cassetto` performs the work on
//! the kiosk's worker and draws the state, and the tests below drive the session by hand.
//!
//! A *generation* tags every piece of work: leaving the screen, *Esci*, the privacy timeout or
//! a new code starts a new one, and an answer to an older generation is dropped, so nothing
//! of a visitor who has left reaches the screen of the next.

use chrono::{DateTime, NaiveDateTime, Utc};
use domain::Matricola;
use protocol::cassetto::CompanySummary;
use protocol::wire::{
    AgendaBooking, AgendaView, CompanyChoice, ContactRequest, DeskTask, HandoffStarted,
    HandoffState, IstanzeView, ModuloAvailability,
};

use crate::identify::Booked;

#[cfg(test)]
mod tests;

/// The free slots offered at once: more would not fit one screen, and the soonest are what
/// a visitor at the kiosk wants.
pub const SLOTS_SHOWN: usize = 8;

/// Where the identification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Asking the hub for a code.
    Connecting,
    /// The hub cannot be reached: the service needs it.
    Offline,
    /// The code is on screen.
    Qr,
    /// The visitor's phone opened the code and is logging in.
    Opened,
    /// Identified: the visitor's companies.
    Bound,
    /// The code or the session ran out; a new code may be asked for.
    Expired,
}

/// What the identified visitor looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The companies they may act for.
    Companies,
    /// A company's summary.
    Summary,
    /// The summary, with what may be settled without queueing before taking a ticket.
    Deflecting,
    /// One section of the summary, whole.
    Section(Section),
    /// The free slots of the Agenda, to book one.
    Slots,
}

/// A section of the summary on its own screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// A card of the summary, numbered as the screen's `Sections` global numbers them.
    Card(i32),
    /// A request to the sede and its whole history (its index in the list).
    Request(usize),
}

/// What the visitor's phone is doing for the kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneStatus {
    /// A form is open on the phone.
    Opened(DeskTask),
    /// The phone sent a request or an istanza, registered under `protocol`.
    Sent {
        /// The protocol the hub gave it.
        protocol: String,
        /// An istanza (else a request to the sede).
        istanza: bool,
    },
    /// The hub did not answer: nothing was opened.
    Unreachable,
}

/// What became of the last booking or cancellation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgendaStatus {
    /// No free slot in the Agenda's window.
    NoSlots,
    /// Booked; the confirmation printed or not.
    Booked {
        /// The booking's code.
        booking: String,
        /// When.
        starts_at: NaiveDateTime,
        /// The confirmation came out of the printer.
        printed: bool,
    },
    /// The hub refused the booking, with its reason.
    BookingRefused(String),
    /// The hub did not answer: nothing was booked.
    BookingUnreachable,
    /// The booking was cancelled.
    Cancelled(String),
    /// The hub refused the cancellation, with its reason.
    CancelRefused(String),
    /// The hub did not answer: the booking stands.
    CancelUnreachable,
}

/// What the visitor did, or the answer to work the session asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The screen opened, or the visitor asked for a new code.
    Open {
        /// The time now.
        now: DateTime<Utc>,
    },
    /// The half-second tick.
    Tick {
        /// Whether the Cassetto is the screen shown (else the visitor left it).
        on_screen: bool,
        /// The time now.
        now: DateTime<Utc>,
    },
    /// A company chosen from the list.
    ChooseCompany(usize),
    /// Back to the list of companies.
    CloseCompany,
    /// A card of the summary tapped.
    OpenSection(i32),
    /// A request tapped.
    OpenRequest(usize),
    /// Back to the summary from a section, the slots or the deflection.
    Back,
    /// *Prendi un biglietto* from the summary.
    TakeTicket,
    /// *Scrivi alla sede*.
    WriteToSede,
    /// An istanza chosen (its index among [`Session::moduli`]).
    ChooseIstanza(usize),
    /// *Prenota un appuntamento*.
    ShowSlots,
    /// A free slot chosen (its index among [`Session::slots`]).
    BookSlot(usize),
    /// A booking cancelled (its index in the Agenda's bookings).
    CancelBooking(usize),
    /// *Stampa fascicolo*.
    PrintSummary,
    /// The answer to work of `generation`.
    Reply(u64, Reply),
}

/// Work for the kiosk: calls to the hub and the printer.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A new hand-off and its code.
    Start,
    /// End a hand-off (nothing waits for it; it expires anyway).
    End {
        /// The hand-off.
        id: String,
    },
    /// Where the hand-off stands.
    Status {
        /// The hand-off.
        id: String,
    },
    /// A company's summary, and with it its requests, istanze and Agenda.
    Company {
        /// The hand-off.
        id: String,
        /// The company.
        matricola: Matricola,
    },
    /// The company's requests and istanze again, after the phone sent one.
    Lists {
        /// The hand-off.
        id: String,
        /// The company.
        matricola: Matricola,
    },
    /// Open a form on the visitor's phone.
    AskPhone {
        /// The hand-off.
        id: String,
        /// The form.
        task: DeskTask,
    },
    /// Book a slot and print its confirmation.
    Book {
        /// The hand-off.
        id: String,
        /// The company.
        matricola: Matricola,
        /// The slot.
        starts_at: NaiveDateTime,
        /// The company's name, for the confirmation.
        company: String,
        /// The service's name, for the confirmation.
        service: String,
    },
    /// Cancel a booking.
    Cancel {
        /// The hand-off.
        id: String,
        /// The company.
        matricola: Matricola,
        /// The booking's code.
        booking: String,
    },
    /// The company's Agenda again.
    Agenda {
        /// The hand-off.
        id: String,
        /// The company.
        matricola: Matricola,
    },
    /// Print the summary on screen.
    Print(Box<CompanySummary>),
}

/// A piece of work, tagged with the generation its answer must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The session's generation when the work was asked for.
    pub generation: u64,
    /// The work.
    pub effect: Effect,
}

/// Everything the hub keeps of a company for the visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanyFile {
    /// The Cassetto's summary.
    pub summary: CompanySummary,
    /// The requests to the sede, newest first.
    pub requests: Vec<ContactRequest>,
    /// *Comunicazioni on-line*.
    pub istanze: Option<IstanzeView>,
    /// *Agenda appuntamenti*.
    pub agenda: Option<AgendaView>,
}

/// The answer to an [`Effect`]; a failure is the reason, for the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// To [`Effect::Start`].
    Started(Result<HandoffStarted, String>),
    /// To [`Effect::End`].
    Ended(Result<(), String>),
    /// To [`Effect::Status`].
    Status(Result<HandoffState, String>),
    /// To [`Effect::Company`] (`None`: not theirs, or the session is over).
    Company(Result<Option<Box<CompanyFile>>, String>),
    /// To [`Effect::Lists`].
    Lists {
        /// The requests.
        requests: Result<Vec<ContactRequest>, String>,
        /// The istanze.
        istanze: Result<Option<IstanzeView>, String>,
    },
    /// To [`Effect::AskPhone`] (`false`: the session is over).
    PhoneAsked {
        /// The form asked for.
        task: DeskTask,
        /// Whether it opened.
        result: Result<bool, String>,
    },
    /// To [`Effect::Book`].
    Booked {
        /// The hub's answer.
        result: Result<Booked<AgendaBooking>, String>,
        /// The confirmation came out of the printer.
        printed: bool,
    },
    /// To [`Effect::Cancel`].
    Cancelled {
        /// The booking's code.
        booking: String,
        /// The hub's answer.
        result: Result<Booked<()>, String>,
    },
    /// To [`Effect::Agenda`].
    Agenda(Result<Option<AgendaView>, String>),
    /// To [`Effect::Print`]: whether it came out of the printer.
    Printed(bool),
}

/// What changed since the screen was last drawn, so a tick redraws the clock of the code and
/// not the summary the visitor is scrolling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    /// [`Session::phase`].
    pub phase: bool,
    /// [`Session::code`].
    pub code: bool,
    /// [`Session::valid_for`]: every tick while a code shows.
    pub clock: bool,
    /// [`Session::person`] and [`Session::companies`].
    pub companies: bool,
    /// [`Session::summary`].
    pub summary: bool,
    /// [`Session::requests`], [`Session::istanze`] and [`Session::moduli`].
    pub lists: bool,
    /// [`Session::agenda`] and [`Session::slots`].
    pub agenda: bool,
    /// [`Session::view`].
    pub view: bool,
    /// The phone's, the Agenda's and the printer's status.
    pub status: bool,
}

impl Changed {
    const ALL: Changed = Changed {
        phase: true,
        code: true,
        clock: true,
        companies: true,
        summary: true,
        lists: true,
        agenda: true,
        view: true,
        status: true,
    };
}

/// The hand-off in progress.
#[derive(Debug, Clone)]
struct Handoff {
    id: String,
    url: String,
    expires_at: DateTime<Utc>,
    /// The short code shown beside the QR, which the phone asks for.
    code: String,
}

/// One visitor's *Il mio Cassetto*, from the code to the company they chose.
#[derive(Debug)]
pub struct Session {
    generation: u64,
    now: DateTime<Utc>,
    phase: Phase,
    view: View,
    handoff: Option<Handoff>,
    /// A status question is on its way: the tick does not ask again.
    asking: bool,
    person: String,
    companies: Vec<CompanyChoice>,
    summary: Option<CompanySummary>,
    requests: Vec<ContactRequest>,
    istanze: Option<IstanzeView>,
    agenda: Option<AgendaView>,
    /// The protocol of what the phone sent last, once seen.
    sent: Option<String>,
    /// The form the phone shows is an istanza's (else a request's).
    asked_istanza: bool,
    phone: Option<PhoneStatus>,
    agenda_status: Option<AgendaStatus>,
    printed: Option<bool>,
    changed: Changed,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            generation: 0,
            now: DateTime::UNIX_EPOCH,
            phase: Phase::Connecting,
            view: View::Companies,
            handoff: None,
            asking: false,
            person: String::new(),
            companies: Vec::new(),
            summary: None,
            requests: Vec::new(),
            istanze: None,
            agenda: None,
            sent: None,
            asked_istanza: false,
            phone: None,
            agenda_status: None,
            printed: None,
            changed: Changed::default(),
        }
    }
}

impl Session {
    /// A session with no visitor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one event; returns the work it asks for.
    pub fn handle(&mut self, event: Event) -> Vec<Job> {
        let mut jobs = Vec::new();
        match event {
            Event::Open { now } => {
                self.now = now;
                self.end_current(&mut jobs);
                self.clear();
                self.set_phase(Phase::Connecting);
                self.ask(&mut jobs, Effect::Start);
            }
            Event::Tick { on_screen, now } => self.tick(on_screen, now, &mut jobs),
            Event::ChooseCompany(index) => {
                if let (Some(h), Some(c)) = (&self.handoff, self.companies.get(index)) {
                    let effect = Effect::Company {
                        id: h.id.clone(),
                        matricola: c.matricola,
                    };
                    self.ask(&mut jobs, effect);
                }
            }
            Event::CloseCompany => {
                self.forget_company();
                self.phone = None;
                self.agenda_status = None;
                self.printed = None;
                self.set_view(View::Companies);
                self.changed.status = true;
            }
            // A tap draws its section anew, in the language the screen shows now.
            Event::OpenSection(n) => {
                if self.summary.is_some() {
                    self.set_view(View::Section(Section::Card(n)));
                    self.changed.view = true;
                }
            }
            Event::OpenRequest(index) => {
                if index < self.requests.len() {
                    self.set_view(View::Section(Section::Request(index)));
                    self.changed.view = true;
                }
            }
            Event::Back => {
                if !matches!(self.view, View::Companies | View::Summary) {
                    self.set_view(View::Summary);
                }
            }
            Event::TakeTicket => {
                if self.summary.is_some() {
                    self.set_view(View::Deflecting);
                }
            }
            Event::WriteToSede => {
                self.leave_deflection();
                self.ask_phone(&mut jobs, |matricola| DeskTask::Richiesta { matricola });
            }
            Event::ChooseIstanza(index) => {
                let Some(modulo) = self
                    .moduli()
                    .nth(index)
                    .filter(|m| m.available)
                    .map(|m| m.code.clone())
                else {
                    return jobs;
                };
                self.ask_phone(&mut jobs, |matricola| DeskTask::Istanza {
                    matricola,
                    modulo,
                });
            }
            Event::ShowSlots => {
                self.leave_deflection();
                if let Some(agenda) = &self.agenda {
                    if agenda.slots.is_empty() {
                        self.set_agenda_status(AgendaStatus::NoSlots);
                    } else {
                        self.set_view(View::Slots);
                    }
                }
            }
            Event::BookSlot(index) => self.book(index, &mut jobs),
            Event::CancelBooking(index) => {
                let booking = self
                    .agenda
                    .as_ref()
                    .and_then(|a| a.bookings.get(index))
                    .map(|b| b.booking.clone());
                if let (Some((id, matricola)), Some(booking)) = (self.on_screen(), booking) {
                    self.ask(
                        &mut jobs,
                        Effect::Cancel {
                            id,
                            matricola,
                            booking,
                        },
                    );
                }
            }
            Event::PrintSummary => {
                if let Some(summary) = &self.summary {
                    let effect = Effect::Print(Box::new(summary.clone()));
                    self.ask(&mut jobs, effect);
                }
            }
            Event::Reply(generation, reply) => {
                if let Reply::Ended(Err(e)) = &reply {
                    tracing::info!(error = %e, "hand-off not ended at the hub; it expires");
                } else if generation == self.generation {
                    self.reply(reply, &mut jobs);
                }
            }
        }
        jobs
    }

    /// What changed since the last call.
    pub fn take_changed(&mut self) -> Changed {
        std::mem::take(&mut self.changed)
    }

    /// The generation answers must match.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Where the identification stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What the identified visitor looks at.
    pub fn view(&self) -> View {
        self.view
    }

    /// The link the code on screen carries, while there is one to scan.
    pub fn code(&self) -> Option<&str> {
        match self.phase {
            Phase::Qr | Phase::Opened => self.handoff.as_ref().map(|h| h.url.as_str()),
            _ => None,
        }
    }

    /// The short code the phone asks for, shown beside the QR while there is one to scan
    /// (empty from a hub that does not ask for it).
    pub fn confirm_code(&self) -> &str {
        match self.phase {
            Phase::Qr | Phase::Opened => self.handoff.as_ref().map_or("", |h| h.code.as_str()),
            _ => "",
        }
    }

    /// What is left of the code's validity, as m:ss.
    pub fn valid_for(&self) -> Option<String> {
        let h = self.handoff.as_ref()?;
        let left = (h.expires_at - self.now).num_seconds().max(0);
        Some(format!("{}:{:02}", left / 60, left % 60))
    }

    /// The identified visitor's name.
    pub fn person(&self) -> &str {
        &self.person
    }

    /// The companies they may act for.
    pub fn companies(&self) -> &[CompanyChoice] {
        &self.companies
    }

    /// The summary of the company chosen.
    pub fn summary(&self) -> Option<&CompanySummary> {
        self.summary.as_ref()
    }

    /// Its requests to the sede, newest first.
    pub fn requests(&self) -> &[ContactRequest] {
        &self.requests
    }

    /// Its requests still open (the deflection counts them).
    pub fn open_requests(&self) -> usize {
        self.requests.iter().filter(|r| r.state.is_open()).count()
    }

    /// Its istanze.
    pub fn istanze(&self) -> Option<&IstanzeView> {
        self.istanze.as_ref()
    }

    /// The istanze the kiosk knows that the hub lists for it, available or not.
    pub fn moduli(&self) -> impl Iterator<Item = &ModuloAvailability> {
        self.istanze
            .iter()
            .flat_map(|v| &v.moduli)
            .filter(|m| domain::istanze::modulo(&m.code).is_some())
    }

    /// Its Agenda.
    pub fn agenda(&self) -> Option<&AgendaView> {
        self.agenda.as_ref()
    }

    /// The free slots offered, soonest first.
    pub fn slots(&self) -> &[NaiveDateTime] {
        self.agenda
            .as_ref()
            .map_or(&[][..], |a| &a.slots[..a.slots.len().min(SLOTS_SHOWN)])
    }

    /// What the phone is doing for the kiosk.
    pub fn phone_status(&self) -> Option<&PhoneStatus> {
        self.phone.as_ref()
    }

    /// What became of the last booking or cancellation.
    pub fn agenda_status(&self) -> Option<&AgendaStatus> {
        self.agenda_status.as_ref()
    }

    /// Whether the last *Stampa fascicolo* came out of the printer.
    pub fn printed(&self) -> Option<bool> {
        self.printed
    }

    fn ask(&self, jobs: &mut Vec<Job>, effect: Effect) {
        jobs.push(Job {
            generation: self.generation,
            effect,
        });
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.changed.phase = true;
            self.changed.code = true;
            self.changed.clock = true;
        }
    }

    fn set_view(&mut self, view: View) {
        if self.view != view {
            self.view = view;
            self.changed.view = true;
        }
    }

    fn set_agenda_status(&mut self, status: AgendaStatus) {
        self.agenda_status = Some(status);
        self.changed.status = true;
    }

    fn leave_deflection(&mut self) {
        if self.view == View::Deflecting {
            self.set_view(View::Summary);
        }
    }

    /// The live hand-off and the company on screen.
    fn on_screen(&self) -> Option<(String, Matricola)> {
        let (Some(h), Some(s)) = (&self.handoff, &self.summary) else {
            return None;
        };
        Some((h.id.clone(), s.anagrafica.matricola))
    }

    /// Ends the hand-off at the hub, if any, and drops what was read for it: answers still
    /// on their way belong to an older generation.
    fn end_current(&mut self, jobs: &mut Vec<Job>) {
        self.generation += 1;
        self.asking = false;
        self.sent = None;
        self.asked_istanza = false;
        self.forget_company();
        if let Some(h) = self.handoff.take() {
            self.ask(jobs, Effect::End { id: h.id });
        }
    }

    fn forget_company(&mut self) {
        self.summary = None;
        self.agenda = None;
        self.requests.clear();
        self.istanze = None;
        self.changed.summary = true;
        self.changed.lists = true;
        self.changed.agenda = true;
    }

    /// Clears all the screen showed of the visitor: name, companies, code, summary.
    fn clear(&mut self) {
        self.forget_company();
        self.person.clear();
        self.companies.clear();
        self.phone = None;
        self.agenda_status = None;
        self.printed = None;
        self.view = View::Companies;
        self.changed = Changed::ALL;
    }

    /// The session ended at the hub: identify again.
    fn expire(&mut self) {
        self.handoff = None;
        self.clear();
        self.set_phase(Phase::Expired);
    }

    fn tick(&mut self, on_screen: bool, now: DateTime<Utc>, jobs: &mut Vec<Job>) {
        self.now = now;
        if !on_screen {
            if self.handoff.is_some() {
                self.end_current(jobs);
                self.clear();
            }
            return;
        }
        let Some(id) = self.handoff.as_ref().map(|h| h.id.clone()) else {
            return;
        };
        if matches!(self.phase, Phase::Qr | Phase::Opened) {
            self.changed.clock = true;
        }
        if !self.asking {
            self.asking = true;
            self.ask(jobs, Effect::Status { id });
        }
    }

    fn ask_phone(&mut self, jobs: &mut Vec<Job>, task: impl FnOnce(Matricola) -> DeskTask) {
        if let Some((id, matricola)) = self.on_screen() {
            let task = task(matricola);
            self.ask(jobs, Effect::AskPhone { id, task });
        }
    }

    fn book(&mut self, index: usize, jobs: &mut Vec<Job>) {
        let Some((id, matricola)) = self.on_screen() else {
            return;
        };
        let (Some(summary), Some(agenda)) = (&self.summary, &self.agenda) else {
            return;
        };
        let Some(starts_at) = self.slots().get(index).copied() else {
            return;
        };
        let effect = Effect::Book {
            id,
            matricola,
            starts_at,
            company: summary.anagrafica.denominazione.clone(),
            service: agenda.service_name.clone(),
        };
        self.ask(jobs, effect);
    }

    fn reload_agenda(&self, jobs: &mut Vec<Job>) {
        if let Some((id, matricola)) = self.on_screen() {
            self.ask(jobs, Effect::Agenda { id, matricola });
        }
    }

    fn reply(&mut self, reply: Reply, jobs: &mut Vec<Job>) {
        match reply {
            Reply::Started(Ok(h)) => {
                self.handoff = Some(Handoff {
                    id: h.id,
                    url: h.url,
                    expires_at: h.expires_at,
                    code: h.code,
                });
                self.set_phase(Phase::Qr);
                self.changed.code = true;
                self.changed.clock = true;
            }
            Reply::Started(Err(e)) => {
                tracing::info!(error = %e, "identification unavailable");
                self.set_phase(Phase::Offline);
            }
            Reply::Ended(_) => {}
            Reply::Status(r) => {
                self.asking = false;
                self.status(r, jobs);
            }
            Reply::Company(Ok(Some(file))) => {
                let CompanyFile {
                    summary,
                    requests,
                    istanze,
                    agenda,
                } = *file;
                self.summary = Some(summary);
                self.requests = requests;
                self.istanze = istanze;
                self.agenda = agenda;
                self.printed = None;
                self.changed.summary = true;
                self.changed.lists = true;
                self.changed.agenda = true;
                self.changed.status = true;
                self.set_view(View::Summary);
            }
            // The session ended at the hub (its five minutes, or another kiosk's question).
            Reply::Company(Ok(None)) => self.expire(),
            Reply::Company(Err(e)) => {
                tracing::info!(error = %e, "company summary unavailable");
                self.clear();
                self.set_phase(Phase::Offline);
            }
            Reply::Lists { requests, istanze } => {
                match requests {
                    Ok(list) => self.requests = list,
                    Err(e) => tracing::info!(error = %e, "requests not read"),
                }
                match istanze {
                    Ok(view) => self.istanze = view,
                    Err(e) => tracing::info!(error = %e, "istanze not read"),
                }
                self.changed.lists = true;
            }
            Reply::PhoneAsked { task, result } => match result {
                Ok(true) => {
                    self.asked_istanza = matches!(task, DeskTask::Istanza { .. });
                    self.phone = Some(PhoneStatus::Opened(task));
                    self.changed.status = true;
                }
                Ok(false) => self.expire(),
                Err(e) => {
                    tracing::info!(error = %e, "phone form not opened");
                    self.phone = Some(PhoneStatus::Unreachable);
                    self.changed.status = true;
                }
            },
            Reply::Booked { result, printed } => {
                let status = match result {
                    Ok(Booked::Done(b)) => AgendaStatus::Booked {
                        booking: b.booking,
                        starts_at: b.starts_at,
                        printed,
                    },
                    Ok(Booked::Refused(why)) => AgendaStatus::BookingRefused(why),
                    Ok(Booked::Gone) => return self.expire(),
                    Err(e) => {
                        tracing::info!(error = %e, "booking not made");
                        AgendaStatus::BookingUnreachable
                    }
                };
                self.set_agenda_status(status);
                self.set_view(View::Summary);
                self.reload_agenda(jobs);
            }
            Reply::Cancelled { booking, result } => {
                let status = match result {
                    Ok(Booked::Done(())) => AgendaStatus::Cancelled(booking),
                    Ok(Booked::Refused(why)) => AgendaStatus::CancelRefused(why),
                    Ok(Booked::Gone) => return self.expire(),
                    Err(e) => {
                        tracing::info!(error = %e, "booking not cancelled");
                        AgendaStatus::CancelUnreachable
                    }
                };
                self.set_agenda_status(status);
                self.reload_agenda(jobs);
            }
            Reply::Agenda(Ok(view)) => {
                self.agenda = view;
                self.changed.agenda = true;
            }
            Reply::Agenda(Err(e)) => tracing::info!(error = %e, "agenda not read"),
            Reply::Printed(printed) => {
                self.printed = Some(printed);
                self.changed.status = true;
            }
        }
    }

    fn status(&mut self, r: Result<HandoffState, String>, jobs: &mut Vec<Job>) {
        match r {
            Ok(HandoffState::Pending { opened }) => {
                self.set_phase(if opened { Phase::Opened } else { Phase::Qr })
            }
            Ok(HandoffState::Bound {
                name,
                companies,
                sent,
                ..
            }) => {
                if self.phase != Phase::Bound {
                    self.person = name;
                    self.companies = companies;
                    self.changed.companies = true;
                    self.set_phase(Phase::Bound);
                }
                if let Some(protocol) = sent.filter(|s| self.sent.as_ref() != Some(s)) {
                    self.sent = Some(protocol.clone());
                    self.phone = Some(PhoneStatus::Sent {
                        protocol,
                        istanza: self.asked_istanza,
                    });
                    self.changed.status = true;
                    if let Some((id, matricola)) = self.on_screen() {
                        self.ask(jobs, Effect::Lists { id, matricola });
                    }
                }
            }
            Ok(HandoffState::Expired | HandoffState::Ended) => self.expire(),
            // A question lost to the network: the next tick asks again.
            Err(e) => tracing::debug!(error = %e, "hand-off state not read"),
        }
    }
}
