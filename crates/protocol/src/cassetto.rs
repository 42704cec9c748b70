//! The *Cassetto Previdenziale Aziende* summary of one matricola, as the hub sends it to the
//! kiosk for an identified delegate: never stored at the kiosk, only shown. Minimised for a
//! lobby: aggregates and states, no workers, third parties by name and role
//! only. Amounts are euro cents; periods are months. The figures add up as the real ones do
//! (a month's difference is an inadempienza, its sanzioni are difference × rate × days / 365,
//! a note di rettifica totals both); the demo generator keeps to that.

use chrono::{Datelike, NaiveDate};
use domain::{CodiceFiscale, Matricola};
use serde::{Deserialize, Serialize};

/// A month of competenza.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// Year.
    pub year: i32,
    /// 1–12.
    pub month: u32,
}

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

impl Period {
    /// The month holding `date`.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The month before.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month after.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// A day of this month (clamped to its length).
    pub fn day(self, day: u32) -> NaiveDate {
        (1..=day.min(31))
            .rev()
            .find_map(|d| NaiveDate::from_ymd_opt(self.year, self.month, d))
            .expect("every month has a first day")
    }

    /// "marzo 2026", as visitors read a period.
    pub fn text(self) -> String {
        format!("{} {}", MONTHS[(self.month - 1) as usize], self.year)
    }
}

/// Euro cents written the Italian way: `€ 1.559,52`, `-€ 20,00`.
pub fn euro(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}€ {grouped},{:02}", abs % 100)
}

/// Dates as Italians write them.
pub fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// The DURC (regolarità contributiva) state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Durc {
    /// Regular: the document's protocol and validity (120 days from the request).
    Regolare {
        /// `INPS_12345678` or `INAIL_12345678`.
        protocollo: String,
        /// Date of the request.
        richiesta: NaiveDate,
        /// Validity end.
        scadenza: NaiveDate,
    },
    /// Being checked: an invitation to regularise may have been sent.
    InVerifica {
        /// Date of the request.
        richiesta: NaiveDate,
        /// The outcome comes by this date (request + 30 days).
        esito_entro: NaiveDate,
        /// What blocks it.
        cause: Vec<String>,
    },
    /// Not regular: what blocks it.
    NonRegolare {
        /// Date of the request.
        richiesta: NaiveDate,
        /// The causes.
        cause: Vec<String>,
    },
}

/// A month's UniEmens flow against the F24 payments (confronto DM10 virtuale / F24).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Month {
    /// Competenza.
    pub period: Period,
    /// UniEmens sent on (none: not sent).
    pub uniemens_inviato: Option<NaiveDate>,
    /// Individual returns in the flow.
    pub denunce: u32,
    /// Saldo DM (debito − credito), cents; negative is a credit.
    pub saldo_dm: i64,
    /// Paid by F24, cents.
    pub versato: i64,
    /// Date of the F24 payment.
    pub versato_il: Option<NaiveDate>,
}

impl Month {
    /// What is left to pay (positive) for the month.
    pub fn differenza(&self) -> i64 {
        self.saldo_dm.max(0) - self.versato
    }

    /// The comparison's outcome, in words.
    pub fn esito(&self) -> &'static str {
        match (self.uniemens_inviato, self.versato_il) {
            (None, _) => "DM non presentato",
            _ if self.saldo_dm <= 0 => "A credito",
            (_, None) => "Omesso versamento",
            _ if self.differenza() > 0 => "Versamento parziale",
            (_, Some(paid)) if paid > self.period.next().day(16) => "Versamento in ritardo",
            _ => "Quadrato",
        }
    }
}

/// An inadempienza: a month not (fully) paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inadempienza {
    /// Competenza.
    pub period: Period,
    /// Omissione, ritardato versamento, DM mancante.
    pub tipo: String,
    /// Contributions due, cents.
    pub dovuti: i64,
    /// Paid, cents.
    pub versati: i64,
    /// Sanzioni civili, cents.
    pub sanzioni: i64,
    /// Aperta, sanata, in dilazione, affidata con avviso di addebito.
    pub stato: String,
}

/// A note di rettifica (Mod. DMRA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotaRettifica {
    /// Its number.
    pub numero: String,
    /// Issued on.
    pub emessa: NaiveDate,
    /// The return it corrects.
    pub period: Period,
    /// Saldo of that return, cents.
    pub saldo_denuncia: i64,
    /// Contribution differences owed, cents.
    pub differenze: i64,
    /// Days counted for the sanctions.
    pub giorni: u32,
    /// Sanction rate in hundredths of a percent (1000 = 10,00%).
    pub tasso_centesimi: u32,
    /// Sanzioni civili, cents.
    pub sanzioni: i64,
    /// To pay by.
    pub scadenza: NaiveDate,
    /// Emessa, pagata, contestata, annullata.
    pub stato: String,
}

impl NotaRettifica {
    /// Differences plus sanctions, cents.
    pub fn totale(&self) -> i64 {
        self.differenze + self.sanzioni
    }

