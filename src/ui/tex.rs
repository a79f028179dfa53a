// Over 500 lines: typesetting, the glyph-level live slots and the cache share one picture format and are tested together.
//! Typeset formulas: TeX math laid out by RaTeX (a pure-Rust port of KaTeX), rasterised
//! into egui textures at the screen's pixel density and cached by key.
//!
//! A formula is drawn once per (TeX, size in physical pixels, colour); later frames paint
//! the cached texture. Live formulas mark their numbers with `\slot{0.0000}`: the formula
//! is typeset once with the placeholder, its glyphs are taken out of the picture, and every
//! frame the number is laid out in the hole from cached single-glyph textures, so a number
//! that changes each frame costs no typesetting. A number wider than its placeholder falls
//! back to typesetting the whole formula with the number in it (cached like any formula).

use std::collections::HashMap;
use std::fmt::Write as _;

use egui::{Color32, ColorImage, Pos2, Rect, TextureHandle, TextureId, TextureOptions, Vec2};
use ratex_layout::{LayoutOptions, layout, to_display_list, validate_layout};
use ratex_render::{RenderOptions, render_to_png};
use ratex_types::color::Color as RColor;
use ratex_types::display_item::{DisplayItem, DisplayList};
use ratex_types::math_style::MathStyle;

/// Transparent margin around a rasterised formula, in pixels (antialiased edges and the
/// overhang of italic glyphs).
const PAD_PX: f32 = 2.0;
/// At most this many `\slot{…}` in one formula (each gets its own marker colour).
pub const MAX_SLOTS: usize = 16;
/// Formulas and glyphs kept before the least recently used are dropped.
const CAPACITY: usize = 512;
/// The smallest size [`tex_ui`] shrinks a formula to when it does not fit, in points.
const MIN_FIT_SIZE: f32 = 9.0;

/// Why a formula could not be drawn. Shown in place of the formula, never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TexError {
    /// The TeX does not parse (unknown command, unbalanced brace, …).
    #[error("TeX error in `{tex}`: {message}")]
    Parse {
        /// The formula as given.
        tex: String,
        /// RaTeX's message, with the position when it has one.
        message: String,
    },
    /// Layout or rasterisation failed (too large, a glyph no font has, …).
    #[error("cannot draw `{tex}`: {message}")]
    Render {
        /// The formula as given.
        tex: String,
        /// What went wrong.
        message: String,
    },
    /// A `\slot{` without its closing brace, or more than [`MAX_SLOTS`] slots.
    #[error("bad \\slot in `{tex}`: {message}")]
    Slot {
        /// The template as given.
        tex: String,
        /// What is wrong with the slots.
        message: String,
    },
    /// A live formula got a different number of values than it has slots.
    #[error("`{tex}` has {slots} slot(s) but {values} value(s) were given")]
    SlotCount {
        /// The template as given.
        tex: String,
        /// Slots in the template.
        slots: usize,
        /// Values given.
        values: usize,
    },
    /// The size or the pixel density is not a finite positive number.
    #[error("formula size {size_px} px is not a positive finite number")]
    Size {
        /// The requested em size in physical pixels.
        size_px: f32,
    },
}

/// Where a `\slot{…}` sits in a rasterised formula, in physical pixels from the image's
/// top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotPx {
    /// Left edge of the placeholder's first glyph.
    pub left: f32,
    /// The placeholder's baseline.
    pub baseline: f32,
    /// Width of the placeholder (the room a value has before it falls back).
    pub width: f32,
    /// The em size of the placeholder's glyphs (smaller in a sub- or superscript).
    pub em: f32,
}

/// A formula rasterised at one size: straight-alpha RGBA pixels, the baseline, the slots.
#[derive(Debug, Clone)]
pub struct Raster {
    /// The picture; the glyphs of slot placeholders are not in it.
    pub image: ColorImage,
    /// Baseline of the formula's main line, in pixels from the top.
    pub baseline_px: f32,
    /// Advance width of the formula (without the margins), in pixels.
    pub advance_px: f32,
    /// The slots, in the order they appear in the TeX.
    pub slots: Vec<SlotPx>,
}

