//! INPS offices (sedi): the 4-digit codice sede and the official table of codes and names.

use std::fmt;
use std::str::FromStr;

use super::{UserMessage, compact};

/// Why a codice sede was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SedeError {
    /// Not 3 or 4 digits.
    #[error("il codice sede INPS ha 4 cifre")]
    WrongFormat,
    /// The first two digits are not a province of the INPS table.
    #[error("il codice sede «{code}» non corrisponde a nessuna provincia INPS")]
    UnknownProvince {
        /// The code as typed.
        code: String,
    },
}

impl UserMessage for SedeError {
    fn message_key(&self) -> &'static str {
        match self {
            SedeError::WrongFormat => "sede-wrong-format",
            SedeError::UnknownProvince { .. } => "sede-unknown-province",
        }
    }
}

/// A 4-digit codice sede INPS. The first two digits are the province, the last two the office
/// within it (00 = provincial seat). The code alone does not name one office: see [`Sede`].
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SedeCode(u16);

impl TryFrom<String> for SedeCode {
    type Error = SedeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SedeCode> for String {
    fn from(c: SedeCode) -> Self {
        c.to_string()
    }
}

impl SedeCode {
    /// Parses 4 digits; 3 digits are zero-padded as the F24 table prints them (`100` → `0100`).
    pub fn parse(input: &str) -> Result<Self, SedeError> {
        let s = compact(input, &[]);
        if !(3..=4).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SedeError::WrongFormat);
        }
        let n: u16 = s.parse().map_err(|_| SedeError::WrongFormat)?;
        if !sedi::is_known_province(n / 100) {
            return Err(SedeError::UnknownProvince {
                code: format!("{n:04}"),
            });
        }
        Ok(SedeCode(n))
    }

    /// The code as a number (0–9999).
    pub fn get(self) -> u16 {
        self.0
    }

    /// Builds a code from its number, checking the province.
    pub fn from_u16(n: u16) -> Result<Self, SedeError> {
        Self::parse(&format!("{n:04}"))
    }

    /// The 2-digit province prefix, shared with the matricole of that province.
    pub fn province(self) -> u8 {
        (self.0 / 100) as u8
    }
}

impl fmt::Display for SedeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl fmt::Debug for SedeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SedeCode({:04})", self.0)
    }
}

impl FromStr for SedeCode {
    type Err = SedeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An INPS office: code *and* name, because the official table lists 8103 twice
/// (Torino Nord and Torino Sud).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Sede {
    /// Codice sede.
    pub code: SedeCode,
    /// Name as in the official table.
    pub name: String,
}

impl fmt::Display for Sede {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.name)
    }
}

/// The table of INPS offices ("Tabella codici sede INPS" of the Agenzia delle Entrate, used for
/// the F24). Compiled in: it changes a few times a decade.
pub mod sedi {
    use std::sync::OnceLock;

    use super::{Sede, SedeCode};

    const TABLE: &str = include_str!("sedi.tsv");

    fn rows() -> &'static [(u16, &'static str)] {
        static ROWS: OnceLock<Vec<(u16, &'static str)>> = OnceLock::new();
        ROWS.get_or_init(|| {
            TABLE
                .lines()
                .filter_map(|line| {
                    let (code, name) = line.split_once('\t')?;
                    Some((code.parse().ok()?, name))
                })
                .collect()
        })
    }

    /// True when some office of the table has this 2-digit province prefix.
    pub fn is_known_province(prefix: u16) -> bool {
        rows().iter().any(|&(code, _)| code / 100 == prefix)
    }

    /// Every office in the table, in table order.
    pub fn all() -> impl Iterator<Item = Sede> {
        rows().iter().map(|&(code, name)| Sede {
            code: SedeCode(code),
            name: name.to_owned(),
        })
    }

    /// Every office with this code: usually one, two for 8103, none for codes not in use.
    pub fn with_code(code: SedeCode) -> impl Iterator<Item = Sede> {
        all().filter(move |s| s.code == code)
    }

    /// The office with this code and name, if the table has it.
    pub fn find(code: SedeCode, name: &str) -> Option<Sede> {
        with_code(code).find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_four_digits_with_a_known_province() {
        assert_eq!(SedeCode::parse("100").unwrap().to_string(), "0100");
        assert_eq!(SedeCode::parse("7001").unwrap().province(), 70);
        assert_eq!(SedeCode::parse("70O1"), Err(SedeError::WrongFormat));
        assert_eq!(SedeCode::parse("12345"), Err(SedeError::WrongFormat));
        assert!(matches!(
            SedeCode::parse("9900"),
            Err(SedeError::UnknownProvince { .. })
        ));
    }

    #[test]
    fn the_table_keys_offices_by_code_and_name() {
        let torino: Vec<_> = sedi::with_code(SedeCode::parse("8103").unwrap()).collect();
        assert_eq!(torino.len(), 2);
        assert!(sedi::find(SedeCode::parse("8103").unwrap(), "Torino Sud").is_some());
        assert_eq!(
            sedi::with_code(SedeCode::parse("5105").unwrap())
                .next()
                .unwrap()
                .name,
            "Napoli Vomero"
        );
        assert!(sedi::all().count() > 190);
        assert_eq!(
            sedi::all().filter(|s| s.code.get() % 100 == 0).count(),
            94,
            "one provincial seat per province"
        );
    }
}
