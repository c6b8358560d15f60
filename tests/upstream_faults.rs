//! An upstream that lies, floods or stalls (issue 17), over real sockets: a record updated "in
//! 2099" does not stop the sync; a 300 MB answer fails its page within the cap and bounded
//! memory; answers that are not the contract's JSON keep their clear errors; requests are
//! spaced and limited per source (counted at the server, on tokio's paused clock); the circuit
//! opens and closes; the User-Agent names dondoc and the city's contact.
//!
//! The upstream here is a small contract server of the test's own ([`Upstream`]), serving
//! records taken from the simulator, so that a test can set any record's `NgayCapNhat` and
//! make any answer misbehave.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::*;
use dondoc::app::App;
use dondoc::domain::time::{format_compact, parse_compact};
use dondoc::sync::run_once;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

postgres_notice!();
for_each_backend!(
    after_a_record_dated_2099_records_updated_later_are_still_fetched,
    a_mark_already_ahead_of_the_clock_is_repaired_and_sync_from_sets_it_back,
    the_circuit_opens_after_n_failed_passes_and_closes_after_the_cool_down,
);

/// What the list endpoints answer.
#[derive(Clone)]
enum Behaviour {
    /// The contract, over the records held.
    Contract,
    /// This status with a small JSON error.
    Status(u16),
    /// This body with this content type, 200.
    Body(&'static str, Vec<u8>),
    /// The contract's first page, whose next_cursor names itself: a cursor that never advances.
    StuckCursor,
    /// A 200 streaming this many bytes of a JSON array that never ends, without Content-Length.
    Huge(u64),
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    since: Option<i64>,
    /// tokio's clock (paused in the rate tests).
    at: tokio::time::Instant,
    user_agent: String,
}

struct Upstream {
    dossiers: Mutex<Vec<Value>>,
    procedures: Vec<Value>,
    behaviour: Mutex<Behaviour>,
    hits: Mutex<Vec<Hit>>,
    /// Bytes of a huge answer handed to the socket so far.
    produced: Arc<AtomicU64>,
    /// Requests being answered now, and the most at once.
    in_flight: AtomicI64,
    max_in_flight: AtomicI64,
    /// How long each answer takes (tokio's clock).
    delay: Mutex<Duration>,
}

impl Upstream {
    fn new(dossiers: Vec<Value>, procedures: Vec<Value>) -> Arc<Upstream> {
        Arc::new(Upstream {
            dossiers: Mutex::new(dossiers),
            procedures,
            behaviour: Mutex::new(Behaviour::Contract),
            hits: Mutex::new(Vec::new()),
            produced: Arc::new(AtomicU64::new(0)),
            in_flight: AtomicI64::new(0),
            max_in_flight: AtomicI64::new(0),
            delay: Mutex::new(Duration::ZERO),
        })
    }

    fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn hits_on(&self, path: &str) -> usize {
        self.hits().iter().filter(|h| h.path == path).count()
    }

    /// Sets the `NgayCapNhat` of the dossier `key`.
    fn update(&self, key: &str, at: &str) {
        let mut d = self.dossiers.lock().unwrap();
        let rec = d.iter_mut().find(|r| r["MaHoSo"] == key).unwrap();
        rec["NgayCapNhat"] = json!(at);
    }
}

async fn start(up: Arc<Upstream>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new()
        .route("/thu-tuc", get(thu_tuc))
        .route("/ho-so", get(ho_so))
        .route("/van-ban", get(van_ban))
        .with_state(up);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

fn params(q: Option<&str>) -> (Option<i64>, usize, usize) {
    let mut since = None;
    let mut limit = 500;
    let mut offset = 0;
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "updated_since" => since = parse_compact(&v).unwrap(),
            "limit" => limit = v.parse().unwrap(),
            "cursor" => offset = v.parse().unwrap(),
            _ => {}
        }
    }
    (since, limit, offset)
}

