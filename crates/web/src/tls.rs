//! A server's certificate: from configuration, or self-signed on first start and kept (the
//! branch LAN is not trusted, so even the hall display speaks HTTPS).

use std::path::Path;

/// PEM certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsPem {
    /// Certificate chain.
    pub cert: Vec<u8>,
    /// Private key.
    pub key: Vec<u8>,
}

/// The certificate at `cert`/`key` (both or neither, `<setting>.cert` and `<setting>.key` in
/// messages), or `<setting>.crt`/`.key` self-signed in `tls_dir`, made on first use and kept.
pub fn load_or_make(
    cert: Option<&Path>,
    key: Option<&Path>,
    tls_dir: &Path,
    setting: &str,
) -> anyhow::Result<TlsPem> {
    use anyhow::Context;
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(TlsPem {
            cert: std::fs::read(cert)
                .with_context(|| format!("cannot read {setting}.cert {}", cert.display()))?,
            key: std::fs::read(key)
                .with_context(|| format!("cannot read {setting}.key {}", key.display()))?,
        }),
        (None, None) => {
            let (cert, key) = (
                tls_dir.join(format!("{setting}.crt")),
                tls_dir.join(format!("{setting}.key")),
            );
            if cert.exists() && key.exists() {
                return Ok(TlsPem {
                    cert: std::fs::read(&cert)?,
                    key: std::fs::read(&key)?,
                });
            }
            let pem = self_signed()?;
            std::fs::create_dir_all(tls_dir)
                .with_context(|| format!("cannot create {}", tls_dir.display()))?;
            write_private(&key, &pem.key)?;
            std::fs::write(&cert, &pem.cert)?;
            tracing::info!(cert = %cert.display(), "made a self-signed certificate for the {setting} server");
            Ok(pem)
        }
        _ => anyhow::bail!("{setting}.cert and {setting}.key must be set together"),
    }
}

/// A new self-signed certificate for the names a branch PC may use to reach the kiosk.
pub fn self_signed() -> anyhow::Result<TlsPem> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "sportello.local".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
            names.push(format!("{host}.local"));
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    Ok(TlsPem {
        cert: certified.cert.pem().into_bytes(),
        key: certified.signing_key.serialize_pem().into_bytes(),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
