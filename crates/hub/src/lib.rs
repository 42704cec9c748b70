//! The hub (`sportello hub`): the central store on PostgreSQL, staff accounts and the audit
//! log, kiosk enrolment, the sync API kiosks push their outboxes to and pull their branch
//! feed from, the consoles of administrators and back offices, the visitor's identification
//! and the phone's desk. Stateless: two instances over one database behave as one.
//!
//! It shares only the domain, the queue rules and the protocol with the kiosk: it never links
//! SQLite, Slint, the kiosk's flows or the branch's LAN server, and it never calls the demo
//! generator (the demo reaches it through [`seed`], from the command line).
//!
//! Inside, each feature owns its routes, its SQL and its jobs; the layers below them are
//! [`error`], [`state`], [`counts`], [`extract`] (who is asking), [`jobs`] (the job table, knowing no
//! feature), [`feed`], [`audit`] and [`pages`]. [`server`] puts the features together. No
//! module imports one that imports it (`tests/tiers.rs` checks).

pub mod accounts;
pub mod agenda;
pub mod audit;
pub mod branch_data;
pub mod cassetto;
pub mod cli;
pub mod console;
pub mod contatti;
pub mod counts;
pub mod db;
pub mod desk;
pub mod devices;
pub mod error;
pub mod extract;
pub mod feed;
pub mod figures;
pub mod follow;
pub mod handoff;
pub mod identity;
pub mod idp;
pub mod istanze;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod pages;
pub mod pull;
pub mod push;
pub mod retention;
pub mod sede;
pub mod seed;
pub mod server;
pub mod state;
pub mod takeover;

pub use error::HubError;
pub use server::{HubServer, job_registry, router, start};
pub use state::HubState;