    /// The arithmetic in words: "€ 1.559,52 × 10,00% × 326 giorni / 365 = € 139,29".
    pub fn calcolo(&self) -> String {
        format!(
            "{} × {},{:02}% × {} giorni / 365 = {}",
            euro(self.differenze),
            self.tasso_centesimi / 100,
            self.tasso_centesimi % 100,
            self.giorni,
            euro(self.sanzioni)
        )
    }
}

/// Civil sanctions on `cents` at `rate` hundredths of a percent for `days`, rounded to the cent.
pub fn sanzioni(cents: i64, rate: u32, days: u32) -> i64 {
    let num = i128::from(cents) * i128::from(rate) * i128::from(days);
    let den = 10_000i128 * 365;
    ((num + den / 2) / den) as i64
}

/// An avviso di addebito (or older cartella).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvvisoAddebito {
    /// Its number.
    pub numero: String,
    /// Served on.
    pub notificato: NaiveDate,
    /// First and last month it covers.
    pub periodi: (Period, Period),
    /// Contributions, sanctions and interest, cents.
    pub contributi: i64,
    /// Sanctions, cents.
    pub sanzioni: i64,
    /// Affidato ad AdER, notificato, pagato, sospeso, sgravato, rateizzato presso AdER.
    pub stato: String,
}

/// A dilazione (instalment plan in the administrative phase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dilazione {
    /// Its number.
    pub pratica: String,
    /// Applied for on.
    pub domanda: NaiveDate,
    /// Debt spread, cents.
    pub debito: i64,
    /// Instalments.
    pub rate: u32,
    /// Instalments paid.
    pub pagate: u32,
    /// Next due date.
    pub prossima: Option<NaiveDate>,
    /// Presentata, in istruttoria, accolta, respinta, revocata, estinta.
    pub stato: String,
}

impl Dilazione {
    /// One instalment, cents (the last one takes the rounding).
    pub fn rata(&self) -> i64 {
        self.debito / i64::from(self.rate.max(1))
    }
}

/// A CIG / CIGS / FIS application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomandaCig {
    /// Protocol.
    pub protocollo: String,
    /// CIGO, CIGS, FIS.
    pub tipo: String,
    /// Why.
    pub causale: String,
    /// From, to.
    pub dal: NaiveDate,
    /// To.
    pub al: NaiveDate,
    /// Workers.
    pub lavoratori: u32,
    /// Hours asked.
    pub ore_richieste: u32,
    /// Hours granted.
    pub ore_autorizzate: Option<u32>,
    /// In istruttoria, autorizzata, autorizzata parzialmente, respinta.
    pub stato: String,
}

/// A person linked to the company: name, role and period only (no birth data, no address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoggettoCollegato {
    /// Name and surname.
    pub nome: String,
    /// Titolare, legale rappresentante, altro responsabile.
    pub ruolo: String,
    /// From.
    pub dal: NaiveDate,
}

/// A local unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dipendenza {
    /// Its code.
    pub codice: String,
    /// Its name.
    pub denominazione: String,
    /// Comune.
    pub comune: String,
    /// Employees in the last UniEmens month.
    pub dipendenti: u32,
}

/// A document sent by hybrid mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posta {
    /// Issued on.
    pub emesso: NaiveDate,
    /// What it is.
    pub tipo: String,
    /// Protocol.
    pub protocollo: String,
    /// Delivery state.
    pub stato: String,
}

/// Registry data. `Debug` masks the identifiers, the name and the addresses.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anagrafica {
    /// Ragione sociale.
    pub denominazione: String,
    /// Codice fiscale.
    pub codice_fiscale: CodiceFiscale,
    /// Matricola.
    pub matricola: Matricola,
    /// `7001 - ROMA EUR`.
    pub sede_inps: String,
    /// Attiva, sospesa, cessata…
    pub stato: String,
    /// Codice statistico contributivo.
    pub csc: String,
    /// Codici autorizzazione.
    pub codici_autorizzazione: Vec<String>,
    /// ATECO code and description.
    pub ateco: String,
    /// Natura giuridica.
    pub natura_giuridica: String,
    /// Sede legale.
    pub sede_legale: String,
    /// PEC.
    pub pec: String,
    /// Started on.
    pub inizio_attivita: NaiveDate,
    /// Employees in the last month.
    pub dipendenti: u32,
}

impl std::fmt::Debug for Anagrafica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |s: &str| crate::cassetto::mask_with(s, 2, 2, '•');
        f.debug_struct("Anagrafica")
            .field("denominazione", &masked(&self.denominazione))
            .field("codice_fiscale", &self.codice_fiscale)
            .field("matricola", &self.matricola)
            .field("sede_inps", &self.sede_inps)
            .field("stato", &self.stato)
            .field("csc", &self.csc)
            .field("ateco", &self.ateco)
            .field("natura_giuridica", &self.natura_giuridica)
            .field("sede_legale", &masked(&self.sede_legale))
            .field("pec", &masked(&self.pec))
            .field("dipendenti", &self.dipendenti)
            .finish_non_exhaustive()
    }
}

