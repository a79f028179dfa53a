//! The cost of typeset formulas (issue 13): a cache hit, one frame of a live formula whose
//! numbers change, and a fresh typeset of the live equation and of the ELBO.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diffscope::ui::tex::{TexCache, rasterize};
use egui::Color32;

const LIVE: &str = r"x_{\slot{0000}} = \slot{0.0000}\,x_0 + \slot{0.0000}\,\epsilon";
const LIVE_FILLED: &str = r"x_{500} = 0.7071\,x_0 + 0.7071\,\epsilon";
const ELBO: &str = r"\underbrace{\mathbb{E}_{q(x_1\mid x_0)}[\log p_\theta(x_0\mid x_1)]}_{\text{reconstruction}} - \underbrace{D_{KL}(q(x_T\mid x_0)\,\|\,p(x_T))}_{\text{prior matching}} - \sum_{t=2}^{T}\underbrace{\mathbb{E}_{q(x_t\mid x_0)}[D_{KL}(q(x_{t-1}\mid x_t,x_0)\,\|\,p_\theta(x_{t-1}\mid x_t))]}_{\text{denoising matching}}";

fn tex(c: &mut Criterion) {
    let ctx = egui::Context::default();
    let mut cache = TexCache::new();
    let white = Color32::WHITE;
    // 1.5 pixels per point and 22 pt: the projector case (1920×1080 at 150 %).
    cache.get(&ctx, LIVE_FILLED, 22.0, white, 1.5).unwrap();
    c.bench_function("tex_cache_hit", |b| {
        b.iter(|| {
            black_box(
                cache
                    .get(&ctx, black_box(LIVE_FILLED), 22.0, white, 1.5)
                    .unwrap()
                    .id(),
            )
        });
    });
    let mut t = 0_u32;
    c.bench_function("tex_live_frame_3_slots", |b| {
        b.iter(|| {
            t = (t + 337) % 1001;
            let ab = 1.0 - f64::from(t) / 1000.0;
            let (ts, sa, sb) = (
                t.to_string(),
                format!("{:.4}", ab.sqrt()),
                format!("{:.4}", (1.0 - ab).sqrt()),
            );
            black_box(
                cache
                    .live(&ctx, LIVE, &[&ts, &sa, &sb], 22.0, white, 1.5)
                    .unwrap()
                    .glyphs
                    .len(),
            )
        });
    });
    c.bench_function("tex_typeset_live_equation", |b| {
        b.iter(|| black_box(rasterize(black_box(LIVE_FILLED), 33.0, white).unwrap().image.size));
    });
    c.bench_function("tex_typeset_elbo", |b| {
        b.iter(|| black_box(rasterize(black_box(ELBO), 33.0, white).unwrap().image.size));
    });
}

criterion_group!(benches, tex);
criterion_main!(benches);
