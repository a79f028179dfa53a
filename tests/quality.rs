//! The quality-vs-steps chart (issue 18): SW2 of a 2D model's samples from held-out data
//! against network evaluations, for DDPM (respaced, η = 1), DDIM (η = 0) and the
//! probability-flow ODE, next to the data's noise floor.

use diffscope::data::Dataset;
use diffscope::diffusion::Schedule;
use diffscope::model::Objective;
use diffscope::model::quality::{ChartModel, Method, ODE_TOLERANCES, STEPS, plan, quality_chart};
use diffscope::model::sample::Denoiser;
use diffscope::model::shipped;
use diffscope::model::train::TrainSet;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn the_chart_of_the_shipped_two_moons_model_falls_to_its_noise_floor() {
    let model = shipped::load("two-moons").unwrap().unwrap();
    let schedule = Schedule::new(&model.info.schedule).unwrap();
    let denoiser = Denoiser::Learned(model.network.inference().unwrap());
    // 300 held-out points keep the test short (the window and the CLI use 1000).
    let set = TrainSet::dataset(Dataset::TwoMoons, 1);
    let held_out = f64s(&set.held_out[..600]);
    let reference = f64s(&set.reference.as_ref().unwrap()[..600]);
    let fm = shipped::load("fm-two-moons").unwrap().unwrap();
    let fm_schedule = Schedule::new(&fm.info.schedule).unwrap();
    let fm_denoiser = Denoiser::Learned(fm.network.inference().unwrap());
    let models = [
        ChartModel {
            denoiser: &denoiser,
            schedule: &schedule,
            objective: Objective::Epsilon,
        },
        ChartModel {
            denoiser: &fm_denoiser,
            schedule: &fm_schedule,
            objective: Objective::FlowMatching,
        },
    ];
    let mut fractions = Vec::new();
    let chart = quality_chart(&models, &held_out, &reference, 0, &mut |f| {
        fractions.push(f);
        true
    })
    .unwrap()
    .unwrap();
    assert_eq!(chart.samples, 300);
    assert_eq!(
        fractions.len(),
        plan(1000, Objective::Epsilon).len() + plan(1000, Objective::FlowMatching).len()
    );
    assert!(fractions.windows(2).all(|w| w[0] < w[1]) && (fractions.last().unwrap() - 1.0).abs() < 1e-12);
    let floor = chart.noise_floor;
    assert!(floor > 0.02 && floor < 0.2, "floor {floor}");
    let curve = |m: Method| chart.curves.iter().find(|c| c.method == m).unwrap();
    let (ddpm, ddim, ode) = (curve(Method::Ddpm), curve(Method::Ddim), curve(Method::Ode));
    assert_eq!(ddpm.points.len(), STEPS.len());
    assert_eq!(ode.points.len(), ODE_TOLERANCES.len());
    // One step lands on x̂_0(x_T) whatever η: the two curves start at the same point, far
    // from the data (the mean of the data, about).
    assert_eq!(ddpm.points[0].sw2, ddim.points[0].sw2);
    assert!(ddpm.points[0].sw2 > 10.0 * floor, "{:?}", ddpm.points[0]);
    // A thousand steps: DDPM within 2× the floor, and DDIM (the ODE's Euler steps) within
    // 0.02 of the ODE solved at 1e-5.
    let last = |c: &diffscope::model::quality::QualityCurve| *c.points.last().unwrap();
    assert!(last(ddpm).sw2 < 2.0 * floor, "{:?} floor {floor}", last(ddpm));
    assert!(
        (last(ddim).sw2 - last(ode).sw2).abs() < 0.02,
        "{:?} {:?}",
        last(ddim),
        last(ode)
    );
    // The ODE's work grows as its tolerance tightens: tens to hundreds of evaluations.
    let nfe: Vec<usize> = ode.points.iter().map(|p| p.nfe).collect();
    assert!(nfe.windows(2).all(|w| w[0] <= w[1]), "{nfe:?}");
    assert!(nfe[0] < 60 && *nfe.last().unwrap() > 400, "{nfe:?}");
    // Flow matching: Euler within 2× the floor by 20 steps (the bar), Heun's
    // evaluations twice its steps, up to T = 1000 of them.
    let (euler, heun) = (curve(Method::Euler), curve(Method::Heun));
    assert_eq!(euler.points.len(), STEPS.len());
    assert_eq!(heun.points.len(), STEPS.len() - 1);
    let at20 = euler.points.iter().find(|p| p.nfe == 20).unwrap();
    assert!(at20.sw2 < 2.0 * floor, "{at20:?} floor {floor}");
    assert!(heun.points.iter().all(|p| p.nfe == 2 * p.setting as usize));
    assert_eq!(heun.points.last().unwrap().nfe, 1000);
    // Stopped after the first run: nothing.
    let stopped = quality_chart(&models[..1], &held_out, &reference, 0, &mut |_| false).unwrap();
    assert!(stopped.is_none());
}
