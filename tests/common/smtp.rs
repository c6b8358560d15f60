//! A real SMTP server for tests, on `127.0.0.1:<port>`, speaking over TCP: what a mail client
//! sends is what a mail server would get. It runs on plain threads, so it works from any test
//! (sync, `#[tokio::test]`, any runtime flavour).
//!
//! Include it with `#[path = "common/smtp.rs"] mod smtp;` or through `mod common;`
//! (`common::smtp`).
//!
//! ```ignore
//! let server = TestSmtp::start();
//! // … point smtp.host = "127.0.0.1", smtp.port = server.port(), smtp.tls = "none" at it …
//! server.set_mode(SmtpMode::RejectTransient);   // 451 from now on
//! let mail = &server.received()[0];
//! assert_eq!(mail.parsed().subject.as_deref(), Some("…"));
//! server.stop();                                 // "SMTP down": connections refused
//! let again = TestSmtp::start_on(port);          // back up, same port
//! ```
//!
//! Not mailin-embedded: its server runs forever and cannot be stopped, and a test needs to stop
//! the server and start another on the same port. This one is ~200 lines of SMTP: EHLO/HELO,
//! AUTH PLAIN/LOGIN (any credentials accepted), MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP,
//! QUIT. No STARTTLS.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server answers, switchable at run time with [`TestSmtp::set_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// Every message is accepted (`250 2.0.0 OK queued as <n>`).
    Accept,
    /// `550 5.1.1 …` ([`PERMANENT_REPLY`]) to RCPT TO (and at the end of DATA if the mode
    /// changed in between).
    RejectPermanent,
    /// `451 4.3.0 …` ([`TRANSIENT_REPLY`]) to RCPT TO (and at the end of DATA).
    RejectTransient,
    /// A server that hangs: a new connection gets no greeting at all; on an open connection,
    /// commands are read but answered only once the mode changes (late, in order).
    Stall,
    /// Takes in the message after DATA but withholds the reply until the mode changes (then
    /// answers as the new mode says): a server that hangs on a message it is given.
    StallAfterData,
}

/// The text after `550` in [`SmtpMode::RejectPermanent`].
pub const PERMANENT_REPLY: &str = "5.1.1 Mailbox unavailable (test server)";
/// The text after `451` in [`SmtpMode::RejectTransient`].
pub const TRANSIENT_REPLY: &str = "4.3.0 Try again later (test server)";
/// The name the server gives in its greeting and EHLO reply.
pub const SERVER_NAME: &str = "smtp.test.invalid";

/// One accepted message, as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// The address of MAIL FROM, without angle brackets.
    pub mail_from: String,
    /// The addresses of every accepted RCPT TO, in order, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA (dot-unstuffed, CRLF line ends, without the final dot).
    pub raw: Vec<u8>,
    /// The user name of AUTH, when the client authenticated.
    pub auth_user: Option<String>,
}

/// A received message, decoded by mail-parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedMail {
    /// Decoded (RFC 2047) subject.
    pub subject: Option<String>,
    /// Addresses of From.
    pub from: Vec<String>,
    /// Display name of the first From, decoded.
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// The Date header as written.
    pub date: Option<String>,
    /// The text/plain body, decoded (line ends as sent: CRLF).
    pub text: Option<String>,
    /// The text/html body, decoded; `None` when the message has no HTML part.
    pub html: Option<String>,
    pub attachments: Vec<ParsedAttachment>,
    /// The Content-Type of the whole message, e.g. `multipart/mixed` or `text/plain`.
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAttachment {
    pub filename: Option<String>,
    /// `type/subtype`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> ParsedMail {
        parse_mail(&self.raw)
    }
}

/// Parses a whole message (an `.eml` file too). Panics when mail-parser cannot read it at all.
pub fn parse_mail(raw: &[u8]) -> ParsedMail {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    let msg = MessageParser::default()
        .parse(raw)
        .expect("mail-parser could not parse the message");
    let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
    };
    let ctype = |p: &mail_parser::MessagePart| -> Option<String> {
        p.content_type().map(|c| match c.subtype() {
            Some(sub) => format!("{}/{}", c.ctype(), sub),
            None => c.ctype().to_string(),
        })
    };
    let text = msg
        .text_body
        .iter()
        .filter_map(|&i| msg.parts.get(i as usize))
        .find_map(|p| match &p.body {
            PartType::Text(t) => Some(t.to_string()),
            _ => None,
        });
    let html = msg
        .html_body
        .iter()
        .filter_map(|&i| msg.parts.get(i as usize))
        .find_map(|p| match &p.body {
            PartType::Html(t) => Some(t.to_string()),
            _ => None,
        });
    let attachments = msg
        .attachments()
        .map(|p| ParsedAttachment {
            filename: p.attachment_name().map(str::to_string),
            content_type: ctype(p).unwrap_or_default(),
            bytes: attachment_bytes(&msg.raw_message, p),
        })
        .collect();
    ParsedMail {
        subject: msg.subject().map(str::to_string),
        from: addresses(msg.from()),
        from_name: msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.name())
            .map(str::to_string),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        message_id: msg.message_id().map(str::to_string),
        date: msg.header_raw("Date").map(|d| d.trim().to_string()),
        text,
        html,
        attachments,
        content_type: ctype(msg.root_part()),
    }
}

