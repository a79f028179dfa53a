//! Diffusion on a finite state space (D3PM, Austin et al. 2021): each value is one of `K`
//! states and the forward chain is `q(x_t | x_{t−1}) = Cat(x_t; x_{t−1} Q_t)`, the
//! finite-state twin of the Gaussian step `N(√α_t x_{t−1}, β_t I)`.
//!
//! Two transition matrices, both driven by the app's schedules through `β_t`:
//! - **uniform**: `Q_t = (1 − β_t) I + β_t 𝟙𝟙ᵀ/K` — with probability `β_t` the value is
//!   redrawn uniformly; `Q̄_t = Q_1 ⋯ Q_t = ᾱ_t I + (1 − ᾱ_t) 𝟙𝟙ᵀ/K`, stationary law
//!   uniform;
//! - **absorbing**: one extra mask state `m = K`; `Q_t = (1 − β_t) I + β_t 𝟙 e_mᵀ` — with
//!   probability `β_t` the value is masked for good; `Q̄_t = ᾱ_t I + (1 − ᾱ_t) 𝟙 e_mᵀ`,
//!   stationary law all mass on the mask.
//!
//! `ᾱ_t = ∏_{s≤t} (1 − β_s)` is the schedule's own. Both views draw from the
//! counter-based uniforms of [`noise`](super::noise): the Markov chain uses stream `t`
//! at step `t` (a fresh draw every step), the closed form one fixed stream, so scrubbing
//! shows the same frames.

use super::noise::StreamKey;
use super::schedule::Schedule;

/// Stream of the closed form's one uniform per value.
pub const CLOSED_FORM_STREAM: u64 = u64::MAX - 1;

/// The two transition matrices of D3PM this app shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscreteKind {
    #[default]
    /// Redraw uniformly among the `K` states.
    Uniform,
    /// Move to an extra mask state and stay there.
    Absorbing,
}

impl DiscreteKind {
    /// Both kinds, in menu order.
    pub const ALL: [Self; 2] = [Self::Uniform, Self::Absorbing];

    /// The name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Absorbing => "absorbing",
        }
    }

    /// The kind named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A discrete forward process: `levels` data states (plus the mask state when
/// absorbing) under a schedule.
#[derive(Clone, Debug)]
pub struct DiscreteProcess {
    kind: DiscreteKind,
    levels: usize,
    schedule: Schedule,
}

impl DiscreteProcess {
    /// The process over `levels ≥ 2` data states.
    ///
    /// # Panics
    /// If `levels < 2`.
    #[must_use]
    pub fn new(kind: DiscreteKind, levels: usize, schedule: Schedule) -> Self {
        assert!(levels >= 2, "a discrete process needs two states or more");
        Self {
            kind,
            levels,
            schedule,
        }
    }

    /// The kind of transition matrix.
    #[must_use]
    pub const fn kind(&self) -> DiscreteKind {
        self.kind
    }

    /// The number of data states `K`.
    #[must_use]
    pub const fn levels(&self) -> usize {
        self.levels
    }

    /// The schedule.
    #[must_use]
    pub const fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The number of states of the chain: `K`, or `K + 1` with the mask.
    #[must_use]
    pub const fn states(&self) -> usize {
        match self.kind {
            DiscreteKind::Uniform => self.levels,
            DiscreteKind::Absorbing => self.levels + 1,
        }
    }

    /// The mask state `K` (absorbing only).
    #[must_use]
    pub const fn mask(&self) -> Option<usize> {
        match self.kind {
            DiscreteKind::Uniform => None,
            DiscreteKind::Absorbing => Some(self.levels),
        }
    }

