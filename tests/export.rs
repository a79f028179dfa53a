//! PNG strips and grids, scatter plots, the bitmap font and animated GIFs.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Duration;

use diffscope::export::{
    ExportError, ScatterStyle, draw_text, grid, image_to_rgb, render_scatter, save_png, strip, text_size,
    write_gif,
};
use image::codecs::gif::GifDecoder;
use image::{AnimationDecoder, Rgb, RgbImage};

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// A fresh path in the temporary directory, unique to this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("diffscope-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A `width`×`height` image of one colour.
fn solid(width: u32, height: u32, rgb: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb(rgb))
}

/// Pixels of `img` in the rectangle `[x0, x1) × [y0, y1)` that are not white.
fn ink_in(img: &RgbImage, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> Vec<(u32, u32)> {
    let mut ink = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            if *img.get_pixel(x, y) != WHITE {
                ink.push((x, y));
            }
        }
    }
    ink
}

/// Centroid of darkness (255 − mean channel) of `img`, in pixel coordinates where pixel
/// (i, j) covers `[i, i+1) × [j, j+1)`.
fn dark_centroid(img: &RgbImage) -> (f64, f64) {
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y, p) in img.enumerate_pixels() {
        let dark = 255.0 - p.0.iter().map(|&c| f64::from(c)).sum::<f64>() / 3.0;
        sum += dark;
        sx += dark * (f64::from(x) + 0.5);
        sy += dark * (f64::from(y) + 0.5);
    }
    assert!(sum > 0.0, "nothing drawn");
    (sx / sum, sy / sum)
}

// ---------------------------------------------------------------- image_to_rgb

#[test]
fn image_to_rgb_maps_minus_one_to_0_zero_to_128_one_to_255_and_clips() {
    // 255·(x+1)/2 = 0, 127.5, 255, -127.5, 510, 191.25 → 0, 128, 255, 0 (clip), 255 (clip), 191.
    let img = image_to_rgb(&[-1.0, 0.0, 1.0, -2.0, 3.0, 0.5], 3, 2, 1);
    assert_eq!(img.dimensions(), (3, 2));
    let expected = [0u8, 128, 255, 0, 255, 191];
    for (i, &v) in expected.iter().enumerate() {
        let (x, y) = (i as u32 % 3, i as u32 / 3);
        assert_eq!(img.get_pixel(x, y).0, [v, v, v], "pixel {i}");
    }
}

#[test]
fn image_to_rgb_keeps_colour_channels_in_order() {
    let img = image_to_rgb(&[-1.0, 0.0, 1.0, 1.0, -1.0, -0.5], 2, 1, 3);
    // -0.5 → 255·0.25 = 63.75 → 64.
    assert_eq!(img.get_pixel(0, 0).0, [0, 128, 255]);
    assert_eq!(img.get_pixel(1, 0).0, [255, 0, 64]);
}

// ---------------------------------------------------------------- render_scatter

/// The default style with axes off and black points, so darkness is the points alone.
fn plain_style() -> ScatterStyle {
    ScatterStyle {
        axes: false,
        point_rgb: [0, 0, 0],
        ..ScatterStyle::default()
    }
}

#[test]
fn default_scatter_style_is_320_px_on_plus_minus_3_5() {
    let style = ScatterStyle::default();
    assert_eq!(style.size_px, 320);
    assert!((style.extent - 3.5).abs() < 1e-12);
    assert_eq!(style.canvas_rgb, [255, 255, 255]);
    assert!(style.axes);
    let img = render_scatter(&[], None, &style);
    assert_eq!(img.dimensions(), (320, 320));
}

