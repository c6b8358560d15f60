//! The rate engine reads nothing outside what the windows can count (issue 16): after the
//! dossiers finished (and received and rated) before the year began, and the documents dated
//! before it, are deleted straight from the store's tables, every rate of the current month,
//! quarter and year — at now and at past instants of the year — is unchanged, on both backends.
//! The same deletion does change the previous year's rates: what was deleted was real data, just
//! none that a current window counts.
//!
//! And the engine does not even read them: the facts blocks whose records all lie before the
//! year (store/facts.rs) are overwritten with garbage, the current rates are evaluated unchanged
//! and the garbage is still there afterwards (a block that is read but cannot be decoded is
//! rebuilt from the records); last year's evaluation reads them, heals them and gives last year's
//! numbers.

mod common;

use common::*;
use dondoc::domain::time::local_to_epoch;
use dondoc::domain::{Period, PeriodKind};
use dondoc::rates::evaluate::{UnitTree, rows_at_many};

postgres_notice!();
for_each_backend!(
    deleting_what_no_window_can_count_leaves_every_current_rate_unchanged,
    the_blocks_no_window_can_count_are_never_read,
    the_code_counts_follow_every_write
);

/// Every row of `items` as `unit|metric|scope|period|num/den`, in order.
async fn rows(app: &dondoc::app::App, tree: &UnitTree, items: &[(Period, i64)]) -> Vec<String> {
    let out = rows_at_many(&app.store, &app.settings, tree, items)
        .await
        .unwrap();
    let mut lines = Vec::new();
    for ((period, as_of), rows) in items.iter().zip(out) {
        for r in rows {
            lines.push(format!(
                "{as_of}|{}|{}|{}|{period}|{}/{}",
                r.unit,
                r.metric.as_str(),
                r.scope.unwrap_or_default(),
                r.numerator,
                r.denominator
            ));
        }
    }
    lines
}

async fn execute(url: &str, sql: &str) -> u64 {
    let q = sqlx::AssertSqlSafe(sql.to_string());
    match Conn::open(url).await {
        Conn::Sqlite(p) => {
            let n = sqlx::query(q).execute(&p).await.unwrap().rows_affected();
            p.close().await;
            n
        }
        Conn::Postgres(p) => {
            let n = sqlx::query(q).execute(&p).await.unwrap().rows_affected();
            p.close().await;
            n
        }
    }
}

/// A store synced from a simulator holding 540 days of history (so last year too), with what
/// the tests read of it; the simulator lives as long as the value.
struct Synced {
    _sim: Sim,
    db: TestDb,
    app: dondoc::app::App,
    now: i64,
    tree: UnitTree,
}

