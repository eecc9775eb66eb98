//! Every input limit of core (docs/limits.md), each tested at the limit, where the input is
//! accepted, and one step over it, where it is refused with the documented message.
#![cfg(all(feature = "toml", not(target_arch = "wasm32")))]

use plp_core::answers::{Answer, Answers};
use plp_core::check::{self, MAX_OPTIONS, MAX_QUESTIONS, MAX_RULE_DEPTH, MAX_SURVEY_BYTES};
use plp_core::envelope::{check_framing, Envelope, MAX_ENVELOPE_BYTES};
use plp_core::payload::{self, Payload, ResponseDraft, MAX_ANSWERS, MAX_PAYLOAD_BYTES};
use plp_core::published::{PublishedStudy, MAX_STUDY_JSON_BYTES};
use plp_core::sample::{walk, SplitMix64, Style};
use plp_core::seal::KeyPair;
use plp_core::survey::Survey;
use plp_core::Error;

const VECTORS: &str = include_str!("vectors/envelope-v1.json");

/// (envelope JSON, study id, key id, plaintext) of the first envelope vector.
fn vector() -> (String, String, String, String) {
    let v: serde_json::Value = serde_json::from_str(VECTORS).expect("vectors");
    let e = &v["envelopes"][0];
    let s = |k: &str| e[k].as_str().expect("string").to_string();
    (
        s("expected_envelope"),
        s("study_id"),
        s("key_id"),
        s("plaintext"),
    )
}

/// The bytes followed by spaces (JSON allows them after the value) up to `len`.
fn padded(bytes: &[u8], len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len);
    let mut v = bytes.to_vec();
    v.resize(len, b' ');
    v
}

#[track_caller]
fn too_large(e: Error, what: &str, size: usize, limit: usize) {
    assert_eq!(
        e.to_string(),
        format!("{what} is {size} bytes, over the limit of {limit}")
    );
}

#[test]
fn envelope_of_256_kib_parses_and_one_byte_more_is_refused() {
    let (env, ..) = vector();
    Envelope::parse(&padded(env.as_bytes(), MAX_ENVELOPE_BYTES)).expect("at the limit");
    let e = Envelope::parse(&padded(env.as_bytes(), MAX_ENVELOPE_BYTES + 1)).unwrap_err();
    too_large(e, "envelope", MAX_ENVELOPE_BYTES + 1, 256 * 1024);
}

#[test]
fn server_framing_takes_256_kib_and_refuses_one_byte_more() {
    let (env, study, key, _) = vector();
    let ok = check_framing(&padded(env.as_bytes(), MAX_ENVELOPE_BYTES), &study, &key)
        .expect("at the limit");
    assert_eq!((ok.study_id.as_str(), ok.key_id.as_str()), (&*study, &*key));
    let e = check_framing(
        &padded(env.as_bytes(), MAX_ENVELOPE_BYTES + 1),
        &study,
        &key,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::TooLarge { what: "envelope", size, .. } if size == MAX_ENVELOPE_BYTES + 1)
    );
    assert_eq!(
        e.to_string(),
        "envelope is 262145 bytes, over the limit of 262144"
    );
    // The other refusals, in the order the server meets them.
    let e = check_framing(b"{\"format\": 1}", &study, &key).unwrap_err();
    assert!(matches!(e, Error::Envelope(_)), "{e}");
    assert!(e.to_string().starts_with("malformed envelope: "), "{e}");
    let e = check_framing(env.as_bytes(), "another-study", &key).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("envelope was sealed for study `{study}`, but this study is `another-study`")
    );
    let e = check_framing(env.as_bytes(), &study, "0123456789abcdef").unwrap_err();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    assert!(e.to_string().contains("sealed to key"), "{e}");
}

#[test]
fn payload_of_192_kib_parses_and_one_byte_more_is_refused() {
    let (.., plaintext) = vector();
    payload::parse(&padded(plaintext.as_bytes(), MAX_PAYLOAD_BYTES)).expect("at the limit");
    let e = payload::parse(&padded(plaintext.as_bytes(), MAX_PAYLOAD_BYTES + 1)).unwrap_err();
    too_large(e, "payload", MAX_PAYLOAD_BYTES + 1, 192 * 1024);
}

