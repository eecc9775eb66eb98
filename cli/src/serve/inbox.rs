//! The inbox: envelopes the collection server accepted and `plp ingest` has not yet taken.
//!
//! One SQLite database beside the store (`inbox.sqlite`), in WAL mode with
//! `synchronous=FULL`, so a commit is on disk when it returns. It holds ciphertext only:
//! the envelope bytes exactly as received, keyed by their SHA-256 (the receipt), in arrival
//! order. No addresses, no user agents, no times.
//!
//! The server writes it through one [`Writer`] thread that group-commits: it takes every
//! envelope that arrived while the previous commit was being made, inserts them all in one
//! transaction, commits (one fsync for the lot) and only then answers each waiting request.
//! `plp ingest` reads it in arrival order and deletes what it has committed to the store.

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// File name of the inbox inside the study folder.
pub const INBOX_FILE: &str = "inbox.sqlite";

/// Format of the inbox database (`PRAGMA user_version`).
const INBOX_VERSION: i64 = 1;

/// Most envelopes committed in one transaction.
const MAX_GROUP: usize = 4096;

/// Envelopes that may wait for the writer before handlers wait to queue (backpressure).
const QUEUE: usize = 8192;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS envelopes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    envelope BLOB NOT NULL
);
";

/// The inbox database, open.
pub struct Inbox {
    conn: Connection,
}

/// One envelope waiting in the inbox.
pub struct Pending {
    /// Arrival order.
    pub seq: i64,
    /// SHA-256 of the bytes, lowercase hex (the receipt).
    pub sha256: String,
    /// The envelope exactly as received.
    pub envelope: Vec<u8>,
}

