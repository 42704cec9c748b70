//! What kiosks and the hub say to each other over HTTPS, and how a request is signed.
//!
//! Every sync request carries the device id, a timestamp and an Ed25519 signature (the key
//! generated on the kiosk at enrolment) over the method, the path with its query, the device,
//! the timestamp and the SHA-256 of the body. TLS (with the hub's certificate pinned at
//! enrolment) keeps requests from being seen or replayed; the signature says which kiosk sent
//! them, and a revoked kiosk is refused at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Header: the device id.
pub const DEVICE_HEADER: &str = "x-sportello-device";
/// Header: seconds since the Unix epoch on the kiosk's clock (audit only: the kiosk's clock may
/// be untrusted, so the hub does not refuse on skew).
pub const TIME_HEADER: &str = "x-sportello-time";
/// Header: the signature, in hex.
pub const SIGNATURE_HEADER: &str = "x-sportello-signature";

/// The bytes a kiosk signs for one request.
pub fn signing_message(
    method: &str,
    path_and_query: &str,
    device_id: &str,
    time: i64,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = hex(&Sha256::digest(body));
    format!("sportello-sync-v1\n{method}\n{path_and_query}\n{device_id}\n{time}\n{body_hash}")
        .into_bytes()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex back to bytes, or `None`.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `POST /v1/enrol`: a kiosk presents a one-time code and its new public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The code an administrator created for the branch.
    pub code: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// The kiosk's version.
    pub client_version: String,
}

/// The hub's answer to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The device id the hub assigned.
    pub device_id: String,
    /// The branch (sede code).
    pub branch: u16,
    /// What the device is in its branch.
    #[serde(default)]
    pub role: DeviceRole,
}

/// What a device is in its branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRole {
    /// The branch node: the one sequencer of the branch's queue, with its LAN server (a kiosk
    /// with the node inside, or a headless box).
    #[default]
    Node,
    /// A kiosk that issues tickets through the branch's node, and from numbers the node
    /// leased to it while the node cannot be reached.
    Kiosk,
}

impl DeviceRole {
    /// The name stored and sent.
    pub fn name(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Kiosk => "kiosk",
        }
    }

    /// The role of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "node" => Some(Self::Node),
            "kiosk" => Some(Self::Kiosk),
            _ => None,
        }
    }
}

/// Where a branch node serves its LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanEndpoint {
    /// Its base URL (`https://10.1.2.3:8443`).
    pub url: String,
    /// The SHA-256 of its certificate's SubjectPublicKeyInfo, hex: what the branch's kiosks pin.
    pub key: String,
}

/// How a kiosk is doing, reported with every push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceStatus {
    /// Operations waiting in the outbox.
    pub outbox_depth: u64,
    /// Age of the oldest waiting operation, in seconds.
    pub oldest_pending_age_s: Option<u64>,
    /// Last successful push.
    pub last_success: Option<DateTime<Utc>>,
    /// Printer state (`ready`, `paper_out`, …).
    pub printer: String,
    /// Scanner state (`present`, `gone`).
    pub scanner: String,
    /// Whether the kiosk's clock is verified.
    pub clock_trusted: bool,
    /// The branch's feed this kiosk cannot apply, while that lasts (absent when it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_stuck: Option<FeedStuck>,
    /// A branch node: where it serves the branch's kiosks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan: Option<LanEndpoint>,
}

/// Every printer state a device reports.
pub const PRINTER_STATES: [&str; 5] = ["ready", "paper_low", "paper_out", "cover_open", "offline"];

/// A printer state as a device reports it (`ready`, `paper_low`, `paper_out`, `cover_open`,
/// `offline`), in words for staff, and whether it needs someone.
pub fn printer_words(state: &str) -> (&'static str, bool) {
    match state {
        "ready" => ("pronta", false),
        "paper_low" => ("carta in esaurimento", true),
        "paper_out" => ("senza carta", true),
        "cover_open" => ("coperchio aperto", true),
        "offline" => ("non raggiungibile", true),
        _ => ("—", false),
    }
}

