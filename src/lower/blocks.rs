//! Grouping the flat graph back into the model's structure.
//!
//! Each block instance (and the model body) becomes a [`Body`]: its external
//! inputs, its outputs and its items in topological order — single layers
//! (a conv with its folded batch norm and fused ReLU is one item, as
//! [`crate::lower`] decides for both back ends), nested instances, and runs of identical,
//! chained instances (`layer3.1` … `layer3.35`) that become one loop.
//! Instances whose bodies are the same — same block, arguments, input shape
//! and, checked rather than assumed, the same layers — share one [`BlockType`].

use crate::ir::{Graph, InstanceArg, Op, Shape};

/// One thing a body computes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item {
    /// A layer: `chain[0]` with the nodes fused into it; its value is the
    /// last node's.
    Layer(Vec<usize>),
    /// A nested block instance.
    Child(usize),
    /// Identical chained instances, called in a loop (at least two).
    Loop(Vec<usize>),
}

/// The code of one block instance or of the model body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Body {
    /// Nodes from outside that the body reads, in order of first use.
    pub inputs: Vec<usize>,
    /// Nodes of the body read outside it (or model outputs), in graph order.
    pub outputs: Vec<usize>,
    /// What it computes, in topological order.
    pub items: Vec<Item>,
}

/// One distinct block instantiation: one Rust struct.
#[derive(Clone, Debug)]
pub(crate) struct BlockType {
    /// The instance it was first seen as (its code is emitted from this one).
    pub first: usize,
    /// Every instance of this type, in graph order.
    pub instances: Vec<usize>,
}

/// The model's structure, ready for emission.
pub(crate) struct Structure {
    /// For each node, the nodes reading it.
    pub consumers: Vec<Vec<usize>>,
    /// Whether each node is a model output.
    pub is_output: Vec<bool>,
    /// The body of each instance (empty for instances without nodes).
    pub bodies: Vec<Body>,
    /// The model body.
    pub top: Body,
    /// The distinct block types, in order of first appearance.
    pub types: Vec<BlockType>,
    /// The type of each non-empty instance.
    pub type_of: Vec<Option<usize>>,
}

/// `name` relative to the scope `scope` (`layer1.0.conv1` in `layer1.0` → `conv1`).
pub(crate) fn relative<'a>(name: &'a str, scope: Option<&str>) -> &'a str {
    match scope {
        None => name,
        Some(s) => name
            .strip_prefix(s)
            .and_then(|r| r.strip_prefix('.'))
            .unwrap_or(name),
    }
}

/// The fusion chains of [`crate::lower::layers`], as node indices: for each
/// node, `Some(chain)` if it starts a layer, `None` if it is fused into one.
fn chains(g: &Graph) -> Vec<Option<Vec<usize>>> {
    crate::lower::layers(g)
        .into_iter()
        .map(|l| l.map(|l| l.nodes().map(|n| n.0 as usize).collect()))
        .collect()
}

