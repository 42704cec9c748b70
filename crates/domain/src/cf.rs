//! Codice fiscale: the 16-character code of natural persons and the 11-digit code of companies.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use chrono::NaiveDate;

use super::{PartitaIva, PivaError, UserMessage, compact};

/// Letters that replace the digits 0–9 in an omocodia substitution.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
/// 0-based positions that may carry an omocodia letter instead of a digit.
const OMOCODIA_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
/// Month letters, January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Value of a character in an odd (1-based) position, indexed by digit or letter A=0…Z=25.
const ODD_VALUES: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Why a codice fiscale was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CfError {
    /// Neither 16 characters (person) nor 11 digits (company).
    #[error("il codice fiscale deve avere 16 caratteri, o 11 cifre per un'azienda (ne ha {found})")]
    WrongLength {
        /// How many characters were given, after removing spaces.
        found: usize,
    },
    /// A character not allowed at that place.
    #[error("il carattere «{found}» in posizione {position} non è ammesso")]
    InvalidCharacter {
        /// 1-based position.
        position: usize,
        /// The character found there.
        found: char,
    },
    /// The ninth character is not one of the month letters.
    #[error("la lettera del mese «{found}» non esiste (sono ammesse A B C D E H L M P R S T)")]
    InvalidMonth {
        /// The letter found.
        found: char,
    },
    /// The day of birth does not exist in that month.
    #[error("la data di nascita nel codice fiscale non esiste")]
    InvalidDate,
    /// The last character does not match the other fifteen.
    #[error("il carattere di controllo non corrisponde: il codice è stato digitato male")]
    CheckCharMismatch {
        /// The check character the first 15 characters give.
        expected: char,
        /// The check character that was typed.
        found: char,
    },
    /// An 11-digit code that is not a valid company code.
    #[error(transparent)]
    Company(#[from] PivaError),
}

impl UserMessage for CfError {
    fn message_key(&self) -> &'static str {
        match self {
            CfError::WrongLength { .. } => "cf-wrong-length",
            CfError::InvalidCharacter { .. } => "cf-invalid-character",
            CfError::InvalidMonth { .. } => "cf-invalid-month",
            CfError::InvalidDate => "cf-invalid-date",
            CfError::CheckCharMismatch { .. } => "cf-check-mismatch",
            CfError::Company(e) => e.message_key(),
        }
    }
}

/// Sex as encoded in a personal codice fiscale (women have 40 added to the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// Maschio.
    Male,
    /// Femmina.
    Female,
}

/// Birth data decoded from a personal codice fiscale. The year has two digits only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birth {
    /// Two-digit year, 0–99.
    pub year_2d: u8,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Sex.
    pub sex: Sex,
}

impl Birth {
    /// The birth date, with the century chosen so that the year falls in
    /// `[min_year, min_year + 100)`. The code itself cannot tell 1923 from 2023; callers pick
    /// the window that fits their population (python-stdnum uses 1920).
    pub fn date_in_window(&self, min_year: i32) -> Option<NaiveDate> {
        let offset = (i32::from(self.year_2d) - min_year).rem_euclid(100);
        NaiveDate::from_ymd_opt(min_year + offset, self.month.into(), self.day.into())
    }
}

/// Codice fiscale of a natural person: 16 characters, possibly with omocodia letters.
///
/// Equality and hashing are *modulo omocodia*: `RSSMRA45C12F205C` equals `RSSMRAQRCMNFNLRG`,
/// because both name the same person's base code.
#[derive(Clone, Copy)]
pub struct PersonalCf {
    /// As issued (upper case), omocodia letters kept.
    code: [u8; 16],
}

