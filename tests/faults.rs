//! Faults of dondoc's own machine while the daemon runs (docs/operations.md), each on a daemon
//! built by `Application::build` whose fires are driven with `tick` and an injected clock:
//!
//! - a full disk (SQLite's `max_page_count`: the same SQLITE_FULL, no mount needed): every fire
//!   fails while the disk is full and says so; once there is room, the next fire of every job
//!   succeeds and the data equal those of a store that never failed;
//! - PostgreSQL cutting dondoc's connections in the middle of a transaction
//!   (`pg_terminate_backend`): the next fire succeeds, nothing lost or duplicated;
//! - `/healthz` and `/metrics` show the disk's free space; with a threshold above it `/healthz`
//!   says `degraded` and the administrators' letter says why.

mod common;

use common::smtp::TestSmtp;
use common::*;
use dondoc::application::Application;
use dondoc::daemon::Job;
use dondoc::domain::time::ManualClock;
use dondoc::store::Store;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

postgres_notice!();

fn at(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

/// The test city with addresses, SMTP on `smtp_port`, every job firing every 15 minutes, and
/// `extra` TOML (the [health] section) at the end.
fn daemon_config(sim: SocketAddr, db: &str, smtp_port: u16, extra: &str) -> String {
    let units = UNITS
        .replace(
            "code = \"PHONG_TNMT\"\n",
            "code = \"PHONG_TNMT\"\nemails = [\"tnmt@city.example.gov.vn\"]\n",
        )
        .replace(
            "code = \"PHUONG_1\"\n",
            "code = \"PHUONG_1\"\nemails = [\"phuong1@city.example.gov.vn\"]\n",
        );
    let base = config_text(sim, db, "").replace(UNITS, &units);
    format!(
        r#"{base}
[http]
listen = "127.0.0.1:0"

[schedule]
sync = "0 */15 * * * *"
alerts = "0 */15 * * * *"
deliver = "0 */15 * * * *"
shutdown_timeout_secs = 5

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Theo dõi CCHC <dondoc@city.example.gov.vn>"
hello_name = "dondoc.city.example.gov.vn"
timeout_secs = 5

[alerts]
cc = ["phongnoivu@city.example.gov.vn"]
admin = ["cntt@city.example.gov.vn"]

[reports]
recipients = ["phongnoivu@city.example.gov.vn"]
schedule = "0 */15 * * * *"
{extra}
"#
    )
}

/// A daemon built as `dondoc run` builds it, on `db`.
async fn build(text: &str, clock: Arc<ManualClock>) -> Application {
    Application::build(settings(text), clock, None)
        .await
        .unwrap_or_else(|e| panic!("Application::build: {e}"))
}

/// Ticks the daemon at `instant` (the clock set there first) and waits for its jobs.
async fn fire(a: &Application, clock: &ManualClock, instant: &str) -> Vec<(Job, i64)> {
    clock.set(
        chrono::DateTime::parse_from_rfc3339(instant)
            .unwrap()
            .to_utc(),
    );
    let started = a.daemon().tick(at(instant)).await.unwrap();
    assert!(
        a.daemon().drain(Duration::from_secs(300)).await,
        "every job ended at {instant}"
    );
    started
}

/// How each scheduled job's run of the last fire ended.
fn outcomes(a: &Application) -> Vec<(Job, Option<String>)> {
    Job::scheduled(&a.daemon().app().settings)
        .into_iter()
        .map(|j| {
            let o = a
                .daemon()
                .last_outcome(j)
                .unwrap_or_else(|| panic!("{j:?} never ran"));
            (j, o.error)
        })
        .collect()
}

/// The rates: every stored sample, one line each. Without `computed_at`: the past days are
/// backfilled by the first sync that succeeds, which a fault delays; their counts and instants
/// (`as_of`, equal to the fire's instant for the live samples) must be equal.
async fn samples(url: &str) -> Vec<String> {
    let c = Conn::open(url).await;
    let columns: Vec<_> = all_columns("metric_samples")
        .into_iter()
        .filter(|(name, _)| *name != "computed_at")
        .collect();
    let mut v = c.lines("metric_samples", &columns).await;
    c.close().await;
    v.sort();
    v
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

const FIRES: [&str; 3] = [
    "2024-06-20T10:15:00+07:00",
    "2024-06-20T10:30:00+07:00",
    "2024-06-20T10:45:00+07:00",
];

#[tokio::test]
async fn a_full_disk_fails_the_fires_and_the_first_fire_after_room_is_made_succeeds() {
    let clock = clock();
    let sim = start_sim(sim_options(3000, 600), clock.clone()).await;
    let (smtp, smtp_ref) = (TestSmtp::start(), TestSmtp::start());
    let dir = tempfile::tempdir().unwrap();
    let (url, url_ref) = (db_url(dir.path(), "full.db"), db_url(dir.path(), "ref.db"));
    let a = build(
        &daemon_config(sim.addr, &url, smtp.port(), ""),
        clock.clone(),
    )
    .await;
    let reference = build(
        &daemon_config(sim.addr, &url_ref, smtp_ref.port(), ""),
        clock.clone(),
    )
    .await;
    let Store::Sqlite(store) = a.daemon().app().store else {
        panic!("a SQLite store")
    };

    // The disk is full from the start: the file may grow by 40 pages (160 KiB), far less than
    // the first sync needs.
    let pages = store.page_count().await.unwrap();
    store.set_page_cap(Some(pages + 40));
    for instant in &FIRES[..2] {
        let started = fire(&a, &clock, instant).await;
        assert_eq!(started.len(), 4, "every job fired at {instant}");
        fire(&reference, &clock, instant).await;
        let sync = a.daemon().last_outcome(Job::Sync).unwrap();
        let error = sync.error.clone().unwrap_or_default();
        assert!(
            error.contains("database or disk is full"),
            "the sync at {instant} fails and says why: {sync:?}"
        );
        for (job, error) in outcomes(&a) {
            let error = error.unwrap_or_default();
            assert!(
                !error.contains("transaction depth"),
                "{job:?} at {instant}: a connection left inside a failed transaction was reused: {error}"
            );
        }
    }
    assert!(
        store.page_count().await.unwrap() <= pages + 40,
        "the cap held"
    );

    // Room again: the next fire of every job succeeds, without a restart.
    store.set_page_cap(None);
    let started = fire(&a, &clock, FIRES[2]).await;
    assert_eq!(started.len(), 4);
    fire(&reference, &clock, FIRES[2]).await;
    for (job, error) in outcomes(&a) {
        assert_eq!(error, None, "{job:?} at {} after room was made", FIRES[2]);
        assert_eq!(
            a.daemon().last_outcome(job).unwrap().fire,
            at(FIRES[2]),
            "{job:?}"
        );
    }
    for (job, error) in outcomes(&reference) {
        assert_eq!(error, None, "reference {job:?}");
    }
    assert_eq!(
        a.daemon().unrecorded_fires(),
        0,
        "the ends the full disk refused are recorded now"
    );

    // The data equal those of the store that never failed: every record, rejection, catalogue
    // entry and rate.
    let (got, want) = (dump(&url).await, dump(&url_ref).await);
    assert!(got.len() > 2000, "{} rows", got.len());
    assert!(got == want, "the records differ from the reference store");
    assert_eq!(samples(&url).await, samples(&url_ref).await, "the rates");
    assert_eq!(
        strings(
            &url,
            "SELECT source || '/' || endpoint || ' ' || coalesce(mark, -1) FROM sync_state ORDER BY 1"
        )
        .await,
        strings(
            &url_ref,
            "SELECT source || '/' || endpoint || ' ' || coalesce(mark, -1) FROM sync_state ORDER BY 1"
        )
        .await,
        "the sync marks"
    );
    // Every fire of the last instant is recorded as done; no claim is left open.
    assert_eq!(
        scalar(
            &url,
            &format!(
                "SELECT count(*) FROM job_runs WHERE fire_at = {} AND ok = TRUE",
                at(FIRES[2])
            )
        )
        .await,
        4
    );
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM job_runs WHERE finished_at IS NULL"
        )
        .await,
        0,
        "{:?}",
        strings(
            &url,
            "SELECT job || ' ' || fire_at FROM job_runs WHERE finished_at IS NULL"
        )
        .await
    );
    let outbox = a.daemon().app().store.outbox(1000).await.unwrap();
    assert!(!outbox.is_empty(), "digests and the report were queued");
    assert!(
        outbox.iter().all(|m| m.status == "sent"),
        "{:?}",
        outbox
            .iter()
            .map(|m| (&m.subject, &m.status))
            .collect::<Vec<_>>()
    );
    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m.parsed().message_id.unwrap_or_default())
        .collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<HashSet<_>>().len(),
        "a mail arrived twice"
    );
    assert_eq!(ids.len(), outbox.len(), "every queued mail arrived");

    let (code, body) = get(a.port(), "/healthz").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"
        )
        .await,
        1
    );
}

