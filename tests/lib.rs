//! Helpers for the cross-crate integration tests.
//!
//! The tests drive the real `plp` binary (built into the same target folder by
//! `cargo build -p plp-cli`, or by `cargo test --workspace --all-targets`) in temporary study
//! folders, and make envelopes exactly as the respondent's browser does: a random walk through
//! the survey ([`plp_core::sample::walk`]), [`ResponseDraft::build`], then
//! [`PublicKey::seal`](plp_core::seal::PublicKey::seal) to the key in the *published*
//! `study.json`, with fresh operating-system randomness. The store is inspected read-only with
//! rusqlite.

use plp_core::answers::{Answer, Answers};
use plp_core::payload::{ResponseDraft, ResponsePayload, WithdrawalPayload};
use plp_core::published::{LoadedStudy, PublishedStudy};
use plp_core::sample::{walk, SplitMix64, Style};
use plp_core::survey::Survey;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The passphrase every test study is created with.
pub const PASSPHRASE: &str = "integration tests passphrase";
/// The consent date of responses unless a test sets another.
pub const DATE: &str = "2026-03-02";

/// The `plp` binary in this build's target folder.
///
/// Tests run from `target/<profile>/deps/<test>-<hash>`; the binary is
/// `target/<profile>/plp`.
pub fn plp_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary knows its own path");
        let mut dir = exe
            .parent()
            .expect("the test binary is in a folder")
            .to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let bin = dir.join(format!("plp{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.is_file(),
            "the `plp` binary is not built: expected it at {}. Run `cargo build -p plp-cli` \
             first (or `cargo test --workspace --all-targets`, which builds it too)",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Fresh random bytes from the operating system (the browser uses `crypto.getRandomValues`).
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system has randomness");
    b
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `haystack` holds an envelope's ciphertext in either form a store keeps it: its
/// base64 text (an envelope kept as received) or its bytes (kept packed).
pub fn holds_ct(haystack: &[u8], envelope: &[u8]) -> bool {
    let text = ct_of(envelope);
    let bytes = plp_core::envelope::b64_decode("ct", &text).expect("ct is base64url");
    contains_bytes(haystack, text.as_bytes()) || contains_bytes(haystack, &bytes)
}

/// What one run of `plp` did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub args: Vec<String>,
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Asserts exit status 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            0,
            "`plp {}` failed with {}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts exit status 1 with exactly one line on stderr, `plp: error: ...`, that
    /// contains every needle (case-insensitive); returns self.
    #[track_caller]
    pub fn fails_with(self, needles: &[&str]) -> Self {
        assert_eq!(
            self.code,
            1,
            "`plp {}` should exit 1, got {}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        let line = self.error_line();
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "`plp {}` should print one line on stderr, got:\n{}",
            self.args.join(" "),
            self.stderr
        );
        assert!(
            line.starts_with("plp: error: "),
            "unexpected stderr: {line}"
        );
        self.assert_mentions(needles);
        self
    }

    /// [`fails_with`](Self::fails_with) one needle, which must also appear as written
    /// (case-sensitive); returns self.
    #[track_caller]
    pub fn fails_with_verbatim(self, needle: &str) -> Self {
        let out = self.fails_with(&[needle]);
        assert!(
            out.stderr.contains(needle),
            "`plp {}`: stderr does not contain {needle:?} as written:\n{}",
            out.args.join(" "),
            out.stderr
        );
        out
    }

    /// Asserts exit status 1 and that stderr mentions every needle (case-insensitive); for
    /// errors that list several problems on several lines.
    #[track_caller]
    pub fn fails_listing(self, needles: &[&str]) -> Self {
        assert_eq!(
            self.code,
            1,
            "`plp {}` should exit 1, got {}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.starts_with("plp: error: "),
            "unexpected stderr: {}",
            self.stderr
        );
        self.assert_mentions(needles);
        self
    }

    #[track_caller]
    fn assert_mentions(&self, needles: &[&str]) {
        let lower = self.stderr.to_lowercase();
        for n in needles {
            assert!(
                lower.contains(&n.to_lowercase()),
                "`plp {}`: stderr does not mention {n:?}:\n{}",
                self.args.join(" "),
                self.stderr
            );
        }
    }

    /// The first line of stderr.
    pub fn error_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or("")
    }

    /// A count from the summary table `plp ingest` prints (the row starting with `label`).
    #[track_caller]
    pub fn count(&self, label: &str) -> u64 {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no `{label}` row in:\n{}", self.stdout));
        line.split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in row `{line}`"))
    }

    /// Every count of the ingest summary table.
    pub fn summary(&self) -> Summary {
        Summary {
            accepted: self.count("accepted"),
            duplicate: self.count("duplicate"),
            superseded: self.count("superseded"),
            rejected: self.count("rejected"),
            withdrawn: self.count("withdrawal: responses destroyed"),
            waiting: self.count("withdrawal: waiting for a match"),
            on_arrival: self.count("destroyed on arrival"),
            ambiguous: self.count("withdrawal: ambiguous"),
            repeated: self.count("withdrawal: repeated"),
            late: self.count("withdrawal: after lock"),
        }
    }
}

