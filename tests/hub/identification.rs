//! A visitor identified on their phone through OpenID Connect, and the Cassetto screen that follows.

use crate::helpers::*;

/// Identification by phone hand-off through a real OpenID Connect flow: the kiosk asks for a
/// QR code; the "phone" opens it, is sent to the built-in provider (PKCE and a nonce in the
/// request), logs in as a demo person and comes back; the hub exchanges the code, checks the
/// ID token and binds the person to that kiosk session, whose companies the kiosk then reads.
/// A QR code opened twice, an expired one, a replayed provider answer, a code exchanged twice,
/// another kiosk asking, and a session the kiosk ended are all refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_identifies_the_visitor_for_the_kiosk_through_openid_connect() {
    use domain::{Clock, SystemClock};
    use protocol::wire::{HandoffStarted, HandoffState};
    let hub = Hub::start(2).await;
    let clock = SystemClock::untrusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        9,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    let kiosk = hub.enrol().await;
    let base = hub.base(0);
    let started: HandoffStarted = kiosk
        .signed(&base, "POST", "/v1/handoff")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        started.url.starts_with(&format!("{base}/h/")),
        "{}",
        started.url
    );
    let status = |id: String| {
        let kiosk = &kiosk;
        let base = base.clone();
        async move {
            let r = kiosk
                .signed(&base, "GET", &format!("/v1/handoff/{id}"))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<HandoffState>().await.unwrap()
        }
    };
    assert_eq!(
        status(started.id.clone()).await,
        HandoffState::Pending { opened: false }
    );

    // The phone: the QR code's page, which names the sede and spends nothing (a link
    // preview opens it too) and asks for the code beside the QR on the kiosk.
    let phone = &hub.phone();
    assert_eq!(started.code.len(), 4, "{}", started.code);
    assert!(started.code.chars().all(|c| c.is_ascii_digit()));
    let sede: String = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT name FROM branch WHERE branch_id = $1",
            &[&i32::from(SEDE)],
        )
        .await
        .unwrap()
        .get(0);
    for _ in 0..2 {
        let page = phone.get(&started.url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        assert!(
            page.contains(&format!("chiosco della sede di {sede}")),
            "{page}"
        );
        assert!(page.contains("codice di 4 cifre mostrato sul chiosco"));
    }
    assert_eq!(
        status(started.id.clone()).await,
        HandoffState::Pending { opened: false },
        "opening the link spends nothing"
    );
    let wrong = if started.code == "0000" {
        "1111"
    } else {
        "0000"
    };
    let r = phone
        .post(&started.url)
        .form(&[("code", wrong)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("non corrisponde"));
    // The right code: on to the provider, this browser holding the flow's cookie.
    let r = phone
        .post(&started.url)
        .form(&[("code", started.code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let flow_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in [
        "__Host-sportello_flow=",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(flow_cookie.contains(attr), "{attr}: {flow_cookie}");
    }
    let to_idp = location(&r);
    assert!(to_idp.contains("/idp/authorize?"), "{to_idp}");
    // The profile's request: PKCE in the query, the rest (nonce, level...) in a request
    // object the hub signed.
    assert!(to_idp.contains("code_challenge_method=S256") && to_idp.contains("request="));
    assert!(!to_idp.contains("nonce="), "{to_idp}");
    assert_eq!(
        status(started.id.clone()).await,
        HandoffState::Pending { opened: true }
    );
    let again = phone.get(&started.url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT, "a QR code opens once");
    assert!(again.text().await.unwrap().contains("già stato usato"));
    let page = phone
        .get(&to_idp)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let person = demo
        .people
        .iter()
        .find(|p| !p.companies.is_empty())
        .unwrap();
    let full_name = format!("{} {}", person.given_name, person.surname);
    assert!(page.contains(&full_name), "{page}");
    let mut form = login_form(&page);
    form.push(("cf".into(), person.cf.as_str().to_owned()));
    // The test provider takes only a request the hub signed, and sends a code to the hub's
    // callback only: not to an address slipped into the link, whether the page is asked for
    // or the choice posted.
    let with_request = |request: Option<String>| {
        let mut url = reqwest::Url::parse(&to_idp).unwrap();
        let query: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "request")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .chain(request.map(|r| ("request".to_owned(), r)))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(query);
        url
    };
    let request = reqwest::Url::parse(&to_idp)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request")
        .unwrap()
        .1
        .into_owned();
    let mut claims = hub::oidc::jose::unverified_claims(&request).unwrap();
    claims.insert(
        "redirect_uri".into(),
        "https://evil.example/h/callback".into(),
    );
    let parts: Vec<&str> = request.split('.').collect();
    let b64 = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    };
    let payload = b64(serde_json::Value::Object(claims).to_string().as_bytes());
    let forged_request = format!("{}.{payload}.{}", parts[0], parts[2]);
    let unsigned = format!("{}.{payload}.", b64(br#"{"alg":"none"}"#));
    for (request, says) in [
        (None, "deve essere firmata"),
        (Some(forged_request), "non è firmata"),
        (Some(unsigned), "non è firmata"),
    ] {
        let r = phone.get(with_request(request)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let page = r.text().await.unwrap();
        assert!(page.contains(says), "{says}: {page}");
    }
    let forged: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| match k.as_str() {
            "redirect_uri" => (k.clone(), "https://evil.example/h/callback".to_owned()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let r = phone
        .post(format!("{base}/idp/authorize"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    let back = location(
        &phone
            .post(format!("{base}/idp/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    );
    assert!(
        back.starts_with(&format!("{base}/h/callback?code=")),
        "{back}"
    );
    let done = phone.get(&back).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Identificazione riuscita")
    );

    // The kiosk reads who it is and the companies they may act for.
    match status(started.id.clone()).await {
        HandoffState::Bound {
            name, companies, ..
        } => {
            assert_eq!(name, full_name);
            let expected: BTreeSet<String> = person
                .companies
                .iter()
                .flat_map(|&i| demo.companies[i].matricole.iter().map(|m| m.to_string()))
                .collect();
            let got: BTreeSet<String> = companies.iter().map(|c| c.matricola.to_string()).collect();
            assert_eq!(got, expected);
            assert!(companies.iter().all(|c| c.role == person.role));
        }
        other => panic!("{other:?}"),
    }
    // The summary of a delegated matricola is the dataset's; another company's is not there.
    let delegated = &demo.companies[person.companies[0]];
    let m = delegated.matricole[0];
    let r = kiosk
        .signed(
            &base,
            "GET",
            &format!("/v1/handoff/{}/companies/{m}", started.id),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got: protocol::cassetto::CompanySummary = r.json().await.unwrap();
    let reps: Vec<(String, &'static str)> = demo
        .people
        .iter()
        .filter(|p| {
            p.companies.contains(&person.companies[0]) && p.role == domain::TipoDelegato::Azienda
        })
        .map(|p| {
            (
                format!("{} {}", p.given_name, p.surname),
                "Legale rappresentante",
            )
        })
        .collect();
    assert_eq!(
        got,
        demo::cassetto::summary(
            9,
            delegated,
            m,
            &demo.sede,
            &reps,
            clock.local_now().date_naive()
        )
    );
    let stranger = demo
        .companies
        .iter()
        .enumerate()
        .find(|(i, _)| !person.companies.contains(i))
        .map(|(_, c)| c.matricole[0].as_str())
        .unwrap();
    for other in [stranger, "7099999999"] {
        let r = kiosk
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/companies/{other}", started.id),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{other} is not theirs");
    }
    // The provider's answer replayed: refused, and the binding stays.
    let replay = phone.get(&back).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    // Another kiosk cannot read this one's session.
    let other = hub.enrol().await;
    assert_eq!(
        other
            .signed(&base, "GET", &format!("/v1/handoff/{}", started.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/companies/{m}", started.id)
            )
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "another kiosk never reads this visitor's companies"
    );
    // The kiosk ends it (logout, timeout, a new visitor): nothing more to read.
    let ended = kiosk
        .signed(&base, "POST", &format!("/v1/handoff/{}/end", started.id))
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(status(started.id.clone()).await, HandoffState::Ended);
    assert_eq!(
        kiosk
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/companies/{m}", started.id)
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // An expired QR code is refused, and says so.
    let late: HandoffStarted = kiosk
        .signed(&base, "POST", "/v1/handoff")
        .await
        .json()
        .await
        .unwrap();
    hub.pool
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE handoff SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&uuid::Uuid::parse_str(&late.id).unwrap()],
        )
        .await
        .unwrap();
    let r = phone.get(&late.url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("non è più valido"));
    assert_eq!(status(late.id.clone()).await, HandoffState::Expired);

    // The provider's token endpoint takes only the hub's own client assertion.
    let used_code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let stranger = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut signer = josekit::jws::ES256
        .signer_from_jwk(&stranger.to_jwk_private_key())
        .unwrap();
    signer.set_key_id("estranea");
    let now = chrono::Utc::now().timestamp();
    let forged = hub::oidc::jose::sign(
        &serde_json::json!({
            "iss": "sportello-hub", "sub": "sportello-hub", "aud": format!("{base}/idp/token"),
            "iat": now, "exp": now + 60, "jti": "1",
        }),
        "JWT",
        &signer,
    )
    .unwrap();
    for assertion in [None, Some(forged.as_str())] {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", used_code.to_owned()),
            ("redirect_uri", format!("{base}/h/callback")),
            ("code_verifier", "x".to_owned()),
        ];
        if let Some(a) = assertion {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", a.to_owned()));
        }
        let r = phone
            .post(format!("{base}/idp/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
    // Its UserInfo answers only its own access tokens.
    let r = phone
        .get(format!("{base}/idp/userinfo"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The kiosk's *Il mio Cassetto* screen, headless, against a real hub, PostgreSQL and the
/// built-in provider: the QR code drawn on the screen is read back from its pixels and opened
/// by the "phone"; after the login, the screen greets the visitor and lists their companies
/// with masked matricole; leaving the screen ends the session at the hub. Screenshots of both
/// states go to `docs/screenshots/` with `SPORTELLO_SCREENSHOTS=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cassetto_screen_identifies_the_visitor_by_phone_and_lists_their_companies() {
    use branch::sync::agent::Agent;
    use domain::{Clock, SystemClock};
    use kiosk::screenshot::{Renderer, Shot};
    use kiosk::ui::{CassettoAdapter, CassettoPhase, CassettoView, Dispatch, KioskUi, Screen};
    use slint::{ComponentHandle, Model};
    let hub = Hub::start(1).await;
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        9,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    let (kiosk_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    Agent::new(branch.clone(), &link)
        .unwrap()
        .pull_once()
        .await
        .unwrap();
    let person = demo
        .people
        .iter()
        .find(|p| !p.companies.is_empty())
        .unwrap()
        .clone();
    let first_company = demo.companies[person.companies[0]].name.clone();
    let person_cf = person.cf.as_str().to_owned();
    let person_cf_for_ui = person_cf.clone();
    // What must not rest at the kiosk afterwards.
    let mut secrets: Vec<String> = vec![person_cf];
    for c in &demo.companies {
        secrets.push(c.cf.to_string());
        secrets.push(c.name.clone());
        secrets.extend(c.matricole.iter().map(|m| m.as_str().to_owned()));
    }
    let phone = hub.phone();
    let base = hub.base(0);
    let handle = tokio::runtime::Handle::current();
    let pool = hub.pool.clone();
    tokio::task::spawn_blocking(move || {
        let renderer = Renderer::install().unwrap();
        let ident =
            kiosk::identify::HubIdentification::new(
                &link,
                branch::sync::client::HubPins::of(&link),
                handle.clone(),
            )
            .unwrap();
        let paper_dir = tempfile::tempdir().unwrap();
        let paper = paper_dir.path().join("printer.bin");
        let replica_branch = branch.clone();
        let agent_link = link.clone();
        let kiosk = kiosk::Kiosk::new(branch)
            .unwrap()
            .with_identification(Arc::new(ident))
            .with_printer(
                Box::new(hardware::printer::SimulatedPrinter::new(paper.clone())),
                ticket::PrintOptions::default(),
            );
        let ui = KioskUi::with_dispatch(kiosk, Dispatch::Inline).unwrap();
        let shot = Shot {
            screen: Screen::Cassetto,
            lang: "it".into(),
            width: 1280,
            height: 800,
            high_contrast: false,
            large_text: false,
            seated: false,
        };
        let screen = |name: &str| {
            let png = renderer.render(&ui, &shot).unwrap();
            if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
                let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots")
                    .join(name);
                std::fs::write(out, &png).unwrap();
            }
            png
        };
        // Opening the screen asks the hub for a code.
        renderer.render(&ui, &shot).unwrap();
        let a = ui.window().global::<CassettoAdapter>();
        assert_eq!(a.get_phase(), CassettoPhase::Qr);
        let png = screen("cassetto-qr.png");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let grey: Vec<u8> = buf[..w * h * 3]
            .chunks_exact(3)
            .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
            .collect();
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
        let url = img
            .detect_grids()
            .into_iter()
            .find_map(|g| g.decode().ok().map(|d| d.1))
            .expect("a readable QR code on the screen");
        assert!(url.starts_with(&format!("{base}/h/")), "{url}");

        // The phone, meanwhile.
        // The code the phone asks for is on the screen beside the QR.
        let code = a.get_confirm_code().to_string();
        assert_eq!(code.len(), 4, "{code}");
        handle.block_on(phone_login(&phone, &base, &url, &code, person.cf.as_str()));

        // The screen's next half-second step finds the visitor identified.
        ui.cassetto_step();
        assert_eq!(a.get_phase(), CassettoPhase::Bound);
        assert_eq!(
            a.get_person().as_str(),
            format!("{} {}", person.given_name, person.surname)
        );
        let companies = a.get_companies();
        assert!(companies.row_count() >= 1);
        let names: Vec<String> = companies.iter().map(|c| c.name.to_string()).collect();
        assert!(names.contains(&first_company), "{names:?}");
        for c in companies.iter() {
            assert!(c.masked.contains('•') && c.masked != c.matricola, "{c:?}");
            assert_eq!(c.masked.chars().count(), c.matricola.chars().count());
        }
        screen("cassetto-companies.png");

        // The first company's summary: its figures are the dataset's.
        let row = companies.row_data(0).unwrap();
        let company = demo
            .companies
            .iter()
            .find(|c| c.name == row.name.as_str())
            .unwrap();
        let reps: Vec<(String, &'static str)> = demo
            .people
            .iter()
            .filter(|p| {
                p.role == domain::TipoDelegato::Azienda
                    && p.companies
                        .iter()
                        .any(|&i| demo.companies[i].name == company.name)
            })
            .map(|p| {
                (
                    format!("{} {}", p.given_name, p.surname),
                    "Legale rappresentante",
                )
            })
            .collect();
        let expected = demo::cassetto::summary(
            9,
            company,
            domain::Matricola::parse(row.matricola.as_str()).unwrap(),
            &demo.sede,
            &reps,
            clock.local_now().date_naive(),
        );
        // A request about it, answered by the sede, shows with the reply.
        handle.block_on(async {
            let mut c = pool.get().await.unwrap();
            c.execute(
                "INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic, subject)
                 VALUES (7001, 'INPS.7001.TEST.0000001', $1, $2, 'f24', 'Versamento di marzo')",
                &[&row.matricola.as_str(), &person_cf_for_ui.as_str()],
            )
            .await
            .unwrap();
            hub::contatti::reply(
                &mut c,
                "ufficio",
                7001,
                "INPS.7001.TEST.0000001",
                "Il versamento risulta regolare.",
            )
            .await
            .unwrap();
        });
        a.invoke_open_company(0);
        assert_eq!(a.get_view(), CassettoView::Summary);
        let requests = a.get_requests();
        assert_eq!(requests.row_count(), 1);
        let r = requests.row_data(0).unwrap();
        assert_eq!(r.state.as_str(), "presa in carico");
        assert!(r.from_sede && r.last.as_str() == "Il versamento risulta regolare.");
        let view = a.get_summary();
        assert_eq!(view.name.as_str(), company.name);
        assert_eq!(
            view.debt.as_str(),
            protocol::cassetto::euro(expected.debito_aperto())
        );
        assert_eq!(view.notes_count as usize, expected.note_rettifica.len());
        assert_eq!(
            view.durc,
            match expected.durc {
                protocol::cassetto::Durc::Regolare { .. } => 0,
                protocol::cassetto::Durc::InVerifica { .. } => 1,
                protocol::cassetto::Durc::NonRegolare { .. } => 2,
            }
        );
        assert!(view.matricola.contains('•'), "masked on the summary too");
        screen("cassetto-summary.png");
        // Each card opens its section, whole: the months of UniEmens against F24, newest
        // first, those not balanced marked; in English, months and outcomes too.
        a.invoke_open_section(3);
        assert_eq!(a.get_view(), CassettoView::Section);
        let section = a.get_section();
        assert_eq!(section.rows.row_count(), expected.mesi.len());
        let newest = expected.mesi.last().unwrap();
        assert_eq!(
            section.rows.row_data(0).unwrap().label.as_str(),
            newest.period.text()
        );
        assert_eq!(
            section.rows.iter().filter(|r| r.alert).count(),
            expected
                .mesi
                .iter()
                .filter(|m| !matches!(m.esito(), "Quadrato" | "A credito"))
                .count()
        );
        screen("cassetto-uniemens.png");
        let session = ui.window().global::<kiosk::ui::SessionAdapter>();
        session.set_language("en".into());
        a.invoke_open_section(3);
        let month = chrono::Month::try_from(newest.period.month as u8).unwrap().name();
        assert_eq!(
            a.get_section().rows.row_data(0).unwrap().label.as_str(),
            format!("{month} {}", newest.period.year)
        );
        session.set_language("it".into());
        // The notes with their arithmetic; the registry with the linked persons by name.
        a.invoke_open_section(4);
        let notes = a.get_section().rows;
        assert_eq!(notes.row_count(), expected.note_rettifica.len().max(1));
        for (row, n) in notes.iter().zip(&expected.note_rettifica) {
            assert!(row.detail.contains(&n.calcolo()), "{row:?}");
        }
        a.invoke_open_section(0);
        let registry: Vec<String> = a
            .get_section()
            .rows
            .iter()
            .map(|r| r.value.to_string())
            .collect();
        for p in &expected.soggetti {
            assert!(registry.contains(&p.nome), "{registry:?}");
        }
        for linked in &expected.aziende_collegate {
            assert!(registry.contains(&linked.denominazione), "{registry:?}");
        }
        assert!(
            !registry.iter().any(|v| v.contains(row.matricola.as_str())),
            "the matricola stays masked"
        );
        a.invoke_back();
        // Stampa fascicolo: the figures on paper, the matricola masked, no linked persons.
        a.invoke_print_summary();
        assert!(
            a.get_print_status().contains("stampato"),
            "{}",
            a.get_print_status()
        );
        let opts = ticket::PrintOptions::default();
        let preview =
            ticket::preview::preview(&std::fs::read(&paper).unwrap(), opts.paper, opts.code_page)
                .unwrap();
        if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::write(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/cassetto-fascicolo.png"),
                preview.png(),
            )
            .unwrap();
        }
        let printed = preview.transcript;
        assert!(
            printed.contains(&protocol::cassetto::euro(expected.debito_aperto())),
            "{printed}"
        );
        assert!(!printed.contains(row.matricola.as_str()), "{printed}");
        for (name, _) in &reps {
            assert!(
                !printed.contains(name.as_str()),
                "{name} printed: {printed}"
            );
        }

        // Scrivi alla sede: the form opens on the phone, which sends it with three files;
        // the kiosk's next step shows the protocol and the request with its attachments.
        a.invoke_write_to_sede();
        assert!(
            a.get_phone_status().contains("Continui sul suo telefono"),
            "{}",
            a.get_phone_status()
        );
        let (status, page) = handle.block_on(send_from_phone(
            &phone,
            &base,
            "Quietanze di marzo",
            vec![
                ("quietanza.pdf", b"%PDF-1.4\n%%EOF\n".to_vec()),
                ("ricevuta.png", png_bytes(8)),
                ("estratto.png", png_bytes(9)),
            ],
        ));
        assert_eq!(status, StatusCode::CREATED, "{page}");
        ui.cassetto_step();
        assert!(
            a.get_phone_status().contains("protocollo INPS.7001."),
            "{}",
            a.get_phone_status()
        );
        let requests = a.get_requests();
        assert_eq!(requests.row_count(), 2);
        let newest = requests.row_data(0).unwrap();
        assert_eq!(newest.subject.as_str(), "Quietanze di marzo");
        assert_eq!((newest.attachments, newest.state.as_str()), (3, "aperta"));
        screen("cassetto-sent.png");
        // Its history, both ways, with the files.
        a.invoke_open_request(1);
        let history = a.get_section();
        assert!(history.title.contains("Versamento di marzo"), "{history:?}");
        let said: Vec<String> = history.rows.iter().map(|r| r.value.to_string()).collect();
        // The sede's promise first (answered at once: no working day waited), then the reply.
        assert_eq!(history.rows.row_data(0).unwrap().label.as_str(), "Tempo di risposta");
        assert_eq!(
            said,
            [
                "Risposta data in 0 giorni lavorativi, entro il termine di 20",
                "Il versamento risulta regolare."
            ],
            "the promise and the reply"
        );
        a.invoke_open_request(0);
        let files: Vec<String> = a
            .get_section()
            .rows
            .iter()
            .filter(|r| r.label == "Allegato")
            .map(|r| r.value.to_string())
            .collect();
        assert_eq!(files, ["quietanza.pdf", "ricevuta.png", "estratto.png"]);
        screen("cassetto-request.png");
        a.invoke_back();

        // Comunicazioni on-line: the eleven listed, the closed ones with their reason; one
        // chosen at the kiosk is filled in on the phone and shows with its state.
        let moduli = a.get_moduli();
        assert_eq!(moduli.row_count(), 11);
        let closed: Vec<String> = moduli
            .iter()
            .filter(|m| !m.available)
            .map(|m| m.code.to_string())
            .collect();
        assert_eq!(closed.len(), domain::istanze::DEFAULT_UNAVAILABLE.len());
        assert!(moduli.iter().all(|m| m.available || !m.reason.is_empty()));
        let ferie = moduli
            .iter()
            .position(|m| m.code == "ferie_collettive")
            .unwrap();
        a.invoke_choose_istanza(ferie as i32);
        assert!(
            a.get_phone_status().contains("l'istanza «Richiesta di differimento"),
            "{}",
            a.get_phone_status()
        );
        let (status, page) = handle.block_on(async {
            let page = phone
                .get(format!("{base}/h/desk"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let value =
                |name: &str| between(&page, &format!("name=\"{name}\" value=\""), "\"").to_owned();
            let r = phone
                .post(format!("{base}/h/desk/istanza"))
                .form(&[
                    ("csrf", value("csrf")),
                    ("matricola", value("matricola")),
                    ("modulo", value("modulo")),
                    ("mese_ferie", "2026-08".into()),
                    ("motivazione", "Chiusura estiva dello stabilimento.".into()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        });
        assert_eq!(status, StatusCode::CREATED, "{page}");
        ui.cassetto_step();
        assert!(
            a.get_phone_status().contains("Istanza inviata alla sede: protocollo INPS.7001.COL."),
            "{}",
            a.get_phone_status()
        );
        let istanze = a.get_istanze();
        assert_eq!(istanze.row_count(), 1);
        assert_eq!(istanze.row_data(0).unwrap().state.as_str(), "inviata");

        // Agenda: the free slots, one booked at once with its confirmation printed (its QR
        // is the hub's token, which the kiosk accepts once its feed brings the key); then
        // cancelled.
        let printed_before = std::fs::read(&paper).unwrap().len();
        a.invoke_show_slots();
        let slots = a.get_slots();
        assert!((1..=8).contains(&slots.row_count()), "{}", slots.row_count());
        let label = slots.row_data(0).unwrap().label.to_string();
        assert_eq!(a.get_view(), CassettoView::Slots, "the slots have a screen of their own");
        screen("cassetto-slots.png");
        a.invoke_book_slot(0);
        assert_eq!(a.get_view(), CassettoView::Summary, "back to the summary, the booking on it");
        let status = a.get_agenda_status().to_string();
        assert!(
            status.contains("prenotato per") && status.contains("Ritiri la conferma stampata"),
            "{status}"
        );
        assert!(status.contains(&label), "{status} / {label}");
        let bookings = a.get_bookings();
        assert_eq!(bookings.row_count(), 1);
        let booked = bookings.row_data(0).unwrap();
        assert!(booked.cancellable);
        let paper_bytes = std::fs::read(&paper).unwrap();
        let confirmation = ticket::preview::preview(
            &paper_bytes[printed_before..],
            opts.paper,
            opts.code_page,
        )
        .unwrap();
        assert!(
            confirmation.transcript.contains("Conferma di appuntamento")
                && confirmation.transcript.contains(booked.booking.as_str()),
            "{}",
            confirmation.transcript
        );
        let png = confirmation.png();
        if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::write(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/agenda-conferma.png"),
                &png,
            )
            .unwrap();
        }
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (pw, ph) = (info.width as usize, info.height as usize);
        let bytes_per_pixel = buf.len() / (pw * ph);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(pw, ph, |x, y| {
            buf[(y * pw + x) * bytes_per_pixel]
        });
        let token = img
            .detect_grids()
            .into_iter()
            .find_map(|g| g.decode().ok().map(|d| d.1))
            .expect("a readable QR code on the confirmation");
        handle.block_on(async {
            Agent::new(replica_branch.clone(), &agent_link)
                .unwrap()
                .pull_once()
                .await
                .unwrap();
        });
        let mut verifier = domain::token::TokenVerifier::new();
        let keys = replica_branch
            .read(|_, s| s.verifying_keys())
            .unwrap();
        for (id, key) in keys {
            verifier.add_key(id, &key).unwrap();
        }
        let claims = verifier.verify(&token).expect("the kiosk accepts the hub's token");
        assert_eq!(claims.booking.to_string(), booked.booking.as_str());
        let tall = Shot {
            height: 3000,
            ..shot.clone()
        };
        let png = renderer.render(&ui, &tall).unwrap();
        if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::write(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/cassetto-agenda-istanze.png"),
                &png,
            )
            .unwrap();
        }
        // Deflection: before a ticket, the DURC and the open requests, and the ways to settle
        // without queueing.
        a.invoke_take_ticket();
        assert_eq!(a.get_view(), CassettoView::Deflecting);
        assert_eq!(a.get_open_requests(), 2, "the two requests are not closed");
        screen("cassetto-deflection.png");
        a.invoke_back();
        a.invoke_cancel_booking(0);
        assert!(
            a.get_agenda_status().contains("annullato"),
            "{}",
            a.get_agenda_status()
        );
        let after = a.get_bookings().row_data(0).unwrap();
        assert!(!after.cancellable, "{after:?}");

        a.invoke_close_company();
        assert_eq!(a.get_view(), CassettoView::Companies);

        // Leaving the screen ends the session at the hub and forgets the visitor here.
        ui.window()
            .global::<kiosk::ui::SessionAdapter>()
            .set_screen(Screen::Home);
        ui.cassetto_step();
        assert_eq!(a.get_companies().row_count(), 0);
        assert_eq!(a.get_person(), "");
        let ended: i64 = handle.block_on(async {
            pool.get()
                .await
                .unwrap()
                .query_one(
                    "SELECT count(*) FROM handoff WHERE ended_at IS NOT NULL",
                    &[],
                )
                .await
                .unwrap()
                .get(0)
        });
        assert_eq!(ended, 1);
    })
    .await
    .unwrap();
    // Nothing of the visitor or their companies rests in the kiosk's files (database, WAL).
    for entry in std::fs::read_dir(kiosk_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                path.display()
            );
        }
    }
}
