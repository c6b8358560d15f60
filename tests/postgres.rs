//! PostgreSQL as a first-class backend: replicas sharing one database run every job fire once
//! and send every mail once (two real daemons in this process, the simulator, a real SMTP server
//! on loopback), a replica that dies holding a message lets another send it after its lease, bulk
//! writes behave as SQLite's, and `migrate-store` copies a city's whole history so that
//! `status --format json` is the same before and after.
//!
//! Every test runs on both backends (two daemons can share one SQLite file too); the PostgreSQL
//! half needs `DONDOC_TEST_POSTGRES_URL` and says SKIPPED without it.

mod common;

use common::smtp::TestSmtp;
use common::*;
use dondoc::app::App;
use dondoc::daemon::{Daemon, Job, Runner, SyncCounters};
use dondoc::domain::mail::OutgoingMail;
use dondoc::domain::time::Epoch;
use dondoc::store::Store;
use dondoc::upstream::records::Dossier;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

postgres_notice!();
for_each_backend!(
    two_daemons_on_one_database_run_every_fire_once_and_send_every_mail_once,
    concurrent_senders_send_each_message_once,
    a_replica_that_dies_holding_a_message_lets_another_send_it_after_the_lease,
    replicas_racing_for_one_fire_claim_it_once,
    migrate_store_round_trips_the_simulators_history,
    migrate_store_refuses_a_target_that_holds_data_and_a_missing_source,
);

