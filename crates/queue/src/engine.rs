//! The queue engine: a pure state machine over one branch's day.
//!
//! [`Queue::handle`] takes a command and the current time, checks it against the state and
//! returns the events it caused, already applied. [`Queue::apply`] is the only place state
//! changes, so replaying a stored day rebuilds it exactly. No I/O, no clock reads: the caller
//! passes [`Now`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::error::QueueError;
use super::events::{CancelReason, Command, DeviceAlert, Event, EventKind, OfflineTicket};
use super::figures::{CounterSpan, DailyFigures, SpanKind};
use super::rules::{Calendar, QueueRules};
use super::ticket::QueuedTicket;
use domain::{
    BookingId, Clock, ClockTrust, Counter, CounterNumber, Service, ServiceLetter, TIME_ZONE,
    TicketNumber, TicketPriority, TicketState,
};

/// The current time as the engine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The instant.
    pub at: DateTime<Utc>,
    /// Local (Europe/Rome) wall time.
    pub local: NaiveDateTime,
    /// Whether the clock is trusted.
    pub trusted: bool,
}

impl Now {
    /// Reads a clock.
    pub fn from_clock(clock: &dyn Clock) -> Self {
        let at = clock.now();
        Self::at(at, clock.trust() == ClockTrust::Trusted)
    }

    /// A given instant.
    pub fn at(at: DateTime<Utc>, trusted: bool) -> Self {
        Self {
            at,
            local: at.with_timezone(&TIME_ZONE).naive_local(),
            trusted,
        }
    }
}

/// Local wall time to an instant; a time skipped by the DST change moves forward an hour.
pub fn local_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    TIME_ZONE
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            TIME_ZONE
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc())
}

/// Whether a counter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterStatus {
    /// Closed.
    Closed,
    /// Open and calling.
    Open,
    /// Paused.
    Paused,
}

impl CounterStatus {
    /// Italian label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "chiuso",
            Self::Open => "aperto",
            Self::Paused => "in pausa",
        }
    }
}

/// A counter today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterState {
    /// Configuration from the hub.
    pub config: Counter,
    /// Open, paused or closed.
    pub status: CounterStatus,
    /// The services it calls from now, with weights.
    pub services: Vec<(ServiceLetter, u8)>,
    /// Who opened it.
    pub operator: Option<String>,
    /// The ticket called or in service there.
    pub current: Option<TicketNumber>,
    /// Why it is paused, when it is.
    pub pause_reason: Option<String>,
    /// Since when it is open or paused.
    pub since: Option<DateTime<Utc>>,
    /// Whether each of the latest calls took a priority slot, newest last; holds the last
    /// `priority_window − 1` calls.
    recent: VecDeque<bool>,
}

impl CounterState {
    fn weight(&self, service: ServiceLetter) -> Option<u8> {
        self.services
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, w)| *w)
    }
}

/// A call shown on the hall display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRecord {
    /// Ticket.
    pub ticket: TicketNumber,
    /// Counter.
    pub counter: CounterNumber,
    /// When.
    pub at: DateTime<Utc>,
}

/// A visitor's open *chiama un operatore* request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assistance {
    /// Id.
    pub id: u32,
    /// Kiosk.
    pub kiosk: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A block of numbers set aside for one kiosk today.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    /// The kiosk (its device id).
    pub kiosk: String,
    /// Service.
    pub service: ServiceLetter,
    /// First number.
    pub first: u16,
    /// Last number, included.
    pub last: u16,
}

impl Lease {
    /// Whether `ticket` is one of the block's numbers.
    pub fn holds(&self, ticket: TicketNumber) -> bool {
        self.service == ticket.letter() && (self.first..=self.last).contains(&ticket.number())
    }
}

/// One branch's queue for one day.
#[derive(Debug, Clone)]
pub struct Queue {
    rules: QueueRules,
    calendar: Calendar,
    services: BTreeMap<ServiceLetter, Service>,
    day: Option<NaiveDate>,
    closed: bool,
    tickets: BTreeMap<TicketNumber, QueuedTicket>,
    issued: BTreeMap<ServiceLetter, u16>,
    leases: Vec<Lease>,
    bookings: BTreeMap<BookingId, TicketNumber>,
    counters: BTreeMap<CounterNumber, CounterState>,
    calls: VecDeque<CallRecord>,
    alerts: BTreeSet<DeviceAlert>,
    assistance: BTreeMap<u32, Assistance>,
    next_assistance: u32,
    last_figures: Option<DailyFigures>,
    spans: Vec<CounterSpan>,
}

/// Calls kept for the hall display.
const CALLS_KEPT: usize = 10;

