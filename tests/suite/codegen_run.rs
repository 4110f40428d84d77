//! Generated Rust against the interpreter and the PyTorch fixtures.
//!
//! Writes a cargo crate under `target/codegen-test/` (reused between runs;
//! built into this crate's `target/`, where dependencies with matching settings and features are reused) holding the
//! generated module of every example model (ImageNet models at 3×64×64; not
//! those of [`LEFT_OUT`]), of the fixture nets and of the
//! regression cases, compiled under `#![deny(warnings)]`. The crate depends on
//! `resnetc::runtime` only, as generated code does, so the compiler is not
//! built a second time: this test compiles each model, initialises its
//! weights (`interp::init`), runs the interpreter on a deterministic batch
//! of 2 and writes weights, inputs and outputs as safetensors under
//! `target/codegen-test/data/` (removed after a passing run). The crate's
//! binary runs the generated `forward` on them and compares **bits**; then
//! it runs the committed PyTorch fixtures through the generated code (1e-4).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rayon::prelude::*;
use resnetc::codegen::{EmitOptions, emit};
use resnetc::interp::{self, Interpreter};
use resnetc::runtime::ndarray::ArrayD;
use resnetc::{CheckOptions, Compiled, compile_file};

use crate::model_gen;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One model of the test crate.
struct Model {
    /// The module name.
    module: String,
    /// The `.rn` file, relative to the crate root.
    file: String,
    compiled: Compiled,
    /// The generated model struct.
    ty: String,
    /// Emitted and interpreted with Winograd (`--winograd`).
    winograd: bool,
}

fn models() -> Vec<Model> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            (name.ends_with(".rn") && !LEFT_OUT.iter().any(|(left, _)| *left == name))
                .then(|| format!("examples/{name}"))
        })
        .collect();
    files.sort();
    for f in FIXTURES {
        files.push(format!("tests/fixtures/nets/{f}.rn"));
    }
    files.extend(regression_cases());
    files.extend(model_gen::write_fixed_set(&root()));
    files
        .into_iter()
        .map(|file| {
            let compiled = compile_for_test(&file);
            let module = Path::new(&file)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            Model {
                module,
                file,
                compiled,
                ty: String::new(),
                winograd: false,
            }
        })
        .chain(std::iter::once_with(|| {
            // The seed again with Winograd: its block convolutions are
            // eligible (64 channels on 64×64 maps).
            let file = "examples/seed.rn".to_string();
            Model {
                module: "seed_winograd".into(),
                compiled: compile_for_test(&file),
                file,
                ty: String::new(),
                winograd: true,
            }
        }))
        .collect()
}

