//! The tag of a ticket's *segui la coda* address: the printed QR carries it, a guessed address
//! (numbers run in order) does not, and the page's forms — an SMS number, the answer after
//! the visit — take only an address that carries it.

use chrono::NaiveDate;
use hmac::{KeyInit, Mac};

use crate::{SedeCode, TicketNumber};

/// Bytes of the tag: 64 bits, so guessing one takes 2⁶³ tries on average against an address
/// that lives a day.
const TAG_BYTES: usize = 8;

fn mac(
    key: &[u8; 32],
    sede: SedeCode,
    day: NaiveDate,
    ticket: TicketNumber,
) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("segui-la-coda/{sede}/{day}/{ticket}").as_bytes());
    mac
}

/// The tag of one ticket's address under the sede's key, as the QR carries it (16 lowercase
/// hexadecimal digits).
pub fn tag(key: &[u8; 32], sede: SedeCode, day: NaiveDate, ticket: TicketNumber) -> String {
    let full = mac(key, sede, day, ticket).finalize().into_bytes();
    full[..TAG_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `text` is the tag of that address (in constant time).
pub fn check(
    key: &[u8; 32],
    sede: SedeCode,
    day: NaiveDate,
    ticket: TicketNumber,
    text: &str,
) -> bool {
    let text = text.trim();
    if text.len() != 2 * TAG_BYTES || !text.is_ascii() {
        return false;
    }
    let bytes: Option<Vec<u8>> = (0..TAG_BYTES)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect();
    bytes.is_some_and(|b| {
        mac(key, sede, day, ticket)
            .verify_truncated_left(&b)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_fits_its_own_address_only() {
        let key = [7u8; 32];
        let sede = SedeCode::parse("7001").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let p1 = TicketNumber::parse("P001").unwrap();
        let p2 = TicketNumber::parse("P002").unwrap();
        let t = tag(&key, sede, day, p1);
        assert_eq!(t.len(), 16);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(check(&key, sede, day, p1, &t));
        assert!(
            check(&key, sede, day, p1, &t.to_uppercase()),
            "as a phone may change it"
        );
        assert!(!check(&key, sede, day, p2, &t), "the next number");
        assert!(
            !check(&key, sede, day.succ_opt().unwrap(), p1, &t),
            "the next day"
        );
        assert!(!check(&key, SedeCode::parse("7002").unwrap(), day, p1, &t));
        assert!(!check(&[8u8; 32], sede, day, p1, &t), "another key");
        for bad in [
            "",
            "00",
            &t[..15],
            &format!("{t}0"),
            "zzzzzzzzzzzzzzzz",
            "éééééééé",
        ] {
            assert!(!check(&key, sede, day, p1, bad), "{bad}");
        }
    }
}
