//! Secrets at rest: the hub's signing keys — the booking tokens' and the built-in test
//! provider's — are kept in PostgreSQL only sealed (AES-256-GCM) under a key-encryption key
//! that comes from a file named in the configuration (`hub.key_encryption_key`) and never
//! enters the database. A backup, a replica or a stolen dump therefore cannot forge a booking
//! QR code; every hub instance reads the same file, so they keep sharing their keys through
//! the database as before.
//!
//! The booking key rotates ([`ROTATE_AFTER`], or `sportello admin rotate-keys` at once): the
//! new key signs from then on, the old one loses its private half there and then, and its
//! verifying half stays in the branches' configurations until the last appointment it signed
//! is past ([`upkeep`]), so no visitor's QR code stops working.
//!
//! Never: a seed in clear in a row, a log line or an error message; a hub that cannot open
//! the keys it finds signing anything (it refuses to start instead).

use std::io::Write as _;
use std::path::Path;

use deadpool_postgres::GenericClient;
use domain::token::TokenSigner;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::HubError;

/// How long a booking key signs before the next one takes over.
pub const ROTATE_AFTER: chrono::Duration = chrono::Duration::days(90);

/// Any number: serialises the instances that check the seal or rotate keys at once.
const KEYS_LOCK: i64 = 0x5350_5254_4b45_5953;

/// The key that seals the others. Its id (a keyed hash, not the key) is recorded in the
/// database, so a hub given the wrong file says so at start.
pub struct Kek {
    key: LessSafeKey,
    id: String,
    /// Derived from the key (a keyed hash under a label of its own): what the sedi's follow
    /// keys are derived from, so none of them is ever stored.
    follow: ring::hmac::Key,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish()
    }
}

