//! Pieces produced in one order and written out in another: each piece goes to one of a
//! few bucket files by its place in the final order, then each bucket in turn is read
//! back, sorted in memory and handed on.
//!
//! Why: export opens respondents in the order their rows lie in the store (see
//! [`crate::dataset::open_payloads`]) but writes the free-text file in the roster's order,
//! by pseudonym. That file is ~1 GB at a million respondents, more than an export may hold
//! in memory; a million respondents make 31 buckets of [`PER_BUCKET`], ~1/31 of it each. The buckets are
//! written and read past the page cache ([`Direct`], [`read_whole`]).
//!
//! The bucket files hold free text in the clear, as the export's own files do, inside the
//! export's temporary folder; they are deleted as soon as they are read, and with that
//! folder if the export fails.

use crate::direct::{read_whole, Direct};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Places per bucket (at most [`MAX_BUCKETS`] buckets; more places per bucket beyond).
const PER_BUCKET: usize = 32 * 1024;
const MAX_BUCKETS: usize = 256;
/// Bytes all buckets gather before they go to the disk ([`Direct`]), shared between them
/// (31 at a million respondents: 512 KiB each), within [`MIN_CHUNK`] and [`MAX_CHUNK`].
const ALL_CHUNKS: usize = 16 << 20;
const MIN_CHUNK: usize = 64 << 10;
const MAX_CHUNK: usize = 512 << 10;

/// Pieces for places `0..n`, kept in bucket files until [`Spill::drain`].
pub struct Spill {
    dir: PathBuf,
    per_bucket: usize,
    n: usize,
    buckets: Vec<Direct>,
}

impl Spill {
    /// Buckets for places `0..n` in a new folder `dir` (removed when done or dropped).
    pub fn new(dir: &Path, n: usize) -> Result<Spill> {
        let per_bucket = PER_BUCKET.max(n.div_ceil(MAX_BUCKETS));
        let count = n.div_ceil(per_bucket).max(1);
        std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut spill = Spill {
            dir: dir.to_path_buf(),
            per_bucket,
            n,
            buckets: Vec::with_capacity(count),
        };
        for i in 0..count {
            let path = spill.bucket(i);
            let chunk = (ALL_CHUNKS / count).clamp(MIN_CHUNK, MAX_CHUNK);
            let file = Direct::create(&path, chunk)
                .with_context(|| format!("cannot write {}", path.display()))?;
            spill.buckets.push(file);
        }
        Ok(spill)
    }

    fn bucket(&self, i: usize) -> PathBuf {
        self.dir.join(format!("bucket-{i:03}"))
    }

    /// Keeps `bytes` for place `at` (one piece per place; nothing kept for an empty one).
    pub fn push(&mut self, at: usize, bytes: &[u8]) -> Result<()> {
        if at >= self.n {
            bail!("place {at} is past the {} expected", self.n);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let len = u32::try_from(bytes.len()).context("a piece of 4 GiB or more")?;
        let w = &mut self.buckets[at / self.per_bucket];
        w.write_all(&(at as u64).to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(bytes)?;
        Ok(())
    }

    /// Hands every piece to `out` in the order of its place, then removes the buckets.
    /// The next bucket is read on a thread of its own while one is sorted and handed on.
    pub fn drain(mut self, mut out: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut paths = Vec::with_capacity(self.buckets.len());
        for (i, w) in std::mem::take(&mut self.buckets).into_iter().enumerate() {
            // Written out and closed (not synced: the buckets are read back at once).
            w.close()?;
            paths.push(self.bucket(i));
        }
        // Two buffers go round: one being read into, one being handed on.
        // A buffer with where in it the bucket's bytes are.
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<(Vec<u8>, Range<usize>)>>(1);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        for _ in 0..2 {
            empty_tx.send(Vec::new()).expect("receiver alive");
        }
        std::thread::scope(|scope| -> Result<()> {
            // Owned here, so that leaving early (a failed write) wakes the reader waiting
            // for a buffer, and the scope can end.
            let empty_tx = empty_tx;
            scope.spawn(move || {
                for path in &paths {
                    let Ok(mut buf) = empty_rx.recv() else { return };
                    let read = read_bucket(path, &mut buf).map(|range| (buf, range));
                    let failed = read.is_err();
                    if full_tx.send(read).is_err() || failed {
                        return;
                    }
                }
            });
            let mut pieces: Vec<(u64, usize, usize)> = Vec::new();
            // Ends when the reader has sent every bucket (or failed, sending why).
            for read in full_rx {
                let (whole, range) = read?;
                let buf = &whole[range];
                pieces.clear();
                let mut offset = 0usize;
                while offset < buf.len() {
                    let head = buf
                        .get(offset..offset + 12)
                        .context("a bucket file is cut short")?;
                    let at = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
                    let len = u32::from_le_bytes(head[8..].try_into().expect("4 bytes")) as usize;
                    if buf.len() - offset - 12 < len {
                        bail!("a bucket file is cut short");
                    }
                    pieces.push((at, offset + 12, len));
                    offset += 12 + len;
                }
                pieces.sort_unstable_by_key(|p| p.0);
                for &(_, from, len) in &pieces {
                    out(&buf[from..from + len])?;
                }
                // The reader may have stopped; then this buffer is not needed.
                let _ = empty_tx.send(whole);
            }
            Ok(())
        })
    }
}

/// Reads a bucket file into `buf` ([`read_whole`]), then removes it; where in `buf` its
/// bytes are.
fn read_bucket(path: &Path, buf: &mut Vec<u8>) -> Result<Range<usize>> {
    let range = read_whole(path, buf).with_context(|| format!("cannot read {}", path.display()))?;
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(range)
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.buckets.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces pushed in any order come out in the order of their places, across buckets;
    /// empty places give nothing; the folder is gone afterwards.
    #[test]
    fn pieces_come_out_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spill");
        let n = PER_BUCKET * 2 + 17;
        let mut spill = Spill::new(&dir, n).unwrap();
        assert_eq!(spill.buckets.len(), 3);
        // A permutation of the places: a stride prime to n.
        let order: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
        for &at in &order {
            let piece = if at % 5 == 0 {
                String::new()
            } else {
                format!("{at}:{}\n", "y".repeat(at % 13))
            };
            spill.push(at, piece.as_bytes()).unwrap();
        }
        let mut got = Vec::new();
        spill
            .drain(|b| {
                got.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        let expected: String = (0..n)
            .filter(|at| at % 5 != 0)
            .map(|at| format!("{at}:{}\n", "y".repeat(at % 13)))
            .collect();
        assert_eq!(String::from_utf8(got).unwrap(), expected);
        assert!(!dir.exists());
    }

    /// A failure to write what is drained ends the drain with that error (the bucket
    /// reader does not wait for ever), and the buckets are removed.
    #[test]
    fn a_failed_write_ends_the_drain() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spill");
        let n = PER_BUCKET * 4;
        let mut spill = Spill::new(&dir, n).unwrap();
        for at in 0..n {
            spill.push(at, b"row\n").unwrap();
        }
        let mut calls = 0;
        let e = spill
            .drain(|_| {
                calls += 1;
                anyhow::bail!("disk full")
            })
            .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(calls, 1);
        assert!(!dir.exists());
    }

    /// A place past the end is an error, not a piece lost.
    #[test]
    fn a_place_past_the_end_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(&tmp.path().join("s"), 3).unwrap();
        assert!(spill.push(3, b"x").is_err());
        drop(spill);
        assert!(!tmp.path().join("s").exists());
    }
}
