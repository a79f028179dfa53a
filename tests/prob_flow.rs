//! The probability-flow ODE: the solver against a linear ODE with a known solution, the
//! exact divergence against finite differences, and the likelihood of a Gaussian mixture
//! (whose score is known in closed form) against its analytic density.

use diffscope::diffusion::noise::{normal, uniform};
use diffscope::diffusion::ode::{OdeError, Systems, Tolerance, solve, solve_each};
use diffscope::diffusion::prob_flow::{IsotropicMixture, LogSnrTime, alpha_sigma, log_likelihood};
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};

fn linear_schedule() -> Schedule {
    Schedule::new(&ScheduleSpec::new(ScheduleKind::Linear, 1000)).unwrap()
}

/// `dy/dt = A y`, `A = [[−1, 2], [−2, −1]]`: `y(t) = e^{−t} (cos 2t, −sin 2t)` from
/// `(1, 0)` — a damped rotation, integrated both ways, three systems in one batch.
#[test]
fn dormand_prince_solves_a_linear_ode_to_its_tolerance() {
    let exact = |t: f64, phase: f64| {
        let r = (-t).exp();
        [r * (2.0 * t + phase).cos(), -r * (2.0 * t + phase).sin()]
    };
    let mut f = |_t: f64, y: &[f64], dy: &mut [f64]| -> Result<(), OdeError> {
        for (y, d) in y.chunks_exact(2).zip(dy.chunks_exact_mut(2)) {
            d[0] = -y[0] + 2.0 * y[1];
            d[1] = -2.0 * y[0] - y[1];
        }
        Ok(())
    };
    let phases = [0.0, 1.0, -2.5];
    let y0: Vec<f64> = phases.iter().flat_map(|&p| exact(0.0, p)).collect();
    let mut errors = Vec::new();
    for tol in [1e-5, 1e-8] {
        let tol = Tolerance { rtol: tol, atol: tol };
        let (y, stats) = solve(&mut f, (0.0, 5.0), y0.clone(), tol, 2).unwrap();
        let err = phases
            .iter()
            .zip(y.chunks_exact(2))
            .map(|(&p, y)| {
                let e = exact(5.0, p);
                (y[0] - e[0]).abs().max((y[1] - e[1]).abs())
            })
            .fold(0.0, f64::max);
        // Six evaluations per attempt, two to choose the first step.
        assert_eq!(stats.nfe, 2 + 6 * (stats.accepted + stats.rejected), "{stats:?}");
        errors.push((err, stats.nfe));
        // Backwards from y(5) returns to y(0).
        let end: Vec<f64> = phases.iter().flat_map(|&p| exact(5.0, p)).collect();
        let (back, _) = solve(&mut f, (5.0, 0.0), end, tol, 2).unwrap();
        let back_err = back
            .iter()
            .zip(&y0)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            back_err < 200.0 * tol.rtol,
            "backwards: {back_err:.2e} at {tol:?}"
        );
    }
    // Measured: 5.2e−6 with 122 evaluations at 1e−5, 6.3e−9 with 434 at 1e−8: the error
    // follows the tolerance (fifth order: 1000× tighter costs 10^(3/5) ≈ 4× the steps).
    assert!(errors[0].0 < 2e-5 && errors[1].0 < 2e-8, "{errors:?}");
    assert!(errors[1].1 > 2 * errors[0].1, "{errors:?}");
}

/// One value per system, three in flight.
const SCALARS: Systems = Systems {
    block: 1,
    slots: 3,
    accumulators: 0,
};

