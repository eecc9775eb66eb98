//! `plp export` on a store with every linkage shape: complete pairs (including "either"
//! respondents and a pair of two "either"s), a singleton, a conflict and a withdrawal. Every
//! file is read back with the csv crate and compared with the answers that were sealed.

use plp_core::answers::{Answer, Answers};
use plp_core::export::answer_cells;
use plp_core::payload::ResponseDraft;
use plp_core::published::{LoadedStudy, PublishedStudy};
use plp_core::sample::{walk, SplitMix64, Style};
use plp_core::survey::Survey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASS: &str = "export test passphrase";

fn plp(study: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_plp"))
        .arg("--study")
        .arg(study)
        .args(args)
        .env("PLP_PASSPHRASE", PASS)
        .output()
        .unwrap();
    out
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sizes of the classes of rows equal on the columns `cols`, smallest first.
fn class_sizes(rows: &[Vec<String>], cols: &[usize]) -> Vec<usize> {
    let mut classes: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
    for r in rows {
        *classes
            .entry(cols.iter().map(|&i| r[i].as_str()).collect())
            .or_default() += 1;
    }
    let mut sizes: Vec<usize> = classes.into_values().collect();
    sizes.sort();
    sizes
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

struct Sealed {
    code: &'static str,
    role: &'static str,
    answers: Answers,
    tag: String,
    submission_id: String,
}

fn seal_all(
    study: &LoadedStudy,
    dir: &Path,
    people: &[(&'static str, &'static str, &str)],
) -> Vec<Sealed> {
    let mut out = Vec::new();
    for (i, (code, role, word)) in people.iter().enumerate() {
        let mut fixed = Answers::new();
        fixed.insert("q3".into(), Answer::Text((*role).into()));
        // Free text with contact details, to see them redacted.
        fixed.insert(
            "q63".into(),
            Answer::Text(format!(
                "write to me{i}@example.org or call 0115 555 010{i}"
            )),
        );
        let style = Style {
            answer_optional: 90,
            ..Style::default()
        };
        let answers = walk(
            &study.survey,
            &mut SplitMix64(1000 + i as u64),
            &style,
            &fixed,
        );
        let payload = ResponseDraft {
            study_id: &study.config.study_id,
            survey: &study.survey,
            survey_sha256: &study.config.survey_sha256,
            code,
            word,
            answers: &answers,
            date: "2026-11-28",
            submission_id: [i as u8 + 1; 16],
        }
        .build()
        .unwrap();
        let env = study
            .public_key
            .seal(
                &study.config.study_id,
                &payload.to_json(),
                [i as u8 + 50; 32],
            )
            .unwrap();
        // Every third written as another encoder might (indented): the store keeps those
        // as received and plp's own packed, and the export reads both alike.
        let bytes = if i % 3 == 2 {
            let v: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
            serde_json::to_vec_pretty(&v).unwrap()
        } else {
            env.to_json()
        };
        std::fs::write(dir.join(format!("{i:02}.plp.json")), bytes).unwrap();
        out.push(Sealed {
            code,
            role,
            answers: payload.answers,
            tag: payload.withdrawal_tag,
            submission_id: payload.submission_id,
        });
    }
    out
}

/// The free-text answers (text questions and "Other" texts) among `answers`, by key.
fn free_texts<'a>(
    survey: &'a Survey,
    answers: &'a Answers,
) -> impl Iterator<Item = (&'a String, &'a str)> + 'a {
    answers
        .iter()
        .filter(|(k, _)| {
            k.ends_with("_other") || survey.question(k).is_some_and(|q| q.kind.is_text())
        })
        .filter_map(|(k, a)| Some((k, a.as_text()?)))
}

