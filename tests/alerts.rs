//! Alerts end to end: simulator → sync → evaluation → lifecycle → digest → outbox → a real SMTP
//! server on loopback, with the clock injected (no test waits for time to pass).

mod common;

use common::smtp::{SmtpMode, TestSmtp};
use common::*;
use dondoc::alerts::lifecycle::Phase;
use dondoc::alerts::mailer::Mailer;
use dondoc::app::App;
use dondoc::domain::time::{Clock, ManualClock};
use std::collections::HashMap;
use std::sync::Arc;

postgres_notice!();
for_each_backend!(
    digests_reach_each_unit_the_city_and_the_admins_once_with_actions_and_no_personal_data,
    smtp_down_then_up_delivers_each_message_once_late,
    a_5xx_fails_the_message_at_once_and_keeps_the_servers_words,
    a_restart_between_queueing_and_sending_sends_each_message_once,
    alerts_of_an_ended_quarter_retire_and_the_new_quarter_starts_new_alerts,
    without_smtp_alerts_are_evaluated_and_listed_not_mailed,
    sixty_hours_of_refused_connections_deliver_each_units_newest_letter_once_and_healthz_says_degraded,
);

/// Thursday 2024-06-20 10:00 (+07); the digest cron fires at 08:00 on working days.
fn alert_config(sim: std::net::SocketAddr, db: &str, smtp_port: u16) -> String {
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
            "code = \"PHUONG_DONG_LE\"\nemails = [\"donglе@city.example.gov.vn\"]\n"
                .replace('е', "e")
                .as_str(),
        );
    let base = config_text(sim, db, "").replace(UNITS, &units);
    format!(
        r#"{base}
[schedule]
alerts = "0 0 8 * * Mon-Fri"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Theo dõi CCHC <dondoc@city.example.gov.vn>"
hello_name = "dondoc.city.example.gov.vn"
timeout_secs = 2

[alerts]
cc = ["phongnoivu@city.example.gov.vn"]
admin = ["cntt@city.example.gov.vn"]
"#
    )
}

struct World {
    clock: Arc<ManualClock>,
    sim: Sim,
    smtp: TestSmtp,
    app: App,
    mailer: Mailer,
    _db: TestDb,
    db: String,
}

async fn world(b: Backend) -> World {
    world_with(b, |t| t).await
}

async fn world_with(b: Backend, edit: impl Fn(String) -> String) -> World {
    let clock = clock();
    let sim = start_sim(sim_options(8000, 2000), clock.clone()).await;
    let smtp = TestSmtp::start();
    let test_db = TestDb::new(b).await;
    let db = test_db.url.clone();
    let s = settings(&edit(alert_config(sim.addr, &db, smtp.port())));
    let mailer = Mailer::from_settings(s.smtp.as_ref().unwrap()).unwrap();
    let app = App::build(s, clock.clone()).await.unwrap();
    World {
        clock,
        sim,
        smtp,
        app,
        mailer,
        _db: test_db,
        db,
    }
}

/// What `dondoc sync` does, at the clock's instant.
async fn sync(w: &World) -> dondoc::jobs::alerts::AlertsReport {
    let now = now(w.clock.as_ref());
    let report = dondoc::sync::run_once(&w.app, now).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let evaluations = dondoc::rates::run_once(&w.app, now).await.unwrap();
    dondoc::jobs::alerts::run_once(&w.app, &evaluations, Some(&w.mailer), now)
        .await
        .unwrap()
}

fn advance_to(clock: &ManualClock, rfc3339: &str) {
    clock.set(
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .to_utc(),
    );
}

