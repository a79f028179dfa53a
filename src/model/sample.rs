//! The learned reverse chain: DDPM ancestral sampling, DDIM, the probability-flow ODE and
//! flow matching's Euler and Heun, one step at a time, for a learned network or the ideal
//! denoiser, from pure noise or (SDEdit) from data noised to a chosen `t`.
//!
//! Diffusion samplers need an ε-model, flow-matching samplers a velocity model
//! ([`SamplerKind::fits`]); a chain is told its learned model's objective by
//! [`ReverseChain::for_objective`] and refuses a sampler that does not fit it (the ideal
//! denoiser fits every sampler).
//!
//! Noise is counter-based like everything else: `x_T` is stream [`START_STREAM`] of the
//! seed and the `z` of the step from `t` is stream `t`, so a chain is a pure function of
//! (model, sampler, seed) and single-stepping gives the same frames as running.

use serde::{Deserialize, Serialize};

use super::classes::Guidance;
use super::flow::DenoiserField;
use super::flow_matching::{Objective, ideal_velocity, tau_of};
use super::{Inference, ModelError};
use crate::diffusion::flow_matching::{euler_step, heun_step, path_sample, predict_x0_from_velocity};
use crate::diffusion::forward::q_sample;
use crate::diffusion::noise::fill_normal_f32;
use crate::diffusion::ode::Tolerance;
use crate::diffusion::prob_flow::{FlowSampler, LogSnrTime, alpha_sigma};
use crate::diffusion::reverse::{ddim_step, ddim_timesteps, ddpm_step, eps_from_x0, predict_x0_from_eps};
use crate::diffusion::{IdealDenoiser, ReverseVariance, Schedule};

/// Noise stream of the chain's starting point.
pub const START_STREAM: u64 = 0x5A3D_0000_0000_0000;

/// Why an ε-model's chain cannot step from `x_T` under zero terminal SNR (the chain's
/// refusal, and the window's before it asks).
pub const ZERO_TERMINAL_SNR: &str = "zero terminal SNR: ᾱ_T = 0, so a step from x_T needs x̂_0 = (x_T − ε̂)/√ᾱ_T, \
     which an ε-predicting denoiser cannot give (Lin et al. 2024 §3.2)";

/// Below this `ᾱ_T` (and above 0) a chain of 2D points clips `x̂_0` to
/// [`POINTS_X0_BOUND`]: `x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t` multiplies the model's error in
/// `ε̂` by `1/√ᾱ_t`, and under such a schedule (e.g. linear β up to 0.2 over T = 1000,
/// `ᾱ_T = 2e-47`) the steps where `ᾱ_t` is tiny pass that error on with a gain above 1
/// (`√(ᾱ_{t'}/ᾱ_t)`), so a model's small error outside its training range grows to
/// infinity (a DDPM chain of a 200-iteration model went non-finite at t = 424).
pub const TINY_ALPHA_BAR_T: f64 = 1e-20;
/// The box a 2D chain clips `x̂_0` to under a schedule with `ᾱ_T <`
/// [`TINY_ALPHA_BAR_T`]: ±8 in the standardised units every points set is shown in
/// (the view spans ±3.5), so no data point is cut.
pub const POINTS_X0_BOUND: f32 = 8.0;

