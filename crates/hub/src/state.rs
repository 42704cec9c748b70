//! What every request handler shares: the database pool, the feeds' heads for waiting pulls,
//! and the settings read once at start.

use std::sync::{Arc, OnceLock};

use deadpool_postgres::Pool;

use crate::feed::{self, Heads};
use crate::identity::IdentityConfig;

/// The state behind every route.
#[derive(Clone)]
pub struct HubState {
    /// The database.
    pub pool: Pool,
    /// The feeds' heads, for pulls waiting for changes.
    pub heads: Arc<Heads>,
    /// Kiosks older than this are told to update (426) instead of having their pushes
    /// applied; they keep their outbox meanwhile.
    pub min_client_version: Option<String>,
    /// How visitors are identified (set once the hub knows its public address).
    pub identity: Arc<OnceLock<IdentityConfig>>,
    /// The pseudonymous person keys booking tokens carry, with the kiosks' secret; unset:
    /// the Agenda cannot book.
    pub person_keyer: Option<Arc<domain::PersonKeyer>>,
    /// The load balancers whose `X-Forwarded-For` names the client ([`crate::extract::ClientIp`]).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// The key that seals the signing keys in the database ([`crate::keys`]); unset: nothing
    /// is signed (no bookings, no test provider).
    pub kek: Option<Arc<crate::keys::Kek>>,
    /// The keys this hub may present, announced to the kiosks in every pull (hex key pins).
    pub hub_keys: Arc<[String]>,
    /// What this instance counts for `/metrics`.
    pub counts: Arc<crate::counts::Counts>,
    /// The bearer token of `/metrics` (`hub.metrics_token`); unset: no metrics.
    pub metrics_token: Option<String>,
}

impl HubState {
    /// The state over `pool`, with the task that watches the feeds' heads for waiting pulls
    /// (one query for all branches, whichever instance wrote). Call inside a tokio runtime.
    pub fn new(pool: Pool) -> Self {
        let heads = Arc::new(Heads::default());
        tokio::spawn(feed::watch_heads(
            pool.clone(),
            Arc::downgrade(&heads),
            std::time::Duration::from_millis(250),
        ));
        Self {
            pool,
            heads,
            min_client_version: None,
            identity: Arc::default(),
            person_keyer: None,
            trusted_proxies: Arc::new([]),
            kek: None,
            hub_keys: Arc::new([]),
            counts: Arc::default(),
            metrics_token: None,
        }
    }

    /// Believes `X-Forwarded-For` from these addresses or networks (`hub.trusted_proxies`).
    pub fn with_trusted_proxies(mut self, proxies: &[String]) -> Result<Self, crate::HubError> {
        self.trusted_proxies = proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        crate::HubError::Config(format!(
                            "hub.trusted_proxies: {p:?} is not an address or a network (10.0.0.0/24)"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Books with person keys made with `secret` (the kiosks' `privacy.person_key_secret`).
    pub fn with_person_key_secret(mut self, secret: Option<&str>) -> Self {
        self.person_keyer = secret
            .and_then(|s| domain::PersonKeyer::new(s.as_bytes()))
            .map(Arc::new);
        self
    }

    /// Signs with the keys `kek` sealed (checked against the database by [`crate::keys`]).
    pub fn with_kek(mut self, kek: Arc<crate::keys::Kek>) -> Self {
        self.kek = Some(kek);
        self
    }

    /// The key-encryption key, or why nothing can be signed.
    pub fn kek(&self) -> Result<&crate::keys::Kek, crate::HubError> {
        self.kek.as_deref().ok_or_else(|| {
            crate::HubError::Unavailable(
                "hub.key_encryption_key is not loaded: nothing can be signed".into(),
            )
        })
    }

    /// Announces these key pins to the kiosks: the current certificate's and, ahead of a move
    /// to a new key, the next one's.
    pub fn with_hub_keys(mut self, pins: Vec<String>) -> Self {
        self.hub_keys = pins.into();
        self
    }

    /// Serves `/metrics` to whoever sends this bearer token.
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.filter(|t| !t.is_empty());
        self
    }

    /// Refuses pushes from kiosks older than `version`.
    pub fn with_min_client_version(mut self, version: Option<String>) -> Self {
        self.min_client_version = version;
        self
    }

    /// How visitors are identified, or why they cannot be.
    pub fn identity(&self) -> Result<&IdentityConfig, crate::HubError> {
        self.identity.get().ok_or_else(|| {
            crate::HubError::Unavailable("identification is not configured (hub.public_url)".into())
        })
    }
}
