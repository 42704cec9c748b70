//! The Cassetto's summary written out for the screen, in the visitor's language: the cards
//! of the summary and each section whole.

use slint::{ModelRc, SharedString, VecModel};

use super::view::{DetailRow, SectionView, SummaryView};
use i18n::Lang;

/// The chosen company's figures, written out for the summary's cards in `lang`.
pub(super) fn summary_view(s: &protocol::cassetto::CompanySummary, lang: Lang) -> SummaryView {
    use protocol::cassetto::{Durc, date, euro};
    let t = |m: i18n::Message| -> SharedString { m.text(lang).into() };
    let (durc, durc_detail) = match &s.durc {
        Durc::Regolare {
            protocollo,
            scadenza,
            ..
        } => (
            0,
            t(i18n::msg!(
                "valido fino al {}, protocollo {}",
                date(*scadenza),
                protocollo
            )),
        ),
        Durc::InVerifica {
            esito_entro, cause, ..
        } => (
            1,
            t(i18n::msg!(
                "esito entro il {}: {}",
                date(*esito_entro),
                cause.join("; ")
            )),
        ),
        Durc::NonRegolare { cause, .. } => (2, cause.join("; ").into()),
    };
    let last = s.mesi.iter().rev().find(|m| m.uniemens_inviato.is_some());
    let credits: i64 = s.crediti.iter().map(|(_, c)| c).sum();
    let dilazione = s
        .dilazioni
        .iter()
        .find(|d| d.stato == "Accolta")
        .map(|d| {
            t(i18n::msg!(
                "rata {}, pagate {} di {}",
                euro(d.rata()),
                d.pagate,
                d.rate
            ))
        })
        .unwrap_or_else(|| t(i18n::msg!("nessuna in corso")));
    let cig = s
        .cig
        .first()
        .map(|c| format!("{} · {}", c.tipo, c.stato).into())
        .unwrap_or_else(|| t(i18n::msg!("nessuna domanda")));
    SummaryView {
        name: s.anagrafica.denominazione.clone().into(),
        matricola: crate::identify::mask_matricola(s.anagrafica.matricola.as_str()).into(),
        sede: s.anagrafica.sede_inps.clone().into(),
        stato: s.anagrafica.stato.clone().into(),
        ateco: s.anagrafica.ateco.clone().into(),
        durc,
        durc_detail,
        debt: euro(s.debito_aperto()).into(),
        open_count: s
            .inadempienze
            .iter()
            .filter(|i| i.stato == "Aperta")
            .count() as i32,
        last_uniemens: last
            .map(|m| period_text(m.period, lang))
            .unwrap_or_default()
            .into(),
        last_esito: last
            .map(|m| esito_text(m.esito(), lang))
            .unwrap_or_default()
            .into(),
        credits: euro(credits).into(),
        notes_count: s.note_rettifica.len() as i32,
        last_note: s
            .note_rettifica
            .last()
            .map(|n| {
                format!(
                    "{} · {}: {}",
                    period_text(n.period, lang),
                    euro(n.totale()),
                    n.calcolo()
                )
            })
            .unwrap_or_default()
            .into(),
        dilazione,
        avvisi_count: s.avvisi.len() as i32,
        cig,
        employees: s.anagrafica.dipendenti as i32,
        units: s.dipendenze.len() as i32,
        soggetti: s
            .soggetti
            .iter()
            .map(|p| format!("{} ({})", p.nome, p.ruolo))
            .collect::<Vec<_>>()
            .join(", ")
            .into(),
    }
}

/// A month as visitors read it, in their language: `marzo 2026`, `March 2026`.
fn period_text(p: protocol::cassetto::Period, lang: Lang) -> String {
    let month = match p.month {
        1 => i18n::msg!("gennaio"),
        2 => i18n::msg!("febbraio"),
        3 => i18n::msg!("marzo"),
        4 => i18n::msg!("aprile"),
        5 => i18n::msg!("maggio"),
        6 => i18n::msg!("giugno"),
        7 => i18n::msg!("luglio"),
        8 => i18n::msg!("agosto"),
        9 => i18n::msg!("settembre"),
        10 => i18n::msg!("ottobre"),
        11 => i18n::msg!("novembre"),
        _ => i18n::msg!("dicembre"),
    };
    format!("{} {}", month.text(lang), p.year)
}

