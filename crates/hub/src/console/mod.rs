//! The hub's web console (server-rendered, like the branch console): login for hub accounts,
//! the fleet of kiosks with their health, revocation, and enrolment codes; the sedi with their
//! services, counters, hours and calling rules; appointment slots and bookings; accounts;
//! the figures of the sedi.
//! Sessions and failed-login counters live in PostgreSQL, so any instance serves any request
//! and a second instance is no way around the login limit; the cookie is `__Host-`, Secure,
//! HttpOnly, SameSite=Strict; every form carries the session's CSRF token.

mod bookings;
mod cifre;
mod fleet;
mod istanze;
mod login;
mod richieste;
mod sedi;
mod session;
mod users;

use axum::Router;

use crate::HubState;

/// The console's routes, each page's from its module.
pub fn router() -> Router<HubState> {
    Router::new()
        .merge(login::router())
        .merge(fleet::router())
        .merge(sedi::router())
        .merge(bookings::router())
        .merge(richieste::router())
        .merge(istanze::router())
        .merge(users::router())
        .merge(cifre::router())
}