#[test]
fn scatter_point_at_origin_fills_the_centre_and_leaves_corners_white() {
    let style = plain_style();
    let img = render_scatter(&[[0.0, 0.0]], None, &style);
    // (0, 0) is the pixel corner (160, 160); the four pixels around it have centres
    // 0.71 px away, inside the fully covered radius r − ½ = 1.1.
    for (x, y) in [(159, 159), (160, 159), (159, 160), (160, 160)] {
        assert_eq!(img.get_pixel(x, y).0, [0, 0, 0], "pixel ({x}, {y})");
    }
    for (x, y) in [(0, 0), (319, 0), (0, 319), (319, 319)] {
        assert_eq!(*img.get_pixel(x, y), WHITE, "corner ({x}, {y})");
    }
    // Anti-aliased edge: pixel (161, 160) has its centre √2.5 = 1.5811 px away, so
    // alpha = 1.6 + 0.5 − 1.5811 = 0.5189 and the grey is 255·(1 − 0.5189) = 122.7 → 123.
    assert_eq!(img.get_pixel(161, 160).0, [123, 123, 123]);
    // Beyond r + ½ = 2.1 px nothing is drawn: pixel (162, 160) is 2.55 px away.
    assert_eq!(*img.get_pixel(162, 160), WHITE);
    let (cx, cy) = dark_centroid(&img);
    assert!(
        (cx - 160.0).abs() < 1e-3 && (cy - 160.0).abs() < 1e-3,
        "({cx}, {cy})"
    );
}

#[test]
fn scatter_point_at_half_extent_lands_at_three_quarters_of_the_width() {
    let style = plain_style();
    let img = render_scatter(&[[style.extent * 0.5, 0.0]], None, &style);
    let (cx, cy) = dark_centroid(&img);
    assert!((cx - 0.75 * 320.0).abs() < 1e-3, "x = {cx}");
    assert!((cy - 160.0).abs() < 1e-3, "y = {cy}");
}

#[test]
fn scatter_y_points_up() {
    let style = plain_style();
    let img = render_scatter(&[[0.0, 1.75]], None, &style);
    let (cx, cy) = dark_centroid(&img);
    // y = e/2 is a quarter of the way down: (3.5 − 1.75) / 7 · 320 = 80.
    assert!((cx - 160.0).abs() < 1e-3, "x = {cx}");
    assert!((cy - 80.0).abs() < 1e-3, "y = {cy}");
}

#[test]
fn scatter_skips_points_outside_the_view() {
    let style = ScatterStyle::default();
    let empty = render_scatter(&[], None, &style);
    let outside = [
        [100.0, 0.0],
        [0.0, -100.0],
        [3.51, 0.0],
        [f64::NAN, 0.0],
        [f64::INFINITY, f64::INFINITY],
    ];
    let img = render_scatter(&outside, Some(&outside), &style);
    assert!(img == empty, "points outside the view changed the image");
    // The empty default canvas does have its axes and frame.
    assert_ne!(*empty.get_pixel(160, 40), WHITE, "vertical axis through x = 0");
    assert_ne!(*empty.get_pixel(40, 160), WHITE, "horizontal axis through y = 0");
    assert_ne!(*empty.get_pixel(0, 40), WHITE, "frame");
    assert_eq!(*empty.get_pixel(40, 40), WHITE);
}

#[test]
fn scatter_background_points_use_their_colour_and_lie_under_the_points() {
    let style = ScatterStyle {
        background_point_rgb: [200, 10, 10],
        ..plain_style()
    };
    // (1.75, 1.75) is the pixel corner (240, 80).
    let p = [1.75, 1.75];
    let behind = render_scatter(&[], Some(&[p]), &style);
    assert_eq!(behind.get_pixel(240, 80).0, [200, 10, 10]);
    assert_eq!(behind.get_pixel(239, 79).0, [200, 10, 10]);
    let both = render_scatter(&[p], Some(&[p]), &style);
    assert_eq!(both.get_pixel(240, 80).0, [0, 0, 0]);
}

// ---------------------------------------------------------------- font

