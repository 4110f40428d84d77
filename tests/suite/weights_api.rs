//! The weights API: `WeightsFile::open / check / load` and `NameMap`, on
//! good and bad files built here. Every problem is an `Err`, never a panic.

use std::path::{Path, PathBuf};

use resnetc::interp::{NameMap, SHOWN_PROBLEMS, WeightProblem, WeightsError, WeightsFile};
use resnetc::{CheckOptions, Compiled, compile_file};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seed() -> Compiled {
    compile_file(&root().join("examples/seed.rn"), &CheckOptions::default()).unwrap()
}

/// Writes a safetensors file of zero tensors: (name, dtype, shape).
fn write(path: &Path, tensors: &[(String, Dtype, Vec<usize>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, s)| vec![0u8; s.iter().product::<usize>() * d.bitsize() / 8])
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, d, s), b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// The seed model's parameters as (name, F32, shape).
fn seed_params(c: &Compiled) -> Vec<(String, Dtype, Vec<usize>)> {
    c.model
        .graph()
        .params()
        .map(|p| (p.name.clone(), Dtype::F32, p.shape.clone()))
        .collect()
}

fn problems(e: WeightsError) -> Vec<WeightProblem> {
    match e {
        WeightsError::Mismatch { problems, .. } => problems,
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn a_matching_file_checks_and_loads() {
    let c = seed();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let mut t = seed_params(&c);
    t.push((
        "residual_block.bn.num_batches_tracked".into(),
        Dtype::I64,
        vec![],
    ));
    write(&p, &t);
    let f = WeightsFile::open(&p).unwrap();
    f.check(&c.model, &NameMap::default()).unwrap();
    let w = f.load(&c.model, &NameMap::default()).unwrap();
    assert_eq!(w.len(), 26);
    assert!(w.get("conv.weight").unwrap().data.iter().all(|&v| v == 0.0));
}

#[test]
fn every_kind_of_problem_is_reported_at_once() {
    let c = seed();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let mut t = seed_params(&c);
    t.retain(|x| x.0 != "conv.bias");
    for x in t.iter_mut() {
        if x.0 == "conv.weight" {
            x.2 = vec![64, 3, 5, 5];
        }
        if x.0 == "residual_block.bn.weight" {
            x.1 = Dtype::F16;
        }
    }
    t.push(("extra".into(), Dtype::F32, vec![2, 2]));
    write(&p, &t);
    let f = WeightsFile::open(&p).unwrap();
    let all = problems(f.check(&c.model, &NameMap::default()).unwrap_err());
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all.iter()
            .any(|p| matches!(p, WeightProblem::Missing { name, .. } if name == "conv.bias"))
    );
    assert!(all.iter().any(
        |p| matches!(p, WeightProblem::Shape { name, found, expected, .. }
        if name == "conv.weight" && found == &[64, 3, 5, 5] && expected == &[64, 3, 3, 3])
    ));
    assert!(
        all.iter()
            .any(|p| matches!(p, WeightProblem::Dtype { found, .. } if found == "F16"))
    );
    assert!(all.iter().any(|p| matches!(p, WeightProblem::Unexpected { file_name, shape } if file_name == "extra" && shape == &[2, 2])));
    assert_eq!(
        WeightProblem::summarize(&all),
        "1 missing, 1 unexpected, 1 mis-shaped, 1 not F32"
    );
    // load reports the same and returns no weights.
    assert_eq!(
        problems(f.load(&c.model, &NameMap::default()).unwrap_err()),
        all
    );
    // Diagnostics point at the .rn layer, except for tensors the model lacks.
    for p in &all {
        let d = p.to_diagnostic("w.safetensors");
        let text = d.render(&c.sources);
        assert!(text.contains("w.safetensors"), "{text}");
        assert_eq!(
            text.contains("examples/seed.rn:"),
            !matches!(p, WeightProblem::Unexpected { .. }),
            "{text}"
        );
    }
}

#[test]
fn the_mismatch_message_is_capped() {
    let c = seed();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let t: Vec<_> = (0..50)
        .map(|i| (format!("junk.{i:02}"), Dtype::F32, vec![1]))
        .collect();
    write(&p, &t);
    let e = WeightsFile::open(&p)
        .unwrap()
        .check(&c.model, &NameMap::default())
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("(76 problems)"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("  - ")).count(),
        SHOWN_PROBLEMS,
        "{text}"
    );
    assert!(
        text.ends_with("… and 56 more: 50 unexpected, 6 missing"),
        "{text}"
    );
    assert_eq!(problems(e).len(), 76);
}

