//! The study store: SQLite in WAL mode, ciphertext only.
//!
//! Beside each accepted envelope it keeps what linkage and withdrawal need without opening
//! anything: pair code, side, submission id, received time, and the withdrawal tag under an
//! HMAC keyed from the private key (so the database file alone cannot be searched with a
//! dictionary of memorable words). `secure_delete` is on, so destroyed rows are overwritten.
//! Every change is recorded in a hash-chained audit log in the same transaction.
//!
//! Beside each accepted envelope it may also keep `open_key`: the AEAD key and nonce that
//! HPKE derived for that envelope, encrypted under a key derived from the private key
//! ([`OpenKeyWrap`]). With it an export decrypts the envelope's own ciphertext with AES-GCM
//! alone instead of repeating the X25519 step; it reveals nothing to anyone without the
//! private key, who could open the envelope anyway. Rows without it (stores made before it
//! existed) are opened the long way.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context, Result};
use plp_core::fastopen::{AeadKey, Opener};
use plp_core::seal::KeyPair;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use std::path::Path;
use zeroize::Zeroizing;

const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE surveys (
    sha256 TEXT PRIMARY KEY,
    survey_id TEXT NOT NULL,
    version TEXT NOT NULL,
    definition BLOB NOT NULL
);
-- `envelope`: the bytes received, or packed when they are exactly what plp writes for
-- that envelope (`Envelope::pack`: a quarter smaller; `received_bytes` gives them back).
-- No index on `envelope_sha256` or `submission_id`, and the tag's indexed by its first 16
-- hex digits: each is a random key, so each insert into its index lands on a random page.
-- The three full keys' indexes took a fifth of an ingest of a million (docs/performance.md,
-- session 15); without the two unique ones, ingest took 13% less (session 16). Ingest keeps
-- them unique itself: it loads every hash and id (`Seen`) inside
-- the write transaction, reloading when another process has written. Stores made before
-- keep their unique indexes (or take this form while they hold no response); the queries
-- by tag name both the prefix and the full tag, so either index serves them.
CREATE TABLE responses (
    id INTEGER PRIMARY KEY,
    envelope_sha256 TEXT NOT NULL,
    submission_id TEXT,
    received_at TEXT NOT NULL,
    consent_date TEXT NOT NULL,
    code TEXT,
    side TEXT NOT NULL CHECK (side IN ('a', 'b', 'either')),
    tag_mac TEXT,
    state TEXT NOT NULL CHECK (state IN ('accepted', 'superseded')),
    superseded_by INTEGER REFERENCES responses(id),
    survey_sha256 TEXT NOT NULL REFERENCES surveys(sha256),
    envelope BLOB NOT NULL
);
CREATE INDEX responses_tag ON responses(substr(tag_mac, 1, 16));
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    envelope_sha256 TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    envelope BLOB NOT NULL
);
-- Envelopes destroyed by a withdrawal: their SHA-256 and submission id only, so the same
-- envelope ingested again (a re-run, a retried upload) is not stored again.
CREATE TABLE withdrawn (
    envelope_sha256 TEXT PRIMARY KEY,
    submission_id TEXT UNIQUE
);
CREATE TABLE withdrawal_requests (
    id INTEGER PRIMARY KEY,
    envelope_sha256 TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    -- Kept until the lock, so that a request still acts on responses that arrive after it
    -- (see `withdraw::settle`): its keyed tag, the pair code it names (once it has
    -- matched, the person's code and side) and its date. The lock erases them.
    tag_mac TEXT,
    code TEXT,
    side TEXT,
    date TEXT
);
-- WITHOUT ROWID: the key is the table (one B-tree less per pseudonym drawn). The unique
-- index by pseudonym stands apart, so that an export drawing many at once can build it
-- after inserting them (see `Pseudonyms::save`). Stores made before keep their form
-- (rowid, or the uniqueness inside the table), which reads and writes the same. The
-- index leads with the pseudonym: the same rows are unique as with (kind, pseudonym),
-- but building it compares pseudonyms, which all differ, instead of first a kind that
-- nearly all share (1.5 million rows: 2.5-2.7 s against 3.6-3.8 s in the sqlite3 shell).
CREATE TABLE pseudonyms (
    kind TEXT NOT NULL CHECK (kind IN ('pair', 'person')),
    key TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX pseudonyms_unique ON pseudonyms(pseudonym, kind);
CREATE TABLE records (
    person_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL,
    side TEXT NOT NULL,
    survey_sha256 TEXT NOT NULL REFERENCES surveys(sha256),
    envelope BLOB NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"#;

/// Added to stores after version 1 (additive: older stores gain them when opened).
/// `open_key`: see [`OpenKeyWrap`]; `responses_roster`: counting and listing accepted
/// responses (with what linkage needs) from the index alone, without reading every 3 KB
/// envelope; it replaces `responses_state` and `responses_code` (which `responses_tag`
/// and it made redundant: fewer indexes to keep up at ingest), which older stores lose;
/// an empty pseudonym table of an older form (rowid, or its uniqueness inside the table)
/// takes the schema's (WITHOUT ROWID, with the separate index `pseudonyms_unique`), and
/// so does an empty response table with unique indexes on its random keys; withdrawal
/// requests gain the columns that keep a request's tag until the lock.
fn migrate(conn: &mut Connection) -> Result<()> {
    let has = |conn: &Connection, sql: &str| -> Result<bool> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? > 0)
    };
    let column = "SELECT COUNT(*) FROM pragma_table_info('responses') WHERE name = 'open_key'";
    let index =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'responses_roster'";
    let superseded =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'responses_superseded'";
    let redundant = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
        AND name IN ('responses_state', 'responses_code')";
    // An older form of the pseudonym table (rowid, or uniqueness inside the table), still
    // empty: nothing to keep, so it takes the schema's form.
    let old_pseudonyms = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'pseudonyms' \
        AND (sql NOT LIKE '%WITHOUT ROWID%' OR sql LIKE '%UNIQUE%') \
        AND NOT EXISTS (SELECT 1 FROM pseudonyms)";
    // Responses with unique indexes on their random keys (before session 16), still empty.
    let old_responses = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'responses' \
        AND sql LIKE '%UNIQUE%' AND NOT EXISTS (SELECT 1 FROM responses)";
    // Requests kept with their tag until the lock (session 17).
    let request_tags =
        "SELECT COUNT(*) FROM pragma_table_info('withdrawal_requests') WHERE name = 'tag_mac'";
    if has(conn, column)?
        && has(conn, request_tags)?
        && has(conn, index)?
        && has(conn, superseded)?
        && !has(conn, redundant)?
        && !has(conn, old_pseudonyms)?
        && !has(conn, old_responses)?
    {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if has(&tx, old_responses)? {
        // Its indexes go with it; `open_key` and the roster and superseded indexes follow.
        tx.execute_batch(&format!(
            "DROP TABLE responses; {} {}",
            schema_statement("CREATE TABLE responses"),
            schema_statement("CREATE INDEX responses_tag")
        ))?;
    }
    if !has(&tx, column)? {
        tx.execute_batch("ALTER TABLE responses ADD COLUMN open_key BLOB")?;
    }
    if !has(&tx, request_tags)? {
        tx.execute_batch(
            "ALTER TABLE withdrawal_requests ADD COLUMN tag_mac TEXT;
             ALTER TABLE withdrawal_requests ADD COLUMN code TEXT;
             ALTER TABLE withdrawal_requests ADD COLUMN side TEXT;
             ALTER TABLE withdrawal_requests ADD COLUMN date TEXT;",
        )?;
    }
    tx.execute_batch(ROSTER_INDEX)?;
    tx.execute_batch(SUPERSEDED_INDEX)?;
    tx.execute_batch("DROP INDEX IF EXISTS responses_state; DROP INDEX IF EXISTS responses_code")?;
    if has(&tx, old_pseudonyms)? {
        tx.execute_batch(&format!(
            "DROP TABLE pseudonyms; {} {}",
            schema_statement("CREATE TABLE pseudonyms"),
            pseudonyms_unique()
        ))?;
    }
    tx.commit()?;
    Ok(())
}

/// Whether the study is locked, as a connection (or a transaction on it) sees it now.
pub fn locked(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM meta WHERE key = 'locked_at'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// The statement of [`SCHEMA`] that starts with `start`, up to its `;`.
fn schema_statement(start: &str) -> &'static str {
    let from = SCHEMA.find(start).expect("in the schema");
    let to = from + SCHEMA[from..].find(';').expect("ends") + 1;
    &SCHEMA[from..to]
}

/// The unique index of pseudonyms by pseudonym, as the schema creates it (for
/// `Pseudonyms::save`, which builds it anew after a large draw).
pub fn pseudonyms_unique() -> &'static str {
    schema_statement("CREATE UNIQUE INDEX pseudonyms_unique")
}

/// The responses that superseded ones point to (`superseded_by`), which are few. With
/// foreign keys on, deleting a response (a withdrawal, `destroy-identifiers`) looks for
/// rows that point to it; without this index that was a scan of the whole table for
/// every response deleted: 20 deletions from 100,000 responses took 2.28 s (0.002-0.004 s
/// with it), so `destroy-identifiers` of 100,000 had not finished after 12 minutes.
const SUPERSEDED_INDEX: &str = "CREATE INDEX IF NOT EXISTS responses_superseded \
    ON responses(superseded_by) WHERE superseded_by IS NOT NULL";

/// Accepted responses with their pair code and side, in an index of ~20 bytes a row.
const ROSTER_INDEX: &str = "CREATE INDEX IF NOT EXISTS responses_roster \
    ON responses(state, code, side)";

/// The key that encrypts each response's `open_key`: HMAC-SHA256(private key,
/// "plp-store-open-key/1"), used with AES-256-GCM, a random 96-bit nonce per row, and the
/// envelope's SHA-256 as associated data (a wrapped key moved to another row fails).
pub struct OpenKeyWrap(Aes256Gcm);

/// Associated-data prefix of a wrapped key.
const OPEN_KEY_AAD: &[u8] = b"plp-open-key/1\0";

impl OpenKeyWrap {
    /// Derives the wrapping key from the study key.
    pub fn new(key: &KeyPair) -> Self {
        let k = crate::keyfile::subkey(key, b"plp-store-open-key/1");
        OpenKeyWrap(crate::keyfile::cipher(&k))
    }

    fn aad(envelope_sha256: &str) -> Vec<u8> {
        [OPEN_KEY_AAD, envelope_sha256.as_bytes()].concat()
    }

    /// nonce || AES-256-GCM(key and nonce of the envelope).
    pub fn wrap(&self, envelope_sha256: &str, key: &AeadKey) -> Vec<u8> {
        let nonce = crate::study::nonce::<12>();
        let plain = key.to_bytes();
        let ct = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plain[..],
                    aad: &Self::aad(envelope_sha256),
                },
            )
            .expect("AES-GCM encrypts 44 bytes");
        [&nonce[..], &ct].concat()
    }

    /// The envelope's key, or `None` when the blob does not decrypt for this envelope.
    pub fn unwrap(&self, envelope_sha256: &str, blob: &[u8]) -> Option<AeadKey> {
        let (nonce, ct) = blob.split_at_checked(12)?;
        let plain = Zeroizing::new(
            self.0
                .decrypt(
                    &Nonce::try_from(nonce).ok()?,
                    Payload {
                        msg: ct,
                        aad: &Self::aad(envelope_sha256),
                    },
                )
                .ok()?,
        );
        let bytes: &[u8; AeadKey::LEN] = plain.as_slice().try_into().ok()?;
        Some(AeadKey::from_bytes(bytes))
    }
}

