//! Tensors in and out of files: `.npy` (f32) and PNG / JPEG images.
//!
//! `.npy` files are memory-mapped and validated (header, dtype, length)
//! before any data is copied, so a hostile header cannot make resnetc
//! allocate what the file does not hold. Outputs are written atomically.

use std::path::Path;

use image::imageops::FilterType;
use ndarray::{Array3, ArrayD, ArrayViewD};
use ndarray_npy::{ViewNpyError, ViewNpyExt, WriteNpyExt};

/// Why a data file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file cannot be opened or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable `.npy` array.
    #[error("`{path}` is not a usable .npy file: {reason}{}", hint.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
    Npy {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The image cannot be decoded.
    #[error("cannot read image `{path}`: {reason}")]
    Image {
        /// The path.
        path: String,
        /// The decoder's message.
        reason: String,
    },
}

/// Reads an f32 `.npy` file of any rank (C order).
pub fn read_npy(path: &Path) -> Result<ArrayD<f32>, DataError> {
    let p = path.display().to_string();
    let io = |source| DataError::Io {
        path: p.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory: pass an .npy file (or use --image for a folder of images)",
        )));
    }
    // SAFETY: read-only mapping of a file resnetc does not modify.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let npy = |reason: String, hint: Option<&str>| DataError::Npy {
        path: p.clone(),
        reason,
        hint: hint.map(String::from),
    };
    if map.is_empty() {
        return Err(npy(
            "the file is empty".into(),
            Some("write arrays with numpy.save"),
        ));
    }
    // ndarray-npy allocates the header's announced length before reading
    // it: up to 4 GiB for a few bytes of file.
    if let Some(announced) = npy_header_len(&map)
        && announced > map.len()
    {
        return Err(npy(
            format!(
                "it is truncated: its first bytes announce a header that ends at byte {announced}, but the file is only {} bytes long",
                map.len()
            ),
            Some(
                "the copy is incomplete or the header is corrupt: save the array again with numpy.save",
            ),
        ));
    }
    match ArrayViewD::<f32>::view_npy(&map) {
        Ok(v) => Ok(v.as_standard_layout().into_owned()),
        Err(ViewNpyError::WrongDescriptor(d)) => Err(npy(
            format!("its elements are {d}, but resnetc reads float32 (`<f4`)"),
            Some("convert it: np.save(path, x.astype(np.float32))"),
        )),
        Err(ViewNpyError::NonNativeEndian) => Err(npy(
            "its elements are big-endian".into(),
            Some("convert it: np.save(path, x.astype('<f4'))"),
        )),
        Err(ViewNpyError::MissingBytes(n)) => Err(npy(
            format!(
                "it is truncated: its header's shape needs {n} more bytes of data than the file holds"
            ),
            Some(
                "the copy is incomplete or the header is corrupt: save the array again with numpy.save",
            ),
        )),
        Err(ViewNpyError::ExtraBytes(n)) => {
            Err(npy(format!("{n} unexpected bytes follow the data"), None))
        }
        Err(e) => Err(npy(e.to_string(), Some("write arrays with numpy.save"))),
    }
}

/// The length of an `.npy` file's magic string, version and header, as its
/// first bytes announce it (`None` if they are not an `.npy` start, which the
/// parser reports).
fn npy_header_len(bytes: &[u8]) -> Option<usize> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    let rest = bytes.strip_prefix(MAGIC)?;
    match rest {
        // Version 1.0: a 2-byte length.
        [1, _, a, b, ..] => Some(MAGIC.len() + 4 + usize::from(u16::from_le_bytes([*a, *b]))),
        // Versions 2.0 and 3.0: a 4-byte length.
        [2 | 3, _, a, b, c, d, ..] => {
            let len = usize::try_from(u32::from_le_bytes([*a, *b, *c, *d])).ok()?;
            (MAGIC.len() + 6).checked_add(len)
        }
        _ => None,
    }
}

/// Writes an f32 array as `.npy`, atomically.
pub fn write_npy(path: &Path, array: &ArrayD<f32>) -> Result<(), DataError> {
    let mut bytes = Vec::new();
    array
        .as_standard_layout()
        .write_npy(&mut bytes)
        .map_err(|e| DataError::Npy {
            path: path.display().to_string(),
            reason: e.to_string(),
            hint: None,
        })?;
    crate::atomic::write(path, &bytes).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Per-channel normalisation `(x − mean) / std` of images scaled to [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    /// Channel means (RGB).
    pub mean: [f32; 3],
    /// Channel standard deviations (RGB).
    pub std: [f32; 3],
}

impl Normalize {
    /// torchvision's ImageNet statistics.
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
}

/// Reads a PNG or JPEG as a 3×H×W f32 tensor the way torchvision's ImageNet
/// evaluation transform does: resize the shorter side to `size · 256 / 224`,
/// crop the centre to `height × width`, scale to [0, 1], then normalise.
pub fn load_image(
    path: &Path,
    height: usize,
    width: usize,
    normalize: Option<Normalize>,
) -> Result<Array3<f32>, DataError> {
    let err = |reason: String| DataError::Image {
        path: path.display().to_string(),
        reason,
    };
    let img = image::ImageReader::open(path)
        .map_err(|source| DataError::Io {
            path: path.display().to_string(),
            source,
        })?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?
        .decode()
        .map_err(|e| err(e.to_string()))?
        .to_rgb8();
    let (w0, h0) = img.dimensions();
    if w0 == 0 || h0 == 0 {
        return Err(err("the image is empty".into()));
    }
    // The resize works in u32 pixels: a larger model input is not an image size.
    let Some(target) = height
        .max(width)
        .checked_mul(256)
        .map(|t| t.div_ceil(224))
        .and_then(|t| u32::try_from(t).ok())
    else {
        return Err(err(format!(
            "the model's input, {height}×{width}, is too large to resize an image to"
        )));
    };
    let scale = target as f64 / w0.min(h0) as f64;
    let rw = ((w0 as f64 * scale).round() as u32).max(width as u32);
    let rh = ((h0 as f64 * scale).round() as u32).max(height as u32);
    let resized = image::imageops::resize(&img, rw, rh, FilterType::Triangle);
    let x0 = (rw - width as u32) / 2;
    let y0 = (rh - height as u32) / 2;
    let mut out = Array3::<f32>::zeros((3, height, width));
    for y in 0..height {
        for x in 0..width {
            let px = resized.get_pixel(x0 + x as u32, y0 + y as u32);
            for c in 0..3 {
                let v = px[c] as f32 / 255.0;
                out[(c, y, x)] = match normalize {
                    Some(n) => (v - n.mean[c]) / n.std[c],
                    None => v,
                };
            }
        }
    }
    Ok(out)
}

/// N×H×W×C → N×C×H×W (other ranks unchanged).
pub fn nhwc_to_nchw(a: ArrayD<f32>) -> ArrayD<f32> {
    if a.ndim() == 4 {
        a.permuted_axes(vec![0, 3, 1, 2])
            .as_standard_layout()
            .into_owned()
    } else {
        a
    }
}

/// N×C×H×W → N×H×W×C (other ranks unchanged).
pub fn nchw_to_nhwc(a: ArrayD<f32>) -> ArrayD<f32> {
    if a.ndim() == 4 {
        a.permuted_axes(vec![0, 2, 3, 1])
            .as_standard_layout()
            .into_owned()
    } else {
        a
    }
}
