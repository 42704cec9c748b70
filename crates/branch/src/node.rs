//! The branch node: the one sequencer of its branch's queue. It owns the store and the queue
//! engine behind one lock, so commands from kiosks and staff consoles are applied one at a
//! time; each command's events are committed (event log, read model, outbox) before anyone
//! sees them, then published to live subscribers (staff consoles, hall displays).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use domain::{
    AppointmentState, BookingId, Clock, PersonKey, ServiceLetter, Ticket, TicketPriority,
    UserMessage,
};
use i18n::msg;
use i18n::{Localized, Message};
use queue::estimate::{Estimator, WaitRange};
use queue::{Calendar, Command, Event, EventKind, Now, Queue, QueueError, QueuedTicket};
use store::{Extras, Store, StoreError, StoredEvent};

/// Why the branch node refused or failed an action.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The queue refused the command.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The store failed; nothing was applied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The booking is not in the local replica.
    #[error("la prenotazione {0} non risulta in questa sede: rivolgersi all'accoglienza")]
    UnknownBooking(BookingId),
    /// The booking cannot be checked in in its current state.
    #[error("la prenotazione {booking} è {} e non può essere registrata", state.label())]
    NotCheckInable {
        /// Booking.
        booking: BookingId,
        /// Its state.
        state: AppointmentState,
    },
}

impl Localized for NodeError {
    fn localized(&self) -> Message {
        match self {
            Self::Queue(e) => e.localized(),
            // The operator's details stay in the log; the visitor is sent to the front desk.
            Self::Store(_) => {
                msg!("il chiosco non riesce a emettere il biglietto: rivolgersi all'accoglienza")
            }
            Self::UnknownBooking(b) => msg!(
                "la prenotazione {} non risulta in questa sede: rivolgersi all'accoglienza",
                b
            ),
            Self::NotCheckInable { booking, state } => msg!(
                "la prenotazione {} è {} e non può essere registrata",
                booking,
                state.label()
            ),
        }
    }
}

impl UserMessage for NodeError {
    fn message_key(&self) -> &'static str {
        match self {
            Self::Queue(e) => e.message_key(),
            Self::Store(e) => e.message_key(),
            Self::UnknownBooking(_) => "booking-unknown",
            Self::NotCheckInable { state, .. } => match state {
                AppointmentState::CancelledByUser | AppointmentState::CancelledBySede => {
                    "booking-cancelled"
                }
                _ => "booking-not-check-inable",
            },
        }
    }
}

/// The result of a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    /// The appointment's ticket.
    pub ticket: Ticket,
    /// True when the appointment had already been checked in: this is the same ticket again,
    /// to reprint, never a second one.
    pub already: bool,
}

/// What became of a ticket a kiosk issued while cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// It waits in the queue by the time it was printed.
    Taken,
    /// It was handed over before.
    Already,
    /// Its booking was checked in elsewhere first: the booking waits under `first`.
    Duplicate {
        /// The booking's ticket.
        first: domain::TicketNumber,
    },
}

/// The smallest block of numbers leased to a kiosk.
pub const LEASE_MIN: u16 = 5;
/// The largest block of numbers leased to a kiosk.
pub const LEASE_MAX: u16 = 30;

struct Inner {
    store: Store,
    queue: Queue,
    estimator: Estimator,
}

/// Weeks of history the wait estimate learns from.
const HISTORY_WEEKS: i64 = 8;

fn train(store: &Store, today: chrono::NaiveDate) -> Estimator {
    match store.wait_history(today - chrono::Duration::weeks(HISTORY_WEEKS)) {
        Ok(samples) => Estimator::train(&samples),
        Err(e) => {
            tracing::warn!(error = %e, "wait history unreadable; using the default estimate");
            Estimator::default()
        }
    }
}

