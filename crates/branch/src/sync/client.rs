//! The kiosk's side of the wire: enrolment (trusting the hub's certificate on first use, or by
//! a fingerprint the administrator reads out), then signed pushes and pulls over a connection
//! that accepts only the pinned certificate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use protocol::wire::{
    self, EnrolRequest, EnrolResponse, PullResponse, PushRefusal, PushRequest, PushResponse,
};

/// Why talking to the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No connection, a timeout, or the hub's certificate is not the pinned one.
    #[error("the hub cannot be reached: {0}")]
    Network(String),
    /// The hub refused who we are (unknown or revoked device, a bad code).
    #[error("the hub refused this kiosk: {0}")]
    Refused(String),
    /// This kiosk must be updated before the hub takes its operations (they stay queued).
    #[error("update required: the hub takes operations from version {0} on")]
    UpdateRequired(String),
    /// The hub answered something this kiosk cannot use.
    #[error("unexpected answer from the hub: {0}")]
    Protocol(String),
}

/// The hub keys a kiosk accepts, each the SHA-256 of a certificate's SubjectPublicKeyInfo, so
/// a renewed certificate on the same key is the same hub (certbot `--reuse-key`, or the hub's
/// own self-signed certificate, whose key stays in `tls_dir`). Until the hub has announced its
/// keys, the one pinned at enrolment (for a kiosk enrolled before keys were pinned, the
/// SHA-256 of the whole certificate, which still matches that certificate); from then on, the
/// keys it announced in the feed — its current one and, ahead of a move to a new key, the
/// next — heard over a connection to a key already accepted. Shared by every client of one
/// kiosk, so what the sync agent hears, identification accepts too.
#[derive(Debug)]
pub struct HubPins {
    enrolled: [u8; 32],
    announced: Mutex<Vec<[u8; 32]>>,
}

impl HubPins {
    /// The keys a kiosk's hub link accepts.
    pub fn of(link: &store::HubLink) -> Arc<Self> {
        Arc::new(Self {
            enrolled: link.cert_sha256,
            announced: Mutex::new(link.announced.clone()),
        })
    }

    /// Only the key (or certificate) pinned at enrolment.
    pub fn enrolled(pin: [u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            enrolled: pin,
            announced: Mutex::default(),
        })
    }

    fn accepts(&self, key: &[u8; 32], whole: &[u8; 32]) -> bool {
        let announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        if announced.is_empty() {
            self.enrolled == *key || self.enrolled == *whole
        } else {
            announced.contains(key)
        }
    }

    /// Takes the keys the hub announced; answers whether what is accepted changed. An empty
    /// announcement (a hub that announces nothing) changes nothing.
    pub fn announce(&self, keys: &[[u8; 32]]) -> bool {
        let mut announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        if keys.is_empty() || *announced == keys {
            return false;
        }
        *announced = keys.to_vec();
        true
    }

    fn describe(&self) -> String {
        let announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        if announced.is_empty() {
            wire::hex(&self.enrolled)
        } else {
            announced
                .iter()
                .map(|k| wire::hex(k))
                .collect::<Vec<_>>()
                .join(" or ")
        }
    }
}

