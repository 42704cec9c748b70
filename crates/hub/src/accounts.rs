//! Hub accounts (argon2id hashes) and the audit log every administrative action goes to.

use deadpool_postgres::GenericClient;

use crate::HubError;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, every branch.
    Admin,
    /// A sede's services, counters, hours, priority rules.
    Supervisor,
    /// A sede's requests and istanze.
    Backoffice,
    /// A sede's counters.
    Counter,
}

impl Role {
    /// Stored name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Backoffice => "backoffice",
            Role::Counter => "counter",
        }
    }

    /// The branch console role this account has there, if any.
    pub fn console_role(self) -> Option<&'static str> {
        match self {
            Role::Counter => Some("operator"),
            Role::Supervisor => Some("supervisor"),
            Role::Admin | Role::Backoffice => None,
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "supervisor" => Role::Supervisor,
            "backoffice" => Role::Backoffice,
            "counter" => Role::Counter,
            _ => return None,
        })
    }
}

/// Makes sure a branch row exists for a sede of the official table.
pub async fn ensure_branch(db: &impl GenericClient, sede: u16) -> Result<(), HubError> {
    let code = domain::SedeCode::from_u16(sede)
        .map_err(|_| HubError::BadRequest(format!("{sede:04} is not a sede code")))?;
    let name = domain::sedi::with_code(code)
        .map(|s| s.name)
        .next()
        .ok_or_else(|| HubError::BadRequest(format!("no sede {sede:04} in the table of sedi")))?;
    db.execute(
        "INSERT INTO branch (branch_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&i32::from(sede), &name],
    )
    .await?;
    db.execute(
        "INSERT INTO branch_feed_head (branch_id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&i32::from(sede)],
    )
    .await?;
    Ok(())
}

/// Creates an account (or replaces its password and role). Administrators have no branch;
/// every other role has one.
pub async fn create_user(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    username: &str,
    password: &str,
    role: Role,
    branch: Option<u16>,
) -> Result<(), HubError> {
    put_user(db, actor, username, password, role, branch, true).await
}

/// Adds an account whose name is not taken; an existing account is never overwritten.
pub async fn add_user(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    username: &str,
    password: &str,
    role: Role,
    branch: Option<u16>,
) -> Result<(), HubError> {
    put_user(db, actor, username, password, role, branch, false).await
}

async fn put_user(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    username: &str,
    password: &str,
    role: Role,
    branch: Option<u16>,
    replace: bool,
) -> Result<(), HubError> {
    web::auth::check_username(username).map_err(HubError::BadRequest)?;
    web::auth::check_password_strength(password).map_err(HubError::BadRequest)?;
    match (role, branch) {
        (Role::Admin, Some(_)) => {
            return Err(HubError::BadRequest(
                "an administrator has no branch".into(),
            ));
        }
        (Role::Admin, None) => {}
        (_, None) => {
            return Err(HubError::BadRequest(format!(
                "a {} account belongs to a branch (--branch)",
                role.name()
            )));
        }
        (_, Some(_)) => {}
    }
    let hash = web::auth::hash_password(password).map_err(HubError::Config)?;
    let tx = db.transaction().await?;
    if let Some(b) = branch {
        ensure_branch(&tx, b).await?;
    }
    let written = tx
        .execute(
            "INSERT INTO hub_user (username, role, branch_id, password_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO UPDATE SET role = excluded.role,
               branch_id = excluded.branch_id, password_hash = excluded.password_hash
             WHERE $5",
            &[
                &username,
                &role.name(),
                &branch.map(i32::from),
                &hash,
                &replace,
            ],
        )
        .await?;
    if written == 0 {
        return Err(HubError::BadRequest(format!(
            "Il nome utente {username} è già in uso."
        )));
    }
    // Counter staff and supervisors log in to their branch's console, which must work
    // through a WAN outage: their accounts travel to the branch in its feed.
    if let (Some(b), Some(console_role)) = (branch, role.console_role()) {
        crate::branch_data::put_staff(
            &tx,
            i32::from(b),
            username,
            &protocol::wire::StaffPayload {
                role: console_role.into(),
                password_hash: hash.clone(),
                disabled: false,
            },
        )
        .await?;
    }
    crate::audit::record(
        &tx,
        actor,
        "user.create",
        branch,
        serde_json::json!({ "username": username, "role": role.name() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password (an administrator's reset, or the CLI's) and ends the account's
/// sessions, in one transaction: whoever logged in with the old password logs in again. The
/// branch's console gets it through the feed, and ends its sessions there too.
pub async fn reset_password(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    username: &str,
    password: &str,
) -> Result<(), HubError> {
    web::auth::check_password_strength(password).map_err(HubError::BadRequest)?;
    let hash = web::auth::hash_password(password).map_err(HubError::Config)?;
    let tx = db.transaction().await?;
    let row = tx
        .query_opt(
            "UPDATE hub_user SET password_hash = $2 WHERE username = $1 RETURNING role, branch_id, disabled",
            &[&username, &hash],
        )
        .await?
        .ok_or_else(|| HubError::BadRequest(format!("no account {username}")))?;
    tx.execute("DELETE FROM hub_session WHERE username = $1", &[&username])
        .await?;
    let role = Role::parse(row.get(0)).unwrap_or(Role::Admin);
    let branch: Option<i32> = row.get(1);
    if let (Some(b), Some(console_role)) = (branch, role.console_role()) {
        crate::branch_data::put_staff(
            &tx,
            b,
            username,
            &protocol::wire::StaffPayload {
                role: console_role.into(),
                password_hash: hash,
                disabled: row.get(2),
            },
        )
        .await?;
    }
    crate::audit::record(
        &tx,
        actor,
        "user.password_reset",
        branch.and_then(|b| u16::try_from(b).ok()),
        serde_json::json!({ "username": username }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A temporary password to hand over once: 16 letters and digits from an alphabet without
/// look-alikes (no 0/O, 1/l/I), in groups of four, about 80 bits.
pub fn temporary_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the system random source works");
    b.chunks(4)
        .map(|g| {
            g.iter()
                .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Disables or enables an account: a disabled one cannot log in to the hub console (its
/// sessions end at once) nor, once the feed reaches the branch, to the branch console.
pub async fn set_disabled(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    username: &str,
    disabled: bool,
) -> Result<(), HubError> {
    let tx = db.transaction().await?;
    let row = tx
        .query_opt(
            "UPDATE hub_user SET disabled = $2 WHERE username = $1
             RETURNING role, branch_id, password_hash",
            &[&username, &disabled],
        )
        .await?
        .ok_or_else(|| HubError::BadRequest(format!("Nessun account {username}.")))?;
    let role = Role::parse(row.get(0)).unwrap_or(Role::Admin);
    let branch: Option<i32> = row.get(1);
    if disabled {
        tx.execute("DELETE FROM hub_session WHERE username = $1", &[&username])
            .await?;
    }
    if let (Some(b), Some(console_role)) = (branch, role.console_role()) {
        crate::branch_data::put_staff(
            &tx,
            b,
            username,
            &protocol::wire::StaffPayload {
                role: console_role.into(),
                password_hash: row.get(2),
                disabled,
            },
        )
        .await?;
    }
    crate::audit::record(
        &tx,
        actor,
        if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        branch.and_then(|b| u16::try_from(b).ok()),
        serde_json::json!({ "username": username }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
