//! The committed ONNX protobuf types (`src/export/onnx.rs`) are exactly what
//! `prost-build` + `protox` generate from the vendored
//! `third_party/onnx/onnx.proto`. `RESNETC_BLESS=1` rewrites the committed
//! file instead of failing (after updating the .proto).

use std::path::Path;

#[test]
fn generated_onnx_types_match_the_vendored_proto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = root.join("third_party/onnx");
    let fds = protox::Compiler::new([&proto_dir])
        .expect("protox compiler")
        .include_source_info(true)
        .include_imports(true)
        .open_file("onnx.proto")
        .expect("third_party/onnx/onnx.proto compiles")
        .file_descriptor_set();
    let out = tempfile::tempdir().expect("temp dir");
    prost_build::Config::new()
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("prost-build generates Rust from the descriptors");
    let generated =
        std::fs::read_to_string(out.path().join("onnx.rs")).expect("prost-build wrote onnx.rs");
    let committed_path = root.join("src/export/onnx.rs");
    if std::env::var_os("RESNETC_BLESS").is_some() {
        std::fs::write(&committed_path, &generated).expect("write src/export/onnx.rs");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "src/export/onnx.rs differs from what prost-build generates from third_party/onnx/onnx.proto \
         ({} vs {} bytes); regenerate it with `RESNETC_BLESS=1 cargo test --test suite onnx_proto::` and commit it",
        committed.len(),
        generated.len()
    );
}
