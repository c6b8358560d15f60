//! What a city's administrator and a Prometheus user notice in the first week (issue 21):
//! `/metrics` clean under `promtool check metrics`, in a stable order, with series that keep their
//! labels across a period's end; the dashboard's security headers and the refusal of a clear-text
//! password; field groups shown by their display names in every Vietnamese surface; warnings
//! (not refusals) for mapped contract fields dondoc does not use; the version and commit in
//! `--version` and the User-Agent; log lines without colour codes off a terminal; `dondoc
//! backup` while the daemon writes; the Grafana dashboard of deploy/.

mod common;

use common::smtp::TestSmtp;
use common::*;
use dondoc::app::App;
use dondoc::daemon::Daemon;
use dondoc::domain::time::ManualClock;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

const LAND_NAME: &str = "đất đai, xây dựng, đầu tư";

/// The test units with the field group `land` in its table form, with a display name.
fn named_land(text: &str) -> String {
    let list = r#"land = ["G09-DD", "G09-XD", "G09-DT"]"#;
    assert!(text.contains(list));
    text.replace(
        list,
        &format!(r#"land = {{ name = "{LAND_NAME}", codes = ["G09-DD", "G09-XD", "G09-DT"] }}"#),
    )
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .to_utc()
}

/// Syncs, evaluates and runs the alerts at the clock's instant.
async fn pass(app: &App, clock: &ManualClock) {
    let now = now(clock);
    let report = dondoc::sync::run_once(app, now).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let ev = dondoc::rates::run_once(app, now).await.unwrap();
    dondoc::jobs::alerts::run_once(app, &ev, None, now)
        .await
        .unwrap();
}

/// An application synced twice, 15 minutes apart (alerts need two evaluations).
async fn synced(clock: &Arc<ManualClock>, text: String) -> App {
    let app = App::build(settings(&text), clock.clone()).await.unwrap();
    pass(&app, clock).await;
    clock.advance(chrono::Duration::minutes(15));
    pass(&app, clock).await;
    app
}

struct Site {
    base: String,
    /// The daemon as `dondoc run` builds it; stops serving when dropped.
    application: dondoc::application::Application,
}

/// [`dondoc::application::Application::build`] over the database of `app`, on a free loopback
/// port; its scheduler is not run (the tests drive its daemon by hand).
async fn serve(app: App) -> Site {
    let mut s = (*app.settings).clone();
    s.http.listen = "127.0.0.1:0".into();
    let application = dondoc::application::Application::build(s, app.clock.clone(), None)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    Site { base, application }
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let headers = r.headers().clone();
    (code, headers, r.text().await.unwrap())
}

/// `name{labels}` → value of every sample of the exposition.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// The label set of each sample of family `name`, as written.
fn series_of(text: &str, name: &str) -> BTreeSet<String> {
    samples(text)
        .into_keys()
        .filter(|s| s.split('{').next() == Some(name))
        .collect()
}

/// Runs `dondoc` with `args` in `cwd`.
fn dondoc(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("DONDOC_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

fn described(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var_os("DONDOC_REQUIRE_PROMTOOL").is_some() {
        panic!(
            "DONDOC_REQUIRE_PROMTOOL is set but promtool is not on PATH (Debian: apt-get install prometheus)"
        );
    }
    found
}

// ---------------------------------------------------------------------------------------------
// /metrics

#[tokio::test]
async fn promtool_check_metrics_finds_nothing_on_a_live_metrics_page_written_in_a_stable_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut options = sim_options(3000, 600);
    // Rejected records give label values with quotes and other characters to escape.
    options.faults.invalid_share = 0.03;
    let sim = start_sim(options, clock.clone()).await;
    let text = named_land(&config_text(sim.addr, &db_url(dir.path(), "d.db"), ""));
    let app = synced(&clock, text).await;
    let site = serve(app).await;
    let daemon = site.application.daemon();
    // The daemon's own jobs fill the run counters and the jobs' last successes.
    daemon.catch_up(now(clock.as_ref())).await.unwrap();
    assert!(daemon.drain(Duration::from_secs(120)).await);

    let (code, headers, body) = get(&format!("{}/metrics", site.base)).await;
    assert_eq!(code, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(body.contains("dondoc_rejected_records{"), "{body}");
    assert!(body.contains("dondoc_rate_ratio{"), "{body}");
    assert!(body.contains("dondoc_sync_runs_total{"), "{body}");

    // Every family has its help and type, once, right before its samples.
    let mut families = Vec::new();
    let lines: Vec<&str> = body.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if let Some(rest) = l.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert_eq!(lines[i + 1].split(' ').nth(2), Some(name), "{l}");
            families.push(name.to_string());
        }
    }
    let distinct: BTreeSet<&String> = families.iter().collect();
    assert_eq!(distinct.len(), families.len(), "a family written twice");
    for series in samples(&body).keys() {
        let name = series.split('{').next().unwrap();
        assert!(families.iter().any(|f| f == name), "{name} has no HELP");
    }
    // Counters end in _total and are typed as such.
    assert!(body.contains("# TYPE dondoc_sync_runs_total counter\n"));

    // Stable: the same state gives the same bytes, each family's samples sorted.
    // (The free-disk gauges move with whatever else this machine writes: compared without them.)
    let (_, _, again) = get(&format!("{}/metrics", site.base)).await;
    let steady = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("dondoc_disk_free_bytes"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(steady(&body), steady(&again));
    let mut current = "";
    let mut previous_labels = String::new();
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        let (name, labels) = l
            .split_once('{')
            .unwrap_or((l.split(' ').next().unwrap(), ""));
        if name != current {
            current = name;
            previous_labels.clear();
        }
        assert!(
            labels >= previous_labels.as_str(),
            "{l} is out of order after {previous_labels}"
        );
        previous_labels = labels.to_string();
    }

    let Some(promtool) = promtool() else {
        say("SKIPPED (promtool): not on PATH; the exposition's own checks above ran");
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}",
        described(&out)
    );
}

