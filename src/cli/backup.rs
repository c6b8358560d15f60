//! `dondoc backup`: a checked copy of the SQLite database while dondoc runs. It never writes
//! over an existing file.

use super::*;

pub(super) async fn backup(s: &Settings, out: &std::path::Path) -> Result<(), Failure> {
    use crate::store::backup::BackupError;
    match crate::store::backup::backup(&s.database.url, out).await {
        Ok(report) => {
            print!("Backed up {} to {report}", s.database.url);
            Ok(())
        }
        Err(
            e @ (BackupError::Postgres { .. }
            | BackupError::Unsupported(_)
            | BackupError::Exists(_)
            | BackupError::NotUtf8(_)),
        ) => Err(Failure::usage(format!("backup: {e}"))),
        Err(e) => Err(Failure::work(format!("backup: {e}"))),
    }
}
