//! The forward chain as the Forward tab shows it, frame by frame, for a GIF a lecturer
//! pastes into her slides: the Markov chain beside the closed form at one `t` (2D: the
//! points over the faint data, with the highlighted points' paths; images: the picture),
//! each under its caption, in the window's colours (the reverse chain's [`ChainLook`]).

use image::RgbImage;

use super::chain_gif::{ChainLook, blank, fit_panel, two_panels};
use crate::export::{self, ScatterStyle};

/// One view of the forward chain at one `t`.
#[derive(Clone, Copy, Debug)]
pub enum ForwardView<'a> {
    /// 2D points `x_t`, and the highlighted points' paths `x_0..x_t`.
    Points {
        /// The points.
        xt: &'a [[f64; 2]],
        /// One path per highlighted point, through `t` (longer paths are cut at `t`).
        paths: &'a [Vec<[f64; 2]>],
    },
    /// An image `x_t`, values in [-1, 1], `height` rows of `width` pixels of `channels`.
    Image {
        /// The values, interleaved.
        values: &'a [f64],
        /// Pixels a row.
        width: u32,
        /// Rows.
        height: u32,
        /// 1 (grey) or 3 (RGB).
        channels: u8,
    },
}

/// Draws frames of the forward chain at a chosen panel side.
pub struct ForwardPictures {
    look: ChainLook,
    /// The faint `x_0` behind 2D points.
    data: Option<Vec<[f64; 2]>>,
    side: u32,
}

impl ForwardPictures {
    /// Pictures in `look`, over the 2D `data` (if points), each panel `side` pixels square.
    #[must_use]
    pub fn new(look: ChainLook, data: Option<Vec<[f64; 2]>>, side: u32) -> Self {
        Self {
            look,
            data,
            side: side.max(16),
        }
    }

    /// The size of every picture (see [`super::chain_gif::picture_size`]).
    #[must_use]
    pub const fn size(&self) -> (u32, u32) {
        super::chain_gif::picture_size(self.side)
    }

    /// Both views at `t`: the Markov chain on the left, the closed form on the right,
    /// captioned "Markov chain  t = …" and "closed form  t = …" as in the window.
    #[must_use]
    pub fn picture(&self, t: usize, markov: ForwardView<'_>, closed: ForwardView<'_>) -> RgbImage {
        let mut img = blank(self.side, self.look.style.canvas_rgb);
        let left = self.panel(markov, t);
        let right = self.panel(closed, t);
        let (l, r) = (format!("Markov chain  t = {t}"), format!("closed form  t = {t}"));
        two_panels(
            &mut img,
            self.side,
            self.look.text_rgb,
            [(&left, l.as_str()), (&right, r.as_str())],
        );
        img
    }

    fn panel(&self, view: ForwardView<'_>, t: usize) -> RgbImage {
        match view {
            ForwardView::Points { xt, paths } => {
                let style = ScatterStyle {
                    size_px: self.side,
                    point_rgb: self.look.sample_rgb,
                    ..self.look.style.clone()
                };
                let mut img = export::render_scatter(&[], self.data.as_deref(), &style);
                export::draw_points(&mut img, xt, &style);
                // Over the points, as the window draws them.
                for (k, path) in paths.iter().enumerate() {
                    let Some(&rgb) = self.look.path_rgb.get(k % self.look.path_rgb.len().max(1)) else {
                        continue;
                    };
                    let upto = &path[..path.len().min(t + 1)];
                    export::draw_path(&mut img, upto, &style, rgb, 1.0, 4.0);
                }
                img
            }
            ForwardView::Image {
                values,
                width,
                height,
                channels,
            } => {
                let px: Vec<f32> = values.iter().map(|&v| v as f32).collect();
                let small = export::image_to_rgb(&px, width, height, channels);
                fit_panel(&small, self.side, self.look.style.canvas_rgb)
            }
        }
    }
}