/// Counts the request, waits the delay, and keeps the in-flight gauge.
async fn enter(up: &Upstream, path: &str, headers: &HeaderMap, since: Option<i64>) {
    up.hits.lock().unwrap().push(Hit {
        path: path.to_string(),
        since,
        at: tokio::time::Instant::now(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    });
    let now = up.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    up.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *up.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    up.in_flight.fetch_sub(1, Ordering::SeqCst);
}

fn json_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap(),
    )
        .into_response()
}

async fn thu_tuc(State(up): State<Arc<Upstream>>, headers: HeaderMap) -> Response {
    enter(&up, "thu-tuc", &headers, None).await;
    json_response(&json!({ "data": up.procedures }))
}

async fn van_ban(
    State(up): State<Arc<Upstream>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let (since, _, _) = params(q.as_deref());
    enter(&up, "van-ban", &headers, since).await;
    let behaviour = up.behaviour.lock().unwrap().clone();
    match behaviour {
        Behaviour::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            [(header::CONTENT_TYPE, "application/json")],
            "{\"error\": \"down\"}",
        )
            .into_response(),
        _ => json_response(&json!({ "data": [], "next_cursor": null })),
    }
}

async fn ho_so(
    State(up): State<Arc<Upstream>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let (since, limit, offset) = params(q.as_deref());
    enter(&up, "ho-so", &headers, since).await;
    let behaviour = up.behaviour.lock().unwrap().clone();
    match behaviour {
        Behaviour::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            [(header::CONTENT_TYPE, "application/json")],
            "{\"error\": \"down\"}",
        )
            .into_response(),
        Behaviour::Body(ct, bytes) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
        }
        Behaviour::Huge(total) => {
            let produced = up.produced.clone();
            let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
            let stream = futures::stream::unfold(0u64, move |sent| {
                let produced = produced.clone();
                let chunk = chunk.clone();
                async move {
                    if sent >= total {
                        return None;
                    }
                    let piece = if sent == 0 {
                        bytes::Bytes::from_static(b"{\"data\": [")
                    } else {
                        chunk
                    };
                    produced.fetch_add(piece.len() as u64, Ordering::SeqCst);
                    Some((
                        Ok::<_, std::io::Error>(piece.clone()),
                        sent + piece.len() as u64,
                    ))
                }
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Behaviour::Contract | Behaviour::StuckCursor => {
            let mut recs: Vec<Value> = up
                .dossiers
                .lock()
                .unwrap()
                .iter()
                .filter(|r| {
                    let t = parse_compact(r["NgayCapNhat"].as_str().unwrap())
                        .unwrap()
                        .unwrap();
                    since.is_none_or(|s| t >= s)
                })
                .cloned()
                .collect();
            recs.sort_by_key(|r| {
                (
                    r["NgayCapNhat"].as_str().unwrap().to_string(),
                    r["MaHoSo"].as_str().unwrap().to_string(),
                )
            });
            let page: Vec<Value> = recs.iter().skip(offset).take(limit).cloned().collect();
            let next = if matches!(behaviour, Behaviour::StuckCursor) {
                Some(offset.to_string())
            } else {
                (offset + limit < recs.len()).then(|| (offset + limit).to_string())
            };
            json_response(&json!({ "data": page, "next_cursor": next }))
        }
    }
}

/// Valid dossiers (at least 41) and the catalogue, as the simulator serves them at t0.
fn records() -> (Vec<Value>, Vec<Value>) {
    let clock = clock();
    let sim = dondoc::simulator::Simulator::new(sim_options(70, 0), clock);
    let dossiers = sim.dossiers_json();
    assert!(dossiers.len() > 41, "{}", dossiers.len());
    (dossiers, sim.procedures_json())
}

/// A configuration with one one-stop source on `addr`.
fn config(addr: SocketAddr, db_url: &str, extra: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"

[sources.motcua]
kind = "one_stop"
base_url = "http://{addr}"
page_size = 20
timeout_secs = 10
connect_timeout_secs = 2
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 1
{extra}

[alerts]
admin = ["cntt@city.example.gov.vn"]
{UNITS}
"#
    )
}

