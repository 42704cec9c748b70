//! The hub as an OpenID Connect relying party that SPID and CIE id providers accept (the
//! Italian OpenID Connect profile: iGov with OpenID Federation 1.0), or a broker in front of
//! them. One code path for both modes, and for the built-in test provider of the demo:
//!
//! - the authorisation request carries PKCE (S256), a nonce, `acr_values` and the claims
//!   asked for, and in the profile goes as a request object signed with the hub's key;
//! - the hub authenticates at the token endpoint with a client assertion signed with its key
//!   (`private_key_jwt`), or a client secret where a broker wants one;
//! - the ID token is checked against the provider's keys (fetched again once when a key id is
//!   unknown, for the provider's own rotation) with the algorithms its metadata names:
//!   issuer, audience, expiry, nonce, `at_hash`, and the authentication level;
//! - the `iss` of the authorisation response (RFC 9207) must be the provider's, when it
//!   announces it;
//! - the attributes come from the UserInfo endpoint, signed then encrypted to the hub's key,
//!   or from the ID token through a configured mapping of claims.
//!
//! The provider's metadata come from its discovery document (broker) or from a trust chain
//! up to the configured trust anchor (federation, [`federation`]), and are kept until the
//! chain expires or an hour has passed.

pub mod answer;
pub mod federation;
pub mod jose;
pub mod keys;

use std::sync::Arc;
use std::time::{Duration, Instant};

use config::{ClaimNames, ClientAuth, IdentityMode};
use josekit::jwk::JwkSet;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::HubError;
pub use answer::{Refusal, SPID_LEVELS};
use answer::{SKEW_SECONDS, body, claim_str, get, now, send, str_list};
pub use keys::RpKeys;

/// How long a request object or client assertion is valid: enough to cross the network,
/// short enough that a copy is soon useless.
const ASSERTION_SECONDS: i64 = 60;

/// How long discovered metadata are kept when nothing says less.
const METADATA_SECONDS: u64 = 3600;

/// Who the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// The fiscal number, checked.
    pub cf: String,
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// The level it was done at.
    pub acr: String,
}

/// What the hub keeps between the authorisation request and the provider's answer.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Where to send the phone.
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// A provider's metadata and keys, as resolved.
struct Provider {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    keys: std::sync::Mutex<(JwkSet, Instant)>,
    id_token_algs: Vec<String>,
    userinfo_algs: Vec<String>,
    iss_parameter: bool,
    until: Instant,
}

impl Provider {
    fn keys(&self) -> JwkSet {
        self.keys.lock().expect("not poisoned").0.clone()
    }
}

/// How the relying party is set up.
pub struct RpSettings {
    pub mode: IdentityMode,
    /// The provider's issuer or entity identifier.
    pub issuer: String,
    pub client_id: String,
    /// The hub's public address (its entity identifier in federation).
    pub public_url: String,
    pub client_auth: ClientAuth,
    pub client_secret: Option<String>,
    pub acr: String,
    pub request_object: bool,
    pub userinfo: bool,
    pub claims: ClaimNames,
    pub federation: Option<federation::Trust>,
}

