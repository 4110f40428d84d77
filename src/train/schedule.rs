//! Learning-rate schedules, per optimisation step.

/// How the learning rate changes over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Cosine annealing from the base rate to 0 over all steps
    /// (`lr · (1 + cos(π·step/steps)) / 2`, PyTorch's `CosineAnnealingLR`
    /// with `eta_min = 0`, stepped every batch).
    Cosine,
    /// The base rate divided by 10 after 50% and again after 75% of the steps.
    Step,
    /// The base rate throughout.
    Constant,
}

impl Schedule {
    /// The learning rate of step `step` (0-based) of `steps`.
    pub fn rate(self, base: f64, step: usize, steps: usize) -> f64 {
        let t = if steps == 0 {
            0.0
        } else {
            step.min(steps) as f64 / steps as f64
        };
        match self {
            Schedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
            Schedule::Step if t >= 0.75 => base * 0.01,
            Schedule::Step if t >= 0.5 => base * 0.1,
            Schedule::Step | Schedule::Constant => base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn cosine_starts_at_base_and_ends_at_zero() {
        assert_eq!(Schedule::Cosine.rate(0.1, 0, 100), 0.1);
        assert!((Schedule::Cosine.rate(0.1, 50, 100) - 0.05).abs() < 1e-12);
        assert!(Schedule::Cosine.rate(0.1, 100, 100).abs() < 1e-12);
        assert_eq!(Schedule::Step.rate(1.0, 49, 100), 1.0);
        assert_eq!(Schedule::Step.rate(1.0, 50, 100), 0.1);
        assert_eq!(Schedule::Step.rate(1.0, 80, 100), 0.01);
        assert_eq!(Schedule::Constant.rate(0.3, 99, 100), 0.3);
    }
}
