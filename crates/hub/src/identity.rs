//! How the hub identifies visitors: the relying party ([`crate::oidc`]) towards SPID and CIE
//! id (federation), a broker, or the built-in test provider under `/idp` (demo), and how
//! long an identification lasts. Read once at start; the hand-off's flow is in
//! [`crate::handoff`].

use std::sync::Arc;
use std::time::Duration;

use config::{ClientAuth, IdentityMode, IdentitySettings};

use crate::HubError;
use crate::oidc::{RelyingParty, RpKeys, RpSettings, federation};

/// The client the built-in provider knows: the hub itself.
pub const CLIENT_ID: &str = "sportello-hub";

/// The built-in provider's issuer URL under the hub's public address.
pub fn issuer(public_url: &str) -> String {
    format!("{}/idp", public_url.trim_end_matches('/'))
}

/// How long the QR code on the kiosk's screen can be used.
pub const QR_SECONDS: i64 = 180;

/// How long an identity stays bound to the kiosk session.
pub const BINDING_SECONDS: i64 = 300;

/// How the hub identifies visitors.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The hub's address as phones reach it (the QR codes and the redirect point there).
    pub public_url: String,
    /// The provider is the built-in test one (mounted under `/idp` only then).
    pub builtin: bool,
    /// The relying party.
    pub rp: Arc<RelyingParty>,
}

fn read_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>, HubError> {
    std::fs::read(path).map_err(|e| HubError::Config(format!("{what}: {}: {e}", path.display())))
}

impl IdentityConfig {
    /// The built-in test provider under the hub's own address, trusting the hub's certificate,
    /// through the profile's relying party: request objects, `private_key_jwt` and the
    /// UserInfo encrypted to the hub, with keys made for this process.
    pub fn builtin(public_url: &str, trust_pem: &[u8]) -> Result<Self, HubError> {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let http = crate::oidc::http_client(Some(trust_pem), Duration::from_secs(10))?;
        let settings = RpSettings {
            mode: IdentityMode::Broker,
            issuer: issuer(&public_url),
            client_id: CLIENT_ID.into(),
            public_url: public_url.clone(),
            client_auth: ClientAuth::PrivateKeyJwt,
            client_secret: None,
            acr: crate::oidc::SPID_LEVELS[1].into(),
            request_object: true,
            userinfo: true,
            claims: config::ClaimNames::default(),
            federation: None,
        };
        Ok(Self {
            public_url,
            builtin: true,
            rp: Arc::new(RelyingParty::new(
                settings,
                Arc::new(RpKeys::ephemeral()?),
                http,
            )),
        })
    }

    /// A relying party of an outside provider, as `[hub.identity]` describes it.
    pub fn outside(public_url: &str, s: &IdentitySettings) -> Result<Self, HubError> {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let bad = |why: &str| Err(HubError::Config(format!("hub.identity: {why}")));
        let Some(mode) = s.mode else {
            return bad("no mode: set mode = \"federation\" or \"broker\"");
        };
        let Some(issuer) = s.issuer.clone() else {
            return bad("issuer is not set: the provider's issuer URL or entity identifier");
        };
        let federation = mode == IdentityMode::Federation;
        if federation && s.client_auth != ClientAuth::PrivateKeyJwt {
            return bad("the federation accepts only client_auth = \"private_key_jwt\"");
        }
        let keys = RpKeys::from_files(&s.signing_keys, &s.encryption_keys)?;
        let needs_key =
            s.client_auth == ClientAuth::PrivateKeyJwt || s.request_object || federation;
        if needs_key && keys.signer().is_none() {
            return bad(
                "signing_keys is empty, and private_key_jwt, request objects and the federation sign with the first of them",
            );
        }
        if federation && !keys.can_decrypt() {
            return bad(
                "encryption_keys is empty: SPID and CIE encrypt the UserInfo to the hub's key",
            );
        }
        let client_secret = match (&s.client_auth, &s.client_secret_file) {
            (ClientAuth::PrivateKeyJwt, _) => None,
            (_, Some(path)) => Some(
                String::from_utf8(read_file("client_secret_file", path)?)
                    .map_err(|_| {
                        HubError::Config("hub.identity.client_secret_file: not text".into())
                    })?
                    .trim()
                    .to_owned(),
            ),
            (_, None) => {
                return bad("client_secret_file is not set, and client_auth asks for a secret");
            }
        };
        let client_id = match (&s.client_id, federation) {
            (Some(id), _) => id.clone(),
            (None, true) => public_url.clone(),
            (None, false) => return bad("client_id is not set: the id the broker gave the hub"),
        };
        let trust = if federation {
            let (Some(anchor), Some(anchor_keys)) = (&s.trust_anchor, &s.trust_anchor_keys) else {
                return bad("the federation needs trust_anchor and trust_anchor_keys");
            };
            let json: serde_json::Value =
                serde_json::from_slice(&read_file("trust_anchor_keys", anchor_keys)?).map_err(
                    |e| HubError::Config(format!("hub.identity.trust_anchor_keys: {e}")),
                )?;
            let mut trust_marks = Vec::new();
            for path in &s.trust_marks {
                let mark = String::from_utf8(read_file("trust_marks", path)?)
                    .map_err(|_| HubError::Config(format!("{}: not text", path.display())))?;
                trust_marks.push(mark.trim().to_owned());
            }
            Some(federation::Trust {
                anchor: anchor.clone(),
                anchor_keys: crate::oidc::jose::key_set(&json).map_err(|e| {
                    HubError::Config(format!("hub.identity.trust_anchor_keys: {e}"))
                })?,
                authority_hints: if s.authority_hints.is_empty() {
                    vec![anchor.clone()]
                } else {
                    s.authority_hints.clone()
                },
                trust_marks,
                required_marks: s.provider_trust_marks.clone(),
                organization_name: s.organization_name.clone(),
                contacts: s.contacts.clone(),
            })
        } else {
            None
        };
        let trust_pem = match &s.ca {
            Some(path) => Some(read_file("ca", path)?),
            None => None,
        };
        let http = crate::oidc::http_client(
            trust_pem.as_deref(),
            Duration::from_secs(s.timeout_seconds.max(1)),
        )?;
        let settings = RpSettings {
            mode,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id,
            public_url: public_url.clone(),
            client_auth: s.client_auth,
            client_secret,
            acr: s.acr.clone(),
            request_object: s.request_object || federation,
            userinfo: s.userinfo || federation,
            claims: s.claims.clone(),
            federation: trust,
        };
        Ok(Self {
            public_url,
            builtin: false,
            rp: Arc::new(RelyingParty::new(settings, Arc::new(keys), http)),
        })
    }

