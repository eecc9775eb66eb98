//! Loading a survey definition and checking that it makes sense before anyone answers it.
//!
//! Parsing catches the shape (unknown fields, wrong kinds); [`check`] catches what a shape
//! cannot: duplicate ids, rules that point at nothing or at later questions, options that do
//! not exist, questions no answer could ever reveal, and a pairing that does not cover its
//! question. `plp survey check` prints every problem at once.

use crate::answers::{Answer, Answers};
use crate::branching::holds;
use crate::code::CodePattern;
use crate::error::Error;
use crate::survey::{Kind, Question, Rule, Survey};
use std::collections::{BTreeMap, BTreeSet};

/// Largest survey definition read, TOML or JSON (the PLP survey is about 40 KiB).
pub const MAX_SURVEY_BYTES: usize = 1024 * 1024;
/// Most questions in one survey (PLP has 64).
pub const MAX_QUESTIONS: usize = 1000;
/// Most options of one choice question.
pub const MAX_OPTIONS: usize = 200;
/// Deepest nesting of `show_if` rules: `{ not = { any = [...] } }` is 2 deep.
pub const MAX_RULE_DEPTH: usize = 16;

/// Parses a definition written in TOML and checks it.
#[cfg(feature = "toml")]
pub fn from_toml(text: &str) -> Result<Survey, Error> {
    size_ok(text.len())?;
    let survey: Survey = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
    checked(survey)
}

/// Parses a definition published as JSON (what the browser receives) and checks it.
pub fn from_json(bytes: &[u8]) -> Result<Survey, Error> {
    size_ok(bytes.len())?;
    let survey: Survey = serde_json::from_slice(bytes).map_err(|e| parse_error(e.to_string()))?;
    checked(survey)
}

fn size_ok(size: usize) -> Result<(), Error> {
    if size > MAX_SURVEY_BYTES {
        return Err(Error::TooLarge {
            what: "survey definition",
            size,
            limit: MAX_SURVEY_BYTES,
        });
    }
    Ok(())
}

/// Both parsers stop at a nesting depth of about 128 levels instead of overflowing the
/// stack; their message says only "recursion limit exceeded", so say what it means here.
fn parse_error(message: String) -> Error {
    if message.contains("recursion limit exceeded") {
        Error::SurveyParse(format!(
            "{message} (the definition is nested too deeply; a show_if rule may nest at most \
             {MAX_RULE_DEPTH} rules)"
        ))
    } else {
        Error::SurveyParse(message)
    }
}

fn checked(survey: Survey) -> Result<Survey, Error> {
    let problems = check(&survey);
    if problems.is_empty() {
        Ok(survey)
    } else {
        Err(Error::SurveyInvalid(problems))
    }
}

/// The canonical JSON bytes of a survey: what `plp publish` writes and what the SHA-256 in
/// every payload names.
pub fn to_json(survey: &Survey) -> Vec<u8> {
    serde_json::to_vec(survey).expect("a survey always serialises")
}

