//! Free space of the filesystem that holds the SQLite database: read with `statvfs(2)` each time
//! it is asked for (by `/healthz`, `/metrics`, the scheduler's check before each fire and the
//! data-source alerts), so that a disk filling up is seen before writes start failing.
//!
//! "Free" is what an unprivileged process may still use (`f_bavail`), not the root reserve.
//! PostgreSQL's disk is the server's, not dondoc's: there is nothing to read for it here.
//!
//! This module only measures; it never deletes or moves anything to make room.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// Space on the database's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskSpace {
    /// The database file measured.
    pub path: PathBuf,
    /// Bytes an unprivileged process may still write.
    pub free_bytes: u64,
    /// The filesystem's size in bytes.
    pub total_bytes: u64,
}

impl DiskSpace {
    /// Free space in percent of the filesystem's size.
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }

    /// Whether the free space is below the threshold: fewer than `min_free_mib` MiB or fewer
    /// than `min_free_percent` % of the filesystem (either is enough; 0 turns a limit off).
    pub fn is_low(&self, min_free_mib: u64, min_free_percent: f64) -> bool {
        let mib = self.free_bytes / (1024 * 1024);
        (min_free_mib > 0 && mib < min_free_mib)
            || (min_free_percent > 0.0 && self.free_percent() < min_free_percent)
    }

    /// One line for people: "1.5 GiB free of 20.0 GiB (7.5 %) on /var/lib/dondoc/dondoc.db".
    pub fn describe(&self) -> String {
        format!(
            "{} free of {} ({:.1} %) on the filesystem of {}",
            human(self.free_bytes),
            human(self.total_bytes),
            self.free_percent(),
            self.path.display()
        )
    }
}

/// Bytes as MiB or GiB with one decimal.
pub fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Measures the filesystem holding `path` (the file, or its folder when the file is not there).
pub fn measure(path: &Path) -> std::io::Result<DiskSpace> {
    let probe = if path.exists() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    let (free_bytes, total_bytes) = statvfs(probe)?;
    Ok(DiskSpace {
        path: path.to_path_buf(),
        free_bytes,
        total_bytes,
    })
}

#[cfg(unix)]
fn statvfs(path: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path)?;
    let unit = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    Ok((
        s.f_bavail.saturating_mul(unit),
        s.f_blocks.saturating_mul(unit),
    ))
}

#[cfg(not(unix))]
fn statvfs(_path: &Path) -> std::io::Result<(u64, u64)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free disk space is measured on Unix systems only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_below_either_limit() {
        let d = DiskSpace {
            path: PathBuf::from("x.db"),
            free_bytes: 512 * 1024 * 1024,
            total_bytes: 100 * 1024 * 1024 * 1024,
        };
        assert!(d.is_low(1024, 0.0), "512 MiB < 1 GiB");
        assert!(!d.is_low(256, 0.0));
        assert!(d.is_low(0, 1.0), "0.5 % < 1 %");
        assert!(!d.is_low(0, 0.1));
        assert!(!d.is_low(0, 0.0), "both limits off");
        assert_eq!(human(d.free_bytes), "512.0 MiB");
        assert_eq!(human(d.total_bytes), "100.0 GiB");
    }

    #[test]
    fn measures_the_temporary_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = measure(&dir.path().join("missing.db")).unwrap();
        assert!(d.total_bytes > 0 && d.free_bytes <= d.total_bytes, "{d:?}");
    }
}
