//! Delivery of a composed [`OutgoingMail`]: over SMTP with lettre, or — only when
//! `smtp.transport = "file"` says so — as one `.eml` file per message in `smtp.file_dir`.
//!
//! What it is for: turning a mail into bytes on the wire (or on disk) and saying, in plain words,
//! what happened. A failure is classified so that the caller knows whether to retry:
//! [`MailError::Permanent`] (a 5xx reply: the server's own words are kept) and
//! [`MailError::Setup`] (wrong settings or an unbuildable message) are not retried;
//! [`MailError::Transient`] (a 4xx reply, a refused connection, TLS, a timeout, I/O) is.
//!
//! What it must never do:
//! - log, print or return the SMTP password (not in `Debug`, not in an error message);
//! - silently fall back from SMTP to files, or from TLS to plain text: the file transport is used
//!   only when configured, and `tls = "starttls"` *requires* STARTTLS;
//! - send without a timeout: lettre's own timeout covers connecting only, so every delivery is
//!   wrapped in `tokio::time::timeout(smtp.timeout_secs)`.
//!
//! One [`Mailer`] holds one lettre transport, which pools its connections; clones share it. The
//! transport is built on the first delivery (it needs a Tokio runtime), and thrown away after a
//! timeout or a broken connection so that a half-finished SMTP conversation is never reused.

use crate::config::{MailTransport, SmtpSettings, TlsMode};
use crate::domain::mail::OutgoingMail;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::error::Error as _;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The subject of [`Mailer::send_test`].
pub const TEST_SUBJECT: &str = "dondoc: thư kiểm tra cấu hình SMTP";

/// Why a mail was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server answered 5xx: retrying will not help. `reply` is the server's text.
    #[error(
        "the mail server refused the message for good ({code} {reply}); not retried: check the \
         recipient addresses and smtp.from"
    )]
    Permanent { code: u16, reply: String },
    /// Anything else that failed (4xx, connection refused, TLS, timeout, I/O): retry later.
    #[error("mail not delivered this time, to be retried: {reason}")]
    Transient { reason: String },
    /// The settings or the message are wrong: fix them, retrying will not help.
    #[error("cannot send mail: {reason}")]
    Setup { reason: String },
}

impl MailError {
    /// True when retrying cannot help (`Permanent` and `Setup`).
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Permanent { .. } | MailError::Setup { .. })
    }
}

fn setup(reason: impl Into<String>) -> MailError {
    MailError::Setup {
        reason: reason.into(),
    }
}

/// Delivers mail as configured in `[smtp]`. Cheap to clone: clones share one transport.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    from: Mailbox,
    timeout: Duration,
    /// Masked wherever a server's words are repeated (never empty).
    password: Option<SecretString>,
    kind: Kind,
}

enum Kind {
    Smtp(Box<Smtp>),
    File { dir: PathBuf },
}

struct Smtp {
    host: String,
    port: u16,
    tls: TlsMode,
    username: Option<String>,
    hello_name: String,
    builder: AsyncSmtpTransportBuilder,
    /// The transport of the current generation, built on first use.
    current: Mutex<Option<(u64, AsyncSmtpTransport<Tokio1Executor>)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        // lettre's pool spawns a Tokio task when dropped, which panics outside a runtime (a
        // Mailer dropped after its runtime ended): leak it then, the process is ending anyway.
        if tokio::runtime::Handle::try_current().is_err() {
            let current = self.current.get_mut().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = current.take() {
                std::mem::forget(t);
            }
        }
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mailer");
        d.field("transport", &self.describe())
            .field("from", &self.inner.from.to_string())
            .field("timeout", &self.inner.timeout);
        if let Kind::Smtp(s) = &self.inner.kind {
            d.field("hello_name", &s.hello_name)
                .field("username", &s.username)
                .field(
                    "password",
                    &self.inner.password.as_ref().map(|_| "<redacted>"),
                );
        }
        d.finish()
    }
}

