//! Binary-level tests of `dondoc` (`shared/spec/cli.md`): `check-config`, configuration selection,
//! usage errors, `status` on a fresh database, and secrets that never reach the output or logs.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use unicode_width::UnicodeWidthStr;

const METRICS: [&str; 8] = [
    "late_rate",
    "apology_rate",
    "digitized_rate",
    "online_rate",
    "online_payment_rate",
    "satisfaction_rate",
    "edoc_rate",
    "esign_rate",
];

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn demo_config() -> PathBuf {
    repo_file("config/dondoc.toml")
}

fn example_config() -> PathBuf {
    repo_file("config/dondoc.example.toml")
}

fn fixture(name: &str) -> PathBuf {
    repo_file(&format!("tests/fixtures/config/{name}"))
}

/// `dondoc` with a clean environment: none of the caller's DONDOC_* variables or RUST_LOG.
fn dondoc(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dondoc"));
    for (k, _) in std::env::vars() {
        if k.starts_with("DONDOC") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.current_dir(cwd);
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("dondoc runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", describe(o));
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

fn nth_line(text: &str, line: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == line)
        .nth(n)
        .map(|(i, _)| i + 1)
        .expect("nth line")
}

/// The sqlite URL of a fresh database in `dir`.
fn db_url(dir: &Path) -> String {
    format!("sqlite://{}/db/dondoc.db", dir.display())
}

// ---------------------------------------------------------------------------------------------
// check-config
// ---------------------------------------------------------------------------------------------

#[test]
fn check_config_accepts_the_demo_config_and_prints_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path())
        .arg("--config")
        .arg(demo_config())
        .arg("check-config"));
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("valid"), "{out}");
    assert!(
        out.contains(&demo_config().display().to_string()),
        "names the file: {out}"
    );
    let units = out
        .lines()
        .find(|l| l.starts_with("units"))
        .expect("a units line");
    assert!(units.contains("21"), "21 units: {units}");
    assert!(
        units.contains("UBND thành phố Đông Hà"),
        "the root: {units}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("source") && l.contains("motcua") && l.contains("one_stop")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("source") && l.contains("qlvb") && l.contains("documents")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("schedule")
            && l.contains("sync")
            && l.contains("0 */15 * * * *")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("schedule")
            && l.contains("alerts")
            && l.contains("0 */15 * * * *")),
        "{out}"
    );
    let smtp = out
        .lines()
        .find(|l| l.starts_with("smtp"))
        .expect("an smtp line");
    assert!(
        smtp.contains("file") && smtp.contains("data/outbox"),
        "the demo writes mail into files and says so: {smtp}"
    );
    let targets = out
        .lines()
        .find(|l| l.starts_with("targets"))
        .expect("a targets line");
    for m in [
        "late_rate",
        "apology_rate",
        "online_rate",
        "satisfaction_rate",
        "edoc_rate",
    ] {
        assert!(targets.contains(m), "targets line lists {m}: {targets}");
    }
    assert!(
        targets.contains("1%") && targets.contains("70%"),
        "{targets}"
    );
    assert!(
        out.contains("land_construction_investment"),
        "the scoped target: {out}"
    );
    assert!(out.lines().count() <= 25, "one screen: {out}");
    assert!(
        !tmp.path().join("data").exists(),
        "check-config touches no database"
    );
}

/// `dondoc check-config | head -0`: the reader is gone before dondoc writes; dondoc ends as a
/// Unix tool does (SIGPIPE), never with a panic on the broken pipe.
#[cfg(unix)]
#[test]
fn a_command_whose_reader_has_gone_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = dondoc(tmp.path())
        .arg("--config")
        .arg(demo_config())
        .arg("check-config")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dondoc runs");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        status.success() || status.signal() == Some(libc_sigpipe()),
        "{status:?}: {err}"
    );
}

