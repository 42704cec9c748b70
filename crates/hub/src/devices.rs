//! Kiosk enrolment and device authentication. An administrator makes a one-time code for a
//! branch and a role (its node, or a kiosk that uses the node); the device generates its
//! Ed25519 key pair, sends the public key with the code, and from then on signs every sync
//! request. A revoked device is refused at its next request. The branch's feed lists its
//! devices, so the node serves exactly the branch's kiosks and they find and pin the node.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use deadpool_postgres::GenericClient;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use axum::Router;
use axum::routing::post;

use crate::feed::{self, Change};
use crate::{HubError, HubState, accounts};
use protocol::wire::{
    self, DEVICE_HEADER, DevicePayload, DeviceRole, ENTITY_DEVICE, EnrolRequest, EnrolResponse,
    LanEndpoint, SIGNATURE_HEADER, TIME_HEADER,
};

/// How long an enrolment code stays valid.
pub const CODE_HOURS: i64 = 24;

/// Letters that cannot be misread for one another when typed from a screen.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn code_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// Makes a one-time enrolment code for a branch (shown once; only its hash is kept).
pub async fn create_code(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
    role: DeviceRole,
) -> Result<String, HubError> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| HubError::internal("random source", e))?;
    let letters: String = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    // 16 letters of 32: 80 bits, in groups of four to read aloud.
    let code = letters
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("-");
    let tx = db.transaction().await?;
    accounts::ensure_branch(&tx, branch).await?;
    tx.execute(
        "INSERT INTO enrolment_code (code_hash, branch_id, created_by, expires_at, role)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4), $5)",
        &[
            &code_hash(&code),
            &i32::from(branch),
            &actor,
            &(CODE_HOURS as i32),
            &role.name(),
        ],
    )
    .await?;
    crate::audit::record(
        &tx,
        actor,
        "enrolment_code.create",
        Some(branch),
        serde_json::json!({ "role": role.name() }),
    )
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// Revokes a device: its next request is refused.
pub async fn revoke(db: &impl GenericClient, actor: &str, device_id: &str) -> Result<(), HubError> {
    let row = db
        .query_opt(
            "UPDATE device SET revoked_at = coalesce(revoked_at, now()) WHERE device_id = $1
             RETURNING branch_id",
            &[&device_id],
        )
        .await?
        .ok_or_else(|| HubError::BadRequest(format!("no device {device_id}")))?;
    let branch: i32 = row.get(0);
    // The node refuses the revoked kiosk, and kiosks stop trusting a revoked node, from
    // their next pull.
    feed::publish(
        db,
        branch,
        &[Change {
            entity: ENTITY_DEVICE.into(),
            entity_id: device_id.into(),
            payload: None,
        }],
    )
    .await?;
    crate::audit::record(
        db,
        actor,
        "device.revoke",
        u16::try_from(branch).ok(),
        serde_json::json!({ "device_id": device_id }),
    )
    .await
}

/// Enrolment, the one route a kiosk calls before it has a key.
pub fn router() -> Router<HubState> {
    Router::new().route("/v1/enrol", post(enrol))
}

/// `POST /v1/enrol`.
async fn enrol(
    State(state): State<HubState>,
    Json(req): Json<EnrolRequest>,
) -> Result<Json<EnrolResponse>, HubError> {
    let key = wire::unhex(&req.public_key)
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .filter(|k| VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| HubError::BadRequest("public_key is not an Ed25519 key in hex".into()))?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    // One answer for unknown, used and expired codes: the hub does not say which codes exist.
    let refused = || HubError::Refused("the enrolment code is not valid".into());
    let row = tx
        .query_opt(
            "SELECT branch_id, role FROM enrolment_code
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() FOR UPDATE",
            &[&code_hash(&req.code)],
        )
        .await?
        .ok_or_else(refused)?;
    let branch: i32 = row.get(0);
    let role = DeviceRole::parse(row.get(1))
        .ok_or_else(|| HubError::Internal("unknown device role".into()))?;
    // The branch's devices are taken in turn, so two nodes cannot enrol side by side.
    tx.execute(
        "SELECT 1 FROM branch WHERE branch_id = $1 FOR UPDATE",
        &[&branch],
    )
    .await?;
    if role == DeviceRole::Node {
        let live = tx
            .query_one(
                "SELECT count(*) FILTER (WHERE role = 'kiosk'), count(*) FILTER (WHERE role = 'node')
                 FROM device WHERE branch_id = $1 AND revoked_at IS NULL",
                &[&branch],
            )
            .await?;
        let (sharing, nodes): (i64, i64) = (live.get(0), live.get(1));
        // A second node where kiosks share one would split the sede's numbering in two.
        if sharing > 0 && nodes > 0 {
            return Err(HubError::Refused(
                "this sede's kiosks share a node already: enrol a kiosk, or promote one".into(),
            ));
        }
    }
    let n: i64 = tx
        .query_one(
            "SELECT count(*) + 1 FROM device WHERE branch_id = $1",
            &[&branch],
        )
        .await?
        .get(0);
    let suffix = &web::auth::random_hex(3);
    let device_id = format!("kiosk-{branch:04}-{n:02}-{suffix}");
    tx.execute(
        "INSERT INTO device (branch_id, device_id, public_key, client_version, role)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &branch,
            &device_id,
            &key.to_vec(),
            &req.client_version,
            &role.name(),
        ],
    )
    .await?;
    publish_device(&tx, &device_id).await?;
    tx.execute(
        "UPDATE enrolment_code SET used_at = now(), device_id = $2 WHERE code_hash = $1",
        &[&code_hash(&req.code), &device_id],
    )
    .await?;
    crate::audit::record(
        &tx,
        &device_id,
        "device.enrol",
        u16::try_from(branch).ok(),
        serde_json::json!({ "client_version": req.client_version, "role": role.name() }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%device_id, branch, role = role.name(), "device enrolled");
    Ok(Json(EnrolResponse {
        device_id,
        branch: u16::try_from(branch)
            .map_err(|_| HubError::Internal("branch out of range".into()))?,
        role,
    }))
}

