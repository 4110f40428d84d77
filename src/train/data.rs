//! Training data: the bundled digits set, `.npy` pairs, batches and the
//! seeded held-out split.

use std::io::Read;
use std::path::Path;

use ndarray::{ArrayD, Axis, IxDyn};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::error::{TrainError, internal};

/// scikit-learn's `digits.csv.gz` (UCI optdigits; see `data/digits/README.md`).
const DIGITS_GZ: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");
/// Samples in the digits set.
pub const DIGITS_SAMPLES: usize = 1797;

/// Inputs and their class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The inputs, `N×shape` (f32).
    pub x: ArrayD<f32>,
    /// One class index per sample.
    pub y: Vec<i64>,
}

impl Dataset {
    /// Pairs inputs with labels: a non-empty batch axis, one label per sample.
    pub fn new(x: ArrayD<f32>, y: Vec<i64>) -> Result<Self, TrainError> {
        if x.ndim() < 2 || x.shape()[0] == 0 {
            return Err(TrainError::Data(format!(
                "the inputs have shape {:?}: expected a non-empty batch N×C×H×W (or N×F)",
                x.shape()
            )));
        }
        if y.len() != x.shape()[0] {
            return Err(TrainError::Data(format!(
                "{} inputs but {} labels: give exactly one class index per sample",
                x.shape()[0],
                y.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Data(format!(
                "input element {i} (in C order) is {}: the inputs must be finite numbers",
                x.iter().nth(i).copied().unwrap_or(f32::NAN)
            )));
        }
        Ok(Dataset { x, y })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples (never, for a `Dataset` made by [`Dataset::new`]).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The shape of one sample (without the batch axis).
    pub fn sample_shape(&self) -> &[usize] {
        &self.x.shape()[1..]
    }

    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset, TrainError> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(internal(format!("sample {i} of {}", self.len())));
        }
        Ok(Dataset {
            x: self.x.select(Axis(0), indices),
            y: indices.iter().map(|&i| self.y[i]).collect(),
        })
    }

    /// The first `n` samples (all if fewer).
    pub fn take(&self, n: usize) -> Result<Dataset, TrainError> {
        let n = n.min(self.len());
        self.select(&(0..n).collect::<Vec<_>>())
    }

    /// A held-out split, the same for the same seed: the samples shuffled
    /// with `seed`, then `test_percent`% of them (rounded, at least one) for
    /// the test set and the rest, in shuffled order, for training.
    pub fn split(&self, test_percent: u8, seed: u64) -> Result<(Dataset, Dataset), TrainError> {
        let n = self.len();
        let test = (n * usize::from(test_percent.min(100)) + 50) / 100;
        let test = test.max(1);
        if n < test + 2 {
            return Err(TrainError::Data(format!(
                "{n} samples are too few to hold {test} out for testing and train on at least 2: give more data"
            )));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        Ok((self.select(&order[test..])?, self.select(&order[..test])?))
    }
}

/// The bundled digits set: 1,797 samples, `N×1×8×8` f32 pixels in [0, 1]
/// (counts ÷ 16), labels 0–9.
pub fn digits() -> Result<Dataset, TrainError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(internal)?;
    parse_digits_csv(&text)
}

/// Parses scikit-learn's digits CSV: rows of 64 pixel counts in 0..=16 and
/// a label 0–9. Errors name the row and column.
pub fn parse_digits_csv(text: &str) -> Result<Dataset, TrainError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (row, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(TrainError::Data(format!(
                "digits CSV row {}: {} fields, expected 64 pixels and a label",
                row + 1,
                fields.len()
            )));
        }
        for (col, f) in fields.iter().enumerate() {
            let v: u8 = f.trim().parse().map_err(|_| {
                TrainError::Data(format!(
                    "digits CSV row {}, column {}: `{f}` is not a small whole number",
                    row + 1,
                    col + 1
                ))
            })?;
            let limit = if col == 64 { 9 } else { 16 };
            if v > limit {
                return Err(TrainError::Data(format!(
                    "digits CSV row {}, column {}: {v} is above {limit}",
                    row + 1,
                    col + 1
                )));
            }
            if col == 64 {
                labels.push(i64::from(v));
            } else {
                pixels.push(f32::from(v) / 16.0);
            }
        }
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[labels.len(), 1, 8, 8]), pixels).map_err(internal)?;
    Dataset::new(x, labels)
}

/// An `.npy` pair: f32 inputs `N×…` and int64 or int32 labels `(N,)`.
pub fn from_npy(x: &Path, y: &Path) -> Result<Dataset, TrainError> {
    let inputs = crate::interp::io::read_npy(x)?;
    let labels = crate::grad::read_labels(y)?;
    Dataset::new(inputs, labels).map_err(|e| match e {
        TrainError::Data(m) => {
            TrainError::Data(format!("`{}` and `{}`: {m}", x.display(), y.display()))
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_the_documented_file() {
        let d = digits().unwrap();
        assert_eq!(d.x.shape(), &[DIGITS_SAMPLES, 1, 8, 8]);
        assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mut counts = [0usize; 10];
        for &l in &d.y {
            counts[l as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
        // The first row of the CSV: pixel (0, 2) is 5, the label 0.
        assert_eq!(d.x[[0, 0, 0, 2]], 5.0 / 16.0);
        assert_eq!(d.y[0], 0);
        let readme = include_str!("../../data/digits/README.md");
        assert!(readme.contains(&sha256_hex(DIGITS_GZ)), "README sha256");
    }

    /// SHA-256 (FIPS 180-4), for the bundled file's checksum only.
    fn sha256_hex(data: &[u8]) -> String {
        const K: [u32; 64] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2,
        ];
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
        for chunk in msg.chunks_exact(64) {
            let mut w = [0u32; 64];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([
                    chunk[4 * i],
                    chunk[4 * i + 1],
                    chunk[4 * i + 2],
                    chunk[4 * i + 3],
                ]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let mut v = h;
            for i in 0..64 {
                let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
                let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
                let t1 = v[7]
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
                let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
                let t2 = s0.wrapping_add(maj);
                v = [
                    t1.wrapping_add(t2),
                    v[0],
                    v[1],
                    v[2],
                    v[3].wrapping_add(t1),
                    v[4],
                    v[5],
                    v[6],
                ];
            }
            for (a, b) in h.iter_mut().zip(v) {
                *a = a.wrapping_add(b);
            }
        }
        h.iter().map(|x| format!("{x:08x}")).collect()
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let d = digits().unwrap().take(100).unwrap();
        let (a, b) = d.split(20, 7).unwrap();
        assert_eq!((a.len(), b.len()), (80, 20));
        assert_eq!(d.split(20, 7).unwrap(), (a.clone(), b));
        assert_ne!(d.split(20, 8).unwrap().0, a);
        assert!(d.take(2).unwrap().split(20, 0).is_err());
    }

    #[test]
    fn bad_csv_names_row_and_column() {
        let mut row = vec!["0"; 64];
        row.push("3");
        let good = row.join(",");
        assert_eq!(parse_digits_csv(&good).unwrap().y, vec![3]);
        let e = parse_digits_csv(&good.replacen("0", "17", 1)).unwrap_err();
        assert!(e.to_string().contains("row 1, column 1"), "{e}");
        let e = parse_digits_csv("1,2").unwrap_err();
        assert!(e.to_string().contains("2 fields"), "{e}");
    }
}
