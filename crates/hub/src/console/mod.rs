//! The hub's web console (server-rendered, like the branch console): login for hub accounts,
//! the fleet of kiosks with their health, revocation, and enrolment codes; the sedi with their
//! services, counters, hours and calling rules; appointment slots and bookings; accounts.
//! Sessions and failed-login counters live in PostgreSQL, so any instance serves any request
//! and a second instance is no way around the login limit; the cookie is `__Host-`, Secure,
//! HttpOnly, SameSite=Strict; every form carries the session's CSRF token.

mod bookings;
mod istanze;
mod richieste;
mod sedi;
mod users;

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::accounts::Role;
use super::{HubError, HubState, devices};
use web::auth::{self, LoginLimiter};

const COOKIE: &str = "__Host-hub_session";
const SESSION_HOURS: i32 = 10;

/// The console's routes.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/console", get(devices_page))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/enrolment-codes", post(create_code))
        .route("/console/devices/{device}/revoke", post(revoke))
        .merge(sedi::router())
        .merge(bookings::router())
        .merge(richieste::router())
        .merge(istanze::router())
        .merge(users::router())
}

/// Seconds to wait before another login attempt from `ip` for `username`, if either has
/// failed too often within the window.
async fn login_blocked(
    db: &impl deadpool_postgres::GenericClient,
    ip: IpAddr,
    username: &str,
) -> Result<Option<u64>, HubError> {
    let keys = LoginLimiter::keys(ip, username).to_vec();
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

/// Counts a failed login against its address and its account (and forgets expired ones).
async fn login_failed(
    db: &impl deadpool_postgres::GenericClient,
    ip: IpAddr,
    username: &str,
) -> Result<(), HubError> {
    let keys = LoginLimiter::keys(ip, username).to_vec();
    let window = auth::WINDOW.as_secs_f64();
    db.execute(
        "DELETE FROM login_failure WHERE at < now() - make_interval(secs => $1)",
        &[&window],
    )
    .await?;
    db.execute(
        "INSERT INTO login_failure (key) SELECT unnest($1::text[])",
        &[&keys],
    )
    .await?;
    Ok(())
}

/// A logged-in console user, as pages show and check them.
pub(super) struct Me {
    username: String,
    role: Role,
    branch: Option<i32>,
    csrf: String,
}

impl Me {
    fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the user may see a sede's pages: administrators every sede, others their own.
    fn sees(&self, branch: u16) -> bool {
        self.is_admin() || self.branch == Some(i32::from(branch))
    }

    /// Whether the user may change a sede's services, counters, hours and rules.
    fn configures(&self, branch: u16) -> bool {
        self.is_admin() || (self.role == Role::Supervisor && self.sees(branch))
    }

    /// Whether the user may cancel a sede's bookings.
    fn books(&self, branch: u16) -> bool {
        self.sees(branch) && self.role != Role::Counter
    }

    fn role_label(&self) -> &'static str {
        role_label(self.role)
    }

    /// The user's own sede, as the menu links to it.
    fn home(&self) -> Option<String> {
        self.branch.map(|b| format!("{b:04}"))
    }
}

/// A role in words.
fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "amministratore",
        Role::Supervisor => "responsabile di sede",
        Role::Backoffice => "operatore di back office",
        Role::Counter => "operatore di sportello",
    }
}

/// The logged-in user, or the answer to give instead of the page.
async fn me(state: &HubState, headers: &HeaderMap) -> Result<Me, Response> {
    match user(state, headers).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(e.into_response()),
    }
}

/// The user and the sede of a sede's page or form, or the answer to give instead: not logged
/// in (or, with `csrf`, a forged form), not a sede code, or not allowed by `may`.
async fn for_sede(
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
    let Some(branch) = sedi::code(code_text) else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    if !may(&me, branch) {
        return Err(forbidden());
    }
    Ok((me, branch))
}

