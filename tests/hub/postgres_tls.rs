//! PostgreSQL over TLS (`hub.database_ca`), against a real server that takes TLS only.

use crate::helpers::*;

fn error_of(r: Result<deadpool_postgres::Object, deadpool_postgres::PoolError>) -> String {
    match r {
        Ok(_) => panic!("connected"),
        // What the operator reads at the hub's start.
        Err(e) => hub::HubError::from(e).to_string(),
    }
}

/// With `hub.database_ca` the hub's connections are encrypted and reach only the server whose
/// certificate chains to it: a server with another certificate is refused, one that does not
/// offer TLS is refused (no quiet fallback to clear), and a URL asking for TLS without a CA
/// says which setting is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_reaches_postgresql_over_tls_and_only_the_right_server() {
    let tls = web::tls::self_signed().unwrap();
    let cluster = crate::pg::PgCluster::start_tls(&tls.cert, &tls.key);
    let url = cluster.url("postgres");

    let pool = db::pool_with(&url, 2, Some(&tls.cert)).unwrap();
    db::migrate(&pool).await.unwrap();
    let c = pool.get().await.unwrap();
    let (ssl, version): (bool, String) = c
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert!(ssl);
    assert!(version.starts_with("TLSv1."), "{version}");

    // In clear, the server itself refuses (this is what the setting protects against).
    let e = error_of(db::pool(&url, 1).unwrap().get().await);
    assert!(e.contains("no encryption"), "{e}");

    let impostor = web::tls::self_signed().unwrap();
    let e = error_of(
        db::pool_with(&url, 1, Some(&impostor.cert))
            .unwrap()
            .get()
            .await,
    );
    assert!(e.contains("invalid peer certificate"), "{e}");

    // The suite's own server does not speak TLS: with a CA set, the hub does not fall back.
    let plain = crate::pg::server_url();
    let e = error_of(
        db::pool_with(&plain, 1, Some(&tls.cert))
            .unwrap()
            .get()
            .await,
    );
    assert!(e.contains("server does not support TLS"), "{e}");

    let e = db::pool(&format!("{url}?sslmode=require"), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("hub.database_ca"), "{e}");
    let e = db::pool_with(&url, 1, Some(b"not a certificate"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("hub.database_ca"), "{e}");
}