/// The backends of dondoc's pool on its database, as PostgreSQL lists them.
const DONDOC_BACKENDS: &str = "FROM pg_stat_activity WHERE application_name = 'dondoc' \
     AND datname = current_database() AND pid <> pg_backend_pid()";

#[tokio::test]
async fn postgres_connections_terminated_mid_transaction_heal_at_the_next_fire() {
    if !postgres_or_skip() {
        return;
    }
    let clock = clock();
    let sim = start_sim(sim_options(3000, 600), clock.clone()).await;
    let (smtp, smtp_ref) = (TestSmtp::start(), TestSmtp::start());
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let url_ref = db_url(dir.path(), "ref.db");
    let a = build(
        &daemon_config(sim.addr, &db.url, smtp.port(), ""),
        clock.clone(),
    )
    .await;
    let reference = build(
        &daemon_config(sim.addr, &url_ref, smtp_ref.port(), ""),
        clock.clone(),
    )
    .await;

    // Hold dondoc's first page of dossiers inside its transaction: another session locks the
    // table against writes.
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut admin).await.unwrap();
    sqlx::query("LOCK TABLE dossiers IN EXCLUSIVE MODE")
        .execute(&mut admin)
        .await
        .unwrap();
    clock.set(
        chrono::DateTime::parse_from_rfc3339(FIRES[0])
            .unwrap()
            .to_utc(),
    );
    let started = a.daemon().tick(at(FIRES[0])).await.unwrap();
    assert_eq!(started.len(), 4);
    // pg_stat_activity is read outside the locking transaction (inside one, its snapshot would
    // stay as it was at the first read).
    let mut watch = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // Wait (bounded) until dondoc is inside its transaction, blocked on the lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) {DONDOC_BACKENDS} AND wait_event_type = 'Lock' \
             AND state = 'active' AND xact_start IS NOT NULL AND query LIKE '%INSERT INTO dossiers%'"
        )))
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        if std::time::Instant::now() > deadline {
            let seen: Vec<String> = sqlx::query_scalar(
                "SELECT pid || ' ' || coalesce(state, '') || ' ' || coalesce(wait_event_type, '') \
                 || ' ' || left(query, 60) FROM pg_stat_activity WHERE datname = current_database()",
            )
            .fetch_all(&mut watch)
            .await
            .unwrap();
            panic!(
                "dondoc never reached its dossier transaction: {seen:#?} {:?}",
                a.daemon().last_outcome(Job::Sync)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed: Vec<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) {DONDOC_BACKENDS}"
    )))
    .fetch_all(&mut watch)
    .await
    .unwrap();
    assert!(killed.iter().any(|k| *k), "dondoc's connections terminated");
    let _ = watch.close().await;
    sqlx::query("COMMIT").execute(&mut admin).await.unwrap();
    assert!(a.daemon().drain(Duration::from_secs(300)).await);
    fire(&reference, &clock, FIRES[0]).await;
    let sync = a.daemon().last_outcome(Job::Sync).unwrap();
    assert!(
        sync.error.is_some(),
        "the sync whose transaction was cut failed: {sync:?}"
    );

    // The next fire: every job succeeds.
    for instant in &FIRES[1..] {
        fire(&a, &clock, instant).await;
        fire(&reference, &clock, instant).await;
    }
    for (job, error) in outcomes(&a) {
        assert_eq!(error, None, "{job:?} at {}", FIRES[2]);
    }

    // Nothing lost: the records and rates equal those of a store that never failed.
    let (got, want) = (dump(&db.url).await, dump(&url_ref).await);
    assert!(got.len() > 2000, "{} rows", got.len());
    assert!(got == want, "the records differ from the reference store");
    assert_eq!(samples(&db.url).await, samples(&url_ref).await, "the rates");
    // Nothing duplicated: each claimed fire once, each mail once.
    assert_eq!(
        scalar(
            &db.url,
            "SELECT count(*) FROM job_runs WHERE finished_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &db.url,
            "SELECT count(*) FROM (SELECT job, fire_at FROM job_runs GROUP BY job, fire_at HAVING count(*) > 1) d"
        )
        .await,
        0
    );
    let outbox = a.daemon().app().store.outbox(1000).await.unwrap();
    assert!(!outbox.is_empty());
    assert!(outbox.iter().all(|m| m.status == "sent"));
    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m.parsed().message_id.unwrap_or_default())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "a mail arrived twice: {ids:?}");
    assert_eq!(ids.len(), outbox.len(), "every queued mail arrived once");
    let _ = admin.close().await;
}

