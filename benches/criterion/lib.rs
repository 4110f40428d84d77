//! Criterion benchmarks of resnetc: `frontend.rs` (parse + check of
//! ResNet-152) and `interp.rs` (the interpreter's forward pass on ResNet-18
//! and ResNet-50). Run them with `cargo bench -p resnetc-benches`.

use std::path::{Path, PathBuf};

/// An `.rn` file of the repository's `examples/`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}
