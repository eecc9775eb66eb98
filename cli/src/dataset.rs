//! The analysis dataset: accepted responses linked into pairs and given their pseudonyms,
//! then opened. Export and report both start here, so they always agree.
//!
//! Two steps, so that a million responses fit in memory:
//! - [`roster_with`] settles who is in the dataset without opening anything: pair code, side and
//!   row of every accepted response come from the store's columns; linkage, pseudonyms and
//!   the export order follow.
//! - [`open_payloads`] then opens the respondents' payloads in the order their rows lie in
//!   the store, a chunk at a time on every core (each worker with its own read-only
//!   connection), and hands each chunk's plaintexts to the caller's work on that worker,
//!   whose results come back in that order with their places in the roster. The caller reads the answers in place ([`answers_of`]). A response ingested
//!   with its wrapped AEAD key ([`crate::store::OpenKeyWrap`]) is decrypted with AES-GCM
//!   alone; others are opened with X25519 as at ingest.
//!
//! Both run the second step while the first one's new pseudonyms are still being stored
//! (`meanwhile` of [`roster_with`]): storing them is one thread's work, opening needs only
//! the roster.
//!
//! [`load`] does both and keeps every answer, for the report. Plaintext lives only in memory
//! here and in the files an evaluator asks for.

use crate::pseudonyms::Pseudonyms;
use crate::store::{self, opener, OpenKeyWrap, Store};
use anyhow::{bail, Context, Result};
use plp_core::answers::{Answers, ReadAnswers};
use plp_core::envelope::Envelope;
use plp_core::linkage::{link, Class, Group};
use plp_core::seal::KeyPair;
use plp_core::survey::Side;
use rusqlite::{OpenFlags, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use zeroize::Zeroizing;

/// Respondents opened per chunk in [`open_payloads`].
const CHUNK: usize = 1024;
/// SQLite page cache of the store's connection while linking and writing pseudonyms (KiB);
/// given back after. The pseudonym table's index by pseudonym is written at random places
/// (~50 MB at a million respondents); more cache than this bought no time there and pushed
/// the export's peak memory towards 1 GiB.
const ROSTER_CACHE_KIB: i64 = 64 * 1024;
/// SQLite page cache of each worker's connection reading responses (KiB).
const READER_CACHE_KIB: i64 = 16 * 1024;

/// One respondent in the dataset.
#[derive(Debug, Clone)]
pub struct Person {
    /// Pseudonymous pair id.
    pub pair_id: String,
    /// Pseudonymous person id.
    pub person_id: String,
    /// Side: A or B inside a complete pair, otherwise as answered.
    pub side: Side,
    /// Linkage class of their code.
    pub pair_status: &'static str,
    /// Their answers.
    pub answers: Answers,
}

/// Where a respondent's answers are stored.
#[derive(Debug, Clone)]
pub enum Source {
    /// An accepted response (`responses.id`).
    Response(i64),
    /// A pseudonymised record, after identifiers were destroyed (`records.person_id`).
    Record(String),
}

/// One respondent of the roster: everything but the answers.
#[derive(Debug, Clone)]
pub struct Member {
    /// Pseudonymous pair id.
    pub pair_id: String,
    /// Pseudonymous person id.
    pub person_id: String,
    /// Side: A or B inside a complete pair, otherwise as answered.
    pub side: Side,
    /// Linkage class of their code.
    pub pair_status: &'static str,
    /// Where the answers are.
    pub source: Source,
}

/// A complete pair, as indices into the people (of a [`Roster`] or a [`Dataset`]).
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// Side-A member.
    pub a: usize,
    /// Side-B member.
    pub b: usize,
    /// Both said "either".
    pub arbitrary_order: bool,
}

/// Linkage of one group, for the linkage report (no codes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupReport {
    /// Pseudonymous pair id.
    pub pair_id: String,
    /// `complete`, `singleton`, `conflict`.
    pub class: &'static str,
    /// Why.
    pub reason: String,
    /// Members' person ids.
    pub members: Vec<String>,
    /// Code not in the allocated list.
    pub unallocated_code: bool,
    /// Order of the pair is arbitrary.
    pub arbitrary_order: bool,
}

/// Who is in the dataset, linked and pseudonymised, without answers.
pub struct Roster {
    /// Respondents, ordered by person id.
    pub people: Vec<Member>,
    /// Complete pairs, ordered by pair id.
    pub pairs: Vec<Pair>,
    /// One entry per code group, ordered by pair id.
    pub groups: Vec<GroupReport>,
}

impl Roster {
    /// Number of code groups of a class.
    pub fn count(&self, class: &str) -> usize {
        self.groups.iter().filter(|g| g.class == class).count()
    }
}

/// Everything the report needs.
pub struct Dataset {
    /// Respondents, ordered by person id.
    pub people: Vec<Person>,
    /// Complete pairs, ordered by pair id.
    pub pairs: Vec<Pair>,
    /// One entry per code group.
    pub groups: Vec<GroupReport>,
}

/// A respondent's opened payload: a stored response's, or a pseudonymised record's.
pub type Plaintext = Zeroizing<Vec<u8>>;

/// The answers in `plain`, `m`'s opened payload ([`open_payloads`]), read in place. A
/// response's payload was parsed strictly and validated at ingest
/// ([`plp_core::payload::read`], `verify`), a record's written by plp: reading either back
/// needs only the answers, and the other members are skipped.
pub fn answers_of<'a>(m: &Member, plain: &'a [u8]) -> Result<ReadAnswers<'a>> {
    plp_core::payload::read_answers(plain).with_context(|| match &m.source {
        Source::Response(id) => format!("stored response {id} is not a response payload"),
        Source::Record(person) => format!("the record of {person} holds no answers"),
    })
}

fn side_of(s: &str) -> Side {
    match s {
        "a" => Side::A,
        "b" => Side::B,
        _ => Side::Either,
    }
}

