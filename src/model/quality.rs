//! Sample quality against the work a sampler does: the sliced Wasserstein-2 distance
//! (SW2) of a 2D model's samples from held-out data, next to the data's own noise floor
//! (two independent draws), for DDPM, DDIM and the probability-flow ODE at 1 to 1000
//! network evaluations (NFE), and a flow-matching model by Euler and Heun — the
//! quality-vs-steps chart.
//!
//! Every sampler starts from the same `x_T` (the seed's), so the curves differ by the
//! sampler only. DDPM at `K < T` steps is the ancestral chain respaced: DDIM's update
//! with `η = 1`, whose `σ_t² = β̃` over the visited steps (Song et al. 2021, eq. 16),
//! which is DDPM with `σ² = β̃` when `K = T`. The ODE's work is set by its tolerance, and
//! its NFE is what the solver took (plus the last step's `x̂_0(x_1)`).

use super::flow::DenoiserField;
use super::sample::{Denoiser, ReverseChain, START_STREAM, Sampler};
use super::{ModelError, Objective};
use crate::diffusion::Schedule;
use crate::diffusion::metrics::sliced_wasserstein2;
use crate::diffusion::noise::fill_normal_f32;
use crate::diffusion::ode::Tolerance;
use crate::diffusion::prob_flow::{FlowSampler, LogSnrTime};
use crate::diffusion::reverse::predict_x0_from_eps;

/// The strided samplers' step counts `K` (those at most `T` are run).
pub const STEPS: [usize; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/// The ODE's tolerances (`rtol = atol`), loosest first.
pub const ODE_TOLERANCES: [f64; 6] = [3e-1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5];

/// A sampler of the chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// DDPM respaced to `K` steps (DDIM's update with `η = 1`).
    Ddpm,
    /// DDIM, `η = 0`.
    Ddim,
    /// The probability-flow ODE by RK45 at a tolerance.
    Ode,
    /// A flow-matching model by Euler steps.
    Euler,
    /// A flow-matching model by Heun steps (two evaluations each).
    Heun,
}

impl Method {
    /// Every method, in the chart's order.
    pub const ALL: [Self; 5] = [Self::Ddpm, Self::Ddim, Self::Ode, Self::Euler, Self::Heun];

    /// The chart's name.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Ddpm => "DDPM (η = 1)",
            Self::Ddim => "DDIM (η = 0)",
            Self::Ode => "probability-flow ODE (RK45)",
            Self::Euler => "flow matching, Euler",
            Self::Heun => "flow matching, Heun",
        }
    }

    /// The objective of the models it samples.
    #[must_use]
    pub const fn objective(self) -> Objective {
        match self {
            Self::Ddpm | Self::Ddim | Self::Ode => Objective::Epsilon,
            Self::Euler | Self::Heun => Objective::FlowMatching,
        }
    }
}

/// A model the chart samples: its denoiser, its own schedule and its objective.
pub struct ChartModel<'a> {
    /// The denoiser.
    pub denoiser: &'a Denoiser,
    /// Its schedule (`T` and, for diffusion, `ᾱ_t`).
    pub schedule: &'a Schedule,
    /// What it predicts.
    pub objective: Objective,
}

/// One run: its network evaluations and its samples' SW2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityPoint {
    /// `K`, or the ODE's tolerance.
    pub setting: f64,
    /// Network evaluations per sample.
    pub nfe: usize,
    /// SW2 from the held-out data.
    pub sw2: f64,
}

/// One method's runs, by increasing work.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityCurve {
    /// The method.
    pub method: Method,
    /// Its runs.
    pub points: Vec<QualityPoint>,
}

/// The chart: each method's curve and the noise floor.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityChart {
    /// The curves.
    pub curves: Vec<QualityCurve>,
    /// SW2 between the held-out data and an independent draw of the same size.
    pub noise_floor: f64,
    /// Samples per run.
    pub samples: usize,
}

/// The runs of the chart for a model of `objective` under `T` steps: `(method, setting)`
/// in order (Heun's `K` up to `T/2`, so that its evaluations stay within `T`).
#[must_use]
pub fn plan(steps: usize, objective: Objective) -> Vec<(Method, f64)> {
    let upto = |most: usize| STEPS.iter().filter(move |&&k| k <= most).map(|&k| k as f64);
    match objective {
        Objective::Epsilon => {
            let mut runs: Vec<(Method, f64)> = upto(steps).map(|k| (Method::Ddpm, k)).collect();
            runs.extend(upto(steps).map(|k| (Method::Ddim, k)));
            runs.extend(ODE_TOLERANCES.iter().map(|&tol| (Method::Ode, tol)));
            runs
        }
        Objective::FlowMatching => {
            let mut runs: Vec<(Method, f64)> = upto(steps).map(|k| (Method::Euler, k)).collect();
            runs.extend(upto(steps / 2).map(|k| (Method::Heun, k)));
            runs
        }
    }
}

