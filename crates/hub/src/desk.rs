//! The visitor's phone as the kiosk's desk. After identification the phone keeps a session of
//! its own (a cookie whose SHA-256 is stored with the hand-off, living as long as the
//! binding) and shows whatever form the kiosk asked for: the typing, the attachments and
//! later the amounts and bank details happen on the visitor's own screen, not in the lobby.
//!
//! Attachments are PDF, JPEG or PNG **by content** (a renamed executable is refused), at most
//! [`MAX_FILE_BYTES`] each and [`MAX_FILES`] per request, stored once by their SHA-256.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use crate::contatti::{self, Contacts, Upload};
use crate::extract::Visitor;
use crate::identity::{BINDING_SECONDS, IdentityConfig};
use crate::pages::phone_page;
use crate::{HubError, HubState};
use protocol::wire::{DeskTask, NewContactRequest};

/// Most files with one request.
pub const MAX_FILES: usize = 3;
/// Largest file.
pub const MAX_FILE_BYTES: usize = 3 * 1024 * 1024;
/// The content types accepted, as found from the bytes.
pub const ACCEPTED: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

const COOKIE: &str = "sportello_phone";

/// The phone's routes and the kiosk's call that sets the phone's form.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/h/desk", get(desk))
        .route(
            "/h/desk/richiesta",
            // Room for three full files and the text; anything larger is cut off by axum.
            post(send_request).layer(DefaultBodyLimit::max(
                MAX_FILES * MAX_FILE_BYTES + 256 * 1024,
            )),
        )
        .route("/h/desk/istanza", post(send_istanza))
        .route("/v1/handoff/{id}/task", post(set_task))
}

/// The type of `bytes` from their content, if it is one we accept.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let kind = infer::get(bytes)?;
    ACCEPTED.iter().copied().find(|m| *m == kind.mime_type())
}

/// A file name as the sede will see it: no path, no control characters, at most 100
/// characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(100).collect();
    if clean.trim().is_empty() {
        "allegato".into()
    } else {
        clean.trim().to_owned()
    }
}

/// The phone's live session, from its cookie.
struct PhoneSession {
    branch: i32,
    id: uuid::Uuid,
    cf: String,
    name: String,
    email: Option<String>,
    mobile: Option<String>,
    task: Option<DeskTask>,
    sent: Option<String>,
    csrf: String,
}