/// Which reverse sampler: the one list of samplers the window, the command line and the
/// worker share. The data-free choice (persisted in the window's settings, parsed on the
/// command line); [`Sampler`] is the same choice with its parameters, built by
/// [`SamplerKind::sampler`].
///
/// The window's list and the CLI's `--sampler` values are
/// [`clap::ValueEnum::value_variants`], which the derive keeps exhaustive: a new variant is
/// listed in both once it has a label here (the `match` in [`Self::label`] does not
/// compile until it has one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum SamplerKind {
    /// Ancestral sampling over every step with `σ_t² = β_t` (Ho et al. 2020).
    #[default]
    #[value(name = "ddpm")]
    DdpmBeta,
    /// Ancestral sampling over every step with `σ_t² = β̃_t`, the posterior variance.
    #[value(name = "ddpm-posterior")]
    DdpmPosterior,
    /// DDIM over a sub-sequence of `K` steps with stochasticity `η` (Song et al. 2021).
    #[value(name = "ddim")]
    Ddim,
    /// The probability-flow ODE (Song et al. 2021), solved by adaptive RK45.
    #[value(name = "ode")]
    ProbabilityFlow,
    /// A flow-matching model's ODE `dx/dτ = v` by Euler over `K` evenly spaced steps.
    #[value(name = "euler")]
    FlowEuler,
    /// A flow-matching model's ODE by Heun's method (second order, two evaluations a
    /// step) over `K` evenly spaced steps.
    #[value(name = "heun")]
    FlowHeun,
}

impl SamplerKind {
    /// Every sampler, in the order the window lists them.
    #[must_use]
    pub fn all() -> &'static [Self] {
        <Self as clap::ValueEnum>::value_variants()
    }

    /// The window's name for it, e.g. `DDPM, σ² = β̃_t`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::DdpmBeta => "DDPM, σ² = β_t",
            Self::DdpmPosterior => "DDPM, σ² = β̃_t",
            Self::Ddim => "DDIM",
            Self::ProbabilityFlow => "probability-flow ODE",
            Self::FlowEuler => "flow matching, Euler",
            Self::FlowHeun => "flow matching, Heun",
        }
    }

    /// Whether it visits `K` evenly spaced steps (and the window shows the `K` control).
    #[must_use]
    pub const fn strided(self) -> bool {
        match self {
            Self::DdpmBeta | Self::DdpmPosterior | Self::ProbabilityFlow => false,
            Self::Ddim | Self::FlowEuler | Self::FlowHeun => true,
        }
    }

    /// Whether it takes the stochasticity `η` (DDIM only; the window shows the `η` control).
    #[must_use]
    pub const fn uses_eta(self) -> bool {
        matches!(self, Self::Ddim)
    }

    /// The objective of the models it samples: ε for the diffusion samplers, the velocity
    /// for Euler and Heun.
    #[must_use]
    pub const fn objective(self) -> Objective {
        match self {
            Self::DdpmBeta | Self::DdpmPosterior | Self::Ddim | Self::ProbabilityFlow => Objective::Epsilon,
            Self::FlowEuler | Self::FlowHeun => Objective::FlowMatching,
        }
    }

    /// Whether it samples a learned model trained with `objective`.
    #[must_use]
    pub fn fits(self, objective: Objective) -> bool {
        self.objective() == objective
    }

    /// Its command-line name, e.g. `ddim`.
    #[must_use]
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self).map_or_else(String::new, |v| v.get_name().to_owned())
    }

    /// The samplers that fit `objective`'s models, by name, e.g. `euler or heun`.
    #[must_use]
    pub fn names_for(objective: Objective) -> String {
        let names: Vec<String> = Self::all()
            .iter()
            .filter(|k| k.fits(objective))
            .map(|k| k.name())
            .collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// `Ok` if it samples a model trained with `objective`; else the one-line refusal that
    /// says which samplers fit which model.
    ///
    /// # Errors
    /// [`ModelError::Data`] for a sampler of the other kind of model.
    pub fn check_fits(self, objective: Objective) -> Result<(), ModelError> {
        if self.fits(objective) {
            return Ok(());
        }
        let other = self.objective();
        Err(ModelError::Data(format!(
            "the {} sampler is for {} models; this model is trained by {objective}, which samples with {}",
            self.name(),
            match other {
                Objective::Epsilon => "diffusion (ε)",
                Objective::FlowMatching => "flow-matching",
            },
            Self::names_for(objective)
        )))
    }

    /// The default sampler of a model trained with `objective`: DDPM (σ² = β_t) for a
    /// diffusion model, Euler for flow matching.
    #[must_use]
    pub const fn default_for(objective: Objective) -> Self {
        match objective {
            Objective::Epsilon => Self::DdpmBeta,
            Objective::FlowMatching => Self::FlowEuler,
        }
    }

    /// The sampler with its parameters: `steps` (`K`) and `eta` (`η`) are used by a
    /// [`strided`](Self::strided) one only.
    #[must_use]
    pub const fn sampler(self, steps: usize, eta: f64) -> Sampler {
        match self {
            Self::DdpmBeta => Sampler::Ddpm(ReverseVariance::Beta),
            Self::DdpmPosterior => Sampler::Ddpm(ReverseVariance::PosteriorVariance),
            Self::Ddim => Sampler::Ddim { steps, eta },
            Self::ProbabilityFlow => Sampler::ProbabilityFlow,
            Self::FlowEuler => Sampler::FlowEuler { steps },
            Self::FlowHeun => Sampler::FlowHeun { steps },
        }
    }
}

