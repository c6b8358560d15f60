//! Library-level tests of the configuration (`shared/spec/config.md` and the foundation issue):
//! every class of error is reported with its key path and line, several at once; environment
//! overrides; `*_file` secrets; secrets never shown by `Debug`; the shipped configs load; defaults.

use dondoc::config::load::load_with_env;
use dondoc::config::{ConfigError, Problem, Settings, TargetSpec, load_from_str};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One source and one unit: the smallest valid configuration.
const MINIMAL: &str = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[[units]]
code = "CITY"
name = "UBND thành phố Đông Hà"
"#;

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_ok(text: &str, env: &HashMap<String, String>) -> Settings {
    match load_from_str(text, env, Path::new(".")) {
        Ok(s) => s,
        Err(problems) => panic!("expected a valid configuration, got:\n{}", show(&problems)),
    }
}

fn problems_of(text: &str, env: &HashMap<String, String>) -> Vec<Problem> {
    match load_from_str(text, env, Path::new(".")) {
        Ok(s) => panic!("expected problems, the configuration was accepted: {s:?}"),
        Err(p) => {
            assert!(!p.is_empty(), "Err with no problem");
            p
        }
    }
}

fn problems(text: &str) -> Vec<Problem> {
    problems_of(text, &no_env())
}

fn show(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one problem at `path`; panics (listing them all) when there is none or several.
fn at<'a>(problems: &'a [Problem], path: &str) -> &'a Problem {
    let found: Vec<&Problem> = problems.iter().filter(|p| p.path == path).collect();
    match found.as_slice() {
        [one] => one,
        [] => panic!(
            "no problem at `{path}`; the problems are:\n{}",
            show(problems)
        ),
        _ => panic!("several problems at `{path}`:\n{}", show(problems)),
    }
}

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("`{needle}` is not in the text"))
}

/// 1-based number of the `n`-th (0-based) line of `text` equal to `line` (trimmed).
fn nth_line(text: &str, line: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == line)
        .nth(n)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no {n}-th line `{line}`"))
}

fn assert_problem(problems: &[Problem], path: &str, fragments: &[&str], line: Option<usize>) {
    let p = at(problems, path);
    for f in fragments {
        assert!(
            p.message.to_lowercase().contains(&f.to_lowercase()),
            "the problem at `{path}` should mention {f:?}: {p}"
        );
    }
    if let Some(l) = line {
        assert_eq!(p.line, Some(l), "line of the problem at `{path}`: {p}");
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// ---------------------------------------------------------------------------------------------
// Unknown keys
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_key_in_a_source_is_refused_with_its_path_and_line() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"
tokne = "abc"

[[units]]
code = "CITY"
name = "UBND thành phố"
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "sources.motcua.tokne",
        &["unknown key"],
        Some(line_of(text, "tokne")),
    );
    assert_eq!(ps.len(), 1, "only the typo is wrong:\n{}", show(&ps));
}

#[test]
fn unknown_keys_everywhere_are_each_reported() {
    let text = r#"
[databse]
url = "sqlite://data/x.db"

[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[schedule]
synk = "0 */15 * * * *"

[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "CITY"
emial = ["p1@example.gov.vn"]
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "databse",
        &["unknown key"],
        Some(line_of(text, "[databse]")),
    );
    assert_problem(
        &ps,
        "schedule.synk",
        &["unknown key"],
        Some(line_of(text, "synk")),
    );
    assert_problem(
        &ps,
        "units[1].emial",
        &["unknown key"],
        Some(line_of(text, "emial")),
    );
    assert_eq!(ps.len(), 3, "{}", show(&ps));
}

#[test]
fn unknown_key_inside_a_target_is_refused() {
    let text = format!("{MINIMAL}\n[targets]\nlate_rate = {{ maximum = 1.0 }}\n");
    let ps = problems(&text);
    assert!(
        ps.iter()
            .any(|p| p.path == "targets.late_rate.maximum" && p.message.contains("unknown key")),
        "a typo inside an inline table must be refused:\n{}",
        show(&ps)
    );
}

// ---------------------------------------------------------------------------------------------
// Missing required keys
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_sources_and_units_are_reported_together() {
    let ps = problems("[database]\nurl = \"sqlite://data/x.db\"\n");
    assert_problem(&ps, "sources", &["at least one source"], None);
    assert_problem(&ps, "units", &["at least one unit"], None);
}

#[test]
fn an_empty_file_is_refused_for_missing_sources_and_units() {
    let ps = problems("");
    at(&ps, "sources");
    at(&ps, "units");
}

#[test]
fn missing_base_url_of_a_source_is_reported_with_its_key_path() {
    let text = r#"
[sources.motcua]
kind = "one_stop"

[[units]]
code = "CITY"
name = "UBND thành phố"
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "sources.motcua.base_url",
        &["missing"],
        Some(line_of(text, "[sources.motcua]")),
    );
}

