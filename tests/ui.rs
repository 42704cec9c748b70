//! The real `.slint` UI driven headless through Slint's testing backend, over a demo branch on
//! a real SQLite file: navigation, languages, walk-in tickets, the on-screen keyboard, the
//! accessibility modes, the privacy timeout, touch-target sizes at three screen sizes and the
//! contrast of every text/background pair of both themes.

use std::sync::Arc;
use std::time::Duration;

use branch::node::Branch;
use chrono::TimeZone;
use demo::DemoBranch;
use domain::{Clock, ManualClock, TIME_ZONE};
use i_slint_backend_testing::{ElementHandle, ElementQuery};
use kiosk::Kiosk;
use kiosk::guide::{Place, Recorder, prompt};
use kiosk::ui::{
    CheckInAdapter, Dispatch, KioskUi, MainWindow, OutcomeAdapter, Screen, SessionAdapter, Theme,
};
use slint::ComponentHandle;
use store::{Store, StoreOptions};

struct Fixture {
    ui: KioskUi,
    branch: Arc<Branch>,
    clock: Arc<ManualClock>,
    voice: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    fixture_with(|branch, _| Kiosk::new(branch.clone()).unwrap())
}

/// The window over a demo branch, the kiosk made by `kiosk` (given the branch and a folder of
/// the test's own).
fn fixture_with(kiosk: impl FnOnce(&Arc<Branch>, &std::path::Path) -> Kiosk) -> Fixture {
    i_slint_backend_testing::init_no_event_loop();
    let dir = tempfile::tempdir().unwrap();
    // Mid-morning on a weekday, whenever the tests run: walk-ins open, appointments around.
    let clock = Arc::new(ManualClock::new(
        TIME_ZONE
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc),
    ));
    let mut store = Store::open(&dir.path().join("k.sqlite"), &StoreOptions::default()).unwrap();
    store
        .apply_replica(&DemoBranch::generate(3, clock.local_now().naive_local()).replica())
        .unwrap();
    let branch = Branch::open(store, clock.clone()).unwrap();
    let voice = Arc::new(Recorder::default());
    let ui = KioskUi::build(kiosk(&branch, dir.path()), Dispatch::Inline, voice.clone()).unwrap();
    ui.refresh();
    // Shown, so that screens and their repeated rows are laid out and can be found.
    ui.window()
        .window()
        .set_size(slint::PhysicalSize::new(1920, 1080));
    ui.window().show().unwrap();
    Fixture {
        ui,
        branch,
        clock,
        voice,
        _dir: dir,
    }
}

/// One item can show up as several elements (its component and the elements it inherits
/// from): they are told apart by where they are.
fn distinct(found: impl IntoIterator<Item = ElementHandle>) -> Vec<ElementHandle> {
    let mut seen = Vec::new();
    found
        .into_iter()
        .filter(|e| {
            let p = e.absolute_position();
            let key = (p.x as i64, p.y as i64, e.size().width as i64);
            let new = !seen.contains(&key);
            seen.push(key);
            new
        })
        .collect()
}

/// Controls by accessible id.
fn by_id(w: &MainWindow, id: &'static str) -> Vec<ElementHandle> {
    distinct(
        ElementQuery::from_root(w)
            .match_descendants()
            .match_accessible_role(i_slint_backend_testing::AccessibleRole::Button)
            .match_predicate(move |e| e.accessible_id().as_deref() == Some(id))
            .find_all(),
    )
}

fn tap(w: &MainWindow, id: &'static str) {
    let found = by_id(w, id);
    assert_eq!(found.len(), 1, "one element {id}");
    found[0].invoke_accessible_default_action();
}

/// Whether something on screen carries `label` (a button and its own text both do).
fn shows(w: &MainWindow, label: &str) -> bool {
    ElementHandle::find_by_accessible_label(w, label)
        .next()
        .is_some()
}

fn screen(f: &Fixture) -> Screen {
    f.ui.window().global::<SessionAdapter>().get_screen()
}

