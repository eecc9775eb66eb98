//! `plp survey check` and `plp survey show`: the built-in survey passes; broken definitions
//! are refused with the problem named.

use plp_tests::{plp, TestStudy};

/// A small sound definition shaped like PLP: code, word, role (the pairing question), a
/// branch question and the questions it opens.
const BASE: &str = r#"
[survey]
id = "mini"
version = "1"
title = "Mini"

[information_sheet]
version = "1"
text = "About this survey."

[pairing]
question = "q3"
sides = { bme = "a", senior_leader = "b", both = "either" }

[[sections]]
id = "about"
title = "About you"

[[sections.questions]]
id = "q1"
number = 1
kind = "pair_code"
text = "Your pair code"
required = true

[[sections.questions]]
id = "q2"
number = 2
kind = "memorable_word"
text = "A memorable word"
required = true

[[sections.questions]]
id = "q3"
number = 3
kind = "single"
text = "Your role"
required = true
options = [
  { id = "bme", label = "BME staff member" },
  { id = "senior_leader", label = "Senior leader" },
  { id = "both", label = "Both" },
]

[[sections]]
id = "meetings"
title = "Meetings"

[[sections.questions]]
id = "q4"
number = 4
kind = "single"
text = "Did you meet?"
required = true
options = [{ id = "yes", label = "Yes" }, { id = "no", label = "No" }]

[[sections.questions]]
id = "q5"
number = 5
kind = "rating"
text = "How useful were the meetings?"
min = 1
max = 5
min_label = "Not at all"
max_label = "Very"
show_if = { equals = { question = "q4", option = "yes" } }

[[sections.questions]]
id = "q6"
number = 6
kind = "long_text"
text = "Anything else?"
"#;

struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            tmp: tempfile::tempdir().expect("temporary folder"),
        }
    }

    fn check(&self, name: &str, text: &str) -> plp_tests::Output {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, text).expect("written");
        plp(&["survey".as_ref(), "check".as_ref(), p.as_os_str()], None)
    }

    /// The base with `from` replaced by `to` (which must occur exactly once).
    fn broken(&self, name: &str, from: &str, to: &str) -> plp_tests::Output {
        assert_eq!(
            BASE.matches(from).count(),
            1,
            "fixture edit `{from}` is ambiguous"
        );
        self.check(name, &BASE.replacen(from, to, 1))
    }
}

#[test]
fn built_in_survey_and_its_published_json_pass() {
    let f = Fixture::new();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/surveys/plp.toml");
    let out = plp(
        &["survey".as_ref(), "check".as_ref(), file.as_os_str()],
        None,
    )
    .ok();
    assert!(out.stdout.contains("64 questions"), "{}", out.stdout);
    let out = f.check("plp.toml", plp_core::PLP_SURVEY_TOML).ok();
    assert!(
        out.stdout.contains(": ok: survey") && out.stdout.contains("64 questions"),
        "{}",
        out.stdout
    );
    let json = plp_core::check::to_json(
        &plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML).expect("built-in loads"),
    );
    let out = f
        .check("survey.json", std::str::from_utf8(&json).expect("UTF-8"))
        .ok();
    assert!(out.stdout.contains("64 questions"), "{}", out.stdout);
    // The fixture itself is sound, so each broken variant below fails for its own reason.
    f.check("base.toml", BASE).ok();
}

#[test]
fn unknown_rule_target_is_named() {
    Fixture::new()
        .broken(
            "unknown-target.toml",
            r#"question = "q4", option = "yes" }"#,
            r#"question = "q44", option = "yes" }"#,
        )
        .fails_listing(&["1 problem", "question q5", "unknown question `q44`"]);
}

#[test]
fn forward_reference_is_named() {
    let f = Fixture::new();
    // q4 (asked before q5) made to depend on q5.
    let text = BASE.replacen(
        "text = \"Did you meet?\"",
        "text = \"Did you meet?\"\nshow_if = { answered = { question = \"q5\" } }",
        1,
    );
    f.check("forward.toml", &text)
        .fails_listing(&["question q4", "`q5`", "forward reference"]);
}

#[test]
fn duplicate_question_id_is_named() {
    Fixture::new()
        .broken("dup.toml", "id = \"q6\"", "id = \"q4\"")
        .fails_listing(&["duplicate question id `q4`"]);
}

#[test]
fn unknown_option_in_rule_is_named() {
    Fixture::new()
        .broken(
            "option.toml",
            r#"question = "q4", option = "yes" }"#,
            r#"question = "q4", option = "maybe" }"#,
        )
        .fails_listing(&["question q5", "option `maybe`", "q4 does not have"]);
}