/// A valid response to the built-in survey, as JSON, with `extra` more answers whose keys
/// no question has.
fn response_with_extra_answers(extra: usize) -> Vec<u8> {
    let survey = check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in survey");
    let sha = payload::sha256_hex(&check::to_json(&survey));
    let mut fixed = Answers::new();
    fixed.insert("q3".into(), Answer::Text("bme".into()));
    let answers = walk(&survey, &mut SplitMix64(1), &Style::default(), &fixed);
    let mut p = ResponseDraft {
        study_id: "limits",
        survey: &survey,
        survey_sha256: &sha,
        code: "AB",
        word: "lantern",
        answers: &answers,
        date: "2026-03-02",
        submission_id: [1; 16],
    }
    .build()
    .expect("a valid response");
    for i in 0..extra {
        p.answers.insert(format!("x{i:05}"), Answer::Int(1));
    }
    p.to_json()
}

#[test]
fn a_response_with_2000_answers_parses_and_2001_are_refused() {
    let survey = check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in survey");
    let base = match payload::parse(&response_with_extra_answers(0)).expect("valid") {
        Payload::Response(p) => p.answers.len(),
        Payload::Withdrawal(_) => unreachable!(),
    };
    let at = response_with_extra_answers(MAX_ANSWERS - base);
    let Payload::Response(p) = payload::parse(&at).expect("2000 answers parse") else {
        unreachable!()
    };
    assert_eq!(p.answers.len(), MAX_ANSWERS);
    // Verifying it fails, but on the unknown keys, not on the count.
    let e = p.verify(&survey).unwrap_err().to_string();
    assert!(e.contains("no question in this survey has this id"), "{e}");

    let over = response_with_extra_answers(MAX_ANSWERS - base + 1);
    let e = payload::parse(&over).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed payload: `answers` has 2001 entries, over the limit of 2000"
    );
    // verify() checks the count too, for a payload that did not come through parse().
    let mut p = p;
    p.answers.insert("y".into(), Answer::Int(1));
    let e = p.verify(&survey).unwrap_err().to_string();
    assert!(e.contains("over the limit of 2000"), "{e}");
}

#[test]
fn study_json_of_256_kib_loads_and_one_byte_more_is_refused() {
    let survey = check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in survey");
    let survey_json = check::to_json(&survey);
    let key = KeyPair::derive([7; 32]);
    let study = PublishedStudy::new(
        "limits",
        "Limits",
        &survey,
        &survey_json,
        key.public(),
        None,
    );
    let json = serde_json::to_vec(&study).expect("JSON");
    PublishedStudy::load(&padded(&json, MAX_STUDY_JSON_BYTES), &survey_json).expect("at the limit");
    let e =
        PublishedStudy::load(&padded(&json, MAX_STUDY_JSON_BYTES + 1), &survey_json).unwrap_err();
    too_large(
        e,
        "study configuration",
        MAX_STUDY_JSON_BYTES + 1,
        256 * 1024,
    );
}

#[test]
fn survey_definition_of_1_mib_loads_and_one_byte_more_is_refused() {
    // TOML: the built-in survey and a comment filling it up.
    let mut toml = format!("{}\n#", plp_core::PLP_SURVEY_TOML);
    let fill = MAX_SURVEY_BYTES - toml.len();
    toml.push_str(&"x".repeat(fill));
    check::from_toml(&toml).expect("at the limit");
    toml.push('x');
    too_large(
        check::from_toml(&toml).unwrap_err(),
        "survey definition",
        MAX_SURVEY_BYTES + 1,
        1024 * 1024,
    );
    // JSON, as published.
    let survey = check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in survey");
    let json = check::to_json(&survey);
    check::from_json(&padded(&json, MAX_SURVEY_BYTES)).expect("at the limit");
    too_large(
        check::from_json(&padded(&json, MAX_SURVEY_BYTES + 1)).unwrap_err(),
        "survey definition",
        MAX_SURVEY_BYTES + 1,
        MAX_SURVEY_BYTES,
    );
}