impl Kek {
    /// The key-encryption key with these 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes"));
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
            b"sportello key-encryption key id",
        );
        let follow = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
            b"sportello follow-page tag keys",
        );
        Self {
            key,
            id: protocol::wire::hex(&tag.as_ref()[..8]),
            follow: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, follow.as_ref()),
        }
    }

    /// The key a sede's devices tag their tickets' follow addresses with
    /// (`domain::follow`): the same for every instance with this key file, derived again on
    /// every use, sent only to that sede's devices.
    pub fn follow_key(&self, branch: i32) -> [u8; 32] {
        let key = ring::hmac::sign(&self.follow, format!("sede {branch:04}").as_bytes());
        key.as_ref().try_into().expect("SHA-256 is 32 bytes")
    }

    /// A new random one.
    pub fn generate() -> Result<Self, HubError> {
        Ok(Self::from_bytes(&random_32()?))
    }

    /// What the database records of it: enough to tell two apart, nothing to rebuild it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads the file: 64 hexadecimal digits (`openssl rand -hex 32`), readable by its owner
    /// only.
    pub fn read(path: &Path) -> Result<Self, HubError> {
        let bad = |why: String| {
            HubError::Config(format!(
                "hub.key_encryption_key ({}): {why}",
                path.display()
            ))
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|e| bad(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "readable by others (mode {:o}): chmod 600 it, and keep it out of backups of the database",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let bytes: [u8; 32] = protocol::wire::unhex(text.trim())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("not 64 hexadecimal digits".into()))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Makes the file (mode 600) with a new key; refuses if it exists, so two instances
    /// starting together on one machine cannot each write their own.
    pub fn create(path: &Path) -> Result<Self, HubError> {
        let bad = |e: std::io::Error| {
            HubError::Config(format!(
                "hub.key_encryption_key: cannot make {}: {e}",
                path.display()
            ))
        };
        let bytes = random_32()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(bad)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(bad)?;
        writeln!(file, "{}", protocol::wire::hex(&bytes)).map_err(bad)?;
        file.sync_all().map_err(bad)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// `seed` sealed for the row `label` names: the label is authenticated with it, so a
    /// sealed seed copied to another row does not open.
    fn seal(&self, label: &str, seed: &[u8; 32]) -> Result<Vec<u8>, HubError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| HubError::internal("random source", e))?;
        let mut out = seed.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut out,
            )
            .map_err(|_| HubError::Internal("sealing a key failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        Ok(sealed)
    }

    /// The seed sealed for `label`, or an error that names the row and never the bytes.
    fn open(&self, label: &str, sealed: &[u8]) -> Result<[u8; 32], HubError> {
        let refused = || {
            HubError::Config(format!(
                "the key {label} does not open with hub.key_encryption_key {}: the file is not the one that sealed it",
                self.id
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut body = body.to_vec();
        let seed = self
            .key
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut body)
            .map_err(|_| refused())?;
        seed.try_into().map_err(|_| refused())
    }
}

/// A transaction holding the keys' lock, so instances that check the seal, rotate or reseal
/// at the same moment take turns.
async fn locked(
    c: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, HubError> {
    let tx = c.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
        .await?;
    Ok(tx)
}

fn random_32() -> Result<[u8; 32], HubError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| HubError::internal("random source", e))?;
    Ok(b)
}

fn booking_label(key_id: i32) -> String {
    format!("booking_key/{key_id}")
}

/// At start: the key-encryption key from `path`, made there on a database that has sealed
/// nothing yet, then [`prepare`]d. A missing file on a database with sealed keys is an error
/// that says what to copy, never a new key that would lock them away.
pub async fn open_or_make(c: &mut deadpool_postgres::Client, path: &Path) -> Result<Kek, HubError> {
    let tx = locked(c).await?;
    let recorded = recorded_kek(&tx).await?;
    let kek = match (path.exists(), recorded) {
        (true, _) => Kek::read(path)?,
        (false, None) => {
            let kek = Kek::create(path)?;
            tracing::info!(path = %path.display(), kek = kek.id(), "key-encryption key made");
            kek
        }
        (false, Some(id)) => {
            return Err(HubError::Config(format!(
                "hub.key_encryption_key: {} is missing, and this database's keys are sealed under key-encryption key {id}: copy that file from the hub that made it (docs/operations.md)",
                path.display()
            )));
        }
    };
    seal_database(&tx, &kek).await?;
    tx.commit().await?;
    Ok(kek)
}

/// Checks that `kek` is the database's (recording it on a database that has none yet) and
/// seals what an older build left in clear: its booking key is retired at once, since every
/// backup made until now holds it, and the test provider's key is dropped (it is made again).
pub async fn prepare(c: &mut deadpool_postgres::Client, kek: &Kek) -> Result<(), HubError> {
    let tx = locked(c).await?;
    seal_database(&tx, kek).await?;
    tx.commit().await?;
    Ok(())
}

async fn recorded_kek(c: &impl GenericClient) -> Result<Option<String>, HubError> {
    Ok(c.query_opt("SELECT kek_id FROM key_seal", &[])
        .await?
        .map(|r| r.get(0)))
}

async fn seal_database(c: &impl GenericClient, kek: &Kek) -> Result<(), HubError> {
    match recorded_kek(c).await? {
        None => {
            c.execute("INSERT INTO key_seal (kek_id) VALUES ($1)", &[&kek.id()])
                .await?;
        }
        Some(id) if id != kek.id() => {
            return Err(HubError::Config(format!(
                "hub.key_encryption_key is key {}, but this database's keys are sealed under {id}: start the hub with the file that sealed them",
                kek.id()
            )));
        }
        Some(_) => {}
    }
    for r in c
        .query(
            "SELECT key_id, seed FROM booking_key WHERE seed IS NOT NULL",
            &[],
        )
        .await?
    {
        let key_id: i32 = r.get(0);
        let seed: [u8; 32] = r
            .get::<_, Vec<u8>>(1)
            .try_into()
            .map_err(|_| HubError::Internal(format!("booking key {key_id} is not 32 bytes")))?;
        let public = TokenSigner::from_seed(0, &seed).verifying_key();
        c.execute(
            "UPDATE booking_key SET seed = NULL, sealed = NULL, public = $2,
                    retired_at = coalesce(retired_at, now())
             WHERE key_id = $1",
            &[&key_id, &public.as_slice()],
        )
        .await?;
        tracing::warn!(
            key_id,
            "a booking key kept in clear by an older build is retired: its bookings keep working, new ones use a sealed key"
        );
    }
    c.execute("DELETE FROM idp_key WHERE seed IS NOT NULL", &[])
        .await?;
    Ok(())
}

/// The booking key that signs now, made (sealed) when there is none. Two instances making
/// one at once agree: only one can be current.
pub async fn booking_signer(c: &impl GenericClient, kek: &Kek) -> Result<TokenSigner, HubError> {
    for _ in 0..2 {
        if let Some(r) = c
            .query_opt(
                "SELECT key_id, sealed FROM booking_key WHERE retired_at IS NULL",
                &[],
            )
            .await?
        {
            let key_id: i32 = r.get(0);
            let sealed: Option<Vec<u8>> = r.get(1);
            let sealed = sealed.ok_or_else(|| {
                HubError::Internal(format!("the current booking key {key_id} is not sealed"))
            })?;
            let seed = kek.open(&booking_label(key_id), &sealed)?;
            let key_id =
                u16::try_from(key_id).map_err(|_| HubError::internal("booking key id", key_id))?;
            return Ok(TokenSigner::from_seed(key_id, &seed));
        }
        new_booking_key(c, kek).await?;
    }
    Err(HubError::Internal("no current booking key".into()))
}

async fn new_booking_key(c: &impl GenericClient, kek: &Kek) -> Result<i32, HubError> {
    let key_id: i64 = c
        .query_one("SELECT nextval('booking_key_id')", &[])
        .await?
        .get(0);
    let key_id = i32::try_from(key_id).map_err(|_| HubError::internal("booking key id", key_id))?;
    let seed = random_32()?;
    let public = TokenSigner::from_seed(0, &seed).verifying_key();
    c.execute(
        "INSERT INTO booking_key (key_id, sealed, public) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        &[
            &key_id,
            &kek.seal(&booking_label(key_id), &seed)?,
            &public.as_slice(),
        ],
    )
    .await?;
    Ok(key_id)
}

/// Retires the current booking key (its private half is gone from then on) and makes the
/// next; answers the new key's id.
pub async fn rotate_booking_key(
    c: &mut deadpool_postgres::Client,
    kek: &Kek,
) -> Result<u16, HubError> {
    let tx = locked(c).await?;
    let retired = tx
        .execute(
            "UPDATE booking_key SET retired_at = now(), sealed = NULL WHERE retired_at IS NULL",
            &[],
        )
        .await?;
    let key_id = new_booking_key(&tx, kek).await?;
    tx.commit().await?;
    tracing::info!(key_id, retired, "booking key rotated");
    u16::try_from(key_id).map_err(|_| HubError::internal("booking key id", key_id))
}

/// What [`upkeep`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// The new booking key, when the current one had signed for [`ROTATE_AFTER`].
    pub rotated: Option<u16>,
    /// Retired keys whose verifying halves left the branches' configurations.
    pub withdrawn: Vec<u16>,
}

