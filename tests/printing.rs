//! What reaches paper from the kiosk's own texts and data.

mod support;

use ticket::cp1252;

/// Every text the kiosk shows or prints — the UI catalogues in every language, the
/// services and sedi — encodes to Windows-1252, so any of them can reach paper.
#[test]
fn every_kiosk_text_and_service_name_encodes_to_the_printer_code_page() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for lang in ["en", "de"] {
        let po =
            std::fs::read_to_string(root.join(format!("lang/{lang}/LC_MESSAGES/sportello.po")))
                .unwrap();
        for (id, text) in i18n::parse_po(&po) {
            for s in [id, text] {
                cp1252(&s).unwrap_or_else(|e| panic!("{lang}: {e}"));
                checked += 1;
            }
        }
    }
    let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let demo = demo::DemoBranch::generate(1, now);
    for s in &demo.services {
        cp1252(&s.name).unwrap();
        checked += 1;
    }
    for sede in domain::sedi::all() {
        cp1252(&sede.name).unwrap_or_else(|e| panic!("sede {}: {e}", sede.code));
        checked += 1;
    }
    assert!(checked > 300, "{checked} texts");
}

/// The program, its kiosk clock at the tests' morning: what the demo generates depends on the
/// hour.
fn sportello() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
    cmd.env_remove("RUST_LOG").env_remove("SPORTELLO_CONFIG");
    cmd.args(["--clock-from", support::MORNING]);
    cmd
}

/// Reads the QR code of a PNG file (as a scanner would read the visitor's phone screen).
fn read_qr_png(path: &std::path::Path) -> String {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "{}", path.display());
    grids[0].decode().unwrap().1
}

fn qr_in(p: &ticket::preview::Preview) -> Vec<String> {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(p.width, p.height(), |x, y| {
        p.pixels[y * p.width + x]
    });
    img.detect_grids()
        .into_iter()
        .map(|g| g.decode().expect("a readable QR code").1)
        .collect()
}

