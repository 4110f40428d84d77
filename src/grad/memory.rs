//! Memory a training-mode step needs, checked before it is allocated (the
//! interpreter's check, `interp::memory`, with training's sizes).

use crate::interp::memory::{OutOfMemory, check, check_weight_copies};
use crate::ir::CheckedModel;

/// Checks that a training step on `batch` samples can allocate what it
/// holds at once: the weights three times (as loaded, in the step's float
/// type, and their gradients), and three values per element of every
/// node's output (the tape keeps every value; batch norm keeps its
/// normalised input; the reverse pass holds gradients), in f32.
pub fn check_training_memory(model: &CheckedModel, batch: usize) -> Result<(), OutOfMemory> {
    check_weight_copies(
        model,
        3,
        "the weights, their training copy and their gradients",
    )?;
    let g = model.graph();
    let costs = model.costs();
    let batch = batch as u128;
    let total: u128 = costs
        .nodes
        .iter()
        .map(|n| u128::from(n.output_elements))
        .sum();
    let Some((i, widest)) = costs
        .nodes
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.output_elements.cmp(&b.output_elements).then(j.cmp(i)))
    else {
        return Ok(());
    };
    check(
        model,
        format!("the training-mode values and gradients of a batch of {batch}"),
        total.saturating_mul(3).saturating_mul(batch),
        &g.nodes[i].name,
        u128::from(widest.output_elements)
            .saturating_mul(3)
            .saturating_mul(batch),
    )
}
