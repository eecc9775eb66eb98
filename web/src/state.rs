//! The respondent's session as plain data: where they are, what they typed, what is wrong.
//!
//! Pure and target-independent (no DOM, storage or network), so it is tested natively like
//! the todomvc example's `state.rs`. Every rule comes from `plp-core`: which questions and
//! pages are visible and what is pruned ([`plp_core::branching`]), whether answers, pair code
//! and memorable word are acceptable ([`plp_core::validate`], [`plp_core::code`],
//! [`plp_core::withdrawal`]), and how a response and a withdrawal request are built and
//! sealed ([`plp_core::payload`], [`plp_core::seal`]). This module only keeps the session and
//! maps form controls to answer values and problems to form fields.

use plp_core::branching::{next_page, previous_page, prune, visible_ids, visible_pages};
use plp_core::code::{normalise_and_check, CodePattern};
use plp_core::envelope::short_receipt;
use plp_core::payload::{ResponseDraft, WithdrawalPayload};
use plp_core::published::LoadedStudy;
use plp_core::survey::{Kind, Question, Section};
use plp_core::validate::answer_problems;
use plp_core::withdrawal::normalise_word;
use plp_core::{Answer, Answers, Error};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// The study being answered, as loaded and checked by [`plp_core::published`].
#[derive(Debug)]
pub struct Study {
    /// Configuration, survey and public key.
    pub loaded: LoadedStudy,
    /// Whether this is the built-in demonstration (answers are not collected).
    pub demo: bool,
}

impl Study {
    /// The study id envelopes are sealed for.
    pub fn id(&self) -> &str {
        &self.loaded.config.study_id
    }

    /// The survey sections (pages).
    pub fn sections(&self) -> &[Section] {
        &self.loaded.survey.sections
    }
}

/// Where the respondent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The information sheet and the consent box.
    Sheet,
    /// A page of the survey: the index of its section.
    Page(usize),
    /// Every answer, with a way to change it, and the submit button.
    Review,
}

/// One thing the respondent must fix, tied to the form control it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The `id` of the control to focus.
    pub field: String,
    /// The page the control is on (`None`: the information sheet).
    pub page: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

/// The DOM id of the control for a question: the text box, or the first option.
pub fn field_id(q: &Question) -> String {
    match q.kind {
        Kind::Single { .. } | Kind::Multiple { .. } | Kind::Rating { .. } => option_id(q, 0),
        _ => format!("q-{}", q.id),
    }
}

/// The DOM id of the `i`-th option (or scale point) of a question.
pub fn option_id(q: &Question, i: usize) -> String {
    format!("q-{}-{}", q.id, i + 1)
}

/// The DOM id of the "Other" text box of a question.
pub fn other_id(q: &Question) -> String {
    format!("q-{}-other", q.id)
}

/// The DOM id of the second memorable-word box.
pub fn word_again_id(q: &Question) -> String {
    format!("q-{}-again", q.id)
}

/// The DOM id of the consent checkbox.
pub const CONSENT_ID: &str = "consent";

/// The session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The study.
    pub study: Rc<Study>,
    /// Where the respondent is.
    pub step: Step,
    /// The consent box.
    pub consent: bool,
    /// The pair code as typed.
    pub code: String,
    /// The memorable word as typed. Kept in memory only, never saved, even encrypted.
    pub word: String,
    /// The memorable word typed again.
    pub word_again: String,
    /// Answers, always pruned by branching.
    pub answers: Answers,
    /// The respondent came to this page from the review page and returns there.
    pub from_review: bool,
    /// After a restored draft: the step to return to once the word is typed again.
    pub resume: Option<Step>,
    /// A draft was restored (the page says so).
    pub restored: bool,
    /// What is wrong on the current step, shown at the top and beside the fields.
    pub problems: Vec<FieldProblem>,
    /// Bumped on every step change, so the page heading takes focus even when the step is
    /// the same (a problem link from the review page to the page already shown).
    pub visit: u32,
    /// Bumped whenever problems are shown, so the summary takes focus even when the
    /// problems are the same as last time.
    pub alerts: u32,
    /// The answers were just cleared (the information sheet says so).
    pub cleared: bool,
}

