//! The screens as Rust sees them: the components Slint generates from `ui/` (the window and
//! the global adapters of `ui/adapter.slint`, the contract between the screens and Rust), and
//! the few helpers every controller shares.

use slint::ComponentHandle;

use i18n::Lang;

slint::include_modules!();

/// The languages of the kiosk, in the order of the header buttons.
pub const LANGUAGES: [&str; 3] = ["it", "en", "de"];

/// Switches the UI language (`it` is the language of the source texts).
pub fn select_language(code: &str) -> Result<(), String> {
    if !LANGUAGES.contains(&code) {
        return Err(format!("unknown language {code}"));
    }
    // The source texts are Italian: the empty name selects them.
    let bundle = if code == "it" { "" } else { code };
    slint::select_bundled_translation(bundle).map_err(|e| format!("{e:?}"))
}

/// The language the window shows, for texts made in Rust.
pub(crate) fn language_of(w: &MainWindow) -> Lang {
    Lang::from_code(&w.global::<SessionAdapter>().get_language())
}

/// A QR code as an image, one pixel a module with its quiet zone (the UI scales it up without
/// smoothing).
pub fn qr_image(text: &str) -> slint::Image {
    let Ok(code) = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) else {
        return slint::Image::default();
    };
    let n = code.width();
    let side = n + 8;
    let colors = code.to_colors();
    let mut buf = slint::SharedPixelBuffer::<slint::Rgb8Pixel>::new(side as u32, side as u32);
    let white = slint::Rgb8Pixel {
        r: 255,
        g: 255,
        b: 255,
    };
    let black = slint::Rgb8Pixel { r: 0, g: 0, b: 0 };
    for (i, px) in buf.make_mut_slice().iter_mut().enumerate() {
        let (x, y) = (i % side, i / side);
        let dark = x >= 4
            && y >= 4
            && x < n + 4
            && y < n + 4
            && colors[(y - 4) * n + (x - 4)] == qrcode::Color::Dark;
        *px = if dark { black } else { white };
    }
    slint::Image::from_rgb8(buf)
}