/// The keys' daily care, safe on every instance at once: rotates a booking key that has
/// signed long enough, and withdraws a retired key from the branches' configurations (so from
/// every kiosk, through the feed) once no appointment it signed is still to come.
pub async fn upkeep(c: &mut deadpool_postgres::Client, kek: &Kek) -> Result<Upkeep, HubError> {
    let mut done = Upkeep::default();
    let due = c
        .query_opt(
            "SELECT key_id FROM booking_key
             WHERE retired_at IS NULL AND created_at < now() - make_interval(days => $1)",
            &[&(ROTATE_AFTER.num_days() as i32)],
        )
        .await?;
    if due.is_some() {
        done.rotated = Some(rotate_booking_key(c, kek).await?);
    }
    let tx = locked(c).await?;
    // A booking's token is read at its check-in: the day after, nobody shows it any more.
    let spent: Vec<i32> = tx
        .query(
            "SELECT k.key_id FROM booking_key k
             WHERE k.retired_at IS NOT NULL
               AND NOT EXISTS (
                   SELECT 1 FROM agenda_booking b
                   WHERE b.key_id = k.key_id AND b.cancelled_at IS NULL
                     AND b.starts_at >= (now() AT TIME ZONE 'Europe/Rome') - interval '1 day')",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if spent.is_empty() {
        tx.commit().await?;
        return Ok(done);
    }
    let spent_ids: Vec<u16> = spent
        .iter()
        .filter_map(|k| u16::try_from(*k).ok())
        .collect();
    for r in tx
        .query(
            "SELECT branch_id, payload FROM branch_config ORDER BY branch_id FOR UPDATE",
            &[],
        )
        .await?
    {
        let branch: i32 = r.get(0);
        let mut config: protocol::wire::BranchConfigPayload = serde_json::from_value(r.get(1))
            .map_err(|e| HubError::internal("stored configuration", e))?;
        let before = config.verifying_keys.len();
        config
            .verifying_keys
            .retain(|(id, _)| !spent_ids.contains(id));
        if config.verifying_keys.len() != before {
            crate::branch_data::put_config(&tx, branch, &config).await?;
        }
    }
    tx.execute("DELETE FROM booking_key WHERE key_id = ANY($1)", &[&spent])
        .await?;
    tx.commit().await?;
    tracing::info!(keys = ?spent_ids, "retired booking keys withdrawn from the branches");
    done.withdrawn = spent_ids;
    Ok(done)
}

