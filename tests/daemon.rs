//! The daemon: fire times, catch-up, no overlap, fire claims across replicas, SIGHUP reload
//! (driven through `tick` with an injected clock: no test waits for time to pass), and the real
//! binary as a child process: healthy, metrics equal to `status`, SIGTERM → exit 0.

mod common;

use common::*;
use dondoc::app::App;
use dondoc::daemon::{Daemon, Job, Runner, Scheduler, SyncCounters};
use dondoc::domain::time::ManualClock;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn at(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

/// Counts runs; `Job::Sync` waits for `gate` when one is set (to hold it running).
#[derive(Default)]
struct Counting {
    runs: Mutex<Vec<(Job, i64)>>,
    gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

impl Runner for Counting {
    fn run(
        &self,
        job: Job,
        _app: App,
        fire: i64,
        _now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        self.runs.lock().unwrap().push((job, fire));
        let gate = if job == Job::Sync {
            self.gate.lock().unwrap().clone()
        } else {
            None
        };
        Box::pin(async move {
            if let Some(g) = gate {
                let _ = g.acquire().await;
            }
            Ok(())
        })
    }
}

impl Counting {
    fn count(&self, job: Job) -> usize {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .filter(|(j, _)| *j == job)
            .count()
    }
}

const SCHEDULE: &str = r#"
[schedule]
sync = "0 */15 * * * *"
alerts = "0 0 8 * * Mon-Fri"
deliver = "30 * * * * *"
"#;

async fn daemon_on(
    db: &str,
    clock: Arc<ManualClock>,
    runner: Arc<Counting>,
    config: Option<std::path::PathBuf>,
) -> Arc<Daemon> {
    let text = format!(
        "{}{SCHEDULE}",
        config_text("127.0.0.1:9".parse().unwrap(), db, "")
    );
    let app = App::build(settings(&text), clock).await.unwrap();
    Daemon::with_runner(app, config, runner, Arc::new(SyncCounters::default())).unwrap()
}

#[test]
fn fire_times_are_local_and_missed_fires_coalesce() {
    let s = settings(&format!(
        "{}{SCHEDULE}",
        config_text("127.0.0.1:9".parse().unwrap(), "sqlite://x.db", "")
    ));
    // Friday 2024-06-21 17:50 local.
    let mut sched = Scheduler::new(&s, at("2024-06-21T17:50:00+07:00")).unwrap();
    assert_eq!(
        sched.next_wake(),
        Some(at("2024-06-21T17:50:30+07:00")),
        "deliver fires at :30 every minute"
    );
    // Over the weekend the 08:00 Mon-Fri digest does not fire; Monday it does, once.
    let due = sched.due(at("2024-06-24T08:00:05+07:00"));
    let due: HashMap<Job, i64> = due.into_iter().collect();
    assert_eq!(due[&Job::AlertsDigest], at("2024-06-24T08:00:00+07:00"));
    assert_eq!(
        due[&Job::Sync],
        at("2024-06-24T08:00:00+07:00"),
        "the latest missed sync fire only"
    );
    assert_eq!(due[&Job::Deliver], at("2024-06-24T07:59:30+07:00"));
    assert!(
        sched.due(at("2024-06-24T08:00:05+07:00")).is_empty(),
        "nothing twice"
    );
    assert_eq!(
        sched.interval(Job::Sync, at("2024-06-24T08:00:05+07:00")),
        Some(900)
    );
    // Saturday: the weekday digest's latest fire is Friday's.
    assert_eq!(
        sched.latest_fire(Job::AlertsDigest, at("2024-06-22T12:00:00+07:00")),
        Some(at("2024-06-21T08:00:00+07:00"))
    );
}

#[tokio::test]
async fn catch_up_after_downtime_runs_each_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path(), "d.db");
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2024-06-20T10:07:00+07:00")
            .unwrap()
            .to_utc(),
    ));
    let runner = Arc::new(Counting::default());
    let d = daemon_on(&db, clock.clone(), runner.clone(), None).await;
    let started = d.catch_up(now(clock.as_ref())).await.unwrap();
    assert_eq!(started.len(), 3, "a fresh database: every job once");
    assert!(d.drain(Duration::from_secs(5)).await);
    assert_eq!(
        (
            runner.count(Job::Sync),
            runner.count(Job::AlertsDigest),
            runner.count(Job::Deliver)
        ),
        (1, 1, 1)
    );
    assert!(
        d.catch_up(now(clock.as_ref())).await.unwrap().is_empty(),
        "just ran: nothing to catch up"
    );

    // Three days down; at restart each job runs once, for its latest missed fire.
    clock.advance(chrono::Duration::days(3));
    let d2 = daemon_on(&db, clock.clone(), runner.clone(), None).await;
    let started: HashMap<Job, i64> = d2
        .catch_up(now(clock.as_ref()))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(d2.drain(Duration::from_secs(5)).await);
    assert_eq!(started[&Job::Sync], at("2024-06-23T10:00:00+07:00"));
    assert_eq!(runner.count(Job::Sync), 2);
    // The digest fires only on working days at 08:00; Sunday's restart serves Friday's fire.
    assert_eq!(started[&Job::AlertsDigest], at("2024-06-21T08:00:00+07:00"));
}

