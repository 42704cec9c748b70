//! What *Il mio Cassetto* prints: the *fascicolo* (the summary on the kiosk's printer) and the
//! confirmation of a booking. Printed texts are Italian whatever the screen's language: the
//! paper is shown at the front desk.

use protocol::cassetto::{CompanySummary, Durc, Inadempienza, date, euro, mask};

/// The *fascicolo* the visitor may print: the summary's figures, identifiers masked, no
/// third parties (soggetti collegati are left out), and a line saying it certifies nothing.
pub fn fascicolo(s: &CompanySummary, sede: &str, printed_at: &str) -> ticket::DocumentLayout {
    let mut lines = vec![
        ("Azienda".to_owned(), s.anagrafica.denominazione.clone()),
        (
            "Matricola".to_owned(),
            mask(s.anagrafica.matricola.as_str()),
        ),
        (
            "Codice fiscale".to_owned(),
            mask(s.anagrafica.codice_fiscale.as_str()),
        ),
        ("Sede INPS".to_owned(), s.anagrafica.sede_inps.clone()),
    ];
    lines.push((
        "DURC".to_owned(),
        match &s.durc {
            Durc::Regolare {
                protocollo,
                scadenza,
                ..
            } => format!("Regolare fino al {} ({protocollo})", date(*scadenza)),
            Durc::InVerifica { esito_entro, .. } => {
                format!("In verifica, esito entro il {}", date(*esito_entro))
            }
            Durc::NonRegolare { .. } => "Non regolare".to_owned(),
        },
    ));
    let open: Vec<&Inadempienza> = s
        .inadempienze
        .iter()
        .filter(|i| i.stato == "Aperta")
        .collect();
    lines.push((
        "Da versare".to_owned(),
        format!(
            "{} ({} inadempienze aperte)",
            euro(s.debito_aperto()),
            open.len()
        ),
    ));
    for i in open {
        lines.push((
            format!("  {} {}", i.tipo, i.period.text()),
            format!(
                "dovuti {}, versati {}, sanzioni {}",
                euro(i.dovuti),
                euro(i.versati),
                euro(i.sanzioni)
            ),
        ));
    }
    if let Some(m) = s.mesi.iter().rev().find(|m| m.uniemens_inviato.is_some()) {
        lines.push((
            "Ultimo UniEmens".to_owned(),
            format!("{}: {}", m.period.text(), m.esito()),
        ));
    }
    for n in s.note_rettifica.iter().rev().take(3) {
        lines.push((
            format!("Nota di rettifica {}", n.numero),
            format!(
                "{}: totale {} entro il {} ({})",
                n.period.text(),
                euro(n.totale()),
                date(n.scadenza),
                n.calcolo()
            ),
        ));
    }
    for d in &s.dilazioni {
        lines.push((
            format!("Dilazione {}", d.pratica),
            format!(
                "{}: {} rate da {}, pagate {}",
                d.stato,
                d.rate,
                euro(d.rata()),
                d.pagate
            ),
        ));
    }
    for a in &s.avvisi {
        lines.push((
            format!("Avviso di addebito {}", a.numero),
            format!("{}: {}", a.stato, euro(a.contributi + a.sanzioni)),
        ));
    }
    let credits: i64 = s.crediti.iter().map(|(_, c)| c).sum();
    lines.push(("Crediti".to_owned(), euro(credits)));
    ticket::DocumentLayout {
        sede: sede.to_owned(),
        heading: "Il mio Cassetto – riepilogo".to_owned(),
        lines,
        qr: None,
        footer: format!(
            "Stampato al chiosco il {printed_at}. Riepilogo informativo, senza valore di certificazione."
        ),
    }
}

/// The printed confirmation of a booking: where, when, the code and its QR for check-in.
pub fn booking_confirmation(
    b: &protocol::wire::AgendaBooking,
    company: &str,
    matricola: &domain::Matricola,
    service: &str,
    sede: &str,
    printed_at: &str,
) -> ticket::DocumentLayout {
    ticket::DocumentLayout {
        sede: sede.to_owned(),
        heading: "Conferma di appuntamento".into(),
        lines: vec![
            ("Codice".into(), b.booking.clone()),
            ("Quando".into(), domain::italian_when(b.starts_at)),
            ("Servizio".into(), service.to_owned()),
            ("Azienda".into(), company.to_owned()),
            ("Matricola".into(), mask(matricola.as_str())),
        ],
        qr: Some((
            "Il giorno dell'appuntamento inquadri questo codice al chiosco:".into(),
            b.token.clone(),
        )),
        footer: format!(
            "Prenotato al chiosco il {printed_at}. Per annullare: Il mio Cassetto, al chiosco."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_fascicolo_prints_the_figures_masked_and_no_third_parties() {
        let demo = demo::DemoBranch::generate(
            3,
            NaiveDate::from_ymd_opt(2026, 11, 26)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
        );
        let c = &demo.companies[0];
        let m = c.matricole[0];
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let s = demo::cassetto::summary(
            1,
            c,
            m,
            &demo.sede,
            &[("Maria Rossi".into(), "Legale rappresentante")],
            today,
        );
        let doc = fascicolo(&s, "INPS – Sede di Roma Eur", "26/11/2026 10:00");
        let opts = ticket::PrintOptions::default();
        let bytes = ticket::render_document(&doc, &opts).unwrap();
        let text = ticket::preview::preview(&bytes, opts.paper, opts.code_page)
            .unwrap()
            .transcript;
        assert!(text.contains(&euro(s.debito_aperto())), "{text}");
        assert!(text.contains("partial cut"), "{text}");
        assert!(!text.contains("Maria Rossi"), "no third parties: {text}");
        assert!(
            !text.contains(m.as_str()),
            "the matricola is masked: {text}"
        );
        assert!(text.contains(&mask(m.as_str())), "{text}");
    }

    #[test]
    fn a_booking_confirmation_says_when_in_italian_with_the_matricola_masked() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap();
        assert_eq!(domain::italian_when(t), "venerdì 27/11/2026 alle 09:30");
        let b = protocol::wire::AgendaBooking {
            booking: "APP-2026-000042".into(),
            starts_at: t,
            service: "A".into(),
            state: domain::AppointmentState::Booked,
            token: "TOKEN".into(),
        };
        let m = domain::Matricola::parse("5124776507").unwrap();
        let doc = booking_confirmation(
            &b,
            "Rossi S.r.l.",
            &m,
            "Aziende",
            "INPS Roma Eur",
            "03/12/2026 10:00",
        );
        let text = format!("{doc:?}");
        assert!(text.contains("venerdì 27/11/2026 alle 09:30"), "{text}");
        assert!(!text.contains("5124776507"), "{text}");
        assert_eq!(doc.qr.map(|(_, token)| token).as_deref(), Some("TOKEN"));
    }
}
