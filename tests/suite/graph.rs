//! `resnetc graph`: DOT snapshots of every example, skip edges, Graphviz
//! rendering parsed back from SVG, the README picture, and the command line.

use crate::tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use resnetc::dot::{DotOptions, Edge, ImageFormat, render_with_graphviz, skip_edges, to_dot};
use resnetc::ir::{Graph, InstanceId, NodeId};
use resnetc::{CheckOptions, compile_file};

const COLLAPSED: DotOptions = DotOptions {
    expand_blocks: false,
};
const EXPANDED: DotOptions = DotOptions {
    expand_blocks: true,
};
/// How the README's picture is made (also in README.md).
const README_COMMAND: &str =
    "resnetc graph examples/seed.rn --expand-blocks -o docs/seed-graph.svg";
const DOT_INSTALL: &str = "apt-get install graphviz";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compile(path: &Path) -> resnetc::Compiled {
    // Paths relative to the crate root keep snapshots machine-independent.
    let rel = path.strip_prefix(root()).unwrap_or(path);
    std::env::set_current_dir(root()).unwrap();
    compile_file(rel, &CheckOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn example(name: &str) -> resnetc::Compiled {
    compile(&root().join("examples").join(name))
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rn"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "examples/*.rn not found");
    files
}

#[test]
fn dot_snapshots() {
    crate::snapshot_files::each_file("examples", "rn", |path| {
        let c = compile(path);
        insta::assert_snapshot!("dot", to_dot(&c.model, &COLLAPSED).unwrap());
    });
}

#[test]
fn dot_snapshots_expanded() {
    for file in ["seed.rn", "resnet18.rn", "two_heads.rn"] {
        let c = example(file);
        insta::assert_snapshot!(
            format!("dot_expanded@{file}"),
            to_dot(&c.model, &EXPANDED).unwrap()
        );
    }
}

#[test]
fn output_is_deterministic() {
    for file in ["resnet50.rn", "densenet121.rn"] {
        for options in [COLLAPSED, EXPANDED] {
            let a = to_dot(&example(file).model, &options).unwrap();
            let b = to_dot(&example(file).model, &options).unwrap();
            assert_eq!(a, b, "{file}");
        }
    }
}

fn skips_by_name(g: &Graph) -> Vec<(String, String)> {
    skip_edges(g)
        .unwrap()
        .iter()
        .map(|e| (g.node(e.from).name.clone(), g.node(e.to).name.clone()))
        .collect()
}

#[test]
fn seed_skip_edges_are_the_two_identity_shortcuts() {
    let c = example("seed.rn");
    let g = c.model.graph();
    let skips = skip_edges(g).unwrap();
    let expected: BTreeSet<Edge> = [(1, 7), (8, 14)]
        .into_iter()
        .map(|(from, to)| Edge {
            from: NodeId(from),
            to: NodeId(to),
            operand: 0,
        })
        .collect();
    assert_eq!(skips, expected);
    assert_eq!(
        skips_by_name(g),
        [
            ("conv", "residual_block.add"),
            ("residual_block.relu_1", "residual_block_1.add")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[test]
fn projection_shortcuts_are_skips_and_independent_branches_are_not() {
    // resnet18: 8 basic blocks; 5 add their input (identity skips), 3 add a
    // downsample branch of 2 layers, shorter than the 5-layer main branch.
    let c = example("resnet18.rn");
    let skips = skips_by_name(c.model.graph());
    let pairs: Vec<(&str, &str)> = skips
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("maxpool", "layer1.0.add"),
            ("layer1.0.relu_1", "layer1.1.add"),
            ("layer1.1.relu_1", "layer2.0.downsample.0"),
            ("layer2.0.downsample.0", "layer2.0.downsample.1"),
            ("layer2.0.downsample.1", "layer2.0.add"),
            ("layer2.0.relu_1", "layer2.1.add"),
            ("layer2.1.relu_1", "layer3.0.downsample.0"),
            ("layer3.0.downsample.0", "layer3.0.downsample.1"),
            ("layer3.0.downsample.1", "layer3.0.add"),
            ("layer3.0.relu_1", "layer3.1.add"),
            ("layer3.1.relu_1", "layer4.0.downsample.0"),
            ("layer4.0.downsample.0", "layer4.0.downsample.1"),
            ("layer4.0.downsample.1", "layer4.0.add"),
            ("layer4.0.relu_1", "layer4.1.add"),
        ]
    );
    // two_heads: concat(trunk, extra) joins branches from two different inputs.
    assert!(
        skip_edges(example("two_heads.rn").model.graph())
            .unwrap()
            .is_empty()
    );
    // plain18: the same network without shortcuts has no skip edge.
    assert!(
        skip_edges(example("plain18.rn").model.graph())
            .unwrap()
            .is_empty()
    );
    // densenet121: every dense layer concatenates its input (operand 0) to its new features.
    let c = example("densenet121.rn");
    let skips = skip_edges(c.model.graph()).unwrap();
    assert_eq!(skips.len(), 6 + 12 + 24 + 16);
    assert!(skips.iter().all(|e| e.operand == 0));
}

#[test]
fn branches_of_equal_length_are_not_skips_and_a_shorter_one_is() {
    let src = |shortcut: &str| {
        format!(
            "model m {{\n  input x: [4, 8, 8]\n  h = x -> relu\n  a = h -> conv(4, 1) -> relu\n  b = h -> {shortcut}\n  a + b\n}}\n"
        )
    };
    let names = |shortcut: &str| {
        let c = resnetc::compile_source("m.rn", &src(shortcut), &CheckOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        skips_by_name(c.model.graph())
    };
    assert_eq!(names("conv(4, 3, pad: 1) -> relu"), []);
    assert_eq!(
        names("conv(4, 3, pad: 1)"),
        [("relu", "conv_1"), ("conv_1", "add")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[test]
fn skip_edges_are_drawn_dashed() {
    let c = example("seed.rn");
    let dot = to_dot(&c.model, &EXPANDED).unwrap();
    let dashed: Vec<&str> = dot.lines().filter(|l| l.contains("style=dashed")).collect();
    assert_eq!(dashed.len(), 2, "{dot}");
    assert!(dashed[0].trim_start().starts_with("n1 -> n7 "), "{dot}");
    assert!(dashed[1].trim_start().starts_with("n8 -> n14 "), "{dot}");
    // Collapsed, the shortcut is inside the boxes: the edge between the two
    // blocks also feeds the second block's first conv, so it is not a skip edge.
    let collapsed = to_dot(&c.model, &COLLAPSED).unwrap();
    assert!(!collapsed.contains("style=dashed"), "{collapsed}");
}

#[test]
fn deep_models_collapse_to_a_column_of_blocks() {
    // As README.md and the `dot` module docs say: ResNet-152 is 50 boxes, DenseNet-121 61.
    for (file, blocks) in [
        ("resnet152.rn", 50),
        ("densenet121.rn", 6 + 12 + 24 + 16 + 3),
    ] {
        let dot = to_dot(&example(file).model, &COLLAPSED).unwrap();
        let boxes = dot
            .lines()
            .filter(|l| l.starts_with("  b") && l.contains("shape=box3d"))
            .count();
        assert_eq!(boxes, blocks, "{file}");
    }
}

#[test]
fn collapsed_boxes_sum_their_parameters() {
    let c = example("seed.rn");
    let dot = to_dot(&c.model, &COLLAPSED).unwrap();
    // conv 64·64·9 + 64 twice, bn 4·64 twice: 74,368.
    assert!(
        dot.contains(
            r#"b0 [label="residual_block: residual_block(filters=64, kernel_size=3)\nN×64×64×64\n74,368 params""#
        ),
        "{dot}"
    );
}

// ---- Graphviz ------------------------------------------------------------

/// One `<g>` of a Graphviz SVG: its class (node, edge, cluster), `<title>`,
/// texts, and whether it has a dashed stroke. Geometry is left out, so two
/// renderings of one DOT compare equal across Graphviz versions.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SvgItem {
    class: String,
    title: String,
    texts: Vec<String>,
    dashed: bool,
}

fn svg_items(svg: &str) -> Vec<SvgItem> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(svg, options)
        .unwrap_or_else(|e| panic!("the SVG does not parse: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut items: Vec<SvgItem> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "g")
        .filter_map(|g| {
            let class = g.attribute("class")?;
            if !matches!(class, "node" | "edge" | "cluster") {
                return None;
            }
            let title = g
                .children()
                .find(|c| c.tag_name().name() == "title")
                .and_then(|t| t.text())
                .unwrap_or_else(|| panic!("a {class} without a <title>"))
                .to_string();
            let texts = g
                .descendants()
                .filter(|c| c.tag_name().name() == "text")
                .map(|t| t.text().unwrap_or("").to_string())
                .collect();
            let dashed = g
                .descendants()
                .any(|c| c.attribute("stroke-dasharray").is_some());
            Some(SvgItem {
                class: class.to_string(),
                title,
                texts,
                dashed,
            })
        })
        .collect();
    items.sort();
    items
}

fn titles(items: &[SvgItem], class: &str) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| i.class == class)
        .map(|i| i.title.clone())
        .collect()
}

fn outermost(g: &Graph, mut id: InstanceId) -> InstanceId {
    while let Some(p) = g.instances[id.0 as usize].parent {
        id = p;
    }
    id
}

/// The DOT node ids the picture must have, worked out from the graph.
fn expected_nodes(g: &Graph, expand: bool) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| match n.instance {
            Some(inst) if !expand => format!("b{}", outermost(g, inst).0),
            _ => format!("n{i}"),
        })
        .collect();
    ids.extend((0..g.outputs.len()).map(|k| format!("o{k}")));
    ids
}

/// Instances with at least one layer: each is a cluster when expanded.
fn expected_clusters(g: &Graph) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for n in &g.nodes {
        let mut cur = n.instance;
        while let Some(inst) = cur {
            ids.insert(format!("cluster_b{}", inst.0));
            cur = g.instances[inst.0 as usize].parent;
        }
    }
    ids
}

fn render_svg(dot: &str) -> String {
    let svg = render_with_graphviz(dot, ImageFormat::Svg).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(svg).unwrap()
}

#[test]
fn every_example_renders_to_svg_with_one_node_per_expected_node() {
    if tools::required("dot", DOT_INSTALL).is_none() {
        return;
    }
    for path in examples() {
        let c = compile(&path);
        let g = c.model.graph();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for options in [COLLAPSED, EXPANDED] {
            let items = svg_items(&render_svg(&to_dot(&c.model, &options).unwrap()));
            assert_eq!(
                titles(&items, "node"),
                expected_nodes(g, options.expand_blocks),
                "{file} {options:?}"
            );
            let clusters = titles(&items, "cluster");
            if options.expand_blocks {
                assert_eq!(clusters, expected_clusters(g), "{file}");
            } else {
                assert!(clusters.is_empty(), "{file}");
            }
            let dashed = items.iter().filter(|i| i.dashed).count();
            if options.expand_blocks {
                assert_eq!(dashed, skip_edges(g).unwrap().len(), "{file}");
            }
        }
    }
}

#[test]
fn labels_come_through_graphviz_intact() {
    if tools::required("dot", DOT_INSTALL).is_none() {
        return;
    }
    let c = example("seed.rn");
    let items = svg_items(&render_svg(&to_dot(&c.model, &EXPANDED).unwrap()));
    let conv = items.iter().find(|i| i.title == "n1").unwrap();
    assert_eq!(
        conv.texts,
        [
            "conv: conv(out=64, kernel=3, stride=1, pad=1)",
            "N×64×64×64",
            "1,792 params"
        ]
    );
    let skip = items.iter().find(|i| i.title == "n1->n7").unwrap();
    assert!(skip.dashed);
    assert_eq!(skip.texts, ["N×64×64×64"]);
    let plain = items.iter().find(|i| i.title == "n2->n3").unwrap();
    assert!(!plain.dashed);
}

#[test]
fn readme_picture_is_current() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("](docs/seed-graph.svg)"),
        "README.md must show docs/seed-graph.svg"
    );
    assert!(
        readme.contains(README_COMMAND),
        "README.md must say how the picture is made: `{README_COMMAND}`"
    );
    let committed = std::fs::read_to_string(root().join("docs/seed-graph.svg"))
        .expect("docs/seed-graph.svg is committed");
    if tools::required("dot", DOT_INSTALL).is_none() {
        return;
    }
    let c = example("seed.rn");
    let fresh = render_svg(&to_dot(&c.model, &EXPANDED).unwrap());
    assert!(
        svg_items(&committed) == svg_items(&fresh),
        "docs/seed-graph.svg is stale: regenerate it with `cargo run -- {}`",
        README_COMMAND.trim_start_matches("resnetc ")
    );
}

// ---- The command line ------------------------------------------------------

fn resnetc() -> Command {
    let mut c = Command::cargo_bin("resnetc").unwrap();
    c.current_dir(root());
    c
}

#[test]
fn cli_prints_dot_on_stdout() {
    let out = resnetc()
        .args(["graph", "examples/seed.rn"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, to_dot(&example("seed.rn").model, &COLLAPSED).unwrap());
    assert!(out.stderr.is_empty());
    let out = resnetc()
        .args(["graph", "examples/seed.rn", "--expand-blocks"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, to_dot(&example("seed.rn").model, &EXPANDED).unwrap());
}

#[test]
fn cli_writes_dot_files_and_honours_model_and_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r18.gv");
    resnetc()
        .args(["graph", "examples/resnet18.rn", "--input", "3x64x64", "-o"])
        .arg(&path)
        .assert()
        .success();
    let dot = std::fs::read_to_string(&path).unwrap();
    assert!(dot.contains(r#"digraph "resnet18" {"#), "{dot}");
    assert!(dot.contains("N×3×64×64"), "{dot}");
    let out = resnetc()
        .args(["graph", "examples/two_heads.rn", "--model", "two_heads"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.contains(r#"digraph "two_heads" {"#), "{dot}");
}

#[test]
fn cli_renders_svg() {
    if tools::required("dot", DOT_INSTALL).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r18.svg");
    resnetc()
        .args(["graph", "examples/resnet18.rn", "-o"])
        .arg(&path)
        .assert()
        .success();
    let g = example("resnet18.rn");
    let items = svg_items(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(
        titles(&items, "node"),
        expected_nodes(g.model.graph(), false)
    );
    let png = dir.path().join("seed.png");
    resnetc()
        .args(["graph", "examples/seed.rn", "-o"])
        .arg(&png)
        .assert()
        .success();
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn cli_unknown_extension_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["graph.txt", "graph"] {
        let path = dir.path().join(name);
        let out = resnetc()
            .args(["graph", "examples/seed.rn", "-o"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("`.dot` (or `.gv`), `.svg` or `.png`"), "{err}");
        assert!(!path.exists());
    }
}

#[test]
fn cli_without_graphviz_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.svg");
    let out = resnetc()
        .env("PATH", "")
        .args(["graph", "examples/seed.rn", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`dot` program was not found"), "{err}");
    assert!(err.contains("apt-get install graphviz"), "{err}");
    assert!(err.contains("brew install graphviz"), "{err}");
    assert!(err.contains("-o graph.dot"), "{err}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[cfg(unix)]
#[test]
fn cli_failing_graphviz_shows_its_stderr() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("dot");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'Error: <stdin>: syntax error in line 3' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("seed.svg");
    let out = resnetc()
        .env("PATH", dir.path())
        .args(["graph", "examples/seed.rn", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`dot -Tsvg` failed"), "{err}");
    assert!(err.contains("syntax error in line 3"), "{err}");
    assert!(!path.exists());
}

#[test]
fn cli_help_explains_the_picture() {
    let out = resnetc().args(["graph", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--expand-blocks",
        "every outermost block instance is one box",
        "Skip connections are dashed",
        "apt-get install",
        "`.svg` and `.png` are rendered by Graphviz",
    ] {
        assert!(help.contains(needle), "`{needle}` missing from:\n{help}");
    }
}

#[test]
fn cli_model_errors_exit_1() {
    let out = resnetc()
        .args(["graph", "tests/errors/e0200_skip_without_projection.rn"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    resnetc()
        .args(["graph", "does/not/exist.rn"])
        .assert()
        .code(2);
}