/// A page of the hub's feed that fails every time the kiosk applies it: the kiosk keeps
/// working on what it has and retries, but changes after it (staff, cancellations, keys) do
/// not arrive until someone looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStuck {
    /// The first failure of the run.
    pub since: DateTime<Utc>,
    /// The cursor the kiosk is stuck after.
    pub after: i64,
    /// Why, as the kiosk saw it (at most 300 characters).
    pub error: String,
}

/// One outbox row, as pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushOp {
    /// Gap-free per-device sequence.
    pub seq: i64,
    /// Idempotency key (UUIDv7).
    pub op_id: String,
    /// Kind.
    pub kind: String,
    /// The operation ([`super::Op`] as JSON).
    pub payload: serde_json::Value,
}

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The outbox stream: a new database file is a new incarnation.
    pub incarnation: String,
    /// The event log the operations come from (fixed with the kiosk's database file): an
    /// event re-sent under a new stream is still counted once.
    #[serde(default)]
    pub log_id: String,
    /// The kiosk's version.
    pub client_version: String,
    /// Version of the payloads.
    pub schema_version: u32,
    /// Contiguous, ascending.
    pub ops: Vec<PushOp>,
    /// Health.
    #[serde(default)]
    pub status: DeviceStatus,
}

/// What became of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Applied now or earlier (a retry gets the stored answer).
    Applied,
    /// Its effect was already there (the same event sent by another path).
    Duplicate,
    /// Refused for good (a business reason); acknowledged, never retried.
    Rejected,
}

/// One operation's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// Its sequence.
    pub seq: i64,
    /// What became of it.
    pub status: OpStatus,
    /// Why, for a rejection.
    pub detail: Option<String>,
}

/// The hub's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// Every operation up to here is settled.
    pub acked_through: i64,
    /// Per operation.
    pub results: Vec<OpResult>,
}

/// Why a push was refused as a whole (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum PushRefusal {
    /// The batch does not start where the hub is: send again from `expected_seq`.
    Gap {
        /// The next sequence the hub expects.
        expected_seq: i64,
    },
    /// A sequence the hub already applied comes with a different operation (the kiosk lost
    /// state it had pushed): the kiosk starts a new incarnation and sends its pending
    /// operations again under it, so nothing is dropped.
    IncarnationConflict {
        /// The sequence in question.
        seq: i64,
    },
}

/// One change of the branch feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedChange {
    /// Position in the branch's feed.
    pub seq: i64,
    /// What kind of row (`appointment`, `service`, …).
    pub entity: String,
    /// Its key.
    pub entity_id: String,
    /// `put` (the whole row) or `remove`.
    pub op: String,
    /// Version of the payload.
    pub schema_version: u32,
    /// The row, for `put`.
    pub payload: Option<serde_json::Value>,
}

/// `GET /v1/sync/pull?after=N&epoch=E&limit=L`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    /// The feed's epoch: a different one means start over.
    pub epoch: String,
    /// In feed order.
    pub changes: Vec<FeedChange>,
    /// The cursor to send next.
    pub next_after: i64,
    /// Nothing more after `next_after` for now.
    pub up_to_date: bool,
    /// The keys the hub may present (hex SHA-256 of each certificate's SubjectPublicKeyInfo):
    /// its current one and, ahead of a move to a new certificate key, the next. Heard over a
    /// connection to a key the kiosk already accepts.
    #[serde(default)]
    pub hub_keys: Vec<String>,
    /// The key the sede's devices tag their tickets' follow addresses with (hex), so that
    /// only a printed QR opens the page's forms (`domain::follow`).
    #[serde(default)]
    pub follow_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_odd_or_foreign_text() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff").unwrap(), [0, 15, 255]);
        assert!(unhex("0").is_none());
        assert!(unhex("zz").is_none());
        assert!(unhex("é0").is_none());
    }

    #[test]
    fn the_signed_message_covers_every_part_of_the_request() {
        let base = signing_message("POST", "/v1/sync/push", "kiosk-1", 10, b"{}");
        for other in [
            signing_message("GET", "/v1/sync/push", "kiosk-1", 10, b"{}"),
            signing_message("POST", "/v1/sync/pull", "kiosk-1", 10, b"{}"),
            signing_message("POST", "/v1/sync/push", "kiosk-2", 10, b"{}"),
            signing_message("POST", "/v1/sync/push", "kiosk-1", 11, b"{}"),
            signing_message("POST", "/v1/sync/push", "kiosk-1", 10, b"{ }"),
        ] {
            assert_ne!(base, other);
        }
    }
}

