//! The LAN server's certificate: from `[lan]`, or self-signed on first start and kept.

use std::path::Path;

use config::LanConfig;
pub use web::tls::TlsPem;

/// Loads the configured certificate, or the self-signed one in `tls_dir`, making it if absent.
pub fn certificate(config: &LanConfig, tls_dir: &Path) -> anyhow::Result<TlsPem> {
    web::tls::load_or_make(
        config.cert.as_deref(),
        config.key.as_deref(),
        tls_dir,
        "lan",
    )
}
