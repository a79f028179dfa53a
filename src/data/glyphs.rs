//! The 28×28 glyph digits: the ten digits drawn from the fonts the app embeds (DejaVu
//! Sans and DejaVu Sans Mono) with a random affine jitter, stroke thickness, blur and
//! intensity — an MNIST-sized, labelled, licence-free data set of any size, generated on
//! the fly. Glyph `i` of a seed depends only on `(seed, i)`; its label is `i mod 10`, so
//! every ten consecutive glyphs hold each digit once.
//!
//! Each glyph's outline (ab_glyph, font units) is filled — and, for a thicker stroke,
//! stroked — by tiny-skia under one affine map: the glyph's box centred on the image,
//! its height [`GLYPH_HEIGHT`] pixels times the scale, then sheared, rotated and shifted.
//! The coverage is blurred by a Gaussian and mapped to `[−1, 1]` (background −1, full
//! ink `2·intensity − 1`), as the 8×8 digits are.

use ab_glyph::{Font, FontRef, OutlineCurve};
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Stroke, Transform};

use crate::diffusion::noise::StreamKey;

/// Side of a glyph image, in pixels.
pub const GLYPH_SIDE: usize = 28;
/// Pixels of a glyph image.
pub const GLYPH_PIXELS: usize = GLYPH_SIDE * GLYPH_SIDE;
/// Height of a digit at scale 1, in pixels (MNIST's digits fit a 20×20 box).
pub const GLYPH_HEIGHT: f32 = 20.0;
/// Classes: the digits 0–9.
pub const GLYPH_CLASSES: usize = 10;
/// Draws per glyph from its seed's stream.
const DRAWS: u64 = 16;
/// The noise stream of the glyphs.
const GLYPH_STREAM: u64 = 0x6C79_7068;

static SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static MONO: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

/// The embedded DejaVu Sans (the window's text font too).
#[must_use]
pub fn sans_bytes() -> &'static [u8] {
    SANS
}

/// The embedded DejaVu Sans Mono (the window's monospace font too).
#[must_use]
pub fn mono_bytes() -> &'static [u8] {
    MONO
}

/// How one glyph is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlyphStyle {
    /// The monospace face rather than the proportional one.
    pub mono: bool,
    /// Rotation, radians (counter-clockwise on screen).
    pub rotation: f32,
    /// Size relative to [`GLYPH_HEIGHT`].
    pub scale: f32,
    /// Horizontal shear (x += shear·y, italic-like for positive values).
    pub shear: f32,
    /// Shift of the centre, pixels.
    pub shift: [f32; 2],
    /// Extra stroke around the outline, pixels (0: the font's own weight).
    pub stroke: f32,
    /// Standard deviation of the Gaussian blur, pixels (0: none).
    pub blur: f32,
    /// Peak intensity in `(0, 1]`.
    pub intensity: f32,
}

impl GlyphStyle {
    /// The plain glyph: proportional face, upright, scale 1, centred, no extra stroke or
    /// blur, full intensity (the templates of the tests).
    #[must_use]
    pub const fn plain() -> Self {
        Self {
            mono: false,
            rotation: 0.0,
            scale: 1.0,
            shear: 0.0,
            shift: [0.0, 0.0],
            stroke: 0.0,
            blur: 0.0,
            intensity: 1.0,
        }
    }

    /// The random style of glyph `i` of `seed`: either face; rotation ±12°; scale
    /// 0.8–1.1; shear ±0.25; shift ±2 px; extra stroke 0–2 px; blur 0–0.8 px; intensity
    /// 0.75–1.
    #[must_use]
    pub fn random(seed: u64, i: usize) -> Self {
        let key = StreamKey::new(seed, GLYPH_STREAM);
        let u = |j: u64| key.uniform(i as u64 * DRAWS + j) as f32;
        let between = |j: u64, lo: f32, hi: f32| lo + (hi - lo) * u(j);
        Self {
            mono: u(0) < 0.4,
            rotation: between(1, -12.0, 12.0).to_radians(),
            scale: between(2, 0.8, 1.1),
            shear: between(3, -0.25, 0.25),
            shift: [between(4, -2.0, 2.0), between(5, -2.0, 2.0)],
            stroke: between(6, 0.0, 2.0),
            blur: between(7, 0.0, 0.8),
            intensity: between(8, 0.75, 1.0),
        }
    }
}

