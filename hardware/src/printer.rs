//! The ticket printer behind a trait. The kiosk asks for the status before every ticket and
//! sends ready-made ESC/POS bytes.
//!
//! [`EscPosPrinter`] is the real printer over any `escpos` crate driver: USB through the crate's
//! pure-Rust `NativeUsbDriver`, TCP port 9100 through its `NetworkDriver`, and two drivers of
//! our own — [`LpDriver`] for the kernel's `/dev/usb/lp*` (the crate's `FileDriver` reads with
//! no timeout, so a printer that never answers would hang the kiosk) and [`SerialDriver`] over
//! `serialport` without its libudev default (which breaks the Pi cross-build). Status is the
//! real-time `DLE EOT` request, decoded by the crate. [`SimulatedPrinter`] stands in where
//! there is no printer.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use escpos::driver::Driver;
use escpos::utils::{RealTimeStatusRequest, RealTimeStatusResponse};

/// What the printer reports (ESC/POS `DLE EOT` real-time status, decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterStatus {
    /// Can print.
    Ready,
    /// Can print, but the roll is nearly finished.
    PaperLow,
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

/// A link to a printer, opened (and opened again after a failure) on demand.
pub type Link = Box<dyn Driver + Send>;

/// Opens a link to the printer.
pub type Opener = Box<dyn FnMut() -> Result<Link, String> + Send>;

/// An ESC/POS printer over an `escpos` driver. A link that fails is dropped and opened again on
/// the next ticket, so a printer unplugged and plugged back in, or restarted, just works again.
pub struct EscPosPrinter {
    open: Opener,
    link: Option<Link>,
    answers_status: bool,
}

const DLE: u8 = 0x10;
const EOT: u8 = 0x04;

impl EscPosPrinter {
    /// A printer reached through `open`. `answers_status` is false for printers that cannot
    /// send anything back (one-way interfaces): then nothing is asked before printing.
    pub fn new(open: Opener, answers_status: bool) -> Self {
        Self {
            open,
            link: None,
            answers_status,
        }
    }

    /// USB by vendor and product id, through the kernel's usbfs (the kernel's `usblp` is
    /// detached from the interface while Sportello holds it).
    pub fn usb(vendor: u16, product: u16) -> Self {
        Self::new(
            Box::new(move || {
                escpos::driver::NativeUsbDriver::open(vendor, product)
                    .map(|d| Box::new(d) as Link)
                    .map_err(|e| format!("USB {vendor:04x}:{product:04x}: {e}"))
            }),
            true,
        )
    }

    /// Raw TCP (port 9100 on most network printers). `host` is an IP address.
    pub fn network(host: String, port: u16, timeout: Duration) -> Self {
        Self::new(
            Box::new(move || {
                escpos::driver::NetworkDriver::open(&host, port, Some(timeout))
                    .map(|d| Box::new(d) as Link)
                    .map_err(|e| format!("{host}:{port}: {e}"))
            }),
            true,
        )
    }

    /// The kernel's USB printer device (`/dev/usb/lp0`, or a udev symlink to it).
    pub fn lp(path: PathBuf, timeout: Duration, answers_status: bool) -> Self {
        Self::new(
            Box::new(move || {
                LpDriver::open(&path, timeout)
                    .map(|d| Box::new(d) as Link)
                    .map_err(|e| format!("{}: {e}", path.display()))
            }),
            answers_status,
        )
    }

    /// A serial port (RS-232 through an adapter, or CDC-ACM).
    pub fn serial(path: String, baud: u32, timeout: Duration) -> Self {
        Self::new(
            Box::new(move || {
                SerialDriver::open(&path, baud, timeout)
                    .map(|d| Box::new(d) as Link)
                    .map_err(|e| format!("{path}: {e}"))
            }),
            true,
        )
    }

    fn link(&mut self) -> Result<&Link, PrinterError> {
        if self.link.is_none() {
            self.link = Some((self.open)().map_err(PrinterError::Offline)?);
        }
        Ok(self.link.as_ref().expect("just opened"))
    }

    /// Runs `f` on the link; on failure the link is dropped, to be opened again next time.
    fn with_link<T>(
        &mut self,
        f: impl FnOnce(&Link) -> Result<T, escpos::errors::PrinterError>,
    ) -> Result<T, PrinterError> {
        let result = f(self.link()?);
        result.map_err(|e| {
            self.link = None;
            PrinterError::Offline(e.to_string())
        })
    }