async fn app_on(
    addr: SocketAddr,
    db: &TestDb,
    clock: Arc<dyn dondoc::domain::time::Clock>,
    extra: &str,
) -> App {
    App::build(settings(&config(addr, &db.url, extra)), clock)
        .await
        .unwrap()
}

fn key(d: &Value) -> String {
    d["MaHoSo"].as_str().unwrap().to_string()
}

async fn stored_update(db: &TestDb, code: &str) -> i64 {
    scalar(
        &db.url,
        &format!("SELECT updated_at FROM dossiers WHERE code = '{code}'"),
    )
    .await
}

async fn after_a_record_dated_2099_records_updated_later_are_still_fetched(b: Backend) {
    let clock = clock();
    let t0 = now(clock.as_ref());
    let (mut dossiers, procedures) = records();
    let liar = key(&dossiers[5]);
    dossiers[5]["NgayCapNhat"] = json!("20990101000000");
    let up = Upstream::new(dossiers.clone(), procedures);
    let (addr, _stop) = start(up.clone()).await;
    let db = TestDb::new(b).await;
    let app = app_on(addr, &db, clock.clone(), "").await;

    // Pass 1: every record stored, the liar with the time it was read; the mark within the skew.
    let r = run_once(&app, t0).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM dossiers").await as usize,
        dossiers.len()
    );
    assert_eq!(stored_update(&db, &liar).await, t0);
    let mark = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap()
        .mark
        .unwrap();
    assert!(
        mark <= t0 + 300,
        "the mark {mark} ran ahead of now + skew ({t0} + 300)"
    );
    let future = app.store.future_counts().await.unwrap();
    assert_eq!(future.len(), 1, "{future:?}");
    assert_eq!(future[0].records, 1);
    assert_eq!(
        future[0].latest_claimed,
        parse_compact("20990101000000").unwrap().unwrap()
    );

    // An hour later three other dossiers change upstream: the next pass fetches them.
    clock.advance(chrono::Duration::hours(1));
    let t1 = now(clock.as_ref());
    let changed: Vec<String> = [10, 20, 30].iter().map(|i| key(&dossiers[*i])).collect();
    for k in &changed {
        up.update(k, &format_compact(t1));
    }
    up.hits.lock().unwrap().clear();
    let r = run_once(&app, t1).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let ho_so = r.endpoints.iter().find(|e| e.endpoint == "ho-so").unwrap();
    assert_eq!(
        ho_so.fetched, 4,
        "the three changes and the liar: {ho_so:?}"
    );
    let asked = up.hits().iter().find(|h| h.path == "ho-so").unwrap().since;
    assert_eq!(
        asked,
        Some(mark - 300),
        "asked from the trusted mark less the overlap"
    );
    for k in &changed {
        assert_eq!(
            stored_update(&db, k).await,
            t1,
            "{k} was fetched and stored"
        );
    }
    // Still one future-dated record (seen twice), the liar stored with this pass's time.
    let future = app.store.future_counts().await.unwrap();
    assert_eq!(future[0].records, 1);
    assert_eq!(future[0].last_seen, t1);
    assert_eq!(stored_update(&db, &liar).await, t1);
    let mark = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap()
        .mark
        .unwrap();
    assert!(mark <= t1 + 300);

    // Shown on the data-quality counts that status, the dashboard and alerts read.
    let q = dondoc::domain::Period::containing(dondoc::domain::PeriodKind::Quarter, t1);
    let ev = dondoc::rates::evaluate(&app.store, &app.settings, q, t1)
        .await
        .unwrap();
    assert_eq!(ev.quality.future_dated.len(), 1);
    assert_eq!(ev.quality.future_dated[0].records, 1);

    // /healthz and the data-quality page.
    let daemon = dondoc::daemon::Daemon::new(app.clone(), None).unwrap();
    let served = dondoc::application::Application::with_daemon(daemon, "127.0.0.1:0")
        .await
        .unwrap();
    let site = served.local_url();
    let health: Value = reqwest::get(format!("{site}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let src = health["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["endpoint"] == "ho-so")
        .unwrap();
    assert_eq!(src["future_dated_records"], 1, "{health}");
    assert_eq!(src["circuit"], "closed", "{health}");
    let page = reqwest::get(format!("{site}/quality"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Ngày cập nhật ở tương lai") && page.contains("01/01/2099"),
        "the data-quality page lists it"
    );
    drop(served);

    // `status` (the binary, reading the same database).
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dondoc.toml");
    std::fs::write(&cfg, config(addr, &db.url, "")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .env_remove("DONDOC_CONFIG")
        .args(["--config", cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("records updated in the future (time not trusted for the mark): 1")
            && text.contains("motcua/ho-so: furthest NgayCapNhat 01/01/2099 00:00"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Reported to the administrator once: the first digest tells it, the next does not.
    let told = |fire: i64| {
        let app = app.clone();
        async move {
            let ev = dondoc::rates::run_once(&app, fire).await.unwrap();
            dondoc::alerts::observe::run_once(&app, &ev, fire)
                .await
                .unwrap();
            dondoc::alerts::digest::run_once(&app, fire, fire)
                .await
                .unwrap();
            strings(
                &app.settings.database.url,
                "SELECT body_text FROM outbox WHERE kind = 'source_alert' ORDER BY id",
            )
            .await
            .into_iter()
            .filter(|b| b.contains("future_updates"))
            .count()
        }
    };
    assert_eq!(told(t1).await, 1, "told once");
    clock.advance(chrono::Duration::hours(1));
    let t2 = now(clock.as_ref());
    assert!(run_once(&app, t2).await.failures().is_empty());
    assert_eq!(told(t2).await, 1, "the same record is not told again");
    // A second liar is news: told again.
    let second = key(&dossiers[40]);
    up.update(&second, "20991231000000");
    clock.advance(chrono::Duration::hours(1));
    let t3 = now(clock.as_ref());
    assert!(run_once(&app, t3).await.failures().is_empty());
    assert_eq!(app.store.future_counts().await.unwrap()[0].records, 2);
    assert_eq!(told(t3).await, 2, "a new future-dated record is told");
    let mail = strings(
        &db.url,
        "SELECT body_text FROM outbox WHERE kind = 'source_alert' ORDER BY id DESC",
    )
    .await;
    assert!(
        mail[0].contains("motcua/ho-so: 2 record(s) with NgayCapNhat later than")
            && mail[0].contains("allowed_skew_secs"),
        "{}",
        mail[0]
    );
}

async fn a_mark_already_ahead_of_the_clock_is_repaired_and_sync_from_sets_it_back(b: Backend) {
    let clock = clock();
    let t0 = now(clock.as_ref());
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers.clone(), procedures);
    let (addr, _stop) = start(up.clone()).await;
    let db = TestDb::new(b).await;
    let app = app_on(addr, &db, clock.clone(), "").await;
    assert!(run_once(&app, t0).await.failures().is_empty());

    // A mark left at 2099 by an older version: the next pass reads from now + skew − overlap.
    let y2099 = parse_compact("20990101000000").unwrap().unwrap();
    app.store
        .set_mark("motcua", "ho-so", Some(y2099))
        .await
        .unwrap();
    clock.advance(chrono::Duration::hours(1));
    let t1 = now(clock.as_ref());
    let k = key(&dossiers[3]);
    up.update(&k, &format_compact(t1));
    up.hits.lock().unwrap().clear();
    assert!(run_once(&app, t1).await.failures().is_empty());
    let asked = up.hits().iter().find(|h| h.path == "ho-so").unwrap().since;
    assert_eq!(asked, Some(t1 + 300 - 300));
    assert_eq!(stored_update(&db, &k).await, t1, "the change was fetched");
    let mark = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap()
        .mark;
    assert_eq!(mark, Some(t1 + 300), "brought back to now + skew");

    // `dondoc sync --source motcua --from 2024-06-01`: the mark set back, that window read again.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dondoc.toml");
    std::fs::write(&cfg, config(addr, &db.url, "")).unwrap();
    up.hits.lock().unwrap().clear();
    let cli = <dondoc::cli::Cli as clap::Parser>::try_parse_from([
        "dondoc",
        "--config",
        cfg.to_str().unwrap(),
        "sync",
        "--source",
        "motcua",
        "--from",
        "2024-06-01",
    ])
    .unwrap();
    dondoc::cli::run(cli, clock.clone()).await.unwrap();
    let from = chrono::DateTime::parse_from_rfc3339("2024-06-01T00:00:00+07:00")
        .unwrap()
        .timestamp();
    let asked = up.hits().iter().find(|h| h.path == "ho-so").unwrap().since;
    assert_eq!(
        asked,
        Some(from - 300),
        "read again from the date given, less the overlap"
    );
    let served = dossiers
        .iter()
        .filter(|d| {
            parse_compact(d["NgayCapNhat"].as_str().unwrap())
                .unwrap()
                .unwrap()
                >= from - 300
        })
        .count();
    assert!(served > 1, "the window holds records");
    assert_eq!(
        up.hits_on("ho-so"),
        served.div_ceil(20).max(1),
        "every page of the window was read"
    );

    // Usage errors: an unknown source, --from without --source.
    let bad = <dondoc::cli::Cli as clap::Parser>::try_parse_from([
        "dondoc",
        "--config",
        cfg.to_str().unwrap(),
        "sync",
        "--source",
        "nope",
        "--from",
        "2024-06-01",
    ])
    .unwrap();
    let e = dondoc::cli::run(bad, clock.clone()).await.unwrap_err();
    assert!(
        e.message.contains("'nope' is not a configured source"),
        "{}",
        e.message
    );
    assert!(
        <dondoc::cli::Cli as clap::Parser>::try_parse_from([
            "dondoc",
            "sync",
            "--from",
            "2024-06-01"
        ])
        .is_err()
    );
    let bad = <dondoc::cli::Cli as clap::Parser>::try_parse_from([
        "dondoc",
        "--config",
        cfg.to_str().unwrap(),
        "sync",
        "--source",
        "motcua",
        "--from",
        "01/06/2024",
    ])
    .unwrap();
    let e = dondoc::cli::run(bad, clock.clone()).await.unwrap_err();
    assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
}

async fn the_circuit_opens_after_n_failed_passes_and_closes_after_the_cool_down(b: Backend) {
    let clock = clock();
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers, procedures);
    let (addr, _stop) = start(up.clone()).await;
    let db = TestDb::new(b).await;
    let text = format!(
        r#"
[database]
url = "{}"

[sources.qlvb]
kind = "documents"
base_url = "http://{addr}"
timeout_secs = 5
max_attempts = 1
circuit_failures = 3
circuit_cooldown_secs = 600
{UNITS}
"#,
        db.url
    );
    let app = App::build(settings(&text), clock.clone()).await.unwrap();
    up.set(Behaviour::Status(503));
    let pass = |label: &'static str| {
        let app = app.clone();
        let clock = clock.clone();
        let up = up.clone();
        async move {
            let before = up.hits_on("van-ban");
            let r = run_once(&app, now(clock.as_ref())).await;
            let requests = up.hits_on("van-ban") - before;
            let err = r.endpoints[0].error.clone();
            (requests, err.unwrap_or_else(|| format!("{label}: ok")))
        }
    };
    // Three failed passes, a minute apart: each asks the server once.
    for i in 0..3 {
        let (n, err) = pass("fail").await;
        assert_eq!(n, 1, "pass {i}");
        assert!(err.contains("503"), "{err}");
        clock.advance(chrono::Duration::minutes(1));
    }
    // Open: the next passes leave the server alone, and say why.
    for _ in 0..3 {
        let (n, err) = pass("open").await;
        assert_eq!(n, 0, "the circuit is open: no request");
        assert!(
            err.contains("circuit open: 3 failed passes in a row")
                && err.contains("sources.qlvb.circuit_cooldown_secs")
                && err.contains("dondoc sync --source qlvb"),
            "{err}"
        );
        clock.advance(chrono::Duration::minutes(2));
    }
    let state = app
        .store
        .sync_state("qlvb", "van-ban")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state.consecutive_failures, 3,
        "skipped passes are not failures"
    );
    // An administrator naming the source tries it now.
    let before = up.hits_on("van-ban");
    let r = dondoc::sync::run_with(
        &app,
        now(clock.as_ref()),
        dondoc::sync::Mode::Store,
        Some("qlvb"),
    )
    .await;
    assert_eq!(up.hits_on("van-ban") - before, 1);
    assert!(r.endpoints[0].error.as_deref().unwrap().contains("503"));
    // After the cool-down one pass tries (half-open); it fails: open again for a cool-down.
    clock.advance(chrono::Duration::seconds(601));
    let (n, _) = pass("half-open").await;
    assert_eq!(n, 1, "one try after the cool-down");
    let (n, _) = pass("open again").await;
    assert_eq!(n, 0, "a failed try opens the circuit again");
    // The upstream recovers; after the cool-down the try succeeds and the circuit closes.
    up.set(Behaviour::Contract);
    clock.advance(chrono::Duration::seconds(601));
    let (n, err) = pass("closed").await;
    assert_eq!((n, err.as_str()), (1, "closed: ok"));
    let (n, _) = pass("closed").await;
    assert_eq!(n, 1, "closed: every pass asks");
    let state = app
        .store
        .sync_state("qlvb", "van-ban")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.consecutive_failures, 0);
}