impl Mailer {
    /// Checks the settings and prepares the transport. Nothing is connected yet.
    pub fn from_settings(s: &SmtpSettings) -> Result<Mailer, MailError> {
        let from: Mailbox = s.from.trim().parse().map_err(|e| {
            setup(format!(
                "smtp.from '{}' is not a mail address ({e}); write \"Name <user@domain>\" or \
                 \"user@domain\"",
                s.from
            ))
        })?;
        if s.timeout_secs == 0 {
            return Err(setup(
                "smtp.timeout_secs is 0: give it at least 1 (seconds)",
            ));
        }
        let timeout = Duration::from_secs(s.timeout_secs);
        let password = s
            .password
            .as_ref()
            .filter(|p| !p.expose_secret().is_empty())
            .cloned();

        let kind = match s.transport {
            MailTransport::File => Kind::File {
                dir: s.file_dir.clone(),
            },
            MailTransport::Smtp => Kind::Smtp(Box::new(Smtp::new(s, &from, timeout)?)),
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                from,
                timeout,
                password,
                kind,
            }),
        })
    }

    /// Delivers one mail. `Ok` is the server's reply in plain words (`250 2.0.0 OK queued as …`),
    /// or, for the file transport, the path of the written file.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let message = self.build_message(mail)?;
        let timeout = self.inner.timeout;
        let result = match &self.inner.kind {
            Kind::Smtp(smtp) => smtp.deliver(message, timeout).await,
            Kind::File { dir } => {
                let dir = dir.clone();
                let name = file_name(&mail.message_id)?;
                let bytes = message.formatted();
                match tokio::time::timeout(timeout, write_eml(dir.clone(), name, bytes)).await {
                    Ok(r) => r,
                    Err(_) => Err(MailError::Transient {
                        reason: format!(
                            "writing the mail into {} took more than {}s",
                            dir.display(),
                            timeout.as_secs()
                        ),
                    }),
                }
            }
        };
        result.map_err(|e| self.scrub(e))
    }

    /// Sends a short test message to `to`, to check the settings. Same errors as [`Self::send`].
    pub async fn send_test(&self, to: &str) -> Result<String, MailError> {
        let now = chrono::Utc::now();
        let mail = OutgoingMail {
            message_id: format!(
                "test.{}.{:09}@dondoc",
                now.format("%Y%m%dT%H%M%S"),
                now.timestamp_subsec_nanos()
            ),
            to: vec![to.to_string()],
            cc: Vec::new(),
            subject: TEST_SUBJECT.to_string(),
            text: format!(
                "Đây là thư kiểm tra của dondoc.\n\n\
                 Nếu bạn nhận được thư này, cấu hình gửi thư (mục [smtp]) đã đúng: {}.\n\
                 Không cần trả lời thư này.\n",
                self.describe()
            ),
            html: None,
            attachment: None,
        };
        self.send(&mail).await
    }

    /// Where mail goes, for people: `smtp://mail.x:587 (starttls)` or `files in data/outbox`.
    pub fn describe(&self) -> String {
        match &self.inner.kind {
            Kind::Smtp(s) => format!("smtp://{}:{} ({})", s.host, s.port, tls_name(s.tls)),
            Kind::File { dir } => format!("files in {}", dir.display()),
        }
    }

    fn build_message(&self, mail: &OutgoingMail) -> Result<Message, MailError> {
        let id = mail
            .message_id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(setup(format!(
                "the message id '{}' is empty or contains spaces",
                mail.message_id
            )));
        }
        if mail.to.is_empty() && mail.cc.is_empty() {
            return Err(setup(format!("message {id} has no recipient")));
        }
        let mut builder = Message::builder()
            .from(self.inner.from.clone())
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{id}>")))
            .date_now()
            .user_agent(crate::USER_AGENT.to_string());
        for to in &mail.to {
            builder = builder.to(parse_recipient(to, "to", id)?);
        }
        for cc in &mail.cc {
            builder = builder.cc(parse_recipient(cc, "cc", id)?);
        }

        let plain = SinglePart::plain(mail.text.clone());
        let body = match &mail.html {
            None => Body::Single(plain),
            Some(html) => Body::Multi(
                MultiPart::alternative()
                    .singlepart(plain)
                    .singlepart(SinglePart::html(html.clone())),
            ),
        };
        let body = match &mail.attachment {
            None => body,
            Some(a) => {
                let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                    setup(format!(
                        "attachment '{}' of message {id}: content type '{}' is not valid: {e}",
                        a.filename, a.content_type
                    ))
                })?;
                let part = lettre::message::Attachment::new(a.filename.clone())
                    .body(a.bytes.clone(), content_type);
                let mixed = match body {
                    Body::Single(p) => MultiPart::mixed().singlepart(p),
                    Body::Multi(m) => MultiPart::mixed().multipart(m),
                };
                Body::Multi(mixed.singlepart(part))
            }
        };
        let built = match body {
            Body::Single(p) => builder.singlepart(p),
            Body::Multi(m) => builder.multipart(m),
        };
        built.map_err(|e| setup(format!("cannot build message {id}: {e}")))
    }

    /// Masks the password wherever it could have been echoed back.
    fn scrub(&self, e: MailError) -> MailError {
        // A password this short is no secret, and masking it would garble every message.
        let Some(pw) = self
            .inner
            .password
            .as_ref()
            .map(|p| p.expose_secret())
            .filter(|p| p.chars().count() >= 3)
        else {
            return e;
        };
        let clean = |s: String| s.replace(pw, "***");
        match e {
            MailError::Permanent { code, reply } => MailError::Permanent {
                code,
                reply: clean(reply),
            },
            MailError::Transient { reason } => MailError::Transient {
                reason: clean(reason),
            },
            MailError::Setup { reason } => MailError::Setup {
                reason: clean(reason),
            },
        }
    }
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

