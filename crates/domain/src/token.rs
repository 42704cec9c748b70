//! Booking tokens: what the QR code on a booking confirmation carries.
//!
//! A token is a 26-byte payload signed with Ed25519 by the hub, written in base45 (the QR
//! alphanumeric alphabet, as the EU digital COVID certificate does) behind the prefix `SP1:`.
//! It fits a version-7 QR at level M. The kiosk checks it offline with the verifying keys it
//! pulled from the hub; the key id lets keys rotate while older confirmations stay valid.
//!
//! Payload, big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0 | format version (1) |
//! | 1–2 | key id |
//! | 3–10 | booking id |
//! | 11–12 | codice sede |
//! | 13–14 | date, days since 2020-01-01 |
//! | 15–16 | start, minutes since midnight (Europe/Rome) |
//! | 17 | service letter (ASCII) |
//! | 18–25 | pseudonymous person key |

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{BookingId, PersonKey, SedeCode, ServiceLetter, UserMessage};

/// Text prefix of every booking token.
pub const PREFIX: &str = "SP1:";
/// The payload format this build writes and reads.
pub const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 26;
const TOKEN_LEN: usize = PAYLOAD_LEN + 64;
/// Signatures cover this context and the payload, so a signature made for another purpose with
/// the same key can never pass as a booking.
const CONTEXT: &[u8] = b"sportello-booking-token";

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date")
}

/// What a booking token states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingClaims {
    /// The booking.
    pub booking: BookingId,
    /// Where.
    pub sede: SedeCode,
    /// When (local time, Europe/Rome), to the minute.
    pub starts_at: NaiveDateTime,
    /// Which service.
    pub service: ServiceLetter,
    /// Who booked, pseudonymously.
    pub person: PersonKey,
}

/// Why a scanned token was refused. Each case has its own message for the visitor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", i18n::Localized::localized(self))]
pub enum TokenError {
    /// The text is not a Sportello booking code at all.
    NotABooking,
    /// The prefix is right but the content is damaged.
    Malformed,
    /// Written by a newer format than this kiosk reads.
    UnsupportedVersion(u8),
    /// Signed with a key this kiosk does not know (not yet pulled, or withdrawn).
    UnknownKey(u16),
    /// The signature does not match: the code was altered or forged.
    BadSignature,
}

impl i18n::Localized for TokenError {
    fn localized(&self) -> i18n::Message {
        match self {
            TokenError::NotABooking => i18n::msg!("questo codice QR non è una prenotazione INPS"),
            TokenError::Malformed => i18n::msg!(
                "il codice QR è illeggibile o incompleto: riprovare, o chiedere all'accoglienza"
            ),
            TokenError::UnsupportedVersion(_) => {
                i18n::msg!("il codice QR è di un formato più recente: chiedere all'accoglienza")
            }
            TokenError::UnknownKey(_) => i18n::msg!(
                "la prenotazione è firmata con una chiave sconosciuta: chiedere all'accoglienza"
            ),
            TokenError::BadSignature => i18n::msg!("il codice QR è stato alterato e non è valido"),
        }
    }
}

impl UserMessage for TokenError {
    fn message_key(&self) -> &'static str {
        match self {
            TokenError::NotABooking => "token-not-a-booking",
            TokenError::Malformed => "token-malformed",
            TokenError::UnsupportedVersion(_) => "token-unsupported-version",
            TokenError::UnknownKey(_) => "token-unknown-key",
            TokenError::BadSignature => "token-bad-signature",
        }
    }
}

/// Why claims cannot be put in a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Before 2020-01-01 or after 2199.
    #[error("appointment date outside the token's range")]
    DateOutOfRange,
}

/// Signs booking tokens with one key (the hub's current key).
pub struct TokenSigner {
    key_id: u16,
    key: SigningKey,
}

impl TokenSigner {
    /// A signer with the given key id and 32-byte Ed25519 seed.
    pub fn from_seed(key_id: u16, seed: &[u8; 32]) -> Self {
        Self {
            key_id,
            key: SigningKey::from_bytes(seed),
        }
    }

