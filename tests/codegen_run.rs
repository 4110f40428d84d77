//! Generated Rust against the interpreter and the PyTorch fixtures.
//!
//! Writes a cargo crate under `target/codegen-test/` (reused between runs;
//! built into this crate's `target/` so dependencies are shared) holding the
//! generated module of every example model (ImageNet models at 3×64×64; not
//! those of [`SAME_CODE_AS_A_FIXTURE`]) and of the fixture nets, compiled under `#![deny(warnings)]`. Its binary, for
//! each model, compiles the same `.rn` with resnetc, initialises weights
//! (`interp::init`), runs the generated `forward` and the interpreter on the
//! same weights and a random batch of 2 in memory, and compares them (max |Δ|
//! ≤ 1e-5 × max(1, |ref|)); then it runs the committed PyTorch fixtures
//! through the generated code (1e-4). Nothing large is written to disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use resnetc::codegen::{EmitOptions, emit};
use resnetc::{CheckOptions, Compiled, compile_file};

#[path = "support/model_gen.rs"]
mod model_gen;

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
    /// Compiled at 3×64×64 instead of its declared 224×224.
    big: bool,
}

fn models() -> Vec<Model> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            (name.ends_with(".rn") && !SAME_CODE_AS_A_FIXTURE.contains(&name.as_str()))
                .then(|| format!("examples/{name}"))
        })
        .collect();
    files.sort();
    for f in FIXTURES {
        files.push(format!("tests/fixtures/nets/{f}.rn"));
    }
    files.extend(regression_cases());
    files.extend(model_gen::write_fixed_set(&root(), model_gen::fixed_set_size()));
    files
        .into_iter()
        .map(|file| {
            let path = root().join(&file);
            let plain = compile_file(&path, &CheckOptions::default())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let g = plain.model.graph();
            // ImageNet-sized models run at 3×64×64 to keep the test fast.
            let big = g.inputs.len() == 1 && g.node(g.inputs[0].node).shape.0 == [3, 224, 224];
            let compiled = if big {
                let options = CheckOptions {
                    model: None,
                    input_shapes: vec![(None, vec![3, 64, 64])],
                };
                compile_file(&path, &options).unwrap_or_else(|e| panic!("{file}: {e}"))
            } else {
                plain
            };
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
                big,
            }
        })
        .collect()
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

/// Examples left out to keep this test's build short: their generated code
/// is that of a model built here with other loop counts or widths
/// (`resnet20_cifar.rn`, the fixtures `resnet20_cifar_w8`, `seresnet50_w4`,
/// `fcn_resnet50_w4` and `deeplabv3_resnet50_w4`).
const SAME_CODE_AS_A_FIXTURE: [&str; 7] = [
    "resnet32_cifar.rn",
    "resnet44_cifar.rn",
    "resnet56_cifar.rn",
    "resnet110_cifar.rn",
    "seresnet50.rn",
    "fcn_resnet50.rn",
    "deeplabv3_resnet50.rn",
];

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

const MAIN: &str = r#"//! Checks every generated model against resnetc's interpreter (see tests/codegen_run.rs).

use std::path::Path;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use codegen_test::*;
use resnetc::interp::{self, Interpreter};
use resnetc::runtime::TensorStore;
use resnetc::runtime::ndarray::{Array, ArrayD, ArrayViewMut, Axis, Dimension, IxDyn, Slice};
use resnetc::{CheckOptions, compile_file};

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

/// A deterministic batch of 2 in [-1, 1).
fn batch(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut dims = vec![2];
    dims.extend_from_slice(shape);
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ArrayD::from_shape_simple_fn(IxDyn(&dims), || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    })
}

