//! TLS as cities have it: servers whose certificates a private (government) CA issued, not in
//! the system's store. A real TLS server on loopback (rustls, its certificate made by `rcgen`),
//! in front of the simulator and of the test SMTP server (implicit TLS, `tls = "tls"`): refused
//! without `ca_file`, accepted with it, for a source and for SMTP.

mod common;

use common::smtp::TestSmtp;
use common::*;
use dondoc::app::App;
use dondoc::sync::run_once;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A private CA and a server certificate it issued for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(
        DnType::CommonName,
        "Cơ quan chứng thực thử nghiệm (test CA)",
    );
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "motcua.test.invalid");
    let leaf_key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&leaf_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server_cert: cert.der().clone(),
        server_key: leaf_key.serialize_der(),
    }
}

/// A TLS server on loopback forwarding the plain stream to `backend`; counts the handshakes
/// that succeeded.
struct TlsFront {
    addr: SocketAddr,
    ok: Arc<AtomicUsize>,
}

async fn tls_front(pki: &Pki, backend: SocketAddr) -> TlsFront {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.server_cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ok = Arc::new(AtomicUsize::new(0));
    let ok2 = ok.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let ok = ok2.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    ok.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                }
            });
        }
    });
    TlsFront { addr, ok }
}

fn write_ca(dir: &Path, pki: &Pki) -> PathBuf {
    let path = dir.join("gov-ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap();
    path
}

fn source_config(front: SocketAddr, db: &str, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|p| format!("ca_file = \"{}\"", p.display()))
        .unwrap_or_default();
    format!(
        r#"
[database]
url = "{db}"

[sources.motcua]
kind = "one_stop"
base_url = "https://127.0.0.1:{port}"
page_size = 200
timeout_secs = 10
max_attempts = 1
{ca}
{UNITS}
"#,
        port = front.port()
    )
}

#[tokio::test]
async fn a_source_behind_a_private_ca_is_refused_without_ca_file_and_synced_with_it() {
    let pki = pki();
    let clock = clock();
    let sim = start_sim(sim_options(400, 0), clock.clone()).await;
    let front = tls_front(&pki, sim.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &pki);

    // Without ca_file: the handshake fails, the source fails with a TLS reason, nothing stored.
    let app = App::build(
        settings(&source_config(
            front.addr,
            &db_url(dir.path(), "a.db"),
            None,
        )),
        clock.clone(),
    )
    .await
    .unwrap();
    let r = run_once(&app, now(clock.as_ref())).await;
    let failures = r.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let err = failures[0].1;
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "a TLS reason: {err}"
    );
    assert_eq!(front.ok.load(Ordering::SeqCst), 0, "no handshake succeeded");
    assert_eq!(sim.sim.requests().thu_tuc, 0, "nothing reached the server");

    // With ca_file: every page over TLS, every record stored.
    let app = App::build(
        settings(&source_config(
            front.addr,
            &db_url(dir.path(), "b.db"),
            Some(&ca),
        )),
        clock.clone(),
    )
    .await
    .unwrap();
    let r = run_once(&app, now(clock.as_ref())).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert!(front.ok.load(Ordering::SeqCst) >= 1);
    let stored = scalar(&db_url(dir.path(), "b.db"), "SELECT count(*) FROM dossiers").await;
    assert_eq!(stored as usize, sim.sim.dossiers_json().len());

    // A file without a certificate is a setup error naming the key.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let app = App::build(
        settings(&source_config(
            front.addr,
            &db_url(dir.path(), "c.db"),
            Some(&junk),
        )),
        clock.clone(),
    )
    .await
    .unwrap();
    let r = run_once(&app, now(clock.as_ref())).await;
    let err = r.failures()[0].1.to_string();
    assert!(err.contains("ca_file") && err.contains("junk.pem"), "{err}");
}

fn smtp_settings(port: u16, ca: Option<&Path>) -> dondoc::config::SmtpSettings {
    let ca = ca
        .map(|p| format!("ca_file = \"{}\"", p.display()))
        .unwrap_or_default();
    let text = format!(
        r#"
[sources.motcua]
kind = "one_stop"
base_url = "http://127.0.0.1:9"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "tls"
from = "Hệ thống dondoc <dondoc@dondoc.example.gov.vn>"
hello_name = "dondoc-test.example.gov.vn"
timeout_secs = 10
{ca}
{UNITS}
"#
    );
    settings(&text).smtp.unwrap()
}

#[tokio::test]
async fn smtp_over_implicit_tls_with_a_private_ca_is_refused_without_ca_file_and_delivered_with_it()
{
    let pki = pki();
    let smtp = TestSmtp::start();
    let backend: SocketAddr = format!("127.0.0.1:{}", smtp.port()).parse().unwrap();
    let front = tls_front(&pki, backend).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &pki);

    let mailer =
        dondoc::alerts::mailer::Mailer::from_settings(&smtp_settings(front.addr.port(), None))
            .unwrap();
    let err = mailer
        .send_test("cntt@city.example.gov.vn")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TLS") && err.contains("smtp.ca_file"),
        "a TLS failure naming the key: {err}"
    );
    assert!(smtp.received().is_empty());
    assert_eq!(front.ok.load(Ordering::SeqCst), 0);

    let mailer =
        dondoc::alerts::mailer::Mailer::from_settings(&smtp_settings(front.addr.port(), Some(&ca)))
            .unwrap();
    mailer.send_test("cntt@city.example.gov.vn").await.unwrap();
    let got = smtp.received();
    assert_eq!(got.len(), 1, "delivered once over TLS");
    assert!(front.ok.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        got[0].parsed().subject.as_deref(),
        Some(dondoc::alerts::mailer::TEST_SUBJECT)
    );
}