fn parse_recipient(addr: &str, field: &str, id: &str) -> Result<Mailbox, MailError> {
    addr.trim().parse().map_err(|e| {
        setup(format!(
            "message {id}: {field} address '{addr}' is not a mail address ({e})"
        ))
    })
}

fn tls_name(t: TlsMode) -> &'static str {
    match t {
        TlsMode::Starttls => "starttls",
        TlsMode::Tls => "tls",
        TlsMode::None => "none",
    }
}

impl Smtp {
    fn new(s: &SmtpSettings, from: &Mailbox, timeout: Duration) -> Result<Smtp, MailError> {
        let host = s.host.trim().to_string();
        if host.is_empty() {
            return Err(setup(
                "smtp.host is empty: name the mail server, or set transport = \"file\"",
            ));
        }
        let hello_name = match &s.hello_name {
            Some(h) if !h.trim().is_empty() => h.trim().to_string(),
            _ => from.email.domain().to_string(),
        };

        let mut builder = match s.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .tls(Tls::Wrapper(tls_parameters(&host, s.ca_file.as_deref())?)),
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .tls(Tls::Required(tls_parameters(&host, s.ca_file.as_deref())?)),
        }
        .port(s.port)
        .hello_name(ClientId::Domain(hello_name.clone()))
        .timeout(Some(timeout))
        .pool_config(PoolConfig::new());
        if let Some(user) = &s.username {
            let password = s
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Smtp {
            host,
            port: s.port,
            tls: s.tls,
            username: s.username.clone(),
            hello_name,
            builder,
            current: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The shared transport, built on first use (lettre's pool spawns a Tokio task).
    fn transport(&self) -> (u64, AsyncSmtpTransport<Tokio1Executor>) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, t)) = current.as_ref() {
            return (*generation, t.clone());
        }
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = self.builder.clone().build::<Tokio1Executor>();
        *current = Some((generation, t.clone()));
        (generation, t)
    }

