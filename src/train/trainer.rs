//! The training loop: seeded shuffling, training-mode steps through the
//! gradient tape, SGD, and a held-out evaluation with the inference
//! interpreter after each epoch.

use ndarray::{ArrayView2, Ix2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::data::Dataset;
use super::error::{TrainError, internal};
use super::optimizer::Sgd;
use super::schedule::Schedule;
use crate::grad::{self, ParamSet, Tape, TrainOptions};
use crate::interp::{Interpreter, Tensor, Weights};
use crate::ir::CheckedModel;

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Samples per step (a trailing batch of one sample is skipped: batch
    /// norm needs two).
    pub batch: usize,
    /// The base learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay on convolution and dense weights.
    pub weight_decay: f64,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of the shuffling and of dropout's masks (the split and the
    /// initial weights take it too, see [`Dataset::split`]).
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The defaults of `resnetc train`: 15 epochs of batch 32, lr 0.1 with a
    /// cosine schedule, momentum 0.9, weight decay 5e-4.
    fn default() -> Self {
        TrainConfig {
            epochs: 15,
            batch: 32,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::Cosine,
            seed: 0,
        }
    }
}

/// The figures of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean cross-entropy of the epoch's training steps (training mode).
    pub train_loss: f64,
    /// Fraction of training samples classified right during the epoch's steps.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the held-out split (inference mode).
    pub test_loss: f64,
    /// Fraction of held-out samples classified right (inference mode).
    pub test_accuracy: f64,
}

/// What the loop reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step is done.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// Steps done in this epoch.
        done: usize,
        /// Steps per epoch.
        steps: usize,
        /// Mean loss of the epoch's steps so far.
        loss: f64,
        /// Training accuracy of the epoch's steps so far.
        accuracy: f64,
    },
    /// An epoch is done; `params` are the weights after it.
    Epoch {
        /// Its figures.
        report: &'a EpochReport,
        /// Every learned tensor (running statistics included).
        params: &'a ParamSet<f32>,
    },
}

/// The model's tensors as [`Weights`] (for the interpreter and checkpoints).
pub fn to_weights(model: &CheckedModel, params: &ParamSet<f32>) -> Result<Weights, TrainError> {
    let mut w = Weights::default();
    for p in model.graph().params() {
        let a = params.get(&p.name)?;
        w.insert(
            p.name.clone(),
            Tensor {
                shape: a.shape().to_vec(),
                data: a.iter().copied().collect(),
            },
        );
    }
    Ok(w)
}

fn correct(logits: ArrayView2<'_, f32>, labels: &[usize]) -> usize {
    logits
        .outer_iter()
        .zip(labels)
        .filter(|(row, l)| {
            let best = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                })
                .0;
            best == **l
        })
        .count()
}

/// Mean loss and accuracy of `params` on `data`, in inference mode (the
/// interpreter: batch norm on running statistics, dropout off).
pub fn evaluate(
    model: &CheckedModel,
    params: &ParamSet<f32>,
    data: &Dataset,
) -> Result<(f64, f64), TrainError> {
    let (_, classes) = grad::class_output(model)?;
    let net = Interpreter::new(model, &to_weights(model, params)?)?;
    let (mut loss, mut right) = (0.0, 0);
    let ids: Vec<usize> = (0..data.len()).collect();
    for chunk in ids.chunks(256) {
        let part = data.select(chunk)?;
        let out = net.forward(&[part.x.view()])?;
        let [(_, logits)] = out.outputs.as_slice() else {
            return Err(internal("a classifier with several outputs"));
        };
        let logits = logits
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(internal)?;
        let labels = grad::validate_labels(&part.y, chunk.len(), classes)?;
        loss += f64::from(grad::cross_entropy(logits, &labels).0) * chunk.len() as f64;
        right += correct(logits, &labels);
    }
    let n = data.len() as f64;
    Ok((loss / n, right as f64 / n))
}

/// A seed per step for dropout's masks (SplitMix64 of seed and step).
fn step_seed(seed: u64, step: u64) -> u64 {
    let mut z = seed ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Trains `params` (initial weights, updated in place) on `train`,
/// evaluating on `test` after every epoch; `on` hears every step and epoch
/// (an error from it stops training). Returns the epochs' figures.
/// The same inputs, config and thread count give the same bytes.
pub fn train(
    model: &CheckedModel,
    params: &mut ParamSet<f32>,
    train: &Dataset,
    test: &Dataset,
    config: &TrainConfig,
    on: &mut dyn FnMut(Event<'_>) -> Result<(), TrainError>,
) -> Result<Vec<EpochReport>, TrainError> {
    if config.batch < 2 {
        return Err(TrainError::Options(
            "a batch needs at least 2 samples (batch norm in training mode): pass --batch 2 or more".into(),
        ));
    }
    if train.len() < 2 {
        return Err(TrainError::Data(
            "the training split has fewer than 2 samples: give more data".into(),
        ));
    }
    let (output, classes) = grad::class_output(model)?;
    // Validate all labels before the first step.
    grad::validate_labels(&train.y, train.len(), classes)?;
    grad::validate_labels(&test.y, test.len(), classes)?;
    let full = train.len() / config.batch;
    let steps = if train.len() % config.batch >= 2 {
        full + 1
    } else {
        full
    };
    let total = steps
        .checked_mul(config.epochs)
        .ok_or_else(|| TrainError::Options("too many epochs".into()))?;
    let mut sgd = Sgd::new(model, config.momentum as f32, config.weight_decay as f32);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(1));
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut reports = Vec::with_capacity(config.epochs);
    let mut global = 0usize;
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut right, mut seen) = (0.0f64, 0usize, 0usize);
        let mut lr = config.lr;
        for (done, ids) in order
            .chunks(config.batch)
            .filter(|c| c.len() >= 2)
            .enumerate()
        {
            lr = config.schedule.rate(config.lr, global, total);
            let batch = train.select(ids)?;
            let options = TrainOptions {
                dropout_seed: Some(step_seed(config.seed, global as u64)),
            };
            let (loss, gradients, running) = {
                let tape = Tape::forward(model, params, &[batch.x], &options)?;
                let logits = tape
                    .value(output)?
                    .view()
                    .into_dimensionality::<Ix2>()
                    .map_err(internal)?;
                let labels = grad::validate_labels(&batch.y, ids.len(), classes)?;
                let (loss, dlogits) = grad::cross_entropy(logits, &labels);
                right += correct(logits, &labels);
                let g = tape.backward(vec![(output, dlogits.into_dyn())])?;
                (loss, g.params, tape.running_stats().to_vec())
            };
            if !loss.is_finite() {
                return Err(TrainError::Options(format!(
                    "training diverged: the loss is {loss} at epoch {epoch}, step {}\n  help: lower the learning rate (--lr)",
                    done + 1
                )));
            }
            for (name, r) in running {
                params.insert(name, r);
            }
            sgd.step(params, &gradients, lr as f32)?;
            loss_sum += f64::from(loss) * ids.len() as f64;
            seen += ids.len();
            global += 1;
            on(Event::Step {
                epoch,
                done: done + 1,
                steps,
                loss: loss_sum / seen as f64,
                accuracy: right as f64 / seen as f64,
            })?;
        }
        let (test_loss, test_accuracy) = evaluate(model, params, test)?;
        let report = EpochReport {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: right as f64 / seen.max(1) as f64,
            test_loss,
            test_accuracy,
        };
        on(Event::Epoch {
            report: &report,
            params,
        })?;
        reports.push(report);
    }
    Ok(reports)
}