/// The digit `digit` (0–9) drawn in `style`: [`GLYPH_PIXELS`] values in `[−1, 1]`,
/// row-major, background −1.
///
/// # Panics
/// If `digit` is not 0–9 (the glyphs of the embedded fonts are always there).
#[must_use]
pub fn render(digit: usize, style: &GlyphStyle) -> Vec<f32> {
    assert!(digit < GLYPH_CLASSES, "digit {digit} is not 0–9");
    let font = FontRef::try_from_slice(if style.mono { MONO } else { SANS }).expect("embedded font");
    let c = char::from(b'0' + digit as u8);
    let outline = font
        .outline(font.glyph_id(c))
        .expect("the embedded fonts have every digit");
    let mut pb = PathBuilder::new();
    let mut last: Option<ab_glyph::Point> = None;
    for curve in &outline.curves {
        let (start, end) = match *curve {
            OutlineCurve::Line(a, b) | OutlineCurve::Quad(a, _, b) | OutlineCurve::Cubic(a, _, _, b) => {
                (a, b)
            }
        };
        if last != Some(start) {
            if last.is_some() {
                pb.close();
            }
            pb.move_to(start.x, start.y);
        }
        match *curve {
            OutlineCurve::Line(_, b) => pb.line_to(b.x, b.y),
            OutlineCurve::Quad(_, q, b) => pb.quad_to(q.x, q.y, b.x, b.y),
            OutlineCurve::Cubic(_, q, r, b) => pb.cubic_to(q.x, q.y, r.x, r.y, b.x, b.y),
        }
        last = Some(end);
    }
    pb.close();
    let path = pb.finish().expect("a digit's outline is a path");
    let b = outline.bounds;
    // Font units (y up; ab_glyph's `bounds` of an outline run from the top, `min.y`, to
    // the bottom) to pixels (y down): scale, flip, shear, rotate, centre.
    let unit = GLYPH_HEIGHT * style.scale / (b.max.y - b.min.y).abs();
    let (sin, cos) = style.rotation.sin_cos();
    // A = R · Sh · diag(unit, −unit), the shear leaning the top to the right (x +=
    // shear·y, y up), R rotating counter-clockwise on screen.
    let (a11, a12) = (unit, style.shear * unit);
    let (a21, a22) = (0.0, -unit);
    let m11 = cos * a11 + sin * a21;
    let m12 = cos * a12 + sin * a22;
    let m21 = -sin * a11 + cos * a21;
    let m22 = -sin * a12 + cos * a22;
    let (cx, cy) = (f32::midpoint(b.min.x, b.max.x), f32::midpoint(b.min.y, b.max.y));
    let centre = GLYPH_SIDE as f32 / 2.0;
    let tx = centre + style.shift[0] - (m11 * cx + m12 * cy);
    let ty = centre + style.shift[1] - (m21 * cx + m22 * cy);
    let transform = Transform::from_row(m11, m21, m12, m22, tx, ty);
    let side = GLYPH_SIDE as u32;
    let mut pixmap = Pixmap::new(side, side).expect("28×28");
    let mut paint = Paint::default();
    paint.set_color_rgba8(255, 255, 255, 255);
    paint.anti_alias = true;
    pixmap.fill_path(&path, &paint, FillRule::Winding, transform, None);
    if style.stroke > 0.05 {
        let stroke = Stroke {
            width: style.stroke / unit,
            line_join: tiny_skia::LineJoin::Round,
            ..Stroke::default()
        };
        pixmap.stroke_path(&path, &paint, &stroke, transform, None);
    }
    let coverage: Vec<f32> = pixmap
        .pixels()
        .iter()
        .map(|p| f32::from(p.alpha()) / 255.0)
        .collect();
    let coverage = blur(&coverage, style.blur);
    coverage
        .iter()
        .map(|&v| 2.0 * style.intensity * v.clamp(0.0, 1.0) - 1.0)
        .collect()
}

/// A separable Gaussian blur of a [`GLYPH_SIDE`]² image (zero outside), radius 3σ.
fn blur(image: &[f32], sigma: f32) -> Vec<f32> {
    if sigma < 0.05 {
        return image.to_vec();
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|k| (-(k * k) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let n = GLYPH_SIDE as isize;
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        for y in 0..n {
            for x in 0..n {
                let mut acc = 0.0;
                for (k, w) in (-radius..=radius).zip(&weights) {
                    let (sx, sy) = if horizontal { (x + k, y) } else { (x, y + k) };
                    if (0..n).contains(&sx) && (0..n).contains(&sy) {
                        acc += w * src[(sy * n + sx) as usize];
                    }
                }
                out[(y * n + x) as usize] = acc / total;
            }
        }
        out
    };
    pass(&pass(image, true), false)
}

/// Glyph `i` of `seed`: its image and its label `i mod 10`.
#[must_use]
pub fn glyph(seed: u64, i: usize) -> (Vec<f32>, usize) {
    let digit = i % GLYPH_CLASSES;
    (render(digit, &GlyphStyle::random(seed, i)), digit)
}

/// The first `n` glyphs of `seed`, with their labels (in parallel: each is independent).
#[must_use]
pub fn glyphs(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    use rayon::prelude::*;
    (0..n).into_par_iter().map(|i| glyph(seed, i)).unzip()
}
