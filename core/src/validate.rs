//! Validation of a complete response against its survey.
//!
//! The browser runs it before sealing and the CLI runs it again after opening, so a payload
//! that reaches analysis is one the instrument could have produced. Every problem is
//! reported at once, each naming the question number and the reason.

use crate::answers::{Answer, Answers};
use crate::branching::{other_chosen, visible_mask};
use crate::code::{normalise_and_check, CodePattern};
use crate::survey::{Kind, Question, Survey, OTHER_TEXT_MAX};
use std::fmt;

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
    problems.extend(answer_problems(survey, answers));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// Problems with the answers alone (no pair code), in asking order.
pub fn answer_problems(survey: &Survey, answers: &Answers) -> Vec<Problem> {
    let visible = visible_mask(survey, answers);
    let mut problems = Vec::new();
    let mut push = |q: &Question, key: &str, reason: String| {
        problems.push(Problem {
            key: key.to_string(),
            number: Some(q.number),
            reason,
        })
    };
    // Answers found under a question's id or other key; when that is all of them, no key is
    // unknown and the search for unknown keys below is skipped.
    let mut found = 0usize;
    for (q, &shown) in survey.questions().zip(&visible) {
        let answer = answers.get(&q.id);
        found += usize::from(answer.is_some());
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
            (true, None) if q.required => push(q, &q.id, "required, but not answered".into()),
            (true, Some(a)) => {
                if let Err(reason) = check_value(q, a) {
                    push(q, &q.id, reason);
                }
            }
            _ => {}
        }
        if let Some(key) = q.other_key() {
            let chosen = shown && other_chosen(q, answer);
            let other = answers.get(&key);
            found += usize::from(other.is_some());
            match other {
                Some(_) if !chosen => push(
                    q,
                    &key,
                    "\"Other\" text given, but the \"Other\" option is not chosen".into(),
                ),
                Some(a) => {
                    if let Err(reason) = check_text(a, OTHER_TEXT_MAX) {
                        push(q, &key, reason);
                    }
                }
                None => {}
            }
        }
    }
    for key in answers.keys().filter(|_| found < answers.len()) {
        // `<id>_other` without building every question's other key for every answer.
        let known = survey.questions().any(|q| {
            q.id == *key
                || (key.strip_suffix("_other") == Some(q.id.as_str()) && q.other_key().is_some())
        });
        if !known {
            problems.push(Problem {
                key: key.clone(),
                number: None,
                reason: "no question in this survey has this id".into(),
            });
        }
    }
    problems
}

fn check_value(q: &Question, a: &Answer) -> Result<(), String> {
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
            for id in ids {
                let pos = options
                    .iter()
                    .position(|o| o.id == *id)
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

fn check_text(a: &Answer, max: usize) -> Result<(), String> {
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
