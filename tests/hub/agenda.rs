//! Agenda appuntamenti: a slot booked with a token kiosks accept, and cancelled.

use crate::helpers::*;

/// Agenda appuntamenti: the hub offers the free slots of the sede di competenza (none within
/// two hours, none past two weeks), books one in a single request — refusing a slot that is
/// not free, and a full one once its counters are taken — and answers a token it signed with
/// its own key, whose verifying half reaches the kiosks in the branch feed; the confirmation
/// and, the day before, the reminder are queued; cancelling frees the slot, tells the kiosks,
/// and stops the reminder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agenda_books_a_slot_with_a_token_the_kiosks_accept_and_cancels_it() {
    use protocol::wire::{AgendaBooking, AgendaView, NewBooking};
    let hub = Hub::start(1).await;
    let Visitor {
        demo,
        person,
        mine,
        theirs,
        kiosk,
        base,
        started,
        now,
        ..
    } = Visitor::identified(&hub).await;
    let agenda = |m: &domain::Matricola| format!("/v1/handoff/{}/agenda/{m}", started.id);
    assert_eq!(
        kiosk.signed(&base, "GET", &agenda(&theirs)).await.status(),
        StatusCode::NOT_FOUND
    );
    // A malformed matricola is refused at the extractor, as one that is not theirs.
    for malformed in ["12", "ABCDEFGHIJ", "%27%20OR%201%3D1"] {
        let path = format!("/v1/handoff/{}/agenda/{malformed}", started.id);
        assert_eq!(
            kiosk.signed(&base, "GET", &path).await.status(),
            StatusCode::NOT_FOUND,
            "{malformed}"
        );
    }
    let view = || async {
        kiosk
            .signed(&base, "GET", &agenda(&mine))
            .await
            .json::<AgendaView>()
            .await
            .unwrap()
    };
    let v = view().await;
    let replica = demo.replica();
    let service = replica
        .services
        .iter()
        .find(|s| s.appointment_only)
        .unwrap();
    assert_eq!(v.service, service.letter.to_string());
    assert!(!v.slots.is_empty());
    assert!(v.bookings.is_empty());
    for t in &v.slots {
        assert!(*t >= now + chrono::Duration::hours(2), "{t}");
        assert!(*t <= now + chrono::Duration::days(15), "{t}");
    }
    let slot = v.slots[0];

    // A time that is not a free slot is refused; the chosen one is booked until full.
    let book = |t: chrono::NaiveDateTime| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = agenda(&mine);
        async move {
            kiosk
                .signed_json(&base, &path, &NewBooking { starts_at: t })
                .await
        }
    };
    let odd = slot + chrono::Duration::minutes(1);
    let r = book(odd).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("non è più libero"));
    let capacity = replica
        .counters
        .iter()
        .filter(|c| c.services.iter().any(|(l, _)| *l == service.letter))
        .count()
        .max(1);
    let mut made: Vec<AgendaBooking> = Vec::new();
    loop {
        let r = book(slot).await;
        if r.status() == StatusCode::CONFLICT {
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
        made.push(r.json().await.unwrap());
        assert!(made.len() <= capacity, "more bookings than counters");
    }
    assert_eq!(made.len(), capacity);
    assert!(
        !view().await.slots.contains(&slot),
        "a full slot is not offered"
    );
    let first = &made[0];
    // The hub's numbers are its own range, past imports and the demo.
    assert!(
        first.booking[9..].parse::<u32>().unwrap() >= 100_000,
        "{}",
        first.booking
    );

    // The token is the hub's: the kiosk's feed carries its verifying key, and it verifies to
    // the booking, the slot and the visitor's pseudonymous key.
    let pulled: PullResponse = kiosk.pull(&base, 0, None).await.json().await.unwrap();
    let config = config_in(&pulled);
    // The hub's own keys are numbered past the imported ones'.
    assert!(config.verifying_keys.iter().any(|(id, _)| *id > 100));
    let mut verifier = domain::token::TokenVerifier::new();
    for (id, hex) in &config.verifying_keys {
        let key: [u8; 32] = wire::unhex(hex).unwrap().try_into().unwrap();
        verifier.add_key(*id, &key).unwrap();
    }
    let claims = verifier.verify(&first.token).unwrap();
    assert_eq!(claims.booking.to_string(), first.booking);
    assert_eq!((claims.starts_at, claims.service), (slot, service.letter));
    assert_eq!(
        claims.person,
        demo::DemoBranch::keyer().key(&domain::CodiceFiscale::Personal(person.cf))
    );
    assert!(
        pulled
            .changes
            .iter()
            .any(|c| c.entity == wire::ENTITY_APPOINTMENT
                && c.payload.as_ref().unwrap()["state"] == "confirmed"
                && c.entity_id == claims.booking.get().to_string()),
        "the appointment reaches the kiosks"
    );
    let v = view().await;
    assert_eq!(v.bookings.len(), capacity);
    assert_eq!(v.bookings[0].token, first.token);

    // Confirmations queued to the provider's contacts; the reminder the day before at 10:00.
    let (email, _) = demo::hub::contacts(&person);
    let c = hub.pool.get().await.unwrap();
    let confirmations: i64 = c
        .query_one(
            "SELECT count(*) FROM job WHERE kind = 'notify_email'
               AND payload->>'to' = $1 AND payload->>'subject' LIKE '%confermato'",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(confirmations as usize, capacity);
    let reminder_at: Option<chrono::DateTime<chrono::Utc>> = c
        .query_opt(
            "SELECT run_at FROM job WHERE kind = 'agenda_reminder' AND dedup_key = $1",
            &[&format!("reminder:{}", claims.booking.get())],
        )
        .await
        .unwrap()
        .map(|r| r.get(0));
    let expected = (slot.date() - chrono::Duration::days(1))
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_local_timezone(domain::TIME_ZONE)
        .unwrap()
        .with_timezone(&chrono::Utc);
    if expected > chrono::Utc::now() {
        assert_eq!(reminder_at, Some(expected));
    } else {
        assert_eq!(
            reminder_at, None,
            "no reminder for tomorrow morning's slot after 10:00"
        );
    }

    // Cancelled: the slot is offered again, the kiosks learn it, and the reminder says nothing.
    let cancel = |b: &str| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("{}/{b}/annulla", agenda(&mine));
        async move {
            kiosk
                .signed_json(&base, &path, &serde_json::json!({}))
                .await
        }
    };
    assert_eq!(cancel(&first.booking).await.status(), StatusCode::OK);
    let r = cancel(&first.booking).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("non si può più annullare"));
    assert_eq!(
        cancel("APP-2026-999999").await.status(),
        StatusCode::NOT_FOUND
    );
    let v = view().await;
    assert!(v.slots.contains(&slot), "the place is free again");
    assert_eq!(
        v.bookings
            .iter()
            .find(|b| b.booking == first.booking)
            .unwrap()
            .state,
        domain::AppointmentState::CancelledByUser
    );
    let pulled: PullResponse = kiosk.pull(&base, 0, None).await.json().await.unwrap();
    assert!(
        pulled
            .changes
            .iter()
            .any(|c| c.entity == wire::ENTITY_APPOINTMENT
                && c.entity_id == claims.booking.get().to_string()
                && c.payload.as_ref().unwrap()["state"] == "cancelled_by_user")
    );
    c.execute(
        "UPDATE job SET run_at = now() WHERE kind = 'agenda_reminder'",
        &[],
    )
    .await
    .unwrap();
    let before = count(
        &hub.pool,
        "SELECT count(*) FROM job WHERE payload->>'subject' LIKE '%promemoria%'",
    )
    .await;
    run_jobs(&hub.pool, &Default::default()).await;
    let reminders = count(
        &hub.pool,
        "SELECT count(*) FROM job WHERE payload->>'subject' LIKE '%promemoria%'",
    )
    .await;
    // Each booking still live is reminded once; the cancelled one is not.
    let live_with_reminder = if expected > chrono::Utc::now() {
        capacity - 1
    } else {
        0
    };
    assert_eq!((reminders - before) as usize, live_with_reminder);
}
