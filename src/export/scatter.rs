//! 2D point clouds drawn as anti-aliased scatter plots on a fixed square view.

use image::{Rgb, RgbImage};

/// Dark blue of the points `x_t`.
const POINT_RGB: [u8; 3] = [31, 75, 153];
/// Light grey of the background points (for example `x_0` behind `x_t`).
const BACKGROUND_POINT_RGB: [u8; 3] = [205, 205, 205];
/// White canvas.
const CANVAS_RGB: [u8; 3] = [255, 255, 255];
/// How far the axes through 0 go from the canvas colour towards black.
const AXIS_INK: f32 = 0.10;
/// How far the frame around the view goes from the canvas colour towards black.
const FRAME_INK: f32 = 0.35;

/// The square view of 2D points is `[−VIEW_EXTENT, VIEW_EXTENT]²` (standardised units):
/// the scatter exports, the window's point views and the ε field's grid all show it.
pub const VIEW_EXTENT: f64 = 3.5;

/// How a scatter plot looks: its size, the square view it shows, and its colours.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterStyle {
    /// Side of the square image, in pixels.
    pub size_px: u32,
    /// The view is `[-extent, extent]²` in data units (points are standardised).
    pub extent: f64,
    /// Radius of a point's disc, in pixels.
    pub point_radius_px: f32,
    /// Colour of the points.
    pub point_rgb: [u8; 3],
    /// Colour of the background points, drawn first.
    pub background_point_rgb: [u8; 3],
    /// Colour of the canvas.
    pub canvas_rgb: [u8; 3],
    /// Whether to draw faint axes through 0 and a thin frame around the view.
    pub axes: bool,
}

impl Default for ScatterStyle {
    fn default() -> Self {
        Self {
            size_px: 320,
            extent: VIEW_EXTENT,
            point_radius_px: 1.6,
            point_rgb: POINT_RGB,
            background_point_rgb: BACKGROUND_POINT_RGB,
            canvas_rgb: CANVAS_RGB,
            axes: true,
        }
    }
}

/// Draws `points` (x right, y up) over the optional `background` points (for example
/// `x_0`, drawn first in the background colour) on the square view
/// `[-extent, extent]²`.
///
/// Data point (x, y) lands at pixel coordinates
/// `((x + e) / 2e · size, (e − y) / 2e · size)`, where pixel (i, j) covers
/// `[i, i+1) × [j, j+1)`; so (0, 0) is the centre of the image. A point whose centre lies
/// outside the view (or is not finite) is skipped. Each point is a disc of
/// `point_radius_px`, blended over what is below with alpha equal to its approximate
/// coverage of each pixel, `clamp(r + ½ − d, 0, 1)` with d the distance from the disc's
/// centre to the pixel's centre; so overlapping points darken, and the result depends
/// only on the inputs. A style whose extent or radius is not positive and finite draws
/// no points.
#[must_use]
pub fn render_scatter(
    points: &[[f64; 2]],
    background: Option<&[[f64; 2]]>,
    style: &ScatterStyle,
) -> RgbImage {
    let size = style.size_px;
    let mut img = RgbImage::from_pixel(size, size, Rgb(style.canvas_rgb));
    if size == 0 {
        return img;
    }
    if style.axes {
        draw_axes(&mut img, style.canvas_rgb);
    }
    let drawable = style.extent.is_finite()
        && style.extent > 0.0
        && style.point_radius_px.is_finite()
        && style.point_radius_px > 0.0;
    if !drawable {
        return img;
    }
    let view = View::new(style);
    if let Some(background) = background {
        for p in background {
            if let Some((cx, cy)) = view.to_pixel(*p) {
                draw_disc(
                    &mut img,
                    cx,
                    cy,
                    style.point_radius_px,
                    style.background_point_rgb,
                );
            }
        }
    }
    for p in points {
        if let Some((cx, cy)) = view.to_pixel(*p) {
            draw_disc(&mut img, cx, cy, style.point_radius_px, style.point_rgb);
        }
    }
    img
}

/// Draws `points` in `style.point_rgb` over a picture made by [`render_scatter`] with
/// `style` (discs as there; points outside the view are skipped).
pub fn draw_points(img: &mut RgbImage, points: &[[f64; 2]], style: &ScatterStyle) {
    let drawable = style.extent.is_finite()
        && style.extent > 0.0
        && style.point_radius_px.is_finite()
        && style.point_radius_px > 0.0;
    if !drawable {
        return;
    }
    let view = View::new(style);
    for p in points {
        if let Some((cx, cy)) = view.to_pixel(*p) {
            draw_disc(img, cx, cy, style.point_radius_px, style.point_rgb);
        }
    }
}

