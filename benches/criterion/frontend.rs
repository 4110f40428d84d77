//! Front-end benchmarks: parsing, and parsing + checking, of ResNet-152.
//!
//! The target is under 5 ms for parse + check of `examples/resnet152.rn`
//! (imports included). Run with `cargo bench -p resnetc-benches --bench frontend`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use resnetc::CheckOptions;
use resnetc::span::FileId;
use resnetc_benches::example;

fn frontend(c: &mut Criterion) {
    let resnet152 = example("resnet152.rn");
    let options = CheckOptions::default();
    // Fail early (and readably) if the example does not compile.
    if let Err(e) = resnetc::compile_file(&resnet152, &options) {
        panic!("examples/resnet152.rn does not compile: {e}");
    }

    let mut g = c.benchmark_group("resnet152");
    g.bench_function("parse+check (compile_file)", |b| {
        b.iter(|| resnetc::compile_file(black_box(&resnet152), &options).unwrap())
    });
    g.bench_function("parse (syntax::load, imports included)", |b| {
        b.iter(|| resnetc::syntax::load(black_box(&resnet152)).unwrap())
    });
    g.finish();

    // Parsing alone, from memory: no file system.
    let lib = std::fs::read_to_string(example("lib/resnet.rn")).unwrap();
    let main = std::fs::read_to_string(&resnet152).unwrap();
    let mut g = c.benchmark_group("parse_module");
    g.bench_function("lib/resnet.rn", |b| {
        b.iter(|| resnetc::syntax::parse_module(FileId(0), black_box(&lib)))
    });
    g.bench_function("resnet152.rn", |b| {
        b.iter(|| resnetc::syntax::parse_module(FileId(0), black_box(&main)))
    });
    g.finish();
}

criterion_group!(benches, frontend);
criterion_main!(benches);