#[test]
fn missing_name_of_a_unit_is_reported_with_its_key_path() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "P1"
parent = "CITY"
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "units[1].name",
        &["missing"],
        Some(nth_line(text, "[[units]]", 1)),
    );
}

#[test]
fn a_missing_key_is_reported_together_with_the_other_problems() {
    let text = r#"
[sources.motcua]
kind = "one_stop"

[schedule]
sync = "*/15 * * * *"

[alerts]
cc = ["not-an-address"]

[[units]]
code = "CITY"
name = "UBND thành phố"
"#;
    let ps = problems(text);
    at(&ps, "sources.motcua.base_url");
    at(&ps, "schedule.sync");
    at(&ps, "alerts.cc[0]");
}

// ---------------------------------------------------------------------------------------------
// Bad values
// ---------------------------------------------------------------------------------------------

#[test]
fn a_base_url_that_is_not_a_url_is_reported() {
    let text = MINIMAL.replace(
        "https://motcua.example.gov.vn/api",
        "motcua.example.gov.vn/api",
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "sources.motcua.base_url",
        &["not a URL", "motcua.example.gov.vn/api"],
        Some(line_of(&text, "base_url")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn a_base_url_that_is_not_http_is_reported() {
    let text = MINIMAL.replace(
        "https://motcua.example.gov.vn/api",
        "ftp://motcua.example.gov.vn/api",
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "sources.motcua.base_url",
        &["http"],
        Some(line_of(&text, "base_url")),
    );
}

#[test]
fn a_bad_cron_expression_is_reported() {
    let text = format!(
        "{MINIMAL}\n[schedule]\nsync = \"every fifteen minutes\"\nalerts = \"0 0 8 * * Mon-Fri\"\n"
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "schedule.sync",
        &["cron", "every fifteen minutes"],
        Some(line_of(&text, "sync =")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn a_bad_cron_field_value_is_reported() {
    // Six fields, but hour 25 does not exist.
    let text = format!("{MINIMAL}\n[schedule]\nalerts = \"0 0 25 * * *\"\n");
    let ps = problems(&text);
    assert_problem(
        &ps,
        "schedule.alerts",
        &["cron"],
        Some(line_of(&text, "alerts =")),
    );
}

#[test]
fn a_five_field_unix_cron_expression_is_explained() {
    let text = format!("{MINIMAL}\n[schedule]\nsync = \"*/15 * * * *\"\n");
    let ps = problems(&text);
    let p = at(&ps, "schedule.sync");
    assert_eq!(p.line, Some(line_of(&text, "sync =")));
    assert!(
        p.message.contains("5 fields"),
        "should say it has 5 fields: {p}"
    );
    assert!(
        p.message.to_lowercase().contains("second"),
        "should say a seconds field is needed: {p}"
    );
    assert!(
        p.message.contains("6 or 7"),
        "should say 6 or 7 fields: {p}"
    );
}

#[test]
fn six_and_seven_field_cron_expressions_are_accepted() {
    let text = format!(
        "{MINIMAL}\n[schedule]\nsync = \"0 */5 * * * *\"\nalerts = \"0 30 7 * * Mon-Fri 2024-2099\"\n"
    );
    let s = load_ok(&text, &no_env());
    assert_eq!(s.schedule.sync, "0 */5 * * * *");
    assert_eq!(s.schedule.alerts, "0 30 7 * * Mon-Fri 2024-2099");
}

#[test]
fn an_unknown_metric_in_targets_is_reported() {
    let text = format!(
        "{MINIMAL}\n[targets]\nlate_rat = {{ max = 1.0 }}\nonline_rate = {{ min = 70.0 }}\n"
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "targets.late_rat",
        &["unknown metric", "late_rat", "late_rate"],
        Some(line_of(&text, "late_rat =")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn an_unknown_metric_in_a_unit_override_and_a_scoped_target_is_reported() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[field_groups]
land = ["G09-DD"]

[[scoped_targets]]
metric = "happiness_rate"
scope = "land"
min = 85.0

[[units]]
code = "CITY"
name = "UBND thành phố"
targets = { onlin_rate = { min = 80.0 } }
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "units[0].targets.onlin_rate",
        &["unknown metric"],
        Some(line_of(text, "onlin_rate")),
    );
    assert_problem(
        &ps,
        "scoped_targets[0].metric",
        &["unknown metric", "happiness_rate"],
        Some(line_of(text, "happiness_rate")),
    );
}

#[test]
fn a_target_with_neither_min_nor_max_is_reported() {
    let text = format!(
        "{MINIMAL}\n[targets]\nlate_rate = {{ max = 1.0 }}\nonline_rate = {{ min_sample = 5 }}\n"
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "targets.online_rate",
        &["min", "max"],
        Some(line_of(&text, "online_rate =")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn a_scoped_target_with_neither_min_nor_max_is_reported() {
    let text = format!(
        "{MINIMAL}\n[field_groups]\nland = [\"G09-DD\"]\n\n[[scoped_targets]]\nmetric = \"satisfaction_rate\"\nscope = \"land\"\n"
    );
    let ps = problems(&text);
    assert_problem(&ps, "scoped_targets[0].metric", &["min", "max"], None);
}

#[test]
fn a_scope_naming_an_unknown_field_group_is_reported() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[field_groups]
land_construction_investment = ["G09-DD", "G09-XD", "G09-DT"]

[[scoped_targets]]
metric = "satisfaction_rate"
scope = "land_constructoin_investment"
min = 85.0

[[units]]
code = "CITY"
name = "UBND thành phố"
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "scoped_targets[0].scope",
        &[
            "land_constructoin_investment",
            "field group",
            "land_construction_investment",
        ],
        Some(line_of(text, "scope =")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

// ---------------------------------------------------------------------------------------------
// Units
// ---------------------------------------------------------------------------------------------

const SOURCE: &str = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"
"#;

#[test]
fn a_unit_whose_parent_does_not_exist_is_reported() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "CITY"

[[units]]
code = "P2"
name = "UBND Phường 2"
parent = "CTY"
"#
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "units[2].parent",
        &["'CTY'", "not the code of any unit"],
        Some(line_of(&text, "\"CTY\"")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn a_cycle_of_parents_is_reported_once() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "A"
name = "Phòng A"
parent = "C"

[[units]]
code = "B"
name = "Phòng B"
parent = "A"

[[units]]
code = "C"
name = "Phòng C"
parent = "B"
"#
    );
    let ps = problems(&text);
    let cycles: Vec<&Problem> = ps.iter().filter(|p| p.message.contains("cycle")).collect();
    assert_eq!(cycles.len(), 1, "one cycle, reported once:\n{}", show(&ps));
    let p = cycles[0];
    assert!(
        ["units[1].parent", "units[2].parent", "units[3].parent"].contains(&p.path.as_str()),
        "the cycle is reported at the parent key of one of its units: {p}"
    );
    for code in ["A", "B", "C"] {
        assert!(p.message.contains(code), "the cycle names {code}: {p}");
    }
    assert!(!p.message.contains("CITY"), "CITY is not in the cycle: {p}");
    let parent_value = match p.path.as_str() {
        "units[1].parent" => "parent = \"C\"",
        "units[2].parent" => "parent = \"A\"",
        _ => "parent = \"B\"",
    };
    assert_eq!(p.line, Some(line_of(&text, parent_value)), "{p}");
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn a_unit_that_is_its_own_parent_is_reported() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "P1"
"#
    );
    let ps = problems(&text);
    let own: Vec<&Problem> = ps.iter().filter(|p| p.path == "units[1].parent").collect();
    assert!(!own.is_empty(), "{}", show(&ps));
    for p in &own {
        assert!(p.message.contains("P1"), "{p}");
        assert_eq!(p.line, Some(line_of(&text, "parent = \"P1\"")));
    }
    assert!(
        ps.iter().all(|p| p.path == "units[1].parent"),
        "{}",
        show(&ps)
    );
}

#[test]
fn a_cycle_with_no_root_is_reported_as_a_cycle() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "A"
name = "Phòng A"
parent = "B"

[[units]]
code = "B"
name = "Phòng B"
parent = "A"
"#
    );
    let ps = problems(&text);
    assert!(
        ps.iter()
            .any(|p| p.message.contains("cycle") && p.path.ends_with(".parent")),
        "{}",
        show(&ps)
    );
}

#[test]
fn more_than_one_root_is_reported() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "CITY"

[[units]]
code = "OTHER_CITY"
name = "UBND thành phố khác"
"#
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "units[2].parent",
        &["more than one root", "CITY", "OTHER_CITY"],
        // The key is absent: the line is that of its enclosing table, the third [[units]].
        Some(nth_line(&text, "[[units]]", 2)),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn an_upstream_code_claimed_by_two_units_is_reported() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"
one_stop_codes = ["000.00.23.H50"]

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "CITY"
one_stop_codes = ["000.01.23.H50"]

[[units]]
code = "P2"
name = "UBND Phường 2"
parent = "CITY"
one_stop_codes = ["000.02.23.H50"]

[[units]]
code = "P3"
name = "UBND Phường 3"
parent = "CITY"
one_stop_codes = ["000.01.23.H50", "000.03.23.H50"]
"#
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "units[3].one_stop_codes[0]",
        &["000.01.23.H50", "P1"],
        Some(line_of(
            &text,
            "one_stop_codes = [\"000.01.23.H50\", \"000.03.23.H50\"]",
        )),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn a_document_code_claimed_by_two_units_is_reported() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"
document_codes = ["UBND"]

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "CITY"
document_codes = ["P1", "UBND"]
"#
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "units[1].document_codes[1]",
        &["UBND", "CITY"],
        Some(line_of(&text, "document_codes = [\"P1\"")),
    );
}

#[test]
fn a_duplicate_unit_code_is_reported() {
    let text = format!(
        r#"{SOURCE}
[[units]]
code = "CITY"
name = "UBND thành phố"

[[units]]
code = "CITY"
name = "UBND thành phố (bis)"
parent = "CITY"
"#
    );
    let ps = problems(&text);
    assert!(
        ps.iter()
            .any(|p| p.path == "units[1].code" && p.message.contains("CITY")),
        "{}",
        show(&ps)
    );
}

// ---------------------------------------------------------------------------------------------
// E-mail addresses
// ---------------------------------------------------------------------------------------------

#[test]
fn an_invalid_cc_address_is_reported() {
    let text = format!(
        "{MINIMAL}\n[alerts]\ncc = [\"phongnoivu.example.gov.vn\", \"ok@example.gov.vn\"]\n"
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "alerts.cc[0]",
        &["phongnoivu.example.gov.vn", "e-mail"],
        Some(line_of(&text, "cc =")),
    );
    assert_eq!(ps.len(), 1, "{}", show(&ps));
}

#[test]
fn invalid_unit_admin_and_from_addresses_are_reported() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[smtp]
host = "mail.example.gov.vn"
from = "Theo dõi CCHC <dondoc-at-example.gov.vn>"

[alerts]
admin = ["cntt@example.gov.vn", "cntt@"]

[[units]]
code = "CITY"
name = "UBND thành phố"
emails = ["vanphong@example.gov.vn", "van phong@example"]
"#;
    let ps = problems(text);
    assert_problem(
        &ps,
        "smtp.from",
        &["dondoc-at-example.gov.vn"],
        Some(line_of(text, "from =")),
    );
    assert_problem(
        &ps,
        "alerts.admin[1]",
        &["cntt@"],
        Some(line_of(text, "admin =")),
    );
    assert_problem(
        &ps,
        "units[0].emails[1]",
        &["van phong@example"],
        Some(line_of(text, "emails =")),
    );
    assert_eq!(ps.len(), 3, "{}", show(&ps));
}

#[test]
fn a_named_from_address_is_accepted() {
    let text = format!(
        "{MINIMAL}\n[smtp]\nhost = \"mail.example.gov.vn\"\nfrom = \"Theo dõi CCHC <dondoc@example.gov.vn>\"\n"
    );
    let s = load_ok(&text, &no_env());
    assert_eq!(
        s.smtp.expect("smtp").from,
        "Theo dõi CCHC <dondoc@example.gov.vn>"
    );
}

// ---------------------------------------------------------------------------------------------
// Several problems at once
// ---------------------------------------------------------------------------------------------

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "not a url"
tokne = "x"

[schedule]
sync = "*/15 * * * *"

[alerts]
cc = ["nobody"]

[targets]
late_rat = { max = 1.0 }
online_rate = { min_sample = 3 }

[field_groups]
land = ["G09-DD"]

[[scoped_targets]]
metric = "satisfaction_rate"
scope = "lnad"
min = 85.0

[[units]]
code = "CITY"
name = "UBND thành phố"
one_stop_codes = ["X1"]

[[units]]
code = "P1"
name = "UBND Phường 1"
parent = "CITI"
one_stop_codes = ["X1"]

[[units]]
code = "OTHER"
name = "Another root"
"#;
    let ps = problems(text);
    let expected = [
        ("sources.motcua.tokne", "tokne"),
        ("sources.motcua.base_url", "base_url"),
        ("schedule.sync", "sync ="),
        ("alerts.cc[0]", "cc ="),
        ("targets.late_rat", "late_rat"),
        ("targets.online_rate", "online_rate"),
        ("scoped_targets[0].scope", "scope ="),
        ("units[1].parent", "\"CITI\""),
        ("units[1].one_stop_codes[0]", "one_stop_codes = [\"X1\"]\n"),
    ];
    for (path, needle) in expected {
        let p = at(&ps, path);
        let needle_line = if needle.ends_with('\n') {
            // The second occurrence: units[1]'s own list.
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim() == needle.trim())
                .nth(1)
                .map(|(i, _)| i + 1)
                .expect("second list")
        } else {
            line_of(text, needle)
        };
        assert_eq!(p.line, Some(needle_line), "line of {p}");
    }
    // OTHER is a second root.
    at(&ps, "units[2].parent");
    assert_eq!(
        ps.len(),
        expected.len() + 1,
        "exactly these problems:\n{}",
        show(&ps)
    );
}

#[test]
fn the_error_of_load_with_env_lists_every_problem_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dondoc.toml");
    let text = MINIMAL.replace("https://motcua.example.gov.vn/api", "nope")
        + "\n[schedule]\nsync = \"* * * * *\"\n";
    std::fs::write(&path, &text).unwrap();
    let err = load_with_env(&path, &no_env()).expect_err("invalid");
    match &err {
        ConfigError::Invalid { file, problems } => {
            assert_eq!(file, &path);
            assert_eq!(problems.len(), 2, "{}", show(problems));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(
        shown.contains("sources.motcua.base_url (line 4)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "schedule.sync (line {})",
            line_of(&text, "sync =")
        )),
        "{shown}"
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let path = Path::new("/nonexistent/dondoc/dondoc.toml");
    let err = load_with_env(path, &no_env()).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/dondoc/dondoc.toml"),
        "{err}"
    );
}

#[test]
fn invalid_toml_is_reported_with_its_line() {
    let text = format!("{MINIMAL}\n[schedule\nsync = \"0 * * * * *\"\n");
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{}", show(&ps));
    assert!(ps[0].message.contains("TOML"), "{}", ps[0]);
    assert_eq!(ps[0].line, Some(line_of(&text, "[schedule")));
}

#[test]
fn a_wrong_type_is_reported_with_its_key_path() {
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        "kind = \"one_stop\"\npage_size = \"many\"",
    );
    let ps = problems(&text);
    let p = at(&ps, "sources.motcua.page_size");
    assert_eq!(p.line, Some(line_of(&text, "page_size")), "{p}");
}

#[test]
fn an_unknown_source_kind_is_reported() {
    let text = MINIMAL.replace("kind = \"one_stop\"", "kind = \"one-stop\"");
    let ps = problems(&text);
    assert_problem(
        &ps,
        "sources.motcua.kind",
        &["one-stop"],
        Some(line_of(&text, "kind =")),
    );
}

#[test]
fn an_unknown_tls_mode_is_reported() {
    let text = format!(
        "{MINIMAL}\n[smtp]\nhost = \"mail.example.gov.vn\"\nfrom = \"a@example.gov.vn\"\ntls = \"ssl\"\n"
    );
    let ps = problems(&text);
    assert_problem(&ps, "smtp.tls", &["ssl"], Some(line_of(&text, "tls =")));
}

#[test]
fn a_wrong_type_in_a_unit_is_reported_with_its_key_path() {
    let text = MINIMAL.replace("name = \"UBND thành phố Đông Hà\"", "name = [\"UBND\"]");
    let ps = problems(&text);
    assert_problem(
        &ps,
        "units[0].name",
        &["string"],
        Some(line_of(&text, "name =")),
    );
}

// ---------------------------------------------------------------------------------------------
// Environment overrides
// ---------------------------------------------------------------------------------------------

#[test]
fn env_overrides_a_scalar() {
    let base = load_ok(MINIMAL, &no_env());
    assert_eq!(base.sources["motcua"].page_size, 500);
    let s = load_ok(
        MINIMAL,
        &env(&[("DONDOC__SOURCES__MOTCUA__PAGE_SIZE", "250")]),
    );
    assert_eq!(s.sources["motcua"].page_size, 250);
    let s = load_ok(
        MINIMAL,
        &env(&[("DONDOC__DATABASE__URL", "sqlite:///tmp/elsewhere.db")]),
    );
    assert_eq!(s.database.url, "sqlite:///tmp/elsewhere.db");
}

#[test]
fn env_overrides_a_value_of_the_file() {
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        "kind = \"one_stop\"\npage_size = 100",
    );
    assert_eq!(load_ok(&text, &no_env()).sources["motcua"].page_size, 100);
    let s = load_ok(
        &text,
        &env(&[("DONDOC__SOURCES__MOTCUA__PAGE_SIZE", "900")]),
    );
    assert_eq!(s.sources["motcua"].page_size, 900);
}