#[tokio::test]
async fn healthz_and_metrics_show_free_disk_space_and_degraded_below_the_threshold() {
    let clock = clock();
    let sim = start_sim(sim_options(300, 60), clock.clone()).await;
    let smtp = TestSmtp::start();
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path(), "d.db");
    // A threshold far above any disk's free space (1 EiB).
    let low = daemon_config(
        sim.addr,
        &url,
        smtp.port(),
        "[health]\nmin_free_disk_mib = 1099511627776\nmin_free_disk_percent = 0\n",
    );
    let path = dir.path().join("dondoc.toml");
    std::fs::write(&path, &low).unwrap();
    let a = Application::build(settings(&low), clock.clone(), Some(path.clone()))
        .await
        .unwrap();
    fire(&a, &clock, FIRES[0]).await;
    for (job, error) in outcomes(&a) {
        assert_eq!(error, None, "{job:?}");
    }

    let (code, body) = get(a.port(), "/healthz").await;
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "degraded still answers 200: {body}");
    assert_eq!(h["status"], "degraded", "{body}");
    assert_eq!(h["disk"]["status"], "low", "{body}");
    let free = h["disk"]["free_bytes"].as_u64().unwrap();
    let total = h["disk"]["total_bytes"].as_u64().unwrap();
    assert!(free > 0 && free <= total, "{body}");
    assert!(
        h["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("disk space low")),
        "{body}"
    );
    // What statvfs says, within what other processes wrote meanwhile.
    let now = dondoc::store::disk::measure(&dir.path().join("d.db")).unwrap();
    assert_eq!(now.total_bytes, total);
    assert!(
        now.free_bytes.abs_diff(free) < 64 * 1024 * 1024,
        "{free} vs {now:?}"
    );

    let (code, metrics) = get(a.port(), "/metrics").await;
    assert_eq!(code, 200);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("dondoc_disk_free_bytes{"))
        .unwrap_or_else(|| panic!("no disk gauge in {metrics}"));
    assert!(line.contains("d.db"), "{line}");
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        value > 0.0 && (value as u64).abs_diff(free) < 64 * 1024 * 1024,
        "{line}"
    );
    assert!(metrics.contains("dondoc_disk_size_bytes{"), "{metrics}");

    // The administrators' letter says it (the digest of the next fire).
    fire(&a, &clock, FIRES[1]).await;
    let letters: Vec<String> = smtp
        .received()
        .into_iter()
        .map(|m| m.parsed())
        .filter(|m| m.to.iter().any(|t| t.contains("cntt@")))
        .map(|m| m.text.unwrap_or_default())
        .collect();
    assert!(
        letters.iter().any(|t| t.contains("disk space low")),
        "the administrators' letters: {letters:?}"
    );

    // The threshold lowered (SIGHUP): ok again.
    std::fs::write(
        &path,
        daemon_config(
            sim.addr,
            &url,
            smtp.port(),
            "[health]\nmin_free_disk_mib = 0\nmin_free_disk_percent = 0\n",
        ),
    )
    .unwrap();
    a.daemon().reload().unwrap();
    let (code, body) = get(a.port(), "/healthz").await;
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, h["status"].as_str()), (200, Some("ok")), "{body}");
    assert_eq!(h["disk"]["status"], "ok", "{body}");
}