#[test]
fn unreachable_question_is_named() {
    Fixture::new()
        .broken(
            "unreachable.toml",
            r#"show_if = { equals = { question = "q4", option = "yes" } }"#,
            r#"show_if = { all = [ { equals = { question = "q4", option = "yes" } }, { equals = { question = "q4", option = "no" } } ] }"#,
        )
        .fails_listing(&["question q5 can never be shown", "(q4 = yes) and (q4 = no)"]);
}

#[test]
fn missing_pairing_question_is_named() {
    Fixture::new()
        .broken(
            "pairing.toml",
            "question = \"q3\"\nsides",
            "question = \"q30\"\nsides",
        )
        .fails_listing(&["[pairing]", "`q30` does not exist"]);
}

#[test]
fn pairing_option_without_side_is_named() {
    Fixture::new()
        .broken("sides.toml", ", both = \"either\" }", " }")
        .fails_listing(&["[pairing]", "option `both`", "has no side"]);
}

#[test]
fn toml_syntax_error_is_reported_with_its_line() {
    Fixture::new()
        .broken("syntax.toml", "title = \"Meetings\"", "title = \"Meetings")
        .fails_listing(&["syntax.toml", "cannot be read", "line"]);
}

#[test]
fn unknown_field_is_named() {
    Fixture::new()
        .broken(
            "field.toml",
            "text = \"Anything else?\"",
            "text = \"Anything else?\"\ncolour = \"red\"",
        )
        .fails_listing(&["field.toml", "unknown field `colour`"]);
}

#[test]
fn field_of_another_kind_is_named() {
    Fixture::new()
        .broken(
            "kind.toml",
            "kind = \"long_text\"",
            "kind = \"long_text\"\nmin = 1",
        )
        .fails_listing(&["question q6", "`min` does not apply to kind `long_text`"]);
}

#[test]
fn every_problem_is_listed_at_once() {
    let f = Fixture::new();
    let text = BASE
        .replacen("question = \"q3\"\nsides", "question = \"q30\"\nsides", 1)
        .replacen(r#"option = "yes" }"#, r#"option = "maybe" }"#, 1);
    let out = f.check("two.toml", &text).fails_listing(&[
        "2 problem(s)",
        "`q30` does not exist",
        "option `maybe`",
    ]);
    assert_eq!(
        out.stderr.lines().filter(|l| l.starts_with("  - ")).count(),
        2,
        "{}",
        out.stderr
    );
}

#[test]
fn init_refuses_a_broken_survey_and_leaves_nothing() {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let def = tmp.path().join("broken.toml");
    std::fs::write(&def, BASE.replacen("id = \"q6\"", "id = \"q4\"", 1)).expect("written");
    let dir = tmp.path().join("study");
    plp(
        &[
            "init".as_ref(),
            dir.as_os_str(),
            "--study-id".as_ref(),
            "broken".as_ref(),
            "--title".as_ref(),
            "T".as_ref(),
            "--cohort".as_ref(),
            "5".as_ref(),
            "--survey".as_ref(),
            def.as_os_str(),
        ],
        Some(plp_tests::PASSPHRASE),
    )
    .fails_listing(&["duplicate question id `q4`"]);
    assert!(!dir.join("study.toml").exists() && !dir.join("evaluator.key").exists());
}

#[test]
fn show_prints_all_64_questions_and_the_branching() {
    let out = plp(&["survey", "show"], None).ok();
    let questions: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('Q') && l.contains(" [q"))
        .collect();
    assert_eq!(questions.len(), 64, "{}", out.stdout);
    for (i, line) in questions.iter().enumerate() {
        assert!(
            line.starts_with(&format!("Q{} [q{}]", i + 1, i + 1)),
            "{line}"
        );
    }
    for needle in [
        "shown only when q8 = yes",
        "shown only when q29 = yes",
        "shown only when q29 = no",
        "-> side A",
        "-> side B",
        "-> side either",
    ] {
        assert!(
            out.stdout.contains(needle),
            "no `{needle}` in:\n{}",
            out.stdout
        );
    }
    // q9 is the first question q8 = yes opens; its rule line follows it.
    let lines: Vec<&str> = out.stdout.lines().collect();
    let q9 = lines
        .iter()
        .position(|l| l.starts_with("Q9 [q9]"))
        .expect("Q9 shown");
    assert!(
        lines[q9 + 1].contains("shown only when q8 = yes"),
        "{}",
        lines[q9 + 1]
    );
}

#[test]
fn show_of_a_published_study_matches_the_built_in() {
    let s = TestStudy::new("show-published");
    let published = plp(
        &[
            "survey".as_ref(),
            "show".as_ref(),
            s.site.join("survey.json").as_os_str(),
        ],
        None,
    )
    .ok();
    let built_in = plp(&["survey", "show"], None).ok();
    assert_eq!(published.stdout, built_in.stdout);
}
