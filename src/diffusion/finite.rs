// Over 500 lines: the matrix with its presets, CSV parsing with error places, sampling and the class structure are one object (the linear algebra is in `linalg.rs`).
//! Finite Markov chains: the lecture's Markov-chain slide (states `i`, a transition matrix
//! `P_ij = P[X_{n+1} = j | X_n = i]`, the distribution `p_n = p_0 Pⁿ` after `n` steps).
//!
//! A [`Transition`] is a validated row-stochastic matrix. Its [`Structure`] names the
//! communicating classes (closed or transient, each with its period) and gives the
//! stationary distribution of every closed class, computed by the GTH algorithm
//! (Grassmann, Taksar & Heyman 1985: eliminations without subtractions, accurate even for
//! nearly decomposable chains). [`Transition::eigenvalues`] gives the spectrum (Householder
//! reduction to Hessenberg form and the shifted QR algorithm of EISPACK's `hqr`), whose
//! second-largest modulus `|λ₂|` is the geometric rate at which `p_n` approaches its limit.

use super::linalg::{gth, hessenberg, hqr, solve_in_place};
use std::fmt::Write as _;

use thiserror::Error;

use super::noise;

/// The most states a chain may have (the discrete diffusion's 8-bit levels).
pub const MAX_STATES: usize = 256;

/// The most states the window's editable chain shows.
pub const MAX_WINDOW_STATES: usize = 8;

/// Where in a matrix an error is: a row (from 1), or the line of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Row `n` of the matrix (1-based).
    Row(usize),
    /// Line `n` of the file (1-based).
    Line(usize),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Row(n) => write!(f, "row {n}"),
            Self::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// What is wrong with a transition matrix or a distribution (columns count from 1).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ChainError {
    /// No rows.
    #[error("the matrix is empty")]
    Empty,
    /// A row's length differs from the number of rows.
    #[error("{at} has {found} entries; a {expected}-state matrix needs {expected} in every row")]
    NotSquare {
        /// The row or line.
        at: Place,
        /// Its number of entries.
        found: usize,
        /// The number of rows.
        expected: usize,
    },
    /// An entry is not a number.
    #[error("{at}, column {column}: {text:?} is not a number")]
    NotANumber {
        /// The row or line.
        at: Place,
        /// The column (1-based).
        column: usize,
        /// What was there.
        text: String,
    },
    /// An entry is NaN or infinite.
    #[error("{at}, column {column}: {value} is not a finite probability")]
    NotFinite {
        /// The row or line.
        at: Place,
        /// The column (1-based).
        column: usize,
        /// The value.
        value: f64,
    },
    /// An entry is negative.
    #[error("{at}, column {column}: {value} is negative; probabilities are ≥ 0")]
    Negative {
        /// The row or line.
        at: Place,
        /// The column (1-based).
        column: usize,
        /// The value.
        value: f64,
    },
    /// A row sums to zero, so it cannot be normalised.
    #[error("{at} is all zeros: it cannot be normalised to sum to 1")]
    ZeroRow {
        /// The row or line.
        at: Place,
    },
    /// Too many states.
    #[error("{states} states; at most {max} are allowed here")]
    TooManyStates {
        /// The number of states asked for.
        states: usize,
        /// The limit.
        max: usize,
    },
    /// A distribution's length differs from the number of states.
    #[error("a distribution over {found} states for a {expected}-state chain")]
    WrongLength {
        /// Its length.
        found: usize,
        /// The number of states.
        expected: usize,
    },
    /// A probability set by hand is outside `[0, 1]`.
    #[error("{value} is not a probability in [0, 1]")]
    NotAProbability {
        /// The value.
        value: f64,
    },
    /// The QR algorithm did not converge (never seen on stochastic matrices).
    #[error("the eigenvalues did not converge")]
    NoConvergence,
}