#[test]
fn an_env_override_is_validated_too() {
    let ps = problems_of(
        MINIMAL,
        &env(&[("DONDOC__SOURCES__MOTCUA__PAGE_SIZE", "5000")]),
    );
    let p = at(&ps, "sources.motcua.page_size");
    assert!(p.message.contains("5000"), "{p}");
    let ps = problems_of(MINIMAL, &env(&[("DONDOC__SCHEDULE__SYNC", "*/5 * * * *")]));
    assert!(at(&ps, "schedule.sync").message.contains("5 fields"));
}

#[test]
fn a_typo_in_an_env_override_is_refused() {
    let ps = problems_of(MINIMAL, &env(&[("DONDOC__SOURCES__MOTCUA__TOKNE", "abc")]));
    let p = at(&ps, "sources.motcua.tokne");
    assert!(p.message.contains("unknown key"), "{p}");
}

#[test]
fn other_environment_variables_are_ignored() {
    let s = load_ok(
        MINIMAL,
        &env(&[
            ("DONDOC_CONFIG", "/etc/dondoc/dondoc.toml"),
            ("PATH", "/usr/bin"),
            ("RUST_LOG", "debug"),
            ("DONDOCX__SMTP__HOST", "mail.example"),
        ]),
    );
    assert!(s.smtp.is_none());
}

