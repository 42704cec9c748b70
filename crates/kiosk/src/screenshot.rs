//! Renders kiosk screens to PNG without a display: a software-rendered window of our own
//! platform. Used by `sportello screenshot` and the screenshot gallery.

use std::rc::Rc;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, Rgb8Pixel};

use super::ui::{KioskUi, Screen, SessionAdapter, Theme, select_language};

struct Headless {
    window: Rc<MinimalSoftwareWindow>,
}

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }
}

/// A headless renderer: one per process (Slint allows one platform).
pub struct Renderer {
    window: Rc<MinimalSoftwareWindow>,
}

/// What to show.
#[derive(Debug, Clone)]
pub struct Shot {
    /// Screen.
    pub screen: Screen,
    /// `it`, `en` or `de`.
    pub lang: String,
    /// Size in pixels.
    pub width: u32,
    /// Size in pixels.
    pub height: u32,
    /// High-contrast theme.
    pub high_contrast: bool,
    /// Large text.
    pub large_text: bool,
    /// Seated layout.
    pub seated: bool,
}

/// Screens by their command-line names.
pub const SCREENS: [(&str, Screen); 8] = [
    ("home", Screen::Home),
    ("checkin", Screen::Checkin),
    ("walkin", Screen::Walkin),
    ("cassetto", Screen::Cassetto),
    ("contatti", Screen::Contatti),
    ("booking", Screen::Booking),
    ("privacy", Screen::Privacy),
    ("accessibility", Screen::Accessibility),
];

/// A screen by name.
pub fn screen_named(name: &str) -> Option<Screen> {
    SCREENS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

impl Renderer {
    /// Installs the headless platform.
    pub fn install() -> Result<Self, String> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        slint::platform::set_platform(Box::new(Headless {
            window: window.clone(),
        }))
        .map_err(|e| format!("{e:?}"))?;
        Ok(Self { window })
    }

    /// Renders `shot` of `ui` to PNG bytes.
    pub fn render(&self, ui: &KioskUi, shot: &Shot) -> Result<Vec<u8>, String> {
        let pixels = self.draw(ui, shot)?;
        encode(&pixels, shot.width, shot.height)
    }

    /// Renders `shot` of `ui` into RGB pixels (what a frame costs, without the PNG).
    pub fn draw(&self, ui: &KioskUi, shot: &Shot) -> Result<Vec<Rgb8Pixel>, String> {
        let w = ui.window();
        self.window
            .set_size(slint::PhysicalSize::new(shot.width, shot.height));
        select_language(&shot.lang)?;
        w.global::<SessionAdapter>()
            .set_language(shot.lang.clone().into());
        let theme = w.global::<Theme>();
        theme.set_high_contrast(shot.high_contrast);
        theme.set_large_text(shot.large_text);
        theme.set_seated(shot.seated);
        w.global::<SessionAdapter>().set_screen(shot.screen);
        ui.refresh();
        w.show().map_err(|e| e.to_string())?;
        slint::platform::update_timers_and_animations();
        self.window.request_redraw();
        let (width, height) = (shot.width as usize, shot.height as usize);
        let mut pixels = vec![Rgb8Pixel::new(0, 0, 0); width * height];
        self.window.draw_if_needed(|r| {
            r.render(&mut pixels, width);
        });
        Ok(pixels)
    }
}

/// RGB pixels to PNG bytes.
pub fn encode(pixels: &[Rgb8Pixel], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
        writer.write_image_data(&bytes).map_err(|e| e.to_string())?;
    }
    Ok(png)
}