/// The preset chains of the window and the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Every state reaches every other in one step, likelier nearby: fast mixing.
    WellMixing,
    /// Mostly stays put (0.9), else moves to a neighbour: slow mixing.
    SlowMixing,
    /// Moves round a cycle, `i → i + 1 mod K`: period `K`.
    Periodic,
    /// The last state absorbs every path.
    Absorbing,
    /// Two closed classes (the first and second half of the states), never joined.
    Reducible,
    /// Columns sum to 1 as well as rows (a lazy walk on a cycle): `π` is uniform.
    DoublyStochastic,
}

impl Preset {
    /// Every preset, in menu order.
    pub const ALL: [Self; 6] = [
        Self::WellMixing,
        Self::SlowMixing,
        Self::Periodic,
        Self::Absorbing,
        Self::Reducible,
        Self::DoublyStochastic,
    ];

    /// The name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::WellMixing => "well-mixing",
            Self::SlowMixing => "slow-mixing",
            Self::Periodic => "periodic",
            Self::Absorbing => "absorbing",
            Self::Reducible => "reducible",
            Self::DoublyStochastic => "doubly-stochastic",
        }
    }

    /// The preset named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Its rows for `k` states (`2 ≤ k ≤ MAX_STATES`), before normalisation.
    fn rows(self, k: usize) -> Vec<Vec<f64>> {
        let cycle = |i: usize, d: isize| (i as isize + d).rem_euclid(k as isize) as usize;
        (0..k)
            .map(|i| {
                let mut row = vec![0.0; k];
                match self {
                    Self::WellMixing => {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v = 1.0 / (1.0 + i.abs_diff(j) as f64);
                        }
                    }
                    Self::SlowMixing => {
                        row[i] = 0.9;
                        // To the neighbours, reflecting at the ends.
                        let (left, right) = (i.checked_sub(1), (i + 1 < k).then_some(i + 1));
                        match (left, right) {
                            (Some(l), Some(r)) => (row[l], row[r]) = (0.05, 0.05),
                            (Some(n), None) | (None, Some(n)) => row[n] = 0.1,
                            (None, None) => row[i] = 1.0,
                        }
                    }
                    Self::Periodic => row[cycle(i, 1)] = 1.0,
                    Self::Absorbing => {
                        let last = k - 1;
                        if i == last {
                            row[last] = 1.0;
                        } else {
                            row[i] += 0.6;
                            row[i + 1] += 0.3;
                            row[last] += 0.1;
                        }
                    }
                    Self::Reducible => {
                        let half = k.div_ceil(2);
                        let class = if i < half { 0..half } else { half..k };
                        for j in class {
                            row[j] = 1.0 / (1.0 + i.abs_diff(j) as f64);
                        }
                    }
                    Self::DoublyStochastic => {
                        row[i] += 0.5;
                        row[cycle(i, 1)] += 0.25;
                        row[cycle(i, -1)] += 0.25;
                    }
                }
                row
            })
            .collect()
    }
}

/// A row-stochastic matrix over `K` states.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    k: usize,
    /// Row-major; every row sums to 1.
    p: Vec<f64>,
}

impl Transition {
    /// The matrix with these rows, each normalised to sum to 1 (rows of counts or weights
    /// are fine); a row that cannot be normalised is refused with the reason.
    pub fn new(rows: &[Vec<f64>]) -> Result<Self, ChainError> {
        let k = rows.len();
        if k == 0 {
            return Err(ChainError::Empty);
        }
        if k > MAX_STATES {
            return Err(ChainError::TooManyStates {
                states: k,
                max: MAX_STATES,
            });
        }
        let mut p = Vec::with_capacity(k * k);
        for (r, row) in rows.iter().enumerate() {
            if row.len() != k {
                return Err(ChainError::NotSquare {
                    at: Place::Row(r + 1),
                    found: row.len(),
                    expected: k,
                });
            }
            p.extend(normalised(row, Place::Row(r + 1))?);
        }
        Ok(Self { k, p })
    }

