//! Matricola INPS aziendale: the 10-digit number of an employer position.

use std::fmt;
use std::str::FromStr;

use super::{UserMessage, compact, sedi};

/// Why a matricola was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatricolaError {
    /// Not 10 characters.
    #[error("la matricola INPS deve avere 10 cifre (ne ha {found})")]
    WrongLength {
        /// Characters found.
        found: usize,
    },
    /// Something other than a digit.
    #[error(
        "la matricola INPS contiene solo cifre: «{found}» in posizione {position} non è ammesso"
    )]
    NotDigit {
        /// 1-based position.
        position: usize,
        /// Character found.
        found: char,
    },
    /// The first two digits are not an INPS province.
    #[error("le prime due cifre della matricola ({prefix}) non sono una provincia INPS")]
    UnknownProvince {
        /// The two digits found.
        prefix: String,
    },
}

impl UserMessage for MatricolaError {
    fn message_key(&self) -> &'static str {
        match self {
            MatricolaError::WrongLength { .. } => "matricola-wrong-length",
            MatricolaError::NotDigit { .. } => "matricola-not-digit",
            MatricolaError::UnknownProvince { .. } => "matricola-unknown-province",
        }
    }
}

/// A 10-digit employer matricola: province (2) + progressive (6) + controcodice (2).
///
/// INPS does not publish the controcodice algorithm, so only the format and the province are
/// checked here; whether the matricola exists is the hub's answer to give.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Matricola([u8; 10]);

impl Matricola {
    /// Parses a matricola; spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, MatricolaError> {
        let s = compact(input, &['-', '/']);
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 10 {
            return Err(MatricolaError::WrongLength { found: chars.len() });
        }
        let mut out = [0u8; 10];
        for (i, &c) in chars.iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(MatricolaError::NotDigit {
                    position: i + 1,
                    found: c,
                });
            }
            out[i] = c as u8;
        }
        let prefix = u16::from(out[0] - b'0') * 10 + u16::from(out[1] - b'0');
        if !sedi::is_known_province(prefix) {
            return Err(MatricolaError::UnknownProvince {
                prefix: s[..2].to_owned(),
            });
        }
        Ok(Matricola(out))
    }

    /// A **synthetic** matricola for demo and test data. Its last two digits are a documented
    /// stand-in (`first 8 digits mod 97`), not INPS's controcodice: see [`Self::is_synthetic`].
    pub fn synthetic(province: u8, progressive: u32) -> Option<Self> {
        if progressive >= 1_000_000 {
            return None;
        }
        let first8 = u64::from(province) * 1_000_000 + u64::from(progressive);
        Self::parse(&format!("{first8:08}{:02}", first8 % 97)).ok()
    }

    /// True when the last two digits follow the synthetic stand-in rule; real matricole may match
    /// it by chance (about 1 in 97), so this only labels generated data.
    pub fn is_synthetic(&self) -> bool {
        let s = self.as_str();
        let first8: u64 = s[..8].parse().expect("digits");
        let cc: u64 = s[8..].parse().expect("digits");
        first8 % 97 == cc
    }

    /// The 10 digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits are ASCII")
    }

    /// The 2-digit province prefix.
    pub fn province(&self) -> u8 {
        (self.0[0] - b'0') * 10 + (self.0[1] - b'0')
    }
}

impl fmt::Display for Matricola {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Matricola {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_str();
        write!(f, "Matricola({}•••••{})", &s[..2], &s[7..])
    }
}

impl TryFrom<String> for Matricola {
    type Error = MatricolaError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Matricola> for String {
    fn from(m: Matricola) -> Self {
        m.as_str().to_owned()
    }
}

impl FromStr for Matricola {
    type Err = MatricolaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_carries_the_ten_digits_and_refuses_anything_else() {
        let m = Matricola::parse("5124776507").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, "\"5124776507\"");
        assert_eq!(serde_json::from_str::<Matricola>(&json).unwrap(), m);
        for bad in ["\"512477650\"", "\"0024776507\"", "\"51247765OX\""] {
            assert!(serde_json::from_str::<Matricola>(bad).is_err(), "{bad}");
        }
        let cf: crate::CodiceFiscale = serde_json::from_str("\"RSSMRA80A01H501U\"").unwrap();
        assert_eq!(serde_json::to_string(&cf).unwrap(), "\"RSSMRA80A01H501U\"");
        assert!(serde_json::from_str::<crate::CodiceFiscale>("\"RSSMRA80A01H501X\"").is_err());
    }

    #[test]
    fn format_and_province_are_checked() {
        let m = Matricola::parse("5124776507").unwrap();
        assert_eq!(m.province(), 51);
        assert_eq!(
            Matricola::parse("512477650"),
            Err(MatricolaError::WrongLength { found: 9 })
        );
        assert_eq!(
            Matricola::parse("51247765O7"),
            Err(MatricolaError::NotDigit {
                position: 9,
                found: 'O'
            })
        );
        assert_eq!(
            Matricola::parse("9924776507").unwrap_err().to_string(),
            "le prime due cifre della matricola (99) non sono una provincia INPS"
        );
    }

    #[test]
    fn synthetic_matricole_are_labelled() {
        let m = Matricola::synthetic(70, 123_456).unwrap();
        assert!(m.as_str().starts_with("70123456"));
        assert!(m.is_synthetic());
        assert!(Matricola::synthetic(99, 1).is_none());
    }
}
