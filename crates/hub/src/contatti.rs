//! Area Contatti: requests an identified delegate sends from the kiosk to the sede di
//! competenza of a matricola, generic or on a topic, and the history of messages both ways.
//! Sent only through a bound hand-off whose person is delegated for the matricola (the same
//! rule as the Cassetto summary); a request needs the hub, so the kiosk says so when it
//! cannot reach it and nothing is half-sent. Back-office operators of the sede take requests
//! in charge, reply and close them ([`reply`], [`set_state`]).

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use deadpool_postgres::GenericClient;
use sha2::Digest;

use crate::extract::{Delegated, Visitor};
use crate::{HubError, HubState};

use protocol::wire::{AttachmentInfo, ContactMessage, ContactRequest, NewContactRequest};

pub use domain::contatti::TOPICS;

/// Longest subject and text.
pub const MAX_SUBJECT: usize = 120;
/// Longest text of one message.
pub const MAX_BODY: usize = 4000;

/// Checks a new request, saying in Italian what is wrong.
pub fn check(r: &NewContactRequest) -> Result<(), String> {
    if !TOPICS.iter().any(|(code, _)| *code == r.topic) {
        return Err("Scelga l'argomento della richiesta.".into());
    }
    let subject = r.subject.trim().chars().count();
    if subject == 0 || subject > MAX_SUBJECT {
        return Err(format!("L'oggetto va da 1 a {MAX_SUBJECT} caratteri."));
    }
    let body = r.body.trim().chars().count();
    if body == 0 || body > MAX_BODY {
        return Err(format!("Il testo va da 1 a {MAX_BODY} caratteri."));
    }
    Ok(())
}

/// A file sent with a request, its type found from its content.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The name it had on the phone.
    pub name: String,
    /// Its type, found from its content (one the phone's desk accepts).
    pub mime: &'static str,
    /// The content.
    pub bytes: Vec<u8>,
}

/// Where the visitor wants to hear of replies and changes of state (both optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contacts {
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile number for SMS.
    pub mobile: Option<String>,
}

/// Files a checked request of `cf` with its first message and its attachments (stored once
/// by content hash) and gives its protocol; `None` when `cf` is not delegated for the
/// matricola. Run it inside the caller's transaction.
pub async fn submit(
    tx: &impl GenericClient,
    cf: &str,
    req: &NewContactRequest,
    contacts: &Contacts,
    uploads: &[Upload],
) -> Result<Option<String>, HubError> {
    let Some(sede) = tx
        .query_opt(
            "SELECT branch_id FROM delegation WHERE person_cf = $1 AND matricola = $2",
            &[&cf, &req.matricola.as_str()],
        )
        .await?
        .map(|r| r.get::<_, i32>(0))
    else {
        return Ok(None);
    };
    let row = tx
        .query_one(
            "INSERT INTO contact_request
                 (branch_id, protocol, matricola, person_cf, topic, subject, email, mobile)
             VALUES ($1, 'pending-' || gen_random_uuid(), $2, $3, $4, $5, $6, $7)
             RETURNING id, created_at",
            &[
                &sede,
                &req.matricola.as_str(),
                &cf,
                &req.topic,
                &req.subject.trim(),
                &contacts.email,
                &contacts.mobile,
            ],
        )
        .await?;
    let rid: i64 = row.get(0);
    let at: chrono::DateTime<chrono::Utc> = row.get(1);
    // INPS-style protocol: sede, date, progressive of the request.
    let protocol = format!(
        "INPS.{sede:04}.{}.{rid:07}",
        at.with_timezone(&domain::TIME_ZONE).format("%d/%m/%Y")
    );
    tx.execute(
        "UPDATE contact_request SET protocol = $3 WHERE branch_id = $1 AND id = $2",
        &[&sede, &rid, &protocol],
    )
    .await?;
    tx.execute(
        "INSERT INTO contact_message (branch_id, request_id, direction, author, body)
         VALUES ($1, $2, 'in', $3, $4)",
        &[&sede, &rid, &cf, &req.body.trim()],
    )
    .await?;
    for (i, u) in uploads.iter().enumerate() {
        let hash = sha2::Sha256::digest(&u.bytes).to_vec();
        tx.execute(
            "INSERT INTO blob (sha256, mime, size, content) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
            &[&hash, &u.mime, &(u.bytes.len() as i32), &u.bytes],
        )
        .await?;
        tx.execute(
            "INSERT INTO contact_attachment (branch_id, request_id, position, name, sha256)
             VALUES ($1, $2, $3, $4, $5)",
            &[&sede, &rid, &(i as i16 + 1), &u.name, &hash],
        )
        .await?;
    }
    crate::notify::queue(tx, sede, rid, crate::notify::Event::Received).await?;
    Ok(Some(protocol))
}

/// The kiosk's routes: a request typed there, and a company's history.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/v1/handoff/{id}/requests", post(create))
        .route("/v1/handoff/{id}/requests/{matricola}", get(list))
}

