//! QR code scanners: one trait, a line reader for everything that delivers text lines (stdin,
//! a named pipe, serial and CDC-ACM scanners), a keyboard-wedge reader for USB HID scanners
//! through evdev, and reopening after the device goes away for all of them.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

/// A source of scanned codes, one per call.
pub trait Scanner {
    /// Waits for the next scanned code; `Ok(None)` when the device is gone for good.
    fn next_scan(&mut self) -> std::io::Result<Option<String>>;
}

/// A scanner that reads one code per line from any reader: the simulated scanner (stdin or a
/// FIFO), and the shape of a serial scanner in line mode.
pub struct LineScanner<R> {
    reader: R,
}

impl<R: BufRead> LineScanner<R> {
    /// Reads codes from `reader`.
    pub fn new(reader: R) -> Self {
        Self { reader }
    }
}

impl<R: BufRead> Scanner for LineScanner<R> {
    fn next_scan(&mut self) -> std::io::Result<Option<String>> {
        // Scanners end a code with CR, LF or both: either ends it, and the empty "line"
        // between CR and LF is skipped (waiting to see whether LF follows CR would hold a
        // CR-only scanner's code until the next scan).
        let mut code = Vec::new();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                if code.is_empty() {
                    return Ok(None);
                }
                break;
            }
            match buf.iter().position(|&b| b == b'\r' || b == b'\n') {
                Some(end) => {
                    code.extend_from_slice(&buf[..end]);
                    self.reader.consume(end + 1);
                    if !code.is_empty() {
                        break;
                    }
                }
                None => {
                    let n = buf.len();
                    // A code is at most a few hundred characters: noise without line ends
                    // must not fill memory.
                    if code.len() < 64 * 1024 {
                        code.extend_from_slice(buf);
                    }
                    self.reader.consume(n);
                }
            }
        }
        Ok(Some(String::from_utf8_lossy(&code).into_owned()))
    }
}

/// Opens a scanner's device.
pub type ScannerOpener = Box<dyn FnMut() -> std::io::Result<Box<dyn Scanner + Send>> + Send>;

/// Told when the device appears (`true`) or goes away (`false`), for the staff alert.
pub type PresenceHook = Box<dyn FnMut(bool) + Send>;

/// A scanner that opens its device again when it goes away (unplugged, the pipe's writer
/// closed, the serial adapter reset), waiting between attempts; it never ends by itself.
pub struct Reopening {
    open: ScannerOpener,
    current: Option<Box<dyn Scanner + Send>>,
    presence: PresenceHook,
    present: Option<bool>,
    retry: Duration,
}

impl Reopening {
    /// A scanner opened with `open`, told about presence through `presence`.
    pub fn new(open: ScannerOpener, presence: PresenceHook) -> Self {
        Self {
            open,
            current: None,
            presence,
            present: None,
            retry: Duration::from_millis(200),
        }
    }

    /// Waits this long between attempts to open the device again.
    pub fn retry_every(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    fn set_present(&mut self, present: bool) {
        if self.present != Some(present) {
            self.present = Some(present);
            (self.presence)(present);
        }
    }

    /// A named pipe, one code a line; when the writer closes, it is opened again (which waits
    /// for the next writer).
    pub fn fifo(path: PathBuf, presence: PresenceHook) -> Self {
        Self::new(
            Box::new(move || {
                let f = std::fs::File::open(&path)?;
                Ok(Box::new(LineScanner::new(std::io::BufReader::new(f)))
                    as Box<dyn Scanner + Send>)
            }),
            presence,
        )
    }

    /// A serial or CDC-ACM scanner, one code a line ended by CR or LF.
    pub fn serial(path: String, baud: u32, presence: PresenceHook) -> Self {
        Self::new(
            Box::new(move || {
                let port = serialport::new(&path, baud)
                    .timeout(Duration::from_secs(1))
                    .open()
                    .map_err(std::io::Error::other)?;
                Ok(
                    Box::new(LineScanner::new(std::io::BufReader::new(Patient(port))))
                        as Box<dyn Scanner + Send>,
                )
            }),
            presence,
        )
    }

    /// A USB keyboard-wedge scanner's input device, grabbed so its keystrokes reach only
    /// Sportello (set the scanner to the US keyboard layout; Enter ends a code).
    pub fn evdev(path: PathBuf, presence: PresenceHook) -> Self {
        Self::new(
            Box::new(move || Ok(Box::new(EvdevScanner::open(&path)?) as Box<dyn Scanner + Send>)),
            presence,
        )
    }
}

impl Scanner for Reopening {
    fn next_scan(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if self.current.is_none() {
                match (self.open)() {
                    Ok(s) => {
                        self.current = Some(s);
                        self.set_present(true);
                    }
                    // The hook tells the app; the retry goes on.
                    Err(_) => {
                        self.set_present(false);
                        std::thread::sleep(self.retry);
                        continue;
                    }
                }
            }
            let scanner = self.current.as_mut().expect("opened above");
            match scanner.next_scan() {
                Ok(Some(code)) => return Ok(Some(code)),
                // Gone: EOF (pipe writer closed) or an error (device unplugged).
                Ok(None) | Err(_) => {
                    self.current = None;
                    self.set_present(false);
                }
            }
        }
    }
}

/// A reader that waits through read timeouts: a serial port times out between codes, which is
/// not the end of anything.
struct Patient<R>(R);

impl<R: Read> Read for Patient<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                other => return other,
            }
        }
    }
}

/// Turns key presses of a US-layout keyboard wedge into text; Enter ends a code.
#[derive(Debug, Default)]
pub struct KeyAssembler {
    shift: bool,
    text: String,
}

