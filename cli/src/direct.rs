//! Files plp writes or reads front to back once (an export's files and its free-text
//! buckets, ingest's `.jsonl` input), past the page cache with `O_DIRECT` where the file
//! system takes that, else through it (written as [`Streamed`] files).
//!
//! Why: on the virtual machines plp is measured on, the page cache's pages are the costly
//! part of writing. 1 GB (an export's free-text file) copied with `dd`: 0.62-0.63 s and
//! 0.22-0.23 s of system time with `oflag=direct` in 4 MiB writes, against 11.27-11.88 s
//! and 9.41-9.83 s through the page cache with a sync at the end. [`Streamed`] (pages
//! dropped behind the writes) narrows that gap; writing past the cache closes it, and
//! saves the copy into the kernel's pages.
//!
//! How: bytes gather in a buffer aligned to [`ALIGN`] and go out in whole chunks, written
//! by the caller ([`Direct::create`]), or hashed by one thread of the file's own and
//! written by another while the caller fills the next chunk ([`Direct::create_behind`]):
//! a write past the cache returns only once the device has taken the bytes (durable only
//! after a sync, as before). The last chunk is padded to [`ALIGN`] with zeros and the
//! file then cut to its true length. A file system that refuses `O_DIRECT` when the file is
//! opened, or refuses a write, gets plain writes from there on (the same bytes, through the
//! page cache).

use crate::writeback::Streamed;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Alignment of buffers, offsets and lengths in `O_DIRECT` I/O: 4,096 bytes, a multiple of
/// the logical block size of the disks plp runs on (512 or 4,096 bytes). A disk with larger
/// blocks refuses the writes, and plain ones follow.
pub const ALIGN: usize = 4096;

/// A file written front to back, past the page cache where it can be.
pub struct Direct {
    /// `buf[at..at + chunk]` is the aligned chunk being filled, `filled` bytes of it so far.
    buf: Vec<u8>,
    at: usize,
    chunk: usize,
    filled: usize,
    sink: Sink,
    /// A chunk failed to go out: what the file holds is unknown, so nothing more is written.
    failed: bool,
}

/// Where full chunks go.
enum Sink {
    /// Written by the caller's thread, which waits for the disk.
    Here(Engine),
    /// Written by a thread of the file's own; buffers go back and forth.
    Behind {
        full: Option<SyncSender<Msg>>,
        empty: Receiver<Vec<u8>>,
        writer: Option<JoinHandle<io::Result<(File, Sha256)>>>,
    },
}

enum Msg {
    /// A full chunk: the buffer and where its aligned chunk starts.
    Chunk(Vec<u8>, usize),
    /// The last one, `filled` bytes of it (maybe none).
    Last(Vec<u8>, usize, usize),
}

/// What writes the chunks: with `O_DIRECT`, or plainly once that was refused.
enum Engine {
    /// `len` bytes are in the file.
    Direct {
        file: File,
        len: u64,
    },
    Plain(Streamed),
    /// Only while falling back.
    Gone,
}