/// Links and pseudonymises every accepted response (or pseudonymised record, after
/// identifiers were destroyed) from the store's columns alone; pseudonyms are drawn once
/// and stored. Runs `meanwhile` on the roster (on a thread of its own) while the
/// pseudonyms drawn for it are stored. Storing them is one thread's work (at a million
/// respondents, inserting 1.5 million rows and sorting them for the unique index), and what
/// comes next, opening every respondent's answers, reads through connections of its own
/// and needs only the roster. Returns once both are done, the pseudonyms committed: what
/// `meanwhile` made is published only then. Either's error is returned (storing's first).
/// `meanwhile` is also given a flag set when storing fails, so that it can stop early
/// ([`open_payloads`] does) rather than finish work whose result is thrown away, and what
/// `ready` returned. `ready` runs once the store has been read and before anything is
/// written to it: an export waits there for its key ([`crate::commands::unlock_behind`]),
/// so a wrong passphrase leaves the store as it was. Fails, once both are done, when
/// responses were destroyed (a withdrawal) after the roster was read: an id read then
/// could since name a response that came in later ([`store::destroyed_since`]).
pub fn roster_with<K: Send, T: Send>(
    store: &mut Store,
    survey_sha256: &str,
    allocated: Option<&[String]>,
    ready: impl FnOnce() -> Result<K>,
    meanwhile: impl FnOnce(&Roster, &AtomicBool, K) -> Result<T> + Send,
) -> Result<(Roster, T)> {
    // See ROSTER_CACHE_KIB: linking and writing pseudonyms, given back after.
    store
        .conn
        .pragma_update(None, "cache_size", -ROSTER_CACHE_KIB)?;
    // Checked again once `meanwhile` has read what the roster names.
    let audited = store::audit_seq(&store.conn)?;
    // (link key, side, source)
    let mut raw: Vec<(String, Side, Source)> = Vec::new();
    let destroyed = store.identifiers_destroyed_at()?.is_some();
    let sql = if destroyed {
        "SELECT person_id, pair_id, side, survey_sha256 FROM records ORDER BY person_id"
    } else {
        // From the index alone (see `store::migrate`); put in order of arrival below.
        "SELECT id, code, side, NULL FROM responses INDEXED BY responses_roster WHERE state = 'accepted'"
    };
    {
        let mut stmt = store.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Some(sha) = r.get_ref(3)?.as_str_or_null()? {
                other_version(sha, survey_sha256)?;
            }
            let source = if destroyed {
                Source::Record(r.get(0)?)
            } else {
                Source::Response(r.get(0)?)
            };
            raw.push((r.get(1)?, side_of(r.get_ref(2)?.as_str()?), source));
        }
    }
    if !destroyed {
        if let Some(sha) = response_of_another_version(&store.conn, survey_sha256)? {
            other_version(&sha, survey_sha256)?;
        }
        // The index gives responses by code; linkage takes them in order of arrival.
        raw.sort_unstable_by_key(|r| match r.2 {
            Source::Response(id) => id,
            Source::Record(_) => {
                unreachable!("records are read only once identifiers are destroyed")
            }
        });
    }
    let ready = ready()?;
    let tx = store.tx()?;
    let mut pseudonyms = if destroyed {
        None
    } else {
        Some(Pseudonyms::load(&tx)?)
    };
    let n_people = raw.len();
    // Each respondent's pseudonym is drawn on a thread of its own (a million at a million
    // respondents) while the codes are linked and each group's pair id drawn on this one.
    // A person is known by their response's id (a record's is its pseudonym).
    let (groups, pair_ids, mut person_ids) = std::thread::scope(|scope| {
        let (mut persons, mut pair_kind) = match &mut pseudonyms {
            Some(p) => {
                let [persons, pairs] = p.kinds();
                (Some(persons), Some(pairs))
            }
            None => (None, None),
        };
        let raw = &raw;
        let drawn = scope.spawn(move || -> Vec<Option<String>> {
            raw.iter()
                .map(|r| match (&mut persons, &r.2) {
                    (Some(p), Source::Response(id)) => p.get_or_assign(id.to_string(), n_people),
                    (_, Source::Record(person)) => person.clone(),
                    (None, Source::Response(id)) => id.to_string(),
                })
                .map(Some)
                .collect()
        });
        let groups: Vec<Group<usize>> = link(
            raw.iter().enumerate().map(|(i, r)| (r.0.clone(), i, r.1)),
            allocated,
        );
        let pair_ids: Vec<String> = groups
            .iter()
            .map(|g| match &mut pair_kind {
                None => g.code.clone(),
                Some(p) => p.get_or_assign(g.code.clone(), groups.len()),
            })
            .collect();
        (groups, pair_ids, joined(drawn))
    });
    let n_groups = groups.len();
    let mut people: Vec<Member> = Vec::with_capacity(n_people);
    let mut pairs = Vec::new();
    let mut reports = Vec::with_capacity(n_groups);
    for (g, pair_id) in groups.iter().zip(pair_ids) {
        let mut add = |i: usize, side: Side, status: &'static str| -> Result<usize> {
            let source = &raw[i].2;
            let Some(person_id) = person_ids[i].take() else {
                bail!("linkage placed a respondent in two groups");
            };
            people.push(Member {
                pair_id: pair_id.clone(),
                person_id,
                side,
                pair_status: status,
                source: source.clone(),
            });
            Ok(people.len() - 1)
        };
        let (members, arbitrary) = match &g.class {
            Class::Complete {
                a,
                b,
                arbitrary_order,
            } => {
                let ia = add(*a, Side::A, "complete")?;
                let ib = add(*b, Side::B, "complete")?;
                pairs.push(Pair {
                    a: ia,
                    b: ib,
                    arbitrary_order: *arbitrary_order,
                });
                (vec![ia, ib], *arbitrary_order)
            }
            Class::Singleton(i) => (vec![add(*i, raw[*i].1, "singleton")?], false),
            Class::Conflict(list) => {
                let mut v = Vec::new();
                for i in list {
                    v.push(add(*i, raw[*i].1, "conflict")?);
                }
                (v, false)
            }
        };
        reports.push(GroupReport {
            pair_id,
            class: g.class.name(),
            reason: g.reason.clone(),
            members: members
                .iter()
                .map(|&i| people[i].person_id.clone())
                .collect(),
            unallocated_code: g.unallocated,
            arbitrary_order: arbitrary,
        });
    }
    // Freed before the pseudonyms are written, which needs room of its own.
    drop(groups);
    drop(raw);
    drop(person_ids);
    // Stable, meaningless order: by pseudonym. Put in place: a second copy of a million
    // members would be held while the pseudonyms are stored below.
    let order = by_text(&people, |m| m.person_id.as_str());
    let new_pos = arrange(&mut people, &order);
    for p in &mut pairs {
        p.a = new_pos[p.a];
        p.b = new_pos[p.b];
    }
    drop(new_pos);
    let order = by_text(&pairs, |d| people[d.a].pair_id.as_str());
    arrange(&mut pairs, &order);
    let order = by_text(&reports, |g| g.pair_id.as_str());
    arrange(&mut reports, &order);
    let roster = Roster {
        people,
        pairs,
        groups: reports,
    };
    let failed = AtomicBool::new(false);
    let (saved, made) = std::thread::scope(|scope| {
        let made = scope.spawn(|| meanwhile(&roster, &failed, ready));
        let saved = (|| -> Result<()> {
            if let Some(p) = pseudonyms {
                p.save(&tx)?;
            }
            // See ROSTER_CACHE_KIB: not needed past the writing (its pages are released
            // by the commit and the shrink below).
            tx.pragma_update(None, "cache_size", -2000)?;
            tx.commit()?;
            Ok(())
        })();
        failed.store(saved.is_err(), Ordering::Relaxed);
        let made = joined(made);
        (saved, made)
    });
    saved?;
    store.conn.execute_batch("PRAGMA shrink_memory")?;
    let made = made?;
    if store::destroyed_since(&store.conn, audited)? {
        bail!(
            "responses were withdrawn while this command read the store, so what it read may not match its roster; no file was written: run it again"
        );
    }
    Ok((roster, made))
}

