//! `plp ingest [PATH...]`: envelopes in, one outcome each, nothing half-done.
//!
//! Two stages: [`examine`] is pure (parse, check study and key, open, validate) and
//! [`record`] writes the outcome. Envelopes are committed in SQLite transactions of growing
//! size (500, 1,000, ... up to [`MAX_COMMIT`]), so a killed ingest leaves each envelope fully
//! recorded or not at all, and running the same ingest again reaches the same state
//! (duplicates are recognised by the envelope's SHA-256 and the submission id). From
//! transactions of [`BULK_FROM`] envelopes on, the store writes with a rollback journal
//! instead of its WAL ([`Store::begin_bulk`]).
//!
//! The stages run as a pipeline. Envelopes are read as a stream (a `.jsonl` file of a
//! million lines is never held whole; files are read on a thread of their own, a few
//! batches ahead) and cut into batches; one worker per core examines whole batches
//! (opening is the expensive part: one X25519 multiplication each, see [`opener`]); the
//! calling thread records the examined batches strictly in order while the workers open
//! the next ones. Recording looks
//! duplicates up in memory ([`Seen`]: every stored envelope hash, submission id and request
//! id, loaded once and reloaded whenever another process has written to the store), so a
//! batch costs only its inserts.

use super::{withdraw, Opened, TagKey};
use crate::args::IngestArgs;
use crate::serve::inbox::{Inbox, INBOX_FILE};
use crate::store::{self, audit, opener, OpenKeyWrap, Store};
use crate::study::{now, INBOX_DIR};
use crate::writeback::Follower;
use anyhow::{bail, Context, Result};
use plp_core::envelope::{fingerprint, received_bytes, Envelope, MAX_ENVELOPE_BYTES};
use plp_core::fastopen::{AeadKey, Opener};
use plp_core::payload::{self, Payload, Response, WithdrawalPayload};
use plp_core::seal::KeyPair;
use plp_core::survey::{Side, Survey};
use rusqlite::{params, Connection, Transaction};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

/// Envelopes a worker examines at a time, and in the first transaction.
const BATCH: usize = 500;
/// Most envelopes in one transaction. Transactions start at [`BATCH`] and double up to this:
/// the first envelopes are safe at once, and a long ingest writes each page of the store's
/// indexes (random keys: the tag's prefix, and in stores made before session 16 the hashes
/// and ids) once per many envelopes rather than once per envelope, which is what made
/// ingest grow faster than its input. In a large ingest (a
/// rollback journal, see [`BULK_FROM`]) each transaction also journals every index page it
/// changes before writing it: at a million envelopes, 524,288 per transaction ingested in
/// 78-85 s against 87-89 s with 131,072. A kill loses at most the open transaction's work,
/// which a re-run does again.
const MAX_COMMIT: usize = 524_288;
/// Transactions this large (in envelopes, ~3 KB each: ~50 MB) and larger are written with a
/// rollback journal ([`Store::begin_bulk`]): an ingest of tens of thousands of envelopes
/// or more (any ingest past its first 15,500 envelopes, an inbox's backlog too). Smaller
/// ones, like the inbox's during collection, keep WAL mode, in which other commands read
/// the store while ingest writes. `PLP_INGEST_BULK_FROM` sets another
/// size (the kill test uses it to stop an ingest in this mode without sealing tens of
/// thousands of envelopes first).
const BULK_FROM: usize = 16_000;
/// Batches that may be ahead of recording (being examined, or examined and waiting), on
/// any number of cores (at most 32 workers, two batches each): while a large commit syncs
/// (1-3 s at a million), the workers go on opening into this queue instead of idling. 64
/// batches are 32,000 envelopes, ~1.3 s of two workers' output: ~96 MB of envelopes at
/// ~3 KB each, ~150 MB once examined. A million envelopes on 2 cores, binaries
/// alternating: 80.57 / 75.11 / 77.64 s with 32,000 against 82.35 / 79.67 / 79.77 s with
/// 8,000; peak RSS 616-633 MiB against 525-528 MiB.
const AHEAD: usize = 64;
/// No batch is sent while the envelopes ahead of recording hold this many bytes or more,
/// so the queue holds at most this plus the last batch sent (up to [`BATCH`] x
/// [`MAX_ENVELOPE_BYTES`]); large envelopes then wait in fewer batches.
const AHEAD_BYTES: usize = 128 << 20;
/// Batches of [`BATCH`] envelopes read from files ahead of recording ([`ingest_files`]).
const READ_AHEAD: usize = 4;
/// Most files one ingest takes (split bigger deliveries).
pub const MAX_FILES: usize = 2_000_000;
/// SQLite page cache while ingesting (KiB): enough for the indexes of a million responses,
/// so inserting into them does not read pages back from the file.
const INGEST_CACHE_KIB: i64 = 256 * 1024;

/// One envelope to ingest and where it came from.
pub struct Item {
    /// `path` or `path:line`.
    pub source: String,
    /// The bytes, or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
    /// SHA-256 of the bytes (of the whole file when it was too large to read); `None` until
    /// a worker computes it.
    pub sha256: Option<String>,
    /// The SHA-256 the server's receipt gave (inbox items): a worker checks the bytes
    /// against it, off the recording thread.
    pub receipt: Option<String>,
}

/// What examining one envelope found.
pub enum Verdict {
    /// Rejected, with the reason (no plaintext in it).
    Reject(String),
    /// A valid response.
    Response {
        /// The payload's ids (its answers were checked, and stay sealed in the envelope).
        payload: Box<Response<()>>,
        /// Side of the pair.
        side: Side,
        /// The AEAD key and nonce it was sealed under (kept wrapped in the store).
        key: AeadKey,
        /// The envelope packed as the store keeps it ([`Envelope::pack`]); `None`: kept
        /// as received.
        packed: Option<Vec<u8>>,
    },
    /// A withdrawal request.
    Withdrawal(WithdrawalPayload),
}

/// The study facts examining needs.
pub struct Examine<'a> {
    /// Study id.
    pub study_id: &'a str,
    /// Opens envelopes sealed to the study key.
    pub opener: &'a Opener,
    /// Surveys by SHA-256 of their published bytes.
    pub surveys: &'a HashMap<String, Survey>,
}

