//! *Comunicazioni on-line* in the console: the sede's istanze with their fields, moved forward
//! by back office, supervisors and administrators (outcomes with their reasons), and, for
//! administrators, which istanze can be sent at all.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{Me, checked, for_sede, forbidden, html_refused, me};
use crate::{HubError, HubState, istanze};

pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/sedi/{code}/istanze", get(page))
        .route("/console/sedi/{code}/istanze/azione", post(act))
        .route("/console/istanze", get(catalogue))
        .route("/console/istanze/disponibilita", post(set_availability))
}

struct FieldRow {
    label: &'static str,
    value: String,
}

struct HistoryRow {
    at: String,
    state: &'static str,
    actor: String,
    note: String,
}

struct IstanzaRow {
    protocol: String,
    matricola: String,
    title: &'static str,
    state: &'static str,
    created: String,
    fields: Vec<FieldRow>,
    history: Vec<HistoryRow>,
    /// The states it may move to, code and words.
    next: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "hub_istanze.html")]
struct IstanzePage {
    me: Me,
    code: String,
    istanze: Vec<IstanzaRow>,
    error: Option<String>,
}

async fn page(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(c): Path<String>,
) -> Response {
    let (me, branch) = match for_sede(&state, &headers, &c, None, Me::books).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    render(&state, me, branch, None).await
}

async fn render(state: &HubState, me: Me, branch: u16, error: Option<String>) -> Response {
    let rows = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query(
                "SELECT i.protocol, i.matricola, i.code, i.state, i.fields,
                        to_char(i.created_at AT TIME ZONE 'Europe/Rome', 'DD/MM/YYYY HH24:MI'),
                        coalesce((SELECT json_agg(json_build_object(
                            'at', to_char(h.at AT TIME ZONE 'Europe/Rome', 'DD/MM/YYYY HH24:MI'),
                            'state', h.state, 'actor', h.actor, 'note', h.note) ORDER BY h.at)
                          FROM istanza_history h
                          WHERE h.branch_id = i.branch_id AND h.istanza_id = i.id), '[]')
                 FROM istanza i WHERE i.branch_id = $1
                 ORDER BY i.state IN ('accolta', 'accolta_parzialmente', 'respinta'),
                          i.created_at DESC
                 LIMIT 200",
                &[&i32::from(branch)],
            )
            .await?,
        )
    }
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let words = domain::istanze::state_words;
    let istanze = rows
        .iter()
        .map(|r| {
            let code: String = r.get(2);
            let st: String = r.get(3);
            let values: serde_json::Value = r.get(4);
            let history: serde_json::Value = r.get(6);
            let modulo = domain::istanze::modulo(&code);
            let at = domain::istanze::STATES
                .iter()
                .position(|s| *s == st)
                .unwrap_or(0);
            IstanzaRow {
                protocol: r.get(0),
                matricola: r.get(1),
                title: modulo.map_or("—", |m| m.title),
                state: words(&st),
                created: r.get(5),
                fields: modulo
                    .map(|m| m.fields)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| {
                        let raw = values[f.name].as_str().unwrap_or("");
                        FieldRow {
                            label: f.label,
                            // Stored plain (`12450.00`), read the Italian way.
                            value: match f.kind {
                                domain::istanze::Kind::Amount => domain::istanze::parse_amount(raw)
                                    .map_or_else(|| raw.to_owned(), protocol::cassetto::euro),
                                _ => raw.to_owned(),
                            },
                        }
                    })
                    .collect(),
                history: history
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| HistoryRow {
                        at: h["at"].as_str().unwrap_or("").to_owned(),
                        state: words(h["state"].as_str().unwrap_or("")),
                        actor: h["actor"].as_str().unwrap_or("").to_owned(),
                        note: h["note"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect(),
                next: if at >= 3 {
                    Vec::new()
                } else {
                    domain::istanze::STATES[at + 1..]
                        .iter()
                        .map(|s| (*s, words(s)))
                        .collect()
                },
            }
        })
        .collect();
    let refused = error.is_some();
    html_refused(
        IstanzePage {
            me,
            code: format!("{branch:04}"),
            istanze,
            error,
        },
        refused,
    )
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    protocol: String,
    state: String,
    #[serde(default)]
    esito: String,
}

async fn act(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(c): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (me, branch) = match for_sede(&state, &headers, &c, Some(&form.csrf), Me::books).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let done = async {
        let mut db = state.pool.get().await?;
        istanze::set_state(
            &mut db,
            &me.username,
            branch,
            &form.protocol,
            &form.state,
            &form.esito,
        )
        .await
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/sedi/{branch:04}/istanze")).into_response(),
        Err(HubError::BadRequest(m)) => render(&state, me, branch, Some(m)).await,
        Err(e) => e.into_response(),
    }
}

struct ModuloRow {
    code: &'static str,
    title: &'static str,
    available: bool,
    reason: String,
}

#[derive(Template)]
#[template(path = "hub_istanze_catalogo.html")]
struct CataloguePage {
    me: Me,
    moduli: Vec<ModuloRow>,
    error: Option<String>,
}

async fn catalogue(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let me = match me(&state, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !me.is_admin() {
        return forbidden();
    }
    render_catalogue(&state, me, None).await
}

async fn render_catalogue(state: &HubState, me: Me, error: Option<String>) -> Response {
    let list = async {
        let c = state.pool.get().await?;
        istanze::availability(&c).await
    }
    .await;
    let list = match list {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let moduli = domain::istanze::MODULI
        .iter()
        .zip(list)
        .map(|(m, a)| ModuloRow {
            code: m.code,
            title: m.title,
            available: a.available,
            reason: a.reason.unwrap_or_default(),
        })
        .collect();
    let refused = error.is_some();
    html_refused(CataloguePage { me, moduli, error }, refused)
}

#[derive(Deserialize)]
struct AvailabilityForm {
    csrf: String,
    code: String,
    /// `apri` or `chiudi`.
    action: String,
    #[serde(default)]
    reason: String,
}

async fn set_availability(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(form): Form<AvailabilityForm>,
) -> Response {
    let me = match checked(&state, &headers, &form.csrf).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !me.is_admin() {
        return forbidden();
    }
    let done = async {
        let mut db = state.pool.get().await?;
        istanze::set_availability(
            &mut db,
            &me.username,
            &form.code,
            form.action == "apri",
            &form.reason,
        )
        .await
    }
    .await;
    match done {
        Ok(()) => Redirect::to("/console/istanze").into_response(),
        Err(HubError::BadRequest(m)) => render_catalogue(&state, me, Some(m)).await,
        Err(e) => e.into_response(),
    }
}