/// Scalar systems of one nonlinear ODE from different starts, `dy/dt = −y + sin(t)·y²`:
/// `solve_each` with 3 slots for 7 systems (so slots are refilled, and the last rounds run
/// short) gives each system exactly what `solve` gives it alone — bit for bit, with the
/// same work (for one value per system the max norm is the RMS) — and a `false` from
/// `progress` cancels.
#[test]
fn solving_each_system_on_its_own_is_solving_it_alone() {
    fn slope(t: f64, y: f64) -> f64 {
        -y + t.sin() * y * y
    }
    let mut rows_seen = Vec::new();
    let mut f = |ts: &[f64], y: &[f64], dy: &mut [f64], partial: &[bool]| -> Result<(), OdeError> {
        assert!(partial.iter().all(|p| !p), "no accumulators, no partial rows");
        rows_seen.push(ts.len());
        for ((t, y), d) in ts.iter().zip(y).zip(dy.iter_mut()) {
            *d = slope(*t, *y);
        }
        Ok(())
    };
    let systems = 7;
    let y0: Vec<f64> = (0..systems).map(|i| 0.1 + 0.25 * i as f64).collect();
    let tol = Tolerance {
        rtol: 1e-6,
        atol: 1e-6,
    };
    let mut alone = Vec::new();
    let mut work = Vec::new();
    for &start in &y0 {
        let mut f = |t: f64, y: &[f64], dy: &mut [f64]| -> Result<(), OdeError> {
            dy[0] = slope(t, y[0]);
            Ok(())
        };
        let (y, stats) = solve(&mut f, (0.0, 4.0), vec![start], tol, 1).unwrap();
        alone.extend(y);
        work.push(stats);
    }
    // The systems differ in work, so the batch's rows finish at different rounds.
    assert!(
        work.iter().map(|s| s.nfe).max() > work.iter().map(|s| s.nfe).min(),
        "{work:?}"
    );
    let mut done = Vec::new();
    let (each, stats) = solve_each(&mut f, (0.0, 4.0), &y0, tol, SCALARS, &mut |n| {
        done.push(n);
        true
    })
    .unwrap();
    assert_eq!(each, alone);
    let total: usize = work.iter().map(|s| s.nfe).sum();
    assert_eq!(stats.nfe, total);
    assert_eq!(stats.accepted, work.iter().map(|s| s.accepted).sum::<usize>());
    assert_eq!(stats.rejected, work.iter().map(|s| s.rejected).sum::<usize>());
    // Three rows a round while systems wait, fewer at the end; progress counts up to 7.
    assert_eq!(rows_seen[0], 3);
    assert!(rows_seen.iter().all(|&r| (1..=3).contains(&r)));
    assert_eq!(rows_seen.iter().sum::<usize>(), total);
    assert_eq!(done.last(), Some(&systems));
    assert!(done.windows(2).all(|w| w[0] <= w[1]));
    // Cancelled after the first round.
    let mut f = |_: &[f64], _: &[f64], dy: &mut [f64], _: &[bool]| -> Result<(), OdeError> {
        dy.fill(0.5);
        Ok(())
    };
    let cancelled = solve_each(&mut f, (0.0, 4.0), &y0, tol, SCALARS, &mut |_| false);
    assert_eq!(cancelled.unwrap_err(), OdeError::Cancelled);
}

/// An accumulator's slope at a step's second stage is never used (Dormand–Prince gives it
/// weight 0 in the solution and in the error estimate, and no slope reads an
/// accumulator): the right-hand side is told so in one evaluation of six, whatever it
/// writes there is ignored, and the integral still matches a tight solve that computes it.
#[test]
fn an_accumulators_second_stage_slope_is_never_used() {
    // y' = −y + sin(t)·y², and the accumulator a' = y² (∫ y² dt).
    let solve_with = |garbage: bool, accumulators: usize, tol: f64| {
        let (mut partial_rows, mut rows) = (0, 0);
        let mut f = |ts: &[f64], y: &[f64], dy: &mut [f64], partial: &[bool]| -> Result<(), OdeError> {
            for (((t, y), d), &p) in ts
                .iter()
                .zip(y.chunks_exact(2))
                .zip(dy.chunks_exact_mut(2))
                .zip(partial)
            {
                d[0] = -y[0] + t.sin() * y[0] * y[0];
                d[1] = if garbage && p { 1e6 } else { y[0] * y[0] };
                partial_rows += usize::from(p);
                rows += 1;
            }
            Ok(())
        };
        let y0: Vec<f64> = (0..5).flat_map(|i| [0.2 + 0.3 * f64::from(i), 0.0]).collect();
        let systems = Systems {
            block: 2,
            slots: 2,
            accumulators,
        };
        let tol = Tolerance { rtol: tol, atol: tol };
        let (y, stats) = solve_each(&mut f, (0.0, 3.0), &y0, tol, systems, &mut |_| true).unwrap();
        (y, stats, partial_rows, rows)
    };
    let (honest, stats, partial_rows, rows) = solve_with(false, 1, 1e-7);
    let (garbage, stats_garbage, ..) = solve_with(true, 1, 1e-7);
    assert_eq!(honest, garbage);
    assert_eq!(stats, stats_garbage);
    // One evaluation per attempt is its second stage.
    assert_eq!(partial_rows, stats.accepted + stats.rejected, "{stats:?}");
    assert_eq!(rows, stats.nfe);
    // Against a tight solve where the integral is an ordinary value (no partial rows).
    let (tight, _, none, _) = solve_with(true, 0, 1e-11);
    assert_eq!(none, 0);
    let worst = honest
        .iter()
        .zip(&tight)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "{worst:.2e}: {honest:?} against {tight:?}");
    assert!(honest.chunks_exact(2).all(|s| s[1] > 0.0) && honest[9] > honest[1]);
}

