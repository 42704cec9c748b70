//! The built-in test identity provider, for demo mode and tests: a real OpenID Connect
//! provider over HTTP (discovery, authorisation code with PKCE S256, token endpoint, JWKS,
//! EdDSA-signed ID tokens) whose "login" is choosing one of the demo identities. The hub's
//! relying party talks to it as to a broker in front of SPID and CIE: the same code checks
//! its answers' issuer (RFC 9207), signature, audience, nonce, `at_hash` and level (every demo
//! login counts as SPID level 2). Never enabled in production (the hub mounts it only when
//! `hub.demo_identity` asks for it).
//!
//! The fiscal number comes as SPID gives it, `TINIT-<codice fiscale>`, in the claim
//! `https://attributes.eid.gov.it/fiscal_number`.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use sha2::Digest;

use crate::identity::{CLIENT_ID, issuer};
use crate::{HubError, HubState};

/// Its key id in the JWKS.
const KID: &str = "builtin-1";

/// How long an authorisation code lives.
const CODE_SECONDS: i32 = 60;

/// The provider's routes, under `/idp`.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/idp/.well-known/openid-configuration", get(discovery))
        .route("/idp/jwks", get(jwks))
        .route("/idp/authorize", get(login_page).post(authorize))
        .route("/idp/token", post(token))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The signing key, made once and shared by every hub instance through the database, where it
/// is sealed ([`crate::keys`]): its signer and its public key.
async fn signing_key(
    state: &HubState,
    db: &impl deadpool_postgres::GenericClient,
) -> Result<(josekit::jws::alg::eddsa::EddsaJwsSigner, serde_json::Value), HubError> {
    let seed = crate::keys::idp_seed(db, state.kek()?, KID).await?;
    // PKCS#8 for an Ed25519 seed: a fixed prefix, then the 32 bytes (RFC 8410).
    let mut der = pkcs8_ed25519_prefix();
    der.extend_from_slice(&seed);
    let pair = josekit::jws::EdDSA
        .key_pair_from_der(&der)
        .map_err(|e| HubError::internal("the test provider's key", e))?;
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(KID);
    public.set_key_use("sig");
    public.set_algorithm("EdDSA");
    let mut signer = josekit::jws::EdDSA
        .signer_from_jwk(&pair.to_jwk_private_key())
        .map_err(|e| HubError::internal("the test provider's key", e))?;
    signer.set_key_id(KID);
    Ok((signer, serde_json::Value::Object(public.as_ref().clone())))
}

fn pkcs8_ed25519_prefix() -> Vec<u8> {
    vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ]
}

/// The hub's public address as the request reached it (the provider's URLs follow it).
fn public_url(state: &HubState) -> Result<String, HubError> {
    state
        .identity
        .get()
        .filter(|i| i.builtin)
        .map(|i| i.public_url.clone())
        .ok_or_else(|| HubError::Refused("the built-in identity provider is off".into()))
}

async fn discovery(State(state): State<HubState>) -> Response {
    let base = match public_url(&state) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let issuer = issuer(&base);
    Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "acr_values_supported": [crate::oidc::SPID_LEVELS[1]],
        "claims_supported": ["sub", "name", "email", "phone_number", FISCAL_NUMBER],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

/// The claim that carries the fiscal number in SPID and CIE id.
const FISCAL_NUMBER: &str = "https://attributes.eid.gov.it/fiscal_number";

async fn jwks(State(state): State<HubState>) -> Response {
    let key = async {
        let c = state.pool.get().await?;
        signing_key(&state, &c).await
    }
    .await;
    match key {
        Ok((_, public)) => Json(serde_json::json!({ "keys": [public] })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

struct Identity {
    cf: String,
    name: String,
}

#[derive(Template)]
#[template(path = "idp_login.html")]
struct LoginPage {
    q: AuthorizeQuery,
    identities: Vec<Identity>,
}

fn refuse(status: StatusCode, why: &str) -> Response {
    crate::pages::phone_page(status, "Identificazione non riuscita", why)
}

/// The checks an authorisation request must pass, on the page and when it is submitted.
/// Its one client, the hub, and that client's one redirect: a request naming any other
/// address is refused before anything is shown, so the provider never sends a code elsewhere.
fn check_request(q: &AuthorizeQuery, public_url: &str) -> Result<(), &'static str> {
    if q.response_type != "code" {
        return Err("Solo il flusso con codice di autorizzazione è accettato.");
    }
    if q.client_id != CLIENT_ID {
        return Err("Applicazione sconosciuta.");
    }
    if q.redirect_uri != format!("{public_url}/h/callback") {
        return Err("Indirizzo di ritorno non registrato per questa applicazione.");
    }
    if q.code_challenge.as_deref().is_none_or(str::is_empty)
        || q.code_challenge_method.as_deref() != Some("S256")
    {
        return Err("Manca la protezione PKCE (S256).");
    }
    Ok(())
}

async fn login_page(State(state): State<HubState>, Query(q): Query<AuthorizeQuery>) -> Response {
    let base = match public_url(&state) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(why) = check_request(&q, &base) {
        return refuse(StatusCode::BAD_REQUEST, why);
    }
    let rows = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query("SELECT cf, name FROM idp_identity ORDER BY name", &[])
                .await?,
        )
    }
    .await;
    match rows {
        Ok(rows) => crate::pages::html(LoginPage {
            q,
            identities: rows
                .iter()
                .map(|r| Identity {
                    cf: r.get(0),
                    name: r.get(1),
                })
                .collect(),
        }),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct AuthorizeForm {
    #[serde(flatten)]
    q: AuthorizeQuery,
    cf: String,
}

async fn authorize(State(state): State<HubState>, Form(form): Form<AuthorizeForm>) -> Response {
    let base = match public_url(&state) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Err(why) = check_request(&form.q, &base) {
        return refuse(StatusCode::BAD_REQUEST, why);
    }
    let code = web::auth::random_hex(32);
    let stored = async {
        let c = state.pool.get().await?;
        let n = c
            .execute(
                "INSERT INTO idp_code (code_hash, client_id, redirect_uri, nonce, code_challenge, cf, expires_at)
                 SELECT $1, $2, $3, $4, $5, cf, now() + make_interval(secs => $7)
                 FROM idp_identity WHERE cf = $6",
                &[
                    &web::auth::token_hash(&code),
                    &form.q.client_id,
                    &form.q.redirect_uri,
                    &form.q.nonce,
                    &form.q.code_challenge,
                    &form.cf,
                    &f64::from(CODE_SECONDS),
                ],
            )
            .await?;
        Ok::<_, HubError>(n == 1)
    }
    .await;
    match stored {
        Ok(true) => {
            let query = serde_urlencoded::to_string([
                ("code", &code),
                ("state", &form.q.state),
                ("iss", &issuer(&base)),
            ])
            .unwrap_or_default();
            let sep = if form.q.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            Redirect::to(&format!("{}{sep}{query}", form.q.redirect_uri)).into_response()
        }
        Ok(false) => refuse(StatusCode::BAD_REQUEST, "Identità sconosciuta."),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The client's credentials: HTTP Basic (the default of OAuth clients) or the form's fields.
fn client_credentials(headers: &HeaderMap, form: &TokenForm) -> Option<(String, String)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |x: &str| form_urlencoded_decode(x);
            Some((decode(id), decode(secret)))
        });
    basic.or_else(|| Some((form.client_id.clone()?, form.client_secret.clone()?)))
}

/// Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
fn form_urlencoded_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("x={s}"))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or_default()
}

