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
use crate::jobs::{self, Registry};
use crate::{HubError, HubState};
use deadpool_postgres::Pool;

use domain::contatti::{ResponseClock, ResponseTargets};
use protocol::wire::{
    AttachmentInfo, BranchConfigPayload, ContactMessage, ContactRequest, NewContactRequest,
};

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
/// by content hash) and gives its protocol and its sede's promise; `None` when `cf` is not
/// delegated for the matricola. Run it inside the caller's transaction.
pub async fn submit(
    tx: &impl GenericClient,
    cf: &str,
    req: &NewContactRequest,
    contacts: &Contacts,
    uploads: &[Upload],
) -> Result<Option<Filed>, HubError> {
    let Some((sede, targets)) = tx
        .query_opt(
            "SELECT d.branch_id, c.payload->'contatti' FROM delegation d
             LEFT JOIN branch_config c USING (branch_id)
             WHERE d.person_cf = $1 AND d.matricola = $2",
            &[&cf, &req.matricola.as_str()],
        )
        .await?
        .map(|r| (r.get::<_, i32>(0), r.get(1)))
    else {
        return Ok(None);
    };
    let targets = targets_in(targets)?;
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
    let clock = clock_of(&targets, &req.topic, at, None, at);
    crate::notify::queue(tx, sede, rid, crate::notify::Event::Received(clock.due)).await?;
    Ok(Some(Filed { protocol, clock }))
}

/// A request filed: its protocol and the sede's promise on it.
#[derive(Debug, Clone)]
pub struct Filed {
    /// The protocol number.
    pub protocol: String,
    /// Its clock as it starts.
    pub clock: ResponseClock,
}

/// The kiosk's routes: a request typed there, and a company's history.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/v1/handoff/{id}/requests", post(create))
        .route("/v1/handoff/{id}/requests/{matricola}", get(list))
}

/// `POST /v1/handoff/{id}/requests`: a new request typed at the kiosk (no attachments),
/// answered with its protocol and its clock.
async fn create(visitor: Visitor) -> Result<(StatusCode, Json<serde_json::Value>), HubError> {
    let req: NewContactRequest = visitor.request.json("a request")?;
    check(&req).map_err(HubError::BadRequest)?;
    let Visitor {
        request, person_cf, ..
    } = visitor;
    let mut db = request.db;
    let tx = db.transaction().await?;
    let filed = submit(&tx, person_cf.as_str(), &req, &Contacts::default(), &[])
        .await?
        .ok_or(HubError::NotFound)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "protocol": filed.protocol, "clock": filed.clock })),
    ))
}

/// The requests about `matricola` with their messages, newest first, each with its clock
/// against its sede's promise and, when it ran so late that it was escalated and is still
/// without an answer, the first slot the sede's Agenda can offer now.
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
                     WHERE a.branch_id = r.branch_id AND a.request_id = r.id),
                    r.branch_id, r.answered_at, r.escalated_at
             FROM contact_request r
             LEFT JOIN contact_message m ON m.branch_id = r.branch_id AND m.request_id = r.id
             WHERE r.matricola = $1
             GROUP BY r.branch_id, r.id ORDER BY r.created_at DESC, r.id DESC",
            &[&matricola],
        )
        .await?;
    let now = chrono::Utc::now();
    let mut sedi = Sedi::default();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let messages: Vec<ContactMessage> = serde_json::from_value(r.get(5))
            .map_err(|e| HubError::internal("stored messages", e))?;
        let attachments: Vec<AttachmentInfo> = serde_json::from_value(r.get(6))
            .map_err(|e| HubError::internal("stored attachments", e))?;
        let topic: String = r.get(1);
        let branch: i32 = r.get(7);
        let answered: Option<chrono::DateTime<chrono::Utc>> = r.get(8);
        let escalated: Option<chrono::DateTime<chrono::Utc>> = r.get(9);
        let config = sedi.config(c, branch).await?;
        let clock = config.map(|cfg| clock_of(&cfg.contatti, &topic, r.get(4), answered, now));
        let offered_slot = match config {
            Some(cfg) if escalated.is_some() && answered.is_none() => {
                crate::agenda::first_free(c, branch, cfg).await?
            }
            _ => None,
        };
        out.push(ContactRequest {
            protocol: r.get(0),
            topic,
            subject: r.get(2),
            state: HubError::stored(
                "stored request state",
                r.get(3),
                domain::contatti::RequestState::from_name,
            )?,
            created_at: r.get(4),
            messages,
            attachments,
            clock,
            offered_slot,
        });
    }
    Ok(out)
}

/// The configurations of the sedi a list of requests is about, each read once.
#[derive(Default)]
struct Sedi(std::collections::HashMap<i32, Option<BranchConfigPayload>>);

impl Sedi {
    async fn config(
        &mut self,
        c: &impl GenericClient,
        branch: i32,
    ) -> Result<Option<&BranchConfigPayload>, HubError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.0.entry(branch) {
            let config = match u16::try_from(branch) {
                Ok(b) => crate::sede::config(c, b).await?,
                Err(_) => None,
            };
            slot.insert(config);
        }
        Ok(self.0.get(&branch).and_then(Option::as_ref))
    }
}

/// The clock of a request received at `created` and answered at `answered`, by its sede's
/// `targets`, as it stands at `now`: days are the sede's, in Italy's time zone.
pub fn clock_of(
    targets: &ResponseTargets,
    topic: &str,
    created: chrono::DateTime<chrono::Utc>,
    answered: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> ResponseClock {
    let day = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&domain::TIME_ZONE).date_naive();
    targets.clock(topic, day(created), answered.map(day), day(now))
}