fn at(s: &str) -> Epoch {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

/// The test city with an address per unit, SMTP on `smtp_port`, and the daemon's schedules.
fn replica_config(sim: SocketAddr, db: &str, smtp_port: u16) -> String {
    let units = UNITS
        .replace(
            "code = \"PHONG_TNMT\"\n",
            "code = \"PHONG_TNMT\"\nemails = [\"tnmt@city.example.gov.vn\"]\n",
        )
        .replace(
            "code = \"PHUONG_1\"\n",
            "code = \"PHUONG_1\"\nemails = [\"phuong1@city.example.gov.vn\"]\n",
        )
        .replace(
            "code = \"PHUONG_DONG_LE\"\n",
            "code = \"PHUONG_DONG_LE\"\nemails = [\"dongle@city.example.gov.vn\"]\n",
        );
    let base = config_text(sim, db, "").replace(UNITS, &units);
    format!(
        r#"{base}
[schedule]
sync = "0 */15 * * * *"
alerts = "0 0 8 * * Mon-Fri"
deliver = "30 * * * * *"

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
"#
    )
}

/// Every job run: the job, its fire time, the replica that ran it.
type Runs = Arc<Mutex<Vec<(Job, Epoch, &'static str)>>>;

/// The real jobs, each run recorded with the replica that ran it.
struct Recording {
    replica: &'static str,
    runs: Runs,
    counters: Arc<SyncCounters>,
}

impl Runner for Recording {
    fn run(
        &self,
        job: Job,
        app: App,
        fire: Epoch,
        now: Epoch,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        self.runs.lock().unwrap().push((job, fire, self.replica));
        let counters = self.counters.clone();
        Box::pin(async move {
            dondoc::jobs::run(job, &app, fire, now, &counters)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

async fn two_daemons_on_one_database_run_every_fire_once_and_send_every_mail_once(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(3000, 600), clock.clone()).await;
    let smtp = TestSmtp::start();
    let db = TestDb::new(b).await;
    let runs = Arc::new(Mutex::new(Vec::new()));
    let mut daemons = Vec::new();
    for replica in ["replica-a", "replica-b"] {
        // Each replica has its own application: its own pool of connections.
        let text = replica_config(sim.addr, &db.url, smtp.port());
        let app = App::build(settings(&text), clock.clone()).await.unwrap();
        let counters = Arc::new(SyncCounters::default());
        let runner = Arc::new(Recording {
            replica,
            runs: runs.clone(),
            counters: counters.clone(),
        });
        daemons.push(Daemon::with_runner(app, None, runner, counters).unwrap());
    }
    let (a, b2) = (daemons[0].clone(), daemons[1].clone());

    // Thursday 10:00 both start (catch-up), then fire times over two working days. Both replicas
    // wake at each instant together and race for every fire.
    let instants = [
        None,
        Some("2024-06-20T10:15:00+07:00"),
        Some("2024-06-20T10:30:30+07:00"),
        Some("2024-06-21T08:00:30+07:00"),
        Some("2024-06-21T08:15:00+07:00"),
        Some("2024-06-24T08:00:30+07:00"),
        Some("2024-06-24T08:01:30+07:00"),
    ];
    let mut started = Vec::new();
    for instant in instants {
        let now = match instant {
            None => now(clock.as_ref()),
            Some(t) => {
                clock.set(chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc());
                at(t)
            }
        };
        let (ra, rb) = if instant.is_none() {
            tokio::join!(a.catch_up(now), b2.catch_up(now))
        } else {
            tokio::join!(a.tick(now), b2.tick(now))
        };
        started.extend(ra.unwrap());
        started.extend(rb.unwrap());
        let (da, db_) = tokio::join!(
            a.drain(Duration::from_secs(120)),
            b2.drain(Duration::from_secs(120))
        );
        assert!(da && db_, "every job ended at {instant:?}");
    }

    // Every fire ran once, on one replica or the other.
    let runs = runs.lock().unwrap().clone();
    let mut per_fire: BTreeMap<(Job, Epoch), Vec<&str>> = BTreeMap::new();
    for (job, fire, replica) in &runs {
        per_fire.entry((*job, *fire)).or_default().push(replica);
    }
    for ((job, fire), replicas) in &per_fire {
        assert_eq!(
            replicas.len(),
            1,
            "{job:?} at {} ran on {replicas:?}",
            dondoc::domain::time::rfc3339(*fire)
        );
    }
    assert_eq!(runs.len(), started.len());
    let by_replica = |r: &str| runs.iter().filter(|x| x.2 == r).count();
    eprintln!(
        "{b:?}: {} fires, replica-a ran {}, replica-b ran {}",
        per_fire.len(),
        by_replica("replica-a"),
        by_replica("replica-b")
    );
    // The fires expected: every instant's sync, deliver and the working days' digests.
    for (job, fire) in [
        (Job::Sync, "2024-06-20T10:00:00+07:00"),
        (Job::Sync, "2024-06-20T10:15:00+07:00"),
        (Job::Sync, "2024-06-20T10:30:00+07:00"),
        (Job::Sync, "2024-06-21T08:00:00+07:00"),
        (Job::Sync, "2024-06-21T08:15:00+07:00"),
        (Job::Sync, "2024-06-24T08:00:00+07:00"),
        (Job::AlertsDigest, "2024-06-21T08:00:00+07:00"),
        (Job::AlertsDigest, "2024-06-24T08:00:00+07:00"),
        (Job::Deliver, "2024-06-21T08:00:30+07:00"),
        (Job::Deliver, "2024-06-24T08:01:30+07:00"),
    ] {
        assert!(
            per_fire.contains_key(&(job, at(fire))),
            "{job:?} at {fire} ran: {:?}",
            per_fire.keys().collect::<Vec<_>>()
        );
    }
    // The claims in the database say the same, and every run succeeded.
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM job_runs").await as usize,
        per_fire.len()
    );
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM job_runs WHERE ok = TRUE").await as usize,
        per_fire.len(),
        "{:?}",
        strings(
            &db.url,
            "SELECT job || ': ' || coalesce(error, '?') FROM job_runs WHERE ok IS NULL OR ok = FALSE"
        )
        .await
    );

    // Every queued message went out, and each arrived once.
    let app = a.app();
    let outbox = app.store.outbox(1000).await.unwrap();
    assert!(outbox.len() >= 3, "digests were queued: {}", outbox.len());
    assert!(
        outbox.iter().all(|m| m.status == "sent"),
        "{:?}",
        outbox
            .iter()
            .map(|m| (&m.subject, &m.status, &m.last_error))
            .collect::<Vec<_>>()
    );
    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m.parsed().message_id.unwrap_or_default())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "a mail arrived twice: {ids:?}");
    assert_eq!(ids.len(), outbox.len());
    eprintln!("{b:?}: {} mails, each once", ids.len());
    let queued: HashSet<String> = outbox.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(unique.into_iter().cloned().collect::<HashSet<_>>(), queued);
    for d in &daemons {
        d.app().store.close().await;
    }
}

/// `n` distinct messages queued at `now`.
async fn queue(store: &Store, n: usize, now: Epoch) {
    let mails: Vec<(String, OutgoingMail)> = (0..n)
        .map(|i| {
            (
                "alert_digest".to_string(),
                OutgoingMail {
                    message_id: format!("test.{i}.{now}@dondoc"),
                    to: vec![format!("unit{i}@city.example.gov.vn")],
                    cc: vec!["phongnoivu@city.example.gov.vn".into()],
                    subject: format!("Thư số {i}: chỉ tiêu chưa đạt"),
                    text: format!("Kính gửi đơn vị {i}."),
                    html: None,
                    attachment: None,
                },
            )
        })
        .collect();
    assert_eq!(store.commit_digest(&mails, &[], now).await.unwrap(), n);
    // Queued again (a digest recomposed for the same fire): nothing new.
    assert_eq!(store.commit_digest(&mails, &[], now).await.unwrap(), 0);
}

async fn concurrent_senders_send_each_message_once(b: Backend) {
    let clock = clock();
    let smtp = TestSmtp::start();
    let db = TestDb::new(b).await;
    let text = replica_config("127.0.0.1:9".parse().unwrap(), &db.url, smtp.port());
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(App::build(settings(&text), clock.clone()).await.unwrap());
    }
    let now = now(clock.as_ref());
    queue(&apps[0].store, 60, now).await;
    let mailer =
        dondoc::alerts::mailer::Mailer::from_settings(apps[0].settings.smtp.as_ref().unwrap())
            .unwrap();

    // Three replicas, two senders each, all at once.
    let mut tasks = Vec::new();
    for app in &apps {
        for _ in 0..2 {
            let (app, mailer) = (app.clone(), mailer.clone());
            tasks.push(tokio::spawn(async move {
                dondoc::alerts::outbox::deliver_once(&app, &mailer, now)
                    .await
                    .unwrap()
                    .sent
            }));
        }
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap();
    }
    assert_eq!(sent, 60);
    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m.parsed().message_id.unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), 60);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 60);
    let outbox = apps[0].store.outbox(100).await.unwrap();
    assert!(outbox.iter().all(|m| m.status == "sent" && m.attempts == 1));
    assert_eq!(
        apps[1].store.outbox_counts().await.unwrap(),
        dondoc::store::OutboxCounts {
            pending: 0,
            failed: 0,
            sent: 60,
            superseded: 0,
        }
    );
    for app in &apps {
        app.store.close().await;
    }
}

