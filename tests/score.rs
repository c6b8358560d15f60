//! The Decision 766 score (issue 19, `../shared/spec/score766.md`, docs/score.md).
//!
//! - The counts the score adds (receipts, online receipts, dossiers rated unsatisfied, fee-bearing
//!   procedures) rule by rule, on BOTH the pure reference (`metrics::rules`) and the SQL of each
//!   backend.
//! - The points of every estimated indicator recomputed BY HAND here from a known dataset (the
//!   expected numbers are literals worked out in the comments), including 0/0 and the 90 %, 80 %
//!   and 50 % thresholds exactly met and just missed, and a parent unit that sums its subtree's
//!   counts (distinct procedures as a union), on both backends.
//! - The portal collector against a test server in the portal's shape over a real socket: the
//!   figures are stored; 429 and an HTML "request rejected" page open the circuit, which stays
//!   open (no further request reaches the server) until `portal-reset`; the politeness cap is
//!   counted at the server on the injected clock (no test sleeps).

mod common;

use common::{Backend, TestDb, for_each_backend, postgres_notice};
use dondoc::app::App;
use dondoc::config::{Settings, load_from_str};
use dondoc::domain::time::{Clock, ManualClock};
use dondoc::domain::time::{Epoch, parse_compact};
use dondoc::rates::rules::{Tally, Window, fee_procedure, tally_dossier};
use dondoc::rates::{Period, evaluate};
use dondoc::score::points::{Group, Indicator};
use dondoc::score::{self, Options, UnitScore};
use dondoc::store::Store;
use dondoc::upstream::records::{Dossier, Procedure};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

postgres_notice!();
for_each_backend!(
    receipts_count_every_dossier_received_in_the_window_whatever_its_procedure,
    unsatisfied_counts_dossiers_of_h_rated_unsatisfied_before_the_horizon,
    fee_procedures_are_those_of_fee_bearing_dossiers_received_in_the_window,
    points_of_every_indicator_recomputed_by_hand,
    the_tdgq_points_are_20_times_one_minus_the_late_rate,
);

fn at(s: &str) -> Epoch {
    parse_compact(s).expect("a date").expect("present")
}

fn q2() -> Period {
    "2024-Q2".parse().unwrap()
}

/// 2024-06-01 00:00: Q2 in progress.
fn as_of() -> Epoch {
    at("20240601000000")
}

fn window() -> Window {
    Window {
        start: q2().start(),
        horizon: q2().horizon(as_of()),
    }
}

/// An open dossier (status 4) of unit code `unit`, received 2024-04-05 08:00, due 2024-06-20
/// 17:00 (not late at the horizon), direct channel, procedure `P0`, no fee, no rating.
fn d(code: &str, unit: &str) -> Dossier {
    Dossier {
        code: code.into(),
        procedure_code: "P0".into(),
        field_code: None,
        unit_code: unit.into(),
        channel: Some(1),
        status: 4,
        received_at: Some(at("20240405080000")),
        appointed_at: Some(at("20240620170000")),
        due_at: Some(at("20240620170000")),
        ended_at: None,
        returned_at: None,
        paid_online: 0,
        fee_total: 0.0,
        digitized: false,
        first_apology_at: None,
        rating: None,
        rated_at: None,
        updated_at: at("20240405080000"),
        deleted: false,
    }
}

fn late(x: Dossier) -> Dossier {
    Dossier {
        due_at: Some(at("20240501170000")),
        appointed_at: Some(at("20240501170000")),
        ..x
    }
}

fn online(x: Dossier) -> Dossier {
    Dossier {
        channel: Some(2),
        ..x
    }
}

fn fee(x: Dossier, procedure: &str, paid: u8) -> Dossier {
    Dossier {
        procedure_code: procedure.into(),
        fee_total: 15_000.0,
        paid_online: paid,
        ..x
    }
}

fn rated(x: Dossier, level: u8, when: &str) -> Dossier {
    Dossier {
        rating: Some(level),
        rated_at: Some(at(when)),
        ..x
    }
}

/// Finished (status 10) on 2024-05-15, before its due date; with an electronic result or not.
fn result(x: Dossier, digitized: bool) -> Dossier {
    Dossier {
        status: 10,
        ended_at: Some(at("20240515100000")),
        returned_at: Some(at("20240515100000")),
        digitized,
        ..x
    }
}

fn catalogue() -> Vec<Procedure> {
    ["P0", "PA", "PB", "PC", "PD", "PE", "PF", "PG", "PH", "PI"]
        .iter()
        .map(|c| Procedure {
            code: (*c).into(),
            name: Some(format!("Thủ tục {c}")),
            field_code: None,
            field_name: None,
            level: Some(if *c == "P0" { 4 } else { 2 }),
        })
        .collect()
}

async fn store_with(backend: Backend, dossiers: &[Dossier]) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url, 2).await.expect("open the store");
    let now = at("20240601000000");
    store
        .replace_procedures("motcua", &catalogue(), &[], now)
        .await
        .unwrap();
    let n = store
        .store_dossier_page("motcua", "ho-so", dossiers, &[], None, now)
        .await
        .unwrap();
    assert_eq!(n as usize, dossiers.len());
    (db, store)
}

/// The SQL's counts after checking them against the pure reference, dossier by dossier.
async fn checked_tally(store: &Store, dossiers: &[Dossier], w: Window) -> Tally {
    let mut reference = Tally::default();
    for x in dossiers {
        reference += tally_dossier(x, Some(Some(2)), w);
    }
    let mut sql = Tally::default();
    for g in store.dossier_tallies(w.start, w.horizon).await.unwrap() {
        sql += g.tally;
    }
    // The score's fields only (the catalogue levels of the reference are not the store's).
    let pick = |t: &Tally| {
        (
            t.received,
            t.received_online,
            t.unsatisfied,
            t.handled,
            t.late,
        )
    };
    assert_eq!(pick(&sql), pick(&reference), "SQL (left) vs reference");
    sql
}

// ---------------------------------------------------------------------------------------------
// The new counts, rule by rule

async fn receipts_count_every_dossier_received_in_the_window_whatever_its_procedure(
    backend: Backend,
) {
    let ds = vec![
        d("R1", "U"),
        online(d("R2", "U")),
        // Online, level 2 procedure: counts for CLGQ although not in online_rate's O.
        online(fee(d("R3", "U"), "PA", 0)),
        // Received before the window (carried over, open): in H, not a receipt of the window.
        online(Dossier {
            received_at: Some(at("20240331235959")),
            ..d("R4", "U")
        }),
        // Received exactly at the horizon: not seen.
        online(Dossier {
            received_at: Some(as_of()),
            ..d("R5", "U")
        }),
        // Not accepted (status 3): out of scope.
        online(Dossier {
            status: 3,
            ..d("R6", "U")
        }),
        // Postal channel.
        Dossier {
            channel: Some(3),
            ..d("R7", "U")
        },
    ];
    let (_db, store) = store_with(backend, &ds).await;
    let t = checked_tally(&store, &ds, window()).await;
    assert_eq!((t.received_online, t.received), (2, 4));
    assert_eq!(t.handled, 5, "R4 is in H");
}

