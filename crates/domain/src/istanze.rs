//! *Comunicazioni on-line*: the eleven istanze of the source document, each with its own
//! typed fields, and the checks a submission passes before the hub files it. Shared by the hub
//! (which validates and stores) and the kiosk (which lists them by name).
//!
//! Which istanze can be sent is the hub's to say (some are closed by law or lack of funds);
//! [`DEFAULT_UNAVAILABLE`] is what a new hub starts with.

use std::collections::BTreeMap;

/// What a field holds, and so how it is typed on the phone and checked at the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A month, `YYYY-MM`.
    Period,
    /// A day, `YYYY-MM-DD`.
    Date,
    /// Euro, Italian or plain decimals (`1.234,56`, `1234.56`), more than zero.
    Amount,
    /// An IBAN, checked with its check digits.
    Iban,
    /// A worker's codice fiscale.
    WorkerCf,
    /// A whole number in a range.
    Count {
        /// Smallest.
        min: u32,
        /// Largest.
        max: u32,
    },
    /// One of a list.
    Choice(&'static [&'static str]),
    /// Free text, at most this many characters.
    Text(usize),
}

/// One field of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The form's name for it.
    pub name: &'static str,
    /// Its label, in Italian.
    pub label: &'static str,
    /// Its type.
    pub kind: Kind,
}

/// One istanza of *Comunicazioni on-line*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modulo {
    /// Its code.
    pub code: &'static str,
    /// Its title, as the source document gives it.
    pub title: &'static str,
    /// Its fields, all required.
    pub fields: &'static [Field],
}

const fn f(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field { name, label, kind }
}

const WORKER: Field = f(
    "cf_lavoratore",
    "Codice fiscale del lavoratore",
    Kind::WorkerCf,
);
const HIRED: Field = f("data_assunzione", "Data di assunzione", Kind::Date);
const FROM: Field = f("periodo_dal", "Dal periodo", Kind::Period);
const TO: Field = f("periodo_al", "Al periodo", Kind::Period);
const AMOUNT: Field = f("importo", "Importo (euro)", Kind::Amount);
const REASON: Field = f("motivazione", "Motivazione", Kind::Text(1000));