async fn a_replica_that_dies_holding_a_message_lets_another_send_it_after_the_lease(b: Backend) {
    let db = TestDb::new(b).await;
    let lease = dondoc::alerts::outbox::LEASE_SECS;
    let now = at("2024-06-21T08:00:30+07:00");
    let dying = Store::open(&db.url, 2).await.unwrap();
    queue(&dying, 3, now).await;
    let held = dying.claim_mail(now, lease).await.unwrap().unwrap();
    assert_eq!(held.attempts, 1);
    dying.close().await; // the replica dies before sending

    let other = Store::open(&db.url, 2).await.unwrap();
    let mut got = Vec::new();
    while let Some(m) = other.claim_mail(now + 5, lease).await.unwrap() {
        other.mail_sent(m.id, now + 5).await.unwrap();
        got.push(m.id);
    }
    assert_eq!(got.len(), 2, "the held message waits for its lease");
    assert!(!got.contains(&held.id));
    assert!(
        other
            .claim_mail(now + lease, lease)
            .await
            .unwrap()
            .is_none()
    );
    let again = other
        .claim_mail(now + lease + 1, lease)
        .await
        .unwrap()
        .expect("the lease ran out");
    assert_eq!(again.id, held.id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.mail, held.mail);
    other.close().await;
}