#[test]
fn env_overrides_a_secret() {
    let text = format!(
        "{MINIMAL}\n[smtp]\nhost = \"mail.example.gov.vn\"\nfrom = \"dondoc@example.gov.vn\"\n"
    );
    let s = load_ok(&text, &no_env());
    assert!(s.smtp.as_ref().unwrap().password.is_none());
    let s = load_ok(
        &text,
        &env(&[
            ("DONDOC__SMTP__PASSWORD", "p4ss-from-env"),
            ("DONDOC__SOURCES__MOTCUA__TOKEN", "t0k-from-env"),
        ]),
    );
    assert_eq!(
        s.smtp
            .as_ref()
            .unwrap()
            .password
            .as_ref()
            .unwrap()
            .expose_secret(),
        "p4ss-from-env"
    );
    assert_eq!(
        s.sources["motcua"].token.as_ref().unwrap().expose_secret(),
        "t0k-from-env"
    );
}

#[test]
fn env_overrides_a_secret_of_the_file() {
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        "kind = \"one_stop\"\ntoken = \"from-file\"",
    );
    let s = load_ok(
        &text,
        &env(&[("DONDOC__SOURCES__MOTCUA__TOKEN", "from-env")]),
    );
    assert_eq!(
        s.sources["motcua"].token.as_ref().unwrap().expose_secret(),
        "from-env"
    );
}

