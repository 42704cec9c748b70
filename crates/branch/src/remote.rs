//! A kiosk's side of its branch's node, when the node runs elsewhere ([`protocol::lan`]): the
//! signed client over TLS to the node's pinned key, and the round that hands over what the
//! kiosk printed while cut off, tops its leases up and reports its health.
//!
//! The node's address and key come from the hub's feed (the branch's devices), kept in the
//! kiosk's store through a WAN outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};

use crate::node::Branch;
use crate::sync::client::{HubPins, SyncError, http_with, network};
use protocol::lan::{
    self, CheckInRequest, IssueRequest, Issued, KioskHealth, Refusal, SyncRequest, SyncResponse,
    Taken,
};
use protocol::wire::{self, DeviceRole};

/// A visitor waits at most this long for the node before the kiosk numbers from its lease.
pub const VISITOR_WAIT: Duration = Duration::from_millis(1500);
/// How often a kiosk syncs with its node, unless configured (`lan.node_sync_ms`).
pub const SYNC_EVERY: Duration = Duration::from_secs(5);

/// Where the branch's node is, as the hub's feed last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// The node's device id.
    pub device_id: String,
    /// Its base URL.
    pub url: String,
    /// The SHA-256 of its certificate's public key.
    pub key: [u8; 32],
}

/// The branch's node, from the devices the feed listed; `None` until the node has said
/// where it serves (or when the sede has more than one node, which the hub refuses where
/// kiosks share one).
pub fn node_address(branch: &Branch) -> Result<Option<NodeAddress>, store::StoreError> {
    let devices = branch.read(|_, s| s.branch_devices())?;
    let mut nodes = devices.into_iter().filter(|d| d.role == DeviceRole::Node);
    let (Some(node), None) = (nodes.next(), nodes.next()) else {
        return Ok(None);
    };
    Ok(match (node.lan_url, node.lan_key) {
        (Some(url), Some(key)) => Some(NodeAddress {
            device_id: node.device_id,
            url,
            key,
        }),
        _ => None,
    })
}

/// A request the node did not answer.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Unanswered {
    /// Why.
    pub error: SyncError,
    /// Whether the request may have reached the node and been done there (it was sent and
    /// the answer was lost or late), rather than never sent (no connection).
    pub maybe_done: bool,
}

impl From<SyncError> for Unanswered {
    fn from(error: SyncError) -> Self {
        Self {
            error,
            maybe_done: false,
        }
    }
}

/// The signed client of a kiosk to its node.
#[derive(Clone)]
pub struct NodeClient {
    address: NodeAddress,
    device_id: String,
    key: SigningKey,
    http: reqwest::Client,
}

impl NodeClient {
    /// A client for the kiosk `device_id` to the node at `address`.
    pub fn new(
        address: NodeAddress,
        device_id: &str,
        secret_key: &[u8; 32],
    ) -> Result<Self, SyncError> {
        let (http, _) = http_with(
            Some(HubPins::enrolled(address.key)),
            Duration::from_millis(800),
            VISITOR_WAIT,
        )?;
        Ok(Self {
            address,
            device_id: device_id.to_owned(),
            key: SigningKey::from_bytes(secret_key),
            http,
        })
    }

    /// Where it goes.
    pub fn address(&self) -> &NodeAddress {
        &self.address
    }

    async fn post<R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<Result<R, Refusal>, Unanswered> {
        let body = serde_json::to_vec(body).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let time = chrono::Utc::now().timestamp();
        let sig = self.key.sign(&wire::signing_message(
            "POST",
            path,
            &self.device_id,
            time,
            &body,
        ));
        let r = self
            .http
            .post(format!("{}{path}", self.address.url.trim_end_matches('/')))
            .header(wire::DEVICE_HEADER, &self.device_id)
            .header(wire::TIME_HEADER, time.to_string())
            .header(wire::SIGNATURE_HEADER, wire::hex(&sig.to_bytes()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Unanswered {
                maybe_done: !e.is_connect(),
                error: network(e),
            })?;
        let status = r.status();
        // An answer that cannot be read: the node may have done what was asked.
        let protocol = |e: reqwest::Error| Unanswered {
            error: SyncError::Protocol(e.to_string()),
            maybe_done: true,
        };
        match status {
            s if s == reqwest::StatusCode::NO_CONTENT => Ok(Ok(serde_json::from_str("null")
                .map_err(|e| Unanswered::from(SyncError::Protocol(e.to_string())))?)),
            s if s.is_success() => Ok(Ok(r.json().await.map_err(protocol)?)),
            reqwest::StatusCode::UNPROCESSABLE_ENTITY => {
                Ok(Err(r.json().await.map_err(protocol)?))
            }
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(
                SyncError::Refused(format!("{status}: {}", r.text().await.unwrap_or_default()))
                    .into(),
            ),
            s => Err(
                SyncError::Network(format!("{s}: {}", r.text().await.unwrap_or_default())).into(),
            ),
        }
    }

    /// A walk-in or priority ticket.
    pub async fn issue(
        &self,
        request: &IssueRequest,
    ) -> Result<Result<Issued, Refusal>, Unanswered> {
        self.post(lan::ISSUE, request).await
    }

    /// A check-in.
    pub async fn check_in(
        &self,
        request: &CheckInRequest,
    ) -> Result<Result<Issued, Refusal>, Unanswered> {
        self.post(lan::CHECK_IN, request).await
    }

    /// *Chiama un operatore*.
    pub async fn assist(&self) -> Result<Result<(), Refusal>, Unanswered> {
        self.post(lan::ASSIST, &serde_json::json!({})).await
    }

    /// One sync round.
    pub async fn sync(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        match self.post(lan::SYNC, request).await.map_err(|u| u.error)? {
            Ok(r) => Ok(r),
            Err(refusal) => Err(SyncError::Protocol(refusal.message().to_string())),
        }
    }
}

/// Whether the kiosk heard its node on the last round, shared with its flows and its status.
#[derive(Debug, Default)]
pub struct NodeLink {
    reachable: AtomicBool,
    /// Walk-in requests sent whose answer never came, to name at the next round.
    abandoned: std::sync::Mutex<Vec<String>>,
    waiting: std::sync::Mutex<std::collections::BTreeMap<domain::ServiceLetter, u32>>,
}

impl NodeLink {
    /// People waiting per service as the node last said, while it answers; `None` when it
    /// does not (the kiosk cannot know).
    pub fn waiting(&self) -> Option<std::collections::BTreeMap<domain::ServiceLetter, u32>> {
        self.reachable().then(|| {
            self.waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        })
    }