/// A month's UniEmens/F24 comparison in words.
fn esito_text(esito: &str, lang: Lang) -> String {
    match esito {
        "DM non presentato" => i18n::msg!("DM non presentato"),
        "A credito" => i18n::msg!("A credito"),
        "Omesso versamento" => i18n::msg!("Omesso versamento"),
        "Versamento parziale" => i18n::msg!("Versamento parziale"),
        "Versamento in ritardo" => i18n::msg!("Versamento in ritardo"),
        _ => i18n::msg!("Quadrato"),
    }
    .text(lang)
}

/// One section of the summary, every line of it, in `lang` (the sections are numbered as
/// the screen's `Sections` global numbers them).
pub(super) fn section_view(
    s: &protocol::cassetto::CompanySummary,
    n: i32,
    lang: Lang,
) -> SectionView {
    use protocol::cassetto::{Durc, date, euro};
    let t = |m: i18n::Message| -> String { m.text(lang) };
    let row = |label: String, value: String, detail: String, alert: bool| DetailRow {
        label: label.into(),
        value: value.into(),
        detail: detail.into(),
        alert,
    };
    let (title, intro, rows): (String, String, Vec<DetailRow>) = match n {
        0 => {
            let a = &s.anagrafica;
            let mut rows = vec![
                row(
                    t(i18n::msg!("Denominazione")),
                    a.denominazione.clone(),
                    a.natura_giuridica.clone(),
                    false,
                ),
                row(
                    t(i18n::msg!("Matricola")),
                    crate::identify::mask_matricola(a.matricola.as_str()),
                    t(i18n::msg!("CSC {}", a.csc)),
                    false,
                ),
                row(
                    t(i18n::msg!("Stato")),
                    a.stato.clone(),
                    t(i18n::msg!("dal {}", date(a.inizio_attivita))),
                    false,
                ),
                row(
                    t(i18n::msg!("Attività (ATECO)")),
                    a.ateco.clone(),
                    String::new(),
                    false,
                ),
                row(
                    t(i18n::msg!("Sede legale")),
                    a.sede_legale.clone(),
                    a.pec.clone(),
                    false,
                ),
                row(
                    t(i18n::msg!("Sede INPS di competenza")),
                    a.sede_inps.clone(),
                    String::new(),
                    false,
                ),
                row(
                    t(i18n::msg!("Codici di autorizzazione")),
                    if a.codici_autorizzazione.is_empty() {
                        "—".into()
                    } else {
                        a.codici_autorizzazione.join(", ")
                    },
                    String::new(),
                    false,
                ),
                row(
                    t(i18n::msg!("Fondo interprofessionale")),
                    s.fondo
                        .clone()
                        .unwrap_or_else(|| t(i18n::msg!("nessuna adesione"))),
                    String::new(),
                    false,
                ),
            ];
            rows.extend(s.aziende_collegate.iter().map(|c| {
                row(
                    t(i18n::msg!("Azienda collegata")),
                    c.denominazione.clone(),
                    format!("{} · {}", c.relazione, t(i18n::msg!("dal {}", date(c.dal)))),
                    false,
                )
            }));
            rows.extend(s.soggetti.iter().map(|p| {
                row(
                    t(i18n::msg!("Soggetto collegato")),
                    p.nome.clone(),
                    format!("{} · {}", p.ruolo, t(i18n::msg!("dal {}", date(p.dal)))),
                    false,
                )
            }));
            rows.extend(s.posta.iter().map(|p| {
                row(
                    t(i18n::msg!("Posta ibrida")),
                    p.tipo.clone(),
                    format!("{} · {} · {}", date(p.emesso), p.protocollo, p.stato),
                    false,
                )
            }));
            (t(i18n::msg!("Dati anagrafici")), String::new(), rows)
        }
        1 => {
            let rows = match &s.durc {
                Durc::Regolare {
                    protocollo,
                    richiesta,
                    scadenza,
                } => vec![
                    row(
                        t(i18n::msg!("Esito")),
                        t(i18n::msg!("Regolare")),
                        String::new(),
                        false,
                    ),
                    row(
                        t(i18n::msg!("Protocollo")),
                        protocollo.clone(),
                        t(i18n::msg!("richiesto il {}", date(*richiesta))),
                        false,
                    ),
                    row(
                        t(i18n::msg!("Valido fino al")),
                        date(*scadenza),
                        String::new(),
                        false,
                    ),
                ],
                Durc::InVerifica {
                    richiesta,
                    esito_entro,
                    cause,
                } => {
                    let mut r = vec![
                        row(
                            t(i18n::msg!("Esito")),
                            t(i18n::msg!("In verifica")),
                            t(i18n::msg!("richiesto il {}", date(*richiesta))),
                            true,
                        ),
                        row(
                            t(i18n::msg!("Esito atteso entro il")),
                            date(*esito_entro),
                            String::new(),
                            false,
                        ),
                    ];
                    r.extend(cause.iter().map(|c| {
                        row(
                            t(i18n::msg!("Da regolarizzare")),
                            c.clone(),
                            String::new(),
                            true,
                        )
                    }));
                    r
                }
                Durc::NonRegolare { richiesta, cause } => {
                    let mut r = vec![row(
                        t(i18n::msg!("Esito")),
                        t(i18n::msg!("Non regolare")),
                        t(i18n::msg!("richiesto il {}", date(*richiesta))),
                        true,
                    )];
                    r.extend(cause.iter().map(|c| {
                        row(
                            t(i18n::msg!("Da regolarizzare")),
                            c.clone(),
                            String::new(),
                            true,
                        )
                    }));
                    r
                }
            };
            (
                t(i18n::msg!("DURC – regolarità contributiva")),
                String::new(),
                rows,
            )
        }
        2 => (
            t(i18n::msg!("Inadempienze")),
            t(i18n::msg!(
                "Da versare in tutto: {}",
                euro(s.debito_aperto())
            )),
            s.inadempienze
                .iter()
                .map(|i| {
                    row(
                        format!("{} · {}", period_text(i.period, lang), i.tipo),
                        euro(i.dovuti - i.versati + i.sanzioni),
                        t(i18n::msg!(
                            "dovuti {}, versati {}, sanzioni {} · {}",
                            euro(i.dovuti),
                            euro(i.versati),
                            euro(i.sanzioni),
                            i.stato
                        )),
                        i.stato == "Aperta",
                    )
                })
                .collect(),
        ),
        3 => (
            t(i18n::msg!("UniEmens trasmessi e confronto con gli F24")),
            t(i18n::msg!(
                "Gli ultimi {} mesi, dal più recente.",
                s.mesi.len()
            )),
            s.mesi
                .iter()
                .rev()
                .map(|m| {
                    let esito = m.esito();
                    row(
                        period_text(m.period, lang),
                        esito_text(esito, lang),
                        t(i18n::msg!(
                            "UniEmens: {} · saldo DM {} · versato con F24 {}",
                            m.uniemens_inviato.map(date).unwrap_or_else(|| "—".into()),
                            euro(m.saldo_dm),
                            m.versato_il
                                .map(|d| format!("{} ({})", euro(m.versato), date(d)))
                                .unwrap_or_else(|| euro(m.versato))
                        )),
                        !matches!(esito, "Quadrato" | "A credito"),
                    )
                })
                .collect(),
        ),
        4 => (
            t(i18n::msg!("Note di rettifica")),
            t(i18n::msg!("Sanzioni: differenze × tasso × giorni / 365.")),
            s.note_rettifica
                .iter()
                .map(|n| {
                    row(
                        format!("{} · {}", n.numero, period_text(n.period, lang)),
                        euro(n.totale()),
                        t(i18n::msg!(
                            "{} · emessa il {}, da pagare entro il {} · {}",
                            n.calcolo(),
                            date(n.emessa),
                            date(n.scadenza),
                            n.stato
                        )),
                        n.stato != "Pagata",
                    )
                })
                .collect(),
        ),
        5 => (
            t(i18n::msg!("Dilazioni")),
            String::new(),
            s.dilazioni
                .iter()
                .map(|d| {
                    row(
                        format!("{} · {}", d.pratica, d.stato),
                        euro(d.debito),
                        t(i18n::msg!(
                            "{} rate da {}, pagate {} · domanda del {}",
                            d.rate,
                            euro(d.rata()),
                            d.pagate,
                            date(d.domanda)
                        )) + &d
                            .prossima
                            .map(|p| {
                                format!(" · {}", t(i18n::msg!("prossima rata il {}", date(p))))
                            })
                            .unwrap_or_default(),
                        false,
                    )
                })
                .collect(),
        ),
        6 => (
            t(i18n::msg!("Avvisi di addebito")),
            String::new(),
            s.avvisi
                .iter()
                .map(|a| {
                    row(
                        a.numero.clone(),
                        euro(a.contributi + a.sanzioni),
                        t(i18n::msg!(
                            "periodi {} – {} · notificato il {} · {}",
                            period_text(a.periodi.0, lang),
                            period_text(a.periodi.1, lang),
                            date(a.notificato),
                            a.stato
                        )),
                        a.stato != "Pagato",
                    )
                })
                .collect(),
        ),
        7 => (
            t(i18n::msg!("Crediti")),
            String::new(),
            s.crediti
                .iter()
                .map(|(p, c)| row(period_text(*p, lang), euro(*c), String::new(), false))
                .collect(),
        ),
        8 => (
            t(i18n::msg!("Cassa integrazione e FIS")),
            String::new(),
            s.cig
                .iter()
                .map(|c| {
                    row(
                        format!("{} · {}", c.tipo, c.protocollo),
                        c.stato.clone(),
                        t(i18n::msg!(
                            "{} · dal {} al {} · lavoratori {} · ore richieste {}, autorizzate {}",
                            c.causale,
                            date(c.dal),
                            date(c.al),
                            c.lavoratori,
                            c.ore_richieste,
                            c.ore_autorizzate.map_or("—".to_owned(), |h| h.to_string())
                        )),
                        false,
                    )
                })
                .collect(),
        ),
        _ => (
            t(i18n::msg!("Dipendenti e unità operative")),
            t(i18n::msg!(
                "Dipendenti in tutto: {}",
                s.anagrafica.dipendenti
            )),
            s.dipendenze
                .iter()
                .map(|d| {
                    row(
                        format!("{} · {}", d.codice, d.denominazione),
                        t(i18n::msg!("Dipendenti: {}", d.dipendenti)),
                        d.comune.clone(),
                        false,
                    )
                })
                .collect(),
        ),
    };
    let rows = if rows.is_empty() {
        vec![row(
            t(i18n::msg!("Nessun dato")),
            "—".into(),
            String::new(),
            false,
        )]
    } else {
        rows
    };
    SectionView {
        title: title.into(),
        intro: intro.into(),
        rows: ModelRc::new(VecModel::from(rows)),
    }
}

