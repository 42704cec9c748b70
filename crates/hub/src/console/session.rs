//! Who is at the console, and what every console page shares: the session cookie, the logged-in
//! user ([`Me`]) with what their role lets them see and change, the CSRF check of every form,
//! and the pages for a refusal.

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::Role;
use crate::pages::html;
use crate::{HubError, HubState};
use web::auth;

pub(super) const COOKIE: &str = "__Host-hub_session";
pub(super) const SESSION_HOURS: i32 = 10;

/// Parses a sede code from a path or a form: four digits, not 0000.
pub(super) fn code(s: &str) -> Option<u16> {
    let s = s.trim();
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
        .filter(|&c| c > 0)
}

/// A logged-in console user, as pages show and check them.
pub(super) struct Me {
    pub(super) username: String,
    pub(super) role: Role,
    pub(super) branch: Option<i32>,
    pub(super) csrf: String,
}
impl Me {
    pub(super) fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the user may see a sede's pages: administrators every sede, others their own.
    pub(super) fn sees(&self, branch: u16) -> bool {
        self.is_admin() || self.branch == Some(i32::from(branch))
    }

    /// Whether the user may change a sede's services, counters, hours and rules.
    pub(super) fn configures(&self, branch: u16) -> bool {
        self.is_admin() || (self.role == Role::Supervisor && self.sees(branch))
    }

    /// Whether the user may cancel a sede's bookings.
    pub(super) fn books(&self, branch: u16) -> bool {
        self.sees(branch) && self.role != Role::Counter
    }

    pub(super) fn role_label(&self) -> &'static str {
        role_label(self.role)
    }

    /// The user's own sede, as the menu links to it.
    pub(super) fn home(&self) -> Option<String> {
        self.branch.map(|b| format!("{b:04}"))
    }
}
/// A role in words.
pub(super) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "amministratore",
        Role::Supervisor => "responsabile di sede",
        Role::Backoffice => "operatore di back office",
        Role::Counter => "operatore di sportello",
    }
}
pub(super) async fn user(state: &HubState, headers: &HeaderMap) -> Result<Option<Me>, HubError> {
    let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| auth::cookie_value(c, COOKIE))
    else {
        return Ok(None);
    };
    let c = state.pool.get().await?;
    let row = c
        .query_opt(
            "SELECT u.username, u.role, u.branch_id, s.csrf FROM hub_session s
             JOIN hub_user u USING (username)
             WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled",
            &[&auth::token_hash(token)],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Me {
            username: r.get(0),
            role: Role::parse(r.get(1))?,
            branch: r.get(2),
            csrf: r.get(3),
        })
    }))
}
/// The logged-in user, or the answer to give instead of the page.
pub(super) async fn me(state: &HubState, headers: &HeaderMap) -> Result<Me, Response> {
    match user(state, headers).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(e.into_response()),
    }
}
pub(super) async fn checked(
    state: &HubState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Me, Response> {
    match user(state, headers).await {
        Ok(Some(u)) if auth::same(&u.csrf, csrf) => Ok(u),
        Ok(Some(_)) => Err((StatusCode::FORBIDDEN, "CSRF token mismatch").into_response()),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(e.into_response()),
    }
}
/// The user and the sede of a sede's page or form, or the answer to give instead: not logged
/// in (or, with `csrf`, a forged form), not a sede code, or not allowed by `may`.
pub(super) async fn for_sede(
    state: &HubState,
    headers: &HeaderMap,
    code_text: &str,
    csrf: Option<&str>,
    may: fn(&Me, u16) -> bool,
) -> Result<(Me, u16), Response> {
    let me = match csrf {
        Some(csrf) => checked(state, headers, csrf).await?,
        None => me(state, headers).await?,
    };
    let Some(branch) = code(code_text) else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    if !may(&me, branch) {
        return Err(forbidden());
    }
    Ok((me, branch))
}
/// A page that may carry a refusal: 422 when it does, so the form's failure is plain.
pub(super) fn html_refused(t: impl Template, refused: bool) -> Response {
    let mut r = html(t);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}
/// A page the user may not see.
pub(super) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html("<!doctype html><html lang=\"it\"><title>Non consentito</title><p>Questa pagina non è tra quelle del suo ruolo.</p><p><a href=\"/console\">Torna alla console</a></p></html>"),
    )
        .into_response()
}
#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}