/// Every structural problem in a definition, in reading order; empty when it is sound.
pub fn check(s: &Survey) -> Vec<String> {
    let mut p = Vec::new();
    if s.survey.id.trim().is_empty() {
        p.push("[survey] id is empty".into());
    }
    if s.survey.version.trim().is_empty() {
        p.push("[survey] version is empty".into());
    }
    if let Err(e) = CodePattern::new(&s.survey.code_pattern) {
        p.push(format!("[survey] code_pattern: {e}"));
    }
    if s.information_sheet.version.trim().is_empty() || s.information_sheet.text.trim().is_empty() {
        p.push("[information_sheet] needs a version and a text".into());
    }
    if s.sections.is_empty() {
        p.push("the survey has no sections".into());
    }

    let mut section_ids = BTreeSet::new();
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut numbers = BTreeSet::new();
    let all: Vec<&Question> = s.questions().collect();
    if all.len() > MAX_QUESTIONS {
        p.push(format!(
            "the survey has {} questions, over the limit of {MAX_QUESTIONS}",
            all.len()
        ));
    }
    for sec in &s.sections {
        if !section_ids.insert(sec.id.as_str()) {
            p.push(format!("section `{}` appears twice", sec.id));
        }
        if sec.questions.is_empty() {
            p.push(format!("section `{}` has no questions", sec.id));
        }
    }
    for (i, q) in all.iter().enumerate() {
        if q.id.is_empty() || !q.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            p.push(format!(
                "question id `{}` must be letters, digits and _ only",
                q.id
            ));
        }
        if ids.insert(&q.id, i).is_some() {
            p.push(format!("duplicate question id `{}`", q.id));
        }
        if !numbers.insert(q.number) {
            p.push(format!("question number {} is used twice", q.number));
        }
        if q.text.trim().is_empty() {
            p.push(format!("question {} has no text", q.id));
        }
        check_kind(q, &mut p);
    }
    for q in &all {
        if let Some(key) = q.other_key() {
            if ids.contains_key(key.as_str()) {
                p.push(format!(
                    "question id `{key}` clashes with the \"Other\" text of {}",
                    q.id
                ));
            }
        }
    }
    for kind in [Kind::PairCode, Kind::MemorableWord] {
        let n = all.iter().filter(|q| q.kind == kind).count();
        if n != 1 {
            p.push(format!(
                "the survey needs exactly one {} question, found {n}",
                kind.name()
            ));
        }
        if let Some(q) = all.iter().find(|q| q.kind == kind) {
            if !q.required || q.show_if.is_some() {
                p.push(format!(
                    "the {} question {} must be required and always shown",
                    kind.name(),
                    q.id
                ));
            }
        }
    }

    for (i, q) in all.iter().enumerate() {
        if let Some(rule) = &q.show_if {
            let depth = rule_depth(rule);
            if depth > MAX_RULE_DEPTH {
                p.push(format!(
                    "question {}: show_if nests rules {depth} deep, over the limit of {MAX_RULE_DEPTH}",
                    q.id
                ));
                continue;
            }
            check_rule(rule, q, i, &all, &ids, &mut p);
        }
    }
    check_pairing(s, &ids, &all, &mut p);
    for f in &s.survey.shared_facts {
        match ids.get(f.as_str()) {
            None => p.push(format!(
                "[survey] shared_facts names unknown question `{f}`"
            )),
            Some(&i) if !matches!(all[i].kind, Kind::Single { .. } | Kind::Multiple { .. }) => p
                .push(format!(
                    "[survey] shared fact {f} must be a choice question"
                )),
            _ => {}
        }
    }
    for qi in &s.survey.quasi_identifiers {
        match ids.get(qi.as_str()) {
            None => p.push(format!(
                "[survey] quasi_identifiers names unknown question `{qi}`"
            )),
            Some(&i) if !matches!(all[i].kind, Kind::Single { .. } | Kind::Rating { .. }) => p
                .push(format!(
                    "[survey] quasi-identifier {qi} must be a single-choice or rating question"
                )),
            _ => {}
        }
    }
    if p.is_empty() {
        for q in unreachable(&all) {
            p.push(format!(
                "question {} can never be shown: no answers to earlier questions satisfy `{}`",
                q.id,
                q.show_if.as_ref().map(Rule::describe).unwrap_or_default()
            ));
        }
    }
    p
}

/// How deeply a rule nests: a plain condition is 1, `not`, `all` and `any` add one. The
/// parsers bound the recursion here (about 128 levels) before [`check`] runs.
fn rule_depth(rule: &Rule) -> usize {
    match rule {
        Rule::Not(r) => 1 + rule_depth(r),
        Rule::All(rs) | Rule::Any(rs) => 1 + rs.iter().map(rule_depth).max().unwrap_or(0),
        _ => 1,
    }
}

