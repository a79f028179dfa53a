//! The drawing's stroke logic (`data::drawing`): how many points a stroke puts down and
//! where, the eraser's radius, the undo stack, the cap, and the round trip through a
//! points CSV and the settings file.

use diffscope::data::drawing::{
    Brush, CLICK_LENGTH, Drawing, DrawnPoints, MAX_DRAWING_POINTS, StrokeDone, Tool, UNDO_DEPTH,
};
use diffscope::data::{parse_points_csv, points_csv_text};
use diffscope::scene::{SceneData, drawing_scene, load_points};

fn brush(spread: f64, density: f64, eraser: f64) -> Brush {
    Brush {
        spread,
        density,
        eraser,
    }
}

/// A brush stroke from `from` to `to` in `steps` equal moves.
fn line(drawing: &mut Drawing, from: [f64; 2], to: [f64; 2], steps: usize, brush: &Brush) -> StrokeDone {
    drawing.begin(from, Tool::Brush, brush);
    for k in 1..=steps {
        let s = k as f64 / steps as f64;
        drawing.extend([from[0] + s * (to[0] - from[0]), from[1] + s * (to[1] - from[1])]);
    }
    drawing.end().unwrap()
}

/// The points `(0.1 i, 0.1 j)` for `i, j` in `−10..=10`: 441 of them.
fn lattice() -> Vec<[f64; 2]> {
    (-10..=10_i32)
        .flat_map(|i| (-10..=10_i32).map(move |j| [f64::from(i) * 0.1, f64::from(j) * 0.1]))
        .collect()
}

#[test]
fn a_stroke_puts_down_a_click_and_one_point_per_unit_over_the_density() {
    // σ = 0.1, ρ = 100 per unit: a click puts ρ·CLICK_LENGTH = 50 at the pointer, and a
    // 6-unit line ⌊ρL⌋ = 600 more, wherever the moves fall (7 or 113 of them).
    let b = brush(0.1, 100.0, 0.25);
    assert_eq!(b.click_points(), 50);
    assert_eq!(CLICK_LENGTH, 0.5);
    for steps in [7, 113] {
        let mut drawing = Drawing::new(&[]);
        let done = line(&mut drawing, [-3.0, 0.0], [3.0, 0.0], steps, &b);
        // Float steps of 1/ρ may land the last one a hair past the end: ±1.
        let n = drawing.points().len();
        assert!((649..=650).contains(&n), "{steps} moves: {n} points");
        assert_eq!(
            done,
            StrokeDone::Added {
                points: n,
                capped: false
            }
        );
    }
    // A click alone: exactly the click's points, all around the pointer.
    let mut drawing = Drawing::new(&[]);
    assert_eq!(drawing.begin([1.0, -1.0], Tool::Brush, &b), 50);
    assert_eq!(
        drawing.end(),
        Some(StrokeDone::Added {
            points: 50,
            capped: false
        })
    );
    // A density of 1.4 puts down one point per click at least (0.7 rounds to 1).
    assert_eq!(brush(0.1, 1.4, 0.25).click_points(), 1);
}