/// The visitor's path end to end: `demo-data` writes the booking QR codes; each is read back
/// from its PNG and fed, with a repeat, a walk-in and refusals, to the headless kiosk through a
/// named-pipe scanner (configured as a device would be). Every ticket the kiosk reports is on
/// the simulated printer's paper: read back, its number, service and follow-the-queue QR code
/// are right; the refusals printed nothing.
#[test]
fn every_demo_booking_scanned_prints_its_ticket_with_a_readable_qr_code() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = sportello()
        .args(["demo-data", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut codes: Vec<String> = {
        let mut files: Vec<_> = std::fs::read_dir(data.join("qr"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files.iter().map(|f| read_qr_png(f)).collect()
    };
    assert_eq!(codes.len(), 12);
    codes.push(codes[5].clone());
    codes.extend(["P", "A", "SP1:NOTBASE45!!", "https://example.org/x"].map(String::from));

    let fifo = dir.path().join("scanner");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let config = dir.path().join("sportello.toml");
    std::fs::write(
        &config,
        format!(
            "[scanner]\nkind = \"fifo\"\npath = {:?}\n",
            fifo.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = sportello()
        .arg("--config")
        .arg(&config)
        .args(support::HEADLESS_DEMO_KIOSK)
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    // One write per code, as a scanner sends them; the kiosk answers each.
    for code in &codes {
        w.write_all(format!("{code}\r\n").as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(w);
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut answers = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("BIGLIETTO") || line.starts_with("NON ACCETTATO") {
            answers.push(line);
        }
        if answers.len() == codes.len() {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answers.len(), codes.len(), "{answers:#?}");
    let number = |a: &str| {
        a.strip_prefix("BIGLIETTO ")
            .map(|a| a.split(' ').next().unwrap().to_owned())
    };
    let numbers: Vec<String> = answers.iter().filter_map(|a| number(a)).collect();
    // Ten bookings inside their window, the repeat (a reprint of the same number), a walk-in;
    // the booking past its window, the one not yet open, the appointment-only service and the
    // two bad codes are refused.
    assert_eq!(numbers.len(), 12, "{answers:#?}");
    assert_eq!(
        number(&answers[12]),
        number(&answers[5]),
        "the repeat reprints the same number"
    );

    let paper = std::fs::read(data.join("printer.bin")).unwrap();
    // Tickets start with ESC @ then ESC t.
    let starts: Vec<usize> = paper
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"\x1b@\x1bt")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        starts.len(),
        numbers.len(),
        "one printed ticket per answer, no more"
    );
    let today = domain::Clock::today(&support::morning_clock())
        .format("%Y-%m-%d")
        .to_string();
    for (k, number) in numbers.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(paper.len());
        let p = ticket::preview::preview(&paper[starts[k]..end], ticket::Paper::Mm80, 16).unwrap();
        assert!(
            p.transcript.contains(&format!("[CB4x4] {number}\n")),
            "ticket {k}: {}",
            p.transcript
        );
        assert!(
            p.transcript.contains("Sede di Roma Eur"),
            "{}",
            p.transcript
        );
        assert!(
            p.transcript.ends_with("<partial cut>\n"),
            "{}",
            p.transcript
        );
        assert_eq!(
            qr_in(&p),
            [format!("{}/7001/{today}/{number}", kiosk::FOLLOW_BASE)],
            "ticket {k}"
        );
    }
}

/// `sportello print-test` sends a test ticket to the configured printer and writes its
/// picture; a printer without paper is reported, not printed on.
#[test]
fn print_test_prints_every_accent_and_writes_the_preview() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sportello.toml");
    let bin = dir.path().join("printer.bin");
    std::fs::write(
        &config,
        format!(
            "[printer]\nkind = \"simulated\"\nfile = {:?}\npaper = \"58mm\"\nqr = \"raster\"\n",
            bin.to_str().unwrap()
        ),
    )
    .unwrap();
    let png = dir.path().join("preview.png");
    let out = sportello()
        .arg("--config")
        .arg(&config)
        .args(["print-test", "--preview"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p =
        ticket::preview::preview(&std::fs::read(&bin).unwrap(), ticket::Paper::Mm58, 16).unwrap();
    assert!(p.transcript.contains("àèéìòù ÀÈÉÌÒÙ €"), "{}", p.transcript);
    assert!(p.transcript.contains("<raster "), "{}", p.transcript);
    assert_eq!(qr_in(&p), ["https://sportello.example/prova-di-stampa"]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

    std::fs::write(
        &config,
        "[printer]\nkind = \"network\"\naddress = \"127.0.0.1:9\"\ntimeout_ms = 300\n",
    )
    .unwrap();
    let out = sportello()
        .arg("--config")
        .arg(&config)
        .args(["print-test", "--preview"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Paper out, end to end over real parts: the headless kiosk process prints to a printer
/// emulated on a loopback TCP port through the network driver. Out of paper, the check-in still
/// gives its number (said not printed), nothing reaches the printer and the alert goes into the
/// event log the staff console reads; paper back, the next ticket prints and the alert clears.
#[test]
fn paper_out_keeps_the_number_on_screen_alerts_staff_and_prints_nothing() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = sportello()
        .args(["demo-data", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clock = support::morning_clock();
    let demo = demo::DemoBranch::generate(2026, domain::Clock::local_now(&clock).naive_local());
    let (port, paper) = hardware::emulated::network().unwrap();
    paper.lock().unwrap().out = true;
    let config = dir.path().join("sportello.toml");
    std::fs::write(
        &config,
        format!(
            "[printer]\nkind = \"network\"\naddress = \"127.0.0.1:{port}\"\ntimeout_ms = 1000\n"
        ),
    )
    .unwrap();
    let mut child = sportello()
        .arg("--config")
        .arg(&config)
        .args(support::HEADLESS_DEMO_KIOSK)
        .arg(&data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.as_ref().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut answer = |code: &str| -> String {
        writeln!(stdin, "{code}").unwrap();
        lines
            .by_ref()
            .map(|l| l.unwrap())
            .find(|l| l.starts_with("BIGLIETTO") || l.starts_with("NON ACCETTATO"))
            .unwrap()
    };
    let first = answer(&demo.appointments[1].token);
    assert!(first.contains("non stampato"), "{first}");
    assert!(
        paper.lock().unwrap().printed.is_empty(),
        "nothing sent while out of paper"
    );
    paper.lock().unwrap().out = false;
    let second = answer(&demo.appointments[2].token);
    assert!(!second.contains("non stampato"), "{second}");
    // Closing standard input ends the headless kiosk.
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    let number = second.split(' ').nth(1).unwrap();
    let bytes = paper.lock().unwrap().printed.clone();
    let p = ticket::preview::preview(&bytes, ticket::Paper::Mm80, 16).unwrap();
    assert_eq!(
        p.transcript.matches("<partial cut>").count(),
        1,
        "one ticket"
    );
    assert!(
        p.transcript.contains(&format!("[CB4x4] {number}\n")),
        "{}",
        p.transcript
    );
    assert_eq!(qr_in(&p).len(), 1);

    let db = rusqlite::Connection::open(data.join("kiosk.sqlite")).unwrap();
    let alerts: Vec<(String, String)> = db
        .prepare("SELECT kind, payload FROM queue_event WHERE kind LIKE 'alert_%' ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|(_, payload): &(String, String)| payload.contains("\"printer_out_of_paper\""))
        .collect();
    let kinds: Vec<&str> = alerts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["alert_raised", "alert_cleared"], "{alerts:?}");
}