async fn replicas_racing_for_one_fire_claim_it_once(b: Backend) {
    let db = TestDb::new(b).await;
    let stores = [
        Store::open(&db.url, 4).await.unwrap(),
        Store::open(&db.url, 4).await.unwrap(),
    ];
    let fire = at("2024-06-21T08:00:00+07:00");
    for job in ["sync", "alerts_digest", "deliver"] {
        let mut tasks = Vec::new();
        for (i, s) in stores.iter().enumerate() {
            for k in 0..8 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    s.claim_fire(job, fire, &format!("replica-{i}-{k}"), fire + 1)
                        .await
                        .unwrap()
                }));
            }
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "{job}: one claim of sixteen wins");
    }
    assert_eq!(stores[1].last_fire("deliver").await.unwrap(), Some(fire));
    for s in &stores {
        s.close().await;
    }
}

/// Runs `dondoc status --format json` on `config`.
fn status_json(config: &std::path::Path, period: &str) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "status",
            "--as-of",
            "2024-06-21T09:00:00+07:00",
            "--period",
            period,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A city's history in SQLite (records, rejections, samples of two days, alerts, sent and
/// pending mail, fire claims), copied to a fresh database of `b` and back to a fresh SQLite file:
/// every row of every table, and `status`, are the same in all three.
async fn migrate_store_round_trips_the_simulators_history(b: Backend) {
    let clock = clock();
    let mut options = sim_options(4000, 800);
    options.faults.invalid_share = 0.01;
    let sim = start_sim(options, clock.clone()).await;
    let smtp = TestSmtp::start();
    let source = TestDb::new(Backend::Sqlite).await;
    let text = replica_config(sim.addr, &source.url, smtp.port());
    let app = App::build(settings(&text), clock.clone()).await.unwrap();
    let mailer =
        dondoc::alerts::mailer::Mailer::from_settings(app.settings.smtp.as_ref().unwrap()).unwrap();
    for instant in [
        "2024-06-20T10:00:00+07:00",
        "2024-06-20T10:15:00+07:00",
        "2024-06-21T08:00:30+07:00",
    ] {
        clock.set(
            chrono::DateTime::parse_from_rfc3339(instant)
                .unwrap()
                .to_utc(),
        );
        let now = now(clock.as_ref());
        dondoc::sync::run_once(&app, now).await;
        let ev = dondoc::rates::run_once(&app, now).await.unwrap();
        dondoc::jobs::alerts::run_once(&app, &ev, Some(&mailer), now)
            .await
            .unwrap();
    }
    // One message stays pending (the server refuses for now), with its error kept.
    smtp.set_mode(common::smtp::SmtpMode::RejectTransient);
    queue(&app.store, 2, now(clock.as_ref())).await;
    dondoc::alerts::outbox::deliver_once(&app, &mailer, now(clock.as_ref()))
        .await
        .unwrap();
    app.store.close().await;

    let before = dump_all(&source.url).await;
    for table in [
        "dossiers",
        "rejected",
        "metric_samples",
        "alerts",
        "outbox",
        "job_runs",
    ] {
        assert!(
            before.iter().any(|l| l.starts_with(&format!("{table}|"))),
            "the history has {table}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let config_of = |url: &str, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, replica_config(sim.addr, url, smtp.port())).unwrap();
        path
    };
    let source_config = config_of(&source.url, "source.toml");
    let statuses = |config: std::path::PathBuf| {
        ["month", "quarter", "year"]
            .iter()
            .map(|p| status_json(&config, p))
            .collect::<Vec<_>>()
    };
    let status_before = statuses(source_config);

    // SQLite → the backend under test.
    let target = TestDb::new(b).await;
    let report = dondoc::store::run_migrate_store(&source.url, &target.url)
        .await
        .unwrap();
    assert!(report.contains("every table's count matches"), "{report}");
    assert!(report.contains("dossiers"), "{report}");
    assert_eq!(
        dump_all(&target.url).await,
        before,
        "every row of every table"
    );
    assert_eq!(
        statuses(config_of(&target.url, "target.toml")),
        status_before
    );

    // … and back to a fresh SQLite file.
    let back = TestDb::new(Backend::Sqlite).await;
    let (from, to) = (
        Store::open(&target.url, 2).await.unwrap(),
        Store::open(&back.url, 2).await.unwrap(),
    );
    let report = dondoc::store::migrate_store(&from, &to).await.unwrap();
    from.close().await;
    to.close().await;
    assert_eq!(report.rows() as usize, before.len());
    assert!(report.tables.iter().all(|t| t.source_rows == t.target_rows));
    assert_eq!(dump_all(&back.url).await, before);
    assert_eq!(statuses(config_of(&back.url, "back.toml")), status_before);

    // The copy goes on where the source stopped: its marks came along, so the next sync pulls
    // only what changed, and a new message gets a new id.
    let copy = App::build(
        settings(&replica_config(sim.addr, &target.url, smtp.port())),
        clock.clone(),
    )
    .await
    .unwrap();
    clock.advance(chrono::Duration::minutes(15));
    sim.sim.touch(10);
    sim.sim.reset_requests();
    let r = dondoc::sync::run_once(&copy, now(clock.as_ref())).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_eq!(sim.sim.requests().ho_so, 1, "one page: only the changes");
    let max_id = copy.store.outbox(1).await.unwrap()[0].id;
    queue(&copy.store, 1, now(clock.as_ref())).await;
    assert_eq!(copy.store.outbox(1).await.unwrap()[0].id, max_id + 1);
    copy.store.close().await;
}

async fn migrate_store_refuses_a_target_that_holds_data_and_a_missing_source(b: Backend) {
    let source = TestDb::new(Backend::Sqlite).await;
    let s = Store::open(&source.url, 1).await.unwrap();
    queue(&s, 2, 1_718_852_400).await;
    s.close().await;
    let target = TestDb::new(b).await;
    dondoc::store::run_migrate_store(&source.url, &target.url)
        .await
        .unwrap();
    // Again into the now filled target: refused, nothing changed.
    let before = dump_all(&target.url).await;
    let e = dondoc::store::run_migrate_store(&source.url, &target.url)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("already holds data (outbox: 2 rows)"),
        "{e}"
    );
    assert_eq!(dump_all(&target.url).await, before);

    // A mistyped source path is not an empty history.
    let missing = format!("{}-typo", source.url);
    let e = dondoc::store::run_migrate_store(&missing, &target.url)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!std::path::Path::new(missing.trim_start_matches("sqlite://")).exists());
    let e = dondoc::store::run_migrate_store(&target.url, &target.url)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("same database"), "{e}");
}

