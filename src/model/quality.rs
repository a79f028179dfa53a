//! Sample quality against the work a sampler does: the sliced Wasserstein-2 distance
//! (SW2) of a 2D model's samples from held-out data, next to the data's own noise floor
//! (two independent draws), for DDPM, DDIM and the probability-flow ODE at 1 to 1000
//! network evaluations (NFE) — the quality-vs-steps chart.
//!
//! Every sampler starts from the same `x_T` (the seed's), so the curves differ by the
//! sampler only. DDPM at `K < T` steps is the ancestral chain respaced: DDIM's update
//! with `η = 1`, whose `σ_t² = β̃` over the visited steps (Song et al. 2021, eq. 16),
//! which is DDPM with `σ² = β̃` when `K = T`. The ODE's work is set by its tolerance, and
//! its NFE is what the solver took (plus the last step's `x̂_0(x_1)`).

use super::ModelError;
use super::flow::DenoiserField;
use super::sample::{Denoiser, ReverseChain, Sampler, START_STREAM};
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
}

impl Method {
    /// Every method, in the chart's order.
    pub const ALL: [Self; 3] = [Self::Ddpm, Self::Ddim, Self::Ode];

    /// The chart's name.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Ddpm => "DDPM (η = 1)",
            Self::Ddim => "DDIM (η = 0)",
            Self::Ode => "probability-flow ODE (RK45)",
        }
    }
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

/// The runs of the chart under `T` steps: `(method, setting)` in order.
#[must_use]
pub fn plan(steps: usize) -> Vec<(Method, f64)> {
    let strided = STEPS.iter().filter(|&&k| k <= steps).map(|&k| k as f64);
    let mut runs: Vec<(Method, f64)> = strided.clone().map(|k| (Method::Ddpm, k)).collect();
    runs.extend(strided.map(|k| (Method::Ddim, k)));
    runs.extend(ODE_TOLERANCES.iter().map(|&tol| (Method::Ode, tol)));
    runs
}

/// The chart for `denoiser` under `schedule`: as many samples as `held_out` has points
/// (`n × 2`), from the seed's `x_T`; `reference`, an independent draw, gives the floor.
/// `progress` gets the fraction done after each run and stops the work when it returns
/// `false` (then `Ok(None)`).
///
/// # Errors
/// The model's, or a run that is not finite (a diverged chain is left out of its curve
/// rather than failing the chart: the chart says where a sampler breaks).
pub fn quality_chart(
    denoiser: &Denoiser,
    schedule: &Schedule,
    held_out: &[f64],
    reference: &[f64],
    seed: u64,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Option<QualityChart>, ModelError> {
    let n = held_out.len() / 2;
    if n < 2 {
        return Err(ModelError::Data("the quality chart needs at least 2 held-out points".into()));
    }
    let runs = plan(schedule.steps());
    let cost: Vec<f64> = runs
        .iter()
        .map(|&(m, s)| if m == Method::Ode { 30.0 * 2f64.powf(-s.log10()) } else { s })
        .collect();
    let total: f64 = cost.iter().sum();
    let mut done = 0.0;
    let mut curves: Vec<QualityCurve> = Method::ALL
        .iter()
        .map(|&method| QualityCurve {
            method,
            points: Vec::new(),
        })
        .collect();
    for (&(method, setting), c) in runs.iter().zip(&cost) {
        let run = match method {
            Method::Ddpm | Method::Ddim => {
                let eta = if method == Method::Ddpm { 1.0 } else { 0.0 };
                let k = setting as usize;
                let chain = ReverseChain::from_noise(schedule.clone(), Sampler::Ddim { steps: k, eta }, n, 2, seed);
                chain.run(denoiser).map(|x| (x, k))
            }
            Method::Ode => ode_samples(denoiser, schedule, n, seed, setting),
        };
        match run {
            Ok((x, nfe)) if x.iter().all(|v| v.is_finite()) => {
                let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let curve = curves.iter_mut().find(|c| c.method == method).expect("every method has a curve");
                curve.points.push(QualityPoint {
                    setting,
                    nfe,
                    sw2: sliced_wasserstein2(&x, held_out),
                });
            }
            Ok(_) | Err(ModelError::Diverged(_)) => {}
            Err(e) => return Err(e),
        }
        done += c;
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