#[test]
fn every_home_choice_opens_its_screen_and_esci_comes_back() {
    let f = fixture();
    let w = f.ui.window();
    for (id, expected) in [
        ("go-checkin", Screen::Checkin),
        ("go-walkin", Screen::Walkin),
        ("go-cassetto", Screen::Cassetto),
        ("go-contatti", Screen::Contatti),
        ("go-booking", Screen::Booking),
        ("go-privacy", Screen::Privacy),
        ("accessibility", Screen::Accessibility),
    ] {
        tap(w, id);
        assert_eq!(screen(&f), expected, "{id}");
        assert_eq!(by_id(w, "exit").len(), 1, "Esci is always visible on {id}");
        tap(w, "exit");
        assert_eq!(screen(&f), Screen::Home);
    }
    assert!(
        by_id(w, "exit").is_empty(),
        "nothing to leave on the home screen"
    );
}

#[test]
fn languages_switch_every_text_and_esci_returns_to_italian() {
    let f = fixture();
    let w = f.ui.window();
    assert!(
        shows(w, "Prendi un biglietto. Senza appuntamento, per servizio"),
        "Prendi un biglietto. Senza appuntamento, per servizio"
    );
    tap(w, "lang-en");
    assert!(!shows(
        w,
        "Prendi un biglietto. Senza appuntamento, per servizio"
    ));
    assert!(
        shows(w, "Take a ticket. Without an appointment, by service"),
        "Take a ticket. Without an appointment, by service"
    );
    assert!(shows(w, "Call a member of staff"), "Call a member of staff");
    // Texts made in Rust follow the language too: the wait and a refusal.
    tap(w, "go-walkin");
    tap(w, "service-P");
    assert_eq!(
        w.global::<OutcomeAdapter>().get_outcome().wait,
        "4–12 minutes"
    );
    w.global::<SessionAdapter>()
        .invoke_navigate(Screen::Checkin);
    tap(w, "key-X");
    tap(w, "submit-code");
    assert_eq!(
        w.global::<OutcomeAdapter>().get_outcome().message,
        "A booking code looks like APP-2026-000123"
    );
    w.global::<SessionAdapter>().invoke_navigate(Screen::Home);
    tap(w, "lang-de");
    assert!(
        shows(w, "Eine Nummer ziehen. Ohne Termin, nach Dienst"),
        "Eine Nummer ziehen. Ohne Termin, nach Dienst"
    );
    tap(w, "go-walkin");
    tap(w, "exit");
    assert_eq!(w.global::<SessionAdapter>().get_language(), "it");
    assert!(
        shows(w, "Prendi un biglietto. Senza appuntamento, per servizio"),
        "Prendi un biglietto. Senza appuntamento, per servizio"
    );
}

#[test]
fn a_walk_in_ticket_shows_its_number_and_appointment_only_services_are_disabled() {
    let f = fixture();
    let w = f.ui.window();
    tap(w, "go-walkin");
    tap(w, "service-P");
    tap(w, "service-P");
    assert_eq!(
        f.branch.read(|q, _| q.tickets().count()),
        1,
        "a double tap is one ticket"
    );
    let outcome = w.global::<OutcomeAdapter>().get_outcome();
    assert!(outcome.shown && outcome.ok, "{outcome:?}");
    assert_eq!(outcome.ticket, "P001");
    assert_eq!(outcome.service, "Pensioni");
    assert!(
        shows(w, "Il suo biglietto è P001"),
        "Il suo biglietto è P001"
    );
    // The people waiting on the home screen come from the queue engine.
    f.ui.refresh();
    let waiting = f
        .branch
        .read(|q, _| q.waiting_counts()[&domain::ServiceLetter::parse("P").unwrap()]);
    assert_eq!(waiting, 1);
    let a = by_id(w, "service-A");
    assert_eq!(a[0].accessible_enabled(), Some(false), "appointments only");
    a[0].invoke_accessible_default_action();
    assert_eq!(
        w.global::<OutcomeAdapter>().get_outcome().ticket,
        "P001",
        "a disabled button does nothing"
    );
}