impl PartialEq for Session {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.study, &o.study)
            && self.step == o.step
            && self.consent == o.consent
            && self.code == o.code
            && self.word == o.word
            && self.word_again == o.word_again
            && self.answers == o.answers
            && self.from_review == o.from_review
            && self.resume == o.resume
            && self.restored == o.restored
            && self.problems == o.problems
            && self.visit == o.visit
            && self.alerts == o.alerts
            && self.cleared == o.cleared
    }
}

/// What the respondent does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ticks or unticks the consent box.
    Consent(bool),
    /// "Start the survey" on the information sheet.
    Start,
    /// Types the pair code.
    Code(String),
    /// Types the memorable word.
    Word(String),
    /// Types the memorable word again.
    WordAgain(String),
    /// Sets (or, with `None`, clears) the answer under a key (`q9`, `q14_other`).
    Answer(String, Option<Answer>),
    /// "Next" on a page.
    Next,
    /// "Back" on a page or the review page.
    Back,
    /// "Change" on the review page: go to this page, then come back.
    Change(usize),
    /// A problem link on the review page: go to this page, then come back, with its
    /// problems shown.
    Fix(usize),
    /// Problems found outside the reducer (on submit), shown on the review page.
    Problems(Vec<FieldProblem>),
    /// "Clear my answers": everything goes, back to the information sheet.
    Clear,
}

/// What is kept (encrypted) between reloads: everything but the memorable word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// The consent box.
    pub consent: bool,
    /// The pair code as typed.
    pub code: String,
    /// Answers so far.
    pub answers: Answers,
    /// Where the respondent was.
    pub step: Step,
}

impl Session {
    /// A fresh session on the information sheet.
    pub fn new(study: Rc<Study>) -> Self {
        Session {
            study,
            step: Step::Sheet,
            consent: false,
            code: String::new(),
            word: String::new(),
            word_again: String::new(),
            answers: Answers::new(),
            from_review: false,
            resume: None,
            restored: false,
            problems: Vec::new(),
            visit: 0,
            alerts: 0,
            cleared: false,
        }
    }

    /// A session continued from a saved draft. The memorable word was not saved, so a
    /// respondent past the page that asks for it goes back there first, then on to where
    /// they were.
    pub fn restore(study: Rc<Study>, draft: Draft) -> Self {
        let mut s = Session::new(study);
        s.consent = draft.consent;
        s.code = draft.code;
        s.answers = prune(&s.study.loaded.survey, &draft.answers).kept;
        s.restored = true;
        let word_page = s.word_page();
        s.step = match draft.step {
            Step::Sheet => Step::Sheet,
            _ if !s.consent => Step::Sheet,
            Step::Page(p) if Some(p) == word_page => Step::Page(p),
            Step::Page(p) if p >= s.study.sections().len() => s.first_page(),
            other => {
                s.resume = Some(other);
                word_page.map(Step::Page).unwrap_or(other)
            }
        };
        s
    }

    /// What to save.
    pub fn draft(&self) -> Draft {
        Draft {
            consent: self.consent,
            code: self.code.clone(),
            answers: self.answers.clone(),
            step: self.step,
        }
    }

    /// Whether there is anything worth saving.
    pub fn is_blank(&self) -> bool {
        !self.consent && self.code.is_empty() && self.answers.is_empty()
    }

    fn first_page(&self) -> Step {
        visible_pages(&self.study.loaded.survey, &self.answers)
            .first()
            .map(|&p| Step::Page(p))
            .unwrap_or(Step::Review)
    }

    fn word_page(&self) -> Option<usize> {
        self.study
            .sections()
            .iter()
            .position(|s| s.questions.iter().any(|q| q.kind == Kind::MemorableWord))
    }

    /// The visible questions of a page, in order.
    pub fn page_questions(&self, page: usize) -> Vec<&Question> {
        let visible = visible_ids(&self.study.loaded.survey, &self.answers);
        self.study.sections()[page]
            .questions
            .iter()
            .filter(|q| visible.contains(&q.id))
            .collect()
    }

