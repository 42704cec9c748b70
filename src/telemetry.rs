//! Logging. Logs never carry personal data: codes, names and person keys stay out of every
//! event (a test runs the demo flows and searches the output for them).

use tracing_subscriber::EnvFilter;

use config::{LogConfig, LogFormat};

/// Installs the global subscriber, writing to standard error. `RUST_LOG` overrides the level.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = match config.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
