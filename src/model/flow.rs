//! The probability-flow ODE of a model ([`crate::diffusion::prob_flow`]): a
//! [`Denoiser`] as the ODE's `ε̂` field, and the exact log-likelihood of 2D points under a
//! learned network, in batches with progress — of a diffusion model by its probability
//! flow, of a flow-matching model by its own ODE ([`crate::diffusion::flow_matching`]),
//! chosen by the model's [`Objective`] ([`log_likelihoods_for`], [`density_grid_for`]).

use super::classes::Guidance;
use super::flow_matching::NetworkVelocity;
use super::sample::Denoiser;
use super::{Inference, ModelError, Objective};
use crate::diffusion::IdealDenoiser;
use crate::diffusion::flow_matching;
use crate::diffusion::ode::{OdeError, OdeStats, Tolerance};
use crate::diffusion::prob_flow::{EpsField, Level, LogSnrTime, alpha_sigma, log_likelihood_with};

/// A denoiser asked at the flow's noise levels: a network at the fractional step of its
/// own schedule, the ideal denoiser at `(α_λ, σ_λ)`.
pub struct DenoiserField<'a> {
    source: Source<'a>,
    dim: usize,
}

/// What [`DenoiserField`] evaluates (borrowed).
enum Source<'a> {
    Network(&'a Inference),
    Guided(&'a Inference, &'a Guidance),
    Ideal(&'a IdealDenoiser),
}

impl<'a> DenoiserField<'a> {
    /// `denoiser` on examples of `dim` values.
    #[must_use]
    pub fn new(denoiser: &'a Denoiser, dim: usize) -> Self {
        let source = match denoiser {
            Denoiser::Learned(net) => Source::Network(net),
            Denoiser::Guided(net, guidance) => Source::Guided(net, guidance),
            Denoiser::Ideal(ideal) => Source::Ideal(ideal),
        };
        Self { source, dim }
    }

    /// The network `net` on examples of `dim` values.
    #[must_use]
    pub fn network(net: &'a Inference, dim: usize) -> Self {
        Self {
            source: Source::Network(net),
            dim,
        }
    }
}

/// `x` in `f32`, as the networks take it.
pub(super) fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// A network's `f32` output into the solver's `f64` buffer `to`, refusing a length that
/// does not match.
pub(super) fn copy_out(out: &[f32], to: &mut [f64]) -> Result<(), ModelError> {
    if out.len() != to.len() {
        return Err(ModelError::Data(format!(
            "the model returned {} values for {} inputs",
            out.len(),
            to.len()
        )));
    }
    for (t, v) in to.iter_mut().zip(out) {
        *t = f64::from(*v);
    }
    Ok(())
}

impl EpsField for DenoiserField<'_> {
    type Error = ModelError;

    fn dim(&self) -> usize {
        self.dim
    }

    fn eps(&mut self, x: &[f64], level: Level, eps: &mut [f64]) -> Result<(), ModelError> {
        let step = level.step as f32;
        let out = match self.source {
            Source::Network(net) => net.predict_eps_at(&to_f32(x), step)?,
            Source::Guided(net, guidance) => {
                let xf = to_f32(x);
                let mut out = net.predict_eps_labelled(&xf, step, &guidance.labels)?;
                if guidance.weight != 0.0 {
                    let unconditional = net.predict_eps_labelled(&xf, step, &[])?;
                    guidance.combine(&mut out, &unconditional);
                }
                out
            }
            Source::Ideal(ideal) => {
                let (alpha, sigma) = alpha_sigma(level.lambda);
                ideal.predict_eps_batch_at(alpha, sigma, x, eps);
                return Ok(());
            }
        };
        copy_out(&out, eps)
    }

    fn eps_and_trace(
        &mut self,
        x: &[f64],
        level: Level,
        eps: &mut [f64],
        trace: &mut [f64],
    ) -> Result<(), ModelError> {
        self.eps_and_trace_each(x, &vec![level; trace.len()], eps, trace)
    }

    fn eps_each(&mut self, x: &[f64], levels: &[Level], eps: &mut [f64]) -> Result<(), ModelError> {
        let Source::Network(Inference::Mlp(net)) = self.source else {
            for (i, &level) in levels.iter().enumerate() {
                let at = i * self.dim..(i + 1) * self.dim;
                self.eps(&x[at.clone()], level, &mut eps[at])?;
            }
            return Ok(());
        };
        let steps: Vec<f32> = levels.iter().map(|l| l.step as f32).collect();
        copy_out(&net.eps_each(&to_f32(x), &steps)?, eps)
    }

    fn eps_and_trace_each(
        &mut self,
        x: &[f64],
        levels: &[Level],
        eps: &mut [f64],
        trace: &mut [f64],
    ) -> Result<(), ModelError> {
        let Source::Network(Inference::Mlp(net)) = self.source else {
            return Err(ModelError::Data(match self.source {
                Source::Ideal(_) => "the ideal denoiser's flow has no density: its data are a mixture of \
                                       points (deltas), whose log-likelihood is +∞ on them and −∞ elsewhere"
                    .into(),
                Source::Guided(..) => {
                    "guidance is a rule for sampling, not a model: the likelihood is of the \
                                         network itself"
                        .into()
                }
                Source::Network(_) => "the exact likelihood is computed for 2D models (its divergence takes \
                                         one Jacobian–vector product per dimension)"
                    .into(),
            }));
        };
        let steps: Vec<f32> = levels.iter().map(|l| l.step as f32).collect();
        let (out, tr) = net.eps_and_trace_each(&to_f32(x), &steps)?;
        copy_out(&out, eps)?;
        copy_out(&tr, trace)
    }
}

