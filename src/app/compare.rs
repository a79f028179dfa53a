//! The comparison grid in the window (rows: schedules, columns: evenly spaced `t`, one
//! shared `ε`); its full-resolution export is [`crate::scene::render::render_grid`].

use egui::{ColorImage, TextureHandle, TextureOptions};

use super::settings::{Settings, Tab};
use crate::diffusion::Schedule;
use crate::diffusion::forward::{self, closed_form_noise};
use crate::export;
use crate::scene::render::column_steps;
use crate::scene::{Scene, SceneData};

/// Long side of the grid's image thumbnails in the window.
const THUMBNAIL_SIDE: u32 = 160;

/// One cell of the grid in the window.
pub enum Cell {
    /// An image thumbnail.
    Image(TextureHandle),
    /// A point cloud.
    Points(Vec<[f64; 2]>),
}

/// What the grid was computed for.
#[derive(Clone, Debug, PartialEq)]
struct Key {
    scene: String,
    scene_len: usize,
    specs: Vec<crate::diffusion::ScheduleSpec>,
    columns: usize,
    seed: u64,
}

/// The grid shown in the Compare tab, recomputed only when its inputs change.
#[derive(Default)]
pub struct CompareCache {
    key: Option<Key>,
    /// The `t` of each column.
    pub steps: Vec<usize>,
    /// The schedule of each row. The grid is shown as it was computed, which for a frame
    /// can be under other schedules than the settings' (the tab was hidden when they
    /// changed), so the rows' numbers come from these.
    pub schedules: Vec<Schedule>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
}

impl CompareCache {
    /// Recomputes the grid if the Compare tab is shown and its inputs changed.
    pub fn update(
        &mut self,
        ctx: &egui::Context,
        scene: &Scene,
        schedules: &[Schedule],
        settings: &Settings,
    ) {
        if settings.tab != Tab::Compare {
            return;
        }
        let key = Key {
            scene: format!("{:?}", scene.source),
            scene_len: scene.dim(),
            specs: schedules.iter().map(|s| s.spec().clone()).collect(),
            columns: settings.compare_columns,
            seed: settings.noise_seed,
        };
        if self.key.as_ref() == Some(&key) {
            return;
        }
        let steps = column_steps(schedules[0].steps(), settings.compare_columns);
        let reduced = reduced_scene(scene, THUMBNAIL_SIDE);
        let eps = closed_form_noise::<f64>(settings.noise_seed, reduced.values.len());
        let mut cells = Vec::new();
        for (r, schedule) in schedules.iter().enumerate() {
            let mut row = Vec::new();
            for (c, &t) in steps.iter().enumerate() {
                let mut xt = vec![0.0; reduced.values.len()];
                forward::q_sample(schedule, t, &reduced.values, &eps, &mut xt);
                row.push(match reduced.image {
                    Some((w, h, ch)) => {
                        let px: Vec<f32> = xt.iter().map(|&v| v as f32).collect();
                        let rgba = export::image_to_rgba(&px, w, h, ch);
                        let img = ColorImage::from_rgba_unmultiplied([w as usize, h as usize], &rgba);
                        Cell::Image(ctx.load_texture(format!("compare-{r}-{c}"), img, TextureOptions::LINEAR))
                    }
                    None => Cell::Points(xt.chunks_exact(2).map(|p| [p[0], p[1]]).collect()),
                });
            }
            cells.push(row);
        }
        self.steps = steps;
        self.schedules = schedules.to_vec();
        self.cells = cells;
        self.key = Some(key);
    }
}

/// A scene's values, reduced for thumbnails if it is an image.
struct Reduced {
    values: Vec<f64>,
    /// Width, height, channels of an image; `None` for points.
    image: Option<(u32, u32, u8)>,
}

fn reduced_scene(scene: &Scene, side: u32) -> Reduced {
    match &scene.data {
        SceneData::Points(_) => Reduced {
            values: scene.values(),
            image: None,
        },
        SceneData::Image(img) => {
            let scale = f64::from(side) / f64::from(img.width.max(img.height));
            if scale >= 1.0 {
                return Reduced {
                    values: scene.values(),
                    image: Some((img.width, img.height, img.channels)),
                };
            }
            let w = ((f64::from(img.width) * scale).round() as u32).max(1);
            let h = ((f64::from(img.height) * scale).round() as u32).max(1);
            let small = image::imageops::resize(&img.to_rgb8(), w, h, image::imageops::FilterType::Triangle);
            let ch = usize::from(img.channels);
            let values = small
                .pixels()
                .flat_map(|p| p.0[..ch].to_vec())
                .map(|v| 2.0 * f64::from(v) / 255.0 - 1.0)
                .collect();
            Reduced {
                values,
                image: Some((w, h, img.channels)),
            }
        }
    }
}
