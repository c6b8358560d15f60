//! The dashboard over a real socket: every page and its states (no data yet, a breach, a stale
//! source, an unknown unit), basic authentication, no personal data; and a real browser
//! (headless Chromium) rendering the pages of a running daemon.

mod common;

use common::*;
use dondoc::app::App;
use dondoc::application::Application;
use dondoc::domain::time::ManualClock;
use std::sync::Arc;
use std::time::Duration;

struct Site {
    base: String,
    /// Stops serving when dropped.
    _app: Application,
}

/// The daemon as `dondoc run` builds it ([`Application::build`]), over the database of `app`,
/// on a free loopback port; its scheduler is not run (the tests sync by hand).
async fn serve(app: App) -> Site {
    let mut s = (*app.settings).clone();
    s.http.listen = "127.0.0.1:0".into();
    let application = Application::build(s, app.clock.clone(), None)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    Site {
        base,
        _app: application,
    }
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn synced(clock: &Arc<ManualClock>, sim: &Sim, dir: &std::path::Path, extra: &str) -> App {
    let text = config_text(sim.addr, &db_url(dir, "d.db"), "") + extra;
    let app = App::build(settings(&text), clock.clone()).await.unwrap();
    for _ in 0..2 {
        let now = now(clock.as_ref());
        assert!(
            dondoc::sync::run_once(&app, now)
                .await
                .failures()
                .is_empty()
        );
        let ev = dondoc::rates::run_once(&app, now).await.unwrap();
        dondoc::jobs::alerts::run_once(&app, &ev, None, now)
            .await
            .unwrap();
        clock.advance(chrono::Duration::minutes(15));
    }
    app
}

#[tokio::test]
async fn before_any_sync_the_pages_say_there_is_no_data_yet() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let app = App::build(
        settings(&config_text(
            "127.0.0.1:9".parse().unwrap(),
            &db_url(dir.path(), "d.db"),
            "",
        )),
        clock,
    )
    .await
    .unwrap();
    let site = serve(app).await;
    let (code, body) = get(&format!("{}/", site.base)).await;
    assert_eq!(code, 200);
    assert!(body.contains("Chưa có số liệu"), "{body}");
    assert!(
        body.contains("UBND Phường Đông Lễ"),
        "Vietnamese names intact"
    );
    for p in [
        "/units/CITY",
        "/quality",
        "/alerts",
        "/?period=year",
        "/?period=month",
    ] {
        assert_eq!(get(&format!("{}{p}", site.base)).await.0, 200, "{p}");
    }
}