async fn unsatisfied_counts_dossiers_of_h_rated_unsatisfied_before_the_horizon(backend: Backend) {
    let ds = vec![
        rated(d("S1", "U"), 3, "20240510100000"),
        // Satisfied ratings are not unsatisfied.
        rated(d("S2", "U"), 1, "20240510100000"),
        rated(d("S3", "U"), 2, "20240510100000"),
        // Rated unsatisfied after the horizon: not seen yet.
        rated(d("S4", "U"), 3, "20240601000000"),
        // Finished before the period (not in H), rated unsatisfied in the period: not counted.
        rated(
            Dossier {
                status: 10,
                received_at: Some(at("20240301080000")),
                ended_at: Some(at("20240320080000")),
                returned_at: Some(at("20240320080000")),
                ..d("S5", "U")
            },
            3,
            "20240405100000",
        ),
        // Carried over, still open, rated unsatisfied in Q1: in H, counted.
        rated(
            Dossier {
                received_at: Some(at("20240301080000")),
                ..d("S6", "U")
            },
            3,
            "20240310100000",
        ),
        // Late and unsatisfied: counted in both (the formula subtracts both shares).
        rated(late(d("S7", "U")), 3, "20240520100000"),
    ];
    let (_db, store) = store_with(backend, &ds).await;
    let t = checked_tally(&store, &ds, window()).await;
    assert_eq!(t.unsatisfied, 3, "S1, S6, S7");
    assert_eq!((t.late, t.handled), (1, 6));
}

async fn fee_procedures_are_those_of_fee_bearing_dossiers_received_in_the_window(backend: Backend) {
    let ds = vec![
        fee(d("F1", "U1"), "PA", 0),
        fee(d("F2", "U1"), "PA", 1),
        fee(d("F3", "U1"), "PB", 3), // paid by another channel: not online
        fee(d("F4", "U2"), "PB", 2),
        fee(d("F5", "U2"), "PC", 0),
        // Fee 0: not fee-bearing.
        Dossier {
            fee_total: 0.0,
            ..fee(d("F6", "U2"), "PD", 1)
        },
        // Received before the window.
        Dossier {
            received_at: Some(at("20240320080000")),
            ..fee(d("F7", "U2"), "PE", 1)
        },
        // Deleted.
        Dossier {
            deleted: true,
            ..fee(d("F8", "U2"), "PF", 1)
        },
    ];
    let (_db, store) = store_with(backend, &ds).await;
    let w = window();
    let mut reference: BTreeMap<(String, String), bool> = BTreeMap::new();
    for x in &ds {
        if let Some((p, paid)) = fee_procedure(x, w) {
            *reference
                .entry((x.unit_code.clone(), p.to_string()))
                .or_default() |= paid;
        }
    }
    let sql: BTreeMap<(String, String), bool> = store
        .fee_procedures_many(&[(w.start, w.horizon)])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .into_iter()
        .map(|f| ((f.unit_code, f.procedure_code), f.paid_online))
        .collect();
    assert_eq!(sql, reference, "SQL (left) vs fee_procedure");
    let expected: BTreeMap<(String, String), bool> = [
        (("U1", "PA"), true),
        (("U1", "PB"), false),
        (("U2", "PB"), true),
        (("U2", "PC"), false),
    ]
    .into_iter()
    .map(|((u, p), b)| ((u.to_string(), p.to_string()), b))
    .collect();
    assert_eq!(sql, expected);
}

// ---------------------------------------------------------------------------------------------
// Points by hand

const UNITS: &str = r#"
[sources.motcua]
kind = "one_stop"
base_url = "http://127.0.0.1:9"

[[units]]
code = "CITY"
name = "UBND thành phố"
one_stop_codes = ["CODE_CITY"]

[[units]]
code = "A"
name = "Phường A"
parent = "CITY"
one_stop_codes = ["CODE_A"]
emails = ["phuonga@city.example.gov.vn"]

[[units]]
code = "B"
name = "Phường B"
parent = "CITY"
one_stop_codes = ["CODE_B"]

[[units]]
code = "C"
name = "Phường C"
parent = "CITY"
one_stop_codes = ["CODE_C"]

[[units]]
code = "D"
name = "Phường D"
parent = "CITY"
one_stop_codes = ["CODE_D"]
"#;

fn settings(db_url: &str, extra: &str) -> Settings {
    let text = format!("[database]\nurl = \"{db_url}\"\n{UNITS}\n{extra}");
    load_from_str(&text, &HashMap::new(), Path::new("."))
        .unwrap_or_else(|p| panic!("test config: {p:?}"))
}

/// The known dataset (see the expected points in the test below).
fn dataset() -> Vec<Dossier> {
    let a = |i: usize| d(&format!("A{i}"), "CODE_A");
    let b = |i: usize| d(&format!("B{i}"), "CODE_B");
    let c = |i: usize| d(&format!("C{i}"), "CODE_C");
    vec![
        // Unit A: 10 dossiers of H, 2 late (A0, A1), 1 rated unsatisfied (A2); 3 online
        // receipts (A3..A5); 5 fee-bearing (A0 PA paid 1, A3 PA paid 2, A1 PB 0, A2 PB paid 3,
        // A6 PC 0): 2 paid online, procedures PA paid / PB, PC not; results A6..A9, 3 with an
        // electronic file.
        late(fee(a(0), "PA", 1)),
        late(fee(a(1), "PB", 0)),
        rated(fee(a(2), "PB", 3), 3, "20240510100000"),
        online(fee(a(3), "PA", 2)),
        online(a(4)),
        online(a(5)),
        result(fee(a(6), "PC", 0), true),
        result(a(7), true),
        result(a(8), true),
        result(a(9), false),
        // Unit B: every threshold met exactly. 10 of H, 1 late (B0): MDHL 9/10 = 90 %;
        // 5 online receipts of 10 = 50 %; 5 fee-bearing procedures, 4 paid online = 80 %;
        // no results (0/0).
        late(online(fee(b(0), "PA", 1))),
        online(fee(b(1), "PD", 1)),
        online(fee(b(2), "PE", 2)),
        online(fee(b(3), "PF", 1)),
        online(fee(b(4), "PG", 0)),
        b(5),
        b(6),
        b(7),
        b(8),
        b(9),
        // Unit C: every threshold just missed. 10 of H, 1 late (C0), 1 unsatisfied (C1):
        // MDHL 8/10; 4 online of 10; procedures 3 of 4 (PA not paid here); 1 result with a file.
        late(online(fee(c(0), "PA", 0))),
        rated(online(fee(c(1), "PD", 1)), 3, "20240512100000"),
        online(fee(c(2), "PH", 1)),
        online(fee(c(3), "PI", 1)),
        result(c(4), true),
        c(5),
        c(6),
        c(7),
        c(8),
        c(9),
        // Unit D: nothing.
    ]
}