/// An opener for the study key whose X25519 step is AWS-LC's (formally verified assembly,
/// about twice as fast as x25519-dalek here); everything else is [`Opener`]'s, written
/// against RFC 9180 in core and checked against the `hpke` crate.
pub fn opener(key: &KeyPair, study_id: &str) -> Result<Opener> {
    use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};
    let sk = PrivateKey::from_private_key(&X25519, key.secret())
        .map_err(|_| anyhow::anyhow!("AWS-LC refuses the study's X25519 private key"))?;
    let dh = move |pk: &[u8; 32]| {
        agree(&sk, UnparsedPublicKey::new(&X25519, pk), (), |shared| {
            let mut out = zeroize::Zeroizing::new([0u8; 32]);
            out.copy_from_slice(shared);
            Ok(out)
        })
        .ok()
    };
    Ok(Opener::new(key, study_id).with_dh(Box::new(dh)))
}

/// The hash that starts the audit chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An open store.
pub struct Store {
    /// The connection; commands run their own transactions through [`Store::tx`].
    pub conn: Connection,
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

/// Page size of a new store, in bytes. A response row (its ~3 KB envelope and a few ids)
/// takes a page of its own at SQLite's default of 4 KiB, and two share one of 8 KiB: half
/// as many pages to write and look up when ingesting. A million envelopes, same binary,
/// stores alternating: ingest 84.57 / 80.95 / 81.05 s against 90.99 / 88.02 / 96.81 s at
/// 4 KiB; the first export 43.46 / 42.34 s against 42.78 / 43.95 s (reading one row now
/// reads 8 KiB). At 16 KiB both were slower (ingest 96 s, export 72 s against 84 and 54 s
/// then). Stores made before keep 4 KiB. (Measured with envelopes kept as received; kept
/// packed since, a row is ~2.5 KB and an 8 KiB page holds 2.77 of a million on average.)
const PAGE_SIZE: i64 = 8192;

/// How long a command waits for another one's write to finish before it gives up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Store {
    /// Creates a new store; fails if the file exists.
    pub fn create(path: &Path, study_id: &str, key_id: &str) -> Result<Store> {
        Store::create_with_pages(path, study_id, key_id, PAGE_SIZE)
    }

