//! The Slint touchscreen UI: the generated components (`ui/`) and the controller that feeds
//! the global adapters of `ui/adapter.slint`, the contract between the `.slint` screens and
//! Rust: one adapter a screen (session and header, home, outcome, check-in, walk-in, privacy),
//! each wired by its own function here.
//!
//! The UI thread only moves data: kiosk actions (a check-in commits to SQLite) run on a worker
//! thread and their answers come back through `upgrade_in_event_loop`.

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slint::{ComponentHandle, Model, ModelRc, SharedString, Timer, TimerMode, VecModel};

use super::guide::{self, Place, Voice};
use super::{Answer, Kiosk};
use domain::ServiceLetter;
use i18n::Lang;
use protocol::wire::HandoffState;

slint::include_modules!();

/// Seconds without a touch before the privacy dialog.
pub const IDLE_WARNING: Duration = Duration::from_secs(60);
/// Seconds the dialog leaves to answer (WCAG 2.2.1 asks for at least 20).
pub const ANSWER_TIME: Duration = Duration::from_secs(20);

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

struct Session {
    last_touch: Instant,
}

/// Marks the visitor's activity (resets the privacy timeout).
type Touch = Rc<dyn Fn()>;

/// What every controller needs; one method a global adapter.
struct Controllers {
    weak: slint::Weak<MainWindow>,
    kiosk: Arc<Mutex<Kiosk>>,
    voice: Arc<dyn Voice>,
    dispatch: Dispatch,
    touch: Touch,
}

impl Controllers {
    /// `SessionAdapter`: navigation, language, help, *Esci*, the timeout dialog, speech.
    fn session(&self, window: &MainWindow) {
        let adapter = window.global::<SessionAdapter>();
        let touch = self.touch.clone();
        adapter.on_touched(move || touch());
        let touch = self.touch.clone();
        adapter.on_keep_session(move || touch());
        {
            let (touch, weak, voice) = (self.touch.clone(), self.weak.clone(), self.voice.clone());
            adapter.on_navigate(move |screen| {
                touch();
                if let Some(w) = weak.upgrade() {
                    let a = w.global::<SessionAdapter>();
                    w.global::<OutcomeAdapter>().set_outcome(Outcome::default());
                    w.global::<CheckInAdapter>()
                        .set_typed(SharedString::default());
                    a.set_screen(screen);
                    tracing::info!(screen = ?screen, "screen");
                    if a.get_speech() {
                        voice.say(guide::prompt(place(screen)));
                    }
                }
            });
        }
        {
            let (weak, voice) = (self.weak.clone(), self.voice.clone());
            adapter.on_speech_toggled(move || {
                if let Some(w) = weak.upgrade() {
                    let a = w.global::<SessionAdapter>();
                    if a.get_speech() {
                        voice.say(guide::prompt(place(a.get_screen())));
                    }
                }
            });
        }
        {
            let (touch, weak) = (self.touch.clone(), self.weak.clone());
            adapter.on_select_language(move |code| {
                touch();
                match select_language(&code) {
                    Ok(()) => {
                        if let Some(w) = weak.upgrade() {
                            w.global::<SessionAdapter>().set_language(code.clone());
                        }
                        tracing::info!(language = %code, "language");
                    }
                    Err(e) => tracing::warn!(error = %e, "language not switched"),
                }
            });
        }
        {
            let weak = self.weak.clone();
            adapter.on_exit(move || {
                if let Some(w) = weak.upgrade() {
                    wipe(&w);
                }
            });
        }
        {
            let (touch, weak, kiosk, voice, dispatch) = self.parts();
            adapter.on_call_staff(move || {
                touch();
                run(dispatch, &weak, &kiosk, &voice, |k| k.call_staff());
            });
        }
    }

    /// `CheckInAdapter`: the on-screen keyboard and the typed code.
    fn check_in(&self, window: &MainWindow) {
        let adapter = window.global::<CheckInAdapter>();
        {
            let (touch, weak) = (self.touch.clone(), self.weak.clone());
            adapter.on_backspace(move || {
                touch();
                if let Some(w) = weak.upgrade() {
                    let a = w.global::<CheckInAdapter>();
                    let mut typed = a.get_typed().to_string();
                    typed.pop();
                    a.set_typed(typed.into());
                }
            });
        }
        let (touch, weak, kiosk, voice, dispatch) = self.parts();
        adapter.on_submit_code(move |code| {
            touch();
            let code = code.to_string();
            run(dispatch, &weak, &kiosk, &voice, move |k| {
                k.typed_code(&code)
            });
        });
    }

    /// `WalkInAdapter`: a ticket for a service.
    fn walk_in(&self, window: &MainWindow) {
        let (touch, weak, kiosk, voice, dispatch) = self.parts();
        window
            .global::<WalkInAdapter>()
            .on_take_ticket(move |letter| {
                touch();
                let Ok(letter) = ServiceLetter::parse(&letter) else {
                    return;
                };
                // Through the input path: a double tap within 2 s gets the same ticket.
                run(dispatch, &weak, &kiosk, &voice, move |k| {
                    k.handle_input(&letter.to_string())
                });
            });
    }

    /// `HomeAdapter`: the ticket a power cut kept from paper, printed again.
    fn home(&self, window: &MainWindow) {
        let (touch, weak, kiosk, voice, dispatch) = self.parts();
        window.global::<HomeAdapter>().on_print_again(move || {
            touch();
            if let Some(w) = weak.upgrade() {
                w.global::<SessionAdapter>().set_screen(Screen::Checkin);
                w.global::<HomeAdapter>()
                    .set_reprint(SharedString::default());
            }
            run(dispatch, &weak, &kiosk, &voice, |k| {
                k.reprint_next().unwrap_or_else(|| Answer::Refused {
                    key: "reprint-none",
                    message: i18n::msg!("nessun biglietto da stampare di nuovo"),
                })
            });
        });
    }

    /// `PrivacyAdapter`: printing waits for the printer (the check-in issue).
    fn privacy(&self, window: &MainWindow) {
        let touch = self.touch.clone();
        window.global::<PrivacyAdapter>().on_print(move || {
            touch();
            tracing::info!("privacy notice print requested");
        });
    }

    #[allow(clippy::type_complexity)]
    fn parts(
        &self,
    ) -> (
        Touch,
        slint::Weak<MainWindow>,
        Arc<Mutex<Kiosk>>,
        Arc<dyn Voice>,
        Dispatch,
    ) {
        (
            self.touch.clone(),
            self.weak.clone(),
            self.kiosk.clone(),
            self.voice.clone(),
            self.dispatch,
        )
    }
}

/// The running UI: the window, its controller state and its timers.
pub struct KioskUi {
    window: MainWindow,
    kiosk: Arc<Mutex<Kiosk>>,
    voice: Arc<dyn Voice>,
    session: Rc<std::cell::RefCell<Session>>,
    cassetto: Rc<Cassetto>,
    _tick: Timer,
    _cassetto_tick: Timer,
}

/// The clock and the people waiting, as the header and the home screen show them.
fn refresh_adapter(w: &MainWindow, kiosk: &Mutex<Kiosk>) {
    let a = w.global::<SessionAdapter>();
    // A kiosk action in progress holds the lock: the clock and counts wait for the next second.
    if let Ok(k) = kiosk.try_lock() {
        // The branch's clock, not the system's: the header shows the time the queue runs on.
        let now = k.branch().clock().local_now();
        a.set_date_time(now.format("%d/%m/%Y %H:%M").to_string().into());
        let home = w.global::<HomeAdapter>();
        home.set_services(services_model(&k));
        home.set_reprint(
            k.pending_reprints()
                .first()
                .map(|t| t.number.to_string())
                .unwrap_or_default()
                .into(),
        );
    }
}

fn services_model(kiosk: &Kiosk) -> ModelRc<ServiceRow> {
    let rows: Vec<ServiceRow> = kiosk.branch().read(|q, _| {
        let counts = q.waiting_counts();
        q.services()
            .map(|s| ServiceRow {
                letter: s.letter.to_string().into(),
                name: s.name.clone().into(),
                waiting: counts.get(&s.letter).copied().unwrap_or(0) as i32,
                appointment_only: s.appointment_only,
            })
            .collect()
    });
    ModelRc::from(Rc::new(VecModel::from(rows)))
}

