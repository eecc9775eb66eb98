//! Writes the seed corpora of the fuzz targets: `cargo run --example seeds -- DIR` fills
//! `DIR/<target>/` with small valid and nearly valid inputs, made from the envelope-v1 test
//! vectors and the built-in PLP survey. `.ci/fuzz` runs it before fuzzing, so no corpus is
//! committed.

use plp_core::check;
use plp_core::payload::{ResponseDraft, WithdrawalPayload};
use plp_core::published::PublishedStudy;
use plp_core::sample::{walk, SplitMix64, Style};
use plp_fuzz::targets::{fixed, TARGETS};
use std::path::{Path, PathBuf};

const VECTORS: &str = include_str!("../../core/tests/vectors/envelope-v1.json");

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus folder");
    std::fs::write(d.join(name), bytes).expect("seed written");
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: seeds DIR"));
    let f = fixed();
    let v: serde_json::Value = serde_json::from_str(VECTORS).expect("vectors");
    let s = |x: &serde_json::Value| x.as_str().expect("string").as_bytes().to_vec();

    // Envelopes: the vectors' valid and invalid ones, as files and as server bodies.
    for (i, e) in v["envelopes"].as_array().expect("envelopes").iter().enumerate() {
        for t in ["envelope", "server_body"] {
            write(&dir, t, &format!("vector-{i}"), &s(&e["expected_envelope"]));
        }
        write(&dir, "payload", &format!("vector-{i}"), &s(&e["plaintext"]));
    }
    for (i, e) in v["invalid_envelopes"].as_array().expect("invalid").iter().enumerate() {
        for t in ["envelope", "server_body"] {
            write(&dir, t, &format!("invalid-{i}"), &s(&e["envelope"]));
        }
    }

    // Responses to the built-in survey, and a withdrawal request, as payloads and sealed to
    // the fixed key (so the `envelope` target reaches validation).
    let survey = &f.survey;
    let survey_json = check::to_json(survey);
    let survey_sha = plp_core::payload::sha256_hex(&survey_json);
    for seed in 0..3u64 {
        let mut fixed_answers = plp_core::Answers::new();
        let role = ["bme", "senior_leader", "both"][seed as usize];
        fixed_answers.insert("q3".into(), plp_core::Answer::Text(role.into()));
        let answers = walk(survey, &mut SplitMix64(seed), &Style::default(), &fixed_answers);
        let p = ResponseDraft {
            study_id: &f.study_id,
            survey,
            survey_sha256: &survey_sha,
            code: "AB",
            word: "lantern",
            answers: &answers,
            date: "2026-03-02",
            submission_id: [seed as u8; 16],
        }
        .build()
        .expect("a walk builds a valid response");
        let json = p.to_json();
        write(&dir, "payload", &format!("plp-response-{seed}"), &json);
        let env = f
            .key
            .public()
            .seal(&f.study_id, &json, [seed as u8 + 1; 32])
            .expect("sealed");
        write(&dir, "envelope", &format!("plp-response-{seed}"), &env.to_json());
    }
    let w = WithdrawalPayload::build(
        &f.study_id,
        &survey.survey.code_pattern,
        Some("ab"),
        "lantern",
        "2026-04-01",
        [7; 16],
    )
    .expect("withdrawal");
    write(&dir, "payload", "plp-withdrawal", &w.to_json());

    // Survey definitions: the built-in one in TOML and as published JSON.
    write(&dir, "survey", "plp.toml", plp_core::PLP_SURVEY_TOML.as_bytes());
    write(&dir, "survey", "plp.json", &survey_json);

    // A published study: study.json, NUL, survey.json.
    let study = PublishedStudy::new(
        &f.study_id,
        "Fuzz study",
        survey,
        &survey_json,
        f.key.public(),
        Some("/api/v1/envelopes".into()),
    );
    let mut input = serde_json::to_vec(&study).expect("study.json");
    input.push(0);
    input.extend_from_slice(&survey_json);
    write(&dir, "published", "plp", &input);

    // Each target must accept some seed, or fuzzing would start from refusals only.
    for (name, run) in TARGETS {
        let d = dir.join(name);
        let (mut n, mut accepted) = (0, 0);
        for e in std::fs::read_dir(&d).expect("corpus folder") {
            let path = e.expect("entry").path();
            accepted += usize::from(run(&std::fs::read(&path).expect("seed")).is_ok());
            n += 1;
        }
        println!("{name}: {n} seeds ({accepted} accepted) in {}", d.display());
        assert!(accepted > 0, "no seed of {name} is accepted");
    }
}
