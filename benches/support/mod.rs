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

    /// A new database with the hub's schema, and a pool of `size` connections to it.
    pub async fn migrated(what: &str, size: usize) -> (Self, deadpool_postgres::Pool) {
        let bench_db = Self::create(what).await;
        let pool = hub::db::pool(&bench_db.url, size).unwrap();
        hub::db::migrate(&pool).await.unwrap();
        (bench_db, pool)
    }

    /// Drops it, ending the connections still open to it.
    pub async fn drop(self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await;
    }
}

/// A multi-threaded runtime with the TLS provider every hub benchmark needs.
pub fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A count from the environment (`BENCH_…`), or `default`.
pub fn env_count<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