/// `POST /v1/handoff/{id}/requests`: a new request typed at the kiosk (no attachments),
/// answered with its protocol.
async fn create(visitor: Visitor) -> Result<(StatusCode, Json<serde_json::Value>), HubError> {
    let req: NewContactRequest = visitor.request.json("a request")?;
    check(&req).map_err(HubError::BadRequest)?;
    let Visitor {
        request, person_cf, ..
    } = visitor;
    let mut db = request.db;
    let tx = db.transaction().await?;
    let protocol = submit(&tx, person_cf.as_str(), &req, &Contacts::default(), &[])
        .await?
        .ok_or(HubError::NotFound)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "protocol": protocol })),
    ))
}

/// The requests about `matricola` with their messages, newest first.
pub async fn history(
    c: &impl GenericClient,
    matricola: &str,
) -> Result<Vec<ContactRequest>, HubError> {
    let rows = c
        .query(
            "SELECT r.protocol, r.topic, r.subject, r.state, r.created_at,
                    coalesce(json_agg(json_build_object('at', m.at, 'direction', m.direction,
                        'body', m.body) ORDER BY m.at) FILTER (WHERE m.at IS NOT NULL), '[]'),
                    (SELECT coalesce(json_agg(json_build_object('name', a.name, 'mime', b.mime,
                                'size', b.size) ORDER BY a.position), '[]')
                     FROM contact_attachment a JOIN blob b USING (sha256)
                     WHERE a.branch_id = r.branch_id AND a.request_id = r.id)
             FROM contact_request r
             LEFT JOIN contact_message m ON m.branch_id = r.branch_id AND m.request_id = r.id
             WHERE r.matricola = $1
             GROUP BY r.branch_id, r.id ORDER BY r.created_at DESC, r.id DESC",
            &[&matricola],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let messages: Vec<ContactMessage> = serde_json::from_value(r.get(5))
                .map_err(|e| HubError::internal("stored messages", e))?;
            let attachments: Vec<AttachmentInfo> = serde_json::from_value(r.get(6))
                .map_err(|e| HubError::internal("stored attachments", e))?;
            Ok(ContactRequest {
                protocol: r.get(0),
                topic: r.get(1),
                subject: r.get(2),
                state: HubError::stored(
                    "stored request state",
                    r.get(3),
                    domain::contatti::RequestState::from_name,
                )?,
                created_at: r.get(4),
                messages,
                attachments,
            })
        })
        .collect()
}

/// `GET /v1/handoff/{id}/requests/{matricola}`: the history of a delegated matricola.
async fn list(company: Delegated) -> Result<Json<Vec<ContactRequest>>, HubError> {
    Ok(Json(
        history(&company.visitor.request.db, company.matricola.as_str()).await?,
    ))
}

/// A back-office reply from the sede: the request is taken in charge if it was open.
pub async fn reply(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
    protocol: &str,
    body: &str,
) -> Result<(), HubError> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_BODY {
        return Err(HubError::BadRequest(format!(
            "La risposta va da 1 a {MAX_BODY} caratteri."
        )));
    }
    let tx = db.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "UPDATE contact_request SET updated_at = now(),
                 state = CASE WHEN state = 'aperta' THEN 'presa_in_carico' ELSE state END
             WHERE branch_id = $1 AND protocol = $2 AND state <> 'chiusa' RETURNING id",
            &[&i32::from(branch), &protocol],
        )
        .await?
    else {
        return Err(HubError::BadRequest(format!(
            "La richiesta {protocol} non c'è o è chiusa."
        )));
    };
    let id: i64 = row.get(0);
    tx.execute(
        "INSERT INTO contact_message (branch_id, request_id, direction, author, body)
         VALUES ($1, $2, 'out', $3, $4)",
        &[&i32::from(branch), &id, &actor, &body],
    )
    .await?;
    crate::notify::queue(&tx, i32::from(branch), id, crate::notify::Event::Replied).await?;
    crate::audit::record(
        &tx,
        actor,
        "contatti.reply",
        Some(branch),
        serde_json::json!({ "protocol": protocol }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a request to `presa_in_carico` or `chiusa`.
pub async fn set_state(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
    protocol: &str,
    state: &str,
) -> Result<(), HubError> {
    if !matches!(state, "presa_in_carico" | "chiusa") {
        return Err(HubError::BadRequest(format!("stato {state} sconosciuto")));
    }
    let tx = db.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "UPDATE contact_request SET state = $3, updated_at = now()
             WHERE branch_id = $1 AND protocol = $2 AND state <> 'chiusa' RETURNING id",
            &[&i32::from(branch), &protocol, &state],
        )
        .await?
    else {
        return Err(HubError::BadRequest(format!(
            "La richiesta {protocol} non c'è o è già chiusa."
        )));
    };
    let event = if state == "chiusa" {
        crate::notify::Event::Closed
    } else {
        crate::notify::Event::TakenInCharge
    };
    crate::notify::queue(&tx, i32::from(branch), row.get(0), event).await?;
    crate::audit::record(
        &tx,
        actor,
        "contatti.state",
        Some(branch),
        serde_json::json!({ "protocol": protocol, "state": state }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