#[test]
fn the_on_screen_keyboard_types_and_a_bare_booking_code_asks_for_more() {
    let f = fixture();
    let w = f.ui.window();
    tap(w, "go-checkin");
    for key in ["key-A", "key-P", "key-P", "key--", "key-2", "key-0"] {
        tap(w, key);
    }
    tap(w, "key-backspace");
    assert_eq!(w.global::<CheckInAdapter>().get_typed(), "APP-2");
    assert_eq!(by_id(w, "key-È").len(), 1, "Italian accented letters");
    tap(w, "keyboard-mode");
    assert!(
        by_id(w, "key-Q").is_empty(),
        "the numeric pad has digits only"
    );
    tap(w, "key-7");
    tap(w, "keyboard-mode");
    assert_eq!(by_id(w, "key-Q").len(), 1);
    tap(w, "key-backspace");
    tap(w, "submit-code");
    let outcome = w.global::<OutcomeAdapter>().get_outcome();
    assert!(outcome.shown && !outcome.ok);
    assert!(
        outcome.message.starts_with("Il codice della prenotazione"),
        "{outcome:?}"
    );
}

#[test]
fn accessibility_modes_switch_and_say_their_state_in_words() {
    let f = fixture();
    let w = f.ui.window();
    tap(w, "accessibility");
    assert!(
        shows(w, "Testo grande: non attivo"),
        "Testo grande: non attivo"
    );
    let normal = w.global::<Theme>().get_body();
    tap(w, "large-text");
    tap(w, "high-contrast");
    tap(w, "seated");
    let t = w.global::<Theme>();
    assert!(t.get_large_text() && t.get_high_contrast() && t.get_seated());
    assert!(t.get_body() > normal * 1.3);
    assert!(shows(w, "Testo grande: attivo"), "Testo grande: attivo");
    // Seated: every control sits in the lower two thirds of the 1080 px screen.
    for id in ["exit", "call-staff", "large-text", "seated"] {
        let y = by_id(w, id)[0].absolute_position().y;
        assert!(y > 1080.0 / 3.0, "{id} at y = {y}");
    }
    assert!(shows(w, "Alto contrasto: attivo"), "Alto contrasto: attivo");
    tap(w, "exit");
    assert!(
        !t.get_large_text() && !t.get_high_contrast() && !t.get_seated(),
        "reset"
    );
}

#[test]
fn the_privacy_timeout_warns_at_60_s_gives_20_s_and_then_wipes_the_session() {
    let f = fixture();
    let w = f.ui.window();
    tap(w, "go-walkin");
    tap(w, "service-R");
    tap(w, "lang-en");
    let a = w.global::<SessionAdapter>();
    f.ui.idle_for(Duration::from_secs(59));
    assert!(!a.get_timeout_warning());
    f.ui.idle_for(Duration::from_secs(61));
    assert!(a.get_timeout_warning());
    assert_eq!(a.get_timeout_seconds(), 19);
    assert!(
        shows(
            w,
            "To protect your data the session will close in 19 seconds."
        ),
        "To protect your data the session will close in 19 seconds."
    );
    // "Continua" as often as the visitor wants.
    tap(w, "keep-session");
    assert!(!a.get_timeout_warning());
    assert_eq!(screen(&f), Screen::Walkin);
    f.ui.idle_for(Duration::from_secs(80));
    assert_eq!(screen(&f), Screen::Home);
    assert!(
        !w.global::<OutcomeAdapter>().get_outcome().shown,
        "the ticket is gone from the screen"
    );
    assert_eq!(w.global::<CheckInAdapter>().get_typed(), "");
    assert_eq!(a.get_language(), "it");
}

#[test]
fn chiama_un_operatore_reaches_the_staff_console() {
    let f = fixture();
    let w = f.ui.window();
    tap(w, "call-staff");
    assert!(w.global::<SessionAdapter>().get_staff_called());
    assert_eq!(f.branch.read(|q, _| q.assistance().count()), 1);
}

