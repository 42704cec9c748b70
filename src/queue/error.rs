//! Why the queue refused a command, in words staff and visitors can act on.

use crate::domain::{CounterNumber, ServiceLetter, TicketNumber, TicketState, UserMessage};

use super::rules::Closed;

/// A refused command. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// No numbering day is open yet.
    #[error("la giornata non è ancora aperta")]
    NoDay,
    /// The day was closed.
    #[error("la giornata è chiusa: non si emettono né si chiamano biglietti")]
    DayClosed,
    /// Unknown service.
    #[error("il servizio {0} non esiste in questa sede")]
    UnknownService(ServiceLetter),
    /// Only booked appointments for that service.
    #[error("il servizio {0} riceve solo su appuntamento")]
    AppointmentOnly(ServiceLetter),
    /// An appointment ticket without its booking.
    #[error("un biglietto per appuntamento richiede la prenotazione")]
    AppointmentNeedsBooking,
    /// Closed now.
    #[error("{}", closed_text(*.service, *.why))]
    ServiceClosed {
        /// Service.
        service: ServiceLetter,
        /// Why.
        why: Closed,
    },
    /// The daily cap is reached.
    #[error("per oggi il servizio {service} ha esaurito i {cap} biglietti disponibili")]
    DailyCapReached {
        /// Service.
        service: ServiceLetter,
        /// Cap.
        cap: u16,
    },
    /// The booking has a ticket already.
    #[error("appuntamento già registrato: il biglietto è {ticket}")]
    AlreadyCheckedIn {
        /// Its ticket.
        ticket: TicketNumber,
    },
    /// No such ticket today.
    #[error("il biglietto {0} non risulta tra quelli di oggi")]
    UnknownTicket(TicketNumber),
    /// No such counter.
    #[error("lo sportello {0} non esiste")]
    UnknownCounter(CounterNumber),
    /// The counter is not open.
    #[error("lo sportello {counter} non è aperto")]
    CounterNotOpen {
        /// Counter.
        counter: CounterNumber,
    },
    /// The counter already has a ticket.
    #[error("lo sportello {counter} ha già il biglietto {ticket}: concludilo o segnalo assente")]
    CounterBusy {
        /// Counter.
        counter: CounterNumber,
        /// Its ticket.
        ticket: TicketNumber,
    },
    /// Nobody to call.
    #[error("nessuno in attesa per i servizi dello sportello {counter}")]
    NobodyWaiting {
        /// Counter.
        counter: CounterNumber,
    },
    /// The counter does not serve that service.
    #[error("lo sportello {counter} non tratta il servizio {service}")]
    ServiceNotAtCounter {
        /// Counter.
        counter: CounterNumber,
        /// Service.
        service: ServiceLetter,
    },
    /// The command was based on an outdated view.
    #[error("{}", stale_text(*.ticket, *.state))]
    Stale {
        /// Ticket.
        ticket: TicketNumber,
        /// Its actual state.
        state: TicketState,
    },
    /// Too late to reactivate.
    #[error("il biglietto {ticket} è assente da più di {minutes} minuti e non può tornare in coda")]
    ReactivationExpired {
        /// Ticket.
        ticket: TicketNumber,
        /// Limit.
        minutes: u32,
    },
    /// The day can only be closed with a trusted clock.
    #[error("l'orologio non è verificato: la giornata si chiude quando l'ora è certa")]
    ClockUntrusted,
    /// No such assistance request.
    #[error("la richiesta di assistenza {0} è già stata presa in carico")]
    UnknownAssistance(u32),
}

fn closed_text(service: ServiceLetter, why: Closed) -> String {
    match why {
        Closed::Holiday => "oggi la sede è chiusa".into(),
        Closed::OutsideHours => format!("il servizio {service} ora è chiuso"),
        Closed::AppointmentsOnly => {
            format!("in questa fascia oraria il servizio {service} riceve solo su appuntamento")
        }
        Closed::WalkInsStopped => format!(
            "i biglietti senza appuntamento per il servizio {service} sono terminati per oggi"
        ),
    }
}

fn stale_text(ticket: TicketNumber, state: TicketState) -> String {
    let now = match state {
        TicketState::Issued => "è in attesa".to_string(),
        TicketState::Called(c) => format!("è chiamato allo sportello {c}"),
        TicketState::InService(c) => format!("è in servizio allo sportello {c}"),
        TicketState::Served => "è già stato servito".to_string(),
        TicketState::NoShow => "è segnato assente".to_string(),
        TicketState::Cancelled => "è annullato".to_string(),
    };
    format!("operazione non più valida: il biglietto {ticket} {now}")
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
        }
    }
}
