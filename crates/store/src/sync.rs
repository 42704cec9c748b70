//! The kiosk's side of sync in its store: the enrolment (device key, pinned hub certificate),
//! the outbox stream's recovery moves, and the feed cursor.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, parse_ts, ts};

/// This kiosk's enrolment with its hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubLink {
    /// `https://hub.example:8444`.
    pub hub_url: String,
    /// Assigned by the hub.
    pub device_id: String,
    /// The branch (sede code).
    pub branch: u16,
    /// The device's Ed25519 secret key.
    pub secret_key: [u8; 32],
    /// The hub's key pinned at enrolment (SHA-256 of its SubjectPublicKeyInfo; of the whole
    /// certificate for kiosks enrolled before keys were pinned).
    pub cert_sha256: [u8; 32],
    /// The keys the hub announced since (its current one and, before a move, the next):
    /// when there are any, they are what the kiosk accepts.
    pub announced: Vec<[u8; 32]>,
    /// What the device is in its branch: its node, or a kiosk that numbers at the node.
    pub role: protocol::wire::DeviceRole,
}

impl Store {
    /// Records the enrolment, and takes the hub's device id as this device's id.
    pub fn set_hub_link(&mut self, link: &HubLink, at: DateTime<Utc>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let classify = |e| StoreError::classify(e, &path);
        let tx = self.conn.transaction().map_err(classify)?;
        tx.execute(
            "INSERT INTO hub_link (id, hub_url, device_id, branch, secret_key, cert_sha256, enrolled_at, role)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET hub_url = excluded.hub_url, device_id = excluded.device_id,
               branch = excluded.branch, secret_key = excluded.secret_key,
               cert_sha256 = excluded.cert_sha256, enrolled_at = excluded.enrolled_at,
               announced_keys = NULL, role = excluded.role",
            params![
                link.hub_url,
                link.device_id,
                link.branch,
                link.secret_key.to_vec(),
                link.cert_sha256.to_vec(),
                ts(at),
                link.role.name()
            ],
        )
        .map_err(classify)?;
        tx.execute(
            "UPDATE device_identity SET device_id = ?1 WHERE id = 1",
            [&link.device_id],
        )
        .map_err(classify)?;
        tx.commit().map_err(classify)
    }

    /// Keeps the keys the hub announced (see [`HubLink::announced`]).
    pub fn set_announced_keys(&mut self, keys: &[[u8; 32]]) -> Result<(), StoreError> {
        let text = keys
            .iter()
            .map(|k| protocol::wire::hex(k))
            .collect::<Vec<_>>()
            .join(",");
        self.conn
            .execute(
                "UPDATE hub_link SET announced_keys = ?1 WHERE id = 1",
                [text],
            )
            .map_err(|e| self.err(e))
            .map(drop)
    }

    /// Keeps the key the hub gave the sede for tagging its tickets' follow addresses (none:
    /// forgets it).
    pub fn set_follow_key(&mut self, key: Option<&[u8; 32]>) -> Result<(), StoreError> {
        let done = match key {
            Some(k) => self.conn.execute(
                "INSERT INTO config (key, value) VALUES ('follow_key', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [protocol::wire::hex(k)],
            ),
            None => self
                .conn
                .execute("DELETE FROM config WHERE key = 'follow_key'", []),
        };
        done.map_err(|e| self.err(e)).map(drop)
    }

    /// The key the sede's tickets' follow addresses are tagged with, once the hub gave one.
    pub fn follow_key(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM config WHERE key = 'follow_key'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(text.and_then(|t| protocol::wire::unhex(&t)?.try_into().ok()))
    }