async fn synced_history(b: Backend) -> Synced {
    let clock = clock();
    let mut options = sim_options(4000, 800);
    options.history_days = 540;
    let sim = start_sim(options, clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    let now = now(clock.as_ref());
    let report = dondoc::sync::run_once(&app, now).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let tree = UnitTree::new(&app.settings);
    Synced {
        _sim: sim,
        db,
        app,
        now,
        tree,
    }
}

async fn deleting_what_no_window_can_count_leaves_every_current_rate_unchanged(b: Backend) {
    let Synced {
        _sim,
        db,
        app,
        now,
        tree,
    } = synced_history(b).await;

    // The current periods at now, and at instants of the year already past (as the backfill
    // and the history ask).
    let year = Period::containing(PeriodKind::Year, now);
    let y = year.start();
    let at = |s: &str| {
        local_to_epoch(chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    };
    let mut current = Vec::new();
    for as_of in [
        now,
        at("2024-01-01 00:00"),
        at("2024-01-15 12:00"),
        at("2024-03-31 23:59"),
        at("2024-05-01 00:00"),
    ] {
        for kind in PeriodKind::ALL {
            current.push((Period::containing(kind, as_of.max(y)), as_of));
        }
    }
    // The previous year, at its end: it does count the dossiers finished before this year.
    let last_year = Period::containing(PeriodKind::Year, y - 1);
    let previous = [(last_year, y)];

    let before = rows(&app, &tree, &current).await;
    let before_previous = rows(&app, &tree, &previous).await;
    assert!(
        before.iter().any(|l| !l.ends_with("/0")),
        "the current periods count something"
    );

    let old_dossiers = execute(
        &db.url,
        &format!(
            "DELETE FROM dossiers WHERE status IN (8, 9, 10) AND ended_at IS NOT NULL AND ended_at < {y} \
             AND (received_at IS NULL OR received_at < {y}) AND (rated_at IS NULL OR rated_at < {y})"
        ),
    )
    .await;
    let old_documents = execute(
        &db.url,
        &format!(
            "DELETE FROM documents WHERE (direction = 'DEN' AND arrived_at < {y}) \
             OR (direction = 'DI' AND issued_at < {y})"
        ),
    )
    .await;
    assert!(
        old_dossiers > 100,
        "old finished dossiers deleted: {old_dossiers}"
    );
    assert!(old_documents > 10, "old documents deleted: {old_documents}");
    // Deleted behind the store's back: the facts are built again from what is left.
    app.store.rebuild_facts().await.unwrap();

    let after = rows(&app, &tree, &current).await;
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "a current rate moved when old data was deleted");
    }
    let after_previous = rows(&app, &tree, &previous).await;
    assert_ne!(
        before_previous, after_previous,
        "the deleted dossiers were counted by last year's windows"
    );

    // The evaluation of the current periods (the job's call) agrees too.
    for kind in PeriodKind::ALL {
        let p = Period::containing(kind, now);
        let ev = dondoc::rates::evaluate(&app.store, &app.settings, p, now)
            .await
            .unwrap();
        let lines: Vec<String> = ev
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{now}|{}|{}|{}|{p}|{}/{}",
                    r.unit,
                    r.metric.as_str(),
                    r.scope.clone().unwrap_or_default(),
                    r.numerator,
                    r.denominator
                )
            })
            .collect();
        for l in &lines {
            assert!(before.contains(l), "{l} is not what the engine gave before");
        }
    }
    app.store.close().await;
}

async fn the_blocks_no_window_can_count_are_never_read(b: Backend) {
    let Synced {
        _sim,
        db,
        app,
        now,
        tree,
    } = synced_history(b).await;
    let y = Period::containing(PeriodKind::Year, now).start();
    let current: Vec<(Period, i64)> = PeriodKind::ALL
        .iter()
        .map(|k| (Period::containing(*k, now), now))
        .collect();
    let previous = [(Period::containing(PeriodKind::Year, y - 1), y)];
    let before = rows(&app, &tree, &current).await;
    let before_previous = rows(&app, &tree, &previous).await;

    let garbage = match b {
        Backend::Sqlite => "X'FFFFFFFFFFFF'",
        Backend::Postgres => "'\\xffffffffffff'::bytea",
    };
    let old = execute(
        &db.url,
        &format!("UPDATE fact_blocks SET data = {garbage} WHERE last < {y}"),
    )
    .await;
    assert!(
        old >= 1,
        "some block holds only records finished before the year"
    );
    let broken = format!("SELECT count(*) FROM fact_blocks WHERE data = {garbage}");

    assert_eq!(rows(&app, &tree, &current).await, before);
    for kind in PeriodKind::ALL {
        let p = Period::containing(kind, now);
        dondoc::rates::evaluate(&app.store, &app.settings, p, now)
            .await
            .unwrap();
    }
    assert_eq!(
        scalar(&db.url, &broken).await as u64,
        old,
        "the current periods read no block of records finished before the year"
    );

    // Last year does read them: each is rebuilt from the records, and its numbers are last
    // year's. The per-unit counts are then counted again from every block's summary: summaries
    // that cannot be read are rebuilt too.
    let codes_before = code_counts(&app, &db.url).await;
    assert_eq!(codes_before.0, codes_before.1);
    execute(
        &db.url,
        &format!("UPDATE fact_blocks SET units = {garbage}"),
    )
    .await;
    assert_eq!(rows(&app, &tree, &previous).await, before_previous);
    assert_eq!(scalar(&db.url, &broken).await, 0, "the blocks were healed");
    assert_eq!(
        scalar(
            &db.url,
            &format!("SELECT count(*) FROM fact_blocks WHERE kind = 1 AND units = {garbage}")
        )
        .await,
        0,
        "every summary of the dossiers' blocks was rebuilt"
    );
    assert_eq!(code_counts(&app, &db.url).await, codes_before);

    assert_eq!(rows(&app, &tree, &current).await, before);
    app.store.close().await;
}