/// Parses, checks, opens and validates one envelope. Pure.
pub fn examine(bytes: &[u8], cx: &Examine<'_>) -> Verdict {
    let env = match Envelope::parse(bytes) {
        Ok(e) => e,
        Err(e) => return Verdict::Reject(e.to_string()),
    };
    if env.study_id != cx.study_id {
        return Verdict::Reject(format!(
            "sealed for study `{}`, but this study is `{}`",
            env.study_id, cx.study_id
        ));
    }
    let opened = match cx.opener.open(&env) {
        Ok(p) => p,
        Err(e) => return Verdict::Reject(e.to_string()),
    };
    match payload::read(&opened.plaintext) {
        Err(e) => Verdict::Reject(e.to_string()),
        Ok(Payload::Withdrawal(w)) => match &w.code {
            // The code a request names must be one the study's survey could have taken.
            Some(code)
                if !cx.surveys.values().any(|s| w.verify(s).is_ok()) =>
            {
                Verdict::Reject(format!(
                    "the withdrawal request's `code` `{code}` does not match the study's pair code pattern"
                ))
            }
            _ => Verdict::Withdrawal(w),
        },
        Ok(Payload::Response(p)) => {
            let Some(survey) = cx.surveys.get(&p.survey.sha256) else {
                return Verdict::Reject(format!(
                    "answers an unknown survey version (sha256 {}…); publish it with this study first",
                    &p.survey.sha256[..16]
                ));
            };
            if let Err(e) = p.verify(survey) {
                return Verdict::Reject(e.to_string());
            }
            match p.side(survey) {
                Some(side) => Verdict::Response {
                    payload: Box::new(p.map_answers(|_| ())),
                    side,
                    key: opened.key,
                    packed: env.pack(bytes),
                },
                None => Verdict::Reject("the pairing question has no side".into()),
            }
        }
    }
}

/// Counts of outcomes.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    /// Newly stored responses.
    pub accepted: u64,
    /// Already stored (same bytes or same submission id).
    pub duplicate: u64,
    /// Older submissions of a person who resubmitted.
    pub superseded: u64,
    /// Kept in quarantine with a reason.
    pub rejected: u64,
    /// Withdrawal requests that destroyed responses.
    pub withdrawn: u64,
    /// Withdrawal requests of this ingest that match nobody yet when it is done: kept,
    /// they act on responses that arrive before the lock.
    pub withdrawal_waiting: u64,
    /// Their request ids (while recording, for [`withdraw::settle`]'s count).
    #[serde(skip)]
    pub waiting_ids: Vec<String>,
    /// Requests waiting in the whole store once the ingest is done.
    #[serde(skip)]
    pub waiting_in_store: u64,
    /// Withdrawal requests matching more than one person (left to the evaluator).
    pub withdrawal_ambiguous: u64,
    /// Withdrawal requests of a person an earlier request withdrew (sent again).
    pub withdrawal_repeated: u64,
    /// Responses destroyed because they arrived after a withdrawal request of theirs
    /// ([`withdraw::settle`]).
    pub destroyed_on_arrival: u64,
    /// Withdrawal requests after the lock (refused, recorded).
    pub withdrawal_late: u64,
}

impl Summary {
    fn add(&mut self, b: &Summary) {
        self.accepted += b.accepted;
        self.duplicate += b.duplicate;
        self.superseded += b.superseded;
        self.rejected += b.rejected;
        self.withdrawn += b.withdrawn;
        self.withdrawal_waiting += b.withdrawal_waiting;
        self.waiting_ids.extend(b.waiting_ids.iter().cloned());
        self.withdrawal_ambiguous += b.withdrawal_ambiguous;
        self.withdrawal_repeated += b.withdrawal_repeated;
        self.destroyed_on_arrival += b.destroyed_on_arrival;
        self.withdrawal_late += b.withdrawal_late;
    }
}

/// `plp ingest`
pub fn run(dir: Option<&Path>, a: &IngestArgs) -> Result<()> {
    let Opened { study, mut store } = super::open(dir)?;
    if a.paths.is_empty() {
        let db = study.path(INBOX_FILE);
        let (sid, kid) = (&study.config.study_id, &study.config.key.key_id);
        if let Some(inbox) = Inbox::open(&db, sid, kid)? {
            let key = super::unlock(&study, None)?;
            let summary = ingest_inbox(&mut store, sid, &key, inbox)?;
            print_summary(&summary);
            remove_copies(&study, &store, &summary)?;
            return Ok(());
        }
    }
    let (paths, from_inbox) = if a.paths.is_empty() {
        // A folder of envelope files in place of the server's inbox database.
        let inbox = study.path(INBOX_DIR);
        if !inbox.is_dir() {
            bail!(
                "no PATH given and the study has no inbox ({}; `plp serve` makes it); name the envelope files or folders to ingest",
                study.path(INBOX_FILE).display()
            );
        }
        (vec![inbox], true)
    } else {
        (a.paths.clone(), false)
    };
    let files = collect_files(&paths, from_inbox)?;
    let key = super::unlock(&study, None)?;
    let summary = ingest_files(&mut store, &study.config.study_id, &key, &files)?;
    if from_inbox {
        let done = crate::copies::processed_dir(&study);
        std::fs::create_dir_all(&done)?;
        for f in &files {
            if let Some(name) = f.file_name() {
                std::fs::rename(f, done.join(name))
                    .with_context(|| format!("cannot move {} out of the inbox", f.display()))?;
            }
        }
    }
    print_summary(&summary);
    remove_copies(&study, &store, &summary)?;
    if from_inbox && !withdrew(&summary) {
        // A withdrawn envelope sent again is known, and its copy goes too.
        crate::copies::remove_withdrawn(&study, &store.conn)?;
    }
    Ok(())
}

/// Whether an ingest destroyed responses.
fn withdrew(s: &Summary) -> bool {
    s.withdrawn + s.destroyed_on_arrival > 0
}

/// Deletes the inbox folder's copies of responses this ingest destroyed (and points at
/// preview exports).
fn remove_copies(study: &crate::study::Study, store: &Store, s: &Summary) -> Result<()> {
    if withdrew(s) {
        crate::copies::after_withdrawal(study, &store.conn)?;
    }
    Ok(())
}