fn ind(u: &UnitScore, i: Indicator) -> (i64, i64, i64) {
    let s = u.estimate.indicator(i).expect("every indicator is listed");
    (s.numerator, s.denominator, s.cents)
}

fn group(u: &UnitScore, g: Group) -> Option<i64> {
    u.estimate
        .group(g)
        .expect("every group is listed")
        .estimated_cents
}

async fn points_of_every_indicator_recomputed_by_hand(backend: Backend) {
    let (db, store) = store_with(backend, &dataset()).await;
    let s = settings(&db.url, "");
    let set = score::compute(
        &store,
        &s,
        q2(),
        q2().start(),
        q2().end(),
        as_of(),
        Options { codes_cap: 5 },
    )
    .await
    .unwrap();
    let unit = |code: &str| set.unit(code).unwrap_or_else(|| panic!("{code}"));
    use Indicator::*;

    // Unit A.
    let a = unit("A");
    // TDGQ: 20 × 8/10 = 16.00
    assert_eq!(ind(a, OnTime), (8, 10, 1600));
    // TTTT dossiers: 6 × 2/5 = 2.40
    assert_eq!(ind(a, PaidOnline), (2, 5, 240));
    // TTTT procedures: min(2, 2.5 × 1/3) = 0.8333… → 0.83
    assert_eq!(ind(a, ProceduresPaidOnline), (1, 3, 83));
    // MDHL: r = 1 − (2 + 1)/10 = 0.7; min(6, 6 × 0.7 / 0.9) = 4.666… → 4.67
    assert_eq!(ind(a, Satisfaction), (7, 10, 467));
    // MDSH: 6 × 3/4 = 4.50
    assert_eq!(ind(a, ElectronicResult), (3, 4, 450));
    // CLGQ: 6 × min(1, 0.3/0.5) = 3.60
    assert_eq!(ind(a, OnlineSubmission), (3, 10, 360));
    assert_eq!(group(a, Group::Tttt), Some(323));
    assert_eq!(group(a, Group::Ckmb), None, "not estimated");
    // 16.00 + 3.60 + 3.23 + 4.67 + 4.50
    assert_eq!(a.estimate.estimated_cents(), 3200);
    assert_eq!(a.estimate.estimable_max_cents(), 4600);

    // Unit B: thresholds met exactly.
    let b = unit("B");
    assert_eq!(ind(b, OnTime), (9, 10, 1800));
    assert_eq!(ind(b, Satisfaction), (9, 10, 600), "full at 90 %");
    assert_eq!(ind(b, ProceduresPaidOnline), (4, 5, 200), "full at 80 %");
    assert_eq!(ind(b, OnlineSubmission), (5, 10, 600), "full at 50 %");
    assert_eq!(ind(b, PaidOnline), (4, 5, 480));
    assert_eq!(ind(b, ElectronicResult), (0, 0, 0), "0/0 is worth 0");
    assert!(
        b.estimate
            .indicator(ElectronicResult)
            .unwrap()
            .ratio()
            .is_none()
    );
    // 18 + 6 + (4.80 + 2) + 6 + 0
    assert_eq!(b.estimate.estimated_cents(), 3680);

    // Unit C: thresholds just missed.
    let c = unit("C");
    // MDHL: 6 × 0.8 / 0.9 = 5.333… → 5.33
    assert_eq!(ind(c, Satisfaction), (8, 10, 533));
    // TTTT procedures: 2.5 × 3/4 = 1.875 → 1.88 (half up)
    assert_eq!(ind(c, ProceduresPaidOnline), (3, 4, 188));
    // CLGQ: 6 × 0.4/0.5 = 4.80
    assert_eq!(ind(c, OnlineSubmission), (4, 10, 480));
    assert_eq!(ind(c, PaidOnline), (3, 4, 450));
    assert_eq!(ind(c, ElectronicResult), (1, 1, 600));
    // 18 + 4.80 + (4.50 + 1.88) + 5.33 + 6
    assert_eq!(c.estimate.estimated_cents(), 4051);

    // Unit D: every indicator 0/0.
    let dd = unit("D");
    for i in Indicator::ALL {
        assert_eq!(ind(dd, i), (0, 0, 0), "{i:?}");
    }
    assert_eq!(dd.estimate.estimated_cents(), 0);
    assert!(dd.win_back.is_empty(), "nothing to win from nothing");

    // The city sums its subtree's counts; procedures are a union (PA paid in A and B counts once;
    // the sum of the children's counts would be 8 of 12).
    let city = unit("CITY");
    // TDGQ: 20 × 26/30 = 17.333… → 17.33
    assert_eq!(ind(city, OnTime), (26, 30, 1733));
    // MDHL: 1 − (4 + 2)/30 = 0.8 → 5.33
    assert_eq!(ind(city, Satisfaction), (24, 30, 533));
    // CLGQ: 12/30 = 0.4 → 4.80
    assert_eq!(ind(city, OnlineSubmission), (12, 30, 480));
    // TTTT dossiers: 6 × 9/14 = 3.857… → 3.86
    assert_eq!(ind(city, PaidOnline), (9, 14, 386));
    // TTTT procedures: PA PB PC PD PE PF PG PH PI, paid PA PD PE PF PH PI: 2.5 × 6/9 → 1.67
    assert_eq!(ind(city, ProceduresPaidOnline), (6, 9, 167));
    // MDSH: 4/5 → 4.80
    assert_eq!(ind(city, ElectronicResult), (4, 5, 480));
    assert_eq!(
        city.estimate.estimated_cents(),
        1733 + 480 + 386 + 167 + 533 + 480
    );

    // What wins points back, best first, with concrete counts.
    let w = &a.win_back;
    assert!(!w.is_empty());
    assert!(
        w.windows(2)
            .all(|p| p[0].win.gain_cents >= p[1].win.gain_cents),
        "ranked by points"
    );
    let fix = w
        .iter()
        .find(|x| x.win.indicator == ElectronicResult && x.win.kind == score::points::WinKind::Fix)
        .expect("A can attach the missing electronic result");
    // 1 result without a file: attaching it gives 6.00 − 4.50 = 1.50 points; the action list
    // names the dossier.
    assert_eq!((fix.win.count, fix.win.gain_cents), (1, 150));
    assert_eq!(fix.codes, ["A9"]);
    assert!(
        fix.text.contains("Bổ sung tệp kết quả điện tử cho 1 hồ sơ") && fix.text.contains("+1,50"),
        "{}",
        fix.text
    );
    // The procedures: 80 % of 3 = 2.4 → 3 procedures; 2 more (PB and PC) reach the maximum.
    let procs = w
        .iter()
        .find(|x| x.win.indicator == ProceduresPaidOnline)
        .unwrap();
    assert_eq!((procs.win.count, procs.win.gain_cents), (2, 200 - 83));
    // Online payment: Q2 is 61 of 91 days old at the horizon: the pace of 5 fee dossiers brings
    // 5 × 30/61 → 2 more; 4 of 7 paid: 6 × 4/7 = 3.43, +1.03.
    let paid = w.iter().find(|x| x.win.indicator == PaidOnline).unwrap();
    assert_eq!((paid.win.count, paid.win.gain_cents), (2, 343 - 240));
    assert!(
        paid.text
            .contains("Thêm 2 hồ sơ thanh toán trực tuyến trong quý này: +1,03 điểm")
    );
}