/// The summary table of `plp ingest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Newly stored.
    pub accepted: u64,
    /// Already stored.
    pub duplicate: u64,
    /// Older resubmissions marked superseded.
    pub superseded: u64,
    /// Quarantined.
    pub rejected: u64,
    /// Withdrawal requests that destroyed responses.
    pub withdrawn: u64,
    /// Withdrawal requests in the store that match nobody yet.
    pub waiting: u64,
    /// Responses destroyed because a withdrawal request of theirs came first.
    pub on_arrival: u64,
    /// Withdrawal requests that matched several people.
    pub ambiguous: u64,
    /// Withdrawal requests of a person already withdrawn, sent again.
    pub repeated: u64,
    /// Withdrawal requests after the lock.
    pub late: u64,
}

/// Runs `plp` with `args`; `passphrase` goes in `PLP_PASSPHRASE` (removed when `None`).
/// Standard input is empty and not a terminal.
pub fn plp<S: AsRef<std::ffi::OsStr>>(args: &[S], passphrase: Option<&str>) -> Output {
    run(command(args, passphrase))
}

/// The command [`plp`] runs, for a test that sets more (environment, output) or spawns it.
pub fn command<S: AsRef<std::ffi::OsStr>>(args: &[S], passphrase: Option<&str>) -> Command {
    let mut cmd = Command::new(plp_bin());
    cmd.args(args)
        .env_remove("PLP_PASSPHRASE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = passphrase {
        cmd.env("PLP_PASSPHRASE", p);
    }
    cmd
}