    /// `ρ I + (1 − ρ) 𝟙 vᵀ` with `v` the uniform law or `e_m`: `Q_t` with `ρ = 1 − β_t`,
    /// `Q̄_t` with `ρ = ᾱ_t`. Row-major.
    fn mix(&self, keep: f64) -> Vec<f64> {
        let n = self.states();
        let target = self.stationary();
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            for (j, v) in target.iter().enumerate() {
                q[i * n + j] = (1.0 - keep) * v;
            }
            q[i * n + i] += keep;
        }
        q
    }

    /// `Q_t` (`t ≥ 1`), row-major: row `i` is the law of `x_t` given `x_{t−1} = i`.
    #[must_use]
    pub fn q_step(&self, t: usize) -> Vec<f64> {
        self.mix(self.schedule.alpha(t))
    }

    /// `Q̄_t = Q_1 ⋯ Q_t` by its closed form (`Q̄_0 = I`), row-major.
    #[must_use]
    pub fn q_bar(&self, t: usize) -> Vec<f64> {
        self.mix(self.schedule.alpha_bar(t))
    }

    /// The law `x_T` approaches: uniform over the `K` states, or all mass on the mask.
    #[must_use]
    pub fn stationary(&self) -> Vec<f64> {
        match self.kind {
            DiscreteKind::Uniform => vec![1.0 / self.levels as f64; self.levels],
            DiscreteKind::Absorbing => {
                let mut v = vec![0.0; self.levels + 1];
                v[self.levels] = 1.0;
                v
            }
        }
    }

    /// The state a value moves to when `u < 1 − keep` (a uniform in `[0, 1)`): `u/(1 −
    /// keep)` is itself uniform then, and picks the new state.
    fn moved(&self, state: usize, u: f64, keep: f64) -> usize {
        let change = 1.0 - keep;
        if u >= change {
            return state;
        }
        match self.kind {
            DiscreteKind::Uniform => ((u / change * self.levels as f64) as usize).min(self.levels - 1),
            DiscreteKind::Absorbing => self.levels,
        }
    }

    /// One Markov step `t ≥ 1` in place: value `i` draws from row `x[i]` of `Q_t` with the
    /// uniform `u(seed, t, i)`.
    pub fn step_in_place(&self, t: usize, seed: u64, x: &mut [u16]) {
        let key = StreamKey::new(seed, t as u64);
        let keep = self.schedule.alpha(t);
        for (i, v) in x.iter_mut().enumerate() {
            *v = self.moved(usize::from(*v), key.uniform(i as u64), keep) as u16;
        }
    }

    /// `x_t` of the Markov chain from `x0`: `t` steps with a fresh draw each.
    #[must_use]
    pub fn markov(&self, x0: &[u16], t: usize, seed: u64) -> Vec<u16> {
        let mut x = x0.to_vec();
        for s in 1..=t {
            self.step_in_place(s, seed, &mut x);
        }
        x
    }

    /// `x_t ~ Cat(x_0 Q̄_t)` in one jump, with one fixed uniform per value (stream
    /// [`CLOSED_FORM_STREAM`]).
    #[must_use]
    pub fn closed_form(&self, x0: &[u16], t: usize, seed: u64) -> Vec<u16> {
        let key = StreamKey::new(seed, CLOSED_FORM_STREAM);
        let keep = self.schedule.alpha_bar(t);
        x0.iter()
            .enumerate()
            .map(|(i, &v)| self.moved(usize::from(v), key.uniform(i as u64), keep) as u16)
            .collect()
    }

    /// The share of values in each state.
    #[must_use]
    pub fn histogram(&self, x: &[u16]) -> Vec<f64> {
        let mut h = vec![0.0; self.states()];
        for &v in x {
            h[usize::from(v)] += 1.0;
        }
        let n = x.len().max(1) as f64;
        h.iter().map(|c| c / n).collect()
    }
}

/// The total-variation distance `½ Σ |p_i − q_i|`.
#[must_use]
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// Values in `[−1, 1]` quantised to `levels` states (`0` is −1, `levels − 1` is 1).
#[must_use]
pub fn quantise(values: &[f32], levels: usize) -> Vec<u16> {
    let top = (levels - 1) as f32;
    values
        .iter()
        .map(|&v| (f32::midpoint(v.clamp(-1.0, 1.0), 1.0) * top).round() as u16)
        .collect()
}

/// States back to `[−1, 1]` for display; the mask state shows as `mask_value`.
#[must_use]
pub fn dequantise(states: &[u16], levels: usize, mask_value: f32) -> Vec<f32> {
    let top = (levels - 1) as f32;
    states
        .iter()
        .map(|&s| {
            if usize::from(s) >= levels {
                mask_value
            } else {
                f32::from(s) / top * 2.0 - 1.0
            }
        })
        .collect()
}
