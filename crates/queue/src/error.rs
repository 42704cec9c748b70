//! Why the queue refused a command, in words staff and visitors can act on.

use domain::{CounterNumber, ServiceLetter, TicketNumber, TicketState, UserMessage};
use i18n::msg;
use i18n::{Localized, Message};

use super::rules::Closed;

/// A refused command. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", i18n::Localized::localized(self))]
pub enum QueueError {
    /// No numbering day is open yet.
    NoDay,
    /// The day was closed.
    DayClosed,
    /// Unknown service.
    UnknownService(ServiceLetter),
    /// Only booked appointments for that service.
    AppointmentOnly(ServiceLetter),
    /// An appointment ticket without its booking.
    AppointmentNeedsBooking,
    /// Closed now.
    ServiceClosed {
        /// Service.
        service: ServiceLetter,
        /// Why.
        why: Closed,
    },
    /// The daily cap is reached.
    DailyCapReached {
        /// Service.
        service: ServiceLetter,
        /// Cap.
        cap: u16,
    },
    /// The booking has a ticket already.
    AlreadyCheckedIn {
        /// Its ticket.
        ticket: TicketNumber,
    },
    /// No such ticket today.
    UnknownTicket(TicketNumber),
    /// No such counter.
    UnknownCounter(CounterNumber),
    /// The counter is not open.
    CounterNotOpen {
        /// Counter.
        counter: CounterNumber,
    },
    /// The counter already has a ticket.
    CounterBusy {
        /// Counter.
        counter: CounterNumber,
        /// Its ticket.
        ticket: TicketNumber,
    },
    /// Nobody to call.
    NobodyWaiting {
        /// Counter.
        counter: CounterNumber,
    },
    /// The counter does not serve that service.
    ServiceNotAtCounter {
        /// Counter.
        counter: CounterNumber,
        /// Service.
        service: ServiceLetter,
    },
    /// The command was based on an outdated view.
    Stale {
        /// Ticket.
        ticket: TicketNumber,
        /// Its actual state.
        state: TicketState,
    },
    /// Too late to reactivate.
    ReactivationExpired {
        /// Ticket.
        ticket: TicketNumber,
        /// Limit.
        minutes: u32,
    },
    /// The day can only be closed with a trusted clock.
    ClockUntrusted,
    /// No such assistance request.
    UnknownAssistance(u32),
    /// A kiosk handed over a ticket whose number the node never leased to it.
    NotLeased {
        /// The number.
        ticket: TicketNumber,
        /// The kiosk.
        kiosk: String,
    },
    /// A kiosk handed over a ticket whose number is already another ticket's.
    NumberTaken(TicketNumber),
    /// The day can be taken over from a previous node only before this one numbered.
    DayStarted,
    /// A called visitor still has time to reach the counter: they get one more call when it
    /// runs out, and only then may they be marked absent.
    GraceNotOver {
        /// Ticket.
        ticket: TicketNumber,
        /// When the grace runs out.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// Not one of the sede's pause reasons.
    UnknownPauseReason(String),
}

impl Localized for QueueError {
    fn localized(&self) -> Message {
        match self {
            Self::NoDay => msg!("la giornata non è ancora aperta"),
            Self::DayClosed => {
                msg!("la giornata è chiusa: non si emettono né si chiamano biglietti")
            }
            Self::UnknownService(s) => msg!("il servizio {} non esiste in questa sede", s),
            Self::AppointmentOnly(s) => msg!("il servizio {} riceve solo su appuntamento", s),
            Self::AppointmentNeedsBooking => {
                msg!("un biglietto per appuntamento richiede la prenotazione")
            }
            Self::ServiceClosed { service, why } => match why {
                Closed::Holiday => msg!("oggi la sede è chiusa"),
                Closed::OutsideHours => msg!("il servizio {} ora è chiuso", service),
                Closed::AppointmentsOnly => msg!(
                    "in questa fascia oraria il servizio {} riceve solo su appuntamento",
                    service
                ),
                Closed::WalkInsStopped => msg!(
                    "i biglietti senza appuntamento per il servizio {} sono terminati per oggi",
                    service
                ),
            },
            Self::DailyCapReached { service, cap } => msg!(
                "per oggi il servizio {} ha esaurito i {} biglietti disponibili",
                service,
                cap
            ),
            Self::AlreadyCheckedIn { ticket } => {
                msg!("appuntamento già registrato: il biglietto è {}", ticket)
            }
            Self::UnknownTicket(t) => msg!("il biglietto {} non risulta tra quelli di oggi", t),
            Self::UnknownCounter(c) => msg!("lo sportello {} non esiste", c),
            Self::CounterNotOpen { counter } => msg!("lo sportello {} non è aperto", counter),
            Self::CounterBusy { counter, ticket } => msg!(
                "lo sportello {} ha già il biglietto {}: concludilo o segnalo assente",
                counter,
                ticket
            ),
            Self::NobodyWaiting { counter } => {
                msg!(
                    "nessuno in attesa per i servizi dello sportello {}",
                    counter
                )
            }
            Self::ServiceNotAtCounter { counter, service } => {
                msg!(
                    "lo sportello {} non tratta il servizio {}",
                    counter,
                    service
                )
            }
            Self::Stale { ticket, state } => match state {
                TicketState::Issued => {
                    msg!(
                        "operazione non più valida: il biglietto {} è in attesa",
                        ticket
                    )
                }
                TicketState::Called(c) => msg!(
                    "operazione non più valida: il biglietto {} è chiamato allo sportello {}",
                    ticket,
                    c
                ),
                TicketState::InService(c) => msg!(
                    "operazione non più valida: il biglietto {} è in servizio allo sportello {}",
                    ticket,
                    c
                ),
                TicketState::Served => {
                    msg!(
                        "operazione non più valida: il biglietto {} è già stato servito",
                        ticket
                    )
                }
                TicketState::NoShow => {
                    msg!(
                        "operazione non più valida: il biglietto {} è segnato assente",
                        ticket
                    )
                }
                TicketState::Cancelled => {
                    msg!(
                        "operazione non più valida: il biglietto {} è annullato",
                        ticket
                    )
                }
            },
            Self::ReactivationExpired { ticket, minutes } => msg!(
                "il biglietto {} è assente da più di {} minuti e non può tornare in coda",
                ticket,
                minutes
            ),
            Self::ClockUntrusted => {
                msg!("l'orologio non è verificato: la giornata si chiude quando l'ora è certa")
            }
            Self::UnknownAssistance(id) => {
                msg!(
                    "la richiesta di assistenza {} è già stata presa in carico",
                    id
                )
            }
            Self::NotLeased { ticket, kiosk } => msg!(
                "il numero {} non era stato assegnato al chiosco {}",
                ticket,
                kiosk
            ),
            Self::NumberTaken(t) => msg!("il numero {} è già stato emesso oggi", t),
            Self::DayStarted => msg!(
                "questo nodo ha già emesso biglietti oggi: la giornata del nodo precedente non si può più riprendere"
            ),
            Self::GraceNotOver { ticket, until } => msg!(
                "il biglietto {} ha tempo fino alle {} per arrivare: sarà richiamato allora una volta, poi potrà segnarlo assente",
                ticket,
                until.with_timezone(&domain::TIME_ZONE).format("%H:%M")
            ),
            Self::UnknownPauseReason(r) => {
                msg!("«{}» non è tra i motivi di pausa della sede", r)
            }
        }
    }
}

impl UserMessage for QueueError {
    fn message_key(&self) -> &'static str {
        match self {
            Self::NoDay => "queue-no-day",
            Self::DayClosed => "queue-day-closed",
            Self::UnknownService(_) => "queue-unknown-service",
            Self::AppointmentOnly(_) => "queue-appointment-only",
            Self::AppointmentNeedsBooking => "queue-appointment-needs-booking",
            Self::ServiceClosed { why, .. } => match why {
                Closed::Holiday => "queue-closed-holiday",
                Closed::OutsideHours => "queue-closed-hours",
                Closed::AppointmentsOnly => "queue-closed-appointments-only",
                Closed::WalkInsStopped => "queue-closed-walk-ins-stopped",
            },
            Self::DailyCapReached { .. } => "queue-daily-cap",
            Self::AlreadyCheckedIn { .. } => "queue-already-checked-in",
            Self::UnknownTicket(_) => "queue-unknown-ticket",
            Self::UnknownCounter(_) => "queue-unknown-counter",
            Self::CounterNotOpen { .. } => "queue-counter-not-open",
            Self::CounterBusy { .. } => "queue-counter-busy",
            Self::NobodyWaiting { .. } => "queue-nobody-waiting",
            Self::ServiceNotAtCounter { .. } => "queue-service-not-at-counter",
            Self::Stale { .. } => "queue-stale",
            Self::ReactivationExpired { .. } => "queue-reactivation-expired",
            Self::ClockUntrusted => "queue-clock-untrusted",
            Self::UnknownAssistance(_) => "queue-unknown-assistance",
            Self::NotLeased { .. } => "queue-not-leased",
            Self::NumberTaken(_) => "queue-number-taken",
            Self::DayStarted => "queue-day-started",
            Self::GraceNotOver { .. } => "queue-grace-not-over",
            Self::UnknownPauseReason(_) => "queue-unknown-pause-reason",
        }
    }
}