#[tokio::test]
async fn a_job_never_overlaps_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path(), "d.db");
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2024-06-20T10:07:00+07:00")
            .unwrap()
            .to_utc(),
    ));
    let runner = Arc::new(Counting::default());
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    *runner.gate.lock().unwrap() = Some(gate.clone());
    let d = daemon_on(&db, clock.clone(), runner.clone(), None).await;

    let started = d.tick(at("2024-06-20T10:15:01+07:00")).await.unwrap();
    assert!(started.iter().any(|(j, _)| *j == Job::Sync));
    assert!(d.is_running(Job::Sync));
    // The next fire comes while the first sync still runs: skipped.
    let started = d.tick(at("2024-06-20T10:30:01+07:00")).await.unwrap();
    assert!(
        !started.iter().any(|(j, _)| *j == Job::Sync),
        "skipped: {started:?}"
    );
    gate.add_permits(10);
    assert!(d.drain(Duration::from_secs(5)).await);
    // Read after drain: the runner is called inside the spawned task, which a loaded machine
    // may not have polled before this point.
    assert_eq!(runner.count(Job::Sync), 1, "only the first fire ran");
    let started = d.tick(at("2024-06-20T10:45:01+07:00")).await.unwrap();
    assert!(started.iter().any(|(j, _)| *j == Job::Sync));
    assert!(d.drain(Duration::from_secs(5)).await);
    assert_eq!(runner.count(Job::Sync), 2);
}

#[tokio::test]
async fn two_schedulers_on_one_database_run_each_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path(), "shared.db");
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2024-06-20T10:07:00+07:00")
            .unwrap()
            .to_utc(),
    ));
    let runner = Arc::new(Counting::default());
    let a = daemon_on(&db, clock.clone(), runner.clone(), None).await;
    let b = daemon_on(&db, clock.clone(), runner.clone(), None).await;
    let mut fires = 0;
    for minute in [15, 30, 45, 60, 75] {
        let t = at("2024-06-20T10:00:01+07:00") + minute * 60;
        let (ra, rb) = tokio::join!(a.tick(t), b.tick(t));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let syncs = ra
            .iter()
            .chain(rb.iter())
            .filter(|(j, _)| *j == Job::Sync)
            .count();
        assert_eq!(syncs, 1, "one replica runs the {minute}-minute fire");
        fires += 1;
        assert!(a.drain(Duration::from_secs(5)).await && b.drain(Duration::from_secs(5)).await);
    }
    assert_eq!(runner.count(Job::Sync), fires);
    let runs: Vec<i64> = runner
        .runs
        .lock()
        .unwrap()
        .iter()
        .filter(|(j, _)| *j == Job::Sync)
        .map(|(_, f)| *f)
        .collect();
    let unique: std::collections::HashSet<_> = runs.iter().collect();
    assert_eq!(unique.len(), runs.len());
}

#[tokio::test]
async fn sighup_with_a_broken_config_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path(), "d.db");
    let path = dir.path().join("dondoc.toml");
    let good = format!(
        "{}{SCHEDULE}",
        config_text("127.0.0.1:9".parse().unwrap(), &db, "")
    );
    std::fs::write(&path, &good).unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let d = daemon_on(
        &db,
        clock.clone(),
        Arc::new(Counting::default()),
        Some(path.clone()),
    )
    .await;

    std::fs::write(
        &path,
        good.replace("sync = \"0 */15 * * * *\"", "sync = \"*/5 * * * *\"")
            .replace("page_size = 200", "page_size = 5000"),
    )
    .unwrap();
    let err = d.reload().unwrap_err().to_string();
    assert!(
        err.contains("schedule.sync") && err.contains("page_size"),
        "every problem is reported: {err}"
    );
    assert_eq!(
        d.app().settings.schedule.sync,
        "0 */15 * * * *",
        "the old configuration stays"
    );

    std::fs::write(
        &path,
        good.replace("sync = \"0 */15 * * * *\"", "sync = \"0 */5 * * * *\""),
    )
    .unwrap();
    d.reload().unwrap();
    assert_eq!(d.app().settings.schedule.sync, "0 */5 * * * *");
    // From the next fire: a sync at 10:05 is now due.
    let started = d.tick(at("2024-06-20T10:05:01+07:00")).await.unwrap();
    assert!(started.iter().any(|(j, _)| *j == Job::Sync), "{started:?}");
    d.drain(Duration::from_secs(5)).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.ok()?))
    })
}

