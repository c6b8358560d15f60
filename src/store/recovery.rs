//! How the store heals after a fault of the database or of its machine (a full disk, a server
//! that restarted or cut the connection): a connection that failed inside a transaction is never
//! handed out again, and single-statement writes that are safe to repeat are repeated once on a
//! fresh connection when theirs was lost.
//!
//! Why (sqlx 0.9): a transaction that is dropped, or whose `COMMIT`/`ROLLBACK` failed, queues a
//! `ROLLBACK` and goes back to the pool. sqlx counts the transaction depth itself and lowers that
//! count only when the `ROLLBACK` succeeds. SQLite rolls the whole transaction back on its own
//! after some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM: "Response To Errors Within A
//! Transaction" in SQLite's documentation); sqlx's `ROLLBACK` then fails with "cannot rollback -
//! no transaction is active", the count stays at 1, the pool's release check (a ping) passes, and
//! every later `begin_with("BEGIN IMMEDIATE")` on that connection fails with "attempted to call
//! begin_with at non-zero transaction depth": for good, even after the disk has room again. The
//! depth count is sqlx's own and does not follow the engine's state (transact-rs/sqlx#4031).
//!
//! The rule, on both engines: when a connection comes back to the pool (and again before one is
//! handed out), a connection that still counts as inside a transaction is closed; the pool opens
//! a fresh one on demand. Closing it ends whatever transaction the engine still held (SQLite and
//! PostgreSQL roll it back). SQLite lowers the count only once its worker has run the queued
//! `ROLLBACK`, so on its return the connection is pinged first (an in-process round trip through
//! the worker's queue); PostgreSQL lowers it when the rollback is queued, so no round trip is
//! added there (sqlx's own ping on return then flushes the rollback, and a connection whose
//! rollback fails is closed by sqlx). Before a connection is handed out, the pool has just pinged
//! it (`test_before_acquire`), so the count is read as it is.
//!
//! This module never retries a transaction (its statements may have been half applied and the
//! caller decides) nor anything that is not idempotent.

/// Whether a pooled connection may be used again: refuses a connection still counted inside a
/// transaction, after flushing the rollback a dropped transaction queued when `flush` is set.
/// `when` names the moment for the log ("returned to the pool", "handed out").
pub(crate) async fn reusable<C: sqlx::Connection>(
    conn: &mut C,
    flush: bool,
    when: &'static str,
) -> Result<bool, sqlx::Error> {
    if flush {
        conn.ping().await?;
    }
    if conn.is_in_transaction() {
        tracing::warn!(
            when,
            "a database connection is still inside a transaction (its COMMIT or ROLLBACK failed): closed; the pool opens a fresh one"
        );
        return Ok(false);
    }
    Ok(true)
}

/// Whether an error means the connection itself was lost (server restarted, connection
/// terminated, socket closed), so that an idempotent statement may be sent again on a fresh one.
pub(crate) fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL's class 57 (operator intervention: admin_shutdown, crash_shutdown,
        // cannot_connect_now) and class 08 (connection exception).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

/// Runs an idempotent single-statement write; when its connection was lost, runs it once more
/// (the pool hands out a fresh connection).
pub(crate) async fn once_more<T, F, Fut>(mut op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    match op().await {
        Err(e) if connection_lost(&e) => {
            tracing::warn!(error = %e, "database connection lost; trying the write once more on a fresh connection");
            op().await
        }
        other => other,
    }
}

/// Mail that the server accepted but whose "sent" mark the database refused (a full disk, a lost
/// connection). The store records those marks before it claims anything else, and refuses to
/// claim while it cannot: a message is never sent twice because its mark was lost, as long as
/// the process lives (a crash between the send and the mark still sends it again after its
/// lease, with the same Message-ID).
#[derive(Debug, Clone, Default)]
pub(crate) struct UnmarkedSent(
    std::sync::Arc<std::sync::Mutex<Vec<(i64, crate::domain::time::Epoch)>>>,
);

impl UnmarkedSent {
    pub(crate) fn remember(&self, id: i64, at: crate::domain::time::Epoch) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, at));
    }

    /// The marks still to record, in the order they were refused.
    pub(crate) fn take(&self) -> Vec<(i64, crate::domain::time::Epoch)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back marks that were refused again, ahead of any newer ones.
    pub(crate) fn put_back(&self, mut marks: Vec<(i64, crate::domain::time::Epoch)>) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        marks.append(&mut v);
        *v = marks;
    }
}