/// Feed entity: the whole branch configuration, one document.
pub const ENTITY_BRANCH_CONFIG: &str = "branch_config";
/// Feed entity: one appointment.
pub const ENTITY_APPOINTMENT: &str = "appointment";
/// Feed entity: one staff account of the branch console.
pub const ENTITY_STAFF: &str = "staff";
/// Feed entity: one device of the branch (removed when revoked).
pub const ENTITY_DEVICE: &str = "device";

/// A `device` of the branch feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePayload {
    /// Its id.
    pub device_id: String,
    /// Its Ed25519 public key, hex: what its signed requests are checked with.
    pub public_key: String,
    /// What it is in the branch.
    pub role: DeviceRole,
    /// A node: where it serves the branch's kiosks, as it last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan: Option<LanEndpoint>,
}

/// The `branch_config` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchConfigPayload {
    /// The sede.
    pub sede: domain::Sede,
    /// Services in display order.
    pub services: Vec<domain::Service>,
    /// Counters.
    pub counters: Vec<domain::Counter>,
    /// Weekly hours.
    pub hours: Vec<domain::OpeningHours>,
    /// Calling rules and calendar.
    pub rules: queue::QueueRules,
    /// Booking-token verifying keys: id and Ed25519 public key in hex.
    pub verifying_keys: Vec<(u16, String)>,
    /// The sede's promise on Area Contatti requests (the default where a sede set none).
    #[serde(default)]
    pub contatti: domain::contatti::ResponseTargets,
    /// When the follow page's SMS tells a visitor their turn is near.
    #[serde(default)]
    pub follow: FollowAlerts,
    /// The wait the sede aims to call visitors within, minutes: its figures count the share
    /// called within it.
    #[serde(default = "default_target_wait")]
    pub target_wait_min: u32,
}

/// Thirty minutes: the wait most visitors of an INPS sede put up with before they complain.
fn default_target_wait() -> u32 {
    30
}

/// When a visitor who left a mobile number on the follow page hears that their turn is near:
/// at so many people ahead, or when the estimate's upper bound falls to so many minutes,
/// whichever comes first; per service where it differs from the sede's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowAlerts {
    /// The sede's default.
    pub default: NearThreshold,
    /// By service, where it differs.
    #[serde(default)]
    pub by_service: std::collections::BTreeMap<domain::ServiceLetter, NearThreshold>,
}

/// "Near", for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearThreshold {
    /// People ahead.
    pub ahead: u32,
    /// Minutes of the estimate's upper bound.
    pub minutes: u32,
}

impl Default for FollowAlerts {
    /// Three people or fifteen minutes: time to come back from a coffee across the street.
    fn default() -> Self {
        Self {
            default: NearThreshold {
                ahead: 3,
                minutes: 15,
            },
            by_service: Default::default(),
        }
    }
}

impl FollowAlerts {
    /// The threshold of `service`.
    pub fn of(&self, service: domain::ServiceLetter) -> NearThreshold {
        self.by_service
            .get(&service)
            .copied()
            .unwrap_or(self.default)
    }
}

