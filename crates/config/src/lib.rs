//! The one configuration struct, read from a TOML file. Every key and its default is documented
//! in `docs/configuration.md`; a test keeps the two in step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong values.
    #[error("configuration file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (line and column).
        message: String,
    },
    /// A value needed outside demo mode is missing or unusable.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Sportello's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The branch this device serves.
    pub branch: BranchConfig,
    /// The local SQLite store.
    pub store: StoreConfig,
    /// Pseudonymisation.
    pub privacy: PrivacyConfig,
    /// Logging.
    pub log: LogConfig,
    /// Demo mode.
    pub demo: DemoConfig,
    /// The branch LAN server (staff console, hall display).
    pub lan: LanConfig,
    /// The ticket printer.
    pub printer: PrinterConfig,
    /// The QR code scanner.
    pub scanner: ScannerConfig,
    /// The panel on the Pi's pins: status light, buzzer, buttons.
    pub panel: PanelConfig,
    /// The central hub (`sportello hub`).
    pub hub: HubConfig,
    /// The kiosk's sync agent.
    pub sync: SyncConfig,
}

/// `[sync]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Milliseconds between pushes and pulls when nothing happens locally.
    pub interval_ms: u64,
    /// Longest wait, in milliseconds, between attempts while the hub cannot be reached.
    pub max_backoff_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval_ms: 5000,
            max_backoff_ms: 60_000,
        }
    }
}

/// `[hub]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// Address and port of the hub's HTTPS API.
    pub listen: String,
    /// PostgreSQL URL.
    pub database_url: String,
    /// PEM certificates of the authority that signed PostgreSQL's certificate: set, the hub
    /// connects only over TLS, to a server whose certificate chains to them and names the
    /// URL's host; unset, as the URL says (no TLS; `sslmode=require` then asks for this).
    pub database_ca: Option<PathBuf>,
    /// Connections to PostgreSQL per hub instance.
    pub pool_size: usize,
    /// PEM certificate chain; unset: self-signed, made on first start and kept.
    pub cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub key: Option<PathBuf>,
    /// The certificate the hub will move to, when it is on a new key: its key is announced to
    /// the kiosks through the feed, so they accept it once the hub presents it.
    pub next_cert: Option<PathBuf>,
    /// Folder of the generated self-signed certificate.
    pub tls_dir: PathBuf,
    /// The key-encryption key that seals the hub's signing keys in the database: a file of
    /// 64 hexadecimal digits, mode 600, the same on every instance and never in a database
    /// backup. Made on first start when the database has no sealed keys yet.
    pub key_encryption_key: PathBuf,
    /// Kiosks older than this version must update before their pushes are applied.
    pub min_client_version: Option<String>,
    /// The hub's address as visitors' phones reach it; unset: no identification.
    pub public_url: Option<String>,
    /// Identify visitors through the built-in test provider (demo identities; never in
    /// production). With `public_url` set, this or `[hub.identity]` with a `mode` must be.
    pub demo_identity: bool,
    /// The identity provider the hub is a relying party of: SPID and CIE id directly through
    /// OpenID Federation, or a broker (docs/identity.md).
    pub identity: IdentitySettings,
    /// SMTP server for visitors' e-mail notifications (`smtp://`, `smtp://…?tls=required`,
    /// `smtps://user:password@host`); unset: no e-mail.
    pub smtp_url: Option<String>,
    /// The sender of those e-mails.
    pub mail_from: String,
    /// The SMS provider's HTTP endpoint (JSON `to`, `from`, `text`); unset: no SMS.
    pub sms_url: Option<String>,
    /// Bearer token for the SMS provider.
    pub sms_token: Option<String>,
    /// The SMS sender name.
    pub sms_from: String,
    /// The secret of the pseudonymous person keys in booking tokens: the kiosks'
    /// `privacy.person_key_secret`; unset: the Agenda cannot book.
    pub person_key_secret: Option<String>,
    /// Addresses or networks (`10.0.0.5`, `10.0.0.0/24`) of the load balancers in front of
    /// the hub, whose `X-Forwarded-For` names the client; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The bearer token Prometheus sends to scrape `/metrics`; unset: no metrics (404).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8444".into(),
            database_url: "postgres://sportello@127.0.0.1:5432/sportello".into(),
            database_ca: None,
            pool_size: 16,
            cert: None,
            key: None,
            next_cert: None,
            tls_dir: PathBuf::from("/var/lib/sportello/hub-tls"),
            key_encryption_key: PathBuf::from("/var/lib/sportello/hub-keys/kek"),
            min_client_version: None,
            public_url: None,
            demo_identity: false,
            identity: IdentitySettings::default(),
            smtp_url: None,
            mail_from: "INPS Sportello <noreply@sportello.invalid>".into(),
            sms_url: None,
            sms_token: None,
            sms_from: "INPS".into(),
            person_key_secret: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
        }
    }
}

