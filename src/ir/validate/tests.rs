//! Each invariant broken on a graph, and the error that says so.

use super::{InvalidGraph, Violation, validate};
use crate::ir::{Graph, Input, NodeId, Op, Output, Shape};
use crate::ir::{InstanceId, SequenceId};
use crate::span::Span;

/// A small valid graph: a stem, two chained blocks of one sequence
/// (`layer1.0`, `layer1.1`), a labelled one, and a classifier.
fn base() -> Graph {
    let src = "block basic(c) {
  input x
  y = x -> conv1: conv(c, 3, pad: 1, bias: false) -> bn1: bn -> relu
  relu(y + x)
}
model tiny {
  input x: [4, 6, 6]
  x -> layer1: basic(4) * 2 -> layer2: [basic(4), last: basic(4)] -> global_avgpool -> flatten -> fc: dense(3)
}
";
    let c = crate::pipeline::compile_source("tiny.rn", src, &Default::default())
        .unwrap_or_else(|e| panic!("{}", e.render()));
    c.model.graph().clone()
}

/// Validates `g`, expects an error, checks its text, returns the violation.
fn broken(g: &Graph) -> Violation {
    let e: InvalidGraph = validate(g).expect_err("the broken graph must be rejected");
    let text = e.to_string();
    assert!(text.contains("this is a bug in resnetc"), "{text}");
    assert!(text.contains("model `tiny`"), "{text}");
    e.violation
}

fn item(g: &mut Graph, k: usize) -> &mut crate::ir::SequenceItem {
    g.instances[k].sequence.as_mut().expect("an item")
}

fn node_named(g: &Graph, name: &str) -> usize {
    g.nodes
        .iter()
        .position(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

#[test]
fn the_checked_graph_is_valid_and_records_its_sequences() {
    let g = base();
    assert_eq!(validate(&g), Ok(()));
    type Item = (String, Option<(u32, usize, bool)>);
    let items: Vec<Item> = g
        .instances
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.sequence.map(|s| (s.sequence.0, s.index, s.labelled)),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("layer1.0".to_string(), Some((0, 0, false))),
            ("layer1.1".to_string(), Some((0, 1, false))),
            ("layer2.0".to_string(), Some((1, 0, false))),
            ("layer2.last".to_string(), Some((1, 1, true))),
        ]
    );
    let names: Vec<&str> = g.sequences.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["layer1", "layer2"]);
    assert_eq!(g.instances[0].args_text(), "c=4");
}

