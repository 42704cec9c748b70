//! The ticket printer behind a trait. The kiosk asks for the status before every ticket and
//! sends ready-made ESC/POS bytes; drivers for USB, `/dev/usb/lp*`, TCP 9100 and serial come
//! with the check-in work, beside the simulated printer here.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the printer reports (ESC/POS `DLE EOT` real-time status, decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterStatus {
    /// Can print.
    Ready,
    /// No paper.
    PaperOut,
    /// Cover open.
    CoverOpen,
}

/// Why printing failed.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// The printer does not answer (unplugged, off, network down).
    #[error("the printer does not answer: {0}")]
    Offline(String),
    /// It answered that it cannot print.
    #[error("the printer cannot print: {0:?}")]
    NotReady(PrinterStatus),
}

/// A ticket printer.
pub trait Printer: Send {
    /// The printer's state now.
    fn status(&mut self) -> Result<PrinterStatus, PrinterError>;
    /// Sends bytes to print.
    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError>;
}

/// What a test or the demo can do to the simulated printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedState {
    /// Prints.
    Ready,
    /// Out of paper.
    PaperOut,
    /// Cover open.
    CoverOpen,
    /// Gone (unplugged).
    Vanished,
}

/// A printer that appends what it is sent to a file, and can be told to fail.
pub struct SimulatedPrinter {
    path: PathBuf,
    state: Arc<Mutex<SimulatedState>>,
}

impl SimulatedPrinter {
    /// Prints into `path` (appended, so a run's tickets follow one another).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: Arc::new(Mutex::new(SimulatedState::Ready)),
        }
    }

    /// A handle that changes the printer's state from elsewhere.
    pub fn control(&self) -> Arc<Mutex<SimulatedState>> {
        self.state.clone()
    }

    fn state(&self) -> SimulatedState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Printer for SimulatedPrinter {
    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        match self.state() {
            SimulatedState::Ready => Ok(PrinterStatus::Ready),
            SimulatedState::PaperOut => Ok(PrinterStatus::PaperOut),
            SimulatedState::CoverOpen => Ok(PrinterStatus::CoverOpen),
            SimulatedState::Vanished => {
                Err(PrinterError::Offline("simulated printer unplugged".into()))
            }
        }
    }

    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        match self.status()? {
            PrinterStatus::Ready => {}
            other => return Err(PrinterError::NotReady(other)),
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| PrinterError::Offline(e.to_string()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| PrinterError::Offline(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_printer_prints_until_told_otherwise() {
        let dir = std::env::temp_dir().join(format!("sportello-printer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.bin");
        let _ = std::fs::remove_file(&path);
        let mut p = SimulatedPrinter::new(path.clone());
        let control = p.control();
        p.print(b"one").unwrap();
        *control.lock().unwrap() = SimulatedState::PaperOut;
        assert_eq!(p.status().unwrap(), PrinterStatus::PaperOut);
        assert!(matches!(
            p.print(b"two"),
            Err(PrinterError::NotReady(PrinterStatus::PaperOut))
        ));
        *control.lock().unwrap() = SimulatedState::Vanished;
        assert!(matches!(p.status(), Err(PrinterError::Offline(_))));
        *control.lock().unwrap() = SimulatedState::Ready;
        p.print(b"three").unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"onethree",
            "nothing printed while failing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
