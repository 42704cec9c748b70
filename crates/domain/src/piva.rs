//! Partita IVA, which is also the codice fiscale of companies: 11 digits with a Luhn check digit.

use std::fmt;
use std::str::FromStr;

use super::{UserMessage, compact};

/// Why a partita IVA (or 11-digit company codice fiscale) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PivaError {
    /// Not 11 characters after removing `IT`, spaces and separators.
    #[error("la partita IVA deve avere 11 cifre (ne ha {found})")]
    WrongLength {
        /// Characters found.
        found: usize,
    },
    /// Something other than a digit.
    #[error("la partita IVA contiene solo cifre: «{found}» in posizione {position} non è ammesso")]
    NotDigit {
        /// 1-based position.
        position: usize,
        /// Character found.
        found: char,
    },
    /// The progressive number is zero.
    #[error("le prime 7 cifre della partita IVA non possono essere tutte zero")]
    ZeroProgressive,
    /// Digits 8–10 are not an office (ufficio provinciale) code in use.
    #[error("il codice ufficio «{office}» (cifre 8–10) non esiste")]
    UnknownOffice {
        /// The three digits found.
        office: String,
    },
    /// The eleventh digit does not match.
    #[error("la cifra di controllo non corrisponde: il numero è stato digitato male")]
    CheckDigitMismatch {
        /// Digit the first ten give.
        expected: u8,
        /// Digit typed.
        found: u8,
    },
}

impl UserMessage for PivaError {
    fn message_key(&self) -> &'static str {
        match self {
            PivaError::WrongLength { .. } => "piva-wrong-length",
            PivaError::NotDigit { .. } => "piva-not-digit",
            PivaError::ZeroProgressive => "piva-zero-progressive",
            PivaError::UnknownOffice { .. } => "piva-unknown-office",
            PivaError::CheckDigitMismatch { .. } => "piva-check-mismatch",
        }
    }
}

/// Partita IVA / codice fiscale numerico of a company, association or public body.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitaIva([u8; 11]);

impl PartitaIva {
    /// Parses a code; an `IT` prefix, spaces, `-`, `.` and `:` are dropped first.
    pub fn parse(input: &str) -> Result<Self, PivaError> {
        let mut s = compact(input, &['-', '.', ':', '/']);
        if s.starts_with("IT") {
            s.drain(..2);
        }
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 11 {
            return Err(PivaError::WrongLength { found: chars.len() });
        }
        let mut digits = [0u8; 11];
        for (i, &c) in chars.iter().enumerate() {
            digits[i] =
                c.to_digit(10)
                    .filter(|_| c.is_ascii_digit())
                    .ok_or(PivaError::NotDigit {
                        position: i + 1,
                        found: c,
                    })? as u8;
        }
        if digits[..7].iter().all(|&d| d == 0) {
            return Err(PivaError::ZeroProgressive);
        }
        let office = u16::from(digits[7]) * 100 + u16::from(digits[8]) * 10 + u16::from(digits[9]);
        // Codes from 8000000 up belong to entities without VAT, whose office codes stop at 95.
        let non_vat = digits[0] >= 8;
        let office_ok = if non_vat {
            (1..=95).contains(&office)
        } else {
            matches!(office, 1..=100 | 120 | 121 | 888 | 999)
        };
        if !office_ok {
            return Err(PivaError::UnknownOffice {
                office: format!("{office:03}"),
            });
        }
        let expected = luhn_check_digit(&digits[..10]);
        if expected != digits[10] {
            return Err(PivaError::CheckDigitMismatch {
                expected,
                found: digits[10],
            });
        }
        Ok(PartitaIva(digits.map(|d| b'0' + d)))
    }

    /// Builds the valid code for a 7-digit progressive number and a 3-digit office code.
    /// Meant for synthetic data; returns `None` when the result would not be valid.
    pub fn from_parts(progressive: u32, office: u16) -> Option<Self> {
        if progressive >= 10_000_000 || office >= 1000 {
            return None;
        }
        let first10 = format!("{progressive:07}{office:03}");
        let digits: Vec<u8> = first10.bytes().map(|b| b - b'0').collect();
        let check = luhn_check_digit(&digits);
        Self::parse(&format!("{first10}{check}")).ok()
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits are ASCII")
    }

    /// True for codes of entities that are not VAT payers (associations, public bodies…).
    pub fn is_non_vat_entity(&self) -> bool {
        self.0[0] >= b'8'
    }
}

/// Luhn (mod 10) check digit over the first ten digits, as Sogei computes it.
fn luhn_check_digit(first10: &[u8]) -> u8 {
    let sum: u32 = first10
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                d
            } else if d * 2 > 9 {
                d * 2 - 9
            } else {
                d * 2
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for PartitaIva {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PartitaIva {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_str();
        write!(f, "PartitaIva({}•••••{})", &s[..3], &s[8..])
    }
}

impl FromStr for PartitaIva {
    type Err = PivaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vectors() {
        for ok in [
            "00743110157",
            "IT 00743110157",
            "07973780013",
            "02034280269",
            "IT-0797378 0013",
        ] {
            assert!(PartitaIva::parse(ok).is_ok(), "{ok}");
        }
        let inps = PartitaIva::parse("80078750587").unwrap();
        assert!(inps.is_non_vat_entity());
        assert_eq!(
            PartitaIva::parse("00743110158"),
            Err(PivaError::CheckDigitMismatch {
                expected: 7,
                found: 8
            })
        );
        assert_eq!(
            PartitaIva::from_parts(1234567, 1).unwrap().as_str(),
            "12345670017"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = PartitaIva::parse("0074311015").unwrap_err();
        assert_eq!(e, PivaError::WrongLength { found: 10 });
        assert_eq!(
            e.to_string(),
            "la partita IVA deve avere 11 cifre (ne ha 10)"
        );
        assert_eq!(
            PartitaIva::parse("0074311O157"),
            Err(PivaError::NotDigit {
                position: 8,
                found: 'O'
            })
        );
        assert_eq!(
            PartitaIva::parse("00000000000"),
            Err(PivaError::ZeroProgressive)
        );
        assert_eq!(
            PartitaIva::parse(&format!("1234567200{}", 0))
                .unwrap_err()
                .message_key(),
            "piva-unknown-office"
        );
        // 8xxxxxx codes with office codes above 95 are not issued.
        assert!(matches!(
            PartitaIva::parse("80000000990"),
            Err(PivaError::UnknownOffice { .. })
        ));
    }
}
