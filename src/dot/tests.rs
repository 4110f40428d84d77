//! Names that would break DOT if written raw.

use super::{DotOptions, GraphvizError, ImageFormat, render_with_graphviz, to_dot};
use crate::ir::CheckedModel;

const SRC: &str = r#"
block res(c) {
  input x
  y = x -> conv(c, 3, pad: 1) -> relu
  x + y
}
model m {
  input x: [4, 8, 8]
  x -> res(4)
}
"#;

fn benign() -> CheckedModel {
    crate::compile_source("m.rn", SRC, &Default::default())
        .unwrap()
        .model
}

/// The same model with every name replaced by one full of DOT syntax.
fn hostile() -> CheckedModel {
    let mut g = benign().graph().clone();
    g.name = "m\" { evil }\n}".to_string();
    for (i, n) in g.nodes.iter_mut().enumerate() {
        n.name = format!(r#"n{i}"] -> x [label="\N\"#);
    }
    g.instances[0].name = "blk\\".to_string();
    g.instances[0].args = vec![crate::ir::InstanceArg {
        name: "c".into(),
        value: crate::ir::ArgValue::Str("4".into()),
    }];
    g.outputs[0].name = "out\nput".to_string();
    let costs = crate::ir::Costs::of(&g).expect("the benign model's figures fit");
    CheckedModel::new(g, costs)
}

/// The first word of each line: the statement's kind or DOT id.
fn skeleton(dot: &str) -> Vec<&str> {
    dot.lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect()
}

#[test]
fn hostile_names_are_escaped() {
    for expand_blocks in [false, true] {
        let options = DotOptions { expand_blocks };
        let dot = to_dot(&hostile(), &options).unwrap();
        assert!(dot.contains(r#"digraph "m\" { evil }\n}" {"#), "{dot}");
        assert!(dot.contains(r#"blk\\: res(c=\"4\")"#), "{dot}");
        assert!(dot.contains(r#"label="out\nput\nN×4×8×8""#), "{dot}");
        if expand_blocks {
            assert!(
                dot.contains(r#"n1 [label="n1\"] -> x [label=\"\\N\\: conv("#),
                "{dot}"
            );
        }
        // The names change no statement: same lines, each starting with the same id.
        let plain = to_dot(&benign(), &options).unwrap();
        assert_eq!(skeleton(&dot), skeleton(&plain), "{dot}");
    }
}

#[test]
fn hostile_names_survive_graphviz() {
    let model = hostile();
    let dot = to_dot(
        &model,
        &DotOptions {
            expand_blocks: true,
        },
    )
    .unwrap();
    let svg = match render_with_graphviz(&dot, ImageFormat::Svg) {
        Ok(svg) => String::from_utf8(svg).unwrap(),
        Err(GraphvizError::NotInstalled { .. }) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: Graphviz `dot` is not installed (apt-get install graphviz)");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let doc = roxmltree::Document::parse_with_options(
        &svg,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap();
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text())
        .collect();
    let nodes = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("node"))
        .count();
    // Four layers and one output; no node made up from a name.
    assert_eq!(nodes, 5, "{svg}");
    assert!(
        texts.contains(&r#"n1"] -> x [label="\N\: conv(out=4, kernel=3, stride=1, pad=1)"#),
        "{texts:?}"
    );
    assert!(texts.contains(&r#"blk\: res(c="4")"#), "{texts:?}");
    assert!(texts.contains(&"model m\" { evil }"), "{texts:?}");
    assert!(texts.contains(&"}"), "{texts:?}");
}