/// The bytes of an attachment as sent: mail-parser hands text/* parts back converted from their
/// charset, so encoded parts are decoded here from the raw message instead.
fn attachment_bytes(raw: &[u8], p: &mail_parser::MessagePart) -> Vec<u8> {
    let body = raw.get(p.offset_body as usize..p.offset_end as usize);
    match (p.encoding, body) {
        (mail_parser::Encoding::Base64, Some(b)) => decode_b64(b),
        (mail_parser::Encoding::QuotedPrintable, Some(b)) => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(b)
                .unwrap_or_else(|| p.contents().to_vec())
        }
        _ => p.contents().to_vec(),
    }
}

struct Shared {
    mode: Mutex<SmtpMode>,
    received: Mutex<Vec<Received>>,
    stopped: AtomicBool,
    /// A handle on every connection, to cut them on stop.
    connections: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
    helos: Mutex<Vec<String>>,
}

/// A running test SMTP server; stopped on drop.
pub struct TestSmtp {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TestSmtp {
    /// A server accepting mail on a free port.
    pub fn start() -> TestSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Self::serve(listener)
    }

    /// A server on `port` (e.g. the port of a stopped one). Waits up to 5 s for the port.
    pub fn start_on(port: u16) -> TestSmtp {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => return Self::serve(l),
                Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot bind 127.0.0.1:{port}: {e}"),
            }
        }
    }

    fn serve(listener: TcpListener) -> TestSmtp {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(SmtpMode::Accept),
            received: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            helos: Mutex::new(Vec::new()),
        });
        let sh = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("test-smtp-{port}"))
            .spawn(move || {
                while !sh.stopped.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if sh.stopped.load(Ordering::SeqCst) {
                                break;
                            }
                            stream.set_nonblocking(false).ok();
                            if let Ok(handle) = stream.try_clone() {
                                lock(&sh.connections).push(handle);
                            }
                            sh.accepted.fetch_add(1, Ordering::SeqCst);
                            let sh2 = Arc::clone(&sh);
                            std::thread::spawn(move || {
                                let _ = session(stream, &sh2);
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                // The listener is dropped here: the port is closed.
            })
            .expect("spawn the test SMTP acceptor");
        TestSmtp {
            port,
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Waits (up to `timeout`) until at least `n` messages have been accepted; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn set_mode(&self, mode: SmtpMode) {
        *lock(&self.shared.mode) = mode;
    }

    pub fn mode(&self) -> SmtpMode {
        *lock(&self.shared.mode)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Every EHLO/HELO name received, including sessions that sent no mail.
    pub fn helos(&self) -> Vec<String> {
        lock(&self.shared.helos).clone()
    }

    /// Stops listening and cuts every open connection (pooled ones too). Idempotent. Received
    /// messages stay readable.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        if let Some(handle) = lock(&self.acceptor).take() {
            let _ = handle.join();
        }
        for c in lock(&self.shared.connections).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn reply(w: &mut TcpStream, line: &str) -> std::io::Result<()> {
    w.write_all(line.as_bytes())?;
    w.write_all(b"\r\n")?;
    w.flush()
}

/// `MAIL FROM:<a@b> SIZE=10` → `a@b`.
fn path_arg(rest: &str) -> String {
    let rest = rest.trim();
    let addr = match (rest.find('<'), rest.find('>')) {
        (Some(i), Some(j)) if j > i => &rest[i + 1..j],
        _ => rest.split_whitespace().next().unwrap_or(""),
    };
    addr.to_string()
}

/// Base64 to bytes, skipping line breaks and padding.
fn decode_b64(s: &[u8]) -> Vec<u8> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let Some(v) = T.iter().position(|&t| t == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// The state of one SMTP session.
#[derive(Default)]
struct Session {
    helo: String,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

fn session(stream: TcpStream, sh: &Shared) -> std::io::Result<()> {
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    let mode = || *lock(&sh.mode);

    if mode() == SmtpMode::Stall {
        // A server that hangs before its greeting: read until the client gives up.
        while read_line(&mut r)?.is_some() {}
        return Ok(());
    }
    reply(
        &mut w,
        &format!("220 {SERVER_NAME} ESMTP test server ready"),
    )?;

    let mut state = Session::default();
    // Commands received while stalled are answered late, in order, once the mode changes: a
    // client that reuses such a connection reads stale replies.
    let mut pending: std::collections::VecDeque<String> = Default::default();
    while let Some(l) = read_line(&mut r)? {
        if sh.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        pending.push_back(l);
        if mode() == SmtpMode::Stall {
            continue;
        }
        while let Some(l) = pending.pop_front() {
            if !state.command(&l, &mut r, &mut w, sh)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

impl Session {
    /// Answers one command line; `false` ends the session.
    fn command(
        &mut self,
        l: &str,
        r: &mut BufReader<TcpStream>,
        w: &mut TcpStream,
        sh: &Shared,
    ) -> std::io::Result<bool> {
        let mode = || *lock(&sh.mode);
        let l = l.trim_end_matches(['\r', '\n']);
        let (verb, rest) = match l.find(' ') {
            Some(i) => (&l[..i], &l[i + 1..]),
            None => (l, ""),
        };
        let after_colon = |s: &str| path_arg(s.split_once(':').map(|(_, a)| a).unwrap_or(s));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.helo = rest.trim().to_string();
                lock(&sh.helos).push(self.helo.clone());
                reply(w, &format!("250-{SERVER_NAME} greets {}", self.helo))?;
                reply(w, "250-8BITMIME")?;
                reply(w, "250-ENHANCEDSTATUSCODES")?;
                reply(w, "250 AUTH PLAIN LOGIN")?;
            }
            "HELO" => {
                self.helo = rest.trim().to_string();
                lock(&sh.helos).push(self.helo.clone());
                reply(w, &format!("250 {SERVER_NAME}"))?;
            }
            "AUTH" => {
                let mut args = rest.split_whitespace();
                let mech = args.next().unwrap_or("").to_ascii_uppercase();
                let user = match mech.as_str() {
                    "PLAIN" => {
                        let initial = match args.next() {
                            Some(a) => a.to_string(),
                            None => {
                                reply(w, "334 ")?;
                                read_line(r)?.unwrap_or_default()
                            }
                        };
                        let raw = decode_b64(initial.trim().as_bytes());
                        let fields: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
                        fields
                            .get(1)
                            .map(|u| String::from_utf8_lossy(u).into_owned())
                    }
                    "LOGIN" => {
                        let user = match args.next() {
                            Some(a) => a.to_string(),
                            None => {
                                reply(w, "334 VXNlcm5hbWU6")?;
                                read_line(r)?.unwrap_or_default()
                            }
                        };
                        reply(w, "334 UGFzc3dvcmQ6")?;
                        let _password = read_line(r)?;
                        Some(
                            String::from_utf8_lossy(&decode_b64(user.trim().as_bytes()))
                                .into_owned(),
                        )
                    }
                    _ => {
                        reply(w, "504 5.5.4 Unrecognized authentication type")?;
                        return Ok(true);
                    }
                };
                self.auth_user = user;
                reply(w, "235 2.7.0 Authentication successful")?;
            }
            "MAIL" => {
                self.mail_from = Some(after_colon(rest));
                self.rcpt_to.clear();
                reply(w, "250 2.1.0 OK")?;
            }
            "RCPT" => {
                if self.mail_from.is_none() {
                    reply(w, "503 5.5.1 MAIL first")?;
                    return Ok(true);
                }
                match mode() {
                    SmtpMode::RejectPermanent => reply(w, &format!("550 {PERMANENT_REPLY}"))?,
                    SmtpMode::RejectTransient => reply(w, &format!("451 {TRANSIENT_REPLY}"))?,
                    _ => {
                        self.rcpt_to.push(after_colon(rest));
                        reply(w, "250 2.1.5 OK")?;
                    }
                }
            }
            "DATA" => {
                if self.rcpt_to.is_empty() {
                    reply(w, "554 5.5.1 No valid recipients")?;
                    return Ok(true);
                }
                reply(w, "354 End data with <CR><LF>.<CR><LF>")?;
                let mut raw = Vec::new();
                loop {
                    let mut l = Vec::new();
                    if r.read_until(b'\n', &mut l)? == 0 {
                        return Ok(false);
                    }
                    if l == b".\r\n" || l == b".\n" {
                        break;
                    }
                    let l = l.strip_prefix(b".").unwrap_or(&l);
                    raw.extend_from_slice(l);
                }
                while mode() == SmtpMode::StallAfterData {
                    if sh.stopped.load(Ordering::SeqCst) {
                        return Ok(false);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                match mode() {
                    SmtpMode::RejectPermanent => reply(w, &format!("550 {PERMANENT_REPLY}"))?,
                    SmtpMode::RejectTransient => reply(w, &format!("451 {TRANSIENT_REPLY}"))?,
                    SmtpMode::Stall | SmtpMode::StallAfterData => {}
                    SmtpMode::Accept => {
                        let n = {
                            let mut received = lock(&sh.received);
                            received.push(Received {
                                helo: self.helo.clone(),
                                mail_from: self.mail_from.clone().unwrap_or_default(),
                                rcpt_to: std::mem::take(&mut self.rcpt_to),
                                raw,
                                auth_user: self.auth_user.clone(),
                            });
                            received.len()
                        };
                        reply(w, &format!("250 2.0.0 OK queued as TEST{n}"))?;
                    }
                }
                self.mail_from = None;
                self.rcpt_to.clear();
            }
            "RSET" => {
                self.mail_from = None;
                self.rcpt_to.clear();
                reply(w, "250 2.0.0 OK")?;
            }
            "NOOP" => reply(w, "250 2.0.0 OK")?,
            "QUIT" => {
                reply(w, "221 2.0.0 Bye")?;
                return Ok(false);
            }
            _ => reply(w, "502 5.5.2 Command not recognized")?,
        }
        Ok(true)
    }
}
