//! Class labels from `.npy` files: int64 or int32, one per sample.

use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt};

use crate::interp::io::DataError;

/// Reads class indices from an int64 or int32 `.npy` array of shape `(N,)`.
/// (Their range and count are checked against the model and the batch by
/// [`super::validate_labels`].)
pub fn read_labels(path: &Path) -> Result<Vec<i64>, DataError> {
    let p = path.display().to_string();
    let open = || {
        std::fs::File::open(path).map_err(|source| DataError::Io {
            path: p.clone(),
            source,
        })
    };
    let npy = |reason: String, hint: &str| DataError::Npy {
        path: p.clone(),
        reason,
        hint: Some(hint.to_string()),
    };
    let labels: ArrayD<i64> = match ArrayD::<i64>::read_npy(open()?) {
        Ok(a) => a,
        Err(ReadNpyError::WrongDescriptor(_)) => match ArrayD::<i32>::read_npy(open()?) {
            Ok(a) => a.mapv(i64::from),
            Err(ReadNpyError::WrongDescriptor(d)) => {
                return Err(npy(
                    format!("its elements are {d}, but labels are int64 or int32 class indices"),
                    "convert them: np.save(path, y.astype(np.int64))",
                ));
            }
            Err(e) => return Err(npy(e.to_string(), "write labels with numpy.save")),
        },
        Err(e) => return Err(npy(e.to_string(), "write labels with numpy.save")),
    };
    if labels.ndim() != 1 {
        return Err(npy(
            format!(
                "it has shape {:?}, but labels are one class index per sample, shape (N,)",
                labels.shape()
            ),
            "flatten it: np.save(path, y.reshape(-1))",
        ));
    }
    Ok(labels.iter().copied().collect())
}
