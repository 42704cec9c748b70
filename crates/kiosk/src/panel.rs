//! The panel's loop, on a thread of its own: the status light follows the printer and the link
//! to the hub, the buzzer sounds when the printer stops, and the visitor's buttons reach the
//! flows through [`PanelHooks`] (the touchscreen's, or the headless kiosk's).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardware::panel::{Light, Panel, PanelEvent};

/// What the panel's buttons do.
pub struct PanelHooks {
    /// *Chiama un operatore*; false when staff could not be told (the buzzer then sounds).
    pub call_staff: Box<dyn FnMut() -> bool + Send>,
    /// Someone came in front of the kiosk: wake the screen.
    pub wake: Box<dyn FnMut() + Send>,
    /// Spoken guidance on or off; `None` turns it the other way.
    pub speech: Box<dyn FnMut(Option<bool>) + Send>,
}

/// The light for a printer state (`ready`, `paper_out`…) and the link.
pub fn light_of(printer: &str, offline: bool) -> Light {
    match printer {
        "paper_out" => Light::PaperOut,
        "cover_open" | "offline" => Light::PrinterFault,
        _ if offline => Light::Offline,
        _ => Light::Ready,
    }
}

/// How often the light is brought up to date when no button is pressed.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Runs the panel until `stop` is set: `printer` is the kiosk's printer state, `offline` says
/// whether the kiosk has lost its hub or node.
pub fn run(
    mut panel: Box<dyn Panel>,
    printer: Arc<Mutex<&'static str>>,
    offline: impl Fn() -> bool,
    mut hooks: PanelHooks,
    stop: &AtomicBool,
) {
    let mut shown: Option<Light> = None;
    while !stop.load(Ordering::Acquire) {
        let state = *printer.lock().unwrap_or_else(|p| p.into_inner());
        let light = light_of(state, offline());
        if shown != Some(light) {
            if let Err(e) = panel.show(light) {
                tracing::warn!(error = %e, "the panel's light");
            }
            // A printer that stops is the one fault a visitor can do nothing about: staff
            // nearby hear it.
            if matches!(light, Light::PaperOut | Light::PrinterFault)
                && let Err(e) = panel.beep()
            {
                tracing::warn!(error = %e, "the panel's buzzer");
            }
            shown = Some(light);
        }
        match panel.next_event(LOOK_EVERY) {
            Some(PanelEvent::CallStaff) => {
                tracing::info!("panel: chiama un operatore");
                if !(hooks.call_staff)()
                    && let Err(e) = panel.beep()
                {
                    tracing::warn!(error = %e, "the panel's buzzer");
                }
            }
            Some(PanelEvent::Presence) => (hooks.wake)(),
            Some(PanelEvent::SpeechKey) => (hooks.speech)(None),
            Some(PanelEvent::Headset(on)) => (hooks.speech)(Some(on)),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardware::panel::SimulatedPanel;

    #[test]
    fn the_light_follows_the_printer_and_the_link() {
        assert_eq!(light_of("ready", false), Light::Ready);
        assert_eq!(light_of("paper_low", false), Light::Ready);
        assert_eq!(light_of("ready", true), Light::Offline);
        assert_eq!(light_of("paper_out", true), Light::PaperOut);
        assert_eq!(light_of("cover_open", false), Light::PrinterFault);
        assert_eq!(light_of("offline", false), Light::PrinterFault);
    }

    #[test]
    fn buttons_reach_the_flows_and_a_stopped_printer_sounds() {
        let sim = SimulatedPanel::default();
        let printer = Arc::new(Mutex::new("ready"));
        let called = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = |what: &'static str| {
            let called = called.clone();
            move || called.lock().unwrap().push(what.to_owned())
        };
        let speech_log = called.clone();
        let staff = log("staff");
        let hooks = PanelHooks {
            // Staff cannot be told: the visitor hears it.
            call_staff: Box::new(move || {
                staff();
                false
            }),
            wake: Box::new(log("wake")),
            speech: Box::new(move |on| speech_log.lock().unwrap().push(format!("speech {on:?}"))),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let (sim, printer, stop) = (sim.clone(), printer.clone(), stop.clone());
            std::thread::spawn(move || run(Box::new(sim), printer, || false, hooks, &stop))
        };
        let wait = |what: &dyn Fn() -> bool| {
            let end = std::time::Instant::now() + Duration::from_secs(10);
            while !what() {
                assert!(std::time::Instant::now() < end, "timed out");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait(&|| sim.light() == Some(Light::Ready));
        assert_eq!(sim.beeps(), 0);
        *printer.lock().unwrap() = "paper_out";
        wait(&|| sim.light() == Some(Light::PaperOut));
        assert_eq!(sim.beeps(), 1);
        for e in [
            PanelEvent::CallStaff,
            PanelEvent::Presence,
            PanelEvent::SpeechKey,
            PanelEvent::Headset(true),
        ] {
            sim.press(e);
        }
        wait(&|| called.lock().unwrap().len() == 4);
        assert_eq!(
            *called.lock().unwrap(),
            ["staff", "wake", "speech None", "speech Some(true)"]
        );
        assert_eq!(sim.beeps(), 2, "the refused call sounds");
        stop.store(true, Ordering::Release);
        t.join().unwrap();
    }
}
