//! Spoken guidance (EN 301 549 closed functionality: speech output): what the kiosk says, in
//! Italian, for every screen and every answer, behind a [`Voice`] so tests can hear it.

use std::sync::{Arc, Mutex, mpsc};

use super::Answer;
use branch::speech::Speech;

/// The screens, as the guide knows them (independent of Slint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Home.
    Home,
    /// Ho un appuntamento.
    CheckIn,
    /// Prendi un biglietto.
    WalkIn,
    /// Il mio Cassetto.
    Cassetto,
    /// Invia una richiesta.
    Contatti,
    /// Prenota un appuntamento.
    Booking,
    /// Informativa privacy.
    Privacy,
    /// Accessibilità.
    Accessibility,
}

/// What is said when a screen opens.
pub fn prompt(place: Place) -> &'static str {
    match place {
        Place::Home => {
            "Benvenuto. Può scegliere: ho un appuntamento, prendi un biglietto, il mio cassetto, \
             invia una richiesta, prenota un appuntamento. Il pulsante chiama un operatore è in alto."
        }
        Place::CheckIn => {
            "Avvicini al lettore il codice QR della prenotazione, oppure scriva il codice con la tastiera sullo schermo."
        }
        Place::WalkIn => "Scelga il servizio per il quale desidera un biglietto.",
        Place::Cassetto => {
            "Il mio cassetto: inquadri con il suo telefono il codice sullo schermo ed entri con SPID o CIE; poi scelga l'azienda."
        }
        Place::Contatti => "Invia una richiesta alla sede: il servizio sarà disponibile a breve.",
        Place::Booking => "Prenota un appuntamento: il servizio sarà disponibile a breve.",
        Place::Privacy => {
            "Informativa sul trattamento dei dati personali. Può stamparla con il pulsante in basso."
        }
        Place::Accessibility => {
            "Accessibilità: testo grande, alto contrasto, comandi in basso per chi è seduto, guida vocale."
        }
    }
}

/// What is said after a scan, a typed code or a choice.
pub fn for_answer(answer: &Answer) -> String {
    match answer {
        Answer::Ticket {
            ticket,
            estimate,
            reprint,
            printed,
        } => {
            let again = if *reprint {
                "La registrazione era già stata fatta: ecco di nuovo il suo biglietto. "
            } else {
                ""
            };
            let paper = if *printed {
                ""
            } else {
                " Il biglietto non è stato stampato: ricordi il numero, o lo fotografi sullo schermo, e lo mostri allo sportello."
            };
            let queue = match estimate {
                Some(e) => format!(
                    "Persone prima di lei: {}. Attesa stimata: {}.",
                    e.ahead,
                    e.wait.text().replace('–', " a ")
                ),
                None => "Il biglietto è stato emesso senza collegamento al sistema della sede: l'attesa non è nota, sarà chiamato secondo l'ora di emissione.".into(),
            };
            format!(
                "{again}Il suo biglietto è {}. {queue}{paper}",
                branch::speech::spell_ticket(ticket.number),
            )
        }
        Answer::Assistance => "Un operatore è stato avvisato e arriverà al più presto.".into(),
        Answer::Refused { message, .. } => format!("Attenzione: {message}."),
    }
}

/// Something that speaks.
pub trait Voice: Send + Sync {
    /// Says `text`, after anything already being said is cut short (the newest guidance wins).
    fn say(&self, text: &str);
}

/// Says nothing (speech off, or no audio device).
#[derive(Debug, Default)]
pub struct Silent;

impl Voice for Silent {
    fn say(&self, _text: &str) {}
}

/// Remembers what it was asked to say (tests).
#[derive(Debug, Default)]
pub struct Recorder {
    said: Mutex<Vec<String>>,
}

impl Recorder {
    /// Everything said so far.
    pub fn said(&self) -> Vec<String> {
        self.said.lock().expect("recorder lock").clone()
    }
}

impl Voice for Recorder {
    fn say(&self, text: &str) {
        self.said
            .lock()
            .expect("recorder lock")
            .push(text.to_owned());
    }
}

/// Speaks through a [`Speech`] engine and `aplay` (ALSA), on a thread of its own so the UI
/// never waits for audio.
pub struct Speaker {
    tx: mpsc::Sender<String>,
}

impl Speaker {
    /// Starts the speaking thread.
    pub fn new(speech: Arc<dyn Speech>) -> Self {
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("sportello-voice".into())
            .spawn(move || {
                while let Ok(mut text) = rx.recv() {
                    // Only the newest guidance matters: skip what was superseded meanwhile.
                    while let Ok(newer) = rx.try_recv() {
                        text = newer;
                    }
                    match speech.wav(&text) {
                        Ok(wav) => play(&wav),
                        Err(e) => tracing::warn!(error = %e, "no speech"),
                    }
                }
            })
            .expect("the voice thread starts");
        Self { tx }
    }
}

fn play(wav: &[u8]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("aplay")
        .args(["-q", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(mut c) => {
            if let Some(mut stdin) = c.stdin.take() {
                let _ = stdin.write_all(wav);
            }
            let _ = c.wait();
        }
        Err(e) => tracing::warn!(error = %e, "cannot play audio (aplay from alsa-utils)"),
    }
}

impl Voice for Speaker {
    fn say(&self, text: &str) {
        let _ = self.tx.send(text.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_out_as_a_warning() {
        let refused = Answer::Refused {
            key: "x",
            message: i18n::msg!("la prenotazione è per la sede INPS di {}", "Milano"),
        };
        assert_eq!(
            for_answer(&refused),
            "Attenzione: la prenotazione è per la sede INPS di Milano."
        );
    }
}
