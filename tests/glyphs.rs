//! The 28×28 glyph digits (`data::glyphs`): deterministic per seed, values in range, and
//! labelled right — each jittered glyph is closer to its own digit's plain template than
//! to any other digit's.

use diffscope::data::glyphs::{GLYPH_PIXELS, GLYPH_SIDE, GlyphStyle, glyph, glyphs, render};
use diffscope::export;
use image::imageops::FilterType;

/// Pearson correlation of two images.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
        b.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

#[test]
fn glyphs_are_deterministic_per_seed_and_in_range() {
    let (a, la) = glyphs(30, 7);
    let (b, lb) = glyphs(30, 7);
    assert_eq!((&a, &la), (&b, &lb));
    let (c, lc) = glyphs(30, 8);
    assert_eq!(la, lc, "labels are i mod 10 for every seed");
    assert_ne!(a, c);
    assert_eq!(la, (0..30).map(|i| i % 10).collect::<Vec<_>>());
    // Glyph i does not depend on how many are drawn.
    assert_eq!(glyph(7, 17).0, a[17]);
    for im in &a {
        assert_eq!(im.len(), GLYPH_PIXELS);
        assert!(im.iter().all(|v| (-1.0..=1.0).contains(v)));
        // Ink, and a background: the corners are empty.
        let ink = im.iter().filter(|&&v| v > 0.0).count();
        assert!((40..500).contains(&ink), "{ink} inked pixels");
        for corner in [0, GLYPH_SIDE - 1, GLYPH_PIXELS - GLYPH_SIDE, GLYPH_PIXELS - 1] {
            assert_eq!(im[corner], -1.0);
        }
    }
}

/// A digit at scale 1 is GLYPH_HEIGHT = 20 px tall and centred.
#[test]
fn a_plain_glyph_is_twenty_pixels_tall_and_centred() {
    for digit in [0, 4, 8] {
        let im = render(digit, &GlyphStyle::plain());
        let rows: Vec<usize> = (0..GLYPH_SIDE)
            .filter(|&y| (0..GLYPH_SIDE).any(|x| im[y * GLYPH_SIDE + x] > -0.5))
            .collect();
        let (top, bottom) = (rows[0], *rows.last().unwrap());
        assert!(
            (19..=21).contains(&(bottom - top + 1)),
            "digit {digit}: rows {top}..={bottom}"
        );
        assert!((3..=5).contains(&top), "digit {digit}: top {top}");
    }
}

/// `image` shifted by `(dx, dy)` pixels, background −1 coming in.
fn shifted(image: &[f32], dx: isize, dy: isize) -> Vec<f32> {
    let n = GLYPH_SIDE as isize;
    (0..n * n)
        .map(|p| {
            let (x, y) = (p % n - dx, p / n - dy);
            if (0..n).contains(&x) && (0..n).contains(&y) {
                image[(y * n + x) as usize]
            } else {
                -1.0
            }
        })
        .collect()
}

/// Labels are right: of 300 jittered glyphs (two seeds), at least 95 % correlate best with
/// a template of their own digit — plain glyphs of either face, at two sizes and two
/// stroke weights, each shifted by up to ±3 pixels (the jitter shifts by up to ±2, and
/// rotation and shear move the ink further). The sheet of the first 100 is written for a
/// look (target/tmp/glyphs/sheet.png).
#[test]
fn jittered_glyphs_match_their_own_digits_template() {
    let mut templates: Vec<(usize, Vec<f32>)> = Vec::new();
    for d in 0..10 {
        for mono in [false, true] {
            for scale in [0.85, 1.0] {
                for stroke in [0.0, 1.5] {
                    let plain = render(
                        d,
                        &GlyphStyle {
                            mono,
                            scale,
                            stroke,
                            ..GlyphStyle::plain()
                        },
                    );
                    for dy in -3..=3 {
                        for dx in -3..=3 {
                            templates.push((d, shifted(&plain, dx, dy)));
                        }
                    }
                }
            }
        }
    }
    let mut right = 0;
    let mut total = 0;
    for seed in [1, 2] {
        let (images, labels) = glyphs(150, seed);
        for (im, &label) in images.iter().zip(&labels) {
            let best = templates
                .iter()
                .max_by(|a, b| correlation(im, &a.1).total_cmp(&correlation(im, &b.1)))
                .unwrap();
            right += usize::from(best.0 == label);
            total += 1;
        }
        if seed == 1 {
            let cells: Vec<Vec<image::RgbImage>> = images[..100]
                .chunks(10)
                .map(|row| {
                    row.iter()
                        .map(|im| {
                            let rgb = export::image_to_rgb(im, 28, 28, 1);
                            image::imageops::resize(&rgb, 56, 56, FilterType::Nearest)
                        })
                        .collect()
                })
                .collect();
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/glyphs");
            std::fs::create_dir_all(&dir).unwrap();
            export::save_png(&export::grid(&cells, &[], &[]), &dir.join("sheet.png")).unwrap();
        }
    }
    assert!(
        right * 100 >= 95 * total,
        "{right} of {total} glyphs closest to their template"
    );
}

/// The window's glyph source: a 4×4 grid of the first glyphs on screen, all 2000 for the
/// ideal denoiser, a labelled training set for a conditional conv net of 28×28.
#[test]
fn the_glyph_source_shows_a_grid_and_trains_a_conditional_model() {
    use diffscope::model::{Architecture, DataShape};
    use diffscope::scene::prepare::{ideal_data, train_set};
    use diffscope::scene::{GLYPH_COUNT, SceneData, SceneOptions, SourceChoice, load};
    let options = SceneOptions {
        max_side: 512,
        n_points: 1000,
        data_seed: 0,
        drawing: diffscope::data::drawing::DrawnPoints::default(),
        points_shown: diffscope::scene::DEFAULT_POINTS_SHOWN,
    };
    let scene = load(&SourceChoice::from_name("glyphs").unwrap(), &options).unwrap();
    let SceneData::Image(img) = &scene.data else {
        panic!("an image")
    };
    // 4 glyphs of 28 and 3 one-pixel gaps per side.
    assert_eq!((img.width, img.height, img.channels), (115, 115, 1));
    let (data, shape) = ideal_data(&scene).unwrap();
    let glyph = DataShape::Image {
        channels: 1,
        height: GLYPH_SIDE,
        width: GLYPH_SIDE,
    };
    assert_eq!((data.len(), shape), (GLYPH_COUNT * GLYPH_PIXELS, glyph));
    // The second glyph of the data is the one drawn at seed 1, index 1.
    let second: Vec<f32> = data[GLYPH_PIXELS..2 * GLYPH_PIXELS]
        .iter()
        .map(|&v| v as f32)
        .collect();
    assert_eq!(second, glyph_at(1));
    let (set, arch) = train_set(&scene, 3).unwrap();
    assert_eq!(
        (set.classes, set.len() + set.held_out.len() / GLYPH_PIXELS),
        (10, GLYPH_COUNT)
    );
    assert!(matches!(arch, Architecture::UNet(c) if c.classes == 10 && c.height == 28 && c.features == 24));
}

fn glyph_at(i: usize) -> Vec<f32> {
    glyph(1, i).0
}
