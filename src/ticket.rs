//! The printed ticket: its layout as ESC/POS bytes, independent of the printer and of Slint.
//!
//! Text is encoded strictly to the printer's code page (Windows-1252 by default, selected with
//! `ESC t n`, `n` from configuration): a character the page cannot print is an error, never
//! UTF-8 garbage on paper (`hardware.md` §1.4). The QR code is the printer's native Model 2
//! (`GS ( k`); the cut is a real partial cut (`GS V 66 n`; the `escpos` crate's
//! `partial_cut()` sends a full cut).

use encoding_rs::WINDOWS_1252;

/// Paper width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 58 mm rolls: 32 characters a line in font A.
    Mm58,
    /// 80 mm rolls: 48 characters a line in font A.
    Mm80,
}

impl Paper {
    /// Characters a line in the normal font.
    pub fn columns(self) -> usize {
        match self {
            Paper::Mm58 => 32,
            Paper::Mm80 => 48,
        }
    }

    /// QR module size in dots: a version-3 code stays within the printable width.
    fn qr_module(self) -> u8 {
        match self {
            Paper::Mm58 => 6,
            Paper::Mm80 => 8,
        }
    }
}

/// What a ticket shows. No personal data: the number, the service and the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLayout {
    /// "INPS – Sede di Roma Eur".
    pub sede: String,
    /// "A042".
    pub number: String,
    /// Service name.
    pub service: String,
    /// Local date and time of issue, "26/11/2026 09:41".
    pub issued: String,
    /// People ahead when printed.
    pub ahead: u32,
    /// Estimated wait in words.
    pub wait: String,
    /// Where to follow the queue on a phone (the QR code).
    pub follow_url: String,
}

/// Printer settings that change the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    /// Paper width.
    pub paper: Paper,
    /// `ESC t` number of Windows-1252 on this printer (16 on Epson and most clones).
    pub code_page: u8,
}

impl Default for PrintOptions {
    fn default() -> Self {
        Self {
            paper: Paper::Mm80,
            code_page: 16,
        }
    }
}

/// A text the printer's code page cannot print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "«{text}» contains {character:?}, which the printer's code page (Windows-1252) cannot print"
)]
pub struct Unmappable {
    /// The text.
    pub text: String,
    /// The first character that does not map.
    pub character: char,
}

/// Encodes `text` to Windows-1252, refusing any character outside it.
pub fn cp1252(text: &str) -> Result<Vec<u8>, Unmappable> {
    let (bytes, _, had_errors) = WINDOWS_1252.encode(text);
    if had_errors {
        let character = text
            .chars()
            .find(|c| {
                let mut buf = [0u8; 4];
                WINDOWS_1252.encode(c.encode_utf8(&mut buf)).2
            })
            .unwrap_or('?');
        return Err(Unmappable {
            text: text.to_owned(),
            character,
        });
    }
    Ok(bytes.into_owned())
}

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const LF: u8 = 0x0A;

struct Bytes(Vec<u8>);

impl Bytes {
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn align(&mut self, center: bool) -> &mut Self {
        self.raw(&[ESC, b'a', u8::from(center)])
    }
    fn bold(&mut self, on: bool) -> &mut Self {
        self.raw(&[ESC, b'E', u8::from(on)])
    }
    /// Character size: width and height multipliers 1–8.
    fn size(&mut self, w: u8, h: u8) -> &mut Self {
        self.raw(&[GS, b'!', ((w - 1) << 4) | (h - 1)])
    }
    fn line(&mut self, text: &str) -> Result<&mut Self, Unmappable> {
        let encoded = cp1252(text)?;
        Ok(self.raw(&encoded).raw(&[LF]))
    }
    fn qr(&mut self, data: &str, module: u8) -> &mut Self {
        // GS ( k: model 2, module size, error correction M, store, print.
        let store_len = data.len() + 3;
        self.raw(&[GS, b'(', b'k', 4, 0, 49, 65, 50, 0])
            .raw(&[GS, b'(', b'k', 3, 0, 49, 67, module])
            .raw(&[GS, b'(', b'k', 3, 0, 49, 69, 49])
            .raw(&[
                GS,
                b'(',
                b'k',
                (store_len % 256) as u8,
                (store_len / 256) as u8,
                49,
                80,
                48,
            ])
            .raw(data.as_bytes())
            .raw(&[GS, b'(', b'k', 3, 0, 49, 81, 48])
    }
}

/// A separator as wide as the paper.
fn rule(columns: usize) -> String {
    "-".repeat(columns)
}

/// The ESC/POS bytes of a ticket.
pub fn render(t: &TicketLayout, o: &PrintOptions) -> Result<Vec<u8>, Unmappable> {
    let mut b = Bytes(Vec::with_capacity(512));
    // ESC @ (reset), then the code page once.
    b.raw(&[ESC, b'@']).raw(&[ESC, b't', o.code_page]);
    b.align(true).bold(true);
    b.line(&t.sede)?;
    b.bold(false).line(&rule(o.paper.columns()))?;
    b.line("Il suo numero")?;
    b.size(4, 4).bold(true).line(&t.number)?;
    b.size(1, 1).bold(false);
    // Double height, not width: a long service name must still fit on one 58 mm line.
    b.size(1, 2).line(&t.service)?.size(1, 1);
    b.line(&t.issued)?;
    b.line(&format!("Persone prima di lei: {}", t.ahead))?;
    b.line(&format!("Attesa stimata: {}", t.wait))?;
    b.line(&rule(o.paper.columns()))?;
    b.line("Segua la coda dal telefono:")?;
    b.qr(&t.follow_url, o.paper.qr_module());
    b.raw(&[LF]);
    b.line("Attenda la chiamata del suo numero")?;
    b.line("sul tabellone. Grazie.")?;
    // Feed past the cutter, then a partial cut (function B, m = 66).
    b.raw(&[ESC, b'd', 4]).raw(&[GS, b'V', 66, 3]);
    Ok(b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn italian_text_and_the_euro_encode_and_emoji_are_refused() {
        assert_eq!(
            cp1252("à è é ì ò ù È € - ok").unwrap(),
            [
                0xE0, 0x20, 0xE8, 0x20, 0xE9, 0x20, 0xEC, 0x20, 0xF2, 0x20, 0xF9, 0x20, 0xC8, 0x20,
                0x80, 0x20, 0x2D, 0x20, b'o', b'k'
            ]
        );
        let err = cp1252("Ciao 😀").unwrap_err();
        assert_eq!(err.character, '😀');
        assert!(err.to_string().contains("Windows-1252"));
        assert!(cp1252("Ł").is_err(), "Polish Ł is not in Windows-1252");
    }
}