/// What a scoped thread returned; its panic, raised again here.
pub fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Puts `items` in `order` (`order[pos]` is the position of the item that goes to `pos`)
/// in place, one swap per move; returns each item's new position by its old one.
fn arrange<T>(items: &mut [T], order: &[usize]) -> Vec<usize> {
    assert_eq!(order.len(), items.len(), "an order of every item");
    let mut new_pos = vec![usize::MAX; order.len()];
    for (pos, &old) in order.iter().enumerate() {
        assert_eq!(new_pos[old], usize::MAX, "each item once in the order");
        new_pos[old] = pos;
    }
    // `to[i]`: where the item now at `i` goes.
    let mut to = new_pos.clone();
    for i in 0..items.len() {
        while to[i] != i {
            let j = to[i];
            items.swap(i, j);
            to.swap(i, j);
        }
    }
    new_pos
}

/// The positions of `items` in the order of a text of each (byte order, as `str` compares),
/// stable. Sorted by the text's first 16 bytes held in one number first, then by the whole
/// text only where those are equal: ids such as pseudonyms are shorter than that, so the
/// sort reads one array instead of a million strings scattered in memory.
fn by_text<'a, T>(items: &'a [T], text: impl Fn(&'a T) -> &'a str) -> Vec<usize> {
    let mut keys: Vec<(u128, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut head = [0u8; 16];
            let t = text(item).as_bytes();
            let n = t.len().min(16);
            head[..n].copy_from_slice(&t[..n]);
            (u128::from_be_bytes(head), i)
        })
        .collect();
    keys.sort_unstable_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| text(&items[x.1]).cmp(text(&items[y.1])))
            .then(x.1.cmp(&y.1))
    });
    keys.into_iter().map(|(_, i)| i).collect()
}

/// Fails when `sha`, a stored response's survey version, is not the export's.
fn other_version(sha: &str, survey_sha256: &str) -> Result<()> {
    if sha != survey_sha256 {
        bail!(
            "a stored response answers another survey version ({}…); this export covers one version",
            &sha[..16.min(sha.len())]
        );
    }
    Ok(())
}

/// The survey version of an accepted response that answers another one than
/// `survey_sha256`, if any. Responses name only versions the store's `surveys` table holds
/// (a foreign key), so the responses are read only when it holds another.
fn response_of_another_version(
    conn: &rusqlite::Connection,
    survey_sha256: &str,
) -> Result<Option<String>> {
    let others: i64 = conn.query_row(
        "SELECT COUNT(*) FROM surveys WHERE sha256 != ?1",
        [survey_sha256],
        |r| r.get(0),
    )?;
    if others == 0 {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT survey_sha256 FROM responses WHERE state = 'accepted' AND survey_sha256 != ?1 LIMIT 1",
            [survey_sha256],
            |r| r.get(0),
        )
        .optional()?)
}

/// What [`open_payloads`]'s workers need to open read-only connections of their own to a
/// store: taken before the store's own connection is busy writing (see [`roster_with`]).
pub struct Readers {
    path: String,
    study_id: String,
}

impl Readers {
    /// Where `store` is, and its study id (the opener's context).
    pub fn of(store: &Store) -> Result<Readers> {
        let path = store
            .conn
            .path()
            .filter(|p| !p.is_empty())
            .context("the store has no file")?
            .to_string();
        let study_id = store.meta("study_id")?.unwrap_or_default();
        Ok(Readers { path, study_id })
    }
}