/// One pass of a source on `up`, whose list answers misbehave as told: the error of its
/// `ho-so`, and the reasons of the records it set aside.
async fn ho_so_outcome(addr: SocketAddr, extra: &str) -> (String, Vec<String>) {
    let clock = clock();
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_on(addr, &db, clock.clone(), extra).await;
    let r = run_once(&app, now(clock.as_ref())).await;
    let error = r
        .endpoints
        .iter()
        .find(|e| e.endpoint == "ho-so")
        .and_then(|e| e.error.clone())
        .unwrap_or_else(|| "no error".into());
    let reasons = strings(
        &db.url,
        "SELECT reason FROM rejected WHERE kind = 'dossier'",
    )
    .await;
    (error, reasons)
}

/// The error of `ho-so` in one pass of a source on `up`.
async fn ho_so_error(up: &Arc<Upstream>, addr: SocketAddr, extra: &str) -> String {
    let _ = up;
    ho_so_outcome(addr, extra).await.0
}

#[tokio::test]
async fn answers_that_are_not_the_contracts_json_keep_clear_errors() {
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers, procedures);
    let (addr, _stop) = start(up.clone()).await;

    up.set(Behaviour::Body(
        "text/html; charset=utf-8",
        b"<!DOCTYPE html>\n<html><head><title>SSO</title></head><body><form action=\"/login\"></form></body></html>".to_vec(),
    ));
    let e = ho_so_error(&up, addr, "").await;
    assert!(
        e.contains("motcua/ho-so")
            && e.contains("HTML page")
            && e.contains("check base_url and the credentials"),
        "{e}"
    );

    up.set(Behaviour::Body(
        "application/json",
        b"{\"data\": [{\"MaHoSo\": \"H\xd2 s\xf5\"}], \"next_cursor\": null}".to_vec(),
    ));
    let e = ho_so_error(&up, addr, "").await;
    assert!(
        e.contains("not valid UTF-8") && e.contains("offset 23"),
        "{e}"
    );

    // Nested 100 000 deep beside the page: skipped without recursion (no stack overflow), and
    // the page is read; inside one record: that record is set aside with its reason. (A mapped
    // source, which reads records as JSON values, fails the page with "nested more than 128
    // levels": see the parser tests in src/sync.rs.)
    let deep = format!(
        "{{\"x\": {}1{}, \"data\": []}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    up.set(Behaviour::Body("application/json", deep.into_bytes()));
    let (e, reasons) = ho_so_outcome(addr, "").await;
    assert_eq!((e.as_str(), reasons.len()), ("no error", 0));
    let deep = format!(
        "{{\"data\": [{{\"MaHoSo\": \"HS-1\", \"DanhSachLePhi\": {}1{}}}]}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    up.set(Behaviour::Body("application/json", deep.into_bytes()));
    let (e, reasons) = ho_so_outcome(addr, "").await;
    assert_eq!(e, "no error");
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    say(&format!(
        "a record nested 300 deep is set aside: {}",
        reasons[0]
    ));

    up.set(Behaviour::Body(
        "application/json",
        b"{\"data\": [{\"MaHoSo\": 1},, ], \"next_cursor\": null}".to_vec(),
    ));
    let e = ho_so_error(&up, addr, "").await;
    assert!(
        e.contains("the answer is not valid JSON") && e.contains("line 1"),
        "{e}"
    );

    up.set(Behaviour::Body(
        "application/json",
        b"{\"items\": 5}".to_vec(),
    ));
    let e = ho_so_error(&up, addr, "").await;
    // {"items": 5} has no "data": an empty page, not an error (data defaults to []).
    assert_eq!(e, "no error");
    up.set(Behaviour::Body(
        "application/json",
        b"{\"data\": 5}".to_vec(),
    ));
    let e = ho_so_error(&up, addr, "").await;
    assert!(e.contains("did not answer the contract's"), "{e}");

    up.set(Behaviour::StuckCursor);
    let e = ho_so_error(&up, addr, "").await;
    assert!(
        e.contains("answered the same next_cursor twice; stopping so as not to loop forever"),
        "{e}"
    );
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn a_300_mb_answer_fails_its_page_within_the_cap_and_bounded_memory() {
    const MIB: u64 = 1024 * 1024;
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers, procedures);
    let (addr, _stop) = start(up.clone()).await;
    up.set(Behaviour::Huge(300 * 1000 * 1000));
    let before = peak_rss();
    let started = std::time::Instant::now();
    // The default cap (64 MiB).
    let e = ho_so_error(&up, addr, "").await;
    let produced = up.produced.load(Ordering::SeqCst);
    let grown = peak_rss().saturating_sub(before);
    say(&format!(
        "300 MB answer: refused after {:.1} MiB sent by the server, peak RSS +{:.1} MiB, {:.2}s",
        produced as f64 / MIB as f64,
        grown as f64 / MIB as f64,
        started.elapsed().as_secs_f64()
    ));
    assert!(
        e.contains("more than the 64 MiB allowed for one page of source 'motcua'")
            && e.contains("sources.motcua.max_page_mib")
            && e.contains("read when reading stopped"),
        "{e}"
    );
    assert!(
        produced < 64 * MIB + 32 * MIB,
        "reading stopped near the cap: the server produced {produced} bytes of 300 MB"
    );
    assert!(
        grown < 200 * MIB,
        "memory stayed within the cap's bound: peak RSS grew by {grown} bytes"
    );
    assert_eq!(up.hits_on("ho-so"), 1, "a page over the cap is not retried");

    // A smaller cap, and a declared length over it: refused before the body is read.
    up.produced.store(0, Ordering::SeqCst);
    let e = ho_so_error(&up, addr, "max_page_mib = 1").await;
    assert!(e.contains("more than the 1 MiB allowed"), "{e}");
    assert!(up.produced.load(Ordering::SeqCst) < 16 * MIB);
    up.set(Behaviour::Body(
        "application/json",
        vec![b' '; 2 * MIB as usize],
    ));
    let e = ho_so_error(&up, addr, "max_page_mib = 1").await;
    assert!(e.contains("Content-Length 2097152 bytes = 2.0 MiB"), "{e}");
}

/// A client of `up` with the politeness settings `extra`, sharing the app's gate.
fn client(addr: SocketAddr, extra: &str) -> dondoc::upstream::client::SourceClient {
    let s = settings(&config(addr, "sqlite://unused.db", extra));
    let src = &s.sources["motcua"];
    let gates = dondoc::upstream::client::Gates::default();
    dondoc::upstream::client::SourceClient::new("motcua", src, clock())
        .unwrap()
        .with_gate(gates.of("motcua", src))
}

#[tokio::test(start_paused = true)]
async fn the_rate_cap_holds_counted_per_second_at_the_server() {
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers, procedures);
    let (addr, _stop) = start(up.clone()).await;
    let c = client(addr, "max_requests_per_sec = 4");
    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        c.fetch("thu-tuc", &[]).await.unwrap();
    }
    let hits = up.hits();
    assert_eq!(hits.len(), 20);
    // In every window of one second, at most 4 requests began (counted at the server).
    let mut per_window = 0;
    for (i, h) in hits.iter().enumerate() {
        let n = hits[i..]
            .iter()
            .take_while(|x| x.at < h.at + Duration::from_secs(1))
            .count();
        per_window = per_window.max(n);
    }
    assert!(per_window <= 4, "{per_window} requests within one second");
    assert_eq!(per_window, 4, "the cap is used, not far under it");
    let took = started.elapsed();
    // 19 gaps of 0.25 s to 0.30 s (jitter up to 20 %).
    assert!(
        took >= Duration::from_millis(19 * 250) && took <= Duration::from_millis(19 * 300 + 100),
        "{took:?}"
    );
    // The jitter makes the gaps differ.
    let gaps: std::collections::BTreeSet<u128> = hits
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_micros())
        .collect();
    assert!(gaps.len() > 5, "jittered gaps: {gaps:?}");

    // Without a cap the same requests all go at once (the server's clock does not move).
    up.hits.lock().unwrap().clear();
    let c = client(addr, "max_requests_per_sec = 0");
    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        c.fetch("thu-tuc", &[]).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn at_most_one_request_is_in_flight_per_source_by_default() {
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers, procedures);
    let (addr, _stop) = start(up.clone()).await;
    *up.delay.lock().unwrap() = Duration::from_millis(200);
    for (extra, most) in [
        ("max_requests_per_sec = 0", 1),
        ("max_requests_per_sec = 0\nmax_in_flight = 3", 3),
    ] {
        up.max_in_flight.store(0, Ordering::SeqCst);
        let c = Arc::new(client(addr, extra));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.fetch("thu-tuc", &[]).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            up.max_in_flight.load(Ordering::SeqCst),
            most,
            "{extra}: requests at once at the server"
        );
    }
}