/// The test provider's signing seed under `kid`, made (sealed) on first use.
pub async fn idp_seed(c: &impl GenericClient, kek: &Kek, kid: &str) -> Result<[u8; 32], HubError> {
    let label = format!("idp_key/{kid}");
    let seed = random_32()?;
    c.execute(
        "INSERT INTO idp_key (kid, sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&kid, &kek.seal(&label, &seed)?],
    )
    .await?;
    let sealed: Option<Vec<u8>> = c
        .query_one("SELECT sealed FROM idp_key WHERE kid = $1", &[&kid])
        .await?
        .get(0);
    kek.open(
        &label,
        &sealed
            .ok_or_else(|| HubError::Internal(format!("the provider key {kid} is not sealed")))?,
    )
}

/// Seals every key again under `new` (the key-encryption key's own rotation): `old` must open
/// them all, or nothing changes.
pub async fn reseal(
    c: &mut deadpool_postgres::Client,
    old: &Kek,
    new: &Kek,
) -> Result<usize, HubError> {
    let tx = locked(c).await?;
    seal_database(&tx, old).await?;
    let mut n = 0;
    for r in tx
        .query(
            "SELECT key_id, sealed FROM booking_key WHERE sealed IS NOT NULL",
            &[],
        )
        .await?
    {
        let (key_id, sealed): (i32, Vec<u8>) = (r.get(0), r.get(1));
        let label = booking_label(key_id);
        let seed = old.open(&label, &sealed)?;
        tx.execute(
            "UPDATE booking_key SET sealed = $2 WHERE key_id = $1",
            &[&key_id, &new.seal(&label, &seed)?],
        )
        .await?;
        n += 1;
    }
    for r in tx
        .query(
            "SELECT kid, sealed FROM idp_key WHERE sealed IS NOT NULL",
            &[],
        )
        .await?
    {
        let (kid, sealed): (String, Vec<u8>) = (r.get(0), r.get(1));
        let label = format!("idp_key/{kid}");
        let seed = old.open(&label, &sealed)?;
        tx.execute(
            "UPDATE idp_key SET sealed = $2 WHERE kid = $1",
            &[&kid, &new.seal(&label, &seed)?],
        )
        .await?;
        n += 1;
    }
    tx.execute(
        "UPDATE key_seal SET kek_id = $1, sealed_at = now()",
        &[&new.id()],
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_seed_opens_only_with_its_key_and_for_its_row() {
        let kek = Kek::generate().unwrap();
        let seed = random_32().unwrap();
        let sealed = kek.seal("booking_key/101", &seed).unwrap();
        assert!(
            !sealed.windows(32).any(|w| w == seed),
            "the seed shows through"
        );
        assert_eq!(kek.open("booking_key/101", &sealed).unwrap(), seed);
        assert!(kek.open("booking_key/102", &sealed).is_err());
        let other = Kek::generate().unwrap();
        assert_ne!(other.id(), kek.id());
        let e = other.open("booking_key/101", &sealed).unwrap_err();
        assert!(e.to_string().contains("booking_key/101"), "{e}");
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert!(kek.open("booking_key/101", &tampered).is_err());
        assert!(kek.open("booking_key/101", &sealed[..5]).is_err());
    }

    #[test]
    fn the_key_file_is_made_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("kek");
        let made = Kek::create(&path).unwrap();
        assert!(
            Kek::create(&path).is_err(),
            "an existing file is never replaced"
        );
        assert_eq!(Kek::read(&path).unwrap().id(), made.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Kek::read(&path).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "not hex\n").unwrap();
        let e = Kek::read(&path).unwrap_err().to_string();
        assert!(e.contains("64 hexadecimal digits"), "{e}");
    }
}