/// How the hub reaches the visitor's identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    /// SPID and CIE id providers directly, as an OpenID Federation entity under the
    /// configured trust anchor, with the whole Italian profile.
    Federation,
    /// An identity broker or SPID/CIE proxy that speaks plain OpenID Connect.
    Broker,
}

/// How the hub authenticates to the provider's token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// A JWT signed with the hub's key (RFC 7523); the only one SPID and CIE accept.
    #[default]
    PrivateKeyJwt,
    /// The client secret in HTTP Basic.
    ClientSecretBasic,
    /// The client secret in the form.
    ClientSecretPost,
}

/// The claims that carry what the hub needs from the provider's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimNames {
    /// The fiscal number (a `TINIT-` prefix is taken off).
    pub fiscal_number: String,
    /// The full name, when the provider gives one.
    pub name: String,
    /// The given name, joined to the family name when there is no full name.
    pub given_name: String,
    /// The family name.
    pub family_name: String,
    /// The e-mail address, offered for the notifications.
    pub email: String,
    /// The mobile number, offered for the SMS.
    pub mobile: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            fiscal_number: "https://attributes.eid.gov.it/fiscal_number".into(),
            name: "name".into(),
            given_name: "given_name".into(),
            family_name: "family_name".into(),
            email: "email".into(),
            mobile: "phone_number".into(),
        }
    }
}

/// `[hub.identity]`: the hub as a relying party (docs/identity.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentitySettings {
    /// `federation` or `broker`; unset: no outside provider.
    pub mode: Option<IdentityMode>,
    /// The provider: its issuer URL (broker), or its entity identifier (federation).
    pub issuer: Option<String>,
    /// The hub's client id; in federation mode its entity identifier, `public_url` by default.
    pub client_id: Option<String>,
    /// How the hub authenticates at the token endpoint (federation: `private_key_jwt` only).
    pub client_auth: ClientAuth,
    /// A file holding the client secret, for the `client_secret_*` methods.
    pub client_secret_file: Option<PathBuf>,
    /// PEM private keys (RSA of 2048 bits or more, or EC P-256) that sign the hub's request
    /// objects, client assertions and entity configuration: the first signs, every one is
    /// published, so a new key is added first and an old one removed after the provider's
    /// caches have expired.
    pub signing_keys: Vec<PathBuf>,
    /// PEM RSA private keys the provider encrypts the UserInfo answers to; all are published
    /// and each decrypts what names its key id.
    pub encryption_keys: Vec<PathBuf>,
    /// The authentication level asked for; levels below it are refused.
    pub acr: String,
    /// Send the authorisation request as a signed request object (federation: always).
    pub request_object: bool,
    /// Read the visitor's attributes from the UserInfo endpoint (federation: always, and
    /// encrypted), not from the ID token alone.
    pub userinfo: bool,
    /// PEM certificates trusted for the provider's HTTPS; unset: the system's.
    pub ca: Option<PathBuf>,
    /// Seconds before a provider that does not answer is given up.
    pub timeout_seconds: u64,
    /// Which claims carry the fiscal number, the name and the contacts.
    pub claims: ClaimNames,
    /// Federation: the trust anchor's entity identifier.
    pub trust_anchor: Option<String>,
    /// Federation: a file with the trust anchor's public keys (a JWKS), as its operator
    /// publishes them out of band.
    pub trust_anchor_keys: Option<PathBuf>,
    /// Federation: the authorities above the hub (usually the trust anchor itself).
    pub authority_hints: Vec<String>,
    /// Federation: files holding the trust marks issued to the hub, published in its
    /// entity configuration.
    pub trust_marks: Vec<PathBuf>,
    /// Federation: the trust marks (by id) a provider must carry, issued by the trust anchor,
    /// for the hub to use it.
    pub provider_trust_marks: Vec<String>,
    /// The organisation named in the hub's federation metadata.
    pub organization_name: String,
    /// Contacts named there.
    pub contacts: Vec<String>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            mode: None,
            issuer: None,
            client_id: None,
            client_auth: ClientAuth::default(),
            client_secret_file: None,
            signing_keys: Vec::new(),
            encryption_keys: Vec::new(),
            acr: "https://www.spid.gov.it/SpidL2".into(),
            request_object: false,
            userinfo: false,
            ca: None,
            timeout_seconds: 10,
            claims: ClaimNames::default(),
            trust_anchor: None,
            trust_anchor_keys: None,
            authority_hints: Vec::new(),
            trust_marks: Vec::new(),
            provider_trust_marks: Vec::new(),
            organization_name: "Istituto Nazionale della Previdenza Sociale".into(),
            contacts: Vec::new(),
        }
    }
}