    /// A matrix from CSV text: one row per non-empty line (`#` starts a comment), entries
    /// separated by commas. Errors name the line of the text.
    pub fn from_csv(text: &str) -> Result<Self, ChainError> {
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut row = Vec::new();
            for (c, cell) in line.split(',').enumerate() {
                let cell = cell.trim();
                let value: f64 = cell.parse().map_err(|_| ChainError::NotANumber {
                    at: Place::Line(n + 1),
                    column: c + 1,
                    text: cell.to_owned(),
                })?;
                row.push(value);
            }
            rows.push(row);
            lines.push(n + 1);
        }
        // Errors of `new` count rows; name the file's lines instead.
        let line = |at: Place| match at {
            Place::Row(r) => Place::Line(lines[r - 1]),
            Place::Line(_) => at,
        };
        Self::new(&rows).map_err(|e| match e {
            ChainError::NotSquare { at, found, expected } => ChainError::NotSquare {
                at: line(at),
                found,
                expected,
            },
            ChainError::NotFinite { at, column, value } => ChainError::NotFinite {
                at: line(at),
                column,
                value,
            },
            ChainError::Negative { at, column, value } => ChainError::Negative {
                at: line(at),
                column,
                value,
            },
            ChainError::ZeroRow { at } => ChainError::ZeroRow { at: line(at) },
            other => other,
        })
    }

    /// A preset chain over `k` states (clamped to `2..=MAX_STATES`).
    #[must_use]
    pub fn preset(preset: Preset, k: usize) -> Self {
        Self::new(&preset.rows(k.clamp(2, MAX_STATES))).expect("the presets are stochastic")
    }

    /// The number of states `K`.
    #[must_use]
    pub const fn states(&self) -> usize {
        self.k
    }

    /// `P_ij`.
    #[must_use]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.p[i * self.k + j]
    }

    /// Row `i` (the law of `X_{n+1}` given `X_n = i`).
    #[must_use]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.p[i * self.k..(i + 1) * self.k]
    }

    /// Sets `P_ij = value` and rescales the rest of row `i` so that it sums to 1 again
    /// (spread evenly when the rest was all zero). Refuses a value outside `[0, 1]`.
    pub fn set(&mut self, i: usize, j: usize, value: f64) -> Result<(), ChainError> {
        if !(0.0..=1.0).contains(&value) {
            return Err(ChainError::NotAProbability { value });
        }
        let k = self.k;
        let row = &mut self.p[i * k..(i + 1) * k];
        let rest: f64 = row
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != j)
            .map(|(_, v)| v)
            .sum();
        for (c, v) in row.iter_mut().enumerate() {
            *v = if c == j {
                value
            } else if rest > 0.0 {
                *v * (1.0 - value) / rest
            } else {
                (1.0 - value) / (k - 1).max(1) as f64
            };
        }
        if k == 1 {
            row[0] = 1.0;
        }
        Ok(())
    }

    /// One step of the distribution: `p P`.
    ///
    /// # Panics
    /// If `p` has the wrong length.
    #[must_use]
    pub fn step(&self, p: &[f64]) -> Vec<f64> {
        assert_eq!(p.len(), self.k, "a distribution over the chain's states");
        let mut next = vec![0.0; self.k];
        for (i, &pi) in p.iter().enumerate() {
            if pi != 0.0 {
                for (n, &pij) in next.iter_mut().zip(self.row(i)) {
                    *n += pi * pij;
                }
            }
        }
        next
    }

    /// `p_0, p_1, …, p_n` with `p_{m+1} = p_m P`.
    #[must_use]
    pub fn distributions(&self, p0: &[f64], n: usize) -> Vec<Vec<f64>> {
        let mut all = Vec::with_capacity(n + 1);
        all.push(p0.to_vec());
        for m in 0..n {
            let next = self.step(&all[m]);
            all.push(next);
        }
        all
    }

    /// A sampled trajectory `X_0 = start, X_1, …, X_n`: step `m` draws `X_m` from row
    /// `X_{m−1}` by the inverse CDF of the uniform `u(seed, m, path)`, so path number
    /// `path` of a seed is the same whatever else is drawn.
    ///
    /// # Panics
    /// If `start` is not a state.
    #[must_use]
    pub fn sample_path(&self, start: usize, n: usize, seed: u64, path: u64) -> Vec<usize> {
        assert!(start < self.k, "state {start} of a {}-state chain", self.k);
        let mut states = Vec::with_capacity(n + 1);
        states.push(start);
        let mut x = start;
        for m in 1..=n {
            x = inverse_cdf(self.row(x), noise::uniform(seed, m as u64, path));
            states.push(x);
        }
        states
    }

    /// A state drawn from `p` by the inverse CDF of the uniform `u(seed, 0, path)` (the
    /// start of path `path`, for a distribution `p_0`).
    #[must_use]
    pub fn sample_start(p: &[f64], seed: u64, path: u64) -> usize {
        inverse_cdf(p, noise::uniform(seed, 0, path))
    }

    /// The communicating classes, their periods and the stationary distributions.
    #[must_use]
    pub fn structure(&self) -> Structure {
        let k = self.k;
        let edge = |i: usize, j: usize| self.get(i, j) > 0.0;
        let reach = reachability(k, &edge);
        // Classes: states that reach each other, in order of their smallest state.
        let mut class_of = vec![usize::MAX; k];
        let mut classes: Vec<Class> = Vec::new();
        for i in 0..k {
            if class_of[i] != usize::MAX {
                continue;
            }
            let states: Vec<usize> = (0..k).filter(|&j| reach[i][j] && reach[j][i]).collect();
            let states = if states.is_empty() { vec![i] } else { states };
            for &s in &states {
                class_of[s] = classes.len();
            }
            let closed = states
                .iter()
                .all(|&s| (0..k).all(|j| !edge(s, j) || states.contains(&j)));
            let period = period(&states, &edge);
            classes.push(Class {
                states,
                closed,
                period,
            });
        }
        let stationary = classes
            .iter()
            .filter(|c| c.closed)
            .map(|c| {
                let pi = gth(&self.submatrix(&c.states));
                let mut full = vec![0.0; k];
                for (&s, v) in c.states.iter().zip(pi) {
                    full[s] = v;
                }
                full
            })
            .collect();
        Structure { classes, stationary }
    }

    /// `P` restricted to `states` (rows and columns in that order), row-major.
    fn submatrix(&self, states: &[usize]) -> Vec<Vec<f64>> {
        states
            .iter()
            .map(|&i| states.iter().map(|&j| self.get(i, j)).collect())
            .collect()
    }

    /// Where `p_n` settles on average: `lim (p_0 + … + p_{n−1})/n`, which is `lim p_n`
    /// whenever that exists. The mass of each closed class — what `p_0` puts there plus
    /// what flows in from the transient states, `(I − Q)⁻¹ R` — spread by its stationary
    /// distribution.
    #[must_use]
    pub fn limit(&self, p0: &[f64]) -> Vec<f64> {
        let structure = self.structure();
        let closed: Vec<&Class> = structure.classes.iter().filter(|c| c.closed).collect();
        let transient = structure.transient();
        // absorbed[t][c]: from transient state t, the probability of ending in class c.
        let absorbed = if transient.is_empty() {
            Vec::new()
        } else {
            let n = transient.len();
            let mut a: Vec<Vec<f64>> = (0..n)
                .map(|r| {
                    (0..n)
                        .map(|c| f64::from(u8::from(r == c)) - self.get(transient[r], transient[c]))
                        .collect()
                })
                .collect();
            let mut b: Vec<Vec<f64>> = transient
                .iter()
                .map(|&t| {
                    closed
                        .iter()
                        .map(|c| c.states.iter().map(|&j| self.get(t, j)).sum())
                        .collect()
                })
                .collect();
            solve_in_place(&mut a, &mut b);
            b
        };
        let mut limit = vec![0.0; self.k];
        for (c, (class, pi)) in closed.iter().zip(&structure.stationary).enumerate() {
            let mass: f64 = class.states.iter().map(|&s| p0[s]).sum::<f64>()
                + transient
                    .iter()
                    .enumerate()
                    .map(|(r, &t)| p0[t] * absorbed[r][c])
                    .sum::<f64>();
            for (l, v) in limit.iter_mut().zip(pi) {
                *l += mass * v;
            }
        }
        limit
    }

    /// The eigenvalues of `P` as `(re, im)`, largest modulus first.
    pub fn eigenvalues(&self) -> Result<Vec<(f64, f64)>, ChainError> {
        let mut h: Vec<Vec<f64>> = (0..self.k).map(|i| self.row(i).to_vec()).collect();
        hessenberg(&mut h);
        let mut values = hqr(&mut h)?;
        values.sort_by(|a, b| modulus(*b).total_cmp(&modulus(*a)).then(b.1.total_cmp(&a.1)));
        Ok(values)
    }

    /// `|λ₂|`: the second-largest eigenvalue modulus (1 for a periodic or reducible
    /// chain).
    pub fn second_eigenvalue_modulus(&self) -> Result<f64, ChainError> {
        let values = self.eigenvalues()?;
        Ok(values.get(1).map_or(0.0, |&v| modulus(v).min(1.0)))
    }

    /// The geometric rate at which `‖p_n − lim p‖₁` shrinks from any `p_0`: the largest
    /// `|λ|` once the eigenvalue 1 of each closed class is set aside (one per class). It
    /// is `|λ₂|` for an irreducible chain; 1 when a class is periodic (`p_n` cycles); and
    /// below 1 for a reducible aperiodic chain, whose `|λ₂|` is 1 although `p_n`
    /// converges.
    pub fn convergence_rate(&self) -> Result<f64, ChainError> {
        let mut values = self.eigenvalues()?;
        let closed = self.structure().classes.iter().filter(|c| c.closed).count();
        for _ in 0..closed {
            let nearest = (0..values.len())
                .min_by(|&a, &b| distance_to_one(values[a]).total_cmp(&distance_to_one(values[b])))
                .expect("one eigenvalue 1 per closed class");
            values.remove(nearest);
        }
        Ok(values.iter().map(|&v| modulus(v).min(1.0)).fold(0.0, f64::max))
    }
}

