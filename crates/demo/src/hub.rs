//! The demo branch into the hub's database, through the hub's seeding (`sportello admin
//! seed-demo`, and the tests and benchmarks that need a populated hub).

use chrono::{NaiveDate, NaiveDateTime};
use hub::HubError;
use hub::seed::{BranchSeed, Delegation, TestIdentity, seed_branch};
use sha2::Digest;

use crate::{DemoBranch, DemoPerson};

/// What the hub loads for the demo branch: its configuration and appointments, every demo
/// person delegated for each matricola of their companies, the people as the test provider's
/// identities, and each matricola's summary as of `today` with the company's legal
/// representatives as soggetti collegati.
pub fn branch_seed(demo: &DemoBranch, seed: u64, today: NaiveDate) -> BranchSeed {
    let replica = demo.replica();
    let mut delegations = Vec::new();
    for p in &demo.people {
        for &i in &p.companies {
            let company = &demo.companies[i];
            for m in &company.matricole {
                delegations.push(Delegation {
                    matricola: *m,
                    person_cf: p.cf,
                    company_cf: company.cf.clone(),
                    denominazione: company.name.clone(),
                    role: p.role,
                });
            }
        }
    }
    let identities = demo
        .people
        .iter()
        .map(|p| {
            let (email, phone) = contacts(p);
            TestIdentity {
                cf: p.cf,
                name: format!("{} {}", p.given_name, p.surname),
                email,
                phone,
            }
        })
        .collect();
    let mut summaries = Vec::new();
    for (i, company) in demo.companies.iter().enumerate() {
        let people: Vec<(String, &'static str)> = demo
            .people
            .iter()
            .filter(|p| p.companies.contains(&i) && p.role == domain::TipoDelegato::Azienda)
            .map(|p| {
                (
                    format!("{} {}", p.given_name, p.surname),
                    "Legale rappresentante",
                )
            })
            .collect();
        for m in &company.matricole {
            summaries.push(crate::cassetto::summary(
                seed, company, *m, &demo.sede, &people, today,
            ));
        }
    }
    BranchSeed {
        source: serde_json::json!({
            "generator": "demo",
            "seed": seed,
            "appointments": replica.appointments.len(),
        }),
        replica,
        delegations,
        identities,
        summaries,
    }
}

/// Generates the demo branch around `now` and loads it into the hub; returns it, so a test
/// knows its people, companies and appointments.
pub async fn seed_demo(
    db: &mut deadpool_postgres::Object,
    seed: u64,
    now: NaiveDateTime,
) -> Result<DemoBranch, HubError> {
    let demo = DemoBranch::generate(seed, now);
    seed_branch(db, &branch_seed(&demo, seed, now.date())).await?;
    Ok(demo)
}

/// A demo person's e-mail (on the reserved `example.it`-style test domain) and mobile number
/// (an unassigned 3xx range), the same every time for the same person.
pub fn contacts(p: &DemoPerson) -> (String, String) {
    let ascii = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let digits: u64 = sha2::Sha256::digest(p.cf.as_str().as_bytes())[..8]
        .iter()
        .fold(0, |n, b| n * 256 + u64::from(*b));
    (
        format!(
            "{}.{}@esempio.test",
            ascii(&p.given_name),
            ascii(&p.surname)
        ),
        format!("+39 399 {:07}", digits % 10_000_000),
    )
}
