//! The ideal (memorising) denoiser of a finite data set (MATH.md §3).
//!
//! For data `{x_0^(i)}`, `q(x_t)` is a Gaussian mixture and
//! `E[x_0 | x_t] = Σ_i w_i x_0^(i)`, `w = softmax_i(−‖x_t − √ᾱ_t x_0^(i)‖² / (2(1 − ᾱ_t)))`.
//! Plugged into the reverse chain it is the best possible model for that data: it
//! reproduces the training points. It is the yardstick for the learned model.

use super::schedule::Schedule;

/// The ideal denoiser over a data set of `n` points of dimension `dim`.
#[derive(Clone, Debug)]
pub struct IdealDenoiser {
    data: Vec<f64>,
    dim: usize,
}

impl IdealDenoiser {
    /// A denoiser over `data`, `n · dim` values, point after point.
    ///
    /// # Panics
    /// If `dim` is 0, `data` is empty or its length is not a multiple of `dim`.
    #[must_use]
    pub fn new(data: Vec<f64>, dim: usize) -> Self {
        assert!(
            dim > 0 && !data.is_empty() && data.len().is_multiple_of(dim),
            "bad data shape"
        );
        Self { data, dim }
    }

    /// A denoiser over 2D points.
    #[must_use]
    pub fn from_points(points: &[[f64; 2]]) -> Self {
        Self::new(points.iter().flatten().copied().collect(), 2)
    }

    /// The dimension `d` of one point.
    #[must_use]
    pub const fn dim(&self) -> usize {
        self.dim
    }

    /// The number of data points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no data points (never true: `new` refuses empty data).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The mixture weights `w_i` of one `x_t` (a probability vector over the data), in
    /// `f64` throughout.
    ///
    /// # Panics
    /// If `xt.len() != dim` or `t` is 0 or beyond `T`.
    #[must_use]
    pub fn weights(&self, schedule: &Schedule, t: usize, xt: &[f64]) -> Vec<f64> {
        let mut logits = self.logits(schedule, t, xt);
        // Log-sum-exp: subtract the largest logit so the biggest weight is exp(0).
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for l in &mut logits {
            *l = (*l - max).exp();
            total += *l;
        }
        for l in &mut logits {
            *l /= total;
        }
        logits
    }

    /// `−‖x_t − √ᾱ_t x_0^(i)‖² / (2(1 − ᾱ_t))` for every data point.
    fn logits(&self, schedule: &Schedule, t: usize, xt: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        self.logits_into(schedule, t, xt, &mut out);
        out
    }

    /// [`Self::logits`] into `out` (cleared first).
    fn logits_into(&self, schedule: &Schedule, t: usize, xt: &[f64], out: &mut Vec<f64>) {
        assert!(t >= 1, "the ideal denoiser is defined for t ≥ 1");
        let (s, var) = (schedule.sqrt_alpha_bar(t), schedule.one_minus_alpha_bar(t));
        self.logits_at(s, var, xt, out);
    }

    /// The logits at the noise level `x_t = s·x_0 + √var·ε`.
    fn logits_at(&self, s: f64, var: f64, xt: &[f64], out: &mut Vec<f64>) {
        assert!(xt.len() == self.dim, "x_t has the wrong dimension");
        let scale = -1.0 / (2.0 * var);
        out.clear();
        out.extend(self.data.chunks_exact(self.dim).map(|x0| {
            let d2: f64 = x0.iter().zip(xt).map(|(a, b)| (b - s * a) * (b - s * a)).sum();
            d2 * scale
        }));
    }

    /// `E[x_0 | x_t]`, written into `out` (both of length `dim`), in `f64` throughout.
    pub fn predict_x0(&self, schedule: &Schedule, t: usize, xt: &[f64], out: &mut [f64]) {
        let w = self.weights(schedule, t, xt);
        out.fill(0.0);
        for (wi, x0) in w.iter().zip(self.data.chunks_exact(self.dim)) {
            for (o, v) in out.iter_mut().zip(x0) {
                *o += wi * v;
            }
        }
    }

    /// [`Self::predict_x0`] with the exponentials of the weights by the vectorised `exp`
    /// of [`crate::simd`] in `f32` (the logits and the sums stay `f64`), 5–10× faster:
    /// each weight is exact to 2e−7 relative, which moves `E[x_0|x_t]` by at most 4e−7 of
    /// the data's spread (weights below e^−87 of the largest become 1.6e−38 of it). The
    /// reverse chain and the ELBO, which evaluate it `T × n × m` times, use this.
    fn predict_x0_fast(
        &self,
        schedule: &Schedule,
        t: usize,
        xt: &[f64],
        (logits, w): (&mut Vec<f64>, &mut Vec<f32>),
        out: &mut [f64],
    ) {
        let (s, var) = (schedule.sqrt_alpha_bar(t), schedule.one_minus_alpha_bar(t));
        self.predict_x0_fast_at((s, var), xt, (logits, w), out);
    }