    /// [`Store::create`] with pages of `page_size` bytes (tests make older stores' 4 KiB).
    fn create_with_pages(
        path: &Path,
        study_id: &str,
        key_id: &str,
        page_size: i64,
    ) -> Result<Store> {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a store",
                path.display()
            );
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot create the store {}", path.display()))?;
        // Set before anything is written: a store keeps the page size it was made with.
        conn.pragma_update(None, "page_size", page_size)?;
        configure(&conn)?;
        let mut store = Store { conn };
        let tx = store.conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        for (k, v) in [
            ("schema_version", SCHEMA_VERSION),
            ("study_id", study_id),
            ("key_id", key_id),
            ("audit_head", GENESIS),
        ] {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                params![k, v],
            )?;
        }
        audit(
            &tx,
            "store_created",
            serde_json::json!({ "study_id": study_id, "key_id": key_id }),
        )?;
        tx.commit()?;
        migrate(&mut store.conn)?;
        Ok(store)
    }

    /// Opens the store of a study, checking it belongs to it.
    pub fn open(path: &Path, study_id: &str, key_id: &str) -> Result<Store> {
        if !path.exists() {
            bail!("the store {} is missing", path.display());
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the store {}", path.display()))?;
        configure(&conn)?;
        let mut store = Store { conn };
        let sid = store.meta("study_id")?;
        let kid = store.meta("key_id")?;
        if sid.as_deref() != Some(study_id) || kid.as_deref() != Some(key_id) {
            bail!(
                "the store {} belongs to study {} (key {}), not {study_id} (key {key_id})",
                path.display(),
                sid.unwrap_or_default(),
                kid.unwrap_or_default()
            );
        }
        migrate(&mut store.conn)?;
        Ok(store)
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// When analysis began (`plp lock`), if it has.
    pub fn locked_at(&self) -> Result<Option<String>> {
        self.meta("locked_at")
    }

    /// When identifiers were destroyed, if they have been.
    pub fn identifiers_destroyed_at(&self) -> Result<Option<String>> {
        self.meta("identifiers_destroyed_at")
    }

    /// Starts a transaction that takes the write lock at once.
    pub fn tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    /// Records a survey definition under its SHA-256 (idempotent).
    pub fn add_survey(&mut self, sha256: &str, id: &str, version: &str, json: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO surveys(sha256, survey_id, version, definition) VALUES (?1, ?2, ?3, ?4)",
            params![sha256, id, version, json],
        )?;
        Ok(())
    }

    /// Switches the store to a rollback journal for a bulk write, when no other connection
    /// has it open (otherwise it stays in WAL mode: slower, not wrong); returns whether it
    /// switched. [`Store::end_bulk`] switches back.
    ///
    /// Why: ingest commits transactions of up to hundreds of megabytes. In WAL mode every
    /// page is written twice (to the log, then by the checkpoint into the file), and
    /// SQLite's documentation advises a rollback journal for transactions over ~100 MB;
    /// with one, pages new to the file are written once and not journaled at all. A commit
    /// is as atomic and as durable (`synchronous=FULL`) in either mode, and a write killed
    /// half-way is rolled back from the journal by the next connection. The cost: while a
    /// transaction bigger than the page cache is written, other commands cannot read the
    /// store (they wait up to the 10 s busy timeout, then fail saying it is locked), where
    /// in WAL mode they read the last commit.
    pub fn begin_bulk(&self) -> Result<bool> {
        // Without waiting: another connection (a reader, another command) means WAL stays.
        self.conn.busy_timeout(std::time::Duration::ZERO)?;
        let switched = self
            .conn
            .query_row("PRAGMA journal_mode = TRUNCATE", [], |r| {
                r.get::<_, String>(0)
            })
            .is_ok_and(|m| m.eq_ignore_ascii_case("truncate"));
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(switched)
    }

    /// Back to WAL mode after [`Store::begin_bulk`] (every connection also sets it when it
    /// opens the store, so a store left in the other mode by a killed write comes back).
    pub fn end_bulk(&self) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("the store did not return to WAL mode (it is in {mode} mode)");
        }
        Ok(())
    }

    /// Moves every WAL page back into the main file and truncates the WAL, so deleted
    /// ciphertext does not linger in the log.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Sets a meta value inside a transaction.