/// `file` (relative to the crate root) compiled as this test runs it:
/// ImageNet-sized models at 3×64×64 to keep the test fast.
fn compile_for_test(file: &str) -> Compiled {
    let path = root().join(file);
    let plain =
        compile_file(&path, &CheckOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let g = plain.model.graph();
    let big = g.inputs.len() == 1 && g.node(g.inputs[0].node).shape.0 == [3, 224, 224];
    if !big {
        return plain;
    }
    let options = CheckOptions {
        model: None,
        input_shapes: vec![(None, vec![3, 64, 64])],
    };
    compile_file(&path, &options).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The generated Rust of `file` as this test builds it.
fn emit_for_test(file: &str, compiled: &Compiled, winograd: bool) -> String {
    emit(
        &compiled.model,
        &compiled.sources,
        &EmitOptions {
            source_name: file.to_string(),
            embed_weights: None,
            winograd,
        },
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The fixture nets of `tests/fixtures/nets/`, run against PyTorch / timm too.
const FIXTURES: [&str; 7] = [
    "resnet18_w8",
    "resnet50_w8",
    "mixed",
    "resnet20_cifar_w8",
    "seresnet50_w4",
    "fcn_resnet50_w4",
    "deeplabv3_resnet50_w4",
];

/// Examples left out to keep this test's build short, each with the model
/// built here whose generated code it repeats with other loop counts,
/// widths, group counts and names
/// (`left_out_examples_repeat_the_code_of_a_model_built_here` holds each to
/// that).
const LEFT_OUT: [(&str, &str); 12] = [
    (
        "resnet20_cifar.rn",
        "tests/fixtures/nets/resnet20_cifar_w8.rn",
    ),
    ("resnet44_cifar.rn", "examples/resnet32_cifar.rn"),
    ("resnet56_cifar.rn", "examples/resnet32_cifar.rn"),
    ("resnet110_cifar.rn", "examples/resnet32_cifar.rn"),
    ("resnet101.rn", "examples/resnet50.rn"),
    ("resnet152.rn", "examples/resnet50.rn"),
    ("wide_resnet50_2.rn", "examples/resnet50.rn"),
    ("resnext50_32x4d.rn", "examples/resnet50.rn"),
    ("seresnet50.rn", "tests/fixtures/nets/seresnet50_w4.rn"),
    ("fcn_resnet50.rn", "tests/fixtures/nets/fcn_resnet50_w4.rn"),
    (
        "deeplabv3_resnet50.rn",
        "tests/fixtures/nets/deeplabv3_resnet50_w4.rn",
    ),
    ("resnet18.rn", "tests/fixtures/nets/resnet18_w8.rn"),
];

/// The model struct of generated code: its first `pub struct Name {` or,
/// without weights, `pub struct Name;`.
fn model_struct(file: &str, code: &str) -> String {
    code.lines()
        .find_map(|l| l.strip_prefix("pub struct "))
        .and_then(|l| l.split([' ', ';']).next())
        .unwrap_or_else(|| panic!("{file}: the generated code has no model struct"))
        .to_string()
}

/// The generated code of `file` as tokens to compare: comments, whitespace
/// and the commas rustfmt adds when it wraps a list are dropped, the
/// model's names replaced by placeholders and every number by `0`. Two
/// models that differ only in loop counts, widths or names give one string.
fn code_shape(file: &str) -> String {
    let compiled = compile_for_test(file);
    let code = emit_for_test(file, &compiled, false);
    let name = &compiled.model.graph().name;
    let ty = model_struct(file, &code);
    let mut out = String::with_capacity(code.len());
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let line = line.replace(&ty, "TYPE").replace(name.as_str(), "NAME");
        for c in line.chars().filter(|c| !c.is_whitespace()) {
            let last = out.chars().last();
            if c.is_ascii_digit() {
                if last != Some('0') {
                    out.push('0');
                }
                continue;
            }
            if matches!(c, ')' | ']' | '}') && last == Some(',') {
                out.pop();
            }
            out.push(c);
        }
    }
    out
}

#[test]
fn left_out_examples_repeat_the_code_of_a_model_built_here() {
    LEFT_OUT.par_iter().for_each(|(left, stand_in)| {
        let left = format!("examples/{left}");
        let (a, b) = (code_shape(&left), code_shape(stand_in));
        if a != b {
            let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            let around =
                |s: &str| -> String { s.chars().skip(at.saturating_sub(100)).take(160).collect() };
            panic!(
                "{left} is not {stand_in} with other numbers; they part at\n  {}\n  {}",
                around(&a),
                around(&b)
            );
        }
    });
}

/// Small models whose generated code once failed to compile or warned
/// (issue 8), one per file.
const CASES: &str = "tests/codegen_cases";

/// The regression cases, sorted.
fn regression_cases() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(CASES))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(".rn").then(|| format!("{CASES}/{name}"))
        })
        .collect();
    files.sort();
    files
}

/// Writes `text` to `path` unless it already holds it (keeps cargo's mtimes).
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The Keras weights of the seed model and the name map that reads them.
const KERAS_WEIGHTS: &str = "tests/fixtures/nets/keras_seed_keras.safetensors";
const KERAS_NAMES: &str = "tests/fixtures/nets/keras_seed.names.yaml";

/// Shapes (batch included) of the tensors [`write_reference`] wrote for one
/// model.
struct Written {
    inputs: Vec<Vec<usize>>,
    outputs: Vec<Vec<usize>>,
    /// The PyTorch fixture's input and output (fixture nets).
    fixture: Option<(Vec<usize>, Vec<usize>)>,
    /// The Keras seed's input and output, and the name map as Rust.
    keras: Option<(Vec<usize>, Vec<usize>, String)>,
}

/// `tensors` as safetensors bytes.
fn safetensors(tensors: &[(String, ArrayD<f32>)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| t.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, t), b)| {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape().to_vec(), b)
                .unwrap();
        (name.clone(), view)
    });
    safetensors::serialize(views, None).unwrap()
}