#[test]
fn every_example_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rn") {
            let c = crate::pipeline::compile_file(&path, &Default::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(validate(c.model.graph()), Ok(()), "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 10, "only {count} examples");
}

#[test]
fn an_input_after_its_reader() {
    let mut g = base();
    let i = node_named(&g, "layer1.0.conv1");
    g.nodes[i].inputs[0] = NodeId(i as u32);
    assert!(matches!(broken(&g), Violation::InputNotBefore { input, .. } if input as usize == i));
}

#[test]
fn a_wrong_input_count() {
    let mut g = base();
    let i = node_named(&g, "fc");
    let extra = g.nodes[i].inputs[0];
    g.nodes[i].inputs.push(extra);
    assert!(matches!(broken(&g), Violation::Arity { found: 2, .. }));
}

#[test]
fn a_node_in_a_missing_instance() {
    let mut g = base();
    g.nodes[1].instance = Some(InstanceId(99));
    assert!(matches!(
        broken(&g),
        Violation::NoSuchInstance { instance: 99, .. }
    ));
}

#[test]
fn a_child_before_its_parent() {
    let mut g = base();
    g.instances[0].parent = Some(InstanceId(2));
    assert!(matches!(
        broken(&g),
        Violation::ParentNotBefore {
            instance: 0,
            parent: 2,
            ..
        }
    ));
}

#[test]
fn an_output_of_a_missing_node() {
    let mut g = base();
    g.outputs[0].node = NodeId(g.nodes.len() as u32);
    assert!(matches!(broken(&g), Violation::NoSuchNode { .. }));
}

#[test]
fn an_input_that_is_not_an_input_node() {
    let mut g = base();
    g.inputs[0].node = NodeId(1);
    assert!(matches!(
        broken(&g),
        Violation::InputNotInput { node: 1, .. }
    ));
}

#[test]
fn duplicate_outputs_inputs_and_nodes() {
    // The same output listed twice is valid; one name for two nodes is not.
    let mut g = base();
    let o = g.outputs[0].clone();
    g.outputs.push(o.clone());
    assert_eq!(validate(&g), Ok(()));
    g.outputs.push(Output {
        node: NodeId(o.node.0 - 1),
        ..o
    });
    assert!(matches!(
        broken(&g),
        Violation::DuplicateName { what: "output", .. }
    ));

    let mut g = base();
    let x = g.inputs[0].clone();
    g.inputs.push(x);
    assert!(matches!(
        broken(&g),
        Violation::DuplicateName { what: "input", .. }
    ));

    let mut g = base();
    g.nodes[2].name = g.nodes[1].name.clone();
    assert!(matches!(
        broken(&g),
        Violation::DuplicateName { what: "node", .. }
    ));
}

#[test]
fn parameters_that_do_not_match_their_op() {
    let mut g = base();
    let i = node_named(&g, "fc");
    g.nodes[i].params[0].shape = vec![3, 5];
    assert!(matches!(broken(&g), Violation::Params { .. }));

    let mut g = base();
    g.nodes[i].params.pop();
    assert!(matches!(broken(&g), Violation::Params { .. }));

    let mut g = base();
    let bn = node_named(&g, "layer1.0.bn1");
    g.nodes[bn].params.swap(0, 1);
    assert!(matches!(broken(&g), Violation::Params { .. }));

    let mut g = base();
    g.nodes[bn].params[2].kind = crate::ir::ParamKind::RunningVar;
    assert!(matches!(broken(&g), Violation::Params { .. }));
}

#[test]
fn an_argument_holding_a_missing_node() {
    let mut g = base();
    g.instances[0].args[0].value = crate::ir::ArgValue::List(vec![crate::ir::ArgValue::Like {
        size: [1, 1],
        node: NodeId(1000),
    }]);
    assert!(matches!(
        broken(&g),
        Violation::NoSuchNode { node: 1000, .. }
    ));
}

#[test]
fn inconsistent_sequences() {
    let mut g = base();
    item(&mut g, 1).sequence = SequenceId(7);
    assert!(
        matches!(broken(&g), Violation::Sequence { reason, .. } if reason.contains("does not exist"))
    );

    let mut g = base();
    item(&mut g, 1).index = 2;
    assert!(
        matches!(broken(&g), Violation::Sequence { reason, .. } if reason.contains("out of range"))
    );

    let mut g = base();
    item(&mut g, 1).index = 0;
    assert!(
        matches!(broken(&g), Violation::Sequence { reason, .. } if reason.contains("taken twice"))
    );

    let mut g = base();
    item(&mut g, 3).labelled = false;
    assert!(
        matches!(broken(&g), Violation::Sequence { reason, .. } if reason.contains("must be named `layer2.1`"))
    );

    let mut g = base();
    g.instances[1].parent = Some(InstanceId(0));
    assert!(
        matches!(broken(&g), Violation::Sequence { reason, .. } if reason.contains("another instance"))
    );

    let mut g = base();
    g.sequences[0].parent = Some(InstanceId(40));
    assert!(matches!(
        broken(&g),
        Violation::NoSuchInstance { instance: 40, .. }
    ));
}

/// A graph written out by hand, without the checker.
#[test]
fn a_hand_built_graph() {
    let node = |name: &str, op: Op, inputs: Vec<NodeId>| crate::ir::Node {
        name: name.into(),
        op,
        inputs,
        shape: Shape(vec![2]),
        params: Vec::new(),
        instance: None,
        span: Span::default(),
    };
    let mut g = Graph {
        name: "tiny".into(),
        nodes: vec![
            node("x", Op::Input, vec![]),
            node("add", Op::Add, vec![NodeId(0), NodeId(0)]),
        ],
        instances: Vec::new(),
        sequences: Vec::new(),
        inputs: vec![Input {
            name: "x".into(),
            node: NodeId(0),
        }],
        outputs: vec![Output {
            name: "y".into(),
            node: NodeId(1),
        }],
        bindings: Vec::new(),
    };
    assert_eq!(validate(&g), Ok(()));
    g.nodes[1].inputs[1] = NodeId(1);
    assert!(matches!(
        broken(&g),
        Violation::InputNotBefore {
            node: 1,
            input: 1,
            ..
        }
    ));
}
