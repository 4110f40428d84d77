//! Buffer planning for one body: where every value lives.
//!
//! Generated code computes into buffers planned here once, at compile time,
//! so a forward pass allocates nothing. Each value lives in one of:
//!
//! - a parameter (the body's input views, read-only);
//! - an output (the caller's `out` view: the value is computed in place there);
//! - a slot of the body's workspace, a flat `Vec<f32>` of `batch × len`
//!   elements. Values whose lifetimes do not overlap share a slot.
//!
//! Values that need no buffer of their own share their input's: identity and
//! dropout, flatten of a computed value (a reshape), element-wise layers
//! (activation, add) whose input dies there (computed in place), and a
//! convolution with a fused residual add whose skip dies there (the kernel
//! adds its result to the skip in place).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::blocks::{Body, Item};
use crate::ir::{Graph, Op};

/// Slot lengths are multiples of this many `f32` (64 bytes: a cache line,
/// one AVX-512 register).
pub(crate) const SLOT_ALIGN: usize = 16;

/// What one step computes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StepKind {
    /// A layer: the chain of fused nodes (see [`Item::Layer`]).
    Layer(Vec<usize>),
    /// A value that is its input under another name or shape (no code).
    Alias(Vec<usize>),
    /// A nested block instance.
    Child(usize),
    /// Identical chained instances called in a loop.
    Loop(Vec<usize>),
}

/// One statement of `forward_into`.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    /// What it computes.
    pub kind: StepKind,
    /// The values it reads, in argument order.
    pub reads: Vec<usize>,
    /// The values it defines.
    pub defs: Vec<usize>,
    /// For an element-wise layer computed in place: the read value it overwrites.
    pub in_place: Option<usize>,
    /// Slots used only during this step (a loop's intermediate buffers).
    pub temps: Vec<usize>,
}

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Storage {
    /// The body's `k`-th input view.
    Param(usize),
    /// The body's `k`-th output view.
    Out(usize),
    /// Slot `s` of the body's workspace.
    Slot(usize),
}

/// The buffer plan of one body.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The statements, in order.
    pub steps: Vec<Step>,
    /// For each parameter and each value a step defines, the value whose
    /// buffer it uses (itself if it owns one).
    root: HashMap<usize, usize>,
    /// Where each buffer-owning value lives.
    storage: HashMap<usize, Storage>,
    /// The length of each slot, in `f32` elements per sample.
    pub slots: Vec<usize>,
    /// Outputs that are not computed in their output view: `(output index,
    /// value)`, copied there at the end.
    pub copies: Vec<(usize, usize)>,
}

impl Plan {
    /// Where value `v` lives. A value the plan never placed is a bug in the
    /// planner (the error says which value); [`Plan::new`] has checked that
    /// every value a step reads or defines, and every copied output, has a place.
    pub(crate) fn storage(&self, v: usize) -> Result<Storage, String> {
        let r = self.root_of(v)?;
        self.storage
            .get(&r)
            .copied()
            .ok_or_else(|| format!("value {v} (buffer of value {r}) has no storage"))
    }

    /// The slots' total length, in `f32` per sample: the workspace this body
    /// needs for its own values (the blocks it calls need theirs besides).
    pub(crate) fn own_workspace(&self) -> usize {
        self.slots.iter().sum()
    }

    /// Checks the plan's invariant that the back ends rely on: every value a
    /// step reads or defines, and every copied output, has a place (a
    /// parameter, an output view or a slot). A violation is a bug in the
    /// planner, reported as such.
    pub(crate) fn validate(&self, g: &Graph) -> Result<(), String> {
        let copied = self.copies.iter().map(|&(_, v)| v);
        for (i, step) in self.steps.iter().enumerate() {
            for &v in step.reads.iter().chain(&step.defs) {
                self.placed(g, v, &format!("step {i}"))?;
            }
        }
        for v in copied {
            self.placed(g, v, "an output copy")?;
        }
        Ok(())
    }

