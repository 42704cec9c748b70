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

/// A PostgreSQL cluster of its own (initdb into a temporary folder, a free loopback port), for
/// tests that restart the database. Stopped when dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    pub port: u16,
}

fn as_postgres(program: &std::path::Path) -> std::process::Command {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    }
}

/// The folder of PostgreSQL's programs (the newest installed), or a failure that says how to
/// install them.
pub fn bin_dir() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).max())
        .expect("PostgreSQL is not installed: run scripts/system-deps --test (package postgresql)")
}

impl PgCluster {
    pub fn start() -> PgCluster {
        PgCluster::start_with(None)
    }

    /// A cluster that takes connections over TLS only, with this certificate and key (PEM):
    /// a client in clear is refused by the server.
    pub fn start_tls(cert: &[u8], key: &[u8]) -> PgCluster {
        PgCluster::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&[u8], &[u8])>) -> PgCluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("sportello-pg-")
            .tempdir_in("/var/tmp")
            .unwrap();
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            let out = std::process::Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        let out = as_postgres(&bin.join("initdb"))
            .args([
                "-U",
                "sportello",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-D",
            ])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if let Some((cert, key)) = tls {
            let data = dir.path().join("data");
            let private = |name: &str, bytes: &[u8]| {
                use std::os::unix::fs::PermissionsExt as _;
                let path = data.join(name);
                std::fs::write(&path, bytes).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
                // SAFETY: getuid has no preconditions.
                if unsafe { libc::getuid() } == 0 {
                    let out = std::process::Command::new("chown")
                        .arg("postgres")
                        .arg(&path)
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                }
            };
            private("server.crt", cert);
            private("server.key", key);
            private(
                "pg_hba.conf",
                b"local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
            );
            let conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
            private(
                "postgresql.conf",
                format!(
                    "{conf}\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                )
                .as_bytes(),
            );
        }
        let c = PgCluster { dir, bin, port };
        c.ctl(&["start"]);
        c
    }

    fn ctl(&self, args: &[&str]) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            ))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://sportello@127.0.0.1:{}/{database}", self.port)
    }

    /// Restarts the server, ending every open connection.
    pub fn restart(&self) {
        self.ctl(&["restart", "-m", "fast"]);
    }

    /// Stops the server and every process of it (SIGSTOP) until the value is dropped: open
    /// connections stay open and nothing answers on them, and new ones are not accepted — a
    /// database host that froze.
    pub fn freeze(&self) -> Frozen {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        let postmaster: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("the postmaster's pid");
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (name) state ppid …`: the name may hold spaces, so read after its `)`.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if parent == Some(postmaster)
                && let Ok(pid) = entry.file_name().to_string_lossy().parse()
            {
                pids.push(pid);
            }
        }
        for &pid in &pids {
            // SAFETY: kill has no memory preconditions; the pids are this cluster's.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        Frozen { pids }
    }
}

/// A frozen server ([`PgCluster::freeze`]); it runs on when this is dropped, even on a failed
/// assertion, so the cluster can be stopped.
pub struct Frozen {
    pids: Vec<i32>,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: as in `freeze`.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