/// Runs `cmd` (from [`command`]) to the end.
pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().expect("cannot run the plp binary");
    Output {
        args: cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// SHA-256 of every file under `dir` (recursively), by path relative to it. Compare before
/// and after a command to prove it changed nothing.
///
/// SQLite's transient companions hold no data of their own and come and go with connections
/// (a read-only connection, such as the tests', leaves them behind; the next read-write
/// close removes them), so the shared-memory index `*-shm` is skipped and an empty `*-wal`
/// counts as absent. A WAL holding frames is compared like any other file.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk_dir(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(dir).expect("readable folder") {
            let p = e.expect("readable entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let empty = std::fs::metadata(&p).map(|m| m.len() == 0).unwrap_or(false);
            if p.is_dir() {
                walk_dir(root, &p, out);
            } else if name.ends_with("-shm") || (name.ends_with("-wal") && empty) {
                continue;
            } else {
                let rel = p.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, sha256_hex(&std::fs::read(&p).expect("readable file")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk_dir(dir, dir, &mut out);
    out
}

/// One respondent: what they type and how they answer.
#[derive(Debug, Clone)]
pub struct Respondent {
    /// Pair code as typed.
    pub code: String,
    /// Option of the pairing question (`bme`, `senior_leader`, `both`).
    pub role: String,
    /// Memorable word as typed.
    pub word: String,
    /// Seed of the random walk.
    pub seed: u64,
    /// Answers fixed in advance (the walk fills the rest).
    pub fixed: Answers,
    /// Consent date.
    pub date: String,
}

impl Respondent {
    /// A respondent with a walk seeded from what they type.
    pub fn new(code: &str, role: &str, word: &str) -> Self {
        let seed = u64::from_le_bytes(
            Sha256::digest(format!("{code}\0{role}\0{word}").as_bytes())[..8]
                .try_into()
                .expect("8 bytes"),
        );
        Respondent {
            code: code.into(),
            role: role.into(),
            word: word.into(),
            seed,
            fixed: Answers::new(),
            date: DATE.into(),
        }
    }

    /// Fixes an answer.
    pub fn answer(mut self, question: &str, answer: Answer) -> Self {
        self.fixed.insert(question.into(), answer);
        self
    }

    /// Sets the walk's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the consent date.
    pub fn date(mut self, date: &str) -> Self {
        self.date = date.into();
        self
    }

    /// The answers this respondent gives to `survey` (a random walk through what is shown).
    pub fn answers(&self, survey: &Survey) -> Answers {
        let mut fixed = self.fixed.clone();
        fixed.insert("q3".into(), Answer::Text(self.role.clone()));
        walk(
            survey,
            &mut SplitMix64(self.seed),
            &Style::default(),
            &fixed,
        )
    }
}

/// A text answer.
pub fn text(s: &str) -> Answer {
    Answer::Text(s.into())
}

/// A study created by `plp init` (the built-in PLP survey) in a temporary folder and
/// published with `plp publish`.
pub struct TestStudy {
    tmp: tempfile::TempDir,
    /// The study folder (`<tmp>/study`).
    pub dir: PathBuf,
    /// The study id.
    pub study_id: String,
    /// What `plp publish` wrote (`<tmp>/site`).
    pub site: PathBuf,
    /// The published study, loaded as the respondent app loads it.
    pub published: LoadedStudy,
    /// The key id `plp init` printed.
    pub key_id: String,
}

impl TestStudy {
    /// `plp init` + `plp publish`, with [`PASSPHRASE`].
    pub fn new(study_id: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("plp-it-")
            .tempdir()
            .expect("a temporary folder");
        let dir = tmp.path().join("study");
        let init = plp(
            &[
                "init".as_ref(),
                dir.as_os_str(),
                "--study-id".as_ref(),
                study_id.as_ref(),
                "--title".as_ref(),
                "PLP evaluation (integration test)".as_ref(),
                "--cohort".as_ref(),
                "53".as_ref(),
            ],
            Some(PASSPHRASE),
        )
        .ok();
        let key_id = init
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Key id: "))
            .unwrap_or_else(|| panic!("`plp init` printed no key id:\n{}", init.stdout))
            .trim()
            .to_string();
        let site = tmp.path().join("site");
        plp(
            &[
                "--study".as_ref(),
                dir.as_os_str(),
                "publish".as_ref(),
                "--out".as_ref(),
                site.as_os_str(),
            ],
            None,
        )
        .ok();
        let published = load_published(&site);
        TestStudy {
            tmp,
            dir,
            study_id: study_id.into(),
            site,
            published,
            key_id,
        }
    }

    /// The temporary folder holding the study, the site and test files.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `plp --study DIR ARGS...` with the right passphrase.
    pub fn plp(&self, args: &[&str]) -> Output {
        self.plp_pass(args, Some(PASSPHRASE))
    }

    /// `plp --study DIR ARGS...` with the given passphrase (or none).
    pub fn plp_pass(&self, args: &[&str], passphrase: Option<&str>) -> Output {
        run(self.command(args, passphrase))
    }

    /// The command [`TestStudy::plp_pass`] runs.
    pub fn command(&self, args: &[&str], passphrase: Option<&str>) -> Command {
        let mut all: Vec<std::ffi::OsString> =
            vec!["--study".into(), self.dir.clone().into_os_string()];
        all.extend(args.iter().map(|a| a.into()));
        command(&all, passphrase)
    }

    /// `plp ingest PATHS...`
    pub fn ingest(&self, paths: &[&Path]) -> Output {
        let mut args = vec!["ingest"];
        let strs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(strs.iter().map(String::as_str));
        self.plp(&args)
    }

    /// The survey as published.
    pub fn survey(&self) -> &Survey {
        &self.published.survey
    }

    /// SHA-256 of the published survey bytes.
    pub fn survey_sha256(&self) -> &str {
        &self.published.config.survey_sha256
    }

    /// The store, opened read-only.
    pub fn db(&self) -> Connection {
        open_read_only(&self.dir.join("plp.sqlite"))
    }

    /// One integer from a query on the store.
    pub fn count(&self, sql: &str) -> i64 {
        self.db()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A column of strings from a query on the store.
    pub fn strings(&self, sql: &str) -> Vec<String> {
        let db = self.db();
        let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query runs");
        rows.collect::<Result<_, _>>().expect("rows read")
    }

    /// The audit log: `(seq, event, detail)`.
    pub fn audit(&self) -> Vec<(i64, String, serde_json::Value)> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT seq, event, detail FROM audit ORDER BY seq")
            .expect("audit table");
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .expect("query runs");
        rows.map(|r| {
            let (seq, event, detail) = r.expect("row reads");
            (
                seq,
                event,
                serde_json::from_str(&detail).expect("detail is JSON"),
            )
        })
        .collect()
    }

    /// Names of the audit events, in order.
    pub fn audit_names(&self) -> Vec<String> {
        self.audit().into_iter().map(|(_, e, _)| e).collect()
    }

    /// The payload a respondent's browser would build (normalised, pruned, validated).
    pub fn payload(&self, r: &Respondent) -> ResponsePayload {
        self.payload_with(r, &r.answers(self.survey()))
    }

    /// The payload the browser builds from these answers (the respondent's own are not
    /// walked: for many respondents, reuse a few walks).
    pub fn payload_with(&self, r: &Respondent, answers: &Answers) -> ResponsePayload {
        payload_for(&self.published, r, answers)
    }

    /// Seals plaintext to the published key for `study_id`, as the browser does.
    pub fn seal_for(&self, study_id: &str, plaintext: &[u8]) -> Vec<u8> {
        seal_to(&self.published, study_id, plaintext)
    }

    /// Seals plaintext to the published key for this study.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        self.seal_for(&self.published.config.study_id, plaintext)
    }

    /// A respondent's sealed envelope, exactly as the browser makes it.
    pub fn respond(&self, r: &Respondent) -> Vec<u8> {
        self.seal(&self.payload(r).to_json())
    }

    /// A sealed withdrawal request (`plp-withdrawal/1`), dated [`DATE`].
    pub fn withdrawal_request(&self, code: Option<&str>, word: &str) -> Vec<u8> {
        self.withdrawal_request_on(code, word, DATE)
    }

    /// A sealed withdrawal request dated `date`.
    pub fn withdrawal_request_on(&self, code: Option<&str>, word: &str, date: &str) -> Vec<u8> {
        let p = WithdrawalPayload::build(
            &self.published.config.study_id,
            &self.published.config.code_pattern,
            code,
            word,
            date,
            random::<16>(),
        )
        .expect("a valid withdrawal request");
        self.seal(&p.to_json())
    }

    /// Writes a file under `<tmp>/<name>` (parent folders created) and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.root().join(name);
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("folder created");
        std::fs::write(&p, bytes).expect("file written");
        p
    }

    /// Copies the study folder to `<tmp>/<name>` (for tampering with a copy).
    pub fn copy_to(&self, name: &str) -> PathBuf {
        let to = self.root().join(name);
        std::fs::create_dir_all(&to).expect("folder created");
        for e in std::fs::read_dir(&self.dir).expect("study folder") {
            let p = e.expect("entry").path();
            if p.is_file() {
                std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copied");
            }
        }
        to
    }

    /// The bytes of the store's files (`plp.sqlite`, and its WAL or rollback journal when
    /// one exists).
    pub fn store_bytes(&self) -> Vec<(String, Vec<u8>)> {
        store_bytes(&self.dir)
    }
}

/// The bytes of the store files of the study in `dir` (database, and WAL or rollback
/// journal when present).
pub fn store_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["plp.sqlite", "plp.sqlite-wal", "plp.sqlite-journal"]
        .iter()
        .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
        .collect()
}