impl Queue {
    /// An empty queue over the branch's configuration.
    pub fn new(
        rules: QueueRules,
        calendar: Calendar,
        services: Vec<Service>,
        counters: Vec<Counter>,
    ) -> Self {
        Self {
            rules,
            calendar,
            services: services.into_iter().map(|s| (s.letter, s)).collect(),
            day: None,
            closed: false,
            tickets: BTreeMap::new(),
            issued: BTreeMap::new(),
            leases: Vec::new(),
            bookings: BTreeMap::new(),
            counters: counters
                .into_iter()
                .map(|c| {
                    (
                        c.number,
                        CounterState {
                            services: c.services.clone(),
                            config: c,
                            status: CounterStatus::Closed,
                            operator: None,
                            current: None,
                            pause_reason: None,
                            since: None,
                            recent: VecDeque::new(),
                        },
                    )
                })
                .collect(),
            calls: VecDeque::new(),
            alerts: BTreeSet::new(),
            assistance: BTreeMap::new(),
            next_assistance: 1,
            last_figures: None,
            spans: Vec::new(),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &QueueRules {
        &self.rules
    }

    /// The opening hours.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The numbering day, once one is open.
    pub fn day(&self) -> Option<NaiveDate> {
        self.day
    }

    /// Whether the day has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Services by letter.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// Today's tickets by number.
    pub fn tickets(&self) -> impl Iterator<Item = &QueuedTicket> {
        self.tickets.values()
    }

    /// Numbers already taken today outside the event log (tickets written by an older build,
    /// before the log existed): each service's next number starts after them, so a number is
    /// never given twice.
    pub fn reserve_numbers(&mut self, taken: impl IntoIterator<Item = (ServiceLetter, u16)>) {
        for (service, number) in taken {
            let issued = self.issued.entry(service).or_insert(0);
            *issued = (*issued).max(number);
        }
    }

    /// Today's leases, oldest first.
    pub fn leases(&self) -> &[Lease] {
        &self.leases
    }

    /// The last number given or leased today for `service`.
    pub fn last_number(&self, service: ServiceLetter) -> u16 {
        self.issued.get(&service).copied().unwrap_or(0)
    }

    /// One ticket.
    pub fn ticket(&self, number: TicketNumber) -> Option<&QueuedTicket> {
        self.tickets.get(&number)
    }

    /// The ticket of a checked-in booking.
    pub fn ticket_of_booking(&self, booking: BookingId) -> Option<&QueuedTicket> {
        self.bookings
            .get(&booking)
            .and_then(|n| self.tickets.get(n))
    }

    /// Counters by number.
    pub fn counters(&self) -> impl Iterator<Item = &CounterState> {
        self.counters.values()
    }

    /// One counter.
    pub fn counter(&self, number: CounterNumber) -> Option<&CounterState> {
        self.counters.get(&number)
    }

    /// Latest calls, newest first.
    pub fn recent_calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter().rev()
    }

    /// Open device alerts.
    pub fn alerts(&self) -> impl Iterator<Item = DeviceAlert> + '_ {
        self.alerts.iter().copied()
    }

    /// Open assistance requests.
    pub fn assistance(&self) -> impl Iterator<Item = &Assistance> {
        self.assistance.values()
    }

    /// Today's stretches of counters open or paused, those still going cut at `now`.
    pub fn spans(&self, now: DateTime<Utc>) -> Vec<CounterSpan> {
        let mut v = self.spans.clone();
        v.extend(self.counters.values().filter_map(|c| running_span(c, now)));
        v
    }

    /// When the ticket's grace to reach its counter runs out, while it is called and has not
    /// had its call after the grace yet: the node calls it once more then, and until then it
    /// cannot be marked absent.
    pub fn recall_due(&self, ticket: TicketNumber) -> Option<DateTime<Utc>> {
        let t = self.tickets.get(&ticket)?;
        self.grace_end(t)
    }

    fn grace_end(&self, t: &QueuedTicket) -> Option<DateTime<Utc>> {
        let grace = self.rules.recall_grace(t.service);
        if !matches!(t.state, TicketState::Called(_)) || t.grace_recalled || grace.is_zero() {
            return None;
        }
        Some(t.called_at? + grace)
    }

    /// The earliest grace that runs out among the called tickets: the next time
    /// [`Command::RecallDue`] has work.
    pub fn next_recall_due(&self) -> Option<DateTime<Utc>> {
        self.counters
            .values()
            .filter_map(|c| c.current)
            .filter_map(|n| self.recall_due(n))
            .min()
    }

    /// Figures of the last closed day.
    pub fn last_figures(&self) -> Option<&DailyFigures> {
        self.last_figures.as_ref()
    }

    /// Tickets waiting per service (callable or not yet: a checked-in appointment waits too).
    pub fn waiting_counts(&self) -> BTreeMap<ServiceLetter, u32> {
        let mut counts: BTreeMap<ServiceLetter, u32> =
            self.services.keys().map(|s| (*s, 0)).collect();
        for t in self.tickets.values() {
            if t.state == TicketState::Issued {
                *counts.entry(t.service).or_default() += 1;
            }
        }
        counts
    }