/// Rasterises TeX math (display style) at `em_px` physical pixels per em in `color`.
///
/// `\slot{…}` marks a live number: its content is laid out (it reserves the room), then left
/// out of the picture, and its place is returned in [`Raster::slots`].
pub fn rasterize(tex: &str, em_px: f32, color: Color32) -> Result<Raster, TexError> {
    if !(em_px.is_finite() && em_px > 0.0 && em_px < 2000.0) {
        return Err(TexError::Size { size_px: em_px });
    }
    let (marked, n_slots) = mark_slots(tex)?;
    // RaTeX is young: a panic deep in its parser or layout is turned into an error here, so
    // a bad formula on screen can never bring the window down.
    let list = std::panic::catch_unwind(|| display_list(&marked, color))
        .map_err(|_| TexError::Render {
            tex: tex.to_owned(),
            message: "the typesetter panicked".to_owned(),
        })?
        .map_err(|e| match e {
            Stage::Parse(message) => TexError::Parse {
                tex: tex.to_owned(),
                message,
            },
            Stage::Layout(message) => TexError::Render {
                tex: tex.to_owned(),
                message,
            },
        })?;
    let (list, slot_items) = take_slots(list, n_slots);
    let slots = slot_items
        .iter()
        .enumerate()
        .map(|(i, items)| {
            slot_geometry(items, em_px).ok_or_else(|| TexError::Slot {
                tex: tex.to_owned(),
                message: format!("slot {} is empty", i + 1),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RenderOptions {
        font_size: em_px,
        padding: PAD_PX,
        background_color: RColor {
            r: 0.0,
            g: 0.0,
            b: 0.0,
            a: 0.0,
        },
        device_pixel_ratio: 1.0,
        ..RenderOptions::default()
    };
    let png = render_to_png(&list, &options).map_err(|message| TexError::Render {
        tex: tex.to_owned(),
        message,
    })?;
    let rgba = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .map_err(|e| TexError::Render {
            tex: tex.to_owned(),
            message: e.to_string(),
        })?
        .into_rgba8();
    let size = [rgba.width() as usize, rgba.height() as usize];
    Ok(Raster {
        image: ColorImage::from_rgba_unmultiplied(size, rgba.as_raw()),
        baseline_px: PAD_PX + list.height as f32 * em_px,
        advance_px: list.width as f32 * em_px,
        slots,
    })
}

/// Which stage of RaTeX failed.
enum Stage {
    /// The parser, with its message.
    Parse(String),
    /// Layout limits.
    Layout(String),
}

/// Parses and lays out `tex` into RaTeX's flat list of drawing commands.
fn display_list(tex: &str, color: Color32) -> Result<DisplayList, Stage> {
    let ast = ratex_parser::parser::parse(tex).map_err(|e| Stage::Parse(e.to_string()))?;
    let options = LayoutOptions::default()
        .with_style(MathStyle::Display)
        .with_color(to_ratex(color));
    let root = layout(&ast, &options);
    validate_layout(&root).map_err(Stage::Layout)?;
    Ok(to_display_list(&root))
}

/// An egui colour as RaTeX's (straight alpha, 0..1).
fn to_ratex(c: Color32) -> RColor {
    let [r, g, b, a] = c.to_srgba_unmultiplied();
    RColor {
        r: f32::from(r) / 255.0,
        g: f32::from(g) / 255.0,
        b: f32::from(b) / 255.0,
        a: f32::from(a) / 255.0,
    }
}

/// The marker colour of slot `i`: a magenta no formula uses, one blue step per slot.
fn marker_rgb(i: usize) -> [u8; 3] {
    [254, 1, 200 + i as u8]
}

/// Replaces each `\slot{X}` by `{\color{#FE01..}X}`; returns the TeX and the slot count.
fn mark_slots(tex: &str) -> Result<(String, usize), TexError> {
    const SLOT: &str = "\\slot{";
    let mut out = String::with_capacity(tex.len() + 32);
    let mut rest = tex;
    let mut n = 0;
    while let Some(start) = rest.find(SLOT) {
        out.push_str(&rest[..start]);
        let body = &rest[start + SLOT.len()..];
        let end = matching_brace(body).ok_or_else(|| TexError::Slot {
            tex: tex.to_owned(),
            message: format!("slot {} has no closing brace", n + 1),
        })?;
        if n == MAX_SLOTS {
            return Err(TexError::Slot {
                tex: tex.to_owned(),
                message: format!("more than {MAX_SLOTS} slots"),
            });
        }
        let [r, g, b] = marker_rgb(n);
        let _ = write!(out, "{{\\color{{#{r:02X}{g:02X}{b:02X}}}{}}}", &body[..end]);
        rest = &body[end + 1..];
        n += 1;
    }
    out.push_str(rest);
    Ok((out, n))
}

/// The byte index of the `}` closing a group whose `{` was just before `s`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0_usize;
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits the glyphs drawn in a slot's marker colour out of the list, one group per slot.
fn take_slots(mut list: DisplayList, n_slots: usize) -> (DisplayList, Vec<Vec<DisplayItem>>) {
    let mut slots = vec![Vec::new(); n_slots];
    if n_slots == 0 {
        return (list, slots);
    }
    let marker_of = |c: &RColor| {
        let q = |v: f32| (v * 255.0).round() as i32;
        (0..n_slots).find(|&i| {
            let [r, g, b] = marker_rgb(i);
            q(c.r) == i32::from(r) && q(c.g) == i32::from(g) && q(c.b) == i32::from(b)
        })
    };
    list.items.retain(|item| {
        let color = match item {
            DisplayItem::GlyphPath { color, .. }
            | DisplayItem::Line { color, .. }
            | DisplayItem::Rect { color, .. }
            | DisplayItem::Path { color, .. } => color,
        };
        match marker_of(color) {
            Some(i) => {
                slots[i].push(item.clone());
                false
            }
            None => true,
        }
    });
    (list, slots)
}

/// The placeholder's left edge, baseline, width and em, from its glyphs.
fn slot_geometry(items: &[DisplayItem], em_px: f32) -> Option<SlotPx> {
    let glyphs: Vec<(f64, f64, f64, u32)> = items
        .iter()
        .filter_map(|item| match item {
            DisplayItem::GlyphPath {
                x,
                y,
                scale,
                char_code,
                ..
            } => Some((*x, *y, *scale, *char_code)),
            _ => None,
        })
        .collect();
    let first = glyphs.first()?;
    let last = glyphs.last()?;
    let scale = first.2;
    // Every glyph of a number is in KaTeX_Main: digits are 0.5 em, so the last glyph's
    // advance is taken from its own metrics.
    let last_advance = char_advance_em(last.3).unwrap_or(0.5) * last.2;
    Some(SlotPx {
        left: PAD_PX + first.0 as f32 * em_px,
        baseline: PAD_PX + first.1 as f32 * em_px,
        width: (last.0 + last_advance - first.0) as f32 * em_px,
        em: scale as f32 * em_px,
    })
}

/// Advance width in em of a number's character in KaTeX_Main-Regular (its font metrics).
fn char_advance_em(code: u32) -> Option<f64> {
    let ch = char::from_u32(code)?;
    let tex = glyph_tex(ch)?;
    let list = display_list(&tex, Color32::BLACK).ok()?;
    Some(list.width)
}

/// The TeX that draws one character of a number the way the formula would.
fn glyph_tex(ch: char) -> Option<String> {
    Some(match ch {
        '0'..='9' | '.' | ',' | '+' | '(' | ')' | '[' | ']' | '=' | '<' | '>' | '/' => ch.to_string(),
        // Math minus, as the formula's own `-`.
        '-' | '\u{2212}' => "-".to_owned(),
        '×' => "\\times".to_owned(),
        '∞' => "\\infty".to_owned(),
        ' ' => "\\ ".to_owned(),
        '%' => "\\%".to_owned(),
        c if c.is_ascii_alphabetic() => format!("\\mathrm{{{c}}}"),
        _ => return None,
    })
}

/// The TeX of a value put in place of a `\slot{…}` when it is typeset whole.
fn value_tex(value: &str) -> Option<String> {
    value.chars().map(glyph_tex).collect()
}

/// Replaces each `\slot{…}` by the matching value's TeX.
fn fill_slots(template: &str, values: &[&str]) -> Option<String> {
    const SLOT: &str = "\\slot{";
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    let mut values = values.iter();
    while let Some(start) = rest.find(SLOT) {
        out.push_str(&rest[..start]);
        let body = &rest[start + SLOT.len()..];
        let end = matching_brace(body)?;
        out.push('{');
        out.push_str(&value_tex(values.next()?)?);
        out.push('}');
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A cached formula on the GPU: its texture and its geometry in points.
#[derive(Clone)]
pub struct TexImage {
    /// The texture (freed when the cache drops the entry).
    pub texture: TextureHandle,
    /// Size of the picture in points (pixels / pixels_per_point).
    pub size: Vec2,
    /// Baseline in points from the top of the picture.
    pub baseline: f32,
    /// Advance width in points (the picture without its margins).
    pub advance: f32,
    /// Slots, in physical pixels of the picture.
    pub slots: Vec<SlotPx>,
    /// Pixels per point the picture was drawn for.
    pub pixels_per_point: f32,
}

impl std::fmt::Debug for TexImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TexImage")
            .field("texture", &self.texture.id())
            .field("size", &self.size)
            .field("baseline", &self.baseline)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl TexImage {
    /// The texture's id.
    #[must_use]
    pub fn id(&self) -> TextureId {
        self.texture.id()
    }
}

/// A live formula ready to paint: the static picture and its numbers' glyphs, each a
/// texture and its rectangle in points relative to the picture's top-left corner.
#[derive(Debug, Clone)]
pub struct LiveTex {
    /// The formula without the numbers (or, if a number did not fit, with them).
    pub base: TexImage,
    /// The numbers' glyphs.
    pub glyphs: Vec<(TextureId, Rect)>,
}

/// What a cache entry is keyed by: the TeX, its em size in physical pixels, the colour.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The TeX (a template for live formulas; a single character for a glyph).
    tex: String,
    /// Em size in 1/64 physical pixel.
    em_64: u32,
    /// Straight-alpha RGBA.
    rgba: [u8; 4],
}

/// A cached result (a failure is cached too, so a bad formula is not re-parsed each frame).
struct Entry {
    /// The texture or the error.
    result: Result<TexImage, TexError>,
    /// When it was last asked for (the cache's use counter).
    last_used: u64,
}

/// Typeset formulas and number glyphs, as egui textures, by (TeX, size, colour, pixels
/// per point). Keep one per window in the app state (`#[serde(skip)]`).
pub struct TexCache {
    /// Formulas and glyphs.
    entries: HashMap<Key, Entry>,
    /// Counts requests, for least-recently-used eviction.
    clock: u64,
    /// Typesets done since the cache was made (a test and bench observable).
    typesets: u64,
}

impl Default for TexCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TexCache")
            .field("entries", &self.entries.len())
            .field("clock", &self.clock)
            .field("typesets", &self.typesets)
            .finish()
    }
}

impl TexCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
            clock: 0,
            typesets: 0,
        }
    }

    /// How many formulas were typeset (cache misses) so far.
    #[must_use]
    pub fn typesets(&self) -> u64 {
        self.typesets
    }

    /// Entries held (formulas, glyphs and cached errors).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The formula `tex` at `size` points (the em) in `color`, drawn for `pixels_per_point`:
    /// from the cache, or typeset now. A change of size, colour (theme) or pixel density is
    /// a different key and typesets afresh.
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        tex: &str,
        size: f32,
        color: Color32,
        pixels_per_point: f32,
    ) -> Result<&TexImage, TexError> {
        let em_px = size * pixels_per_point;
        if !(em_px.is_finite() && em_px > 0.0 && pixels_per_point.is_finite() && pixels_per_point > 0.0) {
            return Err(TexError::Size { size_px: em_px });
        }
        let key = Key {
            tex: tex.to_owned(),
            em_64: (em_px * 64.0).round() as u32,
            rgba: color.to_srgba_unmultiplied(),
        };
        self.clock += 1;
        let clock = self.clock;
        if !self.entries.contains_key(&key) {
            self.evict();
            self.typesets += 1;
            let result = rasterize(tex, em_px, color).map(|raster| {
                let name = format!("tex:{tex}");
                let texture = ctx.load_texture(name, raster.image, TextureOptions::LINEAR);
                let [w, h] = texture.size();
                TexImage {
                    texture,
                    size: Vec2::new(w as f32, h as f32) / pixels_per_point,
                    baseline: raster.baseline_px / pixels_per_point,
                    advance: raster.advance_px / pixels_per_point,
                    slots: raster.slots,
                    pixels_per_point,
                }
            });
            self.entries.insert(
                key.clone(),
                Entry {
                    result,
                    last_used: clock,
                },
            );
        }
        let entry = self.entries.get_mut(&key).expect("inserted above");
        entry.last_used = clock;
        entry.result.as_ref().map_err(Clone::clone)
    }

    /// A live formula: `template` with `\slot{…}` placeholders, and one value per slot.
    ///
    /// The template is typeset once; each frame only places cached digit glyphs. A value
    /// wider than its placeholder makes the whole formula typeset with the values in it
    /// (cached too, so a number that stays put costs nothing the next frame).
    pub fn live(
        &mut self,
        ctx: &egui::Context,
        template: &str,
        values: &[&str],
        size: f32,
        color: Color32,
        pixels_per_point: f32,
    ) -> Result<LiveTex, TexError> {
        let base = self.get(ctx, template, size, color, pixels_per_point)?.clone();
        if base.slots.len() != values.len() {
            return Err(TexError::SlotCount {
                tex: template.to_owned(),
                slots: base.slots.len(),
                values: values.len(),
            });
        }
        let mut glyphs = Vec::new();
        for (slot, value) in base.slots.iter().zip(values) {
            let Some(placed) = self.slot_glyphs(ctx, slot, value, color, pixels_per_point) else {
                let filled = fill_slots(template, values).ok_or_else(|| TexError::Slot {
                    tex: template.to_owned(),
                    message: format!("value `{value}` has a character a formula cannot show"),
                })?;
                let whole = self.get(ctx, &filled, size, color, pixels_per_point)?.clone();
                return Ok(LiveTex {
                    base: whole,
                    glyphs: Vec::new(),
                });
            };
            glyphs.extend(placed);
        }
        Ok(LiveTex { base, glyphs })
    }

    /// The glyphs of `value` laid out in `slot`, or `None` if it does not fit or has a
    /// character no glyph is made for.
    fn slot_glyphs(
        &mut self,
        ctx: &egui::Context,
        slot: &SlotPx,
        value: &str,
        color: Color32,
        pixels_per_point: f32,
    ) -> Option<Vec<(TextureId, Rect)>> {
        let mut placed = Vec::with_capacity(value.len());
        let mut pen = slot.left;
        for ch in value.chars() {
            let tex = glyph_tex(ch)?;
            let glyph = self
                .get(ctx, &tex, slot.em / pixels_per_point, color, pixels_per_point)
                .ok()?;
            let advance_px = glyph.advance * pixels_per_point;
            if pen + advance_px > slot.left + slot.width + 0.5 {
                return None;
            }
            // Whole pixels: the glyph is drawn at the pixel grid, ≤ ½ px from its exact place.
            let left = (pen - PAD_PX).round();
            let top = (slot.baseline - glyph.baseline * pixels_per_point).round();
            let min = Pos2::new(left, top) / pixels_per_point;
            placed.push((glyph.id(), Rect::from_min_size(min, glyph.size)));
            pen += advance_px;
        }
        Some(placed)
    }

    /// Drops the least recently used half when the cache is full.
    fn evict(&mut self) {
        if self.entries.len() < CAPACITY {
            return;
        }
        let mut ages: Vec<u64> = self.entries.values().map(|e| e.last_used).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 2];
        self.entries.retain(|_, e| e.last_used > cutoff);
    }
}