/// The study `plp publish` wrote to `site`, loaded as the respondent app loads it.
pub fn load_published(site: &Path) -> LoadedStudy {
    PublishedStudy::load(
        &std::fs::read(site.join("study.json")).expect("study.json published"),
        &std::fs::read(site.join("survey.json")).expect("survey.json published"),
    )
    .expect("the published study loads as the browser loads it")
}

/// The payload the browser builds from these answers for a published study (normalised,
/// pruned, validated), with a fresh random submission id.
pub fn payload_for(study: &LoadedStudy, r: &Respondent, answers: &Answers) -> ResponsePayload {
    ResponseDraft {
        study_id: &study.config.study_id,
        survey: &study.survey,
        survey_sha256: &study.config.survey_sha256,
        code: &r.code,
        word: &r.word,
        answers,
        date: &r.date,
        submission_id: random::<16>(),
    }
    .build()
    .expect("the browser builds a valid payload")
}

/// Seals plaintext to a published study's key for `study_id`, as the browser does (fresh
/// ephemeral randomness).
pub fn seal_to(study: &LoadedStudy, study_id: &str, plaintext: &[u8]) -> Vec<u8> {
    study
        .public_key
        .seal(study_id, plaintext, random::<32>())
        .expect("sealing works")
        .to_json()
}

