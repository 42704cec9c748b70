//! The kiosk: what a visitor does at the lobby's touchscreen, and the devices it does it with.
//!
//! [`Kiosk`] holds the flows (check-in by QR, walk-in tickets, calling staff, printing) over the
//! branch node; [`ui`] is the Slint touchscreen over them, [`screenshot`] renders its screens
//! without a display, [`cassetto`] is *Il mio Cassetto*'s session without any screen,
//! [`identify`] reaches the hub for it, [`guide`] speaks, [`devices`] opens the printer and
//! scanner the configuration names, and [`fascicolo`] lays out what the Cassetto prints.
//! Headless (`sportello kiosk --headless`) the scanner feeds lines and the answers are text.
//!
//! It never opens PostgreSQL and never serves HTTP: the branch node's LAN server does that.

use std::sync::Arc;

use hardware::scanner::Scanner;

use branch::node::{Branch, CheckIn};
use domain::token::TokenVerifier;
use domain::{
    Clock, PersonKey, PersonKeyer, Sede, ServiceLetter, Ticket, TicketPriority, UserMessage,
};
use hardware::printer::{Printer, PrinterStatus};
use i18n::msg;
use i18n::{Localized, Message};
use queue::estimate::WaitRange;
use queue::{Command, DeviceAlert};
use store::StoreError;
use ticket::{PrintOptions, TicketLayout};

/// What the visitor is told after a scan or a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A ticket was issued (or, for an appointment already checked in, issued again).
    Ticket {
        /// The ticket.
        ticket: Ticket,
        /// True when this is a reprint of an earlier check-in.
        reprint: bool,
        /// The people ahead and the wait; `None` for a ticket a kiosk issued from its lease
        /// while cut off from the branch's node, which cannot know them.
        estimate: Option<Estimate>,
        /// Whether the ticket came out of the printer; if not, the screen is the ticket.
        printed: bool,
    },
    /// A *chiama un operatore* request reached the staff consoles.
    Assistance,
    /// Refused, with the message for the visitor and its catalogue key.
    Refused {
        /// Catalogue key.
        key: &'static str,
        /// The text, in any language of the kiosk (`Display` is Italian).
        message: Message,
    },
}

/// Where a ticket stands when it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Tickets of the same service waiting before this one.
    pub ahead: u32,
    /// Estimated wait.
    pub wait: WaitRange,
}

/// The kiosk's application state, independent of how it is displayed.
pub struct Kiosk {
    /// The branch configuration generation `verifier` and `sede` were read at.
    configuration: u64,
    branch: Arc<Branch>,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
    sede: Sede,
    last_input: Option<(String, std::time::Instant, Answer)>,
    keyer: Option<PersonKeyer>,
    typed_failures: Vec<std::time::Instant>,
    printer: Option<(Box<dyn Printer>, PrintOptions)>,
    /// Tickets committed but never printed before the kiosk last stopped (a power cut between
    /// the commit and the printer), offered for printing again.
    pending: Vec<Ticket>,
    follow_base: String,
    identification: Arc<dyn identify::Identification>,
    /// The branch's node, when it runs elsewhere: tickets are numbered there.
    remote: Option<Arc<remote::RemoteNode>>,
    /// The printer's last state, for the node's view of this kiosk.
    printer_state: Arc<std::sync::Mutex<&'static str>>,
}

/// A ticket committed this long before a restart without reaching paper is offered again; an
/// older one's visitor has long gone to the front desk.
pub const REPRINT_WINDOW_MIN: i64 = 10;

