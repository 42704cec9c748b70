//! The full copy of what the hub publishes to one branch, as the kiosk keeps it.

use domain::{Appointment, Counter, OpeningHours, Sede, Service};

/// A full copy of what the hub publishes to one branch.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    /// The branch's sede.
    pub sede: Option<Sede>,
    /// Services in display order.
    pub services: Vec<Service>,
    /// Counters.
    pub counters: Vec<Counter>,
    /// Weekly hours.
    pub hours: Vec<OpeningHours>,
    /// Appointments.
    pub appointments: Vec<Appointment>,
    /// Booking-token verifying keys by key id.
    pub verifying_keys: Vec<(u16, [u8; 32])>,
    /// Calling rules and calendar parameters.
    pub rules: queue::QueueRules,
}