/// The app's 8 Gaussians as its population: centres on a circle of radius 2, standard
/// deviation 0.04, standardised by the population's standard deviation per coordinate
/// `√(2² / 2 + 0.04²)`.
/// The 8 Gaussians as `data::generate` standardises them (each coordinate's population
/// std is `√(2 + 0.04²)`): radius `2/sd`, component std `0.04/sd` (also flow matching's
/// analytic reference, `tests/flow_matching.rs`).
pub(crate) fn eight_gaussians() -> IsotropicMixture {
    let sd = (2.0f64 + 0.04 * 0.04).sqrt();
    let radius = 2.0 / sd;
    let means = (0..8)
        .flat_map(|k| {
            let a = f64::from(k) * std::f64::consts::FRAC_PI_4;
            [radius * a.cos(), radius * a.sin()]
        })
        .collect();
    IsotropicMixture {
        dim: 2,
        weights: vec![0.125; 8],
        means,
        variances: vec![(0.04 / sd).powi(2); 8],
    }
}

/// The closed form against scipy (at `λ_1` of the linear schedule, T = 1000):
///
/// ```python
/// import numpy as np
/// from scipy.stats import multivariate_normal as mvn
/// from scipy.special import logsumexp
/// ab = 1 - 1e-4; lam = np.log(ab / (1 - ab)); a2 = 1 / (1 + np.exp(-lam)); s2 = 1 - a2
/// sd = np.sqrt(2.0 + 0.04**2); R = 2 / sd; v = (0.04 / sd)**2
/// mu = [R * np.array([np.cos(k*np.pi/4), np.sin(k*np.pi/4)]) for k in range(8)]
/// for x in [(0, 0), (1, 0), (R, 0), (0.5, 0.5)]:
///     print(logsumexp([np.log(1/8) + mvn.logpdf(x, np.sqrt(a2)*m, (a2*v + s2)*np.eye(2)) for m in mu]))
/// ```
#[test]
fn the_mixtures_closed_form_matches_scipy() {
    let time = LogSnrTime::new(&linear_schedule()).unwrap();
    assert!((time.data_end() - 9.210_240_366_975_96).abs() < 1e-9);
    let mixture = eight_gaussians().at(time.data_end());
    let r = 2.0 / (2.0f64 + 0.0016).sqrt();
    let golden = [
        ([0.0, 0.0], -1_105.823_961_591_612_3),
        ([1.0, 0.0], -92.005_187_598_953_31),
        ([r, 0.0], 3.096_594_088_804_683_7),
        ([0.5, 0.5], -274.403_515_593_926_44),
    ];
    for (x, want) in golden {
        let got = mixture.log_density(&x);
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{x:?}: {got} vs {want}"
        );
    }
}

/// The mixture's score and Laplacian against central differences of its log density.
#[test]
fn the_mixtures_score_and_divergence_match_finite_differences() {
    let mixture = eight_gaussians().at(2.0);
    let h = 1e-4;
    for i in 0..20u64 {
        let x = [2.0 * normal(7, 1, 2 * i), 2.0 * normal(7, 1, 2 * i + 1)];
        let mut g = [0.0; 2];
        let laplacian = mixture.score_and_laplacian(&x, &mut g);
        let mut fd_lap = 0.0;
        for k in 0..2 {
            let (mut up, mut down) = (x, x);
            up[k] += h;
            down[k] -= h;
            let (lu, ld, l0) = (
                mixture.log_density(&up),
                mixture.log_density(&down),
                mixture.log_density(&x),
            );
            let fd = (lu - ld) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-5 * g[k].abs().max(1.0),
                "∂{k} at {x:?}: {fd} vs {}",
                g[k]
            );
            fd_lap += (lu - 2.0 * l0 + ld) / (h * h);
        }
        assert!(
            (fd_lap - laplacian).abs() < 1e-3 * laplacian.abs().max(1.0),
            "Laplacian at {x:?}: {fd_lap} vs {laplacian}"
        );
    }
}

