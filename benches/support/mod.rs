//! What the hub benchmarks share: a database of their own on the test server.

/// A database made for one benchmark run, dropped at its end.
pub struct BenchDb {
    admin: tokio_postgres::Client,
    name: String,
    /// Its URL.
    pub url: String,
}

impl BenchDb {
    /// An empty database `bench_<what>_<pid>` on the server of `SPORTELLO_PG_URL`.
    pub async fn create(what: &str) -> Self {
        let admin_url = std::env::var("SPORTELLO_PG_URL")
            .expect("SPORTELLO_PG_URL is not set: export SPORTELLO_PG_URL=$(scripts/pg)");
        let name = format!("bench_{what}_{}", std::process::id());
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Self { admin, name, url }
    }

    /// Drops it, ending the connections still open to it.
    pub async fn drop(self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await;
    }
}
