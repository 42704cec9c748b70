//! Staff login on the LAN: sessions kept in the store by the hash of their cookie, a CSRF
//! token per session; the password hashes, tokens and the login limiter are `web::auth`'s.

use store::StaffSession;

/// Name of the session cookie. The `__Host-` prefix makes browsers insist on Secure, Path=/ and
/// no Domain, so another host on the LAN cannot set it.
pub const COOKIE: &str = "__Host-sportello";

/// A logged-in staff member, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The session.
    pub session: StaffSession,
}

impl Staff {
    /// Login name.
    pub fn username(&self) -> &str {
        &self.session.account.username
    }

    /// Whether the account is a supervisor.
    pub fn is_supervisor(&self) -> bool {
        self.session.account.role == store::StaffRole::Supervisor
    }
}