async fn token(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type", "authorization_code only");
    }
    let Some(identity) = state.identity.get().filter(|i| i.builtin) else {
        return HubError::Refused("the built-in identity provider is off".into()).into_response();
    };
    match client_credentials(&headers, &form) {
        Some((id, secret))
            if id == CLIENT_ID
                && web::auth::same(
                    &secret,
                    identity
                        .rp
                        .settings()
                        .client_secret
                        .as_deref()
                        .unwrap_or(""),
                ) => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({ "error": "invalid_client" })),
            )
                .into_response();
        }
    }
    let answer = async {
        let c = state.pool.get().await?;
        // Used once: the update claims the code, a second exchange finds nothing.
        let row = c
            .query_opt(
                "UPDATE idp_code SET used_at = now()
                 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
                 RETURNING redirect_uri, nonce, code_challenge, cf,
                           (SELECT name FROM idp_identity i WHERE i.cf = idp_code.cf),
                           (SELECT email FROM idp_identity i WHERE i.cf = idp_code.cf),
                           (SELECT phone FROM idp_identity i WHERE i.cf = idp_code.cf)",
                &[&web::auth::token_hash(&form.code)],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Err("the code is unknown, used or expired"));
        };
        let redirect_uri: String = row.get(0);
        let nonce: Option<String> = row.get(1);
        let challenge: String = row.get(2);
        let cf: String = row.get(3);
        let name: Option<String> = row.get(4);
        let email: Option<String> = row.get(5);
        let phone: Option<String> = row.get(6);
        if redirect_uri != form.redirect_uri {
            return Ok(Err("redirect_uri differs from the authorisation request's"));
        }
        if b64(&sha2::Sha256::digest(form.code_verifier.as_bytes())) != challenge {
            return Ok(Err("the PKCE verifier does not match the challenge"));
        }
        let (signer, _) = signing_key(&state, &c).await?;
        let now = chrono::Utc::now().timestamp();
        let access_token = web::auth::random_hex(32);
        let mut claims = serde_json::json!({
            "iss": issuer(&identity.public_url),
            "aud": CLIENT_ID,
            "sub": format!("TINIT-{cf}"),
            "iat": now,
            "exp": now + 300,
            "acr": crate::oidc::SPID_LEVELS[1],
            "at_hash": crate::oidc::jose::half_hash("EdDSA", &access_token),
            FISCAL_NUMBER: format!("TINIT-{cf}"),
        });
        for (k, v) in [
            ("nonce", nonce),
            ("name", name),
            ("email", email),
            ("phone_number", phone),
        ] {
            if let Some(v) = v {
                claims[k] = v.into();
            }
        }
        let id_token =
            crate::oidc::jose::sign(&claims, "JWT", &signer).map_err(HubError::Internal)?;
        Ok::<_, HubError>(Ok(serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        })))
    }
    .await;
    match answer {
        Ok(Ok(body)) => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
        Ok(Err(why)) => oauth_error("invalid_grant", why),
        Err(e) => e.into_response(),
    }
}
