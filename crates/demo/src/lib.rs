//! Deterministic demo data: a branch, its services and counters, companies with valid codes,
//! their delegates, and today's appointments with signed booking QR codes.
//!
//! One generator for every consumer: `sportello demo-data` and the demo kiosk write the kiosk's
//! share of it (never Cassetto data), and the hub seeds its own store from the same values.
//! Everything is synthetic; matricole carry the documented stand-in check digits
//! ([`Matricola::synthetic`]).

pub mod cassetto;
#[cfg(feature = "hub")]
pub mod hub;
#[cfg(feature = "qr")]
mod qr;

use chrono::{Duration, NaiveDateTime, NaiveTime, Timelike};

#[cfg(feature = "qr")]
pub use qr::{qr_png, write_qr_pngs};

use domain::OpeningHours;
use domain::token::{BookingClaims, TokenSigner};
use domain::{
    Appointment, AppointmentState, BookingId, CodiceFiscale, Counter, CounterNumber, Matricola,
    PartitaIva, PersonKeyer, PersonalCf, Sede, SedeCode, Service, ServiceLetter, ServiceLevel,
    TipoDelegato, sedi,
};
use protocol::replica::Replica;

/// Key id of the demo signing key.
pub const DEMO_KEY_ID: u16 = 1;
/// Person-key secret used in demo mode only; production reads it from the configuration.
pub const DEMO_PERSON_KEY_SECRET: &str = "demo-only-person-key-secret-not-for-production";
/// The demo branch: Roma Eur.
pub const DEMO_SEDE: &str = "7001";

const SURNAMES: &[&str] = &[
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
    "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
    "Lombardi", "Moretti",
];
const MALE_NAMES: &[&str] = &[
    "Marco",
    "Giuseppe",
    "Alessandro",
    "Luca",
    "Francesco",
    "Andrea",
    "Matteo",
    "Lorenzo",
    "Davide",
    "Stefano",
];
const FEMALE_NAMES: &[&str] = &[
    "Giulia",
    "Francesca",
    "Chiara",
    "Sara",
    "Valentina",
    "Elena",
    "Anna",
    "Laura",
    "Martina",
    "Federica",
];
/// Belfiore codes of the places of birth used (Roma, Milano, Napoli, Torino, Palermo, Genova,
/// Bologna, Firenze, and Z404 = abroad, USA).
const PLACES: &[&str] = &[
    "H501", "F205", "F839", "L219", "G273", "D969", "A944", "D612", "Z404",
];
const COMPANY_WORDS: &[&str] = &[
    "Costruzioni",
    "Trasporti",
    "Servizi",
    "Impianti",
    "Logistica",
    "Ristorazione",
    "Tessile",
    "Meccanica",
    "Informatica",
    "Alimentari",
];
const LEGAL_FORMS: &[&str] = &["S.r.l.", "S.p.A.", "S.n.c.", "S.a.s.", "Soc. Coop."];

/// A synthetic company.
#[derive(Debug, Clone)]
pub struct DemoCompany {
    /// Ragione sociale.
    pub name: String,
    /// Codice fiscale: 11 digits, or the owner's 16 characters for a sole trader.
    pub cf: CodiceFiscale,
    /// Partita IVA, if any (equal to the numeric CF).
    pub piva: Option<PartitaIva>,
    /// Employer matricole (synthetic check digits).
    pub matricole: Vec<Matricola>,
}

/// A synthetic person: a delegate or legal representative.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    /// Cognome.
    pub surname: String,
    /// Nome.
    pub given_name: String,
    /// Codice fiscale (some are omocodie).
    pub cf: PersonalCf,
    /// Role towards the companies they act for.
    pub role: TipoDelegato,
    /// Indexes into [`DemoBranch::companies`] this person may act for.
    pub companies: Vec<usize>,
}

/// A booked appointment with who booked it and its QR text.
#[derive(Debug, Clone)]
pub struct DemoAppointment {
    /// The replica row.
    pub appointment: Appointment,
    /// Index into [`DemoBranch::people`].
    pub person: usize,
    /// Index into [`DemoBranch::companies`].
    pub company: usize,
    /// Signed booking token (the QR text).
    pub token: String,
}