/// A page in which keys repeat (the upstream served a record twice, older and newer versions in
/// any order) is stored by PostgreSQL exactly as SQLite stores it, with the same count, and so
/// is a page larger than a chunk.
#[tokio::test]
async fn postgres_stores_a_page_with_repeated_keys_exactly_as_sqlite() {
    if !postgres_or_skip() {
        return;
    }
    let base = Dossier {
        status: 4,
        procedure_code: "P4".into(),
        unit_code: "000.01.23.H50".into(),
        received_at: Some(1_712_000_000),
        ..Dossier::tombstone(String::new(), 0)
    };
    let mut page = Vec::new();
    for i in 0..12_000 {
        page.push(Dossier {
            code: format!("D{:05}", i % 9_000),
            updated_at: 1_717_000_000 + ((i * 7919) % 1000) as i64,
            fee_total: i as f64 + 0.5,
            digitized: i % 3 == 0,
            deleted: i % 97 == 0,
            rating: (i % 4 != 0).then_some((i % 3 + 1) as u8),
            ..base.clone()
        });
    }
    let mut written = HashMap::new();
    let mut dumps = HashMap::new();
    let mut dbs = Vec::new();
    for b in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(b).await;
        let store = Store::open(&db.url, 1).await.unwrap();
        let n = store
            .store_dossier_page("motcua", "ho-so", &page, &[], Some(1_717_000_999), 1)
            .await
            .unwrap();
        // The same page again: only the versions not older than what is stored are rewritten.
        let again = store
            .store_dossier_page("motcua", "ho-so", &page[..5000], &[], None, 2)
            .await
            .unwrap();
        written.insert(b, (n, again));
        store.close().await;
        dumps.insert(b, dump(&db.url).await);
        dbs.push(db);
    }
    assert_eq!(written[&Backend::Sqlite], written[&Backend::Postgres]);
    assert_eq!(dumps[&Backend::Sqlite].len(), 9_000);
    assert_eq!(dumps[&Backend::Sqlite], dumps[&Backend::Postgres]);
}