    /// Waiting tickets in calling order for the whole branch (weights ignored), for staff.
    pub fn waiting(&self, now: DateTime<Utc>) -> Vec<&QueuedTicket> {
        let mut v: Vec<_> = self
            .tickets
            .values()
            .filter(|t| t.state == TicketState::Issued)
            .collect();
        v.sort_by_key(|t| self.order_key(t, 1, now));
        v
    }

    /// How many tickets of the same service the calling order puts before `number` now.
    pub fn people_ahead(&self, number: TicketNumber, now: DateTime<Utc>) -> Option<u32> {
        let me = self.tickets.get(&number)?;
        if me.state != TicketState::Issued {
            return Some(0);
        }
        let mine = self.order_key(me, 1, now);
        let ahead = self
            .tickets
            .values()
            .filter(|t| {
                t.state == TicketState::Issued
                    && t.service == me.service
                    && self.order_key(t, 1, now) < mine
            })
            .count();
        Some(ahead as u32)
    }

    // Smaller goes first: eligible before not-yet-eligible, then larger score, then earlier
    // eligibility and issue.
    fn order_key(
        &self,
        t: &QueuedTicket,
        weight: u8,
        now: DateTime<Utc>,
    ) -> (bool, i64, DateTime<Utc>, DateTime<Utc>, TicketNumber) {
        (
            t.eligible_at > now,
            -t.score(&self.rules, weight, now),
            t.eligible_at,
            t.issued_at,
            t.number,
        )
    }

    /// Events that open today's numbering day (closing an earlier one first), if the clock
    /// allows: an untrusted clock never rolls the day over.
    pub fn roll_day(&mut self, now: Now) -> Vec<Event> {
        let today = now.local.date();
        let mut events = Vec::new();
        match self.day {
            None => events.push(self.emit(now.at, EventKind::DayOpened { day: today })),
            Some(day) if now.trusted && day != today => {
                if !self.closed {
                    let figures = self.figures(now.at);
                    events.push(self.emit(
                        now.at,
                        EventKind::DayClosed {
                            figures: Box::new(figures),
                        },
                    ));
                }
                events.push(self.emit(now.at, EventKind::DayOpened { day: today }));
            }
            Some(_) => {}
        }
        events
    }

    fn emit(&mut self, at: DateTime<Utc>, kind: EventKind) -> Event {
        let event = Event { at, kind };
        self.apply(&event);
        event
    }

    /// Handles a command: checks it, then applies and returns the events it caused. A refused
    /// command changes nothing. Call [`Self::roll_day`] first.
    pub fn handle(&mut self, command: Command, now: Now) -> Result<Vec<Event>, QueueError> {
        if self.day.is_none() {
            return Err(QueueError::NoDay);
        }
        let kinds = self.decide(command, now)?;
        Ok(kinds.into_iter().map(|k| self.emit(now.at, k)).collect())
    }