/// The panel's buttons (GPIO on the Pi) do what the screen's controls do: the spoken-guidance
/// key turns the voice on without seeing the screen (EN 301 549 5.2), a headset follows its
/// plug, *chiama un operatore* reaches the console, and the presence sensor counts as a touch.
#[test]
fn the_panels_buttons_do_what_the_screens_controls_do() {
    use hardware::panel::PanelEvent;
    let f = fixture();
    let w = f.ui.window();
    let a = w.global::<SessionAdapter>();
    assert!(!a.get_speech());
    f.ui.panel_event(PanelEvent::SpeechKey);
    assert!(a.get_speech());
    assert_eq!(f.voice.said().last().unwrap(), prompt(Place::Home));
    f.ui.panel_event(PanelEvent::SpeechKey);
    assert!(!a.get_speech(), "the key turns it off again");
    f.ui.panel_event(PanelEvent::Headset(true));
    assert!(a.get_speech());
    f.ui.panel_event(PanelEvent::Headset(true));
    assert!(a.get_speech(), "a plug is on, not a toggle");
    f.ui.panel_event(PanelEvent::Headset(false));
    assert!(!a.get_speech());
    f.ui.panel_event(PanelEvent::Presence);
    f.ui.panel_event(PanelEvent::CallStaff);
    assert!(a.get_staff_called());
    assert_eq!(f.branch.read(|q, _| q.assistance().count()), 1);
}

/// A backlight that remembers what it was set to.
#[derive(Clone, Default)]
struct Lamp(Arc<std::sync::Mutex<Vec<bool>>>);

impl hardware::screen::Backlight for Lamp {
    fn set(&mut self, on: bool) -> std::io::Result<()> {
        self.0.lock().unwrap().push(on);
        Ok(())
    }
}

/// Outside opening hours, with nobody at it for a minute, the screen goes dark and its
/// backlight off; a touch or the presence sensor wakes it. Never in opening hours, never in
/// the middle of a visitor's session.
#[test]
fn outside_opening_hours_the_screen_sleeps_and_a_touch_wakes_it() {
    let mut f = fixture();
    let lamp = Lamp::default();
    f.ui = f.ui.with_backlight(Box::new(lamp.clone()));
    let hour = Duration::from_secs(3600);
    assert!(
        !f.ui.screen_step(hour),
        "awake in opening hours, however idle"
    );
    assert_eq!(*lamp.0.lock().unwrap(), [true]);

    f.clock.set(
        TIME_ZONE
            .with_ymd_and_hms(2026, 11, 26, 23, 0, 0)
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let w = f.ui.window();
    let a = w.global::<SessionAdapter>();
    assert!(
        !f.ui.screen_step(Duration::from_secs(30)),
        "not before a minute"
    );
    a.set_screen(Screen::Walkin);
    assert!(!f.ui.screen_step(hour), "not during a visitor's session");
    a.set_screen(Screen::Home);
    assert!(f.ui.screen_step(Duration::from_secs(61)));
    assert!(a.get_asleep());
    assert_eq!(*lamp.0.lock().unwrap(), [true, false]);
    assert!(f.ui.screen_step(hour));
    assert_eq!(lamp.0.lock().unwrap().len(), 2, "written once a change");

    a.invoke_touched();
    assert!(!a.get_asleep(), "a touch wakes it at once");
    assert!(!f.ui.screen_step(Duration::ZERO));
    assert_eq!(*lamp.0.lock().unwrap(), [true, false, true]);
    assert!(f.ui.screen_step(Duration::from_secs(61)));
    f.ui.panel_event(hardware::panel::PanelEvent::Presence);
    assert!(!a.get_asleep(), "someone in front of it wakes it");
}

#[test]
fn every_control_of_every_screen_is_at_least_44_px_at_three_sizes() {
    let f = fixture();
    let w = f.ui.window();
    let screens = [
        Screen::Home,
        Screen::Checkin,
        Screen::Walkin,
        Screen::Cassetto,
        Screen::Contatti,
        Screen::Booking,
        Screen::Privacy,
        Screen::Accessibility,
    ];
    for (width, height) in [(1920, 1080), (1280, 800), (1080, 1920)] {
        w.window().set_size(slint::PhysicalSize::new(width, height));
        w.show().unwrap();
        for large in [false, true] {
            w.global::<Theme>().set_large_text(large);
            for s in screens {
                w.global::<SessionAdapter>().set_screen(s);
                let buttons = ElementQuery::from_root(w)
                    .match_descendants()
                    .match_accessible_role(i_slint_backend_testing::AccessibleRole::Button)
                    .find_all();
                assert!(!buttons.is_empty());
                for b in buttons {
                    let size = b.size();
                    assert!(
                        size.width >= 44.0 && size.height >= 44.0,
                        "{:?} on {s:?} at {width}x{height}: {size:?}",
                        b.accessible_label()
                    );
                }
            }
        }
    }
}

fn luminance(c: slint::Color) -> f64 {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())
}

