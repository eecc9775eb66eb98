//! `plp ingest [PATH...]`: envelopes in, one outcome each, nothing half-done.
//!
//! Two stages: [`examine`] is pure (parse, check study and key, open, validate) and
//! [`record`] writes the outcome. Envelopes are committed in batches; a batch is one SQLite
//! transaction, so a killed ingest leaves each envelope fully recorded or not at all, and
//! running the same ingest again reaches the same state (duplicates are recognised by the
//! envelope's SHA-256 and the submission id).

use super::{withdraw, Opened, TagKey};
use crate::args::IngestArgs;
use crate::serve::inbox::{Inbox, INBOX_FILE};
use crate::store::{audit, Store};
use crate::study::{now, INBOX_DIR};
use anyhow::{bail, Context, Result};
use plp_core::envelope::{fingerprint, Envelope, MAX_ENVELOPE_BYTES};
use plp_core::payload::{self, Payload, ResponsePayload, WithdrawalPayload};
use plp_core::seal::KeyPair;
use plp_core::survey::{Side, Survey};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Envelopes per transaction.
const BATCH: usize = 500;
/// Most files one ingest takes (split bigger deliveries).
pub const MAX_FILES: usize = 2_000_000;

/// One envelope to ingest and where it came from.
pub struct Item {
    /// `path` or `path:line`.
    pub source: String,
    /// The bytes, or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
    /// SHA-256 of the bytes (of the whole file when it was too large to read).
    pub sha256: String,
}

/// What examining one envelope found.
pub enum Verdict {
    /// Rejected, with the reason (no plaintext in it).
    Reject(String),
    /// A valid response.
    Response {
        /// The payload.
        payload: Box<ResponsePayload>,
        /// Side of the pair.
        side: Side,
    },
    /// A withdrawal request.
    Withdrawal(WithdrawalPayload),
}