/// `row` divided by its sum, checked entry by entry (`at` names it in errors).
fn normalised(row: &[f64], at: Place) -> Result<Vec<f64>, ChainError> {
    for (c, &v) in row.iter().enumerate() {
        if !v.is_finite() {
            return Err(ChainError::NotFinite {
                at,
                column: c + 1,
                value: v,
            });
        }
        if v < 0.0 {
            return Err(ChainError::Negative {
                at,
                column: c + 1,
                value: v,
            });
        }
    }
    let sum: f64 = row.iter().sum();
    if sum <= 0.0 {
        return Err(ChainError::ZeroRow { at });
    }
    Ok(row.iter().map(|v| v / sum).collect())
}

/// A distribution over `k` states from weights (normalised; same checks as a row).
pub fn distribution(weights: &[f64], k: usize) -> Result<Vec<f64>, ChainError> {
    if weights.len() != k {
        return Err(ChainError::WrongLength {
            found: weights.len(),
            expected: k,
        });
    }
    normalised(weights, Place::Row(1))
}

/// The first `i` with `u < p_0 + … + p_i` (the last state with mass when rounding leaves
/// `u` above the total).
fn inverse_cdf(p: &[f64], u: f64) -> usize {
    let mut cumulative = 0.0;
    for (i, &pi) in p.iter().enumerate() {
        cumulative += pi;
        if u < cumulative {
            return i;
        }
    }
    p.iter().rposition(|&v| v > 0.0).unwrap_or(0)
}