/// Failed typed codes allowed in [`TYPED_WINDOW`] before the kiosk asks for the QR instead.
pub const TYPED_MAX_FAILURES: usize = 5;
/// The window of [`TYPED_MAX_FAILURES`].
pub const TYPED_WINDOW: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// A scanner that reads the same code twice within this time (a double read, a code held in
/// front of it) gets the first answer again, never a second ticket.
pub const REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the QR on a ticket leads unless `branch.follow_base` says otherwise (a placeholder
/// domain that resolves nowhere).
pub const FOLLOW_BASE: &str = "https://sportello.inps.invalid/coda";

/// Check-in opens this many minutes before the booked time…
pub const CHECK_IN_OPENS_MIN: i64 = 30;
/// …and closes this many minutes after it.
pub const CHECK_IN_CLOSES_MIN: i64 = 15;

/// What a ticket issued from the lease says instead of the people ahead and the wait.
pub const OFFLINE_NOTE: &str = "emesso senza collegamento al sistema della sede: attesa non nota, il turno segue l'ora di emissione";

/// A refusal; operator details of a store failure stay in the log (see `NodeError`).
fn refused<E: UserMessage + Localized>(e: &E) -> Answer {
    Answer::Refused {
        key: e.message_key(),
        message: e.localized(),
    }
}

/// The sede and the booking-token verifying keys, as the store holds them now.
fn read_configuration(branch: &Branch) -> Result<(TokenVerifier, Sede), StoreError> {
    let mut verifier = TokenVerifier::new();
    let (keys, sede) = branch.read(|_, s| (s.verifying_keys(), s.sede()));
    for (id, key) in keys? {
        if verifier.add_key(id, &key).is_err() {
            tracing::warn!(
                key_id = id,
                "ignoring a verifying key that is not an Ed25519 key"
            );
        }
    }
    let sede = sede?.ok_or_else(|| {
        StoreError::Migration(
            "the store has no branch configuration: run demo-data or enrol".into(),
        )
    })?;
    Ok((verifier, sede))
}

impl Kiosk {
    /// Reads the sede and the verifying keys again if a pull changed them since (a key the hub
    /// rotated in works at once; one it withdrew stops at once).
    fn follow_configuration(&mut self) {
        let now = self.branch.configuration();
        if now == self.configuration {
            return;
        }
        match read_configuration(&self.branch) {
            Ok((verifier, sede)) => {
                self.verifier = verifier;
                self.sede = sede;
                self.configuration = now;
                tracing::info!("branch configuration reloaded");
            }
            Err(e) => tracing::error!(error = %e, "cannot reload the branch configuration"),
        }
    }

    /// A kiosk of a branch whose store holds a replica.
    pub fn new(branch: Arc<Branch>) -> Result<Self, StoreError> {
        let configuration = branch.configuration();
        let (verifier, sede) = read_configuration(&branch)?;
        let clock = branch.clock().clone();
        Ok(Self {
            branch,
            verifier,
            configuration,
            clock,
            sede,
            last_input: None,
            keyer: None,
            typed_failures: Vec::new(),
            printer: None,
            pending: Vec::new(),
            follow_base: FOLLOW_BASE.to_owned(),
            identification: identify::offline(),
            remote: None,
            printer_state: Arc::new(std::sync::Mutex::new("ready")),
        })
    }

    /// Numbers tickets at the branch's node elsewhere on the LAN (and from the node's leases
    /// while it cannot be reached) instead of in this kiosk's store.
    pub fn with_node(mut self, node: Arc<remote::RemoteNode>) -> Self {
        self.remote = Some(node);
        self
    }

    /// The printer's state as the node shows it (`ready`, `paper_out`…), kept up to date.
    pub fn printer_state(&self) -> Arc<std::sync::Mutex<&'static str>> {
        self.printer_state.clone()
    }

    /// Lets visitors type the booking code with their codice fiscale (checked through the
    /// same pseudonymous key the replica holds).
    pub fn with_keyer(mut self, keyer: PersonKeyer) -> Self {
        self.keyer = Some(keyer);
        self
    }

    /// Identifies visitors for *Il mio Cassetto* through `identification` (the hub's).
    pub fn with_identification(
        mut self,
        identification: Arc<dyn identify::Identification>,
    ) -> Self {
        self.identification = identification;
        self
    }

    /// How visitors are identified (without a hub: [`identify::Offline`]).
    pub fn identification(&self) -> Arc<dyn identify::Identification> {
        self.identification.clone()
    }

    /// Ticket QR codes open the hub's *segui la coda* pages under `base`.
    pub fn with_follow_base(mut self, base: &str) -> Self {
        self.follow_base = base.to_owned();
        self
    }

    /// Prints tickets on `printer`, after each commit. Tickets of the last
    /// [`REPRINT_WINDOW_MIN`] minutes that never reached paper become [`Self::pending_reprints`].
    pub fn with_printer(mut self, printer: Box<dyn Printer>, options: PrintOptions) -> Self {
        self.printer = Some((printer, options));
        self.pending = match self.unprinted() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot tell which tickets were printed");
                Vec::new()
            }
        };
        if !self.pending.is_empty() {
            tracing::warn!(
                tickets = ?self.pending.iter().map(|t| t.number.to_string()).collect::<Vec<_>>(),
                "tickets committed but not printed before the restart"
            );
        }
        self
    }

    fn unprinted(&self) -> Result<Vec<Ticket>, StoreError> {
        let now = self.clock.now();
        self.branch.read(|q, s| {
            let Some(day) = q.day() else {
                return Ok(Vec::new());
            };
            let printed = s.printed_tickets(day)?;
            let mut out: Vec<Ticket> = q
                .tickets()
                .filter(|t| t.state == domain::TicketState::Issued)
                .filter(|t| now - t.issued_at <= chrono::Duration::minutes(REPRINT_WINDOW_MIN))
                .filter(|t| !printed.contains(&t.number.to_string()))
                .map(|t| branch::node::ticket_view(t, day))
                .collect();
            out.sort_by_key(|t| t.issued_at);
            Ok(out)
        })
    }

    /// Tickets committed but not printed before the last restart.
    pub fn pending_reprints(&self) -> &[Ticket] {
        &self.pending
    }

    /// Prints the oldest pending ticket again, same number.
    pub fn reprint_next(&mut self) -> Option<Answer> {
        if self.pending.is_empty() {
            return None;
        }
        let ticket = self.pending.remove(0);
        tracing::info!(ticket = %ticket.number, "unprinted ticket printed again");
        Some(self.answer(ticket, true))
    }

    /// Prints every pending ticket again, same numbers; the list empties.
    pub fn reprint_pending(&mut self) -> Vec<Answer> {
        std::iter::from_fn(|| self.reprint_next()).collect()
    }

    /// The name of a service, as visitors read it.
    pub fn service_name(&self, letter: ServiceLetter) -> String {
        self.branch.read(|q, _| {
            q.services()
                .find(|s| s.letter == letter)
                .map(|s| s.name.clone())
                .unwrap_or_default()
        })
    }

    /// People waiting per service: the node's, for a kiosk that numbers there (`None` while
    /// the node does not answer: the kiosk cannot know).
    pub fn waiting_counts(&self) -> Option<std::collections::BTreeMap<ServiceLetter, u32>> {
        match &self.remote {
            Some(node) => node.waiting(),
            None => Some(self.branch.read(|q, _| q.waiting_counts())),
        }
    }

    /// The branch.
    pub fn sede(&self) -> &Sede {
        &self.sede
    }

    /// The branch node.
    pub fn branch(&self) -> &Arc<Branch> {
        &self.branch
    }

    /// Handles one line from the scanner: a booking QR, or a service letter for a walk-in.
    pub fn handle_input(&mut self, line: &str) -> Answer {
        let line = line.trim();
        if let Some((last, at, answer)) = &self.last_input
            && last == line
            && at.elapsed() < REPEAT_WINDOW
        {
            tracing::info!("same input again within 2 s: previous answer repeated");
            return answer.clone();
        }
        let answer = if line == "?" || line.eq_ignore_ascii_case("aiuto") {
            self.call_staff()
        } else if let Ok(letter) = ServiceLetter::parse(line) {
            self.walk_in(letter)
        } else {
            self.scan(line)
        };
        self.last_input = Some((line.to_owned(), std::time::Instant::now(), answer.clone()));
        answer
    }

    /// The visitor pressed *chiama un operatore*: the request shows on every staff console.
    pub fn call_staff(&mut self) -> Answer {
        if let Some(node) = &self.remote {
            return match node.assist(&self.branch) {
                Ok(true) => Answer::Assistance,
                Ok(false) => Answer::Refused {
                    key: "assist-node-unreachable",
                    message: msg!(
                        "il sistema della sede non risponde e gli operatori non possono essere avvisati da qui: si rivolga all'accoglienza"
                    ),
                },
                Err(r) => Answer::Refused {
                    key: remote::key_of(&r.key),
                    message: r.message(),
                },
            };
        }
        let kiosk = self
            .branch
            .read(|_, s| s.device().map(|d| d.device_id))
            .unwrap_or_else(|_| "chiosco".into());
        match self.branch.execute(Command::RequestAssistance { kiosk }) {
            Ok(_) => Answer::Assistance,
            Err(e) => {
                tracing::warn!(error = %e, "assistance request failed");
                refused(&e)
            }
        }
    }

    /// A code typed on the on-screen keyboard: a booking token's text is checked like a scan;
    /// a booking code must come with the visitor's codice fiscale ("APP-2026-000123
    /// RSSMRA80A01H501U"), checked offline against the appointment list (offline first),
    /// with failed attempts limited.
    pub fn typed_code(&mut self, text: &str) -> Answer {
        self.follow_configuration();
        let text = text.trim();
        if text.starts_with("SP1:") {
            return self.scan(text);
        }
        self.typed_failures.retain(|t| t.elapsed() < TYPED_WINDOW);
        if self.typed_failures.len() >= TYPED_MAX_FAILURES {
            return Answer::Refused {
                key: "checkin-typed-too-many",
                message: msg!(
                    "troppi tentativi con il codice: inquadri il codice QR o si rivolga all'accoglienza"
                ),
            };
        }
        let answer = self.typed_check_in(text);
        // Only a wrong pair is a guess at someone's booking; a typo in the form is not.
        if let Answer::Refused { key, .. } = &answer
            && *key == "checkin-typed-mismatch"
        {
            self.typed_failures.push(std::time::Instant::now());
        }
        answer
    }

    fn typed_check_in(&mut self, text: &str) -> Answer {
        let mut parts = text.split_whitespace();
        let booking = match domain::BookingId::parse(parts.next().unwrap_or("")) {
            Ok(b) => b,
            Err(e) => return refused(&e),
        };
        let Some(cf) = parts.next() else {
            return Answer::Refused {
                key: "checkin-typed-code-needs-cf",
                message: msg!(
                    "per usare il codice della prenotazione serve anche il codice fiscale: inquadri il codice QR oppure si rivolga all'accoglienza"
                ),
            };
        };
        let Ok(cf) = domain::CodiceFiscale::parse(cf) else {
            return Answer::Refused {
                key: "checkin-typed-cf-invalid",
                message: msg!("il codice fiscale non è valido: lo controlli e riprovi"),
            };
        };
        let Some(keyer) = &self.keyer else {
            return Answer::Refused {
                key: "checkin-typed-unavailable",
                message: msg!(
                    "su questo chiosco la registrazione con il codice non è disponibile: inquadri il codice QR"
                ),
            };
        };
        let person = keyer.key(&cf);
        let appointment = self
            .branch
            .read(|_, s| s.appointment(booking))
            .ok()
            .flatten();
        // One answer for an unknown code and a wrong codice fiscale: the kiosk does not tell
        // which bookings exist.
        let Some(appointment) = appointment.filter(|a| a.person_key == Some(person)) else {
            return Answer::Refused {
                key: "checkin-typed-mismatch",
                message: msg!(
                    "il codice della prenotazione e il codice fiscale non corrispondono a un appuntamento di questa sede"
                ),
            };
        };
        self.check_in_booking(booking, appointment.starts_at, person)
    }

    /// A booking QR code was scanned.
    pub fn scan(&mut self, text: &str) -> Answer {
        self.follow_configuration();
        let claims = match self.verifier.verify(text) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(reason = e.message_key(), "scan refused");
                return refused(&e);
            }
        };
        if claims.sede != self.sede.code {
            tracing::info!(booking = %claims.booking, "scan for another sede");
            let other = domain::sedi::with_code(claims.sede)
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(" / ");
            return Answer::Refused {
                key: "checkin-other-sede",
                message: msg!("la prenotazione è per la sede INPS di {}", other),
            };
        }
        self.check_in_booking(claims.booking, claims.starts_at, claims.person)
    }

    /// The checks after the booking is known (date, window), then the check-in.
    fn check_in_booking(
        &mut self,
        booking: domain::BookingId,
        starts_at: chrono::NaiveDateTime,
        person: PersonKey,
    ) -> Answer {
        let trusted = self.clock.trust() == domain::ClockTrust::Trusted;
        let today = self.clock.today();
        let days_off = (starts_at.date() - today).num_days();
        // An untrusted clock may be a day off : a day either side passes.
        if days_off < -i64::from(!trusted) {
            return Answer::Refused {
                key: "checkin-expired",
                message: msg!(
                    "la prenotazione era per il {} ed è scaduta: può prenotare di nuovo o prendere un biglietto",
                    starts_at.format("%d/%m/%Y")
                ),
            };
        }
        if days_off > i64::from(!trusted) {
            return Answer::Refused {
                key: "checkin-not-today",
                message: msg!(
                    "la prenotazione è per il {}, non per oggi: torni quel giorno",
                    starts_at.format("%d/%m/%Y")
                ),
            };
        }
        let reprint = self
            .branch
            .read(|q, _| q.ticket_of_booking(booking).is_some());
        if trusted && !reprint {
            let now = self.clock.local_now().naive_local();
            let opens = starts_at - chrono::Duration::minutes(CHECK_IN_OPENS_MIN);
            let closes = starts_at + chrono::Duration::minutes(CHECK_IN_CLOSES_MIN);
            if now < opens {
                return Answer::Refused {
                    key: "checkin-too-early",
                    message: msg!(
                        "è presto: la registrazione per l'appuntamento delle {} apre alle {}",
                        starts_at.format("%H:%M"),
                        opens.format("%H:%M")
                    ),
                };
            }
            if now > closes {
                return Answer::Refused {
                    key: "checkin-too-late",
                    message: msg!(
                        "l'appuntamento delle {} è scaduto da più di 15 minuti: può prendere un biglietto senza appuntamento",
                        starts_at.format("%H:%M")
                    ),
                };
            }
        }
        if let Some(node) = self.remote.clone() {
            let service = match self.branch.read(|_, s| s.appointment(booking)) {
                Ok(Some(a)) => a.service,
                Ok(None) => return refused(&branch::node::NodeError::UnknownBooking(booking)),
                Err(e) => return refused(&branch::node::NodeError::Store(e)),
            };
            let outcome = node.check_in(&self.branch, booking, starts_at, service, Some(person));
            return self.remote_answer(outcome);
        }
        match self.branch.check_in(booking, Some(person)) {
            Ok(CheckIn { ticket, already }) => {
                tracing::info!(booking = %booking, ticket = %ticket.number, reprint = already, "checked in");
                self.answer(ticket, already)
            }
            Err(e) => {
                tracing::warn!(booking = %booking, error = %e, "check-in failed");
                refused(&e)
            }
        }
    }

    /// A walk-in ticket for a service.
    pub fn walk_in(&mut self, service: ServiceLetter) -> Answer {
        self.follow_configuration();
        if let Some(node) = self.remote.clone() {
            let outcome = node.issue(&self.branch, service, TicketPriority::WalkIn);
            return self.remote_answer(outcome);
        }
        match self.branch.issue_ticket(service, TicketPriority::WalkIn) {
            Ok(ticket) => {
                tracing::info!(ticket = %ticket.number, "walk-in ticket issued");
                self.answer(ticket, false)
            }
            Err(e) => {
                tracing::warn!(error = %e, "walk-in ticket failed");
                refused(&e)
            }
        }
    }

    /// What the node (or the lease) gave, as the visitor's answer.
    fn remote_answer(&mut self, outcome: remote::Outcome) -> Answer {
        match outcome {
            remote::Outcome::Online(issued) => {
                tracing::info!(ticket = %issued.ticket.number, reprint = issued.reprint, "ticket from the node");
                let estimate = Estimate {
                    ahead: issued.ahead,
                    wait: issued.wait,
                };
                self.answer_with(issued.ticket, issued.reprint, Some(estimate))
            }
            remote::Outcome::Offline { ticket, reprint } => self.answer_with(ticket, reprint, None),
            remote::Outcome::Refused(r) => Answer::Refused {
                key: remote::key_of(&r.key),
                message: r.message(),
            },
            remote::Outcome::NoLease => Answer::Refused {
                key: "offline-no-lease",
                message: msg!(
                    "il sistema della sede non risponde e questo chiosco ha finito i numeri di riserva: si rivolga all'accoglienza"
                ),
            },
            remote::Outcome::Failed(e) => {
                tracing::error!(error = %e, "ticket from the lease not saved");
                refused(&branch::node::NodeError::Store(e))
            }
        }
    }

    fn answer(&mut self, ticket: Ticket, reprint: bool) -> Answer {
        let (ahead, wait) = self.branch.estimate(&ticket);
        self.answer_with(ticket, reprint, Some(Estimate { ahead, wait }))
    }

    fn answer_with(&mut self, ticket: Ticket, reprint: bool, estimate: Option<Estimate>) -> Answer {
        // The ticket is committed: printing comes after, and a failure only changes how the
        // visitor gets the number (the screen) and tells staff.
        let printed = self.print(&ticket, estimate.as_ref());
        if printed {
            let (day, number, at) = (
                ticket.business_day,
                ticket.number.to_string(),
                self.clock.now(),
            );
            if let Err(e) = self.branch.with_store(|s| s.mark_printed(day, &number, at)) {
                // The ticket is on paper; at worst a restart offers it once more.
                tracing::warn!(error = %e, "printed ticket not recorded");
            }
        }
        Answer::Ticket {
            ticket,
            reprint,
            estimate,
            printed,
        }
    }

    /// The public page where a ticket's place in the queue can be followed (its QR code),
    /// tagged with the sede's key once the hub gave one: only that address opens the page's
    /// forms (`domain::follow`).
    pub fn follow_url(&self, ticket: &Ticket) -> String {
        let url = format!(
            "{}/{}/{}/{}",
            self.follow_base.trim_end_matches('/'),
            self.sede.code,
            ticket.business_day,
            ticket.number
        );
        let key = self.branch.read(|_, s| s.follow_key()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the follow key was not read: the QR goes untagged");
            None
        });
        match key {
            Some(key) => format!(
                "{url}?c={}",
                domain::follow::tag(&key, self.sede.code, ticket.business_day, ticket.number)
            ),
            None => url,
        }
    }

    /// Prints a document (the Cassetto *fascicolo*) when the printer is ready; whether it
    /// reached paper. A document is never kept for printing later: it is the visitor's.
    pub fn print_document(&mut self, doc: &ticket::DocumentLayout) -> bool {
        let Some((printer, options)) = &mut self.printer else {
            return false;
        };
        match printer.status() {
            Ok(PrinterStatus::Ready | PrinterStatus::PaperLow) => {}
            Ok(other) => {
                tracing::warn!(state = ?other, "document not printed");
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "printer offline");
                return false;
            }
        }
        match ticket::render_document(doc, options) {
            Ok(bytes) => match printer.print(&bytes) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "document not printed");
                    false
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "document text cannot be printed");
                false
            }
        }
    }

    /// The kiosk's clock: the branch node's.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The sede as a printed heading.
    pub fn sede_heading(&self) -> String {
        format!("INPS – Sede di {}", self.sede.name)
    }

    fn print(&mut self, ticket: &Ticket, estimate: Option<&Estimate>) -> bool {
        let service = self.service_name(ticket.number.letter());
        let follow_url = self.follow_url(ticket);
        let Some((printer, options)) = &mut self.printer else {
            return false;
        };
        let layout = TicketLayout {
            sede: format!("INPS – Sede di {}", self.sede.name),
            number: ticket.number.to_string(),
            service,
            issued: ticket
                .issued_at
                .with_timezone(&domain::TIME_ZONE)
                .format("%d/%m/%Y %H:%M")
                .to_string(),
            ahead: estimate.map(|e| e.ahead),
            wait: estimate.map(|e| e.wait.text()),
            follow_url,
        };
        let (ready, mut alert) = match printer.status() {
            Ok(PrinterStatus::Ready) => (true, None),
            // Prints, and staff change the roll before it runs out.
            Ok(PrinterStatus::PaperLow) => (true, Some(DeviceAlert::PrinterPaperLow)),
            Ok(PrinterStatus::PaperOut) => (false, Some(DeviceAlert::PrinterOutOfPaper)),
            Ok(PrinterStatus::CoverOpen) => (false, Some(DeviceAlert::PrinterCoverOpen)),
            Err(e) => {
                tracing::warn!(error = %e, "printer offline");
                (false, Some(DeviceAlert::PrinterOffline))
            }
        };
        let mut printed = false;
        if ready {
            match ticket::render(&layout, options) {
                Ok(bytes) => match printer.print(&bytes) {
                    Ok(()) => printed = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "ticket not printed");
                        alert = Some(DeviceAlert::PrinterOffline);
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "ticket text cannot be printed");
                    return false;
                }
            }
        }
        *self.printer_state.lock().unwrap_or_else(|p| p.into_inner()) = match alert {
            None => "ready",
            Some(DeviceAlert::PrinterPaperLow) => "paper_low",
            Some(DeviceAlert::PrinterOutOfPaper) => "paper_out",
            Some(DeviceAlert::PrinterCoverOpen) => "cover_open",
            Some(_) => "offline",
        };
        if self.remote.is_some() {
            // The node hears of this kiosk's printer with its next sync, not as the branch's.
            return printed;
        }
        for a in [
            DeviceAlert::PrinterPaperLow,
            DeviceAlert::PrinterOutOfPaper,
            DeviceAlert::PrinterCoverOpen,
            DeviceAlert::PrinterOffline,
        ] {
            let command = if Some(a) == alert {
                Command::RaiseAlert { alert: a }
            } else {
                Command::ClearAlert { alert: a }
            };
            if let Err(e) = self.branch.execute(command) {
                tracing::warn!(error = %e, "printer alert not recorded");
            }
        }
        printed
    }

    /// Text shown for an answer in headless mode.
    pub fn render(&self, answer: &Answer) -> String {
        match answer {
            Answer::Ticket {
                ticket,
                reprint,
                estimate,
                printed,
            } => {
                let service = self.service_name(ticket.number.letter());
                let again = if *reprint {
                    " (ristampa: il check-in era già stato fatto)"
                } else {
                    ""
                };
                let paper = if *printed {
                    ""
                } else {
                    " – non stampato: mostri questo numero allo sportello"
                };
                let queue = match estimate {
                    Some(e) => format!(
                        "persone prima di lei: {} – attesa stimata: {}",
                        e.ahead,
                        e.wait.text()
                    ),
                    None => OFFLINE_NOTE.to_owned(),
                };
                format!(
                    "BIGLIETTO {} – {}{} – {}{}",
                    ticket.number, service, again, queue, paper
                )
            }
            Answer::Assistance => {
                "Un operatore è stato avvisato e arriverà al più presto.".to_string()
            }
            Answer::Refused { message, .. } => format!("NON ACCETTATO: {message}"),
        }
    }

    /// Runs the headless loop: reads the scanner until it closes, printing each answer.
    pub fn run_headless(
        &mut self,
        scanner: &mut dyn Scanner,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            writeln!(
                out,
                "RISTAMPA DISPONIBILE: {} non stampato prima dell'interruzione – scriva RISTAMPA",
                self.pending
                    .iter()
                    .map(|t| t.number.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            out.flush()?;
        }
        loop {
            let clock = self.clock.clone();
            if let Err(e) = self.branch.with_store(|s| s.run_daily_jobs(clock.as_ref())) {
                tracing::error!(error = %e, "daily jobs failed");
            }
            match scanner.next_scan()? {
                Some(line) if line.trim().is_empty() => continue,
                Some(line) if line.trim().eq_ignore_ascii_case("ristampa") => {
                    let answers = self.reprint_pending();
                    if answers.is_empty() {
                        writeln!(out, "Nessun biglietto da ristampare.")?;
                    }
                    for answer in answers {
                        writeln!(out, "{}", self.render(&answer))?;
                    }
                    out.flush()?;
                }
                Some(line) => {
                    let answer = self.handle_input(&line);
                    writeln!(out, "{}", self.render(&answer))?;
                    out.flush()?;
                }
                None => return Ok(()),
            }
        }
    }
}

pub mod cassetto;
pub mod devices;
pub mod fascicolo;
pub mod guide;
pub mod identify;
pub mod panel;
pub mod remote;
pub mod screenshot;
pub mod ui;