/// The relying party.
pub struct RelyingParty {
    settings: RpSettings,
    keys: Arc<RpKeys>,
    http: reqwest::Client,
    provider: tokio::sync::Mutex<Option<Arc<Provider>>>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("mode", &self.settings.mode)
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn random() -> String {
    web::auth::random_hex(32)
}

impl RelyingParty {
    pub fn new(settings: RpSettings, keys: Arc<RpKeys>, http: reqwest::Client) -> Self {
        Self {
            settings,
            keys,
            http,
            provider: tokio::sync::Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &RpSettings {
        &self.settings
    }

    pub fn keys(&self) -> &RpKeys {
        &self.keys
    }

    fn redirect_uri(&self) -> String {
        format!("{}/h/callback", self.settings.public_url)
    }

    /// The levels accepted: the one asked for and those above it.
    fn accepted(&self, acr: &str) -> bool {
        let asked = &self.settings.acr;
        match (
            SPID_LEVELS.iter().position(|l| l == asked),
            SPID_LEVELS.iter().position(|l| *l == acr),
        ) {
            (Some(want), Some(got)) => got >= want,
            _ => acr == asked,
        }
    }

    /// The provider's metadata, resolved again when they have expired.
    async fn provider(&self) -> Result<Arc<Provider>, Refusal> {
        let mut cached = self.provider.lock().await;
        if let Some(p) = cached.as_ref()
            && p.until > Instant::now()
        {
            return Ok(p.clone());
        }
        let (metadata, ttl) = match &self.settings.federation {
            Some(trust) => {
                let chain = federation::resolve(&self.http, trust, &self.settings.issuer)
                    .await
                    .map_err(|e| match e {
                        Refusal::Invalid(why) => Refusal::Invalid(format!("trust chain: {why}")),
                        other => other,
                    })?;
                let ttl = (chain.expires - now()).clamp(0, METADATA_SECONDS as i64) as u64;
                (chain.metadata, ttl)
            }
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let bytes = get(&self.http, &url).await?;
                let m: Map<String, Value> = serde_json::from_slice(&bytes)
                    .map_err(|e| Refusal::Invalid(format!("discovery: {e}")))?;
                (m, METADATA_SECONDS)
            }
        };
        let s = |k: &str| claim_str(&metadata, k).map(str::to_owned);
        let issuer = s("issuer").ok_or(Refusal::Invalid("metadata without issuer".into()))?;
        if issuer.trim_end_matches('/') != self.settings.issuer.trim_end_matches('/') {
            return Err(Refusal::Invalid(format!(
                "the provider calls itself {issuer}, not {}",
                self.settings.issuer
            )));
        }
        let need = |k: &str| s(k).ok_or_else(|| Refusal::Invalid(format!("metadata without {k}")));
        let (keys, jwks_uri) = match (metadata.get("jwks"), s("jwks_uri")) {
            (Some(jwks), _) => (jose::key_set(jwks).map_err(Refusal::Invalid)?, None),
            (None, Some(uri)) => (self.fetch_keys(&uri).await?, Some(uri)),
            (None, None) => return Err(Refusal::Invalid("metadata without keys".into())),
        };
        let mut id_token_algs = str_list(metadata.get("id_token_signing_alg_values_supported"));
        if id_token_algs.is_empty() {
            id_token_algs.push("RS256".into());
        }
        let provider = Arc::new(Provider {
            authorization_endpoint: need("authorization_endpoint")?,
            token_endpoint: need("token_endpoint")?,
            userinfo_endpoint: s("userinfo_endpoint"),
            jwks_uri,
            keys: std::sync::Mutex::new((keys, Instant::now())),
            userinfo_algs: str_list(metadata.get("userinfo_signing_alg_values_supported")),
            id_token_algs,
            iss_parameter: metadata
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            issuer,
            until: Instant::now() + Duration::from_secs(ttl),
        });
        *cached = Some(provider.clone());
        Ok(provider)
    }

    async fn fetch_keys(&self, uri: &str) -> Result<JwkSet, Refusal> {
        let bytes = get(&self.http, uri).await?;
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Refusal::Invalid(format!("the provider's keys: {e}")))?;
        jose::key_set(&json).map_err(Refusal::Invalid)
    }

    /// Checks a JWS from the provider; a key id it does not know makes it fetch the keys
    /// again, at most once a minute, since providers rotate.
    async fn verify(
        &self,
        provider: &Provider,
        token: &str,
        algs: &[String],
    ) -> Result<Map<String, Value>, Refusal> {
        let allowed: Vec<&str> = algs.iter().map(String::as_str).collect();
        match jose::verify(token, &provider.keys(), &allowed) {
            Ok((claims, _)) => Ok(claims),
            Err(jose::SignatureError::UnknownKey(kid)) => {
                let refetch = provider.jwks_uri.as_deref().filter(|_| {
                    provider.keys.lock().expect("not poisoned").1.elapsed()
                        > Duration::from_secs(60)
                });
                let Some(uri) = refetch else {
                    return Err(Refusal::Invalid(format!(
                        "signed with an unknown key id {kid:?}"
                    )));
                };
                let keys = self.fetch_keys(uri).await?;
                *provider.keys.lock().expect("not poisoned") = (keys.clone(), Instant::now());
                jose::verify(token, &keys, &allowed)
                    .map(|(c, _)| c)
                    .map_err(|e| Refusal::Invalid(e.to_string()))
            }
            Err(e) => Err(Refusal::Invalid(e.to_string())),
        }
    }

