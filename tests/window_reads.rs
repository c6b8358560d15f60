//! Issue 16, cost that follows the window: what an evaluation must count never depends on the
//! dossiers settled before its earliest window start. On both backends the counts of every window
//! of a year (month, quarter, year; the score's fee-bearing procedures too) are the same in a
//! store holding years of old settled dossiers and in one without them, and equal the pure rules
//! over everything stored; the old ones still count in a window of their own time. Any store
//! layout or engine that skips old settled dossiers must keep this test green.

use dondoc::domain::time::{Epoch, parse_compact};
use dondoc::rates::rules::{Tally, Window, fee_procedure, tally_dossier};
use dondoc::store::Store;
use dondoc::upstream::records::{Dossier, Procedure};
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::{Backend, TestDb, for_each_backend, postgres_notice};

postgres_notice!();
for_each_backend!(old_settled_dossiers_change_no_count_of_the_current_windows);

const ONE_STOP: &str = "motcua";

fn at(s: &str) -> Epoch {
    parse_compact(s)
        .expect("a valid date")
        .expect("a present date")
}

/// As of 2026-05-20: the month, the quarter and the year (the earliest start, 2026-01-01).
fn windows() -> Vec<(Epoch, Epoch)> {
    let now = at("20260520120000");
    vec![
        (at("20260501000000"), now),
        (at("20260401000000"), now),
        (at("20260101000000"), now),
    ]
}

fn catalogue() -> Vec<Procedure> {
    ["P4", "P2"]
        .iter()
        .map(|code| Procedure {
            code: (*code).into(),
            name: Some(format!("Thủ tục {code}")),
            field_code: Some("G01".into()),
            field_name: Some("Đất đai".into()),
            level: Some(if *code == "P4" { 4 } else { 2 }),
        })
        .collect()
}

/// A dossier received at `received`, with fees, online, due 20 days later.
fn dossier(code: &str, received: Epoch) -> Dossier {
    Dossier {
        code: code.into(),
        procedure_code: if code.len().is_multiple_of(2) {
            "P4"
        } else {
            "P2"
        }
        .into(),
        field_code: Some("G01".into()),
        unit_code: if code.len().is_multiple_of(3) {
            "U1"
        } else {
            "U2"
        }
        .into(),
        channel: Some(2),
        status: 4,
        received_at: Some(received),
        appointed_at: Some(received + 20 * 86400),
        due_at: Some(received + 20 * 86400),
        ended_at: None,
        returned_at: None,
        paid_online: 1,
        fee_total: 15000.0,
        digitized: false,
        first_apology_at: None,
        rating: None,
        rated_at: None,
        updated_at: received,
        deleted: false,
    }
}

fn settled(d: Dossier, status: u8, ended: Epoch) -> Dossier {
    Dossier {
        status,
        ended_at: Some(ended),
        returned_at: Some(ended),
        digitized: true,
        ..d
    }
}

fn rated(d: Dossier, rating: u8, when: Epoch) -> Dossier {
    Dossier {
        rating: Some(rating),
        rated_at: Some(when),
        ..d
    }
}

/// Dossiers that some window of 2026 counts, whatever their age: open for years, finished this
/// year, rated this year long after their end, with dates out of order, finished late exactly
/// at the year's start.
fn current() -> Vec<Dossier> {
    let mut v = vec![
        dossier("OPEN_SINCE_2023", at("20230310080000")),
        settled(
            dossier("ENDED_IN_2026", at("20250810080000")),
            10,
            at("20260115080000"),
        ),
        rated(
            settled(
                dossier("RATED_IN_2026", at("20240210080000")),
                10,
                at("20240301080000"),
            ),
            3,
            at("20260202080000"),
        ),
        // Received (by the upstream's word) after its end, which was in 2025.
        settled(
            dossier("RECEIVED_AFTER_END", at("20260303080000")),
            9,
            at("20251101080000"),
        ),
        settled(
            dossier("ENDED_AT_YEAR_START", at("20251201080000")),
            8,
            at("20260101000000"),
        ),
        // Finished (8) without an end date: still open for the rules.
        Dossier {
            status: 8,
            ..dossier("FINISHED_WITHOUT_END", at("20240505080000"))
        },
    ];
    for i in 0..40 {
        let received = at("20260105080000") + i * 3 * 86400;
        let d = dossier(
            &format!("NEW{i:0width$}", width = 2 + (i as usize % 3)),
            received,
        );
        v.push(match i % 4 {
            0 => d,
            1 => settled(d, 10, received + 30 * 86400),
            2 => rated(settled(d, 9, received + 5 * 86400), 1, received + 6 * 86400),
            _ => Dossier {
                first_apology_at: Some(received + 25 * 86400),
                ..settled(d, 10, received + 40 * 86400)
            },
        });
    }
    v
}