/// Ingests the server's inbox once: what had arrived when it starts, in arrival order.
/// Each batch is deleted from the inbox after the store has committed it; a crash between
/// the two leaves the batch in the inbox, and the next ingest finds it already stored
/// (duplicates are recognised by the envelope's SHA-256).
pub fn ingest_inbox(
    store: &mut Store,
    study_id: &str,
    key: &KeyPair,
    mut inbox: Inbox,
) -> Result<Summary> {
    let upto = inbox.last_seq()?;
    let bar = progress(inbox.count(upto)?);
    let summary = {
        let inbox = std::cell::RefCell::new(&mut inbox);
        let mut after = 0;
        let mut page = std::collections::VecDeque::new();
        let items = std::iter::from_fn(|| {
            if page.is_empty() {
                match inbox.borrow().page(after, upto, BATCH) {
                    Ok(p) => page.extend(p),
                    Err(e) => return Some(Err(e)),
                }
            }
            let p = page.pop_front()?;
            after = p.seq;
            bar.inc(1);
            Some(Ok(Item {
                source: format!("{INBOX_FILE}#{}", p.seq),
                sha256: None,
                receipt: Some(p.sha256),
                bytes: Ok(p.envelope),
            }))
        });
        ingest_items(store, study_id, key, items, |shas| {
            inbox.borrow_mut().remove(shas)
        })?
    };
    bar.finish_and_clear();
    inbox.checkpoint();
    let later = inbox.count(i64::MAX)?;
    if later > 0 {
        eprintln!("note: {later} envelope(s) arrived during this ingest and wait in the inbox for the next");
    }
    Ok(summary)
}

