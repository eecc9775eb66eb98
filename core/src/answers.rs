//! Answer values as they travel in a payload's `answers` object.
//!
//! The JSON shape is fixed by the envelope spec: a single choice is the option id (string), a
//! multiple choice an array of option ids, a rating an integer, free text a string. Which of
//! these a string means depends on the question, so values are kept untyped here and read
//! against the survey by [`crate::validate`] and [`crate::branching`].

use crate::survey::Question;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Answers keyed by question id (and `<id>_other` for "Other" texts). Sorted, so the same
/// answers always serialise to the same bytes.
pub type Answers = BTreeMap<String, Answer>;

/// One answer value.
///
/// In JSON: an integer, a string or an array of strings. Read by [`ReadAnswer`]'s visitor
/// rather than `#[serde(untagged)]`, which buffers every value and tries each variant in
/// turn (about half the cost of reading a payload).
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
    /// Read as [`ReadAnswer`] is (one reading, so the two accept and refuse alike), then
    /// owned.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ReadAnswer::deserialize(d).map(ReadAnswer::into_answer)
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

/// One answer value as the survey logic reads it, whether it is held in an [`Answer`] (the
/// browser's answers) or borrowed from payload bytes ([`ReadAnswer`], a million responses at
/// ingest and export): validation, branching and export cells are written once, over this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'b> {
    /// A rating.
    Int(i64),
    /// A single choice's option id, or free text.
    Text(&'b str),
    /// A multiple choice's option ids.
    List(Ids<'b>),
}

/// The option ids of a multiple choice, in either storage.
#[derive(Debug, Clone, Copy)]
pub enum Ids<'b> {
    /// Owned by an [`Answer`].
    Owned(&'b [String]),
    /// Read from payload bytes.
    Read(&'b [Cow<'b, str>]),
}

impl PartialEq for Ids<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Ids<'_> {}

impl<'b> Ids<'b> {
    /// How many ids.
    pub fn len(&self) -> usize {
        match self {
            Ids::Owned(v) => v.len(),
            Ids::Read(v) => v.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in order.
    pub fn iter(&self) -> impl Iterator<Item = &'b str> + 'b {
        let this = *self;
        (0..this.len()).map(move |i| match this {
            Ids::Owned(v) => v[i].as_str(),
            Ids::Read(v) => &*v[i],
        })
    }

    /// Whether `id` is one of them.
    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|s| s == id)
    }
}

impl<'b> Value<'b> {
    /// The string, for a single choice or free text.
    pub fn as_text(self) -> Option<&'b str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The option ids, for a multiple choice.
    pub fn as_list(self) -> Option<Ids<'b>> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }

    /// The integer, for a rating.
    pub fn as_int(self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}

impl Answer {
    /// The value as the survey logic reads it.
    pub fn value(&self) -> Value<'_> {
        match self {
            Answer::Int(i) => Value::Int(*i),
            Answer::Text(s) => Value::Text(s),
            Answer::List(v) => Value::List(Ids::Owned(v)),
        }
    }
}

/// One answer value borrowed from payload bytes where it can be (a string written with a
/// JSON escape is the one thing copied). Reading a response this way, instead of into an
/// [`Answers`] map of owned strings, is most of what a payload costs to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadAnswer<'a> {
    /// A rating.
    Int(i64),
    /// A single choice's option id, or free text.
    Text(Cow<'a, str>),
    /// A multiple choice's option ids.
    List(Vec<Cow<'a, str>>),
}

impl ReadAnswer<'_> {
    /// The value as the survey logic reads it.
    pub fn value(&self) -> Value<'_> {
        match self {
            ReadAnswer::Int(i) => Value::Int(*i),
            ReadAnswer::Text(s) => Value::Text(s),
            ReadAnswer::List(v) => Value::List(Ids::Read(v)),
        }
    }

    /// The answer as an owned [`Answer`], moving what is already owned.
    pub fn into_answer(self) -> Answer {
        match self {
            ReadAnswer::Int(i) => Answer::Int(i),
            ReadAnswer::Text(s) => Answer::Text(s.into_owned()),
            ReadAnswer::List(v) => Answer::List(v.into_iter().map(Cow::into_owned).collect()),
        }
    }
}

/// Answers in either storage: an [`Answers`] map or [`ReadAnswers`] read in place. What a
/// [`crate::payload::Response`] can carry, and what [`crate::survey::Survey::lay_out`]
/// lays out.
pub trait AnswerSet {
    /// How many answers.
    fn count(&self) -> usize;
    /// The value of one key.
    fn value_of(&self, key: &str) -> Option<Value<'_>>;
    /// (key, value), in key order, one per key.
    fn entries(&self) -> impl Iterator<Item = (&str, Value<'_>)>;
}

impl AnswerSet for Answers {
    fn count(&self) -> usize {
        self.len()
    }
    fn value_of(&self, key: &str) -> Option<Value<'_>> {
        self.get(key).map(Answer::value)
    }
    fn entries(&self) -> impl Iterator<Item = (&str, Value<'_>)> {
        self.iter().map(|(k, a)| (k.as_str(), a.value()))
    }
}

impl AnswerSet for ReadAnswers<'_> {
    fn count(&self) -> usize {
        self.len()
    }
    fn value_of(&self, key: &str) -> Option<Value<'_>> {
        self.get(key)
    }
    fn entries(&self) -> impl Iterator<Item = (&str, Value<'_>)> {
        self.iter()
    }
}