    /// The claims asked for, in the profile's `claims` parameter.
    fn claims_request(&self) -> Value {
        let c = &self.settings.claims;
        let mut wanted = Map::new();
        wanted.insert(c.fiscal_number.clone(), json!({"essential": true}));
        for k in [&c.given_name, &c.family_name, &c.email, &c.mobile] {
            wanted.insert(k.clone(), Value::Null);
        }
        if self.settings.userinfo {
            json!({ "userinfo": wanted })
        } else {
            json!({ "id_token": wanted })
        }
    }

    /// The authorisation request: where to send the phone, and what to keep for the answer.
    pub async fn begin(&self) -> Result<Pending, Refusal> {
        let provider = self.provider().await?;
        let (state, nonce) = (random(), random());
        let verifier = jose::b64(&{
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| Refusal::Invalid(e.to_string()))?;
            b
        });
        let challenge = jose::b64(&sha2::Sha256::digest(verifier.as_bytes()));
        let profile = self.settings.mode == IdentityMode::Federation;
        let scope = if profile {
            "openid"
        } else {
            "openid profile email phone"
        };
        let mut params: Vec<(&str, String)> = vec![
            ("client_id", self.settings.client_id.clone()),
            ("response_type", "code".into()),
            ("scope", scope.into()),
            ("redirect_uri", self.redirect_uri()),
            ("state", state.clone()),
            ("nonce", nonce.clone()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".into()),
            ("acr_values", self.settings.acr.clone()),
            ("claims", self.claims_request().to_string()),
            ("ui_locales", "it".into()),
        ];
        if profile {
            // The profile asks the provider to authenticate and to ask for consent each time.
            params.push(("prompt", "consent login".into()));
        }
        let query = if self.settings.request_object {
            let signer = self.keys.signer().ok_or_else(|| {
                Refusal::Invalid("request objects need a signing key (signing_keys)".into())
            })?;
            let mut claims: Map<String, Value> = params
                .iter()
                .map(|(k, v)| {
                    let v = if *k == "claims" {
                        serde_json::from_str(v).unwrap_or(Value::Null)
                    } else {
                        Value::String(v.clone())
                    };
                    ((*k).to_owned(), v)
                })
                .collect();
            let t = now();
            claims.insert("iss".into(), self.settings.client_id.clone().into());
            claims.insert(
                "aud".into(),
                json!([provider.issuer, provider.authorization_endpoint]),
            );
            claims.insert("iat".into(), t.into());
            claims.insert("exp".into(), (t + ASSERTION_SECONDS).into());
            claims.insert("jti".into(), random().into());
            let request = jose::sign(
                &Value::Object(claims),
                "oauth-authz-req+jwt",
                signer.signer(),
            )
            .map_err(Refusal::Invalid)?;
            // The query repeats what OAuth needs to read before it opens the request object.
            let mut q: Vec<(&str, String)> = params
                .into_iter()
                .filter(|(k, _)| {
                    matches!(
                        *k,
                        "client_id"
                            | "response_type"
                            | "scope"
                            | "code_challenge"
                            | "code_challenge_method"
                    )
                })
                .collect();
            q.push(("request", request));
            q
        } else {
            params
        };
        let sep = if provider.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{sep}{}",
            provider.authorization_endpoint,
            serde_urlencoded::to_string(&query).map_err(|e| Refusal::Invalid(e.to_string()))?
        );
        Ok(Pending {
            url,
            state,
            nonce,
            verifier,
        })
    }

