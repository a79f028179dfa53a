//! The Markov chain tab's state and logic (no layout): the finite chain of
//! [`MarkovSettings`], and everything the tab draws from it — `p_0, …, p_N`, the
//! stationary distribution(s), `|λ₂|`, sampled trajectories and the empirical histogram
//! of many chains at every `n` — recomputed only when the matrix, `p_0` or the seed
//! change (`K ≤ 8`: the whole table for `N = 100` and 10⁴ chains takes milliseconds).
//! The tab's edits arrive as [`MarkovEdit`]s; one that cannot be applied leaves the
//! settings as they were and says why in [`MarkovView::message`].

use super::DiffscopeApp;
use super::settings::{MarkovSettings, Tab, point_mass, rows_of};
use crate::diffusion::finite::{self, MAX_WINDOW_STATES, Preset, Structure, Transition};

/// The last step `N` the tab computes and its `n` slider reaches.
pub const MAX_N: usize = 100;

/// The chains behind the empirical histogram (`Var ≤ 1/(4·10⁴)`: a standard error of at
/// most 0.005 per bar).
pub const MANY_CHAINS: usize = 10_000;

/// An edit of the tab's chain (applied after layout, like every command).
#[derive(Clone, Debug, PartialEq)]
pub enum MarkovEdit {
    /// `K` states (refused outside `2..=8`): the current preset's matrix at `K`, `p_0` a
    /// point mass on state 0.
    States(usize),
    /// A preset's matrix at the current `K`.
    Preset(Preset),
    /// `P_ij` typed as `text`: the rest of row `i` is rescaled so it sums to 1 again.
    Cell {
        /// The row (0-based).
        i: usize,
        /// The column (0-based).
        j: usize,
        /// What was typed.
        text: String,
    },
    /// A whole matrix as CSV (one row a line; rows of weights are normalised).
    Matrix(String),
    /// `p_0` all on one state.
    PointMass(usize),
    /// `p_0(i) = value`, the other states rescaled so `p_0` sums to 1 again.
    Start {
        /// The state (0-based).
        i: usize,
        /// Its new probability, in `[0, 1]`.
        value: f64,
    },
}

/// What the tab's pictures were computed from.
#[derive(Clone, Debug, PartialEq)]
struct Key {
    rows: Vec<Vec<f64>>,
    p0: Vec<f64>,
    seed: u64,
}

/// Everything the Markov chain tab draws (the UI reads it).
#[derive(Clone, Debug)]
pub struct MarkovView {
    key: Option<Key>,
    /// The chain `P`.
    pub chain: Transition,
    /// Its classes, periods and the stationary distribution of each closed class.
    pub structure: Structure,
    /// `p_0, p_1, …, p_N` with `p_{n+1} = p_n P`.
    pub distributions: Vec<Vec<f64>>,
    /// Where `p_n` settles from this `p_0` (`Transition::limit`: `π` for an irreducible
    /// chain; for a periodic one the average over its cycle).
    pub limit: Vec<f64>,
    /// `‖p_n − limit‖₁` for `n = 0..=N`.
    pub distances: Vec<f64>,
    /// `|λ₂|`, the second-largest eigenvalue modulus.
    pub lambda2: Option<f64>,
    /// The geometric rate of `‖p_n − limit‖₁` (`Transition::convergence_rate`).
    pub rate: Option<f64>,
    /// The period of an irreducible chain, or the largest period of its closed classes.
    pub period: usize,
    /// For a periodic chain, the cycle `p_n` runs round at the end: `p_{N−d+1}, …, p_N`.
    pub cycle: Vec<Vec<f64>>,
    /// The first [`MarkovSettings::MAX_CHAINS`] trajectories `X_0, …, X_N`.
    pub paths: Vec<Vec<usize>>,
    /// The empirical distribution of [`MANY_CHAINS`] chains at every `n` (`[n][state]`).
    pub histograms: Vec<Vec<f64>>,
    /// Whether `n` is playing.
    pub playing: bool,
    accumulator: f64,
    /// Why the last edit was refused (until the next one succeeds).
    pub message: Option<String>,
}