#[tokio::test]
async fn the_pages_show_values_breaches_charts_actions_and_no_personal_data() {
    let clock = clock();
    let sim = start_sim(sim_options(6000, 1500), clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = synced(&clock, &sim, dir.path(), "").await;
    let site = serve(app.clone()).await;

    let (code, overview) = get(&format!("{}/?period=quarter", site.base)).await;
    assert_eq!(code, 200);
    assert!(overview.contains("Quý 2/2024"));
    assert!(
        overview.contains("data-state=\"breach\"") && overview.contains("✗ Chưa đạt"),
        "a breach shows by colour and by word"
    );
    assert!(overview.contains("data-state=\"ok\"") && overview.contains("✓ Đạt"));
    assert!(overview.contains("<svg"), "sparklines");
    // The city's late_rate cell shows the stored numbers.
    let ev = dondoc::rates::evaluate(
        &app.store,
        &app.settings,
        "2024-Q2".parse().unwrap(),
        now(clock.as_ref()) - 15 * 60,
    )
    .await
    .unwrap();
    let row = ev
        .rows
        .iter()
        .find(|r| {
            r.unit == "CITY" && r.metric == dondoc::domain::Metric::LateRate && r.scope.is_none()
        })
        .unwrap();
    assert!(
        overview.contains(&format!("{}/{}", row.numerator, row.denominator)),
        "late_rate {}/{}",
        row.numerator,
        row.denominator
    );

    let (code, unit) = get(&format!("{}/units/PHUONG_DONG_LE", site.base)).await;
    assert_eq!(code, 200);
    assert!(unit.contains("UBND Phường Đông Lễ — Quý 2/2024"));
    assert_eq!(
        unit.matches("<section class=\"chart\"").count(),
        9,
        "one chart per criterion"
    );
    assert!(unit.contains("class=\"target\""), "the target line");
    assert!(unit.contains("Việc cần làm"));

    let (code, quality) = get(&format!("{}/quality", site.base)).await;
    assert_eq!(code, 200);
    let (unmapped, _) = sim.sim.unmapped_codes();
    assert!(quality.contains(&unmapped), "the unclaimed code is named");
    let (code, alerts) = get(&format!("{}/alerts", site.base)).await;
    assert_eq!(code, 200);
    assert!(alerts.contains("Đang chưa đạt"));

    let all = format!("{overview}{unit}{quality}{alerts}");
    for d in sim.sim.dossiers_json() {
        for f in ["ChuHoSo", "SoDienThoai", "SoGiayToChuHoSo"] {
            assert!(!all.contains(d[f].as_str().unwrap()), "{f} on a page");
        }
    }
}

#[tokio::test]
async fn an_unknown_unit_is_404_and_a_stale_source_is_shown() {
    let clock = clock();
    let sim = start_sim(sim_options(1500, 300), clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = synced(&clock, &sim, dir.path(), "").await;
    let site = serve(app).await;
    let (code, body) = get(&format!("{}/units/KHONG_CO", site.base)).await;
    assert_eq!(code, 404);
    assert!(body.contains("KHONG_CO"));
    let (_, fresh) = get(&format!("{}/", site.base)).await;
    assert!(
        !fresh.contains("role=\"alert\""),
        "no stale banner after a sync"
    );

    // Seven hours without a sync (health.max_staleness_hours = 6).
    clock.advance(chrono::Duration::hours(7));
    let (_, stale) = get(&format!("{}/", site.base)).await;
    assert!(
        stale.contains("role=\"alert\"") && stale.contains("motcua/ho-so"),
        "stale banner"
    );
    assert_eq!(get(&format!("{}/healthz", site.base)).await.0, 503);
}

#[tokio::test]
async fn basic_authentication_guards_the_pages_not_health_and_metrics() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        "127.0.0.1:9".parse().unwrap(),
        &db_url(dir.path(), "d.db"),
        "",
    ) + "\n[http]\nlisten = \"127.0.0.1:9464\"\nusername = \"noivu\"\npassword = \"mật-khẩu\"\n";
    let app = App::build(settings(&text), clock).await.unwrap();
    let site = serve(app).await;
    let client = reqwest::Client::new();
    let r = client.get(format!("{}/", site.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let r = client
        .get(format!("{}/", site.base))
        .basic_auth("noivu", Some("sai"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .get(format!("{}/units/CITY", site.base))
        .basic_auth("noivu", Some("mật-khẩu"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        client
            .get(format!("{}/metrics", site.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_ne!(
        client
            .get(format!("{}/healthz", site.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
}

fn chromium() -> Option<std::path::PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

fn headless(browser: &std::path::Path, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_real_browser_renders_the_overview_and_a_unit_page() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED (browser): Debian's chromium is not installed; `apt-get install chromium` (as .ci/run does) to run this test"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (sim_port, http_port) = (free(), free());
    let text = config_text(
        format!("127.0.0.1:{sim_port}").parse().unwrap(),
        &db_url(dir.path(), "b.db"),
        "",
    ) + &format!(
        "\n[simulator]\nenabled = true\nlisten = \"127.0.0.1:{sim_port}\"\ndossiers = 4000\ndocuments = 800\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n"
    );
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    loop {
        let metrics = rt.block_on(async {
            reqwest::get(format!("{base}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()
        });
        if metrics.is_some_and(|m| m.contains("dondoc_rate_numerator{")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never evaluated"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The first sync's backfill of the past year ends after the first numbers are out: wait
    // for the unit page's year charts to hold the year.
    let days_drawn = |html: &str| -> usize {
        html.split("data-days=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next()?.parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    };
    loop {
        let html = rt.block_on(async {
            reqwest::get(format!("{base}/units/PHUONG_1?period=quarter"))
                .await
                .ok()?
                .text()
                .await
                .ok()
        });
        if html.as_deref().is_some_and(|h| days_drawn(h) >= 300) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(120),
            "the unit page never drew a year of days"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    for (page, must) in [
        (
            "/",
            vec![
                "UBND thành phố Thử Nghiệm",
                "UBND Phường Đông Lễ",
                "data-state=\"breach\"",
                "<svg",
                "Hồ sơ trễ hạn",
                "class=\"ranking\"",
                "Xếp hạng đơn vị",
            ],
        ),
        (
            "/units/PHUONG_1",
            vec![
                "UBND Phường 1",
                "class=\"chart\"",
                "class=\"target\"",
                "chỉ tiêu",
                "class=\"year\"",
                "class=\"boundary\"",
                "class=\"daily\"",
                "12 tháng qua",
            ],
        ),
    ] {
        let dom = headless(&browser, &["--dump-dom", &format!("{base}{page}")]);
        let dom = String::from_utf8_lossy(&dom.stdout).to_string();
        for m in must {
            assert!(dom.contains(m), "{page}: the rendered DOM lacks {m}");
        }
        if page != "/" {
            assert!(
                days_drawn(&dom) >= 300,
                "{page}: the browser drew {} days",
                days_drawn(&dom)
            );
            // Each quarter of the year is its own line, between dashed boundaries.
            assert!(dom.matches("class=\"boundary\"").count() >= 4 * 9);
            assert!(dom.matches("class=\"daily\"").count() >= 4 * 9);
        }
        let file = shots.join(format!(
            "{}.png",
            if page == "/" { "overview" } else { "unit" }
        ));
        let out = headless(
            &browser,
            &[
                if page == "/" {
                    "--window-size=1400,1800"
                } else {
                    "--window-size=1400,4200"
                },
                &format!("--screenshot={}", file.display()),
                &format!("{base}{page}"),
            ],
        );
        assert!(
            file.exists() && std::fs::metadata(&file).unwrap().len() > 10_000,
            "screenshot of {page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("screenshot: {}", file.display());
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
