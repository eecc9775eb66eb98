//! Reading a store's file just ahead of the workers that read its rows in file order, and
//! dropping it from the page cache just behind them.
//!
//! Why: an export or report reads every respondent's row. Read through the page cache into
//! new pages, a 3.28 GB store cost 7.48 s of system time here (this machine gives pages it
//! has not used for a few seconds back to its host; see [`crate::writeback`]); read in
//! order with the pages dropped 64 MiB behind, so the next reads reuse them (a script
//! doing just that), 0.85 s. Read
//! at random from the disk (the roster's order), an export of a million took 31.18-41.88 s
//! against 12.83-14.42 s from a cached store. `fadvise(WILLNEED)` was tried for the reading
//! ahead: alone it brought in 784 MB of 3.1 GB.
//!
//! Where the workers are is estimated from the share of chunks they have taken: rows are
//! appended in id order, so their pages follow the file. Where the estimate is off, a
//! worker's read goes to the disk as it would without this; nothing read is ever wrong.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes read at a time, into the one buffer.
const CHUNK: usize = 4 << 20;
/// How far ahead of the workers the file is read.
const AHEAD: u64 = 128 << 20;
/// How far behind what the workers have finished its pages are dropped.
const BEHIND: u64 = 64 << 20;

/// A thread reading a file ahead of its readers; dropping this stops it (after one read at
/// most) and drops what it read and kept.
pub struct Ahead {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<u64>>,
}

struct Shared {
    len: u64,
    /// Bytes read at a time, how far ahead and how far behind: [`CHUNK`], [`AHEAD`] and
    /// [`BEHIND`] but in tests.
    chunk: usize,
    ahead: u64,
    behind: u64,
    /// Bytes read so far.
    at: AtomicU64,
    stop: AtomicBool,
    /// Offset the readers have reached, estimated.
    reading: AtomicU64,
    /// Offset before which the readers have finished, estimated.
    done: AtomicU64,
    moved: Condvar,
    lock: Mutex<()>,
}

impl Ahead {
    /// Starts following readers of `path`. Advice only: a file that cannot be opened or
    /// read is left alone, and the readers read it as they would have.
    pub fn start(path: &Path) -> Ahead {
        Ahead::with(path, CHUNK, AHEAD, BEHIND)
    }

    fn with(path: &Path, chunk: usize, ahead: u64, behind: u64) -> Ahead {
        let found = std::fs::metadata(path).ok();
        let len = found.as_ref().map_or(0, |m| m.len());
        let shared = Arc::new(Shared {
            len,
            chunk,
            ahead,
            behind,
            at: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            reading: AtomicU64::new(0),
            done: AtomicU64::new(0),
            moved: Condvar::new(),
            lock: Mutex::new(()),
        });
        // The file is opened on the thread: were it opened here and the thread not
        // started, dropping it would close a descriptor of the store while SQLite holds
        // locks on it (see `follow`).
        let thread = found.and_then(|_| {
            let (shared, path) = (shared.clone(), path.to_path_buf());
            std::thread::Builder::new()
                .name("readahead".into())
                .spawn(move || File::open(&path).map_or(0, |file| follow(file, &shared)))
                .ok()
        });
        Ahead { shared, thread }
    }

    /// A reader has begun on the `i`th of `n` equal parts.
    pub fn reading(&self, i: usize, n: usize) {
        self.shared
            .reading
            .fetch_max(self.at(i, n), Ordering::Relaxed);
        self.shared.moved.notify_one();
    }

    /// The readers have finished the first `i` of `n` equal parts.
    pub fn read(&self, i: usize, n: usize) {
        self.shared.done.fetch_max(self.at(i, n), Ordering::Relaxed);
        self.shared.moved.notify_one();
    }

    fn at(&self, i: usize, n: usize) -> u64 {
        (u128::from(self.shared.len) * i as u128 / n.max(1) as u128) as u64
    }

    /// Stops the thread; the bytes it read.
    fn finish(&mut self) -> u64 {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.moved.notify_one();
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Reads `file` ahead of the readers and drops it behind them until told to stop, then
/// drops what is left of what it read; where it got to. The file is never closed (see
/// [`crate::writeback::keep_open`]): it is the store, which SQLite has open and locked.
fn follow(mut file: File, s: &Shared) -> u64 {
    let mut buf = vec![0u8; s.chunk];
    let (mut pos, mut dropped) = (0u64, 0u64);
    while !s.stop.load(Ordering::Relaxed) {
        let done = s.done.load(Ordering::Relaxed);
        let behind = done.saturating_sub(s.behind);
        if behind >= dropped + s.behind {
            crate::writeback::drop_pages(&file, dropped, behind);
            dropped = behind;
        }
        if pos < dropped {
            // The readers got ahead of this thread: what they left behind is not read.
            match file.seek(SeekFrom::Start(dropped)) {
                Ok(_) => pos = dropped,
                Err(_) => break,
            }
        }
        let want = (s.reading.load(Ordering::Relaxed).max(done) + s.ahead).min(s.len);
        if pos < want {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => pos = s.len,
                Ok(n) => pos += n as u64,
            }
            s.at.store(pos, Ordering::Relaxed);
            continue;
        }
        let guard = s.lock.lock().expect("not poisoned");
        // Woken when the readers move on; the timeout only bounds a missed wake-up.
        let _ = s.moved.wait_timeout(guard, Duration::from_millis(20));
    }
    crate::writeback::drop_pages(&file, dropped, pos.max(dropped));
    crate::writeback::keep_open(file);
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// The thread reads only as far ahead of the readers as it may, follows them to the
    /// end, and a missing file starts no thread.
    #[test]
    fn reads_ahead_of_the_readers_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let len = 100 * 4096 + 5;
        std::fs::write(&path, vec![1u8; len]).unwrap();
        let (chunk, ahead, behind) = (4096, 10 * 4096, 4 * 4096);
        let mut a = Ahead::with(&path, chunk, ahead, behind);
        assert!(wait_for(|| a.shared.at.load(Ordering::Relaxed) == ahead));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(a.shared.at.load(Ordering::Relaxed), ahead, "no further");
        a.reading(1, 2);
        let half = len as u64 / 2;
        assert!(wait_for(
            || a.shared.at.load(Ordering::Relaxed) >= half + ahead
        ));
        assert!(a.shared.at.load(Ordering::Relaxed) < half + ahead + chunk as u64);
        a.read(2, 2);
        assert!(wait_for(
            || a.shared.at.load(Ordering::Relaxed) == len as u64
        ));
        assert_eq!(a.finish(), len as u64, "read to the end");

        let mut none = Ahead::start(&dir.path().join("missing"));
        assert!(none.thread.is_none());
        assert_eq!(none.finish(), 0);
    }
}