    /// `Ok` if value `v` has a place; else an error naming `user` and `v`.
    fn placed(&self, g: &Graph, v: usize, user: &str) -> Result<(), String> {
        let found = self
            .root
            .get(&v)
            .is_some_and(|r| self.storage.contains_key(r));
        if found {
            return Ok(());
        }
        let name = g.nodes.get(v).map_or("?", |n| n.name.as_str());
        Err(format!(
            "{user} uses value `{name}` (node {v}), which the buffer plan never placed"
        ))
    }

    /// Plans `body`, whose external inputs are `params` (node ids, in order);
    /// `bodies` are the bodies of the instances it calls (by instance index).
    /// The plan is checked ([`Plan::validate`]) before it is returned.
    pub(crate) fn new(
        g: &Graph,
        bodies: &[Body],
        body: &Body,
        params: &[usize],
    ) -> Result<Plan, String> {
        let steps = steps(g, bodies, body, params)?;
        let outputs = &body.outputs;
        // The last step reading each value; outputs live to the end.
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            for &d in &s.defs {
                last_use.entry(d).or_insert(i);
            }
            for &r in &s.reads {
                last_use.insert(r, i);
            }
        }
        for &o in outputs {
            last_use.insert(o, usize::MAX);
        }
        let mut plan = Plan {
            steps,
            root: HashMap::new(),
            storage: HashMap::new(),
            slots: Vec::new(),
            copies: Vec::new(),
        };
        for (k, &p) in params.iter().enumerate() {
            plan.root.insert(p, p);
            plan.storage.insert(p, Storage::Param(k));
        }
        plan.share_buffers(g, &last_use)?;
        // Outputs are computed in the caller's views where they own a buffer.
        for (k, &o) in outputs.iter().enumerate() {
            let r = plan.root_of(o)?;
            match plan.storage.entry(r) {
                Entry::Occupied(_) => plan.copies.push((k, o)),
                Entry::Vacant(e) => {
                    e.insert(Storage::Out(k));
                }
            }
        }
        plan.assign_slots(g, &last_use)?;
        // Every slot starts on a 64-byte boundary, whatever the batch.
        for len in &mut plan.slots {
            *len = len.next_multiple_of(SLOT_ALIGN);
        }
        plan.validate(g)?;
        Ok(plan)
    }

    /// The value whose buffer `v` uses (`v` itself if it owns one); an error
    /// if `v` is neither a parameter nor defined by a step.
    pub(crate) fn root_of(&self, v: usize) -> Result<usize, String> {
        self.root
            .get(&v)
            .copied()
            .ok_or_else(|| format!("value {v} is read before any step defines it"))
    }

    /// Decides which values use their input's buffer.
    fn share_buffers(&mut self, g: &Graph, last_use: &HashMap<usize, usize>) -> Result<(), String> {
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        let is_param = |p: &Plan, r: usize| matches!(p.storage.get(&r), Some(Storage::Param(_)));
        for i in 0..self.steps.len() {
            let step = &self.steps[i];
            let shared = match &step.kind {
                StepKind::Alias(_) => step.reads.first().copied(),
                StepKind::Layer(chain) => {
                    let candidates: &[usize] = match (&g.nodes[chain[0]].op, step.reads.len()) {
                        (Op::Activation(_), 1) => &[0],
                        // The sum keeps the interpreter's order of operations.
                        (Op::Add, 2) => &[0, 1],
                        (Op::Add, _) => &[0],
                        // A residual fused into a convolution: its output
                        // overwrites the skip (`[input, skip]`).
                        (Op::Conv(_), 2) => &[1],
                        _ => &[],
                    };
                    let roots = step
                        .reads
                        .iter()
                        .map(|&x| self.root_of(x))
                        .collect::<Result<Vec<_>, _>>()?;
                    candidates
                        .iter()
                        .find(|&&k| {
                            let r = roots[k];
                            let alone = roots.iter().filter(|&&x| x == r).count();
                            let dies = members.get(&r).is_some_and(|ms| {
                                ms.iter().all(|m| last_use.get(m).is_some_and(|&l| l <= i))
                            });
                            !is_param(self, r) && alone == 1 && dies
                        })
                        .map(|&k| step.reads[k])
                }
                StepKind::Child(_) | StepKind::Loop(_) => None,
            };
            let defs = step.defs.clone();
            if let Some(u) = shared {
                let r = self.root_of(u)?;
                if matches!(step.kind, StepKind::Layer(_)) {
                    self.steps[i].in_place = Some(u);
                }
                for d in defs {
                    self.root.insert(d, r);
                    members.entry(r).or_default().push(d);
                }
            } else {
                for d in defs {
                    self.root.insert(d, d);
                    members.entry(d).or_default().push(d);
                }
            }
        }
        Ok(())
    }

    /// Packs the remaining buffers and the loops' scratch into slots.
    fn assign_slots(&mut self, g: &Graph, last_use: &HashMap<usize, usize>) -> Result<(), String> {
        // The step after which each buffer is free again (parameters are
        // not the plan's to free).
        let mut end: HashMap<usize, usize> = HashMap::new();
        for (&v, &r) in &self.root {
            if matches!(self.storage.get(&r), Some(Storage::Param(_))) {
                continue;
            }
            let l = last_use
                .get(&v)
                .copied()
                .ok_or_else(|| format!("value {v} is defined but never used or planned"))?;
            let e = end.entry(r).or_insert(0);
            *e = (*e).max(l);
        }
        let mut busy_until: Vec<usize> = Vec::new();
        for i in 0..self.steps.len() {
            let mut wanted: Vec<(Option<usize>, usize, usize)> = Vec::new();
            for &d in &self.steps[i].defs {
                if self.root_of(d)? == d && !self.storage.contains_key(&d) {
                    let e = end
                        .get(&d)
                        .copied()
                        .ok_or_else(|| format!("value {d} has no lifetime"))?;
                    wanted.push((Some(d), g.nodes[d].shape.elements(), e));
                }
            }
            if let StepKind::Loop(insts) = &self.steps[i].kind {
                let &d = self.steps[i]
                    .defs
                    .first()
                    .ok_or_else(|| format!("the loop of step {i} defines no value"))?;
                let len = g.nodes[d].shape.elements();
                let temps = if insts.len() > 2 { 2 } else { 1 };
                for _ in 0..temps {
                    wanted.push((None, len, i));
                }
            }
            for (value, len, until) in wanted {
                let s = pick_slot(&mut self.slots, &busy_until, i, len);
                if s == busy_until.len() {
                    busy_until.push(until);
                } else {
                    busy_until[s] = until;
                }
                match value {
                    Some(v) => {
                        self.storage.insert(v, Storage::Slot(s));
                    }
                    None => self.steps[i].temps.push(s),
                }
            }
        }
        Ok(())
    }
}