impl PersonalCf {
    /// Parses a personal code; spaces are ignored and letters may be lower case.
    pub fn parse(input: &str) -> Result<Self, CfError> {
        let s = compact(input, &[]);
        let bytes = s.as_bytes();
        if bytes.len() != 16 || !s.is_ascii() {
            return Err(CfError::WrongLength {
                found: s.chars().count(),
            });
        }
        let mut code = [0u8; 16];
        code.copy_from_slice(bytes);
        for (i, &c) in code.iter().enumerate() {
            let ok = if OMOCODIA_POSITIONS.contains(&i) {
                c.is_ascii_digit() || OMOCODIA.contains(&c)
            } else {
                c.is_ascii_uppercase()
            };
            if !ok {
                return Err(CfError::InvalidCharacter {
                    position: i + 1,
                    found: c as char,
                });
            }
        }
        let cf = PersonalCf { code };
        let birth = cf.decode_birth()?;
        // Two-digit years ending in 00 may be 1900 (not leap) or 2000 (leap): accept 29 February
        // when any century makes the date real.
        let leap_year = if birth.year_2d % 4 == 0 { 2000 } else { 2001 };
        if NaiveDate::from_ymd_opt(leap_year, birth.month.into(), birth.day.into()).is_none() {
            return Err(CfError::InvalidDate);
        }
        let expected = check_char(&code[..15]);
        if expected != code[15] {
            return Err(CfError::CheckCharMismatch {
                expected: expected as char,
                found: code[15] as char,
            });
        }
        Ok(cf)
    }

    /// Completes the first 15 characters with their check character; for generated data.
    pub fn from_first15(first15: &str) -> Result<Self, CfError> {
        let s = compact(first15, &[]);
        if s.len() != 15 || !s.is_ascii() {
            return Err(CfError::WrongLength {
                found: s.chars().count() + 1,
            });
        }
        let check = check_char(s.as_bytes());
        if !check.is_ascii_uppercase() {
            return Err(CfError::InvalidCharacter {
                position: 16,
                found: check as char,
            });
        }
        Self::parse(&format!("{s}{}", check as char))
    }

    /// The code as issued.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.code).expect("parsed codes are ASCII")
    }

    /// The base code: omocodia letters turned back into digits and the check character
    /// recomputed. Two codes of the same person have the same base code.
    pub fn base(&self) -> PersonalCf {
        let mut code = self.code;
        for &i in &OMOCODIA_POSITIONS {
            code[i] = decode_digit(code[i]);
        }
        code[15] = check_char(&code[..15]);
        PersonalCf { code }
    }

    /// True when at least one digit was replaced by an omocodia letter.
    pub fn is_omocode(&self) -> bool {
        OMOCODIA_POSITIONS
            .iter()
            .any(|&i| self.code[i].is_ascii_uppercase())
    }

    /// Applies the next omocodia substitution, from the right, as the Agenzia delle Entrate does;
    /// `None` once all seven positions carry letters.
    pub fn next_omocode(&self) -> Option<PersonalCf> {
        let &i = OMOCODIA_POSITIONS
            .iter()
            .rev()
            .find(|&&i| self.code[i].is_ascii_digit())?;
        let mut code = self.code;
        code[i] = OMOCODIA[usize::from(code[i] - b'0')];
        code[15] = check_char(&code[..15]);
        Some(PersonalCf { code })
    }

    /// Birth data, with omocodia letters decoded.
    pub fn birth(&self) -> Birth {
        self.decode_birth().expect("checked when parsed")
    }

    /// The place-of-birth code (Belfiore), with omocodia letters decoded; `Z…` is abroad.
    pub fn place_code(&self) -> String {
        let base = self.base();
        String::from_utf8_lossy(&base.code[11..15]).into_owned()
    }

    fn decode_birth(&self) -> Result<Birth, CfError> {
        let digit = |i: usize| decode_digit(self.code[i]) - b'0';
        let year_2d = digit(6) * 10 + digit(7);
        let month_letter = self.code[8];
        let month =
            MONTHS
                .iter()
                .position(|&m| m == month_letter)
                .ok_or(CfError::InvalidMonth {
                    found: month_letter as char,
                })?;
        let raw_day = digit(9) * 10 + digit(10);
        let (day, sex) = match raw_day {
            1..=31 => (raw_day, Sex::Male),
            41..=71 => (raw_day - 40, Sex::Female),
            _ => return Err(CfError::InvalidDate),
        };
        Ok(Birth {
            year_2d,
            month: month as u8 + 1,
            day,
            sex,
        })
    }
}

