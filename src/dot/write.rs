//! Writing the DOT text (the layout rules are in the module docs of `dot`).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use crate::ir::{CheckedModel, Costs, Graph, Instance, InstanceId, NodeId, Op, op_arg_words};
use crate::report::group;

use super::escape::{quote, quote_lines};
use super::skip::{Edge, node, skip_edges};
use super::{DotError, DotOptions};

const SKIP_COLOR: &str = "#c0392b";
const BLOCK_FILL: &str = "#fff2cc";
const OUTPUT_FILL: &str = "#eeeeee";

/// What one DOT node of the picture stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Item {
    /// One layer (`n<i>`).
    Layer(usize),
    /// An outermost block instance, collapsed (`b<i>`).
    Block(InstanceId),
}

impl Item {
    fn id(self) -> String {
        match self {
            Item::Layer(i) => format!("n{i}"),
            Item::Block(b) => format!("b{}", b.0),
        }
    }
}

/// The graph with its derived facts, shared by both layouts.
struct Picture<'g> {
    graph: &'g Graph,
    /// The checker's figures (parameter counts per node and in total).
    costs: &'g Costs,
    skips: BTreeSet<Edge>,
    /// For each instance, the nodes inside it (directly or in nested instances), in order.
    members: Vec<Vec<usize>>,
    out: String,
}

pub(super) fn write(model: &CheckedModel, options: &DotOptions) -> Result<String, DotError> {
    let graph = model.graph();
    let mut p = Picture {
        graph,
        costs: model.costs(),
        skips: skip_edges(graph)?,
        members: members(graph)?,
        out: String::new(),
    };
    p.header(options);
    if options.expand_blocks {
        p.expanded()?;
    } else {
        p.collapsed()?;
    }
    p.outputs(options)?;
    p.out.push_str("}\n");
    Ok(p.out)
}

