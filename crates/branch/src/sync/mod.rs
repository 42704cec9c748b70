//! The kiosk's side of the hub protocol (`protocol` holds what both ends share): enrolment and
//! the signed client ([`client`]), and the agent that pushes the outbox and pulls the feed in
//! the background ([`agent`]).

pub mod agent;
pub mod client;
