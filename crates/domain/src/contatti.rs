//! Area Contatti: where a request to the sede stands, and which way a message went.

use serde::{Deserialize, Serialize};

/// The state of a request to the sede.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Sent, nobody has answered yet.
    Aperta,
    /// An operator answered or took it.
    PresaInCarico,
    /// Closed by the sede.
    Chiusa,
}

impl RequestState {
    /// Every state, in order.
    pub const ALL: [RequestState; 3] = [Self::Aperta, Self::PresaInCarico, Self::Chiusa];

    /// The stable name in storage and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aperta => "aperta",
            Self::PresaInCarico => "presa_in_carico",
            Self::Chiusa => "chiusa",
        }
    }

    /// Inverse of [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Still waiting for the sede (not closed).
    pub fn is_open(self) -> bool {
        self != Self::Chiusa
    }

    /// The state as visitors read it, translatable.
    pub fn label(self) -> i18n::Message {
        match self {
            Self::Aperta => i18n::msg!("aperta"),
            Self::PresaInCarico => i18n::msg!("presa in carico"),
            Self::Chiusa => i18n::msg!("chiusa"),
        }
    }
}

/// Which way a message of a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the visitor to the sede.
    In,
    /// From the sede to the visitor.
    Out,
}

impl Direction {
    /// The stable name in storage and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_wire() {
        for s in RequestState::ALL {
            assert_eq!(RequestState::from_name(s.name()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
        assert_eq!(RequestState::from_name("sospesa"), None);
        for d in [Direction::In, Direction::Out] {
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.name())
            );
        }
        assert!(serde_json::from_str::<Direction>("\"sideways\"").is_err());
    }
}
