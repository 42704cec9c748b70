//! The words the kiosk's Rust side writes on the Cassetto's screen, in the visitor's language:
//! states, roles, slots and what became of what the visitor asked for. Plain text: the
//! screen's code turns it into Slint's strings.

use i18n::Lang;

use crate::cassetto::{AgendaStatus, PhoneStatus};
use protocol::wire::DeskTask;

/// The visitor's role towards a company, in words.
pub(super) fn role_text(role: domain::TipoDelegato, lang: Lang) -> String {
    use domain::TipoDelegato as T;
    let message = match role {
        T::Azienda => i18n::msg!("legale rappresentante"),
        T::ConsulenteCommercialista => i18n::msg!("consulente o commercialista"),
        T::AssociazioneDiCategoria | T::AssociazioneDatoriLavoroDomestico => {
            i18n::msg!("associazione di categoria")
        }
        T::Patronato => i18n::msg!("patronato"),
        T::Cittadino | T::AmministrazioneEntiPubblici => i18n::msg!("delegato"),
    };
    message.text(lang)
}

/// A weekday in words.
pub(crate) fn weekday_name(day: chrono::Weekday, lang: Lang) -> String {
    use chrono::Weekday::*;
    match day {
        Mon => i18n::msg!("lunedì"),
        Tue => i18n::msg!("martedì"),
        Wed => i18n::msg!("mercoledì"),
        Thu => i18n::msg!("giovedì"),
        Fri => i18n::msg!("venerdì"),
        Sat => i18n::msg!("sabato"),
        Sun => i18n::msg!("domenica"),
    }
    .text(lang)
}

/// A slot as the visitor reads it: `venerdì 27/11 · 09:30`.
pub(super) fn slot_label(t: chrono::NaiveDateTime, lang: Lang) -> String {
    use chrono::Datelike;
    let today = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .date_naive();
    // "Today" and "tomorrow" read faster than a date, and are what people say at a desk.
    let near = if t.date() == today {
        Some(i18n::msg!("oggi"))
    } else if t.date() == today + chrono::Duration::days(1) {
        Some(i18n::msg!("domani"))
    } else {
        None
    };
    format!(
        "{} {} · {}",
        near.map_or_else(|| weekday_name(t.weekday(), lang), |n| n.text(lang)),
        t.format("%d/%m"),
        t.format("%H:%M")
    )
}

/// What the visitor's phone is doing for the kiosk, in words.
pub(super) fn phone_status(status: &PhoneStatus, lang: Lang) -> String {
    match status {
        PhoneStatus::Opened(DeskTask::Richiesta { .. }) => i18n::msg!(
            "Continui sul suo telefono: il modulo è aperto lì. Scriva la richiesta e scelga fino a 3 allegati (PDF, JPEG o PNG, al massimo 3 MB)."
        ),
        PhoneStatus::Opened(DeskTask::Istanza { modulo, .. }) => {
            let title = domain::istanze::modulo(modulo).map_or(modulo.as_str(), |m| m.title);
            i18n::msg!(
                "Continui sul suo telefono: l'istanza «{}» è aperta lì. Tutti i campi sono obbligatori.",
                title
            )
        }
        PhoneStatus::Sent {
            protocol,
            istanza: true,
        } => i18n::msg!("Istanza inviata alla sede: protocollo {}.", protocol),
        PhoneStatus::Sent {
            protocol,
            istanza: false,
        } => i18n::msg!("Richiesta inviata alla sede: protocollo {}.", protocol),
        PhoneStatus::Unreachable => i18n::msg!(
            "Scrivere alla sede richiede la rete, che ora non risponde: nulla è stato inviato. Riprovi tra poco."
        ),
    }
    .text(lang)
}

/// What became of the last booking or cancellation, in words.
pub(super) fn agenda_status(status: &AgendaStatus, lang: Lang) -> String {
    match status {
        AgendaStatus::NoSlots => {
            i18n::msg!("Nei prossimi quattordici giorni non ci sono orari liberi.")
        }
        AgendaStatus::Booked {
            booking,
            starts_at,
            printed: true,
        } => i18n::msg!(
            "Appuntamento {} prenotato per {}. Ritiri la conferma stampata: il giorno dell'appuntamento ne inquadri il codice QR al chiosco.",
            booking,
            slot_label(*starts_at, lang)
        ),
        AgendaStatus::Booked {
            booking,
            starts_at,
            printed: false,
        } => i18n::msg!(
            "Appuntamento {} prenotato per {}. La stampante non è disponibile: annoti il codice; la conferma arriva anche per e-mail e SMS.",
            booking,
            slot_label(*starts_at, lang)
        ),
        AgendaStatus::BookingRefused(why) => i18n::msg!("Prenotazione non riuscita: {}", why),
        AgendaStatus::BookingUnreachable => i18n::msg!(
            "Prenotare richiede la rete, che ora non risponde: nessun appuntamento è stato preso. Riprovi tra poco."
        ),
        AgendaStatus::Cancelled(code) => {
            i18n::msg!("Appuntamento {} annullato: il posto torna libero.", code)
        }
        AgendaStatus::CancelRefused(why) => i18n::msg!("Annullamento non riuscito: {}", why),
        AgendaStatus::CancelUnreachable => i18n::msg!(
            "Annullare richiede la rete, che ora non risponde: l'appuntamento resta valido. Riprovi tra poco."
        ),
    }
    .text(lang)
}

/// What became of *Stampa fascicolo*, in words.
pub(super) fn print_status(printed: bool, lang: Lang) -> String {
    if printed {
        i18n::msg!("Fascicolo stampato: lo ritiri dalla stampante.")
    } else {
        i18n::msg!("La stampante non è disponibile: il fascicolo non è stato stampato.")
    }
    .text(lang)
}