#[tokio::test]
async fn rate_series_keep_their_labels_across_a_quarters_end_and_the_period_moves_to_the_info_series()
 {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2024-06-30T23:00:00+07:00")));
    let sim = start_sim(sim_options(3000, 600), clock.clone()).await;
    let text = named_land(&config_text(sim.addr, &db_url(dir.path(), "d.db"), ""));
    let app = synced(&clock, text).await;
    let daemon = Daemon::new(app.clone(), None).unwrap();
    let before = dondoc::http::prometheus::render(&daemon).await.unwrap();

    // Over the quarter's (and the month's) end: 2024-07-01 00:30.
    clock.set(at("2024-07-01T00:30:00+07:00"));
    pass(&app, &clock).await;
    let after = dondoc::http::prometheus::render(&daemon).await.unwrap();

    for family in [
        "dondoc_rate_numerator",
        "dondoc_rate_denominator",
        "dondoc_rate_sample_timestamp_seconds",
        "dondoc_rate_target_ratio",
    ] {
        let (b, a) = (series_of(&before, family), series_of(&after, family));
        assert!(!b.is_empty(), "{family} has series");
        assert_eq!(b, a, "{family}: the same series before and after");
    }
    // A ratio is absent while its denominator is 0 (early in a quarter), never renamed.
    let (b, a) = (
        series_of(&before, "dondoc_rate_ratio"),
        series_of(&after, "dondoc_rate_ratio"),
    );
    assert!(
        !a.is_empty() && a.is_subset(&b),
        "{a:#?}\nnot within\n{b:#?}"
    );
    for text in [&before, &after] {
        assert!(
            !samples(text)
                .keys()
                .any(|s| s.starts_with("dondoc_rate_") && s.contains("period_id")),
            "no rate series names its period"
        );
    }

    // The period is in the info series and in values.
    let s_before = samples(&before);
    let s_after = samples(&after);
    assert_eq!(
        s_before["dondoc_period_info{period=\"quarter\",period_id=\"2024-Q2\"}"],
        1.0
    );
    assert_eq!(
        s_after["dondoc_period_info{period=\"quarter\",period_id=\"2024-Q3\"}"],
        1.0
    );
    assert!(!after.contains("2024-Q2"));
    assert_eq!(
        s_after["dondoc_period_info{period=\"month\",period_id=\"2024-07\"}"],
        1.0
    );
    assert_eq!(
        s_after["dondoc_period_start_timestamp_seconds{period=\"quarter\"}"],
        at("2024-07-01T00:00:00+07:00").timestamp() as f64
    );
    assert_eq!(
        s_after["dondoc_period_end_timestamp_seconds{period=\"quarter\"}"],
        at("2024-10-01T00:00:00+07:00").timestamp() as f64
    );
    // The values are the new quarter's, as evaluated.
    let now = now(clock.as_ref());
    let q3 = dondoc::domain::Period::containing(dondoc::domain::PeriodKind::Quarter, now);
    let ev = dondoc::rates::evaluate(&app.store, &app.settings, q3, now)
        .await
        .unwrap();
    for row in ev.rows.iter().filter(|r| r.scope.is_none()) {
        let key = |f: &str| {
            format!(
                "{f}{{unit=\"{}\",metric=\"{}\",scope=\"\",period=\"quarter\"}}",
                row.unit,
                row.metric.as_str()
            )
        };
        assert_eq!(
            s_after[&key("dondoc_rate_denominator")],
            row.denominator as f64,
            "{}",
            key("dondoc_rate_denominator")
        );
        assert_eq!(s_after[&key("dondoc_rate_numerator")], row.numerator as f64);
        assert_eq!(
            s_after[&key("dondoc_rate_sample_timestamp_seconds")],
            now as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The dashboard's headers; a clear-text password refused

#[tokio::test]
async fn every_response_carries_the_security_headers_and_the_policy_admits_only_the_pages_own_style()
 {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let sim = start_sim(sim_options(2000, 400), clock.clone()).await;
    let text = config_text(sim.addr, &db_url(dir.path(), "d.db"), "");
    let app = synced(&clock, text).await;
    let site = serve(app).await;
    for path in [
        "/",
        "/?period=year",
        "/units/PHUONG_1",
        "/units/NOPE",
        "/quality",
        "/alerts",
        "/metrics",
        "/healthz",
        "/nothing-here",
    ] {
        let (code, h, body) = get(&format!("{}{path}", site.base)).await;
        assert!(code < 500 || path == "/healthz", "{path}: {code}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!csp.contains("script-src"), "no script at all: {csp}");
        if code == 200 && h["content-type"].to_str().unwrap().starts_with("text/html") {
            // The style sheet is admitted by its hash; nothing else would apply.
            let css = body
                .split_once("<style>")
                .and_then(|(_, rest)| rest.split_once("</style>"))
                .map(|(css, _)| css)
                .unwrap_or_else(|| panic!("{path} has no style sheet"));
            use base64::Engine as _;
            use sha2::Digest as _;
            let hash = base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(css.as_bytes()));
            assert!(
                csp.contains(&format!("style-src 'sha256-{hash}'")),
                "{path}: {csp}"
            );
            assert!(
                !body.contains(" style=\""),
                "{path}: an inline style attribute"
            );
            assert!(!body.contains("<script"), "{path}");
        }
    }
}

#[tokio::test]
async fn basic_authentication_beyond_loopback_is_refused_unless_tls_is_said_to_be_in_front() {
    let dir = tempfile::tempdir().unwrap();
    let base = config_text(
        "127.0.0.1:9".parse().unwrap(),
        &db_url(dir.path(), "d.db"),
        "",
    );
    let with = |http: &str| format!("{base}\n[http]\n{http}\n");
    let load = |t: &str| {
        dondoc::config::load_from_str(t, &std::collections::HashMap::new(), Path::new("."))
    };
    let open_auth = with("listen = \"0.0.0.0:9464\"\nusername = \"noivu\"\npassword = \"x\"");
    let problems = load(&open_auth).unwrap_err();
    let p = problems
        .iter()
        .find(|p| p.path == "http.listen")
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert!(p.message.contains("behind_tls_proxy"), "{}", p.message);
    assert!(p.message.contains("deploy/README.md"), "{}", p.message);
    assert!(p.line.is_some(), "points at the line");
    for ok in [
        "listen = \"0.0.0.0:9464\"\nusername = \"noivu\"\npassword = \"x\"\nbehind_tls_proxy = true",
        "listen = \"127.0.0.1:9464\"\nusername = \"noivu\"\npassword = \"x\"",
        "listen = \"[::1]:9464\"\nusername = \"noivu\"\npassword = \"x\"",
        "listen = \"0.0.0.0:9464\"",
    ] {
        assert!(load(&with(ok)).is_ok(), "{ok}");
    }

    // The binary: check-config and run both refuse (exit 2) before listening.
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &open_auth).unwrap();
    for cmd in ["check-config", "run"] {
        let o = dondoc(dir.path(), &["--config", config.to_str().unwrap(), cmd]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", described(&o));
        assert!(
            described(&o).contains("behind_tls_proxy"),
            "{}",
            described(&o)
        );
    }
    // Open without authentication: valid, with a warning.
    std::fs::write(&config, with("listen = \"0.0.0.0:9464\"")).unwrap();
    let o = dondoc(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", described(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("warning    http.listen"),
        "{}",
        described(&o)
    );
}

#[test]
fn mapping_contract_fields_dondoc_does_not_use_is_a_warning_not_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let base = config_text(
        "127.0.0.1:9".parse().unwrap(),
        &db_url(dir.path(), "d.db"),
        "",
    );
    let text = base.replace(
        "[sources.qlvb]",
        r#"[sources.motcua.dossiers.fields]
MaHoSo = "/soHoSo"
DanhSachHoSoBoSung = { from = "/boSung", fields = { NgayHenTraMoi = "/hanMoi", NgayBoSung = "/ngayBoSung" } }
DanhSachPhieuXinLoi = { from = "/xinLoi", fields = { NgayBanHanh = "/ngay", SoPhieu = "/soPhieu" } }
TenPhiLePhi = "/tenPhi"

[sources.qlvb]"#,
    );
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &text).unwrap();
    let o = dondoc(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", described(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    for path in [
        "sources.motcua.dossiers.fields.DanhSachHoSoBoSung.fields.NgayBoSung",
        "sources.motcua.dossiers.fields.DanhSachPhieuXinLoi.fields.SoPhieu",
        "sources.motcua.dossiers.fields.TenPhiLePhi",
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("no warning for {path}:\n{out}"));
        assert!(line.starts_with("warning "), "{line}");
        assert!(line.contains("does not use it"), "{line}");
        assert!(line.contains("(line "), "points at the line: {line}");
    }
    // Personal data stays refused.
    std::fs::write(
        &config,
        text.replace("TenPhiLePhi = \"/tenPhi\"", "ChuHoSo = \"/hoTen\""),
    )
    .unwrap();
    let o = dondoc(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", described(&o));
    assert!(described(&o).contains("personal data"));
}

// ---------------------------------------------------------------------------------------------
// Field groups by their display names

#[test]
fn a_field_group_is_a_list_of_codes_or_a_table_with_a_name_and_unknown_keys_are_reported() {
    let base = config_text("127.0.0.1:9".parse().unwrap(), "sqlite://x.db", "");
    let load = |t: &str, env: &[(&str, &str)]| {
        let env: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dondoc::config::load_from_str(t, &env, Path::new("."))
    };
    // The short form: codes only, shown by the key.
    let s = load(&base, &[]).unwrap();
    assert_eq!(s.field_groups["land"].codes, ["G09-DD", "G09-XD", "G09-DT"]);
    assert_eq!(s.field_groups["land"].name, None);
    assert_eq!(s.scope_name("land"), "land");
    // The table form.
    let s = load(&named_land(&base), &[]).unwrap();
    assert_eq!(s.field_groups["land"].codes, ["G09-DD", "G09-XD", "G09-DT"]);
    assert_eq!(s.scope_name("land"), LAND_NAME);
    // The codes from the environment, the name kept.
    let s = load(
        &named_land(&base),
        &[("DONDOC__FIELD_GROUPS__LAND__CODES", "G09-DD,G09-XX")],
    )
    .unwrap();
    assert_eq!(s.field_groups["land"].codes, ["G09-DD", "G09-XX"]);
    assert_eq!(s.scope_name("land"), LAND_NAME);
    // A typo inside the table, an empty name, no codes: each reported at its key.
    let bad = base.replace(
        r#"land = ["G09-DD", "G09-XD", "G09-DT"]"#,
        "land = { name = \"\", codez = [\"G09-DD\"] }",
    );
    let problems = load(&bad, &[]).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "field_groups.land.codez",
        "field_groups.land.name",
        "field_groups.land",
    ] {
        assert!(paths.contains(&want), "{want}: {problems:#?}");
    }
}