    fn decide(&self, command: Command, now: Now) -> Result<Vec<EventKind>, QueueError> {
        use EventKind as E;
        let open_day = || {
            if self.closed {
                Err(QueueError::DayClosed)
            } else {
                Ok(())
            }
        };
        Ok(match command {
            Command::Issue {
                service,
                priority,
                booking,
                kiosk,
            } => {
                open_day()?;
                vec![self.decide_issue(service, priority, booking, kiosk, now)?]
            }
            Command::Lease {
                kiosk,
                service,
                count,
            } => {
                open_day()?;
                if !self.services.contains_key(&service) {
                    return Err(QueueError::UnknownService(service));
                }
                let cap = self.rules.daily_cap.min(TicketNumber::MAX);
                let issued = self.last_number(service);
                if issued >= cap || count == 0 {
                    return Err(QueueError::DailyCapReached {
                        service,
                        cap: self.rules.daily_cap,
                    });
                }
                vec![E::NumbersLeased {
                    kiosk,
                    service,
                    first: issued + 1,
                    last: issued.saturating_add(count).min(cap),
                }]
            }
            Command::Adopt(offline) => self.decide_adopt(offline)?,
            Command::TakeOver(mut day) => {
                open_day()?;
                if !self.tickets.is_empty() || !self.leases.is_empty() {
                    return Err(QueueError::DayStarted);
                }
                day.open
                    .retain(|e| matches!(e.kind, EventKind::TicketIssued { .. }));
                vec![E::DayTakenOver(day)]
            }
            Command::CallNext { counter } => {
                open_day()?;
                let c = self.open_counter(counter)?;
                let (ticket, priority_slot) = self
                    .next_for(c, now.at)
                    .ok_or(QueueError::NobodyWaiting { counter })?;
                vec![E::TicketCalled {
                    ticket,
                    counter,
                    chosen: false,
                    priority_slot,
                }]
            }
            Command::Call { counter, ticket } => {
                open_day()?;
                let c = self.open_counter(counter)?;
                let t = self.get(ticket)?;
                if t.state != TicketState::Issued {
                    return Err(self.stale(t));
                }
                if c.weight(t.service).is_none() {
                    return Err(QueueError::ServiceNotAtCounter {
                        counter,
                        service: t.service,
                    });
                }
                vec![E::TicketCalled {
                    ticket,
                    counter,
                    chosen: true,
                    priority_slot: t.is_priority(),
                }]
            }
            Command::Recall { counter, ticket } => {
                let t = self.at_counter(ticket, counter, false)?;
                let recall = E::TicketRecalled {
                    ticket,
                    counter,
                    recalls: t.recalls.saturating_add(1),
                    automatic: false,
                };
                match self.grace_end(t) {
                    _ if t.recalls < self.rules.max_recalls => vec![recall],
                    // The limit would mark the visitor absent before their grace call: once
                    // the grace is over this call is it; before, nothing yet.
                    Some(until) if now.at < until => {
                        return Err(QueueError::GraceNotOver { ticket, until });
                    }
                    Some(_) => vec![recall],
                    None => vec![E::TicketNoShow {
                        ticket,
                        counter,
                        automatic: true,
                    }],
                }
            }
            Command::NoShow { counter, ticket } => {
                let t = self.at_counter(ticket, counter, false)?;
                if let Some(until) = self.grace_end(t) {
                    return Err(QueueError::GraceNotOver { ticket, until });
                }
                vec![E::TicketNoShow {
                    ticket,
                    counter,
                    automatic: false,
                }]
            }
            Command::RecallDue => self
                .counters
                .values()
                .filter_map(|c| Some((c.config.number, self.tickets.get(&c.current?)?)))
                .filter(|(_, t)| self.grace_end(t).is_some_and(|until| until <= now.at))
                .map(|(counter, t)| E::TicketRecalled {
                    ticket: t.number,
                    counter,
                    recalls: t.recalls.saturating_add(1),
                    automatic: true,
                })
                .collect(),
            Command::Reactivate { ticket } => {
                open_day()?;
                let t = self.get(ticket)?;
                if t.state != TicketState::NoShow {
                    return Err(self.stale(t));
                }
                let since = t.finished_at.unwrap_or(now.at);
                let limit = chrono::Duration::minutes(i64::from(self.rules.reactivate_within_min));
                if now.at - since > limit {
                    return Err(QueueError::ReactivationExpired {
                        ticket,
                        minutes: self.rules.reactivate_within_min,
                    });
                }
                vec![E::TicketReactivated { ticket }]
            }
            Command::Transfer {
                counter,
                ticket,
                to,
            } => {
                open_day()?;
                self.at_counter(ticket, counter, true)?;
                if !self.services.contains_key(&to) {
                    return Err(QueueError::UnknownService(to));
                }
                vec![E::TicketTransferred {
                    ticket,
                    counter,
                    to,
                }]
            }
            Command::Start { counter, ticket } => {
                self.at_counter(ticket, counter, false)?;
                vec![E::ServiceStarted { ticket, counter }]
            }
            Command::Serve { counter, ticket } => {
                let t = self.at_counter(ticket, counter, true)?;
                let mut v = Vec::new();
                if matches!(t.state, TicketState::Called(_)) {
                    v.push(E::ServiceStarted { ticket, counter });
                }
                v.push(E::TicketServed { ticket, counter });
                v
            }
            Command::Unanswered { kiosk, ticket } => match self.tickets.get(&ticket) {
                // Only its own, never printed elsewhere, not called yet: anything else is a
                // paper someone holds (or a stale report) and stays.
                Some(t)
                    if t.kiosk.as_deref() == Some(kiosk.as_str())
                        && !t.offline
                        && t.booking.is_none()
                        && t.state == TicketState::Issued =>
                {
                    vec![E::TicketCancelled {
                        ticket,
                        reason: CancelReason::Unanswered,
                    }]
                }
                _ => Vec::new(),
            },
            Command::Cancel { ticket } => {
                let t = self.get(ticket)?;
                if !matches!(t.state, TicketState::Issued | TicketState::NoShow) {
                    return Err(self.stale(t));
                }
                vec![E::TicketCancelled {
                    ticket,
                    reason: CancelReason::Staff,
                }]
            }
            Command::OpenCounter {
                counter,
                services,
                operator,
            } => {
                let c = self.counter_state(counter)?;
                let chosen: Vec<(ServiceLetter, u8)> = if services.is_empty() {
                    c.config.services.clone()
                } else {
                    let mut chosen = Vec::new();
                    for s in services {
                        let w = c
                            .config
                            .services
                            .iter()
                            .find(|(l, _)| *l == s)
                            .map(|(_, w)| *w)
                            .ok_or(QueueError::ServiceNotAtCounter {
                                counter,
                                service: s,
                            })?;
                        if !chosen.iter().any(|(l, _)| *l == s) {
                            chosen.push((s, w));
                        }
                    }
                    chosen
                };
                vec![E::CounterOpened {
                    counter,
                    services: chosen,
                    operator,
                }]
            }
            Command::PauseCounter { counter, reason } => {
                let c = self.counter_state(counter)?;
                if c.status != CounterStatus::Open {
                    return Err(QueueError::CounterNotOpen { counter });
                }
                let reason = self
                    .rules
                    .pause_reasons
                    .iter()
                    .find(|r| r.trim().eq_ignore_ascii_case(reason.trim()))
                    .ok_or(QueueError::UnknownPauseReason(reason))?;
                vec![E::CounterPaused {
                    counter,
                    reason: reason.clone(),
                }]
            }
            Command::CloseCounter { counter } => {
                let c = self.counter_state(counter)?;
                if let Some(ticket) = c.current {
                    return Err(QueueError::CounterBusy { counter, ticket });
                }
                vec![E::CounterClosed { counter }]
            }
            Command::CloseDay => {
                open_day()?;
                if !now.trusted {
                    return Err(QueueError::ClockUntrusted);
                }
                vec![E::DayClosed {
                    figures: Box::new(self.figures(now.at)),
                }]
            }
            Command::RaiseAlert { alert } => {
                if self.alerts.contains(&alert) {
                    vec![]
                } else {
                    vec![E::AlertRaised { alert }]
                }
            }
            Command::ClearAlert { alert } => {
                if self.alerts.contains(&alert) {
                    vec![E::AlertCleared { alert }]
                } else {
                    vec![]
                }
            }
            Command::RequestAssistance { kiosk } => {
                if self.assistance.values().any(|a| a.kiosk == kiosk) {
                    vec![]
                } else {
                    vec![E::AssistanceRequested {
                        id: self.next_assistance,
                        kiosk,
                    }]
                }
            }
            Command::AnswerAssistance { id, operator } => {
                if !self.assistance.contains_key(&id) {
                    return Err(QueueError::UnknownAssistance(id));
                }
                vec![E::AssistanceAnswered { id, operator }]
            }
        })
    }

