//! The model zoo: every example's summary and checked IR as snapshots, and
//! the published figures (Keras, torchvision) asserted exactly.

use std::path::Path;

use resnetc::report::Summary;
use resnetc::{CheckOptions, compile_file};

fn compile(path: &Path) -> resnetc::Compiled {
    // Paths relative to the crate root keep snapshots machine-independent.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = path.strip_prefix(root).unwrap_or(path);
    std::env::set_current_dir(root).unwrap();
    compile_file(rel, &CheckOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn summaries() {
    insta::glob!("../examples", "*.rn", |path| {
        let c = compile(path);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        insta::assert_snapshot!("summary", Summary::new(&c.model).render());
    });
}

#[test]
fn checked_ir() {
    insta::glob!("../examples", "*.rn", |path| {
        let c = compile(path);
        insta::assert_snapshot!("ir", c.model.graph().dump(&c.sources));
    });
}

/// (file, trainable params, non-trainable params, conv+dense mult-adds rounded as published)
const FIGURES: &[(&str, u64, Option<u64>, &str)] = &[
    ("seed.rn", 150_016, Some(512), ""),
    ("resnet18.rn", 11_689_512, None, "1.81"),
    ("resnet34.rn", 21_797_672, None, "3.66"),
    ("resnet50.rn", 25_557_032, None, "4.09"),
    ("resnet101.rn", 44_549_160, None, "7.80"),
    ("resnet152.rn", 60_192_808, None, "11.5"),
    ("resnext50_32x4d.rn", 25_028_904, None, "4.23"),
    ("wide_resnet50_2.rn", 68_883_240, None, "11.4"),
    ("mobilenet_v2.rn", 3_504_872, None, "0.30"),
    ("densenet121.rn", 7_978_856, None, "2.83"),
    ("fcn_resnet50.rn", 32_957_013, None, "26.5"),
    ("deeplabv3_resnet50.rn", 39_638_869, None, "31.3"),
];

#[test]
fn published_parameter_counts_and_mult_adds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for &(file, trainable, non_trainable, gmacs) in FIGURES {
        let c = compile(&root.join(file));
        let costs = c.model.costs();
        assert_eq!(
            costs.trainable_params, trainable,
            "{file}: trainable parameters"
        );
        if let Some(nt) = non_trainable {
            assert_eq!(
                costs.non_trainable_params, nt,
                "{file}: non-trainable parameters"
            );
        }
        if !gmacs.is_empty() {
            let g_macs = costs.mult_adds as f64 / 1e9;
            let digits = gmacs.split('.').nth(1).map_or(0, str::len);
            assert_eq!(format!("{g_macs:.digits$}"), gmacs, "{file}: GMACs");
        }
    }
}

#[test]
fn seed_matches_keras_summary() {
    let c = compile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.rn"));
    let s = Summary::new(&c.model);
    assert_eq!(s.totals.total_params, 150_528);
    assert_eq!(s.totals.trainable_params, 150_016);
    assert_eq!(s.totals.non_trainable_params, 512);
    assert_eq!(s.outputs, vec!["output: N×64×64×64".to_string()]);
}

#[test]
fn resnet18_names_are_torchvision_state_dict_keys() {
    let c = compile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resnet18.rn"));
    let names: Vec<&str> = c.model.graph().params().map(|p| p.name.as_str()).collect();
    let expected = include_str!("fixtures/resnet18_state_dict_keys.txt");
    let expected: Vec<&str> = expected
        .lines()
        .filter(|l| !l.ends_with("num_batches_tracked") && !l.is_empty())
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn segmentation_names_and_shapes_are_torchvision_state_dict() {
    let fixtures = [
        (
            "fcn_resnet50.rn",
            include_str!("fixtures/fcn_resnet50_state_dict_keys.txt"),
        ),
        (
            "deeplabv3_resnet50.rn",
            include_str!("fixtures/deeplabv3_resnet50_state_dict_keys.txt"),
        ),
    ];
    for (file, expected) in fixtures {
        let c = compile(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(file),
        );
        let params: Vec<String> = c
            .model
            .graph()
            .params()
            .map(|p| {
                let dims: Vec<String> = p.shape.iter().map(usize::to_string).collect();
                format!("{} {}", p.name, dims.join("x"))
            })
            .collect();
        let expected: Vec<&str> = expected
            .lines()
            .filter(|l| !l.contains("num_batches_tracked") && !l.is_empty())
            .collect();
        assert_eq!(params, expected, "{file}");
    }
}

#[test]
fn plain_nets_have_no_skip_connections() {
    for f in ["plain18.rn", "plain34.rn"] {
        let c = compile(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(f),
        );
        assert!(
            !c.model
                .graph()
                .nodes
                .iter()
                .any(|n| matches!(n.op, resnetc::ir::Op::Add))
        );
    }
}

#[test]
fn cifar_resnet20_shapes() {
    let c = compile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resnet20_cifar.rn"));
    let s = Summary::new(&c.model);
    assert_eq!(s.inputs, vec!["x: N×3×32×32".to_string()]);
    assert_eq!(s.outputs, vec!["output: N×10".to_string()]);
    let layer3 = c
        .model
        .graph()
        .nodes
        .iter()
        .find(|n| n.name == "layer3.2.relu_1")
        .unwrap();
    assert_eq!(layer3.shape.to_string(), "N×64×8×8");
}

#[test]
fn op_reference_is_in_sync() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ops.md")).unwrap();
    assert_eq!(
        committed,
        resnetc::ir::ops::reference_markdown(),
        "run `cargo run -- ops > docs/ops.md`"
    );
}