/// SIGPIPE's number on Linux and the BSDs.
#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn check_config_accepts_the_example_config_and_prints_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path())
        .arg("--config")
        .arg(example_config())
        .arg("check-config"));
    assert_exit(&o, 0);
    let out = stdout(&o);
    let units = out
        .lines()
        .find(|l| l.starts_with("units"))
        .expect("a units line");
    assert!(units.contains('2'), "{units}");
    assert!(out.contains("motcua") && out.contains("qlvb"), "{out}");
    assert!(out.contains("https://motcua.quangtri.gov.vn/api"), "{out}");
    let smtp = out
        .lines()
        .find(|l| l.starts_with("smtp"))
        .expect("an smtp line");
    assert!(smtp.contains("mail.quangtri.gov.vn"), "{smtp}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("schedule") && l.contains("0 */15 * * * *")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("targets") && l.contains("late_rate")),
        "{out}"
    );
    assert!(!tmp.path().join("data").exists());
    assert!(out.lines().count() <= 25, "one screen: {out}");
}

#[test]
fn check_config_lists_every_problem_with_its_key_path_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let file = fixture("broken.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let o = run(dondoc(tmp.path())
        .arg("--config")
        .arg(&file)
        .arg("check-config"));
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains(&file.display().to_string()),
        "names the file: {err}"
    );
    let expected = [
        ("sources.motcua.tokne", line_of(&text, "tokne")),
        ("sources.motcua.base_url", line_of(&text, "base_url")),
        ("schedule.sync", line_of(&text, "sync =")),
        ("alerts.cc[0]", line_of(&text, "cc =")),
        ("targets.late_rat", line_of(&text, "late_rat")),
        ("targets.online_rate", line_of(&text, "online_rate")),
        ("scoped_targets[0].scope", line_of(&text, "scope =")),
        ("units[2].parent", line_of(&text, "\"CITI\"")),
        (
            "units[3].one_stop_codes[0]",
            nth_line(&text, "one_stop_codes = [\"000.01.23.H50\"]", 1),
        ),
        ("units[4].parent", nth_line(&text, "[[units]]", 4)),
    ];
    for (path, line) in expected {
        let shown = format!("{path} (line {line}):");
        assert!(err.contains(&shown), "stderr should list `{shown}`:\n{err}");
    }
    assert!(err.contains("10 problem"), "counts them: {err}");
    let listed = err
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .count();
    assert_eq!(listed, expected.len(), "one line per problem:\n{err}");
    assert!(
        err.contains("5 fields"),
        "the 5-field cron is explained: {err}"
    );
    assert!(!stdout(&o).contains("valid"), "{}", describe(&o));
}

#[test]
fn a_missing_config_file_exits_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere/dondoc.toml");
    for cmd in [&["check-config"][..], &["status", "--format", "json"][..]] {
        let o = run(dondoc(tmp.path()).arg("--config").arg(&missing).args(cmd));
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains(&missing.display().to_string()),
            "{}",
            describe(&o)
        );
    }
    assert!(!tmp.path().join("data").exists());
}

#[test]
fn the_default_config_file_is_config_dondoc_toml_in_the_working_directory() {
    // In an empty folder there is none: exit 2, naming the default.
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path()).arg("check-config"));
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("config/dondoc.toml"),
        "{}",
        describe(&o)
    );
    // In a folder that has one, it is used.
    std::fs::create_dir(tmp.path().join("config")).unwrap();
    std::fs::copy(example_config(), tmp.path().join("config/dondoc.toml")).unwrap();
    let o = run(dondoc(tmp.path()).arg("check-config"));
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("mail.quangtri.gov.vn"),
        "{}",
        describe(&o)
    );
}

#[test]
fn dondoc_config_env_var_selects_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path())
        .env("DONDOC_CONFIG", example_config())
        .arg("check-config"));
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&example_config().display().to_string()),
        "{out}"
    );
    assert!(
        out.contains("mail.quangtri.gov.vn"),
        "the example's SMTP host: {out}"
    );

    let o = run(dondoc(tmp.path())
        .env("DONDOC_CONFIG", fixture("broken.toml"))
        .arg("check-config"));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("schedule.sync"), "{}", describe(&o));

    // --config wins over the variable.
    let o = run(dondoc(tmp.path())
        .env("DONDOC_CONFIG", fixture("broken.toml"))
        .arg("--config")
        .arg(demo_config())
        .arg("check-config"));
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains(&demo_config().display().to_string()),
        "{}",
        describe(&o)
    );
}