/// Opens the payloads of `people`, [`CHUNK`] respondents at a time on every core, in the
/// order their rows lie in the store's file ([`store_order`]), not the roster's.
/// `each` turns a chunk (positions in `people`) and its plaintexts into what the caller
/// keeps (in a worker thread, where the answers are read in place with [`answers_of`]);
/// `sink` receives those results chunk by chunk in that order, with the chunk's positions.
/// `stop` is checked before each chunk is waited for: once it is set, at most the chunk
/// already waited for is passed on, and then an error is returned.
///
/// Why the store's order: the roster's is by pseudonym, random to the file, so each row
/// would be a random read; in file order a thread reads the file ahead of the workers and
/// drops it behind them ([`crate::readahead::Ahead`]), and the page cache reuses the same
/// pages. A script reading a 3.28 GB store in order so took 0.85 s of system time, against
/// 7.48 s for `dd` reading it into new pages (this machine gives idle pages back to its host; see
/// [`crate::writeback`]).
pub fn open_payloads<T: Send>(
    from: &Readers,
    key: &KeyPair,
    people: &[Member],
    stop: &AtomicBool,
    each: impl Fn(&[usize], Vec<Plaintext>) -> Result<T> + Sync,
    mut sink: impl FnMut(&[usize], T) -> Result<()>,
) -> Result<()> {
    let Readers { path, study_id } = from;
    let opener = opener(key, study_id)?;
    let wrap = OpenKeyWrap::new(key);
    let order = store_order(people);
    let chunks: Vec<&[usize]> = order.chunks(CHUNK).collect();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(chunks.len().max(1));
    let ahead = (!chunks.is_empty()).then(|| crate::readahead::Ahead::start(Path::new(path)));
    let next = Mutex::new(0usize);
    let (done_tx, done_rx) = mpsc::sync_channel::<(usize, Result<T>)>(workers * 2);
    // How far the sink has got: workers wait rather than run ahead by more than this.
    let window = workers * 2;
    let consumed = Mutex::new(0usize);
    let cv = std::sync::Condvar::new();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (next, chunks, opener, wrap, each, path, ahead) =
                (&next, &chunks, &opener, &wrap, &each, &path, ahead.as_ref());
            let (consumed, cv) = (&consumed, &cv);
            scope.spawn(move || {
                let mut reader = match Reader::open(path) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = done_tx.send((usize::MAX, Err(e)));
                        return;
                    }
                };
                loop {
                    let i = {
                        let mut n = next.lock().expect("not poisoned");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    if i >= chunks.len() {
                        return;
                    }
                    {
                        let mut c = consumed.lock().expect("not poisoned");
                        while i >= *c + window {
                            c = cv.wait(c).expect("not poisoned");
                        }
                    }
                    if let Some(ahead) = ahead {
                        ahead.reading(i, chunks.len());
                    }
                    let result = reader
                        .chunk(chunks[i].iter().map(|&p| &people[p]), opener, wrap)
                        .and_then(|answers| each(chunks[i], answers));
                    let failed = result.is_err();
                    if done_tx.send((i, result)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut ready: BTreeMap<usize, T> = BTreeMap::new();
        let outcome = (|| -> Result<()> {
            for (i, chunk) in chunks.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    bail!("stopped opening responses: the work they were opened for failed");
                }
                let value = loop {
                    if let Some(v) = ready.remove(&i) {
                        break v;
                    }
                    let (j, r) = done_rx
                        .recv()
                        .map_err(|_| anyhow::anyhow!("a worker opening responses stopped"))?;
                    ready.insert(j, r?);
                };
                sink(chunk, value)?;
                *consumed.lock().expect("not poisoned") = i + 1;
                if let Some(ahead) = &ahead {
                    ahead.read(i + 1, chunks.len());
                }
                cv.notify_all();
            }
            Ok(())
        })();
        if outcome.is_err() {
            // Let waiting workers finish: they see no more chunks.
            *next.lock().expect("not poisoned") = chunks.len();
            *consumed.lock().expect("not poisoned") = usize::MAX / 2;
            cv.notify_all();
            while done_rx.recv().is_ok() {}
        }
        outcome
    })
}

/// Positions in `people` in the order their rows lie in the store: responses by row id
/// (rows are appended as envelopes are accepted, so the table's pages follow its ids), then
/// pseudonymised records in the roster's order (their table's key is the person id, which
/// is the roster's order).
pub fn store_order(people: &[Member]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by_key(|&p| match people[p].source {
        Source::Response(id) => (0, id),
        Source::Record(_) => (1, p as i64),
    });
    order
}

/// Opens a stored response's envelope: with its kept AEAD key (`open_key`, wrapped under
/// `wrap`; AES-GCM alone) when there is one that opens it, else with X25519 as at ingest.
pub fn open_stored(
    env: &Envelope,
    open_key: Option<&[u8]>,
    envelope_sha256: &str,
    opener: &plp_core::fastopen::Opener,
    wrap: &OpenKeyWrap,
) -> Result<Plaintext> {
    let fast = open_key
        .and_then(|k| wrap.unwrap(envelope_sha256, k))
        .and_then(|k| k.open(&env.ct).ok());
    Ok(match fast {
        Some(p) => p,
        None => opener.open(env)?.plaintext,
    })
}

/// The ids of `members` when all are responses, in ascending order (a chunk of
/// [`store_order`]); `None` else.
fn ascending_ids(members: &[&Member]) -> Option<Vec<i64>> {
    let ids = members
        .iter()
        .map(|m| match m.source {
            Source::Response(id) => Some(id),
            Source::Record(_) => None,
        })
        .collect::<Option<Vec<i64>>>()?;
    ids.windows(2).all(|w| w[0] < w[1]).then_some(ids)
}

/// The error for a respondent whose row is no longer in the store.
fn left(m: &Member) -> anyhow::Error {
    anyhow::anyhow!(
        "respondent {} left the store while it was read (a withdrawal or another command ran at the same time); run the command again",
        m.person_id
    )
}

/// Opens the response in `row`, whose columns from `at` on are its envelope, `open_key`
/// and envelope SHA-256. The envelope is parsed where SQLite holds it, not copied out
/// first.
fn stored_response(
    row: &rusqlite::Row<'_>,
    at: usize,
    opener: &plp_core::fastopen::Opener,
    wrap: &OpenKeyWrap,
) -> Result<Plaintext> {
    let envelope = row.get_ref(at)?;
    let bytes = envelope.as_blob().map_err(|_| {
        rusqlite::Error::InvalidColumnType(at, "envelope".into(), envelope.data_type())
    })?;
    let env = Envelope::from_stored(bytes)?;
    let open_key: Option<Vec<u8>> = row.get(at + 1)?;
    let sha: String = row.get(at + 2)?;
    open_stored(&env, open_key.as_deref(), &sha, opener, wrap)
}