    /// Position of the current step among the steps now visible, as (number, total): the
    /// information sheet, each visible page, and the review page.
    pub fn progress(&self) -> (usize, usize) {
        let pages = visible_pages(&self.study.loaded.survey, &self.answers);
        let total = pages.len() + 2;
        let at = match self.step {
            Step::Sheet => 1,
            Step::Page(p) => 2 + pages.iter().position(|&i| i >= p).unwrap_or(pages.len()),
            Step::Review => total,
        };
        (at, total)
    }

    /// What is wrong on a page, in the order of its questions: core's answer problems for
    /// those questions, the pair code against the study's pattern, and the memorable word
    /// (usable, and typed the same twice).
    pub fn page_problems(&self, page: usize) -> Vec<FieldProblem> {
        let survey = &self.study.loaded.survey;
        let all = answer_problems(survey, &self.answers);
        let mut out = Vec::new();
        let mut push = |field: String, message: String| {
            out.push(FieldProblem {
                field,
                page: Some(page),
                message,
            })
        };
        for q in self.page_questions(page) {
            let n = q.number;
            match q.kind {
                Kind::PairCode => {
                    if let Err(e) = CodePattern::new(&survey.survey.code_pattern)
                        .and_then(|p| normalise_and_check(&self.code, &p))
                    {
                        let message = if self.code.trim().is_empty() {
                            format!("Question {n}: enter your pair code letter.")
                        } else {
                            format!("Question {n}: {}.", reason(&e))
                        };
                        push(field_id(q), message);
                    }
                }
                Kind::MemorableWord => match normalise_word(&self.word) {
                    Err(e) => push(
                        field_id(q),
                        if self.word.trim().is_empty() {
                            format!("Question {n}: choose a memorable word.")
                        } else {
                            format!("Question {n}: {}.", reason(&e))
                        },
                    ),
                    Ok(word) => {
                        if normalise_word(&self.word_again).ok().as_deref() != Some(&word) {
                            push(
                                word_again_id(q),
                                format!(
                                    "Question {n}: the memorable word typed the second time is not the same as the first."
                                ),
                            );
                        }
                    }
                },
                _ => {
                    let other = q.other_key();
                    for p in all
                        .iter()
                        .filter(|p| p.key == q.id || Some(&p.key) == other.as_ref())
                    {
                        let field = if p.key == q.id {
                            field_id(q)
                        } else {
                            other_id(q)
                        };
                        let what = if p.key == q.id {
                            String::new()
                        } else {
                            " (the \"Other\" text)".to_string()
                        };
                        push(
                            field,
                            format!("Question {n}{what}: {}.", friendly(&p.reason)),
                        );
                    }
                }
            }
        }
        out
    }

    /// Every problem on every visible page, for the review page.
    pub fn all_problems(&self) -> Vec<FieldProblem> {
        visible_pages(&self.study.loaded.survey, &self.answers)
            .into_iter()
            .flat_map(|p| self.page_problems(p))
            .collect()
    }

    fn go(&mut self, step: Step) {
        self.step = step;
        self.problems.clear();
        self.cleared = false;
        self.visit = self.visit.wrapping_add(1);
    }

    fn show(&mut self, problems: Vec<FieldProblem>) {
        self.problems = problems;
        self.alerts = self.alerts.wrapping_add(1);
    }

