//! The toy 2D data sets of the diffusion literature, seeded and standardised.
//!
//! Point `i` of a set is a pure function of `(dataset, seed, i)`: its random numbers are
//! draws `DRAWS_PER_POINT·i + j` of the set's own noise stream. So
//! [`generate_raw`]`(d, 1000, s)` is exactly the first 1000 points of
//! [`generate_raw`]`(d, 2000, s)`, and [`generate`] differs from it only by the
//! per-coordinate affine map of [`standardise`].

use std::f64::consts::{FRAC_PI_4, PI};
use std::fmt;
use std::str::FromStr;

use super::DataError;
use crate::diffusion::noise::StreamKey;

/// Random numbers reserved per point; draw `j` of point `i` is element `4·i + j`.
const DRAWS_PER_POINT: u64 = 4;

/// Noise stream of [`Dataset::TwoMoons`].
const TWO_MOONS_STREAM: u64 = 0xDA7A_0001;
/// Noise stream of [`Dataset::SwissRoll`].
const SWISS_ROLL_STREAM: u64 = 0xDA7A_0002;
/// Noise stream of [`Dataset::EightGaussians`].
const EIGHT_GAUSSIANS_STREAM: u64 = 0xDA7A_0003;
/// Noise stream of [`Dataset::Checkerboard`].
const CHECKERBOARD_STREAM: u64 = 0xDA7A_0004;
/// Noise stream of [`Dataset::Circles`].
const CIRCLES_STREAM: u64 = 0xDA7A_0005;
/// Noise stream of [`Dataset::Spiral`].
const SPIRAL_STREAM: u64 = 0xDA7A_0006;

/// Standard deviation of the Gaussian noise on each coordinate of the two moons
/// (scikit-learn's `make_moons(noise=0.05)`).
const TWO_MOONS_NOISE: f64 = 0.05;
/// Noise on the swiss roll's coordinates (arms are `2π ≈ 6.3` apart).
const SWISS_ROLL_NOISE: f64 = 0.25;
/// Radius of the circle that carries the eight Gaussians' centres.
const EIGHT_GAUSSIANS_RADIUS: f64 = 2.0;
/// Standard deviation of each of the eight Gaussians: `0.02 · radius`.
const EIGHT_GAUSSIANS_STD: f64 = 0.02 * EIGHT_GAUSSIANS_RADIUS;
/// Radius of the inner circle relative to the outer one (`make_circles(factor=0.5)`).
const CIRCLES_FACTOR: f64 = 0.5;
/// Noise on the circles' coordinates (`make_circles(noise=0.03)`).
const CIRCLES_NOISE: f64 = 0.03;
/// Largest angle (and radius) of each spiral arm: 540°, as in FFJORD's `2spirals`.
const SPIRAL_TURN: f64 = 3.0 * PI;
/// Noise on the spiral's coordinates.
const SPIRAL_NOISE: f64 = 0.3;
/// Coordinates whose standard deviation is below this are only centred.
const MIN_STD: f64 = 1e-12;

/// A toy 2D data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// Two interleaved half circles (scikit-learn's `make_moons`).
    TwoMoons,
    /// The `(x, z)` slice of scikit-learn's `make_swiss_roll`: a 1.5-turn spiral.
    SwissRoll,
    /// Eight tight Gaussians evenly spaced on a circle.
    EightGaussians,
    /// Eight filled squares of a 4×4 checkerboard.
    Checkerboard,
    /// Two concentric noisy circles (scikit-learn's `make_circles`).
    Circles,
    /// Two intertwined spiral arms (FFJORD's `2spirals`).
    Spiral,
}

impl Dataset {
    /// Every data set, in the order the UI lists them.
    pub const ALL: [Dataset; 6] = [
        Dataset::TwoMoons,
        Dataset::SwissRoll,
        Dataset::EightGaussians,
        Dataset::Checkerboard,
        Dataset::Circles,
        Dataset::Spiral,
    ];

