//! Answer values as they travel in a payload's `answers` object.
//!
//! The JSON shape is fixed by the envelope spec: a single choice is the option id (string), a
//! multiple choice an array of option ids, a rating an integer, free text a string. Which of
//! these a string means depends on the question, so values are kept untyped here and read
//! against the survey by [`crate::validate`] and [`crate::branching`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Answers keyed by question id (and `<id>_other` for "Other" texts). Sorted, so the same
/// answers always serialise to the same bytes.
pub type Answers = BTreeMap<String, Answer>;

/// One answer value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// A rating.
    Int(i64),
    /// A single choice's option id, or free text.
    Text(String),
    /// A multiple choice's option ids.
    List(Vec<String>),
}

impl Answer {
    /// The string, for a single choice or free text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Answer::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The option ids, for a multiple choice.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Answer::List(v) => Some(v),
            _ => None,
        }
    }

    /// The integer, for a rating.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Answer::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Readable form for review pages and `plp survey show`.
    pub fn display(&self) -> String {
        match self {
            Answer::Int(i) => i.to_string(),
            Answer::Text(s) => s.clone(),
            Answer::List(v) => v.join(", "),
        }
    }
}