/// The language the window shows, for texts made in Rust.
fn language_of(w: &MainWindow) -> Lang {
    Lang::from_code(&w.global::<SessionAdapter>().get_language())
}

/// Shows an answer; a ticket that was not printed gets its QR code on screen.
fn show_outcome(w: &MainWindow, outcome: Outcome) {
    let a = w.global::<OutcomeAdapter>();
    if outcome.ok && !outcome.printed {
        a.set_qr(qr_image(&outcome.follow));
    }
    a.set_outcome(outcome);
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

fn outcome_of(kiosk: &Kiosk, answer: &Answer, lang: Lang) -> Outcome {
    match answer {
        Answer::Ticket {
            ticket,
            ahead,
            wait,
            printed,
            ..
        } => {
            let service = kiosk.service_name(ticket.number.letter());
            Outcome {
                shown: true,
                ok: true,
                ticket: ticket.number.to_string().into(),
                service: service.into(),
                ahead: *ahead as i32,
                wait: wait.message().text(lang).into(),
                message: SharedString::default(),
                printed: *printed,
                follow: kiosk.follow_url(ticket).into(),
            }
        }
        Answer::Refused { message, .. } => Outcome {
            shown: true,
            ok: false,
            message: i18n::capitalise(&message.text(lang)).into(),
            ..Outcome::default()
        },
        Answer::Assistance => Outcome::default(),
    }
}

/// Where kiosk actions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// On a worker thread, the answer posted back to the event loop (the running kiosk).
    Worker,
    /// On the UI thread, at once (tests and screenshots, which have no event loop).
    Inline,
}

impl KioskUi {
    /// Builds the window over the kiosk flows. Call on the UI thread, after the platform is set.
    pub fn new(kiosk: Kiosk) -> Result<Self, slint::PlatformError> {
        Self::with_dispatch(kiosk, Dispatch::Worker)
    }

    /// The same, choosing where actions run.
    pub fn with_dispatch(kiosk: Kiosk, dispatch: Dispatch) -> Result<Self, slint::PlatformError> {
        Self::build(kiosk, dispatch, Arc::new(guide::Silent))
    }

    /// The same, with the voice of the spoken guidance.
    pub fn build(
        kiosk: Kiosk,
        dispatch: Dispatch,
        voice: Arc<dyn Voice>,
    ) -> Result<Self, slint::PlatformError> {
        let window = MainWindow::new()?;
        window
            .global::<SessionAdapter>()
            .set_sede_name(kiosk.sede().name.clone().into());
        window
            .global::<HomeAdapter>()
            .set_services(services_model(&kiosk));
        let kiosk = Arc::new(Mutex::new(kiosk));
        let session = Rc::new(std::cell::RefCell::new(Session {
            last_touch: Instant::now(),
        }));
        let touch: Touch = {
            let session = session.clone();
            let weak = window.as_weak();
            Rc::new(move || {
                session.borrow_mut().last_touch = Instant::now();
                if let Some(w) = weak.upgrade() {
                    w.global::<SessionAdapter>().set_timeout_warning(false);
                }
            })
        };
        let ctx = Controllers {
            weak: window.as_weak(),
            kiosk: kiosk.clone(),
            voice: voice.clone(),
            dispatch,
            touch,
        };
        ctx.session(&window);
        ctx.check_in(&window);
        ctx.walk_in(&window);
        ctx.home(&window);
        ctx.privacy(&window);

        let cassetto = Rc::new(Cassetto {
            state: Arc::default(),
            kiosk: kiosk.clone(),
            weak: window.as_weak(),
            dispatch,
        });
        // Each of the screen's callbacks calls the controller's method of the same name.
        let a = window.global::<CassettoAdapter>();
        macro_rules! wire {
            ($($on:ident => $method:ident($($arg:ident)?)),* $(,)?) => {$({
                let cassetto = cassetto.clone();
                a.$on(move |$($arg)?| cassetto.$method($($arg)?));
            })*};
        }
        wire! {
            on_start => start(),
            on_open_company => open_company(i),
            on_print_summary => print_summary(),
            on_close_company => close_company(),
            on_write_to_sede => write_to_sede(),
            on_choose_istanza => choose_istanza(i),
            on_show_slots => show_slots(),
            on_take_ticket => take_ticket(),
            on_open_section => open_section(n),
            on_open_request => open_request(i),
            on_book_slot => book_slot(i),
            on_cancel_booking => cancel_booking(i),
        }
        let cassetto_tick = Timer::default();
        if matches!(dispatch, Dispatch::Worker) {
            let cassetto = cassetto.clone();
            cassetto_tick.start(TimerMode::Repeated, Duration::from_millis(500), move || {
                cassetto.step()
            });
        }

        let tick = Timer::default();
        {
            let weak = window.as_weak();
            let session = session.clone();
            let kiosk = kiosk.clone();
            tick.start(TimerMode::Repeated, Duration::from_secs(1), move || {
                let Some(w) = weak.upgrade() else { return };
                refresh_adapter(&w, &kiosk);
                let idle = session.borrow().last_touch.elapsed();
                idle_step(&w, idle);
            });
        }
        Ok(Self {
            window,
            kiosk,
            voice,
            session,
            cassetto,
            _tick: tick,
            _cassetto_tick: cassetto_tick,
        })
    }

    /// Updates the clock and the waiting counts now (the timer does it every second).
    pub fn refresh(&self) {
        refresh_adapter(&self.window, &self.kiosk);
    }

    /// The kiosk flows, shared with the scanner thread.
    pub fn kiosk(&self) -> &Arc<Mutex<Kiosk>> {
        &self.kiosk
    }

    /// The window, for showing it and for tests.
    pub fn window(&self) -> &MainWindow {
        &self.window
    }

    /// Shows the window and runs the event loop until the window closes.
    pub fn run(&self) -> Result<(), slint::PlatformError> {
        self.window.run()
    }

    /// Handles a scanned code as the scanner thread delivers it.
    pub fn scanned(&self, text: String) {
        self.session.borrow_mut().last_touch = Instant::now();
        let a = self.window.global::<SessionAdapter>();
        a.set_screen(Screen::Checkin);
        run(
            Dispatch::Inline,
            &self.window.as_weak(),
            &self.kiosk,
            &self.voice,
            move |k: &mut Kiosk| k.handle_input(&text),
        );
    }

    /// A handle the scanner thread uses to deliver scans.
    pub fn scan_handle(&self) -> ScanHandle {
        ScanHandle {
            window: self.window.as_weak(),
            kiosk: self.kiosk.clone(),
            voice: self.voice.clone(),
        }
    }

    /// One step of *Il mio Cassetto*'s half-second timer (tests drive it by hand).
    pub fn cassetto_step(&self) {
        self.cassetto.step();
    }

    /// Applies the idle rule as if `idle` had passed since the last touch (tests use it).
    pub fn idle_for(&self, idle: Duration) {
        idle_step(&self.window, idle);
    }
}

/// Delivers scans from another thread: the check-in runs there, the answer is shown on the UI
/// thread.
#[derive(Clone)]
pub struct ScanHandle {
    window: slint::Weak<MainWindow>,
    kiosk: Arc<Mutex<Kiosk>>,
    voice: Arc<dyn Voice>,
}

impl ScanHandle {
    /// Handles one scanned line.
    pub fn scanned(&self, text: &str) {
        let answer = self
            .kiosk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .handle_input(text);
        let voice = self.voice.clone();
        let kiosk = self.kiosk.clone();
        // The answer is put into words on the UI thread, in the language shown there.
        let _ = self.window.upgrade_in_event_loop(move |w| {
            let outcome = {
                let k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
                outcome_of(&k, &answer, language_of(&w))
            };
            let a = w.global::<SessionAdapter>();
            if matches!(answer, Answer::Assistance) {
                a.set_staff_called(true);
            } else {
                a.set_screen(Screen::Checkin);
                show_outcome(&w, outcome);
            }
            if a.get_speech() {
                voice.say(&guide::for_answer(&answer));
            }
        });
    }
}

/// The privacy timeout: a dialog after [`IDLE_WARNING`], the wipe [`ANSWER_TIME`] later.
fn idle_step(w: &MainWindow, idle: Duration) {
    let a = w.global::<SessionAdapter>();
    let in_session =
        a.get_screen() != Screen::Home || w.global::<OutcomeAdapter>().get_outcome().shown;
    if !in_session || idle < IDLE_WARNING {
        a.set_timeout_warning(false);
        return;
    }
    let left = (IDLE_WARNING + ANSWER_TIME).saturating_sub(idle);
    if left.is_zero() {
        tracing::info!("privacy timeout: session wiped");
        wipe(w);
    } else {
        a.set_timeout_warning(true);
        a.set_timeout_seconds(left.as_secs().max(1) as i32);
    }
}