/// Check character of the first 15 characters of a personal code.
pub(crate) fn check_char(first15: &[u8]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let index = if c.is_ascii_digit() {
                c - b'0'
            } else {
                c - b'A'
            };
            u32::from(if i % 2 == 0 {
                ODD_VALUES[usize::from(index)]
            } else {
                index
            })
        })
        .sum();
    b'A' + (sum % 26) as u8
}

fn decode_digit(c: u8) -> u8 {
    match OMOCODIA.iter().position(|&l| l == c) {
        Some(d) => b'0' + d as u8,
        None => c,
    }
}

impl PartialEq for PersonalCf {
    fn eq(&self, other: &Self) -> bool {
        self.base().code == other.base().code
    }
}

impl Eq for PersonalCf {}

impl Hash for PersonalCf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.base().code.hash(state);
    }
}

impl fmt::Display for PersonalCf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PersonalCf {
    // Never print a whole personal code by accident (logs, panics): mask the middle.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_str();
        write!(f, "PersonalCf({}•••••••••{})", &s[..3], &s[12..])
    }
}

impl FromStr for PersonalCf {
    type Err = CfError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A codice fiscale as accepted in a "codice fiscale" field: a person's 16 characters, or the
/// 11 digits of a company (which equal its partita IVA when it has one). Sole traders use the
/// owner's personal code, so a company field must take both forms.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CodiceFiscale {
    /// Natural person (or sole trader).
    Personal(PersonalCf),
    /// Company, association or public body.
    Numeric(PartitaIva),
}

impl CodiceFiscale {
    /// Parses either form; spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, CfError> {
        let s = compact(input, &[]);
        if s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(CodiceFiscale::Numeric(PartitaIva::parse(&s)?));
        }
        Ok(CodiceFiscale::Personal(PersonalCf::parse(&s)?))
    }

    /// Text form, as issued.
    pub fn as_str(&self) -> &str {
        match self {
            CodiceFiscale::Personal(p) => p.as_str(),
            CodiceFiscale::Numeric(n) => n.as_str(),
        }
    }

    /// The form that identifies the subject regardless of omocodia; what pseudonymous keys hash.
    pub fn canonical(&self) -> String {
        match self {
            CodiceFiscale::Personal(p) => p.base().as_str().to_owned(),
            CodiceFiscale::Numeric(n) => n.as_str().to_owned(),
        }
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodiceFiscale::Personal(p) => fmt::Debug::fmt(p, f),
            CodiceFiscale::Numeric(n) => fmt::Debug::fmt(n, f),
        }
    }
}

impl TryFrom<String> for CodiceFiscale {
    type Error = CfError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CodiceFiscale> for String {
    fn from(c: CodiceFiscale) -> Self {
        c.as_str().to_owned()
    }
}

impl FromStr for CodiceFiscale {
    type Err = CfError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_vectors_parse_with_their_birth_data() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        for (code, sex, date) in [
            ("RCCMNL83S18D969H", Sex::Male, d(1983, 11, 18)),
            ("MRTNTN23M02D969P", Sex::Male, d(1923, 8, 2)),
            ("CNTCHR83T41D969D", Sex::Female, d(1983, 12, 1)),
            ("MRSMSR81D60Z611H", Sex::Female, d(1981, 4, 20)),
            ("RSSMRA45C12F205C", Sex::Male, d(1945, 3, 12)),
        ] {
            let cf = PersonalCf::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(cf.birth().sex, sex, "{code}");
            assert_eq!(cf.birth().date_in_window(1920), Some(date), "{code}");
        }
        assert!(PersonalCf::parse("FOXDRA26C24H872Y").is_ok());
        assert!(PersonalCf::parse("MAILCU91A25F839D").is_ok());
        assert_eq!(
            PersonalCf::parse("MRSMSR81D60Z611H").unwrap().place_code(),
            "Z611"
        );
    }