    /// A signer with a fresh random key.
    pub fn generate(key_id: u16) -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::from_seed(key_id, &seed))
    }

    /// The key id written in tokens.
    pub fn key_id(&self) -> u16 {
        self.key_id
    }

    /// The public half, to publish to kiosks.
    pub fn verifying_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The token text for these claims.
    pub fn sign(&self, claims: &BookingClaims) -> Result<String, EncodeError> {
        let payload = encode_payload(self.key_id, claims)?;
        let signature = self.key.sign(&signed_message(&payload));
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!("{PREFIX}{}", base45::encode(bytes)))
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSigner(key {})", self.key_id)
    }
}

/// Checks booking tokens against the verifying keys the kiosk holds.
#[derive(Debug, Clone, Default)]
pub struct TokenVerifier {
    keys: BTreeMap<u16, VerifyingKey>,
}

impl TokenVerifier {
    /// A verifier with no keys: it refuses everything until keys are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a key. Fails for bytes that are not an Ed25519 public key.
    pub fn add_key(&mut self, key_id: u16, public: &[u8; 32]) -> Result<(), TokenError> {
        let key = VerifyingKey::from_bytes(public).map_err(|_| TokenError::Malformed)?;
        self.keys.insert(key_id, key);
        Ok(())
    }

    /// Forgets a withdrawn key.
    pub fn remove_key(&mut self, key_id: u16) {
        self.keys.remove(&key_id);
    }

    /// Parses and checks a scanned token. Scanners often add a newline or spaces: they are
    /// ignored.
    pub fn verify(&self, text: &str) -> Result<BookingClaims, TokenError> {
        let text = text.trim();
        let body = text.strip_prefix(PREFIX).ok_or(TokenError::NotABooking)?;
        let bytes = base45::decode(body).map_err(|_| TokenError::Malformed)?;
        self.verify_bytes(&bytes)
    }

    /// Checks the binary form (payload followed by the signature).
    pub fn verify_bytes(&self, bytes: &[u8]) -> Result<BookingClaims, TokenError> {
        if bytes.len() != TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, signature) = bytes.split_at(PAYLOAD_LEN);
        if payload[0] != VERSION {
            return Err(TokenError::UnsupportedVersion(payload[0]));
        }
        let key_id = u16::from_be_bytes([payload[1], payload[2]]);
        let key = self
            .keys
            .get(&key_id)
            .ok_or(TokenError::UnknownKey(key_id))?;
        let signature =
            Signature::from_bytes(signature.try_into().expect("split at a fixed length"));
        // Strict verification refuses the malleable encodings plain Ed25519 would accept, so
        // one booking has exactly one valid token per key.
        key.verify_strict(&signed_message(payload), &signature)
            .map_err(|_| TokenError::BadSignature)?;
        decode_payload(payload)
    }
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(CONTEXT.len() + payload.len());
    msg.extend_from_slice(CONTEXT);
    msg.extend_from_slice(payload);
    msg
}

fn encode_payload(key_id: u16, c: &BookingClaims) -> Result<[u8; PAYLOAD_LEN], EncodeError> {
    let days = u16::try_from((c.starts_at.date() - epoch()).num_days())
        .map_err(|_| EncodeError::DateOutOfRange)?;
    let minutes = (c.starts_at.hour() * 60 + c.starts_at.minute()) as u16;
    let mut p = [0u8; PAYLOAD_LEN];
    p[0] = VERSION;
    p[1..3].copy_from_slice(&key_id.to_be_bytes());
    p[3..11].copy_from_slice(&c.booking.get().to_be_bytes());
    p[11..13].copy_from_slice(&c.sede.get().to_be_bytes());
    p[13..15].copy_from_slice(&days.to_be_bytes());
    p[15..17].copy_from_slice(&minutes.to_be_bytes());
    p[17] = c.service.as_byte();
    p[18..26].copy_from_slice(&c.person.0);
    Ok(p)
}