    /// The command-line name, e.g. `"two-moons"`; [`FromStr`] accepts it back.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Dataset::TwoMoons => "two-moons",
            Dataset::SwissRoll => "swiss-roll",
            Dataset::EightGaussians => "8gaussians",
            Dataset::Checkerboard => "checkerboard",
            Dataset::Circles => "circles",
            Dataset::Spiral => "spiral",
        }
    }

    /// The human label, e.g. `"two moons"`; [`FromStr`] accepts it too.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Dataset::TwoMoons => "two moons",
            Dataset::SwissRoll => "swiss roll",
            Dataset::EightGaussians => "8 gaussians",
            Dataset::Checkerboard => "checkerboard",
            Dataset::Circles => "circles",
            Dataset::Spiral => "spiral",
        }
    }

    /// Labelled classes of the set (0: unlabelled): the two moons (upper 0, lower 1), the
    /// eight Gaussians' modes (mode `k` at angle `k·45°`), the circles (outer 0, inner 1)
    /// and the spiral's arms; the swiss roll and the checkerboard have no parts to name.
    #[must_use]
    pub const fn classes(self) -> usize {
        match self {
            Dataset::TwoMoons | Dataset::Circles | Dataset::Spiral => 2,
            Dataset::EightGaussians => 8,
            Dataset::SwissRoll | Dataset::Checkerboard => 0,
        }
    }

    /// The class of point `i` of [`generate`] (the generators are stratified by index:
    /// `i mod classes`); `None` for an unlabelled set.
    #[must_use]
    pub const fn class_of(self, i: usize) -> Option<usize> {
        match self.classes() {
            0 => None,
            k => Some(i % k),
        }
    }

    /// The name of class `k` (`"?"` beyond [`Dataset::classes`]).
    #[must_use]
    pub const fn class_name(self, k: usize) -> &'static str {
        const MODES: [&str; 8] = ["0°", "45°", "90°", "135°", "180°", "225°", "270°", "315°"];
        match (self, k) {
            (Dataset::TwoMoons, 0) => "upper moon",
            (Dataset::TwoMoons, 1) => "lower moon",
            (Dataset::Circles, 0) => "outer circle",
            (Dataset::Circles, 1) => "inner circle",
            (Dataset::Spiral, 0) => "arm +",
            (Dataset::Spiral, 1) => "arm −",
            (Dataset::EightGaussians, k) if k < 8 => MODES[k],
            _ => "?",
        }
    }

    /// The noise stream of this set.
    const fn stream(self) -> u64 {
        match self {
            Dataset::TwoMoons => TWO_MOONS_STREAM,
            Dataset::SwissRoll => SWISS_ROLL_STREAM,
            Dataset::EightGaussians => EIGHT_GAUSSIANS_STREAM,
            Dataset::Checkerboard => CHECKERBOARD_STREAM,
            Dataset::Circles => CIRCLES_STREAM,
            Dataset::Spiral => SPIRAL_STREAM,
        }
    }

    /// Raw point `i`, from its own draws `d.uniform(j)` / `d.normal(j)`, `j < 4`.
    fn raw_point(self, i: usize, d: &Draws) -> [f64; 2] {
        match self {
            // Even points on the upper moon, odd on the lower (exactly half each).
            Dataset::TwoMoons => {
                let t = PI * d.uniform(0);
                let (x, y) = if i.is_multiple_of(2) {
                    (t.cos(), t.sin())
                } else {
                    (1.0 - t.cos(), 0.5 - t.sin())
                };
                [
                    x + TWO_MOONS_NOISE * d.normal(1),
                    y + TWO_MOONS_NOISE * d.normal(2),
                ]
            }
            // t uniform in [1.5π, 4.5π], point (t cos t, t sin t).
            Dataset::SwissRoll => {
                let t = 1.5 * PI * (1.0 + 2.0 * d.uniform(0));
                [
                    t * t.cos() + SWISS_ROLL_NOISE * d.normal(1),
                    t * t.sin() + SWISS_ROLL_NOISE * d.normal(2),
                ]
            }
            // Component i mod 8, centred at angle k·45°: the components are exactly balanced.
            Dataset::EightGaussians => {
                let angle = (i % 8) as f64 * FRAC_PI_4;
                [
                    EIGHT_GAUSSIANS_RADIUS * angle.cos() + EIGHT_GAUSSIANS_STD * d.normal(0),
                    EIGHT_GAUSSIANS_RADIUS * angle.sin() + EIGHT_GAUSSIANS_STD * d.normal(1),
                ]
            }
            // FFJORD's construction: column uniform over 4 cells, then one of the two cells of
            // that column whose (column + row) is even; cells of side 2 on [−4, 4)².
            Dataset::Checkerboard => {
                let x = 4.0 * d.uniform(0) - 2.0;
                let row_pair = (2.0 * d.uniform(2)).floor();
                let y = d.uniform(1) - 2.0 * row_pair + x.floor().rem_euclid(2.0);
                [2.0 * x, 2.0 * y]
            }
            // Even points on the outer circle (radius 1), odd on the inner (radius 0.5).
            Dataset::Circles => {
                let angle = 2.0 * PI * d.uniform(0);
                let radius = if i.is_multiple_of(2) { 1.0 } else { CIRCLES_FACTOR };
                [
                    radius * angle.cos() + CIRCLES_NOISE * d.normal(1),
                    radius * angle.sin() + CIRCLES_NOISE * d.normal(2),
                ]
            }
            // Arm 0 (even i) is θ·(−cos θ, sin θ), arm 1 its mirror image through the origin;
            // θ = 3π·√u puts points evenly along the arm's length.
            Dataset::Spiral => {
                let theta = SPIRAL_TURN * d.uniform(0).sqrt();
                let sign = if i.is_multiple_of(2) { 1.0 } else { -1.0 };
                [
                    sign * (-theta * theta.cos()) + SPIRAL_NOISE * d.normal(1),
                    sign * (theta * theta.sin()) + SPIRAL_NOISE * d.normal(2),
                ]
            }
        }
    }
}