/// Ingests envelope files into the store; the whole of ingest minus argument handling.
/// Files are read one at a time, and `.jsonl` files line by line, [`READ_AHEAD`] batches at
/// most ahead of the pipeline.
pub fn ingest_files(
    store: &mut Store,
    study_id: &str,
    key: &KeyPair,
    files: &[PathBuf],
) -> Result<Summary> {
    let bar = progress(files.len() as u64);
    // Files are read on a thread of their own, a few batches ahead: reading and splitting
    // lines (3 GB for a million envelopes) is then off the thread that records, the one
    // stage every envelope waits for.
    let (tx, rx) = mpsc::sync_channel::<Vec<Result<Item>>>(READ_AHEAD);
    let summary = std::thread::scope(|scope| {
        let bar = &bar;
        scope.spawn(move || {
            let mut items = files.iter().flat_map(|f| {
                let items: Box<dyn Iterator<Item = Result<Item>>> = match read_items(f) {
                    Ok(v) => v,
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
                bar.inc(1);
                items
            });
            // As with the workers (`each_caught`): should reading panic, recording is told
            // by an error and rolls its open transaction back, rather than seeing the
            // channel close and committing as if the input had ended.
            let read = caught(|| loop {
                let batch: Vec<Result<Item>> = items.by_ref().take(BATCH).collect();
                // Stops when the input ends, or when ingest does (the receiver is gone).
                if batch.is_empty() || tx.send(batch).is_err() {
                    break;
                }
            });
            if read.is_none() {
                let _ = tx.send(vec![Err(anyhow::anyhow!(
                    "reading the input failed (its message is above)"
                ))]);
            }
        });
        // `rx` is dropped when ingesting ends, however it ends, which stops the reader.
        ingest_items(store, study_id, key, rx.into_iter().flatten(), |_| Ok(()))
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Ingests envelopes into the store in batches of [`BATCH`], in transactions of growing size
/// (up to [`MAX_COMMIT`] envelopes), calling `committed` with the SHA-256 of each
/// transaction's envelopes once the store has committed it.
/// Batches are examined on every core while earlier ones are recorded; they are recorded and
/// committed in the order the envelopes came.
pub fn ingest_items(
    store: &mut Store,
    study_id: &str,
    key: &KeyPair,
    items: impl IntoIterator<Item = Result<Item>>,
    mut committed: impl FnMut(&[String]) -> Result<()>,
) -> Result<Summary> {
    let surveys = load_surveys(store)?;
    let opener = opener(key, study_id)?;
    let tools = Tools {
        cx: Examine {
            study_id,
            opener: &opener,
            surveys: &surveys,
        },
        tag_key: TagKey::new(key),
        wrap: OpenKeyWrap::new(key),
    };
    let locked = store.locked_at()?.is_some();
    if store.identifiers_destroyed_at()?.is_some() {
        bail!("identifiers have been destroyed: this study takes no more envelopes");
    }
    store
        .conn
        .pragma_update(None, "cache_size", -INGEST_CACHE_KIB)?;
    let mut bulk = false;
    let recorded = record_all(store, &tools, locked, items, &mut committed, &mut bulk);
    // Back to WAL however recording ended; a failure to record is the error to report. A
    // failure to switch back loses nothing (every open of the store sets WAL again), so it
    // is a warning, not a failed ingest.
    if bulk {
        if let Err(e) = store.end_bulk() {
            eprintln!("plp: warning: {e:#}; the next command that opens the store sets it again");
        }
    }
    let mut summary = recorded?;
    if !locked {
        let tx = store.tx()?;
        // Not if the study was locked while this ingest ran: the lock settled them.
        if !store::locked(&tx)? {
            let settled = withdraw::settle(&tx)?;
            summary.waiting_in_store = tx.query_row(
                "SELECT COUNT(*) FROM withdrawal_requests WHERE outcome = 'waiting'",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64;
            summary.withdrawal_waiting = summary
                .waiting_ids
                .iter()
                .filter(|id| !settled.request_ids.contains(id))
                .count() as u64;
            summary.withdrawn += settled.withdrawn;
            summary.withdrawal_ambiguous += settled.ambiguous;
            summary.destroyed_on_arrival += settled.destroyed as u64;
        }
        tx.commit()?;
    }
    store.checkpoint()?;
    Ok(summary)
}

/// The pipeline of [`ingest_items`]: envelopes examined on every core, recorded in order.
fn record_all(
    store: &mut Store,
    tools: &Tools<'_>,
    locked: bool,
    items: impl IntoIterator<Item = Result<Item>>,
    committed: &mut impl FnMut(&[String]) -> Result<()>,
    bulk: &mut bool,
) -> Result<Summary> {
    let bulk_from = size_from_env("PLP_INGEST_BULK_FROM", BULK_FROM);
    let mut seen = Seen::load(&store.conn)?;
    // Read after `seen` (and again whenever another process has written, see
    // `Open::begin`), so that no lock committed in between goes unseen.
    let mut locked = locked || store::locked(&store.conn)?;
    // Envelopes stored before this ingest began are not opened again.
    let known = seen.envelopes.clone();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(32));
    let mut summary = Summary::default();
    // A test sends a few envelopes through many batches, every worker and the reordering
    // of their results.
    let batch_size = size_from_env("PLP_INGEST_BATCH", BATCH);
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<Item>)>(AHEAD);
    let work_rx = Mutex::new(work_rx);
    std::thread::scope(|scope| -> Result<()> {
        // Owned here, so that leaving this closure (done or failed) stops the workers.
        let work_tx = work_tx;
        // `None`: examining the batch panicked (see `each_caught`).
        let (done_tx, done_rx) = mpsc::channel::<(u64, Option<Vec<Examined>>)>();
        for _ in 0..workers {
            let (work_rx, done_tx, known) = (&work_rx, done_tx.clone(), &known);
            scope.spawn(move || {
                yield_to_recording();
                loop {
                    let job = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, batch))) = job else { break };
                    let examined = each_caught(batch, |item| prepare(item, tools, known));
                    let failed = examined.is_none();
                    if done_tx.send((seq, examined)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut items = items.into_iter();
        let (mut sent, mut recorded, mut exhausted) = (0u64, 0u64, false);
        // Envelope bytes of each batch sent and not yet recorded, oldest first, and their sum
        // (batches are recorded in the order they are sent).
        let (mut in_flight, mut ahead_bytes) = (VecDeque::new(), 0usize);
        let mut ready: BTreeMap<u64, Vec<Examined>> = BTreeMap::new();
        let mut open: Option<Open<'_>> = None;
        let mut commit_every = BATCH;
        // The store's and its journal's pages leave the page cache as they are written.
        let mut following = followers(store);
        loop {
            // Keep every worker busy, and up to `AHEAD` batches in all, so the workers go on
            // opening while a commit writes.
            while !exhausted
                && (sent == recorded
                    || (sent - recorded < AHEAD as u64 && ahead_bytes < AHEAD_BYTES))
            {
                let batch = items
                    .by_ref()
                    .take(batch_size)
                    .collect::<Result<Vec<Item>>>()?;
                if batch.is_empty() {
                    exhausted = true;
                } else {
                    let bytes = batch
                        .iter()
                        .map(|i| i.bytes.as_ref().map_or(0, Vec::len))
                        .sum::<usize>();
                    in_flight.push_back(bytes);
                    ahead_bytes += bytes;
                    work_tx
                        .send((sent, batch))
                        .map_err(|_| anyhow::anyhow!("an ingest worker stopped"))?;
                    sent += 1;
                }
            }
            if recorded == sent {
                break;
            }
            let batch = loop {
                if let Some(b) = ready.remove(&recorded) {
                    break b;
                }
                let (seq, b) = done_rx
                    .recv()
                    .map_err(|_| anyhow::anyhow!("an ingest worker stopped"))?;
                let b = b.ok_or_else(|| {
                    anyhow::anyhow!(
                        "an ingest worker failed while examining envelopes (its message is above); the open transaction is rolled back"
                    )
                })?;
                ready.insert(seq, b);
            };
            recorded += 1;
            ahead_bytes -= in_flight
                .pop_front()
                .expect("a batch sent for each recorded");
            let o = match &mut open {
                Some(o) => o,
                None => {
                    let o = Open::begin(&store.conn, &mut seen)?;
                    if o.reloaded {
                        // Another process wrote to the store: perhaps `plp lock`.
                        locked = store::locked(&o.tx)?;
                    }
                    open.insert(o)
                }
            };
            o.shas.extend(batch.iter().map(|e| e.sha256.clone()));
            let at = now();
            for ex in batch {
                record(&o.tx, &mut seen, tools, locked, ex, &at, &mut o.counts)?;
            }
            following.iter_mut().for_each(Follower::step);
            if o.shas.len() >= commit_every {
                let o = open.take().expect("a transaction is open");
                summary.add(&o.counts);
                committed(&o.commit()?)?;
                commit_every = (commit_every * 2).min(MAX_COMMIT);
                if commit_every >= bulk_from && !*bulk {
                    *bulk = store.begin_bulk()?;
                }
            }
        }
        // What the last transaction holds, however the input ended.
        if let Some(o) = open.take() {
            summary.add(&o.counts);
            committed(&o.commit()?)?;
        }
        drop(work_tx);
        Ok(())
    })?;
    Ok(summary)
}

/// Followers of the store's file and of its rollback journal ([`Follower`]); none for a
/// store in memory.
fn followers(store: &Store) -> Vec<Follower> {
    match store.conn.path().filter(|p| !p.is_empty()) {
        Some(path) => vec![
            Follower::new(PathBuf::from(path)),
            Follower::new(PathBuf::from(format!("{path}-journal"))),
        ],
        None => Vec::new(),
    }
}

/// The size the environment variable `name` gives (a positive number), else `default`.
fn size_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// `f` applied to each item, or `None` if it panicked: a worker that died silently would
/// leave recording waiting for its batch for ever (the other workers keep the channel of
/// results open), so it reports instead, and ingest fails and rolls its transaction back.
fn each_caught<T, U>(items: Vec<T>, f: impl Fn(T) -> U) -> Option<Vec<U>> {
    caught(|| items.into_iter().map(&f).collect())
}

/// What `f` returns, or `None` if it panicked (its message is printed as usual). What
/// `f` leaves half-done is not looked at again: its caller reports the failure and
/// ingest rolls back.
fn caught<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Lowers the calling worker thread's scheduling priority a little (nice +5).
///
/// Recording is the pipeline's one serial stage: every envelope passes through the one
/// thread that writes the store, while the workers, one per core, can always open more. On
/// equal terms the scheduler gives that thread a third of the machine's time on two cores,
/// and ingest then runs at the speed of recording; a little lower priority for the workers
/// gives it the core it needs and the workers the rest. Linux gives each thread its own
/// nice value; elsewhere this does nothing.
fn yield_to_recording() {
    // A failure leaves the priority as it was: slower, not wrong.
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 5);
}

/// What recording needs besides the store: the examining context and the keys that turn
/// tags and AEAD keys into what is stored.
struct Tools<'a> {
    cx: Examine<'a>,
    tag_key: TagKey,
    wrap: OpenKeyWrap,
}

/// An item after the worker stage.
struct Examined {
    item: Item,
    /// SHA-256 of the envelope, hex.
    sha256: String,
    /// The same, as the key of [`Seen::envelopes`].
    sha: [u8; 32],
    /// `None` when the envelope was stored before this ingest began (not opened again) or
    /// could not be read.
    verdict: Option<Verdict>,
    /// Keyed withdrawal tag of a response or request.
    mac: Option<String>,
    /// Wrapped AEAD key of a response.
    open_key: Option<Vec<u8>>,
}

/// The worker stage: fingerprint, then everything [`examine`] does, then the keyed tag and
/// the wrapped key. Pure apart from drawing the wrapping nonce.
fn prepare(mut item: Item, t: &Tools<'_>, known: &HashSet<[u8; 32]>) -> Examined {
    let mut sha256 = match item.sha256.take() {
        Some(s) => s,
        None => fingerprint(item.bytes.as_deref().unwrap_or_default()),
    };
    if let Some(receipt) = item.receipt.take().filter(|r| *r != sha256) {
        item.bytes = Err("the inbox copy is damaged: its SHA-256 differs from its receipt".into());
        sha256 = receipt;
    }
    let sha = sha_key(&sha256);
    let mut ex = Examined {
        item,
        sha256,
        sha,
        verdict: None,
        mac: None,
        open_key: None,
    };
    if known.contains(&ex.sha) {
        return ex;
    }
    if let Ok(bytes) = &ex.item.bytes {
        let mut verdict = examine(bytes, &t.cx);
        (ex.mac, ex.open_key) = finish(&ex.sha256, &mut verdict, t);
        if let Verdict::Response {
            packed: Some(_), ..
        } = verdict
        {
            // The packed form gives the bytes back (`received_bytes`): freed here, off the
            // recording thread, so the queue holds no more than the bytes it counted.
            ex.item.bytes = Ok(Vec::new());
        }
        ex.verdict = Some(verdict);
    }
    ex
}

/// The keyed withdrawal tag and, for a response, the wrapped AEAD key of an envelope
/// (SHA-256 `sha256`) that examining found valid.
fn finish(sha256: &str, verdict: &mut Verdict, t: &Tools<'_>) -> (Option<String>, Option<Vec<u8>>) {
    match verdict {
        Verdict::Response { payload, key, .. } => {
            let mac = t.tag_key.mac(&payload.withdrawal_tag);
            (Some(mac), Some(t.wrap.wrap(sha256, key)))
        }
        Verdict::Withdrawal(w) => (Some(t.tag_key.mac(&w.withdrawal_tag)), None),
        Verdict::Reject(_) => (None, None),
    }
}

/// A stored hex id as a set key: 64 or 32 hex digits decoded; anything else (never written
/// by plp) hashed, so it still never equals a well-formed id by accident.
fn sha_key(hex_id: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if hex_id.len() == 64 && hex::decode_to_slice(hex_id, &mut out).is_ok() {
        return out;
    }
    use sha2::Digest;
    out.copy_from_slice(&sha2::Sha256::digest(
        [b"not hex\0", hex_id.as_bytes()].concat(),
    ));
    out
}

fn id_key(hex_id: &str) -> u128 {
    let mut b = [0u8; 16];
    if hex_id.len() == 32 && hex::decode_to_slice(hex_id, &mut b).is_ok() {
        return u128::from_be_bytes(b);
    }
    // Not written by plp (ids are checked before they are stored); keep it apart from
    // well-formed ids by using the top of a hash that is never a decoded id's pattern.
    u128::from_be_bytes(sha_key(hex_id)[..16].try_into().expect("16 bytes"))
}

fn person_key(code: &str, side: &str, mac: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (code, side, mac).hash(&mut h);
    h.finish()
}

/// What the store already holds, for duplicate checks without a query per envelope.
struct Seen {
    /// SHA-256 of every envelope in responses, quarantine, withdrawal requests, withdrawn.
    envelopes: HashSet<[u8; 32]>,
    /// Submission ids of stored and withdrawn responses.
    submissions: HashSet<u128>,
    /// Request ids of recorded withdrawal requests.
    requests: HashSet<u128>,
    /// Hashes of (code, side, keyed tag) of accepted responses: a person who may have an
    /// earlier response to supersede. False positives only cost a query.
    people: HashSet<u64>,
    /// `PRAGMA data_version` when loaded: another connection's commit changes it.
    data_version: i64,
}

impl Seen {
    fn load(conn: &Connection) -> Result<Seen> {
        let strings = |sql: &str| -> Result<Vec<String>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let mut seen = Seen {
            envelopes: HashSet::new(),
            submissions: HashSet::new(),
            requests: HashSet::new(),
            people: HashSet::new(),
            data_version: conn.query_row("PRAGMA data_version", [], |r| r.get(0))?,
        };
        // Responses in one pass over the table in arrival order: stores made by this
        // version index none of these columns but the tag's prefix (see `store::SCHEMA`),
        // and through an index every row would be read at random anyway.
        let mut stmt = conn.prepare(
            "SELECT envelope_sha256, submission_id, state, COALESCE(code, ''), side, COALESCE(tag_mac, '') FROM responses NOT INDEXED",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            seen.envelopes.insert(sha_key(r.get_ref(0)?.as_str()?));
            if let Some(id) = r.get_ref(1)?.as_str_or_null()? {
                seen.submissions.insert(id_key(id));
            }
            if r.get_ref(2)?.as_str()? == "accepted" {
                seen.people.insert(person_key(
                    r.get_ref(3)?.as_str()?,
                    r.get_ref(4)?.as_str()?,
                    r.get_ref(5)?.as_str()?,
                ));
            }
        }
        for table in ["quarantine", "withdrawal_requests", "withdrawn"] {
            seen.envelopes.extend(
                strings(&format!("SELECT envelope_sha256 FROM {table}"))?
                    .iter()
                    .map(|s| sha_key(s)),
            );
        }
        seen.submissions.extend(
            strings("SELECT submission_id FROM withdrawn WHERE submission_id IS NOT NULL")?
                .iter()
                .map(|s| id_key(s)),
        );
        seen.requests.extend(
            strings("SELECT request_id FROM withdrawal_requests")?
                .iter()
                .map(|s| id_key(s)),
        );
        Ok(seen)
    }
}

fn progress(n: u64) -> indicatif::ProgressBar {
    if n < 50 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files, {per_sec}, eta {eta}")
            .expect("static template"),
    );
    bar
}

fn load_surveys(store: &Store) -> Result<HashMap<String, Survey>> {
    let mut stmt = store
        .conn
        .prepare("SELECT sha256, definition FROM surveys")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (sha, json) = row?;
        out.insert(sha, plp_core::check::from_json(&json)?);
    }
    Ok(out)
}

/// The transaction envelopes are being recorded in, with what it holds so far.
struct Open<'s> {
    tx: Transaction<'s>,
    /// SHA-256 of every envelope recorded in it.
    shas: Vec<String>,
    counts: Summary,
    /// Whether another process had written to the store since the last transaction.
    reloaded: bool,
}

