//! The branch node and what runs beside it in the kiosk's process: the one sequencer of a
//! sede's queue over the kiosk's store ([`node`]), the LAN server of the staff console, the
//! supervisor's page and the hall display ([`lan`]), the spoken calls ([`speech`]), and the
//! kiosk's side of the hub protocol: enrolment, the signed client and the background sync
//! agent ([`sync`]).
//!
//! It works through a WAN outage: nothing here waits for the hub. It never shows a Slint
//! window and never opens PostgreSQL; the hub never links it.

pub mod lan;
pub mod node;
pub mod remote;
pub mod speech;
pub mod sync;