async fn the_tdgq_points_are_20_times_one_minus_the_late_rate(backend: Backend) {
    let (db, store) = store_with(backend, &dataset()).await;
    let s = settings(&db.url, "");
    for (p, t) in [
        (q2(), as_of()),
        ("2024-05".parse::<Period>().unwrap(), as_of()),
        ("2024".parse::<Period>().unwrap(), at("20240520120000")),
    ] {
        let set = score::compute(
            &store,
            &s,
            p,
            p.start(),
            p.end(),
            t,
            Options { codes_cap: 0 },
        )
        .await
        .unwrap();
        let ev = evaluate(&store, &s, p, t).await.unwrap();
        for u in &set.units {
            let row = ev
                .rows
                .iter()
                .find(|r| {
                    r.unit == u.unit
                        && r.metric == dondoc::domain::Metric::LateRate
                        && r.scope.is_none()
                })
                .unwrap();
            let (n, d, cents) = ind(u, Indicator::OnTime);
            assert_eq!((n, d), (row.denominator - row.numerator, row.denominator));
            let expected = row.value.map(|v| 20.0 * (1.0 - v)).unwrap_or(0.0);
            assert!(
                (cents as f64 / 100.0 - expected).abs() <= 0.005 + 1e-9,
                "{} {p}: {cents} vs {expected}",
                u.unit
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The portal collector

mod portal {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use dondoc::score::portal::Waiter;
    use serde_json::{Value, json};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How the test portal answers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        Ok,
        TooMany,
        Html,
        Unavailable,
    }

    /// One request as the server saw it: when (on the shared clock), the report, the body, the
    /// User-Agent.
    pub type Hit = (chrono::DateTime<chrono::Utc>, String, Value, String);

    /// A server in the portal's shape: it records every request's instant on the shared manual
    /// clock, its body and User-Agent, and the most requests ever in flight at once.
    pub struct Portal {
        pub clock: Arc<ManualClock>,
        pub mode: Mutex<Mode>,
        pub hits: Mutex<Vec<Hit>>,
        in_flight: AtomicUsize,
        pub max_in_flight: AtomicUsize,
        /// Units per page the server pages its answer by.
        pub page_size: usize,
    }

    fn unit_row(code: &str, endpoint: &str) -> Value {
        // Scores per endpoint and unit, fixed so that the test can check what was stored.
        let (score, max) = match endpoint {
            "dvc-progress-tree" => (15.68, 20.0),
            "transparency" => (17.5, 18.0),
            "provide-online-tree" => (9.0, 12.0),
            "formality-online-payment-tree" => (7.25, 10.0),
            "handling-satisfaction" => (16.0, 18.0),
            _ => (20.0, 22.0),
        };
        let bonus = if code == "PORTAL_A" { 1.0 } else { 0.0 };
        json!({
            "departmentCode": code,
            "departmentName": format!("Đơn vị {code}"),
            "departmentLevel": "COMMUNE",
            "totalReceived": if code == "PORTAL_A" { 7 } else { 30 },
            "totalOnTime": 5,
            "totalOverdue": 2,
            "totalScore": score - bonus,
            "totalMaxScore": max,
            "metrics": [{"code": "M1", "numerator": 5, "denominator": 7, "ratio": 0.714, "score": score - bonus, "maxScore": max}],
        })
    }

    async fn answer(
        State(p): State<Arc<Portal>>,
        axum::extract::Path(endpoint): axum::extract::Path<String>,
        headers: HeaderMap,
        body: String,
    ) -> Response {
        let now = p.clock.now();
        let inside = p.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        p.max_in_flight.fetch_max(inside, Ordering::SeqCst);
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        p.hits
            .lock()
            .unwrap()
            .push((now, endpoint.clone(), body.clone(), agent));
        // A little work inside the handler, so that overlapping requests would be seen.
        tokio::task::yield_now().await;
        let mode = *p.mode.lock().unwrap();
        let out = match mode {
            Mode::TooMany => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
            Mode::Html => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><body>The requested URL was rejected. Please consult with your administrator.</body></html>",
            )
                .into_response(),
            Mode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
            Mode::Ok => {
                // The root row with two units as children; paged by `page_size` over the
                // children, 1-based `currentPage`.
                let all = ["PORTAL_CITY", "PORTAL_A", "PORTAL_OTHER"];
                let page = body["currentPage"].as_u64().unwrap_or(1) as usize;
                let pages = all.len().div_ceil(p.page_size);
                let rows: Vec<Value> = all
                    .iter()
                    .skip((page - 1) * p.page_size)
                    .take(p.page_size)
                    .map(|c| unit_row(c, &endpoint))
                    .collect();
                axum::Json(json!({"data": {"content": rows, "totalPages": pages, "currentPage": page}}))
                    .into_response()
            }
        };
        p.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    pub async fn start(clock: Arc<ManualClock>, page_size: usize) -> (String, Arc<Portal>) {
        let p = Arc::new(Portal {
            clock,
            mode: Mutex::new(Mode::Ok),
            hits: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            page_size,
        });
        let app = axum::Router::new()
            .route(
                "/api/v1/reporting/evaluation/{endpoint}",
                axum::routing::post(answer),
            )
            .with_state(p.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}"), p)
    }

    /// Waits by advancing the manual clock (no test sleeps), and records every wait.
    pub struct ClockWaiter {
        pub clock: Arc<ManualClock>,
        pub waits: Mutex<Vec<std::time::Duration>>,
    }

    impl Waiter for ClockWaiter {
        fn wait(&self, d: std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            self.waits.lock().unwrap().push(d);
            self.clock
                .advance(chrono::Duration::from_std(d).unwrap_or_default());
            Box::pin(async {})
        }
    }

    pub fn portal_section(base: &str) -> String {
        format!(
            r#"
[portal]
base_url = "{base}"
root_department_id = "ROOT_44"
contact = "cntt@city.example.gov.vn"
departments = {{ CITY = "PORTAL_CITY", A = "PORTAL_A" }}
min_interval_ms = 1000
jitter_ms = 300
max_attempts = 3
backoff_initial_ms = 2000
page_size = 2
"#
        )
    }

    /// 2024-11-15 06:30 local: a day with no just-ended period (3 periods × 6 reports).
    pub fn collection_time() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2024-11-15T06:30:00+07:00")
            .unwrap()
            .to_utc()
    }

    pub async fn setup(
        db: &TestDb,
        dossiers: &[Dossier],
    ) -> (App, Arc<Portal>, Arc<ManualClock>, Arc<ClockWaiter>) {
        let clock = Arc::new(ManualClock::new(collection_time()));
        let (base, server) = start(clock.clone(), 2).await;
        let s = settings(&db.url, &portal_section(&base));
        let app = App::build(s, clock.clone()).await.unwrap();
        app.store
            .store_dossier_page("motcua", "ho-so", dossiers, &[], None, 0)
            .await
            .unwrap();
        let waiter = Arc::new(ClockWaiter {
            clock: clock.clone(),
            waits: Mutex::new(Vec::new()),
        });
        (app, server, clock, waiter)
    }
}

for_each_backend!(
    a_collection_stores_the_published_figures_beside_the_estimate,
    the_dashboard_report_and_digest_show_the_points_in_vietnamese,
    the_circuit_opens_on_429_and_stays_open_until_reset,
    the_circuit_opens_on_an_html_page_and_stays_open,
    the_politeness_cap_holds_at_the_server,
    server_errors_are_retried_a_few_times_with_backoff_then_the_job_fails_closed,
);

async fn a_collection_stores_the_published_figures_beside_the_estimate(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Unit A handles 30 dossiers in Q4 at dondoc; the portal counts 7 of them: a sync gap.
    let ds: Vec<Dossier> = (0..30)
        .map(|i| Dossier {
            received_at: Some(at("20241005080000")),
            due_at: Some(at("20241220170000")),
            ..d(&format!("Q{i}"), "CODE_A")
        })
        .collect();
    let (app, server, clock, waiter) = portal::setup(&db, &ds).await;
    let now = clock.now().timestamp();
    let report = collect(&app, waiter.clone(), now).await.expect("collected");
    assert_eq!(report.periods, ["2024-11", "2024-Q4", "2024"]);
    // 3 periods × 6 reports × 2 pages (3 rows, 2 per page).
    let hits = server.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 36);
    assert_eq!(report.requests, 36);
    // CITY and A in each report and period; PORTAL_OTHER is no configured unit.
    assert_eq!(report.figures, 3 * 6 * 2);
    let (_, endpoint, body, agent) = &hits[0];
    assert_eq!(endpoint, "transparency");
    assert_eq!(body["timeType"], "MONTH");
    assert_eq!(body["month"], 11);
    assert_eq!(body["year"], 2024);
    assert_eq!(body["rootDepartmentId"], "ROOT_44");
    assert_eq!(
        (body["currentPage"].clone(), body["pageSize"].clone()),
        (json!(1), json!(2))
    );
    assert!(
        agent.starts_with("dondoc/") && agent.contains("cntt@city.example.gov.vn"),
        "{agent}"
    );
    let satisfaction = hits
        .iter()
        .find(|h| h.1 == "handling-satisfaction" && h.2["timeType"] == "QUARTER")
        .unwrap();
    assert_eq!(satisfaction.2["quarter"], 4);
    assert_eq!(satisfaction.2["fromDate"], "2024-10-01");
    assert_eq!(satisfaction.2["toDate"], "2024-12-31");

    // Stored as their own series, and shown beside the estimate.
    let figures = app.store.portal_figures("2024-Q4").await.unwrap();
    assert_eq!(figures.len(), 12);
    let tdgq_a = figures
        .iter()
        .find(|f| f.unit == "A" && f.group == "TDGQ")
        .unwrap();
    assert_eq!(
        (tdgq_a.score, tdgq_a.max_score, tdgq_a.received),
        (Some(14.68), Some(20.0), Some(7))
    );
    assert_eq!(tdgq_a.department, "PORTAL_A");
    assert_eq!(tdgq_a.day, "2024-11-15");
    let detail: Value = serde_json::from_str(&tdgq_a.detail).unwrap();
    assert_eq!(detail["totalOverdue"], 2);
    assert_eq!(detail["metrics"][0]["numerator"], 5);
    assert!(detail.get("departmentName").is_none(), "numbers only");

    let p: Period = "2024-Q4".parse().unwrap();
    let set = score::compute(
        &app.store,
        &app.settings,
        p,
        p.start(),
        p.end(),
        now,
        Options { codes_cap: 0 },
    )
    .await
    .unwrap();
    let a = set.unit("A").unwrap();
    let published = a
        .published
        .as_ref()
        .expect("published figures beside the estimate");
    assert_eq!(published.groups["TDGQ"], 14.68);
    // 17.5 + 15.68 + 9 + 7.25 + 16 + 20, each less 1 for A
    assert_eq!(published.total(), 79.43);
    assert!(set.unit("B").unwrap().published.is_none());
    let json = score::to_json(&set);
    let ja = json["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == "A")
        .unwrap();
    assert_eq!(ja["published"]["groups"]["TDGQ"], 14.68);
    assert_eq!(ja["published"]["total"], 79.43);
    assert!(
        ja["published"]["fetched_at"]
            .as_str()
            .unwrap()
            .ends_with("+07:00")
    );

    // The data-quality comparison: the portal counts 7 of dondoc's 30 dossiers; its TDGQ is
    // 14.68 against dondoc's 20.00.
    let tol = score::Tolerance {
        points: 1.0,
        count_pct: 5.0,
    };
    let gaps = score::discrepancies(&set, tol);
    let of_a: Vec<&str> = gaps
        .iter()
        .filter(|g| g.unit == "A")
        .map(|g| g.text.as_str())
        .collect();
    assert_eq!(of_a.len(), 2, "{of_a:?}");
    assert!(
        of_a[0].contains("Cổng công bố 7 hồ sơ, dondoc đếm 30 hồ sơ"),
        "{of_a:?}"
    );
    assert!(of_a[0].contains("chưa được đồng bộ"), "{of_a:?}");
    assert!(
        of_a[1].contains("14,68") && of_a[1].contains("20,00"),
        "{of_a:?}"
    );
    let lenient = score::discrepancies(
        &set,
        score::Tolerance {
            points: 10.0,
            count_pct: 90.0,
        },
    );
    assert!(lenient.iter().all(|g| g.unit != "A"), "{lenient:?}");

    // A second collection the same day replaces that day's figures, never duplicates them.
    clock.advance(chrono::Duration::hours(1));
    collect(&app, waiter, clock.now().timestamp())
        .await
        .unwrap();
    assert_eq!(app.store.portal_figures("2024-Q4").await.unwrap().len(), 12);
    let circuit = app.store.portal_circuit().await.unwrap();
    assert!(!circuit.open && circuit.last_success_at.is_some());
}

async fn opens_and_stays_open(backend: Backend, mode: portal::Mode, reason: &str) {
    let db = TestDb::new(backend).await;
    let (app, server, clock, waiter) = portal::setup(&db, &[]).await;
    *server.mode.lock().unwrap() = mode;
    let err = collect(&app, waiter.clone(), clock.now().timestamp())
        .await
        .unwrap_err();
    assert!(matches!(err, PortalError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("portal-reset"), "{err}");
    assert_eq!(
        server.hits.lock().unwrap().len(),
        1,
        "no retry after a refusal"
    );
    let c = app.store.portal_circuit().await.unwrap();
    assert!(c.open);
    assert!(c.reason.as_deref().unwrap_or("").contains(reason), "{c:?}");

    // Stays open: the next days' collections make no request, even once the portal is fine.
    *server.mode.lock().unwrap() = portal::Mode::Ok;
    for _ in 0..3 {
        clock.advance(chrono::Duration::days(1));
        let err = collect(&app, waiter.clone(), clock.now().timestamp())
            .await
            .unwrap_err();
        assert!(matches!(err, PortalError::CircuitOpen { .. }), "{err}");
    }
    assert_eq!(server.hits.lock().unwrap().len(), 1, "the circuit held");
    // Also across a restart: a new App on the same database.
    let again = App::build((*app.settings).clone(), clock.clone())
        .await
        .unwrap();
    assert!(matches!(
        collect(&again, waiter.clone(), clock.now().timestamp()).await,
        Err(PortalError::CircuitOpen { .. })
    ));
    assert_eq!(server.hits.lock().unwrap().len(), 1);

    // A person resets it: collection resumes.
    let before = reset(&app).await.unwrap();
    assert!(before.open);
    collect(&app, waiter, clock.now().timestamp())
        .await
        .unwrap();
    assert!(server.hits.lock().unwrap().len() > 1);
    assert!(!app.store.portal_circuit().await.unwrap().open);
}

use dondoc::score::portal::{PortalError, collect, reset};
use serde_json::{Value, json};

async fn the_circuit_opens_on_429_and_stays_open_until_reset(backend: Backend) {
    opens_and_stays_open(backend, portal::Mode::TooMany, "HTTP 429").await
}

async fn the_circuit_opens_on_an_html_page_and_stays_open(backend: Backend) {
    opens_and_stays_open(backend, portal::Mode::Html, "HTML").await
}

async fn the_politeness_cap_holds_at_the_server(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (app, server, clock, waiter) = portal::setup(&db, &[]).await;
    let started = clock.now();
    collect(&app, waiter.clone(), started.timestamp())
        .await
        .unwrap();
    let hits = server.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 36);
    assert_eq!(
        server
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one request at a time"
    );
    // Counted at the server on the clock it shares with the collector: at least 1 s between
    // two requests, so never 2 requests within any second.
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for (t, ..) in &hits {
        *per_second.entry(t.timestamp()).or_default() += 1;
    }
    assert!(per_second.values().all(|n| *n == 1), "{per_second:?}");
    for pair in hits.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= chrono::Duration::milliseconds(1000)
                && gap <= chrono::Duration::milliseconds(1300),
            "gap {gap} between two requests"
        );
    }
    // The jitter varies the gaps (35 gaps drawn from 0..=300 ms are not all equal).
    let gaps: BTreeSet<i64> = hits
        .windows(2)
        .map(|p| (p[1].0 - p[0].0).num_milliseconds())
        .collect();
    assert!(gaps.len() > 1, "jitter: {gaps:?}");
    // 36 requests took at least 35 s of the collector's time; nothing slept in this test.
    assert!(clock.now() - started >= chrono::Duration::seconds(35));
}