impl Picture<'_> {
    fn header(&mut self, options: &DotOptions) {
        let g = self.graph;
        let (total, trainable) = (self.costs.total_params, self.costs.trainable_params);
        let mode = if options.expand_blocks {
            "every layer, block instances as clusters"
        } else {
            "one box per outermost block instance; --expand-blocks draws their layers"
        };
        let _ = writeln!(
            self.out,
            "// resnetc graph: model {} ({mode})",
            quote(&g.name)
        );
        let _ = writeln!(
            self.out,
            "// dashed edges: skip connections (identity skips and projection shortcuts)"
        );
        let _ = writeln!(self.out, "digraph {} {{", quote(&g.name));
        let title = [
            format!("model {}", g.name),
            format!("{} params ({} trainable)", group(total), group(trainable)),
        ];
        let _ = writeln!(
            self.out,
            "  graph [label={}, labelloc=t, fontname=\"Helvetica\", fontsize=12, rankdir=TB, nodesep=0.3, ranksep=0.35];",
            quote_lines(&title)
        );
        self.out.push_str(
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, margin=\"0.15,0.04\"];\n",
        );
        self.out.push_str(
            "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\", fontcolor=\"#555555\", arrowsize=0.6];\n",
        );
    }

    /// One node per layer outside blocks, one box per outermost block instance.
    fn collapsed(&mut self) -> Result<(), DotError> {
        let g = self.graph;
        let items: Vec<Item> = (0..g.nodes.len())
            .map(|i| self.item(i))
            .collect::<Result<_, _>>()?;
        let mut declared = BTreeSet::new();
        for (i, &item) in items.iter().enumerate() {
            if !declared.insert(item.id()) {
                continue;
            }
            match item {
                Item::Layer(_) => self.layer_node(i, "  ")?,
                Item::Block(b) => self.block_node(b, &items)?,
            }
        }
        // One edge per (tensor, reading box); a skip edge only if all it stands for are.
        let mut edges: Vec<(usize, Item, bool)> = Vec::new();
        let mut index: HashMap<(usize, Item), usize> = HashMap::new();
        for (v, n) in g.nodes.iter().enumerate() {
            for (operand, &u) in n.inputs.iter().enumerate() {
                let from = items[self.index(u)?];
                let to = items[v];
                if from == to {
                    continue;
                }
                let skip = self.skips.contains(&Edge {
                    from: u,
                    to: node_id(v)?,
                    operand,
                });
                match index.get(&(u.0 as usize, to)) {
                    Some(&e) => edges[e].2 &= skip,
                    None => {
                        index.insert((u.0 as usize, to), edges.len());
                        edges.push((u.0 as usize, to, skip));
                    }
                }
            }
        }
        for (u, to, skip) in edges {
            let from = items[u];
            self.edge(&from.id(), &to.id(), u, skip)?;
        }
        Ok(())
    }

    /// Every layer a node; every block instance a (nested) cluster.
    fn expanded(&mut self) -> Result<(), DotError> {
        let g = self.graph;
        let mut emitted = vec![false; g.instances.len()];
        for i in 0..g.nodes.len() {
            match g.nodes[i].instance {
                None => self.layer_node(i, "  ")?,
                Some(inst) => {
                    let root = self.root(inst)?;
                    if !emitted[root.0 as usize] {
                        emitted[root.0 as usize] = true;
                        self.cluster(root, 1, &mut emitted)?;
                    }
                }
            }
        }
        for (v, n) in g.nodes.iter().enumerate() {
            for (operand, &u) in n.inputs.iter().enumerate() {
                let skip = self.skips.contains(&Edge {
                    from: u,
                    to: node_id(v)?,
                    operand,
                });
                self.edge(&format!("n{}", u.0), &format!("n{v}"), self.index(u)?, skip)?;
            }
        }
        Ok(())
    }

    fn cluster(
        &mut self,
        inst: InstanceId,
        depth: usize,
        emitted: &mut [bool],
    ) -> Result<(), DotError> {
        let g = self.graph;
        let instance = instance(g, inst)?;
        let indent = "  ".repeat(depth);
        let members = self.members[inst.0 as usize].clone();
        let mut label = vec![call_text(
            &instance.name,
            &instance.block,
            &instance.args_text(),
        )];
        let params = self.params_of(&members)?;
        if params > 0 {
            label.push(params_text(params));
        }
        let _ = writeln!(self.out, "{indent}subgraph cluster_b{} {{", inst.0);
        let _ = writeln!(
            self.out,
            "{indent}  graph [label={}, labeljust=l, style=\"rounded,filled\", fillcolor={}, color=\"#999999\", fontsize=10];",
            quote_lines(&label),
            quote(if depth % 2 == 1 { "#f5f7fb" } else { "#e8edf6" }),
        );
        for i in members {
            let Some(own) = g.nodes[i].instance else {
                return Err(DotError::Internal(format!(
                    "node `{}` is listed in instance `{}` but belongs to none",
                    g.nodes[i].name, instance.name
                )));
            };
            if own == inst {
                self.layer_node(i, &format!("{indent}  "))?;
                continue;
            }
            let child = self.child_towards(inst, own)?;
            if !emitted[child.0 as usize] {
                emitted[child.0 as usize] = true;
                self.cluster(child, depth + 1, emitted)?;
            }
        }
        let _ = writeln!(self.out, "{indent}}}");
        Ok(())
    }

    fn layer_node(&mut self, i: usize, indent: &str) -> Result<(), DotError> {
        let n = &self.graph.nodes[i];
        let mut lines = vec![
            call_text(&n.name, n.op.name(), &op_arg_words(&n.op).join(", ")),
            n.shape.to_string(),
        ];
        let params = self.node_params(i)?;
        if params > 0 {
            lines.push(params_text(params));
        }
        let shape = if matches!(n.op, Op::Input) {
            ", shape=ellipse"
        } else {
            ""
        };
        let _ = writeln!(
            self.out,
            "{indent}n{i} [label={}, fillcolor={}{shape}];",
            quote_lines(&lines),
            quote(fill(&n.op)),
        );
        Ok(())
    }

    fn block_node(&mut self, b: InstanceId, items: &[Item]) -> Result<(), DotError> {
        let g = self.graph;
        let instance = instance(g, b)?;
        let members = &self.members[b.0 as usize];
        // The shapes leaving the box: members read outside it, or model outputs.
        let mut leaving: Vec<String> = Vec::new();
        for (v, n) in g.nodes.iter().enumerate() {
            for &u in &n.inputs {
                let ui = self.index(u)?;
                if items[ui] == Item::Block(b) && items[v] != Item::Block(b) {
                    let s = g.nodes[ui].shape.to_string();
                    if !leaving.contains(&s) {
                        leaving.push(s);
                    }
                }
            }
        }
        for o in &g.outputs {
            let ui = self.index(o.node)?;
            if items[ui] == Item::Block(b) {
                let s = g.nodes[ui].shape.to_string();
                if !leaving.contains(&s) {
                    leaving.push(s);
                }
            }
        }
        let mut lines = vec![call_text(
            &instance.name,
            &instance.block,
            &instance.args_text(),
        )];
        if !leaving.is_empty() {
            lines.push(leaving.join(", "));
        }
        let params = self.params_of(members)?;
        if params > 0 {
            lines.push(params_text(params));
        }
        let _ = writeln!(
            self.out,
            "  b{} [label={}, fillcolor={}, shape=box3d, style=filled];",
            b.0,
            quote_lines(&lines),
            quote(BLOCK_FILL),
        );
        Ok(())
    }

    fn outputs(&mut self, options: &DotOptions) -> Result<(), DotError> {
        let g = self.graph;
        for (k, o) in g.outputs.iter().enumerate() {
            let i = self.index(o.node)?;
            let n = &g.nodes[i];
            let lines = [o.name.clone(), n.shape.to_string()];
            let _ = writeln!(
                self.out,
                "  o{k} [label={}, shape=ellipse, fillcolor={}];",
                quote_lines(&lines),
                quote(OUTPUT_FILL),
            );
            let from = if options.expand_blocks {
                Item::Layer(i)
            } else {
                self.item(i)?
            };
            self.edge(&from.id(), &format!("o{k}"), i, false)?;
        }
        Ok(())
    }

    /// `from -> to`, labelled with the shape of node `tensor`.
    fn edge(&mut self, from: &str, to: &str, tensor: usize, skip: bool) -> Result<(), DotError> {
        let shape = &node(self.graph, node_id(tensor)?)?.shape;
        let style = if skip {
            format!(
                ", style=dashed, color={0}, fontcolor={0}, penwidth=1.4",
                quote(SKIP_COLOR)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            self.out,
            "  {from} -> {to} [label={}{style}];",
            quote(&shape.to_string())
        );
        Ok(())
    }

    /// The DOT node a graph node is drawn in, collapsed.
    fn item(&self, i: usize) -> Result<Item, DotError> {
        Ok(match self.graph.nodes[i].instance {
            None => Item::Layer(i),
            Some(inst) => Item::Block(self.root(inst)?),
        })
    }

    fn index(&self, id: NodeId) -> Result<usize, DotError> {
        node(self.graph, id)?;
        Ok(id.0 as usize)
    }

    /// The outermost instance enclosing `id`.
    fn root(&self, id: InstanceId) -> Result<InstanceId, DotError> {
        Ok(*chain(self.graph, id)?
            .last()
            .ok_or_else(|| DotError::Internal("an empty instance chain".into()))?)
    }

    /// The child of `parent` on the way down to `inner`.
    fn child_towards(&self, parent: InstanceId, inner: InstanceId) -> Result<InstanceId, DotError> {
        let chain = chain(self.graph, inner)?;
        chain
            .iter()
            .copied()
            .find(|&c| self.graph.instances[c.0 as usize].parent == Some(parent))
            .ok_or_else(|| {
                DotError::Internal(format!(
                    "instance #{} is not inside instance #{}",
                    inner.0, parent.0
                ))
            })
    }

    /// Elements of node `i`'s learned tensors (trainable or not, as Keras counts).
    fn node_params(&self, i: usize) -> Result<u64, DotError> {
        self.costs.nodes.get(i).map(|c| c.params).ok_or_else(|| {
            DotError::Internal(format!(
                "node {i} has no cost entry; this is a bug in resnetc"
            ))
        })
    }

    fn params_of(&self, members: &[usize]) -> Result<u64, DotError> {
        members.iter().try_fold(0u64, |sum, &i| {
            sum.checked_add(self.node_params(i)?)
                .ok_or_else(|| DotError::Internal("parameter count overflows u64".into()))
        })
    }
}