/// How the reverse chain steps: a [`SamplerKind`] with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Ancestral sampling over every step, `σ_t² = β_t` or `β̃_t` (Ho et al. 2020).
    Ddpm(ReverseVariance),
    /// DDIM over `steps` evenly spaced steps with stochasticity `η` (Song et al. 2021).
    Ddim {
        /// Number of steps `k` (1..=T).
        steps: usize,
        /// `η ∈ [0, 1]`; 0 is deterministic.
        eta: f64,
    },
    /// The probability-flow ODE from the chain's start to step 1 by Dormand–Prince at
    /// rtol = atol = 1e−5 ([`FLOW_TOLERANCE`]), each accepted step a frame, then
    /// `x_0 = x̂_0(x_1)` (Song et al. 2021).
    ProbabilityFlow,
    /// A flow-matching model's ODE by Euler over `steps` evenly spaced steps `t → t'`:
    /// `x' = x − (t − t')/T · v(x, t)`.
    FlowEuler {
        /// Number of steps `K` (1..=T).
        steps: usize,
    },
    /// A flow-matching model's ODE by Heun over `steps` evenly spaced steps, with
    /// `h = (t − t')/T`: `x̃ = x − h v(x, t)`, `x' = x − h/2 (v(x, t) + v(x̃, t'))`.
    FlowHeun {
        /// Number of steps `K` (1..=T).
        steps: usize,
    },
}

/// The probability-flow sampler's tolerance.
pub const FLOW_TOLERANCE: Tolerance = Tolerance::LIKELIHOOD;

impl Sampler {
    /// Which sampler this is.
    #[must_use]
    pub const fn kind(&self) -> SamplerKind {
        match self {
            Self::Ddpm(ReverseVariance::Beta) => SamplerKind::DdpmBeta,
            Self::Ddpm(ReverseVariance::PosteriorVariance) => SamplerKind::DdpmPosterior,
            Self::Ddim { .. } => SamplerKind::Ddim,
            Self::ProbabilityFlow => SamplerKind::ProbabilityFlow,
            Self::FlowEuler { .. } => SamplerKind::FlowEuler,
            Self::FlowHeun { .. } => SamplerKind::FlowHeun,
        }
    }

    /// The decreasing steps the chain visits, from `from` (≤ T) down to and including 0;
    /// the probability flow's are where its adaptive steps land, known as it goes (only
    /// `from` here).
    #[must_use]
    pub fn timesteps(&self, from: usize) -> Vec<usize> {
        match *self {
            Self::Ddpm(_) => (0..=from).rev().collect(),
            Self::Ddim { steps, .. } | Self::FlowEuler { steps } | Self::FlowHeun { steps } => {
                ddim_timesteps(from, steps)
            }
            Self::ProbabilityFlow => vec![from],
        }
    }

