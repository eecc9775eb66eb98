//! What each fuzz target does with one input, as plain functions.
//!
//! The libFuzzer binaries in `fuzz/fuzz_targets/` call these, and
//! `core/tests/regressions.rs` compiles this same file (`#[path]`) to replay every input kept
//! under `core/tests/regressions/<target>/`, so a crash found by fuzzing stays fixed.
//!
//! Each function returns what the input came to: `Ok` with what was accepted, or `Err` with
//! the message the input is refused with. Refusing is the normal outcome. A panic is the
//! bug, and so is a broken invariant, which these functions check with `assert!`: whatever
//! plp accepts must re-encode to bytes that plp accepts again, unchanged.

use plp_core::answers::{Answer, Answers, ReadAnswers};
use plp_core::check;
use plp_core::envelope::{check_framing, fingerprint, received_bytes, short_receipt, Envelope};
use plp_core::payload::{self, Payload};
use plp_core::published::PublishedStudy;
use plp_core::sample::{walk, SplitMix64, Style};
use plp_core::seal::KeyPair;
use plp_core::survey::Survey;
use std::sync::OnceLock;

/// The envelope-v1 test vectors: the fixed key and study of the envelope targets.
const VECTORS: &str = include_str!("../../core/tests/vectors/envelope-v1.json");

/// The fixed study the targets check against.
pub struct Fixed {
    /// The recipient key of the first envelope vector, so the vectors' envelopes (and seeds
    /// sealed to it) open.
    pub key: KeyPair,
    /// That vector's study id.
    pub study_id: String,
    /// Its key id.
    pub key_id: String,
    /// The built-in PLP survey.
    pub survey: Survey,
}

/// The fixed study, built once per process.
pub fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(VECTORS).expect("the vectors parse");
        let e = &v["envelopes"][0];
        let text = |k: &str| e[k].as_str().expect("a vector string").to_string();
        let secret: [u8; 32] = hex::decode(text("private_key_hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let key = KeyPair::from_secret(secret).expect("the vector key is valid");
        assert_eq!(key.public().key_id(), text("key_id"));
        Fixed {
            key,
            study_id: text("study_id"),
            key_id: text("key_id"),
            survey: check::from_toml(plp_core::PLP_SURVEY_TOML).expect("the built-in survey"),
        }
    })
}

/// What an input came to.
pub type Outcome = Result<&'static str, String>;

