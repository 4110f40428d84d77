//! Training: SGD on the cross-entropy of a classifier, through the gradient
//! tape of [`crate::grad`], with a seeded held-out split evaluated by the
//! inference interpreter after every epoch (`resnetc train`).
//!
//! - `data`: the bundled digits set (scikit-learn's copy of UCI optdigits,
//!   embedded gzip), `.npy` pairs, the seeded split;
//! - `optimizer`: PyTorch's SGD (momentum, weight decay on convolution and
//!   dense weights only);
//! - `schedule`: cosine, step or constant learning rate, per step;
//! - `trainer`: the loop (training-mode batch norm with running-statistic
//!   updates, seeded dropout, one seed per step), evaluation, weights;
//! - `curve_svg`: the loss and accuracy chart.
//!
//! ```
//! use resnetc::train::{self, TrainConfig};
//! let src = "model tiny {\n  input x: [1, 8, 8]\n  x -> conv(4, 3, pad: 1) -> bn -> relu -> global_avgpool -> flatten -> dense(10)\n}\n";
//! let c = resnetc::compile_source("tiny.rn", src, &Default::default()).unwrap();
//! let data = train::digits().unwrap().take(60).unwrap();
//! let (tr, te) = data.split(20, 0).unwrap();
//! let mut params = resnetc::grad::ParamSet::from_weights(&c.model, &resnetc::interp::init(&c.model, 0)).unwrap();
//! let config = TrainConfig { epochs: 1, ..TrainConfig::default() };
//! let epochs = train::train(&c.model, &mut params, &tr, &te, &config, &mut |_| Ok(())).unwrap();
//! assert_eq!(epochs.len(), 1);
//! ```

mod curve_svg;
mod data;
mod error;
mod optimizer;
mod schedule;
mod trainer;

pub use curve_svg::curve_svg;
pub use data::{DIGITS_SAMPLES, Dataset, digits, from_npy, parse_digits_csv};
pub use error::TrainError;
pub use optimizer::{Sgd, decayed_params};
pub use schedule::Schedule;
pub use trainer::{EpochReport, Event, TrainConfig, evaluate, to_weights, train};