/// Draws `path` (data points, in order) as a polyline of width about one pixel in `rgb`
/// at opacity `alpha`, on a picture made by [`render_scatter`] with `style`, and a disc
/// of `end_radius_px` in full `rgb` at its last point. Segments with an end outside the
/// view are skipped. Each segment is sampled every half pixel and each sample blends its
/// nearest pixel once (a pixel is blended at most once per segment).
pub fn draw_path(
    img: &mut RgbImage,
    path: &[[f64; 2]],
    style: &ScatterStyle,
    rgb: [u8; 3],
    alpha: f32,
    end_radius_px: f32,
) {
    if !(style.extent.is_finite() && style.extent > 0.0) {
        return;
    }
    let view = View::new(style);
    let (w, h) = (img.width(), img.height());
    for pair in path.windows(2) {
        let (Some(a), Some(b)) = (view.to_pixel(pair[0]), view.to_pixel(pair[1])) else {
            continue;
        };
        let samples = ((b.0 - a.0).hypot(b.1 - a.1) * 2.0).ceil().max(1.0) as usize;
        let mut last = None;
        for k in 0..=samples {
            let f = k as f32 / samples as f32;
            let (x, y) = (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
            let pixel = (x.floor(), y.floor());
            if last == Some(pixel) || pixel.0 < 0.0 || pixel.1 < 0.0 {
                continue;
            }
            last = Some(pixel);
            let (px, py) = (pixel.0 as u32, pixel.1 as u32);
            if px < w && py < h {
                let p = img.get_pixel_mut(px, py);
                p.0 = mix(p.0, rgb, alpha);
            }
        }
    }
    if let Some(end) = path.last().and_then(|&p| view.to_pixel(p)) {
        draw_disc(img, end.0, end.1, end_radius_px, rgb);
    }
}

/// The map from data coordinates to pixel coordinates.
struct View {
    /// Half the side of the view, in data units.
    extent: f64,
    /// Pixels per data unit.
    px_per_unit: f64,
}

impl View {
    /// The view of `style`.
    fn new(style: &ScatterStyle) -> Self {
        Self {
            extent: style.extent,
            px_per_unit: f64::from(style.size_px) / (2.0 * style.extent),
        }
    }

    /// Pixel coordinates of data point `p`, or `None` if it is outside the view.
    fn to_pixel(&self, [x, y]: [f64; 2]) -> Option<(f32, f32)> {
        let e = self.extent;
        // `contains` is false for NaN, so non-finite points are skipped too.
        let inside = (-e..=e).contains(&x) && (-e..=e).contains(&y);
        inside.then_some((
            ((x + e) * self.px_per_unit) as f32,
            ((e - y) * self.px_per_unit) as f32,
        ))
    }
}

/// Faint axes through the centre (data 0) and a thin frame around the image.
fn draw_axes(img: &mut RgbImage, canvas: [u8; 3]) {
    let size = img.width();
    let axis = Rgb(mix(canvas, [0, 0, 0], AXIS_INK));
    let frame = Rgb(mix(canvas, [0, 0, 0], FRAME_INK));
    // Data 0 is at pixel coordinate size/2, the left edge of pixel size/2.
    let mid = size / 2;
    for i in 0..size {
        img.put_pixel(mid, i, axis);
        img.put_pixel(i, mid, axis);
    }
    for i in 0..size {
        img.put_pixel(i, 0, frame);
        img.put_pixel(i, size - 1, frame);
        img.put_pixel(0, i, frame);
        img.put_pixel(size - 1, i, frame);
    }
}

/// Blends a disc of radius `r` centred at pixel coordinates (`cx`, `cy`) over `img`.
fn draw_disc(img: &mut RgbImage, cx: f32, cy: f32, r: f32, rgb: [u8; 3]) {
    let reach = r + 0.5;
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = (cx - reach).floor().max(0.0) as u32;
    let y0 = (cy - reach).floor().max(0.0) as u32;
    let x1 = (cx + reach).ceil().min(w) as u32;
    let y1 = (cy + reach).ceil().min(h) as u32;
    for py in y0..y1 {
        for px in x0..x1 {
            let dx = px as f32 + 0.5 - cx;
            let dy = py as f32 + 0.5 - cy;
            let alpha = (reach - dx.hypot(dy)).clamp(0.0, 1.0);
            if alpha > 0.0 {
                let pixel = img.get_pixel_mut(px, py);
                pixel.0 = mix(pixel.0, rgb, alpha);
            }
        }
    }
}

/// `from` moved a fraction `t` of the way to `to`, per channel, rounded.
fn mix(from: [u8; 3], to: [u8; 3], t: f32) -> [u8; 3] {
    let channel = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * t).round() as u8;
    [
        channel(from[0], to[0]),
        channel(from[1], to[1]),
        channel(from[2], to[2]),
    ]
}