async fn server_errors_are_retried_a_few_times_with_backoff_then_the_job_fails_closed(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let (app, server, clock, waiter) = portal::setup(&db, &[]).await;
    *server.mode.lock().unwrap() = portal::Mode::Unavailable;
    let err = collect(&app, waiter.clone(), clock.now().timestamp())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PortalError::Exhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(server.hits.lock().unwrap().len(), 3, "max_attempts = 3");
    // Backoff waits: 2 s × [0.5, 1], then 4 s × [0.5, 1].
    let waits = waiter.waits.lock().unwrap().clone();
    let backoffs: Vec<f64> = waits
        .iter()
        .map(|d| d.as_secs_f64())
        .filter(|s| *s > 0.31)
        .collect();
    assert_eq!(backoffs.len(), 2, "{waits:?}");
    assert!(
        (1.0..=2.0).contains(&backoffs[0]) && (2.0..=4.0).contains(&backoffs[1]),
        "{waits:?}"
    );
    let c = app.store.portal_circuit().await.unwrap();
    assert!(!c.open, "a 503 does not open the circuit");
    assert!(c.last_error.unwrap_or_default().contains("503"));
    *server.mode.lock().unwrap() = portal::Mode::Ok;
    collect(&app, waiter, clock.now().timestamp())
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The demo: `dondoc score --format json` against `dondoc status --format json`

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn on_the_demo_score_json_lists_every_unit_and_tdgq_is_20_times_one_minus_late_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dondoc.toml");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
            .current_dir(tmp.path())
            .env(
                "DONDOC__DATABASE__URL",
                format!("sqlite://{}", tmp.path().join("d.db").display()),
            )
            .env("DONDOC__SIMULATOR__LISTEN", format!("127.0.0.1:{port}"))
            .env("DONDOC__SIMULATOR__DOSSIERS", "6000")
            .env("DONDOC__SIMULATOR__DOCUMENTS", "500")
            .env("DONDOC__SOURCES__MOTCUA__BASE_URL", &base)
            .env("DONDOC__SOURCES__QLVB__BASE_URL", &base)
            .arg("--config")
            .arg(&demo)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "dondoc {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["sync"]);
    let as_of = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M:%S+07:00")
        .to_string();
    let settings = dondoc::config::load(&demo).unwrap().settings;
    for period in ["month", "quarter", "year"] {
        let score: Value = serde_json::from_str(&run(&[
            "score", "--format", "json", "--period", period, "--as-of", &as_of,
        ]))
        .unwrap();
        let status: Value = serde_json::from_str(&run(&[
            "status", "--format", "json", "--period", period, "--as-of", &as_of,
        ]))
        .unwrap();
        assert_eq!(score["as_of"], as_of.as_str());
        assert_eq!(score["period"], status["rows"][0]["period"], "{period}");
        let units = score["units"].as_array().unwrap();
        let codes: Vec<&str> = units.iter().map(|u| u["unit"].as_str().unwrap()).collect();
        let configured: Vec<&str> = settings.units.iter().map(|u| u.code.as_str()).collect();
        assert_eq!(
            codes.iter().collect::<BTreeSet<_>>(),
            configured.iter().collect::<BTreeSet<_>>(),
            "every unit"
        );
        assert_eq!(units.len(), 21);
        let mut some_points = false;
        for u in units {
            for k in [
                "unit",
                "name",
                "estimated",
                "estimable_max",
                "groups",
                "indicators",
                "published",
            ] {
                assert!(u.get(k).is_some(), "{k} missing: {u}");
            }
            assert!(u["published"].is_null(), "the demo has no [portal]");
            assert_eq!(u["estimable_max"], 46.0);
            let groups = u["groups"].as_array().unwrap();
            let gcodes: Vec<&str> = groups
                .iter()
                .map(|g| g["group"].as_str().unwrap())
                .collect();
            assert_eq!(gcodes, ["CKMB", "TDGQ", "CLGQ", "TTTT", "MDHL", "MDSH"]);
            for g in groups {
                assert!(g["max"].is_number() && g.get("estimated").is_some(), "{g}");
            }
            assert!(groups[0]["estimated"].is_null(), "CKMB is not estimated");
            let inds = u["indicators"].as_array().unwrap();
            assert_eq!(inds.len(), 6);
            for i in inds {
                for k in [
                    "group",
                    "indicator",
                    "numerator",
                    "denominator",
                    "points",
                    "max",
                    "confirmed",
                ] {
                    assert!(i.get(k).is_some(), "{k} missing: {i}");
                }
            }
            assert!(
                inds.iter().any(|i| i["confirmed"] == false),
                "CLGQ is uncertain"
            );
            let tdgq = inds.iter().find(|i| i["group"] == "TDGQ").unwrap();
            let late = status["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["unit"] == u["unit"] && r["metric"] == "late_rate" && r["scope"].is_null()
                })
                .unwrap();
            let expected = late["value"]
                .as_f64()
                .map(|v| 20.0 * (1.0 - v))
                .unwrap_or(0.0);
            let points = tdgq["points"].as_f64().unwrap();
            assert!(
                (points - expected).abs() <= 0.005 + 1e-9,
                "{} {period}: TDGQ {points} vs 20 × (1 − {}) = {expected}",
                u["unit"],
                late["value"]
            );
            assert_eq!(tdgq["denominator"], late["denominator"]);
            some_points |= points > 0.0;
            let group_sum: f64 = groups.iter().filter_map(|g| g["estimated"].as_f64()).sum();
            assert!((group_sum - u["estimated"].as_f64().unwrap()).abs() < 1e-6);
        }
        assert!(some_points, "the demo has dossiers in {period}");
    }
    // The table names the units in Vietnamese and the way to win points back.
    let table = run(&["score", "--unit", "PHUONG_DONG_LE", "--as-of", &as_of]);
    assert!(table.contains("Tiến độ giải quyết"), "{table}");
    assert!(table.contains("uncertain rule"), "{table}");
}

