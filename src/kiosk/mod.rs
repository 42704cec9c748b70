//! Kiosk flows and view models. Until the touchscreen UI lands, the kiosk runs headless: the
//! scanner feeds lines (QR texts, or a service letter for a walk-in ticket) and answers are
//! written as text.

use std::sync::Arc;

use hardware::scanner::Scanner;

use crate::domain::token::TokenVerifier;
use crate::domain::{Clock, Sede, ServiceLetter, Ticket, TicketPriority, UserMessage};
use crate::store::{CheckIn, Store, StoreError};

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
    },
    /// Refused, with the message for the visitor and its catalogue key.
    Refused {
        /// Catalogue key.
        key: &'static str,
        /// Italian text.
        message: String,
    },
}

/// The kiosk's application state, independent of how it is displayed.
pub struct Kiosk {
    store: Store,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
    sede: Sede,
}

fn refused(e: &dyn UserMessage) -> Answer {
    Answer::Refused {
        key: e.message_key(),
        message: e.to_string(),
    }
}

/// What a visitor reads when the store refuses: operator details stay in the log.
fn store_refusal(e: &StoreError) -> Answer {
    let message = match e {
        StoreError::UnknownBooking(b) => {
            format!("la prenotazione {b} non risulta in questa sede: rivolgersi all'accoglienza")
        }
        StoreError::NotCheckInable { .. } => {
            "la prenotazione è annullata o già conclusa".to_owned()
        }
        StoreError::UnknownService(s) => format!("il servizio {s} non esiste in questa sede"),
        StoreError::NumbersExhausted(_) => {
            "i biglietti di oggi per questo servizio sono esauriti".to_owned()
        }
        _ => "il chiosco non riesce a emettere il biglietto: rivolgersi all'accoglienza".to_owned(),
    };
    Answer::Refused {
        key: e.message_key(),
        message,
    }
}

impl Kiosk {
    /// A kiosk over a store that holds a branch replica.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let mut verifier = TokenVerifier::new();
        for (id, key) in store.verifying_keys()? {
            if verifier.add_key(id, &key).is_err() {
                tracing::warn!(
                    key_id = id,
                    "ignoring a verifying key that is not an Ed25519 key"
                );
            }
        }
        let sede = store.sede()?.ok_or_else(|| {
            StoreError::Migration(
                "the store has no branch configuration: run demo-data or enrol".into(),
            )
        })?;
        Ok(Self {
            store,
            verifier,
            clock,
            sede,
        })
    }

    /// The branch.
    pub fn sede(&self) -> &Sede {
        &self.sede
    }

    /// The store, for views that read from it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one line from the scanner: a booking QR, or a service letter for a walk-in.
    pub fn handle_input(&mut self, line: &str) -> Answer {
        let line = line.trim();
        if let Ok(letter) = ServiceLetter::parse(line) {
            return self.walk_in(letter);
        }
        self.scan(line)
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
                message: format!("la prenotazione è per la sede INPS di {other}"),
            };
        }
        if claims.starts_at.date() != self.clock.today() {
            return Answer::Refused {
                key: "checkin-not-today",
                message: format!(
                    "la prenotazione è per il {}, non per oggi",
                    claims.starts_at.format("%d/%m/%Y")
                ),
            };
        }
        match self
            .store
            .check_in(claims.booking, Some(claims.person), self.clock.as_ref())
        {
            Ok(CheckIn { ticket, already }) => {
                tracing::info!(booking = %claims.booking, ticket = %ticket.number, reprint = already, "checked in");
                self.answer(ticket, already)
            }
            Err(e) => {
                tracing::warn!(booking = %claims.booking, error = %e, "check-in failed");
                store_refusal(&e)
            }
        }
    }

    /// A walk-in ticket for a service.
    pub fn walk_in(&mut self, service: ServiceLetter) -> Answer {
        if let Ok(services) = self.store.services()
            && let Some(s) = services.iter().find(|s| s.letter == service)
            && s.appointment_only
        {
            return Answer::Refused {
                key: "service-appointment-only",
                message: format!("il servizio «{}» è solo su appuntamento", s.name),
            };
        }
        match self
            .store
            .issue_ticket(service, TicketPriority::WalkIn, self.clock.as_ref())
        {
            Ok(ticket) => {
                tracing::info!(ticket = %ticket.number, "walk-in ticket issued");
                self.answer(ticket, false)
            }
            Err(e) => {
                tracing::warn!(error = %e, "walk-in ticket failed");
                store_refusal(&e)
            }
        }
    }

    fn answer(&self, ticket: Ticket, reprint: bool) -> Answer {
        let waiting = self
            .store
            .waiting_count(ticket.number.letter(), self.clock.as_ref())
            .unwrap_or(1);
        Answer::Ticket {
            ticket,
            reprint,
            ahead: waiting.saturating_sub(1),
        }
    }

    /// Text shown for an answer in headless mode.
    pub fn render(&self, answer: &Answer) -> String {
        match answer {
            Answer::Ticket {
                ticket,
                reprint,
                ahead,
            } => {
                let service = self
                    .store
                    .services()
                    .ok()
                    .and_then(|s| s.into_iter().find(|s| s.letter == ticket.number.letter()))
                    .map(|s| s.name)
                    .unwrap_or_default();
                let again = if *reprint {
                    " (ristampa: il check-in era già stato fatto)"
                } else {
                    ""
                };
                format!(
                    "BIGLIETTO {} – {}{} – persone prima di lei: {}",
                    ticket.number, service, again, ahead
                )
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
            if let Err(e) = self.store.run_daily_jobs(self.clock.as_ref()) {
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
