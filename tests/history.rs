//! History from the first day (issue 18): right after a first sync the time series holds every
//! past day the data covers, each day equal to what the daily evaluation computes as of that
//! day's end; the backfill resumes after a kill, does nothing twice, and marks revised the days
//! that a later change upstream altered, keeping what was first known. Both backends.

mod common;

use common::*;
use dondoc::domain::time::Clock;
use dondoc::domain::{Period, PeriodKind};
use dondoc::rates::backfill::{self, Options, day_end, day_start};
use dondoc::store::Store;
use std::collections::BTreeSet;

for_each_backend!(
    the_demo_lists_a_year_of_days_right_after_the_first_sync,
    a_killed_backfill_resumes_does_nothing_twice_and_keeps_revisions,
);
postgres_notice!();

/// Every sample of `day` as `unit|metric|scope|period|numerator/denominator`.
async fn stored_day(url: &str, day: &str) -> BTreeSet<String> {
    strings(
        url,
        &format!(
            "SELECT unit || '|' || metric || '|' || scope || '|' || period || '|' || numerator || '/' || denominator \
             FROM metric_samples WHERE day = '{day}'"
        ),
    )
    .await
    .into_iter()
    .collect()
}

/// What the daily evaluation computes for `day` as of its end, independently of the backfill:
/// one `metrics::evaluate` per period containing the day.
async fn evaluated_day(store: &Store, s: &dondoc::config::Settings, day: &str) -> BTreeSet<String> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    let mut out = BTreeSet::new();
    for kind in PeriodKind::ALL {
        let period = Period::containing(kind, day_start(date));
        let ev = dondoc::rates::evaluate(store, s, period, day_end(date))
            .await
            .unwrap();
        for r in ev.rows {
            out.insert(format!(
                "{}|{}|{}|{}|{}/{}",
                r.unit,
                r.metric.as_str(),
                r.scope.unwrap_or_default(),
                period,
                r.numerator,
                r.denominator
            ));
        }
    }
    out
}

/// Days to check: every 37th, plus the last day of each month (a period's last day is evaluated
/// as of its end: the whole period) and the first and last days.
fn sample_of_days(days: &[String]) -> Vec<String> {
    let mut out: Vec<String> = days.iter().step_by(37).cloned().collect();
    for w in days.windows(2) {
        if w[0][..7] != w[1][..7] {
            out.push(w[0].clone());
        }
    }
    out.extend(days.first().cloned());
    out.extend(days.last().cloned());
    out.sort();
    out.dedup();
    out
}

