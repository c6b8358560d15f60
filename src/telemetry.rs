//! Logging with `tracing`: readable lines on a terminal or in the journal, or JSON lines for a
//! log collector. `RUST_LOG` wins over the configured level. Logs go to standard error, so that
//! standard output stays for the command's own result (tables, JSON).
//!
//! - On a terminal: coloured lines with a timestamp.
//! - Under systemd (standard error is the journal's stream, `JOURNAL_STREAM`): no colour codes and
//!   no timestamp of our own (the journal stamps each line), so `journalctl -u dondoc` reads clean.
//! - Piped anywhere else: no colour codes.
//! - `json`: one object per line (`timestamp`, `level`, `message`, the fields); the journal or the
//!   collector rotates them, dondoc never writes log files.
//!
//! Nothing here may print a secret: secrets are typed so that they never reach a log field.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Whether standard error is the journal's stream (systemd sets `JOURNAL_STREAM=DEV:INODE` to the
/// stream it connected; a child process inheriting the variable but not the stream is not).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2")
        .is_ok_and(|m| m.dev().to_string() == dev && m.ino().to_string() == ino)
}

/// Installs the global subscriber once; later calls do nothing (tests call it freely).
pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let _ = match format {
        LogFormat::Text if stderr_is_journal() => {
            builder.with_target(false).without_time().try_init()
        }
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
