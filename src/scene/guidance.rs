//! What classifier-free guidance trades, measured on the samples on screen: how sure a
//! classifier is of them (up with `w`) against how varied they are (down with `w`).
//!
//! The classifier is the `k` nearest neighbours ([`NEIGHBOURS`]) among the labelled data
//! the model was trained on: a sample's class probabilities are the shares of its
//! neighbours in each class. The confidence is the mean top-class probability, "as asked"
//! the share whose top class is the class the chain was guided to. The diversity is the
//! samples' mean pairwise distance as a ratio to that of the data of the same classes (1:
//! as varied as the data; guidance pulls it down). The yardstick of BENCHMARKS.md is
//! `scripts/digits_quality.py` (scikit-learn features); this is its live, dependency-free
//! counterpart for the window.

use crate::data::{self, Dataset};
use crate::model::classes::ClassChoice;

/// Neighbours that vote in the k-NN classifier.
pub const NEIGHBOURS: usize = 10;
/// Data points of a 2D set drawn as the labelled reference.
const REFERENCE_POINTS: usize = 2000;
/// At most this many examples enter a mean pairwise distance (the first ones).
const PAIRS_OF: usize = 600;

/// A model's labelled training data, the classifier's reference.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledData {
    /// Examples, `n × dim`.
    pub data: Vec<f32>,
    /// The class of each.
    pub labels: Vec<usize>,
    /// Values per example.
    pub dim: usize,
    /// Classes.
    pub classes: usize,
}

impl LabelledData {
    /// The labelled data of a model trained on `dataset` (its file's `dataset` key): the
    /// digits, the window's glyph digits, or a labelled built-in 2D set (seed 1, as the
    /// shipped models); `None` for anything else.
    #[must_use]
    pub fn of(dataset: &str) -> Option<Self> {
        if dataset == "digits" {
            let digits = super::cached_digits().ok()?;
            return Some(Self {
                data: digits.images.iter().flatten().copied().collect(),
                labels: digits.labels.iter().map(|&c| usize::from(c)).collect(),
                dim: data::DIGIT_PIXELS,
                classes: data::DIGIT_CLASSES,
            });
        }
        if dataset == "glyphs" {
            let (images, labels) = super::cached_glyphs();
            return Some(Self {
                data: images.iter().flatten().copied().collect(),
                labels: labels.clone(),
                dim: data::glyphs::GLYPH_PIXELS,
                classes: data::glyphs::GLYPH_CLASSES,
            });
        }
        let set: Dataset = dataset.parse().ok()?;
        (set.classes() > 0).then(|| Self {
            data: data::generate(set, REFERENCE_POINTS, 1)
                .iter()
                .flat_map(|p| [p[0] as f32, p[1] as f32])
                .collect(),
            labels: (0..REFERENCE_POINTS).filter_map(|i| set.class_of(i)).collect(),
            dim: 2,
            classes: set.classes(),
        })
    }

    fn example(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Class probabilities of `x` under the k-NN vote.
    #[must_use]
    pub fn probabilities(&self, x: &[f32]) -> Vec<f64> {
        let n = self.labels.len();
        let mut dist: Vec<(f32, usize)> = (0..n)
            .map(|i| (squared(x, self.example(i)), self.labels[i]))
            .collect();
        let k = NEIGHBOURS.min(n);
        let mut p = vec![0.0; self.classes];
        if k == 0 {
            return p;
        }
        dist.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        for &(_, c) in &dist[..k] {
            p[c] += 1.0 / k as f64;
        }
        p
    }
}

fn squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Mean distance between distinct examples among the first [`PAIRS_OF`] of `xs`.
fn mean_pairwise(xs: &[&[f32]]) -> f64 {
    let xs = &xs[..xs.len().min(PAIRS_OF)];
    let (mut sum, mut count) = (0.0, 0u64);
    for (i, a) in xs.iter().enumerate() {
        for b in &xs[i + 1..] {
            sum += f64::from(squared(a, b)).sqrt();
            count += 1;
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// The name of class `k` of a model trained on `dataset`: the digit itself, the part of a
/// 2D set ([`Dataset::class_name`]), else `class k`.
#[must_use]
pub fn class_name(dataset: &str, k: usize) -> String {
    if dataset == "digits" || dataset == "glyphs" {
        return k.to_string();
    }
    dataset
        .parse::<Dataset>()
        .ok()
        .filter(|set| k < set.classes())
        .map_or_else(|| format!("class {k}"), |set| set.class_name(k).to_owned())
}

/// What one guided chain's samples show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuidanceReadout {
    /// The class asked for.
    pub class: ClassChoice,
    /// The guidance weight.
    pub weight: f32,
    /// Mean top-class probability of the samples.
    pub confidence: f64,
    /// Share of samples whose top class is the one asked for.
    pub as_asked: f64,
    /// Mean pairwise distance of the samples over that of the data of the same classes.
    pub diversity: f64,
}

/// The readout of `samples` (`n × dim`), asked for `labels` (one per sample) under
/// `class` and `weight`; `None` if the shapes do not match the data.
#[must_use]
pub fn measure(
    reference: &LabelledData,
    samples: &[f32],
    labels: &[usize],
    class: ClassChoice,
    weight: f32,
) -> Option<GuidanceReadout> {
    let d = reference.dim;
    let n = samples.len() / d.max(1);
    if d == 0 || n == 0 || samples.len() != n * d || labels.len() != n {
        return None;
    }
    let (mut confidence, mut asked) = (0.0, 0usize);
    for (x, &want) in samples.chunks_exact(d).zip(labels) {
        let p = reference.probabilities(x);
        let (top, best) = p
            .iter()
            .enumerate()
            .fold((0, -1.0), |(i, b), (j, &v)| if v > b { (j, v) } else { (i, b) });
        confidence += best;
        asked += usize::from(top == want);
    }
    let own: Vec<&[f32]> = samples.chunks_exact(d).collect();
    let data: Vec<&[f32]> = (0..reference.labels.len())
        .filter(|&i| match class {
            ClassChoice::Any => true,
            ClassChoice::Class(c) => reference.labels[i] == c,
        })
        .map(|i| reference.example(i))
        .collect();
    let data_spread = mean_pairwise(&data);
    Some(GuidanceReadout {
        class,
        weight,
        confidence: confidence / n as f64,
        as_asked: asked as f64 / n as f64,
        diversity: if data_spread > 0.0 {
            mean_pairwise(&own) / data_spread
        } else {
            0.0
        },
    })
}