    #[test]
    fn omocodie_are_valid_and_equal_to_the_base_code() {
        let base = PersonalCf::parse("RSSMRA45C12F205C").unwrap();
        let published = [
            "RSSMRA45C12F20RX",
            "RSSMRA45C12F2LRI",
            "RSSMRA45C12FNLRX",
            "RSSMRA45C1NFNLRM",
            "RSSMRA45CMNFNLRX",
            "RSSMRA4RCMNFNLRJ",
            "RSSMRAQRCMNFNLRG",
        ];
        let mut generated = base;
        for code in published {
            let cf = PersonalCf::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(cf, base);
            assert!(cf.is_omocode());
            assert_eq!(
                cf.birth().date_in_window(1920),
                NaiveDate::from_ymd_opt(1945, 3, 12)
            );
            generated = generated.next_omocode().unwrap();
            assert_eq!(generated.as_str(), code);
        }
        assert!(generated.next_omocode().is_none());
        let odd = PersonalCf::parse("RSSMRA45C12F2L5N").unwrap();
        assert_eq!(odd, base);
        assert_eq!(odd.base().as_str(), "RSSMRA45C12F205C");
    }

    #[test]
    fn invalid_vectors_say_what_is_wrong() {
        assert_eq!(
            PersonalCf::parse("FOXDRA26C24H872A"),
            Err(CfError::CheckCharMismatch {
                expected: 'Y',
                found: 'A'
            })
        );
        assert_eq!(
            PersonalCf::parse("CSTNGL22I10D086I"),
            Err(CfError::InvalidMonth { found: 'I' })
        );
        assert_eq!(
            PersonalCf::parse("CNTCHR83T32D969H"),
            Err(CfError::InvalidDate)
        );
        assert_eq!(
            PersonalCf::parse("RCCMNL83S18D969"),
            Err(CfError::WrongLength { found: 15 })
        );
        assert_eq!(
            PersonalCf::parse("RCCMNL83S18D96AH"),
            Err(CfError::InvalidCharacter {
                position: 15,
                found: 'A'
            })
        );
        let e = PersonalCf::parse("FOXDRA26C24H872A").unwrap_err();
        assert_eq!(e.message_key(), "cf-check-mismatch");
        assert!(
            e.to_string()
                .contains("il carattere di controllo non corrisponde")
        );
        assert!(
            PersonalCf::parse("RSSMRA45C30B205X").is_err(),
            "30 February"
        );
    }

    #[test]
    fn check_characters_match_the_published_computations() {
        assert_eq!(check_char(b"BNCSFN85T58G702"), b'W');
        assert_eq!(check_char(b"RSSMRA80A01H501"), b'U');
    }

    #[test]
    fn input_is_normalised_and_debug_masks_the_code() {
        let cf = PersonalCf::parse(" rccmnl83s18 d969h ").unwrap();
        assert_eq!(cf.as_str(), "RCCMNL83S18D969H");
        let dbg = format!("{cf:?}");
        assert!(!dbg.contains("RCCMNL83S18D969H"));
    }

    #[test]
    fn codice_fiscale_takes_both_forms() {
        assert!(matches!(
            CodiceFiscale::parse("00743110157"),
            Ok(CodiceFiscale::Numeric(_))
        ));
        assert!(matches!(
            CodiceFiscale::parse("RCCMNL83S18D969H"),
            Ok(CodiceFiscale::Personal(_))
        ));
        assert!(matches!(
            CodiceFiscale::parse("00743110158"),
            Err(CfError::Company(_))
        ));
        assert_eq!(
            CodiceFiscale::parse("RSSMRAQRCMNFNLRG")
                .unwrap()
                .canonical(),
            "RSSMRA45C12F205C"
        );
    }
}
