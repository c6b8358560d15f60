//! systemd's notifications from the running daemon (`Type=notify`, `WatchdogSec=` in
//! deploy/dondoc.service): `READY=1` once the database is open, `WATCHDOG=1` from each turn of the
//! scheduler loop, `STOPPING=1` at shutdown. The test plays systemd: it binds the unix datagram
//! socket named by `NOTIFY_SOCKET` and sets `WATCHDOG_USEC`.
//!
//! That the keep-alives come from the scheduler loop is shown by wedging the loop: the test holds
//! the SQLite write lock while a fire is due, so the loop waits inside the fire's claim; the
//! keep-alives stop, and come back as soon as the lock is released.
//!
//! One test in this file: it sets process environment variables before any thread starts.

mod common;

use common::*;
use dondoc::application::Application;
use dondoc::daemon::Job;
use std::time::Duration;
use tokio::net::UnixDatagram;

/// The watchdog period the test asks for: keep-alives every 100 ms.
const WATCHDOG_USEC: &str = "200000";

async fn next(sock: &UnixDatagram, within: Duration) -> Option<String> {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(within, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(Err(e)) => panic!("reading the notify socket: {e}"),
        Err(_) => None,
    }
}

#[test]
fn the_scheduler_loop_tells_systemd_it_is_ready_and_alive() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify.sock");
    // SAFETY: this file's only test sets them before it starts the runtime or any thread.
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", &socket);
        std::env::set_var("WATCHDOG_USEC", WATCHDOG_USEC);
        std::env::remove_var("WATCHDOG_PID");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(dir, socket));
}

async fn run(dir: tempfile::TempDir, socket: std::path::PathBuf) {
    let sock = UnixDatagram::bind(&socket).unwrap();
    let clock = clock();
    let sim = start_sim(sim_options(200, 40), clock.clone()).await;
    let url = db_url(dir.path(), "d.db");
    let text = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:0\"\n",
        config_text(sim.addr, &url, "")
    );
    let application = Application::build(settings(&text), clock.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        next(&sock, Duration::from_millis(300)).await,
        None,
        "nothing is told before the daemon runs"
    );
    let daemon = application.daemon().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    // Ready once the database is open.
    let ready = next(&sock, Duration::from_secs(10)).await.expect("READY=1");
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        dir.path().join("d.db").exists(),
        "the database is open before READY"
    );
    // The loop's keep-alives, about every 100 ms.
    let began = std::time::Instant::now();
    for _ in 0..5 {
        let m = next(&sock, Duration::from_secs(2))
            .await
            .expect("a keep-alive");
        assert_eq!(m, "WATCHDOG=1\n");
    }
    assert!(began.elapsed() < Duration::from_secs(5));

    // Let the catch-up runs of the start end (the loop keeps telling meanwhile).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while Job::ALL.iter().any(|j| daemon.is_running(*j)) {
        assert!(std::time::Instant::now() < deadline, "catch-up never ended");
        assert_eq!(
            next(&sock, Duration::from_secs(2)).await.as_deref(),
            Some("WATCHDOG=1\n"),
            "keep-alives go on while jobs run"
        );
    }

    // Wedge the loop: another process holds the database's write lock, and a fire is due. The
    // loop waits in the fire's claim (busy timeout), and stops telling.
    use sqlx::Connection;
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(16));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match next(&sock, Duration::from_secs(1)).await {
            None => break, // a second without keep-alive: ten missed
            Some(m) => assert_eq!(m, "WATCHDOG=1\n"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the keep-alives went on while the loop was stuck in a fire's claim"
        );
    }
    assert!(!daemon.is_running(Job::Sync), "the fire is not claimed yet");

    // Unwedged: the claim goes through, the fire runs, the keep-alives are back.
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let _ = holder.close().await;
    assert_eq!(
        next(&sock, Duration::from_secs(5)).await.as_deref(),
        Some("WATCHDOG=1\n"),
        "the loop turns again"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while daemon.last_outcome(Job::Sync).map(|o| o.fire) != Some(now(clock.as_ref()) - 60) {
        assert!(
            std::time::Instant::now() < deadline,
            "the due fire ran: {:?}",
            daemon.last_outcome(Job::Sync)
        );
        let _ = next(&sock, Duration::from_millis(500)).await;
    }

    // Shutdown: STOPPING=1, then the run ends.
    let _ = stop.send(());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let m = next(&sock, Duration::from_secs(10))
            .await
            .expect("STOPPING=1");
        if m == "STOPPING=1\n" {
            break;
        }
        assert_eq!(m, "WATCHDOG=1\n");
        assert!(std::time::Instant::now() < deadline);
    }
    running.await.unwrap().unwrap();
}