    /// [`Self::predict_x0_fast`] at the noise level `x_t = s·x_0 + √var·ε`.
    fn predict_x0_fast_at(
        &self,
        (s, var): (f64, f64),
        xt: &[f64],
        (logits, w): (&mut Vec<f64>, &mut Vec<f32>),
        out: &mut [f64],
    ) {
        self.logits_at(s, var, xt, logits);
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        w.clear();
        w.extend(logits.iter().map(|&l| (l - max) as f32));
        let mut total = 0.0;
        crate::simd::exp_neg_in_place(w, &mut total);
        out.fill(0.0);
        for (&wi, x0) in w.iter().zip(self.data.chunks_exact(self.dim)) {
            let wi = f64::from(wi);
            for (o, v) in out.iter_mut().zip(x0) {
                *o += wi * v;
            }
        }
        for o in out.iter_mut() {
            *o /= total;
        }
    }

    /// The `ε` the ideal denoiser implies: `(x_t − √ᾱ_t E[x_0|x_t]) / √(1 − ᾱ_t)`.
    pub fn predict_eps(&self, schedule: &Schedule, t: usize, xt: &[f64], out: &mut [f64]) {
        let mut x0 = vec![0.0; self.dim];
        self.predict_x0(schedule, t, xt, &mut x0);
        let (s, n) = (schedule.sqrt_alpha_bar(t), schedule.sqrt_one_minus_alpha_bar(t));
        for ((o, x), x0) in out.iter_mut().zip(xt).zip(&x0) {
            *o = (x - s * x0) / n;
        }
    }

    /// `E[x_0 | x_t]` for a batch of points (`xt.len()` a multiple of `dim`), with the
    /// fast weights of [`Self::predict_x0_fast`].
    pub fn predict_x0_batch(&self, schedule: &Schedule, t: usize, xt: &[f64], out: &mut [f64]) {
        let (mut logits, mut w) = (Vec::with_capacity(self.len()), Vec::with_capacity(self.len()));
        for (x, o) in xt.chunks_exact(self.dim).zip(out.chunks_exact_mut(self.dim)) {
            self.predict_x0_fast(schedule, t, x, (&mut logits, &mut w), o);
        }
    }

    /// The implied `ε` for a batch of points (`xt.len()` a multiple of `dim`), with the
    /// fast weights of [`Self::predict_x0_fast`].
    pub fn predict_eps_batch(&self, schedule: &Schedule, t: usize, xt: &[f64], out: &mut [f64]) {
        self.predict_x0_batch(schedule, t, xt, out);
        let (s, n) = (schedule.sqrt_alpha_bar(t), schedule.sqrt_one_minus_alpha_bar(t));
        for (o, x) in out.iter_mut().zip(xt) {
            *o = (x - s * *o) / n;
        }
    }

    /// `E[x_0 | x_t]` of a batch at any noise level `x_t = α x_0 + σ ε` (`σ > 0`), with the
    /// fast weights (flow matching's ideal velocity, `(x − x̂_0)/τ` on the straight path).
    pub fn predict_x0_batch_at(&self, alpha: f64, sigma: f64, xt: &[f64], out: &mut [f64]) {
        let (mut logits, mut w) = (Vec::with_capacity(self.len()), Vec::with_capacity(self.len()));
        for (x, o) in xt.chunks_exact(self.dim).zip(out.chunks_exact_mut(self.dim)) {
            self.predict_x0_fast_at((alpha, sigma * sigma), x, (&mut logits, &mut w), o);
        }
    }

    /// The implied `ε` of a batch at any noise level `x_t = α x_0 + σ ε` (`σ > 0`; the
    /// probability-flow ODE asks between the steps), with the fast weights.
    pub fn predict_eps_batch_at(&self, alpha: f64, sigma: f64, xt: &[f64], out: &mut [f64]) {
        let (mut logits, mut w) = (Vec::with_capacity(self.len()), Vec::with_capacity(self.len()));
        for (x, o) in xt.chunks_exact(self.dim).zip(out.chunks_exact_mut(self.dim)) {
            self.predict_x0_fast_at((alpha, sigma * sigma), x, (&mut logits, &mut w), o);
            for (o, x) in o.iter_mut().zip(x) {
                *o = (x - alpha * *o) / sigma;
            }
        }
    }
}
