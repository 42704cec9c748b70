//! Strong identification without typing secrets in the lobby. The kiosk asks for a hand-off
//! and shows its one-time QR code; the visitor's phone opens it here, and the hub, as an
//! OpenID Connect relying party (authorisation code with PKCE and a nonce, through the
//! `openidconnect` crate), sends it to the identity provider — SPID/CIE in production, the
//! built-in test provider in demo and tests. The identity that comes back is bound to that
//! kiosk session for a few minutes, and the kiosk, asking with its device signature, learns
//! the person's name and the companies they may act for. An expired or already opened QR
//! code is refused; the kiosk ends the binding at logout, timeout or a new visitor.
//!
//! A QR code is a link, and links get forwarded: someone at a kiosk could send its link to a
//! victim elsewhere and read the victim's Cassetto on his own screen. So opening the link
//! (`GET /h/{secret}`, which link previews do too) spends nothing and calls no one: it names
//! the sede and asks for the 4-digit code the kiosk shows beside the QR. Only that code,
//! posted from the phone, opens the flow to the provider; three wrong ones end the hand-off.
//! The flow is then tied to the browser that confirmed by a cookie of its own: the provider's
//! answer arriving in any other browser (a relayed provider link) ends the hand-off.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::extract::Signed;
use crate::identity::{BINDING_SECONDS, QR_SECONDS};
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
        .route("/h/{secret}", get(open).post(confirm))
        .merge(rp_router())
}

/// The cookie that ties a confirmed flow to the phone's browser until the provider answers.
const FLOW_COOKIE: &str = "__Host-sportello_flow";

/// Wrong confirmation codes before the hand-off is ended: a guess has 3 in 10,000 chances.
const MAX_CONFIRM_FAILURES: i32 = 3;

/// The code the kiosk shows beside the QR and the phone asks for: 4 digits, read aloud or
/// typed on a phone's number pad.
fn confirm_code() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the system random source works");
    format!("{:04}", u32::from_le_bytes(b) % 10_000)
}

