//! Strong identification for *Il mio Cassetto*, seen from the kiosk: ask the hub for a
//! one-time QR code, learn when the visitor's phone has logged in and for which companies,
//! and end the session when the visitor leaves. Behind a trait, so the screen's controller
//! does not care whether the hub is reached over the network (the running kiosk) or not at
//! all (a kiosk not enrolled with a hub: the service needs the network and says so).

use std::sync::Arc;

use branch::sync::client::{HubClient, SyncError};
use protocol::cassetto::CompanySummary;
use protocol::wire::{
    AgendaBooking, AgendaView, ContactRequest, DeskTask, HandoffStarted, HandoffState, IstanzeView,
};

/// What became of a booking or a cancellation the hub was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booked<T> {
    /// Done.
    Done(T),
    /// Refused, with the hub's reason (the slot was taken meanwhile, already cancelled).
    Refused(String),
    /// Not theirs, or the session is over.
    Gone,
}

impl<T> From<Result<Option<T>, String>> for Booked<T> {
    fn from(r: Result<Option<T>, String>) -> Self {
        match r {
            Ok(Some(v)) => Booked::Done(v),
            Ok(None) => Booked::Gone,
            Err(why) => Booked::Refused(why),
        }
    }
}

/// The hub's side of identification. Calls block: the UI makes them off its thread.
pub trait Identification: Send + Sync {
    /// A new hand-off and its QR code.
    fn start(&self) -> Result<HandoffStarted, SyncError>;
    /// Where a hand-off stands.
    fn status(&self, id: &str) -> Result<HandoffState, SyncError>;
    /// Ends a hand-off's session.
    fn end(&self, id: &str) -> Result<(), SyncError>;
    /// The Cassetto summary of one of the visitor's companies (`None`: not theirs, or over).
    fn company(&self, id: &str, matricola: &str) -> Result<Option<CompanySummary>, SyncError>;
    /// The Area Contatti history of one of the visitor's companies, newest first.
    fn requests(&self, id: &str, matricola: &str) -> Result<Vec<ContactRequest>, SyncError> {
        let _ = (id, matricola);
        Ok(Vec::new())
    }
    /// Asks the visitor's phone to show a form (`false`: not theirs, or the session is over).
    fn ask_phone(&self, id: &str, task: &DeskTask) -> Result<bool, SyncError> {
        let _ = (id, task);
        Ok(false)
    }
    /// *Comunicazioni on-line* of one of the visitor's companies.
    fn istanze(&self, id: &str, matricola: &str) -> Result<Option<IstanzeView>, SyncError> {
        let _ = (id, matricola);
        Ok(None)
    }
    /// *Agenda appuntamenti* of one of the visitor's companies.
    fn agenda(&self, id: &str, matricola: &str) -> Result<Option<AgendaView>, SyncError> {
        let _ = (id, matricola);
        Ok(None)
    }
    /// Books a slot, synchronously: no network, no booking.
    fn book(
        &self,
        id: &str,
        matricola: &str,
        starts_at: chrono::NaiveDateTime,
    ) -> Result<Booked<AgendaBooking>, SyncError> {
        let _ = (id, matricola, starts_at);
        Ok(Booked::Gone)
    }
    /// Cancels a booking.
    fn cancel_booking(
        &self,
        id: &str,
        matricola: &str,
        booking: &str,
    ) -> Result<Booked<()>, SyncError> {
        let _ = (id, matricola, booking);
        Ok(Booked::Gone)
    }
}

/// Identification through the enrolled kiosk's hub, on the kiosk's tokio runtime.
pub struct HubIdentification {
    client: HubClient,
    runtime: tokio::runtime::Handle,
}

impl HubIdentification {
    /// Over the kiosk's hub link, accepting the hub by `pins` (the sync agent's, so a key the
    /// hub announced is accepted here too); requests run on `runtime`.
    pub fn new(
        link: &store::HubLink,
        pins: std::sync::Arc<branch::sync::client::HubPins>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, SyncError> {
        Ok(Self {
            client: HubClient::with_pins(&link.hub_url, &link.device_id, &link.secret_key, pins)?,
            runtime,
        })
    }
}

impl Identification for HubIdentification {
    fn start(&self) -> Result<HandoffStarted, SyncError> {
        self.runtime.block_on(self.client.start_handoff())
    }
    fn status(&self, id: &str) -> Result<HandoffState, SyncError> {
        self.runtime.block_on(self.client.handoff(id))
    }
    fn end(&self, id: &str) -> Result<(), SyncError> {
        self.runtime.block_on(self.client.end_handoff(id))
    }
    fn company(&self, id: &str, matricola: &str) -> Result<Option<CompanySummary>, SyncError> {
        self.runtime.block_on(self.client.company(id, matricola))
    }
    fn requests(&self, id: &str, matricola: &str) -> Result<Vec<ContactRequest>, SyncError> {
        Ok(self
            .runtime
            .block_on(self.client.requests(id, matricola))?
            .unwrap_or_default())
    }
    fn ask_phone(&self, id: &str, task: &DeskTask) -> Result<bool, SyncError> {
        self.runtime.block_on(self.client.desk_task(id, task))
    }
    fn istanze(&self, id: &str, matricola: &str) -> Result<Option<IstanzeView>, SyncError> {
        self.runtime.block_on(self.client.istanze(id, matricola))
    }
    fn agenda(&self, id: &str, matricola: &str) -> Result<Option<AgendaView>, SyncError> {
        self.runtime.block_on(self.client.agenda(id, matricola))
    }
    fn book(
        &self,
        id: &str,
        matricola: &str,
        starts_at: chrono::NaiveDateTime,
    ) -> Result<Booked<AgendaBooking>, SyncError> {
        Ok(self
            .runtime
            .block_on(self.client.book(id, matricola, starts_at))?
            .into())
    }
    fn cancel_booking(
        &self,
        id: &str,
        matricola: &str,
        booking: &str,
    ) -> Result<Booked<()>, SyncError> {
        Ok(
            match self
                .runtime
                .block_on(self.client.cancel_booking(id, matricola, booking))?
            {
                Ok(Some(_)) => Booked::Done(()),
                Ok(None) => Booked::Gone,
                Err(why) => Booked::Refused(why),
            },
        )
    }
}

/// A kiosk with no hub: every start fails as a network failure would.
pub struct Offline;

impl Identification for Offline {
    fn start(&self) -> Result<HandoffStarted, SyncError> {
        Err(SyncError::Network(
            "this kiosk is not enrolled with a hub".into(),
        ))
    }
    fn status(&self, _: &str) -> Result<HandoffState, SyncError> {
        Ok(HandoffState::Ended)
    }
    fn end(&self, _: &str) -> Result<(), SyncError> {
        Ok(())
    }
    fn company(&self, _: &str, _: &str) -> Result<Option<CompanySummary>, SyncError> {
        Ok(None)
    }
}

/// The default: no hub.
pub fn offline() -> Arc<dyn Identification> {
    Arc::new(Offline)
}

/// A masked matricola for the lobby: the province's two digits and the last two, the rest
/// hidden until the visitor taps to reveal it.
pub fn mask_matricola(m: &str) -> String {
    protocol::cassetto::mask_with(m, 2, 2, '•')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matricole_are_masked_but_for_the_province_and_the_last_two() {
        assert_eq!(mask_matricola("7012345678"), "70••••••78");
        assert_eq!(mask_matricola("123"), "•••");
    }
}