    /// A short description, e.g. `DDIM, 50 steps, η = 0`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Ddpm(ReverseVariance::Beta) => "DDPM, σ² = β_t".into(),
            Self::Ddpm(ReverseVariance::PosteriorVariance) => "DDPM, σ² = β̃_t".into(),
            Self::Ddim { steps, eta } => format!("DDIM, {steps} steps, η = {eta}"),
            Self::ProbabilityFlow => "probability-flow ODE, RK45 at rtol = atol = 1e-5".into(),
            Self::FlowEuler { steps } => format!("flow matching, Euler, {steps} steps"),
            Self::FlowHeun { steps } => format!("flow matching, Heun, {steps} steps"),
        }
    }
}

/// What denoises: the data-free choice (persisted in the window's settings).
///
/// Three types carry this one choice at three layers, because each carries different
/// data: `DenoiserKind` carries none (what the user picked); the worker's
/// `DenoiserChoice` carries what the window must send for it (the ideal denoiser's
/// examples and schedule; the learned network is the worker's own); [`Denoiser`] carries
/// the evaluable thing (a network prepared for inference, or the ideal denoiser).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DenoiserKind {
    /// The learned model the `model` worker holds (shipped, trained or from a file).
    #[default]
    Learned,
    /// The ideal denoiser of the data on screen (MATH.md §3).
    Ideal,
}

/// What predicts `ε` in the chain: a learned network or the ideal denoiser of a data set
/// (see [`DenoiserKind`] for why this and the choice are two types).
#[derive(Debug)]
pub enum Denoiser {
    /// A learned network (its own schedule is the chain's).
    Learned(Inference),
    /// A class-conditional network guided to a class per example (classifier-free
    /// guidance, [`Guidance`]).
    Guided(Inference, Guidance),
    /// The ideal denoiser `E[x_0 | x_t]` of a finite data set (MATH.md §3).
    Ideal(IdealDenoiser),
}

impl Denoiser {
    /// Which kind of denoiser this is.
    #[must_use]
    pub const fn kind(&self) -> DenoiserKind {
        match self {
            Self::Learned(_) | Self::Guided(..) => DenoiserKind::Learned,
            Self::Ideal(_) => DenoiserKind::Ideal,
        }
    }

    /// `ε̂(x_t, t)` for `n × d` values all at step `t`.
    pub fn predict_eps(&self, schedule: &Schedule, xt: &[f32], t: usize) -> Result<Vec<f32>, ModelError> {
        match self {
            Self::Learned(net) => net.predict_eps(xt, t),
            Self::Guided(net, guidance) => {
                let mut eps = net.predict_eps_labelled(xt, t as f32, &guidance.labels)?;
                if guidance.weight != 0.0 {
                    let unconditional = net.predict_eps_labelled(xt, t as f32, &[])?;
                    guidance.combine(&mut eps, &unconditional);
                }
                Ok(eps)
            }
            Self::Ideal(ideal) => {
                let x: Vec<f64> = xt.iter().map(|&v| f64::from(v)).collect();
                let mut eps = vec![0.0; x.len()];
                ideal.predict_eps_batch(schedule, t, &x, &mut eps);
                Ok(eps.into_iter().map(|v| v as f32).collect())
            }
        }
    }
}

impl Denoiser {
    /// The straight path's velocity `v(x, s)` of `n × d` values at the step `s` (`τ = s/T`)
    /// for flow matching: a learned network's output at `s` (a flow-matching model's, see
    /// [`super::flow_matching`]), or the ideal denoiser's velocity
    /// ([`ideal_velocity`], `s > 0`).
    ///
    /// # Errors
    /// A guided network (flow-matching models are unconditional), or the model's.
    pub fn predict_velocity(&self, schedule: &Schedule, xt: &[f32], s: f64) -> Result<Vec<f32>, ModelError> {
        match self {
            Self::Learned(net) => net.predict_eps_at(xt, s as f32),
            Self::Guided(..) => Err(ModelError::Data(
                "flow-matching models are unconditional: guidance needs a class-conditional ε-model".into(),
            )),
            Self::Ideal(ideal) => {
                let x: Vec<f64> = xt.iter().map(|&v| f64::from(v)).collect();
                let mut v = vec![0.0; x.len()];
                ideal_velocity(ideal, tau_of(s, schedule.steps()), &x, &mut v);
                Ok(v.into_iter().map(|v| v as f32).collect())
            }
        }
    }
}