/// The form token of a phone session: derived from the cookie, so a page from elsewhere
/// (which cannot read the cookie) cannot post in the visitor's name.
fn csrf_of(secret: &str) -> String {
    web::auth::token_hash(&format!("csrf:{secret}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn session(state: &HubState, headers: &HeaderMap) -> Result<Option<PhoneSession>, HubError> {
    let Some(secret) = crate::pages::cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let c = state.pool.get().await?;
    let row = c
        .query_opt(
            "SELECT branch_id, id, person_cf, coalesce(person_name, ''), email, mobile, task,
                    task_result
             FROM handoff
             WHERE phone_hash = $1 AND ended_at IS NULL AND session_expires_at > now()",
            &[&web::auth::token_hash(&secret)],
        )
        .await?;
    Ok(row.map(|r| PhoneSession {
        branch: r.get(0),
        id: r.get(1),
        cf: r.get(2),
        name: r.get(3),
        email: r.get(4),
        mobile: r.get(5),
        task: r
            .get::<_, Option<serde_json::Value>>(6)
            .and_then(|t| serde_json::from_value(t).ok()),
        sent: r.get(7),
        csrf: csrf_of(&secret),
    }))
}

struct Topic {
    code: &'static str,
    text: &'static str,
}

/// The request form as typed so far.
#[derive(Default)]
struct Draft {
    topic: String,
    subject: String,
    body: String,
    /// Whether to be told by e-mail and by SMS, at the contacts the provider vouched for.
    notify_email: bool,
    notify_mobile: bool,
    /// The form came back from the phone (else it is shown the first time, both ticked).
    posted: bool,
}

/// A contact the identity provider vouched for, offered for the notifications.
struct Offer {
    address: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "phone_desk.html")]
struct DeskPage {
    title: String,
    greeting: String,
    csrf: String,
    /// What was sent last.
    sent: Option<String>,
    /// The sede's promise on it, when it is a request.
    promise: Option<String>,
    error: Option<String>,
    /// The company of the form, by name.
    company: Option<String>,
    matricola: String,
    /// The form is a request to the sede (else, with `istanza`, an istanza).
    request_form: bool,
    istanza: Option<IstanzaForm>,
    topics: Vec<Topic>,
    draft: Draft,
    /// The provider's e-mail and mobile, the only places notifications go.
    email_offer: Option<Offer>,
    mobile_offer: Option<Offer>,
    max_files: usize,
}

fn no_session() -> Response {
    phone_page(
        StatusCode::UNAUTHORIZED,
        "Sessione terminata",
        "La sessione al chiosco è finita. Per continuare, al chiosco tocchi «Il mio cassetto» e \
         inquadri di nuovo il codice.",
    )
}

/// The page after a successful identification: the session cookie and the desk.
pub fn welcome(identity: &IdentityConfig, secret: &str, name: &str) -> Response {
    let page = DeskPage {
        title: "Identificazione riuscita".into(),
        greeting: format!(
            "Buongiorno {name}. Torni al chiosco: le sue aziende sono sullo schermo."
        ),
        csrf: csrf_of(secret),
        sent: None,
        promise: None,
        error: None,
        company: None,
        matricola: String::new(),
        request_form: false,
        istanza: None,
        topics: Vec::new(),
        draft: Draft::default(),
        email_offer: None,
        mobile_offer: None,
        max_files: MAX_FILES,
    };
    let secure = if identity.public_url.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={secret}; Path=/h; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        BINDING_SECONDS
    );
    let mut r = render(StatusCode::OK, page);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn render(status: StatusCode, page: DeskPage) -> Response {
    match page.render() {
        Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => HubError::internal("template", e).into_response(),
    }
}

/// An istanza's form as the phone shows it.
struct IstanzaForm {
    code: &'static str,
    title: &'static str,
    fields: Vec<FieldView>,
}

/// One field: its input type and hints from its kind, and what was typed.
struct FieldView {
    name: &'static str,
    label: &'static str,
    input: &'static str,
    inputmode: &'static str,
    hint: String,
    value: String,
    options: Vec<&'static str>,
    multiline: bool,
}

fn istanza_form(code: &str, typed: &BTreeMap<String, String>) -> Option<IstanzaForm> {
    use domain::istanze::Kind;
    let m = domain::istanze::modulo(code)?;
    Some(IstanzaForm {
        code: m.code,
        title: m.title,
        fields: m
            .fields
            .iter()
            .map(|f| {
                let (input, inputmode, hint) = match f.kind {
                    Kind::Period => ("month", "numeric", "Mese e anno, AAAA-MM".to_owned()),
                    Kind::Date => ("date", "numeric", "Giorno, mese e anno".to_owned()),
                    Kind::Amount => (
                        "text",
                        "decimal",
                        "In euro, per esempio 1.234,56".to_owned(),
                    ),
                    Kind::Iban => ("text", "text", "27 caratteri, inizia con IT".to_owned()),
                    Kind::WorkerCf => ("text", "text", "16 caratteri".to_owned()),
                    Kind::Count { min, max } => ("number", "numeric", format!("Da {min} a {max}")),
                    Kind::Choice(_) => ("select", "text", String::new()),
                    Kind::Text(max) => ("text", "text", format!("Fino a {max} caratteri")),
                };
                FieldView {
                    name: f.name,
                    label: f.label,
                    input,
                    inputmode,
                    hint,
                    value: typed.get(f.name).cloned().unwrap_or_default(),
                    options: match f.kind {
                        Kind::Choice(o) => o.to_vec(),
                        _ => Vec::new(),
                    },
                    multiline: matches!(f.kind, Kind::Text(n) if n > 200),
                }
            })
            .collect(),
    })
}

async fn page_for(
    state: &HubState,
    s: &PhoneSession,
    draft: Draft,
    error: Option<String>,
) -> Result<DeskPage, HubError> {
    page_with(state, s, draft, &BTreeMap::new(), error).await
}

async fn page_with(
    state: &HubState,
    s: &PhoneSession,
    draft: Draft,
    typed: &BTreeMap<String, String>,
    error: Option<String>,
) -> Result<DeskPage, HubError> {
    let (company, matricola) = match &s.task {
        Some(t) => {
            let c = state.pool.get().await?;
            let name = c
                .query_opt(
                    "SELECT denominazione FROM delegation WHERE person_cf = $1 AND matricola = $2",
                    &[&s.cf, &t.matricola().as_str()],
                )
                .await?
                .map(|r| r.get::<_, String>(0));
            (name, t.matricola().to_string())
        }
        None => (None, String::new()),
    };
    let istanza = match &s.task {
        Some(DeskTask::Istanza { modulo, .. }) => istanza_form(modulo, typed),
        _ => None,
    };
    let request_form = matches!(s.task, Some(DeskTask::Richiesta { .. }));
    // A request just sent: its receipt says by when the sede answers.
    let promise = match &s.sent {
        Some(protocol) => contatti::promise(&state.pool.get().await?, protocol).await?,
        None => None,
    };
    let vouched = vouched_contacts(s);
    let offer = |address: Option<String>, ticked: bool| {
        address.map(|address| Offer {
            address,
            checked: !draft.posted || ticked,
        })
    };
    let email_offer = offer(vouched.email, draft.notify_email);
    let mobile_offer = offer(vouched.mobile, draft.notify_mobile);
    Ok(DeskPage {
        title: if request_form {
            "Scriva alla sede".into()
        } else if istanza.is_some() {
            "Comunicazioni on-line".into()
        } else {
            "Sportello sul suo telefono".into()
        },
        greeting: format!("Buongiorno {}.", s.name),
        csrf: s.csrf.clone(),
        sent: s.sent.clone(),
        promise,
        error,
        company,
        matricola,
        request_form,
        istanza,
        topics: contatti::TOPICS
            .iter()
            .map(|(code, text)| Topic { code, text })
            .collect(),
        draft,
        email_offer,
        mobile_offer,
        max_files: MAX_FILES,
    })
}

/// The phone sends an istanza: every field checked, the reasons shown with what was typed.
async fn send_istanza(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return no_session(),
        Err(e) => return e.into_response(),
    };
    let typed: BTreeMap<String, String> = pairs.into_iter().collect();
    let get = |k: &str| typed.get(k).cloned().unwrap_or_default();
    if !web::auth::same(&get("csrf"), &s.csrf) {
        return phone_page(
            StatusCode::FORBIDDEN,
            "Invio rifiutato",
            "Questa pagina non viene dal chiosco. Riapra il modulo dal chiosco.",
        );
    }
    let (matricola, code) = (get("matricola"), get("modulo"));
    let wanted = matches!(&s.task, Some(DeskTask::Istanza { matricola: m, modulo })
        if m.as_str() == matricola && *modulo == code);
    if !wanted {
        return phone_page(
            StatusCode::CONFLICT,
            "Modulo non più valido",
            "Al chiosco è stato scelto altro. Riapra il modulo dal chiosco.",
        );
    }
    let draft = Draft {
        notify_email: get("notify_email") == "1",
        notify_mobile: get("notify_mobile") == "1",
        posted: true,
        ..Draft::default()
    };
    let refused = |why: String, draft: Draft| {
        let state = state.clone();
        let typed = typed.clone();
        let s = &s;
        async move {
            match page_with(&state, s, draft, &typed, Some(why)).await {
                Ok(p) => render(StatusCode::BAD_REQUEST, p),
                Err(e) => e.into_response(),
            }
        }
    };
    let contacts = chosen_contacts(&draft, &s);
    let filed = async {
        let mut c = state.pool.get().await?;
        let tx = c.transaction().await?;
        let outcome =
            crate::istanze::submit(&tx, &s.cf, &matricola, &code, &typed, &contacts).await?;
        if let Ok(protocol) = &outcome {
            tx.execute(
                "UPDATE handoff SET task = NULL, task_result = $3 WHERE branch_id = $1 AND id = $2",
                &[&s.branch, &s.id, protocol],
            )
            .await?;
            tx.commit().await?;
        }
        Ok::<_, HubError>(outcome)
    }
    .await;
    match filed {
        Ok(Ok(protocol)) => sent_page(&state, s, protocol).await,
        Ok(Err(reasons)) if reasons.is_empty() => StatusCode::NOT_FOUND.into_response(),
        Ok(Err(reasons)) => refused(reasons.join(" "), draft).await,
        Err(e) => e.into_response(),
    }
}