async fn digests_reach_each_unit_the_city_and_the_admins_once_with_actions_and_no_personal_data(
    b: Backend,
) {
    let w = world(b).await;
    // Thursday 10:00: the 08:00 fire is served. A first breach is only pending, so no letter
    // speaks of a rate yet: the units with dossiers to act on receive their lists alone; the
    // administrators hear at once of the codes no unit claims.
    let r = sync(&w).await;
    let first = w.smtp.received();
    assert_eq!(first.len(), r.queued);
    let admin: Vec<_> = first
        .iter()
        .filter(|m| m.parsed().to == ["cntt@city.example.gov.vn"])
        .cloned()
        .collect();
    assert_eq!(admin.len(), 1);
    for m in &first {
        let subject = m.parsed().subject.unwrap_or_default();
        assert!(
            subject.contains("nguồn dữ liệu") || subject.contains(" hồ sơ cần xử lý — "),
            "{subject}"
        );
    }
    let p = admin[0].parsed();
    assert_eq!(p.to, ["cntt@city.example.gov.vn"]);
    assert!(p.subject.unwrap_or_default().contains("nguồn dữ liệu"));
    let (unmapped, _) = w.sim.sim.unmapped_codes();
    assert!(
        p.text.unwrap_or_default().contains(&unmapped),
        "names the unclaimed code {unmapped}"
    );
    let pending = w
        .app
        .store
        .alerts()
        .await
        .unwrap()
        .iter()
        .filter(|a| a.phase == Phase::Pending)
        .count();
    assert!(pending > 0, "breaches are pending after one evaluation");

    // 10:15: the second breach fires them; the digest waits for its next fire.
    w.clock.advance(chrono::Duration::minutes(15));
    let r = sync(&w).await;
    assert_eq!(r.queued, 0);
    let firing = w
        .app
        .store
        .alerts()
        .await
        .unwrap()
        .iter()
        .filter(|a| a.phase == Phase::Firing)
        .count();
    assert!(firing > 0);
    assert_eq!(
        w.smtp.received().len(),
        first.len(),
        "mail goes out on the alerts schedule only"
    );

    // Friday 08:00:30: the digest goes out.
    advance_to(&w.clock, "2024-06-21T08:00:30+07:00");
    let r = sync(&w).await;
    assert!(r.queued >= 2, "{r:?}");
    assert_eq!(r.delivery.sent, r.queued);
    let got: Vec<_> = w.smtp.received().into_iter().skip(first.len()).collect();
    assert_eq!(got.len(), r.queued);

    let by_subject: HashMap<String, _> = got
        .iter()
        .map(|m| (m.parsed().subject.unwrap_or_default(), m))
        .collect();
    // The root reads one city-wide summary.
    let summary = by_subject
        .keys()
        .find(|s| s.starts_with("UBND thành phố Thử Nghiệm: tổng hợp toàn thành phố"))
        .expect("a city summary");
    assert!(summary.ends_with("— Quý 2/2024"), "{summary}");
    let m = by_subject[summary].parsed();
    assert_eq!(m.to, ["vanphong@city.example.gov.vn"]);
    assert_eq!(m.cc, ["phongnoivu@city.example.gov.vn"]);
    let rcpt = &by_subject[summary].rcpt_to;
    assert!(
        rcpt.contains(&"vanphong@city.example.gov.vn".to_string())
            && rcpt.contains(&"phongnoivu@city.example.gov.vn".to_string()),
        "{rcpt:?}"
    );
    assert!(m.html.is_some() && m.text.is_some());

    // A unit digest: subject, both parts, the table, the action lists.
    let (subject, unit_mail) = by_subject
        .iter()
        .find(|(s, _)| s.starts_with("UBND Phường") || s.starts_with("Phòng Tài nguyên"))
        .expect("a unit digest");
    let re_ok = subject.contains(" chỉ tiêu chưa đạt — Quý 2/2024")
        || subject.contains(" chỉ tiêu có nguy cơ");
    assert!(re_ok, "{subject}");
    let p = unit_mail.parsed();
    let text = p.text.clone().unwrap();
    let html = p.html.clone().unwrap();
    assert!(
        text.contains("Kính gửi") && text.contains("Chỉ tiêu"),
        "{text}"
    );
    assert!(html.contains("<table") && html.contains("Kính gửi"));
    assert_eq!(unit_mail.helo, "dondoc.city.example.gov.vn");
    assert!(
        p.message_id
            .unwrap_or_default()
            .starts_with("dondoc.digest.")
    );

    // Action lists name dossier codes that really are late and without apology upstream.
    let dossiers = w.sim.sim.dossiers_json();
    let codes: HashMap<&str, &serde_json::Value> = dossiers
        .iter()
        .filter_map(|d| Some((d["MaHoSo"].as_str()?, d)))
        .collect();
    let mut listed = 0;
    for m in &got {
        let text = m.parsed().text.unwrap_or_default();
        for line in text.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some(d) = codes.get(first) {
                listed += 1;
                assert!(
                    d["DanhSachPhieuXinLoi"]
                        .as_array()
                        .is_none_or(|a| a.is_empty())
                        || line.contains("hạn"),
                    "{line}"
                );
            }
        }
    }
    assert!(listed > 0, "some action list names dossiers");

    // No personal data anywhere in any mail.
    let raw: String = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.raw).to_string())
        .collect();
    for d in &dossiers {
        for f in ["ChuHoSo", "SoDienThoai", "SoGiayToChuHoSo", "DinhDanhCHS"] {
            let v = d[f].as_str().unwrap();
            assert!(!raw.contains(v), "{f} {v} leaked into mail");
        }
    }

    // A second sync right after sends nothing more.
    let r = sync(&w).await;
    assert_eq!((r.queued, r.delivery.sent), (0, 0));
    assert_eq!(w.smtp.received().len(), first.len() + got.len());
}