impl<'s> Open<'s> {
    /// Starts a transaction, first reloading `seen` if another process wrote to the store.
    fn begin(conn: &'s Connection, seen: &mut Seen) -> Result<Open<'s>> {
        // `new_unchecked` borrows the connection shared, so the open transaction can live
        // across loop iterations; the caller holds `&mut Store`, so nothing else uses it.
        let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let reloaded = version != seen.data_version;
        if reloaded {
            // Another process wrote to the store since: look again rather than trust memory.
            *seen = Seen::load(&tx)?;
        }
        Ok(Open {
            tx,
            shas: Vec::new(),
            counts: Summary::default(),
            reloaded,
        })
    }

    /// Audits the counts and commits; returns the SHA-256 of the envelopes committed.
    fn commit(self) -> Result<Vec<String>> {
        audit(
            &self.tx,
            "ingest_batch",
            serde_json::to_value(&self.counts)?,
        )?;
        self.tx.commit()?;
        Ok(self.shas)
    }
}

fn quarantine(
    tx: &Transaction<'_>,
    ex: &Examined,
    bytes: &[u8],
    reason: &str,
    at: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO quarantine(envelope_sha256, received_at, source, reason, envelope) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ex.sha256, at, ex.item.source, reason, bytes])?;
    audit(
        tx,
        "rejected",
        serde_json::json!({ "envelope_sha256": ex.sha256, "reason": reason }),
    )
}