/// A `staff` row: an account of the branch console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffPayload {
    /// `operator` or `supervisor`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Cannot log in.
    pub disabled: bool,
}

/// The hub's answer to a kiosk starting an identification hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffStarted {
    /// The hand-off, for the kiosk's later questions.
    pub id: String,
    /// What the one-time QR code on the screen holds: the hub page the phone opens.
    pub url: String,
    /// Until when the QR code can be used.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The short code the kiosk shows beside the QR, which the phone asks for before it goes
    /// on (empty from a hub that does not ask).
    #[serde(default)]
    pub code: String,
}

/// Where a hand-off stands, as the kiosk asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HandoffState {
    /// Nobody has logged in yet.
    Pending {
        /// The phone opened the QR code and is at the identity provider.
        opened: bool,
    },
    /// Identified: the person and the companies they may act for.
    Bound {
        /// The person's name, for the greeting.
        name: String,
        /// The companies, each with one matricola.
        companies: Vec<CompanyChoice>,
        /// Until when the binding holds without a new identification.
        until: chrono::DateTime<chrono::Utc>,
        /// The form the kiosk asked the phone to show, until it is sent.
        #[serde(default)]
        task: Option<DeskTask>,
        /// The protocol of what the phone sent last in this session.
        #[serde(default)]
        sent: Option<String>,
    },
    /// The QR code or the binding expired.
    Expired,
    /// Ended by the kiosk (logout, timeout, a new visitor).
    Ended,
}

/// A company a person may act for, under one matricola. `Debug` masks the identifiers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyChoice {
    /// The employer matricola.
    pub matricola: domain::Matricola,
    /// The company's codice fiscale.
    pub company_cf: domain::CodiceFiscale,
    /// Ragione sociale.
    pub denominazione: String,
    /// The person's role towards it (on the wire, the INPS `tipo_delegato` code).
    #[serde(with = "tipo_delegato_code")]
    pub role: domain::TipoDelegato,
}

/// A [`domain::TipoDelegato`] as INPS writes it: its two-digit code.
mod tipo_delegato_code {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &domain::TipoDelegato, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<domain::TipoDelegato, D::Error> {
        let code = String::deserialize(d)?;
        domain::TipoDelegato::from_code(&code)
            .ok_or_else(|| D::Error::custom(format!("unknown tipo_delegato {code:?}")))
    }
}

impl std::fmt::Debug for CompanyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |s: &str| crate::cassetto::mask_with(s, 2, 2, '•');
        f.debug_struct("CompanyChoice")
            .field("matricola", &self.matricola)
            .field("company_cf", &self.company_cf)
            .field("denominazione", &masked(&self.denominazione))
            .field("role", &self.role)
            .finish()
    }
}

/// What the kiosk asks the visitor's phone to fill in: the phone carries the typing, the
/// attachments, the amounts and the bank details, never the lobby's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeskTask {
    /// A request to the sede (Area Contatti), with up to three attachments.
    Richiesta {
        /// The matricola it concerns.
        matricola: domain::Matricola,
    },
    /// An istanza of *Comunicazioni on-line* (amounts, bank details).
    Istanza {
        /// The matricola it concerns.
        matricola: domain::Matricola,
        /// Its code (`domain::istanze::MODULI`).
        modulo: String,
    },
}

impl DeskTask {
    /// The matricola the task concerns.
    pub fn matricola(&self) -> domain::Matricola {
        match self {
            DeskTask::Richiesta { matricola } | DeskTask::Istanza { matricola, .. } => *matricola,
        }
    }
}

/// *Agenda appuntamenti* for one matricola: the free slots of the sede di competenza and the
/// visitor's bookings there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaView {
    /// The sede's name.
    pub sede: String,
    /// The service booked (the sede's service by appointment).
    pub service: String,
    /// Its name.
    pub service_name: String,
    /// Free slots, local time (Europe/Rome), soonest first.
    pub slots: Vec<chrono::NaiveDateTime>,
    /// Bookings made for the matricola, soonest first.
    pub bookings: Vec<AgendaBooking>,
}