#[test]
fn text_size_is_six_pixels_per_character_less_one_by_nine_rows() {
    // 7 characters · 6 − 1 = 41 font pixels wide, 9 tall, at scale 2.
    assert_eq!(text_size("t = 250", 2), (82, 18));
    assert_eq!(text_size("t = 250", 1), (41, 9));
    assert_eq!(text_size("", 2), (0, 0));
    // Two lines: 9 + 2 + 9 rows; the widest line sets the width.
    assert_eq!(text_size("ab\nc", 1), (11, 20));
    // ᾱ is one glyph, and so is α followed by a combining macron.
    assert_eq!(text_size("\u{1FB1}", 2), (10, 18));
    assert_eq!(text_size("\u{3B1}\u{304}", 2), (10, 18));
}

#[test]
fn draw_text_draws_known_glyphs_and_a_box_for_unknown_ones() {
    let mut img = solid(20, 12, [255, 255, 255]);
    draw_text(&mut img, 1, 1, "\u{20AC}", 1, [0, 0, 0]); // €, not in the font
    // The box is the 5×7 outline from (1, 1) to (5, 7).
    let ink = ink_in(&img, (0, 20), (0, 12));
    assert_eq!(ink.len(), 2 * 5 + 2 * 5, "outline of a 5×7 box");
    assert!(ink.contains(&(1, 1)) && ink.contains(&(5, 7)));
    assert_eq!(*img.get_pixel(3, 4), WHITE);

    let mut img = solid(20, 12, [255, 255, 255]);
    draw_text(&mut img, 0, 0, "-", 2, [0, 0, 0]);
    // The hyphen is row 3, columns 1..=3 of the glyph: at scale 2, x 2..8, y 6..8.
    assert_eq!(ink_in(&img, (0, 20), (0, 12)).len(), 6 * 2);
    assert_eq!(ink_in(&img, (2, 8), (6, 8)).len(), 12);
}

#[test]
fn every_required_character_has_a_glyph() {
    let required = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\
                    .,:=+\u{2212}-()/_'\u{3B1}\u{3B2}\u{3B5}\u{3C3}\u{1FB1}";
    let mut boxed = solid(12, 12, [255, 255, 255]);
    draw_text(&mut boxed, 0, 0, "\u{20AC}", 1, [0, 0, 0]);
    for c in required.chars() {
        let mut img = solid(12, 12, [255, 255, 255]);
        draw_text(&mut img, 0, 0, &c.to_string(), 1, [0, 0, 0]);
        assert!(img != boxed, "{c:?} draws as the unknown box");
        assert!(!ink_in(&img, (0, 12), (0, 12)).is_empty(), "{c:?} draws nothing");
    }
}

#[test]
fn draw_text_clips_at_the_edges() {
    let mut img = solid(10, 10, [255, 255, 255]);
    draw_text(&mut img, -7, -7, "Hello", 2, [0, 0, 0]);
    draw_text(&mut img, 8, 8, "Hello", 2, [0, 0, 0]);
    draw_text(&mut img, 1000, -1000, "Hello", 2, [0, 0, 0]);
    // 'H' at scale 2 from (-7, -7): its right column (glyph column 4) covers x 1..3.
    assert_ne!(*img.get_pixel(1, 0), WHITE);
}

// ---------------------------------------------------------------- strip

