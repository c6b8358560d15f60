//! The mailer against a real SMTP server on loopback (tests/common/smtp.rs), a dead port, a
//! server that never answers, and the file transport.

#[path = "common/smtp.rs"]
mod smtp;

use dondoc::alerts::mailer::{MailError, Mailer, TEST_SUBJECT};
use dondoc::config::{MailTransport, SmtpSettings, TlsMode};
use dondoc::domain::mail::{Attachment, OutgoingMail};
use secrecy::SecretString;
use smtp::{PERMANENT_REPLY, SmtpMode, TRANSIENT_REPLY, TestSmtp, parse_mail};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SUBJECT: &str = "UBND Phường 1: 2 chỉ tiêu chưa đạt — Quý 2/2024";
const TEXT: &str = "Kính gửi UBND Phường 1,\n\nTỷ lệ hồ sơ trễ hạn: 3,2% (chỉ tiêu ≤ 1%).\n\
                    Hồ sơ cần xử lý: 000.01.23.H50-240601-0001.\n\nTrân trọng,\ndondoc\n";
const HTML: &str = "<html><body><p>Kính gửi <b>UBND Phường 1</b>,</p>\
                    <p>Tỷ lệ hồ sơ trễ hạn: 3,2% (chỉ tiêu ≤ 1%).</p></body></html>";
const PASSWORD: &str = "Mật-khẩu-bí-mật-42";

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        transport: MailTransport::Smtp,
        file_dir: PathBuf::from("data/outbox"),
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        username: None,
        password: None,
        password_file: None,
        from: "Hệ thống dondoc <dondoc@dondoc.example.gov.vn>".into(),
        hello_name: Some("dondoc-test.example.gov.vn".into()),
        timeout_secs: 10,
        ca_file: None,
    }
}

fn mail(id: &str) -> OutgoingMail {
    OutgoingMail {
        message_id: id.into(),
        to: vec![
            "vanphong@phuong1.example.gov.vn".into(),
            "Chủ tịch UBND <chutich@phuong1.example.gov.vn>".into(),
        ],
        cc: vec!["giamsat@city.example.gov.vn".into()],
        subject: SUBJECT.into(),
        text: TEXT.into(),
        html: Some(HTML.into()),
        attachment: None,
    }
}

fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

#[tokio::test]
async fn delivers_vietnamese_multipart_with_attachment_to_every_recipient() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let bytes: Vec<u8> = (0u8..=255).chain("Mã hồ sơ;Hạn\n".bytes()).collect();
    let mut m = mail("digest.PHUONG_1.2024-06-20T0800.3f2a@dondoc");
    m.attachment = Some(Attachment {
        filename: "ho-so-tre-han-quý-2.csv".into(),
        content_type: "text/csv; charset=utf-8".into(),
        bytes: bytes.clone(),
    });

    let reply = mailer.send(&m).await.unwrap();
    assert!(reply.starts_with("250 "), "{reply}");
    assert!(reply.contains("queued as TEST1"), "{reply}");

    let got = server.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.mail_from, "dondoc@dondoc.example.gov.vn");
    assert_eq!(
        r.rcpt_to,
        vec![
            "vanphong@phuong1.example.gov.vn",
            "chutich@phuong1.example.gov.vn",
            "giamsat@city.example.gov.vn"
        ]
    );
    assert_eq!(r.helo, "dondoc-test.example.gov.vn");
    assert!(
        r.raw.iter().all(|b| b.is_ascii()),
        "the message must be 7-bit clean (RFC 2047 / QP / base64), not 8bit"
    );

    let p = r.parsed();
    assert_eq!(p.subject.as_deref(), Some(SUBJECT));
    assert_eq!(p.from, vec!["dondoc@dondoc.example.gov.vn"]);
    assert_eq!(p.from_name.as_deref(), Some("Hệ thống dondoc"));
    assert_eq!(
        p.to,
        vec![
            "vanphong@phuong1.example.gov.vn",
            "chutich@phuong1.example.gov.vn"
        ]
    );
    assert_eq!(p.cc, vec!["giamsat@city.example.gov.vn"]);
    assert_eq!(
        p.message_id.as_deref(),
        Some("digest.PHUONG_1.2024-06-20T0800.3f2a@dondoc")
    );
    assert!(p.date.is_some(), "a Date header");
    assert_eq!(p.content_type.as_deref(), Some("multipart/mixed"));
    assert_eq!(lf(p.text.as_deref().unwrap()), TEXT);
    assert_eq!(lf(p.html.as_deref().unwrap()), HTML);
    assert_eq!(p.attachments.len(), 1);
    assert_eq!(
        p.attachments[0].filename.as_deref(),
        Some("ho-so-tre-han-quý-2.csv")
    );
    assert_eq!(p.attachments[0].content_type, "text/csv");
    assert_eq!(p.attachments[0].bytes, bytes);
    let raw = String::from_utf8_lossy(&r.raw);
    assert!(raw.contains("multipart/alternative"), "{raw}");
}