    /// The node answered the last round.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// A walk-in request sent whose answer never came: named to the node at the next round
    /// (the newest [`lan::MAX_ABANDONED`] are kept).
    pub fn abandon(&self, request: String) {
        let mut list = self.abandoned.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() >= lan::MAX_ABANDONED {
            list.remove(0);
        }
        list.push(request);
    }

    fn abandoned(&self) -> Vec<String> {
        self.abandoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn told(&self, told: &[String]) {
        self.abandoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| !told.contains(r));
    }

    /// Records a round's outcome.
    pub fn set_reachable(&self, yes: bool) {
        if self.reachable.swap(yes, Ordering::AcqRel) != yes {
            if yes {
                tracing::info!("the branch node answers again");
            } else {
                tracing::warn!("the branch node cannot be reached: tickets come from the lease");
            }
        }
    }
}

/// One round with the node: hands over what was printed while cut off (oldest first), tops up
/// the leases, reports `health`. Returns the node's answer.
pub async fn sync_round(
    branch: &Branch,
    client: &NodeClient,
    health: KioskHealth,
    abandoned: Vec<String>,
) -> Result<SyncResponse, SyncError> {
    let store_error = |e: store::StoreError| SyncError::Protocol(e.to_string());
    let today = branch.clock().today();
    let (left, handed) = branch
        .read(|_, s| {
            Ok::<_, store::StoreError>((s.leases_left(today)?, s.offline_pending(lan::MAX_HANDED)?))
        })
        .map_err(store_error)?;
    let request = SyncRequest {
        day: Some(today),
        left,
        handed,
        health,
        abandoned,
    };
    let response = client.sync(&request).await?;
    let taken: Vec<_> = request
        .handed
        .iter()
        .zip(&response.taken)
        .filter_map(|(h, t)| match t {
            Taken::Taken { .. } | Taken::Duplicate { .. } => {
                Some((h.business_day, h.ticket.ticket))
            }
            Taken::Refused { ticket, reason } => {
                tracing::error!(%ticket, %reason, "the node did not take a ticket printed offline");
                None
            }
        })
        .collect();
    let now = branch.clock().now();
    branch
        .with_store(|s| {
            s.offline_handed(&taken, now)?;
            match response.day {
                Some(day) if !response.leases.is_empty() => s.add_leases(day, &response.leases),
                _ => Ok(()),
            }
        })
        .map_err(store_error)?;
    Ok(response)
}

/// Syncs with the node `every` (the default is [`SYNC_EVERY`]; at once when `nudge` is
/// notified), for as long as the kiosk runs; the node's address is read again from the store
/// when it changes.
pub async fn run(
    branch: Arc<Branch>,
    every: Duration,
    device_id: String,
    secret_key: [u8; 32],
    link: Arc<NodeLink>,
    health: impl Fn() -> KioskHealth + Send + 'static,
    nudge: Arc<tokio::sync::Notify>,
) {
    let mut client: Option<NodeClient> = None;
    loop {
        let address = {
            let b = branch.clone();
            tokio::task::spawn_blocking(move || node_address(&b))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
        };
        match address {
            Some(a) if client.as_ref().map(NodeClient::address) != Some(&a) => {
                client = NodeClient::new(a, &device_id, &secret_key)
                    .map_err(|e| tracing::error!(error = %e, "no client for the node"))
                    .ok();
            }
            None => client = None,
            _ => {}
        }
        let told = link.abandoned();
        let ok = match &client {
            Some(c) => match sync_round(&branch, c, health(), told.clone()).await {
                Ok(answer) => {
                    link.told(&told);
                    *link.waiting.lock().unwrap_or_else(|p| p.into_inner()) = answer.waiting;
                    true
                }
                Err(e) => {
                    tracing::debug!(error = %e, "sync with the node failed");
                    false
                }
            },
            None => false,
        };
        link.set_reachable(ok);
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = nudge.notified() => {}
        }
    }
}