#[test]
fn env_overrides_reach_check_config() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path())
        .env("DONDOC__SOURCES__MOTCUA__PAGE_SIZE", "123")
        .env("DONDOC__SMTP__HOST", "mail.override.example")
        .arg("--config")
        .arg(example_config())
        .arg("check-config"));
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.contains("motcua") && l.contains("page 123")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("smtp") && l.contains("mail.override.example")),
        "{out}"
    );

    let o = run(dondoc(tmp.path())
        .env("DONDOC__SCHEDULE__SYNC", "*/5 * * * *")
        .env("DONDOC__SOURCES__MOTCUA__TOKNE", "x")
        .arg("--config")
        .arg(example_config())
        .arg("check-config"));
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("schedule.sync") && err.contains("sources.motcua.tokne"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 6] = [
        &["frobnicate"],
        &["--bogus-flag", "check-config"],
        &[],
        &["status", "--period", "decade"],
        &["status", "--format", "xml"],
        &["check-config", "extra-argument"],
    ];
    for args in cases {
        let o = run(dondoc(tmp.path())
            .arg("--config")
            .arg(demo_config())
            .args(args));
        assert_exit(&o, 2);
        assert!(!stderr(&o).is_empty(), "says why: {args:?}");
    }
}

#[test]
fn help_exits_0_and_lists_the_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path()).arg("--help"));
    assert_exit(&o, 0);
    let out = stdout(&o);
    for cmd in ["sync", "status", "check-config", "simulate", "history"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lists {cmd}:\n{out}"
        );
    }
    assert!(out.contains("--config"), "{out}");
    let o = run(dondoc(tmp.path()).args(["status", "--help"]));
    assert_exit(&o, 0);
    let out = stdout(&o);
    for flag in ["--as-of", "--period", "--unit", "--format"] {
        assert!(out.contains(flag), "status --help lists {flag}:\n{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------

fn status(tmp: &Path, config: &Path, args: &[&str]) -> Output {
    run(dondoc(tmp)
        .env("DONDOC__DATABASE__URL", db_url(tmp))
        .arg("--config")
        .arg(config)
        .arg("status")
        .args(args))
}

fn status_json(tmp: &Path, config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let o = status(tmp, config, &all);
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("status prints JSON ({e}):\n{}", describe(&o)))
}

fn rows(doc: &Value) -> &Vec<Value> {
    doc["rows"].as_array().expect("rows is an array")
}

#[test]
fn status_json_on_a_fresh_database_lists_every_unit_and_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = status_json(tmp.path(), &fixture("small.toml"), &[]);
    assert!(
        tmp.path().join("db/dondoc.db").exists(),
        "the database of DONDOC__DATABASE__URL was created"
    );
    assert!(
        !tmp.path().join("data").exists(),
        "not the default database"
    );
    let as_of = doc["as_of"].as_str().expect("as_of");
    chrono::DateTime::parse_from_rfc3339(as_of).unwrap_or_else(|e| panic!("as_of {as_of}: {e}"));
    assert!(as_of.ends_with("+07:00"), "local time: {as_of}");

    let rows = rows(&doc);
    let units = ["CITY", "PHUONG_1", "PHUONG_DONG_LE"];
    assert_eq!(
        rows.len(),
        units.len() * (METRICS.len() + 1),
        "8 metrics + 1 scoped row per unit"
    );
    let keys: BTreeSet<&str> = [
        "unit",
        "metric",
        "scope",
        "period",
        "period_start",
        "period_end",
        "numerator",
        "denominator",
        "value",
        "target",
        "state",
    ]
    .into();
    for r in rows {
        let obj = r.as_object().expect("a row is an object");
        for k in &keys {
            assert!(obj.contains_key(*k), "row lacks {k}: {r}");
        }
        assert_eq!(r["numerator"], 0, "{r}");
        assert_eq!(r["denominator"], 0, "{r}");
        assert!(r["value"].is_null(), "no denominator, no value: {r}");
        let period = r["period"].as_str().unwrap();
        assert!(period.len() == 7 && period.contains("-Q"), "a quarter: {r}");
        match &r["target"] {
            Value::Null => assert_eq!(r["state"], "untargeted", "{r}"),
            t => {
                assert_eq!(r["state"], "no_data", "{r}");
                let t = t.as_object().unwrap();
                assert!(
                    t.contains_key("min") != t.contains_key("max"),
                    "min or max: {r}"
                );
                assert_eq!(t["min_sample"], 20, "{r}");
            }
        }
    }
    for unit in units {
        let own: Vec<&Value> = rows.iter().filter(|r| r["unit"] == unit).collect();
        let unscoped: Vec<&str> = own
            .iter()
            .filter(|r| r["scope"].is_null())
            .map(|r| r["metric"].as_str().unwrap())
            .collect();
        assert_eq!(unscoped, METRICS, "{unit} has every metric once, in order");
        let scoped: Vec<&&Value> = own.iter().filter(|r| !r["scope"].is_null()).collect();
        assert_eq!(scoped.len(), 1, "{unit}");
        assert_eq!(scoped[0]["scope"], "land");
        assert_eq!(scoped[0]["metric"], "satisfaction_rate");
        assert_eq!(scoped[0]["target"]["min"], 85.0);
    }
    let find = |unit: &str, metric: &str| {
        rows.iter()
            .find(|r| r["unit"] == unit && r["metric"] == metric && r["scope"].is_null())
            .unwrap()
    };
    // The commitment letter's targets, and PHUONG_1's own.
    assert_eq!(find("CITY", "late_rate")["target"]["max"], 1.0);
    assert!(find("CITY", "late_rate")["target"].get("min").is_none());
    assert_eq!(find("CITY", "online_rate")["target"]["min"], 70.0);
    assert_eq!(find("PHUONG_1", "online_rate")["target"]["min"], 80.0);
    assert_eq!(find("PHUONG_DONG_LE", "edoc_rate")["target"]["min"], 80.0);
    assert!(find("CITY", "esign_rate")["target"].is_null());
    assert_eq!(find("CITY", "esign_rate")["state"], "untargeted");
}