fn contrast(a: slint::Color, b: slint::Color) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn every_text_and_background_pair_of_both_themes_is_at_least_4_5_to_1() {
    let f = fixture();
    let t = f.ui.window().global::<Theme>();
    for high in [false, true] {
        t.set_high_contrast(high);
        // The pairs the components use (see ui/theme.slint and ui/components/).
        let pairs = [
            ("text/background", t.get_text(), t.get_background()),
            ("text/surface", t.get_text(), t.get_surface()),
            ("heading/background", t.get_heading(), t.get_background()),
            ("heading/surface", t.get_heading(), t.get_surface()),
            ("on-primary/primary", t.get_on_primary(), t.get_primary()),
            (
                "secondary-text/secondary-bg",
                t.get_secondary_text(),
                t.get_secondary_bg(),
            ),
            ("on-bar/bar", t.get_on_bar(), t.get_bar()),
            ("error-text/error-bg", t.get_error_text(), t.get_error_bg()),
            ("text/error-bg", t.get_text(), t.get_error_bg()),
            (
                "success-text/background",
                t.get_success_text(),
                t.get_background(),
            ),
        ];
        for (name, fg, bg) in pairs {
            let ratio = contrast(fg, bg);
            assert!(ratio >= 4.5, "{name} in high-contrast={high}: {ratio:.2}:1");
        }
    }
}

#[test]
fn spoken_guidance_says_every_screen_and_answer_in_italian_once_switched_on() {
    let f = fixture();
    let w = f.ui.window();
    tap(w, "go-walkin");
    tap(w, "exit");
    assert!(f.voice.said().is_empty(), "silent until asked");
    tap(w, "accessibility");
    tap(w, "speech");
    assert!(shows(w, "Guida vocale: attiva"));
    tap(w, "lang-en");
    let screens = [
        ("go-checkin", Place::CheckIn),
        ("go-walkin", Place::WalkIn),
        ("go-cassetto", Place::Cassetto),
        ("go-contatti", Place::Contatti),
        ("go-booking", Place::Booking),
        ("go-privacy", Place::Privacy),
    ];
    for (id, place) in screens {
        w.global::<SessionAdapter>().set_screen(Screen::Home);
        tap(w, id);
        assert_eq!(f.voice.said().last().unwrap(), prompt(place), "{id}");
    }
    w.global::<SessionAdapter>().set_screen(Screen::Home);
    tap(w, "go-walkin");
    tap(w, "service-V");
    let said = f.voice.said();
    assert!(
        said.last()
            .unwrap()
            .starts_with("Il suo biglietto è V, 0 0 1. Persone prima di lei: 0."),
        "{said:?}"
    );
    w.global::<SessionAdapter>()
        .invoke_navigate(Screen::Checkin);
    tap(w, "key-X");
    tap(w, "submit-code");
    assert!(
        f.voice.said().last().unwrap().starts_with("Attenzione: "),
        "errors are spoken too"
    );
    tap(w, "exit");
    assert!(
        !w.global::<SessionAdapter>().get_speech(),
        "off for the next visitor"
    );
}

