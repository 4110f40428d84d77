//! Rendering DOT to an image with Graphviz's `dot` program.

use std::io::Write;
use std::process::{Command, Stdio};

/// An image format `dot` can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// Scalable vector graphics (`dot -Tsvg`).
    Svg,
    /// A PNG bitmap (`dot -Tpng`).
    Png,
}

impl ImageFormat {
    /// The `-T` argument of `dot`.
    pub fn graphviz_name(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }
}

/// Why `dot` produced no image.
#[derive(Debug, thiserror::Error)]
pub enum GraphvizError {
    /// No `dot` program on `PATH`.
    #[error(
        "Graphviz's `dot` program was not found on PATH; it is needed to write {format}.\n  \
         install it (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`),\n  \
         or write DOT instead (`-o graph.dot`, or no `-o` for stdout) and render it elsewhere"
    )]
    NotInstalled {
        /// The format that was asked for (`SVG`, `PNG`).
        format: &'static str,
    },
    /// `dot` could not be started or talked to.
    #[error("cannot run Graphviz's `dot`: {0}")]
    Io(#[from] std::io::Error),
    /// `dot` ran and failed.
    #[error("Graphviz's `dot -T{format}` failed ({status}):\n{stderr}")]
    Failed {
        /// The `-T` format.
        format: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Runs `dot -T<format>` (found on `PATH`) on `dot_text` and returns the image.
pub fn render_with_graphviz(dot_text: &str, format: ImageFormat) -> Result<Vec<u8>, GraphvizError> {
    let name = format.graphviz_name();
    let mut child = match Command::new("dot")
        .arg(format!("-T{name}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(GraphvizError::NotInstalled {
                format: match format {
                    ImageFormat::Svg => "SVG",
                    ImageFormat::Png => "PNG",
                },
            });
        }
        Err(e) => return Err(GraphvizError::Io(e)),
    };
    // Feed stdin from a thread while the output is read, so neither pipe fills up.
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("dot's stdin was not captured"))?;
    let text = dot_text.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output()?;
    let written = writer
        .join()
        .map_err(|_| std::io::Error::other("the thread writing to dot panicked"))?;
    if !output.status.success() {
        return Err(GraphvizError::Failed {
            format: name,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_string(),
        });
    }
    // A write error with a successful exit (dot stopped reading early) still means a bad image.
    written?;
    Ok(output.stdout)
}
