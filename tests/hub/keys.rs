//! Secrets at rest: the hub's signing keys are sealed in its database under a key-encryption
//! key it alone holds, a backup cannot forge a booking, and the booking key rotates without a
//! visitor's QR code ever stopping to work before its appointment.

use crate::helpers::*;
use protocol::wire::{AgendaBooking, AgendaView, NewBooking};

/// Every `\x…` bytea value in a `pg_dump`, decoded.
fn byteas(dump: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = dump;
    while let Some(at) = rest.find("\\x") {
        let digits: String = rest[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if let Some(bytes) = wire::unhex(&digits).filter(|b| !b.is_empty()) {
            out.push(bytes);
        }
        rest = &rest[at + 2 + digits.len()..];
    }
    out
}

/// Whether any 32 bytes of any bytea in `dump` are the Ed25519 seed of `public`.
fn holds_seed_of(dump: &str, public: &[u8; 32]) -> bool {
    byteas(dump).iter().any(|b| {
        b.windows(32).any(|w| {
            SigningKey::from_bytes(w.try_into().unwrap())
                .verifying_key()
                .to_bytes()
                == *public
        })
    })
}

fn pg_dump(url: &str) -> String {
    let out = std::process::Command::new(crate::pg::bin_dir().join("pg_dump"))
        .args(["--data-only", "--dbname", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Books the first free slot of the visitor's company.
async fn book(v: &Visitor) -> AgendaBooking {
    let path = format!("/v1/handoff/{}/agenda/{}", v.started.id, v.mine);
    let view: AgendaView = v
        .kiosk
        .signed(&v.base, "GET", &path)
        .await
        .json()
        .await
        .unwrap();
    for slot in view.slots {
        let r = v
            .kiosk
            .signed_json(&v.base, &path, &NewBooking { starts_at: slot })
            .await;
        if r.status() == StatusCode::CREATED {
            return r.json().await.unwrap();
        }
        assert_eq!(r.status(), StatusCode::CONFLICT);
    }
    panic!("no free slot");
}

/// The verifying keys the kiosk's feed gives it now.
async fn kiosk_keys(v: &Visitor) -> Vec<(u16, [u8; 32])> {
    let pulled: PullResponse = v.kiosk.pull(&v.base, 0, None).await.json().await.unwrap();
    let config = config_in(&pulled);
    config
        .verifying_keys
        .iter()
        .map(|(id, hex)| (*id, wire::unhex(hex).unwrap().try_into().unwrap()))
        .collect()
}

fn verifies(keys: &[(u16, [u8; 32])], token: &str) -> bool {
    let mut verifier = domain::token::TokenVerifier::new();
    for (id, key) in keys {
        verifier.add_key(*id, key).unwrap();
    }
    verifier.verify(token).is_ok()
}

async fn current_key(hub: &Hub) -> (i32, [u8; 32]) {
    let r = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT key_id, public FROM booking_key WHERE retired_at IS NULL",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get::<_, Vec<u8>>(1).try_into().unwrap())
}

/// A dump of the hub's database — what a backup, a replica or a thief holds — has no seed of
/// the booking key (nor of the test provider's): nothing in it signs a booking QR code. (The
/// hub kept the seed in clear until it sealed its keys: the search below found it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_of_the_hubs_database_cannot_forge_a_booking() {
    let hub = Hub::start(1).await;
    let v = Visitor::identified(&hub).await;
    let booked = book(&v).await;
    // The provider signed the visitor's identity: its key is made by now too.
    let idp = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM idp_key WHERE sealed IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(idp, 1);
    let (key_id, public) = current_key(&hub).await;
    assert!(verifies(&[(key_id as u16, public)], &booked.token));

    let dump = pg_dump(&hub._db.as_ref().unwrap().url);
    assert!(dump.contains("COPY public.booking_key"), "a whole dump");
    assert!(
        !holds_seed_of(&dump, &public),
        "the dump holds the booking key's seed"
    );
    // The search is able to find one: a seed in clear anywhere in a dump.
    let planted = rand_seed();
    let with_clear = format!(
        "{dump}\n101\t\\x{}\n",
        wire::hex(&[&[7u8, 9][..], &planted].concat())
    );
    let planted_public = SigningKey::from_bytes(&planted).verifying_key().to_bytes();
    assert!(holds_seed_of(&with_clear, &planted_public));
}

/// `sportello admin rotate-keys` (or the 90 days): the new key signs from then on, the old
/// one's private half is gone at once, and its verifying half stays with the kiosks while an
/// appointment it signed is to come; the day after the last one, it is withdrawn from the
/// branch's configuration and the kiosks drop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_booking_key_keeps_its_codes_until_their_appointments_are_past() {
    let hub = Hub::start(1).await;
    let v = Visitor::identified(&hub).await;
    let first = book(&v).await;
    let (old, old_public) = current_key(&hub).await;
    assert!(
        old > 100,
        "the hub's keys are past the imported range: {old}"
    );

    let new = hub::keys::rotate_booking_key(&mut hub.pool.get().await.unwrap(), &hub.kek)
        .await
        .unwrap();
    assert_ne!(i32::from(new), old);
    let c = hub.pool.get().await.unwrap();
    let sealed: Option<Vec<u8>> = c
        .query_one("SELECT sealed FROM booking_key WHERE key_id = $1", &[&old])
        .await
        .unwrap()
        .get(0);
    assert!(sealed.is_none(), "a retired key keeps no private half");

    let second = book(&v).await;
    let (_, new_public) = current_key(&hub).await;
    assert!(verifies(&[(new, new_public)], &second.token));
    assert!(!verifies(&[(old as u16, old_public)], &second.token));
    let keys = kiosk_keys(&v).await;
    assert!(verifies(&keys, &first.token) && verifies(&keys, &second.token));

    // While the first appointment is to come, its key stays.
    let mut c = hub.pool.get().await.unwrap();
    let done = hub::keys::upkeep(&mut c, &hub.kek).await.unwrap();
    assert_eq!(done, hub::keys::Upkeep::default());
    assert!(verifies(&kiosk_keys(&v).await, &first.token));

    // The day after it, the key goes from the branch, so from its kiosks.
    c.execute(
        "UPDATE agenda_booking SET starts_at = starts_at - interval '20 days' WHERE key_id = $1",
        &[&old],
    )
    .await
    .unwrap();
    let done = hub::keys::upkeep(&mut c, &hub.kek).await.unwrap();
    assert_eq!(done.withdrawn, vec![old as u16]);
    assert_eq!(done.rotated, None);
    let keys = kiosk_keys(&v).await;
    assert!(
        !keys.iter().any(|(id, _)| i32::from(*id) == old),
        "{keys:?}"
    );
    assert!(!verifies(&keys, &first.token));
    assert!(verifies(&keys, &second.token));
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM booking_key").await,
        1,
        "only the current key is left"
    );

    // Ninety days on, the current key is rotated by the hub itself.
    c.execute(
        "UPDATE booking_key SET created_at = now() - interval '91 days' WHERE retired_at IS NULL",
        &[],
    )
    .await
    .unwrap();
    let done = hub::keys::upkeep(&mut c, &hub.kek).await.unwrap();
    let next = done.rotated.expect("rotated after 90 days");
    assert!(next > new);
    // Its bookings keep the old key in the kiosks until they are past.
    assert!(verifies(&kiosk_keys(&v).await, &second.token));
    assert_eq!(
        hub::keys::upkeep(&mut c, &hub.kek).await.unwrap().rotated,
        None
    );
}

/// The hub starts only with the key-encryption key that sealed its database's keys: another
/// is refused at once, naming both, and a missing file on a database with sealed keys says to
/// copy it rather than making a new one. Resealing under a new key keeps the same signing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_opens_its_keys_only_with_the_key_that_sealed_them() {
    let hub = Hub::start(1).await;
    let mut c = hub.pool.get().await.unwrap();
    let signer = hub::keys::booking_signer(&c, &hub.kek).await.unwrap();

    let stranger = hub::keys::Kek::generate().unwrap();
    let e = hub::keys::prepare(&mut c, &stranger)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(stranger.id()) && e.contains(hub.kek.id()), "{e}");
    let e = hub::keys::booking_signer(&c, &stranger)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not open"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let e = hub::keys::open_or_make(&mut c, &path)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is missing") && e.contains(hub.kek.id()), "{e}");
    assert!(!path.exists(), "no new key made over sealed keys");

    // The key-encryption key's own rotation: all sealed again, the same signing key.
    let resealed = hub::keys::reseal(&mut c, &hub.kek, &hub::keys::Kek::create(&path).unwrap())
        .await
        .unwrap();
    assert!(resealed >= 1);
    let new = hub::keys::open_or_make(&mut c, &path).await.unwrap();
    let again = hub::keys::booking_signer(&c, &new).await.unwrap();
    assert_eq!(
        (again.key_id(), again.verifying_key()),
        (signer.key_id(), signer.verifying_key())
    );
    assert!(hub::keys::prepare(&mut c, &hub.kek).await.is_err());
}

