//! People: pseudonymous keys, delegate roles and the INPS priority categories.

use std::fmt;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use super::CodiceFiscale;

/// Pseudonymous key of a person: the first 8 bytes of HMAC-SHA256 over the canonical codice
/// fiscale, with a secret the hub and its kiosks share. Lets a kiosk check a typed codice fiscale
/// against a booking, and keep check-in logs, without holding the code itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonKey(pub [u8; 8]);

impl fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Computes [`PersonKey`]s with the branch's secret.
#[derive(Clone)]
pub struct PersonKeyer {
    mac: hmac::Hmac<sha2::Sha256>,
}

impl PersonKeyer {
    /// A keyer over `secret` (at least 16 bytes: shorter secrets make the pseudonyms guessable).
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.len() < 16 {
            return None;
        }
        Some(Self {
            mac: hmac::Hmac::new_from_slice(secret).ok()?,
        })
    }

    /// The key of a person; omocodia variants of one code give the same key.
    pub fn key(&self, cf: &CodiceFiscale) -> PersonKey {
        let mut mac = self.mac.clone();
        mac.update(b"sportello-person-v1\0");
        mac.update(cf.canonical().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut key = [0u8; 8];
        key.copy_from_slice(&out[..8]);
        PersonKey(key)
    }
}

impl fmt::Debug for PersonKeyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonKeyer(..)")
    }
}

/// Categories with preferential access to the sportello (INPS msg 16868/2011).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityCategory {
    /// Donne in stato di gravidanza.
    Pregnancy,
    /// Persone con disabilità o a mobilità ridotta.
    Disability,
    /// Genitori con figli di età inferiore a un anno.
    ParentOfInfant,
}

impl PriorityCategory {
    /// Every category, in the order the kiosk lists them.
    pub const ALL: [PriorityCategory; 3] =
        [Self::Pregnancy, Self::Disability, Self::ParentOfInfant];

    /// Stable name used in storage.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pregnancy => "pregnancy",
            Self::Disability => "disability",
            Self::ParentOfInfant => "parent_of_infant",
        }
    }

    /// Inverse of [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The visitor's role towards the company (INPS controlled vocabulary `tipo_delegato`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TipoDelegato {
    /// 01 Cittadino.
    Cittadino,
    /// 02 Patronato.
    Patronato,
    /// 03 Consulente / commercialista.
    ConsulenteCommercialista,
    /// 04 Associazione di categoria.
    AssociazioneDiCategoria,
    /// 05 Azienda (legal representative or staff profiled by the company).
    Azienda,
    /// 06 Amministrazione e enti pubblici.
    AmministrazioneEntiPubblici,
    /// 07 Associazione categoria datori di lavoro domestico.
    AssociazioneDatoriLavoroDomestico,
}

impl TipoDelegato {
    /// Every role, in code order.
    pub const ALL: [TipoDelegato; 7] = [
        Self::Cittadino,
        Self::Patronato,
        Self::ConsulenteCommercialista,
        Self::AssociazioneDiCategoria,
        Self::Azienda,
        Self::AmministrazioneEntiPubblici,
        Self::AssociazioneDatoriLavoroDomestico,
    ];

    /// The two-digit INPS code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Cittadino => "01",
            Self::Patronato => "02",
            Self::ConsulenteCommercialista => "03",
            Self::AssociazioneDiCategoria => "04",
            Self::Azienda => "05",
            Self::AmministrazioneEntiPubblici => "06",
            Self::AssociazioneDatoriLavoroDomestico => "07",
        }
    }

    /// From the two-digit INPS code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_keys_are_stable_secret_dependent_and_omocodia_blind() {
        let keyer = PersonKeyer::new(b"0123456789abcdef0123").unwrap();
        let base = CodiceFiscale::parse("RSSMRA45C12F205C").unwrap();
        let omo = CodiceFiscale::parse("RSSMRAQRCMNFNLRG").unwrap();
        let other = CodiceFiscale::parse("RCCMNL83S18D969H").unwrap();
        assert_eq!(keyer.key(&base), keyer.key(&omo));
        assert_ne!(keyer.key(&base), keyer.key(&other));
        let keyer2 = PersonKeyer::new(b"another secret of 16+").unwrap();
        assert_ne!(keyer.key(&base), keyer2.key(&base));
        assert!(PersonKeyer::new(b"short").is_none());
    }

    #[test]
    fn tipo_delegato_codes() {
        for t in TipoDelegato::ALL {
            assert_eq!(TipoDelegato::from_code(t.code()), Some(t));
        }
        assert_eq!(
            TipoDelegato::from_code("03"),
            Some(TipoDelegato::ConsulenteCommercialista)
        );
        assert_eq!(TipoDelegato::from_code("08"), None);
        for c in PriorityCategory::ALL {
            assert_eq!(PriorityCategory::from_name(c.name()), Some(c));
        }
    }
}