/// A slot free at step `i` for `len` elements: the smallest free one that
/// is large enough, else the largest free one (grown), else a new one.
fn pick_slot(slots: &mut Vec<usize>, busy_until: &[usize], i: usize, len: usize) -> usize {
    let free = || (0..slots.len()).filter(|&s| busy_until[s] < i);
    let fit = free()
        .filter(|&s| slots[s] >= len)
        .min_by_key(|&s| (slots[s], s));
    if let Some(s) = fit {
        return s;
    }
    if let Some(s) = free().max_by_key(|&s| (slots[s], std::cmp::Reverse(s))) {
        slots[s] = len;
        return s;
    }
    slots.push(len);
    slots.len() - 1
}

/// The statements of `body` with what each reads and defines.
fn steps(g: &Graph, bodies: &[Body], body: &Body, params: &[usize]) -> Result<Vec<Step>, String> {
    let local = |x: usize| !params.contains(&x);
    // The value an alias (identity, dropout, a reshape) stands for, through
    // chains of aliases: `x -> dropout -> flatten` reshapes `x` itself.
    let mut origin: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for item in &body.items {
        let (kind, reads, defs) = match item {
            Item::Layer(chain) => {
                let head = chain[0];
                let last = chain[chain.len() - 1];
                // The head's inputs, then a fused residual's skip.
                let reads: Vec<usize> = crate::lower::fusion::Layer::of_chain(g, chain)?
                    .reads(g)
                    .map(|x| x.0 as usize)
                    .collect();
                let source = reads.first().map(|x| origin.get(x).copied().unwrap_or(*x));
                let alias = match g.nodes[head].op {
                    Op::Input => continue,
                    Op::Identity | Op::Dropout { .. } => true,
                    // A parameter is a view of the caller's rank: it is not
                    // reshaped in place.
                    Op::Flatten => source.is_some_and(local),
                    _ => false,
                };
                if alias && let Some(source) = source {
                    origin.insert(last, source);
                }
                let kind = if alias {
                    StepKind::Alias(chain.clone())
                } else {
                    StepKind::Layer(chain.clone())
                };
                (kind, reads, vec![last])
            }
            Item::Child(c) => {
                let b = body_of(bodies, *c)?;
                (StepKind::Child(*c), b.inputs.clone(), b.outputs.clone())
            }
            Item::Loop(cs) => {
                let (Some(&first), Some(&last)) = (cs.first(), cs.last()) else {
                    return Err("a loop of no instances".into());
                };
                let (first, last) = (body_of(bodies, first)?, body_of(bodies, last)?);
                (
                    StepKind::Loop(cs.clone()),
                    first.inputs.clone(),
                    last.outputs.clone(),
                )
            }
        };
        out.push(Step {
            kind,
            reads,
            defs,
            in_place: None,
            temps: Vec::new(),
        });
    }
    Ok(out)
}

