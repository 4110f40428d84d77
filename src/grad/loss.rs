//! Softmax and cross-entropy fused: the mean over the batch of
//! `−log softmax(z)[label]`, and its gradient `(softmax(z) − onehot) / N`
//! (PyTorch's `F.cross_entropy` with `reduction='mean'`).

use ndarray::{Array2, ArrayView2};

use super::error::GradError;
use super::real::Real;

/// Checks that `labels` are `batch` class indices below `classes`; each
/// error says how to fix the data.
pub fn validate_labels(
    labels: &[i64],
    batch: usize,
    classes: usize,
) -> Result<Vec<usize>, GradError> {
    if labels.len() != batch {
        return Err(GradError::Labels(format!(
            "{} labels for a batch of {batch} samples: give exactly one class index per sample (an N-element int64 or int32 array)",
            labels.len()
        )));
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            usize::try_from(l).ok().filter(|&l| l < classes).ok_or_else(|| {
                GradError::Labels(format!(
                    "label {l} of sample {i} is not a class index of this model's {classes} classes: labels must be in 0..={}",
                    classes.saturating_sub(1)
                ))
            })
        })
        .collect()
}

/// The mean cross-entropy of `logits` (`[N, classes]`) against `labels`
/// (already validated), and its gradient with respect to the logits.
pub fn cross_entropy<T: Real>(logits: ArrayView2<'_, T>, labels: &[usize]) -> (T, Array2<T>) {
    let (n, _) = logits.dim();
    let count = T::from_f64(n as f64);
    let mut grad = Array2::<T>::zeros(logits.raw_dim());
    let mut total = T::zero();
    for ((row, mut g), &label) in logits.outer_iter().zip(grad.outer_iter_mut()).zip(labels) {
        let max = row.fold(row[0], |m, &v| if v > m { v } else { m });
        let sum = row.fold(T::zero(), |a, &v| a + (v - max).exp());
        total += sum.ln() + max - row[label];
        for (gi, &v) in g.iter_mut().zip(row.iter()) {
            *gi = (v - max).exp() / sum / count;
        }
        g[label] -= T::one() / count;
    }
    (total / count, grad)
}