/// The guide's name of a screen.
fn place(screen: Screen) -> Place {
    match screen {
        Screen::Home => Place::Home,
        Screen::Checkin => Place::CheckIn,
        Screen::Walkin => Place::WalkIn,
        Screen::Cassetto => Place::Cassetto,
        Screen::Contatti => Place::Contatti,
        Screen::Booking => Place::Booking,
        Screen::Privacy => Place::Privacy,
        Screen::Accessibility => Place::Accessibility,
    }
}

/// Ends the visitor's session: every model the visitor filled is cleared, the modes they chose
/// are reset, and the home screen returns in Italian.
pub fn wipe(w: &MainWindow) {
    let a = w.global::<SessionAdapter>();
    w.global::<OutcomeAdapter>().set_outcome(Outcome::default());
    w.global::<CheckInAdapter>()
        .set_typed(SharedString::default());
    a.set_staff_called(false);
    a.set_timeout_warning(false);
    a.set_speech(false);
    a.set_screen(Screen::Home);
    let t = w.global::<Theme>();
    t.set_large_text(false);
    t.set_high_contrast(false);
    t.set_seated(false);
    if select_language("it").is_ok() {
        a.set_language("it".into());
    }
}

/// Runs a kiosk action (off the UI thread with [`Dispatch::Worker`]) and shows its answer.
fn run(
    dispatch: Dispatch,
    weak: &slint::Weak<MainWindow>,
    kiosk: &Arc<Mutex<Kiosk>>,
    voice: &Arc<dyn Voice>,
    action: impl FnOnce(&mut Kiosk) -> Answer + Send + 'static,
) {
    // Read on the UI thread, where the visitor chose it.
    let lang = weak.upgrade().map(|w| language_of(&w)).unwrap_or(Lang::It);
    let act = {
        let kiosk = kiosk.clone();
        move || {
            let mut k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
            let answer = action(&mut k);
            let outcome = outcome_of(&k, &answer, lang);
            (answer, outcome)
        }
    };
    let voice = voice.clone();
    let show = move |w: MainWindow, answer: Answer, outcome: Outcome| {
        let a = w.global::<SessionAdapter>();
        if matches!(answer, Answer::Assistance) {
            a.set_staff_called(true);
        } else {
            show_outcome(&w, outcome);
        }
        if a.get_speech() {
            voice.say(&guide::for_answer(&answer));
        }
    };
    off_ui(dispatch, weak, act, move |w, (answer, outcome)| {
        show(w, answer, outcome)
    });
}

/// The identification in progress on the *Il mio Cassetto* screen. Shared with the worker
/// threads that ask the hub; `generation` drops answers to a hand-off already left.
#[derive(Default)]
struct CassettoState {
    handoff: Option<(String, chrono::DateTime<chrono::Utc>)>,
    /// The summary on screen, for Stampa fascicolo; dropped with the screen.
    summary: Option<protocol::cassetto::CompanySummary>,
    /// The company's Agenda: its free slots (to book by index) and bookings.
    agenda: Option<protocol::wire::AgendaView>,
    /// The company's requests with all their messages, for their history.
    requests: Vec<protocol::wire::ContactRequest>,
    /// The protocol of what the phone sent last, once seen.
    sent: Option<String>,
    /// The form the phone shows is an istanza's (else a request's): what it sends is that.
    asked_istanza: bool,
    asking: bool,
    generation: u64,
}

/// Runs `work` off the UI thread (with [`Dispatch::Worker`]) and `then` on it.
fn off_ui<T: Send + 'static>(
    dispatch: Dispatch,
    weak: &slint::Weak<MainWindow>,
    work: impl FnOnce() -> T + Send + 'static,
    then: impl FnOnce(MainWindow, T) + Send + 'static,
) {
    match dispatch {
        Dispatch::Inline => {
            let r = work();
            if let Some(w) = weak.upgrade() {
                then(w, r);
            }
        }
        Dispatch::Worker => {
            let weak = weak.clone();
            std::thread::spawn(move || {
                let r = work();
                let _ = weak.upgrade_in_event_loop(move |w| then(w, r));
            });
        }
    }
}

/// The visitor's role towards a company, in words.
fn role_text(code: &str, lang: Lang) -> SharedString {
    use domain::TipoDelegato as T;
    let message = match T::from_code(code) {
        Some(T::Azienda) => i18n::msg!("legale rappresentante"),
        Some(T::ConsulenteCommercialista) => i18n::msg!("consulente o commercialista"),
        Some(T::AssociazioneDiCategoria | T::AssociazioneDatoriLavoroDomestico) => {
            i18n::msg!("associazione di categoria")
        }
        Some(T::Patronato) => i18n::msg!("patronato"),
        _ => i18n::msg!("delegato"),
    };
    message.text(lang).into()
}

/// A request's state in words.
fn request_state(state: &str, lang: Lang) -> SharedString {
    match state {
        "aperta" => i18n::msg!("aperta"),
        "presa_in_carico" => i18n::msg!("presa in carico"),
        _ => i18n::msg!("chiusa"),
    }
    .text(lang)
    .into()
}

/// A company's requests as the screen lists them.
fn request_rows(requests: &[protocol::wire::ContactRequest], lang: Lang) -> ModelRc<RequestRow> {
    let rows: Vec<RequestRow> = requests
        .iter()
        .map(|r| {
            let last = r.messages.last();
            RequestRow {
                protocol: r.protocol.clone().into(),
                subject: r.subject.clone().into(),
                state: request_state(&r.state, lang),
                last: last.map(|m| m.body.clone()).unwrap_or_default().into(),
                from_sede: last.is_some_and(|m| m.direction == "out"),
                attachments: r.attachments.len() as i32,
                open: r.state != "chiusa",
            }
        })
        .collect();
    ModelRc::new(VecModel::from(rows))
}

/// An istanza's state in words.
fn istanza_state(state: &str, lang: Lang) -> SharedString {
    match state {
        "inviata" => i18n::msg!("inviata"),
        "protocollata" => i18n::msg!("protocollata"),
        "in_istruttoria" => i18n::msg!("in istruttoria"),
        "accolta" => i18n::msg!("accolta"),
        "accolta_parzialmente" => i18n::msg!("accolta parzialmente"),
        _ => i18n::msg!("respinta"),
    }
    .text(lang)
    .into()
}

/// *Comunicazioni on-line* as the screen lists them: those sent, and the eleven.
fn set_istanze(a: &CassettoAdapter<'_>, view: Option<&protocol::wire::IstanzeView>, lang: Lang) {
    let Some(view) = view else {
        clear_istanze(a);
        return;
    };
    let title = |code: &str| -> SharedString {
        domain::istanze::modulo(code)
            .map_or(code, |m| m.title)
            .into()
    };
    let sent: Vec<IstanzaRow> = view
        .sent
        .iter()
        .map(|i| IstanzaRow {
            protocol: i.protocol.clone().into(),
            title: title(&i.code),
            state: istanza_state(&i.state, lang),
            esito: i.esito.clone().unwrap_or_default().into(),
        })
        .collect();
    let moduli: Vec<ModuloRow> = view
        .moduli
        .iter()
        .filter(|m| domain::istanze::modulo(&m.code).is_some())
        .map(|m| ModuloRow {
            code: m.code.clone().into(),
            title: title(&m.code),
            available: m.available,
            reason: m.reason.clone().unwrap_or_default().into(),
        })
        .collect();
    a.set_istanze(ModelRc::new(VecModel::from(sent)));
    a.set_moduli(ModelRc::new(VecModel::from(moduli)));
}