/// A string borrowed from the input when it has no escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct ReadStr<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for ReadAnswer<'a> {
    /// The one reading of an answer: [`Answer`] is read through it, then owned.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = ReadAnswer<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer, a string or an array of strings")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ReadAnswer::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v).map(ReadAnswer::Int).map_err(|_| {
                    E::invalid_value(serde::de::Unexpected::Unsigned(v), &"an integer in i64")
                })
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(ReadAnswer::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ReadAnswer::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(ReadAnswer::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(ReadStr(item)) = seq.next_element::<ReadStr<'a>>()? {
                    list.push(item);
                }
                Ok(ReadAnswer::List(list))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A payload's `answers` read in place: (key, value) sorted by key, one entry per key (a
/// repeated key keeps its last value, as an [`Answers`] map would). What
/// [`crate::survey::Survey::lay_out`] lays out by question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadAnswers<'a>(pub(crate) Vec<(Cow<'a, str>, ReadAnswer<'a>)>);

impl<'a> ReadAnswers<'a> {
    /// How many answers (after repeated keys are merged).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Value<'_>)> {
        self.0.iter().map(|(k, a)| (&**k, a.value()))
    }

    /// The value of one key.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| self.0[i].1.value())
    }

    /// The answers as an owned map, moving what is already owned.
    pub fn into_answers(self) -> Answers {
        self.0
            .into_iter()
            .map(|(k, a)| (k.into_owned(), a.into_answer()))
            .collect()
    }

    /// The answers as an owned map.
    pub fn to_answers(&self) -> Answers {
        self.clone().into_answers()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ReadAnswers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = ReadAnswers<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of answers")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(Cow<'a, str>, ReadAnswer<'a>)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(0).clamp(128, 256));
                while let Some((ReadStr(k), v)) = map.next_entry::<ReadStr<'a>, ReadAnswer<'a>>()? {
                    entries.push((k, v));
                }
                // Payloads are written sorted: then this is one pass. Otherwise sort stably
                // and keep the last of equal keys.
                if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
                    entries.reverse();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    entries.dedup_by(|later, earlier| later.0 == earlier.0);
                }
                Ok(ReadAnswers(entries))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
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

    /// Answers read in place hold what serde's map reading of owned [`Answers`] holds, in
    /// any key order and with repeated keys (the last value wins in both), and refuse what
    /// it refuses with the same message. Strings without escapes are borrowed, not copied.
    #[test]
    fn read_answers_hold_what_owned_maps_hold() {
        for json in [
            r#"{"q1": 4, "q2": "yes", "q3": ["a", "b"], "q4": [], "q5": -3}"#,
            r#"{"q2": "b", "q1": 4, "q10": ["x"], "q1": 5}"#,
            r#"{"z": 1, "y": 2, "x": 3, "y": 9, "x": "last"}"#,
            r#"{"a": "1", "a": "2", "a": "3"}"#,
            r#"{"t": "with \"quotes\" and \u00e9\n", "k\u0031": ["\u0061", "b"]}"#,
            "{}",
        ] {
            let read: ReadAnswers<'_> = serde_json::from_str(json).unwrap();
            let owned: Answers = serde_json::from_str(json).unwrap();
            assert_eq!(read.to_answers(), owned, "{json}");
            assert_eq!(read.len(), owned.len(), "{json}");
            let keys: Vec<&str> = read.iter().map(|(k, _)| k).collect();
            let owned_keys: Vec<&str> = owned.keys().map(String::as_str).collect();
            assert_eq!(keys, owned_keys, "{json}");
            for (k, a) in &owned {
                assert_eq!(read.get(k), Some(a.value()), "{json} {k}");
            }
            assert_eq!(read.get("absent"), None);
        }
        for bad in [
            r#"{"q": 1.5}"#,
            r#"{"q": [1]}"#,
            r#"{"q": ["a", 2]}"#,
            r#"{"q": null}"#,
            r#"{"q": true}"#,
            r#"{"q": {}}"#,
            r#"{"q": 9223372036854775808}"#,
        ] {
            assert!(
                serde_json::from_str::<ReadAnswers<'_>>(bad).is_err(),
                "{bad}"
            );
            assert!(serde_json::from_str::<Answers>(bad).is_err(), "{bad}");
        }
        // The messages, as `Answer` gave them before it was read through `ReadAnswer` (one
        // visitor now, so comparing the two readings' messages would prove nothing).
        let any = "expected an integer, a string or an array of strings";
        for (bad, says) in [
            (r#"{"q": 1.5}"#, any),
            (r#"{"q": null}"#, any),
            (r#"{"q": true}"#, any),
            (r#"{"q": {}}"#, any),
            (
                r#"{"q": [1]}"#,
                "invalid type: integer `1`, expected a string",
            ),
            (
                r#"{"q": ["a", 2]}"#,
                "invalid type: integer `2`, expected a string",
            ),
            (
                r#"{"q": 9223372036854775808}"#,
                "expected an integer in i64",
            ),
        ] {
            let e = serde_json::from_str::<ReadAnswers<'_>>(bad).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
        for bad in ["[]", "3", "null"] {
            let e = serde_json::from_str::<ReadAnswers<'_>>(bad).unwrap_err();
            assert!(
                e.to_string().contains("expected an object of answers"),
                "{e}"
            );
        }
        let json = r#"{"q1": "plain", "q2": ["a", "b\u0063"], "q3": "esc\"aped"}"#;
        let read: ReadAnswers<'_> = serde_json::from_str(json).unwrap();
        let borrowed = |c: &Cow<'_, str>| matches!(c, Cow::Borrowed(_));
        assert!(read.0.iter().all(|(k, _)| borrowed(k)));
        match (&read.0[0].1, &read.0[1].1, &read.0[2].1) {
            (ReadAnswer::Text(a), ReadAnswer::List(l), ReadAnswer::Text(c)) => {
                assert!(borrowed(a) && borrowed(&l[0]) && !borrowed(c));
                assert_eq!((&*l[1], &**c), ("bc", "esc\"aped"));
            }
            other => panic!("{other:?}"),
        }
    }
}
