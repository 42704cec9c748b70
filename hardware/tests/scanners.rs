//! Scanners that go away and come back: a named pipe whose writer closes and reopens, and a
//! serial scanner (a pseudo-terminal behind a udev-style symlink) unplugged and plugged back.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardware::scanner::{Reopening, Scanner};

/// Runs the scanner on its own thread, as the kiosk does; codes and presence come back on
/// channels.
fn run(mut scanner: Reopening) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(Some(code)) = scanner.next_scan() {
            if tx.send(code).is_err() {
                return;
            }
        }
    });
    rx
}

fn presence() -> (Arc<Mutex<Vec<bool>>>, hardware::scanner::PresenceHook) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, Box::new(move |p| s.lock().unwrap().push(p)))
}

fn next(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a scan within 10 s")
}

#[test]
fn a_pipe_scanner_reads_again_after_its_writer_closes() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("scanner");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (seen, hook) = presence();
    let rx = run(Reopening::fifo(fifo.clone(), hook).retry_every(Duration::from_millis(20)));
    for round in ["SP1:FIRST", "SP1:SECOND"] {
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        writeln!(w, "{round}").unwrap();
        drop(w);
        assert_eq!(next(&rx), round);
        // The reader sees the writer go before the next one comes.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().last() != Some(&false) {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [true, false, true, false],
        "gone when the writer closed, back after"
    );
}

fn pty() -> (serialport::TTYPort, String) {
    let (master, slave) = serialport::TTYPort::pair().expect("a pseudo-terminal");
    let name = serialport::SerialPort::name(&slave).unwrap();
    drop(slave);
    (master, name)
}

/// Points `link` at `target` in one step, as udev does when a device appears.
fn point(link: &Path, target: &str) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

#[test]
fn a_serial_scanner_unplugged_and_plugged_back_goes_on_reading() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("qr-scanner");
    let (mut first, path) = pty();
    point(&link, &path);
    let (seen, hook) = presence();
    let rx = run(Reopening::serial(link.to_str().unwrap().into(), 9600, hook)
        .retry_every(Duration::from_millis(20)));
    // Opened before the first code is sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    // Scanners end codes with CR, LF or both.
    first.write_all(b"SP1:ONE\r\n").unwrap();
    assert_eq!(next(&rx), "SP1:ONE");
    // Unplugged: the device node goes away.
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let (mut second, path) = pty();
    point(&link, &path);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().last() != Some(&true) || seen.lock().unwrap().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    second.write_all(b"SP1:TWO\r").unwrap();
    assert_eq!(next(&rx), "SP1:TWO");
    assert_eq!(&seen.lock().unwrap()[..3], [true, false, true]);
}
