//! The kiosk's panel on the Raspberry Pi's header: a status light, a buzzer, the *chiama un
//! operatore* button, an optional presence sensor that wakes the screen, and a tactile key or a
//! headset jack that turns spoken guidance on — EN 301 549 5.2: a visitor who cannot see the
//! screen must be able to switch the spoken mode on without seeing it.
//!
//! Behind [`Panel`]: [`GpioPanel`] drives the pins through `rppal` (feature `rpi`), and
//! [`SimulatedPanel`] stands in for tests and the demo. Wiring with pin numbers:
//! `docs/operations.md`, "The panel".

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What the status light shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    /// Green: tickets are printed.
    Ready,
    /// Amber (red and green): the kiosk works, but cannot reach its hub or node.
    Offline,
    /// Red, blinking: the printer does not answer or its cover is open.
    PrinterFault,
    /// Red, steady: no paper.
    PaperOut,
}

/// What a visitor did at the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelEvent {
    /// The *chiama un operatore* button.
    CallStaff,
    /// Someone came in front of the kiosk (presence sensor).
    Presence,
    /// The spoken-guidance key: turns spoken guidance on, or off again.
    SpeechKey,
    /// A headset plugged in (`true`) or out: spoken guidance follows it.
    Headset(bool),
}

/// Why the panel cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// The GPIO could not be opened or a pin set up (not a Raspberry Pi, no access to
    /// `/dev/gpiomem`, a pin already taken).
    #[error("GPIO: {0}")]
    Gpio(String),
}

/// The panel, whatever drives it.
pub trait Panel: Send {
    /// Shows `light` until told otherwise.
    fn show(&mut self, light: Light) -> Result<(), PanelError>;
    /// One short tone: something went wrong that a visitor should notice.
    fn beep(&mut self) -> Result<(), PanelError>;
    /// The next event, waiting at most `timeout`.
    fn next_event(&mut self, timeout: Duration) -> Option<PanelEvent>;
}

/// The pins (BCM numbers) of the panel; the optional inputs may be left unwired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelPins {
    pub light_red: u8,
    pub light_green: u8,
    pub buzzer: u8,
    pub call_button: u8,
    pub presence: Option<u8>,
    pub speech_key: Option<u8>,
    pub headset: Option<u8>,
}

/// What a simulated panel shows and has been given, shared with whoever drives it.
#[derive(Debug, Default)]
pub struct SimState {
    /// The light shown last.
    pub light: Option<Light>,
    /// Tones sounded.
    pub beeps: u32,
    /// Events waiting to be read, oldest first.
    pub pending: VecDeque<PanelEvent>,
}

/// A panel in memory: a test (or the demo) presses its buttons and reads its light.
#[derive(Clone, Default)]
pub struct SimulatedPanel {
    state: Arc<(Mutex<SimState>, Condvar)>,
}

impl SimulatedPanel {
    /// A visitor's action at the panel.
    pub fn press(&self, event: PanelEvent) {
        let (lock, ready) = &*self.state;
        lock.lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending
            .push_back(event);
        ready.notify_all();
    }

    /// The light shown last.
    pub fn light(&self) -> Option<Light> {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner()).light
    }

    /// Tones sounded so far.
    pub fn beeps(&self) -> u32 {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner()).beeps
    }
}

impl Panel for SimulatedPanel {
    fn show(&mut self, light: Light) -> Result<(), PanelError> {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner()).light = Some(light);
        Ok(())
    }

    fn beep(&mut self) -> Result<(), PanelError> {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner()).beeps += 1;
        Ok(())
    }

    fn next_event(&mut self, timeout: Duration) -> Option<PanelEvent> {
        let (lock, ready) = &*self.state;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = ready
            .wait_timeout_while(guard, timeout, |s| s.pending.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        guard.pending.pop_front()
    }
}

#[cfg(feature = "rpi")]
pub use gpio::GpioPanel;

#[cfg(feature = "rpi")]
mod gpio {
    use std::sync::mpsc;
    use std::time::Duration;

    use rppal::gpio::{Gpio, InputPin, Level, OutputPin, Trigger};

    use super::{Light, Panel, PanelError, PanelEvent, PanelPins};

    /// Buttons bounce for a few milliseconds; a visitor's second press comes later than this.
    const DEBOUNCE: Duration = Duration::from_millis(60);