/// The text colour of `ui` (what formulas are drawn in, so they follow the theme).
fn text_color(ui: &egui::Ui) -> Color32 {
    ui.visuals()
        .override_text_color
        .unwrap_or_else(|| ui.visuals().text_color())
}

/// Allocates space for the formula `tex` at `size` points and paints it, in the theme's
/// text colour, shrunk (typeset smaller, never blurred) to fit the available width down to
/// 9 pt. A bad formula shows its error instead.
pub fn tex_ui(ui: &mut egui::Ui, cache: &mut TexCache, tex: &str, size: f32) -> egui::Response {
    let color = text_color(ui);
    let ppp = ui.pixels_per_point();
    let size = fitted_size(ui, cache, tex, size, color, ppp);
    match cache.get(ui.ctx(), tex, size, color, ppp) {
        Ok(image) => {
            let image = image.clone();
            paint_image(ui, &image, &[])
        }
        Err(e) => error_ui(ui, &e),
    }
}

/// Like [`tex_ui`] for a live formula: `template` has one `\slot{placeholder}` per value;
/// the placeholder's width is the room the value gets without re-typesetting.
pub fn tex_live_ui(
    ui: &mut egui::Ui,
    cache: &mut TexCache,
    template: &str,
    values: &[&str],
    size: f32,
) -> egui::Response {
    let color = text_color(ui);
    let ppp = ui.pixels_per_point();
    let size = fitted_size(ui, cache, template, size, color, ppp);
    match cache.live(ui.ctx(), template, values, size, color, ppp) {
        Ok(live) => paint_image(ui, &live.base, &live.glyphs),
        Err(e) => error_ui(ui, &e),
    }
}