/// The issue's analytic check: with the mixture's exact score in place of `ε̂`, the flow's
/// log-likelihood of 100 points drawn from the 8 Gaussians equals the mixture's analytic
/// log density at `λ_1` within 1e−3 nats.
#[test]
fn the_flow_gives_the_analytic_log_density_of_a_gaussian_mixture() {
    let time = LogSnrTime::new(&linear_schedule()).unwrap();
    let mut mixture = eight_gaussians();
    let at_data = mixture.at(time.data_end());
    // 100 draws of the mixture at λ_1: a component, then its Gaussian.
    let points: Vec<f64> = (0..100u64)
        .flat_map(|i| {
            let k = (uniform(3, 0, i) * 8.0) as usize;
            let sd = at_data.variances[k].sqrt();
            [
                at_data.means[2 * k] + sd * normal(3, 1, 2 * i),
                at_data.means[2 * k + 1] + sd * normal(3, 1, 2 * i + 1),
            ]
        })
        .collect();
    let flow = log_likelihood(&mut mixture, &time, &points, Tolerance::LIKELIHOOD).unwrap();
    let errors: Vec<f64> = points
        .chunks_exact(2)
        .zip(&flow.log_p)
        .map(|(x, lp)| (lp - at_data.log_density(x)).abs())
        .collect();
    let worst = errors.iter().copied().fold(0.0, f64::max);
    let mean_log_p = flow.log_p.iter().sum::<f64>() / 100.0;
    // Measured: worst 5.7e−4 nats (mean log p 2.11), 113 evaluations per point, each point
    // solved on its own (1621 steps and 230 rejected over the 100; solved as one batch, at
    // its hardest point's pace: 6.1e−4 at 170). The error is the solver's: at rtol = atol
    // = 1e−7 it is a few 1e−6, and the prior's mismatch at λ_T (N(0, I) for the diffused
    // mixture) is 2.4e−9 nats.
    assert!(
        worst < 1e-3,
        "worst error {worst:.2e} nats; nfe {}",
        flow.stats.nfe
    );
    assert!((1.8..2.4).contains(&mean_log_p), "mean log p {mean_log_p}");
    assert!(flow.stats.nfe > 50 * 100, "{:?}", flow.stats);
    let tight = Tolerance {
        rtol: 1e-7,
        atol: 1e-7,
    };
    let flow = log_likelihood(&mut mixture, &time, &points, tight).unwrap();
    let worst = points
        .chunks_exact(2)
        .zip(&flow.log_p)
        .map(|(x, lp)| (lp - at_data.log_density(x)).abs())
        .fold(0.0, f64::max);
    assert!(worst < 2e-5, "at 1e-7: worst error {worst:.2e} nats");
}

/// The continuous time interpolates the schedule's log SNR: exact at the steps, monotone
/// in between, and `step_at` inverts `lambda_at`.
#[test]
fn log_snr_time_is_the_schedule_between_its_steps() {
    let schedule = linear_schedule();
    let time = LogSnrTime::new(&schedule).unwrap();
    for t in [1usize, 2, 17, 500, 999, 1000] {
        assert!((time.lambda_at(t as f64) - schedule.log_snr(t)).abs() < 1e-12);
        assert!((time.step_at(schedule.log_snr(t)) - t as f64).abs() < 1e-9);
    }
    for s in [1.25, 3.5, 250.75, 999.9] {
        assert!((time.step_at(time.lambda_at(s)) - s).abs() < 1e-9, "{s}");
    }
    let (a, s) = alpha_sigma(time.noise_end());
    assert!((a * a - schedule.alpha_bar(1000)).abs() < 1e-12 && (a * a + s * s - 1.0).abs() < 1e-12);
    // Zero terminal SNR has no finite start.
    let zero = Schedule::new(&ScheduleSpec {
        zero_terminal_snr: true,
        ..ScheduleSpec::new(ScheduleKind::Cosine, 1000)
    })
    .unwrap();
    let err = LogSnrTime::new(&zero).unwrap_err().to_string();
    assert!(err.contains("zero terminal SNR"), "{err}");
}

