//! The printed ticket: its layout as ESC/POS bytes, independent of the printer and of Slint.
//!
//! Text is encoded strictly to the printer's code page (Windows-1252 by default, selected with
//! `ESC t n`, `n` from configuration): a character the page cannot print is an error, never
//! UTF-8 garbage on paper. The QR code is the printer's native Model 2
//! (`GS ( k`); the cut is a real partial cut (`GS V 66 n`; the `escpos` crate's
//! `partial_cut()` sends a full cut), and a printer without native QR gets the same code as a
//! raster image (`GS v 0`) drawn from the `qrcode` crate's modules.
//!
//! [`preview`] reads such bytes back into a transcript and a picture: the test oracle, and the
//! preview `sportello print-test` writes beside a real print.

pub mod preview;

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

    /// Printable width in dots (203 dpi heads).
    pub fn dots(self) -> usize {
        match self {
            Paper::Mm58 => 384,
            Paper::Mm80 => 576,
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
    /// People ahead when printed; `None` for a ticket a kiosk issued while cut off from the
    /// branch's node, which cannot know them.
    pub ahead: Option<u32>,
    /// Estimated wait in words, when known.
    pub wait: Option<String>,
    /// Where to follow the queue on a phone (the QR code).
    pub follow_url: String,
}

/// How the QR code reaches paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QrMode {
    /// The printer draws it (`GS ( k`, Model 2): short to send, sharp.
    #[default]
    Native,
    /// Sent as a raster image (`GS v 0`), for printers without `GS ( k`.
    Raster,
}

/// Printer settings that change the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    /// Paper width.
    pub paper: Paper,
    /// `ESC t` number of Windows-1252 on this printer (16 on Epson and most clones).
    pub code_page: u8,
    /// Native or raster QR code.
    pub qr: QrMode,
}

impl Default for PrintOptions {
    fn default() -> Self {
        Self {
            paper: Paper::Mm80,
            code_page: 16,
            qr: QrMode::Native,
        }
    }
}