    /// Applies an action.
    pub fn apply(&mut self, action: Action) {
        let survey = &self.study.loaded.survey;
        match action {
            Action::Consent(c) => {
                self.consent = c;
                self.problems.retain(|p| p.field != CONSENT_ID);
            }
            Action::Start => {
                if self.consent {
                    let first = self.first_page();
                    self.go(first);
                } else {
                    self.show(vec![FieldProblem {
                        field: CONSENT_ID.into(),
                        page: None,
                        message: "Tick the box to say you have read the information sheet and agree to take part.".into(),
                    }]);
                }
            }
            Action::Code(c) => self.code = c,
            Action::Word(w) => self.word = w,
            Action::WordAgain(w) => self.word_again = w,
            Action::Answer(key, value) => {
                let mut answers = std::mem::take(&mut self.answers);
                match value {
                    Some(v) => answers.insert(key, v),
                    None => answers.remove(&key),
                };
                self.answers = prune(survey, &answers).kept;
            }
            Action::Next => {
                let Step::Page(page) = self.step else { return };
                let problems = self.page_problems(page);
                if !problems.is_empty() {
                    self.show(problems);
                    return;
                }
                let next = if std::mem::take(&mut self.from_review) {
                    Step::Review
                } else {
                    match self.resume.take() {
                        Some(Step::Page(p))
                            if visible_pages(survey, &self.answers).contains(&p) =>
                        {
                            Step::Page(p)
                        }
                        Some(Step::Review) => Step::Review,
                        _ => next_page(survey, &self.answers, page)
                            .map(Step::Page)
                            .unwrap_or(Step::Review),
                    }
                };
                self.go(next);
            }
            Action::Back => {
                self.from_review = false;
                let prev = match self.step {
                    Step::Sheet => Step::Sheet,
                    Step::Page(p) => previous_page(survey, &self.answers, p)
                        .map(Step::Page)
                        .unwrap_or(Step::Sheet),
                    Step::Review => visible_pages(survey, &self.answers)
                        .last()
                        .map(|&p| Step::Page(p))
                        .unwrap_or(Step::Sheet),
                };
                self.go(prev);
            }
            Action::Change(page) => {
                self.from_review = true;
                self.go(Step::Page(page));
            }
            Action::Fix(page) => {
                self.from_review = true;
                self.go(Step::Page(page));
                let problems = self.page_problems(page);
                self.show(problems);
            }
            Action::Problems(p) => self.show(p),
            Action::Clear => {
                let visit = self.visit.wrapping_add(1);
                *self = Session::new(self.study.clone());
                self.cleared = true;
                self.visit = visit;
            }
        }
    }

    /// The answer under a key.
    pub fn answer(&self, key: &str) -> Option<&Answer> {
        self.answers.get(key)
    }
}

/// Core's error message without its "what failed:" prefix, e.g. "it has 2 characters; use
/// at least 4".
fn reason(e: &Error) -> String {
    match e {
        Error::PairCode { reason, .. } => format!("this pair code is not valid: {reason}"),
        Error::MemorableWord(r) => format!("this memorable word is too short or too long: {r}"),
        other => other.to_string(),
    }
}

/// Core's reasons are written for evaluators; the one respondents meet most reads better
/// in their terms. Anything else is shown as core words it.
fn friendly(reason: &str) -> String {
    if reason == plp_core::validate::NOT_ANSWERED {
        "this question needs an answer".into()
    } else {
        reason.to_string()
    }
}

// How a tick or a typed text becomes an answer is the wire format's rule, so core's.
pub use plp_core::answers::{text_answer, toggle};

/// An answer as the respondent would read it: option labels rather than ids.
pub fn display(q: &Question, a: &Answer) -> String {
    let label = |id: &str| {
        q.option(id)
            .map(|o| o.label.clone())
            .unwrap_or_else(|| id.to_string())
    };
    match (&q.kind, a) {
        (Kind::Single { .. }, Answer::Text(id)) => label(id),
        (Kind::Multiple { .. }, Answer::List(ids)) => {
            ids.iter().map(|i| label(i)).collect::<Vec<_>>().join("; ")
        }
        (
            Kind::Rating {
                min,
                max,
                min_label,
                max_label,
            },
            Answer::Int(v),
        ) => format!("{v} on a scale from {min} ({min_label}) to {max} ({max_label})"),
        _ => a.display(),
    }
}

/// Randomness the browser draws for one sealing.
#[derive(Clone, Copy)]
pub struct Randomness {
    /// Submission or request id.
    pub id: [u8; 16],
    /// HPKE ephemeral key material.
    pub ephemeral: [u8; 32],
}

/// A sealed envelope, ready to send or save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The envelope JSON, exactly the bytes sent and receipted.
    pub json: String,
    /// The short receipt of those bytes.
    pub receipt: String,
}

impl Sealed {
    fn from_envelope(env: &plp_core::envelope::Envelope) -> Self {
        let bytes = env.to_json();
        let receipt = short_receipt(&bytes);
        Sealed {
            json: String::from_utf8(bytes).expect("envelope JSON is UTF-8"),
            receipt,
        }
    }

