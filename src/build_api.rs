//! Compile `.rn` models to Rust from a build script.
//!
//! `resnetc::build` turns a `.rn` file into specialised Rust source in
//! `$OUT_DIR` at build time, the way `prost-build` and `lalrpop` do for their
//! languages. Your crate then runs the model with the small runtime only: no
//! parser, checker or interpreter in the final binary.
//!
//! # Tutorial
//!
//! Say your crate has a model next to its `Cargo.toml`:
//!
//! ```text
//! my-crate/
//! ├── Cargo.toml
//! ├── build.rs
//! ├── models/seed.rn
//! └── src/main.rs
//! ```
//!
//! **1. Depend on resnetc twice**: with the compiler for the build script, and
//! runtime-only for your code (the `cli` feature, on by default, is not needed
//! by either):
//!
//! ```toml
//! [build-dependencies]
//! resnetc = { version = "0.1", default-features = false, features = ["compiler"] }
//!
//! [dependencies]
//! resnetc = { version = "0.1", default-features = false }
//! ```
//!
//! **2. Compile the model in `build.rs`**:
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     resnetc::build::Config::new()
//!         .model("models/seed.rn")
//!         .compile();
//! }
//! ```
//!
//! This checks the model and writes `$OUT_DIR/seed.rs` (named after the
//! model). If the model has errors, the build stops and cargo shows them
//! exactly as `resnetc` would:
//!
//! ```text
//! error[E0200]: cannot add tensors of shapes N×128×28×28 and N×64×56×56
//!   ┌─ models/seed.rn:5:8
//! ...
//! ```
//!
//! The file is only rewritten when its content changes, and cargo is told to
//! rerun the build script when the `.rn` file, any file it imports, or the
//! weights change (`cargo:rerun-if-changed`). For the one-line case there is
//! [`compile_model`]`("models/seed.rn")`.
//!
//! **3. Choose what to compile** (every setter is optional except
//! [`Config::model`]):
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     resnetc::build::Config::new()
//!         .model("models/zoo.rn")
//!         .model_name("seed")                    // which model of the file (default: the first)
//!         .embed_weights("weights/seed.safetensors") // bake the weights into the binary
//!         .compile();
//! }
//! ```
//!
//! With [`Config::embed_weights`] the weights file is checked against the
//! model at build time (every missing or mis-shaped tensor is reported, with
//! the layer that owns it), copied to `$OUT_DIR/seed.safetensors`, and the
//! generated code includes it with `include_bytes!`, so the binary needs no
//! file at run time. Without it, load weights at run time with `from_path`.
//!
//! To handle errors yourself (or to test), [`Config::try_compile`] returns a
//! [`BuildError`] whose `Display` is the rendered diagnostics; it returns the
//! input files it read. `examples/build-rs/` in the resnetc repository is a
//! complete crate.
//!
//! **4. Use the model.** The generated file defines one struct named after
//! the model (`Seed` for `model seed`), with `from_path`, `from_bytes`,
//! `embedded()` (with [`Config::embed_weights`]) and `forward`:
//!
//! ```ignore
//! // src/main.rs
//! mod seed;
//!
//! use resnetc::runtime::ndarray::Array4;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let model = seed::Seed::embedded()?;          // or Seed::from_path("seed.safetensors".as_ref())?
//!     let x = Array4::<f32>::zeros((2, 3, 64, 64));  // a batch of 2 (N×C×H×W)
//!     let y = model.forward(x.view())?;             // N×64×64×64
//!     println!("{:?}", y.shape());
//!     Ok(())
//! }
//! ```
//!
//! **5. Include the generated code** in a module of its own, which is also
//! the place for any `#[allow]`s (the generated file has no inner
//! attributes, so it can be `include!`d anywhere):
//!
//! ```ignore
//! // src/seed.rs
//! include!(concat!(env!("OUT_DIR"), "/seed.rs"));
//! ```

// The tutorial shows build scripts as they are written, with `fn main`.
#![allow(clippy::needless_doctest_main)]

use std::path::{Component, Path, PathBuf};

use crate::codegen::{self, EmitOptions};
use crate::interp::{NameMap, WeightsError, WeightsFile};
use crate::{CheckOptions, CompileError, Compiled};