/// Decodes a payload whose signature has been checked: a signed but nonsensical payload is
/// still refused rather than trusted.
fn decode_payload(p: &[u8]) -> Result<BookingClaims, TokenError> {
    let booking = BookingId::from_u64(u64::from_be_bytes(p[3..11].try_into().expect("8 bytes")))
        .ok_or(TokenError::Malformed)?;
    let sede = SedeCode::from_u16(u16::from_be_bytes([p[11], p[12]]))
        .map_err(|_| TokenError::Malformed)?;
    let days = u16::from_be_bytes([p[13], p[14]]);
    let minutes = u16::from_be_bytes([p[15], p[16]]);
    let date = epoch()
        .checked_add_days(chrono::Days::new(days.into()))
        .ok_or(TokenError::Malformed)?;
    let time = NaiveTime::from_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)
        .ok_or(TokenError::Malformed)?;
    let service = ServiceLetter::from_byte(p[17]).ok_or(TokenError::Malformed)?;
    let mut person = [0u8; 8];
    person.copy_from_slice(&p[18..26]);
    Ok(BookingClaims {
        booking,
        sede,
        starts_at: date.and_time(time),
        service,
        person: PersonKey(person),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn claims() -> BookingClaims {
        BookingClaims {
            booking: BookingId::new(2026, 4711).unwrap(),
            sede: SedeCode::parse("7001").unwrap(),
            starts_at: NaiveDate::from_ymd_opt(2026, 11, 26)
                .unwrap()
                .and_hms_opt(10, 40, 0)
                .unwrap(),
            service: ServiceLetter::parse("A").unwrap(),
            person: PersonKey([1, 2, 3, 4, 5, 6, 7, 8]),
        }
    }

    #[test]
    fn sign_then_verify_round_trips_and_fits_a_small_qr() {
        let signer = TokenSigner::from_seed(7, &[42; 32]);
        let mut verifier = TokenVerifier::new();
        verifier.add_key(7, &signer.verifying_key()).unwrap();
        let token = signer.sign(&claims()).unwrap();
        assert!(token.starts_with(PREFIX));
        assert_eq!(token.len(), PREFIX.len() + TOKEN_LEN / 2 * 3);
        assert!(
            token
                .chars()
                .all(|c| "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(c))
        );
        assert_eq!(verifier.verify(&format!("{token}\n")), Ok(claims()));
    }

    #[test]
    fn keys_rotate_and_unknown_keys_are_named() {
        let old = TokenSigner::from_seed(1, &[1; 32]);
        let new = TokenSigner::from_seed(2, &[2; 32]);
        let mut verifier = TokenVerifier::new();
        verifier.add_key(1, &old.verifying_key()).unwrap();
        verifier.add_key(2, &new.verifying_key()).unwrap();
        let old_token = old.sign(&claims()).unwrap();
        assert!(verifier.verify(&old_token).is_ok());
        assert!(verifier.verify(&new.sign(&claims()).unwrap()).is_ok());
        verifier.remove_key(1);
        assert_eq!(verifier.verify(&old_token), Err(TokenError::UnknownKey(1)));
        // A forger who reuses a known key id with their own key fails the signature.
        let forger = TokenSigner::from_seed(2, &[9; 32]);
        assert_eq!(
            verifier.verify(&forger.sign(&claims()).unwrap()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_refused_with_its_own_reason() {
        let verifier = TokenVerifier::new();
        assert_eq!(
            verifier.verify("https://example.org"),
            Err(TokenError::NotABooking)
        );
        assert_eq!(verifier.verify("SP1:abc"), Err(TokenError::Malformed));
        assert_eq!(verifier.verify("SP1:"), Err(TokenError::Malformed));
        let mut bytes = vec![2u8; TOKEN_LEN];
        bytes[0] = 9;
        assert_eq!(
            verifier.verify_bytes(&bytes),
            Err(TokenError::UnsupportedVersion(9))
        );
        assert_eq!(
            TokenError::BadSignature.message_key(),
            "token-bad-signature"
        );
    }
}