/// One worker's read-only connection to the store.
struct Reader {
    conn: rusqlite::Connection,
}

impl Reader {
    fn open(path: &str) -> Result<Reader> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the store {path}"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Enough for the interior pages of a million responses' table (about 15 MiB), so
        // each lookup by id (records, and chunks not in ascending order of id) reads one
        // page from the file, not three.
        conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
        Ok(Reader { conn })
    }

    /// The plaintexts of `members`, read in one read transaction: one snapshot and one
    /// shared lock for the chunk instead of one for each respondent.
    fn chunk<'m>(
        &mut self,
        members: impl Iterator<Item = &'m Member>,
        opener: &plp_core::fastopen::Opener,
        wrap: &OpenKeyWrap,
    ) -> Result<Vec<Plaintext>> {
        let members: Vec<&Member> = members.collect();
        self.conn.execute_batch("BEGIN")?;
        let read = match ascending_ids(&members) {
            Some(ids) => self.responses_in_range(&members, &ids, opener, wrap),
            None => members
                .iter()
                .map(|m| self.plaintext(m, opener, wrap))
                .collect::<Result<Vec<Plaintext>>>(),
        };
        // Ends the read transaction whether or not reading failed.
        let ended = self.conn.execute_batch("COMMIT");
        let read = read?;
        ended?;
        Ok(read)
    }

    /// The plaintexts of responses `ids` (ascending, of `members`), read with one scan of
    /// the table from the first id to the last rather than a lookup by id each: the rows
    /// between that are not asked for (superseded responses) are stepped over.
    fn responses_in_range(
        &mut self,
        members: &[&Member],
        ids: &[i64],
        opener: &plp_core::fastopen::Opener,
        wrap: &OpenKeyWrap,
    ) -> Result<Vec<Plaintext>> {
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, envelope, open_key, envelope_sha256 FROM responses WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query([first, last])?;
        let mut out = Vec::with_capacity(ids.len());
        for (m, &id) in members.iter().zip(ids) {
            let row = loop {
                let Some(row) = rows.next()? else {
                    return Err(left(m));
                };
                match row.get::<_, i64>(0)?.cmp(&id) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal => break row,
                    std::cmp::Ordering::Greater => return Err(left(m)),
                }
            };
            out.push(stored_response(row, 1, opener, wrap)?);
        }
        Ok(out)
    }

    fn plaintext(
        &mut self,
        m: &Member,
        opener: &plp_core::fastopen::Opener,
        wrap: &OpenKeyWrap,
    ) -> Result<Plaintext> {
        let gone = || left(m);
        match &m.source {
            Source::Response(id) => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT envelope, open_key, envelope_sha256 FROM responses WHERE id = ?1",
                )?;
                let mut rows = stmt.query([id])?;
                let row = rows.next()?.ok_or_else(gone)?;
                stored_response(row, 0, opener, wrap)
            }
            Source::Record(person) => {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT envelope FROM records WHERE person_id = ?1")?;
                let envelope: Vec<u8> = stmt
                    .query_row([person], |r| r.get(0))
                    .optional()?
                    .ok_or_else(gone)?;
                Ok(opener.open(&Envelope::from_stored(&envelope)?)?.plaintext)
            }
        }
    }
}

