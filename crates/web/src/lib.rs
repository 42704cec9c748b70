//! What the two servers, the branch LAN server and the hub, share: argon2 password hashes,
//! random tokens and their hashes, the login limiter ([`auth`]), TLS certificates ([`tls`]), the
//! headers on every answer ([`headers`]), the bounds every connection is held to ([`limits`]) and
//! what a service says to systemd ([`systemd`]).
//!
//! Small functions over bytes, files and sockets. It knows no route, no store and no database, so
//! neither server drags the other in by using it.

pub mod auth;
pub mod headers;
pub mod limits;
pub mod systemd;
pub mod tls;