/// Publishes a device, as it is now, to its branch's feed.
async fn publish_device(tx: &impl GenericClient, device_id: &str) -> Result<(), HubError> {
    let row = tx
        .query_one(
            "SELECT branch_id, public_key, role, lan_url, lan_key FROM device WHERE device_id = $1",
            &[&device_id],
        )
        .await?;
    let lan = match (
        row.get::<_, Option<String>>(3),
        row.get::<_, Option<Vec<u8>>>(4),
    ) {
        (Some(url), Some(key)) => Some(LanEndpoint {
            url,
            key: wire::hex(&key),
        }),
        _ => None,
    };
    let payload = DevicePayload {
        device_id: device_id.to_owned(),
        public_key: wire::hex(&row.get::<_, Vec<u8>>(1)),
        role: DeviceRole::parse(row.get(2))
            .ok_or_else(|| HubError::Internal("unknown device role".into()))?,
        lan,
    };
    feed::publish(
        tx,
        row.get(0),
        &[Change {
            entity: ENTITY_DEVICE.into(),
            entity_id: device_id.into(),
            payload: Some(serde_json::to_value(payload).expect("plain data serialises")),
        }],
    )
    .await?;
    Ok(())
}

/// Records where a branch node serves its kiosks, as it reported with its status, and tells
/// the branch when that changed. Only a node's report counts: a kiosk cannot make its
/// branch's kiosks talk to it.
pub async fn report_lan(
    db: &mut deadpool_postgres::Object,
    device: &Device,
    lan: &LanEndpoint,
) -> Result<(), HubError> {
    // A bad report must not stop the node's pushes: it is logged and the last good one kept.
    let url = lan.url.trim();
    let key = wire::unhex(&lan.key).filter(|k| k.len() == 32);
    let Some(key) = key.filter(|_| url.len() <= 200 && url.starts_with("https://")) else {
        tracing::warn!(device = %device.device_id, "a LAN address that is not an https URL and a key: ignored");
        return Ok(());
    };
    let tx = db.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE device SET lan_url = $2, lan_key = $3
             WHERE device_id = $1 AND role = 'node'
               AND (lan_url IS DISTINCT FROM $2 OR lan_key IS DISTINCT FROM $3)",
            &[&device.device_id, &url, &key],
        )
        .await?;
    if changed > 0 {
        publish_device(&tx, &device.device_id).await?;
        tracing::info!(device = %device.device_id, %url, "branch node's LAN address changed");
    }
    tx.commit().await?;
    Ok(())
}

/// A device whose signature checked out.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its id.
    pub device_id: String,
    /// Its branch.
    pub branch: i32,
}

/// Checks who signed a request: a known, unrevoked device, and a signature over this very
/// request.
pub async fn authenticate(
    db: &impl GenericClient,
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Result<Device, HubError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| HubError::Unauthorized(format!("missing {name}")))
    };
    let device_id = header(DEVICE_HEADER)?;
    let time: i64 = header(TIME_HEADER)?
        .parse()
        .map_err(|_| HubError::Unauthorized(format!("{TIME_HEADER} is not a number")))?;
    let signature = wire::unhex(header(SIGNATURE_HEADER)?)
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .map(|s| Signature::from_bytes(&s))
        .ok_or_else(|| HubError::Unauthorized("malformed signature".into()))?;
    let unknown = || HubError::Unauthorized("unknown device or bad signature".into());
    let row = db
        .query_opt(
            "SELECT branch_id, public_key, revoked_at IS NOT NULL FROM device WHERE device_id = $1",
            &[&device_id],
        )
        .await?
        .ok_or_else(unknown)?;
    let branch: i32 = row.get(0);
    let key: Vec<u8> = row.get(1);
    let revoked: bool = row.get(2);
    let key = <[u8; 32]>::try_from(key)
        .ok()
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(unknown)?;
    key.verify_strict(
        &wire::signing_message(method, path_and_query, device_id, time, body),
        &signature,
    )
    .map_err(|_| unknown())?;
    if revoked {
        return Err(HubError::Unauthorized(
            "this device has been revoked".into(),
        ));
    }
    Ok(Device {
        device_id: device_id.to_owned(),
        branch,
    })
}