/// Two evaluations without mail (the alerts fire), then Friday's 08:00 digest queued, not sent.
async fn fire_a_digest(w: &World) -> usize {
    for _ in 0..2 {
        let now = now(w.clock.as_ref());
        assert!(
            dondoc::sync::run_once(&w.app, now)
                .await
                .failures()
                .is_empty()
        );
        let ev = dondoc::rates::run_once(&w.app, now).await.unwrap();
        dondoc::jobs::alerts::run_once(&w.app, &ev, None, now)
            .await
            .unwrap();
        w.clock.advance(chrono::Duration::minutes(15));
    }
    advance_to(&w.clock, "2024-06-21T08:00:30+07:00");
    let now = now(w.clock.as_ref());
    let report = dondoc::sync::run_once(&w.app, now).await;
    assert!(report.failures().is_empty());
    let ev = dondoc::rates::run_once(&w.app, now).await.unwrap();
    dondoc::alerts::observe::run_once(&w.app, &ev, now)
        .await
        .unwrap();
    let fire = dondoc::jobs::digest::due(&w.app, now)
        .await
        .unwrap()
        .expect("a digest is due");
    assert!(
        w.app
            .store
            .claim_fire(dondoc::alerts::DIGEST_JOB, fire, "test", now)
            .await
            .unwrap()
    );
    dondoc::alerts::digest::run_once(&w.app, fire, now)
        .await
        .unwrap()
}

async fn smtp_down_then_up_delivers_each_message_once_late(b: Backend) {
    let w = world(b).await;
    let port = w.smtp.port();
    let queued = fire_a_digest(&w).await;
    assert!(queued >= 2);
    w.smtp.stop();

    let now0 = now(w.clock.as_ref());
    let d = dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now0)
        .await
        .unwrap();
    assert_eq!(
        (d.sent, d.retried),
        (0, 1),
        "one attempt, then the pass stops"
    );
    let outbox = w.app.store.outbox(100).await.unwrap();
    assert!(outbox.iter().all(|m| m.status == "pending"));
    assert!(
        outbox
            .iter()
            .any(|m| m.last_error.as_deref().is_some_and(|e| !e.is_empty()))
    );

    // Thirty seconds later the failed message's retry is not due yet (backoff 60 s): it is not
    // tried again, though a message never tried yet gets its first attempt.
    let failed_first = outbox.iter().find(|m| m.attempts == 1).unwrap().id;
    dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now0 + 30)
        .await
        .unwrap();
    let again = w.app.store.outbox(100).await.unwrap();
    assert_eq!(
        again
            .iter()
            .find(|m| m.id == failed_first)
            .unwrap()
            .attempts,
        1
    );

    // The server comes back; two minutes later everything goes out, once.
    let smtp = TestSmtp::start_on(port);
    let d = dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now0 + 120)
        .await
        .unwrap();
    assert_eq!(d.sent, queued);
    let d = dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now0 + 240)
        .await
        .unwrap();
    assert_eq!(d.sent, 0);
    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m.parsed().message_id.unwrap_or_default())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (queued, queued));
    assert!(
        w.app
            .store
            .outbox(100)
            .await
            .unwrap()
            .iter()
            .all(|m| m.status == "sent" && m.sent_at == Some(now0 + 120))
    );
}

