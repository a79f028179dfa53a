//! `diffscope likelihood`: the exact log-likelihood of 2D points under a model's
//! probability-flow ODE (a flow-matching model's own ODE), and its density on a grid.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;

use super::{DataArgs, DataSource, write_lines};
use crate::data;
use crate::diffusion::Schedule;
use crate::diffusion::ode::Tolerance;
use crate::format::format_sig;
use crate::model::DataShape;
use crate::model::flow::{density_grid_for, log_likelihoods_for};
use crate::scene::{load_points, load_weights};

/// The most points `--n` takes.
const MAX_N: usize = 1_000_000;
/// The largest `--grid`.
const MAX_GRID: usize = 1000;

/// `diffscope likelihood`.
#[derive(Debug, Args)]
pub struct LikelihoodCmd {
    /// A 2D model's weights file, or the name of shipped weights (two-moons, …).
    #[arg(long, value_name = "W")]
    weights: String,
    #[command(flatten)]
    data: DataArgs,
    /// Number of points (the first N of the data; a built-in set is drawn with N points).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    n: usize,
    /// Seed of the built-in set's points.
    #[arg(long, default_value_t = 0, value_name = "S")]
    data_seed: u64,
    /// Relative and absolute tolerance of the ODE solver (RK45).
    #[arg(long, default_value_t = 1e-5, value_name = "TOL")]
    tol: f64,
    /// Also the density on a G × G grid over the window's 2D view, [−3.5, 3.5]².
    #[arg(long, value_name = "G")]
    grid: Option<usize>,
    /// Where to write `x,y,log_p` per point (then per grid cell, if --grid) as CSV (`-`
    /// for standard output).
    #[arg(long, value_name = "FILE|-")]
    csv: Option<PathBuf>,
}

/// The 2D model `weights` (a file or shipped name), or the one-line reason: `what` is
/// computed for 2D models only.
pub(super) fn load_points_model(weights: &str, what: &str) -> Result<crate::model::Checkpoint> {
    let model = load_weights(weights)?;
    let shape = model.network.architecture().data_shape();
    if shape != DataShape::Points {
        bail!("{what} for 2D models; '{weights}' denoises {shape}");
    }
    Ok(model)
}

/// `diffscope likelihood`.
pub(super) fn likelihood_cmd(cmd: &LikelihoodCmd) -> Result<()> {
    if cmd.n == 0 || cmd.n > MAX_N {
        bail!("--n must be in 1..={MAX_N}, got {}", cmd.n);
    }
    if !(cmd.tol > 0.0 && cmd.tol < 1.0) {
        bail!("--tol must be in (0, 1), got {}", cmd.tol);
    }
    if let Some(g) = cmd.grid.filter(|g| !(2..=MAX_GRID).contains(g)) {
        bail!("--grid must be in 2..={MAX_GRID}, got {g}");
    }
    let (points, data_name) = match cmd.data.source()? {
        DataSource::Dataset(set) => (data::generate(set, cmd.n, cmd.data_seed), set.name().to_owned()),
        DataSource::Points(path) => {
            let points = load_points(path)?;
            let n = cmd.n.min(points.len());
            (points[..n].to_vec(), path.display().to_string())
        }
        _ => bail!("likelihood takes 2D points: --dataset or --points"),
    };
    let model = load_points_model(&cmd.weights, "the exact likelihood is computed")?;
    let own = Schedule::new(&model.info.schedule)?;
    let net = model.network.inference()?;
    let tol = Tolerance {
        rtol: cmd.tol,
        atol: cmd.tol,
    };
    let x: Vec<f64> = points.iter().flatten().copied().collect();
    let start = Instant::now();
    let objective = model.info.objective;
    let flow = log_likelihoods_for(&net, &own, objective, &x, tol, &mut |_| true)?;
    let seconds = start.elapsed().as_secs_f64();
    let nll = flow.nll();
    eprintln!(
        "NLL ({}, RK45 at rtol = atol = {}, '{}' ({objective}) on {} points of {data_name}): {} nats \
         per point, {} bits/dim; {} network evaluations per point (five in six with the trace), each point solved on \
         its own ({} steps, {} rejected in all; {:.1} s)",
        match objective {
            crate::model::Objective::Epsilon => "probability-flow ODE",
            crate::model::Objective::FlowMatching => "flow-matching ODE",
        },
        cmd.tol,
        cmd.weights,
        points.len(),
        format_sig(nll, 6),
        format_sig(nll / (2.0 * std::f64::consts::LN_2), 5),
        format_sig(flow.nfe_per_point(), 4),
        flow.steps.accepted,
        flow.steps.rejected,
        seconds
    );
    let mut rows: Vec<String> = points
        .iter()
        .zip(&flow.log_p)
        .map(|(p, l)| format!("{},{},{l}", p[0], p[1]))
        .collect();
    if let Some(side) = cmd.grid {
        let extent = crate::export::VIEW_EXTENT;
        let start = Instant::now();
        let grid = density_grid_for(&net, &own, objective, (side, extent), tol, &mut |_| true)?;
        let (lo, hi) = grid
            .log_p
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        // Riemann sum of p over the grid: near 1 when the view holds the mass.
        let cell = (2.0 * extent / side as f64).powi(2);
        let mass: f64 = grid.log_p.iter().map(|l| l.exp() * cell).sum();
        eprintln!(
            "density on a {side} × {side} grid over [−{extent}, {extent}]²: log p from {} to {}, mass {} \
             in the view; {} network evaluations per point, five in six with the trace ({:.1} s)",
            format_sig(lo, 4),
            format_sig(hi, 4),
            format_sig(mass, 4),
            format_sig(grid.nfe_per_point, 4),
            start.elapsed().as_secs_f64()
        );
        rows.extend((0..side * side).map(|i| {
            let [x, y] = crate::model::flow::DensityGrid::centre(side, extent, i / side, i % side);
            format!("{x},{y},{}", grid.log_p[i])
        }));
    }
    if let Some(path) = &cmd.csv {
        write_lines(path, std::iter::once("x,y,log_p".to_owned()).chain(rows))?;
    }
    Ok(())
}