/// The random numbers of one point: draws `4·i .. 4·i + 4` of the set's stream.
struct Draws {
    key: StreamKey,
    first: u64,
}

impl Draws {
    fn uniform(&self, j: u64) -> f64 {
        self.key.uniform(self.first + j)
    }

    fn normal(&self, j: u64) -> f64 {
        self.key.normal(self.first + j)
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = DataError;

    /// Accepts the name or the label, case-insensitive, with `-`, `_` or a space between
    /// words, and the aliases `moons`, `8-gaussians` and `swissroll`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '_' | ' ' => '-',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        match key.as_str() {
            "two-moons" | "moons" | "twomoons" => Ok(Dataset::TwoMoons),
            "swiss-roll" | "swissroll" => Ok(Dataset::SwissRoll),
            "8gaussians" | "8-gaussians" | "eight-gaussians" => Ok(Dataset::EightGaussians),
            "checkerboard" => Ok(Dataset::Checkerboard),
            "circles" => Ok(Dataset::Circles),
            "spiral" | "spirals" | "2spirals" => Ok(Dataset::Spiral),
            _ => Err(DataError::UnknownDataset { given: s.to_owned() }),
        }
    }
}

/// The valid names, comma separated, for error messages.
pub(super) fn valid_names() -> String {
    Dataset::ALL.map(Dataset::name).join(", ")
}

/// `n` points of `dataset` under `seed`, standardised (each coordinate zero mean, unit
/// population standard deviation; see [`standardise`]).
///
/// Deterministic in `(dataset, n, seed)`; before standardisation point `i` depends only
/// on `(dataset, seed, i)` ([`generate_raw`]).
#[must_use]
pub fn generate(dataset: Dataset, n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut points = generate_raw(dataset, n, seed);
    standardise(&mut points);
    points
}

/// `n` points of `dataset` under `seed` in the set's own coordinates, before
/// [`standardise`]; point `i` depends only on `(dataset, seed, i)`.
///
/// The coordinates: two moons as scikit-learn's `make_moons` (even `i` on the upper moon
/// `(cos t, sin t)`, odd on the lower `(1 − cos t, 0.5 − sin t)`, `t ∈ [0, π]`, noise
/// 0.05); swiss roll `(t cos t, t sin t)`, `t ∈ [1.5π, 4.5π]`, noise 0.25; eight
/// Gaussians at radius 2, angle `(i mod 8)·45°`, std 0.04; checkerboard on `[−4, 4)²`
/// with cells of side 2, filled where `⌊x/2⌋ + ⌊y/2⌋` is even; circles of radius 1 (even
/// `i`) and 0.5 (odd `i`), noise 0.03; spiral arms `±θ(−cos θ, sin θ)`, `θ ∈ [0, 3π]`
/// (sign + for even `i`), noise 0.3.
#[must_use]
pub fn generate_raw(dataset: Dataset, n: usize, seed: u64) -> Vec<[f64; 2]> {
    let key = StreamKey::new(seed, dataset.stream());
    (0..n)
        .map(|i| {
            let draws = Draws {
                key,
                first: i as u64 * DRAWS_PER_POINT,
            };
            dataset.raw_point(i, &draws)
        })
        .collect()
}

/// Shifts and scales each coordinate to zero mean and unit population standard
/// deviation; a coordinate whose standard deviation is below `1e-12` is only centred.
///
/// A coordinate with a magnitude above `1e120` is first multiplied by a power of two that
/// brings it within 1, so that no sum or square below overflows: finite points near
/// `f64::MAX` (a hostile CSV) standardise like any others, where they gave NaN. Scaling
/// by a power of two is exact, so the result is the same as without it.
pub fn standardise(points: &mut [[f64; 2]]) {
    /// Beyond this, n·x² could overflow for the largest n a vector can hold.
    const UNSCALED_LIMIT: f64 = 1e120;
    if points.is_empty() {
        return;
    }
    let n = points.len() as f64;
    for c in 0..2 {
        let largest = points.iter().map(|p| p[c].abs()).fold(0.0, f64::max);
        let scale = if largest > UNSCALED_LIMIT {
            (-largest.log2().ceil()).exp2()
        } else {
            1.0
        };
        let mean = points.iter().map(|p| p[c] * scale).sum::<f64>() / n;
        for p in points.iter_mut() {
            p[c] = p[c] * scale - mean;
        }
        let std = (points.iter().map(|p| p[c] * p[c]).sum::<f64>() / n).sqrt();
        let divisor = if std >= MIN_STD * scale { std } else { scale };
        for p in points.iter_mut() {
            p[c] /= divisor;
        }
    }
}