impl MarkovView {
    /// The pictures of the chain `settings` describe.
    #[must_use]
    pub fn new(settings: &MarkovSettings) -> Self {
        let mut view = Self {
            key: None,
            chain: settings.transition(),
            structure: settings.transition().structure(),
            distributions: Vec::new(),
            limit: Vec::new(),
            distances: Vec::new(),
            lambda2: None,
            rate: None,
            period: 1,
            cycle: Vec::new(),
            paths: Vec::new(),
            histograms: Vec::new(),
            playing: false,
            accumulator: 0.0,
            message: None,
        };
        view.update(settings);
        view
    }

    /// Brings the pictures in line with `settings` (nothing to do unless the matrix,
    /// `p_0` or the seed changed).
    pub fn update(&mut self, settings: &MarkovSettings) {
        let key = Key {
            rows: settings.rows.clone(),
            p0: settings.p0.clone(),
            seed: settings.seed,
        };
        if self.key.as_ref() == Some(&key) {
            return;
        }
        let chain = settings.transition();
        let k = chain.states();
        let p0 = finite::distribution(&settings.p0, k).unwrap_or_else(|_| point_mass(0, k));
        self.structure = chain.structure();
        self.distributions = chain.distributions(&p0, MAX_N);
        self.limit = chain.limit(&p0);
        self.distances = self
            .distributions
            .iter()
            .map(|p| finite::l1_distance(p, &self.limit))
            .collect();
        self.lambda2 = chain.second_eigenvalue_modulus().ok();
        self.rate = chain.convergence_rate().ok();
        self.period = self
            .structure
            .classes
            .iter()
            .filter(|c| c.closed)
            .map(|c| c.period)
            .max()
            .unwrap_or(1)
            .max(1);
        self.cycle = if self.period > 1 {
            self.distributions[MAX_N + 1 - self.period..].to_vec()
        } else {
            Vec::new()
        };
        let (paths, histograms) = many_chains(&chain, &p0, settings.seed);
        self.paths = paths;
        self.histograms = histograms;
        self.chain = chain;
        self.key = Some(key);
    }

    /// `p_n` (`n` clamped to `N`).
    #[must_use]
    pub fn p_n(&self, n: usize) -> &[f64] {
        &self.distributions[n.min(MAX_N)]
    }

    /// The empirical distribution of the many chains at `n`, and its `L1` distance to
    /// `p_n`.
    #[must_use]
    pub fn histogram(&self, n: usize) -> (&[f64], f64) {
        let h = &self.histograms[n.min(MAX_N)];
        (h, finite::l1_distance(h, self.p_n(n)))
    }
}

/// The first trajectories and the histograms of [`MANY_CHAINS`] chains of `seed`: chain
/// `c` starts from `p_0` by `sample_start(p_0, seed, c)` and moves by
/// `sample_path(.., seed, c)`, so trajectory `c` on screen is chain `c` of the histogram.
fn many_chains(chain: &Transition, p0: &[f64], seed: u64) -> (Vec<Vec<usize>>, Vec<Vec<f64>>) {
    let k = chain.states();
    let mut counts = vec![vec![0u32; k]; MAX_N + 1];
    let mut paths = Vec::with_capacity(MarkovSettings::MAX_CHAINS);
    for c in 0..MANY_CHAINS as u64 {
        let start = Transition::sample_start(p0, seed, c);
        let path = chain.sample_path(start, MAX_N, seed, c);
        for (count, &x) in counts.iter_mut().zip(&path) {
            count[x] += 1;
        }
        if paths.len() < MarkovSettings::MAX_CHAINS {
            paths.push(path);
        }
    }
    let histograms = counts
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| f64::from(c) / MANY_CHAINS as f64)
                .collect()
        })
        .collect();
    (paths, histograms)
}

/// `p` with `p(i) = value` and the other entries rescaled so that it sums to 1 (spread
/// evenly when they were all zero), as `Transition::set` does for a row.
fn set_probability(p: &[f64], i: usize, value: f64) -> Vec<f64> {
    let value = value.clamp(0.0, 1.0);
    let rest: f64 = p
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, v)| v)
        .sum();
    let others = (p.len() - 1).max(1) as f64;
    p.iter()
        .enumerate()
        .map(|(j, &v)| {
            if j == i {
                value
            } else if rest > 0.0 {
                v * (1.0 - value) / rest
            } else {
                (1.0 - value) / others
            }
        })
        .collect()
}

/// The refusal of `k` states in the window.
fn too_many(k: usize) -> String {
    format!(
        "K = {k} refused: the window shows 2 to {MAX_WINDOW_STATES} states (`diffscope markov` takes up to {}); the chain is unchanged",
        finite::MAX_STATES
    )
}

