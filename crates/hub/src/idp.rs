//! The built-in test identity provider, for demo mode and tests: a real OpenID Connect
//! provider over HTTP (discovery, authorisation code with PKCE S256, token endpoint, JWKS,
//! EdDSA-signed ID tokens) whose "login" is choosing one of the demo identities. The hub's
//! relying party talks to it exactly as it talks to SPID or CIE through their adapter; nothing
//! in the identification path knows it is a test provider. Never enabled in production (the
//! hub mounts it only when no external issuer is configured).
//!
//! The subject is the SPID form of the fiscal number, `TINIT-<codice fiscale>`.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use openidconnect::core::{
    CoreEdDsaPrivateSigningKey, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata, EndUserEmail,
    EndUserName, EndUserPhoneNumber, IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, Nonce,
    PrivateSigningKey, ResponseTypes, StandardClaims, SubjectIdentifier, TokenUrl,
};
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
/// is sealed ([`crate::keys`]).
async fn signing_key(
    state: &HubState,
    db: &impl deadpool_postgres::GenericClient,
) -> Result<CoreEdDsaPrivateSigningKey, HubError> {
    let seed = crate::keys::idp_seed(db, state.kek()?, KID).await?;
    // PKCS#8 for an Ed25519 seed: a fixed prefix, then the 32 bytes (RFC 8410).
    let mut der = hex_literal_prefix();
    der.extend_from_slice(&seed);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, Some(JsonWebKeyId::new(KID.into())))
        .map_err(HubError::Internal)
}

fn hex_literal_prefix() -> Vec<u8> {
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
    let url = |p: &str| format!("{}{p}", issuer(&base));
    let metadata = CoreProviderMetadata::new(
        IssuerUrl::new(issuer(&base)).expect("a URL"),
        AuthUrl::new(url("/authorize")).expect("a URL"),
        JsonWebKeySetUrl::new(url("/jwks")).expect("a URL"),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::EdDsa],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token")).expect("a URL")));
    Json(metadata).into_response()
}

async fn jwks(State(state): State<HubState>) -> Response {
    let key = async {
        let c = state.pool.get().await?;
        signing_key(&state, &c).await
    }
    .await;
    match key {
        Ok(k) => Json(CoreJsonWebKeySet::new(vec![k.as_verification_key()])).into_response(),
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
            let query = serde_urlencoded::to_string([("code", &code), ("state", &form.q.state)])
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
            if id == CLIENT_ID && web::auth::same(&secret, &identity.client_secret) => {}
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
        let key = signing_key(&state, &c).await?;
        let now = chrono::Utc::now();
        let mut claims = CoreIdTokenClaims::new(
            IssuerUrl::new(issuer(&identity.public_url)).expect("a URL"),
            vec![Audience::new(CLIENT_ID.into())],
            now + chrono::Duration::minutes(5),
            now,
            StandardClaims::new(SubjectIdentifier::new(format!("TINIT-{cf}")))
                .set_name(name.map(|n| EndUserName::new(n).into()))
                .set_email(email.map(EndUserEmail::new))
                .set_phone_number(phone.map(EndUserPhoneNumber::new)),
            EmptyAdditionalClaims {},
        );
        if let Some(n) = nonce {
            claims = claims.set_nonce(Some(Nonce::new(n)));
        }
        let id_token = CoreIdToken::new(claims, &key, CoreJwsSigningAlgorithm::EdDsa, None, None)
            .map_err(|e| HubError::Config(e.to_string()))?;
        Ok::<_, HubError>(Ok(serde_json::json!({
            "access_token": web::auth::random_hex(32),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token.to_string(),
        })))
    }
    .await;
    match answer {
        Ok(Ok(body)) => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
        Ok(Err(why)) => oauth_error("invalid_grant", why),
        Err(e) => e.into_response(),
    }
}