/// For each instance, the nodes inside it or inside its nested instances.
fn members(graph: &Graph) -> Result<Vec<Vec<usize>>, DotError> {
    let mut members = vec![Vec::new(); graph.instances.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        if let Some(inst) = n.instance {
            for c in chain(graph, inst)? {
                members[c.0 as usize].push(i);
            }
        }
    }
    Ok(members)
}

/// `id`, its parent, its grandparent, ... up to the outermost instance.
fn chain(graph: &Graph, id: InstanceId) -> Result<Vec<InstanceId>, DotError> {
    let mut out = vec![id];
    let mut cur = instance(graph, id)?;
    while let Some(parent) = cur.parent {
        if out.len() > graph.instances.len() {
            return Err(DotError::Internal(format!(
                "the parents of instance `{}` form a cycle",
                instance(graph, id)?.name
            )));
        }
        out.push(parent);
        cur = instance(graph, parent)?;
    }
    Ok(out)
}

fn instance(graph: &Graph, id: InstanceId) -> Result<&Instance, DotError> {
    graph.instances.get(id.0 as usize).ok_or_else(|| {
        DotError::Internal(format!(
            "instance #{} is referenced but the graph has {} instances",
            id.0,
            graph.instances.len()
        ))
    })
}

fn node_id(i: usize) -> Result<NodeId, DotError> {
    u32::try_from(i)
        .map(NodeId)
        .map_err(|_| DotError::Internal(format!("node index {i} does not fit a NodeId")))
}

/// `name: op(args)`, or `name: op` without arguments.
fn call_text(name: &str, callee: &str, args: &str) -> String {
    if args.is_empty() {
        format!("{name}: {callee}")
    } else {
        format!("{name}: {callee}({args})")
    }
}

fn params_text(n: u64) -> String {
    if n == 1 {
        "1 param".to_string()
    } else {
        format!("{} params", group(n))
    }
}

/// The fill colour of a layer, by kind.
fn fill(op: &Op) -> &'static str {
    match op {
        Op::Input => "#eeeeee",
        Op::Conv(_) | Op::ConvTranspose(_) | Op::Dense(_) => "#cfe2f3",
        Op::BatchNorm(_) => "#d9ead3",
        Op::Activation(_) | Op::Softmax => "#fce5cd",
        Op::MaxPool(_) | Op::AvgPool(_) | Op::GlobalAvgPool | Op::Upsample(_) => "#d9d2e9",
        Op::Add | Op::Concat | Op::Mul => "#f4cccc",
        Op::Flatten | Op::Dropout { .. } | Op::Identity | Op::PadChannels { .. } => "#f3f3f3",
    }
}
