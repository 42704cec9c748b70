//! Area Contatti in the console: the sede's requests, each with its messages and its clock
//! against the sede's promise — those waiting for an answer first, the most overdue on top,
//! escalated ones marked; back-office operators, supervisors and administrators take them in
//! charge, reply and close them. Counter staff do not see them.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{Me, for_sede, html_refused};
use crate::{HubError, HubState, contatti};

pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/sedi/{code}/richieste", get(page))
        .route("/console/sedi/{code}/richieste/azione", post(act))
        .route("/console/sedi/{code}/allegati/{hash}", get(attachment))
}

struct AttachmentRow {
    name: String,
    hash: String,
    size: String,
}

struct MessageRow {
    at: String,
    from_sede: bool,
    author: String,
    body: String,
}

struct RequestRow {
    protocol: String,
    matricola: String,
    topic: &'static str,
    subject: String,
    state: &'static str,
    open: bool,
    created: String,
    /// The clock in words.
    clock: String,
    /// Past due without an answer.
    overdue: bool,
    /// When it went to the supervisor.
    escalated: Option<String>,
    messages: Vec<MessageRow>,
    attachments: Vec<AttachmentRow>,
}

#[derive(Template)]
#[template(path = "hub_requests.html")]
struct RequestsPage {
    me: Me,
    code: String,
    requests: Vec<RequestRow>,
    /// How many are past due without an answer, and how many of those were escalated.
    overdue: usize,
    escalated: usize,
    error: Option<String>,
}

fn state_text(state: &str) -> &'static str {
    match state {
        "aperta" => "aperta",
        "presa_in_carico" => "presa in carico",
        _ => "chiusa",
    }
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
        let targets = crate::sede::config(&c, branch)
            .await?
            .map(|c| c.contatti)
            .unwrap_or_default();
        let rows = c
            .query(
                // Those waiting for an answer first (oldest first), then the rest, newest
                // first; the clocks then put the most overdue on top.
                "SELECT r.protocol, r.matricola, r.topic, r.subject, r.state,
                        to_char(r.created_at AT TIME ZONE 'Europe/Rome', 'DD/MM/YYYY HH24:MI'),
                        coalesce(json_agg(json_build_object(
                            'at', to_char(m.at AT TIME ZONE 'Europe/Rome', 'DD/MM/YYYY HH24:MI'),
                            'direction', m.direction, 'author', m.author, 'body', m.body)
                          ORDER BY m.at) FILTER (WHERE m.at IS NOT NULL), '[]'),
                        (SELECT coalesce(json_agg(json_build_object('name', a.name,
                                    'hash', encode(a.sha256, 'hex'), 'size', b.size)
                                  ORDER BY a.position), '[]')
                         FROM contact_attachment a JOIN blob b USING (sha256)
                         WHERE a.branch_id = r.branch_id AND a.request_id = r.id),
                        r.created_at, r.answered_at,
                        to_char(r.escalated_at AT TIME ZONE 'Europe/Rome', 'DD/MM/YYYY')
                 FROM contact_request r
                 LEFT JOIN contact_message m ON m.branch_id = r.branch_id AND m.request_id = r.id
                 WHERE r.branch_id = $1
                 GROUP BY r.branch_id, r.id
                 ORDER BY r.answered_at IS NOT NULL,
                          CASE WHEN r.answered_at IS NULL THEN r.created_at END,
                          r.created_at DESC
                 LIMIT 200",
                &[&i32::from(branch)],
            )
            .await?;
        Ok::<_, HubError>((targets, rows))
    }
    .await;
    let (targets, rows) = match rows {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let now = chrono::Utc::now();
    let mut requests: Vec<(domain::contatti::ResponseClock, RequestRow)> = rows
        .iter()
        .map(|r| {
            let topic: String = r.get(2);
            let st: String = r.get(4);
            let messages: serde_json::Value = r.get(6);
            let attachments: serde_json::Value = r.get(7);
            let clock = contatti::clock_of(&targets, &topic, r.get(8), r.get(9), now);
            let row = RequestRow {
                protocol: r.get(0),
                matricola: r.get(1),
                topic: contatti::TOPICS
                    .iter()
                    .find(|(c, _)| *c == topic)
                    .map_or("—", |(_, t)| t),
                subject: r.get(3),
                state: state_text(&st),
                open: st != "chiusa",
                created: r.get(5),
                clock: clock.text().text(i18n::Lang::It),
                overdue: clock.is_overdue(),
                escalated: r.get(10),
                messages: messages
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| MessageRow {
                        at: m["at"].as_str().unwrap_or("").to_owned(),
                        from_sede: m["direction"] == "out",
                        // Visitors are shown as such, never by their codice fiscale.
                        author: if m["direction"] == "out" {
                            m["author"].as_str().unwrap_or("").to_owned()
                        } else {
                            "richiedente".into()
                        },
                        body: m["body"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect(),
                attachments: attachments
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| AttachmentRow {
                        name: a["name"].as_str().unwrap_or("").to_owned(),
                        hash: a["hash"].as_str().unwrap_or("").to_owned(),
                        size: size_text(a["size"].as_u64().unwrap_or(0)),
                    })
                    .collect(),
            };
            (clock, row)
        })
        .collect();
    // Waiting ones by how late they are (then by due date); answered ones keep their order.
    requests.sort_by_key(|(clock, _)| {
        (
            clock.answered.is_some(),
            clock
                .answered
                .is_none()
                .then(|| std::cmp::Reverse(clock.late_by())),
            clock.answered.is_none().then_some(clock.due),
        )
    });
    let requests: Vec<RequestRow> = requests.into_iter().map(|(_, row)| row).collect();
    let overdue = requests.iter().filter(|r| r.overdue).count();
    let escalated = requests
        .iter()
        .filter(|r| r.overdue && r.escalated.is_some())
        .count();
    let refused = error.is_some();
    html_refused(
        RequestsPage {
            me,
            code: format!("{branch:04}"),
            requests,
            overdue,
            escalated,
            error,
        },
        refused,
    )
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    protocol: String,
    /// `rispondi`, `prendi`, `chiudi`.
    action: String,
    #[serde(default)]
    body: String,
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
        match form.action.as_str() {
            "rispondi" => {
                contatti::reply(&mut db, &me.username, branch, &form.protocol, &form.body).await
            }
            "prendi" => {
                contatti::set_state(
                    &mut db,
                    &me.username,
                    branch,
                    &form.protocol,
                    "presa_in_carico",
                )
                .await
            }
            "chiudi" => {
                contatti::set_state(&mut db, &me.username, branch, &form.protocol, "chiusa").await
            }
            other => Err(HubError::BadRequest(format!("azione {other} sconosciuta"))),
        }
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/sedi/{branch:04}/richieste")).into_response(),
        Err(HubError::BadRequest(m)) => render(&state, me, branch, Some(m)).await,
        Err(e) => e.into_response(),
    }
}