/// `Store::open` refuses what it cannot open with words a person can act on, and never shows a
/// password.
#[tokio::test]
async fn a_postgres_url_that_cannot_be_reached_is_refused_without_its_password() {
    let e = Store::open("postgres://dondoc:hunter2@127.0.0.1:9/dondoc", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot connect to the PostgreSQL database"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains("dondoc:***@127.0.0.1:9/dondoc"), "{e}");
    let e = Store::open("mysql://x@y/z", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not supported"), "{e}");
}

/// `?sslmode=require` in database.url encrypts the connection (rustls); the server of the test
/// machine has TLS on (Debian's default, a self-signed certificate), else the test says so.
#[tokio::test]
async fn postgres_connects_over_tls_when_the_url_asks_for_it() {
    if !postgres_or_skip() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let c = Conn::open(&db.url).await;
    let ssl = c.strings("SHOW ssl").await.remove(0);
    c.close().await;
    if ssl != "on" {
        say("SKIPPED (PostgreSQL TLS): the test server has ssl = off");
        return;
    }
    let url = format!("{}?sslmode=require", db.url);
    let store = Store::open(&url, 1).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(encrypted, "the connection is encrypted");
}

/// The numbers of docs/postgres.md (not a check): a first sync of N dossiers (and N/4 documents)
/// from the simulator, an incremental sync, the evaluation of a quarter and of the whole
/// current set (month, quarter, year), a copy SQLite → PostgreSQL, and the size on disk, on both
/// backends. Run it in release mode on a quiet machine:
///
/// ```text
/// DONDOC_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres DONDOC_MEASURE_DOSSIERS=20000 \
///   cargo test --release --test postgres measure -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for docs/postgres.md, not a check"]
async fn measure_sync_evaluation_and_copy_on_both_backends() {
    use std::time::Instant;
    let n: usize = std::env::var("DONDOC_MEASURE_DOSSIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let clock = clock();
    let sim = start_sim(sim_options(n, n / 4), clock.clone()).await;
    let mut sqlite_url = None;
    for b in backends() {
        let db = TestDb::new(b).await;
        let app = db.app(sim.addr, clock.clone()).await;
        let t = now(clock.as_ref());
        let started = Instant::now();
        let r = dondoc::sync::run_once(&app, t).await;
        assert!(r.failures().is_empty());
        let full = started.elapsed();
        let p = dondoc::domain::Period::containing(dondoc::domain::PeriodKind::Quarter, t);
        let mut quarter = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            dondoc::rates::evaluate(&app.store, &app.settings, p, t)
                .await
                .unwrap();
            quarter.push(started.elapsed());
        }
        quarter.sort();
        let started = Instant::now();
        dondoc::rates::run_once(&app, t).await.unwrap();
        let evaluation = started.elapsed();
        sim.sim.touch(100);
        let started = Instant::now();
        let r = dondoc::sync::run_once(&app, t + 900).await;
        assert!(r.failures().is_empty());
        let incremental = started.elapsed();
        app.store.close().await;
        let size = match db.file() {
            Some(f) => std::fs::metadata(f).unwrap().len() as i64,
            None => scalar(&db.url, "SELECT pg_database_size(current_database())").await,
        };
        say(&format!(
            "{b:?}: {n} dossiers + {} documents: first sync {:.2} s, incremental sync {:.2} s, \
             evaluate a quarter {:.0} ms (median of 5), evaluate month+quarter+year and store samples {:.0} ms, size {:.1} MiB",
            n / 4,
            full.as_secs_f64(),
            incremental.as_secs_f64(),
            quarter[2].as_secs_f64() * 1000.0,
            evaluation.as_secs_f64() * 1000.0,
            size as f64 / (1024.0 * 1024.0)
        ));
        match b {
            Backend::Sqlite => sqlite_url = Some(db),
            Backend::Postgres => {
                let source = sqlite_url.as_ref().unwrap();
                let target = TestDb::new(Backend::Postgres).await;
                let started = Instant::now();
                let report = dondoc::store::run_migrate_store(&source.url, &target.url)
                    .await
                    .unwrap();
                say(&format!(
                    "migrate-store SQLite → PostgreSQL: {:.2} s\n{report}",
                    started.elapsed().as_secs_f64()
                ));
            }
        }
    }
}