/// Initialises `m`'s weights, runs the interpreter on a deterministic batch
/// and writes weights, inputs and outputs under `data` for the generated
/// crate; for fixture nets and the seed also the PyTorch and Keras cases.
fn write_reference(m: &Model, data: &Path) -> Written {
    let model = &m.compiled.model;
    let g = model.graph();
    let weights = interp::init(model, 1);
    std::fs::write(
        data.join(format!("{}.weights.safetensors", m.module)),
        weights.to_safetensors().unwrap(),
    )
    .unwrap();
    let inputs: Vec<ArrayD<f32>> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(k, i)| model_gen::batch(2, &g.node(i.node).shape.0, 7 + k as u64))
        .collect();
    let options = interp::RunOptions {
        winograd: m.winograd,
    };
    let out = Interpreter::with_options(model, weights.clone(), &options)
        .and_then(|i| i.forward(&interp::views(&inputs)))
        .unwrap_or_else(|e| panic!("{}: interpreter: {e}", m.file));
    let shapes = |ts: &[ArrayD<f32>]| ts.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>();
    let outputs: Vec<ArrayD<f32>> = out.outputs.into_iter().map(|(_, t)| t).collect();
    let mut written = Written {
        inputs: shapes(&inputs),
        outputs: shapes(&outputs),
        fixture: None,
        keras: None,
    };
    let mut io: Vec<(String, ArrayD<f32>)> = Vec::new();
    let mut add = |prefix: &str, ts: Vec<ArrayD<f32>>| {
        for (k, t) in ts.into_iter().enumerate() {
            io.push((format!("{prefix}.{k}"), t));
        }
    };
    add("input", inputs);
    add("output", outputs);
    if FIXTURES.contains(&m.module.as_str()) {
        let read = |what: &str| {
            let path = root().join(format!("tests/fixtures/nets/{}_{what}.npy", m.module));
            interp::io::read_npy(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let (x, y) = (read("input"), read("output"));
        written.fixture = Some((x.shape().to_vec(), y.shape().to_vec()));
        add("fixture.input", vec![x]);
        add("fixture.output", vec![y]);
    }
    if m.module == "seed" {
        let map = interp::NameMap::from_file(&root().join(KERAS_NAMES)).unwrap();
        let file = interp::WeightsFile::open(&root().join(KERAS_WEIGHTS)).unwrap();
        let w = file.load(model, &map).expect("Keras weights");
        let x =
            interp::io::read_npy(&root().join("tests/fixtures/nets/keras_seed_input.npy")).unwrap();
        let y = Interpreter::new(model, &w)
            .and_then(|i| i.forward(&[x.view()]))
            .expect("Keras seed")
            .outputs
            .remove(0)
            .1;
        let mut code = format!("NameMap::new(resnetc::runtime::Layout::{:?})", map.layout);
        for (name, file_name) in &map.names {
            code.push_str(&format!(".rename({name:?}, {file_name:?})"));
        }
        written.keras = Some((x.shape().to_vec(), y.shape().to_vec(), code));
        add("keras.input", vec![x]);
        add("keras.output", vec![y]);
    }
    std::fs::write(
        data.join(format!("{}.io.safetensors", m.module)),
        safetensors(&io),
    )
    .unwrap();
    written
}

/// `&[&[2, 3, 8, 8], …]`
fn shapes(shapes: &[Vec<usize>]) -> String {
    let items: Vec<String> = shapes.iter().map(|s| format!("&{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

const MAIN: &str = r#"//! Checks every generated model against resnetc's interpreter (see tests/suite/codegen_run.rs).

use std::path::Path;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use codegen_test::*;
use resnetc::runtime::ndarray::{Array, ArrayD, ArrayViewMut, Axis, Dimension, Slice};
use resnetc::runtime::{NameMap, TensorStore};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// A zeroed buffer of `like`'s shape that is not in standard layout (every
/// other sample of a batch twice as large).
fn strided<D: Dimension>(like: &Array<f32, D>) -> Array<f32, D> {
    let mut dim = like.raw_dim();
    dim[0] *= 2;
    Array::zeros(dim)
}

fn every_other<'a, D: Dimension>(a: &'a mut Array<f32, D>) -> ArrayViewMut<'a, f32, D> {
    a.slice_axis_mut(Axis(0), Slice::new(0, None, 2))
}

fn compare<D: Dimension>(what: &str, got: &Array<f32, D>, want: &ArrayD<f32>, tol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: output shape");
    if tol == 0.0 {
        // Exact: the same bits (so -0.0 differs from 0.0, and NaN must match).
        for (a, b) in got.iter().zip(want.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "{what}: got {a}, expected {b} (bit for bit)");
        }
        println!("{what}: identical bits");
        return;
    }
    let mut worst = 0.0f32;
    for (a, b) in got.iter().zip(want.iter()) {
        let err = (a - b).abs() / b.abs().max(1.0);
        assert!(err <= tol, "{what}: got {a}, expected {b}");
        worst = worst.max(err);
    }
    println!("{what}: max rel. error {worst:.1e}");
}

/// What the test wrote for `module`: its weights and its inputs and outputs.
fn load(module: &str) -> (TensorStore, TensorStore) {
    let open = |file: String| TensorStore::open(Path::new(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    (open(format!("target/codegen-test/data/{module}.weights.safetensors")), open(format!("target/codegen-test/data/{module}.io.safetensors")))
}

/// The tensors `{prefix}.0`, `{prefix}.1`, … of `shapes`.
fn tensors(io: &TensorStore, prefix: &str, shapes: &[&[usize]]) -> Vec<ArrayD<f32>> {
    shapes
        .iter()
        .enumerate()
        .map(|(k, s)| io.tensor(&format!("{prefix}.{k}"), s).unwrap_or_else(|e| panic!("{prefix}.{k}: {e}")))
        .collect()
}

fn main() {
    let root = std::env::args().nth(1).expect("crate root");
    std::env::set_current_dir(&root).expect("crate root");
    // One rayon thread, so that the allocation counts are those of the
    // forward pass and not of rayon's bookkeeping.
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
@ARMS@
    println!("all generated models match");
}
"#;

fn arm(m: &Model, w: &Written) -> String {
    // Both back ends run the same lowered plan with the same kernels: the
    // same bits, for every model.
    let tol = "0.0";
    let g = m.compiled.model.graph();
    let (module, ty) = (&m.module, &m.ty);
    let mut s = format!(
        "    {{\n        let (store, io) = load({module:?});\n        let x = tensors(&io, \"input\", &{});\n        let want = tensors(&io, \"output\", &{});\n        let m = {module}::{ty}::from_store(&store).expect(\"{module}: weights\");\n",
        shapes(&w.inputs),
        shapes(&w.outputs)
    );
    let views: Vec<String> = (0..g.inputs.len())
        .map(|k| format!("x[{k}].view().into_dimensionality().expect(\"rank\")"))
        .collect();
    let call = if views.len() == 1 {
        views[0].clone()
    } else {
        format!("({})", views.join(", "))
    };
    if g.outputs.len() == 1 {
        s.push_str(&format!(
            "        let y = m.forward({call}).expect(\"{module}: forward\");\n        compare(\"{module} {}\", &y, &want[0], {tol});\n",
            g.outputs[0].name
        ));
    } else {
        let ys: Vec<String> = (0..g.outputs.len()).map(|k| format!("y{k}")).collect();
        s.push_str(&format!(
            "        let ({}) = m.forward({call}).expect(\"{module}: forward\");\n",
            ys.join(", ")
        ));
        for (k, (y, o)) in ys.iter().zip(&g.outputs).enumerate() {
            s.push_str(&format!(
                "        compare(\"{module} {}\", &{y}, &want[{k}], {tol});\n",
                o.name
            ));
        }
    }
    // forward_into: the same values in reused buffers that hold stale data
    // (a previous batch), no allocation of its own, errors for bad buffers.
    let ys: Vec<String> = (0..g.outputs.len()).map(|k| format!("y{k}")).collect();
    let noise: Vec<String> = (0..g.inputs.len())
        .map(|k| format!("noise[{k}].view().into_dimensionality().expect(\"rank\")"))
        .collect();
    let tuple = |v: Vec<String>| {
        if v.len() == 1 {
            v[0].clone()
        } else {
            format!("({})", v.join(", "))
        }
    };
    let noise_call = tuple(noise);
    let bufs = tuple(ys.iter().map(|y| format!("{y}_into.view_mut()")).collect());
    let strided_bufs = tuple(
        ys.iter()
            .enumerate()
            .map(|(k, y)| {
                if k == 0 {
                    format!("every_other(&mut {y}_strided)")
                } else {
                    format!("{y}_into.view_mut()")
                }
            })
            .collect(),
    );
    if g.outputs.len() == 1 {
        s.push_str("        let y0 = y;\n");
    }
    for y in &ys {
        s.push_str(&format!(
            "        let mut {y}_into = Array::from_elem({y}.raw_dim(), f32::NAN);\n"
        ));
    }
    // The first output, in a strided buffer (the others are not reached).
    s.push_str(&format!(
        "        let mut {}_strided = strided(&{});\n",
        ys[0], ys[0]
    ));
    s.push_str(&format!(
        "        let noise: Vec<ArrayD<f32>> = x.iter().map(|a| a.mapv(|v| 3.0 * v + 1.0)).collect();\n\
         let mut ws = {module}::{ty}Workspace::new(3);\n\
         m.forward_into({noise_call}, {bufs}, &mut ws).expect(\"{module}: forward_into\");\n\
         m.forward_into({call}, {bufs}, &mut ws).expect(\"{module}: forward_into\");\n"
    ));
    for y in &ys {
        s.push_str(&format!(
            "        assert!({y}_into == {y}, \"{module}: forward_into differs from forward\");\n"
        ));
    }
    s.push_str(&format!(
        "        let count = one.install(|| {{\n\
             m.forward_into({call}, {bufs}, &mut ws).expect(\"warm-up\");\n\
             allocations(|| m.forward_into({call}, {bufs}, &mut ws).expect(\"{module}: forward_into\"))\n\
         }});\n\
         assert_eq!(count, 0, \"{module}: forward_into allocates\");\n\
         let mut small = {module}::{ty}Workspace::new(1);\n\
         assert!(matches!(m.forward_into({call}, {bufs}, &mut small), Err({module}::ForwardError::Workspace {{ batch: 2, capacity: 1 }})));\n\
         assert!(matches!(m.forward_into({call}, {strided_bufs}, &mut ws), Err({module}::ForwardError::OutputShape {{ .. }})));\n"
    ));
    // A wrong input shape is an error, not a panic: the first input cut to
    // size 1 along its first dimension that is larger (C, else H, else W).
    let first_shape = &g.node(g.inputs[0].node).shape.0;
    let cut = first_shape.iter().position(|&d| d > 1).map(|k| k + 1);
    let bad: Vec<String> = views
        .iter()
        .enumerate()
        .map(|(k, v)| {
            if k == 0 {
                format!("x[0].view().into_dimensionality::<resnetc::runtime::ndarray::Ix4>().expect(\"rank\").slice_axis(resnetc::runtime::ndarray::Axis({}), (0..1).into())", cut.unwrap_or(1))
            } else {
                v.clone()
            }
        })
        .collect();
    let bad = if bad.len() == 1 {
        bad[0].clone()
    } else {
        format!("({})", bad.join(", "))
    };
    if first_shape.len() == 3 && cut.is_some() {
        s.push_str(&format!(
            "        assert!(matches!(m.forward({bad}), Err({module}::ForwardError::InputShape {{ .. }})));\n"
        ));
    }
    // The committed PyTorch fixtures, through the generated code.
    if let Some((x, y)) = &w.fixture {
        s.push_str(&format!(
            "        let m = {module}::{ty}::from_path(Path::new(\"tests/fixtures/nets/{module}.safetensors\")).expect(\"fixture weights\");\n\
             let x = tensors(&io, \"fixture.input\", &[&{x:?}]);\n\
             let want = tensors(&io, \"fixture.output\", &[&{y:?}]);\n\
             let y = m.forward(x[0].view().into_dimensionality().expect(\"rank\")).expect(\"forward\");\n\
             compare(\"{module} vs PyTorch\", &y, &want[0], 1e-4);\n"
        ));
    }
    // Keras weights through a name map: the generated `Loader` reads them as
    // the interpreter does (one loader rule, `TensorStore::tensor_mapped`).
    if let Some((x, y, map)) = &w.keras {
        s.push_str(&format!(
            "        let map = {map};\n\
             let file = Path::new(\"{KERAS_WEIGHTS}\");\n\
             let m = {module}::{ty}::from_store_with(&TensorStore::open(file).expect(\"store\"), &map).expect(\"Keras weights through the name map\");\n\
             let x = tensors(&io, \"keras.input\", &[&{x:?}]);\n\
             let want = tensors(&io, \"keras.output\", &[&{y:?}]);\n\
             let y = m.forward(x[0].view().into_dimensionality().expect(\"rank\")).expect(\"forward\");\n\
             compare(\"{module} with Keras weights\", &y, &want[0], 0.0);\n"
        ));
    }
    s.push_str("    }\n");
    s
}

/// The features that `cargo test` turns on, through resnetc's CLI and
/// dev-dependencies, in crates the runtime depends on: declared by the
/// generated crate too, they give the runtime's dependencies (ndarray,
/// rayon, serde…) the feature sets, and so the artifacts, of the
/// test build, and this test compiles only resnetc's runtime and the
/// generated code (77 s of CPU instead of 134 s). A stale entry costs
/// build time, never correctness. `[build-dependencies]`: the proc macros'
/// `syn`, resolved apart from normal dependencies.
const TEST_BUILD_FEATURES: &str = r#"either = { version = "1", default-features = false, features = ["use_std"] }
getrandom = { version = "0.4", features = ["std", "sys_rng"] }
memchr = { version = "2", features = ["use_std"] }
num-integer = { version = "0.1", default-features = false, features = ["i128"] }
num-traits = { version = "0.2", features = ["libm", "i128"] }
once_cell = "1"

[build-dependencies]
syn = { version = "3", features = ["extra-traits", "fold", "full", "visit"] }
"#;

/// Every `[profile.dev.package.…]` table of resnetc's own Cargo.toml, for
/// the generated crate: with the same settings, a dependency whose features
/// match the test build's (see [`TEST_BUILD_FEATURES`]) is the artifact
/// `cargo test` already built.
fn dependency_profiles() -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut out = String::new();
    let mut keep = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            keep = line.starts_with("[profile.dev.package.");
        }
        if keep && !line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains("[profile.dev.package.\"*\"]"),
        "no dependency profile in Cargo.toml:\n{out}"
    );
    out
}