/// The eleven istanze, in the source document's order.
pub const MODULI: [Modulo; 11] = [
    Modulo {
        code: "assunzione_407",
        title: "Agevolazioni per l'assunzione di lavoratori inoccupati, disoccupati o sospesi da almeno 24 mesi (art. 8, c. 9, L. 407/1990)",
        fields: &[
            WORKER,
            HIRED,
            f(
                "riduzione",
                "Riduzione richiesta",
                Kind::Choice(&["50%", "100%"]),
            ),
        ],
    },
    Modulo {
        code: "mobilita_223",
        title: "Incentivi per l'assunzione di lavoratori iscritti nelle liste di mobilità (L. 223/1991)",
        fields: &[
            WORKER,
            HIRED,
            f(
                "contratto",
                "Contratto",
                Kind::Choice(&[
                    "tempo indeterminato",
                    "tempo determinato",
                    "trasformazione a tempo indeterminato",
                ]),
            ),
        ],
    },
    Modulo {
        code: "ferie_collettive",
        title: "Richiesta di differimento del termine degli adempimenti contributivi per ferie collettive",
        fields: &[
            f("mese_ferie", "Mese delle ferie collettive", Kind::Period),
            REASON,
        ],
    },
    Modulo {
        code: "giovani_genitori",
        title: "Richiesta dell'incentivo per l'assunzione di giovani genitori (D.M. 19 novembre 2010)",
        fields: &[WORKER, HIRED],
    },
    Modulo {
        code: "dilazione",
        title: "Istanza e atto di impegno per il pagamento dilazionato di contributi in fase amministrativa",
        fields: &[
            FROM,
            TO,
            AMOUNT,
            f("rate", "Numero di rate", Kind::Count { min: 2, max: 24 }),
            f("iban", "IBAN per l'addebito delle rate", Kind::Iban),
        ],
    },
    Modulo {
        code: "rimborso",
        title: "Richiesta di rimborso contributi",
        fields: &[
            FROM,
            TO,
            AMOUNT,
            f("iban", "IBAN per l'accredito", Kind::Iban),
            REASON,
        ],
    },
    Modulo {
        code: "riduzione_edilizia",
        title: "Riduzione contributiva edilizia",
        fields: &[
            FROM,
            TO,
            f(
                "operai",
                "Operai a tempo pieno (40 ore)",
                Kind::Count { min: 1, max: 9999 },
            ),
        ],
    },
    Modulo {
        code: "over50_donne",
        title: "Incentivi per l'assunzione di ultracinquantenni e donne (art. 4, c. 8-11, L. 92/2012)",
        fields: &[
            WORKER,
            HIRED,
            f(
                "categoria",
                "Categoria",
                Kind::Choice(&[
                    "ultracinquantenne disoccupato da oltre 12 mesi",
                    "donna priva di impiego da almeno 24 mesi",
                    "donna priva di impiego da almeno 6 mesi in area svantaggiata",
                ]),
            ),
        ],
    },
    Modulo {
        code: "licenziati_gmo",
        title: "Domanda di ammissione agli incentivi per l'impiego di lavoratori licenziati per giustificato motivo oggettivo (D.D. 264/2013 e 390/2013)",
        fields: &[
            WORKER,
            HIRED,
            f("data_licenziamento", "Data del licenziamento", Kind::Date),
        ],
    },
    Modulo {
        code: "rappresentanza_sindacale",
        title: "Rappresentanza sindacale",
        fields: &[
            f("sigla", "Organizzazione sindacale", Kind::Text(120)),
            f("ccnl", "Contratto collettivo applicato", Kind::Text(120)),
            f("periodo", "Periodo", Kind::Period),
            f(
                "iscritti",
                "Lavoratori iscritti",
                Kind::Count { min: 1, max: 99999 },
            ),
        ],
    },
    Modulo {
        code: "compensazione",
        title: "Richiesta di compensazione contributi",
        fields: &[
            f("periodo_credito", "Periodo del credito", Kind::Period),
            f("periodo_debito", "Periodo del debito", Kind::Period),
            AMOUNT,
            REASON,
        ],
    },
];

/// Closed when a hub starts: the source document says some can no longer be sent, for
/// repeal or lack of funds. Administrators change this in the console.
pub const DEFAULT_UNAVAILABLE: [(&str, &str); 4] = [
    (
        "assunzione_407",
        "Agevolazione abrogata dal 1° gennaio 2015 (L. 190/2014).",
    ),
    (
        "mobilita_223",
        "Incentivo abrogato dal 1° gennaio 2017 (L. 92/2012).",
    ),
    ("giovani_genitori", "Fondi esauriti."),
    ("licenziati_gmo", "Fondi esauriti."),
];

/// The states of an istanza, in order; the last three are outcomes.
pub const STATES: [&str; 6] = [
    "inviata",
    "protocollata",
    "in_istruttoria",
    "accolta",
    "accolta_parzialmente",
    "respinta",
];

/// The state of an istanza, from its sending to the sede's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IstanzaState {
    /// Sent from the visitor's phone.
    Inviata,
    /// Registered by the sede.
    Protocollata,
    /// Being examined.
    InIstruttoria,
    /// Granted.
    Accolta,
    /// Granted in part.
    AccoltaParzialmente,
    /// Refused.
    Respinta,
}

impl IstanzaState {
    /// Every state, in order (as [`STATES`]).
    pub const ALL: [IstanzaState; 6] = [
        Self::Inviata,
        Self::Protocollata,
        Self::InIstruttoria,
        Self::Accolta,
        Self::AccoltaParzialmente,
        Self::Respinta,
    ];

