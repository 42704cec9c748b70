//! How the hub identifies visitors: the OpenID Connect provider it trusts (SPID/CIE through
//! their adapter, or the built-in test provider under `/idp`) and how long an identification
//! lasts. Read once at start; the relying party's flow is in [`crate::handoff`].

use crate::HubError;

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
    /// The provider's issuer URL.
    pub issuer: String,
    /// The hub's client id at the provider.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// HTTP client for the provider (trusting its certificate).
    pub http: reqwest::Client,
    /// The provider is the built-in test one (mounted under `/idp` only then).
    pub builtin: bool,
}

impl IdentityConfig {
    /// The built-in test provider under the hub's own address, trusting the hub's certificate.
    pub fn builtin(
        public_url: &str,
        trust_pem: &[u8],
        client_secret: &str,
    ) -> Result<Self, HubError> {
        // The hub's HTTPS client and server share one rustls provider, whichever starts first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = reqwest::Certificate::from_pem_bundle(trust_pem)
            .map_err(|e| HubError::Config(format!("trusted certificates: {e}")))?;
        let http = reqwest::Client::builder()
            .tls_certs_only(certs)
            // The relying party must see the provider's redirects, never follow them.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| HubError::Config(e.to_string()))?;
        Ok(Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            issuer: issuer(public_url),
            client_id: CLIENT_ID.into(),
            client_secret: client_secret.into(),
            http,
            builtin: true,
        })
    }

    /// From the hub's configuration: the external provider, or the built-in test provider when
    /// asked for by name (`demo_identity`); `None` without a public address. Anything else is
    /// refused at start: a hub facing the internet must never fall back to demo identities,
    /// nor talk to a real provider with the published demo secret.
    pub fn from_config(
        config: &config::HubConfig,
        hub_cert_pem: &[u8],
    ) -> Result<Option<Self>, HubError> {
        let Some(public_url) = config.public_url.as_deref() else {
            return Ok(None);
        };
        match (&config.oidc_issuer, config.demo_identity) {
            (Some(_), true) => {
                return Err(HubError::Config(
                    "hub.oidc_issuer and hub.demo_identity are both set: choose the real provider or the test one".into(),
                ));
            }
            (None, false) => {
                return Err(HubError::Config(
                    "hub.public_url is set but no identity provider is: set hub.oidc_issuer \
                     (the SPID/CIE provider), or hub.demo_identity = true for the built-in test \
                     provider (demo identities, never in production)"
                        .into(),
                ));
            }
            (Some(_), false)
                if config.oidc_client_secret == config::HubConfig::default().oidc_client_secret =>
            {
                return Err(HubError::Config(
                    "hub.oidc_client_secret is the published demo secret: set the one the provider gave the hub".into(),
                ));
            }
            _ => {}
        }
        let trust = match &config.oidc_ca {
            Some(path) => std::fs::read(path)
                .map_err(|e| HubError::Config(format!("{}: {e}", path.display())))?,
            None => hub_cert_pem.to_vec(),
        };
        let mut identity = Self::builtin(public_url, &trust, &config.oidc_client_secret)?;
        if let Some(issuer) = &config.oidc_issuer {
            identity.issuer = issuer.trim_end_matches('/').to_owned();
            identity.client_id = config.oidc_client_id.clone();
            identity.builtin = false;
        }
        Ok(Some(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_hub_names_its_provider_and_never_falls_back_to_the_test_one() {
        let tls = web::tls::self_signed().unwrap();
        let config = |issuer: Option<&str>, demo: bool, secret: Option<&str>| {
            let mut c = config::HubConfig {
                public_url: Some("https://hub.example".into()),
                oidc_issuer: issuer.map(str::to_owned),
                demo_identity: demo,
                ..Default::default()
            };
            if let Some(s) = secret {
                c.oidc_client_secret = s.into();
            }
            c
        };
        let refusal = |c: &config::HubConfig| {
            IdentityConfig::from_config(c, &tls.cert)
                .unwrap_err()
                .to_string()
        };
        assert!(refusal(&config(None, false, None)).contains("hub.demo_identity = true"));
        assert!(refusal(&config(Some("https://idp.example"), true, None)).contains("both"));
        assert!(refusal(&config(Some("https://idp.example"), false, None)).contains("demo secret"));

        let demo = IdentityConfig::from_config(&config(None, true, None), &tls.cert)
            .unwrap()
            .unwrap();
        assert!(demo.builtin);
        assert_eq!(demo.issuer, "https://hub.example/idp");
        let real = IdentityConfig::from_config(
            &config(
                Some("https://idp.example/"),
                false,
                Some("dato dal provider"),
            ),
            &tls.cert,
        )
        .unwrap()
        .unwrap();
        assert!(!real.builtin);
        assert_eq!(real.issuer, "https://idp.example");
        let private = config::HubConfig::default();
        assert!(
            IdentityConfig::from_config(&private, &tls.cert)
                .unwrap()
                .is_none()
        );
    }
}