/// The body of instance `c`.
fn body_of(bodies: &[Body], c: usize) -> Result<&Body, String> {
    bodies
        .get(c)
        .ok_or_else(|| format!("instance {c} is called but has no body"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::blocks::Structure;
    use crate::{CheckOptions, compile_file};

    /// Checks one body's plan: a buffer is never shared by two values that
    /// are live at the same time, except an in-place layer's input and result.
    fn check_plan(g: &Graph, st: &Structure, body: &Body, params: &[usize], what: &str) {
        let plan = Plan::new(g, &st.bodies, body, params).unwrap();
        assert_eq!(plan.validate(g), Ok(()), "{what}");
        let mut def = HashMap::new();
        let mut last = HashMap::new();
        for (i, step) in plan.steps.iter().enumerate() {
            for &d in &step.defs {
                def.insert(d, i);
                last.entry(d).or_insert(i);
            }
            for &r in &step.reads {
                last.insert(r, i);
            }
        }
        for &o in &body.outputs {
            last.insert(o, usize::MAX);
        }
        // The interval of each buffer: from its owner's definition to the
        // last use of any value in it.
        let mut span: HashMap<usize, (usize, usize)> = HashMap::new();
        for (&v, &d) in &def {
            let r = plan.root_of(v).unwrap();
            let e = span.entry(r).or_insert((usize::MAX, 0));
            e.0 = e.0.min(d);
            e.1 = e.1.max(last[&v]);
        }
        let mut owners: Vec<(Storage, usize, (usize, usize))> = span
            .iter()
            .map(|(&r, &iv)| (plan.storage(r).unwrap(), r, iv))
            .collect();
        for (i, step) in plan.steps.iter().enumerate() {
            for &t in &step.temps {
                owners.push((Storage::Slot(t), usize::MAX - i, (i, i)));
            }
        }
        // Parameters are read-only: only aliases live there.
        for step in &plan.steps {
            if !matches!(step.kind, StepKind::Alias(_)) {
                for &d in &step.defs {
                    assert!(
                        !matches!(plan.storage(d), Ok(Storage::Param(_))),
                        "{what}: a layer writes into a parameter"
                    );
                }
            }
        }
        owners.retain(|(s, _, _)| !matches!(s, Storage::Param(_)));
        for (a, &(sa, ra, (da, ea))) in owners.iter().enumerate() {
            for &(sb, rb, (db, eb)) in &owners[a + 1..] {
                let overlap = da <= eb && db <= ea;
                assert!(
                    !(sa == sb && overlap),
                    "{what}: values {ra} and {rb} share {sa:?} while both are live"
                );
            }
        }
        // Every output is computed in its view or copied there.
        for (k, &o) in body.outputs.iter().enumerate() {
            let copied = plan.copies.iter().any(|&(c, v)| c == k && v == o);
            assert!(
                copied || plan.storage(o) == Ok(Storage::Out(k)),
                "{what}: output {k}"
            );
        }
    }

    #[test]
    fn live_values_never_share_a_buffer_in_any_example() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rn"))
            .collect();
        files.sort();
        assert!(files.len() >= 10);
        for file in files {
            let compiled = compile_file(&file, &CheckOptions::default()).unwrap();
            let g = compiled.model.graph();
            let st = Structure::new(g);
            let what = file.display().to_string();
            let inputs: Vec<usize> = g.inputs.iter().map(|i| i.node.0 as usize).collect();
            check_plan(g, &st, &st.top, &inputs, &what);
            // The interpreter's plan: every instance inlined.
            let flat = crate::lower::plans::inlined_body(g);
            check_plan(g, &st, &flat, &inputs, &format!("{what} (inlined)"));
            for t in &st.types {
                let body = &st.bodies[t.first];
                check_plan(g, &st, body, &body.inputs, &what);
            }
        }
    }

    #[test]
    fn residual_adds_fuse_into_the_conv_and_overwrite_the_skip_where_it_dies() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.rn");
        let compiled = compile_file(&file, &CheckOptions::default()).unwrap();
        let g = compiled.model.graph();
        let st = Structure::new(g);
        let body = &st.bodies[st.types[0].first];
        let plan = Plan::new(g, &st.bodies, body, &body.inputs).unwrap();
        // conv-bn-relu, then conv-bn-add-relu reading the block's input.
        assert_eq!(plan.steps.len(), 2);
        let value = |i: usize| plan.steps[i].defs[0];
        assert_eq!(plan.storage(value(0)), Ok(Storage::Slot(0)));
        assert_eq!(plan.storage(value(1)), Ok(Storage::Out(0)));
        assert_eq!(plan.steps[1].reads, vec![value(0), body.inputs[0]]);
        // The skip is the block's input, read-only: added, not overwritten.
        assert_eq!(plan.steps[1].in_place, None);
        assert_eq!(plan.slots, vec![64 * 64 * 64]);
        assert!(plan.slots.iter().all(|l| l % SLOT_ALIGN == 0));
        assert!(plan.copies.is_empty());
        // Inlined, the skip is a value that dies at the add: the second
        // conv of each block writes its result over it.
        let inputs: Vec<usize> = g.inputs.iter().map(|i| i.node.0 as usize).collect();
        let flat = crate::lower::plans::inlined_body(g);
        let plan = Plan::new(g, &st.bodies, &flat, &inputs).unwrap();
        let fused: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| matches!(&s.kind, StepKind::Layer(c) if c.len() == 4))
            .collect();
        assert_eq!(fused.len(), 2);
        for s in fused {
            assert_eq!(s.in_place, Some(s.reads[1]));
            assert_eq!(plan.storage(s.defs[0]), plan.storage(s.reads[1]));
        }
    }

    #[test]
    fn slots_are_reused_best_fit_first() {
        let mut slots = vec![10, 4, 6];
        // Slot 1 (4) is busy; 2 (6) is the smallest free one that fits 5.
        assert_eq!(pick_slot(&mut slots, &[0, 5, 0], 3, 5), 2);
        // Nothing free fits 20: the largest free slot grows.
        assert_eq!(pick_slot(&mut slots, &[0, 5, 0], 3, 20), 0);
        assert_eq!(slots, vec![20, 4, 6]);
        // Nothing free: a new slot.
        assert_eq!(pick_slot(&mut slots, &[9, 9, 9], 3, 7), 3);
        assert_eq!(slots, vec![20, 4, 6, 7]);
    }

    #[test]
    fn validate_reports_an_unplaced_value_as_a_bug() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.rn");
        let compiled = compile_file(&file, &CheckOptions::default()).unwrap();
        let g = compiled.model.graph();
        let st = Structure::new(g);
        let body = &st.bodies[st.types[0].first];
        let mut plan = Plan::new(g, &st.bodies, body, &body.inputs).unwrap();
        assert_eq!(plan.validate(g), Ok(()));
        // Every example's plans are complete (the emitter relies on it).
        let v = plan.steps[0].defs[0];
        let root = plan.root_of(v).unwrap();
        plan.storage.remove(&root);
        let err = plan.validate(g).unwrap_err();
        assert!(err.contains("never placed"), "{err}");
        assert!(err.contains(&g.nodes[v].name), "{err}");
    }
}