pub fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn chain_hash(prev: &str, seq: i64, at: &str, event: &str, detail: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev, &seq.to_string(), at, event, detail] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an audit event inside the caller's transaction, chained to the previous one.
/// Details must never hold a memorable word, a pair code or answers.
pub fn audit(tx: &Transaction<'_>, event: &str, detail: serde_json::Value) -> Result<()> {
    let prev: String =
        tx.query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| {
            r.get(0)
        })?;
    let seq = audit_seq(tx)? + 1;
    let at = crate::study::now();
    let detail = detail.to_string();
    let hash = chain_hash(&prev, seq, &at, event, &detail);
    tx.execute(
        "INSERT INTO audit(seq, at, event, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, at, event, detail, prev, hash],
    )?;
    set_meta(tx, "audit_head", &hash)?;
    Ok(())
}

/// Audit event of a withdrawal that destroyed responses (`plp withdraw`, or a sealed
/// request at ingest). Named once: [`destroyed_since`] looks for it.
pub const WITHDRAWAL: &str = "withdrawal";
/// Audit event of `plp destroy-identifiers`, which destroys every response.
pub const IDENTIFIERS_DESTROYED: &str = "identifiers_destroyed";

/// The audit log's last position (0 when empty): where [`destroyed_since`] looks from.
pub fn audit_seq(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?)
}

