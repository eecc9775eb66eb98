//! The input limits of `plp` end to end (docs/limits.md): envelope files at the limit are
//! stored, one byte over is quarantined with the documented reason and nothing reaches
//! `responses`; too many answers, too many files and too large a survey are refused the same
//! way.

use plp_core::answers::{Answer, Answers};
use plp_core::envelope::MAX_ENVELOPE_BYTES;
use plp_core::payload::{ResponseDraft, ResponsePayload, MAX_ANSWERS};
use plp_core::published::{LoadedStudy, PublishedStudy};
use plp_core::sample::{walk, SplitMix64, Style};
use rusqlite::{Connection, OpenFlags};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSPHRASE: &str = "limits test passphrase";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{}\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    fn fails_with(self, needle: &str) -> Self {
        assert_eq!(self.code, 1, "{}\n{}", self.stdout, self.stderr);
        assert!(
            self.stderr.contains(needle),
            "no `{needle}` in {}",
            self.stderr
        );
        self
    }
}

fn plp(args: &[&OsStr]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_plp"))
        .args(args)
        .env("PLP_PASSPHRASE", PASSPHRASE)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("plp runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A study created with `plp init` and published, in a temporary folder.
struct Study {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    loaded: LoadedStudy,
}

impl Study {
    fn new(id: &str) -> Study {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("study");
        let site = tmp.path().join("site");
        plp(&[
            "init".as_ref(),
            dir.as_os_str(),
            "--study-id".as_ref(),
            id.as_ref(),
            "--title".as_ref(),
            "Limits".as_ref(),
            "--cohort".as_ref(),
            "5".as_ref(),
        ])
        .ok();
        plp(&[
            "--study".as_ref(),
            dir.as_os_str(),
            "publish".as_ref(),
            "--out".as_ref(),
            site.as_os_str(),
        ])
        .ok();
        let read = |f: &str| std::fs::read(site.join(f)).expect("published file");
        let loaded =
            PublishedStudy::load(&read("study.json"), &read("survey.json")).expect("loads");
        Study { tmp, dir, loaded }
    }

    fn plp(&self, args: &[&OsStr]) -> Run {
        let mut all: Vec<&OsStr> = vec!["--study".as_ref(), self.dir.as_os_str()];
        all.extend_from_slice(args);
        plp(&all)
    }

    fn ingest(&self, paths: &[&Path]) -> Run {
        let mut args: Vec<&OsStr> = vec!["ingest".as_ref()];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        self.plp(&args)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, bytes).expect("written");
        p
    }

    fn payload(&self, seed: u64) -> ResponsePayload {
        let mut fixed = Answers::new();
        fixed.insert("q3".into(), Answer::Text("bme".into()));
        let survey = &self.loaded.survey;
        let answers = walk(survey, &mut SplitMix64(seed), &Style::default(), &fixed);
        ResponseDraft {
            study_id: &self.loaded.config.study_id,
            survey,
            survey_sha256: &self.loaded.config.survey_sha256,
            code: "AB",
            word: &format!("word number {seed}"),
            answers: &answers,
            date: "2026-03-02",
            submission_id: [seed as u8; 16],
        }
        .build()
        .expect("valid response")
    }

    fn seal(&self, plaintext: &[u8], seed: u8) -> Vec<u8> {
        self.loaded
            .public_key
            .seal(&self.loaded.config.study_id, plaintext, [seed; 32])
            .expect("sealed")
            .to_json()
    }

    fn db(&self) -> Connection {
        Connection::open_with_flags(
            self.dir.join("plp.sqlite"),
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("store opens")
    }

    fn count(&self, table: &str) -> i64 {
        self.db()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }

    fn reasons(&self) -> Vec<String> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT reason FROM quarantine ORDER BY id")
            .expect("query");
        let rows = stmt.query_map([], |r| r.get(0)).expect("rows");
        rows.map(|r| r.expect("row")).collect()
    }
}

/// Bytes followed by spaces up to `len` (still one valid JSON envelope).
fn padded(mut bytes: Vec<u8>, len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len);
    bytes.resize(len, b' ');
    bytes
}