/// A booking made through the Agenda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaBooking {
    /// `APP-2026-100001`.
    pub booking: String,
    /// Local start.
    pub starts_at: chrono::NaiveDateTime,
    /// Service letter.
    pub service: String,
    /// Where the appointment stands.
    pub state: domain::AppointmentState,
    /// The signed booking code, the QR to scan at check-in.
    pub token: String,
}

/// The slot the visitor chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBooking {
    /// Local start, one of the view's slots.
    pub starts_at: chrono::NaiveDateTime,
}

/// *Comunicazioni on-line* for one matricola: which istanze can be sent and those sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IstanzeView {
    /// The eleven, in the catalogue's order.
    pub moduli: Vec<ModuloAvailability>,
    /// Those sent for the matricola, newest first.
    pub sent: Vec<IstanzaInfo>,
}

/// Whether an istanza can be sent now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuloAvailability {
    /// Its code.
    pub code: String,
    /// It can be sent.
    pub available: bool,
    /// Why not, when it cannot.
    pub reason: Option<String>,
}

/// An istanza sent, as the visitor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IstanzaInfo {
    /// Protocol given at submission.
    pub protocol: String,
    /// Its module's code.
    pub code: String,
    /// Where it stands.
    pub state: domain::istanze::IstanzaState,
    /// The sede's reasons for the outcome.
    pub esito: Option<String>,
    /// Sent at.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A request a visitor sends to the sede from the kiosk (Area Contatti).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContactRequest {
    /// The matricola it concerns (one the visitor is delegated for).
    pub matricola: domain::Matricola,
    /// `generica`, `regolarita_contributiva`, `dm_trasmessi`, `f24`, `agevolazioni_contributive`.
    pub topic: String,
    /// Oggetto.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// A request as the visitor sees it, with its messages both ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRequest {
    /// Protocol number given at submission.
    pub protocol: String,
    /// Topic code.
    pub topic: String,
    /// Oggetto.
    pub subject: String,
    /// Where it stands.
    pub state: domain::contatti::RequestState,
    /// Submitted at.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Messages, oldest first.
    pub messages: Vec<ContactMessage>,
    /// The files sent with it (names and sizes; the content stays at the hub).
    #[serde(default)]
    pub attachments: Vec<AttachmentInfo>,
    /// Where it stands against the sede's promise (absent from a hub that keeps none).
    #[serde(default)]
    pub clock: Option<domain::contatti::ResponseClock>,
    /// So late that the sede offers an appointment at once: the first free slot of its
    /// Agenda when the request was escalated, in the sede's local time.
    #[serde(default)]
    pub offered_slot: Option<chrono::NaiveDateTime>,
}

/// A file sent with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// The name it had on the phone.
    pub name: String,
    /// `application/pdf`, `image/jpeg` or `image/png`, from the content.
    pub mime: String,
    /// Bytes.
    pub size: u32,
}

/// One message of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMessage {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// From the visitor, or from the sede.
    pub direction: domain::contatti::Direction,
    /// The text.
    pub body: String,
}

/// `GET` [`DAY_LOG`]`?day=YYYY-MM-DD`: what the sede's other devices pushed of a day's queue
/// (for a node that replaces one that died). Only a node may ask.
pub const DAY_LOG: &str = "/v1/sync/day";

/// The answer to [`DAY_LOG`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayLog {
    /// The day.
    pub day: Option<chrono::NaiveDate>,
    /// Each event with the device that logged it, by device and then in its log's order.
    pub events: Vec<DayLogEvent>,
}

/// One event of a [`DayLog`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayLogEvent {
    /// The device that logged it.
    pub device: String,
    /// The event as that device pushed it (a `queue::Event`).
    pub event: serde_json::Value,
}
