//! Strong identification without typing secrets in the lobby. The kiosk asks for a hand-off
//! and shows its one-time QR code; the visitor's phone opens it here, and the hub, as an
//! OpenID Connect relying party (authorisation code with PKCE and a nonce, through the
//! `openidconnect` crate), sends it to the identity provider — SPID/CIE in production, the
//! built-in test provider in demo and tests. The identity that comes back is bound to that
//! kiosk session for a few minutes, and the kiosk, asking with its device signature, learns
//! the person's name and the companies they may act for. An expired or already opened QR
//! code is refused; the kiosk ends the binding at logout, timeout or a new visitor.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

use super::{HubError, HubState, devices};
use protocol::wire::{CompanyChoice, HandoffStarted, HandoffState};

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
            issuer: super::idp::issuer(public_url),
            client_id: super::idp::CLIENT_ID.into(),
            client_secret: client_secret.into(),
            http,
            builtin: true,
        })
    }
}

impl IdentityConfig {
    /// From the hub's configuration: the external provider when one is set, else the built-in
    /// test provider; `None` without a public address.
    pub fn from_config(
        config: &config::HubConfig,
        hub_cert_pem: &[u8],
    ) -> Result<Option<Self>, HubError> {
        let Some(public_url) = config.public_url.as_deref() else {
            return Ok(None);
        };
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

/// The routes: the kiosk's (signed) and the phone's.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/v1/handoff", post(start))
        .route("/v1/handoff/{id}", get(status))
        .route("/v1/handoff/{id}/end", post(end))
        .route(
            "/v1/handoff/{id}/companies/{matricola}",
            get(super::cassetto::summary),
        )
        .route("/v1/handoff/{id}/requests", post(super::contatti::create))
        .route(
            "/v1/handoff/{id}/istanze/{matricola}",
            get(super::istanze::list),
        )
        .route(
            "/v1/handoff/{id}/agenda/{matricola}",
            get(super::agenda::show).post(super::agenda::book),
        )
        .route(
            "/v1/handoff/{id}/agenda/{matricola}/{booking}/annulla",
            post(super::agenda::cancel),
        )
        .route(
            "/v1/handoff/{id}/requests/{matricola}",
            get(super::contatti::list),
        )
        .route("/h/callback", get(callback))
        .route("/h/{secret}", get(open))
}

fn identity(state: &HubState) -> Result<&IdentityConfig, HubError> {
    state
        .identity
        .get()
        .ok_or_else(|| HubError::Config("identification is not configured (hub.public_url)".into()))
}

async fn start(State(state): State<HubState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let identity = identity(&state)?;
        let c = state.pool.get().await?;
        let device = devices::authenticate(&c, &headers, "POST", "/v1/handoff", &body).await?;
        let secret = web::auth::random_hex(24);
        let id = uuid::Uuid::now_v7();
        let expires_at: chrono::DateTime<chrono::Utc> = c
            .query_one(
                "INSERT INTO handoff (branch_id, id, device_id, token_hash, expires_at)
                 VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING expires_at",
                &[
                    &device.branch,
                    &id,
                    &device.device_id,
                    &web::auth::token_hash(&secret),
                    &(QR_SECONDS as f64),
                ],
            )
            .await?
            .get(0);
        Ok::<_, HubError>(HandoffStarted {
            id: id.to_string(),
            url: format!("{}/h/{secret}", identity.public_url),
            expires_at,
        })
    }
    .await;
    match answer {
        Ok(a) => Json(a).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn status(
    State(state): State<HubState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let answer = async {
        let c = state.pool.get().await?;
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let device = devices::authenticate(&c, &headers, "GET", path, &[]).await?;
        let Ok(id) = uuid::Uuid::parse_str(&id) else {
            return Ok(None);
        };
        let Some(row) = c
            .query_opt(
                "SELECT expires_at < now(), opened_at IS NOT NULL, person_cf, person_name,
                        session_expires_at, session_expires_at < now(), ended_at IS NOT NULL,
                        task, task_result
                 FROM handoff WHERE branch_id = $1 AND id = $2 AND device_id = $3",
                &[&device.branch, &id, &device.device_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let person: Option<String> = row.get(2);
        let state = if row.get::<_, bool>(6) {
            HandoffState::Ended
        } else if let Some(cf) = person {
            if row.get::<_, Option<bool>>(5).unwrap_or(true) {
                HandoffState::Expired
            } else {
                let companies = c
                    .query(
                        "SELECT matricola, company_cf, denominazione, role FROM delegation
                         WHERE person_cf = $1 ORDER BY denominazione, matricola",
                        &[&cf],
                    )
                    .await?
                    .iter()
                    .map(|r| CompanyChoice {
                        matricola: r.get(0),
                        company_cf: r.get(1),
                        denominazione: r.get(2),
                        role: r.get(3),
                    })
                    .collect();
                HandoffState::Bound {
                    name: row.get::<_, Option<String>>(3).unwrap_or_default(),
                    companies,
                    until: row.get(4),
                    task: row
                        .get::<_, Option<serde_json::Value>>(7)
                        .and_then(|t| serde_json::from_value(t).ok()),
                    sent: row.get(8),
                }
            }
        } else if row.get::<_, bool>(0) {
            HandoffState::Expired
        } else {
            HandoffState::Pending { opened: row.get(1) }
        };
        Ok::<_, HubError>(Some(state))
    }
    .await;
    match answer {
        Ok(Some(s)) => Json(s).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn end(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let answer = async {
        let c = state.pool.get().await?;
        let path = format!("/v1/handoff/{id}/end");
        let device = devices::authenticate(&c, &headers, "POST", &path, &body).await?;
        let Ok(id) = uuid::Uuid::parse_str(&id) else {
            return Ok(false);
        };
        let n = c
            .execute(
                "UPDATE handoff SET ended_at = coalesce(ended_at, now())
                 WHERE branch_id = $1 AND id = $2 AND device_id = $3",
                &[&device.branch, &id, &device.device_id],
            )
            .await?;
        Ok::<_, HubError>(n == 1)
    }
    .await;
    match answer {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The bound person of a kiosk's hand-off, if it is live and theirs.
pub(super) async fn bound_person(
    c: &impl deadpool_postgres::GenericClient,
    device: &devices::Device,
    id: &str,
) -> Result<Option<String>, HubError> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Ok(None);
    };
    Ok(c.query_opt(
        "SELECT person_cf FROM handoff
         WHERE branch_id = $1 AND id = $2 AND device_id = $3 AND ended_at IS NULL
           AND session_expires_at > now()",
        &[&device.branch, &id, &device.device_id],
    )
    .await?
    .and_then(|r| r.get(0)))
}

/// The kiosk's signed GET about its hand-off `id`: the device and the bound visitor's fiscal
/// number, or `None` when the hand-off is not live or not that kiosk's.
pub(super) async fn visitor_reading(
    c: &impl deadpool_postgres::GenericClient,
    headers: &HeaderMap,
    uri: &Uri,
    id: &str,
) -> Result<Option<(devices::Device, String)>, HubError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let device = devices::authenticate(c, headers, "GET", path, &[]).await?;
    Ok(bound_person(c, &device, id).await?.map(|cf| (device, cf)))
}

/// Whether `cf` may act for `matricola`.
pub(super) async fn delegated(
    c: &impl deadpool_postgres::GenericClient,
    cf: &str,
    matricola: &str,
) -> Result<bool, HubError> {
    Ok(c.query_opt(
        "SELECT 1 FROM delegation WHERE person_cf = $1 AND matricola = $2",
        &[&cf, &matricola],
    )
    .await?
    .is_some())
}

/// The JSON answer to a kiosk's question about its visitor, or the same 404 for whatever is
/// not theirs, so a kiosk cannot tell which exist.
pub(super) fn json_or_404<T: serde::Serialize>(answer: Result<Option<T>, HubError>) -> Response {
    match answer {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A page for the phone: a heading and a sentence, in Italian.
pub(super) fn phone_page(status: StatusCode, title: &str, text: &str) -> Response {
    let esc = |s: &str| {
        askama::filters::escape(s, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{t}</title><style>body{{font-family:system-ui,sans-serif;margin:1.5rem;\
             font-size:1.25rem;color:#17324d}}h1{{font-size:1.5rem}}</style></head>\
             <body><h1>{t}</h1><p>{x}</p></body></html>",
            t = esc(title),
            x = esc(text)
        )),
    )
        .into_response()
}

/// The HTTP client the `openidconnect` crate calls, over our reqwest (a named type: its future
/// is `Send` for any lifetime, which axum's handlers need).
struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = reqwest::Error;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

async fn send(
    http: &reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await?;
    Ok(out
        .body(bytes.to_vec())
        .expect("a response built from a response"))
}

type Client = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The relying party's client, from the provider's discovery document (and its keys).
async fn client(identity: &IdentityConfig) -> Result<Client, String> {
    let http = Http(identity.http.clone());
    let issuer = IssuerUrl::new(identity.issuer.clone()).map_err(|e| e.to_string())?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| format!("discovery: {e}"))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(identity.client_id.clone()),
        Some(ClientSecret::new(identity.client_secret.clone())),
    )
    .set_redirect_uri(
        RedirectUrl::new(format!("{}/h/callback", identity.public_url))
            .map_err(|e| e.to_string())?,
    ))
}

/// The phone opens the kiosk's QR code: once, before it expires; on to the provider.
async fn open(State(state): State<HubState>, Path(secret): Path<String>) -> Response {
    let identity = match identity(&state) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let client = match client(identity).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "identity provider unreachable");
            return phone_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Identificazione non disponibile",
                "Il servizio di identificazione non risponde. Riprovi tra poco dal chiosco.",
            );
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        // For the notifications of Area Contatti, offered to the visitor, never required.
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("phone".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (csrf, verifier, nonce) = (
        csrf.secret().clone(),
        verifier.secret().clone(),
        nonce.secret().clone(),
    );
    let claimed = async {
        let c = state.pool.get().await?;
        // Opening claims the code: a second opening (a photo of the screen, a replay) finds
        // it taken.
        let row = c
            .query_opt(
                "UPDATE handoff SET opened_at = now(), oidc_state = $2, pkce_verifier = $3, nonce = $4
                 WHERE token_hash = $1 AND opened_at IS NULL AND ended_at IS NULL
                   AND expires_at > now()
                 RETURNING 1",
                &[&web::auth::token_hash(&secret), &csrf, &verifier, &nonce],
            )
            .await?;
        if row.is_some() {
            return Ok(None);
        }
        let why = c
            .query_opt(
                "SELECT opened_at IS NOT NULL, ended_at IS NOT NULL FROM handoff WHERE token_hash = $1",
                &[&web::auth::token_hash(&secret)],
            )
            .await?;
        Ok::<_, HubError>(Some(why.map(|r| (r.get::<_, bool>(0), r.get::<_, bool>(1)))))
    }
    .await;
    match claimed {
        Ok(None) => Redirect::to(url.as_str()).into_response(),
        Ok(Some(Some((true, _)))) => phone_page(
            StatusCode::CONFLICT,
            "Codice già usato",
            "Questo codice QR è già stato usato. Al chiosco, tocchi di nuovo «Il mio cassetto» per averne uno nuovo.",
        ),
        Ok(Some(_)) => phone_page(
            StatusCode::GONE,
            "Codice scaduto",
            "Questo codice QR non è più valido. Al chiosco, tocchi di nuovo «Il mio cassetto» per averne uno nuovo.",
        ),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider sends the phone back: the code is exchanged, the ID token checked (signature,
/// issuer, audience, expiry, nonce) and the identity bound to the kiosk's hand-off.
async fn callback(State(state): State<HubState>, Query(q): Query<CallbackQuery>) -> Response {
    let refused = |why: &str| {
        phone_page(
            StatusCode::BAD_REQUEST,
            "Identificazione non riuscita",
            &format!("{why} Al chiosco, tocchi di nuovo «Il mio cassetto» per riprovare."),
        )
    };
    let (Some(code), Some(oidc_state)) = (q.code, q.state) else {
        return refused(if q.error.is_some() {
            "L'accesso è stato annullato."
        } else {
            "La risposta del servizio di identificazione è incompleta."
        });
    };
    let identity = match identity(&state) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let pending = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query_opt(
                "SELECT pkce_verifier, nonce FROM handoff
                 WHERE oidc_state = $1 AND person_cf IS NULL AND ended_at IS NULL
                   AND opened_at > now() - make_interval(secs => $2)",
                &[&oidc_state, &(QR_SECONDS as f64 + 600.0)],
            )
            .await?,
        )
    }
    .await;
    let (verifier, nonce): (String, String) = match pending {
        Ok(Some(r)) => (r.get(0), r.get(1)),
        Ok(None) => return refused("Questo accesso non corrisponde a un codice valido."),
        Err(e) => return e.into_response(),
    };
    let verified = async {
        let client = client(identity).await?;
        let http = Http(identity.http.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| e.to_string())?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&http)
            .await
            .map_err(|e| format!("token exchange: {e}"))?;
        let id_token = tokens.id_token().ok_or("no ID token")?;
        let checker = client
            .id_token_verifier()
            .set_allowed_algs([CoreJwsSigningAlgorithm::EdDsa]);
        let claims = id_token
            .claims(&checker, &Nonce::new(nonce))
            .map_err(|e| format!("ID token: {e}"))?;
        let cf = claims
            .subject()
            .as_str()
            .strip_prefix("TINIT-")
            .ok_or("the subject is not a fiscal number")?
            .to_owned();
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        let email = claims.email().map(|e| e.as_str().to_owned());
        let mobile = claims.phone_number().map(|p| p.as_str().to_owned());
        Ok::<_, String>((cf, name, email, mobile))
    }
    .await;
    let (cf, name, email, mobile) = match verified {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "identification refused");
            return refused("L'identità non è stata confermata.");
        }
    };
    // The phone keeps a session of its own for the forms the kiosk sends it.
    let phone_secret = web::auth::random_hex(32);
    let bound = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.execute(
                "UPDATE handoff SET person_cf = $2, person_name = $3, bound_at = now(),
                     session_expires_at = now() + make_interval(secs => $4),
                     phone_hash = $5, email = $6, mobile = $7
                 WHERE oidc_state = $1 AND person_cf IS NULL AND ended_at IS NULL",
                &[
                    &oidc_state,
                    &cf,
                    &name,
                    &(BINDING_SECONDS as f64),
                    &web::auth::token_hash(&phone_secret),
                    &email,
                    &mobile,
                ],
            )
            .await?,
        )
    }
    .await;
    match bound {
        Ok(1) => super::desk::welcome(identity, &phone_secret, &name),
        Ok(_) => refused("Questo accesso è già stato usato."),
        Err(e) => e.into_response(),
    }
}
