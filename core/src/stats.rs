//! Paired statistics for the report: Wilcoxon signed-rank with Pratt's zero handling and an
//! exact p-value, percentage agreement and Cohen's kappa.
//!
//! Pratt (1959): zero differences are ranked with the rest (so they shape the ranks of the
//! others) and then dropped from the statistic. The exact p-value enumerates every sign
//! assignment of the non-zero ranks (ties keep their mid-ranks), which is the permutation
//! distribution of W+ under the null; at evaluation sizes (tens of pairs) this is instant.

use serde::Serialize;

/// Result of a Wilcoxon signed-rank test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wilcoxon {
    /// Pairs with both values.
    pub n: usize,
    /// Pairs with a zero difference (ranked, then dropped).
    pub zeros: usize,
    /// Sum of ranks of positive differences (first minus second).
    pub w_plus: f64,
    /// Sum of ranks of negative differences.
    pub w_minus: f64,
    /// Exact two-sided p-value; 1 when every difference is zero.
    pub p_exact: f64,
}

/// Mid-ranks (1-based) of values, ties sharing the mean of their positions.
pub fn midranks(values: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Wilcoxon signed-rank test on paired values `(x, y)`, differences `x - y`.
pub fn wilcoxon_pratt(pairs: &[(f64, f64)]) -> Wilcoxon {
    let d: Vec<f64> = pairs.iter().map(|(x, y)| x - y).collect();
    let abs: Vec<f64> = d.iter().map(|v| v.abs()).collect();
    let ranks = midranks(&abs);
    let mut w_plus = 0.0;
    let mut w_minus = 0.0;
    let mut nonzero: Vec<u64> = Vec::new();
    for (di, r) in d.iter().zip(&ranks) {
        if *di > 0.0 {
            w_plus += r;
        } else if *di < 0.0 {
            w_minus += r;
        }
        if *di != 0.0 {
            nonzero.push((r * 2.0).round() as u64); // mid-ranks are multiples of 1/2
        }
    }
    let zeros = d.len() - nonzero.len();
    let p_exact = if nonzero.is_empty() {
        1.0
    } else {
        exact_two_sided(&nonzero, (w_plus * 2.0).round() as u64)
    };
    Wilcoxon {
        n: d.len(),
        zeros,
        w_plus,
        w_minus,
        p_exact,
    }
}

/// P(|S - E| >= |s_obs - E|) where S is the sum of a random subset of `ranks2` (each rank
/// in or out with probability 1/2), all values doubled to stay integral.
fn exact_two_sided(ranks2: &[u64], observed2: u64) -> f64 {
    let total: u64 = ranks2.iter().sum();
    // counts[s] = number of subsets with sum s, as f64 (2^n overflows u64 past n = 63).
    let mut counts = vec![0.0f64; total as usize + 1];
    counts[0] = 1.0;
    let mut reach = 0usize;
    for &r in ranks2 {
        let r = r as usize;
        for s in (0..=reach).rev() {
            if counts[s] > 0.0 {
                counts[s + r] += counts[s];
            }
        }
        reach += r;
    }
    let all: f64 = counts.iter().sum();
    // Compare doubled distances to the mean: |2s - total| >= |2*obs - total|.
    let dev = |s: u64| (2 * s as i128 - total as i128).abs();
    let obs = dev(observed2);
    let extreme: f64 = counts
        .iter()
        .enumerate()
        .filter(|(s, _)| dev(*s as u64) >= obs)
        .map(|(_, c)| c)
        .sum();
    (extreme / all).min(1.0)
}

/// Agreement between paired categorical answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Pairs with both answers.
    pub n: usize,
    /// Share of pairs giving the same answer, 0..1.
    pub observed: f64,
    /// Agreement expected by chance from the marginals.
    pub expected: f64,
    /// Cohen's kappa; `None` when chance agreement is 1 (kappa undefined).
    pub kappa: Option<f64>,
}

