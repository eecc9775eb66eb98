//! Linking partners by pair code.
//!
//! Both partners of a pair enter the same code. Grouping accepted, non-withdrawn responses by
//! code gives one group per pair, classified as a complete pair, a singleton or a conflict,
//! each with the reason in words. Codes never leave this module's output except inside the
//! store: reports use pseudonymous pair ids.

use crate::survey::Side;
use std::collections::BTreeMap;

/// How a group of responses sharing a code was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class<K> {
    /// One respondent on side A and one on side B.
    Complete {
        /// The side-A respondent.
        a: K,
        /// The side-B respondent.
        b: K,
        /// Both said "either": which is A is arbitrary (flagged in reports).
        arbitrary_order: bool,
    },
    /// Only one respondent used the code.
    Singleton(K),
    /// More than two respondents, or two on the same side.
    Conflict(Vec<K>),
}

impl<K> Class<K> {
    /// `complete`, `singleton` or `conflict`, as written in exports.
    pub fn name(&self) -> &'static str {
        match self {
            Class::Complete { .. } => "complete",
            Class::Singleton(_) => "singleton",
            Class::Conflict(_) => "conflict",
        }
    }
}

/// One code's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<K> {
    /// The pair code (stays in the store).
    pub code: String,
    /// The classification.
    pub class: Class<K>,
    /// Why, in words, without the code.
    pub reason: String,
    /// The code is not in the study's allocated list (only when a list is given).
    pub unallocated: bool,
}

/// Groups respondents `(code, key, side)` by code and classifies each group. Groups come out
/// in code order; within a group, keys are ordered, so the result is deterministic.
pub fn link<K: Clone + Ord>(
    respondents: impl IntoIterator<Item = (String, K, Side)>,
    allocated: Option<&[String]>,
) -> Vec<Group<K>> {
    let mut by_code: BTreeMap<String, Vec<(K, Side)>> = BTreeMap::new();
    for (code, key, side) in respondents {
        by_code.entry(code).or_default().push((key, side));
    }
    by_code
        .into_iter()
        .map(|(code, mut members)| {
            members.sort_by(|x, y| x.0.cmp(&y.0));
            let (class, reason) = classify(members);
            let unallocated = allocated.is_some_and(|list| !list.contains(&code));
            Group {
                code,
                class,
                reason,
                unallocated,
            }
        })
        .collect()
}

fn classify<K: Clone>(members: Vec<(K, Side)>) -> (Class<K>, String) {
    use Side::*;
    match members.as_slice() {
        [(k, s)] => (
            Class::Singleton(k.clone()),
            format!("only one respondent (side {}) used this code", s.label()),
        ),
        [(k1, s1), (k2, s2)] => {
            let complete = |a: &K, b: &K, arbitrary: bool, why: &str| {
                (
                    Class::Complete {
                        a: a.clone(),
                        b: b.clone(),
                        arbitrary_order: arbitrary,
                    },
                    why.to_string(),
                )
            };
            match (s1, s2) {
                (A, B) => complete(k1, k2, false, "one respondent on each side"),
                (B, A) => complete(k2, k1, false, "one respondent on each side"),
                (A, Either) => complete(
                    k1,
                    k2,
                    false,
                    "side A, and an \"either\" respondent taking side B",
                ),
                (Either, A) => complete(
                    k2,
                    k1,
                    false,
                    "side A, and an \"either\" respondent taking side B",
                ),
                (B, Either) => complete(
                    k2,
                    k1,
                    false,
                    "side B, and an \"either\" respondent taking side A",
                ),
                (Either, B) => complete(
                    k1,
                    k2,
                    false,
                    "side B, and an \"either\" respondent taking side A",
                ),
                (Either, Either) => complete(
                    k1,
                    k2,
                    true,
                    "two \"either\" respondents: which one is side A is arbitrary",
                ),
                (A, A) | (B, B) => (
                    Class::Conflict(vec![k1.clone(), k2.clone()]),
                    format!("two respondents both on side {}", s1.label()),
                ),
            }
        }
        many => (
            Class::Conflict(many.iter().map(|(k, _)| k.clone()).collect()),
            format!("{} respondents used this code; a pair has two", many.len()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(items: &[(&str, u32, Side)]) -> Vec<Group<u32>> {
        link(items.iter().map(|(c, k, s)| (c.to_string(), *k, *s)), None)
    }

    #[test]
    fn classifies_every_shape() {
        use Side::*;
        let groups = g(&[
            ("A", 1, B),
            ("A", 2, A),
            ("B", 3, Either),
            ("B", 4, A),
            ("C", 5, Either),
            ("C", 6, Either),
            ("D", 7, A),
            ("E", 8, A),
            ("E", 9, A),
            ("F", 10, A),
            ("F", 11, B),
            ("F", 12, Either),
        ]);
        let classes: Vec<_> = groups.iter().map(|g| g.class.clone()).collect();
        assert_eq!(
            classes,
            vec![
                Class::Complete {
                    a: 2,
                    b: 1,
                    arbitrary_order: false
                },
                Class::Complete {
                    a: 4,
                    b: 3,
                    arbitrary_order: false
                },
                Class::Complete {
                    a: 5,
                    b: 6,
                    arbitrary_order: true
                },
                Class::Singleton(7),
                Class::Conflict(vec![8, 9]),
                Class::Conflict(vec![10, 11, 12]),
            ]
        );
    }

    #[test]
    fn flags_unallocated_codes() {
        let allocated = vec!["A".to_string()];
        let groups = link(
            [("A".to_string(), 1, Side::A), ("Z".to_string(), 2, Side::B)],
            Some(&allocated),
        );
        assert!(!groups[0].unallocated);
        assert!(groups[1].unallocated);
    }
}