    fn decide_issue(
        &self,
        service: ServiceLetter,
        priority: TicketPriority,
        booking: Option<(BookingId, NaiveDateTime)>,
        kiosk: Option<String>,
        now: Now,
    ) -> Result<EventKind, QueueError> {
        let conf = self
            .services
            .get(&service)
            .ok_or(QueueError::UnknownService(service))?;
        let (eligible_at, wait_from, booking) = match booking {
            Some((id, booked)) => {
                if let Some(&ticket) = self.bookings.get(&id) {
                    return Err(QueueError::AlreadyCheckedIn { ticket });
                }
                let booked = local_to_utc(booked);
                (booked.max(now.at), booked, Some(id))
            }
            None => {
                if matches!(priority, TicketPriority::Appointment) {
                    return Err(QueueError::AppointmentNeedsBooking);
                }
                if conf.appointment_only {
                    return Err(QueueError::AppointmentOnly(service));
                }
                // Only a trusted clock can say the hour; untrusted, the kiosk keeps issuing.
                if now.trusted {
                    self.calendar
                        .walk_in_open(&self.rules, service, now.local)
                        .map_err(|why| QueueError::ServiceClosed { service, why })?;
                }
                (now.at, now.at, None)
            }
        };
        let issued = self.last_number(service);
        if issued >= self.rules.daily_cap.min(TicketNumber::MAX) {
            return Err(QueueError::DailyCapReached {
                service,
                cap: self.rules.daily_cap,
            });
        }
        let ticket = TicketNumber::new(service, issued + 1).ok_or(QueueError::DailyCapReached {
            service,
            cap: self.rules.daily_cap,
        })?;
        Ok(EventKind::TicketIssued {
            ticket,
            priority,
            booking,
            eligible_at,
            wait_from,
            clock_trusted: now.trusted,
            ahead: self.ahead_at(service, eligible_at),
            kiosk,
            offline_at: None,
        })
    }

    /// A new ticket's score is 0 when it becomes eligible: everyone of its service already
    /// waiting and eligible by then is ahead of it.
    fn ahead_at(&self, service: ServiceLetter, eligible_at: DateTime<Utc>) -> u32 {
        self.tickets
            .values()
            .filter(|t| t.service == service && t.is_waiting(eligible_at))
            .count() as u32
    }