/// Records one envelope's outcome inside the batch's transaction.
fn record(
    tx: &Transaction<'_>,
    seen: &mut Seen,
    t: &Tools<'_>,
    locked: bool,
    mut ex: Examined,
    at: &str,
    s: &mut Summary,
) -> Result<()> {
    if seen.envelopes.contains(&ex.sha) {
        s.duplicate += 1;
        return Ok(());
    }
    let bytes = match &ex.item.bytes {
        Ok(b) => b.as_slice(),
        Err(reason) => {
            quarantine(tx, &ex, &[], reason, at)?;
            seen.envelopes.insert(ex.sha);
            s.rejected += 1;
            return Ok(());
        }
    };
    let verdict = match ex.verdict.take() {
        Some(v) => v,
        None => {
            // Stored when the ingest began, gone since (never in practice): examine it here.
            let mut v = examine(bytes, &t.cx);
            (ex.mac, ex.open_key) = finish(&ex.sha256, &mut v, t);
            v
        }
    };
    match verdict {
        Verdict::Reject(reason) => {
            quarantine(tx, &ex, bytes, &reason, at)?;
            seen.envelopes.insert(ex.sha);
            s.rejected += 1;
        }
        Verdict::Response {
            payload,
            side,
            packed,
            ..
        } => {
            let submission = id_key(&payload.submission_id);
            if seen.submissions.contains(&submission) {
                s.duplicate += 1;
                return Ok(());
            }
            if locked {
                let received = match &packed {
                    Some(p) => received_bytes(p)?,
                    None => Cow::Borrowed(bytes),
                };
                quarantine(
                    tx,
                    &ex,
                    &received,
                    "arrived after the analysis lock; kept here, not analysed",
                    at,
                )?;
                seen.envelopes.insert(ex.sha);
                s.rejected += 1;
                return Ok(());
            }
            let mac = ex.mac.as_deref().expect("responses carry their keyed tag");
            let side_s = side_name(side);
            tx.prepare_cached(
                "INSERT INTO responses(envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope, open_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'accepted', ?8, ?9, ?10)",
            )?
            .execute(params![
                ex.sha256,
                payload.submission_id,
                at,
                payload.consent.date,
                payload.code,
                side_s,
                mac,
                payload.survey.sha256,
                packed.as_deref().unwrap_or(bytes),
                ex.open_key
            ])?;
            seen.envelopes.insert(ex.sha);
            seen.submissions.insert(submission);
            s.accepted += 1;
            if !seen.people.insert(person_key(&payload.code, side_s, mac)) {
                s.superseded += supersede(tx, &payload.code, side_s, mac)?;
            }
        }
        Verdict::Withdrawal(w) => {
            let request = id_key(&w.request_id);
            if seen.requests.contains(&request) {
                s.duplicate += 1;
                return Ok(());
            }
            if locked {
                audit(
                    tx,
                    "late_withdrawal_request",
                    serde_json::json!({ "request_id": w.request_id, "via": "sealed request" }),
                )?;
                s.withdrawal_late += 1;
                insert_request(tx, &ex.sha256, &w, at, "late", None)?;
            } else {
                // Kept with its keyed tag until the lock, then acted on as `withdraw::settle`
                // acts on every kept request. Perhaps the person an earlier request withdrew,
                // asking again (`withdraw::repeat_of` decides); otherwise a first request.
                let mac = ex.mac.as_deref().expect("requests carry their keyed tag");
                let repeat = !withdraw::withdrawn_people(tx, mac, w.code.as_deref())?.is_empty();
                let outcome = if repeat { "repeated" } else { "waiting" };
                let id = insert_request(tx, &ex.sha256, &w, at, outcome, Some(mac))?;
                // Destroyed responses move to `withdrawn` with their hash and submission
                // id, so `seen` stays right.
                match withdraw::arrived(tx, id)? {
                    withdraw::Acted::Ambiguous => s.withdrawal_ambiguous += 1,
                    withdraw::Acted::Withdrawn(_) => s.withdrawn += 1,
                    withdraw::Acted::Destroyed(n) => {
                        s.withdrawal_repeated += 1;
                        s.destroyed_on_arrival += n as u64;
                    }
                    withdraw::Acted::Nothing if repeat => {
                        audit(
                            tx,
                            "withdrawal_repeated",
                            serde_json::json!({ "request_id": w.request_id }),
                        )?;
                        s.withdrawal_repeated += 1;
                    }
                    withdraw::Acted::Nothing => {
                        audit(
                            tx,
                            "withdrawal_waiting",
                            serde_json::json!({ "request_id": w.request_id }),
                        )?;
                        s.withdrawal_waiting += 1;
                        s.waiting_ids.push(w.request_id.clone());
                    }
                }
            }
            seen.envelopes.insert(ex.sha);
            seen.requests.insert(request);
        }
    }
    Ok(())
}

