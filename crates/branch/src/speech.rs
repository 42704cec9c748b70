//! Spoken Italian: the hall display's calls (a chime, then "A, 0 4 2, sportello 3") and, with
//! the touchscreen UI, the kiosk's guidance. Behind a trait so tests can say what would be
//! spoken; the real voice is espeak-ng, run as a process.

use std::io::Write;
use std::process::{Command, Stdio};

use domain::{CounterNumber, TicketNumber};

/// Why speech could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// espeak-ng is missing.
    #[error(
        "espeak-ng is not installed or not on PATH ({0}); install it with `apt-get install espeak-ng`"
    )]
    Missing(std::io::Error),
    /// It ran and failed.
    #[error("espeak-ng failed: {0}")]
    Failed(String),
    /// Its output was not a PCM WAV file.
    #[error("unexpected audio from espeak-ng: {0}")]
    BadWav(&'static str),
}

/// Something that turns Italian text into a WAV file.
pub trait Speech: Send + Sync {
    /// The WAV bytes (16-bit PCM) of `text` spoken in Italian.
    fn wav(&self, text: &str) -> Result<Vec<u8>, SpeechError>;
}

/// espeak-ng with its Italian voice.
#[derive(Debug, Clone)]
pub struct EspeakNg {
    /// Words per minute: slower than the default 175, for a noisy hall.
    pub speed: u32,
}

impl Default for EspeakNg {
    fn default() -> Self {
        Self { speed: 140 }
    }
}

impl Speech for EspeakNg {
    fn wav(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        // Text goes through stdin, never the command line: no quoting, no option injection.
        let mut child = Command::new("espeak-ng")
            .args(["-v", "it", "-s", &self.speed.to_string(), "--stdout"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SpeechError::Missing)?;
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(text.as_bytes())
            .map_err(|e| SpeechError::Failed(e.to_string()))?;
        let out = child
            .wait_with_output()
            .map_err(|e| SpeechError::Failed(e.to_string()))?;
        if !out.status.success() {
            return Err(SpeechError::Failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(out.stdout)
    }
}

/// A ticket number as it is said: the letter, then the three digits one by one ("A, 0 4 2").
pub fn spell_ticket(ticket: TicketNumber) -> String {
    let digits: Vec<String> = format!("{:03}", ticket.number())
        .chars()
        .map(String::from)
        .collect();
    format!("{}, {}", ticket.letter(), digits.join(" "))
}

/// The words of a call: the ticket spelled, then the counter.
pub fn call_text(ticket: TicketNumber, counter: CounterNumber) -> String {
    format!("{}, sportello {}", spell_ticket(ticket), counter)
}

/// A decoded 16-bit PCM WAV.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    /// Samples per second.
    pub rate: u32,
    /// Channels.
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// Reads a PCM WAV. espeak-ng writing to a pipe leaves the data length at its maximum, so
    /// the data chunk runs to the end of the file.
    pub fn parse(wav: &[u8]) -> Result<Pcm, SpeechError> {
        if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
            return Err(SpeechError::BadWav("not a RIFF WAVE file"));
        }
        let mut at = 12;
        let mut format = None;
        while at + 8 <= wav.len() {
            let id = &wav[at..at + 4];
            let size =
                u32::from_le_bytes(wav[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
            let body = at + 8;
            if id == b"fmt " {
                let f = wav
                    .get(body..body + 16)
                    .ok_or(SpeechError::BadWav("short fmt"))?;
                let tag = u16::from_le_bytes([f[0], f[1]]);
                let channels = u16::from_le_bytes([f[2], f[3]]);
                let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
                let bits = u16::from_le_bytes([f[14], f[15]]);
                if tag != 1 || bits != 16 {
                    return Err(SpeechError::BadWav("not 16-bit PCM"));
                }
                format = Some((rate, channels));
            } else if id == b"data" {
                let (rate, channels) = format.ok_or(SpeechError::BadWav("data before fmt"))?;
                let end = body.saturating_add(size).min(wav.len());
                let samples = wav[body..end]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                return Ok(Pcm {
                    rate,
                    channels,
                    samples,
                });
            }
            at = body.saturating_add(size + (size & 1));
        }
        Err(SpeechError::BadWav("no data chunk"))
    }

    /// Writes it as a WAV file.
    pub fn to_wav(&self) -> Vec<u8> {
        let data_len = (self.samples.len() * 2) as u32;
        let block = self.channels * 2;
        let mut out = Vec::with_capacity(44 + data_len as usize);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&self.channels.to_le_bytes());
        out.extend_from_slice(&self.rate.to_le_bytes());
        out.extend_from_slice(&(self.rate * u32::from(block)).to_le_bytes());
        out.extend_from_slice(&block.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in &self.samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// Root mean square of the samples, 0 for silence.
    pub fn rms(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        (sum / self.samples.len() as f64).sqrt()
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate) / f64::from(self.channels.max(1))
    }
}

/// Two-tone chime (E5 then C5, softly faded), then a short pause, at `rate` samples a second.
fn chime(rate: u32) -> Vec<i16> {
    let mut out = Vec::new();
    for (freq, secs) in [(659.25_f64, 0.35_f64), (523.25, 0.5)] {
        let n = (f64::from(rate) * secs) as usize;
        for i in 0..n {
            let t = i as f64 / f64::from(rate);
            let fade = (1.0 - i as f64 / n as f64).powi(2);
            let v = (std::f64::consts::TAU * freq * t).sin() * fade * 9000.0;
            out.push(v as i16);
        }
    }
    out.extend(std::iter::repeat_n(0, (rate / 4) as usize));
    out
}

/// The audio of one call: the chime, then the spoken words.
pub fn call_audio(
    speech: &dyn Speech,
    ticket: TicketNumber,
    counter: CounterNumber,
) -> Result<Vec<u8>, SpeechError> {
    let voice = Pcm::parse(&speech.wav(&call_text(ticket, counter))?)?;
    let mut samples = Vec::new();
    for s in chime(voice.rate) {
        samples.extend(std::iter::repeat_n(s, usize::from(voice.channels.max(1))));
    }
    samples.extend(voice.samples);
    Ok(Pcm {
        rate: voice.rate,
        channels: voice.channels,
        samples,
    }
    .to_wav())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ServiceLetter;

    #[test]
    fn calls_are_spelled_digit_by_digit() {
        let t = TicketNumber::new(ServiceLetter::parse("A").unwrap(), 42).unwrap();
        assert_eq!(
            call_text(t, CounterNumber::new(3).unwrap()),
            "A, 0 4 2, sportello 3"
        );
    }

    #[test]
    fn wav_round_trips_and_the_chime_is_not_silent() {
        let pcm = Pcm {
            rate: 22050,
            channels: 1,
            samples: chime(22050),
        };
        let back = Pcm::parse(&pcm.to_wav()).unwrap();
        assert_eq!(back, pcm);
        assert!(back.rms() > 1000.0);
        assert!((back.seconds() - 1.1).abs() < 0.01);
        assert!(Pcm::parse(b"RIFF....WAVEjunk").is_err());
    }
}