/// A small sound survey (pair code, memorable word, a required role question deciding the
/// side, an optional choice `opt`) followed by `extra` TOML.
fn small_survey(extra: &str) -> String {
    format!(
        r#"[survey]
id = "limits"
version = "1"
title = "Limits"

[information_sheet]
version = "1"
text = "About this survey."

[pairing]
question = "role"
sides = {{ a = "a", b = "b" }}

[[sections]]
id = "s"
title = "S"

[[sections.questions]]
id = "code"
number = 1
kind = "pair_code"
text = "Code"
required = true

[[sections.questions]]
id = "word"
number = 2
kind = "memorable_word"
text = "Word"
required = true

[[sections.questions]]
id = "role"
number = 3
kind = "single"
text = "Role"
required = true
options = [{{ id = "a", label = "A" }}, {{ id = "b", label = "B" }}]

[[sections.questions]]
id = "opt"
number = 4
kind = "single"
text = "Optional"
options = [{{ id = "x", label = "X", other = true }}, {{ id = "y", label = "Y" }}]
{extra}"#
    )
}

fn text_questions(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "\n[[sections.questions]]\nid = \"t{i}\"\nnumber = {}\nkind = \"short_text\"\ntext = \"T\"\n",
                100 + i
            )
        })
        .collect()
}