fn shipped_two_moons() -> (Schedule, diffscope::model::Inference) {
    let model = diffscope::model::shipped::load("two-moons").unwrap().unwrap();
    (
        Schedule::new(&model.info.schedule).unwrap(),
        model.network.inference().unwrap(),
    )
}

fn two_moons(n: usize, seed: u64) -> Vec<f64> {
    diffscope::data::generate(diffscope::data::Dataset::TwoMoons, n, seed)
        .into_iter()
        .flatten()
        .collect()
}

/// The network's exact divergence (forward-mode tangents) against central differences of
/// its `ε̂`, and its `ε̂` against the plain forward pass.
#[test]
fn the_networks_divergence_matches_finite_differences() {
    let (_, net) = shipped_two_moons();
    let diffscope::model::Inference::Mlp(mlp) = &net else {
        panic!("a 2D model")
    };
    let x: Vec<f32> = (0..40u64).map(|i| (1.5 * normal(11, 0, i)) as f32).collect();
    let h = 2e-3f32;
    let mut worst = 0f32;
    for t in [1.0f32, 7.5, 120.25, 640.0, 1000.0] {
        let (eps, trace) = mlp.eps_and_trace(&x, t).unwrap();
        // The values alone, by the same pass without its tangents: the same numbers.
        let alone = mlp.eps_each(&x, &vec![t; x.len() / 2]).unwrap();
        let worst_alone = eps
            .iter()
            .zip(&alone)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst_alone < 1e-6, "ε̂ alone differs by {worst_alone}");
        let plain = net.predict_eps_at(&x, t).unwrap();
        let diff = eps
            .iter()
            .zip(&plain)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-5,
            "ε̂ differs from the forward pass by {diff} at t = {t}"
        );
        for i in 0..20 {
            let mut fd = 0f32;
            for k in 0..2 {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[2 * i + k] += h;
                down[2 * i + k] -= h;
                let (eu, ed) = (
                    net.predict_eps_at(&up, t).unwrap(),
                    net.predict_eps_at(&down, t).unwrap(),
                );
                fd += (eu[2 * i + k] - ed[2 * i + k]) / (2.0 * h);
            }
            let err = (fd - trace[i]).abs() / trace[i].abs().max(1.0);
            worst = worst.max(err);
        }
    }
    // Measured: worst relative difference 1.2e−3 (f32 differences over h = 2e−3).
    assert!(
        worst < 1e-2,
        "divergence vs finite differences: worst {worst:.2e}"
    );
}