#[test]
fn strip_places_tiles_with_margins_gaps_and_labels_under_each() {
    let red = [220, 0, 0];
    let blue = [0, 0, 220];
    let tiles = vec![
        (
            solid(120, 60, red),
            vec!["t = 250".to_owned(), "\u{1FB1} = 0.4938".to_owned()],
        ),
        (solid(130, 40, blue), vec!["t = 0".to_owned()]),
    ];
    let img = strip(&tiles);
    // Width: margin 8 + 120 + gap 8 + 130 + margin 8. Height: margin 8 + tallest tile 60
    // + pad 6 + two label lines 18 + 4 + 18 + margin 8.
    assert_eq!(img.dimensions(), (274, 122));
    // Tiles top-aligned at y = 8, at x = 8 and 8 + 120 + 8 = 136.
    assert_eq!(*img.get_pixel(8, 8), Rgb(red));
    assert_eq!(*img.get_pixel(127, 67), Rgb(red));
    assert_eq!(*img.get_pixel(128, 8), WHITE);
    assert_eq!(*img.get_pixel(136, 8), Rgb(blue));
    assert_eq!(*img.get_pixel(265, 47), Rgb(blue));
    assert_eq!(*img.get_pixel(136, 48), WHITE, "the short tile is top-aligned");
    // Labels: first line at y 74..92, second at 96..114.
    assert!(!ink_in(&img, (8, 128), (74, 92)).is_empty(), "tile 0, line 1");
    assert!(!ink_in(&img, (8, 128), (96, 114)).is_empty(), "tile 0, line 2");
    let label_1 = ink_in(&img, (136, 266), (74, 92));
    assert!(
        ink_in(&img, (136, 266), (96, 114)).is_empty(),
        "tile 1 has one line"
    );
    // "t = 0" is 58 px wide, centred in 130: from 136 + 36 = 172 to 229.
    let min_x = label_1.iter().map(|p| p.0).min().unwrap();
    let max_x = label_1.iter().map(|p| p.0).max().unwrap();
    assert_eq!((min_x, max_x), (172, 229));
    // Nothing in the margins.
    assert!(ink_in(&img, (0, 274), (0, 8)).is_empty());
    assert!(ink_in(&img, (0, 274), (114, 122)).is_empty());
}

#[test]
fn strip_widens_a_tile_column_to_fit_its_label() {
    let tiles = vec![(solid(20, 20, [0, 0, 0]), vec!["t = 250".to_owned()])];
    // The column is as wide as the label, 82 px; the tile is centred in it at 8 + 31.
    let img = strip(&tiles);
    assert_eq!(img.dimensions(), (8 + 82 + 8, 8 + 20 + 6 + 18 + 8));
    assert_eq!(*img.get_pixel(39, 8), Rgb([0, 0, 0]));
    assert_eq!(*img.get_pixel(38, 8), WHITE);
}

#[test]
fn strip_without_labels_or_tiles() {
    let tiles = vec![
        (solid(10, 10, [0, 0, 0]), vec![]),
        (solid(10, 12, [0, 0, 0]), vec![]),
    ];
    assert_eq!(strip(&tiles).dimensions(), (8 + 10 + 8 + 10 + 8, 8 + 12 + 8));
    assert_eq!(strip(&[]).dimensions(), (16, 16));
}

// ---------------------------------------------------------------- grid

#[test]
fn grid_dimensions_with_labels() {
    let cell = |rgb| solid(100, 50, rgb);
    let cells = vec![
        vec![cell([1, 0, 0]), cell([2, 0, 0]), cell([3, 0, 0])],
        vec![cell([4, 0, 0]), cell([5, 0, 0]), cell([6, 0, 0])],
    ];
    let rows = ["linear".to_owned(), "cosine".to_owned()];
    let cols = ["t = 1".to_owned(), "t = 500".to_owned(), "t = 1000".to_owned()];
    let img = grid(&cells, &rows, &cols);
    // Width: margin 8 + row labels 6·12 − 2 = 70 + gap 8 + 3·100 + 2 gaps 16 + margin 8.
    // Height: margin 8 + column labels 18 + pad 6 + 2·50 + gap 8 + margin 8.
    assert_eq!(img.dimensions(), (410, 148));
    // Cell (0, 0) starts at (86, 32); cell (1, 2) at (86 + 2·108, 32 + 58).
    assert_eq!(img.get_pixel(86, 32).0, [1, 0, 0]);
    assert_eq!(img.get_pixel(85, 32).0, [255, 255, 255]);
    assert_eq!(img.get_pixel(302, 90).0, [6, 0, 0]);
    assert_eq!(img.get_pixel(401, 139).0, [6, 0, 0]);
    assert!(!ink_in(&img, (8, 78), (32, 82)).is_empty(), "row label 0");
    assert!(!ink_in(&img, (8, 78), (90, 140)).is_empty(), "row label 1");
    assert!(!ink_in(&img, (302, 402), (8, 26)).is_empty(), "column label 2");
}

