//! Summaries of `x_t` that the window plots: the histogram of its values against the
//! `N(0, 1)` density ("is `x_t` Gaussian yet?").

use super::forward::Real;

/// A histogram of values on `[lo, hi)` with equal bins, plus the counts outside.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Left edge of the first bin.
    pub lo: f64,
    /// Right edge of the last bin.
    pub hi: f64,
    /// Count per bin.
    pub counts: Vec<u32>,
    /// Values below `lo`.
    pub below: u64,
    /// Values at or above `hi`.
    pub above: u64,
    /// All values counted (finite ones).
    pub total: u64,
}

impl Histogram {
    /// Counts `values` into `bins` equal bins on `[lo, hi)`.
    ///
    /// # Panics
    /// If `bins` is 0 or `lo >= hi`.
    #[must_use]
    pub fn new<R: Real>(values: &[R], lo: f64, hi: f64, bins: usize) -> Self {
        assert!(bins > 0 && lo < hi, "bad histogram range");
        let mut counts = vec![0u32; bins];
        let (mut below, mut above, mut total) = (0u64, 0u64, 0u64);
        let scale = bins as f64 / (hi - lo);
        for v in values {
            let v = v.to_f64();
            if !v.is_finite() {
                continue;
            }
            total += 1;
            if v < lo {
                below += 1;
            } else if v >= hi {
                above += 1;
            } else {
                let k = (((v - lo) * scale) as usize).min(bins - 1);
                counts[k] += 1;
            }
        }
        Self {
            lo,
            hi,
            counts,
            below,
            above,
            total,
        }
    }

    /// The width of one bin.
    #[must_use]
    pub fn bin_width(&self) -> f64 {
        (self.hi - self.lo) / self.counts.len() as f64
    }

    /// The centre of bin `k`.
    #[must_use]
    pub fn bin_centre(&self, k: usize) -> f64 {
        self.lo + (k as f64 + 0.5) * self.bin_width()
    }

    /// The empirical density of bin `k` (count / (total · width)), comparable to a pdf.
    #[must_use]
    pub fn density(&self, k: usize) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.counts[k]) / (self.total as f64 * self.bin_width())
        }
    }

    /// The total-variation distance between this histogram and `N(0, 1)` binned the same
    /// way (the mass outside the range is one more bin on each side): 0 for a perfect
    /// match, 1 for disjoint.
    #[must_use]
    pub fn tv_distance_to_standard_normal(&self) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        let n = self.total as f64;
        let cdf = super::elbo::normal_cdf;
        let w = self.bin_width();
        let mut tv = (self.below as f64 / n - cdf(self.lo)).abs()
            + (self.above as f64 / n - (1.0 - cdf(self.hi))).abs();
        for (k, &c) in self.counts.iter().enumerate() {
            let a = self.lo + k as f64 * w;
            tv += (f64::from(c) / n - (cdf(a + w) - cdf(a))).abs();
        }
        0.5 * tv
    }
}

/// The standard normal density `φ(x)`.
#[must_use]
pub fn standard_normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Mean and (population) standard deviation of `values`.
#[must_use]
pub fn mean_std<R: Real>(values: &[R]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|v| v.to_f64()).sum::<f64>() / n;
    let var = values.iter().map(|v| (v.to_f64() - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Number of projection directions of [`sliced_wasserstein2`].
pub const SW2_DIRECTIONS: usize = 64;

/// Sliced Wasserstein-2 distance between two equally sized 2D point sets (Rabin et al.
/// 2011): for each of [`SW2_DIRECTIONS`] directions `θ_k = kπ/K` (evenly spaced over the
/// half circle, so no randomness), project both sets, sort, and average the squared
/// differences of the order statistics (the exact 1D W2² between equal-size empirical
/// measures); the result is the square root of the mean over directions.
///
/// `a` and `b` are `n × 2`, row-major; sets of different sizes are compared on their
/// first `min(n_a, n_b)` points.
#[must_use]
pub fn sliced_wasserstein2(a: &[f64], b: &[f64]) -> f64 {
    let n = (a.len() / 2).min(b.len() / 2);
    if n == 0 {
        return f64::NAN;
    }
    let mut pa = vec![0.0; n];
    let mut pb = vec![0.0; n];
    let mut total = 0.0;
    for k in 0..SW2_DIRECTIONS {
        let angle = k as f64 * std::f64::consts::PI / SW2_DIRECTIONS as f64;
        let (s, c) = angle.sin_cos();
        for (p, q) in pa.iter_mut().zip(a.chunks_exact(2)) {
            *p = c * q[0] + s * q[1];
        }
        for (p, q) in pb.iter_mut().zip(b.chunks_exact(2)) {
            *p = c * q[0] + s * q[1];
        }
        pa.sort_unstable_by(f64::total_cmp);
        pb.sort_unstable_by(f64::total_cmp);
        total += pa.iter().zip(&pb).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / n as f64;
    }
    (total / SW2_DIRECTIONS as f64).sqrt()
}
