//! Sportello: the self-service kiosk of an INPS branch office, its branch node and its hub.
//!
//! See `ARCHITECTURE.md` for the map of the code and the invariants it keeps.

pub mod cassetto;
pub mod config;
pub mod demo;
pub mod devices;
pub mod domain;
#[cfg(feature = "hub")]
pub mod hub;
pub mod i18n;
pub mod istanze;
pub mod kiosk;
pub mod lan;
pub mod node;
pub mod queue;
pub mod speech;
pub mod store;
pub mod sync;
pub mod telemetry;
