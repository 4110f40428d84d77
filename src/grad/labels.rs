//! Class labels from `.npy` files: int64 or int32, one per sample.

use std::path::Path;

use ndarray::ArrayViewD;
use ndarray_npy::{ViewNpyError, ViewNpyExt};

use crate::interp::io::DataError;

/// Reads class indices from an int64 or int32 `.npy` array of shape `(N,)`.
/// The file is memory-mapped and its header checked against its length
/// before anything is copied, so a hostile header cannot make resnetc
/// allocate what the file does not hold. (The labels' range and count are
/// checked against the model and the batch by [`super::validate_labels`].)
pub fn read_labels(path: &Path) -> Result<Vec<i64>, DataError> {
    let p = path.display().to_string();
    let io = |source| DataError::Io {
        path: p.clone(),
        source,
    };
    let npy = |reason: String, hint: &str| DataError::Npy {
        path: p.clone(),
        reason,
        hint: Some(hint.to_string()),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory: pass an .npy file of class indices",
        )));
    }
    // SAFETY: read-only mapping of a file resnetc does not modify.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    if map.is_empty() {
        return Err(npy(
            "the file is empty".into(),
            "write labels with numpy.save",
        ));
    }
    let labels: Vec<i64> = match ArrayViewD::<i64>::view_npy(&map) {
        Ok(a) => {
            check_rank(a.shape(), &npy)?;
            a.iter().copied().collect()
        }
        Err(ViewNpyError::WrongDescriptor(_)) => match ArrayViewD::<i32>::view_npy(&map) {
            Ok(a) => {
                check_rank(a.shape(), &npy)?;
                a.iter().map(|&v| i64::from(v)).collect()
            }
            Err(ViewNpyError::WrongDescriptor(d)) => {
                return Err(npy(
                    format!("its elements are {d}, but labels are int64 or int32 class indices"),
                    "convert them: np.save(path, y.astype(np.int64))",
                ));
            }
            Err(e) => return Err(npy(e.to_string(), "write labels with numpy.save")),
        },
        Err(e) => return Err(npy(e.to_string(), "write labels with numpy.save")),
    };
    Ok(labels)
}

/// Labels have shape `(N,)`; the error says how to flatten them otherwise.
fn check_rank(shape: &[usize], npy: &impl Fn(String, &str) -> DataError) -> Result<(), DataError> {
    if shape.len() == 1 {
        Ok(())
    } else {
        Err(npy(
            format!(
                "it has shape {shape:?}, but labels are one class index per sample, shape (N,)"
            ),
            "flatten it: np.save(path, y.reshape(-1))",
        ))
    }
}