async fn a_5xx_fails_the_message_at_once_and_keeps_the_servers_words(b: Backend) {
    let w = world(b).await;
    let queued = fire_a_digest(&w).await;
    w.smtp.set_mode(SmtpMode::RejectPermanent);
    let now0 = now(w.clock.as_ref());
    let d = dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now0)
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed), (0, queued));
    let outbox = w.app.store.outbox(100).await.unwrap();
    for m in &outbox {
        assert_eq!(m.status, "failed");
        assert_eq!(m.attempts, 1, "a 5xx is not retried");
        assert!(
            m.last_error.as_deref().unwrap_or("").contains("550"),
            "{:?}",
            m.last_error
        );
    }
    // Failed stays failed: a working server later does not receive them.
    w.smtp.set_mode(SmtpMode::Accept);
    let d = dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now0 + 7200)
        .await
        .unwrap();
    assert_eq!(d.sent, 0);
    assert!(w.smtp.received().is_empty());
}

async fn a_restart_between_queueing_and_sending_sends_each_message_once(b: Backend) {
    let w = world(b).await;
    let queued = fire_a_digest(&w).await;
    assert!(w.smtp.received().is_empty());
    let now0 = now(w.clock.as_ref());
    // One sender claims a message and dies before sending it.
    let claimed = w
        .app
        .store
        .claim_mail(now0, dondoc::alerts::outbox::LEASE_SECS)
        .await
        .unwrap()
        .unwrap();
    w.app.store.close().await;

    // The process starts again on the same database.
    let clock2: Arc<dyn Clock> = w.clock.clone();
    let app2 = App::build(
        settings(&alert_config(w.sim.addr, &w.db, w.smtp.port())),
        clock2,
    )
    .await
    .unwrap();
    let d = dondoc::alerts::outbox::deliver_once(&app2, &w.mailer, now0 + 5)
        .await
        .unwrap();
    assert_eq!(
        d.sent,
        queued - 1,
        "the claimed message waits for its lease"
    );
    let d = dondoc::alerts::outbox::deliver_once(&app2, &w.mailer, now0 + 10)
        .await
        .unwrap();
    assert_eq!(d.sent, 0);
    let d = dondoc::alerts::outbox::deliver_once(
        &app2,
        &w.mailer,
        now0 + dondoc::alerts::outbox::LEASE_SECS + 1,
    )
    .await
    .unwrap();
    assert_eq!(d.sent, 1, "its lease ran out: sent now");
    let ids: Vec<String> = w
        .smtp
        .received()
        .iter()
        .map(|m| m.parsed().message_id.unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), queued);
    assert!(ids.contains(&claimed.mail.message_id));
    // A digest composed again for the same fire queues nothing twice.
    let fire = app2
        .store
        .last_fire(dondoc::alerts::DIGEST_JOB)
        .await
        .unwrap()
        .unwrap();
    let again = dondoc::alerts::digest::run_once(&app2, fire, now0)
        .await
        .unwrap();
    assert_eq!(again, 0, "the same fire's letters are queued once");
}