#[test]
fn unreadable_files_are_io_or_format_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        WeightsFile::open(&dir.path().join("none")),
        Err(WeightsError::Io { .. })
    ));
    assert!(matches!(
        WeightsFile::open(dir.path()),
        Err(WeightsError::Io { .. })
    ));
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("short", vec![1, 2, 3]),
        ("huge", u64::MAX.to_le_bytes().to_vec()),
        (
            "json",
            [5u64.to_le_bytes().to_vec(), b"{\"a\":".to_vec()].concat(),
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        match WeightsFile::open(&p) {
            Err(WeightsError::Format { path, reason }) => {
                assert!(path.ends_with(name) && !reason.is_empty());
            }
            Err(e) => panic!("{name}: expected a format error, got {e}"),
            Ok(_) => panic!("{name}: opened"),
        }
    }
}

#[test]
fn name_map_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.yaml");
    for yaml in ["names: [", "nam: {}", "layout: caffe"] {
        std::fs::write(&p, yaml).unwrap();
        assert!(
            matches!(NameMap::from_file(&p), Err(WeightsError::NameMap { .. })),
            "{yaml}"
        );
    }
    assert!(matches!(
        NameMap::from_file(&dir.path().join("none.yaml")),
        Err(WeightsError::NameMap { .. })
    ));
}

#[test]
fn a_map_entry_to_a_missing_name_is_a_missing_tensor() {
    let c = seed();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    write(&p, &seed_params(&c));
    let map: NameMap = serde_yaml::from_str("names:\n  conv.weight: stem/kernel\n").unwrap();
    let all = problems(
        WeightsFile::open(&p)
            .unwrap()
            .check(&c.model, &map)
            .unwrap_err(),
    );
    assert!(
        all.iter().any(
            |p| matches!(p, WeightProblem::Missing { name, file_name, .. }
        if name == "conv.weight" && file_name == "stem/kernel")
        ),
        "{all:?}"
    );
}

/// The one loader rule generated code shares (`TensorStore::tensor_mapped`):
/// a renamed Keras kernel (HWIO) and dense matrix ([in, out]) come out in
/// resnetc's layout; a name the file lacks is reported under both names.
#[test]
fn tensor_mapped_renames_and_transposes_keras_layouts() {
    use resnetc::interp::{Layout, Tensor, Weights};
    use resnetc::runtime::{Role, TensorStore};
    let mut w = Weights::default();
    let hwio: Vec<f32> = (0..24).map(|v| v as f32).collect();
    w.insert(
        "k",
        Tensor {
            shape: vec![1, 2, 3, 4],
            data: hwio.clone(),
        },
    );
    w.insert(
        "d",
        Tensor {
            shape: vec![2, 3],
            data: (0..6).map(|v| v as f32).collect(),
        },
    );
    let store = TensorStore::from_vec(w.to_safetensors().unwrap()).unwrap();
    let map = NameMap::new(Layout::Keras)
        .rename("conv.weight", "k")
        .rename("fc.weight", "d");
    let k = store
        .tensor_mapped("conv.weight", &[4, 3, 1, 2], &map, Role::ConvKernel)
        .unwrap();
    for (o, i, h, x) in [(0, 0, 0, 0), (3, 2, 0, 1), (1, 2, 0, 0), (2, 0, 0, 1)] {
        // HWIO index [h, x, i, o] in row-major order.
        let flat = ((h * 2 + x) * 3 + i) * 4 + o;
        assert_eq!(k[[o, i, h, x]], hwio[flat], "OIHW [{o}, {i}, {h}, {x}]");
    }
    let d = store
        .tensor_mapped("fc.weight", &[3, 2], &map, Role::DenseWeight)
        .unwrap();
    assert_eq!(d[[2, 1]], 5.0); // [in = 1, out = 2] in the file
    // Torch layout: read as stored; a missing tensor names the file's name too.
    let torch = NameMap::default().rename("conv.weight", "k");
    let same = store
        .tensor_mapped("conv.weight", &[1, 2, 3, 4], &torch, Role::ConvKernel)
        .unwrap();
    assert_eq!(same.as_slice().unwrap(), hwio.as_slice());
    let err = store
        .tensor_mapped(
            "bn.weight",
            &[4],
            &map.rename("bn.weight", "gamma"),
            Role::Other,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("`gamma` (resnetc's `bn.weight`"), "{err}");
}
