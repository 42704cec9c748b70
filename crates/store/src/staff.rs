//! Staff accounts and login sessions of the branch LAN console.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, parse_ts, ts};

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    /// Runs a counter.
    Operator,
    /// Also reads and exports the day's figures and closes the day.
    Supervisor,
}

impl StaffRole {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Supervisor => "supervisor",
        }
    }

    /// Inverse of [`Self::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Self::Operator),
            "supervisor" => Some(Self::Supervisor),
            _ => None,
        }
    }
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccount {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: StaffRole,
    /// PHC string of the password hash (argon2id).
    pub password_hash: String,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    /// The account.
    pub account: StaffAccount,
    /// The session's CSRF token.
    pub csrf: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Writes an account (`?1` name, `?2` role, `?3` password hash, `?4` now, `?5` disabled), first
/// ending its sessions if the password, the role or the state changes: whoever logged in with
/// the old password, or holds the old role's rights, logs in again. The same account sent again
/// (a feed replayed from a new epoch) keeps them.
pub(crate) fn put_account(
    tx: &rusqlite::Transaction<'_>,
    account: [&dyn rusqlite::ToSql; 5],
) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM staff_session WHERE username = ?1 AND EXISTS (
             SELECT 1 FROM staff_account WHERE username = ?1
             AND (role <> ?2 OR password_hash <> ?3 OR disabled <> ?5))",
        account,
    )?;
    tx.execute(
        "INSERT INTO staff_account (username, role, password_hash, created_at, disabled)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (username) DO UPDATE SET role = excluded.role,
           password_hash = excluded.password_hash, disabled = excluded.disabled",
        account,
    )?;
    Ok(())
}

impl Store {
    /// Creates or replaces a local staff account; a new password, role or state ends its
    /// sessions.
    pub fn put_staff(&mut self, account: &StaffAccount) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &path))?;
        put_account(
            &tx,
            [
                &account.username,
                &account.role.name(),
                &account.password_hash,
                &ts(Utc::now()),
                &account.disabled,
            ],
        )
        .and_then(|()| tx.commit())
        .map_err(|e| StoreError::classify(e, &path))
    }

    /// A staff account by login name.
    pub fn staff(&self, username: &str) -> Result<Option<StaffAccount>, StoreError> {
        self.conn
            .query_row(
                "SELECT username, role, password_hash, disabled FROM staff_account WHERE username = ?1",
                [username],
                account_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records a session by the hash of its cookie.
    pub fn create_session(
        &mut self,
        token_hash: &[u8],
        username: &str,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &path))?;
        let run = || -> rusqlite::Result<()> {
            tx.execute("DELETE FROM staff_session WHERE expires_at < ?1", [ts(now)])?;
            tx.execute(
                "INSERT INTO staff_session (token_hash, username, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, username, csrf, ts(now), ts(expires_at)],
            )?;
            Ok(())
        };
        run()
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::classify(e, &path))
    }

    /// The live session of a cookie hash, if any.
    pub fn session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<StaffSession>, StoreError> {
        self.conn
            .query_row(
                "SELECT a.username, a.role, a.password_hash, a.disabled, s.csrf, s.expires_at
                 FROM staff_session s JOIN staff_account a ON a.username = s.username
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND a.disabled = 0",
                params![token_hash, ts(now)],
                |r| {
                    Ok(StaffSession {
                        account: account_row(r)?,
                        csrf: r.get(4)?,
                        expires_at: parse_ts(&r.get::<_, String>(5)?)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Ends a session.
    pub fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM staff_session WHERE token_hash = ?1",
                [token_hash],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StaffAccount> {
    let role: String = r.get(1)?;
    Ok(StaffAccount {
        username: r.get(0)?,
        role: StaffRole::parse(&role).ok_or_else(|| super::invalid("staff role"))?,
        password_hash: r.get(2)?,
        disabled: r.get(3)?,
    })
}