// ---------------------------------------------------------------------------------------------
// Where officials read the points: the dashboard, the quarterly report, the alert digest

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn the_dashboard_report_and_digest_show_the_points_in_vietnamese(backend: Backend) {
    let (db, store) = store_with(backend, &dataset()).await;
    store.close().await;
    // The portal is configured (never contacted here): figures for Q2 are stored as a
    // collection would have stored them, to be shown beside the estimate.
    let extra = portal::portal_section("http://127.0.0.1:9")
        + "\n[alerts]\nmin_sample = 1\npending_evaluations = 1\n";
    let s = settings(&db.url, &extra);
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::from_timestamp(as_of(), 0).unwrap(),
    ));
    let app = App::build(s, clock.clone()).await.unwrap();
    let fig =
        |unit: &str, group: &str, score: f64, received: Option<i64>| dondoc::store::PortalFigure {
            unit: unit.into(),
            period: "2024-Q2".into(),
            group: group.into(),
            day: "2024-05-31".into(),
            department: format!("PORTAL_{unit}"),
            score: Some(score),
            max_score: None,
            received,
            detail: "{}".into(),
            fetched_at: as_of() - 3600,
        };
    app.store
        .save_portal_figures(&[fig("A", "TDGQ", 12.5, Some(6)), fig("A", "TTTT", 4.0, None)])
        .await
        .unwrap();

    // The dashboard over a real socket.
    let evs = dondoc::rates::run_once(&app, as_of()).await.unwrap();
    dondoc::alerts::observe::run_once(&app, &evs, as_of())
        .await
        .unwrap();
    let daemon = dondoc::daemon::Daemon::new(app.clone(), None).unwrap();
    let served = dondoc::application::Application::with_daemon(daemon, "127.0.0.1:0")
        .await
        .unwrap();
    let base = served.local_url();
    let (code, overview) = get(&format!("{base}/?period=quarter")).await;
    assert_eq!(code, 200);
    assert!(
        overview.contains("Điểm 766 (ước tính)"),
        "the points column"
    );
    let cell = overview
        .split("td class=\"cell points\" data-unit=\"A\"")
        .nth(1)
        .expect("A's points cell")
        .split("</td>")
        .next()
        .unwrap();
    assert!(
        cell.contains("32,00") && cell.contains("46,00") && cell.contains("mất 14,00"),
        "{cell}"
    );
    assert!(
        cell.contains("Cổng: 16,50"),
        "the portal beside the estimate: {cell}"
    );
    let (code, page) = get(&format!("{base}/units/A?period=quarter")).await;
    assert_eq!(code, 200);
    assert!(page.contains("Chỉ số Quyết định 766"), "the unit's section");
    assert!(page.contains("data-indicator=\"procedures_paid_online\""));
    assert!(page.contains("TTHC có giao dịch thanh toán trực tuyến"));
    assert!(
        page.contains("cách tính điểm chưa được xác nhận"),
        "CLGQ labelled uncertain"
    );
    assert!(
        page.contains("không ước tính"),
        "CKMB shown as not estimated"
    );
    assert!(
        page.contains("Bổ sung tệp kết quả điện tử cho 1 hồ sơ")
            && page.contains("<code>A9</code>")
    );
    assert!(page.contains("12,50"), "the portal's TDGQ beside dondoc's");
    let (code, quality) = get(&format!("{base}/quality")).await;
    assert_eq!(code, 200);
    assert!(
        quality.contains("Cổng công bố 6 hồ sơ, dondoc đếm 10 hồ sơ"),
        "the sync gap on the data-quality page"
    );
    drop(served);

    // The quarterly report: a sheet "Điểm 766".
    let rp = dondoc::report::ReportPeriod::new(q2(), dondoc::domain::periods::Basis::Calendar);
    let r = dondoc::report::build(&app.store, &app.settings, rp, as_of(), as_of())
        .await
        .unwrap();
    let bytes = dondoc::report::xlsx::workbook(&r).unwrap();
    use calamine::{Data, Reader};
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let names = wb.sheet_names();
    assert!(names.contains(&"Điểm 766".to_string()), "{names:?}");
    let sheet = wb.worksheet_range("Điểm 766").unwrap();
    let rows: Vec<Vec<Data>> = sheet.rows().map(|r| r.to_vec()).collect();
    let a = rows
        .iter()
        .find(|r| r.get(1) == Some(&Data::String("A".into())))
        .expect("A's line");
    assert_eq!(a[3], Data::Float(32.0), "estimated");
    assert_eq!(a[4], Data::Float(46.0), "estimable");
    assert_eq!(a[5], Data::Float(14.0), "lost");
    assert_eq!(a[6], Data::Float(16.0), "TDGQ");
    assert_eq!(a[11], Data::Float(16.5), "the portal's total");
    let text: String = rows
        .iter()
        .flatten()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("Công khai, minh bạch (CKMB), tối đa 18,00 điểm"),
        "not estimated, with its max"
    );
    assert!(text.contains("Cách chia điểm chưa được xác nhận"));
    assert!(text.contains("TTHC có giao dịch thanh toán trực tuyến"));

    // The alert digest: the points lost this period, with what wins them back.
    let g = dondoc::alerts::digest::gather(&app, as_of()).await.unwrap();
    let letters = dondoc::alerts::digest::compose(&app, &g, as_of(), as_of(), None)
        .await
        .unwrap();
    let mail = &letters
        .iter()
        .find(|l| {
            l.mail
                .to
                .contains(&"phuonga@city.example.gov.vn".to_string())
        })
        .expect("A's digest")
        .mail;
    assert!(
        mail.text
            .contains("Điểm Chỉ số Quyết định 766 ước tính (Quý 2/2024): 32,00 / 46,00 điểm dondoc tính được — mất 14,00."),
        "{}",
        mail.text
    );
    assert!(
        mail.text
            .contains("Tiến độ giải quyết (TDGQ): 16,00 / 20,00 (mất 4,00)"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("Hồ sơ (1): A9"), "{}", mail.text);
    let footer = mail.text.rfind("\n--\n").unwrap();
    assert!(
        mail.text.find("Điểm Chỉ số").unwrap() < footer,
        "before the footer"
    );
    assert!(
        mail.html
            .as_deref()
            .unwrap()
            .contains("<h3>Điểm Chỉ số Quyết định 766")
    );
    // The preview is the letter queued, points included.
    let preview = dondoc::alerts::digest::preview(&app, "A", as_of())
        .await
        .unwrap();
    assert_eq!(preview.len(), 1);
    assert_eq!(preview[0].text, mail.text);
}