async fn alerts_of_an_ended_quarter_retire_and_the_new_quarter_starts_new_alerts(b: Backend) {
    let w = world(b).await;
    fire_a_digest(&w).await;
    dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, now(w.clock.as_ref()))
        .await
        .unwrap();
    let sent_before = w.smtp.received().len();

    // Monday 1 July 08:00:30: Q2 is over.
    advance_to(&w.clock, "2024-07-01T08:00:30+07:00");
    sync(&w).await;
    let alerts = w.app.store.alerts().await.unwrap();
    let q3: Vec<_> = alerts
        .iter()
        .filter(|a| a.key.period == "2024-Q3")
        .collect();
    assert!(!q3.is_empty(), "new alerts for the new quarter");
    assert!(
        q3.iter().all(|a| a.phase != Phase::Firing),
        "a new quarter's alerts start pending"
    );
    let q2_firing = alerts
        .iter()
        .filter(|a| a.key.period == "2024-Q2" && a.phase == Phase::Firing)
        .count();
    assert_eq!(q2_firing, 0, "the ended quarter's alerts were retired");
    // No mail announced Q2 again.
    for m in &w.smtp.received()[sent_before..] {
        let s = m.parsed().subject.unwrap_or_default();
        assert!(!s.contains("Quý 2/2024"), "{s}");
    }
}

async fn without_smtp_alerts_are_evaluated_and_listed_not_mailed(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(3000, 500), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    for _ in 0..2 {
        let now = now(clock.as_ref());
        dondoc::sync::run_once(&app, now).await;
        let ev = dondoc::rates::run_once(&app, now).await.unwrap();
        let r = dondoc::jobs::alerts::run_once(&app, &ev, None, now)
            .await
            .unwrap();
        assert!(r.not_mailed.is_some());
        clock.advance(chrono::Duration::minutes(15));
    }
    assert!(
        app.store
            .alerts()
            .await
            .unwrap()
            .iter()
            .any(|a| a.phase == Phase::Firing)
    );
    assert!(app.store.outbox(10).await.unwrap().is_empty());
}

/// /healthz of a daemon on `app`, over a real socket: (HTTP status, JSON).
async fn healthz(app: &App) -> (u16, serde_json::Value) {
    let daemon = dondoc::daemon::Daemon::new(app.clone(), None).unwrap();
    let served = dondoc::application::Application::with_daemon(daemon, "127.0.0.1:0")
        .await
        .unwrap();
    let base = served.local_url();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{base}/healthz"))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stuck = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dondoc_outbox_stuck_messages "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("the gauge dondoc_outbox_stuck_messages");
    assert_eq!(
        stuck as i64,
        body["outbox_stuck"].as_i64().unwrap(),
        "the gauge and /healthz agree"
    );
    drop(served);
    (status, body)
}

