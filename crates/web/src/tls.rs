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
    let certified = rcgen::generate_simple_self_signed(names())?;
    Ok(TlsPem {
        cert: certified.cert.pem().into_bytes(),
        key: certified.signing_key.serialize_pem().into_bytes(),
    })
}

/// A new self-signed certificate on the key of `old`: a renewal, which the kiosks' pin of the
/// key ([`key_pin`]) survives.
pub fn renewed(old: &TlsPem) -> anyhow::Result<TlsPem> {
    let key = rcgen::KeyPair::from_pem(std::str::from_utf8(&old.key)?)?;
    let cert = rcgen::CertificateParams::new(names())?.self_signed(&key)?;
    Ok(TlsPem {
        cert: cert.pem().into_bytes(),
        key: old.key.clone(),
    })
}

/// The names a self-signed certificate is made for: loopback, mDNS, this host.
fn names() -> Vec<String> {
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
    names
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

/// The SHA-256 of a DER certificate's public key (its SubjectPublicKeyInfo): how kiosks pin
/// the hub, so that a certificate renewed on the same key is still the same hub.
pub fn key_pin(cert_der: &[u8]) -> Result<[u8; 32], String> {
    use sha2::Digest;
    let der = rustls_pki_types::CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| format!("certificate: {e}"))?;
    Ok(sha2::Sha256::digest(cert.subject_public_key_info().as_ref()).into())
}

/// [`key_pin`] of the first certificate of a PEM chain, in hex: what `sportello enroll
/// --fingerprint` takes.
pub fn key_pin_of_pem(pem: &[u8]) -> Result<String, String> {
    use rustls_pki_types::pem::PemObject;
    let first = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or("no certificate in the PEM")?
        .map_err(|e| format!("PEM: {e}"))?;
    Ok(key_pin(first.as_ref())?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_on_the_same_key_keeps_the_pin_and_a_new_key_does_not() {
        let first = self_signed().unwrap();
        let again = renewed(&first).unwrap();
        assert_ne!(first.cert, again.cert, "a new certificate");
        let pin = |p: &TlsPem| key_pin_of_pem(&p.cert).unwrap();
        assert_eq!(pin(&first), pin(&again));
        assert_eq!(pin(&first).len(), 64);
        assert_ne!(pin(&first), pin(&self_signed().unwrap()));
    }
}