fn refused(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `envelope`: an envelope file as `plp ingest` reads it: strict parse, open with the fixed
/// key, then the payload inside as [`payload`] takes it.
pub fn envelope(data: &[u8]) -> Outcome {
    let f = fixed();
    let env = Envelope::parse(data).map_err(refused)?;
    let again = Envelope::parse(&env.to_json()).expect("a parsed envelope re-encodes to one");
    assert_eq!(again, env, "re-encoding changed the envelope");
    // As the store keeps it: packed only when it gives back these very bytes.
    if let Some(packed) = env.pack(data) {
        assert_eq!(
            received_bytes(&packed)
                .expect("a packed envelope reads back")
                .as_ref(),
            data,
            "packing changed the bytes"
        );
        assert_eq!(Envelope::from_stored(&packed).expect("reads back"), env);
    }
    // Stored bytes of any kind are read without a panic (damaged ones refused).
    let _ = Envelope::from_stored(&[&[0x00, 0x01], data].concat());
    let plain = f.key.open(&env).map_err(refused)?;
    payload_of(&plain, f)
}

/// `payload`: opened plaintext: strict parse, then a response is verified against the
/// built-in PLP survey as `plp ingest` does.
pub fn payload(data: &[u8]) -> Outcome {
    payload_of(data, fixed())
}

fn payload_of(data: &[u8], f: &Fixed) -> Outcome {
    // Ingest reads answers in place (`read`), export reads them back (`read_answers`);
    // `parse` is `read` plus a copy. What `read` accepts is checked against an independent
    // reading, serde's own (an owned map, the last of repeated keys kept): the same
    // members and answers, and the same verdict and side against the survey.
    if let Ok(Payload::Response(view)) = payload::read(data) {
        let mut oracle = serde_json::from_slice::<payload::ResponsePayload>(data)
            .expect("serde reads what `read` accepts");
        // Where the spec says "hex digits" (not "lowercase"), `read` takes either case and
        // keeps lowercase; serde's reading keeps what was written.
        oracle.survey.sha256.make_ascii_lowercase();
        oracle
            .consent
            .information_sheet_sha256
            .make_ascii_lowercase();
        assert_eq!(
            view.verify(&f.survey).map_err(refused),
            oracle.verify(&f.survey).map_err(refused),
            "verified differently in place"
        );
        assert_eq!(view.side(&f.survey), oracle.side(&f.survey));
        let stored = payload::read_answers(data).expect("an accepted response reads back");
        assert_eq!(stored.to_answers(), oracle.answers, "read back differs");
        let owned = view.map_answers(ReadAnswers::into_answers);
        assert_eq!(owned, oracle, "read in place differs from serde's reading");
        // serde's reading of each answer is `read`'s own (`Answer` is read through
        // `ReadAnswer`): the values are checked against serde_json's generic reading.
        assert_eq!(
            owned.answers,
            answers_by_value(data),
            "answers read differently"
        );
    }
    let parsed = payload::parse(data).map_err(refused)?;
    let json = match &parsed {
        Payload::Response(p) => p.to_json(),
        Payload::Withdrawal(w) => w.to_json(),
    };
    let again = payload::parse(&json).expect("a parsed payload re-encodes to one");
    assert_eq!(again, parsed, "re-encoding changed the payload");
    match parsed {
        Payload::Withdrawal(_) => Ok("withdrawal request"),
        Payload::Response(p) => {
            p.verify(&f.survey).map_err(refused)?;
            p.side(&f.survey)
                .ok_or_else(|| "a valid response has no side".to_string())?;
            Ok("valid response")
        }
    }
}

/// The answers of a payload that `read` accepted, from serde_json's generic reading (the
/// last of repeated keys kept): a rating is an integer in i64, a choice or free text a
/// string, a multiple choice an array of strings; anything else was wrongly accepted.
fn answers_by_value(data: &[u8]) -> Answers {
    use serde_json::Value;
    let json: Value = serde_json::from_slice(data).expect("accepted JSON");
    let answers = json["answers"].as_object().expect("an object of answers");
    answers
        .iter()
        .map(|(k, v)| {
            let answer = match v {
                Value::Number(n) => Answer::Int(n.as_i64().expect("a rating in i64")),
                Value::String(s) => Answer::Text(s.clone()),
                Value::Array(items) => Answer::List(
                    items
                        .iter()
                        .map(|i| i.as_str().expect("choices are strings").to_string())
                        .collect(),
                ),
                other => panic!("`read` accepted {other} as an answer"),
            };
            (k.clone(), answer)
        })
        .collect()
}

/// `survey`: a survey definition as `plp survey check` reads it: TOML when the input is
/// UTF-8, and JSON (as published) in any case. A sound survey must publish: its canonical
/// JSON loads back to the same survey, as the browser loads it. Its branching and
/// validation then run over a random walk.
pub fn survey(data: &[u8]) -> Outcome {
    let toml = std::str::from_utf8(data).map(check::from_toml);
    let json = check::from_json(data);
    for s in toml.iter().flatten().chain(json.iter()) {
        sound(s);
    }
    match (toml, json) {
        (Ok(Ok(_)), _) => Ok("sound survey (TOML)"),
        (_, Ok(_)) => Ok("sound survey (JSON)"),
        (Ok(Err(e)), Err(_)) => Err(refused(e)),
        (Err(_), Err(e)) => Err(refused(e)),
    }
}

fn sound(s: &Survey) {
    let json = check::to_json(s);
    let back = check::from_json(&json).expect("the canonical JSON of a sound survey loads");
    assert_eq!(&back, s, "publishing changed the survey");
    let seed = json.len() as u64;
    let answers = walk(s, &mut SplitMix64(seed), &Style::default(), &Answers::new());
    let _ = plp_core::validate::answer_problems(s, &answers);
    let _ = plp_core::branching::visible_ids(s, &answers);
    for q in s.questions() {
        if let Some(rule) = &q.show_if {
            let _ = rule.describe();
        }
    }
}

/// Splits a `published` input: `study.json` bytes, a NUL, then `survey.json` bytes (no NUL:
/// everything before the first NUL is the study configuration).
pub fn split_published(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// `published`: what the respondent's browser loads, `study.json` beside `survey.json`.
pub fn published(data: &[u8]) -> Outcome {
    let (study, survey) = split_published(data);
    let loaded = PublishedStudy::load(study, survey).map_err(refused)?;
    let json = serde_json::to_vec(&loaded.config).expect("a study configuration serialises");
    PublishedStudy::load(&json, survey).expect("a loaded study.json re-encodes to one that loads");
    Ok("study loads")
}

/// `server_body`: the body of `POST /api/v1/envelopes` as `plp serve` checks it without
/// the key (size, framing, study and key id), then the receipt it answers with.
pub fn server_body(data: &[u8]) -> Outcome {
    let f = fixed();
    let env = check_framing(data, &f.study_id, &f.key_id).map_err(refused)?;
    assert_eq!(env.study_id, f.study_id);
    assert_eq!(env.key_id, f.key_id);
    let receipt = fingerprint(data);
    let short = short_receipt(data);
    assert!(receipt.len() == 64 && receipt.starts_with(&short[..4]));
    Ok("stored")
}

/// One fuzz target: what it does with an input.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target by name, for the regression test.
pub const TARGETS: &[(&str, Target)] = &[
    ("envelope", envelope),
    ("payload", payload),
    ("survey", survey),
    ("published", published),
    ("server_body", server_body),
];
