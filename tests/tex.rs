//! Typeset formulas (issue 13): the lecture's formulas rasterise at plausible sizes, bad TeX
//! is an error, the cache keys on TeX, size, colour and pixel density, and live numbers are
//! laid out from cached glyphs without typesetting the formula again.

use diffscope::ui::tex::{TexCache, TexError, rasterize};
use egui::{Color32, ColorImage};

const CLOSED_FORM: &str = r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon";
const FORWARD_STEP: &str =
    r"q(x_t \mid x_{t-1}) = \mathcal{N}(x_t; \sqrt{\alpha_t}\,x_{t-1}, (1-\alpha_t) I)";
const ELBO: &str = r"\underbrace{\mathbb{E}_{q(x_1\mid x_0)}[\log p_\theta(x_0\mid x_1)]}_{\text{reconstruction}} - \underbrace{D_{KL}(q(x_T\mid x_0)\,\|\,p(x_T))}_{\text{prior matching}} - \sum_{t=2}^{T}\underbrace{\mathbb{E}_{q(x_t\mid x_0)}[D_{KL}(q(x_{t-1}\mid x_t,x_0)\,\|\,p_\theta(x_{t-1}\mid x_t))]}_{\text{denoising matching}}";
const LOG_SNR: &str = r"\log \mathrm{SNR}(t) = \log \frac{\bar\alpha_t}{1-\bar\alpha_t}";
const LIVE: &str = r"x_{\slot{0000}} = \slot{0.0000}\,x_0 + \slot{0.0000}\,\epsilon";

/// Pixels whose alpha is at least half: the ink of the formula.
fn ink(image: &ColorImage) -> usize {
    image.pixels.iter().filter(|p| p.a() >= 128).count()
}

/// Rows (top, bottom) and columns (left, right) that hold any ink.
fn ink_box(image: &ColorImage) -> (usize, usize, usize, usize) {
    let [w, h] = image.size;
    let (mut top, mut bottom, mut left, mut right) = (h, 0, w, 0);
    for y in 0..h {
        for x in 0..w {
            if image.pixels[y * w + x].a() >= 64 {
                top = top.min(y);
                bottom = bottom.max(y);
                left = left.min(x);
                right = right.max(x);
            }
        }
    }
    (top, bottom, left, right)
}

#[test]
fn lecture_formulas_rasterise_at_plausible_sizes() {
    let em = 20.0;
    for tex in [CLOSED_FORM, FORWARD_STEP, ELBO, LOG_SNR] {
        let r = rasterize(tex, em, Color32::WHITE).unwrap();
        let [w, h] = r.image.size;
        // The picture is the formula's advance plus a 2-px margin each side.
        assert_eq!(w, (r.advance_px + 4.0).ceil() as usize, "{tex}");
        // One line of math is taller than an x and at most a few ems with the ELBO's braces.
        assert!(h as f32 > em && (h as f32) < 7.0 * em, "{tex}: height {h}");
        // Tens of glyphs at 20 px: hundreds of inked pixels, but far from a filled box.
        let ink = ink(&r.image);
        assert!(ink > 300 && ink < w * h / 2, "{tex}: {ink} inked of {}", w * h);
        // The ink reaches near every edge: nothing is cropped, nothing is lost in margins.
        let (top, bottom, left, right) = ink_box(&r.image);
        assert!(
            left <= 4 && right + 8 >= w && top <= 6 && bottom + 7 >= h,
            "{tex}: ink box {top} {bottom} {left} {right} in {w}×{h}"
        );
        assert!(r.baseline_px > 0.0 && r.baseline_px < h as f32);
        assert!(r.slots.is_empty());
    }
    let width = |tex| rasterize(tex, em, Color32::WHITE).unwrap().image.size[0];
    let height = |tex| rasterize(tex, em, Color32::WHITE).unwrap().image.size[1];
    // The fraction stands taller than the one-line closed form; the ELBO's braces and
    // their labels taller still, and the ELBO is the widest by far.
    assert!(height(LOG_SNR) as f32 > 1.4 * height(CLOSED_FORM) as f32);
    assert!(height(ELBO) > height(LOG_SNR));
    assert!(width(ELBO) > 3 * width(CLOSED_FORM));
}

#[test]
fn twice_the_em_is_twice_the_picture() {
    for tex in [CLOSED_FORM, LOG_SNR] {
        let a = rasterize(tex, 20.0, Color32::WHITE).unwrap();
        let b = rasterize(tex, 40.0, Color32::WHITE).unwrap();
        // Advance and baseline scale exactly with the em; the margin stays 2 px.
        assert!((b.advance_px - 2.0 * a.advance_px).abs() < 1e-3);
        assert!(((b.baseline_px - 2.0) - 2.0 * (a.baseline_px - 2.0)).abs() < 1e-3);
        // Ink grows with the area: 4× within antialiasing at the glyphs' edges.
        let ratio = ink(&b.image) as f64 / ink(&a.image) as f64;
        assert!((3.4..4.6).contains(&ratio), "{tex}: ink ratio {ratio}");
    }
}