/// Percentage agreement and Cohen's kappa for paired labels.
pub fn cohen_kappa<T: PartialEq + Clone>(pairs: &[(T, T)]) -> Agreement {
    let n = pairs.len();
    if n == 0 {
        return Agreement {
            n,
            observed: 0.0,
            expected: 0.0,
            kappa: None,
        };
    }
    let mut cats: Vec<T> = Vec::new();
    for (a, b) in pairs {
        for v in [a, b] {
            if !cats.contains(v) {
                cats.push(v.clone());
            }
        }
    }
    let nf = n as f64;
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / nf;
    let expected: f64 = cats
        .iter()
        .map(|c| {
            let pa = pairs.iter().filter(|(a, _)| a == c).count() as f64 / nf;
            let pb = pairs.iter().filter(|(_, b)| b == c).count() as f64 / nf;
            pa * pb
        })
        .sum();
    let kappa = if (1.0 - expected).abs() < 1e-12 {
        None
    } else {
        Some((observed - expected) / (1.0 - expected))
    };
    Agreement {
        n,
        observed,
        expected,
        kappa,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn pratt_ranks_zeros_then_drops_them() {
        // d = [1, -2, 0, 3]: |d| ranks 2, 3, 1, 4; zero dropped -> W+ = 2 + 4, W- = 3.
        // Null: subsets of {2,3,4} give sums 0,2,3,4,5,6,7,9 (mean 4.5); |S-4.5| >= 1.5 for
        // 0,2,3,6,7,9: p = 6/8.
        let w = wilcoxon_pratt(&[(2.0, 1.0), (1.0, 3.0), (4.0, 4.0), (5.0, 2.0)]);
        assert_eq!((w.n, w.zeros), (4, 1));
        assert!(close(w.w_plus, 6.0) && close(w.w_minus, 3.0));
        assert!(close(w.p_exact, 0.75), "{}", w.p_exact);
    }

    #[test]
    fn ties_share_midranks_in_the_exact_distribution() {
        // d = [1, 1, -1, 2]: |d| ranks 2, 2, 2, 4. W+ = 2 + 2 + 4 = 8, W- = 2.
        // Null over signs of {2,2,2,4} (16 subsets, mean 5): |S-5| >= 3 when S in {0,2,8,10}:
        // S=0 once, S=2 three times, S=8 three times (2+2+4), S=10 once -> 8/16.
        let w = wilcoxon_pratt(&[(3.0, 2.0), (2.0, 1.0), (1.0, 2.0), (5.0, 3.0)]);
        assert!(close(w.w_plus, 8.0) && close(w.w_minus, 2.0));
        assert!(close(w.p_exact, 0.5), "{}", w.p_exact);
    }

    #[test]
    fn all_positive_small_sample() {
        // Five positive differences, distinct: p = 2 / 2^5 = 0.0625 (classic table value).
        let w = wilcoxon_pratt(&[(2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (8.0, 4.0), (10.0, 5.0)]);
        assert!(close(w.w_plus, 15.0));
        assert!(close(w.p_exact, 0.0625));
        let none = wilcoxon_pratt(&[(1.0, 1.0), (2.0, 2.0)]);
        assert!(close(none.p_exact, 1.0) && none.zeros == 2);
    }

    #[test]
    fn midranks_average_ties() {
        assert_eq!(midranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn kappa_matches_the_textbook_example() {
        // 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: p_o = 0.7, p_e = 0.5, kappa = 0.4.
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n(("y", "y"), 20));
        pairs.extend(std::iter::repeat_n(("y", "n"), 5));
        pairs.extend(std::iter::repeat_n(("n", "y"), 10));
        pairs.extend(std::iter::repeat_n(("n", "n"), 15));
        let a = cohen_kappa(&pairs);
        assert!(close(a.observed, 0.7) && close(a.expected, 0.5));
        assert!(close(a.kappa.unwrap(), 0.4));
        assert_eq!(cohen_kappa(&[("a", "a"), ("a", "a")]).kappa, None);
    }
}
