//! ESC/POS bytes read back, as a printer would: a text transcript and a picture of the paper.
//!
//! It understands exactly the commands [`crate::render`] sends and fails on anything else, so a
//! change in the bytes shows up in a test rather than on paper. The picture draws text with an
//! 8×8 bitmap font scaled into font A's 12×24 cell, the native QR code with the `qrcode` crate
//! (as the printer's firmware would) and raster images bit for bit.

use font8x8::UnicodeFonts;

use crate::Paper;

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const LF: u8 = 0x0A;

/// Font A: 12 dots wide, 24 high, in lines 30 dots apart.
const CELL_W: usize = 12;
const CELL_H: usize = 24;
const LINE_GAP: usize = 6;

/// What the bytes print.
#[derive(Debug, Clone)]
pub struct Preview {
    /// One line a printed line, `[CB2x1] text` (centred/left, bold, width × height), then
    /// `<QR …>`, `<raster …>`, `<feed n>`, `<partial cut>`.
    pub transcript: String,
    /// Lines wider than the paper (the printer would break them anywhere).
    pub overflow: Vec<String>,
    /// Paper width in dots.
    pub width: usize,
    /// Grey levels, 0 = black, 255 = white, row by row.
    pub pixels: Vec<u8>,
}

impl Preview {
    /// Height in dots.
    pub fn height(&self) -> usize {
        self.pixels.len() / self.width
    }

    /// The picture as a PNG file.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height() as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            // Writing into a Vec cannot fail.
            let mut w = enc.write_header().expect("PNG header into memory");
            w.write_image_data(&self.pixels)
                .expect("PNG data into memory");
        }
        out
    }
}

/// Bytes the reader does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// A command cut short.
    #[error("command cut short at byte {0}")]
    Truncated(usize),
    /// A command this reader does not know.
    #[error("unknown command {command} at byte {at}")]
    Unknown {
        /// Where.
        at: usize,
        /// Its first bytes.
        command: String,
    },
    /// Text before `ESC t` chose the code page, or under another page.
    #[error("text at byte {at} under code page {page}, not Windows-1252 ({expected})")]
    CodePage {
        /// Where.
        at: usize,
        /// The page in force.
        page: u8,
        /// The `ESC t` number of Windows-1252.
        expected: u8,
    },
    /// Text not ended by a line feed is never printed.
    #[error("text left without a line feed")]
    Unterminated,
    /// A native QR code the printer could not draw.
    #[error("QR code data the printer cannot draw")]
    BadQr,
}

struct Canvas {
    width: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn grow(&mut self, rows: usize) -> usize {
        let top = self.pixels.len() / self.width;
        self.pixels
            .resize(self.pixels.len() + rows * self.width, 255);
        top
    }
    fn dot(&mut self, x: usize, y: usize) {
        if x < self.width {
            self.pixels[y * self.width + x] = 0;
        }
    }
    fn block(&mut self, x: usize, y: usize, w: usize, h: usize) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.dot(xx, yy);
            }
        }
    }
}

/// The glyph for a Windows-1252 character: Latin-1 from the font, the few others drawn or
/// approximated.
fn glyph(c: char) -> [u8; 8] {
    const EURO: [u8; 8] = [0x3C, 0x42, 0x0F, 0x02, 0x0F, 0x42, 0x3C, 0x00];
    let c = match c {
        '€' => return EURO,
        '–' | '—' => '-',
        '‘' | '’' | '‚' => '\'',
        '“' | '”' | '„' => '"',
        '…' => '.',
        other => other,
    };
    font8x8::BASIC_FONTS
        .get(c)
        .or_else(|| font8x8::LATIN_FONTS.get(c))
        // A box: a character the font lacks still takes its place.
        .unwrap_or([0xFF, 0x81, 0x81, 0x81, 0x81, 0x81, 0xFF, 0x00])
}

fn need(bytes: &[u8], at: usize, n: usize) -> Result<&[u8], PreviewError> {
    bytes.get(at..at + n).ok_or(PreviewError::Truncated(at))
}

