//! The sedi: the list administrators see (and add to), and each sede's services, counters,
//! opening hours, calling rules and response targets, which administrators and the sede's supervisors change.
//! Every change is one [`ConfigEdit`], published to the sede's kiosks through their feed.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::session::{Me, checked, code, for_sede, forbidden, html_refused, me};
use crate::sede::{self, ConfigEdit};
use crate::{HubError, HubState};
use domain::contatti::{ResponseTargets, TOPICS};
use domain::working_days::DayOfYear;
use domain::{Counter, CounterNumber, OpeningHours, Service, ServiceLetter, ServiceLevel};
use protocol::wire::{FollowAlerts, NearThreshold};
use queue::QueueRules;

pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/sedi", get(list).post(create))
        .route("/console/sedi/{code}", get(page))
        .route("/console/sedi/{code}/{section}", post(edit))
}

struct SedeRow {
    code: String,
    name: String,
    kiosks: i64,
    services: i32,
    issued: i64,
    served: i64,
}

#[derive(Template)]
#[template(path = "hub_sedi.html")]
struct SediPage {
    me: Me,
    sedi: Vec<SedeRow>,
    error: Option<String>,
}

async fn list(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let me = match me(&state, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !me.is_admin() {
        return match me.home() {
            Some(home) => Redirect::to(&format!("/console/sedi/{home}")).into_response(),
            None => forbidden(),
        };
    }
    render_list(&state, me, None).await
}

async fn render_list(state: &HubState, me: Me, error: Option<String>) -> Response {
    let rows = async {
        let c = state.pool.get().await?;
        Ok::<_, HubError>(
            c.query(
                "SELECT b.branch_id, b.name,
                        (SELECT count(*) FROM device d
                         WHERE d.branch_id = b.branch_id AND d.revoked_at IS NULL),
                        coalesce(jsonb_array_length(cfg.payload -> 'services'), 0),
                        (SELECT count(*) FROM queue_event q WHERE q.branch_id = b.branch_id
                           AND q.business_day = (now() AT TIME ZONE 'Europe/Rome')::date
                           AND q.kind = 'ticket_issued'),
                        (SELECT count(*) FROM queue_event q WHERE q.branch_id = b.branch_id
                           AND q.business_day = (now() AT TIME ZONE 'Europe/Rome')::date
                           AND q.kind = 'ticket_served')
                 FROM branch b LEFT JOIN branch_config cfg USING (branch_id)
                 ORDER BY b.branch_id",
                &[],
            )
            .await?,
        )
    }
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let sedi = rows
        .iter()
        .map(|r| SedeRow {
            code: format!("{:04}", r.get::<_, i32>(0)),
            name: r.get(1),
            kiosks: r.get(2),
            services: r.get(3),
            issued: r.get(4),
            served: r.get(5),
        })
        .collect();
    let refused = error.is_some();
    html_refused(SediPage { me, sedi, error }, refused)
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    branch: String,
}

async fn create(
    State(state): State<HubState>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let me = match checked(&state, &headers, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !me.is_admin() {
        return forbidden();
    }
    let Some(branch) = code(&form.branch) else {
        return render_list(&state, me, Some("Il codice sede è di 4 cifre.".into())).await;
    };
    let done = async {
        let mut c = state.pool.get().await?;
        sede::create_branch(&mut c, &me.username, branch).await
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/console/sedi/{branch:04}")).into_response(),
        Err(HubError::BadRequest(m)) => render_list(&state, me, Some(m)).await,
        Err(e) => e.into_response(),
    }
}

struct ServiceRow {
    letter: String,
    name: String,
    level: &'static str,
    appointment_only: bool,
    slot_minutes: u16,
}

struct CounterRow {
    number: String,
    label: String,
    services: String,
}

struct HoursRow {
    service: String,
    weekday: u8,
    day: &'static str,
    opens: String,
    closes: String,
    appointment_only: bool,
}

#[derive(Template)]
#[template(path = "hub_sede.html")]
struct SedePage {
    me: Me,
    code: String,
    name: String,
    can_edit: bool,
    services: Vec<ServiceRow>,
    counters: Vec<CounterRow>,
    hours: Vec<HoursRow>,
    rules: QueueRules,
    holidays: String,
    /// Each service's letter, name and own time to reach the counter (empty: the sede's).
    graces: Vec<(String, String, String)>,
    pause_reasons: String,
    targets: TargetsForm,
    follow: FollowForm,
    target_wait_min: u32,
    saved: Option<&'static str>,
    error: Option<String>,
}

/// The promise on Area Contatti requests as its form shows it.
struct TargetsForm {
    default_days: u16,
    escalate_after: u16,
    patron: String,
    escalate_to: String,
    /// Topic code, its name, its own target (empty: the default).
    topics: Vec<(&'static str, &'static str, String)>,
}

impl TargetsForm {
    fn of(t: &ResponseTargets) -> Self {
        Self {
            default_days: t.default_days,
            escalate_after: t.escalate_after,
            patron: t.patron.map(|p| p.to_string()).unwrap_or_default(),
            escalate_to: t.escalate_to.clone().unwrap_or_default(),
            topics: TOPICS
                .iter()
                .map(|(code, name)| {
                    let own = t.by_topic.get(*code).map(u16::to_string);
                    (*code, *name, own.unwrap_or_default())
                })
                .collect(),
        }
    }
}

/// When the follow page's SMS says a turn is near, as its form shows it.
struct FollowForm {
    ahead: u32,
    minutes: u32,
    /// Service letter, its name, its own people and minutes (empty: the default).
    services: Vec<(String, String, String, String)>,
}

impl FollowForm {
    fn of(config: &protocol::wire::BranchConfigPayload) -> Self {
        let f = &config.follow;
        Self {
            ahead: f.default.ahead,
            minutes: f.default.minutes,
            services: config
                .services
                .iter()
                .map(|s| {
                    let own = f.by_service.get(&s.letter);
                    (
                        s.letter.to_string(),
                        s.name.clone(),
                        own.map(|t| t.ahead.to_string()).unwrap_or_default(),
                        own.map(|t| t.minutes.to_string()).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}

impl SedePage {
    fn weekdays(&self) -> Vec<(u8, &'static str)> {
        (1..=7).zip(domain::GIORNI).collect()
    }
}

#[derive(Deserialize)]
struct Saved {
    salvato: Option<String>,
}

async fn page(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(code_text): Path<String>,
    Query(q): Query<Saved>,
) -> Response {
    let (me, branch) = match for_sede(&state, &headers, &code_text, None, Me::sees).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let saved = q.salvato.as_deref().and_then(saved_text);
    render_sede(&state, me, branch, saved, None).await
}

/// What the confirmation says after a change, by the form's section.
fn saved_text(section: &str) -> Option<&'static str> {
    Some(match section {
        "servizi" | "servizi-rimuovi" => "Servizi salvati.",
        "sportelli" | "sportelli-rimuovi" => "Sportelli salvati.",
        "orari" | "orari-rimuovi" => "Orari salvati.",
        "regole" => "Regole salvate.",
        "risposte" => "Tempi di risposta salvati.",
        "avvisi" => "Avvisi SMS salvati.",
        "obiettivo" => "Attesa obiettivo salvata.",
        _ => return None,
    })
}

async fn render_sede(
    state: &HubState,
    me: Me,
    branch: u16,
    saved: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let config = async {
        let c = state.pool.get().await?;
        let registered = c
            .query_opt(
                "SELECT 1 FROM branch WHERE branch_id = $1",
                &[&i32::from(branch)],
            )
            .await?
            .is_some();
        if !registered {
            return Ok(Err(()));
        }
        sede::config(&c, branch).await.map(Ok)
    }
    .await;
    let config = match config {
        Ok(Ok(Some(c))) => c,
        Ok(Err(())) => return StatusCode::NOT_FOUND.into_response(),
        // Registered (an account was made for it) but not configured yet: the first edit
        // starts from the empty configuration.
        Ok(Ok(None)) => match sede::registered_sede(branch) {
            Some(s) => sede::empty_config(s),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
        Err(e) => return e.into_response(),
    };
    let services = config
        .services
        .iter()
        .map(|s| ServiceRow {
            letter: s.letter.to_string(),
            name: s.name.clone(),
            level: match s.level {
                ServiceLevel::First => "1° livello",
                ServiceLevel::Second => "2° livello",
            },
            appointment_only: s.appointment_only,
            slot_minutes: s.slot_minutes,
        })
        .collect();
    let counters = config
        .counters
        .iter()
        .map(|k| CounterRow {
            number: k.number.to_string(),
            label: k.label.clone(),
            services: k
                .services
                .iter()
                .map(|(l, w)| {
                    if *w == 1 {
                        l.to_string()
                    } else {
                        format!("{l} (peso {w})")
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let mut hours: Vec<_> = config.hours.clone();
    hours.sort_by_key(|h| (h.weekday, h.service, h.opens));
    let hours = hours
        .iter()
        .map(|h| HoursRow {
            service: h.service.to_string(),
            weekday: h.weekday,
            day: domain::GIORNI
                .get(usize::from(h.weekday).wrapping_sub(1))
                .copied()
                .unwrap_or("?"),
            opens: h.opens.format("%H:%M").to_string(),
            closes: h.closes.format("%H:%M").to_string(),
            appointment_only: h.appointment_only,
        })
        .collect();
    let holidays = config
        .rules
        .holidays
        .iter()
        .map(|d| d.format("%d/%m/%Y").to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let graces = config
        .services
        .iter()
        .map(|s| {
            let own = config.rules.recall_grace_by_service.get(&s.letter);
            (
                s.letter.to_string(),
                s.name.clone(),
                own.map(u32::to_string).unwrap_or_default(),
            )
        })
        .collect();
    let refused = error.is_some();
    html_refused(
        SedePage {
            can_edit: me.configures(branch),
            me,
            code: format!("{branch:04}"),
            name: config.sede.name.clone(),
            services,
            counters,
            hours,
            rules: config.rules.clone(),
            holidays,
            graces,
            pause_reasons: config.rules.pause_reasons.join("\n"),
            targets: TargetsForm::of(&config.contatti),
            follow: FollowForm::of(&config),
            target_wait_min: config.target_wait_min,
            saved,
            error,
        },
        refused,
    )
}

async fn edit(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path((code_text, section)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let csrf = form.get("csrf").map(String::as_str).unwrap_or("");
    let (me, branch) =
        match for_sede(&state, &headers, &code_text, Some(csrf), Me::configures).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let edit = match parse_edit(&section, &form) {
        Ok(Some(e)) => e,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(m) => return render_sede(&state, me, branch, None, Some(m)).await,
    };
    let done = async {
        let mut c = state.pool.get().await?;
        sede::edit(&mut c, &me.username, branch, &edit).await
    }
    .await;
    match done {
        Ok(()) => {
            Redirect::to(&format!("/console/sedi/{branch:04}?salvato={section}")).into_response()
        }
        Err(HubError::BadRequest(m)) => render_sede(&state, me, branch, None, Some(m)).await,
        Err(e) => e.into_response(),
    }
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|s| s.trim()).unwrap_or("")
}

fn number<T: std::str::FromStr>(
    form: &HashMap<String, String>,
    name: &str,
    what: &str,
) -> Result<T, String> {
    field(form, name)
        .parse()
        .map_err(|_| format!("{what}: scriva un numero intero."))
}

fn letter(form: &HashMap<String, String>, name: &str) -> Result<ServiceLetter, String> {
    ServiceLetter::parse(field(form, name))
        .map_err(|_| "La lettera del servizio è una sola lettera dalla A alla Z.".into())
}

fn time(form: &HashMap<String, String>, name: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(field(form, name), "%H:%M")
        .map_err(|_| "Gli orari si scrivono come 08:30.".into())
}

fn hours(form: &HashMap<String, String>) -> Result<OpeningHours, String> {
    Ok(OpeningHours {
        service: letter(form, "service")?,
        weekday: number(form, "weekday", "Giorno")?,
        opens: time(form, "opens")?,
        closes: time(form, "closes")?,
        appointment_only: form.contains_key("appointment_only"),
    })
}

/// Closure days as staff write them, one per line: `25/12/2026` or `2026-12-25`.
fn holidays(text: &str) -> Result<BTreeSet<NaiveDate>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            NaiveDate::parse_from_str(l, "%d/%m/%Y")
                .or_else(|_| NaiveDate::parse_from_str(l, "%Y-%m-%d"))
                .map_err(|_| format!("«{l}» non è una data: si scrive come 25/12/2026."))
        })
        .collect()
}

/// The edit a form asks for; `None` for a section that does not exist.
fn parse_edit(section: &str, form: &HashMap<String, String>) -> Result<Option<ConfigEdit>, String> {
    Ok(Some(match section {
        "servizi" => ConfigEdit::PutService(Service {
            letter: letter(form, "letter")?,
            name: field(form, "name").to_owned(),
            level: if field(form, "level") == "2" {
                ServiceLevel::Second
            } else {
                ServiceLevel::First
            },
            appointment_only: form.contains_key("appointment_only"),
            slot_minutes: number(form, "slot_minutes", "Durata di un appuntamento")?,
        }),
        "servizi-rimuovi" => ConfigEdit::RemoveService(letter(form, "letter")?),
        "sportelli" => {
            let mut services = Vec::new();
            let mut weights: Vec<_> = form
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("peso_")?, v.trim())))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            weights.sort();
            for (l, w) in weights {
                let l =
                    ServiceLetter::parse(l).map_err(|_| format!("Servizio «{l}» sconosciuto."))?;
                let w: u8 = w
                    .parse()
                    .map_err(|_| format!("Il peso del servizio {l} va da 0 a 9."))?;
                if w > 0 {
                    services.push((l, w));
                }
            }
            let n: u8 = number(form, "number", "Numero dello sportello")?;
            ConfigEdit::PutCounter(Counter {
                number: CounterNumber::new(n).map_err(|e| e.to_string())?,
                label: field(form, "label").to_owned(),
                services,
            })
        }
        "sportelli-rimuovi" => {
            let n: u8 = number(form, "number", "Numero dello sportello")?;
            ConfigEdit::RemoveCounter(CounterNumber::new(n).map_err(|e| e.to_string())?)
        }
        "orari" => ConfigEdit::AddHours(hours(form)?),
        "orari-rimuovi" => ConfigEdit::RemoveHours(hours(form)?),
        "regole" => ConfigEdit::SetRules(QueueRules {
            priority_factor: number(form, "priority_factor", "Fattore di priorità")?,
            priority_max_advance_min: number(
                form,
                "priority_max_advance_min",
                "Vantaggio massimo",
            )?,
            priority_calls: number(form, "priority_calls", "Chiamate prioritarie")?,
            priority_window: number(form, "priority_window", "Su quante chiamate")?,
            weight_step_min: number(form, "weight_step_min", "Minuti per punto di peso")?,
            appointment_late_min: number(form, "appointment_late_min", "Ritardo ammesso")?,
            max_recalls: number(form, "max_recalls", "Richiami")?,
            reactivate_within_min: number(form, "reactivate_within_min", "Riattivazione")?,
            walk_in_stop_min: number(form, "walk_in_stop_min", "Stop ai biglietti")?,
            daily_cap: number(form, "daily_cap", "Biglietti al giorno")?,
            holidays: holidays(field(form, "holidays"))?,
            recall_grace_min: number(
                form,
                "recall_grace_min",
                "Tempo per arrivare allo sportello",
            )?,
            recall_grace_by_service: graces(form)?,
            pause_reasons: field(form, "pause_reasons")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
        "risposte" => ConfigEdit::SetResponseTargets(targets(form)?),
        "avvisi" => ConfigEdit::SetFollowAlerts(follow(form)?),
        "obiettivo" => {
            ConfigEdit::SetTargetWait(number(form, "target_wait_min", "Attesa obiettivo")?)
        }
        _ => return Ok(None),
    }))
}

/// Each service's own time to reach the counter, from the fields `grazia_<letter>` (empty:
/// the sede's).
fn graces(
    form: &HashMap<String, String>,
) -> Result<std::collections::BTreeMap<ServiceLetter, u32>, String> {
    let mut by_service = std::collections::BTreeMap::new();
    for (key, value) in form {
        let Some(l) = key.strip_prefix("grazia_") else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let letter = ServiceLetter::parse(l).map_err(|_| format!("Servizio «{l}» sconosciuto."))?;
        by_service.insert(
            letter,
            number(form, key, &format!("Tempo per arrivare (servizio {l})"))?,
        );
    }
    Ok(by_service)
}

/// The promise on Area Contatti requests from its form: a topic left empty takes the default.
fn targets(form: &HashMap<String, String>) -> Result<ResponseTargets, String> {
    let mut by_topic = std::collections::BTreeMap::new();
    for (code, name) in TOPICS {
        let days = field(form, &format!("giorni_{code}"));
        if !days.is_empty() {
            let days = days
                .parse()
                .map_err(|_| format!("Termine per «{name}»: scriva un numero intero."))?;
            by_topic.insert(code.to_owned(), days);
        }
    }
    let patron =
        match field(form, "patron") {
            "" => None,
            text => Some(DayOfYear::parse(text).ok_or_else(|| {
                format!("«{text}» non è un giorno dell'anno: si scrive come 29/06.")
            })?),
        };
    let escalate_to = Some(field(form, "escalate_to"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(ResponseTargets {
        default_days: number(form, "default_days", "Termine di risposta")?,
        by_topic,
        escalate_after: number(form, "escalate_after", "Margine di ritardo")?,
        patron,
        escalate_to,
    })
}

/// When the follow page's SMS says a turn is near, from its form: a service whose two fields
/// are empty takes the default; one with a single field filled takes the default's other.
fn follow(form: &HashMap<String, String>) -> Result<FollowAlerts, String> {
    let default = NearThreshold {
        ahead: number(form, "ahead", "Persone prima")?,
        minutes: number(form, "minutes", "Minuti di attesa")?,
    };
    let mut by_service = std::collections::BTreeMap::new();
    let mut letters: Vec<_> = form
        .keys()
        .filter_map(|k| {
            k.strip_prefix("ahead_")
                .or_else(|| k.strip_prefix("minutes_"))
        })
        .collect();
    letters.sort();
    letters.dedup();
    for l in letters {
        let letter = ServiceLetter::parse(l).map_err(|_| format!("Servizio «{l}» sconosciuto."))?;
        let ahead = field(form, &format!("ahead_{l}"));
        let minutes = field(form, &format!("minutes_{l}"));
        if ahead.is_empty() && minutes.is_empty() {
            continue;
        }
        let own = NearThreshold {
            ahead: if ahead.is_empty() {
                default.ahead
            } else {
                number(
                    form,
                    &format!("ahead_{l}"),
                    &format!("Persone prima (servizio {l})"),
                )?
            },
            minutes: if minutes.is_empty() {
                default.minutes
            } else {
                number(
                    form,
                    &format!("minutes_{l}"),
                    &format!("Minuti (servizio {l})"),
                )?
            },
        };
        by_service.insert(letter, own);
    }
    Ok(FollowAlerts {
        default,
        by_service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_sms_form_keeps_the_default_where_a_service_is_empty() {
        let edit = parse_edit(
            "avvisi",
            &form(&[
                ("ahead", "3"),
                ("minutes", "15"),
                ("ahead_P", "1"),
                ("minutes_P", ""),
                ("ahead_A", ""),
                ("minutes_A", ""),
            ]),
        )
        .unwrap()
        .unwrap();
        let ConfigEdit::SetFollowAlerts(f) = edit else {
            panic!("{edit:?}")
        };
        let p = ServiceLetter::parse("P").unwrap();
        let a = ServiceLetter::parse("A").unwrap();
        assert_eq!(
            f.of(p),
            NearThreshold {
                ahead: 1,
                minutes: 15
            }
        );
        assert_eq!(
            f.of(a),
            NearThreshold {
                ahead: 3,
                minutes: 15
            }
        );
        assert_eq!(f.by_service.len(), 1);
        assert!(
            parse_edit("avvisi", &form(&[("ahead", "tre"), ("minutes", "15")]))
                .unwrap_err()
                .contains("Persone prima")
        );
    }

    #[test]
    fn the_response_targets_form_keeps_the_default_where_a_topic_is_empty() {
        let edit = parse_edit(
            "risposte",
            &form(&[
                ("default_days", "15"),
                ("escalate_after", "3"),
                ("patron", "29/06"),
                ("escalate_to", ""),
                ("giorni_f24", "5"),
                ("giorni_generica", " "),
            ]),
        )
        .unwrap()
        .unwrap();
        let ConfigEdit::SetResponseTargets(t) = edit else {
            panic!("{edit:?}")
        };
        assert_eq!((t.default_days, t.escalate_after), (15, 3));
        assert_eq!(t.by_topic.len(), 1);
        assert_eq!((t.days_for("f24"), t.days_for("generica")), (5, 15));
        assert_eq!(t.patron, DayOfYear::parse("29/06"));
        assert_eq!(t.escalate_to, None);
        let wrong = parse_edit(
            "risposte",
            &form(&[
                ("default_days", "15"),
                ("escalate_after", "3"),
                ("patron", "31/06"),
            ]),
        );
        assert!(wrong.unwrap_err().contains("29/06"));
    }

    #[test]
    fn forms_become_edits_or_say_what_is_wrong() {
        let counter = parse_edit(
            "sportelli",
            &form(&[
                ("number", "4"),
                ("label", "Sportello 4"),
                ("peso_A", "2"),
                ("peso_P", "0"),
                ("peso_V", ""),
            ]),
        )
        .unwrap()
        .unwrap();
        let ConfigEdit::PutCounter(k) = counter else {
            panic!("{counter:?}")
        };
        assert_eq!(k.services, vec![(ServiceLetter::parse("A").unwrap(), 2)]);
        assert!(
            parse_edit(
                "orari",
                &form(&[("service", "A"), ("weekday", "1"), ("opens", "8.30")])
            )
            .unwrap_err()
            .contains("08:30")
        );
        assert_eq!(holidays("25/12/2026\n\n2027-01-01\n").unwrap().len(), 2);
        assert!(holidays("Natale").unwrap_err().contains("Natale"));
        assert!(parse_edit("altro", &form(&[])).unwrap().is_none());
        assert_eq!(code("7001"), Some(7001));
        assert_eq!(code("701"), None);
        assert_eq!(code("0000"), None);
    }
}