#[tokio::test]
async fn text_only_mail_is_a_single_utf8_part() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let mut m = mail("text-only.1@dondoc");
    m.html = None;
    mailer.send(&m).await.unwrap();

    let r = &server.received()[0];
    let p = r.parsed();
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(lf(p.text.as_deref().unwrap()), TEXT);
    assert_eq!(p.html, None);
    assert!(p.attachments.is_empty());
    let raw = String::from_utf8_lossy(&r.raw).to_ascii_lowercase();
    assert!(
        raw.contains("content-type: text/plain; charset=utf-8"),
        "{raw}"
    );
    assert!(!raw.contains("multipart"), "{raw}");
}

#[tokio::test]
async fn plain_and_html_without_attachment_is_multipart_alternative() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    mailer.send(&mail("alt.1@dondoc")).await.unwrap();
    let p = server.received()[0].parsed();
    assert_eq!(p.content_type.as_deref(), Some("multipart/alternative"));
    assert_eq!(lf(p.text.as_deref().unwrap()), TEXT);
    assert_eq!(lf(p.html.as_deref().unwrap()), HTML);
    assert!(p.attachments.is_empty());
}

#[tokio::test]
async fn hello_name_defaults_to_the_domain_of_from() {
    let server = TestSmtp::start();
    let mut s = settings(server.port());
    s.hello_name = None;
    let mailer = Mailer::from_settings(&s).unwrap();
    mailer.send(&mail("helo.1@dondoc")).await.unwrap();
    assert_eq!(server.received()[0].helo, "dondoc.example.gov.vn");
}

#[tokio::test]
async fn one_transport_is_reused_for_several_mails() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let clone = mailer.clone();
    for i in 0..3 {
        mailer
            .send(&mail(&format!("pool.{i}@dondoc")))
            .await
            .unwrap();
        clone
            .send(&mail(&format!("pool.c{i}@dondoc")))
            .await
            .unwrap();
    }
    assert_eq!(server.received().len(), 6);
    // lettre parks a connection back in its pool from a spawned task, so the second mail may
    // open a second connection; after that they are reused.
    let n = server.connections();
    assert!(n <= 2, "pooled: {n} connections for six mails");
}

#[tokio::test]
async fn credentials_are_used_when_a_username_is_set() {
    let server = TestSmtp::start();
    let mut s = settings(server.port());
    s.username = Some("dondoc".into());
    s.password = Some(SecretString::from(PASSWORD));
    let mailer = Mailer::from_settings(&s).unwrap();
    mailer.send(&mail("auth.1@dondoc")).await.unwrap();
    assert_eq!(server.received()[0].auth_user.as_deref(), Some("dondoc"));
}