/// The demo configuration (config/dondoc.toml) scaled down: the built-in simulator with 2,000
/// dossiers over its usual year, on a free port, into the test's database.
fn scaled_demo(db_url: &str, port: u16, dir: &std::path::Path) -> String {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/dondoc.toml"))
        .unwrap();
    for needle in [
        "sqlite://data/dondoc.db",
        "127.0.0.1:8091",
        "dossiers = 60000",
        "documents = 15000",
        "data/outbox",
    ] {
        assert!(demo.contains(needle), "the demo configuration has {needle}");
    }
    demo.replace("sqlite://data/dondoc.db", db_url)
        .replace("127.0.0.1:8091", &format!("127.0.0.1:{port}"))
        .replace("dossiers = 60000", "dossiers = 2000")
        .replace("documents = 15000", "documents = 500")
        .replace("data/outbox", &dir.join("outbox").display().to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn the_demo_lists_a_year_of_days_right_after_the_first_sync(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let text = scaled_demo(&db.url, free_port(), dir.path());
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &text).unwrap();
    let bin = env!("CARGO_BIN_EXE_dondoc");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--config")
            .arg(&config)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dondoc {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let sync = run(&["sync"]);
    assert!(
        sync.contains("History "),
        "sync tells of the backfill: {sync}"
    );
    let history = |format: &str| {
        run(&[
            "history",
            "--unit",
            "DONGHA",
            "--metric",
            "late_rate",
            "--period",
            "quarter",
            "--format",
            format,
        ])
    };
    let csv = history("csv");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("unit,metric,scope,period,day,")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let days: BTreeSet<&str> = rows.iter().map(|r| r[4]).collect();
    assert!(days.len() >= 300, "{} days listed", days.len());
    assert_eq!(days.len(), rows.len(), "one quarter sample per day");
    assert!(
        rows.iter().all(|r| r[0] == "DONGHA" && r[1] == "late_rate"),
        "only the asked series"
    );
    // Each day's quarter is the quarter containing the day, and several quarters are covered.
    for r in &rows {
        let date = chrono::NaiveDate::parse_from_str(r[4], "%Y-%m-%d").unwrap();
        assert_eq!(
            Period::containing(PeriodKind::Quarter, day_start(date)).to_string(),
            r[3]
        );
    }
    let quarters: BTreeSet<&str> = rows.iter().map(|r| r[3]).collect();
    assert!(quarters.len() >= 4, "{quarters:?}");
    let table = history("table");
    assert!(table.lines().count() > 300, "{table}");
    let json: serde_json::Value = serde_json::from_str(&history("json")).unwrap();
    assert_eq!(json.as_array().unwrap().len(), rows.len());

    // The backfilled days equal an independent evaluation of each day as of its end.
    let settings = settings(&text);
    let store = Store::open(&db.url, 2).await.unwrap();
    let all_days = strings(
        &db.url,
        "SELECT DISTINCT day FROM metric_samples ORDER BY day",
    )
    .await;
    // The last day is today's live evaluation (as of the sync), not a past day.
    let past = &all_days[..all_days.len() - 1];
    let chosen = sample_of_days(past);
    assert!(chosen.len() >= 12, "{chosen:?}");
    for day in &chosen {
        let stored = stored_day(&db.url, day).await;
        let expected = evaluated_day(&store, &settings, day).await;
        assert!(!expected.is_empty());
        assert_eq!(stored, expected, "day {day}");
    }
    // A second run finds nothing to do.
    let again = run(&["backfill"]);
    assert!(again.contains(" 0 day(s) computed"), "{again}");
    store.close().await;
}

async fn a_killed_backfill_resumes_does_nothing_twice_and_keeps_revisions(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(1200, 300), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    let now = now(clock.as_ref());
    let report = dondoc::sync::run_once(&app, now).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());

    // A time budget (the daemon's way): one batch, the newest days first, the rest left.
    let first = backfill::run(
        &app,
        now,
        Options {
            budget: Some(std::time::Duration::ZERO),
            ..Options::default()
        },
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    assert_eq!(first.computed, backfill::BATCH_DAYS, "{first:?}");
    assert_eq!(first.left, first.days - backfill::BATCH_DAYS);
    let newest = strings(
        &db.url,
        "SELECT DISTINCT day FROM metric_samples ORDER BY day",
    )
    .await;
    assert_eq!(newest.len(), backfill::BATCH_DAYS);
    assert_eq!(
        Some(newest[newest.len() - 1].as_str()),
        first.last_day.as_deref()
    );

    // A kill in the middle: the run is dropped (its open transaction with it) after 5 batches.
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let s2 = stop.clone();
    let mut batches = 0;
    let mut progress = move |_: usize, _: usize, _: chrono::NaiveDate| {
        batches += 1;
        if batches == 5 {
            s2.notify_one();
        }
    };
    tokio::select! {
        r = backfill::run(&app, now, Options::default(), &mut progress) => panic!("not stopped: {r:?}"),
        _ = stop.notified() => {}
    }
    let done_before = scalar(&db.url, "SELECT count(DISTINCT day) FROM metric_samples").await;
    assert!(
        done_before >= 5 * backfill::BATCH_DAYS as i64,
        "{done_before}"
    );
    let resumed = backfill::run(&app, now, Options::default(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!(resumed.skipped as i64, done_before, "{resumed:?}");
    assert_eq!(resumed.skipped + resumed.computed, resumed.days);
    assert!(resumed.days > 300, "a year of data: {resumed:?}");
    // The simulator's data starts a year back; yesterday is the last day.
    let yesterday = (clock.now() - chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(resumed.last_day.as_deref(), Some(yesterday.as_str()));
    let days = strings(
        &db.url,
        "SELECT DISTINCT day FROM metric_samples ORDER BY day",
    )
    .await;
    assert_eq!(days.len(), resumed.days, "every day once, no gap");
    let per_day = scalar(&db.url, "SELECT count(*) FROM metric_samples").await / days.len() as i64;
    assert_eq!(
        per_day,
        // units × (8 metrics + 1 scoped target) × (month, quarter, year)
        (app.settings.units.len() * 9 * 3) as i64
    );
    // Equal to the daily evaluation, on days on both sides of the kill.
    for day in sample_of_days(&days) {
        assert_eq!(
            stored_day(&db.url, &day).await,
            evaluated_day(&app.store, &app.settings, &day).await,
            "day {day}"
        );
    }
    let before = Conn::open(&db.url)
        .await
        .lines("metric_samples", &all_columns("metric_samples"))
        .await;

    // Twice: nothing computed, nothing written; and recomputing with nothing changed rewrites
    // nothing either.
    let twice = backfill::run(&app, now, Options::default(), &mut |_, _, _| {})
        .await
        .unwrap();
    assert_eq!((twice.computed, twice.written), (0, 0), "{twice:?}");
    clock.advance(chrono::Duration::minutes(5));
    let later = common::now(clock.as_ref());
    let same = backfill::run(
        &app,
        later,
        Options {
            recompute: true,
            ..Options::default()
        },
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    assert_eq!(same.computed, same.days);
    assert_eq!(same.written, 0, "{same:?}");
    let unchanged = Conn::open(&db.url)
        .await
        .lines("metric_samples", &all_columns("metric_samples"))
        .await;
    assert_eq!(before, unchanged);

    // Upstream deletes and changes dossiers after the fact; the recomputed past days that
    // differ are revised: the counts now beside the counts first stored.
    assert!(sim.sim.touch(300) > 0);
    let report = dondoc::sync::run_once(&app, later).await;
    assert!(report.failures().is_empty());
    let revised = backfill::run(
        &app,
        later,
        Options {
            recompute: true,
            ..Options::default()
        },
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    assert!(revised.written > 0, "{revised:?}");
    let n_revised = scalar(
        &db.url,
        &format!("SELECT count(*) FROM metric_samples WHERE revised_at = {later}"),
    )
    .await;
    assert_eq!(n_revised as u64, revised.written);
    // The first counts are exactly what was stored before, and differ from the counts now,
    // which are what an evaluation finds now.
    let old: BTreeSet<String> = before
        .iter()
        .map(|l| {
            let c: Vec<&str> = l.split('|').collect();
            format!(
                "{}|{}|{}|{}|{}|{}/{}",
                c[0], c[1], c[2], c[3], c[4], c[6], c[7]
            )
        })
        .collect();
    let first_known: Vec<String> = strings(
        &db.url,
        "SELECT unit || '|' || metric || '|' || scope || '|' || period || '|' || day || '|' || first_numerator || '/' || first_denominator \
         FROM metric_samples WHERE revised_at IS NOT NULL",
    )
    .await;
    assert_eq!(
        first_known.len() as i64,
        n_revised,
        "no revision without its first counts"
    );
    for f in &first_known {
        assert!(old.contains(f), "{f} is what was stored before");
    }
    let still_same = scalar(
        &db.url,
        "SELECT count(*) FROM metric_samples WHERE revised_at IS NOT NULL \
         AND first_numerator = numerator AND first_denominator = denominator",
    )
    .await;
    assert_eq!(still_same, 0);
    let revised_days: Vec<String> = strings(
        &db.url,
        "SELECT DISTINCT day FROM metric_samples WHERE revised_at IS NOT NULL ORDER BY day",
    )
    .await;
    for day in revised_days.iter().step_by(29) {
        assert_eq!(
            stored_day(&db.url, day).await,
            evaluated_day(&app.store, &app.settings, day).await,
            "day {day} holds what is known now"
        );
    }
    // The series read back carries both (what `history` prints).
    let (unit, metric, scope): (String, String, String) = {
        let k = strings(
            &db.url,
            "SELECT unit || '|' || metric || '|' || scope FROM metric_samples WHERE revised_at IS NOT NULL ORDER BY day LIMIT 1",
        )
        .await;
        let k: Vec<&str> = k[0].split('|').collect();
        (k[0].into(), k[1].into(), k[2].into())
    };
    let series = app.store.samples(&unit, &metric, &scope).await.unwrap();
    let r = series
        .iter()
        .find_map(|s| s.revision.map(|r| (s, r)))
        .unwrap();
    assert_eq!(r.1.revised_at, later);
    assert_ne!(
        (r.0.numerator, r.0.denominator),
        (r.1.first_numerator, r.1.first_denominator)
    );
    app.store.close().await;
}

/// With the past days backfilled, the projection of a rate whose last weeks ran at another pace
/// than the period so far differs from its current value, in the direction of the recent pace;
/// without history every projection is the current value (what the letters said before).
#[tokio::test]
async fn projections_follow_the_recent_pace_once_the_past_is_backfilled() {
    // Half way through Q2 2024: half the quarter is still to come.
    let clock = clock();
    clock.set(
        chrono::DateTime::parse_from_rfc3339("2024-05-16T10:00:00+07:00")
            .unwrap()
            .to_utc(),
    );
    let sim = start_sim(sim_options(3000, 300), clock.clone()).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = db.app(sim.addr, clock.clone()).await;
    let now = now(clock.as_ref());
    assert!(
        dondoc::sync::run_once(&app, now)
            .await
            .failures()
            .is_empty()
    );
    let q2 = Period::containing(PeriodKind::Quarter, now);
    let rows = dondoc::rates::evaluate(&app.store, &app.settings, q2, now)
        .await
        .unwrap()
        .rows;
    let project = |base: &dondoc::alerts::observe::Baselines| {
        rows.iter()
            .filter(|r| r.denominator >= 20)
            .map(|r| {
                let key = (
                    r.unit.clone(),
                    r.metric.as_str().to_string(),
                    r.scope.clone().unwrap_or_default(),
                    q2.to_string(),
                );
                let b = base
                    .get(&key)
                    .map(|s| (s.as_of, s.numerator, s.denominator));
                (r, b, dondoc::alerts::digest::project(r, &q2, b, now))
            })
            .collect::<Vec<_>>()
    };
    // No history yet: the pace is the period's own; every projection is today's value.
    let none = dondoc::alerts::observe::baselines(&app, now).await.unwrap();
    assert!(none.is_empty());
    for (r, _, p) in project(&none) {
        let v = r.value.unwrap();
        assert!((p.at_end.unwrap() - v).abs() < 1e-9, "{r:?} {p:?}");
    }
    backfill::run(&app, now, Options::default(), &mut |_, _, _| {})
        .await
        .unwrap();
    let base = dondoc::alerts::observe::baselines(&app, now).await.unwrap();
    let mut moved = 0;
    for (r, b, p) in project(&base) {
        let (t0, n0, d0) = b.expect("a sample two weeks back");
        assert!(
            now - t0 >= 13 * 86_400,
            "the oldest sample of the trend window"
        );
        let v = r.value.unwrap();
        let at_end = p.at_end.unwrap();
        let (dn, dd) = (r.numerator - n0, r.denominator - d0);
        if dd < 20 {
            continue;
        }
        let recent = dn as f64 / dd as f64;
        // Between today's value and the recent share, on the recent share's side.
        assert!(
            (at_end - v) * (recent - v) >= -1e-12,
            "{} {}: {v} now, {recent} recently, {at_end} projected",
            r.unit,
            r.metric.as_str()
        );
        let (lo, hi) = p.range.unwrap();
        assert!(lo <= at_end + 1e-12 && at_end <= hi + 1e-12);
        if (at_end - v).abs() > 0.001 {
            moved += 1;
        }
    }
    assert!(
        moved > 0,
        "some rate's recent pace differs from its quarter so far"
    );
    app.store.close().await;
}
