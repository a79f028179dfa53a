//! `diffscope markov`: a finite Markov chain's distribution after `n` steps, its classes,
//! stationary distributions and `|λ₂|` (the lecture's Markov-chain slide).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::diffusion::finite::{self, Preset, Transition};

/// `diffscope markov`: `p_n = p_0 Pⁿ` of a preset or a matrix file.
#[derive(Debug, Args)]
pub struct MarkovCmd {
    /// A preset chain: well-mixing, slow-mixing, periodic, absorbing, reducible or
    /// doubly-stochastic.
    #[arg(long, value_name = "NAME", default_value = "well-mixing", value_parser = parse_preset,
          conflicts_with = "matrix")]
    preset: Preset,
    /// The number of states of the preset (2..=256).
    #[arg(long, value_name = "K", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(2..=256), conflicts_with = "matrix")]
    states: u16,
    /// A transition matrix as CSV: one row per line, entries separated by commas, `#`
    /// starts a comment; each row is normalised to sum to 1.
    #[arg(long, value_name = "FILE.csv")]
    matrix: Option<PathBuf>,
    /// The steps n at which to print p_n, comma-separated.
    #[arg(long, value_name = "N,…", value_delimiter = ',', default_value = "0,1,10,100")]
    n: Vec<usize>,
    /// p_0 as weights over the states, comma-separated (normalised) [default: all mass on
    /// state 0].
    #[arg(long, value_name = "W,…", value_delimiter = ',', allow_hyphen_values = true)]
    start: Option<Vec<f64>>,
}

fn parse_preset(name: &str) -> Result<Preset, String> {
    Preset::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
        format!("unknown preset '{name}' (valid: {})", names.join(", "))
    })
}

/// Prints the chain, its structure, `|λ₂|`, and `p_n` for each `n` as CSV rows.
pub fn markov_cmd(cmd: &MarkovCmd) -> Result<()> {
    let (p, what) = match &cmd.matrix {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let p = Transition::from_csv(&text).with_context(|| path.display().to_string())?;
            (p, format!("matrix {}", path.display()))
        }
        None => (
            Transition::preset(cmd.preset, usize::from(cmd.states)),
            format!("preset {}", cmd.preset.name()),
        ),
    };
    let k = p.states();
    let p0 = if let Some(weights) = &cmd.start {
        finite::distribution(weights, k).context("--start")?
    } else {
        let mut p0 = vec![0.0; k];
        p0[0] = 1.0;
        p0
    };
    let numbers = |v: &[f64]| v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(",");
    println!("# {what}, {k} states");
    println!("# P (row i: the law of X_(n+1) given X_n = i):");
    for i in 0..k {
        println!("#   {}", numbers(p.row(i)));
    }
    let structure = p.structure();
    println!("# {}", structure.describe());
    for pi in &structure.stationary {
        println!("# stationary: {}", numbers(pi));
    }
    let eigenvalues = p.eigenvalues()?;
    let lambda2 = p.second_eigenvalue_modulus()?;
    let rate = p.convergence_rate()?;
    if rate > 1.0 - 1e-9 {
        // A periodic class has eigenvalues on the unit circle besides 1: p_n cycles.
        println!("# |λ₂| = {lambda2}: p_n does not converge (it cycles); its averages do");
    } else if (rate - lambda2).abs() < 1e-12 {
        println!("# |λ₂| = {lambda2}: ‖p_n − lim p‖ shrinks like |λ₂|ⁿ");
    } else {
        println!(
            "# |λ₂| = {lambda2}, but ‖p_n − lim p‖ shrinks like {rate}ⁿ (the largest |λ| besides the eigenvalue 1 of each closed class)"
        );
    }
    let spectrum: Vec<String> = eigenvalues
        .iter()
        .map(|&(re, im)| {
            if im == 0.0 {
                format!("{re}")
            } else {
                format!("{re}{im:+}i")
            }
        })
        .collect();
    println!("# eigenvalues: {}", spectrum.join(", "));
    let limit = p.limit(&p0);
    println!("# limit of the averages of p_n from p_0: {}", numbers(&limit));
    let header: Vec<String> = (0..k).map(|i| format!("p_n({i})")).collect();
    println!("n,{},l1_to_limit", header.join(","));
    let last = cmd.n.iter().copied().max().unwrap_or(0);
    let all = p.distributions(&p0, last);
    for &n in &cmd.n {
        println!(
            "{n},{},{}",
            numbers(&all[n]),
            finite::l1_distance(&all[n], &limit)
        );
    }
    Ok(())
}
