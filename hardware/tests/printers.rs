//! The real printer drivers against printers emulated at the far end of real links: a TCP
//! listener on loopback (port 9100's protocol), and pseudo-terminals standing in for a serial
//! port and for `/dev/usb/lp0`. The emulated printer answers `DLE EOT` as an Epson does.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use hardware::emulated::{Shared, serve};
use hardware::printer::{EscPosPrinter, Printer, PrinterError, PrinterStatus};

fn network_printer() -> (u16, Shared) {
    hardware::emulated::network().unwrap()
}

const TICKET: &[u8] = b"\x1b@\x1bt\x10A042\n\x1dV\x42\x03";

fn check_every_state(printer: &mut dyn Printer, state: &Shared) {
    assert_eq!(printer.status().unwrap(), PrinterStatus::Ready);
    printer.print(TICKET).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.lock().unwrap().printed.len() < TICKET.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        state.lock().unwrap().printed,
        TICKET,
        "the ticket's bytes, exactly"
    );

    state.lock().unwrap().near_end = true;
    assert_eq!(printer.status().unwrap(), PrinterStatus::PaperLow);
    state.lock().unwrap().out = true;
    assert_eq!(printer.status().unwrap(), PrinterStatus::PaperOut);
    {
        let mut s = state.lock().unwrap();
        (s.out, s.near_end, s.cover_open) = (false, false, true);
    }
    assert_eq!(printer.status().unwrap(), PrinterStatus::CoverOpen);
    state.lock().unwrap().cover_open = false;
    assert_eq!(printer.status().unwrap(), PrinterStatus::Ready);
    // Three questions a status, two when the cover is open (nothing more to learn).
    assert_eq!(state.lock().unwrap().questions, 4 * 3 + 2);
}

#[test]
fn a_network_printer_reports_each_state_and_gets_the_exact_bytes() {
    let (port, state) = network_printer();
    let mut printer = EscPosPrinter::network("127.0.0.1".into(), port, Duration::from_millis(500));
    check_every_state(&mut printer, &state);
}

#[test]
fn a_printer_that_does_not_answer_is_offline_within_the_timeout_then_comes_back() {
    let (port, state) = network_printer();
    let mut printer = EscPosPrinter::network("127.0.0.1".into(), port, Duration::from_millis(300));
    state.lock().unwrap().mute = true;
    let start = Instant::now();
    assert!(matches!(printer.status(), Err(PrinterError::Offline(_))));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "gave up after {:?}",
        start.elapsed()
    );
    // The silent connection was dropped; the next ticket opens a fresh one.
    state.lock().unwrap().mute = false;
    assert_eq!(printer.status().unwrap(), PrinterStatus::Ready);
}

#[test]
fn a_network_printer_that_is_gone_is_offline_not_a_hang() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut printer = EscPosPrinter::network("127.0.0.1".into(), port, Duration::from_millis(300));
    assert!(matches!(printer.status(), Err(PrinterError::Offline(_))));
    assert!(matches!(
        printer.print(TICKET),
        Err(PrinterError::Offline(_))
    ));
}

/// A pseudo-terminal pair in raw mode: the far end is the printer.
fn pty() -> (serialport::TTYPort, String) {
    let (master, slave) = serialport::TTYPort::pair().expect("a pseudo-terminal");
    let name = serialport::SerialPort::name(&slave).expect("the pty's path");
    // The driver opens the path itself.
    drop(slave);
    (master, name)
}

/// A pty master reads EIO (or polls a hang-up) while no slave is open — before the driver
/// opens it, and between its reopenings: for the emulated printer that is "nothing yet", not
/// the end.
struct Master(serialport::TTYPort);

impl std::io::Read for Master {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                // No slave open: read says EIO, and serialport's poll reports the hang-up as a
                // broken pipe or a bare I/O error. The test process ends the thread.
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
                other => return other,
            }
        }
    }
}

impl std::io::Write for Master {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn pty_printer(master: serialport::TTYPort) -> Shared {
    let state: Shared = Shared::default();
    let s = state.clone();
    std::thread::spawn(move || {
        let mut master = master;
        // Reads wait for bytes rather than spinning on short timeouts.
        serialport::SerialPort::set_timeout(&mut master, Duration::from_secs(3600)).unwrap();
        serve(Master(master), &s)
    });
    state
}

#[test]
fn a_serial_printer_reports_each_state_and_gets_the_exact_bytes() {
    let (master, path) = pty();
    let state = pty_printer(master);
    let mut printer = EscPosPrinter::serial(path, 19200, Duration::from_millis(500));
    check_every_state(&mut printer, &state);
}

#[test]
fn a_usblp_printer_reports_each_state_and_a_silent_one_times_out() {
    let (master, path) = pty();
    let state = pty_printer(master);
    let mut printer = EscPosPrinter::lp(path.into(), Duration::from_millis(300), true);
    check_every_state(&mut printer, &state);
    state.lock().unwrap().mute = true;
    let start = Instant::now();
    assert!(matches!(printer.status(), Err(PrinterError::Offline(_))));
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_one_way_printer_is_not_asked_and_still_prints() {
    let (master, path) = pty();
    let state = pty_printer(master);
    let mut printer = EscPosPrinter::lp(path.into(), Duration::from_millis(300), false);
    assert_eq!(printer.status().unwrap(), PrinterStatus::Ready);
    printer.print(TICKET).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let s = state.lock().unwrap();
    assert_eq!(s.questions, 0);
    assert_eq!(s.printed, TICKET);
}
