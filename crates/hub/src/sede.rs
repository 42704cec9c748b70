//! A sede's configuration as administrators and its supervisors change it from the console:
//! one edit at a time, checked against the rest of the document, written with its feed row and
//! its audit entry while the configuration row is locked, so two instances (or two browser tabs)
//! never lose each other's change.

use deadpool_postgres::GenericClient;
use serde::Serialize;

use crate::HubError;
use domain::contatti::ResponseTargets;
use domain::{Counter, CounterNumber, OpeningHours, Service, ServiceLetter};
use protocol::wire::{BranchConfigPayload, FollowAlerts};
use queue::QueueRules;

/// One change to a sede's configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "edit", content = "value", rename_all = "snake_case")]
pub enum ConfigEdit {
    /// Adds a service, or changes the one with its letter.
    PutService(Service),
    /// Removes a service and its opening hours.
    RemoveService(ServiceLetter),
    /// Adds a counter, or changes the one with its number.
    PutCounter(Counter),
    /// Removes a counter.
    RemoveCounter(CounterNumber),
    /// Adds a period to a service's week.
    AddHours(OpeningHours),
    /// Removes a period.
    RemoveHours(OpeningHours),
    /// Replaces the calling rules and the calendar of closures.
    SetRules(QueueRules),
    /// Replaces the promise on Area Contatti requests.
    SetResponseTargets(ResponseTargets),
    /// Replaces when the follow page's SMS says a turn is near.
    SetFollowAlerts(FollowAlerts),
    /// Sets the wait the sede aims to call visitors within, minutes.
    SetTargetWait(u32),
}

/// Longest service name the kiosk's buttons and the ticket hold.
const MAX_SERVICE_NAME: usize = 60;

