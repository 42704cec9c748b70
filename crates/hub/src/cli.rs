//! The hub's commands: `sportello hub` and the administration commands that act on its
//! database directly (the first administrator has nobody to log in as).

use crate::{HubState, accounts, db, devices};
use config::HubConfig;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn pool(config: &HubConfig) -> anyhow::Result<deadpool_postgres::Pool> {
    let ca = match &config.database_ca {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            anyhow::anyhow!("hub.database_ca: cannot read {}: {e}", path.display())
        })?),
        None => None,
    };
    let pool = db::pool_with(&config.database_url, config.pool_size, ca.as_deref())?;
    let applied = db::migrate(&pool).await.map_err(|e| {
        anyhow::anyhow!("{e} (hub.database_url = {})", redact(&config.database_url))
    })?;
    if applied > 0 {
        tracing::info!(applied, "hub database migrated");
    }
    Ok(pool)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "hub".into())
}

/// Serves the hub until interrupted.
pub fn serve(config: &HubConfig) -> anyhow::Result<()> {
    let service = web::systemd::Service::from_env();
    runtime()?.block_on(async {
        let pool = pool(config).await?;
        let tls = web::tls::load_or_make(
            config.cert.as_deref(),
            config.key.as_deref(),
            &config.tls_dir,
            "hub",
        )?;
        let kek = std::sync::Arc::new(
            crate::keys::open_or_make(&mut pool.get().await?, &config.key_encryption_key).await?,
        );
        // The kiosks pin the key; they learn the next one from the feed before it is used.
        let mut hub_keys = vec![
            web::tls::key_pin_of_pem(&tls.cert)
                .map_err(|e| anyhow::anyhow!("the hub's certificate: {e}"))?,
        ];
        if let Some(next) = &config.next_cert {
            let pem = std::fs::read(next).map_err(|e| {
                anyhow::anyhow!("hub.next_cert: cannot read {}: {e}", next.display())
            })?;
            let pin = web::tls::key_pin_of_pem(&pem)
                .map_err(|e| anyhow::anyhow!("hub.next_cert {}: {e}", next.display()))?;
            if !hub_keys.contains(&pin) {
                tracing::info!(pin, "the next hub key is announced to the kiosks");
                hub_keys.push(pin);
            }
        }
        let state = HubState::new(pool.clone())
            .with_kek(kek.clone())
            .with_hub_keys(hub_keys)
            .with_min_client_version(config.min_client_version.clone())
            .with_metrics_token(config.metrics_token.clone())
            .with_person_key_secret(config.person_key_secret.as_deref())
            .with_trusted_proxies(&config.trusted_proxies)?;
        if config.person_key_secret.is_none() {
            tracing::warn!("hub.person_key_secret is not set: the Agenda cannot book");
        }
        if let Some(identity) = crate::identity::IdentityConfig::from_config(config, &tls.cert)? {
            let s = identity.rp.settings();
            if identity.builtin {
                tracing::warn!("identification through the built-in TEST provider: demo only");
            } else {
                tracing::info!(
                    mode = ?s.mode,
                    provider = s.issuer,
                    client_id = s.client_id,
                    anchor = s.federation.as_ref().map(|t| t.anchor.as_str()),
                    "identification through an outside provider"
                );
            }
            let _ = state.identity.set(identity);
        }
        let notifier = crate::notify::Notifier::from_config(config)?;
        let server = crate::server::start(state, &config.listen, &tls).await?;
        println!("Hub: https://{}", server.addr);
        // What an installer checks, or passes to `sportello enroll --fingerprint`: the kiosks
        // pin the key, so it stays the same through a renewal on the same key.
        match web::tls::key_pin_of_pem(&tls.cert) {
            Ok(pin) => println!("Hub key pin: {pin}"),
            Err(e) => tracing::warn!(error = %e, "cannot read the hub's certificate for its pin"),
        }
        // Background jobs: every instance polls; the table's row locks share them out.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = format!("{}-{}", hostname(), std::process::id());
        let jobs = tokio::spawn({
            let pool = pool.clone();
            crate::jobs::run(
                pool.clone(),
                worker,
                std::time::Duration::from_secs(2),
                stopped.clone(),
                crate::server::job_registry(pool, notifier),
            )
        });
        let scheduler = tokio::spawn({
            let pool = pool.clone();
            let mut stopped = stopped;
            async move {
                loop {
                    if let Ok(mut c) = pool.get().await {
                        if let Err(e) = crate::retention::schedule_daily(&c).await {
                            tracing::warn!(error = %e, "daily jobs not scheduled");
                        }
                        if let Err(e) = crate::contatti::schedule_escalation(&c).await {
                            tracing::warn!(error = %e, "escalation sweep not scheduled");
                        }
                        if let Err(e) = crate::figures::schedule_daily(&c).await {
                            tracing::warn!(error = %e, "the night's figures not scheduled");
                        }
                        if let Err(e) = crate::keys::upkeep(&mut c, &kek).await {
                            tracing::warn!(error = %e, "signing keys' upkeep failed");
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }
        });
        // The hub is stateless: a database that is down is not cured by a restart, so only
        // the runtime itself feeds the watchdog.
        let heart = service.heart("runtime");
        let every = service.beat_every();
        tokio::spawn(async move {
            loop {
                heart.beat();
                tokio::time::sleep(every).await;
            }
        });
        service.ready(&format!("hub on {}", server.addr));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        service.stopping();
        tracing::info!("hub stopping");
        let _ = stop.send(true);
        server.stop().await;
        let _ = tokio::join!(jobs, scheduler);
        Ok(())
    })
}

/// `sportello admin create-user`.
pub fn create_user(
    config: &HubConfig,
    username: &str,
    role: &str,
    branch: Option<u16>,
    password: &str,
) -> anyhow::Result<()> {
    let role = accounts::Role::parse(role).ok_or_else(|| {
        anyhow::anyhow!("role is admin, supervisor, backoffice or counter, not `{role}`")
    })?;
    runtime()?.block_on(async {
        let mut client = pool(config).await?.get().await?;
        accounts::create_user(&mut client, "cli", username, password, role, branch).await?;
        Ok(())
    })
}

/// `sportello admin reset-password`.
pub fn reset_password(config: &HubConfig, username: &str, password: &str) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut client = pool(config).await?.get().await?;
        accounts::reset_password(&mut client, "cli", username, password).await?;
        Ok(())
    })
}

