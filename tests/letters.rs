//! Letters end to end (docs/alerts.md): every dossier that needs action reaches someone, the
//! preview is the letter, the city summary fits one screen, and codes with control characters
//! never reach a letter. Real parts: upstreams over loopback sockets (a fixed contract server,
//! the simulator), SQLite files and PostgreSQL, a real SMTP server, the demo's configuration,
//! and a real browser for the summary's HTML (skipped without Chromium).

mod common;

use common::smtp::TestSmtp;
use common::upstream::{document, dossier, fixed_config, procedure, serve_fixed};
use common::*;
use dondoc::alerts::mailer::Mailer;
use dondoc::app::App;
use std::collections::{BTreeMap, BTreeSet};

postgres_notice!();
for_each_backend!(
    the_root_and_a_unit_below_min_sample_receive_exactly_their_dossiers_and_a_unit_with_nothing_none,
    every_demo_units_preview_is_the_letter_queued_and_the_summary_fits_one_screen,
    a_page_with_control_characters_in_codes_stores_every_other_record_and_sets_those_aside,
);

const FIXED_UNITS: &str = r#"
[[units]]
code = "CITY"
name = "UBND thành phố Thử Nghiệm"
one_stop_codes = ["000.00.23.H50"]
document_codes = ["UBND"]
emails = ["vanphong@city.example.gov.vn"]

[[units]]
code = "UB"
name = "UBND Phường Bắc"
parent = "CITY"
one_stop_codes = ["000.01.23.H50"]
document_codes = ["PB"]
emails = ["phuongbac@city.example.gov.vn"]

[[units]]
code = "UC"
name = "UBND Phường Trung"
parent = "CITY"
one_stop_codes = ["000.02.23.H50"]
document_codes = ["PC"]
emails = ["phuongtrung@city.example.gov.vn"]
"#;

/// The dossier codes a letter's plain text lists (the first word of its action lines).
fn listed(text: &str, known: &BTreeSet<String>) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| known.contains(*w))
        .map(str::to_string)
        .collect()
}

