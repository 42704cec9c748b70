//! A kiosk whose tickets the branch's node numbers, elsewhere on the LAN: each ticket and
//! check-in goes to the node, and while the node cannot be reached the kiosk numbers from
//! the blocks the node leased to it ahead ([`branch::remote`] keeps them topped up and hands
//! over what was printed). A visitor waits at most [`branch::remote::VISITOR_WAIT`] for the
//! node.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use branch::node::Branch;
use branch::remote::{NodeClient, NodeLink, Unanswered, node_address};
use domain::{BookingId, PersonKey, ServiceLetter, Ticket, TicketPriority, TicketState};
use protocol::lan::{CheckInRequest, IssueRequest, Issued, Refusal};
use queue::OfflineTicket;

/// What the node (or, without it, the lease) gave.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The node issued it.
    Online(Issued),
    /// The node refused, with the visitor's message.
    Refused(Refusal),
    /// The node could not be reached: a ticket from the lease (`reprint` for a booking this
    /// kiosk checked in before while cut off).
    Offline {
        /// The ticket.
        ticket: Ticket,
        /// The booking's ticket again.
        reprint: bool,
    },
    /// The node could not be reached and no leased number is left.
    NoLease,
    /// The kiosk's own store failed.
    Failed(store::StoreError),
}

/// The node, as one kiosk reaches it.
pub struct RemoteNode {
    runtime: tokio::runtime::Handle,
    device_id: String,
    secret_key: [u8; 32],
    client: Mutex<Option<NodeClient>>,
    link: Arc<NodeLink>,
    nudge: Arc<tokio::sync::Notify>,
}