/// `|λ − 1|`.
fn distance_to_one((re, im): (f64, f64)) -> f64 {
    (re - 1.0).hypot(im)
}

/// `|λ|` of `(re, im)`.
#[must_use]
pub fn modulus((re, im): (f64, f64)) -> f64 {
    re.hypot(im)
}

/// `‖p − q‖₁`.
#[must_use]
pub fn l1_distance(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum()
}

/// One communicating class of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Its states, ascending.
    pub states: Vec<usize>,
    /// No way out: the chain stays in it once there.
    pub closed: bool,
    /// The gcd of its cycle lengths (1: aperiodic; 0: no cycle at all, a transient state
    /// the chain leaves at once).
    pub period: usize,
}

/// The communicating classes and stationary distributions of a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Structure {
    /// The classes, in order of their smallest state.
    pub classes: Vec<Class>,
    /// The stationary distribution of each closed class (in class order), over all
    /// states. Every stationary distribution of the chain is a mixture of these.
    pub stationary: Vec<Vec<f64>>,
}

impl Structure {
    /// One class: every state reaches every other.
    #[must_use]
    pub fn irreducible(&self) -> bool {
        self.classes.len() == 1
    }

    /// The states in no closed class (visited finitely often).
    #[must_use]
    pub fn transient(&self) -> Vec<usize> {
        let mut states: Vec<usize> = self
            .classes
            .iter()
            .filter(|c| !c.closed)
            .flat_map(|c| c.states.iter().copied())
            .collect();
        states.sort_unstable();
        states
    }