    /// Throws away the transport of `generation` (its pooled connections may be mid-conversation)
    /// so that the next delivery starts from a fresh connection.
    fn discard(&self, generation: u64, timeout: Duration) {
        let old = {
            let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            match current.as_ref() {
                Some((g, _)) if *g == generation => current.take(),
                _ => None,
            }
        };
        if let Some((_, t)) = old {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(timeout, t.shutdown()).await;
            });
        }
    }

    async fn deliver(&self, message: Message, timeout: Duration) -> Result<String, MailError> {
        let (generation, transport) = self.transport();
        match tokio::time::timeout(timeout, transport.send(message)).await {
            Ok(Ok(response)) => Ok(reply_text(&response)),
            Ok(Err(e)) => {
                if !e.is_permanent() && !e.is_transient() {
                    self.discard(generation, timeout);
                }
                Err(self.classify(&e))
            }
            Err(_) => {
                self.discard(generation, timeout);
                Err(MailError::Transient {
                    reason: format!(
                        "{} did not finish the SMTP conversation within {}s (smtp.timeout_secs)",
                        self.endpoint(),
                        timeout.as_secs()
                    ),
                })
            }
        }
    }

    fn classify(&self, e: &lettre::transport::smtp::Error) -> MailError {
        let detail = e.source().map(|s| plain_words(&s.to_string()));
        if e.is_permanent() || e.is_transient() {
            let code = e.status().map(u16::from).unwrap_or(0);
            let reply = detail.unwrap_or_default();
            if e.is_permanent() {
                return MailError::Permanent { code, reply };
            }
            return MailError::Transient {
                reason: format!(
                    "{} answered {code} {reply} (a temporary refusal)",
                    self.endpoint()
                ),
            };
        }
        let ep = self.endpoint();
        // lettre reports a failed TLS handshake on connect as a connection error.
        let lower = detail.as_deref().unwrap_or_default().to_ascii_lowercase();
        let tls_failed = e.is_tls()
            || (self.tls != TlsMode::None
                && [
                    "certificate",
                    "corrupt message",
                    "handshake",
                    "tls",
                    "alert",
                ]
                .iter()
                .any(|w| lower.contains(w)));
        let what = if tls_failed {
            format!(
                "TLS with {ep} failed (tls = \"{}\"; check smtp.port, smtp.tls and smtp.ca_file)",
                tls_name(self.tls)
            )
        } else if e.is_timeout() {
            format!("could not connect to {ep} within the timeout")
        } else if e.is_response() {
            format!("{ep} sent a reply that is not SMTP")
        } else if e.is_client() {
            format!("the SMTP conversation with {ep} failed")
        } else if e.is_transport_shutdown() {
            "the mail transport was shut down".to_string()
        } else if e.to_string().starts_with("Connection error") {
            format!("could not connect to {ep}")
        } else {
            format!("the connection to {ep} broke")
        };
        MailError::Transient {
            reason: match detail {
                Some(d) if !d.is_empty() => format!("{what}: {d}"),
                _ => what,
            },
        }
    }
}

/// `Connection error: Connection refused (os error 111)` → `Connection refused`.
fn plain_words(s: &str) -> String {
    let mut s = s.trim();
    for prefix in ["Connection error: ", "network error: ", "tls error: "] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}

fn reply_text(r: &Response) -> String {
    let code = u16::from(r.code());
    let text = r.message().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        code.to_string()
    } else {
        format!("{code} {text}")
    }
}

fn tls_parameters(host: &str, ca_file: Option<&Path>) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| setup(format!("cannot read smtp.ca_file {}: {e}", ca.display())))?;
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(setup(format!(
                "smtp.ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                ca.display()
            )));
        }
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            setup(format!(
                "smtp.ca_file {} is not a readable PEM certificate: {e}",
                ca.display()
            ))
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| {
        setup(format!(
            "cannot prepare TLS for {host}: {}; install the system CA certificates or set \
             smtp.ca_file to the PEM of the CA that issued the server's certificate",
            e.source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string())
        ))
    })
}

/// The file name of a message: its id, with anything that could leave the folder replaced.
fn file_name(message_id: &str) -> Result<String, MailError> {
    let id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let mut safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-@+=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.starts_with('.') {
        // No hidden file, and never `..`.
        safe.replace_range(..1, "_");
    }
    if safe.is_empty() {
        return Err(setup(format!(
            "the message id '{message_id}' cannot name a file"
        )));
    }
    Ok(format!("{safe}.eml"))
}

/// Writes `{dir}/{name}` through a temporary file and a rename: never half a file.
async fn write_eml(dir: PathBuf, name: String, bytes: Vec<u8>) -> Result<String, MailError> {
    tokio::task::spawn_blocking(move || {
        let io = |what: &str, p: &Path, e: std::io::Error| MailError::Transient {
            reason: format!("cannot {what} {}: {e}", p.display()),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("create the folder", &dir, e))?;
        let path = dir.join(&name);
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write", &tmp, e));
        }
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("rename the mail into", &path, e));
        }
        Ok(path.display().to_string())
    })
    .await
    .map_err(|e| MailError::Transient {
        reason: format!("writing the mail file failed: {e}"),
    })?
}
