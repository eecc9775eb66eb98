//! Validation of a complete response against its survey.
//!
//! The browser runs it before sealing and the CLI runs it again after opening, so a payload
//! that reaches analysis is one the instrument could have produced. Every problem is
//! reported at once, each naming the question number and the reason.

use crate::answers::{Answers, Value};
use crate::branching::{other_chosen_in, visible_mask_slots};
use crate::code::{normalise_and_check, CodePattern};
use crate::survey::{Kind, Question, Slots, Survey, OTHER_TEXT_MAX};
use std::fmt;

/// The reason of a required question left unanswered (the browser words it for the
/// respondent).
pub const NOT_ANSWERED: &str = "required, but not answered";

/// One thing wrong with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The answer key concerned (`q9`, `q14_other`, `code`).
    pub key: String,
    /// The question number, when the key belongs to a question.
    pub number: Option<u32>,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number {
            Some(n) => write!(f, "Q{n} ({}): {}", self.key, self.reason),
            None => write!(f, "{}: {}", self.key, self.reason),
        }
    }
}

/// Every problem found in a response; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|p| p.to_string()).collect();
        write!(f, "{}", parts.join("; "))
    }
}

/// Checks a pair code and answers against the survey. `code` is as typed or as carried in a
/// payload; it is normalised before the pattern check.
pub fn validate_response(survey: &Survey, code: &str, answers: &Answers) -> Result<(), Problems> {
    validate_slots(survey, code, &survey.lay_out(answers))
}

