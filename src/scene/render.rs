//! Pictures of the forward process for exports and the command line: both views of a
//! scene at one `t`, and the comparison grid at full resolution.

use image::RgbImage;

use super::{Scene, SceneData};
use crate::diffusion::Schedule;
use crate::diffusion::forward::{self, MarkovChain, closed_form_noise};
use crate::export::{self, ScatterStyle};
use crate::format::format_sig;

/// The `t` of each column: `0, T/(c−1), …, T`.
#[must_use]
pub fn column_steps(steps: usize, columns: usize) -> Vec<usize> {
    let columns = columns.max(2);
    (0..columns)
        .map(|j| ((j as f64 / (columns - 1) as f64) * steps as f64).round() as usize)
        .collect()
}

/// Renders views of a scene to pictures, for exports (own thread, own caches).
pub struct FrameRenderer {
    scene: Scene,
    schedule: Schedule,
    x0: Vec<f64>,
    eps: Vec<f64>,
    seed: u64,
    /// Built on the first Markov frame (exports of the closed form never need it).
    chain: Option<MarkovChain<f64>>,
    style: ScatterStyle,
}

impl FrameRenderer {
    /// A renderer of `scene` under `schedule` and `seed`.
    #[must_use]
    pub fn new(scene: &Scene, schedule: &Schedule, seed: u64) -> Self {
        let x0 = scene.values();
        let eps = closed_form_noise(seed, x0.len());
        Self {
            scene: scene.clone(),
            schedule: schedule.clone(),
            x0,
            eps,
            seed,
            chain: None,
            style: ScatterStyle::default(),
        }
    }

    fn picture(&self, values: &[f64]) -> RgbImage {
        match &self.scene.data {
            SceneData::Image(img) => {
                let px: Vec<f32> = values.iter().map(|&v| v as f32).collect();
                export::image_to_rgb(&px, img.width, img.height, img.channels)
            }
            SceneData::Points(x0) => {
                let pts: Vec<[f64; 2]> = values.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
                export::render_scatter(&pts, Some(x0), &self.style)
            }
        }
    }

    /// The closed-form `x_t`.
    #[must_use]
    pub fn closed(&self, t: usize) -> RgbImage {
        self.picture(&self.closed_values(t))
    }

    /// The values of the closed-form `x_t` (`q_sample` with the scene's one `ε`).
    #[must_use]
    pub fn closed_values(&self, t: usize) -> Vec<f64> {
        let mut xt = vec![0.0; self.x0.len()];
        forward::q_sample(&self.schedule, t, &self.x0, &self.eps, &mut xt);
        xt
    }

    /// The Markov chain's `x_t`.
    pub fn markov(&mut self, t: usize) -> RgbImage {
        let xt = self.markov_values(t);
        self.picture(&xt)
    }

    /// The values of the Markov chain's `x_t`.
    pub fn markov_values(&mut self, t: usize) -> Vec<f64> {
        let (schedule, x0, seed) = (&self.schedule, &self.x0, self.seed);
        let chain = self
            .chain
            .get_or_insert_with(|| MarkovChain::new(schedule.clone(), x0.clone(), seed));
        chain.frame(t)
    }

    /// Both views at `t` side by side, labelled.
    pub fn both_views(&mut self, t: usize) -> RgbImage {
        let markov = self.markov(t);
        let closed = self.closed(t);
        let ab = format!("ᾱ = {}", format_sig(self.schedule.alpha_bar(t), 4));
        export::strip(&[
            (markov, vec![format!("Markov chain, t = {t}"), ab.clone()]),
            (closed, vec![format!("closed form, t = {t}"), ab]),
        ])
    }
}

/// The comparison grid at full resolution, labelled, for export.
#[must_use]
pub fn render_grid(scene: &Scene, schedules: &[Schedule], columns: usize, seed: u64) -> RgbImage {
    let steps = column_steps(schedules[0].steps(), columns);
    let rows: Vec<Vec<RgbImage>> = schedules
        .iter()
        .map(|s| {
            let r = FrameRenderer::new(scene, s, seed);
            steps.iter().map(|&t| r.closed(t)).collect()
        })
        .collect();
    let row_labels: Vec<String> = schedules
        .iter()
        .map(|s| s.spec().kind.label().to_owned())
        .collect();
    let col_labels: Vec<String> = steps.iter().map(|t| format!("t = {t}")).collect();
    export::grid(&rows, &row_labels, &col_labels)
}