    /// The client assertion for the token endpoint (RFC 7523).
    fn client_assertion(&self, audience: &str) -> Result<String, Refusal> {
        let signer = self.keys.signer().ok_or_else(|| {
            Refusal::Invalid("private_key_jwt needs a signing key (signing_keys)".into())
        })?;
        let t = now();
        jose::sign(
            &json!({
                "iss": self.settings.client_id,
                "sub": self.settings.client_id,
                "aud": audience,
                "iat": t,
                "exp": t + ASSERTION_SECONDS,
                "jti": random(),
            }),
            "JWT",
            signer.signer(),
        )
        .map_err(Refusal::Invalid)
    }

    /// The provider's answer at the callback: `code` and the `iss` it came with, checked and
    /// exchanged; the ID token and the attributes checked.
    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        nonce: &str,
        verifier: &str,
    ) -> Result<Identified, Refusal> {
        let provider = self.provider().await?;
        match iss {
            Some(i) if i != provider.issuer => {
                return Err(Refusal::Invalid(format!(
                    "the answer comes from {i}, not from {}",
                    provider.issuer
                )));
            }
            None if provider.iss_parameter => {
                return Err(Refusal::Invalid(
                    "the answer does not name its issuer".into(),
                ));
            }
            _ => {}
        }
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.redirect_uri()),
            ("code_verifier", verifier.to_owned()),
            ("client_id", self.settings.client_id.clone()),
        ];
        let mut req = self.http.post(&provider.token_endpoint);
        match self.settings.client_auth {
            ClientAuth::PrivateKeyJwt => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push((
                    "client_assertion",
                    self.client_assertion(&provider.token_endpoint)?,
                ));
            }
            ClientAuth::ClientSecretBasic => {
                let enc = |s: &str| {
                    serde_urlencoded::to_string([("", s)])
                        .map(|e| e[1..].to_owned())
                        .unwrap_or_default()
                };
                req = req.basic_auth(
                    enc(&self.settings.client_id),
                    Some(enc(self.settings.client_secret.as_deref().unwrap_or(""))),
                );
            }
            ClientAuth::ClientSecretPost => {
                form.push((
                    "client_secret",
                    self.settings.client_secret.clone().unwrap_or_default(),
                ));
            }
        }
        let r = req
            .form(&form)
            .send()
            .await
            .map_err(|e| Refusal::Unavailable(format!("token endpoint: {e}")))?;
        let status = r.status();
        let answer: Map<String, Value> = serde_json::from_slice(&body(r).await?)
            .map_err(|_| Refusal::Unavailable(format!("token endpoint: {status}, not JSON")))?;
        if status.is_server_error() {
            return Err(Refusal::Unavailable(format!("token endpoint: {status}")));
        }
        if !status.is_success() {
            return Err(Refusal::Invalid(format!(
                "token endpoint: {}",
                claim_str(&answer, "error").unwrap_or("refused")
            )));
        }
        let id_token =
            claim_str(&answer, "id_token").ok_or_else(|| Refusal::Invalid("no ID token".into()))?;
        let access_token = claim_str(&answer, "access_token").unwrap_or_default();
        let claims = self
            .verify(&provider, id_token, &provider.id_token_algs)
            .await
            .map_err(|e| match e {
                Refusal::Invalid(why) => Refusal::Invalid(format!("ID token: {why}")),
                other => other,
            })?;
        self.check_id_token(&provider, &claims, id_token, access_token, nonce)?;
        let acr = claim_str(&claims, "acr").unwrap_or_default().to_owned();
        let attributes = if self.settings.userinfo {
            let mut userinfo = self.userinfo(&provider, access_token).await?;
            if userinfo.get("sub") != claims.get("sub") {
                return Err(Refusal::Invalid(
                    "UserInfo speaks of another subject than the ID token".into(),
                ));
            }
            for (k, v) in &claims {
                userinfo.entry(k.clone()).or_insert_with(|| v.clone());
            }
            userinfo
        } else {
            claims
        };
        self.identified(&attributes, acr)
    }

    fn check_id_token(
        &self,
        provider: &Provider,
        claims: &Map<String, Value>,
        id_token: &str,
        access_token: &str,
        nonce: &str,
    ) -> Result<(), Refusal> {
        let bad = |why: String| Err(Refusal::Invalid(format!("ID token: {why}")));
        if claim_str(claims, "iss") != Some(provider.issuer.as_str()) {
            return bad(format!("issuer {:?}", claims.get("iss")));
        }
        let client = self.settings.client_id.as_str();
        let audience_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == client,
            Some(Value::Array(a)) => {
                a.iter().any(|x| x.as_str() == Some(client))
                    && (a.len() == 1 || claim_str(claims, "azp") == Some(client))
            }
            _ => false,
        };
        if !audience_ok {
            return bad(format!(
                "meant for {:?}, not for this hub",
                claims.get("aud")
            ));
        }
        let t = now();
        let exp = claims.get("exp").and_then(Value::as_i64);
        if exp.is_none_or(|e| e + SKEW_SECONDS < t) {
            return bad("expired".into());
        }
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_none_or(|i| i > t + SKEW_SECONDS)
        {
            return bad("issued in the future, or without a time".into());
        }
        if claim_str(claims, "nonce") != Some(nonce) {
            return bad("the nonce is not this request's".into());
        }
        if claim_str(claims, "sub").is_none() {
            return bad("no subject".into());
        }
        let alg = jose::header(id_token)
            .ok()
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        match (
            claim_str(claims, "at_hash"),
            jose::half_hash(&alg, access_token),
        ) {
            (Some(got), Some(want)) if got != want => {
                return bad("at_hash does not match the access token".into());
            }
            (None, _) if self.settings.mode == IdentityMode::Federation => {
                return bad("no at_hash".into());
            }
            _ => {}
        }
        match claim_str(claims, "acr") {
            Some(acr) if self.accepted(acr) => Ok(()),
            got => Err(Refusal::Level(got.map(str::to_owned))),
        }
    }

    async fn userinfo(
        &self,
        provider: &Provider,
        access_token: &str,
    ) -> Result<Map<String, Value>, Refusal> {
        let url = provider
            .userinfo_endpoint
            .as_deref()
            .ok_or_else(|| Refusal::Invalid("the provider has no UserInfo endpoint".into()))?;
        let r = send(self.http.get(url).bearer_auth(access_token), "UserInfo").await?;
        let jwt = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/jwt"));
        let bytes = body(r).await?;
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        let federation = self.settings.mode == IdentityMode::Federation;
        let signed = match (jwt, text.split('.').count()) {
            (true, 5) => String::from_utf8(self.keys.decrypt(&text).map_err(Refusal::Invalid)?)
                .map_err(|_| Refusal::Invalid("UserInfo: not text".into()))?,
            (true, 3) if !federation => text,
            (false, _) if !federation => {
                return serde_json::from_str(&text)
                    .map_err(|e| Refusal::Invalid(format!("UserInfo: {e}")));
            }
            _ => {
                return Err(Refusal::Invalid(
                    "UserInfo must be signed and encrypted to the hub".into(),
                ));
            }
        };
        let algs = if provider.userinfo_algs.is_empty() {
            &provider.id_token_algs
        } else {
            &provider.userinfo_algs
        };
        let claims = self
            .verify(provider, signed.trim(), algs)
            .await
            .map_err(|e| match e {
                Refusal::Invalid(why) => Refusal::Invalid(format!("UserInfo: {why}")),
                other => other,
            })?;
        if let Some(iss) = claims.get("iss")
            && iss.as_str() != Some(provider.issuer.as_str())
        {
            return Err(Refusal::Invalid("UserInfo from another issuer".into()));
        }
        if let Some(aud) = claims.get("aud") {
            let ok = match aud {
                Value::String(a) => *a == self.settings.client_id,
                Value::Array(a) => a
                    .iter()
                    .any(|x| x.as_str() == Some(self.settings.client_id.as_str())),
                _ => false,
            };
            if !ok {
                return Err(Refusal::Invalid("UserInfo meant for another client".into()));
            }
        }
        Ok(claims)
    }

    /// The person, from the claims through the configured names.
    fn identified(&self, claims: &Map<String, Value>, acr: String) -> Result<Identified, Refusal> {
        let names = &self.settings.claims;
        let raw = claim_str(claims, &names.fiscal_number).ok_or_else(|| {
            Refusal::Invalid(format!("no fiscal number in {}", names.fiscal_number))
        })?;
        let cf = raw.strip_prefix("TINIT-").unwrap_or(raw);
        let cf = domain::CodiceFiscale::parse(cf)
            .map_err(|e| Refusal::Invalid(format!("the fiscal number is not valid: {e}")))?
            .to_string();
        let name = claim_str(claims, &names.name).map_or_else(
            || {
                [&names.given_name, &names.family_name]
                    .iter()
                    .filter_map(|k| claim_str(claims, k))
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            str::to_owned,
        );
        Ok(Identified {
            cf,
            name,
            email: claim_str(claims, &names.email).map(str::to_owned),
            mobile: claim_str(claims, &names.mobile).map(str::to_owned),
            acr,
        })
    }
}