/// A database written by a build that kept the booking seed in clear: the first hub that
/// starts seals it away — the seed is gone from the row, the key retired (every backup made
/// until then holds it), its verifying half kept for the bookings it signed — and the next
/// booking is signed by a new, sealed key. On a fresh database the key file is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_left_in_clear_by_an_older_build_is_sealed_away_at_start() {
    let db = TestDb::new().await;
    let pool = db::pool(&db.url, 2).unwrap();
    db::migrate(&pool).await.unwrap();
    let mut c = pool.get().await.unwrap();
    let seed = rand_seed();
    c.execute(
        "INSERT INTO booking_key (key_id, seed) VALUES (100, $1)",
        &[&seed.as_slice()],
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO idp_key (kid, seed) VALUES ('builtin-1', $1)",
        &[&seed.as_slice()],
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub-keys").join("kek");
    let kek = hub::keys::open_or_make(&mut c, &path).await.unwrap();
    assert!(
        path.exists(),
        "the key file is made on a database with none"
    );
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let r = c
        .query_one(
            "SELECT seed, public, retired_at IS NOT NULL FROM booking_key WHERE key_id = 100",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, Option<Vec<u8>>>(0), None);
    assert_eq!(r.get::<_, Vec<u8>>(1), public.to_vec());
    assert!(r.get::<_, bool>(2));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM idp_key").await,
        0,
        "the provider's key in clear is dropped, to be made again sealed"
    );
    let signer = hub::keys::booking_signer(&c, &kek).await.unwrap();
    assert!(signer.key_id() > 100);
    assert!(!holds_seed_of(&pg_dump(&db.url), &public));
    // A second start finds everything sealed and its own key.
    assert_eq!(
        hub::keys::open_or_make(&mut c, &path).await.unwrap().id(),
        kek.id()
    );
}
