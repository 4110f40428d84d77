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
    crate::snapshot_files::each_file("examples", "rn", |path| {
        let c = compile(path);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        insta::assert_snapshot!("summary", Summary::new(&c.model).render());
    });
}

#[test]
fn checked_ir() {
    crate::snapshot_files::each_file("examples", "rn", |path| {
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
    // He et al. (2015), Table 6, option A: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    ("resnet20_cifar.rn", 269_722, Some(1_376), "0.04"),
    ("resnet32_cifar.rn", 464_154, None, "0.07"),
    ("resnet44_cifar.rn", 658_586, None, "0.10"),
    ("resnet56_cifar.rn", 853_018, None, "0.13"),
    ("resnet110_cifar.rn", 1_727_962, None, "0.25"),
    // timm's seresnet50: sum(p.numel() for p in model.parameters()).
    ("seresnet50.rn", 28_088_024, Some(53_120), "4.09"),
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
    let expected = include_str!("../fixtures/resnet18_state_dict_keys.txt");
    let expected: Vec<&str> = expected
        .lines()
        .filter(|l| !l.ends_with("num_batches_tracked") && !l.is_empty())
        .collect();
    assert_eq!(names, expected);
}

/// `examples/seresnet50.rn`'s parameters are timm's `seresnet50` state_dict
/// keys, in order, with their shapes (`fixtures/seresnet50_state_dict_keys.txt`,
/// made by `fixtures/make_residual_fixtures.py`): the SE reduction rounding
/// (timm's `make_divisible`) included.
#[test]
fn seresnet50_names_and_shapes_are_timm_state_dict() {
    let c = compile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seresnet50.rn"));
    let got: Vec<String> = c
        .model
        .graph()
        .params()
        .map(|p| {
            let dims: Vec<String> = p.shape.iter().map(usize::to_string).collect();
            format!("{} {}", p.name, dims.join("x"))
        })
        .collect();
    let expected: Vec<&str> = include_str!("../fixtures/seresnet50_state_dict_keys.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got, expected);
    assert!(expected.contains(&"layer1.0.se.fc1.weight 16x256x1x1"));
    assert!(expected.contains(&"layer4.2.se.fc2.bias 2048"));
}

/// Option B stays a parameter of the same CIFAR definition: projections
/// where the shape changes (`layer2.0.downsample`), ResNet-20's count with them.
#[test]
fn cifar_resnet_option_b_is_a_parameter() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("resnet20_option_b.rn");
    let lib = dir.join("lib/resnet.rn");
    let src = format!(
        "import {:?}\nmodel resnet20_b = resnet_cifar(3, zero_pad: false)\n",
        lib.display().to_string()
    );
    std::fs::write(&file, src).unwrap();
    let c = compile(&file);
    assert_eq!(c.model.costs().trainable_params, 272_474);
    let names: Vec<&str> = c.model.graph().params().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"layer2.0.downsample.0.weight"));
    assert!(names.contains(&"layer3.0.downsample.1.running_var"));
    // Option A has no parameters in its shortcuts: the torchvision-style names.
    let a = compile(&dir.join("resnet20_cifar.rn"));
    let a_names: Vec<&str> = a.model.graph().params().map(|p| p.name.as_str()).collect();
    assert!(!a_names.iter().any(|n| n.contains("downsample")));
    assert_eq!(
        (a_names.first(), a_names.last()),
        (Some(&"conv1.weight"), Some(&"fc.bias"))
    );
    assert!(a_names.contains(&"layer1.0.conv1.weight"));
}

#[test]
fn segmentation_names_and_shapes_are_torchvision_state_dict() {
    let fixtures = [
        (
            "fcn_resnet50.rn",
            include_str!("../fixtures/fcn_resnet50_state_dict_keys.txt"),
        ),
        (
            "deeplabv3_resnet50.rn",
            include_str!("../fixtures/deeplabv3_resnet50_state_dict_keys.txt"),
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
        resnetc::reference_markdown(),
        "run `cargo run -- ops > docs/ops.md`"
    );
}