/// The printed confirmation of a booking: where, when, the code and its QR for check-in.
fn booking_confirmation(
    b: &protocol::wire::AgendaBooking,
    company: &str,
    matricola: &str,
    service: &str,
    kiosk: &Arc<Mutex<Kiosk>>,
) -> ticket::DocumentLayout {
    let (heading, now) = {
        let k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
        (k.sede_heading(), k.clock().local_now())
    };
    let now = now.format("%d/%m/%Y %H:%M").to_string();
    ticket::DocumentLayout {
        sede: heading,
        heading: "Conferma di appuntamento".into(),
        lines: vec![
            ("Codice".into(), b.booking.clone()),
            ("Quando".into(), crate::ui::italian_when(b.starts_at)),
            ("Servizio".into(), service.to_owned()),
            ("Azienda".into(), company.to_owned()),
            ("Matricola".into(), protocol::cassetto::mask(matricola)),
        ],
        qr: Some((
            "Il giorno dell'appuntamento inquadri questo codice al chiosco:".into(),
            b.token.clone(),
        )),
        footer: format!(
            "Prenotato al chiosco il {now}. Per annullare: Il mio Cassetto, al chiosco."
        ),
    }
}

/// `venerdì 27/11/2026 alle 09:30`, in Italian as every printed text.
pub fn italian_when(t: chrono::NaiveDateTime) -> String {
    use chrono::Datelike;
    format!(
        "{} {} alle {}",
        weekday_name(t.weekday(), Lang::It),
        t.format("%d/%m/%Y"),
        t.format("%H:%M")
    )
}

/// A weekday in words.
fn weekday_name(day: chrono::Weekday, lang: Lang) -> String {
    use chrono::Weekday::*;
    match day {
        Mon => i18n::msg!("lunedì"),
        Tue => i18n::msg!("martedì"),
        Wed => i18n::msg!("mercoledì"),
        Thu => i18n::msg!("giovedì"),
        Fri => i18n::msg!("venerdì"),
        Sat => i18n::msg!("sabato"),
        Sun => i18n::msg!("domenica"),
    }
    .text(lang)
}

/// A slot as the visitor reads it: `venerdì 27/11 · 09:30`.
fn slot_label(t: chrono::NaiveDateTime, lang: Lang) -> String {
    use chrono::Datelike;
    let today = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .date_naive();
    // "Today" and "tomorrow" read faster than a date, and are what people say at a desk.
    let near = if t.date() == today {
        Some(i18n::msg!("oggi"))
    } else if t.date() == today + chrono::Duration::days(1) {
        Some(i18n::msg!("domani"))
    } else {
        None
    };
    format!(
        "{} {} · {}",
        near.map_or_else(|| weekday_name(t.weekday(), lang), |n| n.text(lang)),
        t.format("%d/%m"),
        t.format("%H:%M")
    )
}

/// An appointment's state in words.
fn booking_state(state: &str, lang: Lang) -> SharedString {
    domain::AppointmentState::from_name(state)
        .map(|s| s.label().text(lang))
        .unwrap_or_else(|| state.to_owned())
        .into()
}

/// The Agenda's bookings on screen; the slots stay hidden until asked for.
fn set_agenda(a: &CassettoAdapter<'_>, view: Option<&protocol::wire::AgendaView>, lang: Lang) {
    a.set_slots(ModelRc::default());
    let Some(view) = view else {
        a.set_bookings(ModelRc::default());
        a.set_agenda_service(SharedString::default());
        return;
    };
    let rows: Vec<BookingRow> = view
        .bookings
        .iter()
        .map(|b| BookingRow {
            booking: b.booking.clone().into(),
            when: slot_label(b.starts_at, lang).into(),
            state: booking_state(&b.state, lang),
            cancellable: matches!(b.state.as_str(), "booked" | "confirmed"),
        })
        .collect();
    a.set_bookings(ModelRc::new(VecModel::from(rows)));
    a.set_agenda_service(view.service_name.clone().into());
}

fn clear_istanze(a: &CassettoAdapter<'_>) {
    a.set_deflecting(false);
    a.set_slots_shown(false);
    a.set_section_shown(false);
    a.set_section(SectionView::default());
    a.set_istanze(ModelRc::default());
    a.set_moduli(ModelRc::default());
    a.set_bookings(ModelRc::default());
    a.set_slots(ModelRc::default());
    a.set_agenda_service(SharedString::default());
    a.set_agenda_status(SharedString::default());
}

/// Clears what the screen showed of the visitor: name, companies, code.
fn clear_cassetto(w: &MainWindow) {
    let a = w.global::<CassettoAdapter>();
    clear_istanze(&a);
    a.set_phone_status(SharedString::default());
    a.set_requests(ModelRc::default());
    a.set_summary_shown(false);
    a.set_summary(SummaryView::default());
    a.set_print_status(SharedString::default());
    a.set_person(SharedString::default());
    a.set_companies(ModelRc::default());
    a.set_revealed(-1);
    a.set_qr(slint::Image::default());
    a.set_valid_for(SharedString::default());
}

/// *Il mio Cassetto*: a new hand-off when the screen opens (or the visitor asks for a new
/// code), its state every half second while the screen shows, and its end when the visitor
/// leaves, by *Esci*, another screen or the privacy timeout.
#[derive(Clone)]
struct Cassetto {
    state: Arc<Mutex<CassettoState>>,
    kiosk: Arc<Mutex<Kiosk>>,
    weak: slint::Weak<MainWindow>,
    dispatch: Dispatch,
}

impl Cassetto {
    fn identification(&self) -> Arc<dyn super::identify::Identification> {
        self.kiosk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .identification()
    }

    fn lock(state: &Mutex<CassettoState>) -> std::sync::MutexGuard<'_, CassettoState> {
        state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live hand-off and the company on screen, with the generation the answers to
    /// questions about them must still match.
    fn on_screen(&self) -> Option<(String, String, u64)> {
        let st = Self::lock(&self.state);
        let (Some((id, _)), Some(summary)) = (st.handoff.clone(), st.summary.as_ref()) else {
            return None;
        };
        Some((id, summary.anagrafica.matricola.to_string(), st.generation))
    }

    /// Ends the current hand-off at the hub, if any (in the background: nothing waits).
    fn end_current(&self) {
        let ended = {
            let mut st = Self::lock(&self.state);
            st.generation += 1;
            st.asking = false;
            st.summary = None;
            st.agenda = None;
            st.requests.clear();
            st.sent = None;
            st.asked_istanza = false;
            st.handoff.take()
        };
        if let Some((id, _)) = ended {
            let ident = self.identification();
            off_ui(
                self.dispatch,
                &self.weak,
                move || ident.end(&id),
                |_, r| {
                    if let Err(e) = r {
                        tracing::info!(error = %e, "hand-off not ended at the hub; it expires");
                    }
                },
            );
        }
    }