#[test]
fn env_overrides_a_list_with_comma_separated_text() {
    let text = format!("{MINIMAL}\n[alerts]\ncc = [\"old@x.vn\"]\n");
    assert_eq!(load_ok(&text, &no_env()).alerts.cc, vec!["old@x.vn"]);
    let s = load_ok(&text, &env(&[("DONDOC__ALERTS__CC", "a@x.vn,b@x.vn")]));
    assert_eq!(s.alerts.cc, vec!["a@x.vn", "b@x.vn"]);
    // Also when the file has no such list, and with spaces after the commas.
    let s = load_ok(MINIMAL, &env(&[("DONDOC__ALERTS__CC", "a@x.vn, b@x.vn")]));
    assert_eq!(s.alerts.cc, vec!["a@x.vn", "b@x.vn"]);
}

#[test]
fn an_env_list_is_validated_item_by_item() {
    let ps = problems_of(
        MINIMAL,
        &env(&[("DONDOC__ALERTS__CC", "a@x.vn,not-an-address")]),
    );
    let p = at(&ps, "alerts.cc[1]");
    assert!(p.message.contains("not-an-address"), "{p}");
}

#[test]
fn env_can_supply_a_whole_missing_section_key() {
    // The file has [smtp] without host: the environment completes it.
    let text = format!("{MINIMAL}\n[smtp]\nfrom = \"dondoc@example.gov.vn\"\n");
    let s = load_ok(
        &text,
        &env(&[("DONDOC__SMTP__HOST", "mail.example.gov.vn")]),
    );
    assert_eq!(s.smtp.unwrap().host, "mail.example.gov.vn");
}