impl Structure {
    /// Analyses `g`.
    pub(crate) fn new(g: &Graph) -> Structure {
        let n = g.nodes.len();
        let ni = g.instances.len();
        let mut consumers = vec![Vec::new(); n];
        for (i, node) in g.nodes.iter().enumerate() {
            for inp in &node.inputs {
                consumers[inp.0 as usize].push(i);
            }
        }
        let mut is_output = vec![false; n];
        for o in &g.outputs {
            is_output[o.node.0 as usize] = true;
        }
        let chains = chains(g);
        // in_scope[s][i]: node i lies in instance s or below it.
        let ancestors = |i: usize| -> Vec<usize> {
            let mut v = Vec::new();
            let mut cur = g.nodes[i].instance.map(|x| x.0 as usize);
            while let Some(c) = cur {
                v.push(c);
                cur = g.instances[c].parent.map(|p| p.0 as usize);
            }
            v
        };
        let node_anc: Vec<Vec<usize>> = (0..n).map(ancestors).collect();
        let inside = |i: usize, s: Option<usize>| match s {
            None => true,
            Some(s) => node_anc[i].contains(&s),
        };
        // The first node of each instance's subtree.
        let mut first_node = vec![usize::MAX; ni];
        for (i, a) in node_anc.iter().enumerate() {
            for &s in a {
                first_node[s] = first_node[s].min(i);
            }
        }
        let mut st = Structure {
            consumers,
            is_output,
            bodies: vec![Body::default(); ni],
            top: Body::default(),
            types: Vec::new(),
            type_of: vec![None; ni],
        };
        // Fingerprints and their types (a linear search: types are few).
        let mut fingerprints: Vec<(Fingerprint<'_>, usize)> = Vec::new();
        // Children come after parents in `instances`: build bottom-up.
        let scopes: Vec<Option<usize>> = (0..ni).rev().map(Some).chain([None]).collect();
        for scope in scopes {
            if let Some(s) = scope
                && first_node[s] == usize::MAX
            {
                continue;
            }
            let parent_of = |s: usize| g.instances[s].parent.map(|p| p.0 as usize);
            let mut items: Vec<(usize, Item)> = Vec::new();
            for (i, node) in g.nodes.iter().enumerate() {
                if node.instance.map(|x| x.0 as usize) == scope
                    && let Some(c) = &chains[i]
                {
                    items.push((i, Item::Layer(c.clone())));
                }
            }
            for (c, &first) in first_node.iter().enumerate() {
                if parent_of(c) == scope && first != usize::MAX {
                    items.push((first, Item::Child(c)));
                }
            }
            items.sort_by_key(|(k, _)| *k);
            let mut items: Vec<Item> = items.into_iter().map(|(_, it)| it).collect();
            items = st.loops(g, items, &node_anc);
            let mut inputs = Vec::new();
            let mut outputs = Vec::new();
            for (i, node) in g.nodes.iter().enumerate() {
                if !inside(i, scope) {
                    continue;
                }
                for inp in &node.inputs {
                    let x = inp.0 as usize;
                    if !inside(x, scope) && !inputs.contains(&x) {
                        inputs.push(x);
                    }
                }
                if scope.is_some()
                    && (st.is_output[i] || st.consumers[i].iter().any(|&c| !inside(c, scope)))
                {
                    outputs.push(i);
                }
            }
            if scope.is_none() {
                outputs = g.outputs.iter().map(|o| o.node.0 as usize).collect();
                inputs.clear();
            }
            let body = Body {
                inputs,
                outputs,
                items,
            };
            match scope {
                None => st.top = body,
                Some(s) => {
                    let fp = st.fingerprint(g, s, &body);
                    st.bodies[s] = body;
                    let t = match fingerprints.iter().find(|(f, _)| *f == fp) {
                        Some(&(_, t)) => t,
                        None => {
                            st.types.push(BlockType {
                                first: s,
                                instances: Vec::new(),
                            });
                            fingerprints.push((fp, st.types.len() - 1));
                            st.types.len() - 1
                        }
                    };
                    st.type_of[s] = Some(t);
                }
            }
        }
        // Types and their instances in order of first appearance.
        let mut order: Vec<usize> = (0..st.types.len()).collect();
        order.sort_by_key(|&t| first_node[st.types[t].first]);
        let mut remap = vec![0; st.types.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old] = new;
        }
        let mut types: Vec<BlockType> = order.iter().map(|&t| st.types[t].clone()).collect();
        for (s, t) in st.type_of.iter_mut().enumerate() {
            if let Some(t) = t {
                *t = remap[*t];
                types[*t].instances.push(s);
            }
        }
        for t in &mut types {
            t.first = t.instances[0];
        }
        st.types = types;
        st
    }

