//! The console's home page: the fleet of kiosks with their health and today's queues, the
//! enrolment codes administrators make, and revocation.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::session::{CsrfForm, Me, checked, user};
use crate::accounts::Role;
use crate::pages::html;
use crate::{HubError, HubState, devices};
use protocol::wire::printer_words;

/// The fleet's page and its forms.
pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console", get(devices_page))
        .route("/console/enrolment-codes", post(create_code))
        .route("/console/devices/{device}/revoke", post(revoke))
}

struct DeviceRow {
    device_id: String,
    branch: String,
    /// "nodo della sede" or "chiosco", with where the node serves the kiosks.
    role: String,
    last_seen: String,
    version: String,
    /// Older than the newest version in the fleet (or the hub's own).
    lagging: bool,
    backlog: String,
    backlog_bad: bool,
    printer: String,
    printer_bad: bool,
    scanner: String,
    scanner_bad: bool,
    clock_trusted: bool,
    /// The branch's feed the kiosk cannot apply: since when and why, in words for staff.
    feed_stuck: Option<String>,
    revoked: bool,
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
    /// The version every device should run: the newest reported, or the hub's own.
    newest: String,
    /// Devices (not revoked) that run an older one.
    lagging: usize,
    today: Vec<TodayRow>,
    new_code: Option<NewCode>,
    error: Option<String>,
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
                        coalesce(client_version, ''), status, revoked_at IS NOT NULL, role, lan_url
                 FROM device WHERE $1::integer IS NULL OR branch_id = $1
                 ORDER BY branch_id, role = 'kiosk', device_id",
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
    let newest = crate::push::newest(
        rows.iter()
            .filter(|r| !r.get::<_, bool>(5))
            .map(|r| r.get::<_, &str>(3)),
    );
    let devices: Vec<DeviceRow> = rows
        .iter()
        .map(|r| {
            let status: serde_json::Value = r.get(4);
            let depth = status["outbox_depth"].as_u64().unwrap_or(0);
            let age = status["oldest_pending_age_s"].as_u64();
            DeviceRow {
                device_id: r.get(0),
                branch: format!("{:04}", r.get::<_, i32>(1)),
                role: match (r.get::<_, &str>(6), r.get::<_, Option<String>>(7)) {
                    ("kiosk", _) => "chiosco (usa il nodo)".to_owned(),
                    (_, Some(url)) => format!("nodo della sede ({url})"),
                    _ => "nodo della sede".to_owned(),
                },
                last_seen: r
                    .get::<_, Option<String>>(2)
                    .unwrap_or_else(|| "mai".into()),
                version: r.get(3),
                lagging: !r.get::<_, bool>(5)
                    && !r.get::<_, &str>(3).is_empty()
                    && crate::push::older(r.get(3), &newest),
                backlog: match age {
                    Some(a) if depth > 0 => format!("{depth} (da {} min)", a / 60),
                    _ => depth.to_string(),
                },
                // An outbox older than 10 minutes means the kiosk cannot reach the hub.
                backlog_bad: age.is_some_and(|a| a > 600),
                printer: printer_words(status["printer"].as_str().unwrap_or(""))
                    .0
                    .to_owned(),
                printer_bad: printer_words(status["printer"].as_str().unwrap_or("")).1,
                scanner: match status["scanner"].as_str() {
                    Some("present") => "collegato",
                    Some("gone") => "scollegato",
                    _ => "—",
                }
                .to_owned(),
                scanner_bad: status["scanner"].as_str() == Some("gone"),
                clock_trusted: status["clock_trusted"].as_bool().unwrap_or(false),
                feed_stuck: serde_json::from_value::<protocol::wire::FeedStuck>(
                    status["feed_stuck"].clone(),
                )
                .ok()
                .map(|f| {
                    format!(
                        "dal {} dopo il cambiamento n. {}: {}",
                        f.since
                            .with_timezone(&domain::TIME_ZONE)
                            .format("%d/%m/%Y %H:%M"),
                        f.after,
                        f.error
                    )
                }),
                revoked: r.get(5),
            }
        })
        .collect();
    let lagging = devices.iter().filter(|d| d.lagging).count();
    html(DevicesPage {
        me: user,
        devices,
        newest,
        lagging,
        today,
        new_code,
        error,
    })
}
#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    branch: String,
    #[serde(default)]
    role: Option<String>,
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
        let role = form
            .role
            .as_deref()
            .and_then(protocol::wire::DeviceRole::parse)
            .unwrap_or_default();
        devices::create_code(&mut c, &user.username, branch, role).await
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