/// A page that may carry a refusal: 422 when it does, so the form's failure is plain.
fn html_refused(t: impl Template, refused: bool) -> Response {
    let mut r = html(t);
    if refused {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// A page the user may not see.
fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html("<!doctype html><html lang=\"it\"><title>Non consentito</title><p>Questa pagina non è tra quelle del suo ruolo.</p><p><a href=\"/console\">Torna alla console</a></p></html>"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "hub_login.html")]
struct LoginPage {
    error: Option<String>,
    username: String,
}

struct DeviceRow {
    device_id: String,
    branch: String,
    last_seen: String,
    version: String,
    backlog: String,
    backlog_bad: bool,
    printer: String,
    printer_bad: bool,
    scanner: String,
    scanner_bad: bool,
    clock_trusted: bool,
    revoked: bool,
}

/// The printer state a kiosk reports, in words for staff.
fn printer_text(state: &str) -> (&'static str, bool) {
    match state {
        "ready" => ("pronta", false),
        "paper_low" => ("carta in esaurimento", true),
        "paper_out" => ("senza carta", true),
        "cover_open" => ("coperchio aperto", true),
        "offline" => ("non raggiungibile", true),
        _ => ("—", false),
    }
}

/// Today's queue at one branch, from the events it pushed.
struct TodayRow {
    branch: String,
    issued: i64,
    called: i64,
    served: i64,
    no_show: i64,
}

struct NewCode {
    branch: String,
    code: String,
}

#[derive(Template)]
#[template(path = "hub_devices.html")]
struct DevicesPage {
    me: Me,
    devices: Vec<DeviceRow>,
    today: Vec<TodayRow>,
    new_code: Option<NewCode>,
    error: Option<String>,
}

pub(super) fn html(t: impl Template) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => HubError::Config(e.to_string()).into_response(),
    }
}