#[test]
fn an_envelope_file_one_byte_over_256_kib_is_quarantined_unread() {
    let s = Study::new("limits-size");
    let over = s.write(
        "over.json",
        &padded(s.seal(&s.payload(1).to_json(), 1), MAX_ENVELOPE_BYTES + 1),
    );
    let out = s.ingest(&[&over]).ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("rejected (kept in quarantine)")
                && l.split_whitespace().last() == Some("1")),
        "{}",
        out.stdout
    );
    assert_eq!(s.count("responses"), 0);
    assert_eq!(
        s.reasons(),
        ["file is 262145 bytes, over the envelope limit of 262144; not read"]
    );
    let kept: Vec<u8> = s
        .db()
        .query_row("SELECT envelope FROM quarantine", [], |r| r.get(0))
        .expect("row");
    assert!(
        kept.is_empty(),
        "an over-limit file is not read into the store"
    );

    // At the limit, the same response is stored.
    let at = s.write(
        "at.json",
        &padded(s.seal(&s.payload(1).to_json(), 2), MAX_ENVELOPE_BYTES),
    );
    s.ingest(&[&at]).ok();
    assert_eq!(s.count("responses"), 1);
}

#[test]
fn an_over_long_line_of_an_envelope_list_is_quarantined_and_the_rest_read() {
    let s = Study::new("limits-lines");
    let mut lines = Vec::new();
    // One byte over: read, then refused by the envelope parser.
    lines.extend(padded(
        s.seal(&s.payload(1).to_json(), 1),
        MAX_ENVELOPE_BYTES + 1,
    ));
    lines.push(b'\n');
    // Far over: not even read whole.
    lines.extend(padded(
        s.seal(&s.payload(2).to_json(), 2),
        MAX_ENVELOPE_BYTES + 100,
    ));
    lines.push(b'\n');
    lines.extend(s.seal(&s.payload(3).to_json(), 3));
    lines.push(b'\n');
    let list = s.write("list.jsonl", &lines);
    s.ingest(&[&list]).ok();
    assert_eq!(s.count("responses"), 1, "only the third line is stored");
    assert_eq!(
        s.reasons(),
        [
            "envelope is 262145 bytes, over the limit of 262144",
            "envelope on line 2 is over the limit of 262144 bytes",
        ]
    );
}

#[test]
fn a_sealed_response_with_2001_answers_is_quarantined() {
    let s = Study::new("limits-answers");
    let mut p = s.payload(1);
    for i in 0..=MAX_ANSWERS - p.answers.len() {
        p.answers.insert(format!("x{i:05}"), Answer::Int(1));
    }
    assert_eq!(p.answers.len(), MAX_ANSWERS + 1);
    let f = s.write("many.json", &s.seal(&p.to_json(), 1));
    s.ingest(&[&f]).ok();
    assert_eq!(s.count("responses"), 0);
    assert_eq!(
        s.reasons(),
        ["malformed payload: `answers` has 2001 entries, over the limit of 2000"]
    );
}

#[test]
fn more_than_two_million_files_in_one_ingest_are_refused_before_any_is_read() {
    // No knob makes the limit smaller: one folder of 2,000 files named 1,001 times is
    // 2,002,000 files, listed but never opened.
    let s = Study::new("limits-files");
    let folder = s.tmp.path().join("many");
    std::fs::create_dir_all(&folder).expect("folder");
    for i in 0..2000 {
        std::fs::write(folder.join(format!("{i:04}.json")), b"{}").expect("written");
    }
    let mut args: Vec<&OsStr> = vec!["ingest".as_ref()];
    args.extend(std::iter::repeat_n(folder.as_os_str(), 1001));
    let before = std::fs::read(s.dir.join("plp.sqlite")).expect("store");
    s.plp(&args)
        .fails_with("more than 2000000 files in one ingest; ingest them in parts");
    assert_eq!(
        std::fs::read(s.dir.join("plp.sqlite")).expect("store"),
        before
    );
    assert_eq!(s.count("responses") + s.count("quarantine"), 0);
}

#[test]
fn a_survey_definition_over_1_mib_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut text = format!("{}\n#", plp_core::PLP_SURVEY_TOML);
    text.push_str(&"x".repeat(1024 * 1024 + 1 - text.len()));
    let big = tmp.path().join("big.toml");
    std::fs::write(&big, &text).expect("written");
    plp(&["survey".as_ref(), "check".as_ref(), big.as_os_str()])
        .fails_with("survey definition is 1048577 bytes, over the limit of 1048576");
    let dir = tmp.path().join("study");
    plp(&[
        "init".as_ref(),
        dir.as_os_str(),
        "--study-id".as_ref(),
        "limits-survey".as_ref(),
        "--title".as_ref(),
        "T".as_ref(),
        "--cohort".as_ref(),
        "5".as_ref(),
        "--survey".as_ref(),
        big.as_os_str(),
    ])
    .fails_with("survey definition is 1048577 bytes, over the limit of 1048576");
    assert!(!dir.join("evaluator.key").exists());
    // One byte less is the built-in survey and a comment: it loads.
    text.pop();
    std::fs::write(&big, &text).expect("written");
    plp(&["survey".as_ref(), "check".as_ref(), big.as_os_str()]).ok();
}