impl Engine {
    fn open(path: &Path) -> io::Result<Engine> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        Ok(match open_either(&opts, path)? {
            (file, true) => Engine::Direct { file, len: 0 },
            (file, false) => Engine::Plain(Streamed::resume(file, 0)),
        })
    }

    /// Writes a chunk (aligned, but for the tail of a file that fell back).
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < bytes.len() {
            let file = match self {
                Engine::Direct { file, .. } => file,
                Engine::Plain(s) => return s.write_all(&bytes[done..]),
                Engine::Gone => return Err(gone()),
            };
            match file.write(&bytes[done..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    if let Engine::Direct { len, .. } = self {
                        *len += n as u64;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A refused write writes nothing; the rest goes plainly.
                Err(e) if refused(&e) => self.fall_back()?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes the last bytes (`padded`: `bytes` and zeros up to the next [`ALIGN`]) and
    /// cuts the file to its length (the zeros, whichever way they were written); not
    /// synced.
    fn finish(mut self, bytes: &[u8], padded: &[u8]) -> io::Result<File> {
        let Engine::Direct { len, .. } = &self else {
            self.put(bytes)?;
            return self.into_file();
        };
        let end = *len + bytes.len() as u64;
        self.put(padded)?;
        let file = self.into_file()?;
        file.set_len(end)?;
        Ok(file)
    }

    fn fall_back(&mut self) -> io::Result<()> {
        if let Engine::Direct { file, len } = std::mem::replace(self, Engine::Gone) {
            *self = Engine::Plain(plain(file, len)?);
        }
        Ok(())
    }

    fn into_file(self) -> io::Result<File> {
        match self {
            Engine::Direct { file, .. } => Ok(file),
            Engine::Plain(s) => Ok(s.into_file()),
            Engine::Gone => Err(gone()),
        }
    }
}

impl Direct {
    /// Creates (or truncates) `path`, written in chunks of `chunk` bytes (rounded up to a
    /// multiple of [`ALIGN`]) by the calling thread.
    pub fn create(path: &Path, chunk: usize) -> io::Result<Direct> {
        Ok(Direct::new(Sink::Here(Engine::open(path)?), chunk))
    }

    /// [`Direct::create`], the chunks hashed (SHA-256, [`Direct::into_synced`] gives it) and
    /// written by two threads of the file's own, so the caller goes on filling the next one
    /// meanwhile (three buffers of `chunk`). Hashing there too takes it off the caller's
    /// thread: an export's free-text file (1 GB at a million respondents) is written last,
    /// by one thread, and hashing it was the longest part of that.
    pub fn create_behind(path: &Path, chunk: usize) -> io::Result<Direct> {
        let mut engine = Engine::open(path)?;
        let (full_tx, full_rx) = mpsc::sync_channel::<Msg>(1);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let d = Direct::new(
            Sink::Behind {
                full: Some(full_tx),
                empty: empty_rx,
                writer: None,
            },
            chunk,
        );
        // Two more buffers: one being hashed and one being written while the caller fills
        // the first.
        for _ in 0..2 {
            empty_tx
                .send(vec![0u8; d.buf.len()])
                .expect("receiver alive");
        }
        let writer = std::thread::Builder::new()
            .name("direct-write".into())
            .spawn(move || -> io::Result<(File, Sha256)> {
                // Chunks are hashed on a thread of their own, then written on this one: the
                // disk's time and the hashing overlap.
                let (hashed_tx, hashed_rx) = mpsc::sync_channel::<Msg>(1);
                std::thread::scope(|scope| {
                    // Spawned fallibly: a thread the system cannot give is an error the
                    // caller reports (its next chunk finds the writer gone), not a panic.
                    let hasher = std::thread::Builder::new()
                        .name("direct-hash".into())
                        .spawn_scoped(scope, move || {
                            let mut hash = Sha256::new();
                            // Ends at the last chunk, when the caller is gone, or when writing
                            // has failed (the send fails).
                            while let Ok(msg) = full_rx.recv() {
                                let last = match &msg {
                                    Msg::Chunk(buf, at) => {
                                        hash.update(&buf[*at..*at + buf.len() - ALIGN]);
                                        false
                                    }
                                    Msg::Last(buf, at, filled) => {
                                        hash.update(&buf[*at..*at + *filled]);
                                        true
                                    }
                                };
                                if hashed_tx.send(msg).is_err() || last {
                                    break;
                                }
                            }
                            hash
                        })?;
                    // Returns the buffers to the caller; dropped when writing ends, so that
                    // a caller waiting for one learns of a failure.
                    let empty_tx = empty_tx;
                    let written = (|| -> io::Result<File> {
                        while let Ok(msg) = hashed_rx.recv() {
                            match msg {
                                Msg::Chunk(buf, at) => {
                                    engine.put(&buf[at..at + buf.len() - ALIGN])?;
                                    // The caller may be gone; then the buffer is not needed.
                                    let _ = empty_tx.send(buf);
                                }
                                Msg::Last(buf, at, filled) => {
                                    let padded = filled.next_multiple_of(ALIGN);
                                    return engine
                                        .finish(&buf[at..at + filled], &buf[at..at + padded]);
                                }
                            }
                        }
                        Err(io::Error::other(
                            "the file was dropped before it was closed",
                        ))
                    })();
                    drop(empty_tx);
                    drop(hashed_rx);
                    let hash = hasher
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    written.map(|file| (file, hash))
                })
            })?;
        let mut d = d;
        if let Sink::Behind { writer: w, .. } = &mut d.sink {
            *w = Some(writer);
        }
        Ok(d)
    }

    fn new(sink: Sink, chunk: usize) -> Direct {
        let (buf, at, chunk) = aligned(chunk);
        Direct {
            buf,
            at,
            chunk,
            filled: 0,
            sink,
            failed: false,
        }
    }

    /// Sends the full chunk on its way.
    fn write_chunk(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Here(engine) => engine.put(&self.buf[self.at..self.at + self.chunk])?,
            Sink::Behind { full, empty, .. } => {
                let buf = std::mem::take(&mut self.buf);
                let sent = full
                    .as_ref()
                    .is_some_and(|f| f.send(Msg::Chunk(buf, self.at)).is_ok());
                match empty.recv() {
                    Ok(next) if sent => {
                        self.buf = next;
                        self.at = self.buf.as_ptr().align_offset(ALIGN);
                    }
                    _ => return Err(self.writer_error()),
                }
            }
        }
        self.filled = 0;
        Ok(())
    }

    /// The writer thread's error, once it has stopped.
    fn writer_error(&mut self) -> io::Error {
        let Sink::Behind { full, writer, .. } = &mut self.sink else {
            return gone();
        };
        drop(full.take());
        match writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            _ => gone(),
        }
    }

    /// Writes what is left and cuts the file to its length; not synced.
    pub fn close(self) -> io::Result<File> {
        Ok(self.close_hashed()?.0)
    }

    /// [`Direct::close`], with the SHA-256 of what was written when it was hashed.
    fn close_hashed(mut self) -> io::Result<(File, Option<[u8; 32]>)> {
        if self.failed {
            return Err(gone());
        }
        let (filled, at) = (self.filled, self.at);
        let padded = filled.next_multiple_of(ALIGN);
        self.buf[at + filled..at + padded].fill(0);
        match std::mem::replace(&mut self.sink, Sink::Here(Engine::Gone)) {
            Sink::Here(engine) => Ok((
                engine.finish(&self.buf[at..at + filled], &self.buf[at..at + padded])?,
                None,
            )),
            Sink::Behind {
                full,
                writer,
                empty: _,
            } => {
                let buf = std::mem::take(&mut self.buf);
                if let Some(f) = &full {
                    // On failure the writer has stopped with its error, returned below.
                    let _ = f.send(Msg::Last(buf, at, filled));
                }
                drop(full);
                match writer.map(JoinHandle::join) {
                    Some(Ok(done)) => done.map(|(file, hash)| (file, Some(hash.finalize().into()))),
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    None => Err(gone()),
                }
            }
        }
    }

    /// [`Direct::close`], then syncs the file to disk; the SHA-256 of its bytes when it
    /// was made by [`Direct::create_behind`].
    pub fn into_synced(self) -> io::Result<(File, Option<[u8; 32]>)> {
        let (file, sha256) = self.close_hashed()?;
        file.sync_all()?;
        // Whatever a fallback left in the page cache.
        crate::writeback::drop_pages(&file, 0, file.metadata()?.len());
        Ok((file, sha256))
    }
}

impl Write for Direct {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(gone());
        }
        let mut rest = data;
        while !rest.is_empty() {
            let n = (self.chunk - self.filled).min(rest.len());
            let from = self.at + self.filled;
            self.buf[from..from + n].copy_from_slice(&rest[..n]);
            self.filled += n;
            rest = &rest[n..];
            if self.filled == self.chunk {
                if let Err(e) = self.write_chunk() {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks go out whole; a part-filled one waits for `close`.
        Ok(())
    }
}

impl Drop for Direct {
    /// A file dropped before it was closed (an export that failed): its threads are told
    /// and waited for, so none outlives the file. Chunks already handed to them (at most
    /// three) are still hashed and written first.
    fn drop(&mut self) {
        if let Sink::Behind { full, writer, .. } = &mut self.sink {
            drop(full.take());
            if let Some(w) = writer.take() {
                let _ = w.join();
            }
        }
    }
}

/// The file, no longer `O_DIRECT`, as a [`Streamed`] file from offset `len` on.
fn plain(file: File, len: u64) -> io::Result<Streamed> {
    clear_direct(&file)?;
    Ok(Streamed::resume(file, len))
}

/// Turns `O_DIRECT` off on an open file: what follows goes through the page cache.
fn clear_direct(file: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::OFlags;
        let flags = rustix::fs::fcntl_getfl(file)?;
        rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}

/// A buffer holding one chunk of `chunk` bytes (rounded up to [`ALIGN`]) at an aligned
/// offset: the buffer, the offset and the rounded chunk.
fn aligned(chunk: usize) -> (Vec<u8>, usize, usize) {
    let chunk = chunk.max(1).next_multiple_of(ALIGN);
    let buf = vec![0u8; chunk + ALIGN];
    let at = buf.as_ptr().align_offset(ALIGN);
    (buf, at, chunk)
}

/// `path` opened with `opts` and `O_DIRECT`, or without it where the file system refuses
/// it; whether it is direct.
fn open_either(opts: &OpenOptions, path: &Path) -> io::Result<(File, bool)> {
    match open_direct(opts, path) {
        Ok(file) => Ok((file, true)),
        Err(e) if refused(&e) => Ok((opts.open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Whether an error is a file system's refusal of `O_DIRECT` (or of its alignment), after
/// which plain I/O does the same work.
fn refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

fn gone() -> io::Error {
    io::Error::other("an earlier write to this file failed")
}

#[cfg(target_os = "linux")]
fn open_direct(opts: &OpenOptions, path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = opts.clone();
    o.custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32);
    o.open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_opts: &OpenOptions, _path: &Path) -> io::Result<File> {
    Err(io::Error::from_raw_os_error(
        rustix::io::Errno::INVAL.raw_os_error(),
    ))
}

/// Reads the whole of `path` into `buf` past the page cache where it can (plain reads
/// else), and returns where in `buf` its bytes are. `buf` is reused: it grows when needed
/// and is not cleared.
pub fn read_whole(path: &Path, buf: &mut Vec<u8>) -> io::Result<Range<usize>> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    let mut file = match open_either(&opts, path)? {
        (file, true) => file,
        (file, false) => return read_plain(file, buf),
    };
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::other("file larger than memory"))?;
    let need = len.next_multiple_of(ALIGN) + ALIGN;
    if buf.len() < need {
        buf.resize(need, 0);
    }
    let at = buf.as_ptr().align_offset(ALIGN);
    let end = at + len.next_multiple_of(ALIGN);
    let mut got = 0;
    while got < len {
        match file.read(&mut buf[at + got..end]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if refused(&e) && got == 0 => return read_plain(File::open(path)?, buf),
            Err(e) => return Err(e),
        }
    }
    if got != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} changed while being read", path.display()),
        ));
    }
    Ok(at..at + len)
}