/// The roster with every respondent's answers opened: what the report needs.
pub fn load(
    store: &mut Store,
    key: &KeyPair,
    survey_sha256: &str,
    allocated: Option<&[String]>,
) -> Result<Dataset> {
    let readers = Readers::of(store)?;
    // Opened as the export opens them: beside the storing of pseudonyms, and checked
    // against withdrawals in the meantime (`roster_with`).
    let (roster, people) = roster_with(
        store,
        survey_sha256,
        allocated,
        || Ok(()),
        |roster, stop, ()| {
            let mut people: Vec<Option<Answers>> = vec![None; roster.people.len()];
            open_payloads(
                &readers,
                key,
                &roster.people,
                stop,
                |positions, plains| {
                    positions
                        .iter()
                        .zip(&plains)
                        .map(|(&p, plain)| Ok(answers_of(&roster.people[p], plain)?.into_answers()))
                        .collect::<Result<Vec<Answers>>>()
                },
                |positions, answers: Vec<Answers>| {
                    for (&p, a) in positions.iter().zip(answers) {
                        people[p] = Some(a);
                    }
                    Ok(())
                },
            )?;
            Ok(people)
        },
    )?;
    let people = roster
        .people
        .into_iter()
        .zip(people)
        .map(|(m, answers)| {
            Ok(Person {
                pair_id: m.pair_id,
                person_id: m.person_id,
                side: m.side,
                pair_status: m.pair_status,
                answers: answers.context("a respondent was not opened")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Dataset {
        people,
        pairs: roster.pairs,
        groups: roster.groups,
    })
}

impl Dataset {
    /// The respondents in core's export form.
    pub fn respondents(&self) -> Vec<plp_core::export::Respondent<'_>> {
        self.people
            .iter()
            .map(|p| plp_core::export::Respondent {
                pair_id: p.pair_id.clone(),
                person_id: p.person_id.clone(),
                side: p.side,
                pair_status: p.pair_status,
                answers: &p.answers,
            })
            .collect()
    }

    /// The complete pairs in core's export form, given [`Dataset::respondents`].
    pub fn dyads<'a>(
        &self,
        people: &[plp_core::export::Respondent<'a>],
    ) -> Vec<plp_core::export::Dyad<'a>> {
        self.pairs
            .iter()
            .map(|p| plp_core::export::Dyad {
                a: people[p.a].clone(),
                b: people[p.b].clone(),
                arbitrary_order: p.arbitrary_order,
            })
            .collect()
    }

    /// Number of code groups of a class.
    pub fn count(&self, class: &str) -> usize {
        self.groups.iter().filter(|g| g.class == class).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to another survey version stops the roster, whether or not the store
    /// knows the export's version; responses to the export's version do not.
    #[test]
    fn a_response_to_another_survey_version_is_refused() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut store = Store::create(&dir.path().join("plp.sqlite"), "s", "k").expect("store");
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        store.add_survey(&a, "plp", "1", b"{}").expect("survey a");
        let insert = |store: &Store, n: u8, sha: &str| {
            store
                .conn
                .execute(
                    "INSERT INTO responses(envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope)
                     VALUES (?1, ?1, 't', '2026-01-01', 'AB', 'a', 'm', 'accepted', ?2, x'00')",
                    rusqlite::params![format!("{n:064}"), sha],
                )
                .expect("a response");
        };
        insert(&store, 1, &a);
        assert_eq!(
            roster(&mut store, &a, None)
                .expect("one version")
                .people
                .len(),
            1
        );
        let refused = |store: &mut Store, sha: &str| {
            let e = roster(store, sha, None).err().expect("refused");
            e.to_string()
        };
        // The study's survey changed after responses came in.
        let e = refused(&mut store, &b);
        assert!(
            e.contains("another survey version (aaaaaaaaaaaaaaaa…)"),
            "{e}"
        );
        // Both versions stored, responses to both.
        store.add_survey(&b, "plp", "2", b"{}").expect("survey b");
        insert(&store, 2, &b);
        let e = refused(&mut store, &a);
        assert!(
            e.contains("another survey version (bbbbbbbbbbbbbbbb…)"),
            "{e}"
        );
    }

    /// `by_text` gives the order of a stable sort by the whole text: texts shorter than,
    /// as long as and longer than its 16-byte head, sharing heads, prefixes of one another,
    /// with zero bytes, equal ones (kept in input order), and non-ASCII.
    #[test]
    fn by_text_sorts_as_a_stable_sort_of_the_texts() {
        let mut texts: Vec<String> = vec![
            "R0042".into(),
            "R0042".into(),
            "R004".into(),
            "R0042\0".into(),
            "R0042\0\0".into(),
            "".into(),
            "\0".into(),
            "D12".into(),
            "0123456789abcdef".into(),
            "0123456789abcdef".into(),
            "0123456789abcdefA".into(),
            "0123456789abcdef0".into(),
            "0123456789abcdee~~~~".into(),
            "0123456789abcdef\0".into(),
            "é".into(),
            "e\u{ff}".into(),
        ];
        // And many more, random, from a small alphabet so heads and prefixes are shared.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            texts.push(
                (0..len)
                    .map(|i| ["R", "0", "1", "\0"][((x >> (i * 2 + 5)) % 4) as usize])
                    .collect(),
            );
        }
        let mut want: Vec<usize> = (0..texts.len()).collect();
        want.sort_by(|&a, &b| texts[a].cmp(&texts[b]));
        assert_eq!(by_text(&texts, |t| t.as_str()), want);
    }

    /// `arrange` puts items where the order says, and reports where each went.
    #[test]
    fn arrange_applies_the_order_in_place() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for n in [0usize, 1, 2, 7, 100, 1_000] {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut items: Vec<String> = (0..n).map(|i| format!("item {i}")).collect();
            let before = items.clone();
            let new_pos = arrange(&mut items, &order);
            for (pos, &old) in order.iter().enumerate() {
                assert_eq!(items[pos], before[old]);
                assert_eq!(new_pos[old], pos);
            }
        }
    }

    /// The roster alone (nothing done meanwhile).
    fn roster(store: &mut Store, sha: &str, allocated: Option<&[String]>) -> Result<Roster> {
        Ok(roster_with(store, sha, allocated, || Ok(()), |_, _, ()| Ok(()))?.0)
    }

    /// A new store in `dir` that knows survey version `sha`.
    fn store_with_survey(dir: &tempfile::TempDir, sha: &str) -> Store {
        let mut store = Store::create(&dir.path().join("plp.sqlite"), "s", "k").expect("store");
        store.add_survey(sha, "plp", "1", b"{}").expect("survey");
        store
    }

    /// Stores an accepted response `id` (its hashes and ids made from `id`).
    fn add_response(store: &Store, id: i64, code: &str, side: &str, sha: &str, envelope: &[u8]) {
        store
            .conn
            .execute(
                "INSERT INTO responses(id, envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope)
                 VALUES (?1, ?1, ?1, 't', '2026-01-01', ?2, ?3, 'm', 'accepted', ?4, ?5)",
                rusqlite::params![id, code, side, sha, envelope],
            )
            .expect("a response");
    }

    /// A new store (in the folder returned, with the survey version returned) holding
    /// responses 1 to `n`, of sides a and b in turn, response `i` with pair code `code(i)`.
    fn sided_store(n: i64, code: impl Fn(i64) -> String) -> (tempfile::TempDir, String, Store) {
        let dir = tempfile::tempdir().expect("temporary folder");
        let sha = "a".repeat(64);
        let store = store_with_survey(&dir, &sha);
        for i in 1..=n {
            let side = if i % 2 == 1 { "a" } else { "b" };
            add_response(&store, i, &code(i), side, &sha, &[0]);
        }
        (dir, sha, store)
    }

    /// `roster_with` gives `meanwhile` the roster it returns, and has stored its pseudonyms
    /// when it returns: the next roster finds the same ones.
    #[test]
    fn roster_with_stores_the_pseudonyms_of_the_roster_it_shares() {
        let (_dir, sha, mut store) = sided_store(40, |i| format!("C{}", (i - 1) / 2));
        let ids = |r: &Roster| -> Vec<(String, String)> {
            r.people
                .iter()
                .map(|m| (m.pair_id.clone(), m.person_id.clone()))
                .collect()
        };
        // What `ready` gives reaches `meanwhile`; until it has run, nothing is written.
        let (first, seen) = roster_with(
            &mut store,
            &sha,
            None,
            || Ok(7),
            |r, _, seven| {
                assert_eq!(seven, 7);
                Ok(ids(r))
            },
        )
        .expect("roster");
        assert_eq!(ids(&first), seen);
        assert_eq!(first.people.len(), 40);
        assert_eq!(first.pairs.len(), 20);
        let stored: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM pseudonyms", [], |r| r.get(0))
            .expect("count");
        assert_eq!(stored, 60, "40 people and 20 pairs");
        // People by person id, pairs and groups by pair id.
        assert!(first
            .people
            .windows(2)
            .all(|w| w[0].person_id < w[1].person_id));
        let pair_ids: Vec<&str> = first
            .pairs
            .iter()
            .map(|d| first.people[d.a].pair_id.as_str())
            .collect();
        assert!(pair_ids.windows(2).all(|w| w[0] < w[1]));
        assert!(first.groups.windows(2).all(|w| w[0].pair_id < w[1].pair_id));
        // Each pair's indices still point at its two members.
        for d in &first.pairs {
            let (a, b) = (&first.people[d.a], &first.people[d.b]);
            assert_eq!((a.pair_id.as_str(), a.side), (b.pair_id.as_str(), Side::A));
            assert_eq!(b.side, Side::B);
        }
        // `meanwhile`'s failure is the roster's.
        let e = roster_with(
            &mut store,
            &sha,
            None,
            || Ok(()),
            |_, _, ()| -> Result<()> { anyhow::bail!("meanwhile failed") },
        )
        .err()
        .expect("fails");
        assert_eq!(e.to_string(), "meanwhile failed");
        let again = roster(&mut store, &sha, None).expect("roster again");
        assert_eq!(ids(&again), ids(&first));
    }

    /// When `ready` fails (an export's key does not unlock), its error is returned,
    /// `meanwhile` does not run, and no pseudonym is stored.
    #[test]
    fn roster_with_writes_nothing_when_not_ready() {
        let (_dir, sha, mut store) = sided_store(4, |_| "C".into());
        let ran = AtomicBool::new(false);
        let e = roster_with(
            &mut store,
            &sha,
            None,
            || -> Result<()> { bail!("wrong passphrase") },
            |_, _, ()| {
                ran.store(true, Ordering::Relaxed);
                Ok(())
            },
        )
        .err()
        .expect("fails");
        assert_eq!(e.to_string(), "wrong passphrase");
        assert!(!ran.load(Ordering::Relaxed));
        let stored: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM pseudonyms", [], |r| r.get(0))
            .expect("count");
        assert_eq!(stored, 0);
    }

    /// When storing the pseudonyms fails, `meanwhile` is told (so an export stops opening
    /// answers), storing's error is the one returned, and nothing is stored.
    #[test]
    fn roster_with_tells_meanwhile_when_storing_fails() {
        let (_dir, sha, mut store) = sided_store(1, |_| "C".into());
        // Refuses the second pseudonym this connection stores (a pair's and a person's are
        // drawn), so that the first, stored, must be rolled back.
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.pseudonyms
                 WHEN (SELECT COUNT(*) FROM main.pseudonyms) > 0
                 BEGIN SELECT RAISE(ABORT, 'no room for pseudonyms'); END;",
            )
            .expect("trigger");
        let told = AtomicBool::new(false);
        let e = roster_with(
            &mut store,
            &sha,
            None,
            || Ok(()),
            |_, stop, ()| -> Result<()> {
                let waited = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if waited.elapsed() > std::time::Duration::from_secs(30) {
                        bail!("never told");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                told.store(true, Ordering::Relaxed);
                bail!("stopped")
            },
        )
        .err()
        .expect("fails");
        assert!(told.load(Ordering::Relaxed));
        assert!(
            e.to_string().contains("no room for pseudonyms"),
            "storing's error first: {e:#}"
        );
        let stored: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM pseudonyms", [], |r| r.get(0))
            .expect("count");
        assert_eq!(stored, 0);
    }

    /// `open_payloads` goes through the roster in the store's order (here the roster's
    /// reversed), and passes on no chunk after its stop flag is set (here by the first
    /// chunk's sink, on the thread that checks it), and says why; unset, it passes on
    /// every chunk.
    #[test]
    fn open_payloads_stops_when_told() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let store = store_with_survey(&dir, "v");
        let key = KeyPair::derive([7; 32]);
        let envelope = key
            .public()
            .seal("s", b"{}", [9; 32])
            .expect("sealed")
            .to_json();
        let n = 2 * CHUNK + 1;
        let mut people = Vec::with_capacity(n);
        for id in 1..=n as i64 {
            add_response(&store, id, "C", "a", "v", &envelope);
        }
        for id in (1..=n as i64).rev() {
            people.push(Member {
                pair_id: format!("D{id}"),
                person_id: format!("R{id}"),
                side: Side::A,
                pair_status: "singleton",
                source: Source::Response(id),
            });
        }
        let readers = Readers::of(&store).expect("readers");
        let run = |stop_after_first: bool| {
            let stop = AtomicBool::new(false);
            let mut passed = Vec::new();
            let outcome = open_payloads(
                &readers,
                &key,
                &people,
                &stop,
                |positions: &[usize], plains| {
                    assert!(plains.iter().all(|p| p.as_slice() == b"{}"));
                    // Rows in the store's order: ids rising, positions falling.
                    assert!(positions.windows(2).all(|w| w[0] == w[1] + 1));
                    Ok(positions.len())
                },
                |positions, opened| {
                    passed.push((positions[0], opened));
                    stop.store(stop_after_first, Ordering::Relaxed);
                    Ok(())
                },
            );
            (outcome, passed)
        };
        let (outcome, passed) = run(false);
        outcome.expect("every chunk");
        assert_eq!(passed, [(n - 1, CHUNK), (n - 1 - CHUNK, CHUNK), (0, 1)]);
        let (outcome, passed) = run(true);
        let e = outcome.expect_err("stops");
        assert_eq!(passed, [(n - 1, CHUNK)]);
        assert!(
            e.to_string().starts_with("stopped opening responses"),
            "{e}"
        );
    }
    /// A chunk read with one scan of the table steps over the rows between that were not
    /// asked for, gives each respondent their own answers, and says so when one of them
    /// has left the store.
    #[test]
    fn a_chunk_read_in_one_scan_gives_each_their_own() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let store = store_with_survey(&dir, "v");
        let key = KeyPair::derive([7; 32]);
        for id in 1..=30i64 {
            let plain = format!("{{\"n\":{id}}}");
            let envelope = key
                .public()
                .seal("s", plain.as_bytes(), [9; 32])
                .expect("sealed")
                .to_json();
            add_response(&store, id, "C", "a", "v", &envelope);
        }
        // Every third response: the others lie between them in the table.
        let people: Vec<Member> = (1..=10i64)
            .map(|k| Member {
                pair_id: format!("D{k}"),
                person_id: format!("R{}", 3 * k),
                side: Side::A,
                pair_status: "singleton",
                source: Source::Response(3 * k),
            })
            .collect();
        let readers = Readers::of(&store).expect("readers");
        let open = || {
            let mut got = vec![String::new(); people.len()];
            open_payloads(
                &readers,
                &key,
                &people,
                &AtomicBool::new(false),
                |positions: &[usize], plains| {
                    Ok(positions
                        .iter()
                        .zip(plains)
                        .map(|(&p, plain)| (p, String::from_utf8(plain.to_vec()).expect("text")))
                        .collect::<Vec<_>>())
                },
                |_, opened| {
                    for (p, text) in opened {
                        got[p] = text;
                    }
                    Ok(())
                },
            )
            .map(|()| got)
        };
        let got = open().expect("opened");
        for (m, text) in people.iter().zip(&got) {
            let Source::Response(id) = m.source else {
                unreachable!("responses")
            };
            assert_eq!(text, &format!("{{\"n\":{id}}}"));
        }
        store
            .conn
            .execute("DELETE FROM responses WHERE id = 9", [])
            .expect("deleted");
        let e = open().expect_err("one has left");
        assert!(
            e.to_string().contains("respondent R9 left the store"),
            "{e}"
        );
        // The scan itself (not a lookup by id): the rows run out before the last one asked
        // for, and a row missing inside the range is named.
        let mut reader = Reader::open(&readers.path).expect("reader");
        let opener = opener(&key, "s").expect("opener");
        let wrap = OpenKeyWrap::new(&key);
        let tail: Vec<&Member> = people[7..].iter().collect();
        let ids = ascending_ids(&tail).expect("ascending");
        assert_eq!(ids, [24, 27, 30]);
        let read = reader
            .responses_in_range(&tail, &ids, &opener, &wrap)
            .expect("read");
        assert_eq!(read.len(), 3);
        store
            .conn
            .execute("DELETE FROM responses WHERE id = 30", [])
            .expect("deleted");
        let e = reader
            .responses_in_range(&tail, &ids, &opener, &wrap)
            .expect_err("the last has left");
        assert!(
            e.to_string().contains("respondent R30 left the store"),
            "{e}"
        );
        let skipped: Vec<&Member> = people[2..4].iter().collect();
        let e = reader
            .responses_in_range(&skipped, &[9, 12], &opener, &wrap)
            .expect_err("a row inside the range has left");
        assert!(e.to_string().contains("respondent R9 left"), "{e}");
    }

    /// Only a chunk of responses in ascending order of id is read with one scan; a chunk
    /// with a record, or out of order, is read by lookups.
    #[test]
    fn only_ascending_responses_are_read_by_one_scan() {
        let member = |source: Source| Member {
            pair_id: "D".into(),
            person_id: "R".into(),
            side: Side::A,
            pair_status: "singleton",
            source,
        };
        let (one, two, three) = (
            member(Source::Response(1)),
            member(Source::Response(2)),
            member(Source::Response(3)),
        );
        let record = member(Source::Record("R9".into()));
        assert_eq!(ascending_ids(&[&one, &two, &three]), Some(vec![1, 2, 3]));
        assert_eq!(ascending_ids(&[]), Some(vec![]));
        assert_eq!(ascending_ids(&[&one, &three, &two]), None);
        assert_eq!(ascending_ids(&[&one, &one]), None);
        assert_eq!(ascending_ids(&[&one, &record]), None);
    }

    /// A response withdrawn while the roster's answers are read (its id then given to a
    /// response that came in after) fails the command; a response merely added does not.
    #[test]
    fn a_withdrawal_while_answers_are_read_fails_the_roster() {
        let (dir, sha, mut store) = sided_store(4, |_| "C".into());
        let path = dir.path().join("plp.sqlite");
        // Another process's change, made after the roster was read (`ready` runs then).
        let change = |event: &'static str, sql: &'static str| {
            let path = path.clone();
            move || -> Result<()> {
                let mut other = rusqlite::Connection::open(&path)?;
                let tx = other.transaction()?;
                tx.execute_batch(sql)?;
                store::audit(&tx, event, serde_json::json!({}))?;
                tx.commit()?;
                Ok(())
            }
        };
        let people = |r: &Roster| r.people.len();
        let added = "INSERT INTO responses(id, envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope)
             SELECT 5, 5, 5, 't', '2026-01-01', 'D', 'a', 'm', 'accepted', survey_sha256, x'00' FROM responses WHERE id = 1";
        let (first, seen) = roster_with(
            &mut store,
            &sha,
            None,
            change("ingest_batch", added),
            |r, _, ()| Ok(people(r)),
        )
        .expect("an ingest meanwhile changes nothing read");
        assert_eq!((first.people.len(), seen), (4, 4));
        let withdrawn = "DELETE FROM responses WHERE id = 5; DELETE FROM responses WHERE id = 4;
             INSERT INTO responses(id, envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope)
             SELECT 4, 6, 6, 't', '2026-01-01', 'E', 'a', 'm', 'accepted', survey_sha256, x'00' FROM responses WHERE id = 1";
        let e = roster_with(
            &mut store,
            &sha,
            None,
            change(store::WITHDRAWAL, withdrawn),
            |r, _, ()| Ok(people(r)),
        )
        .err()
        .expect("fails");
        assert!(
            e.to_string().starts_with("responses were withdrawn while"),
            "{e}"
        );
        // Once the change is behind it, the roster is read again without complaint.
        let again = roster(&mut store, &sha, None).expect("roster again");
        assert_eq!(again.people.len(), 4);
    }
}
