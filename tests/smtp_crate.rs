//! Alert digests delivered through an SMTP server *crate* (mailin-embedded) on loopback, besides
//! the stoppable test server of `tests/common/smtp.rs` that the fault tests use: the same mail,
//! parsed from what a third-party SMTP implementation received.

mod common;

use common::smtp::parse_mail;
use common::*;
use dondoc::alerts::mailer::Mailer;
use dondoc::app::App;
use mailin_embedded::{Handler, Response, Server, response};
use std::sync::{Arc, Mutex};

type Inbox = Arc<Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Collect {
    to: Vec<String>,
    data: Vec<u8>,
    inbox: Inbox,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        self.inbox
            .lock()
            .unwrap()
            .push((self.to.clone(), std::mem::take(&mut self.data)));
        response::OK
    }
}

#[tokio::test]
async fn a_digest_arrives_intact_through_mailin_embedded() {
    let inbox: Inbox = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = Server::new(Collect {
        inbox: inbox.clone(),
        ..Default::default()
    });
    server.with_name("mailin.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    let clock = clock();
    let sim = start_sim(sim_options(6000, 1000), clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let units = UNITS.replace(
        "code = \"PHUONG_1\"\n",
        "code = \"PHUONG_1\"\nemails = [\"phuong1@city.example.gov.vn\"]\n",
    );
    let text = config_text(sim.addr, &db_url(dir.path(), "m.db"), "").replace(UNITS, &units)
        + &format!(
            "\n[schedule]\nalerts = \"0 0 8 * * Mon-Fri\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             from = \"Theo dõi CCHC <dondoc@city.example.gov.vn>\"\ntimeout_secs = 5\n\n[alerts]\ncc = [\"phongnoivu@city.example.gov.vn\"]\n"
        );
    let s = settings(&text);
    let mailer = Mailer::from_settings(s.smtp.as_ref().unwrap()).unwrap();
    let app = App::build(s, clock.clone()).await.unwrap();
    // Two evaluations (the alerts fire), then Friday's 08:00 digest, delivered.
    for _ in 0..2 {
        let now = now(clock.as_ref());
        assert!(
            dondoc::sync::run_once(&app, now)
                .await
                .failures()
                .is_empty()
        );
        let ev = dondoc::rates::run_once(&app, now).await.unwrap();
        dondoc::jobs::alerts::run_once(&app, &ev, None, now)
            .await
            .unwrap();
        clock.advance(chrono::Duration::minutes(15));
    }
    clock.set(
        chrono::DateTime::parse_from_rfc3339("2024-06-21T08:00:30+07:00")
            .unwrap()
            .to_utc(),
    );
    let now = now(clock.as_ref());
    let ev = dondoc::rates::run_once(&app, now).await.unwrap();
    let r = dondoc::jobs::alerts::run_once(&app, &ev, Some(&mailer), now)
        .await
        .unwrap();
    assert!(r.queued >= 1 && r.delivery.sent == r.queued, "{r:?}");

    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), r.queued, "every queued mail arrived once");
    let (rcpt, raw) = got
        .iter()
        .find(|(to, _)| to.iter().any(|t| t.contains("phuong1@")))
        .expect("PHUONG_1's digest");
    assert!(
        rcpt.iter().any(|t| t.contains("phongnoivu@")),
        "cc is a recipient: {rcpt:?}"
    );
    let m = parse_mail(raw);
    let subject = m.subject.clone().unwrap();
    assert!(
        subject.starts_with("UBND Phường 1: ") && subject.ends_with("— Quý 2/2024"),
        "{subject}"
    );
    assert_eq!(m.to, ["phuong1@city.example.gov.vn"]);
    assert_eq!(m.cc, ["phongnoivu@city.example.gov.vn"]);
    let text = m.text.clone().unwrap();
    assert!(text.contains("Kính gửi UBND Phường 1"), "{text}");
    assert!(m.html.unwrap().contains("<table"));
    let raw_text = String::from_utf8_lossy(raw);
    for d in sim.sim.dossiers_json() {
        for f in ["ChuHoSo", "SoDienThoai", "SoGiayToChuHoSo"] {
            assert!(
                !raw_text.contains(d[f].as_str().unwrap()),
                "{f} in the mail"
            );
        }
    }
}