#[test]
fn grid_columns_widen_to_their_labels() {
    let cells = vec![vec![solid(20, 10, [0, 0, 0]); 3]; 2];
    let rows = ["linear".to_owned(), "cosine".to_owned()];
    let cols = ["t = 1".to_owned(), "t = 500".to_owned(), "t = 1000".to_owned()];
    // Columns 58, 82 and 94 wide (the labels); rows 18 tall (the row labels).
    assert_eq!(
        grid(&cells, &rows, &cols).dimensions(),
        (8 + 70 + 8 + 58 + 82 + 94 + 16 + 8, 8 + 18 + 6 + 18 + 8 + 18 + 8)
    );
}

#[test]
fn grid_without_labels() {
    let cells = vec![vec![solid(10, 10, [0, 0, 0]); 2]; 2];
    assert_eq!(grid(&cells, &[], &[]).dimensions(), (44, 44));
}

// ---------------------------------------------------------------- PNG

#[test]
fn save_png_round_trips() {
    let img = RgbImage::from_fn(37, 23, |x, y| Rgb([(x * 7) as u8, (y * 11) as u8, (x ^ y) as u8]));
    let path = temp_path("round-trip.png");
    save_png(&img, &path).unwrap();
    let back = image::open(&path).unwrap().to_rgb8();
    std::fs::remove_file(&path).unwrap();
    assert!(back == img, "decoded PNG differs");
}

