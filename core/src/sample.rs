//! Random walks through a survey: answers a respondent could really give.
//!
//! Used by property tests, the demo study and the benchmarks. Pure: the caller supplies the
//! random numbers, so a seed reproduces a walk exactly.

use crate::answers::{Answer, Answers};
use crate::branching::{prune, visible_ids};
use crate::survey::{Kind, Survey};

/// Words free-text answers are made of.
const WORDS: &[&str] = &[
    "partner",
    "meetings",
    "learning",
    "helpful",
    "time",
    "support",
    "trust",
    "career",
    "listening",
    "sessions",
    "racism",
    "culture",
    "confidence",
    "openly",
    "shared",
    "monthly",
    "teams",
    "coffee",
    "reflection",
    "honest",
    "valued",
    "busy",
    "progress",
    "inclusion",
];

/// A source of random numbers.
pub trait Source {
    /// The next random 64-bit number.
    fn next(&mut self) -> u64;

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// SplitMix64: small, fast and good enough for test data (not for keys).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl Source for SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// How a walk answers.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Percent chance of answering an optional question.
    pub answer_optional: u64,
    /// Percent chance of typing text for a chosen "Other" option.
    pub fill_other: u64,
    /// Largest number of words in a free-text answer.
    pub max_words: u64,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            answer_optional: 70,
            fill_other: 80,
            max_words: 40,
        }
    }
}

/// Free text of up to `max_words` words from a small vocabulary.
pub fn text(rng: &mut impl Source, max_words: u64, max_chars: usize) -> String {
    let n = 1 + rng.below(max_words.max(1));
    let mut s = String::new();
    for i in 0..n {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        if s.len() + w.len() + 1 > max_chars {
            break;
        }
        if i > 0 {
            s.push(' ');
        }
        s.push_str(w);
    }
    if s.is_empty() {
        s.push_str("ok");
    }
    s
}

/// One answer a respondent could give to a question of this kind.
pub fn answer(kind: &Kind, rng: &mut impl Source, style: &Style) -> Option<Answer> {
    Some(match kind {
        Kind::Single { options } => {
            Answer::Text(options[rng.below(options.len() as u64) as usize].id.clone())
        }
        Kind::Multiple { options } => {
            let mut chosen: Vec<String> = options
                .iter()
                .filter(|_| rng.chance(35))
                .map(|o| o.id.clone())
                .collect();
            if chosen.is_empty() {
                chosen.push(options[rng.below(options.len() as u64) as usize].id.clone());
            }
            Answer::List(chosen)
        }
        Kind::Rating { min, max, .. } => {
            Answer::Int(min + rng.below((max - min + 1) as u64) as i64)
        }
        Kind::ShortText { max_length } => {
            Answer::Text(text(rng, style.max_words.min(8), *max_length))
        }
        Kind::LongText { max_length } => Answer::Text(text(rng, style.max_words, *max_length)),
        Kind::PairCode | Kind::MemorableWord => return None,
    })
}

/// Walks the survey in order, answering what is visible: every required question, optional
/// ones by chance. `fixed` answers are used as given where their question is reached (to
/// steer a walk down a branch). The result is pruned, so it always validates.
pub fn walk(survey: &Survey, rng: &mut impl Source, style: &Style, fixed: &Answers) -> Answers {
    let mut answers = Answers::new();
    for q in survey.questions() {
        if !visible_ids(survey, &answers).contains(&q.id) || !q.kind.in_answers() {
            continue;
        }
        if let Some(a) = fixed.get(&q.id) {
            answers.insert(q.id.clone(), a.clone());
        } else if q.required || rng.chance(style.answer_optional) {
            if let Some(a) = answer(&q.kind, rng, style) {
                answers.insert(q.id.clone(), a);
            }
        }
        if let Some(key) = q.other_key() {
            if crate::branching::other_chosen(q, answers.get(&q.id)) {
                if let Some(a) = fixed.get(&key) {
                    answers.insert(key, a.clone());
                } else if rng.chance(style.fill_other) {
                    let t = text(rng, 6, crate::survey::OTHER_TEXT_MAX);
                    answers.insert(key, Answer::Text(t));
                }
            }
        }
    }
    prune(survey, &answers).kept
}
