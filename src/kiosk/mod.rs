//! Kiosk flows and view models. Until the touchscreen UI lands, the kiosk runs headless: the
//! scanner feeds lines (QR texts, or a service letter for a walk-in ticket) and answers are
//! written as text.

use std::sync::Arc;

use hardware::scanner::Scanner;

use crate::domain::token::TokenVerifier;
use crate::domain::{Clock, Sede, ServiceLetter, Ticket, TicketPriority, UserMessage};
use crate::i18n::{Localized, Message};
use crate::msg;
use crate::node::{Branch, CheckIn};
use crate::queue::Command;
use crate::queue::estimate::WaitRange;
use crate::store::StoreError;

/// What the visitor is told after a scan or a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A ticket was issued (or, for an appointment already checked in, issued again).
    Ticket {
        /// The ticket.
        ticket: Ticket,
        /// True when this is a reprint of an earlier check-in.
        reprint: bool,
        /// Tickets of the same service waiting before this one.
        ahead: u32,
        /// Estimated wait.
        wait: WaitRange,
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

/// The kiosk's application state, independent of how it is displayed.
pub struct Kiosk {
    branch: Arc<Branch>,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
    sede: Sede,
    last_input: Option<(String, std::time::Instant, Answer)>,
}

/// A scanner that reads the same code twice within this time (a double read, a code held in
/// front of it) gets the first answer again, never a second ticket.
pub const REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Check-in opens this many minutes before the booked time…
pub const CHECK_IN_OPENS_MIN: i64 = 30;
/// …and closes this many minutes after it.
pub const CHECK_IN_CLOSES_MIN: i64 = 15;

/// A refusal; operator details of a store failure stay in the log (see `NodeError`).
fn refused<E: UserMessage + Localized>(e: &E) -> Answer {
    Answer::Refused {
        key: e.message_key(),
        message: e.localized(),
    }
}

impl Kiosk {
    /// A kiosk of a branch whose store holds a replica.
    pub fn new(branch: Arc<Branch>) -> Result<Self, StoreError> {
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
        let clock = branch.clock().clone();
        Ok(Self {
            branch,
            verifier,
            clock,
            sede,
            last_input: None,
        })
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

    /// A code typed on the on-screen keyboard: a booking token's text is checked like a scan; a
    /// booking code alone needs the visitor's codice fiscale too (brief, decision 1), which the
    /// check-in issue adds.
    pub fn typed_code(&mut self, text: &str) -> Answer {
        let text = text.trim();
        if text.starts_with("SP1:") {
            return self.scan(text);
        }
        match crate::domain::BookingId::parse(text) {
            Ok(_) => Answer::Refused {
                key: "checkin-typed-code-needs-cf",
                message: msg!(
                    "per usare il codice della prenotazione serve anche il codice fiscale: inquadri il codice QR oppure si rivolga all'accoglienza"
                ),
            },
            Err(e) => refused(&e),
        }
    }

    /// A booking QR code was scanned.
    pub fn scan(&mut self, text: &str) -> Answer {
        let claims = match self.verifier.verify(text) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(reason = e.message_key(), "scan refused");
                return refused(&e);
            }
        };
        if claims.sede != self.sede.code {
            tracing::info!(booking = %claims.booking, "scan for another sede");
            let other = crate::domain::sedi::with_code(claims.sede)
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(" / ");
            return Answer::Refused {
                key: "checkin-other-sede",
                message: msg!("la prenotazione è per la sede INPS di {}", other),
            };
        }
        let trusted = self.clock.trust() == crate::domain::ClockTrust::Trusted;
        let today = self.clock.today();
        let days_off = (claims.starts_at.date() - today).num_days().abs();
        // An untrusted clock may be a day off (brief, decision 3): a day either side passes.
        if days_off > i64::from(!trusted) {
            return Answer::Refused {
                key: "checkin-not-today",
                message: msg!(
                    "la prenotazione è per il {}, non per oggi",
                    claims.starts_at.format("%d/%m/%Y")
                ),
            };
        }
        let reprint = self
            .branch
            .read(|q, _| q.ticket_of_booking(claims.booking).is_some());
        if trusted && !reprint {
            let now = self.clock.local_now().naive_local();
            let opens = claims.starts_at - chrono::Duration::minutes(CHECK_IN_OPENS_MIN);
            let closes = claims.starts_at + chrono::Duration::minutes(CHECK_IN_CLOSES_MIN);
            if now < opens {
                return Answer::Refused {
                    key: "checkin-too-early",
                    message: msg!(
                        "è presto: la registrazione per l'appuntamento delle {} apre alle {}",
                        claims.starts_at.format("%H:%M"),
                        opens.format("%H:%M")
                    ),
                };
            }
            if now > closes {
                return Answer::Refused {
                    key: "checkin-too-late",
                    message: msg!(
                        "l'appuntamento delle {} è scaduto da più di 15 minuti: può prendere un biglietto senza appuntamento",
                        claims.starts_at.format("%H:%M")
                    ),
                };
            }
        }
        match self.branch.check_in(claims.booking, Some(claims.person)) {
            Ok(CheckIn { ticket, already }) => {
                tracing::info!(booking = %claims.booking, ticket = %ticket.number, reprint = already, "checked in");
                self.answer(ticket, already)
            }
            Err(e) => {
                tracing::warn!(booking = %claims.booking, error = %e, "check-in failed");
                refused(&e)
            }
        }
    }

    /// A walk-in ticket for a service.
    pub fn walk_in(&mut self, service: ServiceLetter) -> Answer {
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

    fn answer(&self, ticket: Ticket, reprint: bool) -> Answer {
        let (ahead, wait) = self.branch.estimate(&ticket);
        Answer::Ticket {
            ticket,
            reprint,
            ahead,
            wait,
        }
    }

    /// Text shown for an answer in headless mode.
    pub fn render(&self, answer: &Answer) -> String {
        match answer {
            Answer::Ticket {
                ticket,
                reprint,
                ahead,
                wait,
            } => {
                let letter = ticket.number.letter();
                let service = self.branch.read(|q, _| {
                    q.services()
                        .find(|s| s.letter == letter)
                        .map(|s| s.name.clone())
                        .unwrap_or_default()
                });
                let again = if *reprint {
                    " (ristampa: il check-in era già stato fatto)"
                } else {
                    ""
                };
                format!(
                    "BIGLIETTO {} – {}{} – persone prima di lei: {} – attesa stimata: {}",
                    ticket.number,
                    service,
                    again,
                    ahead,
                    wait.text()
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
        loop {
            let clock = self.clock.clone();
            if let Err(e) = self.branch.with_store(|s| s.run_daily_jobs(clock.as_ref())) {
                tracing::error!(error = %e, "daily jobs failed");
            }
            match scanner.next_scan()? {
                Some(line) if line.trim().is_empty() => continue,
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

pub mod guide;
#[cfg(feature = "kiosk")]
pub mod screenshot;
#[cfg(feature = "kiosk")]
pub mod ui;