#[test]
fn formulas_take_the_colour_they_are_given() {
    let light = rasterize(CLOSED_FORM, 20.0, Color32::from_rgb(20, 20, 20)).unwrap();
    let dark = rasterize(CLOSED_FORM, 20.0, Color32::from_rgb(230, 230, 230)).unwrap();
    assert_eq!(light.image.size, dark.image.size);
    let solid = |img: &ColorImage| *img.pixels.iter().find(|p| p.a() == 255).unwrap();
    let (l, d) = (solid(&light.image), solid(&dark.image));
    assert_eq!([l.r(), l.g(), l.b()], [20, 20, 20]);
    assert_eq!([d.r(), d.g(), d.b()], [230, 230, 230]);
    // The background stays transparent: a panel's own colour shows through.
    assert_eq!(light.image.pixels[0].a(), 0);
}

#[test]
fn malformed_tex_is_a_clear_error() {
    for (tex, needle) in [
        (r"\frac{1}{", "end of input"),
        (r"\notacommand x", "notacommand"),
        (r"x^{2", "'}'"),
        (r"}", "'}'"),
        (r"\sqrt", ""),
    ] {
        match rasterize(tex, 20.0, Color32::WHITE) {
            Err(TexError::Parse { tex: t, message }) => {
                assert_eq!(t, tex);
                assert!(message.contains(needle), "{tex}: {message}");
            }
            other => panic!("{tex}: expected a parse error, got {other:?}"),
        }
    }
    // The slot closes, the subscript does not: the parser says so.
    assert!(matches!(
        rasterize(r"x_{\slot{0.5}", 20.0, Color32::WHITE),
        Err(TexError::Parse { .. })
    ));
    assert!(matches!(
        rasterize(r"x = \slot{0.5", 20.0, Color32::WHITE),
        Err(TexError::Slot { .. })
    ));
    assert!(matches!(
        rasterize(r"x = \slot{}", 20.0, Color32::WHITE),
        Err(TexError::Slot { .. })
    ));
    for em in [0.0, -3.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            rasterize("x", em, Color32::WHITE),
            Err(TexError::Size { .. })
        ));
    }
    // The message names the formula, so the lecturer sees which one is wrong.
    let message = rasterize(r"\frac{1}{", 20.0, Color32::WHITE)
        .unwrap_err()
        .to_string();
    assert!(message.starts_with(r"TeX error in `\frac{1}{`"), "{message}");
}

#[test]
fn cache_keys_on_tex_size_colour_and_pixel_density() {
    let ctx = egui::Context::default();
    let mut cache = TexCache::new();
    let white = Color32::WHITE;
    let first = cache.get(&ctx, CLOSED_FORM, 18.0, white, 1.0).unwrap().clone();
    assert_eq!(cache.typesets(), 1);
    // Same key: the same texture, no typesetting.
    for _ in 0..3 {
        assert_eq!(
            cache.get(&ctx, CLOSED_FORM, 18.0, white, 1.0).unwrap().id(),
            first.id()
        );
    }
    assert_eq!(cache.typesets(), 1);
    // The other theme's text colour: drawn afresh.
    let dark = cache
        .get(&ctx, CLOSED_FORM, 18.0, Color32::from_gray(20), 1.0)
        .unwrap()
        .clone();
    assert_ne!(dark.id(), first.id());
    assert_eq!(cache.typesets(), 2);
    // 150 % UI scale: drawn afresh at 1.5× the pixels, the same size in points.
    let scaled = cache.get(&ctx, CLOSED_FORM, 18.0, white, 1.5).unwrap().clone();
    assert_ne!(scaled.id(), first.id());
    assert_eq!(cache.typesets(), 3);
    let [w1, _] = first.texture.size();
    let [w15, _] = scaled.texture.size();
    assert!(
        ((w15 - 4) as f32 / (w1 - 4) as f32 - 1.5).abs() < 0.02,
        "{w1} → {w15} px"
    );
    assert!(
        (scaled.size.x - first.size.x).abs() < 2.0,
        "{:?} vs {:?}",
        scaled.size,
        first.size
    );
    // A bad formula's error is cached too: asked every frame, parsed once.
    for _ in 0..3 {
        assert!(cache.get(&ctx, r"\frac{", 18.0, white, 1.0).is_err());
    }
    assert_eq!(cache.typesets(), 4);
}

