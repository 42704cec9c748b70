//! The printer, the scanner and the panel the configuration names, opened behind their traits.

use std::path::Path;
use std::time::Duration;

use hardware::printer::{EscPosPrinter, Printer, SimulatedPrinter};
use hardware::scanner::{LineScanner, PresenceHook, Reopening, Scanner};
use ticket::{Paper, PrintOptions, QrMode};

use config::{
    ConfigError, PanelConfig, PanelKind, PaperWidth, PrinterConfig, PrinterKind, QrPrint,
    ScannerConfig, ScannerKind,
};
use hardware::panel::{Panel, SimulatedPanel};

/// How tickets are laid out for the configured printer.
pub fn print_options(c: &PrinterConfig) -> PrintOptions {
    PrintOptions {
        paper: match c.paper {
            PaperWidth::Mm58 => Paper::Mm58,
            PaperWidth::Mm80 => Paper::Mm80,
        },
        code_page: c.code_page,
        qr: match c.qr {
            QrPrint::Native => QrMode::Native,
            QrPrint::Raster => QrMode::Raster,
        },
    }
}

fn missing(key: &str, kind: &str) -> ConfigError {
    ConfigError::Invalid(format!(
        "printer.kind = \"{kind}\" needs {key} (see docs/configuration.md)"
    ))
}

/// The configured printer, or none (`kind = "none"`). `simulated_file` overrides
/// `printer.file` (the demo keeps its bytes in its own folder). Nothing is opened yet: a
/// printer that is off now is found when it is turned on.
pub fn printer(
    c: &PrinterConfig,
    simulated_file: Option<&Path>,
) -> Result<Option<Box<dyn Printer>>, ConfigError> {
    let timeout = Duration::from_millis(c.timeout_ms);
    Ok(Some(match c.kind {
        PrinterKind::None => return Ok(None),
        PrinterKind::Simulated => Box::new(SimulatedPrinter::new(
            simulated_file.unwrap_or(&c.file).to_owned(),
        )),
        PrinterKind::Usb => {
            let ids = c
                .usb
                .as_deref()
                .ok_or_else(|| missing("printer.usb", "usb"))?;
            let parsed = ids.split_once(':').and_then(|(v, p)| {
                Some((
                    u16::from_str_radix(v, 16).ok()?,
                    u16::from_str_radix(p, 16).ok()?,
                ))
            });
            let (vendor, product) = parsed.ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "printer.usb is vendor:product in hex, like 04b8:0e28, not {ids:?}"
                ))
            })?;
            Box::new(EscPosPrinter::usb(vendor, product))
        }
        PrinterKind::Usblp => {
            let path = c
                .path
                .clone()
                .ok_or_else(|| missing("printer.path", "usblp"))?;
            Box::new(EscPosPrinter::lp(path, timeout, c.answers_status))
        }
        PrinterKind::Network => {
            let address = c
                .address
                .as_deref()
                .ok_or_else(|| missing("printer.address", "network"))?;
            let addr: std::net::SocketAddr = address.parse().map_err(|_| {
                ConfigError::Invalid(format!(
                    "printer.address is ip:port, like 192.168.1.50:9100, not {address:?}"
                ))
            })?;
            Box::new(EscPosPrinter::network(
                addr.ip().to_string(),
                addr.port(),
                timeout,
            ))
        }
        PrinterKind::Serial => {
            let path = c
                .path
                .as_ref()
                .ok_or_else(|| missing("printer.path", "serial"))?;
            Box::new(EscPosPrinter::serial(
                path.to_string_lossy().into_owned(),
                c.baud,
                timeout,
            ))
        }
    }))
}

/// The configured scanner. `presence` hears when a device scanner goes away and comes back.
pub fn scanner(
    c: &ScannerConfig,
    presence: PresenceHook,
) -> Result<Box<dyn Scanner + Send>, ConfigError> {
    let path = || {
        c.path.clone().ok_or_else(|| {
            ConfigError::Invalid(
                "scanner.path is needed for this scanner.kind (see docs/configuration.md)".into(),
            )
        })
    };
    Ok(match c.kind {
        ScannerKind::Stdin => Box::new(LineScanner::new(std::io::BufReader::new(std::io::stdin()))),
        ScannerKind::Fifo => Box::new(Reopening::fifo(path()?, presence)),
        ScannerKind::Serial => Box::new(Reopening::serial(
            path()?.to_string_lossy().into_owned(),
            c.baud,
            presence,
        )),
        ScannerKind::Evdev => Box::new(Reopening::evdev(path()?, presence)),
    })
}

/// The configured panel, or none. A GPIO panel that cannot be opened (not a Pi, no access to
/// the pins) is logged and left out: the kiosk serves without its light and buttons rather
/// than not at all.
pub fn panel(c: &PanelConfig) -> Option<Box<dyn Panel>> {
    match c.kind {
        PanelKind::None => None,
        PanelKind::Simulated => Some(Box::new(SimulatedPanel::default())),
        PanelKind::Gpio => gpio_panel(c),
    }
}

#[cfg(feature = "rpi")]
fn gpio_panel(c: &PanelConfig) -> Option<Box<dyn Panel>> {
    let pins = hardware::panel::PanelPins {
        light_red: c.light_red,
        light_green: c.light_green,
        buzzer: c.buzzer,
        call_button: c.call_button,
        presence: Some(c.presence),
        speech_key: Some(c.speech_key),
        headset: Some(c.headset),
    };
    match hardware::panel::GpioPanel::open(&pins) {
        Ok(p) => Some(Box::new(p)),
        Err(e) => {
            tracing::error!(error = %e, "panel.kind = \"gpio\" but the panel cannot be opened: no light, buzzer or buttons");
            None
        }
    }
}

#[cfg(not(feature = "rpi"))]
fn gpio_panel(_: &PanelConfig) -> Option<Box<dyn Panel>> {
    tracing::error!("panel.kind = \"gpio\" but this build has no GPIO (the kiosk build has)");
    None
}