/// The probability-flow sampler: deterministic, frames at decreasing steps, and the same
/// ODE as DDIM with η = 0 (its Euler discretisation in `x/α` against `σ/α`), so from the
/// same `x_T` a 1000-step DDIM lands near it; its samples are two moons.
#[test]
fn the_flow_sampler_solves_the_ddim_ode() {
    use diffscope::model::sample::{Denoiser, ReverseChain, Sampler};
    let (schedule, net) = shipped_two_moons();
    let denoiser = Denoiser::Learned(net);
    let mut chain = ReverseChain::from_noise(schedule.clone(), Sampler::ProbabilityFlow, 1000, 2, 2024);
    let mut ts = vec![chain.t()];
    while let Some(frame) = chain.step(&denoiser).unwrap() {
        ts.push(frame.t);
    }
    assert!(ts.windows(2).all(|w| w[1] < w[0]), "steps {ts:?}");
    assert_eq!((ts[0], *ts.last().unwrap()), (1000, 0));
    let nfe = chain.nfe().unwrap();
    let ode = chain.x().to_vec();
    let again = ReverseChain::from_noise(schedule.clone(), Sampler::ProbabilityFlow, 1000, 2, 2024)
        .run(&denoiser)
        .unwrap();
    assert_eq!(ode, again, "deterministic");
    let ddim = ReverseChain::from_noise(
        schedule.clone(),
        Sampler::Ddim {
            steps: 1000,
            eta: 0.0,
        },
        1000,
        2,
        2024,
    )
    .run(&denoiser)
    .unwrap();
    let mean_gap = ode
        .chunks_exact(2)
        .zip(ddim.chunks_exact(2))
        .map(|(a, b)| f64::from((a[0] - b[0]).hypot(a[1] - b[1])))
        .sum::<f64>()
        / 1000.0;
    let ode: Vec<f64> = ode.iter().map(|&v| f64::from(v)).collect();
    let held_out = two_moons(1000, 101);
    let reference: Vec<f64> =
        diffscope::model::train::iid_draw(diffscope::data::Dataset::TwoMoons, 1000, 102)
            .into_iter()
            .map(f64::from)
            .collect();
    // A start deep in the tail runs away: sample 834 starts at y = −3.9 (a 1-in-10⁴
    // draw), where the network's ε̂ at t ≈ T is off by 0.25, which x̂_0 = (x − σε̂)/α
    // magnifies 157×; the deterministic flow follows it to y = −61 (DDPM's fresh noise
    // brings such a start back). The other samples are two moons.
    let start = ReverseChain::from_noise(schedule.clone(), Sampler::ProbabilityFlow, 1000, 2, 2024);
    let tail: Vec<bool> = start
        .x()
        .chunks_exact(2)
        .map(|p| p[0].abs().max(p[1].abs()) > 3.5)
        .collect();
    let runaways: Vec<usize> = (0..1000)
        .filter(|&i| ode[2 * i].abs().max(ode[2 * i + 1].abs()) > 5.0)
        .collect();
    assert!(
        runaways.iter().all(|&i| tail[i]) && runaways.len() <= 2,
        "runaways {runaways:?}"
    );
    let kept: Vec<f64> = ode
        .chunks_exact(2)
        .zip(&tail)
        .filter(|(_, t)| !**t)
        .flat_map(|(p, _)| p.to_vec())
        .collect();
    let sw2 = diffscope::diffusion::metrics::sliced_wasserstein2(&kept, &held_out);
    let floor = diffscope::diffusion::metrics::sliced_wasserstein2(&reference, &held_out);
    // Measured: 136 frames, 944 evaluations; 0.0012 from DDIM-1000's samples on average;
    // SW2 0.0556 on the 999 other samples against a noise floor of 0.0393 (1.42×).
    assert!(
        mean_gap < 0.05,
        "ODE vs DDIM-1000 from the same x_T: mean distance {mean_gap}"
    );
    assert!(sw2 < 2.0 * floor, "SW2 {sw2} vs noise floor {floor}");
    assert!((30..2000).contains(&nfe), "{nfe} evaluations");
}

/// The shipped two-moons model's likelihood: held-out data are likelier than points off
/// the moons, and the exact NLL is close to the ELBO's (each belongs to its own model).
#[test]
fn the_shipped_two_moons_flow_has_a_likelihood() {
    use diffscope::model::flow::log_likelihoods;
    let (schedule, net) = shipped_two_moons();
    let data = two_moons(200, 7);
    let on = log_likelihoods(&net, &schedule, &data, Tolerance::LIKELIHOOD, &mut |_| true).unwrap();
    // Points far from the data (a ring of radius 3).
    let off: Vec<f64> = (0..50)
        .flat_map(|k| {
            let a = f64::from(k) * std::f64::consts::TAU / 50.0;
            [3.0 * a.cos(), 3.0 * a.sin()]
        })
        .collect();
    let far = log_likelihoods(&net, &schedule, &off, Tolerance::LIKELIHOOD, &mut |_| true).unwrap();
    // Measured: NLL 1.42 nats on the moons, 24.6 on the ring.
    assert!(
        on.nll() < 2.0 && far.nll() > on.nll() + 5.0,
        "NLL on {} off {}",
        on.nll(),
        far.nll()
    );
    let mut calls = 0;
    let cancelled = log_likelihoods(&net, &schedule, &data, Tolerance::LIKELIHOOD, &mut |_| {
        calls += 1;
        false
    });
    assert!(cancelled.is_err() && calls == 1);
}

/// The highest-density contour of a standard Gaussian on the density view's grid: the
/// 50 % region is the disc of radius √(2 ln 2), and marching squares draws its circle.
#[test]
fn contours_of_a_gaussian_are_its_highest_density_circles() {
    use diffscope::scene::contour::{contour_segments, hdr_levels};
    let (side, extent) = (100usize, 3.5f64);
    let log_p: Vec<f64> = (0..side * side)
        .map(|i| {
            let [x, y] = diffscope::model::flow::DensityGrid::centre(side, extent, i / side, i % side);
            -0.5 * (x * x + y * y) - (2.0 * std::f64::consts::PI).ln()
        })
        .collect();
    let levels = hdr_levels(&log_p, &[0.5, 0.95]);
    for (share, level) in [0.5f64, 0.95].into_iter().zip(levels) {
        let radius = (-2.0 * (1.0 - share).ln()).sqrt();
        let segments = contour_segments(&log_p, side, extent, level);
        assert!(segments.len() > 50, "{} segments", segments.len());
        let worst = segments
            .iter()
            .flatten()
            .map(|p| (p[0].hypot(p[1]) - radius).abs())
            .fold(0.0, f64::max);
        // One cell is 0.07: the level is a cell's value and the edges are linear.
        assert!(worst < 0.05, "{share}: radius off by {worst} (want {radius})");
    }
}