#[test]
fn status_json_for_the_demo_config_has_21_units() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = status_json(
        tmp.path(),
        &demo_config(),
        &["--as-of", "2024-06-30T17:00:00+07:00"],
    );
    let rows = rows(&doc);
    let units: BTreeSet<&str> = rows.iter().map(|r| r["unit"].as_str().unwrap()).collect();
    assert_eq!(units.len(), 21);
    assert_eq!(rows.len(), 21 * (METRICS.len() + 1));
    assert!(units.contains("PHUONG_DONG_LE") && units.contains("DONGHA"));
}

#[test]
fn status_as_of_and_period_choose_the_period() {
    let tmp = tempfile::tempdir().unwrap();
    let config = fixture("small.toml");
    let as_of = "2024-06-30T17:00:00+07:00";
    let cases = [
        (
            "quarter",
            "2024-Q2",
            "2024-04-01T00:00:00+07:00",
            "2024-07-01T00:00:00+07:00",
        ),
        (
            "month",
            "2024-06",
            "2024-06-01T00:00:00+07:00",
            "2024-07-01T00:00:00+07:00",
        ),
        (
            "year",
            "2024",
            "2024-01-01T00:00:00+07:00",
            "2025-01-01T00:00:00+07:00",
        ),
    ];
    for (kind, period, start, end) in cases {
        let doc = status_json(tmp.path(), &config, &["--as-of", as_of, "--period", kind]);
        assert_eq!(doc["as_of"], as_of, "{kind}");
        for r in rows(&doc) {
            assert_eq!(r["period"], period, "{r}");
            assert_eq!(r["period_start"], start, "{r}");
            assert_eq!(r["period_end"], end, "{r}");
        }
    }
    // The default period is the quarter; an instant given in UTC is shown in local time.
    let doc = status_json(tmp.path(), &config, &["--as-of", "2024-06-30T17:30:00Z"]);
    assert_eq!(doc["as_of"], "2024-07-01T00:30:00+07:00");
    assert!(rows(&doc).iter().all(|r| r["period"] == "2024-Q3"));
}