// ---------------------------------------------------------------------------------------------
// Secrets from files
// ---------------------------------------------------------------------------------------------

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("dondoc.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn token_file_is_relative_to_the_config_folder_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("etc");
    std::fs::create_dir_all(conf.join("secrets")).unwrap();
    std::fs::write(conf.join("secrets/motcua.token"), "  t0ken-in-a-file \n\n").unwrap();
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        "kind = \"one_stop\"\ntoken_file = \"secrets/motcua.token\"",
    );
    let path = write_config(&conf, &text);
    // The working directory (the package root) has no secrets/ folder: only the config's folder works.
    assert!(!Path::new("secrets/motcua.token").exists());
    let loaded = load_with_env(&path, &no_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.settings.sources["motcua"]
            .token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "t0ken-in-a-file"
    );
    assert_eq!(loaded.file, path);
}

#[test]
fn token_file_may_be_absolute() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("abs.token");
    std::fs::write(&secret, "abs-t0ken\n").unwrap();
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        &format!("kind = \"one_stop\"\ntoken_file = \"{}\"", secret.display()),
    );
    let s = load_ok(&text, &no_env());
    assert_eq!(
        s.sources["motcua"].token.as_ref().unwrap().expose_secret(),
        "abs-t0ken"
    );
}

#[test]
fn password_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp.password"), "\tp4ssw0rd-in-a-file\r\n").unwrap();
    let text = format!(
        "{MINIMAL}\n[smtp]\nhost = \"mail.example.gov.vn\"\nfrom = \"dondoc@example.gov.vn\"\npassword_file = \"smtp.password\"\n"
    );
    let path = write_config(dir.path(), &text);
    let loaded = load_with_env(&path, &no_env()).unwrap_or_else(|e| panic!("{e}"));
    let smtp = loaded.settings.smtp.unwrap();
    assert_eq!(smtp.password.unwrap().expose_secret(), "p4ssw0rd-in-a-file");
}