#[test]
fn export_matches_what_was_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let study_dir = tmp.path().join("study");
    ok(Command::new(env!("CARGO_BIN_EXE_plp"))
        .args(["init"])
        .arg(&study_dir)
        .args([
            "--study-id",
            "export-test",
            "--title",
            "Export test",
            "--cohort",
            "20",
        ])
        .env("PLP_PASSPHRASE", PASS)
        .output()
        .unwrap());
    let site = tmp.path().join("site");
    ok(plp(
        &study_dir,
        &["publish", "--out", site.to_str().unwrap()],
    ));
    let study = PublishedStudy::load(
        &std::fs::read(site.join("study.json")).unwrap(),
        &std::fs::read(site.join("survey.json")).unwrap(),
    )
    .unwrap();
    let env_dir = tmp.path().join("envelopes");
    std::fs::create_dir(&env_dir).unwrap();
    let people = [
        ("QA", "bme", "alpha word"),
        ("QA", "senior_leader", "bravo word"),
        ("QB", "both", "charlie word"),
        ("QB", "senior_leader", "delta word"),
        ("QC", "both", "echo word"),
        ("QC", "both", "foxtrot word"),
        ("QD", "bme", "golf word"),
        ("QE", "bme", "hotel word"),
        ("QE", "bme", "india word"),
        ("QF", "bme", "juliet word"),
        ("QF", "senior_leader", "kilo word"),
    ];
    let sealed = seal_all(&study, &env_dir, &people);
    ok(plp(&study_dir, &["ingest", env_dir.to_str().unwrap()]));
    // The store keeps answers sealed only (inside the envelopes): no free text in its files.
    let store = plp_tests::store_bytes(&study_dir);
    let texts: Vec<&str> = sealed
        .iter()
        .flat_map(|s| free_texts(&study.survey, &s.answers))
        .map(|(_, t)| t)
        .filter(|t| t.len() >= 12)
        .collect();
    assert!(texts.len() >= 5, "too few free texts to look for");
    for t in texts {
        assert!(
            !store
                .iter()
                .any(|(_, b)| plp_tests::contains_bytes(b, t.as_bytes())),
            "the store holds the answer `{t}`"
        );
    }
    // Before the lock, a plain export is refused and a preview is marked.
    let refused = plp(
        &study_dir,
        &["export", "--out", tmp.path().join("x").to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not locked"));
    let preview = tmp.path().join("preview");
    ok(plp(
        &study_dir,
        &["export", "--preview", "--out", preview.to_str().unwrap()],
    ));
    assert!(preview.join("PREVIEW_individual.csv").exists());
    let pkg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(preview.join("PREVIEW_datapackage.json")).unwrap())
            .unwrap();
    assert_eq!(pkg["preview"], true);
    assert!(pkg["title"].as_str().unwrap().starts_with("PREVIEW"));

    ok(plp(&study_dir, &["withdraw", "--word", "juliet word"]));
    ok(plp(&study_dir, &["lock", "--yes"]));
    let out = tmp.path().join("export");
    ok(plp(&study_dir, &["export", "--out", out.to_str().unwrap()]));

    let kept: Vec<&Sealed> = sealed
        .iter()
        .filter(|s| !(s.code == "QF" && s.role == "bme"))
        .collect();
    let survey = &study.survey;

    // individual.csv: one row per remaining respondent, answers as sealed.
    let (h, rows) = read_csv(&out.join("individual.csv"));
    assert_eq!(&h[..4], ["pair_id", "person_id", "side", "pair_status"]);
    assert_eq!(rows.len(), kept.len());
    let expected_cells: Vec<Vec<String>> = kept
        .iter()
        .map(|s| answer_cells(survey, &s.answers))
        .collect();
    let mut by_cells: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r.len(), h.len());
        by_cells.insert(r[4..].to_vec(), r[..4].to_vec());
    }
    let mut status_of = BTreeMap::new();
    let mut pair_of = BTreeMap::new();
    let mut person_of = BTreeMap::new();
    for (s, cells) in kept.iter().zip(&expected_cells) {
        let meta = by_cells
            .get(cells)
            .unwrap_or_else(|| panic!("no row with the answers of {} {}", s.code, s.role));
        status_of.insert((s.code, s.role, cells.clone()), meta[3].clone());
        pair_of.insert(cells.clone(), meta[0].clone());
        person_of.insert(cells.clone(), meta[1].clone());
        let expect = match s.code {
            "QA" | "QB" | "QC" => "complete",
            "QD" | "QF" => "singleton",
            "QE" => "conflict",
            _ => unreachable!(),
        };
        assert_eq!(meta[3], expect, "{} {}", s.code, s.role);
        if s.code == "QB" {
            let side = if s.role == "both" { "A" } else { "B" };
            assert_eq!(meta[2], side, "the \"either\" respondent fills side A");
        }
    }
    // Partners share a pair id; different codes never do.
    let pid = |i: usize| pair_of[&expected_cells[i]].clone();
    assert_eq!(pid(0), pid(1));
    assert_ne!(pid(0), pid(2));
    assert!(pid(0).starts_with('D') && person_of[&expected_cells[0]].starts_with('R'));

    // dyad.csv: the three complete pairs, A's answers then B's.
    let (dh, drows) = read_csv(&out.join("dyad.csv"));
    assert_eq!(drows.len(), 3);
    let n = expected_cells[0].len();
    assert_eq!(dh.len(), 4 + 2 * n);
    assert!(dh[4].ends_with("_A") && dh[4 + n].ends_with("_B"));
    for (a, b, arbitrary) in [(0usize, 1usize, "0"), (2, 3, "0")] {
        let row = drows.iter().find(|r| r[0] == pid(a)).unwrap();
        assert_eq!(row[1], arbitrary);
        assert_eq!(row[4..4 + n], expected_cells[a][..]);
        assert_eq!(row[4 + n..], expected_cells[b][..]);
    }
    let qc = drows.iter().find(|r| r[0] == pid(4)).unwrap();
    assert_eq!(
        qc[1], "1",
        "two \"either\" respondents: order flagged arbitrary"
    );

    // pairwise.csv: two rows per pair, actor then partner, role_A +1/-1.
    let (ph, prows) = read_csv(&out.join("pairwise.csv"));
    assert_eq!(prows.len(), 6);
    assert_eq!(
        &ph[..5],
        [
            "pair_id",
            "person_id",
            "partner_id",
            "role_A",
            "order_arbitrary"
        ]
    );
    let qa_b = prows
        .iter()
        .find(|r| r[1] == person_of[&expected_cells[1]])
        .unwrap();
    assert_eq!(qa_b[3], "-1");
    assert_eq!(qa_b[5..5 + n], expected_cells[1][..]);
    assert_eq!(qa_b[5 + n..], expected_cells[0][..]);

    // free_text.csv: every free-text and "Other" answer, redacted.
    let (_, frows) = read_csv(&out.join("free_text.csv"));
    let mut expected_texts = Vec::new();
    for s in &kept {
        for (k, t) in free_texts(survey, &s.answers) {
            expected_texts.push((k.clone(), plp_core::redact::redact(t).into_owned()));
        }
    }
    let mut got: Vec<(String, String)> =
        frows.iter().map(|r| (r[3].clone(), r[5].clone())).collect();
    expected_texts.sort();
    got.sort();
    assert_eq!(got, expected_texts);
    assert!(got
        .iter()
        .any(|(_, t)| t.contains("[email]") && t.contains("[phone]")));

    // No file holds a pair code, a withdrawal tag, a submission id or contact details.
    for entry in std::fs::read_dir(&out).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        let bytes = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        for s in &sealed {
            assert!(!bytes.contains(&s.tag), "{} holds a tag", path.display());
            assert!(
                !bytes.contains(&s.submission_id),
                "{} holds a submission id",
                path.display()
            );
        }
        for code in ["QA", "QB", "QC", "QD", "QE", "QF"] {
            assert!(
                !bytes.contains(code),
                "{} holds pair code {code}",
                path.display()
            );
        }
        assert!(!bytes.contains("@example.org"), "{}", path.display());
    }

    // Pseudonyms are stable across re-exports; the audit records each file's SHA-256.
    let again = tmp.path().join("again");
    ok(plp(
        &study_dir,
        &["export", "--out", again.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read(out.join("individual.csv")).unwrap(),
        std::fs::read(again.join("individual.csv")).unwrap()
    );
    let log = ok(plp(&study_dir, &["audit"]));
    let sha = plp_core::payload::sha256_hex(&std::fs::read(out.join("dyad.csv")).unwrap());
    assert!(log.contains(&sha), "audit lacks the export's file hash");

    // Disclosure: figures computed from the individual rows' quasi-identifiers by hand.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("disclosure_report.json")).unwrap())
            .unwrap();
    let qi: Vec<usize> = ["q3", "q4", "q5", "q6", "q7"]
        .iter()
        .map(|q| h.iter().position(|x| x == q).unwrap())
        .collect();
    let sizes = class_sizes(&rows, &qi);
    let below3: usize = sizes.iter().filter(|&&n| n < 3).sum();
    assert_eq!(
        report["individual"]["class_sizes"],
        serde_json::json!(sizes)
    );
    assert_eq!(report["individual"]["records_below_k3"], below3);
    assert_eq!(report["individual"]["smallest_class"], sizes[0]);
    // The pair tables' classes, from their own files: both members' quasi-identifiers.
    for (file, section, suffixes) in [
        ("dyad.csv", "dyad", ["A", "B"]),
        ("pairwise.csv", "pairwise", ["A", "P"]),
    ] {
        let (head, table) = read_csv(&out.join(file));
        let cols: Vec<usize> = suffixes
            .iter()
            .flat_map(|s| {
                let head = &head;
                ["q3", "q4", "q5", "q6", "q7"]
                    .iter()
                    .map(move |q| head.iter().position(|x| *x == format!("{q}_{s}")).unwrap())
            })
            .collect();
        let sizes = class_sizes(&table, &cols);
        assert!(!table.is_empty(), "{file} has rows");
        assert_eq!(
            report[section]["class_sizes"],
            serde_json::json!(sizes),
            "{file}"
        );
        assert_eq!(report[section]["records"], table.len(), "{file}");
    }

    // --suppress blanks the quasi-identifiers of records in classes below k.
    let sup = tmp.path().join("suppressed");
    ok(plp(
        &study_dir,
        &[
            "export",
            "--suppress",
            "--k",
            "3",
            "--out",
            sup.to_str().unwrap(),
        ],
    ));
    let (_, srows) = read_csv(&sup.join("individual.csv"));
    let blank = srows
        .iter()
        .filter(|r| qi.iter().all(|&i| r[i].is_empty()))
        .count();
    assert_eq!(blank, below3);
}