/// The sede's promise on the request with `protocol`, in words for its receipt: by when it
/// answers, in how many working days. `None` for no such request.
pub async fn promise(c: &impl GenericClient, protocol: &str) -> Result<Option<String>, HubError> {
    let Some(r) = c
        .query_opt(
            "SELECT r.topic, r.created_at, c.payload->'contatti'
             FROM contact_request r LEFT JOIN branch_config c USING (branch_id)
             WHERE r.protocol = $1",
            &[&protocol],
        )
        .await?
    else {
        return Ok(None);
    };
    let targets = targets_in(r.get(2))?;
    let topic: String = r.get(0);
    let created = r.get(1);
    let clock = clock_of(&targets, &topic, created, None, created);
    Ok(Some(promise_text(&clock)))
}

/// The promise as the receipt and the notification say it.
pub fn promise_text(clock: &ResponseClock) -> String {
    format!(
        "La sede si impegna a rispondere entro il {} ({} giorni lavorativi).",
        clock.due.format("%d/%m/%Y"),
        clock.target_days
    )
}

/// A sede's targets as stored in its configuration (the default where it set none).
pub fn targets_in(stored: Option<serde_json::Value>) -> Result<ResponseTargets, HubError> {
    match stored {
        None | Some(serde_json::Value::Null) => Ok(ResponseTargets::default()),
        Some(v) => {
            serde_json::from_value(v).map_err(|e| HubError::internal("stored response targets", e))
        }
    }
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
                 state = CASE WHEN state = 'aperta' THEN 'presa_in_carico' ELSE state END,
                 answered_at = coalesce(answered_at, now())
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
            "UPDATE contact_request SET state = $3, updated_at = now(),
                 answered_at = CASE WHEN $3 = 'chiusa' THEN coalesce(answered_at, now())
                                    ELSE answered_at END
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

/// Job kind of the sweep that escalates requests past their sede's margin.
pub const ESCALATE: &str = "contatti_escalate";

/// Registers the escalation sweep with the job runner.
pub fn register(registry: &mut Registry, pool: Pool) {
    registry.register(ESCALATE, move |_| {
        let pool = pool.clone();
        async move {
            let n = escalate(&pool, chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            if n > 0 {
                tracing::info!(
                    escalated = n,
                    "requests past their sede's promise escalated"
                );
            }
            Ok(())
        }
    });
}

/// Queues this hour's sweep (one across all instances).
pub async fn schedule_escalation(db: &impl GenericClient) -> Result<(), HubError> {
    let now = chrono::Utc::now();
    jobs::enqueue(
        db,
        ESCALATE,
        None,
        serde_json::json!({}),
        now,
        Some(&format!("escalate:{}", now.format("%Y-%m-%dT%H"))),
    )
    .await?;
    Ok(())
}

/// Escalates every request still without an answer that is late by its sede's margin at
/// `now`: marks it (once, whichever instance gets there first), tells the supervisor's
/// mailbox, and offers the visitor an appointment at the first free slot, through the
/// contacts they left. Gives how many it escalated.
pub async fn escalate(pool: &Pool, now: chrono::DateTime<chrono::Utc>) -> Result<usize, HubError> {
    let mut c = pool.get().await?;
    let waiting = c
        .query(
            "SELECT branch_id, id, topic, created_at FROM contact_request
             WHERE answered_at IS NULL AND escalated_at IS NULL AND state <> 'chiusa'
             ORDER BY branch_id, created_at",
            &[],
        )
        .await?;
    let mut sedi = Sedi::default();
    let mut escalated = 0;
    for r in &waiting {
        let (branch, id, topic): (i32, i64, String) = (r.get(0), r.get(1), r.get(2));
        let Some(config) = sedi.config(&c, branch).await?.cloned() else {
            continue;
        };
        let clock = clock_of(&config.contatti, &topic, r.get(3), None, now);
        if !clock.needs_escalation(&config.contatti) {
            continue;
        }
        let tx = c.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "UPDATE contact_request SET escalated_at = $3
                 WHERE branch_id = $1 AND id = $2
                   AND escalated_at IS NULL AND answered_at IS NULL
                 RETURNING protocol",
                &[&branch, &id, &now],
            )
            .await?
        else {
            continue;
        };
        let protocol: String = row.get(0);
        let slot = crate::agenda::first_free(&tx, branch, &config).await?;
        crate::notify::queue(&tx, branch, id, crate::notify::Event::Late(slot)).await?;
        if let Some(to) = &config.contatti.escalate_to {
            let topic_name = TOPICS
                .iter()
                .find(|(code, _)| *code == topic)
                .map_or(topic.as_str(), |(_, name)| name);
            // The request's protocol and clock only: what the visitor wrote stays in the
            // console.
            let body = format!(
                "La richiesta {protocol} ({topic_name}) alla sede {code:04} aspetta una \
                 risposta da {waited} giorni lavorativi: il termine era di {target}, scaduto il \
                 {due}.\n\nÈ in cima all'elenco dell'Area Contatti nella console della sede. \
                 Al richiedente è stato offerto un appuntamento.\n",
                code = branch,
                waited = clock.waited,
                target = clock.target_days,
                due = clock.due.format("%d/%m/%Y"),
            );
            crate::notify::queue_texts(
                &tx,
                branch,
                Some(to),
                None,
                &format!("Sportello – richiesta {protocol} in ritardo"),
                &body,
                "",
            )
            .await?;
        }
        crate::audit::record(
            &tx,
            "sistema",
            "contatti.escalate",
            u16::try_from(branch).ok(),
            serde_json::json!({ "protocol": protocol, "late_by": clock.late_by() }),
        )
        .await?;
        tx.commit().await?;
        escalated += 1;
    }
    Ok(escalated)
}
