//! Strong identification without typing secrets in the lobby. The kiosk asks for a hand-off
//! and shows its one-time QR code; the visitor's phone opens it here, and the hub, as an
//! OpenID Connect relying party (authorisation code with PKCE and a nonce, through the
//! `openidconnect` crate), sends it to the identity provider — SPID/CIE in production, the
//! built-in test provider in demo and tests. The identity that comes back is bound to that
//! kiosk session for a few minutes, and the kiosk, asking with its device signature, learns
//! the person's name and the companies they may act for. An expired or already opened QR
//! code is refused; the kiosk ends the binding at logout, timeout or a new visitor.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

use crate::extract::Signed;
use crate::identity::{BINDING_SECONDS, IdentityConfig, QR_SECONDS};
use crate::pages::phone_page;
use crate::{HubError, HubState};
use protocol::wire::{CompanyChoice, HandoffStarted, HandoffState};

/// The routes: the kiosk's (signed) and the phone's.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/v1/handoff", post(start))
        .route("/v1/handoff/{id}", get(status))
        .route("/v1/handoff/{id}/end", post(end))
        .route("/h/callback", get(callback))
        .route("/h/{secret}", get(open))
}

/// `POST /v1/handoff`: a one-time QR code for the kiosk's screen.
async fn start(
    State(state): State<HubState>,
    signed: Signed,
) -> Result<Json<HandoffStarted>, HubError> {
    let identity = state.identity()?;
    let Signed { device, db, .. } = signed;
    let secret = web::auth::random_hex(24);
    let id = uuid::Uuid::now_v7();
    let expires_at: chrono::DateTime<chrono::Utc> = db
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
    Ok(Json(HandoffStarted {
        id: id.to_string(),
        url: format!("{}/h/{secret}", identity.public_url),
        expires_at,
    }))
}

/// `GET /v1/handoff/{id}`: where the kiosk's hand-off stands, with the bound visitor's
/// companies once there is one.
async fn status(Path(id): Path<String>, signed: Signed) -> Result<Json<HandoffState>, HubError> {
    let Signed { device, db: c, .. } = signed;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| HubError::NotFound)?;
    let row = c
        .query_opt(
            "SELECT expires_at < now(), opened_at IS NOT NULL, person_cf, person_name,
                    session_expires_at, session_expires_at < now(), ended_at IS NOT NULL,
                    task, task_result
             FROM handoff WHERE branch_id = $1 AND id = $2 AND device_id = $3",
            &[&device.branch, &id, &device.device_id],
        )
        .await?
        .ok_or(HubError::NotFound)?;
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
                .map(|r| {
                    Ok(CompanyChoice {
                        matricola: domain::Matricola::parse(r.get(0))
                            .map_err(|e| HubError::internal("stored matricola", e))?,
                        company_cf: domain::CodiceFiscale::parse(r.get(1))
                            .map_err(|e| HubError::internal("stored company fiscal code", e))?,
                        denominazione: r.get(2),
                        role: HubError::stored(
                            "stored tipo_delegato",
                            r.get(3),
                            domain::TipoDelegato::from_code,
                        )?,
                    })
                })
                .collect::<Result<_, HubError>>()?;
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
    Ok(Json(state))
}

/// `POST /v1/handoff/{id}/end`: the kiosk's visitor is gone (logout, timeout, a new visitor).
async fn end(Path(id): Path<String>, signed: Signed) -> Result<StatusCode, HubError> {
    let Signed { device, db, .. } = signed;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| HubError::NotFound)?;
    let n = db
        .execute(
            "UPDATE handoff SET ended_at = coalesce(ended_at, now())
             WHERE branch_id = $1 AND id = $2 AND device_id = $3",
            &[&device.branch, &id, &device.device_id],
        )
        .await?;
    if n == 1 {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(HubError::NotFound)
    }
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
    let identity = match state.identity() {
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
    let identity = match state.identity() {
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
        Ok(1) => crate::desk::welcome(identity, &phone_secret, &name),
        Ok(_) => refused("Questo accesso è già stato usato."),
        Err(e) => e.into_response(),
    }
}