/// A request to the sede and its whole history, both ways, as a section of its own.
pub(super) fn request_view(r: &protocol::wire::ContactRequest, lang: Lang) -> SectionView {
    let t = |m: i18n::Message| -> String { m.text(lang) };
    let when = |at: chrono::DateTime<chrono::Utc>| {
        at.with_timezone(&domain::TIME_ZONE)
            .format("%d/%m/%Y %H:%M")
            .to_string()
    };
    let mut rows: Vec<DetailRow> = r
        .messages
        .iter()
        .map(|m| DetailRow {
            label: if m.direction == domain::contatti::Direction::Out {
                t(i18n::msg!("Risposta della sede, {}", when(m.at)))
            } else {
                t(i18n::msg!("Inviata da lei, {}", when(m.at)))
            }
            .into(),
            value: m.body.clone().into(),
            detail: SharedString::default(),
            alert: false,
        })
        .collect();
    rows.extend(r.attachments.iter().map(|f| DetailRow {
        label: t(i18n::msg!("Allegato")).into(),
        value: f.name.clone().into(),
        detail: format!("{} kB", f.size.div_ceil(1000)).into(),
        alert: false,
    }));
    // The sede's promise comes first: by when, and how late.
    if let Some(clock) = r.clock {
        rows.insert(
            0,
            DetailRow {
                label: t(i18n::msg!("Tempo di risposta")).into(),
                value: t(clock.text()).into(),
                detail: match r.offered_slot {
                    Some(slot) => t(i18n::msg!(
                        "La sede le offre un appuntamento: il primo libero è {}",
                        super::words::slot_label(slot, lang)
                    ))
                    .into(),
                    None => SharedString::default(),
                },
                alert: clock.is_overdue(),
            },
        );
    }
    SectionView {
        title: format!("{} · {}", r.protocol, r.subject).into(),
        intro: t(i18n::msg!("Stato: {}", r.state.label().text(lang))).into(),
        rows: ModelRc::new(VecModel::from(rows)),
    }
}