/// The page after a form was filed: its protocol, and the desk waiting for the next.
async fn sent_page(state: &HubState, s: PhoneSession, protocol: String) -> Response {
    let sent = PhoneSession {
        task: None,
        sent: Some(protocol),
        ..s
    };
    match page_for(state, &sent, Draft::default(), None).await {
        Ok(p) => render(StatusCode::CREATED, p),
        Err(e) => e.into_response(),
    }
}

async fn desk(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return no_session(),
        Err(e) => return e.into_response(),
    };
    match page_for(&state, &s, Draft::default(), None).await {
        Ok(p) => render(StatusCode::OK, p),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/handoff/{id}/task`: the kiosk asks the phone of its bound visitor to show a
/// form, for a matricola that visitor is delegated for.
async fn set_task(visitor: Visitor) -> Result<StatusCode, HubError> {
    let task: DeskTask = visitor.request.json("a task")?;
    if let DeskTask::Istanza { modulo, .. } = &task
        && domain::istanze::modulo(modulo).is_none()
    {
        return Err(HubError::BadRequest(format!("no istanza {modulo}")));
    }
    let task_json = serde_json::to_value(&task).map_err(|e| HubError::internal("task", e))?;
    let device = &visitor.request.device;
    let n = visitor
        .request
        .db
        .execute(
            "UPDATE handoff SET task = $3
             WHERE branch_id = $1 AND id = $2
               AND EXISTS (SELECT 1 FROM delegation WHERE person_cf = $4 AND matricola = $5)",
            &[
                &device.branch,
                &visitor.handoff,
                &task_json,
                &visitor.person_cf.as_str(),
                &task.matricola().as_str(),
            ],
        )
        .await?;
    if n == 1 {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(HubError::NotFound)
    }
}

/// What the request form carried, files checked.
#[derive(Default)]
struct Posted {
    csrf: String,
    matricola: String,
    draft: Draft,
    files: Vec<Upload>,
    /// Why a file was refused, in Italian.
    refused: Option<String>,
}

/// Reads the form. Every part is read to the end, even after a refusal, so the phone gets
/// the page that says why instead of a broken connection.
async fn read_form(mut form: Multipart) -> Result<Posted, String> {
    let mut p = Posted::default();
    p.draft.posted = true;
    let mut seen_files = 0;
    while let Some(mut field) = form.next_field().await.map_err(|_| too_large_or_broken())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "allegato" {
            let file_name = clean_name(field.file_name().unwrap_or_default());
            let mut bytes = Vec::new();
            let mut over = false;
            while let Some(chunk) = field.chunk().await.map_err(|_| too_large_or_broken())? {
                if bytes.len() + chunk.len() > MAX_FILE_BYTES {
                    over = true;
                    bytes.clear();
                } else if !over {
                    bytes.extend_from_slice(&chunk);
                }
            }
            // A file input left empty still sends an empty part.
            if !over && bytes.is_empty() {
                continue;
            }
            seen_files += 1;
            if p.refused.is_some() {
                continue;
            }
            if seen_files > MAX_FILES {
                p.refused = Some(format!(
                    "Si possono allegare al massimo {MAX_FILES} documenti."
                ));
            } else if over {
                p.refused = Some(format!(
                    "«{file_name}» supera i 3 MB: lo riduca o lo divida."
                ));
            } else if let Some(mime) = sniff(&bytes) {
                p.files.push(Upload {
                    name: file_name,
                    mime,
                    bytes,
                });
            } else {
                p.refused = Some(format!(
                    "«{file_name}» non è un PDF, un JPEG o un PNG: si possono allegare solo \
                     questi formati."
                ));
            }
            continue;
        }
        let text = field.text().await.map_err(|_| too_large_or_broken())?;
        match name.as_str() {
            "csrf" => p.csrf = text,
            "matricola" => p.matricola = text,
            "topic" => p.draft.topic = text,
            "subject" => p.draft.subject = text,
            "body" => p.draft.body = text,
            "notify_email" => p.draft.notify_email = text == "1",
            "notify_mobile" => p.draft.notify_mobile = text == "1",
            _ => {}
        }
    }
    Ok(p)
}

fn too_large_or_broken() -> String {
    format!(
        "L'invio non è arrivato intero: gli allegati insieme superano il limite \
         ({MAX_FILES} da 3 MB al massimo) o la connessione si è interrotta. Riprovi."
    )
}

/// The e-mail and mobile the identity provider vouched for, when well formed: the only
/// places the hub's notifications go. An address typed on the phone would make the hub's
/// INPS-branded messages a relay to anyone.
fn vouched_contacts(s: &PhoneSession) -> Contacts {
    let email = s.email.clone().filter(|e| {
        e.len() <= 254
            && !e.contains(char::is_whitespace)
            && e.split_once('@')
                .is_some_and(|(u, h)| !u.is_empty() && h.contains('.') && !h.starts_with('.'))
    });
    let mobile = s.mobile.clone().filter(|m| {
        let digits = m.chars().filter(char::is_ascii_digit).count();
        m.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == ' ' || (i == 0 && c == '+'))
            && (8..=15).contains(&digits)
    });
    Contacts { email, mobile }
}

/// The vouched contacts the visitor ticked.
fn chosen_contacts(d: &Draft, s: &PhoneSession) -> Contacts {
    let vouched = vouched_contacts(s);
    Contacts {
        email: vouched.email.filter(|_| d.notify_email),
        mobile: vouched.mobile.filter(|_| d.notify_mobile),
    }
}

async fn send_request(
    State(state): State<HubState>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return no_session(),
        Err(e) => return e.into_response(),
    };
    let posted = read_form(form).await;
    let (posted, problem) = match posted {
        Ok(p) => {
            let refused = p.refused.clone();
            (p, refused)
        }
        Err(why) => (Posted::default(), Some(why)),
    };
    if problem.is_none() && !web::auth::same(&posted.csrf, &s.csrf) {
        return phone_page(
            StatusCode::FORBIDDEN,
            "Invio rifiutato",
            "Questa pagina non viene dal chiosco. Riapra il modulo dal chiosco.",
        );
    }
    // The form must be the one the kiosk asked for: its matricola is the task's.
    let matricola = s
        .task
        .as_ref()
        .map(DeskTask::matricola)
        .filter(|m| m.as_str() == posted.matricola);
    let checked = match problem {
        Some(p) => Err(p),
        None => {
            let Some(matricola) = matricola else {
                return phone_page(
                    StatusCode::CONFLICT,
                    "Modulo non più valido",
                    "Al chiosco è stato scelto altro. Riapra il modulo dal chiosco.",
                );
            };
            let req = NewContactRequest {
                matricola,
                topic: posted.draft.topic.clone(),
                subject: posted.draft.subject.clone(),
                body: posted.draft.body.clone(),
            };
            contatti::check(&req).map(|()| (req, chosen_contacts(&posted.draft, &s)))
        }
    };
    let (req, contacts) = match checked {
        Ok(c) => c,
        Err(why) => {
            let why = if posted.files.is_empty() {
                why
            } else {
                format!("{why} Scelga di nuovo gli allegati.")
            };
            return match page_for(&state, &s, posted.draft, Some(why)).await {
                Ok(p) => render(StatusCode::BAD_REQUEST, p),
                Err(e) => e.into_response(),
            };
        }
    };
    let filed = async {
        let mut c = state.pool.get().await?;
        let tx = c.transaction().await?;
        let Some(contatti::Filed { protocol, .. }) =
            contatti::submit(&tx, &s.cf, &req, &contacts, &posted.files).await?
        else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE handoff SET task = NULL, task_result = $3 WHERE branch_id = $1 AND id = $2",
            &[&s.branch, &s.id, &protocol],
        )
        .await?;
        tx.commit().await?;
        Ok::<_, HubError>(Some(protocol))
    }
    .await;
    match filed {
        Ok(Some(protocol)) => sent_page(&state, s, protocol).await,
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_content_not_the_name() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0\0\0\x04\0"),
            None,
            "a Windows executable"
        );
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), None, "a Linux executable");
        assert_eq!(sniff(b"GIF89a"), None, "an image of another type");
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn file_names_lose_paths_and_controls() {
        assert_eq!(clean_name("C:\\Users\\x\\f24.pdf"), "f24.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\u{0}b\nc.png"), "abc.png");
        assert_eq!(clean_name(""), "allegato");
        assert_eq!(clean_name(&"x".repeat(300)).chars().count(), 100);
    }

    #[test]
    fn notifications_go_only_to_the_vouched_contacts_ticked() {
        let session = |email: Option<&str>, mobile: Option<&str>| PhoneSession {
            branch: 7001,
            id: uuid::Uuid::nil(),
            cf: String::new(),
            name: String::new(),
            email: email.map(str::to_owned),
            mobile: mobile.map(str::to_owned),
            task: None,
            sent: None,
            csrf: String::new(),
        };
        let ticked = |e: bool, m: bool| Draft {
            notify_email: e,
            notify_mobile: m,
            posted: true,
            ..Draft::default()
        };
        let s = session(Some("mario.rossi@esempio.test"), Some("+39 399 1234567"));
        assert_eq!(
            chosen_contacts(&ticked(true, true), &s),
            Contacts {
                email: Some("mario.rossi@esempio.test".into()),
                mobile: Some("+39 399 1234567".into()),
            }
        );
        assert_eq!(
            chosen_contacts(&ticked(false, false), &s),
            Contacts::default()
        );
        assert_eq!(
            chosen_contacts(&ticked(true, true), &session(None, None)),
            Contacts::default()
        );
        let malformed = session(Some("mario rossi@esempio.test"), Some("+39 399 12a4567"));
        assert_eq!(
            chosen_contacts(&ticked(true, true), &malformed),
            Contacts::default()
        );
    }
}