/// Why a build-time compilation failed. `Display` is what the user should
/// see: for errors in the model, the diagnostics rendered as `resnetc` does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// [`Config::model`] was never called.
    #[error("resnetc::build: no model to compile: call `Config::model(\"path/to/model.rn\")`")]
    NoModel,
    /// Neither [`Config::out_dir`] nor the `OUT_DIR` environment variable is set.
    #[error(
        "resnetc::build: no output directory: `OUT_DIR` is not set (it is set when cargo runs a build script); call `Config::out_dir(dir)` to compile outside one"
    )]
    NoOutDir,
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The model has errors.
    #[error("{}", .0.render())]
    Compile(CompileError),
    /// The weights to embed are unreadable or do not fit the model.
    #[error("{rendered}")]
    Weights {
        /// The problems rendered as diagnostics.
        rendered: String,
        /// The underlying error.
        #[source]
        source: WeightsError,
    },
    /// An output file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The code generator failed (a bug in resnetc, never the model's fault).
    #[error(transparent)]
    Emit(#[from] codegen::EmitError),
}

/// Settings for compiling one `.rn` model to Rust in a build script.
///
/// Setters take and return `&mut Self`; finish with [`Config::compile`]
/// (reports errors and exits, for build scripts) or [`Config::try_compile`].
#[derive(Clone, Debug)]
pub struct Config {
    model: Option<PathBuf>,
    model_name: Option<String>,
    embed_weights: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    cargo_directives: bool,
    winograd: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// A configuration with nothing to compile yet.
    pub fn new() -> Config {
        Config {
            model: None,
            model_name: None,
            embed_weights: None,
            out_dir: None,
            cargo_directives: true,
            winograd: false,
        }
    }

    /// The `.rn` file to compile (relative paths are relative to the current
    /// directory, which for a build script is the package root).
    pub fn model(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.model = Some(path.as_ref().to_path_buf());
        self
    }

    /// Which model of the file to compile (default: the first one). The
    /// output is `$OUT_DIR/<name>.rs`.
    pub fn model_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.model_name = Some(name.into());
        self
    }

    /// Embeds these weights (a safetensors file with the model's parameter
    /// names) in the generated code. They are checked against the model at
    /// build time and copied to `$OUT_DIR/<name>.safetensors`.
    pub fn embed_weights(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.embed_weights = Some(path.as_ref().to_path_buf());
        self
    }

    /// Where to write the generated code (default: the `OUT_DIR` environment
    /// variable, which cargo sets for build scripts).
    pub fn out_dir(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.out_dir = Some(path.as_ref().to_path_buf());
        self
    }

    /// Whether the eligible 3×3 stride-1 convolutions run Winograd
    /// F(4×4, 3×3) ([`codegen::EmitOptions::winograd`]; default: `false`).
    pub fn winograd(&mut self, yes: bool) -> &mut Self {
        self.winograd = yes;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every input and
    /// `cargo:warning` for the model's warnings (default: `true`).
    pub fn emit_cargo_directives(&mut self, yes: bool) -> &mut Self {
        self.cargo_directives = yes;
        self
    }

    /// Compiles the model and writes `<out_dir>/<name>.rs` (only if its
    /// content changed). Returns every input file read: the `.rn` file, the
    /// files it imports and the weights, i.e. the `rerun-if-changed` list.
    pub fn try_compile(&self) -> Result<Vec<PathBuf>, BuildError> {
        let path = self.model.as_deref().ok_or(BuildError::NoModel)?;
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let options = CheckOptions {
            model: self.model_name.clone(),
            ..CheckOptions::default()
        };
        let compiled = match crate::compile_file(path, &options) {
            Ok(c) => c,
            Err(crate::Error::Io { source, .. }) => {
                if self.cargo_directives {
                    // Rerun once the file appears (or is fixed).
                    println!("cargo:rerun-if-changed={}", path.display());
                }
                return Err(BuildError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
            Err(crate::Error::Compile(e)) => return Err(BuildError::Compile(e)),
        };
        let mut inputs = compiled.paths.clone();
        let name = compiled.model.graph().name.clone();

        let mut embed = None;
        if let Some(weights) = &self.embed_weights {
            check_weights(weights, &compiled)?;
            let file_name = format!("{name}.safetensors");
            let dest = out_dir.join(&file_name);
            if !same_file(weights, &dest) {
                let bytes = std::fs::read(weights).map_err(|source| BuildError::Read {
                    path: weights.clone(),
                    source,
                })?;
                write_if_changed(&dest, &bytes)?;
            }
            // Relative to the generated file: `include_bytes!` inside an
            // `include!`d file resolves paths from that file's directory,
            // so the generated code names no absolute path.
            embed = Some(PathBuf::from(file_name));
            // A file this build script wrote into OUT_DIR is an output, not
            // an input: watching it would rerun the script on every build.
            if !is_inside(weights, &out_dir) {
                inputs.push(weights.clone());
            }
        }

        let emit_options = EmitOptions {
            source_name: source_name(path),
            embed_weights: embed,
            winograd: self.winograd,
        };
        let code = codegen::emit(&compiled.model, &compiled.sources, &emit_options)?;
        write_if_changed(&out_dir.join(format!("{name}.rs")), code.as_bytes())?;

        if self.cargo_directives {
            for p in &inputs {
                println!("cargo:rerun-if-changed={}", p.display());
            }
            for w in &compiled.warnings {
                for line in w.render(&compiled.sources).lines() {
                    println!("cargo:warning={line}");
                }
            }
        }
        Ok(inputs)
    }

    /// [`Config::try_compile`] for build scripts: on error, prints the
    /// diagnostics to stderr (cargo shows them) and exits with status 1.
    pub fn compile(&self) -> Vec<PathBuf> {
        match self.try_compile() {
            Ok(inputs) => inputs,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1)
            }
        }
    }
}

