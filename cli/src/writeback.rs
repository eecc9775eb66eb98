//! Files that plp writes once and does not read back (an export's CSVs and reports): their
//! pages leave the page cache as they reach the disk, so the next megabytes are written
//! into those same pages rather than into new ones.
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

/// Bytes between two hints: 0.03 s of writes at the 1.1 GB/s measured with a sync every
/// 64 MiB.
const STRIDE: u64 = 32 << 20;

/// A file plp writes front to back and does not read back, whose pages leave the page
/// cache behind it.
pub struct Streamed {
    file: File,
    stride: u64,
    /// Bytes handed to the kernel so far.
    written: u64,
    /// Writeback has been started for everything before this offset.
    started: u64,
    /// Pages before this offset have been dropped (those still being written then stay).
    dropped: u64,
}

impl Streamed {
    pub fn new(file: File) -> Streamed {
        Streamed::with_stride(file, STRIDE)
    }

    fn with_stride(file: File, stride: u64) -> Streamed {
        Streamed {
            file,
            stride,
            written: 0,
            started: 0,
            dropped: 0,
        }
    }

    /// Syncs the file to disk, then drops what is left of it in the page cache.
    pub fn into_synced(self) -> io::Result<File> {
        self.file.sync_all()?;
        drop_pages(&self.file, 0, self.written);
        Ok(self.file)
    }
}

impl Write for Streamed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= self.stride {
            drop_pages(&self.file, self.started, self.written);
            drop_pages(&self.file, self.dropped, self.started);
            self.dropped = self.started;
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Asks the kernel to write back and drop `from..to` of the file. Advice only: if refused,
/// the pages stay cached, and what was written is the same.
#[cfg(target_os = "linux")]
fn drop_pages(file: &File, from: u64, to: u64) {
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::DontNeed);
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_pages(_file: &File, _from: u64, _to: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the pages went through, the file holds every byte in order, across strides
    /// and writes that straddle them.
    #[test]
    fn every_byte_arrives_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let mut w = Streamed::with_stride(File::create(&path).unwrap(), 4096);
        let mut expected = Vec::new();
        for i in 0..3000u32 {
            let piece = format!("{i},{}\n", "x".repeat((i % 97) as usize));
            w.write_all(piece.as_bytes()).unwrap();
            expected.extend_from_slice(piece.as_bytes());
        }
        assert!(w.dropped > 0, "strides were passed");
        drop(w.into_synced().unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