/// The model worker's flow job: the density on a small grid (its peak on the moons, its
/// samples beside it), then the NLL of points; a flow job asked of a photo model fails
/// with the reason, and the next command stops a running one.
#[test]
fn the_worker_computes_the_flows_density_and_nll() {
    use diffscope::worker::model::{FlowJob, FlowRequest, ModelCommand, ModelEvent, ModelWorker};
    let worker = ModelWorker::spawn(Box::new(|| {}));
    worker.send(ModelCommand::UseShipped("two-moons".into()));
    worker.send(ModelCommand::Flow(Box::new(FlowJob {
        generation: 7,
        request: FlowRequest::Grid {
            side: 12,
            extent: 3.5,
            samples: 200,
        },
    })));
    let wait = |what: &str, generation: u64| {
        let start = std::time::Instant::now();
        loop {
            match worker.recv_timeout(std::time::Duration::from_millis(50)) {
                Some(ModelEvent::FlowDone {
                    generation: g,
                    outcome,
                }) if g == generation => return Ok(*outcome),
                Some(ModelEvent::Failed {
                    generation: g,
                    message,
                }) if g == generation => return Err(message),
                Some(ModelEvent::FlowStopped { generation: g }) if g == generation => {
                    return Err("stopped".into());
                }
                _ => {}
            }
            assert!(start.elapsed().as_secs() < 120, "no answer: {what}");
        }
    };
    let grid = wait("the grid", 7).unwrap();
    assert_eq!((grid.log_p.len(), grid.samples.len()), (144, 400));
    // The likeliest cell lies on the moons (within a cell of a data point); the corners
    // are far less likely.
    let best = (0..144)
        .max_by(|&a, &b| grid.log_p[a].total_cmp(&grid.log_p[b]))
        .unwrap();
    let centre = diffscope::model::flow::DensityGrid::centre(12, 3.5, best / 12, best % 12);
    let data = two_moons(1000, 0);
    let nearest = data
        .chunks_exact(2)
        .map(|p| (p[0] - centre[0]).hypot(p[1] - centre[1]))
        .fold(f64::INFINITY, f64::min);
    assert!(nearest < 0.6, "the peak at {centre:?} is {nearest} from the data");
    assert!(
        grid.log_p[best] - grid.log_p[0] > 10.0,
        "peak {} corner {}",
        grid.log_p[best],
        grid.log_p[0]
    );
    assert!(grid.nfe_per_point > 50.0 && grid.seconds > 0.0);
    worker.send(ModelCommand::Flow(Box::new(FlowJob {
        generation: 8,
        // 20 points of a set of 1000 (standardised as the model's data were).
        request: FlowRequest::Points(two_moons(1000, 5)[..40].to_vec()),
    })));
    let nll = wait("the NLL", 8).unwrap();
    assert_eq!(nll.log_p.len(), 20);
    let mean = nll.log_p.iter().sum::<f64>() / 20.0;
    assert!((-3.0..0.0).contains(&mean), "mean log p {mean}: {:?}", nll.log_p);
    // Stopped by the next command.
    worker.send(ModelCommand::Flow(Box::new(FlowJob {
        generation: 9,
        request: FlowRequest::Points(two_moons(2000, 5)),
    })));
    worker.send(ModelCommand::Cancel);
    assert_eq!(wait("the stop", 9).unwrap_err(), "stopped");
    // A photo model has no exact likelihood here.
    worker.send(ModelCommand::UseShipped("photo-cat".into()));
    worker.send(ModelCommand::Flow(Box::new(FlowJob {
        generation: 10,
        request: FlowRequest::Points(vec![0.0, 0.0]),
    })));
    let message = wait("the refusal", 10).unwrap_err();
    assert!(message.contains("2D models"), "{message}");
}