/// The whole summary of a matricola.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanySummary {
    /// Registry data.
    pub anagrafica: Anagrafica,
    /// DURC.
    pub durc: Durc,
    /// The last 24 months, oldest first.
    pub mesi: Vec<Month>,
    /// Credits still available, cents, by month.
    pub crediti: Vec<(Period, i64)>,
    /// Inadempienze.
    pub inadempienze: Vec<Inadempienza>,
    /// Note di rettifica.
    pub note_rettifica: Vec<NotaRettifica>,
    /// Avvisi di addebito.
    pub avvisi: Vec<AvvisoAddebito>,
    /// Dilazioni.
    pub dilazioni: Vec<Dilazione>,
    /// CIG / FIS applications.
    pub cig: Vec<DomandaCig>,
    /// People linked to the company.
    pub soggetti: Vec<SoggettoCollegato>,
    /// Local units.
    pub dipendenze: Vec<Dipendenza>,
    /// Fondo interprofessionale, if any.
    pub fondo: Option<String>,
    /// Hybrid mail.
    pub posta: Vec<Posta>,
    /// Companies linked to this one (controlled, associated, same owners).
    #[serde(default)]
    pub aziende_collegate: Vec<AziendaCollegata>,
}

/// A company linked to this one, as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AziendaCollegata {
    /// Ragione sociale.
    pub denominazione: String,
    /// `controllata`, `collegata`, `stessa compagine sociale`.
    pub relazione: String,
    /// Since.
    pub dal: NaiveDate,
}

impl CompanySummary {
    /// What is still owed: open inadempienze and unpaid notes, cents.
    pub fn debito_aperto(&self) -> i64 {
        self.inadempienze
            .iter()
            .filter(|i| i.stato == "Aperta")
            .map(|i| i.dovuti - i.versati + i.sanzioni)
            .sum()
    }

    /// The last month with a UniEmens flow sent.
    pub fn ultimo_uniemens(&self) -> Option<Period> {
        self.mesi
            .iter()
            .rev()
            .find(|m| m.uniemens_inviato.is_some())
            .map(|m| m.period)
    }
}

/// An identifier with all but its first `head` and last `tail` characters replaced by `fill`
/// (wholly replaced when it is too short to show anything safely).
pub fn mask_with(id: &str, head: usize, tail: usize, fill: char) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= head + tail {
        return fill.to_string().repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n(fill, chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A company identifier on paper: the first two and last three characters, `*` between (a
/// character every printer's code page has).
pub fn mask(id: &str) -> String {
    mask_with(id, 2, 3, '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_companys_identifiers() {
        let a = Anagrafica {
            denominazione: "Rossi Mario Impianti".into(),
            codice_fiscale: CodiceFiscale::parse("RSSMRA80A01H501U").unwrap(),
            matricola: Matricola::parse("5124776507").unwrap(),
            sede_inps: "7001 - ROMA EUR".into(),
            stato: "attiva".into(),
            csc: "1.18.01".into(),
            codici_autorizzazione: vec!["2B".into()],
            ateco: "43.21.01".into(),
            natura_giuridica: "ditta individuale".into(),
            sede_legale: "Via Roma 1, Roma".into(),
            pec: "rossi@pec.example".into(),
            inizio_attivita: NaiveDate::from_ymd_opt(2010, 3, 1).unwrap(),
            dipendenti: 4,
        };
        let shown = format!("{a:?}");
        for secret in [
            a.codice_fiscale.as_str(),
            a.matricola.as_str(),
            &a.pec,
            &a.denominazione,
            &a.sede_legale,
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains(&format!("{:?}", a.matricola)), "{shown}");
        assert!(
            shown.contains("7001 - ROMA EUR"),
            "the sede is no secret: {shown}"
        );
        let choice = crate::wire::CompanyChoice {
            matricola: a.matricola,
            company_cf: a.codice_fiscale.clone(),
            denominazione: a.denominazione.clone(),
            role: domain::TipoDelegato::Azienda,
        };
        let shown = format!("{choice:?}");
        assert!(
            !shown.contains(a.matricola.as_str()) && !shown.contains(a.codice_fiscale.as_str()),
            "{shown}"
        );
    }

    #[test]
    fn euro_and_months_read_the_italian_way() {
        assert_eq!(euro(155_952), "€ 1.559,52");
        assert_eq!(euro(5), "€ 0,05");
        assert_eq!(euro(-2000), "-€ 20,00");
        assert_eq!(euro(123_456_789), "€ 1.234.567,89");
        let p = Period {
            year: 2026,
            month: 1,
        };
        assert_eq!(p.previous().text(), "dicembre 2025");
        assert_eq!(p.next().next().day(31).to_string(), "2026-03-31");
        assert_eq!(
            Period {
                year: 2026,
                month: 2
            }
            .day(31)
            .to_string(),
            "2026-02-28"
        );
    }

    #[test]
    fn sanctions_follow_the_note_di_rettifica_fixture() {
        // Interest on a note di rettifica: 1.559,52 × 10% × 326 / 365 = 139,29.
        assert_eq!(sanzioni(155_952, 1000, 326), 13_929);
    }
}