/// The verifier over [`HubPins`]. At enrolment without a fingerprint there are none: whichever
/// key the hub presents is trusted and remembered, to pin from then on.
#[derive(Debug)]
pub(crate) struct Pinned {
    pins: Option<Arc<HubPins>>,
    seen: Mutex<Option<[u8; 32]>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let key = web::tls::key_pin(end_entity.as_ref()).map_err(rustls::Error::General)?;
        let whole: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
        match &self.pins {
            Some(pins) if !pins.accepts(&key, &whole) => Err(rustls::Error::General(format!(
                "the hub's key {} is not the pinned {}",
                wire::hex(&key),
                pins.describe()
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn http(pins: Option<Arc<HubPins>>) -> Result<(reqwest::Client, Arc<Pinned>), SyncError> {
    http_with(pins, Duration::from_secs(10), Duration::from_secs(30))
}

/// A client that accepts only a server whose key `pins` holds, with these waits.
pub(crate) fn http_with(
    pins: Option<Arc<HubPins>>,
    connect: Duration,
    total: Duration,
) -> Result<(reqwest::Client, Arc<Pinned>), SyncError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned {
        pins,
        seen: Mutex::new(None),
        provider: provider.clone(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SyncError::Protocol(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect)
        .timeout(total)
        .build()
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    Ok((client, verifier))
}

/// A signed question's answer: the JSON (`null` for 204), `None` for 404 (not there, or not
/// theirs), the hub's reason for 409; refusals and anything else as errors.
async fn answer<T: serde::de::DeserializeOwned>(
    r: reqwest::Response,
) -> Result<Result<Option<T>, String>, SyncError> {
    match r.status() {
        reqwest::StatusCode::NO_CONTENT => Ok(Ok(Some(
            serde_json::from_str("null").map_err(|e| SyncError::Protocol(e.to_string()))?,
        ))),
        s if s.is_success() => Ok(Ok(Some(
            r.json()
                .await
                .map_err(|e| SyncError::Protocol(e.to_string()))?,
        ))),
        reqwest::StatusCode::NOT_FOUND => Ok(Ok(None)),
        reqwest::StatusCode::CONFLICT => {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            Ok(Err(v["error"].as_str().unwrap_or_default().to_owned()))
        }
        s @ (reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN) => Err(
            SyncError::Refused(format!("{s}: {}", r.text().await.unwrap_or_default())),
        ),
        s => Err(SyncError::Network(format!(
            "{s}: {}",
            r.text().await.unwrap_or_default()
        ))),
    }
}

pub(crate) fn network(e: reqwest::Error) -> SyncError {
    // Paths carry matricole and hand-off ids, and this text goes to the kiosk's log: the hub's
    // address is enough to say what failed.
    let e = e.without_url();
    // The chain carries the TLS reason (a certificate that is not the pinned one).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    SyncError::Network(text)
}

/// What enrolment gives the kiosk to keep.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// Assigned by the hub.
    pub device_id: String,
    /// The branch.
    pub branch: u16,
    /// The key generated here; never leaves the kiosk.
    pub secret_key: [u8; 32],
    /// The hub's pin from now on: the SHA-256 of its public key ([`web::tls::key_pin`]).
    pub cert_sha256: [u8; 32],
    /// What the device is in its branch.
    pub role: wire::DeviceRole,
}

impl Enrolled {
    /// What the kiosk keeps of it, for the hub at `hub_url`.
    pub fn link(&self, hub_url: &str) -> store::HubLink {
        store::HubLink {
            hub_url: hub_url.trim_end_matches('/').to_owned(),
            device_id: self.device_id.clone(),
            branch: self.branch,
            secret_key: self.secret_key,
            cert_sha256: self.cert_sha256,
            announced: Vec::new(),
            role: self.role,
        }
    }
}

/// Enrols this kiosk with the hub at `base` using a one-time `code`. With `fingerprint` (the
/// SHA-256 of the hub's public key, or of its certificate), the hub must present that; without,
/// the key it presents is trusted. Either way its key is what is pinned.
pub async fn enrol(
    base: &str,
    code: &str,
    fingerprint: Option<[u8; 32]>,
    client_version: &str,
) -> Result<Enrolled, SyncError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SyncError::Protocol(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let (client, verifier) = http(fingerprint.map(HubPins::enrolled))?;
    let r = client
        .post(format!("{}/v1/enrol", base.trim_end_matches('/')))
        .json(&EnrolRequest {
            code: code.to_owned(),
            public_key: wire::hex(key.verifying_key().as_bytes()),
            client_version: client_version.to_owned(),
        })
        .send()
        .await
        .map_err(network)?;
    let status = r.status();
    if !status.is_success() {
        let text = r.text().await.unwrap_or_default();
        return Err(if status.is_client_error() {
            SyncError::Refused(text)
        } else {
            SyncError::Network(format!("{status}: {text}"))
        });
    }
    let e: EnrolResponse = r
        .json()
        .await
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    let cert_sha256 = verifier
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or_else(|| SyncError::Protocol("no hub key seen".into()))?;
    Ok(Enrolled {
        device_id: e.device_id,
        branch: e.branch,
        secret_key: seed,
        cert_sha256,
        role: e.role,
    })
}

/// What a push came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Applied (or answered from the stored results).
    Done(PushResponse),
    /// Refused as a whole.
    Refused(PushRefusal),
}

/// What a pull came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PullOutcome {
    /// A page of changes.
    Page(PullResponse),
    /// The feed started over: pull again from 0 with no epoch.
    StartOver,
}

/// A signed, pinned connection to the hub.
pub struct HubClient {
    base: String,
    device_id: String,
    key: SigningKey,
    http: reqwest::Client,
    pins: Arc<HubPins>,
}

impl HubClient {
    /// A client for an enrolled kiosk that accepts only the key pinned at enrolment.
    pub fn new(
        base: &str,
        device_id: &str,
        secret_key: &[u8; 32],
        cert_sha256: [u8; 32],
    ) -> Result<Self, SyncError> {
        Self::with_pins(base, device_id, secret_key, HubPins::enrolled(cert_sha256))
    }

    /// A client that accepts the hub by `pins`, shared with the kiosk's other clients.
    pub fn with_pins(
        base: &str,
        device_id: &str,
        secret_key: &[u8; 32],
        pins: Arc<HubPins>,
    ) -> Result<Self, SyncError> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            device_id: device_id.to_owned(),
            key: SigningKey::from_bytes(secret_key),
            http: http(Some(pins.clone()))?.0,
            pins,
        })
    }