    /// One sentence: irreducible or not, periodic or not, absorbing states.
    #[must_use]
    pub fn describe(&self) -> String {
        let closed: Vec<&Class> = self.classes.iter().filter(|c| c.closed).collect();
        let names = |states: &[usize]| states.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        let mut text = if self.irreducible() {
            let period = self.classes[0].period;
            if period == 1 {
                "irreducible and aperiodic: one stationary distribution π, and p_n → π from any start"
                    .to_owned()
            } else {
                format!(
                    "irreducible with period {period}: one stationary distribution π, but p_n cycles through {period} phases instead of converging"
                )
            }
        } else if closed.len() == 1 {
            format!(
                "one closed class {{{}}}: one stationary distribution π, reached from any start",
                names(&closed[0].states)
            )
        } else {
            format!(
                "reducible: {} closed classes ({}): a stationary distribution for each, and every mixture of them is stationary",
                closed.len(),
                closed
                    .iter()
                    .map(|c| format!("{{{}}}", names(&c.states)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let transient = self.transient();
        if !transient.is_empty() {
            let _ = write!(text, "; transient: {}", names(&transient));
        }
        let periodic: Vec<String> = closed
            .iter()
            .filter(|c| c.period > 1 && !self.irreducible())
            .map(|c| format!("{{{}}} has period {}", names(&c.states), c.period))
            .collect();
        if !periodic.is_empty() {
            text.push_str("; ");
            text.push_str(&periodic.join(", "));
        }
        text
    }
}

/// `reach[i][j]`: `j` can be reached from `i` in zero or more steps.
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
fn reachability(k: usize, edge: &dyn Fn(usize, usize) -> bool) -> Vec<Vec<bool>> {
    (0..k)
        .map(|i| {
            let mut seen = vec![false; k];
            let mut stack = vec![i];
            seen[i] = true;
            while let Some(u) = stack.pop() {
                for v in 0..k {
                    if edge(u, v) && !seen[v] {
                        seen[v] = true;
                        stack.push(v);
                    }
                }
            }
            seen
        })
        .collect()
}

/// The period of a class: the gcd over its edges `u → v` of `level(u) + 1 − level(v)`,
/// with levels from a breadth-first search inside the class (0 if it has no edge).
fn period(states: &[usize], edge: &dyn Fn(usize, usize) -> bool) -> usize {
    let mut level = vec![None; states.len()];
    level[0] = Some(0usize);
    let mut queue = std::collections::VecDeque::from([0usize]);
    let mut g = 0usize;
    while let Some(a) = queue.pop_front() {
        let la = level[a].expect("queued states have a level");
        for (b, &v) in states.iter().enumerate() {
            if !edge(states[a], v) {
                continue;
            }
            match level[b] {
                None => {
                    level[b] = Some(la + 1);
                    queue.push_back(b);
                }
                Some(lb) => g = gcd(g, (la + 1).abs_diff(lb)),
            }
        }
    }
    g
}

const fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