/// Whether responses were destroyed after audit position `seq`. A response's id is its row
/// id, which SQLite gives again once the highest row is deleted: a command that read ids
/// before a withdrawal could find a later response under a withdrawn one's id.
pub fn destroyed_since(conn: &Connection, seq: i64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM audit WHERE seq > ?1 AND event IN (?2, ?3))",
        params![seq, WITHDRAWAL, IDENTIFIERS_DESTROYED],
        |r| r.get(0),
    )?)
}

/// One audit event as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// What happened.
    pub event: String,
    /// Details, JSON.
    pub detail: String,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// Hash of this event.
    pub hash: String,
}

/// Reads the audit log in order.
pub fn audit_events(conn: &Connection) -> Result<Vec<AuditEvent>> {
    let mut stmt =
        conn.prepare("SELECT seq, at, event, detail, prev_hash, hash FROM audit ORDER BY seq")?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditEvent {
            seq: r.get(0)?,
            at: r.get(1)?,
            event: r.get(2)?,
            detail: r.get(3)?,
            prev_hash: r.get(4)?,
            hash: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Verifies the audit chain; returns the problems found (empty when intact).
pub fn verify_audit(conn: &Connection) -> Result<Vec<String>> {
    let events = audit_events(conn)?;
    let head: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    for e in &events {
        // Compared with the event before, not with the position, so one deleted event is
        // reported once rather than shifting every later one.
        if e.seq != expected_seq {
            problems.push(format!(
                "event {expected_seq} is missing (found {} in its place)",
                e.seq
            ));
        }
        expected_seq = e.seq + 1;
        if e.prev_hash != prev {
            problems.push(format!(
                "event {} does not follow the event before it (prev_hash differs)",
                e.seq
            ));
        }
        let h = chain_hash(&e.prev_hash, e.seq, &e.at, &e.event, &e.detail);
        if h != e.hash {
            problems.push(format!(
                "event {} ({}) was altered: its hash does not match its content",
                e.seq, e.event
            ));
        }
        prev = e.hash.clone();
    }
    if head.as_deref() != Some(prev.as_str()) {
        problems
            .push("the newest events are missing: the chain ends before the recorded head".into());
    }
    Ok(problems)
}

#[cfg(test)]
mod opener_tests {
    use super::opener;
    use crate::study::random;
    use plp_core::fastopen::{x25519, Opener};
    use plp_core::seal::KeyPair;

    /// AWS-LC's X25519, as `opener` plugs it in, against x25519-dalek (core's default) on
    /// random private keys and random 32-byte public values (most not on the curve's prime
    /// subgroup, some with the top bit set): the same shared value, or the same refusal
    /// (AWS-LC refuses an all-zero result; core then reports an authentication failure).
    #[test]
    fn aws_lc_x25519_agrees_with_dalek_on_random_inputs() {
        use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};
        // Points of small order (the all-zero result, which AWS-LC refuses), then random ones.
        let hex32 =
            |h: &str| -> [u8; 32] { hex::decode(h).expect("hex").try_into().expect("32 bytes") };
        let small = [
            [0u8; 32],
            hex32("0100000000000000000000000000000000000000000000000000000000000000"),
            hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
            hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        ];
        let mut refused = 0;
        for i in 0..2000 {
            let sk: [u8; 32] = random();
            let pk: [u8; 32] = small.get(i).copied().unwrap_or_else(random);
            let ours = x25519(&sk, &pk);
            let key = PrivateKey::from_private_key(&X25519, &sk).expect("any 32 bytes");
            let theirs = agree(&key, UnparsedPublicKey::new(&X25519, pk), (), |s| {
                Ok(s.to_vec())
            });
            match theirs {
                Ok(s) => assert_eq!(s, ours.to_vec(), "sk {sk:02x?} pk {pk:02x?}"),
                Err(_) => {
                    assert_eq!(*ours, [0u8; 32], "AWS-LC refused a non-zero result");
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, small.len(), "every small-order point is refused");
    }

    /// The whole opener with AWS-LC inside opens what the `hpke` crate seals, to the same
    /// bytes as the `hpke` crate's own open, and refuses a flipped byte.
    #[test]
    fn the_aws_lc_opener_opens_what_hpke_seals() {
        for i in 0..200u8 {
            let kp = KeyPair::derive(random());
            let msg = vec![i; i as usize * 7];
            let env = kp
                .public()
                .seal("plp-bench", &msg, random())
                .expect("seals");
            let fast = opener(&kp, "plp-bench").expect("AWS-LC takes the key");
            let opened = fast.open(&env).expect("opens");
            assert_eq!(
                opened.plaintext.to_vec(),
                kp.open(&env).expect("hpke opens").to_vec()
            );
            assert_eq!(opened.plaintext.to_vec(), msg);
            let mut bad = env.clone();
            bad.enc[usize::from(i) % 31] ^= 1;
            assert!(fast.open(&bad).is_err());
            assert!(Opener::new(&kp, "plp-bench").open(&bad).is_err());
        }
    }
}

/// The response table as stores made before session 16 have it (unique indexes on the
/// envelope's hash and the submission id, the full tag indexed), for tests of either form.
#[cfg(test)]
pub const RESPONSES_BEFORE_16: &str = "DROP TABLE responses;
CREATE TABLE responses (
    id INTEGER PRIMARY KEY,
    envelope_sha256 TEXT NOT NULL UNIQUE,
    submission_id TEXT UNIQUE,
    received_at TEXT NOT NULL,
    consent_date TEXT NOT NULL,
    code TEXT,
    side TEXT NOT NULL CHECK (side IN ('a', 'b', 'either')),
    tag_mac TEXT,
    state TEXT NOT NULL CHECK (state IN ('accepted', 'superseded')),
    superseded_by INTEGER REFERENCES responses(id),
    survey_sha256 TEXT NOT NULL REFERENCES surveys(sha256),
    envelope BLOB NOT NULL
);
CREATE INDEX responses_tag ON responses(tag_mac);";

/// A new store in `dir`, its responses in the form before session 16 if `older`, with a
/// survey `x` and responses from `values`: a VALUES list of (envelope_sha256, received_at,
/// consent_date, code, side, tag_mac, state), all answering survey `x`.
#[cfg(test)]
pub fn store_with(dir: &Path, older: bool, values: &str) -> Store {
    let store = Store::create(&dir.join("plp.sqlite"), "s", "k").expect("created");
    if older {
        store
            .conn
            .execute_batch(RESPONSES_BEFORE_16)
            .expect("the older form");
    }
    store
        .conn
        .execute_batch(&format!(
            "INSERT INTO surveys VALUES ('x', 'survey', '1', x'7b7d');
             INSERT INTO responses(envelope_sha256, received_at, consent_date, code, side, tag_mac, state, survey_sha256, envelope)
             SELECT column1, column2, column3, column4, column5, column6, column7, 'x', x'00' FROM (VALUES {values});"
        ))
        .expect("responses");
    store
}

/// How a query by tag searches `responses_tag` in either form of the store.
#[cfg(test)]
pub fn tag_search(older: bool) -> &'static str {
    if older {
        "SEARCH responses USING INDEX responses_tag (tag_mac=?)"
    } else {
        "SEARCH responses USING INDEX responses_tag (<expr>=?)"
    }
}

/// What `EXPLAIN QUERY PLAN` says of `sql` (its parameters left unbound), one line per step.
#[cfg(test)]
pub fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("a query to explain");
    let mut rows = stmt.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next().expect("a step") {
        steps.push(row.get(3).expect("its detail"));
    }
    steps
}

#[cfg(test)]
mod migrate_tests {
    use super::{store_with, Store, PAGE_SIZE, RESPONSES_BEFORE_16};

    fn responses_sql(store: &Store) -> (String, String) {
        let sql = |name: &str| {
            store
                .conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .expect("in the schema")
        };
        (sql("responses"), sql("responses_tag"))
    }

    /// A new store indexes no random key of a response but the tag's first 16 digits; an
    /// older store's table takes that form when opened while it holds no response, and
    /// keeps its unique indexes (and its rows) once it has any.
    #[test]
    fn responses_index_only_the_tags_prefix() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plp.sqlite");
        let store = Store::create(&path, "s", "k").expect("created");
        let new_form = |store: &Store| {
            let (table, tag) = responses_sql(store);
            !table.contains("UNIQUE") && tag.contains("substr(tag_mac, 1, 16)")
        };
        assert!(new_form(&store));
        store
            .conn
            .execute_batch(RESPONSES_BEFORE_16)
            .expect("the older form");
        assert!(!new_form(&store));
        drop(store);
        let store = Store::open(&path, "s", "k").expect("opened");
        assert!(new_form(&store));
        assert!(has_open_key(&store));
        assert_eq!(
            indexes(&store),
            ["responses_roster", "responses_superseded", "responses_tag"]
        );
        drop(store);
        let older = tempfile::tempdir().expect("temporary folder");
        drop(store_with(
            older.path(),
            true,
            "('e', 't', 'd', 'A', 'a', 'tag', 'accepted')",
        ));
        let store = Store::open(&older.path().join("plp.sqlite"), "s", "k").expect("opened");
        let (table, tag) = responses_sql(&store);
        assert!(
            table.contains("UNIQUE") && tag.ends_with("(tag_mac)"),
            "{table} {tag}"
        );
        let kept: String = store
            .conn
            .query_row("SELECT envelope_sha256 FROM responses", [], |r| r.get(0))
            .expect("kept");
        assert_eq!(kept, "e");
        assert!(has_open_key(&store));
    }

    fn has_open_key(store: &Store) -> bool {
        store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('responses') WHERE name = 'open_key'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .expect("columns")
            == 1
    }

    fn pseudonyms_sql(store: &Store) -> String {
        store
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'pseudonyms'",
                [],
                |r| r.get(0),
            )
            .expect("the table")
    }

    fn indexes(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'responses' AND sql IS NOT NULL ORDER BY name")
            .expect("query");
        let names = stmt.query_map([], |r| r.get(0)).expect("rows");
        names.collect::<Result<_, _>>().expect("names")
    }

    /// A new store has pages of [`PAGE_SIZE`]; a store made with SQLite's default keeps its
    /// pages when opened, and is read and written as before.
    #[test]
    fn new_stores_have_large_pages_and_older_ones_keep_theirs() {
        let page_size = |store: &Store| -> i64 {
            store
                .conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .expect("page size")
        };
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plp.sqlite");
        let store = Store::create(&path, "s", "k").expect("created");
        assert_eq!(page_size(&store), PAGE_SIZE);
        drop(store);
        assert_eq!(
            page_size(&Store::open(&path, "s", "k").expect("opened")),
            PAGE_SIZE
        );
        // An older store: SQLite's default page size.
        let old = dir.path().join("old.sqlite");
        drop(Store::create_with_pages(&old, "s", "k", 4096).expect("an older store"));
        let mut store = Store::open(&old, "s", "k").expect("opened");
        assert_eq!(page_size(&store), 4096);
        store.add_survey("v", "plp", "1", b"{}").expect("written");
        drop(store);
        let store = Store::open(&old, "s", "k").expect("opened again");
        assert_eq!(page_size(&store), 4096);
        let surveys: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM surveys", [], |r| r.get(0))
            .expect("count");
        assert_eq!(surveys, 1);
    }

    /// Deleting a response (foreign keys on) looks for the rows that point to it through
    /// `responses_superseded`, not a scan of every response (see `SUPERSEDED_INDEX`).
    #[test]
    fn responses_pointing_to_a_response_are_found_by_index() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let store = Store::create(&dir.path().join("plp.sqlite"), "s", "k").expect("created");
        let plan: Vec<String> = store
            .conn
            .prepare("EXPLAIN QUERY PLAN SELECT 1 FROM responses WHERE superseded_by = ?1")
            .expect("plan")
            .query_map([1], |r| r.get(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("plan");
        assert!(
            plan.iter().any(|d| d.contains("responses_superseded")),
            "{plan:?}"
        );
    }

    /// A store made before the roster and superseded indexes gains them when opened, and
    /// loses the two indexes the roster index replaces; a new store has them from the start.
    #[test]
    fn older_stores_gain_the_roster_index() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plp.sqlite");
        let store = Store::create(&path, "s", "k").expect("created");
        assert_eq!(
            indexes(&store),
            ["responses_roster", "responses_superseded", "responses_tag"]
        );
        store
            .conn
            .execute_batch(
                "DROP INDEX responses_roster; DROP INDEX responses_superseded; CREATE INDEX responses_state ON responses(state); CREATE INDEX responses_code ON responses(code);",
            )
            .expect("the older form");
        drop(store);
        let store = Store::open(&path, "s", "k").expect("opened");
        assert_eq!(
            indexes(&store),
            ["responses_roster", "responses_superseded", "responses_tag"]
        );
    }

    /// New stores keep pseudonyms WITHOUT ROWID; an older store's rowid table takes that
    /// form when opened while still empty, and keeps its form (and rows) once it has any.
    #[test]
    fn an_empty_rowid_pseudonym_table_takes_the_new_form() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plp.sqlite");
        let store = Store::create(&path, "s", "k").expect("created");
        let new_form = |store: &Store| {
            let sql = pseudonyms_sql(store);
            let index: i64 = store
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE name = 'pseudonyms_unique'",
                    [],
                    |r| r.get(0),
                )
                .expect("schema");
            sql.contains("WITHOUT ROWID") && !sql.contains("UNIQUE") && index == 1
        };
        assert!(new_form(&store));
        // Session 4's form: WITHOUT ROWID, uniqueness inside the table.
        let inline = "DROP TABLE pseudonyms; CREATE TABLE pseudonyms (kind TEXT NOT NULL, key TEXT NOT NULL, pseudonym TEXT NOT NULL, PRIMARY KEY (kind, key), UNIQUE (kind, pseudonym)) WITHOUT ROWID;";
        store.conn.execute_batch(inline).expect("inline form");
        drop(store);
        let store = Store::open(&path, "s", "k").expect("opened");
        assert!(new_form(&store));
        let old = "DROP TABLE pseudonyms; CREATE TABLE pseudonyms (kind TEXT NOT NULL, key TEXT NOT NULL, pseudonym TEXT NOT NULL, PRIMARY KEY (kind, key), UNIQUE (kind, pseudonym));";
        store.conn.execute_batch(old).expect("old form");
        drop(store);
        let store = Store::open(&path, "s", "k").expect("opened");
        assert!(new_form(&store));
        store.conn.execute_batch(old).expect("old form");
        store
            .conn
            .execute_batch("INSERT INTO pseudonyms VALUES ('person', '1', 'R01')")
            .expect("a row");
        drop(store);
        let store = Store::open(&path, "s", "k").expect("opened");
        assert!(!pseudonyms_sql(&store).contains("WITHOUT ROWID"));
        let kept: String = store
            .conn
            .query_row("SELECT pseudonym FROM pseudonyms", [], |r| r.get(0))
            .expect("kept");
        assert_eq!(kept, "R01");
    }

    /// A bulk write switches to a rollback journal only when no other connection has the
    /// store open, and comes back to WAL; a store opened in the other mode (left by a
    /// killed write) is in WAL mode again.
    #[test]
    fn bulk_writes_take_a_rollback_journal_only_alone() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("plp.sqlite");
        let store = Store::create(&path, "s", "k").expect("created");
        let mode = |store: &Store| -> String {
            store
                .conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .expect("mode")
        };
        let reader = rusqlite::Connection::open(&path).expect("another connection");
        reader
            .query_row("SELECT COUNT(*) FROM responses", [], |r| r.get::<_, i64>(0))
            .expect("it reads");
        let started = std::time::Instant::now();
        assert!(
            !store.begin_bulk().expect("asked"),
            "switched with a reader"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "it waited"
        );
        assert_eq!(mode(&store), "wal");
        drop(reader);
        assert!(store.begin_bulk().expect("asked"), "did not switch alone");
        assert_eq!(mode(&store), "truncate");
        store.end_bulk().expect("back");
        assert_eq!(mode(&store), "wal");
        assert!(store.begin_bulk().expect("asked"));
        drop(store);
        let store = Store::open(&path, "s", "k").expect("opened");
        assert_eq!(mode(&store), "wal");
    }
}

#[cfg(test)]
mod build_tests {
    /// The bundled SQLite is built as `.cargo/config.toml` asks (see there why). Cargo
    /// applies that file only when run inside the repository, and not over a
    /// `LIBSQLITE3_FLAGS` already set: built otherwise, this fails rather than letting the
    /// export's reading threads share one page-cache mutex unnoticed.
    #[test]
    fn sqlite_is_built_with_the_projects_options() {
        let conn = rusqlite::Connection::open_in_memory().expect("in memory");
        let mut stmt = conn.prepare("PRAGMA compile_options").expect("pragma");
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("options")
            .collect::<Result<_, _>>()
            .expect("options");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "built without SQLITE_DEFAULT_MEMSTATUS=0: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "built with SQLITE_ENABLE_MEMORY_MANAGEMENT: {options:?}"
        );
    }
}
