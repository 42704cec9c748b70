//! The built-in test identity provider, for demo mode and tests: a real OpenID Connect
//! provider over HTTP whose "login" is choosing one of the demo identities. It speaks the
//! SPID/CIE profile as far as it can without a federation: the authorisation request only as
//! a request object signed by the hub, PKCE S256, the client authenticated with
//! `private_key_jwt`, EdDSA-signed ID tokens with `acr` (every demo login counts as SPID
//! level 2) and `at_hash`, the `iss` of the response (RFC 9207), and the attributes from a
//! UserInfo signed and then encrypted to the hub's key (RSA-OAEP, A256CBC-HS512). So the demo
//! runs the production relying party's code, checks included. It trusts the keys of the hub
//! it runs in, and never runs in production (the hub mounts it only when
//! `hub.demo_identity` asks for it).
//!
//! The fiscal number comes as SPID gives it, `TINIT-<codice fiscale>`, in the claim
//! `https://attributes.eid.gov.it/fiscal_number`; the subject is an opaque pairwise id.

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
        .route("/idp/userinfo", get(userinfo))
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
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "request_parameter_supported": true,
        "require_signed_request_object": true,
        "userinfo_signing_alg_values_supported": ["EdDSA"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP"],
        "userinfo_encryption_enc_values_supported": ["A256CBC-HS512"],
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

/// The hub's public keys, as the relying party publishes them.
fn client_keys(state: &HubState) -> Option<josekit::jwk::JwkSet> {
    let jwks = state.identity.get()?.rp.keys().jwks();
    crate::oidc::jose::key_set(&jwks).ok()
}

/// The authorisation request, from the request object the hub signed (the only form this
/// provider takes, as SPID and CIE): its signature, issuer, audience and expiry checked, and
/// the query's own fields equal to its.
fn request_object(
    state: &HubState,
    base: &str,
    query: &std::collections::HashMap<String, String>,
) -> Result<AuthorizeQuery, &'static str> {
    let request = query
        .get("request")
        .ok_or("La richiesta deve essere firmata dall'applicazione (request object).")?;
    let keys = client_keys(state).ok_or("Applicazione senza chiavi.")?;
    let (claims, _) = crate::oidc::jose::verify(request, &keys, &["ES256", "RS256"])
        .map_err(|_| "La richiesta non è firmata dall'applicazione.")?;
    let now = chrono::Utc::now().timestamp();
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => *a == issuer(base),
        Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(&issuer(base))),
        _ => false,
    };
    if text("iss").as_deref() != Some(CLIENT_ID) || !aud_ok {
        return Err("La richiesta non è destinata a questo servizio.");
    }
    if claims
        .get("exp")
        .and_then(|e| e.as_i64())
        .is_none_or(|e| e < now)
    {
        return Err("La richiesta è scaduta.");
    }
    for k in ["client_id", "response_type"] {
        if query.get(k) != text(k).as_ref() {
            return Err("La richiesta non corrisponde ai suoi parametri.");
        }
    }
    Ok(AuthorizeQuery {
        response_type: text("response_type").unwrap_or_default(),
        client_id: text("client_id").unwrap_or_default(),
        redirect_uri: text("redirect_uri").unwrap_or_default(),
        state: text("state").unwrap_or_default(),
        nonce: text("nonce"),
        code_challenge: text("code_challenge"),
        code_challenge_method: text("code_challenge_method"),
    })
}

async fn login_page(
    State(state): State<HubState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let base = match public_url(&state) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let q = match request_object(&state, &base, &query) {
        Ok(q) => q,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
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
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The client's `private_key_jwt` (RFC 7523): signed with the hub's key, by and about the
/// hub, for this provider's token endpoint, and not expired.
fn client_assertion(state: &HubState, base: &str, form: &TokenForm) -> Result<(), &'static str> {
    if form.client_assertion_type.as_deref()
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err("private_key_jwt only");
    }
    let keys = client_keys(state).ok_or("no client keys")?;
    let (claims, _) = crate::oidc::jose::verify(
        form.client_assertion.as_deref().unwrap_or_default(),
        &keys,
        &["ES256", "RS256"],
    )
    .map_err(|_| "the client assertion is not signed by the client")?;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str());
    let token_url = format!("{}/token", issuer(base));
    if text("iss") != Some(CLIENT_ID)
        || text("sub") != Some(CLIENT_ID)
        || form.client_id.as_deref().is_some_and(|c| c != CLIENT_ID)
    {
        return Err("the client assertion is another client's");
    }
    if text("aud") != Some(token_url.as_str()) && text("aud") != Some(issuer(base).as_str()) {
        return Err("the client assertion is meant for another server");
    }
    let now = chrono::Utc::now().timestamp();
    if claims
        .get("exp")
        .and_then(|e| e.as_i64())
        .is_none_or(|e| e < now || e > now + 600)
    {
        return Err("the client assertion has expired or lives too long");
    }
    Ok(())
}