/// The wall clock stepped by NTP while the daemon runs: stepped back, no fire runs twice (the
/// fires already seen are not due again); stepped forward over many fires, each job runs once for
/// its latest fire. The fire claims in the database hold the same line across restarts.
#[test]
fn a_clock_stepped_back_replays_no_fire_and_stepped_forward_runs_each_job_once() {
    let s = settings(&daemon_config(
        "127.0.0.1:9".parse().unwrap(),
        "sqlite://x.db",
        25,
        "",
    ));
    let mut sched = dondoc::daemon::Scheduler::new(&s, at("2024-06-20T10:00:00+07:00")).unwrap();
    let due = sched.due(at("2024-06-20T10:15:01+07:00"));
    assert_eq!(due.len(), 4, "each job at 10:15: {due:?}");
    // NTP steps the clock back an hour: nothing is due again, even at a fire time seen before.
    assert!(sched.due(at("2024-06-20T09:15:00+07:00")).is_empty());
    assert!(sched.due(at("2024-06-20T10:15:01+07:00")).is_empty());
    // … and the next fire after the step back is the first one not yet seen.
    assert_eq!(sched.next_wake(), Some(at("2024-06-20T10:30:00+07:00")));
    // Stepped forward by a day: each job once, for its latest fire.
    let due = sched.due(at("2024-06-21T10:07:00+07:00"));
    assert_eq!(due.len(), 4, "{due:?}");
    assert!(
        due.iter()
            .all(|(_, fire)| *fire == at("2024-06-21T10:00:00+07:00")),
        "{due:?}"
    );
}