#[test]
fn live_numbers_change_without_typesetting_the_formula() {
    let ctx = egui::Context::default();
    let mut cache = TexCache::new();
    let white = Color32::WHITE;
    let base = cache
        .live(&ctx, LIVE, &["500", "0.7071", "0.7071"], 20.0, white, 1.0)
        .unwrap();
    assert_eq!(base.base.slots.len(), 3);
    // The subscript's slot is in script size: KaTeX's scriptstyle is 0.7 of the em.
    assert!(
        (base.base.slots[0].em - 14.0).abs() < 1e-3,
        "{:?}",
        base.base.slots[0]
    );
    assert!((base.base.slots[1].em - 20.0).abs() < 1e-3);
    // The placeholder 0.0000 is five digits of 0.5 em and a period of 0.27778 em (KaTeX_Main).
    assert!(
        (base.base.slots[1].width - 20.0 * (5.0 * 0.5 + 0.277_78)).abs() < 0.01,
        "{:?}",
        base.base.slots[1]
    );
    // Every digit and the period, in both sizes, typeset once while scrubbing t.
    for t in 0..=1000_u32 {
        let ab = 1.0 - f64::from(t) / 1000.0;
        let (sa, sb) = (format!("{:.4}", ab.sqrt()), format!("{:.4}", (1.0 - ab).sqrt()));
        let live = cache
            .live(&ctx, LIVE, &[&t.to_string(), &sa, &sb], 20.0, white, 1.0)
            .unwrap();
        assert_eq!(live.base.id(), base.base.id(), "t = {t}");
        assert_eq!(live.glyphs.len(), t.to_string().len() + 12);
        // Each glyph lies inside the picture (its texture's 2-px transparent margin may not).
        let frame = egui::Rect::from_min_size(egui::Pos2::ZERO, live.base.size).expand(2.5);
        assert!(
            live.glyphs.iter().all(|(_, r)| frame.contains_rect(*r)),
            "t = {t}"
        );
    }
    // One template, 10 digits in two sizes and the period in one: 1 + 10 + 10 + 1.
    assert_eq!(cache.typesets(), 22);
    // A value wider than its placeholder: the whole formula is typeset with it (once).
    let wide = cache
        .live(&ctx, LIVE, &["500", "12345.6789", "0.5"], 20.0, white, 1.0)
        .unwrap();
    assert!(wide.glyphs.is_empty());
    assert!(wide.base.size.x > base.base.size.x);
    let before = cache.typesets();
    cache
        .live(&ctx, LIVE, &["500", "12345.6789", "0.5"], 20.0, white, 1.0)
        .unwrap();
    assert_eq!(cache.typesets(), before);
    // The wrong number of values, or a character no formula shows, is an error.
    assert!(matches!(
        cache.live(&ctx, LIVE, &["1"], 20.0, white, 1.0),
        Err(TexError::SlotCount {
            slots: 3,
            values: 1,
            ..
        })
    ));
    assert!(
        cache
            .live(&ctx, LIVE, &["1", "0.5", "@@@@@@@@@@"], 20.0, white, 1.0)
            .is_err()
    );
}

#[test]
fn live_glyphs_sit_where_the_typeset_number_would() {
    // The slot's glyphs from the cache and the same number typeset in the formula agree:
    // the picture of the template plus the glyphs has its ink where the whole formula does.
    let em = 24.0;
    let whole = rasterize(r"x_t = 0.7071\,x_0", em, Color32::WHITE).unwrap();
    let template = rasterize(r"x_t = \slot{0.7071}\,x_0", em, Color32::WHITE).unwrap();
    assert_eq!(whole.image.size, template.image.size);
    let slot = template.slots[0];
    // The hole: ink is missing exactly in the slot's columns (digits sit on the baseline).
    let [w, h] = whole.image.size;
    let column_ink =
        |img: &ColorImage, x: usize| (0..h).filter(|&y| img.pixels[y * w + x].a() >= 128).count();
    let (l, r) = (
        slot.left.ceil() as usize + 1,
        (slot.left + slot.width).floor() as usize - 1,
    );
    let missing: usize = (l..r)
        .map(|x| column_ink(&whole.image, x) - column_ink(&template.image, x))
        .sum();
    let in_slot: usize = (l..r).map(|x| column_ink(&whole.image, x)).sum();
    assert!(in_slot > 100 && missing == in_slot, "{missing} of {in_slot}");
    // Outside the slot the two pictures are the same.
    for x in (0..l - 2).chain(r + 2..w) {
        assert_eq!(
            column_ink(&whole.image, x),
            column_ink(&template.image, x),
            "column {x}"
        );
    }
}

#[test]
fn every_formula_of_the_math_panel_typesets() {
    use diffscope::app::settings::Tab;
    use diffscope::ui::math_panel::{live_lines, sections};
    for tab in Tab::ALL {
        for section in sections(tab) {
            for tex in section.formulas {
                let r = rasterize(tex, 17.0, Color32::WHITE).unwrap_or_else(|e| panic!("{e}"));
                assert!(ink(&r.image) > 50, "{tex}");
            }
        }
    }
    let ctx = egui::Context::default();
    let mut cache = TexCache::new();
    for (template, values) in live_lines(500, 0.493_84, 0.975_92, -0.024_38, Some(1.2e-5)) {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let live = cache
            .live(&ctx, &template, &values, 17.0, Color32::WHITE, 1.0)
            .unwrap();
        // Typical values fit their slots: drawn from glyphs, not typeset whole.
        assert!(!live.glyphs.is_empty(), "{template} {values:?}");
    }
}