/// The width in points of the formula `tex` at `size` points in `ui`'s text colour (to
/// decide a line break before it); `None` if it does not typeset.
pub fn tex_width(ui: &egui::Ui, cache: &mut TexCache, tex: &str, size: f32) -> Option<f32> {
    let color = text_color(ui);
    cache
        .get(ui.ctx(), tex, size, color, ui.pixels_per_point())
        .ok()
        .map(|image| image.size.x)
}

/// `size`, or a smaller size (in ½-pt steps, so a panel being dragged does not typeset
/// every frame) at which the formula fits the available width.
fn fitted_size(ui: &egui::Ui, cache: &mut TexCache, tex: &str, size: f32, color: Color32, ppp: f32) -> f32 {
    let available = ui.available_width();
    let Ok(image) = cache.get(ui.ctx(), tex, size, color, ppp) else {
        return size;
    };
    if image.size.x <= available || !available.is_finite() || available <= 0.0 {
        return size;
    }
    let fit = (size * available / image.size.x * 2.0).floor() / 2.0;
    fit.clamp(MIN_FIT_SIZE.min(size), size)
}

/// Allocates the picture's rectangle on the pixel grid and paints it and its glyphs.
fn paint_image(ui: &mut egui::Ui, image: &TexImage, glyphs: &[(TextureId, Rect)]) -> egui::Response {
    use egui::emath::GuiRounding as _;
    let (rect, response) = ui.allocate_exact_size(image.size, egui::Sense::hover());
    if ui.is_rect_visible(rect) {
        let ppp = ui.pixels_per_point();
        let min = rect.min.round_to_pixels(ppp);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        let painter = ui.painter();
        painter.image(
            image.id(),
            Rect::from_min_size(min, image.size),
            uv,
            Color32::WHITE,
        );
        for (id, r) in glyphs {
            painter.image(*id, r.translate(min.to_vec2()), uv, Color32::WHITE);
        }
    }
    response
}

/// Shows a formula's error in the error colour, wrapped, so nothing else is lost.
fn error_ui(ui: &mut egui::Ui, error: &TexError) -> egui::Response {
    let color = ui.visuals().error_fg_color;
    ui.add(egui::Label::new(egui::RichText::new(error.to_string()).monospace().color(color)).wrap())
}
