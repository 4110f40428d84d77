//! Generates ResNet-18 and ResNet-50 with resnetc, with deterministic initial
//! weights beside them in OUT_DIR (speed does not depend on the values).

use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for model in ["resnet18", "resnet50"] {
        let path = format!("../{model}.rn");
        let weights = out_dir.join(format!("{model}.safetensors"));
        if !weights.exists()
            && let Ok(compiled) = resnetc::compile_file(path.as_ref(), &Default::default())
        {
            resnetc::interp::init(&compiled.model, 0)
                .save(&weights)
                .expect("cannot write the initial weights");
        }
        resnetc::build::Config::new().model(&path).compile();
    }
}
