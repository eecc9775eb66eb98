//! The survey model: what a definition file says, as typed data.
//!
//! One definition drives the browser (what to ask, in what order, when) and the CLI (what a
//! valid response is, how to label columns). It is written by people in TOML
//! (`docs/survey-format.md`) and reaches the browser as JSON, so every type here derives both
//! directions of serde. Structural checks live in [`crate::check`]; this module only
//! describes and looks up.

use crate::answers::{AnswerSet, Value};
use serde::{Deserialize, Serialize};

/// A whole survey definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// Identity and versioning of the instrument.
    pub survey: SurveyMeta,
    /// The information sheet shown before consent.
    pub information_sheet: InformationSheet,
    /// Which question tells the respondent's side of the pair.
    pub pairing: Pairing,
    /// Pages, in order; each holds questions in order.
    pub sections: Vec<Section>,
    /// Lookups derived from the above, built on first use. A survey is read-only once
    /// loaded (change a clone: cloning starts the lookups afresh).
    #[serde(skip)]
    pub(crate) derived: Derived,
}

/// The lookups validation needs for every response, built once per survey rather than once
/// per response: an ingest validates a million responses against the same survey.
#[derive(Default)]
pub(crate) struct Derived(std::sync::OnceLock<Index>);

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl PartialEq for Derived {
    /// Derived from the definition, so never a difference of its own.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Derived {}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// See [`Derived`].
pub(crate) struct Index {
    /// SHA-256 of the information sheet's text, hex.
    pub sheet_sha256: String,
    /// Every answer key the survey knows, sorted as [`crate::answers::Answers`] sorts:
    /// (key, question position, whether it is the question's "Other" text).
    pub keys: Vec<(String, usize, bool)>,
    /// Question position by id.
    pub position: std::collections::HashMap<String, usize>,
    /// By question position: the question's number as text, and the key of its "Other"
    /// text when it has one (what an export writes for every respondent).
    pub labels: Vec<(String, Option<String>)>,
}

/// A respondent's answers laid out by question position (see [`Survey::lay_out`]).
pub struct Slots<'a> {
    /// The answer to each question.
    pub(crate) answer: Vec<Option<Value<'a>>>,
    /// The "Other" text of each question.
    pub(crate) other: Vec<Option<Value<'a>>>,
    /// Keys the survey does not know, in order.
    pub(crate) unknown: Vec<&'a str>,
}

impl Index {
    fn build(survey: &Survey) -> Index {
        let mut keys = Vec::new();
        let mut position = std::collections::HashMap::new();
        let mut labels = Vec::new();
        for (i, q) in survey.questions().enumerate() {
            keys.push((q.id.clone(), i, false));
            let other = q.other_key();
            if let Some(k) = &other {
                keys.push((k.clone(), i, true));
            }
            labels.push((q.number.to_string(), other));
            position.entry(q.id.clone()).or_insert(i);
        }
        keys.sort();
        Index {
            sheet_sha256: crate::payload::sha256_hex(survey.information_sheet.text.as_bytes()),
            keys,
            position,
            labels,
        }
    }
}

/// Identity of the instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyMeta {
    /// Stable identifier, e.g. `plp-evaluation`.
    pub id: String,
    /// Version of the wording; a new wording is a new version.
    pub version: String,
    /// Title shown to respondents.
    pub title: String,
    /// Regular expression a normalised pair code must match in full.
    #[serde(default = "default_code_pattern")]
    pub code_pattern: String,
    /// Questions an intruder might know from elsewhere (role, tenure, band, ...): the
    /// export's disclosure report measures re-identification risk on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quasi_identifiers: Vec<String>,
    /// Facts both partners should report alike (how they met, how often, a contract): the
    /// report gives their percentage agreement and Cohen's kappa over complete pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_facts: Vec<String>,
}

/// The pair-code pattern of the spec: one or two letters, enough for 702 pairs.
pub const DEFAULT_CODE_PATTERN: &str = "^[A-Z]{1,2}$";

fn default_code_pattern() -> String {
    DEFAULT_CODE_PATTERN.to_string()
}

/// The participant information sheet: what respondents agree to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InformationSheet {
    /// Version string recorded with every consent.
    pub version: String,
    /// The exact text shown (its SHA-256 is recorded with every consent).
    pub text: String,
}

