//! Interpreter speed: ResNet-18 and ResNet-50 at 224×224, batch 1 and 8.
//!
//! `cargo bench -p resnetc-benches --bench interp`. Compare against onnxruntime in the same run
//! with `python3 benches/compare_onnxruntime.py` (it prints the ratio).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::ArrayD;
use resnetc::interp::{Interpreter, init};
use resnetc::{CheckOptions, compile_file};
use resnetc_benches::example;

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group.sample_size(10);
    for model in ["resnet18", "resnet50"] {
        let compiled = compile_file(&example(&format!("{model}.rn")), &CheckOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let weights = init(&compiled.model, 0);
        let net = Interpreter::new(&compiled.model, &weights).unwrap();
        for batch in [1usize, 8] {
            let x = ArrayD::<f32>::from_elem(vec![batch, 3, 224, 224], 0.5);
            group.bench_with_input(BenchmarkId::new(model, batch), &x, |b, x| {
                b.iter(|| net.forward(&[x.view()]).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