    /// A ticket printed from a lease is already in a visitor's hand: the node takes it in
    /// whatever the hour, the cap or the day's state, and only checks the number was the
    /// kiosk's to give. It waits from when it was printed, like any other; a booking already
    /// in the queue keeps its first ticket and the second is cancelled as a duplicate.
    fn decide_adopt(&self, offline: OfflineTicket) -> Result<Vec<EventKind>, QueueError> {
        use EventKind as E;
        let OfflineTicket {
            kiosk,
            ticket,
            priority,
            booking,
            issued_at,
            clock_trusted,
            unanswered,
        } = offline;
        if !self
            .leases
            .iter()
            .any(|l| l.kiosk == kiosk && l.holds(ticket))
        {
            return Err(QueueError::NotLeased { ticket, kiosk });
        }
        if let Some(t) = self.tickets.get(&ticket) {
            // The same ticket handed over again (an answer lost on the way) changes nothing.
            return if t.kiosk.as_deref() == Some(kiosk.as_str()) && t.offline {
                Ok(Vec::new())
            } else {
                Err(QueueError::NumberTaken(ticket))
            };
        }
        let service = ticket.letter();
        if !self.services.contains_key(&service) {
            return Err(QueueError::UnknownService(service));
        }
        let (eligible_at, wait_from) = match booking {
            Some((_, booked)) => {
                let booked = local_to_utc(booked);
                (booked.max(issued_at), booked)
            }
            None => (issued_at, issued_at),
        };
        let first = booking.and_then(|(id, _)| self.ticket_of_booking(id));
        // The kiosk asked the node for this check-in and never had the answer, and the
        // booking's ticket was issued online to this same kiosk and is not called yet: that
        // is the answer that was lost, a ticket nobody printed. The visitor holds this paper:
        // it takes that one's place. Any other first ticket is a paper someone holds: it
        // stays, and this one is the duplicate.
        let replaces = first.filter(|t| {
            unanswered
                && t.kiosk.as_deref() == Some(kiosk.as_str())
                && !t.offline
                && t.state == TicketState::Issued
        });
        let mut events = Vec::new();
        if let Some(t) = replaces {
            events.push(E::TicketCancelled {
                ticket: t.number,
                reason: CancelReason::Replaced,
            });
        }
        let duplicate = first.is_some() && replaces.is_none();
        events.push(E::TicketIssued {
            ticket,
            priority,
            booking: booking.map(|(id, _)| id),
            eligible_at,
            wait_from,
            clock_trusted,
            ahead: self.ahead_at(service, eligible_at),
            kiosk: Some(kiosk),
            offline_at: Some(issued_at),
        });
        if duplicate {
            events.push(E::TicketCancelled {
                ticket,
                reason: CancelReason::Duplicate,
            });
        } else if self.closed {
            events.push(E::TicketCancelled {
                ticket,
                reason: CancelReason::DayClosed,
            });
        }
        Ok(events)
    }