/// Dossiers settled before 2026 (end, receipt and rating all before 2026-01-01): no window of
/// 2026 counts them, yet each would count in a window that started earlier.
fn old() -> Vec<Dossier> {
    let mut v = Vec::new();
    for i in 0..300 {
        let received = at("20230101080000") + i * 3 * 86400;
        let d = dossier(
            &format!("OLD{i:0width$}", width = 3 + (i as usize % 2)),
            received,
        );
        v.push(match i % 3 {
            0 => settled(d, 10, received + 30 * 86400),
            1 => rated(settled(d, 9, received + 5 * 86400), 3, received + 9 * 86400),
            // Ended exactly one second before the year: not in H of any window of 2026.
            _ => settled(d, 8, at("20251231235959").min(received + 90 * 86400)),
        });
    }
    v
}

async fn store_with(backend: Backend, dossiers: &[Dossier]) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.url, 1).await.expect("open the store");
    let now = at("20260520120000");
    store
        .replace_procedures(ONE_STOP, &catalogue(), &[], now)
        .await
        .expect("catalogue");
    let written = store
        .store_dossier_page(ONE_STOP, "ho-so", dossiers, &[], None, now)
        .await
        .expect("dossiers");
    assert_eq!(written as usize, dossiers.len(), "every dossier is stored");
    (db, store)
}

/// Every window's counts, summed over groups per (unit, field), and the fee-bearing procedures.
async fn counts(
    store: &Store,
) -> (
    Vec<Vec<(String, Option<String>, Tally)>>,
    Vec<BTreeSet<(String, String, bool)>>,
) {
    let tallies = store
        .dossier_tallies_many(&windows())
        .await
        .expect("dossier tallies")
        .into_iter()
        .map(|groups| {
            let mut g: Vec<_> = groups
                .into_iter()
                .map(|g| (g.unit_code, g.field_code, g.tally))
                .collect();
            g.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            g
        })
        .collect();
    let fees = store
        .fee_procedures_many(&windows())
        .await
        .expect("fee procedures")
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|f| (f.unit_code, f.procedure_code, f.paid_online))
                .collect()
        })
        .collect();
    (tallies, fees)
}

async fn old_settled_dossiers_change_no_count_of_the_current_windows(b: Backend) {
    let mut all = current();
    all.extend(old());
    let (_full_db, full) = store_with(b, &all).await;
    let (_recent_db, recent) = store_with(b, &current()).await;
    let with_old = counts(&full).await;
    let without_old = counts(&recent).await;
    assert_eq!(
        with_old, without_old,
        "{b:?}: old settled dossiers changed a count of 2026"
    );

    // Both equal the pure rules over everything stored, window by window.
    let levels = catalogue();
    for (k, (start, horizon)) in windows().into_iter().enumerate() {
        let w = Window { start, horizon };
        let mut reference = Tally::default();
        let mut fees: BTreeMap<(String, String), bool> = BTreeMap::new();
        for d in &all {
            let level = levels
                .iter()
                .find(|p| p.code == d.procedure_code)
                .map(|p| p.level);
            reference += tally_dossier(d, level, w);
            if let Some((code, paid)) = fee_procedure(d, w) {
                *fees
                    .entry((d.unit_code.clone(), code.to_string()))
                    .or_default() |= paid;
            }
        }
        let mut sql = Tally::default();
        for (_, _, t) in &with_old.0[k] {
            sql += *t;
        }
        assert_eq!(sql, reference, "{b:?}: SQL vs the rules, window {k}");
        assert!(sql.handled > 0 && sql.results > 0 && sql.rated > 0 && sql.received > 0);
        // One entry per procedure: paid online when one of its dossiers was.
        let merged: BTreeSet<(String, String, bool)> = fees
            .into_iter()
            .map(|((u, p), paid)| (u, p, paid))
            .collect();
        assert_eq!(
            with_old.1[k], merged,
            "{b:?}: fee procedures vs the rules, window {k}"
        );
    }

    // The old ones would count in a window that started earlier: they are not inert data.
    let w2024 = [(at("20240101000000"), at("20250101000000"))];
    let old_year = full.dossier_tallies_many(&w2024).await.expect("2024");
    let recent_year = recent.dossier_tallies_many(&w2024).await.expect("2024");
    let sum = |groups: &[dondoc::store::GroupTally]| {
        let mut t = Tally::default();
        for g in groups {
            t += g.tally;
        }
        t
    };
    assert!(
        sum(&old_year[0]).results > sum(&recent_year[0]).results,
        "{b:?}: the old dossiers count in 2024"
    );
}