    /// From the hub's configuration: the outside provider, or the built-in test provider when
    /// asked for by name (`demo_identity`); `None` without a public address. Anything else is
    /// refused at start: a hub facing the internet must never fall back to demo identities.
    pub fn from_config(
        config: &config::HubConfig,
        hub_cert_pem: &[u8],
    ) -> Result<Option<Self>, HubError> {
        let Some(public_url) = config.public_url.as_deref() else {
            return Ok(None);
        };
        match (config.identity.mode, config.demo_identity) {
            (Some(_), true) => Err(HubError::Config(
                "hub.identity.mode and hub.demo_identity are both set: choose the real provider or the test one".into(),
            )),
            (None, false) => Err(HubError::Config(
                "hub.public_url is set but no identity provider is: set [hub.identity] with a mode \
                 (SPID/CIE through the federation, or a broker; docs/identity.md), or \
                 hub.demo_identity = true for the built-in test provider (demo identities, never \
                 in production)"
                    .into(),
            )),
            (None, true) => Self::builtin(public_url, hub_cert_pem).map(Some),
            (Some(_), false) => Self::outside(public_url, &config.identity).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_hub_names_its_provider_and_never_falls_back_to_the_test_one() {
        let tls = web::tls::self_signed().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "dato dal broker\n").unwrap();
        let config = |mode: Option<IdentityMode>, demo: bool, secret: Option<&std::path::Path>| {
            config::HubConfig {
                public_url: Some("https://hub.example".into()),
                demo_identity: demo,
                identity: IdentitySettings {
                    mode,
                    issuer: Some("https://idp.example/".into()),
                    client_id: Some("hub-at-broker".into()),
                    client_auth: ClientAuth::ClientSecretBasic,
                    client_secret_file: secret.map(std::path::Path::to_path_buf),
                    ..Default::default()
                },
                ..Default::default()
            }
        };
        let refusal = |c: &config::HubConfig| {
            IdentityConfig::from_config(c, &tls.cert)
                .unwrap_err()
                .to_string()
        };
        let broker = Some(IdentityMode::Broker);
        assert!(refusal(&config(None, false, None)).contains("hub.demo_identity = true"));
        assert!(refusal(&config(broker, true, None)).contains("both"));
        assert!(refusal(&config(broker, false, None)).contains("client_secret_file"));
        let mut federation = config(Some(IdentityMode::Federation), false, None);
        assert!(refusal(&federation).contains("private_key_jwt"));
        federation.identity.client_auth = ClientAuth::PrivateKeyJwt;
        assert!(refusal(&federation).contains("signing_keys"));

        let demo = IdentityConfig::from_config(&config(None, true, None), &tls.cert)
            .unwrap()
            .unwrap();
        assert!(demo.builtin);
        assert_eq!(demo.rp.settings().issuer, "https://hub.example/idp");
        let real = IdentityConfig::from_config(&config(broker, false, Some(&secret)), &tls.cert)
            .unwrap()
            .unwrap();
        assert!(!real.builtin);
        let s = real.rp.settings();
        assert_eq!(s.issuer, "https://idp.example");
        assert_eq!(s.client_secret.as_deref(), Some("dato dal broker"));
        let private = config::HubConfig::default();
        assert!(
            IdentityConfig::from_config(&private, &tls.cert)
                .unwrap()
                .is_none()
        );
    }
}