/// The branch node, shared by the kiosk flows and the LAN server.
pub struct Branch {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    clock: Arc<dyn Clock>,
    /// Moves whenever the hub's feed changes the branch configuration (sede, services,
    /// verifying keys…), so readers that cache it know to read it again.
    configuration: std::sync::atomic::AtomicU64,
    /// Moves with every event committed, so readers that cache what they drew from the queue
    /// know it changed without taking the lock.
    committed: std::sync::atomic::AtomicU64,
}

/// Live subscribers that fall this far behind miss events and resync from the log.
const CHANNEL_CAPACITY: usize = 1024;

/// The branch's queue as its configuration makes it, before any event.
fn empty_queue(store: &Store) -> Result<Queue, StoreError> {
    Ok(Queue::new(
        store.queue_rules()?,
        Calendar::new(store.opening_hours()?),
        store.services()?,
        store.counters()?,
    ))
}

fn build_queue(store: &Store) -> Result<Queue, StoreError> {
    let mut queue = empty_queue(store)?;
    for e in store.current_day_events()? {
        queue.apply(&e.event);
    }
    if let Some(day) = queue.day() {
        queue.reserve_numbers(store.highest_ticket_numbers(day)?);
    }
    Ok(queue)
}

/// A ticket of today's queue as the rest of the program sees it.
pub fn ticket_view(t: &QueuedTicket, business_day: chrono::NaiveDate) -> Ticket {
    Ticket {
        number: t.number,
        business_day,
        priority: t.priority,
        booking: t.booking,
        state: t.state,
        issued_at: t.issued_at,
        clock_trusted: t.clock_trusted,
    }
}