/// A file read front to back, once, past the page cache where it can be (plain reads
/// else), as a [`BufRead`]: ingest's `.jsonl` input (3.3 GB for a million envelopes), whose
/// pages would otherwise push the store's out of the cache, and cost the copy out of them.
pub struct Reader {
    file: File,
    /// `buf[at..at + chunk]` is the aligned chunk; `buf[at + pos..at + filled]` is unread.
    buf: Vec<u8>,
    at: usize,
    chunk: usize,
    pos: usize,
    filled: usize,
    direct: bool,
    /// A read returned nothing: the end of the file.
    eof: bool,
}

impl Reader {
    /// Opens `path`, read `chunk` bytes (rounded up to [`ALIGN`]) at a time.
    pub fn open(path: &Path, chunk: usize) -> io::Result<Reader> {
        let mut opts = OpenOptions::new();
        opts.read(true);
        let (file, direct) = open_either(&opts, path)?;
        let (buf, at, chunk) = aligned(chunk);
        Ok(Reader {
            file,
            buf,
            at,
            chunk,
            pos: 0,
            filled: 0,
            direct,
            eof: false,
        })
    }
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let unread = self.fill_buf()?;
            let n = unread.len().min(out.len());
            out[..n].copy_from_slice(&unread[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Reader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.filled && !self.eof {
            let (at, chunk) = (self.at, self.chunk);
            match self.file.read(&mut self.buf[at..at + chunk]) {
                Ok(0) => self.eof = true,
                // Short of a whole block, most likely the end of the file; if not (some file
                // systems read short), the next direct read, unaligned, is refused and the
                // rest is read plainly.
                Ok(n) => (self.pos, self.filled) = (0, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.direct && refused(&e) => {
                    // A refused read reads nothing: the position is where it should be.
                    clear_direct(&self.file)?;
                    self.direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(&self.buf[self.at + self.pos..self.at + self.filled])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }
}

fn read_plain(mut file: File, buf: &mut Vec<u8>) -> io::Result<Range<usize>> {
    buf.clear();
    file.read_to_end(buf)?;
    crate::writeback::drop_pages(&file, 0, buf.len() as u64);
    Ok(0..buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces() -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut all = Vec::new();
        let mut v = Vec::new();
        for i in 0..3_000u32 {
            let piece = format!("{i},{}\n", "x".repeat((i * 37 % 5_003) as usize)).into_bytes();
            all.extend_from_slice(&piece);
            v.push(piece);
        }
        (v, all)
    }

    fn create(path: &Path, chunk: usize, behind: bool) -> Direct {
        if behind {
            Direct::create_behind(path, chunk).unwrap()
        } else {
            Direct::create(path, chunk).unwrap()
        }
    }

    /// Every byte arrives in order across chunks, pieces that straddle them and a last
    /// part-filled chunk, written here or behind; the file has its true length, not the
    /// padded one, and reads back whole.
    #[test]
    fn every_byte_arrives_and_the_padding_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (pieces, all) = pieces();
        for behind in [false, true] {
            for chunk in [1, ALIGN, 3 * ALIGN, 1 << 20] {
                let path = dir.path().join(format!("out-{chunk}-{behind}"));
                let mut w = create(&path, chunk, behind);
                for p in &pieces {
                    w.write_all(p).unwrap();
                }
                let (_, sha256) = w.into_synced().unwrap();
                assert_eq!(std::fs::read(&path).unwrap(), all, "chunk {chunk} {behind}");
                let expected: [u8; 32] = Sha256::digest(&all).into();
                assert_eq!(sha256, behind.then_some(expected), "chunk {chunk} {behind}");
                let mut buf = Vec::new();
                let range = read_whole(&path, &mut buf).unwrap();
                assert_eq!(&buf[range], all.as_slice(), "chunk {chunk} {behind}");
            }
        }
    }

    /// A length that is a whole number of chunks, and an empty file, come out as written.
    #[test]
    fn whole_chunks_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..6 * ALIGN).map(|i| (i % 251) as u8).collect();
        for behind in [false, true] {
            let path = dir.path().join(format!("whole-{behind}"));
            let mut w = create(&path, 2 * ALIGN, behind);
            w.write_all(&bytes).unwrap();
            // The last chunk sent is full and the one left empty: the hash still covers
            // every byte once.
            let (_, sha256) = w.into_synced().unwrap();
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(sha256, behind.then_some(expected));
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
            let empty = dir.path().join(format!("empty-{behind}"));
            let (_, sha256) = create(&empty, ALIGN, behind).into_synced().unwrap();
            let expected: [u8; 32] = Sha256::digest(b"").into();
            assert_eq!(sha256, behind.then_some(expected));
            assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
            let mut buf = vec![7u8; 10];
            assert_eq!(read_whole(&empty, &mut buf).unwrap().len(), 0);
        }
    }

    /// A write the file system refuses (here from a buffer `O_DIRECT` cannot take, one
    /// byte past an aligned address) is written plainly instead, in `put` and in `finish`:
    /// nothing is lost or repeated, and no padding is left.
    #[test]
    fn refused_writes_are_written_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![0u8; 3 * ALIGN];
        bytes
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i % 251) as u8);
        let at = bytes.as_ptr().align_offset(ALIGN);
        let aligned = &bytes[at..at + ALIGN];
        let odd = &bytes[at + 1..at + 1 + ALIGN];
        for case in ["put", "finish"] {
            let path = dir.path().join(case);
            let mut e = Engine::open(&path).unwrap();
            if !matches!(e, Engine::Direct { .. }) {
                eprintln!("skipped: the temporary folder refuses O_DIRECT");
                return;
            }
            e.put(aligned).unwrap();
            assert!(matches!(e, Engine::Direct { len, .. } if len == ALIGN as u64));
            let mut expected = aligned.to_vec();
            if case == "put" {
                e.put(odd).unwrap();
                assert!(matches!(e, Engine::Plain(_)), "fell back");
                expected.extend_from_slice(odd);
            }
            drop(e.finish(&odd[..100], odd).unwrap());
            expected.extend_from_slice(&odd[..100]);
            assert_eq!(std::fs::read(&path).unwrap(), expected, "{case}");
        }
    }

    /// Lines read through a [`Reader`] are the file's, for chunks smaller and larger than
    /// a line, a file whose length is a whole number of blocks, and an empty one.
    #[test]
    fn a_reader_gives_the_file_back() {
        let dir = tempfile::tempdir().unwrap();
        let (_, all) = pieces();
        let whole: Vec<u8> = (0..2 * ALIGN).map(|i| b"ab\n"[i % 3]).collect();
        for (name, bytes) in [("pieces", &all), ("whole", &whole), ("empty", &Vec::new())] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            for chunk in [1, ALIGN, 1 << 20] {
                let mut r = Reader::open(&path, chunk).unwrap();
                let mut lines = Vec::new();
                let mut line = Vec::new();
                while r.read_until(b'\n', &mut line).unwrap() > 0 {
                    lines.extend_from_slice(&line);
                    line.clear();
                }
                assert_eq!(&lines, bytes, "{name} {chunk}");
                let mut rest = Vec::new();
                assert_eq!(r.read_to_end(&mut rest).unwrap(), 0, "{name} {chunk}");
            }
        }
    }

    /// A write that fails behind the caller (a full disk: `/dev/full`) reaches the caller as
    /// an error from a later write or from closing, and nothing waits for ever.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_behind_reaches_the_caller() {
        let mut w = Direct::create_behind(Path::new("/dev/full"), ALIGN).unwrap();
        let failed = (0..16).find_map(|_| w.write_all(&[1u8; ALIGN]).err());
        let e = match failed {
            Some(e) => e,
            None => w.into_synced().map(|_| ()).unwrap_err(),
        };
        assert_eq!(
            e.raw_os_error(),
            Some(rustix::io::Errno::NOSPC.raw_os_error()),
            "{e}"
        );
    }

    /// A file dropped unclosed: `Drop` closes the channel before it waits for the writer
    /// thread, so dropping returns (waiting first would hang here).
    #[test]
    fn a_dropped_file_stops_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Direct::create_behind(&dir.path().join("dropped"), ALIGN).unwrap();
        w.write_all(&[1u8; 3 * ALIGN + 5]).unwrap();
        drop(w);
    }
}