#[test]
fn the_daemon_runs_as_a_process_serves_health_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (sim_port, http_port) = (free_port(), free_port());
    let db = db_url(dir.path(), "daemon.db");
    let text = config_text(format!("127.0.0.1:{sim_port}").parse().unwrap(), &db, "")
        + &format!(
            r#"
[simulator]
enabled = true
listen = "127.0.0.1:{sim_port}"
seed = 3
dossiers = 4000
documents = 800

[http]
listen = "127.0.0.1:{http_port}"

# Whatever this machine's disk holds, the status here is about the sync (tests/faults.rs tests
# the disk threshold).
[health]
min_free_disk_mib = 0
min_free_disk_percent = 0

[schedule]
sync = "0 0 3 * * *"
shutdown_timeout_secs = 20
"#
        );
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_dondoc");
    let mut child = std::process::Command::new(bin)
        .args(["--config", config.to_str().unwrap(), "run"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // Poll /healthz until the first (catch-up) sync has made it healthy.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let health = loop {
        if let Some((200, body)) = get(&format!("http://127.0.0.1:{http_port}/healthz")) {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "never healthy");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon exited early"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["sources"].as_array().unwrap().len(), 3);

    // Wait for the first samples (the evaluation ends a moment after the sync's last page).
    let metrics = loop {
        let (code, body) = get(&format!("http://127.0.0.1:{http_port}/metrics")).unwrap();
        assert_eq!(code, 200);
        if body.contains("dondoc_rate_numerator{") {
            break body;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metrics.contains("# TYPE dondoc_rate_ratio gauge"));
    assert!(metrics.contains("dondoc_sync_runs_total{"));
    assert!(metrics.contains("dondoc_outbox_messages{status=\"pending\"}"));

    // A rate's gauges equal `status --format json` at the sample's instant.
    let history = std::process::Command::new(bin)
        .args([
            "--config",
            config.to_str().unwrap(),
            "history",
            "--unit",
            "CITY",
            "--metric",
            "late_rate",
            "--period",
            "quarter",
            "--format",
            "json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let samples: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let sample = samples.as_array().unwrap().last().unwrap().clone();
    let as_of = dondoc::domain::time::rfc3339(sample["as_of"].as_i64().unwrap());
    let status = std::process::Command::new(bin)
        .args([
            "--config",
            config.to_str().unwrap(),
            "status",
            "--as-of",
            &as_of,
            "--format",
            "json",
            "--unit",
            "CITY",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let row = status["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "late_rate" && r["scope"].is_null())
        .unwrap()
        .clone();
    let period = row["period"].as_str().unwrap();
    // The period is named by the info series, not by a label of the rate (stable series).
    assert!(
        metrics.contains(&format!(
            "dondoc_period_info{{period=\"quarter\",period_id=\"{period}\"}} 1\n"
        )),
        "{metrics}"
    );
    let gauge = |name: &str| -> f64 {
        let prefix =
            format!("{name}{{unit=\"CITY\",metric=\"late_rate\",scope=\"\",period=\"quarter\"}} ");
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"));
        line[prefix.len()..].trim().parse().unwrap()
    };
    assert_eq!(
        gauge("dondoc_rate_numerator"),
        row["numerator"].as_f64().unwrap()
    );
    assert_eq!(
        gauge("dondoc_rate_denominator"),
        row["denominator"].as_f64().unwrap()
    );
    assert!((gauge("dondoc_rate_ratio") - row["value"].as_f64().unwrap()).abs() < 1e-12);

    // SIGTERM: exit 0 within the shutdown timeout.
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "did not stop in time");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit {status:?}\n{stderr}");
    assert!(stderr.contains("dondoc stopped"), "{stderr}");
}