    /// An envelope kept from earlier, with its receipt worked out again.
    pub fn from_json(json: String) -> Self {
        let receipt = short_receipt(json.as_bytes());
        Sealed { json, receipt }
    }

    /// A file name for saving it: `<study>-<receipt>.plp.json`.
    pub fn file_name(&self, study_id: &str) -> String {
        format!("{study_id}-{}.plp.json", self.receipt)
    }
}

/// Builds the response with [`ResponseDraft::build`] and seals it to the study's key.
pub fn seal_response(s: &Session, date: &str, r: Randomness) -> Result<Sealed, Error> {
    let study = &s.study.loaded;
    let payload = ResponseDraft {
        study_id: &study.config.study_id,
        survey: &study.survey,
        survey_sha256: &study.config.survey_sha256,
        code: &s.code,
        word: &s.word,
        answers: &s.answers,
        date,
        submission_id: r.id,
    }
    .build()?;
    let env = study
        .public_key
        .seal(&study.config.study_id, &payload.to_json(), r.ephemeral)?;
    Ok(Sealed::from_envelope(&env))
}

/// Builds a withdrawal request with [`WithdrawalPayload::build`] and seals it.
pub fn seal_withdrawal(
    study: &Study,
    code: &str,
    word: &str,
    date: &str,
    r: Randomness,
) -> Result<Sealed, Error> {
    let l = &study.loaded;
    let payload = WithdrawalPayload::build(
        &l.config.study_id,
        &l.config.code_pattern,
        Some(code),
        word,
        date,
        r.id,
    )?;
    let env = l
        .public_key
        .seal(&l.config.study_id, &payload.to_json(), r.ephemeral)?;
    Ok(Sealed::from_envelope(&env))
}

/// What is wrong with a withdrawal request as typed, one problem per field.
pub fn withdrawal_problems(study: &Study, code: &str, word: &str) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    if !code.trim().is_empty() {
        if let Err(e) = CodePattern::new(&study.loaded.config.code_pattern)
            .and_then(|p| normalise_and_check(code, &p))
        {
            out.push(FieldProblem {
                field: WITHDRAW_CODE_ID.into(),
                page: None,
                message: format!("Pair code: {}.", reason(&e)),
            });
        }
    }
    if let Err(e) = normalise_word(word) {
        out.push(FieldProblem {
            field: WITHDRAW_WORD_ID.into(),
            page: None,
            message: if word.trim().is_empty() {
                "Memorable word: enter the memorable word you chose.".into()
            } else {
                format!("Memorable word: {}.", reason(&e))
            },
        });
    }
    out
}

/// DOM id of the withdrawal page's pair-code box.
pub const WITHDRAW_CODE_ID: &str = "withdraw-code";
/// DOM id of the withdrawal page's memorable-word box.
pub const WITHDRAW_WORD_ID: &str = "withdraw-word";