#[tokio::test]
async fn the_user_agent_names_dondoc_its_version_and_the_citys_contact() {
    let (dossiers, procedures) = records();
    let up = Upstream::new(dossiers, procedures);
    let (addr, _stop) = start(up.clone()).await;
    let e = ho_so_error(&up, addr, "contact = \"cntt@quangtri.gov.vn\"").await;
    assert_eq!(e, "no error");
    let want = format!(
        "dondoc/{} (+contact: cntt@quangtri.gov.vn)",
        dondoc::VERSION_LONG
    );
    assert!(!up.hits().is_empty());
    for h in up.hits() {
        assert_eq!(h.user_agent, want);
    }
}

#[test]
fn the_new_keys_are_validated_with_their_key_paths() {
    let text = config(
        "127.0.0.1:9".parse().unwrap(),
        "sqlite://unused.db",
        "allowed_skew_secs = 600\noverlap_secs = 300\nmax_page_mib = 0\nmax_requests_per_sec = -1\nmax_in_flight = 0\ncontact = \"\"",
    );
    let problems = dondoc::config::load_from_str(
        &text,
        &std::collections::HashMap::new(),
        std::path::Path::new("."),
    )
    .unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for key in [
        "sources.motcua.allowed_skew_secs",
        "sources.motcua.max_page_mib",
        "sources.motcua.max_requests_per_sec",
        "sources.motcua.max_in_flight",
        "sources.motcua.contact",
    ] {
        assert!(paths.contains(&key), "{key} in {paths:?}");
    }
    let skew = problems
        .iter()
        .find(|p| p.path == "sources.motcua.allowed_skew_secs")
        .unwrap();
    assert!(skew.message.contains("overlap_secs"), "{}", skew.message);
}