    /// The stable name in storage and on the wire.
    pub fn name(self) -> &'static str {
        STATES[self as usize]
    }

    /// Inverse of [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The state in Italian words.
    pub fn words(self) -> &'static str {
        match self {
            Self::Inviata => "inviata",
            Self::Protocollata => "protocollata",
            Self::InIstruttoria => "in istruttoria",
            Self::Accolta => "accolta",
            Self::AccoltaParzialmente => "accolta parzialmente",
            Self::Respinta => "respinta",
        }
    }

    /// The state as visitors read it, translatable.
    pub fn label(self) -> i18n::Message {
        match self {
            Self::Inviata => i18n::msg!("inviata"),
            Self::Protocollata => i18n::msg!("protocollata"),
            Self::InIstruttoria => i18n::msg!("in istruttoria"),
            Self::Accolta => i18n::msg!("accolta"),
            Self::AccoltaParzialmente => i18n::msg!("accolta parzialmente"),
            Self::Respinta => i18n::msg!("respinta"),
        }
    }
}

/// A state in words.
pub fn state_words(state: &str) -> &'static str {
    IstanzaState::from_name(state).map_or("sconosciuto", IstanzaState::words)
}

/// The module of `code`.
pub fn modulo(code: &str) -> Option<&'static Modulo> {
    MODULI.iter().find(|m| m.code == code)
}

/// Euro cents from `1.234,56`, `1234,56` or `1234.56`.
pub fn parse_amount(input: &str) -> Option<i64> {
    let s: String = input
        .trim()
        .trim_start_matches('€')
        .trim()
        .chars()
        .filter(|c| *c != ' ')
        .collect();
    // The last separator with one or two digits after it is the decimal one.
    let (int, dec) = match s.rfind([',', '.']) {
        Some(i) if s.len() - i - 1 <= 2 && s.len() - i > 1 => (&s[..i], &s[i + 1..]),
        _ => (s.as_str(), ""),
    };
    let digits: String = int.chars().filter(|c| *c != '.' && *c != ',').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 9 {
        return None;
    }
    if !dec.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let cents = match dec.len() {
        0 => 0,
        1 => dec.parse::<i64>().ok()? * 10,
        _ => dec.parse::<i64>().ok()?,
    };
    Some(digits.parse::<i64>().ok()? * 100 + cents)
}

/// Checks one value, giving its normal form or the reason in Italian.
pub fn check_field(field: &Field, raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let label = field.label;
    if v.is_empty() {
        return Err(format!("Manca «{label}»."));
    }
    match field.kind {
        Kind::Period => chrono::NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| v.len() == 7)
            .map(|_| v.to_owned())
            .ok_or_else(|| {
                format!("«{label}»: indichi il mese come AAAA-MM, per esempio 2026-03.")
            }),
        Kind::Date => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .map_err(|_| format!("«{label}»: la data non esiste.")),
        Kind::Amount => match parse_amount(v) {
            Some(c) if c > 0 => Ok(format!("{}.{:02}", c / 100, c % 100)),
            _ => Err(format!(
                "«{label}»: scriva un importo in euro maggiore di zero, per esempio 1.234,56."
            )),
        },
        Kind::Iban => {
            let compact: String = v
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase();
            compact
                .parse::<iban::Iban>()
                .map(|i| iban::IbanLike::electronic_str(&i).to_owned())
                .map_err(|_| {
                    format!("«{label}»: l'IBAN non è valido (controlli le cifre e la lunghezza).")
                })
        }
        Kind::WorkerCf => crate::PersonalCf::parse(v)
            .map(|cf| cf.as_str().to_owned())
            .map_err(|e| format!("«{label}»: {e}.")),
        Kind::Count { min, max } => v
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(|n| n.to_string())
            .ok_or_else(|| format!("«{label}»: un numero da {min} a {max}.")),
        Kind::Choice(options) => options
            .iter()
            .find(|o| **o == v)
            .map(|o| (*o).to_owned())
            .ok_or_else(|| format!("«{label}»: scelga una delle voci.")),
        Kind::Text(max) => {
            if v.chars().count() > max {
                Err(format!("«{label}»: al massimo {max} caratteri."))
            } else {
                Ok(v.to_owned())
            }
        }
    }
}