/// How the kiosk reaches its ticket printer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrinterKind {
    /// Writes the bytes to `printer.file` (no printer attached).
    #[default]
    Simulated,
    /// USB through usbfs, by vendor and product id (`printer.usb`).
    Usb,
    /// The kernel's USB printer device (`printer.path`, `/dev/usb/lp0`).
    Usblp,
    /// Raw TCP (`printer.address`, port 9100).
    Network,
    /// A serial port (`printer.path`, `printer.baud`).
    Serial,
    /// No printer: tickets are shown on screen only.
    None,
}

/// Paper width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaperWidth {
    /// 58 mm rolls.
    #[serde(rename = "58mm")]
    Mm58,
    /// 80 mm rolls.
    #[default]
    #[serde(rename = "80mm")]
    Mm80,
}

/// How the QR code is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrPrint {
    /// The printer's own QR command.
    #[default]
    Native,
    /// A raster image, for printers without it.
    Raster,
}

/// `[printer]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrinterConfig {
    /// How the printer is reached.
    pub kind: PrinterKind,
    /// `vendor:product` in hex, for `usb`.
    pub usb: Option<String>,
    /// Device path, for `usblp` and `serial`.
    pub path: Option<PathBuf>,
    /// `ip:port`, for `network`.
    pub address: Option<String>,
    /// Serial speed.
    pub baud: u32,
    /// Whether the printer answers status requests (`DLE EOT`).
    pub answers_status: bool,
    /// How long to wait for the printer, in milliseconds.
    pub timeout_ms: u64,
    /// Paper width.
    pub paper: PaperWidth,
    /// `ESC t` number of Windows-1252 on this printer.
    pub code_page: u8,
    /// Native or raster QR code.
    pub qr: QrPrint,
    /// Output file of the simulated printer.
    pub file: PathBuf,
}

impl Default for PrinterConfig {
    fn default() -> Self {
        Self {
            kind: PrinterKind::Simulated,
            usb: None,
            path: None,
            address: None,
            baud: 19200,
            answers_status: true,
            timeout_ms: 1500,
            paper: PaperWidth::Mm80,
            code_page: 16,
            qr: QrPrint::Native,
            file: PathBuf::from("/var/lib/sportello/printer.bin"),
        }
    }
}

/// Where scanned codes come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    /// Standard input, one code a line (the simulated scanner; also a keyboard).
    #[default]
    Stdin,
    /// A named pipe, one code a line; opened again when its writer goes away.
    Fifo,
    /// A serial or USB CDC-ACM scanner, one code a line (`scanner.path`, `scanner.baud`).
    Serial,
    /// A USB keyboard-wedge scanner's input device, grabbed so its keys reach only Sportello.
    Evdev,
}

/// `[scanner]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerConfig {
    /// Where codes come from.
    pub kind: ScannerKind,
    /// Device or pipe path, for `fifo`, `serial` and `evdev`.
    pub path: Option<PathBuf>,
    /// Serial speed.
    pub baud: u32,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        Self {
            kind: ScannerKind::Stdin,
            path: None,
            baud: 9600,
        }
    }
}

/// What drives the kiosk's panel (status light, buzzer, buttons).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    /// No panel.
    #[default]
    None,
    /// A panel in memory (tests).
    Simulated,
    /// The Raspberry Pi's GPIO pins below.
    Gpio,
}

