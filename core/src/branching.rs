//! The one branching engine: which questions are visible, which page comes next, and which
//! answers must go when an earlier answer changes.
//!
//! Rules may only read earlier questions (`plp survey check` enforces it), so one pass in
//! asking order settles everything: a question is visible when its rule holds on the answers
//! of the *visible* questions before it. An answer to a hidden question counts as absent, so
//! a stale answer can never keep a later branch open.

use crate::answers::{Answer, Answers, Value};
use crate::survey::{Question, Rule, Survey};
use std::collections::BTreeSet;

/// Ids of the visible questions, in asking order.
pub fn visible_ids(survey: &Survey, answers: &Answers) -> Vec<String> {
    survey
        .questions()
        .zip(visible_mask(survey, answers))
        .filter(|(_, shown)| *shown)
        .map(|(q, _)| q.id.clone())
        .collect()
}

/// Whether each question is visible, in the order of [`Survey::questions`]: what
/// [`visible_ids`] computes, without copying ids.
pub(crate) fn visible_mask(survey: &Survey, answers: &Answers) -> Vec<bool> {
    visible_mask_slots(survey, &survey.lay_out(answers).answer)
}

/// Whether one question is visible given the answers so far.
pub fn is_visible(survey: &Survey, question_id: &str, answers: &Answers) -> bool {
    visible_ids(survey, answers)
        .iter()
        .any(|id| id == question_id)
}

/// The visible questions, in asking order.
pub fn visible_questions<'s>(survey: &'s Survey, answers: &Answers) -> Vec<&'s Question> {
    let ids = visible_ids(survey, answers);
    survey.questions().filter(|q| ids.contains(&q.id)).collect()
}

pub(crate) fn holds(rule: &Rule, answers: &Answers, visible: &BTreeSet<&str>) -> bool {
    holds_with(rule, &|q: &str| {
        if visible.contains(q) {
            answers.get(q).map(Answer::value)
        } else {
            None
        }
    })
}

/// Whether each question is visible, for answers laid out by question position (`slots[i]`
/// answers the i-th question): a question is visible when its rule holds on the answers of
/// the visible questions before it.
pub(crate) fn visible_mask_slots(survey: &Survey, slots: &[Option<Value<'_>>]) -> Vec<bool> {
    let position = &survey.index().position;
    let mut visible = vec![false; slots.len()];
    for (i, q) in survey.questions().enumerate() {
        // Rules read earlier questions only, so `visible` is settled for every one they read.
        let shown = match &q.show_if {
            None => true,
            Some(rule) => holds_with(rule, &|id: &str| {
                position
                    .get(id)
                    .filter(|&&j| visible[j])
                    .and_then(|&j| slots[j])
            }),
        };
        visible[i] = shown;
    }
    visible
}

/// Whether a rule holds, reading answers through `get` (which answers `None` for a
/// question that is hidden or not yet settled).
fn holds_with<'a>(rule: &Rule, get: &dyn Fn(&str) -> Option<Value<'a>>) -> bool {
    match rule {
        Rule::Equals { question, option } => {
            get(question).and_then(Value::as_text) == Some(option.as_str())
        }
        Rule::OneOf { question, options } => get(question)
            .and_then(Value::as_text)
            .is_some_and(|a| options.iter().any(|o| o == a)),
        Rule::AnySelected { question, options } => get(question)
            .and_then(Value::as_list)
            .is_some_and(|sel| sel.iter().any(|s| options.iter().any(|o| o == s))),
        Rule::Answered { question } => get(question).is_some_and(|a| match a {
            Value::Text(s) => !s.trim().is_empty(),
            Value::List(v) => !v.is_empty(),
            Value::Int(_) => true,
        }),
        Rule::Not(r) => !holds_with(r, get),
        Rule::All(rs) => rs.iter().all(|r| holds_with(r, get)),
        Rule::Any(rs) => rs.iter().any(|r| holds_with(r, get)),
    }
}

/// What [`prune`] kept and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Answers still valid under the branching.
    pub kept: Answers,
    /// Keys removed, in asking order: hidden questions, and "Other" texts whose option is no
    /// longer chosen.
    pub dropped: Vec<String>,
}

/// Drops the answers that branching no longer asks for. Call it after every change: the
/// browser shows the result, and what is submitted is always pruned.
pub fn prune(survey: &Survey, answers: &Answers) -> Pruned {
    let visible = visible_ids(survey, answers);
    let mut kept = Answers::new();
    let mut dropped = Vec::new();
    for q in survey.questions() {
        let shown = visible.contains(&q.id);
        if let Some(a) = answers.get(&q.id) {
            if shown {
                kept.insert(q.id.clone(), a.clone());
            } else {
                dropped.push(q.id.clone());
            }
        }
        if let Some(key) = q.other_key() {
            if let Some(a) = answers.get(&key) {
                if shown && other_chosen(q, answers.get(&q.id)) {
                    kept.insert(key, a.clone());
                } else {
                    dropped.push(key);
                }
            }
        }
    }
    // Keys the survey does not know are left for validation to report, not silently lost.
    for (k, v) in answers {
        if !kept.contains_key(k) && !dropped.contains(k) {
            kept.insert(k.clone(), v.clone());
        }
    }
    Pruned { kept, dropped }
}

/// Whether the answer to `q` picks an option that asks for "Other" text.
pub fn other_chosen(q: &Question, answer: Option<&Answer>) -> bool {
    other_chosen_in(q, answer.map(Answer::value))
}

/// [`other_chosen`] for an answer in either storage.
pub(crate) fn other_chosen_in(q: &Question, answer: Option<Value<'_>>) -> bool {
    let is_other = |id: &str| q.option(id).is_some_and(|o| o.other);
    match answer {
        Some(Value::Text(s)) => is_other(s),
        Some(Value::List(v)) => v.iter().any(is_other),
        _ => false,
    }
}

/// Indices of the pages (sections) that show at least one question.
pub fn visible_pages(survey: &Survey, answers: &Answers) -> Vec<usize> {
    let visible = visible_ids(survey, answers);
    survey
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.questions.iter().any(|q| visible.contains(&q.id)))
        .map(|(i, _)| i)
        .collect()
}

/// The page after `current` that has something to ask, or `None` at the end.
pub fn next_page(survey: &Survey, answers: &Answers, current: usize) -> Option<usize> {
    visible_pages(survey, answers)
        .into_iter()
        .find(|&i| i > current)
}

/// The page before `current` that has something to ask, or `None` at the start.
pub fn previous_page(survey: &Survey, answers: &Answers, current: usize) -> Option<usize> {
    visible_pages(survey, answers)
        .into_iter()
        .rev()
        .find(|&i| i < current)
}
