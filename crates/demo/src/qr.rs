//! QR codes of booking tokens as PNG files, for testers with a real scanner and a screen.

use std::io::Write;
use std::path::{Path, PathBuf};

use qrcode::{Color, EcLevel, QrCode};

use super::DemoBranch;

/// Renders `text` as a QR code PNG: level M, 4-module quiet zone, `scale` pixels a module.
pub fn qr_png(text: &str, scale: u32) -> Result<Vec<u8>, std::io::Error> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i as u32 % modules + quiet, i as u32 / modules + quiet);
            for y in my * scale..(my + 1) * scale {
                let row = (y * side) as usize;
                pixels[row + (mx * scale) as usize..row + ((mx + 1) * scale) as usize].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(&pixels)
            .map_err(std::io::Error::other)?;
    }
    Ok(out)
}

/// Writes one PNG per appointment into `dir`, named by start time and booking code, and returns
/// the paths written. PNGs of an earlier run are removed first, so the folder only shows codes
/// that match the store. File names carry no personal data.
pub fn write_qr_pngs(branch: &DemoBranch, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(path)?;
        }
    }
    let mut written = Vec::new();
    for a in &branch.appointments {
        let name = format!(
            "{}_{}_{}.png",
            a.appointment.starts_at.format("%H%M"),
            a.appointment.service,
            a.appointment.id
        );
        let path = dir.join(name);
        let tmp = path.with_extension("png.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&qr_png(&a.token, 8)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the PNG and samples the centre of every module: the picture carries exactly the
    /// QR matrix of the token, with its quiet zone.
    #[test]
    fn the_png_carries_the_qr_matrix() {
        let text = "SP1:6BFOXN*TS0BI$ZDZRH8C3PBS+K1.WF9-3V";
        let scale = 4;
        let bytes = qr_png(text, scale).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).unwrap();
        let modules = code.width() as u32;
        assert_eq!(info.width, (modules + 8) * scale);
        let at = |mx: u32, my: u32| {
            pixels[((my * scale + scale / 2) * info.width + mx * scale + scale / 2) as usize]
        };
        for (i, color) in code.to_colors().iter().enumerate() {
            let (x, y) = (i as u32 % modules + 4, i as u32 / modules + 4);
            assert_eq!(at(x, y) == 0, *color == Color::Dark, "module {x},{y}");
        }
        for q in 0..4 {
            assert_eq!(at(q, q), 255, "quiet zone");
        }
    }
}