async fn token(State(state): State<HubState>, Form(form): Form<TokenForm>) -> Response {
    if form.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type", "authorization_code only");
    }
    let Some(identity) = state.identity.get().filter(|i| i.builtin) else {
        return HubError::Refused("the built-in identity provider is off".into()).into_response();
    };
    if let Err(why) = client_assertion(&state, &identity.public_url, &form) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "invalid_client", "error_description": why })),
        )
            .into_response();
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
        let iss = issuer(&identity.public_url);
        let sub = subject(&cf);
        // The access token carries what the UserInfo answers, signed: nothing to store.
        let mut attributes = serde_json::json!({
            "iss": iss,
            "aud": CLIENT_ID,
            "sub": sub,
            FISCAL_NUMBER: format!("TINIT-{cf}"),
        });
        for (k, v) in [("name", name), ("email", email), ("phone_number", phone)] {
            if let Some(v) = v {
                attributes[k] = v.into();
            }
        }
        let mut grant = attributes.clone();
        grant["exp"] = (now + 300).into();
        grant["typ"] = "access".into();
        let access_token =
            crate::oidc::jose::sign(&grant, "at+jwt", &signer).map_err(HubError::Internal)?;
        let mut claims = serde_json::json!({
            "iss": iss,
            "aud": CLIENT_ID,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "acr": crate::oidc::SPID_LEVELS[1],
            "at_hash": crate::oidc::jose::half_hash("EdDSA", &access_token),
        });
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
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

/// The subject the provider gives a person: opaque, stable, not the fiscal number.
fn subject(cf: &str) -> String {
    crate::oidc::jose::b64(&sha2::Sha256::digest(format!("sportello-idp/{cf}").as_bytes())[..16])
}

/// `GET /idp/userinfo`: the attributes, signed and then encrypted to the hub's encryption key.
async fn userinfo(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response()
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let answer = async {
        let c = state.pool.get().await?;
        let (signer, public) = signing_key(&state, &c).await?;
        let keys = crate::oidc::jose::key_set(&serde_json::json!({ "keys": [public] }))
            .map_err(HubError::Internal)?;
        let Ok((mut claims, _)) = crate::oidc::jose::verify(token, &keys, &["EdDSA"]) else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        if claims.get("typ").and_then(|t| t.as_str()) != Some("access")
            || claims
                .get("exp")
                .and_then(|e| e.as_i64())
                .is_none_or(|e| e < now)
        {
            return Ok(None);
        }
        claims.remove("typ");
        claims.remove("exp");
        let signed = crate::oidc::jose::sign(&serde_json::Value::Object(claims), "JWT", &signer)
            .map_err(HubError::Internal)?;
        let hub_keys = state
            .identity
            .get()
            .map(|i| i.rp.keys().jwks())
            .unwrap_or_default();
        let enc = crate::oidc::jose::key_set(&hub_keys)
            .map_err(HubError::Internal)?
            .keys()
            .into_iter()
            .find(|k| k.key_use() == Some("enc"))
            .cloned()
            .ok_or_else(|| HubError::Config("the hub has no encryption key".into()))?;
        let encrypter = josekit::jwe::RSA_OAEP
            .encrypter_from_jwk(&enc)
            .map_err(|e| HubError::internal("the hub's encryption key", e))?;
        let mut header = josekit::jwe::JweHeader::new();
        header.set_content_encryption("A256CBC-HS512");
        header.set_content_type("JWT");
        if let Some(kid) = enc.key_id() {
            header.set_key_id(kid);
        }
        let jwe = josekit::jwe::serialize_compact(signed.as_bytes(), &header, &encrypter)
            .map_err(|e| HubError::internal("UserInfo encryption", e))?;
        Ok::<_, HubError>(Some(jwe))
    }
    .await;
    match answer {
        Ok(Some(jwe)) => (
            [
                (header::CONTENT_TYPE, "application/jwt"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            jwe,
        )
            .into_response(),
        Ok(None) => unauthorized(),
        Err(e) => e.into_response(),
    }
}