    /// The ticket `c` calls next at `now`, and whether it takes a priority slot.
    fn next_for(&self, c: &CounterState, now: DateTime<Utc>) -> Option<(TicketNumber, bool)> {
        let allowed =
            c.recent.iter().filter(|p| **p).count() < usize::from(self.rules.priority_calls);
        let mut best: Option<(_, &QueuedTicket)> = None;
        let mut best_regular: Option<(_, &QueuedTicket)> = None;
        for t in self.tickets.values() {
            if !t.is_waiting(now) {
                continue;
            }
            let Some(w) = c.weight(t.service) else {
                continue;
            };
            let key = self.order_key(t, w, now);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, t));
            }
            if !t.is_priority() && best_regular.as_ref().is_none_or(|(k, _)| key < *k) {
                best_regular = Some((key, t));
            }
        }
        let (_, best) = best?;
        if best.is_priority() && !allowed {
            // The cap holds the priority ticket back only while someone else waits.
            if let Some((_, regular)) = best_regular {
                return Some((regular.number, false));
            }
        }
        Some((best.number, best.is_priority()))
    }

    fn get(&self, ticket: TicketNumber) -> Result<&QueuedTicket, QueueError> {
        self.tickets
            .get(&ticket)
            .ok_or(QueueError::UnknownTicket(ticket))
    }

    fn counter_state(&self, counter: CounterNumber) -> Result<&CounterState, QueueError> {
        self.counters
            .get(&counter)
            .ok_or(QueueError::UnknownCounter(counter))
    }

    fn open_counter(&self, counter: CounterNumber) -> Result<&CounterState, QueueError> {
        let c = self.counter_state(counter)?;
        if c.status != CounterStatus::Open {
            return Err(QueueError::CounterNotOpen { counter });
        }
        if let Some(ticket) = c.current {
            return Err(QueueError::CounterBusy { counter, ticket });
        }
        Ok(c)
    }

    /// The ticket must be the one called (or, with `in_service`, also being served) at
    /// `counter`: anything else means the operator's page is out of date.
    fn at_counter(
        &self,
        ticket: TicketNumber,
        counter: CounterNumber,
        in_service: bool,
    ) -> Result<&QueuedTicket, QueueError> {
        self.counter_state(counter)?;
        let t = self.get(ticket)?;
        match t.state {
            TicketState::Called(c) if c == counter => Ok(t),
            TicketState::InService(c) if c == counter && in_service => Ok(t),
            _ => Err(self.stale(t)),
        }
    }

    fn stale(&self, t: &QueuedTicket) -> QueueError {
        QueueError::Stale {
            ticket: t.number,
            state: t.state,
        }
    }

    /// Applies one event. Events come from [`Self::handle`] or from the log, so they are
    /// trusted: an event that does not fit leaves the state as it is rather than panic.
    pub fn apply(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            // The same open day again is another log of it (the hub replays a day a node took
            // over after the dead node's log): what is known stays.
            EventKind::DayOpened { day } if self.day == Some(*day) && !self.closed => {}
            EventKind::DayOpened { day } => {
                self.day = Some(*day);
                self.closed = false;
                self.tickets.clear();
                self.issued.clear();
                self.leases.clear();
                self.bookings.clear();
                self.calls.clear();
                self.assistance.clear();
                self.spans.clear();
                for c in self.counters.values_mut() {
                    c.status = CounterStatus::Closed;
                    c.current = None;
                    c.pause_reason = None;
                    c.since = None;
                    c.operator = None;
                    c.recent.clear();
                    c.services = c.config.services.clone();
                }
            }
            EventKind::DayTakenOver(day) => {
                for (service, last) in &day.last {
                    let n = self.issued.entry(*service).or_default();
                    *n = (*n).max(*last);
                }
                for lease in &day.leases {
                    let n = self.issued.entry(lease.service).or_default();
                    *n = (*n).max(lease.last);
                    if !self.leases.contains(lease) {
                        self.leases.push(lease.clone());
                    }
                }
                for e in &day.open {
                    if matches!(e.kind, EventKind::TicketIssued { .. }) {
                        self.apply(e);
                    }
                }
            }
            EventKind::DayClosed { figures } => {
                self.closed = true;
                self.last_figures = Some((**figures).clone());
                for t in self.tickets.values_mut() {
                    if !t.state.is_final() {
                        t.state = TicketState::Cancelled;
                        t.finished_at.get_or_insert(at);
                    }
                }
                for c in self.counters.values_mut() {
                    self.spans.extend(running_span(c, at));
                    c.status = CounterStatus::Closed;
                    c.current = None;
                    c.pause_reason = None;
                    c.since = None;
                }
            }
            EventKind::TicketIssued {
                ticket,
                priority,
                booking,
                eligible_at,
                wait_from,
                clock_trusted,
                kiosk,
                offline_at,
                ..
            } => {
                let n = self.issued.entry(ticket.letter()).or_default();
                *n = (*n).max(ticket.number());
                if let Some(b) = booking {
                    // A duplicate check-in keeps the booking's first ticket.
                    self.bookings.entry(*b).or_insert(*ticket);
                }
                self.tickets.insert(
                    *ticket,
                    QueuedTicket {
                        number: *ticket,
                        service: ticket.letter(),
                        priority: *priority,
                        booking: *booking,
                        state: TicketState::Issued,
                        issued_at: offline_at.unwrap_or(at),
                        eligible_at: *eligible_at,
                        wait_from: *wait_from,
                        clock_trusted: *clock_trusted,
                        recalls: 0,
                        first_called_at: None,
                        last_called_at: None,
                        called_at: None,
                        grace_recalled: false,
                        recalls_total: 0,
                        started_at: None,
                        finished_at: None,
                        counter: None,
                        kiosk: kiosk.clone(),
                        offline: offline_at.is_some(),
                    },
                );
            }
            EventKind::NumbersLeased {
                kiosk,
                service,
                first,
                last,
            } => {
                let n = self.issued.entry(*service).or_default();
                *n = (*n).max(*last);
                self.leases.push(Lease {
                    kiosk: kiosk.clone(),
                    service: *service,
                    first: *first,
                    last: *last,
                });
            }
            EventKind::TicketCalled {
                ticket,
                counter,
                priority_slot,
                ..
            } => {
                let window = usize::from(self.rules.priority_window.saturating_sub(1));
                if let Some(c) = self.counters.get_mut(counter) {
                    c.current = Some(*ticket);
                    c.recent.push_back(*priority_slot);
                    while c.recent.len() > window {
                        c.recent.pop_front();
                    }
                }
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::Called(*counter);
                    t.recalls = 0;
                    t.first_called_at.get_or_insert(at);
                    t.last_called_at = Some(at);
                    t.called_at = Some(at);
                    t.grace_recalled = false;
                    t.counter = Some(*counter);
                }
                self.push_call(*ticket, *counter, at);
            }
            EventKind::TicketRecalled {
                ticket,
                counter,
                recalls,
                ..
            } => {
                if let Some(t) = self.tickets.get_mut(ticket) {
                    let grace = self.rules.recall_grace(t.service);
                    t.recalls = *recalls;
                    t.recalls_total = t.recalls_total.saturating_add(1);
                    t.last_called_at = Some(at);
                    if t.called_at.is_some_and(|c| at >= c + grace) {
                        t.grace_recalled = true;
                    }
                }
                self.push_call(*ticket, *counter, at);
            }
            EventKind::TicketNoShow {
                ticket, counter, ..
            } => {
                self.release(*counter, *ticket);
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::NoShow;
                    t.finished_at = Some(at);
                }
            }
            EventKind::TicketReactivated { ticket } => {
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::Issued;
                    t.finished_at = None;
                    t.eligible_at = t.eligible_at.min(at);
                }
            }
            EventKind::TicketTransferred {
                ticket,
                counter,
                to,
            } => {
                self.release(*counter, *ticket);
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::Issued;
                    t.service = *to;
                    t.started_at = None;
                }
            }
            EventKind::ServiceStarted { ticket, counter } => {
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::InService(*counter);
                    t.started_at = Some(at);
                }
            }
            EventKind::TicketServed { ticket, counter } => {
                self.release(*counter, *ticket);
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::Served;
                    t.finished_at = Some(at);
                    t.counter = Some(*counter);
                }
            }
            EventKind::TicketCancelled { ticket, reason } => {
                if let Some(t) = self.tickets.get_mut(ticket) {
                    t.state = TicketState::Cancelled;
                    t.finished_at = Some(at);
                }
                if *reason == CancelReason::Replaced {
                    // The booking's ticket is the one that replaces it, issued next.
                    self.bookings.retain(|_, n| n != ticket);
                }
            }
            EventKind::CounterOpened {
                counter,
                services,
                operator,
            } => {
                if let Some(c) = self.counters.get_mut(counter) {
                    self.spans.extend(running_span(c, at));
                    c.status = CounterStatus::Open;
                    c.services = services.clone();
                    c.operator = Some(operator.clone());
                    c.pause_reason = None;
                    c.since = Some(at);
                }
            }
            EventKind::CounterPaused { counter, reason } => {
                if let Some(c) = self.counters.get_mut(counter) {
                    self.spans.extend(running_span(c, at));
                    c.status = CounterStatus::Paused;
                    c.pause_reason = Some(reason.clone());
                    c.since = Some(at);
                }
            }
            EventKind::CounterClosed { counter } => {
                if let Some(c) = self.counters.get_mut(counter) {
                    self.spans.extend(running_span(c, at));
                    c.status = CounterStatus::Closed;
                    c.operator = None;
                    c.pause_reason = None;
                    c.since = None;
                }
            }
            EventKind::AlertRaised { alert } => {
                self.alerts.insert(*alert);
            }
            EventKind::AlertCleared { alert } => {
                self.alerts.remove(alert);
            }
            EventKind::AssistanceRequested { id, kiosk } => {
                self.next_assistance = self.next_assistance.max(id + 1);
                self.assistance.insert(
                    *id,
                    Assistance {
                        id: *id,
                        kiosk: kiosk.clone(),
                        at,
                    },
                );
            }
            EventKind::AssistanceAnswered { id, .. } => {
                self.assistance.remove(id);
            }
        }
    }

    fn release(&mut self, counter: CounterNumber, ticket: TicketNumber) {
        if let Some(c) = self.counters.get_mut(&counter)
            && c.current == Some(ticket)
        {
            c.current = None;
        }
    }

    fn push_call(&mut self, ticket: TicketNumber, counter: CounterNumber, at: DateTime<Utc>) {
        self.calls.push_back(CallRecord {
            ticket,
            counter,
            at,
        });
        while self.calls.len() > CALLS_KEPT {
            self.calls.pop_front();
        }
    }

    /// Today's figures so far.
    pub fn figures(&self, now: DateTime<Utc>) -> DailyFigures {
        let day = self.day.unwrap_or_else(|| now.date_naive());
        let counters_of = |s: ServiceLetter| {
            self.counters
                .values()
                .filter(|c| c.config.services.iter().any(|(l, _)| *l == s))
                .count() as u32
        };
        let hours = |s: ServiceLetter| -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
            if self.rules.holidays.contains(&day) {
                return Vec::new();
            }
            self.calendar
                .today(s, day)
                .into_iter()
                // The hours so far: mid-morning, a counter open since opening is open 100 %.
                .filter_map(|(opens, closes, _)| {
                    let from = local_to_utc(day.and_time(opens));
                    let to = local_to_utc(day.and_time(closes)).min(now);
                    (from < to).then_some((from, to))
                })
                .collect()
        };
        let by_service: Vec<_> = self
            .services
            .keys()
            .map(|&s| (s, counters_of(s), hours(s)))
            .collect();
        // The sede's hours that day, all services together: a pause counts within them only
        // (a counter left paused overnight is not a night's pause).
        let mut sede_hours: Vec<_> = by_service
            .iter()
            .flat_map(|(_, _, h)| h.iter().copied())
            .collect();
        sede_hours.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (from, to) in sede_hours {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        DailyFigures::compute(
            day,
            self.tickets.values(),
            by_service.into_iter(),
            self.counters.keys().copied(),
            &self.spans(now),
            &merged,
        )
    }
}

/// The stretch a counter is in now, cut at `to`.
fn running_span(c: &CounterState, to: DateTime<Utc>) -> Option<CounterSpan> {
    let kind = match c.status {
        CounterStatus::Open => SpanKind::Open(c.services.iter().map(|(s, _)| *s).collect()),
        CounterStatus::Paused => SpanKind::Paused(c.pause_reason.clone().unwrap_or_default()),
        CounterStatus::Closed => return None,
    };
    Some(CounterSpan {
        counter: c.config.number,
        from: c.since?,
        to: to.max(c.since?),
        kind,
    })
}