/// A size as people read it: `820 byte`, `14 kB`, `2,4 MB`.
fn size_text(bytes: u64) -> String {
    if bytes < 1000 {
        format!("{bytes} byte")
    } else if bytes < 1_000_000 {
        format!("{} kB", bytes.div_ceil(1000))
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0).replace('.', ",")
    }
}

/// A file sent with one of the sede's requests, as a download: its stored type (found from
/// its content at upload), never shown inline, never sniffed again by the browser.
async fn attachment(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path((c, hash)): Path<(String, String)>,
) -> Response {
    let (_, branch) = match for_sede(&state, &headers, &c, None, Me::books).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let found = async {
        let db = state.pool.get().await?;
        Ok::<_, HubError>(
            db.query_opt(
                "SELECT a.name, b.mime, b.content FROM contact_attachment a
                 JOIN blob b USING (sha256)
                 WHERE a.branch_id = $1 AND encode(a.sha256, 'hex') = $2 LIMIT 1",
                &[&i32::from(branch), &hash.to_ascii_lowercase()],
            )
            .await?,
        )
    }
    .await;
    match found {
        Ok(Some(r)) => {
            let name: String = r.get(0);
            let mime: String = r.get(1);
            let content: Vec<u8> = r.get(2);
            let ascii: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() && c != '"' && c != '\\' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{ascii}\""),
                    ),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
                    (header::CACHE_CONTROL, "private, no-store".into()),
                ],
                content,
            )
                .into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(super::size_text(820), "820 byte");
        assert_eq!(super::size_text(14_200), "15 kB");
        assert_eq!(super::size_text(2_400_000), "2,4 MB");
    }
}