/// The chart of `models` (a diffusion model, a flow-matching one, or both): as many
/// samples as `held_out` has points (`n × 2`), from the seed's `x_T`; `reference`, an
/// independent draw, gives the floor. `progress` gets the fraction done after each run
/// and stops the work when it returns `false` (then `Ok(None)`).
///
/// # Errors
/// The model's. A run that is not finite is left out of its curve rather than failing the
/// chart: the chart shows where a sampler breaks.
pub fn quality_chart(
    models: &[ChartModel<'_>],
    held_out: &[f64],
    reference: &[f64],
    seed: u64,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<QualityChart>, ModelError> {
    let n = held_out.len() / 2;
    if n < 2 {
        return Err(ModelError::Data(
            "the quality chart needs at least 2 held-out points".into(),
        ));
    }
    let runs: Vec<(&ChartModel<'_>, Method, f64)> = models
        .iter()
        .flat_map(|m| {
            plan(m.schedule.steps(), m.objective)
                .into_iter()
                .map(move |(k, s)| (m, k, s))
        })
        .collect();
    // The work of a run in evaluations, about (the ODE's from its tolerance).
    let cost = |method: Method, s: f64| match method {
        Method::Ode => 30.0 * 2f64.powf(-s.log10()),
        Method::Heun => 2.0 * s,
        _ => s,
    };
    let total: f64 = runs.iter().map(|&(_, k, s)| cost(k, s)).sum();
    let mut done = 0.0;
    let mut curves: Vec<QualityCurve> = Vec::new();
    for &(model, method, setting) in &runs {
        let k = setting as usize;
        let strided = |sampler: Sampler| {
            ReverseChain::from_noise(model.schedule.clone(), sampler, n, 2, seed)
                .for_objective(model.objective)
                .and_then(|chain| chain.run(model.denoiser))
        };
        let run = match method {
            Method::Ddpm => strided(Sampler::Ddim { steps: k, eta: 1.0 }).map(|x| (x, k)),
            Method::Ddim => strided(Sampler::Ddim { steps: k, eta: 0.0 }).map(|x| (x, k)),
            Method::Euler => strided(Sampler::FlowEuler { steps: k }).map(|x| (x, k)),
            Method::Heun => strided(Sampler::FlowHeun { steps: k }).map(|x| (x, 2 * k)),
            Method::Ode => ode_samples(model.denoiser, model.schedule, n, seed, setting),
        };
        match run {
            Ok((x, nfe)) if x.iter().all(|v| v.is_finite()) => {
                let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let point = QualityPoint {
                    setting,
                    nfe,
                    sw2: sliced_wasserstein2(&x, held_out),
                };
                match curves.iter_mut().find(|c| c.method == method) {
                    Some(curve) => curve.points.push(point),
                    None => curves.push(QualityCurve {
                        method,
                        points: vec![point],
                    }),
                }
            }
            Ok(_) | Err(ModelError::Diverged(_)) => {}
            Err(e) => return Err(e),
        }
        done += cost(method, setting);
        if !progress(done / total) {
            return Ok(None);
        }
    }
    for curve in &mut curves {
        curve.points.sort_by_key(|p| p.nfe);
    }
    Ok(Some(QualityChart {
        curves,
        noise_floor: sliced_wasserstein2(reference, held_out),
        samples: n,
    }))
}

/// `n` samples of the probability-flow ODE at tolerance `tol` from the seed's `x_T`, and
/// the evaluations they took (the solver's and the last step's `x̂_0(x_1)`), as the
/// reverse chain's sampler does.
fn ode_samples(
    denoiser: &Denoiser,
    schedule: &Schedule,
    n: usize,
    seed: u64,
    tol: f64,
) -> Result<(Vec<f32>, usize), ModelError> {
    let mut x = vec![0f32; n * 2];
    fill_normal_f32(seed, START_STREAM, &mut x);
    let mut field = DenoiserField::new(denoiser, 2);
    let time = LogSnrTime::new(schedule)?;
    let x = x.iter().map(|&v| f64::from(v)).collect();
    let tolerance = Tolerance { rtol: tol, atol: tol };
    let mut flow = FlowSampler::new(&mut field, time, x, schedule.steps() as f64, tolerance)?;
    while !flow.is_done() {
        flow.step(&mut field)?;
    }
    let x1: Vec<f32> = flow.x().iter().map(|&v| v as f32).collect();
    let eps = denoiser.predict_eps(schedule, &x1, 1)?;
    let mut x0 = vec![0f32; x1.len()];
    predict_x0_from_eps(schedule, 1, &x1, &eps, &mut x0);
    Ok((x0, flow.stats().nfe + 1))
}