#[test]
fn a_spoken_prompt_renders_to_a_wav_that_is_not_silent() {
    use branch::speech::{EspeakNg, Pcm, Speech};
    let wav = EspeakNg::default()
        .wav(prompt(Place::Home))
        .unwrap_or_else(|e| panic!("{e} (scripts/system-deps installs espeak-ng)"));
    let pcm = Pcm::parse(&wav).unwrap();
    assert!(pcm.seconds() > 3.0, "{} s", pcm.seconds());
    assert!(pcm.rms() > 300.0, "rms {}", pcm.rms());
}

/// A ticket committed before a power cut but never printed: after the restart the home screen
/// offers it; one tap prints the same number and the offer goes.
#[test]
fn the_home_screen_offers_a_ticket_a_power_cut_kept_from_paper() {
    let mut lost = None;
    let mut paper = None;
    let f = fixture_with(|branch, dir| {
        // Committed; then the power went before the printer was reached.
        lost = Some(
            branch
                .issue_ticket(
                    domain::ServiceLetter::parse("P").unwrap(),
                    domain::TicketPriority::WalkIn,
                )
                .unwrap(),
        );
        let file = dir.join("printer.bin");
        paper = Some(file.clone());
        Kiosk::new(branch.clone()).unwrap().with_printer(
            Box::new(hardware::printer::SimulatedPrinter::new(file)),
            ticket::PrintOptions::default(),
        )
    });
    let (lost, paper, branch, ui) = (lost.unwrap(), paper.unwrap(), &f.branch, &f.ui);
    let w = ui.window();
    assert!(shows(w, &format!("Stampa il biglietto {}", lost.number)));
    tap(w, "reprint");
    let outcome = w.global::<OutcomeAdapter>().get_outcome();
    assert_eq!(outcome.ticket, lost.number.to_string().as_str());
    assert!(outcome.printed, "{outcome:?}");
    let text = encoding_rs::WINDOWS_1252
        .decode(&std::fs::read(&paper).unwrap())
        .0
        .into_owned();
    assert!(text.contains(&lost.number.to_string()));
    assert_eq!(
        branch.read(|q, _| q.tickets().count()),
        1,
        "no second number"
    );
    ui.refresh();
    w.global::<SessionAdapter>().set_screen(Screen::Home);
    assert!(by_id(w, "reprint").is_empty(), "offered once");
}

/// A hub that answers as scripted: what the Cassetto screen does with each state, apart from
/// the network (the real hub, provider and phone are in `tests/hub/identification.rs`).
#[derive(Default)]
struct Scripted {
    state: std::sync::Mutex<Option<protocol::wire::HandoffState>>,
    started: std::sync::atomic::AtomicUsize,
    ended: std::sync::atomic::AtomicUsize,
    summary: std::sync::Mutex<Option<protocol::cassetto::CompanySummary>>,
    agenda: std::sync::Mutex<Option<protocol::wire::AgendaView>>,
    /// The network drops after the summary arrived.
    down: std::sync::atomic::AtomicBool,
}