#[test]
fn token_file_named_by_env_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("motcua.token"), "env-named-t0ken").unwrap();
    let path = write_config(dir.path(), MINIMAL);
    let loaded = load_with_env(
        &path,
        &env(&[("DONDOC__SOURCES__MOTCUA__TOKEN_FILE", "motcua.token")]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.settings.sources["motcua"]
            .token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "env-named-t0ken"
    );
}

#[test]
fn token_and_token_file_both_set_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("motcua.token"), "file-t0ken").unwrap();
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        "kind = \"one_stop\"\ntoken = \"inline-t0ken\"\ntoken_file = \"motcua.token\"",
    );
    let path = write_config(dir.path(), &text);
    let err = load_with_env(&path, &no_env()).expect_err("both set");
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err:?}")
    };
    assert_problem(
        problems,
        "sources.motcua.token_file",
        &["token", "token_file", "both"],
        Some(line_of(&text, "token_file")),
    );
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("inline-t0ken") && !shown.contains("file-t0ken"),
        "{shown}"
    );
}

#[test]
fn password_and_password_file_both_set_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp.password"), "file-p4ss").unwrap();
    let text = format!(
        "{MINIMAL}\n[smtp]\nhost = \"mail.example.gov.vn\"\nfrom = \"dondoc@example.gov.vn\"\npassword_file = \"smtp.password\"\n"
    );
    let path = write_config(dir.path(), &text);
    let err = load_with_env(&path, &env(&[("DONDOC__SMTP__PASSWORD", "env-p4ss")]))
        .expect_err("both set");
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err:?}")
    };
    assert_problem(
        problems,
        "smtp.password_file",
        &["both"],
        Some(line_of(&text, "password_file")),
    );
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("env-p4ss") && !shown.contains("file-p4ss"),
        "{shown}"
    );
}

#[test]
fn a_missing_token_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let text = MINIMAL.replace(
        "kind = \"one_stop\"",
        "kind = \"one_stop\"\ntoken_file = \"secrets/absent.token\"",
    );
    let path = write_config(dir.path(), &text);
    let err = load_with_env(&path, &no_env()).expect_err("missing token file");
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err:?}")
    };
    let expected = dir.path().join("secrets/absent.token");
    assert_problem(
        problems,
        "sources.motcua.token_file",
        &[&expected.display().to_string()],
        Some(line_of(&text, "token_file")),
    );
}