#[test]
fn save_png_into_a_missing_directory_is_an_error_naming_the_path() {
    let path = PathBuf::from("/nonexistent/dir/x.png");
    let err = save_png(&solid(4, 4, [0, 0, 0]), &path).unwrap_err();
    assert!(matches!(err, ExportError::Io { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("cannot write '/nonexistent/dir/x.png': "),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

// ---------------------------------------------------------------- GIF

/// Decodes the GIF at `path` into its frames.
fn decode_gif(path: &std::path::Path) -> Vec<image::Frame> {
    let decoder = GifDecoder::new(BufReader::new(File::open(path).unwrap())).unwrap();
    decoder.into_frames().collect_frames().unwrap()
}

#[test]
fn write_gif_writes_every_frame_with_its_delay_looping_forever() {
    let quadrants = RgbImage::from_fn(16, 16, |x, y| match (x < 8, y < 8) {
        (true, true) => Rgb([255, 0, 0]),
        (false, true) => Rgb([0, 255, 0]),
        (true, false) => Rgb([0, 0, 255]),
        (false, false) => Rgb([255, 255, 255]),
    });
    let frames = vec![quadrants, solid(16, 16, [10, 20, 30]), solid(16, 16, [0, 0, 0])];
    let path = temp_path("three.gif");
    let mut calls = Vec::new();
    let written = write_gif(frames.clone(), 80, &path, &mut |n| {
        calls.push(n);
        true
    })
    .unwrap();
    assert_eq!(written, 3);
    assert_eq!(calls, [1, 2, 3]);

    let bytes = std::fs::read(&path).unwrap();
    // NETSCAPE2.0 application block, sub-block of 3 bytes: 1, loop count 0 (forever) LE.
    let netscape = b"NETSCAPE2.0\x03\x01\x00\x00";
    assert!(
        bytes.windows(netscape.len()).any(|w| w == netscape),
        "no infinite loop block"
    );

    let decoded = decode_gif(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(decoded.len(), 3);
    for (frame, original) in decoded.iter().zip(&frames) {
        assert_eq!(Duration::from(frame.delay()), Duration::from_millis(80));
        let buffer = frame.buffer();
        assert_eq!(buffer.dimensions(), (16, 16));
        // Few colours: the palette holds them exactly.
        for (x, y, p) in original.enumerate_pixels() {
            let [r, g, b] = p.0;
            assert_eq!(buffer.get_pixel(x, y).0, [r, g, b, 255], "({x}, {y})");
        }
    }
}

#[test]
fn write_gif_keeps_the_order_of_many_frames() {
    // More frames than one parallel batch (two per rayon thread) on any likely machine.
    let n = 150;
    let colour = |i: u32| [(i % 256) as u8, (i * 7 % 256) as u8, 255 - (i % 256) as u8];
    let frames = (0..n).map(|i| solid(6, 4, colour(i)));
    let path = temp_path("many-frames.gif");
    let mut last = 0;
    let written = write_gif(frames, 20, &path, &mut |k| {
        assert_eq!(k, last + 1);
        last = k;
        true
    })
    .unwrap();
    assert_eq!((written, last), (150, 150));
    let decoded = decode_gif(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(decoded.len(), 150);
    for (i, frame) in (0..n).zip(&decoded) {
        let [r, g, b] = colour(i);
        assert_eq!(frame.buffer().get_pixel(5, 3).0, [r, g, b, 255], "frame {i}");
    }
}

#[test]
fn write_gif_quantises_many_colours_closely_and_rounds_the_delay() {
    // 64×64 = 4096 distinct colours: more than a palette holds.
    let frame = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    let path = temp_path("many-colours.gif");
    write_gif([frame.clone()], 84, &path, &mut |_| true).unwrap();
    let decoded = decode_gif(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!(Duration::from(decoded[0].delay()), Duration::from_millis(80));
    let mut abs_error = 0.0;
    for (x, y, p) in frame.enumerate_pixels() {
        let q = decoded[0].buffer().get_pixel(x, y);
        for c in 0..3 {
            abs_error += (f64::from(p[c]) - f64::from(q[c])).abs();
        }
    }
    // The best 256-colour palette for this (r, g) grid has 16×16 cells of 16 levels per
    // channel, a mean error of 4 on r and g and 0 on b: 2.7 over the three. NeuQuant
    // (speed 10) measured 6.6; posterising to a few colours would give well over 10.
    let mean = abs_error / (64.0 * 64.0 * 3.0);
    assert!(mean < 8.0, "mean absolute error {mean}");
}

#[test]
fn write_gif_rejects_frames_of_different_sizes_and_removes_the_file() {
    let path = temp_path("sizes.gif");
    let frames = vec![solid(16, 16, [0, 0, 0]), solid(16, 8, [0, 0, 0])];
    let err = write_gif(frames, 100, &path, &mut |_| true).unwrap_err();
    match &err {
        ExportError::FrameSize {
            index,
            expected,
            found,
            ..
        } => assert_eq!((*index, *expected, *found), (1, (16, 16), (16, 8))),
        other => panic!("expected FrameSize, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("sizes.gif") && message.contains("frame 1"),
        "{message}"
    );
    assert!(!path.exists());
}

#[test]
fn write_gif_cancelled_after_one_frame_removes_the_file() {
    let path = temp_path("cancel.gif");
    let frames = (0..5).map(|i| solid(16, 16, [i * 40, 0, 0]));
    let mut calls = 0;
    let err = write_gif(frames, 100, &path, &mut |n| {
        calls += 1;
        assert_eq!(n, 1);
        false
    })
    .unwrap_err();
    assert!(matches!(err, ExportError::Cancelled), "{err:?}");
    assert_eq!(calls, 1);
    assert!(!path.exists());
}

#[test]
fn write_gif_with_no_frames_or_a_missing_directory_is_an_error() {
    let path = temp_path("empty.gif");
    let err = write_gif(std::iter::empty(), 100, &path, &mut |_| true).unwrap_err();
    assert!(matches!(err, ExportError::NoFrames { .. }), "{err:?}");
    assert!(!path.exists());

    let missing = PathBuf::from("/nonexistent/dir/anim.gif");
    let err = write_gif([solid(4, 4, [0, 0, 0])], 100, &missing, &mut |_| true).unwrap_err();
    assert!(matches!(err, ExportError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dir/anim.gif"));
}