/// `[panel]`: the pins are BCM numbers (docs/operations.md, "The panel", has the wiring).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelConfig {
    /// `none`, `simulated` or `gpio`.
    pub kind: PanelKind,
    /// The status light's red LED.
    pub light_red: u8,
    /// The status light's green LED (both: amber).
    pub light_green: u8,
    /// The buzzer (an active one: on while the pin is high).
    pub buzzer: u8,
    /// The *chiama un operatore* button, to ground.
    pub call_button: u8,
    /// The presence sensor's output (high: someone is there); unwired is harmless.
    pub presence: u8,
    /// The spoken-guidance key, to ground; unwired is harmless.
    pub speech_key: u8,
    /// The headset jack's switch, to ground with a plug in; unwired is harmless.
    pub headset: u8,
}

impl Default for PanelConfig {
    fn default() -> Self {
        Self {
            kind: PanelKind::None,
            light_red: 17,
            light_green: 27,
            buzzer: 22,
            call_button: 5,
            presence: 6,
            speech_key: 13,
            headset: 19,
        }
    }
}

/// `[lan]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LanConfig {
    /// Whether the kiosk process serves the LAN.
    pub enabled: bool,
    /// Address and port to listen on.
    pub listen: String,
    /// PEM certificate chain; unset: a self-signed one is made on first start.
    pub cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub key: Option<PathBuf>,
    /// Folder of the generated self-signed certificate.
    pub tls_dir: PathBuf,
    /// Hours a staff login lasts.
    pub session_hours: u32,
    /// A branch node: the address the branch's other kiosks reach it at
    /// (`https://10.1.2.3:8443`), reported to the hub; unset, taken from `listen` when that
    /// names one address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// A kiosk of a node: milliseconds between its rounds with the node (hand over what it
    /// printed while cut off, top up its leases, report its health).
    pub node_sync_ms: u64,
    /// The bearer token a sede's own Prometheus sends to scrape the node's `/metrics`; unset:
    /// no metrics (404).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
}

impl LanConfig {
    /// Where the branch's kiosks reach this node: `advertise`, or `listen` when it names one
    /// address (a node listening on every address cannot tell which one the kiosks see).
    pub fn advertised(&self, bound: std::net::SocketAddr) -> Option<String> {
        if let Some(url) = &self.advertise {
            return Some(url.trim_end_matches('/').to_owned());
        }
        (!bound.ip().is_unspecified()).then(|| format!("https://{bound}"))
    }
}

impl Default for LanConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "0.0.0.0:8443".into(),
            cert: None,
            key: None,
            tls_dir: PathBuf::from("/var/lib/sportello/tls"),
            session_hours: 10,
            advertise: None,
            node_sync_ms: 5000,
            metrics_token: None,
        }
    }
}

/// `[branch]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BranchConfig {
    /// Device id recorded when the store is created; replaced by the hub's at enrolment.
    pub device_id: Option<String>,
    /// Public address of the hub's *segui la coda* pages, printed as each ticket's QR code.
    pub follow_base: Option<String>,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite file of the kiosk.
    pub path: PathBuf,
    /// How long a write waits for a lock, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/var/lib/sportello/kiosk.sqlite"),
            busy_timeout_ms: 5000,
        }
    }
}

/// `[privacy]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Secret of the pseudonymous person keys (at least 16 characters), shared with the hub.
    pub person_key_secret: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    #[default]
    Human,
    /// One JSON object a line, for collectors.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// Filter in `tracing` syntax (`info`, `sportello=debug`…); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// `[demo]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Folder for the demo store and the QR codes.
    pub data_dir: PathBuf,
    /// Seed of the demo data generator.
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("demo-data"),
            seed: 2026,
        }
    }
}

impl Config {
    /// Reads a configuration file; missing keys take their defaults, unknown keys are errors.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses configuration text.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The person-key secret outside demo mode.
    pub fn person_key_secret(&self) -> Result<&str, ConfigError> {
        match self.privacy.person_key_secret.as_deref() {
            Some(s) if s.len() >= 16 => Ok(s),
            Some(_) => Err(ConfigError::Invalid("privacy.person_key_secret must have at least 16 characters".into())),
            None => Err(ConfigError::Invalid(
                "privacy.person_key_secret is not set (it is shared with the hub; see docs/configuration.md)".into(),
            )),
        }
    }
}