/// One frame of the chain: the state at step `t` and the model's `x̂_0` there.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The step of `x`.
    pub t: usize,
    /// `x_t`, `n × d`.
    pub x: Vec<f32>,
    /// `x̂_0` predicted at the step that produced this frame's predecessor (for `t = T`, at
    /// `T` itself); `n × d`.
    pub x0_hat: Vec<f32>,
}

/// A reverse chain in progress.
#[derive(Clone, Debug)]
pub struct ReverseChain {
    schedule: Schedule,
    sampler: Sampler,
    seed: u64,
    dim: usize,
    timesteps: Vec<usize>,
    position: usize,
    x: Vec<f32>,
    clip: Option<(f32, f32)>,
    panic_at_step: Option<usize>,
    /// The probability flow's solver, from the first step on.
    flow: Option<FlowSampler>,
    /// The objective of the learned model that steps it ([`Self::for_objective`]).
    objective: Objective,
    /// Velocity evaluations of a flow-matching sampler so far.
    evaluations: usize,
}

impl ReverseChain {
    /// A chain of `n` examples of `dim` values from `x_T ~ N(0, I)`.
    #[must_use]
    pub fn from_noise(schedule: Schedule, sampler: Sampler, n: usize, dim: usize, seed: u64) -> Self {
        let mut x = vec![0f32; n * dim];
        fill_normal_f32(seed, START_STREAM, &mut x);
        let from = schedule.steps();
        Self {
            timesteps: sampler.timesteps(from),
            schedule,
            sampler,
            seed,
            dim,
            position: 0,
            x,
            clip: None,
            panic_at_step: None,
            flow: None,
            objective: Objective::Epsilon,
            evaluations: 0,
        }
    }

    /// SDEdit (Meng et al. 2022): `x0` (`n × dim`) noised by the closed form to step
    /// `from`, then the reverse chain from there (for a flow-matching sampler, along the
    /// straight path: `x_τ = (1 − τ) x_0 + τ ε`, `τ = from/T`).
    #[must_use]
    pub fn from_data(
        schedule: Schedule,
        sampler: Sampler,
        x0: &[f32],
        dim: usize,
        from: usize,
        seed: u64,
    ) -> Self {
        let from = from.clamp(1, schedule.steps());
        let mut eps = vec![0f32; x0.len()];
        fill_normal_f32(seed, START_STREAM, &mut eps);
        let mut x = vec![0f32; x0.len()];
        if sampler.kind().objective() == Objective::FlowMatching {
            path_sample(tau_of(from as f64, schedule.steps()), x0, &eps, &mut x);
        } else {
            q_sample(&schedule, from, x0, &eps, &mut x);
        }
        Self {
            timesteps: sampler.timesteps(from),
            schedule,
            sampler,
            seed,
            dim,
            position: 0,
            x,
            clip: None,
            panic_at_step: None,
            flow: None,
            objective: Objective::Epsilon,
            evaluations: 0,
        }
    }

    /// The chain for a learned model trained with `objective` (without this call, an
    /// ε-model): refuses a sampler that does not fit it, here and again at every step
    /// with a learned denoiser. Call it for a learned model; the ideal denoiser fits every
    /// sampler and needs no call.
    ///
    /// # Errors
    /// [`ModelError::Data`], one line saying which samplers fit which model.
    pub fn for_objective(mut self, objective: Objective) -> Result<Self, ModelError> {
        self.sampler.kind().check_fits(objective)?;
        self.objective = objective;
        Ok(self)
    }