/// The whole demo branch.
#[derive(Debug)]
pub struct DemoBranch {
    /// The sede.
    pub sede: Sede,
    /// Services.
    pub services: Vec<Service>,
    /// Counters.
    pub counters: Vec<Counter>,
    /// Weekly opening hours.
    pub hours: Vec<OpeningHours>,
    /// Companies.
    pub companies: Vec<DemoCompany>,
    /// People.
    pub people: Vec<DemoPerson>,
    /// Today's appointments, by start time.
    pub appointments: Vec<DemoAppointment>,
    /// The demo signing key (the hub's, in a real deployment).
    pub signer: TokenSigner,
}

fn letter(c: char) -> ServiceLetter {
    ServiceLetter::from_byte(c as u8).expect("ASCII letter")
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

fn services() -> Vec<Service> {
    let s = |c, name: &str, level, appointment_only, slot_minutes| Service {
        letter: letter(c),
        name: name.to_owned(),
        level,
        appointment_only,
        slot_minutes,
    };
    vec![
        s(
            'A',
            "Aziende, consulenti e intermediari",
            ServiceLevel::Second,
            true,
            20,
        ),
        s('P', "Pensioni", ServiceLevel::First, false, 10),
        s(
            'R',
            "Prestazioni a sostegno del reddito",
            ServiceLevel::First,
            false,
            10,
        ),
        s('F', "Famiglia e invalidità", ServiceLevel::First, false, 10),
        s('V', "Sportello veloce", ServiceLevel::First, false, 8),
    ]
}

fn counters() -> Vec<Counter> {
    let c = |n, label: &str, services: &[(char, u8)]| Counter {
        number: CounterNumber::new(n).expect("1..=99"),
        label: label.to_owned(),
        services: services.iter().map(|&(l, w)| (letter(l), w)).collect(),
    };
    vec![
        c(1, "Sportello 1 – Aziende", &[('A', 3)]),
        c(2, "Sportello 2 – Aziende", &[('A', 2), ('V', 1)]),
        c(3, "Sportello 3 – Pensioni", &[('P', 2), ('F', 1)]),
        c(4, "Sportello 4 – Reddito", &[('R', 2), ('F', 1)]),
        c(5, "Sportello 5 – Veloce", &[('V', 3), ('P', 1)]),
    ]
}

/// Circolare 103/2019: mornings 8:30–12:30 (Friday until 11:30) with free access, afternoons
/// 15:00–18:00 by appointment only (Monday to Thursday).
fn hours(services: &[Service]) -> Vec<OpeningHours> {
    let mut out = Vec::new();
    for s in services {
        for weekday in 1..=5u8 {
            let closes = if weekday == 5 {
                time(11, 30)
            } else {
                time(12, 30)
            };
            out.push(OpeningHours {
                service: s.letter,
                weekday,
                opens: time(8, 30),
                closes,
                appointment_only: s.appointment_only,
            });
            if weekday <= 4 {
                out.push(OpeningHours {
                    service: s.letter,
                    weekday,
                    opens: time(15, 0),
                    closes: time(18, 0),
                    appointment_only: true,
                });
            }
        }
    }
    out
}

/// The demo must work whenever it is started: when `now` falls outside today's free-access
/// hours, today gets one free-access period around it in place of the periods it overlaps.
fn demo_hours(
    mut hours: Vec<OpeningHours>,
    services: &[Service],
    now: NaiveDateTime,
) -> Vec<OpeningHours> {
    use chrono::Datelike;
    let weekday = now.weekday().number_from_monday() as u8;
    let t = now.time();
    // Open means walk-ins are still taken for a while: a period closing within the hour
    // (walk-ins stop before the close) would leave a demo started then with nothing to take.
    let margin =
        chrono::Duration::minutes(i64::from(queue::QueueRules::default().walk_in_stop_min) + 60);
    let until = now + margin;
    let open_now = until.date() == now.date()
        && hours.iter().any(|h| {
            h.weekday == weekday && !h.appointment_only && h.opens <= t && until.time() < h.closes
        });
    if open_now {
        return hours;
    }
    let opens = time(now.hour().saturating_sub(1), 0);
    let closes = if now.hour() >= 20 {
        NaiveTime::from_hms_opt(23, 59, 0).expect("valid time")
    } else {
        time(now.hour() + 4, 0)
    };
    hours.retain(|h| h.weekday != weekday || h.closes <= opens || h.opens >= closes);
    for s in services {
        hours.push(OpeningHours {
            service: s.letter,
            weekday,
            opens,
            closes,
            appointment_only: s.appointment_only,
        });
    }
    hours
}

/// The three letters of a surname (or, with `is_name`, of a given name) in a codice fiscale.
fn cf_letters(word: &str, is_name: bool) -> String {
    let upper: Vec<char> = word
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    let is_vowel = |c: &char| "AEIOU".contains(*c);
    let consonants: Vec<char> = upper.iter().copied().filter(|c| !is_vowel(c)).collect();
    let vowels = upper.iter().copied().filter(is_vowel);
    if is_name && consonants.len() > 3 {
        return [consonants[0], consonants[2], consonants[3]]
            .iter()
            .collect();
    }
    consonants
        .iter()
        .copied()
        .chain(vowels)
        .chain(std::iter::repeat('X'))
        .take(3)
        .collect()
}

impl DemoBranch {
    /// Builds the branch for `seed`, with appointments on the day and around the time of `now`
    /// (local), so a demo at any hour has appointments to check in.
    pub fn generate(seed: u64, now: NaiveDateTime) -> DemoBranch {
        let mut rng = fastrand::Rng::with_seed(seed);
        let code = SedeCode::parse(DEMO_SEDE).expect("valid sede");
        let sede = sedi::with_code(code).next().expect("in the table");
        let services = services();
        let counters = counters();
        let hours = demo_hours(hours(&services), &services, now);

        let mut people = Vec::new();
        for i in 0..12 {
            let female = rng.bool();
            let surname = SURNAMES[rng.usize(..SURNAMES.len())];
            let given = if female { FEMALE_NAMES } else { MALE_NAMES }[rng.usize(..10)];
            let year = rng.u32(1955..2000);
            let month = rng.usize(..12);
            let day = rng.u32(1..=28) + if female { 40 } else { 0 };
            let place = PLACES[rng.usize(..PLACES.len())];
            let first15 = format!(
                "{}{}{:02}{}{:02}{}",
                cf_letters(surname, false),
                cf_letters(given, true),
                year % 100,
                "ABCDEHLMPRST".as_bytes()[month] as char,
                day,
                place
            );
            let mut cf = PersonalCf::from_first15(&first15).expect("generated codes are valid");
            // Two people carry omocodie, as the Agenzia delle Entrate issues them.
            if i % 6 == 5 {
                for _ in 0..=(i / 6) {
                    cf = cf.next_omocode().expect("positions left");
                }
            }
            let role = match i % 4 {
                0 => TipoDelegato::Azienda,
                1 | 2 => TipoDelegato::ConsulenteCommercialista,
                _ => TipoDelegato::AssociazioneDiCategoria,
            };
            people.push(DemoPerson {
                surname: surname.to_owned(),
                given_name: given.to_owned(),
                cf,
                role,
                companies: vec![],
            });
        }

        let mut companies = Vec::new();
        for (i, owner) in people.iter().enumerate().take(10) {
            let matricole = (0..1 + rng.usize(..3))
                .map(|_| {
                    Matricola::synthetic(code.province(), rng.u32(..1_000_000)).expect("valid")
                })
                .collect();
            // About one company in seven is a sole trader, identified by the owner's code.
            let company = if i % 7 == 6 {
                DemoCompany {
                    name: format!("{} {} – ditta individuale", owner.given_name, owner.surname),
                    cf: CodiceFiscale::Personal(owner.cf),
                    piva: None,
                    matricole,
                }
            } else {
                let piva = loop {
                    if let Some(p) = PartitaIva::from_parts(rng.u32(1..8_000_000), rng.u16(1..=100))
                    {
                        break p;
                    }
                };
                let name = format!(
                    "{} {} {}",
                    SURNAMES[rng.usize(..SURNAMES.len())],
                    COMPANY_WORDS[rng.usize(..COMPANY_WORDS.len())],
                    LEGAL_FORMS[rng.usize(..LEGAL_FORMS.len())]
                );
                DemoCompany {
                    name,
                    cf: CodiceFiscale::Numeric(piva),
                    piva: Some(piva),
                    matricole,
                }
            };
            companies.push(company);
        }
        for (i, person) in people.iter_mut().enumerate() {
            person.companies = if person.role == TipoDelegato::Azienda {
                vec![i % companies.len()]
            } else {
                (0..3).map(|k| (i + k * 3) % companies.len()).collect()
            };
        }

        let mut signing_seed = [0u8; 32];
        signing_seed.iter_mut().for_each(|b| *b = rng.u8(..));
        let signer = TokenSigner::from_seed(DEMO_KEY_ID, &signing_seed);
        let keyer = Self::keyer();

        // Today's appointments: ten inside the check-in window (it opens 30 minutes before
        // the booked time and closes 15 after), one already past it and one not yet open, so
        // the demo shows the refusals too.
        let base = now.date().and_time(time(now.hour(), now.minute() / 5 * 5));
        let mut appointments = Vec::new();
        for i in 0..12u32 {
            let offset = match i {
                0 => -40,
                11 => 90,
                k => -10 + 4 * (i64::from(k) - 1),
            };
            let starts_at = base + Duration::minutes(offset);
            if starts_at.date() != now.date() {
                continue;
            }
            let person_index = rng.usize(..people.len());
            let person = &people[person_index];
            let company = person.companies[rng.usize(..person.companies.len())];
            let service = if i % 3 == 2 {
                services[1 + rng.usize(..4)].letter
            } else {
                letter('A')
            };
            let id = BookingId::new(
                now.date().format("%Y").to_string().parse().expect("year"),
                1000 + i,
            )
            .expect("valid id");
            let person_key = keyer.key(&CodiceFiscale::Personal(person.cf));
            let appointment = Appointment {
                id,
                sede: code,
                service,
                starts_at,
                duration_min: services
                    .iter()
                    .find(|s| s.letter == service)
                    .map_or(10, |s| s.slot_minutes),
                person_key: Some(person_key),
                state: if i % 5 == 4 {
                    AppointmentState::Booked
                } else {
                    AppointmentState::Confirmed
                },
            };
            let token = signer
                .sign(&BookingClaims {
                    booking: id,
                    sede: code,
                    starts_at,
                    service,
                    person: person_key,
                })
                .expect("dates in range");
            appointments.push(DemoAppointment {
                appointment,
                person: person_index,
                company,
                token,
            });
        }

        DemoBranch {
            sede,
            services,
            counters,
            hours,
            companies,
            people,
            appointments,
            signer,
        }
    }

    /// The person-key function of demo mode.
    pub fn keyer() -> PersonKeyer {
        PersonKeyer::new(DEMO_PERSON_KEY_SECRET.as_bytes()).expect("long enough")
    }

    /// What a kiosk replica holds: configuration, services, counters, hours, appointments
    /// (pseudonymous keys only) and the verifying key. Never names, codes or Cassetto data.
    pub fn replica(&self) -> Replica {
        Replica {
            sede: Some(self.sede.clone()),
            services: self.services.clone(),
            counters: self.counters.clone(),
            hours: self.hours.clone(),
            appointments: self
                .appointments
                .iter()
                .map(|a| a.appointment.clone())
                .collect(),
            verifying_keys: vec![(self.signer.key_id(), self.signer.verifying_key())],
            rules: queue::QueueRules::default(),
        }
    }

    /// Every personal or company identifier and name in the demo data: what must never appear
    /// in a log or a kiosk file.
    pub fn sensitive_strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.people {
            out.push(p.cf.as_str().to_owned());
            out.push(p.cf.base().as_str().to_owned());
            out.push(format!("{} {}", p.given_name, p.surname));
            out.push(format!("{} {}", p.surname, p.given_name));
        }
        for c in &self.companies {
            out.push(c.name.clone());
            out.push(c.cf.as_str().to_owned());
            out.extend(c.matricole.iter().map(|m| m.as_str().to_owned()));
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use domain::token::TokenVerifier;

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(10, 3, 0)
            .unwrap()
    }

    #[test]
    fn generation_is_deterministic_and_valid() {
        let a = DemoBranch::generate(7, now());
        let b = DemoBranch::generate(7, now());
        assert_eq!(a.sensitive_strings(), b.sensitive_strings());
        assert_eq!(
            a.appointments.iter().map(|x| &x.token).collect::<Vec<_>>(),
            b.appointments.iter().map(|x| &x.token).collect::<Vec<_>>()
        );
        assert_ne!(
            a.sensitive_strings(),
            DemoBranch::generate(8, now()).sensitive_strings()
        );
        for p in &a.people {
            assert!(PersonalCf::parse(p.cf.as_str()).is_ok());
        }
        assert!(a.people.iter().any(|p| p.cf.is_omocode()));
        for c in &a.companies {
            assert!(CodiceFiscale::parse(c.cf.as_str()).is_ok());
            assert!(
                c.matricole
                    .iter()
                    .all(|m| m.is_synthetic() && m.province() == 70)
            );
        }
        assert!(
            a.companies
                .iter()
                .any(|c| matches!(c.cf, CodiceFiscale::Personal(_)))
        );
    }

    #[test]
    fn appointments_are_today_around_now_and_their_tokens_verify() {
        let branch = DemoBranch::generate(1, now());
        let mut verifier = TokenVerifier::new();
        let (id, key) = branch.replica().verifying_keys[0];
        verifier.add_key(id, &key).unwrap();
        assert_eq!(branch.appointments.len(), 12);
        let first = branch.appointments[0].appointment.starts_at;
        assert_eq!(first, now().date().and_hms_opt(9, 20, 0).unwrap());
        for a in &branch.appointments {
            let claims = verifier.verify(&a.token).unwrap();
            assert_eq!(claims.booking, a.appointment.id);
            assert_eq!(Some(claims.person), a.appointment.person_key);
            let cf = CodiceFiscale::Personal(branch.people[a.person].cf);
            assert_eq!(DemoBranch::keyer().key(&cf), claims.person);
        }
    }

    #[test]
    fn the_demo_takes_walk_ins_whenever_it_is_started() {
        use queue::{Calendar, QueueRules};
        let rules = QueueRules::default();
        // A Thursday (hours morning and afternoon) and a Sunday (closed): every five minutes
        // until the last period a day can hold ends.
        for day in [26, 29] {
            let date = NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
            for minute in (0..23 * 60 + 40).step_by(5) {
                let at = date.and_hms_opt(minute / 60, minute % 60, 0).unwrap();
                let demo = DemoBranch::generate(1, at);
                let calendar = Calendar::new(demo.hours.clone());
                for s in demo.services.iter().filter(|s| !s.appointment_only) {
                    assert_eq!(
                        calendar.walk_in_open(&rules, s.letter, at),
                        Ok(()),
                        "{} at {at}",
                        s.letter
                    );
                }
            }
        }
    }

    #[test]
    fn cf_letters_follow_the_rules() {
        assert_eq!(cf_letters("Rossi", false), "RSS");
        assert_eq!(cf_letters("Fo", false), "FOX");
        assert_eq!(cf_letters("Francesca", true), "FNC");
        assert_eq!(cf_letters("Marco", true), "MRC");
        assert_eq!(cf_letters("De Luca", false), "DLC");
    }
}