// ---------------------------------------------------------------------------------------------
// [portal] in the configuration

#[test]
fn the_example_portal_section_is_valid_once_uncommented_and_bad_keys_are_named() {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dondoc.example.toml"),
    )
    .unwrap();
    let start = example
        .find("# [portal]\n")
        .expect("a commented [portal] section");
    let end = start + example[start..].find("\n\n").unwrap();
    let block: String = example[start..end]
        .lines()
        .filter(|l| {
            l.starts_with("# [")
                || l.split('=')
                    .next()
                    .is_some_and(|k| k.len() > 2 && !k[2..].trim().contains(' '))
        })
        .map(|l| l.trim_start_matches("# ").to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("root_department_id"), "{block}");
    let text = example.replacen(&example[start..end], &block, 1);
    let s = load_from_str(&text, &HashMap::new(), Path::new("."))
        .unwrap_or_else(|p| panic!("the uncommented example is valid: {p:?}\n{block}"));
    let p = s.portal.expect("[portal] read");
    assert!(p.enabled);
    assert_eq!(p.min_interval_ms, 1000);
    assert_eq!(p.departments["PHUONG_1"], "000.01.23.H50");

    // A short section gets every default; wrong keys are named with their paths.
    let short = settings(
        "sqlite://x.db",
        "[portal]\nbase_url = \"https://portal.example\"\nroot_department_id = \"R\"\ncontact = \"a@b.example\"\n",
    );
    let p = short.portal.unwrap();
    assert_eq!(
        (p.schedule.as_str(), p.jitter_ms, p.max_attempts),
        ("0 30 6 * * *", 500, 3)
    );
    let text = format!(
        "[database]\nurl = \"sqlite://x.db\"\n{UNITS}\n[portal]\nbase_url = \"ftp://x\"\nroot_department_id = \"\"\ncontact = \"\"\nmin_interval_ms = 100\nschedule = \"0 8 * * *\"\ndepartments = {{ NOPE = \"X\" }}\nretries = 2\n"
    );
    let problems = load_from_str(&text, &HashMap::new(), Path::new(".")).unwrap_err();
    let paths: BTreeSet<String> = problems.iter().map(|p| p.path.clone()).collect();
    for k in [
        "portal.base_url",
        "portal.root_department_id",
        "portal.contact",
        "portal.min_interval_ms",
        "portal.schedule",
        "portal.departments.NOPE",
        "portal.retries",
    ] {
        assert!(paths.contains(k), "{k} not named: {problems:?}");
    }
}

