//! Memory the interpreter needs, checked before it is allocated.
//!
//! A valid model can need more memory than any machine has (`dense(2^40)`:
//! 4 TiB of weights). Before the weights or a batch's activations are
//! allocated, [`check`] compares their size with the machine's memory (RAM
//! plus swap, where the system says it) and asks the allocator for the
//! address space (a reservation that touches no page); the tensors
//! themselves are then allocated with `try_reserve`. A model that cannot
//! fit is an [`OutOfMemory`] error naming the size and the layer that
//! dominates it, never an abort.

use super::RunError;
use crate::ir::CheckedModel;

/// Memory a model needs that this machine cannot give.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot allocate {what} of model `{model}`: {} ({} f32 values){}; the largest part is layer `{largest}` ({})\n  help: make `{largest}` smaller (fewer channels or features), or the batch smaller",
    gib(*bytes),
    bytes / 4,
    limit.map(|l| format!(", more than this machine's {} of memory", gib(l.into()))).unwrap_or_default(),
    gib((*largest_bytes).into())
)]
pub struct OutOfMemory {
    /// The model.
    pub model: String,
    /// What does not fit: `the weights`, `the activations of a batch of 8`.
    pub what: String,
    /// Its size in bytes.
    pub bytes: u128,
    /// The layer that dominates it.
    pub largest: String,
    /// That layer's share, in bytes (saturated at `u64::MAX`: at most
    /// 2^42 × a batch of 2^16 in practice).
    pub largest_bytes: u64,
    /// The machine's memory (RAM + swap) in bytes, when the system reports it.
    pub limit: Option<u64>,
}

/// `bytes` in GiB with two decimals (`4096.00 GiB`).
pub fn gib(bytes: u128) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// RAM plus swap in bytes (Linux: `/proc/meminfo`), `None` where unknown.
fn machine_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kib.checked_mul(1024)
    };
    Some(field("MemTotal:")?.saturating_add(field("SwapTotal:").unwrap_or(0)))
}

/// Whether `bytes` can be allocated now: at most the machine's memory, and
/// an allocation of that size is granted (then freed untouched).
fn can_allocate(bytes: u128, limit: Option<u64>) -> bool {
    if limit.is_some_and(|l| bytes > l.into()) {
        return false;
    }
    let Ok(bytes) = usize::try_from(bytes) else {
        return false;
    };
    Vec::<u8>::new().try_reserve_exact(bytes).is_ok()
}

/// Checks that `values` f32s, of which layer `largest` holds `largest_values`,
/// can be allocated.
pub(crate) fn check(
    model: &CheckedModel,
    what: String,
    values: u128,
    largest: &str,
    largest_values: u128,
) -> Result<(), OutOfMemory> {
    let limit = machine_memory();
    if can_allocate(values.saturating_mul(4), limit) {
        return Ok(());
    }
    Err(error(model, what, values, largest, largest_values, limit))
}

/// The error for `values` f32s that could not be allocated.
pub(crate) fn error(
    model: &CheckedModel,
    what: String,
    values: u128,
    largest: &str,
    largest_values: u128,
    limit: Option<u64>,
) -> OutOfMemory {
    OutOfMemory {
        model: model.graph().name.clone(),
        what,
        bytes: values.saturating_mul(4),
        largest: largest.to_string(),
        largest_bytes: u64::try_from(largest_values.saturating_mul(4)).unwrap_or(u64::MAX),
        limit,
    }
}

/// Checks that the model's weights can be allocated.
pub fn check_weights(model: &CheckedModel) -> Result<(), OutOfMemory> {
    check_weight_copies(model, 1, "the weights")
}

/// Checks that `copies` times the model's weights can be allocated (`init`
/// holds them and their safetensors encoding, `what`, at once).
pub fn check_weight_copies(
    model: &CheckedModel,
    copies: u32,
    what: &str,
) -> Result<(), OutOfMemory> {
    let costs = model.costs();
    let (largest, largest_values) = match costs.largest_layer() {
        Some((id, n)) => (model.graph().node(id).name.as_str(), n),
        None => return Ok(()),
    };
    let copies = u128::from(copies);
    check(
        model,
        what.into(),
        u128::from(costs.total_params) * copies,
        largest,
        u128::from(largest_values) * copies,
    )
}

/// The `f32` values the interpreter allocates for a pass on `batch`
/// samples: the slots of its plan ([`crate::lower`], every block instance
/// inlined) and the outputs. (The convolutions' scratch, which depends on
/// the kernels chosen at load time and on the thread count, is allocated
/// with the slots, fallibly: a workspace that does not fit is an
/// [`OutOfMemory`] error then.) A plan that cannot be made is an internal
/// error ([`RunError::Internal`]).
pub fn pass_values(model: &CheckedModel, batch: usize) -> Result<u128, RunError> {
    let g = model.graph();
    let costs = model.costs();
    let plan = crate::lower::plans::inlined(g).map_err(|e| {
        RunError::Internal(format!("in the plan of model `{}`: {}", g.name, e.message))
    })?;
    let outputs: u128 = g
        .outputs
        .iter()
        .map(|o| u128::from(costs.nodes[o.node.0 as usize].output_elements))
        .sum();
    Ok((plan.own_workspace() as u128 + outputs) * batch as u128)
}

/// Checks that a forward pass on `batch` samples can allocate what the
/// interpreter allocates for it ([`pass_values`]) and the `inputs` values
/// the caller makes.
pub fn check_activations(model: &CheckedModel, batch: usize, inputs: u128) -> Result<(), RunError> {
    let g = model.graph();
    let costs = model.costs();
    let values = pass_values(model, batch)? + inputs;
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
        format!("the activations and inputs of a batch of {batch}"),
        values,
        &g.nodes[i].name,
        u128::from(widest.output_elements) * batch as u128,
    )?;
    Ok(())
}

/// A vector of `n` values from `f`, allocated with `try_reserve`.
pub(crate) fn try_filled(
    n: usize,
    f: impl FnMut() -> f32,
) -> Result<Vec<f32>, std::collections::TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)?;
    v.extend(std::iter::repeat_with(f).take(n));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::{can_allocate, gib};

    #[test]
    fn sizes_beyond_the_machine_are_refused() {
        assert!(can_allocate(1 << 20, None));
        assert!(!can_allocate(1 << 20, Some(1 << 19)));
        assert!(!can_allocate(u128::from(u64::MAX) + 1, None));
        assert_eq!(gib(1 << 42), "4096.00 GiB");
    }
}