impl Scripted {
    fn reachable(&self) -> Result<(), branch::sync::client::SyncError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(branch::sync::client::SyncError::Network(
                "connection refused".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl kiosk::identify::Identification for Scripted {
    fn start(&self) -> Result<protocol::wire::HandoffStarted, branch::sync::client::SyncError> {
        let n = self
            .started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(protocol::wire::HandoffStarted {
            id: format!("h{n}"),
            url: format!("https://hub.example/h/{n}"),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(3),
            code: "0427".into(),
        })
    }
    fn status(
        &self,
        _: &str,
    ) -> Result<protocol::wire::HandoffState, branch::sync::client::SyncError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(protocol::wire::HandoffState::Pending { opened: false }))
    }
    fn end(&self, _: &str) -> Result<(), branch::sync::client::SyncError> {
        self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn company(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<protocol::cassetto::CompanySummary>, branch::sync::client::SyncError> {
        self.reachable()?;
        Ok(self.summary.lock().unwrap().clone())
    }
    fn agenda(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<protocol::wire::AgendaView>, branch::sync::client::SyncError> {
        self.reachable()?;
        Ok(self.agenda.lock().unwrap().clone())
    }
    fn ask_phone(
        &self,
        _: &str,
        _: &protocol::wire::DeskTask,
    ) -> Result<bool, branch::sync::client::SyncError> {
        self.reachable()?;
        Ok(true)
    }
    fn book(
        &self,
        _: &str,
        _: &str,
        _: chrono::NaiveDateTime,
    ) -> Result<
        kiosk::identify::Booked<protocol::wire::AgendaBooking>,
        branch::sync::client::SyncError,
    > {
        self.reachable()?;
        Ok(kiosk::identify::Booked::Refused(
            "Questo orario non è più libero: ne scelga un altro.".into(),
        ))
    }
}

#[test]
fn il_mio_cassetto_without_a_hub_says_it_needs_the_network_and_offers_a_ticket() {
    use kiosk::ui::{CassettoAdapter, CassettoPhase};
    let f = fixture();
    let w = f.ui.window();
    tap(w, "go-cassetto");
    // The screen asks as it is laid out (its `init`), as when it is drawn.
    assert!(!by_id(w, "shell-walkin").is_empty());
    let a = w.global::<CassettoAdapter>();
    assert_eq!(a.get_phase(), CassettoPhase::Offline);
    assert!(shows(
        w,
        "Il mio Cassetto ha bisogno del collegamento con la sede centrale, che ora non c'è. Può prendere un biglietto per lo sportello Aziende."
    ));
}

#[test]
fn il_mio_cassetto_shows_a_code_renews_it_when_expired_and_ends_the_session_on_exit() {
    use kiosk::ui::{CassettoAdapter, CassettoPhase};
    use protocol::wire::HandoffState;
    use std::sync::atomic::Ordering::SeqCst;
    let hub = Arc::new(Scripted::default());
    let f = fixture_with({
        let hub = hub.clone();
        move |branch, _| Kiosk::new(branch.clone()).unwrap().with_identification(hub)
    });
    let w = f.ui.window();
    tap(w, "go-cassetto");
    assert!(!by_id(w, "shell-walkin").is_empty());
    let a = w.global::<CassettoAdapter>();
    assert_eq!(a.get_phase(), CassettoPhase::Qr);
    assert!(a.get_valid_for().starts_with("2:5") || a.get_valid_for() == "3:00");
    *hub.state.lock().unwrap() = Some(HandoffState::Pending { opened: true });
    f.ui.cassetto_step();
    assert_eq!(a.get_phase(), CassettoPhase::Opened);
    *hub.state.lock().unwrap() = Some(HandoffState::Expired);
    f.ui.cassetto_step();
    assert_eq!(a.get_phase(), CassettoPhase::Expired);
    *hub.state.lock().unwrap() = None;
    tap(w, "cassetto-new-code");
    let _ = by_id(w, "shell-walkin");
    assert_eq!(a.get_phase(), CassettoPhase::Qr);
    assert_eq!(hub.started.load(SeqCst), 2);
    // Esci: the hand-off ends at the hub at the next step.
    w.global::<SessionAdapter>().invoke_exit();
    f.ui.cassetto_step();
    assert_eq!(hub.ended.load(SeqCst), 1);
}

/// With the network gone after the summary arrived, writing to the sede and booking say so,
/// and nothing is pretended: no booking appears, the visitor keeps the summary; a slot taken
/// meanwhile is refused with the hub's reason.
#[test]
fn requests_and_bookings_without_the_network_are_refused_with_an_explanation() {
    use kiosk::ui::{CassettoAdapter, CassettoPhase, CassettoView};
    use protocol::wire::{AgendaView, CompanyChoice, HandoffState};
    use slint::Model;
    use std::sync::atomic::Ordering::SeqCst;
    let hub = Arc::new(Scripted::default());
    let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let demo = demo::DemoBranch::generate(3, now);
    let company = &demo.companies[0];
    let matricola = company.matricole[0];
    *hub.summary.lock().unwrap() = Some(demo::cassetto::summary(
        3,
        company,
        matricola,
        &demo.sede,
        &[],
        now.date(),
    ));
    let slot = now + chrono::Duration::days(1);
    *hub.agenda.lock().unwrap() = Some(AgendaView {
        sede: "Roma Eur".into(),
        service: "A".into(),
        service_name: "Aziende, consulenti e intermediari".into(),
        slots: vec![slot],
        bookings: vec![],
    });
    *hub.state.lock().unwrap() = Some(HandoffState::Bound {
        name: "Maria Rossi".into(),
        companies: vec![CompanyChoice {
            matricola,
            company_cf: company.cf.clone(),
            denominazione: company.name.clone(),
            role: domain::TipoDelegato::Cittadino,
        }],
        until: chrono::Utc::now() + chrono::Duration::minutes(5),
        task: None,
        sent: None,
    });
    let f = fixture_with({
        let hub = hub.clone();
        move |branch, _| Kiosk::new(branch.clone()).unwrap().with_identification(hub)
    });
    let w = f.ui.window();
    tap(w, "go-cassetto");
    let _ = by_id(w, "shell-walkin");
    f.ui.cassetto_step();
    let a = w.global::<CassettoAdapter>();
    assert_eq!(a.get_phase(), CassettoPhase::Bound);
    a.invoke_open_company(0);
    assert_eq!(a.get_view(), CassettoView::Summary);

    // A slot taken meanwhile: the hub's reason.
    a.invoke_show_slots();
    a.invoke_book_slot(0);
    assert!(
        a.get_agenda_status().contains("non è più libero"),
        "{}",
        a.get_agenda_status()
    );

    hub.down.store(true, SeqCst);
    a.invoke_write_to_sede();
    assert!(
        a.get_phone_status().contains("richiede la rete")
            && a.get_phone_status().contains("nulla è stato inviato"),
        "{}",
        a.get_phone_status()
    );
    a.invoke_show_slots();
    a.invoke_book_slot(0);
    assert!(
        a.get_agenda_status()
            .contains("nessun appuntamento è stato preso"),
        "{}",
        a.get_agenda_status()
    );
    assert_eq!(a.get_bookings().row_count(), 0);
    assert_eq!(a.get_phase(), CassettoPhase::Bound, "the visitor stays");
    assert_eq!(a.get_view(), CassettoView::Summary);
}

#[test]
fn a_ticket_from_the_lease_says_on_screen_and_aloud_that_the_wait_is_not_known() {
    // A kiosk of a sede's node that has not heard of its node: it numbers from its lease.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let f = fixture_with(move |branch, _| {
        let today = branch.clock().today();
        branch
            .with_store(|s| {
                s.add_leases(
                    today,
                    &[protocol::lan::Block {
                        service: domain::ServiceLetter::parse("P").unwrap(),
                        first: 40,
                        last: 44,
                    }],
                )
            })
            .unwrap();
        let node = kiosk::remote::RemoteNode::new(
            handle,
            "kiosk-7001-02-abcdef",
            [1; 32],
            Arc::new(branch::remote::NodeLink::default()),
            Arc::new(tokio::sync::Notify::new()),
        );
        Kiosk::new(branch.clone())
            .unwrap()
            .with_node(Arc::new(node))
    });
    let w = f.ui.window();
    tap(w, "accessibility");
    tap(w, "speech");
    w.global::<SessionAdapter>().set_screen(Screen::Home);
    tap(w, "go-walkin");
    tap(w, "service-P");
    let outcome = w.global::<OutcomeAdapter>().get_outcome();
    assert!(outcome.shown && outcome.ok, "{outcome:?}");
    assert_eq!(outcome.ticket, "P040");
    assert!(!outcome.estimated);
    assert!(
        shows(
            w,
            "Biglietto emesso senza collegamento al sistema della sede: l'attesa non è nota. Sarà chiamato secondo l'ora di emissione."
        ),
        "the screen says what is not known"
    );
    assert!(
        !shows(w, "Persone prima di lei: 0. Attesa stimata: ."),
        "and shows no made-up figures"
    );
    let said = f.voice.said();
    assert!(
        said.last().unwrap().contains("l'attesa non è nota"),
        "{said:?}"
    );
    // Nor does it say how many wait: it cannot know without the node.
    assert!(!shows(w, "0 in attesa"), "no made-up counts");
    drop(runtime);
}