/// Reads `bytes` for `paper`, with `code_page` the `ESC t` number of Windows-1252.
pub fn preview(bytes: &[u8], paper: Paper, code_page: u8) -> Result<Preview, PreviewError> {
    let width = paper.dots();
    let mut canvas = Canvas {
        width,
        pixels: Vec::new(),
    };
    let mut out = Vec::new();
    let mut overflow = Vec::new();
    let (mut size, mut bold, mut center, mut page) = ((1usize, 1usize), false, false, None);
    let (mut qr_model, mut qr_module, mut qr_ec) = (1u8, 3usize, qrcode::EcLevel::L);
    let mut qr_data: Vec<u8> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut text_at = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            LF => {
                if !text.is_empty() && page != Some(code_page) {
                    return Err(PreviewError::CodePage {
                        at: text_at,
                        page: page.unwrap_or(0),
                        expected: code_page,
                    });
                }
                let line = encoding_rs::WINDOWS_1252.decode(&text).0.into_owned();
                let style = format!(
                    "{}{}{}x{}",
                    if center { "C" } else { "L" },
                    if bold { "B" } else { "-" },
                    size.0,
                    size.1
                );
                out.push(format!("[{style}] {line}"));
                let chars: Vec<char> = line.chars().collect();
                let cw = CELL_W * size.0;
                let per_line = (width / cw).max(1);
                if chars.len() > per_line {
                    overflow.push(line.clone());
                }
                // Like the printer, characters past the edge go on the next line.
                let rows: Vec<&[char]> = if chars.is_empty() {
                    vec![&[]]
                } else {
                    chars.chunks(per_line).collect()
                };
                for row in rows {
                    let top = canvas.grow(CELL_H * size.1 + LINE_GAP);
                    let x0 = if center {
                        (width - row.len() * cw) / 2
                    } else {
                        0
                    };
                    for (k, &c) in row.iter().enumerate() {
                        let g = glyph(c);
                        for (gy, bits) in g.iter().enumerate() {
                            for gx in 0..8 {
                                if bits & (1 << gx) != 0 {
                                    // 8×8 into 12×24: two dots of margin, each row doubled.
                                    let x = x0 + k * cw + (2 + gx) * size.0;
                                    let y = top + (4 + gy * 2) * size.1;
                                    let w = if bold { size.0 + 1 } else { size.0 };
                                    canvas.block(x, y, w, 2 * size.1);
                                }
                            }
                        }
                    }
                }
                text.clear();
                i += 1;
            }
            ESC => {
                let cmd = need(bytes, i, 2)?;
                if cmd[1] == b'@' {
                    (size, bold, center, page) = ((1, 1), false, false, None);
                    i += 2;
                    continue;
                }
                let n = need(bytes, i, 3)?[2];
                match cmd[1] {
                    b't' => page = Some(n),
                    b'a' => center = n == 1 || n == b'1',
                    b'E' => bold = n & 1 == 1,
                    b'd' => {
                        out.push(format!("<feed {n}>"));
                        canvas.grow(n as usize * (CELL_H + LINE_GAP));
                    }
                    other => {
                        return Err(PreviewError::Unknown {
                            at: i,
                            command: format!("ESC {other:#04x}"),
                        });
                    }
                }
                i += 3;
            }
            GS => {
                let cmd = need(bytes, i, 2)?[1];
                match cmd {
                    b'!' => {
                        let n = need(bytes, i, 3)?[2];
                        size = (((n >> 4) + 1) as usize, ((n & 0x0F) + 1) as usize);
                        i += 3;
                    }
                    b'V' => {
                        let m = need(bytes, i, 3)?[2];
                        let (kind, len) = match m {
                            0 | 48 => ("full", 3),
                            1 | 49 => ("partial", 3),
                            65 => ("full", 4),
                            66 => ("partial", 4),
                            other => {
                                return Err(PreviewError::Unknown {
                                    at: i,
                                    command: format!("GS V {other}"),
                                });
                            }
                        };
                        need(bytes, i, len)?;
                        out.push(format!("<{kind} cut>"));
                        i += len;
                    }
                    b'(' => {
                        let head = need(bytes, i, 5)?;
                        if head[2] != b'k' {
                            return Err(PreviewError::Unknown {
                                at: i,
                                command: format!("GS ( {:#04x}", head[2]),
                            });
                        }
                        let len = head[3] as usize + 256 * head[4] as usize;
                        let body = need(bytes, i + 5, len)?;
                        if len < 3 || body[0] != 49 {
                            return Err(PreviewError::Unknown {
                                at: i,
                                command: "GS ( k (not a QR code)".into(),
                            });
                        }
                        match body[1] {
                            65 => qr_model = body[2].saturating_sub(48),
                            67 => qr_module = body[2] as usize,
                            69 => {
                                qr_ec = match body[2] {
                                    48 => qrcode::EcLevel::L,
                                    49 => qrcode::EcLevel::M,
                                    50 => qrcode::EcLevel::Q,
                                    _ => qrcode::EcLevel::H,
                                }
                            }
                            80 => qr_data = body[3..].to_vec(),
                            81 => {
                                out.push(format!(
                                    "<QR model {qr_model} module {qr_module} EC {qr_ec:?}: {}>",
                                    String::from_utf8_lossy(&qr_data)
                                ));
                                let code =
                                    qrcode::QrCode::with_error_correction_level(&qr_data, qr_ec)
                                        .map_err(|_| PreviewError::BadQr)?;
                                let n = code.width();
                                let colors = code.to_colors();
                                let side = (n + 8) * qr_module;
                                let top = canvas.grow(side);
                                let x0 = if center {
                                    width.saturating_sub(side) / 2
                                } else {
                                    0
                                };
                                for (k, c) in colors.iter().enumerate() {
                                    if *c == qrcode::Color::Dark {
                                        canvas.block(
                                            x0 + (4 + k % n) * qr_module,
                                            top + (4 + k / n) * qr_module,
                                            qr_module,
                                            qr_module,
                                        );
                                    }
                                }
                            }
                            other => {
                                return Err(PreviewError::Unknown {
                                    at: i,
                                    command: format!("GS ( k function {other}"),
                                });
                            }
                        }
                        i += 5 + len;
                    }
                    b'v' => {
                        let head = need(bytes, i, 8)?;
                        if head[2] != b'0' {
                            return Err(PreviewError::Unknown {
                                at: i,
                                command: "GS v (not raster)".into(),
                            });
                        }
                        let row_bytes = head[4] as usize + 256 * head[5] as usize;
                        let rows = head[6] as usize + 256 * head[7] as usize;
                        let data = need(bytes, i + 8, row_bytes * rows)?;
                        out.push(format!("<raster {}x{rows}>", row_bytes * 8));
                        let top = canvas.grow(rows);
                        let x0 = if center {
                            width.saturating_sub(row_bytes * 8) / 2
                        } else {
                            0
                        };
                        for y in 0..rows {
                            for x in 0..row_bytes * 8 {
                                if data[y * row_bytes + x / 8] & (0x80 >> (x % 8)) != 0 {
                                    canvas.dot(x0 + x, top + y);
                                }
                            }
                        }
                        i += 8 + row_bytes * rows;
                    }
                    other => {
                        return Err(PreviewError::Unknown {
                            at: i,
                            command: format!("GS {other:#04x}"),
                        });
                    }
                }
            }
            b => {
                if text.is_empty() {
                    text_at = i;
                }
                text.push(b);
                i += 1;
            }
        }
    }
    if !text.is_empty() {
        return Err(PreviewError::Unterminated);
    }
    Ok(Preview {
        transcript: out.join("\n") + "\n",
        overflow,
        width,
        pixels: canvas.pixels,
    })
}