/// `POST /v1/handoff`: a one-time QR code for the kiosk's screen.
async fn start(
    State(state): State<HubState>,
    signed: Signed,
) -> Result<Json<HandoffStarted>, HubError> {
    let identity = state.identity()?;
    let Signed { device, db, .. } = signed;
    let secret = web::auth::random_hex(24);
    let code = confirm_code();
    let id = uuid::Uuid::now_v7();
    let expires_at: chrono::DateTime<chrono::Utc> = db
        .query_one(
            "INSERT INTO handoff (branch_id, id, device_id, token_hash, expires_at, confirm_code)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6) RETURNING expires_at",
            &[
                &device.branch,
                &id,
                &device.device_id,
                &web::auth::token_hash(&secret),
                &(QR_SECONDS as f64),
                &code,
            ],
        )
        .await?
        .get(0);
    Ok(Json(HandoffStarted {
        id: id.to_string(),
        url: format!("{}/h/{secret}", identity.public_url),
        expires_at,
        code,
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

#[derive(Template)]
#[template(path = "handoff_confirm.html")]
struct ConfirmPage {
    sede: String,
    error: Option<String>,
}

/// Where a QR code's hand-off stands, as the phone may learn it.
enum Claimable {
    /// Open: the sede's name.
    Yes(String),
    /// Opened already.
    Used,
    /// Expired, ended or never there.
    Gone,
}

async fn claimable(state: &HubState, secret: &str) -> Result<Claimable, HubError> {
    let c = state.pool.get().await?;
    let row = c
        .query_opt(
            "SELECT h.opened_at IS NOT NULL, h.ended_at IS NULL AND h.expires_at > now(), b.name
             FROM handoff h JOIN branch b USING (branch_id) WHERE h.token_hash = $1",
            &[&web::auth::token_hash(secret)],
        )
        .await?;
    Ok(match row {
        Some(r) if r.get::<_, bool>(0) => Claimable::Used,
        Some(r) if r.get::<_, bool>(1) => Claimable::Yes(r.get(2)),
        _ => Claimable::Gone,
    })
}

fn used() -> Response {
    phone_page(
        StatusCode::CONFLICT,
        "Codice già usato",
        "Questo codice QR è già stato usato. Al chiosco, tocchi di nuovo «Il mio cassetto» per averne uno nuovo.",
    )
}

fn gone() -> Response {
    phone_page(
        StatusCode::GONE,
        "Codice scaduto",
        "Questo codice QR non è più valido. Al chiosco, tocchi di nuovo «Il mio cassetto» per averne uno nuovo.",
    )
}

fn confirm_page(status: StatusCode, sede: String, error: Option<String>) -> Response {
    match (ConfirmPage { sede, error }).render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => HubError::internal("template", e).into_response(),
    }
}

/// `GET /h/{secret}`: the phone opens the kiosk's QR code. Nothing is spent and no one is
/// called: the page names the sede and asks for the kiosk's short code.
async fn open(State(state): State<HubState>, Path(secret): Path<String>) -> Response {
    if let Err(e) = state.identity() {
        return e.into_response();
    }
    match claimable(&state, &secret).await {
        Ok(Claimable::Yes(sede)) => confirm_page(StatusCode::OK, sede, None),
        Ok(Claimable::Used) => used(),
        Ok(Claimable::Gone) => gone(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    code: String,
}

/// `POST /h/{secret}`: the visitor typed the kiosk's code. A right one claims the QR code (a
/// second opening finds it taken), ties the flow to this browser and goes on to the provider;
/// a wrong one counts, and the third ends the hand-off.
async fn confirm(
    State(state): State<HubState>,
    Path(secret): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let identity = match state.identity() {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let sede = match claimable(&state, &secret).await {
        Ok(Claimable::Yes(sede)) => sede,
        Ok(Claimable::Used) => return used(),
        Ok(Claimable::Gone) => return gone(),
        Err(e) => return e.into_response(),
    };
    let hash = web::auth::token_hash(&secret);
    let typed = form.code.trim();
    let right = async {
        let c = state.pool.get().await?;
        let row = c
            .query_opt(
                "SELECT 1 FROM handoff WHERE token_hash = $1 AND confirm_code = $2",
                &[&hash, &typed],
            )
            .await?;
        if row.is_some() {
            return Ok(None);
        }
        let failures: Option<i32> = c
            .query_opt(
                "UPDATE handoff SET confirm_failures = confirm_failures + 1,
                     ended_at = CASE WHEN confirm_failures + 1 >= $2 THEN now() END
                 WHERE token_hash = $1 AND opened_at IS NULL AND ended_at IS NULL
                 RETURNING confirm_failures",
                &[&hash, &MAX_CONFIRM_FAILURES],
            )
            .await?
            .map(|r| r.get(0));
        Ok::<_, HubError>(Some(failures.unwrap_or(MAX_CONFIRM_FAILURES)))
    }
    .await;
    match right {
        Ok(None) => {}
        Ok(Some(n)) if n >= MAX_CONFIRM_FAILURES => {
            tracing::warn!("hand-off ended after {n} wrong confirmation codes");
            return phone_page(
                StatusCode::GONE,
                "Codice non corrispondente",
                "Il codice non corrisponde a quello del chiosco per troppe volte: questo codice QR non vale più. Se è davanti al chiosco, tocchi di nuovo «Il mio cassetto».",
            );
        }
        Ok(Some(_)) => {
            return confirm_page(
                StatusCode::BAD_REQUEST,
                sede,
                Some("Il codice non corrisponde a quello mostrato sul chiosco. Riprovi.".into()),
            );
        }
        Err(e) => return e.into_response(),
    }
    let pending = match identity.rp.begin().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the identification cannot start");
            state.counts.identification(match e {
                crate::oidc::Refusal::Unavailable(_) => "unavailable",
                _ => "untrusted",
            });
            // Unreachable, or not to be trusted (its metadata, its trust chain): nothing the
            // visitor did, and nothing they can do but come back later.
            return match e {
                crate::oidc::Refusal::Unavailable(_) => phone_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Identificazione non disponibile",
                    "Il servizio di identificazione non risponde. Riprovi tra poco dal chiosco.",
                ),
                _ => phone_page(
                    StatusCode::BAD_GATEWAY,
                    "Identificazione non disponibile",
                    "Il servizio di identificazione non è disponibile in questo momento. \
                     Riprovi più tardi dal chiosco, o chieda allo sportello.",
                ),
            };
        }
    };
    let crate::oidc::Pending {
        url,
        state: csrf,
        nonce,
        verifier,
    } = pending;
    let flow = web::auth::random_hex(32);
    let claimed = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.execute(
                "UPDATE handoff SET opened_at = now(), oidc_state = $2, pkce_verifier = $3,
                     nonce = $4, flow_hash = $5
                 WHERE token_hash = $1 AND confirm_code = $6 AND opened_at IS NULL
                   AND ended_at IS NULL AND expires_at > now()",
                &[
                    &hash,
                    &csrf,
                    &verifier,
                    &nonce,
                    &web::auth::token_hash(&flow),
                    &typed,
                ],
            )
            .await?,
        )
    }
    .await;
    match claimed {
        Ok(1) => {
            let cookie = format!(
                "{FLOW_COOKIE}={flow}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
                QR_SECONDS + 600
            );
            let mut r = Redirect::to(&url).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        // Taken meanwhile by another phone, or expired while the provider was asked.
        Ok(_) => used(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// The issuer of the answer (RFC 9207), against mix-ups between providers.
    iss: Option<String>,
}

/// The provider sends the phone back: the code is exchanged, the ID token checked (signature,
/// issuer, audience, expiry, nonce) and the identity bound to the kiosk's hand-off.
async fn callback(
    State(state): State<HubState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let refused = |why: &str| {
        phone_page(
            StatusCode::BAD_REQUEST,
            "Identificazione non riuscita",
            &format!("{why} Al chiosco, tocchi di nuovo «Il mio cassetto» per riprovare."),
        )
    };
    let (Some(code), Some(oidc_state)) = (q.code, q.state) else {
        let refusal = match q.error.as_deref() {
            Some("access_denied") => crate::oidc::Refusal::Cancelled,
            Some(error) => {
                tracing::warn!(error, "the provider refused the authorisation request");
                crate::oidc::Refusal::Provider(error.to_owned())
            }
            None => return refused("La risposta del servizio di identificazione è incompleta."),
        };
        state.counts.identification(refusal.outcome());
        // The level asked for is only named in the level's refusal, which this is not.
        return refused(&refusal.for_visitor("").1);
    };
    let identity = match state.identity() {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let flow = crate::pages::cookie(&headers, FLOW_COOKIE)
        .map(|f| web::auth::token_hash(&f))
        .unwrap_or_default();
    let pending = async {
        let c = state.pool.get().await?;
        let row = c
            .query_opt(
                "SELECT pkce_verifier, nonce, flow_hash = $3 FROM handoff
                 WHERE oidc_state = $1 AND person_cf IS NULL AND ended_at IS NULL
                   AND opened_at > now() - make_interval(secs => $2)",
                &[&oidc_state, &(QR_SECONDS as f64 + 600.0), &flow],
            )
            .await?;
        if let Some(r) = &row
            && !r.get::<_, Option<bool>>(2).unwrap_or(false)
        {
            // The provider's answer came to a browser that did not confirm at the kiosk's
            // code: a relayed link. The hand-off ends, so the answer cannot be replayed in
            // the browser that did.
            c.execute(
                "UPDATE handoff SET ended_at = now() WHERE oidc_state = $1 AND person_cf IS NULL",
                &[&oidc_state],
            )
            .await?;
            return Ok(Err(()));
        }
        Ok::<_, HubError>(Ok(row))
    }
    .await;
    let (verifier, nonce): (String, String) = match pending {
        Ok(Ok(Some(r))) => (r.get(0), r.get(1)),
        Ok(Ok(None)) => return refused("Questo accesso non corrisponde a un codice valido."),
        Ok(Err(())) => {
            tracing::warn!("provider answer in a browser that did not open the hand-off: ended");
            return refused(
                "L'accesso è stato avviato da un altro telefono o browser: per sicurezza non vale più.",
            );
        }
        Err(e) => return e.into_response(),
    };
    let verified = identity
        .rp
        .finish(&code, q.iss.as_deref(), &nonce, &verifier)
        .await;
    let crate::oidc::Identified {
        cf,
        name,
        email,
        mobile,
        acr,
    } = match verified {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "identification refused");
            state.counts.identification(e.outcome());
            let (title, text) = e.for_visitor(&identity.rp.settings().acr);
            let status = match e {
                crate::oidc::Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            return phone_page(
                status,
                title,
                &format!("{text} Al chiosco, tocchi di nuovo «Il mio cassetto» per riprovare."),
            );
        }
    };
    tracing::info!(acr, "visitor identified");
    // The phone keeps a session of its own for the forms the kiosk sends it.
    let phone_secret = web::auth::random_hex(32);
    let bound = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.execute(
                "UPDATE handoff SET person_cf = $2, person_name = $3, bound_at = now(),
                     session_expires_at = now() + make_interval(secs => $4),
                     phone_hash = $5, email = $6, mobile = $7
                 WHERE oidc_state = $1 AND person_cf IS NULL AND ended_at IS NULL
                   AND flow_hash = $8",
                &[
                    &oidc_state,
                    &cf,
                    &name,
                    &(BINDING_SECONDS as f64),
                    &web::auth::token_hash(&phone_secret),
                    &email,
                    &mobile,
                    &flow,
                ],
            )
            .await?,
        )
    }
    .await;
    match bound {
        Ok(1) => {
            state.counts.identification("identified");
            let mut r = crate::desk::welcome(identity, &phone_secret, &name);
            // The flow is over: its cookie goes.
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{FLOW_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(_) => refused("Questo accesso è già stato usato."),
        Err(e) => e.into_response(),
    }
}

/// The relying party's public face: its key set (for a broker that reads `jwks_uri`) and, in
/// the federation, its entity configuration.
fn rp_router() -> Router<HubState> {
    Router::new()
        .route("/oidc/jwks", get(rp_jwks))
        .route("/.well-known/openid-federation", get(entity_configuration))
}

async fn rp_jwks(State(state): State<HubState>) -> Response {
    match state.identity.get() {
        Some(i) if i.rp.keys().signer().is_some() || i.rp.keys().can_decrypt() => (
            [(header::CACHE_CONTROL, "public, max-age=3600")],
            Json(i.rp.keys().jwks()),
        )
            .into_response(),
        _ => HubError::NotFound.into_response(),
    }
}

async fn entity_configuration(State(state): State<HubState>) -> Response {
    let Some((rp, trust)) = state
        .identity
        .get()
        .and_then(|i| Some((&i.rp, i.rp.settings().federation.as_ref()?)))
    else {
        return HubError::NotFound.into_response();
    };
    match rp.entity_configuration(trust) {
        Ok(jwt) => (
            [(header::CONTENT_TYPE, "application/entity-statement+jwt")],
            jwt,
        )
            .into_response(),
        Err(e) => HubError::Internal(e).into_response(),
    }
}
