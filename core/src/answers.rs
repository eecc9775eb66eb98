//! Answer values as they travel in a payload's `answers` object.
//!
//! The JSON shape is fixed by the envelope spec: a single choice is the option id (string), a
//! multiple choice an array of option ids, a rating an integer, free text a string. Which of
//! these a string means depends on the question, so values are kept untyped here and read
//! against the survey by [`crate::validate`] and [`crate::branching`].

use crate::survey::Question;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Answers keyed by question id (and `<id>_other` for "Other" texts). Sorted, so the same
/// answers always serialise to the same bytes.
pub type Answers = BTreeMap<String, Answer>;

/// One answer value.
///
/// In JSON: an integer, a string or an array of strings. Read by a visitor rather than
/// `#[serde(untagged)]`, which buffers every value and tries each variant in turn (about
/// half the cost of reading a payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// A rating.
    Int(i64),
    /// A single choice's option id, or free text.
    Text(String),
    /// A multiple choice's option ids.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Answer;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer, a string or an array of strings")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Answer, E> {
                Ok(Answer::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Answer, E> {
                i64::try_from(v).map(Answer::Int).map_err(|_| {
                    E::invalid_value(serde::de::Unexpected::Unsigned(v), &"an integer in i64")
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Answer, E> {
                Ok(Answer::Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Answer, E> {
                Ok(Answer::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Answer, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<String>()? {
                    list.push(item);
                }
                Ok(Answer::List(list))
            }
        }
        d.deserialize_any(V)
    }
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

/// Reads an `answers` object as serde's own map reading does (a repeated key keeps its last
/// value), but builds the map in one go from the entries in order: payloads are written
/// sorted, so this skips a tree search per key. Use with `#[serde(deserialize_with)]`.
pub fn deserialize_answers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Answers, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Answers;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of answers")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Answers, A::Error> {
            let mut entries: Vec<(String, Answer)> =
                Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
            while let Some(entry) = map.next_entry::<String, Answer>()? {
                entries.push(entry);
            }
            // `from_iter` sorts stably (nearly free on sorted input) and keeps the last of
            // equal keys, as inserting one by one would.
            Ok(entries.into_iter().collect())
        }
    }
    d.deserialize_map(V)
}

/// The new value of a multiple-choice answer after ticking or unticking one option: the
/// chosen options in the order the survey defines them (as [`crate::validate`] requires),
/// or `None` when none is left (an empty selection is left out).
pub fn toggle(q: &Question, current: Option<&Answer>, option: &str, on: bool) -> Option<Answer> {
    let chosen = current.and_then(Answer::as_list).unwrap_or(&[]);
    let list: Vec<String> = q
        .kind
        .options()
        .iter()
        .filter(|o| {
            if o.id == option {
                on
            } else {
                chosen.contains(&o.id)
            }
        })
        .map(|o| o.id.clone())
        .collect();
    (!list.is_empty()).then_some(Answer::List(list))
}

/// The value of a free-text answer: what was typed, or `None` when it is blank (a blank
/// answer is left out, never sent).
pub fn text_answer(typed: String) -> Option<Answer> {
    (!typed.trim().is_empty()).then_some(Answer::Text(typed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The visitor reads exactly what `#[serde(untagged)]` read: integers in i64, strings,
    /// arrays of strings; and refuses the rest (floats, out-of-range integers, mixed arrays,
    /// objects, null, booleans).
    #[test]
    fn reads_the_three_shapes_and_refuses_the_rest() {
        let a: Answers =
            serde_json::from_str(r#"{"q1": 4, "q2": "yes", "q3": ["a", "b"], "q4": [], "q5": -3}"#)
                .unwrap();
        assert_eq!(a["q1"], Answer::Int(4));
        assert_eq!(a["q2"], Answer::Text("yes".into()));
        assert_eq!(a["q3"], Answer::List(vec!["a".into(), "b".into()]));
        assert_eq!(a["q4"], Answer::List(vec![]));
        assert_eq!(a["q5"], Answer::Int(-3));
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Answers>(&text).unwrap(), a);
        for bad in [
            "1.5",
            "9223372036854775808",
            "[1]",
            r#"["a", 2]"#,
            "{}",
            "null",
            "true",
        ] {
            let json = format!(r#"{{"q": {bad}}}"#);
            assert!(
                serde_json::from_str::<Answers>(&json).is_err(),
                "{bad} was read"
            );
        }
        assert_eq!(
            serde_json::from_str::<Answer>("9223372036854775807").unwrap(),
            Answer::Int(i64::MAX)
        );
    }

    /// `deserialize_answers` reads what serde's map reading reads, in any key order and with
    /// a repeated key (the last value wins in both), and refuses what it refuses.
    #[test]
    fn bulk_answers_read_as_serde_maps_do() {
        #[derive(serde::Deserialize)]
        struct Bulk(#[serde(deserialize_with = "deserialize_answers")] Answers);
        for json in [
            r#"{"q2": "b", "q1": 4, "q10": ["x"], "q1": 5}"#,
            r#"{"a": "1", "b": "2", "c": "3"}"#,
            r#"{"z": 1, "y": 2, "x": 3, "y": 9}"#,
            "{}",
        ] {
            let ours: Bulk = serde_json::from_str(json).unwrap();
            let serdes: Answers = serde_json::from_str(json).unwrap();
            assert_eq!(ours.0, serdes, "{json}");
        }
        for bad in [r#"{"q": 1.5}"#, "[]", r#"{"q": null}"#, "3"] {
            assert!(serde_json::from_str::<Bulk>(bad).is_err(), "{bad}");
        }
    }
}
