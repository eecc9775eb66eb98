//! The input limits of `plp` end to end (docs/limits.md): envelope files at the limit are
//! stored, one byte over is quarantined with the documented reason and nothing reaches
//! `responses`; too many answers, too many files and too large a survey are refused the same
//! way.

use plp_core::answers::Answer;
use plp_core::envelope::MAX_ENVELOPE_BYTES;
use plp_core::payload::{ResponsePayload, MAX_ANSWERS};
use plp_tests::{plp, Respondent, TestStudy, PASSPHRASE};

/// Respondent `n`'s response: pair code AB, role bme, a memorable word of their own.
fn payload(s: &TestStudy, n: u64) -> ResponsePayload {
    s.payload(&Respondent::new("AB", "bme", &format!("word number {n}")).seed(n))
}

fn count(s: &TestStudy, table: &str) -> i64 {
    s.count(&format!("SELECT COUNT(*) FROM {table}"))
}

/// Why each quarantined file was refused, in order.
fn reasons(s: &TestStudy) -> Vec<String> {
    s.strings("SELECT reason FROM quarantine ORDER BY id")
}

/// Bytes followed by spaces up to `len` (still one valid JSON envelope).
fn padded(mut bytes: Vec<u8>, len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len);
    bytes.resize(len, b' ');
    bytes
}

#[test]
fn an_envelope_file_one_byte_over_256_kib_is_quarantined_unread() {
    let s = TestStudy::new("limits-size");
    let response = payload(&s, 1).to_json();
    let over = s.write(
        "over.json",
        &padded(s.seal(&response), MAX_ENVELOPE_BYTES + 1),
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
    assert_eq!(count(&s, "responses"), 0);
    assert_eq!(
        reasons(&s),
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
    let at = s.write("at.json", &padded(s.seal(&response), MAX_ENVELOPE_BYTES));
    s.ingest(&[&at]).ok();
    assert_eq!(count(&s, "responses"), 1);
}

#[test]
fn an_over_long_line_of_an_envelope_list_is_quarantined_and_the_rest_read() {
    let s = TestStudy::new("limits-lines");
    let mut lines = Vec::new();
    // One byte over: read, then refused by the envelope parser.
    lines.extend(padded(
        s.seal(&payload(&s, 1).to_json()),
        MAX_ENVELOPE_BYTES + 1,
    ));
    lines.push(b'\n');
    // Far over: not even read whole.
    lines.extend(padded(
        s.seal(&payload(&s, 2).to_json()),
        MAX_ENVELOPE_BYTES + 100,
    ));
    lines.push(b'\n');
    lines.extend(s.seal(&payload(&s, 3).to_json()));
    lines.push(b'\n');
    let list = s.write("list.jsonl", &lines);
    s.ingest(&[&list]).ok();
    assert_eq!(count(&s, "responses"), 1, "only the third line is stored");
    assert_eq!(
        reasons(&s),
        [
            "envelope is 262145 bytes, over the limit of 262144",
            "envelope on line 2 is over the limit of 262144 bytes",
        ]
    );
}

#[test]
fn a_sealed_response_with_2001_answers_is_quarantined() {
    let s = TestStudy::new("limits-answers");
    let mut p = payload(&s, 1);
    for i in 0..=MAX_ANSWERS - p.answers.len() {
        p.answers.insert(format!("x{i:05}"), Answer::Int(1));
    }
    assert_eq!(p.answers.len(), MAX_ANSWERS + 1);
    let f = s.write("many.json", &s.seal(&p.to_json()));
    s.ingest(&[&f]).ok();
    assert_eq!(count(&s, "responses"), 0);
    assert_eq!(
        reasons(&s),
        ["malformed payload: `answers` has 2001 entries, over the limit of 2000"]
    );
}

#[test]
fn more_than_two_million_files_in_one_ingest_are_refused_before_any_is_read() {
    // No knob makes the limit smaller: one folder of 2,000 files named 1,001 times is
    // 2,002,000 files, listed but never opened.
    let s = TestStudy::new("limits-files");
    let folder = s.root().join("many");
    std::fs::create_dir_all(&folder).expect("folder");
    for i in 0..2000 {
        std::fs::write(folder.join(format!("{i:04}.json")), b"{}").expect("written");
    }
    let mut args = vec!["ingest"];
    args.extend(std::iter::repeat_n(
        folder.to_str().expect("UTF-8 path"),
        1001,
    ));
    let before = std::fs::read(s.dir.join("plp.sqlite")).expect("store");
    s.plp(&args)
        .fails_with_verbatim("more than 2000000 files in one ingest; ingest them in parts");
    assert_eq!(
        std::fs::read(s.dir.join("plp.sqlite")).expect("store"),
        before
    );
    assert_eq!(count(&s, "responses") + count(&s, "quarantine"), 0);
}

#[test]
fn a_survey_definition_over_1_mib_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut text = format!("{}\n#", plp_core::PLP_SURVEY_TOML);
    text.push_str(&"x".repeat(1024 * 1024 + 1 - text.len()));
    let big = tmp.path().join("big.toml");
    std::fs::write(&big, &text).expect("written");
    plp(
        &["survey".as_ref(), "check".as_ref(), big.as_os_str()],
        Some(PASSPHRASE),
    )
    .fails_with_verbatim("survey definition is 1048577 bytes, over the limit of 1048576");
    let dir = tmp.path().join("study");
    plp(
        &[
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
        ],
        Some(PASSPHRASE),
    )
    .fails_with_verbatim("survey definition is 1048577 bytes, over the limit of 1048576");
    assert!(!dir.join("evaluator.key").exists());
    // One byte less is the built-in survey and a comment: it loads.
    text.pop();
    std::fs::write(&big, &text).expect("written");
    plp(
        &["survey".as_ref(), "check".as_ref(), big.as_os_str()],
        Some(PASSPHRASE),
    )
    .ok();
}