/// [`validate_response`] for answers already laid out by question position.
pub(crate) fn validate_slots(
    survey: &Survey,
    code: &str,
    slots: &Slots<'_>,
) -> Result<(), Problems> {
    let mut problems = Vec::new();
    match CodePattern::cached(&survey.survey.code_pattern) {
        Ok(p) => {
            if let Err(e) = normalise_and_check(code, &p) {
                problems.push(Problem {
                    key: "code".into(),
                    number: survey.pair_code_question().map(|q| q.number),
                    reason: e.to_string(),
                });
            }
        }
        Err(e) => problems.push(Problem {
            key: "code".into(),
            number: None,
            reason: e.to_string(),
        }),
    }
    problems.extend(slot_problems(survey, slots));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// Problems with the answers alone (no pair code), in asking order.
///
/// The answers are first laid out by question position in one merge of two sorted lists
/// (the answers' keys and the survey's), so no key is looked up twice and unknown keys
/// fall out of the same pass.
pub fn answer_problems(survey: &Survey, answers: &Answers) -> Vec<Problem> {
    slot_problems(survey, &survey.lay_out(answers))
}

/// [`answer_problems`] for answers already laid out by question position.
pub(crate) fn slot_problems(survey: &Survey, slots: &Slots<'_>) -> Vec<Problem> {
    let Slots {
        answer: slot,
        other,
        unknown,
    } = slots;
    let visible = visible_mask_slots(survey, slot);
    let mut problems = Vec::new();
    let mut push = |q: &Question, key: &str, reason: String| {
        problems.push(Problem {
            key: key.to_string(),
            number: Some(q.number),
            reason,
        })
    };
    for (i, q) in survey.questions().enumerate() {
        let (shown, answer) = (visible[i], slot[i]);
        if !q.kind.in_answers() {
            if answer.is_some() {
                push(
                    q,
                    &q.id,
                    format!("a {} never travels in the answers", q.kind.name()),
                );
            }
            continue;
        }
        match (shown, answer) {
            (false, Some(_)) => push(
                q,
                &q.id,
                format!(
                    "answered, but the question is hidden by branching (shown only when {})",
                    q.show_if.as_ref().map(|r| r.describe()).unwrap_or_default()
                ),
            ),
            (true, None) if q.required => push(q, &q.id, NOT_ANSWERED.into()),
            (true, Some(a)) => {
                if let Err(reason) = check_value(q, a) {
                    push(q, &q.id, reason);
                }
            }
            _ => {}
        }
        if let Some(a) = other[i] {
            let key = || q.other_key().unwrap_or_default();
            if !(shown && other_chosen_in(q, answer)) {
                push(
                    q,
                    &key(),
                    "\"Other\" text given, but the \"Other\" option is not chosen".into(),
                );
            } else if let Err(reason) = check_text(a, OTHER_TEXT_MAX) {
                push(q, &key(), reason);
            }
        }
    }
    for key in unknown {
        problems.push(Problem {
            key: key.to_string(),
            number: None,
            reason: "no question in this survey has this id".into(),
        });
    }
    problems
}

fn check_value(q: &Question, a: Value<'_>) -> Result<(), String> {
    match &q.kind {
        Kind::Single { options } => {
            let id = a
                .as_text()
                .ok_or("a single choice must be one option id (a string)")?;
            if !options.iter().any(|o| o.id == id) {
                return Err(format!("`{id}` is not one of its options"));
            }
        }
        Kind::Multiple { options } => {
            let ids = a
                .as_list()
                .ok_or("a multiple choice must be a list of option ids")?;
            if ids.is_empty() {
                return Err("an empty selection must be left out, not sent".into());
            }
            let mut last = None;
            for id in ids.iter() {
                let pos = options
                    .iter()
                    .position(|o| o.id == id)
                    .ok_or_else(|| format!("`{id}` is not one of its options"))?;
                match last {
                    Some(l) if pos == l => return Err(format!("`{id}` is selected twice")),
                    Some(l) if pos < l => {
                        return Err("options must be listed in the order they are defined".into())
                    }
                    _ => last = Some(pos),
                }
            }
        }
        Kind::Rating { min, max, .. } => {
            let v = a.as_int().ok_or("a rating must be an integer")?;
            if v < *min || v > *max {
                return Err(format!("{v} is outside the scale {min} to {max}"));
            }
        }
        Kind::ShortText { max_length } | Kind::LongText { max_length } => {
            check_text(a, *max_length)?;
        }
        Kind::PairCode | Kind::MemorableWord => {}
    }
    Ok(())
}

fn check_text(a: Value<'_>, max: usize) -> Result<(), String> {
    let s = a.as_text().ok_or("free text must be a string")?;
    if s.trim().is_empty() {
        return Err("a blank answer must be left out, not sent".into());
    }
    let n = s.chars().count();
    if n > max {
        return Err(format!("{n} characters is over the limit of {max}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::{Answer, ReadAnswers};
    use crate::branching::{holds, other_chosen, visible_mask};
    use crate::sample::{walk, Source, SplitMix64, Style};
    use std::collections::BTreeSet;

    /// Visibility as it was computed before answers were laid out by position: a set of the
    /// visible ids so far, each rule read through the map.
    fn reference_visible(survey: &Survey, answers: &Answers) -> Vec<bool> {
        let mut visible: BTreeSet<&str> = BTreeSet::new();
        survey
            .questions()
            .map(|q| {
                let shown = q
                    .show_if
                    .as_ref()
                    .is_none_or(|r| holds(r, answers, &visible));
                if shown {
                    visible.insert(&q.id);
                }
                shown
            })
            .collect()
    }

    /// What [`answer_problems`] computed before its merge of sorted keys: every key looked
    /// up in the map, visibility from [`reference_visible`]. The oracle of the fast path.
    fn reference(survey: &Survey, answers: &Answers) -> Vec<(String, Option<u32>)> {
        let visible = reference_visible(survey, answers);
        let mut out = Vec::new();
        for (q, &shown) in survey.questions().zip(&visible) {
            let answer = answers.get(&q.id);
            if !q.kind.in_answers() {
                if answer.is_some() {
                    out.push((q.id.clone(), Some(q.number)));
                }
                continue;
            }
            let bad = match (shown, answer) {
                (false, Some(_)) => true,
                (true, None) => q.required,
                (true, Some(a)) => check_value(q, a.value()).is_err(),
                _ => false,
            };
            if bad {
                out.push((q.id.clone(), Some(q.number)));
            }
            if let Some(key) = q.other_key() {
                if let Some(a) = answers.get(&key) {
                    let chosen = shown && other_chosen(q, answer);
                    if !chosen || check_text(a.value(), OTHER_TEXT_MAX).is_err() {
                        out.push((key, Some(q.number)));
                    }
                }
            }
        }
        for key in answers.keys() {
            let known = survey
                .questions()
                .any(|q| q.id == *key || (q.other_key().as_deref() == Some(key.as_str())));
            if !known {
                out.push((key.clone(), None));
            }
        }
        out
    }

    /// Random walks through the built-in survey, then random damage (answers removed,
    /// answers moved to other questions, hidden branches answered, "Other" texts and
    /// unknown keys added): the fast path finds the same problems, in the same order, as
    /// the oracle, and the same visibility as the set-based reading.
    #[test]
    fn merged_lookup_agrees_with_the_map_lookups() {
        let survey = crate::check::from_toml(crate::PLP_SURVEY_TOML).expect("built-in survey");
        let ids: Vec<String> = survey.questions().map(|q| q.id.clone()).collect();
        let mut rng = SplitMix64(7);
        for round in 0..3000u64 {
            let mut answers = walk(&survey, &mut rng, &Style::default(), &Answers::new());
            let keys: Vec<String> = answers.keys().cloned().collect();
            for _ in 0..rng.below(4) {
                let pick = |rng: &mut SplitMix64, v: &[String]| {
                    v[rng.below(v.len() as u64) as usize].clone()
                };
                match rng.below(5) {
                    0 if !keys.is_empty() => {
                        answers.remove(&pick(&mut rng, &keys));
                    }
                    1 if !keys.is_empty() => {
                        let a = answers.get(&pick(&mut rng, &keys)).cloned();
                        if let Some(a) = a {
                            answers.insert(pick(&mut rng, &ids), a);
                        }
                    }
                    2 => {
                        answers.insert(
                            format!("{}_other", pick(&mut rng, &ids)),
                            Answer::Text("x".into()),
                        );
                    }
                    3 => {
                        answers.insert(format!("zz{round}"), Answer::Int(1));
                    }
                    _ => {
                        answers.insert(pick(&mut rng, &ids), Answer::Text("yes".into()));
                    }
                }
            }
            let fast: Vec<(String, Option<u32>)> = answer_problems(&survey, &answers)
                .into_iter()
                .map(|p| (p.key, p.number))
                .collect();
            assert_eq!(
                fast,
                reference(&survey, &answers),
                "round {round}: {answers:?}"
            );
            // Read in place from the payload's JSON (as ingest reads it), the same answers
            // have the same problems, reasons included.
            let json = serde_json::to_vec(&answers).expect("answers serialise");
            let read: ReadAnswers<'_> = serde_json::from_slice(&json).expect("answers read");
            assert_eq!(
                slot_problems(&survey, &survey.lay_out(&read)),
                answer_problems(&survey, &answers),
                "round {round}"
            );
            assert_eq!(
                visible_mask(&survey, &answers),
                reference_visible(&survey, &answers),
                "round {round}"
            );
        }
    }
}