    fn start(&self) {
        self.end_current();
        let Some(w) = self.weak.upgrade() else { return };
        clear_cassetto(&w);
        w.global::<CassettoAdapter>()
            .set_phase(CassettoPhase::Connecting);
        let generation = Self::lock(&self.state).generation;
        let ident = self.identification();
        let state = self.state.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || ident.start(),
            move |w, r| {
                let mut st = Self::lock(&state);
                if st.generation != generation {
                    return;
                }
                let a = w.global::<CassettoAdapter>();
                match r {
                    Ok(h) => {
                        a.set_qr(qr_image(&h.url));
                        a.set_valid_for(valid_for(h.expires_at).into());
                        a.set_phase(CassettoPhase::Qr);
                        st.handoff = Some((h.id, h.expires_at));
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "identification unavailable");
                        a.set_phase(CassettoPhase::Offline);
                    }
                }
            },
        );
    }

    /// The visitor chose a company: its summary from the hub, shown while they read it.
    fn open_company(&self, index: i32) {
        let Some(w) = self.weak.upgrade() else { return };
        let a = w.global::<CassettoAdapter>();
        let Some(row) = usize::try_from(index)
            .ok()
            .and_then(|i| a.get_companies().row_data(i))
        else {
            return;
        };
        let (id, generation) = {
            let st = Self::lock(&self.state);
            let Some((id, _)) = st.handoff.clone() else {
                return;
            };
            (id, st.generation)
        };
        let matricola = row.matricola.to_string();
        let ident = self.identification();
        let state = self.state.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || {
                let summary = ident.company(&id, &matricola);
                // The history is a second question; without it the summary still shows.
                let (requests, istanze, agenda) = match &summary {
                    Ok(Some(_)) => (
                        ident.requests(&id, &matricola).unwrap_or_else(|e| {
                            tracing::info!(error = %e, "requests not read");
                            Vec::new()
                        }),
                        ident.istanze(&id, &matricola).unwrap_or_else(|e| {
                            tracing::info!(error = %e, "istanze not read");
                            None
                        }),
                        ident.agenda(&id, &matricola).unwrap_or_else(|e| {
                            tracing::info!(error = %e, "agenda not read");
                            None
                        }),
                    ),
                    _ => (Vec::new(), None, None),
                };
                summary.map(|s| s.map(|s| (s, requests, istanze, agenda)))
            },
            move |w, r| {
                let mut st = Self::lock(&state);
                if st.generation != generation {
                    return;
                }
                let a = w.global::<CassettoAdapter>();
                match r {
                    Ok(Some((summary, requests, istanze, agenda))) => {
                        let lang = language_of(&w);
                        a.set_requests(request_rows(&requests, lang));
                        st.requests = requests;
                        set_istanze(&a, istanze.as_ref(), lang);
                        set_agenda(&a, agenda.as_ref(), lang);
                        st.agenda = agenda;
                        a.set_summary(summary_view(&summary, lang));
                        a.set_summary_shown(true);
                        a.set_print_status(SharedString::default());
                        st.summary = Some(summary);
                    }
                    // The session ended at the hub (its five minutes, or another kiosk's
                    // question): identify again.
                    Ok(None) => {
                        st.handoff = None;
                        clear_cassetto(&w);
                        a.set_phase(CassettoPhase::Expired);
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "company summary unavailable");
                        clear_cassetto(&w);
                        a.set_phase(CassettoPhase::Offline);
                    }
                }
            },
        );
    }

    /// Back to the company list: the summary leaves the screen and memory.
    fn close_company(&self) {
        {
            let mut st = Self::lock(&self.state);
            st.summary = None;
            st.agenda = None;
            st.requests.clear();
        }
        if let Some(w) = self.weak.upgrade() {
            let a = w.global::<CassettoAdapter>();
            a.set_requests(ModelRc::default());
            a.set_summary_shown(false);
            a.set_summary(SummaryView::default());
            a.set_print_status(SharedString::default());
            a.set_phone_status(SharedString::default());
            clear_istanze(&a);
        }
    }

    /// An istanza chosen at the kiosk: its form opens on the visitor's phone, where the
    /// amounts and the bank details are typed.
    fn choose_istanza(&self, index: i32) {
        let Some(w) = self.weak.upgrade() else { return };
        let Some(row) = usize::try_from(index)
            .ok()
            .and_then(|i| w.global::<CassettoAdapter>().get_moduli().row_data(i))
        else {
            return;
        };
        if !row.available {
            return;
        }
        let title = row.title.to_string();
        self.ask_phone(
            move |matricola| protocol::wire::DeskTask::Istanza {
                matricola,
                modulo: row.code.to_string(),
            },
            move |lang| {
                i18n::msg!(
                    "Continui sul suo telefono: l'istanza «{}» è aperta lì. Tutti i campi sono obbligatori.",
                    title
                )
                .text(lang)
            },
        );
    }

    /// *Prendi un biglietto* for an identified visitor: first what could be settled without
    /// queueing (the DURC, the open requests, a request from the phone, a slot), then the
    /// ticket if they still want it. No peer system does this; the lobby's queue is shorter
    /// for it.
    fn take_ticket(&self) {
        let Some(w) = self.weak.upgrade() else { return };
        let a = w.global::<CassettoAdapter>();
        let open = a.get_requests().iter().filter(|r| r.open).count();
        a.set_open_requests(open as i32);
        a.set_deflecting(true);
    }

    /// A request tapped: its whole history, both ways, on its own screen.
    fn open_request(&self, index: i32) {
        let Some(w) = self.weak.upgrade() else { return };
        let lang = language_of(&w);
        let st = Self::lock(&self.state);
        let Some(r) = usize::try_from(index).ok().and_then(|i| st.requests.get(i)) else {
            return;
        };
        let t = |m: i18n::Message| -> String { m.text(lang) };
        let when = |at: chrono::DateTime<chrono::Utc>| {
            at.with_timezone(&domain::TIME_ZONE)
                .format("%d/%m/%Y %H:%M")
                .to_string()
        };
        let mut rows: Vec<DetailRow> = r
            .messages
            .iter()
            .map(|m| DetailRow {
                label: if m.direction == "out" {
                    t(i18n::msg!("Risposta della sede, {}", when(m.at)))
                } else {
                    t(i18n::msg!("Inviata da lei, {}", when(m.at)))
                }
                .into(),
                value: m.body.clone().into(),
                detail: SharedString::default(),
                alert: false,
            })
            .collect();
        rows.extend(r.attachments.iter().map(|f| DetailRow {
            label: t(i18n::msg!("Allegato")).into(),
            value: f.name.clone().into(),
            detail: format!("{} kB", f.size.div_ceil(1000)).into(),
            alert: false,
        }));
        let a = w.global::<CassettoAdapter>();
        a.set_section(SectionView {
            title: format!("{} · {}", r.protocol, r.subject).into(),
            intro: t(i18n::msg!("Stato: {}", request_state(&r.state, lang))).into(),
            rows: ModelRc::new(VecModel::from(rows)),
        });
        a.set_section_shown(true);
    }

    /// A card tapped: its section, whole, on its own screen.
    fn open_section(&self, n: i32) {
        let Some(w) = self.weak.upgrade() else { return };
        let st = Self::lock(&self.state);
        let Some(summary) = &st.summary else { return };
        let a = w.global::<CassettoAdapter>();
        a.set_section(section_view(summary, n, language_of(&w)));
        a.set_section_shown(true);
    }

    /// *Prenota un appuntamento*: the free slots, soonest first.
    fn show_slots(&self) {
        let Some(w) = self.weak.upgrade() else { return };
        let lang = language_of(&w);
        let st = Self::lock(&self.state);
        let Some(agenda) = &st.agenda else { return };
        let a = w.global::<CassettoAdapter>();
        if agenda.slots.is_empty() {
            a.set_agenda_status(
                i18n::msg!("Nei prossimi quattordici giorni non ci sono orari liberi.")
                    .text(lang)
                    .into(),
            );
            return;
        }
        let rows: Vec<SlotRow> = agenda
            .slots
            .iter()
            .take(8)
            .map(|t| SlotRow {
                label: slot_label(*t, lang).into(),
            })
            .collect();
        a.set_slots(ModelRc::new(VecModel::from(rows)));
        a.set_slots_shown(true);
    }

    /// A slot chosen: booked at the hub in one request, the confirmation printed with its QR.
    fn book_slot(&self, index: i32) {
        let Some((id, matricola, generation)) = self.on_screen() else {
            return;
        };
        let (starts_at, company, service) = {
            let st = Self::lock(&self.state);
            let (Some(summary), Some(agenda)) = (st.summary.as_ref(), st.agenda.as_ref()) else {
                return;
            };
            let Some(t) = usize::try_from(index)
                .ok()
                .and_then(|i| agenda.slots.get(i))
            else {
                return;
            };
            (
                *t,
                summary.anagrafica.denominazione.clone(),
                agenda.service_name.clone(),
            )
        };
        let ident = self.identification();
        let kiosk = self.kiosk.clone();
        let this = self.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            {
                let matricola = matricola.clone();
                move || {
                    let r = ident.book(&id, &matricola, starts_at);
                    // Printed at once, while the visitor stands at the kiosk.
                    let printed = match &r {
                        Ok(super::identify::Booked::Done(b)) => {
                            let doc =
                                booking_confirmation(b, &company, &matricola, &service, &kiosk);
                            kiosk
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .print_document(&doc)
                        }
                        _ => false,
                    };
                    (r, printed)
                }
            },
            move |w, (r, printed)| {
                if Self::lock(&this.state).generation != generation {
                    return;
                }
                let lang = language_of(&w);
                let a = w.global::<CassettoAdapter>();
                let said = match r {
                    Ok(super::identify::Booked::Done(b)) => {
                        let when = slot_label(b.starts_at, lang);
                        if printed {
                            i18n::msg!(
                                "Appuntamento {} prenotato per {}. Ritiri la conferma stampata: il giorno dell'appuntamento ne inquadri il codice QR al chiosco.",
                                b.booking,
                                when
                            )
                        } else {
                            i18n::msg!(
                                "Appuntamento {} prenotato per {}. La stampante non è disponibile: annoti il codice; la conferma arriva anche per e-mail e SMS.",
                                b.booking,
                                when
                            )
                        }
                    }
                    Ok(super::identify::Booked::Refused(why)) => {
                        i18n::msg!("Prenotazione non riuscita: {}", why)
                    }
                    Ok(super::identify::Booked::Gone) => {
                        this.expire(&w);
                        return;
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "booking not made");
                        i18n::msg!(
                            "Prenotare richiede la rete, che ora non risponde: nessun appuntamento è stato preso. Riprovi tra poco."
                        )
                    }
                };
                a.set_agenda_status(said.text(lang).into());
                a.set_slots_shown(false);
                this.reload_agenda();
            },
        );
    }

    /// A booking cancelled by the visitor.
    fn cancel_booking(&self, index: i32) {
        let Some((id, matricola, generation)) = self.on_screen() else {
            return;
        };
        let Some(booking) = Self::lock(&self.state).agenda.as_ref().and_then(|a| {
            usize::try_from(index)
                .ok()
                .and_then(|i| a.bookings.get(i))
                .map(|b| b.booking.clone())
        }) else {
            return;
        };
        let ident = self.identification();
        let this = self.clone();
        let code = booking.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || ident.cancel_booking(&id, &matricola, &booking),
            move |w, r| {
                if Self::lock(&this.state).generation != generation {
                    return;
                }
                let lang = language_of(&w);
                let said = match r {
                    Ok(super::identify::Booked::Done(())) => {
                        i18n::msg!("Appuntamento {} annullato: il posto torna libero.", code)
                    }
                    Ok(super::identify::Booked::Refused(why)) => {
                        i18n::msg!("Annullamento non riuscito: {}", why)
                    }
                    Ok(super::identify::Booked::Gone) => {
                        this.expire(&w);
                        return;
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "booking not cancelled");
                        i18n::msg!(
                            "Annullare richiede la rete, che ora non risponde: l'appuntamento resta valido. Riprovi tra poco."
                        )
                    }
                };
                w.global::<CassettoAdapter>()
                    .set_agenda_status(said.text(lang).into());
                this.reload_agenda();
            },
        );
    }

    /// Reads the company's Agenda again (after a booking or a cancellation).
    fn reload_agenda(&self) {
        let Some((id, matricola, generation)) = self.on_screen() else {
            return;
        };
        let ident = self.identification();
        let state = self.state.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || ident.agenda(&id, &matricola),
            move |w, r| {
                let mut st = Self::lock(&state);
                if st.generation != generation {
                    return;
                }
                match r {
                    Ok(view) => {
                        set_agenda(
                            &w.global::<CassettoAdapter>(),
                            view.as_ref(),
                            language_of(&w),
                        );
                        st.agenda = view;
                    }
                    Err(e) => tracing::info!(error = %e, "agenda not read"),
                }
            },
        );
    }

    /// The session ended at the hub: identify again.
    fn expire(&self, w: &MainWindow) {
        {
            let mut st = Self::lock(&self.state);
            st.handoff = None;
            st.summary = None;
            st.agenda = None;
        }
        clear_cassetto(w);
        w.global::<CassettoAdapter>()
            .set_phase(CassettoPhase::Expired);
    }

    /// *Scrivi alla sede*: the request form opens on the visitor's phone, where the text
    /// and the attachments are typed and chosen away from the lobby's eyes.
    fn write_to_sede(&self) {
        self.ask_phone(
            |matricola| protocol::wire::DeskTask::Richiesta { matricola },
            |lang| {
                i18n::msg!(
                    "Continui sul suo telefono: il modulo è aperto lì. Scriva la richiesta e scelga fino a 3 allegati (PDF, JPEG o PNG, al massimo 3 MB)."
                )
                .text(lang)
            },
        );
    }

    /// Opens `task` (for the company on screen) on the visitor's phone; says so with
    /// `opened`, or why not.
    fn ask_phone(
        &self,
        task: impl FnOnce(String) -> protocol::wire::DeskTask + Send + 'static,
        opened: impl FnOnce(Lang) -> String + Send + 'static,
    ) {
        let Some((id, matricola, generation)) = self.on_screen() else {
            return;
        };
        let ident = self.identification();
        let state = self.state.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || {
                let task = task(matricola);
                let istanza = matches!(task, protocol::wire::DeskTask::Istanza { .. });
                (ident.ask_phone(&id, &task), istanza)
            },
            move |w, (r, istanza)| {
                let mut st = Self::lock(&state);
                if st.generation != generation {
                    return;
                }
                let lang = language_of(&w);
                let a = w.global::<CassettoAdapter>();
                match r {
                    Ok(true) => {
                        st.asked_istanza = istanza;
                        a.set_phone_status(opened(lang).into());
                    }
                    Ok(false) => {
                        st.handoff = None;
                        st.summary = None;
                        clear_cassetto(&w);
                        a.set_phase(CassettoPhase::Expired);
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "phone form not opened");
                        a.set_phone_status(
                            i18n::msg!(
                                "Scrivere alla sede richiede la rete, che ora non risponde: nulla è stato inviato. Riprovi tra poco."
                            )
                            .text(lang)
                            .into(),
                        );
                    }
                }
            },
        );
    }

    /// The phone sent something: say so with its protocol and read the list again.
    fn sent_from_phone(&self, w: &MainWindow, protocol: String) {
        let lang = language_of(w);
        let said = if Self::lock(&self.state).asked_istanza {
            i18n::msg!("Istanza inviata alla sede: protocollo {}.", protocol)
        } else {
            i18n::msg!("Richiesta inviata alla sede: protocollo {}.", protocol)
        };
        w.global::<CassettoAdapter>()
            .set_phone_status(said.text(lang).into());
        let Some((id, matricola, generation)) = self.on_screen() else {
            return;
        };
        let ident = self.identification();
        let state = self.state.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || {
                (
                    ident.requests(&id, &matricola),
                    ident.istanze(&id, &matricola),
                )
            },
            move |w, (requests, istanze)| {
                let mut st = Self::lock(&state);
                if st.generation != generation {
                    return;
                }
                let lang = language_of(&w);
                let a = w.global::<CassettoAdapter>();
                match requests {
                    Ok(list) => {
                        a.set_requests(request_rows(&list, lang));
                        st.requests = list;
                    }
                    Err(e) => tracing::info!(error = %e, "requests not read"),
                }
                match istanze {
                    Ok(view) => set_istanze(&a, view.as_ref(), lang),
                    Err(e) => tracing::info!(error = %e, "istanze not read"),
                }
            },
        );
    }

    /// *Stampa fascicolo*: the summary on screen, on the kiosk's printer.
    fn print_summary(&self) {
        let Some(summary) = Self::lock(&self.state).summary.clone() else {
            return;
        };
        let kiosk = self.kiosk.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || {
                let mut k = kiosk.lock().unwrap_or_else(|p| p.into_inner());
                let now = k.clock().local_now().format("%d/%m/%Y %H:%M").to_string();
                let doc = crate::fascicolo::fascicolo(&summary, &k.sede_heading(), &now);
                k.print_document(&doc)
            },
            |w, printed| {
                let lang = language_of(&w);
                let text = if printed {
                    i18n::msg!("Fascicolo stampato: lo ritiri dalla stampante.")
                } else {
                    i18n::msg!("La stampante non è disponibile: il fascicolo non è stato stampato.")
                };
                w.global::<CassettoAdapter>()
                    .set_print_status(text.text(lang).into());
            },
        );
    }

    /// One step of the half-second timer.
    fn step(&self) {
        let Some(w) = self.weak.upgrade() else { return };
        if w.global::<SessionAdapter>().get_screen() != Screen::Cassetto {
            if Self::lock(&self.state).handoff.is_some() {
                self.end_current();
                clear_cassetto(&w);
            }
            return;
        }
        let (id, generation) = {
            let mut st = Self::lock(&self.state);
            let Some((id, expires)) = st.handoff.clone() else {
                return;
            };
            let a = w.global::<CassettoAdapter>();
            if matches!(a.get_phase(), CassettoPhase::Qr | CassettoPhase::Opened) {
                a.set_valid_for(valid_for(expires).into());
            }
            if st.asking {
                return;
            }
            st.asking = true;
            (id, st.generation)
        };
        let ident = self.identification();
        let state = self.state.clone();
        let this = self.clone();
        off_ui(
            self.dispatch,
            &self.weak,
            move || ident.status(&id),
            move |w, r| {
                let mut st = Self::lock(&state);
                let mut phone_sent = None;
                if st.generation != generation {
                    return;
                }
                st.asking = false;
                let a = w.global::<CassettoAdapter>();
                match r {
                    Ok(HandoffState::Pending { opened }) => a.set_phase(if opened {
                        CassettoPhase::Opened
                    } else {
                        CassettoPhase::Qr
                    }),
                    Ok(HandoffState::Bound {
                        name,
                        companies,
                        sent,
                        ..
                    }) => {
                        if sent.is_some() && sent != st.sent {
                            st.sent.clone_from(&sent);
                            phone_sent = sent;
                        }
                        if a.get_phase() != CassettoPhase::Bound {
                            let rows: Vec<CompanyRow> = companies
                                .iter()
                                .map(|c| CompanyRow {
                                    name: c.denominazione.clone().into(),
                                    matricola: c.matricola.as_str().into(),
                                    masked: super::identify::mask_matricola(c.matricola.as_str())
                                        .into(),
                                    role: role_text(&c.role, language_of(&w)),
                                })
                                .collect();
                            a.set_person(name.into());
                            a.set_companies(ModelRc::new(VecModel::from(rows)));
                            a.set_qr(slint::Image::default());
                            a.set_phase(CassettoPhase::Bound);
                        }
                    }
                    Ok(HandoffState::Expired | HandoffState::Ended) => {
                        st.handoff = None;
                        clear_cassetto(&w);
                        a.set_phase(CassettoPhase::Expired);
                    }
                    // A question lost to the network: the next step asks again.
                    Err(e) => tracing::debug!(error = %e, "hand-off state not read"),
                }
                drop(st);
                if let Some(protocol) = phone_sent {
                    this.sent_from_phone(&w, protocol);
                }
            },
        );
    }
}

