//! Compiles `../seed.rn` into `$OUT_DIR/seed.rs`, with weights embedded.
//!
//! `RESNETC_EXAMPLE_MODEL=path.rn` compiles another model instead:
//! tests/suite/build_api.rs points it at a broken model to check that the build
//! fails with the diagnostic (reusing this crate's build artifacts).

use std::path::PathBuf;

const MODEL: &str = "../seed.rn";

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=RESNETC_EXAMPLE_MODEL");
    let model = std::env::var("RESNETC_EXAMPLE_MODEL").unwrap_or_else(|_| MODEL.to_string());

    // Deterministic initial weights (as a fresh torchvision model would have),
    // so that the example runs on a fresh clone. A real crate would embed its
    // trained weights instead: `.embed_weights("weights/seed.safetensors")`.
    let weights = out_dir.join("seed.safetensors");
    if let Ok(compiled) = resnetc::compile_file(model.as_ref(), &Default::default()) {
        resnetc::interp::init(&compiled.model, 0)
            .save(&weights)
            .expect("cannot write the initial weights");
    }
    // (If the model has errors, `compile` below reports them and stops the build.)

    resnetc::build::Config::new()
        .model(&model)
        .embed_weights(&weights)
        .compile();
}