    /// Merges runs of chained, identical children that are consecutive
    /// unlabelled items of one sequence ([`crate::ir::SequenceItem`]).
    fn loops(&self, g: &Graph, items: Vec<Item>, node_anc: &[Vec<usize>]) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::new();
        for item in items {
            let Item::Child(c) = item else {
                out.push(item);
                continue;
            };
            let prev = match out.last() {
                Some(Item::Child(p)) => Some(vec![*p]),
                Some(Item::Loop(ps)) => Some(ps.clone()),
                Some(Item::Layer(_)) | None => None,
            };
            if let Some(mut run) = prev
                && let Some(&p) = run.last()
                && self.chained(g, p, c, node_anc)
            {
                run.push(c);
                out.pop();
                out.push(Item::Loop(run));
            } else {
                out.push(Item::Child(c));
            }
        }
        out
    }

    /// Whether `c` can follow `p` in one loop.
    fn chained(&self, g: &Graph, p: usize, c: usize, node_anc: &[Vec<usize>]) -> bool {
        let (bp, bc) = (&self.bodies[p], &self.bodies[c]);
        let same_type = self.type_of[p].is_some() && self.type_of[p] == self.type_of[c];
        let one_to_one = bp.inputs.len() == 1
            && bp.outputs.len() == 1
            && bc.inputs.len() == 1
            && bc.outputs.len() == 1;
        if !same_type || !one_to_one || bc.inputs[0] != bp.outputs[0] {
            return false;
        }
        let link = bp.outputs[0];
        let private = !self.is_output[link]
            && self.consumers[link]
                .iter()
                .all(|&x| node_anc[x].contains(&c));
        // Consecutive unlabelled items of one sequence (`layer3.1`, `layer3.2`)
        // with a name of its own: the loop loads `{sequence}.{i}` relative to
        // the enclosing scope, so a sequence that is the scope's own body
        // (items named `{scope}.{i}`, or `{i}` in a model) stays unrolled.
        let scope_name = g.instances[c]
            .parent
            .map_or("", |s| g.instance(s).name.as_str());
        match (g.instances[p].sequence, g.instances[c].sequence) {
            (Some(a), Some(b)) => {
                private
                    && a.sequence == b.sequence
                    && g.sequence(a.sequence).name != scope_name
                    && !a.labelled
                    && !b.labelled
                    && a.index.checked_add(1) == Some(b.index)
            }
            (None, _) | (_, None) => false,
        }
    }

    /// Equal for two instances exactly when their code is: the block, its
    /// typed arguments and input shape, then every layer and child (checked
    /// rather than assumed).
    fn fingerprint<'g>(&self, g: &'g Graph, s: usize, body: &Body) -> Fingerprint<'g> {
        let inst = &g.instances[s];
        let scope = Some(inst.name.as_str());
        let refs = |nodes: &[usize]| -> Vec<Ref<'g>> {
            nodes
                .iter()
                .map(|&x| match body.inputs.iter().position(|&i| i == x) {
                    Some(k) => Ref::Input(k),
                    None => Ref::Local(relative(&g.nodes[x].name, scope)),
                })
                .collect()
        };
        let mut parts = Vec::new();
        for item in &body.items {
            match item {
                Item::Layer(chain) => {
                    for &i in chain {
                        let nd = &g.nodes[i];
                        let ins: Vec<usize> = nd.inputs.iter().map(|x| x.0 as usize).collect();
                        parts.push(Part::Layer {
                            name: relative(&nd.name, scope),
                            op: &nd.op,
                            shape: &nd.shape,
                            inputs: refs(&ins),
                        });
                    }
                }
                Item::Child(c) => parts.push(self.child_part(g, scope, &[*c], &refs)),
                Item::Loop(cs) => parts.push(self.child_part(g, scope, cs, &refs)),
            }
        }
        Fingerprint {
            block: &inst.block,
            args: &inst.args,
            input: &inst.input_shape,
            parts,
            outputs: refs(&body.outputs),
        }
    }

    fn child_part<'g>(
        &self,
        g: &'g Graph,
        scope: Option<&str>,
        cs: &[usize],
        refs: &dyn Fn(&[usize]) -> Vec<Ref<'g>>,
    ) -> Part<'g> {
        let last = cs[cs.len() - 1];
        Part::Children {
            ty: self.type_of[cs[0]],
            names: cs
                .iter()
                .map(|&c| relative(&g.instances[c].name, scope))
                .collect(),
            inputs: refs(&self.bodies[cs[0]].inputs),
            outputs: self.bodies[last]
                .outputs
                .iter()
                .map(|&o| relative(&g.nodes[o].name, scope))
                .collect(),
        }
    }
}

/// A value a body reads: its `k`-th external input, or one of its own nodes
/// (by name relative to the instance).
#[derive(Debug, PartialEq)]
enum Ref<'g> {
    Input(usize),
    Local(&'g str),
}

/// One item of a [`Fingerprint`].
#[derive(Debug, PartialEq)]
enum Part<'g> {
    /// A layer (every node of a fused chain is one part).
    Layer {
        name: &'g str,
        op: &'g Op,
        shape: &'g Shape,
        inputs: Vec<Ref<'g>>,
    },
    /// A child instance or a loop of them.
    Children {
        ty: Option<usize>,
        names: Vec<&'g str>,
        inputs: Vec<Ref<'g>>,
        outputs: Vec<&'g str>,
    },
}

/// The identity of a block instance's code, as data: instances with equal
/// fingerprints share one [`BlockType`].
#[derive(Debug, PartialEq)]
struct Fingerprint<'g> {
    block: &'g str,
    args: &'g [InstanceArg],
    input: &'g Shape,
    parts: Vec<Part<'g>>,
    outputs: Vec<Ref<'g>>,
}