#[test]
fn status_unit_keeps_one_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = status_json(tmp.path(), &fixture("small.toml"), &["--unit", "PHUONG_1"]);
    let rows = rows(&doc);
    assert_eq!(rows.len(), METRICS.len() + 1);
    assert!(rows.iter().all(|r| r["unit"] == "PHUONG_1"));
}

#[test]
fn status_with_an_unknown_unit_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = status(tmp.path(), &fixture("small.toml"), &["--unit", "NOPE"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("NOPE"), "{err}");
    assert!(stdout(&o).is_empty(), "{}", describe(&o));
}

#[test]
fn status_with_a_bad_as_of_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = status(
        tmp.path(),
        &fixture("small.toml"),
        &["--as-of", "30/06/2024"],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("30/06/2024"), "{}", describe(&o));
}

#[test]
fn status_refuses_an_invalid_config_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = status(tmp.path(), &fixture("broken.toml"), &["--format", "json"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("units[2].parent"), "{}", describe(&o));
    assert!(stdout(&o).is_empty());
    assert!(!tmp.path().join("db").exists(), "nothing opened");
}

#[test]
fn status_table_shows_vietnamese_unit_names_intact_and_aligned() {
    let tmp = tempfile::tempdir().unwrap();
    let o = status(
        tmp.path(),
        &demo_config(),
        &["--as-of", "2024-06-30T17:00:00+07:00"],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    for name in [
        "UBND Phường Đông Lễ",
        "UBND thành phố Đông Hà",
        "Phòng Lao động - Thương binh và Xã hội",
    ] {
        assert!(out.contains(name), "{name} intact:\n{out}");
    }
    // The metric column starts at the same display column on every row, whatever the name.
    let columns: BTreeSet<usize> = out
        .lines()
        .filter_map(|l| {
            METRICS
                .iter()
                .filter_map(|m| l.find(&format!("  {m}")).map(|i| i + 2))
                .min()
                .map(|i| UnicodeWidthStr::width(&l[..i]))
        })
        .collect();
    assert_eq!(
        columns.len(),
        1,
        "metric column aligned: {columns:?}\n{out}"
    );
    let rows = out
        .lines()
        .filter(|l| METRICS.iter().any(|m| l.contains(&format!("  {m}"))))
        .count();
    assert_eq!(
        rows,
        21 * (METRICS.len() + 1),
        "one line per unit and metric:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets never reach the output or the logs
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "TOKEN-s3cr3t-9f8e7d";
const PASSWORD: &str = "PASSWORD-s3cr3t-1a2b3c";

fn assert_no_secret(o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for secret in [TOKEN, PASSWORD, "s3cr3t"] {
        assert!(
            !all.contains(secret),
            "a secret is printed:\n{}",
            describe(o)
        );
    }
}

#[test]
fn check_config_says_a_token_is_set_without_printing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(dondoc(tmp.path())
        .env("DONDOC__SOURCES__MOTCUA__TOKEN", TOKEN)
        .env("DONDOC__SMTP__PASSWORD", PASSWORD)
        .env("RUST_LOG", "trace")
        .arg("--config")
        .arg(example_config())
        .arg("check-config"));
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.contains("motcua") && l.contains("token set")),
        "the env token was read: {out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.contains("qlvb") && l.contains("token set")),
        "{out}"
    );
    assert_no_secret(&o);
}

