//! Disclosure risk of an export, measured on the declared quasi-identifiers.
//!
//! A quasi-identifier is an answer an intruder might know from elsewhere (role, length of
//! service, band, clinical or not, division). Records sharing the same combination form an
//! equivalence class; a record in a class of size `n` has re-identification risk `1/n`.
//! A pair is exposed if either member is: `1 - (1 - r1)(1 - r2)`.

use serde::Serialize;
use std::collections::BTreeMap;

/// Disclosure figures of one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Records assessed.
    pub records: usize,
    /// Number of distinct combinations.
    pub classes: usize,
    /// Size of each class, smallest first (values are not printed, only sizes).
    pub class_sizes: Vec<usize>,
    /// Records in classes smaller than 3.
    pub records_below_k3: usize,
    /// Records in classes smaller than 5.
    pub records_below_k5: usize,
    /// Size of the smallest class (0 when there are no records).
    pub smallest_class: usize,
    /// Largest per-record risk, 1 / class size.
    pub max_risk: f64,
    /// Mean per-record risk.
    pub mean_risk: f64,
}

/// Assesses records given as their quasi-identifier tuples.
pub fn assess(records: &[Vec<String>]) -> Assessment {
    let mut numbers: BTreeMap<&[String], usize> = BTreeMap::new();
    let ids: Vec<usize> = records
        .iter()
        .map(|r| {
            let n = numbers.len();
            *numbers.entry(r.as_slice()).or_insert(n)
        })
        .collect();
    assess_classes(&ids).0
}

/// [`assess`], with the class size of each record, for records already numbered by class (equal
/// numbers exactly when the tuples are equal), as an export numbers a million rows: counts
/// kept in an array by number, not in a map of tuples.
pub fn assess_classes(ids: &[usize]) -> (Assessment, Vec<usize>) {
    let mut counts = vec![0usize; ids.iter().max().map_or(0, |m| m + 1)];
    for &i in ids {
        counts[i] += 1;
    }
    let sizes: Vec<usize> = ids.iter().map(|&i| counts[i]).collect();
    let mut class_sizes: Vec<usize> = counts.into_iter().filter(|&n| n > 0).collect();
    class_sizes.sort_unstable();
    let risks = || sizes.iter().map(|&n| 1.0 / n as f64);
    let assessment = Assessment {
        records: ids.len(),
        classes: class_sizes.len(),
        records_below_k3: sizes.iter().filter(|&&n| n < 3).count(),
        records_below_k5: sizes.iter().filter(|&&n| n < 5).count(),
        smallest_class: class_sizes.first().copied().unwrap_or(0),
        max_risk: risks().fold(0.0, f64::max),
        mean_risk: if sizes.is_empty() {
            0.0
        } else {
            risks().sum::<f64>() / sizes.len() as f64
        },
        class_sizes,
    };
    (assessment, sizes)
}

/// Risk that a pair is re-identified through either member.
pub fn pair_risk(r1: f64, r2: f64) -> f64 {
    1.0 - (1.0 - r1) * (1.0 - r2)
}

/// Pair-risk figures over complete pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairRisk {
    /// Pairs assessed.
    pub pairs: usize,
    /// Largest pair risk.
    pub max: f64,
    /// Mean pair risk.
    pub mean: f64,
}

/// Pair risks from each pair's two member risks.
pub fn pair_risks(pairs: &[(f64, f64)]) -> PairRisk {
    let r: Vec<f64> = pairs.iter().map(|(a, b)| pair_risk(*a, *b)).collect();
    PairRisk {
        pairs: r.len(),
        max: r.iter().copied().fold(0.0, f64::max),
        mean: if r.is_empty() {
            0.0
        } else {
            r.iter().sum::<f64>() / r.len() as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class size of each record's tuple, counted in a map of tuples: the oracle of
    /// [`assess_classes`]' sizes.
    fn class_sizes(records: &[Vec<String>]) -> Vec<usize> {
        let mut counts: BTreeMap<&[String], usize> = BTreeMap::new();
        for r in records {
            *counts.entry(r.as_slice()).or_insert(0) += 1;
        }
        records.iter().map(|r| counts[r.as_slice()]).collect()
    }

    fn recs(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn figures_match_hand_computation() {
        // Classes: (bme,lt3) x3, (bme,9plus) x1, (sl,9plus) x2.
        let r = recs(&[
            &["bme", "lt3"],
            &["bme", "lt3"],
            &["bme", "lt3"],
            &["bme", "9plus"],
            &["sl", "9plus"],
            &["sl", "9plus"],
        ]);
        let a = assess(&r);
        assert_eq!(a.records, 6);
        assert_eq!(a.classes, 3);
        assert_eq!(a.class_sizes, vec![1, 2, 3]);
        assert_eq!(a.records_below_k3, 3);
        assert_eq!(a.records_below_k5, 6);
        assert_eq!(a.smallest_class, 1);
        assert!((a.max_risk - 1.0).abs() < 1e-12);
        // (3 * 1/3 + 1 + 2 * 1/2) / 6 = 3 / 6
        assert!((a.mean_risk - 0.5).abs() < 1e-12);
        assert!((pair_risk(0.5, 1.0 / 3.0) - (1.0 - 0.5 * (2.0 / 3.0))).abs() < 1e-12);
        let p = pair_risks(&[(0.5, 0.5), (1.0, 0.0)]);
        assert!((p.max - 1.0).abs() < 1e-12 && (p.mean - 0.875).abs() < 1e-12);
    }

    /// Numbered classes give the figures and sizes that tuples give, whatever the numbers
    /// (not in order of appearance, with gaps), and nothing for no records.
    #[test]
    fn numbered_classes_agree_with_tuples() {
        let r = recs(&[
            &["a", "1"],
            &["b", "1"],
            &["a", "1"],
            &["a", ""],
            &["b", "1"],
            &["a", "1"],
        ]);
        let (a, sizes) = assess_classes(&[7, 3, 7, 0, 3, 7]);
        assert_eq!(a, assess(&r));
        assert_eq!(sizes, class_sizes(&r));
        assert_eq!(sizes, vec![3, 2, 3, 1, 2, 3]);
        assert_eq!(
            (a.classes, a.class_sizes.clone(), a.smallest_class),
            (3, vec![1, 2, 3], 1)
        );
        assert_eq!((a.records_below_k3, a.records_below_k5), (3, 6));
        assert!((a.mean_risk - (3.0 / 3.0 + 2.0 / 2.0 + 1.0) / 6.0).abs() < 1e-12);
        let (none, sizes) = assess_classes(&[]);
        assert!(sizes.is_empty());
        assert_eq!(
            (
                none.records,
                none.classes,
                none.smallest_class,
                none.mean_risk
            ),
            (0, 0, 0, 0.0)
        );
    }
}