/// Side of the pair a respondent belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Side A (for PLP: BME staff member).
    A,
    /// Side B (for PLP: senior leader).
    B,
    /// Either side: fills whichever side of the pair is missing.
    Either,
}

impl Side {
    /// Short label used in exports and messages.
    pub fn label(self) -> &'static str {
        match self {
            Side::A => "A",
            Side::B => "B",
            Side::Either => "either",
        }
    }
}

/// Which question gives the respondent's side, and how its options map to sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pairing {
    /// Id of a single-choice question.
    pub question: String,
    /// Option id to side, one entry per option of that question.
    pub sides: std::collections::BTreeMap<String, Side>,
}

/// A page of questions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Stable identifier of the page.
    pub id: String,
    /// Heading shown on the page.
    pub title: String,
    /// Optional text shown under the heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
    /// Questions, in the order asked.
    pub questions: Vec<Question>,
}

/// One question.
///
/// On disk the kind's fields sit beside the common ones (`kind = "rating"`, `min = 1`, ...);
/// [`RawQuestion`] is that flat shape, so unknown or misplaced fields are reported by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawQuestion", into = "RawQuestion")]
pub struct Question {
    /// Stable id, used as the answer key and column name (`q1`..`q64` for PLP).
    pub id: String,
    /// Number shown to respondents and used in messages.
    pub number: u32,
    /// The question as asked.
    pub text: String,
    /// Help text shown under the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Whether a visible question must be answered.
    #[serde(default)]
    pub required: bool,
    /// Shown only when this rule holds on earlier answers; always shown when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_if: Option<Rule>,
    /// What kind of answer it takes.
    pub kind: Kind,
}

/// Default length limit of a short free-text answer, in Unicode scalar values.
pub const SHORT_TEXT_MAX: usize = 200;
/// Default length limit of a long free-text answer, in Unicode scalar values.
pub const LONG_TEXT_MAX: usize = 5000;
/// Length limit of the text typed for an "Other" option.
pub const OTHER_TEXT_MAX: usize = 500;

/// The kinds of answer a question can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Exactly one option.
    Single {
        /// Options in display order.
        options: Vec<Choice>,
    },
    /// Any number of options ("select all that apply").
    Multiple {
        /// Options in display order.
        options: Vec<Choice>,
    },
    /// An integer on a scale.
    Rating {
        /// Lowest value.
        min: i64,
        /// Highest value.
        max: i64,
        /// Label of the lowest value.
        min_label: String,
        /// Label of the highest value.
        max_label: String,
    },
    /// One line of free text.
    ShortText {
        /// Length limit in Unicode scalar values.
        max_length: usize,
    },
    /// Free text over several lines.
    LongText {
        /// Length limit in Unicode scalar values.
        max_length: usize,
    },
    /// The pair code letter both partners enter; goes to the payload's `code`, not `answers`.
    PairCode,
    /// The memorable word; only its withdrawal tag leaves the browser.
    MemorableWord,
}

/// The flat on-disk shape of a question; see [`Question`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuestion {
    id: String,
    number: u32,
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    help: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    show_if: Option<Rule>,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    options: Option<Vec<Choice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<usize>,
}

impl TryFrom<RawQuestion> for Question {
    type Error = String;

    fn try_from(r: RawQuestion) -> Result<Self, String> {
        let id = r.id.clone();
        let only = |allowed: &[&str]| -> Result<(), String> {
            let present = [
                ("options", r.options.is_some()),
                ("min", r.min.is_some()),
                ("max", r.max.is_some()),
                ("min_label", r.min_label.is_some()),
                ("max_label", r.max_label.is_some()),
                ("max_length", r.max_length.is_some()),
            ];
            for (name, is) in present {
                if is && !allowed.contains(&name) {
                    return Err(format!(
                        "question {id}: `{name}` does not apply to kind `{}`",
                        r.kind
                    ));
                }
            }
            Ok(())
        };
        let need = |v: Option<i64>, name: &str| {
            v.ok_or_else(|| format!("question {id}: kind `rating` needs `{name}`"))
        };
        let kind = match r.kind.as_str() {
            "single" | "multiple" => {
                only(&["options"])?;
                let options = r
                    .options
                    .clone()
                    .ok_or_else(|| format!("question {id}: kind `{}` needs `options`", r.kind))?;
                if r.kind == "single" {
                    Kind::Single { options }
                } else {
                    Kind::Multiple { options }
                }
            }
            "rating" => {
                only(&["min", "max", "min_label", "max_label"])?;
                Kind::Rating {
                    min: need(r.min, "min")?,
                    max: need(r.max, "max")?,
                    min_label: r.min_label.clone().unwrap_or_default(),
                    max_label: r.max_label.clone().unwrap_or_default(),
                }
            }
            "short_text" => {
                only(&["max_length"])?;
                Kind::ShortText {
                    max_length: r.max_length.unwrap_or(SHORT_TEXT_MAX),
                }
            }
            "long_text" => {
                only(&["max_length"])?;
                Kind::LongText {
                    max_length: r.max_length.unwrap_or(LONG_TEXT_MAX),
                }
            }
            "pair_code" => {
                only(&[])?;
                Kind::PairCode
            }
            "memorable_word" => {
                only(&[])?;
                Kind::MemorableWord
            }
            other => {
                return Err(format!(
                    "question {id}: unknown kind `{other}` (expected single, multiple, rating, \
                     short_text, long_text, pair_code or memorable_word)"
                ))
            }
        };
        Ok(Question {
            id: r.id,
            number: r.number,
            text: r.text,
            help: r.help,
            required: r.required,
            show_if: r.show_if,
            kind,
        })
    }
}

