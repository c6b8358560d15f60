//! The SQLite store: created with its folder, migrated, WAL with foreign keys, migrations that
//! re-apply as a no-op, and a time series that grows by day, not by evaluation.

mod common;

use common::*;
use dondoc::store::Store;

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
        "SELECT count(*) FROM _sqlx_migrations WHERE success = 1",
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
    let Store::Sqlite(_) = &store;
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
    }
}

#[tokio::test]
async fn evaluating_often_keeps_one_sample_per_day_and_the_latest_numbers() {
    let clock = clock();
    let sim = start_sim(sim_options(1500, 300), clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(sim.addr, dir.path(), "a.db", clock.clone()).await;
    let url = db_url(dir.path(), "a.db");
    for _ in 0..3 {
        assert!(
            dondoc::sync::run_once(&app, now(clock.as_ref()))
                .await
                .failures()
                .is_empty()
        );
        dondoc::metrics::run_once(&app, now(clock.as_ref()))
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
    dondoc::metrics::run_once(&app, now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM metric_samples").await,
        2 * 4 * 9 * 3
    );

    // The stored numbers are those of the evaluation at that instant.
    let ev = dondoc::metrics::evaluate(
        &app.store,
        &app.settings,
        dondoc::metrics::Period::containing(
            dondoc::metrics::PeriodKind::Quarter,
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
            r.unit == "CITY" && r.metric == dondoc::metrics::Metric::LateRate && r.scope.is_none()
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