/// The chosen company's figures, written out for the summary's cards in `lang`.
fn summary_view(s: &protocol::cassetto::CompanySummary, lang: Lang) -> SummaryView {
    use protocol::cassetto::{Durc, date, euro};
    let t = |m: i18n::Message| -> SharedString { m.text(lang).into() };
    let (durc, durc_detail) = match &s.durc {
        Durc::Regolare {
            protocollo,
            scadenza,
            ..
        } => (
            0,
            t(i18n::msg!(
                "valido fino al {}, protocollo {}",
                date(*scadenza),
                protocollo
            )),
        ),
        Durc::InVerifica {
            esito_entro, cause, ..
        } => (
            1,
            t(i18n::msg!(
                "esito entro il {}: {}",
                date(*esito_entro),
                cause.join("; ")
            )),
        ),
        Durc::NonRegolare { cause, .. } => (2, cause.join("; ").into()),
    };
    let last = s.mesi.iter().rev().find(|m| m.uniemens_inviato.is_some());
    let credits: i64 = s.crediti.iter().map(|(_, c)| c).sum();
    let dilazione = s
        .dilazioni
        .iter()
        .find(|d| d.stato == "Accolta")
        .map(|d| {
            t(i18n::msg!(
                "rata {}, pagate {} di {}",
                euro(d.rata()),
                d.pagate,
                d.rate
            ))
        })
        .unwrap_or_else(|| t(i18n::msg!("nessuna in corso")));
    let cig = s
        .cig
        .first()
        .map(|c| format!("{} · {}", c.tipo, c.stato).into())
        .unwrap_or_else(|| t(i18n::msg!("nessuna domanda")));
    SummaryView {
        name: s.anagrafica.denominazione.clone().into(),
        matricola: super::identify::mask_matricola(s.anagrafica.matricola.as_str()).into(),
        sede: s.anagrafica.sede_inps.clone().into(),
        stato: s.anagrafica.stato.clone().into(),
        ateco: s.anagrafica.ateco.clone().into(),
        durc,
        durc_detail,
        debt: euro(s.debito_aperto()).into(),
        open_count: s
            .inadempienze
            .iter()
            .filter(|i| i.stato == "Aperta")
            .count() as i32,
        last_uniemens: last
            .map(|m| period_text(m.period, lang))
            .unwrap_or_default()
            .into(),
        last_esito: last
            .map(|m| esito_text(m.esito(), lang))
            .unwrap_or_default()
            .into(),
        credits: euro(credits).into(),
        notes_count: s.note_rettifica.len() as i32,
        last_note: s
            .note_rettifica
            .last()
            .map(|n| {
                format!(
                    "{} · {}: {}",
                    period_text(n.period, lang),
                    euro(n.totale()),
                    n.calcolo()
                )
            })
            .unwrap_or_default()
            .into(),
        dilazione,
        avvisi_count: s.avvisi.len() as i32,
        cig,
        employees: s.anagrafica.dipendenti as i32,
        units: s.dipendenze.len() as i32,
        soggetti: s
            .soggetti
            .iter()
            .map(|p| format!("{} ({})", p.nome, p.ruolo))
            .collect::<Vec<_>>()
            .join(", ")
            .into(),
    }
}