/// Records a withdrawal request; its row id. One kept until the lock (with its keyed tag,
/// `mac`) keeps the code it names and its date too.
fn insert_request(
    tx: &Transaction<'_>,
    sha256: &str,
    w: &WithdrawalPayload,
    at: &str,
    outcome: &str,
    mac: Option<&str>,
) -> Result<i64> {
    let kept = mac.map(|_| w);
    tx.prepare_cached(
        "INSERT INTO withdrawal_requests(envelope_sha256, request_id, received_at, outcome, tag_mac, code, date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        sha256,
        w.request_id,
        at,
        outcome,
        mac,
        kept.and_then(|w| w.code.as_deref()),
        kept.map(|w| w.date.as_str())
    ])?;
    Ok(tx.last_insert_rowid())
}

/// The side as stored.
pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::A => "a",
        Side::B => "b",
        Side::Either => "either",
    }
}

/// A person's accepted responses, newest first: by the tag's prefix in stores of this
/// version, by the full tag in older ones (see `store::SCHEMA`).
const SAME_PERSON: &str = "SELECT id FROM responses INDEXED BY responses_tag
     WHERE code = ?1 AND side = ?2 AND tag_mac = ?3 AND state = 'accepted'
       AND substr(tag_mac, 1, 16) = substr(?3, 1, 16)
     ORDER BY consent_date DESC, id DESC";

/// Keeps the newest response of a person (same code, side and tag) accepted and marks the
/// others superseded. Newest is the later consent date, then the later arrival.
fn supersede(tx: &Transaction<'_>, code: &str, side: &str, mac: &str) -> Result<u64> {
    // By the keyed tag, which nearly no two people share; without the hint the planner
    // takes the roster index (state, code, side), whose rows for one code and side are every
    // respondent who used that code on that side.
    let mut stmt = tx.prepare_cached(SAME_PERSON)?;
    let ids: Vec<i64> = stmt
        .query_map(params![code, side, mac], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let Some((&newest, older)) = ids.split_first() else {
        return Ok(0);
    };
    for id in older {
        tx.execute(
            "UPDATE responses SET state = 'superseded', superseded_by = ?1 WHERE id = ?2",
            params![newest, id],
        )?;
    }
    Ok(older.len() as u64)
}

/// Lists the envelope files under the given paths, folders walked in name order.
pub fn collect_files(paths: &[PathBuf], inbox: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.is_file())
                .filter(|e| {
                    let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    !name.starts_with('.') && (!inbox || name.ends_with(".json"))
                })
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
        if out.len() > MAX_FILES {
            bail!("more than {MAX_FILES} files in one ingest; ingest them in parts");
        }
    }
    Ok(out)
}

fn is_lines(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl") | Some("ndjson")
    )
}