fn compare<D: Dimension>(what: &str, got: &resnetc::runtime::ndarray::Array<f32, D>, want: &ArrayD<f32>, tol: f32) {
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

/// Compiles `file` (at `input` when given), initialises its weights, and
/// returns the model, a store of its weights and the interpreter's outputs.
fn reference(file: &str, input: Option<Vec<usize>>, seed: u64) -> (Vec<ArrayD<f32>>, TensorStore, Vec<(String, ArrayD<f32>)>) {
    let options = CheckOptions { model: None, input_shapes: input.map(|s| vec![(None, s)]).unwrap_or_default() };
    let c = compile_file(Path::new(file), &options).expect("compile");
    let g = c.model.graph();
    let weights = interp::init(&c.model, 1);
    let store = TensorStore::from_vec(weights.to_safetensors().expect("serialise")).expect("store");
    let inputs: Vec<ArrayD<f32>> = g.inputs.iter().enumerate()
        .map(|(k, i)| batch(&g.node(i.node).shape.0, seed + k as u64)).collect();
    let out = Interpreter::new(&c.model, &weights).expect("plan").forward(&interp::views(&inputs)).expect("forward");
    (inputs, store, out.outputs)
}

/// The allocations the gemm crate makes in a forward pass of `file` on a
/// batch of 2 (gemm-common 0.19 allocates per product): every convolution,
/// transposed convolution and dense layer run alone, on zeros, after a
/// warm-up call.
fn gemm_allocations(file: &str, input: Option<Vec<usize>>) -> usize {
    use resnetc::ir::Op;
    use resnetc::runtime::kernels as k;
    use resnetc::runtime::ndarray::{Array1, Array2, Array4};
    let options = CheckOptions { model: None, input_shapes: input.map(|s| vec![(None, s)]).unwrap_or_default() };
    let c = compile_file(Path::new(file), &options).expect("compile");
    let g = c.model.graph();
    let shape4 = |s: &[usize]| [2, s[0], s[1], s[2]];
    let mut total = 0;
    for node in &g.nodes {
        match &node.op {
            Op::Conv(p) => {
                let input = &g.node(node.inputs[0]).shape.0;
                let x = Array4::<f32>::zeros(shape4(input));
                let w = Array4::<f32>::zeros([p.out_channels, p.in_channels / p.groups, p.kernel[0], p.kernel[1]]);
                let b = Array1::<f32>::zeros(p.out_channels);
                let mut y = Array4::<f32>::zeros(shape4(&node.shape.0));
                let params = k::Conv2dParams {
                    stride: (p.stride[0], p.stride[1]),
                    padding: k::Padding2d { top: p.padding[0], left: p.padding[1], bottom: p.padding[2], right: p.padding[3] },
                    dilation: (p.dilation[0], p.dilation[1]),
                    groups: p.groups,
                    activation: k::Activation::None,
                };
                let mut run = || k::conv2d_into(x.view(), w.view(), Some(b.view()), &params, y.view_mut()).expect("conv");
                run();
                total += allocations(run);
            }
            Op::ConvTranspose(p) => {
                let input = &g.node(node.inputs[0]).shape.0;
                let x = Array4::<f32>::zeros(shape4(input));
                let w = Array4::<f32>::zeros([p.in_channels, p.out_channels / p.groups, p.kernel[0], p.kernel[1]]);
                let b = Array1::<f32>::zeros(p.out_channels);
                let mut y = Array4::<f32>::zeros(shape4(&node.shape.0));
                let params = k::ConvTranspose2dParams {
                    stride: (p.stride[0], p.stride[1]),
                    padding: (p.padding[0], p.padding[1]),
                    output_padding: (p.output_padding[0], p.output_padding[1]),
                    dilation: (p.dilation[0], p.dilation[1]),
                    groups: p.groups,
                };
                let mut run = || k::conv_transpose2d_into(x.view(), w.view(), Some(b.view()), &params, y.view_mut()).expect("conv_transpose");
                run();
                total += allocations(run);
            }
            Op::Dense(p) => {
                let x = Array2::<f32>::zeros([2, p.in_features]);
                let w = Array2::<f32>::zeros([p.out_features, p.in_features]);
                let mut y = Array2::<f32>::zeros([2, p.out_features]);
                let mut run = || k::dense_into(x.view(), w.view(), None, k::Activation::None, y.view_mut()).expect("dense");
                run();
                total += allocations(run);
            }
            _ => {}
        }
    }
    total
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

fn arm(m: &Model) -> String {
    let big = m.big;
    // Both back ends run the same lowered plan with the same kernels: the
    // same bits, for every model.
    let tol = "0.0";
    let g = m.compiled.model.graph();
    let (module, ty, file) = (&m.module, &m.ty, &m.file);
    let input = if big { "Some(vec![3, 64, 64])" } else { "None" };
    let mut s = format!(
        "    {{\n        let (x, store, want) = reference({file:?}, {input}, 7);\n        let m = {module}::{ty}::from_store(&store).expect(\"{module}: weights\");\n"
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
            "        let y = m.forward({call}).expect(\"{module}: forward\");\n        compare(\"{module} {}\", &y, &want[0].1, {tol});\n",
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
                "        compare(\"{module} {}\", &{y}, &want[{k}].1, {tol});\n",
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
            "        let mut {y}_into = Array::from_elem({y}.raw_dim(), f32::NAN);\n\
             let mut {y}_strided = strided(&{y});\n"
        ));
    }
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
         let gemm = one.install(|| gemm_allocations({file:?}, {input}));\n\
         println!(\"{module}: {{count}} allocations in forward_into, all in gemm ({{gemm}})\");\n\
         assert_eq!(count, gemm, \"{module}: forward_into allocates besides gemm's buffers\");\n\
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
    if FIXTURES.contains(&module.as_str()) {
        s.push_str(&format!(
            "        let m = {module}::{ty}::from_path(Path::new(\"tests/fixtures/nets/{module}.safetensors\")).expect(\"fixture weights\");\n\
             let x = interp::io::read_npy(Path::new(\"tests/fixtures/nets/{module}_input.npy\")).expect(\"input\");\n\
             let want = interp::io::read_npy(Path::new(\"tests/fixtures/nets/{module}_output.npy\")).expect(\"output\");\n\
             let y = m.forward(x.view().into_dimensionality().expect(\"rank\")).expect(\"forward\");\n\
             compare(\"{module} vs PyTorch\", &y, &want, 1e-4);\n"
        ));
    }
    // Keras weights through a name map: the generated `Loader` reads them as
    // the interpreter does (one loader rule, `TensorStore::tensor_mapped`).
    if module == "seed" {
        s.push_str(&format!(
            "        let map = interp::NameMap::from_file(Path::new(\"tests/fixtures/nets/keras_seed.names.yaml\")).expect(\"name map\");\n\
             let file = Path::new(\"tests/fixtures/nets/keras_seed_keras.safetensors\");\n\
             let m = {module}::{ty}::from_store_with(&TensorStore::open(file).expect(\"store\"), &map).expect(\"Keras weights through the name map\");\n\
             let x = interp::io::read_npy(Path::new(\"tests/fixtures/nets/keras_seed_input.npy\")).expect(\"input\");\n\
             let c = compile_file(Path::new(\"examples/seed.rn\"), &CheckOptions::default()).expect(\"compile\");\n\
             let w = interp::WeightsFile::open(file).expect(\"open\").load(&c.model, &map).expect(\"interpreter load\");\n\
             let want = Interpreter::new(&c.model, &w).expect(\"plan\").forward(&[x.view()]).expect(\"forward\");\n\
             let y = m.forward(x.view().into_dimensionality().expect(\"rank\")).expect(\"forward\");\n\
             compare(\"{module} with Keras weights\", &y, &want.outputs[0].1, 0.0);\n"
        ));
    }
    s.push_str("    }\n");
    s
}

#[test]
fn generated_code_matches_interpreter_and_pytorch() {
    let start = Instant::now();
    let dir = root().join("target/codegen-test");
    let mut models = models();
    let mut arms = String::new();
    let mut lib =
        String::from("//! Generated models (see tests/codegen_run.rs).\n#![deny(warnings)]\n\n");
    for m in &mut models {
        let code = emit(
            &m.compiled.model,
            &m.compiled.sources,
            &EmitOptions {
                source_name: m.file.clone(),
                embed_weights: None,
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", m.file));
        m.ty = code
            .lines()
            .find_map(|l| l.strip_prefix("pub struct "))
            // `pub struct Name {` or, without weights, `pub struct Name;`.
            .and_then(|l| l.split([' ', ';']).next())
            .unwrap()
            .to_string();
        write_if_changed(&dir.join(format!("src/{}.rs", m.module)), &code);
        lib.push_str(&format!("pub mod {};\n", m.module));
        arms.push_str(&arm(m));
    }
    write_if_changed(&dir.join("src/lib.rs"), &lib);
    write_if_changed(&dir.join("src/main.rs"), &MAIN.replace("@ARMS@\n", &arms));
    write_if_changed(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"codegen-test\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nresnetc = {{ path = {:?}, default-features = false, features = [\"compiler\"] }}\nrayon = \"1\"\n\n\
             [profile.dev]\nopt-level = 1\n\n[profile.dev.package.\"*\"]\nopt-level = 2\ndebug = false\n\n\
             [profile.dev.package.syn]\nopt-level = 0\n[profile.dev.package.quote]\nopt-level = 0\n[profile.dev.package.proc-macro2]\nopt-level = 0\n\n[workspace]\n",
            root().display().to_string()
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
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the generated code does not compile:\n{}",
        String::from_utf8_lossy(&build.stderr)
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
    eprintln!("total {:.1?}", start.elapsed());
}