/// Points in flight at once in [`log_likelihoods`]: each moves at its own pace, and a
/// finished point's slot takes the next ([`crate::diffusion::ode::solve_each`]), so this
/// is the rows of each network evaluation (enough for the matrix products to run at
/// speed) and has no effect on the results.
pub const LIKELIHOOD_SLOTS: usize = 500;

/// The flow's log-likelihoods of many points.
#[derive(Clone, Debug, PartialEq)]
pub struct Likelihoods {
    /// `log p(x)` per point, in nats.
    pub log_p: Vec<f64>,
    /// Accepted and rejected steps and network evaluations (five in six with the Jacobian's
    /// trace), summed over the points.
    pub steps: OdeStats,
}

impl Likelihoods {
    /// The mean negative log-likelihood in nats per point.
    #[must_use]
    pub fn nll(&self) -> f64 {
        -self.log_p.iter().sum::<f64>() / self.log_p.len().max(1) as f64
    }

    /// Network evaluations per point (each point's ODE solve), on average.
    #[must_use]
    pub fn nfe_per_point(&self) -> f64 {
        self.steps.nfe as f64 / self.log_p.len().max(1) as f64
    }
}

/// `log p_θ(x)` of the 2D points `x` (`n × 2`) under the probability flow of the ε-network
/// `net` trained under `own`, at `tol`, each point with its own steps,
/// [`LIKELIHOOD_SLOTS`] at a time. `progress` is told the fraction of points done and
/// cancels by returning `false`. ([`log_likelihoods_for`] with [`Objective::Epsilon`].)
///
/// # Errors
/// A network that is not 2D, a schedule with zero terminal SNR, a solver failure or a
/// cancel.
pub fn log_likelihoods(
    net: &Inference,
    own: &crate::diffusion::Schedule,
    x: &[f64],
    tol: Tolerance,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Likelihoods, ModelError> {
    log_likelihoods_for(net, own, Objective::Epsilon, x, tol, progress)
}

/// [`log_likelihoods`] of a network trained with `objective`: a diffusion model's by its
/// probability flow, a flow-matching model's by its own ODE from `τ = 0` to `1`
/// ([`flow_matching::log_likelihood_with`], the network at `s = τ·T` of `own`'s `T`).
///
/// # Errors
/// As [`log_likelihoods`].
pub fn log_likelihoods_for(
    net: &Inference,
    own: &crate::diffusion::Schedule,
    objective: Objective,
    x: &[f64],
    tol: Tolerance,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Likelihoods, ModelError> {
    if !x.len().is_multiple_of(2) {
        return Err(ModelError::Data(format!("{} values are not 2D points", x.len())));
    }
    let total = (x.len() / 2).max(1) as f64;
    let mut done = |points: usize| progress(points as f64 / total);
    let flow = match objective {
        Objective::Epsilon => {
            let time = LogSnrTime::new(own)?;
            let mut field = DenoiserField::network(net, 2);
            log_likelihood_with(&mut field, &time, x, tol, LIKELIHOOD_SLOTS, &mut done)
        }
        Objective::FlowMatching => {
            let mut field = NetworkVelocity::new(net, own.steps(), 2);
            flow_matching::log_likelihood_with(&mut field, x, tol, LIKELIHOOD_SLOTS, &mut done)
        }
    };
    let flow = flow.map_err(|e| match e {
        ModelError::Ode(OdeError::Cancelled) => ModelError::Data("the likelihood was cancelled".into()),
        e => e,
    })?;
    Ok(Likelihoods {
        log_p: flow.log_p,
        steps: flow.stats,
    })
}

/// The flow's log density on a square grid of cell centres.
#[derive(Clone, Debug, PartialEq)]
pub struct DensityGrid {
    /// Cells per side.
    pub side: usize,
    /// The grid covers `[−extent, extent]²`.
    pub extent: f64,
    /// `log p` per cell in nats, row-major from the top row (largest `y`).
    pub log_p: Vec<f64>,
    /// Network evaluations per cell (five in six with the Jacobian's trace), on average.
    pub nfe_per_point: f64,
}

impl DensityGrid {
    /// The centre of cell `(row, col)`.
    #[must_use]
    pub fn centre(side: usize, extent: f64, row: usize, col: usize) -> [f64; 2] {
        let cell = 2.0 * extent / side as f64;
        [
            -extent + (col as f64 + 0.5) * cell,
            extent - (row as f64 + 0.5) * cell,
        ]
    }
}

/// `log p_θ` of the 2D ε-network `net` (trained under `own`) on a `side × side` grid over
/// `[−extent, extent]²`, with progress and cancel as [`log_likelihoods`].
/// ([`density_grid_for`] with [`Objective::Epsilon`].)
///
/// # Errors
/// As [`log_likelihoods`].
pub fn density_grid(
    net: &Inference,
    own: &crate::diffusion::Schedule,
    (side, extent): (usize, f64),
    tol: Tolerance,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<DensityGrid, ModelError> {
    density_grid_for(net, own, Objective::Epsilon, (side, extent), tol, progress)
}

/// [`density_grid`] of a network trained with `objective` (see [`log_likelihoods_for`]).
///
/// # Errors
/// As [`log_likelihoods`].
pub fn density_grid_for(
    net: &Inference,
    own: &crate::diffusion::Schedule,
    objective: Objective,
    (side, extent): (usize, f64),
    tol: Tolerance,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<DensityGrid, ModelError> {
    let points: Vec<f64> = (0..side * side)
        .flat_map(|i| DensityGrid::centre(side, extent, i / side, i % side))
        .collect();
    let flow = log_likelihoods_for(net, own, objective, &points, tol, progress)?;
    Ok(DensityGrid {
        side,
        extent,
        nfe_per_point: flow.nfe_per_point(),
        log_p: flow.log_p,
    })
}
