//! The hub over a real PostgreSQL (a database per test, in the server `scripts/pg` starts) and
//! real HTTPS on loopback: migrations, enrolment and signed requests, idempotent pushes with
//! stored answers, gaps and lost state, and a change feed whose cursor never skips a late
//! commit.

#[path = "../support/faults.rs"]
mod faults;
#[path = "../support/pg.rs"]
mod pg;
#[path = "../support/smtp.rs"]
mod smtp;
#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod abuse;
mod admin;
mod agenda;
mod api;
mod branch_devices;
mod console;
mod contatti;
mod figures;
mod follow;
mod identification;
mod identity_providers;
mod istanze;
mod jobs;
mod keys;
mod metrics;
mod postgres_tls;
mod sync;