#[tokio::test]
async fn a_550_is_permanent_with_the_servers_words() {
    let server = TestSmtp::start();
    server.set_mode(SmtpMode::RejectPermanent);
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let err = mailer.send(&mail("rej.1@dondoc")).await.unwrap_err();
    match &err {
        MailError::Permanent { code, reply } => {
            assert_eq!(*code, 550);
            assert!(reply.contains(PERMANENT_REPLY), "{reply}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert!(err.is_permanent());
    assert!(err.to_string().contains("550"), "{err}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_451_is_transient_and_the_next_attempt_goes_through() {
    let server = TestSmtp::start();
    server.set_mode(SmtpMode::RejectTransient);
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let err = mailer.send(&mail("tmp.1@dondoc")).await.unwrap_err();
    match &err {
        MailError::Transient { reason } => {
            assert!(reason.contains("451"), "{reason}");
            assert!(reason.contains(TRANSIENT_REPLY), "{reason}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(!err.is_permanent());

    server.set_mode(SmtpMode::Accept);
    mailer.send(&mail("tmp.1@dondoc")).await.unwrap();
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_transient_in_plain_words() {
    let port = dead_port();
    let mut s = settings(port);
    s.username = Some("dondoc".into());
    s.password = Some(SecretString::from(PASSWORD));
    let mailer = Mailer::from_settings(&s).unwrap();
    let err = mailer.send(&mail("down.1@dondoc")).await.unwrap_err();
    let MailError::Transient { reason } = &err else {
        panic!("expected Transient, got {err:?}");
    };
    assert!(
        reason.starts_with(&format!("could not connect to 127.0.0.1:{port}: ")),
        "{reason}"
    );
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    assert!(!err.is_permanent());
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

#[tokio::test]
async fn server_down_then_back_on_the_same_port() {
    let server = TestSmtp::start();
    let port = server.port();
    let mailer = Mailer::from_settings(&settings(port)).unwrap();
    mailer.send(&mail("updown.1@dondoc")).await.unwrap();

    server.stop();
    let err = mailer.send(&mail("updown.2@dondoc")).await.unwrap_err();
    assert!(matches!(err, MailError::Transient { .. }), "{err:?}");

    let again = TestSmtp::start_on(port);
    mailer.send(&mail("updown.2@dondoc")).await.unwrap();
    assert_eq!(again.received().len(), 1);
    assert_eq!(
        again.received()[0].parsed().message_id.as_deref(),
        Some("updown.2@dondoc")
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // accepted, never written to
        }
    });
    let mut s = settings(port);
    s.timeout_secs = 1;
    let mailer = Mailer::from_settings(&s).unwrap();

    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        mailer.send(&mail("stall.1@dondoc")),
    )
    .await
    .expect("send must give up by itself")
    .unwrap_err();
    let took = started.elapsed();
    let MailError::Transient { reason } = &err else {
        panic!("expected Transient, got {err:?}");
    };
    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
    assert!(reason.contains("1s"), "{reason}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    holder.abort();
}

#[tokio::test]
async fn a_server_that_stalls_mid_conversation_times_out_then_recovers() {
    let server = TestSmtp::start();
    let mut s = settings(server.port());
    s.timeout_secs = 1;
    let mailer = Mailer::from_settings(&s).unwrap();
    mailer.send(&mail("midstall.1@dondoc")).await.unwrap();
    // Let lettre park the connection in its pool: the next mail reuses it and stalls mid-way.
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.set_mode(SmtpMode::Stall);
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        mailer.send(&mail("midstall.2@dondoc")),
    )
    .await
    .expect("send must give up by itself")
    .unwrap_err();
    assert!(matches!(err, MailError::Transient { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    server.set_mode(SmtpMode::Accept);
    // A fresh connection: the stalled one (whose late replies are now coming) is never reused.
    let reply = mailer.send(&mail("midstall.3@dondoc")).await.unwrap();
    assert!(
        reply.starts_with("250 ") && reply.contains("queued as"),
        "{reply}"
    );
    let ids: Vec<_> = server
        .received()
        .iter()
        .map(|r| r.parsed().message_id.unwrap())
        .collect();
    assert_eq!(ids, vec!["midstall.1@dondoc", "midstall.3@dondoc"]);
}

#[tokio::test]
async fn a_connection_that_hung_after_data_is_never_reused() {
    let server = TestSmtp::start();
    let mut s = settings(server.port());
    s.timeout_secs = 1;
    let mailer = Mailer::from_settings(&s).unwrap();
    mailer.send(&mail("hang.1@dondoc")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // the connection is parked in the pool

    server.set_mode(SmtpMode::StallAfterData);
    let err = tokio::time::timeout(Duration::from_secs(10), mailer.send(&mail("hang.2@dondoc")))
        .await
        .expect("send must give up by itself")
        .unwrap_err();
    assert!(matches!(err, MailError::Transient { .. }), "{err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await; // lettre would park it again by now

    // The hung connection now receives its late "250 queued": a client reusing it would read
    // that stale reply as the answer to its next command.
    server.set_mode(SmtpMode::Accept);
    let reply = mailer.send(&mail("hang.3@dondoc")).await.unwrap();
    assert!(
        reply.starts_with("250 ") && reply.contains("queued as"),
        "{reply}"
    );
    let got = server.wait_for(3, Duration::from_secs(5));
    let last = got
        .iter()
        .find(|r| r.parsed().message_id.as_deref() == Some("hang.3@dondoc"));
    assert!(last.is_some(), "hang.3 delivered");
}

#[tokio::test]
async fn starttls_required_never_falls_back_to_plain_text() {
    let server = TestSmtp::start(); // offers no STARTTLS
    let mut s = settings(server.port());
    s.tls = TlsMode::Starttls;
    s.timeout_secs = 5;
    let result = match Mailer::from_settings(&s) {
        Ok(mailer) => mailer.send(&mail("tls.1@dondoc")).await,
        Err(e) => Err(e), // no system CA store here: a Setup error, still no plain text
    };
    match &result {
        Err(MailError::Transient { reason }) => assert!(reason.contains("STARTTLS"), "{reason}"),
        Err(MailError::Setup { .. }) => {}
        other => panic!("expected a refusal to go on without STARTTLS, got {other:?}"),
    }
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn implicit_tls_against_a_plain_server_fails_as_transient() {
    let server = TestSmtp::start();
    let mut s = settings(server.port());
    s.tls = TlsMode::Tls;
    s.timeout_secs = 2;
    let Ok(mailer) = Mailer::from_settings(&s) else {
        return; // no system CA store in this environment
    };
    let err = mailer.send(&mail("tls.2@dondoc")).await.unwrap_err();
    assert!(
        matches!(&err, MailError::Transient { reason } if reason.starts_with("TLS with 127.0.0.1:")),
        "{err:?}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn file_transport_writes_message_id_eml_and_overwrites_on_resend() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outbox").join("nested");
    let mut s = settings(dead_port());
    s.transport = MailTransport::File;
    s.file_dir = dir.clone();
    let mailer = Mailer::from_settings(&s).unwrap();
    assert_eq!(mailer.describe(), format!("files in {}", dir.display()));

    let id = "digest.PHUONG_1.2024-06-20T0800.3f2a@dondoc";
    let path = mailer.send(&mail(id)).await.unwrap();
    let expected = dir.join(format!("{id}.eml"));
    assert_eq!(PathBuf::from(&path), expected);
    let p = parse_mail(&std::fs::read(&expected).unwrap());
    assert_eq!(p.subject.as_deref(), Some(SUBJECT));
    assert_eq!(p.message_id.as_deref(), Some(id));
    assert_eq!(lf(p.text.as_deref().unwrap()), TEXT);

    let mut again = mail(id);
    again.text = "Nội dung mới.\n".into();
    let path2 = mailer.send(&again).await.unwrap();
    assert_eq!(path2, path);
    let p = parse_mail(&std::fs::read(&expected).unwrap());
    assert_eq!(lf(p.text.as_deref().unwrap()), "Nội dung mới.\n");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![format!("{id}.eml")], "one file, no temp left");
}

#[tokio::test]
async fn file_transport_keeps_the_file_inside_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(0);
    s.transport = MailTransport::File;
    s.file_dir = tmp.path().join("outbox");
    let mailer = Mailer::from_settings(&s).unwrap();
    let path = mailer.send(&mail("../../etc/evil@dondoc")).await.unwrap();
    assert!(
        PathBuf::from(&path).starts_with(tmp.path().join("outbox")),
        "{path}"
    );
}

#[tokio::test]
async fn send_test_delivers_a_short_vietnamese_message() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let reply = mailer.send_test("admin@city.example.gov.vn").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let r = &server.received()[0];
    assert_eq!(r.rcpt_to, vec!["admin@city.example.gov.vn"]);
    let p = r.parsed();
    assert_eq!(p.subject.as_deref(), Some(TEST_SUBJECT));
    assert_eq!(TEST_SUBJECT, "dondoc: thư kiểm tra cấu hình SMTP");
    assert!(p.text.unwrap().contains("thư kiểm tra"));
}

#[tokio::test]
async fn debug_and_describe_never_show_the_password() {
    let mut s = settings(587);
    s.host = "mail.example.gov.vn".into();
    s.username = Some("dondoc".into());
    s.password = Some(SecretString::from(PASSWORD));
    let mailer = Mailer::from_settings(&s).unwrap();
    let debug = format!("{mailer:?} {mailer:#?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_eq!(mailer.describe(), "smtp://mail.example.gov.vn:587 (none)");
}

#[test]
fn from_that_is_not_an_address_is_a_setup_error() {
    let mut s = settings(25);
    s.from = "dondoc (no address)".into();
    let err = Mailer::from_settings(&s).unwrap_err();
    let MailError::Setup { reason } = &err else {
        panic!("expected Setup, got {err:?}");
    };
    assert!(reason.contains("smtp.from"), "{reason}");
    assert!(err.is_permanent());
}

#[test]
fn unreadable_or_empty_ca_file_is_a_setup_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(587);
    s.tls = TlsMode::Starttls;
    s.ca_file = Some(tmp.path().join("missing.pem"));
    let err = Mailer::from_settings(&s).unwrap_err();
    assert!(
        matches!(&err, MailError::Setup { reason } if reason.contains("missing.pem")),
        "{err:?}"
    );

    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    s.ca_file = Some(junk);
    let err = Mailer::from_settings(&s).unwrap_err();
    assert!(
        matches!(&err, MailError::Setup { reason } if reason.contains("junk.pem")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bad_recipient_is_a_setup_error_and_nothing_is_sent() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let mut m = mail("badrcpt.1@dondoc");
    m.cc = vec!["phòng giám sát".into()];
    let err = mailer.send(&m).await.unwrap_err();
    assert!(
        matches!(&err, MailError::Setup { reason } if reason.contains("phòng giám sát")),
        "{err:?}"
    );
    assert!(err.is_permanent());
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_used_mailer_can_be_dropped_after_its_runtime() {
    let server = TestSmtp::start();
    let mailer = Mailer::from_settings(&settings(server.port())).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(mailer.send(&mail("drop.1@dondoc"))).unwrap();
    drop(rt);
    drop(mailer); // lettre's pool would spawn a task here: must not panic
    assert_eq!(server.received().len(), 1);
}