async fn sixty_hours_of_refused_connections_deliver_each_units_newest_letter_once_and_healthz_says_degraded(
    b: Backend,
) {
    // Digests every day at 08:00; the mail server refuses every connection from Thursday 10:00
    // to Saturday 22:00 (60 hours, across the digests of Thursday, Friday and Saturday); dondoc
    // syncs every hour meanwhile, as the daemon does.
    // (No disk threshold: `degraded` must come from the waiting mail alone, whatever this
    // machine's disk holds.)
    let w = world_with(b, |t| {
        t.replace("0 0 8 * * Mon-Fri", "0 0 8 * * *")
            + "\n[health]\nmin_free_disk_mib = 0\nmin_free_disk_percent = 0\n"
    })
    .await;
    let port = w.smtp.port();
    w.smtp.stop();
    let start = now(w.clock.as_ref());
    let mut degraded_hours = 0;
    let mut fires = Vec::new();
    for hour in 0..=60 {
        w.clock.set(t0() + chrono::Duration::hours(hour));
        let r = sync(&w).await;
        assert_eq!(r.delivery.sent, 0);
        if let Some(f) = r.digest_fire {
            fires.push(f);
        }
        let (status, h) = healthz(&w.app).await;
        assert_eq!(status, 200, "{h}");
        let oldest = h["outbox_oldest_waiting_hours"].as_f64().unwrap_or(0.0);
        if oldest > 4.0 {
            assert_eq!(h["status"], "degraded", "hour {hour}: {h}");
            assert!(h["outbox_stuck"].as_i64().unwrap() > 0);
            assert!(
                h["warnings"][0]
                    .as_str()
                    .unwrap()
                    .contains("waiting for more than 4 hour(s)")
            );
            degraded_hours += 1;
        } else {
            assert_eq!(h["status"], "ok", "hour {hour}: {h}");
        }
    }
    assert_eq!(
        fires.len(),
        3,
        "Thursday's, Friday's and Saturday's digests were composed"
    );
    assert!(degraded_hours >= 55, "{degraded_hours}");
    let outbox = w.app.store.outbox(1000).await.unwrap();
    assert!(
        outbox
            .iter()
            .all(|m| m.status != "sent" && m.status != "failed")
    );
    let superseded = outbox.iter().filter(|m| m.status == "superseded").count();
    assert!(superseded >= 3, "{superseded}");

    // The server accepts again; an hour later everything due has gone out.
    let smtp = TestSmtp::start_on(port);
    w.clock.set(t0() + chrono::Duration::hours(61));
    let t = now(w.clock.as_ref());
    let d = dondoc::alerts::outbox::deliver_once(&w.app, &w.mailer, t)
        .await
        .unwrap();
    assert_eq!((d.retried, d.failed), (0, 0));
    let got = smtp.received();
    assert_eq!(d.sent, got.len());
    let outbox = w.app.store.outbox(1000).await.unwrap();
    assert!(
        outbox
            .iter()
            .all(|m| m.status == "sent" || m.status == "superseded"),
        "{outbox:#?}"
    );
    // Each unit receives exactly one letter of each kind, the newest: Saturday 08:00's.
    let newest = dondoc::domain::time::to_local(*fires.last().unwrap())
        .format("%Y%m%dT%H%M%S")
        .to_string();
    let mut per_unit: HashMap<(String, String), Vec<String>> = HashMap::new();
    for m in &got {
        let p = m.parsed();
        if p.to == ["cntt@city.example.gov.vn"] {
            continue; // the administrators' data-source alerts are events, never superseded
        }
        let id = p.message_id.clone().unwrap_or_default();
        let kind = id.split('.').nth(1).unwrap_or("").to_string();
        per_unit.entry((p.to.join(","), kind)).or_default().push(id);
    }
    assert!(per_unit.len() >= 3, "{per_unit:?}");
    for ((to, kind), ids) in &per_unit {
        assert_eq!(ids.len(), 1, "{to} {kind}: {ids:?}");
        assert!(
            ids[0].contains(&newest),
            "{to} {kind}: {ids:?} is not the newest"
        );
    }
    // The newest letter still tells what the superseded ones told: the breaches that fired
    // during the outage are new to the reader.
    let told_new = got.iter().any(|m| {
        m.parsed()
            .text
            .unwrap_or_default()
            .contains("CHƯA ĐẠT (mới)")
    });
    assert!(
        told_new,
        "a breach first told in a superseded letter is told again as new"
    );
    // The older letters are listed as superseded, with the letter that replaced them.
    for m in outbox.iter().filter(|m| m.status == "superseded") {
        assert!(
            m.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("superseded by dondoc.")),
            "{m:?}"
        );
        assert_eq!(m.sent_at, None);
    }
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), alert_config(w.sim.addr, &w.db, port)).unwrap();
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .args([
            "--config",
            config.path().to_str().unwrap(),
            "alerts",
            "list",
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{listed}");
    let listed_superseded = listed
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("superseded"))
        .count();
    assert_eq!(listed_superseded, superseded.min(50), "{listed}");
    // Nothing waits any more: healthy again.
    let (status, h) = healthz(&w.app).await;
    assert_eq!((status, h["status"].as_str()), (200, Some("ok")), "{h}");
    assert!(start < t);
}