/// Why a ticket could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A text the code page cannot print.
    #[error(transparent)]
    Unmappable(#[from] Unmappable),
    /// The follow-the-queue link is too long for a QR code on this paper.
    #[error("the QR code's text is too long ({0} bytes)")]
    QrTooLong(usize),
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
    /// Lines of at most `columns` characters, broken between words: the printer would break
    /// mid-word.
    fn wrapped(&mut self, text: &str, columns: usize) -> Result<&mut Self, Unmappable> {
        for line in wrap(text, columns) {
            self.line(&line)?;
        }
        Ok(self)
    }
    fn raster_qr(&mut self, data: &str, module: u8) -> Result<&mut Self, RenderError> {
        let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
            .map_err(|_| RenderError::QrTooLong(data.len()))?;
        let modules = code.width();
        let colors = code.to_colors();
        // Four modules of quiet zone each side, as the printer's own QR has.
        let quiet = 4;
        let side = (modules + 2 * quiet) * module as usize;
        let row_bytes = side.div_ceil(8);
        // GS v 0 m xL xH yL yH, then rows of bits, most significant first, 1 = black.
        self.raw(&[
            GS,
            b'v',
            b'0',
            0,
            (row_bytes % 256) as u8,
            (row_bytes / 256) as u8,
            (side % 256) as u8,
            (side / 256) as u8,
        ]);
        // One row of bits per module row, sent `module` times: a module is a square of dots.
        let module = module as usize;
        let mut row = vec![0u8; row_bytes];
        for my in 0..modules + 2 * quiet {
            row.fill(0);
            let inside_y = my >= quiet && my < quiet + modules;
            if inside_y {
                for mx in 0..modules {
                    if colors[(my - quiet) * modules + mx] == qrcode::Color::Dark {
                        let x0 = (mx + quiet) * module;
                        for x in x0..x0 + module {
                            row[x / 8] |= 0x80 >> (x % 8);
                        }
                    }
                }
            }
            for _ in 0..module {
                self.raw(&row);
            }
        }
        Ok(self)
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

/// Breaks `text` into lines of at most `columns` characters, between words where it can.
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word = word;
        // A word longer than a line is cut: it must not run off the paper.
        while word.chars().count() > columns {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            let cut = word
                .char_indices()
                .nth(columns)
                .map_or(word.len(), |(i, _)| i);
            lines.push(word[..cut].to_owned());
            word = &word[cut..];
        }
        let needed = if current.is_empty() {
            word.chars().count()
        } else {
            current.chars().count() + 1 + word.chars().count()
        };
        if needed > columns && !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// A separator as wide as the paper.
fn rule(columns: usize) -> String {
    "-".repeat(columns)
}

/// The longest QR text: version 8 at level M (49 modules) stays within 58 mm paper with its
/// quiet zone at 6 dots a module.
pub const MAX_QR_BYTES: usize = 150;

/// The ESC/POS bytes of a ticket.
pub fn render(t: &TicketLayout, o: &PrintOptions) -> Result<Vec<u8>, RenderError> {
    let columns = o.paper.columns();
    // A printer silently drops a code wider than the paper; refuse it here, where it shows.
    if t.follow_url.len() > MAX_QR_BYTES {
        return Err(RenderError::QrTooLong(t.follow_url.len()));
    }
    let mut b = Bytes(Vec::with_capacity(512));
    // ESC @ (reset), then the code page once.
    b.raw(&[ESC, b'@']).raw(&[ESC, b't', o.code_page]);
    b.align(true).bold(true);
    b.wrapped(&t.sede, columns)?;
    b.bold(false).line(&rule(columns))?;
    b.line("Il suo numero")?;
    b.size(4, 4).bold(true).wrapped(&t.number, columns / 4)?;
    b.size(1, 1).bold(false);
    // Double height, not width: more of a long service name fits on a line.
    b.size(1, 2).wrapped(&t.service, columns)?.size(1, 1);
    b.wrapped(&t.issued, columns)?;
    match (t.ahead, &t.wait) {
        (Some(ahead), Some(wait)) => {
            b.wrapped(&format!("Persone prima di lei: {ahead}"), columns)?;
            b.wrapped(&format!("Attesa stimata: {wait}"), columns)?;
        }
        _ => {
            b.wrapped(
                "Emesso senza collegamento al sistema della sede: attesa non nota. \
                 Sarà chiamato secondo l'ora di emissione.",
                columns,
            )?;
        }
    }
    b.line(&rule(columns))?;
    b.line("Segua la coda dal telefono:")?;
    match o.qr {
        QrMode::Native => {
            b.qr(&t.follow_url, o.paper.qr_module());
        }
        QrMode::Raster => {
            b.raster_qr(&t.follow_url, o.paper.qr_module())?;
        }
    }
    b.raw(&[LF]);
    b.wrapped(
        "Attenda la chiamata del suo numero sul tabellone. Grazie.",
        columns,
    )?;
    // Feed past the cutter, then a partial cut (function B, m = 66).
    b.raw(&[ESC, b'd', 4]).raw(&[GS, b'V', 66, 3]);
    Ok(b.0)
}

/// A short printed document other than a ticket (the Cassetto *fascicolo*, an appointment's
/// confirmation): a bold heading, then lines, each a label and its value, wrapped to the
/// paper, and an optional QR code before the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentLayout {
    /// "INPS – Sede di Roma Eur".
    pub sede: String,
    /// What the document is.
    pub heading: String,
    /// Label and value.
    pub lines: Vec<(String, String)>,
    /// A QR code and the line above it (the booking code to scan at check-in).
    pub qr: Option<(String, String)>,
    /// Closing line (when and why it was printed).
    pub footer: String,
}

/// A document's ESC/POS bytes: the same code page, rules and cut as a ticket.
pub fn render_document(d: &DocumentLayout, o: &PrintOptions) -> Result<Vec<u8>, RenderError> {
    let columns = o.paper.columns();
    let mut b = Bytes(Vec::with_capacity(1024));
    b.raw(&[ESC, b'@']).raw(&[ESC, b't', o.code_page]);
    b.align(true).bold(true);
    b.wrapped(&d.sede, columns)?;
    b.wrapped(&d.heading, columns)?;
    b.bold(false).line(&rule(columns))?;
    b.align(false);
    for (label, value) in &d.lines {
        b.bold(true).wrapped(label, columns)?;
        b.bold(false).wrapped(value, columns)?;
    }
    b.line(&rule(columns))?;
    if let Some((caption, text)) = &d.qr {
        if text.len() > MAX_QR_BYTES {
            return Err(RenderError::QrTooLong(text.len()));
        }
        b.align(true).wrapped(caption, columns)?;
        match o.qr {
            QrMode::Native => {
                b.qr(text, o.paper.qr_module());
            }
            QrMode::Raster => {
                b.raster_qr(text, o.paper.qr_module())?;
            }
        }
        b.raw(&[LF]).align(false);
    }
    b.wrapped(&d.footer, columns)?;
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