/// Compiles the first model of `path` into `$OUT_DIR/<name>.rs`; on error,
/// prints the diagnostics and exits the build script with status 1.
/// Shorthand for `Config::new().model(path).compile()`.
pub fn compile_model(path: impl AsRef<Path>) -> Vec<PathBuf> {
    Config::new().model(path).compile()
}

/// Checks the weights file's header against the model, rendering every
/// problem as a diagnostic pointing at the layer that owns the tensor.
fn check_weights(path: &Path, compiled: &Compiled) -> Result<(), BuildError> {
    let result =
        WeightsFile::open(path).and_then(|w| w.check(&compiled.model, &NameMap::default()));
    let source = match result {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let rendered = match &source {
        WeightsError::Mismatch { path, problems, .. } => {
            let shown = &problems[..problems.len().min(crate::interp::SHOWN_PROBLEMS)];
            let mut text: String = shown
                .iter()
                .map(|p| p.to_diagnostic(path).render(&compiled.sources))
                .collect();
            if problems.len() > shown.len() {
                let rest = &problems[shown.len()..];
                text.push_str(&format!(
                    "… and {} more: {}\n",
                    rest.len(),
                    crate::interp::WeightProblem::summarize(rest)
                ));
            }
            text
        }
        other => other.to_string(),
    };
    Err(BuildError::Weights { rendered, source })
}

/// Writes `bytes` atomically, unless the file already holds exactly them
/// (so its mtime, and everything that depends on it, stays unchanged).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    crate::atomic::write(path, bytes).map_err(|source| BuildError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The name of the `.rn` file for the generated header: relative to
/// `CARGO_MANIFEST_DIR` (else the current directory), with `/` separators;
/// never absolute (falls back to the file name).
fn source_name(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cwd.clone());
    let abs = normalize(&cwd.join(path));
    let rel = relative_to(&abs, &normalize(&cwd.join(base)))
        .unwrap_or_else(|| PathBuf::from(path.file_name().unwrap_or(path.as_os_str())));
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes `.` and resolves `..` lexically (no file-system access, so
/// symbolic links are not followed).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `path` relative to `base` (both absolute and normalised), with `..` where
/// needed; `None` if they share no root (another drive on Windows).
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return None;
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &p[common..] {
        rel.push(c);
    }
    Some(rel)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn is_inside(path: &Path, dir: &Path) -> bool {
    match (path.canonicalize(), dir.canonicalize()) {
        (Ok(p), Ok(d)) => p.starts_with(d),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let rel = |p: &str, b: &str| relative_to(Path::new(p), Path::new(b));
        assert_eq!(rel("/a/b/c.rn", "/a"), Some(PathBuf::from("b/c.rn")));
        assert_eq!(rel("/a/seed.rn", "/a/b"), Some(PathBuf::from("../seed.rn")));
        assert_eq!(rel("/x/m.rn", "/a/b"), Some(PathBuf::from("../../x/m.rn")));
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d.rn")),
            PathBuf::from("/a/c/d.rn")
        );
    }

    #[test]
    fn source_names_are_never_absolute() {
        let here = std::env::current_dir().unwrap();
        let name = source_name(&here.join("examples/seed.rn"));
        assert!(!Path::new(&name).is_absolute(), "{name}");
        assert!(name.ends_with("seed.rn"), "{name}");
        assert!(!name.contains('\\'), "{name}");
    }
}
