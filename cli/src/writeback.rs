//! Files written through the page cache whose pages leave it as they reach the disk, so
//! the next megabytes are written into those same pages rather than into new ones: SQLite's
//! store and journal during an ingest ([`Follower`]), and the files plp writes once where
//! the file system refuses `O_DIRECT` ([`Streamed`], behind [`crate::direct::Direct`]).
//!
//! Why: a page the kernel has not used for a few seconds may have been given back to the
//! host (virtual machines with free page reporting, such as the 2-core machines plp is
//! measured on), and touching it again costs a fault in the host. There, `dd` of 3.3 GB
//! into a new file took 25.6-38.0 s, almost all of it in the kernel's copy into new pages;
//! the same bytes synced and dropped every 64 MiB took 2.9 s. A first export of a million
//! respondents (1.96 GB of files) took 14.26 / 12.83 s against 62.31 / 25.69 s.
//! Elsewhere it only keeps an export from pushing other files out of the page cache.
//!
//! How: every [`STRIDE`] bytes, `posix_fadvise(DONTNEED)` on the stride just written, which
//! starts writing it back and drops none of it yet (its pages are dirty), and on the stride
//! before, whose pages are mostly on disk by then and are dropped (pages still being
//! written stay cached). Nothing here waits for the disk.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

/// Bytes between two hints: 0.03 s of writes at the 1.1 GB/s measured with a sync every
/// 64 MiB.
const STRIDE: u64 = 32 << 20;

/// How far writeback has been started and pages dropped in a file written front to back:
/// the one scheme of [`Streamed`] (its own writes) and [`Follower`] (another writer's).
struct Trail {
    stride: u64,
    /// Writeback has been started for everything from `dropped` up to this offset.
    started: u64,
    /// Pages before this offset have been dropped (those still being written then stay).
    dropped: u64,
}

impl Trail {
    /// A trail starting at offset `from` (what lies before it is left alone).
    fn from(from: u64, stride: u64) -> Trail {
        Trail {
            stride,
            started: from,
            dropped: from,
        }
    }

    /// The file now reaches `len`: once a stride more has been written, starts its
    /// writeback and drops the stride before.
    fn reached(&mut self, file: &File, len: u64) {
        if len - self.started >= self.stride {
            drop_pages(file, self.started, len);
            drop_pages(file, self.dropped, self.started);
            self.dropped = self.started;
            self.started = len;
        }
    }
}

/// A file plp writes front to back and does not read back, whose pages leave the page
/// cache behind it.
pub struct Streamed {
    file: File,
    /// Bytes handed to the kernel so far.
    written: u64,
    trail: Trail,
}

impl Streamed {
    /// Goes on with `file`, `at` bytes of which are written (its position is there), with
    /// hints from there on.
    pub fn resume(file: File, at: u64) -> Streamed {
        Streamed::with_stride(file, at, STRIDE)
    }

    /// [`Streamed::resume`] with hints every `stride` bytes.
    fn with_stride(file: File, at: u64, stride: u64) -> Streamed {
        Streamed {
            file,
            written: at,
            trail: Trail::from(at, stride),
        }
    }

    /// The file, not synced (its pages are left to the kernel).
    pub fn into_file(self) -> File {
        self.file
    }
}

impl Write for Streamed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.trail.reached(&self.file, self.written);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A file another writer fills (SQLite's store and its rollback journal during an
/// ingest), followed by its length with [`Streamed`]'s scheme.
///
/// Why: an ingest of a million envelopes writes 3.2 GB of store and 0.66 GB of journal.
/// Written into new pages, that cost 20.45-38.54 s of system time in six runs (session
/// 11); followed like this, 4.61-19.55 s in four (25.63-33.40 s in the four runs without
/// it beside them). Only clean pages are dropped, so what SQLite has not yet written back
/// stays, and pages it reads again later come from the disk.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    trail: Trail,
}