#[test]
fn status_with_debug_logs_never_prints_a_secret() {
    for format in ["text", "json"] {
        for level in ["debug", "trace"] {
            let tmp = tempfile::tempdir().unwrap();
            let o = run(dondoc(tmp.path())
                .env("DONDOC__DATABASE__URL", db_url(tmp.path()))
                .env("DONDOC__SOURCES__MOTCUA__TOKEN", TOKEN)
                .env("DONDOC__SOURCES__QLVB__TOKEN", TOKEN)
                .env("RUST_LOG", level)
                .arg("--config")
                .arg(fixture("small.toml"))
                .args(["--log-format", format, "status", "--format", "json"]));
            assert_exit(&o, 0);
            assert_no_secret(&o);
            let logs = stderr(&o);
            assert!(
                !logs.trim().is_empty(),
                "{level} logs are written: {}",
                describe(&o)
            );
            if format == "json" {
                for l in logs.lines() {
                    serde_json::from_str::<Value>(l)
                        .unwrap_or_else(|e| panic!("a JSON log line ({e}): {l}"));
                }
            }
            let o = run(dondoc(tmp.path())
                .env("DONDOC__DATABASE__URL", db_url(tmp.path()))
                .env("DONDOC__SOURCES__MOTCUA__TOKEN", TOKEN)
                .env("RUST_LOG", level)
                .arg("--config")
                .arg(fixture("small.toml"))
                .args(["--log-format", format, "status"]));
            assert_exit(&o, 0);
            assert_no_secret(&o);
        }
    }
}

/// A one-answer-fits-all upstream: records every request head and answers 503.
fn failing_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
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
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
            );
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn sync_with_trace_logs_sends_the_token_but_never_prints_it() {
    for format in ["text", "json"] {
        let (base, seen) = failing_upstream();
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("dondoc.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[database]
url = "{db}"

[sources.motcua]
kind = "one_stop"
base_url = "{base}"
max_attempts = 2
backoff_initial_ms = 1
backoff_max_secs = 1
timeout_secs = 5
connect_timeout_secs = 5

[smtp]
host = "127.0.0.1"
port = 9
from = "dondoc@example.gov.vn"

[[units]]
code = "CITY"
name = "UBND thành phố Đông Hà"
one_stop_codes = ["000.00.23.H50"]
"#,
                db = db_url(tmp.path())
            ),
        )
        .unwrap();
        let o = run(dondoc(tmp.path())
            .env("DONDOC__SOURCES__MOTCUA__TOKEN", TOKEN)
            .env("DONDOC__SMTP__PASSWORD", PASSWORD)
            .env("RUST_LOG", "trace")
            .arg("--config")
            .arg(&config)
            .args(["--log-format", format, "sync"]));
        assert_exit(&o, 1);
        let requests = seen.lock().unwrap().clone();
        assert!(requests.len() >= 2, "the request was retried: {requests:?}");
        assert!(
            requests.iter().all(|r| r
                .to_lowercase()
                .contains(&format!("authorization: bearer {}", TOKEN.to_lowercase()))),
            "the token from the environment is sent: {requests:?}"
        );
        let err = stderr(&o);
        assert!(
            err.contains("motcua"),
            "the failure names the source: {err}"
        );
        assert!(err.contains("503"), "and its cause: {err}");
        assert_no_secret(&o);
    }
}

#[test]
fn check_config_names_a_missing_required_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("dondoc.toml");
    std::fs::write(
        &config,
        "[sources.motcua]\nkind = \"one_stop\"\n\n[[units]]\ncode = \"CITY\"\nname = \"UBND thành phố\"\n",
    )
    .unwrap();
    let o = run(dondoc(tmp.path())
        .arg("--config")
        .arg(&config)
        .arg("check-config"));
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("sources.motcua.base_url"),
        "{}",
        describe(&o)
    );
}

#[test]
fn migrate_store_refuses_a_missing_source_with_exit_1_and_needs_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .args([
            "--config",
            "/nonexistent/dondoc.toml",
            "migrate-store",
            "--from",
            &format!("sqlite://{}/missing.db", dir.path().display()),
            "--to",
            "postgres://postgres@127.0.0.1:9/none",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("migrate-store: nothing was committed"),
        "{err}"
    );
    assert!(
        !dir.path().join("missing.db").exists(),
        "the source is never created"
    );
}