#[test]
fn generated_code_matches_interpreter_and_pytorch() {
    let start = Instant::now();
    let dir = root().join("target/codegen-test");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut models = models();
    let mut arms = String::new();
    let mut lib = String::from(
        "//! Generated models (see tests/suite/codegen_run.rs).\n#![deny(warnings)]\n\n",
    );
    // Weights, inputs and the interpreter's outputs: independent per model,
    // so computed on every core (most of this test's time before the build).
    let written: Vec<Written> = models
        .par_iter()
        .map(|m| write_reference(m, &data))
        .collect();
    for (m, written) in models.iter_mut().zip(&written) {
        let code = emit_for_test(&m.file, &m.compiled, m.winograd);
        if m.winograd {
            assert!(
                code.contains("Conv::winograd("),
                "{}: no Winograd layer",
                m.file
            );
        }
        m.ty = model_struct(&m.file, &code);
        write_if_changed(&dir.join(format!("src/{}.rs", m.module)), &code);
        lib.push_str(&format!("pub mod {};\n", m.module));
        arms.push_str(&arm(m, written));
    }
    eprintln!("references written in {:.1?}", start.elapsed());
    write_if_changed(&dir.join("src/lib.rs"), &lib);
    write_if_changed(&dir.join("src/main.rs"), &MAIN.replace("@ARMS@\n", &arms));
    write_if_changed(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"codegen-test\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nresnetc = {{ path = {:?}, default-features = false }}\nrayon = \"1\"\n{}\n\
             [profile.dev]\nopt-level = 1\n\n{}\n[workspace]\n",
            root().display().to_string(),
            TEST_BUILD_FEATURES,
            dependency_profiles(),
        ),
    );
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
    let target = root().join("target");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "")
        // .ci/run builds with clippy as the compiler of workspace members;
        // the generated crate is compiled as a user's is (its warnings are
        // errors through its own `#![deny(warnings)]`).
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the generated code does not compile:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    // resnetc built as generated code uses it (the runtime alone) and the
    // test crate's own binary compile without a warning too (cargo repeats
    // a fresh unit's warnings, so this holds on a reused build as well).
    let build_log = String::from_utf8_lossy(&build.stderr);
    assert!(
        !build_log.contains("warning"),
        "the runtime-only resnetc or the test crate warns:\n{build_log}"
    );
    eprintln!("built in {:.1?}", start.elapsed());
    let run = Command::new(target.join("debug/codegen-test"))
        .arg(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    eprintln!("{stdout}");
    assert!(
        run.status.success(),
        "generated code differs from the interpreter:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("all generated models match"));
    std::fs::remove_dir_all(&data).unwrap();
    eprintln!("total {:.1?}", start.elapsed());
}