impl ConfigEdit {
    /// The audit log's name for it.
    pub fn action(&self) -> &'static str {
        match self {
            ConfigEdit::PutService(_) => "sede.service_put",
            ConfigEdit::RemoveService(_) => "sede.service_remove",
            ConfigEdit::PutCounter(_) => "sede.counter_put",
            ConfigEdit::RemoveCounter(_) => "sede.counter_remove",
            ConfigEdit::AddHours(_) => "sede.hours_add",
            ConfigEdit::RemoveHours(_) => "sede.hours_remove",
            ConfigEdit::SetRules(_) => "sede.rules_set",
            ConfigEdit::SetResponseTargets(_) => "sede.response_targets_set",
            ConfigEdit::SetFollowAlerts(_) => "sede.follow_alerts_set",
            ConfigEdit::SetTargetWait(_) => "sede.target_wait_set",
        }
    }

    /// Applies the edit, or says in Italian, for the supervisor, why it cannot be made.
    pub fn apply(&self, c: &mut BranchConfigPayload) -> Result<(), String> {
        match self {
            ConfigEdit::PutService(s) => {
                let name = s.name.trim();
                if name.is_empty() || name.chars().count() > MAX_SERVICE_NAME {
                    return Err(format!(
                        "Il nome del servizio va da 1 a {MAX_SERVICE_NAME} caratteri."
                    ));
                }
                if !(5..=240).contains(&s.slot_minutes) {
                    return Err("La durata di un appuntamento va da 5 a 240 minuti.".into());
                }
                let s = Service {
                    name: name.to_owned(),
                    ..s.clone()
                };
                match c.services.iter_mut().find(|x| x.letter == s.letter) {
                    Some(x) => *x = s,
                    None => c.services.push(s),
                }
            }
            ConfigEdit::RemoveService(l) => {
                if !c.services.iter().any(|s| s.letter == *l) {
                    return Err(format!("Il servizio {l} non c'è."));
                }
                if let Some(k) = c
                    .counters
                    .iter()
                    .find(|k| k.services.iter().any(|(x, _)| x == l))
                {
                    return Err(format!(
                        "Lo sportello {} serve ancora il servizio {l}: lo tolga prima da lì.",
                        k.number
                    ));
                }
                c.services.retain(|s| s.letter != *l);
                c.hours.retain(|h| h.service != *l);
            }
            ConfigEdit::PutCounter(k) => {
                if k.label.trim().is_empty() {
                    return Err("Dia un nome allo sportello.".into());
                }
                if k.services.is_empty() {
                    return Err("Uno sportello serve almeno un servizio.".into());
                }
                for (l, w) in &k.services {
                    if !c.services.iter().any(|s| s.letter == *l) {
                        return Err(format!("Il servizio {l} non c'è in questa sede."));
                    }
                    if !(1..=9).contains(w) {
                        return Err(format!("Il peso del servizio {l} va da 1 a 9."));
                    }
                }
                let mut letters: Vec<_> = k.services.iter().map(|(l, _)| l).collect();
                letters.sort();
                letters.dedup();
                if letters.len() != k.services.len() {
                    return Err("Ogni servizio compare una sola volta per sportello.".into());
                }
                let k = Counter {
                    label: k.label.trim().to_owned(),
                    ..k.clone()
                };
                match c.counters.iter_mut().find(|x| x.number == k.number) {
                    Some(x) => *x = k,
                    None => {
                        c.counters.push(k);
                        c.counters.sort_by_key(|k| k.number);
                    }
                }
            }
            ConfigEdit::RemoveCounter(n) => {
                let before = c.counters.len();
                c.counters.retain(|k| k.number != *n);
                if c.counters.len() == before {
                    return Err(format!("Lo sportello {n} non c'è."));
                }
            }
            ConfigEdit::AddHours(h) => {
                if !c.services.iter().any(|s| s.letter == h.service) {
                    return Err(format!("Il servizio {} non c'è in questa sede.", h.service));
                }
                if !(1..=7).contains(&h.weekday) {
                    return Err("Il giorno va da lunedì a domenica.".into());
                }
                if h.opens >= h.closes {
                    return Err("L'apertura viene prima della chiusura.".into());
                }
                if let Some(o) = c.hours.iter().find(|o| {
                    o.service == h.service
                        && o.weekday == h.weekday
                        && o.opens < h.closes
                        && h.opens < o.closes
                }) {
                    return Err(format!(
                        "Si sovrappone alla fascia {}–{} dello stesso giorno.",
                        o.opens.format("%H:%M"),
                        o.closes.format("%H:%M")
                    ));
                }
                c.hours.push(h.clone());
                c.hours.sort_by_key(|h| (h.service, h.weekday, h.opens));
            }
            ConfigEdit::RemoveHours(h) => {
                let before = c.hours.len();
                c.hours.retain(|o| o != h);
                if c.hours.len() == before {
                    return Err("Quella fascia oraria non c'è più.".into());
                }
            }
            ConfigEdit::SetRules(r) => {
                r.validate()
                    .map_err(|e| format!("Regole non valide: {e}."))?;
                c.rules = r.clone();
            }
            ConfigEdit::SetResponseTargets(t) => {
                t.check()?;
                c.contatti = t.clone();
            }
            ConfigEdit::SetFollowAlerts(f) => {
                let thresholds = std::iter::once((None, &f.default))
                    .chain(f.by_service.iter().map(|(l, t)| (Some(l), t)));
                for (letter, t) in thresholds {
                    if let Some(l) = letter
                        && !c.services.iter().any(|s| s.letter == *l)
                    {
                        return Err(format!("Il servizio {l} non c'è in questa sede."));
                    }
                    if t.ahead > 50 || !(1..=240).contains(&t.minutes) {
                        return Err(
                            "L'avviso va da 0 a 50 persone prima e da 1 a 240 minuti di attesa."
                                .into(),
                        );
                    }
                }
                c.follow = f.clone();
            }
            ConfigEdit::SetTargetWait(minutes) => {
                if !(5..=240).contains(minutes) {
                    return Err("L'attesa obiettivo va da 5 a 240 minuti.".into());
                }
                c.target_wait_min = *minutes;
            }
        }
        Ok(())
    }
}

/// The configuration of a sede, if it has one.
pub async fn config(
    db: &impl GenericClient,
    branch: u16,
) -> Result<Option<BranchConfigPayload>, HubError> {
    let row = db
        .query_opt(
            "SELECT payload FROM branch_config WHERE branch_id = $1",
            &[&i32::from(branch)],
        )
        .await?;
    row.map(|r| {
        serde_json::from_value(r.get(0))
            .map_err(|e| HubError::internal(&format!("stored configuration of {branch:04}"), e))
    })
    .transpose()
}