fn check_kind(q: &Question, p: &mut Vec<String>) {
    match &q.kind {
        Kind::Single { options } | Kind::Multiple { options } => {
            if options.len() < 2 {
                p.push(format!("question {} needs at least two options", q.id));
            }
            if options.len() > MAX_OPTIONS {
                p.push(format!(
                    "question {} has {} options, over the limit of {MAX_OPTIONS}",
                    q.id,
                    options.len()
                ));
            }
            let mut seen = BTreeSet::new();
            for o in options {
                if o.id.is_empty() || o.label.trim().is_empty() {
                    p.push(format!(
                        "question {} has an option without id or label",
                        q.id
                    ));
                }
                if !seen.insert(&o.id) {
                    p.push(format!("question {}: duplicate option id `{}`", q.id, o.id));
                }
            }
            if options.iter().filter(|o| o.other).count() > 1 {
                p.push(format!(
                    "question {} has more than one \"Other\" option",
                    q.id
                ));
            }
        }
        Kind::Rating { min, max, .. } => {
            // In i128: `max - min` overflows i64 for a scale from i64::MIN to i64::MAX.
            if min >= max || i128::from(*max) - i128::from(*min) > 100 {
                p.push(format!(
                    "question {}: rating scale {min} to {max} must rise, by at most 100 steps",
                    q.id
                ));
            }
        }
        Kind::ShortText { max_length } | Kind::LongText { max_length } => {
            if *max_length == 0 || *max_length > 100_000 {
                p.push(format!(
                    "question {}: max_length {max_length} must be 1 to 100000",
                    q.id
                ));
            }
        }
        Kind::PairCode | Kind::MemorableWord => {}
    }
}

fn check_rule(
    rule: &Rule,
    q: &Question,
    pos: usize,
    all: &[&Question],
    ids: &BTreeMap<&str, usize>,
    p: &mut Vec<String>,
) {
    let target = |t: &str, p: &mut Vec<String>| -> Option<&Question> {
        match ids.get(t) {
            None => {
                p.push(format!(
                    "question {}: rule refers to unknown question `{t}`",
                    q.id
                ));
                None
            }
            Some(&tp) if tp >= pos => {
                p.push(format!(
                    "question {}: rule refers to `{t}`, which is not asked before it (forward reference)",
                    q.id
                ));
                None
            }
            Some(&tp) => Some(all[tp]),
        }
    };
    let options_exist = |t: &Question, opts: &[&String], p: &mut Vec<String>| {
        for o in opts {
            if t.option(o).is_none() {
                p.push(format!(
                    "question {}: rule refers to option `{o}`, which {} does not have",
                    q.id, t.id
                ));
            }
        }
    };
    match rule {
        Rule::Equals { question, option } => {
            if let Some(t) = target(question, p) {
                if !matches!(t.kind, Kind::Single { .. }) {
                    p.push(format!(
                        "question {}: `equals` needs a single-choice question, {} is {}",
                        q.id,
                        t.id,
                        t.kind.name()
                    ));
                }
                options_exist(t, &[option], p);
            }
        }
        Rule::OneOf { question, options } | Rule::AnySelected { question, options } => {
            let want_multi = matches!(rule, Rule::AnySelected { .. });
            if let Some(t) = target(question, p) {
                let ok = if want_multi {
                    matches!(t.kind, Kind::Multiple { .. })
                } else {
                    matches!(t.kind, Kind::Single { .. })
                };
                if !ok {
                    p.push(format!(
                        "question {}: `{}` needs a {} question, {} is {}",
                        q.id,
                        if want_multi { "any_selected" } else { "one_of" },
                        if want_multi {
                            "multiple-choice"
                        } else {
                            "single-choice"
                        },
                        t.id,
                        t.kind.name()
                    ));
                }
                if options.is_empty() {
                    p.push(format!("question {}: rule lists no options", q.id));
                }
                options_exist(t, &options.iter().collect::<Vec<_>>(), p);
            }
        }
        Rule::Answered { question } => {
            if let Some(t) = target(question, p) {
                if !t.kind.in_answers() {
                    p.push(format!(
                        "question {}: `answered` cannot read the {} question {}",
                        q.id,
                        t.kind.name(),
                        t.id
                    ));
                }
            }
        }
        Rule::Not(r) => check_rule(r, q, pos, all, ids, p),
        Rule::All(rs) | Rule::Any(rs) => {
            if rs.is_empty() {
                p.push(format!("question {}: `all`/`any` with no rules", q.id));
            }
            rs.iter().for_each(|r| check_rule(r, q, pos, all, ids, p));
        }
    }
}