impl Inbox {
    /// Opens the study's inbox, creating it when missing (the server).
    pub fn create(path: &Path, study_id: &str, key_id: &str) -> Result<Inbox> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the inbox {}", path.display()))?;
        let inbox = Inbox::setup(conn, path)?;
        let version: i64 = inbox
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            let tx = inbox.conn.unchecked_transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('study_id', ?1), ('key_id', ?2)",
                params![study_id, key_id],
            )?;
            tx.pragma_update(None, "user_version", INBOX_VERSION)?;
            tx.commit()?;
        }
        inbox.check(path, study_id, key_id)?;
        Ok(inbox)
    }

    /// Opens an existing inbox (`plp ingest`); `None` when the study has none.
    pub fn open(path: &Path, study_id: &str, key_id: &str) -> Result<Option<Inbox>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the inbox {}", path.display()))?;
        let inbox = Inbox::setup(conn, path)?;
        inbox.check(path, study_id, key_id)?;
        Ok(Some(inbox))
    }

    fn setup(conn: Connection, path: &Path) -> Result<Inbox> {
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!(
                "the inbox {} cannot use write-ahead logging (journal mode {mode})",
                path.display()
            );
        }
        // A commit is durable when it returns: the server answers 201 only after it.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Ciphertext taken by ingest is overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        Ok(Inbox { conn })
    }

    fn check(&self, path: &Path, study_id: &str, key_id: &str) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != INBOX_VERSION {
            bail!(
                "{} is not a plp inbox of a version this plp knows (version {version})",
                path.display()
            );
        }
        let meta = |k: &str| -> Result<String> {
            Ok(self
                .conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))?)
        };
        let (sid, kid) = (meta("study_id")?, meta("key_id")?);
        if sid != study_id || kid != key_id {
            bail!(
                "the inbox {} belongs to study `{sid}` (key {kid}), not to this study `{study_id}` (key {key_id})",
                path.display()
            );
        }
        Ok(())
    }

    /// Stores envelopes in one transaction. For each: true when newly stored, false when the
    /// same bytes were already waiting.
    pub fn insert_group<'a>(
        &mut self,
        envelopes: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Vec<bool>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO envelopes(sha256, envelope) VALUES (?1, ?2)",
            )?;
            for (sha, bytes) in envelopes {
                out.push(stmt.execute(params![sha, bytes])? == 1);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// The newest arrival so far (0 when empty): an ingest takes what arrived up to here.
    pub fn last_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM envelopes", [], |r| {
                r.get(0)
            })?)
    }

    /// Number of envelopes waiting with `seq <= upto`.
    pub fn count(&self, upto: i64) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM envelopes WHERE seq <= ?1",
            [upto],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The next envelopes in arrival order with `after < seq <= upto`, at most `limit`.
    pub fn page(&self, after: i64, upto: i64, limit: usize) -> Result<Vec<Pending>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, sha256, envelope FROM envelopes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![after, upto, limit as i64], |r| {
            Ok(Pending {
                seq: r.get(0)?,
                sha256: r.get(1)?,
                envelope: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes envelopes by SHA-256 (after the store has committed them), in one transaction.
    pub fn remove(&mut self, sha256s: &[String]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM envelopes WHERE sha256 = ?1")?;
            for sha in sha256s {
                stmt.execute([sha])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes every envelope waiting in the inbox (secure_delete overwrites them); how many.
    pub fn clear(&mut self) -> Result<u64> {
        Ok(self.conn.execute("DELETE FROM envelopes", [])? as u64)
    }

    /// Folds the write-ahead log back into the database and empties it, if nobody is busy
    /// with the inbox right now (best effort: a running server keeps writing).
    pub fn checkpoint(&self) {
        let _ = self.conn.busy_timeout(Duration::from_millis(500));
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

/// How storing an envelope went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Newly stored.
    New,
    /// The same bytes were already in the inbox.
    Duplicate,
}

struct Job {
    sha256: String,
    envelope: axum::body::Bytes,
    reply: oneshot::Sender<Result<Stored, ()>>,
}

/// The handle request handlers use to store envelopes; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread, which owns the inbox. It stops when every [`Writer`] handle
    /// is dropped, after committing what was queued.
    pub fn spawn(inbox: Inbox) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name("inbox-writer".into())
            .spawn(move || write_loop(inbox, rx))
            .context("cannot start the inbox writer")?;
        Ok((Writer { tx }, handle))
    }

    /// Stores one envelope durably; returns once it is committed. `Err` when the inbox
    /// cannot be written (the writer has reported why on stderr).
    pub async fn store(&self, sha256: String, envelope: axum::body::Bytes) -> Result<Stored, ()> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            sha256,
            envelope,
            reply,
        };
        self.tx.send(job).await.map_err(|_| ())?;
        answer.await.map_err(|_| ())?
    }
}

fn write_loop(mut inbox: Inbox, mut rx: mpsc::Receiver<Job>) {
    let mut group: Vec<Job> = Vec::with_capacity(256);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        // Everything that queued up while the last commit was being made goes in this one.
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let result = inbox.insert_group(group.iter().map(|j| (j.sha256.as_str(), &j.envelope[..])));
        match result {
            Ok(new) => {
                for (job, new) in group.drain(..).zip(new) {
                    let stored = if new { Stored::New } else { Stored::Duplicate };
                    let _ = job.reply.send(Ok(stored));
                }
            }
            Err(e) => {
                eprintln!(
                    "plp serve: cannot write the inbox ({} envelope(s) refused with 503): {e:#}",
                    group.len()
                );
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_insert_dedups_and_pages_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INBOX_FILE);
        let mut inbox = Inbox::create(&path, "s1", "0011223344556677").unwrap();
        let got = inbox
            .insert_group([("aa", &b"1"[..]), ("bb", b"2"), ("aa", b"1")])
            .unwrap();
        assert_eq!(got, vec![true, true, false]);
        assert_eq!(
            inbox.insert_group([("bb", &b"2"[..])]).unwrap(),
            vec![false]
        );
        let upto = inbox.last_seq().unwrap();
        let page = inbox.page(0, upto, 10).unwrap();
        let shas: Vec<_> = page.iter().map(|p| p.sha256.as_str()).collect();
        assert_eq!(shas, ["aa", "bb"]);
        inbox.remove(&["aa".into()]).unwrap();
        assert_eq!(inbox.count(upto).unwrap(), 1);
        drop(inbox);

        assert!(Inbox::open(&path, "s2", "0011223344556677").is_err());
        assert!(Inbox::open(&dir.path().join("none"), "s1", "x")
            .unwrap()
            .is_none());
        let inbox = Inbox::open(&path, "s1", "0011223344556677")
            .unwrap()
            .unwrap();
        assert_eq!(inbox.page(0, i64::MAX, 10).unwrap()[0].envelope, b"2");
    }
}