impl From<Question> for RawQuestion {
    fn from(q: Question) -> Self {
        let mut r = RawQuestion {
            id: q.id,
            number: q.number,
            text: q.text,
            help: q.help,
            required: q.required,
            show_if: q.show_if,
            kind: q.kind.tag().to_string(),
            options: None,
            min: None,
            max: None,
            min_label: None,
            max_label: None,
            max_length: None,
        };
        match q.kind {
            Kind::Single { options } | Kind::Multiple { options } => r.options = Some(options),
            Kind::Rating {
                min,
                max,
                min_label,
                max_label,
            } => {
                r.min = Some(min);
                r.max = Some(max);
                r.min_label = Some(min_label);
                r.max_label = Some(max_label);
            }
            Kind::ShortText { max_length } | Kind::LongText { max_length } => {
                r.max_length = Some(max_length)
            }
            Kind::PairCode | Kind::MemorableWord => {}
        }
        r
    }
}

/// An option of a choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Stable id stored in answers.
    pub id: String,
    /// Label shown.
    pub label: String,
    /// When chosen, asks for text stored under `<question id>_other`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub other: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A visibility rule on earlier answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// A single-choice question was answered with this option.
    Equals {
        /// Question id.
        question: String,
        /// Option id.
        option: String,
    },
    /// A single-choice question was answered with one of these options.
    OneOf {
        /// Question id.
        question: String,
        /// Option ids.
        options: Vec<String>,
    },
    /// A multiple-choice question has at least one of these options selected.
    AnySelected {
        /// Question id.
        question: String,
        /// Option ids.
        options: Vec<String>,
    },
    /// The question has an answer at all.
    Answered {
        /// Question id.
        question: String,
    },
    /// The inner rule does not hold.
    Not(Box<Rule>),
    /// Every inner rule holds.
    All(Vec<Rule>),
    /// At least one inner rule holds.
    Any(Vec<Rule>),
}

impl Rule {
    /// Every question id this rule reads, in the order written.
    pub fn questions(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Rule::Equals { question, .. }
            | Rule::OneOf { question, .. }
            | Rule::AnySelected { question, .. }
            | Rule::Answered { question } => out.push(question),
            Rule::Not(r) => r.collect(out),
            Rule::All(rs) | Rule::Any(rs) => rs.iter().for_each(|r| r.collect(out)),
        }
    }

    /// Readable form, e.g. `q8 = yes`, for `plp survey show` and error messages.
    pub fn describe(&self) -> String {
        match self {
            Rule::Equals { question, option } => format!("{question} = {option}"),
            Rule::OneOf { question, options } => {
                format!("{question} is one of [{}]", options.join(", "))
            }
            Rule::AnySelected { question, options } => {
                format!("{question} includes any of [{}]", options.join(", "))
            }
            Rule::Answered { question } => format!("{question} is answered"),
            Rule::Not(r) => format!("not ({})", r.describe()),
            Rule::All(rs) => join_rules(rs, " and "),
            Rule::Any(rs) => join_rules(rs, " or "),
        }
    }
}

fn join_rules(rs: &[Rule], sep: &str) -> String {
    let parts: Vec<String> = rs.iter().map(|r| format!("({})", r.describe())).collect();
    parts.join(sep)
}

