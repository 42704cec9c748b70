//! A database of its own for each test, inside the PostgreSQL server the test command starts
//! (`scripts/pg`, whose URL is in `SPORTELLO_PG_URL`).

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The server's URL, or a failure that says how to start one.
pub fn server_url() -> String {
    std::env::var("SPORTELLO_PG_URL").unwrap_or_else(|_| {
        panic!(
            "SPORTELLO_PG_URL is not set: these tests need PostgreSQL. Run `export SPORTELLO_PG_URL=$(scripts/pg)` \
             (it starts a throwaway server on loopback), or run the whole suite with scripts/test"
        )
    })
}

/// A fresh, empty database; dropped with the value.
pub struct TestDb {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let admin = server_url();
        let name = format!(
            "sportello_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin}: {e}; run scripts/pg"));
        tokio::spawn(conn);
        // One statement each: a multi-statement string runs as one transaction block.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client.batch_execute(&sql).await.unwrap();
        }
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("SPORTELLO_PG_URL has no database part: {admin}"),
        };
        TestDb { url, name, admin }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside the test's runtime: a small one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