/// Checks a whole submission: every field, and the rules across fields (a period range in
/// order). The normal forms, or the reasons.
pub fn check(
    modulo: &Modulo,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for field in modulo.fields {
        match check_field(field, values.get(field.name).map_or("", String::as_str)) {
            Ok(v) => {
                out.insert(field.name.to_owned(), v);
            }
            Err(e) => errors.push(e),
        }
    }
    if let (Some(from), Some(to)) = (out.get("periodo_dal"), out.get("periodo_al"))
        && from > to
    {
        errors.push("«Al periodo» viene prima di «Dal periodo».".into());
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istanza_states_are_the_stored_names_in_order() {
        assert_eq!(IstanzaState::ALL.map(IstanzaState::name), STATES);
        for s in IstanzaState::ALL {
            assert_eq!(IstanzaState::from_name(s.name()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
        assert_eq!(state_words("in_istruttoria"), "in istruttoria");
        assert_eq!(state_words("boh"), "sconosciuto");
    }

    #[test]
    fn eleven_modules_with_unique_codes_and_fields() {
        let codes: std::collections::BTreeSet<_> = MODULI.iter().map(|m| m.code).collect();
        assert_eq!(codes.len(), 11);
        for m in &MODULI {
            let names: std::collections::BTreeSet<_> = m.fields.iter().map(|f| f.name).collect();
            assert_eq!(names.len(), m.fields.len(), "{}", m.code);
        }
        for (code, _) in DEFAULT_UNAVAILABLE {
            assert!(modulo(code).is_some(), "{code}");
        }
    }

    #[test]
    fn amounts_read_the_italian_way_and_the_plain_way() {
        assert_eq!(parse_amount("1.234,56"), Some(123_456));
        assert_eq!(parse_amount("1234,5"), Some(123_450));
        assert_eq!(parse_amount("1234.56"), Some(123_456));
        assert_eq!(
            parse_amount("€ 12.000"),
            Some(1_200_000),
            "thousands, no cents"
        );
        assert_eq!(parse_amount("12"), Some(1_200));
        assert_eq!(
            parse_amount("12,345"),
            Some(1_234_500),
            "a thousands separator"
        );
        assert_eq!(parse_amount("dodici"), None);
        assert_eq!(parse_amount("-5"), None);
        assert_eq!(parse_amount(""), None);
    }

    #[test]
    fn each_kind_refuses_what_it_should() {
        let check = |kind, v: &str| check_field(&f("x", "X", kind), v);
        assert_eq!(check(Kind::Period, "2026-03"), Ok("2026-03".into()));
        assert!(check(Kind::Period, "2026-13").is_err());
        assert!(check(Kind::Period, "03/2026").is_err());
        assert!(check(Kind::Date, "2026-02-30").is_err());
        assert_eq!(
            check(Kind::Iban, "it60 x054 2811 1010 0000 0123 456"),
            Ok("IT60X0542811101000000123456".into())
        );
        assert!(
            check(Kind::Iban, "IT61X0542811101000000123456").is_err(),
            "check digits"
        );
        assert!(
            check(Kind::Iban, "IT60X054281110100000012345").is_err(),
            "length"
        );
        assert!(check(Kind::WorkerCf, "RSSMRA80A01H501U").is_ok());
        assert!(check(Kind::WorkerCf, "RSSMRA80A01H501X").is_err());
        assert!(check(Kind::Count { min: 2, max: 24 }, "25").is_err());
        assert!(check(Kind::Choice(&["a", "b"]), "c").is_err());
        assert!(check(Kind::Text(3), "abcd").is_err());
        assert!(check(Kind::Amount, "0,00").is_err());
        assert!(check(Kind::Text(3), " ").unwrap_err().contains("Manca"));
    }

    #[test]
    fn period_ranges_run_forward() {
        let m = modulo("riduzione_edilizia").unwrap();
        let values: BTreeMap<String, String> = [
            ("periodo_dal", "2026-05"),
            ("periodo_al", "2026-01"),
            ("operai", "4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(check(m, &values).unwrap_err()[0].contains("viene prima"));
    }
}