#[tokio::test]
async fn a_field_group_is_shown_by_its_display_name_on_the_dashboard_status_reports_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let sim = start_sim(sim_options(3000, 600), clock.clone()).await;
    let db = db_url(dir.path(), "d.db");
    let text = named_land(&config_text(sim.addr, &db, ""));
    let app = synced(&clock, text.clone()).await;
    let site = serve(app.clone()).await;

    // Dashboard: the overview's column and the unit page's chart.
    let shown = format!("({LAND_NAME})");
    for page in ["/", "/units/CITY"] {
        let (code, _, body) = get(&format!("{}{page}", site.base)).await;
        assert_eq!(code, 200);
        assert!(body.contains(&shown), "{page} shows the display name");
        assert!(!body.contains("(land)"), "{page} shows the key");
    }
    // /metrics keeps the key in the rate labels and names it in the info series.
    let (_, _, metrics) = get(&format!("{}/metrics", site.base)).await;
    assert!(metrics.contains(&format!(
        "dondoc_field_group_info{{scope=\"land\",name=\"{LAND_NAME}\"}} 1\n"
    )));
    assert!(metrics.contains("scope=\"land\",period=\"quarter\"}"));

    // status: the table shows the name, the JSON keeps the key.
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &text).unwrap();
    let cfg = config.to_str().unwrap();
    let as_of = dondoc::domain::time::rfc3339(now(clock.as_ref()));
    let o = dondoc(dir.path(), &["--config", cfg, "status", "--as-of", &as_of]);
    assert_eq!(o.status.code(), Some(0), "{}", described(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains(&format!("satisfaction_rate [{LAND_NAME}]")),
        "{table}"
    );
    assert!(!table.contains("[land]"));
    // Aligned: the value column starts at the same terminal column on every row of a unit.
    let o = dondoc(
        dir.path(),
        &[
            "--config", cfg, "status", "--as-of", &as_of, "--format", "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["scope"] == "land")
    );

    // The report: html and xlsx by the name; csv keeps the key for scripts.
    for ext in ["html", "xlsx", "csv"] {
        let out = dir.path().join(format!("r.{ext}"));
        let o = dondoc(
            dir.path(),
            &[
                "--config",
                cfg,
                "report",
                "--period",
                "2024-Q2",
                "--as-of",
                &as_of,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", described(&o));
        match ext {
            "html" => {
                let html = std::fs::read_to_string(&out).unwrap();
                assert!(
                    html.contains(&format!("Mức độ hài lòng (nhóm lĩnh vực {LAND_NAME})")),
                    "report html"
                );
                assert!(!html.contains("nhóm lĩnh vực land"));
            }
            "xlsx" => {
                use calamine::Reader as _;
                let wb: calamine::Xlsx<_> = calamine::open_workbook(&out).unwrap();
                let names = wb.sheet_names();
                assert!(
                    names
                        .iter()
                        .any(|n| n.starts_with("Mức độ hài lòng - đất đai")),
                    "{names:?}"
                );
                let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&out).unwrap();
                let sheet = names
                    .iter()
                    .find(|n| n.starts_with("Mức độ hài lòng - đất đai"))
                    .unwrap();
                let range = wb.worksheet_range(sheet).unwrap();
                assert!(
                    range.cells().any(|(_, _, c)| c
                        .to_string()
                        .contains(&format!("nhóm lĩnh vực {LAND_NAME}"))),
                    "the sheet's title names the group"
                );
            }
            _ => {
                let csv = std::fs::read_to_string(&out).unwrap();
                assert!(csv.contains(",land,"), "csv keeps the key");
            }
        }
    }
}

#[tokio::test]
async fn a_field_group_is_shown_by_its_display_name_in_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let sim = start_sim(sim_options(6000, 600), clock.clone()).await;
    let smtp = TestSmtp::start();
    // A target no real unit meets on a sample of one: the city's scoped rate fires.
    let text = named_land(&config_text(sim.addr, &db_url(dir.path(), "d.db"), "")).replace(
        "scope = \"land\"\nmin = 85.0",
        "scope = \"land\"\nmin = 100.0\nmin_sample = 1",
    ) + &format!(
        r#"
[schedule]
alerts = "0 0 8 * * Mon-Fri"

[smtp]
host = "127.0.0.1"
port = {}
tls = "none"
from = "Theo dõi CCHC <dondoc@city.example.gov.vn>"
hello_name = "dondoc.city.example.gov.vn"
timeout_secs = 5
"#,
        smtp.port()
    );
    let s = settings(&text);
    let mailer = dondoc::alerts::mailer::Mailer::from_settings(s.smtp.as_ref().unwrap()).unwrap();
    let app = App::build(s, clock.clone()).await.unwrap();
    for t in [
        "2024-06-20T10:00:00+07:00",
        "2024-06-20T10:15:00+07:00",
        "2024-06-21T08:00:30+07:00",
    ] {
        clock.set(at(t));
        let now = now(clock.as_ref());
        assert!(
            dondoc::sync::run_once(&app, now)
                .await
                .failures()
                .is_empty()
        );
        let ev = dondoc::rates::run_once(&app, now).await.unwrap();
        dondoc::jobs::alerts::run_once(&app, &ev, Some(&mailer), now)
            .await
            .unwrap();
    }
    let mails: Vec<_> = smtp.received().iter().map(|r| r.parsed()).collect();
    // The city receives the one-screen summary (its scoped breach is a column there) and the
    // letter of its own dossiers: every part of both names the group by its display name.
    let to_city: Vec<_> = mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "vanphong@city.example.gov.vn"))
        .collect();
    assert!(!to_city.is_empty(), "no mail to the city: {mails:#?}");
    let shown = format!("Mức độ hài lòng ({LAND_NAME})");
    let summary = to_city
        .iter()
        .find(|m| m.text.as_deref().unwrap_or_default().contains(&shown))
        .unwrap_or_else(|| panic!("no letter to the city names the group: {to_city:#?}"));
    assert!(summary.html.as_deref().unwrap_or_default().contains(&shown));
    for m in &to_city {
        let (body, html) = (
            m.text.clone().unwrap_or_default(),
            m.html.clone().unwrap_or_default(),
        );
        assert!(
            !body.contains("(land)") && !html.contains("(land)"),
            "{body}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Version, User-Agent, logs

/// A loopback upstream that records each request's head and answers 503.
fn recording_upstream() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            record
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
            );
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn version_and_user_agent_carry_the_git_commit_and_piped_logs_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let o = dondoc(dir.path(), &["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(version, format!("dondoc {}", dondoc::VERSION_LONG));
    let head = Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(commit) => {
            assert_eq!(
                version,
                format!("dondoc {}+{commit}", env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(dondoc::GIT_COMMIT, commit);
        }
        _ => say("SKIPPED (git): not built from a git clone; --version shows the crate version"),
    }

    let (base, seen) = recording_upstream();
    let config = dir.path().join("dondoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[database]
url = "{}"

[sources.motcua]
kind = "one_stop"
base_url = "{base}"
max_attempts = 1
timeout_secs = 5

[[units]]
code = "CITY"
name = "UBND thành phố Đông Hà"
one_stop_codes = ["000.00.23.H50"]
"#,
            db_url(dir.path(), "d.db")
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .args(["--config", config.to_str().unwrap(), "sync"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", described(&o));
    let requests = seen.lock().unwrap().clone();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(
            r.to_lowercase()
                .contains(&format!("user-agent: dondoc/{}\r\n", dondoc::VERSION_LONG)),
            "{r}"
        );
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("DEBUG"), "logs were written: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI colour codes in a pipe: {err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Backup

fn dossier(code: &str, t: i64) -> dondoc::upstream::records::Dossier {
    dondoc::upstream::records::Dossier {
        code: code.into(),
        procedure_code: "P4".into(),
        field_code: Some("G01".into()),
        unit_code: "000.01.23.H50".into(),
        channel: Some(1),
        status: 4,
        received_at: Some(t - 86_400),
        appointed_at: Some(t + 86_400),
        due_at: Some(t + 86_400),
        ended_at: None,
        returned_at: None,
        paid_online: 0,
        fee_total: 0.0,
        digitized: false,
        first_apology_at: None,
        rating: None,
        rated_at: None,
        updated_at: t,
        deleted: false,
    }
}

const PAGE: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_makes_a_consistent_checked_copy_while_the_daemon_writes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let sim = start_sim(sim_options(6000, 1000), clock.clone()).await;
    let db = db_url(dir.path(), "live.db");
    let text = config_text(sim.addr, &db, "");
    let app = synced(&clock, text.clone()).await;
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &text).unwrap();

    // A writer like a sync: each transaction stores a page of PAGE dossiers and moves the mark
    // to the page's number, so that a consistent copy has exactly PAGE × mark of them.
    let written = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, written, stop) = (app.store.clone(), written.clone(), stop.clone());
        let t0 = now(clock.as_ref());
        tokio::spawn(async move {
            let mut k = 0i64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                k += 1;
                let page: Vec<_> = (0..PAGE)
                    .map(|i| dossier(&format!("BK-{k:06}-{i:02}"), t0 + k))
                    .collect();
                store
                    .store_dossier_page("backup_test", "ho-so", &page, &[], Some(k), t0 + k)
                    .await
                    .unwrap();
                written.store(k, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    while written.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = written.load(std::sync::atomic::Ordering::SeqCst);
    let out = dir.path().join("backups").join("dondoc-copy.db");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let (cwd, cfg, out_arg) = (
        dir.path().to_path_buf(),
        config.to_str().unwrap().to_string(),
        out.to_str().unwrap().to_string(),
    );
    let o = tokio::task::spawn_blocking(move || {
        dondoc(&cwd, &["--config", &cfg, "backup", "--out", &out_arg])
    })
    .await
    .unwrap();
    let ended = written.load(std::sync::atomic::Ordering::SeqCst);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", described(&o));
    assert!(
        ended > started,
        "the writer went on while the backup ran ({started} → {ended})"
    );
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(stdout.contains("integrity ok"), "{stdout}");
    assert!(!out.with_file_name("dondoc-copy.db.partial").exists());

    // The copy passes SQLite's check, and is one instant of the database.
    let tables = dondoc::store::backup::inspect(&out).await.unwrap();
    let count = |t: &str| tables.iter().find(|(n, _)| n == t).unwrap().1;
    let listed = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("dossiers "))
        .unwrap_or_else(|| panic!("no count of dossiers in {stdout}"));
    assert!(
        listed.ends_with(&format!(" {}", count("dossiers"))),
        "{listed}"
    );
    let copy = dondoc::store::Store::open(&format!("sqlite://{}", out.display()), 1)
        .await
        .unwrap();
    let mark = copy
        .sync_state("backup_test", "ho-so")
        .await
        .unwrap()
        .and_then(|s| s.mark)
        .unwrap();
    let live_total = scalar(&db, "SELECT COUNT(*) FROM dossiers").await;
    let copied: i64 = {
        let c = Conn::open(&format!("sqlite://{}", out.display())).await;
        let n = c
            .scalar("SELECT COUNT(*) FROM dossiers WHERE code LIKE 'BK-%'")
            .await;
        c.close().await;
        n
    };
    assert_eq!(copied, PAGE as i64 * mark, "pages wholly in or wholly out");
    assert!(
        (started..=ended).contains(&mark),
        "the snapshot is of the backup's time: {started} ≤ {mark} ≤ {ended}"
    );
    let synced_dossiers = count("dossiers") - copied;
    assert!(synced_dossiers > 1000, "the synced history is in the copy");
    assert!(live_total > count("dossiers"), "the live database went on");
    // Restored, it is a dondoc database: status runs on it.
    copy.close().await;
    let restored = dir.path().join("restored.toml");
    std::fs::write(
        &restored,
        text.replace(&db, &format!("sqlite://{}", out.display())),
    )
    .unwrap();
    let o = dondoc(
        dir.path(),
        &[
            "--config",
            restored.to_str().unwrap(),
            "status",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", described(&o));

    // Never over an existing file; a missing database is not created.
    let o = dondoc(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "backup",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", described(&o));
    assert!(described(&o).contains("already exists"));
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        text.replace(&db, &db_url(dir.path(), "nothing-here.db")),
    )
    .unwrap();
    let o = dondoc(
        dir.path(),
        &[
            "--config",
            missing.to_str().unwrap(),
            "backup",
            "--out",
            "x.db",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", described(&o));
    assert!(!dir.path().join("nothing-here.db").exists());
    assert!(!dir.path().join("x.db").exists());
}

#[test]
fn backup_of_a_postgresql_database_says_to_use_pg_dump_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        "127.0.0.1:9".parse().unwrap(),
        "postgres://dondoc:s3cret@db.example.gov.vn/dondoc",
        "",
    );
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, text).unwrap();
    let o = dondoc(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "backup",
            "--out",
            "b.db",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", described(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!err.contains("s3cret"), "no password in the message: {err}");
    assert!(!dir.path().join("b.db").exists());
}

// ---------------------------------------------------------------------------------------------
// Grafana

/// Every `expr` (and templating query) of a Grafana dashboard.
fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "query" | "definition", serde_json::Value::String(s)) => {
                        out.push(s.clone())
                    }
                    ("query", serde_json::Value::Object(q)) => {
                        if let Some(serde_json::Value::String(s)) = q.get("query") {
                            out.push(s.clone());
                        }
                    }
                    _ => queries(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| queries(x, out)),
        _ => {}
    }
}

/// `(metric, label names of its selector)` of every `dondoc_…` name in a PromQL text.
fn metric_refs(q: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = q;
    while let Some(i) = rest.find("dondoc_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut labels = Vec::new();
        let after = &tail[end..];
        if let Some(sel) = after.strip_prefix('{') {
            let close = sel.find('}').unwrap();
            for part in sel[..close].split(',') {
                let key: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !key.is_empty() {
                    labels.push(key);
                }
            }
        }
        out.push((name, labels));
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn the_grafana_dashboard_parses_and_names_only_series_that_metrics_exports() {
    let raw = std::fs::read_to_string(repo_file("deploy/grafana-dondoc.json")).unwrap();
    let dash: serde_json::Value =
        serde_json::from_str(&raw).expect("deploy/grafana-dondoc.json is JSON");
    assert!(dash["title"].as_str().is_some_and(|t| t.contains("dondoc")));
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(dash["schemaVersion"].as_i64().is_some());
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_i64().unwrap()),
            "panel ids are unique"
        );
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(p["type"].as_str().is_some());
        if p["type"] != "row" && p["type"] != "text" {
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{} has a query", p["title"]);
            for t in targets {
                assert!(t["expr"].as_str().is_some_and(|e| e.contains("dondoc_")));
            }
        }
    }
    // Imported into any Grafana: the data source is asked for at import.
    assert_eq!(dash["__inputs"][0]["pluginId"], "prometheus");

    // A live /metrics with every family filled.
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut options = sim_options(3000, 600);
    options.faults.invalid_share = 0.03;
    let sim = start_sim(options, clock.clone()).await;
    let text = named_land(&config_text(sim.addr, &db_url(dir.path(), "d.db"), ""));
    let app = synced(&clock, text).await;
    let daemon = Daemon::new(app, None).unwrap();
    // The daemon's own jobs fill the run counters and the jobs' last successes.
    daemon.catch_up(now(clock.as_ref())).await.unwrap();
    assert!(daemon.drain(Duration::from_secs(120)).await);
    let exposition = dondoc::http::prometheus::render(&daemon).await.unwrap();
    let mut labels_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for series in samples(&exposition).keys() {
        let (name, rest) = series.split_once('{').unwrap_or((series, ""));
        let set = labels_of.entry(name.to_string()).or_default();
        for pair in rest.trim_end_matches('}').split("\",") {
            if let Some((k, _)) = pair.split_once('=') {
                set.insert(k.trim_start_matches(',').to_string());
            }
        }
    }

    let mut all = Vec::new();
    queries(&dash, &mut all);
    let mut used = BTreeSet::new();
    for q in &all {
        for (name, labels) in metric_refs(q) {
            let exported = labels_of
                .get(&name)
                .unwrap_or_else(|| panic!("{name} (in `{q}`) is not exported by /metrics"));
            for l in labels {
                assert!(
                    exported.contains(&l),
                    "{name} has no label {l} (in `{q}`); it has {exported:?}"
                );
            }
            used.insert(name);
        }
    }
    // Every query is valid PromQL (promtool parses rules; the dashboard's variables filled in).
    if let Some(promtool) = promtool() {
        let mut rules = String::from("groups:\n  - name: grafana\n    rules:\n");
        for (i, q) in all
            .iter()
            .filter(|q| q.contains("dondoc_") && !q.starts_with("label_values"))
            .enumerate()
        {
            let q = q
                .replace("$metric", "late_rate")
                .replace("$period", "quarter")
                .replace("$unit", ".*");
            rules.push_str(&format!(
                "      - record: grafana:query{i}\n        expr: {}\n",
                serde_json::to_string(&q).unwrap()
            ));
        }
        let file = dir.path().join("grafana-rules.yml");
        std::fs::write(&file, &rules).unwrap();
        let o = Command::new(promtool)
            .args(["check", "rules", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}\n{rules}", described(&o));
    } else {
        say("SKIPPED (promtool): the dashboard's PromQL was not parsed");
    }
    for must in [
        "dondoc_rate_ratio",
        "dondoc_rate_target_ratio",
        "dondoc_sync_last_success_timestamp_seconds",
        "dondoc_sync_runs_total",
        "dondoc_outbox_messages",
        "dondoc_rejected_records",
        "dondoc_job_last_success_timestamp_seconds",
    ] {
        assert!(used.contains(must), "the dashboard shows {must}");
    }
}