impl RelyingParty {
    /// The hub's entity configuration: who it is, its keys, its authorities and trust marks, and
    /// its metadata as a relying party; signed with its current key.
    pub fn entity_configuration(&self, trust: &federation::Trust) -> Result<String, String> {
        let rp = self;
        let keys = rp.keys();
        let signer = keys
            .signer()
            .ok_or("the entity configuration needs a signing key (signing_keys)")?;
        let s = rp.settings();
        let entity = &s.client_id;
        let t = now();
        let marks: Vec<Value> = trust
            .trust_marks
            .iter()
            .filter_map(|m| {
                let claims = jose::unverified_claims(m).ok()?;
                let id = claims.get("trust_mark_id").or_else(|| claims.get("id"))?;
                Some(json!({ "id": id, "trust_mark_id": id, "trust_mark": m }))
            })
            .collect();
        let claims = json!({
            "iss": entity,
            "sub": entity,
            "iat": t,
            "exp": t + federation::ENTITY_SECONDS,
            "jwks": keys.jwks(),
            "authority_hints": trust.authority_hints,
            "trust_marks": marks,
            "metadata": {
                "federation_entity": {
                    "organization_name": trust.organization_name,
                    "contacts": trust.contacts,
                    "homepage_uri": s.public_url,
                },
                "openid_relying_party": {
                    "client_id": entity,
                    "client_name": "Sportello",
                    "application_type": "web",
                    "client_registration_types": ["automatic"],
                    "redirect_uris": [rp.redirect_uri()],
                    "response_types": ["code"],
                    "grant_types": ["authorization_code"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "id_token_signed_response_alg": signer.alg,
                    "userinfo_signed_response_alg": signer.alg,
                    "userinfo_encrypted_response_alg": "RSA-OAEP",
                    "userinfo_encrypted_response_enc": "A256CBC-HS512",
                    "request_object_signing_alg": signer.alg,
                    "jwks": keys.jwks(),
                    "contacts": trust.contacts,
                    "organization_name": trust.organization_name,
                }
            }
        });
        jose::sign(&claims, "entity-statement+jwt", signer.signer())
    }
}

/// The HTTP client towards providers and federation entities: no redirects followed (an
/// answer must come from where it was asked), a deadline, and the configured trust.
pub fn http_client(
    trust_pem: Option<&[u8]>,
    timeout: Duration,
) -> Result<reqwest::Client, HubError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(pem) = trust_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| HubError::Config(format!("trusted certificates: {e}")))?;
        b = b.tls_certs_only(certs);
    }
    b.build().map_err(|e| HubError::Config(e.to_string()))
}