/// Reads the envelopes of one file: the whole file, or one per line for `.jsonl`/`.ndjson`,
/// a line at a time as the iterator is drawn. A file or line over the size limit is hashed,
/// not kept.
pub fn read_items(path: &Path) -> Result<Box<dyn Iterator<Item = Result<Item>>>> {
    let source = path.display().to_string();
    if is_lines(path) {
        let reader = crate::direct::Reader::open(path, 1 << 20)
            .with_context(|| format!("cannot read {source}"))?;
        return Ok(Box::new(Lines {
            reader,
            source,
            n: 0,
            done: false,
        }));
    }
    let size = std::fs::metadata(path)?.len();
    if size > MAX_ENVELOPE_BYTES as u64 {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        return Ok(Box::new(std::iter::once(Ok(Item {
            source,
            sha256: Some(hex::encode(h.finalize())),
            receipt: None,
            bytes: Err(format!(
                "file is {size} bytes, over the envelope limit of {MAX_ENVELOPE_BYTES}; not read"
            )),
        }))));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
    Ok(Box::new(std::iter::once(Ok(Item {
        source,
        sha256: None,
        receipt: None,
        bytes: Ok(bytes),
    }))))
}

/// The envelopes of a `.jsonl` file, one per non-blank line.
struct Lines {
    reader: crate::direct::Reader,
    source: String,
    /// Lines read so far.
    n: usize,
    done: bool,
}

impl Lines {
    fn next_item(&mut self) -> Result<Option<Item>> {
        loop {
            let mut line = Vec::with_capacity(4096);
            let read = (&mut self.reader)
                .take(MAX_ENVELOPE_BYTES as u64 + 2)
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read {}", self.source))?;
            if read == 0 {
                return Ok(None);
            }
            self.n += 1;
            let n = self.n;
            let too_long = !line.ends_with(b"\n") && read as u64 > MAX_ENVELOPE_BYTES as u64;
            if too_long {
                // Skip the rest of the over-long line.
                let mut rest = Vec::new();
                self.reader.read_until(b'\n', &mut rest)?;
                line.extend_from_slice(&rest);
                return Ok(Some(Item {
                    source: format!("{}:{n}", self.source),
                    sha256: Some(fingerprint(&line)),
                    receipt: None,
                    bytes: Err(format!(
                        "envelope on line {n} is over the limit of {MAX_ENVELOPE_BYTES} bytes"
                    )),
                }));
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Some(Item {
                source: format!("{}:{n}", self.source),
                sha256: None,
                receipt: None,
                bytes: Ok(line),
            }));
        }
    }
}

impl Iterator for Lines {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Result<Item>> {
        if self.done {
            return None;
        }
        let next = self.next_item().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

fn print_summary(s: &Summary) {
    println!("{:<34} {:>8}", "outcome", "count");
    for (name, n) in [
        ("accepted", s.accepted),
        ("duplicate (already stored)", s.duplicate),
        ("superseded (older resubmission)", s.superseded),
        ("rejected (kept in quarantine)", s.rejected),
        ("withdrawal: responses destroyed", s.withdrawn),
        ("withdrawal: waiting for a match", s.withdrawal_waiting),
        ("destroyed on arrival (withdrawn)", s.destroyed_on_arrival),
        ("withdrawal: ambiguous, see audit", s.withdrawal_ambiguous),
        ("withdrawal: repeated, already done", s.withdrawal_repeated),
        ("withdrawal: after lock, refused", s.withdrawal_late),
    ] {
        println!("{name:<34} {n:>8}");
    }
    if s.withdrawal_ambiguous > 0 {
        eprintln!(
            "note: {} withdrawal request(s) matched more than one person (people who chose the same memorable word), so nothing of theirs was destroyed; a sealed request names no role. A respondent who contacts the study team can withdraw with `plp withdraw --word ... --code ... --role ...`",
            s.withdrawal_ambiguous
        );
    }
    if s.waiting_in_store > 0 {
        eprintln!(
            "note: {} withdrawal request(s) in the store match no response yet; each is kept, and destroys a matching response that arrives before the lock",
            s.waiting_in_store
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{id_key, person_key, sha_key, Open, Seen};
    use crate::store::Store;

    /// Only `Seen` keeps envelopes, submissions and people unique in a store of this
    /// version (no unique index backs it), so a transaction begun after another process
    /// wrote must see that write: responses and a quarantined envelope stored by another
    /// connection are known once the next transaction begins, not before.
    #[test]
    fn a_transaction_sees_what_another_process_stored() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plp.sqlite");
        let store = Store::create(&path, "s", "k").expect("created");
        let mut seen = Seen::load(&store.conn).expect("loaded");
        assert!(seen.envelopes.is_empty() && seen.submissions.is_empty());
        let (sha, quarantined, superseded) = ("ab".repeat(32), "cd".repeat(32), "01".repeat(32));
        let submission = "ef".repeat(16);
        let other = rusqlite::Connection::open(&path).expect("another connection");
        other
            .execute_batch(&format!(
                "INSERT INTO surveys VALUES ('x', 'survey', '1', x'7b7d');
                 INSERT INTO responses(envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope) VALUES
                   ('{sha}', '{submission}', 't', 'd', 'A', 'a', 'tag', 'accepted', 'x', x'00'),
                   ('{superseded}', NULL, 't', 'd', 'B', 'b', 'old tag', 'superseded', 'x', x'00');
                 INSERT INTO quarantine(envelope_sha256, received_at, source, reason, envelope)
                 VALUES ('{quarantined}', 't', 'f', 'r', x'00');"
            ))
            .expect("written by the other connection");
        assert!(!seen.envelopes.contains(&sha_key(&sha)));
        let open = Open::begin(&store.conn, &mut seen).expect("begun");
        drop(open);
        assert!(seen.envelopes.contains(&sha_key(&sha)));
        assert!(seen.envelopes.contains(&sha_key(&quarantined)));
        assert!(seen.submissions.contains(&id_key(&submission)));
        assert!(seen.people.contains(&person_key("A", "a", "tag")));
        // A superseded response (here without a submission id) is a known envelope, but
        // not a person who may have one to supersede.
        assert!(seen.envelopes.contains(&sha_key(&superseded)));
        assert_eq!(seen.submissions.len(), 1);
        assert_eq!(seen.people.len(), 1);
    }

    /// A resubmission supersedes through a search of `responses_tag` in either form of the
    /// store (the tag's prefix, or the full tag in stores made before session 16): the
    /// later consent date stays accepted, another person with the same tag prefix is left
    /// alone.
    #[test]
    fn a_resubmission_supersedes_in_either_form_of_the_store() {
        for older in [false, true] {
            let dir = tempfile::tempdir().expect("temporary folder");
            let (tag, twin) = ("1".repeat(64), format!("{}2", "1".repeat(63)));
            let mut store = crate::store::store_with(
                dir.path(),
                older,
                &format!(
                    "('e1', 't', '2026-03-02', 'A', 'a', '{tag}', 'accepted'),
                     ('e2', 't', '2026-03-01', 'A', 'a', '{twin}', 'accepted'),
                     ('e3', 't', '2026-03-01', 'A', 'a', '{tag}', 'accepted')"
                ),
            );
            let tx = store.tx().expect("transaction");
            let searched = crate::store::tag_search(older);
            let plan = crate::store::plan(&tx, super::SAME_PERSON);
            assert_eq!(plan[0], searched, "{plan:?}");
            assert_eq!(
                super::supersede(&tx, "A", "a", &tag).expect("superseded"),
                1
            );
            let states: Vec<(String, Option<i64>)> = tx
                .prepare("SELECT state, superseded_by FROM responses ORDER BY id")
                .expect("query")
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("rows")
                .collect::<Result<_, _>>()
                .expect("states");
            let accepted = ("accepted".to_string(), None);
            assert_eq!(
                states,
                [
                    accepted.clone(),
                    accepted,
                    ("superseded".to_string(), Some(1))
                ],
                "older form: {older}"
            );
        }
    }

    /// A panic while examining a batch is caught and reported as `None`, not lost.
    #[test]
    fn a_panic_while_examining_is_reported() {
        assert_eq!(
            super::each_caught(vec![1, 2, 3], |n| n * 2),
            Some(vec![2, 4, 6])
        );
        let caught = super::each_caught(vec![1, 2, 3], |n| {
            assert!(n != 2, "examining item {n} failed");
            n
        });
        assert_eq!(caught, None);
    }
}
