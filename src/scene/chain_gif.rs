//! The reverse chain as the Reverse tab shows it, frame by frame, for a GIF a lecturer
//! pastes into her slides: `x_t` (2D: the samples over the data, with the highlighted
//! samples' paths from `x_T`; images: the grid of samples) beside the `x̂_0` the model
//! predicted, each under a caption, in the window's colours.

use image::{Rgb, RgbImage};

use crate::export::{self, ScatterStyle};
use crate::model::DataShape;
use crate::model::sample::Frame;
use crate::scene::tile::{grid_columns, tile_images};

/// Space around and between the two panels, in pixels.
const PAD_PX: u32 = 8;
/// Scale of the caption font (a 6 × 9 glyph cell becomes 12 × 18 pixels).
const CAPTION_SCALE: u32 = 2;
/// Height of the caption row above the panels.
const CAPTION_H: u32 = 9 * CAPTION_SCALE + PAD_PX;
/// How many samples' paths are drawn (the window's Reverse tab draws as many).
pub const PATHS: usize = 12;
/// The panel sides a GIF may have, in pixels: from the smallest whose captions fit at
/// the font's 1× scale ("Markov chain  t = 10000" is 137 pixels) to the largest a slide
/// needs.
pub const GIF_SIDES: std::ops::RangeInclusive<u32> = 160..=1024;

/// The window's colours for the chain's pictures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChainLook {
    /// The scatter view: canvas, the data's faint colour (`background_point_rgb`), extent,
    /// point radius (`size_px` is replaced by the chosen side).
    pub style: ScatterStyle,
    /// The samples `x_t`.
    pub sample_rgb: [u8; 3],
    /// The predictions `x̂_0`.
    pub x0_hat_rgb: [u8; 3],
    /// One colour per highlighted path, in turn.
    pub path_rgb: Vec<[u8; 3]>,
    /// The captions.
    pub text_rgb: [u8; 3],
}

/// Draws frames of one chain at a chosen panel side.
pub struct ChainPictures {
    shape: DataShape,
    data: Option<Vec<[f64; 2]>>,
    look: ChainLook,
    side: u32,
}

/// Which of `stored` frames a GIF of at most `most` frames shows: evenly spaced,
/// `round(k·(stored − 1)/(m − 1))` for k = 0..m with m = min(stored, most), so the first
/// (`x_T`) and the last (`t = 0`) are always in.
#[must_use]
pub fn gif_frame_indices(stored: usize, most: usize) -> Vec<usize> {
    let m = stored.min(most.max(2));
    if m <= 1 {
        return (0..m).collect();
    }
    (0..m)
        .map(|k| ((k * (stored - 1)) as f64 / (m - 1) as f64).round() as usize)
        .collect()
}

impl ChainPictures {
    /// Pictures of a chain of samples of `shape`, over the 2D `data` (if points), in
    /// `look`, each panel `side` pixels square.
    #[must_use]
    pub fn new(shape: DataShape, data: Option<Vec<[f64; 2]>>, look: ChainLook, side: u32) -> Self {
        Self {
            shape,
            data,
            look,
            side: side.max(16),
        }
    }

    /// The size of every picture: two panels, their captions and the padding.
    #[must_use]
    pub const fn size(&self) -> (u32, u32) {
        picture_size(self.side)
    }

    /// Frame `i` of `frames` (`t` decreasing), with the paths through `frames[..=i]`.
    #[must_use]
    pub fn picture(&self, frames: &[Frame], i: usize) -> RgbImage {
        let mut img = blank(self.side, self.look.style.canvas_rgb);
        let Some(frame) = frames.get(i) else { return img };
        let (left, right) = match self.shape {
            DataShape::Points => self.point_panels(frames, i),
            DataShape::Image {
                channels,
                height,
                width,
            } => (
                self.image_panel(&frame.x, channels, height, width),
                self.image_panel(&frame.x0_hat, channels, height, width),
            ),
        };
        let caption = format!("x_t   t = {}", frame.t);
        two_panels(
            &mut img,
            self.side,
            self.look.text_rgb,
            [(&left, caption.as_str()), (&right, "predicted x_0")],
        );
        img
    }

    fn style(&self, point_rgb: [u8; 3]) -> ScatterStyle {
        ScatterStyle {
            size_px: self.side,
            point_rgb,
            ..self.look.style.clone()
        }
    }