/// Opens a study key file (`evaluator.key`, format `plp-key/1`) independently of the CLI's
/// `keyfile.rs`: Argon2id of the passphrase with the file's parameters, then AES-256-GCM
/// with `"plp-key/1" 0x00 key_id` as associated data. Returns (key-file key, private key).
pub fn open_key_file(path: &Path, passphrase: &str) -> ([u8; 32], [u8; 32]) {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("key file {}: {e}", path.display())),
    )
    .expect("key file JSON");
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).expect(p).to_string();
    let n = |p: &str| v.pointer(p).and_then(|x| x.as_u64()).expect(p) as u32;
    assert_eq!(s("/format"), "plp-key/1");
    assert_eq!(s("/kdf/algorithm"), "argon2id");
    let params = argon2::Params::new(
        n("/kdf/m_cost_kib"),
        n("/kdf/t_cost"),
        n("/kdf/p_cost"),
        Some(32),
    )
    .expect("Argon2 parameters");
    let mut kek = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(
            passphrase.as_bytes(),
            &URL_SAFE_NO_PAD.decode(s("/kdf/salt")).expect("salt"),
            &mut kek,
        )
        .expect("Argon2id");
    let nonce = URL_SAFE_NO_PAD.decode(s("/nonce")).expect("nonce");
    let ct = URL_SAFE_NO_PAD
        .decode(s("/ciphertext"))
        .expect("ciphertext");
    let aad = format!("plp-key/1\0{}", s("/key_id"));
    let secret = Aes256Gcm::new_from_slice(&kek)
        .expect("key")
        .decrypt(
            &Nonce::try_from(&nonce[..]).expect("12 bytes"),
            Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .expect("the key file opens with the passphrase");
    (kek, secret.try_into().expect("32 bytes"))
}

/// Opens a store read-only, waiting for a writer rather than failing.
pub fn open_read_only(path: &Path) -> Connection {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("cannot open {} read-only: {e}", path.display()));
    c.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout set");
    c
}

/// The `ct` member of an envelope (base64url text).
pub fn ct_of(envelope: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(envelope).expect("envelope JSON");
    v["ct"].as_str().expect("ct is a string").to_string()
}