impl DiffscopeApp {
    /// Applies one edit of the Markov chain tab; a refused one leaves everything as it
    /// was and says why.
    pub(super) fn markov_edit(&mut self, edit: MarkovEdit) {
        let s = &mut self.settings.markov;
        let result: Result<(), String> = match edit {
            MarkovEdit::States(k) if !(2..=MAX_WINDOW_STATES).contains(&k) => Err(too_many(k)),
            MarkovEdit::States(k) => {
                let preset = s
                    .preset
                    .as_deref()
                    .and_then(Preset::from_name)
                    .unwrap_or(Preset::WellMixing);
                if k != s.k {
                    s.k = k;
                    s.preset = Some(preset.name().to_owned());
                    s.rows = rows_of(&Transition::preset(preset, k));
                    s.p0 = point_mass(0, k);
                }
                Ok(())
            }
            MarkovEdit::Preset(preset) => {
                s.preset = Some(preset.name().to_owned());
                s.rows = rows_of(&Transition::preset(preset, s.k));
                Ok(())
            }
            MarkovEdit::Cell { i, j, text } => {
                let at = format!("P[{i},{j}]");
                match text.trim().parse::<f64>() {
                    Err(_) => Err(format!("{at} not changed: {:?} is not a number", text.trim())),
                    Ok(value) => {
                        let mut chain = s.transition();
                        if i >= chain.states() || j >= chain.states() {
                            Err(format!(
                                "{at} is not an entry of a {}-state chain",
                                chain.states()
                            ))
                        } else {
                            match chain.set(i, j, value) {
                                Ok(()) => {
                                    s.rows = rows_of(&chain);
                                    s.preset = None;
                                    Ok(())
                                }
                                Err(e) => Err(format!("{at} not changed: {e}")),
                            }
                        }
                    }
                }
            }
            MarkovEdit::Matrix(text) => match Transition::from_csv(&text) {
                Err(e) => Err(format!("matrix not changed: {e}")),
                Ok(chain) if chain.states() > MAX_WINDOW_STATES => Err(too_many(chain.states())),
                Ok(chain) if chain.states() < 2 => {
                    Err("matrix not changed: the window's chains have 2 to 8 states".to_owned())
                }
                Ok(chain) => {
                    if chain.states() != s.k {
                        s.k = chain.states();
                        s.p0 = point_mass(0, s.k);
                    }
                    s.rows = rows_of(&chain);
                    s.preset = None;
                    Ok(())
                }
            },
            MarkovEdit::PointMass(i) => {
                if i < s.k {
                    s.p0 = point_mass(i, s.k);
                }
                Ok(())
            }
            MarkovEdit::Start { i, value } => {
                if i < s.k && value.is_finite() {
                    s.p0 = set_probability(&s.p0, i, value);
                }
                Ok(())
            }
        };
        self.model.markov.message = result.err();
    }

    /// Space on the Markov chain tab: plays `n` (from 0 when at the end) or pauses.
    pub(super) fn toggle_markov(&mut self) {
        let view = &mut self.model.markov;
        if !view.playing && self.settings.markov.n >= MAX_N {
            self.settings.markov.n = 0;
        }
        view.playing = !view.playing;
        view.accumulator = 0.0;
    }

    /// ←/→, Home/End on the Markov chain tab: `n` moves (and stops playing).
    pub(super) fn step_markov(&mut self, to: usize) {
        self.model.markov.playing = false;
        self.settings.markov.n = to.min(MAX_N);
    }

    /// The tab's pictures brought up to date, and `n` advanced while playing (only while
    /// the tab is shown).
    pub(super) fn markov_views(&mut self, ctx: &egui::Context) {
        if self.settings.tab != Tab::Markov {
            return;
        }
        self.model.markov.update(&self.settings.markov);
        let view = &mut self.model.markov;
        if !view.playing {
            return;
        }
        let dt = f64::from(ctx.input(|i| i.stable_dt)).min(0.1);
        view.accumulator += dt * f64::from(self.settings.markov.steps_per_s);
        let whole = view.accumulator.floor();
        view.accumulator -= whole;
        let mut n = self.settings.markov.n + whole as usize;
        if n > MAX_N {
            if self.settings.looping {
                n = 0;
            } else {
                n = MAX_N;
                view.playing = false;
            }
        }
        self.settings.markov.n = n;
        ctx.request_repaint();
    }
}