#[test]
fn the_points_of_a_stroke_scatter_around_its_path_with_the_spread() {
    // The 600 points along y = 0 have y ~ N(0, σ²), σ = 0.1: the sample standard
    // deviation is within 4 standard errors σ/√(2n) ≈ 0.0029 of σ, the mean within
    // 4σ/√n ≈ 0.016 of 0; and x is spread evenly along the line.
    let b = brush(0.1, 100.0, 0.25);
    let mut drawing = Drawing::new(&[]);
    line(&mut drawing, [-3.0, 0.0], [3.0, 0.0], 60, &b);
    let dragged = &drawing.points()[50..];
    let n = dragged.len() as f64;
    let mean = dragged.iter().map(|p| p[1]).sum::<f64>() / n;
    let sd = (dragged.iter().map(|p| (p[1] - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(mean.abs() < 4.0 * 0.1 / n.sqrt(), "mean y {mean}");
    assert!((sd - 0.1).abs() < 4.0 * 0.1 / (2.0 * n).sqrt(), "sd {sd}");
    let left = dragged.iter().filter(|p| p[0] < 0.0).count() as f64;
    assert!((left / n - 0.5).abs() < 0.02, "left share {}", left / n);
    // Every coordinate is kept to a ten-thousandth, and prints so (the settings file).
    for v in drawing.points().iter().flatten() {
        let text = v.to_string();
        let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 4, "{text}");
    }
}

#[test]
fn the_same_strokes_give_the_same_points_and_the_next_stroke_other_noise() {
    let b = brush(0.2, 30.0, 0.25);
    let draw = || {
        let mut drawing = Drawing::new(&[]);
        line(&mut drawing, [0.0, 0.0], [1.0, 1.0], 9, &b);
        line(&mut drawing, [0.0, 0.0], [1.0, 1.0], 9, &b);
        drawing.points().to_vec()
    };
    let (a, again) = (draw(), draw());
    assert_eq!(a.len(), 2 * (15 + 42));
    assert_eq!(a, again, "strokes are seeded");
    // The second stroke follows the same path with its own noise.
    let (first, second) = a.split_at(a.len() / 2);
    assert!(first.iter().zip(second).all(|(p, q)| p != q));
}

#[test]
fn the_eraser_removes_exactly_the_points_within_its_radius_of_its_path() {
    // A click at the origin with radius 0.25 removes the 21 lattice points within 0.25:
    // |i|, |j| ≤ 2 but the four corners (0.2, 0.2) at 0.283.
    let mut drawing = Drawing::new(&lattice());
    let b = brush(0.1, 10.0, 0.25);
    assert_eq!(drawing.begin([0.0, 0.0], Tool::Eraser, &b), 21);
    assert_eq!(drawing.end(), Some(StrokeDone::Erased(21)));
    assert_eq!(drawing.points().len(), 441 - 21);
    assert!(drawing.points().iter().all(|p| p[0].hypot(p[1]) > 0.25));
    // A drag along y = 0.5 from x = −1 to 1 with radius 0.05 takes that row (21 points),
    // even with one move: the whole segment erases, not only where the pointer was seen.
    let mut drawing = Drawing::new(&lattice());
    let b = brush(0.1, 10.0, 0.05);
    drawing.begin([-1.0, 0.5], Tool::Eraser, &b);
    assert_eq!(drawing.extend([1.0, 0.5]), 20);
    assert_eq!(drawing.end(), Some(StrokeDone::Erased(21)));
    assert!(drawing.points().iter().all(|p| (p[1] - 0.5).abs() > 0.05));
    assert_eq!(drawing.points().len(), 420);
}

#[test]
fn undo_takes_back_strokes_and_clears_one_at_a_time_in_order() {
    let start = lattice();
    let mut drawing = Drawing::new(&start);
    assert!(!drawing.can_undo());
    let b = brush(0.1, 20.0, 0.3);
    drawing.begin([0.0, 0.0], Tool::Eraser, &b);
    drawing.extend([0.5, 0.5]);
    drawing.end();
    let erased = drawing.points().to_vec();
    line(&mut drawing, [-1.0, 1.0], [1.0, 1.0], 5, &b);
    let drawn = drawing.points().to_vec();
    assert_eq!(drawn.len(), erased.len() + 10 + 40);
    assert_eq!(drawing.clear(), drawn.len());
    assert!(drawing.points().is_empty());
    assert!(drawing.undo());
    assert_eq!(drawing.points(), &drawn[..]);
    assert!(drawing.undo());
    assert_eq!(drawing.points(), &erased[..]);
    assert!(drawing.undo());
    assert_eq!(
        drawing.points(),
        &start[..],
        "the erased points back in their places"
    );
    assert!(!drawing.undo());
    // An eraser stroke that touches nothing is not a step.
    drawing.begin([9.0, 9.0], Tool::Eraser, &b);
    assert_eq!(drawing.end(), Some(StrokeDone::Erased(0)));
    assert!(!drawing.can_undo());
}

#[test]
fn the_undo_stack_keeps_the_last_hundred_steps() {
    let b = brush(0.1, 2.0, 0.3);
    let mut drawing = Drawing::new(&[]);
    for k in 0..=UNDO_DEPTH {
        drawing.begin([k as f64 * 0.01, 0.0], Tool::Brush, &b);
        drawing.end();
    }
    assert_eq!(drawing.points().len(), UNDO_DEPTH + 1);
    while drawing.undo() {}
    // The first click is older than the stack.
    assert_eq!(drawing.points().len(), 1);
}

#[test]
fn a_full_drawing_takes_no_more_points_and_says_so() {
    let full: Vec<[f64; 2]> = (0..MAX_DRAWING_POINTS + 5)
        .map(|i| [i as f64 * 1e-4, 0.0])
        .collect();
    assert_eq!(Drawing::new(&full).points().len(), MAX_DRAWING_POINTS);
    let mut drawing = Drawing::new(&full[..MAX_DRAWING_POINTS - 10]);
    drawing.begin([0.0, 0.0], Tool::Brush, &brush(0.1, 40.0, 0.3));
    assert_eq!(
        drawing.end(),
        Some(StrokeDone::Added {
            points: 10,
            capped: true
        })
    );
    assert_eq!(drawing.points().len(), MAX_DRAWING_POINTS);
    // Non-finite points never enter.
    let odd = Drawing::new(&[[0.0, f64::NAN], [1.0, 2.0], [f64::INFINITY, 0.0]]);
    assert_eq!(odd.points(), &[[1.0, 2.0]]);
}

#[test]
fn a_drawing_saved_as_csv_reads_back_exactly_and_opens_as_the_same_scene() {
    let mut drawing = Drawing::new(&[]);
    line(&mut drawing, [-2.0, -1.0], [2.5, 1.5], 17, &brush(0.3, 25.0, 0.3));
    let points = drawing.points();
    let text = points_csv_text(points);
    assert!(text.starts_with("x,y\n"));
    let back = parse_points_csv(&text, "drawing.csv").unwrap();
    assert_eq!(back, points, "bit for bit");
    // Opened as a file, it is the drawing's scene: standardised the same way.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("drawing-csv");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("drawing.csv");
    std::fs::write(&file, &text).unwrap();
    let opened = load_points(&file).unwrap();
    let scene = drawing_scene(&DrawnPoints::new(points));
    let SceneData::Points(shown) = &scene.data else {
        panic!("a drawing is points")
    };
    assert_eq!(&opened, shown.as_ref());
    // Standardised: zero mean, unit standard deviation per coordinate.
    let n = shown.len() as f64;
    for c in 0..2 {
        let mean = shown.iter().map(|p| p[c]).sum::<f64>() / n;
        let var = shown.iter().map(|p| (p[c] - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12, "{mean} {var}");
    }
}

#[test]
fn drawn_points_compare_by_value_and_print_as_a_count() {
    let a = DrawnPoints::new(&[[0.5, 1.0], [2.0, 3.0]]);
    let b = DrawnPoints::new(&[[0.5, 1.0], [2.0, 3.0]]);
    assert_eq!(a, b);
    assert_ne!(a, DrawnPoints::new(&[[0.5, 1.0]]));
    assert_eq!(format!("{a:?}"), "DrawnPoints(2 points)");
}