/// A job that never ends (wedged on a dead connection, say).
struct Wedged;

impl dondoc::daemon::Runner for Wedged {
    fn run(
        &self,
        job: Job,
        _app: dondoc::app::App,
        _fire: i64,
        _now: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>> {
        Box::pin(async move {
            if job == Job::Sync {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }
}

/// A run that never ends is skipped over ("still running") only for a while: at a fire more than
/// four intervals (and two hours) after it began, it is abandoned, recorded as failed, and the new
/// fire runs.
#[tokio::test]
async fn a_wedged_job_is_abandoned_at_a_later_fire_and_the_new_fire_runs() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path(), "w.db");
    let clock = clock();
    let text = daemon_config("127.0.0.1:9".parse().unwrap(), &url, 25, "");
    let app = dondoc::app::App::build(settings(&text), clock.clone())
        .await
        .unwrap();
    let d = dondoc::daemon::Daemon::with_runner(
        app,
        None,
        Arc::new(Wedged),
        Arc::new(dondoc::daemon::SyncCounters::default()),
    )
    .unwrap();
    let syncs =
        |started: Vec<(Job, i64)>| started.into_iter().filter(|(j, _)| *j == Job::Sync).count();
    assert_eq!(
        syncs(d.tick(at("2024-06-20T10:15:00+07:00")).await.unwrap()),
        1
    );
    assert!(d.is_running(Job::Sync));
    // Within two hours: skipped as still running.
    for t in ["2024-06-20T10:30:00+07:00", "2024-06-20T12:00:00+07:00"] {
        assert_eq!(syncs(d.tick(at(t)).await.unwrap()), 0, "{t}");
    }
    // Past two hours: abandoned, recorded, and the new fire runs.
    assert_eq!(
        syncs(d.tick(at("2024-06-20T12:30:00+07:00")).await.unwrap()),
        1
    );
    let errors = strings(
        &url,
        &format!(
            "SELECT coalesce(error, '') FROM job_runs WHERE job = 'sync' AND fire_at = {}",
            at("2024-06-20T10:15:00+07:00")
        ),
    )
    .await;
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("abandoned"), "{errors:?}");
    assert!(d.is_running(Job::Sync), "the new fire runs");
    assert!(!d.drain(Duration::from_millis(50)).await, "still wedged");
}