/// A month as visitors read it, in their language: `marzo 2026`, `March 2026`.
fn period_text(p: protocol::cassetto::Period, lang: Lang) -> String {
    let month = match p.month {
        1 => i18n::msg!("gennaio"),
        2 => i18n::msg!("febbraio"),
        3 => i18n::msg!("marzo"),
        4 => i18n::msg!("aprile"),
        5 => i18n::msg!("maggio"),
        6 => i18n::msg!("giugno"),
        7 => i18n::msg!("luglio"),
        8 => i18n::msg!("agosto"),
        9 => i18n::msg!("settembre"),
        10 => i18n::msg!("ottobre"),
        11 => i18n::msg!("novembre"),
        _ => i18n::msg!("dicembre"),
    };
    format!("{} {}", month.text(lang), p.year)
}

/// A month's UniEmens/F24 comparison in words.
fn esito_text(esito: &str, lang: Lang) -> String {
    match esito {
        "DM non presentato" => i18n::msg!("DM non presentato"),
        "A credito" => i18n::msg!("A credito"),
        "Omesso versamento" => i18n::msg!("Omesso versamento"),
        "Versamento parziale" => i18n::msg!("Versamento parziale"),
        "Versamento in ritardo" => i18n::msg!("Versamento in ritardo"),
        _ => i18n::msg!("Quadrato"),
    }
    .text(lang)
}

