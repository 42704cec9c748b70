//! Synthetic Cassetto data for the demo: 24 months of UniEmens flows and F24
//! payments, from which the inadempienze, note di rettifica, dilazioni and avvisi follow, so
//! the figures a visitor reads add up. Deterministic for a seed and a matricola.

use chrono::{Duration, NaiveDate};

use protocol::cassetto::*;

/// The sanction rate the demo uses (10,00%, the fixture's).
pub const TASSO: u32 = 1000;

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

/// The summary of `matricola` of `company`, as of `today`, for the demo sede `sede`.
pub fn summary(
    seed: u64,
    company: &crate::DemoCompany,
    matricola: domain::Matricola,
    sede: &domain::Sede,
    people: &[(String, &'static str)],
    today: NaiveDate,
) -> CompanySummary {
    let mut rng = fastrand::Rng::with_seed(
        seed ^ matricola
            .as_str()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    let dipendenti = rng.u32(3..60);
    // Monthly cost: about € 450 of contributions per employee.
    let base = i64::from(dipendenti) * rng.i64(38_000..52_000);
    let this = Period::of(today);
    let mut first = this;
    for _ in 0..24 {
        first = first.previous();
    }
    let mut mesi = Vec::new();
    let mut p = first;
    // The last month has no flow yet: it is due by the end of next month.
    while p < this.previous() {
        let saldo = if rng.u8(..100) < 4 {
            -rng.i64(5_000..40_000)
        } else {
            base + rng.i64(-base / 10..base / 10)
        };
        let sent = p.next().day(rng.u32(20..=28));
        let roll = rng.u8(..100);
        // A credit month pays nothing; 2% of the others are not paid at all.
        let (versato, versato_il) = if saldo <= 0 || roll < 2 {
            (0, None)
        } else if roll < 5 {
            (
                saldo * i64::from(rng.u32(50..90)) / 100,
                Some(p.next().day(16)),
            )
        } else if roll < 10 {
            (
                saldo,
                Some(p.next().day(16) + Duration::days(rng.i64(5..40))),
            )
        } else {
            (saldo, Some(p.next().day(16)))
        };
        let missing = rng.u8(..100) < 2;
        mesi.push(Month {
            period: p,
            uniemens_inviato: (!missing).then_some(sent),
            denunce: dipendenti + rng.u32(0..3),
            saldo_dm: if missing { 0 } else { saldo },
            versato: if missing { 0 } else { versato },
            versato_il: if missing { None } else { versato_il },
        });
        p = p.next();
    }

    let crediti = mesi
        .iter()
        .filter(|m| m.saldo_dm < 0)
        .map(|m| (m.period, -m.saldo_dm))
        .collect();

    // Every month left unpaid is an inadempienza, its sanctions counted to today; a third of
    // them already have a nota di rettifica; the oldest open ones went to a dilazione or an
    // avviso di addebito.
    let mut inadempienze = Vec::new();
    let mut note = Vec::new();
    for m in &mesi {
        if m.uniemens_inviato.is_none() || m.differenza() <= 0 {
            continue;
        }
        let due = m.period.next().day(16);
        let days = (today - due).num_days().max(0) as u32;
        let diff = m.differenza();
        let s = sanzioni(diff, TASSO, days);
        let tipo = if m.versato == 0 {
            "Omissione"
        } else {
            "Versamento parziale"
        };
        if rng.u8(..100) < 34 {
            let emessa = due + Duration::days(i64::from(days.min(400)) / 2 + 1);
            let giorni = (emessa - due).num_days() as u32;
            note.push(NotaRettifica {
                numero: format!("DMRA-{}-{:06}", emessa.format("%Y"), rng.u32(1..999_999)),
                emessa,
                period: m.period,
                saldo_denuncia: m.saldo_dm,
                differenze: diff,
                giorni,
                tasso_centesimi: TASSO,
                sanzioni: sanzioni(diff, TASSO, giorni),
                scadenza: emessa + Duration::days(30),
                stato: if emessa + Duration::days(30) < today {
                    "Scaduta"
                } else {
                    "Emessa"
                }
                .into(),
            });
        }
        inadempienze.push(Inadempienza {
            period: m.period,
            tipo: tipo.into(),
            dovuti: m.saldo_dm,
            versati: m.versato,
            sanzioni: s,
            stato: "Aperta".into(),
        });
    }
    let mut dilazioni = Vec::new();
    let mut avvisi = Vec::new();
    if inadempienze.len() >= 2 {
        let old = &mut inadempienze[0];
        let debt = old.dovuti - old.versati + old.sanzioni;
        if rng.bool() {
            old.stato = "In dilazione".into();
            let domanda = old.period.next().next().day(10);
            let rate = 24;
            let months = ((today - domanda).num_days() / 30).clamp(0, rate) as u32;
            dilazioni.push(Dilazione {
                pratica: format!("DIL-{}-{:05}", domanda.format("%Y"), rng.u32(1..99_999)),
                domanda,
                debito: debt,
                rate: rate as u32,
                pagate: months,
                prossima: (months < rate as u32).then(|| Period::of(today).next().day(16)),
                stato: if months < rate as u32 {
                    "Accolta"
                } else {
                    "Estinta"
                }
                .into(),
            });
        } else {
            old.stato = "Affidata con avviso di addebito".into();
            avvisi.push(AvvisoAddebito {
                numero: format!(
                    "{:03}2026{:011}",
                    sede.code.get() / 10,
                    rng.u64(..99_999_999_999)
                ),
                notificato: old.period.next().next().next().day(5),
                periodi: (old.period, old.period),
                contributi: old.dovuti - old.versati,
                sanzioni: old.sanzioni,
                stato: pick(&mut rng, &["Notificato", "Affidato ad AdER"]).into(),
            });
        }
    }

    let open = inadempienze.iter().any(|i| i.stato == "Aperta");
    let richiesta = today - Duration::days(rng.i64(1..100));
    let durc = if !open {
        Durc::Regolare {
            protocollo: format!(
                "{}_{:08}",
                pick(&mut rng, &["INPS", "INAIL"]),
                rng.u32(10_000_000..99_999_999)
            ),
            richiesta,
            scadenza: richiesta + Duration::days(120),
        }
    } else {
        let cause: Vec<String> = inadempienze
            .iter()
            .filter(|i| i.stato == "Aperta")
            .map(|i| {
                format!(
                    "{} {}: {}",
                    i.tipo,
                    i.period.text(),
                    euro(i.dovuti - i.versati)
                )
            })
            .collect();
        let recent = today - Duration::days(rng.i64(1..25));
        if rng.u8(..100) < 60 {
            Durc::InVerifica {
                richiesta: recent,
                esito_entro: recent + Duration::days(30),
                cause,
            }
        } else {
            Durc::NonRegolare {
                richiesta: recent,
                cause,
            }
        }
    };

    let cig = if rng.u8(..100) < 40 {
        let dal = today - Duration::days(rng.i64(30..200));
        let ore = rng.u32(80..800);
        let stato = pick(
            &mut rng,
            &["In istruttoria", "Autorizzata", "Autorizzata parzialmente"],
        );
        vec![DomandaCig {
            protocollo: format!(
                "INPS.{:04}.{}.{:07}",
                sede.code.get(),
                dal.format("%d/%m/%Y"),
                rng.u32(1..9_999_999)
            ),
            tipo: pick(&mut rng, &["CIGO", "FIS"]).into(),
            causale: pick(
                &mut rng,
                &[
                    "mancanza di lavoro o commesse",
                    "eventi meteo",
                    "crisi di mercato",
                ],
            )
            .into(),
            dal,
            al: dal + Duration::days(rng.i64(14..90)),
            lavoratori: rng.u32(1..=dipendenti),
            ore_richieste: ore,
            ore_autorizzate: match stato {
                "Autorizzata" => Some(ore),
                "Autorizzata parzialmente" => Some(ore * 3 / 4),
                _ => None,
            },
            stato: stato.into(),
        }]
    } else {
        Vec::new()
    };

    let soggetti = people
        .iter()
        .map(|(name, role)| SoggettoCollegato {
            nome: name.clone(),
            ruolo: (*role).into(),
            dal: today - Duration::days(rng.i64(400..4000)),
        })
        .collect();
    let comuni = ["Roma", "Fiumicino", "Pomezia", "Guidonia Montecelio"];
    let dipendenze = (0..rng.usize(1..=3))
        .map(|i| Dipendenza {
            codice: format!("{}{:02}", &matricola.as_str()[..8], i),
            denominazione: if i == 0 {
                "Sede principale".into()
            } else {
                format!("Unità operativa {}", i + 1)
            },
            comune: pick(&mut rng, &comuni).into(),
            dipendenti: if i == 0 {
                dipendenti / 2 + 1
            } else {
                dipendenti / 4
            },
        })
        .collect();
    let posta = note
        .iter()
        .map(|n| Posta {
            emesso: n.emessa,
            tipo: "Nota di rettifica".into(),
            protocollo: n.numero.clone(),
            stato: pick(&mut rng, &["Consegnato", "Spedito", "Giacenza"]).into(),
        })
        .collect();
    CompanySummary {
        anagrafica: Anagrafica {
            denominazione: company.name.clone(),
            codice_fiscale: company.cf.clone(),
            matricola,
            sede_inps: format!("{} - {}", sede.code, sede.name.to_uppercase()),
            stato: "Attiva".into(),
            csc: format!(
                "{}{:04}",
                pick(&mut rng, &["1", "4", "7"]),
                rng.u32(0..9999)
            ),
            codici_autorizzazione: if rng.bool() {
                vec!["0J".into()]
            } else {
                Vec::new()
            },
            ateco: pick(
                &mut rng,
                &[
                    "62.01.00 Produzione di software",
                    "43.21.01 Installazione di impianti elettrici",
                    "56.10.11 Ristorazione con somministrazione",
                    "47.11.40 Minimercati",
                ],
            )
            .into(),
            natura_giuridica: pick(
                &mut rng,
                &[
                    "Società a responsabilità limitata",
                    "Società in nome collettivo",
                    "Società per azioni",
                ],
            )
            .into(),
            sede_legale: format!(
                "Via {} {}, {} Roma (RM)",
                pick(
                    &mut rng,
                    &[
                        "Appia Nuova",
                        "Tuscolana",
                        "Cristoforo Colombo",
                        "Nomentana"
                    ]
                ),
                rng.u32(1..300),
                rng.u32(118..199) + 100
            ),
            pec: format!(
                "{}@pec.it",
                company
                    .name
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
            ),
            inizio_attivita: today - Duration::days(rng.i64(800..9000)),
            dipendenti,
        },
        durc,
        mesi,
        crediti,
        inadempienze,
        note_rettifica: note,
        avvisi,
        dilazioni,
        cig,
        soggetti,
        dipendenze,
        fondo: rng
            .bool()
            .then(|| pick(&mut rng, &["Fondimpresa", "Fondirigenti", "For.Te."]).into()),
        posta,
        // Drawn last, so the other sections stay what they were before it existed.
        aziende_collegate: {
            let stem = company.name.split_whitespace().next().unwrap_or("Gruppo");
            (0..rng.usize(0..=2))
                .map(|i| AziendaCollegata {
                    denominazione: format!(
                        "{stem} {} {}",
                        pick(
                            &mut rng,
                            &["Servizi", "Logistica", "Immobiliare", "Impianti"]
                        ),
                        ["S.r.l.", "S.p.A."][i % 2]
                    ),
                    relazione: pick(
                        &mut rng,
                        &["controllata", "collegata", "stessa compagine sociale"],
                    )
                    .into(),
                    dal: today - Duration::days(rng.i64(300..5000)),
                })
                .collect()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> crate::DemoBranch {
        crate::DemoBranch::generate(
            3,
            NaiveDate::from_ymd_opt(2026, 11, 26)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
        )
    }

    #[test]
    fn the_figures_add_up_and_the_same_seed_gives_the_same_summary() {
        let demo = demo();
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let mut states = std::collections::BTreeSet::new();
        for c in &demo.companies {
            for m in &c.matricole {
                let s = summary(7, c, *m, &demo.sede, &[], today);
                assert_eq!(s, summary(7, c, *m, &demo.sede, &[], today));
                assert_eq!(s.mesi.len(), 23);
                assert!(s.mesi.windows(2).all(|w| w[0].period.next() == w[1].period));
                // Every unpaid month with a flow is an inadempienza, and only those.
                let unpaid = s
                    .mesi
                    .iter()
                    .filter(|m| m.uniemens_inviato.is_some() && m.differenza() > 0)
                    .count();
                assert_eq!(unpaid, s.inadempienze.len());
                for n in &s.note_rettifica {
                    assert_eq!(
                        n.sanzioni,
                        protocol::cassetto::sanzioni(n.differenze, TASSO, n.giorni)
                    );
                    assert_eq!(n.totale(), n.differenze + n.sanzioni);
                    assert!(n.calcolo().ends_with(&euro(n.sanzioni)));
                }
                match &s.durc {
                    Durc::Regolare {
                        richiesta,
                        scadenza,
                        ..
                    } => {
                        assert_eq!(*scadenza - *richiesta, Duration::days(120));
                        assert!(s.inadempienze.iter().all(|i| i.stato != "Aperta"));
                        states.insert("regolare");
                    }
                    Durc::InVerifica { cause, .. } | Durc::NonRegolare { cause, .. } => {
                        assert!(!cause.is_empty());
                        states.insert("non");
                    }
                }
                for d in &s.dilazioni {
                    assert!(d.pagate <= d.rate && d.rata() * i64::from(d.rate) <= d.debito);
                }
                if !s.aziende_collegate.is_empty() {
                    states.insert("collegate");
                }
            }
        }
        assert_eq!(
            states.len(),
            3,
            "the demo shows a regular and an irregular DURC, and linked companies"
        );
    }
}