/// The study facts examining needs.
pub struct Examine<'a> {
    /// Study id.
    pub study_id: &'a str,
    /// The unlocked key.
    pub key: &'a KeyPair,
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
    let plain = match cx.key.open(&env) {
        Ok(p) => p,
        Err(e) => return Verdict::Reject(e.to_string()),
    };
    match payload::parse(&plain) {
        Err(e) => Verdict::Reject(e.to_string()),
        Ok(Payload::Withdrawal(w)) => Verdict::Withdrawal(w),
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
                Some(side) => Verdict::Response { payload: p, side },
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
    /// Withdrawal requests matching nobody.
    pub withdrawal_no_match: u64,
    /// Withdrawal requests matching more than one person (left to the evaluator).
    pub withdrawal_ambiguous: u64,
    /// Withdrawal requests after the lock (refused, recorded).
    pub withdrawal_late: u64,
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
        let done = study.path(INBOX_DIR).join("processed");
        std::fs::create_dir_all(&done)?;
        for f in &files {
            if let Some(name) = f.file_name() {
                std::fs::rename(f, done.join(name))
                    .with_context(|| format!("cannot move {} out of the inbox", f.display()))?;
            }
        }
    }
    print_summary(&summary);
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
            let bytes = if fingerprint(&p.envelope) == p.sha256 {
                Ok(p.envelope)
            } else {
                Err("the inbox copy is damaged: its SHA-256 differs from its receipt".into())
            };
            Some(Ok(Item {
                source: format!("{INBOX_FILE}#{}", p.seq),
                sha256: p.sha256,
                bytes,
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
pub fn ingest_files(
    store: &mut Store,
    study_id: &str,
    key: &KeyPair,
    files: &[PathBuf],
) -> Result<Summary> {
    let bar = progress(files.len() as u64);
    let items = files.iter().flat_map(|f| {
        let items = match read_items(f) {
            Ok(v) => v.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        bar.inc(1);
        items
    });
    let summary = ingest_items(store, study_id, key, items, |_| Ok(()))?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Ingests envelopes into the store in batches of [`BATCH`], one transaction each, calling
/// `committed` with the SHA-256 of each batch's envelopes once the store has committed it.
pub fn ingest_items(
    store: &mut Store,
    study_id: &str,
    key: &KeyPair,
    items: impl IntoIterator<Item = Result<Item>>,
    mut committed: impl FnMut(&[String]) -> Result<()>,
) -> Result<Summary> {
    let surveys = load_surveys(store)?;
    let tag_key = TagKey::new(key);
    let cx = Examine {
        study_id,
        key,
        surveys: &surveys,
    };
    let locked = store.locked_at()?.is_some();
    if store.identifiers_destroyed_at()?.is_some() {
        bail!("identifiers have been destroyed: this study takes no more envelopes");
    }
    let mut summary = Summary::default();
    let mut pending: Vec<Item> = Vec::with_capacity(BATCH);
    let mut batch = |pending: &mut Vec<Item>, summary: &mut Summary| -> Result<()> {
        let shas: Vec<String> = pending.iter().map(|i| i.sha256.clone()).collect();
        commit_batch(store, &cx, &tag_key, locked, pending, summary)?;
        if shas.is_empty() {
            return Ok(());
        }
        committed(&shas)
    };
    for item in items {
        pending.push(item?);
        if pending.len() >= BATCH {
            batch(&mut pending, &mut summary)?;
        }
    }
    batch(&mut pending, &mut summary)?;
    store.checkpoint()?;
    Ok(summary)
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

fn commit_batch(
    store: &mut Store,
    cx: &Examine<'_>,
    tag_key: &TagKey,
    locked: bool,
    pending: &mut Vec<Item>,
    summary: &mut Summary,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let tx = store.tx()?;
    let mut batch = Summary::default();
    for item in pending.drain(..) {
        record(&tx, cx, tag_key, locked, item, &mut batch)?;
    }
    audit(&tx, "ingest_batch", serde_json::to_value(&batch)?)?;
    tx.commit()?;
    for (total, add) in [
        (&mut summary.accepted, batch.accepted),
        (&mut summary.duplicate, batch.duplicate),
        (&mut summary.superseded, batch.superseded),
        (&mut summary.rejected, batch.rejected),
        (&mut summary.withdrawn, batch.withdrawn),
        (&mut summary.withdrawal_no_match, batch.withdrawal_no_match),
        (
            &mut summary.withdrawal_ambiguous,
            batch.withdrawal_ambiguous,
        ),
        (&mut summary.withdrawal_late, batch.withdrawal_late),
    ] {
        *total += add;
    }
    Ok(())
}

fn known(tx: &Transaction<'_>, sha: &str) -> Result<bool> {
    let n: i64 = tx.query_row(
        "SELECT (SELECT COUNT(*) FROM responses WHERE envelope_sha256 = ?1)
              + (SELECT COUNT(*) FROM quarantine WHERE envelope_sha256 = ?1)
              + (SELECT COUNT(*) FROM withdrawal_requests WHERE envelope_sha256 = ?1)
              + (SELECT COUNT(*) FROM withdrawn WHERE envelope_sha256 = ?1)",
        [sha],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

fn quarantine(tx: &Transaction<'_>, item: &Item, bytes: &[u8], reason: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO quarantine(envelope_sha256, received_at, source, reason, envelope) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![item.sha256, now(), item.source, reason, bytes],
    )?;
    audit(
        tx,
        "rejected",
        serde_json::json!({ "envelope_sha256": item.sha256, "reason": reason }),
    )
}

/// Records one envelope's outcome inside the batch's transaction.
fn record(
    tx: &Transaction<'_>,
    cx: &Examine<'_>,
    tag_key: &TagKey,
    locked: bool,
    item: Item,
    s: &mut Summary,
) -> Result<()> {
    if known(tx, &item.sha256)? {
        s.duplicate += 1;
        return Ok(());
    }
    let bytes = match &item.bytes {
        Ok(b) => b.clone(),
        Err(reason) => {
            quarantine(tx, &item, &[], reason)?;
            s.rejected += 1;
            return Ok(());
        }
    };
    match examine(&bytes, cx) {
        Verdict::Reject(reason) => {
            quarantine(tx, &item, &bytes, &reason)?;
            s.rejected += 1;
        }
        Verdict::Response { payload, side } => {
            let dup: Option<i64> = tx
                .query_row(
                    "SELECT id FROM responses WHERE submission_id = ?1
                     UNION ALL SELECT 0 FROM withdrawn WHERE submission_id = ?1",
                    [&payload.submission_id],
                    |r| r.get(0),
                )
                .optional()?;
            if dup.is_some() {
                s.duplicate += 1;
                return Ok(());
            }
            if locked {
                quarantine(
                    tx,
                    &item,
                    &bytes,
                    "arrived after the analysis lock; kept here, not analysed",
                )?;
                s.rejected += 1;
                return Ok(());
            }
            let mac = tag_key.mac(&payload.withdrawal_tag);
            let side_s = side_name(side);
            tx.execute(
                "INSERT INTO responses(envelope_sha256, submission_id, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'accepted', ?8, ?9)",
                params![
                    item.sha256,
                    payload.submission_id,
                    now(),
                    payload.consent.date,
                    payload.code,
                    side_s,
                    mac,
                    payload.survey.sha256,
                    bytes
                ],
            )?;
            let new_id = tx.last_insert_rowid();
            s.accepted += 1;
            s.superseded += supersede(
                tx,
                new_id,
                &payload.code,
                side_s,
                &mac,
                &payload.consent.date,
            )?;
        }
        Verdict::Withdrawal(w) => {
            let dup: Option<i64> = tx
                .query_row(
                    "SELECT id FROM withdrawal_requests WHERE request_id = ?1",
                    [&w.request_id],
                    |r| r.get(0),
                )
                .optional()?;
            if dup.is_some() {
                s.duplicate += 1;
                return Ok(());
            }
            let outcome = if locked {
                audit(
                    tx,
                    "late_withdrawal_request",
                    serde_json::json!({ "request_id": w.request_id, "via": "sealed request" }),
                )?;
                s.withdrawal_late += 1;
                "late"
            } else {
                let mac = tag_key.mac(&w.withdrawal_tag);
                let people = withdraw::find_people(tx, &mac, w.code.as_deref(), None)?;
                match people.len() {
                    0 => {
                        audit(
                            tx,
                            "withdrawal_no_match",
                            serde_json::json!({ "request_id": w.request_id }),
                        )?;
                        s.withdrawal_no_match += 1;
                        "no_match"
                    }
                    1 => {
                        let n = withdraw::destroy(tx, &people[0].ids)?;
                        audit(
                            tx,
                            "withdrawal",
                            serde_json::json!({ "request_id": w.request_id, "via": "sealed request", "responses_destroyed": n }),
                        )?;
                        s.withdrawn += 1;
                        "withdrawn"
                    }
                    n => {
                        audit(
                            tx,
                            "withdrawal_ambiguous",
                            serde_json::json!({ "request_id": w.request_id, "people_matched": n }),
                        )?;
                        s.withdrawal_ambiguous += 1;
                        "ambiguous"
                    }
                }
            };
            tx.execute(
                "INSERT INTO withdrawal_requests(envelope_sha256, request_id, received_at, outcome) VALUES (?1, ?2, ?3, ?4)",
                params![item.sha256, w.request_id, now(), outcome],
            )?;
        }
    }
    Ok(())
}

/// The side as stored.
pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::A => "a",
        Side::B => "b",
        Side::Either => "either",
    }
}

/// Keeps the newest response of a person (same code, side and tag) accepted and marks the
/// others superseded. Newest is the later consent date, then the later arrival.
fn supersede(
    tx: &Transaction<'_>,
    new_id: i64,
    code: &str,
    side: &str,
    mac: &str,
    _date: &str,
) -> Result<u64> {
    let mut stmt = tx.prepare(
        "SELECT id FROM responses WHERE code = ?1 AND side = ?2 AND tag_mac = ?3 AND state = 'accepted'
         ORDER BY consent_date DESC, id DESC",
    )?;
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
    let _ = new_id;
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

/// Reads the envelopes of one file: the whole file, or one per line for `.jsonl`/`.ndjson`.
/// A file over the size limit is hashed, not read into memory.
pub fn read_items(path: &Path) -> Result<Vec<Item>> {
    let source = path.display().to_string();
    if is_lines(path) {
        let f = std::fs::File::open(path).with_context(|| format!("cannot read {source}"))?;
        let mut items = Vec::new();
        let mut reader = std::io::BufReader::new(f);
        let mut line = Vec::new();
        let mut n = 0;
        loop {
            line.clear();
            let read = (&mut reader)
                .take(MAX_ENVELOPE_BYTES as u64 + 2)
                .read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            n += 1;
            let too_long = !line.ends_with(b"\n") && read as u64 > MAX_ENVELOPE_BYTES as u64;
            if too_long {
                // Skip the rest of the over-long line.
                let mut rest = Vec::new();
                reader.read_until(b'\n', &mut rest)?;
                let mut all = line.clone();
                all.extend_from_slice(&rest);
                items.push(Item {
                    source: format!("{source}:{n}"),
                    sha256: fingerprint(&all),
                    bytes: Err(format!(
                        "envelope on line {n} is over the limit of {MAX_ENVELOPE_BYTES} bytes"
                    )),
                });
                continue;
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            items.push(Item {
                source: format!("{source}:{n}"),
                sha256: fingerprint(&line),
                bytes: Ok(line.clone()),
            });
        }
        return Ok(items);
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
        return Ok(vec![Item {
            source,
            sha256: hex::encode(h.finalize()),
            bytes: Err(format!(
                "file is {size} bytes, over the envelope limit of {MAX_ENVELOPE_BYTES}; not read"
            )),
        }]);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
    Ok(vec![Item {
        source,
        sha256: fingerprint(&bytes),
        bytes: Ok(bytes),
    }])
}

fn print_summary(s: &Summary) {
    println!("{:<34} {:>8}", "outcome", "count");
    for (name, n) in [
        ("accepted", s.accepted),
        ("duplicate (already stored)", s.duplicate),
        ("superseded (older resubmission)", s.superseded),
        ("rejected (kept in quarantine)", s.rejected),
        ("withdrawal: responses destroyed", s.withdrawn),
        ("withdrawal: no match", s.withdrawal_no_match),
        ("withdrawal: ambiguous, see audit", s.withdrawal_ambiguous),
        ("withdrawal: after lock, refused", s.withdrawal_late),
    ] {
        println!("{name:<34} {n:>8}");
    }
    if s.withdrawal_ambiguous > 0 {
        eprintln!(
            "note: {} withdrawal request(s) matched more than one person; ask the respondent for their role and run `plp withdraw --word ... --role ...`",
            s.withdrawal_ambiguous
        );
    }
}