    /// The hub keys this client accepts.
    pub fn pins(&self) -> Arc<HubPins> {
        self.pins.clone()
    }

    fn signed(&self, method: reqwest::Method, path: &str, body: &[u8]) -> reqwest::RequestBuilder {
        let time = chrono::Utc::now().timestamp();
        let sig = self.key.sign(&wire::signing_message(
            method.as_str(),
            path,
            &self.device_id,
            time,
            body,
        ));
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(wire::DEVICE_HEADER, &self.device_id)
            .header(wire::TIME_HEADER, time.to_string())
            .header(wire::SIGNATURE_HEADER, wire::hex(&sig.to_bytes()))
    }

    /// Pushes a batch.
    pub async fn push(&self, req: &PushRequest) -> Result<PushOutcome, SyncError> {
        let body = serde_json::to_vec(req).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let r = self
            .signed(reqwest::Method::POST, "/v1/sync/push", &body)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(network)?;
        match r.status() {
            s if s.is_success() => Ok(PushOutcome::Done(
                r.json()
                    .await
                    .map_err(|e| SyncError::Protocol(e.to_string()))?,
            )),
            reqwest::StatusCode::CONFLICT => Ok(PushOutcome::Refused(
                r.json()
                    .await
                    .map_err(|e| SyncError::Protocol(e.to_string()))?,
            )),
            s @ (reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN) => Err(
                SyncError::Refused(format!("{s}: {}", r.text().await.unwrap_or_default())),
            ),
            s => Err(SyncError::Network(format!(
                "{s}: {}",
                r.text().await.unwrap_or_default()
            ))),
        }
    }

    /// Pulls the changes after `after` of the feed epoch `epoch`.
    pub async fn pull(&self, after: i64, epoch: Option<&str>) -> Result<PullOutcome, SyncError> {
        self.pull_wait(after, epoch, 0).await
    }

    /// The same, waiting up to `wait` seconds for a change when there is none (long poll).
    pub async fn pull_wait(
        &self,
        after: i64,
        epoch: Option<&str>,
        wait: u64,
    ) -> Result<PullOutcome, SyncError> {
        let mut path = format!("/v1/sync/pull?after={after}");
        if let Some(e) = epoch {
            path.push_str("&epoch=");
            path.push_str(e);
        }
        if wait > 0 {
            path.push_str(&format!("&wait={wait}"));
        }
        let r = self
            .signed(reqwest::Method::GET, &path, b"")
            .send()
            .await
            .map_err(network)?;
        match r.status() {
            s if s.is_success() => Ok(PullOutcome::Page(
                r.json()
                    .await
                    .map_err(|e| SyncError::Protocol(e.to_string()))?,
            )),
            reqwest::StatusCode::GONE => Ok(PullOutcome::StartOver),
            s @ (reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN) => Err(
                SyncError::Refused(format!("{s}: {}", r.text().await.unwrap_or_default())),
            ),
            s => Err(SyncError::Network(format!(
                "{s}: {}",
                r.text().await.unwrap_or_default()
            ))),
        }
    }
    /// Sends a signed request with an empty body and reads its JSON answer; `None` for 404.
    async fn signed_json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<Option<T>, SyncError> {
        let r = self
            .signed(method, path, b"")
            .send()
            .await
            .map_err(network)?;
        // No question asked this way can conflict: a 409 is the hub misbehaving.
        answer(r)
            .await?
            .map_err(|why| SyncError::Network(format!("409 Conflict: {why}")))
    }

    /// What the sede's other devices pushed of `day`'s queue (a node replacing a dead one).
    pub async fn day_log(&self, day: chrono::NaiveDate) -> Result<wire::DayLog, SyncError> {
        Ok(self
            .signed_json(
                reqwest::Method::GET,
                &format!("{}?day={day}", wire::DAY_LOG),
            )
            .await?
            .unwrap_or_default())
    }