/// A dossier of `unit`, received at 2026-03-01 plus `n` hours, updated at `updated`.
fn dossier(code: &str, unit: &str, status: u8, updated: i64) -> dondoc::upstream::records::Dossier {
    let received = 1_772_323_200 + updated % 1000 * 3600;
    dondoc::upstream::records::Dossier {
        code: code.into(),
        procedure_code: "P".into(),
        field_code: Some("G01".into()),
        unit_code: unit.into(),
        channel: Some(2),
        status,
        received_at: Some(received),
        appointed_at: Some(received + 86_400),
        due_at: Some(received + 86_400),
        ended_at: None,
        returned_at: None,
        paid_online: 0,
        fee_total: 0.0,
        digitized: false,
        first_apology_at: None,
        rating: None,
        rated_at: None,
        updated_at: updated,
        deleted: false,
    }
}

/// The stored (not deleted) dossiers per unit code, as the data-quality counts give them and as
/// the records table says.
async fn code_counts(app: &dondoc::app::App, url: &str) -> (Vec<String>, Vec<String>) {
    let kept: Vec<String> = app
        .store
        .dossier_codes()
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("{}={}", c.code, c.count))
        .collect();
    let table = strings(
        url,
        "SELECT unit_code || '=' || CAST(count(*) AS TEXT) FROM dossiers WHERE NOT deleted \
         GROUP BY unit_code ORDER BY unit_code",
    )
    .await;
    (kept, table)
}

/// The unmapped-code counts are kept per unit code with the fact blocks (not counted over the
/// records at each evaluation): after pages that add, move between units, take out of scope,
/// delete, and write one code twice, and after a rebuild, they equal the records table's.
async fn the_code_counts_follow_every_write(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(10, 2), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    let store = &app.store;
    // 2,500 dossiers over three blocks, in two units.
    let first: Vec<_> = (0..2500)
        .map(|i| {
            dossier(
                &format!("HS{i:05}"),
                if i % 3 == 0 { "A" } else { "B" },
                4,
                10,
            )
        })
        .collect();
    for page in first.chunks(1000) {
        store
            .store_dossier_page("motcua", "ho-so", page, &[], None, 0)
            .await
            .unwrap();
    }
    let (kept, table) = code_counts(&app, &db.url).await;
    assert_eq!(kept, ["A=834", "B=1666"]);
    assert_eq!(kept, table);

    // One page: moves, a status no rule counts (still stored), deletions, a new unit, a code
    // written twice (the later version wins), and an older version that must not win.
    let mut page = Vec::new();
    for i in (0..2500).step_by(7) {
        page.push(dossier(&format!("HS{i:05}"), "C", 4, 20));
    }
    for i in (1..2500).step_by(11) {
        page.push(dossier(&format!("HS{i:05}"), "A", 3, 20));
    }
    for i in (2..2500).step_by(13) {
        let mut d = dossier(&format!("HS{i:05}"), "", 0, 20);
        d.deleted = true;
        page.push(d);
    }
    page.push(dossier("HS00005", "D", 4, 30));
    page.push(dossier("HS00005", "E", 4, 31));
    page.push(dossier("HS00010", "OLD", 4, 5));
    store
        .store_dossier_page("motcua", "ho-so", &page, &[], None, 0)
        .await
        .unwrap();
    let (kept, table) = code_counts(&app, &db.url).await;
    assert!(kept.iter().any(|c| c.starts_with("E=")), "{kept:?}");
    assert!(
        !kept
            .iter()
            .any(|c| c.starts_with("OLD=") || c.starts_with("D="))
    );
    assert_eq!(kept, table);

    store.rebuild_facts().await.unwrap();
    assert_eq!(code_counts(&app, &db.url).await.0, table);
    store.close().await;
}