#[track_caller]
fn problems(text: &str) -> Vec<String> {
    match check::from_toml(text) {
        Err(Error::SurveyInvalid(p)) => p,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn a_survey_of_1000_questions_loads_and_1001_are_refused() {
    let s = check::from_toml(&small_survey(&text_questions(MAX_QUESTIONS - 4))).expect("1000");
    assert_eq!(s.questions().count(), MAX_QUESTIONS);
    assert_eq!(
        problems(&small_survey(&text_questions(MAX_QUESTIONS - 3))),
        ["the survey has 1001 questions, over the limit of 1000"]
    );
}

fn options_question(n: usize) -> String {
    let options: Vec<String> = (0..n)
        .map(|i| format!("{{ id = \"o{i}\", label = \"O\" }}"))
        .collect();
    format!(
        "\n[[sections.questions]]\nid = \"many\"\nnumber = 5\nkind = \"multiple\"\ntext = \"M\"\noptions = [{}]\n",
        options.join(", ")
    )
}

#[test]
fn a_question_with_200_options_loads_and_201_are_refused() {
    check::from_toml(&small_survey(&options_question(MAX_OPTIONS))).expect("200 options");
    assert_eq!(
        problems(&small_survey(&options_question(MAX_OPTIONS + 1))),
        ["question many has 201 options, over the limit of 200"]
    );
}

/// A question shown when `depth` rules nest: `not` around `not` ... around
/// `answered opt`.
fn nested_rule_question(depth: usize) -> String {
    let rule = format!(
        "{}{{ answered = {{ question = \"opt\" }} }}{}",
        "{ not = ".repeat(depth - 1),
        " }".repeat(depth - 1)
    );
    format!(
        "\n[[sections.questions]]\nid = \"deep\"\nnumber = 5\nkind = \"short_text\"\ntext = \"D\"\nshow_if = {rule}\n"
    )
}

#[test]
fn rules_nest_16_deep_and_17_are_refused() {
    let s =
        check::from_toml(&small_survey(&nested_rule_question(MAX_RULE_DEPTH))).expect("16 deep");
    assert!(s
        .question("deep")
        .and_then(|q| q.show_if.as_ref())
        .is_some());
    assert_eq!(
        problems(&small_survey(&nested_rule_question(MAX_RULE_DEPTH + 1))),
        ["question deep: show_if nests rules 17 deep, over the limit of 16"]
    );
}

/// Runs `f` on a thread with a 1 MiB stack, the default stack of Rust in wasm32 (where the
/// browser loads survey.json), and half of a test thread's.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no stack overflow or panic")
}

#[test]
fn a_hostile_deeply_nested_rule_is_a_clear_error_not_a_stack_overflow() {
    const DEPTH: usize = 100_000;
    // JSON as published: 100,000 nested `not`, then the same with `all` arrays.
    let survey = check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in survey");
    let json = String::from_utf8(check::to_json(&survey)).expect("UTF-8");
    let leaf = r#"{"answered":{"question":"q1"}}"#;
    for (open, close) in [(r#"{"not":"#, "}"), (r#"{"all":["#, "]}")] {
        let rule = format!("{}{leaf}{}", open.repeat(DEPTH), close.repeat(DEPTH));
        let hostile = json.replacen(
            r#""kind":"single""#,
            &format!(r#""show_if":{rule},"kind":"single""#),
            1,
        );
        assert!(hostile.len() > json.len() + DEPTH);
        let e = on_small_stack(move || check::from_json(hostile.as_bytes()).unwrap_err());
        let msg = e.to_string();
        assert!(
            msg.starts_with("survey definition cannot be read: recursion limit exceeded")
                && msg.contains("the definition is nested too deeply")
                && msg.contains("at most 16 rules"),
            "{msg}"
        );
    }
    // TOML: the same rule as inline tables, and as one long dotted key.
    let inline = small_survey(&format!(
        "\n[[sections.questions]]\nid = \"deep\"\nnumber = 5\nkind = \"short_text\"\ntext = \"D\"\nshow_if = {}{{ answered = {{ question = \"opt\" }} }}{}\n",
        "{ not = ".repeat(DEPTH),
        " }".repeat(DEPTH)
    ));
    let dotted = small_survey(&format!(
        "\n[[sections.questions]]\nid = \"deep\"\nnumber = 5\nkind = \"short_text\"\ntext = \"D\"\nshow_if{}.answered.question = \"opt\"\n",
        ".not".repeat(DEPTH)
    ));
    for text in [inline, dotted] {
        let e = on_small_stack(move || check::from_toml(&text).unwrap_err());
        let msg = e.to_string();
        assert!(
            msg.contains("recursion limit exceeded")
                && msg.contains("the definition is nested too deeply"),
            "{}",
            &msg[msg.len().saturating_sub(300)..]
        );
    }
}

#[test]
fn text_limits_hold_for_the_definition_and_the_answers() {
    let short = |max: usize| {
        small_survey(&format!(
            "\n[[sections.questions]]\nid = \"t\"\nnumber = 5\nkind = \"short_text\"\ntext = \"T\"\nmax_length = {max}\n"
        ))
    };
    let s: Survey = check::from_toml(&short(100_000)).expect("the largest max_length");
    assert_eq!(
        problems(&short(100_001)),
        ["question t: max_length 100001 must be 1 to 100000"]
    );
    let s10: Survey = check::from_toml(&short(10)).expect("max_length 10");
    let answers = |t: &str, other: Option<String>| {
        let mut a = Answers::new();
        a.insert("role".into(), Answer::Text("a".into()));
        a.insert("t".into(), Answer::Text(t.into()));
        if let Some(o) = other {
            a.insert("opt".into(), Answer::Text("x".into()));
            a.insert("opt_other".into(), Answer::Text(o));
        }
        a
    };
    let validate = |s: &Survey, a: &Answers| {
        plp_core::validate::validate_response(s, "A", a).map_err(|p| p.to_string())
    };
    validate(&s10, &answers("ten chars!", None)).expect("at max_length");
    assert_eq!(
        validate(&s10, &answers("eleven char", None)).unwrap_err(),
        "Q5 (t): 11 characters is over the limit of 10"
    );
    // "Other" texts: 500 characters.
    let max = plp_core::survey::OTHER_TEXT_MAX;
    assert_eq!(max, 500);
    validate(&s, &answers("x", Some("é".repeat(max)))).expect("500 characters");
    assert_eq!(
        validate(&s, &answers("x", Some("é".repeat(max + 1)))).unwrap_err(),
        "Q4 (opt_other): 501 characters is over the limit of 500"
    );
}