#[test]
fn the_daemon_schedules_the_portal_job_only_with_an_enabled_portal_section() {
    use dondoc::daemon::{Job, Scheduler};
    let now = at("20241115000000");
    let without = settings("sqlite://x.db", "");
    let s = Scheduler::new(&without, now).unwrap();
    assert_eq!(s.interval(Job::Portal, now), None, "no [portal]: no job");
    assert!(s.interval(Job::Sync, now).is_some());
    let with = settings(
        "sqlite://x.db",
        &portal::portal_section("https://portal.example"),
    );
    let s = Scheduler::new(&with, now).unwrap();
    assert_eq!(s.interval(Job::Portal, now), Some(86_400), "daily");
    assert_eq!(Job::Portal.name(), "portal");
    let off = settings(
        "sqlite://x.db",
        &portal::portal_section("https://portal.example")
            .replace("[portal]", "[portal]\nenabled = false"),
    );
    assert_eq!(
        Scheduler::new(&off, now)
            .unwrap()
            .interval(Job::Portal, now),
        None
    );
}

#[test]
fn the_score_command_says_what_is_wrong_and_manages_the_circuit() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("d.db").display());
    let config = tmp.path().join("dondoc.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{db}\"\n{UNITS}")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
            .current_dir(tmp.path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["score", "portal-collect"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no enabled [portal] section"));
    let o = run(&["score", "--unit", "NOPE"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'NOPE' is not a configured unit"));
    let o = run(&["score", "portal-reset"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("closed already"));
    // An open circuit, as a refusal leaves it, is closed by portal-reset.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&db, 1).await.unwrap();
        store
            .set_portal_circuit(&dondoc::store::PortalCircuit {
                open: true,
                reason: Some("HTTP 429".into()),
                opened_at: Some(at("20241115063000")),
                ..Default::default()
            })
            .await
            .unwrap();
        store.close().await;
    });
    let o = run(&["score", "portal-reset"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("was open since 2024-11-15T06:30:00+07:00 (HTTP 429)"),
        "{out}"
    );
    rt.block_on(async {
        let store = Store::open(&db, 1).await.unwrap();
        assert!(!store.portal_circuit().await.unwrap().open);
        store.close().await;
    });
    let o = run(&["score", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
}