fn check_pairing(s: &Survey, ids: &BTreeMap<&str, usize>, all: &[&Question], p: &mut Vec<String>) {
    let Some(&i) = ids.get(s.pairing.question.as_str()) else {
        p.push(format!(
            "[pairing] question `{}` does not exist",
            s.pairing.question
        ));
        return;
    };
    let q = all[i];
    let Kind::Single { options } = &q.kind else {
        p.push(format!(
            "[pairing] question {} must be single choice, it is {}",
            q.id,
            q.kind.name()
        ));
        return;
    };
    if !q.required || q.show_if.is_some() {
        p.push(format!(
            "[pairing] question {} must be required and always shown",
            q.id
        ));
    }
    for o in options {
        if !s.pairing.sides.contains_key(&o.id) {
            p.push(format!(
                "[pairing] option `{}` of {} has no side",
                o.id, q.id
            ));
        }
    }
    for k in s.pairing.sides.keys() {
        if q.option(k).is_none() {
            p.push(format!("[pairing] {} has no option `{k}`", q.id));
        }
    }
}

/// Questions whose rule no combination of earlier answers can satisfy. For each rule it
/// tries every combination of representative answers to the questions the rule reads (each
/// option, each single selection, all selections, any rating, some text, or no answer).
fn unreachable<'a>(all: &[&'a Question]) -> Vec<&'a Question> {
    const MAX_COMBINATIONS: usize = 1 << 14;
    let mut reachable: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for q in all {
        let ok = match &q.show_if {
            None => true,
            Some(rule) => {
                let mut targets: Vec<&str> = rule.questions();
                targets.sort_unstable();
                targets.dedup();
                let candidates: Vec<(&str, Vec<Option<Answer>>)> = targets
                    .iter()
                    .map(|t| {
                        let tq = all.iter().find(|x| x.id == *t).expect("checked targets");
                        let mut c = vec![None];
                        if reachable.contains(t) {
                            c.extend(representatives(tq).into_iter().map(Some));
                        }
                        (*t, c)
                    })
                    .collect();
                // Checked: a rule reading 45 two-option questions has 3^45 combinations,
                // more than usize holds.
                let total = candidates
                    .iter()
                    .try_fold(1usize, |n, (_, c)| n.checked_mul(c.len()));
                total.is_none_or(|t| t > MAX_COMBINATIONS)
                    || satisfiable(rule, &candidates, &reachable)
            }
        };
        if ok {
            reachable.insert(&q.id);
        } else {
            out.push(*q);
        }
    }
    out
}

fn representatives(q: &Question) -> Vec<Answer> {
    match &q.kind {
        Kind::Single { options } => options.iter().map(|o| Answer::Text(o.id.clone())).collect(),
        Kind::Multiple { options } => {
            let mut v: Vec<Answer> = options
                .iter()
                .map(|o| Answer::List(vec![o.id.clone()]))
                .collect();
            v.push(Answer::List(options.iter().map(|o| o.id.clone()).collect()));
            v
        }
        Kind::Rating { min, .. } => vec![Answer::Int(*min)],
        _ => vec![Answer::Text("text".into())],
    }
}

fn satisfiable(
    rule: &Rule,
    candidates: &[(&str, Vec<Option<Answer>>)],
    reachable: &BTreeSet<&str>,
) -> bool {
    let mut idx = vec![0usize; candidates.len()];
    loop {
        let mut answers = Answers::new();
        for (i, (id, c)) in candidates.iter().enumerate() {
            if let Some(a) = &c[idx[i]] {
                answers.insert((*id).to_string(), a.clone());
            }
        }
        if holds(rule, &answers, reachable) {
            return true;
        }
        let mut k = 0;
        loop {
            if k == idx.len() {
                return false;
            }
            idx[k] += 1;
            if idx[k] < candidates[k].1.len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}
