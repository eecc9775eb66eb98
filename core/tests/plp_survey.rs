//! The built-in PLP instrument and the branching engine: every rule Appendix 1 names, one
//! test each, plus random walks that must always validate.

use plp_core::answers::{Answer, Answers};
use plp_core::branching::{next_page, previous_page, prune, visible_ids, visible_pages};
use plp_core::sample::{walk, SplitMix64, Style};
use plp_core::survey::{Kind, Side, Survey};
use plp_core::validate::{answer_problems, validate_response};
use proptest::prelude::*;

fn plp() -> Survey {
    plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML).expect("the built-in survey loads")
}

fn answers(pairs: &[(&str, Answer)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn t(s: &str) -> Answer {
    Answer::Text(s.to_string())
}

fn visible(s: &Survey, a: &Answers, id: &str) -> bool {
    visible_ids(s, a).iter().any(|v| v == id)
}

fn range(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|n| format!("q{n}")).collect()
}

#[test]
fn instrument_has_64_questions_numbered_in_order() {
    let s = plp();
    let qs: Vec<_> = s.questions().collect();
    assert_eq!(qs.len(), 64);
    for (i, q) in qs.iter().enumerate() {
        assert_eq!(q.id, format!("q{}", i + 1));
        assert_eq!(q.number as usize, i + 1);
    }
    assert_eq!(qs[0].kind, Kind::PairCode);
    assert_eq!(qs[1].kind, Kind::MemorableWord);
    assert_eq!(s.information_sheet.version, "1.1");
    assert_eq!(s.survey.code_pattern, "^[A-Z]{1,2}$");
}

#[test]
fn q3_gives_the_side_of_the_pair() {
    let s = plp();
    assert_eq!(s.pairing.question, "q3");
    assert_eq!(s.side_for("bme"), Some(Side::A));
    assert_eq!(s.side_for("senior_leader"), Some(Side::B));
    assert_eq!(s.side_for("both"), Some(Side::Either));
}

#[test]
fn q8_yes_shows_q9_to_q13() {
    let s = plp();
    let a = answers(&[("q8", t("yes"))]);
    for id in range(9, 11) {
        assert!(visible(&s, &a, &id), "{id} hidden after q8 = yes");
    }
    assert!(visible(&s, &a, "q12"));
    assert!(visible(&s, &a, "q14"));
}

#[test]
fn q8_no_jumps_to_q14() {
    let s = plp();
    let a = answers(&[("q8", t("no"))]);
    for id in range(9, 13) {
        assert!(!visible(&s, &a, &id), "{id} shown after q8 = no");
    }
    assert!(visible(&s, &a, "q14"));
}

#[test]
fn q20_attended_shows_q21_to_q23_not_q24_q25() {
    let s = plp();
    for opt in ["one", "multiple", "all"] {
        let a = answers(&[("q20", t(opt))]);
        for id in range(21, 23) {
            assert!(visible(&s, &a, &id), "{id} hidden after q20 = {opt}");
        }
        for id in range(24, 25) {
            assert!(!visible(&s, &a, &id), "{id} shown after q20 = {opt}");
        }
    }
}

#[test]
fn q20_not_attended_shows_q24_q25_not_q21_to_q23() {
    let s = plp();
    let a = answers(&[("q20", t("no"))]);
    for id in range(24, 25) {
        assert!(visible(&s, &a, &id));
    }
    for id in range(21, 23) {
        assert!(!visible(&s, &a, &id));
    }
}

#[test]
fn q29_good_match_shows_q30_only() {
    let s = plp();
    let a = answers(&[("q29", t("yes"))]);
    assert!(visible(&s, &a, "q30"));
    assert!(!visible(&s, &a, "q31"));
}

#[test]
fn q29_not_a_good_match_shows_q31_only() {
    let s = plp();
    let a = answers(&[("q29", t("no"))]);
    assert!(!visible(&s, &a, "q30"));
    assert!(visible(&s, &a, "q31"));
}

#[test]
fn q49_successful_shows_q50_not_q51_q52() {
    let s = plp();
    for opt in ["definitely", "somewhat"] {
        let a = answers(&[("q49", t(opt))]);
        assert!(visible(&s, &a, "q50"), "q50 hidden after q49 = {opt}");
        assert!(!visible(&s, &a, "q51"));
        assert!(!visible(&s, &a, "q52"));
    }
}

#[test]
fn q49_unsuccessful_shows_q51_q52_not_q50() {
    let s = plp();
    for opt in ["not_particularly", "definitely_not"] {
        let a = answers(&[("q49", t(opt))]);
        assert!(!visible(&s, &a, "q50"));
        assert!(visible(&s, &a, "q51"), "q51 hidden after q49 = {opt}");
        assert!(visible(&s, &a, "q52"), "q52 hidden after q49 = {opt}");
    }
}

#[test]
fn unanswered_branch_question_hides_its_branches() {
    let s = plp();
    let a = Answers::new();
    for id in ["q9", "q21", "q24", "q30", "q31", "q50", "q51"] {
        assert!(
            !visible(&s, &a, id),
            "{id} shown before its branch question is answered"
        );
    }
}

#[test]
fn changing_an_answer_drops_the_answers_it_hid() {
    let s = plp();
    let mut rng = SplitMix64(7);
    let fixed = answers(&[("q3", t("bme")), ("q8", t("yes"))]);
    let mut a = walk(
        &s,
        &mut rng,
        &Style {
            answer_optional: 100,
            ..Style::default()
        },
        &fixed,
    );
    assert!(a.contains_key("q9"));
    a.insert("q8".into(), t("no"));
    let pruned = prune(&s, &a);
    for id in ["q9", "q10", "q11"] {
        assert!(pruned.dropped.contains(&id.to_string()), "{id} not dropped");
        assert!(!pruned.kept.contains_key(id));
    }
    assert!(answer_problems(&s, &pruned.kept).is_empty());
}

#[test]
fn pages_follow_visibility() {
    let s = plp();
    let a = Answers::new();
    let pages = visible_pages(&s, &a);
    assert_eq!(pages[0], 0);
    assert_eq!(next_page(&s, &a, 0), Some(pages[1]));
    assert_eq!(previous_page(&s, &a, pages[1]), Some(0));
    assert_eq!(next_page(&s, &a, *pages.last().unwrap()), None);
}

#[test]
fn a_page_with_nothing_visible_is_skipped() {
    let toml = r#"
[survey]
id = "tiny"
version = "1"
title = "Tiny"
[information_sheet]
version = "1"
text = "About this survey."
[pairing]
question = "role"
sides = { x = "a", y = "b" }
[[sections]]
id = "p1"
title = "One"
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
options = [{ id = "x", label = "X" }, { id = "y", label = "Y" }]
[[sections]]
id = "p2"
title = "Only for X"
[[sections.questions]]
id = "more"
number = 4
kind = "short_text"
text = "More"
show_if = { equals = { question = "role", option = "x" } }
[[sections]]
id = "p3"
title = "Last"
[[sections.questions]]
id = "end"
number = 5
kind = "rating"
text = "End"
min = 1
max = 5
min_label = "low"
max_label = "high"
"#;
    let s = plp_core::check::from_toml(toml).unwrap();
    let y = answers(&[("role", t("y"))]);
    assert_eq!(
        next_page(&s, &y, 0),
        Some(2),
        "page 2 should be skipped for y"
    );
    assert_eq!(previous_page(&s, &y, 2), Some(0));
    let x = answers(&[("role", t("x"))]);
    assert_eq!(next_page(&s, &x, 0), Some(1));
}

#[test]
fn validation_names_every_problem_at_once() {
    let s = plp();
    let mut rng = SplitMix64(11);
    let fixed = answers(&[("q8", t("no")), ("q29", t("yes"))]);
    let mut a = walk(&s, &mut rng, &Style::default(), &fixed);
    a.insert("q9".into(), t("band2_3")); // hidden by q8 = no
    a.insert("q64".into(), Answer::Int(9)); // out of range
    a.remove("q4"); // required
    a.insert("q99".into(), t("x")); // unknown
    a.insert("q3".into(), t("astronaut")); // not an option
    let err = validate_response(&s, "ABC", &a).unwrap_err();
    let text = err.to_string();
    for needle in ["Q1", "Q3", "Q4", "Q9", "Q64", "q99"] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert!(err.0.len() >= 6, "{text}");
    assert!(text.contains("hidden by branching"));
    assert!(text.contains("outside the scale 1 to 5"));
    assert!(text.contains("required"));
}

#[test]
fn multiple_choice_must_be_unique_and_in_option_order() {
    let s = plp();
    let mut rng = SplitMix64(3);
    let mut a = walk(&s, &mut rng, &Style::default(), &Answers::new());
    let q14 = s.question("q14").unwrap();
    let o: Vec<String> = q14.kind.options().iter().map(|o| o.id.clone()).collect();
    a.insert("q14".into(), Answer::List(vec![o[0].clone(), o[0].clone()]));
    a.remove("q14_other");
    assert!(validate_response(&s, "A", &a)
        .unwrap_err()
        .to_string()
        .contains("twice"));
    a.insert("q14".into(), Answer::List(vec![o[1].clone(), o[0].clone()]));
    assert!(validate_response(&s, "A", &a)
        .unwrap_err()
        .to_string()
        .contains("order"));
    a.insert("q14".into(), Answer::List(vec![o[0].clone(), o[1].clone()]));
    assert!(validate_response(&s, "A", &a).is_ok());
}

#[test]
fn other_text_only_with_the_other_option() {
    let s = plp();
    let mut rng = SplitMix64(5);
    let mut a = walk(&s, &mut rng, &Style::default(), &Answers::new());
    let first = s.question("q14").unwrap().kind.options()[0].id.clone();
    a.insert("q14".into(), Answer::List(vec![first]));
    a.insert("q14_other".into(), t("a friend"));
    let e = validate_response(&s, "A", &a).unwrap_err().to_string();
    assert!(e.contains("q14_other"), "{e}");
    a.insert("q14".into(), Answer::List(vec!["other".into()]));
    assert!(validate_response(&s, "A", &a).is_ok());
}

#[test]
fn text_over_its_limit_is_refused() {
    let s = plp();
    let mut rng = SplitMix64(9);
    let fixed = answers(&[("q20", t("one"))]);
    let mut a = walk(&s, &mut rng, &Style::default(), &fixed);
    let Kind::LongText { max_length } = s.question("q21").unwrap().kind else {
        panic!("q21 is long text")
    };
    a.insert("q21".into(), t(&"x".repeat(max_length + 1)));
    let e = validate_response(&s, "A", &a).unwrap_err().to_string();
    assert!(e.contains("Q21") && e.contains("over the limit"), "{e}");
    a.insert("q21".into(), t(&"x".repeat(max_length)));
    assert!(validate_response(&s, "A", &a).is_ok());
}

#[test]
fn published_json_round_trips_to_the_same_survey() {
    let s = plp();
    let json = plp_core::check::to_json(&s);
    let back = plp_core::check::from_json(&json).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        plp_core::check::to_json(&back),
        json,
        "canonical bytes are stable"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random walks that answer only what is visible always validate.
    #[test]
    fn random_walks_validate(seed in any::<u64>(), optional in 0u64..=100, code in "[a-zA-Z]{1,2}") {
        let s = plp();
        let style = Style { answer_optional: optional, ..Style::default() };
        let a = walk(&s, &mut SplitMix64(seed), &style, &Answers::new());
        prop_assert!(validate_response(&s, &code, &a).is_ok(), "{:?}", validate_response(&s, &code, &a));
    }

    /// Adding an answer to any hidden question always fails validation.
    #[test]
    fn answering_a_hidden_question_fails(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let s = plp();
        let a = walk(&s, &mut SplitMix64(seed), &Style::default(), &Answers::new());
        let shown = visible_ids(&s, &a);
        let hidden: Vec<_> = s.questions().filter(|q| q.kind.in_answers() && !shown.contains(&q.id)).collect();
        prop_assume!(!hidden.is_empty());
        let q = hidden[pick.index(hidden.len())];
        let mut rng = SplitMix64(seed ^ 1);
        let mut with = a.clone();
        with.insert(q.id.clone(), plp_core::sample::answer(&q.kind, &mut rng, &Style::default()).unwrap());
        let err = validate_response(&s, "A", &with).unwrap_err();
        prop_assert!(err.0.iter().any(|p| p.key == q.id && p.reason.contains("hidden")), "{}", err);
    }
}