    /// The panel on the Pi's pins. The inputs are read by rppal's interrupt thread, which
    /// queues events for [`Panel::next_event`].
    pub struct GpioPanel {
        red: OutputPin,
        green: OutputPin,
        buzzer: OutputPin,
        // Kept: dropping an input pin stops its interrupts.
        _inputs: Vec<InputPin>,
        events: mpsc::Receiver<PanelEvent>,
    }

    fn err(e: rppal::gpio::Error) -> PanelError {
        PanelError::Gpio(e.to_string())
    }

    impl GpioPanel {
        /// Opens the pins: outputs low, buttons and the headset switch with pull-ups (they
        /// close to ground), the presence sensor as its output drives it (high: someone).
        pub fn open(pins: &PanelPins) -> Result<Self, PanelError> {
            let gpio = Gpio::new().map_err(err)?;
            let output = |n: u8| Ok::<_, PanelError>(gpio.get(n).map_err(err)?.into_output_low());
            let (tx, events) = mpsc::channel();
            let mut inputs = Vec::new();
            let mut watch = |n: u8,
                             pullup: bool,
                             trigger: Trigger,
                             event: fn(Level) -> Option<PanelEvent>|
             -> Result<(), PanelError> {
                let pin = gpio.get(n).map_err(err)?;
                let mut pin = if pullup {
                    pin.into_input_pullup()
                } else {
                    pin.into_input_pulldown()
                };
                let tx = tx.clone();
                pin.set_async_interrupt(trigger, Some(DEBOUNCE), move |e| {
                    let level = if e.trigger == Trigger::RisingEdge {
                        Level::High
                    } else {
                        Level::Low
                    };
                    if let Some(ev) = event(level) {
                        let _ = tx.send(ev);
                    }
                })
                .map_err(err)?;
                inputs.push(pin);
                Ok(())
            };
            watch(pins.call_button, true, Trigger::FallingEdge, |_| {
                Some(PanelEvent::CallStaff)
            })?;
            if let Some(n) = pins.presence {
                watch(n, false, Trigger::RisingEdge, |_| {
                    Some(PanelEvent::Presence)
                })?;
            }
            if let Some(n) = pins.speech_key {
                watch(n, true, Trigger::FallingEdge, |_| {
                    Some(PanelEvent::SpeechKey)
                })?;
            }
            if let Some(n) = pins.headset {
                // The jack's switch closes to ground when a plug is in.
                watch(n, true, Trigger::Both, |level| {
                    Some(PanelEvent::Headset(level == Level::Low))
                })?;
            }
            Ok(Self {
                red: output(pins.light_red)?,
                green: output(pins.light_green)?,
                buzzer: output(pins.buzzer)?,
                _inputs: inputs,
                events,
            })
        }
    }

    impl Panel for GpioPanel {
        fn show(&mut self, light: Light) -> Result<(), PanelError> {
            self.red.clear_pwm().map_err(err)?;
            let (red, green) = match light {
                Light::Ready => (false, true),
                Light::Offline => (true, true),
                Light::PaperOut => (true, false),
                Light::PrinterFault => {
                    self.green.set_low();
                    // Twice a second, half on: a fault that needs someone, unlike paper out.
                    return self.red.set_pwm_frequency(2.0, 0.5).map_err(err);
                }
            };
            self.red.write(red.into());
            self.green.write(green.into());
            Ok(())
        }

        fn beep(&mut self) -> Result<(), PanelError> {
            self.buzzer.set_high();
            std::thread::sleep(Duration::from_millis(150));
            self.buzzer.set_low();
            Ok(())
        }

        fn next_event(&mut self, timeout: Duration) -> Option<PanelEvent> {
            self.events.recv_timeout(timeout).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_panel_shows_sounds_and_delivers_presses_in_order() {
        let sim = SimulatedPanel::default();
        let mut panel: Box<dyn Panel> = Box::new(sim.clone());
        assert_eq!(panel.next_event(Duration::from_millis(10)), None);
        panel.show(Light::PaperOut).unwrap();
        panel.beep().unwrap();
        assert_eq!(sim.light(), Some(Light::PaperOut));
        assert_eq!(sim.beeps(), 1);
        let presser = sim.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            presser.press(PanelEvent::CallStaff);
            presser.press(PanelEvent::Headset(true));
        });
        assert_eq!(
            panel.next_event(Duration::from_secs(5)),
            Some(PanelEvent::CallStaff)
        );
        assert_eq!(
            panel.next_event(Duration::from_secs(5)),
            Some(PanelEvent::Headset(true))
        );
        t.join().unwrap();
    }
}