#[test]
fn a_missing_password_file_is_an_error_naming_the_path() {
    let text = format!(
        "{MINIMAL}\n[smtp]\nhost = \"mail.example.gov.vn\"\nfrom = \"dondoc@example.gov.vn\"\npassword_file = \"/nonexistent/smtp.password\"\n"
    );
    let ps = problems(&text);
    assert_problem(
        &ps,
        "smtp.password_file",
        &["/nonexistent/smtp.password"],
        Some(line_of(&text, "password_file")),
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets never shown
// ---------------------------------------------------------------------------------------------

#[test]
fn debug_output_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qlvb.token"), "QLVB-SECRET-from-file\n").unwrap();
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"
token = "MOTCUA-SECRET-inline"

[sources.qlvb]
kind = "documents"
base_url = "https://qlvb.example.gov.vn/api"
token_file = "qlvb.token"

[smtp]
host = "mail.example.gov.vn"
username = "dondoc@example.gov.vn"
from = "dondoc@example.gov.vn"

[[units]]
code = "CITY"
name = "UBND thành phố"
"#;
    let path = write_config(dir.path(), text);
    let loaded = load_with_env(
        &path,
        &env(&[("DONDOC__SMTP__PASSWORD", "SMTP-SECRET-env")]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s = &loaded.settings;
    // The secrets are there...
    assert_eq!(
        s.sources["motcua"].token.as_ref().unwrap().expose_secret(),
        "MOTCUA-SECRET-inline"
    );
    assert_eq!(
        s.sources["qlvb"].token.as_ref().unwrap().expose_secret(),
        "QLVB-SECRET-from-file"
    );
    assert_eq!(
        s.smtp
            .as_ref()
            .unwrap()
            .password
            .as_ref()
            .unwrap()
            .expose_secret(),
        "SMTP-SECRET-env"
    );
    // ...and no Debug rendering shows them.
    let renderings = [
        format!("{s:?}"),
        format!("{s:#?}"),
        format!("{loaded:?}"),
        format!("{:?}", s.sources),
        format!("{:?}", s.smtp),
    ];
    for r in &renderings {
        assert!(!r.contains("SECRET"), "a secret is shown: {r}");
    }
    // The rest is shown (the Debug output is not simply empty).
    assert!(renderings[0].contains("mail.example.gov.vn") && renderings[0].contains("motcua"));
}

// ---------------------------------------------------------------------------------------------
// Shipped configurations and defaults
// ---------------------------------------------------------------------------------------------

#[test]
fn the_demo_config_loads_with_an_empty_env() {
    let loaded = load_with_env(&repo_file("config/dondoc.toml"), &no_env())
        .unwrap_or_else(|e| panic!("{e}"));
    let s = loaded.settings;
    assert_eq!(s.units.len(), 21);
    assert_eq!(s.units.iter().filter(|u| u.parent.is_none()).count(), 1);
    assert!(s.sources.contains_key("motcua") && s.sources.contains_key("qlvb"));
    assert!(s.simulator.enabled);
    assert!(s.units.iter().any(|u| u.name == "UBND Phường Đông Lễ"));
}

#[test]
fn the_example_config_loads_with_an_empty_env() {
    let loaded = load_with_env(&repo_file("config/dondoc.example.toml"), &no_env())
        .unwrap_or_else(|e| panic!("{e}"));
    let s = loaded.settings;
    assert_eq!(s.units.len(), 2);
    assert_eq!(s.smtp.as_ref().unwrap().host, "mail.quangtri.gov.vn");
    assert!(s.sources["motcua"].token.is_none());
    assert_eq!(s.alerts.admin, vec!["cntt@dongha.quangtri.gov.vn"]);
}

#[test]
fn the_shipped_configs_accept_secrets_from_env() {
    let e = env(&[
        ("DONDOC__SOURCES__MOTCUA__TOKEN", "x"),
        ("DONDOC__SMTP__PASSWORD", "y"),
    ]);
    let s = load_with_env(&repo_file("config/dondoc.example.toml"), &e)
        .unwrap_or_else(|e| panic!("{e}"))
        .settings;
    assert_eq!(
        s.sources["motcua"].token.as_ref().unwrap().expose_secret(),
        "x"
    );
    assert_eq!(s.smtp.unwrap().password.unwrap().expose_secret(), "y");
}

#[test]
fn a_minimal_config_gets_the_documented_defaults() {
    let s = load_ok(MINIMAL, &no_env());
    assert_eq!(s.database.url, "sqlite://data/dondoc.db");
    assert_eq!(s.schedule.sync, "0 */15 * * * *");
    assert_eq!(s.schedule.alerts, "0 0 8 * * Mon-Fri");
    assert!(s.smtp.is_none(), "no [smtp]: alerts are not mailed");
    assert!(!s.simulator.enabled);
    assert_eq!(s.simulator.listen, "127.0.0.1:8091");
    assert_eq!(s.http.listen, "127.0.0.1:9464");
    assert_eq!(s.alerts.min_sample, 20);
    assert_eq!(s.alerts.repeat_days, 7);
    assert!(s.alerts.send_resolved);
    assert!(s.alerts.cc.is_empty());
    let src = &s.sources["motcua"];
    assert_eq!(src.page_size, 500);
    assert_eq!(src.timeout_secs, 30);
    assert!(src.token.is_none());
    assert!(s.field_groups.is_empty() && s.scoped_targets.is_empty());

    // The commitment letter's targets.
    let t = |min: Option<f64>, max: Option<f64>| TargetSpec {
        min,
        max,
        min_sample: None,
    };
    let expected: Vec<(&str, TargetSpec)> = vec![
        ("apology_rate", t(Some(100.0), None)),
        ("digitized_rate", t(Some(99.0), None)),
        ("edoc_rate", t(Some(80.0), None)),
        ("late_rate", t(None, Some(1.0))),
        ("online_payment_rate", t(Some(60.0), None)),
        ("online_rate", t(Some(70.0), None)),
        ("satisfaction_rate", t(Some(99.0), None)),
    ];
    let got: Vec<(&str, TargetSpec)> = s.targets.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, expected);
    assert!(
        !s.targets.contains_key("esign_rate"),
        "esign_rate has no default target"
    );
}

#[test]
fn a_targets_section_lists_exactly_the_targeted_metrics() {
    let text = format!("{MINIMAL}\n[targets]\nesign_rate = {{ min = 50.0, min_sample = 5 }}\n");
    let s = load_ok(&text, &no_env());
    assert_eq!(s.targets.len(), 1, "{:?}", s.targets);
    assert_eq!(
        s.targets["esign_rate"],
        TargetSpec {
            min: Some(50.0),
            max: None,
            min_sample: Some(5)
        }
    );
}

#[test]
fn string_lists_accept_a_single_string() {
    let text = r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[[units]]
code = "CITY"
name = "UBND thành phố"
one_stop_codes = "000.00.23.H50"
emails = "vanphong@example.gov.vn"
"#;
    let s = load_ok(text, &no_env());
    assert_eq!(s.units[0].one_stop_codes, vec!["000.00.23.H50"]);
    assert_eq!(s.units[0].emails, vec!["vanphong@example.gov.vn"]);
}