async fn the_root_and_a_unit_below_min_sample_receive_exactly_their_dossiers_and_a_unit_with_nothing_none(
    b: Backend,
) {
    // Thursday 2024-06-20 10:00. The city's own centre has 2 late dossiers without an apology
    // slip; Phường Bắc has 3 (and 4 finished on time): 7 handled, below min_sample = 20, so no
    // rate is judged, let alone breached. Phường Trung has only dossiers finished on time with
    // a digitized result: nothing to act on.
    let mut dossiers = vec![
        dossier(
            "C0-TRE-2",
            "000.00.23.H50",
            "20240603080000",
            "20240612170000",
            None,
        ),
        dossier(
            "C0-TRE-1",
            "000.00.23.H50",
            "20240601080000",
            "20240610170000",
            None,
        ),
        dossier(
            "PB-TRE-3",
            "000.01.23.H50",
            "20240604080000",
            "20240614170000",
            None,
        ),
        dossier(
            "PB-TRE-1",
            "000.01.23.H50",
            "20240520080000",
            "20240605170000",
            None,
        ),
        dossier(
            "PB-TRE-2",
            "000.01.23.H50",
            "20240525080000",
            "20240607170000",
            None,
        ),
    ];
    for i in 0..4 {
        dossiers.push(dossier(
            &format!("PB-DUNG-{i}"),
            "000.01.23.H50",
            "20240601080000",
            "20240615170000",
            Some("20240605090000"),
        ));
        dossiers.push(dossier(
            &format!("PC-DUNG-{i}"),
            "000.02.23.H50",
            "20240601080000",
            "20240615170000",
            Some("20240605090000"),
        ));
    }
    let known: BTreeSet<String> = dossiers
        .iter()
        .map(|d| d["MaHoSo"].as_str().unwrap().to_string())
        .collect();
    let up = serve_fixed(
        dossiers,
        vec![procedure("1.001", "Đăng ký khai sinh")],
        vec![],
    )
    .await;
    let smtp = TestSmtp::start();
    let db = TestDb::new(b).await;
    let extra = format!(
        "[schedule]\nalerts = \"0 0 8 * * Mon-Fri\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"dondoc@city.example.gov.vn\"\ntimeout_secs = 2\n",
        smtp.port()
    );
    let clock = clock();
    let s = settings(&fixed_config(up.addr, &db.url, FIXED_UNITS, &extra));
    let mailer = Mailer::from_settings(s.smtp.as_ref().unwrap()).unwrap();
    let app = App::build(s, clock.clone()).await.unwrap();
    let now = now(clock.as_ref());
    let report = dondoc::sync::run_once(&app, now).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let ev = dondoc::rates::run_once(&app, now).await.unwrap();
    // What `alerts preview` prints, for each unit, at the digest's instant.
    let mut previews = BTreeMap::new();
    for unit in ["CITY", "UB", "UC"] {
        previews.insert(
            unit,
            dondoc::alerts::digest::preview(&app, unit, now)
                .await
                .unwrap(),
        );
    }
    let r = dondoc::jobs::alerts::run_once(&app, &ev, Some(&mailer), now)
        .await
        .unwrap();
    assert!(r.digest_fire.is_some(), "the 08:00 digest is served");
    assert!(
        app.store
            .alerts()
            .await
            .unwrap()
            .iter()
            .all(|a| a.phase == dondoc::alerts::lifecycle::Phase::Clear),
        "no rate is breached (every sample is below min_sample)"
    );
    let got = smtp.received();
    let to = |addr: &str| -> Vec<common::smtp::ParsedMail> {
        got.iter()
            .map(|m| m.parsed())
            .filter(|p| p.to == [addr])
            .collect()
    };

    // The unit below min_sample: exactly its 3 late dossiers, oldest due date first.
    let ub = to("phuongbac@city.example.gov.vn");
    assert_eq!(ub.len(), 1);
    let text = ub[0].text.clone().unwrap().replace("\r\n", "\n");
    assert_eq!(
        listed(&text, &known),
        ["PB-TRE-1", "PB-TRE-2", "PB-TRE-3"],
        "{text}"
    );
    assert!(
        text.contains("Hồ sơ trễ hạn chưa có phiếu xin lỗi (3)"),
        "{text}"
    );
    assert!(!text.contains("CHƯA ĐẠT"), "no rate is told: {text}");
    assert_eq!(
        ub[0].subject.as_deref(),
        Some("UBND Phường Bắc: 3 hồ sơ cần xử lý — Quý 2/2024")
    );

    // The root: its own 2 late dossiers, in a letter it is sent (no summary: no alert at all).
    let city = to("vanphong@city.example.gov.vn");
    assert_eq!(
        city.len(),
        1,
        "{:?}",
        city.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let text = city[0].text.clone().unwrap().replace("\r\n", "\n");
    assert_eq!(listed(&text, &known), ["C0-TRE-1", "C0-TRE-2"], "{text}");
    assert!(
        text.starts_with("Kính gửi UBND thành phố Thử Nghiệm,"),
        "{text}"
    );

    // The unit with nothing to act on and nothing breached: no letter.
    assert!(to("phuongtrung@city.example.gov.vn").is_empty());
    assert!(previews["UC"].is_empty());
    assert_eq!(got.len(), 2);

    // Each preview is the letter sent, byte for byte (the SMTP wire turns LF into CRLF).
    for (unit, mails) in [("CITY", &city), ("UB", &ub)] {
        let p = &previews[unit];
        assert_eq!(p.len(), 1, "{unit}");
        assert_eq!(
            p[0].text,
            mails[0].text.clone().unwrap().replace("\r\n", "\n"),
            "{unit}"
        );
        assert_eq!(Some(p[0].subject.clone()), mails[0].subject, "{unit}");
    }
    // No personal data.
    for m in &got {
        assert!(!String::from_utf8_lossy(&m.raw).contains("Bí Mật"));
    }
    app.store.close().await;
}

/// The demo's configuration (config/dondoc.toml: 21 units, the commitment letter's targets),
/// its simulator scaled to `dossiers`, the database of this test, the .eml folder in `dir`.
fn demo_config(sim: std::net::SocketAddr, db: &str, eml_dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dondoc.toml"))
        .unwrap();
    let out = text
        .replace(
            "url = \"sqlite://data/dondoc.db\"",
            &format!("url = \"{db}\""),
        )
        .replace("enabled = true", "enabled = false")
        .replace("http://127.0.0.1:8091", &format!("http://{sim}"))
        .replace(
            "file_dir = \"data/outbox\"",
            &format!("file_dir = \"{}\"", eml_dir.display()),
        );
    assert!(out.contains(&format!("url = \"{db}\"")) && out.contains(&sim.to_string()));
    out
}

async fn every_demo_units_preview_is_the_letter_queued_and_the_summary_fits_one_screen(b: Backend) {
    let clock = clock();
    let db = TestDb::new(b).await;
    let emls = tempfile::tempdir().unwrap();
    // The simulator first (its address goes into the configuration), with the demo's units.
    let probe = settings(&demo_config(
        "127.0.0.1:1".parse().unwrap(),
        &db.url,
        emls.path(),
    ));
    let mut options = dondoc::cli::sim_options(&probe);
    options.dossiers = 12_000;
    options.documents = 3_000;
    let sim = start_sim(options, clock.clone()).await;
    let s = settings(&demo_config(sim.addr, &db.url, emls.path()));
    assert_eq!(s.units.len(), 21);
    let mailer = Mailer::from_settings(s.smtp.as_ref().unwrap()).unwrap();
    let app = App::build(s, clock.clone()).await.unwrap();
    let now = now(clock.as_ref());
    assert!(
        dondoc::sync::run_once(&app, now)
            .await
            .failures()
            .is_empty()
    );
    let ev = dondoc::rates::run_once(&app, now).await.unwrap();
    dondoc::alerts::observe::run_once(&app, &ev, now)
        .await
        .unwrap();

    let mut previews: Vec<(String, dondoc::domain::mail::OutgoingMail)> = Vec::new();
    for u in &app.settings.units {
        for m in dondoc::alerts::digest::preview(&app, &u.code, now)
            .await
            .unwrap()
        {
            previews.push((u.code.clone(), m));
        }
    }
    let fire = dondoc::jobs::digest::due(&app, now).await.unwrap().unwrap();
    assert!(
        app.store
            .claim_fire(dondoc::alerts::DIGEST_JOB, fire, "test", now)
            .await
            .unwrap()
    );
    let queued = dondoc::alerts::digest::run_once(&app, fire, now)
        .await
        .unwrap();
    let c = Conn::open(&db.url).await;
    let kinds = c.strings("SELECT kind FROM outbox ORDER BY id").await;
    let units = c
        .strings("SELECT coalesce(unit, '') FROM outbox ORDER BY id")
        .await;
    let subjects = c.strings("SELECT subject FROM outbox ORDER BY id").await;
    let bodies = c.strings("SELECT body_text FROM outbox ORDER BY id").await;
    c.close().await;
    assert_eq!(kinds.len(), queued);
    let letters: Vec<(&str, &str, &str, &str)> = (0..queued)
        .filter(|i| kinds[*i] != "source_alert")
        .map(|i| {
            (
                units[i].as_str(),
                kinds[i].as_str(),
                subjects[i].as_str(),
                bodies[i].as_str(),
            )
        })
        .collect();
    // Every unit's preview is, byte for byte, a letter queued for it at the same instant, and
    // every letter queued for a unit was previewed.
    assert_eq!(
        previews.len(),
        letters.len(),
        "{:?}",
        letters.iter().map(|l| l.2).collect::<Vec<_>>()
    );
    let with_letters: BTreeSet<&str> = letters.iter().map(|l| l.0).collect();
    assert!(
        with_letters.len() >= 15,
        "most demo units have something to act on: {with_letters:?}"
    );
    for (unit, m) in &previews {
        assert!(
            letters
                .iter()
                .any(|(u, _, subject, body)| u == unit && *subject == m.subject && *body == m.text),
            "{unit}: the preview \"{}\" is not the letter queued",
            m.subject
        );
    }

    // The summary: one screen of text, under 6,000 characters, one line per unit.
    let summary = letters
        .iter()
        .find(|l| l.1 == "city_summary")
        .expect("a city summary");
    let chars = summary.3.chars().count();
    common::say(&format!("demo city summary: {chars} characters of text"));
    common::say(summary.3);
    assert!(chars < 6_000, "{chars} characters:\n{}", summary.3);
    for u in &app.settings.units {
        assert!(summary.3.contains(&u.name), "{} missing", u.name);
    }
    assert!(summary.3.contains("✘") && summary.3.contains("✔"));

    // Delivered as the demo does (.eml files): the summary's HTML part, in a real browser.
    let d = dondoc::alerts::outbox::deliver_once(&app, &mailer, now)
        .await
        .unwrap();
    assert_eq!(d.sent, queued);
    let html = std::fs::read_dir(emls.path())
        .unwrap()
        .filter_map(|e| {
            let p = common::smtp::parse_mail(&std::fs::read(e.ok()?.path()).ok()?);
            p.subject
                .as_deref()
                .is_some_and(|s| s.contains("tổng hợp toàn thành phố"))
                .then_some(p.html?)
        })
        .next()
        .expect("the summary's .eml has an HTML part");
    assert!(html.contains("<table class=\"summary\""));
    screenshot_summary(&html, b, app.settings.units.len());
    app.store.close().await;
}

/// Renders the summary's HTML in headless Chromium (as tests/dashboard.rs does): the DOM holds
/// the table with a row per unit and coloured cells, and a screenshot is written under
/// target/tmp/letters/. Skipped, saying so, when Chromium is not installed.
fn screenshot_summary(html: &str, b: Backend, units: usize) {
    let Some(browser) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    else {
        common::say(
            "SKIPPED (browser): Debian's chromium is not installed; `apt-get install chromium` to render the summary",
        );
        return;
    };
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("letters");
    std::fs::create_dir_all(&shots).unwrap();
    let page = shots.join(format!("summary-{b:?}.html"));
    std::fs::write(&page, html).unwrap();
    let url = format!("file://{}", page.display());
    let run = |args: &[&str]| {
        let profile = tempfile::tempdir().unwrap();
        std::process::Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .output()
            .unwrap()
    };
    let dom = String::from_utf8_lossy(&run(&["--dump-dom", &url]).stdout).to_string();
    assert!(
        dom.contains("<table class=\"summary\""),
        "the rendered DOM lacks the table"
    );
    assert_eq!(
        dom.matches("<tr>").count(),
        units + 1,
        "a header and a row per unit"
    );
    assert!(dom.contains("data-state=\"breach\"") && dom.contains("data-state=\"ok\""));
    let file = shots.join(format!("summary-{b:?}.png"));
    let out = run(&[
        "--window-size=1400,900",
        &format!("--screenshot={}", file.display()),
        &url,
    ]);
    assert!(
        file.exists() && std::fs::metadata(&file).unwrap().len() > 10_000,
        "screenshot of the summary: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::say(&format!("screenshot: {}", file.display()));
}

async fn a_page_with_control_characters_in_codes_stores_every_other_record_and_sets_those_aside(
    b: Backend,
) {
    let mut dossiers: Vec<serde_json::Value> = (0..6)
        .map(|i| {
            dossier(
                &format!("PB-{i}"),
                "000.01.23.H50",
                "20240601080000",
                "20240615170000",
                Some("20240605090000"),
            )
        })
        .collect();
    let forged = "X\r\nBcc: evil@example.com\r\nSubject: forged-028";
    dossiers.insert(
        2,
        dossier(
            forged,
            "000.01.23.H50",
            "20240601080000",
            "20240610170000",
            None,
        ),
    );
    let mut nul_unit = dossier(
        "PB-NUL",
        "000.01\u{0}.23.H50",
        "20240601080000",
        "20240610170000",
        None,
    );
    nul_unit["MaLinhVuc"] = "G09-HT".into();
    dossiers.insert(4, nul_unit);
    let mut lf_field = dossier(
        "PB-LF",
        "000.01.23.H50",
        "20240601080000",
        "20240610170000",
        None,
    );
    lf_field["MaLinhVuc"] = "G09\nHT".into();
    dossiers.push(lf_field);
    let mut cr_procedure = dossier(
        "PB-CR",
        "000.01.23.H50",
        "20240601080000",
        "20240610170000",
        None,
    );
    cr_procedure["MaTTHC"] = "1.001\r".to_string().repeat(2).into();
    dossiers.push(cr_procedure);
    let procedures = vec![
        procedure("1.001", "Đăng ký khai sinh"),
        procedure("1.00\n2", "Giả"),
    ];
    let documents = vec![
        document("VB-1", "PB"),
        document("VB-\u{0}2", "PB"),
        document("VB-3", "P\rB"),
        document("VB-4", "PB"),
    ];
    let up = serve_fixed(dossiers, procedures, documents).await;
    let db = TestDb::new(b).await;
    let clock = clock();
    let app = App::build(
        settings(&fixed_config(up.addr, &db.url, FIXED_UNITS, "")),
        clock.clone(),
    )
    .await
    .unwrap();
    let report = dondoc::sync::run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());

    let stored: BTreeSet<String> = strings(&db.url, "SELECT code FROM dossiers")
        .await
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = (0..6).map(|i| format!("PB-{i}")).collect();
    assert_eq!(stored, expected, "every other record of the page is stored");
    let docs: BTreeSet<String> = strings(&db.url, "SELECT code FROM documents")
        .await
        .into_iter()
        .collect();
    assert_eq!(docs, ["VB-1", "VB-4"].map(String::from).into());
    let procs = strings(&db.url, "SELECT code FROM procedures").await;
    assert_eq!(procs, ["1.001"]);

    let c = Conn::open(&db.url).await;
    let rejected = c
        .lines(
            "rejected",
            &[
                ("kind", Kind::Text),
                ("key", Kind::Text),
                ("reason", Kind::Text),
            ],
        )
        .await;
    c.close().await;
    let want = [
        (
            "dossier",
            "X\\r\\nBcc: evil@example.com\\r\\nSubject: forged-028",
            "MaHoSo contains a carriage return (CR) at character 2",
        ),
        (
            "dossier",
            "PB-NUL",
            "DonViXuLy contains a NUL character at character 7",
        ),
        (
            "dossier",
            "PB-LF",
            "MaLinhVuc contains a line feed (LF) at character 4",
        ),
        (
            "dossier",
            "PB-CR",
            "MaTTHC contains a carriage return (CR) at character 6",
        ),
        (
            "document",
            "VB-\\u{0}2",
            "MaVanBan contains a NUL character at character 4",
        ),
        (
            "document",
            "VB-3",
            "MaDonVi contains a carriage return (CR) at character 2",
        ),
        (
            "procedure",
            "1.00\\n2",
            "MaTTHC contains a line feed (LF) at character 5",
        ),
    ];
    assert_eq!(rejected.len(), want.len(), "{rejected:#?}");
    for (kind, key, reason) in want {
        assert!(
            rejected
                .iter()
                .any(|l| l.starts_with(&format!("{kind}|{key}|{reason}"))),
            "{kind} {key}: {reason}\n{rejected:#?}"
        );
    }
    for l in &rejected {
        assert!(
            !l.contains(['\r', '\n', '\0']),
            "a stored key or reason breaks a line: {l:?}"
        );
    }
    app.store.close().await;
}
