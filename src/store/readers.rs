//! Synchronous read connections to an SQLite file, for the reads on every
//! release's path (the outlook of [`super::ledger`]).
//!
//! Why not the sqlx pool: sqlx runs each SQLite connection on a thread of its
//! own, so a read is two thread hops (there and back), each waiting for a
//! core under load, around a statement of a few microseconds. A read here
//! runs on the caller's thread, as counting does. In WAL mode a reader never
//! waits for the writer or the checkpointer, so the caller is not held.

use crate::store::StoreError;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept; more may be open while the server is busy.
const KEEP: usize = 8;

/// How long a read waits for a locked file. WAL readers are locked out only
/// briefly (while a log is recovered or restarted), never by the writer; a
/// read holds a thread that serves other requests, so past this it answers
/// 503 instead of stalling them.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// A small pool of read-only connections, opened on first use.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the
    /// connection for the next caller.
    pub(crate) fn with<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => open_read_only(&self.path, BUSY_TIMEOUT)?,
        };
        let out = read(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        out
    }
}

/// A read-only connection to the SQLite file at `path` that waits `busy`
/// for a locked file: the readers' and the snapshot loader's.
pub(crate) fn open_read_only(
    path: &std::path::Path,
    busy: Duration,
) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy)?;
    Ok(conn)
}