    /// Starts an identification hand-off: the QR code to show.
    pub async fn start_handoff(&self) -> Result<wire::HandoffStarted, SyncError> {
        self.signed_json(reqwest::Method::POST, "/v1/handoff")
            .await?
            .ok_or_else(|| SyncError::Protocol("the hub has no hand-off endpoint".into()))
    }

    /// Where a hand-off stands.
    pub async fn handoff(&self, id: &str) -> Result<wire::HandoffState, SyncError> {
        Ok(self
            .signed_json(reqwest::Method::GET, &format!("/v1/handoff/{id}"))
            .await?
            .unwrap_or(wire::HandoffState::Ended))
    }

    /// The Cassetto summary of `matricola` for the hand-off's visitor; `None` when the
    /// visitor may not see it (or the session is over).
    pub async fn company(
        &self,
        id: &str,
        matricola: &str,
    ) -> Result<Option<protocol::cassetto::CompanySummary>, SyncError> {
        self.signed_json(
            reqwest::Method::GET,
            &format!("/v1/handoff/{id}/companies/{matricola}"),
        )
        .await
    }

    /// The Area Contatti history of `matricola` for the hand-off's visitor.
    pub async fn requests(
        &self,
        id: &str,
        matricola: &str,
    ) -> Result<Option<Vec<wire::ContactRequest>>, SyncError> {
        self.signed_json(
            reqwest::Method::GET,
            &format!("/v1/handoff/{id}/requests/{matricola}"),
        )
        .await
    }

    /// *Comunicazioni on-line* of `matricola` for the hand-off's visitor.
    pub async fn istanze(
        &self,
        id: &str,
        matricola: &str,
    ) -> Result<Option<wire::IstanzeView>, SyncError> {
        self.signed_json(
            reqwest::Method::GET,
            &format!("/v1/handoff/{id}/istanze/{matricola}"),
        )
        .await
    }

    /// *Agenda appuntamenti* of `matricola` for the hand-off's visitor.
    pub async fn agenda(
        &self,
        id: &str,
        matricola: &str,
    ) -> Result<Option<wire::AgendaView>, SyncError> {
        self.signed_json(
            reqwest::Method::GET,
            &format!("/v1/handoff/{id}/agenda/{matricola}"),
        )
        .await
    }

    /// Books a slot (`Ok(Err(reason))`: refused, e.g. taken meanwhile; `Ok(Ok(None))`: not
    /// theirs, or the session is over).
    pub async fn book(
        &self,
        id: &str,
        matricola: &str,
        starts_at: chrono::NaiveDateTime,
    ) -> Result<Result<Option<wire::AgendaBooking>, String>, SyncError> {
        self.post_json(
            &format!("/v1/handoff/{id}/agenda/{matricola}"),
            &wire::NewBooking { starts_at },
        )
        .await
    }

    /// Cancels a booking made for `matricola`.
    pub async fn cancel_booking(
        &self,
        id: &str,
        matricola: &str,
        booking: &str,
    ) -> Result<Result<Option<serde_json::Value>, String>, SyncError> {
        self.post_json(
            &format!("/v1/handoff/{id}/agenda/{matricola}/{booking}/annulla"),
            &serde_json::json!({}),
        )
        .await
    }

    /// A signed POST of `value`: the answer, `None` for 404, the hub's reason for 409.
    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        value: &impl serde::Serialize,
    ) -> Result<Result<Option<T>, String>, SyncError> {
        let body = serde_json::to_vec(value).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let r = self
            .signed(reqwest::Method::POST, path, &body)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(network)?;
        answer(r).await
    }

    /// Asks the phone of the hand-off's visitor to show a form; `false` when the matricola is
    /// not theirs or the session is over.
    pub async fn desk_task(&self, id: &str, task: &wire::DeskTask) -> Result<bool, SyncError> {
        Ok(matches!(
            self.post_json::<()>(&format!("/v1/handoff/{id}/task"), task)
                .await?,
            Ok(Some(()))
        ))
    }

    /// Ends a hand-off's session at the hub.
    pub async fn end_handoff(&self, id: &str) -> Result<(), SyncError> {
        self.signed_json::<()>(reqwest::Method::POST, &format!("/v1/handoff/{id}/end"))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    /// A failed question about a company does not write its matricola into the kiosk's log.
    #[test]
    fn network_errors_do_not_carry_the_path() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A port nobody listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client =
            super::HubClient::new(&format!("https://127.0.0.1:{port}"), "d", &[7; 32], [0; 32])
                .unwrap();
        let err = runtime
            .block_on(client.company("0123", "7061454193"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Connection refused"),
            "the reason stays: {err}"
        );
        assert!(!err.contains("7061454193"), "{err}");
    }
}