async fn user(state: &HubState, headers: &HeaderMap) -> Result<Option<Me>, HubError> {
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = peer.ip();
    let result = async {
        let c = state.pool.get().await?;
        if let Some(wait) = login_blocked(&c, ip, &form.username).await? {
            return Ok::<_, HubError>(Err(wait));
        }
        let hash: Option<String> = c
            .query_opt(
                "SELECT password_hash FROM hub_user WHERE username = $1 AND NOT disabled",
                &[&form.username],
            )
            .await?
            .map(|r| r.get(0));
        // The same work for an unknown name as for a wrong password.
        let ok = auth::verify_password(
            &form.password,
            hash.as_deref().unwrap_or_else(|| auth::dummy_hash()),
        ) && hash.is_some();
        if !ok {
            login_failed(&c, ip, &form.username).await?;
            return Ok(Ok(None));
        }
        // A success clears the account's counter, not the address's.
        let [_, account] = LoginLimiter::keys(ip, &form.username);
        c.execute("DELETE FROM login_failure WHERE key = $1", &[&account])
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
        super::accounts::audit(
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
                username: form.username,
            });
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Ok(Err(wait)) => {
            let mut r = html(LoginPage {
                error: Some(format!("Troppi tentativi: riprovi tra {wait} secondi.")),
                username: form.username,
            });
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn devices_page(State(state): State<HubState>, headers: HeaderMap) -> Response {
    render_devices(&state, &headers, None, None).await
}

async fn render_devices(
    state: &HubState,
    headers: &HeaderMap,
    new_code: Option<NewCode>,
    error: Option<String>,
) -> Response {
    let user = match user(state, headers).await {
        Ok(Some(u)) => u,
        Ok(None) => return Redirect::to("/console/login").into_response(),
        Err(e) => return e.into_response(),
    };
    let rows = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query(
                "SELECT device_id, branch_id, to_char(last_seen AT TIME ZONE 'Europe/Rome', 'DD/MM/YYYY HH24:MI'),
                        coalesce(client_version, ''), status, revoked_at IS NOT NULL
                 FROM device WHERE $1::integer IS NULL OR branch_id = $1
                 ORDER BY branch_id, device_id",
                &[&if user.role == Role::Admin { None } else { user.branch }],
            )
            .await?,
        )
    }
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let today = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query(
                "SELECT branch_id,
                        count(*) FILTER (WHERE kind = 'ticket_issued'),
                        count(*) FILTER (WHERE kind = 'ticket_called'),
                        count(*) FILTER (WHERE kind = 'ticket_served'),
                        count(*) FILTER (WHERE kind = 'ticket_no_show')
                 FROM queue_event
                 WHERE business_day = (now() AT TIME ZONE 'Europe/Rome')::date
                   AND ($1::integer IS NULL OR branch_id = $1)
                 GROUP BY branch_id ORDER BY branch_id",
                &[&if user.role == Role::Admin {
                    None
                } else {
                    user.branch
                }],
            )
            .await?
            .iter()
            .map(|r| TodayRow {
                branch: format!("{:04}", r.get::<_, i32>(0)),
                issued: r.get(1),
                called: r.get(2),
                served: r.get(3),
                no_show: r.get(4),
            })
            .collect::<Vec<_>>(),
        )
    }
    .await;
    let today = match today {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let devices = rows
        .iter()
        .map(|r| {
            let status: serde_json::Value = r.get(4);
            let depth = status["outbox_depth"].as_u64().unwrap_or(0);
            let age = status["oldest_pending_age_s"].as_u64();
            DeviceRow {
                device_id: r.get(0),
                branch: format!("{:04}", r.get::<_, i32>(1)),
                last_seen: r
                    .get::<_, Option<String>>(2)
                    .unwrap_or_else(|| "mai".into()),
                version: r.get(3),
                backlog: match age {
                    Some(a) if depth > 0 => format!("{depth} (da {} min)", a / 60),
                    _ => depth.to_string(),
                },
                // An outbox older than 10 minutes means the kiosk cannot reach the hub.
                backlog_bad: age.is_some_and(|a| a > 600),
                printer: printer_text(status["printer"].as_str().unwrap_or(""))
                    .0
                    .to_owned(),
                printer_bad: printer_text(status["printer"].as_str().unwrap_or("")).1,
                scanner: match status["scanner"].as_str() {
                    Some("present") => "collegato",
                    Some("gone") => "scollegato",
                    _ => "—",
                }
                .to_owned(),
                scanner_bad: status["scanner"].as_str() == Some("gone"),
                clock_trusted: status["clock_trusted"].as_bool().unwrap_or(false),
                revoked: r.get(5),
            }
        })
        .collect();
    html(DevicesPage {
        me: user,
        devices,
        today,
        new_code,
        error,
    })
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    branch: String,
}

async fn checked(state: &HubState, headers: &HeaderMap, csrf: &str) -> Result<Me, Response> {
    match user(state, headers).await {
        Ok(Some(u)) if auth::same(&u.csrf, csrf) => Ok(u),
        Ok(Some(_)) => Err((StatusCode::FORBIDDEN, "CSRF token mismatch").into_response()),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(e.into_response()),
    }
}

async fn create_code(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let user = match checked(&state, &headers, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if user.role != Role::Admin {
        return (StatusCode::FORBIDDEN, "only administrators enrol kiosks").into_response();
    }
    let Ok(branch) = form.branch.trim().parse::<u16>() else {
        return render_devices(
            &state,
            &headers,
            None,
            Some("Il codice sede è di 4 cifre.".into()),
        )
        .await;
    };
    let code = async {
        let mut c = state.pool.get().await?;
        devices::create_code(&mut c, &user.username, branch).await
    }
    .await;
    match code {
        Ok(code) => {
            render_devices(
                &state,
                &headers,
                Some(NewCode {
                    branch: format!("{branch:04}"),
                    code,
                }),
                None,
            )
            .await
        }
        Err(HubError::BadRequest(m)) => render_devices(&state, &headers, None, Some(m)).await,
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(device): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = match checked(&state, &headers, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if user.role != Role::Admin {
        return (StatusCode::FORBIDDEN, "only administrators revoke kiosks").into_response();
    }
    let done = async {
        let c = state.pool.get().await?;
        devices::revoke(&c, &user.username, &device).await
    }
    .await;
    match done {
        Ok(()) => Redirect::to("/console").into_response(),
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
