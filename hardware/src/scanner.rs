//! QR code scanners.

use std::io::BufRead;

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
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        // Scanners end a code with CR, LF or both.
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_scans_and_eof_ends_them() {
        let mut s = LineScanner::new(&b"SP1:ABC\r\nA\n\nlast"[..]);
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("SP1:ABC"));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("A"));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some(""));
        assert_eq!(s.next_scan().unwrap().as_deref(), Some("last"));
        assert_eq!(s.next_scan().unwrap(), None);
    }
}
