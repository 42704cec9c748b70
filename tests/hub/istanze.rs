//! Comunicazioni on-line: each istanza filed from the phone and moved through its states.

use crate::helpers::*;
use domain::istanze::IstanzaState;

/// Comunicazioni on-line: the hub says which istanze can be sent (four closed at first, with
/// their reasons); a closed one is refused with its reason; the administrator reopens them;
/// each of the eleven is filled in on the phone with its own typed fields and filed with a
/// protocol the kiosk sees; wrong fields are refused with their reasons and the typing kept;
/// the back office moves one forward to a reasoned rejection, which the kiosk reads back;
/// outcomes are final; a delegate never reaches another company's istanze.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_of_the_eleven_istanze_is_filed_from_the_phone_and_moves_through_its_states() {
    use domain::istanze::{DEFAULT_UNAVAILABLE, MODULI};
    use protocol::wire::{DeskTask, HandoffState, IstanzeView};
    let hub = Hub::start(1).await;
    let Visitor {
        mine,
        theirs,
        kiosk,
        base,
        started,
        phone,
        ..
    } = Visitor::identified(&hub).await;
    let view = |m: domain::Matricola| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("/v1/handoff/{}/istanze/{m}", started.id);
        async move { kiosk.signed(&base, "GET", &path).await }
    };
    assert_eq!(view(theirs).await.status(), StatusCode::NOT_FOUND);
    let v: IstanzeView = view(mine).await.json().await.unwrap();
    assert_eq!(v.moduli.len(), 11);
    assert!(v.sent.is_empty());
    let closed: Vec<(String, String)> = v
        .moduli
        .iter()
        .filter(|m| !m.available)
        .map(|m| (m.code.clone(), m.reason.clone().unwrap()))
        .collect();
    let expected: Vec<(String, String)> = DEFAULT_UNAVAILABLE
        .iter()
        .map(|(c, r)| (c.to_string(), r.to_string()))
        .collect();
    assert_eq!(
        closed, expected,
        "the migration's closed list is the catalogue's"
    );

    let task_path = format!("/v1/handoff/{}/task", started.id);
    let ask = |modulo: &str| DeskTask::Istanza {
        matricola: mine,
        modulo: modulo.to_owned(),
    };
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask("non_esiste"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let desk_csrf = || async {
        let page = phone
            .get(format!("{base}/h/desk"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (
            between(&page, "name=\"csrf\" value=\"", "\"").to_owned(),
            page,
        )
    };
    let submit = |code: &'static str, fields: Vec<(String, String)>| {
        let phone = phone.clone();
        let base = base.clone();
        async move {
            let page = phone
                .get(format!("{base}/h/desk"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
            let mut form = vec![
                ("csrf".to_owned(), csrf),
                ("matricola".to_owned(), mine.to_string()),
                ("modulo".to_owned(), code.to_owned()),
                ("notify_email".to_owned(), "1".to_owned()),
            ];
            form.extend(fields);
            let r = phone
                .post(format!("{base}/h/desk/istanza"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let valid = |code: &str| -> Vec<(String, String)> {
        domain::istanze::modulo(code)
            .unwrap()
            .fields
            .iter()
            .map(|f| (f.name.to_owned(), valid_value(f.kind)))
            .collect()
    };

    // A closed istanza: the form opens, sending it is refused with the reason.
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask("giovani_genitori"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, page) = submit("giovani_genitori", valid("giovani_genitori")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Fondi esauriti."), "{page}");

    // The administrator reopens the four in the console.
    hub.staff(&[
        ("capo", hub::accounts::Role::Admin, None),
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
    ])
    .await;
    let admin = ConsoleSession::login(&hub, 0, "capo", STAFF_PASSWORD).await;
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    assert_eq!(
        office.get("/console/istanze").await.0,
        StatusCode::FORBIDDEN
    );
    for (code, _) in DEFAULT_UNAVAILABLE {
        let (status, to, _) = admin
            .post(
                "/console/istanze/disponibilita",
                &[("code", code), ("action", "apri")],
            )
            .await;
        assert_eq!(
            (status, to.as_str()),
            (StatusCode::SEE_OTHER, "/console/istanze")
        );
    }

    // Wrong fields: each reason, the typing kept, nothing filed.
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask("rimborso"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let mut wrong = valid("rimborso");
    for (k, v) in &mut wrong {
        match k.as_str() {
            "iban" => *v = "IT61X0542811101000000123456".into(),
            "periodo_dal" => *v = "2026-09".into(),
            "importo" => *v = "mille euro".into(),
            _ => {}
        }
    }
    let (status, page) = submit("rimborso", wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for reason in ["IBAN non è valido", "«Importo (euro)»", "viene prima"] {
        assert!(page.contains(reason), "{reason}: {page}");
    }
    assert!(page.contains("value=\"mille euro\""), "kept: {page}");
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM istanza").await, 0);

    // Each of the eleven, filed with its own protocol; the kiosk sees each.
    let status_path = format!("/v1/handoff/{}", started.id);
    let mut protocols = Vec::new();
    for m in &MODULI {
        assert_eq!(
            kiosk
                .signed_json(&base, &task_path, &ask(m.code))
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        let (_, page) = desk_csrf().await;
        let title = m.title.replace('\'', "&#39;");
        assert!(page.contains(&title), "{}: {page}", m.code);
        for f in m.fields {
            assert!(page.contains(&format!("name=\"{}\"", f.name)), "{}", f.name);
        }
        let (status, page) = submit(m.code, valid(m.code)).await;
        assert_eq!(status, StatusCode::CREATED, "{}: {page}", m.code);
        let protocol = between(&page, "protocollo <strong>", "</strong>").to_owned();
        assert!(protocol.starts_with("INPS.7001.COL."), "{protocol}");
        match kiosk
            .signed(&base, "GET", &status_path)
            .await
            .json::<HandoffState>()
            .await
            .unwrap()
        {
            HandoffState::Bound { sent, task, .. } => {
                assert_eq!((sent.as_deref(), task), (Some(protocol.as_str()), None));
            }
            other => panic!("{other:?}"),
        }
        protocols.push((m.code, protocol));
    }
    let v: IstanzeView = view(mine).await.json().await.unwrap();
    assert_eq!(v.sent.len(), 11);
    assert!(v.sent.iter().all(|i| i.state == IstanzaState::Inviata));
    let stored: serde_json::Value = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT fields FROM istanza WHERE code = 'dilazione'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["iban"], "IT60X0542811101000000123456", "normal form");
    assert_eq!(stored["importo"], "1234.56");

    // The back office moves the rimborso to a reasoned rejection; outcomes are final.
    let (_, rimborso) = protocols.iter().find(|(c, _)| *c == "rimborso").unwrap();
    let act = |state: &'static str, esito: &'static str| {
        let office = &office;
        let rimborso = rimborso.clone();
        async move {
            office
                .post(
                    "/console/sedi/7001/istanze/azione",
                    &[
                        ("protocol", rimborso.as_str()),
                        ("state", state),
                        ("esito", esito),
                    ],
                )
                .await
        }
    };
    let (status, page) = office.get("/console/sedi/7001/istanze").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(rimborso.as_str()) && page.contains("IT60X0542811101000000123456"),
        "{page}"
    );
    assert_eq!(act("protocollata", "").await.0, StatusCode::SEE_OTHER);
    assert_eq!(act("in_istruttoria", "").await.0, StatusCode::SEE_OTHER);
    let (status, _, page) = act("respinta", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("motivazioni"), "{page}");
    assert_eq!(
        act("respinta", "Il credito risulta già compensato.")
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let (status, _, page) = act("accolta", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("non può passare"), "{page}");
    assert_eq!(
        act("protocollata", "").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let v: IstanzeView = view(mine).await.json().await.unwrap();
    let seen = v.sent.iter().find(|i| &i.protocol == rimborso).unwrap();
    assert_eq!(
        (seen.state, seen.esito.as_deref()),
        (
            IstanzaState::Respinta,
            Some("Il credito risulta già compensato.")
        )
    );
    // Every change was told to the visitor's e-mail: 11 received, 3 changes.
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM job WHERE kind = 'notify_email'"
        )
        .await,
        14
    );

    // The administrator closes one again: a reason is needed, and the kiosk shows it.
    let (status, _, page) = admin
        .post(
            "/console/istanze/disponibilita",
            &[
                ("code", "riduzione_edilizia"),
                ("action", "chiudi"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("scriva il motivo"), "{page}");
    let (status, _, _) = admin
        .post(
            "/console/istanze/disponibilita",
            &[
                ("code", "riduzione_edilizia"),
                ("action", "chiudi"),
                ("reason", "Termini chiusi per il 2026."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let v: IstanzeView = view(mine).await.json().await.unwrap();
    let edil = v
        .moduli
        .iter()
        .find(|m| m.code == "riduzione_edilizia")
        .unwrap();
    assert_eq!(
        (edil.available, edil.reason.as_deref()),
        (false, Some("Termini chiusi per il 2026."))
    );
}