    /// The objective of the learned model the chain is for.
    #[must_use]
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Clips every `x̂_0` to `[lo, hi]` (the data range) and steps with the `ε` that
    /// clipped `x̂_0` implies, as Ho et al.'s image sampler does (`clip_denoised`): for
    /// images in `[−1, 1]`, whose small models otherwise drift outside the data range and
    /// leave grey speckle. Not for 2D points, which are unbounded.
    #[must_use]
    pub fn clip_x0(mut self, lo: f32, hi: f32) -> Self {
        self.clip = Some((lo, hi));
        self
    }

    /// The range `x̂_0` is clipped to: the one [`Self::clip_x0`] set, else for 2D points
    /// under a schedule with `0 < ᾱ_T <` [`TINY_ALPHA_BAR_T`], ±[`POINTS_X0_BOUND`].
    fn clip(&self) -> Option<(f32, f32)> {
        let ab = self.schedule.alpha_bar(self.schedule.steps());
        self.clip.or_else(|| {
            (self.dim == 2 && ab > 0.0 && ab < TINY_ALPHA_BAR_T)
                .then_some((-POINTS_X0_BOUND, POINTS_X0_BOUND))
        })
    }

    /// Fault injection for tests: [`ReverseChain::step`] panics after `steps` steps, so
    /// tests can check that the `model` worker survives a panic in sampling. Neither the
    /// window nor the command line sets it.
    #[doc(hidden)]
    #[must_use]
    pub fn panic_at_step(mut self, steps: Option<usize>) -> Self {
        self.panic_at_step = steps;
        self
    }

    /// The current step `t`.
    #[must_use]
    pub fn t(&self) -> usize {
        self.timesteps[self.position]
    }