    /// The enrolment, if this kiosk has one.
    pub fn hub_link(&self) -> Result<Option<HubLink>, StoreError> {
        self.conn
            .query_row(
                "SELECT hub_url, device_id, branch, secret_key, cert_sha256, announced_keys, role
                 FROM hub_link WHERE id = 1",
                [],
                |r| {
                    let key: Vec<u8> = r.get(3)?;
                    let cert: Vec<u8> = r.get(4)?;
                    let announced: Option<String> = r.get(5)?;
                    let role: String = r.get(6)?;
                    Ok(HubLink {
                        role: protocol::wire::DeviceRole::parse(&role)
                            .ok_or_else(|| super::invalid("device role"))?,
                        hub_url: r.get(0)?,
                        device_id: r.get(1)?,
                        branch: r.get(2)?,
                        secret_key: key.try_into().unwrap_or([0; 32]),
                        cert_sha256: cert.try_into().unwrap_or([0; 32]),
                        announced: announced
                            .iter()
                            .flat_map(|a| a.split(','))
                            .filter_map(|k| protocol::wire::unhex(k)?.try_into().ok())
                            .collect(),
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// When the oldest waiting operation was written.
    pub fn outbox_oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT min(created_at) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        at.map(|t| parse_ts(&t).map_err(|e| self.err(e)))
            .transpose()
    }

    /// The hub lost operations it had acknowledged (restored from an older backup): send them
    /// again from `seq`. Returns how many rows are pending again.
    pub fn outbox_resend_from(&mut self, seq: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'pending' WHERE state = 'acked' AND seq >= ?1",
                [seq],
            )
            .map_err(|e| self.err(e))
    }

    /// Starts a new outbox stream: the hub holds operations under this stream's sequence
    /// numbers that this store no longer has, so what is pending goes again under a new
    /// incarnation rather than be taken for duplicates.
    pub fn new_incarnation(&mut self) -> Result<String, StoreError> {
        let incarnation = uuid::Uuid::now_v7().to_string();
        self.conn
            .execute(
                "UPDATE device_identity SET incarnation = ?1 WHERE id = 1",
                [&incarnation],
            )
            .map_err(|e| self.err(e))?;
        Ok(incarnation)
    }

    /// Marks the rows the hub rejected for good, with its reason.
    pub fn outbox_reject(&mut self, seq: i64, reason: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'rejected', result = ?2 WHERE seq = ?1",
                params![seq, reason],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// A feed's cursor and epoch.
    pub fn sync_cursor(&self, feed: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT after_seq, feed_epoch FROM sync_cursor WHERE feed = ?1",
                [feed],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

/// A device of the branch, as the hub's feed lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchDevice {
    /// Its id.
    pub device_id: String,
    /// Its Ed25519 public key.
    pub public_key: [u8; 32],
    /// What it is in the branch.
    pub role: protocol::wire::DeviceRole,
    /// A node: where it serves the branch's kiosks.
    pub lan_url: Option<String>,
    /// A node: the SHA-256 of its certificate's public key.
    pub lan_key: Option<[u8; 32]>,
}

impl Store {
    /// Applies a page of the hub's feed and moves the cursor, in one transaction: a crash
    /// leaves either both or neither. Entities this build does not know are skipped (a newer
    /// hub may publish more).
    pub fn apply_feed(
        &mut self,
        feed: &str,
        changes: &[protocol::wire::FeedChange],
        next_after: i64,
        epoch: &str,
    ) -> Result<(), StoreError> {
        use protocol::wire::{
            BranchConfigPayload, DevicePayload, ENTITY_APPOINTMENT, ENTITY_BRANCH_CONFIG,
            ENTITY_DEVICE, ENTITY_STAFF, StaffPayload,
        };
        let now = ts(Utc::now());
        let path = self.path.clone();
        let classify = |e| StoreError::classify(e, &path);
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::classify(
                rusqlite::Error::ToSqlConversionFailure(format!("feed {what}: {e}").into()),
                &path,
            )
        };
        let tx = self.conn.transaction().map_err(classify)?;
        for c in changes {
            match (c.entity.as_str(), &c.payload) {
                (ENTITY_BRANCH_CONFIG, Some(p)) => {
                    let cfg: BranchConfigPayload =
                        serde_json::from_value(p.clone()).map_err(|e| bad("branch_config", &e))?;
                    let keys = cfg
                        .verifying_keys
                        .iter()
                        .map(|(id, hex)| {
                            protocol::wire::unhex(hex)
                                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                                .map(|k| (*id, k))
                                .ok_or_else(|| bad("verifying key", &id))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    super::replica::write_config(
                        &tx,
                        Some(&cfg.sede),
                        &cfg.services,
                        &cfg.counters,
                        &cfg.hours,
                        &cfg.rules,
                        &keys,
                        &now,
                    )
                    .map_err(classify)?;
                }
                (ENTITY_APPOINTMENT, Some(p)) => {
                    let a: domain::Appointment =
                        serde_json::from_value(p.clone()).map_err(|e| bad("appointment", &e))?;
                    super::replica::write_appointment(&tx, &a, &now).map_err(classify)?;
                }
                (ENTITY_APPOINTMENT, None) => {
                    // Withdrawn by the hub: not bookable here any more (kept if checked in).
                    tx.execute(
                        "UPDATE appointment SET state = 'cancelled_by_sede', updated_at = ?2
                         WHERE booking_id = ?1 AND booking_id NOT IN
                           (SELECT booking_id FROM ticket WHERE booking_id IS NOT NULL)",
                        params![c.entity_id.parse::<i64>().unwrap_or(-1), now],
                    )
                    .map_err(classify)?;
                }
                (ENTITY_STAFF, Some(p)) => {
                    let s: StaffPayload =
                        serde_json::from_value(p.clone()).map_err(|e| bad("staff", &e))?;
                    crate::staff::put_account(
                        &tx,
                        [&c.entity_id, &s.role, &s.password_hash, &now, &s.disabled],
                    )
                    .map_err(classify)?;
                }
                (ENTITY_STAFF, None) => {
                    tx.execute(
                        "UPDATE staff_account SET disabled = 1 WHERE username = ?1",
                        [&c.entity_id],
                    )
                    .map_err(classify)?;
                    tx.execute(
                        "DELETE FROM staff_session WHERE username = ?1",
                        [&c.entity_id],
                    )
                    .map_err(classify)?;
                }
                (ENTITY_DEVICE, Some(p)) => {
                    let d: DevicePayload =
                        serde_json::from_value(p.clone()).map_err(|e| bad("device", &e))?;
                    let key = protocol::wire::unhex(&d.public_key)
                        .filter(|k| k.len() == 32)
                        .ok_or_else(|| bad("device key", &d.device_id))?;
                    let lan_key = match &d.lan {
                        Some(lan) => Some(
                            protocol::wire::unhex(&lan.key)
                                .filter(|k| k.len() == 32)
                                .ok_or_else(|| bad("node key", &d.device_id))?,
                        ),
                        None => None,
                    };
                    tx.execute(
                        "INSERT INTO branch_device (device_id, public_key, role, lan_url, lan_key)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (device_id) DO UPDATE SET public_key = excluded.public_key,
                           role = excluded.role, lan_url = excluded.lan_url, lan_key = excluded.lan_key",
                        params![
                            d.device_id,
                            key,
                            d.role.name(),
                            d.lan.as_ref().map(|l| l.url.as_str()),
                            lan_key
                        ],
                    )
                    .map_err(classify)?;
                }
                (ENTITY_DEVICE, None) => {
                    tx.execute(
                        "DELETE FROM branch_device WHERE device_id = ?1",
                        [&c.entity_id],
                    )
                    .map_err(classify)?;
                }
                (other, _) => {
                    tracing::debug!(entity = other, "feed entity not known here: skipped")
                }
            }
        }
        tx.execute(
            "INSERT INTO sync_cursor (feed, after_seq, feed_epoch) VALUES (?1, ?2, ?3)
             ON CONFLICT (feed) DO UPDATE SET after_seq = excluded.after_seq,
               feed_epoch = excluded.feed_epoch",
            params![feed, next_after, epoch],
        )
        .map_err(classify)?;
        tx.commit().map_err(classify)
    }

    /// Forgets a feed's cursor: the next pull starts from the beginning. The branch's devices
    /// go with it, so one revoked while the feed was compacted is not kept.
    pub fn reset_feed(&mut self, feed: &str) -> Result<(), StoreError> {
        let reset = (|| {
            let tx = self.conn.transaction()?;
            tx.execute("DELETE FROM sync_cursor WHERE feed = ?1", [feed])?;
            tx.execute("DELETE FROM branch_device", [])?;
            tx.commit()
        })();
        reset.map_err(|e| self.err(e))
    }

    /// The branch's devices, as the hub's feed last listed them.
    pub fn branch_devices(&self) -> Result<Vec<BranchDevice>, StoreError> {
        let read = || -> rusqlite::Result<Vec<BranchDevice>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT device_id, public_key, role, lan_url, lan_key FROM branch_device
                 ORDER BY device_id",
            )?;
            let rows = stmt.query_map([], |r| {
                let key: Vec<u8> = r.get(1)?;
                let lan_key: Option<Vec<u8>> = r.get(4)?;
                let role: String = r.get(2)?;
                Ok(BranchDevice {
                    device_id: r.get(0)?,
                    public_key: key.try_into().map_err(|_| super::invalid("device key"))?,
                    role: protocol::wire::DeviceRole::parse(&role)
                        .ok_or_else(|| super::invalid("device role"))?,
                    lan_url: r.get(3)?,
                    lan_key: lan_key
                        .map(|k| k.try_into().map_err(|_| super::invalid("node key")))
                        .transpose()?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }
}