    fn ask(
        &mut self,
        n: u8,
        request: RealTimeStatusRequest,
    ) -> Result<std::collections::HashMap<RealTimeStatusResponse, bool>, PrinterError> {
        let byte = self.with_link(|l| {
            l.write(&[DLE, EOT, n])?;
            l.flush()?;
            let mut b = [0u8; 1];
            match l.read(&mut b)? {
                1 => Ok(b[0]),
                _ => Err(escpos::errors::PrinterError::Io(
                    "the printer closed the connection".into(),
                )),
            }
        })?;
        RealTimeStatusResponse::parse(request, byte).map_err(|e| {
            // Out of step (a late answer, noise): start again from a fresh link.
            self.link = None;
            PrinterError::Offline(e.to_string())
        })
    }
}

impl Printer for EscPosPrinter {
    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        if !self.answers_status {
            self.link()?;
            return Ok(PrinterStatus::Ready);
        }
        let printer = self.ask(1, RealTimeStatusRequest::Printer)?;
        let offline = printer.get(&RealTimeStatusResponse::Online) == Some(&false);
        let cause = self.ask(2, RealTimeStatusRequest::OfflineCause)?;
        if cause.get(&RealTimeStatusResponse::CoverClosed) == Some(&false) {
            return Ok(PrinterStatus::CoverOpen);
        }
        let roll = self.ask(4, RealTimeStatusRequest::RollPaperSensor)?;
        if cause.get(&RealTimeStatusResponse::PrintingStopsDueToPaperEnd) == Some(&true)
            || roll.get(&RealTimeStatusResponse::RollPaperEndSensorPaperPresent) == Some(&false)
        {
            return Ok(PrinterStatus::PaperOut);
        }
        if offline {
            return Err(PrinterError::Offline(
                "the printer says it is offline".into(),
            ));
        }
        if roll.get(&RealTimeStatusResponse::RollPaperNearEndSensorPaperAdequate) == Some(&false) {
            return Ok(PrinterStatus::PaperLow);
        }
        Ok(PrinterStatus::Ready)
    }

    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        self.with_link(|l| {
            l.write(bytes)?;
            l.flush()
        })
    }
}

/// The kernel's USB printer device, read with a timeout.
pub struct LpDriver {
    name: String,
    file: Mutex<std::fs::File>,
    timeout: Duration,
}

impl LpDriver {
    /// Opens `path` for writing and reading.
    pub fn open(path: &Path, timeout: Duration) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Self {
            name: path.display().to_string(),
            file: Mutex::new(file),
            timeout,
        })
    }
}

impl Driver for LpDriver {
    fn name(&self) -> String {
        format!("usblp ({})", self.name)
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f.write_all(data)?)
    }

    fn read(&self, buf: &mut [u8]) -> escpos::errors::Result<usize> {
        use std::io::Read;
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let mut fds = [libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call; the fd belongs to `f`, which
        // the lock keeps open.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        match n {
            0 => Err(escpos::errors::PrinterError::Io(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
            n if n < 0 => Err(std::io::Error::last_os_error().into()),
            _ => Ok(f.read(buf)?),
        }
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(self
            .file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush()?)
    }
}

/// A serial printer, through `serialport` without libudev.
pub struct SerialDriver {
    name: String,
    port: Mutex<Box<dyn serialport::SerialPort>>,
}

impl SerialDriver {
    /// Opens `path` at `baud`; reads give up after `timeout`.
    pub fn open(path: &str, baud: u32, timeout: Duration) -> serialport::Result<Self> {
        let port = serialport::new(path, baud).timeout(timeout).open()?;
        Ok(Self {
            name: path.to_owned(),
            port: Mutex::new(port),
        })
    }
}

impl Driver for SerialDriver {
    fn name(&self) -> String {
        format!("serial ({})", self.name)
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        let mut p = self.port.lock().unwrap_or_else(|p| p.into_inner());
        Ok(p.write_all(data)?)
    }

    fn read(&self, buf: &mut [u8]) -> escpos::errors::Result<usize> {
        let mut p = self.port.lock().unwrap_or_else(|p| p.into_inner());
        Ok(std::io::Read::read(&mut *p, buf)?)
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        let mut p = self.port.lock().unwrap_or_else(|p| p.into_inner());
        Ok(p.flush()?)
    }
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
