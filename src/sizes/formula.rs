//! The set of valid sizes of one dimension, and its formula.

use serde::Serialize;

/// The valid sizes of one spatial dimension of one input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DimSizes {
    /// Every size `n ≥ least` with `n mod period` in `residues`: proven for
    /// all sizes by the periodicity argument (see [`crate::sizes`]).
    Periodic {
        /// The least valid size.
        least: usize,
        /// The (smallest) period.
        period: usize,
        /// The valid residues modulo `period`, ascending.
        residues: Vec<usize>,
    },
    /// The valid sizes among `1..=checked_up_to`, found by compiling each:
    /// the model's structure depends on its sizes (`height(x)`, `width(x)`)
    /// or its joins combine paths that scale differently, so no formula is
    /// proven beyond the range.
    Checked {
        /// The valid sizes found.
        valid: Vec<usize>,
        /// The largest size tried.
        checked_up_to: usize,
    },
}

impl DimSizes {
    /// Builds the periodic form from the least valid size and the validity
    /// of `least .. least + period`, reducing the period to the smallest one
    /// that describes the same set.
    pub fn periodic(least: usize, period: usize, valid_in_first_period: &[bool]) -> DimSizes {
        let p = period.max(1);
        let member = |r: usize| valid_in_first_period[(r + p - least % p) % p];
        let mut best = p;
        for d in (1..p).filter(|d| p.is_multiple_of(*d)) {
            if (0..p).all(|r| member(r) == member((r + d) % p)) {
                best = d;
                break;
            }
        }
        let residues = (0..best).filter(|&r| member(r)).collect();
        DimSizes::Periodic {
            least,
            period: best,
            residues,
        }
    }

    /// Whether size `n` is valid.
    pub fn contains(&self, n: usize) -> bool {
        match self {
            DimSizes::Periodic {
                least,
                period,
                residues,
            } => n >= *least && residues.contains(&(n % (*period).max(1))),
            DimSizes::Checked { valid, .. } => valid.contains(&n),
        }
    }

    /// The nearest valid sizes below and above `n` (`n` itself if valid).
    pub fn nearest(&self, n: usize) -> (Option<usize>, Option<usize>) {
        if self.contains(n) {
            return (Some(n), Some(n));
        }
        match self {
            DimSizes::Periodic { period, least, .. } => {
                // Within one period on either side (or the least size).
                let below = (n.saturating_sub(*period)..n)
                    .rev()
                    .find(|&m| self.contains(m));
                let from = (n + 1).max(*least);
                let above = (from..=from.saturating_add(*period)).find(|&m| self.contains(m));
                (below, above)
            }
            DimSizes::Checked { valid, .. } => (
                valid.iter().rev().find(|&&m| m < n).copied(),
                valid.iter().find(|&&m| m > n).copied(),
            ),
        }
    }

    /// The formula for the dimension named `d` (`H`, `W`): `H ≥ 29`,
    /// `H = 32·k, k ≥ 1`, `H ≥ 10, H mod 4 ∈ {1, 2}`.
    pub fn formula(&self, d: &str) -> String {
        match self {
            DimSizes::Periodic {
                least,
                period,
                residues,
            } => {
                if residues.len() == *period {
                    format!("{d} ≥ {least}")
                } else if let [r] = residues.as_slice() {
                    let k0 = (least - r) / period;
                    match r {
                        0 => format!("{d} = {period}·k, k ≥ {k0}"),
                        r => format!("{d} = {period}·k + {r}, k ≥ {k0}"),
                    }
                } else {
                    let list: Vec<String> = residues.iter().map(usize::to_string).collect();
                    format!(
                        "{d} ≥ {least} with {d} mod {period} ∈ {{{}}}",
                        list.join(", ")
                    )
                }
            }
            DimSizes::Checked {
                valid,
                checked_up_to,
            } => {
                if valid.is_empty() {
                    format!("no {d} in 1..={checked_up_to}")
                } else {
                    let list: Vec<String> = valid.iter().take(8).map(usize::to_string).collect();
                    let more = if valid.len() > 8 { ", …" } else { "" };
                    format!(
                        "{d} ∈ {{{}{more}}} (checked 1..={checked_up_to}, not proven beyond)",
                        list.join(", ")
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DimSizes;

    #[test]
    fn formulas() {
        let all = DimSizes::periodic(29, 32, &[true; 32]);
        assert_eq!(all.formula("H"), "H ≥ 29");
        let mut one = [false; 32];
        one[0] = true; // 32, 64, ...
        let m = DimSizes::periodic(32, 32, &one);
        assert_eq!(m.formula("H"), "H = 32·k, k ≥ 1");
        assert!(m.contains(64) && !m.contains(63) && !m.contains(0));
        assert_eq!(m.nearest(50), (Some(32), Some(64)));
        let odd = DimSizes::periodic(3, 4, &[true, false, true, false]);
        assert_eq!(odd.formula("W"), "W = 2·k + 1, k ≥ 1");
        let two = DimSizes::periodic(5, 4, &[true, true, false, false]);
        assert_eq!(two.formula("W"), "W ≥ 5 with W mod 4 ∈ {1, 2}");
    }
}