impl KeyAssembler {
    /// Feeds one key event (`value` 1 = press, 0 = release, 2 = repeat); returns a finished
    /// code on Enter.
    pub fn push(&mut self, key: evdev::KeyCode, value: i32) -> Option<String> {
        use evdev::KeyCode as K;
        if key == K::KEY_LEFTSHIFT || key == K::KEY_RIGHTSHIFT {
            self.shift = value != 0;
            return None;
        }
        if value != 1 {
            return None;
        }
        if key == K::KEY_ENTER || key == K::KEY_KPENTER {
            return Some(std::mem::take(&mut self.text));
        }
        if let Some(c) = us_char(key, self.shift) {
            // A code is at most a few hundred characters; a stuck key must not fill memory.
            if self.text.len() < 4096 {
                self.text.push(c);
            }
        }
        None
    }
}

/// The character a key gives on a US layout, or none for keys that give none.
fn us_char(key: evdev::KeyCode, shift: bool) -> Option<char> {
    use evdev::KeyCode as K;
    const LETTERS: [(K, char); 26] = [
        (K::KEY_A, 'a'),
        (K::KEY_B, 'b'),
        (K::KEY_C, 'c'),
        (K::KEY_D, 'd'),
        (K::KEY_E, 'e'),
        (K::KEY_F, 'f'),
        (K::KEY_G, 'g'),
        (K::KEY_H, 'h'),
        (K::KEY_I, 'i'),
        (K::KEY_J, 'j'),
        (K::KEY_K, 'k'),
        (K::KEY_L, 'l'),
        (K::KEY_M, 'm'),
        (K::KEY_N, 'n'),
        (K::KEY_O, 'o'),
        (K::KEY_P, 'p'),
        (K::KEY_Q, 'q'),
        (K::KEY_R, 'r'),
        (K::KEY_S, 's'),
        (K::KEY_T, 't'),
        (K::KEY_U, 'u'),
        (K::KEY_V, 'v'),
        (K::KEY_W, 'w'),
        (K::KEY_X, 'x'),
        (K::KEY_Y, 'y'),
        (K::KEY_Z, 'z'),
    ];
    const OTHERS: [(K, char, char); 22] = [
        (K::KEY_1, '1', '!'),
        (K::KEY_2, '2', '@'),
        (K::KEY_3, '3', '#'),
        (K::KEY_4, '4', '$'),
        (K::KEY_5, '5', '%'),
        (K::KEY_6, '6', '^'),
        (K::KEY_7, '7', '&'),
        (K::KEY_8, '8', '*'),
        (K::KEY_9, '9', '('),
        (K::KEY_0, '0', ')'),
        (K::KEY_MINUS, '-', '_'),
        (K::KEY_EQUAL, '=', '+'),
        (K::KEY_LEFTBRACE, '[', '{'),
        (K::KEY_RIGHTBRACE, ']', '}'),
        (K::KEY_SEMICOLON, ';', ':'),
        (K::KEY_APOSTROPHE, '\'', '"'),
        (K::KEY_GRAVE, '`', '~'),
        (K::KEY_BACKSLASH, '\\', '|'),
        (K::KEY_COMMA, ',', '<'),
        (K::KEY_DOT, '.', '>'),
        (K::KEY_SLASH, '/', '?'),
        (K::KEY_SPACE, ' ', ' '),
    ];
    if let Some(&(_, c)) = LETTERS.iter().find(|(k, _)| *k == key) {
        return Some(if shift { c.to_ascii_uppercase() } else { c });
    }
    OTHERS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, plain, shifted)| if shift { shifted } else { plain })
}

/// A keyboard-wedge scanner read through evdev, grabbed for exclusive use.
pub struct EvdevScanner {
    device: evdev::Device,
    keys: KeyAssembler,
    ready: std::collections::VecDeque<String>,
}

impl EvdevScanner {
    /// Opens and grabs the input device at `path`.
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let mut device = evdev::Device::open(path)?;
        device.grab()?;
        Ok(Self {
            device,
            keys: KeyAssembler::default(),
            ready: Default::default(),
        })
    }
}

impl Scanner for EvdevScanner {
    fn next_scan(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(code) = self.ready.pop_front() {
                return Ok(Some(code));
            }
            for ev in self.device.fetch_events()? {
                if let evdev::EventSummary::Key(_, key, value) = ev.destructure()
                    && let Some(code) = self.keys.push(key, value)
                {
                    self.ready.push_back(code);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_presses_assemble_into_codes_with_shift_and_enter() {
        use evdev::KeyCode as K;
        let mut a = KeyAssembler::default();
        let mut out = Vec::new();
        for (k, v) in [
            (K::KEY_LEFTSHIFT, 1),
            (K::KEY_S, 1),
            (K::KEY_S, 0),
            (K::KEY_P, 1),
            (K::KEY_LEFTSHIFT, 0),
            (K::KEY_1, 1),
            (K::KEY_1, 2),
            (K::KEY_LEFTSHIFT, 1),
            (K::KEY_SEMICOLON, 1),
            (K::KEY_LEFTSHIFT, 0),
            (K::KEY_F1, 1),
            (K::KEY_ENTER, 1),
            (K::KEY_A, 1),
            (K::KEY_KPENTER, 1),
        ] {
            out.extend(a.push(k, v));
        }
        assert_eq!(
            out,
            ["SP1:", "a"],
            "repeats and keys without text are ignored"
        );
    }

    #[test]
    fn lines_become_scans_and_eof_ends_them() {
        let mut s = LineScanner::new(&b"SP1:ABC\r\nA\n\nB\rC\r\r\nlast"[..]);
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("SP1:ABC"));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("A"));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("B"));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("C"));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("last"));
        assert_eq!(s.next_scan().unwrap(), None);
    }
}