/// One section of the summary, every line of it, in `lang` (the sections are numbered as
/// the screen's `Sections` global numbers them).
fn section_view(s: &protocol::cassetto::CompanySummary, n: i32, lang: Lang) -> SectionView {
    use protocol::cassetto::{Durc, date, euro};
    let t = |m: i18n::Message| -> String { m.text(lang) };
    let row = |label: String, value: String, detail: String, alert: bool| DetailRow {
        label: label.into(),
        value: value.into(),
        detail: detail.into(),
        alert,
    };
    let (title, intro, rows): (String, String, Vec<DetailRow>) = match n {
        0 => {
            let a = &s.anagrafica;
            let mut rows = vec![
                row(
                    t(i18n::msg!("Denominazione")),
                    a.denominazione.clone(),
                    a.natura_giuridica.clone(),
                    false,
                ),
                row(
                    t(i18n::msg!("Matricola")),
                    super::identify::mask_matricola(a.matricola.as_str()),
                    t(i18n::msg!("CSC {}", a.csc)),
                    false,
                ),
                row(
                    t(i18n::msg!("Stato")),
                    a.stato.clone(),
                    t(i18n::msg!("dal {}", date(a.inizio_attivita))),
                    false,
                ),
                row(
                    t(i18n::msg!("Attività (ATECO)")),
                    a.ateco.clone(),
                    String::new(),
                    false,
                ),
                row(
                    t(i18n::msg!("Sede legale")),
                    a.sede_legale.clone(),
                    a.pec.clone(),
                    false,
                ),
                row(
                    t(i18n::msg!("Sede INPS di competenza")),
                    a.sede_inps.clone(),
                    String::new(),
                    false,
                ),
                row(
                    t(i18n::msg!("Codici di autorizzazione")),
                    if a.codici_autorizzazione.is_empty() {
                        "—".into()
                    } else {
                        a.codici_autorizzazione.join(", ")
                    },
                    String::new(),
                    false,
                ),
                row(
                    t(i18n::msg!("Fondo interprofessionale")),
                    s.fondo
                        .clone()
                        .unwrap_or_else(|| t(i18n::msg!("nessuna adesione"))),
                    String::new(),
                    false,
                ),
            ];
            rows.extend(s.aziende_collegate.iter().map(|c| {
                row(
                    t(i18n::msg!("Azienda collegata")),
                    c.denominazione.clone(),
                    format!("{} · {}", c.relazione, t(i18n::msg!("dal {}", date(c.dal)))),
                    false,
                )
            }));
            rows.extend(s.soggetti.iter().map(|p| {
                row(
                    t(i18n::msg!("Soggetto collegato")),
                    p.nome.clone(),
                    format!("{} · {}", p.ruolo, t(i18n::msg!("dal {}", date(p.dal)))),
                    false,
                )
            }));
            rows.extend(s.posta.iter().map(|p| {
                row(
                    t(i18n::msg!("Posta ibrida")),
                    p.tipo.clone(),
                    format!("{} · {} · {}", date(p.emesso), p.protocollo, p.stato),
                    false,
                )
            }));
            (t(i18n::msg!("Dati anagrafici")), String::new(), rows)
        }
        1 => {
            let rows = match &s.durc {
                Durc::Regolare {
                    protocollo,
                    richiesta,
                    scadenza,
                } => vec![
                    row(
                        t(i18n::msg!("Esito")),
                        t(i18n::msg!("Regolare")),
                        String::new(),
                        false,
                    ),
                    row(
                        t(i18n::msg!("Protocollo")),
                        protocollo.clone(),
                        t(i18n::msg!("richiesto il {}", date(*richiesta))),
                        false,
                    ),
                    row(
                        t(i18n::msg!("Valido fino al")),
                        date(*scadenza),
                        String::new(),
                        false,
                    ),
                ],
                Durc::InVerifica {
                    richiesta,
                    esito_entro,
                    cause,
                } => {
                    let mut r = vec![
                        row(
                            t(i18n::msg!("Esito")),
                            t(i18n::msg!("In verifica")),
                            t(i18n::msg!("richiesto il {}", date(*richiesta))),
                            true,
                        ),
                        row(
                            t(i18n::msg!("Esito atteso entro il")),
                            date(*esito_entro),
                            String::new(),
                            false,
                        ),
                    ];
                    r.extend(cause.iter().map(|c| {
                        row(
                            t(i18n::msg!("Da regolarizzare")),
                            c.clone(),
                            String::new(),
                            true,
                        )
                    }));
                    r
                }
                Durc::NonRegolare { richiesta, cause } => {
                    let mut r = vec![row(
                        t(i18n::msg!("Esito")),
                        t(i18n::msg!("Non regolare")),
                        t(i18n::msg!("richiesto il {}", date(*richiesta))),
                        true,
                    )];
                    r.extend(cause.iter().map(|c| {
                        row(
                            t(i18n::msg!("Da regolarizzare")),
                            c.clone(),
                            String::new(),
                            true,
                        )
                    }));
                    r
                }
            };
            (
                t(i18n::msg!("DURC – regolarità contributiva")),
                String::new(),
                rows,
            )
        }
        2 => (
            t(i18n::msg!("Inadempienze")),
            t(i18n::msg!(
                "Da versare in tutto: {}",
                euro(s.debito_aperto())
            )),
            s.inadempienze
                .iter()
                .map(|i| {
                    row(
                        format!("{} · {}", period_text(i.period, lang), i.tipo),
                        euro(i.dovuti - i.versati + i.sanzioni),
                        t(i18n::msg!(
                            "dovuti {}, versati {}, sanzioni {} · {}",
                            euro(i.dovuti),
                            euro(i.versati),
                            euro(i.sanzioni),
                            i.stato
                        )),
                        i.stato == "Aperta",
                    )
                })
                .collect(),
        ),
        3 => (
            t(i18n::msg!("UniEmens trasmessi e confronto con gli F24")),
            t(i18n::msg!(
                "Gli ultimi {} mesi, dal più recente.",
                s.mesi.len()
            )),
            s.mesi
                .iter()
                .rev()
                .map(|m| {
                    let esito = m.esito();
                    row(
                        period_text(m.period, lang),
                        esito_text(esito, lang),
                        t(i18n::msg!(
                            "UniEmens: {} · saldo DM {} · versato con F24 {}",
                            m.uniemens_inviato.map(date).unwrap_or_else(|| "—".into()),
                            euro(m.saldo_dm),
                            m.versato_il
                                .map(|d| format!("{} ({})", euro(m.versato), date(d)))
                                .unwrap_or_else(|| euro(m.versato))
                        )),
                        !matches!(esito, "Quadrato" | "A credito"),
                    )
                })
                .collect(),
        ),
        4 => (
            t(i18n::msg!("Note di rettifica")),
            t(i18n::msg!("Sanzioni: differenze × tasso × giorni / 365.")),
            s.note_rettifica
                .iter()
                .map(|n| {
                    row(
                        format!("{} · {}", n.numero, period_text(n.period, lang)),
                        euro(n.totale()),
                        t(i18n::msg!(
                            "{} · emessa il {}, da pagare entro il {} · {}",
                            n.calcolo(),
                            date(n.emessa),
                            date(n.scadenza),
                            n.stato
                        )),
                        n.stato != "Pagata",
                    )
                })
                .collect(),
        ),
        5 => (
            t(i18n::msg!("Dilazioni")),
            String::new(),
            s.dilazioni
                .iter()
                .map(|d| {
                    row(
                        format!("{} · {}", d.pratica, d.stato),
                        euro(d.debito),
                        t(i18n::msg!(
                            "{} rate da {}, pagate {} · domanda del {}",
                            d.rate,
                            euro(d.rata()),
                            d.pagate,
                            date(d.domanda)
                        )) + &d
                            .prossima
                            .map(|p| {
                                format!(" · {}", t(i18n::msg!("prossima rata il {}", date(p))))
                            })
                            .unwrap_or_default(),
                        false,
                    )
                })
                .collect(),
        ),
        6 => (
            t(i18n::msg!("Avvisi di addebito")),
            String::new(),
            s.avvisi
                .iter()
                .map(|a| {
                    row(
                        a.numero.clone(),
                        euro(a.contributi + a.sanzioni),
                        t(i18n::msg!(
                            "periodi {} – {} · notificato il {} · {}",
                            period_text(a.periodi.0, lang),
                            period_text(a.periodi.1, lang),
                            date(a.notificato),
                            a.stato
                        )),
                        a.stato != "Pagato",
                    )
                })
                .collect(),
        ),
        7 => (
            t(i18n::msg!("Crediti")),
            String::new(),
            s.crediti
                .iter()
                .map(|(p, c)| row(period_text(*p, lang), euro(*c), String::new(), false))
                .collect(),
        ),
        8 => (
            t(i18n::msg!("Cassa integrazione e FIS")),
            String::new(),
            s.cig
                .iter()
                .map(|c| {
                    row(
                        format!("{} · {}", c.tipo, c.protocollo),
                        c.stato.clone(),
                        t(i18n::msg!(
                            "{} · dal {} al {} · lavoratori {} · ore richieste {}, autorizzate {}",
                            c.causale,
                            date(c.dal),
                            date(c.al),
                            c.lavoratori,
                            c.ore_richieste,
                            c.ore_autorizzate.map_or("—".to_owned(), |h| h.to_string())
                        )),
                        false,
                    )
                })
                .collect(),
        ),
        _ => (
            t(i18n::msg!("Dipendenti e unità operative")),
            t(i18n::msg!(
                "Dipendenti in tutto: {}",
                s.anagrafica.dipendenti
            )),
            s.dipendenze
                .iter()
                .map(|d| {
                    row(
                        format!("{} · {}", d.codice, d.denominazione),
                        t(i18n::msg!("Dipendenti: {}", d.dipendenti)),
                        d.comune.clone(),
                        false,
                    )
                })
                .collect(),
        ),
    };
    let rows = if rows.is_empty() {
        vec![row(
            t(i18n::msg!("Nessun dato")),
            "—".into(),
            String::new(),
            false,
        )]
    } else {
        rows
    };
    SectionView {
        title: title.into(),
        intro: intro.into(),
        rows: ModelRc::new(VecModel::from(rows)),
    }
}

/// What is left of a code's validity, as m:ss.
fn valid_for(expires: chrono::DateTime<chrono::Utc>) -> String {
    let left = (expires - chrono::Utc::now()).num_seconds().max(0);
    format!("{}:{:02}", left / 60, left % 60)
}