impl Kind {
    /// The options of a choice question; empty for other kinds.
    pub fn options(&self) -> &[Choice] {
        match self {
            Kind::Single { options } | Kind::Multiple { options } => options,
            _ => &[],
        }
    }

    /// The `kind` value written in definition files.
    pub fn tag(&self) -> &'static str {
        match self {
            Kind::Single { .. } => "single",
            Kind::Multiple { .. } => "multiple",
            Kind::Rating { .. } => "rating",
            Kind::ShortText { .. } => "short_text",
            Kind::LongText { .. } => "long_text",
            Kind::PairCode => "pair_code",
            Kind::MemorableWord => "memorable_word",
        }
    }

    /// Short name used in `plp survey show` and the codebook.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Single { .. } => "single choice",
            Kind::Multiple { .. } => "multiple choice",
            Kind::Rating { .. } => "rating",
            Kind::ShortText { .. } => "short text",
            Kind::LongText { .. } => "long text",
            Kind::PairCode => "pair code",
            Kind::MemorableWord => "memorable word",
        }
    }

    /// Whether the answer lives in the payload's `answers` object (pair code and memorable
    /// word travel separately, as `code` and `withdrawal_tag`).
    pub fn in_answers(&self) -> bool {
        !matches!(self, Kind::PairCode | Kind::MemorableWord)
    }

    /// Whether this is free text (kept out of the main export tables).
    pub fn is_text(&self) -> bool {
        matches!(self, Kind::ShortText { .. } | Kind::LongText { .. })
    }
}

impl Question {
    /// The option with this id, if the question has one.
    pub fn option(&self, id: &str) -> Option<&Choice> {
        self.kind.options().iter().find(|o| o.id == id)
    }

    /// The answer key of the "Other" text, when an option asks for one.
    pub fn other_key(&self) -> Option<String> {
        self.kind
            .options()
            .iter()
            .any(|o| o.other)
            .then(|| format!("{}_other", self.id))
    }
}

impl Survey {
    /// The survey's lookups (built on first use).
    pub(crate) fn index(&self) -> &Index {
        self.derived.0.get_or_init(|| Index::build(self))
    }

    /// Lays answers out by question position, in one merge of two sorted key lists (the
    /// answers' and the survey's), so that no key is looked up: what validating and
    /// exporting a million responses do for each (answers read in place from a payload,
    /// with no answer copied), and the browser's owned answers too.
    pub fn lay_out<'a>(&self, answers: &'a impl AnswerSet) -> Slots<'a> {
        self.lay_out_sorted(answers.entries())
    }

    /// Lays out (key, value) pairs given in key order, one per key.
    fn lay_out_sorted<'a>(&self, answers: impl Iterator<Item = (&'a str, Value<'a>)>) -> Slots<'a> {
        let index = self.index();
        let mut slots = Slots {
            answer: vec![None; index.labels.len()],
            other: vec![None; index.labels.len()],
            unknown: Vec::new(),
        };
        let mut keys = index.keys.iter().peekable();
        for (key, a) in answers {
            while keys.next_if(|(k, ..)| k.as_str() < key).is_some() {}
            let mut known = false;
            // Every entry with this key (a question id could equal another's "Other" key).
            while let Some((_, i, is_other)) = keys.next_if(|(k, ..)| k == key) {
                known = true;
                if *is_other {
                    slots.other[*i] = Some(a);
                } else {
                    slots.answer[*i] = Some(a);
                }
            }
            if !known {
                slots.unknown.push(key);
            }
        }
        slots
    }

    /// All questions in the order asked.
    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.sections.iter().flat_map(|s| s.questions.iter())
    }

    /// The question with this id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions().find(|q| q.id == id)
    }

    /// Position of a question in asking order.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.questions().position(|q| q.id == id)
    }

    /// The pair-code question, if the survey has one.
    pub fn pair_code_question(&self) -> Option<&Question> {
        self.questions().find(|q| q.kind == Kind::PairCode)
    }

    /// The memorable-word question, if the survey has one.
    pub fn memorable_word_question(&self) -> Option<&Question> {
        self.questions().find(|q| q.kind == Kind::MemorableWord)
    }

    /// The side of the pair an option of the pairing question stands for.
    pub fn side_for(&self, option: &str) -> Option<Side> {
        self.pairing.sides.get(option).copied()
    }
}
