//! The store on both backends: created (with its folder, for SQLite), migrated, migrations that
//! re-apply as a no-op, WAL for SQLite, and a time series that grows by day, not by evaluation.

mod common;

use common::*;
use dondoc::store::Store;

postgres_notice!();
for_each_backend!(evaluating_often_keeps_one_sample_per_day_and_the_latest_numbers);

#[tokio::test]
async fn migrations_apply_to_a_fresh_file_in_a_new_folder_and_reapply_as_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(&dir.path().join("nested/state"), "dondoc.db");
    let store = Store::open(&url, 2).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    assert!(dir.path().join("nested/state/dondoc.db").exists());

    let applied = scalar(
        &url,
        "SELECT count(*) FROM _sqlx_migrations WHERE success = TRUE",
    )
    .await;
    assert!(applied >= 1);
    let tables = scalar(
        &url,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN
         ('sync_state','procedures','dossiers','documents','rejected','metric_samples','alerts','outbox','job_runs')",
    )
    .await;
    assert_eq!(tables, 9);

    // Opening again applies nothing new and keeps the data.
    let store = Store::open(&url, 2).await.unwrap();
    store
        .upsert_samples(&[sample("U", "2024-Q2", "2024-06-20", 1, 2)])
        .await
        .unwrap();
    store.close().await;
    let store = Store::open(&url, 2).await.unwrap();
    store.close().await;
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM _sqlx_migrations").await,
        applied
    );
    assert_eq!(scalar(&url, "SELECT count(*) FROM metric_samples").await, 1);
}

#[tokio::test]
async fn the_journal_is_wal() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path(), "a.db");
    let store = Store::open(&url, 1).await.unwrap();
    assert!(matches!(store, Store::Sqlite(_)));
    store.close().await;
    // WAL is a property of the file: a plain connection sees it.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    pool.close().await;
}

#[tokio::test]
async fn postgres_migrations_apply_to_a_fresh_database_and_reapply_as_a_no_op() {
    if !postgres_or_skip() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let store = Store::open(&url, 2).await.unwrap();
    assert!(matches!(store, Store::Postgres(_)));
    store.ping().await.unwrap();
    store.close().await;
    let applied = scalar(
        &url,
        "SELECT count(*) FROM _sqlx_migrations WHERE success = TRUE",
    )
    .await;
    assert!(applied >= 1);
    let tables = scalar(
        &url,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN
         ('sync_state','procedures','dossiers','documents','rejected','metric_samples','alerts','outbox','job_runs')",
    )
    .await;
    assert_eq!(tables, 9);

    // Two replicas starting together: the migrator serializes them, both open.
    let (a, b) = tokio::join!(Store::open(&url, 2), Store::open(&url, 2));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.upsert_samples(&[sample("U", "2024-Q2", "2024-06-20", 1, 2)])
        .await
        .unwrap();
    assert_eq!(b.samples("U", "late_rate", "").await.unwrap().len(), 1);
    a.close().await;
    b.close().await;
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM _sqlx_migrations").await,
        applied
    );
}

/// The copy (`migrate-store`) names every column of every table: a column added by a migration
/// and forgotten there would be lost in a copy.
#[tokio::test]
async fn the_copy_knows_every_column_of_both_schemas() {
    let mut expected: Vec<String> = dondoc::store::copy::TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(move |(c, _)| format!("{}.{c}", t.name))
        })
        .chain(dondoc::store::copy::DERIVED.iter().map(|c| c.to_string()))
        .collect();
    expected.sort();

    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path(), "a.db");
    Store::open(&url, 1).await.unwrap().close().await;
    let sqlite = strings(
        &url,
        "SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' ORDER BY 1",
    )
    .await;
    assert_eq!(sqlite, expected, "SQLite's schema vs store::copy::TABLES");

    if postgres_or_skip() {
        let db = TestDb::new(Backend::Postgres).await;
        Store::open(&db.url, 1).await.unwrap().close().await;
        let mut pg = strings(
            &db.url,
            "SELECT (table_name || '.' || column_name)::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
        )
        .await;
        pg.sort();
        assert_eq!(pg, expected, "PostgreSQL's schema vs store::copy::TABLES");
    }
}

fn sample(unit: &str, period: &str, day: &str, n: i64, d: i64) -> dondoc::store::Sample {
    dondoc::store::Sample {
        unit: unit.into(),
        metric: "late_rate".into(),
        scope: String::new(),
        period: period.into(),
        day: day.into(),
        as_of: 0,
        numerator: n,
        denominator: d,
        computed_at: 0,
        revision: None,
    }
}

async fn evaluating_often_keeps_one_sample_per_day_and_the_latest_numbers(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(1500, 300), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    let url = db.url.clone();
    for _ in 0..3 {
        assert!(
            dondoc::sync::run_once(&app, now(clock.as_ref()))
                .await
                .failures()
                .is_empty()
        );
        dondoc::rates::run_once(&app, now(clock.as_ref()))
            .await
            .unwrap();
        clock.advance(chrono::Duration::minutes(15));
    }
    // 4 units × (8 metrics + 1 scoped) × 3 periods (month, quarter, year), one day.
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM metric_samples").await,
        4 * 9 * 3
    );
    let series = app.store.samples("CITY", "late_rate", "").await.unwrap();
    assert_eq!(series.len(), 3);
    assert!(series.iter().all(|s| s.day == "2024-06-20"));
    assert_eq!(
        series.iter().map(|s| s.as_of).max(),
        Some(now(clock.as_ref()) - 15 * 60)
    );

    // The next day adds one sample per row.
    clock.advance(chrono::Duration::days(1));
    dondoc::sync::run_once(&app, now(clock.as_ref())).await;
    dondoc::rates::run_once(&app, now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM metric_samples").await,
        2 * 4 * 9 * 3
    );

    // The stored numbers are those of the evaluation at that instant.
    let ev = dondoc::rates::evaluate(
        &app.store,
        &app.settings,
        dondoc::domain::Period::containing(
            dondoc::domain::PeriodKind::Quarter,
            now(clock.as_ref()),
        ),
        now(clock.as_ref()),
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
    let last = app
        .store
        .samples("CITY", "late_rate", "")
        .await
        .unwrap()
        .into_iter()
        .rfind(|s| s.period == "2024-Q2")
        .unwrap();
    assert_eq!(
        (last.numerator, last.denominator),
        (row.numerator, row.denominator)
    );
    assert!(row.denominator > 0);
}