impl Branch {
    /// Opens the node over a store holding a branch replica, rebuilding today's queue from
    /// the event log.
    pub fn open(store: Store, clock: Arc<dyn Clock>) -> Result<Arc<Self>, NodeError> {
        let queue = build_queue(&store)?;
        let estimator = train(&store, clock.local_now().date_naive());
        let (events, _) = broadcast::channel(CHANNEL_CAPACITY);
        // Commits never checkpoint: a background thread does, so no visitor's check-in pays
        // for copying the WAL into the database file (it was the check-in's p99).
        store.set_wal_autocheckpoint(0)?;
        let path = store.path().to_owned();
        let branch = Arc::new(Self {
            inner: Mutex::new(Inner {
                store,
                queue,
                estimator,
            }),
            events,
            clock,
            configuration: std::sync::atomic::AtomicU64::new(0),
            committed: std::sync::atomic::AtomicU64::new(0),
        });
        spawn_checkpointer(Arc::downgrade(&branch), path);
        Ok(branch)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock may have left the queue half-applied: rebuild it
        // from the log, which only ever holds committed events.
        self.inner.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            match build_queue(&guard.store) {
                Ok(q) => guard.queue = q,
                Err(e) => tracing::error!(error = %e, "rebuilding the queue failed"),
            }
            self.inner.clear_poison();
            guard
        })
    }

    /// The current time by the node's clock.
    pub fn now(&self) -> Now {
        Now::from_clock(self.clock.as_ref())
    }

    /// The node's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Live events, after they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    /// Reads the queue and the store under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&Queue, &Store) -> R) -> R {
        let inner = self.lock();
        f(&inner.queue, &inner.store)
    }

    /// Writes to the store under the lock (staff accounts, sessions, jobs).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut inner = self.lock();
        f(&mut inner.store)
    }

    /// Applies a page of the hub's feed, then rebuilds the queue from the store, so new
    /// services, counters, hours and rules take effect at once (the day's events replay on top).
    pub fn apply_feed(
        &self,
        feed: &str,
        changes: &[protocol::wire::FeedChange],
        next_after: i64,
        epoch: &str,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.store.apply_feed(feed, changes, next_after, epoch)?;
        let configures = changes
            .iter()
            .any(|c| c.entity == protocol::wire::ENTITY_BRANCH_CONFIG);
        if configures {
            inner.queue = build_queue(&inner.store)?;
            self.configuration
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }

    /// The configuration's generation: it moves whenever a pull changes the configuration.
    pub fn configuration(&self) -> u64 {
        self.configuration
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The queue's generation: it moves whenever events are committed.
    pub fn committed(&self) -> u64 {
        self.committed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs one command: the queue decides, the store commits, subscribers hear.
    pub fn execute(&self, command: Command) -> Result<Vec<StoredEvent>, NodeError> {
        self.run(command, Extras::default())
    }

    fn run(&self, command: Command, extras: Extras) -> Result<Vec<StoredEvent>, NodeError> {
        let now = self.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut events = inner.queue.roll_day(now);
        let handled = inner.queue.handle(command, now);
        let day_events = events.len();
        let result = match handled {
            Ok(more) => {
                events.extend(more);
                Ok(())
            }
            Err(e) => Err(e),
        };
        if events.is_empty() {
            return result.map(|()| Vec::new()).map_err(NodeError::from);
        }
        // The command's extras belong to its own events, not to a day opened before them.
        let (day_part, command_part) = events.split_at(day_events);
        let day = inner.queue.day().unwrap_or(now.local.date());
        let mut stored = Vec::new();
        let write = (|| {
            if !day_part.is_empty() {
                stored.extend(
                    inner
                        .store
                        .record_events(day, day_part, Extras::default())?,
                );
            }
            if !command_part.is_empty() {
                stored.extend(inner.store.record_events(day, command_part, extras)?);
            }
            Ok::<_, StoreError>(())
        })();
        if let Err(e) = write {
            // Nothing of it was applied on disk: bring memory back to what the log says.
            inner.queue = build_queue(&inner.store).unwrap_or_else(|_| inner.queue.clone());
            tracing::error!(error = %e, "queue events not saved");
            return Err(e.into());
        }
        if day_events > 0 {
            inner.estimator = train(&inner.store, day);
        }
        self.committed
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for e in &stored {
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(Arc::new(e.clone()));
        }
        result.map(|()| stored).map_err(NodeError::from)
    }

    /// Calls once more every visitor whose grace to reach the counter ran out; nothing (and
    /// no write) while none did.
    pub fn recall_due(&self) -> Result<Vec<StoredEvent>, NodeError> {
        let now = self.now().at;
        if self
            .read(|q, _| q.next_recall_due())
            .is_none_or(|due| due > now)
        {
            return Ok(Vec::new());
        }
        self.execute(Command::RecallDue)
    }

    /// Checks in a booked appointment at the node's own kiosk and issues its ticket; a second
    /// check-in of the same booking returns the first ticket.
    pub fn check_in(
        &self,
        booking: BookingId,
        person: Option<PersonKey>,
    ) -> Result<CheckIn, NodeError> {
        self.check_in_from(None, booking, person)
    }

    /// [`Self::check_in`] for another kiosk of the branch, by its device id.
    pub fn check_in_for(
        &self,
        kiosk: &str,
        booking: BookingId,
        person: Option<PersonKey>,
    ) -> Result<CheckIn, NodeError> {
        self.check_in_from(Some(kiosk.to_owned()), booking, person)
    }

    fn check_in_from(
        &self,
        kiosk: Option<String>,
        booking: BookingId,
        person: Option<PersonKey>,
    ) -> Result<CheckIn, NodeError> {
        let (appointment, existing, day) = self.read(|q, s| {
            (
                s.appointment(booking),
                q.ticket_of_booking(booking).cloned(),
                q.day(),
            )
        });
        let appointment = appointment?.ok_or(NodeError::UnknownBooking(booking))?;
        if let (Some(t), Some(day)) = (existing, day) {
            return Ok(CheckIn {
                ticket: ticket_view(&t, day),
                already: true,
            });
        }
        if !appointment.state.can_check_in() {
            return Err(NodeError::NotCheckInable {
                booking,
                state: appointment.state,
            });
        }
        let command = Command::Issue {
            service: appointment.service,
            priority: TicketPriority::Appointment,
            booking: Some((booking, appointment.starts_at)),
            kiosk,
        };
        let extras = Extras {
            person,
            checked_in: Some(booking),
        };
        match self.run(command, extras) {
            Ok(events) => Ok(CheckIn {
                ticket: issued(&events).ok_or(QueueError::NoDay)?,
                already: false,
            }),
            Err(NodeError::Queue(QueueError::AlreadyCheckedIn { .. })) => {
                // Another kiosk checked it in between our read and our command.
                let (t, day) = self.read(|q, _| (q.ticket_of_booking(booking).cloned(), q.day()));
                match (t, day) {
                    (Some(t), Some(day)) => Ok(CheckIn {
                        ticket: ticket_view(&t, day),
                        already: true,
                    }),
                    _ => Err(NodeError::UnknownBooking(booking)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Issues a walk-in or priority ticket at the node's own kiosk.
    pub fn issue_ticket(
        &self,
        service: ServiceLetter,
        priority: TicketPriority,
    ) -> Result<Ticket, NodeError> {
        self.issue_from(None, service, priority)
    }

    /// [`Self::issue_ticket`] for another kiosk of the branch, by its device id.
    pub fn issue_for(
        &self,
        kiosk: &str,
        service: ServiceLetter,
        priority: TicketPriority,
    ) -> Result<Ticket, NodeError> {
        self.issue_from(Some(kiosk.to_owned()), service, priority)
    }

    fn issue_from(
        &self,
        kiosk: Option<String>,
        service: ServiceLetter,
        priority: TicketPriority,
    ) -> Result<Ticket, NodeError> {
        let events = self.execute(Command::Issue {
            service,
            priority,
            booking: None,
            kiosk,
        })?;
        Ok(issued(&events).ok_or(QueueError::NoDay)?)
    }

    /// Goes on with today as the sede's previous node left it: `log` is what the hub holds of
    /// the day from the sede's other devices ([`protocol::wire::DayLog`]). Replayed here, it
    /// gives the last numbers to go on after, the kiosks' leases (what they printed from them
    /// is still taken in) and the tickets still open, which wait here in their places.
    /// Refused once this node has numbered today. `None`: nothing of today to take over.
    pub fn take_over(
        &self,
        log: &protocol::wire::DayLog,
    ) -> Result<Option<queue::DayTakeOver>, NodeError> {
        let today = self.clock.today();
        if log.day != Some(today) {
            return Ok(None);
        }
        let mut from = std::collections::BTreeSet::new();
        let mut events = Vec::new();
        for e in &log.events {
            match serde_json::from_value::<queue::Event>(e.event.clone()) {
                Ok(event) => {
                    from.insert(e.device.clone());
                    events.push(event);
                }
                // An event of a later version: what this node can read still gives numbers.
                Err(error) => {
                    tracing::warn!(%error, device = %e.device, "an event of the day not understood")
                }
            }
        }
        if events.is_empty() {
            return Ok(None);
        }
        let mut previous = self.read(|_, s| empty_queue(s))?;
        for e in &events {
            previous.apply(e);
        }
        let open: std::collections::BTreeSet<_> = previous
            .tickets()
            .filter(|t| !t.state.is_final())
            .map(|t| t.number)
            .collect();
        let day = queue::DayTakeOver {
            from: from.into_iter().collect::<Vec<_>>().join(", "),
            last: previous
                .services()
                .map(|s| (s.letter, previous.last_number(s.letter)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            leases: previous.leases().to_vec(),
            open: events
                .into_iter()
                .filter(|e| matches!(&e.kind, EventKind::TicketIssued { ticket, .. } if open.contains(ticket)))
                .collect(),
        };
        self.execute(Command::TakeOver(day.clone()))?;
        Ok(Some(day))
    }

    /// `kiosk` never had the answer to the walk-in that was `ticket`: withdrawn if it still
    /// waits. Whether it was.
    pub fn unanswered(&self, kiosk: &str, ticket: domain::TicketNumber) -> Result<bool, NodeError> {
        let events = self.execute(Command::Unanswered {
            kiosk: kiosk.to_owned(),
            ticket,
        })?;
        Ok(!events.is_empty())
    }

    /// Tops up a kiosk's leases: for each service whose numbers left at the kiosk
    /// (`left`, as the kiosk counts them; a service it does not name has none) are under half
    /// a block, a new block is set aside. A block is the service's tickets of the last hour,
    /// between [`LEASE_MIN`] and [`LEASE_MAX`]: enough for the kiosk to take the whole
    /// branch's traffic alone for a while, few enough that the day's 999 are not spent.
    /// Returns the new blocks; none on a closed day or when the numbers have run out.
    pub fn top_up_leases(
        &self,
        kiosk: &str,
        left: &std::collections::BTreeMap<ServiceLetter, u16>,
    ) -> Result<Vec<queue::Lease>, NodeError> {
        let now = self.now();
        let wanted: Vec<(ServiceLetter, u16)> = self.read(|q, _| {
            let hour_ago = now.at - chrono::Duration::hours(1);
            q.services()
                .map(|s| {
                    let recent = q
                        .tickets()
                        .filter(|t| t.number.letter() == s.letter && t.issued_at >= hour_ago)
                        .count();
                    let size = (recent as u16).clamp(LEASE_MIN, LEASE_MAX);
                    (s.letter, size)
                })
                .filter(|(letter, size)| left.get(letter).copied().unwrap_or(0) * 2 < *size)
                .collect()
        });
        let mut leased = Vec::new();
        for (service, count) in wanted {
            let command = Command::Lease {
                kiosk: kiosk.to_owned(),
                service,
                count,
            };
            match self.execute(command) {
                Ok(events) => leased.extend(events.iter().filter_map(|e| match &e.event.kind {
                    EventKind::NumbersLeased {
                        kiosk,
                        service,
                        first,
                        last,
                    } => Some(queue::Lease {
                        kiosk: kiosk.clone(),
                        service: *service,
                        // Numbers the node gives itself: what the fault harness must catch.
                        first: if broken_lease() { 1 } else { *first },
                        last: if broken_lease() {
                            last - first + 1
                        } else {
                            *last
                        },
                    }),
                    _ => None,
                })),
                // The day is over or its numbers are spent: the kiosk keeps what it has.
                Err(NodeError::Queue(
                    QueueError::DayClosed | QueueError::DailyCapReached { .. },
                )) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(leased)
    }

    /// Keeps a ticket a kiosk printed from a past day's lease, handed over only now: in that
    /// day's log (and so at the hub) as issued and closed with the day. Handing it over again
    /// changes nothing.
    pub fn record_past_offline(
        &self,
        day: chrono::NaiveDate,
        ticket: &queue::OfflineTicket,
    ) -> Result<(), NodeError> {
        let mut inner = self.lock();
        let known = inner
            .store
            .tickets_on(day)?
            .iter()
            .any(|t| t.number == ticket.ticket);
        if known {
            return Ok(());
        }
        let now = self.clock.now();
        let events = [
            Event {
                at: now,
                kind: EventKind::TicketIssued {
                    ticket: ticket.ticket,
                    priority: ticket.priority,
                    // The booking's own ticket, if any, is that day's; this one keeps none.
                    booking: None,
                    eligible_at: ticket.issued_at,
                    wait_from: ticket.issued_at,
                    clock_trusted: ticket.clock_trusted,
                    ahead: 0,
                    kiosk: Some(ticket.kiosk.clone()),
                    offline_at: Some(ticket.issued_at),
                },
            },
            Event {
                at: now,
                kind: EventKind::TicketCancelled {
                    ticket: ticket.ticket,
                    reason: queue::CancelReason::DayClosed,
                },
            },
        ];
        inner.store.record_events(day, &events, Extras::default())?;
        Ok(())
    }

    /// Takes in a ticket a kiosk printed from its lease while cut off. Handing the same
    /// ticket over again changes nothing.
    pub fn adopt(
        &self,
        ticket: queue::OfflineTicket,
        person: Option<PersonKey>,
    ) -> Result<Adopted, NodeError> {
        let number = ticket.ticket;
        let booking = ticket.booking.map(|(id, _)| id);
        let first =
            booking.and_then(|b| self.read(|q, _| q.ticket_of_booking(b).map(|t| t.number)));
        let extras = Extras {
            person,
            checked_in: booking.filter(|_| first.is_none()),
        };
        let events = self.run(Command::Adopt(ticket), extras)?;
        if events.is_empty() {
            return Ok(Adopted::Already);
        }
        let duplicate = events.iter().any(|e| {
            matches!(e.event.kind, EventKind::TicketCancelled {
                ticket,
                reason: queue::CancelReason::Duplicate,
            } if ticket == number)
        });
        Ok(match first {
            Some(first) if duplicate => Adopted::Duplicate { first },
            _ => Adopted::Taken,
        })
    }

    /// People ahead of `ticket` and the estimated wait range.
    pub fn estimate(&self, ticket: &Ticket) -> (u32, WaitRange) {
        use chrono::{Datelike, Timelike};
        let now = self.now();
        let inner = self.lock();
        let ahead = inner.queue.people_ahead(ticket.number, now.at).unwrap_or(0);
        let service = inner
            .queue
            .ticket(ticket.number)
            .map(|t| t.service)
            .unwrap_or(ticket.number.letter());
        let range = inner.estimator.estimate(
            service,
            now.local.weekday().number_from_monday() as u8,
            now.local.hour() as u8,
            ahead,
        );
        (ahead, range)
    }
}

/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Checkpoints the store's WAL from its own connection until the branch is dropped. If that
/// cannot run, the writer goes back to checkpointing at commit, so the WAL never grows unbounded.
fn spawn_checkpointer(branch: std::sync::Weak<Branch>, path: std::path::PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("sportello-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                let Some(b) = branch.upgrade() else { return };
                if let Err(e) = store::checkpoint_passive(&path) {
                    tracing::warn!(error = %e, "background checkpoint failed; commits checkpoint again");
                    let _ = b.with_store(|s| s.set_wal_autocheckpoint(1000));
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread; commits checkpoint");
    }
}

fn issued(events: &[StoredEvent]) -> Option<Ticket> {
    events.iter().find_map(|e| match &e.event {
        Event {
            at,
            kind:
                EventKind::TicketIssued {
                    ticket,
                    priority,
                    booking,
                    clock_trusted,
                    ..
                },
        } => Some(Ticket {
            number: *ticket,
            business_day: e.business_day,
            priority: *priority,
            booking: *booking,
            state: domain::TicketState::Issued,
            issued_at: *at,
            clock_trusted: *clock_trusted,
        }),
        _ => None,
    })
}

/// A deliberately broken node that leases numbers it also gives itself (from 1, unrecorded),
/// for the branch fault harness to prove it catches a number printed twice
/// (`SPORTELLO_NODE_BROKEN_LEASE=1`). Compiled out of release builds.
fn broken_lease() -> bool {
    #[cfg(debug_assertions)]
    {
        static BROKEN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *BROKEN.get_or_init(|| {
            let on = std::env::var("SPORTELLO_NODE_BROKEN_LEASE").as_deref() == Ok("1");
            if on {
                tracing::error!(
                    "BROKEN LEASE: this node leases numbers it also issues (test only)"
                );
            }
            on
        })
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}