    /// The current `x_t`.
    #[must_use]
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Values per example.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the chain has reached `t = 0`.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.t() == 0
    }

    /// Steps taken and the total the chain will take (for the probability flow, an
    /// estimate from its current step size until it is done).
    #[must_use]
    pub fn progress(&self) -> (usize, usize) {
        match (&self.sampler, &self.flow) {
            (Sampler::ProbabilityFlow, _) if self.is_done() => (self.position, self.position),
            (Sampler::ProbabilityFlow, Some(flow)) => (self.position, self.position + flow.steps_left() + 1),
            (Sampler::ProbabilityFlow, None) => (0, 1),
            _ => (self.position, self.timesteps.len() - 1),
        }
    }

    /// The probability flow's network evaluations so far (the last step's `x̂_0(x_1)` is one
    /// more), or a flow-matching sampler's (Euler: one a step, `K` in all; Heun: two, `2K`);
    /// `None` for the other samplers.
    #[must_use]
    pub fn nfe(&self) -> Option<usize> {
        match self.sampler {
            Sampler::FlowEuler { .. } | Sampler::FlowHeun { .. } => Some(self.evaluations),
            _ => self.flow.as_ref().map(|f| f.stats().nfe),
        }
    }

    /// The schedule.
    #[must_use]
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The sampler.
    #[must_use]
    pub fn sampler(&self) -> Sampler {
        self.sampler
    }

    /// One step `t → t'` with `denoiser`; returns the new frame, whose `x0_hat` is the
    /// prediction made at `t`. Does nothing (returns `None`) once at `t = 0`.
    pub fn step(&mut self, denoiser: &Denoiser) -> Result<Option<Frame>, ModelError> {
        if self.is_done() {
            return Ok(None);
        }
        assert!(
            self.panic_at_step != Some(self.position),
            "injected fault: the reverse chain panicked after {} steps",
            self.position
        );
        if !matches!(denoiser, Denoiser::Ideal(_)) {
            self.sampler.kind().check_fits(self.objective)?;
        }
        if matches!(self.sampler, Sampler::FlowEuler { .. } | Sampler::FlowHeun { .. }) {
            return self.velocity_step(denoiser).map(Some);
        }
        if self.sampler == Sampler::ProbabilityFlow && self.t() > 1 {
            return self.flow_step(denoiser).map(Some);
        }
        let t = self.t();
        if self.sampler == Sampler::ProbabilityFlow {
            self.timesteps.push(0);
        }
        if self.schedule.alpha_bar(t) <= 0.0 {
            // The window refuses this before it asks; a model handed over in the frame the
            // chain starts (a cancelled run's) can still bring a schedule that has it.
            return Err(ModelError::Data(ZERO_TERMINAL_SNR.into()));
        }
        let t_next = self.timesteps[self.position + 1];
        let eps = denoiser.predict_eps(&self.schedule, &self.x, t)?;
        if eps.len() != self.x.len() {
            return Err(ModelError::Data(format!(
                "the model returned {} values for {} inputs",
                eps.len(),
                self.x.len()
            )));
        }
        let mut eps = eps;
        let mut x0_hat = vec![0f32; self.x.len()];
        if let Some((lo, hi)) = self.clip() {
            // In f64: `1/√ᾱ_t` passes f32's range below ᾱ_t ≈ 1e-77, where the f32
            // product would be ∞ − ∞.
            let (a, b) = self.schedule.x0_from_eps_coefs(t);
            let (lo, hi) = (f64::from(lo), f64::from(hi));
            for ((v, &x), &e) in x0_hat.iter_mut().zip(&self.x).zip(&eps) {
                *v = (a * f64::from(x) + b * f64::from(e)).clamp(lo, hi) as f32;
            }
            eps_from_x0(&self.schedule, t, &self.x, &x0_hat, &mut eps);
        } else {
            predict_x0_from_eps(&self.schedule, t, &self.x, &eps, &mut x0_hat);
        }
        let mut z = vec![0f32; self.x.len()];
        let stochastic = match self.sampler {
            Sampler::Ddpm(_) => t > 1,
            Sampler::Ddim { eta, .. } => eta > 0.0 && t_next > 0,
            Sampler::ProbabilityFlow | Sampler::FlowEuler { .. } | Sampler::FlowHeun { .. } => false,
        };
        if stochastic {
            fill_normal_f32(self.seed, t as u64, &mut z);
        }
        let mut next = vec![0f32; self.x.len()];
        match self.sampler {
            Sampler::Ddpm(variance) => ddpm_step(&self.schedule, t, &self.x, &eps, variance, &z, &mut next),
            // The last DDIM step (to t' = 0, ᾱ_0 = 1, σ = 0) lands on x̂_0 itself.
            Sampler::Ddim { eta, .. } => {
                ddim_step(&self.schedule, t, t_next, eta, &self.x, &eps, &z, &mut next);
            }
            // From step 1 the flow's last step lands on x̂_0, as DDIM's does.
            Sampler::ProbabilityFlow => next.copy_from_slice(&x0_hat),
            Sampler::FlowEuler { .. } | Sampler::FlowHeun { .. } => {
                unreachable!("flow matching steps in velocity_step")
            }
        }
        if next.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Diverged(format!(
                "the reverse chain produced a non-finite value at t = {t}"
            )));
        }
        self.x = next;
        self.position += 1;
        Ok(Some(Frame {
            t: t_next,
            x: self.x.clone(),
            x0_hat,
        }))
    }

    /// One step `t → t'` of a flow-matching sampler (`h = (t − t')/T`): Euler, or Heun's
    /// corrector with a second evaluation at `t'` — also at `t' = 0`, where the straight
    /// path has no singularity, except for the ideal denoiser, whose data are deltas: its
    /// last Heun step is the Euler step, which lands on `x̂_0`. The frame's `x̂_0` is
    /// `x − (t/T) v(x, t)`.
    fn velocity_step(&mut self, denoiser: &Denoiser) -> Result<Frame, ModelError> {
        let t = self.t();
        let t_next = self.timesteps[self.position + 1];
        let steps = self.schedule.steps();
        let h = (t - t_next) as f64 / steps as f64;
        let x = std::mem::take(&mut self.x);
        let v = self.velocity(denoiser, &x, t as f64);
        self.x = x;
        let v = v?;
        let mut x0_hat = vec![0f32; self.x.len()];
        predict_x0_from_velocity(tau_of(t as f64, steps), &self.x, &v, &mut x0_hat);
        let mut next = vec![0f32; self.x.len()];
        euler_step(h, &self.x, &v, &mut next);
        let ideal_end = t_next == 0 && matches!(denoiser, Denoiser::Ideal(_));
        if matches!(self.sampler, Sampler::FlowHeun { .. }) && !ideal_end {
            let v_euler = self.velocity(denoiser, &next, t_next as f64)?;
            heun_step(h, &self.x, &v, &v_euler, &mut next);
        }
        if next.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Diverged(format!(
                "the flow-matching ODE produced a non-finite value at t = {t}"
            )));
        }
        self.x = next;
        self.position += 1;
        Ok(Frame {
            t: t_next,
            x: self.x.clone(),
            x0_hat,
        })
    }

    /// `v(x, s)` (the current `x`, or Heun's Euler point), counted in [`Self::nfe`].
    fn velocity(&mut self, denoiser: &Denoiser, x: &[f32], s: f64) -> Result<Vec<f32>, ModelError> {
        let v = denoiser.predict_velocity(&self.schedule, x, s)?;
        if v.len() != x.len() {
            return Err(ModelError::Data(format!(
                "the model returned {} values for {} inputs",
                v.len(),
                x.len()
            )));
        }
        self.evaluations += 1;
        Ok(v)
    }

    /// One frame of the probability flow: accepted solver steps until the step (rounded)
    /// falls below the current one, or step 1 is reached. The frame's `x̂_0` is the one of
    /// the state it leaves (`(x − σ ε̂)/α` from the solver's last velocity).
    fn flow_step(&mut self, denoiser: &Denoiser) -> Result<Frame, ModelError> {
        let t = self.t();
        let mut field = DenoiserField::new(denoiser, self.dim);
        if self.flow.is_none() {
            let time = LogSnrTime::new(&self.schedule)?;
            let x = self.x.iter().map(|&v| f64::from(v)).collect();
            self.flow = Some(FlowSampler::new(&mut field, time, x, t as f64, FLOW_TOLERANCE)?);
        }
        let flow = self.flow.as_mut().expect("the flow was just started");
        let lambda = flow.lambda_now();
        let (alpha, sigma) = alpha_sigma(lambda);
        let x0_hat: Vec<f32> = flow
            .x()
            .iter()
            .zip(flow.eps_now())
            .map(|(x, e)| ((x - sigma * e) / alpha) as f32)
            .collect();
        let t_next = loop {
            flow.step(&mut field)?;
            let next = (flow.step_now().round() as usize).clamp(1, t - 1);
            if flow.is_done() || next < t {
                break if flow.is_done() { 1 } else { next };
            }
        };
        self.x = flow.x().iter().map(|&v| v as f32).collect();
        if self.x.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Diverged(format!(
                "the probability-flow ODE produced a non-finite value at t = {t_next}"
            )));
        }
        self.timesteps.push(t_next);
        self.position += 1;
        Ok(Frame {
            t: t_next,
            x: self.x.clone(),
            x0_hat,
        })
    }

    /// Runs the chain to `t = 0` and returns the final samples.
    pub fn run(mut self, denoiser: &Denoiser) -> Result<Vec<f32>, ModelError> {
        while self.step(denoiser)?.is_some() {}
        Ok(self.x)
    }
}
