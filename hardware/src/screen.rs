//! The screen's backlight, where the panel has one Linux can switch (`/sys/class/backlight`:
//! the Raspberry Pi's DSI touchscreens): off while the kiosk sleeps outside opening hours.
//! HDMI screens have none; the kiosk shows them black.

use std::path::{Path, PathBuf};

/// Switches the backlight.
pub trait Backlight: Send {
    /// On, or off.
    fn set(&mut self, on: bool) -> std::io::Result<()>;
}

/// A backlight under `/sys/class/backlight/<name>/bl_power` (0 on, 4 powered down, as the
/// framebuffer's blanking levels say).
pub struct SysfsBacklight {
    bl_power: PathBuf,
}

impl SysfsBacklight {
    /// The first backlight under `class` (`/sys/class/backlight`), if there is one.
    pub fn find(class: &Path) -> Option<Self> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(class)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bl_power"))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        found.into_iter().next().map(|bl_power| Self { bl_power })
    }
}

impl Backlight for SysfsBacklight {
    fn set(&mut self, on: bool) -> std::io::Result<()> {
        std::fs::write(&self.bl_power, if on { "0\n" } else { "4\n" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_backlight_found_is_switched_through_bl_power() {
        let class = tempfile::tempdir().unwrap();
        assert!(SysfsBacklight::find(class.path()).is_none());
        assert!(SysfsBacklight::find(&class.path().join("missing")).is_none());
        for name in ["rpi_backlight", "10-0045"] {
            std::fs::create_dir(class.path().join(name)).unwrap();
            std::fs::write(class.path().join(name).join("bl_power"), "0\n").unwrap();
        }
        let mut b = SysfsBacklight::find(class.path()).unwrap();
        b.set(false).unwrap();
        let read =
            |n: &str| std::fs::read_to_string(class.path().join(n).join("bl_power")).unwrap();
        assert_eq!(read("10-0045"), "4\n");
        assert_eq!(read("rpi_backlight"), "0\n", "only the first one");
        b.set(true).unwrap();
        assert_eq!(read("10-0045"), "0\n");
    }
}
