//! Class conditioning shared by both denoisers (Ho & Salimans 2022, classifier-free
//! guidance): a model trained on `K` labelled classes holds a table `class_emb.weight` of
//! `K + 1` rows — one per class and, last, the *null label* `∅ = K` that stands for "no
//! class" — and adds the row of each example's label to its time embedding before the
//! GELU. Training drops the label (replaces it by `∅`) a share of the time, so one network
//! learns both `ε̂(x_t, c)` and `ε̂(x_t, ∅)`; guidance samples with
//! `ε̃ = (1 + w)·ε̂(x_t, c) − w·ε̂(x_t, ∅)`.
//!
//! An unconditional model has no table and `K = 0`. A conditional model asked for `ε̂`
//! without labels (the ELBO, the score field, every caller that knows no class) answers
//! with its unconditional branch `ε̂(x_t, ∅)`.

use candle_core::{Device, Tensor};

use super::ModelError;
use super::params::Param;
use crate::diffusion::noise::StreamKey;

/// The name of the class table (PyTorch: `self.class_emb = nn.Embedding(K + 1, F)`).
pub const CLASS_TABLE: &str = "class_emb.weight";

/// The class table's entry in a layout: `K + 1` rows of `width` (none when `classes` is 0).
#[must_use]
pub fn table_layout(classes: usize, width: usize) -> Option<(String, Vec<usize>)> {
    (classes > 0).then(|| (CLASS_TABLE.to_owned(), vec![classes + 1, width]))
}

/// A fresh class table: uniform in `±1` (variance 1/3, the scale of the time embedding's
/// pre-activations it is added to).
#[must_use]
pub fn init_table(shape: Vec<usize>, seed: u64) -> Param {
    Param::uniform(CLASS_TABLE, shape, 1.0, StreamKey::new(seed, 0xC1A5_5000))
}

/// Checks `labels` for `n` examples of a model of `classes` classes: empty (every example
/// unconditional), or `n` labels in `0..=classes` (`classes` is `∅`). An unconditional
/// model takes no labels.
pub fn check_labels(labels: &[usize], classes: usize, n: usize) -> Result<(), ModelError> {
    if labels.is_empty() {
        return Ok(());
    }
    if classes == 0 {
        return Err(ModelError::Data(
            "this model was trained without labels: it cannot be asked for a class".into(),
        ));
    }
    if labels.len() != n {
        return Err(ModelError::Data(format!(
            "{} labels for {n} examples",
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&c| c > classes) {
        return Err(ModelError::Data(format!(
            "label {bad} is not a class of this model (0 to {}, or {classes} for none)",
            classes - 1
        )));
    }
    Ok(())
}

/// Each example's row of `table` (`(K + 1) × width`): `n × width`, the null row for every
/// example when `labels` is empty. A product with a one-hot matrix, so that training gets
/// the table's gradient from candle (the rows each label picked, summed).
pub fn rows(table: &Tensor, labels: &[usize], n: usize) -> candle_core::Result<Tensor> {
    let (k1, _) = table.dims2()?;
    let mut onehot = vec![0f32; n * k1];
    for r in 0..n {
        let c = labels.get(r).copied().unwrap_or(k1 - 1);
        onehot[r * k1 + c] = 1.0;
    }
    Tensor::from_vec(onehot, (n, k1), &Device::Cpu)?.matmul(table)
}

/// Classifier-free guidance of a conditional model's chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Guidance {
    /// The class of each example of the chain (`0..K`, or `K` for `∅`).
    pub labels: Vec<usize>,
    /// The guidance weight `w` (0: the conditional model as trained).
    pub weight: f32,
}

impl Guidance {
    /// `ε̃ = (1 + w)·ε̂_c − w·ε̂_∅`, in place in `conditional`.
    pub fn combine(&self, conditional: &mut [f32], unconditional: &[f32]) {
        let w = self.weight;
        for (c, &u) in conditional.iter_mut().zip(unconditional) {
            *c = (1.0 + w) * *c - w * u;
        }
    }
}

/// A class per example for `n` examples of a model of `classes` classes, drawn uniformly
/// and independently (seeded): sampling "any class" from a conditional model, which with
/// `w = 0` samples the data distribution `Σ_c p(c) p(x | c)` when the classes are equally
/// frequent (the digits: 174–183 of each of 1797).
#[must_use]
pub fn draw_labels(classes: usize, n: usize, seed: u64) -> Vec<usize> {
    let key = StreamKey::new(seed, 0xC1A5_5DA7);
    (0..n)
        .map(|i| ((key.uniform(i as u64) * classes as f64) as usize).min(classes.saturating_sub(1)))
        .collect()
}

/// Which class a conditional model's chain samples: the window's class picker and
/// `sample --class`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ClassChoice {
    /// A class per sample, drawn uniformly ([`draw_labels`]).
    #[default]
    Any,
    /// This class for every sample.
    Class(usize),
}

impl ClassChoice {
    /// This choice for a model of `classes` classes: a class it does not have becomes
    /// any class (the window's picker outlived a model with more classes).
    #[must_use]
    pub const fn within(self, classes: usize) -> Self {
        match self {
            Self::Class(c) if c >= classes => Self::Any,
            other => other,
        }
    }

    /// The labels of `n` samples of a model of `classes` classes (a class beyond the
    /// model's is refused).
    pub fn labels(self, classes: usize, n: usize, seed: u64) -> Result<Vec<usize>, ModelError> {
        match self {
            Self::Any => Ok(draw_labels(classes, n, seed)),
            Self::Class(c) if c < classes => Ok(vec![c; n]),
            Self::Class(c) => Err(ModelError::Data(format!(
                "class {c} is not one of the model's {classes} classes"
            ))),
        }
    }
}