/// The sede with this code in the table of sedi.
pub fn registered_sede(branch: u16) -> Option<domain::Sede> {
    let code = domain::SedeCode::from_u16(branch).ok()?;
    domain::sedi::with_code(code).next()
}

/// A new sede's first configuration: its name from the table of sedi, no services yet, the
/// default calling rules.
pub fn empty_config(sede: domain::Sede) -> BranchConfigPayload {
    BranchConfigPayload {
        sede,
        services: Vec::new(),
        counters: Vec::new(),
        hours: Vec::new(),
        rules: QueueRules::default(),
        verifying_keys: Vec::new(),
        contatti: Default::default(),
        follow: Default::default(),
        target_wait_min: 30,
    }
}

/// Makes one edit: locked, checked, published to the sede's kiosks and audited, or nothing.
pub async fn edit(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
    edit: &ConfigEdit,
) -> Result<(), HubError> {
    let tx = db.transaction().await?;
    // A sede registered without a configuration yet (an account made for it first) starts
    // from the empty one; inserting it first gives the row to lock.
    if tx
        .query_opt(
            "SELECT 1 FROM branch WHERE branch_id = $1",
            &[&i32::from(branch)],
        )
        .await?
        .is_none()
    {
        return Err(HubError::BadRequest(format!(
            "La sede {branch:04} non è registrata all'hub."
        )));
    }
    if let Some(empty) = registered_sede(branch).map(empty_config) {
        tx.execute(
            "INSERT INTO branch_config (branch_id, payload) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[
                &i32::from(branch),
                &serde_json::to_value(&empty).expect("plain data serialises"),
            ],
        )
        .await?;
    }
    let row = tx
        .query_opt(
            "SELECT payload FROM branch_config WHERE branch_id = $1 FOR UPDATE",
            &[&i32::from(branch)],
        )
        .await?
        .ok_or_else(|| HubError::BadRequest(format!("La sede {branch:04} non è configurata.")))?;
    let mut config: BranchConfigPayload = serde_json::from_value(row.get(0))
        .map_err(|e| HubError::internal(&format!("stored configuration of {branch:04}"), e))?;
    edit.apply(&mut config).map_err(HubError::BadRequest)?;
    crate::branch_data::put_config(&tx, i32::from(branch), &config).await?;
    crate::audit::record(
        &tx,
        actor,
        edit.action(),
        Some(branch),
        serde_json::to_value(edit).expect("plain data serialises"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Registers a sede with the hub (its name from the table of sedi) and gives it an empty
/// configuration, published to the kiosks it will enrol.
pub async fn create_branch(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
) -> Result<(), HubError> {
    let code = domain::SedeCode::from_u16(branch)
        .map_err(|_| HubError::BadRequest(format!("{branch:04} non è un codice sede.")))?;
    let sede = domain::sedi::with_code(code).next().ok_or_else(|| {
        HubError::BadRequest(format!(
            "Nessuna sede {branch:04} nella tabella delle sedi INPS."
        ))
    })?;
    let tx = db.transaction().await?;
    crate::accounts::ensure_branch(&tx, branch).await?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM branch_config WHERE branch_id = $1",
            &[&i32::from(branch)],
        )
        .await?
        .is_some();
    if !exists {
        crate::branch_data::put_config(&tx, i32::from(branch), &empty_config(sede)).await?;
    }
    crate::audit::record(
        &tx,
        actor,
        "branch.create",
        Some(branch),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use domain::ServiceLevel;

    fn letter(c: &str) -> ServiceLetter {
        ServiceLetter::parse(c).unwrap()
    }

    fn config() -> BranchConfigPayload {
        let demo = demo::DemoBranch::generate(
            1,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
        );
        super::super::branch_data::config_of(&demo.replica()).unwrap()
    }

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn a_service_in_use_at_a_counter_is_not_removed() {
        let mut c = config();
        let used = c.counters[0].services[0].0;
        let before = c.clone();
        let e = ConfigEdit::RemoveService(used).apply(&mut c).unwrap_err();
        assert!(e.contains("serve ancora"), "{e}");
        assert_eq!(c, before, "a refused edit changes nothing");
        // Once no counter serves it, it goes, and its hours with it.
        c.counters.iter_mut().for_each(|k| {
            k.services.retain(|(l, _)| *l != used);
        });
        c.counters.retain(|k| !k.services.is_empty());
        ConfigEdit::RemoveService(used).apply(&mut c).unwrap();
        assert!(c.services.iter().all(|s| s.letter != used));
        assert!(c.hours.iter().all(|h| h.service != used));
    }

    #[test]
    fn hours_must_open_before_they_close_and_not_overlap() {
        let mut c = config();
        let s = c.services[0].letter;
        let h = |o, cl| OpeningHours {
            service: s,
            weekday: 7,
            opens: t(o),
            closes: t(cl),
            appointment_only: false,
        };
        ConfigEdit::AddHours(h("09:00", "12:00"))
            .apply(&mut c)
            .unwrap();
        assert!(
            ConfigEdit::AddHours(h("11:00", "13:00"))
                .apply(&mut c)
                .unwrap_err()
                .contains("09:00–12:00")
        );
        assert!(
            ConfigEdit::AddHours(h("13:00", "12:00"))
                .apply(&mut c)
                .is_err()
        );
        ConfigEdit::AddHours(h("12:00", "13:00"))
            .apply(&mut c)
            .unwrap();
        ConfigEdit::RemoveHours(h("09:00", "12:00"))
            .apply(&mut c)
            .unwrap();
        assert!(
            ConfigEdit::RemoveHours(h("09:00", "12:00"))
                .apply(&mut c)
                .is_err()
        );
    }

    #[test]
    fn counters_serve_known_services_with_sane_weights() {
        let mut c = config();
        let s = c.services[0].letter;
        let counter = |services: Vec<(ServiceLetter, u8)>| Counter {
            number: CounterNumber::new(42).unwrap(),
            label: " Sportello 42 ".into(),
            services,
        };
        assert!(
            ConfigEdit::PutCounter(counter(vec![(letter("Z"), 1)]))
                .apply(&mut c)
                .is_err()
        );
        assert!(
            ConfigEdit::PutCounter(counter(vec![(s, 0)]))
                .apply(&mut c)
                .is_err()
        );
        assert!(
            ConfigEdit::PutCounter(counter(vec![(s, 1), (s, 2)]))
                .apply(&mut c)
                .is_err()
        );
        assert!(
            ConfigEdit::PutCounter(counter(vec![]))
                .apply(&mut c)
                .is_err()
        );
        ConfigEdit::PutCounter(counter(vec![(s, 2)]))
            .apply(&mut c)
            .unwrap();
        let k = c.counters.iter().find(|k| k.number.get() == 42).unwrap();
        assert_eq!(k.label, "Sportello 42");
        ConfigEdit::RemoveCounter(k.number).apply(&mut c).unwrap();
        assert!(c.counters.iter().all(|k| k.number.get() != 42));
    }

    #[test]
    fn services_and_rules_are_checked() {
        let mut c = config();
        let service = |name: &str, slot| Service {
            letter: letter("Z"),
            name: name.into(),
            level: ServiceLevel::First,
            appointment_only: false,
            slot_minutes: slot,
        };
        assert!(
            ConfigEdit::PutService(service("  ", 15))
                .apply(&mut c)
                .is_err()
        );
        assert!(
            ConfigEdit::PutService(service("Zeta", 1))
                .apply(&mut c)
                .is_err()
        );
        ConfigEdit::PutService(service("Zeta", 15))
            .apply(&mut c)
            .unwrap();
        ConfigEdit::PutService(service("Zeta bis", 20))
            .apply(&mut c)
            .unwrap();
        assert_eq!(
            c.services
                .iter()
                .filter(|s| s.letter == letter("Z"))
                .count(),
            1
        );
        let rules = QueueRules {
            priority_calls: 5,
            priority_window: 2,
            ..QueueRules::default()
        };
        assert!(ConfigEdit::SetRules(rules).apply(&mut c).is_err());
    }
}
