//! What the two servers, the branch LAN server and the hub, share: argon2 password hashes,
//! random tokens and their hashes, the login limiter ([`auth`]) and TLS certificates ([`tls`]).
//!
//! Small functions over bytes and files. It knows no route, no store and no database, so
//! neither server drags the other in by using it.

pub mod auth;
pub mod tls;
