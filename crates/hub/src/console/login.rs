//! Logging in and out of the console. Failed logins are counted in PostgreSQL by address and
//! by account, so a second hub instance is no way around the limit.

use std::net::IpAddr;

use askama::Template;
use axum::extract::State;

use crate::extract::ClientIp;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::session::{COOKIE, CsrfForm, SESSION_HOURS, checked};
use crate::pages::html;
use crate::{HubError, HubState};
use web::auth::{self, LoginLimiter};

/// Login and logout.
pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
}

/// Seconds to wait before another login attempt from `ip` for `username`, if either has
/// failed too often within the window.
async fn login_blocked(
    db: &impl deadpool_postgres::GenericClient,
    keys: &[String],
) -> Result<Option<u64>, HubError> {
    let window = auth::WINDOW.as_secs_f64();
    let row = db
        .query_one(
            "SELECT max(ceil(extract(epoch FROM min_at + make_interval(secs => $2) - now())))::bigint
             FROM (SELECT min(at) AS min_at FROM login_failure
                   WHERE key = ANY($1) AND at > now() - make_interval(secs => $2)
                   GROUP BY key HAVING count(*) >= $3) blocked",
            &[&keys, &window, &(auth::MAX_FAILURES as i64)],
        )
        .await?;
    Ok(row.get::<_, Option<i64>>(0).map(|s| s.max(0) as u64 + 1))
}

/// Counts an attempt as failed *before* its password is checked, so that concurrent attempts
/// (at this instance or another) cannot all pass the limit while the first ones are hashing:
/// `Err(seconds to wait)` when blocked. The keys are locked for the transaction, so two
/// attempts never both see room for one.
async fn reserve(
    db: &mut deadpool_postgres::Object,
    ip: IpAddr,
    username: &str,
) -> Result<Result<(), u64>, HubError> {
    let mut keys = LoginLimiter::keys(ip, username).to_vec();
    keys.sort();
    let tx = db.transaction().await?;
    for key in &keys {
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[key],
        )
        .await?;
    }
    if let Some(wait) = login_blocked(&tx, &keys).await? {
        return Ok(Err(wait));
    }
    let window = auth::WINDOW.as_secs_f64();
    tx.execute(
        "DELETE FROM login_failure WHERE at < now() - make_interval(secs => $1)",
        &[&window],
    )
    .await?;
    tx.execute(
        "INSERT INTO login_failure (key) SELECT unnest($1::text[])",
        &[&keys],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

#[derive(Template)]
#[template(path = "hub_login.html")]
struct LoginPage {
    error: Option<String>,
    username: String,
}
async fn login_page() -> Response {
    html(LoginPage {
        error: None,
        username: String::new(),
    })
}
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}
async fn login(
    State(state): State<HubState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Response {
    let result = async {
        {
            let mut c = state.pool.get().await?;
            if let Err(wait) = reserve(&mut c, ip, &form.username).await? {
                return Ok::<_, HubError>(Err(wait));
            }
        }
        // Nothing longer than a valid name or password is looked up or hashed: it is a wrong
        // login, already counted.
        if auth::check_username(&form.username).is_err() || form.password.len() > auth::MAX_PASSWORD
        {
            return Ok(Ok(None));
        }
        let hash: Option<String> = state
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT password_hash FROM hub_user WHERE username = $1 AND NOT disabled",
                &[&form.username],
            )
            .await?
            .map(|r| r.get(0));
        // The same work for an unknown name as for a wrong password; no pooled connection is
        // held while it runs.
        let phc = hash
            .clone()
            .unwrap_or_else(|| auth::dummy_hash().to_owned());
        let checked = auth::check_password(form.password.clone(), phc)
            .await
            .ok_or_else(|| HubError::Unavailable("password checks busy".into()))?;
        if !(checked && hash.is_some()) {
            return Ok(Ok(None));
        }
        let c = state.pool.get().await?;
        // A success clears the account's counter and takes this attempt off the address's.
        let [address, account] = LoginLimiter::keys(ip, &form.username);
        c.execute("DELETE FROM login_failure WHERE key = $1", &[&account])
            .await?;
        c.execute(
            "DELETE FROM login_failure WHERE ctid = (SELECT ctid FROM login_failure
             WHERE key = $1 ORDER BY at DESC LIMIT 1)",
            &[&address],
        )
        .await?;
        let token = auth::random_hex(32);
        let csrf = auth::random_hex(16);
        c.execute(
            "INSERT INTO hub_session (token_hash, username, csrf, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
            &[
                &auth::token_hash(&token),
                &form.username,
                &csrf,
                &SESSION_HOURS,
            ],
        )
        .await?;
        crate::audit::record(
            &c,
            &form.username,
            "console.login",
            None,
            serde_json::json!({}),
        )
        .await?;
        Ok(Ok(Some(token)))
    }
    .await;
    match result {
        Ok(Ok(Some(token))) => {
            let cookie = format!(
                "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION_HOURS * 3600
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/console")).into_response()
        }
        Ok(Ok(None)) => {
            let mut r = html(LoginPage {
                error: Some("Nome utente o password non corretti.".into()),
                username: form.username.chars().take(64).collect(),
            });
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Ok(Err(wait)) => {
            let mut r = html(LoginPage {
                error: Some(format!("Troppi tentativi: riprovi tra {wait} secondi.")),
                username: form.username.chars().take(64).collect(),
            });
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r
        }
        Err(e) => e.into_response(),
    }
}
async fn logout(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if checked(&state, &headers, &form.csrf).await.is_ok()
        && let Some(token) = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| auth::cookie_value(c, COOKIE))
        && let Ok(c) = state.pool.get().await
    {
        let _ = c
            .execute(
                "DELETE FROM hub_session WHERE token_hash = $1",
                &[&auth::token_hash(token)],
            )
            .await;
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Redirect::to("/console/login"),
    )
        .into_response()
}