impl Follower {
    /// Follows `path` from its present length on (what it holds already is left alone).
    /// A file that does not exist yet is looked for again at each step.
    pub fn new(path: PathBuf) -> Follower {
        Follower::with_stride(path, STRIDE)
    }

    fn with_stride(path: PathBuf, stride: u64) -> Follower {
        let mut f = Follower {
            path,
            file: None,
            trail: Trail::from(0, stride),
        };
        if let Some(len) = f.len() {
            f.trail = Trail::from(len, stride);
        }
        f
    }

    fn len(&mut self) -> Option<u64> {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        self.file.as_ref()?.metadata().ok().map(|m| m.len())
    }

    /// Looks at the file's length again (see [`Trail::reached`]). A file that shrank (a
    /// journal truncated at its commit) is followed again from its new length.
    pub fn step(&mut self) {
        let Some(len) = self.len() else { return };
        let t = &mut self.trail;
        if len < t.started {
            t.started = len;
            t.dropped = t.dropped.min(len);
        }
        if let Some(file) = &self.file {
            t.reached(file, len);
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            keep_open(file);
        }
    }
}

/// Descriptors of SQLite's files that plp opened beside SQLite, kept open until the process
/// ends: closing any descriptor of a file releases every POSIX lock the process holds on it
/// (SQLite's "How To Corrupt An SQLite Database File", 2.2), so closing one while a
/// connection holds a lock on the store would let another process write under it.
static KEPT_OPEN: std::sync::Mutex<Vec<File>> = std::sync::Mutex::new(Vec::new());

/// Keeps `file` open until the process ends (see [`KEPT_OPEN`]).
pub fn keep_open(file: File) {
    if let Ok(mut kept) = KEPT_OPEN.lock() {
        kept.push(file);
    } else {
        // Poisoned: still never closed.
        std::mem::forget(file);
    }
}

/// Asks the kernel to write back and drop `from..to` of the file. Advice only: if refused,
/// the pages stay cached, and what was written is the same.
#[cfg(target_os = "linux")]
pub fn drop_pages(file: &File, from: u64, to: u64) {
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn drop_pages(_file: &File, _from: u64, _to: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the pages went through, the file holds every byte in order, across strides
    /// and writes that straddle them.
    #[test]
    fn every_byte_arrives_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut w = Streamed::with_stride(File::create(&path).unwrap(), 0, 4096);
        let mut expected = Vec::new();
        for i in 0..3000u32 {
            let piece = format!("{i},{}\n", "x".repeat((i % 97) as usize));
            w.write_all(piece.as_bytes()).unwrap();
            expected.extend_from_slice(piece.as_bytes());
        }
        assert!(w.trail.dropped > 0, "strides were passed");
        w.into_file().sync_all().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    /// A follower moves with the file another handle writes, starts over when the file is
    /// truncated, and waits for a file not there yet.
    #[test]
    fn a_follower_keeps_up_with_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut f = Follower::with_stride(path.clone(), 4096);
        f.step();
        assert!(f.file.is_none(), "no file yet");
        let mut w = File::create(&path).unwrap();
        for i in 0..100u8 {
            w.write_all(&[i; 1000]).unwrap();
            f.step();
        }
        let t = &f.trail;
        assert!(
            t.dropped > 0 && t.started > t.dropped,
            "strides were passed"
        );
        assert!(t.started <= 100_000 && 100_000 - t.started < 4096);
        w.set_len(0).unwrap();
        f.step();
        assert_eq!(
            (f.trail.started, f.trail.dropped),
            (0, 0),
            "followed again from the start"
        );
        let mut g = Follower::with_stride(path.clone(), 4096);
        std::io::Seek::seek(&mut w, std::io::SeekFrom::Start(0)).unwrap();
        w.write_all(&[7; 5000]).unwrap();
        assert_eq!(g.trail.started, 0);
        g.step();
        assert_eq!((g.trail.started, g.trail.dropped), (5000, 0));
    }
}