    /// `x_t` over the data with the paths, and `x̂_0` over the data.
    fn point_panels(&self, frames: &[Frame], i: usize) -> (RgbImage, RgbImage) {
        let points = |x: &[f32]| -> Vec<[f64; 2]> {
            x.chunks_exact(2)
                .map(|p| [f64::from(p[0]), f64::from(p[1])])
                .collect()
        };
        let data = self.data.as_deref();
        let style = self.style(self.look.sample_rgb);
        let mut left = export::render_scatter(&[], data, &style);
        let n = (frames[i].x.len() / 2).min(PATHS);
        for k in 0..n {
            let path: Vec<[f64; 2]> = frames[..=i]
                .iter()
                .filter_map(|f| f.x.get(2 * k..2 * k + 2))
                .map(|p| [f64::from(p[0]), f64::from(p[1])])
                .collect();
            let rgb = self
                .look
                .path_rgb
                .get(k % self.look.path_rgb.len().max(1))
                .copied();
            if let Some(rgb) = rgb {
                export::draw_path(&mut left, &path, &style, rgb, 0.4, 4.0);
            }
        }
        export::draw_points(&mut left, &points(&frames[i].x), &style);
        let right = export::render_scatter(
            &points(&frames[i].x0_hat),
            data,
            &self.style(self.look.x0_hat_rgb),
        );
        (left, right)
    }

    /// The grid of image samples, scaled (nearest pixel) to fit the panel, centred.
    fn image_panel(&self, values: &[f32], channels: usize, height: usize, width: usize) -> RgbImage {
        let n = values.len() / (channels * height * width).max(1);
        let grid = tile_images(values, channels, height, width, grid_columns(n, height, width));
        let small = export::image_to_rgb(&grid.pixels, grid.width, grid.height, grid.channels);
        fit_panel(&small, self.side, self.look.style.canvas_rgb)
    }
}

/// The size of a picture of two `side`-pixel panels, their captions and the padding.
#[must_use]
pub const fn picture_size(side: u32) -> (u32, u32) {
    (2 * side + 3 * PAD_PX, CAPTION_H + side + 2 * PAD_PX)
}

/// A picture of two `side`-pixel panels, all `canvas`.
#[must_use]
pub fn blank(side: u32, canvas: [u8; 3]) -> RgbImage {
    let (w, h) = picture_size(side);
    RgbImage::from_pixel(w, h, Rgb(canvas))
}

/// Where the panels of a picture start: the left one's and the right one's top-left corner.
#[must_use]
pub const fn panel_origins(side: u32) -> [(u32, u32); 2] {
    let top = CAPTION_H + PAD_PX;
    [(PAD_PX, top), (2 * PAD_PX + side, top)]
}

/// Puts two `side`-pixel panels into `img` (made by [`blank`]), each under its caption in
/// `text_rgb`: at the font's 2× scale when both captions fit over their panels, else 1×.
pub fn two_panels(img: &mut RgbImage, side: u32, text_rgb: [u8; 3], panels: [(&RgbImage, &str); 2]) {
    let fits = |scale| {
        panels
            .iter()
            .all(|(_, caption)| export::text_size(caption, scale).0 <= side)
    };
    let scale = if fits(CAPTION_SCALE) { CAPTION_SCALE } else { 1 };
    for ((panel, caption), (x, y)) in panels.into_iter().zip(panel_origins(side)) {
        image::imageops::replace(img, panel, i64::from(x), i64::from(y));
        export::draw_text(img, i64::from(x), i64::from(PAD_PX), caption, scale, text_rgb);
    }
}

/// `small` scaled (nearest pixel) to fit a `side`-pixel square of `canvas`, centred.
#[must_use]
pub fn fit_panel(small: &RgbImage, side: u32, canvas: [u8; 3]) -> RgbImage {
    let scale = f64::from(side) / f64::from(small.width().max(small.height()).max(1));
    let (sw, sh) = (
        ((f64::from(small.width()) * scale).round() as u32).clamp(1, side),
        ((f64::from(small.height()) * scale).round() as u32).clamp(1, side),
    );
    let scaled = image::imageops::resize(small, sw, sh, image::imageops::FilterType::Nearest);
    let mut panel = RgbImage::from_pixel(side, side, Rgb(canvas));
    image::imageops::replace(
        &mut panel,
        &scaled,
        i64::from((side - sw) / 2),
        i64::from((side - sh) / 2),
    );
    panel
}