impl RemoteNode {
    /// The node of the kiosk `device_id`; requests run on `runtime`, `link` says whether the
    /// last round reached the node, and `nudge` starts a round at once (after a ticket
    /// printed offline).
    pub fn new(
        runtime: tokio::runtime::Handle,
        device_id: &str,
        secret_key: [u8; 32],
        link: Arc<NodeLink>,
        nudge: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            runtime,
            device_id: device_id.to_owned(),
            secret_key,
            client: Mutex::default(),
            link,
            nudge,
        }
    }

    /// Whether the node answered the last round.
    pub fn reachable(&self) -> bool {
        self.link.reachable()
    }

    /// People waiting per service as the node last said; `None` while it does not answer.
    pub fn waiting(&self) -> Option<std::collections::BTreeMap<ServiceLetter, u32>> {
        self.link.waiting()
    }

    fn client(&self, branch: &Branch) -> Option<NodeClient> {
        let address = node_address(branch).ok().flatten()?;
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if client.as_ref().map(NodeClient::address) != Some(&address) {
            *client = NodeClient::new(address, &self.device_id, &self.secret_key)
                .map_err(|e| tracing::error!(error = %e, "no client for the node"))
                .ok();
        }
        client.clone()
    }

    /// The node's answer, or `Err(maybe_done)` when it gave none in time (`maybe_done`: the
    /// request was sent, and the node may have done it).
    fn online<T>(
        &self,
        branch: &Branch,
        ask: impl AsyncFnOnce(&NodeClient) -> Result<Result<T, Refusal>, Unanswered>,
    ) -> Result<Result<T, Refusal>, bool> {
        let client = self.client(branch).ok_or(false)?;
        match self.runtime.block_on(ask(&client)) {
            Ok(answer) => {
                self.link.set_reachable(true);
                Ok(answer)
            }
            Err(e) => {
                tracing::warn!(error = %e.error, sent = e.maybe_done, "the node did not answer in time");
                self.link.set_reachable(false);
                Err(e.maybe_done)
            }
        }
    }

    /// A walk-in or priority ticket.
    pub(crate) fn issue(
        &self,
        branch: &Branch,
        service: ServiceLetter,
        priority: TicketPriority,
    ) -> Outcome {
        let id = request_id();
        let request = IssueRequest {
            service,
            priority,
            request: Some(id.clone()),
        };
        match self.online(branch, async |c| c.issue(&request).await) {
            Ok(Ok(issued)) => Outcome::Online(issued),
            Ok(Err(refusal)) => Outcome::Refused(refusal),
            Err(sent) => {
                if sent {
                    // The node may have issued it: it withdraws that ticket when told.
                    self.link.abandon(id);
                }
                self.offline(branch, service, priority, None, None, sent)
            }
        }
    }

    /// A check-in; the kiosk checked the token, the sede and the time window.
    pub(crate) fn check_in(
        &self,
        branch: &Branch,
        booking: BookingId,
        starts_at: chrono::NaiveDateTime,
        service: ServiceLetter,
        person: Option<PersonKey>,
    ) -> Outcome {
        let request = CheckInRequest {
            booking,
            person: person.map(|p| protocol::wire::hex(&p.0)),
        };
        match self.online(branch, async |c| c.check_in(&request).await) {
            Ok(Ok(issued)) => Outcome::Online(issued),
            Ok(Err(refusal)) => Outcome::Refused(refusal),
            Err(sent) => self.offline(
                branch,
                service,
                TicketPriority::Appointment,
                Some((booking, starts_at)),
                person,
                sent,
            ),
        }
    }

    /// *Chiama un operatore*: `false` when the node could not be reached.
    pub(crate) fn assist(&self, branch: &Branch) -> Result<bool, Refusal> {
        match self.online(branch, async |c| c.assist().await) {
            Ok(Ok(())) => Ok(true),
            Ok(Err(r)) => Err(r),
            Err(_) => Ok(false),
        }
    }

    fn offline(
        &self,
        branch: &Branch,
        service: ServiceLetter,
        priority: TicketPriority,
        booking: Option<(BookingId, chrono::NaiveDateTime)>,
        person: Option<PersonKey>,
        unanswered: bool,
    ) -> Outcome {
        let clock = branch.clock().clone();
        let today = clock.today();
        let ticket = |t: &OfflineTicket| Ticket {
            number: t.ticket,
            business_day: today,
            priority: t.priority,
            booking: t.booking.map(|(b, _)| b),
            state: TicketState::Issued,
            issued_at: t.issued_at,
            clock_trusted: t.clock_trusted,
        };
        if let Some((b, _)) = booking {
            match branch.read(|_, s| s.offline_ticket_of_booking(today, b)) {
                Ok(Some(t)) => {
                    return Outcome::Offline {
                        ticket: ticket(&t),
                        reprint: true,
                    };
                }
                Ok(None) => {}
                Err(e) => return Outcome::Failed(e),
            }
        }
        let kiosk = self.device_id.clone();
        let issued = branch.with_store(|s| {
            s.issue_offline(
                today,
                service,
                person.map(|p| protocol::wire::hex(&p.0)),
                |number| OfflineTicket {
                    kiosk,
                    ticket: number,
                    priority,
                    booking,
                    issued_at: clock.now(),
                    clock_trusted: clock.trust() == domain::ClockTrust::Trusted,
                    unanswered,
                },
            )
        });
        match issued {
            Ok(Some(t)) => {
                tracing::info!(ticket = %t.ticket, "ticket issued from the lease, the node being out of reach");
                self.nudge.notify_one();
                Outcome::Offline {
                    ticket: ticket(&t),
                    reprint: false,
                }
            }
            Ok(None) => Outcome::NoLease,
            Err(e) => Outcome::Failed(e),
        }
    }
}

/// An id for a request of this kiosk to its node, unique across its restarts: the process's
/// start time and a counter.
fn request_id() -> String {
    static START: OnceLock<u128> = OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let start = START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    });
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{start:x}-{n}")
}

/// The node's catalogue key as the kiosk's answers hold it. Keys come from the same program on
/// the node; the set is bounded so a misbehaving node cannot make the kiosk keep more.
pub(crate) fn key_of(key: &str) -> &'static str {
    static KEYS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(k) = keys.get(key) {
        return k;
    }
    if keys.len() >= 256 || key.len() > 64 {
        return "node-refused";
    }
    let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
    keys.insert(leaked);
    leaked
}