/// A date as `YYYY-MM-DD`.
pub fn iso_date(year: u32, month: u32, day: u32) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use plp_core::payload::{parse, Payload};
    use plp_core::published::PublishedStudy;
    use plp_core::seal::KeyPair;

    const R: Randomness = Randomness {
        id: [1; 16],
        ephemeral: [2; 32],
    };

    fn study() -> (Rc<Study>, KeyPair) {
        let survey = plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML).unwrap();
        let json = plp_core::check::to_json(&survey);
        let key = KeyPair::derive([9; 32]);
        let config = PublishedStudy::new("plp-test", "Test", &survey, &json, key.public(), None);
        let config = serde_json::to_vec(&config).unwrap();
        let loaded = PublishedStudy::load(&config, &json).unwrap();
        (
            Rc::new(Study {
                loaded,
                demo: false,
            }),
            key,
        )
    }

    fn single(s: &mut Session, q: &str, o: &str) {
        s.apply(Action::Answer(q.into(), Some(Answer::Text(o.into()))));
    }

    /// Walks the whole survey choosing the first option everywhere, "no" at q8 and the
    /// lowest rating; text questions are left blank (none is required in PLP's first pages).
    fn fill_page(s: &mut Session) {
        let Step::Page(p) = s.step else {
            panic!("not on a page")
        };
        // Answers can reveal later questions on the same page: fill until nothing new shows.
        let mut done = std::collections::BTreeSet::new();
        while let Some(q) = s
            .page_questions(p)
            .into_iter()
            .find(|q| !done.contains(&q.id))
            .cloned()
        {
            done.insert(q.id.clone());
            match &q.kind {
                Kind::PairCode => s.apply(Action::Code(" b ".into())),
                Kind::MemorableWord => {
                    s.apply(Action::Word("Blue  Moon".into()));
                    s.apply(Action::WordAgain("blue moon".into()));
                }
                Kind::Single { options } => {
                    let o = if q.id == "q8" { "no" } else { &options[0].id };
                    single(s, &q.id, o)
                }
                Kind::Multiple { options } => s.apply(Action::Answer(
                    q.id.clone(),
                    toggle(&q, None, &options[0].id, true),
                )),
                Kind::Rating { min, .. } => {
                    s.apply(Action::Answer(q.id.clone(), Some(Answer::Int(*min))))
                }
                _ if q.required => s.apply(Action::Answer(
                    q.id.clone(),
                    text_answer("Something".into()),
                )),
                _ => {}
            }
        }
    }

    #[test]
    fn consent_is_needed_to_start() {
        let (st, _) = study();
        let mut s = Session::new(st);
        s.apply(Action::Start);
        assert_eq!(s.step, Step::Sheet);
        assert_eq!(s.problems[0].field, CONSENT_ID);
        s.apply(Action::Consent(true));
        assert!(s.problems.is_empty());
        s.apply(Action::Start);
        assert_eq!(s.step, Step::Page(0));
    }

    #[test]
    fn first_page_problems_name_code_word_and_role() {
        let (st, _) = study();
        let mut s = Session::new(st);
        s.apply(Action::Consent(true));
        s.apply(Action::Start);
        s.apply(Action::Next);
        assert_eq!(s.step, Step::Page(0));
        let fields: Vec<&str> = s.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["q-q1", "q-q2", "q-q3-1"]);
        s.apply(Action::Code("abc".into()));
        s.apply(Action::Word("Blue moon".into()));
        s.apply(Action::WordAgain("blue mon".into()));
        single(&mut s, "q3", "bme");
        s.apply(Action::Next);
        let fields: Vec<&str> = s.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["q-q1", "q-q2-again"]);
        assert!(
            s.problems[0].message.contains("pattern"),
            "{:?}",
            s.problems
        );
        s.apply(Action::Code("ab".into()));
        s.apply(Action::WordAgain("  BLUE   moon ".into()));
        s.apply(Action::Next);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.step, Step::Page(1));
    }

    #[test]
    fn branching_is_live_and_prunes() {
        let (st, _) = study();
        let mut s = Session::new(st);
        let page = s
            .study
            .sections()
            .iter()
            .position(|x| x.id == "role-changes")
            .unwrap();
        assert_eq!(s.page_questions(page).len(), 1);
        single(&mut s, "q8", "yes");
        assert_eq!(s.page_questions(page).len(), 6);
        let first = s.study.sections()[page].questions[1].kind.options()[0]
            .id
            .clone();
        single(&mut s, "q9", &first);
        assert!(s.answers.contains_key("q9"));
        single(&mut s, "q8", "no");
        assert!(!s.answers.contains_key("q9"), "hidden answers are pruned");
    }

    #[test]
    fn other_text_goes_with_its_option() {
        let (st, _) = study();
        let mut s = Session::new(st);
        let q14 = s.study.loaded.survey.question("q14").unwrap().clone();
        s.apply(Action::Answer(
            "q14".into(),
            toggle(&q14, None, "other", true),
        ));
        s.apply(Action::Answer(
            "q14_other".into(),
            text_answer("A poster".into()),
        ));
        assert!(s.answers.contains_key("q14_other"));
        let cur = s.answer("q14").cloned();
        let next = toggle(&q14, cur.as_ref(), "connect", true);
        assert_eq!(
            next,
            Some(Answer::List(vec!["connect".into(), "other".into()])),
            "definition order"
        );
        s.apply(Action::Answer(
            "q14".into(),
            toggle(&q14, next.as_ref(), "other", false),
        ));
        assert!(!s.answers.contains_key("q14_other"));
        assert_eq!(text_answer("   ".into()), None);
    }

    #[test]
    fn whole_survey_then_seal_opens_to_the_same_answers() {
        let (st, key) = study();
        let mut s = Session::new(st.clone());
        s.apply(Action::Consent(true));
        s.apply(Action::Start);
        let mut pages = 0;
        while let Step::Page(_) = s.step {
            fill_page(&mut s);
            s.apply(Action::Next);
            assert!(s.problems.is_empty(), "{:?}", s.problems);
            pages += 1;
        }
        assert_eq!(s.step, Step::Review);
        assert!(pages > 5);
        assert_eq!(s.progress().0, s.progress().1);
        assert!(s.all_problems().is_empty());
        let sealed = seal_response(&s, "2026-03-04", R).unwrap();
        assert_eq!(sealed.receipt.len(), 24);
        let env = plp_core::envelope::Envelope::parse(sealed.json.as_bytes()).unwrap();
        let Payload::Response(p) = parse(&key.open(&env).unwrap()).unwrap() else {
            panic!("not a response")
        };
        p.verify(&st.loaded.survey).unwrap();
        assert_eq!(p.code, "B");
        assert_eq!(p.answers, s.answers);
        assert_eq!(
            p.withdrawal_tag,
            plp_core::withdrawal::tag("plp-test", "blue moon").unwrap()
        );
        assert!(
            !sealed.json.contains("blue"),
            "the word never leaves the browser"
        );
    }

    #[test]
    fn back_change_and_review() {
        let (st, _) = study();
        let mut s = Session::new(st);
        s.apply(Action::Consent(true));
        s.apply(Action::Start);
        while let Step::Page(_) = s.step {
            fill_page(&mut s);
            s.apply(Action::Next);
        }
        s.apply(Action::Change(2));
        assert_eq!(s.step, Step::Page(2));
        s.apply(Action::Next);
        assert_eq!(s.step, Step::Review, "a change returns to the review page");
        s.apply(Action::Back);
        let last = *visible_pages(&s.study.loaded.survey, &s.answers)
            .last()
            .unwrap();
        assert_eq!(s.step, Step::Page(last));
    }

    #[test]
    fn a_restored_draft_asks_for_the_word_again_then_resumes() {
        let (st, _) = study();
        let mut s = Session::new(st.clone());
        s.apply(Action::Consent(true));
        s.apply(Action::Start);
        for _ in 0..3 {
            fill_page(&mut s);
            s.apply(Action::Next);
        }
        let at = s.step;
        let saved = serde_json::to_string(&s.draft()).unwrap();
        assert!(!saved.contains("oon"), "the word is not in the draft");
        let mut r = Session::restore(st, serde_json::from_str(&saved).unwrap());
        assert!(r.restored);
        assert_eq!(r.step, Step::Page(0));
        assert_eq!(r.answers, s.answers);
        r.apply(Action::Next);
        assert_eq!(r.problems.len(), 1, "only the word is missing");
        r.apply(Action::Word("blue moon".into()));
        r.apply(Action::WordAgain("blue moon".into()));
        r.apply(Action::Next);
        assert_eq!(r.step, at);
    }

    #[test]
    fn withdrawal_request_seals() {
        let (st, key) = study();
        assert_eq!(withdrawal_problems(&st, "", "abc").len(), 1);
        assert_eq!(withdrawal_problems(&st, "1", "blue moon").len(), 1);
        assert!(withdrawal_problems(&st, "b", "blue moon").is_empty());
        let sealed = seal_withdrawal(&st, "b", "Blue Moon", "2026-03-04", R).unwrap();
        let env = plp_core::envelope::Envelope::parse(sealed.json.as_bytes()).unwrap();
        let Payload::Withdrawal(w) = parse(&key.open(&env).unwrap()).unwrap() else {
            panic!("not a withdrawal")
        };
        assert_eq!(w.code.as_deref(), Some("B"));
        assert_eq!(iso_date(2026, 3, 4), "2026-03-04");
        assert_eq!(
            sealed.file_name("s"),
            format!("s-{}.plp.json", sealed.receipt)
        );
    }
}