/// `sportello admin enrolment-code`: prints a one-time code.
pub fn enrolment_code(
    config: &HubConfig,
    branch: u16,
    role: protocol::wire::DeviceRole,
) -> anyhow::Result<String> {
    runtime()?.block_on(async {
        let mut client = pool(config).await?.get().await?;
        Ok(devices::create_code(&mut client, "cli", branch, role).await?)
    })
}

/// `sportello admin seed-demo`: loads a branch's data whole (see [`crate::seed`]).
pub fn seed(config: &HubConfig, seed: &crate::seed::BranchSeed) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut client = pool(config).await?.get().await?;
        crate::seed::seed_branch(&mut client, seed).await?;
        Ok(())
    })
}

/// `sportello admin new-feed-epoch`: every kiosk pulls its branch again from the start.
pub fn new_feed_epoch(config: &HubConfig) -> anyhow::Result<u64> {
    runtime()?.block_on(async {
        let client = pool(config).await?.get().await?;
        Ok(crate::feed::new_epoch(&client, "cli").await?)
    })
}

/// `sportello admin rotate-keys`: a new booking key signs from now on; the old one's
/// bookings keep working until they are past.
pub fn rotate_keys(config: &HubConfig) -> anyhow::Result<u16> {
    runtime()?.block_on(async {
        let pool = pool(config).await?;
        let mut c = pool.get().await?;
        let kek = crate::keys::open_or_make(&mut c, &config.key_encryption_key).await?;
        Ok(crate::keys::rotate_booking_key(&mut c, &kek).await?)
    })
}

/// `sportello admin reseal-keys --new FILE`: seals every signing key under the new
/// key-encryption key; the hubs are then restarted with `hub.key_encryption_key` naming it.
pub fn reseal_keys(config: &HubConfig, new: &std::path::Path) -> anyhow::Result<usize> {
    runtime()?.block_on(async {
        let pool = pool(config).await?;
        let mut c = pool.get().await?;
        let old = crate::keys::Kek::read(&config.key_encryption_key)?;
        let new = if new.exists() {
            crate::keys::Kek::read(new)?
        } else {
            crate::keys::Kek::create(new)?
        };
        Ok(crate::keys::reseal(&mut c, &old, &new).await?)
    })
}

/// `sportello admin revoke-device`.
pub fn revoke_device(config: &HubConfig, device: &str) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = pool(config).await?.get().await?;
        devices::revoke(&client, "cli", device).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("postgres://hub:s3cret@db.example:5432/sportello"),
            "postgres://hub@db.example:5432/sportello"
        );
        assert_eq!(
            super::redact("postgres://hub@db:5432/x"),
            "postgres://hub@db:5432/x"
        );
    }
}
