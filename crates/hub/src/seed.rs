//! A branch's data loaded whole into the hub: its configuration and appointments, who may act
//! for which matricola, the test provider's identities and the Cassetto summaries. For the
//! command line and tests (`sportello admin seed-demo` hands it the demo generator's branch);
//! no request reaches it.

use deadpool_postgres::GenericClient;
use domain::TipoDelegato;
use protocol::cassetto::CompanySummary;
use protocol::replica::Replica;

use crate::HubError;
use crate::branch_data::{config_of, put_appointments, put_config};

/// Who may act for a matricola at its sede.
#[derive(Debug, Clone)]
pub struct Delegation {
    /// The matricola.
    pub matricola: domain::Matricola,
    /// The delegate's codice fiscale.
    pub person_cf: domain::PersonalCf,
    /// The company's codice fiscale.
    pub company_cf: domain::CodiceFiscale,
    /// The company's name.
    pub denominazione: String,
    /// As what the person acts.
    pub role: TipoDelegato,
}

/// A person the built-in test identity provider can log in.
#[derive(Debug, Clone)]
pub struct TestIdentity {
    /// Codice fiscale.
    pub cf: domain::PersonalCf,
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Mobile number.
    pub phone: String,
}

/// Everything [`seed_branch`] loads for one branch.
#[derive(Debug, Clone)]
pub struct BranchSeed {
    /// The branch's configuration and appointments.
    pub replica: Replica,
    /// The delegations at the branch.
    pub delegations: Vec<Delegation>,
    /// The test provider's people.
    pub identities: Vec<TestIdentity>,
    /// A summary for each matricola of the branch.
    pub summaries: Vec<CompanySummary>,
    /// Where the data comes from, for the audit log.
    pub source: serde_json::Value,
}

/// Loads `seed` in one transaction, replacing what the branch had under the same keys, and
/// publishes the configuration and appointments to its kiosks.
pub async fn seed_branch(
    db: &mut deadpool_postgres::Object,
    seed: &BranchSeed,
) -> Result<(), HubError> {
    let config = config_of(&seed.replica)
        .ok_or_else(|| HubError::Config("the seeded branch has no sede".into()))?;
    let code = config.sede.code.get();
    let branch = i32::from(code);
    let tx = db.transaction().await?;
    crate::accounts::ensure_branch(&tx, code).await?;
    put_config(&tx, branch, &config).await?;
    put_appointments(&tx, branch, &seed.replica.appointments).await?;
    for d in &seed.delegations {
        put_delegation(&tx, branch, d).await?;
    }
    for i in &seed.identities {
        put_identity(&tx, i).await?;
    }
    for s in &seed.summaries {
        put_summary(&tx, branch, s).await?;
    }
    crate::audit::record(&tx, "cli", "branch.seed", Some(code), seed.source.clone()).await?;
    tx.commit().await?;
    Ok(())
}

async fn put_delegation(
    db: &impl GenericClient,
    branch: i32,
    d: &Delegation,
) -> Result<(), HubError> {
    db.execute(
        "INSERT INTO delegation (branch_id, matricola, person_cf, company_cf, denominazione, role)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (branch_id, matricola, person_cf) DO UPDATE
           SET denominazione = excluded.denominazione, role = excluded.role",
        &[
            &branch,
            &d.matricola.as_str(),
            &d.person_cf.as_str(),
            &d.company_cf.as_str(),
            &d.denominazione,
            &d.role.code(),
        ],
    )
    .await?;
    Ok(())
}

async fn put_identity(db: &impl GenericClient, i: &TestIdentity) -> Result<(), HubError> {
    db.execute(
        "INSERT INTO idp_identity (cf, name, email, phone) VALUES ($1, $2, $3, $4)
         ON CONFLICT (cf) DO UPDATE
           SET name = excluded.name, email = excluded.email, phone = excluded.phone",
        &[&i.cf.as_str(), &i.name, &i.email, &i.phone],
    )
    .await?;
    Ok(())
}

async fn put_summary(
    db: &impl GenericClient,
    branch: i32,
    s: &CompanySummary,
) -> Result<(), HubError> {
    db.execute(
        "INSERT INTO cassetto_summary (branch_id, matricola, payload) VALUES ($1, $2, $3)
         ON CONFLICT (branch_id, matricola) DO UPDATE
           SET payload = excluded.payload, updated_at = now()",
        &[
            &branch,
            &s.anagrafica.matricola.as_str(),
            &serde_json::to_value(s).expect("plain data serialises"),
        ],
    )
    .await?;
    Ok(())
}
